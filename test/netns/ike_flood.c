/*
 * A half-open flood for tests: IKE_SA_INIT requests at a responder as fast as a socket goes,
 * each with a fresh initiator SPI, from many source ports (and, with several source
 * addresses given, from each of them), never completing a handshake. One request is built
 * with lib/ike's initiator and reused with new SPIs, so the flood costs no DH work here.
 *
 *   ike_flood TARGET COUNT [SOURCE_ADDR...]
 * IKE_FLOOD_RATE=N in the environment paces it to N requests a second.
 * Prints how the responder answered: full IKE_SA_INIT responses (state kept there), COOKIE
 * demands (no state kept, RFC 7296 §2.6), other refusals, and nothing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "ike/ike_auth.h"
#include "ike/message.h"
#include "ike/proposal.h"

#define PORTS_PER_ADDR 64

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct ike_pld_sa props;
	struct ike_init st;
	struct ike_init_cfg cfg = { .proposals = &props };
	struct ike_endpoint local = { .addr_len = 4, .port = 500 }, remote = local;
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(500) };
	struct ike_writer req;
	const char *bad;
	unsigned long count, full = 0, cookies = 0, other = 0;
	int *fds;
	size_t n_fds = 0, n_addrs;
	double t0, t1, rate = getenv("IKE_FLOOD_RATE") ? atof(getenv("IKE_FLOOD_RATE")) : 0;

	if (argc < 3 || inet_pton(AF_INET, argv[1], &to.sin_addr) != 1) {
		fprintf(stderr, "usage: ike_flood TARGET COUNT [SOURCE_ADDR...]\n");
		return 2;
	}
	count = strtoul(argv[2], NULL, 10);
	n_addrs = argc > 3 ? (size_t)argc - 3 : 1;
	if (sodium_init() < 0 ||
	    ike_proposals_parse("aes256-sha256-modp2048", IKE_PROTO_IKE, &props, &bad) < 0)
		return 1;
	cfg.dh_group = IKE_DH_MODP_2048;
	memcpy(remote.addr, &to.sin_addr, 4);
	ike_writer_init(&req, IKE_MAX_MSG_LEN);
	if (ike_init_start(&st, &cfg, &local, &remote, &req) < 0)
		return 1;
	fds = calloc(n_addrs * PORTS_PER_ADDR, sizeof(*fds));
	for (size_t a = 0; a < n_addrs; a++)
		for (int p = 0; p < PORTS_PER_ADDR; p++) {
			struct sockaddr_in from = { .sin_family = AF_INET };
			int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

			if (argc > 3 && inet_pton(AF_INET, argv[3 + a], &from.sin_addr) != 1)
				return 2;
			if (fd < 0 || bind(fd, (struct sockaddr *)&from, sizeof(from)) < 0) {
				perror("ike_flood: socket");
				return 1;
			}
			fds[n_fds++] = fd;
		}
	t0 = now_s();
	for (unsigned long i = 0; i < count; i++) {
		int fd = fds[i % n_fds];
		uint8_t buf[2048];

		if (rate > 0)
			while (now_s() - t0 < (double)i / rate)
				usleep(200);
		randombytes_buf(req.buf, IKE_SPI_LEN);	/* a new half-open SA each time */
		while (sendto(fd, req.buf, req.len, 0, (struct sockaddr *)&to, sizeof(to)) < 0 &&
		       errno == EAGAIN)
			usleep(100);
		/* Collect answers as they come, so socket buffers never overflow. */
		for (size_t k = 0; k < n_fds; k += (i % 16 == 0) ? 1 : n_fds) {
			ssize_t n;

			while ((n = recv(fds[k], buf, sizeof(buf), 0)) > 0) {
				struct ike_msg m;
				struct ike_pld_notify nt;

				if (ike_msg_decode(buf, (size_t)n, &m, NULL) < 0)
					other++;
				else if (ike_chain_find_notify(&m.chain, IKE_N_COOKIE, &nt) == 0)
					cookies++;
				else if (ike_chain_find(&m.chain, IKE_PLD_SA, NULL))
					full++;
				else
					other++;
			}
		}
	}
	t1 = now_s();
	/* Late answers. */
	for (int round = 0; round < 20; round++) {
		struct pollfd pf = { .fd = fds[0], .events = POLLIN };

		poll(&pf, 1, 50);
		for (size_t k = 0; k < n_fds; k++) {
			uint8_t buf[2048];
			ssize_t n;

			while ((n = recv(fds[k], buf, sizeof(buf), 0)) > 0) {
				struct ike_msg m;
				struct ike_pld_notify nt;

				if (ike_msg_decode(buf, (size_t)n, &m, NULL) < 0)
					other++;
				else if (ike_chain_find_notify(&m.chain, IKE_N_COOKIE, &nt) == 0)
					cookies++;
				else if (ike_chain_find(&m.chain, IKE_PLD_SA, NULL))
					full++;
				else
					other++;
			}
		}
	}
	printf("ike_flood: %lu requests in %.2f s (%.0f/s) from %zu sockets: %lu full responses, "
	       "%lu cookie demands, %lu other, %lu unanswered\n", count, t1 - t0,
	       (double)count / (t1 - t0), n_fds, full, cookies, other,
	       count - full - cookies - other);
	for (size_t k = 0; k < n_fds; k++)
		close(fds[k]);
	free(fds);
	ike_init_clear(&st);
	ike_writer_clear(&req);
	return 0;
}
