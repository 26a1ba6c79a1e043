/*
 * libFuzzer: netlink messages as the kernel might send them (truncated, lying lengths,
 * attributes past the end) through lib/xfrm's policy, SA, event and SPD-information parsers.
 */
#include <stdint.h>
#include <stdlib.h>

#include "xfrm/events.h"
#include "xfrm/xfrm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xfrm_policy p;
	struct xfrm_event e;
	struct xfrm_sa_entry sa;
	struct xfrm_spd_hthresh h;
	/* The receive buffer is aligned like the kernel's; copy so ASan sees exact bounds. */
	uint8_t *buf = malloc(size ? size : 1);

	if (!buf)
		return 0;
	for (size_t i = 0; i < size; i++)
		buf[i] = data[i];
	if (xfrm_policy_parse(buf, size, &p) == 0 && p.n_tmpls > XFRM_MAX_TMPLS)
		abort();
	/* The same bytes as a kernel event (EXPIRE, ACQUIRE, MAPPING, POLEXPIRE). */
	(void)xfrm_event_parse(buf, size, &e);
	(void)xfrm_sa_parse(buf, size, &sa);
	if (xfrm_spd_hthresh_parse(buf, size, &h) == 0 && (h.lbits4 > 32 || h.rbits6 > 128))
		abort();
	free(buf);
	return 0;
}
