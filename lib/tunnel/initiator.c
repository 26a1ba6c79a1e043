/*
 * The initiator's handshakes towards a POP (IKE_SA_INIT, IKE_AUTH), the tunnel coming up on
 * either side, and the ICMP probe's glue (probe.c sends and receives).
 */
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

/* ---- the initiator ---- */

/*
 * The tunnel cannot even start its handshake: said at the default level once per reason (it
 * is retried with back-off, and the same reason each time is no news), then down.
 */
static void start_failed(struct tunnel *t, const char *why)
{
	if (!t->last_error || strcmp(t->last_error, why))
		tlog_warn(t->d, "site '%s' pop '%s': cannot connect: %s (trying again with back-off)",
			 t->site, t->pop, why);
	tunnel_down(t, why);
}

/* What a tunnel is built from of its POP's record: gateway and IKE identity, or the probe IP. */
uint64_t tun_pop_hash(const struct pop *p, bool probe)
{
	uint64_t h = 14695981039346656037ull;
	const char *parts[2] = { probe ? p->probe_ip : p->gateway, probe ? "" : p->ike_id };

	for (size_t i = 0; i < 2; i++)
		for (const char *c = parts[i]; ; c++) {
			h = (h ^ (uint8_t)*c) * 1099511628211ull;
			if (!*c)
				break;
		}
	return h;
}

void tun_initiator_start(struct tunnel *t)
{
	struct ikd *d = t->d;
	const struct site *s = ikd_site(d, t->site);
	const struct pop *p = s ? site_db_find_pop(&d->db, t->pop) : NULL;
	struct ike_init_cfg cfg;
	struct ike_endpoint le, re;
	int rc;

	tunnel_reset(t);
	if (!s || !p || !s->enabled)
		return;
	if (tunnel_config(t, s) < 0 || net_addr_parse(p->gateway, d->conf.ike_port, &t->remote) < 0) {
		start_failed(t, "bad configuration");
		return;
	}
	t->pop_cfg = tun_pop_hash(p, false);
	t->pop_probe = tun_pop_hash(p, true);
	t->sock = tun_sock_for(d, t->remote.sa.sa_family, false);
	if (!t->sock) {
		start_failed(t, "no IKE socket of the POP's address family");
		return;
	}
	if (s->source_ip[0] && net_addr_parse(s->source_ip, d->conf.ike_port, &t->local) == 0 &&
	    t->local.sa.sa_family == t->remote.sa.sa_family) {
		/* the site's own address */
	} else if ((rc = t->d->io->route_source(t->d->io_arg, &t->remote, &t->local)) < 0) {
		char why[96];

		snprintf(why, sizeof(why), "no route to the POP's gateway: %s", strerror(-rc));
		start_failed(t, why);
		return;
	}
	tun_set_port(&t->local, d->conf.ike_port);
	if (secret_dup(&t->psk, &s->psk) < 0) {
		start_failed(t, "out of memory");
		return;
	}
	cfg = (struct ike_init_cfg){ .proposals = &t->props->ike, .dh_group = t->props->ike_group,
				     .fragmentation = d->conf.fragmentation };
	tun_endpoint_of(&t->local, &le);
	tun_endpoint_of(&t->remote, &re);
	rc = tun_init_new(t) ? ike_init_start(t->init, &cfg, &le, &re, &t->pending) : -ENOMEM;
	if (rc < 0) {
		start_failed(t, "cannot start IKE_SA_INIT");
		return;
	}
	tix_ours_add(d, t, t->init->spi_i);
	t->state = TUN_INIT;
	t->tries = 0;
	tlog_info(t->d, "site '%s' pop '%s': connecting to %s", t->site, t->pop, p->gateway);
	tun_send_msg(t, &t->pending);
	tun_arm_retx(t);
}

void tun_reconnect_fire(struct timer *tm)
{
	tun_initiator_start(timer_owner(tm, struct tunnel, t_reconnect));
}

/*
 * When to rekey: the site's rekey time, a random part of rekey-jitter earlier (at most a
 * tenth of it), so that a thousand sites do not rekey in the same second.
 */
uint64_t tun_rekey_deadline(struct ikd *d, const struct site *s, bool ike)
{
	uint32_t base = s ? (ike ? s->ike_rekey_s : s->child_rekey_s) : 0;
	uint32_t jitter = d->conf.rekey_jitter_s < base / 10 ? d->conf.rekey_jitter_s : base / 10;
	uint64_t ms;

	if (!base)
		return UINT64_MAX;
	ms = (uint64_t)base * 1000 - (jitter ? randombytes_uniform(jitter * 1000 + 1) : 0);
	return ikd_now(d) + ms;
}

/* A Child SA into the tunnel's list (the last one); false when full or out of memory. */
bool tun_child_record(struct tunnel *t, const struct ike_child *c)
{
	size_t n_ts = (size_t)c->ts_local.n + c->ts_remote.n;
	struct ike_ts *ts;
	struct child *ch;

	if (t->n_children == IKD_MAX_CHILDREN)
		return false;
	if (t->n_children == t->cap_children) {
		/* One, as most tunnels have; a rekey makes it two for a while. */
		size_t cap = t->cap_children ? 2 * t->cap_children : 1;
		struct child *v = realloc(t->children, cap * sizeof(*v));

		if (!v)
			return false;
		t->children = v;
		t->cap_children = cap;
	}
	ch = &t->children[t->n_children];
	memset(ch, 0, sizeof(*ch));
	ch->n_ts_local = c->ts_local.n;
	ch->n_ts_remote = c->ts_remote.n;
	if (child_ts_heap(ch) && !(ch->ts_.heap = calloc(n_ts, sizeof(*ch->ts_.heap))))
		return false;
	ts = child_ts_heap(ch) ? ch->ts_.heap : ch->ts_.in;
	if (tix_child_add(t->d, t, c->spi_in) < 0) {
		if (child_ts_heap(ch))
			free(ch->ts_.heap);
		return false;
	}
	if (tix_child_add(t->d, t, c->spi_out) < 0) {
		tix_child_del(t->d, t, c->spi_in);
		if (child_ts_heap(ch))
			free(ch->ts_.heap);
		return false;
	}
	t->n_children++;
	ch->spi_in = c->spi_in;
	ch->spi_out = c->spi_out;
	ch->created_ms = ikd_now(t->d);
	ch->rekey_at_ms = tun_rekey_deadline(t->d, ikd_site(t->d, t->site), false);
	tun_wake(t, ch->rekey_at_ms);
	ch->suite = c->encr->name;
	kernel_addr(&t->local, &ch->addr_local);
	kernel_addr(&t->remote, &ch->addr_remote);
	memcpy(ts, c->ts_local.ts, c->ts_local.n * sizeof(ts[0]));
	memcpy(ts + c->ts_local.n, c->ts_remote.ts, c->ts_remote.n * sizeof(ts[0]));
	return true;
}


uint32_t tun_new_spi(struct ikd *d)
{
	uint32_t spi;
	unsigned tries = 0;

	/* The top bits say "ikd"; the rest is random, drawn again while a Child SA holds it. */
	do
		spi = 0xc0000000u | (randombytes_random() & 0x3fffffffu);
	while (tix_child_spi_used(d, spi) && ++tries < TUN_SPI_TRIES);
	return spi;
}

static uint32_t cc_alloc_spi(void *arg)
{
	return tun_new_spi(((struct tunnel *)arg)->d);
}

static unsigned cc_n_children(void *arg)
{
	return (unsigned)((struct tunnel *)arg)->n_children;
}

/* ---- the ICMP probe (probe.c sends and receives) ---- */

static const char *probe_dst(const struct tun_probe *pr, char *buf, size_t len)
{
	return inet_ntop(pr->dst.sa.sa_family, pr->dst.sa.sa_family == AF_INET ?
			 (const void *)&pr->dst.in.sin_addr : (const void *)&pr->dst.in6.sin6_addr,
			 buf, (socklen_t)len) ?: "?";
}

void tun_probe_begin(struct tunnel *t, const struct site *s)
{
	char why[160], dst[64];
	int rc = t->d->io->probe_start(t->d->io_arg, t, s, site_db_find_pop(&t->d->db, t->pop), why, sizeof(why));

	if (rc == 0)
		tlog_info(t->d, "site '%s' pop '%s': probing %s through the tunnel", t->site, t->pop,
			 probe_dst(t->probe, dst, sizeof(dst)));
	else if (why[0])
		tlog_notice(t->d, "site '%s' pop '%s': no ICMP probe: %s", t->site, t->pop, why);
}

/* With each liveness check: was the last echo answered? Then the next one. */
void tun_probe_tick(struct tunnel *t, const struct site *s)
{
	struct tun_probe *pr = t->probe;
	char dst[64];

	probe_dst(pr, dst, sizeof(dst));
	if (pr->waiting && ++pr->missed >= t->d->conf.dpd_misses && !pr->failing) {
		pr->failing = true;
		tlog_warn(t->d, "site '%s' pop '%s': probe %s unanswered %u times: the tunnel carries no "
			 "traffic", t->site, t->pop, dst, pr->missed);
		ikd_event(t->d, t->site, t->pop, "probe-failed", "%s unanswered %u times", dst,
			  pr->missed);
		tun_site_reevaluate(t->d, s);
	}
	/* A send the kernel refuses (no SA yet) is an echo unanswered. */
	pr->waiting = true;
	pr->sent++;
	if (t->d->io->probe_send(t->d->io_arg, t) < 0)
		tlog_debug(t->d, "site '%s' pop '%s': probe to %s not sent", t->site, t->pop, dst);
}

void tunnel_probe_answered(struct tunnel *t)
{
	struct tun_probe *pr = t->probe;
	uint64_t now = ikd_now(t->d);
	char dst[64];

	if (!pr->waiting)
		return;		/* a duplicate */
	pr->waiting = false;
	pr->missed = 0;
	pr->answered++;
	pr->answered_ms = now;
	pr->rtt_ms = (uint32_t)(now - pr->sent_ms);
	if (!pr->failing)
		return;
	pr->failing = false;
	t->healthy_since_ms = now;
	probe_dst(pr, dst, sizeof(dst));
	tlog_notice(t->d, "site '%s' pop '%s': probe %s answers again", t->site, t->pop, dst);
	ikd_event(t->d, t->site, t->pop, "probe-ok", "%s answers again", dst);
	tun_site_reevaluate(t->d, ikd_site(t->d, t->site));
}

/*
 * An edge router's IKE SA has no Child SA (refused by the POP or by our kernel): the IKE SA
 * is kept (the POP stays checked for liveness, the site blocked as it is), and the Child SA is
 * asked for again with CREATE_CHILD_SA after reconnect-min, doubling to reconnect-max, rather
 * than the whole IKE SA built again and again.
 */
void tun_child_retry_later(struct tunnel *t)
{
	const struct ikd_conf *cf = &t->d->conf;

	if (!t->initiator)
		return;
	if (!t->child_retry_s)
		t->child_retry_s = cf->reconnect_min_s;
	t->child_retry_at_ms = ikd_now(t->d) + (uint64_t)t->child_retry_s * 1000 +
			       randombytes_uniform(1000);
	tun_wake(t, t->child_retry_at_ms);
	t->child_retry_s = t->child_retry_s * 2 > cf->reconnect_max_s ? cf->reconnect_max_s :
			   t->child_retry_s * 2;
}

/* The tunnel's first Child SA is in: its probe starts, and the site may use it. */
void tun_child_first(struct tunnel *t)
{
	const struct site *s = ikd_site(t->d, t->site);

	t->child_retry_at_ms = 0;
	t->child_retry_s = 0;
	if (t->initiator && s && t->n_children && t->children[0].installed) {
		if (!t->probe)
			tun_probe_begin(t, s);
		tun_site_reevaluate(t->d, s);
	}
}

/*
 * IKE_AUTH completed on either side: the Child SA into the kernel (unless a gateway put it
 * there before it answered: installed), the tunnel up. What is said of the Child SA, in the
 * log, the event and the tunnel's list, is what the kernel holds.
 */
void tunnel_established(struct tunnel *t, struct ike_child *c, bool have_child,
			bool installed)
{
	struct ikd *d = t->d;
	const struct site *s = ikd_site(d, t->site);
	char peer[80], err[256], suite[96];

	ike_sa_from_init(&t->sa, t->init);
	tun_init_drop(t);
	if (t->initiator)
		tun_pending_release(t);
	t->have_sa = true;
	t->state = TUN_UP;
	tunnel_error(t, NULL);
	t->tries = 0;
	t->dpd_missed = 0;
	t->up_since_ms = t->last_heard_ms = t->healthy_since_ms = ikd_now(t->d);
	t->reconnect_s = d->conf.reconnect_min_s;
	timer_cancel(d->timers, &t->t_retx);
	secret_clear(&t->psk);
	{
		const struct crypto_suite *su = &t->sa.k.suite;

		snprintf(suite, sizeof(suite), "%s%s%s-%s-%s", su->encr->name,
			 su->integ ? "-" : "", su->integ ? su->integ->name : "", su->prf->name,
			 su->dh->name);
	}
	err[0] = '\0';
	if (have_child && !installed && s && tun_child_install_new(t, c, 0, err, sizeof(err)) == 0)
		installed = true;
	tun_peer_str(t, peer, sizeof(peer));
	if (installed)
		tlog_notice(t->d, "site '%s' %s: IKE SA up (%s), Child SA up (%s%s%s, spi in %08x out %08x)",
			   t->site, peer, suite, c->encr->name,
			   c->integ ? "-" : "", c->integ ? c->integ->name : "", c->spi_in, c->spi_out);
	else
		tlog_notice(t->d, "site '%s' %s: IKE SA up (%s), no Child SA", t->site, peer, suite);
	if (err[0]) {
		tlog_err(t->d, "site '%s' %s: %s", t->site, peer, err);
		tunnel_error(t, err);
		/* The peer has its half: it goes, and the Child SA is asked for again later. */
		if (t->initiator)
			tun_enqueue(t, REQ_DELETE_CHILD, c->spi_in);
	}
	t->child_retry_at_ms = 0;
	t->child_retry_s = 0;
	if (!installed)
		tun_child_retry_later(t);
	ikd_event(d, t->site, t->initiator ? t->pop : peer, "up", "IKE SA %s, Child SA %s",
		  suite, installed ? c->encr->name : "none");
	t->cc = (struct ike_cc_cfg){ .pfs_group = t->pfs_group,
				     .ike_proposals = t->props ? &t->props->ike : NULL,
				     .max_children = s ? s->max_child_sas : 0,
				     .alloc_spi = cc_alloc_spi, .n_children = cc_n_children,
				     .install = tun_cc_install };
	t->sa.cc_cfg = &t->cc;
	t->ike_created_ms = ikd_now(t->d);
	t->ike_rekey_at_ms = tun_rekey_deadline(d, s, true);
	tun_tick_start(t);
	if (tun_dpd_interval(t, s))
		timer_arm(d->timers, &t->t_dpd,
			  ikd_now(t->d) + (uint64_t)tun_dpd_interval(t, s) * 1000);
	tun_heard(t);
	if (t->sa.k.nat_local)
		timer_arm(d->timers, &t->t_keepalive,
			  ikd_now(t->d) + (uint64_t)d->conf.keepalive_s * 1000);
	if (t->initiator && s && t->n_children && t->children[0].installed)
		tun_probe_begin(t, s);
	if (t->initiator && s)
		tun_site_reevaluate(d, s);
}


void tun_on_init_response(struct tunnel *t, uint8_t *buf, size_t len)
{
	struct ikd *d = t->d;
	const struct site *s = ikd_site(d, t->site);
	struct ike_init_cfg cfg = { .proposals = &t->props->ike,
				    .dh_group = t->props->ike_group,
				    .fragmentation = d->conf.fragmentation };
	struct ike_endpoint le, re;
	struct ike_child_cfg child;
	struct ike_pld_id idi;
	uint8_t idbuf[SITE_ID_MAX];
	char why[160];
	int rc;

	tun_endpoint_of(&t->local, &le);
	tun_endpoint_of(&t->remote, &re);
	rc = ike_init_on_response(t->init, &cfg, buf, len, &le, &re, &t->pending);
	if (rc < 0) {
		d->stats.dropped++;
		return;
	}
	t->last_heard_ms = ikd_now(t->d);
	if (rc == IKE_INIT_SEND) {
		/* A COOKIE or INVALID_KE_PAYLOAD round: the same exchange again. */
		tlog_info(t->d, "site '%s' pop '%s': IKE_SA_INIT again (%s)", t->site, t->pop,
			 ike_notify_name(t->init->notify));
		t->tries = 0;
		tun_send_msg(t, &t->pending);
		tun_arm_retx(t);
		return;
	}
	if (rc == IKE_INIT_FAILED || !s) {
		snprintf(why, sizeof(why), "IKE_SA_INIT refused by the POP: %s%s%.100s",
			 ike_notify_name(t->init->notify),
			 t->init->notify == IKE_N_NO_PROPOSAL_CHOSEN ? "; we offered " : "",
			 t->init->notify == IKE_N_NO_PROPOSAL_CHOSEN && s ? s->ike_proposals : "");
		tlog_err(t->d, "site '%s' pop '%s': %s", t->site, t->pop, why);
		ikd_count_failure(d, t->site, ikd_failure_of(t->init->notify));
		tunnel_down(t, why);
		return;
	}
	/* §2.23: behind a NAT (either side), IKE moves to port 4500 with the non-ESP marker. */
	if (t->init->nat_local || t->init->nat_remote) {
		struct net_sock *ns = tun_sock_for(d, t->remote.sa.sa_family, true);

		if (ns) {
			t->sock = ns;
			tun_set_port(&t->remote, d->conf.natt_port);
			tun_set_port(&t->local, d->conf.natt_port);
			tlog_info(t->d, "site '%s' pop '%s': NAT detected (%s), IKE moves to port %u",
				 t->site, t->pop, t->init->nat_local ? "this side" : "the POP's side",
				 d->conf.natt_port);
		}
	}
	if (tun_id_from_text((uint8_t)s->id_type, s->id, idbuf, sizeof(idbuf), &idi) < 0) {
		tunnel_down(t, "the site's identity cannot be encoded");
		return;
	}
	t->spi_in_pending = tun_new_spi(t->d);
	/*
	 * §2.4: INITIAL_CONTACT whenever this IKE SA is the only one we hold with the POP for
	 * this identity, and a tunnel starting a handshake holds no other (its last one is gone:
	 * a restart, a reconnect after the POP was declared dead). Without it a POP that still
	 * holds the old IKE SA keeps it and its Child SAs until they time out, one set per
	 * reconnect.
	 */
	rc = tun_child_cfg_of(t, s, &child) ?:
	     ike_auth_request(t->init, &idi, &t->psk, !t->have_sa && !t->n_extras, &child,
			      t->spi_in_pending, &t->pending);
	if (rc < 0) {
		tunnel_down(t, "cannot build IKE_AUTH");
		return;
	}
	t->state = TUN_AUTH;
	t->tries = 0;
	tun_send_msg(t, &t->pending);
	tun_arm_retx(t);
}

void tun_on_auth_response(struct tunnel *t, uint8_t *buf, size_t len)
{
	struct ikd *d = t->d;
	const struct site *s = ikd_site(d, t->site);
	const struct pop *p = site_db_find_pop(&d->db, t->pop);
	struct ike_pld_id idr, *expect = NULL;
	struct ike_child_cfg child;
	uint8_t idbuf[SITE_ID_MAX];
	struct ike_child c;
	uint16_t notify = 0;
	char why[256];
	int rc;

	if (p && p->ike_id[0] && tun_id_infer(p->ike_id, idbuf, sizeof(idbuf), &idr) == 0)
		expect = &idr;
	if (tun_child_cfg_of(t, s, &child) < 0) {
		tunnel_down(t, "the site's selectors are gone");
		return;
	}
	memset(&c, 0, sizeof(c));
	rc = ike_auth_on_response(t->init, &t->psk, &child, t->spi_in_pending, expect, buf,
				  len, &c, &notify);
	if (rc == -EINPROGRESS)
		return;		/* a fragment (RFC 7383) stored; the rest is on its way */
	if (rc < 0) {
		d->stats.dropped++;
		return;
	}
	t->last_heard_ms = ikd_now(t->d);
	if (rc == IKE_AUTH_FAILED) {
		/*
		 * An error with no IDr and AUTH (strongSwan's bare NO_PROPOSAL_CHOSEN) may be the
		 * POP's kernel refusing the Child SA as much as our proposals: say both.
		 */
		snprintf(why, sizeof(why), "IKE_AUTH failed: %s%s%.100s%s", ike_notify_name(notify),
			 notify == IKE_N_NO_PROPOSAL_CHOSEN ? "; we offered " : "",
			 notify == IKE_N_NO_PROPOSAL_CHOSEN && s ? s->esp_proposals : "",
			 notify == IKE_N_NO_PROPOSAL_CHOSEN ?
			 " (or the POP could not install the Child SA: see its log)" : "");
		tlog_err(t->d, "site '%s' pop '%s': %s", t->site, t->pop, why);
		ikd_count_failure(d, t->site, ikd_failure_of(notify));
		tunnel_down(t, why);
		return;
	}
	if (rc == IKE_AUTH_DONE_NO_CHILD) {
		snprintf(why, sizeof(why), "the POP refused the Child SA: %s%s%.100s",
			 ike_notify_name(notify),
			 notify == IKE_N_NO_PROPOSAL_CHOSEN ? "; we offered " : "",
			 notify == IKE_N_NO_PROPOSAL_CHOSEN && s ? s->esp_proposals : "");
		tlog_err(t->d, "site '%s' pop '%s': %s; the IKE SA is kept, the Child SA asked for again "
			"later", t->site, t->pop, why);
		ikd_count_failure(d, t->site, ikd_failure_of(notify));
		tunnel_established(t, &c, false, false);
		tunnel_error(t, why);
		return;
	}
	tunnel_established(t, &c, true, false);
	ike_child_clear(&c);
}
