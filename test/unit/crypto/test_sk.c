/*
 * lib/crypto/sk.c: the ciphers under SK against their published vectors (RFC 3602, the GCM
 * specification's test cases), the truncated HMAC ICVs of RFC 4868 against OpenSSL's one-shot
 * HMAC(), and SK protect/unprotect for every IKE suite: round trip, any flipped bit refused,
 * every truncation refused.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "testutil.h"
#include "crypto/sk.h"
#include "ike/message.h"

START_TEST(test_cipher_aes_cbc_rfc3602)
{
	/* RFC 3602 §4, cases 1 and 2. */
	static const struct {
		const char *key, *iv, *plain, *cipher;
	} kat[] = {
		{ "06a9214036b8a15b512e03d534120006", "3dafba429d9eb430b422da802c9fac41",
		  "53696e676c6520626c6f636b206d7367", "e353779c1079aeb82708942dbe77181a" },
		{ "c286696d887c9aa0611bbb3e2025a45a", "562e17996d093d28ddb3ba695a2e6f58",
		  "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		  "d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1" },
	};
	const struct crypto_encr *e = crypto_encr_find(IKE_ENCR_AES_CBC, 128);

	for (size_t i = 0; i < 2; i++) {
		size_t kl, il, pl, cl;
		uint8_t *key = test_hex(kat[i].key, &kl), *iv = test_hex(kat[i].iv, &il);
		uint8_t *plain = test_hex(kat[i].plain, &pl), *ct = test_hex(kat[i].cipher, &cl);
		uint8_t buf[32];

		memcpy(buf, plain, pl);
		ck_assert_int_eq(crypto_cipher(e, key, true, iv, NULL, 0, buf, pl, NULL), 0);
		ck_assert(memcmp(buf, ct, cl) == 0);
		ck_assert_int_eq(crypto_cipher(e, key, false, iv, NULL, 0, buf, cl, NULL), 0);
		ck_assert(memcmp(buf, plain, pl) == 0);
		/* Not a block multiple: refused, CBC never pads on its own here. */
		ck_assert_int_eq(crypto_cipher(e, key, true, iv, NULL, 0, buf, 15, NULL), -EBADMSG);
		free(key);
		free(iv);
		free(plain);
		free(ct);
	}
}
END_TEST

START_TEST(test_cipher_aes_gcm_spec_vectors)
{
	/* McGrew & Viega, GCM specification test cases 2, 8 and 14: zero key, zero IV, 16 zero bytes. */
	static const struct {
		uint16_t bits;
		const char *cipher, *tag;
	} kat[] = {
		{ 128, "0388dace60b6a392f328c2b971b2fe78", "ab6e47d42cec13bdf53a67b21257bddf" },
		{ 192, "98e7247c07f0fe411c267e4384b0f600", "2ff58d80033927ab8ef4d4587514f0fb" },
		{ 256, "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919" },
	};

	for (size_t i = 0; i < 3; i++) {
		const struct crypto_encr *e = crypto_encr_find(IKE_ENCR_AES_GCM_16, kat[i].bits);
		uint8_t key[36] = { 0 }, iv[8] = { 0 }, buf[16] = { 0 }, tag[16];
		size_t cl, tl;
		uint8_t *ct = test_hex(kat[i].cipher, &cl), *want_tag = test_hex(kat[i].tag, &tl);

		ck_assert_ptr_nonnull(e);
		ck_assert_int_eq(crypto_cipher(e, key, true, iv, NULL, 0, buf, 16, tag), 0);
		ck_assert(memcmp(buf, ct, 16) == 0);
		ck_assert(memcmp(tag, want_tag, 16) == 0);
		ck_assert_int_eq(crypto_cipher(e, key, false, iv, NULL, 0, buf, 16, tag), 0);
		ck_assert(buf[0] == 0 && memcmp(buf, buf + 1, 15) == 0);
		/* A wrong tag, or different AAD, fails authentication. */
		memcpy(buf, ct, 16);
		tag[15] ^= 1;
		ck_assert_int_eq(crypto_cipher(e, key, false, iv, NULL, 0, buf, 16, tag), -EACCES);
		tag[15] ^= 1;
		memcpy(buf, ct, 16);
		ck_assert_int_eq(crypto_cipher(e, key, false, iv, (const uint8_t *)"x", 1, buf, 16,
					       tag), -EACCES);
		free(ct);
		free(want_tag);
	}
}
END_TEST

struct suite_case {
	uint16_t encr, bits, integ;
};

static const struct suite_case ike_suites[] = {
	{ IKE_ENCR_AES_CBC, 128, IKE_AUTH_HMAC_SHA1_96 },
	{ IKE_ENCR_AES_CBC, 192, IKE_AUTH_HMAC_SHA2_256_128 },
	{ IKE_ENCR_AES_CBC, 256, IKE_AUTH_HMAC_SHA2_384_192 },
	{ IKE_ENCR_AES_CBC, 256, IKE_AUTH_HMAC_SHA2_512_256 },
	{ IKE_ENCR_AES_GCM_16, 128, IKE_AUTH_NONE },
	{ IKE_ENCR_AES_GCM_16, 256, IKE_AUTH_NONE },
};

struct keys {
	struct secret e, a;
	struct crypto_sk_dir dir;
};

static void keys_init(struct keys *k, const struct suite_case *c)
{
	const struct crypto_encr *e = crypto_encr_find(c->encr, c->bits);
	const struct crypto_integ *in = c->integ ? crypto_integ_find(c->integ) : NULL;

	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(secret_alloc(&k->e, e->key_bits / 8 + e->salt_len), 0);
	for (size_t i = 0; i < k->e.len; i++)
		k->e.p[i] = (uint8_t)(i * 3 + 1);
	k->a = (struct secret){ 0 };
	if (in) {
		ck_assert_int_eq(secret_alloc(&k->a, in->key_len), 0);
		for (size_t i = 0; i < k->a.len; i++)
			k->a.p[i] = (uint8_t)(i * 5 + 2);
	}
	k->dir = (struct crypto_sk_dir){ e, in, k->e, k->a };
}

static void keys_clear(struct keys *k)
{
	secret_clear(&k->e);
	secret_clear(&k->a);
}

/* An IKE_AUTH-shaped message: header, then SK (or SKF 2/3) around `plain`. */
static void build(struct ike_writer *w, const struct crypto_sk_dir *dir, bool fragment,
		  const uint8_t *plain, size_t plain_len, size_t *ret_hdr_off)
{
	struct ike_header h = { .spi_i = { 1, 2, 3, 4, 5, 6, 7, 8 }, .spi_r = { 9, 9, 9 },
				.major = 2, .exchange = IKE_EXCH_IKE_AUTH,
				.flags = IKE_FLAG_INITIATOR, .msg_id = 1 };
	struct ike_pld_skf skf = { .frag_num = 2, .total = 3 };
	struct ike_builder b;

	ike_writer_init(w, 65535);
	ck_assert_int_eq(ike_build_begin(&b, w, &h), 0);
	ck_assert_int_eq(ike_build_sk_begin(&b, IKE_PLD_IDI, fragment ? &skf : NULL, ret_hdr_off),
			 0);
	ck_assert_int_eq(crypto_sk_protect(dir, w, *ret_hdr_off, plain, plain_len), 0);
}

START_TEST(test_sk_round_trip_every_ike_suite)
{
	uint8_t plain[300];

	for (size_t i = 0; i < sizeof(plain); i++)
		plain[i] = (uint8_t)i;
	for (size_t s = 0; s < sizeof(ike_suites) / sizeof(ike_suites[0]); s++) {
		for (int frag = 0; frag < 2; frag++) {
			for (size_t len = 0; len < 40; len += 13) {
				struct keys k;
				struct ike_writer w;
				struct ike_msg m;
				size_t hdr_off, out_len;
				uint8_t *out;

				keys_init(&k, &ike_suites[s]);
				build(&w, &k.dir, frag, plain, len, &hdr_off);
				/* The codec finds the SK payload the crypto layer just completed. */
				ck_assert_int_eq(ike_msg_decode(w.buf, w.len, &m, NULL), 0);
				ck_assert(m.sk.present);
				ck_assert_int_eq(m.sk.fragment, frag);
				ck_assert_uint_eq(m.sk.hdr_off, hdr_off);
				ck_assert_uint_eq(m.sk.inner_type, IKE_PLD_IDI);
				ck_assert_uint_eq(w.len, IKE_HEADER_LEN + 4 + (frag ? 4 : 0) + len +
						  crypto_sk_overhead(&k.dir, len));
				ck_assert_int_eq(crypto_sk_unprotect(&k.dir, w.buf, w.len, m.sk.hdr_off,
								     m.sk.iv_off, &out, &out_len), 0);
				ck_assert_uint_eq(out_len, len);
				ck_assert(memcmp(out, plain, len) == 0);
				ike_writer_clear(&w);
				keys_clear(&k);
			}
		}
	}
}
END_TEST

START_TEST(test_sk_any_flipped_bit_is_refused)
{
	const uint8_t plain[] = "inner payloads";

	for (size_t s = 0; s < sizeof(ike_suites) / sizeof(ike_suites[0]); s++) {
		struct keys k;
		struct ike_writer w;
		size_t hdr_off;

		keys_init(&k, &ike_suites[s]);
		build(&w, &k.dir, false, plain, sizeof(plain), &hdr_off);
		/* Header, SK header, IV, ciphertext, ICV: every byte is covered. */
		for (size_t i = 0; i < w.len; i++) {
			uint8_t copy[512], *out;
			size_t out_len;

			memcpy(copy, w.buf, w.len);
			copy[i] ^= 0x80;
			ck_assert_msg(crypto_sk_unprotect(&k.dir, copy, w.len, hdr_off, hdr_off + 4,
							  &out, &out_len) < 0,
				      "suite %zu: flipped byte %zu accepted", s, i);
		}
		ike_writer_clear(&w);
		keys_clear(&k);
	}
}
END_TEST

START_TEST(test_sk_every_truncation_is_refused)
{
	const uint8_t plain[] = "inner payloads, a little longer than a block";

	for (size_t s = 0; s < sizeof(ike_suites) / sizeof(ike_suites[0]); s++) {
		struct keys k;
		struct ike_writer w;
		size_t hdr_off;

		keys_init(&k, &ike_suites[s]);
		build(&w, &k.dir, false, plain, sizeof(plain), &hdr_off);
		for (size_t len = 0; len < w.len; len++) {
			uint8_t *copy = malloc(len ? len : 1), *out;
			size_t out_len;

			memcpy(copy, w.buf, len);
			ck_assert_int_lt(crypto_sk_unprotect(&k.dir, copy, len, hdr_off, hdr_off + 4,
							     &out, &out_len), 0);
			free(copy);
		}
		ike_writer_clear(&w);
		keys_clear(&k);
	}
}
END_TEST

START_TEST(test_sk_integ_icv_is_truncated_hmac_rfc4868)
{
	/* For each INTEG transform the ICV is the leading icv_len bytes of HMAC (RFC 4868 §2.3,
	 * RFC 2404): recompute it with OpenSSL's one-shot HMAC() and compare. */
	static const struct {
		uint16_t integ;
		const char *md;
		size_t icv;
	} kat[] = {
		{ IKE_AUTH_HMAC_SHA1_96, "SHA1", 12 },
		{ IKE_AUTH_HMAC_SHA2_256_128, "SHA256", 16 },
		{ IKE_AUTH_HMAC_SHA2_384_192, "SHA384", 24 },
		{ IKE_AUTH_HMAC_SHA2_512_256, "SHA512", 32 },
	};
	const uint8_t plain[] = "abc";

	for (size_t i = 0; i < 4; i++) {
		struct suite_case c = { IKE_ENCR_AES_CBC, 128, kat[i].integ };
		uint8_t mac[EVP_MAX_MD_SIZE];
		unsigned int mac_len = 0;
		struct keys k;
		struct ike_writer w;
		size_t hdr_off;

		keys_init(&k, &c);
		ck_assert_uint_eq(k.dir.integ->icv_len, kat[i].icv);
		build(&w, &k.dir, false, plain, sizeof(plain), &hdr_off);
		ck_assert_ptr_nonnull(HMAC(EVP_get_digestbyname(kat[i].md), k.a.p, (int)k.a.len,
					   w.buf, w.len - kat[i].icv, mac, &mac_len));
		ck_assert(memcmp(w.buf + w.len - kat[i].icv, mac, kat[i].icv) == 0);
		ike_writer_clear(&w);
		keys_clear(&k);
	}
}
END_TEST

START_TEST(test_sk_child_only_suites_are_not_ike_suites)
{
	ck_assert_ptr_nonnull(crypto_encr_find(IKE_ENCR_AES_GCM_16, 192));
	ck_assert(!(crypto_encr_find(IKE_ENCR_AES_GCM_16, 192)->use & CRYPTO_USE_IKE));
	ck_assert(!(crypto_encr_find(IKE_ENCR_NULL, 0)->use & CRYPTO_USE_IKE));
	ck_assert(crypto_encr_find(IKE_ENCR_NULL, 0)->use & CRYPTO_USE_CHILD);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("crypto_sk");
	TCase *tc = tcase_create("sk");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_cipher_aes_cbc_rfc3602);
	tcase_add_test(tc, test_cipher_aes_gcm_spec_vectors);
	tcase_add_test(tc, test_sk_round_trip_every_ike_suite);
	tcase_add_test(tc, test_sk_any_flipped_bit_is_refused);
	tcase_add_test(tc, test_sk_every_truncation_is_refused);
	tcase_add_test(tc, test_sk_integ_icv_is_truncated_hmac_rfc4868);
	tcase_add_test(tc, test_sk_child_only_suites_are_not_ike_suites);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
