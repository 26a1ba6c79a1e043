/*
 * Encrypted messages of an IKE SA (RFC 7296 §3.14): seal an inner payload chain into an SK
 * message from this side, and open one from the peer (authenticate, decrypt in place, decode).
 * The I flag and the key direction follow the original roles (§3.1, §2.14), not who starts
 * the exchange.
 */
#ifndef IKD_IKE_SK_MSG_H
#define IKD_IKE_SK_MSG_H

#include "ike/sa_init.h"

int ike_sk_seal(const struct ike_sa_keys *sa, uint8_t exchange, bool response, uint32_t msg_id,
		const struct ike_writer *plain, uint8_t first_type, struct ike_writer *out);

/*
 * Decode msg, check it belongs to this IKE SA and comes from the peer, verify and decrypt it
 * in place, decode and check the inner payloads against the exchange's table.
 * -EBADMSG malformed, -EPROTO not ours / wrong direction / payload not allowed,
 * -EACCES integrity check failed. Nothing changes on failure.
 */
int ike_sk_open(const struct ike_sa_keys *sa, uint8_t *msg, size_t len, struct ike_header *ret_hdr,
		struct ike_chain *inner);

#endif
