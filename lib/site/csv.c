/* Sites as CSV, RFC 4180 (see csv.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "site/csv.h"
#include "site/index.h"

static bool valid_utf8(const unsigned char *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = p[i];
		size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;

		if (n == 0 || i + n > len || c == 0)
			return false;
		for (size_t k = 1; k < n; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
		/* Overlong two-byte forms and surrogates are not UTF-8. */
		if ((n == 2 && c < 0xc2) || (n == 3 && c == 0xed && p[i + 1] >= 0xa0) ||
		    (n == 3 && c == 0xe0 && p[i + 1] < 0xa0) || (n == 4 && c == 0xf0 && p[i + 1] < 0x90) ||
		    (n == 4 && c > 0xf4))
			return false;
		i += n;
	}
	return true;
}

int csv_read(const char *text, size_t len, csv_record_fn fn, void *arg, unsigned *ret_line,
	     const char **ret_reason)
{
	char *fields[CSV_MAX_COLUMNS];
	char *buf = malloc(len + CSV_MAX_COLUMNS + 1);	/* every field, NUL-terminated */
	size_t n = 0, out = 0, i = 0, rows = 0;
	unsigned line = 1, rec_line = 1;
	int rc = 0;

#define BAD(r, why) do { rc = (r); *ret_reason = (why); goto done; } while (0)
	*ret_line = 1;
	*ret_reason = NULL;
	if (!buf)
		return -ENOMEM;
	if (!valid_utf8((const unsigned char *)text, len)) {
		free(buf);
		*ret_reason = "not UTF-8 text";
		return -EBADMSG;
	}
	while (i < len) {
		size_t start = out;

		if (n == CSV_MAX_COLUMNS)
			BAD(-EMSGSIZE, "more columns than allowed");
		fields[n++] = buf + out;
		if (text[i] == '"') {
			/* Quoted: anything up to the closing quote; "" is a quote. */
			for (i++;; i++) {
				if (i >= len)
					BAD(-EBADMSG, "a quoted field is not closed");
				if (text[i] == '"') {
					if (i + 1 < len && text[i + 1] == '"') {
						buf[out++] = '"';
						i++;
						continue;
					}
					i++;
					break;
				}
				if (text[i] == '\n')
					line++;
				buf[out++] = text[i];
				if (out - start > CSV_MAX_FIELD)
					BAD(-EMSGSIZE, "a field longer than 64 KiB");
			}
			if (i < len && text[i] != ',' && text[i] != '\n' && text[i] != '\r')
				BAD(-EBADMSG, "text after a closing quote");
		} else {
			for (; i < len && text[i] != ',' && text[i] != '\n' && text[i] != '\r'; i++) {
				if (text[i] == '"')
					BAD(-EBADMSG, "a quote inside an unquoted field");
				buf[out++] = text[i];
				if (out - start > CSV_MAX_FIELD)
					BAD(-EMSGSIZE, "a field longer than 64 KiB");
			}
		}
		buf[out++] = '\0';
		if (i < len && text[i] == ',') {
			i++;
			if (i < len)
				continue;
			/* A comma ending the text: one more, empty, field. */
			if (n == CSV_MAX_COLUMNS)
				BAD(-EMSGSIZE, "more columns than allowed");
			fields[n++] = buf + out;
			buf[out++] = '\0';
		}
		/* End of record: CRLF, LF or the end of the text. */
		if (i < len && text[i] == '\r') {
			if (i + 1 >= len || text[i + 1] != '\n')
				BAD(-EBADMSG, "a CR not followed by LF");
			i++;
		}
		if (i < len && text[i] == '\n')
			i++;
		if (++rows > CSV_MAX_ROWS + 1)
			BAD(-EMSGSIZE, "more rows than allowed");
		/* A blank line is not a record. */
		if (!(n == 1 && fields[0][0] == '\0')) {
			rc = fn(arg, rec_line, fields, n);
			if (rc < 0) {
				*ret_reason = "stopped";
				goto done;
			}
		}
		n = 0;
		out = 0;
		rec_line = ++line;
	}
done:
#undef BAD
	if (rc < 0)
		*ret_line = rec_line;
	sodium_memzero(buf, len + CSV_MAX_COLUMNS + 1);
	free(buf);
	return rc < 0 ? rc : 0;
}

/* The columns a CSV may have: the site fields, and psk. */
static const char *const columns[] = {
	"name", "id", "source-ip", "psk", "primary", "backups", "traffic", "enabled", "local-ts",
	"remote-ts", "mark", "if-id", "ike-proposals", "esp-proposals", "ike-lifetime",
	"child-lifetime", "ike-rekey", "child-rekey", "max-child-sas", "dpd-interval",
	"vendor-rules", "psk-short",
};
#define N_COLUMNS (sizeof(columns) / sizeof(columns[0]))

struct import {
	struct site_db *db;		/* the result being built (a copy) */
	size_t cap_sites;
	struct site_index names;	/* the sites of db by name */
	const struct site_db *orig;
	struct csv_report *rep;
	int col[CSV_MAX_COLUMNS];	/* column index -> columns[] index */
	size_t n_cols;
	bool have_header;
	struct site_db secrets_db;	/* name -> psk from the secrets CSV */
	unsigned *row_of;		/* by position in db: the line of the row that named it */
	size_t cap_rows;
};

/* Remember that the site at pos was named on line; the line that named it before, or 0. */
static int named_on(struct import *im, size_t pos, unsigned line, unsigned *ret_before)
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

static void report(struct csv_report *rep, unsigned line, const char *msg)
{
	if (rep->n_errors < CSV_MAX_ERRORS) {
		rep->errors[rep->n_errors].line = line;
		snprintf(rep->errors[rep->n_errors].msg, sizeof(rep->errors[0].msg), "%s", msg);
	}
	rep->n_errors++;
}

static int header(struct import *im, unsigned line, char **f, size_t n)
{
	bool have_name = false;

	for (size_t k = 0; k < n; k++) {
		size_t c;

		for (c = 0; c < N_COLUMNS; c++)
			if (!strcmp(f[k], columns[c]))
				break;
		if (c == N_COLUMNS) {
			char msg[SITE_ERR_MAX];

			snprintf(msg, sizeof(msg), "column '%.64s': not a site field", f[k]);
			report(im->rep, line, msg);
			return -EINVAL;
		}
		for (size_t j = 0; j < k; j++)
			if (im->col[j] == (int)c) {
				report(im->rep, line, "a column named twice");
				return -EINVAL;
			}
		im->col[k] = (int)c;
		have_name |= c == 0;
	}
	if (!have_name) {
		report(im->rep, line, "no 'name' column");
		return -EINVAL;
	}
	im->n_cols = n;
	im->have_header = true;
	return 0;
}

static int on_record(void *arg, unsigned line, char **f, size_t n)
{
	struct import *im = arg;
	struct site s, *existing = NULL;
	char err[SITE_ERR_MAX];
	const char *name = NULL;
	int rc = 0;

	if (!im->have_header)
		return header(im, line, f, n);
	im->rep->n_rows++;
	if (n != im->n_cols) {
		snprintf(err, sizeof(err), "%zu fields, the header has %zu", n, im->n_cols);
		report(im->rep, line, err);
		return 0;	/* keep reading: every bad row is reported */
	}
	for (size_t k = 0; k < n; k++)
		if (im->col[k] == 0)
			name = f[k];
	/* A row naming an existing site edits it; otherwise a new site from the defaults. */
	{
		ssize_t at = site_index_find(&im->names, im->db->sites, name);
		unsigned before = 0;

		if (at >= 0) {
			if (named_on(im, (size_t)at, line, &before) < 0)
				return -ENOMEM;
			if (before) {
				/* Two rows for one site: which one meant it? Neither is taken. */
				snprintf(err, sizeof(err), "site '%.64s' named twice (also on line %u)",
					 name, before);
				report(im->rep, line, err);
				return 0;
			}
			existing = &im->db->sites[at];
		}
	}
	if (existing)
		rc = site_copy(&s, existing);
	else
		site_init(&s);
	for (size_t k = 0; rc == 0 && k < n; k++) {
		const char *key = columns[im->col[k]];

		if (!strcmp(key, "psk"))
			rc = f[k][0] ? site_set_psk(&s, (const uint8_t *)f[k], strlen(f[k]), err,
						   sizeof(err)) : 0;
		else if (f[k][0] || !strcmp(key, "source-ip") || !strcmp(key, "name"))
			rc = site_set(&s, key, f[k], err, sizeof(err));
	}
	if (rc == 0 && !s.psk.p) {
		const struct site *sec = site_db_find(&im->secrets_db, s.name);

		if (sec)
			rc = secret_dup(&s.psk, &sec->psk);
	}
	rc = rc ?: site_validate(&s, im->db, err, sizeof(err));
	if (rc == 0 && existing) {
		site_clear(existing);
		*existing = s;
		return 0;
	}
	if (rc == 0) {
		if (im->db->n_sites == im->cap_sites) {
			size_t cap = im->cap_sites ? im->cap_sites * 2 : 64;
			struct site *v = realloc(im->db->sites, cap * sizeof(*v));

			if (!v) {
				site_clear(&s);
				return -ENOMEM;
			}
			im->db->sites = v;
			im->cap_sites = cap;
		}
		im->db->sites[im->db->n_sites] = s;
		im->db->n_sites++;
		{
			unsigned before;

			if (named_on(im, im->db->n_sites - 1, line, &before) < 0)
				return -ENOMEM;
		}
		return site_index_add(&im->names, im->db->sites, im->db->n_sites,
				      im->db->n_sites - 1);
	}
	report(im->rep, line, err);
	site_clear(&s);
	return 0;
}

/*
 * One identity, one site (a gateway tells sites apart by it), checked once every row is in:
 * an index over the result makes it O(1) a site, and a row may take an identity that a later
 * row gives up. A pair is reported on the line of a row that made it (the later one when both
 * did); a pair the store already held, untouched by this file, is not this import's doing.
 */
static int check_ids(struct import *im)
{
	struct site_index_id ix = { 0 };
	const struct site *sites = im->db->sites;
	char msg[SITE_ERR_MAX], a[SITE_ID_MAX + 8], where[32];
	size_t r, other;
	unsigned lother;
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < im->db->n_sites; i++) {
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
		report(im->rep, li >= lo ? li : lo, msg);
	}
	site_index_id_clear(&ix);
	return rc;
}

struct secrets_ctx {
	struct site_db *db;
	int name_col, psk_col;
	bool header;
};

static int on_secret(void *arg, unsigned line, char **f, size_t n)
{
	struct secrets_ctx *c = arg;
	struct site s;
	struct site *v;

	(void)line;
	if (!c->header) {
		for (size_t k = 0; k < n; k++) {
			if (!strcmp(f[k], "name"))
				c->name_col = (int)k;
			else if (!strcmp(f[k], "psk"))
				c->psk_col = (int)k;
		}
		c->header = true;
		return c->name_col >= 0 && c->psk_col >= 0 ? 0 : -EINVAL;
	}
	if ((size_t)c->name_col >= n || (size_t)c->psk_col >= n || !f[c->psk_col][0])
		return -EINVAL;
	memset(&s, 0, sizeof(s));
	snprintf(s.name, sizeof(s.name), "%s", f[c->name_col]);
	if (site_set_psk(&s, (const uint8_t *)f[c->psk_col], strlen(f[c->psk_col]), NULL, 0) < 0)
		return -EINVAL;
	v = realloc(c->db->sites, (c->db->n_sites + 1) * sizeof(*v));
	if (!v) {
		site_clear(&s);
		return -ENOMEM;
	}
	c->db->sites = v;
	c->db->sites[c->db->n_sites++] = s;
	return 0;
}

static void db_free(struct site_db *db)
{
	site_db_clear(db);
}

int site_csv_import(struct site_db *db, const char *text, size_t len, const char *secrets,
		    size_t secrets_len, bool dry_run, struct csv_report *rep)
{
	struct site_db work = { 0 };
	struct import im = { .db = &work, .orig = db, .rep = rep };
	const char *why;
	unsigned line;
	int rc;

	memset(rep, 0, sizeof(*rep));
	/* Work on a copy: the real database changes only when every row is good. */
	work.pops = db->n_pops ? malloc(db->n_pops * sizeof(*db->pops)) : NULL;
	work.sites = db->n_sites ? calloc(db->n_sites, sizeof(*db->sites)) : NULL;
	if ((db->n_pops && !work.pops) || (db->n_sites && !work.sites)) {
		free(work.pops);
		free(work.sites);
		return -ENOMEM;
	}
	if (db->n_pops)
		memcpy(work.pops, db->pops, db->n_pops * sizeof(*db->pops));
	work.n_pops = db->n_pops;
	work.role = db->role;
	im.cap_sites = db->n_sites;
	for (size_t i = 0; i < db->n_sites; i++, work.n_sites++)
		if (site_copy(&work.sites[i], &db->sites[i]) < 0 ||
		    site_index_add(&im.names, work.sites, i + 1, i) < 0) {
			work.n_sites++;	/* a half copy has no PSK yet: clearing it is safe */
			site_index_clear(&im.names);
			db_free(&work);
			return -ENOMEM;
		}
	if (secrets) {
		struct secrets_ctx sc = { .db = &im.secrets_db, .name_col = -1, .psk_col = -1 };

		rc = csv_read(secrets, secrets_len, on_secret, &sc, &line, &why);
		if (rc < 0) {
			report(rep, line, "secrets file: needs columns name,psk and a PSK per row");
			goto out;
		}
	}
	rc = csv_read(text, len, on_record, &im, &line, &why);
	if (rc < 0 && rc != -EINVAL) {
		char msg[SITE_ERR_MAX];

		snprintf(msg, sizeof(msg), "%s", why ? why : strerror(-rc));
		report(rep, line, msg);
	}
	if (rc == 0 && !im.have_header)
		report(rep, 1, "empty: no header row");
	if (rc == 0 && !rep->n_errors)
		rc = check_ids(&im);
	rc = rep->n_errors ? -EINVAL : rc;
	if (rc == 0 && !dry_run) {
		/* Swap: the sites are the new ones, the POPs were only read. */
		free(work.pops);
		work.pops = db->pops;
		for (size_t i = 0; i < db->n_sites; i++)
			site_clear(&db->sites[i]);
		free(db->sites);
		db->sites = work.sites;
		db->n_sites = work.n_sites;
		work.sites = NULL;
		work.n_sites = 0;
		work.pops = NULL;
		work.n_pops = 0;
	}
out:
	site_index_clear(&im.names);
	free(im.row_of);
	db_free(&im.secrets_db);
	db_free(&work);
	return rc;
}

/* A field, quoted when it has to be (RFC 4180 §2.6). */
static void put_field(FILE *f, const char *v, bool last)
{
	if (strpbrk(v, ",\"\r\n")) {
		fputc('"', f);
		for (const char *c = v; *c; c++) {
			if (*c == '"')
				fputc('"', f);
			fputc(*c, f);
		}
		fputc('"', f);
	} else {
		fputs(v, f);
	}
	fputs(last ? "\r\n" : ",", f);
}

int site_csv_export(const struct site_db *db, bool with_psk, char **ret, size_t *ret_len)
{
	FILE *f = open_memstream(ret, ret_len);
	char v[4 * SITE_PROPOSALS_MAX];

	if (!f)
		return -ENOMEM;
	for (size_t c = 0; c < N_COLUMNS; c++) {
		if (!with_psk && !strcmp(columns[c], "psk"))
			continue;
		put_field(f, columns[c], c + 1 == N_COLUMNS);
	}
	for (size_t i = 0; i < db->n_sites; i++) {
		const struct site *s = &db->sites[i];

		for (size_t c = 0; c < N_COLUMNS; c++) {
			const char *k = columns[c];
			size_t o = 0;

			v[0] = '\0';
			if (!strcmp(k, "psk")) {
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
					o += (size_t)snprintf(v + o, sizeof(v) - o, "%s%s", b ? "," : "",
							      s->backups[b]);
			} else if (!strcmp(k, "traffic")) {
				snprintf(v, sizeof(v), "%s", site_traffic_name(s->traffic));
			} else if (!strcmp(k, "enabled") || !strcmp(k, "vendor-rules") ||
				   !strcmp(k, "psk-short")) {
				snprintf(v, sizeof(v), "%s", (k[0] == 'e' ? s->enabled : k[0] == 'v' ?
							      s->vendor_rules : s->psk_short) ?
					 "yes" : "no");
			} else if (!strcmp(k, "local-ts") || !strcmp(k, "remote-ts")) {
				bool l = k[0] == 'l';

				for (size_t t = 0; t < (l ? s->n_local_ts : s->n_remote_ts); t++)
					o += (size_t)snprintf(v + o, sizeof(v) - o, "%s%s", t ? "," : "",
							      l ? s->local_ts[t] : s->remote_ts[t]);
			} else if (!strcmp(k, "mark")) {
				snprintf(v, sizeof(v), "0x%" PRIx32 "/0x%" PRIx32, s->mark, s->mark_mask);
			} else if (!strcmp(k, "if-id")) {
				snprintf(v, sizeof(v), "%" PRIu32, s->if_id);
			} else if (!strcmp(k, "ike-proposals") || !strcmp(k, "esp-proposals")) {
				snprintf(v, sizeof(v), "%s", k[0] == 'i' ? s->ike_proposals :
					 s->esp_proposals);
			} else {
				uint32_t x = !strcmp(k, "ike-lifetime") ? s->ike_lifetime_s :
					     !strcmp(k, "child-lifetime") ? s->child_lifetime_s :
					     !strcmp(k, "ike-rekey") ? s->ike_rekey_s :
					     !strcmp(k, "child-rekey") ? s->child_rekey_s :
					     !strcmp(k, "max-child-sas") ? s->max_child_sas :
					     s->dpd_interval_s;

				snprintf(v, sizeof(v), "%" PRIu32, x);
			}
			put_field(f, v, c + 1 == N_COLUMNS);
		}
	}
	sodium_memzero(v, sizeof(v));
	return fclose(f) == 0 ? 0 : -ENOMEM;
}
