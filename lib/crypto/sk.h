/*
 * The Encrypted payload (RFC 7296 §3.14) and Encrypted Fragment payload (RFC 7383 §2.5):
 * AES-CBC with HMAC (encrypt-then-MAC over the whole message) or AES-GCM (RFC 5282: AAD is
 * the IKE header and the SK/SKF header, nonce = salt | IV). Works on raw message bytes; the
 * codec (lib/ike/message.h) says where the SK payload is.
 */
#ifndef IKD_CRYPTO_SK_H
#define IKD_CRYPTO_SK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/registry.h"
#include "crypto/secret.h"
#include "ike/reader.h"

/* One direction's keys: SK_ei/SK_ai for the initiator's messages, SK_er/SK_ar for the responder's. */
struct crypto_sk_dir {
	const struct crypto_encr *encr;
	const struct crypto_integ *integ;	/* NULL for AEAD */
	/* Borrowed, by value: an IKE SA's are views into its keys (crypto_ike_sk_e(), _a()). */
	struct secret key_e;			/* cipher key | salt */
	struct secret key_a;			/* {NULL, 0} for AEAD */
};

/*
 * Verify and decrypt in place. msg[0..len) is the whole message; hdr_off the SK/SKF generic
 * header, iv_off where the IV starts (after the SKF fields for a fragment). On success
 * ret_plain and ret_len give the inner payloads (padding removed) inside msg.
 * -EACCES: integrity check failed. -EBADMSG: too short, not a block multiple, bad padding.
 * On failure msg may be partly decrypted but nothing is returned from it.
 */
int crypto_sk_unprotect(const struct crypto_sk_dir *k, uint8_t *msg, size_t len, size_t hdr_off,
			size_t iv_off, uint8_t **ret_plain, size_t *ret_len);

/*
 * w holds the message so far, from offset 0: the IKE header and the SK/SKF generic header
 * at hdr_off (and the SKF fields) as the last bytes. Appends a fresh random IV, the
 * encrypted plain | padding | pad length, and the ICV, then patches the SK payload length and
 * the IKE header length.
 */
int crypto_sk_protect(const struct crypto_sk_dir *k, struct ike_writer *w, size_t hdr_off,
		      const uint8_t *plain, size_t plain_len);

/*
 * The cipher under SK, in place: AES-CBC (len a multiple of 16; no padding added) or AES-GCM
 * (key = cipher key | 4-byte salt, nonce = salt | 8-byte iv, aad authenticated, tag written
 * when encrypting and checked when decrypting: -EACCES on a mismatch).
 */
int crypto_cipher(const struct crypto_encr *e, const uint8_t *key, bool enc, const uint8_t *iv,
		  const uint8_t *aad, size_t aad_len, uint8_t *data, size_t len, uint8_t *tag);

/* Bytes SK adds around a plaintext of plain_len (IV, padding, pad length, ICV). */
size_t crypto_sk_overhead(const struct crypto_sk_dir *k, size_t plain_len);

#endif
