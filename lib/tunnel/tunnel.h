/*
 * The lifecycle (DESIGN.md "The lifecycle"): the sites and POPs, one tunnel per IKE SA kept
 * or accepted, which POP carries each site's traffic, and what goes into the kernel. lib/ike
 * does each exchange; this drives them. Its inputs are calls (ikd_receive, a timer of
 * d->timers firing, ikd_kernel_event, ikd_apply_sites and the other control changes,
 * tunnel_probe_answered); its outputs go through d->io only (struct ikd_io): no system call,
 * no global state, so the daemon (ikd/glue.c) and the simulator (test/sim) run the same code.
 */
#ifndef TUNNEL_TUNNEL_H
#define TUNNEL_TUNNEL_H

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

#include "ctl/metrics.h"
#include "ike/ike_auth.h"
#include "ike/ike_sa.h"
#include "site/index.h"
#include "site/site.h"
#include "tunnel/addr.h"
#include "tunnel/conf.h"
#include "tunnel/timer.h"
#include "xfrm/events.h"
#include "xfrm/xfrm.h"

#define IKD_MAX_CHILDREN 16
/* "IK": the reqids ikd owns, one per site name over a daemon's life (16 Mi of them) */
#define IKD_REQID_BASE 0x494b0000u
#define IKD_REQID_LAST (IKD_REQID_BASE + 0xffffffu)
static inline bool ikd_reqid_ours(uint32_t reqid)
{
	return reqid >= IKD_REQID_BASE && reqid <= IKD_REQID_LAST;
}
#define IKD_POLICY_PRIORITY 0x494bu	/* the priority of every policy ikd installs */
#define IKD_PROBE_PRIORITY 0x494au	/* a tunnel's probe policy: before the site's */
#define IKD_PROBE_MARK_BASE 0x494b0000u	/* a probe's mark: this | its 16-bit identifier */
#define STATUS_WINDOW_MS 60000	/* the seeds: down = nothing heard for a minute */

enum tun_state {
	TUN_IDLE,		/* initiator: waiting to (re)connect */
	TUN_INIT,		/* IKE_SA_INIT sent (initiator) or answered (responder) */
	TUN_AUTH,		/* IKE_AUTH sent */
	TUN_UP,			/* IKE SA established */
	TUN_DELETING,		/* our Delete of the IKE SA is out */
};

/* Selectors a Child SA holds in itself (one each way, as most have); more are allocated. */
#define CHILD_TS_INLINE 2

struct child {
	uint32_t spi_in, spi_out;
	/*
	 * Made by the peer's rekey of the Child SA with this inbound SPI, and the peer has not
	 * shown yet that it has our answer (it deletes that old SA, or sends a new request): 0
	 * once it has.
	 */
	uint32_t replaces;
	bool installed;
	bool rekeying;			/* our rekey of it is queued or out */
	bool out_held;			/* installed inbound only: its outbound half waits (pend) */
	bool of_old_ike;		/* made under an IKE SA the peer's reauthentication replaced:
					   it ends with that one (responder.c) */
	uint8_t n_ts_local, n_ts_remote;
	uint64_t created_ms;
	uint64_t rekey_at_ms;		/* when we rekey it (jittered) */
	const char *suite;		/* the ESP transform names, for status */
	/*
	 * The addresses its SAs were installed with (the kernel finds an SA by destination and
	 * SPI): a peer that moved since (NAT, §2.23) must not make its old SAs unfindable.
	 */
	struct xfrm_addr addr_local, addr_remote;
	/* negotiated: n_ts_local of ours, then the peer's; child_ts() says where */
	union {
		struct ike_ts in[CHILD_TS_INLINE];
		struct ike_ts *heap;	/* more than CHILD_TS_INLINE */
	} ts_;
};

static inline bool child_ts_heap(const struct child *c)
{
	return (unsigned)c->n_ts_local + c->n_ts_remote > CHILD_TS_INLINE;
}

/* Its selectors: in the struct, or allocated (a struct child may be moved: ask each time). */
static inline const struct ike_ts *child_ts(const struct child *c)
{
	return child_ts_heap(c) ? c->ts_.heap : c->ts_.in;
}

struct ikd;

/* Our requests wait their turn: the window is one (RFC 7296 §2.3). */
enum tun_req {
	REQ_DPD = 1,
	REQ_REKEY_CHILD,	/* spi: the old Child SA's inbound SPI */
	REQ_REKEY_IKE,
	REQ_DELETE_CHILD,	/* spi: the inbound SPI of the Child SA to delete */
	REQ_CREATE_CHILD,	/* a Child SA on an IKE SA that has none (it was refused) */
	REQ_DELETE_IKE,		/* the IKE SA's Delete (a tunnel's farewell) */
};

#define TUN_QUEUE_MAX 8
/* A request waiting its turn: enum tun_req, and the SPI it is about (5 bytes). */
struct tun_queued {
	uint32_t spi;
	uint8_t kind;
} __attribute__((packed));
#define TUN_PENDING_OUT_MAX 4

/*
 * The outbound half of a Child SA the peer rekeyed, held back until the peer deletes the
 * old one (or a few seconds pass): the kernel sends on the newest SA, and the peer can
 * only decrypt the new one once it has read our answer.
 */
struct pending_out {
	struct ike_child c;		/* owns the keys until installed */
	uint32_t old_spi_in;
	uint64_t deadline_ms;
};
#define TUN_EXTRA_MAX 3

/*
 * An IKE SA beside the tunnel's current one while a rekey settles (§2.8, §2.8.1): the old SA
 * (or a redundant new one) that we delete, or that we keep until the peer deletes it.
 */
struct extra_sa {
	struct ike_sa sa;
	uint8_t spi[IKE_SPI_LEN];	/* ours, as indexed (sa may be taken out before the drop) */
	bool ours_to_delete;		/* we send its Delete (and retransmit it) */
	bool peer_new;			/* the peer's new SA whose fate our own rekey decides */
	bool reauthed;			/* replaced by the peer's reauthentication: the Child SAs
					   made under it (of_old_ike) end with it */
	uint64_t expires_ms;
	unsigned tries;
	uint64_t next_retx_ms;
};

/*
 * A site's proposals, parsed once and shared by every tunnel whose site has the same text
 * (all sites use the seeds' list unless told otherwise): a parsed list is 4 KiB.
 */
struct tun_props {
	struct tun_props *next;
	unsigned refs;
	char *ike_text, *esp_text;
	struct ike_pld_sa ike, esp;	/* esp without DH transforms: PFS is pfs_group */
	uint16_t ike_group, pfs_group;
};

/* A tunnel's ICMP probe (probe.c): echoes to its POP's probe IP through its own SA. */
struct tun_probe {
	uint16_t id, seq;		/* the echo identifier (this tunnel's) and the last sent */
	bool waiting;			/* the last echo has had no answer yet */
	bool failing;			/* dpd-misses echoes unanswered: no traffic through it */
	uint32_t missed;		/* echoes unanswered in a row */
	uint32_t mark;			/* SO_MARK of its echoes, the mark its policy matches */
	union net_addr src, dst;	/* inside the site's selectors */
	uint64_t sent_ms, answered_ms;
	uint32_t rtt_ms;		/* of the last answer */
	uint64_t sent, answered;	/* echoes since the tunnel came up */
};

struct tunnel {
	struct ikd *d;
	/* Shared texts (tun_text_get), "" for none: change them with tix_set_site() only. */
	const char *site;
	const char *pop;		/* initiator: the POP it goes to */
	/*
	 * Initiator: a hash of what it was built from of its POP's record (gateway, IKE
	 * identity; and apart, the probe IP), so an edit of the POP touches only what it changes.
	 */
	uint64_t pop_cfg, pop_probe;
	bool initiator;
	/*
	 * An edge router's handshake as the responder: its POP reauthenticating an established
	 * tunnel (make-before-break); on success the IKE SA moves into that tunnel.
	 */
	bool pop_reauth;
	bool retiring;			/* being taken down: carries no traffic any more */
	/*
	 * Its IKE SA's Delete goes as soon as the window is free, and nothing else: the daemon
	 * stops (ikd_stop_begin), or the tunnel is one of tun_farewell()'s, of no site.
	 */
	bool farewell;
	/*
	 * tun_farewell()'s: of no site, its Child SAs gone. It answers the peer's Delete and
	 * nothing else: an answered liveness check would tell the peer that a tunnel it can no
	 * longer send through is alive, and keep it from failing over.
	 */
	bool orphan;
	bool in_half_table;
	bool have_sa;
	/*
	 * The handshake ended for want of an answer (no word from the POP, not a refusal): the
	 * next attempt comes after reconnect-min, not a growing back-off, so a POP that was dark
	 * is found again within seconds of its return.
	 */
	bool silent;
	uint32_t reqid;
	/* A gateway's Child SA policies: the keys they went in with (the site's, then) */
	uint32_t pol_if_id, pol_mark, pol_mark_mask;
	enum tun_state state;
	uint32_t inflight_spi;		/* the SPI the request out is about */
	struct net_sock *sock;		/* the socket for this peer (500, or 4500 after NAT-D) */
	union net_addr local, remote;
	uint8_t spi_ours[IKE_SPI_LEN];	/* hash key: our IKE SPI */
	uint8_t spi_peer_i[IKE_SPI_LEN];	/* responder: the initiator's SPI, for retransmits */
	struct tunnel *next_ours, *next_half, *next_site;	/* hash chains (index.c) */
	size_t idx;			/* its place in ikd.tunnels */
	struct ike_init *init;		/* while a handshake runs */
	struct ike_sa sa;
	struct tun_props *props;	/* the site's proposals, NULL until known */
	struct ike_cc_cfg cc;		/* what CREATE_CHILD_SA uses on this IKE SA */
	uint16_t pfs_group;		/* as props, unless the peer asked for another */
	uint16_t ike_group;
	struct tun_queued queue[TUN_QUEUE_MAX];
	uint8_t n_queue;
	uint8_t inflight;		/* enum tun_req of the request out, 0 when none */
	uint8_t n_pend, n_extras;	/* of pend and extras below */
	struct pending_out *pend;	/* TUN_PENDING_OUT_MAX of them while any is held */
	struct extra_sa *extras;	/* TUN_EXTRA_MAX of them while a rekey settles */
	struct timer t_extras;
	uint32_t rekeys_child, rekeys_ike;	/* for the tests: a rekey a minute wraps in 8,000 years */
	uint64_t ike_created_ms, ike_rekey_at_ms;
	uint64_t settle_at_ms;		/* when what a rekey kept may go (0: nothing kept) */
	struct ike_writer pending;	/* IKE_SA_INIT/IKE_AUTH message for retransmission */
	struct secret psk;		/* a copy while a handshake runs */
	uint32_t spi_in_pending;
	uint32_t cb_spi_in;		/* installed by cc_install() during this ike_sa_receive() */
	/*
	 * Initiator, an IKE SA with no Child SA (the POP refused it, or our kernel did): when to
	 * ask again with CREATE_CHILD_SA (0: not waiting), and the back-off after that.
	 */
	uint64_t child_retry_at_ms;
	unsigned child_retry_s;
	unsigned tries;
	unsigned reconnect_s;
	unsigned dpd_missed;
	struct timer t_retx, t_dpd, t_keepalive, t_reconnect, t_rekey, t_half, t_dead;
	struct child *children;
	uint32_t n_children, cap_children;	/* at most IKD_MAX_CHILDREN */
	uint64_t up_since_ms, last_heard_ms, last_sent_ms;
	uint64_t healthy_since_ms;	/* usable since (up, and its probe answered) */
	struct tun_probe *probe;	/* initiator with a probe IP: its ICMP probe, or NULL */
	const char *last_error;		/* NULL when none; shared (tunnel_error) */
};

struct xfrm_event;

/* One add of a kernel batch (io.kernel_batch): an SA, or a policy. */
struct ikd_kreq {
	const struct xfrm_sa *sa;
	const struct xfrm_policy *policy;	/* when sa is NULL */
	bool update;
	int result;				/* out: 0 or -errno */
};

/*
 * What the lifecycle (the tunnel files: tunnel, initiator, responder, child, rekey, sites,
 * kernel, index) asks of the world around it: its clock, datagrams out, the kernel's XFRM
 * tables, the ICMP probes, and the events, counters and health it reports up. The daemon
 * fills this with sockets, netlink and its control server (glue.c); the simulator (test/sim)
 * with a virtual clock, a simulated network and kernel. Nothing in the lifecycle files makes a
 * system call or calls the control server: every way out is here. arg is the io's own.
 */
struct ikd_io {
	uint64_t (*now_ms)(void *arg);
	/*
	 * A line of the log (the lifecycle keeps no log of its own: lib/ never logs), priority as
	 * syslog's; from_peer: a line a remote peer can cause at will (rate limited by the daemon).
	 */
	void (*log)(void *arg, int priority, bool from_peer, const char *line);
	int (*send)(void *arg, const struct net_sock *s, const uint8_t *msg, size_t len,
		    const union net_addr *to, const union net_addr *local);
	int (*send_keepalive)(void *arg, const struct net_sock *s, const union net_addr *to,
			      const union net_addr *local);
	/* The source address towards remote (as net_route_source). */
	int (*route_source)(void *arg, const union net_addr *remote, union net_addr *ret);
	/* lib/xfrm's requests, the socket replaced by arg. */
	int (*sa_add)(void *arg, const struct xfrm_sa *sa, bool update, struct xfrm_err *err);
	int (*sa_delete)(void *arg, const struct xfrm_addr *dst, uint32_t spi, uint8_t proto,
			 uint32_t mark, uint32_t mark_mask, struct xfrm_err *err);
	int (*sa_get)(void *arg, const struct xfrm_addr *dst, uint32_t spi, uint8_t proto,
		      uint32_t mark, uint32_t mark_mask, struct xfrm_sa_stats *ret,
		      struct xfrm_err *err);
	int (*policy_add)(void *arg, const struct xfrm_policy *p, bool update,
			  struct xfrm_err *err);
	int (*policy_delete)(void *arg, const struct xfrm_policy *p, struct xfrm_err *err);
	/* A tunnel's ICMP probe (probe.c in the daemon): as probe_start, probe_stop, probe_send. */
	int (*probe_start)(void *arg, struct tunnel *t, const struct site *s, const struct pop *p,
			   char *why, size_t why_len);
	void (*probe_stop)(void *arg, struct tunnel *t);
	int (*probe_send)(void *arg, struct tunnel *t);
	/* Up: an event for `xfrmctl monitor`, a site's counter, a Child SA leaving the kernel. */
	void (*event)(void *arg, const char *site, const char *pop, const char *event,
		      const char *detail);
	void (*count)(void *arg, const char *site, enum ctl_sm what);
	void (*child_gone)(void *arg, const struct tunnel *t, const struct child *c,
			   const struct xfrm_event *expired);
	void (*child_out_gone)(void *arg, const struct tunnel *t, const struct child *c);
	/* Responder: whether new tunnels are accepted (the downstream health check). */
	bool (*accepting)(void *arg);
	/*
	 * Responder (may be NULL): the derive of an IKE_SA_INIT just answered, for another thread
	 * (the daemon's DH workers) or later (the simulator): 0 when taken, then ike_init_job_run()
	 * runs on it once and it comes back through ikd_job_done(); <0 when not (no worker): the
	 * lifecycle runs it at once.
	 */
	int (*run_job)(void *arg, struct ike_init_job *job);
	/*
	 * Several adds at once, as lib/xfrm's batch (may be NULL: each through sa_add and
	 * policy_add): every one taken in order whatever the one before did, reqs[i].result its
	 * outcome, err the first failure's. Returns how many failed, or -errno when none was sent.
	 */
	int (*kernel_batch)(void *arg, struct ikd_kreq *reqs, size_t n, struct xfrm_err *err);
};

struct ikd_stats {
	uint64_t rx, tx, dropped, bad_icv, cookies_sent, auth_failed;
	uint64_t jobs;			/* derives handed to io.run_job */
	uint64_t auth_held;		/* IKE_AUTH datagrams that waited for theirs */
	uint64_t hs_failed[CTL_HS_MAX];	/* failed handshakes by reason, both roles */
};

struct ikd {
	const struct ikd_io *io;
	void *io_arg;
	struct timer_heap *timers;	/* the lifecycle's timers (the loop's, or the simulator's) */
	struct ikd_conf conf;
	struct net_sock socks[4];	/* v4 500, v4 4500, v6 500, v6 4500; fd -1 when absent */
	struct site_db db;
	struct site_index names;	/* db's sites by name; rebuilt when the sites change */
	bool names_stale;
	struct tun_props *props;	/* the proposal lists tunnels use, shared */
	struct ike_pld_sa resp_props;	/* responder: every enabled site's IKE proposals */
	bool resp_props_stale;
	uint32_t *id_slots;		/* responder: sites by IKE identity (position + 1) */
	size_t id_cap;
	bool ids_stale;
	struct tunnel **tunnels;
	size_t n_tunnels, cap_tunnels;
	/*
	 * index.c: hash buckets by our IKE SPI and by site (n_buckets, grown with the tunnels);
	 * by half-open SPI and by extra SA's SPI (each grown with what it holds); Child SA SPIs
	 * by open addressing (child_tuns[i] NULL: an empty slot).
	 */
	struct tunnel **by_ours, **by_half, **by_site;
	struct extra_node **by_extra;
	size_t n_buckets, n_half_buckets, n_extra_buckets;
	size_t n_extra_nodes;
	uint32_t *child_spis;
	struct tunnel **child_tuns;
	size_t child_cap, n_child_spis;
	size_t half_open;
	size_t half_open_waiting;	/* IKE_SA_INITs the daemon holds back (ikd_receive_costly) */
	bool stopping;			/* ikd_stop_begin(): Deletes out, nothing new */
	struct secret cookie_secret;
	uint8_t cookie_version;
	struct ikd_stats stats;
	uint64_t started_ms;
	struct ike_writer out;
	struct site_rt **rts;		/* sites.c: each site's runtime record */
	size_t n_rts;
	struct site_rt **rt_buckets;	/* the same by name (rt_nb: a power of two, or 0) */
	size_t rt_nb;
	struct tun_text **texts;	/* text.c: the texts tunnels and reqids share (names, errors) */
	size_t n_texts, cap_texts;
	struct reqid_entry *reqids;	/* kernel.c: a reqid per site name, open addressing */
	size_t n_reqids, cap_reqids;
};

/* The lifecycle's clock (CLOCK_MONOTONIC in the daemon, virtual in the simulator). */
static inline uint64_t ikd_now(const struct ikd *d)
{
	return d->io->now_ms(d->io_arg);
}

/* index.c: every per-message, per-handshake and per-event lookup is O(1) in the tunnels */
int tix_init(struct ikd *d);
void tix_clear(struct ikd *d);
int tix_tunnel_add(struct ikd *d, struct tunnel *t);	/* into ikd.tunnels and by site */
void tix_tunnel_del(struct ikd *d, struct tunnel *t);
void tix_ours_add(struct ikd *d, struct tunnel *t, const uint8_t spi[IKE_SPI_LEN]);
void tix_ours_del(struct ikd *d, struct tunnel *t);
struct tunnel *tix_ours_find(struct ikd *d, const uint8_t spi[IKE_SPI_LEN]);
void tix_half_add(struct ikd *d, struct tunnel *t);
void tix_half_del(struct ikd *d, struct tunnel *t);
struct tunnel *tix_half_find(struct ikd *d, const uint8_t spi_i[IKE_SPI_LEN],
			     const union net_addr *from);
void tix_site_link(struct ikd *d, struct tunnel *t);
void tix_site_unlink(struct ikd *d, struct tunnel *t);
void tix_set_site(struct ikd *d, struct tunnel *t, const char *site);
/* The site's tunnels one after the other: after NULL gives the first; NULL at the end. */
struct tunnel *tix_site_next(struct ikd *d, const char *site, struct tunnel *after);
int tix_child_add(struct ikd *d, struct tunnel *t, uint32_t spi);
void tix_child_del(struct ikd *d, struct tunnel *t, uint32_t spi);
struct tunnel *tix_child_find(struct ikd *d, uint32_t spi, size_t *ret_idx);
/* Does a Child SA of any tunnel hold spi (ours inbound or a peer's outbound)? */
bool tix_child_spi_used(const struct ikd *d, uint32_t spi);
int tix_extra_add(struct ikd *d, struct tunnel *t, const uint8_t spi[IKE_SPI_LEN]);
void tix_extra_del(struct ikd *d, struct tunnel *t, const uint8_t spi[IKE_SPI_LEN]);
struct tunnel *tix_extra_find(struct ikd *d, const uint8_t spi[IKE_SPI_LEN]);

/* tunnel.c: the IKE side */
/* The site of that name (an O(1) index over the database), or NULL. */
const struct site *ikd_site(struct ikd *d, const char *name);
/* The database changed (a control request): indexes and caches are rebuilt on next use. */
void ikd_sites_changed(struct ikd *d);
int ikd_tunnels_init(struct ikd *d);
void ikd_tunnels_clear(struct ikd *d);
void ikd_receive(struct ikd *d, struct net_sock *s, uint8_t *buf, size_t len,
		 const struct net_dgram *dg);
/*
 * Would ikd_receive() start a new IKE SA's Diffie-Hellman for this datagram now: a new
 * IKE_SA_INIT request (not a retransmission of one being answered) that gets no COOKIE round
 * (too few half-open SAs, or it carries a cookie)? The daemon answers everything else first
 * (IKE_AUTH, the established SAs' requests, COOKIE rounds), so that a storm of new handshakes
 * does not hold up the ones under way and the tunnels that are up.
 */
bool ikd_receive_costly(struct ikd *d, const uint8_t *buf, size_t len, const struct net_dgram *dg);
/*
 * An io.run_job job was run: its keys go to its half-open IKE SA, and the IKE_AUTH that came
 * meanwhile is answered; a job whose IKE SA is gone (timed out, the daemon stopping) is freed.
 */
void ikd_job_done(struct ikd *d, struct ike_init_job *job);
/*
 * A site was renamed (its record otherwise the same): its runtime record and its tunnels take
 * the new name; nothing is restarted.
 */
void ikd_site_renamed(struct ikd *d, const char *old_name, const char *new_name);
/* Bring the daemon's tunnels in line with the sites (start, stop, restart what changed). */
void ikd_apply_sites(struct ikd *d, const char *const *names, size_t n);
void ikd_apply_all(struct ikd *d);
/*
 * POPs were added, edited or deleted: each site's tunnel to such a POP is started, stopped or
 * rebuilt only if what it was built from changed (gateway, IKE identity, accepting), its probe
 * restarted only if the probe IP changed; every other tunnel keeps its SAs, and each site its
 * active POP and hold-down.
 */
void ikd_apply_pops(struct ikd *d, const char *const *names, size_t n);
/*
 * Stopping: ikd_stop_begin() sends the Deletes (some after the request out on their IKE SA is
 * answered) and returns how many tunnels wait for an answer; the daemon runs on until none is
 * left or it will wait no longer, then ikd_shutdown_tunnels() removes everything.
 */
size_t ikd_stop_begin(struct ikd *d);
void ikd_shutdown_tunnels(struct ikd *d);
void ikd_kernel_event(const struct xfrm_event *e, void *arg);
const char *tun_state_name(enum tun_state s);
/* The tunnels of a site (initiator: one per POP; responder: the peers that came in). */
size_t ikd_site_tunnels(struct ikd *d, const char *site, struct tunnel **ret, size_t max);
const char *ikd_site_status(struct ikd *d, const struct site *s, const char **ret_active);
/* How many sites are up, down and disabled, in one pass (for STATUS= and `status`). */
void ikd_status_counts(struct ikd *d, size_t *ret_up, size_t *ret_down, size_t *ret_disabled);

/* tunnel.c: an echo of t's probe came back. */
void tunnel_probe_answered(struct tunnel *t);

/* kernel.c: Child SAs and policies */
#define KERNEL_SA_IN	1u
#define KERNEL_SA_OUT	2u
int kernel_child_install(struct ikd *d, struct tunnel *t, const struct ike_child *c,
			 const struct site *s, unsigned which, char *err, size_t err_len);
void kernel_child_remove(struct ikd *d, struct tunnel *t, const struct child *c);
void kernel_child_stop_out(struct ikd *d, struct tunnel *t, const struct child *c);
/* The site's policies: out towards the active tunnel (or block), in/fwd from any POP. */
int kernel_site_policies(struct ikd *d, const struct site *s, const struct tunnel *active);
void kernel_site_policies_remove(struct ikd *d, const struct site *s);
/*
 * A site's record changed (old: what its policies were made from): the new record's
 * policies block until a tunnel is up, and only the old ones it no longer has are removed,
 * so marked traffic never finds no policy and leaves in clear.
 */
int kernel_site_policies_change(struct ikd *d, const struct site *old, const struct site *now);
/*
 * Responder: policies for one Child SA from its negotiated selectors, with s's keys (mark,
 * if_id); removed (s may be NULL) with the keys they went in with.
 */
int kernel_child_policies(struct ikd *d, struct tunnel *t, const struct child *c,
			  const struct site *s, bool remove);
/* t's probe policy: its echoes (by mark) to the probe IP through t's SA. */
int kernel_probe_policy(struct ikd *d, const struct tunnel *t, bool remove);
/* "192.0.2.0/24", "2001:db8::1" (a host) ... as an address and prefix length. */
int kernel_cidr_parse(const char *text, struct xfrm_addr *a, uint8_t *plen);
/* A socket address as the kernel's XFRM address (the port left out). */
void kernel_addr(const union net_addr *a, struct xfrm_addr *ret);
uint32_t kernel_reqid(struct ikd *d, const struct site *s);
/* A site was renamed: it keeps its reqid, so its SAs and policies stay its own. */
void kernel_reqid_rename(struct ikd *d, const char *old_name, const char *new_name);
void kernel_reqids_clear(struct ikd *d);
void tun_texts_clear(struct ikd *d);
/*
 * Texts tunnels share (site and POP names, error texts), counted: s held once however many
 * tunnels show it. "" is a constant; NULL only when out of memory. Put back what was got.
 */
const char *tun_text_get(struct ikd *d, const char *s);
void tun_text_put(struct ikd *d, const char *s);
/* A Child SA's kernel counters (zero when not installed or not readable). */
void ikd_child_counters(struct ikd *d, const struct tunnel *t, const struct child *c,
			struct xfrm_sa_stats *ret_in, struct xfrm_sa_stats *ret_out);

/* sa_list.c: `sa list`, every IKE SA with its Child SAs (ctl_runtime.sa_list) */
int ikd_sa_list(void *arg, struct ike_writer *w);
/* One tunnel's row of it, its Child SAs nested. */
int ikd_sa_row(struct ikd *d, struct tunnel *t, struct ike_writer *w);
/*
 * sites.c: `tunnel initiate|terminate|rekey SITE [POP]` (ctl_runtime.tunnel): a row per tunnel
 * acted on, as sa list has it.
 */
int ikd_tunnel_verb(void *arg, const char *action, const char *site, const char *pop, bool ike,
		    struct ike_writer *w, char *why, size_t why_len);

/* tunnel.c: up, through the io */
/* An event for `xfrmctl monitor` (failover, fallback, up, down, rekeys ...). */
void ikd_event(struct ikd *d, const char *site, const char *pop, const char *event,
	       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* A site's counter for `xfrmctl metrics`. */
void ikd_count(struct ikd *d, const char *site, enum ctl_sm what);
/* A handshake failed (site "" when the peer is not known yet). */
void ikd_count_failure(struct ikd *d, const char *site, enum ctl_hs_fail why);
enum ctl_hs_fail ikd_failure_of(uint16_t notify);

#endif
