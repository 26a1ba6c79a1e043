/*
 * A stand-in for ikd's control server, for xfrmctl's tests: lib/ctl's real handler and the
 * real store behind a UNIX socket, with a made-up runtime (a site whose name ends in an even
 * digit is up, others down). Usage: fake_ikd SOCKET STORE. Serves until killed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl/handler.h"
#include "ctl/metrics.h"
#include "site/store.h"

static struct ctl_attr attrs[CTL_MAX_ATTRS];

static int rt_site(void *arg, const struct site *s, bool detail, struct ike_writer *w)
{
	size_t n = strlen(s->name), mark;
	char last = n ? s->name[n - 1] : 'x';
	bool up = s->enabled && last >= '0' && last <= '9' && (last - '0') % 2 == 0;
	int rc;

	(void)arg;
	rc = ctl_put_kv(w, "status", !s->enabled ? "disabled" : up ? "up" : "down");
	rc = rc ?: ctl_put_kv(w, "active-pop", up ? s->primary : "");
	rc = rc ?: ctl_put_kv(w, "throughput-kbps", up ? "1234" : "0");
	for (size_t i = 0; detail && rc == 0 && i < 1 + s->n_backups; i++) {
		rc = ctl_row_begin(w, &mark);
		rc = rc ?: ctl_put_kv(w, "pop", i ? s->backups[i - 1] : s->primary);
		rc = rc ?: ctl_put_kv(w, "role", i ? "backup" : "primary");
		rc = rc ?: ctl_put_kv(w, "ike", up ? "established" : "connecting");
		rc = rc ?: ctl_put_kv(w, "in-bytes", up ? "1000" : "0");
		rc = rc ?: ctl_row_end(w, mark);
	}
	return rc;
}

static int rt_status(void *arg, struct ike_writer *w)
{
	(void)arg;
	return ctl_put_kv(w, "role", "initiator");
}

/* Two IKE SAs as ikd lists them: b12's to fra1 with a Child SA, c1's to ams1 without. */
static int rt_sa_list(void *arg, struct ike_writer *w)
{
	size_t mark, cmark;
	int rc = ctl_row_begin(w, &mark);

	(void)arg;
	rc = rc ?: ctl_put_kv(w, "type", "ike");
	rc = rc ?: ctl_put_kv(w, "site", "b12");
	rc = rc ?: ctl_put_kv(w, "pop", "fra1");
	rc = rc ?: ctl_put_kv(w, "peer", "198.51.100.1:500");
	rc = rc ?: ctl_put_kv(w, "role", "initiator");
	rc = rc ?: ctl_put_kv(w, "state", "up");
	rc = rc ?: ctl_put_kv(w, "spi", "0011223344556677_8899aabbccddeeff");
	rc = rc ?: ctl_put_kv(w, "suite", "aes256-sha256-prfsha256-modp2048");
	rc = rc ?: ctl_put_kv(w, "local-id", "fqdn:b12.example.com");
	rc = rc ?: ctl_put_kv(w, "remote-id", "fra1.example.net");
	rc = rc ?: ctl_put_kv(w, "nat", "no");
	rc = rc ?: ctl_put_u64(w, "age-s", 120);
	rc = rc ?: ctl_put_u64(w, "rekey-in-s", 13000);
	rc = rc ?: ctl_put_u64(w, "expires-in-s", 14280);
	rc = rc ?: ctl_row_begin(w, &cmark);
	rc = rc ?: ctl_put_kv(w, "type", "child");
	rc = rc ?: ctl_put_kv(w, "site", "b12");
	rc = rc ?: ctl_put_kv(w, "pop", "fra1");
	rc = rc ?: ctl_put_kv(w, "spi-in", "c0ffee01");
	rc = rc ?: ctl_put_kv(w, "spi-out", "c0ffee02");
	rc = rc ?: ctl_put_kv(w, "suite", "aes256gcm16");
	rc = rc ?: ctl_put_kv(w, "installed", "yes");
	rc = rc ?: ctl_put_kv(w, "ts-local", "10.1.0.0/24");
	rc = rc ?: ctl_put_kv(w, "ts-remote", "10.2.0.0/24");
	rc = rc ?: ctl_put_kv(w, "reqid", "0x494b0001");
	rc = rc ?: ctl_put_kv(w, "mark", "0x10/0xff");
	rc = rc ?: ctl_put_u64(w, "if-id", 0);
	rc = rc ?: ctl_put_u64(w, "age-s", 120);
	rc = rc ?: ctl_put_u64(w, "rekey-in-s", 3000);
	rc = rc ?: ctl_put_u64(w, "expires-in-s", 3480);
	rc = rc ?: ctl_put_u64(w, "bytes-in", 1234);
	rc = rc ?: ctl_put_u64(w, "bytes-out", 4321);
	rc = rc ?: ctl_put_u64(w, "packets-in", 10);
	rc = rc ?: ctl_put_u64(w, "packets-out", 12);
	rc = rc ?: ctl_row_end(w, cmark);
	rc = rc ?: ctl_row_end(w, mark);
	rc = rc ?: ctl_row_begin(w, &mark);
	rc = rc ?: ctl_put_kv(w, "type", "ike");
	rc = rc ?: ctl_put_kv(w, "site", "c1");
	rc = rc ?: ctl_put_kv(w, "pop", "ams1");
	rc = rc ?: ctl_put_kv(w, "peer", "198.51.100.2:500");
	rc = rc ?: ctl_put_kv(w, "role", "initiator");
	rc = rc ?: ctl_put_kv(w, "state", "ike-sa-init");
	rc = rc ?: ctl_put_kv(w, "spi", "0102030405060708_0000000000000000");
	rc = rc ?: ctl_put_kv(w, "suite", "");
	rc = rc ?: ctl_put_kv(w, "local-id", "ipv4:203.0.113.9");
	rc = rc ?: ctl_put_kv(w, "remote-id", "198.51.100.2");
	rc = rc ?: ctl_put_kv(w, "nat", "no");
	return rc ?: ctl_row_end(w, mark);
}

static int rt_refresh(void *arg, char *err, size_t len)
{
	(void)arg;
	(void)err;
	(void)len;
	return 0;
}

/* Figures made up from the site: its status as rt_site says, counters from its name. */
static int rt_metrics(void *arg, const struct site *const *sites, size_t n, struct ike_writer *w)
{
	struct ctl_metrics m = { .version = "0.0.0-fake", .start_time_ms = 1700000000000ull };
	int rc;

	(void)arg;
	m.failures[CTL_HS_AUTH_FAILED] = 3;
	rc = ctl_metrics_put(w, &m);
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct site *s = sites[i];
		size_t len = strlen(s->name);
		char last = len ? s->name[len - 1] : 'x';
		bool up = s->enabled && last >= '0' && last <= '9' && (last - '0') % 2 == 0;
		struct ctl_metrics_site row = { .state = !s->enabled ? CTL_SITE_DISABLED :
						up ? CTL_SITE_UP : CTL_SITE_DOWN };

		snprintf(row.name, sizeof(row.name), "%s", s->name);
		snprintf(row.active_pop, sizeof(row.active_pop), "%s", up ? s->primary : "");
		row.v[CTL_SM_BYTES_IN] = 1000 * len;
		row.v[CTL_SM_IKE_SAS] = up;
		rc = ctl_metrics_put_site(w, &row);
	}
	return rc;
}

/* Per POP: a tunnel of each site using it, up when the site is; active for its primary. */
static int rt_pop_health(void *arg, const struct site_db *db, struct ctl_pop_health *ret)
{
	(void)arg;
	for (size_t p = 0; p < db->n_pops; p++) {
		ret[p].known = true;
		for (size_t i = 0; i < db->n_sites; i++) {
			const struct site *s = &db->sites[i];
			size_t n = strlen(s->name);
			char last = n ? s->name[n - 1] : 'x';
			bool up = s->enabled && last >= '0' && last <= '9' && (last - '0') % 2 == 0;
			bool uses = !strcmp(s->primary, db->pops[p].name);

			for (size_t b = 0; b < s->n_backups; b++)
				uses |= !strcmp(s->backups[b], db->pops[p].name);
			if (!uses || !s->enabled)
				continue;
			ret[p].tunnels_up += up;
			ret[p].tunnels_down += !up;
			ret[p].sites_active += up && !strcmp(s->primary, db->pops[p].name);
		}
	}
	return 0;
}

static const struct ctl_runtime runtime = {
	.site_runtime = rt_site, .status = rt_status, .sa_list = rt_sa_list, .refresh = rt_refresh,
	.metrics = rt_metrics, .pop_health = rt_pop_health,
};

static int write_all(int fd, const uint8_t *p, size_t len)
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

static struct ctl_shared shared;

/*
 * One client: frames in, a reply per frame (none for a chunked import's frames but the
 * last; an export's frames one after the other), until it hangs up.
 */
static void serve(int fd, struct ctl_handler *h)
{
	struct ctl_framer f = { 0 };
	struct ctl_stream st = { 0 };
	uint8_t buf[65536];
	ssize_t n;

	h->stream = &st;
	h->shared = &shared;

	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
		const uint8_t *body;
		size_t len;

		if (ctl_framer_feed(&f, buf, (size_t)n) < 0)
			break;
		while (ctl_framer_next(&f, &body, &len) == 1) {
			struct ctl_msg m = { .attrs = attrs };
			struct ike_writer w;
			const char *why;
			int rc;

			ike_writer_init(&w, CTL_MAX_MSG + 4);
			if (ctl_decode(body, len, &m, &why) < 0)
				rc = ctl_reply_error(&w, 0, -EBADMSG, why);
			else
				rc = ctl_handle(h, &m, &w);
			if (w.len)
				rc = write_all(fd, w.buf, w.len);
			while (rc >= 0 && ctl_stream_pending(&st)) {
				ike_writer_clear(&w);
				ike_writer_init(&w, CTL_MAX_MSG + 4);
				ctl_stream_next(h, &w);
				rc = w.len ? write_all(fd, w.buf, w.len) : 0;
			}
			ike_writer_clear(&w);
			ctl_framer_pop(&f);
			if (rc == -EPIPE)
				goto out;
		}
	}
out:
	ctl_stream_clear(&shared, &st);
	h->stream = NULL;
	ctl_framer_clear(&f);
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct site_db db = { 0 };
	struct ctl_handler h = { .db = &db, .rt = &runtime };
	char err[512];
	int lfd;

	if (argc != 3 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: fake_ikd SOCKET STORE\n");
		return 2;
	}
	h.store_path = argv[2];
	if (access(argv[2], F_OK) == 0 && site_store_load(argv[2], &db, err, sizeof(err)) < 0) {
		fprintf(stderr, "fake_ikd: %s\n", err);
		return 1;
	}
	strcpy(sa.sun_path, argv[1]);
	unlink(argv[1]);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	umask(077);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 8) < 0) {
		perror("fake_ikd: socket");
		return 1;
	}
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0 && errno == EINTR)
			continue;
		if (fd < 0) {
			perror("fake_ikd: accept");
			return 1;
		}
		serve(fd, &h);
		close(fd);
	}
}
