/*
 * Timers for ikd's event loop: a binary min-heap of embedded timers on CLOCK_MONOTONIC
 * milliseconds. Every deadline in the daemon (retransmits, DPD, rekey, failover hold-down)
 * is one of these; the loop sleeps in epoll_wait until the earliest one.
 */
#ifndef TUNNEL_TIMER_H
#define TUNNEL_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct timer;
/* A timer knows no owner: its callback finds it with timer_owner(). */
typedef void (*timer_fn)(struct timer *t);

/*
 * Embedded in its owner; zero-initialised or timer_init()ed before first use. 16 bytes: a
 * tunnel has eight, a daemon 100,000 tunnels. Deadlines are capped at TIMER_NEVER (69 years of milliseconds), a heap
 * holds at most TIMER_MAX timers.
 */
#define TIMER_NEVER ((UINT64_C(1) << 41) - 1)
#define TIMER_MAX ((UINT64_C(1) << 23) - 2)
struct timer {
	uint64_t deadline_ms : 41;
	uint64_t heap_idx : 23;	/* position + 1 in the heap; 0 when not armed */
	timer_fn fn;
};

/* The struct of type a timer is the member of: (type *) from a timer_fn's t. */
#define timer_owner(t, type, member) ((type *)(void *)((char *)(t) - offsetof(type, member)))

struct timer_heap {
	struct timer **v;
	size_t n;
	size_t cap;
};

void timer_init(struct timer *t, timer_fn fn);
static inline bool timer_armed(const struct timer *t)
{
	return t->heap_idx != 0;
}

/* Arm or re-arm t for deadline_ms (past TIMER_NEVER: then). -ENOMEM leaves t as it was. */
int timer_arm(struct timer_heap *h, struct timer *t, uint64_t deadline_ms);
/* Disarm t; a no-op when it is not armed. */
void timer_cancel(struct timer_heap *h, struct timer *t);

/* Milliseconds until the earliest deadline (0 if already due), or -1 with nothing armed. */
int timer_next_timeout_ms(const struct timer_heap *h, uint64_t now_ms);
/*
 * Fire every timer due at now_ms, earliest first. Each is disarmed before its callback runs,
 * so a callback may re-arm or cancel any timer, itself included. Returns how many fired.
 */
size_t timer_run_due(struct timer_heap *h, uint64_t now_ms);
/*
 * Fire the earliest timer if it is due at now_ms (false: none is): one step at a time, so
 * that a caller can see a timer re-armed for now forever (the simulator's livelock check).
 */
bool timer_run_one(struct timer_heap *h, uint64_t now_ms);

void timer_heap_clear(struct timer_heap *h);

#endif
