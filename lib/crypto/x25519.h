/*
 * lib/crypto's own: X25519 public values (RFC 7748) made through Edwards25519's fixed-base
 * tables, a batch at a time. [k]B on the Montgomery curve is the birational image of [k]B' on
 * the twisted Edwards curve (RFC 7748 §4.1): u = (1 + y) / (1 - y) mod 2^255 - 19. libsodium's
 * fixed-base Edwards multiplication (precomputed tables, constant time) takes under half the
 * time of the Montgomery ladder crypto_scalarmult_base() runs for the same k; the division is
 * of public values and one inversion serves a whole batch (Montgomery's trick).
 */
#ifndef IKD_CRYPTO_X25519_H
#define IKD_CRYPTO_X25519_H

#include <stddef.h>
#include <stdint.h>

#define CRYPTO_X25519_BATCH_MAX 16

/*
 * pub[i] = X25519(sk[i], 9) for i < n (n <= CRYPTO_X25519_BATCH_MAX), each sk[i] 32 bytes,
 * clamped here as X25519 clamps it; each pub[i] 32 bytes. 0, or -EIO (nothing written that
 * can be used) on a failure of OpenSSL's arithmetic.
 */
int crypto_x25519_public_n(size_t n, const uint8_t *const sk[], uint8_t *const pub[]);

#endif
