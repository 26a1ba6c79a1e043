/* lib/ike/payload*.c: every payload body round-trips; every malformed form has its error. */
#include <sys/socket.h>

#include "ike_samples.h"
#include "ike/proposal.h"
#include "ike/ts.h"

/* Decode body with the payload decoder chosen by type, expecting rc. */
static int decode_body(uint8_t type, const uint8_t *body, size_t len, struct ike_err *err)
{
	struct ike_payload pl = { .type = type, .known = true, .body = body, .body_len = len };

	return ike_payload_validate(&pl, err);
}

static uint8_t *hexbody(const char *hex, size_t *len)
{
	return test_hex(hex, len);
}

static void expect_ok(uint8_t type, const char *hex)
{
	struct ike_err err = { 0 };
	size_t len;
	uint8_t *b = hexbody(hex, &len);

	ck_assert_msg(decode_body(type, b, len, &err) == 0, "%s: '%s' rejected: %s %s",
		      ike_payload_name(type), hex, err.field, err.reason);
	free(b);
}

static void expect_reject(uint8_t type, const char *hex, int rc, const char *field)
{
	struct ike_err err = { 0 };
	size_t len;
	uint8_t *b = hexbody(hex, &len);

	ck_assert_msg(decode_body(type, b, len, &err) == rc, "%s: '%s' gave %d, want %d",
		      ike_payload_name(type), hex, decode_body(type, b, len, NULL), rc);
	ck_assert_ptr_nonnull(err.reason);
	if (field)
		ck_assert_msg(strstr(err.field, field) != NULL, "field '%s', want '%s' (%s)",
			      err.field, field, err.reason);
	free(b);
}

START_TEST(test_payload_sa_round_trip)
{
	struct ike_pld_sa sa, back;
	struct ike_writer w, w2;
	struct ike_reader r;

	sample_proposal(&sa);
	sa.p[1].spi_len = 8;
	memcpy(sa.p[1].spi, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	ike_writer_init(&w, 4096);
	ck_assert_int_eq(ike_pld_sa_encode(&w, &sa), 0);
	r = ike_reader_init(w.buf, w.len);
	ck_assert_int_eq(ike_pld_sa_decode(&r, &back, NULL), 0);
	ck_assert_uint_eq(back.n, 2);
	ck_assert_uint_eq(back.p[0].n_transforms, 4);
	ck_assert_uint_eq(back.p[0].t[0].id, IKE_ENCR_AES_CBC);
	ck_assert_uint_eq(back.p[0].t[0].key_bits, 256);
	ck_assert_uint_eq(back.p[0].t[3].type, IKE_TRANSFORM_DH);
	ck_assert_uint_eq(back.p[0].t[3].id, IKE_DH_MODP_2048);
	ck_assert_uint_eq(back.p[1].num, 2);
	ck_assert_uint_eq(back.p[1].spi_len, 8);
	ck_assert_mem_eq(back.p[1].spi, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	ck_assert_uint_eq(back.p[1].n_ignored, 0);
	ck_assert(!back.p[1].unknown_type);
	ike_writer_init(&w2, 4096);
	ck_assert_int_eq(ike_pld_sa_encode(&w2, &back), 0);
	ck_assert_uint_eq(w2.len, w.len);
	ck_assert_mem_eq(w2.buf, w.buf, w.len);
	ike_writer_clear(&w);
	ike_writer_clear(&w2);
}
END_TEST

START_TEST(test_payload_sa_rejects_malformed_proposals)
{
	/* One proposal: last 0, len 8+8=16? built by hand: prop hdr(8) + transform(8). */
	const char *ok = "00000010 01010001 00000008 01000014";

	expect_reject(IKE_PLD_SA, "", -EBADMSG, "SA");
	expect_ok(IKE_PLD_SA, ok);
	/* Proposal length past the payload. */
	expect_reject(IKE_PLD_SA, "00000011 01010001 00000008 01000014", -EBADMSG, "proposal length");
	/* Proposal length below the header. */
	expect_reject(IKE_PLD_SA, "00000007 01010001 00000008 01000014", -EBADMSG, "proposal length");
	/* Last-substructure says more follow, but nothing does. */
	expect_reject(IKE_PLD_SA, "02000010 01010001 00000008 01000014", -EBADMSG, "proposal");
	/* Bad last-substructure value. */
	expect_reject(IKE_PLD_SA, "05000010 01010001 00000008 01000014", -EBADMSG, "proposal");
	/* First proposal numbered 2. */
	expect_reject(IKE_PLD_SA, "00000010 02010001 00000008 01000014", -EBADMSG, "proposal number");
	/* Number of transforms 2, one present. */
	expect_reject(IKE_PLD_SA, "00000010 01010002 00000008 01000014", -EBADMSG,
		      "number of transforms");
	/* Transform length past the proposal. */
	expect_reject(IKE_PLD_SA, "00000010 01010001 00000009 01000014", -EBADMSG,
		      "transform length");
	/* SPI size 3. */
	expect_reject(IKE_PLD_SA, "00000013 01010301 aabbcc 00000008 01000014", -EBADMSG,
		      "SPI size");
	/* Key-length attribute: TV form fine; TLV with a length past the end rejected. */
	expect_ok(IKE_PLD_SA, "00000014 01010001 0000000c 0100000c 800e0080");
	expect_reject(IKE_PLD_SA, "00000014 01010001 0000000c 0100000c 000e0080", -EBADMSG,
		      "transform attribute");
	expect_reject(IKE_PLD_SA, "00000014 01010001 0000000c 0100000c 800e0000", -EBADMSG,
		      "key length");
}
END_TEST

/* One proposal of n transforms (type, id, key bits; 0 bits: no attribute), by hand. */
static void write_proposal(struct ike_writer *w, const uint16_t (*t)[3], unsigned n)
{
	size_t len_off, start = w->len;

	ck_assert_int_eq(ike_writer_u8(w, 0), 0);
	ck_assert_int_eq(ike_writer_u8(w, 0), 0);
	ck_assert_int_eq(ike_writer_reserve(w, 2, &len_off), 0);
	ck_assert_int_eq(ike_writer_u32(w, 0x01010000u | (n & 0xff)), 0);
	for (unsigned i = 0; i < n; i++) {
		ck_assert_int_eq(ike_writer_u8(w, i + 1 < n ? 3 : 0), 0);
		ck_assert_int_eq(ike_writer_u8(w, 0), 0);
		ck_assert_int_eq(ike_writer_u16(w, t[i][2] ? 12 : 8), 0);
		ck_assert_int_eq(ike_writer_u8(w, (uint8_t)t[i][0]), 0);
		ck_assert_int_eq(ike_writer_u8(w, 0), 0);
		ck_assert_int_eq(ike_writer_u16(w, t[i][1]), 0);
		if (t[i][2]) {
			ck_assert_int_eq(ike_writer_u16(w, IKE_ATTR_FORMAT_TV | IKE_ATTR_KEY_LENGTH),
					 0);
			ck_assert_int_eq(ike_writer_u16(w, t[i][2]), 0);
		}
	}
	ike_writer_put_u16_at(w, len_off, (uint16_t)(w->len - start));
}

static int decode_sa(const struct ike_writer *w, struct ike_pld_sa *ret, struct ike_err *err)
{
	struct ike_reader r = ike_reader_init(w->buf, w->len);

	return ike_pld_sa_decode(&r, ret, err);
}

/*
 * Offers are read whole, whatever their size (the datagram bounds it); what is kept is
 * bounded by what we know. strongSwan 6.0.1 offers 47 transforms in one proposal.
 */
START_TEST(test_payload_sa_keeps_what_it_knows_of_large_offers)
{
	static uint16_t t[256][3];
	struct ike_pld_sa sa;
	struct ike_writer w;
	struct ike_err err;
	unsigned n_known = 0;

	/* 17 proposals: written by hand, since the encoder's struct holds only 16. */
	ike_writer_init(&w, 4096);
	for (int i = 0; i < IKE_MAX_PROPOSALS + 1; i++) {
		ck_assert_int_eq(ike_writer_u8(&w, i < IKE_MAX_PROPOSALS ? 2 : 0), 0);
		ck_assert_int_eq(ike_writer_u8(&w, 0), 0);
		ck_assert_int_eq(ike_writer_u16(&w, 16), 0);
		ck_assert_int_eq(ike_writer_u32(&w, (uint32_t)(i + 1) << 24 | 0x010001), 0);
		ck_assert_int_eq(ike_writer_u32(&w, 8), 0);
		ck_assert_int_eq(ike_writer_u32(&w, 0x01000014), 0);
	}
	ck_assert_int_eq(decode_sa(&w, &sa, &err), 0);
	ck_assert_uint_eq(sa.n, IKE_MAX_PROPOSALS);
	ck_assert_uint_eq(sa.n_ignored, 1);
	/* The one not kept is still checked: a bad 17th proposal fails the payload. */
	w.buf[w.len - 9] = 2;	/* its count of transforms */
	ck_assert_int_eq(decode_sa(&w, &sa, &err), -EBADMSG);
	ike_writer_clear(&w);

	/* Every transform we know, once, then again, then 60 we do not: the known ones kept. */
	for (uint16_t type = 1; type <= 5; type++)
		for (uint16_t id = 0; id < 64; id++)
			for (uint16_t bits = 0; bits <= 256; bits += 64) {
				struct ike_transform x = { .type = (uint8_t)type, .id = id,
							   .key_bits = bits };

				if (ike_transform_known(&x)) {
					ck_assert_uint_lt(n_known, 100);
					t[n_known][0] = type;
					t[n_known][1] = id;
					t[n_known][2] = bits;
					n_known++;
				}
			}
	ck_assert_uint_ge(n_known, 41);
	ck_assert_uint_le(n_known, IKE_MAX_TRANSFORMS);
	memcpy(t[n_known], t[0], n_known * sizeof(t[0]));
	for (unsigned i = 2 * n_known; i < 2 * n_known + 60; i++) {
		t[i][0] = IKE_TRANSFORM_ENCR;
		t[i][1] = 1000 + (uint16_t)i;
		t[i][2] = 128;
	}
	ike_writer_init(&w, 4096);
	write_proposal(&w, t, 2 * n_known + 60);
	ck_assert_int_eq(decode_sa(&w, &sa, &err), 0);
	ck_assert_uint_eq(sa.n, 1);
	ck_assert_uint_eq(sa.p[0].n_transforms, n_known);
	ck_assert_uint_eq(sa.p[0].n_ignored, n_known + 60);
	ck_assert(!sa.p[0].unknown_type);
	for (unsigned i = 0; i < n_known; i++) {
		ck_assert_uint_eq(sa.p[0].t[i].type, t[i][0]);
		ck_assert_uint_eq(sa.p[0].t[i].id, t[i][1]);
		ck_assert_uint_eq(sa.p[0].t[i].key_bits, t[i][2]);
	}
	ike_writer_clear(&w);

	/* 255 copies of one transform, the most a proposal can say it has: one kept. */
	for (unsigned i = 0; i < 255; i++) {
		t[i][0] = IKE_TRANSFORM_DH;
		t[i][1] = IKE_DH_MODP_2048;
		t[i][2] = 0;
	}
	ike_writer_init(&w, 4096);
	write_proposal(&w, t, 255);
	ck_assert_int_eq(decode_sa(&w, &sa, &err), 0);
	ck_assert_uint_eq(sa.p[0].n_transforms, 1);
	ck_assert_uint_eq(sa.p[0].n_ignored, 254);
	ike_writer_clear(&w);
	/* 256 cannot be told in the proposal's one-byte count. */
	t[255][0] = IKE_TRANSFORM_DH;
	t[255][1] = IKE_DH_MODP_2048;
	ike_writer_init(&w, 4096);
	write_proposal(&w, t, 256);
	ck_assert_int_eq(decode_sa(&w, &sa, &err), -EBADMSG);
	ck_assert_str_eq(err.field, "number of transforms");
	ike_writer_clear(&w);
}
END_TEST

/* RFC 7296 §3.3.6: an unknown attribute drops its transform, an unknown type its proposal. */
START_TEST(test_payload_sa_unknown_attribute_and_type)
{
	struct ike_pld_sa sa;
	struct ike_err err;
	size_t len;
	/* AES-CBC-128 with an unknown TV attribute (type 15) and AES-CBC-256 plain. */
	uint8_t *b = test_hex("00000024 01010002 03000010 0100000c 800e0080 800f0001"
			      "0000000c 0100000c 800e0100", &len);
	struct ike_reader r = ike_reader_init(b, len);

	ck_assert_int_eq(ike_pld_sa_decode(&r, &sa, &err), 0);
	ck_assert_uint_eq(sa.p[0].n_transforms, 1);
	ck_assert_uint_eq(sa.p[0].t[0].key_bits, 256);
	ck_assert_uint_eq(sa.p[0].n_ignored, 1);
	ck_assert(!sa.p[0].unknown_type);
	free(b);
	/* A transform of type 6 (RFC 9370's first additional key exchange) beside AES. */
	b = test_hex("0000001c 01010002 03000008 06000024 0000000c 0100000c 800e0100", &len);
	r = ike_reader_init(b, len);
	ck_assert_int_eq(ike_pld_sa_decode(&r, &sa, &err), 0);
	ck_assert_uint_eq(sa.p[0].n_transforms, 1);
	ck_assert(sa.p[0].unknown_type);
	free(b);
}
END_TEST

/* strongSwan's default IKE offers, captured (test/tools/capture-default-offer.sh). */
START_TEST(test_payload_sa_reads_strongswans_default_offers)
{
	static const struct {
		const char *file;
		unsigned wire[2];
	} caps[] = {
		{ "strongswan/default-offer/charon-5.9.8.hex", { 38, 38 } },
		{ "strongswan/default-offer/charon-6.0.1.hex", { 38, 47 } },
	};

	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		char *hex = test_read_data(caps[i].file, NULL);
		size_t len;
		uint8_t *raw = test_hex(hex, &len);
		struct ike_msg m;
		struct ike_pld_sa sa;
		struct ike_err err = { 0 };
		const struct ike_payload *pl;
		struct ike_reader r;

		ck_assert_int_eq(ike_msg_decode(raw, len, &m, NULL), 0);
		pl = ike_chain_find(&m.chain, IKE_PLD_SA, NULL);
		ck_assert_ptr_nonnull(pl);
		r = ike_reader_init(pl->body, pl->body_len);
		ck_assert_msg(ike_pld_sa_decode(&r, &sa, &err) == 0, "%s: %s: %s", caps[i].file,
			      err.field, err.reason);
		ck_assert_uint_eq(sa.n, 2);
		ck_assert_uint_eq(sa.n_ignored, 0);
		for (int p = 0; p < 2; p++) {
			ck_assert_uint_eq(sa.p[p].n_transforms + sa.p[p].n_ignored,
					  caps[i].wire[p]);
			ck_assert(!sa.p[p].unknown_type);
		}
		free(raw);
		free(hex);
	}
}
END_TEST

START_TEST(test_payload_simple_bodies_round_trip)
{
	static const uint8_t data[] = "0123456789abcdef0123456789abcdef";
	struct ike_writer w;
	struct ike_reader r;

	/* KE */
	{
		struct ike_pld_ke ke = { .group = IKE_DH_CURVE25519, .data = data, .len = 32 }, b;

		ike_writer_init(&w, 1024);
		ck_assert_int_eq(ike_pld_ke_encode(&w, &ke), 0);
		r = ike_reader_init(w.buf, w.len);
		ck_assert_int_eq(ike_pld_ke_decode(&r, &b, NULL), 0);
		ck_assert_uint_eq(b.group, IKE_DH_CURVE25519);
		ck_assert_uint_eq(b.len, 32);
		ck_assert_mem_eq(b.data, data, 32);
		ike_writer_clear(&w);
	}
	/* ID of every type */
	{
		static const struct {
			uint8_t type;
			size_t len;
		} ids[] = { { IKE_ID_IPV4_ADDR, 4 }, { IKE_ID_IPV6_ADDR, 16 }, { IKE_ID_FQDN, 21 },
			    { IKE_ID_RFC822_ADDR, 9 }, { IKE_ID_KEY_ID, 5 } };

		for (size_t i = 0; i < 5; i++) {
			struct ike_pld_id id = { .type = ids[i].type, .data = data, .len = ids[i].len }, b;

			ike_writer_init(&w, 1024);
			ck_assert_int_eq(ike_pld_id_encode(&w, &id), 0);
			r = ike_reader_init(w.buf, w.len);
			ck_assert_int_eq(ike_pld_id_decode(&r, &b, NULL), 0);
			ck_assert_uint_eq(b.type, ids[i].type);
			ck_assert_uint_eq(b.len, ids[i].len);
			ck_assert_uint_eq(b.body_len, ids[i].len + 4);
			ck_assert_ptr_eq(b.body, w.buf);
			ike_writer_clear(&w);
		}
	}
	/* AUTH, Nonce, Vendor */
	{
		struct ike_pld_auth a = { .method = IKE_AUTH_SHARED_KEY_MIC, .data = data, .len = 32 }, ab;
		struct ike_pld_nonce n = { .data = data, .len = 16 }, nb;

		ike_writer_init(&w, 1024);
		ck_assert_int_eq(ike_pld_auth_encode(&w, &a), 0);
		r = ike_reader_init(w.buf, w.len);
		ck_assert_int_eq(ike_pld_auth_decode(&r, &ab, NULL), 0);
		ck_assert_uint_eq(ab.method, IKE_AUTH_SHARED_KEY_MIC);
		ck_assert_uint_eq(ab.len, 32);
		ike_writer_clear(&w);
		ike_writer_init(&w, 1024);
		ck_assert_int_eq(ike_pld_nonce_encode(&w, &n), 0);
		r = ike_reader_init(w.buf, w.len);
		ck_assert_int_eq(ike_pld_nonce_decode(&r, &nb, NULL), 0);
		ck_assert_uint_eq(nb.len, 16);
		ike_writer_clear(&w);
	}
}
END_TEST

START_TEST(test_payload_notify_delete_ts_cp_skf_round_trip)
{
	struct ike_writer w;
	struct ike_reader r;
	uint16_t group;
	const uint8_t *p;
	size_t len;

	/* INVALID_KE_PAYLOAD carries the group; REKEY_SA an ESP SPI. */
	{
		struct ike_pld_notify n = { .type = IKE_N_INVALID_KE_PAYLOAD, .data =
					    (const uint8_t *)"\x00\x13", .len = 2 }, b;

		ike_writer_init(&w, 256);
		ck_assert_int_eq(ike_pld_notify_encode(&w, &n), 0);
		r = ike_reader_init(w.buf, w.len);
		ck_assert_int_eq(ike_pld_notify_decode(&r, &b, NULL), 0);
		ck_assert_int_eq(ike_notify_invalid_ke_group(&b, &group), 0);
		ck_assert_uint_eq(group, IKE_DH_ECP_256);
		ck_assert_int_eq(ike_notify_cookie(&b, &p, &len), -EBADMSG);
		ike_writer_clear(&w);
	}
	{
		struct ike_pld_notify n = { .protocol = IKE_PROTO_ESP, .spi_len = 4,
					    .spi = { 0xc0, 0xff, 0xee, 0x01 }, .type = IKE_N_REKEY_SA }, b;

		ike_writer_init(&w, 256);
		ck_assert_int_eq(ike_pld_notify_encode(&w, &n), 0);
		r = ike_reader_init(w.buf, w.len);
		ck_assert_int_eq(ike_pld_notify_decode(&r, &b, NULL), 0);
		ck_assert_uint_eq(b.type, IKE_N_REKEY_SA);
		ck_assert_uint_eq(b.spi_len, 4);
		ck_assert_mem_eq(b.spi, "\xc0\xff\xee\x01", 4);
		ck_assert_uint_eq(b.len, 0);
		ike_writer_clear(&w);
	}
	/* Delete of two ESP SPIs */
	{
		struct ike_pld_delete d = { .protocol = IKE_PROTO_ESP, .spi_len = 4, .n_spis = 2,
					    .spis = (const uint8_t *)"\1\2\3\4\5\6\7\x08" }, b;

		ike_writer_init(&w, 256);
		ck_assert_int_eq(ike_pld_delete_encode(&w, &d), 0);
		r = ike_reader_init(w.buf, w.len);
		ck_assert_int_eq(ike_pld_delete_decode(&r, &b, NULL), 0);
		ck_assert_uint_eq(b.n_spis, 2);
		ck_assert_mem_eq(b.spis + 4, "\5\6\7\x08", 4);
		ike_writer_clear(&w);
	}
	/* TS: an IPv4 range with ports and an IPv6 any */
	{
		struct ike_pld_ts ts = { .n = 2 }, b;

		ts.ts[0] = (struct ike_ts){ .type = IKE_TS_IPV4_ADDR_RANGE, .ip_proto = 6,
					    .start_port = 80, .end_port = 443,
					    .start = { 10, 1, 0, 0 }, .end = { 10, 1, 255, 255 } };
		ts.ts[1] = (struct ike_ts){ .type = IKE_TS_IPV6_ADDR_RANGE, .end_port = 65535 };
		memset(ts.ts[1].end, 0xff, 16);
		ike_writer_init(&w, 256);
		ck_assert_int_eq(ike_pld_ts_encode(&w, &ts), 0);
		ck_assert_uint_eq(w.len, 4 + 16 + 40);
		r = ike_reader_init(w.buf, w.len);
		ck_assert_int_eq(ike_pld_ts_decode(&r, &b, NULL), 0);
		ck_assert_uint_eq(b.n, 2);
		ck_assert_uint_eq(b.ts[0].end_port, 443);
		ck_assert_uint_eq(b.ts[0].end[2], 255);
		ck_assert_uint_eq(b.ts[1].type, IKE_TS_IPV6_ADDR_RANGE);
		ike_writer_clear(&w);
	}
	/* CP request with two attributes; SKF fields */
	{
		struct ike_pld_cp cp = { .cfg_type = IKE_CFG_REQUEST, .n = 2 }, b;
		struct ike_pld_skf skf = { .frag_num = 3, .total = 7 }, sb;

		cp.a[0] = (struct ike_cp_attr){ .type = 1 };
		cp.a[1] = (struct ike_cp_attr){ .type = 3, .value = (const uint8_t *)"\x0a\0\0\x01",
						.len = 4 };
		ike_writer_init(&w, 256);
		ck_assert_int_eq(ike_pld_cp_encode(&w, &cp), 0);
		r = ike_reader_init(w.buf, w.len);
		ck_assert_int_eq(ike_pld_cp_decode(&r, &b, NULL), 0);
		ck_assert_uint_eq(b.n, 2);
		ck_assert_uint_eq(b.a[1].len, 4);
		ike_writer_clear(&w);
		ike_writer_init(&w, 256);
		ck_assert_int_eq(ike_pld_skf_encode(&w, &skf), 0);
		r = ike_reader_init(w.buf, w.len);
		ck_assert_int_eq(ike_pld_skf_decode(&r, &sb, NULL), 0);
		ck_assert_uint_eq(sb.frag_num, 3);
		ck_assert_uint_eq(sb.total, 7);
		ike_writer_clear(&w);
	}
}
END_TEST

START_TEST(test_payload_bodies_reject_malformed_forms)
{
	struct ike_reader r;
	struct ike_pld_skf skf;

	/* Nonce: 15 and 257 bytes. */
	{
		uint8_t big[257] = { 0 };

		ck_assert_int_eq(decode_body(IKE_PLD_NONCE, big, 15, NULL), -EBADMSG);
		ck_assert_int_eq(decode_body(IKE_PLD_NONCE, big, 16, NULL), 0);
		ck_assert_int_eq(decode_body(IKE_PLD_NONCE, big, 256, NULL), 0);
		ck_assert_int_eq(decode_body(IKE_PLD_NONCE, big, 257, NULL), -EBADMSG);
	}
	expect_reject(IKE_PLD_IDI, "01000000 0a0000", -EBADMSG, "ID_IPV4_ADDR");
	expect_reject(IKE_PLD_IDR, "05000000 0a000001", -EBADMSG, "ID_IPV6_ADDR");
	expect_reject(IKE_PLD_IDI, "02000000", -EBADMSG, "ID data");
	expect_reject(IKE_PLD_IDI, "0400000061", -EBADMSG, "ID type");
	expect_reject(IKE_PLD_IDI, "0200", -EBADMSG, "ID");
	expect_reject(IKE_PLD_KE, "000e0000", -EBADMSG, "KE data");
	expect_reject(IKE_PLD_AUTH, "02000000", -EBADMSG, "AUTH data");
	expect_reject(IKE_PLD_NOTIFY, "0300", -EBADMSG, "notify");
	expect_reject(IKE_PLD_NOTIFY, "03044009 0102", -EBADMSG, "notify SPI");
	expect_reject(IKE_PLD_NOTIFY, "03034009 010203", -EBADMSG, "notify SPI size");
	/* Delete: IKE with SPIs; ESP with the wrong SPI size; count not matching. */
	expect_reject(IKE_PLD_DELETE, "01040001 01020304", -EBADMSG, "delete");
	expect_reject(IKE_PLD_DELETE, "03080001 0102030405060708", -EBADMSG, "delete SPI size");
	expect_reject(IKE_PLD_DELETE, "03040002 01020304", -EBADMSG, "delete SPIs");
	expect_reject(IKE_PLD_DELETE, "03040000", -EBADMSG, "delete");
	/* TS: zero count, start after end, wrong selector length, unknown type, trailing data. */
	expect_reject(IKE_PLD_TSI, "00000000", -EBADMSG, "number of TSs");
	expect_reject(IKE_PLD_TSI, "01000000 07000010 0000ffff 0a000002 0a000001", -EBADMSG,
		      "traffic selector");
	expect_reject(IKE_PLD_TSI, "01000000 07000010 01bb0050 0a000001 0a000002", -EBADMSG,
		      "traffic selector");
	expect_reject(IKE_PLD_TSI, "01000000 07000011 0000ffff 0a000001 0a000002 00", -EBADMSG,
		      "selector length");
	expect_reject(IKE_PLD_TSI, "01000000 09000010 0000ffff 0a000001 0a000002", -EBADMSG,
		      "TS type");
	expect_reject(IKE_PLD_TSI, "01000000 07000010 0000ffff 0a000001 0a000002 00", -EBADMSG, "TS");
	expect_reject(IKE_PLD_TSI, "02000000 07000010 0000ffff 0a000001 0a000002", -EBADMSG,
		      "traffic selector");
	/* The OPAQUE port form 65535..0 is allowed (RFC 7296 §3.13.1). */
	expect_ok(IKE_PLD_TSI, "01000000 07000010 ffff0000 0a000001 0a000002");
	expect_reject(IKE_PLD_CP, "05000000", -EBADMSG, "CFG type");
	expect_reject(IKE_PLD_CP, "01000000 00030008 0a00", -EBADMSG, "CP attribute length");
	expect_reject(IKE_PLD_VENDOR, "", -EBADMSG, "vendor ID");
	/* SKF: number 0, total 0, number past total. */
	r = ike_reader_init((const uint8_t *)"\0\0\0\1", 4);
	ck_assert_int_eq(ike_pld_skf_decode(&r, &skf, NULL), -EBADMSG);
	r = ike_reader_init((const uint8_t *)"\0\1\0\0", 4);
	ck_assert_int_eq(ike_pld_skf_decode(&r, &skf, NULL), -EBADMSG);
	r = ike_reader_init((const uint8_t *)"\0\3\0\2", 4);
	ck_assert_int_eq(ike_pld_skf_decode(&r, &skf, NULL), -EBADMSG);
}
END_TEST

START_TEST(test_payload_ts_over_the_limit_is_rejected)
{
	uint8_t body[4 + 17 * 16];

	memset(body, 0, sizeof(body));
	body[0] = 17;
	for (int i = 0; i < 17; i++) {
		uint8_t *s = body + 4 + 16 * i;

		s[0] = IKE_TS_IPV4_ADDR_RANGE;
		s[3] = 16;
	}
	ck_assert_int_eq(decode_body(IKE_PLD_TSI, body, sizeof(body), NULL), -EMSGSIZE);
	body[0] = 16;
	ck_assert_int_eq(decode_body(IKE_PLD_TSI, body, sizeof(body) - 16, NULL), 0);
}
END_TEST

/* A selector as people read it: a prefix where it is one, a range where not, proto/ports. */
START_TEST(test_payload_ts_format)
{
	struct ike_ts ts;
	char buf[64];
	const uint8_t v4[4] = { 10, 1, 0, 0 }, v6[16] = { 0x20, 0x01, 0x0d, 0xb8 };

	ike_ts_from_prefix(&ts, AF_INET, v4, 24);
	ck_assert_int_eq(ike_ts_format(&ts, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "10.1.0.0/24");
	ike_ts_from_prefix(&ts, AF_INET, v4, 0);
	ck_assert_int_eq(ike_ts_format(&ts, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "0.0.0.0/0");
	ike_ts_from_prefix(&ts, AF_INET, v4, 32);
	ck_assert_int_eq(ike_ts_format(&ts, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "10.1.0.0/32");
	ike_ts_from_prefix(&ts, AF_INET6, v6, 32);
	ck_assert_int_eq(ike_ts_format(&ts, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "2001:db8::/32");
	/* Not a prefix: a range; a protocol and ports. */
	ike_ts_from_prefix(&ts, AF_INET, v4, 24);
	ts.start[3] = 5;
	ts.end[3] = 9;
	ts.ip_proto = 6;
	ts.start_port = ts.end_port = 443;
	ck_assert_int_eq(ike_ts_format(&ts, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "10.1.0.5-10.1.0.9[6/443]");
	ts.start_port = 80;
	ck_assert_int_eq(ike_ts_format(&ts, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "10.1.0.5-10.1.0.9[6/80-443]");
	ts.start_port = 0;
	ts.end_port = 65535;
	ck_assert_int_eq(ike_ts_format(&ts, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "10.1.0.5-10.1.0.9[6]");
	/* Too small a buffer, and a type that is no address range. */
	ck_assert_int_eq(ike_ts_format(&ts, buf, 8), -EMSGSIZE);
	ck_assert_uint_eq(strlen(buf), 7);
	ts.type = 9;
	ck_assert_int_eq(ike_ts_format(&ts, buf, sizeof(buf)), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ike_payload");
	TCase *tc = tcase_create("payload");

	tcase_add_test(tc, test_payload_sa_round_trip);
	tcase_add_test(tc, test_payload_sa_rejects_malformed_proposals);
	tcase_add_test(tc, test_payload_sa_keeps_what_it_knows_of_large_offers);
	tcase_add_test(tc, test_payload_sa_unknown_attribute_and_type);
	tcase_add_test(tc, test_payload_sa_reads_strongswans_default_offers);
	tcase_add_test(tc, test_payload_simple_bodies_round_trip);
	tcase_add_test(tc, test_payload_notify_delete_ts_cp_skf_round_trip);
	tcase_add_test(tc, test_payload_bodies_reject_malformed_forms);
	tcase_add_test(tc, test_payload_ts_over_the_limit_is_rejected);
	tcase_add_test(tc, test_payload_ts_format);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
