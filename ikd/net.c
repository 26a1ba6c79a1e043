/* See net.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/ipsec.h>
#include <linux/udp.h>
#include <linux/xfrm.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "net.h"

#ifndef UDP_ENCAP
#define UDP_ENCAP 100
#endif

static const uint8_t non_esp_marker[4];

/* One allow policy per direction on this socket only: IKE must never be IPsec-protected. */
static int set_bypass(int fd, int family)
{
	struct xfrm_userpolicy_info pol;
	int level = family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP;
	int opt = family == AF_INET6 ? IPV6_XFRM_POLICY : IP_XFRM_POLICY;

	for (int dir = XFRM_POLICY_IN; dir <= XFRM_POLICY_OUT; dir++) {
		memset(&pol, 0, sizeof(pol));
		pol.action = XFRM_POLICY_ALLOW;
		pol.sel.family = (uint16_t)family;
		pol.dir = (uint8_t)dir;
		if (setsockopt(fd, level, opt, &pol, sizeof(pol)) < 0)
			return -errno;
	}
	return 0;
}

int net_sock_open(struct net_sock *s, int family, const union net_addr *addr, uint16_t port,
		  bool natt, int rcvbuf)
{
	union net_addr bind_addr;
	int one = 1, fd, r;

	fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
	if (fd < 0)
		return -errno;
	if (addr) {
		bind_addr = *addr;
	} else {
		memset(&bind_addr, 0, sizeof(bind_addr));
		bind_addr.sa.sa_family = (sa_family_t)family;
		if (family == AF_INET6)
			bind_addr.in6.sin6_addr = in6addr_any;
	}
	if (family == AF_INET6) {
		bind_addr.in6.sin6_port = htons(port);
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0 ||
		    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)) < 0)
			goto fail_errno;
	} else {
		bind_addr.in.sin_port = htons(port);
		if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0)
			goto fail_errno;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail_errno;
	/*
	 * Room for a storm (every site of a POP reconnecting at once): beyond net.core.rmem_max
	 * with CAP_NET_ADMIN, which ikd keeps; else as much as that allows. Not fatal.
	 */
	if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	r = set_bypass(fd, family);
	if (r < 0)
		goto fail;
	if (natt) {
		int encap = UDP_ENCAP_ESPINUDP;

		if (setsockopt(fd, IPPROTO_UDP, UDP_ENCAP, &encap, sizeof(encap)) < 0)
			goto fail_errno;
	}
	if (bind(fd, &bind_addr.sa, net_addr_len(&bind_addr)) < 0)
		goto fail_errno;
	s->fd = fd;
	s->family = family;
	s->port = port;
	s->natt = natt;
	return 0;

fail_errno:
	r = -errno;
fail:
	close(fd);
	return r;
}

int net_sock_rcvbuf(const struct net_sock *s)
{
	int v = 0;
	socklen_t len = sizeof(v);

	return getsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &v, &len) < 0 ? -errno : v / 2;
}

int net_route_source(const union net_addr *remote, union net_addr *ret)
{
	socklen_t len = sizeof(*ret);
	int fd = socket(remote->sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int rc;

	if (fd < 0)
		return -errno;
	/*
	 * The lookup must not meet ikd's own policies: a site whose selectors cover the POP's
	 * gateway (0.0.0.0/0) blocks it until its tunnel is up, and connect() would fail with
	 * EPERM for the very tunnel that would lift the block.
	 */
	rc = set_bypass(fd, remote->sa.sa_family);
	if (rc == 0 && (connect(fd, &remote->sa, net_addr_len(remote)) < 0 ||
			getsockname(fd, &ret->sa, &len) < 0))
		rc = -errno;
	close(fd);
	return rc;
}

void net_sock_close(struct net_sock *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

static void read_pktinfo(struct msghdr *mh, int family, struct net_dgram *d)
{
	memset(&d->local, 0, sizeof(d->local));
	d->ifindex = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (family == AF_INET && c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			d->local.in.sin_family = AF_INET;
			d->local.in.sin_addr = pi.ipi_addr;
			d->ifindex = pi.ipi_ifindex;
		} else if (family == AF_INET6 && c->cmsg_level == IPPROTO_IPV6 &&
			   c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			d->local.in6.sin6_family = AF_INET6;
			d->local.in6.sin6_addr = pi.ipi6_addr;
			d->ifindex = (int)pi.ipi6_ifindex;
		}
	}
}

ssize_t net_recv(const struct net_sock *s, uint8_t *buf, size_t cap, struct net_dgram *ret)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
		struct cmsghdr align;
	} ctrl;
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr mh = {
		.msg_name = &ret->from,
		.msg_namelen = sizeof(ret->from),
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctrl.buf,
		.msg_controllen = sizeof(ctrl.buf),
	};
	ssize_t n;

	memset(&ret->from, 0, sizeof(ret->from));
	n = recvmsg(s->fd, &mh, MSG_DONTWAIT);
	if (n < 0)
		return -errno;
	if (mh.msg_flags & MSG_TRUNC)
		return -EBADMSG;
	read_pktinfo(&mh, s->family, ret);
	if (ret->local.sa.sa_family == AF_INET)
		ret->local.in.sin_port = htons(s->port);
	else if (ret->local.sa.sa_family == AF_INET6)
		ret->local.in6.sin6_port = htons(s->port);
	if (!s->natt)
		return n;
	/* RFC 3948 §2.2/§2.3: IKE follows four zero bytes; a lone 0xff is a keepalive. */
	if ((size_t)n < sizeof(non_esp_marker) || memcmp(buf, non_esp_marker, 4) != 0)
		return -EBADMSG;
	memmove(buf, buf + 4, (size_t)n - 4);
	return n - 4;
}

static int send_iov(const struct net_sock *s, struct iovec *iov, size_t iovlen,
		    const union net_addr *to, const union net_addr *local)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
		struct cmsghdr align;
	} ctrl;
	struct msghdr mh = {
		.msg_name = (void *)&to->sa,
		.msg_namelen = net_addr_len(to),
		.msg_iov = iov,
		.msg_iovlen = iovlen,
	};

	memset(&ctrl, 0, sizeof(ctrl));
	if (local && local->sa.sa_family == AF_INET && s->family == AF_INET) {
		struct in_pktinfo pi = { .ipi_spec_dst = local->in.sin_addr };
		struct cmsghdr *c;

		mh.msg_control = ctrl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(pi));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
	} else if (local && local->sa.sa_family == AF_INET6 && s->family == AF_INET6) {
		struct in6_pktinfo pi = { .ipi6_addr = local->in6.sin6_addr };
		struct cmsghdr *c;

		mh.msg_control = ctrl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(pi));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = IPPROTO_IPV6;
		c->cmsg_type = IPV6_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
	}
	if (sendmsg(s->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		return -errno;
	return 0;
}

int net_send(const struct net_sock *s, const uint8_t *msg, size_t len, const union net_addr *to,
	     const union net_addr *local)
{
	struct iovec iov[2] = {
		{ .iov_base = (void *)non_esp_marker, .iov_len = sizeof(non_esp_marker) },
		{ .iov_base = (void *)msg, .iov_len = len },
	};

	return s->natt ? send_iov(s, iov, 2, to, local) : send_iov(s, iov + 1, 1, to, local);
}

int net_send_keepalive(const struct net_sock *s, const union net_addr *to,
		       const union net_addr *local)
{
	uint8_t ff = 0xff;
	struct iovec iov = { .iov_base = &ff, .iov_len = 1 };

	if (!s->natt)
		return -EINVAL;
	return send_iov(s, &iov, 1, to, local);
}

