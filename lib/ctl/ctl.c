/* The control protocol (see ctl.h). */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ctl/ctl.h"

static int decode_attrs(struct ike_reader *r, struct ctl_attr *attrs, size_t max, size_t *ret_n,
			const char **why)
{
	size_t n = 0;

	while (r->len > 0) {
		struct ctl_attr a;

		if (n == max) {
			*why = "more attributes than allowed";
			return -EMSGSIZE;
		}
		if (ike_reader_u16(r, &a.type) < 0 || ike_reader_u32(r, &a.len) < 0) {
			*why = "attribute header cut short";
			return -EBADMSG;
		}
		if (a.type == 0 || a.type > CTL_A_FLAG) {
			*why = "unknown attribute type";
			return -EBADMSG;
		}
		if (ike_reader_bytes(r, a.len, &a.p) < 0) {
			*why = "attribute longer than the message";
			return -EBADMSG;
		}
		attrs[n++] = a;
	}
	*ret_n = n;
	return 0;
}

int ctl_decode(const uint8_t *body, size_t len, struct ctl_msg *ret, const char **why)
{
	struct ike_reader r = ike_reader_init(body, len);

	*why = NULL;
	ret->n_attrs = 0;
	if (len > CTL_MAX_MSG) {
		*why = "message too large";
		return -EMSGSIZE;
	}
	if (ike_reader_u32(&r, &ret->id) < 0 || ike_reader_u16(&r, &ret->code) < 0 ||
	    ike_reader_u16(&r, &ret->flags) < 0) {
		*why = "header cut short";
		return -EBADMSG;
	}
	if (!(ret->flags & CTL_FLAG_REPLY) && (ret->code == 0 || ret->code >= CTL_VERB_MAX)) {
		*why = "unknown verb";
		return -EBADMSG;
	}
	return decode_attrs(&r, ret->attrs, CTL_MAX_ATTRS, &ret->n_attrs, why);
}

int ctl_attr_kv(const struct ctl_attr *a, const char **ret_key, const uint8_t **ret_value,
		size_t *ret_value_len)
{
	const uint8_t *nul = a->type == CTL_A_KV ? memchr(a->p, '\0', a->len) : NULL;

	if (!nul || nul == a->p)
		return -EBADMSG;
	*ret_key = (const char *)a->p;
	*ret_value = nul + 1;
	*ret_value_len = a->len - (size_t)(nul + 1 - a->p);
	return 0;
}

int ctl_row_decode(const struct ctl_attr *row, struct ctl_attr *attrs, size_t max, size_t *ret_n)
{
	struct ike_reader r = ike_reader_init(row->p, row->len);
	const char *why;

	if (row->type != CTL_A_ROW)
		return -EINVAL;
	return decode_attrs(&r, attrs, max, ret_n, &why);
}

int ctl_begin(struct ike_writer *w, uint32_t id, uint16_t code, uint16_t flags, size_t *ret_mark)
{
	int rc = ike_writer_reserve(w, 4, ret_mark);

	rc = rc ?: ike_writer_u32(w, id);
	rc = rc ?: ike_writer_u16(w, code);
	return rc ?: ike_writer_u16(w, flags);
}

int ctl_put(struct ike_writer *w, uint16_t type, const void *p, size_t len)
{
	int rc;

	if (len > CTL_MAX_MSG)
		return -EMSGSIZE;
	rc = ike_writer_u16(w, type);
	rc = rc ?: ike_writer_u32(w, (uint32_t)len);
	return rc ?: ike_writer_bytes(w, p, len);
}

int ctl_put_str(struct ike_writer *w, uint16_t type, const char *s)
{
	return ctl_put(w, type, s, strlen(s));
}

int ctl_put_kv(struct ike_writer *w, const char *key, const char *value)
{
	size_t kl = strlen(key), vl = strlen(value);
	int rc;

	if (kl == 0 || kl + 1 + vl > CTL_MAX_MSG)
		return -EINVAL;
	rc = ike_writer_u16(w, CTL_A_KV);
	rc = rc ?: ike_writer_u32(w, (uint32_t)(kl + 1 + vl));
	rc = rc ?: ike_writer_bytes(w, key, kl + 1);
	return rc ?: ike_writer_bytes(w, value, vl);
}

int ctl_put_u64(struct ike_writer *w, const char *key, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return ctl_put_kv(w, key, buf);
}

int ctl_row_begin(struct ike_writer *w, size_t *ret_mark)
{
	int rc = ike_writer_u16(w, CTL_A_ROW);

	return rc ?: ike_writer_reserve(w, 4, ret_mark);
}

int ctl_row_end(struct ike_writer *w, size_t mark)
{
	ike_writer_put_u32_at(w, mark, (uint32_t)(w->len - mark - 4));
	return 0;
}

int ctl_end(struct ike_writer *w, size_t mark)
{
	if (w->len - mark - 4 > CTL_MAX_MSG)
		return -EMSGSIZE;
	ike_writer_put_u32_at(w, mark, (uint32_t)(w->len - mark - 4));
	return 0;
}

int ctl_framer_feed(struct ctl_framer *f, const uint8_t *data, size_t len)
{
	uint32_t be;

	if (len > CTL_MAX_MSG + 4 || f->len > CTL_MAX_MSG + 4 - len)
		return -EMSGSIZE;
	if (f->len + len > f->cap) {
		size_t cap = f->cap ? f->cap : 4096;
		uint8_t *p;

		while (cap < f->len + len)
			cap *= 2;
		p = malloc(cap);
		if (!p)
			return -ENOMEM;
		if (f->buf) {
			memcpy(p, f->buf, f->len);
			sodium_memzero(f->buf, f->cap);
			free(f->buf);
		}
		f->buf = p;
		f->cap = cap;
	}
	memcpy(f->buf + f->len, data, len);
	f->len += len;
	/* Refuse an oversized frame as soon as its length is known. */
	if (f->len >= 4) {
		memcpy(&be, f->buf, 4);
		if (be32toh(be) > CTL_MAX_MSG)
			return -EMSGSIZE;
	}
	return 0;
}

int ctl_framer_next(const struct ctl_framer *f, const uint8_t **ret_body, size_t *ret_len)
{
	uint32_t be, n;

	if (f->len < 4)
		return 0;
	memcpy(&be, f->buf, 4);
	n = be32toh(be);
	if (n > CTL_MAX_MSG)
		return -EMSGSIZE;
	if (f->len - 4 < n)
		return 0;
	*ret_body = f->buf + 4;
	*ret_len = n;
	return 1;
}

void ctl_framer_pop(struct ctl_framer *f)
{
	uint32_t be, n;

	if (f->len < 4)
		return;
	memcpy(&be, f->buf, 4);
	n = be32toh(be);
	if (f->len - 4 < n)
		return;
	memmove(f->buf, f->buf + 4 + n, f->len - 4 - n);
	f->len -= 4 + n;
	sodium_memzero(f->buf + f->len, 4 + n);
}

void ctl_framer_clear(struct ctl_framer *f)
{
	if (f->buf) {
		sodium_memzero(f->buf, f->cap);
		free(f->buf);
	}
	memset(f, 0, sizeof(*f));
}

const char *ctl_verb_name(uint16_t verb)
{
	static const char *const names[CTL_VERB_MAX] = {
		[CTL_STATUS] = "status", [CTL_SITE_LIST] = "site list", [CTL_SITE_SHOW] = "site show",
		[CTL_SITE_ADD] = "site add", [CTL_SITE_EDIT] = "site edit",
		[CTL_SITE_DELETE] = "site delete", [CTL_SITE_ENABLE] = "site enable",
		[CTL_SITE_DISABLE] = "site disable", [CTL_SITE_IMPORT] = "site import",
		[CTL_SITE_EXPORT] = "site export", [CTL_POP_LIST] = "pop list",
		[CTL_POP_SHOW] = "pop show", [CTL_POP_ADD] = "pop add", [CTL_POP_EDIT] = "pop edit",
		[CTL_POP_DELETE] = "pop delete", [CTL_SA_LIST] = "sa list",
		[CTL_REFRESH] = "refresh", [CTL_MONITOR] = "monitor", [CTL_METRICS] = "metrics",
		[CTL_SITE_RENAME] = "site rename", [CTL_TUNNEL] = "tunnel",
	};

	/* Sized by CTL_VERB_MAX: a verb added without its name reads "unknown", not past the end. */
	return verb > 0 && verb < CTL_VERB_MAX && names[verb] ? names[verb] : "unknown";
}

const char *ctl_kernel_esp_text(bool ok, const char *missing, char *buf, size_t len)
{
	static const struct {
		const char *option, *meaning;
	} options[] = {
		{ "CONFIG_INET_ESP", "the kernel has no ESP for IPv4; IKE negotiates, but no Child "
				     "SA can be installed (modprobe esp4)" },
		{ "CONFIG_INET6_ESP", "the kernel has no ESP for IPv6; IKE negotiates, but no "
				      "Child SA can be installed (modprobe esp6)" },
		{ "CONFIG_CRYPTO_GCM", "no AES-GCM in the kernel: Child SAs with aes*gcm16 cannot "
				       "be installed" },
		{ "CONFIG_CRYPTO_CBC", "no CBC mode in the kernel: Child SAs with aes*-sha* "
				       "cannot be installed" },
		{ "CONFIG_CRYPTO_SHA256", "no SHA-256 in the kernel: Child SAs with *-sha256 "
					  "cannot be installed" },
		{ "CONFIG_CRYPTO_SHA512", "no SHA-384/512 in the kernel: Child SAs with "
					  "*-sha384 and *-sha512 cannot be installed" },
		{ "CONFIG_CRYPTO_SHA1", "no SHA-1 in the kernel: Child SAs with *-sha1 cannot be "
					"installed" },
	};
	const char *meaning = "a kernel option ESP needs";

	if (ok)
		return snprintf(buf, len, "yes"), buf;
	if (!missing || !*missing)
		return snprintf(buf, len, "no"), buf;
	for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++)
		if (!strcmp(missing, options[i].option))
			meaning = options[i].meaning;
	snprintf(buf, len, "no (%s not set: %s)", missing, meaning);
	return buf;
}
