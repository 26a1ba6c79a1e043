/*
 * lib/tunnel/kernel.c's reqids: one per site name, kept for the daemon's life, each in the
 * range a restarted ikd takes for its own (ikd_reqid_ours), for more sites than 16 bits hold.
 */
#include "testutil.h"
#include "tunnel/tunnel.h"

#define N 100000u	/* a gateway's sites: past 65,536 */

static uint32_t reqid_of(struct ikd *d, const char *name)
{
	struct site s;

	site_init(&s);
	snprintf(s.name, sizeof(s.name), "%s", name);
	return kernel_reqid(d, &s);
}

START_TEST(test_reqid_per_site_for_a_gateways_sites)
{
	struct ikd d;
	uint32_t *got = calloc(N, sizeof(*got));
	char name[SITE_NAME_MAX];

	ck_assert_ptr_nonnull(got);
	memset(&d, 0, sizeof(d));
	for (unsigned i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "site-%u", i);
		got[i] = reqid_of(&d, name);
		ck_assert_msg(ikd_reqid_ours(got[i]), "site %u: reqid %#x is not ikd's", i, got[i]);
	}
	/* Asked again (the table grew meanwhile): the same numbers, all different. */
	for (unsigned i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "site-%u", i);
		ck_assert_uint_eq(reqid_of(&d, name), got[i]);
		if (i)
			ck_assert_uint_ne(got[i], got[i - 1]);
	}
	ck_assert(!ikd_reqid_ours(IKD_REQID_BASE - 1));
	ck_assert(!ikd_reqid_ours(IKD_REQID_LAST + 1));

	/* A rename keeps the number; the new name's own old entry (a deleted site's) goes. */
	kernel_reqid_rename(&d, "site-7", "site-9");
	ck_assert_uint_eq(reqid_of(&d, "site-9"), got[7]);
	ck_assert_uint_ne(reqid_of(&d, "site-7"), got[7]);	/* a new site of that name */
	ck_assert_uint_eq(reqid_of(&d, "site-8"), got[8]);
	/* The names are the shared texts a site's tunnels hold: one copy each, none left after. */
	{
		const char *text = tun_text_get(&d, "site-9");

		ck_assert_uint_eq(d.n_texts, N);	/* site-7 again, not site-9's old entry */
		tun_text_put(&d, text);
	}
	kernel_reqids_clear(&d);
	ck_assert_uint_eq(d.n_texts, 0);
	tun_texts_clear(&d);
	free(got);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ikd_reqid");
	TCase *tc = tcase_create("reqid");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_reqid_per_site_for_a_gateways_sites);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
