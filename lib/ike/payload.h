/*
 * IKEv2 payload bodies (RFC 7296 §3.3-§3.15, RFC 7383 §2.5): decoded forms and encoders.
 * Decoders take the payload BODY (after the generic header) and borrow from it: pointers in
 * the decoded structures point into the received datagram. Counts are capped (IKE_MAX_*) and
 * a payload over a cap is rejected with -EMSGSIZE, never truncated, except in the SA payload:
 * there a peer's offer is read whole but only what we could ever choose is kept (see
 * ike_pld_sa_decode()), so no offer is too big for us whatever its size.
 */
#ifndef IKD_IKE_PAYLOAD_H
#define IKD_IKE_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ike/constants.h"
#include "ike/reader.h"

#define IKE_MAX_PROPOSALS	16	/* kept; further ones are read and counted in n_ignored */
/*
 * Per proposal: at least the distinct transforms ike_transform_known() names (41, checked at
 * build time in proposal.c), so a decoded offer never exceeds it. Real offers are larger on
 * the wire: strongSwan 5.9.8's default IKE proposals carry 38 transforms each, 6.0.1's up
 * to 47; what we do not know is skipped, not stored.
 */
#define IKE_MAX_TRANSFORMS	48
#define IKE_MAX_TS		16	/* per TS payload */
#define IKE_MAX_DELETE_SPIS	64
#define IKE_MAX_CP_ATTRS	32
#define IKE_NONCE_MIN		16
#define IKE_NONCE_MAX		256
#define IKE_MAX_SPI_LEN		8
#define IKE_COOKIE_MAX		64
#define IKE_NAT_HASH_LEN	20	/* SHA-1, RFC 7296 §2.23 */

struct ike_transform {
	uint8_t type;		/* IKE_TRANSFORM_* */
	uint16_t id;
	uint16_t key_bits;	/* IKE_ATTR_KEY_LENGTH, 0 when absent */
};

struct ike_proposal {
	uint8_t num;
	uint8_t protocol;	/* IKE_PROTO_* */
	uint8_t spi_len;
	uint8_t spi[IKE_MAX_SPI_LEN];
	uint8_t n_transforms;
	/* Decoded: transforms on the wire not kept (unknown, unknown attribute, repeated). */
	uint8_t n_ignored;
	bool unknown_type;	/* a transform type we do not know: the proposal is unacceptable */
	struct ike_transform t[IKE_MAX_TRANSFORMS];
};

struct ike_pld_sa {
	uint8_t n;
	uint16_t n_ignored;	/* decoded: proposals past IKE_MAX_PROPOSALS, read but not kept */
	struct ike_proposal p[IKE_MAX_PROPOSALS];
};

struct ike_pld_ke {
	uint16_t group;
	const uint8_t *data;
	size_t len;
};

struct ike_pld_id {
	uint8_t type;		/* IKE_ID_* */
	const uint8_t *data;
	size_t len;
	/* The body with the type and reserved bytes, what AUTH's prf(SK_p, IDx') covers. */
	const uint8_t *body;
	size_t body_len;
};

struct ike_pld_auth {
	uint8_t method;		/* IKE_AUTH_* method */
	const uint8_t *data;
	size_t len;
};

struct ike_pld_nonce {
	const uint8_t *data;
	size_t len;
};

struct ike_pld_notify {
	uint8_t protocol;
	uint8_t spi_len;
	uint8_t spi[IKE_MAX_SPI_LEN];
	uint16_t type;		/* IKE_N_* */
	const uint8_t *data;
	size_t len;
};

struct ike_pld_delete {
	uint8_t protocol;
	uint8_t spi_len;	/* 0 for IKE, 4 for ESP/AH */
	uint16_t n_spis;
	const uint8_t *spis;	/* n_spis * spi_len bytes */
};

struct ike_ts {
	uint8_t type;		/* IKE_TS_IPV4_ADDR_RANGE or IKE_TS_IPV6_ADDR_RANGE */
	uint8_t ip_proto;	/* 0 = any */
	uint16_t start_port;
	uint16_t end_port;
	uint8_t start[16];	/* 4 bytes used for IPv4 */
	uint8_t end[16];
};

struct ike_pld_ts {
	uint8_t n;
	struct ike_ts ts[IKE_MAX_TS];
};

struct ike_cp_attr {
	uint16_t type;
	const uint8_t *value;
	uint16_t len;
};

struct ike_pld_cp {
	uint8_t cfg_type;	/* IKE_CFG_* */
	uint8_t n;
	struct ike_cp_attr a[IKE_MAX_CP_ATTRS];
};

struct ike_pld_vendor {
	const uint8_t *data;
	size_t len;
};

/* RFC 7383 §2.5: the fields before the IV of an Encrypted Fragment payload. */
struct ike_pld_skf {
	uint16_t frag_num;
	uint16_t total;
};

/*
 * The SA payload, every proposal and transform checked for form. Kept: the first
 * IKE_MAX_PROPOSALS proposals and, in each, the transforms ike_transform_known() names, once
 * each. RFC 7296 §3.3.6: a transform we do not understand, or with an attribute we do not
 * understand, is unacceptable while the others of its type are processed as usual (skipped,
 * counted in n_ignored); a transform type we do not understand makes its proposal
 * unacceptable (unknown_type).
 */
int ike_pld_sa_decode(struct ike_reader *r, struct ike_pld_sa *ret, struct ike_err *err);
int ike_pld_ke_decode(struct ike_reader *r, struct ike_pld_ke *ret, struct ike_err *err);
int ike_pld_id_decode(struct ike_reader *r, struct ike_pld_id *ret, struct ike_err *err);
int ike_pld_auth_decode(struct ike_reader *r, struct ike_pld_auth *ret, struct ike_err *err);
int ike_pld_nonce_decode(struct ike_reader *r, struct ike_pld_nonce *ret, struct ike_err *err);
int ike_pld_notify_decode(struct ike_reader *r, struct ike_pld_notify *ret, struct ike_err *err);
int ike_pld_delete_decode(struct ike_reader *r, struct ike_pld_delete *ret, struct ike_err *err);
int ike_pld_ts_decode(struct ike_reader *r, struct ike_pld_ts *ret, struct ike_err *err);
int ike_pld_cp_decode(struct ike_reader *r, struct ike_pld_cp *ret, struct ike_err *err);
int ike_pld_vendor_decode(struct ike_reader *r, struct ike_pld_vendor *ret, struct ike_err *err);
int ike_pld_skf_decode(struct ike_reader *r, struct ike_pld_skf *ret, struct ike_err *err);

/* Encoders write the body only; ike_build_* in message.h adds the generic header. */
int ike_pld_sa_encode(struct ike_writer *w, const struct ike_pld_sa *sa);
int ike_pld_ke_encode(struct ike_writer *w, const struct ike_pld_ke *ke);
int ike_pld_id_encode(struct ike_writer *w, const struct ike_pld_id *id);
int ike_pld_auth_encode(struct ike_writer *w, const struct ike_pld_auth *auth);
int ike_pld_nonce_encode(struct ike_writer *w, const struct ike_pld_nonce *nonce);
int ike_pld_notify_encode(struct ike_writer *w, const struct ike_pld_notify *n);
int ike_pld_delete_encode(struct ike_writer *w, const struct ike_pld_delete *d);
int ike_pld_ts_encode(struct ike_writer *w, const struct ike_pld_ts *ts);
int ike_pld_cp_encode(struct ike_writer *w, const struct ike_pld_cp *cp);
int ike_pld_skf_encode(struct ike_writer *w, const struct ike_pld_skf *skf);

/* Typed views of notify data (RFC 7296 §3.10.1); -EBADMSG when the data has the wrong size. */
int ike_notify_invalid_ke_group(const struct ike_pld_notify *n, uint16_t *ret_group);
int ike_notify_cookie(const struct ike_pld_notify *n, const uint8_t **ret, size_t *ret_len);
int ike_notify_nat_hash(const struct ike_pld_notify *n, const uint8_t **ret_hash);

/* The address length a TS type implies (4 or 16), 0 for an unknown type. */
size_t ike_ts_addr_len(uint8_t ts_type);

#endif
