/*
 * What comes due and what arrives on an established IKE SA: the tick that starts its rekeys
 * and ends it at its lifetime, Child SA and IKE SA rekeys with their collisions (RFC 7296
 * §2.8.1), the IKE SAs kept beside the current one while a rekey settles, and the daemon's
 * receive path that dispatches every datagram.
 */
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

/* ---- the tick: rekeys and what else comes due on an IKE SA ---- */

static uint64_t earlier(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/*
 * When the tunnel's tick runs next: at the earliest of its IKE SA's rekey and lifetime, the
 * Child SA asked for again, each held-back half's window, the settle time, the kept IKE_AUTH
 * answer, each Child SA's rekey; and while something due waits its turn (a full queue, a
 * rekey under way or that cannot be made yet), every REKEY_TICK_MS until it is done. A
 * tunnel does no work in between: 100,000 idle tunnels cost nothing (a fixed tick did).
 * Whatever sets one of these times sooner calls tun_wake().
 */
static uint64_t tick_next(const struct tunnel *t, const struct site *s, uint64_t now)
{
	uint64_t next = UINT64_MAX, poll = now + REKEY_TICK_MS;

	if (s->ike_lifetime_s)
		next = t->ike_created_ms + (uint64_t)s->ike_lifetime_s * 1000;
	next = earlier(next, t->ike_rekey_at_ms);
	if (t->child_retry_at_ms && !t->n_children)
		next = earlier(next, t->child_retry_at_ms);
	for (size_t i = 0; i < t->n_pend; i++)
		next = earlier(next, t->pend[i].deadline_ms);
	if (t->settle_at_ms)
		next = earlier(next, t->settle_at_ms);
	if (t->pending.len)
		next = earlier(next, t->ike_created_ms + PENDING_KEEP_MS);
	for (size_t i = 0; i < t->n_children; i++)
		next = earlier(next, t->children[i].rekey_at_ms);
	return next <= now ? poll : next;
}

void tun_wake(struct tunnel *t, uint64_t at_ms)
{
	uint64_t now = ikd_now(t->d);

	if (t->state != TUN_UP)
		return;
	if (at_ms < now)
		at_ms = now;
	if (!timer_armed(&t->t_rekey) || at_ms < t->t_rekey.deadline_ms)
		timer_arm(t->d->timers, &t->t_rekey, at_ms);
}

/* The rekeys that are due, and the IKE SA's hard lifetime: at the next time one is due. */
void tun_rekey_fire(struct timer *tm)
{
	struct tunnel *t = timer_owner(tm, struct tunnel, t_rekey);
	struct ikd *d = t->d;
	const struct site *s = ikd_site(d, t->site);
	uint64_t now = ikd_now(t->d);

	if (t->state != TUN_UP || !s)
		return;
	if (s->ike_lifetime_s && now - t->ike_created_ms >= (uint64_t)s->ike_lifetime_s * 1000) {
		tunnel_down(t, "the IKE SA reached its lifetime without a rekey");
		return;
	}
	if (now >= t->ike_rekey_at_ms && tun_enqueue(t, REQ_REKEY_IKE, 0))
		t->ike_rekey_at_ms = UINT64_MAX;
	if (t->child_retry_at_ms && now >= t->child_retry_at_ms && !t->n_children &&
	    tun_enqueue(t, REQ_CREATE_CHILD, 0))
		t->child_retry_at_ms = 0;
	for (size_t i = 0; i < t->n_pend; i++)
		if (now >= t->pend[i].deadline_ms)
			tun_pend_install(t, i--);
	tunnel_trim(t);
	if (t->settle_at_ms && now >= t->settle_at_ms && ike_sa_settle(&t->sa))
		t->settle_at_ms = 0;
	if (t->pending.buf && now - t->ike_created_ms >= PENDING_KEEP_MS)
		tun_pending_release(t);
	for (size_t i = 0; i < t->n_children; i++) {
		struct child *c = &t->children[i];

		if (now >= c->rekey_at_ms && tun_may_rekey(t, c))
			c->rekeying = tun_enqueue(t, REQ_REKEY_CHILD, c->spi_in);
	}
	tun_kick(t);
	if (t->state == TUN_UP)
		timer_arm(d->timers, &t->t_rekey, tick_next(t, s, now));
}

void tun_tick_start(struct tunnel *t)
{
	const struct site *s = ikd_site(t->d, t->site);
	uint64_t now = ikd_now(t->d);

	timer_arm(t->d->timers, &t->t_rekey, s ? tick_next(t, s, now) : now + REKEY_TICK_MS);
}

/* ---- IKE SAs beside the current one during a rekey ---- */

static void extras_arm(struct tunnel *t)
{
	uint64_t next = UINT64_MAX;

	for (size_t i = 0; i < t->n_extras; i++) {
		const struct extra_sa *e = &t->extras[i];

		if (e->expires_ms < next)
			next = e->expires_ms;
		if (e->ours_to_delete && e->next_retx_ms < next)
			next = e->next_retx_ms;
	}
	if (next != UINT64_MAX)
		timer_arm(t->d->timers, &t->t_extras, next);
	else
		timer_cancel(t->d->timers, &t->t_extras);
}

static void extra_drop(struct tunnel *t, size_t i)
{
	bool reauthed = t->extras[i].reauthed;

	tix_extra_del(t->d, t, t->extras[i].spi);
	ike_sa_clear(&t->extras[i].sa);
	t->extras[i] = t->extras[--t->n_extras];
	extras_arm(t);
	/* §1.4.1: an IKE SA deleted (or given up on) takes the Child SAs made under it along. */
	for (size_t k = t->n_children; reauthed && k-- > 0;)
		if (k < t->n_children && t->children[k].of_old_ike)
			tun_child_forget(t, t->children[k].spi_in, true);
}

/*
 * Keep sa (taken: *sa is emptied) beside the current one; ours_to_delete sends its Delete.
 * Its record, or NULL when there was no room (sa is gone then).
 */
struct extra_sa *tun_extra_add(struct tunnel *t, struct ike_sa *sa, bool ours_to_delete,
			       bool peer_new)
{
	struct ikd *d = t->d;
	struct extra_sa *e;
	uint64_t now = ikd_now(t->d);

	if (!t->extras)
		t->extras = calloc(TUN_EXTRA_MAX, sizeof(*t->extras));
	if (!t->extras) {
		ike_sa_clear(sa);
		return NULL;
	}
	if (t->n_extras == TUN_EXTRA_MAX)
		extra_drop(t, 0);
	if (tix_extra_add(d, t, tun_sa_spi_ours(sa)) < 0) {
		ike_sa_clear(sa);
		return NULL;
	}
	e = &t->extras[t->n_extras++];
	memset(e, 0, sizeof(*e));
	memcpy(e->spi, tun_sa_spi_ours(sa), IKE_SPI_LEN);
	e->sa = *sa;
	memset(sa, 0, sizeof(*sa));
	e->sa.cc_cfg = NULL;
	e->ours_to_delete = ours_to_delete;
	e->peer_new = peer_new;
	e->expires_ms = now + tun_peer_window_ms(t);
	if (ours_to_delete && !e->sa.waiting && ike_sa_delete_request(&e->sa, &d->out) == 0) {
		tun_send_msg(t, &d->out);
		e->next_retx_ms = now + d->conf.retransmit_base_ms;
	}
	extras_arm(t);
	return e;
}

void tun_extras_fire(struct timer *tm)
{
	struct tunnel *t = timer_owner(tm, struct tunnel, t_extras);
	struct ikd *d = t->d;
	uint64_t now = ikd_now(t->d);

	for (size_t i = 0; i < t->n_extras; i++) {
		struct extra_sa *e = &t->extras[i];

		if (now >= e->expires_ms) {
			extra_drop(t, i--);
			continue;
		}
		if (e->ours_to_delete && now >= e->next_retx_ms &&
		    ike_sa_retransmit(&e->sa, &d->out) == 0) {
			tun_send_msg(t, &d->out);
			e->tries++;
			e->next_retx_ms = now + ((uint64_t)d->conf.retransmit_base_ms << e->tries);
		}
	}
	extras_arm(t);
}

/* The current IKE SA becomes new_sa (taken); children stay (§1.3.2: they move with it). */
void tun_ike_switch(struct tunnel *t, struct ike_sa *new_sa, bool rekey)
{
	struct ikd *d = t->d;

	tix_ours_del(d, t);
	t->sa = *new_sa;
	memset(new_sa, 0, sizeof(*new_sa));
	t->sa.cc_cfg = &t->cc;
	tix_ours_add(d, t, tun_sa_spi_ours(&t->sa));
	t->ike_created_ms = ikd_now(t->d);
	t->ike_rekey_at_ms = tun_rekey_deadline(d, ikd_site(d, t->site), true);
	tun_wake(t, t->ike_rekey_at_ms);
	if (rekey) {
		t->rekeys_ike++;
		ikd_count(d, t->site, CTL_SM_IKE_REKEYS);
	}
	/*
	 * Requests that were queued go out on the new SA, but for a rekey of the IKE SA: it was
	 * for the SA just replaced, and the new one has its own deadline. A Delete of a Child SA
	 * still out on the old SA goes again on the new one (its answer on the old SA would not
	 * remove the Child SA here; the peer answers a second Delete with an empty one).
	 */
	tun_dequeue(t, REQ_REKEY_IKE, 0);
	if (t->inflight == REQ_DELETE_CHILD && t->n_queue < TUN_QUEUE_MAX) {
		memmove(t->queue + 1, t->queue, t->n_queue * sizeof(t->queue[0]));
		t->queue[0].kind = REQ_DELETE_CHILD;
		t->queue[0].spi = t->inflight_spi;
		t->n_queue++;
	}
	t->inflight = 0;
	timer_cancel(d->timers, &t->t_retx);
}

static struct extra_sa *extra_peer_new(struct tunnel *t)
{
	for (size_t i = 0; i < t->n_extras; i++)
		if (t->extras[i].peer_new)
			return &t->extras[i];
	return NULL;
}

/*
 * §2.8.1: the peer's new IKE SA, held while our colliding rekey was out, becomes the current
 * one: the peer won and deleted the old SA (old_deleted), or our rekey made no SA (refused),
 * and then the peer deletes the old one.
 */
static void adopt_peer_new(struct tunnel *t, struct extra_sa *pn, bool old_deleted)
{
	struct ike_sa peer_sa = pn->sa, cur;
	char peer[80];

	memset(&pn->sa, 0, sizeof(pn->sa));
	extra_drop(t, (size_t)(pn - t->extras));
	if (old_deleted) {
		ike_sa_clear(&t->sa);
	} else {
		cur = t->sa;
		memset(&t->sa, 0, sizeof(t->sa));
		tun_extra_add(t, &cur, false, false);
	}
	tun_ike_switch(t, &peer_sa, true);
	tlog_notice(t->d, "site '%s' %s: IKE SA rekeyed (by the peer, %s)", t->site,
		   tun_peer_str(t, peer, sizeof(peer)), old_deleted ? "its rekey won" : "ours refused");
	ikd_event(t->d, t->site, t->initiator ? t->pop : peer, "ike-rekeyed", "by the peer");
}

/* §2.8, §2.8.1: which IKE SA stays after a rekey, and who deletes what. */
static void on_ike_rekeyed(struct tunnel *t, struct ike_sa_rx *rx)
{
	struct extra_sa *pn = extra_peer_new(t);
	struct ike_sa cur;
	char peer[80];

	if (rx->initiator && rx->verdict == IKE_REKEY_LOST) {
		/* Ours is redundant: delete it; the peer's new SA (held) takes over. */
		tun_extra_add(t, &rx->new_sa, true, false);
		pn = extra_peer_new(t);
		if (pn) {
			struct ike_sa peer_sa = pn->sa;

			memset(&pn->sa, 0, sizeof(pn->sa));
			extra_drop(t, (size_t)(pn - t->extras));
			cur = t->sa;
			memset(&t->sa, 0, sizeof(t->sa));
			tun_extra_add(t, &cur, false, false);	/* the peer deletes the old one */
			tun_ike_switch(t, &peer_sa, true);
		}
	} else if (rx->initiator) {
		/* Ours stays (alone, or won): we delete the old SA; the peer deletes its new. */
		if (pn)
			pn->peer_new = false;
		cur = t->sa;
		memset(&t->sa, 0, sizeof(t->sa));
		tun_ike_switch(t, &rx->new_sa, true);
		tun_extra_add(t, &cur, true, false);
	} else if (rx->verdict == IKE_REKEY_PENDING) {
		tun_extra_add(t, &rx->new_sa, false, true);
		return;
	} else if (rx->verdict == IKE_REKEY_LOST) {
		/* Ours completed first and is current; the peer's new SA is the one that stays. */
		cur = t->sa;
		memset(&t->sa, 0, sizeof(t->sa));
		tun_ike_switch(t, &rx->new_sa, true);
		tun_extra_add(t, &cur, true, false);
	} else {
		/* The peer's rekey, no collision: the peer deletes the old SA. */
		cur = t->sa;
		memset(&t->sa, 0, sizeof(t->sa));
		tun_ike_switch(t, &rx->new_sa, true);
		tun_extra_add(t, &cur, false, false);
	}
	/* Whose SA stays: ours, unless the collision was lost (§2.8.1). */
	tlog_notice(t->d, "site '%s' %s: IKE SA rekeyed (%s)", t->site, tun_peer_str(t, peer, sizeof(peer)),
		   !rx->initiator ? (rx->verdict == IKE_REKEY_LOST ?
				      "by the peer, whose SA won the collision with ours" :
				     "by the peer") :
		   rx->verdict == IKE_REKEY_LOST ? "by the peer: our rekey collided with it and lost" :
		   rx->verdict == IKE_REKEY_WON ? "by us, collision won" : "by us");
	ikd_event(t->d, t->site, t->initiator ? t->pop : peer, "ike-rekeyed", "by %s",
		  rx->initiator && rx->verdict != IKE_REKEY_LOST ? "us" : "the peer");
}

static void on_child_event(struct tunnel *t, struct ike_sa_rx *rx)
{
	uint32_t spi_in, spi_out;
	char peer[80];

	tun_peer_str(t, peer, sizeof(peer));
	if (rx->event == IKE_SA_EV_CHILD_CREATED) {
		/* The peer's was installed before we answered (tun_cc_install). */
		if (rx->initiator ? tun_child_add(t, &rx->child) : !!tun_child_by_in(t, rx->child.spi_in)) {
			tlog_notice(t->d, "site '%s' %s: Child SA added (%s, spi in %08x out %08x)", t->site,
				   peer, rx->child.encr->name, rx->child.spi_in, rx->child.spi_out);
			if (t->n_children == 1) {
				tunnel_error(t, NULL);
				tun_child_first(t);
			}
		} else if (rx->initiator) {
			tun_enqueue(t, REQ_DELETE_CHILD, rx->child.spi_in);	/* the peer has it */
			if (!t->n_children)
				tun_child_retry_later(t);
		}
		return;
	}
	spi_in = rx->child.spi_in;
	spi_out = rx->child.spi_out;
	/* A rekey: the new Child SA goes in before anything old goes out; when the peer
	 * started it, our new outbound half waits until the peer deletes the old SA. */
	if (rx->initiator && !tun_child_add(t, &rx->child)) {
		/*
		 * Our kernel refused the new Child SA of our rekey: the old one carries on (it is
		 * not deleted), the peer's copy of the new one goes (our Delete), and the rekey is
		 * tried again later.
		 */
		struct child *old = tun_child_by_in(t, rx->old_spi_in);

		tlog_warn(t->d, "site '%s' %s: Child SA %08x not rekeyed: the new one is deleted at the "
			 "peer, the old one kept and rekeyed again in %d s", t->site, peer,
			 rx->old_spi_in, REKEY_RETRY_S);
		/* (a lost collision: the peer's new SA replaces it, as below) */
		if (old && rx->verdict != IKE_REKEY_LOST) {
			old->rekeying = false;
			old->rekey_at_ms = ikd_now(t->d) + REKEY_RETRY_S * 1000 +
					   randombytes_uniform(5000);
			tun_wake(t, old->rekey_at_ms);
		}
		tun_enqueue(t, REQ_DELETE_CHILD, spi_in);
		return;
	}
	if (!rx->initiator)
		tun_child_hold_out(t, &rx->child, rx->old_spi_in);
	t->rekeys_child++;
	ikd_count(t->d, t->site, CTL_SM_CHILD_REKEYS);
	tlog_notice(t->d, "site '%s' %s: Child SA %08x rekeyed by %s: spi in %08x out %08x%s", t->site, peer,
		   rx->old_spi_in, rx->initiator ? "us" : "the peer", spi_in, spi_out,
		   rx->verdict == IKE_REKEY_LOST ? " (redundant, deleted)" :
		   rx->verdict == IKE_REKEY_WON ? " (collision won)" : "");
	ikd_event(t->d, t->site, t->initiator ? t->pop : peer, "child-rekeyed",
		  "%08x replaced by %08x, by %s", rx->old_spi_in, spi_in,
		  rx->initiator ? "us" : "the peer");
	if (rx->initiator) {
		struct child *old = tun_child_by_in(t, rx->old_spi_in);

		/*
		 * Our rekey lost a collision (§2.8.1): the peer's new SA replaces the old one and
		 * the peer deletes it; until then it is not ours to rekey again (that would make a
		 * second pair that neither end deletes).
		 */
		if (old)
			old->rekeying = rx->verdict == IKE_REKEY_LOST;
		tun_enqueue(t, REQ_DELETE_CHILD, rx->verdict == IKE_REKEY_LOST ? spi_in :
			    rx->old_spi_in);
	} else if (rx->verdict == IKE_REKEY_LOST && rx->ours_spi_in) {
		tun_enqueue(t, REQ_DELETE_CHILD, rx->ours_spi_in);
	} else if (rx->verdict == IKE_REKEY_ALONE) {
		/* The peer replaced the old SA and deletes it: it is not ours to rekey any more. */
		struct child *old = tun_child_by_in(t, rx->old_spi_in);

		if (old)
			old->rekeying = true;
		tun_dequeue(t, REQ_REKEY_CHILD, rx->old_spi_in);
	}
}

static void on_cc_refused(struct tunnel *t, struct ike_sa_rx *rx, uint8_t kind, uint32_t spi)
{
	struct child *c = kind == REQ_REKEY_CHILD ? tun_child_by_in(t, spi) : NULL;
	char peer[80];

	tlog_warn(t->d, "site '%s' %s: %s refused: %s", t->site, tun_peer_str(t, peer, sizeof(peer)),
		 kind == REQ_REKEY_IKE ? "IKE SA rekey" : kind == REQ_CREATE_CHILD ? "Child SA" :
		 "Child SA rekey", rx->notify ? ike_notify_name(rx->notify) : "an answer we cannot use");
	if (kind == REQ_CREATE_CHILD) {
		char why[120];

		if (!rx->notify && rx->child.spi_in)
			tun_enqueue(t, REQ_DELETE_CHILD, rx->child.spi_in);
		snprintf(why, sizeof(why), "the POP refused the Child SA: %s",
			 rx->notify ? ike_notify_name(rx->notify) : "an answer we cannot use");
		tunnel_error(t, why);
		if (!t->n_children)
			tun_child_retry_later(t);
		return;
	}
	if (kind == REQ_REKEY_IKE && extra_peer_new(t)) {
		/* The peer's rekey collided with ours, which made no SA: the peer's stands. */
		adopt_peer_new(t, extra_peer_new(t), false);
		return;
	}
	if (rx->notify == IKE_N_INVALID_KE_PAYLOAD && rx->notify_group) {
		if (kind == REQ_REKEY_IKE)
			t->ike_group = rx->notify_group;
		else
			t->pfs_group = rx->notify_group;
		tun_enqueue(t, kind, spi);
		return;
	}
	if (rx->notify == IKE_N_CHILD_SA_NOT_FOUND && c) {
		tun_child_forget(t, spi, true);
		return;
	}
	if (!rx->notify && rx->child.spi_in)
		tun_enqueue(t, REQ_DELETE_CHILD, rx->child.spi_in);
	/*
	 * TEMPORARY_FAILURE and the rest: the rekey tick tries again, a Child SA's at once, the IKE
	 * SA's after 2 to 5 s: the peer refuses it while an exchange of its own is out (§2.25),
	 * which under loss may take seconds; the jitter keeps two ends from refusing each other.
	 */
	if (c && tun_child_replaced(t, c)) {
		/*
		 * The peer rekeyed it meanwhile (its request crossed ours, and we answered it): the
		 * peer's new SA stands and the peer deletes this one. Another rekey of it would make
		 * a second pair that neither end deletes.
		 */
		return;
	}
	if (c) {
		c->rekeying = false;
		/* due already, most likely: tried again at the tick's pace */
		tun_wake(t, c->rekey_at_ms > ikd_now(t->d) ? c->rekey_at_ms :
			 ikd_now(t->d) + REKEY_TICK_MS);
	}
	if (kind == REQ_REKEY_IKE) {
		t->ike_rekey_at_ms = ikd_now(t->d) + 2000 + randombytes_uniform(3000);
		tun_wake(t, t->ike_rekey_at_ms);
	}
}

/*
 * The NAT in front of the peer gave it a new address or port (RFC 7296 §2.23, RFC 3948): the
 * Child SAs' UDP encapsulation still names the old one, so each is rekeyed, and the new SAs
 * carry the new address.
 */

void tun_peer_moved(struct tunnel *t)
{
	uint64_t now = ikd_now(t->d);

	if (t->probe)
		kernel_probe_policy(t->d, t, false);	/* its template names the endpoints */
	for (size_t i = 0; i < t->n_children; i++) {
		struct child *c = &t->children[i];

		/*
		 * Due now: if this rekey is refused (TEMPORARY_FAILURE: the peer's own exchange is
		 * out, or its kernel said no), or cannot start yet, the rekey tick tries again
		 * until the SAs carry the new address, not at the regular rekey time.
		 */
		c->rekey_at_ms = now;
		tun_wake(t, now + REKEY_TICK_MS);
		if (tun_may_rekey(t, c))
			c->rekeying = tun_enqueue(t, REQ_REKEY_CHILD, c->spi_in);
	}
}

/*
 * ike_sa_receive() with the site's Child SA settings at hand for a CREATE_CHILD_SA (the IKE
 * header says the exchange in clear; it is made only for those, and not kept).
 */
static int sa_receive(struct tunnel *t, struct ike_sa *sa, uint8_t *buf, size_t len,
		      struct ike_sa_rx *rx)
{
	struct ike_child_cfg child;
	bool cc = len >= IKE_HEADER_LEN && buf[18] == IKE_EXCH_CREATE_CHILD_SA &&
		  tun_child_cfg_of(t, ikd_site(t->d, t->site), &child) == 0;
	int rc;

	t->cc.child = cc ? &child : NULL;
	t->cb_spi_in = 0;
	rc = ike_sa_receive(sa, buf, len, tun_spi_map, t, &t->d->out, rx);
	t->cc.child = NULL;
	/* Installed for an answer that could not be built: the peer will never know of it. */
	if (rc < 0 && t->cb_spi_in)
		tun_child_forget(t, t->cb_spi_in, true);
	t->cb_spi_in = 0;
	if (cc) {
		t->settle_at_ms = ikd_now(t->d) + SETTLE_MS;
		tun_wake(t, t->settle_at_ms);
	}
	return rc;
}

static void on_established(struct tunnel *t, uint8_t *buf, size_t len, struct net_sock *ns,
			   const struct net_dgram *dg)
{
	const union net_addr *from = &dg->from;
	struct ikd *d = t->d;
	struct ike_sa_rx rx;
	uint8_t kind = t->inflight;
	uint32_t kind_spi = t->inflight_spi;
	char peer[80];
	int rc;

	rc = sa_receive(t, &t->sa, buf, len, &rx);
	if (rc == -EINPROGRESS) {
		tun_heard(t);	/* an authenticated fragment (RFC 7383) stored */
		return;
	}
	if (rc == -EALREADY)
		return;		/* a fragment we hold already */
	if (rc < 0) {
		if (rc == -EACCES)
			d->stats.bad_icv++;
		d->stats.dropped++;
		tlog_debug(t->d, "site '%s' %s: message dropped: %s", t->site, tun_peer_str(t, peer, sizeof(peer)),
			  strerror(-rc));
		return;
	}
	tun_heard(t);
	tun_log_received(t, "", buf, len, rx.event);
	/*
	 * A new request of the peer (not one sent again): with a window of one it has every
	 * answer we gave before, so each Child SA its rekeys made is known to it; not the one
	 * this request made, whose answer is only now on its way.
	 */
	if (!rx.initiator && rx.event && rx.event != IKE_SA_EV_RESENT &&
	    rx.event != IKE_SA_EV_ANSWERED && rx.event != IKE_SA_EV_CC_REFUSED)
		for (size_t j = 0; j < t->n_children; j++)
			if (rx.event != IKE_SA_EV_CHILD_REKEYED ||
			    t->children[j].spi_in != rx.child.spi_in)
				t->children[j].replaces = 0;
	t->dpd_missed = 0;
	/* RFC 7296 §2.23: a peer behind a NAT may move; follow authenticated messages. */
	if (!net_addr_equal(from, &t->remote, true) && (t->sa.k.nat_remote || t->sa.k.nat_local)) {
		char old[64], new[64];

		tlog_notice(t->d, "site '%s': peer moved from %s to %s", t->site,
			   net_addr_str(&t->remote, old, sizeof(old)), net_addr_str(from, new, sizeof(new)));
		t->remote = *from;
		tun_peer_moved(t);
	}
	if (t->pending.buf && (!t->initiator || t->pending.len))
		tun_pending_release(t);	/* the peer has our IKE_AUTH answer */
	/* A reply goes out with the SA that received the request, before any switch. */
	if ((rx.reply || rx.event == IKE_SA_EV_REPLY || rx.event == IKE_SA_EV_RESENT ||
	     rx.event == IKE_SA_EV_DELETED) && (!t->orphan || rx.event == IKE_SA_EV_DELETED))
		tun_send_reply(t, ns, dg, &d->out);
	if (rx.initiator || rx.event == IKE_SA_EV_ANSWERED)
		tun_answered(t);
	switch (rx.event) {
	case IKE_SA_EV_REPLY:
	case IKE_SA_EV_RESENT:
		if (rx.exchange == IKE_EXCH_CREATE_CHILD_SA && rx.notify)
			tlog_warn(t->d, "site '%s' %s: the peer's CREATE_CHILD_SA refused: %s", t->site,
				 tun_peer_str(t, peer, sizeof(peer)), ike_notify_name(rx.notify));
		for (size_t i = 0; i < rx.n_child_deleted; i++) {
			tlog_info(t->d, "site '%s' %s: peer deleted Child SA %08x", t->site,
				 tun_peer_str(t, peer, sizeof(peer)), rx.child_deleted[i]);
			tun_child_forget(t, rx.child_deleted[i], false);
		}
		if (rx.n_child_deleted && t->n_children == 0 && t->initiator && !t->farewell) {
			/* Nothing left to carry traffic: build the tunnel again. */
			tun_farewell(t);
			ike_sa_rx_clear(&rx);
			tunnel_down(t, "the POP deleted the last Child SA");
			return;
		}
		break;
	case IKE_SA_EV_DELETED: {
		struct extra_sa *pn = extra_peer_new(t);

		ike_sa_rx_clear(&rx);
		if (pn) {
			/* The peer won a rekey collision and deleted the old SA: its new one stays. */
			adopt_peer_new(t, pn, true);
			tun_kick(t);
			return;
		}
		tunnel_down(t, "the peer deleted the IKE SA");
		return;
	}
	case IKE_SA_EV_ANSWERED:
		if (kind == REQ_DELETE_CHILD)
			tun_child_forget(t, kind_spi, true);
		if (kind == REQ_DELETE_IKE) {
			ike_sa_rx_clear(&rx);
			tunnel_down(t, "deleted");
			return;
		}
		break;
	case IKE_SA_EV_CHILD_CREATED:
	case IKE_SA_EV_CHILD_REKEYED:
		/* a farewell's: the peer's copy goes with the IKE SA's Delete, ours never came */
		if (!t->farewell)
			on_child_event(t, &rx);
		break;
	case IKE_SA_EV_IKE_REKEYED:
		/* a farewell's too: the old SA's Delete goes now, the new one's next */
		on_ike_rekeyed(t, &rx);
		break;
	case IKE_SA_EV_CC_REFUSED:
		if (!t->farewell)
			on_cc_refused(t, &rx, kind, kind_spi);
		break;
	}
	ike_sa_rx_clear(&rx);
	tun_kick(t);
}

/* A message for an IKE SA that a rekey left beside the current one. */
static void on_extra(struct tunnel *t, size_t i, uint8_t *buf, size_t len, struct net_sock *ns,
		     const struct net_dgram *dg)
{
	struct ikd *d = t->d;
	struct extra_sa *e = &t->extras[i];
	struct ike_sa_rx rx;
	int rc = sa_receive(t, &e->sa, buf, len, &rx);

	if (rc == -EINPROGRESS)
		return;
	if (rc < 0) {
		d->stats.dropped++;
		tlog_debug(t->d, "site '%s': message on an old IKE SA dropped: %s", t->site, strerror(-rc));
		return;
	}
	tun_heard(t);
	tun_log_received(t, "old IKE SA: ", buf, len, rx.event);
	e->expires_ms = ikd_now(t->d) + tun_peer_window_ms(t);
	extras_arm(t);
	if (rx.reply || rx.event == IKE_SA_EV_REPLY || rx.event == IKE_SA_EV_RESENT ||
	    rx.event == IKE_SA_EV_DELETED)
		tun_send_reply(t, ns, dg, &d->out);
	for (size_t k = 0; k < rx.n_child_deleted; k++)
		tun_child_forget(t, rx.child_deleted[k], false);
	if (rx.event == IKE_SA_EV_DELETED || (rx.event == IKE_SA_EV_ANSWERED && e->ours_to_delete))
		extra_drop(t, i);
	ike_sa_rx_clear(&rx);
}

static bool find_extra(struct ikd *d, const uint8_t spi[IKE_SPI_LEN], struct tunnel **ret_t,
		       size_t *ret_i)
{
	struct tunnel *t = tix_extra_find(d, spi);

	for (size_t j = 0; t && j < t->n_extras; j++)
		if (!memcmp(t->extras[j].spi, spi, IKE_SPI_LEN)) {
			*ret_t = t;
			*ret_i = j;
			return true;
		}
	return false;
}

void ikd_receive(struct ikd *d, struct net_sock *ns, uint8_t *buf, size_t len,
		 const struct net_dgram *dg)
{
	d->stats.rx++;
	tun_receive(d, ns, buf, len, dg);
}

void tun_receive(struct ikd *d, struct net_sock *ns, uint8_t *buf, size_t len,
		 const struct net_dgram *dg)
{
	struct ike_header h;
	struct tunnel *t;
	bool response;

	if (ike_header_decode(buf, len, &h, NULL) < 0 || h.major != 2) {
		d->stats.dropped++;
		return;
	}
	response = h.flags & IKE_FLAG_RESPONSE;
	if (h.exchange == IKE_EXCH_IKE_SA_INIT && !response) {
		static const uint8_t zero[IKE_SPI_LEN];

		if (memcmp(h.spi_r, zero, IKE_SPI_LEN) == 0 && (h.flags & IKE_FLAG_INITIATOR))
			tun_on_init_request(d, ns, buf, len, &h, dg);
		else
			d->stats.dropped++;
		return;
	}
	/* The I flag says whether the sender is the original initiator: then we are not. */
	t = tix_ours_find(d, (h.flags & IKE_FLAG_INITIATOR) ? h.spi_r : h.spi_i);
	if (!t) {
		size_t i;

		if (find_extra(d, (h.flags & IKE_FLAG_INITIATOR) ? h.spi_r : h.spi_i, &t, &i))
			on_extra(t, i, buf, len, ns, dg);
		else
			d->stats.dropped++;
		return;
	}
	/* After an IKE rekey either side may be the new SA's initiator: compare with the SA. */
	if (t->have_sa ? t->sa.k.initiator == !!(h.flags & IKE_FLAG_INITIATOR) :
			 t->initiator == !!(h.flags & IKE_FLAG_INITIATOR)) {
		d->stats.dropped++;
		return;
	}
	if (t->initiator && t->state == TUN_INIT && h.exchange == IKE_EXCH_IKE_SA_INIT && response) {
		tun_on_init_response(t, buf, len);
	} else if (t->initiator && t->state == TUN_AUTH && h.exchange == IKE_EXCH_IKE_AUTH &&
		   response) {
		tun_on_auth_response(t, buf, len);
	} else if (!t->initiator && t->state == TUN_INIT && h.exchange == IKE_EXCH_IKE_AUTH &&
		   !response && h.msg_id == 1) {
		tun_on_auth_arrival(t, ns, buf, len, dg);
	} else if ((!t->initiator || t->pending.len) && t->state == TUN_UP &&
		   h.exchange == IKE_EXCH_IKE_AUTH && !response && h.msg_id == 1) {
		/* (an edge router keeps an answer only to its POP's reauthentication) */
		struct ike_header fh;
		struct ike_frag_piece pc = { 0 };
		struct ike_chain inner;
		bool skf = ike_frag_is_skf(buf, len, &fh);
		int rc = skf ? ike_frag_open(&t->sa.k, buf, len, &pc) :
			       ike_sk_open(&t->sa.k, buf, len, &fh, &inner);

		/* Our IKE_AUTH response was lost: the same again, once per retransmission, once
		 * the request is verified, for anyone on the path can forge its header (a
		 * fragmented one only on its first fragment, RFC 7383 §2.6.1). */
		if (rc < 0) {
			d->stats.bad_icv += rc == -EACCES;
			d->stats.dropped++;
		} else if (t->pending.len && (!skf || pc.skf.frag_num == 1)) {
			tun_send_msg(t, &t->pending);
		}
	} else if ((t->state == TUN_UP || t->state == TUN_DELETING) && t->have_sa) {
		on_established(t, buf, len, ns, dg);
	} else {
		d->stats.dropped++;
	}
}
