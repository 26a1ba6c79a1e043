/* lib/ike/reader.c: reads never pass the end, fail without advancing; the writer caps. */
#include "testutil.h"
#include "ike/reader.h"

START_TEST(test_reader_reads_big_endian_and_tracks_offset)
{
	const uint8_t buf[] = { 1, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 1, 2, 3, 4, 5, 6, 7, 8 };
	struct ike_reader r = ike_reader_init(buf, sizeof(buf));
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;

	ck_assert_int_eq(ike_reader_u8(&r, &u8), 0);
	ck_assert_uint_eq(u8, 1);
	ck_assert_int_eq(ike_reader_u16(&r, &u16), 0);
	ck_assert_uint_eq(u16, 0x0203);
	ck_assert_int_eq(ike_reader_u32(&r, &u32), 0);
	ck_assert_uint_eq(u32, 0x04050607);
	ck_assert_uint_eq(r.off, 7);
	ck_assert_int_eq(ike_reader_u64(&r, &u64), 0);
	ck_assert_uint_eq(u64, 0x0102030405060708ULL);
	ck_assert_uint_eq(r.len, 0);
}
END_TEST

START_TEST(test_reader_rejects_length_past_end_without_advancing)
{
	const uint8_t buf[3] = { 0xaa, 0xbb, 0xcc };
	struct ike_reader r = ike_reader_init(buf, sizeof(buf)), sub;
	const uint8_t *p;
	uint32_t u32;
	uint64_t u64;

	ck_assert_int_eq(ike_reader_u32(&r, &u32), -EBADMSG);
	ck_assert_int_eq(ike_reader_u64(&r, &u64), -EBADMSG);
	ck_assert_int_eq(ike_reader_bytes(&r, 4, &p), -EBADMSG);
	ck_assert_int_eq(ike_reader_skip(&r, 4), -EBADMSG);
	ck_assert_int_eq(ike_reader_sub(&r, 4, &sub), -EBADMSG);
	ck_assert_uint_eq(r.len, 3);
	ck_assert_uint_eq(r.off, 0);
	/* A sub-reader stops at its own end, not the parent's. */
	ck_assert_int_eq(ike_reader_sub(&r, 2, &sub), 0);
	ck_assert_int_eq(ike_reader_bytes(&sub, 3, &p), -EBADMSG);
	ck_assert_int_eq(ike_reader_bytes(&sub, 2, &p), 0);
	ck_assert_uint_eq(p[1], 0xbb);
	ck_assert_uint_eq(r.len, 1);
	ck_assert_uint_eq(r.off, 2);
}
END_TEST

START_TEST(test_writer_fails_cleanly_at_its_maximum)
{
	struct ike_writer w;
	size_t off;

	ike_writer_init(&w, 10);
	ck_assert_int_eq(ike_writer_u32(&w, 0x01020304), 0);
	ck_assert_int_eq(ike_writer_reserve(&w, 2, &off), 0);
	ck_assert_uint_eq(off, 4);
	ck_assert_int_eq(ike_writer_u32(&w, 0), 0);
	ck_assert_int_eq(ike_writer_u8(&w, 0), -EMSGSIZE);
	ck_assert_int_eq(ike_writer_bytes(&w, "abc", SIZE_MAX), -EMSGSIZE);
	ck_assert_uint_eq(w.len, 10);
	ike_writer_put_u16_at(&w, off, 0xbeef);
	ck_assert_uint_eq(w.buf[0], 1);
	ck_assert_uint_eq(w.buf[4], 0xbe);
	ck_assert_uint_eq(w.buf[5], 0xef);
	ike_writer_clear(&w);
	ck_assert_ptr_null(w.buf);
}
END_TEST

/* A message kept: its buffer sized to it, the bytes the same, and it grows again after. */
START_TEST(test_writer_shrinks_to_what_it_holds)
{
	struct ike_writer w;
	uint8_t want[300];

	ike_writer_init(&w, 4096);
	for (size_t i = 0; i < sizeof(want); i++) {
		want[i] = (uint8_t)(i * 7);
		ck_assert_int_eq(ike_writer_u8(&w, want[i]), 0);
	}
	ck_assert_uint_eq(w.cap, 512);
	ike_writer_shrink(&w);
	ck_assert_uint_eq(w.cap, sizeof(want));
	ck_assert_uint_eq(w.len, sizeof(want));
	ck_assert_mem_eq(w.buf, want, sizeof(want));
	ck_assert_int_eq(ike_writer_u8(&w, 1), 0);
	ck_assert_uint_eq(w.len, sizeof(want) + 1);
	ck_assert_mem_eq(w.buf, want, sizeof(want));
	ike_writer_clear(&w);
	ike_writer_shrink(&w);	/* nothing held: nothing to do */
	ck_assert_ptr_null(w.buf);
}
END_TEST

START_TEST(test_writer_grows_across_reallocations)
{
	struct ike_writer w;

	ike_writer_init(&w, 100000);
	for (uint32_t i = 0; i < 20000; i++)
		ck_assert_int_eq(ike_writer_u32(&w, i), 0);
	ck_assert_uint_eq(w.len, 80000);
	ck_assert_uint_eq(w.buf[4 * 12345 + 3], 12345 & 0xff);
	ike_writer_clear(&w);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ike_reader");
	TCase *tc = tcase_create("reader");

	tcase_add_test(tc, test_reader_reads_big_endian_and_tracks_offset);
	tcase_add_test(tc, test_reader_rejects_length_past_end_without_advancing);
	tcase_add_test(tc, test_writer_fails_cleanly_at_its_maximum);
	tcase_add_test(tc, test_writer_grows_across_reallocations);
	tcase_add_test(tc, test_writer_shrinks_to_what_it_holds);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
