/*
 * ikd's figures for `xfrmctl metrics` (lib/ctl/metrics.h has the names and the format).
 *
 * Counters must only grow while ikd runs, but tunnels come and go, Child SAs are rekeyed
 * away with their kernel counters, and a site's runtime record in tunnel.c is rebuilt when
 * the site is edited. So each site has an accumulator here, by name: the events counted
 * (failovers, rekeys, DPD misses, failed handshakes) and the last counters of every Child SA
 * that left the kernel. A site's traffic is its accumulator plus its live Child SAs. The
 * accumulator goes when the site is deleted (its series end with it).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "glue.h"

/* The traffic counters, CTL_SM_BYTES_IN to CTL_SM_PACKETS_OUT. */
#define ACC_TRAFFIC (CTL_SM_PACKETS_OUT - CTL_SM_BYTES_IN + 1)

/*
 * One a site, once it has something to count: sized to its name (a gateway has one per site).
 * Events in 32 bits: a site would need a failure a second for 136 years to wrap one, and a
 * wrap reads as a counter reset, which Prometheus takes in its stride.
 */
struct site_acc {
	struct site_acc *next;
	uint64_t traffic[ACC_TRAFFIC];	/* of the Child SAs that are gone */
	uint64_t shown[ACC_TRAFFIC];	/* traffic last reported: never less again */
	uint32_t events[CTL_SM_MAX - ACC_TRAFFIC];	/* ev(): the other figures */
	char name[];
};

static inline bool is_traffic(int k)
{
	return k >= CTL_SM_BYTES_IN && k <= CTL_SM_PACKETS_OUT;
}

/* Where traffic figure k is kept in traffic[] and shown[]. */
#define TR(k) ((k) - CTL_SM_BYTES_IN)

/* Where figure k (not traffic) is counted in events[]. */
static inline int ev(int k)
{
	return k < CTL_SM_BYTES_IN ? k : k - ACC_TRAFFIC;
}

/* A record for name (of at most SITE_NAME_MAX - 1 bytes), zeroed. */
static struct site_acc *acc_new(const char *name)
{
	size_t len = strnlen(name, SITE_NAME_MAX - 1);
	struct site_acc *a = calloc(1, sizeof(*a) + len + 1);

	if (a)
		memcpy(a->name, name, len);
	return a;
}

static struct site_acc **buckets;
static size_t n_buckets, n_accs;
static uint64_t start_time_ms;

static size_t name_hash(const char *name)
{
	uint64_t h = 0xcbf29ce484222325u;	/* FNV-1a */

	for (const char *p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3u;
	return (size_t)h;
}

static int acc_grow(void)
{
	size_t cap = n_buckets ? 2 * n_buckets : 256;
	struct site_acc **v = calloc(cap, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n_buckets; i++)
		while (buckets[i]) {
			struct site_acc *a = buckets[i];
			size_t k = name_hash(a->name) & (cap - 1);

			buckets[i] = a->next;
			a->next = v[k];
			v[k] = a;
		}
	free(buckets);
	buckets = v;
	n_buckets = cap;
	return 0;
}

static struct site_acc *acc_get(const char *name, bool create)
{
	struct site_acc *a;
	size_t k;

	if (!name[0])
		return NULL;
	for (a = n_buckets ? buckets[name_hash(name) & (n_buckets - 1)] : NULL; a; a = a->next)
		if (!strcmp(a->name, name))
			return a;
	if (!create || (n_accs >= n_buckets && acc_grow() < 0))
		return NULL;
	a = acc_new(name);
	if (!a)
		return NULL;
	k = name_hash(name) & (n_buckets - 1);
	a->next = buckets[k];
	buckets[k] = a;
	n_accs++;
	return a;
}

void ikd_metrics_forget(const char *site)
{
	struct site_acc **p;

	if (!n_buckets)
		return;
	for (p = &buckets[name_hash(site) & (n_buckets - 1)]; *p; p = &(*p)->next)
		if (!strcmp((*p)->name, site)) {
			struct site_acc *a = *p;

			*p = a->next;
			free(a);
			n_accs--;
			return;
		}
}

void ikd_metrics_rename(const char *old_name, const char *new_name)
{
	struct site_acc **p, *a = NULL;

	if (!n_buckets)
		return;
	ikd_metrics_forget(new_name);
	for (p = &buckets[name_hash(old_name) & (n_buckets - 1)]; *p; p = &(*p)->next)
		if (!strcmp((*p)->name, old_name)) {
			a = *p;
			*p = a->next;
			break;
		}
	if (!a)
		return;
	{
		struct site_acc *b = acc_new(new_name);

		if (!b) {
			free(a);	/* no memory: the counts start again */
			n_accs--;
			return;
		}
		memcpy(b->traffic, a->traffic, sizeof(b->traffic));
		memcpy(b->shown, a->shown, sizeof(b->shown));
		memcpy(b->events, a->events, sizeof(b->events));
		free(a);
		a = b;
	}
	p = &buckets[name_hash(new_name) & (n_buckets - 1)];
	a->next = *p;
	*p = a;
}

void ikd_metrics_clear(void)
{
	for (size_t i = 0; i < n_buckets; i++)
		while (buckets[i]) {
			struct site_acc *a = buckets[i];

			buckets[i] = a->next;
			free(a);
		}
	free(buckets);
	buckets = NULL;
	n_buckets = n_accs = 0;
}

void ikd_metrics_start(struct ikd *d)
{
	struct timespec ts;
	uint64_t now_ms;

	/* The wall clock of d->started_ms (a CLOCK_MONOTONIC reading), taken once. */
	clock_gettime(CLOCK_REALTIME, &ts);
	now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	start_time_ms = now_ms - (timer_now_ms() - d->started_ms);
}

/* ---- counting ---- */

void metrics_count(const char *site, enum ctl_sm what)
{
	struct site_acc *a = acc_get(site, true);

	if (a && !is_traffic((int)what))
		a->events[ev((int)what)]++;
}

void ikd_metrics_child_gone(struct ikd *d, const struct tunnel *t, const struct child *c,
			    const struct xfrm_event *expired)
{
	struct xfrm_sa_stats in, out;
	struct site_acc *a;

	if (!c->installed || !(a = acc_get(t->site, true)))
		return;
	ikd_child_counters(d, t, c, &in, &out);
	/* The kernel removed the expired half itself and said what it had carried. */
	if (expired && expired->spi == c->spi_in)
		in = expired->stats;
	else if (expired && expired->spi == c->spi_out)
		out = expired->stats;
	a->traffic[TR(CTL_SM_BYTES_IN)] += in.bytes;
	a->traffic[TR(CTL_SM_BYTES_OUT)] += out.bytes;
	a->traffic[TR(CTL_SM_PACKETS_IN)] += in.packets;
	a->traffic[TR(CTL_SM_PACKETS_OUT)] += out.packets;
}

void ikd_metrics_child_out_gone(struct ikd *d, const struct tunnel *t, const struct child *c)
{
	struct xfrm_sa_stats in, out;
	struct site_acc *a;

	if (!c->installed || !(a = acc_get(t->site, true)))
		return;
	ikd_child_counters(d, t, c, &in, &out);
	a->traffic[TR(CTL_SM_BYTES_OUT)] += out.bytes;
	a->traffic[TR(CTL_SM_PACKETS_OUT)] += out.packets;
}

/* ---- one page of `metrics` ---- */

static void daemon_figures(struct ikd *d, struct ctl_metrics *m)
{
	snprintf(m->version, sizeof(m->version), "%s", IKD_VERSION);
	m->start_time_ms = start_time_ms;
	m->v[CTL_DM_IKE_RECEIVED] = d->stats.rx;
	m->v[CTL_DM_IKE_SENT] = d->stats.tx;
	m->v[CTL_DM_IKE_DROPPED] = d->stats.dropped;
	m->v[CTL_DM_IKE_BAD_ICV] = d->stats.bad_icv;
	m->v[CTL_DM_COOKIES_SENT] = d->stats.cookies_sent;
	m->v[CTL_DM_HALF_OPEN] = d->half_open;
	m->v[CTL_DM_KERNEL_ESP] = daemon_of(d)->esp_ok;
	memcpy(m->failures, d->stats.hs_failed, sizeof(m->failures));
}

/* A tunnel's part in its site's row: SAs, live traffic, and (responder) whether it is up. */
static void add_tunnel(struct ikd *d, const struct tunnel *t, struct ctl_metrics_site *row,
		       bool *alive, uint64_t now)
{
	row->v[CTL_SM_IKE_SAS] += t->state == TUN_UP;
	if (t->state == TUN_UP && now - t->last_heard_ms < STATUS_WINDOW_MS)
		*alive = true;
	for (size_t j = 0; j < t->n_children; j++) {
		struct xfrm_sa_stats in, out;

		row->v[CTL_SM_CHILD_SAS] += t->children[j].installed;
		ikd_child_counters(d, t, &t->children[j], &in, &out);
		row->v[CTL_SM_BYTES_IN] += in.bytes;
		row->v[CTL_SM_BYTES_OUT] += out.bytes;
		row->v[CTL_SM_PACKETS_IN] += in.packets;
		row->v[CTL_SM_PACKETS_OUT] += out.packets;
	}
}

/* The accumulated counts into the row; traffic never shows less than it did. */
static void add_acc(struct ctl_metrics_site *row)
{
	struct site_acc *a = acc_get(row->name, true);

	if (!a)
		return;
	for (int k = 0; k < CTL_SM_MAX; k++) {
		if (k == CTL_SM_IKE_SAS || k == CTL_SM_CHILD_SAS)
			continue;	/* gauges */
		if (!is_traffic(k)) {
			row->v[k] += a->events[ev(k)];	/* events: only ever counted up */
			continue;
		}
		row->v[k] += a->traffic[TR(k)];
		/*
		 * An SA that left the kernel without us reading it (flushed by hand) takes its
		 * traffic with it: the total holds until the live SAs make up for it.
		 */
		if (row->v[k] < a->shown[TR(k)])
			row->v[k] = a->shown[TR(k)];
		a->shown[TR(k)] = row->v[k];
	}
}

static void site_state(struct ikd *d, const struct site *s, bool alive,
		       struct ctl_metrics_site *row)
{
	const char *active = "";

	if (!s->enabled) {
		row->state = CTL_SITE_DISABLED;
	} else if (d->conf.role == CONF_ROLE_INITIATOR) {
		/* An edge router's few sites, each asked in turn (as `site list` does). */
		row->state = strcmp(ikd_site_status(d, s, &active), "up") ? CTL_SITE_DOWN :
			     CTL_SITE_UP;
		snprintf(row->active_pop, sizeof(row->active_pop), "%s", active);
	} else {
		row->state = alive ? CTL_SITE_UP : CTL_SITE_DOWN;
	}
}

int ikd_metrics_page(void *arg, const struct site *const *sites, size_t n, struct ike_writer *w)
{
	struct ikd *d = arg;
	struct ctl_metrics m = { 0 };
	struct ctl_metrics_site *rows = calloc(n + 1, sizeof(*rows));
	uint32_t *slot = calloc(d->db.n_sites + 1, sizeof(*slot));	/* db position: row + 1 */
	bool *alive = calloc(n + 1, sizeof(*alive));
	uint64_t now = timer_now_ms();
	int rc = 0;

	if (!rows || !slot || !alive) {
		rc = -ENOMEM;
		goto out;
	}
	daemon_figures(d, &m);
	rc = ctl_metrics_put(w, &m);
	for (size_t i = 0; i < n; i++) {
		slot[sites[i] - d->db.sites] = (uint32_t)i + 1;
		snprintf(rows[i].name, sizeof(rows[i].name), "%s", sites[i]->name);
	}
	/* One pass over the tunnels for the whole page: a gateway has thousands. */
	for (size_t i = 0; i < d->n_tunnels && rc == 0; i++) {
		const struct tunnel *t = d->tunnels[i];
		const struct site *s = t->site[0] ? ikd_site(d, t->site) : NULL;
		uint32_t k = s ? slot[s - d->db.sites] : 0;

		if (k)
			add_tunnel(d, t, &rows[k - 1], &alive[k - 1], now);
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		site_state(d, sites[i], alive[i], &rows[i]);
		add_acc(&rows[i]);
		rc = ctl_metrics_put_site(w, &rows[i]);
	}
out:
	free(rows);
	free(slot);
	free(alive);
	return rc;
}
