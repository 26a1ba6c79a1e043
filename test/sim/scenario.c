/*
 * What a seed makes of a run: the timers (the defaults or short ones, jitter or none), who
 * starts when (every POP first in some seeds), a NAT or not, and a schedule of faults until
 * faults_end_ms — loss with bursts, duplication, reordering and jitter, one POP or all of them
 * cut off, the NAT rebinding its port or changing its address, a POP crashing (its state
 * lost) and coming back, a POP not accepting new tunnels, the kernel refusing SAs or expiring
 * them early; control changes: the site disabled, edited, deleted and added again, a POP
 * marked not accepting. A calm run has no fault at all, so that every stop of the traffic
 * counts (check.c). Then everything heals.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "world.h"

#define S(x) ((uint64_t)(x) * 1000)

static void say(struct sim_scenario *sc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(struct sim_scenario *sc, const char *fmt, ...)
{
	size_t n = strlen(sc->text);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sc->text + n, sizeof(sc->text) - n, fmt, ap);
	va_end(ap);
}

void sim_scenario_draw(struct sim_world *w)
{
	struct sim_scenario *sc = &w->sc;
	struct simr *r = &w->rng;
	bool defaults = simr_chance(r, 1, 3);

	memset(sc, 0, sizeof(*sc));
	sc->calm = simr_chance(r, 1, 4);
	sc->nat = simr_chance(r, 1, 4);
	sc->jitter = simr_chance(r, 1, 2);
	sc->pfs = simr_chance(r, 1, 2);
	/*
	 * What was added to the scenarios later draws from streams of its own (simr_derive) and
	 * only from its generation on (w->gen, SIM_GEN), so that a regression seed found by an
	 * earlier generation is replayed by that one: it goes on meaning the run that found it.
	 */
	if (w->gen >= 3) {
		struct simr x = simr_derive(r, 1);

		sc->probes = simr_chance(&x, 1, 2);
	}
	/* The defaults, or short timers that make more happen in an hour. */
	sc->hold_down_s = defaults ? 60 : (uint32_t)simr_range(r, 3, 40);
	sc->dpd_interval_s = defaults ? 10 : (uint32_t)simr_range(r, 2, 10);
	sc->reconnect_max_s = defaults ? 60 : (uint32_t)simr_range(r, 2, 30);
	sc->primary_grace_s = defaults ? 5 : (uint32_t)simr_range(r, 0, 10);
	for (int i = 0; i < SIM_NODES; i++) {
		/* Rekeys from both ends; the same times on both (collisions) in some seeds. */
		bool same = i > 0 && simr_chance(r, 1, 3);

		sc->child_rekey_s[i] = same ? sc->child_rekey_s[0] : (uint32_t)simr_range(r, 40, 400);
		sc->ike_rekey_s[i] = same ? sc->ike_rekey_s[0] : (uint32_t)simr_range(r, 60, 900);
		sc->start_ms[i] = simr_below(r, S(20));
	}
	/*
	 * Short lifetimes at some nodes (generation 5: the kernels time them), so that the
	 * kernel's soft expiry and a rekey race, and a rekey that does not come is an outage.
	 */
	if (w->gen >= 5) {
		struct simr x = simr_derive(r, 4);

		for (int i = 0; i < SIM_NODES; i++) {
			if (!simr_chance(&x, 1, 2))
				continue;
			sc->child_life_s[i] = sc->child_rekey_s[i] +
					      (uint32_t)simr_range(&x, 5, sc->child_rekey_s[i]);
			sc->ike_life_s[i] = sc->ike_rekey_s[i] +
					    (uint32_t)simr_range(&x, 10, sc->ike_rekey_s[i]);
		}
	}
	/* Generation 7: DH workers, whose keys come back after the IKE_AUTH at times. */
	if (w->gen >= 7) {
		struct simr x = simr_derive(r, 7);

		for (int i = 0; i < SIM_NODES; i++)
			if (simr_chance(&x, 2, 3))
				sc->job_ms[i] = (uint32_t)simr_range(&x, 1, 2500);
	}
	for (int i = 1; i < SIM_NODES; i++) {
		struct simnet_link_conf *c = &w->base[i];

		memset(c, 0, sizeof(*c));
		c->delay_ms = (uint32_t)simr_range(r, 1, 80);
		c->jitter_ms = simr_chance(r, 1, 3) ? (uint32_t)simr_range(r, 1, 40) : 0;
	}
	sc->faults_end_ms = sc->calm ? S(simr_range(r, 200, 700)) : S(simr_range(r, 90, 600));
	sc->settle_ms = sc->faults_end_ms + S(sc->reconnect_max_s + 40 + 4 * sc->dpd_interval_s +
					      sc->hold_down_s);
	sc->end_ms = sc->settle_ms + S(600);
	w->next_action_ms = sc->calm ? UINT64_MAX : sc->start_ms[0] + S(simr_range(r, 5, 60));
	w->next_fault_ms = w->next_action_ms < sc->faults_end_ms ? w->next_action_ms :
			   sc->faults_end_ms;
	say(sc, "%s%s%s%s%s timers: hold-down %u dpd %u reconnect-max %u grace %u; starts",
	    sc->calm ? "calm" : "faults", sc->nat ? ", NAT" : "", sc->jitter ? ", jitter" : "",
	    sc->pfs ? ", PFS" : "", sc->probes ? ", probes" : "",
	    sc->hold_down_s, sc->dpd_interval_s, sc->reconnect_max_s, sc->primary_grace_s);
	for (int i = 0; i < SIM_NODES; i++)
		say(sc, " %s %llu.%03llu", i ? (const char *[]){ "", "pop1", "pop2", "pop3" }[i] :
		    "branch", (unsigned long long)(sc->start_ms[i] / 1000),
		    (unsigned long long)(sc->start_ms[i] % 1000));
	say(sc, "; child-rekey");
	for (int i = 0; i < SIM_NODES; i++)
		say(sc, " %u", sc->child_rekey_s[i]);
	say(sc, "; ike-rekey");
	for (int i = 0; i < SIM_NODES; i++)
		say(sc, " %u", sc->ike_rekey_s[i]);
	for (int i = 0; i < SIM_NODES; i++)
		if (sc->job_ms[i])
			say(sc, "; %s keys up to %u ms late", i ? (const char *[]){ "", "pop1", "pop2",
			    "pop3" }[i] : "branch", sc->job_ms[i]);
	for (int i = 0; i < SIM_NODES; i++)
		if (sc->child_life_s[i])
			say(sc, "; %s lifetimes child %u ike %u", i ? (const char *[]){ "", "pop1", "pop2",
			    "pop3" }[i] : "branch", sc->child_life_s[i], sc->ike_life_s[i]);
	say(sc, "; faults until %llu s", (unsigned long long)(sc->faults_end_ms / 1000));
}

static void link_both(struct sim_world *w, int pop, const struct simnet_link_conf *c)
{
	simnet_link_set(w->net, (uint32_t)w->nodes[SIM_BRANCH].net_id,
			(uint32_t)w->nodes[pop].net_id, c);
	simnet_link_set(w->net, (uint32_t)w->nodes[pop].net_id,
			(uint32_t)w->nodes[SIM_BRANCH].net_id, c);
}

void sim_links_init(struct sim_world *w)
{
	for (int i = 1; i < SIM_NODES; i++)
		link_both(w, i, &w->base[i]);
}

void sim_cut(struct sim_world *w, int pop, bool on)
{
	simnet_partition(w->net, (uint32_t)w->nodes[SIM_BRANCH].net_id,
			 (uint32_t)w->nodes[pop].net_id, on || w->dark);
	w->cut[pop] = on;
}

void sim_dark(struct sim_world *w, bool on)
{
	w->dark = on;
	for (int i = 1; i < SIM_NODES; i++)
		sim_cut(w, i, w->cut[i]);
}

void sim_faults_heal(struct sim_world *w)
{
	sim_trace(w, "FAULT  all healed: links as at the start, no cut, every POP up and accepting");
	w->faults++;
	/*
	 * A kernel told to refuse its next SAs forgets it (from generation 5: before, a refusal
	 * not yet used outlived the heal, and a short lifetime then ran out after it).
	 */
	for (int i = 0; w->gen >= 5 && i < SIM_NODES; i++)
		simk_fail_next(w->nodes[i].k, SIMK_OP_SA_ADD, 0, 0);
	w->dark = false;
	for (int i = 0; i < SIM_NODES; i++)
		if (w->site_deleted[i]) {
			w->site_deleted[i] = false;
			sim_site_add(w, i);	/* a crashed POP gets it when it starts, below */
		}
	if (w->site_disabled) {
		w->site_disabled = false;
		sim_site_enable(w, SIM_BRANCH, true);
	}
	for (int i = 1; i < SIM_NODES; i++) {
		w->lossy[i] = false;
		link_both(w, i, &w->base[i]);
		sim_cut(w, i, false);
		w->nodes[i].accepting = true;
		w->nodes[i].esp_drop = false;
		if (w->pop_refused[i]) {
			w->pop_refused[i] = false;
			sim_pop_edit(w, i, "accepting", "yes");
		}
		if (w->stop_until[i])
			sim_node_stop_end(w, i);
		if (!w->nodes[i].running && w->nodes[i].ever_started) {
			w->restart_at[i] = 0;
			sim_node_start(w, i);
		}
	}
}

static void fault_action(struct sim_world *w)
{
	struct simr *r = &w->fault_rng;
	int pop = (int)simr_range(r, 1, SIM_POPS);
	struct sim_node *p = &w->nodes[pop];
	struct simnet_link_conf c = w->base[pop];

	unsigned kind = (unsigned)simr_below(r, 13);
	struct simr x = simr_derive(r, 2);

	struct simr y = simr_derive(r, 3);

	/* the kinds added later, from their own streams (see sim_scenario_draw) */
	if (w->gen >= 3 && simr_chance(&x, 1, 14))
		kind = 13;
	if (w->gen >= 4 && simr_chance(&y, 2, 15))
		kind = simr_chance(&y, 1, 2) ? 14 : 15;
	w->faults++;
	switch (kind) {
	case 0:		/* loss, in bursts or not */
		c.loss_good_ppm = (uint32_t)simr_below(r, 400000);
		if (simr_chance(r, 1, 2)) {
			c.good_to_bad_ppm = (uint32_t)simr_range(r, 1000, 100000);
			c.bad_to_good_ppm = (uint32_t)simr_range(r, 50000, 500000);
			c.loss_bad_ppm = (uint32_t)simr_range(r, 500000, 1000000);
		}
		link_both(w, pop, &c);
		w->lossy[pop] = true;
		sim_trace(w, "FAULT  %s's link loses %u ppm%s", p->name, c.loss_good_ppm,
			  c.good_to_bad_ppm ? " (and in bursts)" : "");
		break;
	case 1:		/* duplication, reordering, jitter */
		c.dup_ppm = (uint32_t)simr_below(r, 200000);
		c.reorder_ppm = (uint32_t)simr_below(r, 300000);
		c.reorder_ms = (uint32_t)simr_range(r, 10, 2000);
		c.jitter_ms = (uint32_t)simr_range(r, 0, 500);
		link_both(w, pop, &c);
		w->lossy[pop] = true;
		sim_trace(w, "FAULT  %s's link duplicates %u ppm, reorders %u ppm by %u ms, jitter "
			  "%u ms", p->name, c.dup_ppm, c.reorder_ppm, c.reorder_ms, c.jitter_ms);
		break;
	case 2:
		link_both(w, pop, &w->base[pop]);
		w->lossy[pop] = false;
		sim_trace(w, "FAULT  %s's link healthy again", p->name);
		break;
	case 3:
	case 4:
		sim_cut(w, pop, !w->cut[pop]);
		sim_trace(w, "FAULT  %s %s", p->name, w->cut[pop] ? "cut off" : "reachable again");
		break;
	case 5:
		sim_dark(w, !w->dark);
		sim_trace(w, "FAULT  %s", w->dark ? "every POP dark" : "the POPs are back (but "
			  "those cut on their own)");
		break;
	case 6:
		if (w->sc.nat) {
			struct simnet_addr pub;
			char a[32];

			w->last_nat_ms = w->now_ms;
			if (simr_chance(r, 1, 2)) {
				simnet_nat_rebind_port(w->net, (uint32_t)w->nodes[SIM_BRANCH].net_id);
				sim_trace(w, "FAULT  the NAT forgets its mappings (new ports)");
			} else {
				snprintf(a, sizeof(a), "198.51.100.%u", 10 + ++w->nat_changes % 200);
				simnet_addr_parse(a, 0, &pub);
				simnet_nat_change_address(w->net,
							  (uint32_t)w->nodes[SIM_BRANCH].net_id, &pub);
				sim_trace(w, "FAULT  the NAT's public address is now %s", a);
			}
			break;
		}
		/* without a NAT, a crash instead */
		__attribute__((fallthrough));
	case 7:
		if (p->running && !w->stop_until[pop]) {
			uint64_t back = w->now_ms + S(simr_range(r, 1, 90));

			/* generation 6: half of them a stop (SIGTERM) instead, Deletes sent */
			if (w->gen >= 6 && simr_chance(&w->stop_rng, 1, 2)) {
				sim_node_stop(w, pop);
				if (back <= w->stop_until[pop])
					back = w->stop_until[pop] + 1;
			} else {
				sim_node_crash(w, pop);
			}
			w->restart_at[pop] = back;
		}
		break;
	case 8:
		p->accepting = !p->accepting;
		sim_trace(w, "FAULT  %s %s new tunnels", p->name,
			  p->accepting ? "accepts" : "does not accept");
		break;
	case 9: {	/* the kernel refuses the next SAs (out of memory, a missing module) */
		int node = (int)simr_below(r, SIM_NODES);
		unsigned count = (unsigned)simr_range(r, 1, 3);

		simk_fail_next(w->nodes[node].k, SIMK_OP_SA_ADD, ENOMEM, count);
		sim_trace(w, "FAULT  %s's kernel refuses the next %u SA%s", w->nodes[node].name,
			  count, count == 1 ? "" : "s");
		break;
	}
	case 10:	/* the operator disables the site at the branch, or enables it again */
		if (w->site_deleted[SIM_BRANCH])
			break;	/* no site to disable */
		w->site_disabled = !w->site_disabled;
		sim_trace(w, "CONTROL site %s at the branch", w->site_disabled ? "disable" : "enable");
		sim_site_enable(w, SIM_BRANCH, !w->site_disabled);
		break;
	case 11: {	/* the operator edits the site: its timers, at one end */
		int node = (int)simr_below(r, SIM_NODES);
		char v[2][16];
		const char *kv[4] = { "child-rekey", v[0], "dpd-interval", v[1] };

		snprintf(v[0], sizeof(v[0]), "%u", (unsigned)simr_range(r, 40, 400));
		snprintf(v[1], sizeof(v[1]), "%u", (unsigned)simr_range(r, 2, 10));
		sim_trace(w, "CONTROL site edit at %s: child-rekey %s dpd-interval %s",
			  w->nodes[node].name, v[0], v[1]);
		sim_site_edit(w, node, kv, 4);
		break;
	}
	case 13:	/* a POP answers IKE but drops every ESP packet (or stops doing so) */
		p->esp_drop = !p->esp_drop;
		sim_trace(w, "FAULT  %s %s", p->name, p->esp_drop ? "drops ESP (IKE still answers)" :
			  "carries ESP again");
		break;
	case 14: {	/* the operator deletes the site at one end, or adds it again */
		int node = (int)simr_below(r, SIM_NODES);
		struct sim_node *nd = &w->nodes[node];

		w->site_deleted[node] = !w->site_deleted[node];
		sim_trace(w, "CONTROL site %s at %s", w->site_deleted[node] ? "delete" : "add",
			  nd->name);
		if (w->site_deleted[node])
			sim_site_delete(w, node);
		else
			sim_site_add(w, node);
		break;
	}
	case 15: {	/* the kernel expires an SA (a byte limit: one; its lifetime: both halves) */
		int node = (int)simr_below(r, SIM_NODES);
		struct sim_node *nd = &w->nodes[node];
		size_t n = simk_sa_count(nd->k), i;
		bool hard = simr_chance(r, 1, 3), both = simr_chance(r, 1, 2);
		const struct simk_sa *k;
		struct tunnel *t;
		uint32_t other = 0;
		size_t idx;

		if (!n || !nd->running)
			break;
		i = (size_t)simr_below(r, n);
		k = simk_sa_at(nd->k, i);
		t = tix_child_find(&nd->d, k->sa.spi, &idx);
		if (both && t)
			other = t->children[idx].spi_in == k->sa.spi ? t->children[idx].spi_out :
				t->children[idx].spi_in;
		sim_kernel_expire(w, node, i, hard);
		for (size_t j = 0; other && j < simk_sa_count(nd->k); j++)
			if (simk_sa_at(nd->k, j)->sa.spi == other) {
				sim_kernel_expire(w, node, j, hard);
				break;
			}
		break;
	}
	case 12:	/* the operator marks a POP not accepting at the branch, or accepting */
		w->pop_refused[pop] = !w->pop_refused[pop];
		sim_trace(w, "CONTROL pop edit %s accepting %s", p->name,
			  w->pop_refused[pop] ? "no" : "yes");
		sim_pop_edit(w, pop, "accepting", w->pop_refused[pop] ? "no" : "yes");
		break;
	}
}

void sim_fault_step(struct sim_world *w)
{
	uint64_t next;

	for (int i = 1; i < SIM_NODES; i++)
		if (w->stop_until[i] && (w->stop_until[i] <= w->now_ms || !w->nodes[i].d.n_tunnels))
			sim_node_stop_end(w, i);
	for (int i = 1; i < SIM_NODES; i++)
		if (w->restart_at[i] && w->restart_at[i] <= w->now_ms) {
			w->restart_at[i] = 0;
			w->faults++;
			sim_node_start(w, i);
		}
	if (w->now_ms >= w->sc.faults_end_ms && w->next_action_ms != UINT64_MAX) {
		w->next_action_ms = UINT64_MAX;
		sim_faults_heal(w);
	} else if (w->now_ms >= w->next_action_ms) {
		fault_action(w);
		w->next_action_ms = w->now_ms + S(simr_range(&w->fault_rng, 2, 60));
	}
	/* the next: an action, a restart, or the healing */
	next = w->next_action_ms;
	if (next != UINT64_MAX && next > w->sc.faults_end_ms)
		next = w->sc.faults_end_ms;
	for (int i = 1; i < SIM_NODES; i++) {
		if (w->restart_at[i] && w->restart_at[i] < next)
			next = w->restart_at[i];
		/* a stopping node is looked at every 10 ms, as ikd/main.c's stop_fire() does */
		if (w->stop_until[i] && w->now_ms + 10 < next)
			next = w->now_ms + 10;
	}
	w->next_fault_ms = next;
}
