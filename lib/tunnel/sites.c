/*
 * Sites: their runtime record, which POP carries their traffic (lib/site/choose.c decides,
 * this applies), their status, and bringing the tunnels in line with a change.
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
	struct site pol;	/* a copy of the record the policies were made from, no key */
	struct site_rt *next;	/* hash chain (d->rt_buckets) */
	size_t idx;		/* its place in d->rts */
};

static void fallback_fire(struct timer *t);

/* The buckets (a power of two, at least twice the records) made again for n records. */
static int rt_rehash(struct ikd *d, size_t n)
{
	size_t nb = 64;
	struct site_rt **b;

	while (nb < 2 * n)
		nb *= 2;
	if (nb <= d->rt_nb)
		return 0;
	b = calloc(nb, sizeof(*b));
	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < d->n_rts; i++) {
		struct site_rt *r = d->rts[i];
		size_t k = tun_name_hash(r->name) & (nb - 1);

		r->next = b[k];
		b[k] = r;
	}
	free(d->rt_buckets);
	d->rt_buckets = b;
	d->rt_nb = nb;
	return 0;
}

/* A site's runtime record by name: O(1) in the number of sites. */
static struct site_rt *site_rt_get(struct ikd *d, const char *name, bool create)
{
	struct site_rt *r, **v;
	size_t k;

	if (d->rt_nb)
		for (r = d->rt_buckets[tun_name_hash(name) & (d->rt_nb - 1)]; r; r = r->next)
			if (!strcmp(r->name, name))
				return r;
	if (!create || rt_rehash(d, d->n_rts + 1) < 0)
		return NULL;
	r = calloc(1, sizeof(*r));
	v = r ? realloc(d->rts, (d->n_rts + 1) * sizeof(*d->rts)) : NULL;
	if (!v) {
		free(r);
		return NULL;
	}
	d->rts = v;
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->d = d;
	r->idx = d->n_rts;
	site_choice_init(&r->choice);
	timer_init(&r->t_fallback, fallback_fire);
	d->rts[d->n_rts++] = r;
	k = tun_name_hash(name) & (d->rt_nb - 1);
	r->next = d->rt_buckets[k];
	d->rt_buckets[k] = r;
	return r;
}

static void site_rt_drop(struct ikd *d, const char *name)
{
	struct site_rt **p, *r;

	if (!d->rt_nb)
		return;
	for (p = &d->rt_buckets[tun_name_hash(name) & (d->rt_nb - 1)]; *p; p = &(*p)->next)
		if (!strcmp((*p)->name, name))
			break;
	r = *p;
	if (!r)
		return;
	*p = r->next;
	timer_cancel(d->timers, &r->t_fallback);
	d->rts[r->idx] = d->rts[--d->n_rts];
	d->rts[r->idx]->idx = r->idx;
	site_clear(&r->pol);
	free(r);
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
bool tun_established(const struct tunnel *t)
{
	return t && t->state == TUN_UP && t->n_children > 0 && t->children[0].installed &&
	       !t->retiring;
}

/* Established, and its probe (if any) answered: a POP to send traffic to. */
static bool usable(const struct tunnel *t)
{
	return tun_established(t) && !t->retiring && !(t->probe && t->probe->failing);
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

struct tunnel *tun_site_active_tunnel(struct ikd *d, const struct site *s)
{
	struct site_rt *r = site_rt_get(d, s->name, false);

	return r && r->active[0] ? pop_tunnel(d, s->name, r->active) : NULL;
}

static void fallback_fire(struct timer *tm)
{
	struct site_rt *r = timer_owner(tm, struct site_rt, t_fallback);
	const struct site *s = ikd_site(r->d, r->name);

	if (s)
		tun_site_reevaluate(r->d, s);
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
	} else if (tun_established(t)) {
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
void tun_site_reevaluate(struct ikd *d, const struct site *s)
{
	struct site_rt *r = d->conf.role == CONF_ROLE_INITIATOR ? site_rt_get(d, s->name, true) :
			     NULL;
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
	site_choose(&r->choice, &cfg, views, n, ikd_now(d), &out);
	if (out.wake_ms)
		timer_arm(d->timers, &r->t_fallback, out.wake_ms);
	if (out.grace_started)
		tlog_info(d, "site '%s': a backup is up; waiting up to %u s for the primary, pop '%s', "
			 "whose handshake is under way", s->name, d->conf.primary_grace_s, s->primary);
	if (r->policies && out.to == out.from)
		return;
	if (kernel_site_policies(d, s, out.to >= 0 ? tuns[out.to] : NULL) == 0) {
		/* What to remove later, even after the record is edited or deleted. */
		struct site pol;

		if (site_copy_nokey(&pol, s) == 0) {
			site_clear(&r->pol);
			r->pol = pol;
			r->policies = true;
		} else if (r->policies) {
			/* The copy made when they went in stays: the same record (an edit
			 * restarts the site, and a rename renames the copy too). */
			tlog_err(d, "site '%s': out of memory (the policies' record kept)", s->name);
		} else {
			tlog_err(d, "site '%s': out of memory: its policies will not be removed "
				"when it stops", s->name);
		}
	}
	to = out.to >= 0 ? pops[out.to] : "";
	from = out.from >= 0 ? pops[out.from] : "(none)";
	switch (out.ev) {
	case SITE_EV_ACTIVE:
		if (out.from < 0) {
			tlog_notice(d, "site '%s': traffic to pop '%s'", s->name, to);
			ikd_event(d, s->name, to, "active", "traffic to pop '%s'", to);
		} else {
			tlog_notice(d, "site '%s': traffic to pop '%s', the primary, now up (pop '%s' "
				   "carried it meanwhile)", s->name, to, from);
			ikd_event(d, s->name, to, "active", "traffic to pop '%s', the primary, from "
				  "pop '%s'", to, from);
		}
		break;
	case SITE_EV_FAILOVER:
	case SITE_EV_FALLBACK:
		tlog_notice(d, "site '%s': %s from pop '%s' to pop '%s'", s->name,
			   site_choice_event_name(out.ev), from, to);
		ikd_event(d, s->name, to, site_choice_event_name(out.ev), "from pop '%s' to pop '%s'",
			  from, to);
		break;
	case SITE_EV_BLOCKED:
		tlog_warn(d, "site '%s': no usable POP, traffic blocked (fail-closed)", s->name);
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
	uint64_t now = ikd_now(d);

	*ret_active = "";
	if (!s->enabled)
		return "disabled";
	if (d->conf.role == CONF_ROLE_INITIATOR) {
		struct tunnel *a = tun_site_active_tunnel(d, s);

		if (!a)
			return "down";
		*ret_active = a->pop;
		/* Heard: a DPD answer (any message) or a probe answer in the last minute. */
		return tun_established(a) && (now - a->last_heard_ms < STATUS_WINDOW_MS ||
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
		uint64_t now = ikd_now(d);
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

			tlog_notice(t->d, "site '%s' %s: tunnel down: the site was %s", t->site,
				   tun_peer_str(t, peer, sizeof(peer)), s && s->enabled ? "changed" :
				   s ? "disabled" : "deleted");
			ikd_event(d, t->site, t->initiator ? t->pop : peer, "down", "the site was %s",
				  s && s->enabled ? "changed" : s ? "disabled" : "deleted");
		}
		tun_farewell(t);
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

	if (!s->enabled || d->conf.role != CONF_ROLE_INITIATOR || d->stopping)
		return;
	/* Fail-closed from the start: block until a POP's tunnel is up. */
	tun_site_reevaluate(d, s);
	for (size_t i = 0; i < n; i++) {
		const struct pop *p = site_db_find_pop(&d->db, pops[i]);
		struct tunnel *t;

		if (!p || !p->accepting) {
			tlog_info(d, "site '%s': pop '%s' skipped (%s)", s->name, pops[i],
				 p ? "not accepting new tunnels" : "unknown");
			continue;
		}
		t = tunnel_new(d, true, s->name, pops[i]);
		if (t)
			tun_initiator_start(t);
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
		tlog_notice(t->d, "site '%s' pop '%s': tunnel down: %s", t->site, t->pop, why);
		ikd_event(d, t->site, t->pop, "down", "%s", why);
	}
	t->retiring = true;
	tun_site_reevaluate(d, s);	/* make before break: the policy moves first */
	tun_farewell(t);
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
				tlog_info(t->d, "site '%s': pop '%s' skipped (%s)", s->name, names[k],
					 p ? "not accepting new tunnels" : "unknown");
				if (t) {
					tunnel_retire(t, s, p ? "the POP no longer accepts tunnels" :
						      "the POP was deleted");
					tunnel_free(t);
				}
			} else if (!t) {
				t = tunnel_new(d, true, s->name, names[k]);
				if (t)
					tun_initiator_start(t);
			} else if (t->pop_cfg != tun_pop_hash(p, false)) {
				tunnel_retire(t, s, "the POP's gateway or identity changed");
				tun_initiator_start(t);
			} else if (t->pop_probe != tun_pop_hash(p, true)) {
				t->pop_probe = tun_pop_hash(p, true);
				if (t->probe)
					d->io->probe_stop(d->io_arg, t);
				if (tun_established(t))
					tun_probe_begin(t, s);
			}
		}
		if (touched)
			tun_site_reevaluate(d, s);
	}
}

void ikd_shutdown_tunnels(struct ikd *d)
{
	while (d->n_tunnels) {
		struct tunnel *t = d->tunnels[0];

		if (t->state == TUN_UP && t->have_sa && ike_sa_delete_request(&t->sa, &d->out) == 0)
			tun_send_msg(t, &d->out);
		tunnel_free(t);
	}
	for (size_t i = 0; i < d->n_rts; i++)
		if (d->rts[i]->policies && d->conf.role == CONF_ROLE_INITIATOR)
			kernel_site_policies_remove(d, &d->rts[i]->pol);
	while (d->n_rts)
		site_rt_drop(d, d->rts[0]->name);
}

/*
 * The daemon is stopping: each IKE SA up is deleted at its peer, now, or once the request out
 * on it is answered (a window of one, RFC 7296 §2.3); every other tunnel goes at once. Nothing
 * new starts. The tunnels left wait for their Deletes' answers (tunnel_down() frees each);
 * ikd_shutdown_tunnels() ends it. Returns how many are left.
 */
size_t ikd_stop_begin(struct ikd *d)
{
	d->stopping = true;
	for (size_t i = d->n_tunnels; i-- > 0;) {
		struct tunnel *t = d->tunnels[i];

		if (t->farewell)
			continue;	/* tun_farewell()'s: its Delete is on its way */
		if (t->state != TUN_UP || !t->have_sa) {
			tunnel_free(t);
			continue;
		}
		t->farewell = true;
		t->sa.closing = true;	/* the peer's CREATE_CHILD_SA: TEMPORARY_FAILURE */
		t->n_queue = 0;
		timer_cancel(d->timers, &t->t_reconnect);
		tun_kick(t);
	}
	return d->n_tunnels;
}

void ikd_tunnels_clear(struct ikd *d)
{
	while (d->n_tunnels)
		tunnel_free(d->tunnels[0]);
	free(d->tunnels);
	tix_clear(d);
	while (d->n_rts)
		site_rt_drop(d, d->rts[0]->name);
	free(d->rts);
	d->rts = NULL;
	free(d->rt_buckets);
	d->rt_buckets = NULL;
	d->rt_nb = 0;
	kernel_reqids_clear(d);
	tun_texts_clear(d);
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
		struct site_rt **p = &d->rt_buckets[tun_name_hash(old_name) & (d->rt_nb - 1)];
		size_t k = tun_name_hash(new_name) & (d->rt_nb - 1);

		/* out of the old name's chain, into the new one's */
		while (*p != r)
			p = &(*p)->next;
		*p = r->next;
		snprintf(r->name, sizeof(r->name), "%s", new_name);
		snprintf(r->pol.name, sizeof(r->pol.name), "%s", new_name);
		r->next = d->rt_buckets[k];
		d->rt_buckets[k] = r;
	}
	while ((t = tix_site_next(d, old_name, NULL)))
		tix_set_site(d, t, new_name);
}

/* ---- tunnel initiate, terminate, rekey: one tunnel at a time, by hand ---- */

static int verb_one(struct ikd *d, struct tunnel *t, const char *action, bool ike)
{
	char peer[80];

	if (!strcmp(action, "initiate")) {
		if (!t->initiator)
			return -EOPNOTSUPP;
		if (t->state != TUN_IDLE)
			return 0;	/* up, or its handshake is under way */
		tlog_notice(t->d, "site '%s' pop '%s': initiated by hand", t->site, t->pop);
		tun_initiator_start(t);
		return 1;
	}
	if (t->state != TUN_UP || !t->have_sa)
		return 0;
	if (!strcmp(action, "terminate")) {
		/* Deleted at the peer; an edge router builds it again after reconnect-min. */
		tlog_notice(t->d, "site '%s' %s: terminated by hand", t->site,
			   tun_peer_str(t, peer, sizeof(peer)));
		tun_farewell(t);
		t->silent = true;
		tunnel_down(t, "terminated by hand (xfrmctl tunnel terminate)");
		return 1;
	}
	if (ike) {
		tun_enqueue(t, REQ_REKEY_IKE, 0);
	} else {
		size_t queued = 0;

		for (size_t i = 0; i < t->n_children; i++) {
			struct child *c = &t->children[i];

			if (tun_may_rekey(t, c))
				queued += c->rekeying = tun_enqueue(t, REQ_REKEY_CHILD, c->spi_in);
		}
		if (!queued)
			return 0;	/* no Child SA, or each one's rekey already under way */
	}
	tlog_notice(t->d, "site '%s' %s: %s rekey by hand", t->site, tun_peer_str(t, peer, sizeof(peer)),
		   ike ? "IKE SA" : "Child SA");
	tun_kick(t);
	return 1;
}

int ikd_tunnel_verb(void *arg, const char *action, const char *site, const char *pop, bool ike,
		    struct ike_writer *w, char *why, size_t why_len)
{
	struct ikd *d = arg;
	const struct site *s = ikd_site(d, site);
	bool terminate = !strcmp(action, "terminate");
	size_t n = 0, seen = 0;
	int rc, acted;

	if (!s || !s->enabled) {
		snprintf(why, why_len, "%s", s ? "disabled (site enable first)" : "no such site");
		return s ? -EINVAL : -ENOENT;
	}
	if (!strcmp(action, "initiate") && d->conf.role != CONF_ROLE_INITIATOR) {
		snprintf(why, why_len, "a gateway does not initiate: the site connects to it");
		return -EOPNOTSUPP;
	}
	for (struct tunnel *t = tix_site_next(d, site, NULL), *next; t; t = next) {
		next = tix_site_next(d, site, t);
		if (pop && (!t->initiator || strcmp(t->pop, pop)))
			continue;
		seen++;
		/* A terminated tunnel's row is what it was (a gateway's is gone after). */
		if (terminate && t->state == TUN_UP && t->have_sa && (rc = ikd_sa_row(d, t, w)) < 0)
			return rc;
		acted = verb_one(d, t, action, ike);
		if (acted > 0 && !terminate && (rc = ikd_sa_row(d, t, w)) < 0)
			return rc;
		n += acted > 0;
	}
	if (!seen) {
		snprintf(why, why_len, "%s", pop ? "no tunnel to that POP (not one of the site's, or "
			 "not accepting new tunnels)" : "no tunnel (not connected)");
		return -ENOENT;
	}
	if (!n) {
		snprintf(why, why_len, "%s", !strcmp(action, "initiate") ?
			 "nothing to initiate: up, or connecting" : !strcmp(action, "rekey") && !ike ?
			 "nothing to rekey: not up, no Child SA, or its rekey under way" :
			 "nothing to do: not up");
		return -EALREADY;
	}
	return 0;
}
