/* xfrmctl status, sa list, refresh, monitor: what the running daemon knows. */
#include "xfrmctl.h"

/* A verb without arguments: the request alone. */
static int simple(struct xc *x, uint16_t verb, const char *what, int argc)
{
	struct xc_req r;

	if (argc)
		return xc_usage("%s: takes no arguments", what);
	xc_req_begin(&r, verb);
	return xc_call(x, &r);
}

static int status_show(struct xc *x, int argc, char **argv)
{
	int rc = simple(x, CTL_STATUS, "status", argc);

	(void)argv;
	if (rc)
		return rc;
	if (x->json)
		return xo_json_object(stdout, x->reply.attrs, x->reply.n_attrs, NULL, NULL) < 0 ?
		       xc_error("a malformed reply") : XC_EXIT_OK;
	xo_fields(stdout, x->reply.attrs, x->reply.n_attrs, "");
	return XC_EXIT_OK;
}

static int sa_list(struct xc *x, int argc, char **argv)
{
	(void)argv;
	return simple(x, CTL_SA_LIST, "sa list", argc) ?: xc_print_rows(x, "sas", "children");
}

static const struct xc_verb status_verbs[] = { { "show", status_show, "" } };
static const struct xc_verb sa_verbs[] = { { "list", sa_list, "" } };

int xc_status(struct xc *x, int argc, char **argv)
{
	return xc_dispatch(x, "status", status_verbs, 1, "show", argc, argv);
}

int xc_sa(struct xc *x, int argc, char **argv)
{
	return xc_dispatch(x, "sa", sa_verbs, 1, "list", argc, argv);
}

int xc_refresh(struct xc *x, int argc, char **argv)
{
	(void)argv;
	return simple(x, CTL_REFRESH, "refresh", argc);
}

/* The daemon answers; until it streams events, it says it does not. */
int xc_monitor(struct xc *x, int argc, char **argv)
{
	(void)argv;
	return simple(x, CTL_MONITOR, "monitor", argc);
}
