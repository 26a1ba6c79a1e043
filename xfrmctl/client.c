/* The connection to ikd: one request, one reply, over its control socket. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>

#include "xfrmctl.h"

#define REPLY_TIMEOUT_S 120	/* an import of many sites is validated and saved first */

static struct ctl_attr reply_attrs[CTL_MAX_ATTRS];

/* The command being run and its first error, for -j's error document. */
static struct {
	char command[64];
	char *message;
	size_t len;
	int exit;
} failure;

void xc_set_command(const char *object, const char *verb)
{
	snprintf(failure.command, sizeof(failure.command), "%s%s%s", object, verb ? " " : "",
		 verb ? verb : "");
}

/* The first error is the cause: later ones (cleaning up) are not kept. */
static void remember(const void *msg, size_t len, int exit)
{
	if (failure.message)
		return;
	failure.message = malloc(len + 1);
	if (!failure.message)
		return;
	memcpy(failure.message, msg, len);
	failure.message[len] = '\0';
	failure.len = len;
	failure.exit = exit;
}

int xc_json_error(FILE *f, int exit)
{
	if (!failure.message)
		return 0;
	/* One line: it also ends a stream of JSON Lines (monitor) as a line of its own. */
	fputs("{\"error\": {\"message\": ", f);
	xo_json_string(f, failure.message, failure.len);
	fputs(", \"object\": ", f);
	if (failure.command[0])
		xo_json_string(f, failure.command, strlen(failure.command));
	else
		fputs("null", f);
	fprintf(f, ", \"exit\": %d}}\n", exit);
	return 1;
}

void xc_failure_free(void)
{
	free(failure.message);
	failure.message = NULL;
}

__attribute__((format(printf, 3, 0)))
static void vmsg(const char *prefix, int exit, const char *fmt, va_list ap)
{
	char buf[4096];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	fprintf(stderr, "xfrmctl: %s", prefix);
	xo_text(stderr, buf, strlen(buf));
	fputc('\n', stderr);
	if (exit)
		remember(buf, strlen(buf), exit);
}

int xc_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("", XC_EXIT_ERROR, fmt, ap);
	va_end(ap);
	return XC_EXIT_ERROR;
}

int xc_usage(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("", XC_EXIT_USAGE, fmt, ap);
	va_end(ap);
	return XC_EXIT_USAGE;
}

void xc_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("warning: ", 0, fmt, ap);
	va_end(ap);
}

void xc_req_begin(struct xc_req *r, uint16_t verb)
{
	ike_writer_init(&r->w, CTL_MAX_MSG + 4);
	r->rc = ctl_begin(&r->w, (uint32_t)getpid(), verb, 0, &r->mark);
}

void xc_req_put(struct xc_req *r, uint16_t type, const void *p, size_t len)
{
	if (r->rc == 0)
		r->rc = ctl_put(&r->w, type, p, len);
}

void xc_req_str(struct xc_req *r, uint16_t type, const char *s)
{
	xc_req_put(r, type, s, strlen(s));
}

void xc_req_kv(struct xc_req *r, const char *key, const char *value)
{
	if (r->rc == 0)
		r->rc = ctl_put_kv(&r->w, key, value);
}

static int send_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * The daemon's reason, a line at a time (an import lists its bad rows); the exit status its
 * class says: 2 when the request was wrong (usage), 1 when it was refused.
 */
static int print_reason(const struct ctl_msg *m)
{
	const struct ctl_attr *e = NULL;
	char cls[16];
	int exit;

	xo_get_str(m->attrs, m->n_attrs, CTL_ERROR_CLASS, cls, sizeof(cls));
	exit = !strcmp(cls, "usage") ? XC_EXIT_USAGE : XC_EXIT_ERROR;
	for (size_t i = 0; i < m->n_attrs; i++)
		if (m->attrs[i].type == CTL_A_ERROR)
			e = &m->attrs[i];
	if (!e || e->len == 0) {
		char why[128];

		snprintf(why, sizeof(why), "ikd refused the request: %s", strerror(m->code));
		fprintf(stderr, "xfrmctl: %s\n", why);
		remember(why, strlen(why), exit);
		return exit;
	}
	remember(e->p, e->len, exit);
	fputs("xfrmctl: ", stderr);
	for (size_t i = 0, start = 0; i <= e->len; i++) {
		if (i < e->len && e->p[i] != '\n')
			continue;
		if (start)
			fputs("  ", stderr);
		xo_text(stderr, e->p + start, i - start);
		fputc('\n', stderr);
		start = i + 1;
	}
	return exit;
}

/*
 * Why the socket cannot be used by this user: the group that may, if the socket's mode lets
 * its group in, else root (its owner) only.
 */
static int refused(const char *path)
{
	struct stat st;
	struct group *g;

	if (stat(path, &st) == 0 && (st.st_mode & 060) == 060 && (g = getgrgid(st.st_gid)))
		return xc_error("cannot reach ikd at %s: permission denied: the socket is for root "
				"or group %s", path, g->gr_name);
	if (stat(path, &st) == 0 && (st.st_mode & 060) == 060)
		return xc_error("cannot reach ikd at %s: permission denied: the socket is for root "
				"or group %u", path, (unsigned)st.st_gid);
	return xc_error("cannot reach ikd at %s: permission denied: the socket is for root only",
			path);
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = REPLY_TIMEOUT_S };
	int fd, e;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

int xc_connect(struct xc *x, int *ret_fd)
{
	int fd = connect_to(x->socket);

	ctl_framer_clear(&x->framer);
	x->held = false;
	if (fd == -EACCES || fd == -EPERM)
		return refused(x->socket);
	if (fd < 0)
		return xc_error("cannot reach ikd at %s: %s%s", x->socket, strerror(-fd),
				fd == -ENOENT || fd == -ECONNREFUSED ? " (is ikd running?)" : "");
	*ret_fd = fd;
	return XC_EXIT_OK;
}

int xc_send(struct xc *x, int fd, struct xc_req *r, uint32_t *ret_id)
{
	uint32_t id;
	int rc = r->rc;

	rc = rc ?: ctl_end(&r->w, r->mark);
	if (rc < 0) {
		ike_writer_clear(&r->w);
		return rc == -EMSGSIZE ?
			xc_error("the request is larger than the control socket carries (%d bytes)",
				 CTL_MAX_MSG) :
			xc_error("cannot encode the request: %s", strerror(-rc));
	}
	memcpy(&id, r->w.buf + 4, 4);
	if (ret_id)
		*ret_id = be32toh(id);
	rc = send_all(fd, r->w.buf, r->w.len);
	ike_writer_clear(&r->w);	/* it may hold a key */
	if (rc < 0)
		return rc == -EPIPE || rc == -ECONNRESET ? XC_EXIT_GONE :
		       xc_error("ikd at %s: %s", x->socket, strerror(-rc));
	return XC_EXIT_OK;
}

int xc_recv(struct xc *x, int fd, uint32_t id)
{
	uint8_t buf[65536];
	const uint8_t *body;
	const char *why;
	size_t len;
	int rc;

	if (x->held)
		ctl_framer_pop(&x->framer);
	x->held = false;
	x->reply = (struct ctl_msg){ .attrs = reply_attrs };
	for (;;) {
		ssize_t n;

		rc = ctl_framer_next(&x->framer, &body, &len);
		if (rc != 0)
			break;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0) {
			rc = -ECONNRESET;
			break;
		}
		rc = ctl_framer_feed(&x->framer, buf, (size_t)n);
		if (rc < 0)
			break;
	}
	sodium_memzero(buf, sizeof(buf));
	if (rc < 0)
		return xc_error("ikd at %s: %s", x->socket,
				rc == -ECONNRESET ? "closed the connection without a reply" :
				rc == -EAGAIN ? "no reply in time" :
				rc == -EMSGSIZE ? "a reply larger than allowed" : strerror(-rc));
	x->held = true;
	rc = ctl_decode(body, len, &x->reply, &why);
	if (rc < 0)
		return xc_error("ikd at %s: a malformed reply: %s", x->socket, why);
	/* An error for request 0 answers a connection refused before any request was read. */
	if (!(x->reply.flags & CTL_FLAG_REPLY) ||
	    (x->reply.id != id && (x->reply.id != 0 || x->reply.code == 0)))
		return xc_error("ikd at %s: a reply to another request", x->socket);
	if (x->reply.code != 0)
		return print_reason(&x->reply);
	return XC_EXIT_OK;
}

int xc_call(struct xc *x, struct xc_req *r)
{
	uint32_t id = 0;
	int fd = -1, rc;

	if (r->rc < 0)
		return xc_send(x, -1, r, NULL);	/* says what could not be encoded */
	rc = xc_connect(x, &fd);
	if (rc) {
		ike_writer_clear(&r->w);
		return rc;
	}
	rc = xc_send(x, fd, r, &id);
	/* ikd gone while we sent: its reply, if any, says why. */
	if (rc == XC_EXIT_OK || rc == XC_EXIT_GONE)
		rc = xc_recv(x, fd, id);
	close(fd);
	return rc;
}

int xc_stream(struct xc *x, struct xc_req *r, int (*fn)(struct xc *x, void *arg), void *arg)
{
	uint8_t buf[65536];
	struct timeval none = { 0 };
	const uint8_t *body;
	const char *why;
	size_t len;
	int fd, rc = r->rc;

	ctl_framer_clear(&x->framer);
	rc = rc ?: ctl_end(&r->w, r->mark);
	if (rc < 0) {
		ike_writer_clear(&r->w);
		return xc_error("cannot encode the request: %s", strerror(-rc));
	}
	fd = connect_to(x->socket);
	if (fd == -EACCES || fd == -EPERM) {
		ike_writer_clear(&r->w);
		return refused(x->socket);
	}
	if (fd < 0) {
		ike_writer_clear(&r->w);
		return xc_error("cannot reach ikd at %s: %s%s", x->socket, strerror(-fd),
				fd == -ENOENT || fd == -ECONNREFUSED ? " (is ikd running?)" : "");
	}
	rc = send_all(fd, r->w.buf, r->w.len);
	ike_writer_clear(&r->w);
	/* Events come when they happen: no reply timeout. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
	while (rc >= 0) {
		ssize_t n;

		while ((rc = ctl_framer_next(&x->framer, &body, &len)) == 1) {
			x->reply = (struct ctl_msg){ .attrs = reply_attrs };
			rc = ctl_decode(body, len, &x->reply, &why);
			if (rc < 0) {
				close(fd);
				return xc_error("ikd at %s: a malformed event: %s", x->socket, why);
			}
			if (x->reply.code != 0) {
				close(fd);
				return print_reason(&x->reply);
			}
			rc = fn(x, arg);
			ctl_framer_pop(&x->framer);
			if (rc != 0) {
				close(fd);
				return rc < 0 ? XC_EXIT_ERROR : XC_EXIT_OK;
			}
		}
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n == 0 ? -ECONNRESET : -errno;
			break;
		}
		rc = ctl_framer_feed(&x->framer, buf, (size_t)n);
	}
	close(fd);
	return xc_error("ikd at %s: %s", x->socket,
			rc == -ECONNRESET ? "closed the connection (stopped?)" : strerror(-rc));
}

void xc_free(struct xc *x)
{
	ctl_framer_clear(&x->framer);
}
