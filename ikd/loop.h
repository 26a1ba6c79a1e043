/*
 * ikd's single-threaded event loop: epoll for file descriptors, the timer heap for
 * deadlines, signalfd for signals. Nothing in the daemon blocks; every handler runs to
 * completion and returns to the loop.
 */
#ifndef IKD_LOOP_H
#define IKD_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "tunnel/timer.h"

struct loop;
struct loop_fd;
typedef void (*loop_fd_fn)(struct loop *l, struct loop_fd *f, uint32_t events);

/* Embedded in its owner, like struct timer. */
struct loop_fd {
	int fd;
	loop_fd_fn fn;
	void *arg;
};

struct loop {
	int epfd;
	struct timer_heap timers;
	bool stopping;
	int status;	/* loop_run()'s return value, set by loop_stop() */
	/* The batch being dispatched, so loop_del() can drop a deleted fd's pending event. */
	struct epoll_event *pending;
	int npending;
};

int loop_init(struct loop *l);
void loop_clear(struct loop *l);	/* closes the epoll fd; not the registered fds */

int loop_add(struct loop *l, struct loop_fd *f, int fd, uint32_t events, loop_fd_fn fn, void *arg);
int loop_mod(struct loop *l, struct loop_fd *f, uint32_t events);
/* Unregister f; safe from any handler, even for an fd whose event is pending in this batch. */
void loop_del(struct loop *l, struct loop_fd *f);

/* Run until loop_stop(); returns the status given to it, or -errno if epoll fails. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l, int status);

/* CLOCK_MONOTONIC in milliseconds: the daemon's one clock. */
uint64_t timer_now_ms(void);

#endif
