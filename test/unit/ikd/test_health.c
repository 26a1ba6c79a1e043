/*
 * ikd/health.c: the downstream check. The rise/fall policy is fed results by hand; the
 * runner is driven through a real event loop with real programs and sockets, since what it
 * must get right (a timeout kills, every child is reaped, nothing leaks) is about them.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <limits.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "ikd/health.h"

START_TEST(test_health_first_result_decides_an_unknown_state)
{
	struct health_policy p;

	health_policy_init(&p, 2, 3);
	ck_assert_int_eq(p.state, HEALTH_UNKNOWN);
	ck_assert(health_policy_accepting(&p));
	ck_assert(health_policy_feed(&p, false));
	ck_assert_int_eq(p.state, HEALTH_DOWN);
	ck_assert(!health_policy_accepting(&p));

	health_policy_init(&p, 2, 3);
	ck_assert(health_policy_feed(&p, true));
	ck_assert_int_eq(p.state, HEALTH_UP);
	ck_assert(health_policy_accepting(&p));
	ck_assert_str_eq(health_state_name(p.state), "passing");
	ck_assert_str_eq(health_state_name(HEALTH_DOWN), "failing");
	ck_assert_str_eq(health_state_name(HEALTH_UNKNOWN), "unknown");
}
END_TEST

START_TEST(test_health_fall_then_rise_need_results_in_a_row)
{
	struct health_policy p;

	health_policy_init(&p, 2, 3);
	ck_assert(health_policy_feed(&p, true));
	/* Two failures, a pass: the streak starts over; three in a row change the state. */
	ck_assert(!health_policy_feed(&p, false));
	ck_assert(!health_policy_feed(&p, false));
	ck_assert(!health_policy_feed(&p, true));
	ck_assert(!health_policy_feed(&p, false));
	ck_assert(!health_policy_feed(&p, false));
	ck_assert(health_policy_accepting(&p));
	ck_assert(health_policy_feed(&p, false));
	ck_assert(!health_policy_accepting(&p));
	/* Further failures change nothing; one pass, a failure, two passes: up again. */
	ck_assert(!health_policy_feed(&p, false));
	ck_assert(!health_policy_feed(&p, true));
	ck_assert(!health_policy_feed(&p, false));
	ck_assert(!health_policy_feed(&p, true));
	ck_assert(!health_policy_accepting(&p));
	ck_assert(health_policy_feed(&p, true));
	ck_assert(health_policy_accepting(&p));
}
END_TEST

START_TEST(test_health_rise_and_fall_of_one_follow_every_result)
{
	struct health_policy p;

	health_policy_init(&p, 1, 1);
	ck_assert(health_policy_feed(&p, true));
	ck_assert(health_policy_feed(&p, false));
	ck_assert(!health_policy_feed(&p, false));
	ck_assert(health_policy_feed(&p, true));
	/* 0 would never change anything: it counts as 1. */
	health_policy_init(&p, 0, 0);
	ck_assert(health_policy_feed(&p, true));
	ck_assert(health_policy_feed(&p, false));
}
END_TEST

START_TEST(test_health_argv_splits_on_spaces_and_tabs)
{
	char buf[64], *argv[4];

	ck_assert_int_eq(health_argv("  /bin/check  -q\tdownstream ", buf, sizeof(buf), argv, 4), 3);
	ck_assert_str_eq(argv[0], "/bin/check");
	ck_assert_str_eq(argv[1], "-q");
	ck_assert_str_eq(argv[2], "downstream");
	ck_assert_ptr_null(argv[3]);
	ck_assert_int_eq(health_argv("/a b c d", buf, sizeof(buf), argv, 4), -E2BIG);
	ck_assert_int_eq(health_argv("/a bbbbbbbbbb", buf, 8, argv, 4), -E2BIG);
	ck_assert_int_eq(health_argv(" \t ", buf, sizeof(buf), argv, 4), -EINVAL);
}
END_TEST

/* ---- the runner, in a real loop ---- */

struct run {
	struct loop l;
	struct health h;
	struct timer poll, deadline;
	uint64_t want_checks;
	bool want_pid;		/* until a command runs, instead */
	int changes;
	bool accepting_seen[2];
};

static void on_change(struct health *h, void *arg)
{
	struct run *r = arg;

	r->changes++;
	r->accepting_seen[health_accepting(h)] = true;
}

static void on_poll(struct timer *t)
{
	struct run *r = timer_owner(t, struct run, poll);

	if (r->want_pid ? r->h.pid != 0 : r->h.checks >= r->want_checks)
		loop_stop(&r->l, 0);
	else
		timer_arm(&r->l.timers, t, timer_now_ms() + 5);
}

static void on_deadline(struct timer *t)
{
	struct run *r = timer_owner(t, struct run, deadline);

	loop_stop(&r->l, -ETIMEDOUT);
}

static void run_setup(struct run *r, enum conf_health kind, const char *target, uint32_t timeout_s,
		      uint32_t rise, uint32_t fall)
{
	struct ikd_conf c;

	memset(r, 0, sizeof(*r));
	ck_assert_int_eq(loop_init(&r->l), 0);
	health_init(&r->h, &r->l, on_change, r);
	conf_defaults(&c);
	c.role = CONF_ROLE_RESPONDER;
	c.health = kind;
	snprintf(c.health_target, sizeof(c.health_target), "%s", target);
	c.health_interval_s = 1;
	c.health_timeout_s = timeout_s;
	c.health_rise = rise;
	c.health_fall = fall;
	health_configure(&r->h, &c);
	timer_init(&r->poll, on_poll);
	timer_init(&r->deadline, on_deadline);
}

/* Run until n checks have ended; returns the milliseconds it took. */
static uint64_t run_until(struct run *r, uint64_t n, uint64_t max_ms)
{
	uint64_t t0 = timer_now_ms();

	r->want_checks = n;
	timer_arm(&r->l.timers, &r->poll, t0);
	timer_arm(&r->l.timers, &r->deadline, t0 + max_ms);
	ck_assert_int_eq(loop_run(&r->l), 0);
	r->l.stopping = false;
	timer_cancel(&r->l.timers, &r->deadline);
	return timer_now_ms() - t0;
}

static void run_until_started(struct run *r)
{
	r->want_pid = true;
	run_until(r, 0, 3000);
	r->want_pid = false;
	ck_assert_int_ne(r->h.pid, 0);
}

static void run_clear(struct run *r)
{
	health_clear(&r->h);
	loop_clear(&r->l);
}

static int count_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	int n = 0;

	ck_assert_ptr_nonnull(dir);
	while (readdir(dir))
		n++;
	closedir(dir);
	return n;
}

static void assert_no_child_left(void)
{
	ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
	ck_assert_int_eq(errno, ECHILD);
}

START_TEST(test_health_command_exit_status_decides)
{
	struct run r;
	int fds = count_fds();

	run_setup(&r, CONF_HEALTH_COMMAND, "/bin/true", 2, 2, 2);
	ck_assert(health_accepting(&r.h));
	run_until(&r, 1, 3000);
	ck_assert_int_eq(r.h.policy.state, HEALTH_UP);
	ck_assert_str_eq(r.h.result, "exit status 0");
	ck_assert_int_eq(r.changes, 0);	/* accepting before, accepting now */
	ck_assert_int_eq(r.h.pid, 0);
	assert_no_child_left();
	run_clear(&r);

	/* /bin/sh with words: "exit 3" is two arguments of -c ... so use false's status. */
	run_setup(&r, CONF_HEALTH_COMMAND, "/bin/false ignored args", 2, 2, 2);
	run_until(&r, 1, 3000);
	ck_assert(!health_accepting(&r.h));
	ck_assert_str_eq(r.h.result, "exit status 1");
	ck_assert_int_eq(r.changes, 1);
	ck_assert(r.accepting_seen[0]);
	ck_assert_uint_eq(r.h.failures, 1);
	assert_no_child_left();
	run_clear(&r);
	ck_assert_int_eq(count_fds(), fds);
}
END_TEST

START_TEST(test_health_command_that_cannot_run_fails)
{
	struct run r;

	run_setup(&r, CONF_HEALTH_COMMAND, "/nonexistent/check", 2, 1, 1);
	run_until(&r, 1, 3000);
	ck_assert(!health_accepting(&r.h));
	ck_assert_str_eq(r.h.result, "cannot run it: No such file or directory");
	run_clear(&r);
}
END_TEST

START_TEST(test_health_command_past_its_timeout_is_killed_and_fails)
{
	char dir[] = "/tmp/ikd-health-XXXXXX", file[64], cmd[256];
	struct run r;
	uint64_t ms;
	pid_t orphan = 0, pid;
	int st = 0;
	FILE *f;

	/*
	 * A group of two: sh and the sleep it starts (whose pid it writes down) must both die.
	 * As a subreaper this test inherits the orphaned sleep, so it can see how it ended.
	 */
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/pid", dir);
	snprintf(cmd, sizeof(cmd), "/bin/sh -c sleep${IFS}30&echo${IFS}$!>%s;wait", file);
	run_setup(&r, CONF_HEALTH_COMMAND, cmd, 1, 1, 1);
	r.h.interval_s = 10;	/* no second check while the first one's end is looked at */
	ms = run_until(&r, 1, 5000);
	ck_assert_uint_ge(ms, 950);
	ck_assert_uint_lt(ms, 2500);
	ck_assert(!health_accepting(&r.h));
	ck_assert_str_eq(r.h.result, "killed: no answer within 1 s");
	ck_assert_int_eq(r.h.pid, 0);
	f = fopen(file, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%d", &orphan), 1);
	fclose(f);
	for (int i = 0; i < 200; i++) {
		pid = waitpid(orphan, &st, WNOHANG);
		if (pid != 0)
			break;
		usleep(10000);	/* still running: it may take a moment to die */
	}
	ck_assert_int_eq(pid, orphan);
	ck_assert(WIFSIGNALED(st));
	ck_assert_int_eq(WTERMSIG(st), SIGKILL);
	assert_no_child_left();
	unlink(file);
	rmdir(dir);
	run_clear(&r);
}
END_TEST

/* A line of /proc/PID/status, e.g. "SigBlk:\t0000000000000000". */
static void proc_status(pid_t pid, const char *field, char *ret, size_t len)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	ret[0] = '\0';
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, strlen(field)))
			snprintf(ret, len, "%s", line);
	fclose(f);
}

/* "FD:TARGET " for each descriptor of pid, in the order the directory gives (ascending). */
static const char *fd_report(pid_t pid, char *buf, size_t len)
{
	char path[64], link[PATH_MAX + 64], target[PATH_MAX];
	struct dirent *e;
	size_t used = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	ck_assert_ptr_nonnull(dir);
	buf[0] = '\0';
	while ((e = readdir(dir)) && used < len) {
		ssize_t n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "%s/%s", path, e->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		used += (size_t)snprintf(buf + used, len - used, "%s:%s ", e->d_name, target);
	}
	closedir(dir);
	return buf;
}

START_TEST(test_health_command_runs_without_ikd_fds_signals_or_environment)
{
	char path[64], buf[512];
	struct run r;
	sigset_t blocked;
	ssize_t n = 0;

	/* As in ikd: signals blocked for the signalfd, SIGPIPE ignored, a secret-ish variable. */
	sigemptyset(&blocked);
	sigaddset(&blocked, SIGTERM);
	sigaddset(&blocked, SIGHUP);
	sigprocmask(SIG_BLOCK, &blocked, NULL);
	signal(SIGPIPE, SIG_IGN);
	setenv("IKD_TEST_VARIABLE", "must-not-be-passed", 1);
	run_setup(&r, CONF_HEALTH_COMMAND, "/bin/sleep 30", 10, 1, 1);
	run_until_started(&r);
	/*
	 * Its descriptors, once the dynamic loader has closed what it opened: exactly 0, 1, 2
	 * on /dev/null (not the loop's epoll fd, not the pidfd). A leaked one never goes away.
	 */
	for (int i = 0; i < 100 && strcmp(fd_report(r.h.pid, buf, sizeof(buf)),
					  "0:/dev/null 1:/dev/null 2:/dev/null "); i++)
		usleep(10000);
	ck_assert_str_eq(buf, "0:/dev/null 1:/dev/null 2:/dev/null ");
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)r.h.pid);
	/* Read empty for a moment after the exec: asked again until it is there. */
	for (int i = 0; i < 100; i++) {
		FILE *f = fopen(path, "r");

		ck_assert_ptr_nonnull(f);
		n = (ssize_t)fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		if (n > 0)
			break;
		usleep(10000);
	}
	buf[n] = '\0';
	ck_assert_str_eq(buf, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	proc_status(r.h.pid, "SigBlk:", buf, sizeof(buf));
	ck_assert_str_eq(buf, "SigBlk:\t0000000000000000\n");
	/* No standard signal ignored (SIGPIPE is, in ikd); glibc's own 32 and 33 may be. */
	proc_status(r.h.pid, "SigIgn:", buf, sizeof(buf));
	ck_assert_uint_eq(strtoull(buf + strlen("SigIgn:"), NULL, 16) & 0x7fffffffull, 0);
	/* Its own process group, so that a timeout reaches what it started. */
	ck_assert_int_eq(getpgid(r.h.pid), r.h.pid);
	run_clear(&r);
	assert_no_child_left();
}
END_TEST

static int listener(struct sockaddr_in *ret)
{
	socklen_t len = sizeof(*ret);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(ret, 0, sizeof(*ret));
	ret->sin_family = AF_INET;
	ret->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)ret, sizeof(*ret)), 0);
	ck_assert_int_eq(listen(fd, 4), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)ret, &len), 0);
	return fd;
}

START_TEST(test_health_tcp_connect_passes_a_closed_port_fails)
{
	struct sockaddr_in a;
	struct run r;
	char target[64];
	int fd = listener(&a), fds;

	fds = count_fds();
	snprintf(target, sizeof(target), "127.0.0.1:%u", ntohs(a.sin_port));
	run_setup(&r, CONF_HEALTH_TCP, target, 2, 1, 1);
	run_until(&r, 1, 3000);
	ck_assert_str_eq(r.h.result, "connected");
	ck_assert(health_accepting(&r.h));
	/* The listener goes: the next check, a second later, is refused. */
	close(fd);
	run_until(&r, 2, 3000);
	ck_assert_str_eq(r.h.result, "Connection refused");
	ck_assert(!health_accepting(&r.h));
	ck_assert_int_eq(r.changes, 1);
	run_clear(&r);
	ck_assert_int_eq(count_fds(), fds - 1);
}
END_TEST

START_TEST(test_health_removed_check_accepts_again)
{
	struct run r;
	struct ikd_conf c;

	run_setup(&r, CONF_HEALTH_COMMAND, "/bin/false", 2, 1, 1);
	run_until(&r, 1, 3000);
	ck_assert(!health_accepting(&r.h));
	conf_defaults(&c);
	health_configure(&r.h, &c);
	ck_assert(health_accepting(&r.h));
	ck_assert_int_eq(r.changes, 2);
	ck_assert(!timer_armed(&r.h.t_next));
	run_clear(&r);
}
END_TEST

START_TEST(test_health_changed_check_voids_the_running_one)
{
	struct run r;
	struct ikd_conf c;
	uint64_t ms;

	run_setup(&r, CONF_HEALTH_COMMAND, "/bin/sleep 30", 10, 1, 1);
	/* Let it start, then change the check: the sleep is killed, not counted, /bin/true runs. */
	run_until_started(&r);
	conf_defaults(&c);
	c.role = CONF_ROLE_RESPONDER;
	c.health = CONF_HEALTH_COMMAND;
	strcpy(c.health_target, "/bin/true");
	c.health_rise = c.health_fall = 1;
	health_configure(&r.h, &c);
	ms = run_until(&r, 1, 3000);
	ck_assert_uint_lt(ms, 1000);
	ck_assert_uint_eq(r.h.checks, 1);
	ck_assert_str_eq(r.h.result, "exit status 0");
	assert_no_child_left();
	run_clear(&r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ikd_health");
	TCase *tc = tcase_create("policy");
	TCase *run = tcase_create("runner");

	tcase_add_test(tc, test_health_first_result_decides_an_unknown_state);
	tcase_add_test(tc, test_health_fall_then_rise_need_results_in_a_row);
	tcase_add_test(tc, test_health_rise_and_fall_of_one_follow_every_result);
	tcase_add_test(tc, test_health_argv_splits_on_spaces_and_tabs);
	suite_add_tcase(s, tc);
	tcase_set_timeout(run, 20);
	tcase_add_test(run, test_health_command_exit_status_decides);
	tcase_add_test(run, test_health_command_that_cannot_run_fails);
	tcase_add_test(run, test_health_command_past_its_timeout_is_killed_and_fails);
	tcase_add_test(run, test_health_command_runs_without_ikd_fds_signals_or_environment);
	tcase_add_test(run, test_health_tcp_connect_passes_a_closed_port_fails);
	tcase_add_test(run, test_health_removed_check_accepts_again);
	tcase_add_test(run, test_health_changed_check_voids_the_running_one);
	suite_add_tcase(s, run);
	return test_run_suite(s);
}
