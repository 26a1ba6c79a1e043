/*
 * test/sim/net.c: delivery with addresses and delay; the same seed gives the same deliveries
 * byte for byte; loss (independent and in bursts), duplication, delay, jitter and reordering
 * at their configured rates and bounds; partitions; the NAT's mappings, rebinds, address
 * changes, expiry and drops; counters that add up; the recent-events trace.
 */
#include <arpa/inet.h>

#include "testutil.h"
#include "net.h"

enum { BRANCH, POP1, POP2 };

static struct simnet_addr addr(const char *text, uint16_t port)
{
	struct simnet_addr a;

	ck_assert_int_eq(simnet_addr_parse(text, port, &a), 0);
	return a;
}

/* branch 10.0.0.2 and fd00::2, pop1 192.0.2.1 and 2001:db8::1, pop2 198.51.100.1. */
static struct simnet *net_new(uint64_t seed)
{
	struct simnet_addr b[2] = { addr("10.0.0.2", 0), addr("fd00::2", 0) };
	struct simnet_addr p1[2] = { addr("192.0.2.1", 0), addr("2001:db8::1", 0) };
	struct simnet_addr p2 = addr("198.51.100.1", 0);
	struct simnet *net;
	struct simr r;

	simr_seed(&r, seed);
	net = simnet_new(&r);
	ck_assert_ptr_nonnull(net);
	ck_assert_int_eq(simnet_node_add(net, "branch", b, 2), BRANCH);
	ck_assert_int_eq(simnet_node_add(net, "pop1", p1, 2), POP1);
	ck_assert_int_eq(simnet_node_add(net, "pop2", &p2, 1), POP2);
	return net;
}

static void send_u32(struct simnet *net, uint64_t now_ms, const struct simnet_addr *from,
		     const struct simnet_addr *to, uint32_t v)
{
	ck_assert_int_eq(simnet_send(net, now_ms, from, to, (const uint8_t *)&v, sizeof(v)), 0);
}

static uint32_t dgram_u32(const struct simnet_dgram *d)
{
	uint32_t v;

	ck_assert_uint_eq(d->len, sizeof(v));
	memcpy(&v, d->buf, sizeof(v));
	return v;
}

static struct simnet_link_stats stats(const struct simnet *net, uint32_t from, uint32_t to)
{
	struct simnet_link_stats st;

	ck_assert_int_eq(simnet_link_stats(net, from, to, &st), 0);
	return st;
}

static void set_link(struct simnet *net, uint32_t from, uint32_t to, struct simnet_link_conf c)
{
	ck_assert_int_eq(simnet_link_set(net, from, to, &c), 0);
}

/* Pop everything due by now_ms and throw it away; how many were delivered. */
static size_t drain(struct simnet *net, uint64_t now_ms)
{
	struct simnet_dgram d;
	size_t n = 0;

	while (simnet_pop(net, now_ms, &d) == 1) {
		simnet_dgram_clear(&d);
		n++;
	}
	return n;
}

START_TEST(test_net_delivers_after_the_delay_with_both_addresses)
{
	struct simnet *net = net_new(1);
	struct simnet_addr b = addr("10.0.0.2", 500), p = addr("192.0.2.1", 500);
	struct simnet_addr b6 = addr("fd00::2", 4500), p6 = addr("2001:db8::1", 4500);
	const uint8_t msg[] = "hello";
	struct simnet_dgram d;

	ck_assert_int_eq(simnet_send(net, 100, &b, &p, msg, sizeof(msg)), 0);
	ck_assert_uint_eq(simnet_next_ms(net), 110);
	ck_assert_int_eq(simnet_pop(net, 109, &d), 0);
	ck_assert_int_eq(simnet_pop(net, 110, &d), 1);
	ck_assert_uint_eq(d.node, POP1);
	ck_assert_uint_eq(d.from_node, BRANCH);
	ck_assert_uint_eq(d.at_ms, 110);
	ck_assert(simnet_addr_equal(&d.src, &b, true));
	ck_assert(simnet_addr_equal(&d.dst, &p, true));
	ck_assert_uint_eq(d.len, sizeof(msg));
	ck_assert_mem_eq(d.buf, msg, sizeof(msg));
	simnet_dgram_clear(&d);
	ck_assert_uint_eq(simnet_next_ms(net), UINT64_MAX);

	ck_assert_int_eq(simnet_send(net, 200, &p6, &b6, msg, 1), 0);
	ck_assert_int_eq(simnet_pop(net, 210, &d), 1);
	ck_assert_uint_eq(d.node, BRANCH);
	ck_assert(simnet_addr_equal(&d.src, &p6, true));
	ck_assert(simnet_addr_equal(&d.dst, &b6, true));
	simnet_dgram_clear(&d);
	ck_assert_uint_eq(stats(net, BRANCH, POP1).delivered, 1);
	ck_assert_uint_eq(stats(net, POP1, BRANCH).delivered, 1);

	/* A source no node has, mixed families, too big; an address nobody has is no error. */
	struct simnet_addr other = addr("10.9.9.9", 500);
	ck_assert_int_eq(simnet_send(net, 300, &other, &p, msg, 1), -EADDRNOTAVAIL);
	ck_assert_int_eq(simnet_send(net, 300, &b, &p6, msg, 1), -EINVAL);
	ck_assert_int_eq(simnet_send(net, 300, &b, &p, msg, SIMNET_DGRAM_MAX + 1), -EMSGSIZE);
	ck_assert_int_eq(simnet_send(net, 300, &b, &other, msg, 1), 0);
	ck_assert_uint_eq(simnet_unroutable(net), 1);
	ck_assert_uint_eq(simnet_in_flight(net), 0);
	simnet_free(net);
}
END_TEST

START_TEST(test_net_addresses_parse_print_and_convert)
{
	struct simnet_addr a = addr("192.0.2.7", 4500), b = addr("2001:db8::7", 500), c;
	struct sockaddr_storage ss;
	char buf[SIMNET_ADDRSTRLEN];
	struct simnet *net = net_new(1);

	ck_assert_str_eq(simnet_addr_str(&a, buf, sizeof(buf)), "192.0.2.7:4500");
	ck_assert_str_eq(simnet_addr_str(&b, buf, sizeof(buf)), "[2001:db8::7]:500");
	ck_assert_int_eq(simnet_addr_parse("192.0.2.300", 1, &c), -EINVAL);
	ck_assert_int_eq(simnet_addr_to_sockaddr(&b, (struct sockaddr *)&ss, sizeof(ss)),
			 (int)sizeof(struct sockaddr_in6));
	ck_assert_int_eq(simnet_addr_from_sockaddr((struct sockaddr *)&ss, sizeof(ss), &c), 0);
	ck_assert(simnet_addr_equal(&b, &c, true));
	ck_assert_int_eq(simnet_addr_to_sockaddr(&a, (struct sockaddr *)&ss, sizeof(ss)),
			 (int)sizeof(struct sockaddr_in));
	ck_assert_uint_eq(ntohs(((struct sockaddr_in *)&ss)->sin_port), 4500);
	ck_assert_int_eq(simnet_addr_from_sockaddr((struct sockaddr *)&ss, 8, &c), -EINVAL);
	ck_assert_int_eq(simnet_addr_to_sockaddr(&b, (struct sockaddr *)&ss, 16), -ENOSPC);
	c = a;
	c.port = 1;
	ck_assert(simnet_addr_equal(&a, &c, false));
	ck_assert(!simnet_addr_equal(&a, &c, true));
	ck_assert(simnet_addr_valid(&c));
	c.a[4] = 1;		/* an IPv4 address with bytes past its four */
	ck_assert(!simnet_addr_valid(&c));
	ck_assert_int_eq(simnet_node_add(net, "bad", &c, 1), -EINVAL);
	c = (struct simnet_addr){ .family = AF_UNIX };
	ck_assert(!simnet_addr_valid(&c));

	/* Addresses are unique across nodes; lookups by address. */
	struct simnet_addr dup = addr("192.0.2.1", 0);
	ck_assert_int_eq(simnet_node_add(net, "again", &dup, 1), -EEXIST);
	ck_assert_int_eq(simnet_node_of(net, &dup), POP1);
	ck_assert_int_eq(simnet_node_of(net, &a), -ENOENT);
	ck_assert_str_eq(simnet_node_name(net, POP2), "pop2");
	ck_assert_uint_eq(simnet_node_count(net), 3);
	simnet_free(net);
}
END_TEST

/*
 * A busy run: both directions to two POPs, every fault on, partitions flapping, the branch
 * behind a NAT that rebinds. The hash covers every delivery (time, nodes, addresses, bytes)
 * and every network event.
 */
static uint64_t fnv(uint64_t h, const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 0x100000001b3u;
	return h;
}

static void hash_event(const struct simnet_event *ev, void *arg)
{
	uint64_t *h = arg;

	*h = fnv(*h, &ev->at_ms, sizeof(ev->at_ms));
	*h = fnv(*h, &ev->kind, sizeof(ev->kind));
	*h = fnv(*h, &ev->id, sizeof(ev->id));
	*h = fnv(*h, &ev->src, sizeof(ev->src));
	*h = fnv(*h, &ev->dst, sizeof(ev->dst));
}

static const struct simnet_link_conf faulty = {
	.delay_ms = 20, .jitter_ms = 15, .loss_good_ppm = 20000, .loss_bad_ppm = 500000,
	.good_to_bad_ppm = 10000, .bad_to_good_ppm = 200000, .dup_ppm = 20000,
	.reorder_ppm = 30000, .reorder_ms = 40,
};

static uint64_t busy_run(uint64_t seed, uint64_t *ret_events)
{
	struct simnet *net = net_new(seed);
	struct simnet_addr b = addr("10.0.0.2", 500);
	struct simnet_addr pops[2] = { addr("192.0.2.1", 500), addr("198.51.100.1", 500) };
	struct simnet_addr pub = addr("203.0.113.5", 0);
	uint64_t h = 0xcbf29ce484222325u, events = 0xcbf29ce484222325u;
	struct simnet_dgram d;

	simnet_set_observer(net, hash_event, &events);
	set_link(net, SIMNET_ALL, SIMNET_ALL, faulty);
	ck_assert_int_eq(simnet_nat(net, BRANCH, &pub), 0);
	for (uint64_t t = 0; t < 20000; t++) {
		if (t % 3000 == 1000)
			ck_assert_int_eq(simnet_partition(net, POP1, SIMNET_ALL, true), 0);
		if (t % 3000 == 1700)
			ck_assert_int_eq(simnet_partition(net, POP1, SIMNET_ALL, false), 0);
		if (t % 7000 == 5000)
			ck_assert_int_eq(simnet_nat_rebind_port(net, BRANCH), 0);
		if (t % 2 == 0)
			send_u32(net, t, &b, &pops[t / 2 % 2], (uint32_t)t);
		while (simnet_pop(net, t, &d) == 1) {
			h = fnv(h, &d.at_ms, sizeof(d.at_ms));
			h = fnv(h, &d.node, sizeof(d.node));
			h = fnv(h, &d.src, sizeof(d.src));
			h = fnv(h, &d.dst, sizeof(d.dst));
			h = fnv(h, d.buf, d.len);
			/* Each POP answers. */
			if (d.node != BRANCH)
				ck_assert_int_eq(simnet_send(net, t, &d.dst, &d.src, d.buf, d.len),
						 0);
			simnet_dgram_clear(&d);
		}
	}
	*ret_events = events;
	simnet_free(net);
	return h;
}

START_TEST(test_net_same_seed_same_deliveries_other_seed_differs)
{
	uint64_t e1, e2, e3;
	uint64_t h1 = busy_run(11, &e1), h2 = busy_run(11, &e2), h3 = busy_run(12, &e3);

	ck_assert_uint_eq(h1, h2);
	ck_assert_uint_eq(e1, e2);
	ck_assert_uint_ne(h1, h3);
	ck_assert_uint_ne(e1, e3);
}
END_TEST

/* Send n datagrams from the branch to `to`, one a millisecond; lost[i]: did not arrive. */
static void loss_pattern_to(struct simnet *net, const char *to, size_t n, bool *lost)
{
	struct simnet_addr b = addr("10.0.0.2", 500), p = addr(to, 500);

	for (size_t i = 0; i < n; i++)
		lost[i] = true;
	for (size_t i = 0; i < n; i++) {
		struct simnet_dgram d;

		send_u32(net, i, &b, &p, (uint32_t)i);
		while (simnet_pop(net, i, &d) == 1) {
			lost[dgram_u32(&d)] = false;
			simnet_dgram_clear(&d);
		}
	}
	while (simnet_next_ms(net) != UINT64_MAX) {
		struct simnet_dgram d;

		ck_assert_int_eq(simnet_pop(net, simnet_next_ms(net), &d), 1);
		lost[dgram_u32(&d)] = false;
		simnet_dgram_clear(&d);
	}
}

static void loss_pattern(struct simnet *net, size_t n, bool *lost)
{
	loss_pattern_to(net, "192.0.2.1", n, lost);
}

/* The lost fraction and the mean length of runs of consecutive losses. */
static void loss_runs(const bool *lost, size_t n, double *ret_rate, double *ret_run,
		      size_t *ret_longest)
{
	size_t losses = 0, runs = 0, run = 0, longest = 0;

	for (size_t i = 0; i < n; i++) {
		if (lost[i]) {
			losses++;
			runs += run == 0;
			run++;
			longest = run > longest ? run : longest;
		} else {
			run = 0;
		}
	}
	*ret_rate = (double)losses / (double)n;
	*ret_run = runs ? (double)losses / (double)runs : 0;
	*ret_longest = longest;
}

START_TEST(test_net_loss_rate_and_bursts)
{
	enum { N = 100000 };
	bool *lost = calloc(N, sizeof(*lost));
	struct simnet *net = net_new(21);
	double rate, run, burst_rate, burst_run;
	size_t longest, burst_longest;
	struct simnet_link_stats st;

	/* Independent 5%. */
	set_link(net, BRANCH, POP1, (struct simnet_link_conf){ .delay_ms = 5,
		 .loss_good_ppm = 50000 });
	loss_pattern(net, N, lost);
	loss_runs(lost, N, &rate, &run, &longest);
	st = stats(net, BRANCH, POP1);
	ck_assert_uint_eq(st.sent, N);
	ck_assert_uint_eq(st.lost + st.delivered, N);
	ck_assert_msg(rate > 0.045 && rate < 0.055, "independent loss %.4f", rate);
	simnet_free(net);

	/*
	 * Gilbert-Elliott with the same average: bad 1/11 of the time (1% in, 10% out), losing
	 * 55% there: 0.0909 * 0.55 = 5%. Its losses come in runs.
	 */
	net = net_new(21);
	set_link(net, BRANCH, POP1, (struct simnet_link_conf){ .delay_ms = 5,
		 .loss_bad_ppm = 550000, .good_to_bad_ppm = 10000, .bad_to_good_ppm = 100000 });
	loss_pattern(net, N, lost);
	loss_runs(lost, N, &burst_rate, &burst_run, &burst_longest);
	ck_assert_msg(burst_rate > 0.04 && burst_rate < 0.06, "burst loss %.4f", burst_rate);
	ck_assert_msg(burst_run > 1.5 * run, "mean loss run %.2f (independent %.2f)", burst_run,
		      run);
	ck_assert_uint_gt(burst_longest, longest);
	simnet_free(net);
	free(lost);
}
END_TEST

START_TEST(test_net_duplicates_at_the_configured_rate)
{
	enum { N = 100000 };
	struct simnet *net = net_new(22);
	struct simnet_addr b = addr("10.0.0.2", 500), p = addr("192.0.2.1", 500);
	uint8_t *seen = calloc(N, 1);
	struct simnet_link_stats st;
	struct simnet_dgram d;

	set_link(net, BRANCH, POP1, (struct simnet_link_conf){ .delay_ms = 5, .jitter_ms = 3,
		 .dup_ppm = 20000 });
	for (uint32_t i = 0; i < N; i++) {
		send_u32(net, i, &b, &p, i);
		while (simnet_pop(net, i, &d) == 1) {
			seen[dgram_u32(&d)]++;
			simnet_dgram_clear(&d);
		}
	}
	drain(net, UINT64_MAX - 1);
	st = stats(net, BRANCH, POP1);
	ck_assert_uint_eq(st.sent, N);
	ck_assert_uint_eq(st.lost, 0);
	ck_assert_msg(st.duplicated > 1700 && st.duplicated < 2300, "%lu duplicated",
		      (unsigned long)st.duplicated);
	ck_assert_uint_eq(st.delivered, N + st.duplicated);
	for (uint32_t i = 0; i < N; i++)
		ck_assert_uint_le(seen[i], 2);
	free(seen);
	simnet_free(net);
}
END_TEST

START_TEST(test_net_delay_stays_within_base_and_jitter)
{
	struct simnet *net = net_new(23);
	struct simnet_addr b = addr("10.0.0.2", 500), p = addr("192.0.2.1", 500);
	uint64_t lo = UINT64_MAX, hi = 0;
	struct simnet_dgram d;

	set_link(net, BRANCH, POP1, (struct simnet_link_conf){ .delay_ms = 50, .jitter_ms = 20 });
	for (uint32_t t = 0; t < 10000; t++) {
		send_u32(net, t, &b, &p, t);
		while (simnet_pop(net, t, &d) == 1) {
			uint64_t delay = d.at_ms - dgram_u32(&d);

			lo = delay < lo ? delay : lo;
			hi = delay > hi ? delay : hi;
			simnet_dgram_clear(&d);
		}
	}
	ck_assert_uint_eq(lo, 50);
	ck_assert_uint_eq(hi, 70);
	simnet_free(net);
}
END_TEST

/* Send n datagrams, one a millisecond (or all at once); the inversions in arrival order. */
static size_t inversions(struct simnet *net, size_t n, uint64_t step_ms, size_t *ret_late)
{
	struct simnet_addr b = addr("10.0.0.2", 500), p = addr("192.0.2.1", 500);
	uint32_t last = 0;
	size_t inv = 0, late = 0;
	bool first = true;

	for (uint32_t i = 0; i < n; i++)
		send_u32(net, i * step_ms, &b, &p, i);
	while (simnet_next_ms(net) != UINT64_MAX) {
		struct simnet_dgram d;
		uint32_t v;

		ck_assert_int_eq(simnet_pop(net, simnet_next_ms(net), &d), 1);
		v = dgram_u32(&d);
		inv += !first && v < last;
		late += d.at_ms - v * step_ms >= 100;
		last = v;
		first = false;
		simnet_dgram_clear(&d);
	}
	if (ret_late)
		*ret_late = late;
	return inv;
}

START_TEST(test_net_jitter_and_reorder_reorder_zero_jitter_never)
{
	struct simnet *net = net_new(24);
	size_t late;

	ck_assert_uint_eq(inversions(net, 2000, 1, NULL), 0);
	ck_assert_uint_eq(inversions(net, 2000, 0, NULL), 0);	/* ties keep send order */
	set_link(net, BRANCH, POP1, (struct simnet_link_conf){ .delay_ms = 10, .jitter_ms = 30 });
	ck_assert_uint_gt(inversions(net, 2000, 1, NULL), 100);
	/* No jitter, 5% held back 100 ms: those arrive late, behind later ones. */
	set_link(net, BRANCH, POP1, (struct simnet_link_conf){ .delay_ms = 10,
		 .reorder_ppm = 50000, .reorder_ms = 100 });
	ck_assert_uint_gt(inversions(net, 2000, 1, &late), 50);
	ck_assert_msg(late > 60 && late < 140, "%zu late", late);
	simnet_free(net);
}
END_TEST

START_TEST(test_net_partition_drops_in_flight_and_heals)
{
	struct simnet *net = net_new(25);
	struct simnet_addr b = addr("10.0.0.2", 500), p1 = addr("192.0.2.1", 500);
	struct simnet_addr p2 = addr("198.51.100.1", 500);

	/* In flight when the cut comes: dropped at arrival. */
	send_u32(net, 0, &b, &p1, 1);
	send_u32(net, 0, &b, &p2, 2);
	ck_assert_int_eq(simnet_partition(net, BRANCH, POP1, true), 0);
	ck_assert_uint_eq(drain(net, 10), 1);	/* only pop2's */
	ck_assert_uint_eq(stats(net, BRANCH, POP1).cut, 1);
	/* Sent across the cut, either way: dropped at once. */
	send_u32(net, 20, &p1, &b, 3);
	ck_assert_uint_eq(simnet_in_flight(net), 0);
	ck_assert_uint_eq(stats(net, POP1, BRANCH).cut, 1);
	/* Healed: through again; a datagram sent during the cut does not come back. */
	ck_assert_int_eq(simnet_partition(net, BRANCH, POP1, false), 0);
	send_u32(net, 30, &b, &p1, 4);
	ck_assert_uint_eq(drain(net, 40), 1);
	ck_assert_uint_eq(stats(net, BRANCH, POP1).delivered, 1);

	/* One node from all: pop1 unreachable from both, branch <-> pop2 untouched. */
	ck_assert_int_eq(simnet_partition(net, POP1, SIMNET_ALL, true), 0);
	send_u32(net, 50, &b, &p1, 5);
	send_u32(net, 50, &p2, &p1, 6);
	send_u32(net, 50, &b, &p2, 7);
	send_u32(net, 50, &p2, &b, 8);
	ck_assert_uint_eq(drain(net, 60), 2);
	ck_assert_uint_eq(stats(net, POP2, POP1).cut, 1);
	ck_assert_int_eq(simnet_partition(net, POP1, SIMNET_ALL, false), 0);
	send_u32(net, 70, &p2, &p1, 9);
	ck_assert_uint_eq(drain(net, 80), 1);
	/* Everything, then everything healed. */
	ck_assert_int_eq(simnet_partition(net, SIMNET_ALL, SIMNET_ALL, true), 0);
	send_u32(net, 90, &b, &p2, 10);
	ck_assert_uint_eq(drain(net, 100), 0);
	ck_assert_int_eq(simnet_partition(net, SIMNET_ALL, SIMNET_ALL, false), 0);
	send_u32(net, 110, &b, &p2, 11);
	ck_assert_uint_eq(drain(net, 120), 1);
	ck_assert_int_eq(simnet_partition(net, 7, POP1, true), -ENOENT);
	simnet_free(net);
}
END_TEST

/* Send one datagram and pop it at its arrival: 1 when delivered, with *ret filled. */
static int hop(struct simnet *net, uint64_t now_ms, const struct simnet_addr *from,
	       const struct simnet_addr *to, struct simnet_dgram *ret)
{
	send_u32(net, now_ms, from, to, 0x1234);
	return simnet_pop(net, now_ms + 1000, ret);
}

START_TEST(test_net_nat_maps_the_source_and_lets_replies_in)
{
	struct simnet *net = net_new(26);
	struct simnet_addr b500 = addr("10.0.0.2", 500), b4500 = addr("10.0.0.2", 4500);
	struct simnet_addr p = addr("192.0.2.1", 500), pub = addr("203.0.113.5", 0), seen, m;
	struct simnet_dgram d;

	ck_assert_int_eq(simnet_nat(net, BRANCH, &pub), 0);
	ck_assert_int_eq(simnet_nat(net, BRANCH, &pub), -EALREADY);
	ck_assert_int_eq(hop(net, 0, &b500, &p, &d), 1);
	seen = addr("203.0.113.5", SIMNET_NAT_PORT_FIRST);
	ck_assert(simnet_addr_equal(&d.src, &seen, true));
	ck_assert_int_eq(simnet_nat_mapping(net, BRANCH, &b500, 0, &m), 0);
	ck_assert(simnet_addr_equal(&m, &seen, true));
	simnet_dgram_clear(&d);
	/* The reply to the mapped port reaches the private address and port. */
	ck_assert_int_eq(hop(net, 2000, &p, &seen, &d), 1);
	ck_assert_uint_eq(d.node, BRANCH);
	ck_assert(simnet_addr_equal(&d.dst, &b500, true));
	ck_assert(simnet_addr_equal(&d.src, &p, true));
	simnet_dgram_clear(&d);
	/* Another private port, another mapping; the first one is kept. */
	ck_assert_int_eq(hop(net, 4000, &b4500, &p, &d), 1);
	ck_assert_uint_eq(d.src.port, SIMNET_NAT_PORT_FIRST + 1);
	simnet_dgram_clear(&d);
	ck_assert_int_eq(hop(net, 6000, &b500, &p, &d), 1);
	ck_assert_uint_eq(d.src.port, SIMNET_NAT_PORT_FIRST);
	simnet_dgram_clear(&d);
	/* IPv6 is not translated. */
	struct simnet_addr b6 = addr("fd00::2", 500), p6 = addr("2001:db8::1", 500);
	ck_assert_int_eq(hop(net, 8000, &b6, &p6, &d), 1);
	ck_assert(simnet_addr_equal(&d.src, &b6, true));
	simnet_dgram_clear(&d);
	simnet_free(net);
}
END_TEST

START_TEST(test_net_nat_drops_unsolicited_inbound)
{
	struct simnet *net = net_new(27);
	struct simnet_addr b = addr("10.0.0.2", 500), p = addr("192.0.2.1", 500);
	struct simnet_addr pub = addr("203.0.113.5", 0), to_pub = addr("203.0.113.5", 500);
	struct simnet_addr to_priv = addr("10.0.0.2", 500), other_port;
	struct simnet_dgram d;

	ck_assert_int_eq(simnet_nat(net, BRANCH, &pub), 0);
	ck_assert_int_eq(hop(net, 0, &p, &to_pub, &d), 0);
	ck_assert_uint_eq(stats(net, POP1, BRANCH).nat_dropped, 1);
	/* With a mapping, only its port gets in. */
	ck_assert_int_eq(hop(net, 2000, &b, &p, &d), 1);
	simnet_dgram_clear(&d);
	other_port = addr("203.0.113.5", SIMNET_NAT_PORT_FIRST + 7);
	ck_assert_int_eq(hop(net, 4000, &p, &other_port, &d), 0);
	ck_assert_uint_eq(stats(net, POP1, BRANCH).nat_dropped, 2);
	/* The private address is not reachable from outside at all. */
	ck_assert_int_eq(hop(net, 6000, &p, &to_priv, &d), 0);
	ck_assert_uint_eq(simnet_unroutable(net), 1);
	simnet_free(net);
}
END_TEST

START_TEST(test_net_nat_rebind_drops_old_mapping_and_gives_new_port)
{
	struct simnet *net = net_new(28);
	struct simnet_addr b = addr("10.0.0.2", 500), p = addr("192.0.2.1", 500);
	struct simnet_addr pub = addr("203.0.113.5", 0), old, m, mapped;
	struct simnet_dgram d;

	ck_assert_int_eq(simnet_nat(net, BRANCH, &pub), 0);
	ck_assert_int_eq(hop(net, 0, &b, &p, &d), 1);
	old = d.src;
	simnet_dgram_clear(&d);
	/* A reply in flight when the NAT forgets: dropped at arrival. */
	send_u32(net, 2000, &p, &old, 1);
	ck_assert_int_eq(simnet_nat_rebind_port(net, BRANCH), 0);
	ck_assert_int_eq(simnet_nat_mapping(net, BRANCH, &b, 2000, &m), -ENOENT);
	ck_assert_uint_eq(drain(net, 3000), 0);
	ck_assert_uint_eq(stats(net, POP1, BRANCH).nat_dropped, 1);
	/* New traffic, new port; the old one stays dead. */
	ck_assert_int_eq(hop(net, 4000, &b, &p, &d), 1);
	ck_assert(simnet_addr_equal(&d.src, &pub, false));
	ck_assert_uint_ne(d.src.port, old.port);
	mapped = d.src;
	simnet_dgram_clear(&d);
	ck_assert_int_eq(hop(net, 6000, &p, &mapped, &d), 1);
	simnet_dgram_clear(&d);
	ck_assert_int_eq(hop(net, 8000, &p, &old, &d), 0);
	ck_assert_int_eq(simnet_nat_rebind_port(net, POP1), -ENOENT);
	simnet_free(net);
}
END_TEST

START_TEST(test_net_nat_address_change_kills_old_mappings)
{
	struct simnet *net = net_new(29);
	struct simnet_addr b = addr("10.0.0.2", 500), p = addr("192.0.2.1", 500);
	struct simnet_addr pub = addr("203.0.113.5", 0), moved = addr("203.0.113.9", 0), old;
	struct simnet_dgram d;

	ck_assert_int_eq(simnet_nat(net, BRANCH, &pub), 0);
	ck_assert_int_eq(hop(net, 0, &b, &p, &d), 1);
	old = d.src;
	simnet_dgram_clear(&d);
	send_u32(net, 2000, &p, &old, 1);	/* in flight across the change */
	ck_assert_int_eq(simnet_nat_change_address(net, BRANCH, &moved), 0);
	ck_assert_uint_eq(drain(net, 3000), 0);
	ck_assert_uint_eq(stats(net, POP1, BRANCH).nat_dropped, 1);
	ck_assert_int_eq(hop(net, 4000, &p, &old, &d), 0);	/* nobody has it now */
	ck_assert_uint_eq(simnet_unroutable(net), 1);
	ck_assert_int_eq(hop(net, 6000, &b, &p, &d), 1);
	ck_assert(simnet_addr_equal(&d.src, &moved, false));
	ck_assert_uint_ne(d.src.port, old.port);
	old = d.src;
	simnet_dgram_clear(&d);
	ck_assert_int_eq(hop(net, 8000, &p, &old, &d), 1);
	ck_assert(simnet_addr_equal(&d.dst, &b, true));
	simnet_dgram_clear(&d);
	/* Not another node's address, not another family. */
	struct simnet_addr taken = addr("198.51.100.1", 0), v6 = addr("2001:db8::99", 0);
	ck_assert_int_eq(simnet_nat_change_address(net, BRANCH, &taken), -EEXIST);
	ck_assert_int_eq(simnet_nat_change_address(net, BRANCH, &v6), -EINVAL);
	simnet_free(net);
}
END_TEST

START_TEST(test_net_nat_mapping_expires_when_idle)
{
	struct simnet *net = net_new(30);
	struct simnet_addr b = addr("10.0.0.2", 500), p = addr("192.0.2.1", 500);
	struct simnet_addr pub = addr("203.0.113.5", 0), mapped;
	struct simnet_dgram d;

	ck_assert_int_eq(simnet_nat(net, BRANCH, &pub), 0);
	ck_assert_int_eq(simnet_nat_set_idle_ms(net, BRANCH, 30000), 0);
	ck_assert_int_eq(hop(net, 0, &b, &p, &d), 1);
	mapped = d.src;
	simnet_dgram_clear(&d);
	/* Inbound traffic keeps it alive: 20 s, then 45 s (25 s after the last use). */
	ck_assert_int_eq(hop(net, 20000, &p, &mapped, &d), 1);
	simnet_dgram_clear(&d);
	ck_assert_int_eq(hop(net, 45000, &p, &mapped, &d), 1);
	simnet_dgram_clear(&d);
	/* 30 s idle: gone. */
	ck_assert_int_eq(hop(net, 75010, &p, &mapped, &d), 0);
	ck_assert_uint_eq(stats(net, POP1, BRANCH).nat_dropped, 1);
	ck_assert_int_eq(hop(net, 80000, &b, &p, &d), 1);
	ck_assert_uint_ne(d.src.port, mapped.port);
	simnet_dgram_clear(&d);
	simnet_free(net);
}
END_TEST

START_TEST(test_net_nat_port_block_wraps_and_runs_out_cleanly)
{
	struct simnet *net = net_new(34);
	struct simnet_addr b = addr("10.0.0.2", 0), p = addr("192.0.2.1", 500);
	struct simnet_addr pub = addr("203.0.113.5", 0), m;
	const uint8_t x = 0;

	ck_assert_int_eq(simnet_nat(net, BRANCH, &pub), 0);
	ck_assert_int_eq(simnet_nat_set_ports(net, BRANCH, 1000, 999), -EINVAL);
	ck_assert_int_eq(simnet_nat_set_ports(net, BRANCH, 1000, 1003), 0);
	for (uint16_t i = 0; i < 4; i++) {
		b.port = (uint16_t)(i + 1);
		ck_assert_int_eq(simnet_send(net, 0, &b, &p, &x, 1), 0);
		ck_assert_int_eq(simnet_nat_mapping(net, BRANCH, &b, 0, &m), 0);
		ck_assert_uint_eq(m.port, 1000 + i);
	}
	b.port = 5;
	ck_assert_int_eq(simnet_send(net, 0, &b, &p, &x, 1), -ENOSPC);
	/* An existing mapping still works. */
	b.port = 1;
	ck_assert_int_eq(simnet_send(net, 0, &b, &p, &x, 1), 0);
	/* Idle ones expire and free their ports; the next goes round, past those in use. */
	ck_assert_int_eq(simnet_nat_set_idle_ms(net, BRANCH, 1000), 0);
	for (uint16_t port = 3; port <= 4; port++) {
		b.port = port;
		ck_assert_int_eq(simnet_send(net, 500, &b, &p, &x, 1), 0);
	}
	b.port = 9;
	ck_assert_int_eq(simnet_send(net, 1200, &b, &p, &x, 1), 0);
	ck_assert_int_eq(simnet_nat_mapping(net, BRANCH, &b, 1200, &m), 0);
	ck_assert_uint_eq(m.port, 1000);
	b.port = 10;
	ck_assert_int_eq(simnet_send(net, 1200, &b, &p, &x, 1), 0);
	ck_assert_int_eq(simnet_nat_mapping(net, BRANCH, &b, 1200, &m), 0);
	ck_assert_uint_eq(m.port, 1001);
	b.port = 11;
	ck_assert_int_eq(simnet_send(net, 1200, &b, &p, &x, 1), -ENOSPC);
	ck_assert_int_eq(simnet_nat_set_ports(net, POP1, 1, 2), -ENOENT);
	simnet_free(net);
}
END_TEST

START_TEST(test_net_link_set_applies_to_one_link_or_all)
{
	struct simnet *net = net_new(35);
	struct simnet_link_conf c = { .delay_ms = 77, .dup_ppm = 5 }, got;
	struct simnet_addr x = addr("192.0.2.200", 0);

	ck_assert_int_eq(simnet_link_get(net, BRANCH, POP1, &got), 0);
	ck_assert_uint_eq(got.delay_ms, 10);
	set_link(net, BRANCH, SIMNET_ALL, c);
	ck_assert_int_eq(simnet_link_get(net, BRANCH, POP2, &got), 0);
	ck_assert_uint_eq(got.delay_ms, 77);
	ck_assert_int_eq(simnet_link_get(net, POP1, BRANCH, &got), 0);
	ck_assert_uint_eq(got.delay_ms, 10);
	/* (all, all) is also the default of nodes added later. */
	c.delay_ms = 33;
	set_link(net, SIMNET_ALL, SIMNET_ALL, c);
	ck_assert_int_eq(simnet_node_add(net, "pop3", &x, 1), 3);
	ck_assert_int_eq(simnet_link_get(net, 3, BRANCH, &got), 0);
	ck_assert_uint_eq(got.delay_ms, 33);
	ck_assert_int_eq(simnet_link_get(net, 4, BRANCH, &got), -ENOENT);
	ck_assert_int_eq(simnet_link_get(net, SIMNET_ALL, BRANCH, &got), -ENOENT);
	ck_assert_int_eq(simnet_link_set(net, 9, BRANCH, &c), -ENOENT);
	simnet_free(net);
}
END_TEST

START_TEST(test_net_counters_add_up_under_every_fault)
{
	struct simnet *net = net_new(31);
	struct simnet_addr b = addr("10.0.0.2", 500), p = addr("192.0.2.1", 500);
	struct simnet_addr pub = addr("203.0.113.5", 0), mapped = addr("203.0.113.5", 0);
	struct simnet_link_stats st;

	set_link(net, SIMNET_ALL, SIMNET_ALL, faulty);
	ck_assert_int_eq(simnet_nat(net, BRANCH, &pub), 0);
	for (uint64_t t = 0; t < 20000; t++) {
		if (t % 1000 == 500)
			ck_assert_int_eq(simnet_partition(net, BRANCH, POP1, t % 2000 == 500), 0);
		if (t % 5000 == 0)
			ck_assert_int_eq(simnet_nat_rebind_port(net, BRANCH), 0);
		send_u32(net, t, &b, &p, (uint32_t)t);
		mapped.port = SIMNET_NAT_PORT_FIRST + (uint16_t)(t % 5);
		send_u32(net, t, &p, &mapped, (uint32_t)t);
		drain(net, t);
	}
	drain(net, UINT64_MAX - 1);
	for (uint32_t from = BRANCH; from <= POP1; from++) {
		uint32_t to = from == BRANCH ? POP1 : BRANCH;

		st = stats(net, from, to);
		ck_assert_uint_eq(st.sent, 20000);
		ck_assert_uint_eq(st.sent + st.duplicated,
				  st.delivered + st.lost + st.cut + st.nat_dropped);
		ck_assert_uint_gt(st.lost, 0);
		ck_assert_uint_gt(st.cut, 0);
		ck_assert_uint_gt(st.duplicated, 0);
	}
	ck_assert_uint_gt(stats(net, POP1, BRANCH).nat_dropped, 0);
	simnet_free(net);
}
END_TEST

START_TEST(test_net_one_fault_does_not_shift_other_draws)
{
	enum { N = 5000 };
	bool *a = calloc(N, 1), *b = calloc(N, 1);
	struct simnet_link_conf c = { .delay_ms = 5, .loss_good_ppm = 100000 };
	struct simnet *net = net_new(32);

	/* The same loss pattern whether duplication and jitter are on or not... */
	set_link(net, BRANCH, POP1, c);
	loss_pattern(net, N, a);
	simnet_free(net);
	net = net_new(32);
	c.dup_ppm = 300000;
	c.jitter_ms = 3;
	set_link(net, BRANCH, POP1, c);
	loss_pattern(net, N, b);
	ck_assert_mem_eq(a, b, N);
	simnet_free(net);
	/* ...and whatever another link carries. */
	net = net_new(32);
	c.dup_ppm = 0;
	c.jitter_ms = 0;
	set_link(net, BRANCH, POP1, c);
	set_link(net, POP2, BRANCH, c);
	struct simnet_addr p2 = addr("198.51.100.1", 500), bb = addr("10.0.0.2", 500);
	for (uint32_t i = 0; i < 777; i++)
		send_u32(net, 0, &p2, &bb, i);
	drain(net, 100);
	loss_pattern(net, N, b);
	ck_assert_mem_eq(a, b, N);
	/* Each link has a stream of its own: the same faults, another pattern. */
	set_link(net, BRANCH, POP2, c);
	loss_pattern_to(net, "198.51.100.1", N, b);
	ck_assert(memcmp(a, b, N) != 0);
	simnet_free(net);
	free(a);
	free(b);
}
END_TEST

START_TEST(test_net_dump_recent_keeps_the_last_events)
{
	struct simnet *net = net_new(33);
	struct simnet_addr b = addr("10.0.0.2", 500), p = addr("192.0.2.1", 500);
	char *text = NULL, *last;
	size_t len = 0, lines = 0;
	FILE *f;

	for (uint32_t i = 0; i < 300; i++)
		send_u32(net, 1000 + i, &b, &p, i);
	drain(net, 5000);
	f = open_memstream(&text, &len);
	ck_assert_ptr_nonnull(f);
	simnet_dump_recent(net, f);
	fclose(f);
	for (char *c = text; *c; c++)
		lines += *c == '\n';
	ck_assert_uint_eq(lines, SIMNET_TRACE_LEN);
	/* 600 events (300 sent, 300 delivered): the dump ends with the last delivery. */
	last = strrchr(text, '\n');
	*last = '\0';
	last = strrchr(text, '\n') + 1;
	ck_assert_str_eq(last,
		"     1.309 delivered   branch 10.0.0.2:500 -> pop1 192.0.2.1:500 len 4 #299");
	free(text);
	simnet_free(net);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sim_net");
	TCase *tc = tcase_create("net");

	tcase_add_test(tc, test_net_delivers_after_the_delay_with_both_addresses);
	tcase_add_test(tc, test_net_addresses_parse_print_and_convert);
	tcase_add_test(tc, test_net_same_seed_same_deliveries_other_seed_differs);
	tcase_add_test(tc, test_net_loss_rate_and_bursts);
	tcase_add_test(tc, test_net_duplicates_at_the_configured_rate);
	tcase_add_test(tc, test_net_delay_stays_within_base_and_jitter);
	tcase_add_test(tc, test_net_jitter_and_reorder_reorder_zero_jitter_never);
	tcase_add_test(tc, test_net_partition_drops_in_flight_and_heals);
	tcase_add_test(tc, test_net_nat_maps_the_source_and_lets_replies_in);
	tcase_add_test(tc, test_net_nat_drops_unsolicited_inbound);
	tcase_add_test(tc, test_net_nat_rebind_drops_old_mapping_and_gives_new_port);
	tcase_add_test(tc, test_net_nat_address_change_kills_old_mappings);
	tcase_add_test(tc, test_net_nat_mapping_expires_when_idle);
	tcase_add_test(tc, test_net_nat_port_block_wraps_and_runs_out_cleanly);
	tcase_add_test(tc, test_net_link_set_applies_to_one_link_or_all);
	tcase_add_test(tc, test_net_counters_add_up_under_every_fault);
	tcase_add_test(tc, test_net_one_fault_does_not_shift_other_draws);
	tcase_add_test(tc, test_net_dump_recent_keeps_the_last_events);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
