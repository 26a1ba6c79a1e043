/* ICMP echo for the tunnel probe (see icmp.h). */
#include <errno.h>
#include <string.h>

#include "probe/icmp.h"

#define ICMP_ECHOREPLY		0
#define ICMP_ECHO		8
#define ICMP6_ECHO_REQUEST	128
#define ICMP6_ECHO_REPLY	129
#define IPPROTO_ICMP_NUM	1

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* RFC 1071: the ones' complement of the ones' complement sum of 16-bit words. */
static uint16_t inet_csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += get16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

int icmp_echo_request(uint8_t *buf, size_t cap, bool v6, const struct icmp_echo *e,
		      size_t *ret_len)
{
	if (cap < ICMP_ECHO_LEN)
		return -EMSGSIZE;
	buf[0] = v6 ? ICMP6_ECHO_REQUEST : ICMP_ECHO;
	buf[1] = 0;
	put16(buf + 2, 0);
	put16(buf + 4, e->id);
	put16(buf + 6, e->seq);
	memcpy(buf + 8, e->data, ICMP_ECHO_DATA_LEN);
	if (!v6)
		put16(buf + 2, inet_csum(buf, ICMP_ECHO_LEN));
	*ret_len = ICMP_ECHO_LEN;
	return 0;
}

/* The ICMP message inside an IPv4 packet, checked; its source address into src. */
static int ipv4_payload(const uint8_t *buf, size_t len, const uint8_t **ret, size_t *ret_len,
			uint8_t src[4])
{
	size_t hlen, total;

	if (len < 20 || buf[0] >> 4 != 4)
		return -EBADMSG;
	hlen = (size_t)(buf[0] & 0x0f) * 4;
	total = get16(buf + 2);
	if (hlen < 20 || total < hlen || total > len)
		return -EBADMSG;
	if (get16(buf + 6) & 0x3fff)		/* MF set or an offset: a fragment */
		return -EBADMSG;
	if (buf[9] != IPPROTO_ICMP_NUM)
		return -ENOMSG;
	memcpy(src, buf + 12, 4);
	*ret = buf + hlen;
	*ret_len = total - hlen;
	return 0;
}

int icmp_echo_reply_parse(const uint8_t *buf, size_t len, bool v6, struct icmp_echo *ret,
			  uint8_t ret_src4[4])
{
	const uint8_t *m = buf;
	size_t mlen = len;
	uint8_t src[4] = { 0 };
	int rc;

	if (!v6) {
		rc = ipv4_payload(buf, len, &m, &mlen, src);
		if (rc < 0)
			return rc;
	}
	if (mlen < 8)
		return -EBADMSG;
	if (m[0] != (v6 ? ICMP6_ECHO_REPLY : ICMP_ECHOREPLY))
		return -ENOMSG;
	if (m[1] != 0)
		return -EBADMSG;
	if (!v6 && inet_csum(m, mlen) != 0)
		return -EBADMSG;
	if (mlen != ICMP_ECHO_LEN)
		return -ENOMSG;		/* someone else's echo (ping), not one of ours */
	ret->id = get16(m + 4);
	ret->seq = get16(m + 6);
	memcpy(ret->data, m + 8, ICMP_ECHO_DATA_LEN);
	if (!v6 && ret_src4)
		memcpy(ret_src4, src, 4);
	return 0;
}
