/*
 * lib/crypto/random.c: libsodium's random bytes a getrandom(2) block at a time. Every draw
 * differs; small draws come from the block (one kernel call per 4 KiB), large ones from the
 * kernel; a fork's child never repeats its parent's bytes.
 */
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "testutil.h"
#include "crypto/random.h"

static void setup(void)
{
	ck_assert_int_eq(crypto_random_install(), 0);
	ck_assert_int_ge(sodium_init(), 0);
	ck_assert_str_eq(randombytes_implementation_name(), "ikd-getrandom-block");
}

START_TEST(test_random_draws_from_a_block)
{
	enum { N = 1000, LEN = 32 };
	static uint8_t got[N][LEN];
	uint8_t zero[LEN] = { 0 }, big[4096];
	size_t before;

	setup();
	before = crypto_random_refills();
	for (int i = 0; i < N; i++)
		randombytes_buf(got[i], LEN);
	/* 32,000 bytes: 7 or 8 blocks of 4,096 (the first part used), not 1,000 calls. */
	ck_assert_uint_ge(crypto_random_refills() - before, N * LEN / 4096);
	ck_assert_uint_le(crypto_random_refills() - before, N * LEN / 4096 + 1);
	for (int i = 0; i < N; i++) {
		ck_assert(memcmp(got[i], zero, LEN) != 0);
		for (int j = 0; j < i; j++)
			ck_assert(memcmp(got[i], got[j], LEN) != 0);
	}
	/* A large draw goes to the kernel and leaves the block alone. */
	before = crypto_random_refills();
	randombytes_buf(big, sizeof(big));
	ck_assert_uint_eq(crypto_random_refills(), before);
	ck_assert(memcmp(big, big + 2048, 32) != 0);
	/* libsodium's own helpers draw through it. */
	for (int i = 0; i < 1000; i++)
		ck_assert_uint_lt(randombytes_uniform(7), 7);
}
END_TEST

START_TEST(test_random_fork_child_does_not_repeat_the_parent)
{
	uint8_t first[16], parent[16], child[16];
	int fd[2];
	pid_t pid;
	int status;

	setup();
	randombytes_buf(first, sizeof(first));	/* the block is part used */
	ck_assert_int_eq(pipe(fd), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		randombytes_buf(child, sizeof(child));
		_exit(write(fd[1], child, sizeof(child)) == (ssize_t)sizeof(child) ? 0 : 1);
	}
	randombytes_buf(parent, sizeof(parent));
	ck_assert_int_eq(read(fd[0], child, sizeof(child)), (ssize_t)sizeof(child));
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_msg(memcmp(parent, child, sizeof(parent)) != 0,
		      "the child drew the parent's next bytes");
	close(fd[0]);
	close(fd[1]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("crypto_random");
	TCase *tc = tcase_create("random");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_random_draws_from_a_block);
	tcase_add_test(tc, test_random_fork_child_does_not_repeat_the_parent);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
