/*
 * ikd/log.c: levels, the line format on stderr (a UTC timestamp outside the journal), and the
 * rate limit that keeps a hostile peer from flooding the log.
 */
#include <regex.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

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

/*
 * Log one notice with stderr on a temporary file and JOURNAL_STREAM as given ("match": the
 * file's own device:inode, as systemd sets it; NULL: unset), and return the line written.
 */
static void log_line(const char *journal_stream, char *line, size_t len)
{
	FILE *f = tmpfile();
	struct stat st;
	char stream[64];
	int saved = dup(STDERR_FILENO);

	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_eq(fstat(fileno(f), &st), 0);
	if (!journal_stream) {
		unsetenv("JOURNAL_STREAM");
	} else {
		if (strcmp(journal_stream, "match") == 0) {
			snprintf(stream, sizeof(stream), "%llu:%llu", (unsigned long long)st.st_dev,
				 (unsigned long long)st.st_ino);
			journal_stream = stream;
		}
		setenv("JOURNAL_STREAM", journal_stream, 1);
	}
	fflush(stderr);
	ck_assert_int_eq(dup2(fileno(f), STDERR_FILENO), STDERR_FILENO);
	log_setup(LOG_INFO);
	log_notice("site '%s': up", "b12");
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(f);
	ck_assert_ptr_nonnull(fgets(line, (int)len, f));
	line[strcspn(line, "\n")] = '\0';
	fclose(f);
}

/* An RFC 3339 UTC time with milliseconds, then the level, then the line. */
static void assert_timestamped(const char *line)
{
	regex_t re;
	struct tm tm = { 0 };
	time_t logged, now = time(NULL);

	ck_assert_int_eq(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
				 "\\.[0-9]{3}Z notice: site 'b12': up$", REG_EXTENDED | REG_NOSUB), 0);
	ck_assert_msg(regexec(&re, line, 0, NULL, 0) == 0, "not timestamped: '%s'", line);
	regfree(&re);
	/* And it is now, in UTC (timegm, not mktime: no local time zone in it). */
	ck_assert_ptr_nonnull(strptime(line, "%Y-%m-%dT%H:%M:%S", &tm));
	logged = timegm(&tm);
	ck_assert_msg(logged >= now - 5 && logged <= now + 5, "'%s' is not the time now", line);
}

START_TEST(test_log_stderr_line_starts_with_utc_time_in_ms)
{
	char line[256];

	log_line(NULL, line, sizeof(line));
	assert_timestamped(line);
}
END_TEST

START_TEST(test_log_journal_stream_line_has_priority_and_no_time)
{
	char line[256];

	log_line("match", line, sizeof(line));
	ck_assert_str_eq(line, "<5>site 'b12': up");
}
END_TEST

/*
 * JOURNAL_STREAM inherited by a process whose stderr was redirected elsewhere (a script run
 * from a unit, then `ikd 2>file`) names another stream: that file gets timestamps.
 */
START_TEST(test_log_journal_stream_of_another_file_is_not_the_journal)
{
	char line[256];

	log_line("1:1", line, sizeof(line));
	assert_timestamped(line);
	log_line("garbage", line, sizeof(line));
	assert_timestamped(line);
}
END_TEST

START_TEST(test_log_format_time_is_rfc3339_utc_with_ms)
{
	/* 2026-12-06T10:45:12Z is 1796553912 s after the epoch. */
	struct timespec ts = { 1796553912, 345999999 };
	char buf[LOG_TIME_LEN];

	ck_assert_int_eq(log_format_time(buf, sizeof(buf), &ts), 0);
	ck_assert_str_eq(buf, "2026-12-06T10:45:12.345Z");
	ts = (struct timespec){ 0, 0 };
	ck_assert_int_eq(log_format_time(buf, sizeof(buf), &ts), 0);
	ck_assert_str_eq(buf, "1970-01-01T00:00:00.000Z");
	ck_assert_int_lt(log_format_time(buf, 10, &ts), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ikd_log");
	TCase *tc = tcase_create("log");

	tcase_add_test(tc, test_log_parse_level_names);
	tcase_add_test(tc, test_log_level_filters_lower_priorities);
	tcase_add_test(tc, test_log_ratelimit_allows_burst_then_reports_suppressed);
	tcase_add_test(tc, test_log_stderr_line_starts_with_utc_time_in_ms);
	tcase_add_test(tc, test_log_journal_stream_line_has_priority_and_no_time);
	tcase_add_test(tc, test_log_journal_stream_of_another_file_is_not_the_journal);
	tcase_add_test(tc, test_log_format_time_is_rfc3339_utc_with_ms);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
