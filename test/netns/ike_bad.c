/*
 * Bad IKE messages at an established IKE SA, for test/netns/ike_bad.sh. It knows none of the
 * SA's keys: it works from what an observer on the path sees.
 *
 *   ike_bad capture IFACE FROM TO SECONDS DIR
 *	Keep every IKE message (UDP port 500 or 4500) FROM sends TO on IFACE for SECONDS, each
 *	as DIR/NNN.ike, and print a line for each: file, exchange, request or response,
 *	message ID, length, the SPIs.
 *   ike_bad send FILE MUTATION FROM TO [PORT]
 *	Send the message FILE from FROM:PORT to TO:PORT (500 by default), the source address
 *	forged (a raw socket), after one mutation:
 *	  replay        as captured (an old message ID with a genuine ICV)
 *	  icv-bit       one bit of the ICV flipped
 *	  truncate      the last 16 bytes cut, lengths left as they were
 *	  truncate-sk   the last 16 bytes cut, the IKE header's and the SK payload's lengths
 *	                made to agree
 *	  sk-length     the SK payload's length set to 65535
 *	  header-length the IKE header's length set to 2^31 - 1
 *	  spi-r         one bit of the responder's SPI flipped
 *	  msg-id        the message ID set to 0 (an old one), the rest as captured
 *	  auth-retx     made to look like a retransmitted IKE_AUTH request (exchange IKE_AUTH,
 *	                message ID 1), the ICV as captured
 *	  stub          the first 10 bytes only
 * Exit 0 sent (or captured), 1 failure, 2 usage.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ike/message.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *exchange_name(uint8_t x)
{
	switch (x) {
	case IKE_EXCH_IKE_SA_INIT: return "IKE_SA_INIT";
	case IKE_EXCH_IKE_AUTH: return "IKE_AUTH";
	case IKE_EXCH_CREATE_CHILD_SA: return "CREATE_CHILD_SA";
	case IKE_EXCH_INFORMATIONAL: return "INFORMATIONAL";
	default: return "other";
	}
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

static int capture(const char *ifname, const char *from, const char *to, double seconds,
		   const char *dir)
{
	struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP) };
	struct in_addr src, dst;
	unsigned kept = 0;
	double t0 = now_s();
	int fd;

	if (inet_pton(AF_INET, from, &src) != 1 || inet_pton(AF_INET, to, &dst) != 1)
		return 2;
	ll.sll_ifindex = (int)if_nametoindex(ifname);
	fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_IP));
	if (fd < 0 || !ll.sll_ifindex || bind(fd, (struct sockaddr *)&ll, sizeof(ll)) < 0) {
		perror("ike_bad: capture");
		return 1;
	}
	while (now_s() - t0 < seconds) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		uint8_t pkt[IKE_MAX_MSG_LEN + 64];
		const struct iphdr *ip = (const struct iphdr *)pkt;
		const uint8_t *p;
		struct ike_header h;
		size_t ihl, n;
		ssize_t r;
		uint16_t sport, dport;

		if (poll(&pf, 1, 100) <= 0)
			continue;
		r = recv(fd, pkt, sizeof(pkt), 0);
		if (r < (ssize_t)sizeof(struct iphdr))
			continue;
		ihl = (size_t)ip->ihl * 4;
		if (ip->version != 4 || ip->protocol != IPPROTO_UDP || ip->saddr != src.s_addr ||
		    ip->daddr != dst.s_addr || (size_t)r < ihl + 8)
			continue;
		p = pkt + ihl;
		sport = (uint16_t)(p[0] << 8 | p[1]);
		dport = (uint16_t)(p[2] << 8 | p[3]);
		n = (size_t)r - ihl - 8;
		p += 8;
		if (dport == 4500 || sport == 4500) {
			/* RFC 3948: IKE behind four zero bytes; ESP and keepalives are not ours. */
			if (n < 4 || p[0] || p[1] || p[2] || p[3])
				continue;
			p += 4;
			n -= 4;
		} else if (dport != 500) {
			continue;
		}
		if (ike_header_decode(p, n, &h, NULL) < 0)
			continue;
		{
			char path[4096], si[17], sr[17];
			FILE *f;

			snprintf(path, sizeof(path), "%s/%03u.ike", dir, kept);
			f = fopen(path, "we");
			if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
				perror(path);
				return 1;
			}
			hex(h.spi_i, IKE_SPI_LEN, si);
			hex(h.spi_r, IKE_SPI_LEN, sr);
			printf("%s %s %s %u %zu %s_%s\n", path, exchange_name(h.exchange),
			       h.flags & IKE_FLAG_RESPONSE ? "response" : "request", h.msg_id, n, si,
			       sr);
			fflush(stdout);
			kept++;
		}
	}
	close(fd);
	return 0;
}

static uint16_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static int mutate(uint8_t *m, size_t *len, const char *how)
{
	struct ike_msg msg;
	uint32_t be;

	if (ike_msg_decode(m, *len, &msg, NULL) < 0 || !msg.sk.present) {
		fprintf(stderr, "ike_bad: the captured message has no SK payload\n");
		return -1;
	}
	if (!strcmp(how, "replay")) {
		return 0;
	} else if (!strcmp(how, "icv-bit")) {
		m[*len - 1] ^= 0x01;
	} else if (!strcmp(how, "truncate")) {
		*len -= 16;
	} else if (!strcmp(how, "truncate-sk")) {
		uint16_t sk_len = (uint16_t)(m[msg.sk.hdr_off + 2] << 8 | m[msg.sk.hdr_off + 3]);

		*len -= 16;
		be = htobe32((uint32_t)*len);
		memcpy(m + 24, &be, 4);
		sk_len -= 16;
		m[msg.sk.hdr_off + 2] = (uint8_t)(sk_len >> 8);
		m[msg.sk.hdr_off + 3] = (uint8_t)sk_len;
	} else if (!strcmp(how, "sk-length")) {
		m[msg.sk.hdr_off + 2] = 0xff;
		m[msg.sk.hdr_off + 3] = 0xff;
	} else if (!strcmp(how, "header-length")) {
		be = htobe32(0x7fffffffu);
		memcpy(m + 24, &be, 4);
	} else if (!strcmp(how, "spi-r")) {
		m[15] ^= 0x01;
	} else if (!strcmp(how, "msg-id")) {
		memset(m + 20, 0, 4);
	} else if (!strcmp(how, "auth-retx")) {
		m[18] = IKE_EXCH_IKE_AUTH;
		m[19] &= (uint8_t)~IKE_FLAG_RESPONSE;
		be = htobe32(1);
		memcpy(m + 20, &be, 4);
	} else if (!strcmp(how, "stub")) {
		*len = 10;
	} else {
		return -1;
	}
	return 0;
}

static int send_forged(const char *file, const char *how, const char *from, const char *to,
		       uint16_t port)
{
	uint8_t pkt[20 + 8 + 4 + IKE_MAX_MSG_LEN], *m;
	struct iphdr *ip = (struct iphdr *)pkt;
	struct udphdr *udp = (struct udphdr *)(pkt + 20);
	struct sockaddr_in dst = { .sin_family = AF_INET };
	size_t hdr = port == 4500 ? 4 : 0, len, total;
	uint8_t pseudo[12];
	FILE *f = fopen(file, "re");
	int fd;

	if (!f) {
		perror(file);
		return 1;
	}
	memset(pkt, 0, 20 + 8 + 4);
	m = pkt + 20 + 8 + hdr;
	len = fread(m, 1, IKE_MAX_MSG_LEN, f);
	fclose(f);
	if (mutate(m, &len, how) < 0)
		return 2;
	total = 20 + 8 + hdr + len;
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->tot_len = htons((uint16_t)total);
	if (inet_pton(AF_INET, from, &ip->saddr) != 1 || inet_pton(AF_INET, to, &ip->daddr) != 1)
		return 2;
	udp->source = htons(port);
	udp->dest = htons(port);
	udp->len = htons((uint16_t)(8 + hdr + len));
	memcpy(pseudo, &ip->saddr, 4);
	memcpy(pseudo + 4, &ip->daddr, 4);
	pseudo[8] = 0;
	pseudo[9] = IPPROTO_UDP;
	memcpy(pseudo + 10, &udp->len, 2);
	udp->check = htons((uint16_t)~csum_add(csum_add(0, pseudo, 12), pkt + 20, 8 + hdr + len));
	if (!udp->check)
		udp->check = 0xffff;
	dst.sin_addr.s_addr = ip->daddr;
	fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (fd < 0 || sendto(fd, pkt, total, 0, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
		perror("ike_bad: send");
		return 1;
	}
	close(fd);
	printf("ike_bad: sent %s (%zu bytes) as %s:%u -> %s:%u\n", how, len, from, port, to, port);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 7 && !strcmp(argv[1], "capture"))
		return capture(argv[2], argv[3], argv[4], atof(argv[5]), argv[6]);
	if ((argc == 6 || argc == 7) && !strcmp(argv[1], "send"))
		return send_forged(argv[2], argv[3], argv[4], argv[5],
				   argc == 7 ? (uint16_t)atoi(argv[6]) : 500);
	fprintf(stderr, "usage: ike_bad capture IFACE FROM TO SECONDS DIR\n"
		"       ike_bad send FILE MUTATION FROM TO [PORT]\n");
	return 2;
}
