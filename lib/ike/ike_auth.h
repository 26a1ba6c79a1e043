/*
 * The IKE_AUTH exchange with pre-shared keys (RFC 7296 §1.2, §2.15) and its first Child SA
 * (§1.3, §2.9, §2.17), both roles, sans-I/O. Runs on the state an IKE_SA_INIT left
 * (lib/ike/sa_init.h). Inbound Child SA SPIs come from the caller (the kernel allocates them).
 */
#ifndef IKD_IKE_AUTH_H
#define IKD_IKE_AUTH_H

#include "ike/sa_init.h"

struct ike_child_cfg {
	const struct ike_pld_sa *proposals;	/* ESP, most preferred first; SPIs filled here */
	struct ike_pld_ts local, remote;	/* our selectors: our side, the peer's side */
};

/* A negotiated Child SA, ready for the kernel. */
struct ike_child {
	struct ike_proposal chosen;
	uint32_t spi_in;		/* ours: the peer sends with it */
	uint32_t spi_out;		/* the peer's: we send with it */
	struct ike_pld_ts ts_local, ts_remote;
	const struct crypto_encr *encr;
	const struct crypto_integ *integ;	/* NULL for AEAD */
	bool esn;
	struct crypto_child_keys keys;	/* _i: initiator to responder; _r: back */
};

void ike_child_clear(struct ike_child *c);

/* What a responder knows of a peer, found by the peer's identity. */
struct ike_auth_peer {
	const struct secret *psk;
	const struct ike_child_cfg *child;
	struct ike_pld_id id;		/* our identity towards this peer (IDr) */
};

/* -ENOENT: nobody by that identity (answered AUTHENTICATION_FAILED, as any failure is). */
typedef int (*ike_auth_lookup_fn)(void *arg, const struct ike_pld_id *idi,
				  struct ike_auth_peer *ret);

enum ike_auth_result {
	IKE_AUTH_DONE = 1,		/* authenticated, Child SA negotiated */
	IKE_AUTH_DONE_NO_CHILD,		/* authenticated; the Child SA was refused (notify says) */
	IKE_AUTH_REFUSED,		/* responder: AUTHENTICATION_FAILED sent, no state kept */
	IKE_AUTH_FAILED,		/* initiator: the peer refused us or failed our check */
};

/* Initiator: out gets SK{IDi, [INITIAL_CONTACT], AUTH, SA, TSi, TSr} (message ID 1). */
int ike_auth_request(const struct ike_init *init, const struct ike_pld_id *id_i,
		     const struct secret *psk, bool initial_contact,
		     const struct ike_child_cfg *child, uint32_t spi_in, struct ike_writer *out);

/*
 * Initiator: the response (decrypted in place). expect_idr NULL accepts any responder
 * identity. Returns IKE_AUTH_DONE, IKE_AUTH_DONE_NO_CHILD or IKE_AUTH_FAILED with *ret_notify,
 * or -errno for a message to drop.
 */
int ike_auth_on_response(const struct ike_init *init, const struct secret *psk,
			 const struct ike_child_cfg *child, uint32_t spi_in,
			 const struct ike_pld_id *expect_idr, uint8_t *msg, size_t len,
			 struct ike_child *ret, uint16_t *ret_notify);

/*
 * Responder: the request (decrypted in place). Returns IKE_AUTH_DONE or _DONE_NO_CHILD with
 * out holding the response, IKE_AUTH_REFUSED with out holding AUTHENTICATION_FAILED, or
 * -errno for a message to drop. ret_peer gets what lookup found.
 */
int ike_auth_respond(const struct ike_init *init, ike_auth_lookup_fn lookup, void *arg,
		     uint32_t spi_in, uint8_t *msg, size_t len, struct ike_writer *out,
		     struct ike_child *ret, struct ike_pld_id *ret_idi, uint16_t *ret_notify);

#endif
