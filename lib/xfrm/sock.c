/* The NETLINK_XFRM socket, the request/ACK engine and batches (see xfrm.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/netlink.h>
#include <sodium.h>

#include "xfrm/internal.h"

int xfrm_open_proto(struct xfrm_sock *s, int proto)
{
	int one = 1, rc;

	memset(s, 0, sizeof(*s));
	s->buf = malloc(XFRM_BUF_LEN);
	if (!s->buf)
		return -ENOMEM;
	s->buf_len = XFRM_BUF_LEN;
	s->nl = mnl_socket_open2(proto, SOCK_CLOEXEC);
	if (!s->nl) {
		rc = -errno;
		goto fail;
	}
	/*
	 * Extended ACKs carry the kernel's reason; capped ACKs keep the kernel from echoing our
	 * request (with its keys) back in an error.
	 */
	mnl_socket_setsockopt(s->nl, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(s->nl, NETLINK_CAP_ACK, &one, sizeof(one));
	if (mnl_socket_bind(s->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		rc = -errno;
		goto fail;
	}
	s->portid = mnl_socket_get_portid(s->nl);
	s->seq = (uint32_t)time(NULL);
	return 0;
fail:
	xfrm_close(s);
	return rc;
}

int xfrm_open(struct xfrm_sock *s)
{
	return xfrm_open_proto(s, NETLINK_XFRM);
}

void xfrm_close(struct xfrm_sock *s)
{
	if (s->nl)
		mnl_socket_close(s->nl);
	free(s->buf);
	memset(s, 0, sizeof(*s));
}

int xfrm_addr_parse(const char *text, struct xfrm_addr *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (inet_pton(AF_INET, text, &ret->a.a4) == 1) {
		ret->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, text, &ret->a.a6) == 1) {
		ret->family = AF_INET6;
		return 0;
	}
	return -EINVAL;
}

void xfrm_sel_from_kernel(struct xfrm_sel *s, const struct xfrm_selector *k)
{
	memset(s, 0, sizeof(*s));
	s->src.family = s->dst.family = k->family;
	s->src.a = k->saddr;
	s->dst.a = k->daddr;
	s->src_plen = k->prefixlen_s;
	s->dst_plen = k->prefixlen_d;
	s->proto = k->proto;
	s->sport = k->sport_mask ? ntohs(k->sport) : 0;
	s->dport = k->dport_mask ? ntohs(k->dport) : 0;
}

int xfrm_attrs_walk(const struct nlmsghdr *nlh, size_t hdr, struct xfrm_attr_common *common,
		    xfrm_attr_fn fn, void *arg)
{
	const uint8_t *at = (const uint8_t *)nlh + NLMSG_HDRLEN + MNL_ALIGN(hdr);
	const uint8_t *end = (const uint8_t *)nlh + nlh->nlmsg_len;

	while (at < end) {
		const struct nlattr *a = (const struct nlattr *)at;
		uint16_t type;
		size_t len;
		int rc = 0;

		if ((size_t)(end - at) < sizeof(*a) || a->nla_len < sizeof(*a) ||
		    a->nla_len > (size_t)(end - at))
			return -EBADMSG;
		type = a->nla_type & NLA_TYPE_MASK;
		len = a->nla_len - sizeof(*a);
		if (common && type == XFRMA_MARK) {
			struct xfrm_mark m;

			if (len < sizeof(m))
				return -EBADMSG;
			memcpy(&m, mnl_attr_get_payload(a), sizeof(m));
			common->mark = m.v;
			common->mark_mask = m.m;
		} else if (common && type == XFRMA_IF_ID) {
			if (len < sizeof(uint32_t))
				return -EBADMSG;
			memcpy(&common->if_id, mnl_attr_get_payload(a), sizeof(uint32_t));
		} else if (fn) {
			rc = fn(type, mnl_attr_get_payload(a), len, arg);
		}
		if (rc < 0)
			return rc;
		at += MNL_ALIGN(a->nla_len);
	}
	return 0;
}

struct nlmsghdr *xfrm_msg_start(struct xfrm_sock *s, void *buf, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = ++s->seq;
	return nlh;
}

/* The error code and extack message of an NLMSG_ERROR; bounds-checked against the kernel. */
static int parse_error(const struct nlmsghdr *nlh, struct xfrm_err *err)
{
	const struct nlmsgerr *e;
	size_t off;

	if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(*e))
		return -EBADMSG;
	e = mnl_nlmsg_get_payload(nlh);
	if (e->error > 0 || e->error < -4095)
		return -EBADMSG;
	if (e->error == 0 || !err)
		return e->error;
	err->code = e->error;
	err->msg[0] = '\0';
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return e->error;
	off = sizeof(*e);
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
		if (e->msg.nlmsg_len < NLMSG_HDRLEN)
			return e->error;
		off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	}
	if (NLMSG_HDRLEN + off > nlh->nlmsg_len)
		return e->error;
	{
		const uint8_t *p = (const uint8_t *)mnl_nlmsg_get_payload(nlh) + off;
		size_t left = nlh->nlmsg_len - NLMSG_HDRLEN - off;

		while (left >= sizeof(struct nlattr)) {
			const struct nlattr *a = (const struct nlattr *)p;
			size_t alen = a->nla_len, step = MNL_ALIGN(alen);

			if (alen < sizeof(*a) || alen > left)
				break;
			if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
				size_t n = alen - sizeof(*a);

				if (n >= sizeof(err->msg))
					n = sizeof(err->msg) - 1;
				memcpy(err->msg, p + sizeof(*a), n);
				err->msg[n] = '\0';
				/* Drop a trailing newline or NUL the kernel included. */
				err->msg[strcspn(err->msg, "\n")] = '\0';
			}
			if (step > left)
				break;
			p += step;
			left -= step;
		}
	}
	return e->error;
}

/*
 * quiet: only the last of the n requests asked for an ACK (a batch): the kernel answers the
 * others only when they fail, in order, before that ACK; those it did not answer succeeded.
 */
static int talk(struct xfrm_sock *s, void *req, size_t len, size_t n, uint32_t first_seq,
		int *results, xfrm_msg_fn fn, void *arg, bool dump, struct xfrm_err *err, bool quiet)
{
	size_t pending = quiet ? 1 : n;
	int first_err = 0;
	ssize_t sent;

	if (err)
		memset(err, 0, sizeof(*err));
	sent = mnl_socket_sendto(s->nl, req, len);
	sodium_memzero(req, len);
	if (sent < 0)
		return -errno;
	for (size_t i = 0; results && i < n; i++)
		results[i] = 1;	/* not answered yet */
	while (pending > 0) {
		ssize_t got = mnl_socket_recvfrom(s->nl, s->buf, s->buf_len);
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)s->buf;
		size_t left;

		if (got < 0)
			return -errno;
		left = (size_t)got;
		for (; mnl_nlmsg_ok(nlh, (int)left); nlh = mnl_nlmsg_next(nlh, (int *)&left)) {
			uint32_t idx = nlh->nlmsg_seq - first_seq;
			int rc;

			if (nlh->nlmsg_pid != s->portid || idx >= n)
				continue;	/* not ours, or an old answer */
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				struct xfrm_err e1 = { 0 };

				rc = parse_error(nlh, &e1);
				if (rc == -EBADMSG && !first_err) {
					first_err = rc;
					if (err)
						snprintf(err->msg, sizeof(err->msg),
							 "malformed netlink error message");
				}
				if (results) {
					if (results[idx] != 1)
						continue;	/* a duplicate answer */
					results[idx] = rc;
				}
				if (rc < 0 && !first_err) {
					first_err = rc;
					if (err)
						*err = e1;
				}
				if (!quiet || idx == n - 1)
					pending--;
			} else if (nlh->nlmsg_type == NLMSG_DONE) {
				if (dump)
					pending--;
			} else if (fn) {
				rc = fn(nlh, arg);
				if (rc < 0 && !first_err)
					first_err = rc;
				if (!dump && !(nlh->nlmsg_flags & NLM_F_MULTI)) {
					if (results)
						results[idx] = rc < 0 ? rc : 0;
					pending--;
				}
			}
		}
		if (left > 0 && left < (size_t)got && first_err == 0)
			first_err = -EBADMSG;	/* a truncated message at the end */
	}
	for (size_t i = 0; quiet && results && i < n; i++)
		if (results[i] == 1)
			results[i] = 0;	/* no error before the last one's ACK */
	if (err && first_err && !err->code)
		err->code = first_err;
	return first_err;
}

int xfrm_talk(struct xfrm_sock *s, void *req, size_t len, size_t n, uint32_t first_seq,
	      int *results, xfrm_msg_fn fn, void *arg, bool dump, struct xfrm_err *err)
{
	return talk(s, req, len, n, first_seq, results, fn, arg, dump, err, false);
}

int xfrm_batch_begin(struct xfrm_batch *b, struct xfrm_sock *s)
{
	memset(b, 0, sizeof(*b));
	b->s = s;
	b->first_seq = s->seq + 1;
	return 0;
}

#define BATCH_MSG_MAX 2048

static int batch_room(struct xfrm_batch *b, size_t need)
{
	int *r = reallocarray(b->results, b->n + 1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	b->results = r;
	if (b->len + need > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 4 * BATCH_MSG_MAX;
		uint8_t *p;

		while (cap < b->len + need)
			cap *= 2;
		/* Not realloc: the old buffer may hold keys. */
		p = malloc(cap);
		if (!p)
			return -ENOMEM;
		if (b->buf) {
			memcpy(p, b->buf, b->len);
			sodium_memzero(b->buf, b->cap);
			free(b->buf);
		}
		b->buf = p;
		b->cap = cap;
	}
	return 0;
}

int xfrm_batch_sa_add(struct xfrm_batch *b, const struct xfrm_sa *sa, bool update)
{
	size_t len;
	int rc = batch_room(b, BATCH_MSG_MAX);

	rc = rc ?: xfrm_sa_build(b->s, b->buf + b->len, BATCH_MSG_MAX, sa, update, &len);
	if (rc < 0)
		return rc;
	b->len += len;
	b->n++;
	return 0;
}

int xfrm_batch_policy_add(struct xfrm_batch *b, const struct xfrm_policy *p, bool update)
{
	size_t len;
	int rc = batch_room(b, BATCH_MSG_MAX);

	rc = rc ?: xfrm_policy_build(b->s, b->buf + b->len, BATCH_MSG_MAX, p, update, &len);
	if (rc < 0)
		return rc;
	b->len += len;
	b->n++;
	return 0;
}

int xfrm_batch_policy_delete(struct xfrm_batch *b, const struct xfrm_policy *p)
{
	size_t len;
	int rc = batch_room(b, BATCH_MSG_MAX);

	rc = rc ?: xfrm_policy_del_build(b->s, b->buf + b->len, BATCH_MSG_MAX, p, &len);
	if (rc < 0)
		return rc;
	b->len += len;
	b->n++;
	return 0;
}

int xfrm_batch_commit(struct xfrm_batch *b)
{
	/* The kernel takes at most one socket buffer per sendmsg: send in chunks of whole messages. */
	const size_t chunk_max = 32 * 1024;
	size_t off = 0, idx = 0;
	int failed = 0;

	while (off < b->len) {
		size_t len = 0, n = 0;
		struct nlmsghdr *last = NULL;
		struct xfrm_err e;
		int rc;

		while (off + len < b->len) {
			struct nlmsghdr *nlh = (struct nlmsghdr *)(b->buf + off + len);
			size_t mlen = MNL_ALIGN(nlh->nlmsg_len);

			if (len && len + mlen > chunk_max)
				break;
			/* one ACK a chunk: the last's (failures are answered anyway) */
			if (last)
				last->nlmsg_flags &= (uint16_t)~NLM_F_ACK;
			last = nlh;
			len += mlen;
			n++;
		}
		rc = talk(b->s, b->buf + off, len, n,
			  ((const struct nlmsghdr *)(b->buf + off))->nlmsg_seq,
			  b->results + idx, NULL, NULL, false, &e, true);
		if (rc < 0 && !b->err.code)
			b->err = e;
		if (rc < 0) {
			bool answered = false;

			for (size_t i = 0; i < n; i++)
				answered |= b->results[idx + i] != 1;
			if (!answered)
				return rc;	/* the send or receive itself failed */
		}
		off += len;
		idx += n;
	}
	for (size_t i = 0; i < b->n; i++)
		failed += b->results[i] != 0;
	return failed;
}

void xfrm_batch_clear(struct xfrm_batch *b)
{
	if (b->buf) {
		sodium_memzero(b->buf, b->cap);
		free(b->buf);
	}
	free(b->results);
	memset(b, 0, sizeof(*b));
}
