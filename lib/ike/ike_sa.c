/*
 * An established IKE SA: message IDs, retransmission cache, INFORMATIONAL (see ike_sa.h).
 * CREATE_CHILD_SA is in create_child.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ike/create_child.h"
#include "ike/fragment.h"
#include "ike/ike_sa.h"
#include "ike/sk_msg.h"

void ike_sa_from_init(struct ike_sa *sa, struct ike_init *init)
{
	memset(sa, 0, sizeof(*sa));
	/*
	 * The keys move; what IKE_AUTH needed and an established SA does not (SK_pi and SK_pr
	 * among it) is freed with the rest of init.
	 */
	sa->k = init->k;
	sodium_memzero(&init->k, sizeof(init->k));
	ike_init_clear(init);
	sa->next_req = sa->k.initiator ? 2 : 0;
	sa->peer_next = sa->k.initiator ? 0 : 2;
	ike_writer_init(&sa->req, IKE_MAX_MSG_LEN);
	ike_writer_init(&sa->reply, IKE_MAX_MSG_LEN);
}

/* The Child SAs our request deletes: done with once it is answered, replaced or cleared. */
static void req_delete_drop(struct ike_sa *sa)
{
	free(sa->req_delete);
	sa->req_delete = NULL;
	sa->req_n_delete = 0;
}

void ike_sa_clear(struct ike_sa *sa)
{
	ike_cc_free(sa);
	req_delete_drop(sa);
	ike_frag_rx_free(sa->frag_req);
	ike_frag_rx_free(sa->frag_resp);
	crypto_ike_keys_clear(&sa->k.keys);
	ike_writer_clear(&sa->req);
	ike_writer_clear(&sa->reply);
	sodium_memzero(sa, sizeof(*sa));
}

static int copy_into(struct ike_writer *dst, const struct ike_writer *src)
{
	dst->len = 0;
	return ike_writer_bytes(dst, src->buf, src->len);
}

int ike_sa_send_request(struct ike_sa *sa, uint8_t exchange, const struct ike_writer *plain,
			uint8_t first, struct ike_writer *out)
{
	int rc;

	if (sa->waiting)
		return -EBUSY;
	rc = ike_sk_seal(&sa->k, exchange, false, sa->next_req, plain, first, out);
	rc = rc ?: copy_into(&sa->req, out);
	if (rc < 0)
		return rc;
	sa->waiting = true;
	sa->next_req++;
	sa->req_exchange = exchange;
	sa->req_delete_ike = false;
	req_delete_drop(sa);
	return 0;
}

static int send_request(struct ike_sa *sa, const struct ike_writer *plain, uint8_t first,
			struct ike_writer *out)
{
	return ike_sa_send_request(sa, IKE_EXCH_INFORMATIONAL, plain, first, out);
}

int ike_sa_dpd_request(struct ike_sa *sa, struct ike_writer *out)
{
	/* §1.4: an empty INFORMATIONAL request is the liveness check. */
	struct ike_writer plain = { 0 };

	return send_request(sa, &plain, IKE_PLD_NONE, out);
}

static int delete_request(struct ike_sa *sa, const struct ike_pld_delete *d, struct ike_writer *out)
{
	struct ike_writer plain;
	struct ike_builder b;
	int rc;

	ike_writer_init(&plain, 1024);
	ike_build_chain_begin(&b, &plain);
	rc = IKE_BUILD_PAYLOAD(&b, IKE_PLD_DELETE, ike_pld_delete_encode(&plain, d));
	rc = rc ?: send_request(sa, &plain, b.first_type, out);
	ike_writer_clear(&plain);
	return rc;
}

int ike_sa_delete_request(struct ike_sa *sa, struct ike_writer *out)
{
	struct ike_pld_delete d = { .protocol = IKE_PROTO_IKE };
	int rc = delete_request(sa, &d, out);

	if (rc == 0)
		sa->req_delete_ike = true;
	return rc;
}

int ike_sa_delete_child_request(struct ike_sa *sa, const uint32_t *spis_in, size_t n,
				struct ike_writer *out)
{
	uint8_t spis[4 * IKE_SA_MAX_DELETE_OUT];
	struct ike_pld_delete d = { .protocol = IKE_PROTO_ESP, .spi_len = 4, .spis = spis };
	uint32_t *keep;
	int rc;

	if (n == 0 || n > IKE_SA_MAX_DELETE_OUT)
		return -EINVAL;
	/* Before anything is sent: without the list, no request (the SA stays as it was). */
	keep = malloc(n * sizeof(*keep));
	if (!keep)
		return -ENOMEM;
	memcpy(keep, spis_in, n * sizeof(*keep));
	for (size_t i = 0; i < n; i++) {
		uint32_t be = htonl(spis_in[i]);

		memcpy(spis + 4 * i, &be, 4);
	}
	d.n_spis = (uint16_t)n;
	rc = delete_request(sa, &d, out);
	if (rc < 0) {
		free(keep);
		return rc;
	}
	sa->req_delete = keep;
	sa->req_n_delete = (uint16_t)n;
	return 0;
}

int ike_sa_retransmit(const struct ike_sa *sa, struct ike_writer *out)
{
	if (!sa->waiting)
		return -ENOENT;
	return copy_into(out, &sa->req);
}

/* §1.4.1: answer a Delete of Child SAs with a Delete of ours (their other halves). */
static int handle_info_request(struct ike_sa *sa, const struct ike_chain *inner,
			       ike_sa_spi_map_fn map, void *arg, struct ike_writer *plain,
			       uint8_t *ret_first, struct ike_sa_rx *rx)
{
	uint8_t ours[4 * IKE_MAX_DELETE_SPIS];
	size_t n_ours = 0;
	struct ike_builder b;
	int rc = 0;

	ike_build_chain_begin(&b, plain);
	rx->event = IKE_SA_EV_REPLY;
	for (const struct ike_payload *pl = ike_chain_find(inner, IKE_PLD_DELETE, NULL); pl;
	     pl = ike_chain_find(inner, IKE_PLD_DELETE, pl)) {
		struct ike_reader r = { .p = pl->body, .len = pl->body_len };
		struct ike_pld_delete d;

		if (ike_pld_delete_decode(&r, &d, NULL) < 0)
			return -EBADMSG;
		if (d.protocol == IKE_PROTO_IKE) {
			/* §1.4.1: the reply to an IKE SA Delete is empty; the SA is gone. */
			rx->event = IKE_SA_EV_DELETED;
			rx->n_child_deleted = 0;
			n_ours = 0;
			break;
		}
		for (uint16_t i = 0; i < d.n_spis && rx->n_child_deleted < IKE_MAX_DELETE_SPIS; i++) {
			uint32_t be, peer, mine;

			memcpy(&be, d.spis + 4 * i, 4);
			peer = ntohl(be);
			mine = map ? map(arg, peer) : 0;
			if (!mine)
				continue;	/* already gone: nothing to delete or to answer */
			rx->child_deleted[rx->n_child_deleted++] = peer;
			be = htonl(mine);
			memcpy(ours + 4 * n_ours++, &be, 4);
		}
	}
	if (n_ours) {
		struct ike_pld_delete reply = { .protocol = IKE_PROTO_ESP, .spi_len = 4,
						.n_spis = (uint16_t)n_ours, .spis = ours };

		rc = IKE_BUILD_PAYLOAD(&b, IKE_PLD_DELETE, ike_pld_delete_encode(plain, &reply));
	}
	*ret_first = n_ours ? b.first_type : IKE_PLD_NONE;
	return rc;
}

void ike_sa_rx_clear(struct ike_sa_rx *rx)
{
	ike_child_clear(&rx->child);
	ike_sa_clear(&rx->new_sa);
	sodium_memzero(rx, sizeof(*rx));
}

/* §2.3: the request we answered last again: the same reply, processed once. */
static int resend(struct ike_sa *sa, struct ike_writer *out, struct ike_sa_rx *rx)
{
	int rc = copy_into(out, &sa->reply);

	if (rc == 0) {
		rx->event = IKE_SA_EV_RESENT;
		rx->reply = true;
	}
	return rc;
}

/* A message from the peer, opened (whole or reassembled): the window, then the exchange. */
static int process(struct ike_sa *sa, const struct ike_header *h, const struct ike_chain *inner,
		   ike_sa_spi_map_fn map, void *arg, struct ike_writer *out, struct ike_sa_rx *rx)
{
	struct ike_writer plain;
	uint8_t first = IKE_PLD_NONE;
	int rc;

	rx->exchange = h->exchange;
	if (h->flags & IKE_FLAG_RESPONSE) {
		if (!sa->waiting || h->msg_id != sa->next_req - 1 || h->exchange != sa->req_exchange)
			return -EPROTO;	/* not the answer to our outstanding request */
		sa->waiting = false;
		sa->req_delete_ike = false;
		req_delete_drop(sa);
		if (h->exchange == IKE_EXCH_CREATE_CHILD_SA)
			ike_cc_on_response(sa, inner, rx);
		else
			rx->event = IKE_SA_EV_ANSWERED;
		return 0;
	}
	if (sa->have_reply && h->msg_id == sa->peer_next - 1)
		return resend(sa, out, rx);
	if (h->msg_id != sa->peer_next)
		return -EPROTO;
	if (h->exchange != IKE_EXCH_INFORMATIONAL && h->exchange != IKE_EXCH_CREATE_CHILD_SA)
		return -EOPNOTSUPP;
	ike_writer_init(&plain, IKE_MAX_MSG_LEN);
	if (h->exchange == IKE_EXCH_INFORMATIONAL)
		rc = handle_info_request(sa, inner, map, arg, &plain, &first, rx);
	else
		rc = ike_cc_respond(sa, inner, map, arg, &plain, &first, rx);
	rc = rc ?: ike_sk_seal(&sa->k, h->exchange, true, h->msg_id, &plain, first, out);
	rc = rc ?: copy_into(&sa->reply, out);
	ike_writer_clear(&plain);
	if (rc < 0) {
		ike_sa_rx_clear(rx);
		return rc;
	}
	if (h->exchange == IKE_EXCH_CREATE_CHILD_SA)
		ike_cc_replied(sa, rx);
	rx->reply = true;
	sa->have_reply = true;
	sa->peer_next++;
	return 0;
}

/*
 * A fragment that cannot be part of the message expected: authenticated first, so what is
 * dropped and with which -errno is as for the whole message (-EACCES for a forgery).
 */
static int refuse_fragment(const struct ike_sa *sa, uint8_t *msg, size_t len, int why)
{
	struct ike_frag_piece pc;
	int rc = ike_frag_open(&sa->k, msg, len, &pc);

	return rc < 0 ? rc : why;
}

/*
 * RFC 7383 §2.6.1: a fragment of the request we answered last is a retransmission; only its
 * fragment 1, verified, gets the cached reply again, the others are ignored.
 */
static int resend_on_fragment(struct ike_sa *sa, uint8_t *msg, size_t len,
			      struct ike_writer *out, struct ike_sa_rx *rx)
{
	struct ike_frag_piece pc;
	int rc = ike_frag_open(&sa->k, msg, len, &pc);

	if (rc < 0)
		return rc;
	if (pc.skf.frag_num != 1)
		return -EALREADY;
	rx->exchange = pc.hdr.exchange;
	return resend(sa, out, rx);
}

/*
 * A fragment (h: its header, not yet authenticated). The window is checked on it before it
 * is kept, as process() checks a whole message, and again on the reassembled message.
 */
static int receive_fragment(struct ike_sa *sa, const struct ike_header *h, uint8_t *msg,
			    size_t len, ike_sa_spi_map_fn map, void *arg, struct ike_writer *out,
			    struct ike_sa_rx *rx)
{
	bool response = h->flags & IKE_FLAG_RESPONSE;
	struct ike_frag_rx **frx = response ? &sa->frag_resp : &sa->frag_req;
	struct ike_header whole;
	struct ike_chain inner;
	int rc;

	if (response) {
		if (!sa->waiting || h->msg_id != sa->next_req - 1 || h->exchange != sa->req_exchange)
			return refuse_fragment(sa, msg, len, -EPROTO);
	} else if (sa->have_reply && h->msg_id == sa->peer_next - 1) {
		return resend_on_fragment(sa, msg, len, out, rx);
	} else if (h->msg_id != sa->peer_next) {
		return refuse_fragment(sa, msg, len, -EPROTO);
	} else if (h->exchange != IKE_EXCH_INFORMATIONAL &&
		   h->exchange != IKE_EXCH_CREATE_CHILD_SA) {
		return refuse_fragment(sa, msg, len, -EOPNOTSUPP);
	}
	rc = ike_frag_rx_take(frx, &sa->k, response, h->msg_id, msg, len, &whole, &inner);
	if (rc < 0)
		return rc;
	rc = process(sa, &whole, &inner, map, arg, out, rx);
	/* inner borrowed the reassembled message until now; processed or not, it is spent. */
	ike_frag_rx_drop(frx);
	return rc;
}

int ike_sa_receive(struct ike_sa *sa, uint8_t *msg, size_t len, ike_sa_spi_map_fn map, void *arg,
		   struct ike_writer *out, struct ike_sa_rx *rx)
{
	struct ike_header h;
	struct ike_chain inner;
	int rc;

	memset(rx, 0, sizeof(*rx));
	if (sa->k.peer_fragmentation && ike_frag_is_skf(msg, len, &h))
		return receive_fragment(sa, &h, msg, len, map, arg, out, rx);
	/* Integrity first: nothing unauthenticated moves a window or triggers a resend. */
	rc = ike_sk_open(&sa->k, msg, len, &h, &inner);
	if (rc < 0)
		return rc;
	rc = process(sa, &h, &inner, map, arg, out, rx);
	/* Processed whole: a partial message of its direction and ID can never be completed. */
	if (rc == 0 && rx->event != IKE_SA_EV_RESENT)
		ike_frag_rx_drop((h.flags & IKE_FLAG_RESPONSE) ? &sa->frag_resp : &sa->frag_req);
	return rc;
}
