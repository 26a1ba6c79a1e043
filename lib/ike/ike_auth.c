/* IKE_AUTH with PSK and the first Child SA (see ike_auth.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "ike/fragment.h"
#include "ike/ike_auth.h"
#include "ike/proposal.h"
#include "ike/sk_msg.h"
#include "ike/ts.h"

#define AUTH_MSG_ID 1

void ike_child_clear(struct ike_child *c)
{
	crypto_child_keys_clear(&c->keys);
	sodium_memzero(c, sizeof(*c));
}

/* Our ESP proposals with our inbound SPI in each (§3.3.1). */
static void with_spi(struct ike_pld_sa *sa, const struct ike_pld_sa *cfg, uint32_t spi_in)
{
	uint32_t be = htonl(spi_in);

	*sa = *cfg;
	for (uint8_t i = 0; i < sa->n; i++) {
		sa->p[i].spi_len = 4;
		memcpy(sa->p[i].spi, &be, 4);
	}
}

/* ID payload body as it goes on the wire: what prf(SK_p, ID') covers. */
static int id_body(const struct ike_pld_id *id, struct ike_writer *w)
{
	ike_writer_init(w, 1024);
	return ike_pld_id_encode(w, id);
}

/* §2.15: the AUTH of the side that sent msg (its IKE_SA_INIT message), over the peer's nonce. */
static int auth_value(const struct ike_init *init, bool initiator, const struct secret *psk,
		      const struct ike_pld_id *id, uint8_t *out)
{
	struct ike_writer body;
	int rc = id_body(id, &body);

	rc = rc ?: crypto_psk_auth(init->suite.prf, psk,
				   initiator ? init->msg_i.buf : init->msg_r.buf,
				   initiator ? init->msg_i.len : init->msg_r.len,
				   initiator ? init->nonce_r : init->nonce_i,
				   initiator ? init->nonce_r_len : init->nonce_i_len,
				   initiator ? &init->auth_keys.sk_pi : &init->auth_keys.sk_pr,
				   body.buf, body.len, out);
	ike_writer_clear(&body);
	return rc;
}

static int add_notify(struct ike_builder *b, uint16_t type)
{
	struct ike_pld_notify n = { .type = type };

	return IKE_BUILD_PAYLOAD(b, IKE_PLD_NOTIFY, ike_pld_notify_encode(b->w, &n));
}

int ike_auth_request(const struct ike_init *init, const struct ike_pld_id *id_i,
		     const struct secret *psk, bool initial_contact,
		     const struct ike_child_cfg *child, uint32_t spi_in, struct ike_writer *out)
{
	uint8_t mac[64];
	struct ike_pld_auth auth = { .method = IKE_AUTH_SHARED_KEY_MIC, .data = mac,
				     .len = init->suite.prf->out_len };
	struct ike_pld_sa sa;
	struct ike_writer plain;
	struct ike_builder b;
	int rc = auth_value(init, true, psk, id_i, mac);

	with_spi(&sa, child->proposals, spi_in);
	ike_writer_init(&plain, IKE_MAX_MSG_LEN);
	ike_build_chain_begin(&b, &plain);
	rc = rc ?: IKE_BUILD_PAYLOAD(&b, IKE_PLD_IDI, ike_pld_id_encode(b.w, id_i));
	/* §2.4: a restarted initiator tells the peer to drop the SAs of its earlier life. */
	if (rc == 0 && initial_contact)
		rc = add_notify(&b, IKE_N_INITIAL_CONTACT);
	rc = rc ?: IKE_BUILD_PAYLOAD(&b, IKE_PLD_AUTH, ike_pld_auth_encode(b.w, &auth));
	rc = rc ?: IKE_BUILD_PAYLOAD(&b, IKE_PLD_SA, ike_pld_sa_encode(b.w, &sa));
	rc = rc ?: IKE_BUILD_PAYLOAD(&b, IKE_PLD_TSI, ike_pld_ts_encode(b.w, &child->local));
	rc = rc ?: IKE_BUILD_PAYLOAD(&b, IKE_PLD_TSR, ike_pld_ts_encode(b.w, &child->remote));
	rc = rc ?: ike_sk_seal(&init->k, IKE_EXCH_IKE_AUTH, false, AUTH_MSG_ID, &plain, b.first_type, out);
	sodium_memzero(mac, sizeof(mac));
	ike_writer_clear(&plain);
	return rc;
}

static bool is_auth(const struct ike_header *h, bool response)
{
	return h->exchange == IKE_EXCH_IKE_AUTH && h->msg_id == AUTH_MSG_ID &&
	       !!(h->flags & IKE_FLAG_RESPONSE) == response;
}

/*
 * An IKE_AUTH message from the peer, opened (§1.2: message ID 1, the expected direction).
 * Or a fragment of it (RFC 7383): kept (-EINPROGRESS) until one completes the message; then
 * *ret_reassembled is set and inner borrows init->frag_rx until the caller drops it.
 */
static int open_msg(struct ike_init *init, bool response, uint8_t *msg, size_t len,
		    struct ike_chain *inner, bool *ret_reassembled)
{
	struct ike_frag_piece pc;
	struct ike_header h;
	int rc;

	*ret_reassembled = false;
	if (!init->peer_fragmentation || !ike_frag_is_skf(msg, len, &h)) {
		rc = ike_sk_open(&init->k, msg, len, &h, inner);
	} else if (!is_auth(&h, response)) {
		/* Authenticated first, so what is refused and why is as for a whole message. */
		rc = ike_frag_open(&init->k, msg, len, &pc);
		rc = rc ?: -EPROTO;
	} else {
		rc = ike_frag_rx_take(&init->frag_rx, &init->k, response, AUTH_MSG_ID, msg, len, &h,
				      inner);
		*ret_reassembled = rc == 0;
	}
	if (rc < 0)
		return rc;
	return is_auth(&h, response) ? 0 : -EPROTO;
}

/* Check a peer's AUTH payload against the PSK (constant time). */
static int verify_auth(const struct ike_init *init, bool peer_is_initiator,
		       const struct secret *psk, const struct ike_pld_id *peer_id,
		       const struct ike_pld_auth *auth)
{
	if (auth->method != IKE_AUTH_SHARED_KEY_MIC)
		return -EACCES;
	return crypto_psk_auth_verify(init->suite.prf, psk,
				      peer_is_initiator ? init->msg_i.buf : init->msg_r.buf,
				      peer_is_initiator ? init->msg_i.len : init->msg_r.len,
				      peer_is_initiator ? init->nonce_r : init->nonce_i,
				      peer_is_initiator ? init->nonce_r_len : init->nonce_i_len,
				      peer_is_initiator ? &init->auth_keys.sk_pi :
							  &init->auth_keys.sk_pr,
				      peer_id->body, peer_id->body_len, auth->data, auth->len);
}

/* Algorithms and KEYMAT of a chosen ESP proposal (§2.17; no PFS in IKE_AUTH). */
static int child_keys(const struct ike_init *init, bool initiator, struct ike_child *c)
{
	const struct ike_transform *e = ike_proposal_get(&c->chosen, IKE_TRANSFORM_ENCR);
	const struct ike_transform *i = ike_proposal_get(&c->chosen, IKE_TRANSFORM_INTEG);
	const struct ike_transform *n = ike_proposal_get(&c->chosen, IKE_TRANSFORM_ESN);
	struct secret sk_d = crypto_ike_sk_d(&init->keys);

	if (!e)
		return -EPROTO;
	c->encr = crypto_encr_find(e->id, e->key_bits);
	c->integ = i && i->id != IKE_AUTH_NONE ? crypto_integ_find(i->id) : NULL;
	c->esn = n && n->id == IKE_ESN_YES;
	c->initiator = initiator;
	if (!c->encr || !(c->encr->use & CRYPTO_USE_CHILD) || (!c->encr->aead && !c->integ) ||
	    (c->encr->aead && c->integ))
		return -EOPNOTSUPP;
	return crypto_child_keys_derive(init->suite.prf, &sk_d, c->encr, c->integ, NULL,
					init->nonce_i, init->nonce_i_len, init->nonce_r,
					init->nonce_r_len, &c->keys);
}

static uint32_t spi_of(const struct ike_proposal *p)
{
	uint32_t be;

	memcpy(&be, p->spi, 4);
	return ntohl(be);
}

/* The type of the first error notify (§3.10.1: below 16384) in a chain, 0 without one. */
static uint16_t first_error(const struct ike_chain *c)
{
	for (const struct ike_payload *pl = ike_chain_find(c, IKE_PLD_NOTIFY, NULL); pl;
	     pl = ike_chain_find(c, IKE_PLD_NOTIFY, pl)) {
		struct ike_reader r = { .p = pl->body, .len = pl->body_len };
		struct ike_pld_notify n;

		if (ike_pld_notify_decode(&r, &n, NULL) == 0 && n.type != 0 && n.type < 16384)
			return n.type;
	}
	return 0;
}

/* The initiator's side of an opened response (ike_auth_on_response()). */
static int on_response(const struct ike_init *init, const struct secret *psk,
		       const struct ike_child_cfg *child, uint32_t spi_in,
		       const struct ike_pld_id *expect_idr, const struct ike_chain *inner,
		       struct ike_child *ret, uint16_t *ret_notify)
{
	struct ike_pld_id idr;
	struct ike_pld_auth auth;
	struct ike_pld_notify n;
	struct ike_pld_sa answer, ours;
	struct ike_pld_ts tsi, tsr, check;
	int rc;

	if (ike_chain_find_notify(inner, IKE_N_AUTHENTICATION_FAILED, &n) == 0) {
		*ret_notify = IKE_N_AUTHENTICATION_FAILED;
		return IKE_AUTH_FAILED;
	}
	/* The responder proves it knows the PSK before anything else is believed. */
	if (IKE_CHAIN_DECODE(inner, IKE_PLD_IDR, ike_pld_id_decode, &idr) < 0 ||
	    IKE_CHAIN_DECODE(inner, IKE_PLD_AUTH, ike_pld_auth_decode, &auth) < 0) {
		/*
		 * §2.21.2: an error on the responder comes back in the protected response,
		 * usually its only payload (charon's bare NO_PROPOSAL_CHOSEN when it cannot
		 * install the Child SA). No IDr and AUTH: no IKE SA; the error is the answer.
		 */
		*ret_notify = first_error(inner);
		return *ret_notify ? IKE_AUTH_FAILED : -EPROTO;
	}
	if ((expect_idr && (idr.type != expect_idr->type || idr.len != expect_idr->len ||
			    memcmp(idr.data, expect_idr->data, idr.len) != 0)) ||
	    verify_auth(init, false, psk, &idr, &auth) < 0) {
		*ret_notify = IKE_N_AUTHENTICATION_FAILED;
		return IKE_AUTH_FAILED;
	}
	*ret_notify = first_error(inner);	/* NO_PROPOSAL_CHOSEN, TS_UNACCEPTABLE, ... */
	if (*ret_notify)
		return IKE_AUTH_DONE_NO_CHILD;
	with_spi(&ours, child->proposals, spi_in);
	if (IKE_CHAIN_DECODE(inner, IKE_PLD_SA, ike_pld_sa_decode, &answer) < 0 ||
	    ike_proposal_check_answer(&answer, &ours, &ret->chosen) < 0 ||
	    ret->chosen.spi_len != 4 ||
	    IKE_CHAIN_DECODE(inner, IKE_PLD_TSI, ike_pld_ts_decode, &tsi) < 0 ||
	    IKE_CHAIN_DECODE(inner, IKE_PLD_TSR, ike_pld_ts_decode, &tsr) < 0)
		return -EPROTO;
	/* The answer may only narrow what we proposed (§2.9). */
	if (ike_ts_narrow(&tsi, &child->local, &check) < 0 || check.n != tsi.n ||
	    ike_ts_narrow(&tsr, &child->remote, &check) < 0 || check.n != tsr.n)
		return -EPROTO;
	ret->spi_in = spi_in;
	ret->spi_out = spi_of(&ret->chosen);
	ret->ts_local = tsi;
	ret->ts_remote = tsr;
	rc = child_keys(init, true, ret);
	if (rc < 0) {
		ike_child_clear(ret);
		return rc;
	}
	return IKE_AUTH_DONE;
}

int ike_auth_on_response(struct ike_init *init, const struct secret *psk,
			 const struct ike_child_cfg *child, uint32_t spi_in,
			 const struct ike_pld_id *expect_idr, uint8_t *msg, size_t len,
			 struct ike_child *ret, uint16_t *ret_notify)
{
	struct ike_chain inner;
	bool reassembled;
	int rc = open_msg(init, true, msg, len, &inner, &reassembled);

	memset(ret, 0, sizeof(*ret));
	*ret_notify = 0;
	if (rc == 0)
		rc = on_response(init, psk, child, spi_in, expect_idr, &inner, ret, ret_notify);
	/* inner borrowed the reassembled message until now. */
	if (reassembled)
		ike_frag_rx_drop(&init->frag_rx);
	return rc;
}

static int refuse(const struct ike_init *init, struct ike_writer *out)
{
	struct ike_writer plain;
	struct ike_builder b;
	int rc;

	ike_writer_init(&plain, 256);
	ike_build_chain_begin(&b, &plain);
	rc = add_notify(&b, IKE_N_AUTHENTICATION_FAILED);
	rc = rc ?: ike_sk_seal(&init->k, IKE_EXCH_IKE_AUTH, true, AUTH_MSG_ID, &plain, b.first_type, out);
	ike_writer_clear(&plain);
	return rc ?: IKE_AUTH_REFUSED;
}

/* The responder's side of an opened request (ike_auth_respond()). */
static int respond(const struct ike_init *init, ike_auth_lookup_fn lookup, void *arg,
		   uint32_t spi_in, const struct ike_chain *inner, struct ike_writer *out,
		   struct ike_child *ret, struct ike_pld_id *ret_idi, uint16_t *ret_notify)
{
	struct ike_pld_auth auth;
	struct ike_pld_id idr;
	struct ike_pld_sa offered, ours, answer = { .n = 1 };
	struct ike_pld_ts tsi, tsr;
	struct ike_auth_peer peer = { 0 };
	struct ike_writer plain;
	struct ike_builder b;
	uint8_t mac[64];
	struct ike_pld_auth our_auth = { .method = IKE_AUTH_SHARED_KEY_MIC, .data = mac,
					 .len = init->suite.prf->out_len };
	uint16_t child_err = 0;
	bool have_idr;
	int rc;

	if (IKE_CHAIN_DECODE(inner, IKE_PLD_IDI, ike_pld_id_decode, ret_idi) < 0 ||
	    IKE_CHAIN_DECODE(inner, IKE_PLD_AUTH, ike_pld_auth_decode, &auth) < 0)
		return -EPROTO;
	/* The IDr it asked for, optional: absent, or not decodable, it is no request. */
	have_idr = IKE_CHAIN_DECODE(inner, IKE_PLD_IDR, ike_pld_id_decode, &idr) == 0;
	/* Unknown identity and wrong PSK look the same to the peer (§2.21.2). */
	if (lookup(arg, ret_idi, have_idr ? &idr : NULL, &peer) < 0 ||
	    verify_auth(init, true, peer.psk, ret_idi, &auth) < 0) {
		*ret_notify = IKE_N_AUTHENTICATION_FAILED;
		return refuse(init, out);
	}
	/* The Child SA: our proposal choice and the selectors both sides allow. */
	with_spi(&ours, peer.child->proposals, spi_in);
	if (IKE_CHAIN_DECODE(inner, IKE_PLD_SA, ike_pld_sa_decode, &offered) < 0 ||
	    ike_proposal_select(&offered, &ours, &ret->chosen) < 0 || ret->chosen.spi_len != 4)
		child_err = IKE_N_NO_PROPOSAL_CHOSEN;
	else if (IKE_CHAIN_DECODE(inner, IKE_PLD_TSI, ike_pld_ts_decode, &tsi) < 0 ||
		 IKE_CHAIN_DECODE(inner, IKE_PLD_TSR, ike_pld_ts_decode, &tsr) < 0 ||
		 ike_ts_narrow(&tsi, &peer.child->remote, &ret->ts_remote) < 0 ||
		 ike_ts_narrow(&tsr, &peer.child->local, &ret->ts_local) < 0)
		child_err = IKE_N_TS_UNACCEPTABLE;
	if (!child_err) {
		ret->spi_in = spi_in;
		ret->spi_out = spi_of(&ret->chosen);
		if (child_keys(init, false, ret) < 0)
			child_err = IKE_N_NO_PROPOSAL_CHOSEN;
		else if (peer.install && peer.install(arg, ret) < 0)
			child_err = IKE_N_NO_PROPOSAL_CHOSEN;	/* not there: never announced */
	}
	rc = auth_value(init, false, peer.psk, &peer.id, mac);
	ike_writer_init(&plain, IKE_MAX_MSG_LEN);
	ike_build_chain_begin(&b, &plain);
	rc = rc ?: IKE_BUILD_PAYLOAD(&b, IKE_PLD_IDR, ike_pld_id_encode(b.w, &peer.id));
	rc = rc ?: IKE_BUILD_PAYLOAD(&b, IKE_PLD_AUTH, ike_pld_auth_encode(b.w, &our_auth));
	if (child_err) {
		rc = rc ?: add_notify(&b, child_err);
	} else {
		/* Our answer carries our inbound SPI. */
		uint32_t be = htonl(spi_in);

		answer.p[0] = ret->chosen;
		memcpy(answer.p[0].spi, &be, 4);
		rc = rc ?: IKE_BUILD_PAYLOAD(&b, IKE_PLD_SA, ike_pld_sa_encode(b.w, &answer));
		rc = rc ?: IKE_BUILD_PAYLOAD(&b, IKE_PLD_TSI, ike_pld_ts_encode(b.w, &ret->ts_remote));
		rc = rc ?: IKE_BUILD_PAYLOAD(&b, IKE_PLD_TSR, ike_pld_ts_encode(b.w, &ret->ts_local));
	}
	rc = rc ?: ike_sk_seal(&init->k, IKE_EXCH_IKE_AUTH, true, AUTH_MSG_ID, &plain, b.first_type, out);
	sodium_memzero(mac, sizeof(mac));
	ike_writer_clear(&plain);
	if (rc < 0 || child_err) {
		ike_child_clear(ret);
		*ret_notify = child_err;
		return rc < 0 ? rc : IKE_AUTH_DONE_NO_CHILD;
	}
	return IKE_AUTH_DONE;
}

int ike_auth_respond(struct ike_init *init, ike_auth_lookup_fn lookup, void *arg,
		     uint32_t spi_in, uint8_t *msg, size_t len, struct ike_writer *out,
		     struct ike_child *ret, struct ike_pld_id *ret_idi, uint16_t *ret_notify)
{
	struct ike_chain inner;
	bool reassembled;
	int rc = open_msg(init, false, msg, len, &inner, &reassembled);

	memset(ret, 0, sizeof(*ret));
	*ret_notify = 0;
	if (rc == 0)
		rc = respond(init, lookup, arg, spi_in, &inner, out, ret, ret_idi, ret_notify);
	/* inner borrowed the reassembled message until now. */
	if (reassembled)
		ike_frag_rx_drop(&init->frag_rx);
	return rc;
}
