/*
 * libFuzzer: decrypted inner payload chains (what SK protects). The first byte is the first
 * payload type, the rest the chain. Every payload that decodes is decoded again by type
 * through the typed accessors, which must agree with the chain walk.
 */
#include <stdint.h>
#include <stdlib.h>

#include "ike/message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ike_chain c;
	struct ike_pld_notify n;
	uint8_t crit = 0;

	if (size < 1)
		return 0;
	if (ike_chain_decode(data + 1, size - 1, data[0], &c, &crit, NULL) < 0)
		return 0;
	for (uint8_t i = 0; i < c.n; i++)
		if (c.pl[i].known && ike_payload_validate(&c.pl[i], NULL) < 0)
			abort();
	if (ike_chain_find_notify(&c, IKE_N_COOKIE, &n) == 0) {
		const uint8_t *cookie;
		size_t len;

		(void)ike_notify_cookie(&n, &cookie, &len);
	}
	return 0;
}
