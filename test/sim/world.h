/*
 * The simulator's world: the real lifecycle (ikd/ikd.h, libikd_core) of one branch and three
 * POPs in one process, each with its own simulated kernel (kernel.h), over one simulated
 * network (net.h), on one virtual clock. Nothing here sleeps or reads a clock: a run is a
 * function of its seed, and the same seed replays it exactly.
 */
#ifndef SIM_WORLD_H
#define SIM_WORLD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "tunnel/tunnel.h"
#include "kernel.h"
#include "net.h"
#include "rng.h"

#define SIM_POPS 3
#define SIM_NODES (1 + SIM_POPS)	/* node 0: the branch; 1..3: pop1 (primary), pop2, pop3 */
#define SIM_BRANCH 0
#define SIM_SITE "s1"
#define SIM_TRACE_LINES 400
/*
 * The scenario generator's generation: 2 added control changes and kernel refusals, 3 the
 * probes and POPs that drop ESP, 4 sites deleted and added again at either end and the
 * kernel's expiry events, 5 the kernels' lifetimes timed (and short ones in some seeds), 6
 * stops (SIGTERM) besides crashes, 7 DH workers (an IKE_SA_INIT's keys made late). A seed is
 * replayed by the generation that found it.
 */
#define SIM_GEN 7
#define SIM_PROBE_IDS 256
#define SIM_PROBE_ANSWERS 64

#define SIM_JOBS 256	/* derives out at once (io.run_job), all nodes */

/* A responder's derive (io.run_job) that a worker would be running: done at due_ms. */
struct sim_job {
	uint64_t due_ms;
	int node;
	struct ike_init_job *job;
};

/* An echo of a branch tunnel's probe on its way back. */
struct sim_answer {
	uint64_t due_ms;
	uint16_t id, seq;
};

struct sim_world;

struct sim_node {
	struct sim_world *w;
	int id;
	char name[16];
	struct ikd d;
	bool running;			/* ikd is up (not yet started, or crashed: false) */
	bool ever_started;
	struct timer_heap timers;
	struct simk *k;
	int net_id;			/* its node in the network */
	union net_addr addr;		/* its own address (behind a NAT: the private one) */
	bool accepting;			/* a POP's downstream health (io.accepting) */
	bool esp_drop;			/* a POP that answers IKE but drops every ESP packet */
	bool deaf_4500;		/* hears nothing at port 4500 (a script's, none of a seed's) */
	struct tunnel *probe_ids[SIM_PROBE_IDS];	/* the branch's probes by identifier */
	uint16_t probe_next;
	uint8_t rx[65536];
	/* what ikd told the world (io.event and io.count): the truth invariants compare */
	uint64_t events, failovers, fallbacks, ups, downs;
	/* the branch: up and down events per POP (index 1..3), the POP the last move named */
	int64_t up_minus_down[SIM_NODES];
	char last_active[16];
	uint64_t restarts;
	uint64_t started_ms;		/* when its ikd last started */
};

/* What one seed makes of the world: timers, faults, their times. */
struct sim_scenario {
	uint64_t start_ms[SIM_NODES];	/* when each node's ikd starts */
	bool nat;			/* the branch sits behind a NAT */
	bool calm;			/* no faults after the start: every outage counts */
	bool jitter;			/* rekey jitter on (the default) or off */
	bool pfs;			/* Child SA rekeys with a DH exchange */
	bool probes;			/* the POPs have probe IPs: the branch probes each tunnel */
	/*
	 * The site has two selectors each way (four a Child SA: past what struct child holds
	 * in itself). Scripted scenarios only: the seeded ones draw no such thing.
	 */
	bool many_ts;
	/*
	 * Generation 7: each node's DH worker (io.run_job): an IKE_SA_INIT's keys are ready up
	 * to this long after its answer went (half of it at least); 0: no worker, made at once.
	 */
	uint32_t job_ms[SIM_NODES];
	uint32_t child_rekey_s[SIM_NODES], ike_rekey_s[SIM_NODES];
	/* the site's lifetimes at each node (0: the defaults, 7200 s and 86400 s) */
	uint32_t child_life_s[SIM_NODES], ike_life_s[SIM_NODES];
	uint32_t hold_down_s, dpd_interval_s, reconnect_max_s, primary_grace_s;
	uint64_t faults_end_ms;		/* every fault healed from here on */
	/*
	 * From here on the quiescence invariants hold at the first quiet instant: the longest
	 * reconnect back-off, a handshake's retransmissions and the hold-down after the heal.
	 */
	uint64_t settle_ms;
	uint64_t end_ms;		/* quiescence must come before this */
	char text[1024];		/* the scenario in words, for the failure report */
};

struct sim_failure {
	bool failed;
	char invariant[48];
	char detail[512];
	uint64_t at_ms;
};

struct sim_world {
	uint64_t seed;
	unsigned gen;			/* the scenario generator's generation (SIM_GEN) */
	uint64_t now_ms;
	struct simr rng;		/* the scenario's draws */
	struct simr fault_rng;		/* the fault schedule's draws */
	struct simnet *net;
	struct sim_node nodes[SIM_NODES];
	struct sim_scenario sc;
	struct sim_failure fail;
	int verbose;			/* 0: trace kept for a failure; 1: printed as it runs */
	int log_level;
	/* The trace: the last SIM_TRACE_LINES lines (logs, faults, checks), for a failure. */
	char (*trace)[200];
	size_t trace_next, trace_n;
	/* the traffic invariants' memory */
	bool flowed;			/* the site's traffic has flowed once */
	uint64_t outage_since_ms;	/* not flowing since (0: flowing) */
	uint64_t worst_outage_ms;
	uint64_t next_check_ms;
	bool check_quiescence;		/* sim_world_run: end at the first quiet instant */
	uint64_t events_run;
	uint64_t events_now;		/* events since time last moved on */
	/* the probes' echoes in flight back to the branch */
	struct sim_answer answers[SIM_PROBE_ANSWERS];
	size_t n_answers;
	struct sim_job jobs[SIM_JOBS];	/* the derives out (generation 7) */
	size_t n_jobs;
	struct simr job_rng;		/* their delays */
	uint64_t jobs_given, jobs_orphaned;	/* given; done with their tunnel gone */
	uint64_t auth_held;		/* IKE_AUTHs held by nodes that died since */
	/* the fault schedule: the next action and when, and what is in force */
	uint64_t next_fault_ms, next_action_ms;
	uint64_t restart_at[SIM_NODES];	/* a crashed node starts again then (0: not down) */
	/* a node told to stop (SIGTERM) ends then, or when its Deletes are answered (0: not) */
	uint64_t stop_until[SIM_NODES];
	struct simr stop_rng;		/* generation 6: a crash or a stop */
	bool cut[SIM_NODES];		/* the branch and that POP cut apart */
	bool dark;			/* the branch cut from every POP */
	unsigned nat_changes;
	bool site_disabled;		/* at the branch, by a control change */
	bool pop_refused[SIM_NODES];	/* the branch's record says: not accepting */
	bool site_deleted[SIM_NODES];	/* the operator deleted the site at that node */
	bool lossy[SIM_NODES];		/* that POP's link is not as at the start */
	/*
	 * The failover bound (check.c): an outage that must end by fo_deadline_ms (0: none is
	 * bounded now) unless another fault comes first (faults moves past fo_faults).
	 */
	uint64_t faults, last_nat_ms;	/* faults and control changes so far; a NAT change */
	uint64_t fo_faults, fo_deadline_ms;
	char fo_why[160];
	struct simnet_link_conf base[SIM_NODES];	/* each POP's link when healthy */
};

/* Once per process, before anything draws: libsodium and OpenSSL draw from the seed. */
int sim_crypto_init(void);
/*
 * Build the world for seed: the scenario drawn from it, or given (a scripted test: no fault
 * schedule, links of 10 ms). 0 or -errno.
 */
int sim_world_init(struct sim_world *w, uint64_t seed, unsigned gen,
		   const struct sim_scenario *given, int verbose, int log_level);
void sim_world_free(struct sim_world *w);
/* IKE_AUTH datagrams held for their keys so far, every node, every process of it. */
uint64_t sim_auth_held(const struct sim_world *w);
/*
 * Run it to the end: the quiescence invariants at the first quiet instant after settle_ms;
 * false when an invariant failed (w->fail says which).
 */
bool sim_world_run(struct sim_world *w);
/* Run until t_ms with the continuous invariants (a scripted test's step); false on a failure. */
bool sim_world_run_until(struct sim_world *w, uint64_t t_ms);
void sim_trace(struct sim_world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_report(struct sim_world *w, FILE *f);

/* world.c: nodes */
int sim_node_start(struct sim_world *w, int id);
void sim_node_crash(struct sim_world *w, int id);
/*
 * ikd told to stop (SIGTERM), as ikd/main.c does it: ikd_stop_begin() now; sim_node_stop_end()
 * (from sim_fault_step) once no tunnel is left or after SIM_STOP_WAIT_MS.
 */
#define SIM_STOP_WAIT_MS 3000
void sim_node_stop(struct sim_world *w, int id);
void sim_node_stop_end(struct sim_world *w, int id);

/* world.c: control changes, as the control socket makes them */
int sim_site_edit(struct sim_world *w, int id, const char *const *kv, size_t n);
int sim_site_enable(struct sim_world *w, int id, bool enabled);
/* The operator deletes the site at node id, or adds it again (as it was at the start). */
int sim_site_delete(struct sim_world *w, int id);
int sim_site_add(struct sim_world *w, int id);
/*
 * The kernel of node id expires the SA at index i of its table (soft: dying; hard: removed)
 * and tells ikd as the kernel's XFRM_MSG_EXPIRE does. -ESRCH when there is none.
 */
int sim_kernel_expire(struct sim_world *w, int id, size_t i, bool hard);
/* The branch's record of a POP (key = value). */
int sim_pop_edit(struct sim_world *w, int pop, const char *key, const char *value);

/* scenario.c */
void sim_scenario_draw(struct sim_world *w);
/* The next fault action due at w->now_ms (and the time of the one after). */
void sim_fault_step(struct sim_world *w);
void sim_faults_heal(struct sim_world *w);
void sim_links_init(struct sim_world *w);
/* The branch and pop cut apart (or not); every POP cut off the branch (or not). */
void sim_cut(struct sim_world *w, int pop, bool on);
void sim_dark(struct sim_world *w, bool on);

/* check.c: the invariants */
void sim_check_continuous(struct sim_world *w);
/* The kernel of node is about to soft-expire its SA at index i: was it ikd's to rekey by now? */
void sim_check_rekey_on_time(struct sim_world *w, int node, size_t i);
/* A fallback to pop: the primary has been usable for the hold-down (DESIGN.md). */
void sim_check_fallback(struct sim_world *w, const char *pop);
/* At quiescence: true when quiet (then every quiescence invariant was checked). */
bool sim_quiet(struct sim_world *w);
void sim_check_quiescence(struct sim_world *w);
/*
 * Each node's kernel holds exactly the SAs its ikd lists, and only policies of tunnels it
 * holds up (no-leftovers, kernel-truth): for a quiet moment.
 */
void sim_check_kernels(struct sim_world *w);
void sim_fail(struct sim_world *w, const char *invariant, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The node a packet to this outer address reaches (the NAT's: the branch behind it). */
struct sim_node *sim_node_at(struct sim_world *w, const struct xfrm_addr *a);
/* The branch and that POP are cut apart now. */
bool sim_cut_between(const struct sim_world *w, const struct sim_node *a,
		     const struct sim_node *b);
/* Does the site's traffic flow both ways right now? why says where it stops. */
bool sim_traffic_flows(struct sim_world *w, char *why, size_t why_len);

#endif
