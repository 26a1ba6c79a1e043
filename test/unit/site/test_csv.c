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

/* What Excel writes: a BOM, header names in any case, TRUE/FALSE. */
START_TEST(test_csv_excel_bom_header_case_and_booleans)
{
	static const char text[] =
		"\xef\xbb\xbfName,ID,Psk, Primary ,BACKUPS,Enabled,Vendor-Rules,PSK-Short\r\n"
		"x1,x1.example.com,k1,fra1,ams1,FALSE,TRUE,TRUE\r\n"
		"x2,x2.example.com,x2-key-0123456789,fra1,ams1,Yes,Off,false\r\n";
	static const char bad[] = "name,id,psk,primary,backups,enabled\n"
				  "x3,x3.example.com,x3-key-0123456789,fra1,ams1,ja\n";
	struct site_db db = db_with_pops();
	struct csv_report rep;

	ck_assert_msg(site_csv_import(&db, text, sizeof(text) - 1, NULL, 0, false, &rep) == 0,
		      "line %u: %s", rep.errors[0].line, rep.errors[0].msg);
	ck_assert_uint_eq(db.n_sites, 2);
	ck_assert(!site_db_find(&db, "x1")->enabled && site_db_find(&db, "x1")->vendor_rules);
	ck_assert(site_db_find(&db, "x2")->enabled && !site_db_find(&db, "x2")->vendor_rules);
	ck_assert(site_db_find(&db, "x1")->psk_short && !site_db_find(&db, "x2")->psk_short);
	ck_assert_int_eq(site_csv_import(&db, bad, sizeof(bad) - 1, NULL, 0, false, &rep), -EINVAL);
	ck_assert_uint_eq(rep.errors[0].line, 2);
	ck_assert_str_eq(rep.errors[0].msg,
			 "enabled 'ja': yes or no (true/false, on/off, 1/0; any case)");
	site_db_clear(&db);
}
END_TEST

/* A file from a locale whose list separator is ';' (or a tab): the message says so. */
START_TEST(test_csv_wrong_separator_named)
{
	static const char semi[] = "name;id;psk;primary;backups\n"
				   "x1;x1.example.com;k1;fra1;\"ams1,lon1\"\n";
	static const char tab[] = "Name\tid\tpsk\n";
	struct site_db db = db_with_pops();
	struct csv_report rep;

	ck_assert_int_eq(site_csv_import(&db, semi, sizeof(semi) - 1, NULL, 0, false, &rep),
			 -EINVAL);
	ck_assert_uint_eq(rep.n_errors, 1);
	ck_assert_uint_eq(rep.errors[0].line, 1);
	ck_assert_str_eq(rep.errors[0].msg, "the header is separated by ';', not ','; save the "
			 "file as CSV with commas (Excel: CSV UTF-8 (Comma delimited))");
	ck_assert_int_eq(site_csv_import(&db, tab, sizeof(tab) - 1, NULL, 0, false, &rep), -EINVAL);
	ck_assert_ptr_nonnull(strstr(rep.errors[0].msg, "separated by tabs, not ','"));
	ck_assert_uint_eq(db.n_sites, 0);
	site_db_clear(&db);
}
END_TEST

/* Excel's default code page: the first line that is not UTF-8 is named, not line 1. */
START_TEST(test_csv_not_utf8_names_the_first_bad_line)
{
	static const char text[] = "name,id,psk,primary,backups\n"
				   "x1,x1.example.com,x1-key-0123456789,fra1,ams1\n"
				   "x2,x2.example.com,\"two\nlines-0123456789\",fra1,ams1\n"
				   "x3,caf\xe9.example.com,k3,fra1,ams1\n"
				   "x4,caf\xe9.example.com,k4,fra1,ams1\n";
	struct site_db db = db_with_pops();
	struct csv_report rep;
	struct collected c = { 0 };
	unsigned line;
	const char *why;

	ck_assert_int_eq(csv_read(text, sizeof(text) - 1, collect, &c, &line, &why), -EBADMSG);
	ck_assert_uint_eq(line, 5);
	ck_assert_int_eq(site_csv_import(&db, text, sizeof(text) - 1, NULL, 0, false, &rep),
			 -EINVAL);
	ck_assert_uint_eq(rep.n_errors, 1);
	ck_assert_uint_eq(rep.errors[0].line, 5);
	ck_assert_ptr_nonnull(strstr(rep.errors[0].msg, "not UTF-8"));
	ck_assert_ptr_nonnull(strstr(rep.errors[0].msg, "CSV UTF-8"));
	ck_assert_uint_eq(db.n_sites, 0);
	site_db_clear(&db);
}
END_TEST

/* A value too long for the message: the value is shortened, the reason kept. */
START_TEST(test_csv_long_value_keeps_its_reason)
{
	char label[64], fqdn[300], text[1024];
	struct site_db db = db_with_pops();
	struct csv_report rep;

	memset(label, 'a', 63);
	label[63] = '\0';
	/* 254 characters: one past the 253 an FQDN may have. */
	snprintf(fqdn, sizeof(fqdn), "%s.%s.%s.%.60s.x", label, label, label, label);
	ck_assert_uint_eq(strlen(fqdn), 254);
	snprintf(text, sizeof(text), "name,id,psk,primary,backups\nx1,%s,k,fra1,ams1\n", fqdn);
	ck_assert_int_eq(site_csv_import(&db, text, strlen(text), NULL, 0, false, &rep), -EINVAL);
	ck_assert_uint_eq(rep.errors[0].line, 2);
	ck_assert_msg(strstr(rep.errors[0].msg, "...' (254 bytes): not a valid fqdn identity"), "%s",
		      rep.errors[0].msg);
	ck_assert_msg(strstr(rep.errors[0].msg, "(254 bytes)"), "%s", rep.errors[0].msg);
	ck_assert_msg(!strncmp(rep.errors[0].msg, "id 'aaaa", 8), "%s", rep.errors[0].msg);
	site_db_clear(&db);
}
END_TEST

/* The secrets file: every bad row with the file's name; a name not in the CSV is an error. */
START_TEST(test_csv_secrets_every_bad_row_named)
{
	static const char sites[] = "name,id,primary,backups\n"
				    "s1,s1.example.com,fra1,ams1\n"
				    "s2,s2.example.com,fra1,ams1\n";
	static const char secrets[] = "Name,PSK\n"
				      "s1,s1-key-0123456789\n"
				      "s2,\n"			/* line 3: no key */
				      "s9,s9-key-0123456789\n"	/* line 4: no such site in the CSV */
				      "s1,s1-again-0123456789\n"	/* line 5: s1 twice */
				      "s2,s2-key-0123456789,extra\n";	/* line 6: a field too many */
	static const char both[] = "name,id,psk,primary,backups\n"
				   "s1,s1.example.com,inline,fra1,ams1\n";
	struct site_db db = db_with_pops();
	struct site_csv_import *im;
	struct csv_report rep;
	int rc;

	ck_assert_int_eq(site_csv_import_begin(&im, &db, "sites.csv", "keys.csv", &rep), 0);
	ck_assert_int_eq(site_csv_import_feed(im, SITE_CSV_SECRETS, secrets, sizeof(secrets) - 1),
			 0);
	ck_assert_int_eq(site_csv_import_feed(im, SITE_CSV_SITES, sites, sizeof(sites) - 1), 0);
	ck_assert_int_eq(site_csv_import_end(im), -EINVAL);
	site_csv_import_free(im);
	/* In the order of the lines; s2's row in the CSV lacks the key its refused row in the
	 * secrets file would have given, and is not reported a second time for it. */
	ck_assert_uint_eq(rep.n_errors, 4);
	for (int i = 0; i < 4; i++)
		ck_assert_uint_eq(rep.errors[i].file, SITE_CSV_SECRETS);
	ck_assert_uint_eq(rep.errors[0].line, 3);
	ck_assert_str_eq(rep.errors[0].msg, "site 's2' psk: missing");
	ck_assert_uint_eq(rep.errors[1].line, 4);
	ck_assert_str_eq(rep.errors[1].msg, "site 's9': not in sites.csv");
	ck_assert_uint_eq(rep.errors[2].line, 5);
	ck_assert_str_eq(rep.errors[2].msg, "site 's1' named twice (also on line 2)");
	ck_assert_uint_eq(rep.errors[3].line, 6);
	ck_assert_str_eq(rep.errors[3].msg, "3 fields, the header has 2");
	ck_assert_uint_eq(db.n_sites, 0);

	/* A key in the CSV and in the secrets file: which one was meant? */
	rc = site_csv_import(&db, both, sizeof(both) - 1, "s1,psk\n", 7, false, &rep);
	ck_assert_int_eq(rc, -EINVAL);	/* no header: its first row taken for one */
	ck_assert_str_eq(rep.errors[0].msg, "column 's1': a secrets file has the columns name "
			 "and psk");
	ck_assert_int_eq(site_csv_import(&db, both, sizeof(both) - 1, "name,psk\ns1,k\n", 14, false,
					 &rep), -EINVAL);
	ck_assert_uint_eq(rep.errors[0].file, SITE_CSV_SITES);
	ck_assert_str_eq(rep.errors[0].msg, "site 's1': a key in the psk column and in the "
			 "secrets file (line 2)");
	site_db_clear(&db);
}
END_TEST

/* Streaming: any split of the input into chunks reads the same records and reports the same. */
START_TEST(test_csv_import_in_chunks_of_any_size)
{
	static const char text[] =
		"\xef\xbb\xbfname,id,psk,primary,backups,traffic\r\n"
		"\"b1\",b1.example.com,\"k,\"\"1\"\"\n2-0123456789\",fra1,\"ams1,lon1\",User\r\n"
		"\r\n"
		"b2,203.0.113.2,b2-key-0123456789,ams1,fra1,\"Guest Wifi\"\r\n"
		"b3,b3.example.com,b3-key-0123456789,ams1,fra1,Bulk\r\n"
		"b4,b4.example.com,b4-key-0123456789,ams1,fra1,IoT";
	struct site_db whole = db_with_pops();
	struct csv_report rep_whole, rep;

	ck_assert_int_eq(site_csv_import(&whole, text, sizeof(text) - 1, NULL, 0, false,
					 &rep_whole), -EINVAL);
	ck_assert_uint_eq(rep_whole.n_errors, 1);
	ck_assert_uint_eq(rep_whole.errors[0].line, 6);
	ck_assert_uint_eq(rep_whole.n_rows, 4);
	for (size_t chunk = 1; chunk <= sizeof(text); chunk++) {
		struct site_db db = db_with_pops();
		struct site_csv_import *im;

		ck_assert_int_eq(site_csv_import_begin(&im, &db, NULL, NULL, &rep), 0);
		for (size_t off = 0; off < sizeof(text) - 1; off += chunk) {
			size_t n = sizeof(text) - 1 - off < chunk ? sizeof(text) - 1 - off : chunk;

			ck_assert_int_eq(site_csv_import_feed(im, SITE_CSV_SITES, text + off, n), 0);
		}
		ck_assert_int_eq(site_csv_import_end(im), -EINVAL);
		site_csv_import_free(im);
		ck_assert_uint_eq(rep.n_rows, 4);
		ck_assert_uint_eq(rep.n_errors, 1);
		ck_assert_uint_eq(rep.errors[0].line, 6);
		ck_assert_str_eq(rep.errors[0].msg, rep_whole.errors[0].msg);
		site_db_clear(&db);
	}
	site_db_clear(&whole);
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
	tcase_add_test(tc, test_csv_excel_bom_header_case_and_booleans);
	tcase_add_test(tc, test_csv_wrong_separator_named);
	tcase_add_test(tc, test_csv_not_utf8_names_the_first_bad_line);
	tcase_add_test(tc, test_csv_long_value_keeps_its_reason);
	tcase_add_test(tc, test_csv_secrets_every_bad_row_named);
	tcase_add_test(tc, test_csv_import_in_chunks_of_any_size);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
