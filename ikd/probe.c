/*
 * The ICMP probe (ikd.conf(5) `probe`): an echo request to each POP's probe IP through that
 * POP's own tunnel, with every liveness check, so a data path that carries nothing while
 * IKE still answers is seen (DESIGN.md, the seeds: "ICMP keepalive probing and DPD").
 *
 * Each tunnel's echoes carry a mark of their own (SO_MARK) and a policy of ikd's matches only
 * that mark, the probe source and the probe IP, and points at that tunnel's SA: a backup POP
 * is probed through its own SA while traffic goes to the active one, and two POPs that share
 * a probe IP are told apart. The raw sockets are opened at start-up, before capabilities are
 * dropped (CAP_NET_RAW is not kept); replies are matched by identifier, sequence, source and a
 * random token (lib/probe/icmp.c parses them).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "glue.h"
#include "log.h"
#include "probe/icmp.h"

#define PROBE_IDS 65536u

static void on_probe(struct loop *l, struct loop_fd *f, uint32_t events);

void probe_open(struct ikd *d)
{
	static const int fams[2] = { AF_INET, AF_INET6 };

	daemon_of(d)->probe_fd[0] = daemon_of(d)->probe_fd[1] = -1;
	if (d->conf.role != CONF_ROLE_INITIATOR || !d->conf.probe)
		return;
	randombytes_buf(daemon_of(d)->probe_token, sizeof(daemon_of(d)->probe_token));
	for (size_t i = 0; i < 2; i++) {
		int fd = socket(fams[i], SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
				fams[i] == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6);

		if (fd < 0) {
			log_warn("no ICMP%s probes: %s", i ? "v6" : "", strerror(errno));
			continue;
		}
		if (fams[i] == AF_INET6) {
			struct icmp6_filter flt;

			ICMP6_FILTER_SETBLOCKALL(&flt);
			ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &flt);
			setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &flt, sizeof(flt));
		}
		if (loop_add(&daemon_of(d)->loop, &daemon_of(d)->probe_lfd[i], fd, EPOLLIN, on_probe, d) < 0) {
			close(fd);
			continue;
		}
		daemon_of(d)->probe_fd[i] = fd;
	}
}

void probe_close(struct ikd *d)
{
	for (size_t i = 0; i < 2; i++)
		if (daemon_of(d)->probe_fd[i] >= 0) {
			loop_del(&daemon_of(d)->loop, &daemon_of(d)->probe_lfd[i]);
			close(daemon_of(d)->probe_fd[i]);
			daemon_of(d)->probe_fd[i] = -1;
		}
	free(daemon_of(d)->probe_ids);
	daemon_of(d)->probe_ids = NULL;
}

static bool addr_in(const struct xfrm_addr *a, const struct xfrm_addr *net, uint8_t plen)
{
	const uint8_t *x = (const uint8_t *)&a->a, *y = (const uint8_t *)&net->a;

	if (a->family != net->family)
		return false;
	for (unsigned i = 0; i < plen; i++)
		if ((x[i / 8] ^ y[i / 8]) & (0x80 >> (i % 8)))
			return false;
	return true;
}

static bool cidrs_cover(const char *const *cidrs, size_t n,
			const struct xfrm_addr *a)
{
	for (size_t i = 0; i < n; i++) {
		struct xfrm_addr net;
		uint8_t plen;

		if (kernel_cidr_parse(cidrs[i], &net, &plen) == 0 && addr_in(a, &net, plen))
			return true;
	}
	return false;
}

/*
 * The echo's source: an address of this router inside the site's local selectors, one that
 * is not the IKE address when there is another (a LAN address, as the site's traffic has).
 */
static int probe_source(const struct tunnel *t, const struct site *s, int fam,
			union net_addr *ret)
{
	struct ifaddrs *ifa, *i;
	struct xfrm_addr wan;
	bool found = false;

	if (getifaddrs(&ifa) < 0)
		return -errno;
	kernel_addr(&t->local, &wan);
	for (i = ifa; i; i = i->ifa_next) {
		union net_addr a;
		struct xfrm_addr x;

		if (!i->ifa_addr || i->ifa_addr->sa_family != fam || !(i->ifa_flags & IFF_UP))
			continue;
		memset(&a, 0, sizeof(a));
		memcpy(&a, i->ifa_addr, fam == AF_INET ? sizeof(a.in) : sizeof(a.in6));
		/* Loopback addresses never leave; an address on lo (a /32 of the LAN) may. */
		if (fam == AF_INET ? (ntohl(a.in.sin_addr.s_addr) >> 24) == 127 :
		    IN6_IS_ADDR_LOOPBACK(&a.in6.sin6_addr) || IN6_IS_ADDR_LINKLOCAL(&a.in6.sin6_addr))
			continue;
		kernel_addr(&a, &x);
		if (!cidrs_cover(s->local_ts, s->n_local_ts, &x))
			continue;
		/* The first one found; then the first that is not the IKE address, if any. */
		if (!found || memcmp(&x.a, &wan.a, sizeof(x.a))) {
			*ret = a;
			found = true;
			if (memcmp(&x.a, &wan.a, sizeof(x.a)))
				break;
		}
	}
	freeifaddrs(ifa);
	return found ? 0 : -ENOENT;
}

static int id_alloc(struct ikd *d, struct tunnel *t, uint16_t *ret)
{
	if (!daemon_of(d)->probe_ids) {
		daemon_of(d)->probe_ids = calloc(PROBE_IDS, sizeof(*daemon_of(d)->probe_ids));
		if (!daemon_of(d)->probe_ids)
			return -ENOMEM;
	}
	for (uint32_t n = 0; n < PROBE_IDS; n++) {
		uint16_t id = (uint16_t)(daemon_of(d)->probe_next + n);

		if (id && !daemon_of(d)->probe_ids[id]) {
			daemon_of(d)->probe_ids[id] = t;
			daemon_of(d)->probe_next = (uint16_t)(id + 1);
			*ret = id;
			return 0;
		}
	}
	return -ENOSPC;
}

int probe_start(struct tunnel *t, const struct site *s, const struct pop *p, char *why,
		size_t why_len)
{
	struct ikd *d = t->d;
	struct tun_probe *pr;
	struct xfrm_addr dst;
	int fam, rc;

	why[0] = '\0';
	if (t->probe || !p || !p->probe_ip[0] || (daemon_of(d)->probe_fd[0] < 0 && daemon_of(d)->probe_fd[1] < 0))
		return -ENOENT;
	/*
	 * A route-based site's SAs carry its if_id and are reached only through its xfrm
	 * interface, which the engineer makes (or not yet): DPD alone watches those tunnels.
	 */
	if (s->if_id)
		return snprintf(why, why_len, "the site is route-based (if-id %u): DPD only",
				s->if_id), -EOPNOTSUPP;
	if (xfrm_addr_parse(p->probe_ip, &dst) < 0)
		return snprintf(why, why_len, "probe-ip %s is not an address", p->probe_ip),
		       -EINVAL;
	fam = dst.family;
	if (daemon_of(d)->probe_fd[fam == AF_INET ? 0 : 1] < 0)
		return snprintf(why, why_len, "no ICMP%s socket", fam == AF_INET ? "" : "v6"),
		       -ENOENT;
	if (!cidrs_cover(s->remote_ts, s->n_remote_ts, &dst))
		return snprintf(why, why_len, "probe-ip %s is outside the site's remote-ts",
				p->probe_ip), -EINVAL;
	pr = calloc(1, sizeof(*pr));
	if (!pr)
		return -ENOMEM;
	rc = probe_source(t, s, fam, &pr->src);
	if (rc < 0) {
		free(pr);
		return snprintf(why, why_len, "no address of this router inside the site's "
				"local-ts"), rc;
	}
	if (fam == AF_INET) {
		pr->dst.in.sin_family = AF_INET;
		memcpy(&pr->dst.in.sin_addr, &dst.a.a4, 4);
	} else {
		pr->dst.in6.sin6_family = AF_INET6;
		memcpy(&pr->dst.in6.sin6_addr, dst.a.a6, 16);
	}
	rc = id_alloc(d, t, &pr->id);
	if (rc < 0) {
		free(pr);
		return rc;
	}
	pr->mark = IKD_PROBE_MARK_BASE | pr->id;
	pr->seq = (uint16_t)randombytes_uniform(65536);
	t->probe = pr;
	rc = kernel_probe_policy(d, t, false);
	if (rc < 0) {
		probe_stop(t);
		return snprintf(why, why_len, "the kernel refused the probe's policy: %s",
				strerror(-rc)), rc;
	}
	return 0;
}

void probe_stop(struct tunnel *t)
{
	struct ikd *d = t->d;

	if (!t->probe)
		return;
	kernel_probe_policy(d, t, true);
	if (daemon_of(d)->probe_ids && daemon_of(d)->probe_ids[t->probe->id] == t)
		daemon_of(d)->probe_ids[t->probe->id] = NULL;
	free(t->probe);
	t->probe = NULL;
}

static void token_of(const struct ikd *d, const struct tun_probe *pr, uint8_t data[16])
{
	memcpy(data, daemon_of(d)->probe_token, 8);
	memcpy(data + 8, "ikdprobe", 8);
	data[6] ^= (uint8_t)(pr->seq >> 8);
	data[7] ^= (uint8_t)pr->seq;
}

int probe_send(struct tunnel *t)
{
	struct ikd *d = t->d;
	struct tun_probe *pr = t->probe;
	struct icmp_echo e;
	uint8_t buf[ICMP_ECHO_LEN];
	union {
		struct cmsghdr h;
		uint8_t b[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	} cm;
	struct iovec iov;
	struct msghdr mh;
	struct cmsghdr *c;
	bool v4;
	size_t len;
	int fd;

	if (!pr)
		return -ENOENT;
	v4 = pr->dst.sa.sa_family == AF_INET;
	fd = daemon_of(d)->probe_fd[v4 ? 0 : 1];
	pr->seq++;
	e.id = pr->id;
	e.seq = pr->seq;
	token_of(d, pr, e.data);
	if (icmp_echo_request(buf, sizeof(buf), !v4, &e, &len) < 0)
		return -EMSGSIZE;
	/* The mark takes the echo into this tunnel's probe policy, and only that one. */
	if (setsockopt(fd, SOL_SOCKET, SO_MARK, &pr->mark, sizeof(pr->mark)) < 0)
		return -errno;
	memset(&cm, 0, sizeof(cm));
	memset(&mh, 0, sizeof(mh));
	iov = (struct iovec){ buf, len };
	mh.msg_name = &pr->dst;
	mh.msg_namelen = v4 ? sizeof(pr->dst.in) : sizeof(pr->dst.in6);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.b;
	c = (struct cmsghdr *)cm.b;
	if (v4) {
		struct in_pktinfo pi = { .ipi_spec_dst = pr->src.in.sin_addr };

		mh.msg_controllen = CMSG_SPACE(sizeof(pi));
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
	} else {
		struct in6_pktinfo pi = { .ipi6_addr = pr->src.in6.sin6_addr };

		mh.msg_controllen = CMSG_SPACE(sizeof(pi));
		c->cmsg_level = IPPROTO_IPV6;
		c->cmsg_type = IPV6_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
	}
	pr->sent_ms = timer_now_ms();
	if (sendmsg(fd, &mh, 0) < 0)
		return -errno;	/* no SA yet (EAGAIN), a policy that blocks: counted as missed */
	return 0;
}

static void on_probe(struct loop *l, struct loop_fd *f, uint32_t events)
{
	struct ikd *d = f->arg;
	bool v6 = f == &daemon_of(d)->probe_lfd[1];

	(void)l;
	(void)events;
	for (int n = 0; n < 64; n++) {
		uint8_t buf[512], src4[4], data[16];
		union net_addr from;
		socklen_t flen = sizeof(from);
		struct icmp_echo e;
		struct tunnel *t;
		ssize_t r = recvfrom(f->fd, buf, sizeof(buf), 0, &from.sa, &flen);

		if (r < 0)
			return;
		if (icmp_echo_reply_parse(buf, (size_t)r, v6, &e, src4) < 0 || !daemon_of(d)->probe_ids)
			continue;
		t = daemon_of(d)->probe_ids[e.id];
		if (!t || !t->probe || e.seq != t->probe->seq)
			continue;
		token_of(d, t->probe, data);
		if (sodium_memcmp(data, e.data, sizeof(data)) != 0)
			continue;
		if (v6 ? memcmp(&from.in6.sin6_addr, &t->probe->dst.in6.sin6_addr, 16) :
			 memcmp(src4, &t->probe->dst.in.sin_addr, 4))
			continue;
		tunnel_probe_answered(t);
	}
}
