/*
 * lib/ike/ike_auth.c: IKE_AUTH with PSK and the first Child SA, two sides in memory after a
 * real IKE_SA_INIT; refusals for a wrong PSK, an unknown identity, selectors or proposals that
 * do not match; and our responder on charon's captured IKE_AUTH request. Both messages also
 * come in fragments (RFC 7383), in order and shuffled, with copies, forgeries and strays.
 */
#include <arpa/inet.h>
#include <sodium.h>

#include "fragmenter.h"
#include "ike_samples.h"
#include "ike/ike_auth.h"
#include "ike/ike_sa.h"
#include "ike/sk_msg.h"
#include "ike/ts.h"

#define T(type_, id_, bits_) \
	((struct ike_transform){ .type = (type_), .id = (id_), .key_bits = (bits_) })

static struct ike_pld_sa esp_proposals(void)
{
	struct ike_pld_sa sa = { .n = 2 };

	sa.p[0] = (struct ike_proposal){ .num = 1, .protocol = IKE_PROTO_ESP, .n_transforms = 2,
		.t = { T(IKE_TRANSFORM_ENCR, IKE_ENCR_AES_GCM_16, 256),
		       T(IKE_TRANSFORM_ESN, IKE_ESN_NO, 0) } };
	sa.p[1] = (struct ike_proposal){ .num = 2, .protocol = IKE_PROTO_ESP, .n_transforms = 3,
		.t = { T(IKE_TRANSFORM_ENCR, IKE_ENCR_AES_CBC, 256),
		       T(IKE_TRANSFORM_INTEG, IKE_AUTH_HMAC_SHA2_256_128, 0),
		       T(IKE_TRANSFORM_ESN, IKE_ESN_NO, 0) } };
	return sa;
}

static struct ike_pld_ts prefix(uint8_t a, uint8_t b, uint8_t c, uint8_t d, unsigned plen)
{
	struct ike_pld_ts ts = { .n = 1 };
	uint8_t addr[4] = { a, b, c, d };

	ike_ts_from_prefix(&ts.ts[0], AF_INET, addr, plen);
	return ts;
}

/* The gateway's view of its one site. */
struct site {
	struct secret psk;
	struct ike_child_cfg child;
	struct ike_pld_sa proposals;
	const char *id;
	unsigned lookups;
	/* The gateway's kernel, when set: what installing the Child SA returns, and what came. */
	bool kernel;
	int install_rc;
	unsigned installs;
	uint32_t installed_spi_in, installed_spi_out;
};

static int install(void *arg, const struct ike_child *c)
{
	struct site *s = arg;

	s->installs++;
	s->installed_spi_in = c->spi_in;
	s->installed_spi_out = c->spi_out;
	ck_assert_ptr_nonnull(c->keys.encr_i.p);	/* keys and SPIs ready to go in */
	return s->install_rc;
}

static int lookup(void *arg, const struct ike_pld_id *idi,
			const struct ike_pld_id *idr, struct ike_auth_peer *ret)
{
	struct site *s = arg;

	s->lookups++;
	if (idi->type != IKE_ID_FQDN || idi->len != strlen(s->id) ||
	    memcmp(idi->data, s->id, idi->len) != 0)
		return -ENOENT;
	ret->psk = &s->psk;
	ret->child = &s->child;
	ret->id = (struct ike_pld_id){ .type = IKE_ID_FQDN, .data = (const uint8_t *)"pop.example",
				       .len = 11 };
	ret->install = s->kernel ? install : NULL;
	return 0;
}

struct pair {
	struct ike_init i, r;
	struct ike_pld_sa ike_proposals;
	struct ike_init_cfg cfg;
};

static void sa_init_frag(struct pair *p, bool fragmentation)
{
	struct ike_endpoint a = { .addr = { 192, 0, 2, 1 }, .addr_len = 4, .port = 500 };
	struct ike_endpoint b = { .addr = { 198, 51, 100, 1 }, .addr_len = 4, .port = 500 };
	struct ike_writer req, resp;

	sample_proposal(&p->ike_proposals);
	p->cfg = (struct ike_init_cfg){ .proposals = &p->ike_proposals, .dh_group = IKE_DH_MODP_2048,
					.fragmentation = fragmentation };
	ike_writer_init(&req, IKE_MAX_MSG_LEN);
	ike_writer_init(&resp, IKE_MAX_MSG_LEN);
	ck_assert_int_eq(ike_init_start(&p->i, &p->cfg, &a, &b, &req), 0);
	ck_assert_int_eq(ike_init_respond(&p->r, &p->cfg, NULL, req.buf, req.len, &b, &a, &resp),
			 IKE_INIT_DONE);
	ck_assert_int_eq(ike_init_on_response(&p->i, &p->cfg, resp.buf, resp.len, &a, &b, &req),
			 IKE_INIT_DONE);
	ck_assert(p->i.peer_fragmentation == fragmentation);
	ck_assert(p->r.peer_fragmentation == fragmentation);
	ike_writer_clear(&req);
	ike_writer_clear(&resp);
}

static void sa_init(struct pair *p)
{
	sa_init_frag(p, false);
}

static void site_init(struct site *s, const char *psk, struct ike_pld_ts remote)
{
	ck_assert_int_eq(secret_set(&s->psk, psk, strlen(psk)), 0);
	s->proposals = esp_proposals();
	s->child = (struct ike_child_cfg){ .proposals = &s->proposals,
					   .local = prefix(0, 0, 0, 0, 0), .remote = remote };
	s->id = "branch-12.example.com";
	s->lookups = 0;
	s->kernel = false;
	s->install_rc = 0;
	s->installs = 0;
}

/* Run IKE_AUTH from the branch with psk and child, against site s; returns both results. */
static void run(struct pair *p, struct site *s, const char *psk, const struct ike_child_cfg *child,
		int *ret_i, int *ret_r, struct ike_child *ci, struct ike_child *cr,
		uint16_t *notify_i, uint16_t *notify_r)
{
	struct ike_pld_id idi = { .type = IKE_ID_FQDN, .data = (const uint8_t *)"branch-12.example.com",
				  .len = 21 };
	struct ike_pld_id seen;
	struct secret k = { 0 };
	struct ike_writer req, resp;

	ck_assert_int_eq(secret_set(&k, psk, strlen(psk)), 0);
	ike_writer_init(&req, IKE_MAX_MSG_LEN);
	ike_writer_init(&resp, IKE_MAX_MSG_LEN);
	ck_assert_int_eq(ike_auth_request(&p->i, &idi, &k, true, child, 0xc0000001, &req), 0);
	*ret_r = ike_auth_respond(&p->r, lookup, s, 0xd0000002, req.buf, req.len, &resp, cr, &seen,
				  notify_r);
	*ret_i = ike_auth_on_response(&p->i, &k, child, 0xc0000001, NULL, resp.buf, resp.len, ci,
				      notify_i);
	secret_clear(&k);
	ike_writer_clear(&req);
	ike_writer_clear(&resp);
}

START_TEST(test_ike_auth_psk_and_child_sa_agree)
{
	struct pair p;
	struct site s;
	struct ike_child ci, cr;
	struct ike_child_cfg branch;
	struct ike_pld_sa proposals = esp_proposals();
	uint16_t ni, nr;
	int ri, rr;

	sa_init(&p);
	site_init(&s, "a site's pre-shared key", prefix(10, 1, 0, 0, 24));
	branch = (struct ike_child_cfg){ .proposals = &proposals, .local = prefix(10, 1, 0, 0, 16),
					 .remote = prefix(0, 0, 0, 0, 0) };
	run(&p, &s, "a site's pre-shared key", &branch, &ri, &rr, &ci, &cr, &ni, &nr);
	ck_assert_int_eq(rr, IKE_AUTH_DONE);
	ck_assert_int_eq(ri, IKE_AUTH_DONE);
	/* Each side sends with the other's inbound SPI. */
	ck_assert_uint_eq(ci.spi_in, 0xc0000001);
	ck_assert_uint_eq(ci.spi_out, 0xd0000002);
	ck_assert_uint_eq(cr.spi_in, 0xd0000002);
	ck_assert_uint_eq(cr.spi_out, 0xc0000001);
	/* The gateway's preference (GCM-256), the same KEYMAT on both sides. */
	ck_assert_uint_eq(ci.encr->id, IKE_ENCR_AES_GCM_16);
	ck_assert_ptr_null(ci.integ);
	ck_assert_uint_eq(ci.keys.encr_i.len, 36);
	ck_assert_mem_eq(ci.keys.encr_i.p, cr.keys.encr_i.p, 36);
	ck_assert_mem_eq(ci.keys.encr_r.p, cr.keys.encr_r.p, 36);
	ck_assert(memcmp(ci.keys.encr_i.p, ci.keys.encr_r.p, 36) != 0);
	/* The IKE_AUTH initiator sends with the _i keys. */
	ck_assert(ci.initiator);
	ck_assert(!cr.initiator);
	/* Selectors narrowed to the site's /24. */
	ck_assert_uint_eq(ci.ts_local.n, 1);
	ck_assert_mem_eq(ci.ts_local.ts[0].end, "\x0a\x01\x00\xff", 4);
	ck_assert_mem_eq(cr.ts_remote.ts[0].start, "\x0a\x01\x00\x00", 4);
	ike_child_clear(&ci);
	ike_child_clear(&cr);
	secret_clear(&s.psk);
	ike_init_clear(&p.i);
	ike_init_clear(&p.r);
}
END_TEST

START_TEST(test_ike_auth_wrong_psk_or_unknown_identity_is_refused)
{
	struct pair p;
	struct site s;
	struct ike_child ci, cr;
	struct ike_pld_sa proposals = esp_proposals();
	struct ike_child_cfg branch = { .proposals = &proposals, .local = prefix(10, 1, 0, 0, 24),
					.remote = prefix(0, 0, 0, 0, 0) };
	uint16_t ni, nr;
	int ri, rr;

	sa_init(&p);
	site_init(&s, "the right key", prefix(10, 1, 0, 0, 24));
	run(&p, &s, "the wrong key", &branch, &ri, &rr, &ci, &cr, &ni, &nr);
	ck_assert_int_eq(rr, IKE_AUTH_REFUSED);
	ck_assert_uint_eq(nr, IKE_N_AUTHENTICATION_FAILED);
	ck_assert_int_eq(ri, IKE_AUTH_FAILED);
	ck_assert_uint_eq(ni, IKE_N_AUTHENTICATION_FAILED);
	ck_assert_ptr_null(cr.keys.encr_i.p);
	/* An identity the gateway does not know looks exactly the same from outside. */
	s.id = "somebody-else.example.com";
	run(&p, &s, "the right key", &branch, &ri, &rr, &ci, &cr, &ni, &nr);
	ck_assert_int_eq(rr, IKE_AUTH_REFUSED);
	ck_assert_int_eq(ri, IKE_AUTH_FAILED);
	secret_clear(&s.psk);
	ike_init_clear(&p.i);
	ike_init_clear(&p.r);
}
END_TEST

START_TEST(test_ike_auth_child_refusals_keep_the_ike_sa)
{
	struct pair p;
	struct site s;
	struct ike_child ci, cr;
	struct ike_pld_sa proposals = esp_proposals();
	struct ike_child_cfg branch = { .proposals = &proposals, .local = prefix(10, 7, 0, 0, 16),
					.remote = prefix(0, 0, 0, 0, 0) };
	uint16_t ni, nr;
	int ri, rr;

	sa_init(&p);
	/* The branch offers 10.7/16, the gateway allows only 10.1/24: TS_UNACCEPTABLE. */
	site_init(&s, "k", prefix(10, 1, 0, 0, 24));
	run(&p, &s, "k", &branch, &ri, &rr, &ci, &cr, &ni, &nr);
	ck_assert_int_eq(rr, IKE_AUTH_DONE_NO_CHILD);
	ck_assert_int_eq(ri, IKE_AUTH_DONE_NO_CHILD);
	ck_assert_uint_eq(ni, IKE_N_TS_UNACCEPTABLE);
	/* Selectors fine, but only AES-128-CBC offered: NO_PROPOSAL_CHOSEN. */
	branch.local = prefix(10, 1, 0, 0, 24);
	proposals.n = 1;
	proposals.p[0] = (struct ike_proposal){ .num = 1, .protocol = IKE_PROTO_ESP,
		.n_transforms = 3, .t = { T(IKE_TRANSFORM_ENCR, IKE_ENCR_AES_CBC, 128),
		T(IKE_TRANSFORM_INTEG, IKE_AUTH_HMAC_SHA1_96, 0), T(IKE_TRANSFORM_ESN, 0, 0) } };
	run(&p, &s, "k", &branch, &ri, &rr, &ci, &cr, &ni, &nr);
	ck_assert_int_eq(ri, IKE_AUTH_DONE_NO_CHILD);
	ck_assert_uint_eq(ni, IKE_N_NO_PROPOSAL_CHOSEN);
	secret_clear(&s.psk);
	ike_init_clear(&p.i);
	ike_init_clear(&p.r);
}
END_TEST

/* The gateway installs the Child SA before it answers; a refused install is not announced. */
START_TEST(test_ike_auth_child_sa_installed_before_the_answer_or_not_announced)
{
	struct pair p;
	struct site s;
	struct ike_child ci, cr;
	struct ike_pld_sa proposals = esp_proposals();
	struct ike_child_cfg branch = { .proposals = &proposals, .local = prefix(10, 1, 0, 0, 24),
					.remote = prefix(0, 0, 0, 0, 0) };
	uint16_t ni, nr;
	int ri, rr;

	sa_init(&p);
	site_init(&s, "a site's pre-shared key", prefix(10, 1, 0, 0, 24));
	s.kernel = true;
	run(&p, &s, "a site's pre-shared key", &branch, &ri, &rr, &ci, &cr, &ni, &nr);
	ck_assert_int_eq(rr, IKE_AUTH_DONE);
	ck_assert_int_eq(ri, IKE_AUTH_DONE);
	ck_assert_uint_eq(s.installs, 1);
	ck_assert_uint_eq(s.installed_spi_in, 0xd0000002);
	ck_assert_uint_eq(s.installed_spi_out, 0xc0000001);
	ike_child_clear(&ci);
	ike_child_clear(&cr);
	ike_init_clear(&p.i);
	ike_init_clear(&p.r);

	/* The kernel refuses it: the branch hears NO_PROPOSAL_CHOSEN, the IKE SA is made. */
	sa_init(&p);
	s.install_rc = -ENOSYS;
	s.installs = 0;
	run(&p, &s, "a site's pre-shared key", &branch, &ri, &rr, &ci, &cr, &ni, &nr);
	ck_assert_uint_eq(s.installs, 1);
	ck_assert_int_eq(rr, IKE_AUTH_DONE_NO_CHILD);
	ck_assert_uint_eq(nr, IKE_N_NO_PROPOSAL_CHOSEN);
	ck_assert_ptr_null(cr.keys.encr_i.p);	/* nothing kept of it */
	ck_assert_int_eq(ri, IKE_AUTH_DONE_NO_CHILD);
	ck_assert_uint_eq(ni, IKE_N_NO_PROPOSAL_CHOSEN);
	ck_assert_ptr_null(ci.keys.encr_i.p);
	secret_clear(&s.psk);
	ike_init_clear(&p.i);
	ike_init_clear(&p.r);
}
END_TEST

START_TEST(test_ike_auth_tampered_request_is_dropped)
{
	struct pair p;
	struct site s;
	struct ike_pld_sa proposals = esp_proposals();
	struct ike_child_cfg branch = { .proposals = &proposals, .local = prefix(10, 1, 0, 0, 24),
					.remote = prefix(0, 0, 0, 0, 0) };
	struct ike_pld_id idi = { .type = IKE_ID_FQDN, .data = (const uint8_t *)"x", .len = 1 }, seen;
	struct ike_writer req, resp;
	struct ike_child cr;
	uint16_t nr;

	sa_init(&p);
	site_init(&s, "k", prefix(10, 1, 0, 0, 24));
	ike_writer_init(&req, IKE_MAX_MSG_LEN);
	ike_writer_init(&resp, IKE_MAX_MSG_LEN);
	ck_assert_int_eq(ike_auth_request(&p.i, &idi, &s.psk, false, &branch, 1, &req), 0);
	req.buf[req.len - 20] ^= 0x01;
	ck_assert_int_eq(ike_auth_respond(&p.r, lookup, &s, 2, req.buf, req.len, &resp, &cr, &seen,
					  &nr), -EACCES);
	ck_assert_uint_eq(resp.len, 0);
	ike_writer_clear(&req);
	ike_writer_clear(&resp);
	secret_clear(&s.psk);
	ike_init_clear(&p.i);
	ike_init_clear(&p.r);
}
END_TEST

/* A protected IKE_AUTH response from the gateway holding only notifies of these types. */
static void bare_response(const struct pair *p, const uint16_t *types, size_t n,
			  struct ike_writer *out)
{
	struct ike_writer plain;
	struct ike_builder b;

	ike_writer_init(&plain, 1024);
	ike_writer_init(out, IKE_MAX_MSG_LEN);
	ike_build_chain_begin(&b, &plain);
	for (size_t i = 0; i < n; i++) {
		struct ike_pld_notify nt = { .type = types[i] };

		ck_assert_int_eq(IKE_BUILD_PAYLOAD(&b, IKE_PLD_NOTIFY,
						   ike_pld_notify_encode(b.w, &nt)), 0);
	}
	ck_assert_int_eq(ike_sk_seal(&p->r.k, IKE_EXCH_IKE_AUTH, true, 1, &plain, b.first_type,
				     out), 0);
	ike_writer_clear(&plain);
}

/*
 * charon answers a bare N(NO_PROPOSAL_CHOSEN) when it cannot install the Child SA (RFC 7296
 * §2.21.2: the error is usually the only payload). It is the answer, the exchange failed
 * with the peer's reason, not a message to drop and retransmit for; a status notify alone is
 * no answer; a forged one is still dropped.
 */
START_TEST(test_ike_auth_bare_error_notify_fails_the_exchange)
{
	static const uint16_t nopc[] = { IKE_N_NO_PROPOSAL_CHOSEN };
	static const uint16_t ts[] = { IKE_N_IKEV2_FRAGMENTATION_SUPPORTED, IKE_N_TS_UNACCEPTABLE };
	static const uint16_t status[] = { IKE_N_IKEV2_FRAGMENTATION_SUPPORTED };
	struct pair p;
	struct ike_pld_sa proposals = esp_proposals();
	struct ike_child_cfg branch = { .proposals = &proposals, .local = prefix(10, 1, 0, 0, 24),
					.remote = prefix(0, 0, 0, 0, 0) };
	struct ike_pld_id idi = { .type = IKE_ID_FQDN, .data = (const uint8_t *)"x", .len = 1 };
	struct secret k = { 0 };
	struct ike_writer req, resp;
	struct ike_child ci;
	uint16_t ni;

	sa_init(&p);
	ck_assert_int_eq(secret_set(&k, "k", 1), 0);
	ike_writer_init(&req, IKE_MAX_MSG_LEN);
	ck_assert_int_eq(ike_auth_request(&p.i, &idi, &k, true, &branch, 1, &req), 0);

	bare_response(&p, status, 1, &resp);
	ck_assert_int_eq(ike_auth_on_response(&p.i, &k, &branch, 1, NULL, resp.buf, resp.len, &ci,
					      &ni), -EPROTO);
	ike_writer_clear(&resp);

	bare_response(&p, nopc, 1, &resp);
	resp.buf[resp.len - 1] ^= 0x01;
	ck_assert_int_eq(ike_auth_on_response(&p.i, &k, &branch, 1, NULL, resp.buf, resp.len, &ci,
					      &ni), -EACCES);
	resp.buf[resp.len - 1] ^= 0x01;
	ck_assert_int_eq(ike_auth_on_response(&p.i, &k, &branch, 1, NULL, resp.buf, resp.len, &ci,
					      &ni), IKE_AUTH_FAILED);
	ck_assert_uint_eq(ni, IKE_N_NO_PROPOSAL_CHOSEN);
	ck_assert_ptr_null(ci.keys.encr_i.p);
	ike_writer_clear(&resp);

	/* The first error notify is the reason, after any status ones. */
	bare_response(&p, ts, 2, &resp);
	ck_assert_int_eq(ike_auth_on_response(&p.i, &k, &branch, 1, NULL, resp.buf, resp.len, &ci,
					      &ni), IKE_AUTH_FAILED);
	ck_assert_uint_eq(ni, IKE_N_TS_UNACCEPTABLE);
	ike_writer_clear(&resp);
	ike_writer_clear(&req);
	secret_clear(&k);
	ike_init_clear(&p.i);
	ike_init_clear(&p.r);
}
END_TEST

static uint8_t *cap(const char *name, size_t *len)
{
	char path[128];
	char *hex;
	uint8_t *raw;

	snprintf(path, sizeof(path), "strongswan/modp2048/%s", name);
	hex = test_read_data(path, NULL);
	raw = test_hex(hex, len);
	free(hex);
	return raw;
}

static int charon_lookup(void *arg, const struct ike_pld_id *idi,
			const struct ike_pld_id *idr, struct ike_auth_peer *ret)
{
	struct site *s = arg;

	ck_assert_uint_eq(idi->type, IKE_ID_FQDN);
	ck_assert_uint_eq(idi->len, strlen(s->id));
	ck_assert(memcmp(idi->data, s->id, idi->len) == 0);
	ret->psk = &s->psk;
	ret->child = &s->child;
	ret->id = (struct ike_pld_id){ .type = IKE_ID_IPV4_ADDR,
				       .data = (const uint8_t *)"\x0a\x63\x00\x02", .len = 4 };
	return 0;
}

/* The IKE SA charon negotiated, rebuilt from the capture and charon's logged keys. */
START_TEST(test_ike_auth_verifies_charons_real_request)
{
	struct ike_init st;
	struct site s;
	struct ike_msg m;
	struct ike_writer resp;
	struct ike_child cr;
	struct ike_pld_id seen;
	struct ike_pld_nonce nonce;
	char *keys = test_read_data("strongswan/modp2048/keys.txt", NULL);
	size_t l_req, l_resp, l_auth, l;
	uint8_t *sa_req = cap("ike_sa_init_request.hex", &l_req);
	uint8_t *sa_resp = cap("ike_sa_init_response.hex", &l_resp);
	uint8_t *auth_req = cap("ike_auth_request.hex", &l_auth);
	/* prf+'s output as charon logged it, in order; 32 bytes each for this suite. */
	static const char *const names[] = { "sk_d", "sk_ai", "sk_ar", "sk_ei", "sk_er", "sk_pi",
					      "sk_pr" };
	uint8_t km[7 * 32];
	uint16_t nr;

	memset(&st, 0, sizeof(st));
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(crypto_suite_init(&st.suite, IKE_ENCR_AES_CBC, 256, IKE_PRF_HMAC_SHA2_256,
					   IKE_AUTH_HMAC_SHA2_256_128, IKE_DH_MODP_2048), 0);
	for (size_t i = 0; i < 7; i++) {
		uint8_t *v = test_kv_hex(keys, names[i], &l);

		ck_assert_uint_eq(l, 32);
		memcpy(km + 32 * i, v, 32);
		free(v);
	}
	ck_assert_int_eq(crypto_ike_keys_cut(km, 32, 32, 32, &st.keys, &st.auth_keys), 0);
	{
		uint8_t *v = test_kv_hex(keys, "psk", &l);

		ck_assert_int_eq(secret_set(&s.psk, v, l), 0);
		free(v);
	}
	ck_assert_int_eq(ike_msg_decode(sa_req, l_req, &m, NULL), 0);
	memcpy(st.spi_i, m.hdr.spi_i, 8);
	ck_assert_int_eq(IKE_CHAIN_DECODE(&m.chain, IKE_PLD_NONCE, ike_pld_nonce_decode, &nonce), 0);
	memcpy(st.nonce_i, nonce.data, nonce.len);
	st.nonce_i_len = nonce.len;
	ck_assert_int_eq(ike_msg_decode(sa_resp, l_resp, &m, NULL), 0);
	memcpy(st.spi_r, m.hdr.spi_r, 8);
	ck_assert_int_eq(IKE_CHAIN_DECODE(&m.chain, IKE_PLD_NONCE, ike_pld_nonce_decode, &nonce), 0);
	memcpy(st.nonce_r, nonce.data, nonce.len);
	st.nonce_r_len = nonce.len;
	ike_writer_init(&st.msg_i, IKE_MAX_MSG_LEN);
	ike_writer_init(&st.msg_r, IKE_MAX_MSG_LEN);
	ck_assert_int_eq(ike_writer_bytes(&st.msg_i, sa_req, l_req), 0);
	ck_assert_int_eq(ike_writer_bytes(&st.msg_r, sa_resp, l_resp), 0);

	/* The gateway: this site's PSK; ESP aes256-sha256 (charon's esp_proposals), ESN off. */
	s.id = "branch-12.example.com";
	s.proposals = esp_proposals();
	s.child = (struct ike_child_cfg){ .proposals = &s.proposals, .local = prefix(0, 0, 0, 0, 0),
					  .remote = prefix(10, 1, 0, 0, 16) };
	ike_writer_init(&resp, IKE_MAX_MSG_LEN);
	ck_assert_int_eq(ike_auth_respond(&st, charon_lookup, &s, 0xcafe0001, auth_req, l_auth,
					  &resp, &cr, &seen, &nr), IKE_AUTH_DONE);
	ck_assert_uint_eq(cr.encr->id, IKE_ENCR_AES_CBC);
	ck_assert_uint_eq(cr.integ->id, IKE_AUTH_HMAC_SHA2_256_128);
	ck_assert(!cr.esn);
	ck_assert_mem_eq(cr.ts_remote.ts[0].start, "\x0a\x01\x00\x00", 4);
	ck_assert_uint_gt(resp.len, IKE_HEADER_LEN);
	ike_child_clear(&cr);
	ike_writer_clear(&resp);
	crypto_ike_keys_clear(&st.keys);
	crypto_ike_auth_keys_clear(&st.auth_keys);
	ike_writer_clear(&st.msg_i);
	ike_writer_clear(&st.msg_r);
	secret_clear(&s.psk);
	free(keys);
	free(sa_req);
	free(sa_resp);
	free(auth_req);
}
END_TEST

/* --- Fragments (RFC 7383) ------------------------------------------------------------- */

#define FRAG_MAX	128	/* IKE message bytes per fragment: an IKE_AUTH takes several */
#define SPI_I		0xc0000001
#define SPI_R		0xd0000002

static const struct ike_pld_id branch_id = { .type = IKE_ID_FQDN,
					     .data = (const uint8_t *)"branch-12.example.com",
					     .len = 21 };

/* Fragment i of f, byte flip_at from its end flipped (0: none), to the responder. */
static int respond_frag(struct pair *p, struct site *s, const struct ike_frags *f, uint16_t i,
			size_t flip_at, struct ike_writer *resp, struct ike_child *cr, uint16_t *nr)
{
	struct ike_writer one;
	struct ike_pld_id seen;
	int rc;

	fragment_copy(f, i, flip_at, &one);
	rc = ike_auth_respond(&p->r, lookup, s, SPI_R, one.buf, one.len, resp, cr, &seen, nr);
	ike_writer_clear(&one);
	return rc;
}

/* The same, to the initiator. */
static int on_response_frag(struct pair *p, const struct secret *k,
			    const struct ike_child_cfg *child, const struct ike_frags *f,
			    uint16_t i, size_t flip_at, struct ike_child *ci, uint16_t *ni)
{
	struct ike_writer one;
	int rc;

	fragment_copy(f, i, flip_at, &one);
	rc = ike_auth_on_response(&p->i, k, child, SPI_I, NULL, one.buf, one.len, ci, ni);
	ike_writer_clear(&one);
	return rc;
}

/* Both ends of the first Child SA agree. */
static void assert_child_agrees(const struct ike_child *ci, const struct ike_child *cr)
{
	ck_assert_uint_eq(ci->spi_in, SPI_I);
	ck_assert_uint_eq(ci->spi_out, SPI_R);
	ck_assert_uint_eq(cr->spi_in, SPI_R);
	ck_assert_uint_eq(cr->spi_out, SPI_I);
	ck_assert_uint_eq(ci->keys.encr_i.len, 36);
	ck_assert_mem_eq(ci->keys.encr_i.p, cr->keys.encr_i.p, 36);
	ck_assert_mem_eq(ci->keys.encr_r.p, cr->keys.encr_r.p, 36);
	ck_assert(ci->initiator);
	ck_assert(!cr->initiator);
}

struct frag_fx {
	struct pair p;
	struct site s;
	struct ike_pld_sa proposals;
	struct ike_child_cfg branch;
	struct secret k;
	struct ike_writer req, resp;
};

static void frag_fx_init(struct frag_fx *x)
{
	memset(x, 0, sizeof(*x));
	sa_init_frag(&x->p, true);
	site_init(&x->s, "k", prefix(10, 1, 0, 0, 24));
	x->proposals = esp_proposals();
	x->branch = (struct ike_child_cfg){ .proposals = &x->proposals,
					    .local = prefix(10, 1, 0, 0, 24),
					    .remote = prefix(0, 0, 0, 0, 0) };
	ck_assert_int_eq(secret_set(&x->k, "k", 1), 0);
	ike_writer_init(&x->req, IKE_MAX_MSG_LEN);
	ike_writer_init(&x->resp, IKE_MAX_MSG_LEN);
	ck_assert_int_eq(ike_auth_request(&x->p.i, &branch_id, &x->k, true, &x->branch, SPI_I,
					  &x->req), 0);
}

static void frag_fx_clear(struct frag_fx *x)
{
	ike_writer_clear(&x->req);
	ike_writer_clear(&x->resp);
	secret_clear(&x->k);
	secret_clear(&x->s.psk);
	ike_init_clear(&x->p.i);
	ike_init_clear(&x->p.r);
}

START_TEST(test_ike_auth_fragmented_request_in_order)
{
	struct frag_fx x;
	struct ike_frags f;
	struct ike_child ci, cr;
	uint16_t ni, nr;

	frag_fx_init(&x);
	fragment_msg(&x.p.i.k, &x.req, FRAG_MAX, &f);
	ck_assert_uint_ge(f.n, 4);
	for (uint16_t i = 0; i + 1 < f.n; i++) {
		/* Kept; nothing is looked up or answered before the message is whole. */
		ck_assert_int_eq(respond_frag(&x.p, &x.s, &f, i, 0, &x.resp, &cr, &nr),
				 -EINPROGRESS);
		ck_assert_uint_eq(x.resp.len, 0);
		ck_assert_uint_eq(x.s.lookups, 0);
		ck_assert_ptr_nonnull(x.p.r.frag_rx);
		ck_assert_uint_eq(x.p.r.frag_rx->received, i + 1);
	}
	ck_assert_int_eq(respond_frag(&x.p, &x.s, &f, (uint16_t)(f.n - 1), 0, &x.resp, &cr, &nr),
			 IKE_AUTH_DONE);
	ck_assert_uint_eq(x.s.lookups, 1);
	ck_assert_ptr_null(x.p.r.frag_rx);	/* spent: freed */
	/* The response is whole, and the initiator takes it as for an unfragmented request. */
	ck_assert_int_eq(ike_auth_on_response(&x.p.i, &x.k, &x.branch, SPI_I, NULL, x.resp.buf,
					      x.resp.len, &ci, &ni), IKE_AUTH_DONE);
	assert_child_agrees(&ci, &cr);
	ike_child_clear(&ci);
	ike_child_clear(&cr);
	ike_frags_clear(&f);
	frag_fx_clear(&x);
}
END_TEST

START_TEST(test_ike_auth_fragmented_request_shuffled_with_copies_and_forgeries)
{
	struct frag_fx x;
	struct ike_frags f, other;
	struct ike_writer empty = { 0 };
	struct ike_child ci, cr;
	uint16_t order[IKE_FRAG_MAX_FRAGMENTS] = { 0 }, ni, nr;

	frag_fx_init(&x);
	ike_frags_init(&other);
	fragment_msg(&x.p.i.k, &x.req, FRAG_MAX, &f);
	ck_assert_uint_ge(f.n, 4);
	fragment_order(f.n, order);
	/* A forgery first: nothing is kept, not even the reassembly state. */
	ck_assert_int_eq(respond_frag(&x.p, &x.s, &f, order[0], 20, &x.resp, &cr, &nr), -EACCES);
	ck_assert_ptr_null(x.p.r.frag_rx);
	for (uint16_t k = 0; k + 1 < f.n; k++) {
		ck_assert_int_eq(respond_frag(&x.p, &x.s, &f, order[k], 0, &x.resp, &cr, &nr),
				 -EINPROGRESS);
		if (k != 1)
			continue;
		/* A copy of a kept fragment, sound or not, is dropped unopened. */
		ck_assert_int_eq(respond_frag(&x.p, &x.s, &f, order[0], 0, &x.resp, &cr, &nr),
				 -EALREADY);
		ck_assert_int_eq(respond_frag(&x.p, &x.s, &f, order[1], 20, &x.resp, &cr, &nr),
				 -EALREADY);
		/* A forged copy of the one still missing last: refused, it stays missing. */
		ck_assert_int_eq(respond_frag(&x.p, &x.s, &f, order[f.n - 1], 20, &x.resp, &cr,
					      &nr), -EACCES);
		/* The initiator's fragment of another message ID: authentic, outside IKE_AUTH. */
		ck_assert_int_eq(ike_frag_seal(&x.p.i.k, IKE_EXCH_IKE_AUTH, false, 2, &empty,
					       IKE_PLD_NONE, FRAG_MAX, &other), 0);
		ck_assert_int_eq(respond_frag(&x.p, &x.s, &other, 0, 0, &x.resp, &cr, &nr),
				 -EPROTO);
		ck_assert_uint_eq(x.p.r.frag_rx->received, 2);
		ck_assert_uint_eq(x.resp.len, 0);
	}
	ck_assert_uint_eq(x.s.lookups, 0);
	ck_assert_int_eq(respond_frag(&x.p, &x.s, &f, order[f.n - 1], 0, &x.resp, &cr, &nr),
			 IKE_AUTH_DONE);
	ck_assert_ptr_null(x.p.r.frag_rx);
	ck_assert_int_eq(ike_auth_on_response(&x.p.i, &x.k, &x.branch, SPI_I, NULL, x.resp.buf,
					      x.resp.len, &ci, &ni), IKE_AUTH_DONE);
	assert_child_agrees(&ci, &cr);
	ike_child_clear(&ci);
	ike_child_clear(&cr);
	ike_frags_clear(&f);
	ike_frags_clear(&other);
	frag_fx_clear(&x);
}
END_TEST

START_TEST(test_ike_auth_fragmented_response_in_order_and_shuffled)
{
	struct frag_fx x;
	struct ike_frags f;
	struct ike_child ci, cr;
	struct ike_pld_id seen;
	uint16_t order[IKE_FRAG_MAX_FRAGMENTS] = { 0 }, ni, nr;

	for (int shuffled = 0; shuffled < 2; shuffled++) {
		frag_fx_init(&x);
		ck_assert_int_eq(ike_auth_respond(&x.p.r, lookup, &x.s, SPI_R, x.req.buf, x.req.len,
						  &x.resp, &cr, &seen, &nr), IKE_AUTH_DONE);
		fragment_msg(&x.p.r.k, &x.resp, FRAG_MAX, &f);
		ck_assert_uint_ge(f.n, 4);
		for (uint16_t k = 0; k < f.n; k++)
			order[k] = k;
		if (shuffled)
			fragment_order(f.n, order);
		ck_assert_int_eq(on_response_frag(&x.p, &x.k, &x.branch, &f, order[0], 20, &ci,
						  &ni), -EACCES);
		ck_assert_ptr_null(x.p.i.frag_rx);
		for (uint16_t k = 0; k + 1 < f.n; k++) {
			ck_assert_int_eq(on_response_frag(&x.p, &x.k, &x.branch, &f, order[k], 0,
							  &ci, &ni), -EINPROGRESS);
			ck_assert_ptr_null(ci.keys.encr_i.p);
		}
		ck_assert_int_eq(on_response_frag(&x.p, &x.k, &x.branch, &f, order[0], 0, &ci, &ni),
				 -EALREADY);
		ck_assert_int_eq(on_response_frag(&x.p, &x.k, &x.branch, &f, order[f.n - 1], 20,
						  &ci, &ni), -EACCES);
		ck_assert_uint_eq(x.p.i.frag_rx->received, f.n - 1);
		ck_assert_int_eq(on_response_frag(&x.p, &x.k, &x.branch, &f, order[f.n - 1], 0,
						  &ci, &ni), IKE_AUTH_DONE);
		ck_assert_ptr_null(x.p.i.frag_rx);
		assert_child_agrees(&ci, &cr);
		ike_child_clear(&ci);
		ike_child_clear(&cr);
		ike_frags_clear(&f);
		frag_fx_clear(&x);
	}
}
END_TEST

START_TEST(test_ike_auth_refused_when_fragmented_as_whole)
{
	struct frag_fx x;
	struct ike_frags f;
	struct ike_child ci, cr;
	uint16_t ni, nr;

	/* A wrong PSK in fragments: refused as the whole request is, once it is whole. */
	frag_fx_init(&x);
	secret_clear(&x.k);
	ck_assert_int_eq(secret_set(&x.k, "not k", 5), 0);
	ck_assert_int_eq(ike_auth_request(&x.p.i, &branch_id, &x.k, true, &x.branch, SPI_I,
					  &x.req), 0);
	fragment_msg(&x.p.i.k, &x.req, FRAG_MAX, &f);
	for (uint16_t i = 0; i + 1 < f.n; i++)
		ck_assert_int_eq(respond_frag(&x.p, &x.s, &f, i, 0, &x.resp, &cr, &nr),
				 -EINPROGRESS);
	ck_assert_int_eq(respond_frag(&x.p, &x.s, &f, (uint16_t)(f.n - 1), 0, &x.resp, &cr, &nr),
			 IKE_AUTH_REFUSED);
	ck_assert_uint_eq(nr, IKE_N_AUTHENTICATION_FAILED);
	ck_assert_int_eq(ike_auth_on_response(&x.p.i, &x.k, &x.branch, SPI_I, NULL, x.resp.buf,
					      x.resp.len, &ci, &ni), IKE_AUTH_FAILED);
	ike_frags_clear(&f);
	frag_fx_clear(&x);
}
END_TEST

START_TEST(test_ike_auth_fragments_need_negotiation_and_partial_ones_are_freed)
{
	struct frag_fx x;
	struct ike_frags f;
	struct ike_child cr;
	struct ike_sa sa;
	uint16_t nr;

	/* IKE_SA_INIT did not negotiate fragmentation: a fragment is refused as before. */
	frag_fx_init(&x);
	x.p.r.peer_fragmentation = false;
	fragment_msg(&x.p.i.k, &x.req, FRAG_MAX, &f);
	ck_assert_int_eq(respond_frag(&x.p, &x.s, &f, 0, 0, &x.resp, &cr, &nr), -EPROTO);
	ck_assert_ptr_null(x.p.r.frag_rx);
	/* A partial message goes with the state (ASan sees a leak otherwise) ... */
	x.p.r.peer_fragmentation = true;
	ck_assert_int_eq(respond_frag(&x.p, &x.s, &f, 0, 0, &x.resp, &cr, &nr), -EINPROGRESS);
	ck_assert_ptr_nonnull(x.p.r.frag_rx);
	/* ... or with the hand-over to the established IKE SA, where it is of no use. */
	ike_sa_from_init(&sa, &x.p.r);
	ck_assert_ptr_null(x.p.r.frag_rx);
	ike_sa_clear(&sa);
	ike_frags_clear(&f);
	frag_fx_clear(&x);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ike_auth");
	TCase *tc = tcase_create("auth");

	tcase_add_test(tc, test_ike_auth_psk_and_child_sa_agree);
	tcase_add_test(tc, test_ike_auth_wrong_psk_or_unknown_identity_is_refused);
	tcase_add_test(tc, test_ike_auth_child_refusals_keep_the_ike_sa);
	tcase_add_test(tc, test_ike_auth_child_sa_installed_before_the_answer_or_not_announced);
	tcase_add_test(tc, test_ike_auth_tampered_request_is_dropped);
	tcase_add_test(tc, test_ike_auth_bare_error_notify_fails_the_exchange);
	tcase_add_test(tc, test_ike_auth_verifies_charons_real_request);
	tcase_add_test(tc, test_ike_auth_fragmented_request_in_order);
	tcase_add_test(tc, test_ike_auth_fragmented_request_shuffled_with_copies_and_forgeries);
	tcase_add_test(tc, test_ike_auth_fragmented_response_in_order_and_shuffled);
	tcase_add_test(tc, test_ike_auth_refused_when_fragmented_as_whole);
	tcase_add_test(tc, test_ike_auth_fragments_need_negotiation_and_partial_ones_are_freed);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
