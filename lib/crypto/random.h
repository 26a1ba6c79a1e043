/*
 * Random bytes for libsodium (so for every nonce, SPI, IV and Curve25519 key of ikd) from
 * the kernel's getrandom(2) a block at a time, not a system call per draw: a handshake takes
 * seven small draws. What the block holds is the kernel's output as it came, each byte handed
 * out once and wiped as it goes; large draws go to the kernel directly. Per thread; a fork's
 * child starts with an empty block (pthread_atfork), so parent and child never share bytes.
 */
#ifndef CRYPTO_RANDOM_H
#define CRYPTO_RANDOM_H

#include <stddef.h>

/* Make it libsodium's source; before sodium_init(). -EIO when libsodium refuses. */
int crypto_random_install(void);

/* How many getrandom(2) calls this thread made through it (for tests and benchmarks). */
size_t crypto_random_refills(void);

#endif
