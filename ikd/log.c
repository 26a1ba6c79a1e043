/* See log.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int log_max = LOG_INFO;
static bool log_to_journal;
static log_sink_fn sink;
static void *sink_arg;

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit", [LOG_ERR] = "error",
	[LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

/*
 * systemd sets JOURNAL_STREAM to "DEVICE:INODE" of the stream it connects stderr to; a child
 * that inherited it with stderr redirected elsewhere (`ikd 2>file` from a unit's script) has
 * another stream (systemd.exec(5), $JOURNAL_STREAM).
 */
static bool stderr_is_journal(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	int end = 0;

	if (!v || sscanf(v, "%llu:%llu%n", &dev, &ino, &end) != 2 || v[end] != '\0')
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_setup(int max_priority)
{
	log_max = max_priority;
	log_to_journal = stderr_is_journal();
}

int log_format_time(char *buf, size_t len, const struct timespec *ts)
{
	struct tm tm;
	time_t s = ts->tv_sec;
	int n;

	if (!gmtime_r(&s, &tm))
		return -EINVAL;
	n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
		     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     ts->tv_nsec / 1000000);
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

int log_parse_level(const char *name)
{
	for (int i = LOG_ERR; i <= LOG_DEBUG; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -EINVAL;
}

void log_set_sink(log_sink_fn fn, void *arg)
{
	sink = fn;
	sink_arg = arg;
}

bool log_enabled(int priority)
{
	return priority <= log_max;
}

void log_msg(int priority, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int saved = errno;

	if (!log_enabled(priority))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (sink) {
		sink(sink_arg, priority, line);
	} else if (log_to_journal) {
		/* The journal stamps the entry itself. */
		fprintf(stderr, "<%d>%s\n", priority, line);
	} else {
		/* Wall-clock UTC, so the line can be set next to a peer's log. */
		struct timespec ts;
		char when[LOG_TIME_LEN];

		clock_gettime(CLOCK_REALTIME, &ts);
		if (log_format_time(when, sizeof(when), &ts) < 0)
			snprintf(when, sizeof(when), "-");
		fprintf(stderr, "%s %s: %s\n", when, level_names[priority & 7], line);
	}
	errno = saved;
}

bool log_ratelimit_ok(struct log_ratelimit *rl, uint64_t now_ms, unsigned *ret_suppressed)
{
	*ret_suppressed = 0;
	if (rl->window_start_ms == 0 || now_ms - rl->window_start_ms >= rl->interval_ms) {
		*ret_suppressed = rl->suppressed;
		rl->window_start_ms = now_ms ? now_ms : 1;
		rl->in_window = 0;
		rl->suppressed = 0;
	}
	if (rl->in_window >= rl->burst) {
		rl->suppressed++;
		return false;
	}
	rl->in_window++;
	return true;
}
