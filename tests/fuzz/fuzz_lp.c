/*
 * Fuzz target: the line-protocol parser the writer runs on everything that
 * arrives on P/points/#, and the encoder's promise that what it writes parses.
 */
#include <stdint.h>
#include <string.h>

#include "hb_lp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hb_lp_limits lim = { .max_line = 4096, .allow_uint = size & 1 };
	static struct hb_lp_line line;
	struct hb_buf b = { 0 };
	size_t pos = 0, guard = 0;
	char err[160];

	for (;;) {
		size_t before = pos;
		enum hb_lp_result r = hb_lp_next((const char *)data, size, &pos, &lim,
		    &line, err, sizeof(err));

		if (r == HB_LP_END)
			break;
		/* always progress, never past the end */
		if (pos <= before || pos > size || ++guard > size + 1)
			__builtin_trap();
		if (r == HB_LP_OK && (line.start < (const char *)data ||
		    line.start + line.len > (const char *)data + size))
			__builtin_trap();
	}
	/* whatever the encoder accepts must parse back */
	hb_buf_puts(&b, "m,");
	if (hb_lp_put_key(&b, (const char *)data, size) == 0) {
		hb_buf_puts(&b, "=v f=");
		if (hb_lp_put_string(&b, (const char *)data, size) == 0) {
			pos = 0;
			if (hb_lp_next(b.data, b.len, &pos, NULL, &line, err,
			    sizeof(err)) != HB_LP_OK)
				__builtin_trap();
		}
	}
	hb_buf_free(&b);
	return 0;
}
