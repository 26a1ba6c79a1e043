/*
 * lib/ike/create_child.c: CREATE_CHILD_SA between a branch (the original initiator) and a POP
 * over an IKE SA established in memory (IKE_SA_INIT + IKE_AUTH): new Child SAs with and
 * without PFS, Child SA and IKE SA rekeys, each refusal with its notify, retransmissions, and
 * the two sides rekeying one SA at once (§2.8.1), where both must agree on the loser; and a
 * request and its response in fragments (RFC 7383), the request retransmitted.
 */
#include <arpa/inet.h>
#include <sodium.h>

#include "fragmenter.h"
#include "ike_samples.h"
#include "crypto/prf.h"
#include "ike/create_child.h"
#include "ike/ike_auth.h"
#include "ike/ike_sa.h"
#include "ike/proposal.h"
#include "ike/sk_msg.h"
#include "ike/ts.h"

#define T(type_, id_, bits_) \
	((struct ike_transform){ .type = (type_), .id = (id_), .key_bits = (bits_) })

#define B_FIRST_SPI	0x1111	/* the IKE_AUTH Child SA: the branch's inbound SPI */
#define P_FIRST_SPI	0x2222	/* and the POP's */

/* One side's kernel and Child SA table, as the callbacks see them (arg). */
struct side {
	uint32_t next_spi;	/* what alloc_spi hands out next */
	unsigned allocs;
	unsigned n_children;
	uint32_t map_peer, map_ours;	/* the one Child SA: peer's inbound SPI -> ours */
	int install_rc;			/* what installing the peer's Child SA returns */
	unsigned installs;
	uint32_t installed_spi, installed_old;
};

static int install(void *arg, const struct ike_child *c, uint32_t old_spi_in)
{
	struct side *s = arg;

	s->installs++;
	s->installed_spi = c->spi_in;
	s->installed_old = old_spi_in;
	return s->install_rc;
}

static uint32_t alloc_spi(void *arg)
{
	struct side *s = arg;

	s->allocs++;
	return s->next_spi++;
}

static unsigned n_children(void *arg)
{
	return ((struct side *)arg)->n_children;
}

static uint32_t spi_map(void *arg, uint32_t peer_spi)
{
	struct side *s = arg;

	return peer_spi == s->map_peer ? s->map_ours : 0;
}

static struct ike_pld_sa esp_gcm, esp_cbc, esp_gcm_dh, ike_props, ike_x25519;
static struct ike_child_cfg auth_cfg, branch_cfg, pop_cfg;
static struct secret psk;

static struct ike_pld_ts prefix(uint8_t a, uint8_t b, uint8_t c, uint8_t d, unsigned plen)
{
	struct ike_pld_ts ts = { .n = 1 };
	uint8_t addr[4] = { a, b, c, d };

	ike_ts_from_prefix(&ts.ts[0], AF_INET, addr, plen);
	return ts;
}

static void configure(void)
{
	esp_gcm = (struct ike_pld_sa){ .n = 1 };
	esp_gcm.p[0] = (struct ike_proposal){ .num = 1, .protocol = IKE_PROTO_ESP,
		.n_transforms = 2, .t = { T(IKE_TRANSFORM_ENCR, IKE_ENCR_AES_GCM_16, 128),
					  T(IKE_TRANSFORM_ESN, 0, 0) } };
	esp_cbc = (struct ike_pld_sa){ .n = 1 };
	esp_cbc.p[0] = (struct ike_proposal){ .num = 1, .protocol = IKE_PROTO_ESP,
		.n_transforms = 3, .t = { T(IKE_TRANSFORM_ENCR, IKE_ENCR_AES_CBC, 256),
		       T(IKE_TRANSFORM_INTEG, IKE_AUTH_HMAC_SHA2_256_128, 0),
		       T(IKE_TRANSFORM_ESN, 0, 0) } };
	/* PFS with either of two groups, MODP 2048 preferred. */
	esp_gcm_dh = esp_gcm;
	esp_gcm_dh.p[0].t[2] = T(IKE_TRANSFORM_DH, IKE_DH_MODP_2048, 0);
	esp_gcm_dh.p[0].t[3] = T(IKE_TRANSFORM_DH, IKE_DH_CURVE25519, 0);
	esp_gcm_dh.p[0].n_transforms = 4;
	sample_proposal(&ike_props);
	ike_x25519 = (struct ike_pld_sa){ .n = 1 };
	ike_x25519.p[0] = ike_props.p[1];
	ike_x25519.p[0].num = 1;
	auth_cfg = (struct ike_child_cfg){ .proposals = &esp_gcm, .local = prefix(0, 0, 0, 0, 0),
					   .remote = prefix(0, 0, 0, 0, 0) };
	branch_cfg = (struct ike_child_cfg){ .proposals = &esp_gcm,
					     .local = prefix(10, 1, 0, 0, 24),
					     .remote = prefix(0, 0, 0, 0, 0) };
	pop_cfg = (struct ike_child_cfg){ .proposals = &esp_gcm, .local = prefix(0, 0, 0, 0, 0),
					  .remote = prefix(10, 1, 0, 0, 16) };
}

static int lookup(void *arg, const struct ike_pld_id *idi,
			const struct ike_pld_id *idr, struct ike_auth_peer *ret)
{
	(void)arg;
	(void)idi;
	ret->psk = &psk;
	ret->child = &auth_cfg;
	ret->id = (struct ike_pld_id){ .type = IKE_ID_FQDN, .data = (const uint8_t *)"pop",
				       .len = 3 };
	return 0;
}

/* Both sides, their callbacks' state and configuration, and two message buffers. */
struct fx {
	struct ike_sa b, p;
	struct side bs, ps;
	struct ike_cc_cfg bcfg, pcfg;
	struct ike_writer m, reply;
};

static void establish(struct fx *f)
{
	struct ike_init_cfg cfg = { .proposals = &ike_props, .dh_group = IKE_DH_MODP_2048,
				    .fragmentation = true };
	struct ike_endpoint a = { .addr = { 192, 0, 2, 1 }, .addr_len = 4, .port = 500 };
	struct ike_endpoint b = { .addr = { 198, 51, 100, 1 }, .addr_len = 4, .port = 500 };
	struct ike_pld_id idi = { .type = IKE_ID_FQDN, .data = (const uint8_t *)"b", .len = 1 };
	struct ike_pld_id seen;
	struct ike_init i, r;
	struct ike_writer req, resp;
	struct ike_child ci, cr;
	uint16_t ni, nr;

	memset(f, 0, sizeof(*f));
	configure();
	ck_assert_int_eq(secret_set(&psk, "k", 1), 0);
	ike_writer_init(&req, IKE_MAX_MSG_LEN);
	ike_writer_init(&resp, IKE_MAX_MSG_LEN);
	ck_assert_int_eq(ike_init_start(&i, &cfg, &a, &b, &req), 0);
	ck_assert_int_eq(ike_init_respond(&r, &cfg, NULL, req.buf, req.len, &b, &a, &resp),
			 IKE_INIT_DONE);
	ck_assert_int_eq(ike_init_on_response(&i, &cfg, resp.buf, resp.len, &a, &b, &req),
			 IKE_INIT_DONE);
	ck_assert_int_eq(ike_auth_request(&i, &idi, &psk, false, &auth_cfg, B_FIRST_SPI, &req), 0);
	ck_assert_int_eq(ike_auth_respond(&r, lookup, NULL, P_FIRST_SPI, req.buf, req.len, &resp,
					  &cr, &seen, &nr), IKE_AUTH_DONE);
	ck_assert_int_eq(ike_auth_on_response(&i, &psk, &auth_cfg, B_FIRST_SPI, NULL, resp.buf,
					      resp.len, &ci, &ni), IKE_AUTH_DONE);
	ike_child_clear(&ci);
	ike_child_clear(&cr);
	ike_sa_from_init(&f->b, &i);
	ike_sa_from_init(&f->p, &r);
	ike_writer_clear(&req);
	ike_writer_clear(&resp);
	secret_clear(&psk);

	f->bs = (struct side){ .next_spi = 0xb0000001, .map_peer = P_FIRST_SPI,
			       .map_ours = B_FIRST_SPI };
	f->ps = (struct side){ .next_spi = 0xc0000001, .map_peer = B_FIRST_SPI,
			       .map_ours = P_FIRST_SPI };
	f->bcfg = (struct ike_cc_cfg){ .child = &branch_cfg, .ike_proposals = &ike_props,
				       .alloc_spi = alloc_spi, .n_children = n_children };
	f->pcfg = (struct ike_cc_cfg){ .child = &pop_cfg, .ike_proposals = &ike_props,
				       .alloc_spi = alloc_spi, .n_children = n_children };
	f->b.cc_cfg = &f->bcfg;
	f->p.cc_cfg = &f->pcfg;
	ike_writer_init(&f->m, IKE_MAX_MSG_LEN);
	ike_writer_init(&f->reply, IKE_MAX_MSG_LEN);
}

static void teardown(struct fx *f)
{
	ike_sa_clear(&f->b);
	ike_sa_clear(&f->p);
	ike_writer_clear(&f->m);
	ike_writer_clear(&f->reply);
}

/* Hand msg to sa: a copy, as receiving decrypts in place and msg may be delivered again. */
static int deliver(struct ike_sa *sa, const struct ike_writer *msg, struct side *s,
		   struct ike_writer *out, struct ike_sa_rx *rx)
{
	struct ike_writer copy;
	int rc;

	ike_writer_init(&copy, IKE_MAX_MSG_LEN);
	ck_assert_int_eq(ike_writer_bytes(&copy, msg->buf, msg->len), 0);
	rc = ike_sa_receive(sa, copy.buf, copy.len, spi_map, s, out, rx);
	ike_writer_clear(&copy);
	return rc;
}

/* The branch's request in f->m to the POP and the reply back: rp and rb get the events. */
static void run_b(struct fx *f, struct ike_sa_rx *rp, struct ike_sa_rx *rb)
{
	ck_assert_int_eq(deliver(&f->p, &f->m, &f->ps, &f->reply, rp), 0);
	ck_assert(rp->reply);
	ck_assert(!rp->initiator);
	ck_assert_int_eq(deliver(&f->b, &f->reply, &f->bs, &f->m, rb), 0);
	ck_assert(!rb->reply);
	ck_assert(rb->initiator);
}

static void assert_secret_same(const struct secret *a, const struct secret *b)
{
	ck_assert_uint_eq(a->len, b->len);
	if (a->len)
		ck_assert_mem_eq(a->p, b->p, a->len);
}

static void assert_ts_same(const struct ike_pld_ts *a, const struct ike_pld_ts *b)
{
	ck_assert_uint_eq(a->n, b->n);
	ck_assert_mem_eq(a->ts, b->ts, a->n * sizeof(a->ts[0]));
}

/*
 * The two halves of one Child SA: ci of the exchange's initiator, cr of its responder. The
 * exchange's initiator is the one whose _i keys protect what it sends (§1.3, §2.17), whichever
 * end of the IKE SA it is: a Child SA rekeyed by the IKE SA's responder too.
 */
static void assert_child_pair(const struct ike_child *ci, const struct ike_child *cr)
{
	ck_assert(ci->initiator);
	ck_assert(!cr->initiator);
	ck_assert_uint_ne(ci->spi_in, 0);
	ck_assert_uint_ne(cr->spi_in, 0);
	ck_assert_uint_eq(ci->spi_in, cr->spi_out);
	ck_assert_uint_eq(ci->spi_out, cr->spi_in);
	ck_assert_ptr_eq(ci->encr, cr->encr);
	ck_assert_ptr_eq(ci->integ, cr->integ);
	ck_assert(ci->esn == cr->esn);
	ck_assert_uint_gt(ci->keys.encr_i.len, 0);
	assert_secret_same(&ci->keys.encr_i, &cr->keys.encr_i);
	assert_secret_same(&ci->keys.encr_r, &cr->keys.encr_r);
	assert_secret_same(&ci->keys.integ_i, &cr->keys.integ_i);
	assert_secret_same(&ci->keys.integ_r, &cr->keys.integ_r);
	ck_assert(memcmp(ci->keys.encr_i.p, ci->keys.encr_r.p, ci->keys.encr_i.len) != 0);
	assert_ts_same(&ci->ts_local, &cr->ts_remote);
	assert_ts_same(&ci->ts_remote, &cr->ts_local);
}

/* The two ends of one new IKE SA. */
static void assert_ike_pair(const struct ike_sa *i, const struct ike_sa *r)
{
	ck_assert(i->k.initiator);
	ck_assert(!r->k.initiator);
	ck_assert_mem_eq(i->k.spi_i, r->k.spi_i, IKE_SPI_LEN);
	ck_assert_mem_eq(i->k.spi_r, r->k.spi_r, IKE_SPI_LEN);
	ck_assert_uint_eq(i->next_req, 0);
	ck_assert_uint_eq(i->peer_next, 0);
	ck_assert_uint_eq(r->next_req, 0);
	ck_assert_uint_eq(r->peer_next, 0);
	ck_assert_ptr_eq(i->k.suite.prf, r->k.suite.prf);
	ck_assert_ptr_eq(i->k.suite.encr, r->k.suite.encr);
	/* SK_d | SK_a* | SK_e*, cut the same way. */
	ck_assert_uint_eq(i->k.keys.prf_len, r->k.keys.prf_len);
	ck_assert_uint_eq(i->k.keys.integ_len, r->k.keys.integ_len);
	ck_assert_uint_eq(i->k.keys.encr_len, r->k.keys.encr_len);
	ck_assert_uint_gt(i->k.keys.blk.len, 0);
	assert_secret_same(&i->k.keys.blk, &r->k.keys.blk);
}

/* A DPD from a to b over an IKE SA and its answer. */
static void dpd(struct ike_sa *a, struct ike_sa *b)
{
	struct ike_writer m, reply;
	struct side none = { 0 };
	struct ike_sa_rx rx;

	ike_writer_init(&m, IKE_MAX_MSG_LEN);
	ike_writer_init(&reply, IKE_MAX_MSG_LEN);
	ck_assert_int_eq(ike_sa_dpd_request(a, &m), 0);
	ck_assert_int_eq(deliver(b, &m, &none, &reply, &rx), 0);
	ck_assert_int_eq(rx.event, IKE_SA_EV_REPLY);
	ck_assert_int_eq(deliver(a, &reply, &none, &m, &rx), 0);
	ck_assert_int_eq(rx.event, IKE_SA_EV_ANSWERED);
	ike_writer_clear(&m);
	ike_writer_clear(&reply);
}

/* Take the new IKE SA out of rx. */
static void take_sa(struct ike_sa *dst, struct ike_sa_rx *rx)
{
	*dst = rx->new_sa;
	memset(&rx->new_sa, 0, sizeof(rx->new_sa));
}

static void assert_refused(const struct ike_sa_rx *rp, const struct ike_sa_rx *rb, uint16_t type)
{
	ck_assert_int_eq(rp->event, IKE_SA_EV_REPLY);
	ck_assert_uint_eq(rp->exchange, IKE_EXCH_CREATE_CHILD_SA);
	ck_assert_uint_eq(rp->notify, type);
	ck_assert_int_eq(rb->event, IKE_SA_EV_CC_REFUSED);
	ck_assert_uint_eq(rb->notify, type);
}

START_TEST(test_cc_new_child_without_pfs)
{
	struct fx f;
	struct ike_sa_rx rp, rb;

	establish(&f);
	ck_assert_int_eq(ike_sa_create_child_request(&f.b, &branch_cfg, 0, 0xb00000aa, &f.m), 0);
	/* The window of one holds for CREATE_CHILD_SA too. */
	ck_assert_int_eq(ike_sa_create_child_request(&f.b, &branch_cfg, 0, 0xb00000ab, &f.reply),
			 -EBUSY);
	ck_assert_int_eq(ike_sa_dpd_request(&f.b, &f.reply), -EBUSY);
	run_b(&f, &rp, &rb);
	ck_assert_int_eq(rp.event, IKE_SA_EV_CHILD_CREATED);
	ck_assert_int_eq(rb.event, IKE_SA_EV_CHILD_CREATED);
	ck_assert_uint_eq(rb.child.spi_in, 0xb00000aa);
	ck_assert_uint_eq(rp.child.spi_in, 0xc0000001);	/* from the POP's kernel */
	ck_assert_uint_eq(f.ps.allocs, 1);
	assert_child_pair(&rb.child, &rp.child);
	ck_assert_uint_eq(rb.child.encr->id, IKE_ENCR_AES_GCM_16);
	ck_assert_ptr_null(ike_proposal_get(&rb.child.chosen, IKE_TRANSFORM_DH));
	/* Narrowed to what both allow: the branch's /24 inside the POP's /16. */
	assert_ts_same(&rb.child.ts_local, &branch_cfg.local);
	ck_assert_mem_eq(rb.nonces.i, rp.nonces.i, 32);
	ck_assert_mem_eq(rb.nonces.r, rp.nonces.r, 32);
	ck_assert_uint_eq(f.b.next_req, 3);
	ck_assert_uint_eq(f.p.peer_next, 3);
	ck_assert(!f.b.waiting);
	/* The IKE SA goes on. */
	dpd(&f.b, &f.p);
	dpd(&f.p, &f.b);
	ike_sa_rx_clear(&rp);
	ike_sa_rx_clear(&rb);
	teardown(&f);
}
END_TEST

START_TEST(test_cc_new_child_with_pfs)
{
	struct fx f;
	struct ike_sa_rx rp, rb;
	struct crypto_child_keys no_pfs;
	struct secret sk_d;

	establish(&f);
	f.pcfg.pfs_group = IKE_DH_CURVE25519;
	/* A group the proposals do not name, or DH transforms without a KE: refused here. */
	{
		struct ike_child_cfg dh_cfg = branch_cfg;

		dh_cfg.proposals = &esp_gcm_dh;
		ck_assert_int_eq(ike_sa_create_child_request(&f.b, &dh_cfg, IKE_DH_ECP_256, 1,
							     &f.m), -EINVAL);
		ck_assert_int_eq(ike_sa_create_child_request(&f.b, &dh_cfg, 0, 1, &f.m), -EINVAL);
		ck_assert(!f.b.waiting);
	}
	/* The POP wants PFS: a request without a KE matches none of its proposals. */
	ck_assert_int_eq(ike_sa_create_child_request(&f.b, &branch_cfg, 0, 0xb00000aa, &f.m), 0);
	run_b(&f, &rp, &rb);
	assert_refused(&rp, &rb, IKE_N_NO_PROPOSAL_CHOSEN);
	ike_sa_rx_clear(&rp);
	ike_sa_rx_clear(&rb);

	ck_assert_int_eq(ike_sa_create_child_request(&f.b, &branch_cfg, IKE_DH_CURVE25519,
						     0xb00000ab, &f.m), 0);
	run_b(&f, &rp, &rb);
	ck_assert_int_eq(rp.event, IKE_SA_EV_CHILD_CREATED);
	ck_assert_int_eq(rb.event, IKE_SA_EV_CHILD_CREATED);
	assert_child_pair(&rb.child, &rp.child);
	ck_assert_ptr_nonnull(ike_proposal_get(&rb.child.chosen, IKE_TRANSFORM_DH));
	ck_assert_uint_eq(ike_proposal_get(&rb.child.chosen, IKE_TRANSFORM_DH)->id,
			  IKE_DH_CURVE25519);
	/* g^ir is in KEYMAT (§2.17): without it the keys would differ. */
	sk_d = crypto_ike_sk_d(&f.b.k.keys);
	ck_assert_int_eq(crypto_child_keys_derive(f.b.k.suite.prf, &sk_d, rb.child.encr, NULL, NULL,
						  rb.nonces.i, rb.nonces.i_len,
						  rb.nonces.r, rb.nonces.r_len, &no_pfs), 0);
	ck_assert_uint_eq(no_pfs.encr_i.len, rb.child.keys.encr_i.len);
	ck_assert(memcmp(no_pfs.encr_i.p, rb.child.keys.encr_i.p, no_pfs.encr_i.len) != 0);
	crypto_child_keys_clear(&no_pfs);
	ike_sa_rx_clear(&rp);
	ike_sa_rx_clear(&rb);
	teardown(&f);
}
END_TEST

START_TEST(test_cc_rekey_child_both_ways)
{
	struct fx f;
	struct ike_sa_rx rp, rb;

	establish(&f);
	/* The branch rekeys the IKE_AUTH Child SA by its inbound SPI. */
	ck_assert_int_eq(ike_sa_rekey_child_request(&f.b, &branch_cfg, 0, 0xb00000aa, B_FIRST_SPI,
						    &f.m), 0);
	run_b(&f, &rp, &rb);
	ck_assert_int_eq(rp.event, IKE_SA_EV_CHILD_REKEYED);
	ck_assert_uint_eq(rp.old_spi_in, P_FIRST_SPI);	/* the POP's half of the old one */
	ck_assert_int_eq(rp.verdict, IKE_REKEY_ALONE);
	ck_assert_int_eq(rb.event, IKE_SA_EV_CHILD_REKEYED);
	ck_assert_uint_eq(rb.old_spi_in, B_FIRST_SPI);
	ck_assert_int_eq(rb.verdict, IKE_REKEY_ALONE);
	assert_child_pair(&rb.child, &rp.child);
	ike_sa_rx_clear(&rp);
	ike_sa_rx_clear(&rb);

	/* The POP rekeys it (as if it were still there), with PFS. */
	f.bcfg.pfs_group = IKE_DH_CURVE25519;
	ck_assert_int_eq(ike_sa_rekey_child_request(&f.p, &pop_cfg, IKE_DH_CURVE25519, 0xc00000aa,
						    P_FIRST_SPI, &f.m), 0);
	ck_assert_int_eq(deliver(&f.b, &f.m, &f.bs, &f.reply, &rb), 0);
	ck_assert_int_eq(rb.event, IKE_SA_EV_CHILD_REKEYED);
	ck_assert_uint_eq(rb.old_spi_in, B_FIRST_SPI);
	ck_assert_int_eq(deliver(&f.p, &f.reply, &f.ps, &f.m, &rp), 0);
	ck_assert_int_eq(rp.event, IKE_SA_EV_CHILD_REKEYED);
	ck_assert_uint_eq(rp.old_spi_in, P_FIRST_SPI);
	assert_child_pair(&rp.child, &rb.child);
	ike_sa_rx_clear(&rp);
	ike_sa_rx_clear(&rb);
	teardown(&f);
}
END_TEST

/*
 * A responder with an install callback puts the Child SA in place before it answers; when
 * that fails the peer is told no: NO_PROPOSAL_CHOSEN for a new one, TEMPORARY_FAILURE for a
 * rekey (the old SA stays and the peer tries again), and the IKE SA goes on.
 */
START_TEST(test_cc_responder_installs_before_it_answers)
{
	struct fx f;
	struct ike_sa_rx rp, rb;

	establish(&f);
	f.pcfg.install = install;
	ck_assert_int_eq(ike_sa_create_child_request(&f.b, &branch_cfg, 0, 0xb00000aa, &f.m), 0);
	run_b(&f, &rp, &rb);
	ck_assert_int_eq(rp.event, IKE_SA_EV_CHILD_CREATED);
	ck_assert_int_eq(rb.event, IKE_SA_EV_CHILD_CREATED);
	ck_assert_uint_eq(f.ps.installs, 1);
	ck_assert_uint_eq(f.ps.installed_spi, rp.child.spi_in);
	ck_assert_uint_eq(f.ps.installed_old, 0);
	ike_sa_rx_clear(&rp);
	ike_sa_rx_clear(&rb);

	/* The kernel refuses a new one. */
	f.ps.install_rc = -ENOSYS;
	ck_assert_int_eq(ike_sa_create_child_request(&f.b, &branch_cfg, 0, 0xb00000ab, &f.m), 0);
	run_b(&f, &rp, &rb);
	assert_refused(&rp, &rb, IKE_N_NO_PROPOSAL_CHOSEN);
	ck_assert_uint_eq(f.ps.installs, 2);
	ck_assert_ptr_null(rp.child.keys.encr_i.p);
	ike_sa_rx_clear(&rp);
	ike_sa_rx_clear(&rb);

	/* And a rekey: TEMPORARY_FAILURE, the old SA named as it was. */
	ck_assert_int_eq(ike_sa_rekey_child_request(&f.b, &branch_cfg, 0, 0xb00000ac, B_FIRST_SPI,
						    &f.m), 0);
	run_b(&f, &rp, &rb);
	assert_refused(&rp, &rb, IKE_N_TEMPORARY_FAILURE);
	ck_assert_uint_eq(f.ps.installs, 3);
	ck_assert_uint_eq(f.ps.installed_old, P_FIRST_SPI);
	ike_sa_rx_clear(&rp);
	ike_sa_rx_clear(&rb);

	/* The kernel takes it again: the rekey goes through, the IKE SA never stopped. */
	f.ps.install_rc = 0;
	ck_assert_int_eq(ike_sa_rekey_child_request(&f.b, &branch_cfg, 0, 0xb00000ad, B_FIRST_SPI,
						    &f.m), 0);
	run_b(&f, &rp, &rb);
	ck_assert_int_eq(rp.event, IKE_SA_EV_CHILD_REKEYED);
	ck_assert_int_eq(rb.event, IKE_SA_EV_CHILD_REKEYED);
	ck_assert_uint_eq(f.ps.installed_old, P_FIRST_SPI);
	dpd(&f.b, &f.p);
	ike_sa_rx_clear(&rp);
	ike_sa_rx_clear(&rb);
	teardown(&f);
}
END_TEST

/* What CREATE_CHILD_SA kept is freed when settled, never while ours is out; rekeys go on. */
START_TEST(test_cc_settle)
{
	struct fx f;
	struct ike_sa_rx rp, rb;

	establish(&f);
	ck_assert(ike_sa_settle(&f.b));		/* nothing to free yet */
	ck_assert_int_eq(ike_sa_rekey_child_request(&f.b, &branch_cfg, 0, 0xb00000aa, B_FIRST_SPI,
						    &f.m), 0);
	ck_assert_ptr_nonnull(f.b.cc);
	ck_assert(!ike_sa_settle(&f.b));	/* outstanding: kept */
	ck_assert_ptr_nonnull(f.b.cc);
	run_b(&f, &rp, &rb);
	ck_assert_int_eq(rb.event, IKE_SA_EV_CHILD_REKEYED);
	ike_sa_rx_clear(&rp);
	ike_sa_rx_clear(&rb);
	ck_assert(ike_sa_settle(&f.b));
	ck_assert(ike_sa_settle(&f.p));
	ck_assert_ptr_null(f.b.cc);
	ck_assert_ptr_null(f.p.cc);
	/* The next rekey (of the same SA: the fixture's SPI map knows only it) from scratch. */
	ck_assert_int_eq(ike_sa_rekey_child_request(&f.b, &branch_cfg, 0, 0xb00000bb, B_FIRST_SPI,
						    &f.m), 0);
	run_b(&f, &rp, &rb);
	ck_assert_int_eq(rb.event, IKE_SA_EV_CHILD_REKEYED);
	ck_assert_uint_eq(rb.old_spi_in, B_FIRST_SPI);
	ck_assert_int_eq(rp.event, IKE_SA_EV_CHILD_REKEYED);
	assert_child_pair(&rb.child, &rp.child);
	ike_sa_rx_clear(&rp);
	ike_sa_rx_clear(&rb);
	teardown(&f);
}
END_TEST

START_TEST(test_cc_rekey_ike)
{
	struct fx f;
	struct ike_sa_rx rp, rb;
	struct ike_sa nb, np;
	struct ike_writer stray;
	struct side none = { 0 };

	establish(&f);
	ck_assert_int_eq(ike_sa_rekey_ike_request(&f.b, &ike_props, IKE_DH_NONE, &f.m), -EINVAL);
	ck_assert_int_eq(ike_sa_rekey_ike_request(&f.b, &ike_props, IKE_DH_MODP_2048, &f.m), 0);
	run_b(&f, &rp, &rb);
	ck_assert_int_eq(rp.event, IKE_SA_EV_IKE_REKEYED);
	ck_assert_int_eq(rb.event, IKE_SA_EV_IKE_REKEYED);
	ck_assert_int_eq(rb.verdict, IKE_REKEY_ALONE);
	ck_assert_int_eq(rp.verdict, IKE_REKEY_ALONE);
	assert_ike_pair(&rb.new_sa, &rp.new_sa);
	/* New SPIs both ways, new keys. */
	ck_assert(memcmp(rb.new_sa.k.spi_i, f.b.k.spi_i, IKE_SPI_LEN) != 0);
	ck_assert(memcmp(rb.new_sa.k.spi_r, f.b.k.spi_r, IKE_SPI_LEN) != 0);
	ck_assert(memcmp(crypto_ike_sk_d(&rb.new_sa.k.keys).p, crypto_ike_sk_d(&f.b.k.keys).p,
			 f.b.k.keys.prf_len) != 0);
	ck_assert_uint_eq(rb.new_sa.k.group, IKE_DH_MODP_2048);
	ck_assert_ptr_eq(rb.new_sa.cc_cfg, &f.bcfg);
	take_sa(&nb, &rb);
	take_sa(&np, &rp);
	ike_sa_rx_clear(&rp);
	ike_sa_rx_clear(&rb);

	/* The new SA works both ways from message ID 0. */
	dpd(&nb, &np);
	dpd(&np, &nb);
	ck_assert_uint_eq(nb.next_req, 1);
	ck_assert_uint_eq(np.peer_next, 1);
	/* The old one still does until it is deleted, and the two do not mix. */
	dpd(&f.b, &f.p);
	ike_writer_init(&stray, IKE_MAX_MSG_LEN);
	ck_assert_int_eq(ike_sa_dpd_request(&nb, &stray), 0);
	ck_assert_int_eq(deliver(&f.p, &stray, &none, &f.reply, &rp), -EPROTO);
	ike_writer_clear(&stray);
	ck_assert_int_eq(ike_sa_delete_request(&f.b, &f.m), 0);
	ck_assert_int_eq(deliver(&f.p, &f.m, &none, &f.reply, &rp), 0);
	ck_assert_int_eq(rp.event, IKE_SA_EV_DELETED);
	ck_assert_int_eq(deliver(&f.b, &f.reply, &none, &f.m, &rb), 0);
	ck_assert_int_eq(rb.event, IKE_SA_EV_ANSWERED);
	ike_sa_clear(&nb);
	ike_sa_clear(&np);
	teardown(&f);
}
END_TEST

/* §2.18 with a new PRF: SKEYSEED by the old SA's PRF, the rest by the new one's. */
START_TEST(test_cc_rekey_ike_keys)
{
	static const uint8_t spi_i[IKE_SPI_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	static const uint8_t spi_r[IKE_SPI_LEN] = { 9, 10, 11, 12, 13, 14, 15, 16 };
	uint8_t ni[32], nr[40], raw[32], km[64 + 2 * (32 + 4)];
	struct secret old_sk_d = { 0 }, shared = { 0 };
	struct crypto_suite same, other;
	struct crypto_ike_keys want, got;
	struct crypto_buf parts[3], seed[4];
	struct fx f;
	struct ike_sa_rx rp, rb;
	struct ike_sa nb, np;
	struct ike_pld_sa sha512;

	memset(ni, 0x11, sizeof(ni));
	memset(nr, 0x22, sizeof(nr));
	ck_assert_int_eq(secret_set(&old_sk_d, "an old SK_d of 32 bytes, for SHA", 32), 0);
	ck_assert_int_eq(secret_set(&shared, "g^ir of the new Diffie-Hellman..", 32), 0);
	/* The same PRF: what lib/crypto computes for a rekey. */
	ck_assert_int_eq(crypto_suite_init(&same, IKE_ENCR_AES_CBC, 256, IKE_PRF_HMAC_SHA2_256,
					   IKE_AUTH_HMAC_SHA2_256_128, IKE_DH_CURVE25519), 0);
	ck_assert_int_eq(crypto_ike_keys_derive(&same, &shared, ni, sizeof(ni), nr, sizeof(nr),
						spi_i, spi_r, &old_sk_d, &want, NULL), 0);
	ck_assert_int_eq(ike_cc_rekey_keys(same.prf, &old_sk_d, &same, &shared, ni, sizeof(ni), nr,
					   sizeof(nr), spi_i, spi_r, &got), 0);
	ck_assert_uint_eq(got.prf_len, want.prf_len);
	ck_assert_uint_eq(got.integ_len, want.integ_len);
	ck_assert_uint_eq(got.encr_len, want.encr_len);
	assert_secret_same(&got.blk, &want.blk);
	crypto_ike_keys_clear(&got);
	crypto_ike_keys_clear(&want);
	/* A new PRF (SHA-512): SKEYSEED is still the old PRF's (32 bytes), SK_d the new one's. */
	ck_assert_int_eq(crypto_suite_init(&other, IKE_ENCR_AES_GCM_16, 256, IKE_PRF_HMAC_SHA2_512,
					   IKE_AUTH_NONE, IKE_DH_CURVE25519), 0);
	ck_assert_int_eq(ike_cc_rekey_keys(same.prf, &old_sk_d, &other, &shared, ni, sizeof(ni),
					   nr, sizeof(nr), spi_i, spi_r, &got), 0);
	parts[0] = (struct crypto_buf){ shared.p, shared.len };
	parts[1] = (struct crypto_buf){ ni, sizeof(ni) };
	parts[2] = (struct crypto_buf){ nr, sizeof(nr) };
	ck_assert_int_eq(crypto_prf(same.prf, old_sk_d.p, old_sk_d.len, parts, 3, raw), 0);
	seed[0] = (struct crypto_buf){ ni, sizeof(ni) };
	seed[1] = (struct crypto_buf){ nr, sizeof(nr) };
	seed[2] = (struct crypto_buf){ spi_i, IKE_SPI_LEN };
	seed[3] = (struct crypto_buf){ spi_r, IKE_SPI_LEN };
	ck_assert_int_eq(crypto_prf_plus(other.prf, raw, sizeof(raw), seed, 4, km, sizeof(km)), 0);
	ck_assert_uint_eq(got.blk.len, sizeof(km));
	ck_assert_mem_eq(got.blk.p, km, sizeof(km));
	ck_assert_uint_eq(crypto_ike_sk_d(&got).len, 64);
	ck_assert_ptr_null(crypto_ike_sk_a(&got, true).p);
	ck_assert_uint_eq(crypto_ike_sk_a(&got, false).len, 0);
	ck_assert_uint_eq(crypto_ike_sk_e(&got, true).len, 32 + 4);
	ck_assert_ptr_eq(crypto_ike_sk_e(&got, false).p, got.blk.p + 64 + 32 + 4);
	crypto_ike_keys_clear(&got);
	secret_clear(&old_sk_d);
	secret_clear(&shared);

	/* And over the wire: an IKE SA with SHA-256 rekeyed to one with SHA-512. */
	establish(&f);
	sha512 = ike_x25519;
	sha512.p[0].t[1].id = IKE_PRF_HMAC_SHA2_512;
	f.pcfg.ike_proposals = &sha512;
	ck_assert_int_eq(ike_sa_rekey_ike_request(&f.b, &sha512, IKE_DH_CURVE25519, &f.m), 0);
	run_b(&f, &rp, &rb);
	ck_assert_int_eq(rb.event, IKE_SA_EV_IKE_REKEYED);
	assert_ike_pair(&rb.new_sa, &rp.new_sa);
	ck_assert_uint_eq(rb.new_sa.k.suite.prf->id, IKE_PRF_HMAC_SHA2_512);
	ck_assert_uint_eq(rb.new_sa.k.keys.prf_len, 64);
	take_sa(&nb, &rb);
	take_sa(&np, &rp);
	dpd(&np, &nb);
	ike_sa_clear(&nb);
	ike_sa_clear(&np);
	ike_sa_rx_clear(&rp);
	ike_sa_rx_clear(&rb);
	teardown(&f);
}
END_TEST

START_TEST(test_cc_no_proposal_chosen)
{
	struct fx f;
	struct ike_sa_rx rp, rb;
	struct ike_child_cfg cbc;
	struct ike_pld_sa other;

	establish(&f);
	cbc = branch_cfg;
	cbc.proposals = &esp_cbc;
	ck_assert_int_eq(ike_sa_create_child_request(&f.b, &cbc, 0, 0xb00000aa, &f.m), 0);
	run_b(&f, &rp, &rb);
	assert_refused(&rp, &rb, IKE_N_NO_PROPOSAL_CHOSEN);
	ck_assert_uint_eq(rb.child.spi_in, 0xb00000aa);	/* ours to give back */
	ck_assert_uint_eq(f.ps.allocs, 0);		/* nothing spent on a refusal */
	ck_assert_uint_eq(f.p.peer_next, 3);
	ike_sa_rx_clear(&rp);
	ike_sa_rx_clear(&rb);
	/* An IKE SA rekey with nothing in common. */
	other = ike_x25519;
	other.p[0].t[0].key_bits = 256;
	f.pcfg.ike_proposals = &ike_x25519;
	ck_assert_int_eq(ike_sa_rekey_ike_request(&f.b, &other, IKE_DH_CURVE25519, &f.m), 0);
	run_b(&f, &rp, &rb);
	assert_refused(&rp, &rb, IKE_N_NO_PROPOSAL_CHOSEN);
	ike_sa_rx_clear(&rp);
	ike_sa_rx_clear(&rb);
	teardown(&f);
}
END_TEST

START_TEST(test_cc_invalid_ke_then_retry)
{
	struct fx f;
	struct ike_sa_rx rp, rb;
	struct ike_child_cfg dh_cfg;
	uint16_t group;

	establish(&f);
	dh_cfg = branch_cfg;
	/* The branch offers MODP 2048 or Curve25519 and sends a KE of the first. */
	dh_cfg.proposals = &esp_gcm_dh;
	f.pcfg.pfs_group = IKE_DH_CURVE25519;
	ck_assert_int_eq(ike_sa_create_child_request(&f.b, &dh_cfg, IKE_DH_MODP_2048, 0xb00000aa,
						     &f.m), 0);
	run_b(&f, &rp, &rb);
	assert_refused(&rp, &rb, IKE_N_INVALID_KE_PAYLOAD);
	ck_assert_uint_eq(rb.notify_group, IKE_DH_CURVE25519);
	ck_assert_uint_eq(f.ps.allocs, 0);
	ike_sa_rx_clear(&rp);
	ike_sa_rx_clear(&rb);
	ck_assert_int_eq(ike_sa_create_child_request(&f.b, &dh_cfg, IKE_DH_CURVE25519, 0xb00000aa,
						     &f.m), 0);
	run_b(&f, &rp, &rb);
	ck_assert_int_eq(rp.event, IKE_SA_EV_CHILD_CREATED);
	ck_assert_int_eq(rb.event, IKE_SA_EV_CHILD_CREATED);
	assert_child_pair(&rb.child, &rp.child);
	ck_assert_uint_eq(ike_proposal_get(&rp.child.chosen, IKE_TRANSFORM_DH)->id,
			  IKE_DH_CURVE25519);
	ike_sa_rx_clear(&rp);
	ike_sa_rx_clear(&rb);

	/* The same for the IKE SA: the POP prefers MODP 2048 (its first proposal). */
	ck_assert_int_eq(ike_sa_rekey_ike_request(&f.b, &ike_props, IKE_DH_CURVE25519, &f.m), 0);
	run_b(&f, &rp, &rb);
	assert_refused(&rp, &rb, IKE_N_INVALID_KE_PAYLOAD);
	ck_assert_uint_eq(rb.notify_group, IKE_DH_MODP_2048);
	group = rb.notify_group;
	ike_sa_rx_clear(&rp);
	ike_sa_rx_clear(&rb);
	ck_assert_int_eq(ike_sa_rekey_ike_request(&f.b, &ike_props, group, &f.m), 0);
	run_b(&f, &rp, &rb);
	ck_assert_int_eq(rb.event, IKE_SA_EV_IKE_REKEYED);
	assert_ike_pair(&rb.new_sa, &rp.new_sa);
	ike_sa_rx_clear(&rp);
	ike_sa_rx_clear(&rb);
	teardown(&f);
}
END_TEST

START_TEST(test_cc_ts_unacceptable)
{
	struct fx f;
	struct ike_sa_rx rp, rb;
	struct ike_child_cfg elsewhere;

	establish(&f);
	elsewhere = branch_cfg;
	elsewhere.local = prefix(10, 9, 0, 0, 16);	/* not the POP's 10.1/16 */
	ck_assert_int_eq(ike_sa_create_child_request(&f.b, &elsewhere, 0, 0xb00000aa, &f.m), 0);
	run_b(&f, &rp, &rb);
	assert_refused(&rp, &rb, IKE_N_TS_UNACCEPTABLE);
	ck_assert_uint_eq(f.ps.allocs, 0);
	ike_sa_rx_clear(&rp);
	ike_sa_rx_clear(&rb);
	teardown(&f);
}
END_TEST

START_TEST(test_cc_child_sa_not_found)
{
	struct fx f;
	struct ike_sa_rx rp, rb;
	struct ike_header h;
	struct ike_chain inner;
	struct ike_pld_notify n;

	establish(&f);
	ck_assert_int_eq(ike_sa_rekey_child_request(&f.b, &branch_cfg, 0, 0xb00000aa, 0x7777, &f.m),
			 0);
	run_b(&f, &rp, &rb);
	assert_refused(&rp, &rb, IKE_N_CHILD_SA_NOT_FOUND);
	ck_assert_uint_eq(rb.old_spi_in, 0x7777);
	/* §2.25: the notify names the SPI of the REKEY_SA. */
	ck_assert_int_eq(ike_sk_open(&f.b.k, f.reply.buf, f.reply.len, &h, &inner), 0);
	ck_assert_int_eq(ike_chain_find_notify(&inner, IKE_N_CHILD_SA_NOT_FOUND, &n), 0);
	ck_assert_uint_eq(n.protocol, IKE_PROTO_ESP);
	ck_assert_uint_eq(n.spi_len, 4);
	ck_assert_mem_eq(n.spi, "\0\0\x77\x77", 4);
	ike_sa_rx_clear(&rp);
	ike_sa_rx_clear(&rb);
	teardown(&f);
}
END_TEST

START_TEST(test_cc_no_additional_sas)
{
	struct fx f;
	struct ike_sa_rx rp, rb;

	establish(&f);
	f.ps.n_children = IKE_CC_MAX_CHILDREN;	/* the default limit */
	ck_assert_int_eq(ike_sa_create_child_request(&f.b, &branch_cfg, 0, 0xb00000aa, &f.m), 0);
	run_b(&f, &rp, &rb);
	assert_refused(&rp, &rb, IKE_N_NO_ADDITIONAL_SAS);
	ike_sa_rx_clear(&rp);
	ike_sa_rx_clear(&rb);
	/* A rekey replaces a Child SA: not counted. */
	ck_assert_int_eq(ike_sa_rekey_child_request(&f.b, &branch_cfg, 0, 0xb00000ab, B_FIRST_SPI,
						    &f.m), 0);
	run_b(&f, &rp, &rb);
	ck_assert_int_eq(rb.event, IKE_SA_EV_CHILD_REKEYED);
	ike_sa_rx_clear(&rp);
	ike_sa_rx_clear(&rb);
	/* A limit of the configuration's own. */
	f.pcfg.max_children = 12;
	ck_assert_int_eq(ike_sa_create_child_request(&f.b, &branch_cfg, 0, 0xb00000ac, &f.m), 0);
	run_b(&f, &rp, &rb);
	ck_assert_int_eq(rb.event, IKE_SA_EV_CHILD_CREATED);
	ike_sa_rx_clear(&rp);
	ike_sa_rx_clear(&rb);
	/* Without a configuration every request is refused so (§1.3, a minimal responder). */
	f.p.cc_cfg = NULL;
	ck_assert_int_eq(ike_sa_rekey_ike_request(&f.b, &ike_props, IKE_DH_MODP_2048, &f.m), 0);
	run_b(&f, &rp, &rb);
	assert_refused(&rp, &rb, IKE_N_NO_ADDITIONAL_SAS);
	ike_sa_rx_clear(&rp);
	ike_sa_rx_clear(&rb);
	teardown(&f);
}
END_TEST

START_TEST(test_cc_temporary_failure)
{
	struct fx f;
	struct ike_sa_rx rp, rb;
	const uint32_t first = P_FIRST_SPI;

	establish(&f);
	/* §2.25.1: the POP is deleting the Child SA the branch wants to rekey. */
	ck_assert_int_eq(ike_sa_delete_child_request(&f.p, &first, 1, &f.reply), 0);
	ck_assert_int_eq(ike_sa_rekey_child_request(&f.b, &branch_cfg, 0, 0xb00000aa, B_FIRST_SPI,
						    &f.m), 0);
	run_b(&f, &rp, &rb);
	assert_refused(&rp, &rb, IKE_N_TEMPORARY_FAILURE);
	ike_sa_rx_clear(&rp);
	ike_sa_rx_clear(&rb);
	/* A new Child SA is fine meanwhile. */
	ck_assert_int_eq(ike_sa_create_child_request(&f.b, &branch_cfg, 0, 0xb00000ab, &f.m), 0);
	run_b(&f, &rp, &rb);
	ck_assert_int_eq(rb.event, IKE_SA_EV_CHILD_CREATED);
	ike_sa_rx_clear(&rp);
	ike_sa_rx_clear(&rb);
	ck_assert_int_eq(ike_sa_retransmit(&f.p, &f.m), 0);	/* the Delete, answered */
	ck_assert_int_eq(deliver(&f.b, &f.m, &f.bs, &f.reply, &rb), 0);
	ck_assert_int_eq(deliver(&f.p, &f.reply, &f.ps, &f.m, &rp), 0);
	ck_assert_int_eq(rp.event, IKE_SA_EV_ANSWERED);
	/* §2.25.2: the POP rekeys the IKE SA; no Child SA until that is done. */
	ck_assert_int_eq(ike_sa_rekey_ike_request(&f.p, &ike_x25519, IKE_DH_CURVE25519, &f.reply),
			 0);
	ck_assert_int_eq(ike_sa_create_child_request(&f.b, &branch_cfg, 0, 0xb00000ac, &f.m), 0);
	run_b(&f, &rp, &rb);
	assert_refused(&rp, &rb, IKE_N_TEMPORARY_FAILURE);
	ike_sa_rx_clear(&rp);
	ike_sa_rx_clear(&rb);
	teardown(&f);
}
END_TEST

START_TEST(test_cc_retransmitted_request_answered_from_cache)
{
	struct fx f;
	struct ike_sa_rx rp, again, rb;
	struct ike_writer reply2;

	establish(&f);
	ike_writer_init(&reply2, IKE_MAX_MSG_LEN);
	ck_assert_int_eq(ike_sa_create_child_request(&f.b, &branch_cfg, IKE_DH_CURVE25519,
						     0xb00000aa, &f.m), 0);
	f.pcfg.pfs_group = IKE_DH_CURVE25519;
	ck_assert_int_eq(deliver(&f.p, &f.m, &f.ps, &f.reply, &rp), 0);
	ck_assert_int_eq(rp.event, IKE_SA_EV_CHILD_CREATED);
	ck_assert_int_eq(deliver(&f.p, &f.m, &f.ps, &reply2, &again), 0);
	ck_assert_int_eq(again.event, IKE_SA_EV_RESENT);
	ck_assert(again.reply);
	ck_assert_uint_eq(reply2.len, f.reply.len);
	ck_assert_mem_eq(reply2.buf, f.reply.buf, f.reply.len);
	ck_assert_uint_eq(f.ps.allocs, 1);	/* processed once */
	ck_assert_uint_eq(f.p.peer_next, 3);
	ck_assert_int_eq(deliver(&f.b, &f.reply, &f.bs, &f.m, &rb), 0);
	ck_assert_int_eq(rb.event, IKE_SA_EV_CHILD_CREATED);
	assert_child_pair(&rb.child, &rp.child);
	ike_sa_rx_clear(&rp);
	ike_sa_rx_clear(&rb);
	ike_writer_clear(&reply2);
	teardown(&f);
}
END_TEST

START_TEST(test_cc_lost_response_then_retransmission)
{
	struct fx f;
	struct ike_sa_rx rp, again, rb;
	struct ike_writer lost, resent;

	establish(&f);
	ike_writer_init(&lost, IKE_MAX_MSG_LEN);
	ike_writer_init(&resent, IKE_MAX_MSG_LEN);
	ck_assert_int_eq(ike_sa_rekey_child_request(&f.b, &branch_cfg, 0, 0xb00000aa, B_FIRST_SPI,
						    &f.m), 0);
	ck_assert_int_eq(deliver(&f.p, &f.m, &f.ps, &lost, &rp), 0);
	ck_assert_int_eq(rp.event, IKE_SA_EV_CHILD_REKEYED);
	/* The reply is lost; the branch's timer fires. */
	ck_assert_int_eq(ike_sa_retransmit(&f.b, &resent), 0);
	ck_assert_uint_eq(resent.len, f.m.len);
	ck_assert_mem_eq(resent.buf, f.m.buf, f.m.len);
	ck_assert_int_eq(deliver(&f.p, &resent, &f.ps, &f.reply, &again), 0);
	ck_assert_int_eq(again.event, IKE_SA_EV_RESENT);
	ck_assert_int_eq(deliver(&f.b, &f.reply, &f.bs, &f.m, &rb), 0);
	ck_assert_int_eq(rb.event, IKE_SA_EV_CHILD_REKEYED);
	assert_child_pair(&rb.child, &rp.child);
	ike_sa_rx_clear(&rb);
	/* The first reply, late after all, answers nothing now. */
	ck_assert_int_eq(deliver(&f.b, &lost, &f.bs, &f.m, &rb), -EPROTO);
	ck_assert_int_eq(ike_sa_retransmit(&f.b, &resent), -ENOENT);
	ike_sa_rx_clear(&rp);
	ike_writer_clear(&lost);
	ike_writer_clear(&resent);
	teardown(&f);
}
END_TEST

/* An answer that passes integrity but cannot be used ends the exchange, refused with 0. */
START_TEST(test_cc_unusable_answer)
{
	struct fx f;
	struct ike_sa_rx rb;
	struct ike_writer plain;
	struct ike_builder b;
	uint8_t nonce[32] = { 1 };
	struct ike_pld_nonce n = { .data = nonce, .len = sizeof(nonce) };

	establish(&f);
	ck_assert_int_eq(ike_sa_create_child_request(&f.b, &branch_cfg, 0, 0xb00000aa, &f.m), 0);
	ike_writer_init(&plain, 1024);
	ike_build_chain_begin(&b, &plain);
	ck_assert_int_eq(IKE_BUILD_PAYLOAD(&b, IKE_PLD_NONCE, ike_pld_nonce_encode(&plain, &n)), 0);
	ck_assert_int_eq(ike_sk_seal(&f.p.k, IKE_EXCH_CREATE_CHILD_SA, true, 2, &plain,
				     b.first_type, &f.reply), 0);
	/* An INFORMATIONAL response does not answer a CREATE_CHILD_SA. */
	{
		struct ike_writer info;

		ike_writer_init(&info, IKE_MAX_MSG_LEN);
		ck_assert_int_eq(ike_sk_seal(&f.p.k, IKE_EXCH_INFORMATIONAL, true, 2, &plain,
					     b.first_type, &info), 0);
		ck_assert_int_eq(deliver(&f.b, &info, &f.bs, &f.m, &rb), -EPROTO);
		ck_assert(f.b.waiting);
		ike_writer_clear(&info);
	}
	ck_assert_int_eq(deliver(&f.b, &f.reply, &f.bs, &f.m, &rb), 0);
	ck_assert_int_eq(rb.event, IKE_SA_EV_CC_REFUSED);
	ck_assert_uint_eq(rb.notify, 0);
	ck_assert_uint_eq(rb.child.spi_in, 0xb00000aa);
	ck_assert(!f.b.waiting);
	ike_sa_rx_clear(&rb);
	ike_writer_clear(&plain);
	teardown(&f);
}
END_TEST

START_TEST(test_cc_rekey_loser_compares_octets)
{
	struct ike_cc_nonces a = { .i_len = 16, .r_len = 16 }, b = { .i_len = 16, .r_len = 16 };

	memset(a.i, 0x50, 16);
	memset(a.r, 0x60, 16);
	memset(b.i, 0x70, 16);
	memset(b.r, 0x40, 16);
	/* b holds the lowest (0x40...), in its responder's nonce: b's SA is redundant. */
	ck_assert(!ike_rekey_loser(&a, &b));
	ck_assert(ike_rekey_loser(&b, &a));
	/* Octet by octet, not as numbers of different lengths: 0x3f... (longer) is lower. */
	a.i_len = 20;
	memset(a.i, 0x3f, 20);
	ck_assert(ike_rekey_loser(&a, &b));
	ck_assert(!ike_rekey_loser(&b, &a));
	/* A nonce that is a prefix of the other is the lower. */
	memset(b.r, 0x3f, 16);
	ck_assert(!ike_rekey_loser(&a, &b));
	ck_assert(ike_rekey_loser(&b, &a));
}
END_TEST

/* The lowest of the four nonces of two exchanges, counted independently: is it in mine? */
static bool lowest_is_in(const struct ike_cc_nonces *mine, const struct ike_cc_nonces *other)
{
	const uint8_t *all[4] = { mine->i, mine->r, other->i, other->r };
	int low = 0;

	ck_assert_uint_eq(mine->i_len, 32);
	ck_assert_uint_eq(mine->r_len, 32);
	ck_assert_uint_eq(other->i_len, 32);
	ck_assert_uint_eq(other->r_len, 32);
	for (int i = 1; i < 4; i++)
		if (memcmp(all[i], all[low], 32) < 0)
			low = i;
	return low < 2;
}

static void assert_nonces_same(const struct ike_cc_nonces *a, const struct ike_cc_nonces *b)
{
	ck_assert_uint_eq(a->i_len, b->i_len);
	ck_assert_uint_eq(a->r_len, b->r_len);
	ck_assert_mem_eq(a->i, b->i, a->i_len);
	ck_assert_mem_eq(a->r, b->r, a->r_len);
}

/*
 * Both sides rekey at once. *_peer: the event of the peer's rekey (we answered), *_own: the
 * event of our own (its answer). Exactly one side lost, and it is the one whose exchange has
 * the lowest nonce.
 */
static void assert_one_loser(const struct ike_sa_rx *b_peer, const struct ike_sa_rx *b_own,
			     const struct ike_sa_rx *p_peer, const struct ike_sa_rx *p_own)
{
	bool b_lost = lowest_is_in(&b_own->nonces, &p_own->nonces);

	assert_nonces_same(&b_peer->nonces, &p_own->nonces);
	assert_nonces_same(&p_peer->nonces, &b_own->nonces);
	ck_assert_int_eq(b_own->verdict, b_lost ? IKE_REKEY_LOST : IKE_REKEY_WON);
	ck_assert_int_eq(p_own->verdict, b_lost ? IKE_REKEY_WON : IKE_REKEY_LOST);
	ck_assert(ike_rekey_loser(&b_own->nonces, &p_own->nonces) == b_lost);
}

START_TEST(test_cc_simultaneous_child_rekey)
{
	struct fx f;
	struct ike_writer mp, reply_b;
	struct ike_sa_rx b_peer, b_own, p_peer, p_own;

	establish(&f);
	ike_writer_init(&mp, IKE_MAX_MSG_LEN);
	ike_writer_init(&reply_b, IKE_MAX_MSG_LEN);
	/* Both rekey the IKE_AUTH Child SA; the requests cross. */
	ck_assert_int_eq(ike_sa_rekey_child_request(&f.b, &branch_cfg, 0, 0xb00000aa, B_FIRST_SPI,
						    &f.m), 0);
	ck_assert_int_eq(ike_sa_rekey_child_request(&f.p, &pop_cfg, 0, 0xc00000aa, P_FIRST_SPI,
						    &mp), 0);
	ck_assert_int_eq(deliver(&f.b, &mp, &f.bs, &reply_b, &b_peer), 0);
	ck_assert_int_eq(b_peer.event, IKE_SA_EV_CHILD_REKEYED);	/* answered as usual */
	ck_assert_int_eq(b_peer.verdict, IKE_REKEY_PENDING);
	ck_assert_int_eq(deliver(&f.p, &f.m, &f.ps, &f.reply, &p_peer), 0);
	ck_assert_int_eq(p_peer.event, IKE_SA_EV_CHILD_REKEYED);
	ck_assert_int_eq(p_peer.verdict, IKE_REKEY_PENDING);
	ck_assert_int_eq(deliver(&f.b, &f.reply, &f.bs, &f.m, &b_own), 0);
	ck_assert_int_eq(b_own.event, IKE_SA_EV_CHILD_REKEYED);
	ck_assert_int_eq(deliver(&f.p, &reply_b, &f.ps, &mp, &p_own), 0);
	ck_assert_int_eq(p_own.event, IKE_SA_EV_CHILD_REKEYED);
	/* Two new Child SAs, each agreed by both; one of them is redundant. */
	assert_child_pair(&b_own.child, &p_peer.child);
	assert_child_pair(&p_own.child, &b_peer.child);
	assert_one_loser(&b_peer, &b_own, &p_peer, &p_own);
	ike_sa_rx_clear(&b_peer);
	ike_sa_rx_clear(&b_own);
	ike_sa_rx_clear(&p_peer);
	ike_sa_rx_clear(&p_own);
	ike_writer_clear(&mp);
	ike_writer_clear(&reply_b);
	teardown(&f);
}
END_TEST

/* The POP's request is delayed: the branch's rekey completes before it, a collision still. */
START_TEST(test_cc_simultaneous_child_rekey_late_request)
{
	struct fx f;
	struct ike_writer mp, reply_b;
	struct ike_sa_rx b_peer, b_own, p_peer, p_own;
	bool b_lost;

	establish(&f);
	ike_writer_init(&mp, IKE_MAX_MSG_LEN);
	ike_writer_init(&reply_b, IKE_MAX_MSG_LEN);
	ck_assert_int_eq(ike_sa_rekey_child_request(&f.b, &branch_cfg, 0, 0xb00000aa, B_FIRST_SPI,
						    &f.m), 0);
	ck_assert_int_eq(ike_sa_rekey_child_request(&f.p, &pop_cfg, 0, 0xc00000aa, P_FIRST_SPI,
						    &mp), 0);
	ck_assert_int_eq(deliver(&f.p, &f.m, &f.ps, &f.reply, &p_peer), 0);
	ck_assert_int_eq(p_peer.verdict, IKE_REKEY_PENDING);
	ck_assert_int_eq(deliver(&f.b, &f.reply, &f.bs, &f.m, &b_own), 0);
	ck_assert_int_eq(b_own.event, IKE_SA_EV_CHILD_REKEYED);
	ck_assert_int_eq(b_own.verdict, IKE_REKEY_ALONE);	/* as far as the branch knows */
	/* Now the POP's request: the branch sees the collision in the event of it. */
	ck_assert_int_eq(deliver(&f.b, &mp, &f.bs, &reply_b, &b_peer), 0);
	ck_assert_int_eq(b_peer.event, IKE_SA_EV_CHILD_REKEYED);
	ck_assert_int_eq(deliver(&f.p, &reply_b, &f.ps, &mp, &p_own), 0);
	ck_assert_int_eq(p_own.event, IKE_SA_EV_CHILD_REKEYED);
	assert_child_pair(&b_own.child, &p_peer.child);
	assert_child_pair(&p_own.child, &b_peer.child);
	b_lost = lowest_is_in(&b_own.nonces, &p_own.nonces);
	ck_assert_int_eq(b_peer.verdict, b_lost ? IKE_REKEY_LOST : IKE_REKEY_WON);
	ck_assert_uint_eq(b_peer.ours_spi_in, 0xb00000aa);	/* the branch's own new one */
	ck_assert_int_eq(p_own.verdict, b_lost ? IKE_REKEY_WON : IKE_REKEY_LOST);
	ike_sa_rx_clear(&b_peer);
	ike_sa_rx_clear(&b_own);
	ike_sa_rx_clear(&p_peer);
	ike_sa_rx_clear(&p_own);
	ike_writer_clear(&mp);
	ike_writer_clear(&reply_b);
	teardown(&f);
}
END_TEST

START_TEST(test_cc_simultaneous_ike_rekey)
{
	struct fx f;
	struct ike_writer mp, reply_b, del, del_reply;
	struct ike_sa_rx b_peer, b_own, p_peer, p_own, rx;
	struct ike_sa *redundant_i, *redundant_r, *kept_i, *kept_r;
	struct side none = { 0 };

	establish(&f);
	f.bcfg.ike_proposals = &ike_x25519;
	f.pcfg.ike_proposals = &ike_x25519;
	ike_writer_init(&mp, IKE_MAX_MSG_LEN);
	ike_writer_init(&reply_b, IKE_MAX_MSG_LEN);
	ike_writer_init(&del, IKE_MAX_MSG_LEN);
	ike_writer_init(&del_reply, IKE_MAX_MSG_LEN);
	ck_assert_int_eq(ike_sa_rekey_ike_request(&f.b, &ike_x25519, IKE_DH_CURVE25519, &f.m), 0);
	ck_assert_int_eq(ike_sa_rekey_ike_request(&f.p, &ike_x25519, IKE_DH_CURVE25519, &mp), 0);
	ck_assert_int_eq(deliver(&f.b, &mp, &f.bs, &reply_b, &b_peer), 0);
	ck_assert_int_eq(b_peer.event, IKE_SA_EV_IKE_REKEYED);
	ck_assert_int_eq(b_peer.verdict, IKE_REKEY_PENDING);
	ck_assert_int_eq(deliver(&f.p, &f.m, &f.ps, &f.reply, &p_peer), 0);
	ck_assert_int_eq(p_peer.event, IKE_SA_EV_IKE_REKEYED);
	ck_assert_int_eq(p_peer.verdict, IKE_REKEY_PENDING);
	ck_assert_int_eq(deliver(&f.b, &f.reply, &f.bs, &f.m, &b_own), 0);
	ck_assert_int_eq(b_own.event, IKE_SA_EV_IKE_REKEYED);
	ck_assert_int_eq(deliver(&f.p, &reply_b, &f.ps, &mp, &p_own), 0);
	ck_assert_int_eq(p_own.event, IKE_SA_EV_IKE_REKEYED);
	/* Each exchange's new IKE SA: its initiator is the original initiator there. */
	assert_ike_pair(&b_own.new_sa, &p_peer.new_sa);
	assert_ike_pair(&p_own.new_sa, &b_peer.new_sa);
	assert_one_loser(&b_peer, &b_own, &p_peer, &p_own);
	/* The loser deletes its redundant IKE SA over that SA; the other one carries on. */
	if (b_own.verdict == IKE_REKEY_LOST) {
		redundant_i = &b_own.new_sa;
		redundant_r = &p_peer.new_sa;
		kept_i = &p_own.new_sa;
		kept_r = &b_peer.new_sa;
	} else {
		redundant_i = &p_own.new_sa;
		redundant_r = &b_peer.new_sa;
		kept_i = &b_own.new_sa;
		kept_r = &p_peer.new_sa;
	}
	ck_assert_int_eq(ike_sa_delete_request(redundant_i, &del), 0);
	ck_assert_int_eq(deliver(redundant_r, &del, &none, &del_reply, &rx), 0);
	ck_assert_int_eq(rx.event, IKE_SA_EV_DELETED);
	ck_assert_int_eq(deliver(redundant_i, &del_reply, &none, &del, &rx), 0);
	ck_assert_int_eq(rx.event, IKE_SA_EV_ANSWERED);
	dpd(kept_i, kept_r);
	dpd(kept_r, kept_i);
	ike_sa_rx_clear(&b_peer);
	ike_sa_rx_clear(&b_own);
	ike_sa_rx_clear(&p_peer);
	ike_sa_rx_clear(&p_own);
	ike_writer_clear(&mp);
	ike_writer_clear(&reply_b);
	ike_writer_clear(&del);
	ike_writer_clear(&del_reply);
	teardown(&f);
}
END_TEST

/* Fragment i of fr to sa (receiving decrypts in place: a copy). */
static int deliver_frag(struct ike_sa *sa, const struct ike_frags *fr, uint16_t i,
			struct side *s, struct ike_writer *out, struct ike_sa_rx *rx)
{
	struct ike_writer one;
	int rc;

	fragment_copy(fr, i, 0, &one);
	rc = ike_sa_receive(sa, one.buf, one.len, spi_map, s, out, rx);
	ike_writer_clear(&one);
	return rc;
}

START_TEST(test_cc_fragmented_request_and_response)
{
	struct fx f;
	struct ike_sa_rx rp, again, rb;
	struct ike_child_cfg dh_cfg;
	struct ike_frags req, resp;
	struct ike_writer reply2;
	uint16_t order[IKE_FRAG_MAX_FRAGMENTS];
	unsigned resent = 0;

	establish(&f);
	ike_writer_init(&reply2, IKE_MAX_MSG_LEN);
	/* PFS with MODP 2048 both ways: KE payloads of 256 bytes, several fragments of 200. */
	dh_cfg = branch_cfg;
	dh_cfg.proposals = &esp_gcm_dh;
	f.pcfg.pfs_group = IKE_DH_MODP_2048;
	ck_assert_int_eq(ike_sa_create_child_request(&f.b, &dh_cfg, IKE_DH_MODP_2048, 0xb00000aa,
						     &f.m), 0);
	fragment_msg(&f.b.k, &f.m, 200, &req);
	ck_assert_uint_ge(req.n, 3);
	fragment_order(req.n, order);
	for (uint16_t k = 0; k + 1 < req.n; k++) {
		ck_assert_int_eq(deliver_frag(&f.p, &req, order[k], &f.ps, &f.reply, &rp),
				 -EINPROGRESS);
		ck_assert_uint_eq(f.ps.allocs, 0);
	}
	ck_assert_int_eq(deliver_frag(&f.p, &req, order[req.n - 1], &f.ps, &f.reply, &rp), 0);
	ck_assert_int_eq(rp.event, IKE_SA_EV_CHILD_CREATED);
	ck_assert(rp.reply);
	ck_assert_uint_eq(f.ps.allocs, 1);
	ck_assert_uint_eq(f.p.peer_next, 3);
	ck_assert_ptr_null(f.p.frag_req);
	/* The whole request again, in fragments: fragment 1 gets the same reply, once. */
	for (uint16_t k = 0; k < req.n; k++) {
		int rc = deliver_frag(&f.p, &req, order[k], &f.ps, &reply2, &again);

		if (order[k] != 0) {
			ck_assert_int_eq(rc, -EALREADY);
			continue;
		}
		ck_assert_int_eq(rc, 0);
		ck_assert_int_eq(again.event, IKE_SA_EV_RESENT);
		ck_assert_uint_eq(reply2.len, f.reply.len);
		ck_assert_mem_eq(reply2.buf, f.reply.buf, f.reply.len);
		resent++;
	}
	ck_assert_uint_eq(resent, 1);
	ck_assert_uint_eq(f.ps.allocs, 1);	/* processed once */
	ck_assert_uint_eq(f.p.peer_next, 3);
	/* The response in fragments, in order: the branch gets the same Child SA. */
	fragment_msg(&f.p.k, &f.reply, 200, &resp);
	ck_assert_uint_ge(resp.n, 2);
	for (uint16_t i = 0; i + 1 < resp.n; i++) {
		ck_assert_int_eq(deliver_frag(&f.b, &resp, i, &f.bs, &f.m, &rb), -EINPROGRESS);
		ck_assert(f.b.waiting);
	}
	ck_assert_int_eq(deliver_frag(&f.b, &resp, (uint16_t)(resp.n - 1), &f.bs, &f.m, &rb), 0);
	ck_assert_int_eq(rb.event, IKE_SA_EV_CHILD_CREATED);
	ck_assert(!f.b.waiting);
	ck_assert_ptr_null(f.b.frag_resp);
	assert_child_pair(&rb.child, &rp.child);
	ck_assert_uint_eq(ike_proposal_get(&rb.child.chosen, IKE_TRANSFORM_DH)->id,
			  IKE_DH_MODP_2048);
	dpd(&f.b, &f.p);
	ike_sa_rx_clear(&rp);
	ike_sa_rx_clear(&rb);
	ike_frags_clear(&req);
	ike_frags_clear(&resp);
	ike_writer_clear(&reply2);
	teardown(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("create_child");
	TCase *tc = tcase_create("create_child");

	tcase_add_test(tc, test_cc_new_child_without_pfs);
	tcase_add_test(tc, test_cc_new_child_with_pfs);
	tcase_add_test(tc, test_cc_rekey_child_both_ways);
	tcase_add_test(tc, test_cc_responder_installs_before_it_answers);
	tcase_add_test(tc, test_cc_settle);
	tcase_add_test(tc, test_cc_rekey_ike);
	tcase_add_test(tc, test_cc_rekey_ike_keys);
	tcase_add_test(tc, test_cc_no_proposal_chosen);
	tcase_add_test(tc, test_cc_invalid_ke_then_retry);
	tcase_add_test(tc, test_cc_ts_unacceptable);
	tcase_add_test(tc, test_cc_child_sa_not_found);
	tcase_add_test(tc, test_cc_no_additional_sas);
	tcase_add_test(tc, test_cc_temporary_failure);
	tcase_add_test(tc, test_cc_retransmitted_request_answered_from_cache);
	tcase_add_test(tc, test_cc_lost_response_then_retransmission);
	tcase_add_test(tc, test_cc_unusable_answer);
	tcase_add_test(tc, test_cc_rekey_loser_compares_octets);
	tcase_add_test(tc, test_cc_simultaneous_child_rekey);
	tcase_add_test(tc, test_cc_simultaneous_child_rekey_late_request);
	tcase_add_test(tc, test_cc_simultaneous_ike_rekey);
	tcase_add_test(tc, test_cc_fragmented_request_and_response);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
