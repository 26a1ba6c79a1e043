/* The RFC 4180 reader, in chunks (see csv.h); the import and export are csv.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "site/csv.h"

/* The length of the valid UTF-8 at the start of p: len when all of it is. */
static size_t utf8_prefix(const unsigned char *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = p[i];
		size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;

		if (n == 0 || i + n > len || c == 0)
			return i;
		for (size_t k = 1; k < n; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return i;
		/* Overlong two-byte forms and surrogates are not UTF-8. */
		if ((n == 2 && c < 0xc2) || (n == 3 && c == 0xed && p[i + 1] >= 0xa0) ||
		    (n == 3 && c == 0xe0 && p[i + 1] < 0xa0) || (n == 4 && c == 0xf0 && p[i + 1] < 0x90) ||
		    (n == 4 && c > 0xf4))
			return i;
		i += n;
	}
	return len;
}

void csv_reader_init(struct csv_reader *r, csv_record_fn fn, void *arg)
{
	memset(r, 0, sizeof(*r));
	r->fn = fn;
	r->arg = arg;
	r->line = 1;
	r->field_start = true;
}

void csv_reader_clear(struct csv_reader *r)
{
	if (r->buf) {
		sodium_memzero(r->buf, r->cap);
		free(r->buf);
	}
	if (r->fields) {
		sodium_memzero(r->fields, r->fields_cap);
		free(r->fields);
	}
	r->buf = r->fields = NULL;
	r->len = r->cap = r->fields_cap = 0;
}

static int reader_fail(struct csv_reader *r, int rc, unsigned line, const char *why)
{
	r->rc = rc;
	r->err_line = line;
	r->reason = why;
	return rc;
}

static unsigned count_lines(const char *p, size_t n)
{
	unsigned k = 0;

	for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))); p++)
		k++;
	return k;
}

/* One record, text[0..len) (its line break included): split into fields, handed to fn. */
static int parse_record(struct csv_reader *r, const char *text, size_t len)
{
	char *fields[CSV_MAX_COLUMNS];
	size_t n = 0, out = 0, i = 0, good = utf8_prefix((const unsigned char *)text, len);
	unsigned line = r->line;
	char *buf;
	int rc;

	if (good < len)
		return reader_fail(r, -EBADMSG, line + count_lines(text, good),
				   "not UTF-8 text: save it as \"CSV UTF-8\" (Excel) or convert it "
				   "(iconv -f WINDOWS-1252 -t UTF-8)");
	if (++r->rows > CSV_MAX_ROWS + 1)
		return reader_fail(r, -EMSGSIZE, line, "more rows than allowed");
	if (len + CSV_MAX_COLUMNS + 1 > r->fields_cap) {
		size_t cap = len + CSV_MAX_COLUMNS + 1 > 4096 ? len + CSV_MAX_COLUMNS + 1 : 4096;

		buf = malloc(cap);
		if (!buf)
			return reader_fail(r, -ENOMEM, line, "out of memory");
		if (r->fields) {
			sodium_memzero(r->fields, r->fields_cap);
			free(r->fields);
		}
		r->fields = buf;
		r->fields_cap = cap;
	}
	buf = r->fields;
#define BAD(rc_, why) return reader_fail(r, (rc_), line, (why))
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
		if (i < len)
			BAD(-EBADMSG, "a CR not followed by LF");
	}
#undef BAD
	r->line += count_lines(text, len);
	/* A blank line is not a record. */
	if (n == 0 || (n == 1 && fields[0][0] == '\0'))
		return 0;
	rc = r->fn(r->arg, line, fields, n);
	if (rc < 0)
		return reader_fail(r, rc, line, "stopped");
	return 0;
}

/*
 * The complete records of text[0..len): parsed, the bytes they took returned. The scan for
 * a record's end goes on from r->scan with the state it had there, so a long record that
 * arrives in many chunks is scanned once. With final, what is left is the last record.
 */
static size_t take_records(struct csv_reader *r, const char *text, size_t len, bool final)
{
	size_t start = 0, i = r->scan;

	if (!r->bom_checked) {
		if (len < 3 && !final)
			return 0;
		r->bom_checked = true;
		if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
			start = i = 3;
	}
	for (; i < len && r->rc == 0; i++) {
		char c = text[i];

		if (r->in_quotes) {
			if (c == '"') {
				r->in_quotes = false;
				r->after_quote = true;
			}
			continue;
		}
		if (c == '"') {
			/* Opens a quoted field, or is "" inside one; elsewhere the parser says. */
			if (r->field_start || r->after_quote)
				r->in_quotes = true;
			r->field_start = r->after_quote = false;
		} else if (c == ',') {
			r->field_start = true;
			r->after_quote = false;
		} else if (c == '\n') {
			parse_record(r, text + start, i + 1 - start);
			start = i + 1;
			r->field_start = true;
			r->after_quote = false;
		} else {
			r->field_start = r->after_quote = false;
		}
	}
	if (r->rc == 0 && final && start < len) {
		parse_record(r, text + start, len - start);
		start = len;
	}
	r->scan = len - start;
	return r->rc == 0 ? start : len;
}

static int reader_keep(struct csv_reader *r, const char *p, size_t n)
{
	if (r->len + n > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		char *b;

		while (cap < r->len + n)
			cap *= 2;
		b = malloc(cap);
		if (!b)
			return reader_fail(r, -ENOMEM, r->line, "out of memory");
		if (r->buf) {
			memcpy(b, r->buf, r->len);
			sodium_memzero(r->buf, r->cap);
			free(r->buf);
		}
		r->buf = b;
		r->cap = cap;
	}
	memcpy(r->buf + r->len, p, n);
	r->len += n;
	return 0;
}

static int reader_run(struct csv_reader *r, const char *p, size_t n, bool final)
{
	size_t used;

	if (r->rc < 0)
		return r->rc;
	if (r->len == 0) {
		/* Nothing pending: records straight from the input, the rest kept. */
		used = take_records(r, p, n, final);
		if (r->rc == 0 && used < n)
			reader_keep(r, p + used, n - used);
	} else {
		if (reader_keep(r, p, n) < 0)
			return r->rc;
		used = take_records(r, r->buf, r->len, final);
		sodium_memzero(r->buf, used);
		memmove(r->buf, r->buf + used, r->len - used);
		r->len -= used;
		sodium_memzero(r->buf + r->len, used);
	}
	if (r->rc == 0 && r->len > CSV_MAX_RECORD)
		return reader_fail(r, -EMSGSIZE, r->line, "a record longer than allowed (a quote "
				   "not closed?)");
	return r->rc;
}

int csv_reader_feed(struct csv_reader *r, const char *p, size_t len)
{
	return reader_run(r, p, len, false);
}

int csv_reader_end(struct csv_reader *r)
{
	return reader_run(r, "", 0, true);
}

int csv_read(const char *text, size_t len, csv_record_fn fn, void *arg, unsigned *ret_line,
	     const char **ret_reason)
{
	struct csv_reader r;
	int rc;

	csv_reader_init(&r, fn, arg);
	rc = csv_reader_feed(&r, text, len);
	rc = rc ?: csv_reader_end(&r);
	*ret_line = rc < 0 ? r.err_line : 1;
	*ret_reason = rc < 0 ? r.reason : NULL;
	csv_reader_clear(&r);
	return rc;
}
