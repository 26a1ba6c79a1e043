/*
 * The simulator's random source: xoshiro256** (Blackman and Vigna, "Scrambled linear
 * pseudorandom number generators", 2018) seeded through splitmix64, as the authors
 * recommend. Everything random in a simulated run comes from one seed through streams of
 * this generator, so a run is a pure function of its seed and the calls made. Not for keys:
 * the simulator wants reproducible, not secret.
 *
 * Streams: a component gets its own stream (simr_split at setup, or simr_derive by a fixed
 * key), so one more draw in one place does not shift the draws of every other component.
 */
#ifndef IKD_SIM_RNG_H
#define IKD_SIM_RNG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct simr {
	uint64_t s[4];
};

/* The state for seed (any value, 0 included), through splitmix64. */
void simr_seed(struct simr *r, uint64_t seed);
uint64_t simr_u64(struct simr *r);
/* Uniform in [0, n), unbiased (Lemire's multiply and reject); 0 when n is 0. */
uint64_t simr_below(struct simr *r, uint64_t n);
/* Uniform in [lo, hi], both included; lo when hi < lo. */
uint64_t simr_range(struct simr *r, uint64_t lo, uint64_t hi);
/*
 * True with probability num/den (always when num >= den, never when num is 0 or den is 0).
 * It draws even when the answer is certain (one draw; one more with probability below
 * den/2^64), so turning a fault on or off does not shift the draws that follow.
 */
bool simr_chance(struct simr *r, uint64_t num, uint64_t den);
void simr_fill(struct simr *r, void *buf, size_t len);

/* A new stream seeded from one draw of parent (parent advances by one draw). */
struct simr simr_split(struct simr *parent);
/* A new stream from parent's state and key, parent untouched: the same key, the same stream. */
struct simr simr_derive(const struct simr *parent, uint64_t key);

/*
 * Route libsodium's randombytes (randombytes_buf, _random, _uniform: every SPI, nonce, IV and
 * X25519 key lib/ draws) to r, which must outlive every libsodium call. Call it before
 * sodium_init(): sodium_init() already draws (the guard-page canary), and libsodium
 * documents randombytes_set_implementation() as a call to make first. The implementation is
 * process-global by libsodium's design (one pointer, no context), so this keeps the one
 * global of test/sim, and a process runs one seeded world at a time. Returns 0 or -errno.
 *
 * OpenSSL keeps its own generator: MODP and ECP key generation in lib/crypto/dh.c
 * (EVP_PKEY_keygen, EVP_PKEY_Q_keygen) do not come from here; see simr_openssl_install().
 */
int simr_sodium_install(struct simr *r);

/*
 * Route OpenSSL's default RAND_bytes/RAND_priv_bytes to r (RAND_set_rand_method(), which
 * OpenSSL 3 deprecates but still honours for the default library context), so MODP and ECP
 * private keys, and any blinding OpenSSL draws while deriving, follow the seed as well.
 * Process-global like the libsodium one (OpenSSL keeps one default method); r must outlive
 * every OpenSSL call. Returns 0 or -errno.
 */
int simr_openssl_install(struct simr *r);

#endif
