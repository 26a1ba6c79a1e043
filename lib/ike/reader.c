/* See reader.h. */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ike/reader.h"

static void advance(struct ike_reader *r, size_t n)
{
	r->p += n;
	r->len -= n;
	r->off += n;
}

int ike_reader_u8(struct ike_reader *r, uint8_t *ret)
{
	if (r->len < 1)
		return -EBADMSG;
	*ret = r->p[0];
	advance(r, 1);
	return 0;
}

int ike_reader_u16(struct ike_reader *r, uint16_t *ret)
{
	uint16_t v;

	if (r->len < sizeof(v))
		return -EBADMSG;
	memcpy(&v, r->p, sizeof(v));
	*ret = be16toh(v);
	advance(r, sizeof(v));
	return 0;
}

int ike_reader_u32(struct ike_reader *r, uint32_t *ret)
{
	uint32_t v;

	if (r->len < sizeof(v))
		return -EBADMSG;
	memcpy(&v, r->p, sizeof(v));
	*ret = be32toh(v);
	advance(r, sizeof(v));
	return 0;
}

int ike_reader_u64(struct ike_reader *r, uint64_t *ret)
{
	uint64_t v;

	if (r->len < sizeof(v))
		return -EBADMSG;
	memcpy(&v, r->p, sizeof(v));
	*ret = be64toh(v);
	advance(r, sizeof(v));
	return 0;
}

int ike_reader_bytes(struct ike_reader *r, size_t n, const uint8_t **ret)
{
	if (r->len < n)
		return -EBADMSG;
	*ret = r->p;
	advance(r, n);
	return 0;
}

int ike_reader_copy(struct ike_reader *r, void *dst, size_t n)
{
	if (r->len < n)
		return -EBADMSG;
	if (n)
		memcpy(dst, r->p, n);
	advance(r, n);
	return 0;
}

int ike_reader_skip(struct ike_reader *r, size_t n)
{
	if (r->len < n)
		return -EBADMSG;
	advance(r, n);
	return 0;
}

int ike_reader_sub(struct ike_reader *r, size_t n, struct ike_reader *ret)
{
	if (r->len < n)
		return -EBADMSG;
	*ret = (struct ike_reader){ .p = r->p, .len = n, .off = r->off };
	advance(r, n);
	return 0;
}

int ike_fail(struct ike_err *err, const struct ike_reader *r, int rc, const char *field,
	     const char *reason)
{
	if (err) {
		err->offset = r ? r->off : 0;
		err->field = field;
		err->reason = reason;
	}
	return rc;
}

void ike_writer_init(struct ike_writer *w, size_t max)
{
	*w = (struct ike_writer){ .max = max > UINT32_MAX ? UINT32_MAX : (uint32_t)max };
}

void ike_writer_clear(struct ike_writer *w)
{
	if (w->buf) {
		sodium_memzero(w->buf, w->cap);
		free(w->buf);
	}
	w->buf = NULL;
	w->len = w->cap = 0;
}

void ike_writer_shrink(struct ike_writer *w)
{
	uint8_t *p;

	if (!w->buf || w->cap == w->len || !w->len || !(p = malloc(w->len)))
		return;		/* out of memory: it stays as it was */
	memcpy(p, w->buf, w->len);
	sodium_memzero(w->buf, w->cap);
	free(w->buf);
	w->buf = p;
	w->cap = w->len;
}

static int grow(struct ike_writer *w, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (n > w->max || w->len > w->max - n)
		return -EMSGSIZE;
	if (w->len + n <= w->cap)
		return 0;
	cap = w->cap ? w->cap : 256;
	while (cap < w->len + n)
		cap *= 2;
	if (cap > w->max)
		cap = w->max;
	/* Not realloc: the old buffer may hold key material and must be wiped, not abandoned. */
	p = malloc(cap);
	if (!p)
		return -ENOMEM;
	if (w->buf) {
		memcpy(p, w->buf, w->len);
		sodium_memzero(w->buf, w->cap);
		free(w->buf);
	}
	w->buf = p;
	w->cap = cap;
	return 0;
}

int ike_writer_bytes(struct ike_writer *w, const void *p, size_t n)
{
	int r = grow(w, n);

	if (r < 0)
		return r;
	if (n)
		memcpy(w->buf + w->len, p, n);
	w->len += n;
	return 0;
}

int ike_writer_zeros(struct ike_writer *w, size_t n)
{
	int r = grow(w, n);

	if (r < 0)
		return r;
	memset(w->buf + w->len, 0, n);
	w->len += n;
	return 0;
}

int ike_writer_u8(struct ike_writer *w, uint8_t v)
{
	return ike_writer_bytes(w, &v, 1);
}

int ike_writer_u16(struct ike_writer *w, uint16_t v)
{
	v = htobe16(v);
	return ike_writer_bytes(w, &v, sizeof(v));
}

int ike_writer_u32(struct ike_writer *w, uint32_t v)
{
	v = htobe32(v);
	return ike_writer_bytes(w, &v, sizeof(v));
}

int ike_writer_u64(struct ike_writer *w, uint64_t v)
{
	v = htobe64(v);
	return ike_writer_bytes(w, &v, sizeof(v));
}

int ike_writer_reserve(struct ike_writer *w, size_t n, size_t *ret_off)
{
	size_t off = w->len;
	int r = ike_writer_zeros(w, n);

	if (r == 0)
		*ret_off = off;
	return r;
}

void ike_writer_put_u16_at(struct ike_writer *w, size_t off, uint16_t v)
{
	v = htobe16(v);
	memcpy(w->buf + off, &v, sizeof(v));
}

void ike_writer_put_u32_at(struct ike_writer *w, size_t off, uint32_t v)
{
	v = htobe32(v);
	memcpy(w->buf + off, &v, sizeof(v));
}
