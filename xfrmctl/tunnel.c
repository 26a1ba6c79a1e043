/*
 * xfrmctl tunnel initiate|terminate|rekey SITE [POP]: one site's tunnels (to one POP) by
 * hand, as swanctl --initiate, --terminate and --rekey do; the outcome is awaited (sa list
 * asked every half second) and said, unless --no-wait.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xfrmctl.h"

#define WAIT_DEFAULT_S 30

static const struct xc_arg args[] = {
	{ "--ike", NULL, "rekey the IKE SA rather than its Child SAs" },
	{ "--no-wait", NULL, "say what was asked and return; do not wait for the outcome" },
	{ "--timeout", "S", "wait at most S seconds for the outcome (default 30)" },
};
#define N_ARGS (sizeof(args) / sizeof(args[0]))

/* What a tunnel was when asked: its POP (or peer), IKE SPI and first Child SA's inbound SPI. */
struct before {
	char pop[SITE_NAME_MAX], peer[64], spi[40], child[12];
};

#define GET(r, key, buf) xo_get_str((r)->attrs, (r)->n, key, buf, sizeof(buf))

static void first_child(const struct xo_row *r, char *buf, size_t len)
{
	struct xo_row *kids;
	size_t n;

	buf[0] = '\0';
	if (xo_rows_of(r->attrs, r->n, &kids, &n) < 0)
		return;
	if (n)
		xo_get_str(kids[0].attrs, kids[0].n, "spi-in", buf, len);
	xo_rows_free(kids, n);
}

/* The row of sa list for the same tunnel (its POP, or the peer on a gateway). */
static const struct xo_row *same(const struct xo_row *rows, size_t n, const char *site,
				 const struct before *b)
{
	for (size_t i = 0; i < n; i++) {
		char s[SITE_NAME_MAX], p[SITE_NAME_MAX], peer[64];

		if (strcmp(GET(&rows[i], "site", s), site) || strcmp(GET(&rows[i], "pop", p), b->pop))
			continue;
		if (b->pop[0] || !strcmp(GET(&rows[i], "peer", peer), b->peer))
			return &rows[i];
	}
	return NULL;
}

/* Is the outcome there? 1 done, 0 not yet; what says what it is. */
static int settled(const char *action, bool ike, const char *site, const struct before *b,
		   const struct xo_row *rows, size_t n, char *what, size_t len)
{
	const struct xo_row *r = same(rows, n, site, b);
	char state[16] = "", spi[40] = "", child[12] = "";

	if (r) {
		GET(r, "state", state);
		GET(r, "spi", spi);
		first_child(r, child, sizeof(child));
	}
	if (!strcmp(action, "initiate")) {
		snprintf(what, len, "%s", r ? state : "no tunnel");
		if (!r || strcmp(state, "up"))
			return 0;
		snprintf(what, len, "up: IKE SA %s, %s%s", spi, child[0] ? "Child SA " : "no Child SA",
			 child);
		return 1;
	}
	if (!strcmp(action, "terminate")) {
		snprintf(what, len, "IKE SA %s %s", b->spi, r && !strcmp(spi, b->spi) ? "still there" :
			 "deleted");
		return !r || strcmp(spi, b->spi);
	}
	if (ike) {
		snprintf(what, len, "IKE SA %s%s%s", b->spi, r && strcmp(spi, b->spi) ?
			 " replaced by " : " not rekeyed yet", r && strcmp(spi, b->spi) ? spi : "");
		return r && strcmp(spi, b->spi) && !strcmp(state, "up");
	}
	snprintf(what, len, "Child SA %s%s%s", b->child, child[0] && strcmp(child, b->child) ?
		 " replaced by " : " not rekeyed yet",
		 child[0] && strcmp(child, b->child) ? child : "");
	return r && child[0] && strcmp(child, b->child);
}

static void pause_half_second(void)
{
	struct timespec ts = { 0, 500000000L };

	nanosleep(&ts, NULL);
}

static int act(struct xc *x, const char *action, int argc, char **argv)
{
	const char *names[2] = { NULL, NULL };
	bool ike = false, wait = true;
	long timeout = WAIT_DEFAULT_S;
	struct before *b = NULL;
	struct xo_row *rows;
	size_t n_names = 0, n = 0, done = 0;
	struct xc_req r;
	int rc;

	for (int i = 0; i < argc; i++) {
		char *end;

		if (!strcmp(argv[i], "--ike")) {
			ike = true;
		} else if (!strcmp(argv[i], "--no-wait")) {
			wait = false;
		} else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			timeout = strtol(argv[++i], &end, 10);
			if (*end || timeout < 1 || timeout > 3600)
				return xc_usage("tunnel %s: --timeout '%s': seconds, 1 to 3600", action,
						argv[i]);
		} else if (argv[i][0] == '-' || n_names == 2) {
			return xc_usage("tunnel %s: '%s' is unknown (SITE [POP] [--ike] [--no-wait] "
					"[--timeout S])", action, argv[i]);
		} else {
			names[n_names++] = argv[i];
		}
	}
	if (!n_names)
		return xc_usage("tunnel %s: which site? (SITE [POP])", action);
	if (ike && strcmp(action, "rekey"))
		return xc_usage("tunnel %s: --ike is for rekey", action);
	xc_req_begin(&r, CTL_TUNNEL);
	for (size_t i = 0; i < n_names; i++)
		xc_req_str(&r, CTL_A_NAME, names[i]);
	xc_req_kv(&r, "action", action);
	xc_req_kv(&r, "ike", ike ? "yes" : "no");
	rc = xc_call(x, &r);
	if (rc)
		return rc;
	if (!wait || x->json) {
		if (x->json)
			return xo_json_object(stdout, x->reply.attrs, x->reply.n_attrs, "tunnels",
					      "children") < 0 ? xc_error("a malformed reply") :
			       XC_EXIT_OK;
		printf("%s: asked\n", action);
		return XC_EXIT_OK;
	}
	if (xo_rows_of(x->reply.attrs, x->reply.n_attrs, &rows, &n) < 0)
		return xc_error("a malformed reply");
	b = calloc(n ? n : 1, sizeof(*b));
	if (!b) {
		xo_rows_free(rows, n);
		return xc_error("out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		GET(&rows[i], "pop", b[i].pop);
		GET(&rows[i], "peer", b[i].peer);
		GET(&rows[i], "spi", b[i].spi);
		first_child(&rows[i], b[i].child, sizeof(b[i].child));
	}
	xo_rows_free(rows, n);
	rc = XC_EXIT_OK;
	for (long tick = 0; rc == XC_EXIT_OK && tick <= 2 * timeout && done < n; tick++) {
		struct xc_req q;
		struct xo_row *now;
		size_t n_now;

		pause_half_second();
		xc_req_begin(&q, CTL_SA_LIST);
		rc = xc_call(x, &q);
		if (rc || xo_rows_of(x->reply.attrs, x->reply.n_attrs, &now, &n_now) < 0)
			break;
		done = 0;
		for (size_t i = 0; i < n; i++) {
			char what[160];

			done += settled(action, ike, names[0], &b[i], now, n_now, what, sizeof(what));
		}
		if (done == n || tick == 2 * timeout) {
			for (size_t i = 0; i < n; i++) {
				char what[160];
				int ok = settled(action, ike, names[0], &b[i], now, n_now, what,
						 sizeof(what));

				printf("site '%s' %s%s: %s%s\n", names[0], b[i].pop[0] ? "pop " : "",
				       b[i].pop[0] ? b[i].pop : b[i].peer, what,
				       ok ? "" : " (no outcome in time: xfrmctl site show says more)");
			}
		}
		xo_rows_free(now, n_now);
	}
	free(b);
	if (rc)
		return rc;
	return done == n ? XC_EXIT_OK : XC_EXIT_ERROR;
}

static int t_initiate(struct xc *x, int argc, char **argv)
{
	return act(x, "initiate", argc, argv);
}

static int t_terminate(struct xc *x, int argc, char **argv)
{
	return act(x, "terminate", argc, argv);
}

static int t_rekey(struct xc *x, int argc, char **argv)
{
	return act(x, "rekey", argc, argv);
}

static const struct xc_verb verbs[] = {
	{ "initiate", t_initiate, "SITE [POP] [--no-wait] [--timeout S]",
	  "Build the site's tunnel (to POP) now, not after its back-off; an edge router only.\n"
	  "Waits until it is up and says so.", args + 1, N_ARGS - 1, "options" },
	{ "terminate", t_terminate, "SITE [POP] [--no-wait] [--timeout S]",
	  "Delete the site's IKE SA (to POP) and its Child SAs at both ends.\n"
	  "An edge router builds it again after reconnect-min; site disable keeps it down.",
	  args + 1, N_ARGS - 1, "options" },
	{ "rekey", t_rekey, "SITE [POP] [--ike] [--no-wait] [--timeout S]",
	  "Rekey the site's Child SAs (to POP) now, or with --ike its IKE SA.\n"
	  "Waits until the new SA has replaced the old one and names both.", args, N_ARGS,
	  "options" },
};

int xc_tunnel(struct xc *x, int argc, char **argv)
{
	return xc_dispatch(x, "tunnel", verbs, sizeof(verbs) / sizeof(verbs[0]), NULL, argc, argv);
}
