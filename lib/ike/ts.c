/* Traffic selector narrowing (see ts.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "ike/ts.h"

static const uint8_t *max_of(const uint8_t *a, const uint8_t *b, size_t n)
{
	return memcmp(a, b, n) >= 0 ? a : b;
}

static const uint8_t *min_of(const uint8_t *a, const uint8_t *b, size_t n)
{
	return memcmp(a, b, n) <= 0 ? a : b;
}

/* Ports: 0..65535 any; the OPAQUE form 65535..0 only meets another OPAQUE or "any". */
static bool ports(const struct ike_ts *a, const struct ike_ts *b, uint16_t *lo, uint16_t *hi)
{
	bool a_opaque = a->start_port == 65535 && a->end_port == 0;
	bool b_opaque = b->start_port == 65535 && b->end_port == 0;

	if (a_opaque || b_opaque) {
		bool a_any = a->start_port == 0 && a->end_port == 65535;
		bool b_any = b->start_port == 0 && b->end_port == 65535;

		if ((a_opaque && (b_opaque || b_any)) || (b_opaque && a_any)) {
			*lo = 65535;
			*hi = 0;
			return true;
		}
		return false;
	}
	*lo = a->start_port > b->start_port ? a->start_port : b->start_port;
	*hi = a->end_port < b->end_port ? a->end_port : b->end_port;
	return *lo <= *hi;
}

static bool intersect(const struct ike_ts *a, const struct ike_ts *b, struct ike_ts *ret)
{
	size_t n = ike_ts_addr_len(a->type);
	const uint8_t *lo, *hi;

	if (a->type != b->type || n == 0)
		return false;
	if (a->ip_proto && b->ip_proto && a->ip_proto != b->ip_proto)
		return false;
	memset(ret, 0, sizeof(*ret));
	ret->type = a->type;
	ret->ip_proto = a->ip_proto ? a->ip_proto : b->ip_proto;
	if (!ports(a, b, &ret->start_port, &ret->end_port))
		return false;
	lo = max_of(a->start, b->start, n);
	hi = min_of(a->end, b->end, n);
	if (memcmp(lo, hi, n) > 0)
		return false;
	memcpy(ret->start, lo, n);
	memcpy(ret->end, hi, n);
	return true;
}

int ike_ts_narrow(const struct ike_pld_ts *offered, const struct ike_pld_ts *ours,
		  struct ike_pld_ts *ret)
{
	ret->n = 0;
	for (uint8_t i = 0; i < offered->n; i++)
		for (uint8_t j = 0; j < ours->n; j++) {
			struct ike_ts t;

			if (!intersect(&offered->ts[i], &ours->ts[j], &t))
				continue;
			if (ret->n == IKE_MAX_TS)
				return -EMSGSIZE;
			ret->ts[ret->n++] = t;
		}
	return ret->n ? 0 : -ENOENT;
}

void ike_ts_from_prefix(struct ike_ts *ts, int family, const uint8_t *addr, unsigned plen)
{
	size_t n = family == AF_INET6 ? 16 : 4;

	memset(ts, 0, sizeof(*ts));
	ts->type = family == AF_INET6 ? IKE_TS_IPV6_ADDR_RANGE : IKE_TS_IPV4_ADDR_RANGE;
	ts->end_port = 65535;
	if (plen > n * 8)
		plen = (unsigned)n * 8;
	for (size_t i = 0; i < n; i++) {
		unsigned bits = plen > i * 8 ? (plen - i * 8 >= 8 ? 8 : plen - i * 8) : 0;
		uint8_t mask = (uint8_t)(0xff00 >> bits);

		ts->start[i] = addr[i] & mask;
		ts->end[i] = (uint8_t)(addr[i] | (uint8_t)~mask);
	}
}

/* The prefix length whose network is start and broadcast end, or -1 when the range is none. */
static int prefix_len(const uint8_t *start, const uint8_t *end, size_t n)
{
	size_t bits = n * 8, plen = bits;

	for (size_t b = 0; b < bits; b++) {
		uint8_t m = (uint8_t)(0x80 >> (b % 8));
		bool s = start[b / 8] & m, e = end[b / 8] & m;

		if (s != e) {
			plen = b;
			break;
		}
	}
	for (size_t b = plen; b < bits; b++) {
		uint8_t m = (uint8_t)(0x80 >> (b % 8));

		if ((start[b / 8] & m) || !(end[b / 8] & m))
			return -1;
	}
	return (int)plen;
}

int ike_ts_format(const struct ike_ts *ts, char *buf, size_t len)
{
	int fam = ts->type == IKE_TS_IPV4_ADDR_RANGE ? AF_INET :
		  ts->type == IKE_TS_IPV6_ADDR_RANGE ? AF_INET6 : 0;
	size_t n = fam == AF_INET ? 4 : 16;
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
	int plen, w;
	size_t o;

	if (len)
		buf[0] = '\0';
	if (!fam || !len)
		return -EINVAL;
	inet_ntop(fam, ts->start, a, sizeof(a));
	plen = prefix_len(ts->start, ts->end, n);
	if (plen >= 0) {
		w = snprintf(buf, len, "%s/%d", a, plen);
	} else {
		inet_ntop(fam, ts->end, b, sizeof(b));
		w = snprintf(buf, len, "%s-%s", a, b);
	}
	if (w < 0 || (size_t)w >= len)
		return -EMSGSIZE;
	o = (size_t)w;
	if (ts->ip_proto || ts->start_port != 0 || ts->end_port != 65535) {
		if (ts->start_port == 0 && ts->end_port == 65535)
			w = snprintf(buf + o, len - o, "[%u]", ts->ip_proto);
		else if (ts->start_port == ts->end_port)
			w = snprintf(buf + o, len - o, "[%u/%u]", ts->ip_proto, ts->start_port);
		else
			w = snprintf(buf + o, len - o, "[%u/%u-%u]", ts->ip_proto, ts->start_port,
				     ts->end_port);
		if (w < 0 || (size_t)w >= len - o)
			return -EMSGSIZE;
	}
	return 0;
}
