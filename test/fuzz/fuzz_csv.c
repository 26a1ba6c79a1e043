/*
 * libFuzzer: untrusted CSV through the RFC 4180 reader and the site import (against a
 * database with POPs). An import either succeeds or changes nothing; and the same input
 * fed in chunks (of a size the input's first byte picks, as a chunked `site import`
 * delivers it) is read the same: the same verdict, rows and errors.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "site/csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pop pops[2];
	static struct csv_report rep, rep2;
	struct site_db db = { .pops = pops, .n_pops = 2 };
	struct site_csv_import *im;
	char err[SITE_ERR_MAX];
	char *text = malloc(size ? size : 1);
	size_t chunk = size ? 1 + data[0] % 97 : 1;
	int rc, rc2;

	if (!text)
		return 0;
	memcpy(text, data, size);
	pop_init(&pops[0]);
	pop_init(&pops[1]);
	pop_set(&pops[0], "name", "fra1", err, sizeof(err));
	pop_set(&pops[0], "gateway", "198.51.100.1", err, sizeof(err));
	pop_set(&pops[1], "name", "ams1", err, sizeof(err));
	pop_set(&pops[1], "gateway", "198.51.100.2", err, sizeof(err));
	rc = site_csv_import(&db, text, size, NULL, 0, true, &rep);
	if (site_csv_import_begin(&im, &db, NULL, NULL, &rep2) == 0) {
		rc2 = 0;
		for (size_t off = 0; rc2 == 0 && off < size; off += chunk)
			rc2 = site_csv_import_feed(im, SITE_CSV_SITES, text + off,
						   size - off < chunk ? size - off : chunk);
		rc2 = rc2 ?: site_csv_import_end(im);
		site_csv_import_free(im);
		if (rc2 != rc || rep2.n_rows != rep.n_rows || rep2.n_errors != rep.n_errors ||
		    (rep.n_errors && (rep2.errors[0].line != rep.errors[0].line ||
				      strcmp(rep2.errors[0].msg, rep.errors[0].msg))))
			abort();	/* chunks read differently from the whole */
	}
	if (site_csv_import(&db, text, size, NULL, 0, false, &rep) < 0 && db.n_sites != 0)
		abort();	/* a refused import left something behind */
	for (size_t i = 0; i < db.n_sites; i++)
		site_clear(&db.sites[i]);
	free(db.sites);
	free(text);
	return 0;
}
