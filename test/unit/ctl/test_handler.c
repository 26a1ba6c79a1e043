/*
 * lib/ctl/handler: every verb against a site database and a store in a temporary directory,
 * with a fake runtime. A refused change leaves the database and the store file byte for byte
 * as they were, and so does a store that cannot be saved; no reply carries a PSK.
 */
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "ctl/handler.h"
#include "site/csv.h"
#include "site/store.h"

#define PSK "S3cr3t-PSK-marker-0123456789"
#define PSK2 "An0ther-PSK-marker-9876543210"

static struct ctl_attr req_attrs[CTL_MAX_ATTRS], rep_attrs[CTL_MAX_ATTRS];
static struct ike_writer rq, reply;
static size_t rq_mark;
static struct ctl_msg rep = { .attrs = rep_attrs };
static struct site_db db;
static struct ctl_handler h;
static char dir[64], store[128];
static bool allow_psk_in_reply;

/* What the fake runtime was told. */
static char changed[4096];
static size_t n_changed_calls;
static char pops_changed_names[1024];
static char renamed[256];
static int refresh_rc;

/* ---- a fake runtime ---- */

/* Status by name: disabled sites "disabled"; a name ending in an even digit "up". */
static int rt_site(void *arg, const struct site *s, bool detail, struct ike_writer *w)
{
	size_t n = strlen(s->name), mark;
	char last = n ? s->name[n - 1] : 'x';
	int rc;

	(void)arg;
	rc = ctl_put_kv(w, "status", !s->enabled ? "disabled" :
			last >= '0' && last <= '9' && (last - '0') % 2 == 0 ? "up" : "down");
	rc = rc ?: ctl_put_kv(w, "active-pop", s->primary);
	/* Throughput: the name's number (s042: 42 Kbps), 1234 for the fixtures a0, b1, c2. */
	rc = rc ?: ctl_put_kv(w, "throughput-kbps", s->name[0] == 's' ? s->name + 1 : "1234");
	for (size_t i = 0; detail && rc == 0 && i < 1 + s->n_backups; i++) {
		rc = ctl_row_begin(w, &mark);
		rc = rc ?: ctl_put_kv(w, "pop", i ? s->backups[i - 1] : s->primary);
		rc = rc ?: ctl_put_kv(w, "state", i ? "standby" : "established");
		rc = rc ?: ctl_row_end(w, mark);
	}
	return rc;
}

static int rt_status(void *arg, struct ike_writer *w)
{
	(void)arg;
	return ctl_put_kv(w, "role", "initiator");
}

static int rt_sa_list(void *arg, struct ike_writer *w)
{
	size_t mark;
	int rc = ctl_row_begin(w, &mark);

	(void)arg;
	rc = rc ?: ctl_put_kv(w, "site", "a0");
	rc = rc ?: ctl_put_kv(w, "kind", "ike");
	return rc ?: ctl_row_end(w, mark);
}

static int rt_refresh(void *arg, char *err, size_t len)
{
	(void)arg;
	if (refresh_rc < 0)
		snprintf(err, len, "kernel said no");
	return refresh_rc;
}

static void rt_sites_changed(void *arg, const char *const *names, size_t n)
{
	(void)arg;
	n_changed_calls++;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(changed);

		snprintf(changed + l, sizeof(changed) - l, "%s%s", l ? "," : "", names[i]);
	}
}

static void rt_pops_changed(void *arg, const char *const *names, size_t n)
{
	(void)arg;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(pops_changed_names);

		snprintf(pops_changed_names + l, sizeof(pops_changed_names) - l, "%s%s",
			 l ? "," : "", names[i]);
	}
}

static void rt_site_renamed(void *arg, const char *old_name, const char *new_name)
{
	size_t l = strlen(renamed);

	(void)arg;
	snprintf(renamed + l, sizeof(renamed) - l, "%s%s>%s", l ? "," : "", old_name, new_name);
}

/* Health by POP position: 1 + position tunnels up, 7 down, 2 sites active; lon1 unknown. */
static int rt_pop_health(void *arg, const struct site_db *d, struct ctl_pop_health *ret)
{
	(void)arg;
	for (size_t p = 0; p < d->n_pops; p++)
		if (strcmp(d->pops[p].name, "lon1"))
			ret[p] = (struct ctl_pop_health){ .known = true, .tunnels_up = 1 + p,
							  .tunnels_down = 7, .sites_active = 2 };
	return 0;
}

static const struct ctl_runtime runtime = {
	.site_runtime = rt_site, .status = rt_status, .sa_list = rt_sa_list,
	.refresh = rt_refresh, .sites_changed = rt_sites_changed,
	.pops_changed = rt_pops_changed, .site_renamed = rt_site_renamed,
	.pop_health = rt_pop_health,
};

/* ---- requests and replies ---- */

static void rq_begin(uint16_t verb)
{
	ike_writer_clear(&rq);
	ike_writer_init(&rq, CTL_MAX_MSG + 4);
	ck_assert_int_eq(ctl_begin(&rq, 77, verb, 0, &rq_mark), 0);
}

static void rq_name(const char *name)
{
	ck_assert_int_eq(ctl_put_str(&rq, CTL_A_NAME, name), 0);
}

static void rq_kv(const char *key, const char *value)
{
	ck_assert_int_eq(ctl_put_kv(&rq, key, value), 0);
}

static void rq_str(uint16_t type, const char *s)
{
	ck_assert_int_eq(ctl_put_str(&rq, type, s), 0);
}

/* Handle a request body as given; check the reply frame and decode it into rep. */
static int handle_msg(const struct ctl_msg *m)
{
	const char *why;
	uint32_t be;
	int rc;

	ike_writer_clear(&reply);
	ike_writer_init(&reply, CTL_MAX_MSG + 4);
	rc = ctl_handle(&h, m, &reply);
	ck_assert_uint_ge(reply.len, 4 + CTL_HEADER_LEN);
	memcpy(&be, reply.buf, 4);
	ck_assert_uint_eq(be32toh(be), reply.len - 4);
	ck_assert_int_eq(ctl_decode(reply.buf + 4, reply.len - 4, &rep, &why), 0);
	ck_assert_uint_eq(rep.flags, CTL_FLAG_REPLY);
	ck_assert_uint_eq(rep.id, m->id);
	ck_assert_int_eq(-(int)rep.code, rc);
	if (rc < 0) {
		ck_assert_uint_ge(rep.n_attrs, 1);
		ck_assert_uint_eq(rep.attrs[rep.n_attrs - 1].type, CTL_A_ERROR);
	}
	if (!allow_psk_in_reply) {
		ck_assert_ptr_null(memmem(reply.buf, reply.len, PSK, strlen(PSK)));
		ck_assert_ptr_null(memmem(reply.buf, reply.len, PSK2, strlen(PSK2)));
	}
	return rc;
}

static int rq_send(void)
{
	struct ctl_msg m = { .attrs = req_attrs };
	const char *why;

	ck_assert_int_eq(ctl_end(&rq, rq_mark), 0);
	ck_assert_int_eq(ctl_decode(rq.buf + 4, rq.len - 4, &m, &why), 0);
	return handle_msg(&m);
}

static const char *rep_error(void)
{
	static char buf[16384];
	const struct ctl_attr *a = &rep.attrs[rep.n_attrs - 1];

	ck_assert_uint_eq(a->type, CTL_A_ERROR);
	ck_assert_uint_lt(a->len, sizeof(buf));
	memcpy(buf, a->p, a->len);
	buf[a->len] = '\0';
	return buf;
}

static const char *kv_in(const struct ctl_attr *attrs, size_t n, const char *key)
{
	static char buf[4][1024];
	static int turn;

	for (size_t i = 0; i < n; i++) {
		const uint8_t *v;
		const char *k;
		size_t vl;

		if (attrs[i].type != CTL_A_KV || ctl_attr_kv(&attrs[i], &k, &v, &vl) < 0 ||
		    strcmp(k, key))
			continue;
		turn = (turn + 1) % 4;
		ck_assert_uint_lt(vl, sizeof(buf[0]));
		memcpy(buf[turn], v, vl);
		buf[turn][vl] = '\0';
		return buf[turn];
	}
	return NULL;
}

static const char *rep_kv(const char *key)
{
	return kv_in(rep.attrs, rep.n_attrs, key);
}

static size_t rep_rows(void)
{
	size_t n = 0;

	for (size_t i = 0; i < rep.n_attrs; i++)
		n += rep.attrs[i].type == CTL_A_ROW;
	return n;
}

/* Field key of the index-th row. */
static const char *row_kv(size_t index, const char *key)
{
	static struct ctl_attr inner[256];
	size_t n;

	for (size_t i = 0; i < rep.n_attrs; i++) {
		if (rep.attrs[i].type != CTL_A_ROW || index--)
			continue;
		ck_assert_int_eq(ctl_row_decode(&rep.attrs[i], inner, 256, &n), 0);
		return kv_in(inner, n, key);
	}
	ck_abort_msg("no such row");
	return NULL;
}

static size_t row_nested(size_t index)
{
	static struct ctl_attr inner[256];
	size_t n, nested = 0;

	for (size_t i = 0; i < rep.n_attrs; i++) {
		if (rep.attrs[i].type != CTL_A_ROW || index--)
			continue;
		ck_assert_int_eq(ctl_row_decode(&rep.attrs[i], inner, 256, &n), 0);
		for (size_t k = 0; k < n; k++)
			nested += inner[k].type == CTL_A_ROW;
	}
	return nested;
}

/* ---- fixtures ---- */

static void pop_add(const char *name)
{
	char gw[32];

	/* A gateway each: two POPs at one address are refused. */
	snprintf(gw, sizeof(gw), "198.51.100.%zu", db.n_pops + 1);
	rq_begin(CTL_POP_ADD);
	rq_name(name);
	rq_kv("gateway", gw);
	rq_kv("location", "Frankfurt, DE");
	ck_assert_msg(rq_send() == 0, "%s", rep_error());
}

static int site_add(const char *name, const char *primary, const char *backups,
		    const char *psk)
{
	char id[128];

	snprintf(id, sizeof(id), "fqdn:%s.example.com", name);	/* an identity each */
	rq_begin(CTL_SITE_ADD);
	rq_name(name);
	rq_kv("id", id);
	rq_kv("primary", primary);
	rq_kv("backups", backups);
	if (psk)
		ck_assert_int_eq(ctl_put(&rq, CTL_A_PSK, psk, strlen(psk)), 0);
	return rq_send();
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/ikd-handler-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(store, sizeof(store), "%s/sites", dir);
	memset(&db, 0, sizeof(db));
	h = (struct ctl_handler){ .db = &db, .store_path = store, .rt = &runtime };
	pop_add("fra1");
	pop_add("ams1");
	pop_add("lon1");
	ck_assert_msg(site_add("a0", "fra1", "ams1", PSK) == 0, "%s", rep_error());
	ck_assert_msg(site_add("b1", "fra1", "lon1", PSK2) == 0, "%s", rep_error());
	ck_assert_msg(site_add("c2", "ams1", "lon1,fra1", PSK) == 0, "%s", rep_error());
	changed[0] = '\0';
	n_changed_calls = 0;
	pops_changed_names[0] = '\0';
	renamed[0] = '\0';
}

static void teardown(void)
{
	char path[256];

	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(path), 0);
	site_db_clear(&db);
	ike_writer_clear(&rq);
	ike_writer_clear(&reply);
}

static char *read_file(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*ret_len = (size_t)n;
	return buf;
}

/* The whole state: the store file and the database written the same way. */
struct state {
	char *file, *mem;
	size_t file_len, mem_len;
};

static struct state state_take(void)
{
	struct state s;
	char mem_path[160];

	s.file = read_file(store, &s.file_len);
	snprintf(mem_path, sizeof(mem_path), "%s/mem", dir);
	ck_assert_int_eq(site_store_save(mem_path, &db, NULL, 0), 0);
	s.mem = read_file(mem_path, &s.mem_len);
	return s;
}

static void state_same(struct state *before)
{
	struct state now = state_take();

	ck_assert_uint_eq(now.file_len, before->file_len);
	ck_assert_mem_eq(now.file, before->file, now.file_len);
	ck_assert_uint_eq(now.mem_len, before->mem_len);
	ck_assert_mem_eq(now.mem, before->mem, now.mem_len);
	/* The store is the database. */
	ck_assert_uint_eq(now.file_len, now.mem_len);
	ck_assert_mem_eq(now.file, now.mem, now.mem_len);
	free(now.file);
	free(now.mem);
	ck_assert_str_eq(changed, "");
	ck_assert_str_eq(pops_changed_names, "");
}

static void state_free(struct state *s)
{
	free(s->file);
	free(s->mem);
}

/* ---- tests ---- */

START_TEST(test_handler_site_add_show_edit)
{
	struct site_db loaded;
	char err[256];

	setup();
	/* The store holds what was added. */
	ck_assert_int_eq(site_store_load(store, &loaded, err, sizeof(err)), 0);
	ck_assert_uint_eq(loaded.n_sites, 3);
	ck_assert_uint_eq(loaded.n_pops, 3);
	site_db_clear(&loaded);

	rq_begin(CTL_SITE_SHOW);
	rq_name("c2");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_uint_eq(rep_rows(), 1);
	ck_assert_str_eq(row_kv(0, "name"), "c2");
	ck_assert_str_eq(row_kv(0, "id"), "c2.example.com");
	ck_assert_str_eq(row_kv(0, "id-type"), "fqdn");
	ck_assert_str_eq(row_kv(0, "psk"), "(set)");
	ck_assert_str_eq(row_kv(0, "backups"), "lon1,fra1");
	ck_assert_str_eq(row_kv(0, "local-ts"), "0.0.0.0/0");
	ck_assert_str_eq(row_kv(0, "traffic"), "User");
	ck_assert_str_eq(row_kv(0, "enabled"), "yes");
	ck_assert_str_eq(row_kv(0, "ike-lifetime"), "86400");
	ck_assert_str_eq(row_kv(0, "status"), "up");
	ck_assert_str_eq(row_kv(0, "active-pop"), "ams1");
	ck_assert_uint_eq(row_nested(0), 3);	/* a tunnel per POP */

	/* Edit fields and the key; the runtime hears of c2 only. */
	rq_begin(CTL_SITE_EDIT);
	rq_name("c2");
	rq_kv("traffic", "Guest Wifi");
	rq_kv("mark", "0x10/0xff");
	ck_assert_int_eq(ctl_put(&rq, CTL_A_PSK, PSK2, strlen(PSK2)), 0);
	ck_assert_msg(rq_send() == 0, "%s", rep_error());
	ck_assert_str_eq(changed, "c2");
	ck_assert_str_eq(site_db_find(&db, "c2")->traffic == SITE_TRAFFIC_GUEST_WIFI ? "y" : "n",
			 "y");
	ck_assert_mem_eq(site_db_find(&db, "c2")->psk.p, PSK2, strlen(PSK2));
	ck_assert_int_eq(site_store_load(store, &loaded, err, sizeof(err)), 0);
	ck_assert_uint_eq(site_db_find(&loaded, "c2")->mark, 0x10);
	site_db_clear(&loaded);

	/* A site added without a runtime status gets one from its enabled flag. */
	h.rt = NULL;
	rq_begin(CTL_SITE_DISABLE);
	rq_name("a0");
	ck_assert_int_eq(rq_send(), 0);
	rq_begin(CTL_SITE_SHOW);
	rq_name("a0");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(row_kv(0, "status"), "disabled");
	rq_begin(CTL_SITE_SHOW);
	rq_name("b1");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(row_kv(0, "status"), "down");
	rq_begin(CTL_SITE_SHOW);
	rq_name("zz");
	ck_assert_int_eq(rq_send(), -ENOENT);
	ck_assert_str_eq(rep_error(), "site 'zz': no such site");
	teardown();
}
END_TEST

START_TEST(test_handler_refused_change_changes_nothing)
{
	struct state before;

	setup();
	before = state_take();
	ck_assert_int_eq(site_add("d3", "fra1", "nowhere", PSK), -ENOENT);
	ck_assert_str_eq(rep_error(), "site 'd3' backups 'nowhere': no such POP");
	ck_assert_int_eq(site_add("a0", "fra1", "ams1", PSK), -EEXIST);
	ck_assert_int_eq(site_add("e4", "fra1", "ams1", NULL), -EINVAL);
	ck_assert_str_eq(rep_error(), "site 'e4' psk: missing");
	/* A bad field is named with its value; the site is named too. */
	rq_begin(CTL_SITE_ADD);
	rq_name("f5");
	rq_kv("traffic", "Bulk");
	ck_assert_int_eq(ctl_put(&rq, CTL_A_PSK, PSK, strlen(PSK)), 0);
	ck_assert_int_eq(rq_send(), -EINVAL);
	ck_assert_str_eq(rep_error(),
			 "site 'f5': traffic 'Bulk': one of User, IoT, Mixed, Machine, Guest Wifi");
	/* A PSK as a field is refused, without repeating it. */
	rq_begin(CTL_SITE_EDIT);
	rq_name("a0");
	rq_kv("psk", PSK);
	ck_assert_int_eq(rq_send(), -EPERM);
	rq_begin(CTL_SITE_EDIT);
	rq_name("a0");
	rq_kv("ike-rekey", "86000");
	ck_assert_int_eq(rq_send(), -EINVAL);
	ck_assert_ptr_nonnull(strstr(rep_error(), "rekey at least 10 minutes"));
	rq_begin(CTL_SITE_EDIT);
	rq_name("a0");
	rq_kv("name", "renamed");
	ck_assert_int_eq(rq_send(), -EINVAL);
	rq_begin(CTL_SITE_EDIT);
	rq_name("a0");
	ck_assert_int_eq(rq_send(), -EINVAL);
	ck_assert_str_eq(rep_error(), "site 'a0': nothing to change");
	rq_begin(CTL_POP_DELETE);
	rq_name("ams1");
	ck_assert_int_eq(rq_send(), -EBUSY);
	ck_assert_str_eq(rep_error(), "pop 'ams1': used by 2 sites ('a0', 'c2')");
	rq_begin(CTL_POP_ADD);
	rq_name("x1");
	ck_assert_int_eq(rq_send(), -EINVAL);
	rq_begin(CTL_POP_EDIT);
	rq_name("fra1");
	rq_kv("gateway", "not-an-ip");
	ck_assert_int_eq(rq_send(), -EINVAL);
	ck_assert_str_eq(rep_error(), "pop 'fra1': gateway 'not-an-ip': not an IP address");
	state_same(&before);
	state_free(&before);
	teardown();
}
END_TEST

/* Every change verb against a store that cannot be written: memory must not move. */
static void every_change_fails_to_save(void)
{
	struct state before = state_take();
	static const char csv[] = "name,id,psk,primary,backups\r\n"
				  "n9,fqdn:n9.example.com," PSK ",fra1,ams1\r\n"
				  "a0,fqdn:other.example.com,,fra1,lon1\r\n";

	ck_assert_int_eq(site_add("d3", "fra1", "ams1", PSK) < 0, 1);
	ck_assert_ptr_nonnull(strstr(rep_error(), "not saved, nothing changed"));
	rq_begin(CTL_SITE_EDIT);
	rq_name("b1");
	rq_kv("traffic", "IoT");
	ck_assert_int_eq(ctl_put(&rq, CTL_A_PSK, PSK, strlen(PSK)), 0);
	ck_assert_int_lt(rq_send(), 0);
	rq_begin(CTL_SITE_DISABLE);
	rq_name("a0");
	rq_name("c2");
	ck_assert_int_lt(rq_send(), 0);
	rq_begin(CTL_SITE_ENABLE);
	rq_name("a0");
	ck_assert_int_lt(rq_send(), 0);
	rq_begin(CTL_SITE_DELETE);
	rq_name("c2");
	rq_name("a0");
	ck_assert_int_lt(rq_send(), 0);
	rq_begin(CTL_SITE_DELETE);
	rq_name("b1");
	ck_assert_int_lt(rq_send(), 0);
	rq_begin(CTL_SITE_IMPORT);
	ck_assert_int_eq(ctl_put(&rq, CTL_A_DATA, csv, strlen(csv)), 0);
	ck_assert_int_lt(rq_send(), 0);
	rq_begin(CTL_POP_ADD);
	rq_name("par1");
	rq_kv("gateway", "192.0.2.7");
	ck_assert_int_lt(rq_send(), 0);
	rq_begin(CTL_POP_EDIT);
	rq_name("lon1");
	rq_kv("accepting", "no");
	ck_assert_int_lt(rq_send(), 0);
	state_same(&before);
	state_free(&before);
}

START_TEST(test_handler_failed_save_leaves_db_unchanged)
{
	char bad[160], file[160];
	struct state before;

	setup();
	/* A missing directory. */
	snprintf(bad, sizeof(bad), "%s/missing/sites", dir);
	h.store_path = bad;
	every_change_fails_to_save();
	/* A directory that is a file; an unused POP whose deletion cannot be saved. */
	h.store_path = store;
	rq_begin(CTL_POP_ADD);
	rq_name("par1");
	rq_kv("gateway", "192.0.2.7");
	ck_assert_int_eq(rq_send(), 0);
	pops_changed_names[0] = '\0';
	before = state_take();
	snprintf(file, sizeof(file), "%s/plain", dir);
	fclose(fopen(file, "w"));
	snprintf(bad, sizeof(bad), "%s/plain/sites", dir);
	h.store_path = bad;
	ck_assert_int_lt(site_add("d3", "fra1", "ams1", PSK), 0);
	rq_begin(CTL_POP_DELETE);
	rq_name("par1");
	ck_assert_int_lt(rq_send(), 0);
	ck_assert_ptr_nonnull(strstr(rep_error(), "pop delete: not saved, nothing changed: "));
	state_same(&before);
	state_free(&before);
	/* The order of the sites survived the failed deletes. */
	ck_assert_uint_eq(db.n_sites, 3);
	ck_assert_str_eq(db.sites[0].name, "a0");
	ck_assert_str_eq(db.sites[1].name, "b1");
	ck_assert_str_eq(db.sites[2].name, "c2");
	ck_assert_mem_eq(db.sites[1].psk.p, PSK2, strlen(PSK2));
	teardown();
}
END_TEST

START_TEST(test_handler_bulk_all_or_nothing)
{
	struct state before;

	setup();
	before = state_take();
	rq_begin(CTL_SITE_DELETE);
	rq_name("a0");
	rq_name("b1");
	rq_name("nope");
	ck_assert_int_eq(rq_send(), -ENOENT);
	ck_assert_str_eq(rep_error(), "site 'nope': no such site");
	rq_begin(CTL_SITE_DISABLE);
	rq_name("a0");
	rq_name("a0");
	ck_assert_int_eq(rq_send(), -EINVAL);
	rq_begin(CTL_SITE_DELETE);
	ck_assert_int_eq(rq_send(), -EINVAL);
	ck_assert_str_eq(rep_error(), "site delete: no name given");
	state_same(&before);
	state_free(&before);

	rq_begin(CTL_SITE_DISABLE);
	rq_name("a0");
	rq_name("c2");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(changed, "a0,c2");
	ck_assert(!site_db_find(&db, "a0")->enabled && !site_db_find(&db, "c2")->enabled);
	ck_assert(site_db_find(&db, "b1")->enabled);
	changed[0] = '\0';
	rq_begin(CTL_SITE_DELETE);
	rq_name("c2");
	rq_name("a0");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(changed, "c2,a0");
	ck_assert_uint_eq(db.n_sites, 1);
	ck_assert_str_eq(db.sites[0].name, "b1");
	rq_begin(CTL_POP_DELETE);
	rq_name("ams1");
	rq_name("lon1");
	ck_assert_int_eq(rq_send(), -EBUSY);
	ck_assert_uint_eq(db.n_pops, 3);
	rq_begin(CTL_POP_DELETE);
	rq_name("ams1");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(pops_changed_names, "ams1");
	ck_assert_uint_eq(db.n_pops, 2);
	teardown();
}
END_TEST

START_TEST(test_handler_import_dry_run_errors_secrets)
{
	static const char bad[] = "name,id,primary,backups,traffic\r\n"
				  "g6,fqdn:g6.example.com,fra1,ams1,IoT\r\n"
				  "h7,fqdn:h7.example.com,fra1,ams1,Bulk\r\n"
				  "i8,fqdn:i8.example.com,nowhere,ams1,IoT\r\n";
	static const char good[] = "name,id,primary,backups,traffic\r\n"
				   "g6,fqdn:g6.example.com,fra1,ams1,IoT\r\n"
				   "a0,fqdn:a0.example.com,fra1,ams1,User\r\n"
				   "b1,fqdn:b1.example.com,fra1,lon1,Mixed\r\n";
	static const char secrets[] = "name,psk\n" "g6," PSK "\n";
	struct state before;

	setup();
	before = state_take();
	/* Every bad row listed with its line; nothing imported. */
	rq_begin(CTL_SITE_IMPORT);
	ck_assert_int_eq(ctl_put(&rq, CTL_A_DATA, bad, strlen(bad)), 0);
	ck_assert_int_eq(ctl_put(&rq, CTL_A_DATA, secrets, strlen(secrets)), 0);
	ck_assert_int_eq(rq_send(), -EINVAL);
	ck_assert_ptr_nonnull(strstr(rep_error(), "2 bad rows, nothing imported"));
	ck_assert_ptr_nonnull(strstr(rep_error(), "\nline 3: traffic 'Bulk'"));
	ck_assert_ptr_nonnull(strstr(rep_error(), "\nline 4: site 'i8' "));
	/* A dry run reports and changes nothing. */
	rq_begin(CTL_SITE_IMPORT);
	ck_assert_int_eq(ctl_put(&rq, CTL_A_DATA, good, strlen(good)), 0);
	ck_assert_int_eq(ctl_put(&rq, CTL_A_DATA, secrets, strlen(secrets)), 0);
	rq_str(CTL_A_FLAG, "dry-run");
	ck_assert_msg(rq_send() == 0, "%s", rep_error());
	ck_assert_str_eq(rep_kv("rows"), "3");
	ck_assert_str_eq(rep_kv("added"), "1");
	ck_assert_str_eq(rep_kv("changed"), "1");
	ck_assert_str_eq(rep_kv("unchanged"), "1");
	ck_assert_str_eq(rep_kv("dry-run"), "yes");
	state_same(&before);
	state_free(&before);
	/* No PSK for a new site: refused. */
	rq_begin(CTL_SITE_IMPORT);
	ck_assert_int_eq(ctl_put(&rq, CTL_A_DATA, good, strlen(good)), 0);
	ck_assert_int_eq(rq_send(), -EINVAL);
	ck_assert_ptr_nonnull(strstr(rep_error(), "line 2: site 'g6' psk: missing"));
	/* For real: only the new and the changed sites are re-applied. */
	rq_begin(CTL_SITE_IMPORT);
	ck_assert_int_eq(ctl_put(&rq, CTL_A_DATA, good, strlen(good)), 0);
	ck_assert_int_eq(ctl_put(&rq, CTL_A_DATA, secrets, strlen(secrets)), 0);
	ck_assert_msg(rq_send() == 0, "%s", rep_error());
	ck_assert_str_eq(rep_kv("dry-run"), "no");
	ck_assert_uint_eq(n_changed_calls, 1);
	ck_assert_str_eq(changed, "b1,g6");
	ck_assert_uint_eq(db.n_sites, 4);
	ck_assert_mem_eq(site_db_find(&db, "g6")->psk.p, PSK, strlen(PSK));
	ck_assert_int_eq(site_db_find(&db, "b1")->traffic, SITE_TRAFFIC_MIXED);
	/* Options the verb does not take. */
	rq_begin(CTL_SITE_IMPORT);
	ck_assert_int_eq(ctl_put(&rq, CTL_A_DATA, good, strlen(good)), 0);
	rq_str(CTL_A_FLAG, "with-psk");
	ck_assert_int_eq(rq_send(), -EINVAL);
	ck_assert_str_eq(rep_error(), "site import: no option 'with-psk'");
	rq_begin(CTL_SITE_IMPORT);
	ck_assert_int_eq(rq_send(), -EINVAL);
	teardown();
}
END_TEST

START_TEST(test_handler_export)
{
	static const struct ctl_attr *data;

	setup();
	rq_begin(CTL_SITE_EXPORT);
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(rep_kv("sites"), "3");
	data = &rep.attrs[rep.n_attrs - 1];
	ck_assert_uint_eq(data->type, CTL_A_DATA);
	ck_assert_ptr_nonnull(memmem(data->p, data->len, "c2,fqdn:c2.example.com", 22));
	ck_assert_ptr_null(memmem(data->p, data->len, ",psk,", 5));
	/* Asked for, the keys come out (and only then). */
	allow_psk_in_reply = true;
	rq_begin(CTL_SITE_EXPORT);
	rq_str(CTL_A_FLAG, "with-psk");
	ck_assert_int_eq(rq_send(), 0);
	data = &rep.attrs[rep.n_attrs - 1];
	ck_assert_ptr_nonnull(memmem(data->p, data->len, PSK, strlen(PSK)));
	allow_psk_in_reply = false;
	teardown();
}
END_TEST


/* ---- chunked import and export (a stream on one connection) ---- */

static struct ctl_stream stream_a, stream_b;
static struct ctl_shared shared;

/* A frame of a chunked import that is not the last: no reply at all. */
static void rq_send_no_reply(void)
{
	struct ctl_msg m = { .attrs = req_attrs };
	const char *why;

	ck_assert_int_eq(ctl_end(&rq, rq_mark), 0);
	ck_assert_int_eq(ctl_decode(rq.buf + 4, rq.len - 4, &m, &why), 0);
	ike_writer_clear(&reply);
	ike_writer_init(&reply, CTL_MAX_MSG + 4);
	ck_assert_int_eq(ctl_handle(&h, &m, &reply), 0);
	ck_assert_uint_eq(reply.len, 0);
}

/* text in chunks of at most CTL_CHUNK as one part; id 77 (rq_begin's). */
static void import_part(const char *part, const char *file, const char *text, size_t len,
			bool dry)
{
	for (size_t off = 0; off < len || off == 0; off += CTL_CHUNK) {
		size_t n = len - off < CTL_CHUNK ? len - off : CTL_CHUNK;

		rq_begin(CTL_SITE_IMPORT);
		rq_str(CTL_A_FLAG, "chunked");
		rq_kv("part", part);
		if (off == 0 && file)
			rq_kv(!strcmp(part, "sites") ? "file" : "secrets-file", file);
		if (off == 0 && dry)
			rq_str(CTL_A_FLAG, "dry-run");
		ck_assert_int_eq(ctl_put(&rq, CTL_A_DATA, text + off, n), 0);
		rq_send_no_reply();
		if (len == 0)
			break;
	}
}

static int import_end(void)
{
	rq_begin(CTL_SITE_IMPORT);
	rq_str(CTL_A_FLAG, "chunked");
	rq_str(CTL_A_FLAG, "end");
	return rq_send();
}

/* A chunked export, every frame's CSV appended to *out (malloc'd). */
static int export_all(bool with_psk, char **out, size_t *out_len, size_t *frames)
{
	FILE *f = open_memstream(out, out_len);
	int rc;

	*frames = 0;
	rq_begin(CTL_SITE_EXPORT);
	rq_str(CTL_A_FLAG, "chunked");
	if (with_psk)
		rq_str(CTL_A_FLAG, "with-psk");
	rc = rq_send();
	while (rc == 0) {
		const struct ctl_attr *data = NULL;
		const char *why;

		for (size_t i = 0; i < rep.n_attrs; i++)
			if (rep.attrs[i].type == CTL_A_DATA)
				data = &rep.attrs[i];
		ck_assert_ptr_nonnull(data);
		ck_assert_uint_le(data->len, CTL_CHUNK);
		fwrite(data->p, 1, data->len, f);
		(*frames)++;
		if (!strcmp(rep_kv("more"), "no"))
			break;
		ck_assert(ctl_stream_pending(h.stream));
		ike_writer_clear(&reply);
		ike_writer_init(&reply, CTL_MAX_MSG + 4);
		rc = ctl_stream_next(&h, &reply);
		ck_assert_uint_gt(reply.len, 4);
		ck_assert_int_eq(ctl_decode(reply.buf + 4, reply.len - 4, &rep, &why), 0);
		ck_assert_uint_eq(rep.id, 77);
		ck_assert_int_eq(-(int)rep.code, rc);
	}
	fclose(f);
	ck_assert(!ctl_stream_pending(h.stream));
	return rc;
}

/* 10,002 sites (more than one frame carries): chunked in and out, byte for byte the same. */
START_TEST(test_handler_chunked_round_trip_past_one_frame)
{
	struct site_db gen = { 0 };
	struct csv_report crep;
	char *src, *text, *back;
	size_t src_len = 0, cap = 10002 * 80 + 100, len, back_len, frames;

	setup();
	h.store_path = NULL;
	h.stream = &stream_a;
	h.shared = &shared;
	/* The canonical text: a generated CSV imported and exported once. */
	gen.pops = db.pops;
	gen.n_pops = db.n_pops;
	src = malloc(cap);
	src_len += (size_t)snprintf(src, cap, "name,id,psk,primary,backups,traffic\n");
	for (int i = 0; i < 10002; i++)
		src_len += (size_t)snprintf(src + src_len, cap - src_len,
					    "s%05d,s%d.example.com,key-of-site-%06d,fra1,\"ams1,lon1\",IoT\n",
					    i, i, i);
	ck_assert_int_eq(site_csv_import(&gen, src, src_len, NULL, 0, false, &crep), 0);
	ck_assert_int_eq(site_csv_export(&gen, true, &text, &len), 0);
	ck_assert_uint_gt(len, CTL_MAX_MSG);
	gen.pops = NULL;
	gen.n_pops = 0;
	site_db_clear(&gen);

	/* The one-frame export cannot carry it. */
	import_part("sites", "big.csv", text, len, false);
	ck_assert_msg(import_end() == 0, "%s", rep_error());
	ck_assert_str_eq(rep_kv("added"), "10002");
	ck_assert_str_eq(rep_kv("changed"), "0");
	ck_assert_uint_eq(db.n_sites, 10005);
	rq_begin(CTL_SITE_EXPORT);
	ck_assert_int_eq(rq_send(), -EMSGSIZE);
	/* Chunked, the whole of it; the three sites of setup() first. */
	allow_psk_in_reply = true;
	ck_assert_int_eq(export_all(true, &back, &back_len, &frames), 0);
	allow_psk_in_reply = false;
	ck_assert_uint_gt(frames, CTL_MAX_MSG / CTL_CHUNK);
	ck_assert_str_eq(rep_kv("sites"), "10005");
	ck_assert_ptr_nonnull(strstr(back, "\r\nc2,"));
	ck_assert_ptr_nonnull(strstr(back, "\r\ns00000,"));
	/* Delete the three: the export is then the text imported, byte for byte. */
	rq_begin(CTL_SITE_DELETE);
	rq_name("a0");
	rq_name("b1");
	rq_name("c2");
	ck_assert_int_eq(rq_send(), 0);
	free(back);
	allow_psk_in_reply = true;
	ck_assert_int_eq(export_all(true, &back, &back_len, &frames), 0);
	allow_psk_in_reply = false;
	ck_assert_uint_eq(back_len, len);
	ck_assert(memcmp(back, text, len) == 0);
	/* The same again: nothing changes. */
	import_part("sites", NULL, back, back_len, false);
	ck_assert_msg(import_end() == 0, "%s", rep_error());
	ck_assert_str_eq(rep_kv("unchanged"), "10002");
	free(back);
	free(text);
	free(src);
	ctl_stream_clear(&shared, &stream_a);
	teardown();
}
END_TEST

START_TEST(test_handler_chunked_import_errors_and_conflicts)
{
	static const char sites[] = "name,id,primary,backups\n"
				    "n1,n1.example.com,fra1,ams1\n"
				    "n2,n2.example.com,fra1,nowhere\n";
	static const char secrets[] = "name,psk\nn1," PSK "\nn2,\nzz," PSK "\n";
	struct state before;
	char *out;
	size_t out_len, frames;

	setup();
	h.stream = &stream_a;
	h.shared = &shared;
	before = state_take();
	/* Every bad row of both files, the secrets file by its name. */
	import_part("secrets", "keys.csv", secrets, sizeof(secrets) - 1, false);
	import_part("sites", "sites.csv", sites, sizeof(sites) - 1, false);
	ck_assert_int_eq(import_end(), -EINVAL);
	ck_assert_str_eq(rep_error(), "site import: 2 bad rows, nothing imported\n"
			 "keys.csv line 3: site 'n2' psk: missing\n"
			 "keys.csv line 4: site 'zz': not in sites.csv");
	state_same(&before);
	/* Secrets after the sites: refused at the end, nothing imported. */
	import_part("sites", NULL, sites, sizeof(sites) - 1, false);
	import_part("secrets", NULL, secrets, sizeof(secrets) - 1, false);
	ck_assert_int_eq(import_end(), -EINVAL);
	ck_assert_str_eq(rep_error(), "site import: the secrets come before the sites");
	/* Two imports at once: the second is told to wait. */
	import_part("sites", NULL, sites, sizeof(sites) - 1, true);
	h.stream = &stream_b;
	import_part("sites", NULL, sites, sizeof(sites) - 1, true);
	ck_assert_int_eq(import_end(), -EBUSY);
	ck_assert_str_eq(rep_error(), "site import: another import is under way; try again when "
			 "it is done");
	/* A change while the first was sent: it is refused. */
	ck_assert_int_eq(site_add("d3", "fra1", "ams1", PSK), 0);
	h.stream = &stream_a;
	ck_assert_int_eq(import_end(), -EAGAIN);
	ck_assert_str_eq(rep_error(), "site import: the sites changed while the file was sent; "
			 "nothing imported, run it again");
	/* A change during an export fails it. */
	rq_begin(CTL_SITE_EXPORT);
	rq_str(CTL_A_FLAG, "chunked");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(rep_kv("more"), "no");	/* four sites: one frame */
	ck_assert(!ctl_stream_pending(&stream_a));
	for (int i = 0; i < 400; i++) {
		char name[16];

		snprintf(name, sizeof(name), "m%03d", i);
		h.store_path = NULL;
		ck_assert_int_eq(site_add(name, "fra1", "ams1", PSK), 0);
	}
	ck_assert_int_eq(export_all(false, &out, &out_len, &frames), 0);
	ck_assert_uint_gt(frames, 1);
	free(out);
	rq_begin(CTL_SITE_EXPORT);
	rq_str(CTL_A_FLAG, "chunked");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(rep_kv("more"), "yes");
	ck_assert_int_eq(site_add("late", "fra1", "ams1", PSK), 0);
	ike_writer_clear(&reply);
	ike_writer_init(&reply, CTL_MAX_MSG + 4);
	ck_assert_int_eq(ctl_stream_next(&h, &reply), -EAGAIN);
	ck_assert_ptr_nonnull(memmem(reply.buf, reply.len, "the sites changed during the export",
				     35));
	ck_assert(!ctl_stream_pending(&stream_a));
	/* Without a stream (a one-frame client): no chunks. */
	h.stream = NULL;
	rq_begin(CTL_SITE_EXPORT);
	rq_str(CTL_A_FLAG, "chunked");
	ck_assert_int_eq(rq_send(), -EOPNOTSUPP);
	ctl_stream_clear(&shared, &stream_a);
	ctl_stream_clear(&shared, &stream_b);
	ck_assert_ptr_null(shared.importing);
	state_free(&before);
	teardown();
}
END_TEST

/* 250 sites s000..s249: status up for even names, primary fra1, odd ones back up to lon1. */
static void many_sites(void)
{
	for (int i = 249; i >= 0; i--) {
		char name[8];

		snprintf(name, sizeof(name), "s%03d", i);
		ck_assert_int_eq(site_add(name, "fra1", i % 2 ? "lon1" : "ams1", PSK), 0);
	}
}

START_TEST(test_handler_list_filters_and_pages)
{
	setup();
	h.store_path = NULL;	/* 250 saves prove nothing here */
	many_sites();
	rq_begin(CTL_SITE_LIST);
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(rep_kv("total"), "253");
	ck_assert_str_eq(rep_kv("page"), "1");
	ck_assert_uint_eq(rep_rows(), 100);
	ck_assert_str_eq(row_kv(0, "name"), "a0");
	ck_assert_str_eq(row_kv(3, "name"), "s000");
	ck_assert_str_eq(row_kv(3, "psk"), "(set)");
	ck_assert_str_eq(row_kv(3, "status"), "up");
	ck_assert_str_eq(row_kv(4, "status"), "down");
	ck_assert_uint_eq(row_nested(3), 0);	/* tunnels only in show */

	rq_begin(CTL_SITE_LIST);
	rq_kv("page", "3");
	rq_kv("sort", "desc");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_uint_eq(rep_rows(), 53);
	ck_assert_str_eq(row_kv(52, "name"), "a0");
	rq_begin(CTL_SITE_LIST);
	rq_kv("page", "9");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_uint_eq(rep_rows(), 0);
	ck_assert_str_eq(rep_kv("total"), "253");

	rq_begin(CTL_SITE_LIST);
	rq_kv("pop", "lon1");
	rq_kv("name", "s1");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(rep_kv("total"), "50");	/* s100..s199, the odd half */
	ck_assert_str_eq(row_kv(0, "name"), "s101");

	/* The runtime status, with pages. */
	rq_begin(CTL_SITE_LIST);
	rq_kv("status", "up");
	rq_kv("page", "2");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(rep_kv("total"), "127");	/* a0, c2 and s000, s002 ... s248 */
	ck_assert_uint_eq(rep_rows(), 27);
	ck_assert_str_eq(row_kv(0, "name"), "s196");
	rq_begin(CTL_SITE_DISABLE);
	rq_name("s004");
	ck_assert_int_eq(rq_send(), 0);
	rq_begin(CTL_SITE_LIST);
	rq_kv("status", "disabled");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(rep_kv("total"), "1");
	ck_assert_str_eq(row_kv(0, "name"), "s004");
	rq_begin(CTL_SITE_LIST);
	rq_kv("enabled", "no");
	rq_kv("traffic", "user");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(rep_kv("total"), "1");
	rq_begin(CTL_SITE_LIST);
	rq_kv("status", "down");
	rq_kv("sort", "desc");
	rq_kv("id", "example");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(rep_kv("total"), "126");
	ck_assert_str_eq(row_kv(0, "name"), "s249");

	/* Bad filters are named. */
	rq_begin(CTL_SITE_LIST);
	rq_kv("status", "sideways");
	ck_assert_int_eq(rq_send(), -EINVAL);
	ck_assert_str_eq(rep_error(), "site list: status 'sideways': up, down or disabled");
	rq_begin(CTL_SITE_LIST);
	rq_kv("page", "0");
	ck_assert_int_eq(rq_send(), -EINVAL);
	rq_begin(CTL_SITE_LIST);
	rq_kv("page", "-1");
	ck_assert_int_eq(rq_send(), -EINVAL);
	rq_begin(CTL_SITE_LIST);
	rq_kv("color", "red");
	ck_assert_int_eq(rq_send(), -EINVAL);
	rq_begin(CTL_SITE_LIST);
	rq_kv("traffic", "Bulk");
	ck_assert_int_eq(rq_send(), -EINVAL);
	teardown();
}
END_TEST

/* A request that is wrong carries error-class usage; a refused one none (xfrmctl: 2 or 1). */
static void expect_usage(bool usage)
{
	const char *cls = rep_kv(CTL_ERROR_CLASS);

	if (usage)
		ck_assert_msg(cls && !strcmp(cls, "usage"), "not usage: %s", rep_error());
	else
		ck_assert_msg(!cls, "class %s: %s", cls, rep_error());
}

START_TEST(test_handler_usage_errors_are_classed)
{
	static const char *const bad_list[][2] = {
		{ "status", "sideways" }, { "sort", "sideways" }, { "page", "0" },
		{ "page-size", "1001" }, { "color", "red" }, { "traffic", "Bulk" },
		{ "throughput", "fast" }, { "throughput", "9-1" }, { "source-ip", "10.0.0.1/8" },
		{ "source-ip", "nowhere" }, { "reverse", "maybe" }, { "expect", "3" },
	};
	struct state before;

	setup();
	before = state_take();
	for (size_t i = 0; i < sizeof(bad_list) / sizeof(bad_list[0]); i++) {
		rq_begin(CTL_SITE_LIST);
		rq_kv(bad_list[i][0], bad_list[i][1]);
		ck_assert_int_eq(rq_send(), -EINVAL);
		expect_usage(true);
		ck_assert_msg(strstr(rep_error(), bad_list[i][0]), "%s", rep_error());
	}
	rq_begin(CTL_SITE_LIST);
	rq_kv("sort", "sideways");
	ck_assert_int_eq(rq_send(), -EINVAL);
	ck_assert_str_eq(rep_error(), "site list: sort 'sideways': not a column (name, id, "
			 "source-ip, status, pop, throughput, traffic or any site field)");
	/* An unknown field: usage; a bad value of a known one, an unknown site: refused. */
	rq_begin(CTL_SITE_EDIT);
	rq_name("a0");
	rq_kv("colour", "red");
	ck_assert_int_eq(rq_send(), -ENOENT);
	expect_usage(true);
	ck_assert_str_eq(rep_error(), "site 'a0': colour: no such site field");
	rq_begin(CTL_SITE_EDIT);
	rq_name("a0");
	rq_kv("primary", "nowhere");
	ck_assert_int_lt(rq_send(), 0);
	expect_usage(false);
	rq_begin(CTL_SITE_EDIT);
	rq_name("zz");
	rq_kv("colour", "red");
	ck_assert_int_eq(rq_send(), -ENOENT);
	expect_usage(false);
	rq_begin(CTL_SITE_ADD);
	rq_name("d3");
	rq_kv("id", "fqdn:d3.example.com");
	rq_kv("colour", "red");
	ck_assert_int_eq(rq_send(), -ENOENT);
	expect_usage(true);
	rq_begin(CTL_SITE_ADD);
	rq_name("d3");
	rq_kv("traffic", "Bulk");
	ck_assert_int_eq(rq_send(), -EINVAL);
	expect_usage(false);
	rq_begin(CTL_SITE_EDIT);
	rq_name("a0");
	ck_assert_int_eq(rq_send(), -EINVAL);
	expect_usage(true);
	rq_begin(CTL_POP_EDIT);
	rq_name("fra1");
	rq_kv("colour", "red");
	ck_assert_int_eq(rq_send(), -ENOENT);
	expect_usage(true);
	rq_begin(CTL_POP_EDIT);
	rq_name("xx");
	rq_kv("colour", "red");
	ck_assert_int_eq(rq_send(), -ENOENT);
	expect_usage(false);
	rq_begin(CTL_POP_ADD);
	rq_name("par1");
	rq_kv("gateway", "192.0.2.9");
	rq_kv("colour", "red");
	ck_assert_int_eq(rq_send(), -ENOENT);
	expect_usage(true);
	rq_begin(CTL_SITE_ENABLE);
	rq_name("a0");
	rq_name("a0");
	ck_assert_int_eq(rq_send(), -EINVAL);
	expect_usage(true);
	rq_begin(CTL_SITE_DELETE);
	ck_assert_int_eq(rq_send(), -EINVAL);
	expect_usage(true);
	rq_begin(CTL_SITE_SHOW);
	ck_assert_int_eq(rq_send(), -EINVAL);
	expect_usage(true);
	rq_begin(CTL_SITE_SHOW);
	rq_name("zz");
	ck_assert_int_eq(rq_send(), -ENOENT);
	expect_usage(false);
	rq_begin(CTL_SITE_EXPORT);
	rq_str(CTL_A_FLAG, "bogus");
	ck_assert_int_eq(rq_send(), -EINVAL);
	expect_usage(true);
	state_same(&before);
	state_free(&before);
	teardown();
}
END_TEST

static const char *names_of_rows(void)
{
	static char buf[4096];
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < rep_rows(); i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s", i ? "," : "",
				      row_kv(i, "name"));
	return buf;
}

START_TEST(test_handler_list_sort_source_throughput_page_size)
{
	setup();
	h.store_path = NULL;
	many_sites();
	rq_begin(CTL_SITE_EDIT);
	rq_name("s007");
	rq_kv("source-ip", "203.0.113.7");
	ck_assert_int_eq(rq_send(), 0);
	rq_begin(CTL_SITE_EDIT);
	rq_name("s100");
	rq_kv("source-ip", "2001:db8::100");
	ck_assert_int_eq(rq_send(), 0);
	rq_begin(CTL_SITE_EDIT);
	rq_name("s099");
	rq_kv("source-ip", "203.0.114.1");
	ck_assert_int_eq(rq_send(), 0);

	rq_begin(CTL_SITE_LIST);
	rq_kv("source-ip", "203.0.113.7");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(names_of_rows(), "s007");
	rq_begin(CTL_SITE_LIST);
	rq_kv("source-ip", "203.0.112.0/23");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(names_of_rows(), "s007");
	rq_begin(CTL_SITE_LIST);
	rq_kv("source-ip", "2001:DB8:0::100");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(names_of_rows(), "s100");
	rq_begin(CTL_SITE_LIST);
	rq_kv("source-ip", "dynamic");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(rep_kv("total"), "250");

	/* Throughput (Kbps, the runtime's): a range, open at either end. */
	rq_begin(CTL_SITE_LIST);
	rq_kv("throughput", "10-12");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(names_of_rows(), "s010,s011,s012");
	rq_begin(CTL_SITE_LIST);
	rq_kv("throughput", "-1");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(names_of_rows(), "s000,s001");
	rq_begin(CTL_SITE_LIST);
	rq_kv("throughput", "1000-");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(names_of_rows(), "a0,b1,c2");

	/* Sort by any column: numbers as numbers, addresses as addresses; ties by name. */
	rq_begin(CTL_SITE_LIST);
	rq_kv("sort", "throughput");
	rq_kv("reverse", "yes");
	rq_kv("page-size", "5");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(names_of_rows(), "c2,b1,a0,s249,s248");
	ck_assert_str_eq(rep_kv("page-size"), "5");
	ck_assert_str_eq(rep_kv("total"), "253");
	rq_begin(CTL_SITE_LIST);
	rq_kv("sort", "throughput");
	rq_kv("page-size", "3");
	rq_kv("page", "2");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(names_of_rows(), "s003,s004,s005");
	rq_begin(CTL_SITE_LIST);
	rq_kv("sort", "source-ip");
	rq_kv("reverse", "yes");
	rq_kv("page-size", "4");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(names_of_rows(), "s100,s099,s007,s249");
	rq_begin(CTL_SITE_LIST);
	rq_kv("sort", "pop");
	rq_kv("name", "2");
	rq_kv("page-size", "2");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(names_of_rows(), "c2,s002");	/* ams1 before fra1 */
	rq_begin(CTL_SITE_LIST);
	rq_kv("sort", "backups");
	rq_kv("status", "up");
	rq_kv("page-size", "3");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(names_of_rows(), "a0,s000,s002");	/* ams1 */
	rq_begin(CTL_SITE_LIST);
	rq_kv("page-size", "1000");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_uint_eq(rep_rows(), 253);
	/* The console's default: 100. */
	rq_begin(CTL_SITE_LIST);
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(rep_kv("page-size"), "100");
	teardown();
}
END_TEST

START_TEST(test_handler_bulk_by_filter)
{
	struct state before;

	setup();
	many_sites();
	changed[0] = '\0';
	before = state_take();
	/* Names or a filter, not both; the bulk verbs take no paging. */
	rq_begin(CTL_SITE_DISABLE);
	rq_name("a0");
	rq_kv("pop", "lon1");
	ck_assert_int_eq(rq_send(), -EINVAL);
	expect_usage(true);
	rq_begin(CTL_SITE_DISABLE);
	rq_kv("page", "2");
	ck_assert_int_eq(rq_send(), -EINVAL);
	expect_usage(true);
	/* A count confirmed that no longer holds: nothing changes. */
	rq_begin(CTL_SITE_DELETE);
	rq_kv("name", "s1");
	rq_kv("throughput", "100-109");
	rq_kv("expect", "9");
	ck_assert_int_eq(rq_send(), -ESTALE);
	expect_usage(false);
	ck_assert_str_eq(rep_error(), "site delete: 10 sites match now, 9 when confirmed: "
			 "nothing changed");
	state_same(&before);
	state_free(&before);

	rq_begin(CTL_SITE_DELETE);
	rq_kv("name", "s1");
	rq_kv("throughput", "100-109");
	rq_kv("expect", "10");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(rep_kv("sites"), "10");
	ck_assert_str_eq(changed, "s100,s101,s102,s103,s104,s105,s106,s107,s108,s109");
	rq_begin(CTL_SITE_LIST);
	rq_kv("name", "s10");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(rep_kv("total"), "0");

	/* By the runtime's status, every page of them. */
	rq_begin(CTL_SITE_DISABLE);
	rq_kv("status", "up");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(rep_kv("sites"), "122");	/* a0, c2, and s000 ... s248 even, less 5 */
	rq_begin(CTL_SITE_LIST);
	rq_kv("enabled", "no");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(rep_kv("total"), "122");
	rq_begin(CTL_SITE_ENABLE);
	rq_kv("enabled", "no");
	rq_kv("pop", "ams1");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(rep_kv("sites"), "122");
	/* Nothing matches: nothing to do, no error. */
	rq_begin(CTL_SITE_DELETE);
	rq_kv("name", "nomatch");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(rep_kv("sites"), "0");
	teardown();
}
END_TEST

START_TEST(test_handler_pops)
{
	setup();
	rq_begin(CTL_POP_LIST);
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(rep_kv("total"), "3");
	ck_assert_uint_eq(rep_rows(), 3);
	ck_assert_str_eq(row_kv(0, "name"), "fra1");
	ck_assert_str_eq(row_kv(0, "sites-primary"), "2");
	ck_assert_str_eq(row_kv(0, "sites-backup"), "1");
	ck_assert_str_eq(row_kv(2, "sites-primary"), "0");
	ck_assert_str_eq(row_kv(2, "sites-backup"), "2");
	ck_assert_str_eq(row_kv(0, "location"), "Frankfurt, DE");
	/* Live health from the runtime; none for a POP it knows nothing of. */
	ck_assert_str_eq(row_kv(1, "tunnels-up"), "2");
	ck_assert_str_eq(row_kv(1, "tunnels-down"), "7");
	ck_assert_str_eq(row_kv(1, "sites-active"), "2");
	ck_assert_ptr_null(row_kv(2, "tunnels-up"));
	rq_begin(CTL_POP_EDIT);
	rq_name("lon1");
	rq_kv("accepting", "no");
	rq_kv("probe-ip", "10.9.9.9");
	ck_assert_msg(rq_send() == 0, "%s", rep_error());
	ck_assert_str_eq(pops_changed_names, "lon1");
	rq_begin(CTL_POP_SHOW);
	rq_name("lon1");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_uint_eq(rep_rows(), 1);
	ck_assert_str_eq(row_kv(0, "accepting"), "no");
	ck_assert_str_eq(row_kv(0, "probe-ip"), "10.9.9.9");
	rq_begin(CTL_POP_SHOW);
	rq_name("xx");
	ck_assert_int_eq(rq_send(), -ENOENT);
	ck_assert_str_eq(rep_error(), "pop 'xx': no such POP");
	rq_begin(CTL_POP_ADD);
	rq_name("fra1");
	rq_kv("gateway", "192.0.2.1");
	ck_assert_int_eq(rq_send(), -EEXIST);
	teardown();
}
END_TEST

START_TEST(test_handler_runtime_verbs)
{
	setup();
	rq_begin(CTL_STATUS);
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(rep_kv("sites"), "3");
	ck_assert_str_eq(rep_kv("pops"), "3");
	ck_assert_str_eq(rep_kv("role"), "initiator");
	rq_begin(CTL_SA_LIST);
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_uint_eq(rep_rows(), 1);
	rq_begin(CTL_REFRESH);
	ck_assert_int_eq(rq_send(), 0);
	refresh_rc = -EIO;
	rq_begin(CTL_REFRESH);
	ck_assert_int_eq(rq_send(), -EIO);
	ck_assert_str_eq(rep_error(), "refresh: kernel said no");
	rq_begin(CTL_MONITOR);
	ck_assert_int_eq(rq_send(), -EOPNOTSUPP);
	h.rt = NULL;
	rq_begin(CTL_SA_LIST);
	ck_assert_int_eq(rq_send(), -EOPNOTSUPP);
	rq_begin(CTL_STATUS);
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(rep_kv("sites-enabled"), "3");
	teardown();
}
END_TEST

START_TEST(test_handler_malformed_requests)
{
	static const uint8_t kv_no_nul[] = "keyonly";
	struct ctl_attr bad[2];
	struct ctl_msg m = { .id = 5, .attrs = bad };
	struct state before;

	setup();
	before = state_take();
	/* Codes and flags ctl_decode would refuse, handed over anyway. */
	m.code = 0;
	ck_assert_int_eq(handle_msg(&m), -EBADMSG);
	m.code = CTL_VERB_MAX;
	ck_assert_int_eq(handle_msg(&m), -EBADMSG);
	m.code = 0xffff;
	ck_assert_int_eq(handle_msg(&m), -EBADMSG);
	m.code = CTL_STATUS;
	m.flags = CTL_FLAG_REPLY;
	ck_assert_int_eq(handle_msg(&m), -EBADMSG);
	m.flags = 0;
	/* An attribute type out of range, a KV without a key, a name with a NUL. */
	m.code = CTL_SITE_SHOW;
	m.n_attrs = 1;
	bad[0] = (struct ctl_attr){ .type = 0, .len = 0, .p = kv_no_nul };
	ck_assert_int_eq(handle_msg(&m), -EBADMSG);
	bad[0].type = 999;
	ck_assert_int_eq(handle_msg(&m), -EBADMSG);
	m.code = CTL_SITE_EDIT;
	m.n_attrs = 2;
	bad[0] = (struct ctl_attr){ .type = CTL_A_NAME, .len = 2, .p = (const uint8_t *)"a0" };
	bad[1] = (struct ctl_attr){ .type = CTL_A_KV, .len = 7, .p = kv_no_nul };
	ck_assert_int_eq(handle_msg(&m), -EBADMSG);
	bad[1] = (struct ctl_attr){ .type = CTL_A_KV, .len = 4, .p = (const uint8_t *)"\0abc" };
	ck_assert_int_eq(handle_msg(&m), -EBADMSG);
	bad[1] = (struct ctl_attr){ .type = CTL_A_KV, .len = 6, .p = (const uint8_t *)"id\0a\0b" };
	ck_assert_int_eq(handle_msg(&m), -EINVAL);
	m.n_attrs = 1;
	bad[0] = (struct ctl_attr){ .type = CTL_A_NAME, .len = 3, .p = (const uint8_t *)"a\0b" };
	ck_assert_int_eq(handle_msg(&m), -EINVAL);
	bad[0] = (struct ctl_attr){ .type = CTL_A_NAME, .len = 0, .p = (const uint8_t *)"" };
	ck_assert_int_eq(handle_msg(&m), -EINVAL);
	m.attrs = NULL;
	ck_assert_int_eq(handle_msg(&m), -EINVAL);
	/* Attributes a verb does not take, names it does not want. */
	rq_begin(CTL_SITE_LIST);
	ck_assert_int_eq(ctl_put(&rq, CTL_A_PSK, PSK, strlen(PSK)), 0);
	ck_assert_int_eq(rq_send(), -EINVAL);
	ck_assert_str_eq(rep_error(), "site list: takes no psk attribute");
	rq_begin(CTL_SITE_SHOW);
	rq_name("a0");
	rq_name("b1");
	ck_assert_int_eq(rq_send(), -EINVAL);
	rq_begin(CTL_SITE_SHOW);
	ck_assert_int_eq(rq_send(), -EINVAL);
	rq_begin(CTL_SITE_ADD);
	rq_name("z9");
	ck_assert_int_eq(ctl_put(&rq, CTL_A_PSK, PSK, strlen(PSK)), 0);
	ck_assert_int_eq(ctl_put(&rq, CTL_A_PSK, PSK, strlen(PSK)), 0);
	ck_assert_int_eq(rq_send(), -EINVAL);
	rq_begin(CTL_SITE_EDIT);
	rq_name("a0");
	ck_assert_int_eq(ctl_put(&rq, CTL_A_PSK, "", 0), 0);
	ck_assert_int_eq(rq_send(), -EINVAL);
	rq_begin(CTL_SITE_EXPORT);
	rq_str(CTL_A_FLAG, "\x1b[31m");
	ck_assert_int_eq(rq_send(), -EINVAL);
	ck_assert_str_eq(rep_error(), "site export: an unknown option");
	rq_begin(CTL_SITE_EXPORT);
	rq_str(CTL_A_ROW, "");
	ck_assert_int_eq(rq_send(), -EINVAL);
	rq_begin(CTL_SITE_IMPORT);
	rq_str(CTL_A_DATA, "a");
	rq_str(CTL_A_DATA, "b");
	rq_str(CTL_A_DATA, "c");
	ck_assert_int_eq(rq_send(), -EINVAL);
	rq_begin(CTL_SITE_IMPORT);
	ck_assert_int_eq(ctl_put(&rq, CTL_A_DATA, "\xff\xfe", 2), 0);
	ck_assert_int_eq(rq_send(), -EINVAL);
	state_same(&before);
	state_free(&before);
	teardown();
}
END_TEST

/* A reply that cannot hold even an error: nothing is appended. */
START_TEST(test_handler_reply_too_small)
{
	struct ctl_msg m = { .id = 1, .code = CTL_STATUS, .attrs = req_attrs };

	setup();
	ike_writer_clear(&reply);
	ike_writer_init(&reply, 10);
	ck_assert_int_lt(ctl_handle(&h, &m, &reply), 0);
	ck_assert_uint_eq(reply.len, 0);
	/* Room for an error but not the rows: the error says so. */
	ike_writer_clear(&reply);
	ike_writer_init(&reply, 200);
	m.code = CTL_SITE_LIST;
	ck_assert_int_eq(ctl_handle(&h, &m, &reply), -EMSGSIZE);
	ck_assert_uint_gt(reply.len, 0);
	ck_assert_ptr_nonnull(memmem(reply.buf, reply.len, "reply would exceed", 18));
	teardown();
}
END_TEST

/* `site rename`: the record under a new name, saved; the runtime told, nothing restarted. */
START_TEST(test_handler_site_rename)
{
	struct state before;
	struct site_db loaded = { 0 };
	char err[256], bad[160];

	setup();
	rq_begin(CTL_SITE_RENAME);
	rq_name("b1");
	rq_name("branch-b");
	ck_assert_msg(rq_send() == 0, "%s", rep_error());
	ck_assert_str_eq(renamed, "b1>branch-b");
	ck_assert_str_eq(changed, "");		/* no tunnel restarted */
	ck_assert_ptr_null(site_db_find(&db, "b1"));
	ck_assert_str_eq(site_db_find(&db, "branch-b")->id, "b1.example.com");
	ck_assert_mem_eq(site_db_find(&db, "branch-b")->psk.p, PSK2, strlen(PSK2));
	ck_assert_int_eq(site_store_load(store, &loaded, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(site_db_find(&loaded, "branch-b"));
	ck_assert_ptr_null(site_db_find(&loaded, "b1"));
	site_db_clear(&loaded);

	/* Refusals change nothing and tell the runtime nothing. */
	renamed[0] = '\0';
	before = state_take();
	rq_begin(CTL_SITE_RENAME);
	rq_name("a0");
	rq_name("c2");
	ck_assert_int_eq(rq_send(), -EEXIST);
	ck_assert_str_eq(rep_error(), "site 'c2': exists");
	rq_begin(CTL_SITE_RENAME);
	rq_name("nosuch");
	rq_name("x");
	ck_assert_int_eq(rq_send(), -ENOENT);
	ck_assert_str_eq(rep_error(), "site 'nosuch': no such site");
	rq_begin(CTL_SITE_RENAME);
	rq_name("a0");
	rq_name("has space");
	ck_assert_int_eq(rq_send(), -EINVAL);
	ck_assert_ptr_nonnull(strstr(rep_error(), "site 'a0': name 'has space'"));
	rq_begin(CTL_SITE_RENAME);
	rq_name("a0");
	ck_assert_int_eq(rq_send(), -EINVAL);
	ck_assert_str_eq(rep_error(), "site rename: takes two names, the old and the new");
	rq_begin(CTL_SITE_EDIT);
	rq_name("a0");
	rq_kv("name", "a9");
	ck_assert_int_eq(rq_send(), -EINVAL);
	ck_assert_ptr_nonnull(strstr(rep_error(), "site rename OLD NEW"));
	/* A rename that cannot be saved is undone. */
	snprintf(bad, sizeof(bad), "%s/missing/sites", dir);
	h.store_path = bad;
	rq_begin(CTL_SITE_RENAME);
	rq_name("a0");
	rq_name("a9");
	ck_assert_int_lt(rq_send(), 0);
	h.store_path = store;
	ck_assert_ptr_nonnull(site_db_find(&db, "a0"));
	state_same(&before);
	state_free(&before);
	ck_assert_str_eq(renamed, "");
	teardown();
}
END_TEST

/* Issue 17 "Records" and issue 15 defect 6, through the control protocol. */
START_TEST(test_handler_record_rules)
{
	setup();
	/* One identity, one site: both named. */
	rq_begin(CTL_SITE_ADD);
	rq_name("d3");
	rq_kv("id", "A0.EXAMPLE.COM");
	rq_kv("primary", "fra1");
	rq_kv("backups", "ams1");
	ck_assert_int_eq(ctl_put(&rq, CTL_A_PSK, PSK, strlen(PSK)), 0);
	ck_assert_int_eq(rq_send(), -EEXIST);
	ck_assert_str_eq(rep_error(), "site 'd3' id 'fqdn:A0.EXAMPLE.COM': already the identity of "
			 "site 'a0' (fqdn:a0.example.com); a gateway tells sites apart by identity");
	rq_begin(CTL_SITE_EDIT);
	rq_name("c2");
	rq_kv("id", "b1.example.com");
	ck_assert_int_eq(rq_send(), -EEXIST);
	ck_assert_ptr_nonnull(strstr(rep_error(), "site 'c2' id 'fqdn:b1.example.com': already the "
				     "identity of site 'b1'"));
	/* A short key, refused with the reason, unless psk-short says so. */
	ck_assert_int_eq(site_add("d3", "fra1", "ams1", "short-key"), -EINVAL);
	ck_assert_ptr_nonnull(strstr(rep_error(), "site 'd3' psk: 9 bytes, fewer than 16"));
	ck_assert_ptr_nonnull(strstr(rep_error(), "RFC 7296 §2.15"));
	ck_assert_ptr_null(strstr(rep_error(), "short-key"));
	rq_begin(CTL_SITE_ADD);
	rq_name("d3");
	rq_kv("id", "d3.example.com");
	rq_kv("primary", "fra1");
	rq_kv("backups", "ams1");
	rq_kv("psk-short", "yes");
	ck_assert_int_eq(ctl_put(&rq, CTL_A_PSK, "short-key", 9), 0);
	ck_assert_msg(rq_send() == 0, "%s", rep_error());
	rq_begin(CTL_SITE_SHOW);
	rq_name("d3");
	ck_assert_int_eq(rq_send(), 0);
	ck_assert_str_eq(row_kv(0, "psk-short"), "yes");
	/* A later edit to a longer key with psk-short no. */
	rq_begin(CTL_SITE_EDIT);
	rq_name("d3");
	rq_kv("psk-short", "no");
	ck_assert_int_eq(rq_send(), -EINVAL);
	ck_assert_ptr_nonnull(strstr(rep_error(), "psk: 9 bytes"));
	/* Values no peer has, and selectors with host bits. */
	rq_begin(CTL_SITE_EDIT);
	rq_name("c2");
	rq_kv("source-ip", "224.0.0.1");
	ck_assert_int_eq(rq_send(), -EINVAL);
	ck_assert_ptr_nonnull(strstr(rep_error(), "site 'c2' source-ip '224.0.0.1': a multicast"));
	rq_begin(CTL_SITE_EDIT);
	rq_name("c2");
	rq_kv("local-ts", "10.1.2.3/24");
	ck_assert_int_eq(rq_send(), -EINVAL);
	ck_assert_ptr_nonnull(strstr(rep_error(), "the network is 10.1.2.0/24"));
	/* A POP at another POP's gateway. */
	rq_begin(CTL_POP_ADD);
	rq_name("fra2");
	rq_kv("gateway", "198.51.100.1");
	ck_assert_int_eq(rq_send(), -EEXIST);
	ck_assert_ptr_nonnull(strstr(rep_error(), "pop 'fra2' gateway '198.51.100.1': already the "
				     "gateway of pop 'fra1'"));
	/* A branch's site: one POP when vendor-rules is off, not otherwise. */
	ck_assert_int_eq(site_add("e4", "fra1", "", PSK), -EINVAL);
	ck_assert_ptr_nonnull(strstr(rep_error(), "site 'e4' backups: at least one backup POP"));
	rq_begin(CTL_SITE_ADD);
	rq_name("e4");
	rq_kv("id", "e4.example.com");
	rq_kv("primary", "fra1");
	rq_kv("vendor-rules", "no");
	ck_assert_int_eq(ctl_put(&rq, CTL_A_PSK, PSK, strlen(PSK)), 0);
	ck_assert_msg(rq_send() == 0, "%s", rep_error());
	/* A gateway's site: no POP at all. */
	ck_assert_int_eq(site_add("f5", "", "", PSK), -EINVAL);
	ck_assert_ptr_nonnull(strstr(rep_error(), "site 'f5' primary: missing"));
	db.role = SITE_ROLE_RESPONDER;
	ck_assert_msg(site_add("f5", "", "", PSK) == 0, "%s", rep_error());
	ck_assert_str_eq(site_db_find(&db, "f5")->primary, "");
	/* ... and an import of such sites keeps the role's rules. */
	{
		static const char csv[] = "name,id,psk\r\ng6,g6.example.com," PSK "\r\n";

		rq_begin(CTL_SITE_IMPORT);
		ck_assert_int_eq(ctl_put(&rq, CTL_A_DATA, csv, strlen(csv)), 0);
		ck_assert_msg(rq_send() == 0, "%s", rep_error());
		ck_assert_ptr_nonnull(site_db_find(&db, "g6"));
		ck_assert_int_eq(db.role, SITE_ROLE_RESPONDER);
	}
	teardown();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ctl_handler");
	TCase *tc = tcase_create("handler");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_handler_site_add_show_edit);
	tcase_add_test(tc, test_handler_refused_change_changes_nothing);
	tcase_add_test(tc, test_handler_failed_save_leaves_db_unchanged);
	tcase_add_test(tc, test_handler_bulk_all_or_nothing);
	tcase_add_test(tc, test_handler_import_dry_run_errors_secrets);
	tcase_add_test(tc, test_handler_export);
	tcase_add_test(tc, test_handler_chunked_round_trip_past_one_frame);
	tcase_add_test(tc, test_handler_chunked_import_errors_and_conflicts);
	tcase_add_test(tc, test_handler_list_filters_and_pages);
	tcase_add_test(tc, test_handler_pops);
	tcase_add_test(tc, test_handler_usage_errors_are_classed);
	tcase_add_test(tc, test_handler_list_sort_source_throughput_page_size);
	tcase_add_test(tc, test_handler_bulk_by_filter);
	tcase_add_test(tc, test_handler_runtime_verbs);
	tcase_add_test(tc, test_handler_malformed_requests);
	tcase_add_test(tc, test_handler_reply_too_small);
	tcase_add_test(tc, test_handler_site_rename);
	tcase_add_test(tc, test_handler_record_rules);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
