/*
 * Sites as CSV (RFC 4180), the seeds' bulk import: a header row names the columns (the site
 * fields: name, id, psk, primary, backups, traffic, ...), in any order and any case. Every
 * row is validated before anything changes; any bad row and nothing is imported, every bad
 * row reported with its line and reason (the first CSV_MAX_ERRORS kept, all counted).
 *
 * The reader and the import take their input in chunks of any size, so that a file of
 * 100,000 sites passes through in pieces: no copy of the whole file is kept, only the
 * record that a chunk ends inside of. What Excel writes is read: a UTF-8 BOM is skipped,
 * header names match in any case, booleans read TRUE/FALSE; a file separated by ';' or tabs
 * and one that is not UTF-8 are refused with a message that says so and names the line.
 */
#ifndef IKD_SITE_CSV_H
#define IKD_SITE_CSV_H

#include <sys/types.h>

#include "site/site.h"

#define CSV_MAX_FIELD	(64 * 1024)
#define CSV_MAX_ROWS	100000
#define CSV_MAX_COLUMNS	32
#define CSV_MAX_ERRORS	50
/* The longest record: every column at its longest, quoted. */
#define CSV_MAX_RECORD	((size_t)CSV_MAX_COLUMNS * (2 * CSV_MAX_FIELD + 3))

/* One record: its fields (NUL-terminated copies) and the line it starts on. */
typedef int (*csv_record_fn)(void *arg, unsigned line, char **fields, size_t n);

/*
 * The RFC 4180 reader: quoted fields with "" for a quote, commas and line breaks inside
 * quotes, CRLF or LF, a UTF-8 BOM at the start skipped. Input must be UTF-8. fn is called
 * for each record as soon as it is complete. The first error stops the reading: -EBADMSG
 * for malformed input, -EMSGSIZE past the caps, fn's negative return; err_line and reason
 * say where and why (a static string), and later input is ignored.
 */
struct csv_reader {
	csv_record_fn fn;
	void *arg;
	char *buf;		/* the part of a record that a chunk ended inside of */
	size_t len, cap;
	size_t scan;		/* bytes of buf scanned for the record's end */
	bool in_quotes, field_start, after_quote;	/* the scan's state there */
	bool bom_checked;
	unsigned line;		/* the line the pending record starts on */
	size_t rows;
	char *fields;		/* one record's fields, NUL-terminated */
	size_t fields_cap;
	int rc;
	unsigned err_line;
	const char *reason;
};

void csv_reader_init(struct csv_reader *r, csv_record_fn fn, void *arg);
int csv_reader_feed(struct csv_reader *r, const char *p, size_t len);
/* The end of the input: the last record (without a line break) is read. */
int csv_reader_end(struct csv_reader *r);
/* Wipes what it buffered (a record may hold a PSK). */
void csv_reader_clear(struct csv_reader *r);

/* The whole text at once: -EBADMSG/-EMSGSIZE with *ret_line and a reason. */
int csv_read(const char *text, size_t len, csv_record_fn fn, void *arg, unsigned *ret_line,
	     const char **ret_reason);

/* The two files of an import. */
enum site_csv_file {
	SITE_CSV_SITES,
	SITE_CSV_SECRETS,	/* name,psk: the keys kept apart from the sites */
};

struct csv_report {
	size_t n_rows;			/* data rows read from the sites CSV */
	size_t n_errors;		/* rows refused (all counted, the first CSV_MAX_ERRORS kept) */
	struct {
		enum site_csv_file file;
		unsigned line;
		char msg[SITE_ERR_MAX];
	} errors[CSV_MAX_ERRORS];
};

/*
 * An import in pieces. begin copies db's sites (db itself is only read); feed the secrets
 * file, if any, then the sites CSV, in chunks of any size; end checks what only the whole
 * input shows (a secret for a site the CSV does not name, the last record) and returns 0 or
 * -EINVAL with rep listing the bad rows (-ENOMEM, -EMSGSIZE past the caps). Only then may
 * result be taken (the new sites, db's POPs) or commit put it into db. csv_name and
 * secrets_name (may be NULL) name the files in messages. New sites are added, a row naming
 * an existing site edits it.
 */
struct site_csv_import;

int site_csv_import_begin(struct site_csv_import **ret, const struct site_db *db,
			  const char *csv_name, const char *secrets_name, struct csv_report *rep);
/* A file's name for the messages, given once its part begins (NULL: none). */
void site_csv_import_name(struct site_csv_import *im, enum site_csv_file file, const char *name);
int site_csv_import_feed(struct site_csv_import *im, enum site_csv_file file, const char *p,
			 size_t len);
int site_csv_import_end(struct site_csv_import *im);
/* After a successful end: the sites as they will be (the import keeps them). */
const struct site_db *site_csv_import_result(const struct site_csv_import *im);
/* After a successful end: db's sites become the result's (db's old ones are freed). */
void site_csv_import_commit(struct site_csv_import *im, struct site_db *db);
void site_csv_import_free(struct site_csv_import *im);

/*
 * All at once: import into db. dry_run validates only. Returns 0 (db changed unless
 * dry_run), or -EINVAL with rep listing the bad rows and db untouched. PSKs come from a
 * "psk" column or, when secrets is not NULL, from it (a second CSV with columns name,psk).
 */
int site_csv_import(struct site_db *db, const char *text, size_t len, const char *secrets,
		    size_t secrets_len, bool dry_run, struct csv_report *rep);

/*
 * Export in pieces: the header when *pos is 0, then whole rows from site *pos - 1 on while
 * they fit in cap bytes (at least one always fits in SITE_CSV_ROW_MAX). *pos advances;
 * returns the bytes written, and *pos == db->n_sites + 1 once every site is out. PSKs only
 * when with_psk.
 */
#define SITE_CSV_ROW_MAX (16 * 1024)
ssize_t site_csv_export_chunk(const struct site_db *db, bool with_psk, size_t *pos, char *buf,
			      size_t cap);

/* The same format out at once (malloc'd, NUL-terminated). */
int site_csv_export(const struct site_db *db, bool with_psk, char **ret, size_t *ret_len);

#endif
