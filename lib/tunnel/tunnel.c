/*
 * A tunnel's life: one IKE SA with one peer, made, checked, retransmitted, torn down and
 * tried again; its timers; its configuration from the site (tunnel_int.h says who owns the
 * rest).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
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

const char *tun_state_name(enum tun_state s)
{
	switch (s) {
	case TUN_IDLE: return "connecting";
	case TUN_INIT: return "ike-sa-init";
	case TUN_AUTH: return "ike-auth";
	case TUN_UP: return "up";
	case TUN_DELETING: return "deleting";
	}
	return "?";
}

/* ---- up, through the io: log lines, events and counters ---- */

void tun_logf(struct ikd *d, int priority, bool from_peer, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!tlog_enabled(d, priority))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	d->io->log(d->io_arg, priority, from_peer, line);
}

void ikd_event(struct ikd *d, const char *site, const char *pop, const char *event,
	       const char *fmt, ...)
{
	char detail[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	d->io->event(d->io_arg, site, pop, event, detail);
}

void ikd_count(struct ikd *d, const char *site, enum ctl_sm what)
{
	d->io->count(d->io_arg, site, what);
}

void ikd_count_failure(struct ikd *d, const char *site, enum ctl_hs_fail why)
{
	d->stats.hs_failed[why]++;
	ikd_count(d, site, CTL_SM_HS_FAILURES);
}

enum ctl_hs_fail ikd_failure_of(uint16_t notify)
{
	switch (notify) {
	case IKE_N_AUTHENTICATION_FAILED:
		return CTL_HS_AUTH_FAILED;
	case IKE_N_NO_PROPOSAL_CHOSEN:
		return CTL_HS_NO_PROPOSAL;
	case IKE_N_TS_UNACCEPTABLE:
		return CTL_HS_TS_UNACCEPTABLE;
	case IKE_N_INVALID_KE_PAYLOAD:
		return CTL_HS_INVALID_KE;
	default:
		return CTL_HS_OTHER;
	}
}

int ikd_tunnels_init(struct ikd *d)
{
	return tix_init(d);
}

/* ---- tunnels ---- */

static void retx_fire(struct timer *tm);
static void dpd_fire(struct timer *tm);
static void keepalive_fire(struct timer *tm);
static void dead_fire(struct timer *tm);

/* Our SPI of an IKE SA: what the peer's messages on it carry for us. */
const uint8_t *tun_sa_spi_ours(const struct ike_sa *sa)
{
	return sa->k.initiator ? sa->k.spi_i : sa->k.spi_r;
}

struct tunnel *tunnel_new(struct ikd *d, bool initiator, const char *site, const char *pop)
{
	struct tunnel *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->d = d;
	t->initiator = initiator;
	t->site = tun_text_get(d, site);
	t->pop = tun_text_get(d, pop);
	if (!t->site || !t->pop) {
		tun_text_put(d, t->site);
		tun_text_put(d, t->pop);
		free(t);
		return NULL;
	}
	ike_writer_init(&t->pending, IKE_MAX_MSG_LEN);
	timer_init(&t->t_retx, retx_fire);
	timer_init(&t->t_dpd, dpd_fire);
	timer_init(&t->t_keepalive, keepalive_fire);
	timer_init(&t->t_reconnect, tun_reconnect_fire);
	timer_init(&t->t_half, tun_half_fire);
	timer_init(&t->t_rekey, tun_rekey_fire);
	timer_init(&t->t_extras, tun_extras_fire);
	timer_init(&t->t_dead, dead_fire);
	t->reconnect_s = d->conf.reconnect_min_s;
	if (tix_tunnel_add(d, t) < 0) {
		ike_writer_clear(&t->pending);
		tun_text_put(d, t->site);
		tun_text_put(d, t->pop);
		free(t);
		return NULL;
	}
	return t;
}

static void tunnel_cancel_timers(struct tunnel *t)
{
	struct timer_heap *h = t->d->timers;

	timer_cancel(h, &t->t_retx);
	timer_cancel(h, &t->t_dpd);
	timer_cancel(h, &t->t_keepalive);
	timer_cancel(h, &t->t_reconnect);
	timer_cancel(h, &t->t_half);
	timer_cancel(h, &t->t_rekey);
	timer_cancel(h, &t->t_extras);
	timer_cancel(h, &t->t_dead);
}

/* The parsed proposals of a site's text, shared; NULL (logged) when they do not parse. */
static struct tun_props *props_get(struct ikd *d, const struct site *s)
{
	struct tun_props *p;
	struct ike_pld_sa esp;
	const char *bad;

	for (p = d->props; p; p = p->next)
		if (!strcmp(p->ike_text, s->ike_proposals) && !strcmp(p->esp_text, s->esp_proposals)) {
			p->refs++;
			return p;
		}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	if (ike_proposals_parse(s->ike_proposals, IKE_PROTO_IKE, &p->ike, &bad) < 0 ||
	    ike_proposals_parse(s->esp_proposals, IKE_PROTO_ESP, &esp, &bad) < 0) {
		tlog_err(d, "site '%s': proposals: %s", s->name, bad);
		free(p);
		return NULL;
	}
	p->ike_text = strdup(s->ike_proposals);
	p->esp_text = strdup(s->esp_proposals);
	if (!p->ike_text || !p->esp_text) {
		free(p->ike_text);
		free(p->esp_text);
		free(p);
		return NULL;
	}
	ike_proposals_strip_dh(&esp, &p->esp);
	p->pfs_group = ike_proposals_group(&esp);
	p->ike_group = ike_proposals_group(&p->ike);
	p->refs = 1;
	p->next = d->props;
	d->props = p;
	return p;
}

static void props_put(struct ikd *d, struct tun_props *p)
{
	if (!p || --p->refs)
		return;
	for (struct tun_props **pp = &d->props; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	free(p->ike_text);
	free(p->esp_text);
	free(p);
}


void tun_pending_release(struct tunnel *t)
{
	ike_writer_clear(&t->pending);
	ike_writer_init(&t->pending, IKE_MAX_MSG_LEN);
}

/* The handshake's state (nonces, DH, messages) lives only while a handshake runs. */
struct ike_init *tun_init_new(struct tunnel *t)
{
	if (!t->init) {
		struct tun_init *ti = calloc(1, sizeof(*ti));

		t->init = ti ? &ti->st : NULL;
	}
	return t->init;
}

void tun_init_drop(struct tunnel *t)
{
	struct tun_init *ti;

	if (!t->init)
		return;
	ti = tun_init_of(t);
	/* A job still out is the io's: it comes back to ikd_job_done(), which frees it. */
	if (ti->job)
		ti->job->owner = NULL;
	while (ti->held) {
		struct tun_held *h = ti->held;

		ti->held = h->next;
		free(h);
	}
	ike_init_clear(&ti->st);
	free(ti);
	t->init = NULL;
}

/* Take the Child SA at i out of the list (its kernel state is the caller's business). */
void tun_child_unlist(struct tunnel *t, size_t i)
{
	tix_child_del(t->d, t, t->children[i].spi_in);
	tix_child_del(t->d, t, t->children[i].spi_out);
	if (child_ts_heap(&t->children[i]))
		free(t->children[i].ts_.heap);
	t->children[i] = t->children[--t->n_children];
	/* A tunnel with none (a POP that refused it, a kernel without ESP) keeps no array. */
	if (!t->n_children) {
		free(t->children);
		t->children = NULL;
		t->cap_children = 0;
	}
}

/* What went wrong last, for `site show` (NULL: nothing). */
void tunnel_error(struct tunnel *t, const char *why)
{
	char buf[201];

	tun_text_put(t->d, t->last_error);
	t->last_error = NULL;
	if (why) {
		snprintf(buf, sizeof(buf), "%.200s", why);
		t->last_error = tun_text_get(t->d, buf);
	}
}

/* What only a rekey needs goes when no rekey needs it. */
void tunnel_trim(struct tunnel *t)
{
	if (!t->n_pend) {
		free(t->pend);
		t->pend = NULL;
	}
	if (!t->n_extras) {
		free(t->extras);
		t->extras = NULL;
	}
}

/* Forget the IKE SA and its Child SAs (kernel included); the tunnel itself stays. */
void tunnel_reset(struct tunnel *t)
{
	struct ikd *d = t->d;

	for (size_t i = 0; i < t->n_children; i++)
		kernel_child_remove(d, t, &t->children[i]);
	for (size_t i = 0; !t->initiator && i < t->n_children; i++)
		kernel_child_policies(d, t, &t->children[i], NULL, true);
	while (t->n_children)
		tun_child_unlist(t, t->n_children - 1);
	free(t->children);
	t->children = NULL;
	t->cap_children = 0;
	tunnel_cancel_timers(t);
	tix_ours_del(d, t);
	tix_half_del(d, t);
	t->d->io->probe_stop(t->d->io_arg, t);
	tun_init_drop(t);
	if (t->have_sa)
		ike_sa_clear(&t->sa);
	t->have_sa = false;
	for (size_t i = 0; i < t->n_extras; i++) {
		tix_extra_del(d, t, t->extras[i].spi);
		ike_sa_clear(&t->extras[i].sa);
	}
	t->n_extras = 0;
	while (t->n_pend)
		tun_pend_drop(t, 0);
	tunnel_trim(t);
	t->n_queue = 0;
	t->inflight = 0;
	secret_clear(&t->psk);
	t->pending.len = 0;
	t->state = TUN_IDLE;
	t->tries = 0;
	t->dpd_missed = 0;
}

void tunnel_free(struct tunnel *t)
{
	struct ikd *d = t->d;

	tunnel_reset(t);
	props_put(d, t->props);
	tunnel_error(t, NULL);
	ike_writer_clear(&t->pending);
	tix_tunnel_del(d, t);
	tun_text_put(d, t->site);
	tun_text_put(d, t->pop);
	sodium_memzero(t, sizeof(*t));
	free(t);
}

/* One of t's messages out through sock to the peer at to, from local (unset: the route's). */
static void send_via(struct tunnel *t, struct net_sock *sock, const union net_addr *to,
		     const union net_addr *local, const struct ike_writer *w)
{
	int rc = t->d->io->send(t->d->io_arg, sock, w->buf, w->len, to,
				local->sa.sa_family ? local : NULL);

	t->d->stats.tx++;
	t->last_sent_ms = ikd_now(t->d);
	if (rc < 0)
		tlog_debug(t->d, "site '%s': send: %s", t->site, strerror(-rc));
}

/*
 * A response goes to the address and port the request came from, from the one it came to
 * (RFC 7296 §2.11): an old IKE SA's request (a POP's reauthentication deletes the old one
 * from its old ports) is answered there, not at the tunnel's current endpoints.
 */
void tun_send_reply(struct tunnel *t, struct net_sock *ns, const struct net_dgram *dg,
		    const struct ike_writer *w)
{
	send_via(t, ns, &dg->from, &dg->local, w);
}

void tun_send_msg(struct tunnel *t, const struct ike_writer *w)
{
	send_via(t, t->sock, &t->remote, &t->local, w);
}

/*
 * The next transmission of our request: retransmit-timeout, doubling each time (RFC 7296
 * §2.1). On an IKE SA that is checked for liveness the gap stops growing at the check
 * interval, so each of the dpd-misses silent intervals after which dead_fire() declares the
 * peer dead held a transmission: a lossy path is not taken for a dead peer after two or three
 * of them.
 */
void tun_arm_retx(struct tunnel *t)
{
	uint64_t base = t->d->conf.retransmit_base_ms;
	uint64_t delay = base << (t->tries < 16 ? t->tries : 16);
	uint64_t ival_ms = t->state == TUN_UP ?
			   (uint64_t)tun_dpd_interval(t, ikd_site(t->d, t->site)) * 1000 : 0;

	if (ival_ms && delay > ival_ms)
		delay = ival_ms;
	/* Our handshake towards a POP: a steady pace, so a POP back from the dark hears it soon. */
	if (t->initiator && (t->state == TUN_INIT || t->state == TUN_AUTH) &&
	    delay > (base > HANDSHAKE_RETX_MAX_MS ? base : HANDSHAKE_RETX_MAX_MS))
		delay = base > HANDSHAKE_RETX_MAX_MS ? base : HANDSHAKE_RETX_MAX_MS;
	timer_arm(t->d->timers, &t->t_retx, ikd_now(t->d) + delay);
}

const char *tun_peer_str(const struct tunnel *t, char *buf, size_t len)
{
	if (t->initiator)
		snprintf(buf, len, "pop '%s'", t->pop);
	else
		net_addr_str(&t->remote, buf, len);
	return buf;
}


/* The tunnel failed or the peer went away: initiators try again after a back-off. */
void tunnel_down(struct tunnel *t, const char *why)
{
	struct ikd *d = t->d;
	const struct site *s = ikd_site(d, t->site);
	char peer[80];
	bool was_up = t->state == TUN_UP;

	tunnel_error(t, why);
	if (was_up) {
		tlog_notice(t->d, "site '%s' %s: tunnel down: %s", t->site, tun_peer_str(t, peer, sizeof(peer)),
			   why);
		ikd_event(d, t->site, t->initiator ? t->pop : peer, "down", "%s", why);
	}
	tunnel_reset(t);
	if (!t->initiator || d->stopping || t->farewell) {
		tunnel_free(t);
		return;
	}
	/*
	 * A POP that refused us (or a failure of ours) is tried again with a back-off that
	 * doubles; a POP that did not answer at all is tried at the minimum: each attempt is a
	 * handful of IKE_SA_INIT datagrams at most HANDSHAKE_RETX_MAX_MS apart, no flood, and
	 * it finds a POP that comes back within seconds, whatever the outage lasted.
	 */
	if (t->silent)
		t->reconnect_s = d->conf.reconnect_min_s;
	timer_arm(d->timers, &t->t_reconnect,
		  ikd_now(t->d) + (uint64_t)t->reconnect_s * 1000 + randombytes_uniform(1000));
	if (!t->silent)
		t->reconnect_s = t->reconnect_s * 2 > d->conf.reconnect_max_s ?
				 d->conf.reconnect_max_s : t->reconnect_s * 2;
	t->silent = false;
	/* Up or not: a site waiting for its primary need not wait for a handshake that failed. */
	if (s)
		tun_site_reevaluate(d, s);
}

/* How often this tunnel checks its peer: an edge router watches its POPs closely. */
uint32_t tun_dpd_interval(const struct tunnel *t, const struct site *s)
{
	if (t->initiator)
		return t->d->conf.dpd_interval_s;
	return s ? s->dpd_interval_s : 0;
}

/*
 * How long the peer may still be retransmitting a request we answered (its IKE or Child SA
 * rekey whose answer was lost), with timers of its own that may be longer than ours: our own
 * retransmission span, and at least a dead-peer window. An IKE SA beside the current one is
 * kept that long (a message on it keeps it that long again), and so is the outbound half of the
 * peer's Child SA rekey held back until the peer shows it has our answer.
 */
uint64_t tun_peer_window_ms(const struct tunnel *t)
{
	const struct ikd *d = t->d;
	uint64_t own = (uint64_t)d->conf.retransmit_base_ms *
		((1u << (d->conf.retransmit_tries < 16 ? d->conf.retransmit_tries : 16)) + 8);
	uint64_t dead = (uint64_t)tun_dpd_interval(t, ikd_site(t->d, t->site)) * d->conf.dpd_misses *
			1000;

	return own > dead ? own : dead;
}

/* The peer spoke (an authenticated message): the peer-dead deadline moves. */
void tun_heard(struct tunnel *t)
{
	const struct site *s = ikd_site(t->d, t->site);
	uint32_t ival = tun_dpd_interval(t, s);

	t->last_heard_ms = ikd_now(t->d);
	if (ival && t->state == TUN_UP)
		timer_arm(t->d->timers, &t->t_dead,
			  t->last_heard_ms + (uint64_t)ival * t->d->conf.dpd_misses * 1000);
}

/* ---- identities, selectors, configuration from a site ---- */

int tun_id_from_text(uint8_t type, const char *text, uint8_t *buf, size_t cap,
		     struct ike_pld_id *ret)
{
	size_t n = strlen(text);

	memset(ret, 0, sizeof(*ret));
	ret->type = type;
	if (type == IKE_ID_IPV4_ADDR || type == IKE_ID_IPV6_ADDR) {
		int fam = type == IKE_ID_IPV4_ADDR ? AF_INET : AF_INET6;

		if (inet_pton(fam, text, buf) != 1)
			return -EINVAL;
		n = fam == AF_INET ? 4 : 16;
	} else {
		if (n == 0 || n > cap)
			return -EINVAL;
		memcpy(buf, text, n);
	}
	ret->data = buf;
	ret->len = n;
	return 0;
}

/* An identity in text whose type is inferred: an address, an email (with @), else an FQDN. */
int tun_id_infer(const char *text, uint8_t *buf, size_t cap, struct ike_pld_id *ret)
{
	uint8_t tmp[16];

	if (inet_pton(AF_INET, text, tmp) == 1)
		return tun_id_from_text(IKE_ID_IPV4_ADDR, text, buf, cap, ret);
	if (inet_pton(AF_INET6, text, tmp) == 1)
		return tun_id_from_text(IKE_ID_IPV6_ADDR, text, buf, cap, ret);
	return tun_id_from_text(strchr(text, '@') ? IKE_ID_RFC822_ADDR : IKE_ID_FQDN, text, buf, cap,
			    ret);
}

static int ts_from_cidrs(const char *const *cidrs, size_t n, struct ike_pld_ts *ret)
{
	memset(ret, 0, sizeof(*ret));
	for (size_t i = 0; i < n && ret->n < IKE_MAX_TS; i++) {
		char buf[SITE_ADDR_MAX + 4];
		uint8_t addr[16];
		char *slash;
		int fam;
		long plen;

		snprintf(buf, sizeof(buf), "%s", cidrs[i]);
		slash = strchr(buf, '/');
		if (slash)
			*slash = '\0';
		fam = strchr(buf, ':') ? AF_INET6 : AF_INET;
		if (inet_pton(fam, buf, addr) != 1)
			return -EINVAL;
		plen = slash ? strtol(slash + 1, NULL, 10) : (fam == AF_INET ? 32 : 128);
		ike_ts_from_prefix(&ret->ts[ret->n++], fam, addr, (unsigned)plen);
	}
	return ret->n ? 0 : -EINVAL;
}

/*
 * What a Child SA of the tunnel proposes and accepts: the site's proposals and selectors from
 * this side's point of view. Made when needed (IKE_AUTH, CREATE_CHILD_SA), not kept.
 */
int tun_child_cfg_of(const struct tunnel *t, const struct site *s, struct ike_child_cfg *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (!s || !t->props)
		return -ENOENT;
	ret->proposals = &t->props->esp;
	if (t->initiator || t->pop_reauth)
		return ts_from_cidrs(s->local_ts, s->n_local_ts, &ret->local) ?:
		       ts_from_cidrs(s->remote_ts, s->n_remote_ts, &ret->remote);
	return ts_from_cidrs(s->remote_ts, s->n_remote_ts, &ret->local) ?:
	       ts_from_cidrs(s->local_ts, s->n_local_ts, &ret->remote);
}

int tunnel_config(struct tunnel *t, const struct site *s)
{
	struct tun_props *p = props_get(t->d, s);
	struct ike_child_cfg child;

	if (!p)
		return -EINVAL;
	props_put(t->d, t->props);
	t->props = p;
	t->pfs_group = p->pfs_group;
	t->ike_group = p->ike_group;
	if (tun_child_cfg_of(t, s, &child) < 0)
		return -EINVAL;
	t->reqid = kernel_reqid(t->d, s);
	return 0;
}

void tun_endpoint_of(const union net_addr *a, struct ike_endpoint *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (a->sa.sa_family == AF_INET) {
		memcpy(ret->addr, &a->in.sin_addr, 4);
		ret->addr_len = 4;
		ret->port = ntohs(a->in.sin_port);
	} else {
		memcpy(ret->addr, &a->in6.sin6_addr, 16);
		ret->addr_len = 16;
		ret->port = ntohs(a->in6.sin6_port);
	}
}

void tun_set_port(union net_addr *a, uint16_t port)
{
	if (a->sa.sa_family == AF_INET)
		a->in.sin_port = htons(port);
	else
		a->in6.sin6_port = htons(port);
}

struct net_sock *tun_sock_for(struct ikd *d, int family, bool natt)
{
	struct net_sock *s = &d->socks[(family == AF_INET6 ? 2 : 0) + (natt ? 1 : 0)];

	return s->fd >= 0 ? s : NULL;
}

/* ---- timers ---- */

static void retx_fire(struct timer *tm)
{
	struct tunnel *t = timer_owner(tm, struct tunnel, t_retx);
	struct ikd *d = t->d;
	char why[128], peer[80];

	t->tries++;
	/* A peer checked for liveness is declared dead by dead_fire(), not by a count. */
	if (t->tries >= d->conf.retransmit_tries &&
	    !(t->state == TUN_UP && tun_dpd_interval(t, ikd_site(d, t->site)))) {
		snprintf(why, sizeof(why), "%s: no answer after %u transmissions",
			 t->state == TUN_INIT ? "IKE_SA_INIT" : t->state == TUN_AUTH ? "IKE_AUTH" :
			 "peer dead", t->tries);
		if (t->state == TUN_UP)
			tlog_warn(t->d, "site '%s' %s: %s", t->site, tun_peer_str(t, peer, sizeof(peer)), why);
		else
			tlog_info(t->d, "site '%s' %s: %s", t->site, tun_peer_str(t, peer, sizeof(peer)), why);
		if (t->state == TUN_INIT || t->state == TUN_AUTH)
			ikd_count_failure(d, t->site, CTL_HS_TIMEOUT);
		t->silent = t->state == TUN_INIT || t->state == TUN_AUTH;
		tunnel_down(t, why);
		return;
	}
	if (t->state == TUN_UP || t->state == TUN_DELETING) {
		if (ike_sa_retransmit(&t->sa, &d->out) < 0) {
			tlog_debug(t->d, "site '%s': message %u not sent again: nothing to retransmit",
				  t->site, t->sa.next_req - 1);
			return;
		}
		tun_send_msg(t, &d->out);
		tlog_debug(t->d, "site '%s': %s sent again (%u), message %u", t->site,
			  tun_req_name(t->inflight), t->tries, t->sa.next_req - 1);
	} else {
		tun_send_msg(t, &t->pending);
	}
	tun_arm_retx(t);
}

/*
 * The current IKE SA came from the peer's rekey, and the peer has not used it yet: our answer
 * may have been lost, and then the peer knows only the old SA and retransmits its rekey there
 * at its own pace (seconds apart). Until it speaks on the new SA, the old one, kept for the
 * peer to delete, is checked too, once per interval: else a lossy path looks like a dead peer.
 */
static void dpd_old_sa(struct tunnel *t)
{
	const struct ike_sa *cur = &t->sa;

	if (cur->peer_next > 0 || cur->next_req > 1 || (cur->next_req == 1 && !cur->waiting))
		return;
	for (size_t i = 0; i < t->n_extras; i++) {
		struct extra_sa *e = &t->extras[i];

		if (e->ours_to_delete || e->peer_new)
			continue;
		if ((e->sa.waiting ? ike_sa_retransmit(&e->sa, &t->d->out) :
				     ike_sa_dpd_request(&e->sa, &t->d->out)) == 0)
			tun_send_msg(t, &t->d->out);
	}
}

static void dpd_fire(struct timer *tm)
{
	struct tunnel *t = timer_owner(tm, struct tunnel, t_dpd);
	struct ikd *d = t->d;
	const struct site *s = ikd_site(d, t->site);

	if (!s || t->state != TUN_UP)
		return;
	/* A miss: our last request is unanswered and the peer has been silent an interval. */
	if (t->sa.waiting &&
	    ikd_now(t->d) - t->last_heard_ms >= (uint64_t)tun_dpd_interval(t, s) * 1000)
		ikd_count(d, t->site, CTL_SM_DPD_MISSES);
	/* A request already out is a liveness check too. */
	if (!t->sa.waiting && t->n_queue == 0) {
		tun_enqueue(t, REQ_DPD, 0);
		tun_kick(t);
	}
	dpd_old_sa(t);
	if (t->probe)
		tun_probe_tick(t, s);
	timer_arm(d->timers, &t->t_dpd, ikd_now(t->d) + (uint64_t)tun_dpd_interval(t, s) * 1000);
}

static void dead_fire(struct timer *tm)
{
	struct tunnel *t = timer_owner(tm, struct tunnel, t_dead);
	char why[96], peer[80];

	if (t->state != TUN_UP)
		return;
	snprintf(why, sizeof(why), "peer dead: nothing heard for %.1f s",
		 (double)(ikd_now(t->d) - t->last_heard_ms) / 1000);
	tlog_warn(t->d, "site '%s' %s: %s", t->site, tun_peer_str(t, peer, sizeof(peer)), why);
	tunnel_down(t, why);
}

static void keepalive_fire(struct timer *tm)
{
	struct tunnel *t = timer_owner(tm, struct tunnel, t_keepalive);
	struct ikd *d = t->d;

	if (t->state != TUN_UP || !t->sock || !t->sock->natt)
		return;
	/* RFC 3948 §2.3, only when nothing else went out lately. */
	if (ikd_now(t->d) - t->last_sent_ms >= (uint64_t)d->conf.keepalive_s * 1000)
		t->d->io->send_keepalive(t->d->io_arg, t->sock, &t->remote, &t->local);
	timer_arm(d->timers, &t->t_keepalive,
		  ikd_now(t->d) + (uint64_t)d->conf.keepalive_s * 1000);
}
