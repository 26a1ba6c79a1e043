/* xfrmctl site: add, edit, show, list, enable, disable, delete, import, export. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "site/csv.h"
#include "xfrmctl.h"

#define MAX_COLUMNS 32

/* The console's table first (the default columns), then every other field. */
static const struct xo_col site_cols[] = {
	{ "name", "NAME", "name", NULL, NULL, "-" },
	{ "id", "SOURCE IDENTITY", "id", NULL, NULL, "-" },
	{ "source-ip", "SOURCE IP", "source-ip", NULL, NULL, "dynamic" },
	{ "status", "STATUS", "status", NULL, NULL, "-" },
	{ "pop", "POP", "active-pop", "primary", NULL, "-" },
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

static int site_list(struct xc *x, int argc, char **argv)
{
	static const char *const filters[] = { "name", "id", "status", "pop", "traffic", "enabled",
					       "sort", "page" };
	struct xo_col cols[MAX_COLUMNS];
	size_t n_cols = N_DEFAULT_COLS;
	struct xc_req r;
	char total[24], page[24], size[24];
	int rc = 0;

	memcpy(cols, site_cols, sizeof(site_cols[0]) * N_DEFAULT_COLS);
	xc_req_begin(&r, CTL_SITE_LIST);
	for (int i = 0; rc == 0 && i < argc; i++) {
		const char *v = NULL;
		size_t f;
		int o;

		const char *key = NULL;

		if ((o = xc_option(argc, argv, &i, "--sort", &v)) != 0)
			key = "sort";
		else if ((o = xc_option(argc, argv, &i, "--page", &v)) != 0)
			key = "page";
		if (key) {
			if (o < 0)
				rc = xc_usage("site list: --%s needs a value", key);
			else
				xc_req_kv(&r, key, v);
			continue;
		}
		if ((o = xc_option(argc, argv, &i, "--columns", &v)) != 0) {
			rc = o < 0 ? xc_usage("site list: --columns needs a value") :
			     parse_columns(v, cols, &n_cols);
			continue;
		}
		for (f = 0; f < sizeof(filters) / sizeof(filters[0]); f++)
			if (!strcmp(argv[i], filters[f]))
				break;
		if (f == sizeof(filters) / sizeof(filters[0]))
			rc = xc_usage("site list: '%s': not a filter (name, id, status, pop, "
				      "traffic, enabled, --sort, --page, --columns)", argv[i]);
		else if (i + 1 >= argc)
			rc = xc_usage("site list: '%s' needs a value", argv[i]);
		else
			xc_req_kv(&r, argv[i], argv[i + 1]);
		i++;
	}
	if (rc) {
		ike_writer_clear(&r.w);
		return rc;
	}
	rc = xc_call(x, &r);
	if (rc)
		return rc;
	if (x->json)
		return xo_json_object(stdout, x->reply.attrs, x->reply.n_attrs, "sites", NULL) < 0 ?
		       xc_error("a malformed reply") : XC_EXIT_OK;
	rc = xc_print_table(x, cols, n_cols);
	xo_get_str(x->reply.attrs, x->reply.n_attrs, "total", total, sizeof(total));
	xo_get_str(x->reply.attrs, x->reply.n_attrs, "page", page, sizeof(page));
	xo_get_str(x->reply.attrs, x->reply.n_attrs, "page-size", size, sizeof(size));
	if (rc == 0 && atol(size) > 0 && atol(total) > atol(size))
		printf("page %s of %ld (%s sites): --page N for another\n", page,
		       (atol(total) + atol(size) - 1) / atol(size), total);
	return rc;
}

static int names_verb(struct xc *x, uint16_t verb, const char *what, int argc, char **argv)
{
	struct xc_req r;

	if (argc < 1)
		return xc_usage("%s: NAME missing (%s NAME...)", what, what);
	xc_req_begin(&r, verb);
	for (int i = 0; i < argc; i++)
		xc_req_str(&r, CTL_A_NAME, argv[i]);
	return xc_call(x, &r);
}

static int site_enable(struct xc *x, int argc, char **argv)
{
	return names_verb(x, CTL_SITE_ENABLE, "site enable", argc, argv);
}

static int site_disable(struct xc *x, int argc, char **argv)
{
	return names_verb(x, CTL_SITE_DISABLE, "site disable", argc, argv);
}

static int site_delete(struct xc *x, int argc, char **argv)
{
	return names_verb(x, CTL_SITE_DELETE, "site delete", argc, argv);
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

static const struct xc_verb site_verbs[] = {
	{ "add", site_add, "NAME KEY VALUE ... [psk-file PATH | psk -]" },
	{ "edit", site_edit, "NAME KEY VALUE ... [psk-file PATH | psk -]" },
	{ "show", site_show, "NAME" },
	{ "list", site_list, "[FILTER VALUE ...] [--sort asc|desc] [--page N] [--columns LIST]" },
	{ "enable", site_enable, "NAME ..." },
	{ "disable", site_disable, "NAME ..." },
	{ "delete", site_delete, "NAME ..." },
	{ "import", site_import, "FILE.csv [--secrets FILE] [--dry-run]" },
	{ "export", site_export, "[--with-psk] [FILE]" },
};

int xc_site(struct xc *x, int argc, char **argv)
{
	return xc_dispatch(x, "site", site_verbs, sizeof(site_verbs) / sizeof(site_verbs[0]),
			   "list", argc, argv);
}
