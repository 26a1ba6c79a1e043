/*
 * lib/site/store.c: round trip of every field, refusal of a store others can read, parse
 * errors with the line, a newer version refused, and the atomic write under kill -9 at
 * random moments: the store on disk is always the old one or the new one.
 */
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "testutil.h"
#include "site/store.h"

static char dir[64], path[128], err[SITE_ERR_MAX];

static void make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/ikd-store-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sites.conf", dir);
}

static void remove_dir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* n sites over three POPs; site i's PSK is "psk-<i>-<tag>". */
static void build_db(struct site_db *db, size_t n, const char *tag)
{
	const char *names[] = { "fra1", "ams1", "lon1" };

	memset(db, 0, sizeof(*db));
	db->pops = calloc(3, sizeof(*db->pops));
	db->n_pops = 3;
	for (int i = 0; i < 3; i++) {
		pop_init(&db->pops[i]);
		ck_assert_int_eq(pop_set(&db->pops[i], "name", names[i], err, sizeof(err)), 0);
		ck_assert_int_eq(pop_set(&db->pops[i], "gateway", "198.51.100.9", err, sizeof(err)), 0);
		ck_assert_int_eq(pop_set(&db->pops[i], "location", "Frankfurt = DE", err, sizeof(err)),
				 0);
	}
	db->pops[2].accepting = false;
	db->sites = calloc(n, sizeof(*db->sites));
	db->n_sites = n;
	for (size_t i = 0; i < n; i++) {
		struct site *s = &db->sites[i];
		char name[32], psk[64];

		site_init(s);
		snprintf(name, sizeof(name), "site-%zu", i);
		snprintf(psk, sizeof(psk), "psk-%zu-%s", i, tag);
		ck_assert_int_eq(site_set(s, "name", name, err, sizeof(err)), 0);
		ck_assert_int_eq(site_set(s, "id", i % 2 ? "ops@b.example" : "203.0.113.4", err,
					  sizeof(err)), 0);
		ck_assert_int_eq(site_set_psk(s, (const uint8_t *)psk, strlen(psk), err, sizeof(err)), 0);
		ck_assert_int_eq(site_set(s, "primary", "fra1", err, sizeof(err)), 0);
		ck_assert_int_eq(site_set(s, "backups", "ams1,lon1", err, sizeof(err)), 0);
	}
}

START_TEST(test_store_round_trip_every_field)
{
	struct site_db db, back;
	struct site *s;
	struct stat st;

	make_dir();
	build_db(&db, 2, "a");
	s = &db.sites[1];
	ck_assert_int_eq(site_set(s, "source-ip", "2001:db8::5", err, sizeof(err)), 0);
	ck_assert_int_eq(site_set(s, "traffic", "IoT", err, sizeof(err)), 0);
	ck_assert_int_eq(site_set(s, "enabled", "no", err, sizeof(err)), 0);
	ck_assert_int_eq(site_set(s, "local-ts", "10.1.0.0/24,10.9.0.0/16", err, sizeof(err)), 0);
	ck_assert_int_eq(site_set(s, "mark", "0x2a/0xff", err, sizeof(err)), 0);
	ck_assert_int_eq(site_set(s, "if-id", "7", err, sizeof(err)), 0);
	ck_assert_int_eq(site_set(s, "esp-proposals", "aes128gcm16-modp3072", err, sizeof(err)), 0);
	ck_assert_int_eq(site_set(s, "child-rekey", "5400", err, sizeof(err)), 0);
	ck_assert_int_eq(site_store_save(path, &db, err, sizeof(err)), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	ck_assert_msg(site_store_load(path, &back, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(back.n_pops, 3);
	ck_assert_uint_eq(back.n_sites, 2);
	ck_assert(!back.pops[2].accepting);
	ck_assert_str_eq(back.pops[0].location, "Frankfurt = DE");
	s = &back.sites[1];
	ck_assert_int_eq(s->id_type, SITE_ID_EMAIL);
	ck_assert_str_eq(s->source_ip, "2001:db8::5");
	ck_assert_int_eq(s->traffic, SITE_TRAFFIC_IOT);
	ck_assert(!s->enabled);
	ck_assert_uint_eq(s->n_local_ts, 2);
	ck_assert_str_eq(s->local_ts[1], "10.9.0.0/16");
	ck_assert_uint_eq(s->mark, 0x2a);
	ck_assert_uint_eq(s->mark_mask, 0xff);
	ck_assert_uint_eq(s->if_id, 7);
	ck_assert_str_eq(s->esp_proposals, "aes128gcm16-modp3072");
	ck_assert_uint_eq(s->child_rekey_s, 5400);
	ck_assert_uint_eq(s->n_backups, 2);
	ck_assert_uint_eq(s->psk.len, 7);
	ck_assert_mem_eq(s->psk.p, "psk-1-a", 7);
	ck_assert_int_eq(back.sites[0].id_type, SITE_ID_IPV4);
	site_db_clear(&db);
	site_db_clear(&back);
	remove_dir();
}
END_TEST

/* Write text as the store (0600 unless mode says otherwise) and load it. */
static int load_text(const char *text, mode_t mode, struct site_db *db)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	ck_assert_int_eq(chmod(path, mode), 0);
	return site_store_load(path, db, err, sizeof(err));
}

START_TEST(test_store_refuses_bad_files_with_line_and_reason)
{
	static const char head[] = "version = 1\n[pop fra1]\ngateway = 198.51.100.1\n"
				   "[pop ams1]\ngateway = 198.51.100.2\n";
	char text[1024];
	struct site_db db;

	make_dir();
	ck_assert_int_eq(load_text(head, 0644, &db), -EACCES);
	ck_assert_ptr_nonnull(strstr(err, "mode 0644"));
	ck_assert_int_eq(load_text(head, 0600, &db), 0);
	site_db_clear(&db);
	ck_assert_int_eq(load_text("version = 2\n", 0600, &db), -EPROTONOSUPPORT);
	ck_assert_ptr_nonnull(strstr(err, ":1: version 2: written by a newer ikd"));
	ck_assert_int_lt(load_text("[pop x]\n", 0600, &db), 0);
	ck_assert_ptr_nonnull(strstr(err, ":1: 'version' must come first"));
	snprintf(text, sizeof(text), "%s[site b]\nid = b.example\ncolour = blue\n", head);
	ck_assert_int_lt(load_text(text, 0600, &db), 0);
	ck_assert_ptr_nonnull(strstr(err, ":8: colour: no such site field"));
	snprintf(text, sizeof(text), "%s[pop fra1]\n", head);
	ck_assert_int_eq(load_text(text, 0600, &db), -EEXIST);
	ck_assert_ptr_nonnull(strstr(err, ":6: pop 'fra1' twice"));
	snprintf(text, sizeof(text), "%s[site b]\nid = b.example\npsk = hex:6b\nprimary = fra1\n"
		 "backups = nyc1\n", head);
	ck_assert_int_eq(load_text(text, 0600, &db), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "backups 'nyc1': no such POP"));
	snprintf(text, sizeof(text), "%s[site b]\npsk = hex:zz\n", head);
	ck_assert_int_lt(load_text(text, 0600, &db), 0);
	ck_assert_ptr_nonnull(strstr(err, ":7: psk: not hex"));
	ck_assert_ptr_null(strstr(err, "zz"));
	ck_assert_int_lt(load_text("version = 1\njust words\n", 0600, &db), 0);
	ck_assert_ptr_nonnull(strstr(err, ":2: expected 'key = value'"));
	ck_assert_uint_eq(db.n_sites, 0);	/* nothing half-loaded */
	remove_dir();
}
END_TEST

/*
 * A store an earlier ikd wrote, with what this one refuses on a change (a 1-byte key, an
 * unspecified source-ip, a selector with host bits, one identity twice, a POP-less site):
 * it loads as it was, so an upgrade never stops ikd; the next change must pass the rules.
 */
START_TEST(test_store_from_an_earlier_ikd_loads_as_it_was)
{
	static const char old[] =
		"version = 1\n[pop fra1]\ngateway = 198.51.100.1\n[pop ams1]\ngateway = 198.51.100.1\n"
		"[site a]\nid = fqdn:a.example.com\npsk = hex:6b\nprimary = fra1\nbackups = ams1\n"
		"source-ip = 0.0.0.0\nlocal-ts = 10.1.1.5/24\n"
		"[site b]\nid = fqdn:A.example.com\npsk = hex:6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b\n"
		"primary =\nbackups =\n";
	struct site_db db, back;

	make_dir();
	ck_assert_msg(load_text(old, 0600, &db) == 0, "%s", err);
	ck_assert_uint_eq(db.n_sites, 2);
	ck_assert(!db.sites[0].psk_short);
	ck_assert_int_eq(site_validate(&db.sites[0], &db, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "site 'a' psk: 1 byte, fewer than 16"));
	/* psk-short is written when set, and read back. */
	db.sites[0].psk_short = true;
	ck_assert_int_eq(site_store_save(path, &db, err, sizeof(err)), 0);
	ck_assert_msg(site_store_load(path, &back, err, sizeof(err)) == 0, "%s", err);
	ck_assert(back.sites[0].psk_short);
	ck_assert(!back.sites[1].psk_short);
	site_db_clear(&back);
	site_db_clear(&db);
	remove_dir();
}
END_TEST

START_TEST(test_store_write_is_atomic_under_kill_9)
{
	struct site_db old_db, new_db, got;
	unsigned olds = 0, news = 0;

	make_dir();
	build_db(&old_db, 400, "old");
	build_db(&new_db, 500, "new");
	ck_assert_int_eq(site_store_save(path, &old_db, err, sizeof(err)), 0);
	for (int i = 0; i < 40; i++) {
		pid_t pid = fork();
		int status;

		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			/*
			 * Nothing of the test framework's (its message file is inherited) may be
			 * touched by a process that dies anywhere: only the store's own files.
			 */
			for (int fd = 3; fd < 1024; fd++)
				close(fd);
			for (;;)
				site_store_save(path, i % 2 ? &new_db : &old_db, NULL, 0);
		}
		/* Kill it somewhere in the middle of a write. */
		usleep(500 + (unsigned)randombytes_uniform(5000));
		kill(pid, SIGKILL);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(site_store_load(path, &got, err, sizeof(err)) == 0, "%s", err);
		ck_assert(got.n_sites == 400 || got.n_sites == 500);
		/* Whole: every PSK belongs to the same generation as the count says. */
		ck_assert_mem_eq(got.sites[got.n_sites - 1].psk.p, got.n_sites == 400 ?
				 "psk-399-old" : "psk-499-new", 11);
		if (got.n_sites == 400)
			olds++;
		else
			news++;
		site_db_clear(&got);
	}
	printf("store under kill -9: 40 kills, old store %u times, new %u times, never a mix\n",
	       olds, news);
	site_db_clear(&old_db);
	site_db_clear(&new_db);
	remove_dir();
}
END_TEST

/* The store's directory, as ikd checks it at start-up and with -t. */
START_TEST(test_store_dir_checked_missing_or_open_to_others)
{
	char sub[160], file[512], e[512];

	make_dir();
	ck_assert_msg(site_store_check_dir(path, e, sizeof(e)) == 0, "%s", e);
	snprintf(sub, sizeof(sub), "%s/missing/sites.conf", dir);
	ck_assert_int_eq(site_store_check_dir(sub, e, sizeof(e)), -ENOENT);
	snprintf(file, sizeof(file), "store directory %s/missing: no such directory (ikd "
		 "saves every change there); create it: install -d -m 700 %s/missing", dir, dir);
	ck_assert_str_eq(e, file);
	snprintf(file, sizeof(file), "%s/plain", dir);
	fclose(fopen(file, "w"));
	snprintf(sub, sizeof(sub), "%s/plain/sites.conf", dir);
	ck_assert_int_eq(site_store_check_dir(sub, e, sizeof(e)), -ENOTDIR);
	ck_assert_ptr_nonnull(strstr(e, "/plain: not a directory"));
	ck_assert_int_eq(chmod(dir, 0750), 0);
	ck_assert_int_eq(site_store_check_dir(path, e, sizeof(e)), -EACCES);
	snprintf(file, sizeof(file), "store directory %s: mode 0750 lets its group in (the store "
		 "holds the sites' keys); chmod 700 %s", dir, dir);
	ck_assert_str_eq(e, file);
	ck_assert_int_eq(chmod(dir, 0701), 0);
	ck_assert_int_eq(site_store_check_dir(path, e, sizeof(e)), -EACCES);
	ck_assert_ptr_nonnull(strstr(e, "mode 0701 lets others in"));
	ck_assert_int_eq(chmod(dir, 0700), 0);
	remove_dir();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("site_store");
	TCase *tc = tcase_create("store");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_store_round_trip_every_field);
	tcase_add_test(tc, test_store_refuses_bad_files_with_line_and_reason);
	tcase_add_test(tc, test_store_write_is_atomic_under_kill_9);
	tcase_add_test(tc, test_store_from_an_earlier_ikd_loads_as_it_was);
	tcase_add_test(tc, test_store_dir_checked_missing_or_open_to_others);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
