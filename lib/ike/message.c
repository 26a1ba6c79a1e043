/* Messages: header, payload chain, SK location, builder (RFC 7296 §3.1, §3.2, §3.14). */
#include <errno.h>
#include <string.h>

#include "ike/message.h"

static bool payload_known(uint8_t type)
{
	return (type >= IKE_PLD_SA && type <= IKE_PLD_EAP) || type == IKE_PLD_SKF;
}

int ike_header_decode(const uint8_t *buf, size_t len, struct ike_header *ret, struct ike_err *err)
{
	struct ike_reader r = ike_reader_init(buf, len);
	uint8_t version;

	memset(ret, 0, sizeof(*ret));
	if (len < IKE_HEADER_LEN)
		return ike_fail(err, &r, -EBADMSG, "header", "shorter than 28 bytes");
	ike_reader_copy(&r, ret->spi_i, IKE_SPI_LEN);
	ike_reader_copy(&r, ret->spi_r, IKE_SPI_LEN);
	ike_reader_u8(&r, &ret->next_payload);
	ike_reader_u8(&r, &version);
	ike_reader_u8(&r, &ret->exchange);
	ike_reader_u8(&r, &ret->flags);
	ike_reader_u32(&r, &ret->msg_id);
	ike_reader_u32(&r, &ret->length);
	ret->major = version >> 4;
	ret->minor = version & 0x0f;
	/* §2.5: a different major version is answered INVALID_MAJOR_VERSION, not parsed. */
	if (ret->major != IKE_VERSION_MAJOR)
		return ike_fail(err, &r, -EPROTONOSUPPORT, "version", "major version is not 2");
	if (ret->length != len)
		return ike_fail(err, &r, -EBADMSG, "length", "differs from the datagram length");
	return 0;
}

int ike_payload_validate(const struct ike_payload *pl, struct ike_err *err)
{
	struct ike_reader r = { .p = pl->body, .len = pl->body_len,
				.off = pl->offset + IKE_PAYLOAD_HEADER_LEN };
	union {
		struct ike_pld_sa sa;
		struct ike_pld_ke ke;
		struct ike_pld_id id;
		struct ike_pld_auth auth;
		struct ike_pld_nonce nonce;
		struct ike_pld_notify notify;
		struct ike_pld_delete del;
		struct ike_pld_ts ts;
		struct ike_pld_cp cp;
		struct ike_pld_vendor vendor;
	} u;

	switch (pl->type) {
	case IKE_PLD_SA:
		return ike_pld_sa_decode(&r, &u.sa, err);
	case IKE_PLD_KE:
		return ike_pld_ke_decode(&r, &u.ke, err);
	case IKE_PLD_IDI:
	case IKE_PLD_IDR:
		return ike_pld_id_decode(&r, &u.id, err);
	case IKE_PLD_AUTH:
		return ike_pld_auth_decode(&r, &u.auth, err);
	case IKE_PLD_NONCE:
		return ike_pld_nonce_decode(&r, &u.nonce, err);
	case IKE_PLD_NOTIFY:
		return ike_pld_notify_decode(&r, &u.notify, err);
	case IKE_PLD_DELETE:
		return ike_pld_delete_decode(&r, &u.del, err);
	case IKE_PLD_VENDOR:
		return ike_pld_vendor_decode(&r, &u.vendor, err);
	case IKE_PLD_TSI:
	case IKE_PLD_TSR:
		return ike_pld_ts_decode(&r, &u.ts, err);
	case IKE_PLD_CP:
		return ike_pld_cp_decode(&r, &u.cp, err);
	default:
		/* CERT, CERTREQ, EAP: opaque here; SK/SKF are handled by the chain walker. */
		return 0;
	}
}

/*
 * Walk a payload chain in r. SK/SKF, when allowed, must be the last payload and run to the
 * end of the message; their position goes to *sk.
 */
static int walk_chain(struct ike_reader *r, uint8_t first, struct ike_chain *c, struct ike_sk *sk,
		      uint8_t *ret_critical, struct ike_err *err)
{
	uint8_t type = first;
	int rc;

	c->n = 0;
	while (type != IKE_PLD_NONE) {
		struct ike_payload *pl;
		struct ike_reader body;
		size_t off = r->off;
		uint8_t next, flags;
		uint16_t len;

		if (c->n == IKE_MAX_PAYLOADS)
			return ike_fail(err, r, -EMSGSIZE, "payloads", "more than the limit");
		if (ike_reader_u8(r, &next) < 0 || ike_reader_u8(r, &flags) < 0 ||
		    ike_reader_u16(r, &len) < 0)
			return ike_fail(err, r, -EBADMSG, ike_payload_name(type),
					"generic header past the end");
		if (len < IKE_PAYLOAD_HEADER_LEN)
			return ike_fail(err, r, -EBADMSG, ike_payload_name(type),
					"payload length shorter than its header");
		if (ike_reader_sub(r, len - IKE_PAYLOAD_HEADER_LEN, &body) < 0)
			return ike_fail(err, r, -EBADMSG, ike_payload_name(type),
					"payload length past the end");
		pl = &c->pl[c->n++];
		*pl = (struct ike_payload){
			.type = type, .critical = flags & IKE_PAYLOAD_CRITICAL,
			.known = payload_known(type), .offset = off,
			.body = body.p, .body_len = body.len,
		};
		if (!pl->known) {
			/* §2.5: an unknown critical payload rejects the message, others are skipped. */
			if (pl->critical) {
				if (ret_critical)
					*ret_critical = type;
				return ike_fail(err, &body, -ENOPROTOOPT, "payload type",
						"unknown and critical");
			}
			type = next;
			continue;
		}
		if (type == IKE_PLD_SK || type == IKE_PLD_SKF) {
			if (!sk)
				return ike_fail(err, &body, -EBADMSG, ike_payload_name(type),
						"encrypted payload inside an encrypted payload");
			if (r->len != 0)
				return ike_fail(err, r, -EBADMSG, ike_payload_name(type),
						"not the last payload");
			memset(sk, 0, sizeof(*sk));
			sk->present = true;
			sk->fragment = type == IKE_PLD_SKF;
			sk->inner_type = next;
			sk->hdr_off = off;
			sk->end = r->off;
			if (sk->fragment) {
				rc = ike_pld_skf_decode(&body, &sk->skf, err);
				if (rc < 0)
					return rc;
			}
			sk->iv_off = body.off;
			if (body.len == 0)
				return ike_fail(err, &body, -EBADMSG, ike_payload_name(type),
						"no encrypted data");
			return 0;
		}
		rc = ike_payload_validate(pl, err);
		if (rc < 0)
			return rc;
		type = next;
	}
	if (r->len != 0)
		return ike_fail(err, r, -EBADMSG, "payload chain", "data after the last payload");
	return 0;
}

int ike_msg_decode(const uint8_t *buf, size_t len, struct ike_msg *ret, struct ike_err *err)
{
	struct ike_reader r = ike_reader_init(buf, len);
	int rc;

	ret->buf = buf;
	ret->len = len;
	ret->chain.n = 0;
	ret->unsupported_critical = 0;
	memset(&ret->sk, 0, sizeof(ret->sk));
	rc = ike_header_decode(buf, len, &ret->hdr, err);
	if (rc < 0)
		return rc;
	ike_reader_skip(&r, IKE_HEADER_LEN);
	return walk_chain(&r, ret->hdr.next_payload, &ret->chain, &ret->sk,
			  &ret->unsupported_critical, err);
}

int ike_chain_decode(const uint8_t *buf, size_t len, uint8_t first_type, struct ike_chain *ret,
		     uint8_t *ret_unsupported_critical, struct ike_err *err)
{
	struct ike_reader r = ike_reader_init(buf, len);

	return walk_chain(&r, first_type, ret, NULL, ret_unsupported_critical, err);
}

const struct ike_payload *ike_chain_find(const struct ike_chain *c, uint8_t type,
					 const struct ike_payload *after)
{
	size_t i = after ? (size_t)(after - c->pl) + 1 : 0;

	for (; i < c->n; i++)
		if (c->pl[i].type == type)
			return &c->pl[i];
	return NULL;
}

int ike_chain_find_notify(const struct ike_chain *c, uint16_t type, struct ike_pld_notify *ret)
{
	for (const struct ike_payload *pl = ike_chain_find(c, IKE_PLD_NOTIFY, NULL); pl;
	     pl = ike_chain_find(c, IKE_PLD_NOTIFY, pl)) {
		struct ike_reader r = { .p = pl->body, .len = pl->body_len };

		if (ike_pld_notify_decode(&r, ret, NULL) == 0 && ret->type == type)
			return 0;
	}
	return -ENOENT;
}

uint16_t ike_decode_error_notify(int rc)
{
	switch (rc) {
	case -EBADMSG:
	case -EMSGSIZE:
		return IKE_N_INVALID_SYNTAX;
	case -EPROTONOSUPPORT:
		return IKE_N_INVALID_MAJOR_VERSION;
	case -ENOPROTOOPT:
		return IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD;
	default:
		return 0;
	}
}

/* next_slot after SK/SKF: nothing may follow the encrypted payload. */
#define BUILD_CLOSED (SIZE_MAX - 1)

#define BIT(t) (UINT32_C(1) << ((t) - 32))

/* [exchange - 34][encrypted]: the payload types each may carry (bit = type - 32). */
static const uint32_t allowed[4][2] = {
	[IKE_EXCH_IKE_SA_INIT - 34] = {
		BIT(IKE_PLD_SA) | BIT(IKE_PLD_KE) | BIT(IKE_PLD_NONCE) | BIT(IKE_PLD_NOTIFY) |
		BIT(IKE_PLD_VENDOR) | BIT(IKE_PLD_CERTREQ),
		0,
	},
	[IKE_EXCH_IKE_AUTH - 34] = {
		BIT(IKE_PLD_SK) | BIT(IKE_PLD_SKF),
		BIT(IKE_PLD_IDI) | BIT(IKE_PLD_IDR) | BIT(IKE_PLD_CERT) | BIT(IKE_PLD_CERTREQ) |
		BIT(IKE_PLD_AUTH) | BIT(IKE_PLD_SA) | BIT(IKE_PLD_TSI) | BIT(IKE_PLD_TSR) |
		BIT(IKE_PLD_NOTIFY) | BIT(IKE_PLD_CP) | BIT(IKE_PLD_VENDOR) | BIT(IKE_PLD_EAP),
	},
	[IKE_EXCH_CREATE_CHILD_SA - 34] = {
		BIT(IKE_PLD_SK) | BIT(IKE_PLD_SKF),
		BIT(IKE_PLD_SA) | BIT(IKE_PLD_NONCE) | BIT(IKE_PLD_KE) | BIT(IKE_PLD_TSI) |
		BIT(IKE_PLD_TSR) | BIT(IKE_PLD_NOTIFY) | BIT(IKE_PLD_VENDOR),
	},
	[IKE_EXCH_INFORMATIONAL - 34] = {
		/* §1.5: an error outside an IKE SA is a clear INFORMATIONAL with one Notify. */
		BIT(IKE_PLD_SK) | BIT(IKE_PLD_SKF) | BIT(IKE_PLD_NOTIFY),
		BIT(IKE_PLD_NOTIFY) | BIT(IKE_PLD_DELETE) | BIT(IKE_PLD_CP) | BIT(IKE_PLD_VENDOR),
	},
};

bool ike_payload_allowed(uint8_t exchange, bool encrypted, uint8_t type)
{
	if (exchange < IKE_EXCH_IKE_SA_INIT || exchange > IKE_EXCH_INFORMATIONAL)
		return false;
	if (type < 33 || type > 63)
		return false;
	return allowed[exchange - 34][encrypted] & BIT(type);
}

int ike_build_begin(struct ike_builder *b, struct ike_writer *w, const struct ike_header *hdr)
{
	int rc;

	*b = (struct ike_builder){ .w = w, .msg_start = w->len, .header = true };
	rc = ike_writer_bytes(w, hdr->spi_i, IKE_SPI_LEN);
	rc = rc ?: ike_writer_bytes(w, hdr->spi_r, IKE_SPI_LEN);
	b->next_slot = w->len;
	rc = rc ?: ike_writer_u8(w, IKE_PLD_NONE);
	rc = rc ?: ike_writer_u8(w, (uint8_t)(hdr->major << 4 | (hdr->minor & 0x0f)));
	rc = rc ?: ike_writer_u8(w, hdr->exchange);
	rc = rc ?: ike_writer_u8(w, hdr->flags);
	rc = rc ?: ike_writer_u32(w, hdr->msg_id);
	return rc ?: ike_writer_u32(w, 0);
}

void ike_build_chain_begin(struct ike_builder *b, struct ike_writer *w)
{
	*b = (struct ike_builder){ .w = w, .msg_start = w->len, .next_slot = SIZE_MAX };
}

static void link_payload(struct ike_builder *b, uint8_t type)
{
	if (b->next_slot == SIZE_MAX)
		b->first_type = type;
	else
		b->w->buf[b->next_slot] = type;
}

int ike_build_pld_begin(struct ike_builder *b, uint8_t type, bool critical)
{
	size_t start = b->w->len;
	int rc;

	if (b->next_slot == BUILD_CLOSED)
		return -EINVAL;
	rc = ike_writer_u8(b->w, IKE_PLD_NONE);

	rc = rc ?: ike_writer_u8(b->w, critical ? IKE_PAYLOAD_CRITICAL : 0);
	rc = rc ?: ike_writer_u16(b->w, 0);
	if (rc < 0)
		return rc;
	link_payload(b, type);
	b->next_slot = start;
	b->pld_start = start;
	return 0;
}

int ike_build_pld_end(struct ike_builder *b)
{
	size_t len = b->w->len - b->pld_start;

	if (len > UINT16_MAX)
		return -EMSGSIZE;
	ike_writer_put_u16_at(b->w, b->pld_start + 2, (uint16_t)len);
	return 0;
}

int ike_build_raw(struct ike_builder *b, uint8_t type, bool critical, const uint8_t *body,
		  size_t len)
{
	int rc = ike_build_pld_begin(b, type, critical);

	rc = rc ?: ike_writer_bytes(b->w, body, len);
	return rc ?: ike_build_pld_end(b);
}

int ike_build_sk_begin(struct ike_builder *b, uint8_t inner_type, const struct ike_pld_skf *skf,
		       size_t *ret_hdr_off)
{
	int rc = ike_build_pld_begin(b, skf ? IKE_PLD_SKF : IKE_PLD_SK, false);

	if (rc < 0)
		return rc;
	b->w->buf[b->pld_start] = inner_type;
	*ret_hdr_off = b->pld_start;
	if (skf)
		rc = ike_pld_skf_encode(b->w, skf);
	/* SK is last: nothing may be linked after it. */
	b->next_slot = BUILD_CLOSED;
	return rc;
}

int ike_build_finish(struct ike_builder *b)
{
	size_t len = b->w->len - b->msg_start;

	if (!b->header)
		return 0;
	if (len > IKE_MAX_MSG_LEN)
		return -EMSGSIZE;
	ike_writer_put_u32_at(b->w, b->msg_start + 24, (uint32_t)len);
	return 0;
}

static int encode_payload(struct ike_builder *b, const struct ike_payload *pl)
{
	struct ike_reader r = { .p = pl->body, .len = pl->body_len };
	struct ike_writer *w = b->w;
	union {
		struct ike_pld_sa sa;
		struct ike_pld_ke ke;
		struct ike_pld_id id;
		struct ike_pld_auth auth;
		struct ike_pld_nonce nonce;
		struct ike_pld_notify notify;
		struct ike_pld_delete del;
		struct ike_pld_ts ts;
		struct ike_pld_cp cp;
	} u;
	int rc = ike_build_pld_begin(b, pl->type, pl->critical);

	if (rc < 0)
		return rc;
	switch (pl->type) {
	case IKE_PLD_SA:
		rc = ike_pld_sa_decode(&r, &u.sa, NULL) ?: ike_pld_sa_encode(w, &u.sa);
		break;
	case IKE_PLD_KE:
		rc = ike_pld_ke_decode(&r, &u.ke, NULL) ?: ike_pld_ke_encode(w, &u.ke);
		break;
	case IKE_PLD_IDI:
	case IKE_PLD_IDR:
		rc = ike_pld_id_decode(&r, &u.id, NULL) ?: ike_pld_id_encode(w, &u.id);
		break;
	case IKE_PLD_AUTH:
		rc = ike_pld_auth_decode(&r, &u.auth, NULL) ?: ike_pld_auth_encode(w, &u.auth);
		break;
	case IKE_PLD_NONCE:
		rc = ike_pld_nonce_decode(&r, &u.nonce, NULL) ?: ike_pld_nonce_encode(w, &u.nonce);
		break;
	case IKE_PLD_NOTIFY:
		rc = ike_pld_notify_decode(&r, &u.notify, NULL) ?:
			ike_pld_notify_encode(w, &u.notify);
		break;
	case IKE_PLD_DELETE:
		rc = ike_pld_delete_decode(&r, &u.del, NULL) ?: ike_pld_delete_encode(w, &u.del);
		break;
	case IKE_PLD_TSI:
	case IKE_PLD_TSR:
		rc = ike_pld_ts_decode(&r, &u.ts, NULL) ?: ike_pld_ts_encode(w, &u.ts);
		break;
	case IKE_PLD_CP:
		rc = ike_pld_cp_decode(&r, &u.cp, NULL) ?: ike_pld_cp_encode(w, &u.cp);
		break;
	default:
		rc = ike_writer_bytes(w, pl->body, pl->body_len);
		break;
	}
	return rc ?: ike_build_pld_end(b);
}

int ike_msg_encode(const struct ike_msg *m, struct ike_writer *w)
{
	struct ike_builder b;
	int rc = ike_build_begin(&b, w, &m->hdr);

	for (uint8_t i = 0; rc == 0 && i < m->chain.n; i++) {
		const struct ike_payload *pl = &m->chain.pl[i];
		size_t hdr_off;

		if (m->sk.present && pl->offset == m->sk.hdr_off) {
			rc = ike_build_sk_begin(&b, m->sk.inner_type,
						m->sk.fragment ? &m->sk.skf : NULL, &hdr_off);
			rc = rc ?: ike_writer_bytes(w, m->buf + m->sk.iv_off,
						    m->sk.end - m->sk.iv_off);
			rc = rc ?: ike_build_pld_end(&b);
		} else {
			rc = encode_payload(&b, pl);
		}
	}
	return rc ?: ike_build_finish(&b);
}
