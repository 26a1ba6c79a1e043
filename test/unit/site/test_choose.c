/* lib/site/choose.c: which POP carries a site's traffic, start-up to outage and back. */
#include "testutil.h"
#include "site/choose.h"

#define S(x) ((uint64_t)(x) * 1000)

static const struct site_choice_cfg cfg = { .hold_down_ms = S(60), .grace_ms = S(5) };

struct fx {
	struct site_choice c;
	struct site_pop_view p[3];	/* primary, backup 1, backup 2 */
	struct site_choice_out out;
};

static void fx_init(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	site_choice_init(&f->c);
}

static void up(struct fx *f, int i, uint64_t now)
{
	f->p[i].state = SITE_POP_USABLE;
	f->p[i].usable_since_ms = now;
}

static void set(struct fx *f, int i, enum site_pop_state st)
{
	f->p[i].state = st;
}

static void ask(struct fx *f, uint64_t now)
{
	site_choose(&f->c, &cfg, f->p, 3, now, &f->out);
}

/* The primary answers first: traffic to it from the start, one "active" event. */
START_TEST(test_choose_primary_first)
{
	struct fx f;

	fx_init(&f);
	ask(&f, 0);
	ck_assert_int_eq(f.out.to, -1);
	ck_assert_int_eq(f.out.ev, SITE_EV_NONE);	/* blocked from the start, nothing moved */
	set(&f, 1, SITE_POP_CONNECTING);
	up(&f, 0, S(1));
	ask(&f, S(1));
	ck_assert_int_eq(f.out.to, 0);
	ck_assert_int_eq(f.out.ev, SITE_EV_ACTIVE);
	up(&f, 1, S(2));
	ask(&f, S(2));
	ck_assert_int_eq(f.out.to, 0);
	ck_assert_int_eq(f.out.ev, SITE_EV_NONE);
}
END_TEST

/*
 * The backup's handshake finishes first while the primary's is under way: the backup waits
 * (the site stays blocked) and the primary, up within the grace, is the first active POP.
 */
START_TEST(test_choose_backup_first_waits_for_the_primary)
{
	struct fx f;

	fx_init(&f);
	set(&f, 0, SITE_POP_CONNECTING);
	set(&f, 1, SITE_POP_CONNECTING);
	ask(&f, 0);
	up(&f, 1, S(1));
	ask(&f, S(1));
	ck_assert_int_eq(f.out.to, -1);
	ck_assert(f.out.grace_started);
	ck_assert_uint_eq(f.out.wake_ms, S(6));
	ck_assert_int_eq(f.out.ev, SITE_EV_NONE);
	ask(&f, S(3));				/* asked again meanwhile: still waiting */
	ck_assert_int_eq(f.out.to, -1);
	ck_assert(!f.out.grace_started);
	up(&f, 0, S(4));
	ask(&f, S(4));
	ck_assert_int_eq(f.out.to, 0);
	ck_assert_int_eq(f.out.ev, SITE_EV_ACTIVE);
	ck_assert(!f.out.counted);
}
END_TEST

/*
 * The primary is late beyond the grace: the backup carries the traffic; when the primary
 * comes up, traffic moves to it at once (no hold-down), as "active", not counted.
 */
START_TEST(test_choose_late_primary_is_no_fallback)
{
	struct fx f;

	fx_init(&f);
	set(&f, 0, SITE_POP_CONNECTING);
	up(&f, 1, S(1));
	ask(&f, S(1));
	ck_assert_int_eq(f.out.to, -1);
	ask(&f, S(6));				/* the grace is over */
	ck_assert_int_eq(f.out.to, 1);
	ck_assert_int_eq(f.out.ev, SITE_EV_ACTIVE);
	set(&f, 0, SITE_POP_DOWN);		/* its attempt timed out; tried again later */
	ask(&f, S(10));
	ck_assert_int_eq(f.out.to, 1);
	set(&f, 0, SITE_POP_CONNECTING);
	ask(&f, S(12));
	ck_assert_int_eq(f.out.to, 1);		/* no grace while a POP is active */
	up(&f, 0, S(16));
	ask(&f, S(16));
	ck_assert_int_eq(f.out.from, 1);
	ck_assert_int_eq(f.out.to, 0);
	ck_assert_int_eq(f.out.ev, SITE_EV_ACTIVE);
	ck_assert(!f.out.counted);
}
END_TEST

/*
 * The backup carrying the traffic dies while the primary is mid-handshake (it is retrying a
 * dead primary, say): another usable backup takes the traffic at once, a failover. The grace
 * is for a site that had no active POP; this one had, and waiting would block it (found by
 * the simulator's failover bound, seed 35265).
 */
START_TEST(test_choose_failover_does_not_wait_for_a_connecting_primary)
{
	struct fx f;

	fx_init(&f);
	set(&f, 0, SITE_POP_DOWN);
	up(&f, 1, S(1));
	up(&f, 2, S(1));
	ask(&f, S(10));
	ck_assert_int_eq(f.out.to, 1);
	set(&f, 0, SITE_POP_CONNECTING);
	set(&f, 1, SITE_POP_DOWN);
	ask(&f, S(20));
	ck_assert_int_eq(f.out.from, 1);
	ck_assert_int_eq(f.out.to, 2);
	ck_assert_int_eq(f.out.ev, SITE_EV_FAILOVER);
	ck_assert(!f.out.grace_started);
}
END_TEST

/* The primary's attempt fails during the grace: the backup need not wait any longer. */
START_TEST(test_choose_grace_ends_when_the_primary_fails)
{
	struct fx f;

	fx_init(&f);
	set(&f, 0, SITE_POP_CONNECTING);
	up(&f, 1, S(1));
	ask(&f, S(1));
	ck_assert_int_eq(f.out.to, -1);
	set(&f, 0, SITE_POP_DOWN);
	ask(&f, S(2));
	ck_assert_int_eq(f.out.to, 1);
	ck_assert_int_eq(f.out.ev, SITE_EV_ACTIVE);
}
END_TEST

/* No grace configured: the first usable POP at once. */
START_TEST(test_choose_no_grace)
{
	struct fx f;
	const struct site_choice_cfg none = { .hold_down_ms = S(60) };

	fx_init(&f);
	set(&f, 0, SITE_POP_CONNECTING);
	up(&f, 1, S(1));
	site_choose(&f.c, &none, f.p, 3, S(1), &f.out);
	ck_assert_int_eq(f.out.to, 1);
}
END_TEST

/*
 * The primary fails: failover at once (counted); it comes back: traffic returns only after
 * the hold-down (a fallback, counted), and the machine asks to be woken for it.
 */
START_TEST(test_choose_failover_and_held_down_fallback)
{
	struct fx f;

	fx_init(&f);
	up(&f, 0, S(1));
	up(&f, 1, S(1));
	ask(&f, S(1));
	ck_assert_int_eq(f.out.to, 0);
	set(&f, 0, SITE_POP_DOWN);
	ask(&f, S(100));
	ck_assert_int_eq(f.out.to, 1);
	ck_assert_int_eq(f.out.ev, SITE_EV_FAILOVER);
	ck_assert(f.out.counted);
	set(&f, 0, SITE_POP_CONNECTING);
	ask(&f, S(102));
	ck_assert_int_eq(f.out.to, 1);
	up(&f, 0, S(104));
	ask(&f, S(104));
	ck_assert_int_eq(f.out.to, 1);
	ck_assert_uint_eq(f.out.wake_ms, S(164));
	ask(&f, S(163));
	ck_assert_int_eq(f.out.to, 1);
	ask(&f, S(164));
	ck_assert_int_eq(f.out.to, 0);
	ck_assert_int_eq(f.out.ev, SITE_EV_FALLBACK);
	ck_assert(f.out.counted);
	/* Back on the primary, its history is clean: a second failure is a failure again. */
	set(&f, 0, SITE_POP_DOWN);
	ask(&f, S(200));
	ck_assert_int_eq(f.out.ev, SITE_EV_FAILOVER);
}
END_TEST

/*
 * The primary failed and is back, still inside its hold-down, when the backup carrying the
 * traffic fails too: the traffic moves to the primary at once, and that is a failover (the
 * active POP failed), not a fallback (found by the simulator, seed 17).
 */
START_TEST(test_choose_backup_fails_inside_the_hold_down)
{
	struct fx f;

	fx_init(&f);
	up(&f, 0, S(1));
	up(&f, 1, S(1));
	ask(&f, S(1));
	set(&f, 0, SITE_POP_DOWN);
	ask(&f, S(10));
	ck_assert_int_eq(f.out.to, 1);
	up(&f, 0, S(20));
	ask(&f, S(20));
	ck_assert_int_eq(f.out.to, 1);		/* held down until 80 s */
	set(&f, 1, SITE_POP_DOWN);
	ask(&f, S(30));
	ck_assert_int_eq(f.out.to, 0);
	ck_assert_int_eq(f.out.ev, SITE_EV_FAILOVER);
	ck_assert(f.out.counted);
}
END_TEST

/* A flapping primary is taken back at most once per hold-down. */
START_TEST(test_choose_flapping_primary)
{
	struct fx f;
	unsigned fallbacks = 0;

	fx_init(&f);
	up(&f, 0, 0);
	up(&f, 1, 0);
	ask(&f, 0);
	for (uint64_t t = S(10); t <= S(120); t += S(10)) {
		if ((t / S(10)) % 2)
			set(&f, 0, SITE_POP_DOWN);
		else
			up(&f, 0, t);
		ask(&f, t);
		fallbacks += f.out.ev == SITE_EV_FALLBACK;
	}
	ck_assert_uint_eq(fallbacks, 0);	/* never up for 60 s in a row */
	ck_assert_int_eq(f.c.active, 1);
}
END_TEST

/* Every POP gone: blocked (fail-closed); back: a fresh start, grace included, no fallback. */
START_TEST(test_choose_all_dark_then_back)
{
	struct fx f;

	fx_init(&f);
	up(&f, 0, 0);
	up(&f, 1, 0);
	ask(&f, 0);
	set(&f, 0, SITE_POP_DOWN);
	ask(&f, S(3));
	ck_assert_int_eq(f.out.to, 1);
	set(&f, 1, SITE_POP_DOWN);
	ask(&f, S(4));
	ck_assert_int_eq(f.out.to, -1);
	ck_assert_int_eq(f.out.ev, SITE_EV_BLOCKED);
	set(&f, 0, SITE_POP_CONNECTING);
	up(&f, 1, S(30));
	ask(&f, S(30));
	ck_assert_int_eq(f.out.to, -1);		/* the backup waits for the primary */
	ck_assert(f.out.grace_started);
	up(&f, 0, S(31));
	ask(&f, S(31));
	ck_assert_int_eq(f.out.to, 0);
	ck_assert_int_eq(f.out.ev, SITE_EV_ACTIVE);
	ck_assert(!f.out.counted);
}
END_TEST

/* A probe failing everywhere never blocks the site: an established tunnel carries it. */
START_TEST(test_choose_probe_failing_everywhere_still_carries)
{
	struct fx f;

	fx_init(&f);
	up(&f, 0, 0);
	up(&f, 1, 0);
	ask(&f, 0);
	set(&f, 0, SITE_POP_ESTABLISHED);
	ask(&f, S(5));
	ck_assert_int_eq(f.out.to, 1);		/* the backup's probe answers */
	set(&f, 1, SITE_POP_ESTABLISHED);
	ask(&f, S(6));
	ck_assert_int_eq(f.out.to, 1);		/* keep the current one */
	ck_assert_int_eq(f.out.ev, SITE_EV_NONE);
	set(&f, 1, SITE_POP_DOWN);
	ask(&f, S(7));
	ck_assert_int_eq(f.out.to, 0);
	ck_assert_int_eq(f.out.ev, SITE_EV_FAILOVER);	/* forced: the backup is gone */
}
END_TEST

/* Backups in order: the second backup only when the first is not usable. */
START_TEST(test_choose_backups_in_order)
{
	struct fx f;

	fx_init(&f);
	up(&f, 2, 0);
	ask(&f, 0);
	ck_assert_int_eq(f.out.to, 2);
	up(&f, 1, S(1));
	ask(&f, S(1));
	ck_assert_int_eq(f.out.to, 2);		/* no move between backups while one is fine */
	set(&f, 2, SITE_POP_NONE);		/* its POP stopped accepting */
	ask(&f, S(2));
	ck_assert_int_eq(f.out.to, 1);
	ck_assert_int_eq(f.out.ev, SITE_EV_FAILOVER);
	ck_assert_str_eq(site_choice_event_name(f.out.ev), "failover");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("site_choose");
	TCase *tc = tcase_create("choose");

	tcase_add_test(tc, test_choose_primary_first);
	tcase_add_test(tc, test_choose_backup_first_waits_for_the_primary);
	tcase_add_test(tc, test_choose_late_primary_is_no_fallback);
	tcase_add_test(tc, test_choose_grace_ends_when_the_primary_fails);
	tcase_add_test(tc, test_choose_failover_does_not_wait_for_a_connecting_primary);
	tcase_add_test(tc, test_choose_no_grace);
	tcase_add_test(tc, test_choose_failover_and_held_down_fallback);
	tcase_add_test(tc, test_choose_flapping_primary);
	tcase_add_test(tc, test_choose_all_dark_then_back);
	tcase_add_test(tc, test_choose_probe_failing_everywhere_still_carries);
	tcase_add_test(tc, test_choose_backups_in_order);
	tcase_add_test(tc, test_choose_backup_fails_inside_the_hold_down);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
