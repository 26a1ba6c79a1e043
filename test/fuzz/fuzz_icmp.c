/*
 * libFuzzer: datagrams from the probe's raw ICMP sockets (lib/probe/icmp.c), as IPv4 packets
 * and as ICMPv6 messages (the first byte chooses). A parsed reply must be an echo of our
 * length; nothing may be read outside the buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "probe/icmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct icmp_echo e;
	uint8_t src[4];
	uint8_t *copy;
	bool v6;

	if (size < 1)
		return 0;
	v6 = data[0] & 1;
	/* An exact-size copy, so ASan sees any read past the datagram. */
	copy = malloc(size - 1 ? size - 1 : 1);
	if (!copy)
		return 0;
	memcpy(copy, data + 1, size - 1);
	if (icmp_echo_reply_parse(copy, size - 1, v6, &e, src) == 0 && size - 1 < ICMP_ECHO_LEN)
		abort();
	free(copy);
	return 0;
}
