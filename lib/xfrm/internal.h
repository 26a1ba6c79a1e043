/* Shared inside lib/xfrm: the request/ACK engine and message builders. */
#ifndef IKD_XFRM_INTERNAL_H
#define IKD_XFRM_INTERNAL_H

#include <libmnl/libmnl.h>

#include "xfrm/xfrm.h"

#define XFRM_BUF_LEN (64 * 1024)

/* Called for each non-error, non-done message of a reply (a GETSA answer, a dump entry). */
typedef int (*xfrm_msg_fn)(const struct nlmsghdr *nlh, void *arg);

/* A request socket for another netlink family (NETLINK_ROUTE for xfrm interfaces). */
int xfrm_open_proto(struct xfrm_sock *s, int proto);

/* A message header for type with flags at buf, sequence number taken from s. */
struct nlmsghdr *xfrm_msg_start(struct xfrm_sock *s, void *buf, uint16_t type, uint16_t flags);

/*
 * Send len bytes of n requests (sequence numbers first_seq, first_seq + 1, ...), then read
 * until each has its ACK or error (results[i], may be NULL when n == 1) or, for a dump, until
 * NLMSG_DONE. The request bytes are wiped after sending: they may hold keys.
 * Returns 0 when every request succeeded, else the first error (-errno) with err filled.
 */
int xfrm_talk(struct xfrm_sock *s, void *req, size_t len, size_t n, uint32_t first_seq,
	      int *results, xfrm_msg_fn fn, void *arg, bool dump, struct xfrm_err *err);

/* A kernel selector in our terms. */
void xfrm_sel_from_kernel(struct xfrm_sel *s, const struct xfrm_selector *k);

/*
 * The attributes after a fixed header of hdr bytes, bounded by nlmsg_len itself (libmnl's
 * walk rounds it up past the buffer): fn for each; -EBADMSG when one overruns the message.
 * XFRMA_MARK and XFRMA_IF_ID are read into the optional outputs on the way.
 */
struct xfrm_attr_common {
	uint32_t mark, mark_mask, if_id;
};
typedef int (*xfrm_attr_fn)(uint16_t type, const void *payload, size_t len, void *arg);
int xfrm_attrs_walk(const struct nlmsghdr *nlh, size_t hdr, struct xfrm_attr_common *common,
		    xfrm_attr_fn fn, void *arg);

int xfrm_sa_build(struct xfrm_sock *s, void *buf, size_t cap, const struct xfrm_sa *sa,
		  bool update, size_t *ret_len);
int xfrm_policy_build(struct xfrm_sock *s, void *buf, size_t cap, const struct xfrm_policy *p,
		      bool update, size_t *ret_len);
int xfrm_policy_del_build(struct xfrm_sock *s, void *buf, size_t cap,
			  const struct xfrm_policy *p, size_t *ret_len);
int xfrm_spd_hthresh_build(struct xfrm_sock *s, void *buf, size_t cap,
			   const struct xfrm_spd_hthresh *h, size_t *ret_len);

#endif
