/* The IKE_SA_INIT exchange, both roles (see sa_init.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto/hash.h"
#include "ike/fragment.h"
#include "ike/proposal.h"
#include "ike/sa_init.h"

#define NONCE_LEN 32	/* at least half the PRF key size (§2.10); 32 covers SHA-512 */

static const uint8_t zero_spi[IKE_SPI_LEN];

void ike_init_clear(struct ike_init *st)
{
	crypto_dh_free(st->dh);
	crypto_ike_keys_clear(&st->keys);
	crypto_ike_auth_keys_clear(&st->auth_keys);
	ike_writer_clear(&st->msg_i);
	ike_writer_clear(&st->msg_r);
	ike_frag_rx_free(st->frag_rx);
	sodium_memzero(st, sizeof(*st));
}

static void random_spi(uint8_t spi[IKE_SPI_LEN])
{
	do
		randombytes_buf(spi, IKE_SPI_LEN);
	while (sodium_is_zero(spi, IKE_SPI_LEN));
}

static int add_notify(struct ike_builder *b, uint16_t type, const uint8_t *data, size_t len)
{
	struct ike_pld_notify n = { .type = type, .data = data, .len = len };

	return IKE_BUILD_PAYLOAD(b, IKE_PLD_NOTIFY, ike_pld_notify_encode(b->w, &n));
}

static int add_nat_notifies(struct ike_builder *b, const uint8_t *spi_i, const uint8_t *spi_r,
			    const struct ike_endpoint *local, const struct ike_endpoint *remote)
{
	uint8_t src[CRYPTO_NAT_HASH_LEN], dst[CRYPTO_NAT_HASH_LEN];
	int rc = crypto_nat_hash(spi_i, spi_r, local->addr, local->addr_len, local->port, src);

	rc = rc ?: crypto_nat_hash(spi_i, spi_r, remote->addr, remote->addr_len, remote->port, dst);
	rc = rc ?: add_notify(b, IKE_N_NAT_DETECTION_SOURCE_IP, src, sizeof(src));
	return rc ?: add_notify(b, IKE_N_NAT_DETECTION_DESTINATION_IP, dst, sizeof(dst));
}

/* A copy of a message as sent, kept for IKE_AUTH (§2.15 signs it). */
static int keep(struct ike_writer *dst, const uint8_t *msg, size_t len)
{
	ike_writer_clear(dst);
	ike_writer_init(dst, IKE_MAX_MSG_LEN);
	return ike_writer_bytes(dst, msg, len);
}

static int build_request(struct ike_init *st, const struct ike_init_cfg *cfg,
			 const struct ike_endpoint *local, const struct ike_endpoint *remote,
			 struct ike_writer *out)
{
	struct ike_header h = { .major = IKE_VERSION_MAJOR, .exchange = IKE_EXCH_IKE_SA_INIT,
				.flags = IKE_FLAG_INITIATOR };
	struct ike_pld_ke ke = { .group = st->group, .data = crypto_dh_public(st->dh),
				 .len = crypto_dh_group_of(st->dh)->pub_len };
	struct ike_pld_nonce nonce = { .data = st->nonce_i, .len = st->nonce_i_len };
	struct ike_builder b;
	int rc;

	memcpy(h.spi_i, st->spi_i, IKE_SPI_LEN);
	out->len = 0;
	rc = ike_build_begin(&b, out, &h);
	/* §2.6: the cookie is the first payload of the retried request. */
	if (rc == 0 && st->cookie_len)
		rc = add_notify(&b, IKE_N_COOKIE, st->cookie, st->cookie_len);
	rc = rc ?: IKE_BUILD_PAYLOAD(&b, IKE_PLD_SA, ike_pld_sa_encode(out, cfg->proposals));
	rc = rc ?: IKE_BUILD_PAYLOAD(&b, IKE_PLD_KE, ike_pld_ke_encode(out, &ke));
	rc = rc ?: IKE_BUILD_PAYLOAD(&b, IKE_PLD_NONCE, ike_pld_nonce_encode(out, &nonce));
	rc = rc ?: add_nat_notifies(&b, st->spi_i, zero_spi, local, remote);
	if (rc == 0 && cfg->fragmentation)
		rc = add_notify(&b, IKE_N_IKEV2_FRAGMENTATION_SUPPORTED, NULL, 0);
	rc = rc ?: ike_build_finish(&b);
	return rc ?: keep(&st->msg_i, out->buf, out->len);
}

static bool group_offered(const struct ike_pld_sa *sa, uint16_t group)
{
	for (uint8_t i = 0; i < sa->n; i++)
		for (uint8_t j = 0; j < sa->p[i].n_transforms; j++)
			if (sa->p[i].t[j].type == IKE_TRANSFORM_DH && sa->p[i].t[j].id == group)
				return true;
	return false;
}

static int new_dh(struct ike_init *st, uint16_t group)
{
	crypto_dh_free(st->dh);
	st->dh = NULL;
	st->group = group;
	return crypto_dh_new(group, &st->dh);
}

int ike_init_start(struct ike_init *st, const struct ike_init_cfg *cfg,
		   const struct ike_endpoint *local, const struct ike_endpoint *remote,
		   struct ike_writer *out)
{
	int rc;

	memset(st, 0, sizeof(*st));
	st->initiator = true;
	if (!group_offered(cfg->proposals, cfg->dh_group))
		return -EINVAL;
	random_spi(st->spi_i);
	st->nonce_i_len = NONCE_LEN;
	randombytes_buf(st->nonce_i, NONCE_LEN);
	rc = new_dh(st, cfg->dh_group);
	return rc ?: build_request(st, cfg, local, remote, out);
}

/* §2.23: compare the peer's hashes with what we see; any SOURCE match means no NAT there. */
static int read_nat(struct ike_init *st, const struct ike_chain *c,
		    const struct ike_endpoint *local, const struct ike_endpoint *remote)
{
	uint8_t want_src[CRYPTO_NAT_HASH_LEN], want_dst[CRYPTO_NAT_HASH_LEN];
	bool any_src = false, src_match = false, any_dst = false, dst_match = false;
	int rc;

	rc = crypto_nat_hash(st->spi_i, st->initiator ? st->spi_r : zero_spi, remote->addr,
			     remote->addr_len, remote->port, want_src);
	rc = rc ?: crypto_nat_hash(st->spi_i, st->initiator ? st->spi_r : zero_spi, local->addr,
				   local->addr_len, local->port, want_dst);
	if (rc < 0)
		return rc;
	for (const struct ike_payload *pl = ike_chain_find(c, IKE_PLD_NOTIFY, NULL); pl;
	     pl = ike_chain_find(c, IKE_PLD_NOTIFY, pl)) {
		struct ike_reader r = { .p = pl->body, .len = pl->body_len };
		struct ike_pld_notify n;
		const uint8_t *hash;

		if (ike_pld_notify_decode(&r, &n, NULL) < 0 || ike_notify_nat_hash(&n, &hash) < 0)
			continue;
		if (n.type == IKE_N_NAT_DETECTION_SOURCE_IP) {
			any_src = true;
			src_match |= secret_equal(hash, want_src, CRYPTO_NAT_HASH_LEN);
		} else {
			any_dst = true;
			dst_match |= secret_equal(hash, want_dst, CRYPTO_NAT_HASH_LEN);
		}
	}
	st->nat_remote = any_src && !src_match;
	st->nat_local = any_dst && !dst_match;
	return 0;
}

/* The chosen proposal as the suite the keys are made for. */
static int suite_of(struct ike_init *st)
{
	const struct ike_transform *e = ike_proposal_get(&st->chosen, IKE_TRANSFORM_ENCR);
	const struct ike_transform *p = ike_proposal_get(&st->chosen, IKE_TRANSFORM_PRF);
	const struct ike_transform *i = ike_proposal_get(&st->chosen, IKE_TRANSFORM_INTEG);

	if (!e || !p)
		return -EPROTO;
	return crypto_suite_init(&st->suite, e->id, e->key_bits, p->id,
				 i ? i->id : IKE_AUTH_NONE, st->group);
}

/* g^ir, then SKEYSEED and SK_* (the same for both roles, on whichever thread). */
static int make_keys(const struct crypto_suite *suite, const struct crypto_dh *dh,
		     const uint8_t *peer, size_t peer_len, const uint8_t *nonce_i,
		     size_t nonce_i_len, const uint8_t *nonce_r, size_t nonce_r_len,
		     const uint8_t *spi_i, const uint8_t *spi_r, struct crypto_ike_keys *ret,
		     struct crypto_ike_auth_keys *ret_auth)
{
	struct secret shared = { 0 };
	int rc = crypto_dh_derive(dh, peer, peer_len, &shared);

	rc = rc ?: crypto_ike_keys_derive(suite, &shared, nonce_i, nonce_i_len, nonce_r,
					  nonce_r_len, spi_i, spi_r, NULL, ret, ret_auth);
	secret_clear(&shared);
	return rc;
}

static int derive(struct ike_init *st, const struct ike_pld_ke *peer_ke)
{
	return suite_of(st) ?: make_keys(&st->suite, st->dh, peer_ke->data, peer_ke->len,
					 st->nonce_i, st->nonce_i_len, st->nonce_r,
					 st->nonce_r_len, st->spi_i, st->spi_r, &st->keys,
					 &st->auth_keys);
}

/* The derive handed to a job: its own copy of what it reads, the key pair moved into it. */
static int job_new(struct ike_init *st, const struct ike_pld_ke *peer_ke,
		   struct ike_init_job **ret)
{
	struct ike_init_job *j;
	int rc = suite_of(st) ?: crypto_dh_check_peer(st->dh, peer_ke->data, peer_ke->len);

	if (rc < 0)
		return rc;
	j = calloc(1, sizeof(*j) + peer_ke->len);
	if (!j)
		return -ENOMEM;
	j->suite = st->suite;
	j->dh = st->dh;
	st->dh = NULL;
	memcpy(j->spi_i, st->spi_i, IKE_SPI_LEN);
	memcpy(j->spi_r, st->spi_r, IKE_SPI_LEN);
	memcpy(j->nonce_i, st->nonce_i, st->nonce_i_len);
	memcpy(j->nonce_r, st->nonce_r, st->nonce_r_len);
	j->nonce_i_len = (uint16_t)st->nonce_i_len;
	j->nonce_r_len = (uint16_t)st->nonce_r_len;
	memcpy(j->peer, peer_ke->data, peer_ke->len);
	j->peer_len = (uint16_t)peer_ke->len;
	j->rc = -EINPROGRESS;
	*ret = j;
	return 0;
}

void ike_init_job_run(struct ike_init_job *j)
{
	j->rc = make_keys(&j->suite, j->dh, j->peer, j->peer_len, j->nonce_i, j->nonce_i_len,
			  j->nonce_r, j->nonce_r_len, j->spi_i, j->spi_r, &j->keys, &j->auth_keys);
	crypto_dh_free(j->dh);	/* its part is done: wiped now, not when the job is freed */
	j->dh = NULL;
}

int ike_init_job_take(struct ike_init *st, struct ike_init_job *j)
{
	int rc = j->rc;

	if (rc == 0) {
		crypto_ike_keys_clear(&st->keys);
		crypto_ike_auth_keys_clear(&st->auth_keys);
		st->keys = j->keys;
		st->auth_keys = j->auth_keys;
		memset(&j->keys, 0, sizeof(j->keys));
		memset(&j->auth_keys, 0, sizeof(j->auth_keys));
	}
	ike_init_job_free(j);
	return rc;
}

void ike_init_job_free(struct ike_init_job *j)
{
	if (!j)
		return;
	crypto_dh_free(j->dh);
	crypto_ike_keys_clear(&j->keys);
	crypto_ike_auth_keys_clear(&j->auth_keys);
	sodium_memzero(j, sizeof(*j));
	free(j);
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

static bool chain_allowed(const struct ike_chain *c)
{
	for (uint8_t i = 0; i < c->n; i++)
		if (c->pl[i].known && !ike_payload_allowed(IKE_EXCH_IKE_SA_INIT, false, c->pl[i].type))
			return false;
	return true;
}

int ike_init_on_response(struct ike_init *st, const struct ike_init_cfg *cfg, const uint8_t *msg,
			 size_t len, const struct ike_endpoint *local,
			 const struct ike_endpoint *remote, struct ike_writer *out)
{
	struct ike_msg m;
	struct ike_pld_notify n;
	struct ike_pld_sa sa;
	struct ike_pld_ke ke;
	struct ike_pld_nonce nonce;
	struct ike_proposal chosen;
	uint16_t err;
	int rc;

	rc = ike_msg_decode(msg, len, &m, NULL);
	if (rc < 0)
		return rc;
	if (m.hdr.exchange != IKE_EXCH_IKE_SA_INIT || !(m.hdr.flags & IKE_FLAG_RESPONSE) ||
	    (m.hdr.flags & IKE_FLAG_INITIATOR) || m.hdr.msg_id != 0 ||
	    memcmp(m.hdr.spi_i, st->spi_i, IKE_SPI_LEN) != 0 || m.sk.present || !chain_allowed(&m.chain))
		return -EPROTO;	/* not an answer to our request */

	/* §2.6: a cookie to send back, first in an otherwise unchanged request. */
	if (ike_chain_find_notify(&m.chain, IKE_N_COOKIE, &n) == 0) {
		const uint8_t *cookie;
		size_t cookie_len;

		if (ike_notify_cookie(&n, &cookie, &cookie_len) < 0)
			return -EBADMSG;
		if (++st->retries > IKE_INIT_MAX_RETRIES)
			return -ELOOP;
		memcpy(st->cookie, cookie, cookie_len);
		st->cookie_len = cookie_len;
		st->notify = IKE_N_COOKIE;	/* what this round answers */
		rc = build_request(st, cfg, local, remote, out);
		return rc ?: IKE_INIT_SEND;
	}
	err = error_notify(&m.chain, &n);
	if (err == IKE_N_INVALID_KE_PAYLOAD) {
		uint16_t group;

		/* §1.2: retry with the group asked for, if we offered it and it is a change. */
		if (ike_notify_invalid_ke_group(&n, &group) < 0)
			return -EBADMSG;
		if (group == st->group || !group_offered(cfg->proposals, group) ||
		    ++st->retries > IKE_INIT_MAX_RETRIES) {
			st->notify = err;
			st->notify_data = group;
			return IKE_INIT_FAILED;
		}
		st->notify = err;		/* what this round answers */
		st->notify_data = group;
		rc = new_dh(st, group);
		rc = rc ?: build_request(st, cfg, local, remote, out);
		return rc ?: IKE_INIT_SEND;
	}
	if (err) {
		st->notify = err;
		return IKE_INIT_FAILED;
	}
	/* The negotiated answer: one proposal we offered, a KE of its group, a nonce. */
	if (IKE_CHAIN_DECODE(&m.chain, IKE_PLD_SA, ike_pld_sa_decode, &sa) < 0 ||
	    ike_proposal_check_answer(&sa, cfg->proposals, &chosen) < 0 ||
	    IKE_CHAIN_DECODE(&m.chain, IKE_PLD_KE, ike_pld_ke_decode, &ke) < 0 ||
	    IKE_CHAIN_DECODE(&m.chain, IKE_PLD_NONCE, ike_pld_nonce_decode, &nonce) < 0 ||
	    sodium_is_zero(m.hdr.spi_r, IKE_SPI_LEN))
		return -EPROTO;
	if (!ike_proposal_get(&chosen, IKE_TRANSFORM_DH) ||
	    ike_proposal_get(&chosen, IKE_TRANSFORM_DH)->id != st->group || ke.group != st->group)
		return -EPROTO;
	st->chosen = chosen;
	memcpy(st->spi_r, m.hdr.spi_r, IKE_SPI_LEN);
	memcpy(st->nonce_r, nonce.data, nonce.len);
	st->nonce_r_len = nonce.len;
	st->peer_fragmentation = cfg->fragmentation &&
		ike_chain_find_notify(&m.chain, IKE_N_IKEV2_FRAGMENTATION_SUPPORTED, &n) == 0;
	rc = read_nat(st, &m.chain, local, remote);
	rc = rc ?: derive(st, &ke);
	rc = rc ?: keep(&st->msg_r, msg, len);
	if (rc < 0) {
		/* A peer value we refuse (a bad KE) ends the attempt; nothing half-derived stays. */
		crypto_ike_keys_clear(&st->keys);
		crypto_ike_auth_keys_clear(&st->auth_keys);
		st->notify = rc == -EINVAL ? IKE_N_INVALID_SYNTAX : 0;
		return rc == -EINVAL ? IKE_INIT_FAILED : rc;
	}
	return IKE_INIT_DONE;
}

/* An error answer to a request: the initiator's SPI, no responder SPI, one notify (§2.21.1). */
static int build_refusal(struct ike_init *st, const struct ike_header *req, uint16_t type,
			 const uint8_t *data, size_t len, struct ike_writer *out)
{
	struct ike_header h = { .major = IKE_VERSION_MAJOR, .exchange = IKE_EXCH_IKE_SA_INIT,
				.flags = IKE_FLAG_RESPONSE };
	struct ike_builder b;
	int rc;

	memcpy(h.spi_i, req->spi_i, IKE_SPI_LEN);
	out->len = 0;
	rc = ike_build_begin(&b, out, &h);
	rc = rc ?: add_notify(&b, type, data, len);
	rc = rc ?: ike_build_finish(&b);
	if (rc == 0)
		st->notify = type;	/* the caller logs what it answered */
	return rc ?: IKE_INIT_REFUSED;
}

static int check_cookie(struct ike_init *st, const struct ike_cookie_cfg *cookies,
			const struct ike_msg *m,
			const struct ike_pld_nonce *ni, const struct ike_endpoint *remote,
			struct ike_writer *out)
{
	uint8_t want[CRYPTO_COOKIE_LEN];
	struct ike_pld_notify n;
	bool ok = false;
	int rc = crypto_cookie(cookies->secret, cookies->version, ni->data, ni->len, remote->addr,
			       remote->addr_len, m->hdr.spi_i, want);

	if (rc < 0)
		return rc;
	/* §2.6: the cookie comes first. */
	if (m->chain.n > 0 && m->chain.pl[0].type == IKE_PLD_NOTIFY) {
		struct ike_reader r = { .p = m->chain.pl[0].body, .len = m->chain.pl[0].body_len };

		ok = ike_pld_notify_decode(&r, &n, NULL) == 0 && n.type == IKE_N_COOKIE &&
		     n.len == CRYPTO_COOKIE_LEN && secret_equal(n.data, want, CRYPTO_COOKIE_LEN);
	}
	return ok ? 0 : build_refusal(st, &m->hdr, IKE_N_COOKIE, want, sizeof(want), out);
}

static int respond(struct ike_init *st, const struct ike_init_cfg *cfg,
		   const struct ike_cookie_cfg *cookies, const uint8_t *msg, size_t len,
		   const struct ike_endpoint *local, const struct ike_endpoint *remote,
		   struct ike_writer *out, struct ike_init_job **later)
{
	struct ike_msg m;
	struct ike_pld_sa offered;
	struct ike_pld_ke ke;
	struct ike_pld_nonce ni;
	struct ike_pld_notify n;
	const struct ike_transform *dh;
	struct ike_builder b;
	struct ike_header h = { .major = IKE_VERSION_MAJOR, .exchange = IKE_EXCH_IKE_SA_INIT,
				.flags = IKE_FLAG_RESPONSE };
	struct ike_pld_sa answer = { .n = 1 };
	struct ike_pld_ke our_ke;
	struct ike_pld_nonce nr;
	const struct crypto_dh *dh_pair;
	int rc;

	memset(st, 0, sizeof(*st));
	if (later)
		*later = NULL;
	rc = ike_msg_decode(msg, len, &m, &st->err);
	if (rc < 0)
		return rc;
	if (m.hdr.exchange != IKE_EXCH_IKE_SA_INIT || (m.hdr.flags & IKE_FLAG_RESPONSE) ||
	    !(m.hdr.flags & IKE_FLAG_INITIATOR) || m.hdr.msg_id != 0 ||
	    !sodium_is_zero(m.hdr.spi_r, IKE_SPI_LEN))
		return ike_fail(&st->err, NULL, -EPROTO, "header", "not an IKE_SA_INIT request");
	if (m.sk.present || !chain_allowed(&m.chain))
		return ike_fail(&st->err, NULL, -EPROTO, "payloads",
				"one that IKE_SA_INIT does not carry");
	if (IKE_CHAIN_DECODE(&m.chain, IKE_PLD_SA, ike_pld_sa_decode, &offered) < 0 ||
	    IKE_CHAIN_DECODE(&m.chain, IKE_PLD_KE, ike_pld_ke_decode, &ke) < 0 ||
	    IKE_CHAIN_DECODE(&m.chain, IKE_PLD_NONCE, ike_pld_nonce_decode, &ni) < 0)
		return ike_fail(&st->err, NULL, -EPROTO, "payloads", "SA, KE or Nonce missing");
	if (cookies && cookies->required) {
		rc = check_cookie(st, cookies, &m, &ni, remote, out);
		if (rc != 0)
			return rc;
	}
	if (ike_proposal_select(&offered, cfg->proposals, &st->chosen) < 0)
		return build_refusal(st, &m.hdr, IKE_N_NO_PROPOSAL_CHOSEN, NULL, 0, out);
	dh = ike_proposal_get(&st->chosen, IKE_TRANSFORM_DH);
	if (!dh)
		return build_refusal(st, &m.hdr, IKE_N_NO_PROPOSAL_CHOSEN, NULL, 0, out);
	if (ke.group != dh->id) {
		uint8_t g[2] = { (uint8_t)(dh->id >> 8), (uint8_t)dh->id };

		return build_refusal(st, &m.hdr, IKE_N_INVALID_KE_PAYLOAD, g, 2, out);
	}
	memcpy(st->spi_i, m.hdr.spi_i, IKE_SPI_LEN);
	random_spi(st->spi_r);
	memcpy(st->nonce_i, ni.data, ni.len);
	st->nonce_i_len = ni.len;
	st->nonce_r_len = NONCE_LEN;
	randombytes_buf(st->nonce_r, NONCE_LEN);
	st->peer_fragmentation = cfg->fragmentation &&
		ike_chain_find_notify(&m.chain, IKE_N_IKEV2_FRAGMENTATION_SUPPORTED, &n) == 0;
	rc = new_dh(st, dh->id);
	rc = rc ?: read_nat(st, &m.chain, local, remote);
	if (later)
		rc = rc ?: job_new(st, &ke, later);
	else
		rc = rc ?: derive(st, &ke);
	if (rc == -EINVAL) {
		/* A KE value outside the group (RFC 6989): refuse, keep nothing. */
		ike_init_clear(st);
		return build_refusal(st, &m.hdr, IKE_N_INVALID_SYNTAX, NULL, 0, out);
	}
	if (rc < 0)
		goto fail;
	memcpy(h.spi_i, st->spi_i, IKE_SPI_LEN);
	memcpy(h.spi_r, st->spi_r, IKE_SPI_LEN);
	answer.p[0] = st->chosen;
	dh_pair = later ? (*later)->dh : st->dh;
	our_ke = (struct ike_pld_ke){ .group = st->group, .data = crypto_dh_public(dh_pair),
				      .len = crypto_dh_group_of(dh_pair)->pub_len };
	nr = (struct ike_pld_nonce){ .data = st->nonce_r, .len = st->nonce_r_len };
	out->len = 0;
	rc = ike_build_begin(&b, out, &h);
	rc = rc ?: IKE_BUILD_PAYLOAD(&b, IKE_PLD_SA, ike_pld_sa_encode(out, &answer));
	rc = rc ?: IKE_BUILD_PAYLOAD(&b, IKE_PLD_KE, ike_pld_ke_encode(out, &our_ke));
	rc = rc ?: IKE_BUILD_PAYLOAD(&b, IKE_PLD_NONCE, ike_pld_nonce_encode(out, &nr));
	rc = rc ?: add_nat_notifies(&b, st->spi_i, st->spi_r, local, remote);
	if (rc == 0 && st->peer_fragmentation)
		rc = add_notify(&b, IKE_N_IKEV2_FRAGMENTATION_SUPPORTED, NULL, 0);
	rc = rc ?: ike_build_finish(&b);
	rc = rc ?: keep(&st->msg_i, msg, len);
	rc = rc ?: keep(&st->msg_r, out->buf, out->len);
	if (rc == 0)
		return IKE_INIT_DONE;
fail:
	if (later) {
		ike_init_job_free(*later);
		*later = NULL;
	}
	ike_init_clear(st);
	return rc;
}

int ike_init_respond(struct ike_init *st, const struct ike_init_cfg *cfg,
		     const struct ike_cookie_cfg *cookies, const uint8_t *msg, size_t len,
		     const struct ike_endpoint *local, const struct ike_endpoint *remote,
		     struct ike_writer *out)
{
	return respond(st, cfg, cookies, msg, len, local, remote, out, NULL);
}

int ike_init_respond_later(struct ike_init *st, const struct ike_init_cfg *cfg,
			   const struct ike_cookie_cfg *cookies, const uint8_t *msg, size_t len,
			   const struct ike_endpoint *local, const struct ike_endpoint *remote,
			   struct ike_writer *out, struct ike_init_job **ret_job)
{
	return respond(st, cfg, cookies, msg, len, local, remote, out, ret_job);
}
