/* Sites as CSV: the import and the export (see csv.h); the reader is csv_reader.c. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "site/csv.h"
#include "site/index.h"

/* The columns a CSV may have: the site fields, and psk. */
static const char *const columns[] = {
	"name", "id", "source-ip", "psk", "primary", "backups", "traffic", "enabled", "local-ts",
	"remote-ts", "mark", "if-id", "ike-proposals", "esp-proposals", "ike-lifetime",
	"child-lifetime", "ike-rekey", "child-rekey", "max-child-sas", "dpd-interval",
	"vendor-rules", "psk-short",
};
#define N_COLUMNS (sizeof(columns) / sizeof(columns[0]))
#define COL_NAME 0
#define COL_PSK 3

/* A key of the secrets file: sorted by name once the file is read, then looked up. */
struct secret_row {
	char name[SITE_NAME_MAX];
	struct secret psk;
	unsigned line;
	bool used;		/* a row of the sites CSV names it */
	bool bad;		/* its row was refused (no key): reported there, not again */
};

struct site_csv_import {
	struct site_db db;		/* the result being built (a copy) */
	size_t cap_sites;
	struct site_index names;	/* the sites of db by name */
	struct csv_report *rep;
	char csv_name[64], secrets_name[64];
	enum site_csv_file file;	/* the part being read */
	struct csv_reader rd;
	bool started;			/* the sites CSV has begun: no more secrets */
	bool secrets_done;
	/* The header of the file being read. */
	int col[CSV_MAX_COLUMNS];	/* column index -> columns[] index */
	size_t n_cols;
	bool have_header;
	struct secret_row *secrets;
	size_t n_secrets, cap_secrets;
	bool have_secrets;
	unsigned *row_of;		/* by position in db: the line of the row that named it */
	size_t cap_rows;
	int rc;				/* a failure that is not a bad row (memory, caps) */
	bool ended;
};

/* Remember that the site at pos was named on line; the line that named it before, or 0. */
static int named_on(struct site_csv_import *im, size_t pos, unsigned line, unsigned *ret_before)
{
	if (pos >= im->cap_rows) {
		size_t cap = pos + 1 > 2 * im->cap_rows ? pos + 1 : 2 * im->cap_rows;
		unsigned *v = realloc(im->row_of, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		memset(v + im->cap_rows, 0, (cap - im->cap_rows) * sizeof(*v));
		im->row_of = v;
		im->cap_rows = cap;
	}
	*ret_before = im->row_of[pos];
	if (!*ret_before)
		im->row_of[pos] = line;
	return 0;
}

static void report_in(struct csv_report *rep, enum site_csv_file file, unsigned line,
		      const char *msg)
{
	if (rep->n_errors < CSV_MAX_ERRORS) {
		rep->errors[rep->n_errors].file = file;
		rep->errors[rep->n_errors].line = line;
		snprintf(rep->errors[rep->n_errors].msg, sizeof(rep->errors[0].msg), "%s", msg);
	}
	rep->n_errors++;
}

static void report(struct site_csv_import *im, unsigned line, const char *msg)
{
	report_in(im->rep, im->file, line, msg);
}

/* A header name as Excel may write it: surrounding spaces dropped, any case. */
static char *header_name(char *f)
{
	char *end;

	while (*f == ' ')
		f++;
	end = f + strlen(f);
	while (end > f && end[-1] == ' ')
		*--end = '\0';
	return f;
}

static ssize_t column_of(const char *name)
{
	for (size_t c = 0; c < N_COLUMNS; c++)
		if (!strcasecmp(name, columns[c]))
			return (ssize_t)c;
	return -1;
}

/*
 * An unknown header name that is the whole header run together: another separator (Excel
 * writes ';' where the decimal mark is a comma). The separator, or 0.
 */
static char other_separator(const char *f)
{
	static const char seps[] = ";\t|";

	for (const char *s = seps; *s; s++) {
		const char *at = strchr(f, *s);
		char first[32];
		size_t n;

		if (!at)
			continue;
		n = (size_t)(at - f);
		if (n >= sizeof(first))
			continue;
		memcpy(first, f, n);
		first[n] = '\0';
		if (column_of(header_name(first)) >= 0)
			return *s;
	}
	return 0;
}

static int header(struct site_csv_import *im, unsigned line, char **f, size_t n)
{
	bool secrets = im->file == SITE_CSV_SECRETS;
	bool have_name = false, have_psk = false;
	char msg[SITE_ERR_MAX];

	for (size_t k = 0; k < n; k++) {
		const char *name = header_name(f[k]);
		ssize_t c = column_of(name);
		char sep;

		if (c < 0 || (secrets && c != COL_NAME && c != COL_PSK)) {
			sep = c < 0 ? other_separator(name) : 0;
			if (sep)
				snprintf(msg, sizeof(msg), "the header is separated by %s, not ','; "
					 "save the file as CSV with commas (Excel: CSV UTF-8 (Comma "
					 "delimited))", sep == '\t' ? "tabs" : sep == ';' ? "';'" : "'|'");
			else if (secrets)
				snprintf(msg, sizeof(msg), "column '%.64s': a secrets file has the "
					 "columns name and psk", name);
			else
				snprintf(msg, sizeof(msg), "column '%.64s': not a site field", name);
			report(im, line, msg);
			return -EINVAL;
		}
		for (size_t j = 0; j < k; j++)
			if (im->col[j] == (int)c) {
				snprintf(msg, sizeof(msg), "column '%s' named twice", columns[c]);
				report(im, line, msg);
				return -EINVAL;
			}
		im->col[k] = (int)c;
		have_name |= c == COL_NAME;
		have_psk |= c == COL_PSK;
	}
	if (!have_name || (secrets && !have_psk)) {
		report(im, line, !have_name ? "no 'name' column" : "no 'psk' column");
		return -EINVAL;
	}
	im->n_cols = n;
	im->have_header = true;
	return 0;
}

/*
 * A library error quoting value: when the value is long, the message gives its start and
 * its length, so that the reason after it is never cut off (SITE_ERR_MAX).
 */
static void shorten_value(char *msg, size_t cap, const char *big, const char *value)
{
	const char *at = *value ? strstr(big, value) : NULL;
	size_t vlen = strlen(value), keep = 40;

	if (!at || vlen <= 48) {
		size_t n = strlen(big) < cap ? strlen(big) : cap - 1;

		memcpy(msg, big, n);
		msg[n] = '\0';
		return;
	}
	/* Cut on a character boundary. */
	while (keep > 0 && ((unsigned char)value[keep] & 0xc0) == 0x80)
		keep--;
	snprintf(msg, cap, "%.*s%.*s...' (%zu bytes)%s", (int)(at - big), big, (int)keep, value,
		 vlen, at[vlen] == '\'' ? at + vlen + 1 : at + vlen);
}

/* Booleans as Excel and people write them: yes/no, true/false, on/off, 1/0, any case. */
static const char *csv_bool(const char *v)
{
	static const char *const yes[] = { "yes", "true", "on", "1" }, *const no[] = { "no",
		"false", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (!strcasecmp(v, yes[i]))
			return "yes";
		if (!strcasecmp(v, no[i]))
			return "no";
	}
	return NULL;
}

static int set_field(struct site *s, const char *key, const char *v, char *err, size_t len)
{
	size_t vlen = strlen(v), big_len = vlen + SITE_ERR_MAX;
	char small[2 * SITE_ERR_MAX], *big = small;
	int rc;

	if (!strcmp(key, "enabled") || !strcmp(key, "vendor-rules") || !strcmp(key, "psk-short")) {
		const char *b = csv_bool(v);

		if (!b) {
			snprintf(err, len, "%s '%.64s': yes or no (true/false, on/off, 1/0; any case)",
				 key, v);
			return -EINVAL;
		}
		return site_set(s, key, b, err, len);
	}
	if (!strcmp(key, "psk"))
		return site_set_psk(s, (const uint8_t *)v, vlen, err, len);
	/* The message's room: the value's length and the reason's (a field may be 64 KiB). */
	if (big_len > sizeof(small))
		big = malloc(big_len);
	else
		big_len = sizeof(small);
	if (!big) {
		snprintf(err, len, "out of memory");
		return -ENOMEM;
	}
	rc = site_set(s, key, v, big, big_len);
	if (rc < 0)
		shorten_value(err, len, big, v);
	if (big != small)
		free(big);
	return rc;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct secret_row *)a)->name, ((const struct secret_row *)b)->name);
}

static struct secret_row *secret_find(struct site_csv_import *im, const char *name)
{
	struct secret_row key;

	if (!im->n_secrets || strlen(name) >= sizeof(key.name))
		return NULL;
	strcpy(key.name, name);
	return bsearch(&key, im->secrets, im->n_secrets, sizeof(key), by_name);
}

static const char *secrets_file(const struct site_csv_import *im)
{
	return im->secrets_name[0] ? im->secrets_name : "the secrets file";
}

static int on_secret(struct site_csv_import *im, unsigned line, char **f, size_t n)
{
	const char *name = NULL, *psk = NULL;
	struct secret_row *row;
	char err[SITE_ERR_MAX];

	for (size_t k = 0; k < n; k++) {
		if (im->col[k] == COL_NAME)
			name = f[k];
		else
			psk = f[k];
	}
	if (!*name)
		snprintf(err, sizeof(err), "name: missing");
	else if (strlen(name) >= SITE_NAME_MAX)
		snprintf(err, sizeof(err), "name '%.40s...': longer than %d characters", name,
			 SITE_NAME_MAX - 1);
	else if (!*psk)
		snprintf(err, sizeof(err), "site '%s' psk: missing", name);
	else if (strlen(psk) > SITE_PSK_MAX)
		snprintf(err, sizeof(err), "site '%s' psk: 1 to %d bytes", name, SITE_PSK_MAX);
	else
		err[0] = '\0';
	if (err[0])
		report(im, line, err);
	/* A bad row with a usable name is kept, without a key, so that the sites' row for it
	 * is not refused a second time for the key it lacks. */
	if (err[0] && (!*name || strlen(name) >= SITE_NAME_MAX))
		return 0;
	if (im->n_secrets == im->cap_secrets) {
		size_t cap = im->cap_secrets ? 2 * im->cap_secrets : 64;
		struct secret_row *v = realloc(im->secrets, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		im->secrets = v;
		im->cap_secrets = cap;
	}
	row = &im->secrets[im->n_secrets];
	memset(row, 0, sizeof(*row));
	strcpy(row->name, name);
	row->line = line;
	row->bad = err[0] != '\0';
	if (!row->bad && secret_set(&row->psk, psk, strlen(psk)) < 0)
		return -ENOMEM;
	im->n_secrets++;
	return 0;
}

static int by_name_then_line(const void *a, const void *b)
{
	const struct secret_row *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : x->line < y->line ? -1 : x->line > y->line;
}

/*
 * The secrets file is read: sorted for lookups (a bsearch per row of the sites, not a scan
 * of every key), a name given twice reported on its later line and dropped.
 */
static void secrets_done(struct site_csv_import *im)
{
	size_t out = 0;

	im->secrets_done = true;
	if (!im->n_secrets)
		return;
	qsort(im->secrets, im->n_secrets, sizeof(*im->secrets), by_name_then_line);
	for (size_t i = 0; i < im->n_secrets; i++) {
		if (out && !strcmp(im->secrets[out - 1].name, im->secrets[i].name)) {
			char msg[SITE_ERR_MAX];

			snprintf(msg, sizeof(msg), "site '%s' named twice (also on line %u)",
				 im->secrets[i].name, im->secrets[out - 1].line);
			report_in(im->rep, SITE_CSV_SECRETS, im->secrets[i].line, msg);
			secret_clear(&im->secrets[i].psk);
			continue;
		}
		im->secrets[out++] = im->secrets[i];
	}
	im->n_secrets = out;
}

/* s moves into the import's database (which owns it then), or is cleared on -ENOMEM. */
static int add_site(struct site_csv_import *im, struct site *s, unsigned line)
{
	unsigned before;

	if (im->db.n_sites == im->cap_sites) {
		size_t cap = im->cap_sites ? im->cap_sites * 2 : 64;
		struct site *v = realloc(im->db.sites, cap * sizeof(*v));

		if (!v) {
			site_clear(s);
			return -ENOMEM;
		}
		im->db.sites = v;
		im->cap_sites = cap;
	}
	im->db.sites[im->db.n_sites++] = *s;
	if (named_on(im, im->db.n_sites - 1, line, &before) < 0)
		return -ENOMEM;
	return site_index_add(&im->names, im->db.sites, im->db.n_sites, im->db.n_sites - 1);
}

static int on_site(struct site_csv_import *im, unsigned line, char **f, size_t n)
{
	struct site s, *existing = NULL;
	struct secret_row *sec;
	char err[SITE_ERR_MAX];
	const char *name = NULL;
	bool psk_given = false;
	ssize_t at;
	unsigned before = 0;
	int rc = 0;

	for (size_t k = 0; k < n; k++)
		if (im->col[k] == COL_NAME)
			name = f[k];
	/* A row naming an existing site edits it; otherwise a new site from the defaults. */
	at = site_index_find(&im->names, im->db.sites, name);
	if (at >= 0) {
		if (named_on(im, (size_t)at, line, &before) < 0)
			return -ENOMEM;
		if (before) {
			/* Two rows for one site: which one meant it? Neither is taken. */
			snprintf(err, sizeof(err), "site '%.64s' named twice (also on line %u)", name,
				 before);
			report(im, line, err);
			return 0;
		}
		existing = &im->db.sites[at];
	}
	sec = secret_find(im, name);
	if (sec)
		sec->used = true;
	if (existing)
		rc = site_copy(&s, existing);
	else
		site_init(&s);
	if (rc < 0)
		return rc;
	for (size_t k = 0; rc == 0 && k < n; k++) {
		const char *key = columns[im->col[k]];

		psk_given |= im->col[k] == COL_PSK && f[k][0];
		if (f[k][0] || !strcmp(key, "source-ip") || !strcmp(key, "name"))
			rc = set_field(&s, key, f[k], err, sizeof(err));
	}
	if (rc == -ENOMEM) {
		site_clear(&s);
		return rc;
	}
	if (rc == 0 && sec && !sec->bad && psk_given) {
		snprintf(err, sizeof(err), "site '%s': a key in the psk column and in %s (line %u)",
			 s.name, secrets_file(im), sec->line);
		rc = -EINVAL;
	} else if (rc == 0 && sec && !sec->bad) {
		rc = secret_dup(&s.psk, &sec->psk);
		if (rc < 0) {
			site_clear(&s);
			return rc;
		}
	}
	rc = rc ?: site_validate(&s, &im->db, err, sizeof(err));
	if (rc == 0 && existing) {
		site_clear(existing);
		*existing = s;		/* a move: existing owns s's fields now */
		return 0;
	}
	if (rc == 0) {
		rc = add_site(im, &s, line);
		return rc;
	}
	/* No key because its row in the secrets file was refused: said there already. */
	if (!(sec && sec->bad && !s.psk.p && !psk_given && strstr(err, "psk: missing")))
		report(im, line, err);
	site_clear(&s);
	return 0;
}

static int on_record(void *arg, unsigned line, char **f, size_t n)
{
	struct site_csv_import *im = arg;
	char err[SITE_ERR_MAX];

	if (!im->have_header)
		return header(im, line, f, n);
	if (im->file == SITE_CSV_SITES)
		im->rep->n_rows++;
	if (n != im->n_cols) {
		snprintf(err, sizeof(err), "%zu fields, the header has %zu", n, im->n_cols);
		report(im, line, err);
		return 0;	/* keep reading: every bad row is reported */
	}
	return im->file == SITE_CSV_SITES ? on_site(im, line, f, n) : on_secret(im, line, f, n);
}

/* The end of one file: its last record, and a file with no header at all. */
static void file_end(struct site_csv_import *im)
{
	struct csv_reader *rd = &im->rd;
	char msg[SITE_ERR_MAX];
	int rc = csv_reader_end(rd);

	if (rc < 0 && rc != -EINVAL) {
		if (rc == -ENOMEM)
			im->rc = rc;
		snprintf(msg, sizeof(msg), "%s", rd->reason ? rd->reason : strerror(-rc));
		report(im, rd->err_line, msg);
	}
	if (rc == 0 && !im->have_header)
		report(im, 1, "empty: no header row");
	csv_reader_clear(rd);
	im->have_header = false;
	im->n_cols = 0;
	csv_reader_init(rd, on_record, im);
}

int site_csv_import_begin(struct site_csv_import **ret, const struct site_db *db,
			  const char *csv_name, const char *secrets_name, struct csv_report *rep)
{
	struct site_csv_import *im = calloc(1, sizeof(*im));

	*ret = NULL;
	memset(rep, 0, sizeof(*rep));
	if (!im)
		return -ENOMEM;
	im->rep = rep;
	site_csv_import_name(im, SITE_CSV_SITES, csv_name);
	site_csv_import_name(im, SITE_CSV_SECRETS, secrets_name);
	csv_reader_init(&im->rd, on_record, im);
	/* Work on a copy: the real database changes only when every row is good. */
	im->db.pops = malloc((db->n_pops ? db->n_pops : 1) * sizeof(*db->pops));
	im->db.sites = calloc(db->n_sites ? db->n_sites : 1, sizeof(*db->sites));
	if (!im->db.pops || !im->db.sites) {
		site_csv_import_free(im);
		return -ENOMEM;
	}
	if (db->n_pops)
		memcpy(im->db.pops, db->pops, db->n_pops * sizeof(*db->pops));
	im->db.n_pops = db->n_pops;
	im->db.role = db->role;	/* site_validate: whether a site has POPs */
	im->cap_sites = db->n_sites ? db->n_sites : 1;
	for (size_t i = 0; i < db->n_sites; i++, im->db.n_sites++)
		if (site_copy(&im->db.sites[i], &db->sites[i]) < 0 ||
		    site_index_add(&im->names, im->db.sites, i + 1, i) < 0) {
			im->db.n_sites++;	/* a failed copy is left cleared: clearing it is safe */
			site_csv_import_free(im);
			return -ENOMEM;
		}
	*ret = im;
	return 0;
}

void site_csv_import_name(struct site_csv_import *im, enum site_csv_file file, const char *name)
{
	char *dst = file == SITE_CSV_SECRETS ? im->secrets_name : im->csv_name;

	if (name)
		snprintf(dst, sizeof(im->csv_name), "%s", name);
}

int site_csv_import_feed(struct site_csv_import *im, enum site_csv_file file, const char *p,
			 size_t len)
{
	int rc;

	if (im->ended)
		return -EINVAL;
	if (file == SITE_CSV_SECRETS) {
		if (im->started)
			return -EINVAL;	/* the secrets come first */
		im->have_secrets = true;
	} else if (!im->started) {
		if (im->have_secrets) {
			file_end(im);
			secrets_done(im);
		}
		im->started = true;
	}
	im->file = file;
	if (im->rc < 0)
		return im->rc;
	rc = csv_reader_feed(&im->rd, p, len);
	if (rc == -ENOMEM)
		im->rc = rc;
	/* Bad input is reported when the file ends: nothing more of it is read. */
	return im->rc;
}

/*
 * One identity, one site (a gateway tells sites apart by it), checked once every row is in:
 * an index over the result makes it O(1) a site, and a row may take an identity that a later
 * row gives up. A pair is reported on the line of a row that made it (the later one when both
 * did); a pair the store already held, untouched by this file, is not this import's doing.
 */
static int check_ids(struct site_csv_import *im)
{
	struct site_index_id ix = { 0 };
	const struct site *sites = im->db.sites;
	char msg[SITE_ERR_MAX], a[SITE_ID_MAX + 8], where[32];
	size_t r, other;
	unsigned lother;
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < im->db.n_sites; i++) {
		ssize_t o = site_index_id_find(&ix, sites, &sites[i]);
		unsigned li = i < im->cap_rows ? im->row_of[i] : 0;
		unsigned lo = o >= 0 && (size_t)o < im->cap_rows ? im->row_of[o] : 0;

		if (o < 0) {
			rc = site_index_id_add(&ix, sites, i);
			continue;
		}
		if (!li && !lo)
			continue;
		/* r: the row reported; other: the site whose identity it is. */
		r = li >= lo ? i : (size_t)o;
		other = r == i ? (size_t)o : i;
		lother = r == i ? lo : li;
		if (lother)
			snprintf(where, sizeof(where), "line %u", lother);
		else
			snprintf(where, sizeof(where), "in the store");
		snprintf(msg, sizeof(msg), "site '%s' id '%s': already the identity of site '%s' (%s)",
			 sites[r].name, site_id_text(&sites[r], a, sizeof(a)), sites[other].name, where);
		report_in(im->rep, SITE_CSV_SITES, li >= lo ? li : lo, msg);
	}
	site_index_id_clear(&ix);
	return rc;
}

static int by_file_and_line(const void *a, const void *b)
{
	const struct csv_report *r = NULL;
	const typeof(r->errors[0]) *x = a, *y = b;

	if (x->file != y->file)
		return x->file == SITE_CSV_SECRETS ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

int site_csv_import_end(struct site_csv_import *im)
{
	struct csv_report *rep = im->rep;

	if (im->ended)
		return -EINVAL;
	if (!im->started) {
		/* Only secrets, or nothing: an empty CSV. */
		if (im->have_secrets) {
			file_end(im);
			secrets_done(im);
		}
		im->file = SITE_CSV_SITES;
		im->started = true;
	}
	file_end(im);
	im->ended = true;
	/* A key for a site the CSV does not name: a typo, or the wrong file. */
	for (size_t i = 0; i < im->n_secrets; i++)
		if (!im->secrets[i].used && !im->secrets[i].bad) {
			char msg[SITE_ERR_MAX];

			snprintf(msg, sizeof(msg), "site '%s': not in %s", im->secrets[i].name,
				 im->csv_name[0] ? im->csv_name : "the CSV");
			report_in(rep, SITE_CSV_SECRETS, im->secrets[i].line, msg);
		}
	/* Identities only over a result that is otherwise good: a bad row is not in it. */
	if (im->rc == 0 && !rep->n_errors)
		im->rc = check_ids(im);
	qsort(rep->errors, rep->n_errors < CSV_MAX_ERRORS ? rep->n_errors : CSV_MAX_ERRORS,
	      sizeof(rep->errors[0]), by_file_and_line);
	if (im->rc < 0)
		return im->rc;
	return rep->n_errors ? -EINVAL : 0;
}

const struct site_db *site_csv_import_result(const struct site_csv_import *im)
{
	return &im->db;
}

void site_csv_import_commit(struct site_csv_import *im, struct site_db *db)
{
	struct site *old = db->sites;
	size_t n_old = db->n_sites;

	/* The sites are the new ones; the POPs were only read. */
	db->sites = im->db.sites;
	db->n_sites = im->db.n_sites;
	im->db.sites = old;
	im->db.n_sites = n_old;
	im->cap_sites = n_old;
}

void site_csv_import_free(struct site_csv_import *im)
{
	if (!im)
		return;
	csv_reader_clear(&im->rd);
	site_index_clear(&im->names);
	free(im->row_of);
	for (size_t i = 0; i < im->n_secrets; i++)
		secret_clear(&im->secrets[i].psk);
	free(im->secrets);
	site_db_clear(&im->db);
	free(im);
}

int site_csv_import(struct site_db *db, const char *text, size_t len, const char *secrets,
		    size_t secrets_len, bool dry_run, struct csv_report *rep)
{
	struct site_csv_import *im;
	int rc = site_csv_import_begin(&im, db, NULL, NULL, rep);

	if (rc < 0)
		return rc;
	if (secrets)
		rc = site_csv_import_feed(im, SITE_CSV_SECRETS, secrets, secrets_len);
	rc = rc ?: site_csv_import_feed(im, SITE_CSV_SITES, text, len);
	rc = rc ?: site_csv_import_end(im);
	if (rc == 0 && !dry_run)
		site_csv_import_commit(im, db);
	site_csv_import_free(im);
	return rc;
}

/* ---- export ---- */

struct out {
	char *p;
	size_t len, cap;
	bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->full || n > o->cap - o->len) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

/* A field, quoted when it has to be (RFC 4180 §2.6). */
static void put_field(struct out *o, const char *v, bool last)
{
	if (strpbrk(v, ",\"\r\n")) {
		put(o, "\"", 1);
		for (const char *c = v; *c; c++) {
			const char *q = strchr(c, '"');
			size_t n = q ? (size_t)(q - c) : strlen(c);

			put(o, c, n);
			c += n;
			if (!*c)
				break;
			put(o, "\"\"", 2);
		}
		put(o, "\"", 1);
	} else {
		put(o, v, strlen(v));
	}
	put(o, last ? "\r\n" : ",", last ? 2 : 1);
}

static void put_header(struct out *o, bool with_psk)
{
	for (size_t c = 0; c < N_COLUMNS; c++) {
		if (!with_psk && c == COL_PSK)
			continue;
		put_field(o, columns[c], c + 1 == N_COLUMNS);
	}
}

static void put_site(struct out *o, const struct site *s, bool with_psk)
{
	char v[4 * SITE_PROPOSALS_MAX];

	for (size_t c = 0; c < N_COLUMNS; c++) {
		const char *k = columns[c];
		size_t n = 0;

		v[0] = '\0';
		if (c == COL_PSK) {
			if (!with_psk)
				continue;
			if (s->psk.len < sizeof(v)) {
				memcpy(v, s->psk.p, s->psk.len);
				v[s->psk.len] = '\0';
			}
		} else if (!strcmp(k, "name")) {
			snprintf(v, sizeof(v), "%s", s->name);
		} else if (!strcmp(k, "id")) {
			snprintf(v, sizeof(v), "%s:%s", site_id_type_name(s->id_type), s->id);
		} else if (!strcmp(k, "source-ip")) {
			snprintf(v, sizeof(v), "%s", s->source_ip);
		} else if (!strcmp(k, "primary")) {
			snprintf(v, sizeof(v), "%s", s->primary);
		} else if (!strcmp(k, "backups")) {
			for (size_t b = 0; b < s->n_backups; b++)
				n += (size_t)snprintf(v + n, sizeof(v) - n, "%s%s", b ? "," : "",
						      s->backups[b]);
		} else if (!strcmp(k, "traffic")) {
			snprintf(v, sizeof(v), "%s", site_traffic_name(s->traffic));
		} else if (!strcmp(k, "enabled") || !strcmp(k, "vendor-rules") ||
			   !strcmp(k, "psk-short")) {
			snprintf(v, sizeof(v), "%s", (k[0] == 'e' ? s->enabled : k[0] == 'v' ?
						      s->vendor_rules : s->psk_short) ? "yes" : "no");
		} else if (!strcmp(k, "local-ts") || !strcmp(k, "remote-ts")) {
			bool l = k[0] == 'l';

			for (size_t t = 0; t < (l ? s->n_local_ts : s->n_remote_ts); t++)
				n += (size_t)snprintf(v + n, sizeof(v) - n, "%s%s", t ? "," : "",
						      l ? s->local_ts[t] : s->remote_ts[t]);
		} else if (!strcmp(k, "mark")) {
			snprintf(v, sizeof(v), "0x%" PRIx32 "/0x%" PRIx32, s->mark, s->mark_mask);
		} else if (!strcmp(k, "if-id")) {
			snprintf(v, sizeof(v), "%" PRIu32, s->if_id);
		} else if (!strcmp(k, "ike-proposals") || !strcmp(k, "esp-proposals")) {
			snprintf(v, sizeof(v), "%s", k[0] == 'i' ? s->ike_proposals : s->esp_proposals);
		} else {
			uint32_t x = !strcmp(k, "ike-lifetime") ? s->ike_lifetime_s :
				     !strcmp(k, "child-lifetime") ? s->child_lifetime_s :
				     !strcmp(k, "ike-rekey") ? s->ike_rekey_s :
				     !strcmp(k, "child-rekey") ? s->child_rekey_s :
				     !strcmp(k, "max-child-sas") ? s->max_child_sas :
				     s->dpd_interval_s;

			snprintf(v, sizeof(v), "%" PRIu32, x);
		}
		put_field(o, v, c + 1 == N_COLUMNS);
	}
	sodium_memzero(v, sizeof(v));
}

ssize_t site_csv_export_chunk(const struct site_db *db, bool with_psk, size_t *pos, char *buf,
			      size_t cap)
{
	struct out o = { .p = buf, .cap = cap };

	while (*pos <= db->n_sites) {
		size_t before = o.len;

		if (*pos == 0)
			put_header(&o, with_psk);
		else
			put_site(&o, &db->sites[*pos - 1], with_psk);
		if (o.full) {
			sodium_memzero(buf + before, cap - before);
			if (before == 0)
				return -EMSGSIZE;	/* not even one row fits */
			return (ssize_t)before;
		}
		(*pos)++;
	}
	return (ssize_t)o.len;
}

int site_csv_export(const struct site_db *db, bool with_psk, char **ret, size_t *ret_len)
{
	size_t pos = 0, len = 0, cap = 64 * 1024;
	char *buf = malloc(cap + 1);

	while (buf) {
		ssize_t n = site_csv_export_chunk(db, with_psk, &pos, buf + len, cap - len);

		if (n < 0 || (n == 0 && pos <= db->n_sites)) {
			/* Full: twice the room (the old copy wiped, it may hold keys). */
			char *b = malloc(2 * cap + 1);

			if (b)
				memcpy(b, buf, len);
			sodium_memzero(buf, cap);
			free(buf);
			buf = b;
			cap *= 2;
			continue;
		}
		len += (size_t)n;
		if (pos > db->n_sites) {
			buf[len] = '\0';
			*ret = buf;
			*ret_len = len;
			return 0;
		}
	}
	return -ENOMEM;
}
