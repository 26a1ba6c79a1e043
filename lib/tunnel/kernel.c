/*
 * The kernel side of the daemon: Child SAs and the policies that steer traffic into them
 * (DESIGN.md "Steering and failover"). Every SA and policy ikd installs carries a reqid from
 * its own range, so a restart can find what is ours and leave everyone else's alone.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel/tunnel_int.h"

/*
 * Reqids: one per site name for the daemon's lifetime, never reused while it runs. An open
 * table of 16-byte slots, sized to them: a gateway has one per site. The names are the
 * shared texts (text.c) the site's tunnels name it by, held here for good.
 */
struct reqid_entry {
	const char *name;
	uint32_t reqid;		/* 0: an empty slot */
	uint32_t hash;
};

static size_t reqid_slot(const struct reqid_entry *tab, size_t cap, const char *name, uint32_t h)
{
	size_t i;

	for (i = h & (cap - 1); tab[i].reqid && (tab[i].hash != h || strcmp(tab[i].name, name));
	     i = (i + 1) & (cap - 1))
		;
	return i;
}

uint32_t kernel_reqid(struct ikd *d, const struct site *s)
{
	uint32_t h = tun_name_hash(s->name);
	size_t i;

	if (2 * (d->n_reqids + 1) > d->cap_reqids) {
		size_t cap = d->cap_reqids ? 2 * d->cap_reqids : 256;
		struct reqid_entry *v = calloc(cap, sizeof(*v));

		if (!v)
			return 0;
		for (size_t k = 0; k < d->cap_reqids; k++)
			if (d->reqids[k].reqid)
				v[reqid_slot(v, cap, d->reqids[k].name, d->reqids[k].hash)] =
					d->reqids[k];
		free(d->reqids);
		d->reqids = v;
		d->cap_reqids = cap;
	}
	i = reqid_slot(d->reqids, d->cap_reqids, s->name, h);
	if (!d->reqids[i].reqid) {
		const char *name;

		if (d->n_reqids >= IKD_REQID_LAST - IKD_REQID_BASE)
			return 0;	/* the range is spent: restart the daemon */
		if (!(name = tun_text_get(d, s->name)))
			return 0;
		d->reqids[i] = (struct reqid_entry){ .name = name, .hash = h,
			.reqid = IKD_REQID_BASE + (uint32_t)++d->n_reqids };
	}
	return d->reqids[i].reqid;
}

void kernel_reqids_clear(struct ikd *d)
{
	for (size_t k = 0; k < d->cap_reqids; k++)
		if (d->reqids[k].reqid)
			tun_text_put(d, d->reqids[k].name);
	free(d->reqids);
	d->reqids = NULL;
	d->n_reqids = d->cap_reqids = 0;
}

void kernel_reqid_rename(struct ikd *d, const char *old_name, const char *new_name)
{
	struct reqid_entry *v = d->cap_reqids ? calloc(d->cap_reqids, sizeof(*v)) : NULL;
	const char *renamed = NULL;

	if (!v || !(renamed = tun_text_get(d, new_name))) {
		free(v);
		return;		/* none yet, or no memory: the site gets a new reqid when used */
	}
	for (size_t k = 0; k < d->cap_reqids; k++) {
		struct reqid_entry e = d->reqids[k];

		if (!e.reqid)
			continue;
		/* A deleted site's entry under the new name goes: its number is never reused. */
		if (!strcmp(e.name, new_name)) {
			tun_text_put(d, e.name);
			continue;
		}
		if (renamed && !strcmp(e.name, old_name)) {
			tun_text_put(d, e.name);
			e.name = renamed;
			e.hash = tun_name_hash(renamed);
			renamed = NULL;
		}
		v[reqid_slot(v, d->cap_reqids, e.name, e.hash)] = e;
	}
	tun_text_put(d, renamed);
	free(d->reqids);
	d->reqids = v;
}

void ikd_child_counters(struct ikd *d, const struct tunnel *t, const struct child *c,
			struct xfrm_sa_stats *ret_in, struct xfrm_sa_stats *ret_out)
{
	(void)t;
	memset(ret_in, 0, sizeof(*ret_in));
	memset(ret_out, 0, sizeof(*ret_out));
	if (!c->installed)
		return;
	/* A half not in the kernel (held back, already expired) reads as zero. */
	d->io->sa_get(d->io_arg, &c->addr_local, c->spi_in, IPPROTO_ESP, 0, 0, ret_in, NULL);
	d->io->sa_get(d->io_arg, &c->addr_remote, c->spi_out, IPPROTO_ESP, 0, 0, ret_out, NULL);
}

void kernel_addr(const union net_addr *a, struct xfrm_addr *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->family = a->sa.sa_family;
	if (ret->family == AF_INET)
		memcpy(&ret->a.a4, &a->in.sin_addr, 4);
	else
		memcpy(ret->a.a6, &a->in6.sin6_addr, 16);
}

static uint16_t port_of(const union net_addr *a)
{
	return ntohs(a->sa.sa_family == AF_INET ? a->in.sin_port : a->in6.sin6_port);
}

/*
 * Adds in one batch (io.kernel_batch: one request to the kernel and, when all goes well, one
 * answer), else one by one the same way: each tried whatever came of the one before.
 */
static int kernel_batch(struct ikd *d, struct ikd_kreq *r, size_t n, struct xfrm_err *err)
{
	int failed = 0;

	memset(err, 0, sizeof(*err));
	if (d->io->kernel_batch) {
		failed = d->io->kernel_batch(d->io_arg, r, n, err);
		if (failed < 0) {
			for (size_t i = 0; i < n; i++)
				r[i].result = failed;
			err->code = failed;
			return (int)n;
		}
		return failed;
	}
	for (size_t i = 0; i < n; i++) {
		struct xfrm_err e = { 0 };

		r[i].result = r[i].sa ? d->io->sa_add(d->io_arg, r[i].sa, r[i].update, &e) :
					d->io->policy_add(d->io_arg, r[i].policy, r[i].update, &e);
		if (r[i].result < 0 && !failed++) {
			*err = e;
			err->code = r[i].result;
		}
	}
	return failed;
}

int kernel_child_install(struct ikd *d, struct tunnel *t, const struct ike_child *c,
			 const struct site *s, unsigned which, char *err, size_t err_len)
{
	struct xfrm_sa out = { .proto = IPPROTO_ESP, .mode = XFRM_MODE_TUNNEL, .reqid = t->reqid,
			       .replay_window = 64, .esn = c->esn, .if_id = s->if_id };
	struct xfrm_sa in;
	const struct xfrm_sa *refused = NULL;
	struct xfrm_err e = { 0 };
	struct ikd_kreq r[2];
	size_t n = 0;
	/*
	 * §2.17: the keys of the initiator of the exchange that made the Child SA protect what it
	 * sends (§1.3: for CREATE_CHILD_SA that is whoever sent the request, not the IKE SA's
	 * initiator: a Child SA rekeyed by the IKE SA's responder has its keys the other way).
	 */
	const struct secret *ek_out = c->initiator ? &c->keys.encr_i : &c->keys.encr_r;
	const struct secret *ik_out = c->initiator ? &c->keys.integ_i : &c->keys.integ_r;
	const struct secret *ek_in = c->initiator ? &c->keys.encr_r : &c->keys.encr_i;
	const struct secret *ik_in = c->initiator ? &c->keys.integ_r : &c->keys.integ_i;
	uint64_t life = s->child_lifetime_s;
	int rc;

	if (c->encr->aead) {
		out.aead = (struct xfrm_alg){ c->encr->kernel, ek_out->p, ek_out->len,
					      c->encr->icv_len * 8u };
	} else {
		out.encr = (struct xfrm_alg){ c->encr->kernel, ek_out->p, ek_out->len, 0 };
		if (c->integ)
			out.integ = (struct xfrm_alg){ c->integ->kernel, ik_out->p, ik_out->len,
						       c->integ->icv_len * 8u };
	}
	/* The kernel enforces the lifetime: a soft expiry starts a rekey, a hard one ends it. */
	out.lft.hard_add_s = life;
	/* ikd rekeys at child_rekey (jittered); the soft expiry is the backstop after it. */
	out.lft.soft_add_s = s->child_rekey_s && s->child_rekey_s < life ?
			     s->child_rekey_s + (life - s->child_rekey_s) / 4 : life * 9 / 10;
	kernel_addr(&t->local, &out.src);
	kernel_addr(&t->remote, &out.dst);
	/* Before the IKE SA is made (a gateway installs as it answers IKE_AUTH): the handshake's. */
	if (t->sock && t->sock->natt &&
	    (t->have_sa ? t->sa.k.nat_local || t->sa.k.nat_remote :
	     t->init && (t->init->nat_local || t->init->nat_remote))) {
		out.encap_sport = port_of(&t->local);
		out.encap_dport = port_of(&t->remote);
	}
	in = out;
	if (c->encr->aead) {
		in.aead.key = ek_in->p;
	} else {
		in.encr.key = ek_in->p;
		in.integ.key = c->integ ? ik_in->p : NULL;
	}
	in.src = out.dst;
	in.dst = out.src;
	in.encap_sport = out.encap_dport;
	in.encap_dport = out.encap_sport;
	out.spi = c->spi_out;
	in.spi = c->spi_in;
	/* Inbound first: the peer may send as soon as it has its half. One batch for both. */
	if (which & KERNEL_SA_IN)
		r[n++] = (struct ikd_kreq){ .sa = &in };
	if (which & KERNEL_SA_OUT)
		r[n++] = (struct ikd_kreq){ .sa = &out };
	rc = 0;
	if (n && kernel_batch(d, r, n, &e)) {
		/* both or neither: what went in comes out */
		for (size_t i = 0; i < n; i++) {
			if (r[i].result == 0)
				d->io->sa_delete(d->io_arg, &r[i].sa->dst, r[i].sa->spi, IPPROTO_ESP,
						 0, 0, NULL);
			else if (!refused)
				refused = r[i].sa, rc = r[i].result;
		}
	}
	if (rc < 0) {
		/* What this SA's family and suite need, not what the start-up probe's lacked. */
		const char *hint = xfrm_sa_missing_option(refused, rc, &e);

		snprintf(err, err_len, "kernel refused the Child SA: %s%s%s%s%s%s", strerror(-rc),
			 e.msg[0] ? " (" : "", e.msg, e.msg[0] ? ")" : "",
			 hint ? "; this kernel lacks " : "", hint ? hint : "");
	}
	return rc;
}

void kernel_child_remove(struct ikd *d, struct tunnel *t, const struct child *c)
{
	if (!c->installed)
		return;
	d->io->child_gone(d->io_arg, t, c, NULL);	/* its counters go with it */
	/* By the addresses it was installed with: the peer may have moved since (NAT). */
	d->io->sa_delete(d->io_arg, &c->addr_local, c->spi_in, IPPROTO_ESP, 0, 0, NULL);
	d->io->sa_delete(d->io_arg, &c->addr_remote, c->spi_out, IPPROTO_ESP, 0, 0, NULL);
}

/*
 * Stop sending on c (its Delete is going out): the outbound SA goes now, what it carried into
 * the site's counters; the inbound one stays until the peer answers (kernel_child_remove).
 */
void kernel_child_stop_out(struct ikd *d, struct tunnel *t, const struct child *c)
{
	if (!c->installed)
		return;
	d->io->child_out_gone(d->io_arg, t, c);
	d->io->sa_delete(d->io_arg, &c->addr_remote, c->spi_out, IPPROTO_ESP, 0, 0, NULL);
}

/* "10.1.0.0/24" into a selector half. */
int kernel_cidr_parse(const char *text, struct xfrm_addr *a, uint8_t *plen)
{
	char buf[SITE_ADDR_MAX + 4];
	char *slash;
	long n;

	snprintf(buf, sizeof(buf), "%s", text);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (xfrm_addr_parse(buf, a) < 0)
		return -EINVAL;
	n = slash ? strtol(slash + 1, NULL, 10) : (a->family == AF_INET ? 32 : 128);
	if (n < 0 || n > (a->family == AF_INET ? 32 : 128))
		return -EINVAL;
	*plen = (uint8_t)n;
	return 0;
}

/* Call fn for each (local, remote) selector pair of the site's configuration. */
static int for_each_pair(const struct site *s, int (*fn)(struct xfrm_sel *sel, void *arg),
			 void *arg)
{
	int rc = 0;

	for (size_t i = 0; i < s->n_local_ts; i++)
		for (size_t j = 0; j < s->n_remote_ts; j++) {
			struct xfrm_sel sel = { 0 };
			int r;

			if (kernel_cidr_parse(s->local_ts[i], &sel.src, &sel.src_plen) < 0 ||
			    kernel_cidr_parse(s->remote_ts[j], &sel.dst, &sel.dst_plen) < 0 ||
			    sel.src.family != sel.dst.family)
				continue;
			r = fn(&sel, arg);
			if (r < 0 && rc == 0)
				rc = r;
		}
	return rc;
}

struct pol_ctx {
	struct ikd *d;
	const struct site *s;		/* NULL: a gateway's Child SA policies going out */
	const struct tunnel *active;
	uint32_t reqid;
	bool remove;
	uint32_t if_id, mark, mark_mask;	/* the policies' keys */
};

static struct pol_ctx pol_ctx_of(struct ikd *d, const struct site *s, const struct tunnel *active,
				 uint32_t reqid, bool remove)
{
	return (struct pol_ctx){ .d = d, .s = s, .active = active, .reqid = reqid,
				 .remove = remove, .if_id = s->if_id, .mark = s->mark,
				 .mark_mask = s->mark_mask };
}

static void fill_policy(struct xfrm_policy *p, const struct xfrm_sel *sel, uint8_t dir,
			const struct pol_ctx *c)
{
	bool out = dir == XFRM_POLICY_OUT;

	memset(p, 0, sizeof(*p));
	p->dir = dir;
	p->sel = *sel;
	if (!out) {
		p->sel.src = sel->dst;
		p->sel.dst = sel->src;
		p->sel.src_plen = sel->dst_plen;
		p->sel.dst_plen = sel->src_plen;
	}
	p->if_id = c->if_id;
	/* The engineer's mark selects outbound traffic; what comes back carries none. */
	if (out && c->mark_mask) {
		p->mark = c->mark;
		p->mark_mask = c->mark_mask;
	}
	p->priority = IKD_POLICY_PRIORITY;
}

static int site_pair(struct xfrm_sel *sel, void *arg)
{
	const struct pol_ctx *c = arg;
	static const uint8_t dirs[] = { XFRM_POLICY_OUT, XFRM_POLICY_IN, XFRM_POLICY_FWD };
	struct xfrm_err e = { 0 };
	int rc = 0;

	for (size_t i = 0; i < sizeof(dirs); i++) {
		struct xfrm_policy p;
		int r;

		fill_policy(&p, sel, dirs[i], c);
		if (c->remove) {
			c->d->io->policy_delete(c->d->io_arg, &p, NULL);
			continue;
		}
		if (dirs[i] == XFRM_POLICY_OUT && !c->active) {
			/* Fail-closed: no usable POP, the traffic is dropped, never sent in clear. */
			p.action = XFRM_POLICY_BLOCK;
		} else {
			p.action = XFRM_POLICY_ALLOW;
			p.n_tmpls = 1;
			p.tmpl[0].proto = IPPROTO_ESP;
			p.tmpl[0].mode = XFRM_MODE_TUNNEL;
			p.tmpl[0].reqid = c->reqid;
			if (dirs[i] == XFRM_POLICY_OUT) {
				kernel_addr(&c->active->local, &p.tmpl[0].src);
				kernel_addr(&c->active->remote, &p.tmpl[0].dst);
			} else {
				/* From any of the site's POPs: the source is left open, the reqid
				 * says the SA is this site's. */
				p.tmpl[0].src.family = sel->src.family;
				p.tmpl[0].dst.family = sel->src.family;
				/*
				 * Steered by mark alone, the site's selectors may overlap the
				 * router's other traffic (remote-ts 0.0.0.0/0 beside direct
				 * Internet access): what comes back in clear, and what the
				 * router forwards towards the tunnel, must pass. With an if_id
				 * the policies see only their interface's traffic anyway.
				 */
				p.tmpl[0].optional = c->s->mark_mask && !c->s->if_id;
			}
		}
		/* XFRM_MSG_UPDPOLICY: an atomic replace, the switch at failover. */
		r = c->d->io->policy_add(c->d->io_arg, &p, true, &e);
		if (r < 0 && rc == 0) {
			rc = r;
			tlog_err(c->d, "site '%s': kernel refused a policy: %s%s%s", c->s->name,
				strerror(-r), e.msg[0] ? ": " : "", e.msg);
		}
	}
	return rc;
}

int kernel_probe_policy(struct ikd *d, const struct tunnel *t, bool remove)
{
	const struct tun_probe *pr = t->probe;
	struct xfrm_policy p;
	struct xfrm_err e = { 0 };
	int rc;

	memset(&p, 0, sizeof(p));
	p.dir = XFRM_POLICY_OUT;
	kernel_addr(&pr->src, &p.sel.src);
	kernel_addr(&pr->dst, &p.sel.dst);
	p.sel.src_plen = p.sel.dst_plen = pr->dst.sa.sa_family == AF_INET ? 32 : 128;
	p.sel.proto = pr->dst.sa.sa_family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
	p.mark = pr->mark;
	p.mark_mask = 0xffffffffu;
	p.priority = IKD_PROBE_PRIORITY;
	if (remove)
		return d->io->policy_delete(d->io_arg, &p, NULL);
	p.action = XFRM_POLICY_ALLOW;
	p.n_tmpls = 1;
	p.tmpl[0].proto = IPPROTO_ESP;
	p.tmpl[0].mode = XFRM_MODE_TUNNEL;
	p.tmpl[0].reqid = t->reqid;
	kernel_addr(&t->local, &p.tmpl[0].src);
	kernel_addr(&t->remote, &p.tmpl[0].dst);
	rc = d->io->policy_add(d->io_arg, &p, true, &e);
	if (rc < 0)
		tlog_err(t->d, "site '%s' pop '%s': kernel refused the probe's policy: %s%s%s", t->site,
			t->pop, strerror(-rc), e.msg[0] ? ": " : "", e.msg);
	return rc;
}

int kernel_site_policies(struct ikd *d, const struct site *s, const struct tunnel *active)
{
	struct pol_ctx c = pol_ctx_of(d, s, active, kernel_reqid(d, s), false);

	return for_each_pair(s, site_pair, &c);
}

/* Is the selector pair sel (one of old's) also one of now's, with the same mark and if_id? */
static bool pair_kept(const struct xfrm_sel *sel, const struct site *old, const struct site *now)
{
	if (old->mark != now->mark || old->mark_mask != now->mark_mask || old->if_id != now->if_id)
		return false;
	for (size_t i = 0; i < now->n_local_ts; i++)
		for (size_t j = 0; j < now->n_remote_ts; j++) {
			struct xfrm_sel n = { 0 };

			if (kernel_cidr_parse(now->local_ts[i], &n.src, &n.src_plen) == 0 &&
			    kernel_cidr_parse(now->remote_ts[j], &n.dst, &n.dst_plen) == 0 &&
			    n.src_plen == sel->src_plen && n.dst_plen == sel->dst_plen &&
			    n.src.family == sel->src.family &&
			    !memcmp(&n.src.a, &sel->src.a, sizeof(n.src.a)) &&
			    !memcmp(&n.dst.a, &sel->dst.a, sizeof(n.dst.a)))
				return true;
		}
	return false;
}

struct change_ctx {
	struct pol_ctx c;
	const struct site *now;
};

static int drop_if_gone(struct xfrm_sel *sel, void *arg)
{
	struct change_ctx *cc = arg;

	return pair_kept(sel, cc->c.s, cc->now) ? 0 : site_pair(sel, &cc->c);
}

int kernel_site_policies_change(struct ikd *d, const struct site *old, const struct site *now)
{
	struct change_ctx cc = { pol_ctx_of(d, old, NULL, kernel_reqid(d, old), true), now };
	struct pol_ctx block = pol_ctx_of(d, now, NULL, kernel_reqid(d, now), false);
	int rc;

	/* The new record's policies first (blocking until a tunnel is up: an atomic update
	 * where the selectors stay), then the old ones it no longer has: no gap at any time. */
	rc = for_each_pair(now, site_pair, &block);
	for_each_pair(old, drop_if_gone, &cc);
	return rc;
}

void kernel_site_policies_remove(struct ikd *d, const struct site *s)
{
	struct pol_ctx c = pol_ctx_of(d, s, NULL, kernel_reqid(d, s), true);

	for_each_pair(s, site_pair, &c);
}

/* An IKE selector that is one CIDR, as a kernel selector half. */
static bool ts_prefix(const struct ike_ts *ts, struct xfrm_addr *a, uint8_t *plen)
{
	size_t n = ts->type == IKE_TS_IPV4_ADDR_RANGE ? 4 : 16;
	unsigned bits = 0;
	size_t i;

	memset(a, 0, sizeof(*a));
	a->family = n == 4 ? AF_INET : AF_INET6;
	for (i = 0; i < n; i++) {
		uint8_t diff = ts->start[i] ^ ts->end[i];

		if (diff == 0 && bits == i * 8) {
			bits += 8;
			continue;
		}
		/* diff must be 0..01..1 with start's low bits 0 and end's 1 */
		if ((diff & (diff + 1)) != 0 || (ts->start[i] & diff) != 0)
			return false;
		bits = (unsigned)(i * 8) + 8 - (unsigned)__builtin_popcount(diff);
		for (size_t j = i + 1; j < n; j++)
			if (ts->start[j] != 0 || ts->end[j] != 0xff)
				return false;
		break;
	}
	memcpy(&a->a, ts->start, n);
	*plen = (uint8_t)bits;
	return true;
}

#define POL_BATCH 12	/* policies a batch: four selector pairs, three directions each */

/* The policies gathered so far in one batch; the first refusal logged. */
static int policies_flush(struct ikd *d, struct tunnel *t, struct ikd_kreq *r, size_t *n)
{
	struct xfrm_err e;
	int rc = 0;

	if (*n && kernel_batch(d, r, *n, &e)) {
		rc = e.code ? e.code : -EIO;
		tlog_err(t->d, "site '%s': kernel refused a policy: %s%s%s", t->site, strerror(-rc),
			 e.msg[0] ? ": " : "", e.msg);
	}
	*n = 0;
	return rc;
}

int kernel_child_policies(struct ikd *d, struct tunnel *t, const struct child *ch,
			  const struct site *s, bool remove)
{
	struct pol_ctx c = { .d = d, .s = s, .active = t, .reqid = t->reqid, .remove = remove };
	struct xfrm_policy ps[POL_BATCH];
	struct ikd_kreq r[POL_BATCH];
	size_t n = 0;
	int rc = 0, rr;

	/*
	 * Removed with the keys they went in with: the site may be gone by now (deleted) or
	 * carry other keys (edited).
	 */
	if (!remove) {
		t->pol_if_id = s->if_id;
		t->pol_mark = s->mark;
		t->pol_mark_mask = s->mark_mask;
	}
	c.if_id = t->pol_if_id;
	c.mark = t->pol_mark;
	c.mark_mask = t->pol_mark_mask;

	for (uint8_t i = 0; i < ch->n_ts_local; i++)
		for (uint8_t j = 0; j < ch->n_ts_remote; j++) {
			struct xfrm_sel sel = { 0 };
			static const uint8_t dirs[] = { XFRM_POLICY_OUT, XFRM_POLICY_IN,
							XFRM_POLICY_FWD };
			const struct ike_ts *l = &child_ts(ch)[i];
			const struct ike_ts *rt = &child_ts(ch)[ch->n_ts_local + j];

			if (l->type != rt->type || !ts_prefix(l, &sel.src, &sel.src_plen) ||
			    !ts_prefix(rt, &sel.dst, &sel.dst_plen)) {
				tlog_warn(t->d, "site '%s': a selector that is not one prefix is not "
					 "installed", t->site);
				continue;
			}
			if (l->ip_proto == rt->ip_proto)
				sel.proto = l->ip_proto;
			for (size_t k = 0; k < sizeof(dirs); k++) {
				struct xfrm_policy *p = &ps[n];
				bool out = dirs[k] == XFRM_POLICY_OUT;

				fill_policy(p, &sel, dirs[k], &c);
				if (remove) {
					d->io->policy_delete(d->io_arg, p, NULL);
					continue;
				}
				p->action = XFRM_POLICY_ALLOW;
				p->n_tmpls = 1;
				p->tmpl[0].proto = IPPROTO_ESP;
				p->tmpl[0].mode = XFRM_MODE_TUNNEL;
				p->tmpl[0].reqid = t->reqid;
				kernel_addr(out ? &t->local : &t->remote, &p->tmpl[0].src);
				kernel_addr(out ? &t->remote : &t->local, &p->tmpl[0].dst);
				r[n] = (struct ikd_kreq){ .policy = p, .update = true };
				if (++n == POL_BATCH) {
					rr = policies_flush(d, t, r, &n);
					rc = rc ?: rr;
				}
			}
		}
	rr = policies_flush(d, t, r, &n);
	return rc ?: rr;
}
