/*
 * The simulator's kernel (see kernel.h). Each rule names the Linux function it mirrors
 * (net/xfrm/xfrm_user.c, xfrm_state.c, xfrm_policy.c); where the model differs it says so.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "kernel.h"

struct simk {
	struct simk_sa **sas;		/* install order; each entry its own allocation */
	size_t n_sas, cap_sas;
	struct simk_policy *pols;	/* install order */
	size_t n_pols, cap_pols;
	uint64_t sa_seq, pol_pos;
	uint64_t now_s;
	uint64_t calls[SIMK_OP_MAX];
	int fail_errno[SIMK_OP_MAX];
	unsigned int fail_count[SIMK_OP_MAX];
};

struct simk *simk_new(void)
{
	return calloc(1, sizeof(struct simk));
}

static void sa_free(struct simk_sa *s)
{
	if (!s)
		return;
	explicit_bzero(s, sizeof(*s));
	free(s);
}

void simk_free(struct simk *k)
{
	if (!k)
		return;
	for (size_t i = 0; i < k->n_sas; i++)
		sa_free(k->sas[i]);
	free(k->sas);
	free(k->pols);
	free(k);
}

void simk_set_time(struct simk *k, uint64_t now_s)
{
	k->now_s = now_s;
}

static int fail(struct xfrm_err *err, int code, const char *msg)
{
	if (err) {
		err->code = code;
		snprintf(err->msg, sizeof(err->msg), "%s", msg ? msg : "");
	}
	return code;
}

/* Counts the call; a pending injected fault answers it. */
static int enter(struct simk *k, enum simk_op op, struct xfrm_err *err)
{
	k->calls[op]++;
	if (err) {
		err->code = 0;
		err->msg[0] = '\0';
	}
	if (k->fail_count[op] == 0)
		return 0;
	k->fail_count[op]--;
	return fail(err, k->fail_errno[op], "injected fault");
}

void simk_fail_next(struct simk *k, enum simk_op op, int errno_value, unsigned int count)
{
	if ((unsigned int)op >= SIMK_OP_MAX)
		return;
	k->fail_errno[op] = errno_value < 0 ? errno_value : -errno_value;
	k->fail_count[op] = errno_value ? count : 0;
}

uint64_t simk_calls(const struct simk *k, enum simk_op op)
{
	return k->calls[op];
}

/* ---- addresses ---- */

static size_t addr_len(uint16_t family)
{
	return family == AF_INET6 ? 16 : 4;
}

static bool addr_eq(const struct xfrm_addr *a, const struct xfrm_addr *b)
{
	return a->family == b->family && memcmp(&a->a, &b->a, addr_len(a->family)) == 0;
}

static bool addr_any(const struct xfrm_addr *a)
{
	static const xfrm_address_t zero;

	return memcmp(&a->a, &zero, addr_len(a->family)) == 0;
}

/* Are the first plen bits of a and b equal? Addresses are in network order. */
static bool prefix_match(const xfrm_address_t *a, const xfrm_address_t *b, uint8_t plen)
{
	const uint8_t *x = (const uint8_t *)a, *y = (const uint8_t *)b;
	size_t whole = plen / 8;
	uint8_t rest = plen % 8;

	if (memcmp(x, y, whole) != 0)
		return false;
	return rest == 0 || ((x[whole] ^ y[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

static const char *addr_str(const struct xfrm_addr *a, char *buf, size_t len)
{
	if (!inet_ntop(a->family == AF_INET6 ? AF_INET6 : AF_INET, &a->a, buf, (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

/* ---- SAs ---- */

/* FNV-1a: a stand-in for "these two SAs hold the same suite and keys", not a secret. */
static uint64_t fnv(uint64_t h, const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint32_t key_fingerprint(const struct xfrm_sa *sa)
{
	const struct xfrm_alg *algs[3] = { &sa->encr, &sa->integ, &sa->aead };
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < 3; i++) {
		uint32_t trunc = algs[i]->trunc_bits;

		if (!algs[i]->name)
			continue;
		h = fnv(h, algs[i]->name, strlen(algs[i]->name) + 1);
		h = fnv(h, &trunc, sizeof(trunc));
		h = fnv(h, algs[i]->key, algs[i]->key_len);
	}
	return (uint32_t)(h ^ h >> 32);
}

/*
 * __xfrm_state_lookup: the SA with this (family, daddr, spi, proto) whose stored mark matches
 * the request's (mark & mask), i.e. (v & m & x.m) == x.v; several can match, the kernel
 * returns the first of its hash chain, the most recently inserted: the newest here.
 */
static ssize_t sa_find(const struct simk *k, const struct xfrm_addr *dst, uint32_t spi,
		       uint8_t proto, uint32_t mark, uint32_t mark_mask)
{
	uint32_t m = mark & mark_mask;

	for (size_t i = k->n_sas; i-- > 0;) {
		const struct xfrm_sa *x = &k->sas[i]->sa;

		if (x->spi == spi && x->proto == proto && addr_eq(&x->dst, dst) &&
		    (m & x->mark_mask) == x->mark)
			return (ssize_t)i;
	}
	return -1;
}

/*
 * What xfrm_add_sa refuses before the tables are looked at (verify_newsa_info, then
 * xfrm_state_construct's esp_init_state), plus what lib/xfrm refuses before sending.
 */
static int sa_check(const struct xfrm_sa *sa, struct xfrm_err *err)
{
	const struct xfrm_alg *algs[3] = { &sa->encr, &sa->integ, &sa->aead };

	/* lib/xfrm: one family field in xfrm_usersa_info, both addresses must have it. */
	if ((sa->src.family != AF_INET && sa->src.family != AF_INET6) ||
	    sa->src.family != sa->dst.family)
		return fail(err, -EINVAL, "address families differ or are not IPv4/IPv6");
	if (sa->proto != IPPROTO_ESP)
		return fail(err, -EOPNOTSUPP, "the model has ESP only");
	if (sa->mode != XFRM_MODE_TUNNEL && sa->mode != XFRM_MODE_TRANSPORT)
		return fail(err, -EINVAL, "Unsupported mode");
	/*
	 * Stricter than Linux, which accepts SPI 0 but leaves such an SA out of its by-SPI hash
	 * (__xfrm_state_insert), so no packet, get or delete ever reaches it: for ikd always
	 * a bug, refused here so that the simulator says where.
	 */
	if (sa->spi == 0)
		return fail(err, -EINVAL, "SPI 0 (reserved, RFC 4303 section 2.1)");
	/* verify_newsa_info: AEAD excludes the others. */
	if (sa->aead.name && (sa->encr.name || sa->integ.name))
		return fail(err, -EINVAL, "Invalid attribute combination for ESP: AEAD can't be "
			    "used with AUTH, AUTH_TRUNC, CRYPT");
	/* esp_init_authenc: ESP without AEAD needs an encryption algorithm (lib/xfrm too). */
	if (!sa->aead.name && !sa->encr.name)
		return fail(err, -EINVAL, "ESP needs aead or encr");
	for (size_t i = 0; i < 3; i++) {
		if (!algs[i]->name)
			continue;
		if (strlen(algs[i]->name) >= SIMK_ALG_NAME_MAX || algs[i]->key_len > SIMK_KEY_MAX ||
		    (algs[i]->key_len && !algs[i]->key))
			return fail(err, -EINVAL, "algorithm name or key too long");
	}
	return 0;
}

/* A private copy of sa: names and keys into the entry (the caller wipes its buffers). */
static void sa_copy(struct simk_sa *e, const struct xfrm_sa *sa)
{
	struct xfrm_alg *algs[3] = { &e->sa.encr, &e->sa.integ, &e->sa.aead };

	e->sa = *sa;
	/* Without XFRMA_MARK (lib/xfrm sends it only with a mask) the kernel stores 0/0. */
	if (!e->sa.mark_mask)
		e->sa.mark = 0;
	for (size_t i = 0; i < 3; i++) {
		if (!algs[i]->name) {
			*algs[i] = (struct xfrm_alg){ 0 };
			continue;
		}
		snprintf(e->names[i], sizeof(e->names[i]), "%s", algs[i]->name);
		if (algs[i]->key_len)
			memcpy(e->keys[i], algs[i]->key, algs[i]->key_len);
		algs[i]->name = e->names[i];
		algs[i]->key = e->keys[i];
	}
	e->key_fp = key_fingerprint(&e->sa);
}

/*
 * xfrm_state_update: only the state's lifetimes, encapsulation (same type only), output mark
 * and a non-zero if_id change; the keys, addresses and install time stay (a rekey is a new
 * SA, never an update), and a dying SA is alive again.
 */
static int sa_update(struct simk_sa *e, const struct xfrm_sa *sa, struct xfrm_err *err)
{
	if ((sa->encap_dport != 0) != (e->sa.encap_dport != 0))
		return fail(err, -EINVAL, "encapsulation added or removed by an update");
	e->sa.encap_sport = sa->encap_sport;
	e->sa.encap_dport = sa->encap_dport;
	e->sa.lft = sa->lft;
	if (sa->set_mark_mask) {
		e->sa.set_mark = sa->set_mark;
		e->sa.set_mark_mask = sa->set_mark_mask;
	}
	if (sa->if_id)
		e->sa.if_id = sa->if_id;
	e->dying = false;
	return 0;
}

int simk_sa_add(struct simk *k, const struct xfrm_sa *sa_in, bool update, struct xfrm_err *err)
{
	struct xfrm_sa sa = *sa_in;
	struct simk_sa *e;
	ssize_t at;
	int rc = enter(k, SIMK_OP_SA_ADD, err);

	if (rc < 0)
		return rc;
	if (sa.proto == 0)
		sa.proto = IPPROTO_ESP;		/* lib/xfrm's default */
	rc = sa_check(&sa, err);
	if (rc < 0)
		return rc;
	/* __xfrm_state_locate with the new state's mark & mask, as xfrm_state_add/_update. */
	at = sa_find(k, &sa.dst, sa.spi, sa.proto, sa.mark, sa.mark_mask);
	if (update) {
		if (at < 0)
			return fail(err, -ESRCH, "no such SA to update");
		return sa_update(k->sas[at], &sa, err);
	}
	if (at >= 0)
		return fail(err, -EEXIST, "SA exists");
	if (k->n_sas == k->cap_sas) {
		size_t cap = k->cap_sas ? k->cap_sas * 2 : 16;
		struct simk_sa **v = realloc(k->sas, cap * sizeof(*v));

		if (!v)
			return fail(err, -ENOMEM, NULL);
		k->sas = v;
		k->cap_sas = cap;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return fail(err, -ENOMEM, NULL);
	sa_copy(e, &sa);
	e->seq = ++k->sa_seq;
	e->stats.add_time = k->now_s;
	e->stats.replay_window = sa.replay_window;
	k->sas[k->n_sas++] = e;
	return 0;
}

static void sa_remove(struct simk *k, size_t i)
{
	sa_free(k->sas[i]);
	memmove(&k->sas[i], &k->sas[i + 1], (k->n_sas - i - 1) * sizeof(k->sas[0]));
	k->n_sas--;
}

/* xfrm_del_sa / xfrm_get_sa: xfrm_user_state_lookup, -ESRCH when nothing matches. */
int simk_sa_delete(struct simk *k, const struct xfrm_addr *dst, uint32_t spi, uint8_t proto,
		   uint32_t mark, uint32_t mark_mask, struct xfrm_err *err)
{
	ssize_t at;
	int rc = enter(k, SIMK_OP_SA_DELETE, err);

	if (rc < 0)
		return rc;
	at = sa_find(k, dst, spi, proto ? proto : IPPROTO_ESP, mark, mark_mask);
	if (at < 0)
		return fail(err, -ESRCH, "no such SA");
	sa_remove(k, (size_t)at);
	return 0;
}

int simk_sa_get(struct simk *k, const struct xfrm_addr *dst, uint32_t spi, uint8_t proto,
		uint32_t mark, uint32_t mark_mask, struct xfrm_sa_stats *ret, struct xfrm_err *err)
{
	ssize_t at;
	int rc = enter(k, SIMK_OP_SA_GET, err);

	if (rc < 0)
		return rc;
	at = sa_find(k, dst, spi, proto ? proto : IPPROTO_ESP, mark, mark_mask);
	if (at < 0)
		return fail(err, -ESRCH, "no such SA");
	if (ret)
		*ret = k->sas[at]->stats;
	return 0;
}

int simk_sa_expire(struct simk *k, const struct xfrm_addr *dst, uint32_t spi, uint8_t proto,
		   uint32_t mark, uint32_t mark_mask, bool hard)
{
	ssize_t at = sa_find(k, dst, spi, proto ? proto : IPPROTO_ESP, mark, mark_mask);

	if (at < 0)
		return -ESRCH;
	/* xfrm_timer_handler: a soft expiry sets km.dying, a hard one deletes the state. */
	if (hard)
		sa_remove(k, (size_t)at);
	else
		k->sas[at]->dying = true;
	return 0;
}

uint64_t simk_next_expiry(const struct simk *k, size_t *ret_i, bool *ret_hard)
{
	uint64_t best = UINT64_MAX;

	for (size_t i = 0; i < k->n_sas; i++) {
		const struct simk_sa *e = k->sas[i];
		uint64_t soft = e->stats.add_time + e->sa.lft.soft_add_s;
		uint64_t hard = e->stats.add_time + e->sa.lft.hard_add_s;

		if (e->sa.lft.soft_add_s && !e->dying && soft < best) {
			best = soft;
			*ret_i = i;
			*ret_hard = false;
		}
		if (e->sa.lft.hard_add_s && hard < best) {
			best = hard;
			*ret_i = i;
			*ret_hard = true;
		}
	}
	return best;
}

size_t simk_sa_count(const struct simk *k)
{
	return k->n_sas;
}

const struct simk_sa *simk_sa_at(const struct simk *k, size_t i)
{
	return i < k->n_sas ? k->sas[i] : NULL;
}

const struct simk_sa *simk_sa_lookup(const struct simk *k, const struct xfrm_addr *dst,
				     uint32_t spi, uint8_t proto, uint32_t mark,
				     uint32_t mark_mask)
{
	ssize_t at = sa_find(k, dst, spi, proto ? proto : IPPROTO_ESP, mark, mark_mask);

	return at < 0 ? NULL : k->sas[at];
}

/* ---- policies ---- */

static bool sel_eq(const struct xfrm_sel *a, const struct xfrm_sel *b)
{
	return addr_eq(&a->src, &b->src) && addr_eq(&a->dst, &b->dst) &&
	       a->src_plen == b->src_plen && a->dst_plen == b->dst_plen &&
	       a->proto == b->proto && a->sport == b->sport && a->dport == b->dport;
}

/*
 * A policy's identity (xfrm_policy_insert_list, xfrm_policy_bysel_ctx): direction, selector
 * (selector_cmp), the exact mark and mask (xfrm_policy_mark_match since the 2020 fix "match
 * with both mark and mask on user interfaces"; before it the value and the priority were
 * compared), if_id. The priority is not part of it.
 */
static ssize_t pol_find(const struct simk *k, const struct xfrm_policy *p)
{
	uint32_t mark = p->mark_mask ? p->mark : 0;

	for (size_t i = 0; i < k->n_pols; i++) {
		const struct xfrm_policy *q = &k->pols[i].p;

		if (q->dir == p->dir && sel_eq(&q->sel, &p->sel) && q->mark == mark &&
		    q->mark_mask == p->mark_mask && q->if_id == p->if_id)
			return (ssize_t)i;
	}
	return -1;
}

/*
 * lib/xfrm's check_policy, then (for an add) xfrm_add_policy's verify_newpolicy_info and
 * validate_tmpl; a delete carries no templates to check.
 */
static int pol_check(const struct xfrm_policy *p, bool tmpls, struct xfrm_err *err)
{
	uint8_t max = p->sel.src.family == AF_INET6 ? 128 : 32;

	if ((p->sel.src.family != AF_INET && p->sel.src.family != AF_INET6) ||
	    p->sel.dst.family != p->sel.src.family)
		return fail(err, -EINVAL, "selector families differ or are not IPv4/IPv6");
	if (p->sel.src_plen > max || p->sel.dst_plen > max)
		return fail(err, -EINVAL, "Invalid prefix length in selector");
	if (p->dir > XFRM_POLICY_FWD || p->action > XFRM_POLICY_BLOCK ||
	    p->n_tmpls > XFRM_MAX_TMPLS)
		return fail(err, -EINVAL, "bad direction, action or template count");
	for (uint8_t i = 0; tmpls && i < p->n_tmpls; i++) {
		const struct xfrm_tmpl *t = &p->tmpl[i];

		if (t->mode != XFRM_MODE_TUNNEL && t->mode != XFRM_MODE_TRANSPORT)
			return fail(err, -EINVAL, "Unsupported mode in template");
		/*
		 * validate_tmpl since 2023 ("xfrm: Reject optional tunnel/BEET mode templates
		 * in outbound policies"); older kernels accepted it.
		 */
		if (t->optional && t->mode == XFRM_MODE_TUNNEL && p->dir == XFRM_POLICY_OUT)
			return fail(err, -EINVAL, "Mode in optional template not allowed in "
				    "outbound policy");
	}
	return 0;
}

/*
 * xfrm_add_policy -> xfrm_policy_insert(excl = NEWPOLICY): an existing identity is -EEXIST
 * for NEWPOLICY and replaced for UPDPOLICY, which also creates a missing one. The replacing
 * policy takes the old one's place in the chain when its priority is the same (it goes
 * after every policy whose priority is lower or equal, and the old one is the last of
 * those); with another priority it goes after its new equals, as a new one would.
 */
int simk_policy_add(struct simk *k, const struct xfrm_policy *p, bool update,
		    struct xfrm_err *err)
{
	struct simk_policy e = { .p = *p };
	ssize_t at;
	int rc = enter(k, SIMK_OP_POLICY_ADD, err);

	if (rc < 0)
		return rc;
	rc = pol_check(p, true, err);
	if (rc < 0)
		return rc;
	if (!e.p.mark_mask)
		e.p.mark = 0;
	for (uint8_t i = 0; i < e.p.n_tmpls; i++) {
		struct xfrm_tmpl *t = &e.p.tmpl[i];

		/* lib/xfrm: proto 0 is ESP, the template's family defaults to the policy's. */
		if (!t->proto)
			t->proto = IPPROTO_ESP;
		if (!t->dst.family)
			t->dst.family = p->sel.src.family;
		t->src.family = t->dst.family;
	}
	for (uint8_t i = e.p.n_tmpls; i < XFRM_MAX_TMPLS; i++)
		e.p.tmpl[i] = (struct xfrm_tmpl){ 0 };
	at = pol_find(k, p);
	if (at >= 0) {
		if (!update)
			return fail(err, -EEXIST, "policy exists");
		e.pos = k->pols[at].p.priority == p->priority ? k->pols[at].pos : ++k->pol_pos;
		k->pols[at] = e;
		return 0;
	}
	if (k->n_pols == k->cap_pols) {
		size_t cap = k->cap_pols ? k->cap_pols * 2 : 16;
		struct simk_policy *v = realloc(k->pols, cap * sizeof(*v));

		if (!v)
			return fail(err, -ENOMEM, NULL);
		k->pols = v;
		k->cap_pols = cap;
	}
	e.pos = ++k->pol_pos;
	k->pols[k->n_pols++] = e;
	return 0;
}

/* xfrm_get_policy with XFRM_MSG_DELPOLICY: xfrm_policy_bysel_ctx finds none -> -ENOENT. */
int simk_policy_delete(struct simk *k, const struct xfrm_policy *p, struct xfrm_err *err)
{
	ssize_t at;
	int rc = enter(k, SIMK_OP_POLICY_DELETE, err);

	if (rc < 0)
		return rc;
	rc = pol_check(p, false, err);
	if (rc < 0)
		return rc;
	at = pol_find(k, p);
	if (at < 0)
		return fail(err, -ENOENT, "no such policy");
	memmove(&k->pols[at], &k->pols[at + 1], (k->n_pols - (size_t)at - 1) * sizeof(k->pols[0]));
	k->n_pols--;
	return 0;
}

size_t simk_policy_count(const struct simk *k)
{
	return k->n_pols;
}

const struct simk_policy *simk_policy_at(const struct simk *k, size_t i)
{
	return i < k->n_pols ? &k->pols[i] : NULL;
}

/* ---- traffic ---- */

/*
 * xfrm_policy_match: family, if_id equal (a policy without if_id sees only traffic outside
 * xfrm interfaces and the reverse), (mark & m) == v, then xfrm_selector_match on prefixes;
 * the model's packets have no protocol or ports, so a selector naming one does not match.
 */
static bool pol_matches(const struct xfrm_policy *p, uint8_t dir, const struct xfrm_addr *src,
			const struct xfrm_addr *dst, uint8_t proto, uint32_t mark, uint32_t if_id)
{
	return p->dir == dir && p->sel.src.family == src->family && src->family == dst->family &&
	       p->if_id == if_id && (mark & p->mark_mask) == p->mark &&
	       (p->sel.proto == 0 || p->sel.proto == proto) &&
	       p->sel.sport == 0 && p->sel.dport == 0 &&
	       prefix_match(&p->sel.src.a, &src->a, p->sel.src_plen) &&
	       prefix_match(&p->sel.dst.a, &dst->a, p->sel.dst_plen);
}

/*
 * xfrm_policy_lookup_bytype: the lowest priority value wins; between equal priorities the
 * older (smaller pos, as __xfrm_policy_eval_candidates compares the chains).
 */
static const struct simk_policy *pol_lookup(const struct simk *k, uint8_t dir,
					    const struct xfrm_addr *src,
					    const struct xfrm_addr *dst, uint8_t proto,
					    uint32_t mark, uint32_t if_id)
{
	const struct simk_policy *best = NULL;

	for (size_t i = 0; i < k->n_pols; i++) {
		const struct simk_policy *c = &k->pols[i];

		if (!pol_matches(&c->p, dir, src, dst, proto, mark, if_id))
			continue;
		if (!best || c->p.priority < best->p.priority ||
		    (c->p.priority == best->p.priority && c->pos < best->pos))
			best = c;
	}
	return best;
}

/*
 * xfrm_state_find for one template: a VALID state with the template's addresses (tunnel
 * mode; transport: the packet's), family, proto, mode, the same reqid (equality, 0 included:
 * unlike the input check, output has no reqid wildcard), (policy mark & mask & x.m) == x.v
 * and x.if_id equal to the flow's. Among them xfrm_state_look_at keeps a non-dying state
 * over a dying (soft-expired) one, then the larger curlft.add_time; equal add_times (the
 * same second) keep the first seen, the head of the hash chain, which is the most recently
 * inserted. So: the newest non-dying SA, here by install sequence.
 * Not modelled: late 2024 (Linux 6.13) added a per-policy cache of used states
 * (state_cache_list) that xfrm_state_find consults first; as posted, a cached older state
 * is found there before a newer one is looked at, until the older is deleted. Whether a
 * later change lets a new state displace a cached one is unverified. ikd removes an old
 * outbound SA as it sends the Delete for it, so under either rule the old one stops
 * carrying traffic then; before that, the model's answer is the pre-6.13 one.
 */
static struct simk_sa *sa_for_tmpl(const struct simk *k, const struct xfrm_policy *p,
				   const struct xfrm_tmpl *t, const struct xfrm_addr *src,
				   const struct xfrm_addr *dst, uint32_t if_id)
{
	const struct xfrm_addr *d = t->mode == XFRM_MODE_TUNNEL ? &t->dst : dst;
	const struct xfrm_addr *s = t->mode == XFRM_MODE_TUNNEL ? &t->src : src;
	uint32_t mark = p->mark & p->mark_mask;
	struct simk_sa *best = NULL;

	for (size_t i = 0; i < k->n_sas; i++) {
		struct simk_sa *e = k->sas[i];
		const struct xfrm_sa *x = &e->sa;

		if (x->dst.family != d->family || !addr_eq(&x->dst, d) ||
		    (!addr_any(s) && !addr_eq(&x->src, s)) || x->proto != t->proto ||
		    x->mode != t->mode || x->reqid != t->reqid ||
		    (mark & x->mark_mask) != x->mark || x->if_id != if_id)
			continue;
		if (!best || (best->dying && !e->dying) ||
		    (best->dying == e->dying && e->seq > best->seq))
			best = e;
	}
	return best;
}

static void count_use(struct simk *k, struct simk_sa *e, uint32_t len)
{
	e->stats.packets++;
	e->stats.bytes += len;
	if (!e->stats.use_time)
		e->stats.use_time = k->now_s;
}

enum simk_out simk_output(struct simk *k, const struct xfrm_addr *src,
			  const struct xfrm_addr *dst, uint32_t mark, uint32_t if_id,
			  uint32_t len, struct simk_esp *ret)
{
	return simk_output_proto(k, src, dst, 0, mark, if_id, len, ret);
}

enum simk_out simk_output_proto(struct simk *k, const struct xfrm_addr *src,
				const struct xfrm_addr *dst, uint8_t proto, uint32_t mark,
				uint32_t if_id, uint32_t len, struct simk_esp *ret)
{
	const struct simk_policy *pol = pol_lookup(k, XFRM_POLICY_OUT, src, dst, proto, mark,
						   if_id);
	struct simk_sa *chosen[XFRM_MAX_TMPLS];
	struct simk_sa *outer = NULL;
	size_t n = 0;

	if (!pol)
		return SIMK_CLEAR;
	if (pol->p.action == XFRM_POLICY_BLOCK)
		return SIMK_BLOCK;
	/* xfrm_tmpl_resolve: every template needs its SA (an optional one may go without). */
	for (uint8_t i = 0; i < pol->p.n_tmpls; i++) {
		struct simk_sa *e = sa_for_tmpl(k, &pol->p, &pol->p.tmpl[i], src, dst, if_id);

		if (!e && pol->p.tmpl[i].optional)
			continue;
		if (!e)
			return SIMK_NO_SA;
		chosen[n++] = e;
	}
	if (n == 0)
		return SIMK_CLEAR;	/* allow without templates: a bypass */
	for (size_t i = 0; i < n; i++) {
		count_use(k, chosen[i], len);
		outer = chosen[i];
	}
	if (ret) {
		*ret = (struct simk_esp){ .src = outer->sa.src, .dst = outer->sa.dst,
					  .spi = outer->sa.spi, .proto = outer->sa.proto,
					  .reqid = outer->sa.reqid, .key_fp = outer->key_fp,
					  .len = len };
	}
	return SIMK_ESP;
}

/*
 * xfrm_state_ok as __xfrm_policy_check applies it to a decapsulated packet's SA: proto, the
 * reqid when the template has one, mode, tunnel addresses where the template gives them.
 * (Its if_id test always holds here: the policy was looked up with the SA's if_id.)
 */
static bool tmpl_accepts(const struct xfrm_tmpl *t, const struct simk_sa *e)
{
	const struct xfrm_sa *x = &e->sa;

	if (x->proto != t->proto || (t->reqid && x->reqid != t->reqid) || x->mode != t->mode)
		return false;
	return x->mode != XFRM_MODE_TUNNEL ||
	       ((addr_any(&t->src) || addr_eq(&t->src, &x->src)) &&
		(addr_any(&t->dst) || addr_eq(&t->dst, &x->dst)));
}

static enum simk_in verdict(enum simk_in v, const char *why, const char **ret_why)
{
	if (ret_why)
		*ret_why = why;
	return v;
}

/*
 * xfrm_input: the state by (outer dst, spi, proto) with skb->mark 0; its type's input checks
 * the ICV (here: the keys' fingerprint) and only then the lifetime counters advance; the
 * inner packet then meets __xfrm_policy_check for dir with the SA's if_id (the xfrm
 * interface that received it). A tunnel-mode SA in the secpath needs a matching allowing
 * policy whose template accepts it (secpath_has_nontransport rejects the rest), so no
 * policy, a block policy, or a template that does not fit all drop.
 */
static enum simk_in input(struct simk *k, const struct simk_esp *pkt, uint8_t dir,
			  const struct xfrm_addr *src, const struct xfrm_addr *dst,
			  const char **ret_why)
{
	const struct simk_policy *pol;
	struct simk_sa *e;
	ssize_t at = sa_find(k, &pkt->dst, pkt->spi, pkt->proto ? pkt->proto : IPPROTO_ESP, 0, 0);

	if (at < 0)
		return verdict(SIMK_IN_NO_SA, "no SA for the SPI", ret_why);
	e = k->sas[at];
	if (e->key_fp != pkt->key_fp) {
		e->icv_failed++;
		return verdict(SIMK_IN_BAD_ICV, "the SA's keys differ from the sender's", ret_why);
	}
	count_use(k, e, pkt->len);
	pol = pol_lookup(k, dir, src, dst, 0, 0, e->sa.if_id);
	if (!pol)
		return verdict(SIMK_IN_POLICY_DROP, "decrypted, no policy for the inner packet",
			       ret_why);
	if (pol->p.action == XFRM_POLICY_BLOCK)
		return verdict(SIMK_IN_POLICY_DROP, "decrypted, a block policy", ret_why);
	for (uint8_t i = 0; i < pol->p.n_tmpls; i++)
		if (tmpl_accepts(&pol->p.tmpl[i], e))
			return verdict(SIMK_IN_OK, "decrypted and accepted", ret_why);
	return verdict(SIMK_IN_POLICY_DROP, "decrypted, the policy's template refuses the SA",
		       ret_why);
}

enum simk_in simk_input(struct simk *k, const struct simk_esp *pkt, const struct xfrm_addr *src,
			const struct xfrm_addr *dst, const char **ret_why)
{
	return input(k, pkt, XFRM_POLICY_IN, src, dst, ret_why);
}

enum simk_in simk_input_fwd(struct simk *k, const struct simk_esp *pkt,
			    const struct xfrm_addr *src, const struct xfrm_addr *dst,
			    const char **ret_why)
{
	return input(k, pkt, XFRM_POLICY_FWD, src, dst, ret_why);
}

/* __xfrm_policy_check without a secpath: only optional templates let it through. */
enum simk_in simk_input_clear(struct simk *k, uint8_t dir, const struct xfrm_addr *src,
			      const struct xfrm_addr *dst, uint32_t mark, uint32_t if_id,
			      const char **ret_why)
{
	const struct simk_policy *pol = pol_lookup(k, dir, src, dst, 0, mark, if_id);

	if (!pol)
		return verdict(SIMK_IN_OK, "no policy: clear traffic passes", ret_why);
	if (pol->p.action == XFRM_POLICY_BLOCK)
		return verdict(SIMK_IN_POLICY_DROP, "a block policy", ret_why);
	for (uint8_t i = 0; i < pol->p.n_tmpls; i++)
		if (!pol->p.tmpl[i].optional)
			return verdict(SIMK_IN_POLICY_DROP, "the policy requires ESP", ret_why);
	return verdict(SIMK_IN_OK, "the policy's templates are optional", ret_why);
}

const char *simk_out_name(enum simk_out v)
{
	static const char *const names[] = { "clear", "block", "no-sa", "esp" };

	return (size_t)v < sizeof(names) / sizeof(names[0]) ? names[v] : "?";
}

const char *simk_in_name(enum simk_in v)
{
	static const char *const names[] = { "ok", "no-sa", "bad-icv", "policy-drop" };

	return (size_t)v < sizeof(names) / sizeof(names[0]) ? names[v] : "?";
}

/* ---- dump ---- */

static void dump_sa(const struct simk_sa *e, FILE *f)
{
	const struct xfrm_sa *x = &e->sa;
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	const char *suite = x->aead.name ? x->aead.name : x->encr.name;

	fprintf(f, "sa #%" PRIu64 " esp %s -> %s spi 0x%08" PRIx32 " reqid %" PRIu32 " %s"
		" mark 0x%" PRIx32 "/0x%" PRIx32 " if_id %" PRIu32, e->seq,
		addr_str(&x->src, s, sizeof(s)), addr_str(&x->dst, d, sizeof(d)), x->spi,
		x->reqid, x->mode == XFRM_MODE_TUNNEL ? "tunnel" : "transport", x->mark,
		x->mark_mask, x->if_id);
	if (x->encap_dport)
		fprintf(f, " encap %u -> %u", x->encap_sport, x->encap_dport);
	fprintf(f, " %s%s%s keys %08" PRIx32 " packets %" PRIu64 " bytes %" PRIu64 "%s\n", suite,
		x->integ.name ? "+" : "", x->integ.name ? x->integ.name : "", e->key_fp,
		e->stats.packets, e->stats.bytes, e->dying ? " dying" : "");
}

static void dump_policy(const struct simk_policy *e, FILE *f)
{
	static const char *const dirs[] = { "in", "out", "fwd" };
	const struct xfrm_policy *p = &e->p;
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];

	fprintf(f, "policy %s %s/%u -> %s/%u", p->dir <= XFRM_POLICY_FWD ? dirs[p->dir] : "?",
		addr_str(&p->sel.src, s, sizeof(s)), p->sel.src_plen,
		addr_str(&p->sel.dst, d, sizeof(d)), p->sel.dst_plen);
	if (p->sel.proto)
		fprintf(f, " proto %u", p->sel.proto);
	if (p->sel.sport || p->sel.dport)
		fprintf(f, " ports %u -> %u", p->sel.sport, p->sel.dport);
	fprintf(f, " priority %" PRIu32 " mark 0x%" PRIx32 "/0x%" PRIx32 " if_id %" PRIu32 " %s",
		p->priority, p->mark, p->mark_mask, p->if_id,
		p->action == XFRM_POLICY_BLOCK ? "block" : "allow");
	for (uint8_t i = 0; i < p->n_tmpls; i++) {
		const struct xfrm_tmpl *t = &p->tmpl[i];

		fprintf(f, " tmpl %s -> %s reqid %" PRIu32 "%s", addr_str(&t->src, s, sizeof(s)),
			addr_str(&t->dst, d, sizeof(d)), t->reqid, t->optional ? " optional" : "");
	}
	fprintf(f, "\n");
}

void simk_dump(const struct simk *k, FILE *f)
{
	for (size_t i = 0; i < k->n_sas; i++)
		dump_sa(k->sas[i], f);
	for (size_t i = 0; i < k->n_pols; i++)
		dump_policy(&k->pols[i], f);
}
