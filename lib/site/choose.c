/* See choose.h. */
#include <string.h>

#include "site/choose.h"

void site_choice_init(struct site_choice *c)
{
	memset(c, 0, sizeof(*c));
	c->active = -1;
}

static bool any_backup(const struct site_pop_view *pops, size_t n, enum site_pop_state st)
{
	for (size_t i = 1; i < n; i++)
		if (pops[i].state == st)
			return true;
	return false;
}

static int first(const struct site_pop_view *pops, size_t n, enum site_pop_state st)
{
	for (size_t i = 0; i < n; i++)
		if (pops[i].state == st)
			return (int)i;
	return -1;
}

void site_choose(struct site_choice *c, const struct site_choice_cfg *cfg,
		 const struct site_pop_view *pops, size_t n, uint64_t now_ms,
		 struct site_choice_out *out)
{
	int cur = c->active >= 0 && (size_t)c->active < n ? c->active : -1;
	int choice = -1;
	bool prim_ok = n && pops[0].state == SITE_POP_USABLE, waiting = false;

	memset(out, 0, sizeof(*out));
	out->from = cur;
	if (c->prim_usable && !prim_ok)
		c->prim_failed = true;
	c->prim_usable = prim_ok;
	if (cur >= 0 && pops[cur].state == SITE_POP_USABLE)
		choice = cur;
	if (choice != 0 && prim_ok) {
		if (choice < 0 || !c->prim_failed ||
		    now_ms - pops[0].usable_since_ms >= cfg->hold_down_ms)
			choice = 0;
		else
			out->wake_ms = pops[0].usable_since_ms + cfg->hold_down_ms;
	}
	/*
	 * A site with no active POP (at start-up, or blocked) whose primary's handshake is under
	 * way: a backup that is up waits for it a little. Not a failover: the traffic was
	 * flowing, and a usable backup takes it at once.
	 */
	if (choice < 0 && cur < 0 && n && pops[0].state == SITE_POP_CONNECTING && cfg->grace_ms) {
		bool backup_up = any_backup(pops, n, SITE_POP_USABLE);

		if (backup_up && !c->grace_until_ms) {
			c->grace_until_ms = now_ms + cfg->grace_ms;
			out->grace_started = true;
		}
		waiting = backup_up && now_ms < c->grace_until_ms;
		if (waiting)
			out->wake_ms = c->grace_until_ms;
	}
	if (!waiting) {
		c->grace_until_ms = 0;
		if (choice < 0)
			choice = first(pops, n, SITE_POP_USABLE);
		/* Every probe failing is no reason to block: the probe chooses, it never closes. */
		if (choice < 0 && cur >= 0 && pops[cur].state == SITE_POP_ESTABLISHED)
			choice = cur;
		if (choice < 0)
			choice = first(pops, n, SITE_POP_ESTABLISHED);
	}
	out->to = choice;
	if (choice >= 0 && cur < 0) {
		out->ev = SITE_EV_ACTIVE;
	} else if (choice >= 0 && choice != cur) {
		/*
		 * Away from a POP that is no longer usable: a failover, even to the primary inside
		 * its hold-down. The primary that was not up yet is no fallback: not held down,
		 * not counted.
		 */
		bool forced = cur >= 0 && pops[cur].state != SITE_POP_USABLE;

		out->ev = choice != 0 || forced ? SITE_EV_FAILOVER :
			  c->prim_failed ? SITE_EV_FALLBACK : SITE_EV_ACTIVE;
		out->counted = out->ev != SITE_EV_ACTIVE;
	} else if (choice < 0 && cur >= 0) {
		out->ev = SITE_EV_BLOCKED;
	}
	/* A site with no active POP starts afresh: its primary has not failed since. */
	if (choice <= 0)
		c->prim_failed = false;
	c->active = choice;
	c->started = true;
}

const char *site_choice_event_name(enum site_choice_event ev)
{
	switch (ev) {
	case SITE_EV_ACTIVE: return "active";
	case SITE_EV_FAILOVER: return "failover";
	case SITE_EV_FALLBACK: return "fallback";
	case SITE_EV_BLOCKED: return "blocked";
	case SITE_EV_NONE: break;
	}
	return "";
}
