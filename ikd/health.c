/* The downstream health check; see health.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "health.h"
#include "log.h"

/* ---- the policy: rise and fall ---- */

void health_policy_init(struct health_policy *p, uint32_t rise, uint32_t fall)
{
	p->rise = rise ? rise : 1;
	p->fall = fall ? fall : 1;
	p->state = HEALTH_UNKNOWN;
	p->streak = 0;
}

bool health_policy_feed(struct health_policy *p, bool ok)
{
	enum health_state want = ok ? HEALTH_UP : HEALTH_DOWN;

	if (p->state == want) {
		p->streak = 0;
		return false;
	}
	if (p->state != HEALTH_UNKNOWN && ++p->streak < (ok ? p->rise : p->fall))
		return false;
	p->state = want;
	p->streak = 0;
	return true;
}

bool health_policy_accepting(const struct health_policy *p)
{
	return p->state != HEALTH_DOWN;
}

const char *health_state_name(enum health_state s)
{
	return s == HEALTH_UP ? "passing" : s == HEALTH_DOWN ? "failing" : "unknown";
}

int health_argv(const char *text, char *buf, size_t buf_len, char **argv, size_t max)
{
	size_t n = 0, used = 0;

	for (const char *p = text + strspn(text, " \t"); *p; p += strspn(p, " \t")) {
		size_t len = strcspn(p, " \t");

		if (n + 1 >= max || used + len + 1 > buf_len)
			return -E2BIG;
		memcpy(buf + used, p, len);
		buf[used + len] = '\0';
		argv[n++] = buf + used;
		used += len + 1;
		p += len;
	}
	if (n == 0)
		return -EINVAL;
	argv[n] = NULL;
	return (int)n;
}

/* ---- running the checks ---- */

static void schedule(struct health *h, uint64_t at_ms)
{
	timer_arm(&h->loop->timers, &h->t_next, at_ms);
}

static const char *kind_name(const struct health *h)
{
	return h->kind == CONF_HEALTH_TCP ? "tcp" : "command";
}

/* Log a change of the accepting state, once, and tell the owner. */
static void changed(struct health *h, bool was_accepting, enum health_state was)
{
	bool now = health_accepting(h);

	if (now == was_accepting) {
		if (was == HEALTH_UNKNOWN && h->policy.state == HEALTH_UP)
			log_info("downstream check passed: accepting new tunnels (%s %s: %s)",
				 kind_name(h), h->target, h->result);
		return;
	}
	if (!now)
		log_warn("downstream check failed: not accepting new tunnels "
			 "(%s %s: %s; %u in a row)", kind_name(h), h->target, h->result,
			 was == HEALTH_UNKNOWN ? 1 : h->policy.fall);
	else
		log_notice("downstream check passed: accepting new tunnels again "
			   "(%s %s: %s; %u in a row)", kind_name(h), h->target, h->result,
			   h->policy.rise);
	if (h->on_change)
		h->on_change(h, h->arg);
}

static void result(struct health *h, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void result(struct health *h, bool ok, const char *fmt, ...)
{
	bool was_accepting = health_accepting(h);
	enum health_state was = h->policy.state;
	uint64_t now = timer_now_ms(), next = h->started_ms + (uint64_t)h->interval_s * 1000;
	va_list ap;

	timer_cancel(&h->loop->timers, &h->t_timeout);
	if (h->discard) {
		/* The settings changed under it: the next check, with the new ones, now. */
		h->discard = false;
		schedule(h, now);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(h->result, sizeof(h->result), fmt, ap);
	va_end(ap);
	h->checks++;
	h->failures += !ok;
	log_debug("downstream check %s after %llu ms: %s %s: %s", ok ? "passed" : "failed",
		  (unsigned long long)(now - h->started_ms), kind_name(h), h->target, h->result);
	if (health_policy_feed(&h->policy, ok))
		changed(h, was_accepting, was);
	schedule(h, next > now ? next : now);
}

static void proc_done(struct health *h)
{
	loop_del(h->loop, &h->proc_fd);
	close(h->proc_fd.fd);
	h->proc_fd.fd = -1;
	h->pid = 0;
}

static void on_proc(struct loop *l, struct loop_fd *f, uint32_t events)
{
	struct health *h = f->arg;
	int status;
	pid_t rc;

	(void)l;
	(void)events;
	rc = waitpid(h->pid, &status, WNOHANG);
	if (rc == 0 || (rc < 0 && errno == EINTR))
		return;		/* not yet */
	proc_done(h);
	if (rc < 0)
		result(h, false, "cannot collect its status: %s", strerror(errno));
	else if (h->timed_out)
		result(h, false, "killed: no answer within %u s", h->timeout_s);
	else if (WIFEXITED(status))
		result(h, WEXITSTATUS(status) == 0, "exit status %d", WEXITSTATUS(status));
	else
		result(h, false, "killed by signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/*
 * posix_spawn, without a shell: in a process group of its own (so a timeout kills what it
 * started too), stdin and stdout/stderr on /dev/null, no descriptor of ikd's, a clean
 * signal mask and dispositions, and a minimal environment.
 */
static int spawn(struct health *h, pid_t *ret_pid)
{
	static char env_path[] =
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	char *envp[] = { env_path, NULL };
	char buf[CONF_HEALTH_TARGET_MAX], *argv[CONF_HEALTH_ARGV_MAX];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	int rc;

	rc = health_argv(h->target, buf, sizeof(buf), argv, CONF_HEALTH_ARGV_MAX);
	if (rc < 0)
		return rc;
	sigemptyset(&none);
	sigfillset(&dfl);	/* every disposition default: ikd ignores SIGPIPE, for one */
	if (posix_spawn_file_actions_init(&fa))
		return -ENOMEM;
	if (posix_spawnattr_init(&attr)) {
		posix_spawn_file_actions_destroy(&fa);
		return -ENOMEM;
	}
	rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	rc = rc ?: posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	rc = rc ?: posix_spawn_file_actions_adddup2(&fa, 1, 2);
	rc = rc ?: posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	rc = rc ?: posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
					    POSIX_SPAWN_SETSIGDEF);
	rc = rc ?: posix_spawnattr_setpgroup(&attr, 0);
	rc = rc ?: posix_spawnattr_setsigmask(&attr, &none);
	rc = rc ?: posix_spawnattr_setsigdefault(&attr, &dfl);
	rc = rc ?: posix_spawn(ret_pid, argv[0], &fa, &attr, argv, envp);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return -rc;
}

static void start_command(struct health *h)
{
	pid_t pid;
	int rc, fd;

	rc = spawn(h, &pid);
	if (rc < 0) {
		result(h, false, "cannot run it: %s", strerror(-rc));
		return;
	}
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0 || loop_add(h->loop, &h->proc_fd, fd, EPOLLIN, on_proc, h) < 0) {
		rc = errno;
		if (fd >= 0)
			close(fd);
		/* Without a pidfd it cannot be watched: stop it now (SIGKILL is prompt). */
		kill(-pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		h->proc_fd.fd = -1;
		result(h, false, "cannot watch it (pidfd): %s", strerror(rc));
		return;
	}
	h->pid = pid;
}

static void sock_done(struct health *h)
{
	loop_del(h->loop, &h->sock_fd);
	close(h->sock_fd.fd);
	h->sock_fd.fd = -1;
}

static void on_sock(struct loop *l, struct loop_fd *f, uint32_t events)
{
	struct health *h = f->arg;
	int err = 0;
	socklen_t len = sizeof(err);

	(void)l;
	(void)events;
	if (getsockopt(f->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	sock_done(h);
	if (err)
		result(h, false, "%s", strerror(err));
	else
		result(h, true, "connected");
}

static void start_tcp(struct health *h)
{
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} to;
	socklen_t to_len;
	char addr[64];
	uint16_t port;
	int fd;

	memset(&to, 0, sizeof(to));
	if (conf_split_hostport(h->target, addr, sizeof(addr), &port) < 0) {
		result(h, false, "not an ADDRESS:PORT");
		return;
	}
	if (inet_pton(AF_INET, addr, &to.in.sin_addr) == 1) {
		to.in.sin_family = AF_INET;
		to.in.sin_port = htons(port);
		to_len = sizeof(to.in);
	} else {
		inet_pton(AF_INET6, addr, &to.in6.sin6_addr);
		to.in6.sin6_family = AF_INET6;
		to.in6.sin6_port = htons(port);
		to_len = sizeof(to.in6);
	}
	fd = socket(to.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		result(h, false, "socket: %s", strerror(errno));
		return;
	}
	if (connect(fd, &to.sa, to_len) == 0) {
		close(fd);
		result(h, true, "connected");
		return;
	}
	if (errno != EINPROGRESS || loop_add(h->loop, &h->sock_fd, fd, EPOLLOUT, on_sock, h) < 0) {
		int err = errno;

		close(fd);
		h->sock_fd.fd = -1;
		result(h, false, "%s", strerror(err));
	}
}

static bool running(const struct health *h)
{
	return h->pid || h->sock_fd.fd >= 0;
}

static void on_next(struct timer *t)
{
	struct health *h = timer_owner(t, struct health, t_next);
	uint64_t now = timer_now_ms();

	if (h->kind == CONF_HEALTH_NONE || running(h))
		return;
	h->started_ms = now;
	h->timed_out = false;
	/* Armed first: the check may end (and re-arm it) right away. */
	timer_arm(&h->loop->timers, &h->t_timeout, now + (uint64_t)h->timeout_s * 1000);
	if (h->kind == CONF_HEALTH_COMMAND)
		start_command(h);
	else
		start_tcp(h);
}

static void on_timeout(struct timer *t)
{
	struct health *h = timer_owner(t, struct health, t_timeout);

	if (h->pid) {
		/* The group: a script's own children go too. Reaped by on_proc. */
		h->timed_out = true;
		if (kill(-h->pid, SIGKILL) < 0)
			kill(h->pid, SIGKILL);
	} else if (h->sock_fd.fd >= 0) {
		sock_done(h);
		result(h, false, "no connection within %u s", h->timeout_s);
	}
}

void health_init(struct health *h, struct loop *l, health_change_fn fn, void *arg)
{
	memset(h, 0, sizeof(*h));
	h->loop = l;
	h->kind = CONF_HEALTH_NONE;
	h->proc_fd.fd = -1;
	h->sock_fd.fd = -1;
	h->on_change = fn;
	h->arg = arg;
	health_policy_init(&h->policy, 1, 1);
	timer_init(&h->t_next, on_next);
	timer_init(&h->t_timeout, on_timeout);
}

bool health_accepting(const struct health *h)
{
	return h->kind == CONF_HEALTH_NONE || health_policy_accepting(&h->policy);
}

void health_configure(struct health *h, const struct ikd_conf *c)
{
	bool was_accepting = health_accepting(h);

	h->interval_s = c->health_interval_s;
	h->timeout_s = c->health_timeout_s;
	h->policy.rise = c->health_rise ? c->health_rise : 1;
	h->policy.fall = c->health_fall ? c->health_fall : 1;
	if (c->health == h->kind && !strcmp(c->health_target, h->target))
		return;
	h->kind = c->health;
	snprintf(h->target, sizeof(h->target), "%s", c->health_target);
	health_policy_init(&h->policy, c->health_rise, c->health_fall);
	h->result[0] = '\0';
	if (h->kind == CONF_HEALTH_NONE)
		timer_cancel(&h->loop->timers, &h->t_next);
	else
		log_info("downstream check: %s %s every %u s (timeout %u s, rise %u, fall %u)",
			 kind_name(h), h->target, h->interval_s,
			 h->timeout_s, h->policy.rise, h->policy.fall);
	if (!was_accepting) {
		log_notice("downstream check %s: accepting new tunnels again",
			   h->kind == CONF_HEALTH_NONE ? "removed" : "changed, no result yet");
		if (h->on_change)
			h->on_change(h, h->arg);
	}
	if (running(h)) {
		/* Killed or closed without waiting; its end starts the next check, if any. */
		h->discard = true;
		on_timeout(&h->t_timeout);
		return;
	}
	if (h->kind != CONF_HEALTH_NONE)
		schedule(h, timer_now_ms());
}

void health_clear(struct health *h)
{
	if (!h->loop)
		return;
	timer_cancel(&h->loop->timers, &h->t_timeout);
	timer_cancel(&h->loop->timers, &h->t_next);
	if (h->pid) {
		/* ikd is stopping: a SIGKILLed process is reaped at once. */
		kill(-h->pid, SIGKILL);
		kill(h->pid, SIGKILL);
		while (waitpid(h->pid, NULL, 0) < 0 && errno == EINTR)
			;
		proc_done(h);
	}
	if (h->sock_fd.fd >= 0)
		sock_done(h);
}
