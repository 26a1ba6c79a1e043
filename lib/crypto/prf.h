/*
 * The IKEv2 pseudorandom function and its expansion (RFC 7296 §2.13), key derivation for
 * the IKE SA (§2.14, §2.18) and Child SAs (§2.17), and the PSK AUTH value (§2.15).
 */
#ifndef IKD_CRYPTO_PRF_H
#define IKD_CRYPTO_PRF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/registry.h"
#include "crypto/secret.h"

/* HMAC of the concatenation of up to four (pointer, length) parts; out gets prf->out_len bytes. */
struct crypto_buf {
	const uint8_t *p;
	size_t len;
};

int crypto_prf(const struct crypto_prf *prf, const uint8_t *key, size_t key_len,
	       const struct crypto_buf *parts, size_t n_parts, uint8_t *out);

/* prf+(K, S) = T1 | T2 | ..., Tn = prf(K, Tn-1 | S | n); at most 255 blocks. */
int crypto_prf_plus(const struct crypto_prf *prf, const uint8_t *key, size_t key_len,
		    const struct crypto_buf *seed, size_t n_seed, uint8_t *out, size_t out_len);

/*
 * What an established IKE SA keeps of its keys: SK_d | SK_ai | SK_ar | SK_ei | SK_er (§2.14)
 * in one allocation, blk, and the three lengths that cut it. crypto_ike_sk_*() make a key's
 * view into blk where it is used: a gateway holds many IKE SAs, and three bytes in each are
 * cheaper than five (pointer, length) pairs. Never secret_clear() a view: only blk is
 * freed, by crypto_ike_keys_clear().
 */
struct crypto_ike_keys {
	struct secret blk;
	uint8_t prf_len, integ_len, encr_len;	/* bytes; integ_len is 0 for AEAD */
};

/* The views into blk; an empty key (SK_a* for AEAD, any of cleared keys) is {NULL, 0}. */
struct secret crypto_ike_sk_d(const struct crypto_ike_keys *k);
/* SK_ai (initiator) or SK_ar. */
struct secret crypto_ike_sk_a(const struct crypto_ike_keys *k, bool initiator);
/* SK_ei (initiator) or SK_er: the cipher key, then the salt for AEAD. */
struct secret crypto_ike_sk_e(const struct crypto_ike_keys *k, bool initiator);

/*
 * SK_pi and SK_pr, allocations of their own: only IKE_AUTH's AUTH values (§2.15) use them,
 * so they stay with the IKE_SA_INIT state and are not kept by an established IKE SA.
 */
struct crypto_ike_auth_keys {
	struct secret sk_pi, sk_pr;
};

void crypto_ike_auth_keys_clear(struct crypto_ike_auth_keys *k);

/*
 * §2.14: SKEYSEED = prf(Ni | Nr, g^ir); with old_sk_d (an IKE SA rekey, §2.18)
 * SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr), prf being the old SA's. ret (empty) gets
 * prf->out_len bytes. Its only use is the prf+ that makes the SK_*: nothing keeps it.
 */
int crypto_ike_skeyseed(const struct crypto_prf *prf, const struct secret *shared,
			const uint8_t *nonce_i, size_t nonce_i_len,
			const uint8_t *nonce_r, size_t nonce_r_len,
			const struct secret *old_sk_d, struct secret *ret);

/*
 * Cut prf+'s output km (SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr, §2.14) into ret
 * and, unless ret_auth is NULL, SK_pi and SK_pr into ret_auth (without them km may end after
 * SK_er: a rekeyed IKE SA does no IKE_AUTH). -EINVAL for a length past a byte; -ENOMEM
 * leaves none of them.
 */
int crypto_ike_keys_cut(const uint8_t *km, size_t prf_len, size_t integ_len, size_t encr_len,
			struct crypto_ike_keys *ret, struct crypto_ike_auth_keys *ret_auth);

/*
 * §2.14: SKEYSEED (crypto_ike_skeyseed() with suite's PRF), then
 * {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)
 * into ret and ret_auth (NULL: SK_pi and SK_pr are not made).
 */
int crypto_ike_keys_derive(const struct crypto_suite *suite, const struct secret *shared,
			   const uint8_t *nonce_i, size_t nonce_i_len,
			   const uint8_t *nonce_r, size_t nonce_r_len,
			   const uint8_t spi_i[8], const uint8_t spi_r[8],
			   const struct secret *old_sk_d, struct crypto_ike_keys *ret,
			   struct crypto_ike_auth_keys *ret_auth);
void crypto_ike_keys_clear(struct crypto_ike_keys *k);

/* Keys of one Child SA direction: encryption key (salt included) and integrity key. */
struct crypto_child_keys {
	struct secret encr_i, integ_i;	/* initiator -> responder */
	struct secret encr_r, integ_r;	/* responder -> initiator */
};

/*
 * §2.17: KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr), taken in the order encr_i, integ_i,
 * encr_r, integ_r. integ is NULL for AEAD; shared is NULL without PFS.
 */
int crypto_child_keys_derive(const struct crypto_prf *prf, const struct secret *sk_d,
			     const struct crypto_encr *encr, const struct crypto_integ *integ,
			     const struct secret *shared,
			     const uint8_t *nonce_i, size_t nonce_i_len,
			     const uint8_t *nonce_r, size_t nonce_r_len,
			     struct crypto_child_keys *ret);
void crypto_child_keys_clear(struct crypto_child_keys *k);

/*
 * §2.15 PSK authentication:
 *   AUTH = prf(prf(PSK, "Key Pad for IKEv2"), <msg> | <peer nonce> | prf(SK_p, ID'))
 * msg is this side's first message (IKE_SA_INIT request for the initiator, response for the
 * responder) exactly as sent, nonce the OTHER side's nonce, sk_p this side's SK_pi/SK_pr,
 * id_body the ID payload body (type, reserved, data). out gets prf->out_len bytes.
 */
int crypto_psk_auth(const struct crypto_prf *prf, const struct secret *psk,
		    const uint8_t *msg, size_t msg_len, const uint8_t *nonce, size_t nonce_len,
		    const struct secret *sk_p, const uint8_t *id_body, size_t id_len, uint8_t *out);
/* Compute and compare in constant time: 0, or -EACCES on a mismatch. */
int crypto_psk_auth_verify(const struct crypto_prf *prf, const struct secret *psk,
			   const uint8_t *msg, size_t msg_len, const uint8_t *nonce, size_t nonce_len,
			   const struct secret *sk_p, const uint8_t *id_body, size_t id_len,
			   const uint8_t *auth, size_t auth_len);

#endif
