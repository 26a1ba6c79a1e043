/*
 * lib/xfrm's parser of kernel messages, fed a real XFRM_MSG_NEWPOLICY the kernel sent
 * (test/fuzz/corpus/fuzz_netlink/newpolicy_mark_ifid_tmpl: `ip xfrm policy add ... mark 0x42
 * if_id 9 ... tmpl ... reqid 7`) and every truncated and lying variant of it.
 */
#include <linux/netlink.h>

#include "testutil.h"
#include "xfrm/xfrm.h"

static uint8_t *load(size_t *len)
{
	char path[4096];
	FILE *f;
	uint8_t *buf = malloc(4096);

	snprintf(path, sizeof(path), "%s/../fuzz/corpus/fuzz_netlink/newpolicy_mark_ifid_tmpl",
		 TEST_DATA_DIR);
	f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	*len = fread(buf, 1, 4096, f);
	fclose(f);
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

int main(void)
{
	Suite *s = suite_create("xfrm_parse");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_parse_reads_what_the_kernel_sent);
	tcase_add_test(tc, test_parse_rejects_truncated_and_lying_messages);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
