/*
 * lib/site/csv.c: RFC 4180 corners, malformed input with its line, and the import: every
 * row checked first, all or nothing, each bad row reported with its line and reason.
 */
#include <time.h>

#include "testutil.h"
#include "site/csv.h"

struct collected {
	size_t n;
	unsigned lines[16];
	char fields[16][8][64];
	size_t n_fields[16];
};

static int collect(void *arg, unsigned line, char **f, size_t n)
{
	struct collected *c = arg;

	if (c->n < 16) {
		c->lines[c->n] = line;
		c->n_fields[c->n] = n;
		for (size_t k = 0; k < n && k < 8; k++)
			snprintf(c->fields[c->n][k], 64, "%s", f[k]);
	}
	c->n++;
	return 0;
}

START_TEST(test_csv_rfc4180_corners)
{
	static const char text[] =
		"a,b,c\r\n"				/* line 1: CRLF */
		"\"x, y\",\"say \"\"hi\"\"\",z\n"	/* 2: comma and quotes in quotes, LF */
		"\"two\nlines\",,last\r\n"		/* 3-4: a line break in a field, empty field */
		"\n"					/* 5: blank line, no record */
		"p,q,\n"				/* 6: trailing empty field */
		"end,of,text";				/* 7: no final newline */
	struct collected c = { 0 };
	unsigned line;
	const char *why;

	ck_assert_int_eq(csv_read(text, sizeof(text) - 1, collect, &c, &line, &why), 0);
	ck_assert_uint_eq(c.n, 5);
	ck_assert_str_eq(c.fields[1][0], "x, y");
	ck_assert_str_eq(c.fields[1][1], "say \"hi\"");
	ck_assert_str_eq(c.fields[2][0], "two\nlines");
	ck_assert_str_eq(c.fields[2][1], "");
	ck_assert_uint_eq(c.lines[2], 3);
	ck_assert_uint_eq(c.lines[3], 6);	/* line numbers count the line inside the quotes */
	ck_assert_uint_eq(c.n_fields[3], 3);
	ck_assert_str_eq(c.fields[3][2], "");
	ck_assert_str_eq(c.fields[4][2], "text");
}
END_TEST

static void expect_bad(const char *text, size_t len, int rc, unsigned want_line, const char *why_part)
{
	struct collected c = { 0 };
	unsigned line = 0;
	const char *why = NULL;

	ck_assert_int_eq(csv_read(text, len, collect, &c, &line, &why), rc);
	ck_assert_uint_eq(line, want_line);
	ck_assert_msg(why && strstr(why, why_part), "reason '%s'", why ? why : "(none)");
}

START_TEST(test_csv_malformed_with_line)
{
	char *big;

	expect_bad("a,b\n\"open,c\n", 12, -EBADMSG, 2, "not closed");
	expect_bad("a,b\nx\"y,c\n", 10, -EBADMSG, 2, "quote inside an unquoted");
	expect_bad("a\n\"q\"x\n", 7, -EBADMSG, 2, "after a closing quote");
	expect_bad("a\rb\n", 4, -EBADMSG, 1, "CR not followed by LF");
	expect_bad("a,\xc3\x28\n", 5, -EBADMSG, 1, "UTF-8");
	expect_bad("a,\xc0\xaf\n", 5, -EBADMSG, 1, "UTF-8");	/* overlong */
	big = malloc(1024 * 1024 + 8);
	memset(big, 'x', 1024 * 1024);
	memcpy(big + 1024 * 1024, "\n", 1);
	expect_bad(big, 1024 * 1024 + 1, -EMSGSIZE, 1, "64 KiB");
	memset(big, ',', 40);
	expect_bad(big, 40, -EMSGSIZE, 1, "columns");
	/* 32 fields and then a comma that ends the text (found by fuzz_csv). */
	memset(big, ',', 32);
	expect_bad(big, 32, -EMSGSIZE, 1, "columns");
	free(big);
}
END_TEST

#define KEY16 "key-of-16-bytes!"

static struct site_db db_with_pops(void)
{
	struct site_db db = { 0 };
	const char *names[] = { "fra1", "ams1", "lon1" };
	char err[SITE_ERR_MAX];

	for (int i = 0; i < 3; i++) {
		struct pop p;

		pop_init(&p);
		ck_assert_int_eq(pop_set(&p, "name", names[i], err, sizeof(err)), 0);
		char gw[32];

		snprintf(gw, sizeof(gw), "198.51.100.%d", i + 1);	/* a gateway each */
		ck_assert_int_eq(pop_set(&p, "gateway", gw, err, sizeof(err)), 0);
		ck_assert_int_eq(site_db_add_pop(&db, &p, err, sizeof(err)), 0);
	}
	return db;
}

START_TEST(test_csv_import_all_or_nothing_with_every_bad_row)
{
	static const char good[] =
		"backups,name,id,psk,primary,traffic\r\n"
		"\"ams1,lon1\",b1,b1.example.com,key-one-of-16-bytes,fra1,User\r\n"
		"lon1,b2,203.0.113.2,\"k,2 of sixteen bytes\",ams1,Guest Wifi\r\n";
	static const char bad[] =
		"name,id,psk,primary,backups\n"
		"ok1,ok1.example.com," KEY16 ",fra1,ams1\n"
		"\"bad\n1\",x.example.com," KEY16 ",fra1,ams1\n"	/* lines 3-4: a bad name */
		"bad2,x.example.com," KEY16 ",fra1,fra1\n"		/* line 5: backup = primary */
		"ok2,ok2.example.com," KEY16 ",fra1\n";			/* line 6: a field short */
	struct site_db db = db_with_pops();
	struct csv_report rep;

	ck_assert_int_eq(site_csv_import(&db, bad, sizeof(bad) - 1, NULL, 0, false, &rep), -EINVAL);
	ck_assert_uint_eq(db.n_sites, 0);	/* nothing imported */
	ck_assert_uint_eq(rep.n_rows, 4);
	ck_assert_uint_eq(rep.n_errors, 3);
	ck_assert_uint_eq(rep.errors[0].line, 3);
	ck_assert_ptr_nonnull(strstr(rep.errors[0].msg, "name"));
	ck_assert_uint_eq(rep.errors[1].line, 5);
	ck_assert_ptr_nonnull(strstr(rep.errors[1].msg, "primary POP again"));
	ck_assert_uint_eq(rep.errors[2].line, 6);
	ck_assert_ptr_nonnull(strstr(rep.errors[2].msg, "4 fields, the header has 5"));

	ck_assert_int_eq(site_csv_import(&db, good, sizeof(good) - 1, NULL, 0, true, &rep), 0);
	ck_assert_uint_eq(db.n_sites, 0);	/* dry run */
	ck_assert_int_eq(site_csv_import(&db, good, sizeof(good) - 1, NULL, 0, false, &rep), 0);
	ck_assert_uint_eq(db.n_sites, 2);
	ck_assert_uint_eq(site_db_find(&db, "b1")->n_backups, 2);
	ck_assert_int_eq(site_db_find(&db, "b2")->traffic, SITE_TRAFFIC_GUEST_WIFI);
	ck_assert_mem_eq(site_db_find(&db, "b2")->psk.p, "k,2 of sixteen bytes", 20);
	ck_assert_int_eq(site_db_find(&db, "b2")->id_type, SITE_ID_IPV4);

	/* One site on two rows, new or existing: neither row is taken, both lines named. */
	{
		static const char twice[] =
			"name,id,psk,primary,backups\n"
			"x1,x1.example.com," KEY16 ",fra1,ams1\n"
			"x1,x2.example.com," KEY16 ",fra1,ams1\n"
			"b1,b1-new.example.com," KEY16 ",fra1,ams1\n"
			"b1,b1-other.example.com," KEY16 ",fra1,ams1\n";

		ck_assert_int_eq(site_csv_import(&db, twice, sizeof(twice) - 1, NULL, 0, false, &rep),
				 -EINVAL);
		ck_assert_uint_eq(db.n_sites, 2);
		ck_assert_str_eq(site_db_find(&db, "b1")->id, "b1.example.com");
		ck_assert_uint_eq(rep.n_errors, 2);
		ck_assert_uint_eq(rep.errors[0].line, 3);
		ck_assert_str_eq(rep.errors[0].msg, "site 'x1' named twice (also on line 2)");
		ck_assert_uint_eq(rep.errors[1].line, 5);
		ck_assert_str_eq(rep.errors[1].msg, "site 'b1' named twice (also on line 4)");
	}
	site_db_clear(&db);
}
END_TEST

START_TEST(test_csv_columns_secrets_and_export_round_trip)
{
	static const char unknown[] = "name,colour\nx,blue\n";
	static const char no_psk[] = "name,id,primary,backups\ns1,s1.example.com,fra1,ams1\n";
	static const char secrets[] = "psk,name\n\"secret, with comma\",s1\n";
	struct site_db db = db_with_pops(), back = db_with_pops();
	struct csv_report rep;
	char *out = NULL;
	size_t out_len = 0;

	ck_assert_int_eq(site_csv_import(&db, unknown, sizeof(unknown) - 1, NULL, 0, false, &rep),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(rep.errors[0].msg, "column 'colour'"));
	ck_assert_int_eq(site_csv_import(&db, no_psk, sizeof(no_psk) - 1, NULL, 0, false, &rep),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(rep.errors[0].msg, "psk: missing"));
	ck_assert_int_eq(site_csv_import(&db, no_psk, sizeof(no_psk) - 1, secrets,
					 sizeof(secrets) - 1, false, &rep), 0);
	ck_assert_mem_eq(site_db_find(&db, "s1")->psk.p, "secret, with comma", 18);
	/* Export without PSKs never shows one; with PSKs it imports back to the same sites. */
	ck_assert_int_eq(site_csv_export(&db, false, &out, &out_len), 0);
	ck_assert_ptr_null(strstr(out, "secret"));
	ck_assert_ptr_null(strstr(out, ",psk,"));
	free(out);
	ck_assert_int_eq(site_csv_export(&db, true, &out, &out_len), 0);
	ck_assert_int_eq(site_csv_import(&back, out, out_len, NULL, 0, false, &rep), 0);
	ck_assert_uint_eq(back.n_sites, 1);
	ck_assert_str_eq(back.sites[0].id, "s1.example.com");
	ck_assert_mem_eq(back.sites[0].psk.p, "secret, with comma", 18);
	ck_assert_str_eq(back.sites[0].esp_proposals, db.sites[0].esp_proposals);
	/* A second import of a row for an existing site edits it. */
	{
		static const char edit[] = "name,traffic\ns1,Machine\n";

		ck_assert_int_eq(site_csv_import(&back, edit, sizeof(edit) - 1, NULL, 0, false,
						 &rep), 0);
		ck_assert_uint_eq(back.n_sites, 1);
		ck_assert_int_eq(back.sites[0].traffic, SITE_TRAFFIC_MACHINE);
		ck_assert_mem_eq(back.sites[0].psk.p, "secret, with comma", 18);
	}
	free(out);
	site_db_clear(&db);
	site_db_clear(&back);
}
END_TEST

START_TEST(test_csv_ten_thousand_rows)
{
	struct site_db db = db_with_pops();
	struct csv_report rep;
	size_t cap = 100 + 10000 * 80, len = 0;
	char *text = malloc(cap);

	len += (size_t)snprintf(text + len, cap - len, "name,id,psk,primary,backups\n");
	for (int i = 0; i < 10000; i++)
		len += (size_t)snprintf(text + len, cap - len, "site-%d,s%d.example.com,key-of-site-%06d,fra1,ams1\n",
					i, i, i);
	ck_assert_int_eq(site_csv_import(&db, text, len, NULL, 0, false, &rep), 0);
	ck_assert_uint_eq(db.n_sites, 10000);
	ck_assert_str_eq(db.sites[9999].name, "site-9999");
	free(text);
	site_db_clear(&db);
}
END_TEST

/* Issue 15, defect 6: one identity, one site, on import too, naming both sites and the line. */
START_TEST(test_csv_import_refuses_a_shared_identity)
{
	static const char first[] =
		"name,id,psk,primary,backups\n"
		"a,a.example.com," KEY16 ",fra1,ams1\n"
		"b,b.example.com," KEY16 ",fra1,ams1\n";
	static const char rows[] =
		"name,id,psk,primary,backups\n"
		"c,c.example.com," KEY16 ",fra1,ams1\n"		/* line 2 */
		"d,fqdn:C.Example.com," KEY16 ",fra1,ams1\n"	/* line 3: c's, in another case */
		"e,A.EXAMPLE.COM," KEY16 ",fra1,ams1\n";		/* line 4: a's, in the store */
	/* a and b trade identities: fine once both rows are in. */
	static const char swap[] =
		"name,id\n"
		"a,b.example.com\n"
		"b,a.example.com\n";
	struct site_db db = db_with_pops();
	struct csv_report rep;
	size_t cap = 100 + 100000 * 64, len = 0;
	char *big = malloc(cap);
	struct timespec t0, t1;

	ck_assert_int_eq(site_csv_import(&db, first, sizeof(first) - 1, NULL, 0, false, &rep), 0);
	ck_assert_int_eq(site_csv_import(&db, rows, sizeof(rows) - 1, NULL, 0, false, &rep), -EINVAL);
	ck_assert_uint_eq(db.n_sites, 2);
	ck_assert_uint_eq(rep.n_errors, 2);
	ck_assert_uint_eq(rep.errors[0].line, 3);
	ck_assert_str_eq(rep.errors[0].msg, "site 'd' id 'fqdn:C.Example.com': already the identity "
			 "of site 'c' (line 2)");
	ck_assert_uint_eq(rep.errors[1].line, 4);
	ck_assert_str_eq(rep.errors[1].msg, "site 'e' id 'fqdn:A.EXAMPLE.COM': already the identity "
			 "of site 'a' (in the store)");
	ck_assert_int_eq(site_csv_import(&db, swap, sizeof(swap) - 1, NULL, 0, false, &rep), 0);
	ck_assert_str_eq(site_db_find(&db, "a")->id, "b.example.com");
	ck_assert_str_eq(site_db_find(&db, "b")->id, "a.example.com");
	site_db_clear(&db);

	/* 100,000 sites, the last one a duplicate: an index, not a scan per row. */
	db = db_with_pops();
	len += (size_t)snprintf(big + len, cap - len, "name,id,psk,primary,backups\n");
	for (int i = 0; i < 100000; i++)
		len += (size_t)snprintf(big + len, cap - len, "s%d,s%d.example.com," KEY16
					",fra1,ams1\n", i, i == 99999 ? 17 : i);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(site_csv_import(&db, big, len, NULL, 0, true, &rep), -EINVAL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_uint_eq(rep.n_errors, 1);
	ck_assert_uint_eq(rep.errors[0].line, 100001);
	ck_assert_str_eq(rep.errors[0].msg, "site 's99999' id 'fqdn:s17.example.com': already the "
			 "identity of site 's17' (line 19)");
	printf("100,000-site import (dry run) with the identity check: %.2f s\n",
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	free(big);
	site_db_clear(&db);
}
END_TEST

/* RFC 7296 §2.15: a short key only with the psk-short column saying so; it exports back. */
START_TEST(test_csv_short_psk_needs_the_psk_short_column)
{
	static const char short_key[] =
		"name,id,psk,primary,backups\n"
		"a,a.example.com,tiny,fra1,ams1\n";
	static const char said_so[] =
		"name,id,psk,primary,backups,psk-short\n"
		"a,a.example.com,tiny,fra1,ams1,yes\n";
	struct site_db db = db_with_pops(), back = db_with_pops();
	struct csv_report rep;
	char *out = NULL;
	size_t out_len = 0;

	ck_assert_int_eq(site_csv_import(&db, short_key, sizeof(short_key) - 1, NULL, 0, false,
					 &rep), -EINVAL);
	ck_assert_uint_eq(rep.errors[0].line, 2);
	ck_assert_msg(strstr(rep.errors[0].msg, "site 'a' psk: 4 bytes, fewer than 16") &&
		      strstr(rep.errors[0].msg, "psk-short yes"), "%s", rep.errors[0].msg);
	ck_assert_ptr_null(strstr(rep.errors[0].msg, "tiny"));
	ck_assert_int_eq(site_csv_import(&db, said_so, sizeof(said_so) - 1, NULL, 0, false, &rep), 0);
	ck_assert(site_db_find(&db, "a")->psk_short);
	ck_assert_int_eq(site_csv_export(&db, true, &out, &out_len), 0);
	ck_assert_ptr_nonnull(strstr(out, ",psk-short\r\n"));
	ck_assert_int_eq(site_csv_import(&back, out, out_len, NULL, 0, false, &rep), 0);
	ck_assert(back.sites[0].psk_short);
	free(out);
	site_db_clear(&db);
	site_db_clear(&back);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("site_csv");
	TCase *tc = tcase_create("csv");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_csv_rfc4180_corners);
	tcase_add_test(tc, test_csv_malformed_with_line);
	tcase_add_test(tc, test_csv_import_all_or_nothing_with_every_bad_row);
	tcase_add_test(tc, test_csv_columns_secrets_and_export_round_trip);
	tcase_add_test(tc, test_csv_ten_thousand_rows);
	tcase_add_test(tc, test_csv_import_refuses_a_shared_identity);
	tcase_add_test(tc, test_csv_short_psk_needs_the_psk_short_column);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
