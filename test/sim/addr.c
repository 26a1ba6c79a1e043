/* See addr.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"

int simnet_addr_parse(const char *text, uint16_t port, struct simnet_addr *ret)
{
	struct simnet_addr a = { .port = port };

	if (!text)
		return -EINVAL;
	if (inet_pton(AF_INET, text, a.a) == 1)
		a.family = AF_INET;
	else if (inet_pton(AF_INET6, text, a.a) == 1)
		a.family = AF_INET6;
	else
		return -EINVAL;
	*ret = a;
	return 0;
}

const char *simnet_addr_str(const struct simnet_addr *a, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (len == 0)
		return buf;
	if ((a->family != AF_INET && a->family != AF_INET6) ||
	    !inet_ntop(a->family, a->a, host, sizeof(host))) {
		snprintf(buf, len, "?");
		return buf;
	}
	if (a->family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", host, a->port);
	else
		snprintf(buf, len, "%s:%u", host, a->port);
	return buf;
}

static size_t addr_len(uint16_t family)
{
	return family == AF_INET ? 4 : 16;
}

bool simnet_addr_equal(const struct simnet_addr *a, const struct simnet_addr *b, bool port)
{
	return a->family == b->family && (!port || a->port == b->port) &&
	       memcmp(a->a, b->a, addr_len(a->family)) == 0;
}

int simnet_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct simnet_addr *ret)
{
	struct simnet_addr a = { 0 };

	if (!sa || len < (socklen_t)sizeof(sa_family_t))
		return -EINVAL;
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in in;

		if (len < (socklen_t)sizeof(in))
			return -EINVAL;
		memcpy(&in, sa, sizeof(in));
		a.family = AF_INET;
		a.port = ntohs(in.sin_port);
		memcpy(a.a, &in.sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 in6;

		if (len < (socklen_t)sizeof(in6))
			return -EINVAL;
		memcpy(&in6, sa, sizeof(in6));
		a.family = AF_INET6;
		a.port = ntohs(in6.sin6_port);
		memcpy(a.a, &in6.sin6_addr, 16);
	} else {
		return -EAFNOSUPPORT;
	}
	*ret = a;
	return 0;
}

int simnet_addr_to_sockaddr(const struct simnet_addr *a, struct sockaddr *ret, socklen_t cap)
{
	if (a->family == AF_INET) {
		struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(a->port) };

		if (cap < (socklen_t)sizeof(in))
			return -ENOSPC;
		memcpy(&in.sin_addr, a->a, 4);
		memcpy(ret, &in, sizeof(in));
		return (int)sizeof(in);
	}
	if (a->family == AF_INET6) {
		struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons(a->port) };

		if (cap < (socklen_t)sizeof(in6))
			return -ENOSPC;
		memcpy(&in6.sin6_addr, a->a, 16);
		memcpy(ret, &in6, sizeof(in6));
		return (int)sizeof(in6);
	}
	return -EAFNOSUPPORT;
}

bool simnet_addr_valid(const struct simnet_addr *a)
{
	if (a->family == AF_INET) {
		for (size_t i = 4; i < sizeof(a->a); i++)
			if (a->a[i] != 0)
				return false;
		return true;
	}
	return a->family == AF_INET6;
}
