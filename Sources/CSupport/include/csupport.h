/* Runtime services the pure core needs and Swift cannot reach directly: the two demanglers every Swift
 * program on Linux carries (libstdc++'s and the Swift runtime's), malloc_trim and the mmap threshold,
 * zlib's gzip and inflate, and the commit the binary was built from. Which demangler applies to a name
 * is decided in Swift (KtraceCore's Demangler), once. */
#ifndef CSUPPORT_H
#define CSUPPORT_H

#include <stddef.h>

/* Write the readable form of an Itanium C++ (_Z...) or Swift ($s...) symbol into out; returns 1 on
 * success, 0 if the demangler does not accept the name. */
int kt_demangle_cxx(const char *name, char *out, size_t outlen);
int kt_demangle_swift(const char *name, char *out, size_t outlen);

/* Return free heap memory to the kernel (malloc_trim), e.g. after a large parse on another thread. */
void kt_trim_heap(void);
/* Keep glibc's mmap threshold at its default (128 KiB) for good: see memory.c. */
void kt_fix_mmap_threshold(void);

/* gzip (RFC 1952) of in[0..len) into a malloc'ed buffer (*out, *outlen; the caller frees it): pprof files
 * are gzip-compressed protobuf. Returns 0, or -1 when zlib fails or memory runs out. */
int kt_gzip(const void *in, size_t len, unsigned char **out, size_t *outlen);

/* zlib (RFC 1950) stream in[0..len) into out, which must come out exactly outlen bytes long: an ELF
 * section compressed with ELFCOMPRESS_ZLIB (a Debian -dbgsym file's .debug_frame). Returns 0, or -1 when
 * the stream is malformed, longer or shorter than outlen, or either length exceeds 4 GiB. */
int kt_inflate_zlib(const void *in, size_t len, void *out, size_t outlen);

/* The git commit this binary was built from ("unknown" outside `make build`). */
const char *kt_build_commit(void);

#endif
