/* The SA payload: proposals, transforms and their attributes (RFC 7296 §3.3). */
#include <errno.h>
#include <string.h>

#include "ike/payload.h"
#include "ike/proposal.h"

#define PROP_MORE	2	/* §3.3.1 "Last Substruc": another proposal follows */
#define XFORM_MORE	3	/* §3.3.2: another transform follows */

/* The attributes of one transform; *unknown when one is not IKE_ATTR_KEY_LENGTH. */
static int decode_attrs(struct ike_reader *r, struct ike_transform *t, bool *unknown,
			struct ike_err *err)
{
	while (r->len > 0) {
		uint16_t type, len_or_value;

		if (ike_reader_u16(r, &type) < 0 || ike_reader_u16(r, &len_or_value) < 0)
			return ike_fail(err, r, -EBADMSG, "transform attribute", "truncated header");
		if (type & IKE_ATTR_FORMAT_TV) {
			if ((type & ~IKE_ATTR_FORMAT_TV) == IKE_ATTR_KEY_LENGTH) {
				if (t->key_bits)
					return ike_fail(err, r, -EBADMSG, "key length",
							"attribute repeated");
				if (len_or_value == 0)
					return ike_fail(err, r, -EBADMSG, "key length", "zero");
				t->key_bits = len_or_value;
			} else {
				*unknown = true;
			}
		} else {
			/* TLV form: no TLV attribute is defined for IKEv2, skip its value. */
			if (ike_reader_skip(r, len_or_value) < 0)
				return ike_fail(err, r, -EBADMSG, "transform attribute",
						"value longer than the transform");
			*unknown = true;
		}
	}
	return 0;
}

static int decode_transform(struct ike_reader *r, struct ike_transform *t, bool *ret_unknown_attr,
			    bool *ret_more, struct ike_err *err)
{
	struct ike_reader body;
	uint8_t last, reserved, reserved2;
	uint16_t len;

	memset(t, 0, sizeof(*t));
	if (ike_reader_u8(r, &last) < 0 || ike_reader_u8(r, &reserved) < 0 ||
	    ike_reader_u16(r, &len) < 0)
		return ike_fail(err, r, -EBADMSG, "transform", "truncated header");
	if (last != 0 && last != XFORM_MORE)
		return ike_fail(err, r, -EBADMSG, "transform", "bad last-substructure value");
	if (len < 8)
		return ike_fail(err, r, -EBADMSG, "transform length", "shorter than 8");
	if (ike_reader_sub(r, len - 4, &body) < 0)
		return ike_fail(err, r, -EBADMSG, "transform length", "past the end of the proposal");
	if (ike_reader_u8(&body, &t->type) < 0 || ike_reader_u8(&body, &reserved2) < 0 ||
	    ike_reader_u16(&body, &t->id) < 0)
		return ike_fail(err, &body, -EBADMSG, "transform", "truncated");
	*ret_more = last == XFORM_MORE;
	return decode_attrs(&body, t, ret_unknown_attr, err);
}

static int decode_proposal(struct ike_reader *r, struct ike_proposal *p, uint8_t expect_num,
			   bool *ret_more, struct ike_err *err)
{
	struct ike_reader body;
	uint8_t last, reserved, n_transforms, seen = 0;
	uint16_t len;
	bool more = true;
	int rc;

	memset(p, 0, sizeof(*p));
	if (ike_reader_u8(r, &last) < 0 || ike_reader_u8(r, &reserved) < 0 ||
	    ike_reader_u16(r, &len) < 0)
		return ike_fail(err, r, -EBADMSG, "proposal", "truncated header");
	if (last != 0 && last != PROP_MORE)
		return ike_fail(err, r, -EBADMSG, "proposal", "bad last-substructure value");
	if (len < 8)
		return ike_fail(err, r, -EBADMSG, "proposal length", "shorter than 8");
	if (ike_reader_sub(r, len - 4, &body) < 0)
		return ike_fail(err, r, -EBADMSG, "proposal length", "past the end of the payload");
	if (ike_reader_u8(&body, &p->num) < 0 || ike_reader_u8(&body, &p->protocol) < 0 ||
	    ike_reader_u8(&body, &p->spi_len) < 0 || ike_reader_u8(&body, &n_transforms) < 0)
		return ike_fail(err, &body, -EBADMSG, "proposal", "truncated");
	/* §3.3.1: the first proposal is number 1, each next one the same or one more. */
	if (p->num != expect_num && p->num != expect_num + 1)
		return ike_fail(err, &body, -EBADMSG, "proposal number", "out of sequence");
	if (p->spi_len != 0 && p->spi_len != 4 && p->spi_len != 8)
		return ike_fail(err, &body, -EBADMSG, "proposal SPI size", "not 0, 4 or 8");
	if (ike_reader_copy(&body, p->spi, p->spi_len) < 0)
		return ike_fail(err, &body, -EBADMSG, "proposal SPI", "past the end of the proposal");
	while (body.len > 0) {
		struct ike_transform t;
		bool unknown_attr = false;

		if (!more)
			return ike_fail(err, &body, -EBADMSG, "transform",
					"data after the last transform");
		if (seen == UINT8_MAX)
			return ike_fail(err, &body, -EBADMSG, "number of transforms",
					"more than 255");
		rc = decode_transform(&body, &t, &unknown_attr, &more, err);
		if (rc < 0)
			return rc;
		seen++;
		if (t.type < IKE_TRANSFORM_ENCR || t.type > IKE_TRANSFORM_ESN)
			p->unknown_type = true;
		if (unknown_attr || !ike_transform_known(&t) || ike_proposal_has(p, &t)) {
			p->n_ignored++;
			continue;
		}
		/* Cannot happen while IKE_MAX_TRANSFORMS covers what is known; never truncate. */
		if (p->n_transforms == IKE_MAX_TRANSFORMS)
			return ike_fail(err, &body, -EMSGSIZE, "transforms", "more than the limit");
		p->t[p->n_transforms++] = t;
	}
	if (more && seen > 0)
		return ike_fail(err, &body, -EBADMSG, "transform", "last one says more follow");
	if (seen != n_transforms)
		return ike_fail(err, &body, -EBADMSG, "number of transforms",
				"differs from the transforms present");
	*ret_more = last == PROP_MORE;
	return 0;
}

int ike_pld_sa_decode(struct ike_reader *r, struct ike_pld_sa *ret, struct ike_err *err)
{
	struct ike_proposal extra;
	bool more = true;
	uint8_t expect = 1;
	int rc;

	ret->n = 0;
	ret->n_ignored = 0;
	if (r->len == 0)
		return ike_fail(err, r, -EBADMSG, "SA", "no proposal");
	while (r->len > 0) {
		/* Past the cap a proposal is still read, into a scratch one, and counted. */
		struct ike_proposal *p = ret->n < IKE_MAX_PROPOSALS ? &ret->p[ret->n] : &extra;
		bool first = ret->n == 0 && ret->n_ignored == 0;

		if (!more)
			return ike_fail(err, r, -EBADMSG, "proposal", "data after the last proposal");
		/* The first must be 1; later ones may repeat the number (AND) or add one (OR). */
		rc = decode_proposal(r, p, first ? 0 : expect, &more, err);
		if (rc < 0)
			return rc;
		if (first && p->num != 1)
			return ike_fail(err, r, -EBADMSG, "proposal number", "first is not 1");
		expect = p->num;
		if (p == &extra)
			ret->n_ignored++;
		else
			ret->n++;
	}
	if (more)
		return ike_fail(err, r, -EBADMSG, "proposal", "last one says more follow");
	return 0;
}

int ike_pld_sa_encode(struct ike_writer *w, const struct ike_pld_sa *sa)
{
	for (uint8_t i = 0; i < sa->n; i++) {
		const struct ike_proposal *p = &sa->p[i];
		size_t len_off;
		size_t start = w->len;
		int rc;

		if (p->spi_len > IKE_MAX_SPI_LEN || p->n_transforms > IKE_MAX_TRANSFORMS)
			return -EINVAL;
		rc = ike_writer_u8(w, i + 1 < sa->n ? PROP_MORE : 0);
		rc = rc ?: ike_writer_u8(w, 0);
		rc = rc ?: ike_writer_reserve(w, 2, &len_off);
		rc = rc ?: ike_writer_u8(w, p->num);
		rc = rc ?: ike_writer_u8(w, p->protocol);
		rc = rc ?: ike_writer_u8(w, p->spi_len);
		rc = rc ?: ike_writer_u8(w, p->n_transforms);
		rc = rc ?: ike_writer_bytes(w, p->spi, p->spi_len);
		for (uint8_t j = 0; rc == 0 && j < p->n_transforms; j++) {
			const struct ike_transform *t = &p->t[j];

			rc = ike_writer_u8(w, j + 1 < p->n_transforms ? XFORM_MORE : 0);
			rc = rc ?: ike_writer_u8(w, 0);
			rc = rc ?: ike_writer_u16(w, t->key_bits ? 12 : 8);
			rc = rc ?: ike_writer_u8(w, t->type);
			rc = rc ?: ike_writer_u8(w, 0);
			rc = rc ?: ike_writer_u16(w, t->id);
			if (t->key_bits) {
				rc = rc ?: ike_writer_u16(w, IKE_ATTR_FORMAT_TV | IKE_ATTR_KEY_LENGTH);
				rc = rc ?: ike_writer_u16(w, t->key_bits);
			}
		}
		if (rc < 0)
			return rc;
		if (w->len - start > UINT16_MAX)
			return -EMSGSIZE;
		ike_writer_put_u16_at(w, len_off, (uint16_t)(w->len - start));
	}
	return 0;
}
