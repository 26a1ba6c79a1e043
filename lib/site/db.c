/* Changes to the site database: validated first, all or nothing (see site.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "site/site.h"

static int fail(char *err, size_t len, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
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

static ssize_t pop_index(const struct site_db *db, const char *name)
{
	for (size_t i = 0; i < db->n_pops; i++)
		if (!strcmp(db->pops[i].name, name))
			return (ssize_t)i;
	return -1;
}

static ssize_t site_index(const struct site_db *db, const char *name)
{
	for (size_t i = 0; i < db->n_sites; i++)
		if (!strcmp(db->sites[i].name, name))
			return (ssize_t)i;
	return -1;
}

/* The address as bytes (family first), so "2001:db8::1" and "2001:DB8:0::1" compare equal. */
static bool same_address(const char *a, const char *b)
{
	uint8_t x[17], y[17];

	x[0] = inet_pton(AF_INET, a, x + 1) == 1 ? 4 : inet_pton(AF_INET6, a, x + 1) == 1 ? 6 : 0;
	y[0] = inet_pton(AF_INET, b, y + 1) == 1 ? 4 : inet_pton(AF_INET6, b, y + 1) == 1 ? 6 : 0;
	return x[0] && x[0] == y[0] && !memcmp(x + 1, y + 1, x[0] == 4 ? 4 : 16);
}

/*
 * Two POPs at one gateway address are one peer: a site's tunnels to both would be two IKE
 * SAs with one identity at the same gateway, which keeps one per site (a new one replaces
 * the old, RFC 7296 §2.4), so they would replace each other without end.
 */
static int check_gateway(const struct site_db *db, const struct pop *p, char *err, size_t len)
{
	for (size_t i = 0; i < db->n_pops; i++)
		if (strcmp(db->pops[i].name, p->name) && same_address(db->pops[i].gateway, p->gateway))
			return fail(err, len, -EEXIST, "pop '%s' gateway '%s': already the gateway of "
				    "pop '%s' (one gateway keeps one IKE SA per site: a site's tunnels "
				    "to both would replace each other)", p->name, p->gateway,
				    db->pops[i].name);
	return 0;
}

int site_db_add_pop(struct site_db *db, const struct pop *p, char *err, size_t len)
{
	struct pop *v;
	int rc = pop_validate(p, err, len);

	if (rc < 0)
		return rc;
	if (pop_index(db, p->name) >= 0)
		return fail(err, len, -EEXIST, "pop '%s': exists", p->name);
	rc = check_gateway(db, p, err, len);
	if (rc < 0)
		return rc;
	v = realloc(db->pops, (db->n_pops + 1) * sizeof(*v));
	if (!v)
		return fail(err, len, -ENOMEM, "pop '%s': out of memory", p->name);
	db->pops = v;
	db->pops[db->n_pops++] = *p;
	return 0;
}

int site_db_edit_pop(struct site_db *db, const char *name, const char *const *kv, size_t n_kv,
		     char *err, size_t len)
{
	ssize_t i = pop_index(db, name);
	struct pop copy;
	int rc = 0;

	if (i < 0)
		return fail(err, len, -ENOENT, "pop '%s': no such POP", name);
	if (n_kv % 2)
		return fail(err, len, -EINVAL, "pop '%s': '%s' needs a value", name, kv[n_kv - 1]);
	copy = db->pops[i];
	for (size_t k = 0; rc == 0 && k < n_kv; k += 2) {
		if (!strcmp(kv[k], "name"))
			return fail(err, len, -EINVAL, "pop '%s': a POP is not renamed", name);
		rc = pop_set(&copy, kv[k], kv[k + 1], err, len);
	}
	rc = rc ?: pop_validate(&copy, err, len);
	rc = rc ?: check_gateway(db, &copy, err, len);
	if (rc == 0)
		db->pops[i] = copy;
	return rc;
}

int site_db_delete_pop(struct site_db *db, const char *name, char *err, size_t len)
{
	ssize_t i = pop_index(db, name);
	char users[SITE_ERR_MAX] = "";
	size_t used = 0;

	if (i < 0)
		return fail(err, len, -ENOENT, "pop '%s': no such POP", name);
	for (size_t s = 0; s < db->n_sites; s++) {
		const struct site *st = &db->sites[s];
		bool uses = !strcmp(st->primary, name);

		for (size_t b = 0; b < st->n_backups; b++)
			uses |= !strcmp(st->backups[b], name);
		if (uses && used++ < 5) {
			size_t l = strlen(users);

			snprintf(users + l, sizeof(users) - l, "%s'%s'", l ? ", " : "", st->name);
		}
	}
	if (used)
		return fail(err, len, -EBUSY, "pop '%s': used by %zu site%s (%s%s)", name, used,
			    used > 1 ? "s" : "", users, used > 5 ? ", ..." : "");
	memmove(&db->pops[i], &db->pops[i + 1], (db->n_pops - (size_t)i - 1) * sizeof(*db->pops));
	db->n_pops--;
	return 0;
}

const struct site *site_db_find_id(const struct site_db *db, const struct site *s, ssize_t skip)
{
	uint32_t h = site_id_hash(s);

	for (size_t i = 0; i < db->n_sites; i++)
		if ((ssize_t)i != skip && site_id_hash(&db->sites[i]) == h &&
		    site_same_id(&db->sites[i], s))
			return &db->sites[i];
	return NULL;
}

/*
 * One identity, one site: a gateway finds the site of an IKE_AUTH by its identity, so a
 * second site with it would never authenticate (RFC 7296 §2.15 keys the PSK by identity).
 */
static int check_id(const struct site_db *db, const struct site *s, ssize_t skip, char *err,
		    size_t len)
{
	const struct site *o = site_db_find_id(db, s, skip);
	char a[SITE_ID_MAX + 8], b[SITE_ID_MAX + 8];

	if (!o)
		return 0;
	return fail(err, len, -EEXIST, "site '%s' id '%s': already the identity of site '%s' (%s);"
		    " a gateway tells sites apart by identity", s->name, site_id_text(s, a, sizeof(a)),
		    o->name, site_id_text(o, b, sizeof(b)));
}

int site_db_add_site(struct site_db *db, const struct site *s, char *err, size_t len)
{
	struct site *v;
	int rc = site_validate(s, db, err, len);

	if (rc < 0)
		return rc;
	if (site_index(db, s->name) >= 0)
		return fail(err, len, -EEXIST, "site '%s': exists", s->name);
	rc = check_id(db, s, -1, err, len);
	if (rc < 0)
		return rc;
	v = realloc(db->sites, (db->n_sites + 1) * sizeof(*v));
	if (!v)
		return fail(err, len, -ENOMEM, "site '%s': out of memory", s->name);
	db->sites = v;
	rc = site_copy(&db->sites[db->n_sites], s);
	if (rc < 0)
		return fail(err, len, rc, "site '%s': out of memory", s->name);
	db->n_sites++;
	return 0;
}

int site_db_edit_site(struct site_db *db, const char *name, const char *const *kv, size_t n_kv,
		      char *err, size_t len)
{
	ssize_t i = site_index(db, name);
	struct site copy;
	int rc;

	if (i < 0)
		return fail(err, len, -ENOENT, "site '%s': no such site", name);
	if (n_kv % 2)
		return fail(err, len, -EINVAL, "site '%s': '%s' needs a value", name, kv[n_kv - 1]);
	rc = site_copy(&copy, &db->sites[i]);
	if (rc < 0)
		fail(err, len, rc, "site '%s': out of memory", name);
	for (size_t k = 0; rc == 0 && k < n_kv; k += 2)
		rc = !strcmp(kv[k], "name") ?
			fail(err, len, -EINVAL, "site '%s': name: a site is renamed with site rename "
			     "OLD NEW", name) :
			site_set(&copy, kv[k], kv[k + 1], err, len);
	rc = rc ?: site_validate(&copy, db, err, len);
	rc = rc ?: check_id(db, &copy, i, err, len);
	if (rc < 0) {
		site_clear(&copy);
		return rc;
	}
	site_clear(&db->sites[i]);
	db->sites[i] = copy;
	return 0;
}

int site_db_rename_site(struct site_db *db, const char *old_name, const char *new_name,
			char *err, size_t len)
{
	ssize_t i = site_index(db, old_name);
	struct site probe;
	int rc;

	if (i < 0)
		return fail(err, len, -ENOENT, "site '%s': no such site", old_name);
	site_init(&probe);
	rc = site_set(&probe, "name", new_name, err, len);
	site_clear(&probe);	/* only the check was wanted: new_name fits the inline name */
	if (rc < 0)
		return rc;
	if (!strcmp(old_name, new_name))
		return fail(err, len, -EINVAL, "site '%s': already its name", old_name);
	if (site_index(db, new_name) >= 0)
		return fail(err, len, -EEXIST, "site '%s': exists", new_name);
	strcpy(db->sites[i].name, new_name);
	return 0;
}

/* Every name must exist (and appear once) before anything changes. */
static int check_names(const struct site_db *db, const char *const *names, size_t n, char *err,
		       size_t len)
{
	if (n == 0)
		return fail(err, len, -EINVAL, "no site named");
	for (size_t k = 0; k < n; k++) {
		if (site_index(db, names[k]) < 0)
			return fail(err, len, -ENOENT, "site '%s': no such site", names[k]);
		for (size_t j = 0; j < k; j++)
			if (!strcmp(names[j], names[k]))
				return fail(err, len, -EINVAL, "site '%s': named twice", names[k]);
	}
	return 0;
}

int site_db_set_enabled(struct site_db *db, const char *const *names, size_t n, bool enabled,
			char *err, size_t len)
{
	int rc = check_names(db, names, n, err, len);

	for (size_t k = 0; rc == 0 && k < n; k++)
		db->sites[site_index(db, names[k])].enabled = enabled;
	return rc;
}

int site_db_delete_sites(struct site_db *db, const char *const *names, size_t n, char *err,
			 size_t len)
{
	int rc = check_names(db, names, n, err, len);

	for (size_t k = 0; rc == 0 && k < n; k++) {
		ssize_t i = site_index(db, names[k]);

		site_clear(&db->sites[i]);
		memmove(&db->sites[i], &db->sites[i + 1],
			(db->n_sites - (size_t)i - 1) * sizeof(*db->sites));
		db->n_sites--;
	}
	return rc;
}

static bool matches(const struct site *s, const struct site_filter *f)
{
	bool pop = !f->pop || !*f->pop || !strcmp(s->primary, f->pop);

	for (size_t b = 0; !pop && b < s->n_backups; b++)
		pop = !strcmp(s->backups[b], f->pop);
	return pop && (!f->name || strstr(s->name, f->name)) && (!f->id || strstr(s->id, f->id)) &&
	       (f->traffic < 0 || (int)s->traffic == f->traffic) &&
	       (f->enabled < 0 || (int)s->enabled == f->enabled);
}

static int by_name(const void *a, const void *b, void *arg)
{
	const struct site_db *db = arg;

	return strcmp(db->sites[*(const size_t *)a].name, db->sites[*(const size_t *)b].name);
}

int site_db_select(const struct site_db *db, const struct site_filter *f, size_t **ret,
		   size_t *ret_n, size_t *ret_total)
{
	size_t *all = malloc((db->n_sites ? db->n_sites : 1) * sizeof(*all));
	size_t n = 0, first, count;

	if (!all)
		return -ENOMEM;
	for (size_t i = 0; i < db->n_sites; i++)
		if (matches(&db->sites[i], f))
			all[n++] = i;
	qsort_r(all, n, sizeof(*all), by_name, (void *)db);
	if (f->descending)
		for (size_t i = 0; i < n / 2; i++) {
			size_t t = all[i];

			all[i] = all[n - 1 - i];
			all[n - 1 - i] = t;
		}
	first = (f->page ? f->page - 1 : 0) * SITE_PAGE_SIZE;
	count = first < n ? (n - first < SITE_PAGE_SIZE ? n - first : SITE_PAGE_SIZE) : 0;
	memmove(all, all + (first < n ? first : n), count * sizeof(*all));
	*ret = all;
	*ret_n = count;
	*ret_total = n;
	return 0;
}
