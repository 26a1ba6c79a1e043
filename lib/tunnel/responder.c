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

void tun_on_init_request(struct ikd *d, struct net_sock *ns, uint8_t *buf, size_t len,
			 const struct ike_header *h, const struct net_dgram *dg)
{
	struct ike_cookie_cfg cookies = { .required = d->half_open >= d->conf.cookie_threshold,
					  .secret = &d->cookie_secret,
					  .version = d->cookie_version };
	struct ike_init_cfg cfg = { .fragmentation = d->conf.fragmentation };
	struct ike_endpoint le, re;
	struct tunnel *t;
	int rc;

	if (d->conf.role != CONF_ROLE_RESPONDER) {
		char from[64];

		/*
		 * An edge router keeps the IKE SAs it starts and accepts none: a POP that
		 * reauthenticates by starting a new IKE SA (strongSwan's reauth_time) gets no
		 * answer, and its old IKE SA ends at its lifetime (the branch then reconnects).
		 */
		d->stats.dropped++;
		peer_log(d, LOG_WARNING, "IKE_SA_INIT from %s dropped: this router (role initiator) "
			 "accepts no IKE SA it did not start; a POP that reauthenticates must leave "
			 "it to the branch (strongSwan: reauth_time = 0)",
			 net_addr_str(&dg->from, from, sizeof(from)));
		return;
	}
	t = tix_half_find(d, h->spi_i, &dg->from);
	if (t) {
		/* §2.1: a retransmitted request gets the same response. */
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
	t->sock = ns;
	t->remote = dg->from;
	t->local = dg->local;
	tun_endpoint_of(&t->local, &le);
	tun_endpoint_of(&t->remote, &re);
	if (!tun_init_new(t)) {
		tunnel_free(t);
		return;
	}
	rc = ike_init_respond(t->init, &cfg, &cookies, buf, len, &le, &re, &t->pending);
	if (rc == IKE_INIT_DONE) {
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

void tun_half_fire(struct timer *tm, void *arg)
{
	struct tunnel *t = arg;

	(void)tm;
	if (t->state != TUN_UP)
		ikd_count_failure(t->d, t->site, CTL_HS_TIMEOUT);
	if (t->state != TUN_UP)
		tunnel_free(t);
}

/* Does the site's identity equal the peer's IDi? (IDs are not secret; memcmp is fine.) */
static bool site_has_id(const struct site *s, const struct ike_pld_id *idi)
{
	struct ike_pld_id mine;
	uint8_t buf[SITE_ID_MAX];

	if (tun_id_from_text((uint8_t)s->id_type, s->id, buf, sizeof(buf), &mine) < 0)
		return false;
	if (mine.type != idi->type || mine.len != idi->len)
		return false;
	if (mine.type == IKE_ID_FQDN || mine.type == IKE_ID_RFC822_ADDR)
		return strncasecmp((const char *)mine.data, (const char *)idi->data, mine.len) == 0;
	return memcmp(mine.data, idi->data, mine.len) == 0;
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
	int rc = tun_child_install_new(lc->t, c, 0, lc->install_err, sizeof(lc->install_err));

	lc->installed = rc == 0;
	return rc;
}

static int auth_lookup(void *arg, const struct ike_pld_id *idi, struct ike_auth_peer *ret)
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

void tun_on_auth_request(struct tunnel *t, uint8_t *buf, size_t len)
{
	struct ikd *d = t->d;
	struct lookup_ctx lc = { .t = t };
	struct ike_pld_id idi;
	struct ike_child c;
	uint16_t notify = 0;
	uint32_t spi_in = tun_new_spi();
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
			tun_child_forget(t, spi_in, true);
		d->stats.dropped++;
		tix_set_site(d, t, "");
		return;
	}
	net_addr_str(&t->remote, from, sizeof(from));
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
