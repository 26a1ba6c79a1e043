/*
 * Real ESP through lib/xfrm, for the VM suite (a kernel with ESP; test/vm/run-suite).
 * Three hosts in network namespaces: a branch (ikdv-a: LAN 10.1.0.1) and two gateways (POPs)
 * that serve the same LAN 10.2.0.1, ikdv-b (192.0.2.2, reached from 192.0.2.1) and ikdv-c
 * (198.51.100.2, reached from 198.51.100.1), each on its own veth pair. Each scenario
 * installs SAs and policies with lib/xfrm only, sends pings, and asserts on what arrived and
 * on the SA counters the kernel reports back through lib/xfrm.
 *
 *   vm_esp SCENARIO...    scenarios: suites natt ifid mark updpolicy block
 * Exit 0 when every scenario passed; each prints one line with its result and time.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ikd/net.h"
#include "xfrm/xfrm.h"

static struct xfrm_sock xa, xb, xc;	/* one netlink socket inside each namespace */
static int failures;

#define CHECK(cond, ...) do { if (!(cond)) { fprintf(stderr, "  FAIL %s:%d: ", __FILE__, \
	__LINE__); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); failures++; return -1; } } while (0)

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd) == 0 ? 0 : -1;
}

/* Run fn inside namespace ns (sockets opened there stay there). */
static int in_ns(const char *ns, int (*fn)(void *), void *arg)
{
	char path[64];
	int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), fd, rc;

	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (self < 0 || fd < 0 || setns(fd, CLONE_NEWNET) < 0)
		return -errno;
	rc = fn(arg);
	if (setns(self, CLONE_NEWNET) < 0)
		abort();
	close(self);
	close(fd);
	return rc;
}

static int open_xfrm(void *arg)
{
	return xfrm_open(arg);
}

static void addr(struct xfrm_addr *a, const char *text)
{
	if (xfrm_addr_parse(text, a) < 0)
		abort();
}

static int setup_hosts(void)
{
	sh("for n in a b c; do ip netns del ikdv-$n 2>/dev/null; done; true");
	if (sh("ip netns add ikdv-a && ip netns add ikdv-b && ip netns add ikdv-c && "
	       "ip link add ikdv0 netns ikdv-a type veth peer name ikdv1 netns ikdv-b && "
	       "ip link add ikdv2 netns ikdv-a type veth peer name ikdv3 netns ikdv-c && "
	       "ip -n ikdv-a addr add 192.0.2.1/24 dev ikdv0 && "
	       "ip -n ikdv-a addr add 198.51.100.1/24 dev ikdv2 && "
	       "ip -n ikdv-b addr add 192.0.2.2/24 dev ikdv1 && "
	       "ip -n ikdv-c addr add 198.51.100.2/24 dev ikdv3 && "
	       "for l in a:ikdv0 a:ikdv2 b:ikdv1 c:ikdv3 a:lo b:lo c:lo; do "
	       "ip -n ikdv-${l%%:*} link set ${l#*:} up || exit 1; done && "
	       "ip -n ikdv-a addr add 10.1.0.1/32 dev lo && "
	       "ip -n ikdv-b addr add 10.2.0.1/32 dev lo && ip -n ikdv-c addr add 10.2.0.1/32 dev lo && "
	       "ip -n ikdv-a route add 10.2.0.0/24 dev ikdv0 src 10.1.0.1 && "
	       "ip -n ikdv-b route add 10.1.0.0/24 dev ikdv1 src 10.2.0.1 && "
	       "ip -n ikdv-c route add 10.1.0.0/24 dev ikdv3 src 10.2.0.1") < 0)
		return -1;
	if (in_ns("ikdv-a", open_xfrm, &xa) < 0 || in_ns("ikdv-b", open_xfrm, &xb) < 0 ||
	    in_ns("ikdv-c", open_xfrm, &xc) < 0)
		return -1;
	return 0;
}

/*
 * One tunnel: the SA pair between local (192.0.2.1 unless set) and gw, installed on the branch
 * and on the gateway (ikdv-b unless peer is set), SPIs spi and spi + 1.
 */
struct tunnel {
	const char *local;
	struct xfrm_sock *peer;
	const char *gw;
	uint32_t spi, reqid, if_id, mark;
	uint16_t encap;			/* NAT-T port, 0 for plain ESP */
	struct xfrm_alg encr, integ, aead;
};

static const char *local_of(const struct tunnel *t)
{
	return t->local ? t->local : "192.0.2.1";
}

static struct xfrm_sock *peer_of(const struct tunnel *t)
{
	return t->peer ? t->peer : &xb;
}

static void sa_pair(const struct tunnel *t, struct xfrm_sa *out, struct xfrm_sa *in)
{
	struct xfrm_sa base = { .proto = IPPROTO_ESP, .mode = XFRM_MODE_TUNNEL, .reqid = t->reqid,
				.replay_window = 32, .if_id = t->if_id,
				.encap_sport = t->encap, .encap_dport = t->encap };

	if (t->aead.name)
		base.aead = t->aead;
	else {
		base.encr = t->encr;
		base.integ = t->integ;
	}
	*out = base;
	*in = base;
	addr(&out->src, local_of(t));
	addr(&out->dst, t->gw);
	out->spi = t->spi;
	addr(&in->src, t->gw);
	addr(&in->dst, local_of(t));
	in->spi = t->spi + 1;
}

static int install_sas(const struct tunnel *t)
{
	struct xfrm_sa out, in;
	struct xfrm_err e;

	sa_pair(t, &out, &in);
	/* Both hosts hold both SAs: each sends on one and receives on the other. */
	CHECK(xfrm_sa_add(&xa, &out, false, &e) == 0, "SA add: %d %s", e.code, e.msg);
	CHECK(xfrm_sa_add(&xa, &in, false, &e) == 0, "SA add: %d %s", e.code, e.msg);
	CHECK(xfrm_sa_add(peer_of(t), &out, false, &e) == 0, "SA add: %d %s", e.code, e.msg);
	CHECK(xfrm_sa_add(peer_of(t), &in, false, &e) == 0, "SA add: %d %s", e.code, e.msg);
	return 0;
}

static void remove_sas(const struct tunnel *t)
{
	struct xfrm_sa out, in;

	sa_pair(t, &out, &in);
	xfrm_sa_delete(&xa, &out.dst, out.spi, IPPROTO_ESP, 0, 0, NULL);
	xfrm_sa_delete(&xa, &in.dst, in.spi, IPPROTO_ESP, 0, 0, NULL);
	xfrm_sa_delete(peer_of(t), &out.dst, out.spi, IPPROTO_ESP, 0, 0, NULL);
	xfrm_sa_delete(peer_of(t), &in.dst, in.spi, IPPROTO_ESP, 0, 0, NULL);
}

/*
 * A policy between the LANs, on the branch or on the gateway. The branch's inbound and forward
 * policies take ESP from any of the site's tunnels: their template leaves the tunnel source
 * open (the kernel matches only a set template source) and names the site's reqid, because
 * one selector can hold only one policy per direction.
 */
static struct xfrm_policy lan_policy(bool branch, uint8_t dir, const struct tunnel *t)
{
	bool a_to_b = branch == (dir == XFRM_POLICY_OUT);
	struct xfrm_policy p = { .dir = dir, .action = XFRM_POLICY_ALLOW, .priority = 100,
				 .if_id = t->if_id, .n_tmpls = 1 };

	addr(&p.sel.src, a_to_b ? "10.1.0.0" : "10.2.0.0");
	addr(&p.sel.dst, a_to_b ? "10.2.0.0" : "10.1.0.0");
	p.sel.src_plen = p.sel.dst_plen = 24;
	if (t->mark && branch && dir == XFRM_POLICY_OUT) {
		p.mark = t->mark;
		p.mark_mask = 0xffffffff;
	}
	p.tmpl[0].proto = IPPROTO_ESP;
	p.tmpl[0].mode = XFRM_MODE_TUNNEL;
	p.tmpl[0].reqid = t->reqid;
	addr(&p.tmpl[0].src, a_to_b ? local_of(t) : t->gw);
	addr(&p.tmpl[0].dst, a_to_b ? t->gw : local_of(t));
	if (branch && dir != XFRM_POLICY_OUT)
		memset(&p.tmpl[0].src.a, 0, sizeof(p.tmpl[0].src.a));
	return p;
}

static int install_policies(const struct tunnel *t)
{
	static const uint8_t dirs[] = { XFRM_POLICY_OUT, XFRM_POLICY_IN, XFRM_POLICY_FWD };
	struct xfrm_err e;

	for (int i = 0; i < 3; i++) {
		struct xfrm_policy pa = lan_policy(true, dirs[i], t), pb = lan_policy(false, dirs[i], t);

		CHECK(xfrm_policy_add(&xa, &pa, true, &e) == 0, "policy a: %d %s", e.code, e.msg);
		CHECK(xfrm_policy_add(peer_of(t), &pb, true, &e) == 0, "policy b: %d %s", e.code,
		      e.msg);
	}
	return 0;
}

static void remove_policies(const struct tunnel *t)
{
	static const uint8_t dirs[] = { XFRM_POLICY_OUT, XFRM_POLICY_IN, XFRM_POLICY_FWD };

	for (int i = 0; i < 3; i++) {
		struct xfrm_policy pa = lan_policy(true, dirs[i], t), pb = lan_policy(false, dirs[i], t);

		xfrm_policy_delete(&xa, &pa, NULL);
		xfrm_policy_delete(peer_of(t), &pb, NULL);
	}
}

/* Pings from the branch LAN to the gateway LAN; returns how many replies came back. */
static int ping(int count, const char *extra)
{
	char cmd[256];
	FILE *f;
	int sent = 0, received = 0;
	char line[256];

	snprintf(cmd, sizeof(cmd), "ip netns exec ikdv-a ping -n -q -c %d -i 0.2 -W 2 %s "
		 "-I 10.1.0.1 10.2.0.1 2>&1", count, extra ? extra : "");
	f = popen(cmd, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%d packets transmitted, %d received", &sent, &received) == 2)
			break;
	pclose(f);
	return received;
}

static uint64_t sa_bytes(struct xfrm_sock *s, const char *dst, uint32_t spi, uint64_t *packets)
{
	struct xfrm_addr d;
	struct xfrm_sa_stats st;

	addr(&d, dst);
	if (xfrm_sa_get(s, &d, spi, IPPROTO_ESP, 0, 0, &st, NULL) < 0)
		return 0;
	if (packets)
		*packets = st.packets;
	return st.bytes;
}

static const uint8_t key[64] = {
	0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc,
	0xfe, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee,
	0xff, 0x00, 0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4, 0xc3,
	0xd2, 0xe1, 0xf0, 0x13, 0x57, 0x9b, 0xdf, 0x24, 0x68, 0xac, 0xe0, 0x31, 0x75, 0xb9, 0xfd,
	0x42, 0x86, 0xca, 0x0e,
};

/* Every Child SA suite the seeds list. */
static int scenario_suites(void)
{
	static const struct {
		const char *name;
		struct xfrm_alg encr, integ, aead;
	} suites[] = {
#define CBC(bits) { "cbc(aes)", key, (bits) / 8, 0 }
#define HMAC(h, klen, icv) { "hmac(" h ")", key, klen, icv }
		{ "aes128-sha1", CBC(128), HMAC("sha1", 20, 96), { 0 } },
		{ "aes128-sha256", CBC(128), HMAC("sha256", 32, 128), { 0 } },
		{ "aes128-sha384", CBC(128), HMAC("sha384", 48, 192), { 0 } },
		{ "aes128-sha512", CBC(128), HMAC("sha512", 64, 256), { 0 } },
		{ "aes256-sha1", CBC(256), HMAC("sha1", 20, 96), { 0 } },
		{ "aes256-sha256", CBC(256), HMAC("sha256", 32, 128), { 0 } },
		{ "aes256-sha384", CBC(256), HMAC("sha384", 48, 192), { 0 } },
		{ "aes256-sha512", CBC(256), HMAC("sha512", 64, 256), { 0 } },
		{ "aes128gcm16", { 0 }, { 0 }, { "rfc4106(gcm(aes))", key, 20, 128 } },
		{ "aes192gcm16", { 0 }, { 0 }, { "rfc4106(gcm(aes))", key, 28, 128 } },
		{ "aes256gcm16", { 0 }, { 0 }, { "rfc4106(gcm(aes))", key, 36, 128 } },
		{ "null-sha256", { "ecb(cipher_null)", key, 0, 0 }, HMAC("sha256", 32, 128), { 0 } },
	};
	int bad = 0;

	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
		struct tunnel t = { .gw = "192.0.2.2", .spi = 0x1000 + 16 * (uint32_t)i, .reqid = 1,
				    .encr = suites[i].encr, .integ = suites[i].integ,
				    .aead = suites[i].aead };
		uint64_t out_pkts = 0, in_pkts = 0, out_bytes, in_bytes;
		int got;

		if (install_sas(&t) < 0 || install_policies(&t) < 0) {
			bad++;
			continue;
		}
		got = ping(3, NULL);
		out_bytes = sa_bytes(&xa, t.gw, t.spi, &out_pkts);
		in_bytes = sa_bytes(&xb, t.gw, t.spi, &in_pkts);
		printf("  %-14s ping %d/3, branch SA out %llu bytes %llu packets, gateway SA in %llu "
		       "bytes\n", suites[i].name, got, (unsigned long long)out_bytes,
		       (unsigned long long)out_pkts, (unsigned long long)in_bytes);
		if (got != 3 || out_pkts < 3 || in_pkts < 3 || in_bytes == 0) {
			fprintf(stderr, "  FAIL suite %s\n", suites[i].name);
			failures++;
			bad++;
		}
		remove_policies(&t);
		remove_sas(&t);
	}
	return bad ? -1 : 0;
}

static struct net_sock natt_a, natt_b;

static int open_natt_a(void *arg)
{
	(void)arg;
	return net_sock_open(&natt_a, AF_INET, NULL, 4500, true, 0);
}

static int open_natt_b(void *arg)
{
	(void)arg;
	return net_sock_open(&natt_b, AF_INET, NULL, 4500, true, 0);
}

/* ESP in UDP 4500 (RFC 3948), received through ikd's own NAT-T sockets. */
static int scenario_natt(void)
{
	struct tunnel t = { .gw = "192.0.2.2", .spi = 0x4500, .reqid = 2, .encap = 4500,
			    .aead = { "rfc4106(gcm(aes))", key, 36, 128 } };
	uint64_t pkts = 0;
	int got, rc = 0;

	CHECK(in_ns("ikdv-a", open_natt_a, NULL) == 0, "NAT-T socket a");
	CHECK(in_ns("ikdv-b", open_natt_b, NULL) == 0, "NAT-T socket b");
	if (install_sas(&t) < 0 || install_policies(&t) < 0)
		return -1;
	got = ping(3, NULL);
	sa_bytes(&xb, t.gw, t.spi, &pkts);
	printf("  natt: ping %d/3, gateway SA in %llu packets; state: ", got, (unsigned long long)pkts);
	fflush(stdout);
	sh("ip -n ikdv-a xfrm state | grep -m1 -o 'encap type espinudp sport 4500 dport 4500'");
	if (got != 3 || pkts < 3 ||
	    sh("ip -n ikdv-a xfrm state | grep -q 'encap type espinudp sport 4500 dport 4500'") < 0) {
		fprintf(stderr, "  FAIL natt\n");
		failures++;
		rc = -1;
	}
	remove_policies(&t);
	remove_sas(&t);
	net_sock_close(&natt_a);
	net_sock_close(&natt_b);
	return rc;
}

static int make_xfrm_links(void *arg)
{
	struct xfrm_err e;
	int rc = xfrm_link_add("ikdx7", 0, 7, &e);

	(void)arg;
	if (rc < 0)
		fprintf(stderr, "  xfrm_link_add: %d %s\n", rc, e.msg);
	return rc;
}

static int del_xfrm_links(void *arg)
{
	(void)arg;
	return xfrm_link_del("ikdx7", NULL);
}

/* Route-based: xfrm interfaces with if_id 7 (made by lib/xfrm); traffic routed into them. */
static int scenario_ifid(void)
{
	struct tunnel t = { .gw = "192.0.2.2", .spi = 0x7000, .reqid = 3, .if_id = 7,
			    .aead = { "rfc4106(gcm(aes))", key, 20, 128 } };
	uint64_t pkts = 0;
	int got;

	CHECK(in_ns("ikdv-a", make_xfrm_links, NULL) == 0 &&
	      in_ns("ikdv-b", make_xfrm_links, NULL) == 0, "xfrm interfaces");
	CHECK(sh("ip -n ikdv-a route replace 10.2.0.0/24 dev ikdx7 src 10.1.0.1 && "
		 "ip -n ikdv-b route replace 10.1.0.0/24 dev ikdx7 src 10.2.0.1") == 0,
	      "routes into the xfrm interfaces");
	if (install_sas(&t) < 0 || install_policies(&t) < 0)
		return -1;
	got = ping(3, NULL);
	sa_bytes(&xa, t.gw, t.spi, &pkts);
	printf("  ifid: ping %d/3 through ikdx7, branch SA out %llu packets\n", got,
	       (unsigned long long)pkts);
	remove_policies(&t);
	remove_sas(&t);
	in_ns("ikdv-a", del_xfrm_links, NULL);
	in_ns("ikdv-b", del_xfrm_links, NULL);
	sh("ip -n ikdv-a route replace 10.2.0.0/24 dev ikdv0 src 10.1.0.1; "
	   "ip -n ikdv-b route replace 10.1.0.0/24 dev ikdv1 src 10.2.0.1");
	CHECK(got == 3 && pkts >= 3, "if_id tunnel carried %d/3 pings, %llu packets", got,
	      (unsigned long long)pkts);
	return 0;
}

/*
 * Steering by fwmark: an nftables rule (route hook, as an engineer would write it) marks the
 * branch's 128-byte pings with 7; the outbound policy keyed by mark 7 takes only those.
 * Unmarked pings meet no policy, leave in clear and are refused by the gateway's inbound policy.
 */
static int scenario_mark(void)
{
	struct tunnel t = { .gw = "192.0.2.2", .spi = 0x7100, .reqid = 4, .mark = 7,
			    .aead = { "rfc4106(gcm(aes))", key, 20, 128 } };
	uint64_t before = 0, after = 0;
	int marked, unmarked, so_mark;

	CHECK(sh("ip netns exec ikdv-a nft -f - <<'NFT'\n"
		 "table inet ikdt {\n"
		 "  chain out { type route hook output priority mangle;\n"
		 "    ip daddr 10.2.0.0/24 ip length 128 meta mark set 7\n  }\n"
		 "}\n"
		 "NFT") == 0, "nftables rule");
	if (install_sas(&t) < 0 || install_policies(&t) < 0)
		return -1;
	marked = ping(3, "-s 100");		/* 100 + 8 + 20 = 128 bytes: marked by the rule */
	sa_bytes(&xa, t.gw, t.spi, &before);
	unmarked = ping(2, NULL);		/* 84 bytes: not marked */
	sa_bytes(&xa, t.gw, t.spi, &after);
	sh("ip netns exec ikdv-a nft delete table inet ikdt");
	so_mark = ping(2, "-m 7");		/* a socket mark (SO_MARK) selects it too */
	printf("  mark: nft-marked ping %d/3 (SA %llu packets), unmarked ping %d/2 (SA %llu "
	       "packets), SO_MARK ping %d/2\n", marked, (unsigned long long)before, unmarked,
	       (unsigned long long)after, so_mark);
	remove_policies(&t);
	remove_sas(&t);
	CHECK(marked == 3 && before >= 3, "marked traffic not through the SA");
	CHECK(unmarked == 0 && after == before, "unmarked traffic used the SA or got through");
	CHECK(so_mark == 2, "SO_MARK traffic not through the SA");
	return 0;
}

/*
 * Failover: a running ping moves from the tunnel to POP b to the tunnel to POP c by one
 * UPDPOLICY of the branch's outbound policy; its inbound policy accepts both tunnels.
 */
static int scenario_updpolicy(void)
{
	struct tunnel t1 = { .gw = "192.0.2.2", .spi = 0x8000, .reqid = 5,
			     .aead = { "rfc4106(gcm(aes))", key, 20, 128 } };
	struct tunnel t2 = t1;
	struct xfrm_policy out;
	struct xfrm_err e;
	uint64_t p1 = 0, p2 = 0, p1_after = 0, p2_in = 0;
	char line[256];
	int sent = 0, received = 0;
	FILE *f;

	t2.local = "198.51.100.1";
	t2.gw = "198.51.100.2";
	t2.peer = &xc;
	t2.spi = 0x8100;
	if (install_sas(&t1) < 0 || install_sas(&t2) < 0 || install_policies(&t1) < 0)
		return -1;
	/* POP c's own policies (the branch's are shared with t1). */
	{
		static const uint8_t dirs[] = { XFRM_POLICY_OUT, XFRM_POLICY_IN, XFRM_POLICY_FWD };

		for (int i = 0; i < 3; i++) {
			struct xfrm_policy pc = lan_policy(false, dirs[i], &t2);

			CHECK(xfrm_policy_add(&xc, &pc, false, &e) == 0, "policy c: %s", e.msg);
		}
	}
	f = popen("ip netns exec ikdv-a ping -n -q -c 30 -i 0.1 -W 2 -I 10.1.0.1 10.2.0.1 2>&1", "r");
	CHECK(f != NULL, "ping");
	/* Until tunnel b has carried a few pings (a loaded machine starts ping late). */
	for (int i = 0; i < 50; i++) {
		usleep(100 * 1000);
		sa_bytes(&xa, t1.gw, t1.spi, &p1);
		if (p1 >= 6)
			break;
	}
	out = lan_policy(true, XFRM_POLICY_OUT, &t2);
	CHECK(xfrm_policy_add(&xa, &out, true, &e) == 0, "UPDPOLICY: %d %s", e.code, e.msg);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%d packets transmitted, %d received", &sent, &received) == 2)
			break;
	pclose(f);
	sa_bytes(&xa, t1.gw, t1.spi, &p1_after);
	sa_bytes(&xa, t2.gw, t2.spi, &p2);
	/* Replies from POP c came in on its SA and passed the branch's inbound policy. */
	sa_bytes(&xa, local_of(&t2), t2.spi + 1, &p2_in);
	printf("  updpolicy: ping %d/%d; tunnel b %llu packets before the switch, %llu after; "
	       "tunnel c %llu out, %llu in\n", received, sent, (unsigned long long)p1,
	       (unsigned long long)p1_after, (unsigned long long)p2, (unsigned long long)p2_in);
	remove_policies(&t1);
	for (int i = XFRM_POLICY_IN; i <= XFRM_POLICY_FWD; i++) {
		struct xfrm_policy pc = lan_policy(false, (uint8_t)i, &t2);

		xfrm_policy_delete(&xc, &pc, NULL);
	}
	remove_sas(&t1);
	remove_sas(&t2);
	CHECK(p1 >= 5 && p2 >= 5 && p2_in >= 5, "traffic did not move between tunnels");
	CHECK(p1_after <= p1 + 1, "tunnel b kept carrying after the switch");
	CHECK(sent == 30 && received >= sent - 1, "lost %d of %d pings in the switch",
	      sent - received, sent);
	return 0;
}

/* Fail-closed: a block policy drops marked traffic instead of sending it in clear. */
static int scenario_block(void)
{
	struct tunnel t = { .gw = "192.0.2.2", .spi = 0x9000, .reqid = 7,
			    .aead = { "rfc4106(gcm(aes))", key, 20, 128 } };
	struct xfrm_policy out;
	struct xfrm_err e;
	int before, after;

	if (install_sas(&t) < 0 || install_policies(&t) < 0)
		return -1;
	before = ping(2, NULL);
	out = lan_policy(true, XFRM_POLICY_OUT, &t);
	out.action = XFRM_POLICY_BLOCK;
	out.n_tmpls = 0;
	CHECK(xfrm_policy_add(&xa, &out, true, &e) == 0, "block: %d %s", e.code, e.msg);
	after = ping(2, NULL);
	printf("  block: ping %d/2 with the tunnel, %d/2 with the block policy\n", before, after);
	remove_policies(&t);
	remove_sas(&t);
	CHECK(before == 2 && after == 0, "block policy did not drop");
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(void);
} scenarios[] = {
	{ "suites", scenario_suites }, { "natt", scenario_natt }, { "ifid", scenario_ifid },
	{ "mark", scenario_mark }, { "updpolicy", scenario_updpolicy }, { "block", scenario_block },
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (setup_hosts() < 0) {
		fprintf(stderr, "vm_esp: cannot set up the namespaces\n");
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		size_t j;

		for (j = 0; j < sizeof(scenarios) / sizeof(scenarios[0]); j++) {
			if (strcmp(argv[i], scenarios[j].name) == 0) {
				double t0 = now_s();
				int before = failures;
				int rc = scenarios[j].fn();

				printf("scenario %-10s %s (%.1f s)\n", argv[i],
				       rc == 0 && failures == before ? "PASS" : "FAIL", now_s() - t0);
				if (rc < 0 && failures == before)
					failures++;
				fflush(stdout);
				break;
			}
		}
		if (j == sizeof(scenarios) / sizeof(scenarios[0])) {
			fprintf(stderr, "vm_esp: no scenario '%s'\n", argv[i]);
			return 2;
		}
	}
	xfrm_close(&xa);
	xfrm_close(&xb);
	xfrm_close(&xc);
	sh("for n in a b c; do ip netns del ikdv-$n; done");
	return failures ? 1 : 0;
}
