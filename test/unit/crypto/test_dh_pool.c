/*
 * lib/crypto/dh_pool.c: key pairs made ahead by worker threads. Not started, crypto_dh_new()
 * makes every pair itself; started, the workers fill a ring for each group asked for, each
 * pair is handed out once (every public value differs) and agrees with a peer's like one made
 * in place; taking faster than the workers make falls back to making pairs in place; stopping
 * frees what is left. Run under ThreadSanitizer too (meson -Db_sanitize=thread).
 */
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "crypto/dh.h"
#include "ike/message.h"

static void wait_ready(uint16_t group, unsigned want)
{
	unsigned n = 0;

	for (int i = 0; i < 5000; i++) {
		if ((n = crypto_dh_pool_ready(group)) >= want)
			return;
		usleep(1000);
	}
	ck_abort_msg("the workers made %u pairs of group %u ahead, not %u", n, group, want);
}

/* a and b agree on a shared secret, as two ends of a handshake. */
static void agree(struct crypto_dh *a, struct crypto_dh *b)
{
	const struct crypto_dh_group *g = crypto_dh_group_of(a);
	struct secret sa = { 0 }, sb = { 0 };

	ck_assert_int_eq(crypto_dh_derive(a, crypto_dh_public(b), g->pub_len, &sa), 0);
	ck_assert_int_eq(crypto_dh_derive(b, crypto_dh_public(a), g->pub_len, &sb), 0);
	ck_assert_uint_eq(sa.len, sb.len);
	ck_assert_mem_eq(sa.p, sb.p, sa.len);
	secret_clear(&sa);
	secret_clear(&sb);
}

static void take_ahead(uint16_t group, unsigned depth)
{
	struct crypto_dh *v[16], *peer;
	struct crypto_dh_pool_stats before, after;
	const struct crypto_dh_group *g = crypto_dh_find(group);

	ck_assert_uint_le(depth, 16);
	ck_assert_int_eq(crypto_dh_new(group, &peer), 0);	/* the first ask: made here */
	wait_ready(group, depth);
	crypto_dh_pool_stats(&before);
	for (unsigned i = 0; i < depth; i++)
		ck_assert_int_eq(crypto_dh_new(group, &v[i]), 0);
	crypto_dh_pool_stats(&after);
	ck_assert_uint_eq(after.ahead - before.ahead, depth);
	ck_assert_uint_eq(after.made_here, before.made_here);
	for (unsigned i = 0; i < depth; i++) {
		ck_assert_ptr_eq(crypto_dh_group_of(v[i]), g);
		for (unsigned j = 0; j < i; j++)
			ck_assert(memcmp(crypto_dh_public(v[i]), crypto_dh_public(v[j]),
					 g->pub_len) != 0);
		agree(v[i], peer);
	}
	for (unsigned i = 0; i < depth; i++)
		crypto_dh_free(v[i]);
	crypto_dh_free(peer);
}

START_TEST(test_pool_not_started_makes_pairs_in_place)
{
	struct crypto_dh *a, *b;
	struct crypto_dh_pool_stats st;

	ck_assert_int_eq(crypto_dh_new(IKE_DH_CURVE25519, &a), 0);
	ck_assert_int_eq(crypto_dh_new(IKE_DH_CURVE25519, &b), 0);
	agree(a, b);
	crypto_dh_pool_stats(&st);
	ck_assert_uint_eq(st.workers, 0);
	ck_assert_uint_eq(st.ready, 0);
	crypto_dh_free(a);
	crypto_dh_free(b);
	ck_assert_int_eq(crypto_dh_new(9999, &a), -EOPNOTSUPP);
}
END_TEST

START_TEST(test_pool_hands_each_pair_out_once)
{
	struct crypto_dh_pool_stats st;
	struct crypto_dh *a;

	ck_assert_int_eq(crypto_dh_pool_start(2, 8), 0);
	ck_assert_int_eq(crypto_dh_pool_start(2, 8), -EALREADY);
	take_ahead(IKE_DH_CURVE25519, 8);
	take_ahead(IKE_DH_MODP_2048, 3);
	take_ahead(IKE_DH_ECP_256, 4);
	ck_assert_int_eq(crypto_dh_new(9999, &a), -EOPNOTSUPP);	/* no ring for it */
	crypto_dh_pool_stop();
	crypto_dh_pool_stats(&st);
	ck_assert_uint_eq(st.workers, 0);
	ck_assert_uint_eq(st.ready, 0);
	/* Stopped: made in place again, and it starts again. */
	ck_assert_int_eq(crypto_dh_new(IKE_DH_CURVE25519, &a), 0);
	crypto_dh_free(a);
	ck_assert_int_eq(crypto_dh_pool_start(1, 2), 0);
	take_ahead(IKE_DH_CURVE25519, 2);
	crypto_dh_pool_stop();
}
END_TEST

/*
 * A worker that keeps up is woken when a ring is down to half, not for every pair taken: a
 * wake-up is a system call in the caller's thread (and the worker's lock against it).
 */
START_TEST(test_pool_wakes_a_worker_at_half)
{
	struct crypto_dh *v[5], *peer;
	struct crypto_dh_pool_stats a, b;

	ck_assert_int_eq(crypto_dh_pool_start(1, 8), 0);
	ck_assert_int_eq(crypto_dh_new(IKE_DH_CURVE25519, &peer), 0);
	wait_ready(IKE_DH_CURVE25519, 8);
	crypto_dh_pool_stats(&a);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(crypto_dh_new(IKE_DH_CURVE25519, &v[i]), 0);
	crypto_dh_pool_stats(&b);
	ck_assert_uint_eq(b.ahead - a.ahead, 3);
	ck_assert_uint_eq(b.wakeups, a.wakeups);	/* five left of eight: none */
	usleep(50 * 1000);
	ck_assert_uint_eq(crypto_dh_pool_ready(IKE_DH_CURVE25519), 5);	/* not refilled */
	ck_assert_int_eq(crypto_dh_new(IKE_DH_CURVE25519, &v[3]), 0);	/* four left: half */
	crypto_dh_pool_stats(&b);
	ck_assert_uint_eq(b.wakeups, a.wakeups + 1);
	wait_ready(IKE_DH_CURVE25519, 8);		/* to the brim again */
	ck_assert_int_eq(crypto_dh_new(IKE_DH_CURVE25519, &v[4]), 0);
	crypto_dh_pool_stats(&b);
	ck_assert_uint_eq(b.wakeups, a.wakeups + 1);
	for (int i = 0; i < 5; i++) {
		agree(v[i], peer);
		crypto_dh_free(v[i]);
	}
	crypto_dh_free(peer);
	crypto_dh_pool_stop();
}
END_TEST

/* A storm: taken faster than made, while the workers make more; every pair still unique. */
START_TEST(test_pool_taken_faster_than_made)
{
	enum { N = 400 };
	static uint8_t pubs[N][32];
	struct crypto_dh_pool_stats st, st0;

	crypto_dh_pool_stats(&st0);
	ck_assert_int_eq(crypto_dh_pool_start(2, 16), 0);
	for (int i = 0; i < N; i++) {
		struct crypto_dh *dh;

		ck_assert_int_eq(crypto_dh_new(IKE_DH_CURVE25519, &dh), 0);
		memcpy(pubs[i], crypto_dh_public(dh), 32);
		crypto_dh_free(dh);
	}
	crypto_dh_pool_stats(&st);
	ck_assert_uint_eq(st.ahead + st.made_here - st0.ahead - st0.made_here, N);
	ck_assert_uint_gt(st.made_here, st0.made_here);	/* the first, at least */
	crypto_dh_pool_stop();
	for (int i = 0; i < N; i++)
		for (int j = 0; j < i; j++)
			ck_assert(memcmp(pubs[i], pubs[j], 32) != 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("crypto_dh_pool");
	TCase *tc = tcase_create("pool");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_pool_not_started_makes_pairs_in_place);
	tcase_add_test(tc, test_pool_hands_each_pair_out_once);
	tcase_add_test(tc, test_pool_wakes_a_worker_at_half);
	tcase_add_test(tc, test_pool_taken_faster_than_made);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
