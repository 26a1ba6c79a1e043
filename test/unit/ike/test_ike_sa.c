/*
 * lib/ike/ike_sa.c: an IKE SA established in memory (IKE_SA_INIT + IKE_AUTH), then
 * INFORMATIONAL both ways: liveness checks, the window of one, retransmissions answered from
 * the cache and processed once, Delete of Child SAs and of the IKE SA, and what is dropped;
 * requests and responses in fragments (RFC 7383), a fragmented retransmission answered on its
 * fragment 1 only, and fragments that change nothing.
 */
#include <arpa/inet.h>

#include "fragmenter.h"
#include "ike_samples.h"
#include "ike/ike_auth.h"
#include "ike/ike_sa.h"
#include "ike/sk_msg.h"
#include "ike/ts.h"

#define T(type_, id_, bits_) \
	((struct ike_transform){ .type = (type_), .id = (id_), .key_bits = (bits_) })

static struct ike_pld_sa esp;
static struct ike_child_cfg child_cfg;
static struct secret psk;

static int lookup(void *arg, const struct ike_pld_id *idi,
			const struct ike_pld_id *idr, struct ike_auth_peer *ret)
{
	(void)arg;
	(void)idi;
	ret->psk = &psk;
	ret->child = &child_cfg;
	ret->id = (struct ike_pld_id){ .type = IKE_ID_FQDN, .data = (const uint8_t *)"pop", .len = 3 };
	return 0;
}

/* A branch (initiator) and a POP (responder) with an IKE SA and one Child SA. */
static void establish(struct ike_sa *bsa, struct ike_sa *psa)
{
	static struct ike_pld_sa ike;
	struct ike_init_cfg cfg = { .proposals = &ike, .dh_group = IKE_DH_MODP_2048,
				    .fragmentation = true };
	struct ike_endpoint a = { .addr = { 192, 0, 2, 1 }, .addr_len = 4, .port = 500 };
	struct ike_endpoint b = { .addr = { 198, 51, 100, 1 }, .addr_len = 4, .port = 500 };
	struct ike_pld_id idi = { .type = IKE_ID_FQDN, .data = (const uint8_t *)"b", .len = 1 }, seen;
	struct ike_init i, r;
	struct ike_writer req, resp;
	struct ike_child ci, cr;
	uint16_t ni, nr;

	sample_proposal(&ike);
	esp = (struct ike_pld_sa){ .n = 1 };
	esp.p[0] = (struct ike_proposal){ .num = 1, .protocol = IKE_PROTO_ESP, .n_transforms = 2,
		.t = { T(IKE_TRANSFORM_ENCR, IKE_ENCR_AES_GCM_16, 128), T(IKE_TRANSFORM_ESN, 0, 0) } };
	child_cfg = (struct ike_child_cfg){ .proposals = &esp, .local = { .n = 1 },
					    .remote = { .n = 1 } };
	ike_ts_from_prefix(&child_cfg.local.ts[0], AF_INET, (const uint8_t *)"\0\0\0\0", 0);
	child_cfg.remote = child_cfg.local;
	secret_clear(&psk);
	ck_assert_int_eq(secret_set(&psk, "k", 1), 0);
	ike_writer_init(&req, IKE_MAX_MSG_LEN);
	ike_writer_init(&resp, IKE_MAX_MSG_LEN);
	ck_assert_int_eq(ike_init_start(&i, &cfg, &a, &b, &req), 0);
	ck_assert_int_eq(ike_init_respond(&r, &cfg, NULL, req.buf, req.len, &b, &a, &resp),
			 IKE_INIT_DONE);
	ck_assert_int_eq(ike_init_on_response(&i, &cfg, resp.buf, resp.len, &a, &b, &req),
			 IKE_INIT_DONE);
	ck_assert_int_eq(ike_auth_request(&i, &idi, &psk, false, &child_cfg, 0x1111, &req), 0);
	ck_assert_int_eq(ike_auth_respond(&r, lookup, NULL, 0x2222, req.buf, req.len, &resp, &cr,
					  &seen, &nr), IKE_AUTH_DONE);
	ck_assert_int_eq(ike_auth_on_response(&i, &psk, &child_cfg, 0x1111, NULL, resp.buf,
					      resp.len, &ci, &ni), IKE_AUTH_DONE);
	ike_child_clear(&ci);
	ike_child_clear(&cr);
	ike_sa_from_init(bsa, &i);
	ike_sa_from_init(psa, &r);
	ike_writer_clear(&req);
	ike_writer_clear(&resp);
}

static void teardown(struct ike_sa *a, struct ike_sa *b)
{
	ike_sa_clear(a);
	ike_sa_clear(b);
	secret_clear(&psk);
}

START_TEST(test_ike_sa_dpd_both_ways_and_the_window)
{
	struct ike_sa b, p;
	struct ike_writer m, reply;
	struct ike_sa_rx rx;

	establish(&b, &p);
	ike_writer_init(&m, IKE_MAX_MSG_LEN);
	ike_writer_init(&reply, IKE_MAX_MSG_LEN);
	/* The branch's first request after IKE_AUTH carries ID 2. */
	ck_assert_int_eq(ike_sa_dpd_request(&b, &m), 0);
	ck_assert_uint_eq(b.next_req, 3);
	ck_assert_int_eq(ike_sa_dpd_request(&b, &m), -EBUSY);	/* window of one */
	ck_assert_int_eq(ike_sa_receive(&p, m.buf, m.len, NULL, NULL, &reply, &rx), 0);
	ck_assert_int_eq(rx.event, IKE_SA_EV_REPLY);
	ck_assert_uint_eq(p.peer_next, 3);
	{
		/* Receiving decrypts in place: keep the bytes to deliver them a second time. */
		struct ike_writer again;

		ike_writer_init(&again, IKE_MAX_MSG_LEN);
		ck_assert_int_eq(ike_writer_bytes(&again, reply.buf, reply.len), 0);
		ck_assert_int_eq(ike_sa_receive(&b, reply.buf, reply.len, NULL, NULL, &m, &rx), 0);
		ck_assert_int_eq(rx.event, IKE_SA_EV_ANSWERED);
		ck_assert(!b.waiting);
		/* The same response again is not an answer to anything. */
		ck_assert_int_eq(ike_sa_receive(&b, again.buf, again.len, NULL, NULL, &m, &rx),
				 -EPROTO);
		ike_writer_clear(&again);
	}
	/* The POP checks the branch: its IDs start at 0. */
	ck_assert_int_eq(ike_sa_dpd_request(&p, &m), 0);
	ck_assert_int_eq(ike_sa_receive(&b, m.buf, m.len, NULL, NULL, &reply, &rx), 0);
	ck_assert_int_eq(rx.event, IKE_SA_EV_REPLY);
	ck_assert_int_eq(ike_sa_receive(&p, reply.buf, reply.len, NULL, NULL, &m, &rx), 0);
	ck_assert_int_eq(rx.event, IKE_SA_EV_ANSWERED);
	ike_writer_clear(&m);
	ike_writer_clear(&reply);
	teardown(&b, &p);
}
END_TEST

START_TEST(test_ike_sa_retransmitted_request_gets_the_cached_reply)
{
	struct ike_sa b, p;
	struct ike_writer m, copy, reply1, reply2;
	struct ike_sa_rx rx;

	establish(&b, &p);
	ike_writer_init(&m, IKE_MAX_MSG_LEN);
	ike_writer_init(&copy, IKE_MAX_MSG_LEN);
	ike_writer_init(&reply1, IKE_MAX_MSG_LEN);
	ike_writer_init(&reply2, IKE_MAX_MSG_LEN);
	ck_assert_int_eq(ike_sa_dpd_request(&b, &m), 0);
	ck_assert_int_eq(ike_sa_retransmit(&b, &copy), 0);	/* the timer fired: same bytes */
	ck_assert_uint_eq(copy.len, m.len);
	ck_assert_mem_eq(copy.buf, m.buf, m.len);
	ck_assert_int_eq(ike_sa_receive(&p, m.buf, m.len, NULL, NULL, &reply1, &rx), 0);
	ck_assert_int_eq(ike_sa_receive(&p, copy.buf, copy.len, NULL, NULL, &reply2, &rx), 0);
	ck_assert_int_eq(rx.event, IKE_SA_EV_RESENT);
	ck_assert_uint_eq(p.peer_next, 3);	/* processed once */
	ck_assert_uint_eq(reply2.len, reply1.len);
	ck_assert_mem_eq(reply2.buf, reply1.buf, reply1.len);
	ike_writer_clear(&m);
	ike_writer_clear(&copy);
	ike_writer_clear(&reply1);
	ike_writer_clear(&reply2);
	teardown(&b, &p);
}
END_TEST

static uint32_t pop_map(void *arg, uint32_t peer_spi)
{
	(void)arg;
	/* The POP's inbound SPI for the branch's Child SA 0x1111 is 0x2222. */
	return peer_spi == 0x1111 ? 0x2222 : 0;
}

START_TEST(test_ike_sa_delete_child_and_ike)
{
	struct ike_sa b, p;
	struct ike_writer m, reply;
	struct ike_sa_rx rx;
	const uint32_t spis[] = { 0x1111, 0x9999 };
	struct ike_header h;
	struct ike_chain inner;
	struct ike_pld_delete d;
	struct ike_reader r;

	establish(&b, &p);
	ike_writer_init(&m, IKE_MAX_MSG_LEN);
	ike_writer_init(&reply, IKE_MAX_MSG_LEN);
	/* More SPIs than one Delete of ours carries: refused, nothing outstanding. */
	{
		uint32_t many[IKE_SA_MAX_DELETE_OUT + 1] = { 0 };

		ck_assert_int_eq(ike_sa_delete_child_request(&b, many, IKE_SA_MAX_DELETE_OUT + 1,
							     &m), -EINVAL);
		ck_assert(!b.waiting);
	}
	/* The branch deletes its inbound 0x1111 (and an SPI the POP does not know). */
	ck_assert_int_eq(ike_sa_delete_child_request(&b, spis, 2, &m), 0);
	ck_assert_int_eq(ike_sa_receive(&p, m.buf, m.len, pop_map, NULL, &reply, &rx), 0);
	ck_assert_int_eq(rx.event, IKE_SA_EV_REPLY);
	ck_assert_uint_eq(rx.n_child_deleted, 1);
	ck_assert_uint_eq(rx.child_deleted[0], 0x1111);
	/* The reply deletes the POP's own half (looked at in a copy: opening decrypts in place). */
	{
		struct ike_writer copy;

		ike_writer_init(&copy, IKE_MAX_MSG_LEN);
		ck_assert_int_eq(ike_writer_bytes(&copy, reply.buf, reply.len), 0);
		ck_assert_int_eq(ike_sa_receive(&b, copy.buf, copy.len, NULL, NULL, &m, &rx), 0);
		ck_assert_int_eq(rx.event, IKE_SA_EV_ANSWERED);
		ike_writer_clear(&copy);
	}
	ck_assert_int_eq(ike_sk_open(&b.k, reply.buf, reply.len, &h, &inner), 0);
	ck_assert_uint_eq(inner.n, 1);
	r = (struct ike_reader){ .p = inner.pl[0].body, .len = inner.pl[0].body_len };
	ck_assert_int_eq(ike_pld_delete_decode(&r, &d, NULL), 0);
	ck_assert_uint_eq(d.n_spis, 1);
	ck_assert_mem_eq(d.spis, "\0\0\x22\x22", 4);
	/* Then the POP deletes the IKE SA. */
	ck_assert_int_eq(ike_sa_delete_request(&p, &m), 0);
	ck_assert_int_eq(ike_sa_receive(&b, m.buf, m.len, NULL, NULL, &reply, &rx), 0);
	ck_assert_int_eq(rx.event, IKE_SA_EV_DELETED);
	ck_assert_int_eq(ike_sa_receive(&p, reply.buf, reply.len, NULL, NULL, &m, &rx), 0);
	ck_assert_int_eq(rx.event, IKE_SA_EV_ANSWERED);
	ike_writer_clear(&m);
	ike_writer_clear(&reply);
	teardown(&b, &p);
}
END_TEST

/* The SPIs b's outstanding Delete names, as it keeps them. */
static void assert_deleting(const struct ike_sa *b, const uint32_t *spis, size_t n)
{
	ck_assert_uint_eq(b->req_n_delete, n);
	if (!n) {
		ck_assert_ptr_null(b->req_delete);
		return;
	}
	ck_assert_ptr_nonnull(b->req_delete);
	ck_assert_mem_eq(b->req_delete, spis, n * sizeof(*spis));
}

/* b's request to p, p's answer back to b. */
static void exchange(struct ike_sa *b, struct ike_sa *p, struct ike_writer *m,
		     struct ike_writer *reply)
{
	struct ike_sa_rx rx;

	ck_assert_int_eq(ike_sa_receive(p, m->buf, m->len, pop_map, NULL, reply, &rx), 0);
	ck_assert_int_eq(rx.event, IKE_SA_EV_REPLY);
	ck_assert_int_eq(ike_sa_receive(b, reply->buf, reply->len, NULL, NULL, m, &rx), 0);
	ck_assert_int_eq(rx.event, IKE_SA_EV_ANSWERED);
}

/*
 * The list of Child SAs our Delete names is allocated while the request is out (exactly its
 * SPIs) and freed when it is answered, replaced or the SA cleared; under ASan a leak or a
 * double free of it fails here.
 */
START_TEST(test_ike_sa_delete_child_list_lives_with_the_request)
{
	struct ike_sa b, p;
	struct ike_writer m, reply;
	const uint32_t three[] = { 0x1111, 0x9999, 0xaaaa }, one[] = { 0x2222 };
	uint32_t all[IKE_SA_MAX_DELETE_OUT];

	establish(&b, &p);
	ike_writer_init(&m, IKE_MAX_MSG_LEN);
	ike_writer_init(&reply, IKE_MAX_MSG_LEN);
	assert_deleting(&b, NULL, 0);
	/* Several SPIs, answered: the list goes with the answer. */
	ck_assert_int_eq(ike_sa_delete_child_request(&b, three, 3, &m), 0);
	assert_deleting(&b, three, 3);
	exchange(&b, &p, &m, &reply);
	assert_deleting(&b, NULL, 0);
	/* A second one after it, of one SPI. */
	ck_assert_int_eq(ike_sa_delete_child_request(&b, one, 1, &m), 0);
	assert_deleting(&b, one, 1);
	/* Refused while it is out (the window of one): nothing kept of the refused one. */
	ck_assert_int_eq(ike_sa_delete_child_request(&b, three, 3, &m), -EBUSY);
	assert_deleting(&b, one, 1);
	ck_assert_int_eq(ike_sa_retransmit(&b, &m), 0);
	exchange(&b, &p, &m, &reply);
	assert_deleting(&b, NULL, 0);
	/* A request given up on and replaced by a liveness check: its list goes then. */
	ck_assert_int_eq(ike_sa_delete_child_request(&b, three, 3, &m), 0);
	b.waiting = false;
	ck_assert_int_eq(ike_sa_dpd_request(&b, &m), 0);
	assert_deleting(&b, NULL, 0);
	b.waiting = false;
	/* The most one Delete names, still out when the SA is cleared (teardown). */
	for (uint32_t i = 0; i < IKE_SA_MAX_DELETE_OUT; i++)
		all[i] = 0x3000 + i;
	ck_assert_int_eq(ike_sa_delete_child_request(&b, all, IKE_SA_MAX_DELETE_OUT, &m), 0);
	assert_deleting(&b, all, IKE_SA_MAX_DELETE_OUT);
	ike_writer_clear(&m);
	ike_writer_clear(&reply);
	teardown(&b, &p);
	assert_deleting(&b, NULL, 0);
}
END_TEST

START_TEST(test_ike_sa_drops_what_does_not_belong)
{
	struct ike_sa b, p, other_b, other_p;
	struct ike_writer m, reply;
	struct ike_sa_rx rx;

	establish(&b, &p);
	establish(&other_b, &other_p);
	ike_writer_init(&m, IKE_MAX_MSG_LEN);
	ike_writer_init(&reply, IKE_MAX_MSG_LEN);
	/* Another IKE SA's message: wrong SPIs. */
	ck_assert_int_eq(ike_sa_dpd_request(&other_b, &m), 0);
	ck_assert_int_eq(ike_sa_receive(&p, m.buf, m.len, NULL, NULL, &reply, &rx), -EPROTO);
	/* Ours with a flipped byte in the ciphertext: integrity fails, the window stays. */
	ck_assert_int_eq(ike_sa_dpd_request(&b, &m), 0);
	m.buf[m.len - 20] ^= 1;
	ck_assert_int_lt(ike_sa_receive(&p, m.buf, m.len, NULL, NULL, &reply, &rx), 0);
	ck_assert_uint_eq(p.peer_next, 2);
	/* A request from the future (ID 5) is outside the window. */
	b.waiting = false;
	b.next_req = 5;
	ck_assert_int_eq(ike_sa_dpd_request(&b, &m), 0);
	ck_assert_int_eq(ike_sa_receive(&p, m.buf, m.len, NULL, NULL, &reply, &rx), -EPROTO);
	ck_assert_uint_eq(p.peer_next, 2);
	ike_writer_clear(&m);
	ike_writer_clear(&reply);
	teardown(&b, &p);
	ike_sa_clear(&other_b);
	ike_sa_clear(&other_p);
}
END_TEST

/* --- Fragments (RFC 7383) ------------------------------------------------------------- */

#define FRAG_MAX	100	/* with AES-CBC and HMAC-SHA2-256: 31 payload bytes a fragment */
#define N_SPIS		16

/* The POP knows every Child SA the branch names: ours is the peer's + 0x10000. */
static uint32_t pop_map_all(void *arg, uint32_t peer_spi)
{
	(void)arg;
	return peer_spi + 0x10000;
}

/* Fragment i of f, byte flip_at from its end flipped (0: none), to sa. */
static int deliver_frag(struct ike_sa *sa, const struct ike_frags *f, uint16_t i, size_t flip_at,
			ike_sa_spi_map_fn map, struct ike_writer *out, struct ike_sa_rx *rx)
{
	struct ike_writer one;
	int rc;

	fragment_copy(f, i, flip_at, &one);
	rc = ike_sa_receive(sa, one.buf, one.len, map, NULL, out, rx);
	ike_writer_clear(&one);
	return rc;
}

/* The branch deletes N_SPIS Child SAs, 0x1111 first: a request of a few fragments. */
static void delete_many(struct ike_sa *b, struct ike_writer *m, struct ike_frags *f)
{
	uint32_t spis[N_SPIS];

	for (uint32_t i = 0; i < N_SPIS; i++)
		spis[i] = 0x1111 + i;
	ck_assert_int_eq(ike_sa_delete_child_request(b, spis, N_SPIS, m), 0);
	fragment_msg(&b->k, m, FRAG_MAX, f);
	ck_assert_uint_ge(f->n, 3);
}

START_TEST(test_ike_sa_fragmented_request_answered_once)
{
	struct ike_sa b, p;
	struct ike_writer m, reply, again;
	struct ike_frags f;
	struct ike_sa_rx rx;
	uint16_t order[IKE_FRAG_MAX_FRAGMENTS];
	unsigned resent = 0;

	establish(&b, &p);
	ike_writer_init(&m, IKE_MAX_MSG_LEN);
	ike_writer_init(&reply, IKE_MAX_MSG_LEN);
	ike_writer_init(&again, IKE_MAX_MSG_LEN);
	delete_many(&b, &m, &f);
	fragment_order(f.n, order);
	for (uint16_t k = 0; k + 1 < f.n; k++) {
		ck_assert_int_eq(deliver_frag(&p, &f, order[k], 0, pop_map, &reply, &rx),
				 -EINPROGRESS);
		ck_assert_uint_eq(reply.len, 0);
		ck_assert_uint_eq(p.peer_next, 2);
		ck_assert_uint_eq(p.frag_req->received, k + 1);
	}
	/* Whole: processed as the unfragmented request would be. */
	ck_assert_int_eq(deliver_frag(&p, &f, order[f.n - 1], 0, pop_map, &reply, &rx), 0);
	ck_assert_int_eq(rx.event, IKE_SA_EV_REPLY);
	ck_assert_uint_eq(rx.exchange, IKE_EXCH_INFORMATIONAL);
	ck_assert(rx.reply);
	ck_assert_uint_eq(rx.n_child_deleted, 1);
	ck_assert_uint_eq(rx.child_deleted[0], 0x1111);
	ck_assert_uint_eq(p.peer_next, 3);
	ck_assert_ptr_null(p.frag_req);
	/*
	 * The branch retransmits it, every fragment: only fragment 1 gets the cached reply
	 * (RFC 7383 §2.6.1), and nothing is processed again.
	 */
	for (uint16_t k = 0; k < f.n; k++) {
		int rc = deliver_frag(&p, &f, order[k], 0, pop_map, &again, &rx);

		if (order[k] != 0) {
			ck_assert_int_eq(rc, -EALREADY);
			continue;
		}
		ck_assert_int_eq(rc, 0);
		ck_assert_int_eq(rx.event, IKE_SA_EV_RESENT);
		ck_assert_uint_eq(again.len, reply.len);
		ck_assert_mem_eq(again.buf, reply.buf, reply.len);
		resent++;
	}
	ck_assert_uint_eq(resent, 1);
	ck_assert_uint_eq(p.peer_next, 3);
	ck_assert_ptr_null(p.frag_req);
	ck_assert_int_eq(ike_sa_receive(&b, reply.buf, reply.len, NULL, NULL, &m, &rx), 0);
	ck_assert_int_eq(rx.event, IKE_SA_EV_ANSWERED);
	ike_frags_clear(&f);
	ike_writer_clear(&m);
	ike_writer_clear(&reply);
	ike_writer_clear(&again);
	teardown(&b, &p);
}
END_TEST

START_TEST(test_ike_sa_fragment_with_wrong_icv_changes_nothing)
{
	struct ike_sa b, p;
	struct ike_writer m, reply;
	struct ike_frags f;
	struct ike_sa_rx rx;

	establish(&b, &p);
	ike_writer_init(&m, IKE_MAX_MSG_LEN);
	ike_writer_init(&reply, IKE_MAX_MSG_LEN);
	delete_many(&b, &m, &f);
	/* Nothing held: nothing is allocated for it. */
	ck_assert_int_eq(deliver_frag(&p, &f, 0, 20, pop_map, &reply, &rx), -EACCES);
	ck_assert_ptr_null(p.frag_req);
	ck_assert_int_eq(deliver_frag(&p, &f, 1, 0, pop_map, &reply, &rx), -EINPROGRESS);
	/* Something held: it stays as it was. */
	ck_assert_int_eq(deliver_frag(&p, &f, 0, 20, pop_map, &reply, &rx), -EACCES);
	ck_assert_int_eq(deliver_frag(&p, &f, 2, 1, pop_map, &reply, &rx), -EACCES);
	ck_assert_uint_eq(p.frag_req->received, 1);
	ck_assert(p.frag_req->have[1] && !p.frag_req->have[0] && !p.frag_req->have[2]);
	ck_assert_uint_eq(p.peer_next, 2);
	ck_assert_uint_eq(reply.len, 0);
	for (uint16_t i = 0; i < f.n; i++)
		if (i != 1)
			ck_assert_int_eq(deliver_frag(&p, &f, i, 0, pop_map, &reply, &rx),
					 i + 1 < f.n ? -EINPROGRESS : 0);
	ck_assert_int_eq(rx.event, IKE_SA_EV_REPLY);
	ck_assert_uint_eq(p.peer_next, 3);
	/* A forged fragment 1 of the retransmission gets no reply. */
	reply.len = 0;
	ck_assert_int_eq(deliver_frag(&p, &f, 0, 20, pop_map, &reply, &rx), -EACCES);
	ck_assert_uint_eq(reply.len, 0);
	ike_frags_clear(&f);
	ike_writer_clear(&m);
	ike_writer_clear(&reply);
	teardown(&b, &p);
}
END_TEST

START_TEST(test_ike_sa_fragmented_response)
{
	struct ike_sa b, p;
	struct ike_writer m, reply;
	struct ike_frags f, req;
	struct ike_sa_rx rx;
	uint16_t order[IKE_FRAG_MAX_FRAGMENTS];

	establish(&b, &p);
	ike_writer_init(&m, IKE_MAX_MSG_LEN);
	ike_writer_init(&reply, IKE_MAX_MSG_LEN);
	delete_many(&b, &m, &req);
	/* The POP knows all 16: its reply deletes 16 of its own, in fragments. */
	ck_assert_int_eq(ike_sa_receive(&p, m.buf, m.len, pop_map_all, NULL, &reply, &rx), 0);
	ck_assert_uint_eq(rx.n_child_deleted, N_SPIS);
	fragment_msg(&p.k, &reply, FRAG_MAX, &f);
	ck_assert_uint_ge(f.n, 3);
	fragment_order(f.n, order);
	/* The branch's own request in fragments, reflected: not from the peer. */
	ck_assert_int_eq(deliver_frag(&b, &req, 0, 0, NULL, &m, &rx), -EPROTO);
	ck_assert_ptr_null(b.frag_req);
	for (uint16_t k = 0; k + 1 < f.n; k++) {
		ck_assert_int_eq(deliver_frag(&b, &f, order[k], 0, NULL, &m, &rx), -EINPROGRESS);
		ck_assert(b.waiting);
		ck_assert_int_eq(deliver_frag(&b, &f, order[k], 0, NULL, &m, &rx), -EALREADY);
		ck_assert_int_eq(deliver_frag(&b, &f, order[f.n - 1], 20, NULL, &m, &rx), -EACCES);
	}
	ck_assert_int_eq(deliver_frag(&b, &f, order[f.n - 1], 0, NULL, &m, &rx), 0);
	ck_assert_int_eq(rx.event, IKE_SA_EV_ANSWERED);
	ck_assert(!b.waiting);
	ck_assert_ptr_null(b.frag_resp);
	/* A copy after the answer answers nothing, as a copy of a whole response. */
	ck_assert_int_eq(deliver_frag(&b, &f, 0, 0, NULL, &m, &rx), -EPROTO);
	ck_assert_ptr_null(b.frag_resp);
	ike_frags_clear(&f);
	ike_frags_clear(&req);
	ike_writer_clear(&m);
	ike_writer_clear(&reply);
	teardown(&b, &p);
}
END_TEST

START_TEST(test_ike_sa_fragments_need_negotiation)
{
	struct ike_sa b, p;
	struct ike_writer m, reply;
	struct ike_frags f;
	struct ike_sa_rx rx;

	establish(&b, &p);
	ike_writer_init(&m, IKE_MAX_MSG_LEN);
	ike_writer_init(&reply, IKE_MAX_MSG_LEN);
	delete_many(&b, &m, &f);
	p.k.peer_fragmentation = false;
	ck_assert_int_eq(deliver_frag(&p, &f, 0, 0, pop_map, &reply, &rx), -EPROTO);
	ck_assert_ptr_null(p.frag_req);
	/* Negotiated, a partial message goes with the IKE SA (ASan sees a leak otherwise). */
	p.k.peer_fragmentation = true;
	ck_assert_int_eq(deliver_frag(&p, &f, 0, 0, pop_map, &reply, &rx), -EINPROGRESS);
	ck_assert_ptr_nonnull(p.frag_req);
	ike_frags_clear(&f);
	ike_writer_clear(&m);
	ike_writer_clear(&reply);
	teardown(&b, &p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ike_sa");
	TCase *tc = tcase_create("ike_sa");

	tcase_add_test(tc, test_ike_sa_dpd_both_ways_and_the_window);
	tcase_add_test(tc, test_ike_sa_retransmitted_request_gets_the_cached_reply);
	tcase_add_test(tc, test_ike_sa_delete_child_and_ike);
	tcase_add_test(tc, test_ike_sa_delete_child_list_lives_with_the_request);
	tcase_add_test(tc, test_ike_sa_drops_what_does_not_belong);
	tcase_add_test(tc, test_ike_sa_fragmented_request_answered_once);
	tcase_add_test(tc, test_ike_sa_fragment_with_wrong_icv_changes_nothing);
	tcase_add_test(tc, test_ike_sa_fragmented_response);
	tcase_add_test(tc, test_ike_sa_fragments_need_negotiation);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
