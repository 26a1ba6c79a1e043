/* See dh.h. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/dh.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <sodium.h>

#include "crypto/dh.h"
#include "crypto/x25519.h"

_Static_assert(CRYPTO_DH_BATCH_MAX <= CRYPTO_X25519_BATCH_MAX,
	       "a batch of pairs is one batch of X25519 values");
_Static_assert(CRYPTO_DH_POOL_BATCH <= CRYPTO_DH_BATCH_MAX, "the workers' batch is a batch");

#define DH_PUB_MAX 1024

struct crypto_dh {
	const struct crypto_dh_group *g;
	EVP_PKEY *key;			/* MODP, ECP */
	struct secret x25519;		/* X25519 private scalar */
	uint8_t pub[DH_PUB_MAX];
};

/*
 * Each MODP group's parameters and prime, built once: a cache of constants, filled on first
 * use under a lock (the key-pair workers use it too, dh_pool.c), read without one after; it
 * saves a parameter decode on every key generation.
 */
static pthread_mutex_t modp_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	uint16_t id;
	EVP_PKEY *params;
	uint8_t p[DH_PUB_MAX];
} modp_cache[4];

static int modp_params_locked(const struct crypto_dh_group *g, EVP_PKEY **ret_params,
			      const uint8_t **ret_p);

static int modp_params(const struct crypto_dh_group *g, EVP_PKEY **ret_params,
		       const uint8_t **ret_p)
{
	int rc;

	pthread_mutex_lock(&modp_lock);
	rc = modp_params_locked(g, ret_params, ret_p);
	pthread_mutex_unlock(&modp_lock);
	return rc;
}

static int modp_params_locked(const struct crypto_dh_group *g, EVP_PKEY **ret_params,
			      const uint8_t **ret_p)
{
	OSSL_PARAM params[2];
	EVP_PKEY_CTX *ctx = NULL;
	BIGNUM *p = NULL;
	size_t slot;
	int rc = -EIO;

	for (slot = 0; slot < 4; slot++)
		if (modp_cache[slot].id == g->id || modp_cache[slot].id == 0)
			break;
	if (slot == 4)
		return -EOPNOTSUPP;
	if (modp_cache[slot].id == g->id) {
		*ret_params = modp_cache[slot].params;
		*ret_p = modp_cache[slot].p;
		return 0;
	}
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
						     (char *)g->ossl_name, 0);
	params[1] = OSSL_PARAM_construct_end();
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "DH", NULL);
	if (!ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &modp_cache[slot].params, EVP_PKEY_KEY_PARAMETERS, params) <= 0)
		goto out;
	if (!EVP_PKEY_get_bn_param(modp_cache[slot].params, OSSL_PKEY_PARAM_FFC_P, &p) ||
	    BN_bn2binpad(p, modp_cache[slot].p, g->pub_len) != g->pub_len) {
		EVP_PKEY_free(modp_cache[slot].params);
		modp_cache[slot].params = NULL;
		goto out;
	}
	modp_cache[slot].id = g->id;
	*ret_params = modp_cache[slot].params;
	*ret_p = modp_cache[slot].p;
	rc = 0;
out:
	ERR_clear_error();
	BN_free(p);
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

static int export_pub(struct crypto_dh *dh)
{
	const struct crypto_dh_group *g = dh->g;

	if (g->kind == CRYPTO_DH_MODP) {
		BIGNUM *y = NULL;
		int ok = EVP_PKEY_get_bn_param(dh->key, OSSL_PKEY_PARAM_PUB_KEY, &y) &&
			 BN_bn2binpad(y, dh->pub, g->pub_len) == g->pub_len;

		BN_free(y);
		return ok ? 0 : -EIO;
	} else {
		uint8_t buf[1 + DH_PUB_MAX];
		size_t len = 0;

		/* Uncompressed point 04 | x | y; the KE payload carries x | y (RFC 5903 §7). */
		if (!EVP_PKEY_get_octet_string_param(dh->key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
						     buf, sizeof(buf), &len) ||
		    len != 1 + (size_t)g->pub_len || buf[0] != 0x04)
			return -EIO;
		memcpy(dh->pub, buf + 1, g->pub_len);
		return 0;
	}
}

static int alloc_dh(uint16_t group, struct crypto_dh **ret)
{
	const struct crypto_dh_group *g = crypto_dh_find(group);
	struct crypto_dh *dh;

	if (!g)
		return -EOPNOTSUPP;
	dh = calloc(1, sizeof(*dh));
	if (!dh)
		return -ENOMEM;
	dh->g = g;
	*ret = dh;
	return 0;
}

/* n X25519 pairs at once (x25519.h: one inversion for the batch). */
static int x25519_generate_n(uint16_t group, size_t n, struct crypto_dh **ret)
{
	const uint8_t *sk[CRYPTO_X25519_BATCH_MAX] = { 0 };
	uint8_t *pub[CRYPTO_X25519_BATCH_MAX] = { 0 };
	size_t made = 0;
	int rc = 0;

	for (size_t i = 0; i < n; i++)
		ret[i] = NULL;
	for (; made < n && rc == 0; made++) {
		rc = alloc_dh(group, &ret[made]);
		rc = rc ?: secret_alloc(&ret[made]->x25519, crypto_scalarmult_SCALARBYTES);
		if (rc < 0)
			break;
		randombytes_buf(ret[made]->x25519.p, ret[made]->x25519.len);
		sk[made] = ret[made]->x25519.p;
		pub[made] = ret[made]->pub;
	}
	if (rc == 0)
		rc = crypto_x25519_public_n(n, sk, pub);
	if (rc < 0)
		for (size_t i = 0; i < n; i++) {
			crypto_dh_free(ret[i]);
			ret[i] = NULL;
		}
	return rc;
}

int crypto_dh_generate(uint16_t group, struct crypto_dh **ret)
{
	const struct crypto_dh_group *g = crypto_dh_find(group);
	struct crypto_dh *dh;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *params;
	const uint8_t *p;
	int rc;

	if (g && g->kind == CRYPTO_DH_X25519)
		return x25519_generate_n(group, 1, ret);
	rc = alloc_dh(group, &dh);
	if (rc < 0)
		return rc;
	switch (dh->g->kind) {
	case CRYPTO_DH_X25519:	/* made above */
		rc = -EIO;
		break;
	case CRYPTO_DH_MODP:
		rc = modp_params(dh->g, &params, &p);
		if (rc < 0)
			break;
		/* The named groups keep OpenSSL's short private exponent (2x the strength). */
		ctx = EVP_PKEY_CTX_new_from_pkey(NULL, params, NULL);
		rc = ctx && EVP_PKEY_keygen_init(ctx) > 0 && EVP_PKEY_keygen(ctx, &dh->key) > 0 ?
			export_pub(dh) : -EIO;
		break;
	case CRYPTO_DH_ECP:
		dh->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", dh->g->ossl_name);
		rc = dh->key ? export_pub(dh) : -EIO;
		break;
	}
	ERR_clear_error();
	EVP_PKEY_CTX_free(ctx);
	if (rc < 0) {
		crypto_dh_free(dh);
		return rc;
	}
	*ret = dh;
	return 0;
}

int crypto_dh_generate_n(uint16_t group, size_t n, struct crypto_dh **ret)
{
	const struct crypto_dh_group *g = crypto_dh_find(group);
	int rc = 0;

	if (!g)
		return -EOPNOTSUPP;
	if (!n || n > CRYPTO_DH_BATCH_MAX)
		return -EINVAL;
	if (g->kind == CRYPTO_DH_X25519)
		return x25519_generate_n(group, n, ret);
	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = crypto_dh_generate(group, &ret[i]);
		if (rc < 0)
			while (i-- > 0) {
				crypto_dh_free(ret[i]);
				ret[i] = NULL;
			}
	}
	return rc;
}

/* priv * G on the group's curve, as 04 | x | y. */
static int ec_public_from_private(const struct crypto_dh_group *g, const BIGNUM *priv,
				  uint8_t *out, size_t out_len)
{
	EC_GROUP *grp = EC_GROUP_new_by_curve_name(EC_curve_nist2nid(g->ossl_name));
	EC_POINT *pt = grp ? EC_POINT_new(grp) : NULL;
	int rc = -EIO;

	if (pt && EC_POINT_mul(grp, pt, priv, NULL, NULL, NULL) &&
	    EC_POINT_point2oct(grp, pt, POINT_CONVERSION_UNCOMPRESSED, out, out_len, NULL) ==
		    out_len)
		rc = 0;
	EC_POINT_free(pt);
	EC_GROUP_free(grp);
	return rc;
}

/*
 * A key of group g from its parts: the private value (NULL for a peer's public key) and the
 * public value, as a number (MODP) or an encoded point (ECP). -EINVAL when OpenSSL refuses
 * the values (for ECP: a point not on the curve).
 */
static int key_from_parts(const struct crypto_dh_group *g, const BIGNUM *priv, const BIGNUM *pub_bn,
			  const uint8_t *pub_oct, size_t pub_len, EVP_PKEY **ret)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	int rc = -EIO;

	if (!bld ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, g->ossl_name, 0) ||
	    (priv && !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv)) ||
	    (pub_bn && !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PUB_KEY, pub_bn)) ||
	    (pub_oct && !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub_oct,
							    pub_len)))
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, g->kind == CRYPTO_DH_MODP ? "DH" : "EC", NULL);
	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0)
		goto out;
	rc = EVP_PKEY_fromdata(ctx, ret, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) > 0 ?
		0 : -EINVAL;
out:
	ERR_clear_error();
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

/* y = 2^x mod p, and the key pair built from the group's parameters. */
static int modp_from_private(struct crypto_dh *dh, const uint8_t *priv, size_t priv_len)
{
	BIGNUM *x = BN_secure_new(), *y = BN_new(), *p = NULL, *g = BN_new();
	BN_CTX *bn = BN_CTX_new();
	const uint8_t *pbytes;
	EVP_PKEY *tmpl;
	int rc = modp_params(dh->g, &tmpl, &pbytes);

	if (rc < 0)
		goto out;
	rc = -EIO;
	p = BN_bin2bn(pbytes, dh->g->pub_len, NULL);
	if (!x || !y || !g || !bn || !p || !BN_bin2bn(priv, (int)priv_len, x) || !BN_set_word(g, 2) ||
	    !BN_mod_exp(y, g, x, p, bn))
		goto out;
	rc = key_from_parts(dh->g, x, y, NULL, 0, &dh->key);
	rc = rc ?: export_pub(dh);
out:
	ERR_clear_error();
	BN_clear_free(x);
	BN_free(y);
	BN_free(p);
	BN_free(g);
	BN_CTX_free(bn);
	return rc;
}

int crypto_dh_new_from_private(uint16_t group, const uint8_t *priv, size_t priv_len,
			       struct crypto_dh **ret)
{
	struct crypto_dh *dh;
	BIGNUM *d = NULL;
	uint8_t point[1 + DH_PUB_MAX];
	int rc = alloc_dh(group, &dh);

	if (rc < 0)
		return rc;
	if (dh->g->kind == CRYPTO_DH_X25519) {
		const uint8_t *sk = priv;
		uint8_t *pub = dh->pub;

		rc = priv_len == crypto_scalarmult_SCALARBYTES ?
			secret_set(&dh->x25519, priv, priv_len) : -EINVAL;
		if (rc == 0)
			rc = crypto_x25519_public_n(1, &sk, &pub);
		goto out;
	}
	if (dh->g->kind == CRYPTO_DH_MODP) {
		rc = modp_from_private(dh, priv, priv_len);
		goto out;
	}
	rc = -EIO;
	d = BN_secure_new();
	if (!d || !BN_bin2bn(priv, (int)priv_len, d))
		goto out;
	if (ec_public_from_private(dh->g, d, point, 1 + (size_t)dh->g->pub_len) < 0)
		goto out;
	rc = key_from_parts(dh->g, d, NULL, point, 1 + (size_t)dh->g->pub_len, &dh->key);
	rc = rc ?: export_pub(dh);
out:
	ERR_clear_error();
	BN_clear_free(d);
	if (rc < 0) {
		crypto_dh_free(dh);
		return rc;
	}
	*ret = dh;
	return 0;
}

void crypto_dh_free(struct crypto_dh *dh)
{
	if (!dh)
		return;
	EVP_PKEY_free(dh->key);
	secret_clear(&dh->x25519);
	free(dh);
}

const struct crypto_dh_group *crypto_dh_group_of(const struct crypto_dh *dh)
{
	return dh->g;
}

const uint8_t *crypto_dh_public(const struct crypto_dh *dh)
{
	return dh->pub;
}

/* RFC 6989 §2.1 for safe primes: 1 < y < p-1, compared as equal-length big-endian strings. */
static bool modp_in_range(const uint8_t *y, const uint8_t *p, size_t len)
{
	uint8_t p_minus_1[DH_PUB_MAX];
	bool nonzero_high = false;

	memcpy(p_minus_1, p, len);
	p_minus_1[len - 1]--;	/* p is odd: no borrow */
	for (size_t i = 0; i + 1 < len; i++)
		nonzero_high |= y[i] != 0;
	if (!nonzero_high && y[len - 1] <= 1)
		return false;
	return memcmp(y, p_minus_1, len) < 0;
}

static int peer_key(const struct crypto_dh *dh, const uint8_t *peer, EVP_PKEY **ret)
{
	const struct crypto_dh_group *g = dh->g;
	uint8_t point[1 + DH_PUB_MAX];
	BIGNUM *y;
	int rc;

	if (g->kind != CRYPTO_DH_MODP) {
		/* For ECP, decoding the point fails for a point not on the curve. */
		point[0] = 0x04;
		memcpy(point + 1, peer, g->pub_len);
		return key_from_parts(g, NULL, NULL, point, 1 + (size_t)g->pub_len, ret);
	}
	y = BN_bin2bn(peer, g->pub_len, NULL);
	if (!y)
		return -ENOMEM;
	rc = key_from_parts(g, NULL, y, NULL, 0, ret);
	BN_free(y);
	return rc;
}

int crypto_dh_check_peer(const struct crypto_dh *dh, const uint8_t *peer, size_t peer_len)
{
	const struct crypto_dh_group *g = dh->g;
	EVP_PKEY *pk = NULL;
	EVP_PKEY *params;
	const uint8_t *p;
	int rc;

	if (peer_len != g->pub_len)
		return -EINVAL;
	if (g->kind == CRYPTO_DH_X25519)
		return 0;	/* a low-order point shows only as the derive's zero result */
	if (g->kind == CRYPTO_DH_MODP) {
		rc = modp_params(g, &params, &p);
		return rc < 0 ? rc : modp_in_range(peer, p, g->pub_len) ? 0 : -EINVAL;
	}
	rc = peer_key(dh, peer, &pk);
	EVP_PKEY_free(pk);
	return rc;
}

int crypto_dh_derive(const struct crypto_dh *dh, const uint8_t *peer, size_t peer_len,
		     struct secret *ret_shared)
{
	const struct crypto_dh_group *g = dh->g;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pk = NULL;
	size_t len = g->shared_len;
	int rc;

	if (peer_len != g->pub_len)
		return -EINVAL;
	rc = secret_alloc(ret_shared, g->shared_len);
	if (rc < 0)
		return rc;
	if (g->kind == CRYPTO_DH_X25519) {
		/* libsodium refuses an all-zero result (a low-order peer point). */
		if (crypto_scalarmult(ret_shared->p, dh->x25519.p, peer) != 0)
			rc = -EINVAL;
		goto out;
	}
	if (g->kind == CRYPTO_DH_MODP) {
		EVP_PKEY *params;
		const uint8_t *p;

		rc = modp_params(g, &params, &p);
		if (rc < 0)
			goto out;
		if (!modp_in_range(peer, p, g->pub_len)) {
			rc = -EINVAL;
			goto out;
		}
	}
	rc = peer_key(dh, peer, &pk);
	if (rc < 0)
		goto out;
	rc = -EIO;
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, dh->key, NULL);
	if (!ctx || EVP_PKEY_derive_init(ctx) <= 0)
		goto out;
	if (g->kind == CRYPTO_DH_MODP && EVP_PKEY_CTX_set_dh_pad(ctx, 1) <= 0)
		goto out;
	/*
	 * validate = 0: the range check above is what RFC 6989 asks for these safe primes;
	 * OpenSSL's own check would run a second full exponentiation on every derive.
	 */
	if (EVP_PKEY_derive_set_peer_ex(ctx, pk, 0) <= 0 ||
	    EVP_PKEY_derive(ctx, ret_shared->p, &len) <= 0 || len != g->shared_len)
		goto out;
	rc = 0;
out:
	ERR_clear_error();
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pk);
	if (rc < 0)
		secret_clear(ret_shared);
	return rc;
}
