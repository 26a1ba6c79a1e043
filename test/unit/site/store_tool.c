/*
 * For store_steps.sh: `store_tool write PATH N TAG` saves a store of N sites whose PSKs end in
 * TAG; `store_tool check PATH` loads it and prints "N TAG" when every site's PSK carries the
 * same TAG (one generation, whole), or fails saying what is wrong.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "site/store.h"

static char err[512];

static int build(struct site_db *db, size_t n, const char *tag)
{
	memset(db, 0, sizeof(*db));
	db->pops = calloc(2, sizeof(*db->pops));
	db->sites = calloc(n, sizeof(*db->sites));
	if (!db->pops || !db->sites)
		return -1;
	db->n_pops = 2;
	for (int i = 0; i < 2; i++) {
		pop_init(&db->pops[i]);
		if (pop_set(&db->pops[i], "name", i ? "ams1" : "fra1", err, sizeof(err)) < 0 ||
		    pop_set(&db->pops[i], "gateway", "198.51.100.9", err, sizeof(err)) < 0)
			return -1;
	}
	db->n_sites = n;
	for (size_t i = 0; i < n; i++) {
		struct site *s = &db->sites[i];
		char name[32], psk[64];

		site_init(s);
		snprintf(name, sizeof(name), "site-%zu", i);
		snprintf(psk, sizeof(psk), "psk-%zu-%s", i, tag);
		if (site_set(s, "name", name, err, sizeof(err)) < 0 ||
		    site_set(s, "id", "203.0.113.4", err, sizeof(err)) < 0 ||
		    site_set(s, "primary", "fra1", err, sizeof(err)) < 0 ||
		    site_set(s, "backups", "ams1", err, sizeof(err)) < 0 ||
		    secret_set(&s->psk, psk, strlen(psk)) < 0)
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct site_db db;

	if (argc == 5 && !strcmp(argv[1], "write")) {
		if (build(&db, strtoul(argv[3], NULL, 10), argv[4]) < 0 ||
		    site_store_save(argv[2], &db, err, sizeof(err)) < 0) {
			fprintf(stderr, "store_tool: %s\n", err);
			return 1;
		}
		site_db_clear(&db);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "check")) {
		const char *tag = NULL;
		size_t tag_len = 0;

		if (site_store_load(argv[2], &db, err, sizeof(err)) < 0) {
			fprintf(stderr, "store_tool: %s\n", err);
			return 1;
		}
		for (size_t i = 0; i < db.n_sites; i++) {
			const char *p = (const char *)db.sites[i].psk.p;
			size_t len = db.sites[i].psk.len;
			const char *dash = memrchr(p, '-', len);
			size_t n = dash ? len - (size_t)(dash + 1 - p) : 0;

			if (!dash || (tag && (n != tag_len || memcmp(tag, dash + 1, n)))) {
				fprintf(stderr, "store_tool: site %zu of another generation\n", i);
				return 1;
			}
			tag = dash + 1;
			tag_len = n;
		}
		printf("%zu %.*s\n", db.n_sites, (int)tag_len, tag ? tag : "");
		site_db_clear(&db);
		return 0;
	}
	fprintf(stderr, "usage: store_tool write PATH N TAG | check PATH\n");
	return 2;
}
