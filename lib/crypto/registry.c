/* The supported transforms; see registry.h. */
#include <errno.h>

#include "crypto/registry.h"

#define BOTH (CRYPTO_USE_IKE | CRYPTO_USE_CHILD)

static const struct crypto_encr encr_table[] = {
	{ IKE_ENCR_AES_CBC, 128, false, 16, 16, 0, 0, BOTH, "aes128", "cbc(aes)" },
	{ IKE_ENCR_AES_CBC, 192, false, 16, 16, 0, 0, BOTH, "aes192", "cbc(aes)" },
	{ IKE_ENCR_AES_CBC, 256, false, 16, 16, 0, 0, BOTH, "aes256", "cbc(aes)" },
	/* RFC 5282 §7.1 (IKE) and RFC 4106 §8.1 (ESP): a 4-byte salt follows the key. */
	{ IKE_ENCR_AES_GCM_16, 128, true, 8, 1, 16, 4, BOTH, "aes128gcm16", "rfc4106(gcm(aes))" },
	{ IKE_ENCR_AES_GCM_16, 192, true, 8, 1, 16, 4, CRYPTO_USE_CHILD, "aes192gcm16",
	  "rfc4106(gcm(aes))" },
	{ IKE_ENCR_AES_GCM_16, 256, true, 8, 1, 16, 4, BOTH, "aes256gcm16", "rfc4106(gcm(aes))" },
	{ IKE_ENCR_NULL, 0, false, 0, 1, 0, 0, CRYPTO_USE_CHILD, "null", "ecb(cipher_null)" },
};

static const struct crypto_prf prf_table[] = {
	{ IKE_PRF_HMAC_SHA1, "SHA1", 20, "prfsha1" },
	{ IKE_PRF_HMAC_SHA2_256, "SHA256", 32, "prfsha256" },
	{ IKE_PRF_HMAC_SHA2_384, "SHA384", 48, "prfsha384" },
	{ IKE_PRF_HMAC_SHA2_512, "SHA512", 64, "prfsha512" },
};

static const struct crypto_integ integ_table[] = {
	{ IKE_AUTH_HMAC_SHA1_96, "SHA1", 20, 12, BOTH, "sha1", "hmac(sha1)" },
	{ IKE_AUTH_HMAC_SHA2_256_128, "SHA256", 32, 16, BOTH, "sha256", "hmac(sha256)" },
	{ IKE_AUTH_HMAC_SHA2_384_192, "SHA384", 48, 24, BOTH, "sha384", "hmac(sha384)" },
	{ IKE_AUTH_HMAC_SHA2_512_256, "SHA512", 64, 32, BOTH, "sha512", "hmac(sha512)" },
};

static const struct crypto_dh_group dh_table[] = {
	{ IKE_DH_MODP_2048, CRYPTO_DH_MODP, 256, 256, "modp_2048", "modp2048" },
	{ IKE_DH_MODP_3072, CRYPTO_DH_MODP, 384, 384, "modp_3072", "modp3072" },
	{ IKE_DH_MODP_4096, CRYPTO_DH_MODP, 512, 512, "modp_4096", "modp4096" },
	{ IKE_DH_MODP_8192, CRYPTO_DH_MODP, 1024, 1024, "modp_8192", "modp8192" },
	/* RFC 5903 §7: x | y, and the shared secret is x alone. */
	{ IKE_DH_ECP_256, CRYPTO_DH_ECP, 64, 32, "P-256", "ecp256" },
	{ IKE_DH_ECP_384, CRYPTO_DH_ECP, 96, 48, "P-384", "ecp384" },
	{ IKE_DH_ECP_521, CRYPTO_DH_ECP, 132, 66, "P-521", "ecp521" },
	{ IKE_DH_CURVE25519, CRYPTO_DH_X25519, 32, 32, "X25519", "x25519" },
};

#define N(t) (sizeof(t) / sizeof((t)[0]))

const struct crypto_encr *crypto_encr_find(uint16_t id, uint16_t key_bits)
{
	for (size_t i = 0; i < N(encr_table); i++) {
		const struct crypto_encr *e = &encr_table[i];

		if (e->id != id)
			continue;
		if (e->key_bits == key_bits || (id == IKE_ENCR_NULL && key_bits == 0))
			return e;
	}
	return NULL;
}

const struct crypto_prf *crypto_prf_find(uint16_t id)
{
	for (size_t i = 0; i < N(prf_table); i++)
		if (prf_table[i].id == id)
			return &prf_table[i];
	return NULL;
}

const struct crypto_integ *crypto_integ_find(uint16_t id)
{
	for (size_t i = 0; i < N(integ_table); i++)
		if (integ_table[i].id == id)
			return &integ_table[i];
	return NULL;
}

const struct crypto_dh_group *crypto_dh_find(uint16_t id)
{
	for (size_t i = 0; i < N(dh_table); i++)
		if (dh_table[i].id == id)
			return &dh_table[i];
	return NULL;
}

const struct crypto_encr *crypto_encr_at(size_t i)
{
	return i < N(encr_table) ? &encr_table[i] : NULL;
}

const struct crypto_prf *crypto_prf_at(size_t i)
{
	return i < N(prf_table) ? &prf_table[i] : NULL;
}

const struct crypto_integ *crypto_integ_at(size_t i)
{
	return i < N(integ_table) ? &integ_table[i] : NULL;
}

const struct crypto_dh_group *crypto_dh_at(size_t i)
{
	return i < N(dh_table) ? &dh_table[i] : NULL;
}

int crypto_suite_init(struct crypto_suite *s, uint16_t encr, uint16_t key_bits, uint16_t prf,
		      uint16_t integ, uint16_t dh)
{
	s->encr = crypto_encr_find(encr, key_bits);
	s->prf = crypto_prf_find(prf);
	s->integ = integ == IKE_AUTH_NONE ? NULL : crypto_integ_find(integ);
	s->dh = dh == IKE_DH_NONE ? NULL : crypto_dh_find(dh);
	if (!s->encr || !s->prf || (dh != IKE_DH_NONE && !s->dh))
		return -EOPNOTSUPP;
	/* AEAD carries its own integrity; everything else needs an INTEG transform. */
	if (s->encr->aead ? integ != IKE_AUTH_NONE : !s->integ)
		return -EOPNOTSUPP;
	return 0;
}
