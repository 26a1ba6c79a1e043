/*
 * What the running daemon knows, for lib/ctl's handler (its struct ctl_runtime): each site's
 * tunnels and throughput, `status`, the POPs' health, and what a change of the sites, the
 * POPs or a name sets going. ctl_server.c hands it to the handler with each request.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/dh.h"
#include "ctl/handler.h"
#include "glue.h"
#include "log.h"

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

const struct ctl_runtime ikd_ctl_runtime = {
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

void ctl_runtime_clear(void)
{
	free(samples);
	samples = NULL;
	n_samples = 0;
}
