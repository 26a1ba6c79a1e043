/*
 * The daemon's io (ikd.h): the lifecycle's ways out, onto the sockets, netlink, the probes,
 * the control server and the metrics. And start-up's cleanup of what an earlier ikd left in
 * the kernel (a dump, before the lifecycle runs).
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "glue.h"
#include "log.h"

/* Lines a remote peer can cause, at most 20 per 10 s (then how many were suppressed). */
static struct log_ratelimit rl_peer = LOG_RATELIMIT_INIT(10000, 20);

static void io_log(void *arg, int priority, bool from_peer, const char *line)
{
	unsigned suppressed;

	(void)arg;
	if (from_peer) {
		if (!log_ratelimit_ok(&rl_peer, timer_now_ms(), &suppressed))
			return;
		if (suppressed)
			log_warn("%u similar lines suppressed", suppressed);
	}
	log_msg(priority, "%s", line);
}

static uint64_t io_now_ms(void *arg)
{
	(void)arg;
	return timer_now_ms();
}

static int io_send(void *arg, const struct net_sock *s, const uint8_t *msg, size_t len,
		   const union net_addr *to, const union net_addr *local)
{
	(void)arg;
	return net_send(s, msg, len, to, local);
}

static int io_send_keepalive(void *arg, const struct net_sock *s, const union net_addr *to,
			     const union net_addr *local)
{
	(void)arg;
	return net_send_keepalive(s, to, local);
}

static int io_route_source(void *arg, const union net_addr *remote, union net_addr *ret)
{
	(void)arg;
	return net_route_source(remote, ret);
}

static int io_sa_add(void *arg, const struct xfrm_sa *sa, bool update, struct xfrm_err *err)
{
	struct ikd_daemon *dm = arg;

	return xfrm_sa_add(&dm->xs, sa, update, err);
}

static int io_sa_delete(void *arg, const struct xfrm_addr *dst, uint32_t spi, uint8_t proto,
			uint32_t mark, uint32_t mark_mask, struct xfrm_err *err)
{
	struct ikd_daemon *dm = arg;

	return xfrm_sa_delete(&dm->xs, dst, spi, proto, mark, mark_mask, err);
}

static int io_sa_get(void *arg, const struct xfrm_addr *dst, uint32_t spi, uint8_t proto,
		     uint32_t mark, uint32_t mark_mask, struct xfrm_sa_stats *ret,
		     struct xfrm_err *err)
{
	struct ikd_daemon *dm = arg;

	return xfrm_sa_get(&dm->xs, dst, spi, proto, mark, mark_mask, ret, err);
}

static void log_hthresh(const char *family, unsigned l0, unsigned r0, unsigned l, unsigned r)
{
	if (l != l0 || r != r0)
		log_notice("the kernel's %s policy hash thresholds: local %u, remote %u bits (were "
			   "%u, %u), so that its policies are hashed, not searched", family, l, r,
			   l0, r0);
}

/*
 * Before a policy goes in: when the kernel's hash thresholds would leave it among the
 * policies the kernel searches one by one, lower them to its prefixes (xfrm.h). Read afresh
 * before each change, so that a lower setting of the operator's is never raised; on a failure
 * they are left alone from then on (the policy still goes in).
 */
static void spd_fit(struct ikd_daemon *dm, const struct xfrm_policy *p)
{
	struct xfrm_spd_hthresh now, want;
	struct xfrm_err e = { 0 };
	const char *what = "read";
	int rc;

	if (!dm->core.conf.policy_hash || dm->spd_failed)
		return;
	if (dm->spd.have4 && !xfrm_spd_hthresh_fit(&dm->spd, p, &want))
		return;
	rc = xfrm_spd_hthresh_get(&dm->xs, &now, &e);
	if (rc == 0 && xfrm_spd_hthresh_fit(&now, p, &want)) {
		what = "set";
		rc = xfrm_spd_hthresh_set(&dm->xs, &want, &e);
		if (rc == 0) {
			log_hthresh("IPv4", now.lbits4, now.rbits4, want.lbits4, want.rbits4);
			log_hthresh("IPv6", now.lbits6, now.rbits6, want.lbits6, want.rbits6);
			now = want;
		}
	}
	if (rc < 0) {
		log_warn("cannot %s the kernel's policy hash thresholds, left as they are: %s%s%s",
			 what, strerror(-rc), e.msg[0] ? ": " : "", e.msg);
		dm->spd_failed = true;
		return;
	}
	dm->spd = now;
}

static int io_policy_add(void *arg, const struct xfrm_policy *p, bool update,
			 struct xfrm_err *err)
{
	struct ikd_daemon *dm = arg;

	spd_fit(dm, p);
	return xfrm_policy_add(&dm->xs, p, update, err);
}

/* One sendmsg for all of them, and one answer when they all went in (lib/xfrm's batch). */
static int io_kernel_batch(void *arg, struct ikd_kreq *r, size_t n, struct xfrm_err *err)
{
	struct ikd_daemon *dm = arg;
	struct xfrm_batch b;
	int rc;

	for (size_t i = 0; i < n; i++)
		if (r[i].policy)
			spd_fit(dm, r[i].policy);
	rc = xfrm_batch_begin(&b, &dm->xs);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = r[i].sa ? xfrm_batch_sa_add(&b, r[i].sa, r[i].update) :
			       xfrm_batch_policy_add(&b, r[i].policy, r[i].update);
	rc = rc ?: xfrm_batch_commit(&b);
	if (rc >= 0) {
		for (size_t i = 0; i < n; i++)	/* 1: no answer came (the receive failed) */
			r[i].result = b.results[i] == 1 ? -EIO : b.results[i];
		*err = b.err;
	}
	xfrm_batch_clear(&b);
	return rc;
}

static int io_policy_delete(void *arg, const struct xfrm_policy *p, struct xfrm_err *err)
{
	struct ikd_daemon *dm = arg;

	return xfrm_policy_delete(&dm->xs, p, err);
}

static int io_probe_start(void *arg, struct tunnel *t, const struct site *s, const struct pop *p,
			  char *why, size_t why_len)
{
	(void)arg;
	return probe_start(t, s, p, why, why_len);
}

static void io_probe_stop(void *arg, struct tunnel *t)
{
	(void)arg;
	probe_stop(t);
}

static int io_probe_send(void *arg, struct tunnel *t)
{
	(void)arg;
	return probe_send(t);
}

static void io_event(void *arg, const char *site, const char *pop, const char *event,
		     const char *detail)
{
	struct ikd_daemon *dm = arg;

	ctl_server_event(&dm->core, site, pop, event, detail);
}

static void io_count(void *arg, const char *site, enum ctl_sm what)
{
	(void)arg;
	metrics_count(site, what);
}

static void io_child_gone(void *arg, const struct tunnel *t, const struct child *c,
			  const struct xfrm_event *expired)
{
	struct ikd_daemon *dm = arg;

	ikd_metrics_child_gone(&dm->core, t, c, expired);
}

static void io_child_out_gone(void *arg, const struct tunnel *t, const struct child *c)
{
	struct ikd_daemon *dm = arg;

	ikd_metrics_child_out_gone(&dm->core, t, c);
}

/* Asked once per IKE_AUTH that would make a tunnel: a no refuses it (counted here). */
static bool io_accepting(void *arg)
{
	struct ikd_daemon *dm = arg;

	if (health_accepting(&dm->health))
		return true;
	dm->health.refused++;
	return false;
}

static void job_work(struct crypto_work *w)
{
	ike_init_job_run((struct ike_init_job *)((char *)w - offsetof(struct ike_init_job, work)));
}

/* A responder's derive to a DH worker; it comes back through the pool's fd (main.c on_jobs). */
static int io_run_job(void *arg, struct ike_init_job *job)
{
	(void)arg;
	job->work.run = job_work;
	return crypto_dh_pool_submit(&job->work);
}

const struct ikd_io ikd_io_daemon = {
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
	.kernel_batch = io_kernel_batch,
};

/* ---- start-up: what an earlier ikd left behind ---- */

struct leftovers {
	struct xfrm_sa_entry *sas;
	size_t n_sas, cap_sas;
	struct xfrm_policy *pols;
	size_t n_pols, cap_pols;
};

static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	void *nv;

	if (n < *cap)
		return 0;
	nv = realloc(*v, (*cap ? *cap * 2 : 64) * size);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = *cap ? *cap * 2 : 64;
	return 0;
}

static int collect_sa(const struct xfrm_sa_entry *sa, void *arg)
{
	struct leftovers *l = arg;

	if (!ikd_reqid_ours(sa->reqid))
		return 0;
	if (grow((void **)&l->sas, &l->cap_sas, l->n_sas, sizeof(*l->sas)) < 0)
		return -ENOMEM;
	l->sas[l->n_sas++] = *sa;
	return 0;
}

static int collect_policy(const struct xfrm_policy *p, void *arg)
{
	struct leftovers *l = arg;

	/* Ours: our priority, and a template of ours or none (a fail-closed block). */
	if ((p->priority != IKD_POLICY_PRIORITY && p->priority != IKD_PROBE_PRIORITY) ||
	    (p->n_tmpls && !ikd_reqid_ours(p->tmpl[0].reqid)))
		return 0;
	if (grow((void **)&l->pols, &l->cap_pols, l->n_pols, sizeof(*l->pols)) < 0)
		return -ENOMEM;
	l->pols[l->n_pols++] = *p;
	return 0;
}

int kernel_reconcile(struct ikd *d)
{
	struct leftovers l = { 0 };
	struct xfrm_err e = { 0 };
	int rc;

	rc = xfrm_sa_dump(&daemon_of(d)->xs, 0, 0, 0, collect_sa, &l, &e);
	rc = rc ?: xfrm_policy_dump(&daemon_of(d)->xs, 0, 0, collect_policy, &l, &e);
	for (size_t i = 0; rc == 0 && i < l.n_sas; i++)
		xfrm_sa_delete(&daemon_of(d)->xs, &l.sas[i].dst, l.sas[i].spi, l.sas[i].proto, l.sas[i].mark,
			       l.sas[i].mark_mask, NULL);
	for (size_t i = 0; rc == 0 && i < l.n_pols; i++)
		xfrm_policy_delete(&daemon_of(d)->xs, &l.pols[i], NULL);
	if (rc == 0 && (l.n_sas || l.n_pols))
		log_notice("removed what an earlier ikd left in the kernel: %zu SAs, %zu policies",
			   l.n_sas, l.n_pols);
	free(l.sas);
	free(l.pols);
	return rc;
}
