/*
 * lib/crypto/prf.c: HMAC known answers (RFC 2202, RFC 4231), prf+ and the key derivations of
 * RFC 7296 §2.13-§2.18 against reference values from an independent implementation
 * (test/tools/crypto-vectors.py -> test/data/crypto/vectors.txt).
 */
#include <pthread.h>
#include <stdbool.h>

#include "testutil.h"
#include "crypto/prf.h"

static char *vectors;

static void load_vectors(void)
{
	vectors = test_read_data("crypto/vectors.txt", NULL);
}

static void free_vectors(void)
{
	free(vectors);
}

static uint8_t *vec(const char *name, size_t *len)
{
	return test_kv_hex(vectors, name, len);
}

static void assert_secret_eq(const struct secret *s, const char *name)
{
	size_t len;
	uint8_t *want = vec(name, &len);

	ck_assert_msg(s->len == len, "%s: length %zu, want %zu", name, s->len, len);
	ck_assert_msg(memcmp(s->p, want, len) == 0, "%s differs", name);
	free(want);
}

START_TEST(test_prf_hmac_known_answers)
{
	/* RFC 2202 §3 and RFC 4231 §4.3: test case 2, key "Jefe". */
	static const struct {
		uint16_t id;
		const char *hex;
	} kat[] = {
		{ IKE_PRF_HMAC_SHA1, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79" },
		{ IKE_PRF_HMAC_SHA2_256,
		  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
		{ IKE_PRF_HMAC_SHA2_384,
		  "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
		  "8e2240ca5e69e2c78b3239ecfab21649" },
		{ IKE_PRF_HMAC_SHA2_512,
		  "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
		  "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737" },
	};
	const char *data = "what do ya want for nothing?";
	/* Split in two parts: the concatenation is what is MACed. */
	struct crypto_buf parts[2] = { { (const uint8_t *)data, 10 },
				       { (const uint8_t *)data + 10, strlen(data) - 10 } };

	for (size_t i = 0; i < sizeof(kat) / sizeof(kat[0]); i++) {
		const struct crypto_prf *prf = crypto_prf_find(kat[i].id);
		uint8_t out[64];
		size_t len;
		uint8_t *want = test_hex(kat[i].hex, &len);

		ck_assert_ptr_nonnull(prf);
		ck_assert_uint_eq(prf->out_len, len);
		ck_assert_int_eq(crypto_prf(prf, (const uint8_t *)"Jefe", 4, parts, 2, out), 0);
		ck_assert_msg(memcmp(out, want, len) == 0, "%s", prf->name);
		free(want);
	}
}
END_TEST

/*
 * RFC 2202 §3 and RFC 4231 §4.7, test case 6: a key longer than the digest's block is
 * hashed first (SKEYSEED's key, Ni | Nr, can be); and an empty key.
 */
static const struct {
	uint16_t id;
	size_t key_len;
	const char *hex;
} long_kat[] = {
	{ IKE_PRF_HMAC_SHA1, 80, "aa4ae5e15272d00e95705637ce8a3b55ed402112" },
	{ IKE_PRF_HMAC_SHA2_256, 131,
	  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
	{ IKE_PRF_HMAC_SHA2_384, 131,
	  "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c6"
	  "0c2ef6ab4030fe8296248df163f44952" },
	{ IKE_PRF_HMAC_SHA2_512, 131,
	  "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352"
	  "6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598" },
};
static const char long_data[] = "Test Using Larger Than Block-Size Key - Hash Key First";

/* Every long_kat answer once; false at the first that differs. */
static bool long_kat_all(void)
{
	uint8_t key[131], out[64];
	struct crypto_buf part = { (const uint8_t *)long_data, sizeof(long_data) - 1 };
	bool ok = true;

	memset(key, 0xaa, sizeof(key));
	for (size_t i = 0; i < sizeof(long_kat) / sizeof(long_kat[0]) && ok; i++) {
		const struct crypto_prf *prf = crypto_prf_find(long_kat[i].id);
		size_t len;
		uint8_t *want = test_hex(long_kat[i].hex, &len);

		ok = crypto_prf(prf, key, long_kat[i].key_len, &part, 1, out) == 0 &&
		     len == prf->out_len && memcmp(out, want, len) == 0;
		free(want);
	}
	return ok;
}

START_TEST(test_prf_hmac_long_and_empty_keys)
{
	const uint8_t text[] = "abc";
	struct crypto_buf part = { text, 3 };
	uint8_t out[32];
	size_t len;
	uint8_t *want = test_hex("fd7adb152c05ef80dccf50a1fa4c05d5a3ec6da95575fc312ae7c5d091836351",
				 &len);

	ck_assert(long_kat_all());
	/* and again: nothing of the last use stays in the thread's contexts */
	ck_assert(long_kat_all());
	ck_assert_int_eq(crypto_prf(crypto_prf_find(IKE_PRF_HMAC_SHA2_256), NULL, 0, &part, 1,
				    out), 0);
	ck_assert(memcmp(out, want, len) == 0);
	free(want);
}
END_TEST

static void *long_kat_thread(void *arg)
{
	bool *ok = arg;

	for (int i = 0; i < 500 && *ok; i++)
		*ok = long_kat_all();
	return NULL;
}

/* The DH workers derive while the daemon's thread authenticates: each has its own contexts. */
START_TEST(test_prf_on_threads_at_once)
{
	pthread_t th[3];
	bool ok[3] = { true, true, true };

	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, long_kat_thread, &ok[i]), 0);
	for (int i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		ck_assert_msg(ok[i], "thread %d", i);
	}
}
END_TEST

START_TEST(test_prf_plus_matches_reference)
{
	const uint8_t key[20] = { 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b,
				  0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b };
	const char *seed = "ikd prf+ seed";
	struct crypto_buf s[2] = { { (const uint8_t *)seed, 4 },
				   { (const uint8_t *)seed + 4, strlen(seed) - 4 } };
	uint8_t out[100];
	size_t len;
	uint8_t *want;

	want = vec("prfplus_sha256", &len);
	ck_assert_uint_eq(len, 100);
	ck_assert_int_eq(crypto_prf_plus(crypto_prf_find(IKE_PRF_HMAC_SHA2_256), key, 20, s, 2,
					 out, 100), 0);
	ck_assert(memcmp(out, want, 100) == 0);
	free(want);
	want = vec("prfplus_sha1", &len);
	ck_assert_int_eq(crypto_prf_plus(crypto_prf_find(IKE_PRF_HMAC_SHA1), key, 20, s, 2,
					 out, 50), 0);
	ck_assert(memcmp(out, want, 50) == 0);
	free(want);
	/* §2.13: at most 255 blocks. */
	ck_assert_int_eq(crypto_prf_plus(crypto_prf_find(IKE_PRF_HMAC_SHA1), key, 20, s, 2, out,
					 255 * 20 + 1), -EINVAL);
}
END_TEST

struct derive_inputs {
	uint8_t *ni, *nr, *spi_i, *spi_r;
	size_t ni_len, nr_len, len;
	struct secret shared;
};

static void inputs_load(struct derive_inputs *in)
{
	size_t len;
	uint8_t *shared = vec("shared", &len);

	in->ni = vec("nonce_i", &in->ni_len);
	in->nr = vec("nonce_r", &in->nr_len);
	in->spi_i = vec("spi_i", &in->len);
	in->spi_r = vec("spi_r", &in->len);
	ck_assert_int_eq(secret_set(&in->shared, shared, len), 0);
	free(shared);
}

static void inputs_free(struct derive_inputs *in)
{
	free(in->ni);
	free(in->nr);
	free(in->spi_i);
	free(in->spi_r);
	secret_clear(&in->shared);
}

static const struct {
	const char *name;
	uint16_t encr, key_bits, prf, integ;
} ike_suites[] = {
	{ "aes128_sha256", IKE_ENCR_AES_CBC, 128, IKE_PRF_HMAC_SHA2_256, IKE_AUTH_HMAC_SHA2_256_128 },
	{ "aes256gcm16_prfsha384", IKE_ENCR_AES_GCM_16, 256, IKE_PRF_HMAC_SHA2_384, IKE_AUTH_NONE },
	{ "aes256_sha512", IKE_ENCR_AES_CBC, 256, IKE_PRF_HMAC_SHA2_512, IKE_AUTH_HMAC_SHA2_512_256 },
	{ "aes192_sha1", IKE_ENCR_AES_CBC, 192, IKE_PRF_HMAC_SHA1, IKE_AUTH_HMAC_SHA1_96 },
};

/* A view into the keys: a pointer, and exactly the reference's bytes. */
static void assert_view_eq(struct secret v, const char *name)
{
	ck_assert_ptr_nonnull(v.p);
	assert_secret_eq(&v, name);
}

static void assert_view_empty(struct secret v)
{
	ck_assert_ptr_null(v.p);
	ck_assert_uint_eq(v.len, 0);
}

START_TEST(test_ike_keys_match_reference_for_each_suite)
{
	struct derive_inputs in = { 0 };
	struct crypto_suite suite;
	struct crypto_ike_keys k, k_no_auth;
	struct crypto_ike_auth_keys auth;
	struct secret skeyseed = { 0 };
	char name[64];

	inputs_load(&in);
	for (size_t i = 0; i < sizeof(ike_suites) / sizeof(ike_suites[0]); i++) {
		const char *n = ike_suites[i].name;

		ck_assert_int_eq(crypto_suite_init(&suite, ike_suites[i].encr, ike_suites[i].key_bits,
						   ike_suites[i].prf, ike_suites[i].integ,
						   IKE_DH_MODP_2048), 0);
#define NAME(key) (snprintf(name, sizeof(name), "%s_" #key, n), name)
		ck_assert_int_eq(crypto_ike_skeyseed(suite.prf, &in.shared, in.ni, in.ni_len, in.nr,
						     in.nr_len, NULL, &skeyseed), 0);
		assert_secret_eq(&skeyseed, NAME(skeyseed));
		secret_clear(&skeyseed);
		ck_assert_int_eq(crypto_ike_keys_derive(&suite, &in.shared, in.ni, in.ni_len, in.nr,
							in.nr_len, in.spi_i, in.spi_r, NULL, &k,
							&auth), 0);
		assert_view_eq(crypto_ike_sk_d(&k), NAME(sk_d));
		assert_view_eq(crypto_ike_sk_e(&k, true), NAME(sk_ei));
		assert_view_eq(crypto_ike_sk_e(&k, false), NAME(sk_er));
		assert_secret_eq(&auth.sk_pi, NAME(sk_pi));
		assert_secret_eq(&auth.sk_pr, NAME(sk_pr));
		if (suite.integ) {
			assert_view_eq(crypto_ike_sk_a(&k, true), NAME(sk_ai));
			assert_view_eq(crypto_ike_sk_a(&k, false), NAME(sk_ar));
		} else {
			/* AEAD: no SK_a, as {NULL, 0}, not a pointer into the block. */
			ck_assert(suite.encr->aead);
			assert_view_empty(crypto_ike_sk_a(&k, true));
			assert_view_empty(crypto_ike_sk_a(&k, false));
		}
#undef NAME
		/* The views tile blk in §2.14's order, SK_d first, SK_er last. */
		ck_assert_ptr_eq(crypto_ike_sk_d(&k).p, k.blk.p);
		ck_assert_ptr_eq(crypto_ike_sk_e(&k, false).p + k.encr_len, k.blk.p + k.blk.len);
		ck_assert_uint_eq(k.blk.len, k.prf_len + 2 * k.integ_len + 2 * k.encr_len);
		/* Without SK_pi and SK_pr, prf+ stops early: the same keys. */
		ck_assert_int_eq(crypto_ike_keys_derive(&suite, &in.shared, in.ni, in.ni_len, in.nr,
							in.nr_len, in.spi_i, in.spi_r, NULL,
							&k_no_auth, NULL), 0);
		ck_assert_uint_eq(k_no_auth.blk.len, k.blk.len);
		ck_assert_mem_eq(k_no_auth.blk.p, k.blk.p, k.blk.len);
		crypto_ike_keys_clear(&k_no_auth);
		crypto_ike_auth_keys_clear(&auth);
		ck_assert_ptr_null(auth.sk_pi.p);
		crypto_ike_keys_clear(&k);
		ck_assert_ptr_null(k.blk.p);
		assert_view_empty(crypto_ike_sk_d(&k));
		assert_view_empty(crypto_ike_sk_e(&k, true));
	}
	inputs_free(&in);
}
END_TEST

START_TEST(test_ike_rekey_skeyseed_uses_old_sk_d)
{
	struct derive_inputs in = { 0 };
	struct crypto_suite suite;
	struct crypto_ike_keys k;
	struct secret old = { 0 }, skeyseed = { 0 };
	size_t len, seed_len;
	uint8_t *old_raw = vec("rekey_old_sk_d", &len);
	uint8_t *want_seed = vec("rekey_skeyseed", &seed_len);
	uint8_t want[32 + 2 * 32 + 2 * 16];	/* SK_d | SK_ai | SK_ar | SK_ei | SK_er */
	struct crypto_buf s[4];

	inputs_load(&in);
	ck_assert_int_eq(secret_set(&old, old_raw, len), 0);
	ck_assert_int_eq(crypto_suite_init(&suite, IKE_ENCR_AES_CBC, 128, IKE_PRF_HMAC_SHA2_256,
					   IKE_AUTH_HMAC_SHA2_256_128, IKE_DH_MODP_2048), 0);
	ck_assert_int_eq(crypto_ike_skeyseed(suite.prf, &in.shared, in.ni, in.ni_len, in.nr,
					     in.nr_len, &old, &skeyseed), 0);
	assert_secret_eq(&skeyseed, "rekey_skeyseed");
	secret_clear(&skeyseed);
	/* And the keys derive makes from it: prf+(SKEYSEED, Ni | Nr | SPIi | SPIr) up to SK_er. */
	ck_assert_int_eq(crypto_ike_keys_derive(&suite, &in.shared, in.ni, in.ni_len, in.nr,
						in.nr_len, in.spi_i, in.spi_r, &old, &k, NULL), 0);
	s[0] = (struct crypto_buf){ in.ni, in.ni_len };
	s[1] = (struct crypto_buf){ in.nr, in.nr_len };
	s[2] = (struct crypto_buf){ in.spi_i, 8 };
	s[3] = (struct crypto_buf){ in.spi_r, 8 };
	ck_assert_uint_eq(k.blk.len, sizeof(want));
	ck_assert_int_eq(crypto_prf_plus(suite.prf, want_seed, seed_len, s, 4, want, k.blk.len),
			 0);
	ck_assert_mem_eq(k.blk.p, want, k.blk.len);
	crypto_ike_keys_clear(&k);
	secret_clear(&old);
	free(old_raw);
	free(want_seed);
	inputs_free(&in);
}
END_TEST

START_TEST(test_ike_keys_cut_refuses_a_length_past_a_byte)
{
	static const uint8_t km[3 * 256 + 4 * 32];
	struct crypto_ike_keys k = { 0 };
	struct crypto_ike_auth_keys auth = { 0 };

	ck_assert_int_eq(crypto_ike_keys_cut(km, 256, 32, 32, &k, &auth), -EINVAL);
	ck_assert_int_eq(crypto_ike_keys_cut(km, 32, 256, 32, &k, NULL), -EINVAL);
	ck_assert_int_eq(crypto_ike_keys_cut(km, 32, 32, 256, &k, NULL), -EINVAL);
	ck_assert_ptr_null(k.blk.p);
	ck_assert_ptr_null(auth.sk_pi.p);
	ck_assert_int_eq(crypto_ike_keys_cut(km, 255, 0, 32, &k, NULL), 0);
	ck_assert_uint_eq(crypto_ike_sk_d(&k).len, 255);
	assert_view_empty(crypto_ike_sk_a(&k, false));
	ck_assert_ptr_eq(crypto_ike_sk_e(&k, true).p, k.blk.p + 255);
	crypto_ike_keys_clear(&k);
}
END_TEST

START_TEST(test_child_keymat_with_and_without_pfs)
{
	struct derive_inputs in = { 0 };
	const struct crypto_prf *prf = crypto_prf_find(IKE_PRF_HMAC_SHA2_256);
	struct crypto_child_keys ck;
	struct secret sk_d = { 0 };
	size_t len, klen;
	uint8_t *raw = vec("child_sk_d", &len), *km;

	inputs_load(&in);
	ck_assert_int_eq(secret_set(&sk_d, raw, len), 0);

	/* AES-GCM-256: 32-byte key + 4-byte salt each way, no integrity keys. */
	ck_assert_int_eq(crypto_child_keys_derive(prf, &sk_d,
						  crypto_encr_find(IKE_ENCR_AES_GCM_16, 256), NULL,
						  NULL, in.ni, in.ni_len, in.nr, in.nr_len, &ck), 0);
	km = vec("child_gcm256_nopfs", &klen);
	ck_assert_uint_eq(ck.encr_i.len, 36);
	ck_assert_uint_eq(ck.integ_i.len, 0);
	ck_assert(memcmp(ck.encr_i.p, km, 36) == 0);
	ck_assert(memcmp(ck.encr_r.p, km + 36, 36) == 0);
	free(km);
	crypto_child_keys_clear(&ck);

	/* AES-128 + HMAC-SHA1 with PFS: g^ir (new) comes first in the seed. */
	ck_assert_int_eq(crypto_child_keys_derive(prf, &sk_d,
						  crypto_encr_find(IKE_ENCR_AES_CBC, 128),
						  crypto_integ_find(IKE_AUTH_HMAC_SHA1_96), &in.shared,
						  in.ni, in.ni_len, in.nr, in.nr_len, &ck), 0);
	km = vec("child_aes128_sha1_pfs", &klen);
	ck_assert(memcmp(ck.encr_i.p, km, 16) == 0);
	ck_assert(memcmp(ck.integ_i.p, km + 16, 20) == 0);
	ck_assert(memcmp(ck.encr_r.p, km + 36, 16) == 0);
	ck_assert(memcmp(ck.integ_r.p, km + 52, 20) == 0);
	free(km);
	crypto_child_keys_clear(&ck);
	secret_clear(&sk_d);
	free(raw);
	inputs_free(&in);
}
END_TEST

START_TEST(test_psk_auth_matches_reference_and_rejects_any_change)
{
	const struct crypto_prf *prf = crypto_prf_find(IKE_PRF_HMAC_SHA2_256);
	size_t psk_len, msg_len, skp_len, id_len, auth_len, nr_len;
	uint8_t *psk_raw = vec("auth_psk", &psk_len), *msg = vec("auth_msg", &msg_len);
	uint8_t *skp_raw = vec("auth_sk_p", &skp_len), *id = vec("auth_id_body", &id_len);
	uint8_t *want = vec("auth_sha256", &auth_len), *nr = vec("nonce_r", &nr_len);
	struct secret psk = { 0 }, sk_p = { 0 };
	uint8_t out[32];

	ck_assert_int_eq(secret_set(&psk, psk_raw, psk_len), 0);
	ck_assert_int_eq(secret_set(&sk_p, skp_raw, skp_len), 0);
	ck_assert_int_eq(crypto_psk_auth(prf, &psk, msg, msg_len, nr, nr_len, &sk_p, id, id_len,
					 out), 0);
	ck_assert(memcmp(out, want, 32) == 0);
	ck_assert_int_eq(crypto_psk_auth_verify(prf, &psk, msg, msg_len, nr, nr_len, &sk_p, id,
						id_len, want, auth_len), 0);
	/* One flipped bit anywhere in the AUTH value, or a wrong length: refused. */
	for (size_t i = 0; i < auth_len; i++) {
		want[i] ^= 0x01;
		ck_assert_int_eq(crypto_psk_auth_verify(prf, &psk, msg, msg_len, nr, nr_len, &sk_p,
							id, id_len, want, auth_len), -EACCES);
		want[i] ^= 0x01;
	}
	ck_assert_int_eq(crypto_psk_auth_verify(prf, &psk, msg, msg_len, nr, nr_len, &sk_p, id,
						id_len, want, auth_len - 1), -EACCES);
	/* A different PSK gives a different AUTH. */
	psk.p[0] ^= 0x20;
	ck_assert_int_eq(crypto_psk_auth_verify(prf, &psk, msg, msg_len, nr, nr_len, &sk_p, id,
						id_len, want, auth_len), -EACCES);
	secret_clear(&psk);
	secret_clear(&sk_p);
	free(psk_raw);
	free(msg);
	free(skp_raw);
	free(id);
	free(want);
	free(nr);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("crypto_prf");
	TCase *tc = tcase_create("prf");

	tcase_add_unchecked_fixture(tc, load_vectors, free_vectors);
	tcase_add_test(tc, test_prf_hmac_known_answers);
	tcase_add_test(tc, test_prf_hmac_long_and_empty_keys);
	tcase_add_test(tc, test_prf_on_threads_at_once);
	tcase_add_test(tc, test_prf_plus_matches_reference);
	tcase_add_test(tc, test_ike_keys_match_reference_for_each_suite);
	tcase_add_test(tc, test_ike_rekey_skeyseed_uses_old_sk_d);
	tcase_add_test(tc, test_ike_keys_cut_refuses_a_length_past_a_byte);
	tcase_add_test(tc, test_child_keymat_with_and_without_pfs);
	tcase_add_test(tc, test_psk_auth_matches_reference_and_rejects_any_change);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
