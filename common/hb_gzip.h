/*
 * hb_gzip: request bodies compressed for Content-Encoding: gzip. Its own
 * module so that a caller that compresses needs neither HTTP client.
 */
#ifndef HB_GZIP_H
#define HB_GZIP_H

#include <stddef.h>

#include "hb_util.h"

/*
 * gzip-compresses `len` bytes of `in` and appends them to `out` (which stays
 * NUL-terminated and owned by the caller). Returns 0, or -1 when zlib fails
 * (out may then hold a reserved but unused tail).
 */
int hb_gzip(const void *in, size_t len, struct hb_buf *out);

#endif
