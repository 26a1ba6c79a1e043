/*
 * ICMP echo (RFC 792) and ICMPv6 echo (RFC 4443) for the probe that checks a tunnel's data
 * path: build a request, recognise a reply. No sockets here; ikd/probe.c does the I/O.
 */
#ifndef IKD_PROBE_ICMP_H
#define IKD_PROBE_ICMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ICMP_ECHO_DATA_LEN 16
#define ICMP_ECHO_LEN (8 + ICMP_ECHO_DATA_LEN)	/* what a request of ours is */

struct icmp_echo {
	uint16_t id, seq;
	uint8_t data[ICMP_ECHO_DATA_LEN];	/* a token the reply must carry back */
};

/*
 * An echo request into buf (cap >= ICMP_ECHO_LEN), *ret_len its length. IPv4: with its
 * checksum; ICMPv6: the checksum covers a pseudo-header only the kernel knows, so it is left
 * zero for the kernel (it always fills it in on a raw ICMPv6 socket). -EMSGSIZE if cap is short.
 */
int icmp_echo_request(uint8_t *buf, size_t cap, bool v6, const struct icmp_echo *e,
		      size_t *ret_len);

/*
 * A datagram read from a raw socket: for IPv4 the whole packet, IP header first (ret_src4
 * gets its source); for ICMPv6 the ICMP message alone (the kernel has checked its checksum,
 * the source comes with recvfrom). 0 and *ret filled for an echo reply with a data part of
 * exactly ICMP_ECHO_DATA_LEN bytes; -ENOMSG for any other ICMP message (not ours to read);
 * -EBADMSG for a malformed one (a length, a header field or the IPv4 checksum wrong, a
 * fragment).
 */
int icmp_echo_reply_parse(const uint8_t *buf, size_t len, bool v6, struct icmp_echo *ret,
			  uint8_t ret_src4[4]);

#endif
