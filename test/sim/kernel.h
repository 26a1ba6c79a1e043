/*
 * The simulator's kernel: one node's XFRM SA and policy tables, driven through the same five
 * operations as lib/xfrm (the socket replaced by the model), with the errors Linux gives for
 * the same requests, and a traffic model that answers "does this packet get through, and
 * how" at any instant.
 *
 * What it models (what ikd relies on):
 * - SAs by (dst, spi, proto) with the kernel's masked mark match; add, update (which, as in
 *   the kernel, keeps the installed keys), delete, get with counters; key material copied.
 * - Policies by (dir, selector, mark/mask, if_id); add, update (creates when missing),
 *   delete; lookup by priority, ties to the older, as xfrm_policy_lookup_bytype does.
 * - Output: the OUT policy, then the newest valid SA for its template (xfrm_state_find);
 *   input: the SA by SPI, a key check standing for the ICV, the IN (or FWD) policy check.
 *
 * What it leaves out:
 * - Lifetimes are not timed here: the world times them (simk_next_expiry, from the add times
 *   simk_set_time gives) or injects expiries (simk_sa_expire) and delivers the events itself;
 *   byte/packet limits are not enforced.
 * - Replay windows, ESN, sequence numbers, fragmentation, MTU, offload, per-CPU SAs, the
 *   default-policy sysctls (always "accept"), SPI allocation (XFRM_MSG_ALLOCSPI), ACQUIRE
 *   states (an outbound miss returns SIMK_NO_SA; no larval SA is created), socket policies.
 * - Packets carry no protocol or ports: a selector naming one never matches them. Packets
 *   have no mark on input (skb->mark 0), so an SA with a non-zero mark is not found inbound.
 * - A template with an unspecified source (tunnel mode) matches any SA source instead of the
 *   address routing would pick.
 * - Only ESP SAs (the model refuses other protocols with -EOPNOTSUPP).
 */
#ifndef IKD_TEST_SIM_KERNEL_H
#define IKD_TEST_SIM_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "xfrm/xfrm.h"

#define SIMK_KEY_MAX 128	/* bytes, as lib/xfrm's XFRM_KEY_MAX */
#define SIMK_ALG_NAME_MAX 64	/* as struct xfrm_algo's alg_name */

enum simk_op {
	SIMK_OP_SA_ADD,
	SIMK_OP_SA_DELETE,
	SIMK_OP_SA_GET,
	SIMK_OP_POLICY_ADD,
	SIMK_OP_POLICY_DELETE,
	SIMK_OP_MAX
};

/*
 * An installed SA. Read only for callers; a pointer stays valid until that SA is deleted
 * (its index shifts when an older one goes).
 */
struct simk_sa {
	struct xfrm_sa sa;		/* alg names and keys point into the copies below */
	uint64_t seq;			/* install order, larger is newer */
	uint32_t key_fp;		/* fingerprint of the suite and its keys */
	bool dying;			/* soft-expired: the kernel's km.dying */
	struct xfrm_sa_stats stats;
	uint64_t icv_failed;		/* packets refused by the key check */
	char names[3][SIMK_ALG_NAME_MAX];	/* encr, integ, aead */
	uint8_t keys[3][SIMK_KEY_MAX];
};

/* An installed policy. */
struct simk_policy {
	struct xfrm_policy p;
	uint64_t pos;			/* order among equal priorities, smaller is older */
};

struct simk;

/* NULL when out of memory. */
struct simk *simk_new(void);
void simk_free(struct simk *k);		/* NULL-safe; wipes the key copies */

/* Virtual wall clock (seconds) for the counters' add_time and use_time. */
void simk_set_time(struct simk *k, uint64_t now_s);

/* The five operations, as lib/xfrm's: 0 or -errno, err (optional) gets code and a reason. */
int simk_sa_add(struct simk *k, const struct xfrm_sa *sa, bool update, struct xfrm_err *err);
int simk_sa_delete(struct simk *k, const struct xfrm_addr *dst, uint32_t spi, uint8_t proto,
		   uint32_t mark, uint32_t mark_mask, struct xfrm_err *err);
int simk_sa_get(struct simk *k, const struct xfrm_addr *dst, uint32_t spi, uint8_t proto,
		uint32_t mark, uint32_t mark_mask, struct xfrm_sa_stats *ret, struct xfrm_err *err);
int simk_policy_add(struct simk *k, const struct xfrm_policy *p, bool update,
		    struct xfrm_err *err);
int simk_policy_delete(struct simk *k, const struct xfrm_policy *p, struct xfrm_err *err);

/*
 * An expiry injected by the simulator: soft marks the SA dying (output prefers any other
 * valid SA), hard deletes it, as the kernel's timer does. -ESRCH when missing.
 */
int simk_sa_expire(struct simk *k, const struct xfrm_addr *dst, uint32_t spi, uint8_t proto,
		   uint32_t mark, uint32_t mark_mask, bool hard);

/*
 * Fault injection: the next count calls of op fail with -errno_value (either sign accepted)
 * and leave the tables untouched. A later call replaces what is left of an earlier one;
 * errno_value 0 cancels.
 */
void simk_fail_next(struct simk *k, enum simk_op op, int errno_value, unsigned int count);
/* Calls of op so far, failed ones included. */
uint64_t simk_calls(const struct simk *k, enum simk_op op);

/* The tables, in install order (index 0 oldest), for invariants. */
/*
 * The next lifetime event of k's SAs, as the kernel's timer would raise it: add time plus the
 * soft seconds (an SA not yet dying) or the hard ones. Its time in seconds, the SA's index
 * and which; UINT64_MAX when no SA has a lifetime. (simk_set_time gives the add times.)
 */
uint64_t simk_next_expiry(const struct simk *k, size_t *ret_i, bool *ret_hard);
size_t simk_sa_count(const struct simk *k);
const struct simk_sa *simk_sa_at(const struct simk *k, size_t i);
/*
 * The SA a get would find (the newest of those matching), NULL if none; not counted as a
 * call and not subject to injected faults: for invariants ("both ends hold the same keys").
 */
const struct simk_sa *simk_sa_lookup(const struct simk *k, const struct xfrm_addr *dst,
				     uint32_t spi, uint8_t proto, uint32_t mark,
				     uint32_t mark_mask);
size_t simk_policy_count(const struct simk *k);
const struct simk_policy *simk_policy_at(const struct simk *k, size_t i);
/* One line per SA and policy, no key bytes (a fingerprint). */
void simk_dump(const struct simk *k, FILE *f);

/* An ESP packet on the wire, as the sender's output made it. */
struct simk_esp {
	struct xfrm_addr src, dst;	/* outer */
	uint32_t spi;
	uint8_t proto;
	uint32_t reqid;			/* the sender's SA's, for traces */
	uint32_t key_fp;		/* the sender's SA's keys: the receiver's must be equal */
	uint32_t len;			/* inner packet bytes */
};

enum simk_out {
	SIMK_CLEAR,		/* no policy (or one without templates): leaves unencrypted */
	SIMK_BLOCK,		/* a block policy drops it */
	SIMK_NO_SA,		/* a template found no SA: dropped, an acquire would go out */
	SIMK_ESP,		/* encrypted: ret filled */
};

enum simk_in {
	SIMK_IN_OK,
	SIMK_IN_NO_SA,		/* no SA for (outer dst, spi, proto) */
	SIMK_IN_BAD_ICV,	/* the SA's keys differ from the sender's */
	SIMK_IN_POLICY_DROP,	/* decrypted, then refused by the policy check */
};

/*
 * A packet of len bytes from inner src to inner dst, with skb mark and the if_id of the xfrm
 * interface it is routed through (0: none). On SIMK_ESP the chosen SA's counters advance.
 */
enum simk_out simk_output(struct simk *k, const struct xfrm_addr *src,
			  const struct xfrm_addr *dst, uint32_t mark, uint32_t if_id,
			  uint32_t len, struct simk_esp *ret);
/*
 * The same for a packet of IP protocol proto: a selector that names a protocol matches it
 * (simk_output's packets have none: such selectors never match them). Ports stay unmodelled.
 */
enum simk_out simk_output_proto(struct simk *k, const struct xfrm_addr *src,
				const struct xfrm_addr *dst, uint8_t proto, uint32_t mark,
				uint32_t if_id, uint32_t len, struct simk_esp *ret);

/*
 * The receiver's side of pkt carrying inner src -> dst: for local delivery (IN policies) or
 * forwarding (FWD policies). ret_why (optional): a static sentence for traces.
 */
enum simk_in simk_input(struct simk *k, const struct simk_esp *pkt, const struct xfrm_addr *src,
			const struct xfrm_addr *dst, const char **ret_why);
enum simk_in simk_input_fwd(struct simk *k, const struct simk_esp *pkt,
			    const struct xfrm_addr *src, const struct xfrm_addr *dst,
			    const char **ret_why);
/*
 * A packet arriving unencrypted, checked against dir's (IN or FWD) policies: SIMK_IN_OK when
 * no policy matches or every template of the matching one is optional, else POLICY_DROP.
 */
enum simk_in simk_input_clear(struct simk *k, uint8_t dir, const struct xfrm_addr *src,
			      const struct xfrm_addr *dst, uint32_t mark, uint32_t if_id,
			      const char **ret_why);

const char *simk_out_name(enum simk_out v);
const char *simk_in_name(enum simk_in v);

#endif
