/* Kernel XFRM events (see events.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netlink.h>

#include "xfrm/events.h"
#include "xfrm/internal.h"

#define EVENTS_BUF_LEN (64 * 1024)

int xfrm_events_open(struct xfrm_events *ev)
{
	static const unsigned int groups[] = {
		XFRMNLGRP_ACQUIRE, XFRMNLGRP_EXPIRE, XFRMNLGRP_MAPPING,
	};
	int rc;

	memset(ev, 0, sizeof(*ev));
	ev->buf = malloc(EVENTS_BUF_LEN);
	if (!ev->buf)
		return -ENOMEM;
	ev->buf_len = EVENTS_BUF_LEN;
	ev->nl = mnl_socket_open2(NETLINK_XFRM, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!ev->nl || mnl_socket_bind(ev->nl, 0, MNL_SOCKET_AUTOPID) < 0)
		goto fail;
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (mnl_socket_setsockopt(ev->nl, NETLINK_ADD_MEMBERSHIP, (void *)&groups[i],
					  sizeof(groups[i])) < 0)
			goto fail;
	return 0;
fail:
	rc = -errno;
	xfrm_events_close(ev);
	return rc ? rc : -EIO;
}

void xfrm_events_close(struct xfrm_events *ev)
{
	if (ev->nl)
		mnl_socket_close(ev->nl);
	free(ev->buf);
	memset(ev, 0, sizeof(*ev));
}

int xfrm_events_fd(const struct xfrm_events *ev)
{
	return mnl_socket_get_fd(ev->nl);
}

int xfrm_event_parse(const void *buf, size_t len, struct xfrm_event *e)
{
	const struct nlmsghdr *nlh = buf;
	const void *payload;
	size_t plen, hdr;

	if (len < NLMSG_HDRLEN || nlh->nlmsg_len < NLMSG_HDRLEN || nlh->nlmsg_len > len)
		return -EBADMSG;
	payload = mnl_nlmsg_get_payload(nlh);
	plen = nlh->nlmsg_len - NLMSG_HDRLEN;
	memset(e, 0, sizeof(*e));
	/* Each fixed part is copied out: netlink aligns to 4, these structs hold u64s. */
	switch (nlh->nlmsg_type) {
	case XFRM_MSG_EXPIRE: {
		struct xfrm_user_expire x;

		if (plen < (hdr = sizeof(x)))
			return -EBADMSG;
		memcpy(&x, payload, sizeof(x));
		e->type = XFRM_EVENT_EXPIRE;
		e->hard = x.hard;
		e->src.family = e->dst.family = x.state.family;
		e->src.a = x.state.saddr;
		e->dst.a = x.state.id.daddr;
		e->spi = ntohl(x.state.id.spi);
		e->proto = x.state.id.proto;
		e->reqid = x.state.reqid;
		e->stats.bytes = x.state.curlft.bytes;
		e->stats.packets = x.state.curlft.packets;
		e->stats.add_time = x.state.curlft.add_time;
		e->stats.use_time = x.state.curlft.use_time;
		e->stats.replay_window = x.state.replay_window;
		break;
	}
	case XFRM_MSG_ACQUIRE: {
		struct xfrm_user_acquire x;

		if (plen < (hdr = sizeof(x)))
			return -EBADMSG;
		memcpy(&x, payload, sizeof(x));
		e->type = XFRM_EVENT_ACQUIRE;
		e->src.family = e->dst.family = x.policy.sel.family;
		e->src.a = x.saddr;
		e->dst.a = x.id.daddr;
		e->proto = x.id.proto;
		xfrm_sel_from_kernel(&e->sel, &x.sel);
		e->dir = x.policy.dir;
		break;
	}
	case XFRM_MSG_MAPPING: {
		struct xfrm_user_mapping x;

		if (plen < (hdr = sizeof(x)))
			return -EBADMSG;
		memcpy(&x, payload, sizeof(x));
		e->type = XFRM_EVENT_MAPPING;
		e->dst.family = e->old_addr.family = e->new_addr.family = x.id.family;
		e->dst.a = x.id.daddr;
		e->spi = ntohl(x.id.spi);
		e->proto = x.id.proto;
		e->reqid = x.reqid;
		e->old_addr.a = x.old_saddr;
		e->new_addr.a = x.new_saddr;
		e->old_port = ntohs(x.old_sport);
		e->new_port = ntohs(x.new_sport);
		break;
	}
	case XFRM_MSG_POLEXPIRE: {
		struct xfrm_user_polexpire x;

		if (plen < (hdr = sizeof(x)))
			return -EBADMSG;
		memcpy(&x, payload, sizeof(x));
		e->type = XFRM_EVENT_POLEXPIRE;
		e->hard = x.hard;
		xfrm_sel_from_kernel(&e->sel, &x.pol.sel);
		e->dir = x.pol.dir;
		break;
	}
	default:
		return -ENOENT;
	}
	if (e->src.family && e->src.family != AF_INET && e->src.family != AF_INET6)
		return -EBADMSG;
	{
		struct xfrm_attr_common c = { 0 };
		int rc = xfrm_attrs_walk(nlh, hdr, &c, NULL, NULL);

		e->mark = c.mark;
		e->mark_mask = c.mark_mask;
		return rc;
	}
}

int xfrm_events_read(struct xfrm_events *ev, xfrm_event_fn fn, void *arg)
{
	ssize_t got = mnl_socket_recvfrom(ev->nl, ev->buf, ev->buf_len);
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)ev->buf;
	int left;

	if (got < 0)
		return -errno;
	left = (int)got;
	for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
		struct xfrm_event e;
		int rc = xfrm_event_parse(nlh, (size_t)left, &e);

		if (rc == -ENOENT)
			continue;
		if (rc < 0)
			return rc;
		fn(&e, arg);
	}
	return left == 0 ? 0 : -EBADMSG;
}
