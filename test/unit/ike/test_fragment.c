/*
 * lib/ike/fragment.c: IKE message fragmentation (RFC 7383) between an IKE SA pair made by
 * IKE_SA_INIT in memory, with AES-CBC + HMAC and with AES-GCM: sealing into SKF messages
 * that fit the limit, reassembly in any order with duplicates, tampered and stale fragments,
 * re-fragmentation (§2.6), the memory bounds and the expiry.
 */
#include "ike_samples.h"
#include "crypto/sk.h"
#include "ike/fragment.h"
#include "ike/sk_msg.h"

#define MSG_ID 7

struct pair {
	struct ike_init i, r;
	struct ike_pld_sa props;
	struct ike_init_cfg cfg;
};

/* An IKE SA between i and r by IKE_SA_INIT, AES-256-CBC/HMAC-SHA2-256 or AES-128-GCM. */
static void make_pair(struct pair *p, bool gcm)
{
	struct ike_endpoint a = { .addr = { 192, 0, 2, 1 }, .addr_len = 4, .port = 500 };
	struct ike_endpoint b = { .addr = { 198, 51, 100, 1 }, .addr_len = 4, .port = 500 };
	struct ike_writer req, resp;
	struct ike_proposal *pr;

	memset(p, 0, sizeof(*p));
	sample_proposal(&p->props);
	if (gcm)
		p->props.p[0] = p->props.p[1];
	pr = &p->props.p[0];
	pr->num = 1;
	pr->t[pr->n_transforms - 1].id = IKE_DH_CURVE25519;	/* the DH transform is last */
	p->props.n = 1;
	p->cfg = (struct ike_init_cfg){ .proposals = &p->props, .dh_group = IKE_DH_CURVE25519,
					.fragmentation = true };
	ike_writer_init(&req, IKE_MAX_MSG_LEN);
	ike_writer_init(&resp, IKE_MAX_MSG_LEN);
	ck_assert_int_eq(ike_init_start(&p->i, &p->cfg, &a, &b, &req), 0);
	ck_assert_int_eq(ike_init_respond(&p->r, &p->cfg, NULL, req.buf, req.len, &b, &a, &resp),
			 IKE_INIT_DONE);
	ck_assert_int_eq(ike_init_on_response(&p->i, &p->cfg, resp.buf, resp.len, &a, &b, &req),
			 IKE_INIT_DONE);
	ck_assert(p->i.peer_fragmentation && p->r.peer_fragmentation);
	ck_assert_int_eq(p->i.suite.encr->aead, gcm);
	ike_writer_clear(&req);
	ike_writer_clear(&resp);
}

static void free_pair(struct pair *p)
{
	ike_init_clear(&p->i);
	ike_init_clear(&p->r);
}

/*
 * An inner chain of exactly len bytes (0, or at least 5): Vendor ID payloads whose bytes
 * depend on their position, so a reassembly out of order shows. Returns the payload count.
 */
static unsigned make_chain(struct ike_writer *w, size_t len, uint8_t *ret_first)
{
	struct ike_builder b;
	size_t left = len;
	unsigned n = 0;

	ck_assert(len == 0 || len >= 5);
	ike_writer_init(w, IKE_MAX_MSG_LEN);
	ike_build_chain_begin(&b, w);
	b.first_type = IKE_PLD_NONE;
	while (left) {
		size_t take = left > 1004 ? 1004 : left;
		int rc;

		if (left > take && left - take < 5)
			take = left - 5;
		/* (check records every assertion: one for the payload, not one per byte) */
		rc = ike_build_pld_begin(&b, IKE_PLD_VENDOR, false);
		for (size_t j = 0; rc == 0 && j < take - IKE_PAYLOAD_HEADER_LEN; j++)
			rc = ike_writer_u8(w, (uint8_t)(w->len * 131 + w->len / 251));
		ck_assert_int_eq(rc ?: ike_build_pld_end(&b), 0);
		left -= take;
		n++;
	}
	ck_assert_uint_eq(w->len, len);
	*ret_first = b.first_type;
	return n;
}

/* Feed a copy of fragment i of f (reassembly decrypts in place; f stays for resending). */
static int feed(struct ike_frag_rx *rx, const struct ike_sa_keys *sa, uint32_t msg_id,
		const struct ike_frags *f, uint16_t i, uint64_t now_ms)
{
	size_t len;
	const uint8_t *p = ike_frags_get(f, i, &len);
	uint8_t *copy;
	int rc;

	ck_assert_ptr_nonnull(p);
	copy = malloc(len);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, p, len);
	rc = ike_frag_rx_add(rx, sa, msg_id, copy, len, now_ms);
	free(copy);
	return rc;
}

static int feed_buf(struct ike_frag_rx *rx, const struct ike_sa_keys *sa, uint32_t msg_id,
		    const uint8_t *p, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	ck_assert_ptr_nonnull(copy);
	if (len)
		memcpy(copy, p, len);
	rc = ike_frag_rx_add(rx, sa, msg_id, copy, len, 0);
	free(copy);
	return rc;
}

/*
 * One SKF message with any fields, sealed with from's keys: for what ike_frag_seal() never
 * makes (more than 64 fragments, a non-first fragment naming a payload).
 */
static void craft(const struct ike_sa_keys *from, uint8_t exchange, bool response, uint32_t msg_id,
		  uint16_t num, uint16_t total, uint8_t inner, const uint8_t *p, size_t len,
		  struct ike_writer *w)
{
	struct ike_header h = { .major = IKE_VERSION_MAJOR, .exchange = exchange,
				.flags = (uint8_t)((from->initiator ? IKE_FLAG_INITIATOR : 0) |
						   (response ? IKE_FLAG_RESPONSE : 0)),
				.msg_id = msg_id };
	struct crypto_sk_dir dir = {
		from->suite.encr, from->suite.integ,
		crypto_ike_sk_e(&from->keys, from->initiator),
		crypto_ike_sk_a(&from->keys, from->initiator),
	};
	struct ike_pld_skf skf = { .frag_num = num, .total = total };
	struct ike_builder b;
	size_t off;

	memcpy(h.spi_i, from->spi_i, IKE_SPI_LEN);
	memcpy(h.spi_r, from->spi_r, IKE_SPI_LEN);
	w->len = 0;
	ck_assert_int_eq(ike_build_begin(&b, w, &h), 0);
	ck_assert_int_eq(ike_build_sk_begin(&b, inner, &skf, &off), 0);
	ck_assert_int_eq(crypto_sk_protect(&dir, w, off, p, len), 0);
}

/* Every fragment fits and carries the fields §2.5 asks for. */
static void check_train(const struct ike_frags *f, size_t max, uint8_t exchange, bool initiator,
			bool response, uint32_t msg_id, uint8_t first)
{
	for (uint16_t i = 0; i < f->n; i++) {
		size_t len;
		const uint8_t *p = ike_frags_get(f, i, &len);
		struct ike_msg m;

		ck_assert_ptr_nonnull(p);
		ck_assert_uint_le(len, max);
		ck_assert_int_eq(ike_msg_decode(p, len, &m, NULL), 0);
		ck_assert_uint_eq(m.hdr.next_payload, IKE_PLD_SKF);
		ck_assert_uint_eq(m.hdr.exchange, exchange);
		ck_assert_uint_eq(m.hdr.msg_id, msg_id);
		ck_assert_uint_eq(m.hdr.flags, (initiator ? IKE_FLAG_INITIATOR : 0) |
						(response ? IKE_FLAG_RESPONSE : 0));
		ck_assert(m.sk.present && m.sk.fragment);
		ck_assert_uint_eq(m.chain.n, 1);
		ck_assert_uint_eq(m.sk.skf.frag_num, i + 1);
		ck_assert_uint_eq(m.sk.skf.total, f->n);
		ck_assert_uint_eq(m.sk.inner_type, i == 0 ? first : IKE_PLD_NONE);
	}
	ck_assert_ptr_null(ike_frags_get(f, f->n, &(size_t){ 0 }));
}

/* The reassembled message is the one sent, and decodes as ike_sk_open() opens it whole. */
static void check_result(const struct ike_frag_rx *rx, const struct ike_sa_keys *from,
			 const struct ike_sa_keys *to, const struct ike_writer *plain, uint8_t first,
			 unsigned n_payloads, uint8_t exchange, bool response, uint32_t msg_id)
{
	struct ike_frag_msg fm;
	struct ike_header h, h2;
	struct ike_chain inner, whole;
	struct ike_writer sealed;

	ck_assert_int_eq(ike_frag_rx_message(rx, &fm), 0);
	ck_assert_uint_eq(fm.plain_len, plain->len);
	if (plain->len)
		ck_assert_mem_eq(fm.plain, plain->buf, plain->len);
	ck_assert_uint_eq(fm.first_type, first);
	ck_assert_uint_eq(fm.hdr.exchange, exchange);
	ck_assert_uint_eq(fm.hdr.msg_id, msg_id);
	ck_assert_uint_eq(!!(fm.hdr.flags & IKE_FLAG_RESPONSE), response);
	ck_assert_int_eq(ike_frag_rx_chain(rx, &h, &inner), 0);
	ck_assert_uint_eq(inner.n, n_payloads);
	ck_assert_uint_eq(h.msg_id, msg_id);

	ike_writer_init(&sealed, IKE_MAX_MSG_LEN);
	ck_assert_int_eq(ike_sk_seal(from, exchange, response, msg_id, plain, first, &sealed), 0);
	ck_assert_int_eq(ike_sk_open(to, sealed.buf, sealed.len, &h2, &whole), 0);
	ck_assert_uint_eq(whole.n, inner.n);
	ck_assert_uint_eq(h2.exchange, h.exchange);
	ck_assert_uint_eq(h2.flags, h.flags);
	for (uint8_t k = 0; k < inner.n; k++) {
		ck_assert_uint_eq(whole.pl[k].type, inner.pl[k].type);
		ck_assert_uint_eq(whole.pl[k].body_len, inner.pl[k].body_len);
		ck_assert_mem_eq(whole.pl[k].body, inner.pl[k].body, inner.pl[k].body_len);
	}
	ike_writer_clear(&sealed);
}

enum order { IN_ORDER, REVERSED, SHUFFLED, DUPLICATED, N_ORDERS };

static uint32_t rng = 0x2545f491;

static uint32_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

/* Seal plain_len bytes from one side, deliver in the order asked, check the result. */
static void round_trip(struct pair *p, bool from_i, size_t plain_len, size_t max, enum order ord)
{
	const struct ike_sa_keys *tx = from_i ? &p->i.k : &p->r.k, *to = from_i ? &p->r.k : &p->i.k;
	bool response = !from_i;
	uint8_t exchange = response ? IKE_EXCH_IKE_AUTH : IKE_EXCH_INFORMATIONAL, first;
	uint16_t seq[2 * IKE_FRAG_MAX_FRAGMENTS], n_seq = 0, n;
	struct ike_writer plain;
	struct ike_frags f;
	struct ike_frag_rx rx;
	unsigned n_payloads = make_chain(&plain, plain_len, &first);

	ike_frags_init(&f);
	ck_assert_int_eq(ike_frag_seal(tx, exchange, response, MSG_ID, &plain, first, max, &f), 0);
	n = f.n;
	ck_assert_uint_ge(n, 1);
	check_train(&f, max, exchange, tx->initiator, response, MSG_ID, first);
	switch (ord) {
	case IN_ORDER:
	case SHUFFLED:
		for (uint16_t i = 0; i < n; i++)
			seq[n_seq++] = i;
		for (uint16_t i = n - 1; ord == SHUFFLED && i > 0; i--) {
			uint16_t j = (uint16_t)(next_rand() % (i + 1u)), t = seq[i];

			seq[i] = seq[j];
			seq[j] = t;
		}
		break;
	case REVERSED:
		for (uint16_t i = n; i > 0; i--)
			seq[n_seq++] = i - 1;
		break;
	default:
		/* All but the last, all but the last again, then the last twice. */
		for (int round = 0; round < 2; round++)
			for (uint16_t i = 0; i + 1 < n; i++)
				seq[n_seq++] = i;
		seq[n_seq++] = n - 1;
		seq[n_seq++] = n - 1;
		break;
	}
	ike_frag_rx_init(&rx, response, NULL);
	{
		bool seen[IKE_FRAG_MAX_FRAGMENTS] = { false };
		uint16_t distinct = 0;
		bool done = false;

		for (uint16_t k = 0; k < n_seq; k++) {
			int rc = feed(&rx, to, MSG_ID, &f, seq[k], 1000 + k);
			int want;

			if (done)
				want = -EALREADY;
			else if (seen[seq[k]])
				want = IKE_FRAG_DUPLICATE;
			else if (++distinct == n)
				want = IKE_FRAG_COMPLETE;
			else
				want = IKE_FRAG_STORED;
			ck_assert_msg(rc == want,
				      "size %zu max %zu order %d: fragment %u of %u: %d, not %d",
				      plain_len, max, ord, seq[k] + 1, n, rc, want);
			seen[seq[k]] = true;
			done = done || rc == IKE_FRAG_COMPLETE;
		}
		ck_assert(done);
	}
	check_result(&rx, tx, to, &plain, first, n_payloads, exchange, response, MSG_ID);
	ike_frag_rx_clear(&rx);
	ike_frags_clear(&f);
	ike_writer_clear(&plain);
}

static void round_trips(bool gcm)
{
	static const size_t sizes[] = { 0, 5, 100, 1000, 1500, 3000, 10000, 29000 };
	static const size_t maxes[] = { 548, 1228 };
	struct pair p;

	make_pair(&p, gcm);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
		for (size_t m = 0; m < sizeof(maxes) / sizeof(maxes[0]); m++)
			for (int o = 0; o < N_ORDERS; o++)
				round_trip(&p, (s + (size_t)o) % 2 == 0, sizes[s], maxes[m], o);
	/* The biggest chain a writer holds, in 1228-byte fragments (IPv6 with NAT-T). */
	round_trip(&p, true, 60000, ike_frag_max_msg_len(IKE_FRAG_DGRAM_IPV6, true, true),
		   SHUFFLED);
	free_pair(&p);
}

START_TEST(test_fragment_round_trip_cbc_any_order_with_duplicates)
{
	round_trips(false);
}
END_TEST

START_TEST(test_fragment_round_trip_gcm_any_order_with_duplicates)
{
	round_trips(true);
}
END_TEST

static uint16_t seal_count(const struct ike_sa_keys *sa, size_t plain_len, size_t max,
			   struct ike_frags *f)
{
	struct ike_writer plain;
	uint8_t first;

	make_chain(&plain, plain_len, &first);
	ck_assert_int_eq(ike_frag_seal(sa, IKE_EXCH_INFORMATIONAL, false, MSG_ID, &plain, first,
				       max, f), 0);
	ike_writer_clear(&plain);
	return f->n;
}

/* Deliver every fragment of f in order to a new reassembly: the last completes. */
static void deliver(const struct ike_sa_keys *to, const struct ike_frags *f,
		    const struct ike_frag_limits *lim)
{
	struct ike_frag_rx rx;

	ike_frag_rx_init(&rx, false, lim);
	for (uint16_t i = 0; i < f->n; i++)
		ck_assert_int_eq(feed(&rx, to, MSG_ID, f, i, 0),
				 i + 1 == f->n ? IKE_FRAG_COMPLETE : IKE_FRAG_STORED);
	ike_frag_rx_clear(&rx);
}

static void at_the_limit(bool gcm)
{
	/* AES-CBC: whole messages come in 16-byte steps after 64 bytes, fragments after 68. */
	const size_t max_whole = 1264, max_frag = 1268;
	struct pair p;
	struct ike_frags f;
	bool hit = false;
	size_t chunk = 0, len;

	make_pair(&p, gcm);
	ike_frags_init(&f);
	/* §2.4: fragment only what does not fit whole; the length helper is the sealed length. */
	for (size_t s = 1150; s < 1260; s++) {
		struct ike_writer plain, sealed;
		uint8_t first;

		make_chain(&plain, s, &first);
		ike_writer_init(&sealed, IKE_MAX_MSG_LEN);
		ck_assert_int_eq(ike_sk_seal(&p.i.k, IKE_EXCH_INFORMATIONAL, false, 1, &plain, first,
					     &sealed), 0);
		ck_assert_uint_eq(ike_frag_sk_msg_len(&p.i.k, s), sealed.len);
		ck_assert_int_eq(ike_frag_needed(&p.i.k, s, max_whole), sealed.len > max_whole);
		if (sealed.len == max_whole) {
			hit = true;
			ck_assert(!ike_frag_needed(&p.i.k, s, max_whole));
		}
		ike_writer_clear(&sealed);
		ike_writer_clear(&plain);
	}
	ck_assert(hit);
	/* The largest data one fragment takes, and that it then fills max_frag exactly. */
	for (size_t s = 1100; s < 1300; s++)
		if (seal_count(&p.i.k, s, max_frag, &f) == 1)
			chunk = s;
	ck_assert_uint_eq(chunk, gcm ? max_frag - 60 - 1 : max_frag - 68 - 1);
	ck_assert_uint_eq(seal_count(&p.i.k, chunk, max_frag, &f), 1);
	ck_assert_ptr_nonnull(ike_frags_get(&f, 0, &len));
	ck_assert_uint_eq(len, max_frag);
	deliver(&p.r.k, &f, NULL);
	ck_assert_uint_eq(seal_count(&p.i.k, chunk + 1, max_frag, &f), 2);
	deliver(&p.r.k, &f, NULL);
	ck_assert_uint_eq(seal_count(&p.i.k, 2 * chunk, max_frag, &f), 2);
	for (uint16_t i = 0; i < 2; i++) {
		ck_assert_ptr_nonnull(ike_frags_get(&f, i, &len));
		ck_assert_uint_eq(len, max_frag);
	}
	deliver(&p.r.k, &f, NULL);
	ck_assert_uint_eq(seal_count(&p.i.k, 2 * chunk + 1, max_frag, &f), 3);
	deliver(&p.r.k, &f, NULL);
	ike_frags_clear(&f);
	free_pair(&p);
}

START_TEST(test_fragment_exactly_at_the_limit)
{
	at_the_limit(false);
	at_the_limit(true);
}
END_TEST

START_TEST(test_fragment_limit_helpers)
{
	struct pair p;
	struct ike_writer plain;
	struct ike_frags f;
	uint8_t first;

	/* §2.5.1: IP header, UDP header and the NAT-T non-ESP marker come off the datagram. */
	ck_assert_uint_eq(ike_frag_max_msg_len(IKE_FRAG_DGRAM_IPV6, true, true), 1280 - 40 - 8 - 4);
	ck_assert_uint_eq(ike_frag_max_msg_len(IKE_FRAG_DGRAM_IPV6, true, false), 1280 - 48);
	ck_assert_uint_eq(ike_frag_max_msg_len(IKE_FRAG_DGRAM_IPV4, false, false), 576 - 28);
	ck_assert_uint_eq(ike_frag_max_msg_len(IKE_FRAG_DGRAM_IPV4, false, true), 576 - 32);
	ck_assert_uint_eq(ike_frag_max_msg_len(32, false, true), 0);
	ck_assert_uint_eq(ike_frag_max_msg_len(200000, false, false), IKE_MAX_MSG_LEN);

	make_pair(&p, false);
	ike_frags_init(&f);
	make_chain(&plain, 60000, &first);
	/* More than 64 fragments: refused, not sent in part. */
	ck_assert_int_eq(ike_frag_seal(&p.i.k, IKE_EXCH_IKE_AUTH, false, 1, &plain, first, 548, &f),
			 -EMSGSIZE);
	ck_assert_uint_eq(f.n, 0);
	/* No room for a byte of data. */
	ck_assert_int_eq(ike_frag_seal(&p.i.k, IKE_EXCH_IKE_AUTH, false, 1, &plain, first, 69, &f),
			 -EINVAL);
	ck_assert_int_eq(ike_frag_seal(&p.i.k, IKE_EXCH_IKE_AUTH, false, 1, &plain, first, 0, &f),
			 -EINVAL);
	ck_assert_int_eq(ike_frag_seal(&p.i.k, IKE_EXCH_IKE_SA_INIT, false, 0, &plain, first, 1228,
				       &f), -EINVAL);
	ike_writer_clear(&plain);
	make_chain(&plain, 10, &first);
	ck_assert_int_eq(ike_frag_seal(&p.i.k, IKE_EXCH_IKE_AUTH, false, 1, &plain, first, 84, &f),
			 0);
	ck_assert_uint_eq(f.n, 1);	/* 84 = 68 + 16: 15 bytes of data fit */
	ike_writer_clear(&plain);
	ike_frags_clear(&f);
	ike_frags_clear(NULL);
	free_pair(&p);
}
END_TEST

static void tampered(bool gcm)
{
	struct pair p;
	struct ike_frags f;
	struct ike_frag_rx rx;
	struct ike_writer plain;
	uint8_t first, *copy;
	size_t len;
	const uint8_t *frag;

	make_pair(&p, gcm);
	ike_frags_init(&f);
	make_chain(&plain, 3000, &first);
	ck_assert_int_eq(ike_frag_seal(&p.i.k, IKE_EXCH_INFORMATIONAL, false, MSG_ID, &plain, first,
				       1228, &f), 0);
	ck_assert_uint_eq(f.n, 3);
	ike_frag_rx_init(&rx, false, NULL);
	ck_assert_int_eq(feed(&rx, &p.r.k, MSG_ID, &f, 0, 0), IKE_FRAG_STORED);

	frag = ike_frags_get(&f, 1, &len);
	copy = malloc(len);
	ck_assert_ptr_nonnull(copy);
	/* A flipped bit in the ciphertext: §2.6, not kept. */
	memcpy(copy, frag, len);
	copy[len / 2] ^= 0x01;
	ck_assert_int_eq(ike_frag_rx_add(&rx, &p.r.k, MSG_ID, copy, len, 0), -EACCES);
	/* A larger Total Fragments not from the peer restarts nothing: the ICV covers it. */
	memcpy(copy, frag, len);
	copy[IKE_HEADER_LEN + 7] = 9;
	ck_assert_int_eq(ike_frag_rx_add(&rx, &p.r.k, MSG_ID, copy, len, 0), -EACCES);
	/* A changed Fragment Number: the same. */
	memcpy(copy, frag, len);
	copy[IKE_HEADER_LEN + 5] = 3;
	ck_assert_int_eq(ike_frag_rx_add(&rx, &p.r.k, MSG_ID, copy, len, 0), -EACCES);
	/* The ICV itself. */
	memcpy(copy, frag, len);
	copy[len - 1] ^= 0x80;
	ck_assert_int_eq(ike_frag_rx_add(&rx, &p.r.k, MSG_ID, copy, len, 0), -EACCES);
	ck_assert_uint_eq(rx.received, 1);
	ck_assert_uint_eq(rx.total, 3);
	free(copy);

	/* The good copies complete it. */
	ck_assert_int_eq(feed(&rx, &p.r.k, MSG_ID, &f, 2, 0), IKE_FRAG_STORED);
	ck_assert_int_eq(feed(&rx, &p.r.k, MSG_ID, &f, 1, 0), IKE_FRAG_COMPLETE);
	check_result(&rx, &p.i.k, &p.r.k, &plain, first, 3, IKE_EXCH_INFORMATIONAL, false, MSG_ID);
	ike_frag_rx_clear(&rx);
	ike_frags_clear(&f);
	ike_writer_clear(&plain);
	free_pair(&p);
}

START_TEST(test_fragment_tampered_is_dropped_and_the_good_copy_completes)
{
	tampered(false);
	tampered(true);
}
END_TEST

START_TEST(test_fragment_larger_total_restarts_smaller_is_dropped)
{
	struct pair p;
	struct ike_frags big, small, other;
	struct ike_frag_rx rx;
	struct ike_writer plain;
	uint8_t first;

	make_pair(&p, true);
	ike_frags_init(&big);
	ike_frags_init(&small);
	ike_frags_init(&other);
	make_chain(&plain, 3000, &first);
	/* The same message sent in 1228-byte fragments, then again smaller (§2.5.2 PMTU). */
	ck_assert_int_eq(ike_frag_seal(&p.r.k, IKE_EXCH_IKE_AUTH, true, 1, &plain, first, 1228,
				       &big), 0);
	ck_assert_int_eq(ike_frag_seal(&p.r.k, IKE_EXCH_IKE_AUTH, true, 1, &plain, first, 548,
				       &small), 0);
	ck_assert_uint_eq(big.n, 3);
	ck_assert_uint_eq(small.n, 7);
	ike_frag_rx_init(&rx, true, NULL);
	ck_assert_int_eq(feed(&rx, &p.i.k, 1, &big, 0, 0), IKE_FRAG_STORED);
	ck_assert_int_eq(feed(&rx, &p.i.k, 1, &big, 2, 0), IKE_FRAG_STORED);
	/* §2.6: a larger total for the message ID: start over with it. */
	ck_assert_int_eq(feed(&rx, &p.i.k, 1, &small, 4, 0), IKE_FRAG_RESTARTED);
	ck_assert_uint_eq(rx.total, 7);
	ck_assert_uint_eq(rx.received, 1);
	/* §2.6: a smaller one now is from before: dropped. */
	ck_assert_int_eq(feed(&rx, &p.i.k, 1, &big, 1, 0), -EPROTO);
	ck_assert_int_eq(feed(&rx, &p.i.k, 1, &big, 0, 0), -EPROTO);
	/* The same message ID and total in another exchange does not belong to it. */
	ck_assert_int_eq(ike_frag_seal(&p.r.k, IKE_EXCH_INFORMATIONAL, true, 1, &plain, first, 548,
				       &other), 0);
	ck_assert_int_eq(feed(&rx, &p.i.k, 1, &other, 0, 0), -EPROTO);
	for (uint16_t i = 0; i < 7; i++)
		if (i != 4)
			ck_assert_int_eq(feed(&rx, &p.i.k, 1, &small, i, 0),
					 i == 6 ? IKE_FRAG_COMPLETE : IKE_FRAG_STORED);
	check_result(&rx, &p.r.k, &p.i.k, &plain, first, 3, IKE_EXCH_IKE_AUTH, true, 1);
	ike_frag_rx_clear(&rx);
	ike_frags_clear(&big);
	ike_frags_clear(&small);
	ike_frags_clear(&other);
	ike_writer_clear(&plain);
	free_pair(&p);
}
END_TEST

START_TEST(test_fragment_over_the_bounds_is_refused)
{
	static uint8_t data[1100];
	struct ike_frag_limits lim = { .max_fragments = 4, .max_bytes = 2000 };
	struct pair p;
	struct ike_frag_rx rx;
	struct ike_frags f;
	struct ike_writer w;

	make_pair(&p, false);
	ike_frags_init(&f);
	ike_writer_init(&w, IKE_MAX_MSG_LEN);
	memset(data, 0x5a, sizeof(data));
	ike_frag_rx_init(&rx, false, NULL);
	ck_assert_uint_eq(rx.lim.max_fragments, IKE_FRAG_MAX_FRAGMENTS);
	ck_assert_uint_eq(rx.lim.max_bytes, IKE_FRAG_MAX_BYTES);

	/* Total Fragments past the limit: refused before any work, nothing kept. */
	craft(&p.i.k, IKE_EXCH_IKE_AUTH, false, MSG_ID, 1, IKE_FRAG_MAX_FRAGMENTS + 1, IKE_PLD_VENDOR,
	      data, 100, &w);
	ck_assert_int_eq(feed_buf(&rx, &p.r.k, MSG_ID, w.buf, w.len), -EMSGSIZE);
	ck_assert(!rx.active);
	craft(&p.i.k, IKE_EXCH_IKE_AUTH, false, MSG_ID, 65535, 65535, IKE_PLD_NONE, data, 100, &w);
	ck_assert_int_eq(feed_buf(&rx, &p.r.k, MSG_ID, w.buf, w.len), -EMSGSIZE);
	ck_assert(!rx.active);

	/* 64 fragments of 1100 bytes pass 64 KiB at the 60th: the whole message goes. */
	for (uint16_t i = 1; i <= 60; i++) {
		craft(&p.i.k, IKE_EXCH_IKE_AUTH, false, MSG_ID, i, IKE_FRAG_MAX_FRAGMENTS,
		      i == 1 ? IKE_PLD_VENDOR : IKE_PLD_NONE, data, sizeof(data), &w);
		ck_assert_int_eq(feed_buf(&rx, &p.r.k, MSG_ID, w.buf, w.len),
				 i < 60 ? IKE_FRAG_STORED : -EMSGSIZE);
	}
	ck_assert(!rx.active);
	ck_assert_uint_eq(rx.bytes, 0);
	ike_frag_rx_clear(&rx);

	/* Lower limits of the caller's. */
	ike_frag_rx_init(&rx, false, &lim);
	ck_assert_uint_eq(rx.lim.max_fragments, 4);
	ck_assert_uint_eq(rx.lim.max_bytes, 2000);
	ck_assert_uint_eq(rx.lim.timeout_ms, IKE_FRAG_TIMEOUT_MS);
	ck_assert_uint_eq(seal_count(&p.i.k, 2300, 548, &f), 5);
	for (uint16_t i = 0; i < f.n; i++)
		ck_assert_int_eq(feed(&rx, &p.r.k, MSG_ID, &f, i, 0), -EMSGSIZE);
	ck_assert(!rx.active);
	ck_assert_uint_eq(seal_count(&p.i.k, 2200, 1228, &f), 2);
	ck_assert_int_eq(feed(&rx, &p.r.k, MSG_ID, &f, 1, 0), IKE_FRAG_STORED);
	ck_assert_int_eq(feed(&rx, &p.r.k, MSG_ID, &f, 0, 0), -EMSGSIZE);
	ck_assert(!rx.active);
	/* Within them it works. */
	ck_assert_uint_eq(seal_count(&p.i.k, 1900, 548, &f), 4);
	deliver(&p.r.k, &f, &lim);
	ike_frag_rx_clear(&rx);
	ike_frag_rx_clear(NULL);
	ike_writer_clear(&w);
	ike_frags_clear(&f);
	free_pair(&p);
}
END_TEST

START_TEST(test_fragment_other_message_id_is_ignored)
{
	struct pair p;
	struct ike_frags f5, f6;
	struct ike_frag_rx rx;
	struct ike_writer plain;
	uint8_t first;

	make_pair(&p, false);
	ike_frags_init(&f5);
	ike_frags_init(&f6);
	make_chain(&plain, 2000, &first);
	ck_assert_int_eq(ike_frag_seal(&p.i.k, IKE_EXCH_INFORMATIONAL, false, 5, &plain, first, 548,
				       &f5), 0);
	ck_assert_int_eq(ike_frag_seal(&p.i.k, IKE_EXCH_INFORMATIONAL, false, 6, &plain, first, 548,
				       &f6), 0);
	ike_frag_rx_init(&rx, false, NULL);
	ck_assert_int_eq(feed(&rx, &p.r.k, 5, &f5, 0, 0), IKE_FRAG_STORED);
	/* Expecting 5: fragments of 6 are dropped, what is held for 5 stays. */
	for (uint16_t i = 0; i < f6.n; i++)
		ck_assert_int_eq(feed(&rx, &p.r.k, 5, &f6, i, 0), -ESTALE);
	ck_assert_uint_eq(rx.msg_id, 5);
	ck_assert_uint_eq(rx.received, 1);
	for (uint16_t i = 1; i < f5.n; i++)
		ck_assert_int_eq(feed(&rx, &p.r.k, 5, &f5, i, 0),
				 i + 1 == f5.n ? IKE_FRAG_COMPLETE : IKE_FRAG_STORED);
	/* The caller moved on to 6: 5 is gone, a late fragment of it is stale. */
	ck_assert_int_eq(feed(&rx, &p.r.k, 6, &f5, 1, 0), -ESTALE);
	ck_assert(!rx.active);
	ck_assert_int_eq(ike_frag_rx_message(&rx, &(struct ike_frag_msg){ 0 }), -EINPROGRESS);
	ck_assert_int_eq(feed(&rx, &p.r.k, 6, &f6, 0, 0), IKE_FRAG_STORED);
	ck_assert_uint_eq(rx.msg_id, 6);
	ike_frag_rx_clear(&rx);
	ike_frags_clear(&f5);
	ike_frags_clear(&f6);
	ike_writer_clear(&plain);
	free_pair(&p);
}
END_TEST

START_TEST(test_fragment_single_and_empty_messages)
{
	struct pair p;
	struct ike_frags f;
	struct ike_frag_rx rx;
	struct ike_writer plain;
	struct ike_header h;
	struct ike_chain inner;
	uint8_t first;

	make_pair(&p, true);
	ike_frags_init(&f);
	ike_frag_rx_init(&rx, false, NULL);
	/* 1 of 1: complete at once. */
	make_chain(&plain, 300, &first);
	ck_assert_int_eq(ike_frag_seal(&p.i.k, IKE_EXCH_INFORMATIONAL, false, 2, &plain, first, 1228,
				       &f), 0);
	ck_assert_uint_eq(f.n, 1);
	check_train(&f, 1228, IKE_EXCH_INFORMATIONAL, true, false, 2, first);
	ck_assert_int_eq(ike_frag_rx_message(&rx, &(struct ike_frag_msg){ 0 }), -EINPROGRESS);
	ck_assert_int_eq(feed(&rx, &p.r.k, 2, &f, 0, 0), IKE_FRAG_COMPLETE);
	ck_assert_int_eq(feed(&rx, &p.r.k, 2, &f, 0, 0), -EALREADY);
	check_result(&rx, &p.i.k, &p.r.k, &plain, first, 1, IKE_EXCH_INFORMATIONAL, false, 2);
	ike_frag_rx_reset(&rx);
	ck_assert_int_eq(ike_frag_rx_chain(&rx, &h, &inner), -EINPROGRESS);
	ike_writer_clear(&plain);
	/* An empty chain (a liveness check) is one fragment with no data. */
	make_chain(&plain, 0, &first);
	ck_assert_uint_eq(first, IKE_PLD_NONE);
	ck_assert_int_eq(ike_frag_seal(&p.i.k, IKE_EXCH_INFORMATIONAL, false, 3, &plain, first, 548,
				       &f), 0);
	ck_assert_uint_eq(f.n, 1);
	ck_assert_int_eq(feed(&rx, &p.r.k, 3, &f, 0, 0), IKE_FRAG_COMPLETE);
	ck_assert_int_eq(ike_frag_rx_chain(&rx, &h, &inner), 0);
	ck_assert_uint_eq(inner.n, 0);
	ike_frag_rx_clear(&rx);
	ike_frags_clear(&f);
	ike_writer_clear(&plain);
	free_pair(&p);
}
END_TEST

START_TEST(test_fragment_partial_message_expires)
{
	struct ike_frag_limits lim = { .timeout_ms = 5000 };
	struct pair p;
	struct ike_frags f;
	struct ike_frag_rx rx;

	make_pair(&p, false);
	ike_frags_init(&f);
	ck_assert_uint_eq(seal_count(&p.i.k, 2000, 548, &f), 5);
	ike_frag_rx_init(&rx, false, &lim);
	ck_assert_uint_eq(ike_frag_rx_deadline_ms(&rx), 0);
	ck_assert(!ike_frag_rx_expire(&rx, 1000));
	ck_assert_int_eq(feed(&rx, &p.r.k, MSG_ID, &f, 0, 10000), IKE_FRAG_STORED);
	ck_assert_uint_eq(ike_frag_rx_deadline_ms(&rx), 15000);
	ck_assert_int_eq(feed(&rx, &p.r.k, MSG_ID, &f, 1, 14999), IKE_FRAG_STORED);
	ck_assert(!ike_frag_rx_expire(&rx, 14999));
	ck_assert(ike_frag_rx_expire(&rx, 15000));
	ck_assert(!rx.active);
	ck_assert_uint_eq(ike_frag_rx_deadline_ms(&rx), 0);
	/* Fed after the deadline, the old parts go and this one starts anew. */
	ck_assert_int_eq(feed(&rx, &p.r.k, MSG_ID, &f, 0, 20000), IKE_FRAG_STORED);
	ck_assert_int_eq(feed(&rx, &p.r.k, MSG_ID, &f, 1, 40000), IKE_FRAG_STORED);
	ck_assert_uint_eq(rx.received, 1);
	ck_assert_uint_eq(ike_frag_rx_deadline_ms(&rx), 45000);
	for (uint16_t i = 0; i < f.n; i++)
		if (i != 1)
			ck_assert_int_eq(feed(&rx, &p.r.k, MSG_ID, &f, i, 44000),
					 i + 1 == f.n ? IKE_FRAG_COMPLETE : IKE_FRAG_STORED);
	/* A complete message does not expire: it waits for the caller. */
	ck_assert(!ike_frag_rx_expire(&rx, UINT64_MAX));
	ck_assert_int_eq(ike_frag_rx_message(&rx, &(struct ike_frag_msg){ 0 }), 0);
	ike_frag_rx_clear(&rx);
	ike_frags_clear(&f);
	free_pair(&p);
}
END_TEST

START_TEST(test_fragment_not_ours_or_wrong_direction_is_dropped)
{
	struct pair p, q;
	struct ike_frags f;
	struct ike_frag_rx rx, rx_resp;
	struct ike_writer plain, sealed, w;
	struct ike_frag_piece pc;
	uint8_t first, junk[64];
	size_t len;
	const uint8_t *frag;

	make_pair(&p, false);
	make_pair(&q, false);
	ike_frags_init(&f);
	ike_writer_init(&sealed, IKE_MAX_MSG_LEN);
	ike_writer_init(&w, IKE_MAX_MSG_LEN);
	make_chain(&plain, 1500, &first);
	ck_assert_int_eq(ike_frag_seal(&p.i.k, IKE_EXCH_INFORMATIONAL, false, MSG_ID, &plain, first,
				       1228, &f), 0);
	ike_frag_rx_init(&rx, false, NULL);
	ike_frag_rx_init(&rx_resp, true, NULL);
	/* Our own fragments reflected back (I flag), into the wrong direction, another SA. */
	ck_assert_int_eq(feed(&rx, &p.i.k, MSG_ID, &f, 0, 0), -EPROTO);
	ck_assert_int_eq(feed(&rx_resp, &p.r.k, MSG_ID, &f, 0, 0), -EPROTO);
	ck_assert_int_eq(feed(&rx, &q.r.k, MSG_ID, &f, 0, 0), -EPROTO);
	/* An unfragmented SK message is ike_sk_open()'s, not ours. */
	ck_assert_int_eq(ike_sk_seal(&p.i.k, IKE_EXCH_INFORMATIONAL, false, MSG_ID, &plain, first,
				     &sealed), 0);
	ck_assert_int_eq(feed_buf(&rx, &p.r.k, MSG_ID, sealed.buf, sealed.len), -EPROTO);
	/* IKE_SA_INIT is never fragmented (§2.4). */
	craft(&p.i.k, IKE_EXCH_IKE_SA_INIT, false, MSG_ID, 1, 1, IKE_PLD_NONE, NULL, 0, &w);
	ck_assert_int_eq(feed_buf(&rx, &p.r.k, MSG_ID, w.buf, w.len), -EPROTO);
	/* Garbage and every truncation of a good fragment. */
	memset(junk, 0xee, sizeof(junk));
	ck_assert_int_eq(feed_buf(&rx, &p.r.k, MSG_ID, junk, sizeof(junk)), -EBADMSG);
	frag = ike_frags_get(&f, 0, &len);
	for (size_t n = 0; n < len; n++)
		ck_assert_int_eq(feed_buf(&rx, &p.r.k, MSG_ID, frag, n), -EBADMSG);
	ck_assert(!rx.active && !rx_resp.active);
	/* A non-first fragment that names a payload anyway: only fragment 1's counts (§2.5). */
	craft(&p.i.k, IKE_EXCH_INFORMATIONAL, false, 9, 2, 2, IKE_PLD_DELETE, plain.buf + 700,
	      plain.len - 700, &w);
	ck_assert_int_eq(feed_buf(&rx, &p.r.k, 9, w.buf, w.len), IKE_FRAG_STORED);
	craft(&p.i.k, IKE_EXCH_INFORMATIONAL, false, 9, 1, 2, first, plain.buf, 700, &w);
	ck_assert_int_eq(feed_buf(&rx, &p.r.k, 9, w.buf, w.len), IKE_FRAG_COMPLETE);
	check_result(&rx, &p.i.k, &p.r.k, &plain, first, 2, IKE_EXCH_INFORMATIONAL, false, 9);
	/* One fragment opened alone, as for a retransmitted request (§2.6.1). */
	craft(&p.i.k, IKE_EXCH_INFORMATIONAL, false, 9, 1, 2, first, plain.buf, 700, &w);
	ck_assert_int_eq(ike_frag_open(&p.r.k, w.buf, w.len, &pc), 0);
	ck_assert_uint_eq(pc.skf.frag_num, 1);
	ck_assert_uint_eq(pc.skf.total, 2);
	ck_assert_uint_eq(pc.inner_type, first);
	ck_assert_uint_eq(pc.hdr.msg_id, 9);
	ck_assert_uint_eq(pc.plain_len, 700);
	ck_assert_mem_eq(pc.plain, plain.buf, 700);
	ike_frag_rx_clear(&rx);
	ike_frag_rx_clear(&rx_resp);
	ike_frags_clear(&f);
	ike_writer_clear(&plain);
	ike_writer_clear(&sealed);
	ike_writer_clear(&w);
	free_pair(&p);
	free_pair(&q);
}
END_TEST

/* Fragment i of f through ike_frag_rx_take() (a copy: it decrypts in place). */
static int take(struct ike_frag_rx **rxp, const struct ike_sa_keys *sa, uint32_t msg_id,
		const struct ike_frags *f, uint16_t i, struct ike_header *h, struct ike_chain *inner)
{
	size_t len;
	const uint8_t *p = ike_frags_get(f, i, &len);
	uint8_t copy[IKE_MAX_MSG_LEN];

	ck_assert_ptr_nonnull(p);
	memcpy(copy, p, len);
	return ike_frag_rx_take(rxp, sa, false, msg_id, copy, len, h, inner);
}

START_TEST(test_fragment_take_allocates_only_while_holding)
{
	struct pair p;
	struct ike_writer plain, junk;
	struct ike_frags f;
	struct ike_frag_rx *rx = NULL;
	struct ike_header h;
	struct ike_chain inner;
	uint8_t first;
	size_t len;
	const uint8_t *one;

	make_pair(&p, false);
	ike_frags_init(&f);
	(void)make_chain(&plain, 300, &first);
	ck_assert_int_eq(ike_frag_seal(&p.i.k, IKE_EXCH_INFORMATIONAL, false, MSG_ID, &plain, first,
				       200, &f), 0);
	ck_assert_uint_ge(f.n, 3);
	/* An SKF message, as its header says; a whole SK message is not. */
	one = ike_frags_get(&f, 0, &len);
	ck_assert(ike_frag_is_skf(one, len, &h));
	ck_assert_uint_eq(h.msg_id, MSG_ID);
	ck_assert(!ike_frag_is_skf(one, len - 1, &h));
	/* Refused (another message ID): nothing is left allocated. */
	ck_assert_int_eq(take(&rx, &p.r.k, MSG_ID + 1, &f, 0, &h, &inner), -ESTALE);
	ck_assert_ptr_null(rx);
	for (uint16_t i = 0; i + 1 < f.n; i++) {
		ck_assert_int_eq(take(&rx, &p.r.k, MSG_ID, &f, i, &h, &inner), -EINPROGRESS);
		ck_assert_int_eq(take(&rx, &p.r.k, MSG_ID, &f, i, &h, &inner), -EALREADY);
		ck_assert_ptr_nonnull(rx);
	}
	ck_assert_int_eq(take(&rx, &p.r.k, MSG_ID, &f, (uint16_t)(f.n - 1), &h, &inner), 0);
	ck_assert_uint_eq(h.exchange, IKE_EXCH_INFORMATIONAL);
	ck_assert_uint_eq(inner.n, 1);
	ck_assert_uint_eq(inner.pl[0].type, IKE_PLD_VENDOR);
	ike_frag_rx_drop(&rx);
	ck_assert_ptr_null(rx);

	/* Whole but not a payload chain: dropped whole, nothing stays. */
	ike_writer_init(&junk, IKE_MAX_MSG_LEN);
	for (unsigned i = 0; i < 300; i++)
		ck_assert_int_eq(ike_writer_u8(&junk, 0xff), 0);
	ck_assert_int_eq(ike_frag_seal(&p.i.k, IKE_EXCH_INFORMATIONAL, false, MSG_ID, &junk,
				       IKE_PLD_VENDOR, 200, &f), 0);
	for (uint16_t i = 0; i + 1 < f.n; i++)
		ck_assert_int_eq(take(&rx, &p.r.k, MSG_ID, &f, i, &h, &inner), -EINPROGRESS);
	ck_assert_int_eq(take(&rx, &p.r.k, MSG_ID, &f, (uint16_t)(f.n - 1), &h, &inner), -EBADMSG);
	ck_assert_ptr_null(rx);
	ike_writer_clear(&junk);
	ike_writer_clear(&plain);
	ike_frags_clear(&f);
	free_pair(&p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ike_fragment");
	TCase *tc = tcase_create("fragment");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_fragment_round_trip_cbc_any_order_with_duplicates);
	tcase_add_test(tc, test_fragment_round_trip_gcm_any_order_with_duplicates);
	tcase_add_test(tc, test_fragment_exactly_at_the_limit);
	tcase_add_test(tc, test_fragment_limit_helpers);
	tcase_add_test(tc, test_fragment_tampered_is_dropped_and_the_good_copy_completes);
	tcase_add_test(tc, test_fragment_larger_total_restarts_smaller_is_dropped);
	tcase_add_test(tc, test_fragment_over_the_bounds_is_refused);
	tcase_add_test(tc, test_fragment_other_message_id_is_ignored);
	tcase_add_test(tc, test_fragment_single_and_empty_messages);
	tcase_add_test(tc, test_fragment_partial_message_expires);
	tcase_add_test(tc, test_fragment_not_ours_or_wrong_direction_is_dropped);
	tcase_add_test(tc, test_fragment_take_allocates_only_while_holding);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
