/*
 * Replies for people (tables, "key: value" lines) and for scripts (JSON, RFC 8259). Every
 * byte comes from the daemon: it is escaped for JSON and cleaned for a terminal.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "xfrmctl.h"

/* The length of the UTF-8 sequence at p (RFC 3629: no overlongs, no surrogates), 0 if bad. */
static size_t utf8_len(const uint8_t *p, size_t n)
{
	uint8_t c = p[0];
	size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;

	if (len == 0 || len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if ((len == 2 && c < 0xc2) || (len == 3 && c == 0xe0 && p[1] < 0xa0) ||
	    (len == 3 && c == 0xed && p[1] >= 0xa0) || (len == 4 && c == 0xf0 && p[1] < 0x90) ||
	    (len == 4 && c > 0xf4) || (len == 4 && c == 0xf4 && p[1] >= 0x90))
		return 0;
	return len;
}

void xo_json_string(FILE *f, const void *v, size_t n)
{
	const uint8_t *p = v;

	fputc('"', f);
	for (size_t i = 0; i < n;) {
		uint8_t c = p[i];
		size_t len = utf8_len(p + i, n - i);

		if (len == 0) {
			fputs("\\ufffd", f);	/* not UTF-8: the replacement character */
			i++;
			continue;
		}
		if (len > 1) {
			fwrite(p + i, 1, len, f);
		} else if (c == '"' || c == '\\') {
			fputc('\\', f);
			fputc(c, f);
		} else if (c == '\n') {
			fputs("\\n", f);
		} else if (c == '\t') {
			fputs("\\t", f);
		} else if (c == '\r') {
			fputs("\\r", f);
		} else if (c == '\b') {
			fputs("\\b", f);
		} else if (c == '\f') {
			fputs("\\f", f);
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c);
		} else {
			fputc(c, f);
		}
		i += len;
	}
	fputc('"', f);
}

void xo_json_key(FILE *f, const char *key)
{
	size_t n = strlen(key);
	char *k = malloc(n + 1);

	if (!k) {
		xo_json_string(f, key, n);
		return;
	}
	for (size_t i = 0; i <= n; i++)
		k[i] = key[i] == '-' ? '_' : key[i];
	xo_json_string(f, k, n);
	free(k);
}

enum xo_kind xo_key_kind(const char *key)
{
	static const char *const numbers[] = {
		"total", "page", "page-size", "if-id", "ike-lifetime", "child-lifetime",
		"ike-rekey", "child-rekey", "dpd-interval", "max-child-sas", "sites", "pops",
		"rows", "added", "changed", "unchanged", "ike-sas", "child-sas", "half-open",
		"auth-failed", "cookies-sent", "ike-received", "ike-sent", "ike-dropped", "bad-icv",
		"health-checks", "health-failures", "health-refused", "dh-workers", "dh-pairs-ahead",
		"dh-pairs-here", "dh-keys-later", "ike-auth-held",
	};
	static const char *const prefixes[] = { "sites-", "bytes-", "packets-", "tunnels-" };
	static const char *const suffixes[] = {
		"-kbps", "-bytes", "-packets", "-s", "-ms", "-count", "-port",
	};
	/* Fields that are always yes or no ("kernel-esp" may carry a reason: a string). */
	static const char *const bools[] = {
		"enabled", "accepting", "vendor-rules", "psk-short", "dry-run", "active", "installed",
		"nat",
	};
	static const char *const lists[] = { "backups", "local-ts", "remote-ts", "listen" };
	size_t kl = strlen(key);

	for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++)
		if (!strcmp(key, numbers[i]))
			return XO_NUMBER;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (kl > strlen(prefixes[i]) && !strncmp(key, prefixes[i], strlen(prefixes[i])))
			return XO_NUMBER;
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		size_t sl = strlen(suffixes[i]);

		if (kl > sl && !strcmp(key + kl - sl, suffixes[i]))
			return XO_NUMBER;
	}
	for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++)
		if (!strcmp(key, bools[i]))
			return XO_BOOL;
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		if (!strcmp(key, lists[i]))
			return XO_LIST;
	return XO_STRING;
}

/* A JSON number as the daemon writes them: an integer, no leading zeros, no sign but '-'. */
static bool json_integer(const uint8_t *p, size_t n)
{
	size_t i = n && p[0] == '-' ? 1 : 0;

	if (i == n || n > 20 || (p[i] == '0' && n > i + 1))
		return false;
	for (; i < n; i++)
		if (!isdigit(p[i]))
			return false;
	return true;
}

static bool is_word(const uint8_t *p, size_t n, const char *w)
{
	return n == strlen(w) && !memcmp(p, w, n);
}

void xo_json_value(FILE *f, const char *key, const void *v, size_t n)
{
	const uint8_t *p = v;

	switch (xo_key_kind(key)) {
	case XO_NUMBER:
		if (json_integer(p, n)) {
			fwrite(p, 1, n, f);
			return;
		}
		break;
	case XO_BOOL:
		if (is_word(p, n, "yes") || is_word(p, n, "true")) {
			fputs("true", f);
			return;
		}
		if (is_word(p, n, "no") || is_word(p, n, "false")) {
			fputs("false", f);
			return;
		}
		break;
	case XO_LIST:
		fputc('[', f);
		for (size_t i = 0, start = 0; n && i <= n; i++) {
			if (i < n && p[i] != ',')
				continue;
			if (start)
				fputs(", ", f);
			xo_json_string(f, p + start, i - start);
			start = i + 1;
		}
		fputc(']', f);
		return;
	case XO_STRING:
		break;
	}
	xo_json_string(f, p, n);
}

/* Whether the code point at p (len bytes) is a C0/C1 control or DEL. */
static bool control(const uint8_t *p, size_t len)
{
	return (len == 1 && (p[0] < 0x20 || p[0] == 0x7f)) ||
	       (len == 2 && p[0] == 0xc2 && p[1] < 0xa0);
}

void xo_text(FILE *f, const void *v, size_t n)
{
	const uint8_t *p = v;

	for (size_t i = 0; i < n;) {
		size_t len = utf8_len(p + i, n - i);

		if (len == 0 || control(p + i, len))
			fputc('?', f);
		else
			fwrite(p + i, 1, len, f);
		i += len ? len : 1;
	}
}

size_t xo_width(const void *v, size_t n)
{
	const uint8_t *p = v;
	size_t w = 0;

	for (size_t i = 0; i < n; w++) {
		size_t len = utf8_len(p + i, n - i);

		i += len ? len : 1;
	}
	return w;
}

int xo_row_decode(const struct ctl_attr *row, struct xo_row *ret)
{
	size_t max = row->len / CTL_HEADER_LEN + 1;	/* an attribute takes at least 6 bytes */
	int rc;

	ret->n = 0;
	ret->attrs = calloc(max, sizeof(*ret->attrs));
	if (!ret->attrs)
		return -ENOMEM;
	rc = ctl_row_decode(row, ret->attrs, max, &ret->n);
	if (rc < 0) {
		free(ret->attrs);
		ret->attrs = NULL;
		ret->n = 0;
	}
	return rc;
}

void xo_row_free(struct xo_row *r)
{
	free(r->attrs);
	r->attrs = NULL;
	r->n = 0;
}

int xo_get(const struct ctl_attr *attrs, size_t n, const char *key, const uint8_t **ret,
	   size_t *ret_len)
{
	for (size_t i = 0; i < n; i++) {
		const char *k;

		if (attrs[i].type == CTL_A_KV && ctl_attr_kv(&attrs[i], &k, ret, ret_len) == 0 &&
		    !strcmp(k, key))
			return 1;
	}
	return 0;
}

const char *xo_get_str(const struct ctl_attr *attrs, size_t n, const char *key, char *buf,
		       size_t len)
{
	const uint8_t *v;
	size_t vl;

	buf[0] = '\0';
	if (len && xo_get(attrs, n, key, &v, &vl)) {
		vl = vl < len - 1 ? vl : len - 1;
		memcpy(buf, v, vl);
		buf[vl] = '\0';
		/* A NUL inside ends the string: it is only ever shown or compared. */
	}
	return buf;
}

/* The members of one object: its KVs (the first of a key only), and nested rows. */
static int json_members(FILE *f, const struct ctl_attr *attrs, size_t n, const char *rows_key,
			const char *sub_key, const char *indent, bool multiline)
{
	const char *sep = multiline ? ",\n" : ", ";
	bool first = true, rows = false;
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		const uint8_t *v;
		const char *k;
		size_t vl;
		bool seen = false;

		if (attrs[i].type == CTL_A_ROW)
			rows = true;
		if (attrs[i].type != CTL_A_KV || ctl_attr_kv(&attrs[i], &k, &v, &vl) < 0)
			continue;
		for (size_t j = 0; j < i && !seen; j++) {
			const uint8_t *v2;
			const char *k2;
			size_t vl2;

			seen = attrs[j].type == CTL_A_KV &&
			       ctl_attr_kv(&attrs[j], &k2, &v2, &vl2) == 0 && !strcmp(k, k2);
		}
		if (seen)
			continue;
		fprintf(f, "%s%s", first ? "" : sep, multiline ? indent : "");
		xo_json_key(f, k);
		fputs(": ", f);
		xo_json_value(f, k, v, vl);
		first = false;
	}
	if (!rows_key)
		return 0;
	fprintf(f, "%s%s", first ? "" : sep, multiline ? indent : "");
	xo_json_key(f, rows_key);
	fputs(": [", f);
	first = true;
	for (size_t i = 0; rows && rc == 0 && i < n; i++) {
		struct xo_row r;

		if (attrs[i].type != CTL_A_ROW)
			continue;
		rc = xo_row_decode(&attrs[i], &r);
		if (rc < 0)
			break;
		fprintf(f, "%s%s%s%s{", first ? "" : ",", multiline ? "\n" : "",
			multiline ? indent : "", multiline ? "  " : "");
		rc = json_members(f, r.attrs, r.n, sub_key, NULL, "", false);
		fputc('}', f);
		xo_row_free(&r);
		first = false;
	}
	fprintf(f, "%s%s]", !first && multiline ? "\n" : "", !first && multiline ? indent : "");
	return rc;
}

int xo_json_object(FILE *f, const struct ctl_attr *attrs, size_t n, const char *rows_key,
		   const char *sub_key)
{
	int rc;

	fputs("{\n", f);
	rc = json_members(f, attrs, n, rows_key, sub_key, "  ", true);
	fputs("\n}\n", f);
	return rc;
}

/* A cell: the value cleaned for a terminal (malloc'd). */
static char *cell(const struct xo_row *r, const struct xo_col *c)
{
	const uint8_t *v = NULL;
	size_t vl = 0, len = 0;
	char *out = NULL;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		return NULL;
	if (!xo_get(r->attrs, r->n, c->key, &v, &vl) || vl == 0) {
		vl = 0;
		if (c->fallback)
			xo_get(r->attrs, r->n, c->fallback, &v, &vl);
	}
	if (vl) {
		xo_text(f, v, vl);
		if (c->suffix)
			fputs(c->suffix, f);
	} else if (c->empty) {
		fputs(c->empty, f);
	}
	if (fclose(f) != 0)
		return NULL;
	return out;
}

int xo_table(FILE *f, const struct xo_row *rows, size_t n_rows, const struct xo_col *cols,
	     size_t n_cols)
{
	char **cells = calloc(n_rows * n_cols + 1, sizeof(*cells));
	size_t *width = calloc(n_cols + 1, sizeof(*width));
	int rc = 0;

	if (!cells || !width) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t c = 0; c < n_cols; c++)
		width[c] = xo_width(cols[c].header, strlen(cols[c].header));
	for (size_t r = 0; r < n_rows; r++)
		for (size_t c = 0; c < n_cols; c++) {
			char *s = cell(&rows[r], &cols[c]);
			size_t w;

			if (!s) {
				rc = -ENOMEM;
				goto out;
			}
			cells[r * n_cols + c] = s;
			w = xo_width(s, strlen(s));
			width[c] = w > width[c] ? w : width[c];
		}
	for (size_t r = 0; r <= n_rows; r++)
		for (size_t c = 0; c < n_cols; c++) {
			const char *s = r ? cells[(r - 1) * n_cols + c] : cols[c].header;
			size_t pad = width[c] - xo_width(s, strlen(s));

			fputs(s, f);
			if (c + 1 == n_cols) {
				fputc('\n', f);
				continue;
			}
			fprintf(f, "%*s", (int)(pad + 2), "");
		}
out:
	for (size_t i = 0; cells && i < n_rows * n_cols; i++)
		free(cells[i]);
	free(cells);
	free(width);
	return rc;
}

/* "throughput-kbps" -> "THROUGHPUT KBPS" */
static char *header_of(const char *key)
{
	char *h = strdup(key);

	for (char *p = h; p && *p; p++)
		*p = *p == '-' ? ' ' : (char)toupper((unsigned char)*p);
	return h;
}

int xo_cols_of(const struct xo_row *rows, size_t n_rows, struct xo_col **ret, size_t *ret_n)
{
	struct xo_col *cols = NULL;
	size_t n = 0;

	for (size_t r = 0; r < n_rows; r++)
		for (size_t i = 0; i < rows[r].n; i++) {
			const uint8_t *v;
			const char *k;
			size_t vl, c;
			struct xo_col *more;

			if (rows[r].attrs[i].type != CTL_A_KV ||
			    ctl_attr_kv(&rows[r].attrs[i], &k, &v, &vl) < 0)
				continue;
			for (c = 0; c < n && strcmp(cols[c].key, k); c++)
				;
			if (c < n)
				continue;
			more = realloc(cols, (n + 1) * sizeof(*cols));
			if (!more)
				goto nomem;
			cols = more;
			cols[n] = (struct xo_col){ .empty = "-" };
			cols[n].key = cols[n].name = strdup(k);
			cols[n].header = header_of(k);
			n++;
			if (!cols[n - 1].key || !cols[n - 1].header)
				goto nomem;
		}
	*ret = cols;
	*ret_n = n;
	return 0;
nomem:
	xo_cols_free(cols, n);
	return -ENOMEM;
}

void xo_cols_free(struct xo_col *cols, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)cols[i].key);
		free((char *)cols[i].header);
	}
	free(cols);
}

void xo_fields(FILE *f, const struct ctl_attr *attrs, size_t n, const char *indent)
{
	size_t w = 0;

	for (size_t i = 0; i < n; i++) {
		const uint8_t *v;
		const char *k;
		size_t vl;

		if (attrs[i].type == CTL_A_KV && ctl_attr_kv(&attrs[i], &k, &v, &vl) == 0 &&
		    strlen(k) > w)
			w = strlen(k);
	}
	for (size_t i = 0; i < n; i++) {
		const uint8_t *v;
		const char *k;
		size_t vl;

		if (attrs[i].type != CTL_A_KV || ctl_attr_kv(&attrs[i], &k, &v, &vl) < 0)
			continue;
		fputs(indent, f);
		xo_text(f, k, strlen(k));
		fprintf(f, ":%*s", (int)(w - strlen(k) + 1), "");
		if (vl)
			xo_text(f, v, vl);
		else
			fputc('-', f);
		fputc('\n', f);
	}
}

int xo_rows_of(const struct ctl_attr *attrs, size_t n, struct xo_row **ret, size_t *ret_n)
{
	struct xo_row *rows = calloc(n + 1, sizeof(*rows));
	size_t k = 0;

	if (!rows)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (attrs[i].type != CTL_A_ROW)
			continue;
		if (xo_row_decode(&attrs[i], &rows[k]) < 0) {
			xo_rows_free(rows, k);
			return -EBADMSG;
		}
		k++;
	}
	*ret = rows;
	*ret_n = k;
	return 0;
}

void xo_rows_free(struct xo_row *rows, size_t n)
{
	for (size_t i = 0; rows && i < n; i++)
		xo_row_free(&rows[i]);
	free(rows);
}
