/*
 * ikd.conf(5): the daemon's own settings, `key = value` lines with `#` comments. Sites and
 * POPs are not here: they live in the store (lib/site/store.h) that xfrmctl edits.
 */
#ifndef TUNNEL_CONF_H
#define TUNNEL_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONF_PATH_MAX 256
#define CONF_DEFAULT_PATH "/etc/ikd/ikd.conf"

/* health-check: what a responder asks before it accepts new tunnels (see health.h). */
enum conf_health {
	CONF_HEALTH_NONE,	/* always accepting */
	CONF_HEALTH_COMMAND,	/* a program's exit status */
	CONF_HEALTH_TCP,	/* a TCP connection to a downstream service */
};

#define CONF_HEALTH_TARGET_MAX 512
#define CONF_HEALTH_ARGV_MAX 32	/* words of a command, the program included */

enum conf_role {
	CONF_ROLE_INITIATOR,	/* an edge router: connects each enabled site to its POPs */
	CONF_ROLE_RESPONDER,	/* a gateway: accepts the enabled sites */
};

#define CONF_AUTO UINT32_MAX	/* a number ikd chooses (ikd.conf(5) says how) */

struct ikd_conf {
	enum conf_role role;
	char listen[2][64];		/* addresses the IKE sockets bind; empty: any */
	size_t n_listen;
	uint16_t ike_port, natt_port;
	char identity[256];		/* our IKE identity; empty: the local address */
	char store[CONF_PATH_MAX];
	char socket[CONF_PATH_MAX];
	char socket_group[64];		/* empty: the socket is 0600, root only */
	int log_level;			/* LOG_ERR .. LOG_DEBUG */
	uint32_t retransmit_base_ms;	/* first retransmission timeout */
	uint32_t retransmit_tries;	/* sends before giving up (exponential back-off) */
	uint32_t cookie_threshold;	/* half-open SAs before cookies are required */
	uint32_t half_open_timeout_s;
	uint32_t keepalive_s;		/* NAT keepalives when behind a NAT */
	uint32_t reconnect_min_s, reconnect_max_s;
	uint32_t rekey_jitter_s;	/* rekeys happen up to this much earlier, at random */
	uint32_t dpd_interval_s;	/* initiator: liveness checks of each POP's IKE SA */
	uint32_t dpd_misses;		/* intervals of silence before a POP is dead */
	uint32_t hold_down_s;		/* the primary stays healthy this long before fallback */
	uint32_t primary_grace_s;	/* with no active POP: the primary's head start */
	uint32_t receive_buffer;	/* bytes: each IKE socket's receive buffer */
	uint32_t dh_workers;		/* threads making DH key pairs ahead; CONF_AUTO: CPUs - 1 */
	bool fragmentation;
	bool probe;			/* initiator: ICMP echo to each POP's probe IP */
	bool policy_hash;		/* lower the kernel's policy hash thresholds to ours */
	enum conf_health health;
	/* command: its words, split on spaces when run; tcp: "ADDRESS:PORT" ("[v6]:PORT") */
	char health_target[CONF_HEALTH_TARGET_MAX];
	uint32_t health_interval_s;	/* from the start of one check to the next */
	uint32_t health_timeout_s;	/* a check still running then failed (and is killed) */
	uint32_t health_rise, health_fall;	/* consecutive results that change the state */
};

void conf_defaults(struct ikd_conf *c);
/*
 * Parse text (len bytes; need not be NUL-terminated) over c, which holds the defaults.
 * Errors: "PATH:LINE: reason" in err, -EINVAL, c left as it was.
 */
int conf_parse(struct ikd_conf *c, const char *path, const char *text, size_t len, char *err,
	       size_t err_len);
/*
 * "ADDRESS:PORT" or "[IPv6]:PORT" into its numeric address (ret_addr, addr_len bytes) and
 * port: -EINVAL for anything else (no names: a check must not wait on DNS).
 */
int conf_split_hostport(const char *v, char *ret_addr, size_t addr_len, uint16_t *ret_port);
/* Read and parse path; a missing file at the default path means the defaults. */
int conf_load(struct ikd_conf *c, const char *path, char *err, size_t err_len);

#endif
