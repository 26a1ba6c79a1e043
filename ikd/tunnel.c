/*
 * The daemon's tunnels: one IKE SA each, to a POP (role initiator) or from a site (role
 * responder). This file feeds datagrams and timer expiries to lib/ike's machines and does
 * what they ask: send, retransmit, install Child SAs, switch a site's outbound policy.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "ikd.h"
#include "site/choose.h"
#include "ike/fragment.h"
#include "ike/proposal.h"
#include "ike/sk_msg.h"
#include "ike/ts.h"
#include "log.h"

static struct log_ratelimit rl_peer = LOG_RATELIMIT_INIT(10000, 20);

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

/* Lines a remote peer can cause are rate limited. */
#define peer_log(prio, ...) do { \
	unsigned sup_; \
	if (log_ratelimit_ok(&rl_peer, timer_now_ms(), &sup_)) { \
		if (sup_) \
			log_warn("%u similar lines suppressed", sup_); \
		log_msg(prio, __VA_ARGS__); \
	} \
} while (0)

int ikd_tunnels_init(struct ikd *d)
{
	return tix_init(d);
}

/* ---- the sites by name ---- */

const struct site *ikd_site(struct ikd *d, const char *name)
{
	ssize_t at;

	if (d->names_stale) {
		site_index_clear(&d->names);
		for (size_t i = 0; i < d->db.n_sites; i++)
			if (site_index_add(&d->names, d->db.sites, d->db.n_sites, i) < 0) {
				site_index_clear(&d->names);
				return site_db_find(&d->db, name);	/* no memory: the slow way */
			}
		d->names_stale = false;
	}
	if (!d->names.slots)
		return NULL;
	at = site_index_find(&d->names, d->db.sites, name);
	return at < 0 ? NULL : &d->db.sites[at];
}

void ikd_sites_changed(struct ikd *d)
{
	d->names_stale = true;
	d->resp_props_stale = true;
	d->ids_stale = true;
}

/* ---- per-site runtime: the active POP, fallback hold-down ---- */

struct site_rt {
	char name[SITE_NAME_MAX];
	char active[SITE_NAME_MAX];
	uint64_t failovers;
	struct site_choice choice;	/* lib/site/choose.c: which POP, and its memory */
	struct timer t_fallback;	/* when the choice wants to be asked again */
	struct ikd *d;
	bool policies;
	struct site pol;	/* the record the policies were made from (its key left out) */
};

static struct site_rt **rts;
static size_t n_rts;

static void fallback_fire(struct timer *t, void *arg);

static struct site_rt *site_rt_get(struct ikd *d, const char *name, bool create)
{
	struct site_rt *r, **v;

	for (size_t i = 0; i < n_rts; i++)
		if (!strcmp(rts[i]->name, name))
			return rts[i];
	if (!create)
		return NULL;
	r = calloc(1, sizeof(*r));
	v = r ? realloc(rts, (n_rts + 1) * sizeof(*rts)) : NULL;
	if (!v) {
		free(r);
		return NULL;
	}
	rts = v;
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->d = d;
	site_choice_init(&r->choice);
	timer_init(&r->t_fallback, fallback_fire, r);
	rts[n_rts++] = r;
	return r;
}

static void site_rt_drop(struct ikd *d, const char *name)
{
	for (size_t i = 0; i < n_rts; i++)
		if (!strcmp(rts[i]->name, name)) {
			timer_cancel(&d->loop.timers, &rts[i]->t_fallback);
			free(rts[i]);
			rts[i] = rts[--n_rts];
			return;
		}
}

/* ---- tunnels ---- */

static void retx_fire(struct timer *tm, void *arg);
static void dpd_fire(struct timer *tm, void *arg);
static void keepalive_fire(struct timer *tm, void *arg);
static void reconnect_fire(struct timer *tm, void *arg);
static void half_fire(struct timer *tm, void *arg);
static void pend_install(struct tunnel *t, size_t i);
static void pend_drop(struct tunnel *t, size_t i);
static void rekey_fire(struct timer *tm, void *arg);
static void extras_fire(struct timer *tm, void *arg);
static void dead_fire(struct timer *tm, void *arg);
static int cc_install(void *arg, const struct ike_child *c, uint32_t old_spi_in);
static int child_install_new(struct tunnel *t, const struct ike_child *c, uint32_t old_spi_in,
			     char *err, size_t err_len);
static void child_forget(struct tunnel *t, uint32_t spi, bool by_in);
static bool tun_enqueue(struct tunnel *t, uint8_t kind, uint32_t spi);

/* Our SPI of an IKE SA: what the peer's messages on it carry for us. */
static const uint8_t *sa_spi_ours(const struct ike_sa *sa)
{
	return sa->k.initiator ? sa->k.spi_i : sa->k.spi_r;
}

static struct tunnel *tunnel_new(struct ikd *d, bool initiator, const char *site, const char *pop)
{
	struct tunnel *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->d = d;
	t->initiator = initiator;
	snprintf(t->site, sizeof(t->site), "%s", site);
	snprintf(t->pop, sizeof(t->pop), "%s", pop);
	ike_writer_init(&t->pending, IKE_MAX_MSG_LEN);
	timer_init(&t->t_retx, retx_fire, t);
	timer_init(&t->t_dpd, dpd_fire, t);
	timer_init(&t->t_keepalive, keepalive_fire, t);
	timer_init(&t->t_reconnect, reconnect_fire, t);
	timer_init(&t->t_half, half_fire, t);
	timer_init(&t->t_rekey, rekey_fire, t);
	timer_init(&t->t_extras, extras_fire, t);
	timer_init(&t->t_dead, dead_fire, t);
	t->reconnect_s = d->conf.reconnect_min_s;
	if (tix_tunnel_add(d, t) < 0) {
		ike_writer_clear(&t->pending);
		free(t);
		return NULL;
	}
	return t;
}

static void tunnel_cancel_timers(struct tunnel *t)
{
	struct timer_heap *h = &t->d->loop.timers;

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
		log_err("site '%s': proposals: %s", s->name, bad);
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

/*
 * The IKE_SA_INIT or IKE_AUTH message kept for retransmission goes once it cannot be asked
 * for again: the initiator's when the SA is up; the responder's IKE_AUTH answer when the
 * peer shows it has it (any message on the SA) or after PENDING_KEEP_MS.
 */
#define PENDING_KEEP_MS 60000

static void pending_release(struct tunnel *t)
{
	ike_writer_clear(&t->pending);
	ike_writer_init(&t->pending, IKE_MAX_MSG_LEN);
}

/* The handshake's state (nonces, DH, messages) lives only while a handshake runs. */
static struct ike_init *init_new(struct tunnel *t)
{
	if (!t->init)
		t->init = calloc(1, sizeof(*t->init));
	return t->init;
}

static void init_drop(struct tunnel *t)
{
	if (!t->init)
		return;
	ike_init_clear(t->init);
	free(t->init);
	t->init = NULL;
}

/* Take the Child SA at i out of the list (its kernel state is the caller's business). */
static void child_unlist(struct tunnel *t, size_t i)
{
	tix_child_del(t->d, t, t->children[i].spi_in);
	tix_child_del(t->d, t, t->children[i].spi_out);
	free(t->children[i].ts);
	t->children[i] = t->children[--t->n_children];
}

/* What went wrong last, for `site show` (NULL: nothing). */
static void tunnel_error(struct tunnel *t, const char *why)
{
	char buf[201];

	free(t->last_error);
	t->last_error = NULL;
	if (why) {
		snprintf(buf, sizeof(buf), "%.200s", why);
		t->last_error = strdup(buf);
	}
}

/* What only a rekey needs goes when no rekey needs it. */
static void tunnel_trim(struct tunnel *t)
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
static void tunnel_reset(struct tunnel *t)
{
	struct ikd *d = t->d;

	for (size_t i = 0; i < t->n_children; i++)
		kernel_child_remove(d, t, &t->children[i]);
	if (!t->initiator && t->n_children) {
		const struct site *s = ikd_site(d, t->site);

		for (size_t i = 0; s && i < t->n_children; i++)
			kernel_child_policies(d, t, &t->children[i], s, true);
	}
	while (t->n_children)
		child_unlist(t, t->n_children - 1);
	free(t->children);
	t->children = NULL;
	t->cap_children = 0;
	tunnel_cancel_timers(t);
	tix_ours_del(d, t);
	tix_half_del(d, t);
	probe_stop(t);
	init_drop(t);
	if (t->have_sa)
		ike_sa_clear(&t->sa);
	t->have_sa = false;
	for (size_t i = 0; i < t->n_extras; i++) {
		tix_extra_del(d, t, t->extras[i].spi);
		ike_sa_clear(&t->extras[i].sa);
	}
	t->n_extras = 0;
	while (t->n_pend)
		pend_drop(t, 0);
	tunnel_trim(t);
	t->n_queue = 0;
	t->inflight = 0;
	secret_clear(&t->psk);
	t->pending.len = 0;
	t->state = TUN_IDLE;
	t->tries = 0;
	t->dpd_missed = 0;
}

static void tunnel_free(struct tunnel *t)
{
	struct ikd *d = t->d;

	tunnel_reset(t);
	props_put(d, t->props);
	tunnel_error(t, NULL);
	ike_writer_clear(&t->pending);
	tix_tunnel_del(d, t);
	sodium_memzero(t, sizeof(*t));
	free(t);
}

static void send_msg(struct tunnel *t, const struct ike_writer *w)
{
	int rc = net_send(t->sock, w->buf, w->len, &t->remote,
			  t->local.sa.sa_family ? &t->local : NULL);

	t->d->stats.tx++;
	t->last_sent_ms = timer_now_ms();
	if (rc < 0)
		log_debug("site '%s': send: %s", t->site, strerror(-rc));
}

static uint32_t dpd_interval(const struct tunnel *t, const struct site *s);

#define HANDSHAKE_RETX_MAX_MS 2000

/*
 * The next transmission of our request: retransmit-timeout, doubling each time (RFC 7296
 * §2.1). On an IKE SA that is checked for liveness the gap stops growing at the check
 * interval, so each of the dpd-misses silent intervals after which dead_fire() declares the
 * peer dead held a transmission: a lossy path is not taken for a dead peer after two or three
 * of them.
 */
static void arm_retx(struct tunnel *t)
{
	uint64_t base = t->d->conf.retransmit_base_ms;
	uint64_t delay = base << (t->tries < 16 ? t->tries : 16);
	uint64_t ival_ms = t->state == TUN_UP ?
			   (uint64_t)dpd_interval(t, ikd_site(t->d, t->site)) * 1000 : 0;

	if (ival_ms && delay > ival_ms)
		delay = ival_ms;
	/* Our handshake towards a POP: a steady pace, so a POP back from the dark hears it soon. */
	if (t->initiator && (t->state == TUN_INIT || t->state == TUN_AUTH) &&
	    delay > (base > HANDSHAKE_RETX_MAX_MS ? base : HANDSHAKE_RETX_MAX_MS))
		delay = base > HANDSHAKE_RETX_MAX_MS ? base : HANDSHAKE_RETX_MAX_MS;
	timer_arm(&t->d->loop.timers, &t->t_retx, timer_now_ms() + delay);
}

static const char *peer_str(const struct tunnel *t, char *buf, size_t len)
{
	if (t->initiator)
		snprintf(buf, len, "pop '%s'", t->pop);
	else
		net_addr_str(&t->remote, buf, len);
	return buf;
}

static struct tunnel *site_active_tunnel(struct ikd *d, const struct site *s);
static void site_reevaluate(struct ikd *d, const struct site *s);

/* The tunnel failed or the peer went away: initiators try again after a back-off. */
static void tunnel_down(struct tunnel *t, const char *why)
{
	struct ikd *d = t->d;
	const struct site *s = ikd_site(d, t->site);
	char peer[80];
	bool was_up = t->state == TUN_UP;

	tunnel_error(t, why);
	if (was_up) {
		log_notice("site '%s' %s: tunnel down: %s", t->site, peer_str(t, peer, sizeof(peer)),
			   why);
		ikd_event(d, t->site, t->initiator ? t->pop : peer, "down", "%s", why);
	}
	tunnel_reset(t);
	if (!t->initiator) {
		tunnel_free(t);
		return;
	}
	t->failures++;
	/*
	 * A POP that refused us (or a failure of ours) is tried again with a back-off that
	 * doubles; a POP that did not answer at all is tried at the minimum: each attempt is a
	 * handful of IKE_SA_INIT datagrams at most HANDSHAKE_RETX_MAX_MS apart, no flood, and
	 * it finds a POP that comes back within seconds, whatever the outage lasted.
	 */
	if (t->silent)
		t->reconnect_s = d->conf.reconnect_min_s;
	timer_arm(&d->loop.timers, &t->t_reconnect,
		  timer_now_ms() + (uint64_t)t->reconnect_s * 1000 + randombytes_uniform(1000));
	if (!t->silent)
		t->reconnect_s = t->reconnect_s * 2 > d->conf.reconnect_max_s ?
				 d->conf.reconnect_max_s : t->reconnect_s * 2;
	t->silent = false;
	/* Up or not: a site waiting for its primary need not wait for a handshake that failed. */
	if (s)
		site_reevaluate(d, s);
}

/* How often this tunnel checks its peer: an edge router watches its POPs closely. */
static uint32_t dpd_interval(const struct tunnel *t, const struct site *s)
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
static uint64_t peer_window_ms(const struct tunnel *t)
{
	const struct ikd *d = t->d;
	uint64_t own = (uint64_t)d->conf.retransmit_base_ms *
		((1u << (d->conf.retransmit_tries < 16 ? d->conf.retransmit_tries : 16)) + 8);
	uint64_t dead = (uint64_t)dpd_interval(t, ikd_site(t->d, t->site)) * d->conf.dpd_misses *
			1000;

	return own > dead ? own : dead;
}

/* The peer spoke (an authenticated message): the peer-dead deadline moves. */
static void heard(struct tunnel *t)
{
	const struct site *s = ikd_site(t->d, t->site);
	uint32_t ival = dpd_interval(t, s);

	t->last_heard_ms = timer_now_ms();
	if (ival && t->state == TUN_UP)
		timer_arm(&t->d->loop.timers, &t->t_dead,
			  t->last_heard_ms + (uint64_t)ival * t->d->conf.dpd_misses * 1000);
}

/* ---- identities, selectors, configuration from a site ---- */

static int id_from_text(uint8_t type, const char *text, uint8_t *buf, size_t cap,
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
static int id_infer(const char *text, uint8_t *buf, size_t cap, struct ike_pld_id *ret)
{
	uint8_t tmp[16];

	if (inet_pton(AF_INET, text, tmp) == 1)
		return id_from_text(IKE_ID_IPV4_ADDR, text, buf, cap, ret);
	if (inet_pton(AF_INET6, text, tmp) == 1)
		return id_from_text(IKE_ID_IPV6_ADDR, text, buf, cap, ret);
	return id_from_text(strchr(text, '@') ? IKE_ID_RFC822_ADDR : IKE_ID_FQDN, text, buf, cap,
			    ret);
}

static int ts_from_cidrs(const char (*cidrs)[SITE_ADDR_MAX + 4], size_t n, struct ike_pld_ts *ret)
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
static int child_cfg_of(const struct tunnel *t, const struct site *s, struct ike_child_cfg *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (!s || !t->props)
		return -ENOENT;
	ret->proposals = &t->props->esp;
	if (t->initiator)
		return ts_from_cidrs(s->local_ts, s->n_local_ts, &ret->local) ?:
		       ts_from_cidrs(s->remote_ts, s->n_remote_ts, &ret->remote);
	return ts_from_cidrs(s->remote_ts, s->n_remote_ts, &ret->local) ?:
	       ts_from_cidrs(s->local_ts, s->n_local_ts, &ret->remote);
}

static int tunnel_config(struct tunnel *t, const struct site *s)
{
	struct tun_props *p = props_get(t->d, s);
	struct ike_child_cfg child;

	if (!p)
		return -EINVAL;
	props_put(t->d, t->props);
	t->props = p;
	t->pfs_group = p->pfs_group;
	t->ike_group = p->ike_group;
	if (child_cfg_of(t, s, &child) < 0)
		return -EINVAL;
	t->reqid = kernel_reqid(t->d, s);
	return 0;
}

static void endpoint_of(const union net_addr *a, struct ike_endpoint *ret)
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

static void set_port(union net_addr *a, uint16_t port)
{
	if (a->sa.sa_family == AF_INET)
		a->in.sin_port = htons(port);
	else
		a->in6.sin6_port = htons(port);
}

static struct net_sock *sock_for(struct ikd *d, int family, bool natt)
{
	struct net_sock *s = &d->socks[(family == AF_INET6 ? 2 : 0) + (natt ? 1 : 0)];

	return s->fd >= 0 ? s : NULL;
}

/* ---- the initiator ---- */

/*
 * The tunnel cannot even start its handshake: said at the default level once per reason (it
 * is retried with back-off, and the same reason each time is no news), then down.
 */
static void start_failed(struct tunnel *t, const char *why)
{
	if (!t->last_error || strcmp(t->last_error, why))
		log_warn("site '%s' pop '%s': cannot connect: %s (trying again with back-off)",
			 t->site, t->pop, why);
	tunnel_down(t, why);
}

/* What a tunnel is built from of its POP's record: gateway and IKE identity, or the probe IP. */
static uint64_t pop_hash(const struct pop *p, bool probe)
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

static void initiator_start(struct tunnel *t)
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
	t->pop_cfg = pop_hash(p, false);
	t->pop_probe = pop_hash(p, true);
	t->sock = sock_for(d, t->remote.sa.sa_family, false);
	if (!t->sock) {
		start_failed(t, "no IKE socket of the POP's address family");
		return;
	}
	if (s->source_ip[0] && net_addr_parse(s->source_ip, d->conf.ike_port, &t->local) == 0 &&
	    t->local.sa.sa_family == t->remote.sa.sa_family) {
		/* the site's own address */
	} else if ((rc = net_route_source(&t->remote, &t->local)) < 0) {
		char why[96];

		snprintf(why, sizeof(why), "no route to the POP's gateway: %s", strerror(-rc));
		start_failed(t, why);
		return;
	}
	set_port(&t->local, d->conf.ike_port);
	if (secret_dup(&t->psk, &s->psk) < 0) {
		start_failed(t, "out of memory");
		return;
	}
	cfg = (struct ike_init_cfg){ .proposals = &t->props->ike, .dh_group = t->props->ike_group,
				     .fragmentation = d->conf.fragmentation };
	endpoint_of(&t->local, &le);
	endpoint_of(&t->remote, &re);
	rc = init_new(t) ? ike_init_start(t->init, &cfg, &le, &re, &t->pending) : -ENOMEM;
	if (rc < 0) {
		start_failed(t, "cannot start IKE_SA_INIT");
		return;
	}
	tix_ours_add(d, t, t->init->spi_i);
	t->state = TUN_INIT;
	t->tries = 0;
	log_info("site '%s' pop '%s': connecting to %s", t->site, t->pop, p->gateway);
	send_msg(t, &t->pending);
	arm_retx(t);
}

static void reconnect_fire(struct timer *tm, void *arg)
{
	(void)tm;
	initiator_start(arg);
}

/*
 * When to rekey: the site's rekey time, a random part of rekey-jitter earlier (at most a
 * tenth of it), so that a thousand sites do not rekey in the same second.
 */
static uint64_t rekey_deadline(struct ikd *d, const struct site *s, bool ike)
{
	uint32_t base = s ? (ike ? s->ike_rekey_s : s->child_rekey_s) : 0;
	uint32_t jitter = d->conf.rekey_jitter_s < base / 10 ? d->conf.rekey_jitter_s : base / 10;
	uint64_t ms;

	if (!base)
		return UINT64_MAX;
	ms = (uint64_t)base * 1000 - (jitter ? randombytes_uniform(jitter * 1000 + 1) : 0);
	return timer_now_ms() + ms;
}

/* A Child SA into the tunnel's list (the last one); false when full or out of memory. */
static bool child_record(struct tunnel *t, const struct ike_child *c)
{
	size_t n_ts = (size_t)c->ts_local.n + c->ts_remote.n;
	struct child *ch;

	if (t->n_children == IKD_MAX_CHILDREN)
		return false;
	if (t->n_children == t->cap_children) {
		size_t cap = t->cap_children ? 2 * t->cap_children : 2;
		struct child *v = realloc(t->children, cap * sizeof(*v));

		if (!v)
			return false;
		t->children = v;
		t->cap_children = cap;
	}
	ch = &t->children[t->n_children];
	memset(ch, 0, sizeof(*ch));
	ch->ts = n_ts ? calloc(n_ts, sizeof(*ch->ts)) : NULL;
	if (n_ts && !ch->ts)
		return false;
	if (tix_child_add(t->d, t, c->spi_in) < 0) {
		free(ch->ts);
		return false;
	}
	if (tix_child_add(t->d, t, c->spi_out) < 0) {
		tix_child_del(t->d, t, c->spi_in);
		free(ch->ts);
		return false;
	}
	t->n_children++;
	ch->spi_in = c->spi_in;
	ch->spi_out = c->spi_out;
	ch->created_ms = timer_now_ms();
	ch->rekey_at_ms = rekey_deadline(t->d, ikd_site(t->d, t->site), false);
	ch->suite = c->encr->name;
	kernel_addr(&t->local, &ch->addr_local);
	kernel_addr(&t->remote, &ch->addr_remote);
	ch->n_ts_local = c->ts_local.n;
	ch->n_ts_remote = c->ts_remote.n;
	memcpy(ch->ts, c->ts_local.ts, c->ts_local.n * sizeof(ch->ts[0]));
	memcpy(ch->ts + c->ts_local.n, c->ts_remote.ts, c->ts_remote.n * sizeof(ch->ts[0]));
	return true;
}

#define REKEY_TICK_MS 2000
/* How long a rekey's collision state is kept after its last message (§2.8.1: a round trip). */
#define SETTLE_MS 30000

static uint32_t new_spi(void)
{
	/* The top bits say "ikd"; the rest is random (a collision is refused by the kernel). */
	return 0xc0000000u | (randombytes_random() & 0x3fffffffu);
}

static uint32_t cc_alloc_spi(void *arg)
{
	(void)arg;
	return new_spi();
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

static void probe_begin(struct tunnel *t, const struct site *s)
{
	char why[160], dst[64];
	int rc = probe_start(t, s, site_db_find_pop(&t->d->db, t->pop), why, sizeof(why));

	if (rc == 0)
		log_info("site '%s' pop '%s': probing %s through the tunnel", t->site, t->pop,
			 probe_dst(t->probe, dst, sizeof(dst)));
	else if (why[0])
		log_notice("site '%s' pop '%s': no ICMP probe: %s", t->site, t->pop, why);
}

/* With each liveness check: was the last echo answered? Then the next one. */
static void probe_tick(struct tunnel *t, const struct site *s)
{
	struct tun_probe *pr = t->probe;
	char dst[64];

	probe_dst(pr, dst, sizeof(dst));
	if (pr->waiting && ++pr->missed >= t->d->conf.dpd_misses && !pr->failing) {
		pr->failing = true;
		log_warn("site '%s' pop '%s': probe %s unanswered %u times: the tunnel carries no "
			 "traffic", t->site, t->pop, dst, pr->missed);
		ikd_event(t->d, t->site, t->pop, "probe-failed", "%s unanswered %u times", dst,
			  pr->missed);
		site_reevaluate(t->d, s);
	}
	/* A send the kernel refuses (no SA yet) is an echo unanswered. */
	pr->waiting = true;
	pr->sent++;
	if (probe_send(t) < 0)
		log_debug("site '%s' pop '%s': probe to %s not sent", t->site, t->pop, dst);
}

void tunnel_probe_answered(struct tunnel *t)
{
	struct tun_probe *pr = t->probe;
	uint64_t now = timer_now_ms();
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
	log_notice("site '%s' pop '%s': probe %s answers again", t->site, t->pop, dst);
	ikd_event(t->d, t->site, t->pop, "probe-ok", "%s answers again", dst);
	site_reevaluate(t->d, ikd_site(t->d, t->site));
}

/*
 * An edge router's IKE SA has no Child SA (refused by the POP or by our kernel): the IKE SA
 * is kept (the POP stays checked for liveness, the site blocked as it is), and the Child SA is
 * asked for again with CREATE_CHILD_SA after reconnect-min, doubling to reconnect-max, rather
 * than the whole IKE SA built again and again.
 */
static void child_retry_later(struct tunnel *t)
{
	const struct ikd_conf *cf = &t->d->conf;

	if (!t->initiator)
		return;
	if (!t->child_retry_s)
		t->child_retry_s = cf->reconnect_min_s;
	t->child_retry_at_ms = timer_now_ms() + (uint64_t)t->child_retry_s * 1000 +
			       randombytes_uniform(1000);
	t->child_retry_s = t->child_retry_s * 2 > cf->reconnect_max_s ? cf->reconnect_max_s :
			   t->child_retry_s * 2;
}

/* The tunnel's first Child SA is in: its probe starts, and the site may use it. */
static void child_first(struct tunnel *t)
{
	const struct site *s = ikd_site(t->d, t->site);

	t->child_retry_at_ms = 0;
	t->child_retry_s = 0;
	if (t->initiator && s && t->n_children && t->children[0].installed) {
		if (!t->probe)
			probe_begin(t, s);
		site_reevaluate(t->d, s);
	}
}

/*
 * IKE_AUTH completed on either side: the Child SA into the kernel (unless a gateway put it
 * there before it answered: installed), the tunnel up. What is said of the Child SA, in the
 * log, the event and the tunnel's list, is what the kernel holds.
 */
static void tunnel_established(struct tunnel *t, struct ike_child *c, bool have_child,
			       bool installed)
{
	struct ikd *d = t->d;
	const struct site *s = ikd_site(d, t->site);
	char peer[80], err[256], suite[96];

	ike_sa_from_init(&t->sa, t->init);
	init_drop(t);
	if (t->initiator)
		pending_release(t);
	t->have_sa = true;
	t->state = TUN_UP;
	tunnel_error(t, NULL);
	t->tries = 0;
	t->dpd_missed = 0;
	t->handshakes++;
	t->up_since_ms = t->last_heard_ms = t->healthy_since_ms = timer_now_ms();
	t->reconnect_s = d->conf.reconnect_min_s;
	timer_cancel(&d->loop.timers, &t->t_retx);
	secret_clear(&t->psk);
	{
		const struct crypto_suite *su = &t->sa.k.suite;

		snprintf(suite, sizeof(suite), "%s%s%s-%s-%s", su->encr->name,
			 su->integ ? "-" : "", su->integ ? su->integ->name : "", su->prf->name,
			 su->dh->name);
	}
	err[0] = '\0';
	if (have_child && !installed && s && child_install_new(t, c, 0, err, sizeof(err)) == 0)
		installed = true;
	peer_str(t, peer, sizeof(peer));
	if (installed)
		log_notice("site '%s' %s: IKE SA up (%s), Child SA up (%s%s%s, spi in %08x out %08x)",
			   t->site, peer, suite, c->encr->name,
			   c->integ ? "-" : "", c->integ ? c->integ->name : "", c->spi_in, c->spi_out);
	else
		log_notice("site '%s' %s: IKE SA up (%s), no Child SA", t->site, peer, suite);
	if (err[0]) {
		log_err("site '%s' %s: %s", t->site, peer, err);
		tunnel_error(t, err);
		/* The peer has its half: it goes, and the Child SA is asked for again later. */
		if (t->initiator)
			tun_enqueue(t, REQ_DELETE_CHILD, c->spi_in);
	}
	t->child_retry_at_ms = 0;
	t->child_retry_s = 0;
	if (!installed)
		child_retry_later(t);
	ikd_event(d, t->site, t->initiator ? t->pop : peer, "up", "IKE SA %s, Child SA %s",
		  suite, installed ? c->encr->name : "none");
	t->cc = (struct ike_cc_cfg){ .pfs_group = t->pfs_group,
				     .ike_proposals = t->props ? &t->props->ike : NULL,
				     .max_children = s ? s->max_child_sas : 0,
				     .alloc_spi = cc_alloc_spi, .n_children = cc_n_children,
				     .install = cc_install };
	t->sa.cc_cfg = &t->cc;
	t->ike_created_ms = timer_now_ms();
	t->ike_rekey_at_ms = rekey_deadline(d, s, true);
	timer_arm(&d->loop.timers, &t->t_rekey, timer_now_ms() + REKEY_TICK_MS);
	if (dpd_interval(t, s))
		timer_arm(&d->loop.timers, &t->t_dpd,
			  timer_now_ms() + (uint64_t)dpd_interval(t, s) * 1000);
	heard(t);
	if (t->sa.k.nat_local)
		timer_arm(&d->loop.timers, &t->t_keepalive,
			  timer_now_ms() + (uint64_t)d->conf.keepalive_s * 1000);
	if (t->initiator && s && t->n_children && t->children[0].installed)
		probe_begin(t, s);
	if (t->initiator && s)
		site_reevaluate(d, s);
}


static void on_init_response(struct tunnel *t, uint8_t *buf, size_t len)
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

	endpoint_of(&t->local, &le);
	endpoint_of(&t->remote, &re);
	rc = ike_init_on_response(t->init, &cfg, buf, len, &le, &re, &t->pending);
	if (rc < 0) {
		d->stats.dropped++;
		return;
	}
	t->last_heard_ms = timer_now_ms();
	if (rc == IKE_INIT_SEND) {
		/* A COOKIE or INVALID_KE_PAYLOAD round: the same exchange again. */
		log_info("site '%s' pop '%s': IKE_SA_INIT again (%s)", t->site, t->pop,
			 ike_notify_name(t->init->notify));
		t->tries = 0;
		send_msg(t, &t->pending);
		arm_retx(t);
		return;
	}
	if (rc == IKE_INIT_FAILED || !s) {
		snprintf(why, sizeof(why), "IKE_SA_INIT refused by the POP: %s%s%.100s",
			 ike_notify_name(t->init->notify),
			 t->init->notify == IKE_N_NO_PROPOSAL_CHOSEN ? "; we offered " : "",
			 t->init->notify == IKE_N_NO_PROPOSAL_CHOSEN && s ? s->ike_proposals : "");
		log_err("site '%s' pop '%s': %s", t->site, t->pop, why);
		ikd_count_failure(d, t->site, ikd_failure_of(t->init->notify));
		tunnel_down(t, why);
		return;
	}
	/* §2.23: behind a NAT (either side), IKE moves to port 4500 with the non-ESP marker. */
	if (t->init->nat_local || t->init->nat_remote) {
		struct net_sock *ns = sock_for(d, t->remote.sa.sa_family, true);

		if (ns) {
			t->sock = ns;
			set_port(&t->remote, d->conf.natt_port);
			set_port(&t->local, d->conf.natt_port);
			log_info("site '%s' pop '%s': NAT detected (%s), IKE moves to port %u",
				 t->site, t->pop, t->init->nat_local ? "this side" : "the POP's side",
				 d->conf.natt_port);
		}
	}
	if (id_from_text((uint8_t)s->id_type, s->id, idbuf, sizeof(idbuf), &idi) < 0) {
		tunnel_down(t, "the site's identity cannot be encoded");
		return;
	}
	t->spi_in_pending = new_spi();
	/*
	 * §2.4: INITIAL_CONTACT whenever this IKE SA is the only one we hold with the POP for
	 * this identity, and a tunnel starting a handshake holds no other (its last one is gone:
	 * a restart, a reconnect after the POP was declared dead). Without it a POP that still
	 * holds the old IKE SA keeps it and its Child SAs until they time out, one set per
	 * reconnect.
	 */
	rc = child_cfg_of(t, s, &child) ?:
	     ike_auth_request(t->init, &idi, &t->psk, !t->have_sa && !t->n_extras, &child,
			      t->spi_in_pending, &t->pending);
	if (rc < 0) {
		tunnel_down(t, "cannot build IKE_AUTH");
		return;
	}
	t->state = TUN_AUTH;
	t->tries = 0;
	send_msg(t, &t->pending);
	arm_retx(t);
}

static void on_auth_response(struct tunnel *t, uint8_t *buf, size_t len)
{
	struct ikd *d = t->d;
	const struct site *s = ikd_site(d, t->site);
	const struct pop *p = site_db_find_pop(&d->db, t->pop);
	struct ike_pld_id idr, *expect = NULL;
	struct ike_child_cfg child;
	uint8_t idbuf[SITE_ID_MAX];
	struct ike_child c;
	uint16_t notify = 0;
	char why[200];
	int rc;

	if (p && p->ike_id[0] && id_infer(p->ike_id, idbuf, sizeof(idbuf), &idr) == 0)
		expect = &idr;
	if (child_cfg_of(t, s, &child) < 0) {
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
	t->last_heard_ms = timer_now_ms();
	if (rc == IKE_AUTH_FAILED) {
		snprintf(why, sizeof(why), "IKE_AUTH failed: %s", ike_notify_name(notify));
		log_err("site '%s' pop '%s': %s", t->site, t->pop, why);
		ikd_count_failure(d, t->site, ikd_failure_of(notify));
		tunnel_down(t, why);
		return;
	}
	if (rc == IKE_AUTH_DONE_NO_CHILD) {
		snprintf(why, sizeof(why), "the POP refused the Child SA: %s%s%.100s",
			 ike_notify_name(notify),
			 notify == IKE_N_NO_PROPOSAL_CHOSEN ? "; we offered " : "",
			 notify == IKE_N_NO_PROPOSAL_CHOSEN && s ? s->esp_proposals : "");
		log_err("site '%s' pop '%s': %s; the IKE SA is kept, the Child SA asked for again "
			"later", t->site, t->pop, why);
		ikd_count_failure(d, t->site, ikd_failure_of(notify));
		tunnel_established(t, &c, false, false);
		tunnel_error(t, why);
		return;
	}
	tunnel_established(t, &c, true, false);
	ike_child_clear(&c);
}

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

static void on_init_request(struct ikd *d, struct net_sock *ns, uint8_t *buf, size_t len,
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
		d->stats.dropped++;
		return;
	}
	t = tix_half_find(d, h->spi_i, &dg->from);
	if (t) {
		/* §2.1: a retransmitted request gets the same response. */
		if (t->state == TUN_INIT)
			send_msg(t, &t->pending);
		return;
	}
	if (d->resp_props_stale)
		responder_proposals(d);
	if (d->resp_props.n == 0) {
		char from[64];

		d->stats.dropped++;
		peer_log(LOG_WARNING, "IKE_SA_INIT from %s dropped: no site is enabled",
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
	endpoint_of(&t->local, &le);
	endpoint_of(&t->remote, &re);
	if (!init_new(t)) {
		tunnel_free(t);
		return;
	}
	rc = ike_init_respond(t->init, &cfg, &cookies, buf, len, &le, &re, &t->pending);
	if (rc == IKE_INIT_DONE) {
		memcpy(t->spi_peer_i, h->spi_i, IKE_SPI_LEN);
		tix_half_add(d, t);
		tix_ours_add(d, t, t->init->spi_r);
		t->state = TUN_INIT;
		t->last_heard_ms = timer_now_ms();
		send_msg(t, &t->pending);
		timer_arm(&d->loop.timers, &t->t_half,
			  timer_now_ms() + (uint64_t)d->conf.half_open_timeout_s * 1000);
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
			peer_log(LOG_WARNING, "IKE_SA_INIT from %s refused: %s (offered %s; we accept %s)",
				 net_addr_str(&dg->from, from, sizeof(from)),
				 ike_notify_name(t->init->notify), theirs, ours);
		}
		send_msg(t, &t->pending);
	} else {
		char from[64];

		/* Unanswered: RFC 7296 §3.10.1 allows INVALID_SYNTAX only in a protected message. */
		d->stats.dropped++;
		peer_log(LOG_WARNING, "IKE_SA_INIT from %s dropped: %s: %s (%s)",
			 net_addr_str(&dg->from, from, sizeof(from)),
			 t->init->err.field ? t->init->err.field : "message",
			 t->init->err.reason ? t->init->err.reason : "not processed", strerror(-rc));
	}
	tunnel_free(t);
}

static void half_fire(struct timer *tm, void *arg)
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

	if (id_from_text((uint8_t)s->id_type, s->id, buf, sizeof(buf), &mine) < 0)
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

		if (id_from_text((uint8_t)d->db.sites[i].id_type, d->db.sites[i].id, buf, sizeof(buf),
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
	int rc = child_install_new(lc->t, c, 0, lc->install_err, sizeof(lc->install_err));

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
	if (!health_accepting(&d->health)) {	/* the downstream check fails: ikd.conf(5) */
		lc->not_accepting = true;
		d->health.refused++;
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
		if (child_cfg_of(t, s, &lc->child) < 0)
			return -ENOENT;
		ret->child = &lc->child;
		ret->install = auth_install;
		if (d->conf.identity[0]) {
			if (id_infer(d->conf.identity, lc->idr_buf, sizeof(lc->idr_buf), &ret->id) < 0)
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

static bool same_ts(const struct child *a, const struct child *b);
static void extra_add(struct tunnel *t, struct ike_sa *sa, bool ours_to_delete, bool peer_new);

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
	const struct site *s = ikd_site(d, t->site);

	for (struct tunnel *o = tix_site_next(d, t->site, NULL), *next; o; o = next) {
		char was[64];

		next = tix_site_next(d, t->site, o);
		if (o == t || o->initiator || o->state != TUN_UP)
			continue;
		log_notice("site '%s' %s: replaced by a new IKE SA from %s: deleting the old one",
			   o->site, net_addr_str(&o->remote, was, sizeof(was)), from);
		while (o->n_children) {
			struct child *c = &o->children[o->n_children - 1];
			bool shared = false;

			kernel_child_remove(d, o, c);
			for (size_t j = 0; j < t->n_children && !shared; j++)
				shared = same_ts(c, &t->children[j]);
			if (s && !shared)
				kernel_child_policies(d, o, c, s, true);
			child_unlist(o, o->n_children - 1);
		}
		if (o->have_sa) {
			extra_add(t, &o->sa, true, false);
			o->have_sa = false;
		}
		tunnel_free(o);	/* next is another tunnel: still linked */
	}
}

static void on_auth_request(struct tunnel *t, uint8_t *buf, size_t len)
{
	struct ikd *d = t->d;
	struct lookup_ctx lc = { .t = t };
	struct ike_pld_id idi;
	struct ike_child c;
	uint16_t notify = 0;
	uint32_t spi_in = new_spi();
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
			child_forget(t, spi_in, true);
		d->stats.dropped++;
		tix_set_site(d, t, "");
		return;
	}
	net_addr_str(&t->remote, from, sizeof(from));
	if (rc == IKE_AUTH_REFUSED) {
		d->stats.auth_failed++;
		ikd_count_failure(d, t->site, CTL_HS_AUTH_FAILED);
		if (t->site[0])
			peer_log(LOG_WARNING, "IKE_AUTH from %s refused (AUTHENTICATION_FAILED): %s "
				 "for site '%s' (identity '%s')", from, lc.wrong_source ?
				 "wrong source address" : "bad pre-shared key", t->site, lc.idi_text);
		else
			peer_log(LOG_WARNING, "IKE_AUTH from %s refused (AUTHENTICATION_FAILED): %s "
				 "'%s'", from, lc.not_accepting ?
				 "not accepting new tunnels (downstream check), identity" :
				 "unknown identity", lc.idi_text);
		ikd_event(d, t->site[0] ? t->site : "", from, "refused",
			  "IKE_AUTH refused (AUTHENTICATION_FAILED) for identity '%s'", lc.idi_text);
		send_msg(t, &t->pending);
		tunnel_free(t);	/* §2.21.2: no state is kept */
		return;
	}
	tix_half_del(d, t);
	timer_cancel(&d->loop.timers, &t->t_half);
	send_msg(t, &t->pending);
	if (rc == IKE_AUTH_DONE_NO_CHILD && lc.install_err[0])
		log_err("site '%s' %s: %s: answered NO_PROPOSAL_CHOSEN, the IKE SA kept", t->site,
			from, lc.install_err);
	else if (rc == IKE_AUTH_DONE_NO_CHILD)
		log_warn("site '%s' %s: Child SA refused: %s", t->site, from, ike_notify_name(notify));
	if (rc == IKE_AUTH_DONE_NO_CHILD)
		ikd_count_failure(d, t->site, ikd_failure_of(notify));
	tunnel_established(t, &c, rc == IKE_AUTH_DONE, lc.installed);
	if (lc.install_err[0])
		tunnel_error(t, lc.install_err);	/* for `site show` */
	ike_child_clear(&c);
	replace_older(t, from);
}

/* ---- established IKE SAs ---- */

static uint32_t spi_map(void *arg, uint32_t peer_spi)
{
	struct tunnel *t = arg;

	for (size_t i = 0; i < t->n_children; i++)
		if (t->children[i].spi_out == peer_spi)
			return t->children[i].spi_in;
	return 0;
}

static bool same_ts(const struct child *a, const struct child *b)
{
	return a->n_ts_local == b->n_ts_local && a->n_ts_remote == b->n_ts_remote &&
	       !memcmp(a->ts, b->ts, (a->n_ts_local + a->n_ts_remote) * sizeof(a->ts[0]));
}

/* Remove a Child SA (by our inbound or the peer's SPI) from the kernel and the tunnel. */
static void child_forget(struct tunnel *t, uint32_t spi, bool by_in)
{
	const struct site *s = ikd_site(t->d, t->site);

	for (size_t i = 0; i < t->n_children; i++) {
		struct child *c = &t->children[i];
		bool shared = false;

		if ((by_in ? c->spi_in : c->spi_out) != spi)
			continue;
		/* The SA that replaced it is confirmed: the peer deleting the old one has it. */
		for (size_t j = 0; j < t->n_children; j++)
			if (t->children[j].replaces == c->spi_in)
				t->children[j].replaces = 0;
		/* Held-back halves: the SA's own is dropped, the one that waited for it goes in. */
		for (size_t k = 0; k < t->n_pend; k++) {
			if (t->pend[k].c.spi_in == c->spi_in)
				pend_drop(t, k--);
			else if (t->pend[k].old_spi_in == c->spi_in)
				pend_install(t, k--);
		}
		kernel_child_remove(t->d, t, c);
		/* A responder's policies follow the selectors; a rekeyed twin still uses them. */
		for (size_t j = 0; j < t->n_children; j++)
			if (j != i && same_ts(c, &t->children[j]))
				shared = true;
		if (!t->initiator && s && !shared)
			kernel_child_policies(t->d, t, c, s, true);
		child_unlist(t, i);
		return;
	}
}

static struct child *child_by_in(struct tunnel *t, uint32_t spi_in)
{
	for (size_t i = 0; i < t->n_children; i++)
		if (t->children[i].spi_in == spi_in)
			return &t->children[i];
	return NULL;
}

/*
 * Is c ours to rekey now? Not while a rekey of it is out or queued, and not while it came from
 * the peer's rekey that the peer has not shown to have completed (its outbound half held back):
 * until our answer gets there the peer does not know the Child SA, would refuse its rekey with
 * CHILD_SA_NOT_FOUND, and we would drop the very SA the peer then moves to. The rekey tick
 * rekeys it once its outbound half is in.
 */
static bool may_rekey(const struct tunnel *t, const struct child *c)
{
	if (!c->installed || c->rekeying || c->replaces)
		return false;
	for (size_t k = 0; k < t->n_pend; k++)
		if (t->pend[k].c.spi_in == c->spi_in)
			return false;
	return true;
}

/* Install a held-back outbound half now (the old SA is gone, or time is up). */
static void pend_install(struct tunnel *t, size_t i)
{
	struct pending_out *p = &t->pend[i];
	const struct site *s = ikd_site(t->d, t->site);
	char err[256];

	struct child *c = child_by_in(t, p->c.spi_in);

	if (s && kernel_child_install(t->d, t, &p->c, s, KERNEL_SA_OUT, err, sizeof(err)) < 0)
		log_err("site '%s': %s", t->site, err);
	else if (c)
		kernel_addr(&t->remote, &c->addr_remote);	/* the peer may have moved since */
	if (c)
		c->out_held = false;
	ike_child_clear(&p->c);
	t->pend[i] = t->pend[--t->n_pend];
}

static void pend_drop(struct tunnel *t, size_t i)
{
	struct child *c = child_by_in(t, t->pend[i].c.spi_in);

	if (c)
		c->out_held = false;
	ike_child_clear(&t->pend[i].c);
	t->pend[i] = t->pend[--t->n_pend];
}

/*
 * Record c and put it into the kernel; when old_spi_in is set (the peer's rekey of that SA)
 * its outbound half is held back, if there is room to hold it, until the peer shows it has our
 * answer (child_hold_out()). 0, or -errno with err saying why (nothing is left of it then).
 */
static int child_install_new(struct tunnel *t, const struct ike_child *c, uint32_t old_spi_in,
			     char *err, size_t err_len)
{
	struct ikd *d = t->d;
	const struct site *s = ikd_site(d, t->site);
	bool hold = old_spi_in && t->n_pend < TUN_PENDING_OUT_MAX;
	struct child *ch;
	int rc;

	if (!s || t->n_children == IKD_MAX_CHILDREN) {
		snprintf(err, err_len, "%s", s ? "no room for another Child SA" : "the site is gone");
		return -ENOSPC;
	}
	if (hold && !t->pend && !(t->pend = calloc(TUN_PENDING_OUT_MAX, sizeof(*t->pend))))
		hold = false;
	if (!child_record(t, c)) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	rc = kernel_child_install(d, t, c, s, hold ? KERNEL_SA_IN : KERNEL_SA_IN | KERNEL_SA_OUT, err,
				  err_len);
	if (rc < 0) {
		child_unlist(t, t->n_children - 1);	/* not there: not counted, not shown */
		return rc;
	}
	ch = &t->children[t->n_children - 1];
	ch->installed = true;
	ch->replaces = old_spi_in;
	ch->out_held = hold;
	if (!t->initiator)
		kernel_child_policies(d, t, ch, s, false);
	return 0;
}

/*
 * The outbound half of the peer's Child SA rekey waits (c's keys are taken): until the peer
 * deletes the old SA (its next request once it has our answer), it may not have the new one,
 * and switching now would send into a black hole for as long as our answer is lost and
 * retransmitted. The old SA still works at the peer meanwhile; a peer that never deletes it
 * gets the new half after the window in which it could still be retransmitting (or when the
 * old SA expires).
 */
static void child_hold_out(struct tunnel *t, struct ike_child *c, uint32_t old_spi_in)
{
	struct child *ch = child_by_in(t, c->spi_in);
	struct pending_out *p;

	if (!ch || !ch->out_held || !t->pend || t->n_pend == TUN_PENDING_OUT_MAX)
		return;
	p = &t->pend[t->n_pend++];
	p->c = *c;
	memset(c, 0, sizeof(*c));	/* the keys are ours now */
	p->old_spi_in = old_spi_in;
	p->deadline_ms = timer_now_ms() + peer_window_ms(t);
}

/* A Child SA from our own CREATE_CHILD_SA, answered: into the kernel and the tunnel. */
static bool child_add(struct tunnel *t, struct ike_child *c)
{
	char err[256], peer[80];

	if (child_install_new(t, c, 0, err, sizeof(err)) < 0) {
		log_err("site '%s' %s: %s", t->site, peer_str(t, peer, sizeof(peer)), err);
		tunnel_error(t, err);
		return false;
	}
	return true;
}

/*
 * ike_cc_cfg.install: the peer's new Child SA goes into the kernel before we answer, so that
 * we never tell the peer of one the kernel refused (it hears NO_PROPOSAL_CHOSEN, or
 * TEMPORARY_FAILURE for a rekey, and the IKE SA goes on).
 */
static int cc_install(void *arg, const struct ike_child *c, uint32_t old_spi_in)
{
	struct tunnel *t = arg;
	char err[256], peer[80];
	int rc = child_install_new(t, c, old_spi_in, err, sizeof(err));

	if (rc < 0) {
		log_err("site '%s' %s: %s; the peer's %s is refused", t->site,
			peer_str(t, peer, sizeof(peer)), err,
			old_spi_in ? "Child SA rekey" : "new Child SA");
		tunnel_error(t, err);
		return rc;
	}
	t->cb_spi_in = c->spi_in;
	return 0;
}

/* ---- our requests, one at a time ---- */

/*
 * Queue a request (once: one already out or queued counts). false when the queue is full:
 * the caller tries again later (a rekey on the next tick), nothing is lost for good.
 */
static bool tun_enqueue(struct tunnel *t, uint8_t kind, uint32_t spi)
{
	if (t->inflight == kind && t->inflight_spi == spi)
		return true;
	for (size_t i = 0; i < t->n_queue; i++)
		if (t->queue[i].kind == kind && t->queue[i].spi == spi)
			return true;
	if (t->n_queue == TUN_QUEUE_MAX)
		return false;
	t->queue[t->n_queue].kind = kind;
	t->queue[t->n_queue].spi = spi;
	t->n_queue++;
	return true;
}

static const char *req_name(uint8_t kind)
{
	switch (kind) {
	case REQ_DPD: return "liveness check";
	case REQ_REKEY_CHILD: return "Child SA rekey";
	case REQ_REKEY_IKE: return "IKE SA rekey";
	case REQ_DELETE_CHILD: return "Child SA delete";
	case REQ_CREATE_CHILD: return "Child SA";
	}
	return "request";
}

static const char *event_name(enum ike_sa_event ev)
{
	switch (ev) {
	case IKE_SA_EV_REPLY: return "answered";
	case IKE_SA_EV_RESENT: return "a retransmission: answered again";
	case IKE_SA_EV_ANSWERED: return "our request answered";
	case IKE_SA_EV_DELETED: return "IKE SA deleted";
	case IKE_SA_EV_CHILD_CREATED: return "Child SA created";
	case IKE_SA_EV_CHILD_REKEYED: return "Child SA rekeyed";
	case IKE_SA_EV_IKE_REKEYED: return "IKE SA rekeyed";
	case IKE_SA_EV_CC_REFUSED: return "CREATE_CHILD_SA refused";
	}
	return "nothing";
}

/* At debug level: each authenticated message and what it did (where ikd's logs go quiet). */
static void log_received(const struct tunnel *t, const char *which, const uint8_t *buf, size_t len,
			 enum ike_sa_event ev)
{
	struct ike_header h;
	char peer[80];

	if (!log_enabled(LOG_DEBUG) || ike_header_decode(buf, len, &h, NULL) < 0)
		return;
	log_debug("site '%s' %s: %s%s %s %u: %s", t->site, peer_str(t, peer, sizeof(peer)), which,
		  ike_exchange_name(h.exchange), h.flags & IKE_FLAG_RESPONSE ? "response" : "request",
		  h.msg_id, event_name(ev));
}

/* Forget a queued request that no longer has a purpose (not one already sent). */
static void tun_dequeue(struct tunnel *t, uint8_t kind, uint32_t spi)
{
	size_t kept = 0;

	for (size_t i = 0; i < t->n_queue; i++)
		if (t->queue[i].kind != kind || t->queue[i].spi != spi)
			t->queue[kept++] = t->queue[i];
	t->n_queue = kept;
}

static void tun_kick(struct tunnel *t)
{
	struct ikd *d = t->d;

	while (t->state == TUN_UP && t->have_sa && !t->sa.waiting && t->n_queue) {
		uint8_t kind = t->queue[0].kind;
		uint32_t spi = t->queue[0].spi;
		struct ike_child_cfg child;
		struct child *c;
		int rc = -ENOENT;

		memmove(t->queue, t->queue + 1, --t->n_queue * sizeof(t->queue[0]));
		switch (kind) {
		case REQ_DPD:
			rc = ike_sa_dpd_request(&t->sa, &d->out);
			break;
		case REQ_REKEY_CHILD:
			c = child_by_in(t, spi);
			if (c && child_cfg_of(t, ikd_site(d, t->site), &child) == 0)
				rc = ike_sa_rekey_child_request(&t->sa, &child, t->pfs_group,
								new_spi(), spi, &d->out);
			break;
		case REQ_REKEY_IKE:
			rc = ike_sa_rekey_ike_request(&t->sa, &t->props->ike, t->ike_group, &d->out);
			break;
		case REQ_CREATE_CHILD:
			if (!t->n_children && child_cfg_of(t, ikd_site(d, t->site), &child) == 0)
				rc = ike_sa_create_child_request(&t->sa, &child, t->pfs_group, new_spi(),
								 &d->out);
			break;
		case REQ_DELETE_CHILD:
			rc = ike_sa_delete_child_request(&t->sa, &spi, 1, &d->out);
			/*
			 * Nothing more goes out on it: the peer removes its inbound half as it
			 * answers (a redundant SA of a rekey collision is the newest, the
			 * one the kernel would keep sending on until our Delete is answered).
			 */
			if (rc == 0 && (c = child_by_in(t, spi))) {
				for (size_t k = 0; k < t->n_pend; k++)
					if (t->pend[k].c.spi_in == spi)
						pend_drop(t, k--);
				kernel_child_stop_out(d, t, c);
			}
			break;
		}
		if (rc < 0) {
			if (rc != -ENOENT)
				log_warn("site '%s': cannot build a request: %s", t->site, strerror(-rc));
			continue;
		}
		t->inflight = kind;
		t->inflight_spi = spi;
		t->tries = 0;
		send_msg(t, &d->out);
		log_debug("site '%s': %s %08x sent, message %u", t->site, req_name(kind), spi,
			  t->sa.next_req - 1);
		arm_retx(t);
	}
}

/* Our request was answered (whatever the answer): the next one may go. */
static void tun_answered(struct tunnel *t)
{
	timer_cancel(&t->d->loop.timers, &t->t_retx);
	t->tries = 0;
	t->inflight = 0;
}

/* ---- IKE SAs beside the current one during a rekey ---- */

static void extras_arm(struct tunnel *t)
{
	uint64_t next = UINT64_MAX;

	for (size_t i = 0; i < t->n_extras; i++) {
		const struct extra_sa *e = &t->extras[i];

		if (e->expires_ms < next)
			next = e->expires_ms;
		if (e->ours_to_delete && e->next_retx_ms < next)
			next = e->next_retx_ms;
	}
	if (next != UINT64_MAX)
		timer_arm(&t->d->loop.timers, &t->t_extras, next);
	else
		timer_cancel(&t->d->loop.timers, &t->t_extras);
}

static void extra_drop(struct tunnel *t, size_t i)
{
	tix_extra_del(t->d, t, t->extras[i].spi);
	ike_sa_clear(&t->extras[i].sa);
	t->extras[i] = t->extras[--t->n_extras];
	extras_arm(t);
}

/* Keep sa (taken: *sa is emptied) beside the current one; ours_to_delete sends its Delete. */
static void extra_add(struct tunnel *t, struct ike_sa *sa, bool ours_to_delete, bool peer_new)
{
	struct ikd *d = t->d;
	struct extra_sa *e;
	uint64_t now = timer_now_ms();

	if (!t->extras)
		t->extras = calloc(TUN_EXTRA_MAX, sizeof(*t->extras));
	if (!t->extras) {
		ike_sa_clear(sa);
		return;
	}
	if (t->n_extras == TUN_EXTRA_MAX)
		extra_drop(t, 0);
	if (tix_extra_add(d, t, sa_spi_ours(sa)) < 0) {
		ike_sa_clear(sa);
		return;
	}
	e = &t->extras[t->n_extras++];
	memset(e, 0, sizeof(*e));
	memcpy(e->spi, sa_spi_ours(sa), IKE_SPI_LEN);
	e->sa = *sa;
	memset(sa, 0, sizeof(*sa));
	e->sa.cc_cfg = NULL;
	e->ours_to_delete = ours_to_delete;
	e->peer_new = peer_new;
	e->expires_ms = now + peer_window_ms(t);
	if (ours_to_delete && !e->sa.waiting && ike_sa_delete_request(&e->sa, &d->out) == 0) {
		send_msg(t, &d->out);
		e->next_retx_ms = now + d->conf.retransmit_base_ms;
	}
	extras_arm(t);
}

static void extras_fire(struct timer *tm, void *arg)
{
	struct tunnel *t = arg;
	struct ikd *d = t->d;
	uint64_t now = timer_now_ms();

	(void)tm;
	for (size_t i = 0; i < t->n_extras; i++) {
		struct extra_sa *e = &t->extras[i];

		if (now >= e->expires_ms) {
			extra_drop(t, i--);
			continue;
		}
		if (e->ours_to_delete && now >= e->next_retx_ms &&
		    ike_sa_retransmit(&e->sa, &d->out) == 0) {
			send_msg(t, &d->out);
			e->tries++;
			e->next_retx_ms = now + ((uint64_t)d->conf.retransmit_base_ms << e->tries);
		}
	}
	extras_arm(t);
}

/* The current IKE SA becomes new_sa (taken); children stay (§1.3.2: they move with it). */
static void ike_switch(struct tunnel *t, struct ike_sa *new_sa)
{
	struct ikd *d = t->d;

	tix_ours_del(d, t);
	t->sa = *new_sa;
	memset(new_sa, 0, sizeof(*new_sa));
	t->sa.cc_cfg = &t->cc;
	tix_ours_add(d, t, sa_spi_ours(&t->sa));
	t->ike_created_ms = timer_now_ms();
	t->ike_rekey_at_ms = rekey_deadline(d, ikd_site(d, t->site), true);
	t->rekeys_ike++;
	ikd_count(d, t->site, CTL_SM_IKE_REKEYS);
	/*
	 * Requests that were queued go out on the new SA, but for a rekey of the IKE SA: it was
	 * for the SA just replaced, and the new one has its own deadline. A Delete of a Child SA
	 * still out on the old SA goes again on the new one (its answer on the old SA would not
	 * remove the Child SA here; the peer answers a second Delete with an empty one).
	 */
	tun_dequeue(t, REQ_REKEY_IKE, 0);
	if (t->inflight == REQ_DELETE_CHILD && t->n_queue < TUN_QUEUE_MAX) {
		memmove(t->queue + 1, t->queue, t->n_queue * sizeof(t->queue[0]));
		t->queue[0].kind = REQ_DELETE_CHILD;
		t->queue[0].spi = t->inflight_spi;
		t->n_queue++;
	}
	t->inflight = 0;
	timer_cancel(&d->loop.timers, &t->t_retx);
}

static struct extra_sa *extra_peer_new(struct tunnel *t)
{
	for (size_t i = 0; i < t->n_extras; i++)
		if (t->extras[i].peer_new)
			return &t->extras[i];
	return NULL;
}

/*
 * §2.8.1: the peer's new IKE SA, held while our colliding rekey was out, becomes the current
 * one: the peer won and deleted the old SA (old_deleted), or our rekey made no SA (refused),
 * and then the peer deletes the old one.
 */
static void adopt_peer_new(struct tunnel *t, struct extra_sa *pn, bool old_deleted)
{
	struct ike_sa peer_sa = pn->sa, cur;
	char peer[80];

	memset(&pn->sa, 0, sizeof(pn->sa));
	extra_drop(t, (size_t)(pn - t->extras));
	if (old_deleted) {
		ike_sa_clear(&t->sa);
	} else {
		cur = t->sa;
		memset(&t->sa, 0, sizeof(t->sa));
		extra_add(t, &cur, false, false);
	}
	ike_switch(t, &peer_sa);
	log_notice("site '%s' %s: IKE SA rekeyed (by the peer, %s)", t->site,
		   peer_str(t, peer, sizeof(peer)), old_deleted ? "its rekey won" : "ours refused");
	ikd_event(t->d, t->site, t->initiator ? t->pop : peer, "ike-rekeyed", "by the peer");
}

/* §2.8, §2.8.1: which IKE SA stays after a rekey, and who deletes what. */
static void on_ike_rekeyed(struct tunnel *t, struct ike_sa_rx *rx)
{
	struct extra_sa *pn = extra_peer_new(t);
	struct ike_sa cur;
	char peer[80];

	if (rx->initiator && rx->verdict == IKE_REKEY_LOST) {
		/* Ours is redundant: delete it; the peer's new SA (held) takes over. */
		extra_add(t, &rx->new_sa, true, false);
		pn = extra_peer_new(t);
		if (pn) {
			struct ike_sa peer_sa = pn->sa;

			memset(&pn->sa, 0, sizeof(pn->sa));
			extra_drop(t, (size_t)(pn - t->extras));
			cur = t->sa;
			memset(&t->sa, 0, sizeof(t->sa));
			extra_add(t, &cur, false, false);	/* the peer deletes the old one */
			ike_switch(t, &peer_sa);
		}
	} else if (rx->initiator) {
		/* Ours stays (alone, or won): we delete the old SA; the peer deletes its new. */
		if (pn)
			pn->peer_new = false;
		cur = t->sa;
		memset(&t->sa, 0, sizeof(t->sa));
		ike_switch(t, &rx->new_sa);
		extra_add(t, &cur, true, false);
	} else if (rx->verdict == IKE_REKEY_PENDING) {
		extra_add(t, &rx->new_sa, false, true);
		return;
	} else if (rx->verdict == IKE_REKEY_LOST) {
		/* Ours completed first and is current; the peer's new SA is the one that stays. */
		cur = t->sa;
		memset(&t->sa, 0, sizeof(t->sa));
		ike_switch(t, &rx->new_sa);
		extra_add(t, &cur, true, false);
	} else {
		/* The peer's rekey, no collision: the peer deletes the old SA. */
		cur = t->sa;
		memset(&t->sa, 0, sizeof(t->sa));
		ike_switch(t, &rx->new_sa);
		extra_add(t, &cur, false, false);
	}
	/* Whose SA stays: ours, unless the collision was lost (§2.8.1). */
	log_notice("site '%s' %s: IKE SA rekeyed (%s)", t->site, peer_str(t, peer, sizeof(peer)),
		   !rx->initiator ? (rx->verdict == IKE_REKEY_LOST ?
				      "by the peer, whose SA won the collision with ours" :
				     "by the peer") :
		   rx->verdict == IKE_REKEY_LOST ? "by the peer: our rekey collided with it and lost" :
		   rx->verdict == IKE_REKEY_WON ? "by us, collision won" : "by us");
	ikd_event(t->d, t->site, t->initiator ? t->pop : peer, "ike-rekeyed", "by %s",
		  rx->initiator && rx->verdict != IKE_REKEY_LOST ? "us" : "the peer");
}

static void on_child_event(struct tunnel *t, struct ike_sa_rx *rx)
{
	uint32_t spi_in, spi_out;
	char peer[80];

	peer_str(t, peer, sizeof(peer));
	if (rx->event == IKE_SA_EV_CHILD_CREATED) {
		/* The peer's was installed before we answered (cc_install). */
		if (rx->initiator ? child_add(t, &rx->child) : !!child_by_in(t, rx->child.spi_in)) {
			log_notice("site '%s' %s: Child SA added (%s, spi in %08x out %08x)", t->site,
				   peer, rx->child.encr->name, rx->child.spi_in, rx->child.spi_out);
			if (t->n_children == 1) {
				tunnel_error(t, NULL);
				child_first(t);
			}
		} else if (rx->initiator) {
			tun_enqueue(t, REQ_DELETE_CHILD, rx->child.spi_in);	/* the peer has it */
			if (!t->n_children)
				child_retry_later(t);
		}
		return;
	}
	spi_in = rx->child.spi_in;
	spi_out = rx->child.spi_out;
	/* A rekey: the new Child SA goes in before anything old goes out; when the peer
	 * started it, our new outbound half waits until the peer deletes the old SA. */
	if (rx->initiator)
		child_add(t, &rx->child);
	else
		child_hold_out(t, &rx->child, rx->old_spi_in);
	t->rekeys_child++;
	ikd_count(t->d, t->site, CTL_SM_CHILD_REKEYS);
	log_notice("site '%s' %s: Child SA %08x rekeyed by %s: spi in %08x out %08x%s", t->site, peer,
		   rx->old_spi_in, rx->initiator ? "us" : "the peer", spi_in, spi_out,
		   rx->verdict == IKE_REKEY_LOST ? " (redundant, deleted)" :
		   rx->verdict == IKE_REKEY_WON ? " (collision won)" : "");
	ikd_event(t->d, t->site, t->initiator ? t->pop : peer, "child-rekeyed",
		  "%08x replaced by %08x, by %s", rx->old_spi_in, spi_in,
		  rx->initiator ? "us" : "the peer");
	if (rx->initiator) {
		struct child *old = child_by_in(t, rx->old_spi_in);

		if (old)
			old->rekeying = false;
		tun_enqueue(t, REQ_DELETE_CHILD, rx->verdict == IKE_REKEY_LOST ? spi_in :
			    rx->old_spi_in);
	} else if (rx->verdict == IKE_REKEY_LOST && rx->ours_spi_in) {
		tun_enqueue(t, REQ_DELETE_CHILD, rx->ours_spi_in);
	} else if (rx->verdict == IKE_REKEY_ALONE) {
		/* The peer replaced the old SA and deletes it: it is not ours to rekey any more. */
		struct child *old = child_by_in(t, rx->old_spi_in);

		if (old)
			old->rekeying = true;
		tun_dequeue(t, REQ_REKEY_CHILD, rx->old_spi_in);
	}
}

static void on_cc_refused(struct tunnel *t, struct ike_sa_rx *rx, uint8_t kind, uint32_t spi)
{
	struct child *c = kind == REQ_REKEY_CHILD ? child_by_in(t, spi) : NULL;
	char peer[80];

	log_warn("site '%s' %s: %s refused: %s", t->site, peer_str(t, peer, sizeof(peer)),
		 kind == REQ_REKEY_IKE ? "IKE SA rekey" : kind == REQ_CREATE_CHILD ? "Child SA" :
		 "Child SA rekey", rx->notify ? ike_notify_name(rx->notify) : "an answer we cannot use");
	if (kind == REQ_CREATE_CHILD) {
		char why[120];

		if (!rx->notify && rx->child.spi_in)
			tun_enqueue(t, REQ_DELETE_CHILD, rx->child.spi_in);
		snprintf(why, sizeof(why), "the POP refused the Child SA: %s",
			 rx->notify ? ike_notify_name(rx->notify) : "an answer we cannot use");
		tunnel_error(t, why);
		if (!t->n_children)
			child_retry_later(t);
		return;
	}
	if (kind == REQ_REKEY_IKE && extra_peer_new(t)) {
		/* The peer's rekey collided with ours, which made no SA: the peer's stands. */
		adopt_peer_new(t, extra_peer_new(t), false);
		return;
	}
	if (rx->notify == IKE_N_INVALID_KE_PAYLOAD && rx->notify_group) {
		if (kind == REQ_REKEY_IKE)
			t->ike_group = rx->notify_group;
		else
			t->pfs_group = rx->notify_group;
		tun_enqueue(t, kind, spi);
		return;
	}
	if (rx->notify == IKE_N_CHILD_SA_NOT_FOUND && c) {
		child_forget(t, spi, true);
		return;
	}
	if (!rx->notify && rx->child.spi_in)
		tun_enqueue(t, REQ_DELETE_CHILD, rx->child.spi_in);
	/*
	 * TEMPORARY_FAILURE and the rest: the rekey tick tries again, a Child SA's at once, the IKE
	 * SA's after 2 to 5 s: the peer refuses it while an exchange of its own is out (§2.25),
	 * which under loss may take seconds; the jitter keeps two ends from refusing each other.
	 */
	if (c)
		c->rekeying = false;
	if (kind == REQ_REKEY_IKE)
		t->ike_rekey_at_ms = timer_now_ms() + 2000 + randombytes_uniform(3000);
}

/*
 * The NAT in front of the peer gave it a new address or port (RFC 7296 §2.23, RFC 3948): the
 * Child SAs' UDP encapsulation still names the old one, so each is rekeyed, and the new SAs
 * carry the new address.
 */
static bool may_rekey(const struct tunnel *t, const struct child *c);

static void peer_moved(struct tunnel *t)
{
	if (t->probe)
		kernel_probe_policy(t->d, t, false);	/* its template names the endpoints */
	for (size_t i = 0; i < t->n_children; i++) {
		struct child *c = &t->children[i];

		if (may_rekey(t, c))
			c->rekeying = tun_enqueue(t, REQ_REKEY_CHILD, c->spi_in);
	}
}

/*
 * ike_sa_receive() with the site's Child SA settings at hand for a CREATE_CHILD_SA (the IKE
 * header says the exchange in clear; it is made only for those, and not kept).
 */
static int sa_receive(struct tunnel *t, struct ike_sa *sa, uint8_t *buf, size_t len,
		      struct ike_sa_rx *rx)
{
	struct ike_child_cfg child;
	bool cc = len >= IKE_HEADER_LEN && buf[18] == IKE_EXCH_CREATE_CHILD_SA &&
		  child_cfg_of(t, ikd_site(t->d, t->site), &child) == 0;
	int rc;

	t->cc.child = cc ? &child : NULL;
	t->cb_spi_in = 0;
	rc = ike_sa_receive(sa, buf, len, spi_map, t, &t->d->out, rx);
	t->cc.child = NULL;
	/* Installed for an answer that could not be built: the peer will never know of it. */
	if (rc < 0 && t->cb_spi_in)
		child_forget(t, t->cb_spi_in, true);
	t->cb_spi_in = 0;
	if (cc)
		t->settle_at_ms = timer_now_ms() + SETTLE_MS;
	return rc;
}

static void on_established(struct tunnel *t, uint8_t *buf, size_t len, const union net_addr *from)
{
	struct ikd *d = t->d;
	struct ike_sa_rx rx;
	uint8_t kind = t->inflight;
	uint32_t kind_spi = t->inflight_spi;
	char peer[80];
	int rc;

	rc = sa_receive(t, &t->sa, buf, len, &rx);
	if (rc == -EINPROGRESS) {
		heard(t);	/* an authenticated fragment (RFC 7383) stored */
		return;
	}
	if (rc == -EALREADY)
		return;		/* a fragment we hold already */
	if (rc < 0) {
		if (rc == -EACCES)
			d->stats.bad_icv++;
		d->stats.dropped++;
		log_debug("site '%s' %s: message dropped: %s", t->site, peer_str(t, peer, sizeof(peer)),
			  strerror(-rc));
		return;
	}
	heard(t);
	log_received(t, "", buf, len, rx.event);
	/*
	 * A new request of the peer (not one sent again): with a window of one it has every
	 * answer we gave before, so each Child SA its rekeys made is known to it.
	 */
	if (!rx.initiator && rx.event && rx.event != IKE_SA_EV_RESENT &&
	    rx.event != IKE_SA_EV_ANSWERED && rx.event != IKE_SA_EV_CC_REFUSED)
		for (size_t j = 0; j < t->n_children; j++)
			t->children[j].replaces = 0;
	t->dpd_missed = 0;
	/* RFC 7296 §2.23: a peer behind a NAT may move; follow authenticated messages. */
	if (!net_addr_equal(from, &t->remote, true) && (t->sa.k.nat_remote || t->sa.k.nat_local)) {
		char old[64], new[64];

		log_notice("site '%s': peer moved from %s to %s", t->site,
			   net_addr_str(&t->remote, old, sizeof(old)), net_addr_str(from, new, sizeof(new)));
		t->remote = *from;
		peer_moved(t);
	}
	if (!t->initiator && t->pending.buf)
		pending_release(t);	/* the peer has our IKE_AUTH answer */
	/* A reply goes out with the SA that received the request, before any switch. */
	if (rx.reply || rx.event == IKE_SA_EV_REPLY || rx.event == IKE_SA_EV_RESENT ||
	    rx.event == IKE_SA_EV_DELETED)
		send_msg(t, &d->out);
	if (rx.initiator || rx.event == IKE_SA_EV_ANSWERED)
		tun_answered(t);
	switch (rx.event) {
	case IKE_SA_EV_REPLY:
	case IKE_SA_EV_RESENT:
		if (rx.exchange == IKE_EXCH_CREATE_CHILD_SA && rx.notify)
			log_warn("site '%s' %s: the peer's CREATE_CHILD_SA refused: %s", t->site,
				 peer_str(t, peer, sizeof(peer)), ike_notify_name(rx.notify));
		for (size_t i = 0; i < rx.n_child_deleted; i++) {
			log_info("site '%s' %s: peer deleted Child SA %08x", t->site,
				 peer_str(t, peer, sizeof(peer)), rx.child_deleted[i]);
			child_forget(t, rx.child_deleted[i], false);
		}
		if (rx.n_child_deleted && t->n_children == 0 && t->initiator) {
			/* Nothing left to carry traffic: build the tunnel again. */
			if (ike_sa_delete_request(&t->sa, &d->out) == 0)
				send_msg(t, &d->out);
			ike_sa_rx_clear(&rx);
			tunnel_down(t, "the POP deleted the last Child SA");
			return;
		}
		break;
	case IKE_SA_EV_DELETED: {
		struct extra_sa *pn = extra_peer_new(t);

		ike_sa_rx_clear(&rx);
		if (pn) {
			/* The peer won a rekey collision and deleted the old SA: its new one stays. */
			adopt_peer_new(t, pn, true);
			tun_kick(t);
			return;
		}
		tunnel_down(t, "the peer deleted the IKE SA");
		return;
	}
	case IKE_SA_EV_ANSWERED:
		if (kind == REQ_DELETE_CHILD)
			child_forget(t, kind_spi, true);
		if (t->state == TUN_DELETING) {
			ike_sa_rx_clear(&rx);
			tunnel_down(t, "deleted");
			return;
		}
		break;
	case IKE_SA_EV_CHILD_CREATED:
	case IKE_SA_EV_CHILD_REKEYED:
		on_child_event(t, &rx);
		break;
	case IKE_SA_EV_IKE_REKEYED:
		on_ike_rekeyed(t, &rx);
		break;
	case IKE_SA_EV_CC_REFUSED:
		on_cc_refused(t, &rx, kind, kind_spi);
		break;
	}
	ike_sa_rx_clear(&rx);
	tun_kick(t);
}

/* A message for an IKE SA that a rekey left beside the current one. */
static void on_extra(struct tunnel *t, size_t i, uint8_t *buf, size_t len)
{
	struct ikd *d = t->d;
	struct extra_sa *e = &t->extras[i];
	struct ike_sa_rx rx;
	int rc = sa_receive(t, &e->sa, buf, len, &rx);

	if (rc == -EINPROGRESS)
		return;
	if (rc < 0) {
		d->stats.dropped++;
		log_debug("site '%s': message on an old IKE SA dropped: %s", t->site, strerror(-rc));
		return;
	}
	heard(t);
	log_received(t, "old IKE SA: ", buf, len, rx.event);
	e->expires_ms = timer_now_ms() + peer_window_ms(t);
	extras_arm(t);
	if (rx.reply || rx.event == IKE_SA_EV_REPLY || rx.event == IKE_SA_EV_RESENT ||
	    rx.event == IKE_SA_EV_DELETED)
		send_msg(t, &d->out);
	for (size_t k = 0; k < rx.n_child_deleted; k++)
		child_forget(t, rx.child_deleted[k], false);
	if (rx.event == IKE_SA_EV_DELETED || (rx.event == IKE_SA_EV_ANSWERED && e->ours_to_delete))
		extra_drop(t, i);
	ike_sa_rx_clear(&rx);
}

static bool find_extra(struct ikd *d, const uint8_t spi[IKE_SPI_LEN], struct tunnel **ret_t,
		       size_t *ret_i)
{
	struct tunnel *t = tix_extra_find(d, spi);

	for (size_t j = 0; t && j < t->n_extras; j++)
		if (!memcmp(t->extras[j].spi, spi, IKE_SPI_LEN)) {
			*ret_t = t;
			*ret_i = j;
			return true;
		}
	return false;
}

void ikd_receive(struct ikd *d, struct net_sock *ns, uint8_t *buf, size_t len,
		 const struct net_dgram *dg)
{
	struct ike_header h;
	struct tunnel *t;
	bool response;

	d->stats.rx++;
	if (ike_header_decode(buf, len, &h, NULL) < 0 || h.major != 2) {
		d->stats.dropped++;
		return;
	}
	response = h.flags & IKE_FLAG_RESPONSE;
	if (h.exchange == IKE_EXCH_IKE_SA_INIT && !response) {
		static const uint8_t zero[IKE_SPI_LEN];

		if (memcmp(h.spi_r, zero, IKE_SPI_LEN) == 0 && (h.flags & IKE_FLAG_INITIATOR))
			on_init_request(d, ns, buf, len, &h, dg);
		else
			d->stats.dropped++;
		return;
	}
	/* The I flag says whether the sender is the original initiator: then we are not. */
	t = tix_ours_find(d, (h.flags & IKE_FLAG_INITIATOR) ? h.spi_r : h.spi_i);
	if (!t) {
		size_t i;

		if (find_extra(d, (h.flags & IKE_FLAG_INITIATOR) ? h.spi_r : h.spi_i, &t, &i))
			on_extra(t, i, buf, len);
		else
			d->stats.dropped++;
		return;
	}
	/* After an IKE rekey either side may be the new SA's initiator: compare with the SA. */
	if (t->have_sa ? t->sa.k.initiator == !!(h.flags & IKE_FLAG_INITIATOR) :
			 t->initiator == !!(h.flags & IKE_FLAG_INITIATOR)) {
		d->stats.dropped++;
		return;
	}
	if (t->initiator && t->state == TUN_INIT && h.exchange == IKE_EXCH_IKE_SA_INIT && response) {
		on_init_response(t, buf, len);
	} else if (t->initiator && t->state == TUN_AUTH && h.exchange == IKE_EXCH_IKE_AUTH &&
		   response) {
		on_auth_response(t, buf, len);
	} else if (!t->initiator && t->state == TUN_INIT && h.exchange == IKE_EXCH_IKE_AUTH &&
		   !response && h.msg_id == 1) {
		/* A NATed initiator switched to 4500 (§2.23): so do we, both ends. */
		t->sock = ns;
		t->remote = dg->from;
		t->local = dg->local;
		on_auth_request(t, buf, len);
	} else if (!t->initiator && t->state == TUN_UP && h.exchange == IKE_EXCH_IKE_AUTH &&
		   !response && h.msg_id == 1) {
		struct ike_header fh;
		struct ike_frag_piece pc = { 0 };
		struct ike_chain inner;
		bool skf = ike_frag_is_skf(buf, len, &fh);
		int rc = skf ? ike_frag_open(&t->sa.k, buf, len, &pc) :
			       ike_sk_open(&t->sa.k, buf, len, &fh, &inner);

		/* Our IKE_AUTH response was lost: the same again, once per retransmission, once
		 * the request is verified, for anyone on the path can forge its header (a
		 * fragmented one only on its first fragment, RFC 7383 §2.6.1). */
		if (rc < 0) {
			d->stats.bad_icv += rc == -EACCES;
			d->stats.dropped++;
		} else if (t->pending.len && (!skf || pc.skf.frag_num == 1)) {
			send_msg(t, &t->pending);
		}
	} else if ((t->state == TUN_UP || t->state == TUN_DELETING) && t->have_sa) {
		on_established(t, buf, len, &dg->from);
	} else {
		d->stats.dropped++;
	}
}

/* ---- timers ---- */

static void retx_fire(struct timer *tm, void *arg)
{
	struct tunnel *t = arg;
	struct ikd *d = t->d;
	char why[128], peer[80];

	(void)tm;
	t->tries++;
	/* A peer checked for liveness is declared dead by dead_fire(), not by a count. */
	if (t->tries >= d->conf.retransmit_tries &&
	    !(t->state == TUN_UP && dpd_interval(t, ikd_site(d, t->site)))) {
		snprintf(why, sizeof(why), "%s: no answer after %u transmissions",
			 t->state == TUN_INIT ? "IKE_SA_INIT" : t->state == TUN_AUTH ? "IKE_AUTH" :
			 "peer dead", t->tries);
		if (t->state == TUN_UP)
			log_warn("site '%s' %s: %s", t->site, peer_str(t, peer, sizeof(peer)), why);
		else
			log_info("site '%s' %s: %s", t->site, peer_str(t, peer, sizeof(peer)), why);
		if (t->state == TUN_INIT || t->state == TUN_AUTH)
			ikd_count_failure(d, t->site, CTL_HS_TIMEOUT);
		t->silent = t->state == TUN_INIT || t->state == TUN_AUTH;
		tunnel_down(t, why);
		return;
	}
	if (t->state == TUN_UP || t->state == TUN_DELETING) {
		if (ike_sa_retransmit(&t->sa, &d->out) < 0) {
			log_debug("site '%s': message %u not sent again: nothing to retransmit",
				  t->site, t->sa.next_req - 1);
			return;
		}
		send_msg(t, &d->out);
		log_debug("site '%s': %s sent again (%u), message %u", t->site,
			  req_name(t->inflight), t->tries, t->sa.next_req - 1);
	} else {
		send_msg(t, &t->pending);
	}
	arm_retx(t);
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
			send_msg(t, &t->d->out);
	}
}

static void dpd_fire(struct timer *tm, void *arg)
{
	struct tunnel *t = arg;
	struct ikd *d = t->d;
	const struct site *s = ikd_site(d, t->site);

	(void)tm;
	if (!s || t->state != TUN_UP)
		return;
	/* A miss: our last request is unanswered and the peer has been silent an interval. */
	if (t->sa.waiting &&
	    timer_now_ms() - t->last_heard_ms >= (uint64_t)dpd_interval(t, s) * 1000)
		ikd_count(d, t->site, CTL_SM_DPD_MISSES);
	/* A request already out is a liveness check too. */
	if (!t->sa.waiting && t->n_queue == 0) {
		tun_enqueue(t, REQ_DPD, 0);
		tun_kick(t);
	}
	dpd_old_sa(t);
	if (t->probe)
		probe_tick(t, s);
	timer_arm(&d->loop.timers, &t->t_dpd, timer_now_ms() + (uint64_t)dpd_interval(t, s) * 1000);
}

static void dead_fire(struct timer *tm, void *arg)
{
	struct tunnel *t = arg;
	char why[96], peer[80];

	(void)tm;
	if (t->state != TUN_UP)
		return;
	snprintf(why, sizeof(why), "peer dead: nothing heard for %.1f s",
		 (double)(timer_now_ms() - t->last_heard_ms) / 1000);
	log_warn("site '%s' %s: %s", t->site, peer_str(t, peer, sizeof(peer)), why);
	tunnel_down(t, why);
}

static void keepalive_fire(struct timer *tm, void *arg)
{
	struct tunnel *t = arg;
	struct ikd *d = t->d;

	(void)tm;
	if (t->state != TUN_UP || !t->sock || !t->sock->natt)
		return;
	/* RFC 3948 §2.3, only when nothing else went out lately. */
	if (timer_now_ms() - t->last_sent_ms >= (uint64_t)d->conf.keepalive_s * 1000)
		net_send_keepalive(t->sock, &t->remote, &t->local);
	timer_arm(&d->loop.timers, &t->t_keepalive,
		  timer_now_ms() + (uint64_t)d->conf.keepalive_s * 1000);
}

/* Every few seconds: the rekeys that are due, and the IKE SA's hard lifetime. */
static void rekey_fire(struct timer *tm, void *arg)
{
	struct tunnel *t = arg;
	struct ikd *d = t->d;
	const struct site *s = ikd_site(d, t->site);
	uint64_t now = timer_now_ms();

	(void)tm;
	if (t->state != TUN_UP || !s)
		return;
	if (s->ike_lifetime_s && now - t->ike_created_ms >= (uint64_t)s->ike_lifetime_s * 1000) {
		tunnel_down(t, "the IKE SA reached its lifetime without a rekey");
		return;
	}
	if (now >= t->ike_rekey_at_ms && tun_enqueue(t, REQ_REKEY_IKE, 0))
		t->ike_rekey_at_ms = UINT64_MAX;
	if (t->child_retry_at_ms && now >= t->child_retry_at_ms && !t->n_children &&
	    tun_enqueue(t, REQ_CREATE_CHILD, 0))
		t->child_retry_at_ms = 0;
	for (size_t i = 0; i < t->n_pend; i++)
		if (now >= t->pend[i].deadline_ms)
			pend_install(t, i--);
	tunnel_trim(t);
	if (t->settle_at_ms && now >= t->settle_at_ms && ike_sa_settle(&t->sa))
		t->settle_at_ms = 0;
	if (t->pending.buf && now - t->up_since_ms >= PENDING_KEEP_MS)
		pending_release(t);
	for (size_t i = 0; i < t->n_children; i++) {
		struct child *c = &t->children[i];

		if (now >= c->rekey_at_ms && may_rekey(t, c))
			c->rekeying = tun_enqueue(t, REQ_REKEY_CHILD, c->spi_in);
	}
	tun_kick(t);
	timer_arm(&d->loop.timers, &t->t_rekey, now + REKEY_TICK_MS);
}

/* ---- sites: which tunnels exist, which POP is active ---- */

size_t ikd_site_tunnels(struct ikd *d, const char *site, struct tunnel **ret, size_t max)
{
	size_t n = 0;

	for (struct tunnel *t = tix_site_next(d, site, NULL); t && n < max;
	     t = tix_site_next(d, site, t))
		ret[n++] = t;
	return n;
}

static struct tunnel *pop_tunnel(struct ikd *d, const char *site, const char *pop)
{
	for (struct tunnel *t = tix_site_next(d, site, NULL); t; t = tix_site_next(d, site, t))
		if (t->initiator && !strcmp(t->pop, pop))
			return t;
	return NULL;
}

/* IKE SA and Child SA up: the tunnel can carry traffic as far as IKE knows. */
static bool established(const struct tunnel *t)
{
	return t && t->state == TUN_UP && t->n_children > 0 && t->children[0].installed &&
	       !t->retiring;
}

/* Established, and its probe (if any) answered: a POP to send traffic to. */
static bool usable(const struct tunnel *t)
{
	return established(t) && !t->retiring && !(t->probe && t->probe->failing);
}

/* The POPs in order of preference: the primary, then the backups. */
static size_t site_pops(const struct site *s, const char **ret)
{
	size_t n = 0;

	ret[n++] = s->primary;
	for (size_t i = 0; i < s->n_backups; i++)
		ret[n++] = s->backups[i];
	return n;
}

static struct tunnel *site_active_tunnel(struct ikd *d, const struct site *s)
{
	struct site_rt *r = site_rt_get(d, s->name, false);

	return r && r->active[0] ? pop_tunnel(d, s->name, r->active) : NULL;
}

static void fallback_fire(struct timer *tm, void *arg)
{
	struct site_rt *r = arg;
	const struct site *s = ikd_site(r->d, r->name);

	(void)tm;
	if (s)
		site_reevaluate(r->d, s);
}

/* A POP tunnel as the site machine sees it. */
static struct site_pop_view pop_view(const struct tunnel *t)
{
	struct site_pop_view v = { .state = SITE_POP_NONE };

	if (!t || t->retiring)
		return v;
	if (usable(t)) {
		v.state = SITE_POP_USABLE;
		v.usable_since_ms = t->healthy_since_ms;
	} else if (established(t)) {
		v.state = SITE_POP_ESTABLISHED;
	} else if (t->state == TUN_INIT || t->state == TUN_AUTH) {
		v.state = SITE_POP_CONNECTING;
	} else {
		v.state = SITE_POP_DOWN;
	}
	return v;
}

/*
 * Ask the site machine (lib/site/choose.c) which POP carries the site's traffic, and apply
 * its answer: the outbound policy (one update), the log line, the event, the counters and
 * the time it wants to be asked again.
 */
static void site_reevaluate(struct ikd *d, const struct site *s)
{
	struct site_rt *r = site_rt_get(d, s->name, true);
	const char *pops[1 + SITE_MAX_BACKUPS];
	struct site_pop_view views[1 + SITE_MAX_BACKUPS];
	struct tunnel *tuns[1 + SITE_MAX_BACKUPS];
	size_t n = site_pops(s, pops);
	const struct site_choice_cfg cfg = {
		.hold_down_ms = (uint64_t)d->conf.hold_down_s * 1000,
		.grace_ms = (uint64_t)d->conf.primary_grace_s * 1000 };
	struct site_choice_out out;
	const char *to, *from;

	if (!r || d->conf.role != CONF_ROLE_INITIATOR)
		return;
	for (size_t i = 0; i < n; i++) {
		tuns[i] = pop_tunnel(d, s->name, pops[i]);
		views[i] = pop_view(tuns[i]);
	}
	site_choose(&r->choice, &cfg, views, n, timer_now_ms(), &out);
	if (out.wake_ms)
		timer_arm(&d->loop.timers, &r->t_fallback, out.wake_ms);
	if (out.grace_started)
		log_info("site '%s': a backup is up; waiting up to %u s for the primary, pop '%s', "
			 "whose handshake is under way", s->name, d->conf.primary_grace_s, s->primary);
	if (r->policies && out.to == out.from)
		return;
	if (kernel_site_policies(d, s, out.to >= 0 ? tuns[out.to] : NULL) == 0) {
		/* What to remove later, even after the record is edited or deleted. */
		memcpy(&r->pol, s, sizeof(r->pol));
		memset(&r->pol.psk, 0, sizeof(r->pol.psk));
		r->policies = true;
	}
	to = out.to >= 0 ? pops[out.to] : "";
	from = out.from >= 0 ? pops[out.from] : "(none)";
	switch (out.ev) {
	case SITE_EV_ACTIVE:
		if (out.from < 0) {
			log_notice("site '%s': traffic to pop '%s'", s->name, to);
			ikd_event(d, s->name, to, "active", "traffic to pop '%s'", to);
		} else {
			log_notice("site '%s': traffic to pop '%s', the primary, now up (pop '%s' "
				   "carried it meanwhile)", s->name, to, from);
			ikd_event(d, s->name, to, "active", "traffic to pop '%s', the primary, from "
				  "pop '%s'", to, from);
		}
		break;
	case SITE_EV_FAILOVER:
	case SITE_EV_FALLBACK:
		log_notice("site '%s': %s from pop '%s' to pop '%s'", s->name,
			   site_choice_event_name(out.ev), from, to);
		ikd_event(d, s->name, to, site_choice_event_name(out.ev), "from pop '%s' to pop '%s'",
			  from, to);
		break;
	case SITE_EV_BLOCKED:
		log_warn("site '%s': no usable POP, traffic blocked (fail-closed)", s->name);
		ikd_event(d, s->name, "", "blocked", "no usable POP, traffic blocked (fail-closed)");
		break;
	case SITE_EV_NONE:
		break;
	}
	if (out.counted) {
		r->failovers++;
		ikd_count(d, s->name, out.ev == SITE_EV_FALLBACK ? CTL_SM_FALLBACKS : CTL_SM_FAILOVERS);
	}
	snprintf(r->active, sizeof(r->active), "%s", to);
}

const char *ikd_site_status(struct ikd *d, const struct site *s, const char **ret_active)
{
	struct tunnel *ts[1 + SITE_MAX_BACKUPS + 64];
	size_t n;
	uint64_t now = timer_now_ms();

	*ret_active = "";
	if (!s->enabled)
		return "disabled";
	if (d->conf.role == CONF_ROLE_INITIATOR) {
		struct tunnel *a = site_active_tunnel(d, s);

		if (!a)
			return "down";
		*ret_active = a->pop;
		/* Heard: a DPD answer (any message) or a probe answer in the last minute. */
		return established(a) && (now - a->last_heard_ms < STATUS_WINDOW_MS ||
				     (a->probe && now - a->probe->answered_ms < STATUS_WINDOW_MS)) ?
		       "up" : "down";
	}
	n = ikd_site_tunnels(d, s->name, ts, sizeof(ts) / sizeof(ts[0]));
	for (size_t i = 0; i < n; i++)
		if (ts[i]->state == TUN_UP && now - ts[i]->last_heard_ms < STATUS_WINDOW_MS)
			return "up";
	return "down";
}

/* Stop a site's tunnels and remove its policies; s is its record now (NULL: deleted). */
void ikd_status_counts(struct ikd *d, size_t *ret_up, size_t *ret_down, size_t *ret_disabled)
{
	size_t up = 0, disabled = 0;

	for (size_t i = 0; i < d->db.n_sites; i++)
		disabled += !d->db.sites[i].enabled;
	if (d->conf.role == CONF_ROLE_INITIATOR) {
		/* An edge router has few sites: each asked in turn. */
		for (size_t i = 0; i < d->db.n_sites; i++) {
			const char *active;

			up += !strcmp(ikd_site_status(d, &d->db.sites[i], &active), "up");
		}
	} else if (d->db.n_sites) {
		/* A gateway may have 10,000: one pass over the tunnels. */
		uint64_t now = timer_now_ms();
		bool *seen = calloc(d->db.n_sites, sizeof(*seen));

		for (size_t i = 0; seen && i < d->n_tunnels; i++) {
			const struct tunnel *t = d->tunnels[i];
			const struct site *s;

			if (t->state != TUN_UP || now - t->last_heard_ms >= STATUS_WINDOW_MS)
				continue;
			s = ikd_site(d, t->site);
			if (s && s->enabled && !seen[s - d->db.sites]) {
				seen[s - d->db.sites] = true;
				up++;
			}
		}
		free(seen);
	}
	*ret_up = up;
	*ret_down = d->db.n_sites - up - disabled;
	*ret_disabled = disabled;
}

static void site_stop(struct ikd *d, const char *name, const struct site *s)
{
	struct site_rt *r = site_rt_get(d, name, false);

	for (struct tunnel *t = tix_site_next(d, name, NULL), *next; t; t = next) {
		next = tix_site_next(d, name, t);
		if (t->state == TUN_UP) {
			char peer[80];

			log_notice("site '%s' %s: tunnel down: the site was %s", t->site,
				   peer_str(t, peer, sizeof(peer)), s && s->enabled ? "changed" :
				   s ? "disabled" : "deleted");
			ikd_event(d, t->site, t->initiator ? t->pop : peer, "down", "the site was %s",
				  s && s->enabled ? "changed" : s ? "disabled" : "deleted");
		}
		if (t->state == TUN_UP && t->have_sa && ike_sa_delete_request(&t->sa, &d->out) == 0)
			send_msg(t, &d->out);
		tunnel_free(t);
	}
	if (r && r->policies && d->conf.role == CONF_ROLE_INITIATOR) {
		if (s && s->enabled)
			kernel_site_policies_change(d, &r->pol, s);	/* no gap */
		else
			kernel_site_policies_remove(d, &r->pol);
	}
	site_rt_drop(d, name);
}

static void site_start(struct ikd *d, const struct site *s)
{
	const char *pops[1 + SITE_MAX_BACKUPS];
	size_t n = site_pops(s, pops);

	if (!s->enabled || d->conf.role != CONF_ROLE_INITIATOR)
		return;
	/* Fail-closed from the start: block until a POP's tunnel is up. */
	site_reevaluate(d, s);
	for (size_t i = 0; i < n; i++) {
		const struct pop *p = site_db_find_pop(&d->db, pops[i]);
		struct tunnel *t;

		if (!p || !p->accepting) {
			log_info("site '%s': pop '%s' skipped (%s)", s->name, pops[i],
				 p ? "not accepting new tunnels" : "unknown");
			continue;
		}
		t = tunnel_new(d, true, s->name, pops[i]);
		if (t)
			initiator_start(t);
	}
}

/* Sites whose configuration the engineer changed: stop and start only those. */
void ikd_apply_sites(struct ikd *d, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct site *s = ikd_site(d, names[i]);

		site_stop(d, names[i], s);
		if (s)
			site_start(d, s);
	}
}

void ikd_apply_all(struct ikd *d)
{
	for (size_t i = 0; i < d->db.n_sites; i++)
		site_start(d, &d->db.sites[i]);
}

/* Take t down on purpose (its POP changed): traffic moves off it first, then it is deleted. */
static void tunnel_retire(struct tunnel *t, const struct site *s, const char *why)
{
	struct ikd *d = t->d;

	if (t->state == TUN_UP) {
		log_notice("site '%s' pop '%s': tunnel down: %s", t->site, t->pop, why);
		ikd_event(d, t->site, t->pop, "down", "%s", why);
	}
	t->retiring = true;
	site_reevaluate(d, s);	/* make before break: the policy moves first */
	if (t->state == TUN_UP && t->have_sa && ike_sa_delete_request(&t->sa, &d->out) == 0)
		send_msg(t, &d->out);
	tunnel_reset(t);
	t->retiring = false;
}

static bool site_uses_pop(const struct site *s, const char *pop)
{
	if (!strcmp(s->primary, pop))
		return true;
	for (size_t b = 0; b < s->n_backups; b++)
		if (!strcmp(s->backups[b], pop))
			return true;
	return false;
}

void ikd_apply_pops(struct ikd *d, const char *const *names, size_t n)
{
	if (d->conf.role != CONF_ROLE_INITIATOR)
		return;
	for (size_t i = 0; i < d->db.n_sites; i++) {
		const struct site *s = &d->db.sites[i];
		bool touched = false;

		if (!s->enabled)
			continue;
		for (size_t k = 0; k < n; k++) {
			const struct pop *p = site_db_find_pop(&d->db, names[k]);
			struct tunnel *t;

			if (!site_uses_pop(s, names[k]))
				continue;
			touched = true;
			t = pop_tunnel(d, s->name, names[k]);
			if (!p || !p->accepting) {
				log_info("site '%s': pop '%s' skipped (%s)", s->name, names[k],
					 p ? "not accepting new tunnels" : "unknown");
				if (t) {
					tunnel_retire(t, s, p ? "the POP no longer accepts tunnels" :
						      "the POP was deleted");
					tunnel_free(t);
				}
			} else if (!t) {
				t = tunnel_new(d, true, s->name, names[k]);
				if (t)
					initiator_start(t);
			} else if (t->pop_cfg != pop_hash(p, false)) {
				tunnel_retire(t, s, "the POP's gateway or identity changed");
				initiator_start(t);
			} else if (t->pop_probe != pop_hash(p, true)) {
				t->pop_probe = pop_hash(p, true);
				if (t->probe)
					probe_stop(t);
				if (established(t))
					probe_begin(t, s);
			}
		}
		if (touched)
			site_reevaluate(d, s);
	}
}

void ikd_shutdown_tunnels(struct ikd *d)
{
	while (d->n_tunnels) {
		struct tunnel *t = d->tunnels[0];

		if (t->state == TUN_UP && t->have_sa && ike_sa_delete_request(&t->sa, &d->out) == 0)
			send_msg(t, &d->out);
		tunnel_free(t);
	}
	for (size_t i = 0; i < n_rts; i++)
		if (rts[i]->policies && d->conf.role == CONF_ROLE_INITIATOR)
			kernel_site_policies_remove(d, &rts[i]->pol);
	while (n_rts)
		site_rt_drop(d, rts[0]->name);
}

void ikd_tunnels_clear(struct ikd *d)
{
	while (d->n_tunnels)
		tunnel_free(d->tunnels[0]);
	free(d->tunnels);
	tix_clear(d);
	while (n_rts)
		site_rt_drop(d, rts[0]->name);
	free(rts);
	rts = NULL;
}

/* ---- kernel events ---- */

static struct tunnel *tunnel_by_child(struct ikd *d, uint32_t spi, size_t *ret_idx)
{
	return tix_child_find(d, spi, ret_idx);
}

void ikd_kernel_event(const struct xfrm_event *e, void *arg)
{
	struct ikd *d = arg;
	struct tunnel *t;
	struct child *c;
	size_t idx;

	if (e->type == XFRM_EVENT_MAPPING) {
		union net_addr moved = { 0 };
		char was[64], now[64];

		/* Raised by the kernel for ESP that decrypted: the peer's NAT mapping changed. */
		t = tunnel_by_child(d, e->spi, &idx);
		if (!t || e->new_addr.family != t->remote.sa.sa_family)
			return;
		moved.sa.sa_family = e->new_addr.family;
		if (e->new_addr.family == AF_INET)
			memcpy(&moved.in.sin_addr, &e->new_addr.a.a4, 4);
		else
			memcpy(&moved.in6.sin6_addr, e->new_addr.a.a6, 16);
		set_port(&moved, e->new_port);
		if (net_addr_equal(&moved, &t->remote, true))
			return;
		log_notice("site '%s': the kernel saw the peer move from %s to %s", t->site,
			   net_addr_str(&t->remote, was, sizeof(was)),
			   net_addr_str(&moved, now, sizeof(now)));
		t->remote = moved;
		peer_moved(t);
		tun_kick(t);
		return;
	}
	if (e->type != XFRM_EVENT_EXPIRE || e->proto != IPPROTO_ESP)
		return;
	t = tunnel_by_child(d, e->spi, &idx);
	if (!t)
		return;
	c = &t->children[idx];
	if (e->hard) {
		uint32_t spi_in = c->spi_in;

		log_notice("site '%s': Child SA %08x reached its lifetime", t->site, spi_in);
		ikd_metrics_child_gone(d, t, c, e);
		c->installed = false;	/* the kernel removed it */
		child_forget(t, spi_in, true);
		if (t->n_children == 0) {
			tunnel_down(t, "the last Child SA expired");
			return;
		}
		tun_enqueue(t, REQ_DELETE_CHILD, spi_in);
		tun_kick(t);
	} else if (may_rekey(t, c)) {
		/* The backstop: our own rekey should have come first. */
		log_info("site '%s': Child SA %08x soft lifetime reached: rekeying", t->site,
			 c->spi_in);
		c->rekeying = tun_enqueue(t, REQ_REKEY_CHILD, c->spi_in);
		tun_kick(t);
	}
}

/* ---- a site renamed ---- */

/*
 * Only the name changed (`xfrmctl site rename`): the runtime record (active POP, hold-down,
 * the record its policies were made from) and each tunnel of the site take the new name, so
 * the tunnels, their SAs and the policies stay as they are.
 */
void ikd_site_renamed(struct ikd *d, const char *old_name, const char *new_name)
{
	struct site_rt *r;
	struct tunnel *t;

	site_rt_drop(d, new_name);	/* none: the name was free; never two records for it */
	r = site_rt_get(d, old_name, false);
	if (r) {
		snprintf(r->name, sizeof(r->name), "%s", new_name);
		snprintf(r->pol.name, sizeof(r->pol.name), "%s", new_name);
	}
	while ((t = tix_site_next(d, old_name, NULL)))
		tix_set_site(d, t, new_name);
}
