/* See rng.h. */
#include <errno.h>
#include <string.h>

/* RAND_METHOD is deprecated in OpenSSL 3, and the only hook without writing a provider. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/rand.h>
#include <sodium.h>

#include "rng.h"

/* splitmix64 (Steele, Lea and Flood 2014; Vigna's reference constants). */
static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void simr_seed(struct simr *r, uint64_t seed)
{
	uint64_t x = seed;

	for (size_t i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
	/* xoshiro's one forbidden state; splitmix64 cannot give four zeros, but be sure. */
	if ((r->s[0] | r->s[1] | r->s[2] | r->s[3]) == 0)
		r->s[0] = 1;
}

uint64_t simr_u64(struct simr *r)
{
	uint64_t *s = r->s;
	const uint64_t result = rotl(s[1] * 5, 7) * 9;
	const uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

/* Lemire, "Fast random integer generation in an interval" (2019): one draw, rarely more. */
uint64_t simr_below(struct simr *r, uint64_t n)
{
	unsigned __int128 m;
	uint64_t low;

	if (n == 0)
		return 0;
	m = (unsigned __int128)simr_u64(r) * n;
	low = (uint64_t)m;
	if (low < n) {
		const uint64_t threshold = -n % n;

		while (low < threshold) {
			m = (unsigned __int128)simr_u64(r) * n;
			low = (uint64_t)m;
		}
	}
	return (uint64_t)(m >> 64);
}

uint64_t simr_range(struct simr *r, uint64_t lo, uint64_t hi)
{
	if (hi < lo)
		return lo;
	if (lo == 0 && hi == UINT64_MAX)
		return simr_u64(r);
	return lo + simr_below(r, hi - lo + 1);
}

bool simr_chance(struct simr *r, uint64_t num, uint64_t den)
{
	uint64_t x = simr_below(r, den);

	if (den == 0)
		simr_u64(r);	/* the same one draw as any other answer */
	return den != 0 && x < num;
}

void simr_fill(struct simr *r, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len >= 8) {
		uint64_t x = simr_u64(r);

		memcpy(p, &x, 8);
		p += 8;
		len -= 8;
	}
	if (len > 0) {
		uint64_t x = simr_u64(r);

		memcpy(p, &x, len);
	}
}

struct simr simr_split(struct simr *parent)
{
	struct simr child;

	simr_seed(&child, simr_u64(parent));
	return child;
}

struct simr simr_derive(const struct simr *parent, uint64_t key)
{
	struct simr child;
	uint64_t x = key;

	/* Fold the parent's whole state and the key through splitmix64 into one seed. */
	for (size_t i = 0; i < 4; i++) {
		x ^= parent->s[i];
		x = splitmix64(&x);
	}
	simr_seed(&child, x);
	return child;
}

/* libsodium's randombytes, from one stream. A global by libsodium's design: see rng.h. */
static struct simr *sodium_stream;

static const char *sodium_name(void)
{
	return "simr";
}

static uint32_t sodium_random(void)
{
	return (uint32_t)(simr_u64(sodium_stream) >> 32);
}

static void sodium_buf(void *const buf, const size_t size)
{
	simr_fill(sodium_stream, buf, size);
}

static randombytes_implementation sodium_impl = {
	.implementation_name = sodium_name,
	.random = sodium_random,
	.buf = sodium_buf,
	/* uniform: libsodium's own rejection sampling over .random, deterministic too. */
};

int simr_sodium_install(struct simr *r)
{
	if (!r)
		return -EINVAL;
	sodium_stream = r;
	return randombytes_set_implementation(&sodium_impl) == 0 ? 0 : -EIO;
}

/* OpenSSL's RAND_bytes, from one stream. A global by OpenSSL's design: see rng.h. */
static struct simr *openssl_stream;

static int openssl_bytes(unsigned char *buf, int num)
{
	if (num < 0)
		return 0;
	simr_fill(openssl_stream, buf, (size_t)num);
	return 1;
}

/* Seeding and entropy input are ignored: the stream is the seed. */
static int openssl_seed(const void *buf, int num)
{
	return 1;
}

static int openssl_add(const void *buf, int num, double entropy)
{
	return 1;
}

static int openssl_status(void)
{
	return 1;
}

static const RAND_METHOD openssl_method = {
	.seed = openssl_seed,
	.bytes = openssl_bytes,
	.add = openssl_add,
	.pseudorand = openssl_bytes,
	.status = openssl_status,
};

int simr_openssl_install(struct simr *r)
{
	if (!r)
		return -EINVAL;
	openssl_stream = r;
	return RAND_set_rand_method(&openssl_method) == 1 ? 0 : -EIO;
}
