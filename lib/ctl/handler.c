/* The daemon's request handler (see handler.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ctl/handler.h"
#include "ctl/list.h"
#include "ctl/metrics.h"
#include "site/csv.h"
#include "site/index.h"
#include "site/store.h"

#define ERR_MAX		16384	/* an import lists up to CSV_MAX_ERRORS bad rows */
#define NAME_WIRE_MAX	256	/* longer names are refused before any lookup */
#define KEY_WIRE_MAX	64
#define VALUE_MAX	1024	/* a joined list (backups, selectors) fits */

enum { FLAG_DRY_RUN = 1, FLAG_WITH_PSK = 2, FLAG_CHUNKED = 4, FLAG_END = 8 };

/* A verb's return: the frame of a chunked import that gets no reply. */
#define NO_REPLY 1

/* One request being handled: its parts, copied out NUL-terminated, and the reply. */
struct req {
	struct ctl_handler *h;
	const struct ctl_msg *m;
	struct ike_writer *w;
	char *err;
	size_t err_len;
	char *pool;			/* names and KVs, NUL-terminated */
	const char **names;
	size_t n_names;
	const char **kv;		/* key, value, key, value ... */
	size_t n_kv;
	const struct ctl_attr *psk;
	const struct ctl_attr *data[2];
	size_t n_data;
	unsigned flags;
	bool usage;			/* the request is wrong, not refused: error-class usage */
	char *bulk_pool;		/* names selected by a filter (the bulk verbs) */
	const char **bulk_names;
};

static int fail(struct req *r, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct req *r, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, r->err_len, fmt, ap);
	va_end(ap);
	return rc;
}

/* The request itself is wrong (xfrmctl exits 2): a bad filter, an unknown field ... */
static int usage(struct req *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage(struct req *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, r->err_len, fmt, ap);
	va_end(ap);
	r->usage = true;
	return -EINVAL;
}

/* Library errors name the field ("traffic 'x': ..."); say which record too. */
static int prefix_err(struct req *r, int rc, const char *kind, const char *name)
{
	char head[NAME_WIRE_MAX + 16];
	size_t hl, el = strlen(r->err);

	if (!strncmp(r->err, kind, strlen(kind)) && r->err[strlen(kind)] == ' ')
		return rc;
	hl = (size_t)snprintf(head, sizeof(head), "%s '%s': ", kind, name);
	if (hl >= sizeof(head) || hl + el + 1 > r->err_len)
		return rc;
	memmove(r->err + hl, r->err, el + 1);
	memcpy(r->err, head, hl);
	return rc;
}

/* ---- the parts of a request ---- */

#define A(t) (1u << (t))

struct verb {
	int (*fn)(struct req *r);
	unsigned attrs;			/* the attribute types it takes */
	size_t min_names, max_names;
	unsigned flags;			/* the flags it takes */
	size_t max_data;
};

static const char *attr_name(uint16_t type)
{
	static const char *const names[] = {
		[CTL_A_NAME] = "name", [CTL_A_KV] = "field", [CTL_A_PSK] = "psk",
		[CTL_A_DATA] = "data", [CTL_A_ERROR] = "error", [CTL_A_ROW] = "row",
		[CTL_A_FLAG] = "flag",
	};

	return type > 0 && type <= CTL_A_FLAG ? names[type] : "unknown";
}

static bool printable_ascii(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x21 || p[i] > 0x7e)
			return false;
	return true;
}

static int parse_flag(struct req *r, const struct verb *v, const struct ctl_attr *a,
		      const char *what)
{
	static const struct {
		const char *name;
		unsigned bit;
	} flags[] = { { "dry-run", FLAG_DRY_RUN }, { "with-psk", FLAG_WITH_PSK },
		      { "chunked", FLAG_CHUNKED }, { "end", FLAG_END } };

	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (a->len == strlen(flags[i].name) && !memcmp(a->p, flags[i].name, a->len) &&
		    (v->flags & flags[i].bit)) {
			r->flags |= flags[i].bit;
			return 0;
		}
	if (a->len <= KEY_WIRE_MAX && printable_ascii(a->p, a->len))
		return usage(r, "%s: no option '%.*s'", what, (int)a->len, (const char *)a->p);
	return usage(r, "%s: an unknown option", what);
}

/* Check every attribute against what the verb takes, then copy names and KVs out. */
static int parse_parts(struct req *r, const struct verb *v)
{
	const char *what = ctl_verb_name(r->m->code);
	size_t pool_len = 1, n_names = 0, n_kv = 0, off = 0;
	int rc;

	for (size_t i = 0; i < r->m->n_attrs; i++) {
		const struct ctl_attr *a = &r->m->attrs[i];
		const uint8_t *value;
		const char *key;
		size_t vlen, klen;

		if (a->type == 0 || a->type > CTL_A_FLAG)
			return fail(r, -EBADMSG, "%s: unknown attribute type %u", what, a->type);
		if (!(v->attrs & A(a->type)))
			return usage(r, "%s: takes no %s attribute", what, attr_name(a->type));
		switch (a->type) {
		case CTL_A_NAME:
			if (a->len == 0 || a->len > NAME_WIRE_MAX || memchr(a->p, '\0', a->len))
				return fail(r, -EINVAL, "%s: a name is 1 to %d bytes, no NUL", what,
					    NAME_WIRE_MAX);
			n_names++;
			pool_len += a->len + 1;
			break;
		case CTL_A_KV:
			if (ctl_attr_kv(a, &key, &value, &vlen) < 0)
				return fail(r, -EBADMSG, "%s: a field without its key", what);
			klen = (size_t)(value - 1 - a->p);
			if (klen > KEY_WIRE_MAX || !printable_ascii(a->p, klen))
				return fail(r, -EINVAL, "%s: a field name is 1 to %d printable "
					    "characters", what, KEY_WIRE_MAX);
			if (memchr(value, '\0', vlen))
				return fail(r, -EINVAL, "%s: field '%s': a NUL in its value", what,
					    key);
			n_kv += 2;
			pool_len += a->len + 1;
			break;
		case CTL_A_PSK:
			if (r->psk)
				return fail(r, -EINVAL, "%s: two keys given", what);
			r->psk = a;
			break;
		case CTL_A_DATA:
			if (r->n_data == v->max_data || r->n_data == 2)
				return fail(r, -EINVAL, "%s: too many data attributes", what);
			r->data[r->n_data++] = a;
			break;
		case CTL_A_FLAG:
			rc = parse_flag(r, v, a, what);
			if (rc < 0)
				return rc;
			break;
		default:
			return fail(r, -EINVAL, "%s: takes no %s attribute", what,
				    attr_name(a->type));
		}
	}
	if (v->min_names == 2 && (n_names < 2 || n_names > 2))
		return fail(r, -EINVAL, "%s: takes two names, the old and the new", what);
	if (n_names < v->min_names)
		return usage(r, "%s: no name given", what);
	if (n_names > v->max_names)
		return usage(r, "%s: takes one name", what);
	r->pool = malloc(pool_len);
	r->names = calloc(n_names + 1, sizeof(*r->names));
	r->kv = calloc(n_kv + 1, sizeof(*r->kv));
	if (!r->pool || !r->names || !r->kv)
		return fail(r, -ENOMEM, "%s: out of memory", what);
	for (size_t i = 0; i < r->m->n_attrs; i++) {
		const struct ctl_attr *a = &r->m->attrs[i];

		if (a->type != CTL_A_NAME && a->type != CTL_A_KV)
			continue;
		memcpy(r->pool + off, a->p, a->len);
		r->pool[off + a->len] = '\0';
		if (a->type == CTL_A_NAME) {
			r->names[r->n_names++] = r->pool + off;
		} else {
			r->kv[r->n_kv++] = r->pool + off;
			r->kv[r->n_kv++] = r->pool + off + strlen(r->pool + off) + 1;
		}
		off += a->len + 1;
	}
	return 0;
}

/* ---- writing records ---- */

static void join(char *buf, size_t cap, const char *const *items, size_t n)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && o < cap; i++) {
		int k = snprintf(buf + o, cap - o, "%s%s", i ? "," : "", items[i]);

		if (k < 0)
			break;
		o += (size_t)k;
	}
}

static int put_kv_u32(struct ike_writer *w, const char *key, uint32_t v)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "%" PRIu32, v);
	return ctl_put_kv(w, key, buf);
}

static int put_kv_size(struct ike_writer *w, const char *key, size_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%zu", v);
	return ctl_put_kv(w, key, buf);
}

/* Every field, with the keys of site_set(); the PSK only as "(set)". */
static int put_site_fields(struct ike_writer *w, const struct site *s)
{
	char v[VALUE_MAX];
	int rc;

	rc = ctl_put_kv(w, "name", s->name);
	rc = rc ?: ctl_put_kv(w, "id", s->id);
	rc = rc ?: ctl_put_kv(w, "id-type", site_id_type_name(s->id_type));
	rc = rc ?: ctl_put_kv(w, "source-ip", s->source_ip);
	rc = rc ?: ctl_put_kv(w, "psk", s->psk.p ? "(set)" : "(none)");
	rc = rc ?: ctl_put_kv(w, "primary", s->primary);
	join(v, sizeof(v), s->backups, s->n_backups);
	rc = rc ?: ctl_put_kv(w, "backups", v);
	rc = rc ?: ctl_put_kv(w, "traffic", site_traffic_name(s->traffic));
	rc = rc ?: ctl_put_kv(w, "enabled", s->enabled ? "yes" : "no");
	join(v, sizeof(v), s->local_ts, s->n_local_ts);
	rc = rc ?: ctl_put_kv(w, "local-ts", v);
	join(v, sizeof(v), s->remote_ts, s->n_remote_ts);
	rc = rc ?: ctl_put_kv(w, "remote-ts", v);
	snprintf(v, sizeof(v), "0x%" PRIx32 "/0x%" PRIx32, s->mark, s->mark_mask);
	rc = rc ?: ctl_put_kv(w, "mark", v);
	rc = rc ?: put_kv_u32(w, "if-id", s->if_id);
	rc = rc ?: ctl_put_kv(w, "ike-proposals", s->ike_proposals);
	rc = rc ?: ctl_put_kv(w, "esp-proposals", s->esp_proposals);
	rc = rc ?: put_kv_u32(w, "ike-lifetime", s->ike_lifetime_s);
	rc = rc ?: put_kv_u32(w, "child-lifetime", s->child_lifetime_s);
	rc = rc ?: put_kv_u32(w, "ike-rekey", s->ike_rekey_s);
	rc = rc ?: put_kv_u32(w, "child-rekey", s->child_rekey_s);
	rc = rc ?: put_kv_u32(w, "dpd-interval", s->dpd_interval_s);
	rc = rc ?: put_kv_u32(w, "max-child-sas", s->max_child_sas);
	rc = rc ?: ctl_put_kv(w, "vendor-rules", s->vendor_rules ? "yes" : "no");
	return rc ?: ctl_put_kv(w, "psk-short", s->psk_short ? "yes" : "no");
}

static int put_pop_fields(struct ike_writer *w, const struct pop *p, size_t n_primary,
			  size_t n_backup)
{
	int rc;

	rc = ctl_put_kv(w, "name", p->name);
	rc = rc ?: ctl_put_kv(w, "gateway", p->gateway);
	rc = rc ?: ctl_put_kv(w, "probe-ip", p->probe_ip);
	rc = rc ?: ctl_put_kv(w, "location", p->location);
	rc = rc ?: ctl_put_kv(w, "accepting", p->accepting ? "yes" : "no");
	rc = rc ?: ctl_put_kv(w, "ike-id", p->ike_id);
	rc = rc ?: put_kv_size(w, "sites-primary", n_primary);
	return rc ?: put_kv_size(w, "sites-backup", n_backup);
}

/* The value of KV key among the attributes in buf (the runtime's output), or NULL. */
static bool find_kv(const uint8_t *buf, size_t len, const char *key, char *out, size_t cap)
{
	struct ike_reader rd = ike_reader_init(buf, len);

	while (rd.len > 0) {
		struct ctl_attr a;
		const uint8_t *value;
		const char *k;
		size_t vlen;

		if (ike_reader_u16(&rd, &a.type) < 0 || ike_reader_u32(&rd, &a.len) < 0 ||
		    ike_reader_bytes(&rd, a.len, &a.p) < 0)
			return false;
		if (a.type != CTL_A_KV || ctl_attr_kv(&a, &k, &value, &vlen) < 0 ||
		    strcmp(k, key) != 0)
			continue;
		if (vlen >= cap)
			return false;
		memcpy(out, value, vlen);
		out[vlen] = '\0';
		return true;
	}
	return false;
}

/* The runtime's KVs of s into scratch (emptied first), a "status" always among them. */
static int site_runtime(struct req *r, const struct site *s, bool detail,
			struct ike_writer *scratch, char *status, size_t status_len)
{
	const struct ctl_runtime *rt = r->h->rt;
	int rc = 0;

	if (scratch->buf)
		sodium_memzero(scratch->buf, scratch->len);
	scratch->len = 0;
	if (rt && rt->site_runtime)
		rc = rt->site_runtime(rt->arg, s, detail, scratch);
	if (rc < 0)
		return fail(r, rc, "site '%s': runtime state: %s", s->name, strerror(-rc));
	if (find_kv(scratch->buf, scratch->len, "status", status, status_len))
		return 0;
	snprintf(status, status_len, "%s", s->enabled ? "down" : "disabled");
	return ctl_put_kv(scratch, "status", status);
}

static int put_site_row(struct req *r, const struct site *s, bool detail,
			struct ike_writer *scratch)
{
	char status[16];
	size_t mark;
	int rc = site_runtime(r, s, detail, scratch, status, sizeof(status));

	rc = rc ?: ctl_row_begin(r->w, &mark);
	rc = rc ?: put_site_fields(r->w, s);
	rc = rc ?: ike_writer_bytes(r->w, scratch->buf, scratch->len);
	return rc ?: ctl_row_end(r->w, mark);
}

/* ---- saving, undoing, telling the daemon ---- */

static int save(struct req *r, const struct site_db *db)
{
	char why[SITE_ERR_MAX + 64];
	int rc;

	if (!r->h->store_path)
		return 0;
	rc = site_store_save(r->h->store_path, db, why, sizeof(why));
	if (rc < 0)
		return fail(r, rc, "%s: not saved, nothing changed: %s", ctl_verb_name(r->m->code),
			    why);
	return 0;
}

static void sites_changed(struct req *r, const char *const *names, size_t n)
{
	const struct ctl_runtime *rt = r->h->rt;

	if (r->h->shared)
		r->h->shared->generation++;

	if (rt && rt->sites_changed && n)
		rt->sites_changed(rt->arg, names, n);
}

static void pops_changed(struct req *r, const char *const *names, size_t n)
{
	const struct ctl_runtime *rt = r->h->rt;

	if (r->h->shared)
		r->h->shared->generation++;

	if (rt && rt->pops_changed && n)
		rt->pops_changed(rt->arg, names, n);
}

static ssize_t site_pos(const struct site_db *db, const char *name)
{
	const struct site *s = site_db_find(db, name);

	return s ? s - db->sites : -1;
}

/*
 * POPs are few and hold no pointers: a copy of the array undoes any POP change. The array
 * only grows (add) or keeps its allocation (delete moves entries down), so it can take the
 * old entries back.
 */
struct pops_snapshot {
	struct pop *pops;
	size_t n;
};

static int pops_snapshot(struct req *r, struct pops_snapshot *snap)
{
	const struct site_db *db = r->h->db;

	snap->n = db->n_pops;
	snap->pops = malloc((db->n_pops ? db->n_pops : 1) * sizeof(*snap->pops));
	if (!snap->pops)
		return fail(r, -ENOMEM, "%s: out of memory", ctl_verb_name(r->m->code));
	if (db->n_pops)
		memcpy(snap->pops, db->pops, db->n_pops * sizeof(*db->pops));
	return 0;
}

static void pops_restore(struct req *r, struct pops_snapshot *snap)
{
	struct site_db *db = r->h->db;

	if (snap->n)
		memcpy(db->pops, snap->pops, snap->n * sizeof(*db->pops));
	db->n_pops = snap->n;
}

/* ---- verbs ---- */

static int do_status(struct req *r)
{
	const struct site_db *db = r->h->db;
	const struct ctl_runtime *rt = r->h->rt;
	size_t enabled = 0;
	int rc;

	for (size_t i = 0; i < db->n_sites; i++)
		enabled += db->sites[i].enabled;
	rc = put_kv_size(r->w, "sites", db->n_sites);
	rc = rc ?: put_kv_size(r->w, "sites-enabled", enabled);
	rc = rc ?: put_kv_size(r->w, "pops", db->n_pops);
	if (rc == 0 && rt && rt->status) {
		rc = rt->status(rt->arg, r->w);
		if (rc < 0)
			return fail(r, rc, "status: %s", strerror(-rc));
	}
	return rc;
}

/* A site's row for list.c: its fields and the runtime's KVs, as asked. */
struct list_arg {
	struct req *r;
	struct ike_writer *scratch;
};

static int list_row(void *arg, size_t i, bool fields, bool runtime, struct ike_writer *w)
{
	struct list_arg *la = arg;
	const struct site *s = &la->r->h->db->sites[i];
	char status[16];
	int rc = 0;

	if (w->buf)
		sodium_memzero(w->buf, w->len);
	w->len = 0;
	if (fields)
		rc = put_site_fields(w, s);
	if (rc == 0 && runtime) {
		rc = site_runtime(la->r, s, false, la->scratch, status, sizeof(status));
		rc = rc ?: ike_writer_bytes(w, la->scratch->buf, la->scratch->len);
	}
	return rc;
}

/* The sites a query selects (every page when q->page_size is 0). */
static int select_sites(struct req *r, const struct ctl_list_query *q, struct ike_writer *scratch,
			size_t **ret, size_t *ret_n, size_t *ret_total)
{
	struct list_arg la = { .r = r, .scratch = scratch };
	int rc = ctl_list_select(r->h->db, q, list_row, &la, ret, ret_n, ret_total);

	if (rc < 0 && !r->err[0])
		fail(r, rc, "%s: %s", ctl_verb_name(r->m->code), strerror(-rc));
	return rc;
}

static int site_list(struct req *r)
{
	const struct site_db *db = r->h->db;
	struct ctl_list_query q;
	struct ike_writer scratch;
	char why[SITE_ERR_MAX + 64];
	size_t *idx = NULL, n = 0, total = 0;
	int rc;

	ctl_list_query_init(&q);
	if (ctl_list_parse(&q, r->kv, r->n_kv, true, why, sizeof(why)) < 0)
		return usage(r, "site list: %s", why);
	ike_writer_init(&scratch, CTL_MAX_MSG);
	rc = select_sites(r, &q, &scratch, &idx, &n, &total);
	rc = rc ?: put_kv_size(r->w, "total", total);
	rc = rc ?: put_kv_size(r->w, "page", q.page);
	rc = rc ?: put_kv_size(r->w, "page-size", q.page_size);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = put_site_row(r, &db->sites[idx[i]], false, &scratch);
	ike_writer_clear(&scratch);
	free(idx);
	if (rc == -EMSGSIZE && !r->err[0])
		fail(r, rc, "site list: the reply would exceed %d bytes with %zu sites: give a "
		     "smaller page-size", CTL_MAX_MSG, n);
	return rc;
}

/*
 * The bulk verbs by a filter instead of names: the sites it selects now become the request's
 * names (copied: a delete moves the records). With "expect", a count that has changed since
 * the operator confirmed it refuses the change.
 */
static int bulk_names(struct req *r)
{
	const char *what = ctl_verb_name(r->m->code);
	struct ctl_list_query q;
	struct ike_writer scratch;
	char why[SITE_ERR_MAX + 64];
	size_t *idx = NULL, n = 0, total = 0, len = 0, off = 0;
	int rc;

	if (r->n_names && r->n_kv)
		return usage(r, "%s: names or a filter, not both", what);
	if (r->n_names)
		return 0;
	if (r->n_kv == 0)
		return usage(r, "%s: no name given", what);
	ctl_list_query_init(&q);
	if (ctl_list_parse(&q, r->kv, r->n_kv, false, why, sizeof(why)) < 0)
		return usage(r, "%s: %s", what, why);
	q.page_size = 0;
	ike_writer_init(&scratch, CTL_MAX_MSG);
	rc = select_sites(r, &q, &scratch, &idx, &n, &total);
	ike_writer_clear(&scratch);
	if (rc < 0)
		return rc;
	if (q.has_expect && q.expect != n) {
		free(idx);
		return fail(r, -ESTALE, "%s: %zu site%s match%s now, %zu when confirmed: nothing "
			    "changed", what, n, n == 1 ? "" : "s", n == 1 ? "es" : "", q.expect);
	}
	for (size_t k = 0; k < n; k++)
		len += strlen(r->h->db->sites[idx[k]].name) + 1;
	r->bulk_pool = malloc(len ? len : 1);
	r->bulk_names = calloc(n + 1, sizeof(*r->bulk_names));
	if (!r->bulk_pool || !r->bulk_names) {
		free(idx);
		return fail(r, -ENOMEM, "%s: out of memory", what);
	}
	for (size_t k = 0; k < n; k++) {
		const char *name = r->h->db->sites[idx[k]].name;

		memcpy(r->bulk_pool + off, name, strlen(name) + 1);
		r->bulk_names[k] = r->bulk_pool + off;
		off += strlen(name) + 1;
	}
	free(idx);
	free(r->names);
	r->names = r->bulk_names;
	r->bulk_names = NULL;
	r->n_names = n;
	return 0;
}

static int site_show(struct req *r)
{
	const struct site *s = site_db_find(r->h->db, r->names[0]);
	struct ike_writer scratch;
	int rc;

	if (!s)
		return fail(r, -ENOENT, "site '%s': no such site", r->names[0]);
	ike_writer_init(&scratch, CTL_MAX_MSG);
	rc = put_site_row(r, s, true, &scratch);
	ike_writer_clear(&scratch);
	return rc;
}

/*
 * Every key a field of the record (a key given as a value is one too): a request naming
 * another is wrong, not refused. Asked of a scratch record, so only the key is judged here.
 */
static int check_keys(struct req *r, bool site, const char *name)
{
	for (size_t k = 0; k < r->n_kv; k += 2) {
		int rc;

		if (site) {
			struct site s;

			site_init(&s);
			rc = site_set(&s, r->kv[k], "", r->err, r->err_len);
			site_clear(&s);
		} else {
			struct pop p;

			pop_init(&p);
			rc = pop_set(&p, r->kv[k], "", r->err, r->err_len);
		}
		if (rc == -ENOENT || rc == -EPERM) {
			r->usage = true;
			return prefix_err(r, rc, site ? "site" : "pop", name);
		}
	}
	r->err[0] = '\0';
	return 0;
}

static int check_psk(struct req *r, const char *name)
{
	if (r->psk && (r->psk->len == 0 || r->psk->len > SITE_PSK_MAX))
		return fail(r, -EINVAL, "site '%s': psk: 1 to %d bytes", name, SITE_PSK_MAX);
	return 0;
}

static int site_add(struct req *r)
{
	struct site_db *db = r->h->db;
	const char *name = r->names[0];
	struct site s;
	int rc;

	rc = check_keys(r, true, name);
	if (rc < 0)
		return rc;
	site_init(&s);
	rc = site_set(&s, "name", name, r->err, r->err_len);
	for (size_t k = 0; rc == 0 && k < r->n_kv; k += 2)
		rc = !strcmp(r->kv[k], "name") ?
			usage(r, "site '%s': the name is given once", name) :
			site_set(&s, r->kv[k], r->kv[k + 1], r->err, r->err_len);
	rc = rc ?: check_psk(r, name);
	if (rc == 0 && r->psk)
		rc = site_set_psk(&s, r->psk->p, r->psk->len, r->err, r->err_len);
	rc = rc ?: site_db_add_site(db, &s, r->err, r->err_len);
	site_clear(&s);
	if (rc < 0)
		return prefix_err(r, rc, "site", name);
	rc = save(r, db);
	if (rc < 0) {
		/* site_db_add_site appended it. */
		site_clear(&db->sites[--db->n_sites]);
		return rc;
	}
	sites_changed(r, &name, 1);
	return 0;
}

static int site_edit(struct req *r)
{
	struct site_db *db = r->h->db;
	const char *name = r->names[0];
	ssize_t i = site_pos(db, name);
	struct site old;
	int rc;

	if (i < 0)
		return fail(r, -ENOENT, "site '%s': no such site", name);
	if (r->n_kv == 0 && !r->psk)
		return usage(r, "site '%s': nothing to change", name);
	rc = check_keys(r, true, name);
	rc = rc ?: check_psk(r, name);
	if (rc < 0)
		return rc;
	if (site_copy(&old, &db->sites[i]) < 0)
		return fail(r, -ENOMEM, "site '%s': out of memory", name);
	rc = site_db_edit_site(db, name, r->kv, r->n_kv, r->err, r->err_len);
	if (rc == 0 && r->psk)
		rc = site_set_psk(&db->sites[i], r->psk->p, r->psk->len, r->err, r->err_len);
	rc = rc ?: save(r, db);
	if (rc < 0) {
		site_clear(&db->sites[i]);
		db->sites[i] = old;
		return prefix_err(r, rc, "site", name);
	}
	site_clear(&old);
	sites_changed(r, &name, 1);
	return 0;
}

/*
 * A new name, nothing else: the record keeps its identity, key and POPs, and the daemon its
 * tunnels and SAs (ctl_runtime.site_renamed), so nothing goes down.
 */
static int site_rename(struct req *r)
{
	struct site_db *db = r->h->db;
	const char *from = r->names[0], *to = r->names[1];
	const struct ctl_runtime *rt = r->h->rt;
	ssize_t i;
	int rc;

	rc = site_db_rename_site(db, from, to, r->err, r->err_len);
	if (rc < 0)
		return prefix_err(r, rc, "site", from);
	i = site_pos(db, to);
	rc = save(r, db);
	if (rc < 0) {
		strcpy(db->sites[i].name, from);
		return rc;
	}
	if (rt && rt->site_renamed)
		rt->site_renamed(rt->arg, from, to);
	return 0;
}

static int site_set_enabled(struct req *r, bool enabled)
{
	struct site_db *db = r->h->db;
	bool *was;
	int rc = bulk_names(r);

	if (rc < 0 || r->n_names == 0)
		return rc ?: put_kv_size(r->w, "sites", 0);
	was = malloc(r->n_names * sizeof(*was));
	if (!was)
		return fail(r, -ENOMEM, "%s: out of memory", ctl_verb_name(r->m->code));
	for (size_t k = 0; k < r->n_names; k++) {
		ssize_t i = site_pos(db, r->names[k]);

		was[k] = i >= 0 && db->sites[i].enabled;
	}
	rc = site_db_set_enabled(db, r->names, r->n_names, enabled, r->err, r->err_len);
	if (rc == -EINVAL)
		r->usage = true;	/* a name given twice */
	if (rc == 0) {
		rc = save(r, db);
		for (size_t k = 0; rc < 0 && k < r->n_names; k++)
			db->sites[site_pos(db, r->names[k])].enabled = was[k];
	}
	free(was);
	if (rc == 0)
		sites_changed(r, r->names, r->n_names);
	return rc ?: put_kv_size(r->w, "sites", r->n_names);
}

static int site_enable(struct req *r)
{
	return site_set_enabled(r, true);
}

static int site_disable(struct req *r)
{
	return site_set_enabled(r, false);
}

struct removed {
	size_t pos;
	struct site s;
};

static int by_pos(const void *a, const void *b)
{
	const struct removed *x = a, *y = b;

	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/*
 * Put deleted sites back where they were: in ascending order of their old positions, each
 * insertion leaves every earlier entry in place. site_db_delete_sites moves entries down and
 * keeps the allocation, so the array has room for them.
 */
static void sites_reinsert(struct site_db *db, struct removed *gone, size_t n)
{
	qsort(gone, n, sizeof(*gone), by_pos);
	for (size_t k = 0; k < n; k++) {
		size_t at = gone[k].pos;

		memmove(&db->sites[at + 1], &db->sites[at],
			(db->n_sites - at) * sizeof(*db->sites));
		db->sites[at] = gone[k].s;
		db->n_sites++;
	}
}

static int site_delete(struct req *r)
{
	struct site_db *db = r->h->db;
	struct removed *gone;
	size_t n_gone = 0;
	int rc = bulk_names(r);

	if (rc < 0 || r->n_names == 0)
		return rc ?: put_kv_size(r->w, "sites", 0);
	gone = calloc(r->n_names, sizeof(*gone));
	if (!gone)
		return fail(r, -ENOMEM, "site delete: out of memory");
	for (size_t k = 0; rc == 0 && k < r->n_names; k++) {
		ssize_t i = site_pos(db, r->names[k]);
		bool dup = false;

		for (size_t j = 0; j < n_gone; j++)
			dup |= gone[j].pos == (size_t)i;
		if (i < 0 || dup)
			continue;	/* site_db_delete_sites names the problem */
		gone[n_gone].pos = (size_t)i;
		rc = site_copy(&gone[n_gone].s, &db->sites[i]);
		if (rc < 0)
			rc = fail(r, rc, "site delete: out of memory");
		n_gone++;
	}
	rc = rc ?: site_db_delete_sites(db, r->names, r->n_names, r->err, r->err_len);
	if (rc == -EINVAL)
		r->usage = true;	/* a name given twice */
	if (rc == 0) {
		rc = save(r, db);
		if (rc < 0) {
			sites_reinsert(db, gone, n_gone);
			n_gone = 0;	/* the database owns them again */
		}
	}
	for (size_t k = 0; k < n_gone; k++)
		site_clear(&gone[k].s);
	free(gone);
	if (rc == 0)
		sites_changed(r, r->names, r->n_names);
	return rc ?: put_kv_size(r->w, "sites", r->n_names);
}

/* The sites of after that are new or differ from before: names point into after. */
static int import_diff(const struct site_db *before, const struct site_db *after,
		       const char ***ret_names, size_t *ret_added, size_t *ret_changed)
{
	struct site_index ix = { 0 };
	const char **names = calloc(after->n_sites + 1, sizeof(*names));
	size_t n = 0, added = 0;
	int rc = 0;

	if (!names)
		return -ENOMEM;
	for (size_t i = 0; rc == 0 && i < before->n_sites; i++)
		rc = site_index_add(&ix, before->sites, i + 1, i);
	for (size_t i = 0; rc == 0 && i < after->n_sites; i++) {
		ssize_t at = site_index_find(&ix, before->sites, after->sites[i].name);

		if (at < 0)
			added++;
		if (at < 0 || !site_equal(&before->sites[at], &after->sites[i]))
			names[n++] = after->sites[i].name;
	}
	site_index_clear(&ix);
	if (rc < 0) {
		free(names);
		return rc;
	}
	*ret_names = names;
	*ret_added = added;
	*ret_changed = n - added;
	return 0;
}

static void import_errors(struct req *r, const struct csv_report *rep, const char *secrets)
{
	size_t o;

	o = (size_t)snprintf(r->err, r->err_len, "site import: %zu bad row%s, nothing imported",
			     rep->n_errors, rep->n_errors == 1 ? "" : "s");
	for (size_t i = 0; i < rep->n_errors && i < CSV_MAX_ERRORS && o < r->err_len; i++)
		o += (size_t)snprintf(r->err + o, r->err_len - o, "\n%s%sline %u: %s",
				      rep->errors[i].file == SITE_CSV_SECRETS ? secrets : "",
				      rep->errors[i].file == SITE_CSV_SECRETS ? " " : "",
				      rep->errors[i].line, rep->errors[i].msg);
	if (rep->n_errors > CSV_MAX_ERRORS && o < r->err_len)
		snprintf(r->err + o, r->err_len - o, "\n(and %zu more: correct these and run the "
			 "import again, with --dry-run, to see them)", rep->n_errors - CSV_MAX_ERRORS);
}

/* The value of KV key in the request, or NULL. */
static const char *req_kv(const struct req *r, const char *key)
{
	for (size_t k = 0; k < r->n_kv; k += 2)
		if (!strcmp(r->kv[k], key))
			return r->kv[k + 1];
	return NULL;
}

static int check_import_kvs(struct req *r)
{
	for (size_t k = 0; k < r->n_kv; k += 2)
		if (strcmp(r->kv[k], "part") && strcmp(r->kv[k], "file") &&
		    strcmp(r->kv[k], "secrets-file"))
			return fail(r, -EINVAL, "site import: '%s': no such field (part, file, "
				    "secrets-file)", r->kv[k]);
	return 0;
}

/*
 * The import is read: its verdict, and for a good one the change (unless a dry run): saved,
 * then swapped in, then the daemon told. Frees im.
 */
static int import_finish(struct req *r, struct site_csv_import *im, struct csv_report *rep,
			 int rc, bool dry, const char *secrets_name)
{
	struct site_db *db = r->h->db;
	const char **names = NULL;
	size_t added = 0, changed = 0;

	rc = rc ?: site_csv_import_end(im);
	if (rc == -EINVAL)
		import_errors(r, rep, secrets_name && *secrets_name ? secrets_name : "secrets file");
	else if (rc < 0)
		fail(r, rc, "site import: %s", strerror(-rc));
	if (rc == 0 && import_diff(db, site_csv_import_result(im), &names, &added, &changed) < 0)
		rc = fail(r, -ENOMEM, "site import: out of memory");
	rc = rc ?: put_kv_size(r->w, "rows", rep->n_rows);
	rc = rc ?: put_kv_size(r->w, "added", added);
	rc = rc ?: put_kv_size(r->w, "changed", changed);
	rc = rc ?: put_kv_size(r->w, "unchanged", rep->n_rows - added - changed);
	rc = rc ?: ctl_put_kv(r->w, "dry-run", dry ? "yes" : "no");
	if (rc == 0 && !dry)
		rc = save(r, site_csv_import_result(im));
	if (rc == 0 && !dry) {
		site_csv_import_commit(im, db);
		/* The names point into the imported sites, db's own now. */
		sites_changed(r, names, added + changed);
	}
	free(names);
	site_csv_import_free(im);
	return rc;
}

static void stream_import_drop(struct ctl_shared *shared, struct ctl_stream *st)
{
	site_csv_import_free(st->import);
	free(st->rep);
	free(st->failed_msg);
	if (shared && shared->importing == st)
		shared->importing = NULL;
	st->import = NULL;
	st->rep = NULL;
	st->failed_msg = NULL;
	st->failed = 0;
	st->importing = false;
}

/* A frame of a chunked import (see handler.h). */
static int site_import_chunk(struct req *r)
{
	struct ctl_stream *st = r->h->stream;
	struct ctl_shared *shared = r->h->shared;
	const char *part = req_kv(r, "part");
	bool secrets = part && !strcmp(part, "secrets");
	int rc = 0;

	if (!st)
		return fail(r, -EOPNOTSUPP, "site import: no chunked import on this connection");
	if (st->exporting)
		return fail(r, -EBUSY, "site import: an export is under way on this connection");
	if (st->importing && st->id != r->m->id)
		return fail(r, -EINVAL, "site import: another import is under way on this "
			    "connection");
	if (!st->importing) {
		memset(st, 0, sizeof(*st));
		st->id = r->m->id;
		st->importing = true;
		st->dry_run = r->flags & FLAG_DRY_RUN;
		if (shared && shared->importing) {
			/* The rest of this one is read and dropped; the end gets the reason. */
			st->failed = fail(r, -EBUSY, "site import: another import is under way; try "
					  "again when it is done");
		} else {
			st->generation = shared ? shared->generation : 0;
			st->rep = malloc(sizeof(*st->rep));
			rc = st->rep ? site_csv_import_begin(&st->import, r->h->db,
							     req_kv(r, "file"),
							     req_kv(r, "secrets-file"), st->rep) :
				       -ENOMEM;
			if (shared)
				shared->importing = st;
			if (rc < 0)
				st->failed = fail(r, rc, "site import: out of memory");
		}
	}
	if (req_kv(r, "secrets-file"))
		snprintf(st->secrets_name, sizeof(st->secrets_name), "%s", req_kv(r, "secrets-file"));
	if (st->import) {
		site_csv_import_name(st->import, SITE_CSV_SITES, req_kv(r, "file"));
		site_csv_import_name(st->import, SITE_CSV_SECRETS, req_kv(r, "secrets-file"));
	}
	if (!st->failed && part && strcmp(part, "secrets") && strcmp(part, "sites"))
		st->failed = fail(r, -EINVAL, "site import: part '%s': secrets or sites", part);
	else if (!st->failed && secrets && st->sites_seen)
		st->failed = fail(r, -EINVAL, "site import: the secrets come before the sites");
	for (size_t i = 0; !st->failed && i < r->n_data; i++) {
		rc = site_csv_import_feed(st->import, secrets ? SITE_CSV_SECRETS : SITE_CSV_SITES,
					  (const char *)r->data[i]->p, r->data[i]->len);
		st->secrets_seen |= secrets;
		st->sites_seen |= !secrets;
		if (rc < 0)
			st->failed = fail(r, rc, "site import: %s", rc == -ENOMEM ? "out of memory" :
					  strerror(-rc));
	}
	if (st->failed && !st->failed_msg)
		st->failed_msg = strdup(r->err);
	if (!(r->flags & FLAG_END))
		return NO_REPLY;
	/* The end: the one reply. */
	if (st->failed) {
		rc = fail(r, st->failed, "%s", st->failed_msg ? st->failed_msg :
			  "site import: out of memory");
	} else if (shared && shared->generation != st->generation) {
		rc = fail(r, -EAGAIN, "site import: the sites changed while the file was sent; "
			  "nothing imported, run it again");
	} else {
		rc = import_finish(r, st->import, st->rep, 0, st->dry_run, st->secrets_name);
		st->import = NULL;
	}
	stream_import_drop(shared, st);
	return rc;
}

/* Into a copy, so a dry run and a failed save leave the database as it was. */
static int site_import(struct req *r)
{
	struct csv_report *rep;
	struct site_csv_import *im;
	int rc = check_import_kvs(r);

	if (rc < 0)
		return rc;
	if (r->flags & FLAG_CHUNKED)
		return site_import_chunk(r);
	if (r->flags & FLAG_END)
		return fail(r, -EINVAL, "site import: 'end' is for a chunked import");
	if (r->n_data == 0)
		return fail(r, -EINVAL, "site import: no CSV given");
	rep = malloc(sizeof(*rep));
	if (!rep)
		return fail(r, -ENOMEM, "site import: out of memory");
	rc = site_csv_import_begin(&im, r->h->db, req_kv(r, "file"), req_kv(r, "secrets-file"),
				   rep);
	if (rc < 0) {
		free(rep);
		return fail(r, rc, "site import: out of memory");
	}
	if (r->n_data > 1)
		rc = site_csv_import_feed(im, SITE_CSV_SECRETS, (const char *)r->data[1]->p,
					  r->data[1]->len);
	rc = rc ?: site_csv_import_feed(im, SITE_CSV_SITES, (const char *)r->data[0]->p,
					r->data[0]->len);
	rc = import_finish(r, im, rep, rc, r->flags & FLAG_DRY_RUN, req_kv(r, "secrets-file"));
	free(rep);
	return rc;
}

/* One chunk of CSV from st->pos on into w, with "more" (and "sites" on the last). */
static int export_chunk(const struct site_db *db, struct ctl_stream *st, struct ike_writer *w)
{
	char *buf = malloc(CTL_CHUNK);
	ssize_t n;
	bool more;
	int rc;

	if (!buf)
		return -ENOMEM;
	n = site_csv_export_chunk(db, st->with_psk, &st->pos, buf, CTL_CHUNK);
	more = st->pos <= db->n_sites;
	rc = n < 0 ? (int)n : ctl_put_kv(w, "more", more ? "yes" : "no");
	rc = rc ?: more ? 0 : put_kv_size(w, "sites", db->n_sites);
	rc = rc ?: ctl_put(w, CTL_A_DATA, buf, (size_t)n);
	sodium_memzero(buf, CTL_CHUNK);
	free(buf);
	if (!more || rc < 0)
		st->exporting = false;
	return rc;
}

static int site_export(struct req *r)
{
	const struct site_db *db = r->h->db;
	struct ctl_stream *st = r->h->stream;
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (r->flags & FLAG_CHUNKED) {
		if (!st)
			return fail(r, -EOPNOTSUPP, "site export: no chunked export on this "
				    "connection");
		if (st->importing)
			return fail(r, -EBUSY, "site export: an import is under way on this "
				    "connection");
		memset(st, 0, sizeof(*st));
		st->id = r->m->id;
		st->exporting = true;
		st->with_psk = r->flags & FLAG_WITH_PSK;
		st->generation = r->h->shared ? r->h->shared->generation : 0;
		rc = export_chunk(db, st, r->w);
		return rc < 0 ? fail(r, rc, "site export: %s", strerror(-rc)) : 0;
	}
	rc = site_csv_export(db, r->flags & FLAG_WITH_PSK, &text, &len);
	if (rc < 0)
		return fail(r, rc, "site export: out of memory");
	if (len > CTL_MAX_MSG - 256)
		rc = fail(r, -EMSGSIZE, "site export: %zu sites make %zu bytes of CSV, more than "
			  "one reply carries (%d)", db->n_sites, len, CTL_MAX_MSG - 256);
	rc = rc ?: put_kv_size(r->w, "sites", db->n_sites);
	rc = rc ?: ctl_put(r->w, CTL_A_DATA, text, len);
	sodium_memzero(text, len);
	free(text);
	return rc;
}

bool ctl_stream_pending(const struct ctl_stream *s)
{
	return s && s->exporting;
}

int ctl_stream_next(struct ctl_handler *h, struct ike_writer *w)
{
	struct ctl_stream *st = h->stream;
	size_t start = w->len, mark;
	int rc;

	if (!ctl_stream_pending(st))
		return 0;
	if (h->shared && h->shared->generation != st->generation) {
		st->exporting = false;
		return ctl_reply_error(w, st->id, -EAGAIN, "site export: the sites changed during "
				       "the export; run it again") ?: -EAGAIN;
	}
	rc = ctl_begin(w, st->id, 0, CTL_FLAG_REPLY, &mark);
	rc = rc ?: export_chunk(h->db, st, w);
	rc = rc ?: ctl_end(w, mark);
	if (rc < 0) {
		sodium_memzero(w->buf + start, w->len - start);
		w->len = start;
		st->exporting = false;
		ctl_reply_error(w, st->id, rc, "site export: out of memory");
	}
	return rc;
}

void ctl_stream_clear(struct ctl_shared *shared, struct ctl_stream *s)
{
	if (s->importing)
		stream_import_drop(shared, s);
	memset(s, 0, sizeof(*s));
}

/* How many sites use each POP, as primary and as a backup. */
static int pop_counts(struct req *r, size_t **ret_primary, size_t **ret_backup)
{
	const struct site_db *db = r->h->db;
	size_t n = db->n_pops ? db->n_pops : 1;
	size_t *primary = calloc(n, sizeof(*primary)), *backup = calloc(n, sizeof(*backup));

	if (!primary || !backup) {
		free(primary);
		free(backup);
		return fail(r, -ENOMEM, "%s: out of memory", ctl_verb_name(r->m->code));
	}
	for (size_t s = 0; s < db->n_sites; s++) {
		const struct site *st = &db->sites[s];

		for (size_t p = 0; p < db->n_pops; p++) {
			primary[p] += !strcmp(st->primary, db->pops[p].name);
			for (size_t b = 0; b < st->n_backups; b++)
				backup[p] += !strcmp(st->backups[b], db->pops[p].name);
		}
	}
	*ret_primary = primary;
	*ret_backup = backup;
	return 0;
}

/* Each POP's live health from the runtime (calloc'd; nothing known without one). */
static int pop_health(struct req *r, struct ctl_pop_health **ret)
{
	const struct site_db *db = r->h->db;
	const struct ctl_runtime *rt = r->h->rt;
	struct ctl_pop_health *hp = calloc(db->n_pops ? db->n_pops : 1, sizeof(*hp));
	int rc = 0;

	if (!hp)
		return fail(r, -ENOMEM, "%s: out of memory", ctl_verb_name(r->m->code));
	if (rt && rt->pop_health)
		rc = rt->pop_health(rt->arg, db, hp);
	if (rc < 0) {
		free(hp);
		return fail(r, rc, "%s: runtime state: %s", ctl_verb_name(r->m->code),
			    strerror(-rc));
	}
	*ret = hp;
	return 0;
}

static int put_pop_rows(struct req *r, const char *only)
{
	const struct site_db *db = r->h->db;
	size_t *primary = NULL, *backup = NULL, mark;
	struct ctl_pop_health *hp = NULL;
	int rc = pop_counts(r, &primary, &backup);

	rc = rc ?: pop_health(r, &hp);
	if (rc == 0 && !only)
		rc = put_kv_size(r->w, "total", db->n_pops);
	for (size_t p = 0; rc == 0 && p < db->n_pops; p++) {
		if (only && strcmp(only, db->pops[p].name))
			continue;
		rc = ctl_row_begin(r->w, &mark);
		rc = rc ?: put_pop_fields(r->w, &db->pops[p], primary[p], backup[p]);
		if (hp[p].known) {
			rc = rc ?: put_kv_size(r->w, "tunnels-up", hp[p].tunnels_up);
			rc = rc ?: put_kv_size(r->w, "tunnels-down", hp[p].tunnels_down);
			rc = rc ?: put_kv_size(r->w, "sites-active", hp[p].sites_active);
		}
		rc = rc ?: ctl_row_end(r->w, mark);
	}
	free(hp);
	free(primary);
	free(backup);
	return rc;
}

static int pop_list(struct req *r)
{
	return put_pop_rows(r, NULL);
}

static int pop_show(struct req *r)
{
	if (!site_db_find_pop(r->h->db, r->names[0]))
		return fail(r, -ENOENT, "pop '%s': no such POP", r->names[0]);
	return put_pop_rows(r, r->names[0]);
}

/* A POP change: fn changes the database; undone from a snapshot when it or the save fails. */
static int pop_change(struct req *r, int (*fn)(struct req *r))
{
	struct pops_snapshot snap = { 0 };
	int rc = pops_snapshot(r, &snap);

	if (rc < 0)
		return rc;
	rc = fn(r);
	rc = rc ?: save(r, r->h->db);
	if (rc < 0)
		pops_restore(r, &snap);
	free(snap.pops);
	if (rc == 0)
		pops_changed(r, r->names, r->n_names);
	return rc;
}

static int pop_add_fn(struct req *r)
{
	const char *name = r->names[0];
	struct pop p;
	int rc;

	rc = check_keys(r, false, name);
	if (rc < 0)
		return rc;
	pop_init(&p);
	rc = pop_set(&p, "name", name, r->err, r->err_len);
	for (size_t k = 0; rc == 0 && k < r->n_kv; k += 2)
		rc = !strcmp(r->kv[k], "name") ?
			usage(r, "pop '%s': the name is given once", name) :
			pop_set(&p, r->kv[k], r->kv[k + 1], r->err, r->err_len);
	rc = rc ?: site_db_add_pop(r->h->db, &p, r->err, r->err_len);
	return rc < 0 ? prefix_err(r, rc, "pop", name) : 0;
}

static int pop_edit_fn(struct req *r)
{
	int rc;

	if (r->n_kv == 0)
		return usage(r, "pop '%s': nothing to change", r->names[0]);
	if (!site_db_find_pop(r->h->db, r->names[0]))
		return fail(r, -ENOENT, "pop '%s': no such POP", r->names[0]);
	rc = check_keys(r, false, r->names[0]);
	if (rc < 0)
		return rc;
	rc = site_db_edit_pop(r->h->db, r->names[0], r->kv, r->n_kv, r->err, r->err_len);
	return rc < 0 ? prefix_err(r, rc, "pop", r->names[0]) : 0;
}

/* One by one; a refusal and pop_change puts back those already gone. */
static int pop_delete_fn(struct req *r)
{
	int rc = 0;

	for (size_t k = 0; rc == 0 && k < r->n_names; k++) {
		for (size_t j = 0; j < k; j++)
			if (!strcmp(r->names[j], r->names[k]))
				rc = usage(r, "pop '%s': named twice", r->names[k]);
		rc = rc ?: site_db_delete_pop(r->h->db, r->names[k], r->err, r->err_len);
	}
	return rc;
}

static int pop_add(struct req *r)
{
	return pop_change(r, pop_add_fn);
}

static int pop_edit(struct req *r)
{
	return pop_change(r, pop_edit_fn);
}

static int pop_delete(struct req *r)
{
	return pop_change(r, pop_delete_fn);
}

static int sa_list(struct req *r)
{
	const struct ctl_runtime *rt = r->h->rt;
	int rc;

	if (!rt || !rt->sa_list)
		return fail(r, -EOPNOTSUPP, "sa list: not available from this daemon");
	rc = rt->sa_list(rt->arg, r->w);
	return rc < 0 ? fail(r, rc, "sa list: %s", strerror(-rc)) : 0;
}

static int do_refresh(struct req *r)
{
	const struct ctl_runtime *rt = r->h->rt;
	char why[SITE_ERR_MAX] = "";
	int rc;

	if (!rt || !rt->refresh)
		return fail(r, -EOPNOTSUPP, "refresh: not available from this daemon");
	rc = rt->refresh(rt->arg, why, sizeof(why));
	if (rc < 0)
		return fail(r, rc, "refresh: %s", *why ? why : strerror(-rc));
	return 0;
}

static int do_tunnel(struct req *r)
{
	const struct ctl_runtime *rt = r->h->rt;
	const char *action = NULL, *pop = r->n_names > 1 ? r->names[1] : NULL;
	bool ike = false;
	char why[256] = "";
	int rc;

	for (size_t k = 0; k < r->n_kv; k += 2) {
		if (!strcmp(r->kv[k], "action"))
			action = r->kv[k + 1];
		else if (!strcmp(r->kv[k], "ike"))
			ike = !strcmp(r->kv[k + 1], "yes");
		else
			return usage(r, "tunnel: no option '%s'", r->kv[k]);
	}
	if (!action || (strcmp(action, "initiate") && strcmp(action, "terminate") &&
			strcmp(action, "rekey")))
		return usage(r, "tunnel: initiate, terminate or rekey");
	if (ike && strcmp(action, "rekey"))
		return usage(r, "tunnel %s: --ike is for rekey", action);
	if (!site_db_find(r->h->db, r->names[0]))
		return fail(r, -ENOENT, "site '%s': no such site", r->names[0]);
	if (pop && !site_db_find_pop(r->h->db, pop))
		return fail(r, -ENOENT, "pop '%s': no such POP", pop);
	if (!rt || !rt->tunnel)
		return fail(r, -EOPNOTSUPP, "tunnel: not available from this daemon");
	rc = rt->tunnel(rt->arg, action, r->names[0], pop, ike, r->w, why, sizeof(why));
	return rc < 0 ? fail(r, rc, "site '%s'%s%s: %s", r->names[0], pop ? " pop " : "",
			     pop ? pop : "", *why ? why : strerror(-rc)) : 0;
}

static int by_name_ptr(const void *a, const void *b)
{
	const struct site *x = *(const struct site *const *)a, *y = *(const struct site *const *)b;

	return strcmp(x->name, y->name);
}

/*
 * One page of `metrics`: the sites whose names sort after "after" (none: from the first), in
 * name order. A cursor, not a page number: sites added or deleted between two pages move no
 * site into a page twice.
 */
static int do_metrics(struct req *r)
{
	const struct site_db *db = r->h->db;
	const struct ctl_runtime *rt = r->h->rt;
	const struct site **v;
	const char *after = "";
	size_t n = 0;
	bool more;
	int rc;

	if (!rt || !rt->metrics)
		return fail(r, -EOPNOTSUPP, "metrics: not available from this daemon");
	for (size_t i = 0; i < r->n_kv; i += 2) {
		if (strcmp(r->kv[i], "after"))
			return usage(r, "metrics: '%s': no such field (after)", r->kv[i]);
		after = r->kv[i + 1];
	}
	v = calloc(db->n_sites + 1, sizeof(*v));
	if (!v)
		return fail(r, -ENOMEM, "metrics: out of memory");
	for (size_t i = 0; i < db->n_sites; i++)
		if (strcmp(db->sites[i].name, after) > 0)
			v[n++] = &db->sites[i];
	qsort(v, n, sizeof(*v), by_name_ptr);
	more = n > CTL_METRICS_PAGE;
	rc = rt->metrics(rt->arg, v, more ? CTL_METRICS_PAGE : n, r->w);
	if (rc < 0)
		rc = fail(r, rc, "metrics: %s", strerror(-rc));
	rc = rc ?: put_kv_size(r->w, "sites", db->n_sites);
	rc = rc ?: ctl_put_kv(r->w, "more", more ? "yes" : "no");
	free(v);
	return rc;
}

static int do_monitor(struct req *r)
{
	return fail(r, -EOPNOTSUPP, "monitor: not supported yet");
}

#define MANY ((size_t)CTL_MAX_ATTRS)

static const struct verb verbs[CTL_VERB_MAX] = {
	[CTL_STATUS] = { .fn = do_status },
	[CTL_SITE_LIST] = { .fn = site_list, .attrs = A(CTL_A_KV) },
	[CTL_SITE_SHOW] = { .fn = site_show,
		.attrs = A(CTL_A_NAME), .min_names = 1, .max_names = 1 },
	[CTL_SITE_ADD] = { .fn = site_add,
		.attrs = A(CTL_A_NAME) | A(CTL_A_KV) | A(CTL_A_PSK), .min_names = 1, .max_names = 1 },
	[CTL_SITE_EDIT] = { .fn = site_edit,
		.attrs = A(CTL_A_NAME) | A(CTL_A_KV) | A(CTL_A_PSK), .min_names = 1, .max_names = 1 },
	/* By names, or by a filter (KVs as site list's): bulk_names. */
	[CTL_SITE_DELETE] = { .fn = site_delete,
		.attrs = A(CTL_A_NAME) | A(CTL_A_KV), .max_names = MANY },
	[CTL_SITE_ENABLE] = { .fn = site_enable,
		.attrs = A(CTL_A_NAME) | A(CTL_A_KV), .max_names = MANY },
	[CTL_SITE_DISABLE] = { .fn = site_disable,
		.attrs = A(CTL_A_NAME) | A(CTL_A_KV), .max_names = MANY },
	[CTL_SITE_IMPORT] = { .fn = site_import,
		.attrs = A(CTL_A_DATA) | A(CTL_A_FLAG) | A(CTL_A_KV),
		.flags = FLAG_DRY_RUN | FLAG_CHUNKED | FLAG_END, .max_data = 2 },
	[CTL_SITE_EXPORT] = { .fn = site_export,
		.attrs = A(CTL_A_FLAG), .flags = FLAG_WITH_PSK | FLAG_CHUNKED },
	[CTL_POP_LIST] = { .fn = pop_list },
	[CTL_POP_SHOW] = { .fn = pop_show, .attrs = A(CTL_A_NAME), .min_names = 1, .max_names = 1 },
	[CTL_POP_ADD] = { .fn = pop_add,
		.attrs = A(CTL_A_NAME) | A(CTL_A_KV), .min_names = 1, .max_names = 1 },
	[CTL_POP_EDIT] = { .fn = pop_edit,
		.attrs = A(CTL_A_NAME) | A(CTL_A_KV), .min_names = 1, .max_names = 1 },
	[CTL_POP_DELETE] = { .fn = pop_delete,
		.attrs = A(CTL_A_NAME), .min_names = 1, .max_names = MANY },
	[CTL_SA_LIST] = { .fn = sa_list },
	[CTL_REFRESH] = { .fn = do_refresh },
	[CTL_MONITOR] = { .fn = do_monitor },
	[CTL_METRICS] = { .fn = do_metrics, .attrs = A(CTL_A_KV) },
	[CTL_SITE_RENAME] = { .fn = site_rename,
		.attrs = A(CTL_A_NAME), .min_names = 2, .max_names = 2 },
	[CTL_TUNNEL] = { .fn = do_tunnel,
		.attrs = A(CTL_A_NAME) | A(CTL_A_KV), .min_names = 1, .max_names = 2 },
};

int ctl_reply_error(struct ike_writer *w, uint32_t id, int status, const char *msg)
{
	return ctl_reply_error_class(w, id, status, NULL, msg);
}

int ctl_reply_error_class(struct ike_writer *w, uint32_t id, int status, const char *cls,
			  const char *msg)
{
	size_t start = w->len, mark;
	int code = status < 0 ? -status : status;
	int rc;

	rc = ctl_begin(w, id, (uint16_t)(code > 0 && code <= 0xffff ? code : EIO), CTL_FLAG_REPLY,
		       &mark);
	if (rc == 0 && cls)
		rc = ctl_put_kv(w, CTL_ERROR_CLASS, cls);
	rc = rc ?: ctl_put_str(w, CTL_A_ERROR, msg);
	rc = rc ?: ctl_end(w, mark);
	if (rc < 0)
		w->len = start;
	return rc;
}

int ctl_handle(struct ctl_handler *h, const struct ctl_msg *req, struct ike_writer *w)
{
	struct req r = { .h = h, .m = req, .w = w, .err_len = ERR_MAX };
	size_t start = w->len, mark;
	const struct verb *v = NULL;
	int rc;

	r.err = malloc(ERR_MAX);
	if (!r.err)
		return ctl_reply_error(w, req->id, -ENOMEM, "out of memory") ?: -ENOMEM;
	r.err[0] = '\0';
	if (req->code > 0 && req->code < CTL_VERB_MAX)
		v = &verbs[req->code];
	if (req->flags & CTL_FLAG_REPLY)
		rc = fail(&r, -EBADMSG, "a reply where a request was expected");
	else if (!v || !v->fn)
		rc = fail(&r, -EBADMSG, "unknown verb %u", req->code);
	else if (req->n_attrs && !req->attrs)
		rc = fail(&r, -EINVAL, "%s: attributes missing", ctl_verb_name(req->code));
	else
		rc = parse_parts(&r, v);
	if (rc == 0) {
		rc = ctl_begin(w, req->id, 0, CTL_FLAG_REPLY, &mark);
		rc = rc ?: v->fn(&r);
		if (rc == NO_REPLY) {
			w->len = start;
			rc = 0;
			goto out;
		}
		rc = rc ?: ctl_end(w, mark);
	}
	if (rc < 0) {
		/* A half-written reply may hold exported keys. */
		if (w->len > start)
			sodium_memzero(w->buf + start, w->len - start);
		w->len = start;
		if (!r.err[0] && rc == -EMSGSIZE)
			fail(&r, rc, "%s: the reply would exceed %d bytes",
			     ctl_verb_name(req->code), CTL_MAX_MSG);
		else if (!r.err[0])
			fail(&r, rc, "%s: %s", ctl_verb_name(req->code), strerror(-rc));
		if (ctl_reply_error_class(w, req->id, rc, r.usage ? "usage" : NULL, r.err) < 0 &&
		    ctl_reply_error(w, req->id, rc, strerror(-rc)) < 0)
			rc = -ENOMEM;
	}
out:
	free(r.bulk_pool);
	free(r.bulk_names);
	free(r.pool);
	free(r.names);
	free(r.kv);
	free(r.err);
	return rc;
}
