/* See log.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static int log_max = LOG_INFO;
static bool log_to_journal;

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit", [LOG_ERR] = "error",
	[LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

void log_setup(int max_priority)
{
	log_max = max_priority;
	/* systemd sets JOURNAL_STREAM when stderr is connected to the journal. */
	log_to_journal = getenv("JOURNAL_STREAM") != NULL;
}

int log_parse_level(const char *name)
{
	for (int i = LOG_ERR; i <= LOG_DEBUG; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -EINVAL;
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
	if (log_to_journal)
		fprintf(stderr, "<%d>%s\n", priority, line);
	else
		fprintf(stderr, "%s: %s\n", level_names[priority & 7], line);
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
