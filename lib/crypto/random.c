/* See random.h. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

#include <sodium.h>

#include "crypto/random.h"

#define BLOCK 4096	/* bytes a getrandom(2) call fills */
#define DIRECT 256	/* draws this large or larger skip the block */

static __thread uint8_t block[BLOCK];
static __thread size_t left;	/* unused bytes at the block's end */
static __thread size_t refills;

static void kernel_fill(void *p, size_t n)
{
	uint8_t *q = p;

	while (n) {
		ssize_t r = getrandom(q, n, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			sodium_misuse();	/* no randomness: nothing safe to do but stop */
		}
		q += r;
		n -= (size_t)r;
	}
}

static void rb_buf(void *const p, const size_t n)
{
	uint8_t *q = p;
	size_t want = n;

	if (n >= DIRECT) {
		kernel_fill(p, n);
		return;
	}
	while (want) {
		size_t take;

		if (!left) {
			kernel_fill(block, BLOCK);
			left = BLOCK;
			refills++;
		}
		take = want < left ? want : left;
		memcpy(q, block + BLOCK - left, take);
		sodium_memzero(block + BLOCK - left, take);
		left -= take;
		q += take;
		want -= take;
	}
}

static uint32_t rb_random(void)
{
	uint32_t v;

	rb_buf(&v, sizeof(v));
	return v;
}

static const char *rb_name(void)
{
	return "ikd-getrandom-block";
}

static void forget_block(void)
{
	sodium_memzero(block, sizeof(block));
	left = 0;
}

static randombytes_implementation impl = {
	.implementation_name = rb_name,
	.random = rb_random,
	.buf = rb_buf,
};

static int atfork_rc;

static void register_atfork(void)
{
	atfork_rc = pthread_atfork(NULL, NULL, forget_block);
}

int crypto_random_install(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	if (pthread_once(&once, register_atfork) != 0 || atfork_rc != 0)
		return -EIO;
	return randombytes_set_implementation(&impl) == 0 ? 0 : -EIO;
}

size_t crypto_random_refills(void)
{
	return refills;
}
