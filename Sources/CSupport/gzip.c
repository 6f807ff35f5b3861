#include <limits.h>
#include <stdlib.h>
#include <zlib.h>

#include "csupport.h"

int kt_gzip(const void *in, size_t len, unsigned char **out, size_t *outlen)
{
	z_stream z = {0};
	/* 15 window bits + 16: a gzip header and trailer rather than zlib's. */
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	size_t cap = deflateBound(&z, len) + 32;
	unsigned char *buf = malloc(cap);
	if (!buf) {
		deflateEnd(&z);
		return -1;
	}
	z.next_in = (unsigned char *)in;
	z.avail_in = (uInt)len;
	z.next_out = buf;
	z.avail_out = (uInt)cap;
	int rc = deflate(&z, Z_FINISH);
	*outlen = z.total_out;
	deflateEnd(&z);
	if (rc != Z_STREAM_END) {
		free(buf);
		return -1;
	}
	*out = buf;
	return 0;
}

int kt_inflate_zlib(const void *in, size_t len, void *out, size_t outlen)
{
	z_stream z = {0};
	if (len > UINT_MAX || outlen > UINT_MAX || inflateInit(&z) != Z_OK)
		return -1;
	z.next_in = (unsigned char *)in;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)outlen;
	/* One call with the whole output buffer: it ends at the stream's end or when the buffer is full, so a
	 * stream that claims less than it holds cannot write past outlen. */
	int rc = inflate(&z, Z_FINISH);
	size_t got = z.total_out;
	inflateEnd(&z);
	return rc == Z_STREAM_END && got == outlen ? 0 : -1;
}
