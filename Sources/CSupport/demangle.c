#include "csupport.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Both are in every Swift program on Linux: libstdc++ (the Swift runtime's C++ library) and the Swift
 * runtime itself. Declared here rather than through their C++ headers. */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);
extern char *swift_demangle(const char *mangled, size_t len, char *out, size_t *outlen, uint32_t flags);

static int copy_out(char *d, char *out, size_t outlen)
{
	if (!d)
		return 0;
	snprintf(out, outlen, "%s", d);
	free(d);
	return 1;
}

int kt_demangle_cxx(const char *name, char *out, size_t outlen)
{
	int status = 0;
	char *d = __cxa_demangle(name, NULL, NULL, &status);
	if (status != 0) {
		free(d);
		d = NULL;
	}
	return copy_out(d, out, outlen);
}

int kt_demangle_swift(const char *name, char *out, size_t outlen)
{
	return copy_out(swift_demangle(name, strlen(name), NULL, NULL, 0), out, outlen);
}
