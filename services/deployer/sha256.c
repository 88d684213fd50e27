/*
 * sha256: hex digests of nettle's SHA-256, of a buffer or a whole file.
 */
#include "sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

void
sha256_hex(struct sha256_ctx *ctx, char hex[65])
{
	static const char digits[] = "0123456789abcdef";
	uint8_t d[SHA256_DIGEST_SIZE];

	sha256_digest(ctx, sizeof(d), d);
	for (size_t i = 0; i < sizeof(d); i++) {
		hex[2 * i] = digits[d[i] >> 4];
		hex[2 * i + 1] = digits[d[i] & 15];
	}
	hex[64] = '\0';
}

int
sha256_file(const char *path, char hex[65])
{
	struct sha256_ctx ctx;
	uint8_t buf[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	sha256_init(&ctx);
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			int e = errno;

			if (e == EINTR)
				continue;
			close(fd);
			errno = e;
			return -1;
		}
		sha256_update(&ctx, (size_t)n, buf);
	}
	close(fd);
	sha256_hex(&ctx, hex);
	return 0;
}
