/*
 * sha256: hex digests for the backup manifest, from nettle's SHA-256
 * (struct sha256_ctx, sha256_init, sha256_update). nettle rather than
 * OpenSSL's EVP: the first EVP call loads OpenSSL's providers and
 * configuration, which would stay resident in the daemon (docs/design.md).
 */
#ifndef DEPLOYER_SHA256_H
#define DEPLOYER_SHA256_H

#include <nettle/sha2.h>

/* Writes ctx's digest as 64 lowercase hex digits and a NUL into hex[65]. */
void sha256_hex(struct sha256_ctx *ctx, char hex[65]);

/* The sha256 of a whole file into hex[65]; 0, or -1 with errno set. */
int sha256_file(const char *path, char hex[65]);

#endif
