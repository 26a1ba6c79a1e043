/* See secret.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto/secret.h"

int secret_alloc(struct secret *s, size_t len)
{
	s->p = calloc(1, len ? len : 1);
	s->len = s->p ? len : 0;
	return s->p ? 0 : -ENOMEM;
}

int secret_set(struct secret *s, const void *p, size_t len)
{
	int rc = secret_alloc(s, len);

	if (rc == 0 && len)
		memcpy(s->p, p, len);
	return rc;
}

int secret_dup(struct secret *dst, const struct secret *src)
{
	return secret_set(dst, src->p, src->len);
}

void secret_clear(struct secret *s)
{
	if (!s || !s->p)
		return;
	sodium_memzero(s->p, s->len);
	free(s->p);
	s->p = NULL;
	s->len = 0;
}

bool secret_equal(const void *a, const void *b, size_t len)
{
	return sodium_memcmp(a, b, len) == 0;
}
