/*
 * `xfrmctl metrics`: ikd's counters for Prometheus. ikd answers CTL_METRICS with its
 * daemon-wide figures as KVs and one CTL_A_ROW per site, a page of sites at a time in name
 * order (a gateway's 10,000 sites do not fit one reply); xfrmctl gathers the pages into
 * struct ctl_metrics and writes the text exposition format, version 0.0.4.
 *
 * One table of fields serves the encoder (ikd), the decoder and the formatter (xfrmctl), so
 * the wire keys and the metric names cannot drift apart. A key the decoder does not know is
 * skipped: a newer ikd may send more.
 */
#ifndef IKD_CTL_METRICS_H
#define IKD_CTL_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl/ctl.h"
#include "site/site.h"

#define CTL_METRICS_PAGE	1000	/* sites per reply: a row is about 400 bytes */
#define CTL_METRICS_TEXT_MAX	(256u * 1024 * 1024)	/* the exposition's cap */

/* Why a handshake failed: the label reason="..." of ikd_handshake_failures_total. */
enum ctl_hs_fail {
	CTL_HS_AUTH_FAILED,	/* AUTHENTICATION_FAILED, sent or received */
	CTL_HS_NO_PROPOSAL,	/* NO_PROPOSAL_CHOSEN */
	CTL_HS_TS_UNACCEPTABLE,	/* TS_UNACCEPTABLE */
	CTL_HS_INVALID_KE,	/* INVALID_KE_PAYLOAD: a round with another DH group */
	CTL_HS_TIMEOUT,		/* no answer to our retransmissions; half-open SA expired */
	CTL_HS_OTHER,		/* any other error notify */
	CTL_HS_MAX,
};

/* Daemon-wide figures (besides the version, the start time and the failures). */
enum ctl_dm {
	CTL_DM_IKE_RECEIVED, CTL_DM_IKE_SENT, CTL_DM_IKE_DROPPED, CTL_DM_IKE_BAD_ICV,
	CTL_DM_COOKIES_SENT, CTL_DM_HALF_OPEN, CTL_DM_KERNEL_ESP,
	CTL_DM_MAX,
};

/* A site's figures (besides its status and active POP). */
enum ctl_sm {
	CTL_SM_FAILOVERS, CTL_SM_FALLBACKS,
	CTL_SM_BYTES_IN, CTL_SM_BYTES_OUT, CTL_SM_PACKETS_IN, CTL_SM_PACKETS_OUT,
	CTL_SM_IKE_SAS, CTL_SM_CHILD_SAS,
	CTL_SM_CHILD_REKEYS, CTL_SM_IKE_REKEYS, CTL_SM_DPD_MISSES, CTL_SM_HS_FAILURES,
	CTL_SM_MAX,
};

enum ctl_site_state { CTL_SITE_UP, CTL_SITE_DOWN, CTL_SITE_DISABLED, CTL_SITE_STATE_MAX };

struct ctl_metrics_site {
	char name[SITE_NAME_MAX];
	enum ctl_site_state state;
	char active_pop[SITE_NAME_MAX];	/* "" when none */
	uint64_t v[CTL_SM_MAX];
};

struct ctl_metrics {
	char version[32];
	uint64_t start_time_ms;		/* ikd's start, ms since the Unix epoch */
	uint64_t v[CTL_DM_MAX];
	uint64_t failures[CTL_HS_MAX];
	struct ctl_metrics_site *sites;
	size_t n_sites, cap_sites;
};

/* "auth_failed", "no_proposal" ... */
const char *ctl_hs_fail_label(enum ctl_hs_fail r);
/* "up", "down", "disabled"; ctl_site_state_parse: -EINVAL for another word. */
const char *ctl_site_state_name(enum ctl_site_state s);
int ctl_site_state_parse(const char *word, enum ctl_site_state *ret);

/* ikd: the daemon-wide KVs of m (its sites are left out), then one row per site. */
int ctl_metrics_put(struct ike_writer *w, const struct ctl_metrics *m);
int ctl_metrics_put_site(struct ike_writer *w, const struct ctl_metrics_site *s);

/*
 * xfrmctl: one reply page (its attributes) into m. The daemon-wide figures are taken from
 * the first page; site rows are appended, and must come in name order, past the previous
 * page's (so the pages cannot loop). *ret_more: the daemon has sites past this page, to ask
 * for with "after" set to *ret_after (the page's last site name). -EBADMSG with *why for a
 * malformed reply; -ENOMEM.
 */
int ctl_metrics_add_page(struct ctl_metrics *m, const struct ctl_attr *attrs, size_t n,
			 bool first, bool *ret_more, char *ret_after, size_t after_len,
			 const char **why);
void ctl_metrics_clear(struct ctl_metrics *m);

/*
 * The exposition of m (text format 0.0.4) appended to w: a # HELP and # TYPE line before each
 * family's samples; sites in name order; label values escaped (backslash, double quote, line
 * feed), any byte that is not printable UTF-8 shown as U+FFFD; two sites whose names show
 * the same are one series (the first). -EMSGSIZE past w's cap, -ENOMEM.
 */
int ctl_metrics_format(const struct ctl_metrics *m, struct ike_writer *w);

#endif
