/*
 * lib/ctl: requests and replies round-trip; malformed bodies are refused with a reason; the
 * framer reassembles frames fed a byte at a time and refuses an oversized frame at once.
 */
#include "testutil.h"
#include "ctl/ctl.h"

static struct ctl_attr attrs[CTL_MAX_ATTRS];

static void build_request(struct ike_writer *w)
{
	size_t mark;

	ike_writer_init(w, CTL_MAX_MSG + 4);
	ck_assert_int_eq(ctl_begin(w, 42, CTL_SITE_EDIT, 0, &mark), 0);
	ck_assert_int_eq(ctl_put_str(w, CTL_A_NAME, "branch-12"), 0);
	ck_assert_int_eq(ctl_put_kv(w, "traffic", "Guest Wifi"), 0);
	ck_assert_int_eq(ctl_put_kv(w, "location", ""), 0);
	ck_assert_int_eq(ctl_put(w, CTL_A_PSK, "\x00\x01secret", 8), 0);
	ck_assert_int_eq(ctl_end(w, mark), 0);
}

START_TEST(test_ctl_request_and_reply_round_trip)
{
	struct ike_writer w;
	struct ctl_msg m = { .attrs = attrs };
	const char *why, *key;
	const uint8_t *value;
	size_t vlen, mark, row;
	struct ctl_attr inner[8];
	size_t n_inner;

	build_request(&w);
	ck_assert_int_eq(ctl_decode(w.buf + 4, w.len - 4, &m, &why), 0);
	ck_assert_uint_eq(m.id, 42);
	ck_assert_uint_eq(m.code, CTL_SITE_EDIT);
	ck_assert_str_eq(ctl_verb_name(m.code), "site edit");
	/* Every verb has its name, the last one appended too; past the end: "unknown". */
	for (uint16_t v = CTL_STATUS; v < CTL_VERB_MAX; v++)
		ck_assert_str_ne(ctl_verb_name(v), "unknown");
	ck_assert_str_eq(ctl_verb_name(CTL_TUNNEL), "tunnel");
	ck_assert_str_eq(ctl_verb_name(CTL_VERB_MAX), "unknown");
	ck_assert_uint_eq(m.n_attrs, 4);
	ck_assert_uint_eq(m.attrs[0].type, CTL_A_NAME);
	ck_assert_int_eq(ctl_attr_kv(&m.attrs[1], &key, &value, &vlen), 0);
	ck_assert_str_eq(key, "traffic");
	ck_assert_uint_eq(vlen, 10);
	ck_assert_mem_eq(value, "Guest Wifi", 10);
	ck_assert_int_eq(ctl_attr_kv(&m.attrs[2], &key, &value, &vlen), 0);
	ck_assert_uint_eq(vlen, 0);
	ck_assert_uint_eq(m.attrs[3].len, 8);	/* binary PSK, NULs included */
	ck_assert_int_eq(ctl_attr_kv(&m.attrs[0], &key, &value, &vlen), -EBADMSG);
	ike_writer_clear(&w);

	/* A reply with two rows of fields. */
	ike_writer_init(&w, CTL_MAX_MSG + 4);
	ck_assert_int_eq(ctl_begin(&w, 42, 0, CTL_FLAG_REPLY, &mark), 0);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(ctl_row_begin(&w, &row), 0);
		ck_assert_int_eq(ctl_put_kv(&w, "name", i ? "b" : "a"), 0);
		ck_assert_int_eq(ctl_put_kv(&w, "status", "up"), 0);
		ck_assert_int_eq(ctl_row_end(&w, row), 0);
	}
	ck_assert_int_eq(ctl_end(&w, mark), 0);
	ck_assert_int_eq(ctl_decode(w.buf + 4, w.len - 4, &m, &why), 0);
	ck_assert_uint_eq(m.flags, CTL_FLAG_REPLY);
	ck_assert_uint_eq(m.n_attrs, 2);
	ck_assert_int_eq(ctl_row_decode(&m.attrs[1], inner, 8, &n_inner), 0);
	ck_assert_uint_eq(n_inner, 2);
	ck_assert_int_eq(ctl_attr_kv(&inner[0], &key, &value, &vlen), 0);
	ck_assert_mem_eq(value, "b", 1);
	ike_writer_clear(&w);
}
END_TEST

START_TEST(test_ctl_malformed_bodies_refused)
{
	struct ike_writer w;
	struct ctl_msg m = { .attrs = attrs };
	const char *why;

	build_request(&w);
	/* Every truncation of the body. */
	for (size_t n = 0; n < w.len - 4; n++) {
		uint8_t *copy = malloc(n ? n : 1);
		int rc;

		memcpy(copy, w.buf + 4, n);
		rc = ctl_decode(copy, n, &m, &why);
		ck_assert_msg(rc < 0 || n == 8 || n == 8 + 6 + 9 || n == 8 + 6 + 9 + 6 + 18 ||
			      n == 8 + 6 + 9 + 6 + 18 + 6 + 9, "truncation %zu accepted", n);
		free(copy);
	}
	/* An attribute claiming more than there is. */
	w.buf[4 + 8 + 2 + 3] = 0xff;
	ck_assert_int_eq(ctl_decode(w.buf + 4, w.len - 4, &m, &why), -EBADMSG);
	ck_assert_str_eq(why, "attribute longer than the message");
	w.buf[4 + 8 + 2 + 3] = 9;
	/* An unknown verb and an unknown attribute type. */
	w.buf[4 + 5] = 200;
	ck_assert_int_eq(ctl_decode(w.buf + 4, w.len - 4, &m, &why), -EBADMSG);
	ck_assert_str_eq(why, "unknown verb");
	w.buf[4 + 5] = CTL_SITE_EDIT;
	w.buf[4 + 8 + 1] = 99;
	ck_assert_int_eq(ctl_decode(w.buf + 4, w.len - 4, &m, &why), -EBADMSG);
	ike_writer_clear(&w);
	/* More attributes than the cap. */
	{
		size_t mark;

		ike_writer_init(&w, CTL_MAX_MSG + 4);
		ck_assert_int_eq(ctl_begin(&w, 1, CTL_SITE_DELETE, 0, &mark), 0);
		for (int i = 0; i <= CTL_MAX_ATTRS; i++)
			ck_assert_int_eq(ctl_put_str(&w, CTL_A_NAME, "x"), 0);
		ck_assert_int_eq(ctl_end(&w, mark), 0);
		ck_assert_int_eq(ctl_decode(w.buf + 4, w.len - 4, &m, &why), -EMSGSIZE);
		ike_writer_clear(&w);
	}
}
END_TEST

START_TEST(test_ctl_framer_byte_by_byte_and_oversized)
{
	struct ike_writer a, b;
	struct ctl_framer f = { 0 };
	const uint8_t *body;
	size_t len, got = 0;
	uint8_t huge[4] = { 0x00, 0x20, 0x00, 0x00 };	/* 2 MiB announced */

	build_request(&a);
	build_request(&b);
	/* Two frames back to back, delivered one byte at a time (a stalling client). */
	for (size_t i = 0; i < a.len + b.len; i++) {
		uint8_t byte = i < a.len ? a.buf[i] : b.buf[i - a.len];

		ck_assert_int_eq(ctl_framer_feed(&f, &byte, 1), 0);
		while (ctl_framer_next(&f, &body, &len) == 1) {
			ck_assert_uint_eq(len, a.len - 4);
			ck_assert_mem_eq(body, a.buf + 4, len);
			ctl_framer_pop(&f);
			got++;
		}
	}
	ck_assert_uint_eq(got, 2);
	ck_assert_uint_eq(f.len, 0);
	ck_assert_int_eq(ctl_framer_next(&f, &body, &len), 0);
	/* An oversized frame is refused as soon as its length is in. */
	ck_assert_int_eq(ctl_framer_feed(&f, huge, 4), -EMSGSIZE);
	ctl_framer_clear(&f);
	ike_writer_clear(&a);
	ike_writer_clear(&b);
}
END_TEST

START_TEST(test_ctl_kernel_esp_says_option_and_meaning)
{
	char buf[320];

	ck_assert_str_eq(ctl_kernel_esp_text(true, NULL, buf, sizeof(buf)), "yes");
	ck_assert_str_eq(ctl_kernel_esp_text(false, NULL, buf, sizeof(buf)), "no");
	ck_assert_str_eq(ctl_kernel_esp_text(false, "CONFIG_INET_ESP", buf, sizeof(buf)),
			 "no (CONFIG_INET_ESP not set: the kernel has no ESP for IPv4; IKE "
			 "negotiates, but no Child SA can be installed (modprobe esp4))");
	ck_assert_str_eq(ctl_kernel_esp_text(false, "CONFIG_CRYPTO_GCM", buf, sizeof(buf)),
			 "no (CONFIG_CRYPTO_GCM not set: no AES-GCM in the kernel: Child SAs with "
			 "aes*gcm16 cannot be installed)");
	ck_assert_str_eq(ctl_kernel_esp_text(false, "CONFIG_NEW_THING", buf, sizeof(buf)),
			 "no (CONFIG_NEW_THING not set: a kernel option ESP needs)");
	/* Cut to the buffer, never past it. */
	ck_assert_str_eq(ctl_kernel_esp_text(false, "CONFIG_INET_ESP", buf, 12), "no (CONFIG_");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ctl");
	TCase *tc = tcase_create("ctl");

	tcase_add_test(tc, test_ctl_request_and_reply_round_trip);
	tcase_add_test(tc, test_ctl_kernel_esp_says_option_and_meaning);
	tcase_add_test(tc, test_ctl_malformed_bodies_refused);
	tcase_add_test(tc, test_ctl_framer_byte_by_byte_and_oversized);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
