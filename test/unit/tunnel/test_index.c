/*
 * ikd/index.c: the tunnels' indexes, through growth well past their first size (16,384
 * buckets): every tunnel found by each key after the tables were rebuilt, none after it left,
 * tunnels leaving from the middle of the list; a new inbound SPI is none that a Child SA
 * holds.
 */
#include <sodium.h>

#include "testutil.h"
#include "tunnel/tunnel.h"
#include "tunnel/tunnel_int.h"

#define N 40000u	/* more than twice the initial buckets: two rebuilds */

static void spi_of(unsigned i, uint8_t spi[IKE_SPI_LEN], uint8_t salt)
{
	memset(spi, 0, IKE_SPI_LEN);
	spi[0] = salt;
	memcpy(spi + 4, &i, sizeof(i));
}

static struct tunnel *make(struct ikd *d, unsigned i)
{
	struct tunnel *t = calloc(1, sizeof(*t));
	uint8_t spi[IKE_SPI_LEN];

	ck_assert_ptr_nonnull(t);
	char site[SITE_NAME_MAX], pop[SITE_NAME_MAX];

	snprintf(site, sizeof(site), "site-%u", i / 2);	/* two tunnels a site */
	snprintf(pop, sizeof(pop), "pop%u", i % 2);
	t->site = tun_text_get(d, site);
	t->pop = tun_text_get(d, pop);
	ck_assert_int_eq(tix_tunnel_add(d, t), 0);
	spi_of(i, spi, 0xa5);
	tix_ours_add(d, t, spi);
	spi_of(i, t->spi_peer_i, 0x5a);
	tix_half_add(d, t);
	ck_assert_int_eq(tix_child_add(d, t, 0xc0000000u | i), 0);
	spi_of(i, spi, 0xee);
	ck_assert_int_eq(tix_extra_add(d, t, spi), 0);
	return t;
}

static void drop(struct ikd *d, struct tunnel *t)
{
	if (!t)
		return;
	tun_text_put(d, t->site);
	tun_text_put(d, t->pop);
	free(t);
}

static void check_found(struct ikd *d, struct tunnel **v, unsigned i)
{
	uint8_t spi[IKE_SPI_LEN];
	struct tunnel *t = v[i], *u;
	char site[SITE_NAME_MAX];
	bool seen = false;

	spi_of(i, spi, 0xa5);
	ck_assert_ptr_eq(tix_ours_find(d, spi), t);
	ck_assert_ptr_eq(tix_half_find(d, t->spi_peer_i, &t->remote), t);
	spi_of(i, spi, 0xee);
	ck_assert_ptr_eq(tix_extra_find(d, spi), t);
	ck_assert_ptr_eq(d->tunnels[t->idx], t);
	snprintf(site, sizeof(site), "site-%u", i / 2);
	for (u = tix_site_next(d, site, NULL); u; u = tix_site_next(d, site, u)) {
		ck_assert_str_eq(u->site, site);
		seen |= u == t;
	}
	ck_assert(seen);
}

START_TEST(test_index_finds_every_tunnel_through_growth_and_removal)
{
	struct ikd d;
	struct tunnel **v = calloc(N, sizeof(*v));
	uint8_t spi[IKE_SPI_LEN];
	size_t idx;

	memset(&d, 0, sizeof(d));
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(tix_init(&d), 0);
	for (unsigned i = 0; i < N; i++)
		v[i] = make(&d, i);
	ck_assert_uint_eq(d.n_tunnels, N);
	ck_assert_uint_ge(d.n_buckets, N);	/* grown with the tunnels */
	ck_assert_uint_eq(d.half_open, N);
	ck_assert_uint_ge(d.n_half_buckets, N);	/* and with what they hold */
	ck_assert_uint_eq(d.n_extra_nodes, N);
	ck_assert_uint_ge(d.n_extra_buckets, N);
	for (unsigned i = 0; i < N; i++)
		check_found(&d, v, i);
	/* Child SPIs: a tunnel with the SPI among its Child SAs is what the index gives. */
	for (unsigned i = 0; i < N; i += 997) {
		struct child c = { .spi_in = 0xc0000000u | i, .spi_out = 0x10000000u | i };

		v[i]->children = &c;
		v[i]->n_children = 1;
		ck_assert_ptr_eq(tix_child_find(&d, 0xc0000000u | i, &idx), v[i]);
		ck_assert_uint_eq(idx, 0);
		v[i]->children = NULL;
		v[i]->n_children = 0;
		ck_assert_ptr_null(tix_child_find(&d, 0xc0000000u | i, &idx));
	}
	/* Every third tunnel leaves, from anywhere in the list. */
	for (unsigned i = 0; i < N; i += 3) {
		tix_ours_del(&d, v[i]);
		tix_half_del(&d, v[i]);
		tix_child_del(&d, v[i], 0xc0000000u | i);
		spi_of(i, spi, 0xee);
		tix_extra_del(&d, v[i], spi);
		tix_tunnel_del(&d, v[i]);
	}
	for (unsigned i = 0; i < N; i++) {
		if (i % 3) {
			check_found(&d, v, i);
			continue;
		}
		spi_of(i, spi, 0xa5);
		ck_assert_ptr_null(tix_ours_find(&d, spi));
		spi_of(i, spi, 0xee);
		ck_assert_ptr_null(tix_extra_find(&d, spi));
		drop(&d, v[i]);
		v[i] = NULL;
	}
	ck_assert_uint_eq(d.n_tunnels, N - (N + 2) / 3);
	ck_assert_uint_eq(d.half_open, N - (N + 2) / 3);
	ck_assert_uint_eq(d.n_extra_nodes, N - (N + 2) / 3);
	/* A site's tunnels share its name; POPs theirs. */
	ck_assert_ptr_eq(v[4]->site, v[5]->site);
	ck_assert_ptr_eq(v[5]->pop, v[7]->pop);
	/* A renamed site's tunnels are found by the new name only. */
	tix_set_site(&d, v[1], "renamed");
	ck_assert_ptr_eq(tix_site_next(&d, "renamed", NULL), v[1]);
	ck_assert_ptr_null(tix_site_next(&d, "renamed", v[1]));
	ck_assert_ptr_null(tix_site_next(&d, "site-0", NULL));	/* v[0], its twin, left */
	for (unsigned i = 0; i < N; i++)
		drop(&d, v[i]);
	ck_assert_uint_eq(d.n_texts, 0);	/* every name went with its last tunnel */
	tun_texts_clear(&d);
	tix_clear(&d);
	free(d.tunnels);
	free(v);
}
END_TEST

/*
 * A gateway's established tunnels: the half-open and extras tables keep their first size
 * while the tunnels' grow, and hold what comes and goes meanwhile.
 */
START_TEST(test_index_half_open_and_extras_sized_by_their_own)
{
	struct ikd d;
	struct tunnel **v = calloc(N, sizeof(*v));
	uint8_t spi[IKE_SPI_LEN];
	size_t half0, extra0;

	memset(&d, 0, sizeof(d));
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(tix_init(&d), 0);
	half0 = d.n_half_buckets;
	extra0 = d.n_extra_buckets;
	for (unsigned i = 0; i < N; i++) {
		v[i] = make(&d, i);
		/* established: out of the half-open table; its rekey's extra SA gone */
		tix_half_del(&d, v[i]);
		spi_of(i, spi, 0xee);
		tix_extra_del(&d, v[i], spi);
	}
	ck_assert_uint_ge(d.n_buckets, N);
	ck_assert_uint_eq(d.half_open, 0);
	ck_assert_uint_eq(d.n_extra_nodes, 0);
	ck_assert_uint_eq(d.n_half_buckets, half0);
	ck_assert_uint_eq(d.n_extra_buckets, extra0);
	/* A storm of half-open SAs and rekeys over them: the two tables grow for them. */
	for (unsigned i = 0; i < N; i += 4) {
		tix_half_add(&d, v[i]);
		spi_of(i, spi, 0xee);
		ck_assert_int_eq(tix_extra_add(&d, v[i], spi), 0);
	}
	ck_assert_uint_gt(d.n_half_buckets, half0);
	ck_assert_uint_ge(d.n_half_buckets, N / 4);
	ck_assert_uint_ge(d.n_extra_buckets, N / 4);
	for (unsigned i = 0; i < N; i++) {
		spi_of(i, spi, 0xee);
		ck_assert_ptr_eq(tix_half_find(&d, v[i]->spi_peer_i, &v[i]->remote),
				 i % 4 ? NULL : v[i]);
		ck_assert_ptr_eq(tix_extra_find(&d, spi), i % 4 ? NULL : v[i]);
	}
	for (unsigned i = 0; i < N; i++)
		drop(&d, v[i]);
	tun_texts_clear(&d);
	tix_clear(&d);
	free(d.tunnels);
	free(v);
}
END_TEST

/*
 * Child SA SPIs (open addressing): SPIs drawn from a small range so that many are there more
 * than once (in different tunnels, as a peer's own SPI may equal another's) and runs of slots
 * are long; adds and deletes in a pseudo-random order, each lookup checked against a plain
 * list of what should be there, through the table's growth and after every delete.
 */
START_TEST(test_index_child_spis_against_a_list)
{
	enum { T = 64, OPS = 30000, RANGE = 3000 };
	struct ikd d;
	static struct tunnel tun[T];
	static struct child ch[T];
	static uint32_t have[OPS];	/* SPIs in, by tunnel: have[k] for tunnel k % T */
	static bool in[OPS];
	uint64_t x = 88172645463325252ull;
	size_t n_in = 0, idx;

	memset(&d, 0, sizeof(d));
	ck_assert_int_eq(tix_init(&d), 0);
	for (int k = 0; k < T; k++) {
		tun[k].children = &ch[k];
		tun[k].n_children = 1;
	}
	for (unsigned op = 0; op < OPS; op++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		if (op > 1000 && x % 3 == 0) {
			/* a delete of one that is in */
			unsigned k = (unsigned)(x >> 8) % op;

			while (!in[k])
				k = (k + 1) % op;
			tix_child_del(&d, &tun[k % T], have[k]);
			in[k] = false;
			n_in--;
		} else {
			have[op] = 1 + (uint32_t)((x >> 20) % RANGE);
			ck_assert_int_eq(tix_child_add(&d, &tun[op % T], have[op]), 0);
			in[op] = true;
			n_in++;
		}
		ck_assert_uint_eq(d.n_child_spis, n_in);
		if (op % 193)
			continue;
		/* Each tunnel's Child SA is the SPI asked for: the index must give a tunnel that
		 * holds it, and give one whenever some tunnel holding it is in. */
		for (uint32_t spi = 1; spi <= RANGE; spi += 7) {
			bool want = false;
			struct tunnel *t;

			for (unsigned k = 0; k <= op; k++)
				want |= in[k] && have[k] == spi;
			for (int k = 0; k < T; k++)
				ch[k].spi_in = spi;
			t = tix_child_find(&d, spi, &idx);
			ck_assert_msg((t != NULL) == want, "SPI %u: %s", spi, want ? "lost" : "left");
			for (int k = 0; k < T; k++)
				ch[k].spi_in = 0;
		}
	}
	ck_assert_uint_le(d.n_child_spis * 5, d.child_cap * 4);	/* at most 80 % full */
	for (unsigned k = 0; k < OPS; k++)
		if (in[k])
			tix_child_del(&d, &tun[k % T], have[k]);
	ck_assert_uint_eq(d.n_child_spis, 0);
	for (size_t i = 0; i < d.child_cap; i++)
		ck_assert_ptr_null(d.child_tuns[i]);
	tix_clear(&d);
}
END_TEST

/* randombytes_random() as a script: the draws tun_new_spi() makes, in order. */
static uint32_t script[TUN_SPI_TRIES + 1];
static size_t script_at;

static uint32_t scripted_random(void)
{
	return script_at < sizeof(script) / sizeof(script[0]) ? script[script_at++] : 7;
}

static void scripted_buf(void *buf, size_t n)
{
	memset(buf, 0x5a, n);
}

static const char *scripted_name(void)
{
	return "scripted";
}

static struct randombytes_implementation scripted = {
	.implementation_name = scripted_name,
	.random = scripted_random,
	.buf = scripted_buf,
};

START_TEST(test_index_new_spi_is_none_in_use)
{
	struct ikd d;
	struct tunnel t;
	struct child c = { 0 };

	memset(&d, 0, sizeof(d));
	memset(&t, 0, sizeof(t));
	t.children = &c;
	t.n_children = 1;
	ck_assert_int_eq(tix_init(&d), 0);
	ck_assert_int_eq(randombytes_set_implementation(&scripted), 0);
	/* Nothing held: the first draw, with ikd's top bits. */
	script[0] = 0x12345678;
	script_at = 0;
	ck_assert_uint_eq(tun_new_spi(&d), 0xd2345678u);
	/* Held (the draw's top bits do not count): drawn again, until one is free. */
	ck_assert_int_eq(tix_child_add(&d, &t, 0xd2345678u), 0);
	ck_assert_int_eq(tix_child_add(&d, &t, 0xc0000001u), 0);
	script[0] = 0x12345678;
	script[1] = 0x40000001;
	script[2] = 0x2;
	script_at = 0;
	ck_assert_uint_eq(tun_new_spi(&d), 0xc0000002u);
	ck_assert_uint_eq(script_at, 3);
	/* Never more than TUN_SPI_TRIES draws, even if each is taken (it cannot loop). */
	for (size_t i = 0; i < TUN_SPI_TRIES + 1; i++)
		script[i] = 0x40000001;
	script_at = 0;
	ck_assert_uint_eq(tun_new_spi(&d), 0xc0000001u);
	ck_assert_uint_eq(script_at, TUN_SPI_TRIES);
	tix_child_del(&d, &t, 0xd2345678u);
	script[0] = 0x12345678;
	script_at = 0;
	ck_assert_uint_eq(tun_new_spi(&d), 0xd2345678u);
	tix_child_del(&d, &t, 0xc0000001u);
	tix_clear(&d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ikd_index");
	TCase *tc = tcase_create("index");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_index_finds_every_tunnel_through_growth_and_removal);
	tcase_add_test(tc, test_index_half_open_and_extras_sized_by_their_own);
	tcase_add_test(tc, test_index_child_spis_against_a_list);
	tcase_add_test(tc, test_index_new_spi_is_none_in_use);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
