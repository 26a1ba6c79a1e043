/*
 * `xfrmctl sa list`: every IKE SA with its Child SAs nested, as much as swanctl --list-sas
 * says: the whole suite, both identities, the selectors, reqid, mark and if_id, the kernel's
 * counters, and the time until each rekey and expiry.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ike/ts.h"
#include "tunnel/tunnel_int.h"

static void hex(const uint8_t *p, size_t n, char *buf)
{
	for (size_t i = 0; i < n; i++)
		sprintf(buf + 2 * i, "%02x", p[i]);
}

/* Seconds from now until at (0 when past; "" for never: at 0 or UINT64_MAX). */
static int put_until(struct ike_writer *w, const char *key, uint64_t at, uint64_t now)
{
	if (!at || at == UINT64_MAX)
		return ctl_put_kv(w, key, "");
	return ctl_put_u64(w, key, at > now ? (at - now) / 1000 : 0);
}

/* "encr[-integ]-prf-group" of an IKE SA. */
static void ike_suite(const struct crypto_suite *su, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s-%s-%s", su->encr->name, su->integ ? "-" : "",
		 su->integ ? su->integ->name : "", su->prf ? su->prf->name : "?",
		 su->dh ? su->dh->name : "?");
}

/* The selectors of one side, comma-separated. */
static void ts_list(const struct ike_ts *ts, size_t n, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && o + 1 < len; i++) {
		char one[96];

		ike_ts_format(&ts[i], one, sizeof(one));
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? "," : "", one);
	}
}

/* The identities each end of t shows: ours and the peer's, as configured. */
static void identities(struct ikd *d, const struct tunnel *t, const struct site *s,
		       char *local, char *remote, size_t len)
{
	const struct pop *p = t->initiator ? site_db_find_pop(&d->db, t->pop) : NULL;
	char site_id[SITE_ID_MAX + 8], addr[64];

	if (s)
		site_id_text(s, site_id, sizeof(site_id));
	else
		snprintf(site_id, sizeof(site_id), "?");
	if (t->initiator) {
		snprintf(local, len, "%s", site_id);
		snprintf(remote, len, "%s", p && p->ike_id[0] ? p->ike_id : p ? p->gateway : "?");
	} else {
		net_addr_str(&t->local, addr, sizeof(addr));
		snprintf(local, len, "%s", d->conf.identity[0] ? d->conf.identity : addr);
		snprintf(remote, len, "%s", site_id);
	}
}

static int child_row(struct ikd *d, const struct tunnel *t, const struct site *s,
		     const struct child *c, const char *peer, uint64_t now, struct ike_writer *w)
{
	struct xfrm_sa_stats in, out;
	char s_in[12], s_out[12], ts_l[400], ts_r[400], num[24];
	size_t mark;
	int rc;

	ikd_child_counters(d, t, c, &in, &out);
	snprintf(s_in, sizeof(s_in), "%08x", c->spi_in);
	snprintf(s_out, sizeof(s_out), "%08x", c->spi_out);
	ts_list(child_ts(c), c->n_ts_local, ts_l, sizeof(ts_l));
	ts_list(child_ts(c) + c->n_ts_local, c->n_ts_remote, ts_r, sizeof(ts_r));
	rc = ctl_row_begin(w, &mark);
	rc = rc ?: ctl_put_kv(w, "type", "child");
	rc = rc ?: ctl_put_kv(w, "site", t->site);
	rc = rc ?: ctl_put_kv(w, "pop", t->pop);
	rc = rc ?: ctl_put_kv(w, "peer", peer);
	rc = rc ?: ctl_put_kv(w, "spi-in", s_in);
	rc = rc ?: ctl_put_kv(w, "spi-out", s_out);
	rc = rc ?: ctl_put_kv(w, "suite", c->suite ? c->suite : "");
	rc = rc ?: ctl_put_kv(w, "installed", c->installed ? "yes" : "no");
	rc = rc ?: ctl_put_kv(w, "ts-local", ts_l);
	rc = rc ?: ctl_put_kv(w, "ts-remote", ts_r);
	snprintf(num, sizeof(num), "0x%08" PRIx32, t->reqid);
	rc = rc ?: ctl_put_kv(w, "reqid", num);
	if (s && s->mark_mask)
		snprintf(num, sizeof(num), "0x%" PRIx32 "/0x%" PRIx32, s->mark, s->mark_mask);
	else
		snprintf(num, sizeof(num), "none");
	rc = rc ?: ctl_put_kv(w, "mark", num);
	rc = rc ?: ctl_put_u64(w, "if-id", s ? s->if_id : 0);
	rc = rc ?: ctl_put_u64(w, "age-s", (now - c->created_ms) / 1000);
	rc = rc ?: put_until(w, "rekey-in-s", c->replaces || c->rekeying ? 0 : c->rekey_at_ms, now);
	rc = rc ?: put_until(w, "expires-in-s", s && s->child_lifetime_s ?
			     c->created_ms + (uint64_t)s->child_lifetime_s * 1000 : 0, now);
	rc = rc ?: ctl_put_u64(w, "bytes-in", in.bytes);
	rc = rc ?: ctl_put_u64(w, "bytes-out", out.bytes);
	rc = rc ?: ctl_put_u64(w, "packets-in", in.packets);
	rc = rc ?: ctl_put_u64(w, "packets-out", out.packets);
	return rc ?: ctl_row_end(w, mark);
}

int ikd_sa_row(struct ikd *d, struct tunnel *t, struct ike_writer *w)
{
	uint64_t now = ikd_now(d);
	const struct site *s = ikd_site(d, t->site);
	static const struct ike_sa_keys none;
	const struct ike_sa_keys *k = t->have_sa ? &t->sa.k : t->init ? &t->init->k : &none;
	char spi[40], addr[64], suite[96], local[SITE_ID_MAX + 8], remote[SITE_ID_MAX + 8];
	uint64_t expires;
	size_t mark;
	int rc;

	identities(d, t, s, local, remote, sizeof(local));
	suite[0] = '\0';
	if (t->have_sa)
		ike_suite(&k->suite, suite, sizeof(suite));
	rc = ctl_row_begin(w, &mark);
	rc = rc ?: ctl_put_kv(w, "type", "ike");
	rc = rc ?: ctl_put_kv(w, "site", t->site);
	rc = rc ?: ctl_put_kv(w, "pop", t->pop);
	rc = rc ?: ctl_put_kv(w, "peer", net_addr_str(&t->remote, addr, sizeof(addr)));
	rc = rc ?: ctl_put_kv(w, "role", t->initiator ? "initiator" : "responder");
	rc = rc ?: ctl_put_kv(w, "state", tun_state_name(t->state));
	hex(k->spi_i, IKE_SPI_LEN, spi);
	spi[16] = '_';
	hex(k->spi_r, IKE_SPI_LEN, spi + 17);
	rc = rc ?: ctl_put_kv(w, "spi", spi);
	rc = rc ?: ctl_put_kv(w, "suite", suite);
	rc = rc ?: ctl_put_kv(w, "local-id", local);
	rc = rc ?: ctl_put_kv(w, "remote-id", remote);
	rc = rc ?: ctl_put_kv(w, "nat", t->have_sa && (k->nat_local || k->nat_remote) ? "yes" : "no");
	rc = rc ?: ctl_put_u64(w, "age-s", t->state == TUN_UP ? (now - t->up_since_ms) / 1000 : 0);
	rc = rc ?: put_until(w, "rekey-in-s", t->state == TUN_UP ? t->ike_rekey_at_ms : 0, now);
	expires = t->state == TUN_UP && s && s->ike_lifetime_s ?
		  t->ike_created_ms + (uint64_t)s->ike_lifetime_s * 1000 : 0;
	rc = rc ?: put_until(w, "expires-in-s", expires, now);
	/* Its Child SAs, nested in its row. */
	for (size_t j = 0; j < t->n_children && rc == 0; j++)
		rc = child_row(d, t, s, &t->children[j], addr, now, w);
	return rc ?: ctl_row_end(w, mark);
}

int ikd_sa_list(void *arg, struct ike_writer *w)
{
	struct ikd *d = arg;
	int rc = 0;

	/* A half-open SA of an unknown peer (no site yet) is left out. */
	for (size_t i = 0; i < d->n_tunnels && rc == 0; i++)
		if (d->tunnels[i]->site[0])
			rc = ikd_sa_row(d, d->tunnels[i], w);
	return rc;
}
