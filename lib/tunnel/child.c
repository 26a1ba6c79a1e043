/* Child SAs: into the kernel and the tunnel, our requests one at a time, kernel events. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "ike/fragment.h"
#include "ike/proposal.h"
#include "ike/sk_msg.h"
#include "ike/ts.h"
#include "site/choose.h"
#include "tunnel/tunnel_int.h"

/* ---- established IKE SAs ---- */

uint32_t tun_spi_map(void *arg, uint32_t peer_spi)
{
	struct tunnel *t = arg;

	for (size_t i = 0; i < t->n_children; i++)
		if (t->children[i].spi_out == peer_spi)
			return t->children[i].spi_in;
	return 0;
}

bool tun_same_ts(const struct child *a, const struct child *b)
{
	return a->n_ts_local == b->n_ts_local && a->n_ts_remote == b->n_ts_remote &&
	       !memcmp(child_ts(a), child_ts(b),
		       (a->n_ts_local + a->n_ts_remote) * sizeof(struct ike_ts));
}

/* Remove a Child SA (by our inbound or the peer's SPI) from the kernel and the tunnel. */
void tun_child_forget(struct tunnel *t, uint32_t spi, bool by_in)
{
	for (size_t i = 0; i < t->n_children; i++) {
		struct child *c = &t->children[i];
		bool shared = false;

		if ((by_in ? c->spi_in : c->spi_out) != spi)
			continue;
		/* The SA that replaced it is confirmed: the peer deleting the old one has it. */
		for (size_t j = 0; j < t->n_children; j++)
			if (t->children[j].replaces == c->spi_in)
				t->children[j].replaces = 0;
		/* Held-back halves: the SA's own is dropped, the one that waited for it goes in. */
		for (size_t k = 0; k < t->n_pend; k++) {
			if (t->pend[k].c.spi_in == c->spi_in)
				tun_pend_drop(t, k--);
			else if (t->pend[k].old_spi_in == c->spi_in)
				tun_pend_install(t, k--);
		}
		kernel_child_remove(t->d, t, c);
		/* A responder's policies follow the selectors; a rekeyed twin still uses them. */
		for (size_t j = 0; j < t->n_children; j++)
			if (j != i && tun_same_ts(c, &t->children[j]))
				shared = true;
		if (!t->initiator && !shared)
			kernel_child_policies(t->d, t, c, NULL, true);
		tun_child_unlist(t, i);
		/*
		 * The last one gone from an IKE SA that stays (the peer deleted it, or refused
		 * our rekey of it: CHILD_SA_NOT_FOUND): an edge router asks for a new one.
		 */
		if (!t->n_children && t->state == TUN_UP && !t->child_retry_at_ms)
			tun_child_retry_later(t);
		return;
	}
}

struct child *tun_child_by_in(struct tunnel *t, uint32_t spi_in)
{
	for (size_t i = 0; i < t->n_children; i++)
		if (t->children[i].spi_in == spi_in)
			return &t->children[i];
	return NULL;
}

/*
 * Is c ours to rekey now? Not while a rekey of it is out or queued, and not while it came from
 * the peer's rekey that the peer has not shown to have completed (its outbound half held back):
 * until our answer gets there the peer does not know the Child SA, would refuse its rekey with
 * CHILD_SA_NOT_FOUND, and we would drop the very SA the peer then moves to. The rekey tick
 * rekeys it once its outbound half is in.
 */
bool tun_may_rekey(const struct tunnel *t, const struct child *c)
{
	if (!c->installed || c->rekeying || c->replaces || c->of_old_ike)
		return false;
	for (size_t k = 0; k < t->n_pend; k++)
		if (t->pend[k].c.spi_in == c->spi_in)
			return false;
	return true;
}

/* Has the peer's rekey of c made a Child SA that is to replace it (c is the peer's to delete)? */
bool tun_child_replaced(const struct tunnel *t, const struct child *c)
{
	for (size_t j = 0; j < t->n_children; j++)
		if (t->children[j].replaces == c->spi_in)
			return true;
	return false;
}

/* Install a held-back outbound half now (the old SA is gone, or time is up). */
void tun_pend_install(struct tunnel *t, size_t i)
{
	struct pending_out *p = &t->pend[i];
	const struct site *s = ikd_site(t->d, t->site);
	char err[256];

	struct child *c = tun_child_by_in(t, p->c.spi_in);
	uint32_t spi_in = p->c.spi_in;
	bool failed = s && kernel_child_install(t->d, t, &p->c, s, KERNEL_SA_OUT, err,
						sizeof(err)) < 0;

	if (!failed && c)
		kernel_addr(&t->remote, &c->addr_remote);	/* the peer may have moved since */
	if (c)
		c->out_held = false;
	ike_child_clear(&p->c);
	t->pend[i] = t->pend[--t->n_pend];
	if (failed && c) {
		/*
		 * Inbound only, and the old SA it replaced is gone: it carries nothing out. It
		 * goes (at the peer too) and the tunnel asks for a new one, as when the kernel
		 * refuses a Child SA at IKE_AUTH; meanwhile the site moves to another POP.
		 */
		tlog_err(t->d, "site '%s': %s: Child SA %08x has no outbound half: deleted, a new one "
			"asked for", t->site, err, spi_in);
		tun_child_forget(t, spi_in, true);
		tun_enqueue(t, REQ_DELETE_CHILD, spi_in);
		if (t->initiator)
			tun_site_reevaluate(t->d, s);
	} else if (failed) {
		tlog_err(t->d, "site '%s': %s", t->site, err);
	}
}

void tun_pend_drop(struct tunnel *t, size_t i)
{
	struct child *c = tun_child_by_in(t, t->pend[i].c.spi_in);

	if (c)
		c->out_held = false;
	ike_child_clear(&t->pend[i].c);
	t->pend[i] = t->pend[--t->n_pend];
}

/*
 * Record c and put it into the kernel; when old_spi_in is set (the peer's rekey of that SA)
 * its outbound half is held back, if there is room to hold it, until the peer shows it has our
 * answer (tun_child_hold_out()). 0, or -errno with err saying why (nothing is left of it then).
 */
int tun_child_install_new(struct tunnel *t, const struct ike_child *c, uint32_t old_spi_in,
			  char *err, size_t err_len)
{
	struct ikd *d = t->d;
	const struct site *s = ikd_site(d, t->site);
	bool hold = old_spi_in && t->n_pend < TUN_PENDING_OUT_MAX;
	struct child *ch;
	int rc;

	if (!s || t->n_children == IKD_MAX_CHILDREN) {
		snprintf(err, err_len, "%s", s ? "no room for another Child SA" : "the site is gone");
		return -ENOSPC;
	}
	if (hold && !t->pend && !(t->pend = calloc(TUN_PENDING_OUT_MAX, sizeof(*t->pend))))
		hold = false;
	if (!tun_child_record(t, c)) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	rc = kernel_child_install(d, t, c, s, hold ? KERNEL_SA_IN : KERNEL_SA_IN | KERNEL_SA_OUT, err,
				  err_len);
	if (rc < 0) {
		tun_child_unlist(t, t->n_children - 1);	/* not there: not counted, not shown */
		return rc;
	}
	ch = &t->children[t->n_children - 1];
	ch->installed = true;
	ch->replaces = old_spi_in;
	ch->out_held = hold;
	if (!t->initiator)
		kernel_child_policies(d, t, ch, s, false);
	return 0;
}

/*
 * The outbound half of the peer's Child SA rekey waits (c's keys are taken): until the peer
 * deletes the old SA (its next request once it has our answer), it may not have the new one,
 * and switching now would send into a black hole for as long as our answer is lost and
 * retransmitted. The old SA still works at the peer meanwhile; a peer that never deletes it
 * gets the new half after the window in which it could still be retransmitting (or when the
 * old SA expires).
 */
void tun_child_hold_out(struct tunnel *t, struct ike_child *c, uint32_t old_spi_in)
{
	struct child *ch = tun_child_by_in(t, c->spi_in);
	struct pending_out *p;

	if (!ch || !ch->out_held || !t->pend || t->n_pend == TUN_PENDING_OUT_MAX)
		return;
	p = &t->pend[t->n_pend++];
	p->c = *c;
	memset(c, 0, sizeof(*c));	/* the keys are ours now */
	p->old_spi_in = old_spi_in;
	p->deadline_ms = ikd_now(t->d) + tun_peer_window_ms(t);
	tun_wake(t, p->deadline_ms);
}

/* A Child SA from our own CREATE_CHILD_SA, answered: into the kernel and the tunnel. */
bool tun_child_add(struct tunnel *t, struct ike_child *c)
{
	char err[256], peer[80];

	if (tun_child_install_new(t, c, 0, err, sizeof(err)) < 0) {
		tlog_err(t->d, "site '%s' %s: %s", t->site, tun_peer_str(t, peer, sizeof(peer)), err);
		tunnel_error(t, err);
		return false;
	}
	return true;
}

/*
 * ike_cc_cfg.install: the peer's new Child SA goes into the kernel before we answer, so that
 * we never tell the peer of one the kernel refused (it hears NO_PROPOSAL_CHOSEN, or
 * TEMPORARY_FAILURE for a rekey, and the IKE SA goes on).
 */
int tun_cc_install(void *arg, const struct ike_child *c, uint32_t old_spi_in)
{
	struct tunnel *t = arg;
	char err[256], peer[80];
	int rc = tun_child_install_new(t, c, old_spi_in, err, sizeof(err));

	if (rc < 0) {
		tlog_err(t->d, "site '%s' %s: %s; the peer's %s is refused", t->site,
			tun_peer_str(t, peer, sizeof(peer)), err,
			old_spi_in ? "Child SA rekey" : "new Child SA");
		tunnel_error(t, err);
		return rc;
	}
	t->cb_spi_in = c->spi_in;
	return 0;
}

/* ---- our requests, one at a time ---- */

/*
 * Queue a request (once: one already out or queued counts). false when the queue is full:
 * the caller tries again later (a rekey on the next tick), nothing is lost for good.
 */
bool tun_enqueue(struct tunnel *t, uint8_t kind, uint32_t spi)
{
	if (t->inflight == kind && t->inflight_spi == spi)
		return true;
	for (size_t i = 0; i < t->n_queue; i++)
		if (t->queue[i].kind == kind && t->queue[i].spi == spi)
			return true;
	if (t->n_queue == TUN_QUEUE_MAX)
		return false;
	t->queue[t->n_queue].kind = kind;
	t->queue[t->n_queue].spi = spi;
	t->n_queue++;
	return true;
}

const char *tun_req_name(uint8_t kind)
{
	switch (kind) {
	case REQ_DPD: return "liveness check";
	case REQ_REKEY_CHILD: return "Child SA rekey";
	case REQ_REKEY_IKE: return "IKE SA rekey";
	case REQ_DELETE_CHILD: return "Child SA delete";
	case REQ_CREATE_CHILD: return "Child SA";
	case REQ_DELETE_IKE: return "IKE SA delete";
	}
	return "request";
}

static const char *event_name(enum ike_sa_event ev)
{
	switch (ev) {
	case IKE_SA_EV_REPLY: return "answered";
	case IKE_SA_EV_RESENT: return "a retransmission: answered again";
	case IKE_SA_EV_ANSWERED: return "our request answered";
	case IKE_SA_EV_DELETED: return "IKE SA deleted";
	case IKE_SA_EV_CHILD_CREATED: return "Child SA created";
	case IKE_SA_EV_CHILD_REKEYED: return "Child SA rekeyed";
	case IKE_SA_EV_IKE_REKEYED: return "IKE SA rekeyed";
	case IKE_SA_EV_CC_REFUSED: return "CREATE_CHILD_SA refused";
	}
	return "nothing";
}

/* At debug level: each authenticated message and what it did (where ikd's logs go quiet). */
void tun_log_received(const struct tunnel *t, const char *which, const uint8_t *buf, size_t len,
		      enum ike_sa_event ev)
{
	struct ike_header h;
	char peer[80];

	if (!tlog_enabled(t->d, LOG_DEBUG) || ike_header_decode(buf, len, &h, NULL) < 0)
		return;
	tlog_debug(t->d, "site '%s' %s: %s%s %s %u: %s", t->site, tun_peer_str(t, peer, sizeof(peer)), which,
		  ike_exchange_name(h.exchange), h.flags & IKE_FLAG_RESPONSE ? "response" : "request",
		  h.msg_id, event_name(ev));
}

/* Forget a queued request that no longer has a purpose (not one already sent). */
void tun_dequeue(struct tunnel *t, uint8_t kind, uint32_t spi)
{
	size_t kept = 0;

	for (size_t i = 0; i < t->n_queue; i++)
		if (t->queue[i].kind != kind || t->queue[i].spi != spi)
			t->queue[kept++] = t->queue[i];
	t->n_queue = kept;
}

void tun_kick(struct tunnel *t)
{
	struct ikd *d = t->d;

	if (t->farewell) {
		/* the Delete of the IKE SA, as soon as the window is free, and nothing else */
		if (!t->have_sa || t->sa.waiting || t->inflight == REQ_DELETE_IKE)
			return;
		t->sa.closing = true;
		t->state = TUN_DELETING;
		t->tries = 0;
		if (ike_sa_delete_request(&t->sa, &d->out) < 0) {
			/* not to be built: retx_fire() gives up on it at once */
			t->tries = d->conf.retransmit_tries;
			timer_arm(d->timers, &t->t_retx, ikd_now(d));
			return;
		}
		t->inflight = REQ_DELETE_IKE;
		t->inflight_spi = 0;
		tun_send_msg(t, &d->out);
		tlog_debug(t->d, "site '%s': IKE SA delete sent, message %u", t->site,
			   t->sa.next_req - 1);
		tun_arm_retx(t);
		return;
	}

	while (t->state == TUN_UP && t->have_sa && !t->sa.waiting && t->n_queue) {
		uint8_t kind = t->queue[0].kind;
		uint32_t spi = t->queue[0].spi;
		struct ike_child_cfg child;
		struct child *c;
		int rc = -ENOENT;

		memmove(t->queue, t->queue + 1, --t->n_queue * sizeof(t->queue[0]));
		switch (kind) {
		case REQ_DPD:
			rc = ike_sa_dpd_request(&t->sa, &d->out);
			break;
		case REQ_REKEY_CHILD:
			c = tun_child_by_in(t, spi);
			if (c && tun_child_cfg_of(t, ikd_site(d, t->site), &child) == 0)
				rc = ike_sa_rekey_child_request(&t->sa, &child, t->pfs_group,
								tun_new_spi(d), spi, &d->out);
			break;
		case REQ_REKEY_IKE:
			rc = ike_sa_rekey_ike_request(&t->sa, &t->props->ike, t->ike_group, &d->out);
			break;
		case REQ_CREATE_CHILD:
			if (!t->n_children && tun_child_cfg_of(t, ikd_site(d, t->site), &child) == 0)
				rc = ike_sa_create_child_request(&t->sa, &child, t->pfs_group,
								 tun_new_spi(d), &d->out);
			break;
		case REQ_DELETE_CHILD:
			rc = ike_sa_delete_child_request(&t->sa, &spi, 1, &d->out);
			/*
			 * Nothing more goes out on it: the peer removes its inbound half as it
			 * answers (a redundant SA of a rekey collision is the newest, the
			 * one the kernel would keep sending on until our Delete is answered).
			 */
			if (rc == 0 && (c = tun_child_by_in(t, spi))) {
				for (size_t k = 0; k < t->n_pend; k++)
					if (t->pend[k].c.spi_in == spi)
						tun_pend_drop(t, k--);
				kernel_child_stop_out(d, t, c);
			}
			break;
		}
		if (rc < 0) {
			if (rc != -ENOENT)
				tlog_warn(t->d, "site '%s': cannot build a request: %s", t->site, strerror(-rc));
			continue;
		}
		t->inflight = kind;
		t->inflight_spi = spi;
		t->tries = 0;
		tun_send_msg(t, &d->out);
		tlog_debug(t->d, "site '%s': %s %08x sent, message %u", t->site, tun_req_name(kind), spi,
			  t->sa.next_req - 1);
		tun_arm_retx(t);
	}
}

/*
 * t's IKE SA is about to go with t (reset or freed): it is deleted at the peer. Now, when the
 * window is free; with a request of ours out on it (a window of one, RFC 7296 §2.3), by a
 * tunnel of its own, of no site, that takes the IKE SA over, waits for that answer (sending
 * the request again as t would have), sends the Delete and goes when it is answered or its
 * retransmissions end. Before, the Delete was skipped then, and a POP that checks no liveness
 * (strongSwan's default) kept the IKE SA and its Child SAs.
 */
void tun_farewell(struct tunnel *t)
{
	struct ikd *d = t->d;
	struct tunnel *f;

	if (t->state != TUN_UP || !t->have_sa || t->farewell)
		return;
	if (!t->sa.waiting) {
		if (ike_sa_delete_request(&t->sa, &d->out) == 0)
			tun_send_msg(t, &d->out);
		return;
	}
	/*
	 * A request out for a whole retransmission budget (a liveness check goes on past it,
	 * the peer declared dead by time): the peer will not hear a Delete either.
	 */
	if (d->stopping || t->tries >= d->conf.retransmit_tries ||
	    !(f = tunnel_new(d, t->initiator, t->site, t->pop)))
		return;
	tix_site_unlink(d, f);		/* no site's: nothing a site does finds it */
	f->farewell = true;
	f->orphan = true;
	f->state = TUN_DELETING;
	f->sock = t->sock;
	f->remote = t->remote;
	f->local = t->local;
	f->props = t->props;		/* what f->cc names stays while f does */
	if (f->props)
		f->props->refs++;
	f->cc = t->cc;
	f->cc.install = NULL;		/* it takes no Child SA (closing refuses them anyway) */
	tix_ours_del(d, t);
	f->sa = t->sa;
	memset(&t->sa, 0, sizeof(t->sa));
	t->have_sa = false;
	f->have_sa = true;
	f->sa.cc_cfg = &f->cc;
	f->sa.closing = true;
	tix_ours_add(d, f, tun_sa_spi_ours(&f->sa));
	f->inflight = t->inflight;
	f->inflight_spi = t->inflight_spi;
	f->tries = t->tries;
	f->last_heard_ms = t->last_heard_ms;
	tun_arm_retx(f);
	tlog_debug(d, "site '%s': the IKE SA's Delete waits for the answer to our %s", f->site,
		   tun_req_name(f->inflight));
}

/* Our request was answered (whatever the answer): the next one may go. */
void tun_answered(struct tunnel *t)
{
	timer_cancel(t->d->timers, &t->t_retx);
	t->tries = 0;
	t->inflight = 0;
}

/* ---- kernel events ---- */

static struct tunnel *tunnel_by_child(struct ikd *d, uint32_t spi, size_t *ret_idx)
{
	return tix_child_find(d, spi, ret_idx);
}

void ikd_kernel_event(const struct xfrm_event *e, void *arg)
{
	struct ikd *d = arg;
	struct tunnel *t;
	struct child *c;
	size_t idx;

	if (e->type == XFRM_EVENT_MAPPING) {
		union net_addr moved = { 0 };
		char was[64], now[64];

		/* Raised by the kernel for ESP that decrypted: the peer's NAT mapping changed. */
		t = tunnel_by_child(d, e->spi, &idx);
		if (!t || e->new_addr.family != t->remote.sa.sa_family)
			return;
		moved.sa.sa_family = e->new_addr.family;
		if (e->new_addr.family == AF_INET)
			memcpy(&moved.in.sin_addr, &e->new_addr.a.a4, 4);
		else
			memcpy(&moved.in6.sin6_addr, e->new_addr.a.a6, 16);
		tun_set_port(&moved, e->new_port);
		if (net_addr_equal(&moved, &t->remote, true))
			return;
		tlog_notice(t->d, "site '%s': the kernel saw the peer move from %s to %s", t->site,
			   net_addr_str(&t->remote, was, sizeof(was)),
			   net_addr_str(&moved, now, sizeof(now)));
		t->remote = moved;
		tun_peer_moved(t);
		tun_kick(t);
		return;
	}
	if (e->type != XFRM_EVENT_EXPIRE || e->proto != IPPROTO_ESP)
		return;
	t = tunnel_by_child(d, e->spi, &idx);
	if (!t)
		return;
	c = &t->children[idx];
	if (e->hard) {
		uint32_t spi_in = c->spi_in, other;
		const struct xfrm_addr *other_dst;

		tlog_notice(t->d, "site '%s': Child SA %08x reached its lifetime", t->site, spi_in);
		d->io->child_gone(d->io_arg, t, c, e);
		/*
		 * The kernel removed the SA the event names, and only that one: the other half
		 * (installed later, or limited otherwise) is ours to remove.
		 */
		other_dst = e->spi == c->spi_in ? &c->addr_remote : &c->addr_local;
		other = e->spi == c->spi_in ? c->spi_out : c->spi_in;
		d->io->sa_delete(d->io_arg, other_dst, other, IPPROTO_ESP, 0, 0, NULL);
		c->installed = false;
		tun_child_forget(t, spi_in, true);
		if (t->n_children == 0) {
			tunnel_down(t, "the last Child SA expired");
			return;
		}
		tun_enqueue(t, REQ_DELETE_CHILD, spi_in);
		tun_kick(t);
	} else if (tun_may_rekey(t, c)) {
		/* The backstop: our own rekey should have come first. */
		tlog_info(t->d, "site '%s': Child SA %08x soft lifetime reached: rekeying", t->site,
			 c->spi_in);
		c->rekeying = tun_enqueue(t, REQ_REKEY_CHILD, c->spi_in);
		tun_kick(t);
	}
}
