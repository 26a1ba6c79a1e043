/* Hashes the exchanges need outside key derivation: NAT detection (RFC 7296 §2.23) and cookies (§2.6). */
#ifndef IKD_CRYPTO_HASH_H
#define IKD_CRYPTO_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/secret.h"

#define CRYPTO_NAT_HASH_LEN 20
#define CRYPTO_COOKIE_LEN 17	/* 1-byte secret version + 16 bytes of HMAC-SHA-256 */

/* SHA-1(SPIi | SPIr | IP address | port), the NAT_DETECTION_*_IP data. */
int crypto_nat_hash(const uint8_t spi_i[8], const uint8_t spi_r[8], const uint8_t *addr,
		    size_t addr_len, uint16_t port, uint8_t out[CRYPTO_NAT_HASH_LEN]);

/*
 * A stateless cookie: version | HMAC-SHA-256(secret, Ni | IPi | SPIi) truncated to 16 bytes.
 * The responder keeps only the secret (rotated, with its version byte).
 */
int crypto_cookie(const struct secret *key, uint8_t version, const uint8_t *nonce_i,
		  size_t nonce_len, const uint8_t *addr, size_t addr_len, const uint8_t spi_i[8],
		  uint8_t out[CRYPTO_COOKIE_LEN]);

#endif
