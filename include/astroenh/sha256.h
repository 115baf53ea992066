/* sha256.h - SHA-256 (FIPS 180-4) for model provenance (src/core/sha256.c).
 *
 * Streaming use: ae_sha256_init, any number of ae_sha256_update, then
 * ae_sha256_final writes the 32-byte digest. ae_sha256_hex formats a digest
 * as 64 lowercase hex characters + NUL. ae_sha256_file (io.h) hashes a file.
 */
#ifndef ASTROENH_SHA256_H
#define ASTROENH_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t state[8];
    uint64_t nbytes;       /* total bytes hashed so far */
    unsigned char buf[64]; /* pending partial block */
    size_t nbuf;
} ae_sha256_ctx;

void ae_sha256_init(ae_sha256_ctx *ctx);
void ae_sha256_update(ae_sha256_ctx *ctx, const void *data, size_t len);
void ae_sha256_final(ae_sha256_ctx *ctx, unsigned char digest[32]);
void ae_sha256_hex(const unsigned char digest[32], char hex[65]);

#endif
