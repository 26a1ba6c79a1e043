/* lib/ike/proposal.c: the responder's choice (RFC 7296 §2.7, §3.3.6) and the initiator's check. */
#include "ike_samples.h"
#include "ike/proposal.h"

#define T(type_, id_, bits_) \
	((struct ike_transform){ .type = (type_), .id = (id_), .key_bits = (bits_) })
#define ENCR(id, bits) T(IKE_TRANSFORM_ENCR, id, bits)
#define PRF(id) T(IKE_TRANSFORM_PRF, id, 0)
#define INTEG(id) T(IKE_TRANSFORM_INTEG, id, 0)
#define DH(id) T(IKE_TRANSFORM_DH, id, 0)

static struct ike_proposal ike_prop(uint8_t num, struct ike_transform a, struct ike_transform b,
				    struct ike_transform c, struct ike_transform d)
{
	struct ike_proposal p = { .num = num, .protocol = IKE_PROTO_IKE, .n_transforms = 4,
				  .t = { a, b, c, d } };

	return p;
}

START_TEST(test_proposal_responder_preference_wins)
{
	struct ike_pld_sa offered = { .n = 2 }, ours = { .n = 2 };
	struct ike_proposal got;

	offered.p[0] = ike_prop(1, ENCR(IKE_ENCR_AES_CBC, 128), PRF(IKE_PRF_HMAC_SHA1),
				INTEG(IKE_AUTH_HMAC_SHA1_96), DH(IKE_DH_MODP_2048));
	offered.p[1] = ike_prop(2, ENCR(IKE_ENCR_AES_CBC, 256), PRF(IKE_PRF_HMAC_SHA2_256),
				INTEG(IKE_AUTH_HMAC_SHA2_256_128), DH(IKE_DH_MODP_2048));
	ours.p[0] = offered.p[1];
	ours.p[1] = offered.p[0];
	ck_assert_int_eq(ike_proposal_select(&offered, &ours, &got), 0);
	ck_assert_uint_eq(got.num, 2);	/* the peer's number for the proposal we chose */
	ck_assert_uint_eq(ike_proposal_get(&got, IKE_TRANSFORM_ENCR)->key_bits, 256);
	ck_assert_uint_eq(ike_proposal_get(&got, IKE_TRANSFORM_PRF)->id, IKE_PRF_HMAC_SHA2_256);
	ck_assert_uint_eq(got.n_transforms, 4);
}
END_TEST

START_TEST(test_proposal_one_transform_per_type_in_our_order)
{
	struct ike_pld_sa offered = { .n = 1 }, ours = { .n = 1 };
	struct ike_proposal got;

	/* The peer lists AES-128 first and two groups; we prefer AES-256 and Curve25519. */
	offered.p[0] = (struct ike_proposal){
		.num = 1, .protocol = IKE_PROTO_IKE, .n_transforms = 6,
		.t = { ENCR(IKE_ENCR_AES_GCM_16, 128), ENCR(IKE_ENCR_AES_GCM_16, 256),
		       PRF(IKE_PRF_HMAC_SHA2_256), PRF(IKE_PRF_HMAC_SHA2_512),
		       DH(IKE_DH_MODP_2048), DH(IKE_DH_CURVE25519) },
	};
	ours.p[0] = (struct ike_proposal){
		.num = 1, .protocol = IKE_PROTO_IKE, .n_transforms = 5,
		.t = { ENCR(IKE_ENCR_AES_GCM_16, 256), ENCR(IKE_ENCR_AES_GCM_16, 128),
		       PRF(IKE_PRF_HMAC_SHA2_512), DH(IKE_DH_CURVE25519), DH(IKE_DH_MODP_2048) },
	};
	ck_assert_int_eq(ike_proposal_select(&offered, &ours, &got), 0);
	ck_assert_uint_eq(got.n_transforms, 3);
	ck_assert_uint_eq(ike_proposal_get(&got, IKE_TRANSFORM_ENCR)->key_bits, 256);
	ck_assert_uint_eq(ike_proposal_get(&got, IKE_TRANSFORM_PRF)->id, IKE_PRF_HMAC_SHA2_512);
	ck_assert_uint_eq(ike_proposal_get(&got, IKE_TRANSFORM_DH)->id, IKE_DH_CURVE25519);
	ck_assert_ptr_null(ike_proposal_get(&got, IKE_TRANSFORM_INTEG));
}
END_TEST

START_TEST(test_proposal_no_match_is_no_proposal_chosen)
{
	struct ike_pld_sa offered = { .n = 1 }, ours = { .n = 1 };
	struct ike_proposal got;

	ours.p[0] = ike_prop(1, ENCR(IKE_ENCR_AES_CBC, 256), PRF(IKE_PRF_HMAC_SHA2_256),
			     INTEG(IKE_AUTH_HMAC_SHA2_256_128), DH(IKE_DH_MODP_2048));
	/* Same algorithms, another key length. */
	offered.p[0] = ours.p[0];
	offered.p[0].t[0].key_bits = 192;
	ck_assert_int_eq(ike_proposal_select(&offered, &ours, &got), -ENOENT);
	/* A group we do not have. */
	offered.p[0] = ours.p[0];
	offered.p[0].t[3].id = IKE_DH_MODP_1024;
	ck_assert_int_eq(ike_proposal_select(&offered, &ours, &got), -ENOENT);
	/* A transform type we do not negotiate for IKE (ESN). */
	offered.p[0] = ours.p[0];
	offered.p[0].t[offered.p[0].n_transforms++] = T(IKE_TRANSFORM_ESN, IKE_ESN_NO, 0);
	ck_assert_int_eq(ike_proposal_select(&offered, &ours, &got), -ENOENT);
	/* A transform type we do not know (the decoder says so). */
	offered.p[0] = ours.p[0];
	offered.p[0].unknown_type = true;
	ck_assert_int_eq(ike_proposal_select(&offered, &ours, &got), -ENOENT);
	/* Another protocol. */
	offered.p[0] = ours.p[0];
	offered.p[0].protocol = IKE_PROTO_ESP;
	ck_assert_int_eq(ike_proposal_select(&offered, &ours, &got), -ENOENT);
	/* A missing type (no DH offered). */
	offered.p[0] = ours.p[0];
	offered.p[0].n_transforms = 3;
	ck_assert_int_eq(ike_proposal_select(&offered, &ours, &got), -ENOENT);
	/* And the unchanged offer matches. */
	offered.p[0] = ours.p[0];
	ck_assert_int_eq(ike_proposal_select(&offered, &ours, &got), 0);
}
END_TEST

START_TEST(test_proposal_initiator_checks_the_answer)
{
	struct ike_pld_sa ours, answer = { .n = 1 };
	struct ike_proposal got;

	sample_proposal(&ours);	/* 1: AES-CBC-256/SHA-256/MODP-2048, 2: AES-GCM-128/x25519 */
	answer.p[0] = (struct ike_proposal){
		.num = 2, .protocol = IKE_PROTO_IKE, .n_transforms = 3,
		.t = { ENCR(IKE_ENCR_AES_GCM_16, 128), PRF(IKE_PRF_HMAC_SHA2_256),
		       DH(IKE_DH_CURVE25519) },
	};
	ck_assert_int_eq(ike_proposal_check_answer(&answer, &ours, &got), 0);
	ck_assert_uint_eq(got.num, 2);
	/* The wrong proposal number for those transforms. */
	answer.p[0].num = 1;
	ck_assert_int_eq(ike_proposal_check_answer(&answer, &ours, &got), -EPROTO);
	answer.p[0].num = 2;
	/* Something we never offered. */
	answer.p[0].t[2].id = IKE_DH_MODP_2048;
	ck_assert_int_eq(ike_proposal_check_answer(&answer, &ours, &got), -EPROTO);
	answer.p[0].t[2].id = IKE_DH_CURVE25519;
	/* Two of one type, or a type missing, or two proposals. */
	answer.p[0].t[answer.p[0].n_transforms++] = DH(IKE_DH_CURVE25519);
	ck_assert_int_eq(ike_proposal_check_answer(&answer, &ours, &got), -EPROTO);
	answer.p[0].n_transforms = 2;
	ck_assert_int_eq(ike_proposal_check_answer(&answer, &ours, &got), -EPROTO);
	answer.p[0].n_transforms = 3;
	/* A transform the decoder skipped (unknown), or an unknown type: not what we offered. */
	answer.p[0].n_ignored = 1;
	ck_assert_int_eq(ike_proposal_check_answer(&answer, &ours, &got), -EPROTO);
	answer.p[0].n_ignored = 0;
	answer.p[0].unknown_type = true;
	ck_assert_int_eq(ike_proposal_check_answer(&answer, &ours, &got), -EPROTO);
	answer.p[0].unknown_type = false;
	answer.n_ignored = 1;
	ck_assert_int_eq(ike_proposal_check_answer(&answer, &ours, &got), -EPROTO);
	answer.n_ignored = 0;
	ck_assert_int_eq(ike_proposal_check_answer(&answer, &ours, &got), 0);
	answer.n = 2;
	answer.p[1] = answer.p[0];
	ck_assert_int_eq(ike_proposal_check_answer(&answer, &ours, &got), -EPROTO);
}
END_TEST

/* strongSwan's real offers: what we choose agrees with what charon chose as responder. */
START_TEST(test_proposal_agrees_with_charon_on_real_offers)
{
	static const char *const caps[] = { "modp2048", "ecp384", "x25519" };

	for (size_t i = 0; i < 3; i++) {
		char path[128];
		struct ike_pld_sa sa[2];

		for (int m = 0; m < 2; m++) {
			size_t len;
			char *hex;
			uint8_t *raw;
			struct ike_msg msg;
			const struct ike_payload *pl;
			struct ike_reader r;

			snprintf(path, sizeof(path), "strongswan/%s/%s", caps[i],
				 m ? "ike_sa_init_response.hex" : "ike_sa_init_request.hex");
			hex = test_read_data(path, NULL);
			raw = test_hex(hex, &len);
			ck_assert_int_eq(ike_msg_decode(raw, len, &msg, NULL), 0);
			pl = ike_chain_find(&msg.chain, IKE_PLD_SA, NULL);
			r = (struct ike_reader){ .p = pl->body, .len = pl->body_len };
			ck_assert_int_eq(ike_pld_sa_decode(&r, &sa[m], NULL), 0);
			free(hex);
			free(raw);
		}
		/* As responder configured with charon's answer, we choose exactly it... */
		{
			struct ike_pld_sa ours = { .n = 1, .p = { sa[1].p[0] } };
			struct ike_proposal got;

			ck_assert_int_eq(ike_proposal_select(&sa[0], &ours, &got), 0);
			ck_assert_uint_eq(got.num, sa[1].p[0].num);
			ck_assert_uint_eq(got.n_transforms, sa[1].p[0].n_transforms);
			for (uint8_t t = 0; t < got.n_transforms; t++) {
				const struct ike_transform *c =
					ike_proposal_get(&sa[1].p[0], got.t[t].type);

				ck_assert_ptr_nonnull(c);
				ck_assert_uint_eq(c->id, got.t[t].id);
				ck_assert_uint_eq(c->key_bits, got.t[t].key_bits);
			}
			/* ...and as initiator we accept charon's answer to charon's offer. */
			ck_assert_int_eq(ike_proposal_check_answer(&sa[1], &sa[0], &got), 0);
		}
	}
}
END_TEST

START_TEST(test_proposal_text_parses_to_transforms)
{
	struct ike_pld_sa sa, stripped;
	const char *bad = NULL;

	ck_assert_int_eq(ike_proposals_parse("aes256-sha256-modp2048,aes128gcm16-prfsha384-x25519",
					     IKE_PROTO_IKE, &sa, &bad), 0);
	ck_assert_uint_eq(sa.n, 2);
	ck_assert_uint_eq(sa.p[0].num, 1);
	ck_assert_uint_eq(ike_proposal_get(&sa.p[0], IKE_TRANSFORM_ENCR)->key_bits, 256);
	/* The PRF follows the integrity hash when not named. */
	ck_assert_uint_eq(ike_proposal_get(&sa.p[0], IKE_TRANSFORM_PRF)->id, IKE_PRF_HMAC_SHA2_256);
	ck_assert_uint_eq(ike_proposal_get(&sa.p[1], IKE_TRANSFORM_PRF)->id, IKE_PRF_HMAC_SHA2_384);
	ck_assert_ptr_null(ike_proposal_get(&sa.p[1], IKE_TRANSFORM_INTEG));
	ck_assert_uint_eq(ike_proposals_group(&sa), IKE_DH_MODP_2048);

	ck_assert_int_eq(ike_proposals_parse("aes256gcm16,null-sha1-modp3072", IKE_PROTO_ESP, &sa,
					     &bad), 0);
	ck_assert_uint_eq(ike_proposal_get(&sa.p[0], IKE_TRANSFORM_ESN)->id, IKE_ESN_NO);
	ck_assert_uint_eq(ike_proposals_group(&sa), IKE_DH_MODP_3072);
	ike_proposals_strip_dh(&sa, &stripped);
	ck_assert_uint_eq(ike_proposals_group(&stripped), 0);
	ck_assert_uint_eq(stripped.p[1].n_transforms, 3);

	ck_assert_int_eq(ike_proposals_parse("aes256-sha256", IKE_PROTO_IKE, &sa, &bad), -EINVAL);
	ck_assert_str_eq(bad, "DH group missing");
	ck_assert_int_eq(ike_proposals_parse("aes256-modp2048", IKE_PROTO_IKE, &sa, &bad), -EINVAL);
	ck_assert_str_eq(bad, "integrity missing");
	ck_assert_int_eq(ike_proposals_parse("aes256gcm16-sha1", IKE_PROTO_ESP, &sa, &bad), -EINVAL);
	ck_assert_int_eq(ike_proposals_parse("aes256-sha256-des", IKE_PROTO_ESP, &sa, &bad), -EINVAL);
	ck_assert_str_eq(bad, "unknown algorithm");
	ck_assert_int_eq(ike_proposals_parse("null-sha1-modp2048", IKE_PROTO_IKE, &sa, &bad), -EINVAL);
	ck_assert_int_eq(ike_proposals_parse("", IKE_PROTO_ESP, &sa, &bad), -EINVAL);
	ck_assert_int_eq(ike_proposals_parse("aes256-sha256,,", IKE_PROTO_ESP, &sa, &bad), 0);
}
END_TEST

START_TEST(test_proposal_format_names_both_sides_for_logs)
{
	static const char *const ours[][2] = {
		{ "aes256-sha256-modp2048,aes128gcm16-prfsha384-x25519", "ike" },
		{ "aes256gcm16-x25519,aes128-sha1-prfsha512-ecp256", "ike" },
		{ "aes256gcm16,aes256-sha256,null-sha1-modp3072", "esp" },
	};
	struct ike_pld_sa sa = { .n = 2 };
	const char *bad = NULL;
	char buf[256], small[24];

	/* Our own proposals come out as they were written. */
	for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++) {
		ck_assert_int_eq(ike_proposals_parse(ours[i][0], ours[i][1][0] == 'i' ? IKE_PROTO_IKE :
						     IKE_PROTO_ESP, &sa, &bad), 0);
		ck_assert_int_eq(ike_proposals_format(&sa, buf, sizeof(buf)), 0);
		ck_assert_str_eq(buf, ours[i][0]);
	}
	/* A peer's offer: several of a type, names for what we refuse, numbers for the rest. */
	memset(&sa, 0, sizeof(sa));
	sa.n = 2;
	sa.p[0] = (struct ike_proposal){
		.num = 1, .protocol = IKE_PROTO_IKE, .n_transforms = 7,
		.t = { ENCR(IKE_ENCR_AES_CBC, 128), ENCR(IKE_ENCR_3DES, 0),
		       INTEG(IKE_AUTH_HMAC_SHA1_96), INTEG(IKE_AUTH_HMAC_MD5_96),
		       PRF(IKE_PRF_HMAC_SHA1), DH(IKE_DH_MODP_1024), DH(22) },
	};
	sa.p[1] = ike_prop(2, ENCR(IKE_ENCR_AES_CBC, 96), PRF(IKE_PRF_HMAC_SHA1),
			   INTEG(IKE_AUTH_HMAC_SHA1_96), DH(IKE_DH_MODP_1536));
	ck_assert_int_eq(ike_proposals_format(&sa, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "aes128/3des-sha1/md5-prfsha1-modp1024/dh22,encr12:96-sha1-modp1536");
	/* Too long for the buffer: cut, and it says so. */
	ck_assert_int_eq(ike_proposals_format(&sa, small, sizeof(small)), -ENOSPC);
	ck_assert_uint_lt(strlen(small), sizeof(small));
	ck_assert_str_eq(small + strlen(small) - 3, "...");
	ck_assert_int_eq(ike_proposals_format(&sa, small, 3), -ENOSPC);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ike_proposal");
	TCase *tc = tcase_create("proposal");

	tcase_add_test(tc, test_proposal_responder_preference_wins);
	tcase_add_test(tc, test_proposal_one_transform_per_type_in_our_order);
	tcase_add_test(tc, test_proposal_no_match_is_no_proposal_chosen);
	tcase_add_test(tc, test_proposal_initiator_checks_the_answer);
	tcase_add_test(tc, test_proposal_agrees_with_charon_on_real_offers);
	tcase_add_test(tc, test_proposal_text_parses_to_transforms);
	tcase_add_test(tc, test_proposal_format_names_both_sides_for_logs);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
