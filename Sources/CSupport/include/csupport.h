/* Runtime services the pure core needs and Swift cannot reach directly: the two demanglers every Swift
 * program on Linux carries (libstdc++'s and the Swift runtime's), and malloc_trim. Which demangler
 * applies to a name is decided in Swift (KtraceCore's Demangler), once. */
#ifndef CSUPPORT_H
#define CSUPPORT_H

#include <stddef.h>

/* Write the readable form of an Itanium C++ (_Z...) or Swift ($s...) symbol into out; returns 1 on
 * success, 0 if the demangler does not accept the name. */
int kt_demangle_cxx(const char *name, char *out, size_t outlen);
int kt_demangle_swift(const char *name, char *out, size_t outlen);

/* Return free heap memory to the kernel (malloc_trim), e.g. after a large parse on another thread. */
void kt_trim_heap(void);

#endif
