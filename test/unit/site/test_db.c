/* lib/site/db.c: changes that validate first and are all or nothing. */
#include "testutil.h"
#include "site/site.h"

static char err[SITE_ERR_MAX];

static void add_pop(struct site_db *db, const char *name)
{
	struct pop p;

	pop_init(&p);
	ck_assert_int_eq(pop_set(&p, "name", name, err, sizeof(err)), 0);
	ck_assert_int_eq(pop_set(&p, "gateway", "198.51.100.1", err, sizeof(err)), 0);
	ck_assert_int_eq(site_db_add_pop(db, &p, err, sizeof(err)), 0);
}

static void add_site(struct site_db *db, const char *name, const char *primary,
		     const char *backups)
{
	struct site s;

	site_init(&s);
	ck_assert_int_eq(site_set(&s, "name", name, err, sizeof(err)), 0);
	ck_assert_int_eq(site_set(&s, "id", "203.0.113.9", err, sizeof(err)), 0);
	ck_assert_int_eq(site_set_psk(&s, (const uint8_t *)"k", 1, err, sizeof(err)), 0);
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
	ck_assert_mem_eq(site_db_find(&db, "a")->psk.p, "k", 1);
	ck_assert_int_lt(site_db_edit_site(&db, "a", rename, 2, err, sizeof(err)), 0);
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

int main(void)
{
	Suite *s = suite_create("site_db");
	TCase *tc = tcase_create("db");

	tcase_add_test(tc, test_db_edit_validates_and_changes_nothing_on_failure);
	tcase_add_test(tc, test_db_bulk_changes_are_all_or_nothing);
	tcase_add_test(tc, test_db_pop_in_use_is_not_deleted);
	tcase_add_test(tc, test_db_select_filters_sort_and_pages);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
