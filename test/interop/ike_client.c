/*
 * A minimal IKE initiator over the real network, for interop tests against strongSwan:
 * IKE_SA_INIT and IKE_AUTH (PSK) from lib/ike over ikd's own UDP socket, and with --install
 * the Child SA and its policies into the kernel through lib/xfrm. Not the daemon: no timers
 * beyond a retransmit, no rekey; it proves the exchanges and the kernel side against a peer.
 *
 *   ike_client LOCAL_IP REMOTE_IP PSK_FILE LOCAL_NET/PLEN REMOTE_NET/PLEN [--install] [--delete]
 * After IKE_AUTH it runs a liveness check (an empty INFORMATIONAL) on the new IKE SA, and with
 * --delete deletes the IKE SA at the peer.
 * Exit: 0 Child SA up (and installed), 3 IKE SA up but the child refused, 1 failure.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "ikd/net.h"
#include "ike/ike_auth.h"
#include "ike/ike_sa.h"
#include "ike/ts.h"
#include "xfrm/xfrm.h"

#define T(type_, id_, bits_) \
	((struct ike_transform){ .type = (type_), .id = (id_), .key_bits = (bits_) })

static struct net_sock sock;
static union net_addr peer;

/* Send msg and wait for the answer, retransmitting on silence (RFC 7296 §2.1). */
static ssize_t exchange(const struct ike_writer *msg, uint8_t *buf, size_t cap)
{
	for (int attempt = 0; attempt < 4; attempt++) {
		struct pollfd p = { .fd = sock.fd, .events = POLLIN };
		struct net_dgram d;

		if (net_send(&sock, msg->buf, msg->len, &peer, NULL) < 0)
			return -errno;
		if (poll(&p, 1, 1000 << attempt) == 1)
			return net_recv(&sock, buf, cap, &d);
	}
	return -ETIMEDOUT;
}

static bool has_arg(int argc, char **argv, const char *flag)
{
	for (int i = 6; i < argc; i++)
		if (strcmp(argv[i], flag) == 0)
			return true;
	return false;
}

/* One INFORMATIONAL request on the established IKE SA, answered by the peer. */
static int informational(struct ike_sa *sa, struct ike_writer *out, bool delete, uint8_t *buf,
			 size_t cap)
{
	struct ike_sa_rx rx;
	ssize_t n;
	int rc = delete ? ike_sa_delete_request(sa, out) : ike_sa_dpd_request(sa, out);

	if (rc < 0)
		return rc;
	n = exchange(out, buf, cap);
	if (n < 0)
		return (int)n;
	rc = ike_sa_receive(sa, buf, (size_t)n, NULL, NULL, out, &rx);
	return rc < 0 ? rc : rx.event == IKE_SA_EV_ANSWERED ? 0 : -EPROTO;
}

static int parse_net(const char *text, struct ike_pld_ts *ts, struct xfrm_addr *a, uint8_t *plen)
{
	char buf[64];
	char *slash;

	snprintf(buf, sizeof(buf), "%s", text);
	slash = strchr(buf, '/');
	if (!slash)
		return -EINVAL;
	*slash = '\0';
	*plen = (uint8_t)atoi(slash + 1);
	if (xfrm_addr_parse(buf, a) < 0 || a->family != AF_INET)
		return -EINVAL;
	ts->n = 1;
	ike_ts_from_prefix(&ts->ts[0], AF_INET, (const uint8_t *)&a->a.a4, *plen);
	return 0;
}

static int install(const struct ike_child *c, const char *local, const char *remote,
		   struct xfrm_addr *lnet, uint8_t lplen, struct xfrm_addr *rnet, uint8_t rplen)
{
	struct xfrm_sock xs;
	struct xfrm_sa out = { .proto = IPPROTO_ESP, .mode = XFRM_MODE_TUNNEL, .reqid = 1,
			       .replay_window = 32 };
	struct xfrm_sa in;
	struct xfrm_err e;
	static const uint8_t dirs[] = { XFRM_POLICY_OUT, XFRM_POLICY_IN, XFRM_POLICY_FWD };
	int rc = xfrm_open(&xs);

	if (rc < 0)
		return rc;
	/* Initiator: encr_i/integ_i protect what we send, _r what we receive (§2.17). */
	if (c->encr->aead) {
		out.aead = (struct xfrm_alg){ c->encr->kernel, c->keys.encr_i.p, c->keys.encr_i.len,
					      c->encr->icv_len * 8u };
	} else {
		out.encr = (struct xfrm_alg){ c->encr->kernel, c->keys.encr_i.p, c->keys.encr_i.len, 0 };
		out.integ = (struct xfrm_alg){ c->integ->kernel, c->keys.integ_i.p,
					       c->keys.integ_i.len, c->integ->icv_len * 8u };
	}
	in = out;
	if (c->encr->aead) {
		in.aead.key = c->keys.encr_r.p;
	} else {
		in.encr.key = c->keys.encr_r.p;
		in.integ.key = c->keys.integ_r.p;
	}
	xfrm_addr_parse(local, &out.src);
	xfrm_addr_parse(remote, &out.dst);
	out.spi = c->spi_out;
	in.src = out.dst;
	in.dst = out.src;
	in.spi = c->spi_in;
	rc = xfrm_sa_add(&xs, &out, false, &e);
	rc = rc ?: xfrm_sa_add(&xs, &in, false, &e);
	for (int i = 0; rc == 0 && i < 3; i++) {
		bool o = dirs[i] == XFRM_POLICY_OUT;
		struct xfrm_policy p = { .dir = dirs[i], .action = XFRM_POLICY_ALLOW, .n_tmpls = 1 };

		p.sel.src = o ? *lnet : *rnet;
		p.sel.dst = o ? *rnet : *lnet;
		p.sel.src_plen = o ? lplen : rplen;
		p.sel.dst_plen = o ? rplen : lplen;
		p.tmpl[0] = (struct xfrm_tmpl){ .proto = IPPROTO_ESP, .mode = XFRM_MODE_TUNNEL,
						.reqid = 1, .src = o ? out.src : in.src,
						.dst = o ? out.dst : in.dst };
		rc = xfrm_policy_add(&xs, &p, true, &e);
	}
	if (rc < 0)
		fprintf(stderr, "ike_client: kernel: %s (%s)\n", strerror(-rc), e.msg);
	xfrm_close(&xs);
	return rc;
}

int main(int argc, char **argv)
{
	struct ike_pld_sa ike = { .n = 1 }, esp = { .n = 2 };
	struct ike_init_cfg cfg = { .proposals = &ike, .dh_group = IKE_DH_MODP_2048,
				    .fragmentation = true };
	struct ike_child_cfg child = { .proposals = &esp };
	struct ike_pld_id idi = { .type = IKE_ID_FQDN, .data = (const uint8_t *)"branch-12.example.com",
				  .len = 21 };
	struct ike_endpoint local = { .addr_len = 4, .port = 500 }, remote = local;
	struct xfrm_addr lnet, rnet;
	uint8_t lplen, rplen, buf[8192], psk_buf[256];
	struct secret psk = { 0 };
	struct ike_writer out;
	struct ike_init st;
	struct ike_child c;
	union net_addr laddr;
	uint32_t spi_in;
	uint16_t notify;
	ssize_t n;
	int rc, fd, status;
	bool ike_up;

	if (argc < 6) {
		fprintf(stderr, "usage: ike_client LOCAL REMOTE PSK_FILE LOCAL_NET REMOTE_NET [--install]\n");
		return 2;
	}
	ike.p[0] = (struct ike_proposal){ .num = 1, .protocol = IKE_PROTO_IKE, .n_transforms = 4,
		.t = { T(IKE_TRANSFORM_ENCR, IKE_ENCR_AES_CBC, 256),
		       T(IKE_TRANSFORM_PRF, IKE_PRF_HMAC_SHA2_256, 0),
		       T(IKE_TRANSFORM_INTEG, IKE_AUTH_HMAC_SHA2_256_128, 0),
		       T(IKE_TRANSFORM_DH, IKE_DH_MODP_2048, 0) } };
	esp.p[0] = (struct ike_proposal){ .num = 1, .protocol = IKE_PROTO_ESP, .n_transforms = 2,
		.t = { T(IKE_TRANSFORM_ENCR, IKE_ENCR_AES_GCM_16, 256), T(IKE_TRANSFORM_ESN, 0, 0) } };
	esp.p[1] = (struct ike_proposal){ .num = 2, .protocol = IKE_PROTO_ESP, .n_transforms = 3,
		.t = { T(IKE_TRANSFORM_ENCR, IKE_ENCR_AES_CBC, 256),
		       T(IKE_TRANSFORM_INTEG, IKE_AUTH_HMAC_SHA2_256_128, 0),
		       T(IKE_TRANSFORM_ESN, 0, 0) } };
	/* The PSK comes from a file, never from argv. */
	fd = open(argv[3], O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, psk_buf, sizeof(psk_buf)) : -1;
	if (fd >= 0)
		close(fd);
	while (n > 0 && (psk_buf[n - 1] == '\n' || psk_buf[n - 1] == '\r'))
		n--;
	if (n <= 0 || secret_set(&psk, psk_buf, (size_t)n) < 0) {
		fprintf(stderr, "ike_client: cannot read the PSK file\n");
		return 1;
	}
	sodium_memzero(psk_buf, sizeof(psk_buf));
	if (net_addr_parse(argv[1], 500, &laddr) < 0 || net_addr_parse(argv[2], 500, &peer) < 0 ||
	    parse_net(argv[4], &child.local, &lnet, &lplen) < 0 ||
	    parse_net(argv[5], &child.remote, &rnet, &rplen) < 0)
		return 2;
	memcpy(local.addr, &laddr.in.sin_addr, 4);
	memcpy(remote.addr, &peer.in.sin_addr, 4);
	rc = net_sock_open(&sock, AF_INET, &laddr, 500, false, 0);
	if (rc < 0) {
		fprintf(stderr, "ike_client: socket: %s\n", strerror(-rc));
		return 1;
	}
	ike_writer_init(&out, IKE_MAX_MSG_LEN);
	rc = ike_init_start(&st, &cfg, &local, &remote, &out);
	do {
		n = rc < 0 ? rc : exchange(&out, buf, sizeof(buf));
		rc = n < 0 ? (int)n : ike_init_on_response(&st, &cfg, buf, (size_t)n, &local, &remote,
							  &out);
	} while (rc == IKE_INIT_SEND);
	if (rc != IKE_INIT_DONE) {
		fprintf(stderr, "ike_client: IKE_SA_INIT: %s (%s)\n", rc < 0 ? strerror(-rc) : "refused",
			ike_notify_name(st.notify));
		status = 1;
		goto out;
	}
	printf("ike_client: IKE_SA_INIT done: %s, nat local %d remote %d\n", st.suite.encr->name,
	       st.nat_local, st.nat_remote);
	spi_in = 0xc0000000u | (randombytes_random() & 0x0fffffff);
	rc = ike_auth_request(&st, &idi, &psk, true, &child, spi_in, &out);
	n = rc < 0 ? rc : exchange(&out, buf, sizeof(buf));
	rc = n < 0 ? (int)n : ike_auth_on_response(&st, &psk, &child, spi_in, NULL, buf, (size_t)n,
						   &c, &notify);
	ike_up = rc == IKE_AUTH_DONE || rc == IKE_AUTH_DONE_NO_CHILD;
	if (rc == IKE_AUTH_DONE_NO_CHILD) {
		printf("ike_client: IKE SA up (peer authenticated); child refused: %s\n",
		       ike_notify_name(notify));
		status = 3;
	} else if (rc != IKE_AUTH_DONE) {
		fprintf(stderr, "ike_client: IKE_AUTH: %s (%s)\n", rc < 0 ? strerror(-rc) : "failed",
			ike_notify_name(notify));
		status = 1;
	} else {
		printf("ike_client: IKE SA up, Child SA %s spi in %08x out %08x\n", c.encr->name,
		       c.spi_in, c.spi_out);
		rc = has_arg(argc, argv, "--install") ?
			install(&c, argv[1], argv[2], &lnet, lplen, &rnet, rplen) : 0;
		status = rc < 0 ? 1 : 0;
	}
	ike_child_clear(&c);
	if (ike_up) {
		struct ike_sa sa;

		ike_sa_from_init(&sa, &st);
		rc = informational(&sa, &out, false, buf, sizeof(buf));
		printf("ike_client: liveness check on the IKE SA: %s\n",
		       rc == 0 ? "answered" : strerror(-rc));
		if (rc < 0)
			status = 1;
		if (rc == 0 && has_arg(argc, argv, "--delete")) {
			rc = informational(&sa, &out, true, buf, sizeof(buf));
			printf("ike_client: IKE SA delete: %s\n", rc == 0 ? "acknowledged" :
			       strerror(-rc));
			if (rc < 0)
				status = 1;
		}
		ike_sa_clear(&sa);
	}
out:
	secret_clear(&psk);
	ike_init_clear(&st);
	ike_writer_clear(&out);
	net_sock_close(&sock);
	return status;
}
