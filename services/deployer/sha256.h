/*
 * sha256: FIPS 180-4 SHA-256 for the backup manifest. Our own rather than
 * OpenSSL's EVP: the first EVP call loads OpenSSL's providers and config,
 * megabytes that would stay resident in a daemon whose idle budget is 8 MB,
 * for hashing a few files a night.
 */
#ifndef DEPLOYER_SHA256_H
#define DEPLOYER_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct sha256 {
	uint32_t h[8];
	uint64_t bytes;
	uint8_t block[64];
	size_t used;
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
/* Writes the digest as 64 lowercase hex digits and a NUL into hex[65]. */
void sha256_hex(struct sha256 *s, char hex[65]);

/* The sha256 of a whole file into hex[65]; 0, or -1 with errno set. */
int sha256_file(const char *path, char hex[65]);

#endif
