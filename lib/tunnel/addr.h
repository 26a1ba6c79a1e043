/*
 * Socket addresses and the IKE sockets as the lifecycle knows them: data, no socket (the
 * daemon's sockets are ikd/net.h; the simulator has none).
 */
#ifndef TUNNEL_ADDR_H
#define TUNNEL_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

union net_addr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

struct net_sock {
	int fd;
	int family;
	uint16_t port;
	bool natt;		/* port 4500: non-ESP marker on every IKE message */
};

struct net_dgram {
	union net_addr from;
	union net_addr local;	/* the address the peer sent to (source for our reply) */
	int ifindex;
};

/* The same address (and port, when port) of the same family. */
bool net_addr_equal(const union net_addr *a, const union net_addr *b, bool port);
/* "192.0.2.1:500" / "[2001:db8::1]:4500" into buf; returns buf. */
const char *net_addr_str(const union net_addr *a, char *buf, size_t len);
int net_addr_parse(const char *s, uint16_t port, union net_addr *ret);
socklen_t net_addr_len(const union net_addr *a);

#endif
