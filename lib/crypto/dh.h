/*
 * Diffie-Hellman for KE payloads: MODP (RFC 3526), ECP (RFC 5903) and Curve25519 (RFC 8031).
 * Public values have the fixed length of their group (crypto_dh_group.pub_len); a peer's value
 * is validated before use (MODP 1 < y < p-1 as RFC 6989 asks for safe primes; ECP on the curve;
 * X25519 a non-zero result) and a bad one is -EINVAL.
 */
#ifndef IKD_CRYPTO_DH_H
#define IKD_CRYPTO_DH_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/registry.h"
#include "crypto/secret.h"

struct crypto_dh;

/* Generate a key pair for IANA group id: -EOPNOTSUPP for an unknown group. */
int crypto_dh_new(uint16_t group, struct crypto_dh **ret);
/* A key pair from a known private value (big-endian; 32 bytes for X25519): for known-answer tests. */
int crypto_dh_new_from_private(uint16_t group, const uint8_t *priv, size_t priv_len,
			       struct crypto_dh **ret);
void crypto_dh_free(struct crypto_dh *dh);

const struct crypto_dh_group *crypto_dh_group_of(const struct crypto_dh *dh);
/* Our public value, pub_len bytes, owned by dh. */
const uint8_t *crypto_dh_public(const struct crypto_dh *dh);
/* The shared secret g^ir, shared_len bytes (MODP left-padded to the prime length, ECP x). */
int crypto_dh_derive(const struct crypto_dh *dh, const uint8_t *peer, size_t peer_len,
		     struct secret *ret_shared);

#endif
