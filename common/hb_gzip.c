/* hb_gzip: a request body compressed for Content-Encoding: gzip. */
#include "hb_gzip.h"

#include <stdint.h>
#include <string.h>
#include <zlib.h>

int
hb_gzip(const void *in, size_t len, struct hb_buf *out)
{
	z_stream zs;
	int rc;

	memset(&zs, 0, sizeof(zs));
	/* 15 + 16: a gzip wrapper; level 1: most of the gain for little CPU. */
	if (deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	hb_buf_reserve(out, deflateBound(&zs, (uLong)len));
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	zs.next_out = (Bytef *)out->data + out->len;
	zs.avail_out = (uInt)(out->cap - out->len - 1);
	rc = deflate(&zs, Z_FINISH);
	if (rc != Z_STREAM_END) {
		deflateEnd(&zs);
		return -1;
	}
	out->len += zs.total_out;
	out->data[out->len] = '\0';
	deflateEnd(&zs);
	return 0;
}
