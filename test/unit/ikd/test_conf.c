/* ikd/conf.c: ikd.conf(5), the settings an engineer writes by hand. */
#include <string.h>
#include <syslog.h>

#include "testutil.h"
#include "ikd/conf.h"

static int parse(struct ikd_conf *c, const char *text, char *err)
{
	return conf_parse(c, "ikd.conf", text, strlen(text), err, 256);
}

START_TEST(test_conf_defaults_and_every_key)
{
	struct ikd_conf c;
	char err[256] = "";

	conf_defaults(&c);
	ck_assert_int_eq(c.role, CONF_ROLE_INITIATOR);
	ck_assert_uint_eq(c.ike_port, 500);
	ck_assert_uint_eq(c.natt_port, 4500);
	ck_assert_uint_eq(c.hold_down_s, 60);
	ck_assert_uint_eq(c.keepalive_s, 20);
	ck_assert_str_eq(c.socket, "/run/ikd/ikd.sock");
	ck_assert_int_eq(parse(&c,
		"# a gateway\n"
		"role = responder\n"
		"  listen = 192.0.2.1   \n"
		"listen=2001:db8::1\n"
		"ike-port = 1500\r\n"
		"natt-port = 14500\n"
		"identity = pop1.example.net\n"
		"store = /var/lib/ikd/other.conf\n"
		"control-socket = /run/ikd/x.sock\n"
		"control-group = ikd\n"
		"log-level = debug\n"
		"retransmit-timeout = 250\n"
		"retransmit-tries = 4\n"
		"cookie-threshold = 0\n"
		"hold-down = 5\n"
		"fragmentation = no\n", err), 0);
	ck_assert_int_eq(c.role, CONF_ROLE_RESPONDER);
	ck_assert_uint_eq(c.n_listen, 2);
	ck_assert_str_eq(c.listen[1], "2001:db8::1");
	ck_assert_uint_eq(c.ike_port, 1500);
	ck_assert_uint_eq(c.natt_port, 14500);
	ck_assert_str_eq(c.identity, "pop1.example.net");
	ck_assert_str_eq(c.store, "/var/lib/ikd/other.conf");
	ck_assert_str_eq(c.socket_group, "ikd");
	ck_assert_int_eq(c.log_level, LOG_DEBUG);
	ck_assert_uint_eq(c.retransmit_base_ms, 250);
	ck_assert_uint_eq(c.retransmit_tries, 4);
	ck_assert_uint_eq(c.cookie_threshold, 0);
	ck_assert_uint_eq(c.hold_down_s, 5);
	ck_assert(!c.fragmentation);
}
END_TEST

START_TEST(test_conf_errors_name_line_key_value_and_change_nothing)
{
	static const struct { const char *text, *err; } bad[] = {
		{ "role = router\n", "ikd.conf:1: role 'router': must be initiator or responder" },
		{ "\n\nike-port = 70000\n", "ikd.conf:3: ike-port '70000': not a port number" },
		{ "hold-down = -1\n", "ikd.conf:1: hold-down '-1': not a number in range" },
		{ "retransmit-timeout = 10\n", "ikd.conf:1: retransmit-timeout '10': not a number in range" },
		{ "listen = example.com\n", "ikd.conf:1: listen 'example.com': not an IPv4 or IPv6 address" },
		{ "store = relative/path\n", "ikd.conf:1: store 'relative/path': not an absolute path" },
		{ "colour = blue\n", "ikd.conf:1: colour 'blue': unknown key" },
		{ "role initiator\n", "ikd.conf:1: expected 'key = value'" },
		{ "log-level = loud\n", "ikd.conf:1: log-level 'loud': must be one of error, warning, "
					"notice, info, debug" },
		{ "reconnect-min = 100\nreconnect-max = 10\n",
		  "ikd.conf: reconnect-min is above reconnect-max" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ikd_conf c, before;
		char err[256] = "";

		conf_defaults(&c);
		before = c;
		ck_assert_int_eq(parse(&c, bad[i].text, err), -EINVAL);
		ck_assert_str_eq(err, bad[i].err);
		ck_assert(memcmp(&c, &before, sizeof(c)) == 0);
	}
}
END_TEST

START_TEST(test_conf_rejects_nul_and_overlong_lines)
{
	struct ikd_conf c;
	char err[256] = "", big[2000];

	conf_defaults(&c);
	ck_assert_int_eq(conf_parse(&c, "f", "role = resp\0onder\n", 18, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "f:1: NUL byte in the line");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(parse(&c, big, err), -EINVAL);
	ck_assert_str_eq(err, "ikd.conf:1: line too long");
	/* A file without a final newline is fine. */
	ck_assert_int_eq(parse(&c, "role = responder", err), 0);
	ck_assert_int_eq(c.role, CONF_ROLE_RESPONDER);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ikd_conf");
	TCase *tc = tcase_create("conf");

	tcase_add_test(tc, test_conf_defaults_and_every_key);
	tcase_add_test(tc, test_conf_errors_name_line_key_value_and_change_nothing);
	tcase_add_test(tc, test_conf_rejects_nul_and_overlong_lines);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
