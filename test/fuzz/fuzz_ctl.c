/*
 * libFuzzer: control-socket bytes as a hostile local client sends them, through the framer
 * (in odd-sized pieces) and the decoder, rows and key/value attributes included.
 */
#include <stdint.h>
#include <stdlib.h>

#include "ctl/ctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ctl_attr attrs[CTL_MAX_ATTRS], inner[64];
	struct ctl_framer f = { 0 };
	size_t off = 0, step = size ? (size_t)data[0] % 7 + 1 : 1;

	while (off < size) {
		size_t n = size - off < step ? size - off : step;
		const uint8_t *body;
		size_t len;

		if (ctl_framer_feed(&f, data + off, n) < 0)
			break;
		off += n;
		while (ctl_framer_next(&f, &body, &len) == 1) {
			struct ctl_msg m = { .attrs = attrs };
			const char *why, *key;
			const uint8_t *value;
			size_t vlen, n_inner;

			if (ctl_decode(body, len, &m, &why) == 0) {
				for (size_t i = 0; i < m.n_attrs; i++) {
					if (m.attrs[i].type == CTL_A_KV &&
					    ctl_attr_kv(&m.attrs[i], &key, &value, &vlen) == 0 &&
					    value + vlen > body + len)
						abort();
					if (m.attrs[i].type == CTL_A_ROW)
						(void)ctl_row_decode(&m.attrs[i], inner, 64, &n_inner);
				}
			}
			ctl_framer_pop(&f);
		}
	}
	ctl_framer_clear(&f);
	return 0;
}
