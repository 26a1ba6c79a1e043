/*
 * ikd's log: one line per event on stderr, with a syslog priority prefix ("<3>") that the
 * journal turns into the entry's priority when stderr is a journal stream, and otherwise
 * (a terminal, a file) an RFC 3339 UTC time with milliseconds and the level:
 * "2026-12-06T10:45:12.345Z notice: ...". Lines start with the object they are about
 * ("site 'branch-12' pop 'fra1': ...") — the caller writes that part.
 */
#ifndef IKD_LOG_H
#define IKD_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <syslog.h>
#include <time.h>

void log_setup(int max_priority);
int log_parse_level(const char *name);	/* "error".."debug" -> LOG_*, or -EINVAL */
bool log_enabled(int priority);
/* Lines go to fn instead of stderr (the simulator's trace); NULL: stderr again. */
typedef void (*log_sink_fn)(void *arg, int priority, const char *line);
void log_set_sink(log_sink_fn fn, void *arg);

/* "2026-12-06T10:45:12.345Z" (RFC 3339, UTC, milliseconds); -ENOSPC if len is too short. */
#define LOG_TIME_LEN sizeof("2026-12-06T10:45:12.345Z")
int log_format_time(char *buf, size_t len, const struct timespec *ts);
void log_msg(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...)	log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)	log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)	do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)

/*
 * Rate limit for lines a remote peer can trigger: at most burst lines per interval_ms;
 * when a new interval starts after suppression, the next line reports how many were dropped.
 */
struct log_ratelimit {
	uint64_t interval_ms;
	unsigned burst;
	uint64_t window_start_ms;
	unsigned in_window;
	unsigned suppressed;
};

#define LOG_RATELIMIT_INIT(interval, n) { .interval_ms = (interval), .burst = (n) }

/* True when the caller may log now; *ret_suppressed gets the count dropped before it. */
bool log_ratelimit_ok(struct log_ratelimit *rl, uint64_t now_ms, unsigned *ret_suppressed);

#endif
