/* The strict exposition format reader (see prom_check.h). */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prom_check.h"

#define NAME_MAX_LEN	200
#define LABELS_MAX	32
#define VALUE_MAX_LEN	1024

struct family {
	char name[NAME_MAX_LEN + 1];
	bool help, type, counter, samples;
};

struct label {
	char name[NAME_MAX_LEN + 1];
	char value[VALUE_MAX_LEN + 1];
};

struct check {
	struct family *fams;
	size_t n_fams, cap_fams;
	struct family *cur;		/* the family of the previous line */
	char **series;			/* "name\0label=value\1..." of every sample seen */
	size_t n_series, cap_series;
	size_t line;
	char *err;
	size_t err_len;
};

__attribute__((format(printf, 2, 3)))
static int bad(struct check *c, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(c->err, c->err_len, "line %zu: ", c->line);

	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < c->err_len)
		vsnprintf(c->err + n, c->err_len - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static bool name_start(char ch, bool colon)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
	       (colon && ch == ':');
}

static bool name_char(char ch, bool colon)
{
	return name_start(ch, colon) || (ch >= '0' && ch <= '9');
}

/* A metric (colon) or label name at *p, copied into out; *p moved past it. */
static int read_name(struct check *c, const char **p, const char *end, bool colon, char *out,
		     const char *what)
{
	const char *s = *p;

	if (s == end || !name_start(*s, colon))
		return bad(c, "%s expected", what);
	while (s < end && name_char(*s, colon))
		s++;
	if ((size_t)(s - *p) > NAME_MAX_LEN)
		return bad(c, "%s longer than %d characters", what, NAME_MAX_LEN);
	memcpy(out, *p, (size_t)(s - *p));
	out[s - *p] = '\0';
	*p = s;
	return 0;
}

/* The length of the valid UTF-8 sequence at p, 0 if it is not one (RFC 3629). */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

/* A quoted label value at *p (the opening quote included), unescaped into out. */
static int read_value(struct check *c, const char **p, const char *end, char *out)
{
	const char *s = *p;
	size_t n = 0;

	if (s == end || *s != '"')
		return bad(c, "a label value must be in double quotes");
	for (s++; s < end && *s != '"'; ) {
		unsigned char ch = (unsigned char)*s;
		size_t k;

		if (n + 4 > VALUE_MAX_LEN)
			return bad(c, "a label value longer than %d bytes", VALUE_MAX_LEN);
		if (ch == '\\') {
			if (s + 1 == end)
				return bad(c, "a label value ends in a backslash");
			if (s[1] == '\\' || s[1] == '"')
				out[n++] = s[1];
			else if (s[1] == 'n')
				out[n++] = '\n';
			else
				return bad(c, "'\\%c' is not an escape of the format", s[1]);
			s += 2;
			continue;
		}
		if (ch < 0x20 || ch == 0x7f)
			return bad(c, "a control character (0x%02x) in a label value", ch);
		k = utf8_len((const unsigned char *)s, (size_t)(end - s));
		if (k == 0)
			return bad(c, "a label value that is not UTF-8");
		memcpy(out + n, s, k);
		n += k;
		s += k;
	}
	if (s == end)
		return bad(c, "a label value without its closing quote");
	out[n] = '\0';
	*p = s + 1;
	return 0;
}

/* [+-]digits[.digits][e[+-]digits], NaN, +Inf or -Inf: the whole of [s, end). */
static int read_number(struct check *c, const char *s, const char *end, double *ret)
{
	const char *p = s;
	char buf[64];
	bool digits = false;

	if ((size_t)(end - s) >= sizeof(buf))
		return bad(c, "a value of %zu characters", (size_t)(end - s));
	memcpy(buf, s, (size_t)(end - s));
	buf[end - s] = '\0';
	if (!strcmp(buf, "NaN") || !strcmp(buf, "+Inf") || !strcmp(buf, "-Inf")) {
		*ret = strtod(buf, NULL);
		return 0;
	}
	if (p < end && (*p == '+' || *p == '-'))
		p++;
	for (; p < end && *p >= '0' && *p <= '9'; p++)
		digits = true;
	if (p < end && *p == '.')
		for (p++; p < end && *p >= '0' && *p <= '9'; p++)
			digits = true;
	if (digits && p < end && (*p == 'e' || *p == 'E')) {
		bool exp = false;

		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		for (; p < end && *p >= '0' && *p <= '9'; p++)
			exp = true;
		digits = exp;
	}
	if (!digits || p != end)
		return bad(c, "'%s' is not a sample value", buf);
	*ret = strtod(buf, NULL);
	return 0;
}

static struct family *family(struct check *c, const char *name, bool create)
{
	for (size_t i = 0; i < c->n_fams; i++)
		if (!strcmp(c->fams[i].name, name))
			return &c->fams[i];
	if (!create)
		return NULL;
	if (c->n_fams == c->cap_fams) {
		size_t cap = c->cap_fams ? 2 * c->cap_fams : 32;
		struct family *v = realloc(c->fams, cap * sizeof(*v));

		if (!v)
			return NULL;
		/* c->cur points into the array: move it along. */
		if (c->cur)
			c->cur = v + (c->cur - c->fams);
		c->fams = v;
		c->cap_fams = cap;
	}
	memset(&c->fams[c->n_fams], 0, sizeof(c->fams[0]));
	snprintf(c->fams[c->n_fams].name, sizeof(c->fams[0].name), "%s", name);
	return &c->fams[c->n_fams++];
}

/* The family a line is about: it must be the previous line's, or one not seen yet. */
static struct family *enter(struct check *c, const char *name)
{
	struct family *f = family(c, name, false);

	if (f && f != c->cur) {
		bad(c, "'%s' again after another family's lines", name);
		return NULL;
	}
	if (!f && !(f = family(c, name, true))) {
		bad(c, "out of memory");
		return NULL;
	}
	c->cur = f;
	return f;
}

static int comment(struct check *c, const char *s, const char *end)
{
	char name[NAME_MAX_LEN + 1];
	bool help;
	struct family *f;

	if (end - s >= 7 && !memcmp(s, "# HELP ", 7))
		help = true;
	else if (end - s >= 7 && !memcmp(s, "# TYPE ", 7))
		help = false;
	else
		return bad(c, "a comment that is not # HELP or # TYPE");
	s += 7;
	if (read_name(c, &s, end, true, name, "a metric name") < 0)
		return -1;
	if (s == end || *s != ' ')
		return bad(c, "'%s': one space expected after the name", name);
	s++;
	if (!(f = enter(c, name)))
		return -1;
	if (f->samples)
		return bad(c, "# %s of '%s' after its samples", help ? "HELP" : "TYPE", name);
	if (help) {
		if (f->help)
			return bad(c, "a second # HELP for '%s'", name);
		for (const char *p = s; p < end; p++)
			if (*p == '\\' && (p + 1 == end || (p[1] != '\\' && p[1] != 'n')))
				return bad(c, "# HELP of '%s': a stray backslash", name);
			else if (*p == '\\')
				p++;
		f->help = true;
		return 0;
	}
	if (f->type)
		return bad(c, "a second # TYPE for '%s'", name);
	if ((size_t)(end - s) == 7 && !memcmp(s, "counter", 7))
		f->counter = true;
	else if (!((size_t)(end - s) == 5 && !memcmp(s, "gauge", 5)))
		return bad(c, "# TYPE of '%s': '%.*s' (ikd writes counter or gauge)", name,
			   (int)(end - s), s);
	if (f->counter && (strlen(name) < 6 || strcmp(name + strlen(name) - 6, "_total")))
		return bad(c, "counter '%s' does not end in _total", name);
	f->type = true;
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct label *)a)->name, ((const struct label *)b)->name);
}

/* The series' identity: the name and the labels sorted, unambiguously joined. */
static int remember(struct check *c, const char *name, struct label *labels, size_t n)
{
	size_t len = strlen(name) + 2, o;
	char *key;

	qsort(labels, n, sizeof(*labels), by_name);
	for (size_t i = 0; i < n; i++) {
		if (i && !strcmp(labels[i].name, labels[i - 1].name))
			return bad(c, "label '%s' twice", labels[i].name);
		len += strlen(labels[i].name) + strlen(labels[i].value) + 2;
	}
	key = malloc(len);
	if (!key)
		return bad(c, "out of memory");
	o = (size_t)sprintf(key, "%s", name) + 1;
	for (size_t i = 0; i < n; i++)
		/* A label value holds no control character: \1 and \2 cannot be in one. */
		o += (size_t)sprintf(key + o, "%s\1%s\2", labels[i].name, labels[i].value);
	key[o] = '\0';
	if (c->n_series == c->cap_series) {
		size_t cap = c->cap_series ? 2 * c->cap_series : 256;
		char **v = realloc(c->series, cap * sizeof(*v));

		if (!v) {
			free(key);
			return bad(c, "out of memory");
		}
		c->series = v;
		c->cap_series = cap;
	}
	c->series[c->n_series++] = key;
	return 0;
}

static int sample(struct check *c, const char *s, const char *end)
{
	char name[NAME_MAX_LEN + 1];
	struct label *labels = calloc(LABELS_MAX, sizeof(*labels));
	size_t n = 0;
	struct family *f;
	double v = 0;
	int rc = -1;

	if (!labels)
		return bad(c, "out of memory");
	if (read_name(c, &s, end, true, name, "a metric name") < 0)
		goto out;
	if (s < end && *s == '{') {
		s++;
		for (;;) {
			if (n == LABELS_MAX) {
				bad(c, "more than %d labels", LABELS_MAX);
				goto out;
			}
			if (read_name(c, &s, end, false, labels[n].name, "a label name") < 0)
				goto out;
			if (!strncmp(labels[n].name, "__", 2)) {
				bad(c, "label '%s' is reserved", labels[n].name);
				goto out;
			}
			if (s == end || *s != '=') {
				bad(c, "'=' expected after label '%s'", labels[n].name);
				goto out;
			}
			s++;
			if (read_value(c, &s, end, labels[n].value) < 0)
				goto out;
			n++;
			if (s < end && *s == ',') {
				s++;
				continue;
			}
			if (s < end && *s == '}') {
				s++;
				break;
			}
			bad(c, "',' or '}' expected after a label");
			goto out;
		}
	}
	if (s == end || *s != ' ' || s + 1 == end || s[1] == ' ') {
		bad(c, "'%s': one space and a value expected", name);
		goto out;
	}
	s++;
	if (memchr(s, ' ', (size_t)(end - s))) {
		bad(c, "'%s': something after the value (ikd writes no timestamps)", name);
		goto out;
	}
	if (read_number(c, s, end, &v) < 0)
		goto out;
	if (!(f = enter(c, name)))
		goto out;
	if (!f->type || !f->help) {
		bad(c, "a sample of '%s' before its # %s", name, f->type ? "HELP" : "TYPE");
		goto out;
	}
	if (f->counter && !(v >= 0)) {
		bad(c, "counter '%s' has value %g", name, v);
		goto out;
	}
	f->samples = true;
	rc = remember(c, name, labels, n);
out:
	free(labels);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	int r = strcmp(x, y);

	/* The name ends at the first NUL; the labels follow it. */
	return r ? r : strcmp(x + strlen(x) + 1, y + strlen(y) + 1);
}

static long finish(struct check *c)
{
	if (c->n_series > 1)
		qsort(c->series, c->n_series, sizeof(*c->series), cmp_str);
	for (size_t i = 1; i < c->n_series; i++)
		if (!cmp_str(&c->series[i - 1], &c->series[i])) {
			snprintf(c->err, c->err_len, "two samples of '%s' with the same labels",
				 c->series[i]);
			return -1;
		}
	return (long)c->n_series;
}

long prom_check(const char *text, size_t len, char *err, size_t err_len)
{
	struct check c = { .err = err, .err_len = err_len };
	const char *p = text, *end = text + len;
	long rc = -1;

	if (err_len)
		err[0] = '\0';
	if (len && text[len - 1] != '\n') {
		c.line = 1;
		for (const char *q = text; q < end; q++)
			c.line += *q == '\n';
		bad(&c, "the last line does not end in a line feed");
		goto out;
	}
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		c.line++;
		if (eol == p) {
			bad(&c, "an empty line");
			goto out;
		}
		if (memchr(p, '\0', (size_t)(eol - p))) {
			bad(&c, "a NUL byte");
			goto out;
		}
		if ((*p == '#' ? comment(&c, p, eol) : sample(&c, p, eol)) < 0)
			goto out;
		p = eol + 1;
	}
	rc = finish(&c);
out:
	for (size_t i = 0; i < c.n_series; i++)
		free(c.series[i]);
	free(c.series);
	free(c.fams);
	return rc;
}
