/*
 * The sites database at gateway scale: import 10,000 sites from CSV, list with a filter,
 * export, save and load the store. Prints each time beside the goals (import <= 0.2 s,
 * list <= 0.05 s on these machines).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "site/csv.h"
#include "site/store.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void)
{
	const int n = 10000;
	struct site_db db = { 0 }, loaded;
	struct csv_report rep;
	struct site_filter f = { .name = "99", .traffic = SITE_TRAFFIC_IOT, .enabled = -1, .page = 1 };
	const char *pops[] = { "fra1", "ams1", "lon1" };
	char err[SITE_ERR_MAX], dir[] = "/tmp/bench-sites-XXXXXX", path[64], *csv, *out = NULL;
	size_t cap = 200 + (size_t)n * 120, len = 0, out_len, *idx, count, total;
	double t0, t_import, t_list, t_export, t_save, t_load;

	for (int i = 0; i < 3; i++) {
		struct pop p;
		char gw[32];

		snprintf(gw, sizeof(gw), "198.51.100.%d", i + 1);	/* one POP per gateway */
		pop_init(&p);
		pop_set(&p, "name", pops[i], err, sizeof(err));
		pop_set(&p, "gateway", gw, err, sizeof(err));
		site_db_add_pop(&db, &p, err, sizeof(err));
	}
	csv = malloc(cap);
	len += (size_t)snprintf(csv + len, cap - len, "name,id,psk,primary,backups,traffic\n");
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(csv + len, cap - len,
					"branch-%05d,b%d.example.com,key-of-branch-%05d,%s,%s,%s\n", i, i, i,
					pops[i % 3], pops[(i + 1) % 3], i % 2 ? "IoT" : "User");
	t0 = now_s();
	if (site_csv_import(&db, csv, len, NULL, 0, false, &rep) < 0)
		return fprintf(stderr, "import failed: line %u %s\n", rep.errors[0].line,
			       rep.errors[0].msg), 1;
	t_import = now_s() - t0;
	t0 = now_s();
	site_db_select(&db, &f, &idx, &count, &total);
	t_list = now_s() - t0;
	free(idx);
	t0 = now_s();
	site_csv_export(&db, false, &out, &out_len);
	t_export = now_s() - t0;
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/sites.conf", dir);
	t0 = now_s();
	if (site_store_save(path, &db, err, sizeof(err)) < 0)
		return fprintf(stderr, "%s\n", err), 1;
	t_save = now_s() - t0;
	t0 = now_s();
	if (site_store_load(path, &loaded, err, sizeof(err)) < 0)
		return fprintf(stderr, "%s\n", err), 1;
	t_load = now_s() - t0;
	printf("sites %d, CSV %zu bytes\n", n, len);
	printf("import   %7.3f s   (goal <= 0.2 s)\n", t_import);
	printf("list     %7.4f s   (goal <= 0.05 s; filter name~99 traffic=IoT: %zu of %zu)\n", t_list,
	       count, total);
	printf("export   %7.3f s   (%zu bytes)\n", t_export, out_len);
	printf("save     %7.3f s   (atomic: temp file, fsync, rename, fsync dir)\n", t_save);
	printf("load     %7.3f s   (%zu sites, every record validated)\n", t_load, loaded.n_sites);
	unlink(path);
	rmdir(dir);
	free(out);
	free(csv);
	site_db_clear(&loaded);
	site_db_clear(&db);
	return 0;
}
