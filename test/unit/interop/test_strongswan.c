/*
 * Interop with strongSwan's charon, from real exchanges captured between two network
 * namespaces (test/tools/capture-strongswan.sh): decode its IKE_SA_INIT messages field by
 * field, recompute SKEYSEED and SK_* from the nonces and SPIs our codec reads and the g^ir
 * charon logged, then decrypt both IKE_AUTH messages with those keys and verify charon's PSK
 * AUTH values. Three suites: MODP-2048 with AES-CBC/SHA-256, ECP-384 with AES-GCM and
 * PRF-SHA384, Curve25519 with AES-128/SHA-1.
 */
#include "testutil.h"
#include "crypto/prf.h"
#include "crypto/sk.h"
#include "ike/message.h"

struct capture {
	char *keys;
	uint8_t *msg[4];
	size_t len[4];
};

enum { SA_INIT_REQ, SA_INIT_RESP, AUTH_REQ, AUTH_RESP };

static const char *const msg_files[4] = {
	"ike_sa_init_request.hex", "ike_sa_init_response.hex",
	"ike_auth_request.hex", "ike_auth_response.hex",
};

static const char *const captures[] = { "modp2048", "ecp384", "x25519" };

static void capture_load(struct capture *c, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "strongswan/%s/keys.txt", name);
	c->keys = test_read_data(path, NULL);
	for (int i = 0; i < 4; i++) {
		char *hex;

		snprintf(path, sizeof(path), "strongswan/%s/%s", name, msg_files[i]);
		hex = test_read_data(path, NULL);
		c->msg[i] = test_hex(hex, &c->len[i]);
		free(hex);
	}
}

static void capture_free(struct capture *c)
{
	free(c->keys);
	for (int i = 0; i < 4; i++)
		free(c->msg[i]);
}

static uint8_t *key(const struct capture *c, const char *name, size_t *len)
{
	return test_kv_hex(c->keys, name, len);
}

struct suite_ids {
	uint16_t encr, bits, prf, integ, dh;
};

static struct suite_ids suite_of(const struct capture *c)
{
	size_t len;
	uint8_t *s = key(c, "suite", &len);
	struct suite_ids ids = {
		(uint16_t)(s[0] << 8 | s[1]), (uint16_t)(s[2] << 8 | s[3]), (uint16_t)(s[4] << 8 | s[5]),
		(uint16_t)(s[6] << 8 | s[7]), (uint16_t)(s[8] << 8 | s[9]),
	};

	ck_assert_uint_eq(len, 10);
	free(s);
	return ids;
}

static bool proposal_has(const struct ike_proposal *p, uint8_t type, uint16_t id, uint16_t bits)
{
	for (uint8_t i = 0; i < p->n_transforms; i++)
		if (p->t[i].type == type && p->t[i].id == id && p->t[i].key_bits == bits)
			return true;
	return false;
}

static void assert_proposal_is(const struct ike_proposal *p, const struct suite_ids *s)
{
	ck_assert_uint_eq(p->protocol, IKE_PROTO_IKE);
	ck_assert(proposal_has(p, IKE_TRANSFORM_ENCR, s->encr, s->bits));
	ck_assert(proposal_has(p, IKE_TRANSFORM_PRF, s->prf, 0));
	ck_assert(proposal_has(p, IKE_TRANSFORM_DH, s->dh, 0));
	if (s->integ)
		ck_assert(proposal_has(p, IKE_TRANSFORM_INTEG, s->integ, 0));
}

/* The body of the first payload of a type, decoded with the given decoder by the caller. */
static struct ike_reader body_of(const struct ike_chain *ch, uint8_t type)
{
	const struct ike_payload *pl = ike_chain_find(ch, type, NULL);

	ck_assert_msg(pl != NULL, "no %s payload", ike_payload_name(type));
	return (struct ike_reader){ .p = pl->body, .len = pl->body_len,
				    .off = pl->offset + IKE_PAYLOAD_HEADER_LEN };
}

START_TEST(test_strongswan_sa_init_decodes_field_by_field)
{
	struct capture c;
	struct suite_ids s;
	size_t len;

	capture_load(&c, captures[_i]);
	s = suite_of(&c);
	for (int m = SA_INIT_REQ; m <= SA_INIT_RESP; m++) {
		struct ike_msg msg;
		struct ike_err err = { 0 };
		struct ike_pld_sa sa;
		struct ike_pld_ke ke;
		struct ike_pld_nonce nonce;
		struct ike_pld_notify n;
		struct ike_reader r;
		struct ike_writer w;
		const uint8_t *hash;
		uint8_t *spi_i = key(&c, "spi_i", &len), *want;

		ck_assert_msg(ike_msg_decode(c.msg[m], c.len[m], &msg, &err) == 0, "%s: %s at %zu: %s",
			      msg_files[m], err.field, err.offset, err.reason);
		ck_assert_mem_eq(msg.hdr.spi_i, spi_i, 8);
		free(spi_i);
		ck_assert_uint_eq(msg.hdr.exchange, IKE_EXCH_IKE_SA_INIT);
		ck_assert_uint_eq(msg.hdr.major, 2);
		ck_assert_uint_eq(msg.hdr.minor, 0);
		ck_assert_uint_eq(msg.hdr.msg_id, 0);
		ck_assert_uint_eq(msg.hdr.length, c.len[m]);
		if (m == SA_INIT_REQ) {
			ck_assert_uint_eq(msg.hdr.flags, IKE_FLAG_INITIATOR);
			ck_assert_mem_eq(msg.hdr.spi_r, "\0\0\0\0\0\0\0\0", 8);
		} else {
			uint8_t *spi_r = key(&c, "spi_r", &len);

			ck_assert_uint_eq(msg.hdr.flags, IKE_FLAG_RESPONSE);
			ck_assert_mem_eq(msg.hdr.spi_r, spi_r, 8);
			free(spi_r);
		}
		for (uint8_t i = 0; i < msg.chain.n; i++)
			ck_assert_msg(ike_payload_allowed(IKE_EXCH_IKE_SA_INIT, false,
							  msg.chain.pl[i].type) || !msg.chain.pl[i].known,
				      "%s not allowed", ike_payload_name(msg.chain.pl[i].type));

		/* SA: the request offers the suite; the response chose exactly it. */
		r = body_of(&msg.chain, IKE_PLD_SA);
		ck_assert_int_eq(ike_pld_sa_decode(&r, &sa, NULL), 0);
		ck_assert_uint_ge(sa.n, 1);
		assert_proposal_is(&sa.p[0], &s);
		if (m == SA_INIT_RESP) {
			ck_assert_uint_eq(sa.n, 1);
			ck_assert_uint_eq(sa.p[0].n_transforms, s.integ ? 4 : 3);
		}
		/* KE and nonce: the values the independent extractor read. */
		r = body_of(&msg.chain, IKE_PLD_KE);
		ck_assert_int_eq(ike_pld_ke_decode(&r, &ke, NULL), 0);
		ck_assert_uint_eq(ke.group, s.dh);
		want = key(&c, m == SA_INIT_REQ ? "ke_i" : "ke_r", &len);
		ck_assert_uint_eq(ke.len, len);
		ck_assert_uint_eq(ke.len, crypto_dh_find(s.dh)->pub_len);
		ck_assert_mem_eq(ke.data, want, len);
		free(want);
		r = body_of(&msg.chain, IKE_PLD_NONCE);
		ck_assert_int_eq(ike_pld_nonce_decode(&r, &nonce, NULL), 0);
		want = key(&c, m == SA_INIT_REQ ? "nonce_i" : "nonce_r", &len);
		ck_assert_uint_eq(nonce.len, len);
		ck_assert_mem_eq(nonce.data, want, len);
		free(want);
		/* NAT detection (two 20-byte SHA-1 hashes) and fragmentation support. */
		ck_assert_int_eq(ike_chain_find_notify(&msg.chain, IKE_N_NAT_DETECTION_SOURCE_IP, &n), 0);
		ck_assert_int_eq(ike_notify_nat_hash(&n, &hash), 0);
		ck_assert_int_eq(ike_chain_find_notify(&msg.chain, IKE_N_NAT_DETECTION_DESTINATION_IP,
						       &n), 0);
		ck_assert_int_eq(ike_notify_nat_hash(&n, &hash), 0);
		ck_assert_int_eq(ike_chain_find_notify(&msg.chain, IKE_N_IKEV2_FRAGMENTATION_SUPPORTED,
						       &n), 0);
		ck_assert_uint_eq(n.len, 0);
		/* And back to the same bytes. */
		ike_writer_init(&w, IKE_MAX_MSG_LEN);
		ck_assert_int_eq(ike_msg_encode(&msg, &w), 0);
		ck_assert_uint_eq(w.len, c.len[m]);
		ck_assert_mem_eq(w.buf, c.msg[m], w.len);
		ike_writer_clear(&w);
	}
	capture_free(&c);
}
END_TEST

/* Nonces from our own decode of the IKE_SA_INIT messages. */
static void nonces(const struct capture *c, struct ike_pld_nonce *ni, struct ike_pld_nonce *nr,
		   struct ike_header *hi, struct ike_header *hr)
{
	struct ike_msg req, resp;
	struct ike_reader r;

	ck_assert_int_eq(ike_msg_decode(c->msg[SA_INIT_REQ], c->len[SA_INIT_REQ], &req, NULL), 0);
	ck_assert_int_eq(ike_msg_decode(c->msg[SA_INIT_RESP], c->len[SA_INIT_RESP], &resp, NULL), 0);
	r = body_of(&req.chain, IKE_PLD_NONCE);
	ck_assert_int_eq(ike_pld_nonce_decode(&r, ni, NULL), 0);
	r = body_of(&resp.chain, IKE_PLD_NONCE);
	ck_assert_int_eq(ike_pld_nonce_decode(&r, nr, NULL), 0);
	*hi = req.hdr;
	*hr = resp.hdr;
}

static void derive(const struct capture *c, struct crypto_suite *suite, struct crypto_ike_keys *k,
		   struct crypto_ike_auth_keys *auth)
{
	struct suite_ids s = suite_of(c);
	struct ike_pld_nonce ni, nr;
	struct ike_header hi, hr;
	struct secret shared = { 0 };
	size_t len;
	uint8_t *raw = key(c, "shared", &len);

	ck_assert_int_eq(crypto_suite_init(suite, s.encr, s.bits, s.prf, s.integ, s.dh), 0);
	ck_assert_uint_eq(len, suite->dh->shared_len);
	ck_assert_int_eq(secret_set(&shared, raw, len), 0);
	free(raw);
	nonces(c, &ni, &nr, &hi, &hr);
	ck_assert_int_eq(crypto_ike_keys_derive(suite, &shared, ni.data, ni.len, nr.data, nr.len,
						hi.spi_i, hr.spi_r, NULL, k, auth), 0);
	secret_clear(&shared);
}

static void assert_key(const struct capture *c, const struct secret *s, const char *name)
{
	size_t len;
	uint8_t *want = key(c, name, &len);

	ck_assert_msg(s->len == len, "%s: %zu bytes, charon has %zu", name, s->len, len);
	ck_assert_msg(memcmp(s->p, want, len) == 0, "%s differs from charon's", name);
	free(want);
}

START_TEST(test_strongswan_key_derivation_matches_charon)
{
	struct capture c;
	struct crypto_suite suite;
	struct crypto_ike_keys k;
	struct crypto_ike_auth_keys auth;
	struct ike_pld_nonce ni, nr;
	struct ike_header hi, hr;
	struct secret shared = { 0 }, skeyseed = { 0 };
	struct secret sk_d, sk_ai, sk_ar, sk_ei, sk_er;
	size_t len;
	uint8_t *raw;

	capture_load(&c, captures[_i]);
	derive(&c, &suite, &k, &auth);
	raw = key(&c, "shared", &len);
	ck_assert_int_eq(secret_set(&shared, raw, len), 0);
	free(raw);
	nonces(&c, &ni, &nr, &hi, &hr);
	ck_assert_int_eq(crypto_ike_skeyseed(suite.prf, &shared, ni.data, ni.len, nr.data, nr.len,
					     NULL, &skeyseed), 0);
	assert_key(&c, &skeyseed, "skeyseed");
	sk_d = crypto_ike_sk_d(&k);
	sk_ai = crypto_ike_sk_a(&k, true);
	sk_ar = crypto_ike_sk_a(&k, false);
	sk_ei = crypto_ike_sk_e(&k, true);
	sk_er = crypto_ike_sk_e(&k, false);
	assert_key(&c, &sk_d, "sk_d");
	if (suite.integ) {
		assert_key(&c, &sk_ai, "sk_ai");
		assert_key(&c, &sk_ar, "sk_ar");
	}
	assert_key(&c, &sk_ei, "sk_ei");
	assert_key(&c, &sk_er, "sk_er");
	assert_key(&c, &auth.sk_pi, "sk_pi");
	assert_key(&c, &auth.sk_pr, "sk_pr");
	secret_clear(&skeyseed);
	secret_clear(&shared);
	crypto_ike_auth_keys_clear(&auth);
	crypto_ike_keys_clear(&k);
	capture_free(&c);
}
END_TEST

START_TEST(test_strongswan_ike_auth_decrypts_and_psk_auth_verifies)
{
	struct capture c;
	struct crypto_suite suite;
	struct crypto_ike_keys k;
	struct crypto_ike_auth_keys sk_p;
	struct ike_pld_nonce ni, nr;
	struct ike_header hi, hr;
	struct secret psk = { 0 };
	size_t len;
	uint8_t *raw = NULL;

	capture_load(&c, captures[_i]);
	derive(&c, &suite, &k, &sk_p);
	nonces(&c, &ni, &nr, &hi, &hr);
	raw = key(&c, "psk", &len);
	ck_assert_int_eq(secret_set(&psk, raw, len), 0);
	free(raw);
	for (int m = AUTH_REQ; m <= AUTH_RESP; m++) {
		bool from_i = m == AUTH_REQ;
		struct crypto_sk_dir dir = {
			suite.encr, suite.integ, crypto_ike_sk_e(&k, from_i),
			crypto_ike_sk_a(&k, from_i),
		};
		struct ike_msg msg;
		struct ike_chain inner;
		struct ike_pld_id id;
		struct ike_pld_auth auth;
		struct ike_pld_sa sa;
		struct ike_pld_ts ts;
		struct ike_reader r;
		uint8_t *plain, *want, crit = 0;
		size_t plain_len;

		ck_assert_int_eq(ike_msg_decode(c.msg[m], c.len[m], &msg, NULL), 0);
		ck_assert_uint_eq(msg.hdr.exchange, IKE_EXCH_IKE_AUTH);
		ck_assert_uint_eq(msg.hdr.msg_id, 1);
		ck_assert(msg.sk.present);
		ck_assert(!msg.sk.fragment);
		ck_assert_int_eq(crypto_sk_unprotect(&dir, c.msg[m], c.len[m], msg.sk.hdr_off,
						     msg.sk.iv_off, &plain, &plain_len), 0);
		ck_assert_int_eq(ike_chain_decode(plain, plain_len, msg.sk.inner_type, &inner, &crit,
						  NULL), 0);
		for (uint8_t i = 0; i < inner.n; i++)
			ck_assert(ike_payload_allowed(IKE_EXCH_IKE_AUTH, true, inner.pl[i].type) ||
				  !inner.pl[i].known);
		r = body_of(&inner, from_i ? IKE_PLD_IDI : IKE_PLD_IDR);
		ck_assert_int_eq(ike_pld_id_decode(&r, &id, NULL), 0);
		r = body_of(&inner, IKE_PLD_AUTH);
		ck_assert_int_eq(ike_pld_auth_decode(&r, &auth, NULL), 0);
		ck_assert_uint_eq(auth.method, IKE_AUTH_SHARED_KEY_MIC);
		want = key(&c, from_i ? "auth_i" : "auth_r", &len);
		ck_assert_uint_eq(auth.len, len);
		ck_assert_mem_eq(auth.data, want, len);
		free(want);
		/* RFC 7296 §2.15: the signer's first message, the peer's nonce, prf(SK_p, ID'). */
		ck_assert_int_eq(crypto_psk_auth_verify(suite.prf, &psk,
							c.msg[from_i ? SA_INIT_REQ : SA_INIT_RESP],
							c.len[from_i ? SA_INIT_REQ : SA_INIT_RESP],
							from_i ? nr.data : ni.data,
							from_i ? nr.len : ni.len,
							from_i ? &sk_p.sk_pi : &sk_p.sk_pr, id.body,
							id.body_len, auth.data, auth.len), 0);
		/* The wrong PSK does not verify. */
		psk.p[0] ^= 1;
		ck_assert_int_eq(crypto_psk_auth_verify(suite.prf, &psk,
							c.msg[from_i ? SA_INIT_REQ : SA_INIT_RESP],
							c.len[from_i ? SA_INIT_REQ : SA_INIT_RESP],
							from_i ? nr.data : ni.data,
							from_i ? nr.len : ni.len,
							from_i ? &sk_p.sk_pi : &sk_p.sk_pr, id.body,
							id.body_len, auth.data, auth.len), -EACCES);
		psk.p[0] ^= 1;
		if (!from_i) {
			/*
			 * The capture host has no ESP in its kernel, so charon could not install the
			 * Child SA: its IKE_AUTH response authenticates the IKE SA and refuses the
			 * child with a notify instead of SA/TSi/TSr.
			 */
			struct ike_pld_notify n;

			ck_assert_ptr_null(ike_chain_find(&inner, IKE_PLD_SA, NULL));
			ck_assert_int_eq(ike_chain_find_notify(&inner, IKE_N_NO_PROPOSAL_CHOSEN, &n), 0);
			continue;
		}
		/* The Child SA part: an ESP proposal and selectors. */
		r = body_of(&inner, IKE_PLD_SA);
		ck_assert_int_eq(ike_pld_sa_decode(&r, &sa, NULL), 0);
		ck_assert_uint_eq(sa.p[0].protocol, IKE_PROTO_ESP);
		ck_assert_uint_eq(sa.p[0].spi_len, 4);
		r = body_of(&inner, IKE_PLD_TSI);
		ck_assert_int_eq(ike_pld_ts_decode(&r, &ts, NULL), 0);
		ck_assert_uint_eq(ts.ts[0].type, IKE_TS_IPV4_ADDR_RANGE);
		ck_assert_mem_eq(ts.ts[0].start, "\x0a\x01\x00\x00", 4);	/* 10.1.0.0/16 */
		ck_assert_mem_eq(ts.ts[0].end, "\x0a\x01\xff\xff", 4);
		r = body_of(&inner, IKE_PLD_TSR);
		ck_assert_int_eq(ike_pld_ts_decode(&r, &ts, NULL), 0);
		ck_assert_mem_eq(ts.ts[0].end, "\xff\xff\xff\xff", 4);	/* 0.0.0.0/0 */
	}
	secret_clear(&psk);
	crypto_ike_auth_keys_clear(&sk_p);
	crypto_ike_keys_clear(&k);
	capture_free(&c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("interop_strongswan");
	TCase *tc = tcase_create("strongswan");
	int n = (int)(sizeof(captures) / sizeof(captures[0]));

	tcase_add_loop_test(tc, test_strongswan_sa_init_decodes_field_by_field, 0, n);
	tcase_add_loop_test(tc, test_strongswan_key_derivation_matches_charon, 0, n);
	tcase_add_loop_test(tc, test_strongswan_ike_auth_decrypts_and_psk_auth_verifies, 0, n);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
