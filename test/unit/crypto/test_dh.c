/*
 * lib/crypto/dh.c: RFC 7748 §6.1 (X25519) and RFC 5903 §8.1 (ECP-256) known answers, X25519
 * public values in batches against libsodium's ladder;
 * ECP-384/521 and every MODP group against an independent reference
 * (test/tools/crypto-vectors.py); peer validation (RFC 6989 range, on-curve, X25519 zero).
 */
#include "testutil.h"
#include "crypto/dh.h"

static char *vectors;

static void load_vectors(void)
{
	vectors = test_read_data("crypto/vectors.txt", NULL);
}

static void free_vectors(void)
{
	free(vectors);
}

/* Two parties from known private keys: each public value, and the shared secret both ways. */
static void check_pair(uint16_t group, const char *priv_a_hex, const char *priv_b_hex,
		       const char *pub_a_hex, const char *pub_b_hex, const char *shared_hex)
{
	size_t la, lb, lpa, lpb, ls;
	uint8_t *priv_a = test_hex(priv_a_hex, &la), *priv_b = test_hex(priv_b_hex, &lb);
	uint8_t *pub_a = test_hex(pub_a_hex, &lpa), *pub_b = test_hex(pub_b_hex, &lpb);
	uint8_t *shared = test_hex(shared_hex, &ls);
	struct crypto_dh *a, *b;
	struct secret s1 = { 0 }, s2 = { 0 };

	ck_assert_int_eq(crypto_dh_new_from_private(group, priv_a, la, &a), 0);
	ck_assert_int_eq(crypto_dh_new_from_private(group, priv_b, lb, &b), 0);
	ck_assert_uint_eq(crypto_dh_group_of(a)->pub_len, lpa);
	ck_assert_msg(memcmp(crypto_dh_public(a), pub_a, lpa) == 0, "group %u pub a", group);
	ck_assert_msg(memcmp(crypto_dh_public(b), pub_b, lpb) == 0, "group %u pub b", group);
	ck_assert_int_eq(crypto_dh_derive(a, pub_b, lpb, &s1), 0);
	ck_assert_int_eq(crypto_dh_derive(b, pub_a, lpa, &s2), 0);
	ck_assert_uint_eq(s1.len, ls);
	ck_assert_msg(memcmp(s1.p, shared, ls) == 0, "group %u shared", group);
	ck_assert(memcmp(s2.p, shared, ls) == 0);
	secret_clear(&s1);
	secret_clear(&s2);
	crypto_dh_free(a);
	crypto_dh_free(b);
	free(priv_a);
	free(priv_b);
	free(pub_a);
	free(pub_b);
	free(shared);
}

/* The same, with the values looked up in vectors.txt as <prefix>_{priv_a,pub_a,...}. */
static void check_pair_vectors(uint16_t group, const char *prefix, const char *priv_prefix)
{
	const char *parts[5] = { "priv_a", "priv_b", "pub_a", "pub_b", "shared" };
	char *hex[5];

	for (int i = 0; i < 5; i++) {
		char name[64];
		size_t len;
		uint8_t *raw;

		snprintf(name, sizeof(name), "%s_%s", i < 2 ? priv_prefix : prefix, parts[i]);
		raw = test_kv_hex(vectors, name, &len);
		hex[i] = malloc(2 * len + 1);
		for (size_t j = 0; j < len; j++)
			snprintf(hex[i] + 2 * j, 3, "%02x", raw[j]);
		hex[i][2 * len] = '\0';
		free(raw);
	}
	check_pair(group, hex[0], hex[1], hex[2], hex[3], hex[4]);
	for (int i = 0; i < 5; i++)
		free(hex[i]);
}

START_TEST(test_dh_x25519_rfc7748)
{
	check_pair(IKE_DH_CURVE25519,
		   "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
		   "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
		   "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
		   "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
		   "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
}
END_TEST

/*
 * X25519 pairs made through Edwards25519 (x25519.c), in batches of every size: each public
 * value is X25519(k, 9) as libsodium's Montgomery ladder computes it (the derive with the
 * base point as the peer's value); the RFC 7748 answers above go through the same path.
 */
START_TEST(test_dh_x25519_batches_match_the_ladder)
{
	uint8_t nine[32] = { 9 };
	struct crypto_dh *ret[CRYPTO_DH_BATCH_MAX];

	for (int round = 0; round < 8; round++)
		for (size_t n = 1; n <= CRYPTO_DH_BATCH_MAX; n++) {
			ck_assert_int_eq(crypto_dh_generate_n(IKE_DH_CURVE25519, n, ret), 0);
			for (size_t i = 0; i < n; i++) {
				struct secret u = { 0 };

				ck_assert_int_eq(crypto_dh_derive(ret[i], nine, 32, &u), 0);
				ck_assert_msg(memcmp(u.p, crypto_dh_public(ret[i]), 32) == 0,
					      "batch of %zu, pair %zu", n, i);
				if (i)
					ck_assert(memcmp(crypto_dh_public(ret[i]),
							 crypto_dh_public(ret[i - 1]), 32) != 0);
				secret_clear(&u);
			}
			for (size_t i = 0; i < n; i++)
				crypto_dh_free(ret[i]);
		}
	ck_assert_int_eq(crypto_dh_generate_n(IKE_DH_CURVE25519, 0, ret), -EINVAL);
	ck_assert_int_eq(crypto_dh_generate_n(IKE_DH_CURVE25519, CRYPTO_DH_BATCH_MAX + 1, ret),
			 -EINVAL);
	/* Other groups make a batch one pair at a time. */
	ck_assert_int_eq(crypto_dh_generate_n(IKE_DH_ECP_256, 2, ret), 0);
	ck_assert(memcmp(crypto_dh_public(ret[0]), crypto_dh_public(ret[1]), 64) != 0);
	crypto_dh_free(ret[0]);
	crypto_dh_free(ret[1]);
}
END_TEST

START_TEST(test_dh_ecp256_rfc5903)
{
	check_pair(IKE_DH_ECP_256,
		   "C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433",
		   "C6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53",
		   "DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C3772581180"
		   "5271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3",
		   "D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63"
		   "56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB",
		   "D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE");
}
END_TEST

START_TEST(test_dh_ecp384_ecp521_reference)
{
	check_pair_vectors(IKE_DH_ECP_384, "ecp384", "ecp384");
	check_pair_vectors(IKE_DH_ECP_521, "ecp521", "ecp521");
}
END_TEST

START_TEST(test_dh_modp_groups_reference)
{
	check_pair_vectors(IKE_DH_MODP_2048, "modp_2048", "modp");
	check_pair_vectors(IKE_DH_MODP_3072, "modp_3072", "modp");
	check_pair_vectors(IKE_DH_MODP_4096, "modp_4096", "modp");
	check_pair_vectors(IKE_DH_MODP_8192, "modp_8192", "modp");
}
END_TEST

START_TEST(test_dh_generated_keys_agree_in_every_group)
{
	for (size_t i = 0; crypto_dh_at(i); i++) {
		uint16_t id = crypto_dh_at(i)->id;
		struct crypto_dh *a, *b;
		struct secret s1 = { 0 }, s2 = { 0 };
		size_t len = crypto_dh_at(i)->pub_len;

		ck_assert_int_eq(crypto_dh_new(id, &a), 0);
		ck_assert_int_eq(crypto_dh_new(id, &b), 0);
		ck_assert(memcmp(crypto_dh_public(a), crypto_dh_public(b), len) != 0);
		ck_assert_int_eq(crypto_dh_derive(a, crypto_dh_public(b), len, &s1), 0);
		ck_assert_int_eq(crypto_dh_derive(b, crypto_dh_public(a), len, &s2), 0);
		ck_assert_uint_eq(s1.len, crypto_dh_at(i)->shared_len);
		ck_assert_msg(memcmp(s1.p, s2.p, s1.len) == 0, "group %u", id);
		/* A peer value of the wrong length never reaches the math. */
		ck_assert_int_eq(crypto_dh_derive(a, crypto_dh_public(b), len - 1, &s1), -EINVAL);
		secret_clear(&s1);
		secret_clear(&s2);
		crypto_dh_free(a);
		crypto_dh_free(b);
	}
	ck_assert_int_eq(crypto_dh_new(IKE_DH_MODP_1024, &(struct crypto_dh *){ NULL }),
			 -EOPNOTSUPP);
}
END_TEST

START_TEST(test_dh_modp_rejects_values_outside_the_rfc6989_range)
{
	size_t plen;
	uint8_t *p = test_kv_hex(vectors, "modp_2048_p", &plen);
	uint8_t y[256];
	struct crypto_dh *dh;
	struct secret s = { 0 };

	ck_assert_uint_eq(plen, 256);
	ck_assert_int_eq(crypto_dh_new(IKE_DH_MODP_2048, &dh), 0);
	memset(y, 0, sizeof(y));
	ck_assert_int_eq(crypto_dh_derive(dh, y, 256, &s), -EINVAL);		/* 0 */
	y[255] = 1;
	ck_assert_int_eq(crypto_dh_derive(dh, y, 256, &s), -EINVAL);		/* 1 */
	y[255] = 2;
	ck_assert_int_eq(crypto_dh_derive(dh, y, 256, &s), 0);			/* 2: fine */
	secret_clear(&s);
	memcpy(y, p, 256);
	ck_assert_int_eq(crypto_dh_derive(dh, y, 256, &s), -EINVAL);		/* p */
	y[255]--;
	ck_assert_int_eq(crypto_dh_derive(dh, y, 256, &s), -EINVAL);		/* p - 1 */
	y[255]--;
	ck_assert_int_eq(crypto_dh_derive(dh, y, 256, &s), 0);			/* p - 2 */
	secret_clear(&s);
	memset(y, 0xff, sizeof(y));
	ck_assert_int_eq(crypto_dh_derive(dh, y, 256, &s), -EINVAL);		/* > p */
	ck_assert_ptr_null(s.p);
	crypto_dh_free(dh);
	free(p);
}
END_TEST

START_TEST(test_dh_ecp_rejects_a_point_off_the_curve)
{
	struct crypto_dh *a, *b;
	struct secret s = { 0 };
	uint8_t bad[64];

	ck_assert_int_eq(crypto_dh_new(IKE_DH_ECP_256, &a), 0);
	ck_assert_int_eq(crypto_dh_new(IKE_DH_ECP_256, &b), 0);
	memcpy(bad, crypto_dh_public(b), 64);
	bad[63] ^= 0x01;	/* y no longer matches x */
	ck_assert_int_eq(crypto_dh_derive(a, bad, 64, &s), -EINVAL);
	memset(bad, 0, sizeof(bad));
	ck_assert_int_eq(crypto_dh_derive(a, bad, 64, &s), -EINVAL);
	ck_assert_ptr_null(s.p);
	crypto_dh_free(a);
	crypto_dh_free(b);
}
END_TEST

START_TEST(test_dh_x25519_rejects_a_low_order_point)
{
	struct crypto_dh *a;
	struct secret s = { 0 };
	uint8_t zero[32] = { 0 };

	ck_assert_int_eq(crypto_dh_new(IKE_DH_CURVE25519, &a), 0);
	ck_assert_int_eq(crypto_dh_derive(a, zero, 32, &s), -EINVAL);
	ck_assert_ptr_null(s.p);
	crypto_dh_free(a);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("crypto_dh");
	TCase *tc = tcase_create("dh");

	tcase_set_timeout(tc, 60);
	tcase_add_unchecked_fixture(tc, load_vectors, free_vectors);
	tcase_add_test(tc, test_dh_x25519_rfc7748);
	tcase_add_test(tc, test_dh_x25519_batches_match_the_ladder);
	tcase_add_test(tc, test_dh_ecp256_rfc5903);
	tcase_add_test(tc, test_dh_ecp384_ecp521_reference);
	tcase_add_test(tc, test_dh_modp_groups_reference);
	tcase_add_test(tc, test_dh_generated_keys_agree_in_every_group);
	tcase_add_test(tc, test_dh_modp_rejects_values_outside_the_rfc6989_range);
	tcase_add_test(tc, test_dh_ecp_rejects_a_point_off_the_curve);
	tcase_add_test(tc, test_dh_x25519_rejects_a_low_order_point);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
