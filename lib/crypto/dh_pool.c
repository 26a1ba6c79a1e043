/*
 * See dh.h: key pairs made ahead. One lock over small rings, one per group in demand;
 * crypto_dh_new() takes a pair or, when its group's ring is empty, makes one itself (the
 * caller never waits for a worker; X25519's a batch at a time, the rest into the ring). A
 * worker fills the rings to the brim, the emptiest group first, X25519's in batches, then
 * sleeps; crypto_dh_new() wakes a sleeping worker only when a ring is down to
 * half (or empty, or new), so that a worker keeping up costs the caller's thread a wake-up
 * per half a ring, not one per pair (each a system call, and the worker's lock taken against
 * it). A minute after a group was last asked for its pairs are freed: keys are not kept
 * ahead for nobody.
 *
 * Work submitted (crypto_dh_pool_submit) comes before the rings: it is a handshake waiting.
 * It goes back to the submitting thread on a list, with an eventfd written only when that
 * list stops being empty, so that many done at once cost one wake-up of that thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "crypto/dh.h"

#define POOL_GROUPS 8		/* groups with a ring at once */
#define POOL_DEPTH_MAX 256
#define POOL_IDLE_MS 60000	/* a group not asked for this long: its pairs go */
#define POOL_WORKERS_MAX 64

struct ring {
	uint16_t group;		/* 0: the slot is free */
	unsigned n;
	uint64_t asked_ms;	/* the last crypto_dh_new() of this group */
	struct crypto_dh *v[POOL_DEPTH_MAX];
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t work;
	bool running, stopping;
	unsigned depth, n_workers;
	unsigned sleeping;	/* workers waiting for work */
	pthread_t workers[POOL_WORKERS_MAX];
	struct ring rings[POOL_GROUPS];
	uint64_t ahead, made_here, wakeups, submitted, busy;
	unsigned n_queued;
	/* crypto_dh_pool_submit()'s work: queued (head, tail), then done (head, tail) */
	struct crypto_work *queued, **queued_end, *done, **done_end;
	int done_fd;
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER, .work = PTHREAD_COND_INITIALIZER,
	   .queued_end = &pool.queued, .done_end = &pool.done, .done_fd = -1 };

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void ring_empty(struct ring *r)
{
	while (r->n)
		crypto_dh_free(r->v[--r->n]);
}

/* The ring a worker should fill next (the emptiest of the groups in demand), or NULL. */
static struct ring *ring_to_fill(uint64_t now)
{
	struct ring *best = NULL;

	for (int i = 0; i < POOL_GROUPS; i++) {
		struct ring *r = &pool.rings[i];

		if (!r->group)
			continue;
		if (now - r->asked_ms > POOL_IDLE_MS) {
			ring_empty(r);
			r->group = 0;
			continue;
		}
		if (r->n < pool.depth && (!best || r->n < best->n))
			best = r;
	}
	return best;
}

/* Done: onto the list for the submitting thread, woken when the list was empty. Locked. */
static void work_done(struct crypto_work *w)
{
	bool was_empty = !pool.done;

	w->next = NULL;
	*pool.done_end = w;
	pool.done_end = &w->next;
	if (was_empty && pool.done_fd >= 0) {
		uint64_t one = 1;

		(void)!write(pool.done_fd, &one, sizeof(one));
	}
}

/* The oldest queued work, unlinked, or NULL. Locked. */
static struct crypto_work *work_next(void)
{
	struct crypto_work *w = pool.queued;

	if (w) {
		pool.queued = w->next;
		if (!pool.queued)
			pool.queued_end = &pool.queued;
		pool.n_queued--;
	}
	return w;
}

/* Pairs of group to make at once, at most room: a batch for X25519 (cheaper per pair), else 1. */
static size_t batch_of(uint16_t group, size_t room)
{
	if (crypto_dh_find(group)->kind != CRYPTO_DH_X25519)
		return 1;
	return room < CRYPTO_DH_POOL_BATCH ? room : CRYPTO_DH_POOL_BATCH;
}

/*
 * made[i .. n-1] into r while it is still group's ring (it may have been freed or given to
 * another group meanwhile) and has room; returns the index of the first left out. Locked.
 */
static size_t ring_put(struct ring *r, uint16_t group, struct crypto_dh **made, size_t i,
		       size_t n)
{
	for (; i < n && !pool.stopping && r->group == group && r->n < pool.depth; i++)
		r->v[r->n++] = made[i];
	return i;
}

static void *worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&pool.lock);
	while (!pool.stopping) {
		struct crypto_work *w = work_next();
		struct ring *r;
		struct crypto_dh *made[CRYPTO_DH_POOL_BATCH];
		uint16_t group;
		size_t n, i;

		if (w) {
			pthread_mutex_unlock(&pool.lock);
			w->run(w);
			pthread_mutex_lock(&pool.lock);
			work_done(w);
			continue;
		}
		r = ring_to_fill(now_ms());
		if (!r) {
			/* Asleep until asked; a look each minute frees what went unused. */
			struct timespec until;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += POOL_IDLE_MS / 1000;
			pool.sleeping++;
			pthread_cond_timedwait(&pool.work, &pool.lock, &until);
			pool.sleeping--;
			continue;
		}
		group = r->group;
		n = batch_of(group, pool.depth - r->n);
		pthread_mutex_unlock(&pool.lock);
		if (crypto_dh_generate_n(group, n, made) < 0)
			n = 0;
		pthread_mutex_lock(&pool.lock);
		i = ring_put(r, group, made, 0, n);
		if (i < n) {
			pthread_mutex_unlock(&pool.lock);
			for (; i < n; i++)
				crypto_dh_free(made[i]);
			pthread_mutex_lock(&pool.lock);
		}
	}
	pthread_mutex_unlock(&pool.lock);
	return NULL;
}

/*
 * The ring r of group is empty: a pair made on the caller's thread. X25519's come in a batch
 * (cheaper per pair): one is the caller's, the rest go into the ring as if a worker had made
 * them, so that the next handshakes, and the workers, have fewer to make.
 */
static int make_here(struct ring *r, uint16_t group, struct crypto_dh **ret)
{
	struct crypto_dh *made[CRYPTO_DH_POOL_BATCH];
	size_t n = batch_of(group, CRYPTO_DH_POOL_BATCH);
	size_t i = 1;
	int rc = crypto_dh_generate_n(group, n, made);

	if (rc < 0)
		return rc;
	*ret = made[0];
	if (n > 1) {
		pthread_mutex_lock(&pool.lock);
		i = ring_put(r, group, made, 1, n);
		pthread_mutex_unlock(&pool.lock);
	}
	for (; i < n; i++)
		crypto_dh_free(made[i]);
	return 0;
}

int crypto_dh_new(uint16_t group, struct crypto_dh **ret)
{
	struct crypto_dh *dh = NULL;
	struct ring *r = NULL, *free_slot = NULL;

	if (!__atomic_load_n(&pool.running, __ATOMIC_ACQUIRE))
		return crypto_dh_generate(group, ret);
	pthread_mutex_lock(&pool.lock);
	for (int i = 0; i < POOL_GROUPS && !r; i++) {
		if (pool.rings[i].group == group)
			r = &pool.rings[i];
		else if (!pool.rings[i].group && !free_slot)
			free_slot = &pool.rings[i];
	}
	if (!r && free_slot && crypto_dh_find(group)) {
		r = free_slot;
		r->group = group;
		r->n = 0;
	}
	if (r) {
		r->asked_ms = now_ms();
		if (r->n)
			dh = r->v[--r->n];
		/* Down to half (a new ring, an empty one): a worker refills it to the brim. */
		if (pool.sleeping && r->n <= pool.depth / 2) {
			pool.wakeups++;
			pthread_cond_signal(&pool.work);
		}
	}
	if (dh)
		pool.ahead++;
	else
		pool.made_here++;
	pthread_mutex_unlock(&pool.lock);
	if (dh) {
		*ret = dh;
		return 0;
	}
	return r ? make_here(r, group, ret) : crypto_dh_generate(group, ret);
}

int crypto_dh_pool_submit(struct crypto_work *w)
{
	if (!__atomic_load_n(&pool.running, __ATOMIC_ACQUIRE))
		return -EAGAIN;
	pthread_mutex_lock(&pool.lock);
	if (pool.stopping || !pool.n_workers) {
		pthread_mutex_unlock(&pool.lock);
		return -EAGAIN;
	}
	if (pool.n_queued >= CRYPTO_DH_POOL_QUEUE_MAX * pool.n_workers) {
		pool.busy++;
		pthread_mutex_unlock(&pool.lock);
		return -EBUSY;
	}
	pool.n_queued++;
	w->next = NULL;
	*pool.queued_end = w;
	pool.queued_end = &w->next;
	pool.submitted++;
	if (pool.sleeping) {
		pool.wakeups++;
		pthread_cond_signal(&pool.work);
	}
	pthread_mutex_unlock(&pool.lock);
	return 0;
}

struct crypto_work *crypto_dh_pool_done(void)
{
	struct crypto_work *list;

	pthread_mutex_lock(&pool.lock);
	list = pool.done;
	pool.done = NULL;
	pool.done_end = &pool.done;
	if (list && pool.done_fd >= 0) {
		uint64_t n;

		(void)!read(pool.done_fd, &n, sizeof(n));
	}
	pthread_mutex_unlock(&pool.lock);
	return list;
}

int crypto_dh_pool_fd(void)
{
	int fd;

	pthread_mutex_lock(&pool.lock);
	fd = pool.done_fd;
	pthread_mutex_unlock(&pool.lock);
	return fd;
}

int crypto_dh_pool_start(unsigned workers, unsigned depth)
{
	int rc = 0;

	if (!workers)
		return 0;
	if (workers > POOL_WORKERS_MAX)
		workers = POOL_WORKERS_MAX;
	pthread_mutex_lock(&pool.lock);
	if (pool.running || pool.n_workers) {
		pthread_mutex_unlock(&pool.lock);
		return -EALREADY;
	}
	pool.depth = !depth ? 1 : depth > POOL_DEPTH_MAX ? POOL_DEPTH_MAX : depth;
	pool.stopping = false;
	/* readable at once for work an earlier run left done and not taken */
	pool.done_fd = eventfd(pool.done ? 1 : 0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (pool.done_fd < 0)
		rc = -errno;
	for (unsigned i = 0; i < workers && rc == 0; i++) {
		rc = -pthread_create(&pool.workers[i], NULL, worker, NULL);
		if (rc < 0)
			break;
		pool.n_workers++;
	}
	pthread_mutex_unlock(&pool.lock);
	if (rc < 0) {
		crypto_dh_pool_stop();
		return rc;
	}
	__atomic_store_n(&pool.running, true, __ATOMIC_RELEASE);
	return 0;
}

void crypto_dh_pool_stop(void)
{
	unsigned n;

	__atomic_store_n(&pool.running, false, __ATOMIC_RELEASE);
	pthread_mutex_lock(&pool.lock);
	pool.stopping = true;
	n = pool.n_workers;
	pthread_cond_broadcast(&pool.work);
	pthread_mutex_unlock(&pool.lock);
	for (unsigned i = 0; i < n; i++)
		pthread_join(pool.workers[i], NULL);
	pthread_mutex_lock(&pool.lock);
	/* Work no worker took: run here, so that all of it comes back done. */
	for (struct crypto_work *w; (w = work_next());) {
		pthread_mutex_unlock(&pool.lock);
		w->run(w);
		pthread_mutex_lock(&pool.lock);
		work_done(w);
	}
	if (pool.done_fd >= 0)
		close(pool.done_fd);
	pool.done_fd = -1;
	for (int i = 0; i < POOL_GROUPS; i++) {
		ring_empty(&pool.rings[i]);
		pool.rings[i].group = 0;
	}
	pool.n_workers = 0;
	pool.stopping = false;
	pthread_mutex_unlock(&pool.lock);
}

void crypto_dh_pool_stats(struct crypto_dh_pool_stats *ret)
{
	pthread_mutex_lock(&pool.lock);
	ret->workers = pool.n_workers;
	ret->ahead = pool.ahead;
	ret->made_here = pool.made_here;
	ret->wakeups = pool.wakeups;
	ret->work = pool.submitted;
	ret->work_busy = pool.busy;
	ret->ready = 0;
	for (int i = 0; i < POOL_GROUPS; i++)
		ret->ready += pool.rings[i].n;
	pthread_mutex_unlock(&pool.lock);
}

unsigned crypto_dh_pool_ready(uint16_t group)
{
	unsigned n = 0;

	pthread_mutex_lock(&pool.lock);
	for (int i = 0; i < POOL_GROUPS; i++)
		if (pool.rings[i].group == group)
			n = pool.rings[i].n;
	pthread_mutex_unlock(&pool.lock);
	return n;
}
