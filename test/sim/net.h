/*
 * The simulated network: nodes with addresses, IKE datagrams in flight ordered by delivery
 * time, seeded faults per directed link (Gilbert-Elliott loss, duplication, delay, jitter,
 * reordering), partitions, and a NAT in front of a node. No sockets and no clock: time is
 * the now_ms the caller passes, every fault is drawn from the net's own random streams, so
 * the same seed and the same calls give the same deliveries, byte for byte.
 */
#ifndef IKD_SIM_NET_H
#define IKD_SIM_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "addr.h"
#include "rng.h"

#define SIMNET_ALL UINT32_MAX		/* every node: simnet_link_set, simnet_partition */
#define SIMNET_ADDRS_MAX 4		/* addresses per node */
#define SIMNET_NAME_MAX 16		/* node name, with its NUL */
#define SIMNET_TRACE_LEN 256		/* events kept for simnet_dump_recent */
#define SIMNET_DGRAM_MAX 65535		/* UDP payload */
#define SIMNET_PPM 1000000u		/* probabilities are parts per million */
#define SIMNET_NAT_PORT_FIRST 40000	/* a NAT's first mapped port */

/*
 * One directed link's behaviour, per datagram. Loss follows a Gilbert-Elliott chain: before
 * each datagram the link moves good->bad with good_to_bad_ppm (bad->good with bad_to_good_ppm),
 * then loses it with the state's loss_*_ppm; independent loss is good_to_bad_ppm = 0. A kept
 * datagram is duplicated with dup_ppm. Each copy arrives after delay_ms plus a uniform
 * [0, jitter_ms] (so jitter reorders), plus reorder_ms more with reorder_ppm.
 */
struct simnet_link_conf {
	uint32_t delay_ms;
	uint32_t jitter_ms;
	uint32_t loss_good_ppm;
	uint32_t loss_bad_ppm;
	uint32_t good_to_bad_ppm;
	uint32_t bad_to_good_ppm;
	uint32_t dup_ppm;
	uint32_t reorder_ppm;
	uint32_t reorder_ms;
};

/* A link's counters: each datagram sent is then delivered, lost, cut or NAT-dropped. */
struct simnet_link_stats {
	uint64_t sent;		/* by the sender, once however many copies */
	uint64_t delivered;	/* copies handed to the receiver */
	uint64_t lost;
	uint64_t duplicated;	/* extra copies made */
	uint64_t cut;		/* copies dropped by a partition, at send or at delivery */
	uint64_t nat_dropped;	/* copies the receiver's NAT had no mapping for */
};

enum simnet_event_kind {
	SIMNET_EV_SENT,
	SIMNET_EV_DELIVERED,
	SIMNET_EV_LOST,
	SIMNET_EV_DUPLICATED,
	SIMNET_EV_CUT,
	SIMNET_EV_NAT_DROPPED,
	SIMNET_EV_UNROUTABLE,	/* no node has the destination address */
};

struct simnet_event {
	uint64_t at_ms;
	enum simnet_event_kind kind;
	uint32_t from_node, to_node;	/* to_node SIMNET_ALL when unroutable */
	/*
	 * On the wire: src after the sender's NAT, dst before the receiver's (DELIVERED: dst as
	 * the receiver sees it).
	 */
	struct simnet_addr src, dst;
	uint32_t len;
	uint64_t id;			/* the datagram's number (a copy has its own) */
};

/* A delivered datagram, as the receiving node sees it. */
struct simnet_dgram {
	uint64_t at_ms;			/* its arrival */
	uint32_t node;			/* the receiver */
	uint32_t from_node;		/* the sender, for traces (a receiver only sees src) */
	struct simnet_addr src;		/* after the sender's NAT */
	struct simnet_addr dst;		/* after the receiver's NAT: one of the node's own */
	uint8_t *buf;			/* owned by the datagram: simnet_dgram_clear() */
	size_t len;
	uint64_t id;
};

struct simnet;

/*
 * A network whose faults draw from a stream split off r (r advances by one draw). Links
 * start with delay_ms 10 and no faults. NULL when out of memory.
 */
struct simnet *simnet_new(struct simr *r);
void simnet_free(struct simnet *net);

/*
 * A node with n addresses (ports ignored), n in 1..SIMNET_ADDRS_MAX. Returns its id (0, 1,
 * ... in order) or -EINVAL, -EEXIST when another node or NAT has one of the addresses, -ENOMEM.
 * Its links get their own random streams, derived from the net's stream and the pair of ids,
 * so nodes added later or traffic on other links never shift a link's draws.
 */
int simnet_node_add(struct simnet *net, const char *name, const struct simnet_addr *addrs,
		    size_t n);
const char *simnet_node_name(const struct simnet *net, uint32_t node);
size_t simnet_node_count(const struct simnet *net);
/* The node a datagram to addr would reach (a NAT's public address: the node behind it). */
int simnet_node_of(const struct simnet *net, const struct simnet_addr *addr);

/*
 * Set the link from -> to; either may be SIMNET_ALL, and (SIMNET_ALL, SIMNET_ALL) also
 * becomes the default for nodes added later. Takes effect for datagrams sent from now on; a
 * link's loss state (good or bad) stays. 0, or -ENOENT for an unknown node.
 */
int simnet_link_set(struct simnet *net, uint32_t from, uint32_t to,
		    const struct simnet_link_conf *conf);
int simnet_link_get(const struct simnet *net, uint32_t from, uint32_t to,
		    struct simnet_link_conf *ret);
int simnet_link_stats(const struct simnet *net, uint32_t from, uint32_t to,
		      struct simnet_link_stats *ret);
/* Datagrams sent to an address no node has. */
uint64_t simnet_unroutable(const struct simnet *net);

/*
 * Cut (cut true) or heal both directions between a and b; b SIMNET_ALL: between a and every
 * other node; both SIMNET_ALL: everything. A datagram sent across a cut is dropped at once, one
 * in flight when its link is cut at delivery time is dropped then. 0 or -ENOENT.
 */
int simnet_partition(struct simnet *net, uint32_t a, uint32_t b, bool cut);

/*
 * Put node behind a NAT with public_addr (port ignored), for datagrams of that address
 * family (the node's other family is not translated). Each (private address, private port)
 * the node sends from gets a mapping to a public port, allocated in order from
 * SIMNET_NAT_PORT_FIRST up to 65535 and round again, skipping ports in use (or in the range of
 * simnet_nat_set_ports); the source becomes public_addr:port. A datagram to the public
 * address reaches the node only through a live mapping (endpoint-independent filtering, RFC
 * 4787 §5), else it is NAT-dropped. The node's own addresses of that family become
 * unreachable from other nodes. 0, -ENOENT, -EINVAL (family), -EEXIST (address taken),
 * -EALREADY (already behind a NAT).
 */
int simnet_nat(struct simnet *net, uint32_t node, const struct simnet_addr *public_addr);
/* The NAT loses its state: every mapping is gone; new ones get new ports. */
int simnet_nat_rebind_port(struct simnet *net, uint32_t node);
/* The NAT's public address moves: old mappings die with it, new ones get new ports. */
int simnet_nat_change_address(struct simnet *net, uint32_t node,
			      const struct simnet_addr *new_public);
/*
 * Mappings idle (no datagram either way) for idle_ms or longer expire; 0, the default,
 * never. Measured in the virtual time of the sends and deliveries.
 */
int simnet_nat_set_idle_ms(struct simnet *net, uint32_t node, uint64_t idle_ms);
/*
 * Map to ports first..last only (a carrier-grade NAT's port block), the next from first;
 * mappings already made stay. 0, -ENOENT, -EINVAL.
 */
int simnet_nat_set_ports(struct simnet *net, uint32_t node, uint16_t first, uint16_t last);
/* The public address:port node's (private address:port) is mapped to now: 0 or -ENOENT. */
int simnet_nat_mapping(const struct simnet *net, uint32_t node, const struct simnet_addr *priv,
		       uint64_t now_ms, struct simnet_addr *ret);

/*
 * Send len bytes (copied) at now_ms from one of a node's addresses (with port) to `to`.
 * Returns 0 once the network took it, whatever then happens to it (as a UDP send would),
 * -EADDRNOTAVAIL when no node has `from`, -EINVAL for mixed families, -EMSGSIZE, -ENOSPC when
 * the sender's NAT has no port left, -ENOMEM.
 */
int simnet_send(struct simnet *net, uint64_t now_ms, const struct simnet_addr *from,
		const struct simnet_addr *to, const uint8_t *buf, size_t len);
/* The earliest arrival in flight, UINT64_MAX when nothing is. */
uint64_t simnet_next_ms(const struct simnet *net);
size_t simnet_in_flight(const struct simnet *net);
/*
 * The next datagram due by now_ms (arrival, then send order), dropping on the way those a
 * partition or NAT stops at their arrival. Returns 1 with *ret filled, 0 when none is due,
 * -errno. Pop what is due before changing the network at a later time: a datagram's fate is
 * decided by the network as it is when popped.
 */
int simnet_pop(struct simnet *net, uint64_t now_ms, struct simnet_dgram *ret);
void simnet_dgram_clear(struct simnet_dgram *d);

/* Every event as it happens, for a simulator-wide trace; fn NULL to stop. */
void simnet_set_observer(struct simnet *net,
			 void (*fn)(const struct simnet_event *ev, void *arg), void *arg);
/* "  12.345 sent     branch 10.0.0.2:500 -> fra1 192.0.2.1:500 len 312 #7" into buf. */
const char *simnet_event_str(const struct simnet *net, const struct simnet_event *ev, char *buf,
			     size_t len);
/* The last SIMNET_TRACE_LEN events, oldest first, one a line. */
void simnet_dump_recent(const struct simnet *net, FILE *f);

#endif
