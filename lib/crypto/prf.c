/* See prf.h. HMAC over OpenSSL 3's digests (md.h). */
#include <errno.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "crypto/md.h"
#include "crypto/prf.h"

#define PRF_MAX_OUT 64

/*
 * HMAC (RFC 2104) over the thread's digest context (md.h): H(K ^ opad | H(K ^ ipad | text)),
 * K the key zero-padded to the digest's block, or its digest first when longer (SKEYSEED's
 * key is Ni | Nr). OpenSSL's EVP_MAC costs a context copy, with its allocations, per use;
 * this costs two starts of one kept context.
 */
int crypto_prf(const struct crypto_prf *prf, const uint8_t *key, size_t key_len,
	       const struct crypto_buf *parts, size_t n_parts, uint8_t *out)
{
	EVP_MD_CTX *ctx = crypto_md_begin(prf->md);
	uint8_t pad[CRYPTO_MD_MAX_BLOCK], inner[PRF_MAX_OUT];
	size_t block;
	int rc = -EIO, len;

	if (!ctx)
		return -EIO;
	block = (size_t)EVP_MD_CTX_get_block_size(ctx);
	if (block > sizeof(pad) || prf->out_len > sizeof(inner) ||
	    (size_t)EVP_MD_CTX_get_size(ctx) != prf->out_len)
		goto out;
	memset(pad, 0, sizeof(pad));
	if (key_len > block) {
		if (!EVP_DigestUpdate(ctx, key, key_len) || crypto_md_final(ctx, pad) < 0)
			goto out;
	} else if (key_len) {
		memcpy(pad, key, key_len);
	}
	for (size_t i = 0; i < block; i++)
		pad[i] ^= 0x36;
	if (!EVP_DigestUpdate(ctx, pad, block))
		goto out;
	for (size_t i = 0; i < n_parts; i++)
		if (parts[i].len && !EVP_DigestUpdate(ctx, parts[i].p, parts[i].len))
			goto out;
	if (crypto_md_final(ctx, inner) < 0)
		goto out;
	for (size_t i = 0; i < block; i++)
		pad[i] ^= 0x36 ^ 0x5c;
	if (!EVP_DigestUpdate(ctx, pad, block) || !EVP_DigestUpdate(ctx, inner, prf->out_len))
		goto out;
	len = crypto_md_final(ctx, out);
	rc = len == prf->out_len ? 0 : -EIO;
out:
	if (rc < 0)
		ERR_clear_error();
	sodium_memzero(pad, sizeof(pad));
	sodium_memzero(inner, sizeof(inner));
	return rc;
}

int crypto_prf_plus(const struct crypto_prf *prf, const uint8_t *key, size_t key_len,
		    const struct crypto_buf *seed, size_t n_seed, uint8_t *out, size_t out_len)
{
	struct crypto_buf parts[8];
	uint8_t t[PRF_MAX_OUT];
	uint8_t counter = 1;
	size_t done = 0;
	int rc = 0;

	if (n_seed > 6 || out_len > (size_t)255 * prf->out_len)
		return -EINVAL;
	while (done < out_len) {
		size_t n = 0, take;

		if (counter > 1)
			parts[n++] = (struct crypto_buf){ t, prf->out_len };
		for (size_t i = 0; i < n_seed; i++)
			parts[n++] = seed[i];
		parts[n++] = (struct crypto_buf){ &counter, 1 };
		rc = crypto_prf(prf, key, key_len, parts, n, t);
		if (rc < 0)
			break;
		take = out_len - done < prf->out_len ? out_len - done : prf->out_len;
		memcpy(out + done, t, take);
		done += take;
		counter++;
	}
	sodium_memzero(t, sizeof(t));
	if (rc < 0)
		sodium_memzero(out, out_len);
	return rc;
}

void crypto_ike_keys_clear(struct crypto_ike_keys *k)
{
	secret_clear(&k->blk);	/* SK_d, SK_a*, SK_e* */
	k->prf_len = k->integ_len = k->encr_len = 0;
}

void crypto_ike_auth_keys_clear(struct crypto_ike_auth_keys *k)
{
	secret_clear(&k->sk_pi);
	secret_clear(&k->sk_pr);
}

/* len bytes of blk from off; an empty key is {NULL, 0}, never a pointer past the block. */
static struct secret view(const struct crypto_ike_keys *k, size_t off, size_t len)
{
	if (!len || !k->blk.p)
		return (struct secret){ 0 };
	return (struct secret){ k->blk.p + off, len };
}

struct secret crypto_ike_sk_d(const struct crypto_ike_keys *k)
{
	return view(k, 0, k->prf_len);
}

struct secret crypto_ike_sk_a(const struct crypto_ike_keys *k, bool initiator)
{
	return view(k, k->prf_len + (initiator ? 0 : k->integ_len), k->integ_len);
}

struct secret crypto_ike_sk_e(const struct crypto_ike_keys *k, bool initiator)
{
	return view(k, k->prf_len + 2 * k->integ_len + (initiator ? 0 : k->encr_len),
		    k->encr_len);
}

int crypto_ike_keys_cut(const uint8_t *km, size_t prf_len, size_t integ_len, size_t encr_len,
			struct crypto_ike_keys *ret, struct crypto_ike_auth_keys *ret_auth)
{
	size_t kept = prf_len + 2 * integ_len + 2 * encr_len;
	int rc;

	if (prf_len > UINT8_MAX || integ_len > UINT8_MAX || encr_len > UINT8_MAX)
		return -EINVAL;
	rc = secret_set(&ret->blk, km, kept);
	if (rc == 0 && ret_auth) {
		rc = secret_set(&ret_auth->sk_pi, km + kept, prf_len);
		rc = rc ?: secret_set(&ret_auth->sk_pr, km + kept + prf_len, prf_len);
		if (rc < 0)
			crypto_ike_auth_keys_clear(ret_auth);
	}
	if (rc < 0) {
		secret_clear(&ret->blk);
		return rc;
	}
	ret->prf_len = (uint8_t)prf_len;
	ret->integ_len = (uint8_t)integ_len;
	ret->encr_len = (uint8_t)encr_len;
	return 0;
}

int crypto_ike_skeyseed(const struct crypto_prf *prf, const struct secret *shared,
			const uint8_t *nonce_i, size_t nonce_i_len,
			const uint8_t *nonce_r, size_t nonce_r_len,
			const struct secret *old_sk_d, struct secret *ret)
{
	uint8_t *nonces = NULL;
	int rc = secret_alloc(ret, prf->out_len);

	if (rc < 0)
		return rc;
	if (old_sk_d) {
		struct crypto_buf parts[3] = {
			{ shared->p, shared->len }, { nonce_i, nonce_i_len }, { nonce_r, nonce_r_len },
		};

		rc = crypto_prf(prf, old_sk_d->p, old_sk_d->len, parts, 3, ret->p);
	} else {
		/* The key is Ni | Nr, used whole: HMAC PRFs take any key length. */
		struct crypto_buf part = { shared->p, shared->len };

		nonces = malloc(nonce_i_len + nonce_r_len);
		if (!nonces) {
			rc = -ENOMEM;
			goto out;
		}
		memcpy(nonces, nonce_i, nonce_i_len);
		memcpy(nonces + nonce_i_len, nonce_r, nonce_r_len);
		rc = crypto_prf(prf, nonces, nonce_i_len + nonce_r_len, &part, 1, ret->p);
	}
out:
	free(nonces);	/* nonces are public */
	if (rc < 0)
		secret_clear(ret);
	return rc;
}

int crypto_ike_keys_derive(const struct crypto_suite *suite, const struct secret *shared,
			   const uint8_t *nonce_i, size_t nonce_i_len,
			   const uint8_t *nonce_r, size_t nonce_r_len,
			   const uint8_t spi_i[8], const uint8_t spi_r[8],
			   const struct secret *old_sk_d, struct crypto_ike_keys *ret,
			   struct crypto_ike_auth_keys *ret_auth)
{
	const struct crypto_prf *prf = suite->prf;
	size_t prf_len = prf->out_len;
	size_t integ_len = suite->integ ? suite->integ->key_len : 0;
	size_t encr_len = suite->encr->key_bits / 8 + suite->encr->salt_len;
	/* prf+ is a stream: without SK_pi and SK_pr, the same keys from a shorter run. */
	size_t total = prf_len + 2 * integ_len + 2 * encr_len + (ret_auth ? 2 * prf_len : 0);
	struct crypto_buf seed[4] = {
		{ nonce_i, nonce_i_len }, { nonce_r, nonce_r_len }, { spi_i, 8 }, { spi_r, 8 },
	};
	struct secret skeyseed = { 0 }, km = { 0 };
	int rc;

	memset(ret, 0, sizeof(*ret));
	if (ret_auth)
		memset(ret_auth, 0, sizeof(*ret_auth));
	rc = crypto_ike_skeyseed(prf, shared, nonce_i, nonce_i_len, nonce_r, nonce_r_len, old_sk_d,
				 &skeyseed);
	rc = rc ?: secret_alloc(&km, total);
	rc = rc ?: crypto_prf_plus(prf, skeyseed.p, skeyseed.len, seed, 4, km.p, total);
	rc = rc ?: crypto_ike_keys_cut(km.p, prf_len, integ_len, encr_len, ret, ret_auth);
	secret_clear(&skeyseed);
	secret_clear(&km);
	return rc;
}

/* Cut the next len bytes of km into s. */
static int take(struct secret *s, const uint8_t *km, size_t *pos, size_t len)
{
	int rc = secret_set(s, km + *pos, len);

	*pos += len;
	return rc;
}

void crypto_child_keys_clear(struct crypto_child_keys *k)
{
	secret_clear(&k->encr_i);
	secret_clear(&k->integ_i);
	secret_clear(&k->encr_r);
	secret_clear(&k->integ_r);
}

int crypto_child_keys_derive(const struct crypto_prf *prf, const struct secret *sk_d,
			     const struct crypto_encr *encr, const struct crypto_integ *integ,
			     const struct secret *shared,
			     const uint8_t *nonce_i, size_t nonce_i_len,
			     const uint8_t *nonce_r, size_t nonce_r_len,
			     struct crypto_child_keys *ret)
{
	size_t encr_len = encr->key_bits / 8 + encr->salt_len;
	size_t integ_len = integ ? integ->key_len : 0;
	size_t total = 2 * (encr_len + integ_len), pos = 0, n = 0;
	struct crypto_buf seed[3];
	struct secret km = { 0 };
	int rc;

	memset(ret, 0, sizeof(*ret));
	if (shared)
		seed[n++] = (struct crypto_buf){ shared->p, shared->len };
	seed[n++] = (struct crypto_buf){ nonce_i, nonce_i_len };
	seed[n++] = (struct crypto_buf){ nonce_r, nonce_r_len };
	rc = secret_alloc(&km, total);
	rc = rc ?: crypto_prf_plus(prf, sk_d->p, sk_d->len, seed, n, km.p, total);
	rc = rc ?: take(&ret->encr_i, km.p, &pos, encr_len);
	rc = rc ?: take(&ret->integ_i, km.p, &pos, integ_len);
	rc = rc ?: take(&ret->encr_r, km.p, &pos, encr_len);
	rc = rc ?: take(&ret->integ_r, km.p, &pos, integ_len);
	secret_clear(&km);
	if (rc < 0)
		crypto_child_keys_clear(ret);
	return rc;
}

int crypto_psk_auth(const struct crypto_prf *prf, const struct secret *psk,
		    const uint8_t *msg, size_t msg_len, const uint8_t *nonce, size_t nonce_len,
		    const struct secret *sk_p, const uint8_t *id_body, size_t id_len, uint8_t *out)
{
	static const char pad[] = "Key Pad for IKEv2";
	struct crypto_buf pad_part = { (const uint8_t *)pad, sizeof(pad) - 1 };
	struct crypto_buf id_part = { id_body, id_len };
	uint8_t key[PRF_MAX_OUT], maced_id[PRF_MAX_OUT];
	struct crypto_buf parts[3] = {
		{ msg, msg_len }, { nonce, nonce_len }, { maced_id, prf->out_len },
	};
	int rc;

	rc = crypto_prf(prf, psk->p, psk->len, &pad_part, 1, key);
	rc = rc ?: crypto_prf(prf, sk_p->p, sk_p->len, &id_part, 1, maced_id);
	rc = rc ?: crypto_prf(prf, key, prf->out_len, parts, 3, out);
	sodium_memzero(key, sizeof(key));
	return rc;
}

int crypto_psk_auth_verify(const struct crypto_prf *prf, const struct secret *psk,
			   const uint8_t *msg, size_t msg_len, const uint8_t *nonce, size_t nonce_len,
			   const struct secret *sk_p, const uint8_t *id_body, size_t id_len,
			   const uint8_t *auth, size_t auth_len)
{
	uint8_t expect[PRF_MAX_OUT];
	int rc;

	if (auth_len != prf->out_len)
		return -EACCES;
	rc = crypto_psk_auth(prf, psk, msg, msg_len, nonce, nonce_len, sk_p, id_body, id_len,
			     expect);
	if (rc == 0 && !secret_equal(expect, auth, auth_len))
		rc = -EACCES;
	sodium_memzero(expect, sizeof(expect));
	return rc;
}
