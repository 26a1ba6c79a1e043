/* xfrmctl pop: add, edit, show, list, delete. */
#include <string.h>

#include "xfrmctl.h"

static const struct xo_col pop_cols[] = {
	{ "name", "NAME", "name", NULL, NULL, "-" },
	{ "gateway", "GATEWAY", "gateway", NULL, NULL, "-" },
	{ "probe-ip", "PROBE IP", "probe-ip", NULL, NULL, "-" },
	{ "location", "LOCATION", "location", NULL, NULL, "-" },
	{ "accepting", "ACCEPTING", "accepting", NULL, NULL, "-" },
	{ "sites-primary", "PRIMARY FOR", "sites-primary", NULL, NULL, "0" },
	{ "sites-backup", "BACKUP FOR", "sites-backup", NULL, NULL, "0" },
	/* Live health, from an edge router's ikd ("-" from a gateway's). */
	{ "tunnels-up", "TUNNELS UP", "tunnels-up", NULL, NULL, "-" },
	{ "tunnels-down", "DOWN", "tunnels-down", NULL, NULL, "-" },
	{ "sites-active", "ACTIVE FOR", "sites-active", NULL, NULL, "-" },
};

static int add_or_edit(struct xc *x, int argc, char **argv, bool add)
{
	const char *verb = add ? "add" : "edit";
	struct xc_req r;

	if (argc < 1)
		return xc_usage("pop %s: NAME missing (pop %s NAME KEY VALUE ...)", verb, verb);
	if (argc % 2 == 0)
		return xc_usage("pop '%.64s': '%s' needs a value", argv[0], argv[argc - 1]);
	if (!add && argc == 1)
		return xc_usage("pop '%.64s': nothing to change (pop edit NAME KEY VALUE ...)",
				argv[0]);
	xc_req_begin(&r, add ? CTL_POP_ADD : CTL_POP_EDIT);
	xc_req_str(&r, CTL_A_NAME, argv[0]);
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!*argv[i]) {
			ike_writer_clear(&r.w);
			return xc_usage("pop '%.64s': an empty field name", argv[0]);
		}
		xc_req_kv(&r, argv[i], argv[i + 1]);
	}
	return xc_call(x, &r);
}

static int pop_add(struct xc *x, int argc, char **argv)
{
	return add_or_edit(x, argc, argv, true);
}

static int pop_edit(struct xc *x, int argc, char **argv)
{
	return add_or_edit(x, argc, argv, false);
}

static int pop_delete(struct xc *x, int argc, char **argv)
{
	struct xc_req r;

	if (argc < 1)
		return xc_usage("pop delete: NAME missing (pop delete NAME...)");
	xc_req_begin(&r, CTL_POP_DELETE);
	for (int i = 0; i < argc; i++)
		xc_req_str(&r, CTL_A_NAME, argv[i]);
	return xc_call(x, &r);
}

static int pop_show(struct xc *x, int argc, char **argv)
{
	struct xc_req r;

	if (argc != 1)
		return xc_usage("pop show: one NAME (pop show NAME)");
	xc_req_begin(&r, CTL_POP_SHOW);
	xc_req_str(&r, CTL_A_NAME, argv[0]);
	return xc_call(x, &r) ?: xc_print_record(x, NULL);
}

static int pop_list(struct xc *x, int argc, char **argv)
{
	struct xc_req r;
	int rc;

	if (argc)
		return xc_usage("pop list: takes no arguments");
	xc_req_begin(&r, CTL_POP_LIST);
	rc = xc_call(x, &r);
	if (rc)
		return rc;
	if (x->json)
		return xc_print_rows(x, "pops", NULL);
	return xc_print_table(x, pop_cols, sizeof(pop_cols) / sizeof(pop_cols[0]));
}

/* The fields of pop add and edit (ikd judges their values). */
static const struct xc_arg pop_fields[] = {
	{ "gateway", "ADDRESS", "the POP's IKE address (required)" },
	{ "probe-ip", "ADDRESS", "an address inside the tunnel that answers ICMP: ikd\n"
				 "probes it, and a POP whose probe fails carries no traffic" },
	{ "location", "TEXT", "where it is, for people" },
	{ "accepting", "yes|no", "no: not chosen for new tunnels" },
	{ "ike-id", "ID", "its IKE identity (default: the gateway address)" },
};
#define N_POP_FIELDS (sizeof(pop_fields) / sizeof(pop_fields[0]))

static const struct xc_verb pop_verbs[] = {
	{ "add", pop_add, "NAME gateway IP [probe-ip IP] [location TEXT] [accepting yes|no] "
			  "[ike-id ID]",
	  "Add a POP.", pop_fields, N_POP_FIELDS, "fields" },
	{ "edit", pop_edit, "NAME KEY VALUE ...", "Change fields of a POP.", pop_fields,
	  N_POP_FIELDS, "fields" },
	{ "show", pop_show, "NAME", "Every field of a POP and how many sites use it.", NULL, 0,
	  NULL },
	{ "list", pop_list, "",
	  "List the POPs, with the sites that use them and their live health.\n"
	  "Health: the tunnels to each that are up and down, and the sites whose active POP\n"
	  "it is (from an edge router's ikd).", NULL, 0, NULL },
	{ "delete", pop_delete, "NAME ...", "Delete POPs that no site uses.", NULL, 0, NULL },
};

int xc_pop(struct xc *x, int argc, char **argv)
{
	return xc_dispatch(x, "pop", pop_verbs, sizeof(pop_verbs) / sizeof(pop_verbs[0]), "list",
			   argc, argv);
}
