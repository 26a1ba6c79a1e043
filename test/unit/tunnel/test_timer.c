/* lib/tunnel/timer.c: the heap every deadline of the lifecycle goes through. */
#include <limits.h>

#include "testutil.h"
#include "tunnel/timer.h"

struct rec {
	struct timer t;
	int id;
	int *log;
	size_t *n;
};

static void record(struct timer *t, void *arg)
{
	struct rec *r = arg;

	(void)t;
	r->log[(*r->n)++] = r->id;
}

START_TEST(test_timer_fires_in_deadline_order)
{
	struct timer_heap h = { 0 };
	const uint64_t deadlines[] = { 50, 10, 40, 30, 20, 60, 5, 45 };
	const size_t n = sizeof(deadlines) / sizeof(deadlines[0]);
	struct rec r[8];
	int log[8];
	size_t fired = 0;

	for (size_t i = 0; i < n; i++) {
		r[i] = (struct rec){ .id = (int)deadlines[i], .log = log, .n = &fired };
		timer_init(&r[i].t, record, &r[i]);
		ck_assert_int_eq(timer_arm(&h, &r[i].t, deadlines[i]), 0);
	}
	ck_assert_int_eq(timer_next_timeout_ms(&h, 0), 5);
	ck_assert_uint_eq(timer_run_due(&h, 30), 4);
	ck_assert_int_eq(timer_next_timeout_ms(&h, 30), 10);
	ck_assert_uint_eq(timer_run_due(&h, 1000), 4);
	ck_assert_uint_eq(fired, n);
	for (size_t i = 1; i < n; i++)
		ck_assert_int_lt(log[i - 1], log[i]);
	ck_assert_int_eq(timer_next_timeout_ms(&h, 1000), -1);
	timer_heap_clear(&h);
}
END_TEST

START_TEST(test_timer_cancel_and_rearm_keep_heap_order)
{
	struct timer_heap h = { 0 };
	struct rec r[200];
	int log[200];
	size_t fired = 0;
	uint64_t last = 0;

	/* Pseudo-random deadlines; cancel every third, move every fifth. */
	for (int i = 0; i < 200; i++) {
		r[i] = (struct rec){ .id = i, .log = log, .n = &fired };
		timer_init(&r[i].t, record, &r[i]);
		ck_assert_int_eq(timer_arm(&h, &r[i].t, (uint64_t)((i * 7919) % 1000) + 1), 0);
	}
	for (int i = 0; i < 200; i += 3)
		timer_cancel(&h, &r[i].t);
	for (int i = 1; i < 200; i += 5)
		if (timer_armed(&r[i].t))
			ck_assert_int_eq(timer_arm(&h, &r[i].t, (uint64_t)((i * 104729) % 2000) + 1), 0);
	timer_cancel(&h, &r[0].t);	/* cancelling a disarmed timer is a no-op */
	ck_assert_uint_eq(timer_run_due(&h, 5000), 200 - 67);
	for (size_t i = 0; i < fired; i++) {
		ck_assert_msg(log[i] % 3 != 0, "cancelled timer %d fired", log[i]);
		ck_assert_uint_ge(r[log[i]].t.deadline_ms, last);
		last = r[log[i]].t.deadline_ms;
		ck_assert(!timer_armed(&r[log[i]].t));
	}
	timer_heap_clear(&h);
}
END_TEST

static struct timer_heap *rearm_heap;

static void rearm_once(struct timer *t, void *arg)
{
	int *count = arg;

	if (++*count == 1)
		ck_assert_int_eq(timer_arm(rearm_heap, t, t->deadline_ms + 100), 0);
}

START_TEST(test_timer_callback_may_rearm_itself)
{
	struct timer_heap h = { 0 };
	struct timer t;
	int count = 0;

	rearm_heap = &h;
	timer_init(&t, rearm_once, &count);
	ck_assert_int_eq(timer_arm(&h, &t, 10), 0);
	ck_assert_uint_eq(timer_run_due(&h, 50), 1);
	ck_assert(timer_armed(&t));
	ck_assert_int_eq(timer_next_timeout_ms(&h, 50), 60);
	ck_assert_uint_eq(timer_run_due(&h, 110), 1);
	ck_assert_int_eq(count, 2);
	ck_assert(!timer_armed(&t));
	timer_heap_clear(&h);
}
END_TEST

static void count_fire(struct timer *t, void *arg)
{
	(void)t;
	++*(int *)arg;
}

/* A deadline past TIMER_NEVER (UINT64_MAX: "never") waits until then, in 24 bytes. */
START_TEST(test_timer_never_is_capped_not_wrapped)
{
	struct timer_heap h = { 0 };
	struct timer a, b;
	int ca = 0, cb = 0;

	ck_assert_uint_eq(sizeof(struct timer), 24);
	timer_init(&a, count_fire, &ca);
	timer_init(&b, count_fire, &cb);
	ck_assert_int_eq(timer_arm(&h, &a, UINT64_MAX), 0);
	ck_assert_int_eq(timer_arm(&h, &b, TIMER_NEVER - 1), 0);
	ck_assert_int_eq(timer_next_timeout_ms(&h, 1000), INT_MAX);
	ck_assert_uint_eq(timer_run_due(&h, TIMER_NEVER - 2), 0);
	ck_assert_uint_eq(timer_run_due(&h, TIMER_NEVER - 1), 1);	/* b first */
	ck_assert_int_eq(cb, 1);
	ck_assert(timer_armed(&a));
	ck_assert_uint_eq(timer_run_due(&h, UINT64_MAX), 1);
	ck_assert_int_eq(ca, 1);
	timer_heap_clear(&h);
}
END_TEST

struct again {
	struct timer t;
	struct timer_heap *h;
	unsigned fired;
};

static void again_now(struct timer *t, void *arg)
{
	struct again *a = arg;

	a->fired++;
	timer_arm(a->h, t, t->deadline_ms);	/* for the same instant: forever */
}

/* One at a time: a timer that re-arms itself for now fires once per call, and returns. */
START_TEST(test_timer_run_one_fires_one)
{
	struct timer_heap h = { 0 };
	struct again a = { .h = &h };

	timer_init(&a.t, again_now, &a);
	ck_assert_int_eq(timer_arm(&h, &a.t, 10), 0);
	ck_assert(!timer_run_one(&h, 9));
	ck_assert(timer_run_one(&h, 10));
	ck_assert_uint_eq(a.fired, 1);
	ck_assert(timer_run_one(&h, 10));
	ck_assert_uint_eq(a.fired, 2);
	ck_assert(timer_armed(&a.t));
	timer_heap_clear(&h);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tunnel_timer");
	TCase *tc = tcase_create("heap");

	tcase_add_test(tc, test_timer_fires_in_deadline_order);
	tcase_add_test(tc, test_timer_cancel_and_rearm_keep_heap_order);
	tcase_add_test(tc, test_timer_callback_may_rearm_itself);
	tcase_add_test(tc, test_timer_run_one_fires_one);
	tcase_add_test(tc, test_timer_never_is_capped_not_wrapped);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
