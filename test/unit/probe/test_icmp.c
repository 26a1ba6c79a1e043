/*
 * lib/probe/icmp: the probe's echo request is what ping would send, and only a well-formed
 * echo reply of ours is taken; anything else is told apart (not ours, or malformed).
 */
#include "testutil.h"
#include "probe/icmp.h"

static const struct icmp_echo req = {
	.id = 0x494b, .seq = 7,
	.data = { 'i', 'k', 'd', 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 },
};

static uint16_t sum16(const uint8_t *p, size_t len)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		s += (uint32_t)p[len - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* The reply a host sends to req: the same message as type 0, in an IPv4 packet from src. */
static size_t reply4(uint8_t *pkt, const uint8_t src[4])
{
	size_t len;
	uint8_t *m = pkt + 20;
	uint16_t c;

	memset(pkt, 0, 20);
	pkt[0] = 0x45;
	pkt[2] = 0;
	pkt[3] = 20 + ICMP_ECHO_LEN;
	pkt[8] = 64;
	pkt[9] = 1;
	memcpy(pkt + 12, src, 4);
	memcpy(pkt + 16, "\x0a\x01\x00\x01", 4);
	ck_assert_int_eq(icmp_echo_request(m, ICMP_ECHO_LEN, false, &req, &len), 0);
	m[0] = 0;
	m[2] = m[3] = 0;
	c = (uint16_t)~sum16(m, len);
	m[2] = (uint8_t)(c >> 8);
	m[3] = (uint8_t)c;
	return 20 + len;
}

START_TEST(test_icmp_request_v4)
{
	uint8_t buf[64];
	size_t len;

	ck_assert_int_eq(icmp_echo_request(buf, ICMP_ECHO_LEN - 1, false, &req, &len), -EMSGSIZE);
	ck_assert_int_eq(icmp_echo_request(buf, sizeof(buf), false, &req, &len), 0);
	ck_assert_uint_eq(len, ICMP_ECHO_LEN);
	ck_assert_uint_eq(buf[0], 8);		/* echo request */
	ck_assert_uint_eq(buf[1], 0);
	ck_assert_uint_eq(sum16(buf, len), 0xffff);	/* a valid checksum sums to all ones */
	ck_assert_uint_eq(buf[4] << 8 | buf[5], 0x494b);
	ck_assert_uint_eq(buf[6] << 8 | buf[7], 7);
	ck_assert_mem_eq(buf + 8, req.data, ICMP_ECHO_DATA_LEN);
}
END_TEST

START_TEST(test_icmp_request_v6)
{
	uint8_t buf[64];
	size_t len;

	ck_assert_int_eq(icmp_echo_request(buf, sizeof(buf), true, &req, &len), 0);
	ck_assert_uint_eq(buf[0], 128);		/* ICMPv6 echo request */
	ck_assert_uint_eq(buf[2] | buf[3], 0);	/* the kernel's to fill */
}
END_TEST

START_TEST(test_icmp_reply_v4)
{
	uint8_t pkt[128], src[4] = { 0 };
	struct icmp_echo e;
	size_t len = reply4(pkt, (const uint8_t *)"\x0a\x02\x00\x01");

	ck_assert_int_eq(icmp_echo_reply_parse(pkt, len, false, &e, src), 0);
	ck_assert_uint_eq(e.id, req.id);
	ck_assert_uint_eq(e.seq, req.seq);
	ck_assert_mem_eq(e.data, req.data, ICMP_ECHO_DATA_LEN);
	ck_assert_mem_eq(src, "\x0a\x02\x00\x01", 4);
	/* Bytes after the IP total length (padding) are not the message's. */
	ck_assert_int_eq(icmp_echo_reply_parse(pkt, len + 10, false, &e, src), 0);
}
END_TEST

START_TEST(test_icmp_reply_v4_refused)
{
	uint8_t pkt[128], bad[128], src[4];
	struct icmp_echo e;
	size_t len = reply4(pkt, (const uint8_t *)"\x0a\x02\x00\x01");

	/* Every truncation is malformed. */
	for (size_t n = 0; n < len; n++)
		ck_assert_int_eq(icmp_echo_reply_parse(pkt, n, false, &e, src), -EBADMSG);
	/* A flipped bit anywhere in the ICMP message breaks its checksum. */
	for (size_t i = 20; i < len; i++) {
		int rc;

		memcpy(bad, pkt, len);
		bad[i] ^= 0x01;
		rc = icmp_echo_reply_parse(bad, len, false, &e, src);
		ck_assert_msg(rc == -EBADMSG || rc == -ENOMSG, "byte %zu: %d", i, rc);
	}
	/* A request, not a reply: not ours to read. */
	memcpy(bad, pkt, len);
	bad[20] = 8;
	ck_assert_int_eq(icmp_echo_reply_parse(bad, len, false, &e, src), -ENOMSG);
	/* Not ICMP. */
	memcpy(bad, pkt, len);
	bad[9] = 17;
	ck_assert_int_eq(icmp_echo_reply_parse(bad, len, false, &e, src), -ENOMSG);
	/* A fragment (MF), an IP header length past the packet, IPv6 in an IPv4 socket. */
	memcpy(bad, pkt, len);
	bad[6] = 0x20;
	ck_assert_int_eq(icmp_echo_reply_parse(bad, len, false, &e, src), -EBADMSG);
	memcpy(bad, pkt, len);
	bad[0] = 0x4f;
	ck_assert_int_eq(icmp_echo_reply_parse(bad, len, false, &e, src), -EBADMSG);
	memcpy(bad, pkt, len);
	bad[0] = 0x65;
	ck_assert_int_eq(icmp_echo_reply_parse(bad, len, false, &e, src), -EBADMSG);
	/* A total length beyond what was read. */
	memcpy(bad, pkt, len);
	bad[3] = (uint8_t)(len + 1);
	ck_assert_int_eq(icmp_echo_reply_parse(bad, len, false, &e, src), -EBADMSG);
}
END_TEST

START_TEST(test_icmp_reply_v6)
{
	uint8_t m[64];
	struct icmp_echo e;
	size_t len;

	ck_assert_int_eq(icmp_echo_request(m, sizeof(m), true, &req, &len), 0);
	ck_assert_int_eq(icmp_echo_reply_parse(m, len, true, &e, NULL), -ENOMSG);
	m[0] = 129;
	ck_assert_int_eq(icmp_echo_reply_parse(m, len, true, &e, NULL), 0);
	ck_assert_uint_eq(e.seq, 7);
	ck_assert_int_eq(icmp_echo_reply_parse(m, len - 1, true, &e, NULL), -ENOMSG);
	ck_assert_int_eq(icmp_echo_reply_parse(m, 7, true, &e, NULL), -EBADMSG);
	m[1] = 1;
	ck_assert_int_eq(icmp_echo_reply_parse(m, len, true, &e, NULL), -EBADMSG);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("icmp");
	TCase *tc = tcase_create("icmp");

	tcase_add_test(tc, test_icmp_request_v4);
	tcase_add_test(tc, test_icmp_request_v6);
	tcase_add_test(tc, test_icmp_reply_v4);
	tcase_add_test(tc, test_icmp_reply_v4_refused);
	tcase_add_test(tc, test_icmp_reply_v6);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
