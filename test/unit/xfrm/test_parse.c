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

START_TEST(test_spd_fit_lowers_to_the_shortest_prefix_worth_hashing)
{
	const struct xfrm_spd_hthresh def = { true, true, 32, 32, 128, 128 },
		gw = { true, true, 12, 24, 128, 128 }, no6 = { true, false, 32, 32, 128, 128 };
	static const struct {
		const char *what;
		int from;	/* 0: the kernel's defaults, 1: after a gateway's, 2: no IPv6 read */
		int family;
		uint8_t dir, src_plen, dst_plen;
		bool fit;
		uint8_t l4, r4, l6, r6;	/* when fit */
	} cases[] = {
		{ "a gateway's out policy, 172.16.0.0/12 to a site's /24", 0, AF_INET,
		  XFRM_POLICY_OUT, 12, 24, true, 12, 24, 128, 128 },
		{ "its in policy: local is the destination", 1, AF_INET, XFRM_POLICY_IN, 24, 12,
		  false, 0, 0, 0, 0 },
		{ "its fwd policy", 1, AF_INET, XFRM_POLICY_FWD, 24, 12, false, 0, 0, 0, 0 },
		{ "the reverse shape lowers the other side, raising none", 1, AF_INET,
		  XFRM_POLICY_IN, 8, 32, true, 12, 8, 128, 128 },
		{ "a full tunnel at a gateway: hashed by the site", 0, AF_INET, XFRM_POLICY_OUT, 0,
		  24, true, 0, 24, 128, 128 },
		{ "0/0 to 0/0: left in the tree", 0, AF_INET, XFRM_POLICY_OUT, 0, 0, false, 0, 0,
		  0, 0 },
		{ "12 and 0 bits: too few", 1, AF_INET, XFRM_POLICY_OUT, 12, 0, false, 0, 0, 0, 0 },
		{ "8 and 8 bits: enough", 0, AF_INET, XFRM_POLICY_OUT, 8, 8, true, 8, 8, 128, 128 },
		{ "8 and 7 bits: too few", 0, AF_INET, XFRM_POLICY_OUT, 8, 7, false, 0, 0, 0, 0 },
		{ "IPv6 moves only the IPv6 pair", 1, AF_INET6, XFRM_POLICY_OUT, 48, 56, true, 12,
		  24, 48, 56 },
		{ "IPv6, 31 bits: too few", 0, AF_INET6, XFRM_POLICY_OUT, 16, 15, false, 0, 0, 0,
		  0 },
		{ "a family not read is never set", 2, AF_INET6, XFRM_POLICY_OUT, 48, 56, false, 0,
		  0, 0, 0 },
		{ "host to host is hashed by default", 0, AF_INET, XFRM_POLICY_FWD, 32, 32, false,
		  0, 0, 0, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct xfrm_spd_hthresh *cur = cases[i].from == 0 ? &def :
						     cases[i].from == 1 ? &gw : &no6;
		struct xfrm_policy p = { .dir = cases[i].dir };
		struct xfrm_spd_hthresh next = { 0 };

		p.sel.src.family = p.sel.dst.family = (uint16_t)cases[i].family;
		p.sel.src_plen = cases[i].src_plen;
		p.sel.dst_plen = cases[i].dst_plen;
		ck_assert_msg(xfrm_spd_hthresh_fit(cur, &p, &next) == cases[i].fit, "%s",
			      cases[i].what);
		if (!cases[i].fit)
			continue;
		ck_assert_msg(next.lbits4 == cases[i].l4 && next.rbits4 == cases[i].r4 &&
			      next.lbits6 == cases[i].l6 && next.rbits6 == cases[i].r6 &&
			      next.have4 == cur->have4 && next.have6 == cur->have6,
			      "%s: %u %u %u %u", cases[i].what, next.lbits4, next.rbits4,
			      next.lbits6, next.rbits6);
	}
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
