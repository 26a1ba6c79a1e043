/* xfrmctl status, sa list, refresh, monitor: what the running daemon knows. */
#include <stdio.h>
#include <stdlib.h>
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

/* The value of key in a row's attributes, as a string ("" when missing). */
#define SA_GET(r, key, buf) xo_get_str((r)->attrs, (r)->n, key, buf, sizeof(buf))

/* "in 120 s", or "never" for a field that is empty (no rekey or expiry pending). */
static const char *when(const struct xo_row *r, const char *key, char *buf, size_t len)
{
	char v[24];

	xo_get_str(r->attrs, r->n, key, v, sizeof(v));
	if (!v[0])
		snprintf(buf, len, "never");
	else
		snprintf(buf, len, "in %s s", v);
	return buf;
}

/* One Child SA under its IKE SA, as swanctl --list-sas shows one. */
static void sa_child_text(const struct xo_row *c)
{
	char in[12], out[12], suite[64], inst[8], ts_l[400], ts_r[400], reqid[16], mark[32];
	char ifid[16], bi[24], bo[24], pi[24], po[24], rk[32], ex[32], age[24];

	printf("  child %s/%s: %s, %s, reqid %s, mark %s, if_id %s, up %s s\n",
	       SA_GET(c, "spi-in", in), SA_GET(c, "spi-out", out), SA_GET(c, "suite", suite),
	       !strcmp(SA_GET(c, "installed", inst), "yes") ? "installed" : "not in the kernel",
	       SA_GET(c, "reqid", reqid), SA_GET(c, "mark", mark), SA_GET(c, "if-id", ifid),
	       SA_GET(c, "age-s", age));
	printf("    %s === %s\n", SA_GET(c, "ts-local", ts_l), SA_GET(c, "ts-remote", ts_r));
	printf("    in %s bytes, %s packets; out %s bytes, %s packets; rekey %s, expires %s\n",
	       SA_GET(c, "bytes-in", bi), SA_GET(c, "packets-in", pi), SA_GET(c, "bytes-out", bo),
	       SA_GET(c, "packets-out", po), when(c, "rekey-in-s", rk, sizeof(rk)),
	       when(c, "expires-in-s", ex, sizeof(ex)));
}

static void sa_ike_text(const struct xo_row *r)
{
	char site[SITE_NAME_MAX], pop[SITE_NAME_MAX], peer[64], role[16], state[16], spi[40];
	char suite[96], lid[SITE_ID_MAX + 8], rid[SITE_ID_MAX + 8], nat[8], age[24], rk[32], ex[32];
	struct xo_row *kids;
	size_t n;

	SA_GET(r, "pop", pop);
	printf("%s%s%s: %s, %s, %s", SA_GET(r, "site", site), pop[0] ? " pop " : "", pop,
	       SA_GET(r, "peer", peer), SA_GET(r, "role", role), SA_GET(r, "state", state));
	if (!strcmp(state, "up"))
		printf(" %s s, rekey %s, expires %s", SA_GET(r, "age-s", age),
		       when(r, "rekey-in-s", rk, sizeof(rk)),
		       when(r, "expires-in-s", ex, sizeof(ex)));
	printf("\n  IKE %s, spi %s, nat %s\n", SA_GET(r, "suite", suite)[0] ? suite : "-",
	       SA_GET(r, "spi", spi), SA_GET(r, "nat", nat));
	printf("  local '%s', remote '%s'\n", SA_GET(r, "local-id", lid),
	       SA_GET(r, "remote-id", rid));
	if (xo_rows_of(r->attrs, r->n, &kids, &n) == 0) {
		for (size_t j = 0; j < n; j++)
			sa_child_text(&kids[j]);
		xo_rows_free(kids, n);
	}
}

/*
 * sa list [site NAME] [pop NAME]: the IKE SAs, each with its Child SAs under it; the JSON
 * has the same, the filters applied to both.
 */
static int sa_list(struct xc *x, int argc, char **argv)
{
	const char *site = NULL, *pop = NULL;
	struct ctl_attr *keep;
	struct xc_req r;
	size_t n = 0;
	int rc;

	for (int i = 0; i < argc; i += 2) {
		if (i + 1 >= argc || (strcmp(argv[i], "site") && strcmp(argv[i], "pop")))
			return xc_usage("sa list: '%s' is not a filter (site NAME, pop NAME)",
					argv[i]);
		*(argv[i][0] == 's' ? &site : &pop) = argv[i + 1];
	}
	xc_req_begin(&r, CTL_SA_LIST);
	rc = xc_call(x, &r);
	if (rc)
		return rc;
	keep = calloc(x->reply.n_attrs + 1, sizeof(*keep));
	if (!keep)
		return xc_error("out of memory");
	for (size_t i = 0; i < x->reply.n_attrs; i++) {
		const struct ctl_attr *a = &x->reply.attrs[i];
		struct xo_row row;
		char v[SITE_NAME_MAX];
		bool ok = true;

		if (a->type == CTL_A_ROW && (site || pop)) {
			if (xo_row_decode(a, &row) < 0) {
				free(keep);
				return xc_error("a malformed reply");
			}
			ok = (!site || !strcmp(SA_GET(&row, "site", v), site)) &&
			     (!pop || !strcmp(SA_GET(&row, "pop", v), pop));
			xo_row_free(&row);
		}
		if (ok)
			keep[n++] = *a;
	}
	if (x->json) {
		rc = xo_json_object(stdout, keep, n, "sas", "children") < 0 ?
		     xc_error("a malformed reply") : XC_EXIT_OK;
	} else {
		struct xo_row *rows;
		size_t n_rows;

		rc = xo_rows_of(keep, n, &rows, &n_rows) < 0 ? xc_error("a malformed reply") :
		     XC_EXIT_OK;
		for (size_t i = 0; rc == XC_EXIT_OK && i < n_rows; i++)
			sa_ike_text(&rows[i]);
		if (rc == XC_EXIT_OK)
			xo_rows_free(rows, n_rows);
	}
	free(keep);
	return rc;
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
	{ "list", sa_list, "[site NAME] [pop NAME]",
	  "The IKE SAs, each with its Child SAs under it: suites, identities, selectors,\n"
	  "reqid, mark and if_id, bytes and packets, the time until each rekey and expiry.",
	  NULL, 0, NULL },
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
