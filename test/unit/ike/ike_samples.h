/* Messages built for the codec tests: a realistic IKE_SA_INIT request and payload samples. */
#ifndef IKD_TEST_IKE_SAMPLES_H
#define IKD_TEST_IKE_SAMPLES_H

#include "testutil.h"
#include "ike/message.h"

static inline void sample_proposal(struct ike_pld_sa *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->n = 2;
	sa->p[0] = (struct ike_proposal){
		.num = 1, .protocol = IKE_PROTO_IKE, .n_transforms = 4,
		.t = {
			{ .type = IKE_TRANSFORM_ENCR, .id = IKE_ENCR_AES_CBC, .key_bits = 256 },
			{ .type = IKE_TRANSFORM_PRF, .id = IKE_PRF_HMAC_SHA2_256 },
			{ .type = IKE_TRANSFORM_INTEG, .id = IKE_AUTH_HMAC_SHA2_256_128 },
			{ .type = IKE_TRANSFORM_DH, .id = IKE_DH_MODP_2048 },
		},
	};
	sa->p[1] = (struct ike_proposal){
		.num = 2, .protocol = IKE_PROTO_IKE, .n_transforms = 3,
		.t = {
			{ .type = IKE_TRANSFORM_ENCR, .id = IKE_ENCR_AES_GCM_16, .key_bits = 128 },
			{ .type = IKE_TRANSFORM_PRF, .id = IKE_PRF_HMAC_SHA2_256 },
			{ .type = IKE_TRANSFORM_DH, .id = IKE_DH_CURVE25519 },
		},
	};
}

/* An IKE_SA_INIT request as an initiator sends it; the caller frees w. */
static inline void sample_sa_init(struct ike_writer *w)
{
	static uint8_t ke_data[256], nonce[32], nat_hash[20];
	struct ike_header h = { .spi_i = { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88 },
				.major = 2, .exchange = IKE_EXCH_IKE_SA_INIT,
				.flags = IKE_FLAG_INITIATOR };
	struct ike_pld_sa sa;
	struct ike_pld_ke ke = { .group = IKE_DH_MODP_2048, .data = ke_data, .len = 256 };
	struct ike_pld_nonce n = { .data = nonce, .len = sizeof(nonce) };
	struct ike_pld_notify nat = { .type = IKE_N_NAT_DETECTION_SOURCE_IP, .data = nat_hash,
				      .len = 20 };
	struct ike_pld_notify frag = { .type = IKE_N_IKEV2_FRAGMENTATION_SUPPORTED };
	struct ike_builder b;

	for (size_t i = 0; i < sizeof(ke_data); i++)
		ke_data[i] = (uint8_t)(i * 13 + 5);
	for (size_t i = 0; i < sizeof(nonce); i++)
		nonce[i] = (uint8_t)(0xa0 + i);
	memset(nat_hash, 0x5a, sizeof(nat_hash));
	sample_proposal(&sa);
	ike_writer_init(w, IKE_MAX_MSG_LEN);
	ck_assert_int_eq(ike_build_begin(&b, w, &h), 0);
	ck_assert_int_eq(ike_build_pld_begin(&b, IKE_PLD_SA, false), 0);
	ck_assert_int_eq(ike_pld_sa_encode(w, &sa), 0);
	ck_assert_int_eq(ike_build_pld_end(&b), 0);
	ck_assert_int_eq(ike_build_pld_begin(&b, IKE_PLD_KE, false), 0);
	ck_assert_int_eq(ike_pld_ke_encode(w, &ke), 0);
	ck_assert_int_eq(ike_build_pld_end(&b), 0);
	ck_assert_int_eq(ike_build_pld_begin(&b, IKE_PLD_NONCE, false), 0);
	ck_assert_int_eq(ike_pld_nonce_encode(w, &n), 0);
	ck_assert_int_eq(ike_build_pld_end(&b), 0);
	ck_assert_int_eq(ike_build_pld_begin(&b, IKE_PLD_NOTIFY, false), 0);
	ck_assert_int_eq(ike_pld_notify_encode(w, &nat), 0);
	ck_assert_int_eq(ike_build_pld_end(&b), 0);
	nat.type = IKE_N_NAT_DETECTION_DESTINATION_IP;
	ck_assert_int_eq(ike_build_pld_begin(&b, IKE_PLD_NOTIFY, false), 0);
	ck_assert_int_eq(ike_pld_notify_encode(w, &nat), 0);
	ck_assert_int_eq(ike_build_pld_end(&b), 0);
	ck_assert_int_eq(ike_build_pld_begin(&b, IKE_PLD_NOTIFY, false), 0);
	ck_assert_int_eq(ike_pld_notify_encode(w, &frag), 0);
	ck_assert_int_eq(ike_build_pld_end(&b), 0);
	ck_assert_int_eq(ike_build_raw(&b, IKE_PLD_VENDOR, false, (const uint8_t *)"ikd", 3), 0);
	ck_assert_int_eq(ike_build_finish(&b), 0);
}

#endif
