/* The responder: IKE_SA_INIT and IKE_AUTH from sites, found by their identity. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "ike/fragment.h"
#include "ike/proposal.h"
#include "ike/sk_msg.h"
#include "ike/ts.h"
#include "site/choose.h"
#include "tunnel/tunnel_int.h"

/* ---- the responder ---- */

/*
 * The responder's proposals: before IKE_AUTH the site is unknown, so every proposal any
 * enabled site allows, in the first site's order (all sites share the seeds' list by
 * default). Made once per change of the sites, not per request.
 */
static void responder_proposals(struct ikd *d)
{
	struct ike_pld_sa *props = &d->resp_props;
	const char *bad;

	memset(props, 0, sizeof(*props));
	for (size_t i = 0; i < d->db.n_sites && props->n < IKE_MAX_PROPOSALS; i++) {
		struct ike_pld_sa one;

		if (!d->db.sites[i].enabled ||
		    ike_proposals_parse(d->db.sites[i].ike_proposals, IKE_PROTO_IKE, &one, &bad) < 0)
			continue;
		for (uint8_t j = 0; j < one.n && props->n < IKE_MAX_PROPOSALS; j++) {
			bool dup = false;

			for (uint8_t k = 0; k < props->n && !dup; k++)
				dup = props->p[k].n_transforms == one.p[j].n_transforms &&
				      !memcmp(props->p[k].t, one.p[j].t,
					      one.p[j].n_transforms * sizeof(one.p[j].t[0]));
			if (!dup) {
				props->p[props->n] = one.p[j];
				props->p[props->n].num = (uint8_t)(props->n + 1);
				props->n++;
			}
		}
	}
	d->resp_props_stale = false;
}

bool ikd_receive_costly(struct ikd *d, const uint8_t *buf, size_t len, const struct net_dgram *dg)
{
	static const uint8_t zero[IKE_SPI_LEN];
	struct ike_header h;
	bool cookie;

	if (ike_header_decode(buf, len, &h, NULL) < 0 || h.major != 2 ||
	    h.exchange != IKE_EXCH_IKE_SA_INIT || (h.flags & IKE_FLAG_RESPONSE) ||
	    memcmp(h.spi_r, zero, IKE_SPI_LEN) != 0)
		return false;
	if (tix_half_find(d, h.spi_i, &dg->from))
		return false;	/* sent again: the answer we keep goes again */
	/* §2.6: a returned cookie is the first payload, a Notify (protocol 0, no SPI) */
	cookie = h.next_payload == IKE_PLD_NOTIFY && len >= IKE_HEADER_LEN + 8 &&
		 buf[IKE_HEADER_LEN + 5] == 0 &&
		 ((unsigned)buf[IKE_HEADER_LEN + 6] << 8 | buf[IKE_HEADER_LEN + 7]) == IKE_N_COOKIE;
	/* those held back already count: each will be a half-open SA */
	return cookie || d->half_open + d->half_open_waiting < d->conf.cookie_threshold;
}

/*
 * The keys of the IKE_SA_INIT just answered: made by io.run_job's worker while the answer
 * travels and the IKE_AUTH comes back (tun_init's job, IKE_AUTH held until ikd_job_done()),
 * or here when it takes none. <0: they could not be made (the peer's KE value, only an X25519
 * low-order point gets this far; or no memory): nothing is answered.
 */
static int keys_later(struct tunnel *t, struct ike_init_job *job)
{
	struct ikd *d = t->d;

	job->owner = t;
	if (d->io->run_job(d->io_arg, job) == 0) {
		tun_init_of(t)->job = job;
		d->stats.jobs++;
		return 0;
	}
	ike_init_job_run(job);
	return ike_init_job_take(t->init, job);
}

void tun_on_init_request(struct ikd *d, struct net_sock *ns, uint8_t *buf, size_t len,
			 const struct ike_header *h, const struct net_dgram *dg)
{
	struct ike_cookie_cfg cookies = { .required = d->half_open + d->half_open_waiting >=
						      d->conf.cookie_threshold,
					  .secret = &d->cookie_secret,
					  .version = d->cookie_version };
	struct ike_init_cfg cfg = { .fragmentation = d->conf.fragmentation };
	struct ike_endpoint le, re;
	bool reauth = d->conf.role != CONF_ROLE_RESPONDER;
	struct tunnel *t;
	int rc;

	if (d->stopping) {
		d->stats.dropped++;	/* no new IKE SA: the daemon stops */
		return;
	}
	if (reauth && !tun_reauth_possible(d, &dg->from)) {
		char from[64];

		/*
		 * An edge router starts its IKE SAs itself; the only one it answers is a POP's
		 * reauthentication of a tunnel it holds up with it (strongSwan's reauth_time).
		 */
		d->stats.dropped++;
		peer_log(d, LOG_WARNING, "IKE_SA_INIT from %s dropped: this router (role initiator) "
			 "answers only a POP it holds a tunnel up with (its reauthentication)",
			 net_addr_str(&dg->from, from, sizeof(from)));
		return;
	}
	t = tix_half_find(d, h->spi_i, &dg->from);
	if (t) {
		char from[64];

		/* §2.1: a retransmitted request gets the same response. */
		tlog_debug(d, "IKE_SA_INIT from %s sent again: %s", net_addr_str(&dg->from, from,
			   sizeof(from)), t->state == TUN_INIT ? "answered again" : "ignored (past it)");
		if (t->state == TUN_INIT)
			tun_send_msg(t, &t->pending);
		return;
	}
	if (d->resp_props_stale)
		responder_proposals(d);
	if (d->resp_props.n == 0) {
		char from[64];

		d->stats.dropped++;
		peer_log(d, LOG_WARNING, "IKE_SA_INIT from %s dropped: no site is enabled",
			 net_addr_str(&dg->from, from, sizeof(from)));
		return;
	}
	cfg.proposals = &d->resp_props;
	t = tunnel_new(d, false, "", "");
	if (!t)
		return;
	t->pop_reauth = reauth;
	t->sock = ns;
	t->remote = dg->from;
	t->local = dg->local;
	tun_endpoint_of(&t->local, &le);
	tun_endpoint_of(&t->remote, &re);
	if (!tun_init_new(t)) {
		tunnel_free(t);
		return;
	}
	if (d->io->run_job) {
		struct ike_init_job *job;

		rc = ike_init_respond_later(t->init, &cfg, &cookies, buf, len, &le, &re,
					    &t->pending, &job);
		if (rc == IKE_INIT_DONE) {
			char from[64];
			int krc = keys_later(t, job);

			if (krc < 0) {
				d->stats.dropped++;
				ikd_count_failure(d, "", CTL_HS_OTHER);
				peer_log(d, LOG_WARNING, "IKE_SA_INIT from %s dropped: %s",
					 net_addr_str(&dg->from, from, sizeof(from)), krc == -EINVAL ?
					 "KE value outside the group (RFC 6989)" : strerror(-krc));
				tunnel_free(t);
				return;
			}
		}
	} else {
		rc = ike_init_respond(t->init, &cfg, &cookies, buf, len, &le, &re, &t->pending);
	}
	if (rc == IKE_INIT_DONE) {
		char from[64];

		tlog_debug(d, "IKE_SA_INIT from %s: answered%s", net_addr_str(&dg->from, from,
			   sizeof(from)), reauth ? " (the POP reauthenticates)" : "");
		memcpy(t->spi_peer_i, h->spi_i, IKE_SPI_LEN);
		tix_half_add(d, t);
		tix_ours_add(d, t, t->init->spi_r);
		t->state = TUN_INIT;
		t->last_heard_ms = ikd_now(t->d);
		tun_send_msg(t, &t->pending);
		timer_arm(d->timers, &t->t_half,
			  ikd_now(t->d) + (uint64_t)d->conf.half_open_timeout_s * 1000);
		return;
	}
	if (rc == IKE_INIT_REFUSED) {
		char from[64];

		if (t->init->notify == IKE_N_COOKIE) {
			d->stats.cookies_sent++;
		} else {
			/* Both sides' proposals, so the line alone says what to change. */
			struct ike_msg m;
			struct ike_pld_sa offered;
			char theirs[320], ours[320];

			ikd_count_failure(d, "", ikd_failure_of(t->init->notify));
			if (ike_msg_decode(buf, len, &m, NULL) < 0 ||
			    IKE_CHAIN_DECODE(&m.chain, IKE_PLD_SA, ike_pld_sa_decode, &offered) < 0)
				snprintf(theirs, sizeof(theirs), "nothing readable");
			else
				ike_proposals_format(&offered, theirs, sizeof(theirs));
			ike_proposals_format(&d->resp_props, ours, sizeof(ours));
			peer_log(d, LOG_WARNING, "IKE_SA_INIT from %s refused: %s (offered %s; we accept %s)",
				 net_addr_str(&dg->from, from, sizeof(from)),
				 ike_notify_name(t->init->notify), theirs, ours);
		}
		tun_send_msg(t, &t->pending);
	} else {
		char from[64];

		/* Unanswered: RFC 7296 §3.10.1 allows INVALID_SYNTAX only in a protected message. */
		d->stats.dropped++;
		peer_log(d, LOG_WARNING, "IKE_SA_INIT from %s dropped: %s: %s (%s)",
			 net_addr_str(&dg->from, from, sizeof(from)),
			 t->init->err.field ? t->init->err.field : "message",
			 t->init->err.reason ? t->init->err.reason : "not processed", strerror(-rc));
	}
	tunnel_free(t);
}

void ikd_job_done(struct ikd *d, struct ike_init_job *job)
{
	struct tunnel *t = job->owner;
	struct tun_held *held;
	char from[64];
	int rc;

	if (!t) {
		ike_init_job_free(job);	/* its IKE SA went first */
		return;
	}
	tun_init_of(t)->job = NULL;
	rc = ike_init_job_take(t->init, job);
	if (rc < 0) {
		d->stats.dropped++;
		peer_log(d, LOG_WARNING, "IKE_SA_INIT from %s: no keys (%s): the half-open IKE SA "
			 "is dropped", net_addr_str(&t->remote, from, sizeof(from)),
			 rc == -EINVAL ? "KE value outside the group (RFC 6989)" : strerror(-rc));
		ikd_count_failure(d, "", CTL_HS_OTHER);
		tunnel_free(t);
		return;
	}
	/* What came meanwhile, as if it came now: t may be gone after any of it. */
	held = tun_init_of(t)->held;
	tun_init_of(t)->held = NULL;
	tun_init_of(t)->n_held = 0;
	while (held) {
		struct tun_held *h = held;

		held = h->next;
		tun_receive(d, h->sock, h->buf, h->len, &h->dg);
		free(h);
	}
}

void tun_on_auth_arrival(struct tunnel *t, struct net_sock *ns, uint8_t *buf, size_t len,
			 const struct net_dgram *dg)
{
	struct tun_init *ti;
	struct tun_held *h, **end;

	if (!tun_keys_pending(t)) {
		/* A NATed initiator switched to 4500 (§2.23): so do we, both ends. */
		t->sock = ns;
		t->remote = dg->from;
		t->local = dg->local;
		tun_on_auth_request(t, buf, len);
		return;
	}
	ti = tun_init_of(t);
	h = ti->n_held < TUN_HELD_MAX ? malloc(sizeof(*h) + len) : NULL;
	if (!h) {
		t->d->stats.dropped++;	/* the peer sends it again */
		return;
	}
	h->next = NULL;
	h->sock = ns;
	h->dg = *dg;
	h->len = len;
	memcpy(h->buf, buf, len);
	for (end = &ti->held; *end; end = &(*end)->next)
		;
	*end = h;
	ti->n_held++;
	t->d->stats.auth_held++;
}

void tun_half_fire(struct timer *tm)
{
	struct tunnel *t = timer_owner(tm, struct tunnel, t_half);

	if (t->state != TUN_UP)
		ikd_count_failure(t->d, t->site, CTL_HS_TIMEOUT);
	if (t->state != TUN_UP)
		tunnel_free(t);
}

/* Two identities the same? Names compare case-folded. (IDs are not secret: memcmp is fine.) */
static bool id_equal(const struct ike_pld_id *a, const struct ike_pld_id *b)
{
	if (a->type != b->type || a->len != b->len)
		return false;
	if (a->type == IKE_ID_FQDN || a->type == IKE_ID_RFC822_ADDR)
		return strncasecmp((const char *)a->data, (const char *)b->data, a->len) == 0;
	return memcmp(a->data, b->data, a->len) == 0;
}

/* Does the site's identity equal the peer's IDi? */
static bool site_has_id(const struct site *s, const struct ike_pld_id *idi)
{
	struct ike_pld_id mine;
	uint8_t buf[SITE_ID_MAX];

	return tun_id_from_text((uint8_t)s->id_type, s->id, buf, sizeof(buf), &mine) == 0 &&
	       id_equal(&mine, idi);
}

/* An identity's hash: its type and bytes, names case-folded (FQDN and email compare so). */
static uint32_t id_hash(const struct ike_pld_id *id)
{
	uint32_t h = 2166136261u ^ id->type;
	bool fold = id->type == IKE_ID_FQDN || id->type == IKE_ID_RFC822_ADDR;

	for (size_t i = 0; i < id->len; i++) {
		uint8_t c = id->data[i];

		h = (h ^ (fold && c >= 'A' && c <= 'Z' ? c + 32 : c)) * 16777619u;
	}
	return h;
}

/* The responder finds a site by identity in O(1): rebuilt after the sites change. */
static int ids_rebuild(struct ikd *d)
{
	size_t cap = 1024;

	while (cap < 2 * d->db.n_sites + 2)
		cap *= 2;
	free(d->id_slots);
	d->id_slots = calloc(cap, sizeof(*d->id_slots));
	d->id_cap = d->id_slots ? cap : 0;
	if (!d->id_slots)
		return -ENOMEM;
	for (size_t i = 0; i < d->db.n_sites; i++) {
		struct ike_pld_id id;
		uint8_t buf[SITE_ID_MAX];
		size_t k;

		if (tun_id_from_text((uint8_t)d->db.sites[i].id_type, d->db.sites[i].id, buf, sizeof(buf),
				 &id) < 0)
			continue;
		for (k = id_hash(&id) & (cap - 1); d->id_slots[k]; k = (k + 1) & (cap - 1))
			;
		d->id_slots[k] = (uint32_t)i + 1;
	}
	d->ids_stale = false;
	return 0;
}

struct lookup_ctx {
	struct tunnel *t;
	struct ike_child_cfg child;
	uint8_t idr_buf[SITE_ID_MAX];
	char idi_text[SITE_ID_MAX];
	bool wrong_source;
	bool not_accepting;
	size_t n_reauth;		/* an edge router: the tunnels the POP may be reauthenticating */
	struct tunnel *adopt;		/* the one it is: the new IKE SA and Child SA go there */
	bool installed;			/* auth_install() put the Child SA in */
	char install_err[256];		/* or why the kernel refused it */
};

/*
 * ike_auth_peer.install: the Child SA into the kernel before the IKE_AUTH answer is sealed,
 * so the site is told of it only if it is there (else NO_PROPOSAL_CHOSEN, the IKE SA kept).
 */
static int auth_install(void *arg, const struct ike_child *c)
{
	struct lookup_ctx *lc = arg;
	int rc = tun_child_install_new(lc->adopt ? lc->adopt : lc->t, c, 0, lc->install_err,
				       sizeof(lc->install_err));

	lc->installed = rc == 0;
	return rc;
}

/* The tunnels an edge router holds up with the POP at this address. */
static bool reauth_candidate(const struct tunnel *o, const union net_addr *from)
{
	return o->initiator && o->state == TUN_UP && o->have_sa && !o->retiring &&
	       net_addr_equal(&o->remote, from, false);
}

bool tun_reauth_possible(struct ikd *d, const union net_addr *from)
{
	for (size_t k = 0; k < d->n_tunnels; k++)
		if (reauth_candidate(d->tunnels[k], from))
			return true;
	return false;
}

/*
 * An edge router's POP reauthenticates (strongSwan's reauth_time: a new IKE SA from the POP,
 * make-before-break): which of the tunnels up with that POP. The POP is who it says (its
 * ike-id, when the POP record names one) and proves the site's pre-shared key; the site is
 * the one its IDr names, or the only one up with that POP when it names none. Our identity
 * is the site's, as when we start the IKE SA.
 */
static int reauth_lookup(struct lookup_ctx *lc, const struct ike_pld_id *idi,
			 const struct ike_pld_id *idr, struct ike_auth_peer *ret)
{
	struct tunnel *t = lc->t, *found = NULL;
	struct ikd *d = t->d;
	const struct site *s;

	for (size_t k = 0; k < d->n_tunnels; k++) {
		struct tunnel *o = d->tunnels[k];
		const struct pop *p;
		struct ike_pld_id pid;
		uint8_t buf[SITE_ID_MAX];

		if (!reauth_candidate(o, &t->remote))
			continue;
		p = site_db_find_pop(&d->db, o->pop);
		s = ikd_site(d, o->site);
		if (!p || !s || !s->enabled)
			continue;
		if (p->ike_id[0] && (tun_id_infer(p->ike_id, buf, sizeof(buf), &pid) < 0 ||
				     !id_equal(&pid, idi)))
			continue;
		if (idr && !site_has_id(s, idr))
			continue;
		found = o;
		lc->n_reauth++;
	}
	if (lc->n_reauth != 1)
		return -ENOENT;
	s = ikd_site(d, found->site);
	tix_set_site(d, t, s->name);
	if (tunnel_config(t, s) < 0 || tun_child_cfg_of(t, s, &lc->child) < 0 ||
	    tun_id_from_text((uint8_t)s->id_type, s->id, lc->idr_buf, sizeof(lc->idr_buf),
			     &ret->id) < 0)
		return -ENOENT;
	ret->psk = &s->psk;
	ret->child = &lc->child;
	ret->install = auth_install;
	lc->adopt = found;
	return 0;
}

static int auth_lookup(void *arg, const struct ike_pld_id *idi,
			const struct ike_pld_id *idr, struct ike_auth_peer *ret)
{
	struct lookup_ctx *lc = arg;
	struct tunnel *t = lc->t;
	struct ikd *d = t->d;

	if (idi->type == IKE_ID_FQDN || idi->type == IKE_ID_RFC822_ADDR)
		snprintf(lc->idi_text, sizeof(lc->idi_text), "%.*s", (int)idi->len, idi->data);
	else if (idi->type == IKE_ID_IPV4_ADDR && idi->len == 4)
		inet_ntop(AF_INET, idi->data, lc->idi_text, sizeof(lc->idi_text));
	else if (idi->type == IKE_ID_IPV6_ADDR && idi->len == 16)
		inet_ntop(AF_INET6, idi->data, lc->idi_text, sizeof(lc->idi_text));
	if (t->pop_reauth)
		return reauth_lookup(lc, idi, idr, ret);
	if (!d->io->accepting(d->io_arg)) {	/* the downstream check fails: ikd.conf(5) */
		lc->not_accepting = true;
		return -ENOENT;
	}
	if (d->ids_stale && ids_rebuild(d) < 0)
		return -ENOENT;
	for (size_t k = id_hash(idi) & (d->id_cap - 1); d->id_cap && d->id_slots[k];
	     k = (k + 1) & (d->id_cap - 1)) {
		const struct site *s = &d->db.sites[d->id_slots[k] - 1];
		union net_addr src;

		if (!s->enabled || !site_has_id(s, idi))
			continue;
		/* The site it matched, named in the log whatever comes next. */
		tix_set_site(d, t, s->name);
		if (s->source_ip[0] && (net_addr_parse(s->source_ip, 0, &src) < 0 ||
					!net_addr_equal(&src, &t->remote, false))) {
			lc->wrong_source = true;
			return -ENOENT;
		}
		if (tunnel_config(t, s) < 0)
			return -ENOENT;
		ret->psk = &s->psk;
		if (tun_child_cfg_of(t, s, &lc->child) < 0)
			return -ENOENT;
		ret->child = &lc->child;
		ret->install = auth_install;
		if (d->conf.identity[0]) {
			if (tun_id_infer(d->conf.identity, lc->idr_buf, sizeof(lc->idr_buf), &ret->id) < 0)
				return -ENOENT;
		} else {
			struct ike_pld_id *id = &ret->id;

			memset(id, 0, sizeof(*id));
			id->type = t->local.sa.sa_family == AF_INET ? IKE_ID_IPV4_ADDR :
								      IKE_ID_IPV6_ADDR;
			id->len = t->local.sa.sa_family == AF_INET ? 4 : 16;
			memcpy(lc->idr_buf, t->local.sa.sa_family == AF_INET ?
			       (const void *)&t->local.in.sin_addr : (const void *)&t->local.in6.sin6_addr,
			       id->len);
			id->data = lc->idr_buf;
		}
		return 0;
	}
	return -ENOENT;
}


/*
 * A site that authenticates again (it restarted, its address changed, or it reauthenticates
 * make-before-break) replaces its older IKE SAs with this gateway, as INITIAL_CONTACT asks
 * (§2.4): one IKE SA per site per gateway. Once t's Child SA is in, each older one's Child SAs
 * leave the kernel (their policies only where t has none of the same selectors), and its IKE
 * SA is kept beside t's to be deleted: we send its Delete and answer the peer's own Delete or
 * any other request on it until that is done (§1.4.1; a peer that reauthenticates deletes the
 * old SA itself and waits for our answer), instead of dropping it without a word.
 */
static void replace_older(struct tunnel *t, const char *from)
{
	struct ikd *d = t->d;

	for (struct tunnel *o = tix_site_next(d, t->site, NULL), *next; o; o = next) {
		char was[64];

		next = tix_site_next(d, t->site, o);
		if (o == t || o->initiator || o->state != TUN_UP)
			continue;
		tlog_notice(t->d, "site '%s' %s: replaced by a new IKE SA from %s: deleting the old one",
			   o->site, net_addr_str(&o->remote, was, sizeof(was)), from);
		while (o->n_children) {
			struct child *c = &o->children[o->n_children - 1];
			bool shared = false;

			kernel_child_remove(d, o, c);
			for (size_t j = 0; j < t->n_children && !shared; j++)
				shared = tun_same_ts(c, &t->children[j]);
			if (!shared)
				kernel_child_policies(d, o, c, NULL, true);
			tun_child_unlist(o, o->n_children - 1);
		}
		if (o->have_sa) {
			tun_extra_add(t, &o->sa, true, false);
			o->have_sa = false;
		}
		/* A monitor saw it come up: it sees it go (its ups and downs balance). */
		ikd_event(d, o->site, was, "down", "replaced by a new IKE SA from %s", from);
		tunnel_free(o);	/* next is another tunnel: still linked */
	}
}

/*
 * The POP reauthenticated the edge router's tunnel o (t: the handshake it started). Make-
 * before-break, the new IKE SA and its Child SA are up before the POP deletes the old IKE SA,
 * so the new one takes the old one's place in o at once (o stays the site's tunnel to that
 * POP: its traffic, probe and liveness go on), the new Child SA is o's newest, and the old
 * IKE SA is kept beside it until the POP deletes it; the Child SAs made under it end with it
 * (§1.4.1), not before: the POP may still send on them until it has switched.
 */
static void reauth_adopt(struct tunnel *o, struct tunnel *t, const struct ike_child *c,
			 bool installed, const char *from)
{
	struct ikd *d = o->d;
	struct ike_sa new_sa, old;
	struct ike_writer answer;
	struct extra_sa *e;

	ike_sa_from_init(&new_sa, t->init);
	tun_init_drop(t);
	tix_ours_del(d, t);	/* our SPI of the new IKE SA: o's from here on */
	for (size_t k = 0; k < o->n_children; k++)
		if (!installed || o->children[k].spi_in != c->spi_in)
			o->children[k].of_old_ike = true;
	old = o->sa;
	memset(&o->sa, 0, sizeof(o->sa));
	e = tun_extra_add(o, &old, false, false);
	if (e)
		e->reauthed = true;
	o->sock = t->sock;
	o->remote = t->remote;
	o->local = t->local;
	tun_ike_switch(o, &new_sa, false);
	/* Our IKE_AUTH answer, for the POP's retransmission should it be lost. */
	answer = o->pending;
	o->pending = t->pending;
	t->pending = answer;
	tun_wake(o, o->ike_created_ms + PENDING_KEEP_MS);
	tun_heard(o);
	if (installed)
		tlog_notice(d, "site '%s' pop '%s': reauthenticated by the POP (%s): new IKE SA, Child SA "
			   "spi in %08x out %08x; the old ones go when the POP deletes them", o->site,
			   o->pop, from, c->spi_in, c->spi_out);
	else
		tlog_warn(d, "site '%s' pop '%s': reauthenticated by the POP (%s): new IKE SA, no Child "
			  "SA; the old one's stays until the POP deletes it", o->site, o->pop, from);
	ikd_event(d, o->site, o->pop, "ike-rekeyed", "reauthenticated by the POP");
	if (!e) {
		/* no room to keep the old IKE SA: its Child SAs go now */
		for (size_t k = o->n_children; k-- > 0;)
			if (k < o->n_children && o->children[k].of_old_ike)
				tun_child_forget(o, o->children[k].spi_in, true);
	}
}

void tun_on_auth_request(struct tunnel *t, uint8_t *buf, size_t len)
{
	struct ikd *d = t->d;
	struct lookup_ctx lc = { .t = t };
	struct ike_pld_id idi;
	struct ike_child c;
	uint16_t notify = 0;
	uint32_t spi_in = tun_new_spi(d);
	char from[64];
	int rc;

	memset(&c, 0, sizeof(c));
	rc = ike_auth_respond(t->init, auth_lookup, &lc, spi_in, buf, len, &t->pending, &c, &idi,
			      &notify);
	if (rc == -EINPROGRESS)
		return;		/* a fragment (RFC 7383) stored */
	if (rc < 0) {
		/* Installed for an answer that could not be built: the site never hears of it. */
		if (lc.installed)
			tun_child_forget(lc.adopt ? lc.adopt : t, spi_in, true);
		d->stats.dropped++;
		tix_set_site(d, t, "");
		return;
	}
	net_addr_str(&t->remote, from, sizeof(from));
	if (rc == IKE_AUTH_REFUSED && t->pop_reauth) {
		d->stats.auth_failed++;
		peer_log(d, LOG_WARNING, "IKE_AUTH from %s refused (AUTHENTICATION_FAILED): %s "
			 "(identity '%s')", from, lc.n_reauth > 1 ?
			 "a reauthentication that names no site (no IDr), with several sites up "
			 "with this POP" : lc.n_reauth ? "bad pre-shared key for a reauthentication" :
			 "no tunnel up with a POP of that identity (and IDr) to reauthenticate",
			 lc.idi_text);
		tun_send_msg(t, &t->pending);
		tunnel_free(t);
		return;
	}
	if (rc == IKE_AUTH_REFUSED) {
		d->stats.auth_failed++;
		ikd_count_failure(d, t->site, CTL_HS_AUTH_FAILED);
		if (t->site[0])
			peer_log(d, LOG_WARNING, "IKE_AUTH from %s refused (AUTHENTICATION_FAILED): %s "
				 "for site '%s' (identity '%s')", from, lc.wrong_source ?
				 "wrong source address" : "bad pre-shared key", t->site, lc.idi_text);
		else
			peer_log(d, LOG_WARNING, "IKE_AUTH from %s refused (AUTHENTICATION_FAILED): %s "
				 "'%s'", from, lc.not_accepting ?
				 "not accepting new tunnels (downstream check), identity" :
				 "unknown identity", lc.idi_text);
		ikd_event(d, t->site[0] ? t->site : "", from, "refused",
			  "IKE_AUTH refused (AUTHENTICATION_FAILED) for identity '%s'", lc.idi_text);
		tun_send_msg(t, &t->pending);
		tunnel_free(t);	/* §2.21.2: no state is kept */
		return;
	}
	tix_half_del(d, t);
	timer_cancel(d->timers, &t->t_half);
	tun_send_msg(t, &t->pending);
	ike_writer_shrink(&t->pending);	/* kept up to a minute for the peer's retransmission */
	if (lc.adopt) {
		if (lc.install_err[0])
			tlog_err(d, "site '%s' %s: %s: answered NO_PROPOSAL_CHOSEN", t->site, from,
				 lc.install_err);
		reauth_adopt(lc.adopt, t, &c, rc == IKE_AUTH_DONE && lc.installed, from);
		ike_child_clear(&c);
		tunnel_free(t);
		return;
	}
	if (rc == IKE_AUTH_DONE_NO_CHILD && lc.install_err[0])
		tlog_err(t->d, "site '%s' %s: %s: answered NO_PROPOSAL_CHOSEN, the IKE SA kept", t->site,
			from, lc.install_err);
	else if (rc == IKE_AUTH_DONE_NO_CHILD)
		tlog_warn(t->d, "site '%s' %s: Child SA refused: %s", t->site, from, ike_notify_name(notify));
	if (rc == IKE_AUTH_DONE_NO_CHILD)
		ikd_count_failure(d, t->site, ikd_failure_of(notify));
	tunnel_established(t, &c, rc == IKE_AUTH_DONE, lc.installed);
	if (lc.install_err[0])
		tunnel_error(t, lc.install_err);	/* for `site show` */
	ike_child_clear(&c);
	replace_older(t, from);
}
