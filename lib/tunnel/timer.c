/* Binary min-heap of embedded timers; see timer.h. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "tunnel/timer.h"

void timer_init(struct timer *t, timer_fn fn)
{
	t->deadline_ms = 0;
	t->heap_idx = 0;
	t->fn = fn;
}

static void heap_set(struct timer_heap *h, size_t i, struct timer *t)
{
	h->v[i] = t;
	t->heap_idx = i + 1;
}

static void sift_up(struct timer_heap *h, size_t i)
{
	struct timer *t = h->v[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (h->v[parent]->deadline_ms <= t->deadline_ms)
			break;
		heap_set(h, i, h->v[parent]);
		i = parent;
	}
	heap_set(h, i, t);
}

static void sift_down(struct timer_heap *h, size_t i)
{
	struct timer *t = h->v[i];

	for (;;) {
		size_t child = 2 * i + 1;

		if (child >= h->n)
			break;
		if (child + 1 < h->n && h->v[child + 1]->deadline_ms < h->v[child]->deadline_ms)
			child++;
		if (t->deadline_ms <= h->v[child]->deadline_ms)
			break;
		heap_set(h, i, h->v[child]);
		i = child;
	}
	heap_set(h, i, t);
}

int timer_arm(struct timer_heap *h, struct timer *t, uint64_t deadline_ms)
{
	if (deadline_ms > TIMER_NEVER)
		deadline_ms = TIMER_NEVER;
	if (timer_armed(t)) {
		size_t i = t->heap_idx - 1;
		uint64_t old = t->deadline_ms;

		t->deadline_ms = deadline_ms;
		if (deadline_ms < old)
			sift_up(h, i);
		else
			sift_down(h, i);
		return 0;
	}
	if (h->n >= TIMER_MAX)
		return -ENOMEM;
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		struct timer **v = reallocarray(h->v, cap, sizeof(*v));

		if (!v)
			return -ENOMEM;
		h->v = v;
		h->cap = cap;
	}
	t->deadline_ms = deadline_ms;
	h->v[h->n] = t;
	sift_up(h, h->n++);
	return 0;
}

void timer_cancel(struct timer_heap *h, struct timer *t)
{
	size_t i;

	if (!timer_armed(t))
		return;
	i = t->heap_idx - 1;
	t->heap_idx = 0;
	h->n--;
	if (i == h->n)
		return;
	h->v[i] = h->v[h->n];
	h->v[i]->heap_idx = i + 1;
	/* The timer moved into slot i may belong above or below it. */
	if (i > 0 && h->v[i]->deadline_ms < h->v[(i - 1) / 2]->deadline_ms)
		sift_up(h, i);
	else
		sift_down(h, i);
}

int timer_next_timeout_ms(const struct timer_heap *h, uint64_t now_ms)
{
	uint64_t d;

	if (h->n == 0)
		return -1;
	d = h->v[0]->deadline_ms;
	if (d <= now_ms)
		return 0;
	return d - now_ms > INT_MAX ? INT_MAX : (int)(d - now_ms);
}

bool timer_run_one(struct timer_heap *h, uint64_t now_ms)
{
	struct timer *t;

	if (h->n == 0 || h->v[0]->deadline_ms > now_ms)
		return false;
	t = h->v[0];
	timer_cancel(h, t);
	if (t->fn)
		t->fn(t);
	return true;
}

size_t timer_run_due(struct timer_heap *h, uint64_t now_ms)
{
	size_t fired = 0;

	while (timer_run_one(h, now_ms))
		fired++;
	return fired;
}

void timer_heap_clear(struct timer_heap *h)
{
	for (size_t i = 0; i < h->n; i++)
		h->v[i]->heap_idx = 0;
	free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}
