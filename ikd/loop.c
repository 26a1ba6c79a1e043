/* See loop.h. */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

#define LOOP_MAX_EVENTS 64

int loop_init(struct loop *l)
{
	memset(l, 0, sizeof(*l));
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	return l->epfd < 0 ? -errno : 0;
}

void loop_clear(struct loop *l)
{
	if (l->epfd >= 0)
		close(l->epfd);
	l->epfd = -1;
	timer_heap_clear(&l->timers);
}

int loop_add(struct loop *l, struct loop_fd *f, int fd, uint32_t events, loop_fd_fn fn, void *arg)
{
	struct epoll_event ev = { .events = events, .data.ptr = f };

	f->fd = fd;
	f->fn = fn;
	f->arg = arg;
	return epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int loop_mod(struct loop *l, struct loop_fd *f, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = f };

	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, f->fd, &ev) < 0 ? -errno : 0;
}

void loop_del(struct loop *l, struct loop_fd *f)
{
	for (int i = 0; i < l->npending; i++)
		if (l->pending[i].data.ptr == f)
			l->pending[i].data.ptr = NULL;
	if (f->fd >= 0)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, f->fd, NULL);
}

void loop_stop(struct loop *l, int status)
{
	l->stopping = true;
	l->status = status;
}

int loop_run(struct loop *l)
{
	struct epoll_event ev[LOOP_MAX_EVENTS];

	while (!l->stopping) {
		int timeout = timer_next_timeout_ms(&l->timers, timer_now_ms());
		int n = epoll_wait(l->epfd, ev, LOOP_MAX_EVENTS, timeout);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		l->pending = ev;
		l->npending = n;
		for (int i = 0; i < n && !l->stopping; i++) {
			struct loop_fd *f = ev[i].data.ptr;

			if (f)
				f->fn(l, f, ev[i].events);
		}
		l->pending = NULL;
		l->npending = 0;
		if (!l->stopping)
			timer_run_due(&l->timers, timer_now_ms());
	}
	return l->status;
}

uint64_t timer_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
