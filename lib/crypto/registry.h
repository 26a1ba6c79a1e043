/*
 * What ikd supports, keyed by IANA transform ID (RFC 7296 §3.3.2, RFC 4868, RFC 5282,
 * RFC 3526, RFC 5903, RFC 8031): sizes for key derivation and SK protection, the kernel's
 * algorithm names for XFRM, and where each may be used (IKE SA, Child SA).
 */
#ifndef IKD_CRYPTO_REGISTRY_H
#define IKD_CRYPTO_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ike/constants.h"

#define CRYPTO_USE_IKE		0x1
#define CRYPTO_USE_CHILD	0x2

struct crypto_encr {
	uint16_t id;			/* IKE_ENCR_* */
	uint16_t key_bits;		/* 0 for ENCR_NULL */
	bool aead;
	uint8_t iv_len;			/* explicit IV in each message */
	uint8_t block_len;		/* padding unit; 1 = none needed */
	uint8_t icv_len;		/* AEAD tag; 0 for non-AEAD */
	uint8_t salt_len;		/* extra key bytes (RFC 5282 §7.1, RFC 4106 §8.1) */
	uint8_t use;			/* CRYPTO_USE_* */
	const char *name;		/* strongSwan-style, for logs and config */
	const char *kernel;		/* XFRM algorithm name */
};

struct crypto_prf {
	uint16_t id;			/* IKE_PRF_* */
	const char *md;			/* OpenSSL digest */
	uint8_t out_len;		/* = preferred key length (RFC 7296 §2.13) */
	const char *name;
};

struct crypto_integ {
	uint16_t id;			/* IKE_AUTH_* */
	const char *md;
	uint8_t key_len;
	uint8_t icv_len;		/* truncated output (RFC 4868 §2.3) */
	uint8_t use;
	const char *name;
	const char *kernel;		/* XFRM name; truncation is icv_len * 8 bits */
};

enum crypto_dh_kind {
	CRYPTO_DH_MODP,
	CRYPTO_DH_ECP,
	CRYPTO_DH_X25519,
};

struct crypto_dh_group {
	uint16_t id;			/* IKE_DH_* */
	enum crypto_dh_kind kind;
	uint16_t pub_len;		/* KE payload data length */
	uint16_t shared_len;
	const char *ossl_name;		/* OpenSSL group/curve name */
	const char *name;
};

/* Lookups: NULL when unsupported. key_bits 0 picks the only size of a fixed-size cipher. */
const struct crypto_encr *crypto_encr_find(uint16_t id, uint16_t key_bits);
const struct crypto_prf *crypto_prf_find(uint16_t id);
const struct crypto_integ *crypto_integ_find(uint16_t id);
const struct crypto_dh_group *crypto_dh_find(uint16_t id);

/* Iteration over the tables, for tests and listings: NULL past the end. */
const struct crypto_encr *crypto_encr_at(size_t i);
const struct crypto_prf *crypto_prf_at(size_t i);
const struct crypto_integ *crypto_integ_at(size_t i);
const struct crypto_dh_group *crypto_dh_at(size_t i);

/* A negotiated IKE SA suite. integ is NULL for AEAD ciphers. */
struct crypto_suite {
	const struct crypto_encr *encr;
	const struct crypto_prf *prf;
	const struct crypto_integ *integ;
	const struct crypto_dh_group *dh;
};

/* Fill a suite from IANA IDs; -EOPNOTSUPP naming nothing, the caller says which. */
int crypto_suite_init(struct crypto_suite *s, uint16_t encr, uint16_t key_bits, uint16_t prf,
		      uint16_t integ, uint16_t dh);

#endif
