/*
 * lib/ike/sa_init.c: two sides wired together in memory. Both must end with the same suite
 * and the same keys; INVALID_KE_PAYLOAD and COOKIE rounds retry; NO_PROPOSAL_CHOSEN fails
 * cleanly; NAT detection sees an address rewritten on the way; charon's real request is answered.
 * A responder answering with its keys later (ike_init_respond_later) gets the same keys from
 * its job, run on another thread; a bad KE value is refused at once, or by the job for an
 * X25519 low-order point, which leaves the state without keys.
 */
#include "ike_samples.h"
#include <pthread.h>
#include <sodium.h>

#include "ike/sa_init.h"

static struct ike_endpoint ep(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
	return (struct ike_endpoint){ .addr = { a, b, c, d }, .addr_len = 4, .port = port };
}

#define T(type_, id_, bits_) \
	((struct ike_transform){ .type = (type_), .id = (id_), .key_bits = (bits_) })

static struct ike_pld_sa suites_cbc_modp(void)
{
	struct ike_pld_sa sa = { .n = 1 };

	sa.p[0] = (struct ike_proposal){ .num = 1, .protocol = IKE_PROTO_IKE, .n_transforms = 4,
		.t = { T(IKE_TRANSFORM_ENCR, IKE_ENCR_AES_CBC, 256),
		       T(IKE_TRANSFORM_PRF, IKE_PRF_HMAC_SHA2_256, 0),
		       T(IKE_TRANSFORM_INTEG, IKE_AUTH_HMAC_SHA2_256_128, 0),
		       T(IKE_TRANSFORM_DH, IKE_DH_MODP_2048, 0) } };
	return sa;
}

static void assert_same_keys(const struct ike_init *i, const struct ike_init *r)
{
	ck_assert_mem_eq(i->spi_r, r->spi_r, 8);
	ck_assert_mem_eq(i->spi_i, r->spi_i, 8);
	ck_assert_ptr_eq(i->suite.encr, r->suite.encr);
	/* SK_d | SK_a* | SK_e*, cut the same way, and SK_pi, SK_pr. */
	ck_assert_uint_eq(i->keys.prf_len, r->keys.prf_len);
	ck_assert_uint_eq(i->keys.integ_len, r->keys.integ_len);
	ck_assert_uint_eq(i->keys.encr_len, r->keys.encr_len);
	ck_assert_uint_eq(i->keys.blk.len, r->keys.blk.len);
	ck_assert_mem_eq(i->keys.blk.p, r->keys.blk.p, i->keys.blk.len);
	ck_assert_uint_eq(i->auth_keys.sk_pi.len, i->keys.prf_len);
	ck_assert_mem_eq(i->auth_keys.sk_pi.p, r->auth_keys.sk_pi.p, i->auth_keys.sk_pi.len);
	ck_assert_mem_eq(i->auth_keys.sk_pr.p, r->auth_keys.sk_pr.p, i->auth_keys.sk_pr.len);
	/* Both keep the same two messages for IKE_AUTH. */
	ck_assert_uint_eq(i->msg_i.len, r->msg_i.len);
	ck_assert_mem_eq(i->msg_i.buf, r->msg_i.buf, i->msg_i.len);
	ck_assert_uint_eq(i->msg_r.len, r->msg_r.len);
	ck_assert_mem_eq(i->msg_r.buf, r->msg_r.buf, i->msg_r.len);
}

/* One proposal: AES-CBC-256/SHA-256/SHA-256-128 with group. */
static struct ike_pld_sa suites_cbc(uint16_t group)
{
	struct ike_pld_sa sa = suites_cbc_modp();

	sa.p[0].t[3].id = group;
	return sa;
}

/* The request's KE data replaced by v: a value no honest initiator sends. */
static void forge_ke(struct ike_writer *req, const uint8_t *v, size_t len)
{
	struct ike_msg m;
	struct ike_pld_ke ke;

	ck_assert_int_eq(ike_msg_decode(req->buf, req->len, &m, NULL), 0);
	ck_assert_int_eq(IKE_CHAIN_DECODE(&m.chain, IKE_PLD_KE, ike_pld_ke_decode, &ke), 0);
	ck_assert_uint_eq(ke.len, len);
	memcpy(req->buf + (ke.data - req->buf), v, len);
}

static void assert_same_secret(struct secret a, struct secret b)
{
	ck_assert_uint_gt(a.len, 0);
	ck_assert_uint_eq(a.len, b.len);
	ck_assert_mem_eq(a.p, b.p, a.len);
}

static void assert_no_keys(const struct ike_init *st)
{
	ck_assert_ptr_null(st->keys.blk.p);
	ck_assert_uint_eq(st->keys.blk.len, 0);
	ck_assert_uint_eq(crypto_ike_sk_d(&st->keys).len, 0);
	ck_assert_ptr_null(st->auth_keys.sk_pi.p);
	ck_assert_ptr_null(st->auth_keys.sk_pr.p);
}

static void *run_job(void *arg)
{
	ike_init_job_run(arg);
	return NULL;
}

START_TEST(test_sa_init_both_sides_agree_on_suite_and_keys)
{
	struct ike_pld_sa ours;
	struct ike_init_cfg ci, cr = { .fragmentation = true };
	struct ike_endpoint a = ep(192, 0, 2, 1, 500), b = ep(198, 51, 100, 1, 500);
	struct ike_init i, r;
	struct ike_writer req, resp;

	sample_proposal(&ours);	/* AES-CBC-256/SHA-256/MODP-2048, then AES-GCM-128/X25519 */
	ci = (struct ike_init_cfg){ .proposals = &ours, .dh_group = IKE_DH_CURVE25519,
				    .fragmentation = true };
	cr.proposals = &ours;
	ike_writer_init(&req, IKE_MAX_MSG_LEN);
	ike_writer_init(&resp, IKE_MAX_MSG_LEN);
	ck_assert_int_eq(ike_init_start(&i, &ci, &a, &b, &req), 0);
	/* Our preference is CBC/MODP-2048, but the initiator's KE is X25519: one retry. */
	ck_assert_int_eq(ike_init_respond(&r, &cr, NULL, req.buf, req.len, &b, &a, &resp),
			 IKE_INIT_REFUSED);
	ck_assert_int_eq(ike_init_on_response(&i, &ci, resp.buf, resp.len, &a, &b, &req),
			 IKE_INIT_SEND);
	ck_assert_uint_eq(i.group, IKE_DH_MODP_2048);
	ck_assert_uint_eq(i.notify, IKE_N_INVALID_KE_PAYLOAD);	/* what the round answered */
	ck_assert_int_eq(ike_init_respond(&r, &cr, NULL, req.buf, req.len, &b, &a, &resp),
			 IKE_INIT_DONE);
	ck_assert_int_eq(ike_init_on_response(&i, &ci, resp.buf, resp.len, &a, &b, &req),
			 IKE_INIT_DONE);
	assert_same_keys(&i, &r);
	ck_assert_uint_eq(i.suite.encr->id, IKE_ENCR_AES_CBC);
	ck_assert_uint_eq(i.suite.dh->id, IKE_DH_MODP_2048);
	ck_assert(i.peer_fragmentation && r.peer_fragmentation);
	ck_assert(!i.nat_local && !i.nat_remote && !r.nat_local && !r.nat_remote);
	/* A second copy of the response (a retransmission) is not a new answer to act on. */
	ike_init_clear(&i);
	ike_init_clear(&r);
	ike_writer_clear(&req);
	ike_writer_clear(&resp);
}
END_TEST

START_TEST(test_sa_init_aead_suite_without_retry)
{
	struct ike_pld_sa ours;
	struct ike_init_cfg c;
	struct ike_endpoint a = ep(10, 0, 0, 1, 500), b = ep(10, 0, 0, 2, 500);
	struct ike_init i, r;
	struct ike_writer req, resp;

	sample_proposal(&ours);
	/* The responder prefers GCM/X25519 here. */
	ours.p[0].num = 2;
	ours.p[1].num = 1;
	{
		struct ike_proposal t = ours.p[0];

		ours.p[0] = ours.p[1];
		ours.p[1] = t;
	}
	c = (struct ike_init_cfg){ .proposals = &ours, .dh_group = IKE_DH_CURVE25519 };
	ike_writer_init(&req, IKE_MAX_MSG_LEN);
	ike_writer_init(&resp, IKE_MAX_MSG_LEN);
	ck_assert_int_eq(ike_init_start(&i, &c, &a, &b, &req), 0);
	ck_assert_int_eq(ike_init_respond(&r, &c, NULL, req.buf, req.len, &b, &a, &resp),
			 IKE_INIT_DONE);
	ck_assert_int_eq(ike_init_on_response(&i, &c, resp.buf, resp.len, &a, &b, &req),
			 IKE_INIT_DONE);
	assert_same_keys(&i, &r);
	ck_assert(i.suite.encr->aead);
	ck_assert_ptr_null(crypto_ike_sk_a(&i.keys, true).p);
	ck_assert_uint_eq(crypto_ike_sk_a(&i.keys, false).len, 0);
	ck_assert_uint_eq(crypto_ike_sk_e(&i.keys, false).len, 16 + 4);
	ck_assert(!i.peer_fragmentation);
	ike_init_clear(&i);
	ike_init_clear(&r);
	ike_writer_clear(&req);
	ike_writer_clear(&resp);
}
END_TEST

START_TEST(test_sa_init_cookie_round_and_forged_cookie)
{
	struct ike_pld_sa ours = suites_cbc_modp();
	struct ike_init_cfg c = { .proposals = &ours, .dh_group = IKE_DH_MODP_2048 };
	struct ike_endpoint a = ep(192, 0, 2, 1, 500), b = ep(198, 51, 100, 1, 500);
	struct secret key = { 0 };
	struct ike_cookie_cfg cookies = { .required = true, .secret = &key, .version = 3 };
	struct ike_init i, r;
	struct ike_writer req, resp;
	struct ike_msg m;
	struct ike_pld_notify n;

	ck_assert_int_eq(secret_set(&key, "cookie secret 1", 15), 0);
	ike_writer_init(&req, IKE_MAX_MSG_LEN);
	ike_writer_init(&resp, IKE_MAX_MSG_LEN);
	ck_assert_int_eq(ike_init_start(&i, &c, &a, &b, &req), 0);
	ck_assert_int_eq(ike_init_respond(&r, &c, &cookies, req.buf, req.len, &b, &a, &resp),
			 IKE_INIT_REFUSED);
	ck_assert_uint_eq(r.notify, IKE_N_COOKIE);	/* the daemon counts and logs by it */
	/* The refusal is a clear, one-notify message with no responder SPI. */
	ck_assert_int_eq(ike_msg_decode(resp.buf, resp.len, &m, NULL), 0);
	ck_assert_uint_eq(m.chain.n, 1);
	ck_assert_int_eq(ike_chain_find_notify(&m.chain, IKE_N_COOKIE, &n), 0);
	ck_assert_uint_eq(n.data[0], 3);
	ck_assert(sodium_is_zero(m.hdr.spi_r, 8));
	ck_assert_int_eq(ike_init_on_response(&i, &c, resp.buf, resp.len, &a, &b, &req),
			 IKE_INIT_SEND);
	ck_assert_uint_eq(i.notify, IKE_N_COOKIE);
	/* A forged copy (one bit of the cookie changed) is refused again. */
	{
		struct ike_writer forged;

		ike_writer_init(&forged, IKE_MAX_MSG_LEN);
		ck_assert_int_eq(ike_writer_bytes(&forged, req.buf, req.len), 0);
		forged.buf[IKE_HEADER_LEN + 4 + 4 + 5] ^= 1;
		ck_assert_int_eq(ike_init_respond(&r, &c, &cookies, forged.buf, forged.len, &b, &a,
						  &resp), IKE_INIT_REFUSED);
		ike_writer_clear(&forged);
		/* From another address the same cookie is not valid either. */
		{
			struct ike_endpoint other = ep(203, 0, 113, 7, 500);

			ck_assert_int_eq(ike_init_respond(&r, &c, &cookies, req.buf, req.len, &b,
							  &other, &resp), IKE_INIT_REFUSED);
		}
	}
	ck_assert_int_eq(ike_init_respond(&r, &c, &cookies, req.buf, req.len, &b, &a, &resp),
			 IKE_INIT_DONE);
	ck_assert_int_eq(ike_init_on_response(&i, &c, resp.buf, resp.len, &a, &b, &req),
			 IKE_INIT_DONE);
	assert_same_keys(&i, &r);
	ike_init_clear(&i);
	ike_init_clear(&r);
	secret_clear(&key);
	ike_writer_clear(&req);
	ike_writer_clear(&resp);
}
END_TEST

START_TEST(test_sa_init_no_proposal_chosen_fails_the_initiator)
{
	struct ike_pld_sa ours = suites_cbc_modp(), theirs = suites_cbc_modp();
	struct ike_init_cfg ci = { .proposals = &ours, .dh_group = IKE_DH_MODP_2048 };
	struct ike_init_cfg cr = { .proposals = &theirs };
	struct ike_endpoint a = ep(192, 0, 2, 1, 500), b = ep(198, 51, 100, 1, 500);
	struct ike_init i, r;
	struct ike_writer req, resp;

	theirs.p[0].t[0].key_bits = 128;
	ike_writer_init(&req, IKE_MAX_MSG_LEN);
	ike_writer_init(&resp, IKE_MAX_MSG_LEN);
	ck_assert_int_eq(ike_init_start(&i, &ci, &a, &b, &req), 0);
	ck_assert_int_eq(ike_init_respond(&r, &cr, NULL, req.buf, req.len, &b, &a, &resp),
			 IKE_INIT_REFUSED);
	ck_assert_uint_eq(r.notify, IKE_N_NO_PROPOSAL_CHOSEN);
	ck_assert_int_eq(ike_init_on_response(&i, &ci, resp.buf, resp.len, &a, &b, &req),
			 IKE_INIT_FAILED);
	ck_assert_uint_eq(i.notify, IKE_N_NO_PROPOSAL_CHOSEN);
	/* Garbage, or an answer to somebody else's request, changes nothing. */
	ck_assert_int_lt(ike_init_on_response(&i, &ci, resp.buf, resp.len - 1, &a, &b, &req), 0);
	resp.buf[0] ^= 1;
	ck_assert_int_eq(ike_init_on_response(&i, &ci, resp.buf, resp.len, &a, &b, &req), -EPROTO);
	ike_init_clear(&i);
	ike_init_clear(&r);
	ike_writer_clear(&req);
	ike_writer_clear(&resp);
}
END_TEST

START_TEST(test_sa_init_nat_detection)
{
	struct ike_pld_sa ours = suites_cbc_modp();
	struct ike_init_cfg c = { .proposals = &ours, .dh_group = IKE_DH_MODP_2048 };
	/* The branch thinks it is 10.0.0.2:500; the NAT makes it 203.0.113.5:61000. */
	struct ike_endpoint branch = ep(10, 0, 0, 2, 500), seen = ep(203, 0, 113, 5, 61000);
	struct ike_endpoint pop = ep(198, 51, 100, 1, 500);
	struct ike_init i, r;
	struct ike_writer req, resp;

	ike_writer_init(&req, IKE_MAX_MSG_LEN);
	ike_writer_init(&resp, IKE_MAX_MSG_LEN);
	ck_assert_int_eq(ike_init_start(&i, &c, &branch, &pop, &req), 0);
	ck_assert_int_eq(ike_init_respond(&r, &c, NULL, req.buf, req.len, &pop, &seen, &resp),
			 IKE_INIT_DONE);
	ck_assert_int_eq(ike_init_on_response(&i, &c, resp.buf, resp.len, &branch, &pop, &req),
			 IKE_INIT_DONE);
	ck_assert(r.nat_remote);	/* the POP sees the branch behind a NAT */
	ck_assert(!r.nat_local);
	ck_assert(i.nat_local);		/* the branch learns it is behind one */
	ck_assert(!i.nat_remote);
	ike_init_clear(&i);
	ike_init_clear(&r);
	ike_writer_clear(&req);
	ike_writer_clear(&resp);
}
END_TEST

START_TEST(test_sa_init_answers_charons_real_request)
{
	struct ike_pld_sa ours = suites_cbc_modp();
	struct ike_init_cfg c = { .proposals = &ours, .fragmentation = true };
	struct ike_endpoint pop = ep(10, 99, 0, 2, 500), branch = ep(10, 99, 0, 1, 500);
	struct ike_writer resp;
	struct ike_init r;
	struct ike_msg m;
	struct ike_pld_notify n;
	char *hex = test_read_data("strongswan/modp2048/ike_sa_init_request.hex", NULL);
	size_t len;
	uint8_t *req = test_hex(hex, &len);

	ike_writer_init(&resp, IKE_MAX_MSG_LEN);
	ck_assert_int_eq(ike_init_respond(&r, &c, NULL, req, len, &pop, &branch, &resp),
			 IKE_INIT_DONE);
	ck_assert_uint_eq(r.suite.dh->id, IKE_DH_MODP_2048);
	/* The capture was between these very addresses: no NAT on either side. */
	ck_assert(!r.nat_remote && !r.nat_local);
	ck_assert(r.peer_fragmentation);
	ck_assert_int_eq(ike_msg_decode(resp.buf, resp.len, &m, NULL), 0);
	ck_assert_uint_eq(m.hdr.flags, IKE_FLAG_RESPONSE);
	ck_assert_mem_eq(m.hdr.spi_i, req, 8);
	ck_assert_int_eq(ike_chain_find_notify(&m.chain, IKE_N_IKEV2_FRAGMENTATION_SUPPORTED, &n),
			 0);
	ike_init_clear(&r);
	ike_writer_clear(&resp);
	free(req);
	free(hex);
}
END_TEST

/*
 * strongSwan's default offers (no proposals line; 5.9.8 from Debian 12, 6.0.1 from Debian 13,
 * each with its stock plugins: 38+38 and 38+47 transforms) against the seeds' default
 * aes256-sha256-modp2048: chosen, and the KE group asked for (charon sent another); with
 * charon's own first group, answered at once; with nothing in common, NO_PROPOSAL_CHOSEN.
 */
START_TEST(test_sa_init_answers_strongswans_default_offers)
{
	static const struct {
		const char *file;
		uint16_t ke_group;
	} caps[] = {
		{ "strongswan/default-offer/charon-5.9.8.hex", IKE_DH_CURVE25519 },
		{ "strongswan/default-offer/charon-6.0.1.hex", IKE_DH_ECP_256 },
	};
	struct ike_endpoint gw = ep(192, 0, 2, 2, 500), branch = ep(192, 0, 2, 1, 500);

	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		char *hex = test_read_data(caps[i].file, NULL);
		size_t len;
		uint8_t *req = test_hex(hex, &len);
		struct ike_pld_sa ours = suites_cbc_modp();
		struct ike_init_cfg c = { .proposals = &ours };
		struct ike_writer resp;
		struct ike_init r;
		struct ike_msg m;
		struct ike_pld_notify n;
		uint16_t group;

		ike_writer_init(&resp, IKE_MAX_MSG_LEN);
		ck_assert_int_eq(ike_init_respond(&r, &c, NULL, req, len, &gw, &branch, &resp),
				 IKE_INIT_REFUSED);
		ck_assert_uint_eq(r.notify, IKE_N_INVALID_KE_PAYLOAD);
		ck_assert_int_eq(ike_msg_decode(resp.buf, resp.len, &m, NULL), 0);
		ck_assert_int_eq(ike_chain_find_notify(&m.chain, IKE_N_INVALID_KE_PAYLOAD, &n), 0);
		ck_assert_int_eq(ike_notify_invalid_ke_group(&n, &group), 0);
		ck_assert_uint_eq(group, IKE_DH_MODP_2048);
		ike_init_clear(&r);

		ours.p[0].t[3].id = caps[i].ke_group;
		ck_assert_int_eq(ike_init_respond(&r, &c, NULL, req, len, &gw, &branch, &resp),
				 IKE_INIT_DONE);
		ck_assert_uint_eq(r.suite.encr->id, IKE_ENCR_AES_CBC);
		ck_assert_uint_eq(r.suite.dh->id, caps[i].ke_group);
		ike_init_clear(&r);

		ours.p[0].t[2] = T(IKE_TRANSFORM_INTEG, IKE_AUTH_HMAC_MD5_96, 0);
		ck_assert_int_eq(ike_init_respond(&r, &c, NULL, req, len, &gw, &branch, &resp),
				 IKE_INIT_REFUSED);
		ck_assert_uint_eq(r.notify, IKE_N_NO_PROPOSAL_CHOSEN);
		ck_assert_int_eq(ike_msg_decode(resp.buf, resp.len, &m, NULL), 0);
		ck_assert_int_eq(ike_chain_find_notify(&m.chain, IKE_N_NO_PROPOSAL_CHOSEN, &n), 0);
		ike_init_clear(&r);
		/* Cut short, it is dropped, and the state names the field for the log. */
		ck_assert_int_lt(ike_init_respond(&r, &c, NULL, req, len - 100, &gw, &branch, &resp),
				 0);
		ck_assert_ptr_nonnull(r.err.field);
		ck_assert_ptr_nonnull(r.err.reason);
		ike_init_clear(&r);
		ike_writer_clear(&resp);
		free(req);
		free(hex);
	}
}
END_TEST

/*
 * Keys later: the answer is complete without them (the initiator is done with it), the
 * responder has none until its job, run on another thread, is taken; then SK_d, SK_a*, SK_e*,
 * SK_pi and SK_pr are the initiator's. The job reads its own copies: the state's nonces and
 * SPIs scribbled over while it runs change nothing.
 */
START_TEST(test_sa_init_keys_later_from_a_job_on_another_thread)
{
	static const uint16_t groups[] = { IKE_DH_CURVE25519, IKE_DH_MODP_2048 };
	struct ike_endpoint a = ep(192, 0, 2, 1, 500), b = ep(198, 51, 100, 1, 500);

	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		struct ike_pld_sa ours = suites_cbc(groups[g]);
		struct ike_init_cfg c = { .proposals = &ours, .dh_group = groups[g] };
		struct ike_init i, r, saved;
		struct ike_writer req, resp;
		struct ike_init_job *job;
		pthread_t t;

		ike_writer_init(&req, IKE_MAX_MSG_LEN);
		ike_writer_init(&resp, IKE_MAX_MSG_LEN);
		ck_assert_int_eq(ike_init_start(&i, &c, &a, &b, &req), 0);
		ck_assert_int_eq(ike_init_respond_later(&r, &c, NULL, req.buf, req.len, &b, &a, &resp,
							&job), IKE_INIT_DONE);
		ck_assert_ptr_nonnull(job);
		ck_assert_int_eq(job->rc, -EINPROGRESS);
		ck_assert_ptr_null(r.dh);			/* the key pair went to the job */
		ck_assert_uint_eq(r.suite.dh->id, groups[g]);
		assert_no_keys(&r);
		ck_assert_int_eq(ike_init_on_response(&i, &c, resp.buf, resp.len, &a, &b, &req),
				 IKE_INIT_DONE);
		assert_no_keys(&r);

		saved = r;
		memset(r.nonce_i, 0xa5, sizeof(r.nonce_i));
		memset(r.nonce_r, 0xa5, sizeof(r.nonce_r));
		memset(r.spi_i, 0xa5, sizeof(r.spi_i));
		memset(r.spi_r, 0xa5, sizeof(r.spi_r));
		ck_assert_int_eq(pthread_create(&t, NULL, run_job, job), 0);
		ck_assert_int_eq(pthread_join(t, NULL), 0);
		memcpy(r.nonce_i, saved.nonce_i, sizeof(r.nonce_i));
		memcpy(r.nonce_r, saved.nonce_r, sizeof(r.nonce_r));
		memcpy(r.spi_i, saved.spi_i, sizeof(r.spi_i));
		memcpy(r.spi_r, saved.spi_r, sizeof(r.spi_r));
		ck_assert_int_eq(job->rc, 0);
		ck_assert_ptr_null(job->dh);		/* wiped once its part is done */
		assert_no_keys(&r);			/* run, not yet taken */

		ck_assert_int_eq(ike_init_job_take(&r, job), 0);
		assert_same_secret(crypto_ike_sk_d(&i.keys), crypto_ike_sk_d(&r.keys));
		assert_same_secret(crypto_ike_sk_a(&i.keys, true), crypto_ike_sk_a(&r.keys, true));
		assert_same_secret(crypto_ike_sk_a(&i.keys, false), crypto_ike_sk_a(&r.keys, false));
		assert_same_secret(crypto_ike_sk_e(&i.keys, true), crypto_ike_sk_e(&r.keys, true));
		assert_same_secret(crypto_ike_sk_e(&i.keys, false), crypto_ike_sk_e(&r.keys, false));
		assert_same_secret(i.auth_keys.sk_pi, r.auth_keys.sk_pi);
		assert_same_secret(i.auth_keys.sk_pr, r.auth_keys.sk_pr);
		assert_same_keys(&i, &r);
		ike_init_clear(&i);
		ike_init_clear(&r);
		ike_writer_clear(&req);
		ike_writer_clear(&resp);
	}
}
END_TEST

/*
 * A MODP value outside 1 < y < p-1 (RFC 6989) is refused by respond_later at once, with no
 * job, in the very answer ike_init_respond gives: one INVALID_SYNTAX notify, no state.
 */
START_TEST(test_sa_init_keys_later_refuses_a_modp_value_out_of_range_at_once)
{
	struct ike_pld_sa ours = suites_cbc_modp();
	struct ike_init_cfg c = { .proposals = &ours, .dh_group = IKE_DH_MODP_2048 };
	struct ike_endpoint a = ep(192, 0, 2, 1, 500), b = ep(198, 51, 100, 1, 500);
	char *vectors = test_read_data("crypto/vectors.txt", NULL);
	size_t plen;
	uint8_t *p = test_kv_hex(vectors, "modp_2048_p", &plen);
	uint8_t bad[4][256];
	struct ike_writer req, resp, resp_later;
	struct ike_init i, r;

	ck_assert_uint_eq(plen, 256);
	memset(bad[0], 0, 256);
	bad[0][255] = 1;				/* 1 */
	memcpy(bad[1], p, 256);
	bad[1][255]--;					/* p - 1 */
	memset(bad[2], 0xff, 256);			/* > p */
	memset(bad[3], 0, 256);				/* 0 */
	ike_writer_init(&req, IKE_MAX_MSG_LEN);
	ike_writer_init(&resp, IKE_MAX_MSG_LEN);
	ike_writer_init(&resp_later, IKE_MAX_MSG_LEN);
	ck_assert_int_eq(ike_init_start(&i, &c, &a, &b, &req), 0);
	for (int k = 0; k < 4; k++) {
		struct ike_init_job *job = (struct ike_init_job *)&job;	/* not NULL */
		struct ike_msg m;
		struct ike_pld_notify n;

		forge_ke(&req, bad[k], 256);
		ck_assert_int_eq(ike_init_respond(&r, &c, NULL, req.buf, req.len, &b, &a, &resp),
				 IKE_INIT_REFUSED);
		ck_assert_uint_eq(r.notify, IKE_N_INVALID_SYNTAX);
		ike_init_clear(&r);
		ck_assert_int_eq(ike_init_respond_later(&r, &c, NULL, req.buf, req.len, &b, &a,
							&resp_later, &job), IKE_INIT_REFUSED);
		ck_assert_ptr_null(job);
		ck_assert_uint_eq(r.notify, IKE_N_INVALID_SYNTAX);
		ck_assert_ptr_null(r.dh);
		assert_no_keys(&r);
		ck_assert_uint_eq(resp_later.len, resp.len);
		ck_assert_mem_eq(resp_later.buf, resp.buf, resp.len);
		ck_assert_int_eq(ike_msg_decode(resp_later.buf, resp_later.len, &m, NULL), 0);
		ck_assert_uint_eq(m.chain.n, 1);
		ck_assert_int_eq(ike_chain_find_notify(&m.chain, IKE_N_INVALID_SYNTAX, &n), 0);
		ck_assert(sodium_is_zero(m.hdr.spi_r, 8));
		ike_init_clear(&r);
	}
	/* The initiator takes it as a refusal. */
	ck_assert_int_eq(ike_init_on_response(&i, &c, resp_later.buf, resp_later.len, &a, &b,
					      &req), IKE_INIT_FAILED);
	ck_assert_uint_eq(i.notify, IKE_N_INVALID_SYNTAX);
	ike_init_clear(&i);
	ike_writer_clear(&req);
	ike_writer_clear(&resp);
	ike_writer_clear(&resp_later);
	free(p);
	free(vectors);
}
END_TEST

/*
 * An X25519 low-order point (u = 0, u = 1) passes respond_later, which cannot tell without
 * the derive (ike_init_respond, which derives, refuses it); the job finds it: -EINVAL, and
 * taking it leaves the state without keys.
 */
START_TEST(test_sa_init_keys_later_job_refuses_an_x25519_low_order_point)
{
	struct ike_pld_sa ours = suites_cbc(IKE_DH_CURVE25519);
	struct ike_init_cfg c = { .proposals = &ours, .dh_group = IKE_DH_CURVE25519 };
	struct ike_endpoint a = ep(192, 0, 2, 1, 500), b = ep(198, 51, 100, 1, 500);
	uint8_t low[2][32] = { { 0 }, { 1 } };		/* little-endian u */
	struct ike_writer req, resp;
	struct ike_init i, r;

	ike_writer_init(&req, IKE_MAX_MSG_LEN);
	ike_writer_init(&resp, IKE_MAX_MSG_LEN);
	ck_assert_int_eq(ike_init_start(&i, &c, &a, &b, &req), 0);
	for (int k = 0; k < 2; k++) {
		struct ike_init_job *job;

		forge_ke(&req, low[k], 32);
		ck_assert_int_eq(ike_init_respond(&r, &c, NULL, req.buf, req.len, &b, &a, &resp),
				 IKE_INIT_REFUSED);
		ck_assert_uint_eq(r.notify, IKE_N_INVALID_SYNTAX);
		ike_init_clear(&r);
		ck_assert_int_eq(ike_init_respond_later(&r, &c, NULL, req.buf, req.len, &b, &a,
							&resp, &job), IKE_INIT_DONE);
		ck_assert_ptr_nonnull(job);
		ck_assert_int_eq(job->rc, -EINPROGRESS);
		ike_init_job_run(job);
		ck_assert_int_eq(job->rc, -EINVAL);
		ck_assert_int_eq(ike_init_job_take(&r, job), -EINVAL);
		assert_no_keys(&r);
		ike_init_clear(&r);
	}
	ike_init_clear(&i);
	ike_writer_clear(&req);
	ike_writer_clear(&resp);
}
END_TEST

/*
 * A job whose state went first is freed without being taken, run or not: its key pair and
 * keys go with it (the ASan build's leak check shows any left). NULL is fine.
 */
START_TEST(test_sa_init_keys_later_job_freed_untaken_leaks_nothing)
{
	static const uint16_t groups[] = { IKE_DH_CURVE25519, IKE_DH_MODP_2048 };
	struct ike_endpoint a = ep(192, 0, 2, 1, 500), b = ep(198, 51, 100, 1, 500);

	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		struct ike_pld_sa ours = suites_cbc(groups[g]);
		struct ike_init_cfg c = { .proposals = &ours, .dh_group = groups[g] };
		struct ike_writer req, resp;
		struct ike_init i, r;
		struct ike_init_job *job;

		ike_writer_init(&req, IKE_MAX_MSG_LEN);
		ike_writer_init(&resp, IKE_MAX_MSG_LEN);
		ck_assert_int_eq(ike_init_start(&i, &c, &a, &b, &req), 0);
		/* Not run: it holds the key pair. */
		ck_assert_int_eq(ike_init_respond_later(&r, &c, NULL, req.buf, req.len, &b, &a,
							&resp, &job), IKE_INIT_DONE);
		ck_assert_ptr_nonnull(job->dh);
		ike_init_clear(&r);
		ike_init_job_free(job);
		/* Run: it holds the keys. */
		ck_assert_int_eq(ike_init_respond_later(&r, &c, NULL, req.buf, req.len, &b, &a,
							&resp, &job), IKE_INIT_DONE);
		ike_init_job_run(job);
		ck_assert_int_eq(job->rc, 0);
		ck_assert_ptr_nonnull(job->keys.blk.p);
		ck_assert_ptr_nonnull(job->auth_keys.sk_pi.p);
		ike_init_clear(&r);
		ike_init_job_free(job);
		ike_init_clear(&i);
		ike_writer_clear(&req);
		ike_writer_clear(&resp);
	}
	ike_init_job_free(NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ike_sa_init");
	TCase *tc = tcase_create("sa_init");

	tcase_add_test(tc, test_sa_init_both_sides_agree_on_suite_and_keys);
	tcase_add_test(tc, test_sa_init_aead_suite_without_retry);
	tcase_add_test(tc, test_sa_init_cookie_round_and_forged_cookie);
	tcase_add_test(tc, test_sa_init_no_proposal_chosen_fails_the_initiator);
	tcase_add_test(tc, test_sa_init_nat_detection);
	tcase_add_test(tc, test_sa_init_answers_charons_real_request);
	tcase_add_test(tc, test_sa_init_answers_strongswans_default_offers);
	tcase_add_test(tc, test_sa_init_keys_later_from_a_job_on_another_thread);
	tcase_add_test(tc, test_sa_init_keys_later_refuses_a_modp_value_out_of_range_at_once);
	tcase_add_test(tc, test_sa_init_keys_later_job_refuses_an_x25519_low_order_point);
	tcase_add_test(tc, test_sa_init_keys_later_job_freed_untaken_leaks_nothing);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
