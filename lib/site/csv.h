/*
 * Sites as CSV (RFC 4180), the seeds' bulk import: a header row names the columns (the site
 * fields: name, id, psk, primary, backups, traffic, ...), in any order. The whole file is read
 * and every row validated before anything changes; any bad row and nothing is imported, every
 * bad row reported with its line and reason.
 */
#ifndef IKD_SITE_CSV_H
#define IKD_SITE_CSV_H

#include "site/site.h"

#define CSV_MAX_FIELD	(64 * 1024)
#define CSV_MAX_ROWS	100000
#define CSV_MAX_COLUMNS	32
#define CSV_MAX_ERRORS	50

/* One record: its fields (NUL-terminated copies) and the line it starts on. */
typedef int (*csv_record_fn)(void *arg, unsigned line, char **fields, size_t n);

/*
 * The RFC 4180 reader: quoted fields with "" for a quote, commas and line breaks inside
 * quotes, CRLF or LF. Input must be UTF-8. -EBADMSG with *ret_line and a reason for
 * malformed input, -EMSGSIZE past the caps; fn's negative return stops the reading.
 */
int csv_read(const char *text, size_t len, csv_record_fn fn, void *arg, unsigned *ret_line,
	     const char **ret_reason);

struct csv_report {
	size_t n_rows;			/* data rows read */
	size_t n_errors;		/* rows refused (all counted, the first CSV_MAX_ERRORS kept) */
	struct {
		unsigned line;
		char msg[SITE_ERR_MAX];
	} errors[CSV_MAX_ERRORS];
};

/*
 * Import into db: new sites are added, a row naming an existing site replaces it. dry_run
 * validates only. Returns 0 (db changed unless dry_run), or -EINVAL with rep listing the bad
 * rows and db untouched. PSKs come from a "psk" column or, when secrets is not NULL, from it
 * (name -> psk, as a second CSV with columns name,psk).
 */
int site_csv_import(struct site_db *db, const char *text, size_t len, const char *secrets,
		    size_t secrets_len, bool dry_run, struct csv_report *rep);

/* The same format out (malloc'd, NUL-terminated); PSKs only when with_psk. */
int site_csv_export(const struct site_db *db, bool with_psk, char **ret, size_t *ret_len);

#endif
