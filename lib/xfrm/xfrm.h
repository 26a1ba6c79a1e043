/*
 * The kernel side: XFRM SAs and policies over NETLINK_XFRM (libmnl). No I/O besides the
 * netlink socket the caller opens; errors are the kernel's -errno with its extended-ack
 * message when it gives one. Several requests can go in one sendmsg (a batch) with every
 * ACK matched back to its request.
 */
#ifndef IKD_XFRM_H
#define IKD_XFRM_H

#include <linux/xfrm.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mnl_socket;

/* The kernel's reason for the last failure, when it said one (extack). */
struct xfrm_err {
	int code;		/* -errno */
	char msg[160];
};

struct xfrm_sock {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
	uint8_t *buf;		/* request and receive buffer */
	size_t buf_len;
};

int xfrm_open(struct xfrm_sock *s);
void xfrm_close(struct xfrm_sock *s);

/* An address of either family, as the kernel's xfrm_address_t. */
struct xfrm_addr {
	uint16_t family;	/* AF_INET or AF_INET6 */
	xfrm_address_t a;
};

int xfrm_addr_parse(const char *text, struct xfrm_addr *ret);

struct xfrm_alg {
	const char *name;	/* kernel name: "cbc(aes)", "hmac(sha256)", "rfc4106(gcm(aes))" */
	const uint8_t *key;	/* for AEAD: key | salt */
	size_t key_len;
	unsigned int trunc_bits;	/* INTEG: ICV length; AEAD: ICV length */
};

struct xfrm_lifetime {
	uint64_t soft_bytes, hard_bytes;	/* 0 = unlimited */
	uint64_t soft_packets, hard_packets;
	uint64_t soft_add_s, hard_add_s;
};

struct xfrm_sa {
	struct xfrm_addr src, dst;
	uint32_t spi;			/* host order */
	uint8_t proto;			/* IPPROTO_ESP */
	uint8_t mode;			/* XFRM_MODE_TUNNEL or XFRM_MODE_TRANSPORT */
	uint32_t reqid;
	struct xfrm_alg encr;		/* name NULL when aead is set */
	struct xfrm_alg integ;		/* name NULL for AEAD */
	struct xfrm_alg aead;
	uint32_t replay_window;		/* packets; 0 = replay protection off */
	bool esn;
	uint32_t mark, mark_mask;	/* XFRMA_MARK when mark_mask != 0 */
	uint32_t if_id;			/* XFRMA_IF_ID when != 0 */
	uint32_t set_mark, set_mark_mask;	/* XFRMA_SET_MARK (output mark) when mask != 0 */
	uint16_t encap_sport, encap_dport;	/* ESP in UDP (RFC 3948) when dport != 0 */
	struct xfrm_lifetime lft;
};

/* Counters of an installed SA. */
struct xfrm_sa_stats {
	uint64_t bytes, packets;
	uint64_t add_time, use_time;	/* seconds since the epoch; use_time 0 = never used */
	uint32_t replay_window;
};

/* Add (or, with update, replace) an SA. Key material copied into the request is wiped. */
int xfrm_sa_add(struct xfrm_sock *s, const struct xfrm_sa *sa, bool update, struct xfrm_err *err);
int xfrm_sa_delete(struct xfrm_sock *s, const struct xfrm_addr *dst, uint32_t spi, uint8_t proto,
		   uint32_t mark, uint32_t mark_mask, struct xfrm_err *err);
int xfrm_sa_get(struct xfrm_sock *s, const struct xfrm_addr *dst, uint32_t spi, uint8_t proto,
		uint32_t mark, uint32_t mark_mask, struct xfrm_sa_stats *ret, struct xfrm_err *err);
/* An installed SA as a dump reports it. */
struct xfrm_sa_entry {
	struct xfrm_addr src, dst;
	uint32_t spi;
	uint8_t proto, mode;
	uint32_t reqid;
	uint32_t mark, mark_mask;
	uint32_t if_id;
	struct xfrm_sa_stats stats;
};

/*
 * Dump SAs, calling fn for those whose mark matches (mark_mask 0: any) and, when reqid is
 * not 0, whose reqid is reqid: the daemon finds its own SAs (a restart, a reconcile).
 */
typedef int (*xfrm_sa_fn)(const struct xfrm_sa_entry *sa, void *arg);
int xfrm_sa_dump(struct xfrm_sock *s, uint32_t mark, uint32_t mark_mask, uint32_t reqid,
		 xfrm_sa_fn fn, void *arg, struct xfrm_err *err);
/* Parse one XFRM_MSG_NEWSA message of len bytes from the kernel; -EBADMSG if malformed. */
int xfrm_sa_parse(const void *buf, size_t len, struct xfrm_sa_entry *ret);

/* XFRM_MSG_ALLOCSPI: a free SPI in [min, max] for an SA from src to dst. */
int xfrm_spi_alloc(struct xfrm_sock *s, const struct xfrm_addr *src, const struct xfrm_addr *dst,
		   uint8_t proto, uint32_t reqid, uint32_t min, uint32_t max, uint32_t *ret_spi,
		   struct xfrm_err *err);

struct xfrm_sel {
	struct xfrm_addr src, dst;	/* family 0: the policy's family from src.family */
	uint8_t src_plen, dst_plen;
	uint8_t proto;			/* 0 = any */
	uint16_t sport, dport;		/* 0 = any */
};

struct xfrm_tmpl {
	struct xfrm_addr src, dst;	/* tunnel endpoints (required in tunnel mode) */
	uint8_t proto;
	uint8_t mode;
	uint32_t reqid;
	/* An inbound/forward policy also lets through what arrives in clear ("level use"). */
	bool optional;
};

#define XFRM_MAX_TMPLS 4

struct xfrm_policy {
	struct xfrm_sel sel;
	uint8_t dir;			/* XFRM_POLICY_IN, _OUT, _FWD */
	uint8_t action;			/* XFRM_POLICY_ALLOW or XFRM_POLICY_BLOCK */
	uint32_t priority;
	uint32_t mark, mark_mask;
	uint32_t if_id;
	uint8_t n_tmpls;
	struct xfrm_tmpl tmpl[XFRM_MAX_TMPLS];
};

int xfrm_policy_add(struct xfrm_sock *s, const struct xfrm_policy *p, bool update,
		    struct xfrm_err *err);
/* Delete by selector, direction, mark and if_id (the policy's identity). */
int xfrm_policy_delete(struct xfrm_sock *s, const struct xfrm_policy *p, struct xfrm_err *err);

/*
 * Dump policies; fn is called for each one whose mark matches (mark_mask 0: all). Policies
 * the kernel sends that we cannot parse make the dump fail with -EBADMSG.
 */
typedef int (*xfrm_policy_fn)(const struct xfrm_policy *p, void *arg);
int xfrm_policy_dump(struct xfrm_sock *s, uint32_t mark, uint32_t mark_mask, xfrm_policy_fn fn,
		     void *arg, struct xfrm_err *err);

/* Parse one XFRM_MSG_NEWPOLICY message of len bytes from the kernel; -EBADMSG if malformed. */
int xfrm_policy_parse(const void *buf, size_t len, struct xfrm_policy *ret);

/*
 * The kernel's policy hash thresholds, per network namespace (`ip xfrm policy set hthresh4`).
 * The kernel hashes a policy by its addresses only when its local prefix (the source of an
 * outbound policy, the destination of an inbound or forward one) has at least lbits bits and
 * its remote prefix at least rbits; every other policy goes into a tree whose inserts and
 * lookups cost time in the policies already there. Defaults: 32/32 and 128/128, so only
 * host-to-host policies are hashed. The thresholds change speed, never which policy matches.
 */
struct xfrm_spd_hthresh {
	bool have4, have6;		/* which family's pair is set or was read */
	uint8_t lbits4, rbits4;
	uint8_t lbits6, rbits6;
};

/* Fewest local + remote bits worth hashing by: fewer would put most policies in few buckets. */
#define XFRM_SPD_HASH_MIN_BITS4 16
#define XFRM_SPD_HASH_MIN_BITS6 32

int xfrm_spd_hthresh_get(struct xfrm_sock *s, struct xfrm_spd_hthresh *ret, struct xfrm_err *err);
/* Sets the families with have4 / have6; the kernel rehashes its policies afterwards. */
int xfrm_spd_hthresh_set(struct xfrm_sock *s, const struct xfrm_spd_hthresh *h,
			 struct xfrm_err *err);
/* Parse one XFRM_MSG_NEWSPDINFO message (GETSPDINFO's answer); -EBADMSG if malformed. */
int xfrm_spd_hthresh_parse(const void *buf, size_t len, struct xfrm_spd_hthresh *ret);
/*
 * No I/O: when cur does not hash p, the thresholds that hash it too (each lowered to p's
 * prefix where it is shorter) in *ret, and true. False when cur hashes p already, when cur
 * has no pair for p's family, or when the lowered pair would have fewer than
 * XFRM_SPD_HASH_MIN_BITS4/6 bits between them (p then stays in the tree, cur as it was).
 */
bool xfrm_spd_hthresh_fit(const struct xfrm_spd_hthresh *cur, const struct xfrm_policy *p,
			  struct xfrm_spd_hthresh *ret);

/*
 * A batch: requests built into one buffer and sent in one sendmsg; results[i] is request
 * i's outcome (0 or -errno), err the first failure's (the kernel's message). Only
 * add/update/delete of SAs and policies batch. The kernel takes every request in order,
 * whatever the one before did; only the last asks for an acknowledgement (those before are
 * answered when they fail), so that a batch costs one send and, when all goes well, one
 * receive.
 */
struct xfrm_batch {
	struct xfrm_sock *s;
	uint8_t *buf;
	size_t len, cap;
	uint32_t first_seq;
	size_t n;
	int *results;
	struct xfrm_err err;
};

int xfrm_batch_begin(struct xfrm_batch *b, struct xfrm_sock *s);
int xfrm_batch_sa_add(struct xfrm_batch *b, const struct xfrm_sa *sa, bool update);
int xfrm_batch_policy_add(struct xfrm_batch *b, const struct xfrm_policy *p, bool update);
int xfrm_batch_policy_delete(struct xfrm_batch *b, const struct xfrm_policy *p);
/* Send and collect every ACK; returns the number of failed requests, or -errno. */
int xfrm_batch_commit(struct xfrm_batch *b);
void xfrm_batch_clear(struct xfrm_batch *b);

/*
 * Start-up capability probe: can this kernel run ESP with the given algorithms? Returns 0,
 * or -errno with *ret_option naming the kernel option to enable ("CONFIG_INET_ESP",
 * "CONFIG_CRYPTO_GCM", ...). It installs and removes one throwaway SA on loopback.
 */
int xfrm_probe_esp(struct xfrm_sock *s, const struct xfrm_alg *encr, const struct xfrm_alg *integ,
		   const struct xfrm_alg *aead, const char **ret_option, struct xfrm_err *err);

/*
 * The kernel option the refused SA sa needs, from xfrm_sa_add()'s rc and err: for that SA's
 * family and suite ("CONFIG_INET6_ESP" for an IPv6 SA without ESP, "CONFIG_CRYPTO_
 * CHACHA20POLY1305" for a ChaCha20-Poly1305 SA the crypto API lacks), or NULL when the
 * refusal is not a missing feature. A static string.
 */
const char *xfrm_sa_missing_option(const struct xfrm_sa *sa, int rc, const struct xfrm_err *err);

/*
 * xfrm interfaces: a netdevice whose traffic goes through the SAs and policies with its if_id
 * (route-based steering). dev_ifindex is the underlying device (0: none). Created up.
 */
int xfrm_link_add(const char *name, uint32_t dev_ifindex, uint32_t if_id, struct xfrm_err *err);
int xfrm_link_del(const char *name, struct xfrm_err *err);
/* Can this kernel create xfrm interfaces? -EOPNOTSUPP names CONFIG_XFRM_INTERFACE. */
int xfrm_probe_link(const char **ret_option, struct xfrm_err *err);

#endif
