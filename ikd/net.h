/*
 * ikd's UDP sockets for IKE: port 500 and the NAT-T port 4500, IPv4 and IPv6.
 * Each socket carries per-socket IPsec bypass policies (in and out), so a site whose
 * selectors cover the gateways (0.0.0.0/0) can never capture IKE itself, and the 4500
 * socket is UDP_ENCAP_ESPINUDP so the kernel decapsulates ESP-in-UDP (RFC 3948) and hands
 * us only IKE (after the four-byte non-ESP marker) and NAT keepalives.
 */
#ifndef IKD_NET_H
#define IKD_NET_H

#include <sys/types.h>

#include "tunnel/addr.h"

/*
 * Open a UDP socket bound to addr (any address of family when NULL) and port, with bypass
 * policies, IP_PKTINFO/IPV6_RECVPKTINFO (to learn and reuse the local address),
 * UDP_ENCAP_ESPINUDP when natt, and a receive buffer of rcvbuf bytes (as far as the kernel
 * allows: net_sock_rcvbuf says what it gave). Returns 0 or -errno; on error nothing is left
 * open.
 */
int net_sock_open(struct net_sock *s, int family, const union net_addr *addr, uint16_t port,
		  bool natt, int rcvbuf);
/* The receive buffer the kernel gave s, in bytes of data (it reports twice that). */
int net_sock_rcvbuf(const struct net_sock *s);
void net_sock_close(struct net_sock *s);

/*
 * The source address the kernel would use towards remote (a UDP connect, no packet sent),
 * on a socket that bypasses IPsec policy like the IKE sockets: ikd's own policies never
 * decide how it reaches a POP.
 */
int net_route_source(const union net_addr *remote, union net_addr *ret);

/*
 * Receive one datagram without blocking. Returns its length (the non-ESP marker already
 * removed on a natt socket), -EAGAIN when none is queued, -EBADMSG for a truncated datagram
 * or a natt datagram that is not IKE (a NAT keepalive, 0xff), -errno otherwise.
 */
ssize_t net_recv(const struct net_sock *s, uint8_t *buf, size_t cap, struct net_dgram *ret);

/* Send msg to `to` from `local` (when set); a natt socket prepends the non-ESP marker. */
int net_send(const struct net_sock *s, const uint8_t *msg, size_t len, const union net_addr *to,
	     const union net_addr *local);

/* The RFC 3948 §2.3 NAT keepalive: one 0xff byte, on a natt socket. */
int net_send_keepalive(const struct net_sock *s, const union net_addr *to,
		       const union net_addr *local);

#endif
