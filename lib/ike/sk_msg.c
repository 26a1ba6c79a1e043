/* Encrypted messages of an IKE SA (see sk_msg.h). */
#include <errno.h>
#include <string.h>

#include "crypto/sk.h"
#include "ike/sk_msg.h"

static struct crypto_sk_dir dir_of(const struct ike_sa_keys *sa, bool from_initiator)
{
	return (struct crypto_sk_dir){
		sa->suite.encr, sa->suite.integ,
		crypto_ike_sk_e(&sa->keys, from_initiator),
		crypto_ike_sk_a(&sa->keys, from_initiator),	/* {NULL, 0} for AEAD */
	};
}

int ike_sk_seal(const struct ike_sa_keys *sa, uint8_t exchange, bool response, uint32_t msg_id,
		const struct ike_writer *plain, uint8_t first_type, struct ike_writer *out)
{
	struct ike_header h = { .major = IKE_VERSION_MAJOR, .exchange = exchange,
				.flags = (uint8_t)((sa->initiator ? IKE_FLAG_INITIATOR : 0) |
						   (response ? IKE_FLAG_RESPONSE : 0)),
				.msg_id = msg_id };
	struct crypto_sk_dir dir = dir_of(sa, sa->initiator);
	struct ike_builder b;
	size_t sk_off;
	int rc;

	memcpy(h.spi_i, sa->spi_i, IKE_SPI_LEN);
	memcpy(h.spi_r, sa->spi_r, IKE_SPI_LEN);
	out->len = 0;
	rc = ike_build_begin(&b, out, &h);
	rc = rc ?: ike_build_sk_begin(&b, first_type, NULL, &sk_off);
	return rc ?: crypto_sk_protect(&dir, out, sk_off, plain->buf, plain->len);
}

int ike_sk_open(const struct ike_sa_keys *sa, uint8_t *msg, size_t len, struct ike_header *ret_hdr,
		struct ike_chain *inner)
{
	struct crypto_sk_dir dir = dir_of(sa, !sa->initiator);
	struct ike_msg m;
	uint8_t *plain, crit = 0;
	size_t plain_len;
	int rc = ike_msg_decode(msg, len, &m, NULL);

	if (rc < 0)
		return rc;
	/* From the peer: its I flag is the opposite of ours. */
	if (!!(m.hdr.flags & IKE_FLAG_INITIATOR) == sa->initiator ||
	    memcmp(m.hdr.spi_i, sa->spi_i, IKE_SPI_LEN) != 0 ||
	    memcmp(m.hdr.spi_r, sa->spi_r, IKE_SPI_LEN) != 0 || !m.sk.present || m.sk.fragment ||
	    m.hdr.exchange < IKE_EXCH_IKE_AUTH || m.hdr.exchange > IKE_EXCH_INFORMATIONAL)
		return -EPROTO;
	rc = crypto_sk_unprotect(&dir, msg, len, m.sk.hdr_off, m.sk.iv_off, &plain, &plain_len);
	rc = rc ?: ike_chain_decode(plain, plain_len, m.sk.inner_type, inner, &crit, NULL);
	if (rc < 0)
		return rc;
	for (uint8_t i = 0; i < inner->n; i++)
		if (inner->pl[i].known &&
		    !ike_payload_allowed(m.hdr.exchange, true, inner->pl[i].type))
			return -EPROTO;
	*ret_hdr = m.hdr;
	return 0;
}
