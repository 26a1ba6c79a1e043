/* lib/ike/message.c: whole datagrams — header checks, the chain walk, limits, SK placement. */
#include "ike_samples.h"

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_u32(uint8_t *p, uint32_t v)
{
	put_u16(p, (uint16_t)(v >> 16));
	put_u16(p + 2, (uint16_t)v);
}

START_TEST(test_message_decodes_an_sa_init_field_by_field_and_reencodes_it)
{
	struct ike_writer w, w2;
	struct ike_msg m;
	struct ike_pld_sa sa;
	struct ike_pld_notify n;
	struct ike_reader r;
	const struct ike_payload *pl;

	sample_sa_init(&w);
	ck_assert_int_eq(ike_msg_decode(w.buf, w.len, &m, NULL), 0);
	ck_assert_mem_eq(m.hdr.spi_i, "\x11\x22\x33\x44\x55\x66\x77\x88", 8);
	ck_assert_mem_eq(m.hdr.spi_r, "\0\0\0\0\0\0\0\0", 8);
	ck_assert_uint_eq(m.hdr.major, 2);
	ck_assert_uint_eq(m.hdr.exchange, IKE_EXCH_IKE_SA_INIT);
	ck_assert_uint_eq(m.hdr.flags, IKE_FLAG_INITIATOR);
	ck_assert_uint_eq(m.hdr.msg_id, 0);
	ck_assert_uint_eq(m.hdr.length, w.len);
	ck_assert_uint_eq(m.chain.n, 7);
	ck_assert_uint_eq(m.chain.pl[0].type, IKE_PLD_SA);
	ck_assert_uint_eq(m.chain.pl[1].type, IKE_PLD_KE);
	ck_assert_uint_eq(m.chain.pl[2].type, IKE_PLD_NONCE);
	ck_assert_uint_eq(m.chain.pl[6].type, IKE_PLD_VENDOR);
	ck_assert(!m.sk.present);
	pl = ike_chain_find(&m.chain, IKE_PLD_SA, NULL);
	r = (struct ike_reader){ .p = pl->body, .len = pl->body_len };
	ck_assert_int_eq(ike_pld_sa_decode(&r, &sa, NULL), 0);
	ck_assert_uint_eq(sa.p[1].t[2].id, IKE_DH_CURVE25519);
	ck_assert_int_eq(ike_chain_find_notify(&m.chain, IKE_N_IKEV2_FRAGMENTATION_SUPPORTED, &n), 0);
	ck_assert_int_eq(ike_chain_find_notify(&m.chain, IKE_N_NAT_DETECTION_DESTINATION_IP, &n), 0);
	ck_assert_uint_eq(n.len, 20);
	ck_assert_int_eq(ike_chain_find_notify(&m.chain, IKE_N_COOKIE, &n), -ENOENT);
	ike_writer_init(&w2, IKE_MAX_MSG_LEN);
	ck_assert_int_eq(ike_msg_encode(&m, &w2), 0);
	ck_assert_uint_eq(w2.len, w.len);
	ck_assert_mem_eq(w2.buf, w.buf, w.len);
	ike_writer_clear(&w);
	ike_writer_clear(&w2);
}
END_TEST

START_TEST(test_message_rejects_every_truncation)
{
	struct ike_writer w;
	struct ike_msg m;

	sample_sa_init(&w);
	for (size_t len = 0; len < w.len; len++) {
		/* A copy of exactly len bytes, so ASan sees any read past it. */
		uint8_t *copy = malloc(len ? len : 1);
		struct ike_err err = { 0 };

		memcpy(copy, w.buf, len);
		ck_assert_int_eq(ike_msg_decode(copy, len, &m, &err), -EBADMSG);
		ck_assert_ptr_nonnull(err.reason);
		/* Also with the header length patched to match: the chain itself is cut short. */
		if (len >= IKE_HEADER_LEN) {
			put_u32(copy + 24, (uint32_t)len);
			ck_assert_int_lt(ike_msg_decode(copy, len, &m, NULL), 0);
		}
		free(copy);
	}
	ike_writer_clear(&w);
}
END_TEST

START_TEST(test_message_rejects_wrong_length_and_version)
{
	struct ike_writer w;
	struct ike_msg m;
	struct ike_err err;

	sample_sa_init(&w);
	put_u32(w.buf + 24, (uint32_t)w.len + 1);
	ck_assert_int_eq(ike_msg_decode(w.buf, w.len, &m, &err), -EBADMSG);
	ck_assert_str_eq(err.field, "length");
	put_u32(w.buf + 24, (uint32_t)w.len);
	w.buf[17] = 0x10;	/* version 1.0 */
	ck_assert_int_eq(ike_msg_decode(w.buf, w.len, &m, &err), -EPROTONOSUPPORT);
	ck_assert_uint_eq(m.hdr.major, 1);
	ck_assert_uint_eq(ike_decode_error_notify(-EPROTONOSUPPORT), IKE_N_INVALID_MAJOR_VERSION);
	w.buf[17] = 0x30;
	ck_assert_int_eq(ike_msg_decode(w.buf, w.len, &m, &err), -EPROTONOSUPPORT);
	w.buf[17] = 0x21;	/* 2.1: a newer minor version is accepted (§2.5) */
	ck_assert_int_eq(ike_msg_decode(w.buf, w.len, &m, &err), 0);
	ck_assert_uint_eq(m.hdr.minor, 1);
	ike_writer_clear(&w);
}
END_TEST

START_TEST(test_message_rejects_bad_payload_lengths)
{
	struct ike_writer w;
	struct ike_msg m;
	struct ike_err err;
	uint8_t saved[2];

	sample_sa_init(&w);
	/* The first payload (SA) header is at 28. */
	memcpy(saved, w.buf + 30, 2);
	put_u16(w.buf + 30, 0);
	ck_assert_int_eq(ike_msg_decode(w.buf, w.len, &m, &err), -EBADMSG);
	ck_assert_uint_eq(err.offset, 32);
	put_u16(w.buf + 30, 3);
	ck_assert_int_eq(ike_msg_decode(w.buf, w.len, &m, &err), -EBADMSG);
	put_u16(w.buf + 30, 0xffff);
	ck_assert_int_eq(ike_msg_decode(w.buf, w.len, &m, &err), -EBADMSG);
	ck_assert_str_eq(err.reason, "payload length past the end");
	memcpy(w.buf + 30, saved, 2);
	ck_assert_int_eq(ike_msg_decode(w.buf, w.len, &m, &err), 0);
	ike_writer_clear(&w);
}
END_TEST

/* A message of n payloads of the given type with 4-byte bodies (flags on every header). */
static void build_repeated(struct ike_writer *w, size_t n, uint8_t type, uint8_t flags)
{
	struct ike_header h = { .major = 2, .exchange = IKE_EXCH_INFORMATIONAL, .msg_id = 7 };
	struct ike_builder b;

	ike_writer_init(w, IKE_MAX_MSG_LEN);
	ck_assert_int_eq(ike_build_begin(&b, w, &h), 0);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(ike_build_raw(&b, type, flags & IKE_PAYLOAD_CRITICAL,
					       (const uint8_t *)"abcd", 4), 0);
	ck_assert_int_eq(ike_build_finish(&b), 0);
}

START_TEST(test_message_unknown_payloads_skipped_unless_critical)
{
	struct ike_writer w;
	struct ike_msg m;
	struct ike_err err;

	build_repeated(&w, 3, 200, 0);
	ck_assert_int_eq(ike_msg_decode(w.buf, w.len, &m, &err), 0);
	ck_assert_uint_eq(m.chain.n, 3);
	ck_assert(!m.chain.pl[0].known);
	ike_writer_clear(&w);

	build_repeated(&w, 3, 200, IKE_PAYLOAD_CRITICAL);
	ck_assert_int_eq(ike_msg_decode(w.buf, w.len, &m, &err), -ENOPROTOOPT);
	ck_assert_uint_eq(m.unsupported_critical, 200);
	ck_assert_uint_eq(ike_decode_error_notify(-ENOPROTOOPT), IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD);
	ike_writer_clear(&w);
}
END_TEST

START_TEST(test_message_rejects_more_payloads_than_the_limit)
{
	struct ike_writer w;
	struct ike_msg m;

	build_repeated(&w, IKE_MAX_PAYLOADS, IKE_PLD_VENDOR, 0);
	ck_assert_int_eq(ike_msg_decode(w.buf, w.len, &m, NULL), 0);
	ike_writer_clear(&w);
	build_repeated(&w, IKE_MAX_PAYLOADS + 1, IKE_PLD_VENDOR, 0);
	ck_assert_int_eq(ike_msg_decode(w.buf, w.len, &m, NULL), -EMSGSIZE);
	ike_writer_clear(&w);
	/* A chain that loops back on itself can only run into the same cap. */
	build_repeated(&w, 2000, 210, 0);
	ck_assert_int_eq(ike_msg_decode(w.buf, w.len, &m, NULL), -EMSGSIZE);
	ike_writer_clear(&w);
}
END_TEST

START_TEST(test_message_sk_must_be_last_and_not_nested)
{
	struct ike_header h = { .major = 2, .exchange = IKE_EXCH_IKE_AUTH, .msg_id = 1 };
	struct ike_writer w;
	struct ike_builder b;
	struct ike_msg m;
	struct ike_chain c;
	size_t off;

	/* SK followed by another payload. */
	ike_writer_init(&w, IKE_MAX_MSG_LEN);
	ck_assert_int_eq(ike_build_begin(&b, &w, &h), 0);
	ck_assert_int_eq(ike_build_raw(&b, IKE_PLD_SK, false, (const uint8_t *)"ivivdata", 8), 0);
	ck_assert_int_eq(ike_build_raw(&b, IKE_PLD_VENDOR, false, (const uint8_t *)"v", 1), 0);
	ck_assert_int_eq(ike_build_finish(&b), 0);
	ck_assert_int_eq(ike_msg_decode(w.buf, w.len, &m, NULL), -EBADMSG);
	ike_writer_clear(&w);

	/* SK last: located, with its inner type; the builder refuses anything after it. */
	ike_writer_init(&w, IKE_MAX_MSG_LEN);
	ck_assert_int_eq(ike_build_begin(&b, &w, &h), 0);
	ck_assert_int_eq(ike_build_sk_begin(&b, IKE_PLD_IDI, NULL, &off), 0);
	ck_assert_int_eq(ike_writer_bytes(&w, "0123456789abcdef0123", 20), 0);
	ck_assert_int_eq(ike_build_pld_end(&b), 0);
	ck_assert_int_eq(ike_build_pld_begin(&b, IKE_PLD_VENDOR, false), -EINVAL);
	ck_assert_int_eq(ike_build_finish(&b), 0);
	ck_assert_int_eq(ike_msg_decode(w.buf, w.len, &m, NULL), 0);
	ck_assert(m.sk.present);
	ck_assert_uint_eq(m.sk.hdr_off, IKE_HEADER_LEN);
	ck_assert_uint_eq(m.sk.iv_off, IKE_HEADER_LEN + 4);
	ck_assert_uint_eq(m.sk.end, w.len);
	ck_assert_uint_eq(m.sk.inner_type, IKE_PLD_IDI);

	/* An SK payload inside a decrypted chain is refused. */
	ck_assert_int_eq(ike_chain_decode(w.buf + IKE_HEADER_LEN, w.len - IKE_HEADER_LEN,
					  IKE_PLD_SK, &c, NULL, NULL), -EBADMSG);
	ike_writer_clear(&w);
}
END_TEST

START_TEST(test_message_inner_chain_decodes_like_a_message)
{
	struct ike_writer w;
	struct ike_builder b;
	struct ike_chain c;
	struct ike_pld_id id = { .type = IKE_ID_FQDN, .data = (const uint8_t *)"gw.example", .len = 10 };
	struct ike_pld_auth auth = { .method = IKE_AUTH_SHARED_KEY_MIC,
				     .data = (const uint8_t *)"0123456789abcdef0123456789abcdef",
				     .len = 32 };
	uint8_t crit = 0;

	ike_writer_init(&w, 4096);
	ike_build_chain_begin(&b, &w);
	ck_assert_int_eq(ike_build_pld_begin(&b, IKE_PLD_IDI, false), 0);
	ck_assert_int_eq(ike_pld_id_encode(&w, &id), 0);
	ck_assert_int_eq(ike_build_pld_end(&b), 0);
	ck_assert_int_eq(ike_build_pld_begin(&b, IKE_PLD_AUTH, false), 0);
	ck_assert_int_eq(ike_pld_auth_encode(&w, &auth), 0);
	ck_assert_int_eq(ike_build_pld_end(&b), 0);
	ck_assert_uint_eq(b.first_type, IKE_PLD_IDI);
	ck_assert_int_eq(ike_chain_decode(w.buf, w.len, b.first_type, &c, &crit, NULL), 0);
	ck_assert_uint_eq(c.n, 2);
	ck_assert_uint_eq(c.pl[1].type, IKE_PLD_AUTH);
	ck_assert_uint_eq(c.pl[1].body_len, 36);
	/* A malformed inner payload is caught by its own decoder. */
	w.buf[4] = IKE_ID_IPV4_ADDR;
	ck_assert_int_eq(ike_chain_decode(w.buf, w.len, b.first_type, &c, &crit, NULL), -EBADMSG);
	ike_writer_clear(&w);
}
END_TEST

START_TEST(test_message_allowed_payloads_table)
{
	ck_assert(ike_payload_allowed(IKE_EXCH_IKE_SA_INIT, false, IKE_PLD_KE));
	ck_assert(!ike_payload_allowed(IKE_EXCH_IKE_SA_INIT, false, IKE_PLD_IDI));
	ck_assert(!ike_payload_allowed(IKE_EXCH_IKE_SA_INIT, false, IKE_PLD_SK));
	ck_assert(ike_payload_allowed(IKE_EXCH_IKE_AUTH, false, IKE_PLD_SK));
	ck_assert(ike_payload_allowed(IKE_EXCH_IKE_AUTH, false, IKE_PLD_SKF));
	ck_assert(!ike_payload_allowed(IKE_EXCH_IKE_AUTH, false, IKE_PLD_AUTH));
	ck_assert(ike_payload_allowed(IKE_EXCH_IKE_AUTH, true, IKE_PLD_AUTH));
	ck_assert(!ike_payload_allowed(IKE_EXCH_IKE_AUTH, true, IKE_PLD_KE));
	ck_assert(ike_payload_allowed(IKE_EXCH_CREATE_CHILD_SA, true, IKE_PLD_KE));
	ck_assert(ike_payload_allowed(IKE_EXCH_INFORMATIONAL, true, IKE_PLD_DELETE));
	ck_assert(!ike_payload_allowed(IKE_EXCH_INFORMATIONAL, false, IKE_PLD_DELETE));
	ck_assert(!ike_payload_allowed(33, true, IKE_PLD_NOTIFY));
	ck_assert(!ike_payload_allowed(IKE_EXCH_IKE_AUTH, true, 200));
}
END_TEST

START_TEST(test_message_names_for_logs)
{
	ck_assert_str_eq(ike_exchange_name(IKE_EXCH_CREATE_CHILD_SA), "CREATE_CHILD_SA");
	ck_assert_str_eq(ike_payload_name(IKE_PLD_TSR), "TSr");
	ck_assert_str_eq(ike_notify_name(IKE_N_TS_UNACCEPTABLE), "TS_UNACCEPTABLE");
	ck_assert_str_eq(ike_notify_name(IKE_N_IKEV2_FRAGMENTATION_SUPPORTED),
			 "IKEV2_FRAGMENTATION_SUPPORTED");
	ck_assert_str_eq(ike_notify_name(12345), "UNKNOWN_ERROR");
	ck_assert_str_eq(ike_exchange_name(99), "UNKNOWN_EXCHANGE");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ike_message");
	TCase *tc = tcase_create("message");

	tcase_add_test(tc, test_message_decodes_an_sa_init_field_by_field_and_reencodes_it);
	tcase_add_test(tc, test_message_rejects_every_truncation);
	tcase_add_test(tc, test_message_rejects_wrong_length_and_version);
	tcase_add_test(tc, test_message_rejects_bad_payload_lengths);
	tcase_add_test(tc, test_message_unknown_payloads_skipped_unless_critical);
	tcase_add_test(tc, test_message_rejects_more_payloads_than_the_limit);
	tcase_add_test(tc, test_message_sk_must_be_last_and_not_nested);
	tcase_add_test(tc, test_message_inner_chain_decodes_like_a_message);
	tcase_add_test(tc, test_message_allowed_payloads_table);
	tcase_add_test(tc, test_message_names_for_logs);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
