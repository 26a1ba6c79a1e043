/*
 * libFuzzer: datagrams into IKE fragment reassembly (lib/ike/fragment.c, RFC 7383) for a fixed
 * IKE SA whose keys come from a fixed seed, so the seed corpus holds fragments that verify.
 *
 * Input: one byte of setup, then records. Setup bit 0: AES-GCM (else AES-CBC + HMAC);
 * bit 1: we are the initiator taking responses (else the responder taking requests);
 * bit 2: small limits (4 fragments, 2000 bytes). A record is an op byte, then for op & 3:
 *   0  a big-endian u16 length and that many bytes: a datagram, fed with the expected
 *      message ID (op >> 2) & 3;
 *   1  ike_frag_rx_expire() now;
 *   2  a u16: the clock moves on by that many 10 ms steps;
 *   3  ike_frag_rx_reset().
 * A complete message is decoded like ike_sk_open() output and each payload validated. The
 * reassembly's own bookkeeping must stay within its limits after every step.
 *
 * The seeds are regenerated (the IVs are random, the keys fixed) with
 *   FUZZ_FRAGMENT_WRITE_SEEDS=test/fuzz/corpus/fuzz_fragment BUILD/test/fuzz/fuzz_fragment
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/prf.h"
#include "ike/fragment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define SETUP_GCM		0x01
#define SETUP_INITIATOR		0x02
#define SETUP_SMALL		0x04

enum { OP_ADD, OP_EXPIRE, OP_CLOCK, OP_RESET };

/* [gcm]: the initiator's and the responder's view of one IKE SA. */
static struct ike_init sa_i[2], sa_r[2];

static void make_side(struct ike_init *st, bool initiator, bool gcm)
{
	static const uint8_t spi_i[] = { 0x1f, 0x2e, 0x3d, 0x4c, 0x5b, 0x6a, 0x79, 0x88 };
	static const uint8_t spi_r[] = { 0x97, 0xa6, 0xb5, 0xc4, 0xd3, 0xe2, 0xf1, 0x01 };
	uint8_t seed[32], nonce_i[32], nonce_r[32];
	struct secret shared = { 0 };

	memset(st, 0, sizeof(*st));
	for (size_t i = 0; i < sizeof(seed); i++) {
		seed[i] = (uint8_t)(0x40 + i);
		nonce_i[i] = (uint8_t)(0x80 + i);
		nonce_r[i] = (uint8_t)(0xc0 + i);
	}
	st->initiator = initiator;
	memcpy(st->spi_i, spi_i, IKE_SPI_LEN);
	memcpy(st->spi_r, spi_r, IKE_SPI_LEN);
	if ((gcm ? crypto_suite_init(&st->suite, IKE_ENCR_AES_GCM_16, 128, IKE_PRF_HMAC_SHA2_256,
				     IKE_AUTH_NONE, IKE_DH_CURVE25519) :
		   crypto_suite_init(&st->suite, IKE_ENCR_AES_CBC, 256, IKE_PRF_HMAC_SHA2_256,
				     IKE_AUTH_HMAC_SHA2_256_128, IKE_DH_CURVE25519)) < 0 ||
	    secret_set(&shared, seed, sizeof(seed)) < 0 ||
	    crypto_ike_keys_derive(&st->suite, &shared, nonce_i, sizeof(nonce_i), nonce_r,
				   sizeof(nonce_r), spi_i, spi_r, NULL, &st->keys, NULL) < 0)
		abort();
	secret_clear(&shared);
}

/* Every payload of a complete message through its decoder, as the exchanges would. */
static void use_message(const struct ike_frag_rx *rx)
{
	struct ike_frag_msg fm;
	struct ike_header h;
	struct ike_chain inner;

	if (ike_frag_rx_message(rx, &fm) < 0 || fm.plain_len > rx->lim.max_bytes)
		abort();
	if (ike_frag_rx_chain(rx, &h, &inner) < 0)
		return;
	if (h.msg_id != rx->msg_id || h.exchange != rx->exchange)
		abort();
	for (uint8_t i = 0; i < inner.n; i++)
		(void)ike_payload_validate(&inner.pl[i], NULL);
}

static void check_bounds(const struct ike_frag_rx *rx)
{
	size_t bytes = 0;
	uint16_t n = 0;

	for (size_t i = 0; i < IKE_FRAG_MAX_FRAGMENTS; i++) {
		if (rx->have[i]) {
			n++;
			bytes += rx->part_len[i];
			if (i >= rx->total)
				abort();
		} else if (rx->part[i] || rx->part_len[i]) {
			abort();
		}
	}
	if (n != rx->received || bytes != rx->bytes || rx->bytes > rx->lim.max_bytes ||
	    rx->total > rx->lim.max_fragments || (rx->received && rx->received >= rx->total) ||
	    (!rx->active && (rx->received || rx->complete)))
		abort();
}

/* The seeds: one record per fragment of messages sealed by the peer side. */
static int write_seeds(const char *dir);

static bool ready;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *seeds = getenv("FUZZ_FRAGMENT_WRITE_SEEDS");

	(void)argc;
	(void)argv;
	for (int gcm = 0; gcm < 2; gcm++) {
		make_side(&sa_i[gcm], true, gcm);
		make_side(&sa_r[gcm], false, gcm);
	}
	ready = true;
	if (seeds)
		exit(write_seeds(seeds) < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct ike_frag_limits small = { .max_fragments = 4, .max_bytes = 2000,
						      .timeout_ms = 1000 };
	struct ike_reader r = ike_reader_init(data, size);
	const struct ike_sa_keys *us;
	struct ike_frag_rx rx;
	uint64_t now_ms = 1000;
	uint8_t setup, op;

	if (!ready || ike_reader_u8(&r, &setup) < 0)
		return 0;
	us = setup & SETUP_INITIATOR ? &sa_i[setup & SETUP_GCM].k : &sa_r[setup & SETUP_GCM].k;
	ike_frag_rx_init(&rx, setup & SETUP_INITIATOR, setup & SETUP_SMALL ? &small : NULL);
	while (ike_reader_u8(&r, &op) == 0) {
		const uint8_t *p;
		uint8_t *dgram;
		uint16_t len;
		int rc;

		switch (op & 3) {
		case OP_ADD:
			if (ike_reader_u16(&r, &len) < 0 || ike_reader_bytes(&r, len, &p) < 0)
				goto out;
			/* Reassembly decrypts in place: a copy of its own, of the exact size. */
			dgram = malloc(len ? len : 1);
			if (!dgram)
				goto out;
			if (len)
				memcpy(dgram, p, len);
			rc = ike_frag_rx_add(&rx, us, (op >> 2) & 3, dgram, len, now_ms);
			free(dgram);
			if (rc == IKE_FRAG_COMPLETE) {
				use_message(&rx);
				ike_frag_rx_reset(&rx);
			} else if (rc < 0 && rc != -EBADMSG && rc != -EPROTO && rc != -ESTALE &&
				   rc != -EACCES && rc != -EALREADY && rc != -EMSGSIZE &&
				   rc != -ENOMEM) {
				abort();
			}
			break;
		case OP_EXPIRE:
			ike_frag_rx_expire(&rx, now_ms);
			break;
		case OP_CLOCK:
			if (ike_reader_u16(&r, &len) < 0)
				goto out;
			now_ms += (uint64_t)len * 10;
			break;
		default:
			ike_frag_rx_reset(&rx);
			break;
		}
		check_bounds(&rx);
	}
out:
	ike_frag_rx_clear(&rx);
	return 0;
}

/* Seed writing: not part of a fuzzing run. */

static int record(struct ike_writer *w, uint8_t op, const uint8_t *p, size_t len)
{
	int rc = ike_writer_u8(w, op);

	if (len > UINT16_MAX)
		return -EMSGSIZE;
	rc = rc ?: ike_writer_u16(w, (uint16_t)len);
	return rc ?: ike_writer_bytes(w, p, len);
}

static int add_frag(struct ike_writer *w, const struct ike_frags *f, uint16_t i, uint32_t msg_id)
{
	size_t len;
	const uint8_t *p = ike_frags_get(f, i, &len);

	return p ? record(w, (uint8_t)(OP_ADD | (msg_id & 3) << 2), p, len) : -EINVAL;
}

/* An inner chain: a Notify with data, a Delete of two ESP SPIs, Vendor IDs to size. */
static int make_chain(struct ike_writer *plain, bool del, size_t vendor_len, uint8_t *ret_first)
{
	static const uint8_t spis[8] = { 0xc0, 0, 0, 1, 0xc0, 0, 0, 2 };
	static uint8_t junk[1000];
	struct ike_pld_notify n = { .type = IKE_N_INITIAL_CONTACT, .data = spis, .len = 4 };
	struct ike_pld_delete d = { .protocol = IKE_PROTO_ESP, .spi_len = 4, .n_spis = 2,
				    .spis = spis };
	struct ike_builder b;
	int rc;

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 37);
	ike_build_chain_begin(&b, plain);
	rc = IKE_BUILD_PAYLOAD(&b, IKE_PLD_NOTIFY, ike_pld_notify_encode(plain, &n));
	if (del)
		rc = rc ?: IKE_BUILD_PAYLOAD(&b, IKE_PLD_DELETE, ike_pld_delete_encode(plain, &d));
	while (rc == 0 && vendor_len) {
		size_t take = vendor_len > sizeof(junk) ? sizeof(junk) : vendor_len;

		rc = ike_build_raw(&b, IKE_PLD_VENDOR, false, junk, take);
		vendor_len -= take;
	}
	*ret_first = b.first_type;
	return rc;
}

static int write_seed(const char *dir, const char *name, const struct ike_writer *w)
{
	char path[4096];
	FILE *f;
	int rc = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wbe");
	if (!f)
		return -errno;
	if (fwrite(w->buf, 1, w->len, f) != w->len)
		rc = -EIO;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	return rc;
}

static int write_seeds(const char *dir)
{
	struct ike_writer w, plain;
	struct ike_frags big, small;
	uint8_t first;
	int rc = 0;

	ike_writer_init(&w, IKE_MAX_MSG_LEN * 16);
	ike_writer_init(&plain, IKE_MAX_MSG_LEN);
	ike_frags_init(&big);
	ike_frags_init(&small);
	for (int gcm = 0; gcm < 2 && rc == 0; gcm++) {
		for (int resp = 0; resp < 2 && rc == 0; resp++) {
			/* resp: the responder's IKE_AUTH answers, else the initiator's requests. */
			const struct ike_sa_keys *peer = resp ? &sa_r[gcm].k : &sa_i[gcm].k;
			uint8_t exch = resp ? IKE_EXCH_IKE_AUTH : IKE_EXCH_INFORMATIONAL;
			uint8_t setup = (uint8_t)((gcm ? SETUP_GCM : 0) |
						  (resp ? SETUP_INITIATOR : 0));
			char name[64];

			plain.len = 0;
			rc = make_chain(&plain, !resp, 2500, &first);
			rc = rc ?: ike_frag_seal(peer, exch, resp, 1, &plain, first, 548, &small);
			rc = rc ?: ike_frag_seal(peer, exch, resp, 1, &plain, first, 1228, &big);
			if (rc < 0)
				break;
			/* In order. */
			w.len = 0;
			rc = ike_writer_u8(&w, setup);
			for (uint16_t i = 0; i < small.n && rc == 0; i++)
				rc = add_frag(&w, &small, i, 1);
			snprintf(name, sizeof(name), "%s_%s_in_order", gcm ? "gcm" : "cbc",
				 resp ? "response" : "request");
			rc = rc ?: write_seed(dir, name, &w);
			/* Reversed, with duplicates, a reset and the clock in between. */
			w.len = 0;
			rc = rc ?: ike_writer_u8(&w, setup);
			for (uint16_t i = small.n; i > 0 && rc == 0; i--)
				rc = add_frag(&w, &small, i - 1, 1) ?:
				     add_frag(&w, &small, i - 1, 1);
			rc = rc ?: ike_writer_u8(&w, OP_RESET);
			rc = rc ?: add_frag(&w, &small, 1, 1);
			rc = rc ?: ike_writer_u8(&w, OP_CLOCK) ?: ike_writer_u16(&w, 5000);
			rc = rc ?: ike_writer_u8(&w, OP_EXPIRE);
			for (uint16_t i = 0; i < small.n && rc == 0; i++)
				rc = add_frag(&w, &small, i, 1);
			snprintf(name, sizeof(name), "%s_%s_reversed_dup", gcm ? "gcm" : "cbc",
				 resp ? "response" : "request");
			rc = rc ?: write_seed(dir, name, &w);
			/* §2.6: re-fragmented smaller: a restart, then the stale total. */
			w.len = 0;
			rc = rc ?: ike_writer_u8(&w, setup);
			rc = rc ?: add_frag(&w, &big, 0, 1) ?: add_frag(&w, &big, 1, 1);
			for (uint16_t i = 0; i < small.n && rc == 0; i++)
				rc = add_frag(&w, &small, i, 1) ?: add_frag(&w, &big, 2, 1);
			snprintf(name, sizeof(name), "%s_%s_refragmented", gcm ? "gcm" : "cbc",
				 resp ? "response" : "request");
			rc = rc ?: write_seed(dir, name, &w);
			/* Small limits: the big message is refused, a one-fragment one passes. */
			plain.len = 0;
			rc = rc ?: make_chain(&plain, !resp, 100, &first);
			rc = rc ?: ike_frag_seal(peer, exch, resp, 2, &plain, first, 1228, &big);
			w.len = 0;
			rc = rc ?: ike_writer_u8(&w, (uint8_t)(setup | SETUP_SMALL));
			for (uint16_t i = 0; i < small.n && rc == 0; i++)
				rc = add_frag(&w, &small, i, 1);
			rc = rc ?: add_frag(&w, &big, 0, 2);
			snprintf(name, sizeof(name), "%s_%s_small_limits", gcm ? "gcm" : "cbc",
				 resp ? "response" : "request");
			rc = rc ?: write_seed(dir, name, &w);
		}
	}
	ike_frags_clear(&big);
	ike_frags_clear(&small);
	ike_writer_clear(&plain);
	ike_writer_clear(&w);
	return rc;
}
