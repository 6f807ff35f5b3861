#include "ckt.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Both are in every Swift program on Linux: libstdc++ (the Swift runtime's C++ library) and the Swift
 * runtime itself. Declared here rather than through their C++ headers. */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);
extern char *swift_demangle(const char *mangled, size_t len, char *out, size_t *outlen, uint32_t flags);

static int has_prefix(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

int kt_demangle(const char *name, char *out, size_t outlen)
{
	char *d = NULL;

	if (has_prefix(name, "_Z")) { /* Itanium C++ ABI, also Rust's legacy mangling */
		int status = 0;
		d = __cxa_demangle(name, NULL, NULL, &status);
		if (status != 0) {
			free(d);
			d = NULL;
		}
	} else if (has_prefix(name, "$s") || has_prefix(name, "_$s") || has_prefix(name, "$S") || has_prefix(name, "_T0")) {
		d = swift_demangle(name, strlen(name), NULL, NULL, 0);
	}
	if (!d)
		return 0;
	snprintf(out, outlen, "%s", d);
	free(d);
	return 1;
}
