/*
 * lib/ctl/metrics: what `xfrmctl metrics` prints passes a strict reader of the Prometheus text
 * format (test/tools/prom_check.c), and promtool when it is installed, whatever the site
 * names hold (quotes, backslashes, line feeds, broken UTF-8); the figures survive the trip
 * over the control protocol; a malformed reply is refused with a reason; the handler pages
 * through thousands of sites in name order, each site once.
 */
#include <unistd.h>

#include "testutil.h"
#include "ctl/handler.h"
#include "ctl/metrics.h"
#include "prom_check.h"

static struct ctl_attr attrs[CTL_MAX_ATTRS], reply_attrs[CTL_MAX_ATTRS];

/* The exposition of m, NUL-terminated (malloc'd), checked by the strict reader. */
static char *format_checked(const struct ctl_metrics *m, long *ret_samples)
{
	struct ike_writer w;
	char err[512], *text;
	long n;

	ike_writer_init(&w, CTL_METRICS_TEXT_MAX);
	ck_assert_int_eq(ctl_metrics_format(m, &w), 0);
	text = malloc(w.len + 1);
	ck_assert_ptr_nonnull(text);
	memcpy(text, w.buf, w.len);
	text[w.len] = '\0';
	ike_writer_clear(&w);
	n = prom_check(text, strlen(text), err, sizeof(err));
	ck_assert_msg(n >= 0, "strict reader: %s\n%s", err, text);
	*ret_samples = n;
	return text;
}

/* promtool's own check, when the machine has it (Debian: the prometheus package). */
static void promtool_check(const char *text)
{
	char path[] = "/tmp/ikd-metrics-XXXXXX", cmd[128];
	int fd, rc;

	if (access("/usr/bin/promtool", X_OK) != 0) {
		printf("promtool not installed: only the strict reader checked the output\n");
		return;
	}
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	snprintf(cmd, sizeof(cmd), "/usr/bin/promtool check metrics < %s", path);
	rc = system(cmd);
	unlink(path);
	ck_assert_msg(rc == 0, "promtool check metrics refused the output");
}

static void add_site(struct ctl_metrics *m, const char *name, enum ctl_site_state st,
		     const char *pop, uint64_t base)
{
	struct ctl_metrics_site *s;

	if (m->n_sites == m->cap_sites) {
		m->cap_sites = m->cap_sites ? 2 * m->cap_sites : 16;
		m->sites = realloc(m->sites, m->cap_sites * sizeof(*m->sites));
		ck_assert_ptr_nonnull(m->sites);
	}
	s = &m->sites[m->n_sites++];
	memset(s, 0, sizeof(*s));
	ck_assert_uint_lt(strlen(name), sizeof(s->name));
	strcpy(s->name, name);
	strcpy(s->active_pop, pop);
	s->state = st;
	for (int k = 0; k < CTL_SM_MAX; k++)
		s->v[k] = base + (uint64_t)k;
}

static void daemon_figures(struct ctl_metrics *m)
{
	strcpy(m->version, "0.1.0");
	m->start_time_ms = 1700000000123ull;
	for (int k = 0; k < CTL_DM_MAX; k++)
		m->v[k] = 100 + (uint64_t)k;
	m->v[CTL_DM_KERNEL_ESP] = 1;
	for (int k = 0; k < CTL_HS_MAX; k++)
		m->failures[k] = 10 + (uint64_t)k;
}

/* Samples: 15 daemon-wide; per site up, 3 status, 12 figures, and the POP when it has one. */
#define DAEMON_SAMPLES	(2 + CTL_DM_MAX + CTL_HS_MAX)
#define SITE_SAMPLES	(1 + CTL_SITE_STATE_MAX + CTL_SM_MAX)

static void assert_line(const char *text, const char *line)
{
	char *want = malloc(strlen(line) + 3);
	bool at_start;

	sprintf(want, "\n%s\n", line);
	at_start = !strncmp(text, want + 1, strlen(want + 1));
	ck_assert_msg(at_start || strstr(text, want), "no line '%s' in:\n%s", line, text);
	free(want);
}

START_TEST(test_metrics_hostile_site_names_pass_the_strict_reader)
{
	struct ctl_metrics m = { 0 };
	char all_backslashes[SITE_NAME_MAX];
	long n;
	char *text;

	daemon_figures(&m);
	add_site(&m, "branch-12", CTL_SITE_UP, "fra1", 1000);
	add_site(&m, "quote\"d", CTL_SITE_DOWN, "", 2000);
	add_site(&m, "back\\slash", CTL_SITE_DISABLED, "", 3000);
	add_site(&m, "line\nfeed", CTL_SITE_UP, "pop\"\\\n", 4000);
	add_site(&m, "\\\"", CTL_SITE_UP, "", 5000);	/* a backslash, then a quote */
	add_site(&m, "}\"} 1\n# TYPE x counter", CTL_SITE_DOWN, "", 6000);
	add_site(&m, "broken \xff\xfe utf8 \xe2\x82", CTL_SITE_DOWN, "", 7000);
	add_site(&m, "tab\tand\rcr\x7f", CTL_SITE_DOWN, "", 8000);
	add_site(&m, "caf\xc3\xa9 \xe2\x82\xac", CTL_SITE_UP, "", 9000);
	memset(all_backslashes, '\\', sizeof(all_backslashes) - 1);
	all_backslashes[sizeof(all_backslashes) - 1] = '\0';
	add_site(&m, all_backslashes, CTL_SITE_UP, "", 10000);
	add_site(&m, "quote\"d", CTL_SITE_UP, "", 11000);	/* the same name again */
	text = format_checked(&m, &n);
	/* Eleven rows, ten sites: the repeated name is one series, its first row. */
	ck_assert_int_eq(n, DAEMON_SAMPLES + 10 * SITE_SAMPLES + 2);
	assert_line(text, "ikd_site_up{site=\"quote\\\"d\"} 0");
	assert_line(text, "ikd_site_failovers_total{site=\"quote\\\"d\"} 2000");
	assert_line(text, "ikd_site_up{site=\"back\\\\slash\"} 0");
	assert_line(text, "ikd_site_status{site=\"back\\\\slash\",status=\"disabled\"} 1");
	assert_line(text, "ikd_site_status{site=\"back\\\\slash\",status=\"up\"} 0");
	assert_line(text, "ikd_site_up{site=\"line\\nfeed\"} 1");
	assert_line(text,
		    "ikd_site_active_pop_info{site=\"line\\nfeed\",pop=\"pop\\\"\\\\\\n\"} 1");
	assert_line(text, "ikd_site_up{site=\"\\\\\\\"\"} 1");
	assert_line(text, "ikd_site_up{site=\"}\\\"} 1\\n# TYPE x counter\"} 0");
	/* What the format cannot escape shows as U+FFFD; valid UTF-8 stays. */
#define FFFD "\xef\xbf\xbd"
	assert_line(text, "ikd_site_up{site=\"broken " FFFD FFFD " utf8 " FFFD FFFD "\"} 0");
	assert_line(text, "ikd_site_up{site=\"tab" FFFD "and" FFFD "cr" FFFD "\"} 0");
#undef FFFD
	assert_line(text, "ikd_site_up{site=\"caf\xc3\xa9 \xe2\x82\xac\"} 1");
	assert_line(text, "ikd_site_received_bytes_total{site=\"branch-12\"} 1002");
	assert_line(text, "ikd_site_active_pop_info{site=\"branch-12\",pop=\"fra1\"} 1");
	assert_line(text, "ikd_build_info{version=\"0.1.0\"} 1");
	assert_line(text, "ikd_start_time_seconds 1700000000.123");
	assert_line(text, "ikd_kernel_esp 1");
	assert_line(text, "ikd_handshake_failures_total{reason=\"auth_failed\"} 10");
	assert_line(text, "ikd_handshake_failures_total{reason=\"timeout\"} 14");
	assert_line(text, "# TYPE ikd_site_dpd_misses_total counter");
	assert_line(text, "# TYPE ikd_site_child_sas gauge");
	promtool_check(text);
	free(text);
	ctl_metrics_clear(&m);
}
END_TEST

START_TEST(test_metrics_without_sites_has_only_the_daemon)
{
	struct ctl_metrics m = { 0 };
	long n;
	char *text;

	daemon_figures(&m);
	text = format_checked(&m, &n);
	ck_assert_int_eq(n, DAEMON_SAMPLES);
	ck_assert_ptr_null(strstr(text, "ikd_site_"));
	promtool_check(text);
	free(text);
	ctl_metrics_clear(&m);
}
END_TEST

/* The strict reader itself: what it must refuse, so that its passes mean something. */
START_TEST(test_metrics_strict_reader_refuses_what_the_format_forbids)
{
	/* A gauge's HELP and TYPE, for the lines after them. */
#define G "# HELP a x\n# TYPE a gauge\n"
	static const char *const bad[] = {
		"# TYPE a_total counter\n# HELP a_total x\na_total 1",	/* no final LF */
		G "\na 1\n",					/* an empty line */
		G "# a comment\na 1\n",
		"a 1\n",					/* no TYPE */
		"# TYPE a gauge\na 1\n",			/* no HELP */
		G "a 1\n# TYPE a gauge\n",			/* TYPE twice */
		"# HELP a x\n# TYPE a counter\na 1\n",	/* no _total */
		"# HELP a_total x\n# TYPE a_total counter\na_total -1\n",
		"# HELP a_total x\n# TYPE a_total counter\na_total NaN\n",
		"# HELP a x\n# TYPE a histogram\na 1\n",
		G "a{l=\"v\"} 1\na{l=\"v\"} 2\n",		/* the same series */
		G "a{l=\"v\",m=\"w\"} 1\na{m=\"w\",l=\"v\"} 2\n",
		G "a{l=\"v\",l=\"w\"} 1\n",			/* a label twice */
		G "a{l=\"v\",} 1\n",				/* a trailing comma */
		G "a{l=\"a\"b\"} 1\n",			/* a raw quote */
		G "a{l=\"a\\tb\"} 1\n",			/* not an escape */
		G "a{l=\"\xff\"} 1\n",			/* not UTF-8 */
		G "a{l=\"a\tb\"} 1\n",			/* a control character */
		G "a{__l=\"v\"} 1\n",				/* reserved */
		G "a{1l=\"v\"} 1\n",
		G "1a 1\n",
		G "a  1\n",					/* two spaces */
		G "a 1 1700000000\n",				/* a timestamp */
		G "a one\n",
		G "a 0x10\n",
		G "a inf\n",
		G "a 1\n# HELP b x\n# TYPE b gauge\nb 1\na 2\n",	/* a family split */
		G "a 1\n# HELP a y\n",				/* HELP after samples */
		"# HELP a bad \\t escape\n# TYPE a gauge\na 1\n",
		G "a{l=\"v\" 1\n",
	};
#undef G
	static const char good[] = "# HELP a_total x \\\\ \\n y\n# TYPE a_total counter\n"
				   "a_total{l=\"q\\\"\\\\\\n\xc3\xa9\",m=\"\"} 1.5e3\na_total 0\n"
				   "# HELP b:c x\n# TYPE b:c gauge\nb:c -Inf\nb:c{x=\"y\"} -.5\n";
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(prom_check(bad[i], strlen(bad[i]), err, sizeof(err)) < 0,
			      "accepted #%zu: %s", i, bad[i]);
	ck_assert_msg(prom_check(good, strlen(good), err, sizeof(err)) == 4, "%s", err);
	ck_assert_int_eq(prom_check("", 0, err, sizeof(err)), 0);
}
END_TEST

/* A reply frame as ikd writes it: daemon KVs, rows, "more". */
static void reply_of(struct ike_writer *w, const struct ctl_metrics *m, size_t from, size_t n,
		     const char *more)
{
	size_t mark;

	ike_writer_init(w, CTL_MAX_MSG + 4);
	ck_assert_int_eq(ctl_begin(w, 9, 0, CTL_FLAG_REPLY, &mark), 0);
	ck_assert_int_eq(ctl_metrics_put(w, m), 0);
	for (size_t i = from; i < from + n; i++)
		ck_assert_int_eq(ctl_metrics_put_site(w, &m->sites[i]), 0);
	if (more)
		ck_assert_int_eq(ctl_put_kv(w, "more", more), 0);
	ck_assert_int_eq(ctl_end(w, mark), 0);
}

static int decode_page(const struct ike_writer *w, struct ctl_metrics *into, bool first,
		       bool *more, char *after, const char **why)
{
	struct ctl_msg msg = { .attrs = attrs };
	const char *dwhy;

	ck_assert_int_eq(ctl_decode(w->buf + 4, w->len - 4, &msg, &dwhy), 0);
	return ctl_metrics_add_page(into, msg.attrs, msg.n_attrs, first, more, after,
				    SITE_NAME_MAX, why);
}

START_TEST(test_metrics_figures_survive_the_control_protocol)
{
	struct ctl_metrics m = { 0 }, got = { 0 };
	struct ike_writer w;
	char after[SITE_NAME_MAX];
	const char *why;
	bool more;

	daemon_figures(&m);
	m.v[CTL_DM_IKE_RECEIVED] = UINT64_MAX;
	add_site(&m, "a\"1", CTL_SITE_UP, "fra1", 1);
	add_site(&m, "b\\2", CTL_SITE_DISABLED, "", UINT64_MAX - CTL_SM_MAX);
	add_site(&m, "c\n3", CTL_SITE_DOWN, "ams1", 0);
	reply_of(&w, &m, 0, 2, "yes");
	ck_assert_int_eq(decode_page(&w, &got, true, &more, after, &why), 0);
	ck_assert(more);
	ck_assert_str_eq(after, "b\\2");
	ike_writer_clear(&w);
	reply_of(&w, &m, 2, 1, "no");
	ck_assert_int_eq(decode_page(&w, &got, false, &more, after, &why), 0);
	ck_assert(!more);
	ike_writer_clear(&w);
	ck_assert_str_eq(got.version, "0.1.0");
	ck_assert_uint_eq(got.start_time_ms, m.start_time_ms);
	ck_assert_mem_eq(got.v, m.v, sizeof(m.v));
	ck_assert_mem_eq(got.failures, m.failures, sizeof(m.failures));
	ck_assert_uint_eq(got.n_sites, 3);
	for (size_t i = 0; i < 3; i++) {
		ck_assert_str_eq(got.sites[i].name, m.sites[i].name);
		ck_assert_str_eq(got.sites[i].active_pop, m.sites[i].active_pop);
		ck_assert_int_eq(got.sites[i].state, m.sites[i].state);
		ck_assert_mem_eq(got.sites[i].v, m.sites[i].v, sizeof(m.sites[i].v));
	}
	ctl_metrics_clear(&m);
	ctl_metrics_clear(&got);
}
END_TEST

/* A reply with one KV of a site row replaced (key, value) or dropped (value NULL). */
static int decode_with(const char *key, const char *value, bool first, const char **why)
{
	struct ctl_metrics m = { 0 }, got = { 0 };
	struct ike_writer w;
	size_t mark, row;
	char after[SITE_NAME_MAX];
	bool more;
	int rc;

	daemon_figures(&m);
	if (!first)
		add_site(&got, "a", CTL_SITE_UP, "", 0);	/* a previous page's */
	ike_writer_init(&w, CTL_MAX_MSG + 4);
	ck_assert_int_eq(ctl_begin(&w, 9, 0, CTL_FLAG_REPLY, &mark), 0);
	ck_assert_int_eq(ctl_metrics_put(&w, &m), 0);
	ck_assert_int_eq(ctl_row_begin(&w, &row), 0);
	if (strcmp(key, "site"))
		ck_assert_int_eq(ctl_put_kv(&w, "site", "b"), 0);
	if (strcmp(key, "status"))
		ck_assert_int_eq(ctl_put_kv(&w, "status", "up"), 0);
	if (value)
		ck_assert_int_eq(ctl_put(&w, CTL_A_KV, value, strlen(key) + 1 +
					 strlen(value + strlen(key) + 1)), 0);
	ck_assert_int_eq(ctl_row_end(&w, row), 0);
	ck_assert_int_eq(ctl_put_kv(&w, "more", "no"), 0);
	ck_assert_int_eq(ctl_end(&w, mark), 0);
	rc = decode_page(&w, &got, first, &more, after, why);
	ike_writer_clear(&w);
	ctl_metrics_clear(&m);
	ctl_metrics_clear(&got);
	return rc;
}

START_TEST(test_metrics_malformed_replies_refused)
{
	static const struct {
		const char *key;
		const char *kv;		/* "key\0value" */
		size_t kv_len;
	} bad[] = {
		{ "bytes-in", "bytes-in\0" "12x", 12 },
		{ "bytes-in", "bytes-in\0" "+12", 12 },
		{ "bytes-in", "bytes-in\0", 9 },
		{ "bytes-in", "bytes-in\0" "18446744073709551616", 29 },	/* 2^64 */
		{ "status", "status\0" "sideways", 15 },
		{ "status", "status\0" "", 7 },
		{ "site", "site\0" "", 5 },
		{ "site", "site\0" "a\0b", 8 },
		{ "site", "site\0" "0123456789012345678901234567890123456789"
			  "012345678901234567890123", 69 },	/* 64 bytes */
		{ "active-pop", "active-pop\0" "p\0q", 14 },
	};
	struct ctl_metrics m = { 0 }, got = { 0 };
	struct ike_writer w;
	char after[SITE_NAME_MAX];
	const char *why;
	bool more;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ike_writer rw;
		size_t mark, row;
		struct ctl_metrics g = { 0 };

		daemon_figures(&m);
		ike_writer_init(&rw, CTL_MAX_MSG + 4);
		ck_assert_int_eq(ctl_begin(&rw, 9, 0, CTL_FLAG_REPLY, &mark), 0);
		ck_assert_int_eq(ctl_metrics_put(&rw, &m), 0);
		ck_assert_int_eq(ctl_row_begin(&rw, &row), 0);
		if (strcmp(bad[i].key, "site"))
			ck_assert_int_eq(ctl_put_kv(&rw, "site", "b"), 0);
		if (strcmp(bad[i].key, "status"))
			ck_assert_int_eq(ctl_put_kv(&rw, "status", "up"), 0);
		ck_assert_int_eq(ctl_put(&rw, CTL_A_KV, bad[i].kv, bad[i].kv_len), 0);
		ck_assert_int_eq(ctl_row_end(&rw, row), 0);
		ck_assert_int_eq(ctl_put_kv(&rw, "more", "no"), 0);
		ck_assert_int_eq(ctl_end(&rw, mark), 0);
		ck_assert_msg(decode_page(&rw, &g, true, &more, after, &why) == -EBADMSG,
			      "accepted bad field #%zu", i);
		ck_assert_ptr_nonnull(why);
		ike_writer_clear(&rw);
		ctl_metrics_clear(&g);
	}
	/* A row without its name or status; a field of a newer ikd is fine. */
	ck_assert_int_eq(decode_with("site", NULL, true, &why), -EBADMSG);
	ck_assert_int_eq(decode_with("status", NULL, true, &why), -EBADMSG);
	ck_assert_int_eq(decode_with("newer", "newer\0" "42", true, &why), 0);
	/* A page that does not advance past the previous one's last site. */
	ck_assert_int_eq(decode_with("site", "site\0" "a", false, &why), -EBADMSG);
	ck_assert_str_eq(why, "site rows out of name order");

	/* Rows out of order; "more" missing or odd; more promised after an empty page. */
	daemon_figures(&m);
	add_site(&m, "b", CTL_SITE_UP, "", 0);
	add_site(&m, "a", CTL_SITE_UP, "", 0);
	reply_of(&w, &m, 0, 2, "no");
	ck_assert_int_eq(decode_page(&w, &got, true, &more, after, &why), -EBADMSG);
	ike_writer_clear(&w);
	ctl_metrics_clear(&got);
	reply_of(&w, &m, 0, 1, NULL);
	ck_assert_int_eq(decode_page(&w, &got, true, &more, after, &why), -EBADMSG);
	ike_writer_clear(&w);
	ctl_metrics_clear(&got);
	reply_of(&w, &m, 0, 1, "maybe");
	ck_assert_int_eq(decode_page(&w, &got, true, &more, after, &why), -EBADMSG);
	ike_writer_clear(&w);
	ctl_metrics_clear(&got);
	reply_of(&w, &m, 0, 0, "yes");
	ck_assert_int_eq(decode_page(&w, &got, true, &more, after, &why), -EBADMSG);
	ck_assert_str_eq(why, "an empty page that says more follow");
	ike_writer_clear(&w);
	ctl_metrics_clear(&got);
	ctl_metrics_clear(&m);
}
END_TEST

/* ---- the handler's paging, with a runtime that writes what the real one does ---- */

static struct site_db db;
static size_t rt_calls, rt_max_n;

static int rt_metrics(void *arg, const struct site *const *sites, size_t n, struct ike_writer *w)
{
	struct ctl_metrics m = { 0 };
	int rc;

	(void)arg;
	rt_calls++;
	if (n > rt_max_n)
		rt_max_n = n;
	daemon_figures(&m);
	rc = ctl_metrics_put(w, &m);
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct ctl_metrics_site s = { .state = sites[i]->enabled ? CTL_SITE_UP :
						       CTL_SITE_DISABLED };

		strcpy(s.name, sites[i]->name);
		strcpy(s.active_pop, sites[i]->primary);
		s.v[CTL_SM_FAILOVERS] = i;
		rc = ctl_metrics_put_site(w, &s);
	}
	return rc;
}

static void site_named(struct site *s, const char *name)
{
	char err[256];

	site_init(s);
	ck_assert_int_eq(site_set(s, "name", name, err, sizeof(err)), 0);
	ck_assert_int_eq(site_set(s, "id", name, err, sizeof(err)), 0);	/* an identity each */
	ck_assert_int_eq(site_set(s, "primary", "fra1", err, sizeof(err)), 0);
	ck_assert_int_eq(site_set(s, "backups", "ams1", err, sizeof(err)), 0);
}

static void db_add(const char *name)
{
	struct site s;
	char err[256];

	site_named(&s, name);
	ck_assert_int_eq(site_set_psk(&s, (const uint8_t *)"0123456789abcdef0123", 20, err,
				      sizeof(err)), 0);
	ck_assert_msg(site_db_add_site(&db, &s, err, sizeof(err)) == 0, "%s", err);
	site_clear(&s);
}

/* One metrics request (after: "" for the first page) into got. */
static int page(struct ctl_handler *h, const char *after, struct ctl_metrics *got, bool *more,
		char *next)
{
	struct ike_writer rq, rep;
	struct ctl_msg req = { .attrs = attrs };
	size_t mark;
	const char *why;
	int rc;

	ike_writer_init(&rq, CTL_MAX_MSG + 4);
	ck_assert_int_eq(ctl_begin(&rq, 5, CTL_METRICS, 0, &mark), 0);
	if (after[0])
		ck_assert_int_eq(ctl_put_kv(&rq, "after", after), 0);
	ck_assert_int_eq(ctl_end(&rq, mark), 0);
	ck_assert_int_eq(ctl_decode(rq.buf + 4, rq.len - 4, &req, &why), 0);
	ike_writer_init(&rep, CTL_MAX_MSG + 4);
	rc = ctl_handle(h, &req, &rep);
	if (rc == 0)
		ck_assert_msg(decode_page(&rep, got, !after[0], more, next, &why) == 0, "%s", why);
	ike_writer_clear(&rq);
	ike_writer_clear(&rep);
	return rc;
}

START_TEST(test_metrics_handler_pages_every_site_once_in_name_order)
{
	static const struct ctl_runtime rt = { .metrics = rt_metrics };
	struct ctl_handler h = { .db = &db, .rt = &rt };
	struct ctl_metrics got = { 0 };
	char after[SITE_NAME_MAX] = "", name[32];
	const size_t total = 2 * CTL_METRICS_PAGE + 345;
	size_t pages = 0;
	const char *gone = NULL;
	bool more = true;
	struct pop p;
	char err[256];
	long n;
	char *text;

	memset(&db, 0, sizeof(db));
	pop_init(&p);
	ck_assert_int_eq(pop_set(&p, "name", "fra1", err, sizeof(err)), 0);
	ck_assert_int_eq(pop_set(&p, "gateway", "192.0.2.1", err, sizeof(err)), 0);
	ck_assert_int_eq(site_db_add_pop(&db, &p, err, sizeof(err)), 0);
	ck_assert_int_eq(pop_set(&p, "name", "ams1", err, sizeof(err)), 0);
	ck_assert_int_eq(pop_set(&p, "gateway", "192.0.2.2", err, sizeof(err)), 0);
	ck_assert_int_eq(site_db_add_pop(&db, &p, err, sizeof(err)), 0);
	/*
	 * Out of name order, so that the pages must sort them; filled in place (adding
	 * thousands one by one through site_db_add_site grows the array a site at a time).
	 */
	db.sites = calloc(total, sizeof(*db.sites));
	ck_assert_ptr_nonnull(db.sites);
	for (size_t i = 0; i < total; i++) {
		snprintf(name, sizeof(name), "s%05zu", (i * 7919) % total);
		site_named(&db.sites[db.n_sites++], name);
	}
	while (more) {
		ck_assert_int_eq(page(&h, after, &got, &more, after), 0);
		pages++;
		if (pages == 1) {
			/* Between two pages a site of the next one is deleted and one is added
			 * before the cursor: neither shows twice or breaks the order. */
			const char *del[] = { "s01500" };

			ck_assert_int_eq(site_db_delete_sites(&db, del, 1, err, sizeof(err)), 0);
			db_add("s00000a");
			gone = del[0];
		}
	}
	ck_assert_uint_eq(pages, 3);
	ck_assert_uint_eq(rt_max_n, CTL_METRICS_PAGE);
	ck_assert_uint_eq(got.n_sites, total - 1);
	for (size_t i = 1; i < got.n_sites; i++)
		ck_assert_str_lt(got.sites[i - 1].name, got.sites[i].name);
	for (size_t i = 0; i < got.n_sites; i++)
		ck_assert_str_ne(got.sites[i].name, gone);
	ck_assert_str_eq(got.sites[0].active_pop, "fra1");
	text = format_checked(&got, &n);
	ck_assert_int_eq(n, DAEMON_SAMPLES + (long)(total - 1) * (SITE_SAMPLES + 1));
	free(text);
	ctl_metrics_clear(&got);

	/* Only "after" is a field; a daemon without the callback says so. */
	{
		struct ike_writer rq, rep;
		struct ctl_msg req = { .attrs = attrs }, r = { .attrs = reply_attrs };
		struct ctl_handler bare = { .db = &db };
		const char *why;
		size_t mark;

		ike_writer_init(&rq, CTL_MAX_MSG + 4);
		ck_assert_int_eq(ctl_begin(&rq, 5, CTL_METRICS, 0, &mark), 0);
		ck_assert_int_eq(ctl_put_kv(&rq, "before", "x"), 0);
		ck_assert_int_eq(ctl_end(&rq, mark), 0);
		ck_assert_int_eq(ctl_decode(rq.buf + 4, rq.len - 4, &req, &why), 0);
		ike_writer_init(&rep, CTL_MAX_MSG + 4);
		ck_assert_int_eq(ctl_handle(&h, &req, &rep), -EINVAL);
		ck_assert_int_eq(ctl_decode(rep.buf + 4, rep.len - 4, &r, &why), 0);
		ck_assert_uint_eq(r.code, EINVAL);
		ike_writer_clear(&rep);
		ike_writer_init(&rep, CTL_MAX_MSG + 4);
		req.n_attrs = 0;
		ck_assert_int_eq(ctl_handle(&bare, &req, &rep), -EOPNOTSUPP);
		ike_writer_clear(&rep);
		ike_writer_clear(&rq);
	}
	ck_assert_str_eq(ctl_verb_name(CTL_METRICS), "metrics");
	site_db_clear(&db);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ctl_metrics");
	TCase *tc = tcase_create("metrics");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_metrics_hostile_site_names_pass_the_strict_reader);
	tcase_add_test(tc, test_metrics_without_sites_has_only_the_daemon);
	tcase_add_test(tc, test_metrics_strict_reader_refuses_what_the_format_forbids);
	tcase_add_test(tc, test_metrics_figures_survive_the_control_protocol);
	tcase_add_test(tc, test_metrics_malformed_replies_refused);
	tcase_add_test(tc, test_metrics_handler_pages_every_site_once_in_name_order);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
