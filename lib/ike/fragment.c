/* IKEv2 message fragmentation (RFC 7383): see fragment.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto/sk.h"
#include "ike/fragment.h"

#define SKF_FIELDS_LEN		4	/* Fragment Number, Total Fragments (§2.5) */
#define IP4_HEADER_LEN		20
#define IP6_HEADER_LEN		40
#define UDP_HEADER_LEN		8
#define NON_ESP_MARKER_LEN	4

/* As in sk_msg.c: the I flag and the key direction follow the original roles. */
static struct crypto_sk_dir dir_of(const struct ike_sa_keys *sa, bool from_initiator)
{
	return (struct crypto_sk_dir){
		sa->suite.encr, sa->suite.integ,
		crypto_ike_sk_e(&sa->keys, from_initiator),
		crypto_ike_sk_a(&sa->keys, from_initiator),	/* {NULL, 0} for AEAD */
	};
}

static bool suite_ready(const struct ike_sa_keys *sa)
{
	return sa->suite.encr && (sa->suite.encr->aead || sa->suite.integ);
}

size_t ike_frag_max_msg_len(size_t dgram_len, bool ipv6, bool non_esp_marker)
{
	size_t over = (ipv6 ? IP6_HEADER_LEN : IP4_HEADER_LEN) + UDP_HEADER_LEN +
		      (non_esp_marker ? NON_ESP_MARKER_LEN : 0);

	if (dgram_len <= over)
		return 0;
	dgram_len -= over;
	return dgram_len > IKE_MAX_MSG_LEN ? IKE_MAX_MSG_LEN : dgram_len;
}

size_t ike_frag_sk_msg_len(const struct ike_sa_keys *sa, size_t plain_len)
{
	struct crypto_sk_dir dir = dir_of(sa, sa->initiator);

	if (!suite_ready(sa) || plain_len > IKE_MAX_MSG_LEN)
		return SIZE_MAX;
	return IKE_HEADER_LEN + IKE_PAYLOAD_HEADER_LEN + plain_len +
	       crypto_sk_overhead(&dir, plain_len);
}

bool ike_frag_needed(const struct ike_sa_keys *sa, size_t plain_len, size_t max_msg_len)
{
	return ike_frag_sk_msg_len(sa, plain_len) > max_msg_len;
}

/*
 * §2.5.1: the most inner-payload bytes one fragment of at most max_msg_len bytes carries,
 * 0 when none fit. Per fragment: the IKE header, the SKF header and fields, the IV, the
 * ciphertext (data, padding to the block, pad length) and the ICV.
 */
static size_t chunk_max(const struct crypto_sk_dir *k, size_t max_msg_len)
{
	size_t icv = k->encr->aead ? k->encr->icv_len : k->integ->icv_len;
	size_t fixed = IKE_HEADER_LEN + IKE_PAYLOAD_HEADER_LEN + SKF_FIELDS_LEN +
		       k->encr->iv_len + icv;
	size_t block = k->encr->block_len ? k->encr->block_len : 1, room;

	if (max_msg_len > IKE_MAX_MSG_LEN)
		max_msg_len = IKE_MAX_MSG_LEN;
	if (max_msg_len <= fixed)
		return 0;
	room = max_msg_len - fixed;
	room -= room % block;
	return room > 1 ? room - 1 : 0;
}

void ike_frags_init(struct ike_frags *f)
{
	memset(f, 0, sizeof(*f));
	ike_writer_init(&f->buf, (size_t)IKE_FRAG_MAX_FRAGMENTS * IKE_MAX_MSG_LEN);
}

void ike_frags_clear(struct ike_frags *f)
{
	if (!f)
		return;
	ike_writer_clear(&f->buf);
	f->n = 0;
}

const uint8_t *ike_frags_get(const struct ike_frags *f, uint16_t i, size_t *ret_len)
{
	if (i >= f->n)
		return NULL;
	*ret_len = f->off[i + 1] - f->off[i];
	return f->buf.buf + f->off[i];
}

/* One SKF message into one (empty) writer: crypto_sk_protect() wants the header at 0. */
static int seal_one(const struct crypto_sk_dir *dir, const struct ike_header *h,
		    const struct ike_pld_skf *skf, uint8_t inner_type, const uint8_t *p, size_t len,
		    struct ike_writer *one)
{
	struct ike_builder b;
	size_t sk_off;
	int rc;

	one->len = 0;
	rc = ike_build_begin(&b, one, h);
	/* §2.5: only fragment 1 names the first inner payload; the others carry 0. */
	rc = rc ?: ike_build_sk_begin(&b, inner_type, skf, &sk_off);
	return rc ?: crypto_sk_protect(dir, one, sk_off, p, len);
}

int ike_frag_seal(const struct ike_sa_keys *sa, uint8_t exchange, bool response, uint32_t msg_id,
		  const struct ike_writer *plain, uint8_t first_type, size_t max_msg_len,
		  struct ike_frags *out)
{
	struct ike_header h = { .major = IKE_VERSION_MAJOR, .exchange = exchange,
				.flags = (uint8_t)((sa->initiator ? IKE_FLAG_INITIATOR : 0) |
						   (response ? IKE_FLAG_RESPONSE : 0)),
				.msg_id = msg_id };
	struct crypto_sk_dir dir = dir_of(sa, sa->initiator);
	struct ike_writer one;
	size_t chunk, n, off = 0;
	int rc = 0;

	out->n = 0;
	out->buf.len = 0;
	/* §2.4: only messages with SK; IKE_SA_INIT has no keys to protect fragments with. */
	if (!suite_ready(sa) || exchange < IKE_EXCH_IKE_AUTH || exchange > IKE_EXCH_INFORMATIONAL)
		return -EINVAL;
	chunk = chunk_max(&dir, max_msg_len);
	if (chunk == 0)
		return -EINVAL;
	n = plain->len ? plain->len / chunk + (plain->len % chunk != 0) : 1;
	if (n > IKE_FRAG_MAX_FRAGMENTS)
		return -EMSGSIZE;
	memcpy(h.spi_i, sa->spi_i, IKE_SPI_LEN);
	memcpy(h.spi_r, sa->spi_r, IKE_SPI_LEN);
	ike_writer_init(&one, max_msg_len);
	for (size_t i = 0; i < n && rc == 0; i++) {
		/* §2.5: numbered from 1, each with the total; every one its own IV and ICV. */
		struct ike_pld_skf skf = { .frag_num = (uint16_t)(i + 1), .total = (uint16_t)n };
		size_t len = plain->len - off < chunk ? plain->len - off : chunk;

		rc = seal_one(&dir, &h, &skf, i == 0 ? first_type : IKE_PLD_NONE,
			      len ? plain->buf + off : NULL, len, &one);
		out->off[i] = out->buf.len;
		rc = rc ?: ike_writer_bytes(&out->buf, one.buf, one.len);
		off += len;
	}
	ike_writer_clear(&one);
	if (rc < 0) {
		out->buf.len = 0;
		return rc;
	}
	out->off[n] = out->buf.len;
	out->n = (uint16_t)n;
	return 0;
}

/*
 * An SKF message of this IKE SA from the peer, before any cryptography: the SPIs, the I flag
 * opposite ours, an exchange that has SK, and SKF as the only payload (ikd's exchanges have
 * no unprotected payloads to put in fragment 1, §2.5.3). Every decode failure is -EBADMSG.
 */
static int frag_decode(const struct ike_sa_keys *sa, const uint8_t *msg, size_t len,
		       struct ike_msg *m)
{
	if (len > IKE_MAX_MSG_LEN || ike_msg_decode(msg, len, m, NULL) < 0)
		return -EBADMSG;
	if (!!(m->hdr.flags & IKE_FLAG_INITIATOR) == sa->initiator ||
	    memcmp(m->hdr.spi_i, sa->spi_i, IKE_SPI_LEN) != 0 ||
	    memcmp(m->hdr.spi_r, sa->spi_r, IKE_SPI_LEN) != 0 ||
	    !m->sk.present || !m->sk.fragment || m->chain.n != 1 ||
	    m->hdr.exchange < IKE_EXCH_IKE_AUTH || m->hdr.exchange > IKE_EXCH_INFORMATIONAL)
		return -EPROTO;
	return 0;
}

/* §2.6: verify the fragment's ICV (it covers the SKF fields too) and decrypt it in place. */
static int frag_decrypt(const struct ike_sa_keys *sa, uint8_t *msg, size_t len,
			const struct ike_msg *m, struct ike_frag_piece *ret)
{
	struct crypto_sk_dir dir = dir_of(sa, !sa->initiator);
	uint8_t *plain;
	size_t plain_len;
	int rc;

	if (!suite_ready(sa))
		return -EINVAL;
	rc = crypto_sk_unprotect(&dir, msg, len, m->sk.hdr_off, m->sk.iv_off, &plain, &plain_len);
	if (rc < 0)
		return rc;
	ret->hdr = m->hdr;
	ret->skf = m->sk.skf;
	ret->inner_type = m->sk.inner_type;
	ret->plain = plain;
	ret->plain_len = plain_len;
	return 0;
}

int ike_frag_open(const struct ike_sa_keys *sa, uint8_t *msg, size_t len,
		  struct ike_frag_piece *ret)
{
	struct ike_msg m;
	int rc = frag_decode(sa, msg, len, &m);

	return rc ?: frag_decrypt(sa, msg, len, &m, ret);
}

void ike_frag_rx_init(struct ike_frag_rx *rx, bool response, const struct ike_frag_limits *lim)
{
	memset(rx, 0, sizeof(*rx));
	rx->response = response;
	rx->lim = (struct ike_frag_limits){ IKE_FRAG_MAX_FRAGMENTS, IKE_FRAG_MAX_BYTES,
					    IKE_FRAG_TIMEOUT_MS };
	if (lim) {
		if (lim->max_fragments && lim->max_fragments < IKE_FRAG_MAX_FRAGMENTS)
			rx->lim.max_fragments = lim->max_fragments;
		if (lim->max_bytes && lim->max_bytes < IKE_FRAG_MAX_BYTES)
			rx->lim.max_bytes = lim->max_bytes;
		if (lim->timeout_ms)
			rx->lim.timeout_ms = lim->timeout_ms;
	}
	ike_writer_init(&rx->plain, IKE_FRAG_MAX_BYTES);
}

static void drop_parts(struct ike_frag_rx *rx)
{
	for (size_t i = 0; i < IKE_FRAG_MAX_FRAGMENTS; i++) {
		if (rx->part[i]) {
			sodium_memzero(rx->part[i], rx->part_len[i]);
			free(rx->part[i]);
		}
		rx->part[i] = NULL;
		rx->part_len[i] = 0;
		rx->have[i] = false;
	}
	rx->received = 0;
	rx->bytes = 0;
}

void ike_frag_rx_reset(struct ike_frag_rx *rx)
{
	drop_parts(rx);
	ike_writer_clear(&rx->plain);
	rx->first_type = IKE_PLD_NONE;
	memset(&rx->first_hdr, 0, sizeof(rx->first_hdr));
	rx->active = false;
	rx->complete = false;
	rx->msg_id = 0;
	rx->exchange = 0;
	rx->total = 0;
	rx->deadline_ms = 0;
}

void ike_frag_rx_clear(struct ike_frag_rx *rx)
{
	if (!rx)
		return;
	ike_frag_rx_reset(rx);
	sodium_memzero(rx, sizeof(*rx));
}

uint64_t ike_frag_rx_deadline_ms(const struct ike_frag_rx *rx)
{
	return rx->active && !rx->complete ? rx->deadline_ms : 0;
}

bool ike_frag_rx_expire(struct ike_frag_rx *rx, uint64_t now_ms)
{
	if (!rx->active || rx->complete || now_ms < rx->deadline_ms)
		return false;
	ike_frag_rx_reset(rx);
	return true;
}

/* The first fragment of a message ID (or of its re-fragmentation) to be kept. */
static void start(struct ike_frag_rx *rx, const struct ike_frag_piece *pc, uint64_t now_ms)
{
	rx->active = true;
	rx->msg_id = pc->hdr.msg_id;
	rx->exchange = pc->hdr.exchange;
	rx->total = pc->skf.total;
	rx->deadline_ms = now_ms > UINT64_MAX - rx->lim.timeout_ms ?
			  UINT64_MAX : now_ms + rx->lim.timeout_ms;
}

/* §2.6: all fragments are in: their data in Fragment Number order is the inner chain. */
static int assemble(struct ike_frag_rx *rx)
{
	int rc = 0;

	rx->plain.len = 0;
	for (uint16_t i = 0; i < rx->total && rc == 0; i++)
		rc = ike_writer_bytes(&rx->plain, rx->part[i], rx->part_len[i]);
	if (rc < 0)
		return rc;
	drop_parts(rx);
	rx->complete = true;
	return IKE_FRAG_COMPLETE;
}

int ike_frag_rx_add(struct ike_frag_rx *rx, const struct ike_sa_keys *sa, uint32_t msg_id,
		    uint8_t *msg, size_t len, uint64_t now_ms)
{
	struct ike_frag_piece pc;
	struct ike_msg m;
	enum ike_frag_status status = IKE_FRAG_STORED;
	uint16_t idx;
	int rc;

	/* The window moved on, or the peer never completed it: what is held is dead. */
	if (rx->active && (rx->msg_id != msg_id || (!rx->complete && now_ms >= rx->deadline_ms)))
		ike_frag_rx_reset(rx);
	rc = frag_decode(sa, msg, len, &m);
	if (rc < 0)
		return rc;
	if (!!(m.hdr.flags & IKE_FLAG_RESPONSE) != rx->response)
		return -EPROTO;
	if (m.hdr.msg_id != msg_id)
		return -ESTALE;
	if (rx->complete)
		return -EALREADY;
	/* §5: never work for a message that could not be reassembled within the limits. */
	if (m.sk.skf.total > rx->lim.max_fragments)
		return -EMSGSIZE;
	if (rx->active) {
		if (m.hdr.exchange != rx->exchange)
			return -EPROTO;
		/* §2.6: a smaller total than the kept fragments': left over from before. */
		if (m.sk.skf.total < rx->total)
			return -EPROTO;
		/* A copy of a kept fragment is dropped unopened: it changes nothing. */
		if (m.sk.skf.total == rx->total && rx->have[m.sk.skf.frag_num - 1])
			return IKE_FRAG_DUPLICATE;
	}
	/* §2.6: authenticated before it is kept, or before it may restart anything. */
	rc = frag_decrypt(sa, msg, len, &m, &pc);
	if (rc < 0)
		return rc;
	if (!rx->active) {
		start(rx, &pc, now_ms);
	} else if (pc.skf.total > rx->total) {
		/*
		 * §2.6: a larger total for the same message ID: the sender re-fragmented it
		 * smaller (§2.5.2, PMTU discovery). Start over with this fragment; the deadline
		 * stays, so a peer cannot keep a message alive by re-fragmenting it.
		 */
		uint64_t deadline = rx->deadline_ms;

		drop_parts(rx);
		start(rx, &pc, now_ms);
		rx->deadline_ms = deadline;
		status = IKE_FRAG_RESTARTED;
	}
	idx = (uint16_t)(pc.skf.frag_num - 1);
	if (pc.plain_len > rx->lim.max_bytes - rx->bytes) {
		/* §5: it could never be reassembled; keep nothing of it. */
		ike_frag_rx_reset(rx);
		return -EMSGSIZE;
	}
	if (pc.plain_len) {
		rx->part[idx] = malloc(pc.plain_len);
		if (!rx->part[idx])
			return -ENOMEM;
		memcpy(rx->part[idx], pc.plain, pc.plain_len);
	}
	rx->part_len[idx] = (uint32_t)pc.plain_len;
	rx->have[idx] = true;
	rx->bytes += pc.plain_len;
	rx->received++;
	if (idx == 0) {
		/* §2.5: the first inner payload is named in fragment 1 only. */
		rx->first_hdr = pc.hdr;
		rx->first_type = pc.inner_type;
	}
	if (rx->received < rx->total)
		return status;
	rc = assemble(rx);
	if (rc < 0)
		ike_frag_rx_reset(rx);
	return rc;
}

int ike_frag_rx_message(const struct ike_frag_rx *rx, struct ike_frag_msg *ret)
{
	if (!rx->complete)
		return -EINPROGRESS;
	ret->hdr = rx->first_hdr;
	ret->first_type = rx->first_type;
	ret->plain = rx->plain.buf;
	ret->plain_len = rx->plain.len;
	return 0;
}

int ike_frag_rx_chain(const struct ike_frag_rx *rx, struct ike_header *ret_hdr,
		      struct ike_chain *inner)
{
	struct ike_frag_msg fm;
	uint8_t crit = 0;
	int rc = ike_frag_rx_message(rx, &fm);

	rc = rc ?: ike_chain_decode(fm.plain, fm.plain_len, fm.first_type, inner, &crit, NULL);
	if (rc < 0)
		return rc;
	/* The same table as an unfragmented SK message (ike_sk_open()). */
	for (uint8_t i = 0; i < inner->n; i++)
		if (inner->pl[i].known &&
		    !ike_payload_allowed(fm.hdr.exchange, true, inner->pl[i].type))
			return -EPROTO;
	*ret_hdr = fm.hdr;
	return 0;
}

bool ike_frag_is_skf(const uint8_t *msg, size_t len, struct ike_header *ret_hdr)
{
	return ike_header_decode(msg, len, ret_hdr, NULL) == 0 &&
	       ret_hdr->next_payload == IKE_PLD_SKF;
}

struct ike_frag_rx *ike_frag_rx_new(bool response)
{
	struct ike_frag_rx *rx = malloc(sizeof(*rx));

	if (rx)
		ike_frag_rx_init(rx, response, NULL);
	return rx;
}

void ike_frag_rx_free(struct ike_frag_rx *rx)
{
	if (!rx)
		return;
	ike_frag_rx_clear(rx);
	free(rx);
}

void ike_frag_rx_drop(struct ike_frag_rx **rxp)
{
	ike_frag_rx_free(*rxp);
	*rxp = NULL;
}

int ike_frag_rx_take(struct ike_frag_rx **rxp, const struct ike_sa_keys *sa, bool response,
		     uint32_t msg_id, uint8_t *msg, size_t len, struct ike_header *ret_hdr,
		     struct ike_chain *inner)
{
	int rc;

	if (!*rxp) {
		*rxp = ike_frag_rx_new(response);
		if (!*rxp)
			return -ENOMEM;
	}
	/* No clock (see fragment.h): at 0 nothing is ever past its deadline. */
	rc = ike_frag_rx_add(*rxp, sa, msg_id, msg, len, 0);
	if (rc == IKE_FRAG_COMPLETE) {
		rc = ike_frag_rx_chain(*rxp, ret_hdr, inner);
		if (rc == 0)
			return 0;
		/* It can never decode: the peer's retransmission starts over. */
		ike_frag_rx_reset(*rxp);
	} else if (rc == IKE_FRAG_DUPLICATE) {
		rc = -EALREADY;
	} else if (rc > 0) {
		rc = -EINPROGRESS;	/* IKE_FRAG_STORED, IKE_FRAG_RESTARTED */
	}
	if (!(*rxp)->active)
		ike_frag_rx_drop(rxp);
	return rc;
}
