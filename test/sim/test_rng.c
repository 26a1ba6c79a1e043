/*
 * test/sim/rng.c: the published splitmix64 and xoshiro256** sequences, bounds and rates of
 * the derived draws, independent streams, and libsodium's and OpenSSL's randomness following
 * the seed (each run in a child process: the hooks are process-global).
 */
#include <sodium.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "crypto/dh.h"
#include "rng.h"

START_TEST(test_rng_matches_published_sequences)
{
	/* splitmix64 from 0, and xoshiro256** from the state {1, 2, 3, 4}. */
	const uint64_t sm[4] = { 0xe220a8397b1dcdafu, 0x6e789e6aa1b965f4u, 0x06c45d188009454fu,
				 0xf88bb8a8724c81ecu };
	const uint64_t xo[6] = { 11520, 0, 1509978240, 1215971899390074240u,
				 1216172134540287360u, 607988272756665600u };
	struct simr r;

	simr_seed(&r, 0);
	for (size_t i = 0; i < 4; i++)
		ck_assert_uint_eq(r.s[i], sm[i]);
	r = (struct simr){ .s = { 1, 2, 3, 4 } };
	for (size_t i = 0; i < 6; i++)
		ck_assert_uint_eq(simr_u64(&r), xo[i]);
}
END_TEST

START_TEST(test_rng_same_seed_same_stream)
{
	struct simr a, b, c;
	size_t same = 0;

	simr_seed(&a, 42);
	simr_seed(&b, 42);
	simr_seed(&c, 43);
	for (size_t i = 0; i < 1000; i++) {
		uint64_t x = simr_u64(&a);

		ck_assert_uint_eq(x, simr_u64(&b));
		same += x == simr_u64(&c);
	}
	ck_assert_uint_eq(same, 0);
}
END_TEST

START_TEST(test_rng_below_is_bounded_and_uniform)
{
	const uint64_t big = 3ull << 62;	/* not a power of two: rejection matters */
	size_t count[10] = { 0 }, high = 0;
	struct simr r;

	simr_seed(&r, 1);
	ck_assert_uint_eq(simr_below(&r, 0), 0);
	ck_assert_uint_eq(simr_below(&r, 1), 0);
	for (size_t i = 0; i < 100000; i++)
		count[simr_below(&r, 10)]++;
	for (size_t i = 0; i < 10; i++) {
		ck_assert_uint_gt(count[i], 9500);
		ck_assert_uint_lt(count[i], 10500);
	}
	for (size_t i = 0; i < 100000; i++) {
		uint64_t x = simr_below(&r, big);

		ck_assert_uint_lt(x, big);
		high += x >= big / 3 * 2;
	}
	/* The top third of [0, big) gets a third of the draws. */
	ck_assert_uint_gt(high, 32000);
	ck_assert_uint_lt(high, 34700);
}
END_TEST

START_TEST(test_rng_range_includes_both_ends)
{
	bool seen[3] = { false };
	struct simr r;

	simr_seed(&r, 2);
	for (size_t i = 0; i < 1000; i++) {
		uint64_t x = simr_range(&r, 5, 7);

		ck_assert_uint_ge(x, 5);
		ck_assert_uint_le(x, 7);
		seen[x - 5] = true;
	}
	ck_assert(seen[0] && seen[1] && seen[2]);
	ck_assert_uint_eq(simr_range(&r, 9, 9), 9);
	ck_assert_uint_eq(simr_range(&r, 9, 3), 9);
	(void)simr_range(&r, 0, UINT64_MAX);
}
END_TEST

START_TEST(test_rng_chance_rate_and_one_draw_each)
{
	struct simr r, a, b;
	size_t hits = 0;

	simr_seed(&r, 3);
	for (size_t i = 0; i < 100000; i++)
		hits += simr_chance(&r, 1, 4);
	ck_assert_uint_gt(hits, 24000);
	ck_assert_uint_lt(hits, 26000);
	for (size_t i = 0; i < 1000; i++) {
		ck_assert(!simr_chance(&r, 0, 100));
		ck_assert(simr_chance(&r, 100, 100));
		ck_assert(simr_chance(&r, 200, 100));
		ck_assert(!simr_chance(&r, 1, 0));
	}
	/* Certain or not, a chance is one draw: the stream after it does not depend on odds. */
	simr_seed(&a, 4);
	simr_seed(&b, 4);
	(void)simr_chance(&a, 0, 1000000);
	(void)simr_chance(&b, 500000, 1000000);
	(void)simr_chance(&a, 1, 0);
	(void)simr_chance(&b, 7, 7);
	ck_assert_uint_eq(simr_u64(&a), simr_u64(&b));
}
END_TEST

START_TEST(test_rng_split_and_derive_give_independent_streams)
{
	struct simr p, q, c1, c2, d1, d2, d3;
	size_t same = 0;

	simr_seed(&p, 5);
	q = p;
	c1 = simr_split(&p);
	c2 = simr_split(&q);
	ck_assert_mem_eq(&c1, &c2, sizeof(c1));	/* deterministic */
	ck_assert_mem_eq(&p, &q, sizeof(p));		/* parent advanced by one draw, both */
	d1 = simr_derive(&p, 1);
	d2 = simr_derive(&p, 1);
	d3 = simr_derive(&p, 2);
	ck_assert_mem_eq(&p, &q, sizeof(p));		/* derive leaves the parent alone */
	ck_assert_mem_eq(&d1, &d2, sizeof(d1));
	for (size_t i = 0; i < 1000; i++) {
		uint64_t x = simr_u64(&c1), y = simr_u64(&p), z = simr_u64(&d1), w = simr_u64(&d3);

		same += (x == y) + (x == z) + (y == z) + (z == w);
	}
	ck_assert_uint_eq(same, 0);
}
END_TEST

START_TEST(test_rng_fill_is_the_draws_in_order)
{
	struct simr a, b;
	uint8_t buf[13], want[16];

	simr_seed(&a, 6);
	simr_seed(&b, 6);
	simr_fill(&a, buf, sizeof(buf));
	for (size_t i = 0; i < 2; i++) {
		uint64_t x = simr_u64(&b);

		memcpy(want + 8 * i, &x, 8);
	}
	ck_assert_mem_eq(buf, want, sizeof(buf));
	ck_assert_uint_eq(simr_u64(&a), simr_u64(&b));
}
END_TEST

/* What one process draws through libsodium and lib/crypto from seed. */
struct draws {
	uint8_t buf[64];
	uint32_t random, uniform;
	uint8_t x25519[32];
	uint8_t modp[32];	/* the first bytes of a MODP-2048 public value */
	uint8_t ecp[32];	/* and of an ECP-256 one */
};

static void draw_in_child(int fd, uint64_t seed, bool openssl)
{
	struct simr sodium_r, openssl_r;
	struct draws d = { 0 };
	struct crypto_dh *dh;

	simr_seed(&sodium_r, seed);
	openssl_r = simr_split(&sodium_r);
	if (simr_sodium_install(&sodium_r) < 0 || sodium_init() < 0)
		_exit(2);
	if (openssl && simr_openssl_install(&openssl_r) < 0)
		_exit(3);
	randombytes_buf(d.buf, sizeof(d.buf));
	d.random = randombytes_random();
	d.uniform = randombytes_uniform(1000000);
	if (crypto_dh_new(IKE_DH_CURVE25519, &dh) < 0)
		_exit(4);
	memcpy(d.x25519, crypto_dh_public(dh), sizeof(d.x25519));
	crypto_dh_free(dh);
	if (crypto_dh_new(IKE_DH_MODP_2048, &dh) < 0)
		_exit(5);
	memcpy(d.modp, crypto_dh_public(dh), sizeof(d.modp));
	crypto_dh_free(dh);
	if (crypto_dh_new(IKE_DH_ECP_256, &dh) < 0)
		_exit(6);
	memcpy(d.ecp, crypto_dh_public(dh), sizeof(d.ecp));
	crypto_dh_free(dh);
	_exit(write(fd, &d, sizeof(d)) == (ssize_t)sizeof(d) ? 0 : 7);
}

static struct draws draws_of(uint64_t seed, bool openssl)
{
	struct draws d;
	int fds[2], status;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		draw_in_child(fds[1], seed, openssl);
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], &d, sizeof(d)), (ssize_t)sizeof(d));
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
	return d;
}

START_TEST(test_rng_sodium_follows_the_seed)
{
	struct draws a = draws_of(7, false), b = draws_of(7, false), c = draws_of(8, false);

	ck_assert_mem_eq(a.buf, b.buf, sizeof(a.buf));
	ck_assert_uint_eq(a.random, b.random);
	ck_assert_uint_eq(a.uniform, b.uniform);
	ck_assert_uint_lt(a.uniform, 1000000);
	ck_assert_mem_eq(a.x25519, b.x25519, sizeof(a.x25519));
	ck_assert(memcmp(a.buf, c.buf, sizeof(a.buf)) != 0);
	ck_assert(memcmp(a.x25519, c.x25519, sizeof(a.x25519)) != 0);
	/* MODP and ECP keys come from OpenSSL's own generator: not the seed's alone. */
	ck_assert(memcmp(a.modp, b.modp, sizeof(a.modp)) != 0);
	ck_assert(memcmp(a.ecp, b.ecp, sizeof(a.ecp)) != 0);
}
END_TEST

START_TEST(test_rng_openssl_follows_the_seed_when_installed)
{
	struct draws a = draws_of(7, true), b = draws_of(7, true), c = draws_of(8, true);

	ck_assert_mem_eq(a.modp, b.modp, sizeof(a.modp));
	ck_assert_mem_eq(a.ecp, b.ecp, sizeof(a.ecp));
	ck_assert_mem_eq(a.x25519, b.x25519, sizeof(a.x25519));
	ck_assert(memcmp(a.modp, c.modp, sizeof(a.modp)) != 0);
	ck_assert(memcmp(a.ecp, c.ecp, sizeof(a.ecp)) != 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sim_rng");
	TCase *tc = tcase_create("rng");
	TCase *hooks = tcase_create("hooks");

	tcase_add_test(tc, test_rng_matches_published_sequences);
	tcase_add_test(tc, test_rng_same_seed_same_stream);
	tcase_add_test(tc, test_rng_below_is_bounded_and_uniform);
	tcase_add_test(tc, test_rng_range_includes_both_ends);
	tcase_add_test(tc, test_rng_chance_rate_and_one_draw_each);
	tcase_add_test(tc, test_rng_split_and_derive_give_independent_streams);
	tcase_add_test(tc, test_rng_fill_is_the_draws_in_order);
	suite_add_tcase(s, tc);
	tcase_add_test(hooks, test_rng_sodium_follows_the_seed);
	tcase_add_test(hooks, test_rng_openssl_follows_the_seed_when_installed);
	tcase_set_timeout(hooks, 60);
	suite_add_tcase(s, hooks);
	return test_run_suite(s);
}
