/* xfrmctl site: add, edit, show, list, enable, disable, delete, import, export. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "ctl/list.h"
#include "site/csv.h"
#include "xfrmctl.h"

#define MAX_COLUMNS 32

/* The console's table first (the default columns), then every other field. */
static const struct xo_col site_cols[] = {
	{ "name", "NAME", "name", NULL, NULL, "-" },
	{ "id", "SOURCE IDENTITY", "id", NULL, NULL, "-" },
	{ "source-ip", "SOURCE IP", "source-ip", NULL, NULL, "dynamic" },
	{ "status", "STATUS", "status", NULL, NULL, "-" },
	{ "pop", "POP", "active-pop", NULL, NULL, "-" },
	{ "throughput", "THROUGHPUT", "throughput-kbps", NULL, " Kbps", "-" },
	{ "traffic", "TRAFFIC TYPE", "traffic", NULL, NULL, "-" },
	{ "id-type", "ID TYPE", "id-type", NULL, NULL, "-" },
	{ "psk", "PSK", "psk", NULL, NULL, "-" },
	{ "primary", "PRIMARY", "primary", NULL, NULL, "-" },
	{ "backups", "BACKUPS", "backups", NULL, NULL, "-" },
	{ "active-pop", "ACTIVE POP", "active-pop", NULL, NULL, "-" },
	{ "enabled", "ENABLED", "enabled", NULL, NULL, "-" },
	{ "local-ts", "LOCAL TS", "local-ts", NULL, NULL, "-" },
	{ "remote-ts", "REMOTE TS", "remote-ts", NULL, NULL, "-" },
	{ "mark", "MARK", "mark", NULL, NULL, "-" },
	{ "if-id", "IF ID", "if-id", NULL, NULL, "-" },
	{ "ike-proposals", "IKE PROPOSALS", "ike-proposals", NULL, NULL, "-" },
	{ "esp-proposals", "ESP PROPOSALS", "esp-proposals", NULL, NULL, "-" },
	{ "ike-lifetime", "IKE LIFETIME", "ike-lifetime", NULL, NULL, "-" },
	{ "child-lifetime", "CHILD LIFETIME", "child-lifetime", NULL, NULL, "-" },
	{ "ike-rekey", "IKE REKEY", "ike-rekey", NULL, NULL, "-" },
	{ "child-rekey", "CHILD REKEY", "child-rekey", NULL, NULL, "-" },
	{ "dpd-interval", "DPD INTERVAL", "dpd-interval", NULL, NULL, "-" },
	{ "max-child-sas", "MAX CHILD SAS", "max-child-sas", NULL, NULL, "-" },
	{ "vendor-rules", "VENDOR RULES", "vendor-rules", NULL, NULL, "-" },
	{ "throughput-kbps", "THROUGHPUT KBPS", "throughput-kbps", NULL, NULL, "-" },
};
#define N_SITE_COLS (sizeof(site_cols) / sizeof(site_cols[0]))
#define N_DEFAULT_COLS 7

/* "key value" pairs into the request; psk-file PATH and psk - read the key into k. */
static int put_fields(struct xc_req *r, struct xc_psk *k, const char *what, bool site,
		      int argc, char **argv)
{
	char err[512];

	for (int i = 0; i < argc; i += 2) {
		const char *key = argv[i];

		if (i + 1 >= argc)
			return xc_usage("%s: '%s' needs a value", what, key);
		if (!*key)
			return xc_usage("%s: an empty field name", what);
		if (site && (!strcmp(key, "psk-file") || !strcmp(key, "psk"))) {
			int rc;

			if (k->set)
				return xc_usage("%s: the key is given twice", what);
			if (key[3] == '\0' && strcmp(argv[i + 1], "-")) {
				/* Too late for ps, but /proc/PID/cmdline stops showing it. */
				sodium_memzero(argv[i + 1], strlen(argv[i + 1]));
				return xc_usage("%s: psk: a key on the command line is seen "
						"by every user (ps, /proc) and kept in shell "
						"history; give psk-file PATH, psk - (stdin), or "
						"leave it out to be asked", what);
			}
			if (key[3] == '-')
				rc = xc_psk_from_file(k, argv[i + 1], err, sizeof(err));
			else if (isatty(STDIN_FILENO))
				rc = xc_psk_prompt(k, STDIN_FILENO, "PSK: ", err, sizeof(err));
			else
				rc = xc_psk_from_fd(k, STDIN_FILENO, "psk - (stdin)", err,
						    sizeof(err));
			if (rc < 0)
				return xc_error("%s: %s", what, err);
			continue;
		}
		xc_req_kv(r, key, argv[i + 1]);
	}
	return XC_EXIT_OK;
}

static int add_or_edit(struct xc *x, int argc, char **argv, bool add)
{
	struct xc_psk k = { 0 };
	struct xc_req r;
	char what[128], err[512];
	int rc;

	if (argc < 1)
		return xc_usage("site %s: NAME missing (site %s NAME KEY VALUE ...)",
				add ? "add" : "edit", add ? "add" : "edit");
	snprintf(what, sizeof(what), "site '%.64s'", argv[0]);
	xc_req_begin(&r, add ? CTL_SITE_ADD : CTL_SITE_EDIT);
	xc_req_str(&r, CTL_A_NAME, argv[0]);
	rc = put_fields(&r, &k, what, true, argc - 1, argv + 1);
	if (rc == 0 && add && !k.set) {
		if (!isatty(STDIN_FILENO)) {
			rc = xc_usage("%s: no key: give psk-file PATH or psk - (stdin)", what);
		} else {
			char prompt[128];

			snprintf(prompt, sizeof(prompt), "PSK for site '%.64s': ", argv[0]);
			if (xc_psk_prompt(&k, STDIN_FILENO, prompt, err, sizeof(err)) < 0)
				rc = xc_error("%s: %s", what, err);
		}
	}
	if (rc == 0 && !add && argc == 1)
		rc = xc_usage("%s: nothing to change (site edit NAME KEY VALUE ...)", what);
	if (rc == 0 && k.set)
		xc_req_put(&r, CTL_A_PSK, k.buf, k.len);
	xc_psk_wipe(&k);
	if (rc) {
		ike_writer_clear(&r.w);
		return rc;
	}
	return xc_call(x, &r);
}

static int site_add(struct xc *x, int argc, char **argv)
{
	return add_or_edit(x, argc, argv, true);
}

static int site_edit(struct xc *x, int argc, char **argv)
{
	return add_or_edit(x, argc, argv, false);
}

static int site_show(struct xc *x, int argc, char **argv)
{
	struct xc_req r;
	int rc;

	if (argc != 1)
		return xc_usage("site show: one NAME (site show NAME)");
	xc_req_begin(&r, CTL_SITE_SHOW);
	xc_req_str(&r, CTL_A_NAME, argv[0]);
	rc = xc_call(x, &r);
	return rc ?: xc_print_record(x, "tunnels");
}

/* --columns a,b,c: each a column name or an unambiguous prefix of one. */
static int parse_columns(const char *spec, struct xo_col *cols, size_t *n)
{
	char buf[1024], names[2048];
	char *save = NULL, *tok;

	if (strlen(spec) >= sizeof(buf))
		return xc_usage("site list: --columns: too long");
	strcpy(buf, spec);
	*n = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int i = xc_match(tok, site_cols, N_SITE_COLS, sizeof(site_cols[0]));

		if (i < 0) {
			xc_candidates(names, sizeof(names), i == -2 ? tok : NULL, site_cols,
				      N_SITE_COLS, sizeof(site_cols[0]));
			return xc_usage("site list: --columns: '%s' is %s: %s", tok,
					i == -2 ? "ambiguous" : "not a column", names);
		}
		if (*n == MAX_COLUMNS)
			return xc_usage("site list: --columns: at most %d", MAX_COLUMNS);
		cols[(*n)++] = site_cols[i];
	}
	if (*n == 0)
		return xc_usage("site list: --columns: name at least one column");
	return XC_EXIT_OK;
}

/*
 * site list's filters and options. The filters come first: the bulk verbs' --filter takes
 * those (N_FILTERS). Each filter is sent to ikd as "key value"; the daemon checks them again
 * (for any client), classing a bad one as a usage error.
 */
#define N_FILTERS 8
enum { L_SORT, L_REVERSE, L_PAGE, L_PAGE_SIZE, L_ALL, L_COLUMNS };

static const struct xc_arg list_args[] = {
	/* The filters (N_FILTERS). */
	{ "name", "TEXT", "names containing TEXT" },
	{ "id", "TEXT", "source identities containing TEXT" },
	{ "source-ip", "ADDRESS|PREFIX|dynamic", "that source IP, those inside ADDRESS/BITS, or\n"
						  "the sites with a dynamic address" },
	{ "status", "up|down|disabled", "the runtime status" },
	{ "pop", "POP", "sites using POP, as primary or backup" },
	{ "traffic", "TYPE", "User, IoT, Mixed, Machine or \"Guest Wifi\"" },
	{ "enabled", "yes|no", "enabled or not" },
	{ "throughput", "LOW-HIGH", "throughput in Kbps from LOW to HIGH (LOW- or -HIGH:\n"
				    "open-ended)" },
	[N_FILTERS + L_SORT] = { "--sort", "COLUMN", "sort by any column (--columns names them);\n"
						      "ties by name; default name" },
	[N_FILTERS + L_REVERSE] = { "--reverse", NULL, "the other way round" },
	[N_FILTERS + L_PAGE] = { "--page", "N", "page N (from 1)" },
	[N_FILTERS + L_PAGE_SIZE] = { "--page-size", "N", "N sites a page, 1 to 1000 (default 100)" },
	[N_FILTERS + L_ALL] = { "--all", NULL, "every page, one table (or JSON document)" },
	[N_FILTERS + L_COLUMNS] = { "--columns", "LIST", "the columns shown, comma-separated: name,\n"
							 "id, source-ip, status, pop, throughput,\n"
							 "traffic or any site field" },
};
#define N_LIST_ARGS (sizeof(list_args) / sizeof(list_args[0]))
#define filters list_args

/* A number from 1 to max (--page, --page-size). */
static int parse_count(const char *opt, const char *v, unsigned long max, unsigned long *ret)
{
	char *end;

	errno = 0;
	*ret = strtoul(v, &end, 10);
	if (!*v || *v < '0' || *v > '9' || *end || errno || *ret < 1 || *ret > max)
		return xc_usage("site list: %s '%s': a number from 1 to %lu", opt, v, max);
	return XC_EXIT_OK;
}

/* --sort COLUMN: a column by name or unambiguous prefix; asc and desc as before (by name). */
static int parse_sort(struct xc_req *r, const char *v, bool *reverse)
{
	char names[2048];
	int i;

	if (!strcmp(v, "asc") || !strcmp(v, "desc")) {
		*reverse = *reverse || v[0] == 'd';
		return XC_EXIT_OK;
	}
	i = xc_match(v, site_cols, N_SITE_COLS, sizeof(site_cols[0]));
	if (i < 0) {
		xc_candidates(names, sizeof(names), i == -2 ? v : NULL, site_cols, N_SITE_COLS,
			      sizeof(site_cols[0]));
		return xc_usage("site list: --sort: '%s' is %s: %s", v,
				i == -2 ? "ambiguous" : "not a column", names);
	}
	xc_req_kv(r, "sort", site_cols[i].name);
	return XC_EXIT_OK;
}

/* One more page's rows, copied out of the reply (the next call reuses its buffer). */
struct pages {
	struct ctl_attr *attrs;
	size_t n, cap;
};

static int pages_add(struct pages *p, const struct ctl_msg *m)
{
	for (size_t i = 0; i < m->n_attrs; i++) {
		struct ctl_attr a = m->attrs[i];
		uint8_t *copy;

		if (a.type != CTL_A_ROW)
			continue;
		if (p->n == p->cap) {
			size_t cap = p->cap ? p->cap * 2 : 256;
			struct ctl_attr *more = realloc(p->attrs, cap * sizeof(*more));

			if (!more)
				return -ENOMEM;
			p->attrs = more;
			p->cap = cap;
		}
		copy = malloc(a.len ? a.len : 1);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, a.p, a.len);
		a.p = copy;
		p->attrs[p->n++] = a;
	}
	return 0;
}

static void pages_free(struct pages *p)
{
	for (size_t i = 1; i < p->n; i++)
		free((void *)p->attrs[i].p);
	free(p->attrs);
}

/*
 * --all: page after page of the same request (its KVs in req) until the last; then every
 * row as one table or one JSON document {"total": N, "sites": [...]}.
 */
static int list_all(struct xc *x, const struct ike_writer *req, const struct xo_col *cols,
		    size_t n_cols)
{
	static const char total_kv[] = "total";
	struct pages p = { 0 };
	uint8_t total_buf[32];
	unsigned long total = 0;
	int rc = 0;

	/* The first attribute is "total", filled in at the end. */
	p.attrs = calloc(1, sizeof(*p.attrs));
	p.cap = p.attrs ? 1 : 0;
	p.n = p.attrs ? 1 : 0;
	if (!p.attrs)
		return xc_error("out of memory");
	for (unsigned long page = 1; rc == 0; page++) {
		struct xc_req r;
		char num[24], tot[24];
		size_t before = p.n;

		xc_req_begin(&r, CTL_SITE_LIST);
		if (r.rc == 0 && ike_writer_bytes(&r.w, req->buf, req->len) < 0)
			r.rc = -ENOMEM;
		snprintf(num, sizeof(num), "%lu", page);
		xc_req_kv(&r, "page", num);
		rc = xc_call(x, &r);
		if (rc)
			break;
		xo_get_str(x->reply.attrs, x->reply.n_attrs, "total", tot, sizeof(tot));
		total = strtoul(tot, NULL, 10);
		if (pages_add(&p, &x->reply) < 0) {
			rc = xc_error("out of memory");
			break;
		}
		if (p.n == before || p.n - 1 >= total)
			break;
	}
	if (rc == 0) {
		size_t l = (size_t)snprintf((char *)total_buf, sizeof(total_buf), "%s%c%lu",
					    total_kv, '\0', (unsigned long)(p.n - 1));

		p.attrs[0] = (struct ctl_attr){ .type = CTL_A_KV, .len = (uint32_t)l,
						.p = total_buf };
		if (x->json) {
			rc = xo_json_object(stdout, p.attrs, p.n, "sites", NULL) < 0 ?
			     xc_error("a malformed reply") : XC_EXIT_OK;
		} else {
			struct xo_row *rows;
			size_t n;

			if (xo_rows_of(p.attrs, p.n, &rows, &n) < 0) {
				rc = xc_error("a malformed reply");
			} else {
				if (xo_table(stdout, rows, n, cols, n_cols) < 0)
					rc = xc_error("out of memory");
				xo_rows_free(rows, n);
			}
		}
	}
	pages_free(&p);
	return rc;
}

static int site_list(struct xc *x, int argc, char **argv)
{
	struct xo_col cols[MAX_COLUMNS];
	size_t n_cols = N_DEFAULT_COLS;
	unsigned long page = 1, size = 0, u;
	bool reverse = false, all = false;
	struct ike_writer kvs;
	struct xc_req r;
	char total[24], pg[24], psize[24], names[512];
	int rc = 0;

	memcpy(cols, site_cols, sizeof(site_cols[0]) * N_DEFAULT_COLS);
	xc_req_begin(&r, CTL_SITE_LIST);
	for (int i = 0; rc == 0 && i < argc; i++) {
		const struct xc_arg *a = xc_arg_find(list_args, N_LIST_ARGS, argv[i]);
		const char *v = NULL;
		size_t k;

		if (!a) {
			xc_arg_names(names, sizeof(names), list_args, N_LIST_ARGS);
			rc = xc_usage("site list: '%s': not a filter (%s)", argv[i], names);
			break;
		}
		k = (size_t)(a - list_args);
		/* "key value", "--opt value" or "--opt=value" */
		if (a->value && xc_option(argc, argv, &i, a->name, &v) <= 0) {
			rc = xc_usage("site list: '%s' needs a value (%s)", a->name, a->value);
			break;
		}
		if (k < N_FILTERS) {
			xc_req_kv(&r, a->name, v);
			continue;
		}
		switch (k - N_FILTERS) {
		case L_SORT:
			rc = parse_sort(&r, v, &reverse);
			break;
		case L_REVERSE:
			reverse = true;
			break;
		case L_PAGE:
			rc = parse_count("--page", v, 10000000, &page);
			break;
		case L_PAGE_SIZE:
			rc = parse_count("--page-size", v, CTL_PAGE_SIZE_MAX, &size);
			break;
		case L_ALL:
			all = true;
			break;
		case L_COLUMNS:
			rc = parse_columns(v, cols, &n_cols);
			break;
		}
	}
	if (rc == 0 && all && page != 1)
		rc = xc_usage("site list: --all or --page, not both");
	if (rc) {
		ike_writer_clear(&r.w);
		return rc;
	}
	if (reverse)
		xc_req_kv(&r, "reverse", "yes");
	if (size || all) {
		snprintf(psize, sizeof(psize), "%lu", size ? size : 500);
		xc_req_kv(&r, "page-size", psize);
	}
	if (all) {
		/* The filters and options without the frame header: each page adds its number. */
		ike_writer_init(&kvs, CTL_MAX_MSG);
		rc = r.rc ?: ike_writer_bytes(&kvs, r.w.buf + r.mark + 4 + CTL_HEADER_LEN,
					      r.w.len - r.mark - 4 - CTL_HEADER_LEN);
		ike_writer_clear(&r.w);
		rc = rc < 0 ? xc_error("out of memory") : list_all(x, &kvs, cols, n_cols);
		ike_writer_clear(&kvs);
		return rc;
	}
	if (page != 1) {
		snprintf(pg, sizeof(pg), "%lu", page);
		xc_req_kv(&r, "page", pg);
	}
	rc = xc_call(x, &r);
	if (rc)
		return rc;
	if (x->json)
		return xo_json_object(stdout, x->reply.attrs, x->reply.n_attrs, "sites", NULL) < 0 ?
		       xc_error("a malformed reply") : XC_EXIT_OK;
	rc = xc_print_table(x, cols, n_cols);
	xo_get_str(x->reply.attrs, x->reply.n_attrs, "total", total, sizeof(total));
	xo_get_str(x->reply.attrs, x->reply.n_attrs, "page", pg, sizeof(pg));
	xo_get_str(x->reply.attrs, x->reply.n_attrs, "page-size", psize, sizeof(psize));
	u = strtoul(psize, NULL, 10);
	if (rc == 0 && u > 0 && strtoul(total, NULL, 10) > u) {
		unsigned long pages = (strtoul(total, NULL, 10) + u - 1) / u, at = strtoul(pg, NULL, 10);

		if (at < pages)
			printf("page %s of %lu (%s sites): --page %lu for the next, --all for every "
			       "one\n", pg, pages, total, at + 1);
		else
			printf("page %s of %lu (%s sites): --all for every one\n", pg, pages, total);
	}
	return rc;
}

/* Enable, disable or delete by names, or (--filter) every site a filter selects. */
enum { B_FILTER, B_YES };

static const struct xc_arg bulk_args[] = {
	[B_FILTER] = { "--filter", "FILTER VALUE ...", "every site the filters select (those of\n"
						       "site list): name, id, source-ip, status,\n"
						       "pop, traffic, enabled, throughput" },
	[B_YES] = { "--yes", NULL, "no confirmation: needed with --filter when not\n"
				   "run on a terminal" },
};

/* Asked on the terminal: 1 yes, 0 no. */
static int confirm(const char *question)
{
	char line[16];

	fprintf(stderr, "%s [y/N] ", question);
	fflush(stderr);
	if (!fgets(line, sizeof(line), stdin))
		return 0;
	return !strcmp(line, "y\n") || !strcmp(line, "yes\n") || !strcmp(line, "Y\n");
}

static int bulk_filter(struct xc *x, uint16_t verb, const char *what, const char *done,
		       int argc, char **argv, bool yes)
{
	struct xc_req r;
	char total[24], names[512], question[1024], count[24];
	unsigned long n;
	size_t o = 0;
	int rc = 0;

	if (argc == 0)
		return xc_usage("%s: --filter needs FILTER VALUE ... (%s --filter status down)",
				what, what);
	/* How many, and which: the list with the same filters, its first page. */
	xc_req_begin(&r, CTL_SITE_LIST);
	for (int i = 0; rc == 0 && i < argc; i += 2) {
		const struct xc_arg *a = xc_arg_find(filters, N_FILTERS, argv[i]);

		if (!a) {
			xc_arg_names(names, sizeof(names), filters, N_FILTERS);
			rc = xc_usage("%s: '%s': not a filter (%s)", what, argv[i], names);
		} else if (i + 1 >= argc) {
			rc = xc_usage("%s: '%s' needs a value (%s)", what, a->name, a->value);
		} else {
			xc_req_kv(&r, a->name, argv[i + 1]);
		}
	}
	if (rc) {
		ike_writer_clear(&r.w);
		return rc;
	}
	xc_req_kv(&r, "page-size", "10");
	rc = xc_call(x, &r);
	if (rc)
		return rc;
	n = strtoul(xo_get_str(x->reply.attrs, x->reply.n_attrs, "total", total, sizeof(total)),
		    NULL, 10);
	if (n == 0) {
		if (x->json)
			printf("{\n  \"sites\": 0\n}\n");
		else
			printf("%s: no site matches: nothing changed\n", what);
		return XC_EXIT_OK;
	}
	o = (size_t)snprintf(question, sizeof(question), "%s: %lu site%s match%s (", what, n,
			     n == 1 ? "" : "s", n == 1 ? "es" : "");
	for (size_t i = 0, k = 0; i < x->reply.n_attrs && o < sizeof(question); i++) {
		struct xo_row row;
		char name[SITE_NAME_MAX];

		if (x->reply.attrs[i].type != CTL_A_ROW || xo_row_decode(&x->reply.attrs[i], &row))
			continue;
		xo_get_str(row.attrs, row.n, "name", name, sizeof(name));
		o += (size_t)snprintf(question + o, sizeof(question) - o, "%s%s", k++ ? ", " : "",
				      name);
		xo_row_free(&row);
	}
	if (o < sizeof(question))
		snprintf(question + o, sizeof(question) - o, "%s).", n > 10 ? ", ..." : "");
	if (!yes && !(isatty(STDIN_FILENO) && isatty(STDERR_FILENO)))
		return xc_error("%s: %lu site%s match%s; not on a terminal to confirm: give --yes "
				"to %s them without asking (nothing changed)", what, n,
				n == 1 ? "" : "s", n == 1 ? "es" : "", done);
	if (!yes) {
		char q[1100];

		snprintf(q, sizeof(q), "%s %c%s them?", question, done[0] - 'a' + 'A', done + 1);
		if (!confirm(q))
			return xc_error("%s: not confirmed: nothing changed", what);
	}
	/* The same filters, and the count confirmed: ikd refuses if it has changed since. */
	xc_req_begin(&r, verb);
	for (int i = 0; i + 1 < argc; i += 2)
		xc_req_kv(&r, argv[i], argv[i + 1]);
	snprintf(count, sizeof(count), "%lu", n);
	xc_req_kv(&r, "expect", count);
	rc = xc_call(x, &r);
	if (rc)
		return rc;
	if (x->json)
		return xo_json_object(stdout, x->reply.attrs, x->reply.n_attrs, NULL, NULL) < 0 ?
		       xc_error("a malformed reply") : XC_EXIT_OK;
	printf("%s: %s site%s %sd\n", what, xo_get_str(x->reply.attrs, x->reply.n_attrs, "sites",
						       count, sizeof(count)),
	       strcmp(count, "1") ? "s" : "", done);
	return XC_EXIT_OK;
}

static int names_verb(struct xc *x, uint16_t verb, const char *what, const char *done, int argc,
		      char **argv)
{
	struct xc_req r;
	bool yes = false;
	int n = 0;

	/* --yes anywhere; --filter takes the rest. */
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--yes"))
			yes = true;
		else if (!strcmp(argv[i], "--filter"))
			break;
		else
			argv[n++] = argv[i];
	}
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--filter"))
			continue;
		if (n)
			return xc_usage("%s: names or --filter, not both", what);
		for (int k = i + 1; k < argc; k++) {
			if (!strcmp(argv[k], "--yes"))
				yes = true;
			else
				argv[n++] = argv[k];
		}
		return bulk_filter(x, verb, what, done, n, argv, yes);
	}
	if (n < 1)
		return xc_usage("%s: NAME missing (%s NAME ... or %s --filter FILTER VALUE ...)",
				what, what, what);
	for (int i = 0; i < n; i++)
		if (argv[i][0] == '-')
			return xc_usage("%s: '%s': no such option (--filter, --yes)", what,
					argv[i]);
	xc_req_begin(&r, verb);
	for (int i = 0; i < n; i++)
		xc_req_str(&r, CTL_A_NAME, argv[i]);
	return xc_call(x, &r);
}

static int site_enable(struct xc *x, int argc, char **argv)
{
	return names_verb(x, CTL_SITE_ENABLE, "site enable", "enable", argc, argv);
}

static int site_disable(struct xc *x, int argc, char **argv)
{
	return names_verb(x, CTL_SITE_DISABLE, "site disable", "disable", argc, argv);
}

static int site_delete(struct xc *x, int argc, char **argv)
{
	return names_verb(x, CTL_SITE_DELETE, "site delete", "delete", argc, argv);
}

static int site_rename(struct xc *x, int argc, char **argv)
{
	struct xc_req r;

	if (argc != 2)
		return xc_usage("site rename: OLD and NEW names (site rename OLD NEW)");
	xc_req_begin(&r, CTL_SITE_RENAME);
	xc_req_str(&r, CTL_A_NAME, argv[0]);
	xc_req_str(&r, CTL_A_NAME, argv[1]);
	return xc_call(x, &r);
}

static int has_psk_column(void *arg, unsigned line, char **fields, size_t n)
{
	bool *found = arg;

	(void)line;
	for (size_t i = 0; i < n; i++) {
		const char *f = fields[i];

		while (*f == ' ')
			f++;
		*found |= !strncasecmp(f, "psk", 3) && (!f[3] || f[3] == ' ');
	}
	return -1;	/* the header is enough */
}

/* A file to import: opened, a regular file, its mode, and its first chunk read. */
struct in_file {
	const char *path, *name;	/* name: its last component, for ikd's messages */
	int fd;
	unsigned mode;
	char *chunk;			/* CTL_CHUNK bytes, wiped */
	size_t len;
	bool eof;
};

static int in_read(struct in_file *f)
{
	f->len = 0;
	while (f->len < CTL_CHUNK && !f->eof) {
		ssize_t n = read(f->fd, f->chunk + f->len, CTL_CHUNK - f->len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return xc_error("site import: %s: %s", f->path, strerror(errno));
		f->eof = n == 0;
		f->len += (size_t)n;
	}
	return XC_EXIT_OK;
}

static int in_open(struct in_file *f, const char *path)
{
	struct stat st;
	const char *slash = strrchr(path, '/');

	f->path = path;
	f->name = slash && slash[1] ? slash + 1 : path;
	f->chunk = malloc(CTL_CHUNK);
	if (!f->chunk)
		return xc_error("site import: out of memory");
	f->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (f->fd < 0)
		return xc_error("site import: %s: %s", path, strerror(errno));
	if (fstat(f->fd, &st) < 0 || !S_ISREG(st.st_mode))
		return xc_error("site import: %s: not a regular file", path);
	f->mode = (unsigned)(st.st_mode & 07777);
	return in_read(f);
}

static void in_close(struct in_file *f)
{
	if (f->chunk) {
		sodium_memzero(f->chunk, CTL_CHUNK);
		free(f->chunk);
	}
	if (f->fd >= 0)
		close(f->fd);
	f->chunk = NULL;
	f->fd = -1;
}

/*
 * A file with keys in it that others can read: refused, as a psk-file is; the keys are no
 * longer secret and the import would spread them further. Its header is in the first chunk.
 */
static int refuse_if_readable(const struct in_file *f, bool secrets)
{
	bool keys = secrets;
	unsigned mode = f->mode;
	const char *why;
	unsigned line;

	if (!(mode & 077))
		return XC_EXIT_OK;
	if (!keys)
		csv_read(f->chunk, f->len, has_psk_column, &keys, &line, &why);
	if (!keys)
		return XC_EXIT_OK;
	return xc_error("site import: %s holds pre-shared keys and %s can read it (mode %04o); "
			"chmod 600 %s", f->path, (mode & 070) && (mode & 07) ? "group and others" :
			(mode & 070) ? "its group" : "others", mode, f->path);
}

/* A file to ikd in frames of one chunk each (the first chunk is read already). */
static int send_part(struct xc *x, int fd, struct in_file *f, const char *part, bool *first,
		     bool dry)
{
	bool first_of_part = true;
	int rc = XC_EXIT_OK;

	while (rc == XC_EXIT_OK) {
		struct xc_req r;

		xc_req_begin(&r, CTL_SITE_IMPORT);
		xc_req_str(&r, CTL_A_FLAG, "chunked");
		xc_req_kv(&r, "part", part);
		if (first_of_part)
			xc_req_kv(&r, !strcmp(part, "sites") ? "file" : "secrets-file", f->name);
		if (*first && dry)
			xc_req_str(&r, CTL_A_FLAG, "dry-run");
		xc_req_put(&r, CTL_A_DATA, f->chunk, f->len);
		rc = xc_send(x, fd, &r, NULL);
		*first = first_of_part = false;
		if (rc || f->eof)
			break;
		rc = in_read(f);
		if (rc == XC_EXIT_OK && f->len == 0 && f->eof)
			break;
	}
	return rc;
}

static int site_import(struct xc *x, int argc, char **argv)
{
	const char *csv = NULL, *secrets = NULL;
	struct in_file fc = { .fd = -1 }, fs = { .fd = -1 };
	bool dry = false, first = true;
	struct xc_req r;
	int rc = 0, fd = -1;

	for (int i = 0; rc == 0 && i < argc; i++) {
		int o = xc_option(argc, argv, &i, "--secrets", &secrets);

		if (o < 0)
			rc = xc_usage("site import: --secrets needs a FILE");
		else if (o > 0)
			continue;
		else if (!strcmp(argv[i], "--dry-run"))
			dry = true;
		else if (argv[i][0] == '-' && argv[i][1])
			rc = xc_usage("site import: no option '%s' (--secrets FILE, --dry-run)",
				      argv[i]);
		else if (csv)
			rc = xc_usage("site import: one CSV file");
		else
			csv = argv[i];
	}
	if (rc == 0 && !csv)
		rc = xc_usage("site import: FILE.csv missing (site import FILE.csv "
			      "[--secrets FILE] [--dry-run])");
	if (rc)
		return rc;
	/* Both files checked before a byte goes: then streamed, a chunk a frame. */
	rc = in_open(&fc, csv);
	rc = rc ?: refuse_if_readable(&fc, false);
	if (rc == 0 && secrets) {
		rc = in_open(&fs, secrets);
		rc = rc ?: refuse_if_readable(&fs, true);
	}
	rc = rc ?: xc_connect(x, &fd);
	if (rc == 0 && secrets)
		rc = send_part(x, fd, &fs, "secrets", &first, dry);
	rc = rc ?: send_part(x, fd, &fc, "sites", &first, dry);
	if (rc == XC_EXIT_OK) {
		xc_req_begin(&r, CTL_SITE_IMPORT);
		xc_req_str(&r, CTL_A_FLAG, "chunked");
		xc_req_str(&r, CTL_A_FLAG, "end");
		rc = xc_send(x, fd, &r, NULL);
	}
	in_close(&fc);
	in_close(&fs);
	/* ikd closed the connection while we sent: its reply, if any, says why. */
	if (rc == XC_EXIT_OK || rc == XC_EXIT_GONE)
		rc = xc_recv(x, fd, (uint32_t)getpid());
	if (fd >= 0)
		close(fd);
	if (rc)
		return rc;
	if (x->json)
		return xo_json_object(stdout, x->reply.attrs, x->reply.n_attrs, NULL, NULL) < 0 ?
		       xc_error("a malformed reply") : XC_EXIT_OK;
	{
		const struct ctl_attr *a = x->reply.attrs;
		size_t n = x->reply.n_attrs;
		char rows[24], added[24], changed[24], same[24];

		printf("%s rows: %s added, %s changed, %s unchanged%s\n",
		       xo_get_str(a, n, "rows", rows, sizeof(rows)),
		       xo_get_str(a, n, "added", added, sizeof(added)),
		       xo_get_str(a, n, "changed", changed, sizeof(changed)),
		       xo_get_str(a, n, "unchanged", same, sizeof(same)),
		       dry ? " (dry run: nothing changed)" : "");
	}
	return XC_EXIT_OK;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Where an export goes: stdout; a device or FIFO as it is; a file through a temporary one
 * beside it, renamed over it once ikd has sent everything (a failed export leaves the old
 * file). Keys only into a file no one else can read.
 */
struct out_file {
	const char *path;
	char tmp[4096];
	int fd;
};

static int out_open(struct out_file *o, const char *path, bool with_psk)
{
	struct stat st;
	mode_t mask;

	o->path = path;
	o->tmp[0] = '\0';
	o->fd = STDOUT_FILENO;
	if (!path)
		return XC_EXIT_OK;
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		o->fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
		if (o->fd < 0)
			return xc_error("site export: %s: %s", path, strerror(errno));
		return XC_EXIT_OK;
	}
	if (snprintf(o->tmp, sizeof(o->tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(o->tmp))
		return xc_error("site export: %s: path too long", path);
	o->fd = mkostemp(o->tmp, O_CLOEXEC);
	if (o->fd < 0) {
		int e = errno;

		o->tmp[0] = '\0';
		return xc_error("site export: %s: %s", path, strerror(e));
	}
	mask = umask(0);
	umask(mask);
	if (fchmod(o->fd, with_psk ? 0600 : 0644 & ~mask) < 0)
		return xc_error("site export: %s: chmod: %s", path, strerror(errno));
	return XC_EXIT_OK;
}

static int out_close(struct out_file *o, int rc)
{
	if (o->fd >= 0 && o->fd != STDOUT_FILENO) {
		if (rc == 0 && o->tmp[0] && fsync(o->fd) < 0)
			rc = xc_error("site export: %s: %s", o->path, strerror(errno));
		if (close(o->fd) < 0 && rc == 0)
			rc = xc_error("site export: %s: %s", o->path, strerror(errno));
	}
	o->fd = -1;
	if (o->tmp[0] && rc == 0 && rename(o->tmp, o->path) < 0)
		rc = xc_error("site export: %s: %s", o->path, strerror(errno));
	else if (o->tmp[0] && rc == 0)
		o->tmp[0] = '\0';
	if (o->tmp[0])
		unlink(o->tmp);
	return rc;
}

static int site_export(struct xc *x, int argc, char **argv)
{
	const char *path = NULL;
	bool with_psk = false;
	struct out_file o = { .fd = -1 };
	struct xc_req r;
	uint32_t id = 0;
	int rc = 0, fd = -1;

	for (int i = 0; rc == 0 && i < argc; i++) {
		if (!strcmp(argv[i], "--with-psk"))
			with_psk = true;
		else if (argv[i][0] == '-' && argv[i][1])
			rc = xc_usage("site export: no option '%s' (--with-psk)", argv[i]);
		else if (path)
			rc = xc_usage("site export: one FILE");
		else
			path = argv[i];
	}
	if (rc)
		return rc;
	if (path && !strcmp(path, "-"))
		path = NULL;
	rc = out_open(&o, path, with_psk);
	rc = rc ?: xc_connect(x, &fd);
	if (rc == 0) {
		xc_req_begin(&r, CTL_SITE_EXPORT);
		xc_req_str(&r, CTL_A_FLAG, "chunked");
		if (with_psk)
			xc_req_str(&r, CTL_A_FLAG, "with-psk");
		rc = xc_send(x, fd, &r, &id);
	}
	/* A frame at a time, written as it comes: ikd sends the next as we read. */
	while (rc == XC_EXIT_OK || rc == XC_EXIT_GONE) {
		const struct ctl_attr *data = NULL;
		char more[8];

		rc = xc_recv(x, fd, id);
		if (rc)
			break;
		for (size_t i = 0; i < x->reply.n_attrs; i++)
			if (x->reply.attrs[i].type == CTL_A_DATA)
				data = &x->reply.attrs[i];
		if (!data) {
			rc = xc_error("site export: a reply without the CSV");
			break;
		}
		rc = write_all(o.fd, data->p, data->len);
		if (rc < 0) {
			rc = xc_error("site export: %s: %s", path ? path : "stdout", strerror(-rc));
			break;
		}
		if (strcmp(xo_get_str(x->reply.attrs, x->reply.n_attrs, "more", more, sizeof(more)),
			   "yes"))
			break;
	}
	if (fd >= 0)
		close(fd);
	return out_close(&o, rc);
}

/* The fields of site add and edit (ikd judges their values), and the key's two sources. */
static const struct xc_arg site_fields[] = {
	{ "id", "[TYPE:]IDENTITY", "the source identity: an IPv4 or IPv6 address, an FQDN\n"
				   "or an email address (ipv4:, ipv6:, fqdn:, email:)" },
	{ "source-ip", "ADDRESS", "the address the site connects from; \"\" for dynamic" },
	{ "primary", "POP", "the primary POP" },
	{ "backups", "POP,...", "the backup POPs, in order" },
	{ "traffic", "TYPE", "User, IoT, Mixed, Machine or \"Guest Wifi\"" },
	{ "enabled", "yes|no", "whether ikd keeps its tunnels (default yes)" },
	{ "local-ts", "CIDR,...", "local traffic selectors (default 0.0.0.0/0)" },
	{ "remote-ts", "CIDR,...", "remote traffic selectors (default 0.0.0.0/0)" },
	{ "mark", "VALUE[/MASK]", "the XFRM mark that steers traffic into the site" },
	{ "if-id", "N", "the xfrm interface id that steers traffic into the site" },
	{ "ike-proposals", "LIST", "IKE proposals, e.g. aes256-sha256-modp2048,..." },
	{ "esp-proposals", "LIST", "ESP proposals, e.g. aes256gcm16,..." },
	{ "ike-lifetime", "SECONDS", "IKE SA lifetime" },
	{ "child-lifetime", "SECONDS", "Child SA lifetime" },
	{ "ike-rekey", "SECONDS", "when the IKE SA is rekeyed" },
	{ "child-rekey", "SECONDS", "when a Child SA is rekeyed" },
	{ "dpd-interval", "SECONDS", "seconds between liveness checks" },
	{ "max-child-sas", "N", "Child SAs per tunnel" },
	{ "vendor-rules", "yes|no", "no: the POP vendor's limits do not apply" },
	{ "psk-file", "PATH", "the key from a file only its owner can read" },
	{ "psk", "-", "the key from stdin; without psk-file or psk, it is\n"
		      "asked for on a terminal (never on the command line)" },
};
#define N_SITE_FIELDS (sizeof(site_fields) / sizeof(site_fields[0]))

static const struct xc_arg import_args[] = {
	{ "--secrets", "FILE", "the keys from a CSV file with the columns name, psk" },
	{ "--dry-run", NULL, "check and report, change nothing" },
};

static const struct xc_arg export_args[] = {
	{ "--with-psk", NULL, "add the keys (FILE is then made mode 0600)" },
};

static const struct xc_verb site_verbs[] = {
	{ "add", site_add, "NAME KEY VALUE ... [psk-file PATH | psk -]",
	  "Add a site. id, primary, backups and a key are required.", site_fields, N_SITE_FIELDS,
	  "fields" },
	{ "edit", site_edit, "NAME KEY VALUE ... [psk-file PATH | psk -]",
	  "Change fields of a site, its key included.", site_fields, N_SITE_FIELDS, "fields" },
	{ "show", site_show, "NAME",
	  "Show a site: every field, its status and a row per POP tunnel.\n"
	  "Also its active POP and throughput; a tunnel's row has its state, Child SAs,\n"
	  "bytes, packets, probe and last error.", NULL, 0, NULL },
	{ "list", site_list, "[FILTER VALUE ...] [--sort COLUMN] [--reverse] [--page N] "
			     "[--page-size N | --all] [--columns LIST]",
	  "List sites, 100 a page, by name.\n"
	  "The columns are the POP vendor's console's. Filters combine (all must match).",
	  list_args, N_LIST_ARGS, "filters and options" },
	{ "enable", site_enable, "NAME ... | --filter FILTER VALUE ... [--yes]",
	  "Enable sites by name, or by a filter once confirmed.\n"
	  "Every site named, or none if a name is wrong.", bulk_args, 2, "options" },
	{ "disable", site_disable, "NAME ... | --filter FILTER VALUE ... [--yes]",
	  "Disable sites by name, or by a filter once confirmed.\n"
	  "Their tunnels go down. Every site named, or none if a name is wrong.", bulk_args, 2,
	  "options" },
	{ "delete", site_delete, "NAME ... | --filter FILTER VALUE ... [--yes]",
	  "Delete sites by name, or by a filter once confirmed.\n"
	  "Every site named, or none if a name is wrong.", bulk_args, 2, "options" },
	{ "import", site_import, "FILE.csv [--secrets FILE] [--dry-run]",
	  "Add or replace sites from a CSV file: every row, or none if one is bad.\n"
	  "A header row names the columns: the fields of site add, name required, psk\n"
	  "optional.", import_args, 2,
	  "options" },
	{ "export", site_export, "[--with-psk] [FILE]",
	  "Every site as CSV in the import format, to FILE or stdout.", export_args, 1,
	  "options" },
	{ "rename", site_rename, "OLD NEW",
	  "Rename a site: its tunnels, SAs, counters and state stay as they are.", NULL, 0,
	  NULL },
};

int xc_site(struct xc *x, int argc, char **argv)
{
	return xc_dispatch(x, "site", site_verbs, sizeof(site_verbs) / sizeof(site_verbs[0]),
			   "list", argc, argv);
}
