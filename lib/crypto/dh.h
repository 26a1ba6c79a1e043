/*
 * Diffie-Hellman for KE payloads: MODP (RFC 3526), ECP (RFC 5903) and Curve25519 (RFC 8031).
 * Public values have the fixed length of their group (crypto_dh_group.pub_len); a peer's value
 * is validated before use (MODP 1 < y < p-1 as RFC 6989 asks for safe primes; ECP on the curve;
 * X25519 a non-zero result) and a bad one is -EINVAL.
 */
#ifndef IKD_CRYPTO_DH_H
#define IKD_CRYPTO_DH_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/registry.h"
#include "crypto/secret.h"

struct crypto_dh;

/*
 * A fresh key pair for IANA group id: -EOPNOTSUPP for an unknown group. One made ahead by the
 * pool's workers when there is one (below), else made here and now (with a pool, X25519's a
 * batch at a time: the others go to the pool for the next callers).
 */
int crypto_dh_new(uint16_t group, struct crypto_dh **ret);
/* A key pair made here and now, on the caller's thread. */
int crypto_dh_generate(uint16_t group, struct crypto_dh **ret);
/*
 * n pairs (1 <= n <= CRYPTO_DH_BATCH_MAX) into ret[0 .. n-1], all or none (-errno); for X25519
 * a batch costs less per pair than one at a time (x25519.c).
 */
#define CRYPTO_DH_BATCH_MAX 16
int crypto_dh_generate_n(uint16_t group, size_t n, struct crypto_dh **ret);

/*
 * Key pairs made ahead by worker threads (dh_pool.c), so that a responder's thread, which
 * runs every state machine, spends its time on the rest of a handshake and the DH key
 * generation runs on the other cores. Each pair is handed out once and freed (wiped) by its
 * user as before. The workers keep up to depth pairs of each group crypto_dh_new() was asked
 * for in the last minute, none of a group asked for no more; they fill a ring to depth and
 * are woken again when it is down to half. Not started (the default, and
 * the simulator's), crypto_dh_new() makes every pair itself.
 */
int crypto_dh_pool_start(unsigned workers, unsigned depth);	/* -EALREADY, -errno */
/*
 * X25519 pairs a worker makes at once (crypto_dh_generate_n: they cost less in a batch);
 * work submitted meanwhile waits for the batch, about 0.1 ms. Other groups' one at a time.
 */
#define CRYPTO_DH_POOL_BATCH 8
void crypto_dh_pool_stop(void);	/* joins the workers, frees what they made */

struct crypto_dh_pool_stats {
	unsigned workers;
	uint64_t ahead;		/* pairs crypto_dh_new() took from the pool */
	uint64_t made_here;	/* pairs it made itself, the pool having none of that group */
	uint64_t wakeups;	/* times it woke a sleeping worker */
	uint64_t work;		/* work submitted (crypto_dh_pool_submit) */
	uint64_t work_busy;	/* work refused, the queue full (-EBUSY) */
	unsigned ready;		/* pairs made ahead and not taken yet */
};
void crypto_dh_pool_stats(struct crypto_dh_pool_stats *ret);
/* Pairs of group made ahead and not taken yet. */
unsigned crypto_dh_pool_ready(uint16_t group);

/*
 * Work for the pool's workers besides the key pairs: a responder's derive (g^ir and the keys
 * after it, lib/ike's struct ike_init_job), run before any pair is made ahead, then handed
 * back to the submitting thread through crypto_dh_pool_done(). Embedded in its owner.
 */
struct crypto_work {
	void (*run)(struct crypto_work *w);	/* on a worker */
	struct crypto_work *next;
};
/*
 * Queued for a worker; -EAGAIN when none runs, -EBUSY when CRYPTO_DH_POOL_QUEUE_MAX a
 * worker wait already (the caller runs it itself: the workers are behind, and a thread
 * that helps them keeps the wait for each bounded).
 */
#define CRYPTO_DH_POOL_QUEUE_MAX 32
int crypto_dh_pool_submit(struct crypto_work *w);
/*
 * The work run since the last call, in the order it was submitted, as a list through next
 * (NULL: none). After crypto_dh_pool_stop() it holds what was queued too, run by the stop.
 */
struct crypto_work *crypto_dh_pool_done(void);
/*
 * Readable while done work waits to be taken (an eventfd, for the submitting thread's
 * epoll); -1 while the pool is not running.
 */
int crypto_dh_pool_fd(void);
/* A key pair from a known private value (big-endian; 32 bytes for X25519): for known-answer tests. */
int crypto_dh_new_from_private(uint16_t group, const uint8_t *priv, size_t priv_len,
			       struct crypto_dh **ret);
void crypto_dh_free(struct crypto_dh *dh);

const struct crypto_dh_group *crypto_dh_group_of(const struct crypto_dh *dh);
/* Our public value, pub_len bytes, owned by dh. */
const uint8_t *crypto_dh_public(const struct crypto_dh *dh);
/*
 * The checks crypto_dh_derive() makes of a peer's value, without the derive: its length, the
 * MODP range, an ECP point on the curve. An X25519 value passes: only the derive can tell a
 * low-order point (its result is zero).
 */
int crypto_dh_check_peer(const struct crypto_dh *dh, const uint8_t *peer, size_t peer_len);
/* The shared secret g^ir, shared_len bytes (MODP left-padded to the prime length, ECP x). */
int crypto_dh_derive(const struct crypto_dh *dh, const uint8_t *peer, size_t peer_len,
		     struct secret *ret_shared);

#endif
