/*
 * The datagrams whose handling waits: new IKE SAs' IKE_SA_INIT requests, each a Diffie-Hellman
 * (ikd_receive_costly()), held in arrival order while everything cheaper is answered first.
 * Bounded in bytes; a full queue refuses (the peer sends again), so that the established SAs'
 * messages behind a storm are still read from the socket.
 */
#ifndef IKD_RXQ_H
#define IKD_RXQ_H

#include <stddef.h>
#include <stdint.h>

#include "tunnel/addr.h"

struct rxq_item {
	struct rxq_item *next;
	struct net_sock *sock;		/* the socket it came in on (the daemon's, never closed) */
	struct net_dgram dg;
	size_t len;
	uint8_t buf[];
};

struct rxq {
	struct rxq_item *head, *tail;
	size_t n, bytes, max_bytes;	/* bytes: the datagrams' own lengths */
	uint64_t refused;		/* pushed while full */
};

void rxq_init(struct rxq *q, size_t max_bytes);
/* Copy one datagram to the tail: 0, -ENOBUFS when it would pass max_bytes, -ENOMEM. */
int rxq_push(struct rxq *q, struct net_sock *sock, const uint8_t *buf, size_t len,
	     const struct net_dgram *dg);
/* The head, taken off the queue (free() it), or NULL. */
struct rxq_item *rxq_pop(struct rxq *q);
void rxq_clear(struct rxq *q);

#endif
