/*
 * The simulated network's addresses: a plain struct of our own. ikd/net.h's union net_addr
 * is plain data too, but the functions that compare and print it live in ikd/net.c with the
 * socket code; the sockaddr helpers here convert to and from union net_addr (its .sa).
 */
#ifndef IKD_SIM_ADDR_H
#define IKD_SIM_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define SIMNET_ADDRSTRLEN 56		/* "[v6]:port" with room */

struct simnet_addr {
	uint16_t family;	/* AF_INET or AF_INET6 */
	uint16_t port;		/* host order; ignored where only the address counts */
	uint8_t a[16];		/* network order; IPv4: the first four bytes, the rest 0 */
};

/* "192.0.2.1" or "2001:db8::1" with port: 0 or -EINVAL. */
int simnet_addr_parse(const char *text, uint16_t port, struct simnet_addr *ret);
/* "192.0.2.1:500" / "[2001:db8::1]:4500" into buf (SIMNET_ADDRSTRLEN); returns buf. */
const char *simnet_addr_str(const struct simnet_addr *a, char *buf, size_t len);
/* The same family and address, and port when port. */
bool simnet_addr_equal(const struct simnet_addr *a, const struct simnet_addr *b, bool port);
/* AF_INET (the last twelve bytes zero) or AF_INET6. */
bool simnet_addr_valid(const struct simnet_addr *a);
/* From a sockaddr_in/in6 (a union net_addr's .sa): 0, -EINVAL for a short one, -EAFNOSUPPORT. */
int simnet_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct simnet_addr *ret);
/* Into a sockaddr_in/in6 of cap bytes (sizeof(union net_addr) will do): its length or -errno. */
int simnet_addr_to_sockaddr(const struct simnet_addr *a, struct sockaddr *ret, socklen_t cap);

#endif
