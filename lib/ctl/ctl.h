/*
 * The control protocol between ikd and xfrmctl over /run/ikd/ikd.sock, one definition for
 * both sides. A frame is a 4-byte big-endian length and a body:
 *   u32 request id | u16 code (a verb in a request, a status in a reply) | u16 flags |
 *   attributes: u16 type | u32 length | value ...
 * Bodies are capped (CTL_MAX_MSG); decoding borrows the buffer and checks every length.
 * Sockets are the programs' business: here are encoders, the decoder and a framer for a
 * stream that arrives in pieces.
 */
#ifndef IKD_CTL_H
#define IKD_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ike/reader.h"

#define CTL_MAX_MSG	(1024 * 1024)
#define CTL_MAX_ATTRS	4096
#define CTL_HEADER_LEN	8
#define CTL_FLAG_REPLY	0x0001
/* CSV a frame of a chunked `site import` or `site export` carries (lib/ctl/handler.h). */
#define CTL_CHUNK	(60 * 1024)

enum ctl_verb {
	CTL_STATUS = 1,
	CTL_SITE_LIST, CTL_SITE_SHOW, CTL_SITE_ADD, CTL_SITE_EDIT, CTL_SITE_DELETE,
	CTL_SITE_ENABLE, CTL_SITE_DISABLE, CTL_SITE_IMPORT, CTL_SITE_EXPORT,
	CTL_POP_LIST, CTL_POP_SHOW, CTL_POP_ADD, CTL_POP_EDIT, CTL_POP_DELETE,
	CTL_SA_LIST, CTL_REFRESH, CTL_MONITOR,
	CTL_METRICS,		/* appended: the numbers above do not move */
	CTL_SITE_RENAME,	/* names: old, new */
	CTL_TUNNEL,		/* names: site [, pop]; KVs action (initiate|terminate|rekey), ike */
	CTL_VERB_MAX,
};

enum ctl_attr_type {
	CTL_A_NAME = 1,		/* a site or POP name (repeatable) */
	CTL_A_KV,		/* "key\0value": a field to set, or a field of a row */
	CTL_A_PSK,		/* a pre-shared key: bytes, wiped by whoever holds them */
	CTL_A_DATA,		/* a blob: CSV to import or exported */
	CTL_A_ERROR,		/* a reply's error, in words */
	CTL_A_ROW,		/* a record of a reply: nested CTL_A_KV attributes */
	CTL_A_FLAG,		/* a named option: "dry-run", "with-psk" ... */
};

/*
 * An error reply may carry, before its CTL_A_ERROR, the KV "error-class": "usage" when the
 * request itself is wrong (an unknown filter or field, a bad option value, a name missing:
 * xfrmctl exits 2, as for its own usage errors), "permission" when the client may not use
 * the socket. Without it the request was refused (not found, invalid record, not saved:
 * exit 1). Older clients ignore KVs in an error reply.
 */
#define CTL_ERROR_CLASS		"error-class"

struct ctl_attr {
	uint16_t type;
	uint32_t len;
	const uint8_t *p;
};

struct ctl_msg {
	uint32_t id;
	uint16_t code;
	uint16_t flags;
	size_t n_attrs;
	struct ctl_attr *attrs;		/* CTL_MAX_ATTRS entries, owned by the caller */
};

/* Decode one body: -EBADMSG (why says what), -EMSGSIZE past the caps. */
int ctl_decode(const uint8_t *body, size_t len, struct ctl_msg *ret, const char **why);

/* A KV attribute's key and value (the value is not NUL-terminated: its length is given). */
int ctl_attr_kv(const struct ctl_attr *a, const char **ret_key, const uint8_t **ret_value,
		size_t *ret_value_len);
/* The nested attributes of a CTL_A_ROW, decoded like a body's. */
int ctl_row_decode(const struct ctl_attr *row, struct ctl_attr *attrs, size_t max, size_t *ret_n);

/* Encoding: begin writes the frame length (patched by end) and the header. */
int ctl_begin(struct ike_writer *w, uint32_t id, uint16_t code, uint16_t flags, size_t *ret_mark);
int ctl_put(struct ike_writer *w, uint16_t type, const void *p, size_t len);
int ctl_put_str(struct ike_writer *w, uint16_t type, const char *s);
int ctl_put_kv(struct ike_writer *w, const char *key, const char *value);
/* A KV whose value is a number in decimal. */
int ctl_put_u64(struct ike_writer *w, const char *key, uint64_t v);
/* A row: begin, KV attributes, end (its length patched). */
int ctl_row_begin(struct ike_writer *w, size_t *ret_mark);
int ctl_row_end(struct ike_writer *w, size_t mark);
int ctl_end(struct ike_writer *w, size_t mark);

/*
 * A stream of frames arriving in pieces (a slow or stalled client): feed what was read, take
 * complete bodies out. A frame announcing more than CTL_MAX_MSG is refused (-EMSGSIZE) before
 * anything is buffered for it. The buffer is wiped as it is released (it may hold a PSK).
 */
struct ctl_framer {
	uint8_t *buf;
	size_t len, cap;
};

int ctl_framer_feed(struct ctl_framer *f, const uint8_t *data, size_t len);
/* 1 with the next complete body (valid until ctl_framer_pop), 0 when more bytes are needed. */
int ctl_framer_next(const struct ctl_framer *f, const uint8_t **ret_body, size_t *ret_len);
void ctl_framer_pop(struct ctl_framer *f);
void ctl_framer_clear(struct ctl_framer *f);

const char *ctl_verb_name(uint16_t verb);

/*
 * `status`'s kernel-esp line: "yes", or "no (OPTION not set: what it means)" for the kernel
 * option the start-up probe found missing ("no" alone when it named none). Into buf.
 */
const char *ctl_kernel_esp_text(bool ok, const char *missing, char *buf, size_t len);

#endif
