/* XFRM policies: add/update, delete, dump (see xfrm.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "xfrm/internal.h"

static void put_sel(struct xfrm_selector *k, const struct xfrm_sel *s)
{
	memset(k, 0, sizeof(*k));
	k->family = s->src.family;
	k->saddr = s->src.a;
	k->daddr = s->dst.a;
	k->prefixlen_s = s->src_plen;
	k->prefixlen_d = s->dst_plen;
	k->proto = s->proto;
	if (s->sport) {
		k->sport = htons(s->sport);
		k->sport_mask = 0xffff;
	}
	if (s->dport) {
		k->dport = htons(s->dport);
		k->dport_mask = 0xffff;
	}
}

static int check_policy(const struct xfrm_policy *p)
{
	uint8_t max = p->sel.src.family == AF_INET6 ? 128 : 32;

	if (p->sel.src.family != AF_INET && p->sel.src.family != AF_INET6)
		return -EINVAL;
	if (p->sel.dst.family != p->sel.src.family || p->sel.src_plen > max ||
	    p->sel.dst_plen > max)
		return -EINVAL;
	if (p->dir > XFRM_POLICY_FWD || p->action > XFRM_POLICY_BLOCK ||
	    p->n_tmpls > XFRM_MAX_TMPLS)
		return -EINVAL;
	return 0;
}

static void put_mark_if_id(struct nlmsghdr *nlh, const struct xfrm_policy *p)
{
	if (p->mark_mask) {
		struct xfrm_mark m = { p->mark, p->mark_mask };

		mnl_attr_put(nlh, XFRMA_MARK, sizeof(m), &m);
	}
	if (p->if_id)
		mnl_attr_put_u32(nlh, XFRMA_IF_ID, p->if_id);
}

int xfrm_policy_build(struct xfrm_sock *s, void *buf, size_t cap, const struct xfrm_policy *p,
		      bool update, size_t *ret_len)
{
	struct xfrm_user_tmpl t[XFRM_MAX_TMPLS];
	struct xfrm_userpolicy_info info_buf, *info = &info_buf;
	struct nlmsghdr *nlh;
	int rc = check_policy(p);

	if (rc < 0)
		return rc;
	if (cap < 1024)
		return -EMSGSIZE;
	nlh = xfrm_msg_start(s, buf, update ? XFRM_MSG_UPDPOLICY : XFRM_MSG_NEWPOLICY,
			     NLM_F_ACK | (update ? 0 : NLM_F_CREATE | NLM_F_EXCL));
	/* Built aside and copied: netlink only aligns to 4, the struct holds u64s. */
	memset(info, 0, sizeof(*info));
	put_sel(&info->sel, &p->sel);
	info->lft.soft_byte_limit = info->lft.hard_byte_limit = XFRM_INF;
	info->lft.soft_packet_limit = info->lft.hard_packet_limit = XFRM_INF;
	info->priority = p->priority;
	info->dir = p->dir;
	info->action = p->action;
	memcpy(mnl_nlmsg_put_extra_header(nlh, sizeof(*info)), info, sizeof(*info));
	memset(t, 0, sizeof(t));
	for (uint8_t i = 0; i < p->n_tmpls; i++) {
		const struct xfrm_tmpl *src = &p->tmpl[i];

		t[i].id.daddr = src->dst.a;
		t[i].id.proto = src->proto ? src->proto : IPPROTO_ESP;
		t[i].family = src->dst.family ? src->dst.family : p->sel.src.family;
		t[i].saddr = src->src.a;
		t[i].reqid = src->reqid;
		t[i].mode = src->mode;
		t[i].optional = src->optional;
		t[i].aalgos = t[i].ealgos = t[i].calgos = ~0u;
	}
	if (p->n_tmpls)
		mnl_attr_put(nlh, XFRMA_TMPL, sizeof(t[0]) * p->n_tmpls, t);
	put_mark_if_id(nlh, p);
	*ret_len = nlh->nlmsg_len;
	return 0;
}

int xfrm_policy_del_build(struct xfrm_sock *s, void *buf, size_t cap,
			  const struct xfrm_policy *p, size_t *ret_len)
{
	struct xfrm_userpolicy_id id;
	struct nlmsghdr *nlh;
	int rc = check_policy(p);

	if (rc < 0)
		return rc;
	if (cap < 512)
		return -EMSGSIZE;
	nlh = xfrm_msg_start(s, buf, XFRM_MSG_DELPOLICY, NLM_F_ACK);
	memset(&id, 0, sizeof(id));
	put_sel(&id.sel, &p->sel);
	id.dir = p->dir;
	memcpy(mnl_nlmsg_put_extra_header(nlh, sizeof(id)), &id, sizeof(id));
	put_mark_if_id(nlh, p);
	*ret_len = nlh->nlmsg_len;
	return 0;
}

static int talk_one(struct xfrm_sock *s, uint8_t *buf, size_t len, struct xfrm_err *err)
{
	return xfrm_talk(s, buf, len, 1, ((struct nlmsghdr *)buf)->nlmsg_seq, NULL, NULL, NULL,
			 false, err);
}

int xfrm_policy_add(struct xfrm_sock *s, const struct xfrm_policy *p, bool update,
		    struct xfrm_err *err)
{
	uint8_t buf[1024];
	size_t len;
	int rc = xfrm_policy_build(s, buf, sizeof(buf), p, update, &len);

	return rc < 0 ? rc : talk_one(s, buf, len, err);
}

int xfrm_policy_delete(struct xfrm_sock *s, const struct xfrm_policy *p, struct xfrm_err *err)
{
	uint8_t buf[512];
	size_t len;
	int rc = xfrm_policy_del_build(s, buf, sizeof(buf), p, &len);

	return rc < 0 ? rc : talk_one(s, buf, len, err);
}

struct dump_ctx {
	uint32_t mark, mark_mask;
	xfrm_policy_fn fn;
	void *arg;
};

/* XFRMA_TMPL: a whole number of templates, at most XFRM_MAX_TMPLS. */
static int policy_attr(uint16_t type, const void *payload, size_t len, void *arg)
{
	struct xfrm_policy *p = arg;
	size_t n = len / sizeof(struct xfrm_user_tmpl);

	if (type != XFRMA_TMPL)
		return 0;
	if (len % sizeof(struct xfrm_user_tmpl) || n > XFRM_MAX_TMPLS)
		return -EBADMSG;
	p->n_tmpls = (uint8_t)n;
	for (size_t i = 0; i < n; i++) {
		struct xfrm_user_tmpl t;

		memcpy(&t, (const uint8_t *)payload + i * sizeof(t), sizeof(t));
		p->tmpl[i].dst.family = p->tmpl[i].src.family = t.family;
		p->tmpl[i].dst.a = t.id.daddr;
		p->tmpl[i].src.a = t.saddr;
		p->tmpl[i].proto = t.id.proto;
		p->tmpl[i].mode = t.mode;
		p->tmpl[i].reqid = t.reqid;
		p->tmpl[i].optional = t.optional != 0;
	}
	return 0;
}

int xfrm_policy_parse(const void *buf, size_t len, struct xfrm_policy *p)
{
	const struct nlmsghdr *nlh = buf;
	struct xfrm_userpolicy_info info;
	struct xfrm_attr_common c = { 0 };
	int rc;

	if (len < NLMSG_HDRLEN || nlh->nlmsg_len > len || nlh->nlmsg_type != XFRM_MSG_NEWPOLICY ||
	    nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(info))
		return -EBADMSG;
	/* Copied out: netlink aligns to 4 bytes, the struct holds u64s. */
	memcpy(&info, mnl_nlmsg_get_payload(nlh), sizeof(info));
	memset(p, 0, sizeof(*p));
	xfrm_sel_from_kernel(&p->sel, &info.sel);
	p->dir = info.dir;
	p->action = info.action;
	p->priority = info.priority;
	rc = xfrm_attrs_walk(nlh, sizeof(info), &c, policy_attr, p);
	p->mark = c.mark;
	p->mark_mask = c.mark_mask;
	p->if_id = c.if_id;
	return rc;
}

static int on_policy(const struct nlmsghdr *nlh, void *arg)
{
	struct dump_ctx *c = arg;
	struct xfrm_policy p;
	int rc = xfrm_policy_parse(nlh, nlh->nlmsg_len, &p);

	if (rc < 0)
		return rc;
	if ((p.mark & c->mark_mask) != (c->mark & c->mark_mask))
		return 0;
	return c->fn(&p, c->arg);
}

int xfrm_policy_dump(struct xfrm_sock *s, uint32_t mark, uint32_t mark_mask, xfrm_policy_fn fn,
		     void *arg, struct xfrm_err *err)
{
	struct dump_ctx c = { mark, mark_mask, fn, arg };
	uint8_t buf[64];
	struct nlmsghdr *nlh = xfrm_msg_start(s, buf, XFRM_MSG_GETPOLICY, NLM_F_DUMP);

	return xfrm_talk(s, buf, nlh->nlmsg_len, 1, nlh->nlmsg_seq, NULL, on_policy, &c, true,
			 err);
}
