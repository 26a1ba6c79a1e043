/*
 * lib/crypto's own: message digests without OpenSSL 3's costs per call. Each digest is
 * fetched once; each thread keeps one context per digest and starts it afresh for each use,
 * instead of allocating one (and fetching the digest) every time: an IKE handshake makes some
 * thirty HMACs and hashes, and those costs were most of a short one's.
 */
#ifndef IKD_CRYPTO_MD_H
#define IKD_CRYPTO_MD_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#define CRYPTO_MD_MAX_BLOCK 128	/* SHA-384 and SHA-512 */

/*
 * The calling thread's context for digest md ("SHA1", "SHA256", "SHA384", "SHA512"), started
 * (EVP_DigestInit_ex2) and ready for EVP_DigestUpdate; NULL for another name or on failure.
 * The caller ends it with crypto_md_final() and uses it for nothing else meanwhile (a caller
 * that gives up midway leaves it be: the next begin starts it afresh). It stays the thread's,
 * freed when the thread ends.
 */
EVP_MD_CTX *crypto_md_begin(const char *md);

/*
 * The digest into out (the digest's length; 0 on failure), then the context started again, so
 * that no digest state (an HMAC's inner hash, a key's bytes) stays in it after use.
 */
int crypto_md_final(EVP_MD_CTX *ctx, uint8_t *out);

#endif
