/*
 * Bounds-checked access to bytes from outside. Every parser reads through an ike_reader;
 * a length-prefixed field becomes a sub-reader so a payload parser cannot read past its
 * payload. Reads fail with -EBADMSG without advancing. The writer grows up to a maximum
 * and fails cleanly with -EMSGSIZE (or -ENOMEM) without writing partial data.
 */
#ifndef IKD_IKE_READER_H
#define IKD_IKE_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ike_reader {
	const uint8_t *p;
	size_t len;
	size_t off;	/* offset of p from the start of the message, for error reports */
};

/* Where and why a message was rejected; reason and field are static strings. */
struct ike_err {
	size_t offset;
	const char *field;
	const char *reason;
};

static inline struct ike_reader ike_reader_init(const uint8_t *p, size_t len)
{
	return (struct ike_reader){ .p = p, .len = len, .off = 0 };
}

int ike_reader_u8(struct ike_reader *r, uint8_t *ret);
int ike_reader_u16(struct ike_reader *r, uint16_t *ret);
int ike_reader_u32(struct ike_reader *r, uint32_t *ret);
int ike_reader_u64(struct ike_reader *r, uint64_t *ret);
/* Borrow n bytes: *ret points into the reader's buffer. */
int ike_reader_bytes(struct ike_reader *r, size_t n, const uint8_t **ret);
int ike_reader_copy(struct ike_reader *r, void *dst, size_t n);
int ike_reader_skip(struct ike_reader *r, size_t n);
/* Split the next n bytes off as their own reader. */
int ike_reader_sub(struct ike_reader *r, size_t n, struct ike_reader *ret);

/*
 * Record a rejection in err (may be NULL) at r's current offset and return rc, so parsers
 * can write `return ike_fail(err, r, -EBADMSG, "nonce", "shorter than 16 bytes");`.
 */
int ike_fail(struct ike_err *err, const struct ike_reader *r, int rc, const char *field,
	     const char *reason);

/*
 * 24 bytes: a tunnel holds three (the message being exchanged, our request and our answer
 * kept for retransmission), and a gateway 100,000 tunnels.
 */
struct ike_writer {
	uint8_t *buf;
	uint32_t len;
	uint32_t cap;
	uint32_t max;	/* hard limit on len */
};

/* max past 4 GiB - 1 is that. */
void ike_writer_init(struct ike_writer *w, size_t max);
void ike_writer_clear(struct ike_writer *w);	/* frees the buffer (wiped first) */
/* Its buffer sized to what it holds: a message kept, written no more (it may grow again). */
void ike_writer_shrink(struct ike_writer *w);
int ike_writer_u8(struct ike_writer *w, uint8_t v);
int ike_writer_u16(struct ike_writer *w, uint16_t v);
int ike_writer_u32(struct ike_writer *w, uint32_t v);
int ike_writer_u64(struct ike_writer *w, uint64_t v);
int ike_writer_bytes(struct ike_writer *w, const void *p, size_t n);
int ike_writer_zeros(struct ike_writer *w, size_t n);
/* Reserve n bytes to patch later; *ret_off is their offset. */
int ike_writer_reserve(struct ike_writer *w, size_t n, size_t *ret_off);
void ike_writer_put_u16_at(struct ike_writer *w, size_t off, uint16_t v);
void ike_writer_put_u32_at(struct ike_writer *w, size_t off, uint32_t v);

#endif
