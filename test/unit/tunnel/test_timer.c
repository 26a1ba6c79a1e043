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

static void record(struct timer *t)
{
	struct rec *r = timer_owner(t, struct rec, t);

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
		timer_init(&r[i].t, record);
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
		timer_init(&r[i].t, record);
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

struct counted {
	struct timer t;
	int count;
};

static void rearm_once(struct timer *t)
{
	int *count = &timer_owner(t, struct counted, t)->count;

	if (++*count == 1)
		ck_assert_int_eq(timer_arm(rearm_heap, t, t->deadline_ms + 100), 0);
}

START_TEST(test_timer_callback_may_rearm_itself)
{
	struct timer_heap h = { 0 };
	struct counted c = { .count = 0 };

	rearm_heap = &h;
	timer_init(&c.t, rearm_once);
	ck_assert_int_eq(timer_arm(&h, &c.t, 10), 0);
	ck_assert_uint_eq(timer_run_due(&h, 50), 1);
	ck_assert(timer_armed(&c.t));
	ck_assert_int_eq(timer_next_timeout_ms(&h, 50), 60);
	ck_assert_uint_eq(timer_run_due(&h, 110), 1);
	ck_assert_int_eq(c.count, 2);
	ck_assert(!timer_armed(&c.t));
	timer_heap_clear(&h);
}
END_TEST

static void count_fire(struct timer *t)
{
	timer_owner(t, struct counted, t)->count++;
}

/* A deadline past TIMER_NEVER (UINT64_MAX: "never") waits until then, in 16 bytes. */
START_TEST(test_timer_never_is_capped_not_wrapped)
{
	struct timer_heap h = { 0 };
	struct counted a = { .count = 0 }, b = { .count = 0 };

	ck_assert_uint_eq(sizeof(struct timer), 16);
	timer_init(&a.t, count_fire);
	timer_init(&b.t, count_fire);
	ck_assert_int_eq(timer_arm(&h, &a.t, UINT64_MAX), 0);
	ck_assert_int_eq(timer_arm(&h, &b.t, TIMER_NEVER - 1), 0);
	ck_assert_int_eq(timer_next_timeout_ms(&h, 1000), INT_MAX);
	ck_assert_uint_eq(timer_run_due(&h, TIMER_NEVER - 2), 0);
	ck_assert_uint_eq(timer_run_due(&h, TIMER_NEVER - 1), 1);	/* b first */
	ck_assert_int_eq(b.count, 1);
	ck_assert(timer_armed(&a.t));
	ck_assert_uint_eq(timer_run_due(&h, UINT64_MAX), 1);
	ck_assert_int_eq(a.count, 1);
	timer_heap_clear(&h);
}
END_TEST

struct again {
	struct timer t;
	struct timer_heap *h;
	unsigned fired;
};

static void again_now(struct timer *t)
{
	struct again *a = timer_owner(t, struct again, t);

	a->fired++;
	timer_arm(a->h, t, t->deadline_ms);	/* for the same instant: forever */
}

/* One at a time: a timer that re-arms itself for now fires once per call, and returns. */
START_TEST(test_timer_run_one_fires_one)
{
	struct timer_heap h = { 0 };
	struct again a = { .h = &h };

	timer_init(&a.t, again_now);
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
