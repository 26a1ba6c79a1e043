/*
 * The IKE_AUTH exchange with pre-shared keys (RFC 7296 §1.2, §2.15) and its first Child SA
 * (§1.3, §2.9, §2.17), both roles, sans-I/O. Runs on the state an IKE_SA_INIT left
 * (lib/ike/sa_init.h). Inbound Child SA SPIs come from the caller (the kernel allocates them).
 *
 * Fragmentation (RFC 7383), when IKE_SA_INIT negotiated it (init->peer_fragmentation): the
 * peer's message may come as Encrypted Fragment (SKF) messages, each handed in as received.
 * A fragment is authenticated, then kept in init (freed by ike_init_clear() and
 * ike_sa_from_init()) and -EINPROGRESS returned; the one that completes the message makes the
 * call process it exactly as the unfragmented message. Fragments do not age out here (no
 * clock, see ike_frag_rx_take()): a partial message, at most IKE_FRAG_MAX_BYTES, lives as
 * long as init, which the caller's IKE_AUTH or half-open timeout bounds. Without
 * negotiation a fragment is refused (-EPROTO) as before. Our own messages are never
 * fragmented: with PSK they are a few hundred bytes.
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
	/*
	 * We sent the request of the exchange that made it (§1.3: in CREATE_CHILD_SA "the
	 * initiator" is whoever starts that exchange, the IKE SA's responder as well): then
	 * the _i keys protect what we send, else what we receive.
	 */
	bool initiator;
	struct crypto_child_keys keys;	/* _i: the exchange's initiator to its responder; _r: back */
};

void ike_child_clear(struct ike_child *c);

/* What a responder knows of a peer, found by the peer's identity. */
struct ike_auth_peer {
	const struct secret *psk;
	const struct ike_child_cfg *child;
	struct ike_pld_id id;		/* our identity towards this peer (IDr) */
	/*
	 * Optional: put the negotiated Child SA in place (the kernel, for a daemon) before the
	 * answer is sealed, with the arg given to the lookup. The peer is told of the Child SA
	 * only when it returned 0; otherwise the answer carries NO_PROPOSAL_CHOSEN in its place
	 * (§1.2: the IKE SA is still made) and IKE_AUTH_DONE_NO_CHILD is returned. When the
	 * answer then cannot be built (a negative return), what it installed is the caller's to
	 * take out.
	 */
	int (*install)(void *arg, const struct ike_child *c);
};

/*
 * idi: the initiator's identity; idr: the identity it asked us to be (§3.5: an optional IDr
 * in its IKE_AUTH), NULL when it asked none. -ENOENT: nobody by that identity (answered
 * AUTHENTICATION_FAILED, as any failure is).
 */
typedef int (*ike_auth_lookup_fn)(void *arg, const struct ike_pld_id *idi,
				  const struct ike_pld_id *idr, struct ike_auth_peer *ret);

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
 * Initiator: the response (decrypted in place), or a fragment of it. expect_idr NULL accepts
 * any responder identity. Returns IKE_AUTH_DONE, IKE_AUTH_DONE_NO_CHILD or IKE_AUTH_FAILED
 * with *ret_notify, or -errno for a message to drop: the state is unchanged, keep waiting.
 * A response without IDr and AUTH but with an error notify (NO_PROPOSAL_CHOSEN alone, as
 * charon sends when it cannot install the Child SA) is IKE_AUTH_FAILED with that notify.
 * -EINPROGRESS: a fragment was stored; the message is not complete: keep waiting, nothing
 * else changed (it is not a message dropped). -EALREADY: a copy of a fragment already kept.
 */
int ike_auth_on_response(struct ike_init *init, const struct secret *psk,
			 const struct ike_child_cfg *child, uint32_t spi_in,
			 const struct ike_pld_id *expect_idr, uint8_t *msg, size_t len,
			 struct ike_child *ret, uint16_t *ret_notify);

/*
 * Responder: the request (decrypted in place), or a fragment of it. Returns IKE_AUTH_DONE or
 * _DONE_NO_CHILD with out holding the response, IKE_AUTH_REFUSED with out holding
 * AUTHENTICATION_FAILED, or -errno for a message to drop. -EINPROGRESS: a fragment was stored;
 * the message is not complete: keep waiting, nothing else changed (lookup was not called, out
 * is untouched, spi_in is not used). -EALREADY: a copy of a fragment already kept.
 * ret_idi gets the initiator's identity.
 *
 * Once answered, a retransmission of the request is the caller's to answer with the same
 * response (§2.1); a fragmented one only on its fragment 1, after ike_frag_open() verified it
 * (RFC 7383 §2.6.1).
 */
int ike_auth_respond(struct ike_init *init, ike_auth_lookup_fn lookup, void *arg,
		     uint32_t spi_in, uint8_t *msg, size_t len, struct ike_writer *out,
		     struct ike_child *ret, struct ike_pld_id *ret_idi, uint16_t *ret_notify);

#endif
