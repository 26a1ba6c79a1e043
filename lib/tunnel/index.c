/*
 * The daemon's indexes over its tunnels, so that each lookup on a handshake, a message or a
 * kernel event costs the same with ten tunnels or a hundred thousand: by our IKE SPI, by the
 * initiator's SPI of a half-open SA, by the IKE SPI of an SA kept beside the current one
 * (extras), by site (and site + POP), and by Child SA SPI. Chained hash tables of a fixed
 * number of buckets that grow with the tunnels (the tunnels own their links), and an open
 * addressed table for the Child SA SPIs (below). The half-open and extras tables grow with
 * what they hold, not with the tunnels: a gateway of 100,000 established tunnels has few of
 * either, and their buckets would be 16 bytes a tunnel.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel/tunnel.h"

#define BUCKETS_MIN 1024u

static uint64_t fnv(const void *p, size_t n, uint64_t h)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

static size_t spi_hash(const uint8_t spi[IKE_SPI_LEN], size_t n_buckets)
{
	return (size_t)(fnv(spi, IKE_SPI_LEN, 1469598103934665603ull) & (n_buckets - 1));
}

static size_t spi_bucket(const struct ikd *d, const uint8_t spi[IKE_SPI_LEN])
{
	return spi_hash(spi, d->n_buckets);
}

static size_t name_bucket(const struct ikd *d, const char *name)
{
	return (size_t)(fnv(name, strlen(name), 1469598103934665603ull) & (d->n_buckets - 1));
}

/* A Child SA SPI's home slot (the kernel draws ours at random, the peer its own). */
static size_t child_slot(uint32_t spi, size_t cap)
{
	return (size_t)((spi * 0x9e3779b1u) ^ (spi >> 16)) & (cap - 1);
}

/* An IKE SA kept beside a tunnel's current one, by its SPI of ours. */
struct extra_node {
	uint8_t spi[IKE_SPI_LEN];
	struct tunnel *t;
	struct extra_node *next;
};

static int alloc_tables(struct ikd *d, size_t n)
{
	struct tunnel **o = calloc(n, sizeof(*o)), **s = calloc(n, sizeof(*s));

	if (!o || !s) {
		free(o);
		free(s);
		return -ENOMEM;
	}
	d->by_ours = o;
	d->by_site = s;
	d->n_buckets = n;
	return 0;
}

#define SMALL_BUCKETS 64u

/* Small at first (an edge router holds a few tunnels); grown with the tunnels. */
int tix_init(struct ikd *d)
{
	d->by_half = calloc(SMALL_BUCKETS, sizeof(*d->by_half));
	d->by_extra = calloc(SMALL_BUCKETS, sizeof(*d->by_extra));
	if (!d->by_half || !d->by_extra || alloc_tables(d, SMALL_BUCKETS) < 0) {
		free(d->by_half);
		free(d->by_extra);
		d->by_half = NULL;
		d->by_extra = NULL;
		return -ENOMEM;
	}
	d->n_half_buckets = d->n_extra_buckets = SMALL_BUCKETS;
	return 0;
}

/* The half-open table twice as large once it holds as many as its buckets. */
static void half_maybe_grow(struct ikd *d)
{
	size_t n = d->n_half_buckets;
	struct tunnel **h;

	if (d->half_open < n || !(h = calloc(2 * n, sizeof(*h))))
		return;
	for (size_t i = 0; i < n; i++)
		while (d->by_half[i]) {
			struct tunnel *t = d->by_half[i];
			size_t b = spi_hash(t->spi_peer_i, 2 * n);

			d->by_half[i] = t->next_half;
			t->next_half = h[b];
			h[b] = t;
		}
	free(d->by_half);
	d->by_half = h;
	d->n_half_buckets = 2 * n;
}

/* The same for the extras' table. */
static void extra_maybe_grow(struct ikd *d)
{
	size_t n = d->n_extra_buckets;
	struct extra_node **e;

	if (d->n_extra_nodes < n || !(e = calloc(2 * n, sizeof(*e))))
		return;
	for (size_t i = 0; i < n; i++)
		while (d->by_extra[i]) {
			struct extra_node *x = d->by_extra[i];
			size_t b = spi_hash(x->spi, 2 * n);

			d->by_extra[i] = x->next;
			x->next = e[b];
			e[b] = x;
		}
	free(d->by_extra);
	d->by_extra = e;
	d->n_extra_buckets = 2 * n;
}

/*
 * Twice as many buckets once there are as many tunnels as buckets: every chain is moved
 * (a tunnel's links are rebuilt), a cost spread over as many insertions.
 */
static void maybe_grow(struct ikd *d)
{
	struct tunnel **o = d->by_ours, **s = d->by_site;
	size_t n = d->n_buckets;

	if (d->n_tunnels < n || alloc_tables(d, 2 * n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		while (o[i]) {
			struct tunnel *t = o[i];
			size_t b = spi_bucket(d, t->spi_ours);

			o[i] = t->next_ours;
			t->next_ours = d->by_ours[b];
			d->by_ours[b] = t;
		}
		while (s[i]) {
			struct tunnel *t = s[i];
			size_t b = name_bucket(d, t->site);

			s[i] = t->next_site;
			t->next_site = d->by_site[b];
			d->by_site[b] = t;
		}
	}
	free(o);
	free(s);
}

void tix_clear(struct ikd *d)
{
	for (size_t i = 0; d->by_extra && i < d->n_extra_buckets; i++)
		while (d->by_extra[i]) {
			struct extra_node *x = d->by_extra[i];

			d->by_extra[i] = x->next;
			free(x);
		}
	free(d->by_ours);
	free(d->by_half);
	free(d->by_site);
	free(d->child_spis);
	free(d->child_tuns);
	free(d->by_extra);
	d->by_ours = d->by_half = d->by_site = NULL;
	d->child_spis = NULL;
	d->child_tuns = NULL;
	d->child_cap = d->n_child_spis = 0;
	d->by_extra = NULL;
	d->n_buckets = d->n_half_buckets = d->n_extra_buckets = 0;
	d->n_extra_nodes = 0;
}

/* ---- the tunnel list: O(1) in and out ---- */

int tix_tunnel_add(struct ikd *d, struct tunnel *t)
{
	if (d->n_tunnels == d->cap_tunnels) {
		size_t cap = d->cap_tunnels ? 2 * d->cap_tunnels : 64;
		struct tunnel **v = realloc(d->tunnels, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		d->tunnels = v;
		d->cap_tunnels = cap;
	}
	t->idx = d->n_tunnels;
	d->tunnels[d->n_tunnels++] = t;
	tix_site_link(d, t);
	maybe_grow(d);
	return 0;
}

void tix_tunnel_del(struct ikd *d, struct tunnel *t)
{
	tix_site_unlink(d, t);
	if (t->idx < d->n_tunnels && d->tunnels[t->idx] == t) {
		d->tunnels[t->idx] = d->tunnels[--d->n_tunnels];
		d->tunnels[t->idx]->idx = t->idx;
	}
}

/* ---- by our IKE SPI ---- */

void tix_ours_add(struct ikd *d, struct tunnel *t, const uint8_t spi[IKE_SPI_LEN])
{
	size_t b;

	memcpy(t->spi_ours, spi, IKE_SPI_LEN);
	b = spi_bucket(d, spi);
	t->next_ours = d->by_ours[b];
	d->by_ours[b] = t;
}

void tix_ours_del(struct ikd *d, struct tunnel *t)
{
	static const uint8_t zero[IKE_SPI_LEN];

	if (!memcmp(t->spi_ours, zero, IKE_SPI_LEN))
		return;
	for (struct tunnel **p = &d->by_ours[spi_bucket(d, t->spi_ours)]; *p; p = &(*p)->next_ours)
		if (*p == t) {
			*p = t->next_ours;
			break;
		}
	memset(t->spi_ours, 0, IKE_SPI_LEN);
}

struct tunnel *tix_ours_find(struct ikd *d, const uint8_t spi[IKE_SPI_LEN])
{
	for (struct tunnel *t = d->by_ours[spi_bucket(d, spi)]; t; t = t->next_ours)
		if (!memcmp(t->spi_ours, spi, IKE_SPI_LEN))
			return t;
	return NULL;
}

/* ---- half-open SAs, by the initiator's SPI (and its address) ---- */

void tix_half_add(struct ikd *d, struct tunnel *t)
{
	size_t b = spi_hash(t->spi_peer_i, d->n_half_buckets);

	t->next_half = d->by_half[b];
	d->by_half[b] = t;
	t->in_half_table = true;
	d->half_open++;
	half_maybe_grow(d);
}

void tix_half_del(struct ikd *d, struct tunnel *t)
{
	struct tunnel **p = &d->by_half[spi_hash(t->spi_peer_i, d->n_half_buckets)];

	if (!t->in_half_table)
		return;
	for (; *p; p = &(*p)->next_half)
		if (*p == t) {
			*p = t->next_half;
			break;
		}
	t->in_half_table = false;
	d->half_open--;
}

struct tunnel *tix_half_find(struct ikd *d, const uint8_t spi_i[IKE_SPI_LEN],
			     const union net_addr *from)
{
	for (struct tunnel *t = d->by_half[spi_hash(spi_i, d->n_half_buckets)]; t; t = t->next_half)
		if (!memcmp(t->spi_peer_i, spi_i, IKE_SPI_LEN) &&
		    net_addr_equal(&t->remote, from, true))
			return t;
	return NULL;
}

/* ---- by site ---- */

/*
 * A gateway's half-open tunnels have no site yet (its IKE_AUTH names it): they are not
 * linked, or all of them would share one chain, walked at every IKE_AUTH (a reconnect storm
 * of 10,000 sites spent 8-9 % of its CPU there).
 */
void tix_site_link(struct ikd *d, struct tunnel *t)
{
	size_t b = name_bucket(d, t->site);

	if (!t->site[0])
		return;
	t->next_site = d->by_site[b];
	d->by_site[b] = t;
}

void tix_site_unlink(struct ikd *d, struct tunnel *t)
{
	if (!t->site[0])
		return;
	for (struct tunnel **p = &d->by_site[name_bucket(d, t->site)]; *p; p = &(*p)->next_site)
		if (*p == t) {
			*p = t->next_site;
			break;
		}
	t->next_site = NULL;
}

void tix_set_site(struct ikd *d, struct tunnel *t, const char *site)
{
	/* The new name first: site may be the old one's text. Out of memory: unchanged. */
	const char *name = tun_text_get(d, site);

	if (!name)
		return;
	tix_site_unlink(d, t);
	tun_text_put(d, t->site);
	t->site = name;
	tix_site_link(d, t);
}

struct tunnel *tix_site_next(struct ikd *d, const char *site, struct tunnel *after)
{
	struct tunnel *t = after ? after->next_site : d->by_site[name_bucket(d, site)];

	while (t && strcmp(t->site, site))
		t = t->next_site;
	return t;
}

/*
 * ---- Child SAs by SPI (ours inbound, the peer's outbound) ----
 *
 * Open addressing with linear probing, the SPIs and their tunnels in two arrays (12 bytes a
 * slot, at most 80 % full): two SPIs a Child SA cost 30-60 bytes, not two 32-byte nodes and
 * their buckets. An SPI may be there more than once (the peer chooses its own), each with its
 * tunnel; a lookup walks the run of slots from the SPI's home to an empty one.
 */

static void child_put(uint32_t *spis, struct tunnel **tuns, size_t cap, uint32_t spi,
		      struct tunnel *t)
{
	size_t i = child_slot(spi, cap);

	while (tuns[i])
		i = (i + 1) & (cap - 1);
	spis[i] = spi;
	tuns[i] = t;
}

static int child_grow(struct ikd *d)
{
	size_t cap = d->child_cap ? 2 * d->child_cap : 64;
	uint32_t *spis = calloc(cap, sizeof(*spis));
	struct tunnel **tuns = calloc(cap, sizeof(*tuns));

	if (!spis || !tuns) {
		free(spis);
		free(tuns);
		return -ENOMEM;
	}
	for (size_t i = 0; i < d->child_cap; i++)
		if (d->child_tuns[i])
			child_put(spis, tuns, cap, d->child_spis[i], d->child_tuns[i]);
	free(d->child_spis);
	free(d->child_tuns);
	d->child_spis = spis;
	d->child_tuns = tuns;
	d->child_cap = cap;
	return 0;
}

int tix_child_add(struct ikd *d, struct tunnel *t, uint32_t spi)
{
	if ((d->n_child_spis + 1) * 5 > d->child_cap * 4 && child_grow(d) < 0)
		return -ENOMEM;
	child_put(d->child_spis, d->child_tuns, d->child_cap, spi, t);
	d->n_child_spis++;
	return 0;
}

void tix_child_del(struct ikd *d, struct tunnel *t, uint32_t spi)
{
	size_t mask = d->child_cap - 1, i, j;

	if (!d->child_cap)
		return;
	for (i = child_slot(spi, d->child_cap); d->child_tuns[i]; i = (i + 1) & mask)
		if (d->child_spis[i] == spi && d->child_tuns[i] == t)
			break;
	if (!d->child_tuns[i])
		return;
	/* Close the gap: a later slot of the run moves up unless its home is past the gap. */
	for (j = (i + 1) & mask; d->child_tuns[j]; j = (j + 1) & mask) {
		size_t home = child_slot(d->child_spis[j], d->child_cap);

		if (((j - home) & mask) < ((j - i) & mask))
			continue;	/* home lies between the gap and j: it stays */
		d->child_spis[i] = d->child_spis[j];
		d->child_tuns[i] = d->child_tuns[j];
		i = j;
	}
	d->child_tuns[i] = NULL;
	d->child_spis[i] = 0;
	d->n_child_spis--;
}

bool tix_child_spi_used(const struct ikd *d, uint32_t spi)
{
	size_t mask = d->child_cap - 1;

	if (!d->child_cap)
		return false;
	for (size_t i = child_slot(spi, d->child_cap); d->child_tuns[i]; i = (i + 1) & mask)
		if (d->child_spis[i] == spi)
			return true;
	return false;
}

struct tunnel *tix_child_find(struct ikd *d, uint32_t spi, size_t *ret_idx)
{
	size_t mask = d->child_cap - 1;

	if (!d->child_cap)
		return NULL;
	for (size_t i = child_slot(spi, d->child_cap); d->child_tuns[i]; i = (i + 1) & mask) {
		struct tunnel *t = d->child_tuns[i];

		if (d->child_spis[i] != spi)
			continue;
		for (size_t j = 0; j < t->n_children; j++)
			if (t->children[j].spi_in == spi || t->children[j].spi_out == spi) {
				*ret_idx = j;
				return t;
			}
	}
	return NULL;
}

/* ---- IKE SAs kept beside a tunnel's current one ---- */

int tix_extra_add(struct ikd *d, struct tunnel *t, const uint8_t spi[IKE_SPI_LEN])
{
	struct extra_node *x = malloc(sizeof(*x));
	size_t b;

	if (!x)
		return -ENOMEM;
	b = spi_hash(spi, d->n_extra_buckets);
	memcpy(x->spi, spi, IKE_SPI_LEN);
	x->t = t;
	x->next = d->by_extra[b];
	d->by_extra[b] = x;
	d->n_extra_nodes++;
	extra_maybe_grow(d);
	return 0;
}

void tix_extra_del(struct ikd *d, struct tunnel *t, const uint8_t spi[IKE_SPI_LEN])
{
	for (struct extra_node **p = &d->by_extra[spi_hash(spi, d->n_extra_buckets)]; *p;
	     p = &(*p)->next)
		if ((*p)->t == t && !memcmp((*p)->spi, spi, IKE_SPI_LEN)) {
			struct extra_node *x = *p;

			*p = x->next;
			free(x);
			d->n_extra_nodes--;
			return;
		}
}

struct tunnel *tix_extra_find(struct ikd *d, const uint8_t spi[IKE_SPI_LEN])
{
	for (struct extra_node *x = d->by_extra[spi_hash(spi, d->n_extra_buckets)]; x; x = x->next)
		if (!memcmp(x->spi, spi, IKE_SPI_LEN))
			return x->t;
	return NULL;
}
