/*
 * The site machine: which of a site's POPs carries its traffic (DESIGN.md "Steering and
 * failover", "The lifecycle"). Sans-I/O: it is told each POP tunnel's state and the time, and
 * says which POP is active, what happened (an event to log, send and count) and when it wants
 * to be asked again. No clock, no timers, no kernel of its own.
 *
 * The rules, in order:
 *   - the active POP stays while it is usable;
 *   - the primary takes over once it is usable: at once when it was simply not up yet, after
 *     the hold-down when it had failed (it was usable, then was not) since the site last had
 *     no active POP: that is a fallback;
 *   - with no active POP, a backup that is usable waits up to the grace for the primary
 *     whose handshake is under way (the site stays fail-closed meanwhile);
 *   - otherwise the first usable POP in order of preference;
 *   - failing that, the first established one (a tunnel whose probe alone fails): the probe
 *     chooses among POPs, it never fails a site closed;
 *   - none: the site is blocked (fail-closed), and its history starts afresh.
 */
#ifndef IKD_SITE_CHOOSE_H
#define IKD_SITE_CHOOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One POP tunnel of the site, as the tunnel machine reports it. */
enum site_pop_state {
	SITE_POP_NONE = 0,	/* no tunnel (not accepting, unknown, being taken down) */
	SITE_POP_DOWN,		/* waiting to connect again after a failure */
	SITE_POP_CONNECTING,	/* its handshake is under way */
	SITE_POP_ESTABLISHED,	/* IKE and Child SA up, but its probe fails: no traffic seen */
	SITE_POP_USABLE,	/* established and its probe (if any) answers */
};

struct site_pop_view {
	enum site_pop_state state;
	uint64_t usable_since_ms;	/* USABLE: since when (its hold-down counts from it) */
};

struct site_choice_cfg {
	uint64_t hold_down_ms;
	uint64_t grace_ms;		/* 0: no grace, the first usable POP at once */
};

/* What the machine remembers of a site between questions (site_choice_init(): a new site). */
struct site_choice {
	int active;			/* index of the active POP, -1 none; set by site_choose() */
	bool started;			/* asked at least once */
	bool prim_usable;		/* the primary was usable at the last question */
	bool prim_failed;		/* ... and has failed since the site last had no active POP */
	uint64_t grace_until_ms;	/* a backup waits for the primary until then (0: none) */
};

enum site_choice_event {
	SITE_EV_NONE = 0,
	SITE_EV_ACTIVE,		/* traffic to a POP after none, or to the primary, now up */
	SITE_EV_FAILOVER,	/* from one POP to a less preferred one, or to another backup */
	SITE_EV_FALLBACK,	/* back to the primary after it failed (held down) */
	SITE_EV_BLOCKED,	/* no usable POP: fail-closed */
};

struct site_choice_out {
	int from, to;			/* the active POP before and after (-1: none) */
	enum site_choice_event ev;
	bool grace_started;		/* a backup began to wait for the primary */
	bool counted;			/* a failover or fallback for the site's counters */
	uint64_t wake_ms;		/* ask again at this time (0: nothing pending) */
};

void site_choice_init(struct site_choice *c);

/*
 * The POPs in order of preference (pops[0] the primary, then the backups; n >= 1) as they
 * are now: decide the active POP into c->active and say what happened.
 */
void site_choose(struct site_choice *c, const struct site_choice_cfg *cfg,
		 const struct site_pop_view *pops, size_t n, uint64_t now_ms,
		 struct site_choice_out *out);

const char *site_choice_event_name(enum site_choice_event ev);

#endif
