/*
 * A site's pre-shared key from a file only its owner can read, from stdin, or typed at a
 * prompt that does not echo; never from the command line. Read with read(2), not stdio, so no
 * library buffer keeps a copy; wiped with sodium_memzero.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "xfrmctl.h"

void xc_psk_wipe(struct xc_psk *k)
{
	sodium_memzero(k->buf, sizeof(k->buf));
	k->len = 0;
	k->set = false;
}

/* Everything from fd up to the cap; one trailing newline (LF or CRLF) is not part of it. */
static int read_key(struct xc_psk *k, int fd, bool line, const char *what, char *err,
		    size_t err_len)
{
	size_t n = 0;

	xc_psk_wipe(k);
	for (;;) {
		ssize_t r;

		if (n == sizeof(k->buf)) {
			xc_psk_wipe(k);
			snprintf(err, err_len, "%s: longer than %d bytes", what, SITE_PSK_MAX);
			return -EMSGSIZE;
		}
		/* A prompt reads a byte at a time: stop at the end of the line. */
		r = read(fd, k->buf + n, line ? 1 : sizeof(k->buf) - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			xc_psk_wipe(k);
			snprintf(err, err_len, "%s: %s", what, strerror(e));
			return -e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (line && k->buf[n - 1] == '\n')
			break;
	}
	if (n && k->buf[n - 1] == '\n')
		k->buf[--n] = '\0';
	if (n && k->buf[n - 1] == '\r')
		k->buf[--n] = '\0';
	if (n == 0) {
		snprintf(err, err_len, "%s: empty", what);
		return -EINVAL;
	}
	if (n > SITE_PSK_MAX) {
		xc_psk_wipe(k);
		snprintf(err, err_len, "%s: longer than %d bytes", what, SITE_PSK_MAX);
		return -EMSGSIZE;
	}
	k->len = n;
	k->set = true;
	return 0;
}

int xc_psk_from_file(struct xc_psk *k, const char *path, char *err, size_t err_len)
{
	struct stat st;
	char what[512];
	int fd, rc;

	snprintf(what, sizeof(what), "psk-file %s", path);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, err_len, "%s: %s", what, strerror(errno));
		return rc;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, err_len, "%s: not a regular file", what);
		return -EINVAL;
	}
	/* A key others can read is no longer secret: refuse it rather than spread it further. */
	if (st.st_mode & 077) {
		close(fd);
		snprintf(err, err_len, "%s: mode %04o lets %s read the key; chmod 600 %s", what,
			 (unsigned)(st.st_mode & 07777),
			 (st.st_mode & 070) && (st.st_mode & 07) ? "group and others" :
			 (st.st_mode & 070) ? "its group" : "others", path);
		return -EACCES;
	}
	rc = read_key(k, fd, false, what, err, err_len);
	close(fd);
	return rc;
}

int xc_psk_from_fd(struct xc_psk *k, int fd, const char *what, char *err, size_t err_len)
{
	return read_key(k, fd, false, what, err, err_len);
}

/* The terminal as it was, put back on any way out, a signal included. */
static struct termios saved;
static int saved_fd = -1;

static void restore_tty(void)
{
	if (saved_fd >= 0)
		tcsetattr(saved_fd, TCSAFLUSH, &saved);
	saved_fd = -1;
}

static void on_signal(int sig)
{
	restore_tty();
	signal(sig, SIG_DFL);
	raise(sig);
}

static int ask(struct xc_psk *k, int fd, const char *prompt, char *err, size_t err_len)
{
	struct termios quiet;
	int rc;

	fputs(prompt, stderr);
	fflush(stderr);
	quiet = saved;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	if (tcsetattr(fd, TCSAFLUSH, &quiet) < 0) {
		rc = -errno;
		snprintf(err, err_len, "psk prompt: %s", strerror(errno));
		return rc;
	}
	rc = read_key(k, fd, true, "psk", err, err_len);
	tcsetattr(fd, TCSAFLUSH, &saved);
	fputc('\n', stderr);
	return rc;
}

int xc_psk_prompt(struct xc_psk *k, int fd, const char *prompt, char *err, size_t err_len)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP };
	struct sigaction sa = { .sa_handler = on_signal }, old[5];
	struct xc_psk again;
	int rc;

	if (tcgetattr(fd, &saved) < 0) {
		rc = -errno;
		snprintf(err, err_len, "psk prompt: not a terminal: %s", strerror(errno));
		return rc;
	}
	saved_fd = fd;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < 5; i++)
		sigaction(sigs[i], &sa, &old[i]);
	rc = ask(k, fd, prompt, err, err_len);
	if (rc == 0) {
		rc = ask(&again, fd, "again: ", err, err_len);
		if (rc == 0 && (again.len != k->len || sodium_memcmp(again.buf, k->buf, k->len))) {
			snprintf(err, err_len, "psk: the two entries differ");
			rc = -EINVAL;
		}
		xc_psk_wipe(&again);
		if (rc < 0)
			xc_psk_wipe(k);
	}
	restore_tty();
	for (size_t i = 0; i < 5; i++)
		sigaction(sigs[i], &old[i], NULL);
	return rc;
}
