/*
 * The lifecycle's tunnels, shared between the files that own their parts: tunnel.c (a tunnel's
 * life, its timers and its configuration from a site), initiator.c (handshakes towards a POP,
 * the probe's glue), responder.c (handshakes from a site), child.c (Child SAs, our requests,
 * kernel events), rekey.c (what arrives on an established IKE SA: rekeys and their
 * collisions, the SAs kept beside the current one) and sites.c (which POP carries a site's
 * traffic, status, applying changes); kernel.c (Child SAs and policies as lib/xfrm requests),
 * index.c (the lookups), sa_list.c (their rows for `sa list`). Internal to lib/tunnel.
 */
#ifndef TUNNEL_TUNNEL_INT_H
#define TUNNEL_TUNNEL_INT_H

#include <stddef.h>

#include "tunnel/tunnel.h"

/*
 * The lifecycle's log lines, through d->io (tunnel.c), at the daemon's log level. The
 * arguments are evaluated whatever the level (some fill a buffer used after the line), but
 * for debug lines, which cost nothing unless asked for.
 */
void tun_logf(struct ikd *d, int priority, bool from_peer, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
#define tlog_enabled(d, prio)	((prio) <= (d)->conf.log_level)
#define tlog_err(d, ...)	tun_logf(d, LOG_ERR, false, __VA_ARGS__)
#define tlog_warn(d, ...)	tun_logf(d, LOG_WARNING, false, __VA_ARGS__)
#define tlog_notice(d, ...)	tun_logf(d, LOG_NOTICE, false, __VA_ARGS__)
#define tlog_info(d, ...)	tun_logf(d, LOG_INFO, false, __VA_ARGS__)
#define tlog_debug(d, ...)	do { if (tlog_enabled(d, LOG_DEBUG)) \
					tun_logf(d, LOG_DEBUG, false, __VA_ARGS__); } while (0)
/* A line a remote peer can cause (the daemon rate limits them). */
#define peer_log(d, prio, ...)	tun_logf(d, prio, true, __VA_ARGS__)

/*
 * The IKE_SA_INIT or IKE_AUTH message kept for retransmission goes once it cannot be asked
 * for again: the initiator's when the SA is up; the responder's IKE_AUTH answer when the
 * peer shows it has it (any message on the SA) or after PENDING_KEEP_MS.
 */
#define PENDING_KEEP_MS 60000

#define HANDSHAKE_RETX_MAX_MS 2000

#define REKEY_TICK_MS 2000	/* the tick's pace while something due waits its turn */

/* A rekey our kernel refused the new SA of is tried again after this (and up to 5 s more). */
#define REKEY_RETRY_S 10

/* How long a rekey's collision state is kept after its last message (§2.8.1: a round trip). */
#define SETTLE_MS 30000

/* tunnel.c */
const uint8_t *tun_sa_spi_ours(const struct ike_sa *sa);
struct tunnel *tunnel_new(struct ikd *d, bool initiator, const char *site, const char *pop);
void tun_pending_release(struct tunnel *t);
/* The tunnel's tick (rekeys, lifetimes, windows) from now on, at the next time one is due. */
void tun_tick_start(struct tunnel *t);
/* Something of t's is due at at_ms (a rekey, a window's end): the tick runs by then. */
void tun_wake(struct tunnel *t, uint64_t at_ms);
/*
 * A handshake's state (t->init is its st): lib/ike's, and the responder's derive while a job
 * makes its keys (io.run_job) with the IKE_AUTH datagrams that came before they were ready.
 */
#define TUN_HELD_MAX 8	/* an IKE_AUTH's fragments (RFC 7383) held; more are dropped */
struct tun_held {
	struct tun_held *next;
	struct net_sock *sock;
	struct net_dgram dg;
	size_t len;
	uint8_t buf[];
};
struct tun_init {
	struct ike_init st;
	struct ike_init_job *job;	/* the keys being made: IKE_AUTH waits */
	struct tun_held *held;		/* that IKE_AUTH, in the order it came */
	uint8_t n_held;
};
static inline struct tun_init *tun_init_of(const struct tunnel *t)
{
	return (struct tun_init *)((char *)t->init - offsetof(struct tun_init, st));
}
static inline bool tun_keys_pending(const struct tunnel *t)
{
	return t->init && tun_init_of(t)->job;
}
struct ike_init *tun_init_new(struct tunnel *t);
void tun_init_drop(struct tunnel *t);
void tun_child_unlist(struct tunnel *t, size_t i);
void tunnel_error(struct tunnel *t, const char *why);
void tunnel_reset(struct tunnel *t);
void tunnel_free(struct tunnel *t);
void tun_send_msg(struct tunnel *t, const struct ike_writer *w);
void tun_send_reply(struct tunnel *t, struct net_sock *ns, const struct net_dgram *dg,
		    const struct ike_writer *w);
void tun_arm_retx(struct tunnel *t);
const char *tun_peer_str(const struct tunnel *t, char *buf, size_t len);
void tunnel_down(struct tunnel *t, const char *why);
void tun_farewell(struct tunnel *t);
uint32_t tun_dpd_interval(const struct tunnel *t, const struct site *s);
uint64_t tun_peer_window_ms(const struct tunnel *t);
void tun_heard(struct tunnel *t);
int tun_id_from_text(uint8_t type, const char *text, uint8_t *buf, size_t cap,
		     struct ike_pld_id *ret);
int tun_id_infer(const char *text, uint8_t *buf, size_t cap, struct ike_pld_id *ret);
int tun_child_cfg_of(const struct tunnel *t, const struct site *s, struct ike_child_cfg *ret);
int tunnel_config(struct tunnel *t, const struct site *s);
void tun_endpoint_of(const union net_addr *a, struct ike_endpoint *ret);
void tun_set_port(union net_addr *a, uint16_t port);
struct net_sock *tun_sock_for(struct ikd *d, int family, bool natt);
/* initiator.c */
uint64_t tun_pop_hash(const struct pop *p, bool probe);
void tun_initiator_start(struct tunnel *t);
void tun_reconnect_fire(struct timer *tm);
uint64_t tun_rekey_deadline(struct ikd *d, const struct site *s, bool ike);
bool tun_child_record(struct tunnel *t, const struct ike_child *c);
/*
 * A new inbound ESP SPI: 0xc0000000 and 30 random bits, none that a Child SA holds. The
 * kernel keys inbound SAs by destination and SPI, and a gateway's sites all send to its one
 * address: at 100,000 Child SAs a draw that ignored them would hit one in use once in 10,000
 * (each a Child SA or rekey the kernel refuses with EEXIST). TUN_SPI_TRIES draws at most.
 */
#define TUN_SPI_TRIES 8
uint32_t tun_new_spi(struct ikd *d);
void tun_probe_begin(struct tunnel *t, const struct site *s);
void tun_probe_tick(struct tunnel *t, const struct site *s);
void tun_child_retry_later(struct tunnel *t);
void tun_child_first(struct tunnel *t);
void tunnel_established(struct tunnel *t, struct ike_child *c, bool have_child,
			bool installed);
void tun_on_init_response(struct tunnel *t, uint8_t *buf, size_t len);
void tun_on_auth_response(struct tunnel *t, uint8_t *buf, size_t len);
/* responder.c */
/* rekey.c: ikd_receive() but for the count (a datagram held, taken again) */
void tun_receive(struct ikd *d, struct net_sock *ns, uint8_t *buf, size_t len,
		 const struct net_dgram *dg);
/* An IKE_AUTH request for the half-open t: answered, or held while its keys are made. */
void tun_on_auth_arrival(struct tunnel *t, struct net_sock *ns, uint8_t *buf, size_t len,
			 const struct net_dgram *dg);
void tun_on_init_request(struct ikd *d, struct net_sock *ns, uint8_t *buf, size_t len,
			 const struct ike_header *h, const struct net_dgram *dg);
void tun_half_fire(struct timer *tm);
void tun_on_auth_request(struct tunnel *t, uint8_t *buf, size_t len);
/* child.c */
uint32_t tun_spi_map(void *arg, uint32_t peer_spi);
bool tun_same_ts(const struct child *a, const struct child *b);
void tun_child_forget(struct tunnel *t, uint32_t spi, bool by_in);
struct child *tun_child_by_in(struct tunnel *t, uint32_t spi_in);
bool tun_may_rekey(const struct tunnel *t, const struct child *c);
bool tun_child_replaced(const struct tunnel *t, const struct child *c);
void tun_pend_install(struct tunnel *t, size_t i);
void tun_pend_drop(struct tunnel *t, size_t i);
int tun_child_install_new(struct tunnel *t, const struct ike_child *c, uint32_t old_spi_in,
			  char *err, size_t err_len);
void tun_child_hold_out(struct tunnel *t, struct ike_child *c, uint32_t old_spi_in);
bool tun_child_add(struct tunnel *t, struct ike_child *c);
int tun_cc_install(void *arg, const struct ike_child *c, uint32_t old_spi_in);
bool tun_enqueue(struct tunnel *t, uint8_t kind, uint32_t spi);
const char *tun_req_name(uint8_t kind);
void tun_log_received(const struct tunnel *t, const char *which, const uint8_t *buf, size_t len,
		      enum ike_sa_event ev);
void tun_dequeue(struct tunnel *t, uint8_t kind, uint32_t spi);
void tun_kick(struct tunnel *t);
void tun_answered(struct tunnel *t);
/* rekey.c */
struct extra_sa *tun_extra_add(struct tunnel *t, struct ike_sa *sa, bool ours_to_delete,
			       bool peer_new);
/*
 * t's IKE SA is new_sa from now on (taken: *new_sa is emptied); the old one must have been
 * taken out. rekey: counted as an IKE SA rekey.
 */
void tun_ike_switch(struct tunnel *t, struct ike_sa *new_sa, bool rekey);
/* An edge router answers its POP: is there an established tunnel to that address? */
bool tun_reauth_possible(struct ikd *d, const union net_addr *from);
void tun_extras_fire(struct timer *tm);
/* t_rekey's: the rekeys that are due, and the IKE SA's hard lifetime. */
void tun_rekey_fire(struct timer *tm);
/* What only a rekey needs goes when no rekey needs it. */
void tunnel_trim(struct tunnel *t);
void tun_peer_moved(struct tunnel *t);
/* sites.c */
bool tun_established(const struct tunnel *t);
struct tunnel *tun_site_active_tunnel(struct ikd *d, const struct site *s);
void tun_site_reevaluate(struct ikd *d, const struct site *s);

/* A name's 32-bit FNV-1a: the sites' runtime records, the reqids and the shared texts. */
static inline uint32_t tun_name_hash(const char *name)
{
	uint32_t h = 2166136261u;

	for (; *name; name++)
		h = (h ^ (uint8_t)*name) * 16777619u;
	return h;
}

#endif
