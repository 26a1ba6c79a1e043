/*
 * A peer that asks a responder for more Child SAs than it allows, for test/netns/bad_peers.sh:
 * IKE_SA_INIT and IKE_AUTH (PSK, a Child SA), then CREATE_CHILD_SA requests for new Child
 * SAs, one after the other, up to COUNT in all; prints what became of each, then deletes the
 * IKE SA. Built on lib/ike's initiator, so it speaks as ikd does, only greedier.
 *
 *   ike_peer TARGET LOCAL ID PSK_FILE COUNT
 * ID is an FQDN; PSK_FILE holds the key (its bytes, one trailing newline dropped), so the key
 * is never on a command line. Selectors: 10.1.0.0/24 here, 10.2.0.0/24 there; proposals
 * aes256-sha256-modp2048 (IKE) and aes256-sha256 (ESP).
 * Exit 0 when the IKE SA came up (whatever became of the Child SAs), 1 otherwise, 2 usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "ike/ike_auth.h"
#include "ike/ike_sa.h"
#include "ike/proposal.h"
#include "ike/ts.h"

#define TRIES 4
#define RTO_MS 2000	/* a VM installing its first ESP SA takes seconds to answer */

static int fd;
static struct sockaddr_in peer;
static uint8_t rbuf[IKE_MAX_MSG_LEN];

/*
 * Send req and wait for the response (that exchange, our SPI, that message ID: a late copy
 * of an earlier response, answering a retransmission, is not it): its length, or -1.
 */
static ssize_t exchange(const struct ike_writer *req, const uint8_t spi_i[IKE_SPI_LEN],
			uint8_t exch, uint32_t msg_id, struct ike_sa *sa)
{
	for (int tries = 0; tries < TRIES; tries++) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };

		if (sendto(fd, req->buf, req->len, 0, (struct sockaddr *)&peer, sizeof(peer)) < 0)
			return -1;
		while (poll(&pf, 1, RTO_MS << tries) > 0) {
			ssize_t n = recv(fd, rbuf, sizeof(rbuf), 0);
			struct ike_header h;

			if (n <= 0 || ike_header_decode(rbuf, (size_t)n, &h, NULL) < 0 ||
			    memcmp(h.spi_i, spi_i, IKE_SPI_LEN))
				continue;
			if ((h.flags & IKE_FLAG_RESPONSE) && h.exchange == exch && h.msg_id == msg_id)
				return n;
			/* The responder's own request (a liveness check): answer it. */
			if (sa && !(h.flags & IKE_FLAG_RESPONSE)) {
				struct ike_writer out;
				struct ike_sa_rx rx;

				ike_writer_init(&out, IKE_MAX_MSG_LEN);
				if (ike_sa_receive(sa, rbuf, (size_t)n, NULL, NULL, &out, &rx) == 0 &&
				    rx.reply)
					sendto(fd, out.buf, out.len, 0, (struct sockaddr *)&peer,
					       sizeof(peer));
				ike_sa_rx_clear(&rx);
				ike_writer_clear(&out);
			}
		}
	}
	return -1;
}

static int read_psk(const char *path, struct secret *ret)
{
	uint8_t buf[256];
	int f = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = f < 0 ? -1 : read(f, buf, sizeof(buf));
	int rc;

	if (f >= 0)
		close(f);
	if (n <= 0)
		return -1;
	if (buf[n - 1] == '\n')
		n--;
	rc = secret_set(ret, buf, (size_t)n);
	sodium_memzero(buf, sizeof(buf));
	return rc;
}

static uint32_t new_spi(void)
{
	return 0xc0000000u | (randombytes_random() & 0x3fffffffu);
}

int main(int argc, char **argv)
{
	struct ike_pld_sa ike_props, esp_props;
	struct ike_init_cfg cfg = { .proposals = &ike_props };
	struct ike_child_cfg child = { .proposals = &esp_props };
	struct ike_endpoint le = { .addr_len = 4, .port = 500 }, re = le;
	struct sockaddr_in local = { .sin_family = AF_INET, .sin_port = htons(500) };
	struct ike_pld_id idi = { .type = IKE_ID_FQDN };
	struct ike_init st;
	struct ike_sa sa;
	struct ike_writer req;
	struct ike_child c;
	struct secret psk = { 0 };
	uint8_t lan[4] = { 10, 1, 0, 0 }, far[4] = { 10, 2, 0, 0 };
	const char *bad;
	unsigned count, created = 0;
	uint16_t notify = 0;
	uint32_t spi_in;
	ssize_t n;
	int rc;

	peer.sin_family = AF_INET;
	peer.sin_port = htons(500);
	if (argc != 6 || inet_pton(AF_INET, argv[1], &peer.sin_addr) != 1 ||
	    inet_pton(AF_INET, argv[2], &local.sin_addr) != 1 || sodium_init() < 0) {
		fprintf(stderr, "usage: ike_peer TARGET LOCAL ID PSK_FILE COUNT\n");
		return 2;
	}
	count = (unsigned)strtoul(argv[5], NULL, 10);
	idi.data = (const uint8_t *)argv[3];
	idi.len = strlen(argv[3]);
	if (read_psk(argv[4], &psk) < 0) {
		fprintf(stderr, "ike_peer: %s: no key\n", argv[4]);
		return 2;
	}
	memcpy(le.addr, &local.sin_addr, 4);
	memcpy(re.addr, &peer.sin_addr, 4);
	if (ike_proposals_parse("aes256-sha256-modp2048", IKE_PROTO_IKE, &ike_props, &bad) < 0 ||
	    ike_proposals_parse("aes256-sha256", IKE_PROTO_ESP, &esp_props, &bad) < 0)
		return 1;
	cfg.dh_group = IKE_DH_MODP_2048;
	child.local.n = child.remote.n = 1;
	ike_ts_from_prefix(&child.local.ts[0], AF_INET, lan, 24);
	ike_ts_from_prefix(&child.remote.ts[0], AF_INET, far, 24);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&local, sizeof(local)) < 0) {
		perror("ike_peer: socket");
		return 1;
	}
	ike_writer_init(&req, IKE_MAX_MSG_LEN);
	if (ike_init_start(&st, &cfg, &le, &re, &req) < 0)
		return 1;
	/* IKE_SA_INIT, a COOKIE or INVALID_KE_PAYLOAD round if asked. */
	for (;;) {
		n = exchange(&req, st.spi_i, IKE_EXCH_IKE_SA_INIT, 0, NULL);
		rc = n < 0 ? -1 : ike_init_on_response(&st, &cfg, rbuf, (size_t)n, &le, &re, &req);
		if (rc != IKE_INIT_SEND)
			break;
	}
	if (rc != IKE_INIT_DONE) {
		printf("ike_peer: IKE_SA_INIT failed: %s\n", n < 0 ? "no answer" :
		       ike_notify_name(st.notify));
		return 1;
	}
	spi_in = new_spi();
	if (ike_auth_request(&st, &idi, &psk, true, &child, spi_in, &req) < 0)
		return 1;
	memset(&c, 0, sizeof(c));
	n = exchange(&req, st.spi_i, IKE_EXCH_IKE_AUTH, 1, NULL);
	rc = n < 0 ? -1 : ike_auth_on_response(&st, &psk, &child, spi_in, NULL, rbuf, (size_t)n,
					       &c, &notify);
	if (rc != IKE_AUTH_DONE && rc != IKE_AUTH_DONE_NO_CHILD) {
		printf("ike_peer: IKE_AUTH failed: %s\n", n < 0 ? "no answer" :
		       ike_notify_name(notify));
		return 1;
	}
	printf("ike_peer: IKE SA up\n");
	if (rc == IKE_AUTH_DONE) {
		created++;
		printf("ike_peer: Child SA 1 (IKE_AUTH): created, spi in %08x out %08x\n", c.spi_in,
		       c.spi_out);
	} else {
		printf("ike_peer: Child SA 1 (IKE_AUTH): refused: %s\n", ike_notify_name(notify));
	}
	ike_child_clear(&c);
	ike_sa_from_init(&sa, &st);
	for (unsigned k = 2; k <= count; k++) {
		struct ike_sa_rx rx;

		spi_in = new_spi();
		if (ike_sa_create_child_request(&sa, &child, 0, spi_in, &req) < 0)
			return 1;
		n = exchange(&req, sa.k.spi_i, IKE_EXCH_CREATE_CHILD_SA, sa.next_req - 1, &sa);
		if (n < 0) {
			printf("ike_peer: Child SA %u: no answer\n", k);
			break;
		}
		rc = ike_sa_receive(&sa, rbuf, (size_t)n, NULL, NULL, &req, &rx);
		if (rc == 0 && rx.event == IKE_SA_EV_CHILD_CREATED) {
			created++;
			printf("ike_peer: Child SA %u: created, spi in %08x out %08x\n", k,
			       rx.child.spi_in, rx.child.spi_out);
		} else if (rc == 0 && rx.event == IKE_SA_EV_CC_REFUSED) {
			printf("ike_peer: Child SA %u: refused: %s\n", k,
			       rx.notify ? ike_notify_name(rx.notify) : "an answer we cannot use");
		} else {
			printf("ike_peer: Child SA %u: a response we cannot use (%d)\n", k, rc);
		}
		ike_sa_rx_clear(&rx);
	}
	printf("ike_peer: %u of %u Child SAs created\n", created, count);
	if (ike_sa_delete_request(&sa, &req) == 0)
		exchange(&req, sa.k.spi_i, IKE_EXCH_INFORMATIONAL, sa.next_req - 1, &sa);
	ike_sa_clear(&sa);
	ike_writer_clear(&req);
	secret_clear(&psk);
	close(fd);
	return 0;
}
