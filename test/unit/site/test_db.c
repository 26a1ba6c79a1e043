/* lib/site/db.c: changes that validate first and are all or nothing. */
#include "testutil.h"
#include "site/site.h"

static char err[SITE_ERR_MAX];
#define KEY "a-key-of-24-bytes-at-least"

static void add_pop(struct site_db *db, const char *name)
{
	struct pop p;
	char gw[32];

	/* A gateway each: two POPs at one address are one peer (refused below). */
	snprintf(gw, sizeof(gw), "198.51.100.%zu", db->n_pops + 1);
	pop_init(&p);
	ck_assert_int_eq(pop_set(&p, "name", name, err, sizeof(err)), 0);
	ck_assert_int_eq(pop_set(&p, "gateway", gw, err, sizeof(err)), 0);
	ck_assert_int_eq(site_db_add_pop(db, &p, err, sizeof(err)), 0);
}

static void add_site(struct site_db *db, const char *name, const char *primary,
		     const char *backups)
{
	struct site s;
	char id[SITE_NAME_MAX + 16];

	snprintf(id, sizeof(id), "%s.example.com", name);
	site_init(&s);
	ck_assert_int_eq(site_set(&s, "name", name, err, sizeof(err)), 0);
	ck_assert_int_eq(site_set(&s, "id", id, err, sizeof(err)), 0);
	ck_assert_int_eq(site_set_psk(&s, (const uint8_t *)KEY, strlen(KEY), err, sizeof(err)), 0);
	ck_assert_int_eq(site_set(&s, "primary", primary, err, sizeof(err)), 0);
	ck_assert_int_eq(site_set(&s, "backups", backups, err, sizeof(err)), 0);
	ck_assert_msg(site_db_add_site(db, &s, err, sizeof(err)) == 0, "%s", err);
	site_clear(&s);
}

/* 250 sites s000..s249 (added in reverse); odd ones back up to lon1, even ones to ams1. */
static struct site_db db_for_list(void)
{
	struct site_db db = { 0 };

	add_pop(&db, "fra1");
	add_pop(&db, "ams1");
	add_pop(&db, "lon1");
	for (int i = 249; i >= 0; i--) {
		char name[8];

		snprintf(name, sizeof(name), "s%03d", i);
		add_site(&db, name, "fra1", i % 2 ? "lon1" : "ams1");
	}
	return db;
}

static struct site_db setup(void)
{
	struct site_db db = { 0 };

	add_pop(&db, "fra1");
	add_pop(&db, "ams1");
	add_pop(&db, "lon1");
	add_site(&db, "a", "fra1", "ams1");
	add_site(&db, "b", "fra1", "lon1");
	add_site(&db, "c", "ams1", "lon1");
	return db;
}

START_TEST(test_db_edit_validates_and_changes_nothing_on_failure)
{
	struct site_db db = setup();
	const char *bad[] = { "traffic", "IoT", "backups", "fra1" };	/* backup = primary */
	const char *good[] = { "traffic", "IoT", "child-rekey", "6000" };
	const char *rename[] = { "name", "z" };

	ck_assert_int_lt(site_db_edit_site(&db, "a", bad, 4, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "the primary POP again"));
	ck_assert_int_eq(site_db_find(&db, "a")->traffic, SITE_TRAFFIC_USER);	/* untouched */
	ck_assert_int_eq(site_db_edit_site(&db, "a", good, 4, err, sizeof(err)), 0);
	ck_assert_int_eq(site_db_find(&db, "a")->traffic, SITE_TRAFFIC_IOT);
	ck_assert_uint_eq(site_db_find(&db, "a")->child_rekey_s, 6000);
	ck_assert_mem_eq(site_db_find(&db, "a")->psk.p, KEY, strlen(KEY));
	ck_assert_int_lt(site_db_edit_site(&db, "a", rename, 2, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "site rename OLD NEW"));
	ck_assert_int_eq(site_db_edit_site(&db, "nope", good, 4, err, sizeof(err)), -ENOENT);
	ck_assert_int_lt(site_db_edit_site(&db, "a", good, 3, err, sizeof(err)), 0);
	site_db_clear(&db);
}
END_TEST

START_TEST(test_db_bulk_changes_are_all_or_nothing)
{
	struct site_db db = setup();
	const char *some[] = { "a", "c" };
	const char *with_unknown[] = { "a", "x", "c" };
	const char *twice[] = { "b", "b" };

	ck_assert_int_eq(site_db_set_enabled(&db, with_unknown, 3, false, err, sizeof(err)),
			 -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "site 'x'"));
	ck_assert(site_db_find(&db, "a")->enabled);	/* not even the first one */
	ck_assert_int_eq(site_db_set_enabled(&db, some, 2, false, err, sizeof(err)), 0);
	ck_assert(!site_db_find(&db, "a")->enabled && !site_db_find(&db, "c")->enabled);
	ck_assert(site_db_find(&db, "b")->enabled);
	ck_assert_int_lt(site_db_delete_sites(&db, twice, 2, err, sizeof(err)), 0);
	ck_assert_int_eq(site_db_delete_sites(&db, with_unknown, 3, err, sizeof(err)), -ENOENT);
	ck_assert_uint_eq(db.n_sites, 3);
	ck_assert_int_eq(site_db_delete_sites(&db, some, 2, err, sizeof(err)), 0);
	ck_assert_uint_eq(db.n_sites, 1);
	ck_assert_str_eq(db.sites[0].name, "b");
	site_db_clear(&db);
}
END_TEST

START_TEST(test_db_pop_in_use_is_not_deleted)
{
	struct site_db db = setup();
	struct pop dup;
	const char *edit[] = { "accepting", "no" };

	ck_assert_int_eq(site_db_delete_pop(&db, "lon1", err, sizeof(err)), -EBUSY);
	ck_assert_ptr_nonnull(strstr(err, "used by 2 sites ('b', 'c')"));
	ck_assert_uint_eq(db.n_pops, 3);
	ck_assert_int_eq(site_db_edit_pop(&db, "lon1", edit, 2, err, sizeof(err)), 0);
	ck_assert(!site_db_find_pop(&db, "lon1")->accepting);
	pop_init(&dup);
	ck_assert_int_eq(pop_set(&dup, "name", "fra1", err, sizeof(err)), 0);
	ck_assert_int_eq(pop_set(&dup, "gateway", "192.0.2.1", err, sizeof(err)), 0);
	ck_assert_int_eq(site_db_add_pop(&db, &dup, err, sizeof(err)), -EEXIST);
	add_pop(&db, "nyc1");
	ck_assert_int_eq(site_db_delete_pop(&db, "nyc1", err, sizeof(err)), 0);
	ck_assert_ptr_null(site_db_find_pop(&db, "nyc1"));
	site_db_clear(&db);
}
END_TEST

START_TEST(test_db_select_filters_sort_and_pages)
{
	struct site_db db = db_for_list();
	struct site_filter f = { .traffic = -1, .enabled = -1, .page = 1 };
	size_t *idx, n, total;

	ck_assert_int_eq(site_db_select(&db, &f, &idx, &n, &total), 0);
	ck_assert_uint_eq(total, 250);
	ck_assert_uint_eq(n, SITE_PAGE_SIZE);
	ck_assert_str_eq(db.sites[idx[0]].name, "s000");
	free(idx);
	f.page = 3;
	ck_assert_int_eq(site_db_select(&db, &f, &idx, &n, &total), 0);
	ck_assert_uint_eq(n, 50);
	ck_assert_str_eq(db.sites[idx[49]].name, "s249");
	free(idx);
	f.page = 1;
	f.descending = true;
	f.name = "s1";		/* s1, s10-s19, s100-s199 */
	f.pop = "lon1";		/* odd sites have lon1 as backup */
	ck_assert_int_eq(site_db_select(&db, &f, &idx, &n, &total), 0);
	ck_assert_uint_eq(total, 50);
	ck_assert_str_eq(db.sites[idx[0]].name, "s199");
	free(idx);
	f = (struct site_filter){ .traffic = SITE_TRAFFIC_IOT, .enabled = 0, .page = 1 };
	ck_assert_int_eq(site_db_select(&db, &f, &idx, &n, &total), 0);
	ck_assert_uint_eq(total, 0);
	ck_assert_uint_eq(n, 0);
	free(idx);
	site_db_clear(&db);
}
END_TEST

/* Issue 15, defect 6: a gateway finds a site by identity, so two may not share one. */
START_TEST(test_db_identity_is_one_sites)
{
	struct site_db db = setup();
	const char *take_b[] = { "id", "fqdn:B.Example.COM" };
	const char *own[] = { "id", "A.example.com", "traffic", "IoT" };
	struct site s;

	site_init(&s);
	ck_assert_int_eq(site_set(&s, "name", "d", err, sizeof(err)), 0);
	ck_assert_int_eq(site_set(&s, "id", "C.EXAMPLE.com", err, sizeof(err)), 0);
	ck_assert_int_eq(site_set_psk(&s, (const uint8_t *)KEY, strlen(KEY), err, sizeof(err)), 0);
	ck_assert_int_eq(site_set(&s, "primary", "fra1", err, sizeof(err)), 0);
	ck_assert_int_eq(site_set(&s, "backups", "ams1", err, sizeof(err)), 0);
	ck_assert_int_eq(site_db_add_site(&db, &s, err, sizeof(err)), -EEXIST);
	ck_assert_msg(strstr(err, "site 'd' id 'fqdn:C.EXAMPLE.com': already the identity of site "
			      "'c' (fqdn:c.example.com)"), "%s", err);
	ck_assert_uint_eq(db.n_sites, 3);
	ck_assert_int_eq(site_set(&s, "id", "d.example.com", err, sizeof(err)), 0);
	ck_assert_msg(site_db_add_site(&db, &s, err, sizeof(err)) == 0, "%s", err);
	/* An edit may not take another site's identity, and may keep its own. */
	ck_assert_int_eq(site_db_edit_site(&db, "a", take_b, 2, err, sizeof(err)), -EEXIST);
	ck_assert_msg(strstr(err, "site 'a' id 'fqdn:B.Example.COM': already the identity of "
			      "site 'b'"), "%s", err);
	ck_assert_str_eq(site_db_find(&db, "a")->id, "a.example.com");
	ck_assert_msg(site_db_edit_site(&db, "a", own, 4, err, sizeof(err)) == 0, "%s", err);
	/* Addresses compare as addresses. */
	ck_assert_int_eq(site_set(&s, "name", "e", err, sizeof(err)), 0);
	ck_assert_int_eq(site_set(&s, "id", "2001:db8::9", err, sizeof(err)), 0);
	ck_assert_int_eq(site_db_add_site(&db, &s, err, sizeof(err)), 0);
	ck_assert_int_eq(site_set(&s, "name", "f", err, sizeof(err)), 0);
	ck_assert_int_eq(site_set(&s, "id", "ipv6:2001:DB8:0:0::9", err, sizeof(err)), 0);
	ck_assert_int_eq(site_db_add_site(&db, &s, err, sizeof(err)), -EEXIST);
	ck_assert_ptr_nonnull(strstr(err, "site 'e'"));
	site_clear(&s);
	site_db_clear(&db);
}
END_TEST

START_TEST(test_db_rename_keeps_the_record)
{
	struct site_db db = setup();
	const struct site *s;

	ck_assert_int_eq(site_db_rename_site(&db, "b", "b-new", err, sizeof(err)), 0);
	ck_assert_ptr_null(site_db_find(&db, "b"));
	s = site_db_find(&db, "b-new");
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s->id, "b.example.com");
	ck_assert_str_eq(s->backups[0], "lon1");
	ck_assert_mem_eq(s->psk.p, KEY, strlen(KEY));
	ck_assert_uint_eq(db.n_sites, 3);
	ck_assert_int_eq(site_db_rename_site(&db, "b", "x", err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "site 'b': no such site"));
	ck_assert_int_eq(site_db_rename_site(&db, "a", "c", err, sizeof(err)), -EEXIST);
	ck_assert_ptr_nonnull(strstr(err, "site 'c': exists"));
	ck_assert_int_eq(site_db_rename_site(&db, "a", "bad name", err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "name 'bad name'"));
	ck_assert_int_eq(site_db_rename_site(&db, "a", "a", err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(site_db_find(&db, "a"));
	site_db_clear(&db);
}
END_TEST

/* Two POPs at one address are one peer: a site's tunnels to both would replace each other. */
START_TEST(test_db_two_pops_never_share_a_gateway)
{
	struct site_db db = setup();
	const char *to_fra1[] = { "gateway", "198.51.100.1" };
	const char *same[] = { "gateway", "198.51.100.2", "location", "Amsterdam" };
	struct pop p;

	pop_init(&p);
	ck_assert_int_eq(pop_set(&p, "name", "fra2", err, sizeof(err)), 0);
	ck_assert_int_eq(pop_set(&p, "gateway", "198.51.100.1", err, sizeof(err)), 0);
	ck_assert_int_eq(site_db_add_pop(&db, &p, err, sizeof(err)), -EEXIST);
	ck_assert_msg(strstr(err, "pop 'fra2' gateway '198.51.100.1': already the gateway of pop "
			      "'fra1'"), "%s", err);
	ck_assert_uint_eq(db.n_pops, 3);
	ck_assert_int_eq(site_db_edit_pop(&db, "ams1", to_fra1, 2, err, sizeof(err)), -EEXIST);
	ck_assert_ptr_nonnull(strstr(err, "pop 'ams1' gateway '198.51.100.1'"));
	ck_assert_str_eq(site_db_find_pop(&db, "ams1")->gateway, "198.51.100.2");
	/* Its own gateway again is no conflict. */
	ck_assert_msg(site_db_edit_pop(&db, "ams1", same, 4, err, sizeof(err)) == 0, "%s", err);
	/* Addresses compare as addresses. */
	ck_assert_int_eq(pop_set(&p, "gateway", "2001:db8::1", err, sizeof(err)), 0);
	ck_assert_int_eq(site_db_add_pop(&db, &p, err, sizeof(err)), 0);
	ck_assert_int_eq(pop_set(&p, "name", "fra3", err, sizeof(err)), 0);
	ck_assert_int_eq(pop_set(&p, "gateway", "2001:DB8:0::1", err, sizeof(err)), 0);
	ck_assert_int_eq(site_db_add_pop(&db, &p, err, sizeof(err)), -EEXIST);
	site_db_clear(&db);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("site_db");
	TCase *tc = tcase_create("db");

	tcase_add_test(tc, test_db_edit_validates_and_changes_nothing_on_failure);
	tcase_add_test(tc, test_db_bulk_changes_are_all_or_nothing);
	tcase_add_test(tc, test_db_pop_in_use_is_not_deleted);
	tcase_add_test(tc, test_db_select_filters_sort_and_pages);
	tcase_add_test(tc, test_db_identity_is_one_sites);
	tcase_add_test(tc, test_db_rename_keeps_the_record);
	tcase_add_test(tc, test_db_two_pops_never_share_a_gateway);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
