/*
 * A gateway's health check of its downstream service (ikd.conf(5) health-check): a
 * command's exit status or a TCP connection, every health-interval seconds, each within
 * health-timeout. After health-fall failed checks in a row the gateway stops accepting new
 * tunnels (IKE_AUTH is answered AUTHENTICATION_FAILED; established tunnels stay), after
 * health-rise passed checks in a row it accepts again.
 *
 * Everything runs in ikd's event loop and nothing waits: a command is spawned without a
 * shell and watched through a pidfd, a connection is non-blocking, a check that overruns its
 * timeout is killed (its whole process group) and counts as failed.
 *
 * The rise/fall policy is apart (struct health_policy), a pure function of the results.
 */
#ifndef IKD_HEALTH_H
#define IKD_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tunnel/conf.h"
#include "loop.h"

enum health_state {
	HEALTH_UNKNOWN,		/* no result yet: accepting, as without a check */
	HEALTH_UP,		/* passing: accepting */
	HEALTH_DOWN,		/* failing: not accepting new tunnels */
};

struct health_policy {
	uint32_t rise, fall;
	enum health_state state;
	uint32_t streak;	/* consecutive results against the current state */
};

void health_policy_init(struct health_policy *p, uint32_t rise, uint32_t fall);
/*
 * One check's result. The first result decides an unknown state at once; after that it
 * takes rise passes (fall failures) in a row to change it. Returns true when it changed.
 */
bool health_policy_feed(struct health_policy *p, bool ok);
bool health_policy_accepting(const struct health_policy *p);
const char *health_state_name(enum health_state s);	/* "unknown", "passing", "failing" */

/*
 * A command line's words (split on spaces and tabs) into buf, argv[] NULL-terminated:
 * the number of words, -EINVAL with none, -E2BIG when argv (max slots) or buf is too small.
 */
int health_argv(const char *text, char *buf, size_t buf_len, char **argv, size_t max);

struct health;
/* Called after the accepting state changed (it is logged already). */
typedef void (*health_change_fn)(struct health *h, void *arg);

struct health {
	struct loop *loop;
	enum conf_health kind;			/* CONF_HEALTH_NONE: no check, accepting */
	char target[CONF_HEALTH_TARGET_MAX];
	uint32_t interval_s, timeout_s;
	struct health_policy policy;
	struct timer t_next, t_timeout;
	pid_t pid;				/* the command running; 0 when none */
	struct loop_fd proc_fd;			/* its pidfd; fd -1 when none */
	struct loop_fd sock_fd;			/* tcp: the connecting socket; fd -1: none */
	bool timed_out;				/* the running command was killed */
	bool discard;				/* settings changed: the running check void */
	uint64_t started_ms;
	uint64_t checks, failures;
	uint64_t refused;			/* IKE_AUTH refused while not accepting */
	char result[160];			/* the last result, in words: "exit status 1" */
	health_change_fn on_change;
	void *arg;
};

void health_init(struct health *h, struct loop *l, health_change_fn fn, void *arg);
/*
 * Take the settings of c. A changed check (kind or target) starts over from unknown, its
 * first check at once; changed timings or thresholds keep the state. Idempotent.
 */
void health_configure(struct health *h, const struct ikd_conf *c);
bool health_accepting(const struct health *h);
/* Stop: a running command is killed and reaped, a connection closed. */
void health_clear(struct health *h);

#endif
