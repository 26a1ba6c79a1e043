/*
 * lib/xfrm's parser of kernel messages, fed a real XFRM_MSG_NEWPOLICY the kernel sent
 * (test/fuzz/corpus/fuzz_netlink/newpolicy_mark_ifid_tmpl: `ip xfrm policy add ... mark 0x42
 * if_id 9 ... tmpl ... reqid 7`) and every truncated and lying variant of it; the same for
 * the kernel's answer to XFRM_MSG_GETSPDINFO (newspdinfo_hthresh_12_24_48_56: after `ip xfrm
 * policy set hthresh4 12 24 hthresh6 48 56`), and the choice of hash thresholds.
 */
#include <linux/netlink.h>

#include "testutil.h"
#include "xfrm/xfrm.h"

static uint8_t *load_file(const char *name, size_t *len)
{
	char path[4096];
	FILE *f;
	uint8_t *buf = malloc(4096);

	snprintf(path, sizeof(path), "%s/../fuzz/corpus/fuzz_netlink/%s", TEST_DATA_DIR, name);
	f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	*len = fread(buf, 1, 4096, f);
	fclose(f);
	return buf;
}

static uint8_t *load(size_t *len)
{
	uint8_t *buf = load_file("newpolicy_mark_ifid_tmpl", len);

	ck_assert_uint_gt(*len, 200);
	return buf;
}

START_TEST(test_parse_reads_what_the_kernel_sent)
{
	size_t len;
	uint8_t *buf = load(&len);
	struct xfrm_policy p;

	ck_assert_int_eq(xfrm_policy_parse(buf, len, &p), 0);
	ck_assert_uint_eq(p.mark, 0x42);
	ck_assert_uint_eq(p.if_id, 9);
	ck_assert_uint_eq(p.priority, 1000);
	ck_assert_uint_eq(p.dir, XFRM_POLICY_OUT);
	ck_assert_uint_eq(p.sel.dport, 443);
	ck_assert_uint_eq(p.sel.proto, 6);
	ck_assert_uint_eq(p.sel.src_plen, 16);
	ck_assert_uint_eq(p.n_tmpls, 1);
	ck_assert_uint_eq(p.tmpl[0].reqid, 7);
	ck_assert_uint_eq(p.tmpl[0].mode, XFRM_MODE_TUNNEL);
	free(buf);
}
END_TEST

START_TEST(test_parse_rejects_truncated_and_lying_messages)
{
	size_t len;
	uint8_t *buf = load(&len);
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	struct xfrm_policy p;

	/* Every truncation of the buffer, with the header still claiming the full length. */
	for (size_t n = 0; n < len; n++) {
		uint8_t *copy = malloc(n ? n : 1);

		memcpy(copy, buf, n);
		ck_assert_int_eq(xfrm_policy_parse(copy, n, &p), -EBADMSG);
		/* And with the header made to agree: only whole attributes may be dropped. */
		if (n >= NLMSG_HDRLEN) {
			int rc;

			((struct nlmsghdr *)copy)->nlmsg_len = (uint32_t)n;
			rc = xfrm_policy_parse(copy, n, &p);
			if (n < NLMSG_HDRLEN + sizeof(struct xfrm_userpolicy_info))
				ck_assert_int_eq(rc, -EBADMSG);
			else
				ck_assert(rc == 0 || rc == -EBADMSG);
		}
		free(copy);
	}
	/* A header that claims less than the fixed part. */
	nlh->nlmsg_len = NLMSG_HDRLEN + 10;
	ck_assert_int_eq(xfrm_policy_parse(buf, len, &p), -EBADMSG);
	nlh->nlmsg_len = (uint32_t)len;
	/* The last attribute claims more than the message holds. */
	{
		uint8_t *copy = malloc(len);
		size_t off = NLMSG_HDRLEN + sizeof(struct xfrm_userpolicy_info);
		struct nlattr *a = (struct nlattr *)(copy + off);

		memcpy(copy, buf, len);
		a->nla_len = (uint16_t)(len - off + 4);
		ck_assert_int_eq(xfrm_policy_parse(copy, len, &p), -EBADMSG);
		/* A template attribute that is not a whole number of templates. */
		memcpy(copy, buf, len);
		for (size_t o = off; o + sizeof(*a) <= len;) {
			a = (struct nlattr *)(copy + o);
			if ((a->nla_type & NLA_TYPE_MASK) == XFRMA_TMPL) {
				a->nla_len -= 4;
				break;
			}
			o += NLA_ALIGN(a->nla_len);
		}
		ck_assert_int_eq(xfrm_policy_parse(copy, len, &p), -EBADMSG);
		free(copy);
	}
	/* Not a policy at all. */
	nlh->nlmsg_type = XFRM_MSG_NEWSA;
	ck_assert_int_eq(xfrm_policy_parse(buf, len, &p), -EBADMSG);
	free(buf);
}
END_TEST

START_TEST(test_spd_parse_reads_the_kernels_answer)
{
	size_t len;
	uint8_t *buf = load_file("newspdinfo_hthresh_12_24_48_56", &len);
	struct xfrm_spd_hthresh h;

	ck_assert_uint_eq(len, 76);
	ck_assert_int_eq(xfrm_spd_hthresh_parse(buf, len, &h), 0);
	ck_assert(h.have4 && h.have6);
	ck_assert_uint_eq(h.lbits4, 12);
	ck_assert_uint_eq(h.rbits4, 24);
	ck_assert_uint_eq(h.lbits6, 48);
	ck_assert_uint_eq(h.rbits6, 56);
	/* Every truncation, the header claiming the whole; then agreeing with it. */
	for (size_t n = 0; n < len; n++) {
		uint8_t *copy = malloc(n ? n : 1);

		memcpy(copy, buf, n);
		ck_assert_int_eq(xfrm_spd_hthresh_parse(copy, n, &h), -EBADMSG);
		if (n >= NLMSG_HDRLEN) {
			((struct nlmsghdr *)copy)->nlmsg_len = (uint32_t)n;
			/* The IPv6 pair is the last attribute (6 bytes, then 2 of padding): any
			 * cut but the padding's loses or breaks it. */
			ck_assert_int_eq(xfrm_spd_hthresh_parse(copy, n, &h),
					 n >= len - 2 ? 0 : -EBADMSG);
		}
		free(copy);
	}
	/* A threshold past the family's address length; a pair shorter than two bytes. */
	buf[len - 4] = 129;
	ck_assert_int_eq(xfrm_spd_hthresh_parse(buf, len, &h), -EBADMSG);
	buf[len - 4] = 48;
	buf[len - 12] = 33;
	ck_assert_int_eq(xfrm_spd_hthresh_parse(buf, len, &h), -EBADMSG);
	buf[len - 12] = 12;
	buf[len - 16] = 5;	/* IPv4 pair's nla_len: one byte of payload */
	ck_assert_int_eq(xfrm_spd_hthresh_parse(buf, len, &h), -EBADMSG);
	buf[len - 16] = 6;
	ck_assert_int_eq(xfrm_spd_hthresh_parse(buf, len, &h), 0);
	((struct nlmsghdr *)buf)->nlmsg_type = XFRM_MSG_NEWPOLICY;
	ck_assert_int_eq(xfrm_spd_hthresh_parse(buf, len, &h), -EBADMSG);
	free(buf);
}
END_TEST

static struct xfrm_policy pol(int family, uint8_t dir, uint8_t src_plen, uint8_t dst_plen)
{
	struct xfrm_policy p = { .dir = dir };

	p.sel.src.family = p.sel.dst.family = (uint16_t)family;
	p.sel.src_plen = src_plen;
	p.sel.dst_plen = dst_plen;
	return p;
}

START_TEST(test_spd_fit_lowers_to_the_shortest_prefix_worth_hashing)
{
	struct xfrm_spd_hthresh cur = { true, true, 32, 32, 128, 128 }, h = { 0 }, next;
	struct xfrm_policy p;

	/* A gateway's out policy: local 172.16.0.0/12 (source), remote a site's /24. */
	p = pol(AF_INET, XFRM_POLICY_OUT, 12, 24);
	ck_assert(xfrm_spd_hthresh_fit(&cur, &p, &h));
	ck_assert_uint_eq(h.lbits4, 12);
	ck_assert_uint_eq(h.rbits4, 24);
	ck_assert_uint_eq(h.lbits6, 128);
	ck_assert_uint_eq(h.rbits6, 128);
	/* Its in and fwd policies: local is the destination. Hashed already. */
	p = pol(AF_INET, XFRM_POLICY_IN, 24, 12);
	ck_assert(!xfrm_spd_hthresh_fit(&h, &p, &next));
	p = pol(AF_INET, XFRM_POLICY_FWD, 24, 12);
	ck_assert(!xfrm_spd_hthresh_fit(&h, &p, &next));
	/* The reverse shape lowers the other side, never raising one. */
	p = pol(AF_INET, XFRM_POLICY_IN, 8, 32);
	ck_assert(xfrm_spd_hthresh_fit(&h, &p, &next));
	ck_assert_uint_eq(next.lbits4, 12);
	ck_assert_uint_eq(next.rbits4, 8);
	/* A full tunnel at the gateway: local 0/0 with each site's /24 hashes by the site. */
	p = pol(AF_INET, XFRM_POLICY_OUT, 0, 24);
	ck_assert(xfrm_spd_hthresh_fit(&cur, &p, &next));
	ck_assert_uint_eq(next.lbits4, 0);
	ck_assert_uint_eq(next.rbits4, 24);
	/* 0/0 to 0/0, or a pair with fewer than 16 bits between them: left in the tree. */
	p = pol(AF_INET, XFRM_POLICY_OUT, 0, 0);
	ck_assert(!xfrm_spd_hthresh_fit(&cur, &p, &next));
	p = pol(AF_INET, XFRM_POLICY_OUT, 12, 0);
	ck_assert(!xfrm_spd_hthresh_fit(&h, &p, &next));
	p = pol(AF_INET, XFRM_POLICY_OUT, 8, 8);
	ck_assert(xfrm_spd_hthresh_fit(&cur, &p, &next));
	p = pol(AF_INET, XFRM_POLICY_OUT, 8, 7);
	ck_assert(!xfrm_spd_hthresh_fit(&cur, &p, &next));
	/* IPv6 moves only the IPv6 pair; a family not read is never set. */
	p = pol(AF_INET6, XFRM_POLICY_OUT, 48, 56);
	ck_assert(xfrm_spd_hthresh_fit(&h, &p, &next));
	ck_assert_uint_eq(next.lbits4, 12);
	ck_assert_uint_eq(next.rbits4, 24);
	ck_assert_uint_eq(next.lbits6, 48);
	ck_assert_uint_eq(next.rbits6, 56);
	p = pol(AF_INET6, XFRM_POLICY_OUT, 16, 15);
	ck_assert(!xfrm_spd_hthresh_fit(&cur, &p, &next));
	cur.have6 = false;
	p = pol(AF_INET6, XFRM_POLICY_OUT, 48, 56);
	ck_assert(!xfrm_spd_hthresh_fit(&cur, &p, &next));
	/* Host to host is hashed by default. */
	cur.have6 = true;
	p = pol(AF_INET, XFRM_POLICY_FWD, 32, 32);
	ck_assert(!xfrm_spd_hthresh_fit(&cur, &p, &next));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("xfrm_parse");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_parse_reads_what_the_kernel_sent);
	tcase_add_test(tc, test_parse_rejects_truncated_and_lying_messages);
	tcase_add_test(tc, test_spd_parse_reads_the_kernels_answer);
	tcase_add_test(tc, test_spd_fit_lowers_to_the_shortest_prefix_worth_hashing);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
