/* See x25519.h. */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <sodium.h>

#include "crypto/x25519.h"

static BIGNUM *field_p;			/* 2^255 - 19; made once, only read after */
static pthread_once_t field_once = PTHREAD_ONCE_INIT;

static void field_make(void)
{
	BIGNUM *p = BN_new();

	if (p && BN_set_bit(p, 255) && BN_sub_word(p, 19))
		field_p = p;
	else
		BN_free(p);
	ERR_clear_error();
}

/* [k]B' on Edwards25519, encoded (y, with x's sign in the top bit); k clamped as X25519's. */
static int edwards_base(const uint8_t sk[32], uint8_t ret[32])
{
	uint8_t k[32];
	int rc;

	memcpy(k, sk, sizeof(k));
	k[0] &= 248;
	k[31] &= 127;
	k[31] |= 64;
	rc = crypto_scalarmult_ed25519_base_noclamp(ret, k) == 0 ? 0 : -EIO;
	sodium_memzero(k, sizeof(k));
	return rc;
}

int crypto_x25519_public_n(size_t n, const uint8_t *const sk[], uint8_t *const pub[])
{
	BIGNUM *num[CRYPTO_X25519_BATCH_MAX], *den[CRYPTO_X25519_BATCH_MAX];
	BIGNUM *pre[CRYPTO_X25519_BATCH_MAX], *inv, *t;
	BN_CTX *bc;
	uint8_t ed[32];
	int rc = -EIO;

	if (!n || n > CRYPTO_X25519_BATCH_MAX)
		return -EINVAL;
	pthread_once(&field_once, field_make);
	bc = field_p ? BN_CTX_new() : NULL;
	if (!bc)
		goto out_err;
	BN_CTX_start(bc);
	inv = BN_CTX_get(bc);
	t = BN_CTX_get(bc);
	for (size_t i = 0; i < n; i++) {
		num[i] = BN_CTX_get(bc);
		den[i] = BN_CTX_get(bc);
		pre[i] = BN_CTX_get(bc);
	}
	if (!pre[n - 1])
		goto out;
	/* num = 1 + y, den = 1 - y (as p + 1 - y: y < p), pre[i] = den[0] * ... * den[i] */
	for (size_t i = 0; i < n; i++) {
		if (edwards_base(sk[i], ed) < 0)
			goto out;
		ed[31] &= 0x7f;		/* y alone, little-endian */
		if (!BN_lebin2bn(ed, 32, num[i]) || !BN_sub(den[i], field_p, num[i]) ||
		    !BN_add_word(den[i], 1) || !BN_add_word(num[i], 1))
			goto out;
		if (BN_cmp(den[i], field_p) == 0)	/* y = 1, the neutral point: never for k */
			goto out;
		if (i == 0 && !BN_copy(pre[0], den[0]))
			goto out;
		if (i > 0 && !BN_mod_mul(pre[i], pre[i - 1], den[i], field_p, bc))
			goto out;
	}
	/* One inversion; then, from the last, 1/den[i] = inv * pre[i - 1], inv *= den[i]. */
	if (!BN_mod_inverse(inv, pre[n - 1], field_p, bc))
		goto out;
	for (size_t i = n; i-- > 0;) {
		if (i == 0 && !BN_copy(t, inv))
			goto out;
		if (i > 0 && (!BN_mod_mul(t, inv, pre[i - 1], field_p, bc) ||
			      !BN_mod_mul(inv, inv, den[i], field_p, bc)))
			goto out;
		if (!BN_mod_mul(t, t, num[i], field_p, bc) || BN_bn2lebinpad(t, pub[i], 32) != 32)
			goto out;
	}
	rc = 0;
out:
	BN_CTX_end(bc);
out_err:
	BN_CTX_free(bc);
	ERR_clear_error();
	return rc;
}
