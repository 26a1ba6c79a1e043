/*
 * ikd's control socket (/run/ikd/ikd.sock): accepts xfrmctl's connections, frames the
 * stream, and hands each request to lib/ctl's handler with what the running daemon knows
 * (ctl_runtime.c).
 * A malformed or oversized request gets an error reply and its connection is closed; a
 * client that stalls is dropped after a timeout; the daemon keeps serving the others.
 */
#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <time.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>

#include "ctl/handler.h"
#include "glue.h"
#include "log.h"

#define CTL_MAX_CLIENTS 64	/* past it, a new client takes the place of the idlest */
#define CTL_IDLE_MS 30000	/* a client that neither sends nor reads for this long goes */
#define CTL_ACCEPT_BATCH 16	/* connections taken a round of the loop */
#define CTL_KEEP_BUF (64 * 1024)	/* a larger buffer is freed once its message is through */
#define CTL_EXPORT_BATCH 16	/* frames of an export written a round of the loop */

struct ctl_client {
	struct ikd *d;
	struct loop_fd lfd;
	struct ctl_framer fr;
	struct ike_writer out;
	size_t out_off;
	uint32_t events;	/* what epoll watches: EPOLLIN, or EPOLLOUT while a reply waits */
	uint64_t active_ms;	/* the last byte in or out */
	bool closing;		/* close once the reply is written */
	struct timer t_idle;
	uid_t uid;
	pid_t pid;
	struct ctl_stream stream;	/* a chunked import or export under way */
	bool monitor;		/* `xfrmctl monitor`: events are pushed to it */
	uint32_t monitor_id;
	struct ctl_client *next;
};

#define MONITOR_BACKLOG (256 * 1024)	/* a monitor that reads slower than this is dropped */

static size_t n_clients;
static struct ctl_shared shared;	/* the database's changes, the import under way */
static struct log_ratelimit rl_evict = LOG_RATELIMIT_INIT(10000, 3);

static void client_close(struct ctl_client *c)
{
	struct ikd *d = c->d;

	for (struct ctl_client **p = &daemon_of(d)->clients; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	timer_cancel(&daemon_of(d)->loop.timers, &c->t_idle);
	loop_del(&daemon_of(d)->loop, &c->lfd);
	close(c->lfd.fd);
	ctl_stream_clear(&shared, &c->stream);
	ctl_framer_clear(&c->fr);
	ike_writer_clear(&c->out);
	free(c);
	n_clients--;
}

static void idle_fire(struct timer *t)
{
	struct ctl_client *c = timer_owner(t, struct ctl_client, t_idle);

	log_info("control: client pid %d stalled, dropped", (int)c->pid);
	client_close(c);
}

/* ---- the connections ---- */

static void client_interest(struct ctl_client *c, uint32_t events)
{
	if (c->events != events && loop_mod(&daemon_of(c->d)->loop, &c->lfd, events) == 0)
		c->events = events;
}

/*
 * Write what is pending: 1 when all of it went out, 0 when the socket is full (EPOLLOUT
 * then says when to go on), -1 when the client is gone (closed here).
 */
static int client_send(struct ctl_client *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n = send(c->lfd.fd, c->out.buf + c->out_off, c->out.len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				client_interest(c, EPOLLOUT);
				return 0;
			}
			client_close(c);
			return -1;
		}
		c->out_off += (size_t)n;
		c->active_ms = timer_now_ms();
	}
	/* An export may have carried keys: wipe what was sent; a large buffer goes. */
	sodium_memzero(c->out.buf, c->out.len);
	c->out.len = c->out_off = 0;
	if (c->out.cap > CTL_KEEP_BUF) {
		ike_writer_clear(&c->out);
		ike_writer_init(&c->out, CTL_MAX_MSG + 4);
	}
	if (c->closing) {
		client_close(c);
		return -1;
	}
	return 1;
}

/*
 * An export's frames, made as the socket takes them: at most one frame waits in c->out, so
 * a slow reader holds 60 KiB of it, not the whole CSV. A few frames a round, so that one
 * export does not starve the other clients. Returns as client_send does.
 */
static int client_pump(struct ctl_client *c)
{
	int rc = c->out.len ? client_send(c) : 1;

	for (int k = 0; rc > 0 && ctl_stream_pending(&c->stream); k++) {
		struct ctl_runtime rt = ikd_ctl_runtime;
		struct ctl_handler h = { .db = &c->d->db, .store_path = c->d->conf.store, .rt = &rt,
					 .stream = &c->stream, .shared = &shared };

		/* An export that moves is not a stalled client. */
		timer_arm(&daemon_of(c->d)->loop.timers, &c->t_idle, timer_now_ms() + CTL_IDLE_MS);
		if (k == CTL_EXPORT_BATCH) {
			client_interest(c, EPOLLOUT);
			return 0;
		}
		rt.arg = c->d;
		if (ctl_stream_next(&h, &c->out) < 0 && c->out.len == 0) {
			client_close(c);
			return -1;
		}
		rc = client_send(c);
	}
	return rc;
}

static void client_flush(struct ctl_client *c)
{
	if (client_send(c) > 0)
		client_interest(c, EPOLLIN);
}

static void handle_body(struct ctl_client *c, const uint8_t *body, size_t len)
{
	struct ikd *d = c->d;
	struct ctl_attr *attrs = calloc(CTL_MAX_ATTRS, sizeof(*attrs));
	struct ctl_msg m = { .attrs = attrs };
	struct ctl_runtime rt = ikd_ctl_runtime;
	struct ctl_handler h = { .db = &d->db, .store_path = d->conf.store, .rt = &rt,
				 .stream = &c->stream, .shared = &shared };
	const char *why = NULL;

	rt.arg = d;
	if (!attrs) {
		c->closing = true;
		return;
	}
	if (ctl_decode(body, len, &m, &why) < 0) {
		log_warn("control: malformed request from pid %d: %s", (int)c->pid,
			 why ? why : "?");
		ctl_reply_error(&c->out, len >= 4 ? ((uint32_t)body[0] << 24 | (uint32_t)body[1] << 16 |
					       (uint32_t)body[2] << 8 | body[3]) : 0,
				EBADMSG, why ? why : "malformed request");
		c->closing = true;
	} else {
		int rc;

		/* A chunked import is logged once, at its first frame. */
		if (m.code != CTL_STATUS && m.code != CTL_SITE_LIST && m.code != CTL_SITE_SHOW &&
		    m.code != CTL_POP_LIST && m.code != CTL_POP_SHOW && m.code != CTL_SA_LIST &&
		    m.code != CTL_SITE_EXPORT && m.code != CTL_METRICS &&
		    !(m.code == CTL_SITE_IMPORT && c->stream.importing))
			log_info("control: %s from uid %u pid %d", ctl_verb_name(m.code),
				 (unsigned)c->uid, (int)c->pid);
		if (m.code == CTL_MONITOR) {
			size_t mark;

			/* From now on the connection carries events, one frame each. */
			c->monitor = true;
			c->monitor_id = m.id;
			timer_cancel(&daemon_of(d)->loop.timers, &c->t_idle);
			if (ctl_begin(&c->out, m.id, 0, CTL_FLAG_REPLY, &mark) < 0 ||
			    ctl_put_kv(&c->out, "monitor", "started") < 0 || ctl_end(&c->out, mark) < 0)
				c->closing = true;
			free(attrs);
			return;
		}
		rc = ctl_handle(&h, &m, &c->out);
		if (rc < 0 && c->out.len == 0)
			c->closing = true;
	}
	free(attrs);
}

static bool client_has_request(const struct ctl_client *c)
{
	const uint8_t *body;
	size_t len;

	return ctl_framer_next(&c->fr, &body, &len) == 1;
}

/* One read from the socket into the framer: 0, or -1 when the client is gone. */
static int client_read(struct ctl_client *c)
{
	uint8_t buf[16384];
	ssize_t n = recv(c->lfd.fd, buf, sizeof(buf), MSG_DONTWAIT);
	int rc;

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	if (n <= 0) {
		client_close(c);
		return -1;
	}
	c->active_ms = timer_now_ms();
	rc = ctl_framer_feed(&c->fr, buf, (size_t)n);
	sodium_memzero(buf, (size_t)n);
	if (rc < 0) {
		ctl_reply_error(&c->out, 0, rc == -EMSGSIZE ? EMSGSIZE : EBADMSG,
				rc == -EMSGSIZE ? "request too large" : "malformed stream");
		c->closing = true;
	}
	return 0;
}

static void client_handle_one(struct ctl_client *c)
{
	const uint8_t *body;
	size_t len;

	if (ctl_framer_next(&c->fr, &body, &len) != 1)
		return;
	handle_body(c, body, len);
	ctl_framer_pop(&c->fr);
	if (c->fr.len == 0 && c->fr.cap > CTL_KEEP_BUF)
		ctl_framer_clear(&c->fr);	/* an import's buffer goes with it */
}

/*
 * A client's turn: at most one read and one request, and the request after it only once its
 * reply is out. A client that pipelines requests without reading the replies holds one
 * reply and is dropped at the idle timeout; one that reads as fast as it asks still gets one
 * request a round of the loop, so it cannot starve the others.
 */
static void on_client(struct loop *l, struct loop_fd *f, uint32_t events)
{
	struct ctl_client *c = f->arg;

	(void)l;
	(void)events;
	if (client_pump(c) <= 0)
		return;		/* the reply before is still on its way, or the client is gone */
	if (!c->closing && !client_has_request(c) && client_read(c) < 0)
		return;
	if (!c->closing)
		client_handle_one(c);
	if (client_pump(c) <= 0)
		return;
	if (c->closing) {
		client_close(c);
		return;
	}
	/* A request already buffered is taken on the next round (the socket is writable). */
	client_interest(c, client_has_request(c) ? EPOLLOUT : EPOLLIN);
	if (!c->monitor)
		timer_arm(&daemon_of(c->d)->loop.timers, &c->t_idle, timer_now_ms() + CTL_IDLE_MS);
}

/* The client idle the longest; a monitor only when every client is one. */
static struct ctl_client *client_idlest(struct ikd *d)
{
	struct ctl_client *best = NULL;

	for (struct ctl_client *c = daemon_of(d)->clients; c; c = c->next)
		if (!best || (best->monitor && !c->monitor) ||
		    (best->monitor == c->monitor && c->active_ms < best->active_ms))
			best = c;
	return best;
}

/*
 * A client that may not use the socket is told why before it is closed, rather than finding
 * the connection gone ("Broken pipe"). The reply answers request id 0: it goes out before
 * the request is read, and a small frame fits the new socket's buffer.
 */
static void refuse(int fd)
{
	struct ike_writer w;
	char msg[160];

	if (geteuid() == 0)
		snprintf(msg, sizeof(msg), "permission denied: the socket is for root only "
			 "(control-group in ikd.conf(5) opens it to a group)");
	else
		snprintf(msg, sizeof(msg), "permission denied: the socket is for uid %u only "
			 "(control-group in ikd.conf(5) opens it to a group)", (unsigned)geteuid());
	ike_writer_init(&w, 4096);
	if (ctl_reply_error_class(&w, 0, EACCES, "permission", msg) == 0)
		(void)!send(fd, w.buf, w.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	ike_writer_clear(&w);
	close(fd);
}

static void on_accept(struct loop *l, struct loop_fd *f, uint32_t events)
{
	struct ikd *d = f->arg;

	(void)events;
	/* A few a round: a flood of connections does not starve the clients already in. */
	for (int k = 0; k < CTL_ACCEPT_BATCH; k++) {
		int fd = accept4(f->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct ucred cred;
		socklen_t clen = sizeof(cred);
		struct ctl_client *c;

		if (fd < 0)
			return;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 ||
		    (cred.uid != 0 && cred.uid != geteuid() && !d->conf.socket_group[0])) {
			log_warn("control: connection from uid %u refused",
				 clen == sizeof(cred) ? (unsigned)cred.uid : 0u);
			refuse(fd);
			continue;
		}
		/* Full: the newcomer takes the place of the client idle the longest. */
		if (n_clients >= CTL_MAX_CLIENTS) {
			struct ctl_client *old = client_idlest(d);
			unsigned sup;

			if (log_ratelimit_ok(&rl_evict, timer_now_ms(), &sup)) {
				if (sup)
					log_info("control: %u similar lines suppressed", sup);
				log_info("control: %d clients connected: pid %d, idle %" PRIu64
					 " ms, dropped for a new one", CTL_MAX_CLIENTS, (int)old->pid,
					 timer_now_ms() - old->active_ms);
			}
			client_close(old);
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->d = d;
		c->uid = cred.uid;
		c->pid = cred.pid;
		c->events = EPOLLIN;
		c->active_ms = timer_now_ms();
		ike_writer_init(&c->out, CTL_MAX_MSG + 4);
		timer_init(&c->t_idle, idle_fire);
		if (loop_add(l, &c->lfd, fd, EPOLLIN, on_client, c) < 0) {
			close(fd);
			ike_writer_clear(&c->out);
			free(c);
			continue;
		}
		c->next = daemon_of(d)->clients;
		daemon_of(d)->clients = c;
		n_clients++;
		timer_arm(&daemon_of(d)->loop.timers, &c->t_idle, timer_now_ms() + CTL_IDLE_MS);
	}
}

void ctl_server_event(struct ikd *d, const char *site, const char *pop, const char *event,
		      const char *detail)
{
	struct ctl_client *c, *next;
	char when[64];
	struct timespec ts;
	struct tm tm;

	if (!daemon_of(d)->clients)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	for (c = daemon_of(d)->clients; c; c = next) {
		size_t mark, before = c->out.len;
		int rc;

		next = c->next;
		if (!c->monitor || c->closing)
			continue;
		if (c->out.len - c->out_off > MONITOR_BACKLOG) {
			log_info("control: monitor pid %d does not keep up, dropped", (int)c->pid);
			client_close(c);
			continue;
		}
		rc = ctl_begin(&c->out, c->monitor_id, 0, CTL_FLAG_REPLY, &mark);
		rc = rc ?: ctl_put_kv(&c->out, "time", when);
		rc = rc ?: ctl_put_kv(&c->out, "event", event);
		rc = rc ?: ctl_put_kv(&c->out, "site", site ? site : "");
		rc = rc ?: ctl_put_kv(&c->out, "pop", pop ? pop : "");
		rc = rc ?: ctl_put_kv(&c->out, "detail", detail);
		rc = rc ?: ctl_end(&c->out, mark);
		if (rc < 0) {
			c->out.len = before;
			continue;
		}
		client_flush(c);
	}
}

int ctl_server_open(struct ikd *d)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char dir[CONF_PATH_MAX], *slash;
	mode_t mode = d->conf.socket_group[0] ? 0660 : 0600;
	mode_t old;
	int fd, rc;

	if (strlen(d->conf.socket) >= sizeof(sun.sun_path)) {
		log_err("control socket path too long: %s", d->conf.socket);
		return -ENAMETOOLONG;
	}
	strcpy(sun.sun_path, d->conf.socket);
	snprintf(dir, sizeof(dir), "%s", d->conf.socket);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			log_err("cannot create %s: %s", dir, strerror(errno));
			return -errno;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(sun.sun_path);
	old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc < 0 || listen(fd, 64) < 0) {
		rc = -errno;
		log_err("cannot listen on %s: %s", d->conf.socket, strerror(-rc));
		close(fd);
		return rc;
	}
	if (d->conf.socket_group[0]) {
		struct group *g = getgrnam(d->conf.socket_group);

		if (!g || chown(sun.sun_path, 0, g->gr_gid) < 0) {
			log_err("control-group '%s': %s", d->conf.socket_group,
				g ? strerror(errno) : "no such group");
			close(fd);
			return -EINVAL;
		}
	}
	if (chmod(sun.sun_path, mode) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	daemon_of(d)->ctl_listen_fd = fd;
	ikd_metrics_start(d);
	rc = loop_add(&daemon_of(d)->loop, &daemon_of(d)->ctl_fd, fd, EPOLLIN, on_accept, d);
	if (rc < 0) {
		close(fd);
		daemon_of(d)->ctl_listen_fd = -1;
	}
	return rc;
}

void ctl_server_close(struct ikd *d)
{
	while (daemon_of(d)->clients)
		client_close(daemon_of(d)->clients);
	if (daemon_of(d)->ctl_listen_fd >= 0) {
		loop_del(&daemon_of(d)->loop, &daemon_of(d)->ctl_fd);
		close(daemon_of(d)->ctl_listen_fd);
		unlink(d->conf.socket);
		daemon_of(d)->ctl_listen_fd = -1;
	}
	ctl_runtime_clear();
}
