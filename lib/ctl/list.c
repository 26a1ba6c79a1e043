/* `site list` and the bulk verbs: filters, sort, pages (see list.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ctl/ctl.h"
#include "ctl/list.h"

/* The keys a reply row has, and the console's two column names for runtime fields. */
static const char *const sort_keys[] = {
	"name", "id", "id-type", "source-ip", "psk", "primary", "backups", "traffic", "enabled",
	"local-ts", "remote-ts", "mark", "if-id", "ike-proposals", "esp-proposals",
	"ike-lifetime", "child-lifetime", "ike-rekey", "child-rekey", "dpd-interval",
	"max-child-sas", "vendor-rules", "status", "active-pop", "throughput-kbps", "pop",
	"throughput",
};
#define N_SORT_KEYS (sizeof(sort_keys) / sizeof(sort_keys[0]))

__attribute__((format(printf, 4, 5)))
static int fail(char *err, size_t len, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && len) {
		va_start(ap, fmt);
		vsnprintf(err, len, fmt, ap);
		va_end(ap);
	}
	return rc;
}

void ctl_list_query_init(struct ctl_list_query *q)
{
	memset(q, 0, sizeof(*q));
	q->traffic = -1;
	q->enabled = -1;
	q->page = 1;
	q->page_size = CTL_PAGE_SIZE_DEFAULT;
}

static int parse_u64(const char *v, uint64_t max, uint64_t *ret)
{
	unsigned long long u;
	char *end;

	if (!*v || *v < '0' || *v > '9')
		return -EINVAL;
	errno = 0;
	u = strtoull(v, &end, 10);
	if (errno || *end || u > max)
		return -EINVAL;
	*ret = u;
	return 0;
}

/* "dynamic", an address (all its bits), or ADDRESS/PREFIX with no host bits set. */
static int parse_source(struct ctl_list_query *q, const char *v)
{
	char buf[SITE_ADDR_MAX + 4];
	const char *slash = strchr(v, '/');
	unsigned max;
	uint64_t bits;

	if (!strcmp(v, "dynamic")) {
		q->src = 1;
		return 0;
	}
	if (strlen(v) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, v);
	if (slash)
		buf[slash - v] = '\0';
	memset(q->src_addr, 0, sizeof(q->src_addr));
	if (inet_pton(AF_INET, buf, q->src_addr) == 1)
		q->src = AF_INET;
	else if (inet_pton(AF_INET6, buf, q->src_addr) == 1)
		q->src = AF_INET6;
	else
		return -EINVAL;
	max = q->src == AF_INET ? 32 : 128;
	if (slash && parse_u64(slash + 1, max, &bits) < 0)
		return -EINVAL;
	q->src_prefix = slash ? (unsigned)bits : max;
	for (unsigned b = q->src_prefix; b < max; b++)
		if (q->src_addr[b / 8] & (0x80 >> (b % 8)))
			return -EINVAL;	/* host bits set: say so rather than guess */
	return 0;
}

/* LOW-HIGH, LOW- or -HIGH, in Kbps. */
static int parse_range(struct ctl_list_query *q, const char *v)
{
	const char *dash = strchr(v, '-');
	char low[24];
	size_t ll;

	if (!dash || (dash == v && !dash[1]))
		return -EINVAL;
	ll = (size_t)(dash - v);
	if (ll >= sizeof(low))
		return -EINVAL;
	memcpy(low, v, ll);
	low[ll] = '\0';
	q->tput_min = 0;
	q->tput_max = UINT64_MAX;
	if (ll && parse_u64(low, UINT64_MAX, &q->tput_min) < 0)
		return -EINVAL;
	if (dash[1] && parse_u64(dash + 1, UINT64_MAX, &q->tput_max) < 0)
		return -EINVAL;
	if (q->tput_min > q->tput_max)
		return -EINVAL;
	q->tput = true;
	return 0;
}

static int parse_one(struct ctl_list_query *q, const char *key, const char *v, bool paged,
		     char *err, size_t len)
{
	char why[SITE_ERR_MAX];
	struct site probe;
	uint64_t u;

	if (!strcmp(key, "name")) {
		q->name = v;
	} else if (!strcmp(key, "id")) {
		q->id = v;
	} else if (!strcmp(key, "pop")) {
		q->pop = v;
	} else if (!strcmp(key, "status")) {
		if (strcmp(v, "up") && strcmp(v, "down") && strcmp(v, "disabled"))
			return fail(err, len, -EINVAL, "status '%s': up, down or disabled", v);
		q->status = v;
	} else if (!strcmp(key, "traffic") || !strcmp(key, "enabled")) {
		int rc;

		site_init(&probe);
		rc = site_set(&probe, key, v, why, sizeof(why));
		if (rc == 0 && key[0] == 't')
			q->traffic = (int)probe.traffic;
		else if (rc == 0)
			q->enabled = probe.enabled;
		site_clear(&probe);	/* owns nothing here (traffic, enabled): the discipline */
		if (rc < 0)
			return fail(err, len, -EINVAL, "%s", why);
	} else if (!strcmp(key, "source-ip")) {
		if (parse_source(q, v) < 0)
			return fail(err, len, -EINVAL, "source-ip '%s': an address, a prefix "
				    "(ADDRESS/BITS, no host bits set) or dynamic", v);
	} else if (!strcmp(key, "throughput")) {
		if (parse_range(q, v) < 0)
			return fail(err, len, -EINVAL, "throughput '%s': a range in Kbps, LOW-HIGH, "
				    "LOW- or -HIGH", v);
	} else if (paged && !strcmp(key, "sort")) {
		size_t k;

		if (!strcmp(v, "asc") || !strcmp(v, "desc")) {
			q->sort = NULL;	/* by name, as before columns could be sorted on */
			q->reverse = v[0] == 'd';
			return 0;
		}
		for (k = 0; k < N_SORT_KEYS && strcmp(v, sort_keys[k]); k++)
			;
		if (k == N_SORT_KEYS)
			return fail(err, len, -EINVAL, "sort '%s': not a column (name, id, "
				    "source-ip, status, pop, throughput, traffic or any site field)",
				    v);
		q->sort = strcmp(v, "name") ? sort_keys[k] : NULL;
	} else if (paged && !strcmp(key, "reverse")) {
		if (strcmp(v, "yes") && strcmp(v, "no"))
			return fail(err, len, -EINVAL, "reverse '%s': yes or no", v);
		q->reverse = v[0] == 'y';
	} else if (paged && !strcmp(key, "page")) {
		if (parse_u64(v, CTL_PAGE_MAX, &u) < 0 || u < 1)
			return fail(err, len, -EINVAL, "page '%s': a number from 1", v);
		q->page = (size_t)u;
	} else if (paged && !strcmp(key, "page-size")) {
		if (parse_u64(v, CTL_PAGE_SIZE_MAX, &u) < 0 || u < 1)
			return fail(err, len, -EINVAL, "page-size '%s': a number from 1 to %d", v,
				    CTL_PAGE_SIZE_MAX);
		q->page_size = (size_t)u;
	} else if (!paged && !strcmp(key, "expect")) {
		if (parse_u64(v, SIZE_MAX, &u) < 0)
			return fail(err, len, -EINVAL, "expect '%s': a count", v);
		q->has_expect = true;
		q->expect = (size_t)u;
	} else if (paged) {
		return fail(err, len, -EINVAL, "'%s': no such filter (name, id, source-ip, status, "
			    "pop, traffic, enabled, throughput, sort, reverse, page, page-size)",
			    key);
	} else {
		return fail(err, len, -EINVAL, "'%s': no such filter (name, id, source-ip, status, "
			    "pop, traffic, enabled, throughput)", key);
	}
	return 0;
}

int ctl_list_parse(struct ctl_list_query *q, const char *const *kv, size_t n_kv, bool paged,
		   char *err, size_t err_len)
{
	for (size_t k = 0; k + 1 < n_kv; k += 2) {
		int rc = parse_one(q, kv[k], kv[k + 1], paged, err, err_len);

		if (rc < 0)
			return rc;
	}
	return 0;
}

bool ctl_list_needs_runtime(const struct ctl_list_query *q)
{
	return q->status || q->tput ||
	       (q->sort && (!strcmp(q->sort, "status") || !strcmp(q->sort, "active-pop") ||
			    !strcmp(q->sort, "throughput-kbps") || !strcmp(q->sort, "pop") ||
			    !strcmp(q->sort, "throughput")));
}

bool ctl_list_needs_row(const struct ctl_list_query *q)
{
	return q->sort || ctl_list_needs_runtime(q);
}

static bool source_matches(const struct ctl_list_query *q, const struct site *s)
{
	uint8_t a[16] = { 0 };
	int family = strchr(s->source_ip, ':') ? AF_INET6 : AF_INET;

	if (q->src == 0)
		return true;
	if (q->src == 1)
		return !s->source_ip[0];
	if (!s->source_ip[0] || family != q->src || inet_pton(family, s->source_ip, a) != 1)
		return false;
	for (unsigned b = 0; b < q->src_prefix; b++)
		if ((a[b / 8] ^ q->src_addr[b / 8]) & (0x80 >> (b % 8)))
			return false;
	return true;
}

/* The filters on the record itself. */
static bool record_matches(const struct ctl_list_query *q, const struct site *s)
{
	bool pop = !q->pop || !*q->pop || !strcmp(s->primary, q->pop);

	for (size_t b = 0; !pop && b < s->n_backups; b++)
		pop = !strcmp(s->backups[b], q->pop);
	return pop && (!q->name || strstr(s->name, q->name)) && (!q->id || strstr(s->id, q->id)) &&
	       (q->traffic < 0 || (int)s->traffic == q->traffic) &&
	       (q->enabled < 0 || (int)s->enabled == q->enabled) && source_matches(q, s);
}

/* The value of KV key among the attributes in buf (a row's), or NULL ("" when absent). */
static const char *row_value(const struct ike_writer *w, const char *key, char *out, size_t cap)
{
	struct ike_reader rd = ike_reader_init(w->buf, w->len);

	out[0] = '\0';
	while (rd.len > 0) {
		struct ctl_attr a;
		const uint8_t *value;
		const char *k;
		size_t vlen;

		if (ike_reader_u16(&rd, &a.type) < 0 || ike_reader_u32(&rd, &a.len) < 0 ||
		    ike_reader_bytes(&rd, a.len, &a.p) < 0)
			break;
		if (a.type != CTL_A_KV || ctl_attr_kv(&a, &k, &value, &vlen) < 0 || strcmp(k, key))
			continue;
		vlen = vlen < cap ? vlen : cap - 1;
		memcpy(out, value, vlen);
		out[vlen] = '\0';
		break;
	}
	return out;
}

/* A candidate: its index and, when sorting on another column, that column's value. */
struct cand {
	size_t i;
	char *text;		/* as shown, NULL when sorting by name */
	int kind;		/* 0 empty, 1 number, 2 address, 3 text */
	uint64_t num;
	uint8_t addr[17];	/* family, then the address */
};

static void classify(struct cand *c)
{
	const char *t = c->text;
	char buf[SITE_ADDR_MAX];
	const char *slash = strchr(t, '/');
	size_t l = slash ? (size_t)(slash - t) : strlen(t);

	if (!*t) {
		c->kind = 0;
	} else if (parse_u64(t, UINT64_MAX, &c->num) == 0) {
		c->kind = 1;
	} else if (l < sizeof(buf) && (memcpy(buf, t, l), buf[l] = '\0',
		   inet_pton(AF_INET, buf, c->addr + 1) == 1)) {
		c->kind = 2;
		c->addr[0] = 4;
	} else if (l < sizeof(buf) && inet_pton(AF_INET6, buf, c->addr + 1) == 1) {
		c->kind = 2;
		c->addr[0] = 6;
	} else {
		c->kind = 3;
	}
}

struct sort_ctx {
	const struct site_db *db;
	bool reverse;
};

static int by_value(const void *a, const void *b, void *arg)
{
	const struct cand *x = a, *y = b;
	const struct sort_ctx *ctx = arg;
	int d = 0;

	if (x->text && y->text) {
		if (x->kind != y->kind)
			d = x->kind < y->kind ? -1 : 1;
		else if (x->kind == 1)
			d = x->num < y->num ? -1 : x->num > y->num;
		else if (x->kind == 2)
			d = memcmp(x->addr, y->addr, sizeof(x->addr));
		else if (x->kind == 3)
			d = strcmp(x->text, y->text);
	}
	if (d == 0)
		d = strcmp(ctx->db->sites[x->i].name, ctx->db->sites[y->i].name);
	return ctx->reverse ? -d : d;
}

int ctl_list_select(const struct site_db *db, const struct ctl_list_query *q, ctl_list_row_fn row,
		    void *arg, size_t **ret, size_t *ret_n, size_t *ret_total)
{
	struct cand *c = calloc(db->n_sites ? db->n_sites : 1, sizeof(*c));
	struct ike_writer w;
	bool need = ctl_list_needs_row(q), runtime = ctl_list_needs_runtime(q);
	const char *key = q->sort && !strcmp(q->sort, "throughput") ? "throughput-kbps" : q->sort;
	/* The record's fields only when sorting on one ("pop" falls back to the primary). */
	bool fields = key && strcmp(key, "status") && strcmp(key, "active-pop") &&
		      strcmp(key, "throughput-kbps");
	struct sort_ctx ctx = { .db = db, .reverse = q->reverse };
	size_t n = 0, first, count, *idx;
	char v[SITE_PROPOSALS_MAX * 2];
	int rc = 0;

	if (!c)
		return -ENOMEM;
	ike_writer_init(&w, CTL_MAX_MSG);
	for (size_t i = 0; rc == 0 && i < db->n_sites; i++) {
		uint64_t kbps;

		if (!record_matches(q, &db->sites[i]))
			continue;
		if (need) {
			rc = row(arg, i, fields, runtime, &w);
			if (rc < 0)
				break;
			if (q->status && strcmp(row_value(&w, "status", v, sizeof(v)), q->status))
				continue;
			if (q->tput && (parse_u64(row_value(&w, "throughput-kbps", v, sizeof(v)),
						  UINT64_MAX, &kbps) < 0 ||
					kbps < q->tput_min || kbps > q->tput_max))
				continue;
			if (key) {
				row_value(&w, key, v, sizeof(v));
				if (!v[0] && !strcmp(key, "pop"))
					row_value(&w, "active-pop", v, sizeof(v));
				if (!v[0] && !strcmp(key, "pop"))
					row_value(&w, "primary", v, sizeof(v));
				c[n].text = strdup(v);
				if (!c[n].text) {
					rc = -ENOMEM;
					break;
				}
				classify(&c[n]);
			}
		}
		c[n++].i = i;
	}
	ike_writer_clear(&w);
	if (rc == 0) {
		qsort_r(c, n, sizeof(*c), by_value, &ctx);
		first = q->page_size ? (q->page - 1) * q->page_size : 0;
		count = first < n ? n - first : 0;
		if (q->page_size && count > q->page_size)
			count = q->page_size;
		idx = malloc((count ? count : 1) * sizeof(*idx));
		if (!idx)
			rc = -ENOMEM;
		for (size_t k = 0; rc == 0 && k < count; k++)
			idx[k] = c[first + k].i;
		if (rc == 0) {
			*ret = idx;
			*ret_n = count;
			*ret_total = n;
		}
	}
	for (size_t k = 0; k < n; k++)
		free(c[k].text);
	free(c);
	return rc;
}
