/* lib/crypto/registry.c: the sizes key derivation and XFRM depend on, and suite rules. */
#include "testutil.h"
#include "crypto/registry.h"

START_TEST(test_registry_sizes_follow_the_rfcs)
{
	const struct crypto_encr *gcm = crypto_encr_find(IKE_ENCR_AES_GCM_16, 256);
	const struct crypto_integ *sha384 = crypto_integ_find(IKE_AUTH_HMAC_SHA2_384_192);

	/* RFC 5282: 8-byte IV, 16-byte ICV, 4-byte salt; RFC 4868: SHA-384 key 48, ICV 24. */
	ck_assert_uint_eq(gcm->iv_len, 8);
	ck_assert_uint_eq(gcm->icv_len, 16);
	ck_assert_uint_eq(gcm->salt_len, 4);
	ck_assert_str_eq(gcm->kernel, "rfc4106(gcm(aes))");
	ck_assert_uint_eq(sha384->key_len, 48);
	ck_assert_uint_eq(sha384->icv_len, 24);
	ck_assert_str_eq(crypto_encr_find(IKE_ENCR_AES_CBC, 192)->kernel, "cbc(aes)");
	ck_assert_uint_eq(crypto_encr_find(IKE_ENCR_AES_CBC, 192)->iv_len, 16);
	ck_assert_uint_eq(crypto_dh_find(IKE_DH_ECP_521)->pub_len, 132);
	ck_assert_uint_eq(crypto_dh_find(IKE_DH_MODP_8192)->pub_len, 1024);
	ck_assert_uint_eq(crypto_prf_find(IKE_PRF_HMAC_SHA2_512)->out_len, 64);
	/* Everything in the tables is reachable through its lookup. */
	for (size_t i = 0; crypto_encr_at(i); i++)
		ck_assert_ptr_eq(crypto_encr_find(crypto_encr_at(i)->id, crypto_encr_at(i)->key_bits),
				 crypto_encr_at(i));
	for (size_t i = 0; crypto_integ_at(i); i++)
		ck_assert_ptr_eq(crypto_integ_find(crypto_integ_at(i)->id), crypto_integ_at(i));
	for (size_t i = 0; crypto_prf_at(i); i++)
		ck_assert_ptr_eq(crypto_prf_find(crypto_prf_at(i)->id), crypto_prf_at(i));
}
END_TEST

START_TEST(test_registry_refuses_what_we_do_not_support)
{
	ck_assert_ptr_null(crypto_encr_find(IKE_ENCR_3DES, 0));
	ck_assert_ptr_null(crypto_encr_find(IKE_ENCR_AES_CBC, 64));
	ck_assert_ptr_null(crypto_prf_find(IKE_PRF_HMAC_MD5));
	ck_assert_ptr_null(crypto_integ_find(IKE_AUTH_HMAC_MD5_96));
	ck_assert_ptr_null(crypto_dh_find(IKE_DH_MODP_1024));
}
END_TEST

START_TEST(test_suite_needs_integrity_exactly_when_not_aead)
{
	struct crypto_suite s;

	ck_assert_int_eq(crypto_suite_init(&s, IKE_ENCR_AES_CBC, 256, IKE_PRF_HMAC_SHA2_256,
					   IKE_AUTH_HMAC_SHA2_256_128, IKE_DH_MODP_2048), 0);
	ck_assert_int_eq(crypto_suite_init(&s, IKE_ENCR_AES_CBC, 256, IKE_PRF_HMAC_SHA2_256,
					   IKE_AUTH_NONE, IKE_DH_MODP_2048), -EOPNOTSUPP);
	ck_assert_int_eq(crypto_suite_init(&s, IKE_ENCR_AES_GCM_16, 256, IKE_PRF_HMAC_SHA2_256,
					   IKE_AUTH_NONE, IKE_DH_CURVE25519), 0);
	ck_assert_int_eq(crypto_suite_init(&s, IKE_ENCR_AES_GCM_16, 256, IKE_PRF_HMAC_SHA2_256,
					   IKE_AUTH_HMAC_SHA1_96, IKE_DH_CURVE25519), -EOPNOTSUPP);
	ck_assert_int_eq(crypto_suite_init(&s, IKE_ENCR_AES_CBC, 128, IKE_PRF_HMAC_MD5,
					   IKE_AUTH_HMAC_SHA1_96, IKE_DH_MODP_2048), -EOPNOTSUPP);
	ck_assert_int_eq(crypto_suite_init(&s, IKE_ENCR_AES_CBC, 128, IKE_PRF_HMAC_SHA1,
					   IKE_AUTH_HMAC_SHA1_96, IKE_DH_MODP_1024), -EOPNOTSUPP);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("crypto_registry");
	TCase *tc = tcase_create("registry");

	tcase_add_test(tc, test_registry_sizes_follow_the_rfcs);
	tcase_add_test(tc, test_registry_refuses_what_we_do_not_support);
	tcase_add_test(tc, test_suite_needs_integrity_exactly_when_not_aead);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
