/*
 * IKEv2 message fragmentation (RFC 7383), sans-I/O: split the inner payload chain of an SK
 * message of an IKE SA into Encrypted Fragment (SKF) messages, each protected on its own
 * (§2.5), and reassemble the peer's fragments, each authenticated before it is kept (§2.6).
 *
 * Whether to fragment is the caller's call: only when the peer sent
 * IKEV2_FRAGMENTATION_SUPPORTED (struct ike_init's peer_fragmentation, §2.3) and only when
 * the unfragmented message would not fit (ike_frag_needed(), §2.4). IKE_SA_INIT is never
 * fragmented (§2.4): these functions take the exchanges that ike_sk_seal()/ike_sk_open() do.
 */
#ifndef IKD_IKE_FRAGMENT_H
#define IKD_IKE_FRAGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ike/sa_init.h"

/* §2.5.1: IP datagrams of fragments no larger than these, unless the PMTU is known. */
#define IKE_FRAG_DGRAM_IPV4	576
#define IKE_FRAG_DGRAM_IPV6	1280

/* What one message may be split into and what reassembly may hold (§5: bound the memory). */
#define IKE_FRAG_MAX_FRAGMENTS	64
#define IKE_FRAG_MAX_BYTES	(64 * 1024)	/* decrypted inner payloads of one message */
#define IKE_FRAG_TIMEOUT_MS	30000		/* default age limit of a partial message */

/*
 * The largest IKE message (IKE header to ICV) that fits an IP datagram of dgram_len bytes:
 * less the IP header (20 or 40 bytes without options), UDP (8) and, on a NAT-T socket
 * (port 4500), the 4-byte non-ESP marker the caller puts before the message (RFC 3948 §2.2).
 * 0 when nothing fits.
 */
size_t ike_frag_max_msg_len(size_t dgram_len, bool ipv6, bool non_esp_marker);

/*
 * The length of the unfragmented SK message carrying plain_len bytes of inner payloads
 * (SIZE_MAX past IKE_MAX_MSG_LEN or without a negotiated suite).
 */
size_t ike_frag_sk_msg_len(const struct ike_sa_keys *sa, size_t plain_len);

/*
 * §2.4: does an SK message with plain_len bytes of inner payloads exceed max_msg_len (as from
 * ike_frag_max_msg_len())? Only then is it fragmented, and only if the peer supports it.
 */
bool ike_frag_needed(const struct ike_sa_keys *sa, size_t plain_len, size_t max_msg_len);

/*
 * A fragmented message to send: fragment i (from 0, Fragment Number i + 1) is
 * buf.buf[off[i] .. off[i + 1]). Keep it whole for retransmission: all fragments are resent.
 */
struct ike_frags {
	uint16_t n;
	size_t off[IKE_FRAG_MAX_FRAGMENTS + 1];
	struct ike_writer buf;
};

void ike_frags_init(struct ike_frags *f);
void ike_frags_clear(struct ike_frags *f);	/* frees the buffer; NULL-safe */
/* Fragment i (from 0) and its length; NULL past the end. */
const uint8_t *ike_frags_get(const struct ike_frags *f, uint16_t i, size_t *ret_len);

/*
 * §2.5: seal the inner payload chain plain (first payload first_type) of a message with the
 * same inputs as ike_sk_seal() into as few SKF messages of at most max_msg_len bytes each as
 * it takes; each gets its own IV, padding and ICV, Fragment Number 1..N, Total Fragments N,
 * and only fragment 1 names the first inner payload (the others carry 0). An empty chain
 * gives one fragment. out is replaced. -EINVAL when max_msg_len leaves no room for data or
 * for IKE_SA_INIT, -EMSGSIZE when it would take more than IKE_FRAG_MAX_FRAGMENTS fragments.
 */
int ike_frag_seal(const struct ike_sa_keys *sa, uint8_t exchange, bool response, uint32_t msg_id,
		  const struct ike_writer *plain, uint8_t first_type, size_t max_msg_len,
		  struct ike_frags *out);

/* One fragment from the peer, verified and decrypted. */
struct ike_frag_piece {
	struct ike_header hdr;
	struct ike_pld_skf skf;
	uint8_t inner_type;		/* SKF's next payload: meaningful in fragment 1 only */
	const uint8_t *plain;		/* inside the message, decrypted in place */
	size_t plain_len;
};

/*
 * Decode msg, check it is an SKF message of this IKE SA from the peer (SPIs, the I flag, an
 * exchange with SK, SKF the only payload), verify and decrypt it in place (§2.6).
 * -EBADMSG malformed, -EPROTO not ours or not a fragment, -EACCES integrity check failed.
 * For the daemon's retransmission check (§2.6.1: a retransmitted request is answered only on
 * its fragment 1) as well as for reassembly.
 */
int ike_frag_open(const struct ike_sa_keys *sa, uint8_t *msg, size_t len,
		  struct ike_frag_piece *ret);

struct ike_frag_limits {
	uint16_t max_fragments;		/* a larger Total Fragments is refused */
	size_t max_bytes;		/* decrypted bytes held; <= IKE_FRAG_MAX_BYTES */
	uint32_t timeout_ms;		/* from the first fragment kept */
};

/*
 * Reassembly of the peer's requests or of its responses: one per IKE SA and direction, each
 * holding one message ID at a time (the window is one, RFC 7296 §2.3). Kept fragments are
 * heap copies of the decrypted data, wiped when freed.
 */
struct ike_frag_rx {
	bool response;			/* takes responses (R set), else requests */
	struct ike_frag_limits lim;
	bool active;			/* holds fragments of msg_id */
	bool complete;
	uint32_t msg_id;
	uint8_t exchange;
	uint16_t total;			/* Total Fragments of the kept fragments */
	uint16_t received;
	size_t bytes;
	uint64_t deadline_ms;
	struct ike_header first_hdr;	/* fragment 1's */
	uint8_t first_type;		/* the first inner payload, from fragment 1 */
	bool have[IKE_FRAG_MAX_FRAGMENTS];	/* by Fragment Number - 1 */
	uint8_t *part[IKE_FRAG_MAX_FRAGMENTS];	/* NULL for an empty one */
	uint32_t part_len[IKE_FRAG_MAX_FRAGMENTS];
	struct ike_writer plain;	/* the reassembled chain, once complete */
};

/*
 * lim NULL: IKE_FRAG_MAX_FRAGMENTS, IKE_FRAG_MAX_BYTES, IKE_FRAG_TIMEOUT_MS. A field of 0 takes
 * its default; fragments and bytes above those maxima are capped to them.
 */
void ike_frag_rx_init(struct ike_frag_rx *rx, bool response, const struct ike_frag_limits *lim);
/* Drop what is held (wiped), keep the direction and limits. */
void ike_frag_rx_reset(struct ike_frag_rx *rx);
/* ike_frag_rx_reset() and wipe everything; NULL-safe. */
void ike_frag_rx_clear(struct ike_frag_rx *rx);

enum ike_frag_status {
	IKE_FRAG_STORED = 1,	/* kept; more are needed */
	IKE_FRAG_RESTARTED,	/* §2.6: a larger Total Fragments: the kept ones were dropped */
	IKE_FRAG_DUPLICATE,	/* that Fragment Number is already kept: dropped unopened */
	IKE_FRAG_COMPLETE,	/* the message is whole: ike_frag_rx_message() / _chain() */
};

/*
 * A datagram whose IKE header names SKF arrived for this IKE SA; msg_id is the ID the caller
 * expects in this direction now (the peer's next request, or the response to our outstanding
 * request). A partial message of another ID is dropped first (the window moved), as is one
 * past its deadline at now_ms. Nothing is kept before the fragment is authenticated (§2.6).
 * Returns an ike_frag_status, or, the fragment dropped and the state unchanged unless said:
 *   -EBADMSG   malformed;
 *   -EPROTO    not ours, the wrong direction, another exchange than the kept fragments, a
 *              smaller Total Fragments than theirs (§2.6);
 *   -ESTALE    another message ID than msg_id;
 *   -EACCES    integrity check failed;
 *   -EALREADY  the message is already complete (take it, then reset);
 *   -EMSGSIZE  Total Fragments above max_fragments; or, after authentication, the message
 *              would pass max_bytes: then all of it is dropped (it could never complete);
 *   -ENOMEM    (what was kept stays, unless a restart dropped it).
 */
int ike_frag_rx_add(struct ike_frag_rx *rx, const struct ike_sa_keys *sa, uint32_t msg_id,
		    uint8_t *msg, size_t len, uint64_t now_ms);

/* The deadline of a partial message (for the caller's timer), 0 when none is held. */
uint64_t ike_frag_rx_deadline_ms(const struct ike_frag_rx *rx);
/* Drop a partial message whose deadline is past at now_ms: true when one was dropped. */
bool ike_frag_rx_expire(struct ike_frag_rx *rx, uint64_t now_ms);

/* A reassembled message: borrowed from rx until it is reset. */
struct ike_frag_msg {
	struct ike_header hdr;		/* fragment 1's: SPIs, exchange, flags, message ID */
	uint8_t first_type;		/* the first inner payload */
	const uint8_t *plain;		/* the inner payload chain */
	size_t plain_len;
};

/* The reassembled message; -EINPROGRESS until ike_frag_rx_add() returned IKE_FRAG_COMPLETE. */
int ike_frag_rx_message(const struct ike_frag_rx *rx, struct ike_frag_msg *ret);

/*
 * The reassembled message decoded as ike_sk_open() would return it: the header and the inner
 * payload chain (borrowing rx), checked against the exchange's table. -EINPROGRESS, or
 * -EBADMSG / -ENOPROTOOPT / -EMSGSIZE from ike_chain_decode(), -EPROTO for a payload the
 * exchange may not carry.
 */
int ike_frag_rx_chain(const struct ike_frag_rx *rx, struct ike_header *ret_hdr,
		      struct ike_chain *inner);

/*
 * For the exchanges (ike_auth.c, ike_sa.c), which take each datagram whole and reassemble
 * the peer's fragmented messages themselves. Their reassembly state is allocated when a
 * fragment is to be kept and freed as soon as it holds nothing, so an IKE SA whose peer
 * never fragments holds no memory for it.
 */

/* Does msg's IKE header name SKF as the first payload? ret_hdr gets it, not authenticated. */
bool ike_frag_is_skf(const uint8_t *msg, size_t len, struct ike_header *ret_hdr);

/* A reassembly with the default limits (ike_frag_rx_init()); NULL without memory. */
struct ike_frag_rx *ike_frag_rx_new(bool response);
/* ike_frag_rx_clear() and free; NULL-safe. */
void ike_frag_rx_free(struct ike_frag_rx *rx);
/* Free *rxp, whatever it holds, and set it NULL: a partial message is dropped. */
void ike_frag_rx_drop(struct ike_frag_rx **rxp);

/*
 * One fragment of the message expected in this direction now (msg_id), kept in *rxp, which
 * is allocated for the first fragment kept and freed whenever it holds nothing again.
 *
 * No clock: the exchanges' signatures carry no time, so fragments do not age out here
 * (IKE_FRAG_TIMEOUT_MS is not applied). A partial message lives until it completes, until a
 * fragment arrives while another message ID is expected (the window moved on: it is dropped
 * first), or until the owner (struct ike_init or struct ike_sa) is cleared; its memory is
 * bounded by IKE_FRAG_MAX_FRAGMENTS and IKE_FRAG_MAX_BYTES, one message per direction.
 *
 * Returns 0 when this fragment completed the message: ret_hdr (fragment 1's) and inner are
 * what ike_sk_open() gives for the unfragmented message, borrowing *rxp until the caller is
 * done and calls ike_frag_rx_drop(). Otherwise, nothing else changed:
 *   -EINPROGRESS  the fragment was authenticated and kept; more are needed (a larger
 *                 Total Fragments replaced the fragments kept before, §2.6);
 *   -EALREADY     a copy of a fragment already kept: dropped unopened;
 *   -errno        of ike_frag_rx_add() (the fragment dropped; see there for the two cases
 *                 that drop the partial message too), or of ike_frag_rx_chain() (the
 *                 reassembled message is malformed or carries a payload its exchange may
 *                 not: it is dropped whole, as the unfragmented message would be).
 */
int ike_frag_rx_take(struct ike_frag_rx **rxp, const struct ike_sa_keys *sa, bool response,
		     uint32_t msg_id, uint8_t *msg, size_t len, struct ike_header *ret_hdr,
		     struct ike_chain *inner);

#endif
