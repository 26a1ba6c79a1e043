/*
 * Between ike_sa.c and create_child.c only: the CREATE_CHILD_SA exchange plugs into the
 * established IKE SA's window and reply cache. The API is in ike_sa.h.
 */
#ifndef IKD_IKE_CREATE_CHILD_H
#define IKD_IKE_CREATE_CHILD_H

#include "ike/ike_sa.h"

/* Seal a request of exchange with the inner chain in plain, keep it for retransmits. */
int ike_sa_send_request(struct ike_sa *sa, uint8_t exchange, const struct ike_writer *plain,
			uint8_t first, struct ike_writer *out);

/* The response to our CREATE_CHILD_SA (opened): always ends the exchange, rx says how. */
void ike_cc_on_response(struct ike_sa *sa, const struct ike_chain *inner, struct ike_sa_rx *rx);

/*
 * The peer's CREATE_CHILD_SA request (opened, in the window): plain gets the inner chain of
 * the reply, *ret_first its first payload. -errno only for our own failures (nothing to
 * answer: the request is dropped and the peer retransmits).
 */
int ike_cc_respond(struct ike_sa *sa, const struct ike_chain *inner, ike_sa_spi_map_fn map,
		   void *arg, struct ike_writer *plain, uint8_t *ret_first, struct ike_sa_rx *rx);

/* The reply to ike_cc_respond()'s request went out: remember what a collision needs. */
void ike_cc_replied(struct ike_sa *sa, const struct ike_sa_rx *rx);

void ike_cc_free(struct ike_sa *sa);

/*
 * §2.18: the keys of the IKE SA a rekey makes: SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)
 * with the OLD SA's PRF, then {SK_d | SK_ai | ... | SK_er} = prf+(SKEYSEED, Ni | Nr | SPIi |
 * SPIr) with the new suite's (§2.14); no SK_pi or SK_pr (no IKE_AUTH). Exposed for the tests.
 */
int ike_cc_rekey_keys(const struct crypto_prf *old_prf, const struct secret *old_sk_d,
		      const struct crypto_suite *suite, const struct secret *shared,
		      const uint8_t *nonce_i, size_t nonce_i_len,
		      const uint8_t *nonce_r, size_t nonce_r_len,
		      const uint8_t spi_i[IKE_SPI_LEN], const uint8_t spi_r[IKE_SPI_LEN],
		      struct crypto_ike_keys *ret);

#endif
