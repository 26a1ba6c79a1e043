/* Payload bodies other than SA (RFC 7296 §3.4-§3.15, RFC 7383 §2.5). */
#include <errno.h>
#include <string.h>

#include "ike/payload.h"

/* The three reserved bytes after a one-byte type field; RFC 7296 §3: ignored on receipt. */
static int skip_reserved(struct ike_reader *r, size_t n, const char *field, struct ike_err *err)
{
	if (ike_reader_skip(r, n) < 0)
		return ike_fail(err, r, -EBADMSG, field, "truncated header");
	return 0;
}

int ike_pld_ke_decode(struct ike_reader *r, struct ike_pld_ke *ret, struct ike_err *err)
{
	if (ike_reader_u16(r, &ret->group) < 0 || skip_reserved(r, 2, "KE", err) < 0)
		return ike_fail(err, r, -EBADMSG, "KE", "truncated header");
	if (r->len == 0)
		return ike_fail(err, r, -EBADMSG, "KE data", "empty");
	ret->len = r->len;
	return ike_reader_bytes(r, r->len, &ret->data);
}

int ike_pld_ke_encode(struct ike_writer *w, const struct ike_pld_ke *ke)
{
	int rc = ike_writer_u16(w, ke->group);

	rc = rc ?: ike_writer_u16(w, 0);
	return rc ?: ike_writer_bytes(w, ke->data, ke->len);
}

int ike_pld_id_decode(struct ike_reader *r, struct ike_pld_id *ret, struct ike_err *err)
{
	ret->body = r->p;
	ret->body_len = r->len;
	if (ike_reader_u8(r, &ret->type) < 0 || skip_reserved(r, 3, "ID", err) < 0)
		return ike_fail(err, r, -EBADMSG, "ID", "truncated header");
	switch (ret->type) {
	case IKE_ID_IPV4_ADDR:
		if (r->len != 4)
			return ike_fail(err, r, -EBADMSG, "ID_IPV4_ADDR", "not 4 bytes");
		break;
	case IKE_ID_IPV6_ADDR:
		if (r->len != 16)
			return ike_fail(err, r, -EBADMSG, "ID_IPV6_ADDR", "not 16 bytes");
		break;
	case IKE_ID_FQDN:
	case IKE_ID_RFC822_ADDR:
	case IKE_ID_KEY_ID:
	case IKE_ID_DER_ASN1_DN:
	case IKE_ID_DER_ASN1_GN:
		if (r->len == 0)
			return ike_fail(err, r, -EBADMSG, "ID data", "empty");
		break;
	default:
		return ike_fail(err, r, -EBADMSG, "ID type", "unknown");
	}
	ret->len = r->len;
	return ike_reader_bytes(r, r->len, &ret->data);
}

int ike_pld_id_encode(struct ike_writer *w, const struct ike_pld_id *id)
{
	int rc = ike_writer_u8(w, id->type);

	rc = rc ?: ike_writer_zeros(w, 3);
	return rc ?: ike_writer_bytes(w, id->data, id->len);
}

int ike_pld_auth_decode(struct ike_reader *r, struct ike_pld_auth *ret, struct ike_err *err)
{
	if (ike_reader_u8(r, &ret->method) < 0 || skip_reserved(r, 3, "AUTH", err) < 0)
		return ike_fail(err, r, -EBADMSG, "AUTH", "truncated header");
	if (r->len == 0)
		return ike_fail(err, r, -EBADMSG, "AUTH data", "empty");
	ret->len = r->len;
	return ike_reader_bytes(r, r->len, &ret->data);
}

int ike_pld_auth_encode(struct ike_writer *w, const struct ike_pld_auth *auth)
{
	int rc = ike_writer_u8(w, auth->method);

	rc = rc ?: ike_writer_zeros(w, 3);
	return rc ?: ike_writer_bytes(w, auth->data, auth->len);
}

int ike_pld_nonce_decode(struct ike_reader *r, struct ike_pld_nonce *ret, struct ike_err *err)
{
	/* §3.9: between 16 and 256 octets. */
	if (r->len < IKE_NONCE_MIN)
		return ike_fail(err, r, -EBADMSG, "nonce", "shorter than 16 bytes");
	if (r->len > IKE_NONCE_MAX)
		return ike_fail(err, r, -EBADMSG, "nonce", "longer than 256 bytes");
	ret->len = r->len;
	return ike_reader_bytes(r, r->len, &ret->data);
}

int ike_pld_nonce_encode(struct ike_writer *w, const struct ike_pld_nonce *nonce)
{
	if (nonce->len < IKE_NONCE_MIN || nonce->len > IKE_NONCE_MAX)
		return -EINVAL;
	return ike_writer_bytes(w, nonce->data, nonce->len);
}

int ike_pld_notify_decode(struct ike_reader *r, struct ike_pld_notify *ret, struct ike_err *err)
{
	memset(ret, 0, sizeof(*ret));
	if (ike_reader_u8(r, &ret->protocol) < 0 || ike_reader_u8(r, &ret->spi_len) < 0 ||
	    ike_reader_u16(r, &ret->type) < 0)
		return ike_fail(err, r, -EBADMSG, "notify", "truncated header");
	if (ret->spi_len != 0 && ret->spi_len != 4 && ret->spi_len != 8)
		return ike_fail(err, r, -EBADMSG, "notify SPI size", "not 0, 4 or 8");
	if (ike_reader_copy(r, ret->spi, ret->spi_len) < 0)
		return ike_fail(err, r, -EBADMSG, "notify SPI", "past the end of the payload");
	ret->len = r->len;
	return ike_reader_bytes(r, r->len, &ret->data);
}

int ike_pld_notify_encode(struct ike_writer *w, const struct ike_pld_notify *n)
{
	int rc;

	if (n->spi_len > IKE_MAX_SPI_LEN)
		return -EINVAL;
	rc = ike_writer_u8(w, n->protocol);
	rc = rc ?: ike_writer_u8(w, n->spi_len);
	rc = rc ?: ike_writer_u16(w, n->type);
	rc = rc ?: ike_writer_bytes(w, n->spi, n->spi_len);
	return rc ?: ike_writer_bytes(w, n->data, n->len);
}

int ike_notify_invalid_ke_group(const struct ike_pld_notify *n, uint16_t *ret_group)
{
	if (n->type != IKE_N_INVALID_KE_PAYLOAD || n->len != 2)
		return -EBADMSG;
	*ret_group = (uint16_t)(n->data[0] << 8 | n->data[1]);
	return 0;
}

int ike_notify_cookie(const struct ike_pld_notify *n, const uint8_t **ret, size_t *ret_len)
{
	/* §2.6: a cookie is 1 to 64 octets. */
	if (n->type != IKE_N_COOKIE || n->len < 1 || n->len > IKE_COOKIE_MAX)
		return -EBADMSG;
	*ret = n->data;
	*ret_len = n->len;
	return 0;
}

int ike_notify_nat_hash(const struct ike_pld_notify *n, const uint8_t **ret_hash)
{
	if ((n->type != IKE_N_NAT_DETECTION_SOURCE_IP &&
	     n->type != IKE_N_NAT_DETECTION_DESTINATION_IP) || n->len != IKE_NAT_HASH_LEN)
		return -EBADMSG;
	*ret_hash = n->data;
	return 0;
}

int ike_pld_delete_decode(struct ike_reader *r, struct ike_pld_delete *ret, struct ike_err *err)
{
	if (ike_reader_u8(r, &ret->protocol) < 0 || ike_reader_u8(r, &ret->spi_len) < 0 ||
	    ike_reader_u16(r, &ret->n_spis) < 0)
		return ike_fail(err, r, -EBADMSG, "delete", "truncated header");
	switch (ret->protocol) {
	case IKE_PROTO_IKE:
		/* §3.11: deleting the IKE SA carries no SPI (the header has them). */
		if (ret->spi_len != 0 || ret->n_spis != 0)
			return ike_fail(err, r, -EBADMSG, "delete", "IKE delete with SPIs");
		break;
	case IKE_PROTO_AH:
	case IKE_PROTO_ESP:
		if (ret->spi_len != 4)
			return ike_fail(err, r, -EBADMSG, "delete SPI size", "not 4 for AH/ESP");
		if (ret->n_spis == 0)
			return ike_fail(err, r, -EBADMSG, "delete", "no SPI");
		break;
	default:
		return ike_fail(err, r, -EBADMSG, "delete protocol", "unknown");
	}
	if (ret->n_spis > IKE_MAX_DELETE_SPIS)
		return ike_fail(err, r, -EMSGSIZE, "delete SPIs", "more than the limit");
	if (r->len != (size_t)ret->n_spis * ret->spi_len)
		return ike_fail(err, r, -EBADMSG, "delete SPIs", "length differs from the count");
	return ike_reader_bytes(r, r->len, &ret->spis);
}

int ike_pld_delete_encode(struct ike_writer *w, const struct ike_pld_delete *d)
{
	int rc = ike_writer_u8(w, d->protocol);

	rc = rc ?: ike_writer_u8(w, d->spi_len);
	rc = rc ?: ike_writer_u16(w, d->n_spis);
	return rc ?: ike_writer_bytes(w, d->spis, (size_t)d->n_spis * d->spi_len);
}

size_t ike_ts_addr_len(uint8_t ts_type)
{
	switch (ts_type) {
	case IKE_TS_IPV4_ADDR_RANGE:
		return 4;
	case IKE_TS_IPV6_ADDR_RANGE:
		return 16;
	default:
		return 0;
	}
}

int ike_pld_ts_decode(struct ike_reader *r, struct ike_pld_ts *ret, struct ike_err *err)
{
	uint8_t n;

	ret->n = 0;
	if (ike_reader_u8(r, &n) < 0 || skip_reserved(r, 3, "TS", err) < 0)
		return ike_fail(err, r, -EBADMSG, "TS", "truncated header");
	if (n == 0)
		return ike_fail(err, r, -EBADMSG, "number of TSs", "zero");
	if (n > IKE_MAX_TS)
		return ike_fail(err, r, -EMSGSIZE, "traffic selectors", "more than the limit");
	for (uint8_t i = 0; i < n; i++) {
		struct ike_ts *ts = &ret->ts[i];
		struct ike_reader sel;
		uint16_t sel_len;
		size_t alen;

		memset(ts, 0, sizeof(*ts));
		if (ike_reader_u8(r, &ts->type) < 0 || ike_reader_u8(r, &ts->ip_proto) < 0 ||
		    ike_reader_u16(r, &sel_len) < 0)
			return ike_fail(err, r, -EBADMSG, "traffic selector", "truncated header");
		alen = ike_ts_addr_len(ts->type);
		if (alen == 0)
			return ike_fail(err, r, -EBADMSG, "TS type", "unknown");
		if (sel_len != 8 + 2 * alen)
			return ike_fail(err, r, -EBADMSG, "selector length", "wrong for its type");
		if (ike_reader_sub(r, sel_len - 4, &sel) < 0)
			return ike_fail(err, r, -EBADMSG, "selector length", "past the end of the payload");
		if (ike_reader_u16(&sel, &ts->start_port) < 0 ||
		    ike_reader_u16(&sel, &ts->end_port) < 0 ||
		    ike_reader_copy(&sel, ts->start, alen) < 0 ||
		    ike_reader_copy(&sel, ts->end, alen) < 0)
			return ike_fail(err, &sel, -EBADMSG, "traffic selector", "truncated");
		if (memcmp(ts->start, ts->end, alen) > 0)
			return ike_fail(err, &sel, -EBADMSG, "traffic selector",
					"start address after end address");
		/* §3.13.1: start > end ports is only the OPAQUE form 65535..0. */
		if (ts->start_port > ts->end_port && !(ts->start_port == 65535 && ts->end_port == 0))
			return ike_fail(err, &sel, -EBADMSG, "traffic selector",
					"start port after end port");
	}
	if (r->len != 0)
		return ike_fail(err, r, -EBADMSG, "TS", "data after the last selector");
	ret->n = n;
	return 0;
}

int ike_pld_ts_encode(struct ike_writer *w, const struct ike_pld_ts *ts)
{
	int rc;

	if (ts->n == 0 || ts->n > IKE_MAX_TS)
		return -EINVAL;
	rc = ike_writer_u8(w, ts->n);
	rc = rc ?: ike_writer_zeros(w, 3);
	for (uint8_t i = 0; rc == 0 && i < ts->n; i++) {
		const struct ike_ts *t = &ts->ts[i];
		size_t alen = ike_ts_addr_len(t->type);

		if (alen == 0)
			return -EINVAL;
		rc = ike_writer_u8(w, t->type);
		rc = rc ?: ike_writer_u8(w, t->ip_proto);
		rc = rc ?: ike_writer_u16(w, (uint16_t)(8 + 2 * alen));
		rc = rc ?: ike_writer_u16(w, t->start_port);
		rc = rc ?: ike_writer_u16(w, t->end_port);
		rc = rc ?: ike_writer_bytes(w, t->start, alen);
		rc = rc ?: ike_writer_bytes(w, t->end, alen);
	}
	return rc;
}

int ike_pld_cp_decode(struct ike_reader *r, struct ike_pld_cp *ret, struct ike_err *err)
{
	ret->n = 0;
	if (ike_reader_u8(r, &ret->cfg_type) < 0 || skip_reserved(r, 3, "CP", err) < 0)
		return ike_fail(err, r, -EBADMSG, "CP", "truncated header");
	if (ret->cfg_type < IKE_CFG_REQUEST || ret->cfg_type > IKE_CFG_ACK)
		return ike_fail(err, r, -EBADMSG, "CFG type", "unknown");
	while (r->len > 0) {
		struct ike_cp_attr *a;
		uint16_t type;

		if (ret->n == IKE_MAX_CP_ATTRS)
			return ike_fail(err, r, -EMSGSIZE, "CP attributes", "more than the limit");
		a = &ret->a[ret->n];
		if (ike_reader_u16(r, &type) < 0 || ike_reader_u16(r, &a->len) < 0)
			return ike_fail(err, r, -EBADMSG, "CP attribute", "truncated header");
		a->type = type & 0x7fff;	/* the top bit is reserved */
		if (ike_reader_bytes(r, a->len, &a->value) < 0)
			return ike_fail(err, r, -EBADMSG, "CP attribute length",
					"past the end of the payload");
		ret->n++;
	}
	return 0;
}

int ike_pld_cp_encode(struct ike_writer *w, const struct ike_pld_cp *cp)
{
	int rc = ike_writer_u8(w, cp->cfg_type);

	rc = rc ?: ike_writer_zeros(w, 3);
	for (uint8_t i = 0; rc == 0 && i < cp->n; i++) {
		rc = ike_writer_u16(w, cp->a[i].type & 0x7fff);
		rc = rc ?: ike_writer_u16(w, cp->a[i].len);
		rc = rc ?: ike_writer_bytes(w, cp->a[i].value, cp->a[i].len);
	}
	return rc;
}

int ike_pld_vendor_decode(struct ike_reader *r, struct ike_pld_vendor *ret, struct ike_err *err)
{
	if (r->len == 0)
		return ike_fail(err, r, -EBADMSG, "vendor ID", "empty");
	ret->len = r->len;
	return ike_reader_bytes(r, r->len, &ret->data);
}

int ike_pld_skf_decode(struct ike_reader *r, struct ike_pld_skf *ret, struct ike_err *err)
{
	if (ike_reader_u16(r, &ret->frag_num) < 0 || ike_reader_u16(r, &ret->total) < 0)
		return ike_fail(err, r, -EBADMSG, "SKF", "truncated header");
	/* RFC 7383 §2.5: numbered from 1, never past the total. */
	if (ret->frag_num == 0 || ret->total == 0)
		return ike_fail(err, r, -EBADMSG, "SKF", "fragment number or total is zero");
	if (ret->frag_num > ret->total)
		return ike_fail(err, r, -EBADMSG, "SKF", "fragment number past the total");
	return 0;
}

int ike_pld_skf_encode(struct ike_writer *w, const struct ike_pld_skf *skf)
{
	int rc = ike_writer_u16(w, skf->frag_num);

	return rc ?: ike_writer_u16(w, skf->total);
}
