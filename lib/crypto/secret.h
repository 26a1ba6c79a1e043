/*
 * Key material: a heap buffer with its length, wiped with sodium_memzero when freed.
 * Every DH private value, shared secret, SKEYSEED, SK_*, KEYMAT and PSK lives in one.
 */
#ifndef IKD_CRYPTO_SECRET_H
#define IKD_CRYPTO_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct secret {
	uint8_t *p;
	size_t len;
};

/* Allocate len zeroed bytes into s (which must be empty). -ENOMEM on failure. */
int secret_alloc(struct secret *s, size_t len);
int secret_set(struct secret *s, const void *p, size_t len);	/* copy p in */
int secret_dup(struct secret *dst, const struct secret *src);
/* Wipe and free; s becomes empty. NULL-safe and safe on an empty secret. */
void secret_clear(struct secret *s);
/* Constant-time equality of two byte strings of the same length (lengths are not secret). */
bool secret_equal(const void *a, const void *b, size_t len);

#endif
