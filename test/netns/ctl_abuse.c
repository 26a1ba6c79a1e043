/*
 * Hostile clients of ikd's control socket, for test/netns/ctl_abuse.sh. Each mode does one
 * kind of harm, holds on for a while and prints one line saying what ikd did about it.
 *
 *   ctl_abuse SOCKET garbage            three connections: random bytes behind a small frame
 *                                       length, random bytes from the first byte, and a frame
 *                                       header announcing 2 GiB; prints ikd's answer to each
 *   ctl_abuse SOCKET stall SECONDS      half a frame, then silence: when did ikd hang up?
 *   ctl_abuse SOCKET noread N SECONDS   N `site export` and `site list` requests back to
 *                                       back, never reading a reply
 *   ctl_abuse SOCKET many N SECONDS     N connections at once, each silent
 *   ctl_abuse SOCKET probe STOPFILE     the well-behaved client, until STOPFILE exists: every
 *                                       0.1 s a new connection asking status or site list, a
 *                                       line each: verb, reply status (0 ok, -1 none), the
 *                                       milliseconds from connect to the whole reply
 *
 * Exit 0 when the mode ran (what ikd did is for the caller to judge), 1 when it could not
 * (no socket), 2 usage.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "ctl/ctl.h"

static const char *sock_path;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int dial(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(sock_path) >= sizeof(sa.sun_path))
		return -1;
	strcpy(sa.sun_path, sock_path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Up to len bytes, as far as the peer takes them without blocking for long. */
static size_t send_some(int fd, const uint8_t *p, size_t len)
{
	size_t done = 0;

	while (done < len) {
		struct pollfd pf = { .fd = fd, .events = POLLOUT };
		ssize_t n;

		if (poll(&pf, 1, 1000) <= 0 || !(pf.revents & POLLOUT))
			break;
		n = send(fd, p + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	return done;
}

/* Wait until the peer hangs up (EOF or reset), at most timeout_s: the seconds it took, or -1. */
static double wait_hangup(int fd, double timeout_s)
{
	double t0 = now_s();
	uint8_t buf[4096];

	for (;;) {
		double left = timeout_s - (now_s() - t0);
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (left <= 0)
			return -1;
		if (poll(&pf, 1, (int)(left * 1000) + 1) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return now_s() - t0;
	}
}

/* ikd's answer on a connection, in words: its error reply, or what happened instead. */
static void answer(int fd, char *out, size_t out_len)
{
	static struct ctl_attr attrs[CTL_MAX_ATTRS];
	struct ctl_framer fr = { 0 };
	struct ctl_msg m = { .attrs = attrs };
	const uint8_t *body;
	const char *why;
	uint8_t buf[4096];
	double t0 = now_s();
	size_t blen;

	snprintf(out, out_len, "no answer");
	while (now_s() - t0 < 5) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pf, 1, 500) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0) {
			snprintf(out, out_len, "closed without a reply");
			break;
		}
		if (ctl_framer_feed(&fr, buf, (size_t)n) < 0) {
			snprintf(out, out_len, "a malformed reply");
			break;
		}
		if (ctl_framer_next(&fr, &body, &blen) != 1)
			continue;
		if (ctl_decode(body, blen, &m, &why) < 0) {
			snprintf(out, out_len, "an undecodable reply (%s)", why);
			break;
		}
		snprintf(out, out_len, "error reply %u", m.code);
		for (size_t i = 0; i < m.n_attrs; i++)
			if (attrs[i].type == CTL_A_ERROR)
				snprintf(out, out_len, "error reply %u '%.*s'", m.code,
					 (int)attrs[i].len, (const char *)attrs[i].p);
		/* And then ikd hangs up. */
		if (wait_hangup(fd, 3) < 0)
			snprintf(out + strlen(out), out_len - strlen(out), ", connection left open");
		else
			snprintf(out + strlen(out), out_len - strlen(out), ", then closed");
		break;
	}
	ctl_framer_clear(&fr);
}

static int mode_garbage(void)
{
	static uint8_t junk[65536];
	static const char *const what[] = {
		"random bytes in a 60000-byte frame", "random bytes", "a frame header announcing 2 GiB",
	};

	for (int k = 0; k < 3; k++) {
		int fd = dial();
		size_t len = sizeof(junk);
		char res[256];

		if (fd < 0) {
			perror("ctl_abuse: connect");
			return 1;
		}
		randombytes_buf(junk, sizeof(junk));
		if (k == 0) {
			uint32_t be = htobe32(60000);

			memcpy(junk, &be, 4);
			len = 4 + 60000;
		} else if (k == 1) {
			junk[0] |= 0x10;	/* whatever follows, never a length ikd accepts */
		} else {
			uint32_t be = htobe32(0x80000000u);

			memcpy(junk, &be, 4);
			len = 4 + 4096;
		}
		send_some(fd, junk, len);
		answer(fd, res, sizeof(res));
		printf("ctl_abuse: garbage: %s: %s\n", what[k], res);
		close(fd);
	}
	return 0;
}

static int mode_stall(double hold_s)
{
	uint8_t half[4 + 20];
	uint32_t be = htobe32(200);
	int fd = dial();
	double t;

	if (fd < 0) {
		perror("ctl_abuse: connect");
		return 1;
	}
	/* A frame of 200 bytes of which 20 come, then nothing. */
	memcpy(half, &be, 4);
	memset(half + 4, 0, sizeof(half) - 4);
	send_some(fd, half, sizeof(half));
	t = wait_hangup(fd, hold_s);
	if (t < 0)
		printf("ctl_abuse: stall: still open after %.0f s\n", hold_s);
	else
		printf("ctl_abuse: stall: ikd closed the stalled connection after %.1f s\n", t);
	close(fd);
	return 0;
}

static int request(struct ike_writer *w, uint32_t id, uint16_t verb)
{
	size_t mark;

	return ctl_begin(w, id, verb, 0, &mark) ?: ctl_end(w, mark);
}

static int mode_noread(unsigned n, double hold_s)
{
	struct ike_writer w;
	size_t sent;
	double t;
	int fd = dial();

	if (fd < 0) {
		perror("ctl_abuse: connect");
		return 1;
	}
	ike_writer_init(&w, (size_t)n * 16 + 64);
	for (unsigned i = 0; i < n; i++)
		if (request(&w, i + 1, i % 2 ? CTL_SITE_LIST : CTL_SITE_EXPORT) < 0)
			return 1;
	sent = send_some(fd, w.buf, w.len);
	printf("ctl_abuse: noread: %zu of %u request bytes (%u requests) taken, no reply read\n",
	       sent, w.len, n);
	fflush(stdout);
	/* Never read: only watch for the hang-up. */
	{
		double t0 = now_s();

		t = -1;
		while (now_s() - t0 < hold_s) {
			struct pollfd pf = { .fd = fd, .events = 0 };

			/* POLLHUP comes when ikd has shut the connection. */
			if (poll(&pf, 1, 200) > 0 && (pf.revents & (POLLHUP | POLLERR))) {
				t = now_s() - t0;
				break;
			}
		}
	}
	if (t < 0)
		printf("ctl_abuse: noread: still connected after %.0f s\n", hold_s);
	else
		printf("ctl_abuse: noread: ikd closed the connection after %.1f s\n", t);
	ike_writer_clear(&w);
	close(fd);
	return 0;
}

static int mode_many(unsigned n, double hold_s)
{
	struct rlimit rl;
	struct pollfd *pf = calloc(n, sizeof(*pf));
	unsigned opened = 0, closed = 0;
	double t0;

	if (!pf)
		return 1;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < n + 64) {
		rl.rlim_cur = rl.rlim_max < n + 64 ? rl.rlim_max : n + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	t0 = now_s();
	for (unsigned i = 0; i < n; i++) {
		pf[i].fd = dial();
		pf[i].events = POLLIN;
		if (pf[i].fd >= 0)
			opened++;
	}
	printf("ctl_abuse: many: %u of %u connections made in %.2f s\n", opened, n, now_s() - t0);
	fflush(stdout);
	while (now_s() - t0 < hold_s) {
		if (poll(pf, n, 200) <= 0)
			continue;
		for (unsigned i = 0; i < n; i++) {
			uint8_t b[256];

			if (pf[i].fd < 0 || !pf[i].revents)
				continue;
			if (recv(pf[i].fd, b, sizeof(b), MSG_DONTWAIT) > 0)
				continue;
			close(pf[i].fd);
			pf[i].fd = -1;
			closed++;
		}
	}
	printf("ctl_abuse: many: after %.0f s ikd had closed %u, %u still open\n", hold_s, closed,
	       opened - closed);
	for (unsigned i = 0; i < n; i++)
		if (pf[i].fd >= 0)
			close(pf[i].fd);
	free(pf);
	return 0;
}

/* One request on a new connection, as xfrmctl makes it: the reply's status, or -1. */
static int ask(uint16_t verb, double timeout_s)
{
	static struct ctl_attr attrs[CTL_MAX_ATTRS];
	struct ctl_framer fr = { 0 };
	struct ctl_msg m = { .attrs = attrs };
	struct ike_writer w;
	const uint8_t *body;
	const char *why;
	uint8_t buf[65536];
	size_t len;
	double t0 = now_s();
	int fd = dial(), rc = -1;

	if (fd < 0)
		return -1;
	ike_writer_init(&w, 64);
	if (request(&w, 1, verb) < 0 || send_some(fd, w.buf, w.len) != w.len)
		goto out;
	while (now_s() - t0 < timeout_s) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pf, 1, 100) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0 || ctl_framer_feed(&fr, buf, (size_t)n) < 0)
			break;
		if (ctl_framer_next(&fr, &body, &len) == 1) {
			if (ctl_decode(body, len, &m, &why) == 0 && (m.flags & CTL_FLAG_REPLY))
				rc = m.code;
			break;
		}
	}
out:
	ike_writer_clear(&w);
	ctl_framer_clear(&fr);
	close(fd);
	return rc;
}

static int mode_probe(const char *stop)
{
	for (unsigned i = 0; access(stop, F_OK) != 0; i++) {
		uint16_t verb = i % 2 ? CTL_SITE_LIST : CTL_STATUS;
		double t0 = now_s();
		int rc = ask(verb, 10);

		printf("%s %d %.0f\n", verb == CTL_STATUS ? "status" : "site_list", rc,
		       (now_s() - t0) * 1000);
		fflush(stdout);
		usleep(100000);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3 || sodium_init() < 0)
		goto usage;
	sock_path = argv[1];
	if (!strcmp(argv[2], "garbage") && argc == 3)
		return mode_garbage();
	if (!strcmp(argv[2], "stall") && argc == 4)
		return mode_stall(atof(argv[3]));
	if (!strcmp(argv[2], "noread") && argc == 5)
		return mode_noread((unsigned)strtoul(argv[3], NULL, 10), atof(argv[4]));
	if (!strcmp(argv[2], "many") && argc == 5)
		return mode_many((unsigned)strtoul(argv[3], NULL, 10), atof(argv[4]));
	if (!strcmp(argv[2], "probe") && argc == 4)
		return mode_probe(argv[3]);
usage:
	fprintf(stderr, "usage: ctl_abuse SOCKET garbage | stall SECONDS | noread N SECONDS | "
		"many N SECONDS | probe STOPFILE\n");
	return 2;
}
