/* See sk.h. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "crypto/prf.h"
#include "crypto/sk.h"

#define ICV_MAX 32

/*
 * The ciphers fetched from OpenSSL's provider once (an EVP_aes_*() object is fetched again at
 * every init, most of a short message's cost). Immutable once fetched: any thread may use
 * them; a failed fetch leaves NULL and that cipher unusable, as before.
 */
static const char *const cipher_names[6] = {
	"AES-128-CBC", "AES-192-CBC", "AES-256-CBC", "AES-128-GCM", "AES-192-GCM", "AES-256-GCM",
};
static EVP_CIPHER *ciphers[6];
static pthread_once_t ciphers_once = PTHREAD_ONCE_INIT;

static void ciphers_fetch(void)
{
	for (size_t i = 0; i < 6; i++)
		ciphers[i] = EVP_CIPHER_fetch(NULL, cipher_names[i], NULL);
	ERR_clear_error();
}

static const EVP_CIPHER *cipher_for(const struct crypto_encr *e)
{
	size_t i = e->key_bits == 128 ? 0 : e->key_bits == 192 ? 1 : 2;

	if (e->id == IKE_ENCR_AES_GCM_16)
		i += 3;
	else if (e->id != IKE_ENCR_AES_CBC)
		return NULL;
	pthread_once(&ciphers_once, ciphers_fetch);
	return ciphers[i];
}

static size_t icv_len(const struct crypto_sk_dir *k)
{
	return k->encr->aead ? k->encr->icv_len : k->integ->icv_len;
}

size_t crypto_sk_overhead(const struct crypto_sk_dir *k, size_t plain_len)
{
	size_t block = k->encr->block_len, body = plain_len + 1;
	size_t pad = block > 1 ? (block - body % block) % block : 0;

	return k->encr->iv_len + pad + 1 + icv_len(k);
}

/* HMAC over msg[0..n), truncated to the ICV length. */
static int integ_mac(const struct crypto_sk_dir *k, const uint8_t *msg, size_t n, uint8_t *icv)
{
	struct crypto_prf as_prf = { .md = k->integ->md, .out_len = (uint8_t)k->integ->key_len };
	struct crypto_buf part = { msg, n };
	uint8_t full[64];
	int rc = crypto_prf(&as_prf, k->key_a.p, k->key_a.len, &part, 1, full);

	if (rc == 0)
		memcpy(icv, full, k->integ->icv_len);
	sodium_memzero(full, sizeof(full));
	return rc;
}

int crypto_cipher(const struct crypto_encr *e, const uint8_t *key, bool enc, const uint8_t *iv,
		  const uint8_t *aad, size_t aad_len, uint8_t *data, size_t len, uint8_t *tag)
{
	EVP_CIPHER_CTX *ctx;
	size_t key_len = e->key_bits / 8;
	uint8_t nonce[12];
	int outl, rc = -EIO;

	if (!cipher_for(e) || len > INT_MAX || aad_len > INT_MAX)
		return -EINVAL;
	if (!e->aead && len % e->block_len)
		return -EBADMSG;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return -ENOMEM;
	if (!EVP_CipherInit_ex(ctx, cipher_for(e), NULL, NULL, NULL, enc))
		goto out;
	if (e->aead) {
		/* RFC 5282 §4: nonce = salt (last 4 key bytes) | 8-byte IV. */
		memcpy(nonce, key + key_len, 4);
		memcpy(nonce + 4, iv, 8);
		if (!EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) ||
		    !EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc))
			goto out;
		if (!enc && !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, e->icv_len, tag))
			goto out;
		if (!EVP_CipherUpdate(ctx, NULL, &outl, aad, (int)aad_len))
			goto out;
	} else {
		if (!EVP_CipherInit_ex(ctx, NULL, NULL, key, iv, enc))
			goto out;
		EVP_CIPHER_CTX_set_padding(ctx, 0);	/* IKE pads itself */
	}
	if (len && !EVP_CipherUpdate(ctx, data, &outl, data, (int)len))
		goto out;
	if (!EVP_CipherFinal_ex(ctx, data + len, &outl)) {
		rc = e->aead ? -EACCES : -EBADMSG;
		goto out;
	}
	if (enc && e->aead && !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, e->icv_len, tag))
		goto out;
	rc = 0;
out:
	ERR_clear_error();
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int crypto_sk_unprotect(const struct crypto_sk_dir *k, uint8_t *msg, size_t len, size_t hdr_off,
			size_t iv_off, uint8_t **ret_plain, size_t *ret_len)
{
	const struct crypto_encr *e = k->encr;
	size_t icv = icv_len(k), ct_off, ct_len;
	uint8_t pad_len;
	int rc;

	if (!cipher_for(e) || (!e->aead && (!k->integ || !k->key_a.p)))
		return -EOPNOTSUPP;
	if (iv_off < hdr_off + 4 || iv_off > len || len - iv_off < e->iv_len + icv + 1)
		return -EBADMSG;
	ct_off = iv_off + e->iv_len;
	ct_len = len - icv - ct_off;
	if (e->aead) {
		rc = crypto_cipher(e, k->key_e.p, false, msg + iv_off, msg, iv_off, msg + ct_off,
				   ct_len, msg + len - icv);
	} else {
		uint8_t mac[ICV_MAX];

		/* Encrypt-then-MAC: check integrity before touching the ciphertext (§3.14). */
		rc = integ_mac(k, msg, len - icv, mac);
		if (rc < 0)
			return rc;
		if (!secret_equal(mac, msg + len - icv, icv))
			return -EACCES;
		if (ct_len % e->block_len)
			return -EBADMSG;
		rc = crypto_cipher(e, k->key_e.p, false, msg + iv_off, NULL, 0, msg + ct_off,
				   ct_len, NULL);
	}
	if (rc < 0)
		return rc;
	pad_len = msg[ct_off + ct_len - 1];
	if ((size_t)pad_len + 1 > ct_len)
		return -EBADMSG;
	*ret_plain = msg + ct_off;
	*ret_len = ct_len - pad_len - 1;
	return 0;
}

int crypto_sk_protect(const struct crypto_sk_dir *k, struct ike_writer *w, size_t hdr_off,
		      const uint8_t *plain, size_t plain_len)
{
	const struct crypto_encr *e = k->encr;
	size_t icv = icv_len(k), total = crypto_sk_overhead(k, plain_len) + plain_len;
	size_t iv_off = w->len, ct_off, ct_len, pad;
	int rc;

	if (!cipher_for(e) || (!e->aead && (!k->integ || !k->key_a.p)))
		return -EOPNOTSUPP;
	if (hdr_off + 4 > w->len || w->len < IKE_HEADER_LEN)
		return -EINVAL;
	ct_len = total - e->iv_len - icv;
	pad = ct_len - plain_len - 1;
	rc = ike_writer_zeros(w, total);
	if (rc < 0)
		return rc;
	ct_off = iv_off + e->iv_len;
	randombytes_buf(w->buf + iv_off, e->iv_len);
	if (plain_len)
		memcpy(w->buf + ct_off, plain, plain_len);
	w->buf[ct_off + ct_len - 1] = (uint8_t)pad;	/* padding bytes stay zero */
	/* Lengths first: they are covered by the ICV / AAD. */
	if (w->len - hdr_off > UINT16_MAX || w->len > UINT32_MAX)
		return -EMSGSIZE;
	ike_writer_put_u16_at(w, hdr_off + 2, (uint16_t)(w->len - hdr_off));
	ike_writer_put_u32_at(w, 24, (uint32_t)w->len);
	if (e->aead)
		return crypto_cipher(e, k->key_e.p, true, w->buf + iv_off, w->buf, iv_off,
				     w->buf + ct_off, ct_len, w->buf + w->len - icv);
	rc = crypto_cipher(e, k->key_e.p, true, w->buf + iv_off, NULL, 0, w->buf + ct_off, ct_len,
			   NULL);
	return rc ?: integ_mac(k, w->buf, w->len - icv, w->buf + w->len - icv);
}
