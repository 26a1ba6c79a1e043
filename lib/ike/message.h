/*
 * Whole IKEv2 messages (RFC 7296 §3.1-§3.2, §3.14; RFC 7383): the header, the payload chain,
 * the location of the SK/SKF payload, and a builder that writes headers and patches lengths.
 * A decoded message borrows the receive buffer.
 */
#ifndef IKD_IKE_MESSAGE_H
#define IKD_IKE_MESSAGE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ike/payload.h"
#include "ike/reader.h"

#define IKE_MAX_PAYLOADS	64	/* per message or decrypted chain */
#define IKE_MAX_MSG_LEN		65535	/* what fits a UDP datagram */

struct ike_header {
	uint8_t spi_i[IKE_SPI_LEN];
	uint8_t spi_r[IKE_SPI_LEN];
	uint8_t next_payload;
	uint8_t major;
	uint8_t minor;
	uint8_t exchange;
	uint8_t flags;		/* IKE_FLAG_* */
	uint32_t msg_id;
	uint32_t length;
};

struct ike_payload {
	uint8_t type;
	bool critical;
	bool known;		/* false: an unknown non-critical payload, skipped */
	size_t offset;		/* of the generic header, from the start of the message */
	const uint8_t *body;
	size_t body_len;
};

struct ike_chain {
	uint8_t n;
	struct ike_payload pl[IKE_MAX_PAYLOADS];
};

/* Where the encrypted part is, for lib/crypto to authenticate and decrypt in place. */
struct ike_sk {
	bool present;
	bool fragment;		/* SKF (RFC 7383) rather than SK */
	uint8_t inner_type;	/* the generic header's next payload: the first inner payload */
	struct ike_pld_skf skf;	/* when fragment */
	size_t hdr_off;		/* generic header of SK/SKF */
	size_t iv_off;		/* IV, then ciphertext, padding and ICV, up to the message end */
	size_t end;
};

struct ike_msg {
	const uint8_t *buf;
	size_t len;
	struct ike_header hdr;
	struct ike_chain chain;	/* the clear payloads, SK/SKF last when present */
	struct ike_sk sk;
	uint8_t unsupported_critical;	/* set with -ENOPROTOOPT */
};

/*
 * Decode and validate a whole datagram: the header (version 2.x, length equal to the datagram)
 * and every payload in the chain, each checked with its own decoder. Returns 0, or:
 *   -EBADMSG          malformed (INVALID_SYNTAX); err says where;
 *   -EPROTONOSUPPORT  major version is not 2 (INVALID_MAJOR_VERSION); ret->hdr is filled;
 *   -ENOPROTOOPT      an unknown payload with the critical bit; ret->unsupported_critical
 *                     holds its type (UNSUPPORTED_CRITICAL_PAYLOAD);
 *   -EMSGSIZE         more payloads, proposals, selectors ... than the limits allow.
 */
int ike_msg_decode(const uint8_t *buf, size_t len, struct ike_msg *ret, struct ike_err *err);
int ike_header_decode(const uint8_t *buf, size_t len, struct ike_header *ret, struct ike_err *err);

/*
 * Decode a decrypted inner payload chain starting with first_type; the same checks, and SK
 * or SKF inside is -EBADMSG; offsets are relative to buf.
 * ret_unsupported_critical as for ike_msg_decode().
 */
int ike_chain_decode(const uint8_t *buf, size_t len, uint8_t first_type, struct ike_chain *ret,
		     uint8_t *ret_unsupported_critical, struct ike_err *err);

/* Decode the body of one payload into its parsed form, by type; for the payload decoders. */
int ike_payload_validate(const struct ike_payload *pl, struct ike_err *err);
const struct ike_payload *ike_chain_find(const struct ike_chain *c, uint8_t type,
					 const struct ike_payload *after);
/* The first notify of the given type in the chain, decoded; -ENOENT when absent. */
int ike_chain_find_notify(const struct ike_chain *c, uint16_t type, struct ike_pld_notify *ret);

/*
 * Decode the first payload of a type in a chain with its decoder into *dst:
 * 0, -ENOENT when absent, or the decoder's error. (A GNU statement expression, so each
 * decoder keeps its own typed signature.)
 */
#define IKE_CHAIN_DECODE(chain, type, decoder, dst) ({				\
	const struct ike_payload *pl_ = ike_chain_find((chain), (type), NULL);	\
	struct ike_reader r_;							\
	int rc_ = -ENOENT;							\
	if (pl_) {								\
		r_ = (struct ike_reader){ .p = pl_->body, .len = pl_->body_len };	\
		rc_ = decoder(&r_, (dst), NULL);				\
	}									\
	rc_; })

/* Start a payload, run the body encoder expression, close it: 0 or the first error. */
#define IKE_BUILD_PAYLOAD(b, type, encode)					\
	(ike_build_pld_begin((b), (type), false) ?: (encode) ?: ike_build_pld_end(b))

/* The notify a decode failure is answered with (RFC 7296 §3.10.1), 0 for none. */
uint16_t ike_decode_error_notify(int rc);

/*
 * Which payloads an exchange may carry, in the clear and inside SK (RFC 7296 §1.2-§1.5):
 * one table. Anything else in a message is a protocol error.
 */
bool ike_payload_allowed(uint8_t exchange, bool encrypted, uint8_t type);

/* Builder: writes the header and generic payload headers, linking next-payload fields. */
struct ike_builder {
	struct ike_writer *w;
	size_t msg_start;
	size_t next_slot;	/* where the next payload's type goes; SIZE_MAX: first_type */
	uint8_t first_type;	/* for a bare chain (plaintext for SK) */
	size_t pld_start;
	bool header;
};

int ike_build_begin(struct ike_builder *b, struct ike_writer *w, const struct ike_header *hdr);
void ike_build_chain_begin(struct ike_builder *b, struct ike_writer *w);
int ike_build_pld_begin(struct ike_builder *b, uint8_t type, bool critical);
int ike_build_pld_end(struct ike_builder *b);
int ike_build_raw(struct ike_builder *b, uint8_t type, bool critical, const uint8_t *body,
		  size_t len);
/*
 * Start the SK (or SKF, with skf set) payload, which must be last: its next-payload field is
 * inner_type, the first payload inside. *ret_hdr_off locates its generic header; lib/crypto
 * appends IV, ciphertext and ICV and then patches the SK and message lengths.
 */
int ike_build_sk_begin(struct ike_builder *b, uint8_t inner_type, const struct ike_pld_skf *skf,
		       size_t *ret_hdr_off);
/* Patch the message length (header builders) . */
int ike_build_finish(struct ike_builder *b);

/* Re-encode a decoded message from its parsed payloads (SK/SKF data copied as is). */
int ike_msg_encode(const struct ike_msg *m, struct ike_writer *w);

const char *ike_exchange_name(uint8_t exchange);
const char *ike_payload_name(uint8_t type);
const char *ike_notify_name(uint16_t type);

#endif
