/*
 * libFuzzer: untrusted CSV through the RFC 4180 reader and the site import (against a
 * database with POPs). An import either succeeds or changes nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "site/csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pop pops[2];
	struct site_db db = { .pops = pops, .n_pops = 2 };
	struct csv_report rep;
	char err[SITE_ERR_MAX];
	char *text = malloc(size ? size : 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	pop_init(&pops[0]);
	pop_init(&pops[1]);
	pop_set(&pops[0], "name", "fra1", err, sizeof(err));
	pop_set(&pops[0], "gateway", "198.51.100.1", err, sizeof(err));
	pop_set(&pops[1], "name", "ams1", err, sizeof(err));
	pop_set(&pops[1], "gateway", "198.51.100.2", err, sizeof(err));
	if (site_csv_import(&db, text, size, NULL, 0, false, &rep) < 0 && db.n_sites != 0)
		abort();	/* a refused import left something behind */
	for (size_t i = 0; i < db.n_sites; i++)
		site_clear(&db.sites[i]);
	free(db.sites);
	free(text);
	return 0;
}
