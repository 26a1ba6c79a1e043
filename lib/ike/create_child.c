/*
 * The CREATE_CHILD_SA exchange of an established IKE SA, both roles (RFC 7296 §1.3, §2.8,
 * §2.17, §2.18, §2.25): new Child SAs, Child SA and IKE SA rekeying (see ike_sa.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto/dh.h"
#include "ike/create_child.h"
#include "ike/proposal.h"
#include "ike/ts.h"

#define NONCE_LEN 32	/* §2.10: at least half the PRF key size; 32 covers SHA-512 */

enum cc_kind {
	CC_NONE,
	CC_CHILD,
	CC_REKEY_CHILD,
	CC_REKEY_IKE,
};

/* Our outstanding request: what the answer is checked against. */
struct cc_req {
	enum cc_kind kind;		/* CC_NONE: no CREATE_CHILD_SA of ours is outstanding */
	struct ike_pld_sa offered;	/* as sent: our SPI in each proposal */
	struct ike_pld_ts ts_local, ts_remote;
	uint32_t spi_in, old_spi_in;
	uint8_t ike_spi[IKE_SPI_LEN];	/* IKE SA rekey: our SPI of the new IKE SA */
	struct crypto_dh *dh;		/* NULL without KE */
	uint8_t nonce[NONCE_LEN];
	/* §2.8.1: we answered the peer's rekey of the same SA while this was outstanding. */
	bool collided;
	struct ike_cc_nonces peer;
};

/*
 * Our last rekey that completed with no collision seen: the peer's request to rekey the same
 * SA, sent before ours reached it and arriving after our answer, still collides (§2.8.1).
 */
struct cc_done {
	enum cc_kind kind;		/* CC_NONE: nothing to remember */
	uint32_t old_spi_in, new_spi_in;
	uint8_t ike_spi[IKE_SPI_LEN];
	struct ike_cc_nonces nonces;
};

struct ike_cc_state {
	struct cc_req req;
	struct cc_done done;
};

/* A refusal: the notify and what it carries. */
struct cc_err {
	uint16_t type;
	uint16_t group;			/* INVALID_KE_PAYLOAD */
	bool has_spi;			/* CHILD_SA_NOT_FOUND: the SPI of the REKEY_SA */
	uint8_t spi[4];
};

/* What the responder answers with besides rx. */
struct cc_reply {
	struct ike_proposal chosen;	/* our SPI in it */
	struct crypto_dh *dh;
};

static void req_reset(struct cc_req *q)
{
	crypto_dh_free(q->dh);
	sodium_memzero(q, sizeof(*q));
}

void ike_cc_free(struct ike_sa *sa)
{
	if (!sa->cc)
		return;
	req_reset(&sa->cc->req);
	sodium_memzero(sa->cc, sizeof(*sa->cc));
	free(sa->cc);
	sa->cc = NULL;
}

bool ike_sa_settle(struct ike_sa *sa)
{
	if (sa->cc && sa->cc->req.kind != CC_NONE)
		return false;
	ike_cc_free(sa);
	return true;
}

static int cc_state(struct ike_sa *sa)
{
	if (!sa->cc)
		sa->cc = calloc(1, sizeof(*sa->cc));
	return sa->cc ? 0 : -ENOMEM;
}

/* The kind of our outstanding CREATE_CHILD_SA, CC_NONE when there is none. */
static enum cc_kind outstanding(const struct ike_sa *sa)
{
	return sa->waiting && sa->req_exchange == IKE_EXCH_CREATE_CHILD_SA && sa->cc ?
	       sa->cc->req.kind : CC_NONE;
}

/* Nonces compare octet by octet; at the end of one, it is the lower (§2.8.1). */
static int nonce_cmp(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
	int c = memcmp(a, b, a_len < b_len ? a_len : b_len);

	if (c)
		return c;
	return a_len < b_len ? -1 : a_len > b_len;
}

/* The lower nonce of an exchange. */
static void lowest(const struct ike_cc_nonces *n, const uint8_t **ret, size_t *ret_len)
{
	bool r = nonce_cmp(n->r, n->r_len, n->i, n->i_len) < 0;

	*ret = r ? n->r : n->i;
	*ret_len = r ? n->r_len : n->i_len;
}

bool ike_rekey_loser(const struct ike_cc_nonces *ours, const struct ike_cc_nonces *theirs)
{
	const uint8_t *a, *b;
	size_t a_len, b_len;

	lowest(ours, &a, &a_len);
	lowest(theirs, &b, &b_len);
	return nonce_cmp(a, a_len, b, b_len) < 0;
}

static uint32_t spi_of(const struct ike_proposal *p)
{
	uint32_t be;

	memcpy(&be, p->spi, 4);
	return ntohl(be);
}

static void random_spi(uint8_t spi[IKE_SPI_LEN])
{
	do
		randombytes_buf(spi, IKE_SPI_LEN);
	while (sodium_is_zero(spi, IKE_SPI_LEN));
}

/*
 * Proposals as offered or accepted: spi in each (§3.3.1), and a DH transform of group added
 * to each proposal that names none (§1.3.1: PFS for a Child SA).
 */
static void proposals_of(struct ike_pld_sa *sa, const struct ike_pld_sa *cfg, const uint8_t *spi,
			 uint8_t spi_len, uint16_t group)
{
	*sa = *cfg;
	for (uint8_t i = 0; i < sa->n; i++) {
		struct ike_proposal *p = &sa->p[i];

		p->spi_len = spi_len;
		if (spi_len)
			memcpy(p->spi, spi, spi_len);
		if (group && !ike_proposal_get(p, IKE_TRANSFORM_DH) &&
		    p->n_transforms < IKE_MAX_TRANSFORMS)
			p->t[p->n_transforms++] = (struct ike_transform){ .type = IKE_TRANSFORM_DH,
									  .id = group };
	}
}

/* Does any proposal name group as its DH transform (any real group for IKE_DH_NONE)? */
static bool group_offered(const struct ike_pld_sa *sa, uint16_t group)
{
	for (uint8_t i = 0; i < sa->n; i++)
		for (uint8_t j = 0; j < sa->p[i].n_transforms; j++) {
			const struct ike_transform *t = &sa->p[i].t[j];

			if (t->type == IKE_TRANSFORM_DH &&
			    (group ? t->id == group : t->id != IKE_DH_NONE))
				return true;
		}
	return false;
}

/* The DH group of a chosen proposal, IKE_DH_NONE without one. */
static uint16_t group_of(const struct ike_proposal *p)
{
	const struct ike_transform *t = ike_proposal_get(p, IKE_TRANSFORM_DH);

	return t ? t->id : IKE_DH_NONE;
}

static int add_notify(struct ike_builder *b, const struct ike_pld_notify *n)
{
	return IKE_BUILD_PAYLOAD(b, IKE_PLD_NOTIFY, ike_pld_notify_encode(b->w, n));
}

static int add_ke(struct ike_builder *b, const struct crypto_dh *dh)
{
	struct ike_pld_ke ke = { .group = crypto_dh_group_of(dh)->id, .data = crypto_dh_public(dh),
				 .len = crypto_dh_group_of(dh)->pub_len };

	return IKE_BUILD_PAYLOAD(b, IKE_PLD_KE, ike_pld_ke_encode(b->w, &ke));
}

/* The first error notify (type < 16384) of a chain, 0 for none. */
static uint16_t error_notify(const struct ike_chain *c, struct ike_pld_notify *ret)
{
	for (const struct ike_payload *pl = ike_chain_find(c, IKE_PLD_NOTIFY, NULL); pl;
	     pl = ike_chain_find(c, IKE_PLD_NOTIFY, pl)) {
		struct ike_reader r = { .p = pl->body, .len = pl->body_len };

		if (ike_pld_notify_decode(&r, ret, NULL) == 0 && ret->type < 16384)
			return ret->type;
	}
	return 0;
}

/* Algorithms and KEYMAT of a chosen ESP proposal (§2.17), g^ir (new) with PFS. */
static int child_keys(const struct ike_sa *sa, const struct secret *shared,
		      const struct ike_cc_nonces *n, bool initiator, struct ike_child *c)
{
	const struct ike_transform *e = ike_proposal_get(&c->chosen, IKE_TRANSFORM_ENCR);
	const struct ike_transform *i = ike_proposal_get(&c->chosen, IKE_TRANSFORM_INTEG);
	const struct ike_transform *esn = ike_proposal_get(&c->chosen, IKE_TRANSFORM_ESN);
	struct secret sk_d = crypto_ike_sk_d(&sa->k.keys);

	if (!e)
		return -EPROTO;
	c->encr = crypto_encr_find(e->id, e->key_bits);
	c->integ = i && i->id != IKE_AUTH_NONE ? crypto_integ_find(i->id) : NULL;
	c->esn = esn && esn->id == IKE_ESN_YES;
	c->initiator = initiator;
	if (!c->encr || !(c->encr->use & CRYPTO_USE_CHILD) || (!c->encr->aead && !c->integ) ||
	    (c->encr->aead && c->integ))
		return -EOPNOTSUPP;
	return crypto_child_keys_derive(sa->k.suite.prf, &sk_d, c->encr, c->integ, shared, n->i,
					n->i_len, n->r, n->r_len, &c->keys);
}

int ike_cc_rekey_keys(const struct crypto_prf *old_prf, const struct secret *old_sk_d,
		      const struct crypto_suite *suite, const struct secret *shared,
		      const uint8_t *nonce_i, size_t nonce_i_len,
		      const uint8_t *nonce_r, size_t nonce_r_len,
		      const uint8_t spi_i[IKE_SPI_LEN], const uint8_t spi_r[IKE_SPI_LEN],
		      struct crypto_ike_keys *ret)
{
	const struct crypto_prf *prf = suite->prf;
	size_t integ_len = suite->integ ? suite->integ->key_len : 0;
	size_t encr_len = suite->encr->key_bits / 8 + suite->encr->salt_len;
	/* Up to SK_er: SK_pi and SK_pr are for IKE_AUTH, which a rekeyed IKE SA never does. */
	size_t total = prf->out_len + 2 * integ_len + 2 * encr_len;
	struct crypto_buf seed[4] = {
		{ nonce_i, nonce_i_len }, { nonce_r, nonce_r_len }, { spi_i, IKE_SPI_LEN },
		{ spi_r, IKE_SPI_LEN },
	};
	struct secret skeyseed = { 0 }, km = { 0 };
	int rc;

	memset(ret, 0, sizeof(*ret));
	/* The rekey belongs to the old IKE SA: its PRF makes SKEYSEED (§2.18). */
	rc = crypto_ike_skeyseed(old_prf, shared, nonce_i, nonce_i_len, nonce_r, nonce_r_len,
				 old_sk_d, &skeyseed);
	rc = rc ?: secret_alloc(&km, total);
	rc = rc ?: crypto_prf_plus(prf, skeyseed.p, skeyseed.len, seed, 4, km.p, total);
	rc = rc ?: crypto_ike_keys_cut(km.p, prf->out_len, integ_len, encr_len, ret, NULL);
	secret_clear(&skeyseed);
	secret_clear(&km);
	return rc;
}

/*
 * The IKE SA a rekey makes (§1.3.2, §2.18): the initiator of the rekey is its original
 * initiator (§3.1, the I flag), message IDs start at 0 both ways.
 */
static int new_ike_sa(const struct ike_sa *old, bool initiator, const uint8_t *spi_i,
		      const uint8_t *spi_r, const struct ike_proposal *chosen,
		      const struct secret *shared, const struct ike_cc_nonces *n,
		      struct ike_sa *ret)
{
	const struct ike_transform *e = ike_proposal_get(chosen, IKE_TRANSFORM_ENCR);
	const struct ike_transform *p = ike_proposal_get(chosen, IKE_TRANSFORM_PRF);
	const struct ike_transform *i = ike_proposal_get(chosen, IKE_TRANSFORM_INTEG);
	struct secret old_sk_d = crypto_ike_sk_d(&old->k.keys);
	struct ike_sa_keys *k = &ret->k;
	int rc;

	memset(ret, 0, sizeof(*ret));
	ike_writer_init(&ret->req, IKE_MAX_MSG_LEN);
	ike_writer_init(&ret->reply, IKE_MAX_MSG_LEN);
	ret->cc_cfg = old->cc_cfg;
	if (!e || !p)
		return -EPROTO;
	k->initiator = initiator;
	memcpy(k->spi_i, spi_i, IKE_SPI_LEN);
	memcpy(k->spi_r, spi_r, IKE_SPI_LEN);
	k->group = group_of(chosen);
	k->peer_fragmentation = old->k.peer_fragmentation;
	k->nat_local = old->k.nat_local;
	k->nat_remote = old->k.nat_remote;
	rc = crypto_suite_init(&k->suite, e->id, e->key_bits, p->id, i ? i->id : IKE_AUTH_NONE,
			       k->group);
	if (rc == 0 && !(k->suite.encr->use & CRYPTO_USE_IKE))
		rc = -EOPNOTSUPP;
	rc = rc ?: ike_cc_rekey_keys(old->k.suite.prf, &old_sk_d, &k->suite, shared, n->i,
				     n->i_len, n->r, n->r_len, spi_i, spi_r, &k->keys);
	if (rc < 0)
		ike_sa_clear(ret);
	return rc;
}

/* --- Initiator ------------------------------------------------------------------------ */

/* Build and send the request q describes; on failure nothing is outstanding. */
static int send_cc(struct ike_sa *sa, struct cc_req *q, uint16_t group, struct ike_writer *out)
{
	struct ike_pld_nonce ni = { .data = q->nonce, .len = NONCE_LEN };
	struct ike_writer plain;
	struct ike_builder b;
	int rc = 0;

	randombytes_buf(q->nonce, NONCE_LEN);
	if (group)
		rc = crypto_dh_new(group, &q->dh);
	ike_writer_init(&plain, IKE_MAX_MSG_LEN);
	ike_build_chain_begin(&b, &plain);
	if (rc == 0 && q->kind == CC_REKEY_CHILD) {
		/* §1.3.3: the SA being rekeyed, by our inbound SPI. */
		struct ike_pld_notify n = { .protocol = IKE_PROTO_ESP, .spi_len = 4,
					    .type = IKE_N_REKEY_SA };
		uint32_t be = htonl(q->old_spi_in);

		memcpy(n.spi, &be, 4);
		rc = add_notify(&b, &n);
	}
	rc = rc ?: IKE_BUILD_PAYLOAD(&b, IKE_PLD_SA, ike_pld_sa_encode(b.w, &q->offered));
	rc = rc ?: IKE_BUILD_PAYLOAD(&b, IKE_PLD_NONCE, ike_pld_nonce_encode(b.w, &ni));
	if (rc == 0 && q->dh)
		rc = add_ke(&b, q->dh);
	if (rc == 0 && q->kind != CC_REKEY_IKE) {
		rc = IKE_BUILD_PAYLOAD(&b, IKE_PLD_TSI, ike_pld_ts_encode(b.w, &q->ts_local));
		rc = rc ?: IKE_BUILD_PAYLOAD(&b, IKE_PLD_TSR,
					     ike_pld_ts_encode(b.w, &q->ts_remote));
	}
	rc = rc ?: ike_sa_send_request(sa, IKE_EXCH_CREATE_CHILD_SA, &plain, b.first_type, out);
	ike_writer_clear(&plain);
	if (rc < 0)
		req_reset(q);
	return rc;
}

static int child_request(struct ike_sa *sa, enum cc_kind kind, const struct ike_child_cfg *child,
			 uint16_t group, uint32_t spi_in, uint32_t old_spi_in,
			 struct ike_writer *out)
{
	uint32_t be = htonl(spi_in);
	struct cc_req *q;
	int rc;

	if (sa->waiting)
		return -EBUSY;
	if (!spi_in || (kind == CC_REKEY_CHILD && !old_spi_in))
		return -EINVAL;
	rc = cc_state(sa);
	if (rc < 0)
		return rc;
	q = &sa->cc->req;
	req_reset(q);
	proposals_of(&q->offered, child->proposals, (const uint8_t *)&be, 4, group);
	/* KE and DH transforms go together (§1.3.1). */
	if (group ? !group_offered(&q->offered, group) : group_offered(&q->offered, IKE_DH_NONE))
		return -EINVAL;
	q->kind = kind;
	q->ts_local = child->local;
	q->ts_remote = child->remote;
	q->spi_in = spi_in;
	q->old_spi_in = old_spi_in;
	return send_cc(sa, q, group, out);
}

int ike_sa_create_child_request(struct ike_sa *sa, const struct ike_child_cfg *child,
				uint16_t dh_group, uint32_t spi_in, struct ike_writer *out)
{
	return child_request(sa, CC_CHILD, child, dh_group, spi_in, 0, out);
}

int ike_sa_rekey_child_request(struct ike_sa *sa, const struct ike_child_cfg *child,
			       uint16_t dh_group, uint32_t spi_in, uint32_t old_spi_in,
			       struct ike_writer *out)
{
	return child_request(sa, CC_REKEY_CHILD, child, dh_group, spi_in, old_spi_in, out);
}

int ike_sa_rekey_ike_request(struct ike_sa *sa, const struct ike_pld_sa *proposals,
			     uint16_t dh_group, struct ike_writer *out)
{
	struct cc_req *q;
	int rc;

	if (sa->waiting)
		return -EBUSY;
	/* §2.18: an IKE SA rekey always makes a new Diffie-Hellman exchange. */
	if (!dh_group || !group_offered(proposals, dh_group))
		return -EINVAL;
	rc = cc_state(sa);
	if (rc < 0)
		return rc;
	q = &sa->cc->req;
	req_reset(q);
	q->kind = CC_REKEY_IKE;
	random_spi(q->ike_spi);
	proposals_of(&q->offered, proposals, q->ike_spi, IKE_SPI_LEN, 0);
	return send_cc(sa, q, dh_group, out);
}

/* g^ir from the peer's KE, which must be of the group of our DH. */
static int peer_shared(const struct ike_chain *inner, const struct crypto_dh *dh,
		       struct secret *ret)
{
	struct ike_pld_ke ke;

	if (IKE_CHAIN_DECODE(inner, IKE_PLD_KE, ike_pld_ke_decode, &ke) < 0 ||
	    ke.group != crypto_dh_group_of(dh)->id)
		return -EPROTO;
	return crypto_dh_derive(dh, ke.data, ke.len, ret);
}

static int nonce_r(const struct ike_chain *inner, struct ike_cc_nonces *n)
{
	struct ike_pld_nonce nr;

	if (IKE_CHAIN_DECODE(inner, IKE_PLD_NONCE, ike_pld_nonce_decode, &nr) < 0)
		return -EPROTO;
	memcpy(n->r, nr.data, nr.len);
	n->r_len = nr.len;
	return 0;
}

/* The answer to our Child SA request: one of our proposals, selectors we allow (§2.9). */
static int child_answer(struct ike_sa *sa, const struct cc_req *q, const struct ike_chain *inner,
			struct ike_sa_rx *rx)
{
	struct ike_child *c = &rx->child;
	struct ike_pld_sa answer;
	struct ike_pld_ts tsi, tsr, check;
	struct secret shared = { 0 };
	uint16_t group;
	int rc;

	if (IKE_CHAIN_DECODE(inner, IKE_PLD_SA, ike_pld_sa_decode, &answer) < 0 ||
	    ike_proposal_check_answer(&answer, &q->offered, &c->chosen) < 0 ||
	    c->chosen.spi_len != 4 || nonce_r(inner, &rx->nonces) < 0 ||
	    IKE_CHAIN_DECODE(inner, IKE_PLD_TSI, ike_pld_ts_decode, &tsi) < 0 ||
	    IKE_CHAIN_DECODE(inner, IKE_PLD_TSR, ike_pld_ts_decode, &tsr) < 0)
		return -EPROTO;
	if (ike_ts_narrow(&tsi, &q->ts_local, &check) < 0 || check.n != tsi.n ||
	    ike_ts_narrow(&tsr, &q->ts_remote, &check) < 0 || check.n != tsr.n)
		return -EPROTO;
	/* With PFS the group chosen is the one of our KE (INVALID_KE_PAYLOAD otherwise). */
	group = group_of(&c->chosen);
	if (group != IKE_DH_NONE && (!q->dh || group != crypto_dh_group_of(q->dh)->id))
		return -EPROTO;
	c->spi_out = spi_of(&c->chosen);
	c->ts_local = tsi;
	c->ts_remote = tsr;
	rc = group != IKE_DH_NONE ? peer_shared(inner, q->dh, &shared) : 0;
	rc = rc ?: child_keys(sa, shared.p ? &shared : NULL, &rx->nonces, true, c);
	secret_clear(&shared);
	if (rc < 0)
		return rc;
	rx->event = q->kind == CC_CHILD ? IKE_SA_EV_CHILD_CREATED : IKE_SA_EV_CHILD_REKEYED;
	return 0;
}

static int ike_answer(struct ike_sa *sa, const struct cc_req *q, const struct ike_chain *inner,
		      struct ike_sa_rx *rx)
{
	struct ike_proposal chosen;
	struct ike_pld_sa answer;
	struct secret shared = { 0 };
	int rc;

	if (IKE_CHAIN_DECODE(inner, IKE_PLD_SA, ike_pld_sa_decode, &answer) < 0 ||
	    ike_proposal_check_answer(&answer, &q->offered, &chosen) < 0 ||
	    chosen.spi_len != IKE_SPI_LEN || sodium_is_zero(chosen.spi, IKE_SPI_LEN) ||
	    group_of(&chosen) != crypto_dh_group_of(q->dh)->id || nonce_r(inner, &rx->nonces) < 0)
		return -EPROTO;
	rc = peer_shared(inner, q->dh, &shared);
	rc = rc ?: new_ike_sa(sa, true, q->ike_spi, chosen.spi, &chosen, &shared, &rx->nonces,
			      &rx->new_sa);
	secret_clear(&shared);
	if (rc < 0)
		return rc;
	rx->event = IKE_SA_EV_IKE_REKEYED;
	return 0;
}

void ike_cc_on_response(struct ike_sa *sa, const struct ike_chain *inner, struct ike_sa_rx *rx)
{
	struct cc_req *q = &sa->cc->req;
	struct ike_pld_notify n;
	int rc;

	rx->initiator = true;
	rx->old_spi_in = q->old_spi_in;
	rx->child.spi_in = q->spi_in;
	memcpy(rx->nonces.i, q->nonce, NONCE_LEN);
	rx->nonces.i_len = NONCE_LEN;
	rx->notify = error_notify(inner, &n);
	if (rx->notify) {
		rx->event = IKE_SA_EV_CC_REFUSED;
		if (rx->notify == IKE_N_INVALID_KE_PAYLOAD &&
		    ike_notify_invalid_ke_group(&n, &rx->notify_group) < 0)
			rx->notify_group = 0;
		goto out;
	}
	if (q->kind == CC_REKEY_IKE)
		rc = ike_answer(sa, q, inner, rx);
	else
		rc = child_answer(sa, q, inner, rx);
	if (rc < 0) {
		ike_child_clear(&rx->child);
		ike_sa_clear(&rx->new_sa);
		rx->child.spi_in = q->spi_in;
		rx->event = IKE_SA_EV_CC_REFUSED;
		goto out;
	}
	if (q->kind == CC_CHILD)
		goto out;
	if (q->collided) {
		rx->verdict = ike_rekey_loser(&rx->nonces, &q->peer) ? IKE_REKEY_LOST :
								      IKE_REKEY_WON;
		sa->cc->done.kind = CC_NONE;
	} else {
		struct cc_done *d = &sa->cc->done;

		d->kind = q->kind;
		d->old_spi_in = q->old_spi_in;
		d->new_spi_in = q->spi_in;
		memcpy(d->ike_spi, q->ike_spi, IKE_SPI_LEN);
		d->nonces = rx->nonces;
	}
out:
	req_reset(q);
}

/* --- Responder ------------------------------------------------------------------------ */

/* Is a Child SA of ours (by inbound SPI) one our outstanding request deletes? */
static bool deleting(const struct ike_sa *sa, uint32_t spi_in)
{
	if (!sa->waiting || sa->req_exchange != IKE_EXCH_INFORMATIONAL)
		return false;
	for (uint16_t i = 0; i < sa->req_n_delete; i++)
		if (sa->req_delete[i] == spi_in)
			return true;
	return false;
}

/* Our DH of group and g^ir with the peer's KE: -EINVAL for a bad KE value. */
static int our_shared(const struct ike_chain *inner, uint16_t group, struct cc_reply *a,
		      struct secret *ret)
{
	int rc = crypto_dh_new(group, &a->dh);

	return rc ?: peer_shared(inner, a->dh, ret);
}

/* Is the peer's KE of the group chosen? Else INVALID_KE_PAYLOAD asks for it (§1.3). */
static bool ke_matches(const struct ike_chain *inner, uint16_t group, struct cc_err *err)
{
	struct ike_pld_ke ke;

	if (IKE_CHAIN_DECODE(inner, IKE_PLD_KE, ike_pld_ke_decode, &ke) == 0 && ke.group == group)
		return true;
	err->type = IKE_N_INVALID_KE_PAYLOAD;
	err->group = group;
	return false;
}

/* A Child SA, new or a rekey (§1.3.1, §1.3.3). 0, or -errno with err->type to refuse with. */
static int respond_child(struct ike_sa *sa, const struct ike_chain *inner,
			 const struct ike_pld_sa *offered, ike_sa_spi_map_fn map, void *arg,
			 struct cc_reply *a, struct cc_err *err, struct ike_sa_rx *rx)
{
	const struct ike_cc_cfg *cfg = sa->cc_cfg;
	unsigned max = cfg->max_children ? cfg->max_children : IKE_CC_MAX_CHILDREN;
	struct ike_child *c = &rx->child;
	struct ike_pld_notify n;
	struct ike_pld_sa ours;
	struct ike_pld_ts tsi, tsr;
	struct secret shared = { 0 };
	bool rekey = ike_chain_find_notify(inner, IKE_N_REKEY_SA, &n) == 0;
	enum cc_kind mine = outstanding(sa);
	uint16_t group;
	int rc;

	if (IKE_CHAIN_DECODE(inner, IKE_PLD_TSI, ike_pld_ts_decode, &tsi) < 0 ||
	    IKE_CHAIN_DECODE(inner, IKE_PLD_TSR, ike_pld_ts_decode, &tsr) < 0 ||
	    (rekey && n.spi_len != 4)) {
		err->type = IKE_N_INVALID_SYNTAX;
		return -EPROTO;
	}
	/* §2.25: our rekey of this IKE SA is the temporary condition; no Child SA on it now. */
	if (mine == CC_REKEY_IKE) {
		err->type = IKE_N_TEMPORARY_FAILURE;
		return -EAGAIN;
	}
	if (rekey) {
		uint32_t be;

		memcpy(&be, n.spi, 4);
		rx->old_spi_in = n.protocol == IKE_PROTO_ESP && map ? map(arg, ntohl(be)) : 0;
		/* §2.25: CHILD_SA_NOT_FOUND carries the SPI of the REKEY_SA. */
		if (!rx->old_spi_in) {
			err->type = IKE_N_CHILD_SA_NOT_FOUND;
			err->has_spi = true;
			memcpy(err->spi, n.spi, 4);
			return -ENOENT;
		}
		/* §2.25.1: we are deleting it. */
		if (deleting(sa, rx->old_spi_in)) {
			err->type = IKE_N_TEMPORARY_FAILURE;
			return -EAGAIN;
		}
	} else if (!cfg->child || (cfg->n_children ? cfg->n_children(arg) : 0) >= max) {
		err->type = IKE_N_NO_ADDITIONAL_SAS;
		return -ENOSPC;
	}
	if (!cfg->child) {
		err->type = IKE_N_NO_PROPOSAL_CHOSEN;
		return -ENOENT;
	}
	proposals_of(&ours, cfg->child->proposals, NULL, 0, cfg->pfs_group);
	if (ike_proposal_select(offered, &ours, &c->chosen) < 0 || c->chosen.spi_len != 4 ||
	    c->chosen.protocol != IKE_PROTO_ESP) {
		err->type = IKE_N_NO_PROPOSAL_CHOSEN;
		return -ENOENT;
	}
	group = group_of(&c->chosen);
	if (group != IKE_DH_NONE && !ke_matches(inner, group, err))
		return -EPROTO;
	if (ike_ts_narrow(&tsi, &cfg->child->remote, &c->ts_remote) < 0 ||
	    ike_ts_narrow(&tsr, &cfg->child->local, &c->ts_local) < 0) {
		err->type = IKE_N_TS_UNACCEPTABLE;
		return -ENOENT;
	}
	c->spi_out = spi_of(&c->chosen);
	rc = group != IKE_DH_NONE ? our_shared(inner, group, a, &shared) : 0;
	rc = rc ?: child_keys(sa, shared.p ? &shared : NULL, &rx->nonces, false, c);
	secret_clear(&shared);
	if (rc == -EINVAL) {
		err->type = IKE_N_INVALID_SYNTAX;	/* a KE value off the group (RFC 6989) */
		return rc;
	}
	if (rc == -EOPNOTSUPP) {
		err->type = IKE_N_NO_PROPOSAL_CHOSEN;	/* configured, but not for ESP */
		return rc;
	}
	if (rc < 0)
		return rc;
	/* The SPI last: the kernel's are not spent on a refusal. */
	c->spi_in = cfg->alloc_spi ? cfg->alloc_spi(arg) : 0;
	if (!c->spi_in) {
		err->type = IKE_N_TEMPORARY_FAILURE;
		return -EAGAIN;
	}
	if (cfg->install && cfg->install(arg, c, rekey ? rx->old_spi_in : 0) < 0) {
		err->type = rekey ? IKE_N_TEMPORARY_FAILURE : IKE_N_NO_PROPOSAL_CHOSEN;
		return -EIO;
	}
	a->chosen = c->chosen;
	{
		uint32_t be = htonl(c->spi_in);

		memcpy(a->chosen.spi, &be, 4);
	}
	rx->event = rekey ? IKE_SA_EV_CHILD_REKEYED : IKE_SA_EV_CHILD_CREATED;
	if (!rekey)
		return 0;
	/* §2.8.1: a rekey of the SA we are rekeying, or rekeyed just now. */
	if (mine == CC_REKEY_CHILD && sa->cc->req.old_spi_in == rx->old_spi_in) {
		rx->verdict = IKE_REKEY_PENDING;
	} else if (sa->cc && sa->cc->done.kind == CC_REKEY_CHILD &&
		   sa->cc->done.old_spi_in == rx->old_spi_in) {
		rx->verdict = ike_rekey_loser(&sa->cc->done.nonces, &rx->nonces) ? IKE_REKEY_LOST :
										     IKE_REKEY_WON;
		rx->ours_spi_in = sa->cc->done.new_spi_in;
	}
	return 0;
}

/* The IKE SA (§1.3.2). 0, or -errno with err->type to refuse with. */
static int respond_ike(struct ike_sa *sa, const struct ike_chain *inner,
		       const struct ike_pld_sa *offered, struct cc_reply *a, struct cc_err *err,
		       struct ike_sa_rx *rx)
{
	const struct ike_cc_cfg *cfg = sa->cc_cfg;
	enum cc_kind mine = outstanding(sa);
	uint8_t spi_r[IKE_SPI_LEN];
	struct secret shared = { 0 };
	uint16_t group;
	int rc;

	/* §2.25: not while a Child SA of ours is being made on this IKE SA (a temporary state). */
	if (mine == CC_CHILD || mine == CC_REKEY_CHILD) {
		err->type = IKE_N_TEMPORARY_FAILURE;
		return -EAGAIN;
	}
	if (!cfg->ike_proposals ||
	    ike_proposal_select(offered, cfg->ike_proposals, &a->chosen) < 0 ||
	    a->chosen.spi_len != IKE_SPI_LEN || sodium_is_zero(a->chosen.spi, IKE_SPI_LEN) ||
	    group_of(&a->chosen) == IKE_DH_NONE) {
		err->type = IKE_N_NO_PROPOSAL_CHOSEN;
		return -ENOENT;
	}
	group = group_of(&a->chosen);
	if (!ke_matches(inner, group, err))
		return -EPROTO;
	random_spi(spi_r);
	rc = our_shared(inner, group, a, &shared);
	rc = rc ?: new_ike_sa(sa, false, a->chosen.spi, spi_r, &a->chosen, &shared, &rx->nonces,
			      &rx->new_sa);
	secret_clear(&shared);
	if (rc == -EINVAL) {
		err->type = IKE_N_INVALID_SYNTAX;
		return rc;
	}
	if (rc == -EOPNOTSUPP) {
		err->type = IKE_N_NO_PROPOSAL_CHOSEN;
		return rc;
	}
	if (rc < 0)
		return rc;
	memcpy(a->chosen.spi, spi_r, IKE_SPI_LEN);
	rx->event = IKE_SA_EV_IKE_REKEYED;
	/* §2.8.2: a rekey of this IKE SA while we rekey it, or after ours completed. */
	if (mine == CC_REKEY_IKE) {
		rx->verdict = IKE_REKEY_PENDING;
	} else if (sa->cc && sa->cc->done.kind == CC_REKEY_IKE) {
		rx->verdict = ike_rekey_loser(&sa->cc->done.nonces, &rx->nonces) ? IKE_REKEY_LOST :
										     IKE_REKEY_WON;
		memcpy(rx->ours_ike_spi, sa->cc->done.ike_spi, IKE_SPI_LEN);
	}
	return 0;
}

static int build_refusal(const struct cc_err *err, struct ike_builder *b)
{
	uint8_t g[2] = { (uint8_t)(err->group >> 8), (uint8_t)err->group };
	struct ike_pld_notify n = { .type = err->type };

	if (err->type == IKE_N_INVALID_KE_PAYLOAD) {
		n.data = g;
		n.len = 2;
	}
	if (err->has_spi) {
		n.protocol = IKE_PROTO_ESP;
		n.spi_len = 4;
		memcpy(n.spi, err->spi, 4);
	}
	return add_notify(b, &n);
}

static int build_answer(const struct ike_sa_rx *rx, const struct cc_reply *a,
			struct ike_builder *b)
{
	struct ike_pld_sa answer = { .n = 1 };
	struct ike_pld_nonce nr = { .data = rx->nonces.r, .len = rx->nonces.r_len };
	int rc;

	answer.p[0] = a->chosen;
	rc = IKE_BUILD_PAYLOAD(b, IKE_PLD_SA, ike_pld_sa_encode(b->w, &answer));
	rc = rc ?: IKE_BUILD_PAYLOAD(b, IKE_PLD_NONCE, ike_pld_nonce_encode(b->w, &nr));
	if (rc == 0 && a->dh)
		rc = add_ke(b, a->dh);
	if (rc == 0 && rx->event != IKE_SA_EV_IKE_REKEYED) {
		const struct ike_child *c = &rx->child;

		rc = IKE_BUILD_PAYLOAD(b, IKE_PLD_TSI, ike_pld_ts_encode(b->w, &c->ts_remote));
		rc = rc ?: IKE_BUILD_PAYLOAD(b, IKE_PLD_TSR, ike_pld_ts_encode(b->w, &c->ts_local));
	}
	return rc;
}

int ike_cc_respond(struct ike_sa *sa, const struct ike_chain *inner, ike_sa_spi_map_fn map,
		   void *arg, struct ike_writer *plain, uint8_t *ret_first, struct ike_sa_rx *rx)
{
	struct ike_pld_sa offered;
	struct ike_pld_nonce ni;
	struct cc_reply a = { 0 };
	struct cc_err err = { 0 };
	struct ike_builder b;
	int rc = 0;

	ike_build_chain_begin(&b, plain);
	rx->event = IKE_SA_EV_REPLY;
	if (!sa->cc_cfg) {
		/* §1.3: what a minimal implementation answers. */
		err.type = IKE_N_NO_ADDITIONAL_SAS;
	} else if (IKE_CHAIN_DECODE(inner, IKE_PLD_SA, ike_pld_sa_decode, &offered) < 0 ||
		   IKE_CHAIN_DECODE(inner, IKE_PLD_NONCE, ike_pld_nonce_decode, &ni) < 0 ||
		   offered.n == 0) {
		err.type = IKE_N_INVALID_SYNTAX;
	} else if ((sa->waiting && sa->req_delete_ike) || sa->closing) {
		/* §2.25.2: we are closing this IKE SA (for a Child SA as for its rekey). */
		err.type = IKE_N_TEMPORARY_FAILURE;
	} else {
		memcpy(rx->nonces.i, ni.data, ni.len);
		rx->nonces.i_len = ni.len;
		rx->nonces.r_len = NONCE_LEN;
		randombytes_buf(rx->nonces.r, NONCE_LEN);
		if (offered.p[0].protocol == IKE_PROTO_IKE)
			rc = respond_ike(sa, inner, &offered, &a, &err, rx);
		else
			rc = respond_child(sa, inner, &offered, map, arg, &a, &err, rx);
		if (rc < 0 && !err.type)
			goto out;	/* ours, not the request's: drop, the peer retransmits */
	}
	if (err.type) {
		ike_child_clear(&rx->child);
		ike_sa_clear(&rx->new_sa);
		rx->event = IKE_SA_EV_REPLY;
		rx->verdict = IKE_REKEY_ALONE;
		rx->notify = err.type;
		rx->notify_group = err.group;
		rc = build_refusal(&err, &b);
	} else {
		rc = build_answer(rx, &a, &b);
	}
	*ret_first = b.first_type;
out:
	crypto_dh_free(a.dh);
	return rc;
}

void ike_cc_replied(struct ike_sa *sa, const struct ike_sa_rx *rx)
{
	if (rx->verdict == IKE_REKEY_PENDING) {
		sa->cc->req.collided = true;
		sa->cc->req.peer = rx->nonces;
	} else if (rx->verdict != IKE_REKEY_ALONE) {
		sa->cc->done.kind = CC_NONE;	/* the collision is decided */
	}
}
