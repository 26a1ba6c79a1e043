/* See net.h: the socket addresses, as data (no socket here). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tunnel/addr.h"

socklen_t net_addr_len(const union net_addr *a)
{
	return a->sa.sa_family == AF_INET6 ? sizeof(a->in6) : sizeof(a->in);
}

bool net_addr_equal(const union net_addr *a, const union net_addr *b, bool port)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET)
		return a->in.sin_addr.s_addr == b->in.sin_addr.s_addr &&
		       (!port || a->in.sin_port == b->in.sin_port);
	return !memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, 16) &&
	       (!port || a->in6.sin6_port == b->in6.sin6_port);
}

const char *net_addr_str(const union net_addr *a, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (a->sa.sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &a->in6.sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(a->in6.sin6_port));
	} else if (a->sa.sa_family == AF_INET) {
		inet_ntop(AF_INET, &a->in.sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(a->in.sin_port));
	} else {
		snprintf(buf, len, "(none)");
	}
	return buf;
}

int net_addr_parse(const char *s, uint16_t port, union net_addr *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (inet_pton(AF_INET, s, &ret->in.sin_addr) == 1) {
		ret->in.sin_family = AF_INET;
		ret->in.sin_port = htons(port);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &ret->in6.sin6_addr) == 1) {
		ret->in6.sin6_family = AF_INET6;
		ret->in6.sin6_port = htons(port);
		return 0;
	}
	return -EINVAL;
}
