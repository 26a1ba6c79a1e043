/* ikd/log.c: levels and the rate limit that keeps a hostile peer from flooding the log. */
#include <syslog.h>

#include "testutil.h"
#include "ikd/log.h"

START_TEST(test_log_parse_level_names)
{
	ck_assert_int_eq(log_parse_level("debug"), LOG_DEBUG);
	ck_assert_int_eq(log_parse_level("info"), LOG_INFO);
	ck_assert_int_eq(log_parse_level("warning"), LOG_WARNING);
	ck_assert_int_eq(log_parse_level("error"), LOG_ERR);
	ck_assert_int_lt(log_parse_level("verbose"), 0);
	ck_assert_int_lt(log_parse_level(""), 0);
}
END_TEST

START_TEST(test_log_level_filters_lower_priorities)
{
	log_setup(LOG_NOTICE);
	ck_assert(log_enabled(LOG_ERR));
	ck_assert(log_enabled(LOG_NOTICE));
	ck_assert(!log_enabled(LOG_INFO));
	ck_assert(!log_enabled(LOG_DEBUG));
}
END_TEST

START_TEST(test_log_ratelimit_allows_burst_then_reports_suppressed)
{
	struct log_ratelimit rl = LOG_RATELIMIT_INIT(1000, 3);
	unsigned dropped, allowed = 0;

	for (int i = 0; i < 10; i++) {
		if (log_ratelimit_ok(&rl, 5000 + (uint64_t)i, &dropped))
			allowed++;
		ck_assert_uint_eq(dropped, 0);
	}
	ck_assert_uint_eq(allowed, 3);
	/* Next window: allowed again, and told that 7 lines were dropped. */
	ck_assert(log_ratelimit_ok(&rl, 6000, &dropped));
	ck_assert_uint_eq(dropped, 7);
	ck_assert(log_ratelimit_ok(&rl, 6001, &dropped));
	ck_assert_uint_eq(dropped, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ikd_log");
	TCase *tc = tcase_create("log");

	tcase_add_test(tc, test_log_parse_level_names);
	tcase_add_test(tc, test_log_level_filters_lower_priorities);
	tcase_add_test(tc, test_log_ratelimit_allows_burst_then_reports_suppressed);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
