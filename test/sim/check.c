/*
 * The invariants (issue text and DESIGN.md "The lifecycle"), checked on the real state of
 * every node's lifecycle and of its simulated kernel:
 *   continuously: fail-closed (no packet of the site leaves the branch in clear once ikd
 *     runs); bounded outage (in a calm run, once traffic flowed, it never stops longer than
 *     OUTAGE_BOUND_MS: rekeys, collisions, DPD); failover (an outage while another POP was
 *     ready to carry the site ends within the time it takes to see the old one dead, unless
 *     another fault comes first);
 *   at quiescence (after the network healed, the hold-down passed and every exchange
 *     settled): one IKE SA and one Child SA pair per tunnel at both ends, matching SPIs;
 *     each kernel holds exactly the SAs its ikd lists and no policy of a tunnel that is gone;
 *     the site on its primary POP, status "up" with that POP; traffic both ways;
 *   hold-down: a fallback to the primary only after it was usable for the hold-down;
 *   rekey-on-time: in a calm run the kernel's soft expiry never finds a Child SA that ikd
 *     should have rekeyed by then (generation 5: the kernels time the lifetimes);
 *   liveness: quiescence comes within a bound after the network healed (world.c), and
 *     time moves on (no machine re-arms a timer for now forever: livelock).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "world.h"

#define OUTAGE_BOUND_MS 1000
#define REKEY_SLACK_MS 2500	/* the rekey tick (2 s) and the kernel's whole seconds */

void sim_fail(struct sim_world *w, const char *invariant, const char *fmt, ...)
{
	va_list ap;

	if (w->fail.failed)
		return;
	w->fail.failed = true;
	w->fail.at_ms = w->now_ms;
	snprintf(w->fail.invariant, sizeof(w->fail.invariant), "%s", invariant);
	va_start(ap, fmt);
	vsnprintf(w->fail.detail, sizeof(w->fail.detail), fmt, ap);
	va_end(ap);
	sim_trace(w, "FAILED %s: %s", invariant, w->fail.detail);
}

/* The site's hosts: one behind the branch (10.1.0.0/24), one behind the POPs (10.2.0.0/16). */
static const struct xfrm_addr lan_branch = { .family = AF_INET, .a.a4 = 0x0500010a };
static const struct xfrm_addr lan_pop = { .family = AF_INET, .a.a4 = 0x0900020a };

bool sim_cut_between(const struct sim_world *w, const struct sim_node *a,
		     const struct sim_node *b)
{
	const struct sim_node *pop = a->id == SIM_BRANCH ? b : a;

	return (a->id == SIM_BRANCH || b->id == SIM_BRANCH) && (w->cut[pop->id] || w->dark);
}

/* The node a packet to this outer address reaches (through the NAT when it is the NAT's). */
struct sim_node *sim_node_at(struct sim_world *w, const struct xfrm_addr *a)
{
	struct simnet_addr x = { .family = a->family };
	int id;

	memcpy(x.a, &a->a, a->family == AF_INET ? 4 : 16);
	id = simnet_node_of(w->net, &x);
	for (int i = 0; id >= 0 && i < SIM_NODES; i++)
		if (w->nodes[i].net_id == id)
			return &w->nodes[i];
	return NULL;
}

/* One direction: from's kernel sends inner src -> dst; does to's kernel accept it? */
static bool one_way(struct sim_world *w, struct sim_node *from, bool up, struct sim_node **ret_to,
		    char *why, size_t why_len)
{
	const struct xfrm_addr s = up ? lan_branch : lan_pop, d = up ? lan_pop : lan_branch;
	const char *src = up ? "10.1.0.5" : "10.2.0.9", *dst = up ? "10.2.0.9" : "10.1.0.5";
	struct simk_esp pkt;
	struct sim_node *to;
	enum simk_out o;
	enum simk_in in;

	o = simk_output(from->k, &s, &d, 0, 0, 1000, &pkt);
	if (o != SIMK_ESP) {
		snprintf(why, why_len, "%s sends %s -> %s %s", from->name, src, dst,
			 o == SIMK_CLEAR ? "in clear" : o == SIMK_BLOCK ? "into a block policy" :
			 "to a policy without SA");
		return false;
	}
	to = sim_node_at(w, &pkt.dst);
	if (!to || !to->running) {
		snprintf(why, why_len, "%s sends %s -> %s to an address nobody runs at", from->name,
			 src, dst);
		return false;
	}
	if (from->esp_drop || to->esp_drop) {
		snprintf(why, why_len, "%s drops ESP", from->esp_drop ? from->name : to->name);
		return false;
	}
	if (sim_cut_between(w, from, to)) {
		snprintf(why, why_len, "%s and %s are cut apart", from->name, to->name);
		return false;
	}
	/* Behind the NAT the branch's SAs carry its private address. */
	if (to->id == SIM_BRANCH)
		kernel_addr(&to->addr, &pkt.dst);
	in = simk_input(to->k, &pkt, &s, &d, NULL);
	if (in != SIMK_IN_OK) {
		snprintf(why, why_len, "%s drops %s -> %s (SPI %08x): %s", to->name, src, dst,
			 pkt.spi, in == SIMK_IN_NO_SA ? "no SA" : in == SIMK_IN_BAD_ICV ?
			 "integrity check fails (the two ends' keys differ)" : "no policy lets it in");
		return false;
	}
	*ret_to = to;
	return true;
}

bool sim_traffic_flows(struct sim_world *w, char *why, size_t why_len)
{
	struct sim_node *pop, *back;

	if (!w->nodes[SIM_BRANCH].running) {
		snprintf(why, why_len, "the branch's ikd is not running");
		return false;
	}
	if (!one_way(w, &w->nodes[SIM_BRANCH], true, &pop, why, why_len))
		return false;
	if (pop->id == SIM_BRANCH) {
		snprintf(why, why_len, "the branch sends to itself");
		return false;
	}
	return one_way(w, pop, false, &back, why, why_len);
}

/* The POP's own tunnel of the site holds the Child SA whose outbound SPI is spi_in. */
static bool pop_holds(struct sim_node *n, uint32_t spi_in)
{
	for (size_t k = 0; k < n->d.n_tunnels; k++) {
		const struct tunnel *t = n->d.tunnels[k];

		if (strcmp(t->site, SIM_SITE) || t->state != TUN_UP)
			continue;
		for (size_t c = 0; c < t->n_children; c++)
			if (t->children[c].installed && t->children[c].spi_out == spi_in)
				return true;
	}
	return false;
}

/*
 * A POP the branch could move the site's traffic to at once: nothing wrong with it or its
 * link, the branch's tunnel to it up with its Child SA, usable since that POP's ikd last
 * started, and the same Child SA up at the POP.
 */
static bool ready_pop(struct sim_world *w, int p)
{
	struct sim_node *n = &w->nodes[p];
	struct ikd *d = &w->nodes[SIM_BRANCH].d;
	char name[16];

	if (!n->running || w->cut[p] || w->dark || w->lossy[p] || n->esp_drop || !n->accepting ||
	    w->pop_refused[p] || w->site_deleted[p])
		return false;
	snprintf(name, sizeof(name), "pop%d", p);
	for (size_t k = 0; k < d->n_tunnels; k++) {
		const struct tunnel *t = d->tunnels[k];

		if (strcmp(t->pop, name) || t->retiring)
			continue;
		return t->state == TUN_UP && t->have_sa && t->n_children &&
		       t->children[0].installed && t->healthy_since_ms &&
		       t->healthy_since_ms >= n->started_ms && !(t->probe && t->probe->failing) &&
		       pop_holds(n, t->children[0].spi_in);
	}
	return false;
}

/*
 * The failover bound (DESIGN.md "Steering and failover"): the site's traffic stopped while
 * a POP was ready to carry it. Unless another fault or control change comes, it moves there
 * within the time the branch takes to see the POP it was on dead: dpd-misses intervals of
 * silence (DPD), or as many unanswered probes after the next one (the probe), and a check.
 * A site without an active POP (its record changed) may wait the primary's grace on top.
 * Not bounded: the site disabled or deleted at the branch, a NAT change that every tunnel
 * has to follow, a POP dropping only ESP when nothing probes (IKE alone cannot see that).
 */
static void failover_bound(struct sim_world *w)
{
	struct ikd *d = &w->nodes[SIM_BRANCH].d;
	const struct site *s = ikd_site(d, SIM_SITE);
	uint64_t ival, bound;
	int ready = 0;

	if (!s || !s->enabled || w->site_disabled || w->site_deleted[SIM_BRANCH])
		return;
	ival = (uint64_t)(s->dpd_interval_s ? s->dpd_interval_s : d->conf.dpd_interval_s) * 1000;
	bound = ival * (d->conf.dpd_misses + 1) + 1000;
	/*
	 * A site with no active POP (its record just changed, say: its tunnels start again)
	 * waits up to primary-grace for the primary's handshake before a backup carries it.
	 */
	{
		const char *active = "";

		ikd_site_status(d, s, &active);
		if (!active[0])
			bound += (uint64_t)d->conf.primary_grace_s * 1000;
	}
	if (w->last_nat_ms && w->now_ms - w->last_nat_ms < bound)
		return;
	for (int p = 1; p <= SIM_POPS; p++)
		if (w->nodes[p].esp_drop && !w->sc.probes)
			return;
	for (int p = 1; p <= SIM_POPS && !ready; p++)
		if (ready_pop(w, p))
			ready = p;
	if (!ready)
		return;
	w->fo_deadline_ms = w->now_ms + bound;
	w->fo_faults = w->faults;
	snprintf(w->fo_why, sizeof(w->fo_why), "pop%d was ready to carry the site (bound %llu ms)",
		 ready, (unsigned long long)bound);
	sim_trace(w, "CHECK  failover bound: %s", w->fo_why);
}

void sim_check_continuous(struct sim_world *w)
{
	struct sim_node *b = &w->nodes[SIM_BRANCH];
	char why[256];
	bool flows;

	if (!b->ever_started)
		return;
	/*
	 * fail-closed: whatever else happens, never in clear (but for a site the operator
	 * disabled: ikd takes its policies away, and its traffic is the routing's)
	 */
	if (!w->site_disabled && !w->site_deleted[SIM_BRANCH]) {
		struct simk_esp pkt;

		if (simk_output(b->k, &lan_branch, &lan_pop, 0, 0, 0, &pkt) == SIMK_CLEAR) {
			sim_fail(w, "fail-closed", "the site's traffic leaves the branch in clear");
			return;
		}
	}
	flows = sim_traffic_flows(w, why, sizeof(why));
	if (w->fo_deadline_ms && (flows || w->faults != w->fo_faults))
		w->fo_deadline_ms = 0;	/* it ended, or another fault came: no longer bounded */
	if (flows) {
		if (!w->flowed)
			sim_trace(w, "CHECK  traffic flows (the first time)");
		else if (w->outage_since_ms)
			sim_trace(w, "CHECK  traffic flows again after %llu ms",
				  (unsigned long long)(w->now_ms - w->outage_since_ms));
		w->flowed = true;
		w->outage_since_ms = 0;
		return;
	}
	if (!w->flowed)
		return;
	if (!w->outage_since_ms) {
		w->outage_since_ms = w->now_ms;
		sim_trace(w, "CHECK  traffic stops: %s", why);
		failover_bound(w);
	}
	if (w->fo_deadline_ms && w->now_ms > w->fo_deadline_ms) {
		sim_fail(w, "failover", "%s; the traffic stopped %llu ms ago, no fault came since, "
			 "and it has not moved: %s", w->fo_why,
			 (unsigned long long)(w->now_ms - w->outage_since_ms), why);
		return;
	}
	if (w->now_ms - w->outage_since_ms > w->worst_outage_ms)
		w->worst_outage_ms = w->now_ms - w->outage_since_ms;
	if (w->sc.calm && w->now_ms - w->outage_since_ms > OUTAGE_BOUND_MS)
		sim_fail(w, "bounded-outage", "a calm run's traffic stopped for over %d ms: %s",
			 OUTAGE_BOUND_MS, why);
}

/*
 * rekey-on-time: ikd rekeys each Child SA at its own time (child-rekey, up to rekey-jitter
 * earlier); the kernel's soft expiry, a quarter of the way from there to the lifetime, is
 * only the backstop for a rekey that could not be made. In a calm run nothing stops a
 * rekey, so the soft expiry may find a Child SA still unrekeyed only within a moment of its
 * time (the kernel counts whole seconds) or with its rekey under way.
 */
void sim_check_rekey_on_time(struct sim_world *w, int node, size_t i)
{
	struct sim_node *n = &w->nodes[node];
	const struct simk_sa *sa = simk_sa_at(n->k, i);
	const struct child *c;
	struct tunnel *t;
	size_t idx;

	if (!w->sc.calm || !n->running || !sa)
		return;
	t = tix_child_find(&n->d, sa->sa.spi, &idx);
	if (!t || t->state != TUN_UP)
		return;
	c = &t->children[idx];
	if (c->rekeying || c->replaces || c->of_old_ike || c->out_held)
		return;
	if (w->now_ms > c->rekey_at_ms + REKEY_SLACK_MS)
		sim_fail(w, "rekey-on-time", "%s's Child SA %08x (%s '%s') was due for its rekey "
			 "%llu ms ago; the kernel's soft expiry came first", n->name, c->spi_in,
			 t->pop[0] ? "pop" : "site", t->pop[0] ? t->pop : t->site,
			 (unsigned long long)(w->now_ms - c->rekey_at_ms));
}

void sim_check_fallback(struct sim_world *w, const char *pop)
{
	struct ikd *d = &w->nodes[SIM_BRANCH].d;
	uint64_t hold = (uint64_t)w->sc.hold_down_s * 1000;

	for (size_t k = 0; k < d->n_tunnels; k++) {
		const struct tunnel *t = d->tunnels[k];

		if (strcmp(t->pop, pop) || t->retiring)
			continue;
		if (!t->healthy_since_ms || w->now_ms - t->healthy_since_ms < hold)
			sim_fail(w, "hold-down", "fallback to %s, usable for %llu ms only (hold-down "
				 "%llu ms)", pop, t->healthy_since_ms ?
				 (unsigned long long)(w->now_ms - t->healthy_since_ms) : 0ull,
				 (unsigned long long)hold);
		return;
	}
	sim_fail(w, "hold-down", "fallback to %s, which has no tunnel", pop);
}

static bool tunnel_settled(const struct tunnel *t)
{
	return t->state == TUN_UP && t->have_sa && !t->init && !t->n_queue && !t->inflight &&
	       !t->n_pend && !t->n_extras;
}

bool sim_quiet(struct sim_world *w)
{
	for (int i = 0; i < SIM_NODES; i++) {
		struct sim_node *n = &w->nodes[i];

		if (!n->running)
			return false;
		for (size_t k = 0; k < n->d.n_tunnels; k++)
			if (!tunnel_settled(n->d.tunnels[k]))
				return false;
	}
	return true;
}

static struct tunnel *branch_tunnel(struct sim_world *w, int pop, size_t *ret_n)
{
	struct ikd *d = &w->nodes[SIM_BRANCH].d;
	struct tunnel *found = NULL;
	char name[16];

	snprintf(name, sizeof(name), "pop%d", pop);
	*ret_n = 0;
	for (size_t k = 0; k < d->n_tunnels; k++)
		if (!strcmp(d->tunnels[k]->pop, name) && !d->tunnels[k]->retiring) {
			found = d->tunnels[k];
			++*ret_n;
		}
	return found;
}

/* Every SA in n's kernel is one its ikd lists, and every one it lists is there. */
static void kernel_is_listing(struct sim_world *w, struct sim_node *n)
{
	size_t listed = 0;

	for (size_t k = 0; k < n->d.n_tunnels; k++) {
		const struct tunnel *t = n->d.tunnels[k];

		for (size_t c = 0; c < t->n_children; c++) {
			const struct child *ch = &t->children[c];
			if (!ch->installed)
				continue;
			if (!simk_sa_lookup(n->k, &ch->addr_local, ch->spi_in, IPPROTO_ESP, 0, 0)) {
				sim_fail(w, "kernel-truth", "%s lists inbound SA %08x (pop '%s') that "
					 "its kernel does not hold", n->name, ch->spi_in, t->pop);
				return;
			}
			if (!simk_sa_lookup(n->k, &ch->addr_remote, ch->spi_out, IPPROTO_ESP, 0,
					    0)) {
				sim_fail(w, "kernel-truth", "%s lists outbound SA %08x (pop '%s') that "
					 "its kernel does not hold", n->name, ch->spi_out, t->pop);
				return;
			}
			listed += 2;
		}
	}
	if (simk_sa_count(n->k) != listed)
		sim_fail(w, "no-leftovers", "%s's kernel holds %zu SAs, its ikd lists %zu",
			 n->name, simk_sa_count(n->k), listed);
}

/*
 * At quiescence every policy of n leads into a tunnel n holds up (its template's addresses
 * and reqid): none of a tunnel that is gone, and no block (a site that is up blocks nothing).
 */
static void policies_are_live(struct sim_world *w, struct sim_node *n)
{
	static const struct xfrm_addr zero;

	for (size_t i = 0; i < simk_policy_count(n->k); i++) {
		const struct xfrm_policy *p = &simk_policy_at(n->k, i)->p;
		bool live = false;

		for (size_t k = 0; p->n_tmpls && k < n->d.n_tunnels && !live; k++) {
			const struct tunnel *t = n->d.tunnels[k];
			struct xfrm_addr l, r;

			kernel_addr(&t->local, &l);
			kernel_addr(&t->remote, &r);
			/* zero addresses: from any of the site's tunnels (the branch's in/fwd) */
			live = t->state == TUN_UP && t->reqid == p->tmpl[0].reqid &&
			       (!memcmp(&p->tmpl[0].dst.a, &zero.a, sizeof(zero.a)) ||
				(!memcmp(&p->tmpl[0].src.a, &l.a, sizeof(l.a)) &&
				 !memcmp(&p->tmpl[0].dst.a, &r.a, sizeof(r.a))) ||
				(!memcmp(&p->tmpl[0].src.a, &r.a, sizeof(r.a)) &&
				 !memcmp(&p->tmpl[0].dst.a, &l.a, sizeof(l.a))));
		}
		if (!live) {
			sim_fail(w, "no-leftovers", "%s holds a policy (dir %u, %s) of no tunnel it has "
				 "up", n->name, p->dir, p->n_tmpls ? "a template" : "no template");
			return;
		}
	}
}

void sim_check_kernels(struct sim_world *w)
{
	for (int i = 0; i < SIM_NODES && !w->fail.failed; i++)
		kernel_is_listing(w, &w->nodes[i]);
	for (int i = 0; i < SIM_NODES && !w->fail.failed; i++)
		policies_are_live(w, &w->nodes[i]);
}

void sim_check_quiescence(struct sim_world *w)
{
	struct sim_node *b = &w->nodes[SIM_BRANCH];
	const struct site *s = ikd_site(&b->d, SIM_SITE);
	const char *status, *active = "";
	char why[256];

	sim_trace(w, "CHECK  quiescence");
	for (int p = 1; p <= SIM_POPS && !w->fail.failed; p++) {
		struct sim_node *pop = &w->nodes[p];
		size_t n_b, n_p = 0;
		struct tunnel *tb = branch_tunnel(w, p, &n_b), *tp = NULL;

		for (size_t k = 0; k < pop->d.n_tunnels; k++)
			if (!strcmp(pop->d.tunnels[k]->site, SIM_SITE)) {
				tp = pop->d.tunnels[k];
				n_p++;
			}
		if (n_b != 1 || n_p != 1) {
			sim_fail(w, "one-ike-sa", "site %s with pop%d: %zu IKE SAs at the branch, "
				 "%zu at the POP", SIM_SITE, p, n_b, n_p);
			break;
		}
		if (tb->n_children != 1 || tp->n_children != 1 || !tb->children[0].installed ||
		    !tp->children[0].installed) {
			sim_fail(w, "one-child-sa", "pop%d: %u Child SAs at the branch, %u at the "
				 "POP (each must have one pair, installed)", p, tb->n_children,
				 tp->n_children);
			break;
		}
		if (tb->children[0].spi_in != tp->children[0].spi_out ||
		    tb->children[0].spi_out != tp->children[0].spi_in)
			sim_fail(w, "one-child-sa", "pop%d: the ends' Child SAs differ: branch in "
				 "%08x out %08x, POP in %08x out %08x", p, tb->children[0].spi_in,
				 tb->children[0].spi_out, tp->children[0].spi_in,
				 tp->children[0].spi_out);
	}
	sim_check_kernels(w);
	if (w->fail.failed)
		return;
	status = s ? ikd_site_status(&b->d, s, &active) : "missing";
	if (strcmp(status, "up") || strcmp(active, "pop1")) {
		sim_fail(w, "preference", "every POP healthy, hold-down over: status '%s', active "
			 "'%s' (want up on pop1)", status, active);
		return;
	}
	/* truth: what the events said is what is */
	for (int p = 1; p <= SIM_POPS && !w->fail.failed; p++) {
		int64_t at_b = w->nodes[SIM_BRANCH].up_minus_down[p], at_p = w->nodes[p].up_minus_down[0];

		if (at_b != 1 || at_p != 1)
			sim_fail(w, "truth", "pop%d: up events minus down events %lld at the branch, "
				 "%lld at the POP (one tunnel up at each)", p, (long long)at_b,
				 (long long)at_p);
	}
	if (!w->fail.failed && strcmp(w->nodes[SIM_BRANCH].last_active, "pop1"))
		sim_fail(w, "truth", "traffic on pop1, but the last move the events told of was to "
			 "'%s'", w->nodes[SIM_BRANCH].last_active);
	if (w->fail.failed)
		return;
	if (!sim_traffic_flows(w, why, sizeof(why)))
		sim_fail(w, "traffic", "quiet and up on pop1, but %s", why);
	else if (!w->fail.failed)
		sim_trace(w, "CHECK  all quiescence invariants hold");
}
