/* ikd/loop.c: fds and timers in one loop, and deleting an fd from inside a handler. */
#include <fcntl.h>
#include <unistd.h>

#include "testutil.h"
#include "ikd/loop.h"

struct pipe_end {
	struct loop_fd lf;
	int reads;
	struct loop_fd *victim;	/* deleted (and its fd closed) by this handler */
};

static void on_readable(struct loop *l, struct loop_fd *f, uint32_t events)
{
	struct pipe_end *p = f->arg;
	char c;

	ck_assert(events & EPOLLIN);
	ck_assert_int_eq(read(f->fd, &c, 1), 1);
	p->reads++;
	if (p->victim) {
		loop_del(l, p->victim);
		close(p->victim->fd);
		p->victim->fd = -1;
		p->victim = NULL;
	}
}

static struct loop *stop_loop;	/* the loop on_timer_stop() stops */

static void on_timer_stop(struct timer *t)
{
	(void)t;
	loop_stop(stop_loop, 42);
}

START_TEST(test_loop_runs_fd_handlers_then_stops_from_a_timer)
{
	struct loop l;
	struct pipe_end p = { 0 };
	struct timer stop;
	int fds[2];

	ck_assert_int_eq(loop_init(&l), 0);
	ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
	ck_assert_int_eq(loop_add(&l, &p.lf, fds[0], EPOLLIN, on_readable, &p), 0);
	ck_assert_int_eq(write(fds[1], "ab", 2), 2);
	stop_loop = &l;
	timer_init(&stop, on_timer_stop);
	ck_assert_int_eq(timer_arm(&l.timers, &stop, timer_now_ms() + 20), 0);
	ck_assert_int_eq(loop_run(&l), 42);
	ck_assert_int_eq(p.reads, 2);
	loop_del(&l, &p.lf);
	close(fds[0]);
	close(fds[1]);
	loop_clear(&l);
}
END_TEST

START_TEST(test_loop_delete_during_dispatch_drops_the_pending_event)
{
	struct loop l;
	struct pipe_end a = { 0 }, b = { 0 };
	struct timer stop;
	int pa[2], pb[2];

	ck_assert_int_eq(loop_init(&l), 0);
	ck_assert_int_eq(pipe2(pa, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(pb, O_CLOEXEC), 0);
	ck_assert_int_eq(loop_add(&l, &a.lf, pa[0], EPOLLIN, on_readable, &a), 0);
	ck_assert_int_eq(loop_add(&l, &b.lf, pb[0], EPOLLIN, on_readable, &b), 0);
	/* Both readable in the same batch; whichever runs first deletes the other. */
	a.victim = &b.lf;
	b.victim = &a.lf;
	ck_assert_int_eq(write(pa[1], "x", 1), 1);
	ck_assert_int_eq(write(pb[1], "x", 1), 1);
	stop_loop = &l;
	timer_init(&stop, on_timer_stop);
	ck_assert_int_eq(timer_arm(&l.timers, &stop, timer_now_ms() + 20), 0);
	ck_assert_int_eq(loop_run(&l), 42);
	ck_assert_int_eq(a.reads + b.reads, 1);
	close(pa[1]);
	close(pb[1]);
	if (a.lf.fd >= 0)
		close(a.lf.fd);
	if (b.lf.fd >= 0)
		close(b.lf.fd);
	loop_clear(&l);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ikd_loop");
	TCase *tc = tcase_create("loop");

	tcase_add_test(tc, test_loop_runs_fd_handlers_then_stops_from_a_timer);
	tcase_add_test(tc, test_loop_delete_during_dispatch_drops_the_pending_event);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
