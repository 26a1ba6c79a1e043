/* xfrmctl: manage ikd's sites, POPs and tunnels through its control socket. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "xfrmctl.h"

/*
 * The objects. Those with verbs answer --help themselves (xc_dispatch); for the others
 * (verbs: false) the help here is theirs.
 */
static const struct xc_object {
	const char *name;
	int (*fn)(struct xc *x, int argc, char **argv);
	const char *synopsis;
	bool verbs;
	const char *help;
} objects[] = {
	{ "site", xc_site, "site add|edit|show|list|enable|disable|delete|import|export|rename ...", true,
	  NULL },
	{ "pop", xc_pop, "pop add|edit|show|list|delete ...", true, NULL },
	{ "sa", xc_sa, "sa list", true, NULL },
	{ "tunnel", xc_tunnel, "tunnel initiate|terminate|rekey SITE [POP] ...", true, NULL },
	{ "status", xc_status, "status", true, NULL },
	{ "refresh", xc_refresh, "refresh", false,
	  "Tunnels waiting out a back-off try to connect again now." },
	{ "monitor", xc_monitor, "monitor", false,
	  "Follow ikd's events (tunnels up and down, failover, fallback, rekeys, changes) as\n"
	  "they happen, a line each (-j: a JSON object a line), until interrupted." },
	{ "metrics", xc_metrics, "metrics [-o FILE]", false,
	  "ikd's counters in the Prometheus text format, on stdout or, with -o FILE, replacing\n"
	  "FILE atomically (mode 0644) for the node exporter's textfile collector." },
};
#define N_OBJECTS (sizeof(objects) / sizeof(objects[0]))

static void usage(FILE *out)
{
	fprintf(out, "usage: xfrmctl [-j] [-s SOCKET] OBJECT VERB [ARGS]\n"
		"       xfrmctl help [OBJECT [VERB]]\n\n");
	for (size_t i = 0; i < N_OBJECTS; i++)
		fprintf(out, "  xfrmctl %s\n", objects[i].synopsis);
	fprintf(out,
		"\n"
		"  -j, --json           one JSON document on stdout\n"
		"  -s, --socket SOCKET  ikd's control socket (default $IKD_SOCKET or %s)\n"
		"  -h, --help           show this help and exit\n"
		"  -V, --version        show the version and exit\n"
		"\n"
		"'xfrmctl OBJECT --help' and 'xfrmctl OBJECT VERB --help' show what each takes.\n"
		"Objects and verbs may be shortened while unambiguous. Exit status: 0 done,\n"
		"1 refused or failed (the message says why), 2 a usage error. See xfrmctl(8).\n",
		IKD_RUNDIR "/ikd.sock");
}

/* Look a word up in a table, saying what it could have been when it names nothing. */
static int lookup(const char *what, const char *word, const void *table, size_t n,
		  size_t stride, int *ret)
{
	char names[512];

	*ret = xc_match(word, table, n, stride);
	if (*ret >= 0)
		return XC_EXIT_OK;
	xc_candidates(names, sizeof(names), *ret == -2 ? word : NULL, table, n, stride);
	return xc_usage("%s'%s' is %s: %s", what, word, *ret == -2 ? "ambiguous" : "unknown",
			names);
}

int xc_dispatch(struct xc *x, const char *object, const struct xc_verb *verbs, size_t n,
		const char *dflt, int argc, char **argv)
{
	char what[64];
	int i, rc;

	if (argc < 1) {
		if (!dflt)
			return xc_usage("%s: a verb is missing", object);
		i = xc_match(dflt, verbs, n, sizeof(verbs[0]));
		xc_set_command(object, verbs[i].name);
		return verbs[i].fn(x, 0, argv);
	}
	/* "help", "--help": the verbs; "help VERB": that verb's, as "VERB --help". */
	if (!strcmp(argv[0], "help") || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
		if (argc == 1) {
			/* An object of one verb (status, sa): that verb's help. */
			if (n == 1)
				xc_help_verb(stdout, object, &verbs[0]);
			else
				xc_help_object(stdout, object, verbs, n);
			return XC_EXIT_OK;
		}
		snprintf(what, sizeof(what), "%s help: ", object);
		rc = lookup(what, argv[1], verbs, n, sizeof(verbs[0]), &i);
		if (rc == 0)
			xc_help_verb(stdout, object, &verbs[i]);
		return rc;
	}
	snprintf(what, sizeof(what), "%s: ", object);
	rc = lookup(what, argv[0], verbs, n, sizeof(verbs[0]), &i);
	if (rc)
		return rc;
	xc_set_command(object, verbs[i].name);
	/* Before anything is parsed: "site add --help" names no site, asks for no key. */
	if (xc_wants_help(argc - 1, argv + 1)) {
		xc_help_verb(stdout, object, &verbs[i]);
		return XC_EXIT_OK;
	}
	return verbs[i].fn(x, argc - 1, argv + 1);
}

int xc_print_table(struct xc *x, const struct xo_col *cols, size_t n_cols)
{
	struct xo_row *rows;
	size_t n;
	int rc;

	if (xo_rows_of(x->reply.attrs, x->reply.n_attrs, &rows, &n) < 0)
		return xc_error("a malformed reply");
	rc = xo_table(stdout, rows, n, cols, n_cols);
	xo_rows_free(rows, n);
	return rc < 0 ? xc_error("out of memory") : XC_EXIT_OK;
}

int xc_print_rows(struct xc *x, const char *rows_key, const char *sub_key)
{
	struct xo_row *rows;
	struct xo_col *cols;
	size_t n, n_cols;
	int rc;

	if (x->json) {
		rc = xo_json_object(stdout, x->reply.attrs, x->reply.n_attrs, rows_key, sub_key);
		return rc < 0 ? xc_error("a malformed reply") : XC_EXIT_OK;
	}
	if (xo_rows_of(x->reply.attrs, x->reply.n_attrs, &rows, &n) < 0)
		return xc_error("a malformed reply");
	rc = xo_cols_of(rows, n, &cols, &n_cols);
	if (rc == 0 && n)
		rc = xo_table(stdout, rows, n, cols, n_cols);
	if (rc == 0)
		xo_cols_free(cols, n_cols);
	xo_rows_free(rows, n);
	return rc < 0 ? xc_error("out of memory") : XC_EXIT_OK;
}

int xc_print_record(struct xc *x, const char *title)
{
	const struct ctl_msg *m = &x->reply;
	struct xo_row row, *nested;
	struct xo_col *cols;
	size_t n, n_cols;
	int rc = XC_EXIT_OK;

	for (size_t i = 0; i < m->n_attrs; i++) {
		if (m->attrs[i].type != CTL_A_ROW)
			continue;
		if (xo_row_decode(&m->attrs[i], &row) < 0)
			return xc_error("a malformed reply");
		if (x->json) {
			rc = xo_json_object(stdout, row.attrs, row.n, title, NULL) < 0 ?
			     xc_error("a malformed reply") : XC_EXIT_OK;
			xo_row_free(&row);
			return rc;
		}
		xo_fields(stdout, row.attrs, row.n, "");
		if (xo_rows_of(row.attrs, row.n, &nested, &n) < 0) {
			xo_row_free(&row);
			return xc_error("a malformed reply");
		}
		if (title && n && xo_cols_of(nested, n, &cols, &n_cols) == 0) {
			printf("\n%s:\n", title);
			if (xo_table(stdout, nested, n, cols, n_cols) < 0)
				rc = xc_error("out of memory");
			xo_cols_free(cols, n_cols);
		}
		xo_rows_free(nested, n);
		xo_row_free(&row);
		return rc;
	}
	return xc_error("a reply without its record");
}

/* argv[0] names the object; --help of an object without verbs is answered here. */
static int run(struct xc *x, int argc, char **argv)
{
	int i, rc = lookup("", argv[0], objects, N_OBJECTS, sizeof(objects[0]), &i);

	if (rc)
		return rc;
	xc_set_command(objects[i].name, NULL);
	if (!objects[i].verbs && xc_wants_help(argc - 1, argv + 1)) {
		printf("usage: xfrmctl %s\n\n%s\n", objects[i].synopsis, objects[i].help);
		return XC_EXIT_OK;
	}
	return objects[i].fn(x, argc - 1, argv + 1);
}

/* "help", "help OBJECT", "help OBJECT VERB": as --help at that level. */
static int help(struct xc *x, int argc, char **argv)
{
	char *args[3];

	if (argc == 0) {
		usage(stdout);
		return XC_EXIT_OK;
	}
	if (argc > 2)
		return xc_usage("help: help [OBJECT [VERB]]");
	args[0] = argv[0];
	args[1] = argc == 2 ? argv[1] : (char *)"--help";
	args[2] = (char *)"--help";
	return run(x, argc + 1, args);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct xc x = { .socket = getenv("IKD_SOCKET") };
	int c, rc;

	if (!x.socket || !*x.socket)
		x.socket = IKD_RUNDIR "/ikd.sock";
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+jhs:V", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			x.json = true;
			break;
		case 's':
			x.socket = optarg;
			break;
		case 'h':
			usage(stdout);
			return XC_EXIT_OK;
		case 'V':
			printf("xfrmctl %s\n", IKD_VERSION);
			return XC_EXIT_OK;
		default:
			if (optopt == 's')
				return xc_usage("-s needs a SOCKET path");
			return xc_usage("'%s': no such option (xfrmctl --help)", argv[optind - 1]);
		}
	}
	if (optind >= argc) {
		usage(stderr);
		rc = xc_usage("an OBJECT is missing (xfrmctl --help)");
	} else if (!strcmp(argv[optind], "help")) {
		rc = help(&x, argc - optind - 1, argv + optind + 1);
	} else {
		rc = run(&x, argc - optind, argv + optind);
	}
	xc_free(&x);
	if (rc && x.json)
		xc_json_error(stdout, rc);
	xc_failure_free();
	if (fflush(stdout) != 0 && rc == 0)
		rc = xc_error("stdout: write error");
	return rc;
}
