/*
 * lib/xfrm/events.c: the parser on built and broken messages, and real events from the kernel
 * in a private namespace (root): ACQUIRE from traffic that hits a policy without an SA, and,
 * on a kernel with ESP (the VM suite), soft then hard EXPIRE of a short-lived SA.
 */
#include <poll.h>
#include <sched.h>
#include <unistd.h>

#include <libmnl/libmnl.h>

#include "testutil.h"
#include "xfrm/events.h"

START_TEST(test_event_parse_mapping_and_broken_messages)
{
	uint8_t buf[512] __attribute__((aligned(8)));
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct xfrm_user_mapping m = { 0 };
	struct xfrm_mark mark = { 0x42, 0xff };
	struct xfrm_event e;

	nlh->nlmsg_type = XFRM_MSG_MAPPING;
	m.id.family = AF_INET;
	m.id.spi = htonl(0xabcd1234);
	m.id.proto = IPPROTO_ESP;
	m.reqid = 9;
	m.old_saddr.a4 = htonl(0xc0000201);
	m.new_saddr.a4 = htonl(0xc0000202);
	m.old_sport = htons(4500);
	m.new_sport = htons(61000);
	memcpy(mnl_nlmsg_put_extra_header(nlh, sizeof(m)), &m, sizeof(m));
	mnl_attr_put(nlh, XFRMA_MARK, sizeof(mark), &mark);
	ck_assert_int_eq(xfrm_event_parse(buf, nlh->nlmsg_len, &e), 0);
	ck_assert_int_eq(e.type, XFRM_EVENT_MAPPING);
	ck_assert_uint_eq(e.spi, 0xabcd1234);
	ck_assert_uint_eq(e.reqid, 9);
	ck_assert_uint_eq(e.old_port, 4500);
	ck_assert_uint_eq(e.new_port, 61000);
	ck_assert_uint_eq(ntohl(e.new_addr.a.a4), 0xc0000202);
	ck_assert_uint_eq(e.mark, 0x42);
	ck_assert_uint_eq(e.mark_mask, 0xff);
	/* Every truncation is refused, claimed length or not. */
	for (size_t n = 0; n < nlh->nlmsg_len; n++) {
		uint8_t *copy = malloc(n ? n : 1);

		memcpy(copy, buf, n);
		ck_assert_int_eq(xfrm_event_parse(copy, n, &e), -EBADMSG);
		/* With the header made to agree, a cut inside the fixed part is still refused. */
		if (n >= NLMSG_HDRLEN && n < NLMSG_HDRLEN + sizeof(m)) {
			((struct nlmsghdr *)copy)->nlmsg_len = (uint32_t)n;
			ck_assert_int_eq(xfrm_event_parse(copy, n, &e), -EBADMSG);
		}
		free(copy);
	}
	/* A mark attribute that claims more than is there. */
	((struct nlattr *)(buf + NLMSG_HDRLEN + MNL_ALIGN(sizeof(m))))->nla_len = 200;
	ck_assert_int_eq(xfrm_event_parse(buf, nlh->nlmsg_len, &e), -EBADMSG);
	/* Not an event. */
	nlh->nlmsg_type = XFRM_MSG_NEWSA;
	ck_assert_int_eq(xfrm_event_parse(buf, nlh->nlmsg_len, &e), -ENOENT);
}
END_TEST

START_TEST(test_event_parse_expire_carries_the_sa_counters)
{
	uint8_t buf[512] __attribute__((aligned(8)));
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct xfrm_user_expire x = { 0 };
	struct xfrm_event e;

	nlh->nlmsg_type = XFRM_MSG_EXPIRE;
	x.state.family = AF_INET;
	x.state.id.spi = htonl(0xc0001234);
	x.state.id.proto = IPPROTO_ESP;
	x.state.id.daddr.a4 = htonl(0xc0000202);
	x.state.reqid = 7;
	x.state.curlft.bytes = 123456789012ull;
	x.state.curlft.packets = 98765;
	x.state.curlft.add_time = 1700000000;
	x.hard = 1;
	memcpy(mnl_nlmsg_put_extra_header(nlh, sizeof(x)), &x, sizeof(x));
	ck_assert_int_eq(xfrm_event_parse(buf, nlh->nlmsg_len, &e), 0);
	ck_assert_int_eq(e.type, XFRM_EVENT_EXPIRE);
	ck_assert(e.hard);
	ck_assert_uint_eq(e.spi, 0xc0001234);
	/* What the SA carried: ikd adds it to the site's totals when the kernel removes it. */
	ck_assert_uint_eq(e.stats.bytes, 123456789012ull);
	ck_assert_uint_eq(e.stats.packets, 98765);
	ck_assert_uint_eq(e.stats.add_time, 1700000000);
}
END_TEST

struct seen {
	int n;
	struct xfrm_event e[8];
};

static void record(const struct xfrm_event *e, void *arg)
{
	struct seen *s = arg;

	if (s->n < 8)
		s->e[s->n++] = *e;
}

/* Read events until want of them arrived or timeout_ms passed. */
static void wait_events(struct xfrm_events *ev, struct seen *s, int want, int timeout_ms)
{
	while (s->n < want && timeout_ms > 0) {
		struct pollfd p = { .fd = xfrm_events_fd(ev), .events = POLLIN };

		if (poll(&p, 1, 100) == 1)
			ck_assert_int_eq(xfrm_events_read(ev, record, s), 0);
		timeout_ms -= 100;
	}
}

static void private_netns(void)
{
	ck_assert_int_eq(unshare(CLONE_NEWNET), 0);
	/* A real link: loopback traffic never meets an output policy. */
	ck_assert_int_eq(system("ip link set lo up && ip link add ikdt0 type veth peer name ikdt1 && "
				"ip link set ikdt0 up && ip link set ikdt1 up && "
				"ip addr add 10.8.0.1/24 dev ikdt0 && "
				"ip route add 10.9.0.0/24 dev ikdt0"), 0);
}

START_TEST(test_event_acquire_from_traffic_without_an_sa)
{
	struct xfrm_events ev;
	struct xfrm_sock xs;
	struct xfrm_policy p = { .dir = XFRM_POLICY_OUT, .action = XFRM_POLICY_ALLOW,
				 .n_tmpls = 1 };
	struct xfrm_err err;
	struct seen s = { 0 };
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
	} to = { .in = { .sin_family = AF_INET, .sin_port = htons(9) } };
	int fd;

	private_netns();
	ck_assert_int_eq(xfrm_open(&xs), 0);
	ck_assert_int_eq(xfrm_events_open(&ev), 0);
	xfrm_addr_parse("10.9.0.0", &p.sel.dst);
	xfrm_addr_parse("0.0.0.0", &p.sel.src);
	p.sel.dst_plen = 24;
	p.tmpl[0] = (struct xfrm_tmpl){ .proto = IPPROTO_ESP, .mode = XFRM_MODE_TUNNEL,
					.reqid = 77 };
	xfrm_addr_parse("127.0.0.1", &p.tmpl[0].src);
	xfrm_addr_parse("127.0.0.9", &p.tmpl[0].dst);
	ck_assert_int_eq(xfrm_policy_add(&xs, &p, false, &err), 0);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	to.in.sin_addr.s_addr = htonl(0x0a090005);
	/* No SA: the packet is held or dropped, and the kernel asks for one. */
	sendto(fd, "x", 1, MSG_DONTWAIT, &to.sa, sizeof(to.in));
	close(fd);
	wait_events(&ev, &s, 1, 3000);
	ck_assert_int_ge(s.n, 1);
	ck_assert_int_eq(s.e[0].type, XFRM_EVENT_ACQUIRE);
	ck_assert_uint_eq(ntohl(s.e[0].dst.a.a4), 0x7f000009);
	ck_assert_uint_eq(s.e[0].sel.dst_plen, 32);	/* the flow, not the policy */
	ck_assert_uint_eq(ntohl(s.e[0].sel.dst.a.a4), 0x0a090005);
	ck_assert_uint_eq(s.e[0].proto, IPPROTO_ESP);
	xfrm_events_close(&ev);
	xfrm_close(&xs);
}
END_TEST

START_TEST(test_event_soft_then_hard_expire)
{
	static const uint8_t key[20] = { 7 };
	struct xfrm_sa sa = { .proto = IPPROTO_ESP, .mode = XFRM_MODE_TUNNEL, .spi = 0x5eed,
			      .reqid = 12, .aead = { "rfc4106(gcm(aes))", key, 20, 128 },
			      .mark = 5, .mark_mask = 0xff,
			      .lft = { .soft_add_s = 1, .hard_add_s = 2 } };
	struct xfrm_events ev;
	struct xfrm_sock xs;
	struct xfrm_err err;
	struct seen s = { 0 };
	const char *option;

	private_netns();
	ck_assert_int_eq(xfrm_open(&xs), 0);
	if (xfrm_probe_esp(&xs, NULL, NULL, &sa.aead, &option, NULL) < 0) {
		printf("xfrm expire test skipped: this kernel has no ESP (%s); "
		       "test/vm/run-suite runs it\n", option);
		xfrm_close(&xs);
		return;
	}
	ck_assert_int_eq(xfrm_events_open(&ev), 0);
	xfrm_addr_parse("192.0.2.1", &sa.src);
	xfrm_addr_parse("192.0.2.2", &sa.dst);
	ck_assert_int_eq(xfrm_sa_add(&xs, &sa, false, &err), 0);
	wait_events(&ev, &s, 2, 6000);
	ck_assert_int_eq(s.n, 2);
	ck_assert_int_eq(s.e[0].type, XFRM_EVENT_EXPIRE);
	ck_assert(!s.e[0].hard);
	ck_assert(s.e[1].hard);
	ck_assert_uint_eq(s.e[1].spi, 0x5eed);
	ck_assert_uint_eq(s.e[1].reqid, 12);
	ck_assert_uint_eq(s.e[1].mark, 5);
	ck_assert_uint_eq(ntohl(s.e[1].dst.a.a4), 0xc0000202);
	ck_assert_uint_gt(s.e[1].stats.add_time, 0);
	ck_assert_uint_eq(s.e[1].stats.packets, 0);
	/* Hard expiry removed it. */
	ck_assert_int_eq(xfrm_sa_delete(&xs, &sa.dst, sa.spi, IPPROTO_ESP, 5, 0xff, &err), -ESRCH);
	xfrm_events_close(&ev);
	xfrm_close(&xs);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("xfrm_events");
	TCase *tc = tcase_create("events");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_event_parse_mapping_and_broken_messages);
	tcase_add_test(tc, test_event_parse_expire_carries_the_sa_counters);
	if (geteuid() == 0) {
		tcase_add_test(tc, test_event_acquire_from_traffic_without_an_sa);
		tcase_add_test(tc, test_event_soft_then_hard_expire);
	} else {
		printf("xfrm events: not root: the kernel event tests are skipped\n");
	}
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
