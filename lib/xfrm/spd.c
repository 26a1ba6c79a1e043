/*
 * The kernel's policy hash thresholds (see xfrm.h): read and set with XFRM_MSG_GETSPDINFO /
 * NEWSPDINFO, and the sans-I/O choice of thresholds that hash a policy too.
 */
#include <errno.h>
#include <string.h>

#include "xfrm/internal.h"

static int spd_attr(uint16_t type, const void *payload, size_t len, void *arg)
{
	struct xfrm_spd_hthresh *h = arg;
	struct xfrmu_spdhthresh t;

	if (type != XFRMA_SPD_IPV4_HTHRESH && type != XFRMA_SPD_IPV6_HTHRESH)
		return 0;
	if (len < sizeof(t))
		return -EBADMSG;
	memcpy(&t, payload, sizeof(t));
	if (type == XFRMA_SPD_IPV4_HTHRESH) {
		if (t.lbits > 32 || t.rbits > 32)
			return -EBADMSG;
		h->lbits4 = t.lbits;
		h->rbits4 = t.rbits;
		h->have4 = true;
	} else {
		if (t.lbits > 128 || t.rbits > 128)
			return -EBADMSG;
		h->lbits6 = t.lbits;
		h->rbits6 = t.rbits;
		h->have6 = true;
	}
	return 0;
}

int xfrm_spd_hthresh_parse(const void *buf, size_t len, struct xfrm_spd_hthresh *ret)
{
	const struct nlmsghdr *nlh = buf;
	int rc;

	memset(ret, 0, sizeof(*ret));
	if (len < NLMSG_HDRLEN || nlh->nlmsg_len > len ||
	    nlh->nlmsg_type != XFRM_MSG_NEWSPDINFO ||
	    nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(uint32_t))
		return -EBADMSG;
	rc = xfrm_attrs_walk(nlh, sizeof(uint32_t), NULL, spd_attr, ret);
	if (rc == 0 && !(ret->have4 && ret->have6))
		rc = -EBADMSG;	/* a kernel before 4.0 has no thresholds to set either */
	return rc;
}

static int on_spdinfo(const struct nlmsghdr *nlh, void *arg)
{
	return xfrm_spd_hthresh_parse(nlh, nlh->nlmsg_len, arg);
}

int xfrm_spd_hthresh_get(struct xfrm_sock *s, struct xfrm_spd_hthresh *ret, struct xfrm_err *err)
{
	uint8_t buf[64];
	struct nlmsghdr *nlh = xfrm_msg_start(s, buf, XFRM_MSG_GETSPDINFO, 0);
	uint32_t flags = 0;
	int rc;

	memset(ret, 0, sizeof(*ret));
	memcpy(mnl_nlmsg_put_extra_header(nlh, sizeof(flags)), &flags, sizeof(flags));
	rc = xfrm_talk(s, buf, nlh->nlmsg_len, 1, nlh->nlmsg_seq, NULL, on_spdinfo, ret, false,
		       err);
	if (rc == 0 && !(ret->have4 && ret->have6))
		rc = -EBADMSG;	/* no answer parsed */
	return rc;
}

int xfrm_spd_hthresh_build(struct xfrm_sock *s, void *buf, size_t cap,
			   const struct xfrm_spd_hthresh *h, size_t *ret_len)
{
	struct xfrmu_spdhthresh t4 = { h->lbits4, h->rbits4 }, t6 = { h->lbits6, h->rbits6 };
	struct nlmsghdr *nlh;
	uint32_t flags = 0;

	if ((h->have4 && (h->lbits4 > 32 || h->rbits4 > 32)) ||
	    (h->have6 && (h->lbits6 > 128 || h->rbits6 > 128)) || !(h->have4 || h->have6))
		return -EINVAL;
	if (cap < 128)
		return -EMSGSIZE;
	nlh = xfrm_msg_start(s, buf, XFRM_MSG_NEWSPDINFO, NLM_F_ACK);
	memcpy(mnl_nlmsg_put_extra_header(nlh, sizeof(flags)), &flags, sizeof(flags));
	if (h->have4)
		mnl_attr_put(nlh, XFRMA_SPD_IPV4_HTHRESH, sizeof(t4), &t4);
	if (h->have6)
		mnl_attr_put(nlh, XFRMA_SPD_IPV6_HTHRESH, sizeof(t6), &t6);
	*ret_len = nlh->nlmsg_len;
	return 0;
}

int xfrm_spd_hthresh_set(struct xfrm_sock *s, const struct xfrm_spd_hthresh *h,
			 struct xfrm_err *err)
{
	uint8_t buf[128];
	size_t len;
	int rc = xfrm_spd_hthresh_build(s, buf, sizeof(buf), h, &len);

	return rc < 0 ? rc : xfrm_talk(s, buf, len, 1, ((struct nlmsghdr *)buf)->nlmsg_seq, NULL,
				       NULL, NULL, false, err);
}

bool xfrm_spd_hthresh_fit(const struct xfrm_spd_hthresh *cur, const struct xfrm_policy *p,
			  struct xfrm_spd_hthresh *ret)
{
	bool v4 = p->sel.src.family == AF_INET;
	/* Local: where the kernel looks for the policy by the packet's own end. */
	uint8_t local = p->dir == XFRM_POLICY_OUT ? p->sel.src_plen : p->sel.dst_plen;
	uint8_t remote = p->dir == XFRM_POLICY_OUT ? p->sel.dst_plen : p->sel.src_plen;
	uint8_t l = v4 ? cur->lbits4 : cur->lbits6, r = v4 ? cur->rbits4 : cur->rbits6;
	unsigned floor = v4 ? XFRM_SPD_HASH_MIN_BITS4 : XFRM_SPD_HASH_MIN_BITS6;

	if ((v4 && !cur->have4) || (!v4 && (p->sel.src.family != AF_INET6 || !cur->have6)))
		return false;
	if (local >= l && remote >= r)
		return false;	/* hashed already */
	l = local < l ? local : l;
	r = remote < r ? remote : r;
	if ((unsigned)l + r < floor)
		return false;	/* too few bits to tell policies apart: left in the tree */
	*ret = *cur;
	if (v4) {
		ret->lbits4 = l;
		ret->rbits4 = r;
	} else {
		ret->lbits6 = l;
		ret->rbits6 = r;
	}
	return true;
}
