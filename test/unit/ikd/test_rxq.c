/* ikd/rxq.c: the held-back datagrams, in arrival order, bounded in bytes. */
#include "testutil.h"
#include "ikd/rxq.h"

static void push(struct rxq *q, struct net_sock *s, uint8_t tag, size_t len, int want)
{
	uint8_t buf[256];
	struct net_dgram dg = { 0 };

	memset(buf, tag, sizeof(buf));
	dg.ifindex = tag;
	ck_assert_int_eq(rxq_push(q, s, buf, len, &dg), want);
}

START_TEST(test_rxq_in_order_and_bounded)
{
	struct rxq q;
	struct net_sock s500 = { .port = 500 }, s4500 = { .port = 4500, .natt = true };
	struct rxq_item *it;

	rxq_init(&q, 250);
	ck_assert_ptr_null(rxq_pop(&q));
	push(&q, &s500, 1, 100, 0);
	push(&q, &s4500, 2, 100, 0);
	/* 50 bytes fit, 51 do not: refused, the queue as it was */
	push(&q, &s500, 3, 51, -ENOBUFS);
	ck_assert_uint_eq(q.refused, 1);
	ck_assert_uint_eq(q.n, 2);
	ck_assert_uint_eq(q.bytes, 200);
	push(&q, &s500, 4, 50, 0);
	ck_assert_uint_eq(q.bytes, 250);
	push(&q, &s500, 5, 1, -ENOBUFS);
	/* what came first goes first, with its socket, address and bytes */
	it = rxq_pop(&q);
	ck_assert_ptr_nonnull(it);
	ck_assert_ptr_eq(it->sock, &s500);
	ck_assert_int_eq(it->dg.ifindex, 1);
	ck_assert_uint_eq(it->len, 100);
	ck_assert_uint_eq(it->buf[0], 1);
	ck_assert_uint_eq(it->buf[99], 1);
	free(it);
	ck_assert_uint_eq(q.bytes, 150);
	push(&q, &s500, 6, 100, 0);	/* room again */
	it = rxq_pop(&q);
	ck_assert_ptr_eq(it->sock, &s4500);
	ck_assert_uint_eq(it->buf[0], 2);
	free(it);
	it = rxq_pop(&q);
	ck_assert_uint_eq(it->buf[0], 4);
	ck_assert_uint_eq(it->len, 50);
	free(it);
	it = rxq_pop(&q);
	ck_assert_uint_eq(it->buf[0], 6);
	free(it);
	ck_assert_ptr_null(rxq_pop(&q));
	ck_assert_uint_eq(q.n, 0);
	ck_assert_uint_eq(q.bytes, 0);
	/* emptied, then used again */
	push(&q, &s500, 7, 10, 0);
	push(&q, &s500, 8, 10, 0);
	rxq_clear(&q);
	ck_assert_uint_eq(q.n, 0);
	ck_assert_ptr_null(rxq_pop(&q));
	push(&q, &s500, 9, 10, 0);
	it = rxq_pop(&q);
	ck_assert_uint_eq(it->buf[0], 9);
	free(it);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ikd_rxq");
	TCase *tc = tcase_create("rxq");

	tcase_add_test(tc, test_rxq_in_order_and_bounded);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
