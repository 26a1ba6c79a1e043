/* Traffic selector narrowing (RFC 7296 §2.9): what both sides' selectors have in common. */
#ifndef IKD_IKE_TS_H
#define IKD_IKE_TS_H

#include "ike/payload.h"

/*
 * Every non-empty intersection of an offered selector with one of ours (address range,
 * port range, protocol where 0 is any), in the order offered; -ENOENT when there is none
 * (TS_UNACCEPTABLE), -EMSGSIZE past IKE_MAX_TS.
 */
int ike_ts_narrow(const struct ike_pld_ts *offered, const struct ike_pld_ts *ours,
		  struct ike_pld_ts *ret);

/* A selector for a whole CIDR (0 = any protocol, all ports). */
void ike_ts_from_prefix(struct ike_ts *ts, int family, const uint8_t *addr, unsigned plen);

/*
 * A selector as people read it: "10.1.0.0/24" when its range is a prefix, else
 * "10.1.0.5-10.1.0.9"; then "[proto]" or "[proto/port]" / "[proto/lo-hi]" when it does not
 * cover them all (strongSwan's form). buf always terminated; -EMSGSIZE when cut, -EINVAL for
 * a type that is not an address range.
 */
int ike_ts_format(const struct ike_ts *ts, char *buf, size_t len);

#endif
