/*
 * ikd's control socket (/run/ikd/ikd.sock): accepts xfrmctl's connections, frames the
 * stream, and hands each request to lib/ctl's handler with what the running daemon knows.
 * A malformed or oversized request gets an error reply and its connection is closed; a
 * client that stalls is dropped after a timeout; the daemon keeps serving the others.
 */
#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <time.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>

#include "crypto/dh.h"
#include "ctl/handler.h"
#include "glue.h"
#include "log.h"

#define CTL_MAX_CLIENTS 64	/* past it, a new client takes the place of the idlest */
#define CTL_IDLE_MS 30000	/* a client that neither sends nor reads for this long goes */
#define CTL_ACCEPT_BATCH 16	/* connections taken a round of the loop */
#define CTL_KEEP_BUF (64 * 1024)	/* a larger buffer is freed once its message is through */
#define CTL_EXPORT_BATCH 16	/* frames of an export written a round of the loop */

struct ctl_client {
	struct ikd *d;
	struct loop_fd lfd;
	struct ctl_framer fr;
	struct ike_writer out;
	size_t out_off;
	uint32_t events;	/* what epoll watches: EPOLLIN, or EPOLLOUT while a reply waits */
	uint64_t active_ms;	/* the last byte in or out */
	bool closing;		/* close once the reply is written */
	struct timer t_idle;
	uid_t uid;
	pid_t pid;
	struct ctl_stream stream;	/* a chunked import or export under way */
	bool monitor;		/* `xfrmctl monitor`: events are pushed to it */
	uint32_t monitor_id;
	struct ctl_client *next;
};

#define MONITOR_BACKLOG (256 * 1024)	/* a monitor that reads slower than this is dropped */

static size_t n_clients;
static struct ctl_shared shared;	/* the database's changes, the import under way */
static struct log_ratelimit rl_evict = LOG_RATELIMIT_INIT(10000, 3);

static void client_close(struct ctl_client *c)
{
	struct ikd *d = c->d;

	for (struct ctl_client **p = &daemon_of(d)->clients; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	timer_cancel(&daemon_of(d)->loop.timers, &c->t_idle);
	loop_del(&daemon_of(d)->loop, &c->lfd);
	close(c->lfd.fd);
	ctl_stream_clear(&shared, &c->stream);
	ctl_framer_clear(&c->fr);
	ike_writer_clear(&c->out);
	free(c);
	n_clients--;
}

static void idle_fire(struct timer *t)
{
	struct ctl_client *c = timer_owner(t, struct ctl_client, t_idle);

	log_info("control: client pid %d stalled, dropped", (int)c->pid);
	client_close(c);
}

/* ---- what the daemon knows, for the handler ---- */

/* Throughput of a site: the kernel's byte counters, sampled between two requests. */
struct rate_sample {
	char site[SITE_NAME_MAX];
	uint64_t bytes, at_ms;
	uint64_t kbps;
};

static struct rate_sample *samples;
static size_t n_samples;

static uint64_t site_kbps(const char *site, uint64_t bytes)
{
	uint64_t now = timer_now_ms();
	struct rate_sample *s = NULL;

	for (size_t i = 0; i < n_samples; i++)
		if (!strcmp(samples[i].site, site))
			s = &samples[i];
	if (!s) {
		struct rate_sample *v = realloc(samples, (n_samples + 1) * sizeof(*v));

		if (!v)
			return 0;
		samples = v;
		s = &samples[n_samples++];
		memset(s, 0, sizeof(*s));
		snprintf(s->site, sizeof(s->site), "%s", site);
	} else if (now - s->at_ms >= 1000 && bytes >= s->bytes) {
		s->kbps = (bytes - s->bytes) * 8 / (now - s->at_ms);
	} else if (bytes < s->bytes) {
		s->kbps = 0;
	} else {
		return s->kbps;	/* too soon for a new sample */
	}
	s->bytes = bytes;
	s->at_ms = now;
	return s->kbps;
}

/* A tunnel's ICMP probe: off (none), failing, ok (the last answered in time), waiting. */
static const char *probe_state(const struct tunnel *t)
{
	if (!t->probe)
		return "off";
	if (t->probe->failing)
		return "failing";
	return t->probe->missed == 0 && t->probe->answered ? "ok" : "waiting";
}

static int rt_site(void *arg, const struct site *s, bool detail, struct ike_writer *w)
{
	struct ikd *d = arg;
	struct tunnel *ts[64];
	const char *active;
	const char *status = ikd_site_status(d, s, &active);
	size_t n = ikd_site_tunnels(d, s->name, ts, 64);
	uint64_t bytes = 0, now = timer_now_ms();
	int rc = 0;

	rc = rc ?: ctl_put_kv(w, "status", status);
	rc = rc ?: ctl_put_kv(w, "active-pop", active);
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct tunnel *t = ts[i];
		uint64_t tin = 0, tout = 0, pin = 0, pout = 0;
		size_t mark;
		char addr[64];

		for (size_t j = 0; j < t->n_children; j++) {
			struct xfrm_sa_stats in, out;

			ikd_child_counters(d, t, &t->children[j], &in, &out);
			tin += in.bytes;
			tout += out.bytes;
			pin += in.packets;
			pout += out.packets;
		}
		if (!t->initiator || !strcmp(t->pop, active))
			bytes += tin + tout;
		if (!detail)
			continue;
		rc = ctl_row_begin(w, &mark);
		rc = rc ?: ctl_put_kv(w, "pop", t->initiator ? t->pop : "");
		rc = rc ?: ctl_put_kv(w, "peer", net_addr_str(&t->remote, addr, sizeof(addr)));
		rc = rc ?: ctl_put_kv(w, "state", tun_state_name(t->state));
		rc = rc ?: ctl_put_kv(w, "active", t->initiator && !strcmp(t->pop, active) ? "yes" :
				      "no");
		rc = rc ?: ctl_put_u64(w, "child-sas", t->n_children);
		rc = rc ?: ctl_put_u64(w, "bytes-in", tin);
		rc = rc ?: ctl_put_u64(w, "bytes-out", tout);
		rc = rc ?: ctl_put_u64(w, "packets-in", pin);
		rc = rc ?: ctl_put_u64(w, "packets-out", pout);
		rc = rc ?: ctl_put_u64(w, "uptime-s", t->state == TUN_UP ?
				   (now - t->up_since_ms) / 1000 : 0);
		rc = rc ?: ctl_put_u64(w, "last-heard-s", t->last_heard_ms ?
				   (now - t->last_heard_ms) / 1000 : 0);
		rc = rc ?: ctl_put_kv(w, "probe", probe_state(t));
		if (t->probe && t->probe->answered)
			rc = rc ?: ctl_put_u64(w, "probe-rtt-ms", t->probe->rtt_ms);
		rc = rc ?: ctl_put_kv(w, "last-error", t->last_error ? t->last_error : "");
		rc = rc ?: ctl_row_end(w, mark);
	}
	rc = rc ?: ctl_put_u64(w, "throughput-kbps", site_kbps(s->name, bytes));
	return rc;
}

/* A responder: whether it takes new tunnels, and the downstream check that decides it. */
static int health_status(struct ikd *d, struct ike_writer *w)
{
	const struct health *h = &daemon_of(d)->health;
	char check[CONF_HEALTH_TARGET_MAX + 16];
	int rc;

	if (d->conf.role != CONF_ROLE_RESPONDER)
		return 0;
	rc = ctl_put_kv(w, "accepting", health_accepting(h) ? "yes" : "no");
	if (rc < 0 || h->kind == CONF_HEALTH_NONE)
		return rc;
	snprintf(check, sizeof(check), "%s %s", h->kind == CONF_HEALTH_TCP ? "tcp" : "command",
		 h->target);
	rc = ctl_put_kv(w, "health-check", check);
	rc = rc ?: ctl_put_kv(w, "health-state", health_state_name(h->policy.state));
	rc = rc ?: ctl_put_kv(w, "health-last-result", h->result);
	rc = rc ?: ctl_put_u64(w, "health-checks", h->checks);
	rc = rc ?: ctl_put_u64(w, "health-failures", h->failures);
	rc = rc ?: ctl_put_u64(w, "health-refused", h->refused);
	return rc;
}

/* The kernel's policy hash thresholds as they are now (ikd.conf(5) policy-hash-thresholds). */
static int policy_hash_status(struct ikd *d, struct ike_writer *w)
{
	struct xfrm_spd_hthresh h;
	char v4[32], v6[32];
	int rc = ctl_put_kv(w, "policy-hash-thresholds", d->conf.policy_hash ? "auto" : "keep");

	if (rc < 0 || xfrm_spd_hthresh_get(&daemon_of(d)->xs, &h, NULL) < 0)
		return rc;	/* unreadable: not shown */
	snprintf(v4, sizeof(v4), "local %u remote %u", h.lbits4, h.rbits4);
	snprintf(v6, sizeof(v6), "local %u remote %u", h.lbits6, h.rbits6);
	rc = ctl_put_kv(w, "policy-hash-ipv4", v4);
	return rc ?: ctl_put_kv(w, "policy-hash-ipv6", v6);
}

/* The addresses and ports the IKE sockets are bound to, as the kernel has them. */
static int listen_status(struct ikd *d, struct ike_writer *w)
{
	char list[4 * 72] = "", addr[64];
	size_t o = 0;
	int rc;

	for (size_t i = 0; i < sizeof(d->socks) / sizeof(d->socks[0]); i++) {
		union net_addr a;
		socklen_t len = sizeof(a);

		if (d->socks[i].fd < 0 || getsockname(d->socks[i].fd, &a.sa, &len) < 0)
			continue;
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", o ? "," : "",
				      net_addr_str(&a, addr, sizeof(addr)));
		if (o >= sizeof(list))
			break;
	}
	rc = ctl_put_kv(w, "listen", list);
	rc = rc ?: ctl_put_u64(w, "ike-port", d->conf.ike_port);
	return rc ?: ctl_put_u64(w, "natt-port", d->conf.natt_port);
}

static int rt_status(void *arg, struct ike_writer *w)
{
	struct ikd *d = arg;
	size_t up, down, disabled, ike_up = 0, children = 0;
	char esp[320];
	int rc = 0;

	ikd_status_counts(d, &up, &down, &disabled);
	for (size_t i = 0; i < d->n_tunnels; i++) {
		ike_up += d->tunnels[i]->state == TUN_UP;
		children += d->tunnels[i]->n_children;
	}
	rc = rc ?: ctl_put_kv(w, "role", d->conf.role == CONF_ROLE_INITIATOR ? "initiator" :
			      "responder");
	rc = rc ?: ctl_put_u64(w, "uptime-s", (timer_now_ms() - d->started_ms) / 1000);
	/* "sites" and "pops" come from the handler; these are what only the daemon knows. */
	rc = rc ?: ctl_put_u64(w, "sites-up", up);
	rc = rc ?: ctl_put_u64(w, "sites-down", down);
	rc = rc ?: ctl_put_u64(w, "sites-disabled", disabled);
	rc = rc ?: ctl_put_u64(w, "ike-sas", ike_up);
	rc = rc ?: ctl_put_u64(w, "child-sas", children);
	rc = rc ?: ctl_put_u64(w, "half-open", d->half_open);
	rc = rc ?: listen_status(d, w);
	rc = rc ?: ctl_put_kv(w, "kernel-esp", ctl_kernel_esp_text(daemon_of(d)->esp_ok, daemon_of(d)->esp_missing, esp,
								   sizeof(esp)));
	if (!daemon_of(d)->esp_ok && daemon_of(d)->esp_missing)
		rc = rc ?: ctl_put_kv(w, "kernel-esp-missing", daemon_of(d)->esp_missing);
	rc = rc ?: ctl_put_u64(w, "ike-received", d->stats.rx);
	rc = rc ?: ctl_put_u64(w, "ike-sent", d->stats.tx);
	rc = rc ?: ctl_put_u64(w, "ike-dropped", d->stats.dropped);
	rc = rc ?: ctl_put_u64(w, "bad-icv", d->stats.bad_icv);
	rc = rc ?: ctl_put_u64(w, "auth-failed", d->stats.auth_failed);
	rc = rc ?: ctl_put_u64(w, "cookies-sent", d->stats.cookies_sent);
	{
		struct crypto_dh_pool_stats dh;

		crypto_dh_pool_stats(&dh);
		rc = rc ?: ctl_put_u64(w, "dh-workers", dh.workers);
		rc = rc ?: ctl_put_u64(w, "dh-pairs-ahead", dh.ahead);
		rc = rc ?: ctl_put_u64(w, "dh-pairs-here", dh.made_here);
		rc = rc ?: ctl_put_u64(w, "dh-keys-later", d->stats.jobs);
		rc = rc ?: ctl_put_u64(w, "ike-auth-held", d->stats.auth_held);
	}
	rc = rc ?: policy_hash_status(d, w);
	return rc ?: health_status(d, w);
}

/*
 * `pop list`: per POP, the tunnels of the sites that use it (up: the IKE SA is; anything else
 * is down) and the sites it is the active POP of. An edge router's: a gateway's tunnels go
 * to no POP of its own.
 */
static int rt_pop_health(void *arg, const struct site_db *db, struct ctl_pop_health *ret)
{
	struct ikd *d = arg;
	struct tunnel *ts[1 + SITE_MAX_BACKUPS + 64];

	if (d->conf.role != CONF_ROLE_INITIATOR)
		return 0;
	for (size_t p = 0; p < db->n_pops; p++)
		ret[p].known = true;
	for (size_t i = 0; i < db->n_sites; i++) {
		const struct site *s = &db->sites[i];
		const char *active;
		size_t n = ikd_site_tunnels(d, s->name, ts, sizeof(ts) / sizeof(ts[0]));

		ikd_site_status(d, s, &active);
		for (size_t p = 0; p < db->n_pops; p++) {
			const char *pop = db->pops[p].name;

			ret[p].sites_active += *active && !strcmp(active, pop);
			for (size_t k = 0; k < n; k++) {
				if (!ts[k]->initiator || strcmp(ts[k]->pop, pop))
					continue;
				if (ts[k]->state == TUN_UP)
					ret[p].tunnels_up++;
				else
					ret[p].tunnels_down++;
			}
		}
	}
	return 0;
}

static int rt_refresh(void *arg, char *err, size_t err_len)
{
	struct ikd *d = arg;

	(void)err;
	(void)err_len;
	/* Tunnels waiting out a back-off try again now. */
	for (size_t i = 0; i < d->n_tunnels; i++) {
		struct tunnel *t = d->tunnels[i];

		if (t->initiator && t->state == TUN_IDLE && timer_armed(&t->t_reconnect)) {
			t->reconnect_s = d->conf.reconnect_min_s;
			timer_arm(&daemon_of(d)->loop.timers, &t->t_reconnect, timer_now_ms());
		}
	}
	return 0;
}

static void rt_sites_changed(void *arg, const char *const *names, size_t n)
{
	struct ikd *d = arg;

	log_notice("control: %zu site%s changed", n, n == 1 ? "" : "s");
	ikd_sites_changed(d);
	ikd_apply_sites(d, names, n);
	for (size_t i = 0; i < n; i++)
		if (!ikd_site(d, names[i]))
			ikd_metrics_forget(names[i]);	/* deleted: its series end */
}

static void rt_pops_changed(void *arg, const char *const *names, size_t n)
{
	struct ikd *d = arg;

	ikd_sites_changed(d);
	/* Each site's tunnel to a changed POP, and only what the change touches. */
	ikd_apply_pops(d, names, n);
}

/*
 * Only the name changed: what ikd keeps by name follows it (the runtime record and the
 * tunnels, the reqid its SAs and policies carry, the counters), so no tunnel goes down.
 */
static void rt_site_renamed(void *arg, const char *old_name, const char *new_name)
{
	struct ikd *d = arg;

	log_notice("site '%s': renamed '%s'", old_name, new_name);
	ikd_sites_changed(d);
	kernel_reqid_rename(d, old_name, new_name);
	ikd_metrics_rename(old_name, new_name);
	ikd_site_renamed(d, old_name, new_name);
	ikd_event(d, new_name, "", "renamed", "from '%s'", old_name);
}

static const struct ctl_runtime runtime = {
	.site_runtime = rt_site,
	.status = rt_status,
	.sa_list = ikd_sa_list,
	.tunnel = ikd_tunnel_verb,
	.refresh = rt_refresh,
	.sites_changed = rt_sites_changed,
	.pops_changed = rt_pops_changed,
	.site_renamed = rt_site_renamed,
	.metrics = ikd_metrics_page,
	.pop_health = rt_pop_health,
};

/* ---- the connections ---- */

static void client_interest(struct ctl_client *c, uint32_t events)
{
	if (c->events != events && loop_mod(&daemon_of(c->d)->loop, &c->lfd, events) == 0)
		c->events = events;
}

/*
 * Write what is pending: 1 when all of it went out, 0 when the socket is full (EPOLLOUT
 * then says when to go on), -1 when the client is gone (closed here).
 */
static int client_send(struct ctl_client *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n = send(c->lfd.fd, c->out.buf + c->out_off, c->out.len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				client_interest(c, EPOLLOUT);
				return 0;
			}
			client_close(c);
			return -1;
		}
		c->out_off += (size_t)n;
		c->active_ms = timer_now_ms();
	}
	/* An export may have carried keys: wipe what was sent; a large buffer goes. */
	sodium_memzero(c->out.buf, c->out.len);
	c->out.len = c->out_off = 0;
	if (c->out.cap > CTL_KEEP_BUF) {
		ike_writer_clear(&c->out);
		ike_writer_init(&c->out, CTL_MAX_MSG + 4);
	}
	if (c->closing) {
		client_close(c);
		return -1;
	}
	return 1;
}

/*
 * An export's frames, made as the socket takes them: at most one frame waits in c->out, so
 * a slow reader holds 60 KiB of it, not the whole CSV. A few frames a round, so that one
 * export does not starve the other clients. Returns as client_send does.
 */
static int client_pump(struct ctl_client *c)
{
	int rc = c->out.len ? client_send(c) : 1;

	for (int k = 0; rc > 0 && ctl_stream_pending(&c->stream); k++) {
		struct ctl_runtime rt = runtime;
		struct ctl_handler h = { .db = &c->d->db, .store_path = c->d->conf.store, .rt = &rt,
					 .stream = &c->stream, .shared = &shared };

		/* An export that moves is not a stalled client. */
		timer_arm(&daemon_of(c->d)->loop.timers, &c->t_idle, timer_now_ms() + CTL_IDLE_MS);
		if (k == CTL_EXPORT_BATCH) {
			client_interest(c, EPOLLOUT);
			return 0;
		}
		rt.arg = c->d;
		if (ctl_stream_next(&h, &c->out) < 0 && c->out.len == 0) {
			client_close(c);
			return -1;
		}
		rc = client_send(c);
	}
	return rc;
}

static void client_flush(struct ctl_client *c)
{
	if (client_send(c) > 0)
		client_interest(c, EPOLLIN);
}

static void handle_body(struct ctl_client *c, const uint8_t *body, size_t len)
{
	struct ikd *d = c->d;
	struct ctl_attr *attrs = calloc(CTL_MAX_ATTRS, sizeof(*attrs));
	struct ctl_msg m = { .attrs = attrs };
	struct ctl_runtime rt = runtime;
	struct ctl_handler h = { .db = &d->db, .store_path = d->conf.store, .rt = &rt,
				 .stream = &c->stream, .shared = &shared };
	const char *why = NULL;

	rt.arg = d;
	if (!attrs) {
		c->closing = true;
		return;
	}
	if (ctl_decode(body, len, &m, &why) < 0) {
		log_warn("control: malformed request from pid %d: %s", (int)c->pid,
			 why ? why : "?");
		ctl_reply_error(&c->out, len >= 4 ? ((uint32_t)body[0] << 24 | (uint32_t)body[1] << 16 |
					       (uint32_t)body[2] << 8 | body[3]) : 0,
				EBADMSG, why ? why : "malformed request");
		c->closing = true;
	} else {
		int rc;

		/* A chunked import is logged once, at its first frame. */
		if (m.code != CTL_STATUS && m.code != CTL_SITE_LIST && m.code != CTL_SITE_SHOW &&
		    m.code != CTL_POP_LIST && m.code != CTL_POP_SHOW && m.code != CTL_SA_LIST &&
		    m.code != CTL_SITE_EXPORT && m.code != CTL_METRICS &&
		    !(m.code == CTL_SITE_IMPORT && c->stream.importing))
			log_info("control: %s from uid %u pid %d", ctl_verb_name(m.code),
				 (unsigned)c->uid, (int)c->pid);
		if (m.code == CTL_MONITOR) {
			size_t mark;

			/* From now on the connection carries events, one frame each. */
			c->monitor = true;
			c->monitor_id = m.id;
			timer_cancel(&daemon_of(d)->loop.timers, &c->t_idle);
			if (ctl_begin(&c->out, m.id, 0, CTL_FLAG_REPLY, &mark) < 0 ||
			    ctl_put_kv(&c->out, "monitor", "started") < 0 || ctl_end(&c->out, mark) < 0)
				c->closing = true;
			free(attrs);
			return;
		}
		rc = ctl_handle(&h, &m, &c->out);
		if (rc < 0 && c->out.len == 0)
			c->closing = true;
	}
	free(attrs);
}

static bool client_has_request(const struct ctl_client *c)
{
	const uint8_t *body;
	size_t len;

	return ctl_framer_next(&c->fr, &body, &len) == 1;
}

/* One read from the socket into the framer: 0, or -1 when the client is gone. */
static int client_read(struct ctl_client *c)
{
	uint8_t buf[16384];
	ssize_t n = recv(c->lfd.fd, buf, sizeof(buf), MSG_DONTWAIT);
	int rc;

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	if (n <= 0) {
		client_close(c);
		return -1;
	}
	c->active_ms = timer_now_ms();
	rc = ctl_framer_feed(&c->fr, buf, (size_t)n);
	sodium_memzero(buf, (size_t)n);
	if (rc < 0) {
		ctl_reply_error(&c->out, 0, rc == -EMSGSIZE ? EMSGSIZE : EBADMSG,
				rc == -EMSGSIZE ? "request too large" : "malformed stream");
		c->closing = true;
	}
	return 0;
}

static void client_handle_one(struct ctl_client *c)
{
	const uint8_t *body;
	size_t len;

	if (ctl_framer_next(&c->fr, &body, &len) != 1)
		return;
	handle_body(c, body, len);
	ctl_framer_pop(&c->fr);
	if (c->fr.len == 0 && c->fr.cap > CTL_KEEP_BUF)
		ctl_framer_clear(&c->fr);	/* an import's buffer goes with it */
}

/*
 * A client's turn: at most one read and one request, and the request after it only once its
 * reply is out. A client that pipelines requests without reading the replies holds one
 * reply and is dropped at the idle timeout; one that reads as fast as it asks still gets one
 * request a round of the loop, so it cannot starve the others.
 */
static void on_client(struct loop *l, struct loop_fd *f, uint32_t events)
{
	struct ctl_client *c = f->arg;

	(void)l;
	(void)events;
	if (client_pump(c) <= 0)
		return;		/* the reply before is still on its way, or the client is gone */
	if (!c->closing && !client_has_request(c) && client_read(c) < 0)
		return;
	if (!c->closing)
		client_handle_one(c);
	if (client_pump(c) <= 0)
		return;
	if (c->closing) {
		client_close(c);
		return;
	}
	/* A request already buffered is taken on the next round (the socket is writable). */
	client_interest(c, client_has_request(c) ? EPOLLOUT : EPOLLIN);
	if (!c->monitor)
		timer_arm(&daemon_of(c->d)->loop.timers, &c->t_idle, timer_now_ms() + CTL_IDLE_MS);
}

/* The client idle the longest; a monitor only when every client is one. */
static struct ctl_client *client_idlest(struct ikd *d)
{
	struct ctl_client *best = NULL;

	for (struct ctl_client *c = daemon_of(d)->clients; c; c = c->next)
		if (!best || (best->monitor && !c->monitor) ||
		    (best->monitor == c->monitor && c->active_ms < best->active_ms))
			best = c;
	return best;
}

/*
 * A client that may not use the socket is told why before it is closed, rather than finding
 * the connection gone ("Broken pipe"). The reply answers request id 0: it goes out before
 * the request is read, and a small frame fits the new socket's buffer.
 */
static void refuse(int fd)
{
	struct ike_writer w;
	char msg[160];

	if (geteuid() == 0)
		snprintf(msg, sizeof(msg), "permission denied: the socket is for root only "
			 "(control-group in ikd.conf(5) opens it to a group)");
	else
		snprintf(msg, sizeof(msg), "permission denied: the socket is for uid %u only "
			 "(control-group in ikd.conf(5) opens it to a group)", (unsigned)geteuid());
	ike_writer_init(&w, 4096);
	if (ctl_reply_error_class(&w, 0, EACCES, "permission", msg) == 0)
		(void)!send(fd, w.buf, w.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	ike_writer_clear(&w);
	close(fd);
}

static void on_accept(struct loop *l, struct loop_fd *f, uint32_t events)
{
	struct ikd *d = f->arg;

	(void)events;
	/* A few a round: a flood of connections does not starve the clients already in. */
	for (int k = 0; k < CTL_ACCEPT_BATCH; k++) {
		int fd = accept4(f->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct ucred cred;
		socklen_t clen = sizeof(cred);
		struct ctl_client *c;

		if (fd < 0)
			return;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 ||
		    (cred.uid != 0 && cred.uid != geteuid() && !d->conf.socket_group[0])) {
			log_warn("control: connection from uid %u refused",
				 clen == sizeof(cred) ? (unsigned)cred.uid : 0u);
			refuse(fd);
			continue;
		}
		/* Full: the newcomer takes the place of the client idle the longest. */
		if (n_clients >= CTL_MAX_CLIENTS) {
			struct ctl_client *old = client_idlest(d);
			unsigned sup;

			if (log_ratelimit_ok(&rl_evict, timer_now_ms(), &sup)) {
				if (sup)
					log_info("control: %u similar lines suppressed", sup);
				log_info("control: %d clients connected: pid %d, idle %" PRIu64
					 " ms, dropped for a new one", CTL_MAX_CLIENTS, (int)old->pid,
					 timer_now_ms() - old->active_ms);
			}
			client_close(old);
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->d = d;
		c->uid = cred.uid;
		c->pid = cred.pid;
		c->events = EPOLLIN;
		c->active_ms = timer_now_ms();
		ike_writer_init(&c->out, CTL_MAX_MSG + 4);
		timer_init(&c->t_idle, idle_fire);
		if (loop_add(l, &c->lfd, fd, EPOLLIN, on_client, c) < 0) {
			close(fd);
			ike_writer_clear(&c->out);
			free(c);
			continue;
		}
		c->next = daemon_of(d)->clients;
		daemon_of(d)->clients = c;
		n_clients++;
		timer_arm(&daemon_of(d)->loop.timers, &c->t_idle, timer_now_ms() + CTL_IDLE_MS);
	}
}

void ctl_server_event(struct ikd *d, const char *site, const char *pop, const char *event,
		      const char *detail)
{
	struct ctl_client *c, *next;
	char when[64];
	struct timespec ts;
	struct tm tm;

	if (!daemon_of(d)->clients)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	for (c = daemon_of(d)->clients; c; c = next) {
		size_t mark, before = c->out.len;
		int rc;

		next = c->next;
		if (!c->monitor || c->closing)
			continue;
		if (c->out.len - c->out_off > MONITOR_BACKLOG) {
			log_info("control: monitor pid %d does not keep up, dropped", (int)c->pid);
			client_close(c);
			continue;
		}
		rc = ctl_begin(&c->out, c->monitor_id, 0, CTL_FLAG_REPLY, &mark);
		rc = rc ?: ctl_put_kv(&c->out, "time", when);
		rc = rc ?: ctl_put_kv(&c->out, "event", event);
		rc = rc ?: ctl_put_kv(&c->out, "site", site ? site : "");
		rc = rc ?: ctl_put_kv(&c->out, "pop", pop ? pop : "");
		rc = rc ?: ctl_put_kv(&c->out, "detail", detail);
		rc = rc ?: ctl_end(&c->out, mark);
		if (rc < 0) {
			c->out.len = before;
			continue;
		}
		client_flush(c);
	}
}

int ctl_server_open(struct ikd *d)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char dir[CONF_PATH_MAX], *slash;
	mode_t mode = d->conf.socket_group[0] ? 0660 : 0600;
	mode_t old;
	int fd, rc;

	if (strlen(d->conf.socket) >= sizeof(sun.sun_path)) {
		log_err("control socket path too long: %s", d->conf.socket);
		return -ENAMETOOLONG;
	}
	strcpy(sun.sun_path, d->conf.socket);
	snprintf(dir, sizeof(dir), "%s", d->conf.socket);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			log_err("cannot create %s: %s", dir, strerror(errno));
			return -errno;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(sun.sun_path);
	old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc < 0 || listen(fd, 64) < 0) {
		rc = -errno;
		log_err("cannot listen on %s: %s", d->conf.socket, strerror(-rc));
		close(fd);
		return rc;
	}
	if (d->conf.socket_group[0]) {
		struct group *g = getgrnam(d->conf.socket_group);

		if (!g || chown(sun.sun_path, 0, g->gr_gid) < 0) {
			log_err("control-group '%s': %s", d->conf.socket_group,
				g ? strerror(errno) : "no such group");
			close(fd);
			return -EINVAL;
		}
	}
	if (chmod(sun.sun_path, mode) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	daemon_of(d)->ctl_listen_fd = fd;
	ikd_metrics_start(d);
	rc = loop_add(&daemon_of(d)->loop, &daemon_of(d)->ctl_fd, fd, EPOLLIN, on_accept, d);
	if (rc < 0) {
		close(fd);
		daemon_of(d)->ctl_listen_fd = -1;
	}
	return rc;
}

void ctl_server_close(struct ikd *d)
{
	while (daemon_of(d)->clients)
		client_close(daemon_of(d)->clients);
	if (daemon_of(d)->ctl_listen_fd >= 0) {
		loop_del(&daemon_of(d)->loop, &daemon_of(d)->ctl_fd);
		close(daemon_of(d)->ctl_listen_fd);
		unlink(d->conf.socket);
		daemon_of(d)->ctl_listen_fd = -1;
	}
	free(samples);
	samples = NULL;
	n_samples = 0;
}
