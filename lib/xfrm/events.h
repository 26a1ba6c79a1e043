/*
 * Kernel XFRM events on their own socket: SA expiry (soft: rekey now; hard: the SA is gone),
 * ACQUIRE (traffic hit a policy with no SA), MAPPING (the NAT in front of a peer changed its
 * port), policy expiry. The daemon polls events_fd() in its loop.
 */
#ifndef IKD_XFRM_EVENTS_H
#define IKD_XFRM_EVENTS_H

#include "xfrm/xfrm.h"

enum xfrm_event_type {
	XFRM_EVENT_EXPIRE,		/* an SA's lifetime ran out (soft or hard) */
	XFRM_EVENT_ACQUIRE,
	XFRM_EVENT_MAPPING,
	XFRM_EVENT_POLEXPIRE,
};

struct xfrm_event {
	enum xfrm_event_type type;
	bool hard;			/* EXPIRE, POLEXPIRE */
	struct xfrm_addr src, dst;	/* EXPIRE: the SA; ACQUIRE: the template's endpoints */
	uint32_t spi;			/* EXPIRE, MAPPING (host order) */
	struct xfrm_sa_stats stats;	/* EXPIRE: what the SA carried (bytes, packets, times) */
	uint8_t proto;
	uint32_t reqid;
	uint32_t mark, mark_mask;	/* XFRMA_MARK when the kernel sent one */
	struct xfrm_sel sel;		/* ACQUIRE, POLEXPIRE: the policy's selector */
	uint8_t dir;			/* POLEXPIRE */
	struct xfrm_addr old_addr, new_addr;	/* MAPPING: the peer's address and port before/after */
	uint16_t old_port, new_port;
};

struct xfrm_events {
	struct mnl_socket *nl;
	uint8_t *buf;
	size_t buf_len;
};

/* Open a socket subscribed to the EXPIRE, ACQUIRE and MAPPING groups (non-blocking). */
int xfrm_events_open(struct xfrm_events *ev);
void xfrm_events_close(struct xfrm_events *ev);
int xfrm_events_fd(const struct xfrm_events *ev);

typedef void (*xfrm_event_fn)(const struct xfrm_event *e, void *arg);
/*
 * Read what is queued (-EAGAIN when nothing is) and call fn for each event. Messages that are
 * not events we know are skipped; a malformed one is -EBADMSG after the good ones before it.
 * -ENOBUFS means the kernel dropped events (socket buffer overrun): the caller must resync.
 */
int xfrm_events_read(struct xfrm_events *ev, xfrm_event_fn fn, void *arg);

/* Parse one netlink message of len bytes: 0, -ENOENT (not an event), -EBADMSG. */
int xfrm_event_parse(const void *buf, size_t len, struct xfrm_event *ret);

#endif
