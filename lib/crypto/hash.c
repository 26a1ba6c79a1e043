/* See hash.h. */
#include <errno.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "crypto/hash.h"
#include "crypto/md.h"
#include "crypto/prf.h"

int crypto_nat_hash(const uint8_t spi_i[8], const uint8_t spi_r[8], const uint8_t *addr,
		    size_t addr_len, uint16_t port, uint8_t out[CRYPTO_NAT_HASH_LEN])
{
	uint8_t buf[8 + 8 + 16 + 2];
	EVP_MD_CTX *ctx;

	if (addr_len != 4 && addr_len != 16)
		return -EINVAL;
	memcpy(buf, spi_i, 8);
	memcpy(buf + 8, spi_r, 8);
	memcpy(buf + 16, addr, addr_len);
	buf[16 + addr_len] = (uint8_t)(port >> 8);
	buf[17 + addr_len] = (uint8_t)port;
	ctx = crypto_md_begin("SHA1");
	if (!ctx)
		return -EIO;
	if (!EVP_DigestUpdate(ctx, buf, 18 + addr_len)) {
		ERR_clear_error();
		return -EIO;
	}
	return crypto_md_final(ctx, out) == CRYPTO_NAT_HASH_LEN ? 0 : -EIO;
}

int crypto_cookie(const struct secret *key, uint8_t version, const uint8_t *nonce_i,
		  size_t nonce_len, const uint8_t *addr, size_t addr_len, const uint8_t spi_i[8],
		  uint8_t out[CRYPTO_COOKIE_LEN])
{
	const struct crypto_prf *sha256 = crypto_prf_find(IKE_PRF_HMAC_SHA2_256);
	struct crypto_buf parts[3] = { { nonce_i, nonce_len }, { addr, addr_len }, { spi_i, 8 } };
	uint8_t mac[32];
	int rc = crypto_prf(sha256, key->p, key->len, parts, 3, mac);

	if (rc == 0) {
		out[0] = version;
		memcpy(out + 1, mac, CRYPTO_COOKIE_LEN - 1);
	}
	sodium_memzero(mac, sizeof(mac));
	return rc;
}
