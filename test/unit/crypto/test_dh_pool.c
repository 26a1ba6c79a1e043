/*
 * lib/crypto/dh_pool.c: key pairs made ahead by worker threads. Not started, crypto_dh_new()
 * makes every pair itself; started, the workers fill a ring for each group asked for, each
 * pair is handed out once (every public value differs) and agrees with a peer's like one made
 * in place; taking faster than the workers make falls back to making pairs in place; stopping
 * frees what is left. Submitted work runs on a worker and comes back, in the order submitted,
 * through crypto_dh_pool_done() and a readable fd; stopping runs what is still queued. Run
 * under ThreadSanitizer too (meson -Db_sanitize=thread).
 */
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
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

/*
 * A work that notes which thread ran it, how often, and in which place of all runs. Its
 * runner writes thread and order, the test reads them after crypto_dh_pool_done() or a join,
 * either of which orders the two; the counters and flags are atomic.
 */
struct test_work {
	struct crypto_work w;
	pthread_t thread;
	int order;
	int runs;
	bool block;		/* wait for gate_open before returning */
	unsigned sleep_us;
};

static int run_seq;		/* atomic: runs so far, all works */
static int block_started;	/* atomic: a blocking work is running */
static int gate_open;		/* atomic: it may return */

static struct test_work *test_work_of(struct crypto_work *w)
{
	return (struct test_work *)((char *)w - offsetof(struct test_work, w));
}

static void test_work_run(struct crypto_work *w)
{
	struct test_work *t = test_work_of(w);

	t->thread = pthread_self();
	t->order = __atomic_fetch_add(&run_seq, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&t->runs, 1, __ATOMIC_RELAXED);
	if (t->block) {
		__atomic_store_n(&block_started, 1, __ATOMIC_RELEASE);
		while (!__atomic_load_n(&gate_open, __ATOMIC_ACQUIRE))
			usleep(1000);
	}
	if (t->sleep_us)
		usleep(t->sleep_us);
}

static void test_work_init(struct test_work *t, unsigned sleep_us)
{
	memset(t, 0, sizeof(*t));
	t->w.run = test_work_run;
	t->order = -1;
	t->sleep_us = sleep_us;
}

/* 1 when fd is readable within ms, 0 when not. */
static int readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int n = poll(&p, 1, ms);

	ck_assert_int_ge(n, 0);
	return n > 0 && (p.revents & POLLIN);
}

/* The done list is v[*got], v[*got + 1], ...: in the order submitted. */
static void take_done_in_order(struct test_work *v, unsigned n, unsigned *got)
{
	for (struct crypto_work *w = crypto_dh_pool_done(); w; w = w->next) {
		ck_assert_uint_lt(*got, n);
		ck_assert_ptr_eq(test_work_of(w), &v[*got]);
		(*got)++;
	}
}

/* A pool of one worker, held in the work first (until gate_open). */
static void hold_the_worker(struct test_work *first)
{
	ck_assert_int_eq(crypto_dh_pool_start(1, 4), 0);
	test_work_init(first, 0);
	first->block = true;
	ck_assert_int_eq(crypto_dh_pool_submit(&first->w), 0);
	for (int i = 0; !__atomic_load_n(&block_started, __ATOMIC_ACQUIRE); i++) {
		ck_assert_msg(i < 5000, "the worker did not take the first work");
		usleep(1000);
	}
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

/* No worker runs: the caller is told to run its work itself, and nothing is queued. */
START_TEST(test_pool_refuses_work_when_not_started)
{
	struct test_work t;
	struct crypto_dh_pool_stats st;

	test_work_init(&t, 0);
	ck_assert_int_eq(crypto_dh_pool_fd(), -1);
	ck_assert_int_eq(crypto_dh_pool_submit(&t.w), -EAGAIN);
	ck_assert_int_eq(crypto_dh_pool_start(0, 8), 0);	/* no workers: not started */
	ck_assert_int_eq(crypto_dh_pool_submit(&t.w), -EAGAIN);
	ck_assert_int_eq(crypto_dh_pool_start(1, 8), 0);
	crypto_dh_pool_stop();
	ck_assert_int_eq(crypto_dh_pool_submit(&t.w), -EAGAIN);	/* stopped again */
	ck_assert_ptr_null(crypto_dh_pool_done());
	ck_assert_int_eq(crypto_dh_pool_fd(), -1);
	crypto_dh_pool_stats(&st);
	ck_assert_uint_eq(st.work, 0);
	ck_assert_int_eq(__atomic_load_n(&t.runs, __ATOMIC_RELAXED), 0);
}
END_TEST

/*
 * Started, work runs on a worker, not the submitting thread; it comes back in the order
 * submitted, the fd readable while some waits to be taken and not once all was taken.
 */
START_TEST(test_pool_runs_work_on_a_worker_and_hands_it_back_in_order)
{
	enum { N = 8 };
	struct test_work v[N];
	struct crypto_dh_pool_stats a, b;
	unsigned got = 0;
	int fd;

	ck_assert_int_eq(crypto_dh_pool_start(1, 4), 0);
	fd = crypto_dh_pool_fd();
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(readable(fd, 0), 0);		/* nothing done yet */
	ck_assert_ptr_null(crypto_dh_pool_done());
	crypto_dh_pool_stats(&a);
	for (int i = 0; i < N; i++) {
		test_work_init(&v[i], 2000);
		ck_assert_int_eq(crypto_dh_pool_submit(&v[i].w), 0);
	}
	crypto_dh_pool_stats(&b);
	ck_assert_uint_eq(b.work - a.work, N);
	while (got < N) {
		unsigned before = got;

		ck_assert_msg(readable(fd, 5000), "%u of %u works came back", got, N);
		take_done_in_order(v, N, &got);
		ck_assert_uint_gt(got, before);	/* readable: something was there to take */
	}
	ck_assert_int_eq(readable(fd, 0), 0);		/* all taken: no longer readable */
	ck_assert_ptr_null(crypto_dh_pool_done());
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(__atomic_load_n(&v[i].runs, __ATOMIC_RELAXED), 1);
		ck_assert(!pthread_equal(v[i].thread, pthread_self()));
		ck_assert(pthread_equal(v[i].thread, v[0].thread));	/* the one worker */
		ck_assert_int_eq(v[i].order, i);
	}
	crypto_dh_pool_stats(&b);
	ck_assert_uint_eq(b.work - a.work, N);
	crypto_dh_pool_stop();
	ck_assert_int_eq(crypto_dh_pool_fd(), -1);
}
END_TEST

static void *stop_pool(void *arg)
{
	(void)arg;
	crypto_dh_pool_stop();
	return NULL;
}

/*
 * Work still queued when the pool stops is run by the stop, once, and comes back with the
 * rest. The one worker is held in the first work while more is queued behind it and, from
 * another thread, the stop begins: submitted until the pool refuses, every accepted work then
 * runs on the stopping thread, the refused one never.
 */
START_TEST(test_pool_stop_runs_the_work_still_queued)
{
	enum { MAX = 2000 };
	static struct test_work v[MAX + 1];
	pthread_t stopper;
	struct crypto_dh_pool_stats st;
	unsigned n, got = 0;

	hold_the_worker(&v[0]);
	for (n = 1; n < 8; n++) {
		test_work_init(&v[n], 0);
		ck_assert_int_eq(crypto_dh_pool_submit(&v[n].w), 0);
	}
	ck_assert_int_eq(pthread_create(&stopper, NULL, stop_pool, NULL), 0);
	/* Until the stop has begun: what it accepts meanwhile is queued too. */
	for (;;) {
		int rc;

		ck_assert_uint_lt(n, MAX);
		test_work_init(&v[n], 0);
		rc = crypto_dh_pool_submit(&v[n].w);
		if (rc == -EBUSY) {	/* the queue is full: the stop has not begun yet */
			usleep(1000);
			continue;
		}
		if (rc < 0)
			break;
		n++;
		usleep(1000);
	}
	ck_assert_int_eq(crypto_dh_pool_submit(&v[n].w), -EAGAIN);
	usleep(100 * 1000);	/* the stop marks the pool stopping, then waits for the worker */
	__atomic_store_n(&gate_open, 1, __ATOMIC_RELEASE);
	ck_assert_int_eq(pthread_join(stopper, NULL), 0);

	ck_assert_int_eq(crypto_dh_pool_fd(), -1);
	crypto_dh_pool_stats(&st);
	ck_assert_uint_eq(st.work, n);
	ck_assert_uint_eq(st.workers, 0);
	take_done_in_order(v, n, &got);
	ck_assert_uint_eq(got, n);
	ck_assert_ptr_null(crypto_dh_pool_done());
	ck_assert(!pthread_equal(v[0].thread, pthread_self()));
	ck_assert(!pthread_equal(v[0].thread, stopper));
	for (unsigned i = 0; i < n; i++) {
		ck_assert_int_eq(__atomic_load_n(&v[i].runs, __ATOMIC_RELAXED), 1);
		ck_assert_int_eq(v[i].order, (int)i);
		if (i > 0)
			ck_assert_msg(pthread_equal(v[i].thread, stopper),
				      "work %u of %u not run by the stop", i, n);
	}
	ck_assert_int_eq(__atomic_load_n(&v[n].runs, __ATOMIC_RELAXED), 0);	/* refused */
}
END_TEST

/*
 * A worker held in a work: CRYPTO_DH_POOL_QUEUE_MAX more wait behind it, the next is refused
 * (-EBUSY, counted) for the caller to run; once the worker goes on, all come back.
 */
START_TEST(test_pool_work_queue_is_bounded)
{
	enum { N = CRYPTO_DH_POOL_QUEUE_MAX + 1 };
	static struct test_work v[N + 1];
	struct crypto_dh_pool_stats st;
	unsigned got = 0;

	hold_the_worker(&v[0]);
	for (int i = 1; i < N; i++) {
		test_work_init(&v[i], 0);
		ck_assert_int_eq(crypto_dh_pool_submit(&v[i].w), 0);
	}
	test_work_init(&v[N], 0);
	ck_assert_int_eq(crypto_dh_pool_submit(&v[N].w), -EBUSY);
	crypto_dh_pool_stats(&st);
	ck_assert_uint_eq(st.work, N);
	ck_assert_uint_eq(st.work_busy, 1);
	__atomic_store_n(&gate_open, 1, __ATOMIC_RELEASE);
	while (got < N) {
		ck_assert_msg(readable(crypto_dh_pool_fd(), 5000), "%u of %u came back", got, N);
		take_done_in_order(v, N, &got);
	}
	ck_assert_int_eq(__atomic_load_n(&v[N].runs, __ATOMIC_RELAXED), 0);
	/* room again */
	ck_assert_int_eq(crypto_dh_pool_submit(&v[N].w), 0);
	crypto_dh_pool_stop();
	ck_assert_ptr_nonnull(crypto_dh_pool_done());
	ck_assert_int_eq(__atomic_load_n(&v[N].runs, __ATOMIC_RELAXED), 1);
}
END_TEST

/*
 * No pair ready and the worker busy: the caller makes X25519 pairs a batch at a time, takes
 * one and leaves the others ready for the next handshakes (up to the depth, 4 here).
 */
START_TEST(test_pool_pairs_made_here_come_in_a_batch)
{
	static struct test_work first;
	struct crypto_dh *v[6];
	struct crypto_dh_pool_stats st;

	hold_the_worker(&first);
	ck_assert_int_eq(crypto_dh_new(IKE_DH_CURVE25519, &v[0]), 0);
	crypto_dh_pool_stats(&st);
	ck_assert_uint_eq(st.made_here, 1);
	ck_assert_uint_eq(st.ready, 4);
	for (int i = 1; i < 6; i++) {
		ck_assert_int_eq(crypto_dh_new(IKE_DH_CURVE25519, &v[i]), 0);
		agree(v[i - 1], v[i]);
		ck_assert(memcmp(crypto_dh_public(v[i - 1]), crypto_dh_public(v[i]), 32) != 0);
	}
	crypto_dh_pool_stats(&st);
	ck_assert_uint_eq(st.ahead, 4);
	ck_assert_uint_eq(st.made_here, 2);	/* the sixth: the ring empty again */
	ck_assert_uint_eq(st.ready, 4);
	/* Other groups: one at a time, nothing left over. */
	crypto_dh_free(v[5]);
	ck_assert_int_eq(crypto_dh_new(IKE_DH_ECP_256, &v[5]), 0);
	crypto_dh_pool_stats(&st);
	ck_assert_uint_eq(st.made_here, 3);
	ck_assert_uint_eq(crypto_dh_pool_ready(IKE_DH_ECP_256), 0);
	__atomic_store_n(&gate_open, 1, __ATOMIC_RELEASE);
	crypto_dh_pool_stop();
	while (crypto_dh_pool_done())
		;
	for (int i = 0; i < 6; i++)
		crypto_dh_free(v[i]);
}
END_TEST

/* Stopped right after many slow works were submitted: each is run once and comes back. */
START_TEST(test_pool_stop_right_after_submitting_loses_no_work)
{
	enum { N = 32 };
	struct test_work v[N];
	unsigned got = 0;

	ck_assert_int_eq(crypto_dh_pool_start(1, 4), 0);
	for (int i = 0; i < N; i++) {
		test_work_init(&v[i], 5000);
		ck_assert_int_eq(crypto_dh_pool_submit(&v[i].w), 0);
	}
	crypto_dh_pool_stop();
	ck_assert_int_eq(crypto_dh_pool_fd(), -1);
	take_done_in_order(v, N, &got);
	ck_assert_uint_eq(got, N);
	ck_assert_ptr_null(crypto_dh_pool_done());
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(__atomic_load_n(&v[i].runs, __ATOMIC_RELAXED), 1);
		ck_assert_int_eq(v[i].order, i);
	}
	/* The last ones at least were still queued: run by the stop, on this thread. */
	ck_assert(pthread_equal(v[N - 1].thread, pthread_self()));
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
	tcase_add_test(tc, test_pool_refuses_work_when_not_started);
	tcase_add_test(tc, test_pool_runs_work_on_a_worker_and_hands_it_back_in_order);
	tcase_add_test(tc, test_pool_stop_runs_the_work_still_queued);
	tcase_add_test(tc, test_pool_stop_right_after_submitting_loses_no_work);
	tcase_add_test(tc, test_pool_work_queue_is_bounded);
	tcase_add_test(tc, test_pool_pairs_made_here_come_in_a_batch);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
