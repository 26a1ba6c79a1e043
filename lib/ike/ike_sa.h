/*
 * An established IKE SA (after IKE_AUTH): message IDs with a window of one in each direction
 * (RFC 7296 §2.3), the retransmission cache, the INFORMATIONAL exchange (§1.4): liveness
 * checks (DPD) and Delete of the IKE SA or of Child SAs, and the CREATE_CHILD_SA exchange
 * (§1.3, create_child.c): new Child SAs, Child SA and IKE SA rekeying, and the collisions of
 * two rekeys of one SA (§2.8.1, §2.25). Sans-I/O like the rest of lib/ike.
 *
 * Fragmentation (RFC 7383), when IKE_SA_INIT negotiated it (k.peer_fragmentation): the peer's
 * requests and responses may come as Encrypted Fragment (SKF) messages, each handed to
 * ike_sa_receive() as received. Fragments are authenticated and kept, one message per
 * direction, until the last one makes the call process the message exactly as it would the
 * unfragmented one. No clock here: a partial message is not aged out after
 * IKE_FRAG_TIMEOUT_MS; it is dropped when a fragment comes while another message ID is
 * expected, when a whole message of its direction is processed, or by ike_sa_clear(); each
 * holds at most IKE_FRAG_MAX_BYTES (see ike_frag_rx_take()). Our own messages are never
 * fragmented: with PSK they are a few hundred bytes.
 */
#ifndef IKD_IKE_SA_H
#define IKD_IKE_SA_H

#include "ike/ike_auth.h"
#include "ike/sa_init.h"

#define IKE_CC_MAX_CHILDREN	10	/* Child SAs per IKE SA when the configuration says 0 */

/* What our outstanding request is (create_child.c), and the last rekey we completed. */
struct ike_cc_state;

/*
 * How we answer the peer's CREATE_CHILD_SA requests. The callbacks get the arg given to
 * ike_sa_receive(); the configuration may be shared by many IKE SAs.
 */
struct ike_cc_cfg {
	const struct ike_child_cfg *child;	/* Child SAs: ESP proposals, our selectors */
	const struct ike_pld_sa *ike_proposals;	/* IKE SA rekey (§1.3.2): protocol IKE, with DH */
	unsigned max_children;			/* NO_ADDITIONAL_SAS past; 0: the default */
	/*
	 * §1.3.1 PFS: a DH group added to each ESP proposal that names none, so a request
	 * must carry a KE of it (INVALID_KE_PAYLOAD otherwise); 0 accepts no KE.
	 */
	uint16_t pfs_group;
	/* A new inbound ESP SPI (the kernel allocates them), 0 when there is none. */
	uint32_t (*alloc_spi)(void *arg);
	/* How many Child SAs this IKE SA has now; NULL counts none. */
	unsigned (*n_children)(void *arg);
	/*
	 * Optional: put the peer's new Child SA in place (old_spi_in: the one it rekeys, or 0)
	 * before the answer is built, so that the peer is never told of a Child SA that is not
	 * there. Negative: the answer refuses it instead (TEMPORARY_FAILURE for a rekey, so the
	 * peer keeps the old SA and tries again; NO_PROPOSAL_CHOSEN for a new one), and the IKE
	 * SA stands. NULL: the caller installs after the event, as before.
	 */
	int (*install)(void *arg, const struct ike_child *c, uint32_t old_spi_in);
};

/* The Child SAs one Delete of ours names at most (a peer's may name IKE_MAX_DELETE_SPIS). */
#define IKE_SA_MAX_DELETE_OUT 16

struct ike_sa {
	struct ike_sa_keys k;		/* SPIs, role, suite, keys */
	uint32_t next_req;		/* the ID of our next request */
	uint32_t peer_next;		/* the ID the peer's next request must carry */
	struct ike_writer req;		/* it, as sent, for retransmission */
	struct ike_writer reply;	/* our answer to the peer's last request */
	bool waiting;			/* our request is outstanding */
	bool have_reply;
	/* What the outstanding request does, for the collision rules (§2.25). */
	uint8_t req_exchange;
	bool req_delete_ike;		/* it deletes this IKE SA */
	/*
	 * Set by the caller: this IKE SA is being deleted (our Delete is out, or waits for the
	 * window); the peer's CREATE_CHILD_SA requests get TEMPORARY_FAILURE (§2.25.2).
	 */
	bool closing;
	/*
	 * It deletes these Child SAs (our inbound SPIs): req_n_delete of them, allocated while
	 * such a request is out and freed when it is answered or the SA cleared, so that the
	 * many IKE SAs with no Delete out carry a pointer instead of IKE_SA_MAX_DELETE_OUT SPIs.
	 */
	uint16_t req_n_delete;
	uint32_t *req_delete;
	/* Set by the caller after ike_sa_from_init(); NULL refuses with NO_ADDITIONAL_SAS. */
	const struct ike_cc_cfg *cc_cfg;
	struct ike_cc_state *cc;	/* create_child.c's, NULL until first needed */
	/* The peer's request and response in fragments (RFC 7383), NULL unless some are held. */
	struct ike_frag_rx *frag_req, *frag_resp;
};

/*
 * Take over an IKE SA that IKE_SA_INIT and IKE_AUTH established (init is emptied: the keys
 * move, its DH, nonces and IKE_SA_INIT messages are freed). The initiator used IDs 0 and 1.
 */
void ike_sa_from_init(struct ike_sa *sa, struct ike_init *init);
/*
 * An IKE SA owns what its pointers hold (keys, cc, fragments, our Delete's SPIs): it may be
 * moved by value when the source is zeroed after, and is freed once, here.
 */
void ike_sa_clear(struct ike_sa *sa);

/* Our requests; -EBUSY while one is outstanding. out gets the message to send. */
int ike_sa_dpd_request(struct ike_sa *sa, struct ike_writer *out);
int ike_sa_delete_request(struct ike_sa *sa, struct ike_writer *out);
/* At most IKE_SA_MAX_DELETE_OUT SPIs (-EINVAL past it). */
int ike_sa_delete_child_request(struct ike_sa *sa, const uint32_t *spis_in, size_t n,
				struct ike_writer *out);

/*
 * CREATE_CHILD_SA requests (§1.3), the same window and retransmission as the others.
 * dh_group: the KE sent (PFS for a Child SA, 0 for none); it is added as the DH transform of
 * each proposal that names none, and must be among the proposals' groups (-EINVAL).
 * spi_in: our new inbound SPI, from the kernel.
 *
 * A new Child SA (§1.3.1): SK{SA, Ni, [KEi], TSi, TSr}.
 */
int ike_sa_create_child_request(struct ike_sa *sa, const struct ike_child_cfg *child,
				uint16_t dh_group, uint32_t spi_in, struct ike_writer *out);
/* Rekey the Child SA whose inbound SPI is old_spi_in (§1.3.3): N(REKEY_SA) first. */
int ike_sa_rekey_child_request(struct ike_sa *sa, const struct ike_child_cfg *child,
			       uint16_t dh_group, uint32_t spi_in, uint32_t old_spi_in,
			       struct ike_writer *out);
/* Rekey the IKE SA (§1.3.2): SK{SA, Ni, KEi}, proposals of protocol IKE with a fresh SPI. */
int ike_sa_rekey_ike_request(struct ike_sa *sa, const struct ike_pld_sa *proposals,
			     uint16_t dh_group, struct ike_writer *out);
/*
 * The window for late collisions with our last rekey (§2.8.1) has passed: free what
 * CREATE_CHILD_SA keeps between exchanges (some KiB per SA). false, keeping it, while a
 * CREATE_CHILD_SA of ours is outstanding. A later exchange starts afresh.
 */
bool ike_sa_settle(struct ike_sa *sa);

enum ike_sa_event {
	IKE_SA_EV_REPLY = 1,		/* a request was handled: out has the reply */
	IKE_SA_EV_RESENT,		/* a retransmitted request: out has the same reply again */
	IKE_SA_EV_ANSWERED,		/* our outstanding INFORMATIONAL got its response */
	IKE_SA_EV_DELETED,		/* the peer deleted the IKE SA (out has the reply) */
	/*
	 * CREATE_CHILD_SA done, by either side (rx.initiator says; when the peer's, out has
	 * the reply). The caller owns what rx holds: see ike_sa_rx_clear().
	 */
	IKE_SA_EV_CHILD_CREATED,	/* rx.child is new */
	IKE_SA_EV_CHILD_REKEYED,	/* rx.child replaces our Child SA rx.old_spi_in */
	IKE_SA_EV_IKE_REKEYED,		/* rx.new_sa replaces this IKE SA (IDs 0 both ways) */
	/*
	 * Our CREATE_CHILD_SA got no SA: rx.notify is the error the peer sent
	 * (INVALID_KE_PAYLOAD: retry with rx.notify_group; TEMPORARY_FAILURE: retry later,
	 * §2.25; CHILD_SA_NOT_FOUND: the Child SA is gone there, create it anew), or 0 for an
	 * answer we could not use (the peer may hold its half of a Child SA: delete
	 * rx.child.spi_in, §1.4.1). rx.child.spi_in is the SPI we offered, back to the kernel.
	 */
	IKE_SA_EV_CC_REFUSED,
};

/*
 * §2.8.1, §2.8.2: both peers rekeyed the same SA at once. Each exchange made a new SA; the
 * one made by the exchange holding the lowest of the four nonces is redundant and its
 * initiator deletes it, while the initiator of the other exchange deletes the old SA.
 */
enum ike_rekey_verdict {
	IKE_REKEY_ALONE = 0,	/* no collision seen: this rekey's initiator deletes the old SA */
	/*
	 * The peer's rekey (this event, we answered it) collided with ours, still outstanding:
	 * keep both new SAs; our answer's event says which stays.
	 */
	IKE_REKEY_PENDING,
	/* Collided; the SA made by OUR exchange stays: we delete the old SA, the peer its new. */
	IKE_REKEY_WON,
	/*
	 * Collided; the SA made by OUR exchange is the redundant one: we delete it (not the old
	 * SA, the peer does). In the event of our own rekey that SA is rx.child / rx.new_sa; in
	 * the event of the peer's rekey (ours completed before it came) it is the Child SA
	 * rx.ours_spi_in or the IKE SA with our SPI rx.ours_ike_spi.
	 */
	IKE_REKEY_LOST,
};

/* The nonces of one CREATE_CHILD_SA exchange: i of its initiator, r of its responder. */
struct ike_cc_nonces {
	uint8_t i[IKE_NONCE_MAX], r[IKE_NONCE_MAX];
	size_t i_len, r_len;
};

/*
 * §2.8.1: is the SA made by our exchange (ours: the one we initiated) the redundant one, its
 * smallest nonce lower than every nonce of theirs? Nonces compare octet by octet (memcmp over
 * the shorter length; a nonce that is a prefix of the other is the lower). The peer, with
 * the arguments swapped, gets the opposite answer (unless the exchanges share a nonce).
 */
bool ike_rekey_loser(const struct ike_cc_nonces *ours, const struct ike_cc_nonces *theirs);

struct ike_sa_rx {
	enum ike_sa_event event;
	uint8_t exchange;
	bool reply;			/* out holds a reply to send */
	size_t n_child_deleted;		/* Child SAs the peer deleted: their outbound SPIs */
	uint32_t child_deleted[IKE_MAX_DELETE_SPIS];
	/* CREATE_CHILD_SA */
	bool initiator;			/* the exchange was ours (an answer), not the peer's */
	uint16_t notify;		/* the error notify sent (REPLY) or received (CC_REFUSED) */
	uint16_t notify_group;		/* INVALID_KE_PAYLOAD: the group asked for */
	uint32_t old_spi_in;		/* a Child SA rekey: our inbound SPI of the old Child SA */
	struct ike_child child;		/* CHILD_CREATED, CHILD_REKEYED */
	struct ike_sa new_sa;		/* IKE_REKEYED: the caller takes it, or ike_sa_rx_clear() */
	struct ike_cc_nonces nonces;	/* of this exchange */
	enum ike_rekey_verdict verdict;	/* CHILD_REKEYED, IKE_REKEYED */
	uint32_t ours_spi_in;		/* IKE_REKEY_LOST in the peer's Child SA rekey: see there */
	uint8_t ours_ike_spi[IKE_SPI_LEN];	/* IKE_REKEY_LOST in the peer's IKE SA rekey */
};

/*
 * Wipe and free what a CREATE_CHILD_SA event left in rx (child keys, the new IKE SA). A
 * caller that keeps them moves them out first and zeroes rx's copies. Safe on any rx.
 */
void ike_sa_rx_clear(struct ike_sa_rx *rx);

/* Our inbound SPI of the Child SA whose outbound SPI is peer_spi, 0 when there is none. */
typedef uint32_t (*ike_sa_spi_map_fn)(void *arg, uint32_t peer_spi);

/*
 * A message arrived for this IKE SA. Returns 0 with rx filled, or -errno for a message to drop
 * (malformed, failed integrity, outside the window, an exchange not handled here): nothing
 * changes then. map finds the Child SAs a Delete or a REKEY_SA names; arg goes to it and to
 * sa->cc_cfg's callbacks. rx is overwritten: clear it first after a CREATE_CHILD_SA event.
 *
 * A fragment (RFC 7383) of the request or response expected now returns -EINPROGRESS: a
 * fragment was stored; the message is not complete: keep waiting, nothing else changed (it
 * is not a message dropped; rx and out are not filled). The fragment that completes the
 * message returns what the whole message would. -EALREADY: a copy of a fragment already kept,
 * or a fragment other than 1 of a retransmitted request (§2.6.1: only fragment 1 gets the
 * cached reply again, IKE_SA_EV_RESENT). Other -errno as for a whole message, and -EMSGSIZE
 * past the reassembly limits.
 *
 * The peer's CREATE_CHILD_SA is answered by sa->cc_cfg, refusals with the notify §1.3 and
 * §2.25 ask for: NO_PROPOSAL_CHOSEN, INVALID_KE_PAYLOAD (with our group), TS_UNACCEPTABLE,
 * CHILD_SA_NOT_FOUND (with the SPI of the REKEY_SA), NO_ADDITIONAL_SAS (the limit, or no
 * cc_cfg), INVALID_SYNTAX (a required payload missing, a bad KE value), TEMPORARY_FAILURE
 * (the SA is one our outstanding request deletes, our IKE SA rekey is outstanding and the
 * peer asks for a Child SA or the other way round, no SPI could be had). A rekey of an SA we
 * are rekeying ourselves is answered as usual (§2.25.1, §2.25.2): see ike_rekey_verdict.
 */
int ike_sa_receive(struct ike_sa *sa, uint8_t *msg, size_t len, ike_sa_spi_map_fn map, void *arg,
		   struct ike_writer *out, struct ike_sa_rx *rx);

/* Resend the outstanding request (a retransmission timer fired): -ENOENT if none. */
int ike_sa_retransmit(const struct ike_sa *sa, struct ike_writer *out);

#endif
