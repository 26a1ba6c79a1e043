/*
 * ikd/net.c in a private network namespace: IKE sockets must keep working when an IPsec
 * policy covers the gateways (the per-socket bypass), and the NAT-T socket must add and strip
 * the RFC 3948 non-ESP marker. Needs root (CAP_SYS_ADMIN for unshare); skipped otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <unistd.h>

#include "testutil.h"
#include "ikd/net.h"

static void sh(const char *cmd)
{
	int r = system(cmd);

	ck_assert_msg(r == 0, "'%s' exited %d", cmd, r);
}

static void setup_netns(void)
{
	ck_assert_int_eq(unshare(CLONE_NEWNET), 0);
	sh("ip link set lo up");
}

static char peer_ns[32];

/*
 * Loopback traffic never meets an XFRM output policy, so the bypass test needs a real link:
 * this process's private namespace (10.77.0.1) and a named peer namespace (10.77.0.2) on a
 * veth pair. Returns a socket opened inside the peer namespace.
 */
static void setup_veth_pair(void)
{
	char cmd[512];

	setup_netns();
	snprintf(peer_ns, sizeof(peer_ns), "ikdt-net-%d", (int)getpid());
	snprintf(cmd, sizeof(cmd), "ip netns add %s", peer_ns);
	sh(cmd);
	snprintf(cmd, sizeof(cmd), "ip link add ikdt0 type veth peer name ikdt1 netns %s &&"
		 " ip addr add 10.77.0.1/24 dev ikdt0 && ip link set ikdt0 up &&"
		 " ip -n %s addr add 10.77.0.2/24 dev ikdt1 && ip -n %s link set ikdt1 up",
		 peer_ns, peer_ns, peer_ns);
	sh(cmd);
}

static void teardown_veth_pair(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "ip netns del %s", peer_ns);
	sh(cmd);
}

/* Run net_sock_open() inside the peer namespace; the socket stays there. */
static int open_in_peer(struct net_sock *s, const char *addr, uint16_t port)
{
	char path[128];
	union net_addr a;
	int self, peer, r;

	snprintf(path, sizeof(path), "/run/netns/%s", peer_ns);
	self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	peer = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(self, 0);
	ck_assert_int_ge(peer, 0);
	ck_assert_int_eq(setns(peer, CLONE_NEWNET), 0);
	ck_assert_int_eq(net_addr_parse(addr, port, &a), 0);
	r = net_sock_open(s, AF_INET, &a, port, false, 0);
	ck_assert_int_eq(setns(self, CLONE_NEWNET), 0);
	close(self);
	close(peer);
	return r;
}

static ssize_t recv_wait(const struct net_sock *s, uint8_t *buf, size_t cap, struct net_dgram *d)
{
	struct pollfd p = { .fd = s->fd, .events = POLLIN };

	if (poll(&p, 1, 1000) != 1)
		return -ETIMEDOUT;
	return net_recv(s, buf, cap, d);
}

START_TEST(test_net_ike_socket_bypasses_a_policy_covering_the_peer)
{
	struct net_sock a, b;
	union net_addr to, local;
	struct net_dgram d;
	uint8_t buf[64];
	int plain;

	setup_veth_pair();
	/* Protect all UDP between the two hosts: without a bypass, IKE could not get through. */
	sh("ip xfrm policy add src 10.77.0.1/32 dst 10.77.0.2/32 proto udp dir out action block");
	sh("ip xfrm policy add src 10.77.0.2/32 dst 10.77.0.1/32 proto udp dir in action block");

	ck_assert_int_eq(net_sock_open(&a, AF_INET, NULL, 500, false, 0), 0);
	ck_assert_int_eq(open_in_peer(&b, "10.77.0.2", 500), 0);

	/* The policy is real: a plain socket is refused. */
	plain = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(plain, 0);
	ck_assert_int_eq(net_addr_parse("10.77.0.2", 500, &to), 0);
	ck_assert_int_lt(sendto(plain, "x", 1, 0, &to.sa, sizeof(to.in)), 0);
	ck_assert_int_eq(errno, EPERM);
	close(plain);

	ck_assert_int_eq(net_addr_parse("10.77.0.1", 0, &local), 0);
	ck_assert_int_eq(net_send(&a, (const uint8_t *)"hello", 5, &to, &local), 0);
	ck_assert_int_eq(recv_wait(&b, buf, sizeof(buf), &d), 5);
	ck_assert_mem_eq(buf, "hello", 5);
	ck_assert_int_eq(d.from.in.sin_addr.s_addr, htonl(0x0a4d0001));
	ck_assert_int_eq(ntohs(d.from.in.sin_port), 500);
	ck_assert_int_eq(d.local.sa.sa_family, AF_INET);
	ck_assert_int_eq(d.local.in.sin_addr.s_addr, htonl(0x0a4d0002));
	ck_assert_int_eq(ntohs(d.local.in.sin_port), 500);
	/* And back, from the address the request came to, through the inbound block. */
	ck_assert_int_eq(net_send(&b, (const uint8_t *)"reply", 5, &d.from, &d.local), 0);
	ck_assert_int_eq(recv_wait(&a, buf, sizeof(buf), &d), 5);
	ck_assert_mem_eq(buf, "reply", 5);
	net_sock_close(&a);
	net_sock_close(&b);
	teardown_veth_pair();
}
END_TEST

START_TEST(test_net_natt_socket_adds_and_strips_the_non_esp_marker)
{
	struct net_sock a, b;
	union net_addr to, lo;
	struct net_dgram d;
	uint8_t buf[64];
	int plain;

	setup_netns();
	ck_assert_int_eq(net_addr_parse("127.0.0.1", 4500, &lo), 0);
	ck_assert_int_eq(net_sock_open(&a, AF_INET, &lo, 4500, true, 0), 0);
	ck_assert_int_eq(net_addr_parse("127.0.0.1", 14500, &lo), 0);
	ck_assert_int_eq(net_sock_open(&b, AF_INET, &lo, 14500, true, 0), 0);
	ck_assert_int_eq(net_addr_parse("127.0.0.1", 4500, &to), 0);

	ck_assert_int_eq(net_send(&b, (const uint8_t *)"ike", 3, &to, NULL), 0);
	ck_assert_int_eq(recv_wait(&a, buf, sizeof(buf), &d), 3);
	ck_assert_mem_eq(buf, "ike", 3);

	/* On the wire the marker is there: a plain socket sees 4 zero bytes first. */
	plain = socket(AF_INET, SOCK_DGRAM, 0);
	ck_assert_int_ge(plain, 0);
	ck_assert_int_eq(net_addr_parse("127.0.0.1", 24500, &lo), 0);
	ck_assert_int_eq(bind(plain, &lo.sa, sizeof(lo.in)), 0);
	ck_assert_int_eq(net_send(&a, (const uint8_t *)"ike", 3, &lo, NULL), 0);
	ck_assert_int_eq(recv(plain, buf, sizeof(buf), 0), 7);
	ck_assert_mem_eq(buf, "\0\0\0\0ike", 7);

	/* A NAT keepalive (one 0xff byte) is consumed by the kernel; IKE after it still arrives. */
	ck_assert_int_eq(net_send_keepalive(&b, &to, NULL), 0);
	ck_assert_int_eq(net_send(&b, (const uint8_t *)"next", 4, &to, NULL), 0);
	ck_assert_int_eq(recv_wait(&a, buf, sizeof(buf), &d), 4);
	ck_assert_mem_eq(buf, "next", 4);
	ck_assert_int_eq(net_send_keepalive(&(struct net_sock){ .fd = -1, .natt = false }, &to, NULL),
			 -EINVAL);
	close(plain);
	net_sock_close(&a);
	net_sock_close(&b);
}
END_TEST

/*
 * An IKE socket's receive buffer: the size asked for, beyond net.core.rmem_max (ikd keeps
 * CAP_NET_ADMIN), so that every site of a restarted POP reconnecting at once finds room
 * (bench/storm.sh lost most of 10,000 sites at the default buffer); none asked: the default.
 */
START_TEST(test_net_socket_receive_buffer)
{
	struct net_sock a, b;
	union net_addr lo;

	setup_netns();
	ck_assert_int_eq(net_addr_parse("127.0.0.1", 0, &lo), 0);
	ck_assert_int_eq(net_sock_open(&a, AF_INET, &lo, 500, false, 16 << 20), 0);
	ck_assert_int_ge(net_sock_rcvbuf(&a), 16 << 20);
	ck_assert_int_eq(net_sock_open(&b, AF_INET, &lo, 4500, true, 0), 0);
	ck_assert_int_lt(net_sock_rcvbuf(&b), 16 << 20);
	net_sock_close(&a);
	net_sock_close(&b);
}
END_TEST

START_TEST(test_net_addr_text_forms)
{
	union net_addr a;
	char buf[64];

	ck_assert_int_eq(net_addr_parse("192.0.2.1", 500, &a), 0);
	ck_assert_str_eq(net_addr_str(&a, buf, sizeof(buf)), "192.0.2.1:500");
	ck_assert_int_eq(net_addr_parse("2001:db8::1", 4500, &a), 0);
	ck_assert_str_eq(net_addr_str(&a, buf, sizeof(buf)), "[2001:db8::1]:4500");
	ck_assert_int_eq(net_addr_parse("192.0.2.256", 500, &a), -EINVAL);
	ck_assert_int_eq(net_addr_parse("", 500, &a), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ikd_net");
	TCase *tc = tcase_create("net");

	tcase_add_test(tc, test_net_addr_text_forms);
	if (geteuid() == 0) {
		/* Each test runs in its own forked process, so each unshare() is private. */
		tcase_add_test(tc, test_net_ike_socket_bypasses_a_policy_covering_the_peer);
		tcase_add_test(tc, test_net_natt_socket_adds_and_strips_the_non_esp_marker);
		tcase_add_test(tc, test_net_socket_receive_buffer);
	} else {
		printf("ikd_net: not root: the network-namespace tests are skipped\n");
	}
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
