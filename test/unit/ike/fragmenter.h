/*
 * A peer that fragments (RFC 7383) for the exchange tests: a message one side sealed whole is
 * opened with that side's keys and its inner chain sealed again by ike_frag_seal() into SKF
 * messages, as that side would have sent it; and an order to hand them over in.
 */
#ifndef IKD_TEST_FRAGMENTER_H
#define IKD_TEST_FRAGMENTER_H

#include "testutil.h"
#include "crypto/sk.h"
#include "ike/fragment.h"

/* msg, sealed whole by from: out gets it as fragments of at most max_msg_len bytes each. */
static inline void fragment_msg(const struct ike_sa_keys *from, const struct ike_writer *msg,
				size_t max_msg_len, struct ike_frags *out)
{
	struct crypto_sk_dir dir = {
		from->suite.encr, from->suite.integ,
		crypto_ike_sk_e(&from->keys, from->initiator),
		crypto_ike_sk_a(&from->keys, from->initiator),
	};
	struct ike_writer copy, plain;
	struct ike_msg m;
	uint8_t *p;
	size_t p_len;

	ike_writer_init(&copy, IKE_MAX_MSG_LEN);
	ike_writer_init(&plain, IKE_MAX_MSG_LEN);
	ck_assert_int_eq(ike_writer_bytes(&copy, msg->buf, msg->len), 0);
	ck_assert_int_eq(ike_msg_decode(copy.buf, copy.len, &m, NULL), 0);
	ck_assert(m.sk.present && !m.sk.fragment);
	ck_assert_int_eq(crypto_sk_unprotect(&dir, copy.buf, copy.len, m.sk.hdr_off, m.sk.iv_off,
					     &p, &p_len), 0);
	if (p_len)
		ck_assert_int_eq(ike_writer_bytes(&plain, p, p_len), 0);
	ike_frags_init(out);
	ck_assert_int_eq(ike_frag_seal(from, m.hdr.exchange, m.hdr.flags & IKE_FLAG_RESPONSE,
				       m.hdr.msg_id, &plain, m.sk.inner_type, max_msg_len, out), 0);
	ike_writer_clear(&plain);
	ike_writer_clear(&copy);
}

/*
 * Fragment i of f in a writer of its own (receiving decrypts in place; f stays for
 * retransmissions), with byte flip_at (from the end; 0: none) flipped. Free with
 * ike_writer_clear().
 */
static inline void fragment_copy(const struct ike_frags *f, uint16_t i, size_t flip_at,
				 struct ike_writer *ret)
{
	size_t len;
	const uint8_t *p = ike_frags_get(f, i, &len);

	ck_assert_ptr_nonnull(p);
	ike_writer_init(ret, IKE_MAX_MSG_LEN);
	ck_assert_int_eq(ike_writer_bytes(ret, p, len), 0);
	if (flip_at) {
		ck_assert_uint_le(flip_at, len);
		ret->buf[len - flip_at] ^= 0x01;
	}
}

/* A fixed shuffle of 0 .. n-1 whose first is not 0 and whose last is not n - 1. */
static inline void fragment_order(uint16_t n, uint16_t *order)
{
	uint32_t x = 2463534242u;

	for (uint16_t i = 0; i < n; i++)
		order[i] = i;
	for (uint16_t i = n; i > 1; i--) {
		uint16_t j, t;

		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		j = (uint16_t)(x % i);
		t = order[i - 1];
		order[i - 1] = order[j];
		order[j] = t;
	}
	if (n > 2 && order[0] == 0) {
		order[0] = order[1];
		order[1] = 0;
	}
	if (n > 2 && order[n - 1] == n - 1) {
		order[n - 1] = order[n - 2];
		order[n - 2] = (uint16_t)(n - 1);
	}
}

#endif
