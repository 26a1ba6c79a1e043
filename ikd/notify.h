/*
 * systemd's notification protocol (sd_notify(3)), written directly: one datagram to
 * $NOTIFY_SOCKET per message. Without that variable every call is a no-op, so ikd runs the
 * same by hand, under systemd Type=notify, or under another supervisor.
 */
#ifndef IKD_NOTIFY_H
#define IKD_NOTIFY_H

#include <stdint.h>

/* Send "READY=1", "STATUS=...", "WATCHDOG=1" ... (lines joined with \n). 0, or -errno. */
int notify_send(const char *msg);
/* The watchdog interval systemd asked for in microseconds ($WATCHDOG_USEC for this pid), or 0. */
uint64_t notify_watchdog_usec(void);

#endif
