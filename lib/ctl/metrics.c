/* ikd's figures on the wire and as Prometheus text (see metrics.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/metrics.h"

#define ROW_ATTRS_MAX 256

/* A figure: its key on the control socket, its metric, and what it means. */
struct field {
	const char *key;
	const char *name;
	bool counter;
	const char *help;
};

static const struct field daemon_fields[CTL_DM_MAX] = {
	[CTL_DM_IKE_RECEIVED] = { "ike-received", "ikd_ike_messages_received_total", true,
		"IKE messages received on ikd's UDP sockets, well-formed or not." },
	[CTL_DM_IKE_SENT] = { "ike-sent", "ikd_ike_messages_sent_total", true,
		"IKE messages sent, retransmissions included." },
	[CTL_DM_IKE_DROPPED] = { "ike-dropped", "ikd_ike_messages_dropped_total", true,
		"IKE messages received and dropped: malformed, unexpected, for no known SA, or "
		"failing their integrity check." },
	[CTL_DM_IKE_BAD_ICV] = { "ike-bad-icv", "ikd_ike_messages_integrity_failures_total", true,
		"IKE messages dropped because their integrity check failed (also counted as "
		"dropped)." },
	[CTL_DM_COOKIES_SENT] = { "cookies-sent", "ikd_ike_cookies_sent_total", true,
		"IKE_SA_INIT requests answered with a COOKIE because too many SAs were half-open "
		"(RFC 7296 2.6)." },
	[CTL_DM_HALF_OPEN] = { "half-open", "ikd_half_open_sas", false,
		"IKE SAs that answered IKE_SA_INIT and wait for IKE_AUTH." },
	[CTL_DM_KERNEL_ESP] = { "kernel-esp", "ikd_kernel_esp", false,
		"1 when the kernel can install ESP Child SAs, 0 when it lacks ESP." },
};

static const struct field site_fields[CTL_SM_MAX] = {
	[CTL_SM_FAILOVERS] = { "failovers", "ikd_site_failovers_total", true,
		"Times the site's traffic moved to a backup POP." },
	[CTL_SM_FALLBACKS] = { "fallbacks", "ikd_site_fallbacks_total", true,
		"Times the site's traffic moved back to its primary POP after the hold-down." },
	[CTL_SM_BYTES_IN] = { "bytes-in", "ikd_site_received_bytes_total", true,
		"Bytes the site's inbound Child SAs carried, as the kernel counts them, deleted "
		"SAs included." },
	[CTL_SM_BYTES_OUT] = { "bytes-out", "ikd_site_sent_bytes_total", true,
		"Bytes the site's outbound Child SAs carried, as the kernel counts them, deleted "
		"SAs included." },
	[CTL_SM_PACKETS_IN] = { "packets-in", "ikd_site_received_packets_total", true,
		"Packets the site's inbound Child SAs carried, deleted SAs included." },
	[CTL_SM_PACKETS_OUT] = { "packets-out", "ikd_site_sent_packets_total", true,
		"Packets the site's outbound Child SAs carried, deleted SAs included." },
	[CTL_SM_IKE_SAS] = { "ike-sas", "ikd_site_ike_sas", false,
		"The site's established IKE SAs." },
	[CTL_SM_CHILD_SAS] = { "child-sas", "ikd_site_child_sas", false,
		"The site's Child SAs in the kernel." },
	[CTL_SM_CHILD_REKEYS] = { "child-rekeys", "ikd_site_child_rekeys_total", true,
		"Child SA rekeys completed, by either side." },
	[CTL_SM_IKE_REKEYS] = { "ike-rekeys", "ikd_site_ike_rekeys_total", true,
		"IKE SA rekeys completed, by either side." },
	[CTL_SM_DPD_MISSES] = { "dpd-misses", "ikd_site_dpd_misses_total", true,
		"Dead peer detection intervals that passed without a word from the peer." },
	[CTL_SM_HS_FAILURES] = { "handshake-failures", "ikd_site_handshake_failures_total", true,
		"Failed IKE_SA_INIT/IKE_AUTH handshakes of the site, for any reason." },
};

static const struct {
	const char *key, *label;
} reasons[CTL_HS_MAX] = {
	[CTL_HS_AUTH_FAILED] = { "handshake-failures-auth-failed", "auth_failed" },
	[CTL_HS_NO_PROPOSAL] = { "handshake-failures-no-proposal", "no_proposal" },
	[CTL_HS_TS_UNACCEPTABLE] = { "handshake-failures-ts-unacceptable", "ts_unacceptable" },
	[CTL_HS_INVALID_KE] = { "handshake-failures-invalid-ke", "invalid_ke" },
	[CTL_HS_TIMEOUT] = { "handshake-failures-timeout", "timeout" },
	[CTL_HS_OTHER] = { "handshake-failures-other", "other" },
};

static const char *const states[CTL_SITE_STATE_MAX] = {
	[CTL_SITE_UP] = "up", [CTL_SITE_DOWN] = "down", [CTL_SITE_DISABLED] = "disabled",
};

const char *ctl_hs_fail_label(enum ctl_hs_fail r)
{
	return r < CTL_HS_MAX ? reasons[r].label : "other";
}

const char *ctl_site_state_name(enum ctl_site_state s)
{
	return s < CTL_SITE_STATE_MAX ? states[s] : "down";
}

int ctl_site_state_parse(const char *word, enum ctl_site_state *ret)
{
	for (int i = 0; i < CTL_SITE_STATE_MAX; i++)
		if (!strcmp(word, states[i])) {
			*ret = (enum ctl_site_state)i;
			return 0;
		}
	return -EINVAL;
}

/* ---- ikd: encoding ---- */

int ctl_metrics_put(struct ike_writer *w, const struct ctl_metrics *m)
{
	int rc = ctl_put_kv(w, "version", m->version);

	rc = rc ?: ctl_put_u64(w, "start-time-ms", m->start_time_ms);
	for (int i = 0; i < CTL_DM_MAX && rc == 0; i++)
		rc = ctl_put_u64(w, daemon_fields[i].key, m->v[i]);
	for (int i = 0; i < CTL_HS_MAX && rc == 0; i++)
		rc = ctl_put_u64(w, reasons[i].key, m->failures[i]);
	return rc;
}

int ctl_metrics_put_site(struct ike_writer *w, const struct ctl_metrics_site *s)
{
	size_t mark;
	int rc = ctl_row_begin(w, &mark);

	rc = rc ?: ctl_put_kv(w, "site", s->name);
	rc = rc ?: ctl_put_kv(w, "status", ctl_site_state_name(s->state));
	rc = rc ?: ctl_put_kv(w, "active-pop", s->active_pop);
	for (int i = 0; i < CTL_SM_MAX && rc == 0; i++)
		rc = ctl_put_u64(w, site_fields[i].key, s->v[i]);
	return rc ?: ctl_row_end(w, mark);
}

/* ---- xfrmctl: decoding ---- */

/* Decimal digits only, 1 to 20 of them, within 64 bits. */
static int parse_u64(const uint8_t *p, size_t n, uint64_t *ret)
{
	uint64_t v = 0;

	if (n == 0 || n > 20)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)p[i] - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -EBADMSG;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

/* A string field into buf: at most cap - 1 bytes, no NUL among them. */
static int copy_str(const uint8_t *p, size_t n, char *buf, size_t cap, bool empty_ok)
{
	if (n >= cap || (n == 0 && !empty_ok) || memchr(p, '\0', n))
		return -EBADMSG;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return 0;
}

static int key_index(const struct field *fields, int n, const char *key)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(fields[i].key, key))
			return i;
	return -1;
}

static int decode_site(const struct ctl_attr *row, struct ctl_metrics_site *s, const char **why)
{
	struct ctl_attr attrs[ROW_ATTRS_MAX];
	size_t n;
	bool have_name = false, have_state = false;
	uint32_t seen = 0;

	memset(s, 0, sizeof(*s));
	if (ctl_row_decode(row, attrs, ROW_ATTRS_MAX, &n) < 0) {
		*why = "a site row that does not decode";
		return -EBADMSG;
	}
	for (size_t i = 0; i < n; i++) {
		const char *key;
		const uint8_t *v;
		size_t vlen;
		char word[16];
		int k;

		if (attrs[i].type != CTL_A_KV)
			continue;
		if (ctl_attr_kv(&attrs[i], &key, &v, &vlen) < 0) {
			*why = "a site field that does not decode";
			return -EBADMSG;
		}
		if (!strcmp(key, "site")) {
			if (have_name || copy_str(v, vlen, s->name, sizeof(s->name), false) < 0) {
				*why = "a site name empty, too long, repeated or with a NUL";
				return -EBADMSG;
			}
			have_name = true;
		} else if (!strcmp(key, "status")) {
			if (have_state || copy_str(v, vlen, word, sizeof(word), false) < 0 ||
			    ctl_site_state_parse(word, &s->state) < 0) {
				*why = "a site status that is not up, down or disabled";
				return -EBADMSG;
			}
			have_state = true;
		} else if (!strcmp(key, "active-pop")) {
			if (copy_str(v, vlen, s->active_pop, sizeof(s->active_pop), true) < 0) {
				*why = "an active POP name that is too long or holds a NUL";
				return -EBADMSG;
			}
		} else if ((k = key_index(site_fields, CTL_SM_MAX, key)) >= 0) {
			if ((seen & (1u << k)) || parse_u64(v, vlen, &s->v[k]) < 0) {
				*why = "a site figure that is not a number, or repeated";
				return -EBADMSG;
			}
			seen |= 1u << k;
		}
	}
	if (!have_name || !have_state) {
		*why = "a site row without its name or status";
		return -EBADMSG;
	}
	return 0;
}

static int add_site(struct ctl_metrics *m, const struct ctl_metrics_site *s)
{
	if (m->n_sites == m->cap_sites) {
		size_t cap = m->cap_sites ? 2 * m->cap_sites : 64;
		struct ctl_metrics_site *v = realloc(m->sites, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		m->sites = v;
		m->cap_sites = cap;
	}
	m->sites[m->n_sites++] = *s;
	return 0;
}

/* A daemon-wide KV of the first page. */
static int decode_daemon_kv(struct ctl_metrics *m, const char *key, const uint8_t *v, size_t vlen,
			    const char **why)
{
	int k;

	if (!strcmp(key, "version")) {
		if (copy_str(v, vlen, m->version, sizeof(m->version), false) < 0) {
			*why = "a version that is empty, too long or holds a NUL";
			return -EBADMSG;
		}
		return 0;
	}
	if (!strcmp(key, "start-time-ms")) {
		if (parse_u64(v, vlen, &m->start_time_ms) < 0) {
			*why = "a start time that is not a number";
			return -EBADMSG;
		}
		return 0;
	}
	if ((k = key_index(daemon_fields, CTL_DM_MAX, key)) >= 0) {
		if (parse_u64(v, vlen, &m->v[k]) < 0) {
			*why = "a daemon figure that is not a number";
			return -EBADMSG;
		}
		return 0;
	}
	for (int i = 0; i < CTL_HS_MAX; i++)
		if (!strcmp(key, reasons[i].key)) {
			if (parse_u64(v, vlen, &m->failures[i]) < 0) {
				*why = "a failure count that is not a number";
				return -EBADMSG;
			}
			return 0;
		}
	return 0;	/* a figure of a newer ikd */
}

int ctl_metrics_add_page(struct ctl_metrics *m, const struct ctl_attr *attrs, size_t n,
			 bool first, bool *ret_more, char *ret_after, size_t after_len,
			 const char **why)
{
	bool have_more = false, have_version = false;
	size_t rows = 0;
	int rc;

	*why = NULL;
	*ret_more = false;
	for (size_t i = 0; i < n; i++) {
		const char *key;
		const uint8_t *v;
		size_t vlen;

		if (attrs[i].type == CTL_A_ROW) {
			struct ctl_metrics_site s;

			rc = decode_site(&attrs[i], &s, why);
			/* In name order, within a page and from one page to the next. */
			if (rc == 0 && m->n_sites &&
			    strcmp(s.name, m->sites[m->n_sites - 1].name) <= 0) {
				*why = "site rows out of name order";
				rc = -EBADMSG;
			}
			rc = rc ?: add_site(m, &s);
			if (rc < 0)
				return rc;
			rows++;
			continue;
		}
		if (attrs[i].type != CTL_A_KV)
			continue;
		if (ctl_attr_kv(&attrs[i], &key, &v, &vlen) < 0) {
			*why = "a field that does not decode";
			return -EBADMSG;
		}
		if (!strcmp(key, "more")) {
			if (vlen == 3 && !memcmp(v, "yes", 3))
				*ret_more = true;
			else if (!(vlen == 2 && !memcmp(v, "no", 2))) {
				*why = "'more' that is neither yes nor no";
				return -EBADMSG;
			}
			have_more = true;
		} else if (first) {
			rc = decode_daemon_kv(m, key, v, vlen, why);
			if (rc < 0)
				return rc;
			have_version |= !strcmp(key, "version");
		}
	}
	if (!have_more || (first && !have_version)) {
		*why = "a reply without the figures it must have";
		return -EBADMSG;
	}
	if (*ret_more) {
		if (!rows) {
			*why = "an empty page that says more follow";
			return -EBADMSG;
		}
		if (strlen(m->sites[m->n_sites - 1].name) >= after_len)
			return -ENOBUFS;
		strcpy(ret_after, m->sites[m->n_sites - 1].name);
	}
	return 0;
}

void ctl_metrics_clear(struct ctl_metrics *m)
{
	free(m->sites);
	memset(m, 0, sizeof(*m));
}

/* ---- xfrmctl: the text exposition format 0.0.4 ---- */

static int put(struct ike_writer *w, const char *s)
{
	return ike_writer_bytes(w, s, strlen(s));
}

/* The length of the UTF-8 sequence at p (1 to 4) if it is valid and printable, else 0. */
static size_t utf8_ok(const uint8_t *p, size_t n)
{
	size_t len;
	uint8_t lo = 0x80, hi = 0xbf;

	if (p[0] < 0x80)
		return p[0] >= 0x20 && p[0] != 0x7f ? 1 : 0;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4;
	else
		return 0;
	/* No overlong forms, no surrogates, nothing past U+10FFFF (RFC 3629 section 4). */
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

/*
 * A label value: backslash, double quote and line feed escaped as the format requires; any
 * other byte that is not printable UTF-8 (a control character, a broken sequence) as U+FFFD,
 * since the format has no escape for it.
 */
static int put_label_value(struct ike_writer *w, const char *s)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t n = strlen(s);
	int rc = 0;

	while (n && rc == 0) {
		size_t k = utf8_ok(p, n);

		if (*p == '\\' || *p == '"') {
			rc = ike_writer_u8(w, '\\') ?: ike_writer_u8(w, *p);
			k = 1;
		} else if (*p == '\n') {
			rc = put(w, "\\n");
			k = 1;
		} else if (k == 0) {
			rc = put(w, "\xef\xbf\xbd");
			k = 1;
		} else {
			rc = ike_writer_bytes(w, p, k);
		}
		p += k;
		n -= k;
	}
	return rc;
}

static int put_family(struct ike_writer *w, const char *name, bool counter, const char *help)
{
	int rc = put(w, "# HELP ");

	rc = rc ?: put(w, name);
	rc = rc ?: ike_writer_u8(w, ' ');
	rc = rc ?: put(w, help);	/* ours: no backslash or line feed to escape */
	rc = rc ?: put(w, "\n# TYPE ");
	rc = rc ?: put(w, name);
	return rc ?: put(w, counter ? " counter\n" : " gauge\n");
}

/* name{k1="v1",k2="v2"} value: labels with a NULL key are left out. */
static int put_sample(struct ike_writer *w, const char *name, const char *k1, const char *v1,
		      const char *k2, const char *v2, uint64_t value)
{
	char num[24];
	int rc = put(w, name);

	if (k1) {
		rc = rc ?: put(w, "{");
		rc = rc ?: put(w, k1);
		rc = rc ?: put(w, "=\"");
		rc = rc ?: put_label_value(w, v1);
		rc = rc ?: put(w, "\"");
		if (k2) {
			rc = rc ?: put(w, ",");
			rc = rc ?: put(w, k2);
			rc = rc ?: put(w, "=\"");
			rc = rc ?: put_label_value(w, v2);
			rc = rc ?: put(w, "\"");
		}
		rc = rc ?: put(w, "}");
	}
	snprintf(num, sizeof(num), " %" PRIu64 "\n", value);
	return rc ?: put(w, num);
}

/* Sites by the label value they show, so two that show the same are one series. */
struct shown {
	char *label;		/* the escaped name */
	const struct ctl_metrics_site *s;
};

static int by_label(const void *a, const void *b)
{
	const struct shown *x = a, *y = b;
	int r = strcmp(x->label, y->label);

	/* Equal labels keep the order of the rows: the first one stays. */
	return r ? r : (x->s > y->s) - (x->s < y->s);
}

static void shown_free(struct shown *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].label);
	free(v);
}

/* The sites to show, sorted and without duplicates (malloc'd). */
static int sites_shown(const struct ctl_metrics *m, struct shown **ret, size_t *ret_n)
{
	struct shown *v = calloc(m->n_sites + 1, sizeof(*v));
	size_t n = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_sites; i++) {
		struct ike_writer w;

		ike_writer_init(&w, 4 * SITE_NAME_MAX);
		if (put_label_value(&w, m->sites[i].name) < 0 || ike_writer_u8(&w, 0) < 0) {
			ike_writer_clear(&w);
			shown_free(v, m->n_sites);
			return -ENOMEM;
		}
		v[i].label = (char *)w.buf;	/* ours now */
		v[i].s = &m->sites[i];
	}
	qsort(v, m->n_sites, sizeof(*v), by_label);
	for (size_t i = 0; i < m->n_sites; i++) {
		if (n && !strcmp(v[n - 1].label, v[i].label)) {
			free(v[i].label);
			continue;
		}
		v[n++] = v[i];
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static int format_daemon(const struct ctl_metrics *m, struct ike_writer *w)
{
	char num[48];
	int rc = put_family(w, "ikd_build_info", false, "The version of ikd; the value is 1.");

	rc = rc ?: put_sample(w, "ikd_build_info", "version", m->version, NULL, NULL, 1);
	rc = rc ?: put_family(w, "ikd_start_time_seconds", false,
			      "When ikd started, in seconds since the Unix epoch.");
	snprintf(num, sizeof(num), "ikd_start_time_seconds %" PRIu64 ".%03u\n",
		 m->start_time_ms / 1000, (unsigned)(m->start_time_ms % 1000));
	rc = rc ?: put(w, num);
	for (int i = 0; i < CTL_DM_MAX && rc == 0; i++) {
		const struct field *f = &daemon_fields[i];

		rc = put_family(w, f->name, f->counter, f->help);
		rc = rc ?: put_sample(w, f->name, NULL, NULL, NULL, NULL, m->v[i]);
	}
	rc = rc ?: put_family(w, "ikd_handshake_failures_total", true,
			      "Failed IKE_SA_INIT/IKE_AUTH handshakes, by reason, both roles.");
	for (int i = 0; i < CTL_HS_MAX && rc == 0; i++)
		rc = put_sample(w, "ikd_handshake_failures_total", "reason", reasons[i].label, NULL,
				NULL, m->failures[i]);
	return rc;
}

static int format_sites(const struct shown *v, size_t n, struct ike_writer *w)
{
	const char *f_status = "ikd_site_status", *f_pop = "ikd_site_active_pop_info";
	bool any_pop = false;
	int rc;

	rc = put_family(w, "ikd_site_up", false, "1 when the site is up, 0 when down or disabled.");
	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = put(w, "ikd_site_up{site=\"");
		rc = rc ?: put(w, v[i].label);
		rc = rc ?: put(w, v[i].s->state == CTL_SITE_UP ? "\"} 1\n" : "\"} 0\n");
		any_pop |= v[i].s->active_pop[0] != '\0';
	}
	rc = rc ?: put_family(w, f_status, false,
			      "The site's status: 1 for the one it has (up, down or disabled).");
	for (size_t i = 0; i < n && rc == 0; i++)
		for (int k = 0; k < CTL_SITE_STATE_MAX && rc == 0; k++)
			rc = put_sample(w, f_status, "site", v[i].s->name, "status", states[k],
					v[i].s->state == (enum ctl_site_state)k);
	if (any_pop)
		rc = rc ?: put_family(w, f_pop, false,
				      "The POP the site's traffic goes to; the value is 1.");
	for (size_t i = 0; i < n && rc == 0; i++)
		if (v[i].s->active_pop[0])
			rc = put_sample(w, f_pop, "site", v[i].s->name, "pop", v[i].s->active_pop,
					1);
	for (int k = 0; k < CTL_SM_MAX && rc == 0; k++) {
		const struct field *f = &site_fields[k];

		rc = put_family(w, f->name, f->counter, f->help);
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = put_sample(w, f->name, "site", v[i].s->name, NULL, NULL, v[i].s->v[k]);
	}
	return rc;
}

int ctl_metrics_format(const struct ctl_metrics *m, struct ike_writer *w)
{
	struct shown *v;
	size_t n;
	int rc = sites_shown(m, &v, &n);

	if (rc < 0)
		return rc;
	rc = format_daemon(m, w);
	if (rc == 0 && n)
		rc = format_sites(v, n, w);
	shown_free(v, n);
	return rc;
}
