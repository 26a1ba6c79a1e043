/* ikd/conf.c: ikd.conf(5), the settings an engineer writes by hand. */
#include <string.h>
#include <syslog.h>

#include "testutil.h"
#include "tunnel/conf.h"

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
	ck_assert_uint_eq(c.dh_workers, CONF_AUTO);
	ck_assert(c.policy_hash);
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
		"dh-workers = 3\n"
		"fragmentation = no\n"
		"policy-hash-thresholds = keep\n", err), 0);
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
	ck_assert_uint_eq(c.dh_workers, 3);
	ck_assert(!c.fragmentation);
	ck_assert(!c.policy_hash);
	ck_assert_int_eq(parse(&c, "policy-hash-thresholds = auto\n", err), 0);
	ck_assert(c.policy_hash);
}
END_TEST

START_TEST(test_conf_errors_name_line_key_value_and_change_nothing)
{
	static const struct { const char *text, *err; } bad[] = {
		{ "role = router\n", "ikd.conf:1: role 'router': must be initiator or responder" },
		{ "\n\nike-port = 70000\n", "ikd.conf:3: ike-port '70000': not a port number" },
		{ "hold-down = -1\n", "ikd.conf:1: hold-down '-1': not a number in range" },
		{ "retransmit-timeout = 10\n", "ikd.conf:1: retransmit-timeout '10': not a number in range" },
		{ "dh-workers = 65\n", "ikd.conf:1: dh-workers '65': not a number in range" },
		{ "listen = example.com\n", "ikd.conf:1: listen 'example.com': not an IPv4 or IPv6 address" },
		{ "store = relative/path\n", "ikd.conf:1: store 'relative/path': not an absolute path" },
		{ "colour = blue\n", "ikd.conf:1: colour 'blue': unknown key" },
		{ "role initiator\n", "ikd.conf:1: expected 'key = value'" },
		{ "log-level = loud\n", "ikd.conf:1: log-level 'loud': must be one of error, warning, "
					"notice, info, debug" },
		{ "policy-hash-thresholds = off\n",
		  "ikd.conf:1: policy-hash-thresholds 'off': must be auto or keep" },
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

START_TEST(test_conf_health_check_keys)
{
	struct ikd_conf c;
	char err[256] = "";
	char addr[64];
	uint16_t port;

	conf_defaults(&c);
	ck_assert_int_eq(c.health, CONF_HEALTH_NONE);
	ck_assert_uint_eq(c.health_interval_s, 5);
	ck_assert_uint_eq(c.health_timeout_s, 2);
	ck_assert_uint_eq(c.health_rise, 2);
	ck_assert_uint_eq(c.health_fall, 2);
	ck_assert_int_eq(parse(&c,
		"role = responder\n"
		"health-check = command   /usr/local/bin/check-swg  -q\tfra1\n"
		"health-interval = 10\n"
		"health-timeout = 3\n"
		"health-rise = 4\n"
		"health-fall = 1\n", err), 0);
	ck_assert_int_eq(c.health, CONF_HEALTH_COMMAND);
	ck_assert_str_eq(c.health_target, "/usr/local/bin/check-swg  -q\tfra1");
	ck_assert_uint_eq(c.health_interval_s, 10);
	ck_assert_uint_eq(c.health_timeout_s, 3);
	ck_assert_uint_eq(c.health_rise, 4);
	ck_assert_uint_eq(c.health_fall, 1);
	ck_assert_int_eq(parse(&c, "health-check = tcp 198.51.100.7:8080\n", err), 0);
	ck_assert_int_eq(c.health, CONF_HEALTH_TCP);
	ck_assert_str_eq(c.health_target, "198.51.100.7:8080");
	ck_assert_int_eq(parse(&c, "health-check = tcp [2001:db8::7]:443\n", err), 0);
	ck_assert_str_eq(c.health_target, "[2001:db8::7]:443");
	/* none turns it off again (a reload can remove it) */
	ck_assert_int_eq(parse(&c, "health-check = none\n", err), 0);
	ck_assert_int_eq(c.health, CONF_HEALTH_NONE);

	ck_assert_int_eq(conf_split_hostport("[2001:db8::7]:443", addr, sizeof(addr), &port), 0);
	ck_assert_str_eq(addr, "2001:db8::7");
	ck_assert_uint_eq(port, 443);
	ck_assert_int_eq(conf_split_hostport("192.0.2.1:1", addr, sizeof(addr), &port), 0);
	ck_assert_str_eq(addr, "192.0.2.1");
	ck_assert_uint_eq(port, 1);
	ck_assert_int_eq(conf_split_hostport("2001:db8::7:443", addr, sizeof(addr), &port), -EINVAL);
	ck_assert_int_eq(conf_split_hostport("[192.0.2.1]:80", addr, sizeof(addr), &port), -EINVAL);
	ck_assert_int_eq(conf_split_hostport("192.0.2.1:0", addr, sizeof(addr), &port), -EINVAL);
	ck_assert_int_eq(conf_split_hostport("192.0.2.1:", addr, sizeof(addr), &port), -EINVAL);
	ck_assert_int_eq(conf_split_hostport(":80", addr, sizeof(addr), &port), -EINVAL);
	ck_assert_int_eq(conf_split_hostport("[::1]80", addr, sizeof(addr), &port), -EINVAL);
	ck_assert_int_eq(conf_split_hostport("192.0.2.1", addr, 4, &port), -EINVAL);
}
END_TEST

START_TEST(test_conf_health_check_errors_name_the_fault)
{
	static const struct { const char *text, *err; } bad[] = {
		{ "role = responder\nhealth-check = command check-swg\n",
		  "ikd.conf:2: health-check 'command check-swg': the command must be an absolute path "
		  "(it runs without a shell)" },
		{ "role = responder\nhealth-check = command /bin/sh -c \"test -f x\"\n",
		  "ikd.conf:2: health-check 'command /bin/sh -c \"test -f x\"': no quoting: the words "
		  "are split on spaces (put the logic in a script)" },
		{ "health-check = tcp swg.example.net:443\n",
		  "ikd.conf:1: health-check 'tcp swg.example.net:443': tcp needs a numeric ADDRESS:PORT "
		  "([ADDRESS]:PORT for IPv6)" },
		{ "health-check = http://192.0.2.1/\n",
		  "ikd.conf:1: health-check 'http://192.0.2.1/': must be none, command PATH [ARG ...] or "
		  "tcp ADDRESS:PORT" },
		{ "health-check = command\n",
		  "ikd.conf:1: health-check 'command': must be none, command PATH [ARG ...] or "
		  "tcp ADDRESS:PORT" },
		{ "health-interval = 0\n", "ikd.conf:1: health-interval '0': not a number in range" },
		{ "health-timeout = 3601\n", "ikd.conf:1: health-timeout '3601': not a number in range" },
		{ "health-rise = 0\n", "ikd.conf:1: health-rise '0': not a number in range" },
		{ "health-fall = many\n", "ikd.conf:1: health-fall 'many': not a number in range" },
		{ "health-check = tcp 192.0.2.1:80\n",
		  "ikd.conf: health-check is for role responder (a gateway)" },
		{ "role = responder\nhealth-check = command /a 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 "
		  "18 19 20 21 22 23 24 25 26 27 28 29 30 31\n", NULL },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ikd_conf c, before;
		char err[256] = "";

		conf_defaults(&c);
		before = c;
		ck_assert_int_eq(parse(&c, bad[i].text, err), -EINVAL);
		if (bad[i].err)
			ck_assert_str_eq(err, bad[i].err);
		else
			ck_assert_ptr_nonnull(strstr(err, "too many words"));
		ck_assert(memcmp(&c, &before, sizeof(c)) == 0);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ikd_conf");
	TCase *tc = tcase_create("conf");

	tcase_add_test(tc, test_conf_defaults_and_every_key);
	tcase_add_test(tc, test_conf_errors_name_line_key_value_and_change_nothing);
	tcase_add_test(tc, test_conf_rejects_nul_and_overlong_lines);
	tcase_add_test(tc, test_conf_health_check_keys);
	tcase_add_test(tc, test_conf_health_check_errors_name_the_fault);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
