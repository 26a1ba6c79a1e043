/*
 * The world: nodes running the real lifecycle over the simulated network and kernels, the
 * io that connects them (ikd.h struct ikd_io), and the loop that advances virtual time to the
 * next datagram, timer, fault or check.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tunnel/conf.h"
#include "xfrm/events.h"
#include "world.h"

#define CHECK_EVERY_MS 250
#define LIVELOCK_EVENTS 100000

/* ---- the trace ---- */

void sim_trace(struct sim_world *w, const char *fmt, ...)
{
	char *line = w->trace[w->trace_next];
	int n;
	va_list ap;

	n = snprintf(line, sizeof(w->trace[0]), "%7llu.%03llu ",
		     (unsigned long long)(w->now_ms / 1000), (unsigned long long)(w->now_ms % 1000));
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(w->trace[0]) - (size_t)n, fmt, ap);
	va_end(ap);
	w->trace_next = (w->trace_next + 1) % SIM_TRACE_LINES;
	if (w->trace_n < SIM_TRACE_LINES)
		w->trace_n++;
	if (w->verbose)
		printf("%s\n", line);
}

/* A node's log line (io.log): into the trace, under its name. */
static void io_log(void *arg, int priority, bool from_peer, const char *line)
{
	struct sim_node *n = arg;

	(void)priority, (void)from_peer;
	sim_trace(n->w, "%-6s %s", n->name, line);
}

/* ---- the io: what a node's lifecycle asks of its world ---- */

static void to_sim(const union net_addr *a, struct simnet_addr *ret)
{
	simnet_addr_from_sockaddr(&a->sa, net_addr_len(a), ret);
}

static void from_sim(const struct simnet_addr *a, union net_addr *ret)
{
	memset(ret, 0, sizeof(*ret));
	simnet_addr_to_sockaddr(a, &ret->sa, sizeof(*ret));
}

static void net_send_from(struct sim_node *n, uint16_t port, const union net_addr *to,
			  const uint8_t *buf, size_t len)
{
	struct simnet_addr f, t;

	to_sim(&n->addr, &f);
	f.port = port;
	to_sim(to, &t);
	simnet_send(n->w->net, n->w->now_ms, &f, &t, buf, len);
}

static uint64_t io_now_ms(void *arg)
{
	struct sim_node *n = arg;

	return n->w->now_ms;
}

static int io_send(void *arg, const struct net_sock *s, const uint8_t *msg, size_t len,
		   const union net_addr *to, const union net_addr *local)
{
	struct sim_node *n = arg;

	(void)local;
	if (!n->running)
		return 0;
	/* A NAT-T socket's datagrams carry the non-ESP marker (RFC 3948): so do ours. */
	if (s->natt) {
		static uint8_t buf[65536];

		if (len + 4 > sizeof(buf))
			return -EMSGSIZE;
		memset(buf, 0, 4);
		memcpy(buf + 4, msg, len);
		net_send_from(n, s->port, to, buf, len + 4);
	} else {
		net_send_from(n, s->port, to, msg, len);
	}
	return 0;
}

static int io_send_keepalive(void *arg, const struct net_sock *s, const union net_addr *to,
			     const union net_addr *local)
{
	struct sim_node *n = arg;
	static const uint8_t ka = 0xff;

	(void)local;
	if (n->running)
		net_send_from(n, s->port, to, &ka, 1);
	return 0;
}

static int io_route_source(void *arg, const union net_addr *remote, union net_addr *ret)
{
	struct sim_node *n = arg;

	(void)remote;
	*ret = n->addr;
	ret->in.sin_port = 0;
	return 0;
}

static int io_sa_add(void *arg, const struct xfrm_sa *sa, bool update, struct xfrm_err *err)
{
	struct sim_node *n = arg;

	return simk_sa_add(n->k, sa, update, err);
}

static int io_sa_delete(void *arg, const struct xfrm_addr *dst, uint32_t spi, uint8_t proto,
			uint32_t mark, uint32_t mark_mask, struct xfrm_err *err)
{
	struct sim_node *n = arg;

	return simk_sa_delete(n->k, dst, spi, proto, mark, mark_mask, err);
}

static int io_sa_get(void *arg, const struct xfrm_addr *dst, uint32_t spi, uint8_t proto,
		     uint32_t mark, uint32_t mark_mask, struct xfrm_sa_stats *ret,
		     struct xfrm_err *err)
{
	struct sim_node *n = arg;

	return simk_sa_get(n->k, dst, spi, proto, mark, mark_mask, ret, err);
}

static int io_policy_add(void *arg, const struct xfrm_policy *p, bool update,
			 struct xfrm_err *err)
{
	struct sim_node *n = arg;

	return simk_policy_add(n->k, p, update, err);
}

static int io_policy_delete(void *arg, const struct xfrm_policy *p, struct xfrm_err *err)
{
	struct sim_node *n = arg;

	return simk_policy_delete(n->k, p, err);
}

/*
 * The probes (ikd/probe.c in the daemon): an ICMP echo from 10.1.0.1 (inside the site's
 * local-ts) to the POP's probe IP, marked for its tunnel's probe policy. Sending asks the
 * simulated kernels the way the packet goes: out through the tunnel's SA (the probe policy),
 * into the POP (unless it drops ESP, or is cut off), and the answer back through the POP's
 * outbound SA into the branch; when all of it holds, the echo comes back after a round trip.
 */
static const struct xfrm_addr probe_src = { .family = AF_INET, .a.a4 = 0x0100010a };

static int io_probe_start(void *arg, struct tunnel *t, const struct site *s, const struct pop *p,
			  char *why, size_t why_len)
{
	struct sim_node *n = arg;
	struct tun_probe *pr;
	uint16_t id = 0;
	int rc;

	why[0] = '\0';
	if (t->probe || !p || !p->probe_ip[0])
		return -ENOENT;
	if (s->if_id)
		return snprintf(why, why_len, "the site is route-based: DPD only"), -EOPNOTSUPP;
	for (unsigned k = 0; k < SIM_PROBE_IDS && !id; k++) {
		uint16_t c = (uint16_t)((n->probe_next + k) % SIM_PROBE_IDS);

		if (c && !n->probe_ids[c])
			id = c;
	}
	pr = id ? calloc(1, sizeof(*pr)) : NULL;
	if (!pr)
		return -ENOSPC;
	n->probe_next = (uint16_t)(id + 1);
	net_addr_parse("10.1.0.1", 0, &pr->src);
	if (net_addr_parse(p->probe_ip, 0, &pr->dst) < 0) {
		free(pr);
		return -EINVAL;
	}
	pr->id = id;
	pr->mark = IKD_PROBE_MARK_BASE | id;
	pr->seq = (uint16_t)randombytes_uniform(65536);
	t->probe = pr;
	n->probe_ids[id] = t;
	rc = kernel_probe_policy(&n->d, t, false);
	if (rc < 0) {
		kernel_probe_policy(&n->d, t, true);
		n->probe_ids[id] = NULL;
		t->probe = NULL;
		free(pr);
		return snprintf(why, why_len, "the kernel refused the probe's policy"), rc;
	}
	return 0;
}

static void io_probe_stop(void *arg, struct tunnel *t)
{
	struct sim_node *n = arg;

	if (!t->probe)
		return;
	kernel_probe_policy(&n->d, t, true);
	if (n->probe_ids[t->probe->id] == t)
		n->probe_ids[t->probe->id] = NULL;
	free(t->probe);
	t->probe = NULL;
}

static int io_probe_send(void *arg, struct tunnel *t)
{
	struct sim_node *n = arg;
	struct sim_world *w = n->w;
	struct tun_probe *pr = t->probe;
	struct xfrm_addr dst;
	struct simk_esp pkt;
	struct sim_node *pop, *back;
	enum simk_out o;

	if (!pr)
		return -ENOENT;
	pr->seq++;
	pr->sent_ms = w->now_ms;
	kernel_addr(&pr->dst, &dst);
	o = simk_output_proto(n->k, &probe_src, &dst, IPPROTO_ICMP, pr->mark, 0, 84, &pkt);
	if (o != SIMK_ESP)
		return o == SIMK_NO_SA ? -EAGAIN : -EPERM;	/* counted as missed, as sendmsg's */
	pop = sim_node_at(w, &pkt.dst);
	if (!pop || pop == n || !pop->running || pop->esp_drop || sim_cut_between(w, n, pop) ||
	    simk_input(pop->k, &pkt, &probe_src, &dst, NULL) != SIMK_IN_OK)
		return 0;		/* sent, never answered */
	if (simk_output_proto(pop->k, &dst, &probe_src, IPPROTO_ICMP, 0, 0, 84, &pkt) !=
	    SIMK_ESP)
		return 0;
	back = sim_node_at(w, &pkt.dst);
	if (back != n)
		return 0;
	kernel_addr(&n->addr, &pkt.dst);	/* behind the NAT: its private address */
	if (simk_input(n->k, &pkt, &dst, &probe_src, NULL) != SIMK_IN_OK ||
	    w->n_answers == SIM_PROBE_ANSWERS)
		return 0;
	w->answers[w->n_answers++] = (struct sim_answer){
		.due_ms = w->now_ms + 2 * (uint64_t)w->base[pop->id].delay_ms + 1,
		.id = pr->id, .seq = pr->seq };
	return 0;
}

static void io_event(void *arg, const char *site, const char *pop, const char *event,
		     const char *detail)
{
	struct sim_node *n = arg;

	n->events++;
	if (!strcmp(event, "failover"))
		n->failovers++;
	else if (!strcmp(event, "fallback"))
		n->fallbacks++;
	if (!strcmp(event, "fallback"))
		sim_check_fallback(n->w, pop);
	/* what a monitor sees: ups and downs per tunnel, and where the traffic was sent */
	if (!strcmp(event, "up") || !strcmp(event, "down")) {
		int i = n->id == SIM_BRANCH && !strncmp(pop, "pop", 3) ? pop[3] - '0' : 0;

		if (i >= 0 && i < SIM_NODES)
			n->up_minus_down[i] += !strcmp(event, "up") ? 1 : -1;
	}
	if (!strcmp(event, "active") || !strcmp(event, "failover") || !strcmp(event, "fallback"))
		snprintf(n->last_active, sizeof(n->last_active), "%s", pop);
	else if (!strcmp(event, "blocked"))
		n->last_active[0] = '\0';
	else if (!strcmp(event, "up"))
		n->ups++;
	else if (!strcmp(event, "down"))
		n->downs++;
	sim_trace(n->w, "%-6s EVENT %s site '%s' pop '%s': %s", n->name, event, site, pop, detail);
}

static void io_count(void *arg, const char *site, enum ctl_sm what)
{
	(void)arg, (void)site, (void)what;
}

static void io_child_gone(void *arg, const struct tunnel *t, const struct child *c,
			  const struct xfrm_event *expired)
{
	(void)arg, (void)t, (void)c, (void)expired;
}

static void io_child_out_gone(void *arg, const struct tunnel *t, const struct child *c)
{
	(void)arg, (void)t, (void)c;
}

static bool io_accepting(void *arg)
{
	struct sim_node *n = arg;

	return n->accepting;
}

static int io_run_job(void *arg, struct ike_init_job *job)
{
	struct sim_node *n = arg;
	struct sim_world *w = n->w;
	uint32_t ms = w->sc.job_ms[n->id];

	if (!ms || w->n_jobs == SIM_JOBS)
		return -EAGAIN;	/* no worker (or all busy): made at once, as ikd does */
	w->jobs_given++;
	w->jobs[w->n_jobs++] = (struct sim_job){
		.due_ms = w->now_ms + ms / 2 + simr_below(&w->job_rng, ms / 2 + 1),
		.node = n->id, .job = job };
	return 0;
}

static const struct ikd_io sim_io = {
	.now_ms = io_now_ms,
	.log = io_log,
	.send = io_send,
	.send_keepalive = io_send_keepalive,
	.route_source = io_route_source,
	.sa_add = io_sa_add,
	.sa_delete = io_sa_delete,
	.sa_get = io_sa_get,
	.policy_add = io_policy_add,
	.policy_delete = io_policy_delete,
	.probe_start = io_probe_start,
	.probe_stop = io_probe_stop,
	.probe_send = io_probe_send,
	.event = io_event,
	.count = io_count,
	.child_gone = io_child_gone,
	.child_out_gone = io_child_out_gone,
	.accepting = io_accepting,
	.run_job = io_run_job,
};

/* ---- nodes ---- */

static const char psk[] = "sim-pre-shared-key-0123456789abcdef";

static int add_site(struct sim_world *w, struct sim_node *n, char *err, size_t err_len)
{
	const struct sim_scenario *sc = &w->sc;
	char buf[32];
	struct site s;
	int rc;

	site_init(&s);
	const char *kv[][2] = {
		{ "name", SIM_SITE }, { "id", "s1.example.com" }, { "vendor-rules", "no" },
		/* X25519: fast, and every key drawn through libsodium (the seed's) */
		{ "ike-proposals", "aes256gcm16-prfsha256-x25519" }, { "primary", "pop1" },
		{ "backups", "pop2,pop3" }, { "traffic", "mixed" },
		{ "local-ts", sc->many_ts ? "10.1.0.0/24,10.1.1.0/24" : "10.1.0.0/24" },
		{ "remote-ts", sc->many_ts ? "10.2.0.0/16,10.3.0.0/16" : "10.2.0.0/16" },
	};
	rc = 0;
	for (size_t i = 0; rc == 0 && i < sizeof(kv) / sizeof(kv[0]); i++)
		rc = site_set(&s, kv[i][0], kv[i][1], err, err_len);
	snprintf(buf, sizeof(buf), "%u", sc->child_rekey_s[n->id]);
	rc = rc ?: site_set(&s, "child-rekey", buf, err, err_len);
	snprintf(buf, sizeof(buf), "%u", sc->ike_rekey_s[n->id]);
	rc = rc ?: site_set(&s, "ike-rekey", buf, err, err_len);
	snprintf(buf, sizeof(buf), "%u", sc->dpd_interval_s);
	rc = rc ?: site_set(&s, "dpd-interval", buf, err, err_len);
	if (sc->child_life_s[n->id]) {
		snprintf(buf, sizeof(buf), "%u", sc->child_life_s[n->id]);
		rc = rc ?: site_set(&s, "child-lifetime", buf, err, err_len);
		snprintf(buf, sizeof(buf), "%u", sc->ike_life_s[n->id]);
		rc = rc ?: site_set(&s, "ike-lifetime", buf, err, err_len);
	}
	rc = rc ?: site_set(&s, "esp-proposals", sc->pfs ? "aes256gcm16-x25519" : "aes256gcm16",
			    err, err_len);
	rc = rc ?: site_set_psk(&s, (const uint8_t *)psk, sizeof(psk) - 1, err, err_len);
	/* added again at the branch while the operator has it disabled: as it was */
	if (rc == 0 && n->id == SIM_BRANCH && w->site_disabled)
		rc = site_set(&s, "enabled", "no", err, err_len);
	/* A gateway knows the branch's address unless a NAT hides it. */
	if (rc == 0 && n->id != SIM_BRANCH && !sc->nat)
		rc = site_set(&s, "source-ip", "198.51.100.2", err, err_len);
	rc = rc ?: site_db_add_site(&n->d.db, &s, err, err_len);
	site_clear(&s);
	return rc;
}

static int add_pops(struct sim_world *w, struct sim_node *n, char *err, size_t err_len)
{
	for (int i = 1; i <= SIM_POPS; i++) {
		char name[16], gw[32], id[64];
		struct pop p;
		int rc;

		memset(&p, 0, sizeof(p));
		snprintf(name, sizeof(name), "pop%d", i);
		snprintf(gw, sizeof(gw), "192.0.2.%d", i);
		snprintf(id, sizeof(id), "pop%d.example.net", i);
		rc = pop_set(&p, "name", name, err, err_len);
		rc = rc ?: pop_set(&p, "gateway", gw, err, err_len);
		rc = rc ?: pop_set(&p, "ike-id", id, err, err_len);
		rc = rc ?: pop_set(&p, "accepting", "yes", err, err_len);
		if (w->sc.probes) {
			char probe[32];

			snprintf(probe, sizeof(probe), "10.2.0.%d", i);
			rc = rc ?: pop_set(&p, "probe-ip", probe, err, err_len);
		}
		rc = rc ?: site_db_add_pop(&n->d.db, &p, err, err_len);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int node_conf(struct sim_world *w, struct sim_node *n, char *err, size_t err_len)
{
	const struct sim_scenario *sc = &w->sc;
	char text[512];
	int len;

	if (n->id == SIM_BRANCH)
		len = snprintf(text, sizeof(text), "role = initiator\nhold-down = %u\n"
			       "reconnect-max = %u\nprimary-grace = %u\nrekey-jitter = %u\n",
			       sc->hold_down_s, sc->reconnect_max_s, sc->primary_grace_s,
			       sc->jitter ? 180 : 0);
	else
		len = snprintf(text, sizeof(text), "role = responder\nidentity = pop%d.example.net\n"
			       "rekey-jitter = %u\n", n->id, sc->jitter ? 180 : 0);
	if (w->log_level == LOG_DEBUG)
		len += snprintf(text + len, sizeof(text) - (size_t)len, "log-level = debug\n");
	conf_defaults(&n->d.conf);
	return conf_parse(&n->d.conf, n->name, text, (size_t)len, err, err_len);
}

int sim_node_start(struct sim_world *w, int id)
{
	struct sim_node *n = &w->nodes[id];
	struct ikd *d = &n->d;
	char err[256];
	int rc;

	memset(d, 0, sizeof(*d));
	d->io = &sim_io;
	d->io_arg = n;
	d->timers = &n->timers;
	rc = node_conf(w, n, err, sizeof(err));
	d->db.role = id == SIM_BRANCH ? SITE_ROLE_INITIATOR : SITE_ROLE_RESPONDER;
	rc = rc ?: add_pops(w, n, err, sizeof(err));
	/* ikd starts with what its store holds: not a site the operator deleted */
	rc = rc ?: w->site_deleted[id] ? 0 : add_site(w, n, err, sizeof(err));
	if (rc < 0) {
		sim_fail(w, "setup", "%s: %s", n->name, err);
		return rc;
	}
	ikd_sites_changed(d);
	ike_writer_init(&d->out, IKE_MAX_MSG_LEN);
	d->started_ms = w->now_ms;
	for (int i = 0; i < 4; i++) {
		d->socks[i].fd = i < 2 ? 100 + i : -1;	/* IPv4 only; the descriptor is a token */
		d->socks[i].family = i < 2 ? AF_INET : AF_INET6;
		d->socks[i].port = i % 2 ? 4500 : 500;
		d->socks[i].natt = i % 2;
	}
	if (ikd_tunnels_init(d) < 0 || secret_alloc(&d->cookie_secret, 32) < 0)
		return -ENOMEM;
	randombytes_buf(d->cookie_secret.p, d->cookie_secret.len);
	n->running = true;
	n->ever_started = true;
	n->started_ms = w->now_ms;
	sim_trace(w, "%-6s START ikd (%s)", n->name, id == SIM_BRANCH ? "initiator" : "responder");
	ikd_apply_all(d);
	return 0;
}

static void node_free(struct sim_world *w, struct sim_node *n)
{
	struct ikd *d = &n->d;

	w->auth_held += d->stats.auth_held;
	ikd_tunnels_clear(d);
	site_db_clear(&d->db);
	site_index_clear(&d->names);
	free(d->id_slots);
	secret_clear(&d->cookie_secret);
	ike_writer_clear(&d->out);
	timer_heap_clear(&n->timers);
	memset(n->probe_ids, 0, sizeof(n->probe_ids));
	n->running = false;
}

/*
 * ikd dies: nothing more leaves it, its state is gone. What it left in the kernel is removed
 * when it starts again (kernel_reconcile, start-up): the same as removing it now, since
 * nothing runs in between that could use it.
 */
static void node_down(struct sim_node *n)
{
	n->running = false;	/* io.send drops from here on: a dead process sends nothing */
	node_free(n->w, n);
	/* a new process, a new event stream */
	memset(n->up_minus_down, 0, sizeof(n->up_minus_down));
	n->last_active[0] = '\0';
	n->restarts++;
}

void sim_node_crash(struct sim_world *w, int id)
{
	struct sim_node *n = &w->nodes[id];

	if (!n->running)
		return;
	sim_trace(w, "%-6s CRASH ikd (its state is lost)", n->name);
	w->stop_until[id] = 0;
	node_down(n);
}

void sim_node_stop(struct sim_world *w, int id)
{
	struct sim_node *n = &w->nodes[id];

	if (!n->running || w->stop_until[id])
		return;
	sim_trace(w, "%-6s STOP ikd (SIGTERM: each IKE SA deleted at its peer)", n->name);
	ikd_stop_begin(&n->d);
	w->stop_until[id] = w->now_ms + SIM_STOP_WAIT_MS;
}

void sim_node_stop_end(struct sim_world *w, int id)
{
	struct sim_node *n = &w->nodes[id];

	w->stop_until[id] = 0;
	if (!n->running)
		return;
	sim_trace(w, "%-6s STOPPED (%zu tunnels still waiting for an answer)", n->name,
		  n->d.n_tunnels);
	ikd_shutdown_tunnels(&n->d);
	node_down(n);
}

/* ---- control changes, as the control socket makes them (ikd/ctl_server.c) ---- */

static const char *const site_names[] = { SIM_SITE };

/* The site's record changed in the node's database: the lifecycle applies it. */
static int site_applied(struct sim_node *nd)
{
	ikd_sites_changed(&nd->d);
	ikd_apply_sites(&nd->d, site_names, 1);
	return 0;
}

int sim_site_edit(struct sim_world *w, int id, const char *const *kv, size_t n)
{
	struct sim_node *nd = &w->nodes[id];
	char err[256];
	int rc;

	if (!nd->running)
		return -ESRCH;
	rc = site_db_edit_site(&nd->d.db, SIM_SITE, kv, n, err, sizeof(err));
	if (rc < 0) {
		sim_trace(w, "%-6s CONTROL site edit refused: %s", nd->name, err);
		return rc;
	}
	return site_applied(nd);
}

int sim_site_enable(struct sim_world *w, int id, bool enabled)
{
	struct sim_node *nd = &w->nodes[id];
	char err[256];
	int rc;

	if (!nd->running)
		return -ESRCH;
	rc = site_db_set_enabled(&nd->d.db, site_names, 1, enabled, err, sizeof(err));
	return rc < 0 ? rc : site_applied(nd);
}

int sim_site_delete(struct sim_world *w, int id)
{
	struct sim_node *nd = &w->nodes[id];
	char err[256];
	int rc;

	if (!nd->running)
		return -ESRCH;
	rc = site_db_delete_sites(&nd->d.db, site_names, 1, err, sizeof(err));
	if (rc < 0) {
		sim_trace(w, "%-6s CONTROL site delete refused: %s", nd->name, err);
		return rc;
	}
	return site_applied(nd);
}

int sim_site_add(struct sim_world *w, int id)
{
	struct sim_node *nd = &w->nodes[id];
	char err[256];
	int rc;

	if (!nd->running)
		return -ESRCH;
	rc = add_site(w, nd, err, sizeof(err));
	if (rc < 0) {
		sim_trace(w, "%-6s CONTROL site add refused: %s", nd->name, err);
		return rc;
	}
	return site_applied(nd);
}

int sim_kernel_expire(struct sim_world *w, int id, size_t i, bool hard)
{
	struct sim_node *nd = &w->nodes[id];
	const struct simk_sa *k = simk_sa_at(nd->k, i);
	struct xfrm_event e;

	if (!k)
		return -ESRCH;
	memset(&e, 0, sizeof(e));
	e.type = XFRM_EVENT_EXPIRE;
	e.hard = hard;
	e.src = k->sa.src;
	e.dst = k->sa.dst;
	e.spi = k->sa.spi;
	e.proto = k->sa.proto;
	e.reqid = k->sa.reqid;
	e.mark = k->sa.mark;
	e.mark_mask = k->sa.mark_mask;
	e.stats = k->stats;
	sim_trace(w, "%-6s KERNEL %s expiry of SA %08x", nd->name, hard ? "hard" : "soft", e.spi);
	if (simk_sa_expire(nd->k, &e.dst, e.spi, e.proto, e.mark, e.mark_mask, hard) < 0)
		return -ESRCH;
	/* k is gone after a hard expiry: the event carries copies */
	if (nd->running)
		ikd_kernel_event(&e, &nd->d);
	return 0;
}

int sim_pop_edit(struct sim_world *w, int pop, const char *key, const char *value)
{
	struct sim_node *b = &w->nodes[SIM_BRANCH];
	const char *kv[2] = { key, value };
	const char *names[1];
	char name[16], err[256];
	int rc;

	if (!b->running)
		return -ESRCH;
	snprintf(name, sizeof(name), "pop%d", pop);
	names[0] = name;
	rc = site_db_edit_pop(&b->d.db, name, kv, 2, err, sizeof(err));
	if (rc < 0)
		return rc;
	ikd_sites_changed(&b->d);
	ikd_apply_pops(&b->d, names, 1);
	return 0;
}

/* ---- the world ---- */

/* libsodium's and OpenSSL's randomness: one stream, reseeded by each world (rng.h). */
static struct simr rand_stream;

int sim_crypto_init(void)
{
	int rc = simr_sodium_install(&rand_stream);

	rc = rc ?: simr_openssl_install(&rand_stream);
	if (rc == 0 && sodium_init() < 0)
		rc = -EIO;
	return rc;
}

int sim_world_init(struct sim_world *w, uint64_t seed, unsigned gen,
		   const struct sim_scenario *given, int verbose, int log_level)
{
	memset(w, 0, sizeof(*w));
	w->seed = seed;
	w->gen = gen;
	w->verbose = verbose;
	w->log_level = log_level;
	w->trace = calloc(SIM_TRACE_LINES, sizeof(*w->trace));
	if (!w->trace)
		return -ENOMEM;
	simr_seed(&w->rng, seed);
	w->fault_rng = simr_split(&w->rng);
	w->stop_rng = simr_derive(&w->fault_rng, 6);
	simr_seed(&rand_stream, seed ^ 0x5eed5eed5eed5eedull);
	w->job_rng = simr_derive(&w->fault_rng, 7);
	w->net = simnet_new(&w->rng);
	if (!w->net)
		return -ENOMEM;
	for (int i = 0; i < SIM_NODES; i++) {
		struct sim_node *n = &w->nodes[i];
		char a[32];

		n->w = w;
		n->id = i;
		n->accepting = true;
		snprintf(n->name, sizeof(n->name), i == SIM_BRANCH ? "branch" : "pop%d", i);
		snprintf(a, sizeof(a), i == SIM_BRANCH ? "198.51.100.2" : "192.0.2.%d", i);
		net_addr_parse(a, 0, &n->addr);
		n->k = simk_new();
		if (!n->k)
			return -ENOMEM;
	}
	if (given) {
		/* A scripted run: its timers and starts; faults are the script's own calls. */
		w->sc = *given;
		w->next_action_ms = w->next_fault_ms = UINT64_MAX;
		for (int i = 1; i < SIM_NODES; i++)
			w->base[i] = (struct simnet_link_conf){ .delay_ms = 10 };
	} else {
		sim_scenario_draw(w);
	}
	for (int i = 0; i < SIM_NODES; i++) {
		struct sim_node *n = &w->nodes[i];

		/* Behind the NAT the branch has a private address; its public one is the NAT's. */
		if (i == SIM_BRANCH && w->sc.nat)
			net_addr_parse("10.0.0.2", 0, &n->addr);
		{
			struct simnet_addr a;

			to_sim(&n->addr, &a);
			n->net_id = simnet_node_add(w->net, n->name, &a, 1);
		}
		if (i == SIM_BRANCH && w->sc.nat) {
			struct simnet_addr pub;

			simnet_addr_parse("198.51.100.2", 0, &pub);
			simnet_nat(w->net, (uint32_t)n->net_id, &pub);
		}
	}
	sim_links_init(w);
	sim_trace(w, "seed %llu: %s", (unsigned long long)seed, w->sc.text);
	return 0;
}

void sim_world_free(struct sim_world *w)
{
	for (int i = 0; i < SIM_NODES; i++) {
		if (w->nodes[i].running)
			node_free(w, &w->nodes[i]);
		simk_free(w->nodes[i].k);
		w->nodes[i].k = NULL;
	}
	for (size_t i = 0; i < w->n_jobs; i++)
		ike_init_job_free(w->jobs[i].job);
	w->n_jobs = 0;
	simnet_free(w->net);
	w->net = NULL;
	free(w->trace);
	w->trace = NULL;
}

uint64_t sim_auth_held(const struct sim_world *w)
{
	uint64_t n = w->auth_held;

	for (int i = 0; i < SIM_NODES; i++)
		if (w->nodes[i].running)
			n += w->nodes[i].d.stats.auth_held;
	return n;
}

static struct sim_node *node_of_net(struct sim_world *w, int net_id)
{
	for (int i = 0; i < SIM_NODES; i++)
		if (w->nodes[i].net_id == net_id)
			return &w->nodes[i];
	return NULL;
}

static void deliver(struct sim_world *w, const struct simnet_dgram *g)
{
	struct sim_node *n = node_of_net(w, (int)g->node);
	struct net_dgram dg;
	const uint8_t *p = g->buf;
	size_t len = g->len;
	uint16_t port = g->dst.port;
	struct net_sock *s;

	if (!n || !n->running)
		return;		/* nobody listens: an ICMP error the lifecycle never reads */
	s = &n->d.socks[port == 4500 ? 1 : 0];
	if ((port != 500 && port != 4500) || (port == 4500 && n->deaf_4500))
		return;
	if (s->natt) {
		/* as net_recv: a keepalive (0xff) or ESP is not IKE; IKE after the marker */
		if (len < 4 || memcmp(p, "\0\0\0\0", 4) != 0)
			return;
		p += 4;
		len -= 4;
	}
	if (len > sizeof(n->rx))
		return;
	memcpy(n->rx, p, len);
	memset(&dg, 0, sizeof(dg));
	from_sim(&g->src, &dg.from);
	from_sim(&g->dst, &dg.local);
	ikd_receive(&n->d, s, n->rx, len, &dg);
}

static uint64_t next_timer_ms(struct sim_world *w, int *ret_node)
{
	uint64_t best = UINT64_MAX;

	*ret_node = -1;
	for (int i = 0; i < SIM_NODES; i++) {
		struct sim_node *n = &w->nodes[i];

		if (n->running && n->timers.n && n->timers.v[0]->deadline_ms < best) {
			best = n->timers.v[0]->deadline_ms;
			*ret_node = i;
		}
	}
	return best;
}

/*
 * One step: the next start, fault, datagram, timer or check due by limit_ms. Returns 1 when
 * one ran, 0 when nothing is due by then (time is at limit_ms), -1 on a failure, 2 when the
 * quiescence invariants were checked (the run is over).
 */
static int step(struct sim_world *w, uint64_t limit_ms)
{
	uint64_t t_net = simnet_next_ms(w->net), t_timer, t_start = UINT64_MAX, t;
	uint64_t t_answer = UINT64_MAX, t_expire = UINT64_MAX, t_job = UINT64_MAX;
	size_t answer = 0, expire_i = 0, job = 0;
	int tn, start = -1, expire_node = -1;
	bool expire_hard = false;

	t_timer = next_timer_ms(w, &tn);
	/* the kernels' lifetimes, timed from generation 5 on (before: only injected expiries) */
	for (int i = 0; w->gen >= 5 && i < SIM_NODES; i++) {
		size_t j = 0;
		bool hard = false;
		uint64_t s = simk_next_expiry(w->nodes[i].k, &j, &hard);

		if (s != UINT64_MAX && s * 1000 < t_expire) {
			t_expire = s * 1000;
			expire_node = i;
			expire_i = j;
			expire_hard = hard;
		}
	}
	for (size_t i = 0; i < w->n_answers; i++)
		if (w->answers[i].due_ms < t_answer) {
			t_answer = w->answers[i].due_ms;
			answer = i;
		}
	for (size_t i = 0; i < w->n_jobs; i++)
		if (w->jobs[i].due_ms < t_job) {
			t_job = w->jobs[i].due_ms;
			job = i;
		}
	for (int i = 0; i < SIM_NODES; i++)
		if (!w->nodes[i].ever_started && w->sc.start_ms[i] < t_start) {
			t_start = w->sc.start_ms[i];
			start = i;
		}
	t = t_net;
	if (t_timer < t)
		t = t_timer;
	if (t_start < t)
		t = t_start;
	if (w->next_fault_ms < t)
		t = w->next_fault_ms;
	if (w->next_check_ms < t)
		t = w->next_check_ms;
	if (t_answer < t)
		t = t_answer;
	if (t_expire < t)
		t = t_expire;
	if (t_job < t)
		t = t_job;
	if (t == UINT64_MAX || t > limit_ms) {
		if (w->now_ms < limit_ms)
			w->now_ms = limit_ms;
		return 0;
	}
	if (t > w->now_ms) {
		w->now_ms = t;
		w->events_now = 0;
	} else if (++w->events_now > LIVELOCK_EVENTS) {
		/* A machine that re-arms a timer for now forever: time never moves on. */
		sim_fail(w, "livelock", "%d events at the same instant: time does not move on",
			 LIVELOCK_EVENTS);
		return -1;
	}
	w->events_run++;
	for (int i = 0; i < SIM_NODES; i++)
		simk_set_time(w->nodes[i].k, w->now_ms / 1000);
	if (t == t_job) {
		struct sim_job j = w->jobs[job];

		/* in the order they were given (a worker's queue), not swapped */
		memmove(&w->jobs[job], &w->jobs[job + 1], (w->n_jobs - job - 1) * sizeof(w->jobs[0]));
		w->n_jobs--;
		ike_init_job_run(j.job);
		w->jobs_orphaned += !j.job->owner;
		/* its tunnel's ikd died meanwhile: the tunnel let go of it (owner NULL) */
		ikd_job_done(&w->nodes[j.node].d, j.job);
	} else if (t == t_expire) {
		if (!expire_hard)
			sim_check_rekey_on_time(w, expire_node, expire_i);
		sim_kernel_expire(w, expire_node, expire_i, expire_hard);
	} else if (t == t_answer) {
		struct sim_answer a = w->answers[answer];
		struct sim_node *b = &w->nodes[SIM_BRANCH];
		struct tunnel *tun = b->running ? b->probe_ids[a.id] : NULL;

		w->answers[answer] = w->answers[--w->n_answers];
		if (tun && tun->probe && tun->probe->seq == a.seq) {
			tunnel_probe_answered(tun);
		}
	} else if (t == t_start) {
		if (sim_node_start(w, start) < 0)
			return -1;
	} else if (t == w->next_fault_ms) {
		sim_fault_step(w);
	} else if (t == t_net) {
		struct simnet_dgram g;

		if (simnet_pop(w->net, w->now_ms, &g) == 1) {
			deliver(w, &g);
			simnet_dgram_clear(&g);
		}
	} else if (t == t_timer) {
		struct sim_node *n = &w->nodes[tn];

		timer_run_one(&n->timers, w->now_ms);	/* one at a time: livelock is seen */
	} else {
		w->next_check_ms = w->now_ms + CHECK_EVERY_MS;
		sim_check_continuous(w);
		if (w->check_quiescence && w->now_ms >= w->sc.settle_ms && sim_quiet(w)) {
			sim_check_quiescence(w);
			return w->fail.failed ? -1 : 2;
		}
	}
	return w->fail.failed ? -1 : 1;
}

bool sim_world_run_until(struct sim_world *w, uint64_t t_ms)
{
	int rc;

	while ((rc = step(w, t_ms)) == 1)
		;
	return rc >= 0;
}

bool sim_world_run(struct sim_world *w)
{
	int rc;

	w->check_quiescence = true;
	while ((rc = step(w, w->sc.end_ms)) == 1)
		;
	if (rc == 0)
		sim_fail(w, "liveness", "no quiescence by %llu s: the network healed at %llu s",
			 (unsigned long long)(w->sc.end_ms / 1000),
			 (unsigned long long)(w->sc.faults_end_ms / 1000));
	return !w->fail.failed;
}

void sim_report(struct sim_world *w, FILE *f)
{
	fprintf(f, "seed %llu FAILED: %s at %llu.%03llu s: %s\n", (unsigned long long)w->seed,
		w->fail.invariant, (unsigned long long)(w->fail.at_ms / 1000),
		(unsigned long long)(w->fail.at_ms % 1000), w->fail.detail);
	fprintf(f, "scenario: %s\n", w->sc.text);
	fprintf(f, "---- the last %zu lines of the trace ----\n", w->trace_n);
	for (size_t i = 0; i < w->trace_n; i++)
		fprintf(f, "%s\n", w->trace[(w->trace_next + SIM_TRACE_LINES - w->trace_n + i) %
					   SIM_TRACE_LINES]);
	for (int i = 0; i < SIM_NODES; i++) {
		fprintf(f, "---- %s's kernel ----\n", w->nodes[i].name);
		simk_dump(w->nodes[i].k, f);
	}
	fprintf(f, "---- the network's last events ----\n");
	simnet_dump_recent(w->net, f);
	if (w->gen == SIM_GEN)
		fprintf(f, "replay: test/sim/run --seed %llu -v\n", (unsigned long long)w->seed);
	else
		fprintf(f, "replay: test/sim/run --seed %llu --gen %u -v\n",
			(unsigned long long)w->seed, w->gen);
}
