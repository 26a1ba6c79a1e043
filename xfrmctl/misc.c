/* xfrmctl status, sa list, refresh, monitor: what the running daemon knows. */
#include <string.h>

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

static const struct xc_verb status_verbs[] = {
	{ "show", status_show, "",
	  "The running daemon.\n"
	  "Its role, uptime, sites up, down and disabled, IKE and Child SAs, the addresses\n"
	  "and ports it listens on, whether the kernel can run ESP (and if not, the option\n"
	  "it lacks and what that means), IKE message counters; on a gateway, its health\n"
	  "check.",
	  NULL, 0, NULL },
};
static const struct xc_verb sa_verbs[] = {
	{ "list", sa_list, "", "The IKE SAs, each with its Child SAs.", NULL, 0, NULL },
};

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

/* One line per event: "TIME EVENT site SITE pop POP: DETAIL", or one JSON object a line. */
static int monitor_event(struct xc *x, void *arg)
{
	const struct ctl_attr *a = x->reply.attrs;
	size_t n = x->reply.n_attrs;
	char when[64], ev[32], site[SITE_NAME_MAX], pop[80], detail[300];
	const uint8_t *v;
	size_t vlen;

	(void)arg;
	if (xo_get(a, n, "monitor", &v, &vlen) == 1)
		return 0;	/* the subscription's acknowledgement */
	if (x->json) {
		/* JSON Lines: one object per event, on one line. */
		bool first = true;

		putchar('{');
		for (size_t i = 0; i < n; i++) {
			const char *key;
			const uint8_t *val;
			size_t val_len;

			if (a[i].type != CTL_A_KV || ctl_attr_kv(&a[i], &key, &val, &val_len) < 0)
				continue;
			printf("%s", first ? "" : ", ");
			first = false;
			xo_json_key(stdout, key);
			printf(": ");
			xo_json_value(stdout, key, val, val_len);
		}
		printf("}\n");
	} else {
		xo_get_str(a, n, "time", when, sizeof(when));
		xo_get_str(a, n, "event", ev, sizeof(ev));
		xo_get_str(a, n, "site", site, sizeof(site));
		xo_get_str(a, n, "pop", pop, sizeof(pop));
		xo_get_str(a, n, "detail", detail, sizeof(detail));
		xo_text(stdout, when, strlen(when));
		printf(" %-13s", ev);
		if (site[0]) {
			printf(" site ");
			xo_text(stdout, site, strlen(site));
		}
		if (pop[0]) {
			printf(" pop ");
			xo_text(stdout, pop, strlen(pop));
		}
		printf(": ");
		xo_text(stdout, detail, strlen(detail));
		putchar('\n');
	}
	fflush(stdout);
	return 0;
}

/* Follow the daemon's events until interrupted. */
int xc_monitor(struct xc *x, int argc, char **argv)
{
	struct xc_req r;

	(void)argv;
	if (argc)
		return xc_usage("monitor: takes no arguments");
	xc_req_begin(&r, CTL_MONITOR);
	return xc_stream(x, &r, monitor_event, NULL);
}
