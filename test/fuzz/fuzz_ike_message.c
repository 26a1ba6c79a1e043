/*
 * libFuzzer: whole IKE datagrams through the message decoder. A message that decodes must
 * re-encode, the re-encoding must decode, and encoding that again must give the same bytes
 * (decode and encode agree on every field they keep).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ike/message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ike_msg m, m2;
	struct ike_writer w1, w2;
	struct ike_err err;

	if (ike_msg_decode(data, size, &m, &err) < 0)
		return 0;
	ike_writer_init(&w1, IKE_MAX_MSG_LEN);
	ike_writer_init(&w2, IKE_MAX_MSG_LEN);
	if (ike_msg_encode(&m, &w1) < 0)
		abort();
	if (ike_msg_decode(w1.buf, w1.len, &m2, &err) < 0)
		abort();
	if (ike_msg_encode(&m2, &w2) < 0 || w1.len != w2.len || memcmp(w1.buf, w2.buf, w1.len))
		abort();
	ike_writer_clear(&w1);
	ike_writer_clear(&w2);
	return 0;
}
