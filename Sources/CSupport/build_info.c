/* The commit ktrace was built from, for --version. `make build` writes build_commit.h (git-ignored, and
 * rewritten only when the commit changes, so that nothing else recompiles); a plain `swift build` that
 * never ran make says "unknown". */
#include "csupport.h"

#if __has_include("build_commit.h")
#include "build_commit.h"
#endif
#ifndef KTRACE_COMMIT
#define KTRACE_COMMIT "unknown"
#endif

const char *kt_build_commit(void) { return KTRACE_COMMIT; }
