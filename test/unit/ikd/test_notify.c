/* ikd/notify.c: the sd_notify datagrams systemd's Type=notify and watchdog depend on. */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "testutil.h"
#include "ikd/notify.h"

/* A datagram socket at "/tmp/..." or "@..." (abstract), as systemd's NOTIFY_SOCKET names it. */
static int bound(struct sockaddr_un *sun, bool abstract)
{
	struct sockaddr_un a;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	socklen_t len;

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	snprintf(sun->sun_path, sizeof(sun->sun_path), "%s/ikd-notify-test-%d",
		 abstract ? "@" : "/tmp", (int)getpid());
	if (!abstract)
		unlink(sun->sun_path);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(sun->sun_path));
	a = *sun;
	if (abstract)
		a.sun_path[0] = '\0';
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, len), 0);
	return fd;
}

START_TEST(test_notify_sends_to_a_path_and_an_abstract_socket)
{
	for (int abstract = 0; abstract < 2; abstract++) {
		struct sockaddr_un sun;
		char buf[64] = "";
		int fd = bound(&sun, abstract);

		setenv("NOTIFY_SOCKET", sun.sun_path, 1);
		ck_assert_int_eq(notify_send("READY=1\nSTATUS=2 sites up"), 0);
		ck_assert_int_eq(recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT), 25);
		ck_assert_str_eq(buf, "READY=1\nSTATUS=2 sites up");
		close(fd);
		if (!abstract)
			unlink(sun.sun_path);
	}
	/* Outside systemd: nothing to do, no error. */
	unsetenv("NOTIFY_SOCKET");
	ck_assert_int_eq(notify_send("READY=1"), 0);
	setenv("NOTIFY_SOCKET", "relative/path", 1);
	ck_assert_int_eq(notify_send("READY=1"), -EINVAL);
	unsetenv("NOTIFY_SOCKET");
}
END_TEST

START_TEST(test_notify_watchdog_only_for_this_process)
{
	char pid[16];

	unsetenv("WATCHDOG_USEC");
	ck_assert_uint_eq(notify_watchdog_usec(), 0);
	setenv("WATCHDOG_USEC", "30000000", 1);
	unsetenv("WATCHDOG_PID");
	ck_assert_uint_eq(notify_watchdog_usec(), 30000000);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	ck_assert_uint_eq(notify_watchdog_usec(), 30000000);
	setenv("WATCHDOG_PID", "1", 1);
	ck_assert_uint_eq(notify_watchdog_usec(), 0);
	setenv("WATCHDOG_PID", pid, 1);
	setenv("WATCHDOG_USEC", "30s", 1);
	ck_assert_uint_eq(notify_watchdog_usec(), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ikd_notify");
	TCase *tc = tcase_create("notify");

	tcase_add_test(tc, test_notify_sends_to_a_path_and_an_abstract_socket);
	tcase_add_test(tc, test_notify_watchdog_only_for_this_process);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
