/*
 * The sites database at gateway scale.
 *
 * First 100,000 sites the way an operator moves them: the real xfrmctl against lib/ctl's
 * handler and the real store (saved at each change, as ikd does) in a server process of
 * its own, over a UNIX socket, chunked both ways. Import <= 2 s and export <= 1 s (xfrmctl's
 * wall time), the export byte for byte the file imported, the import of the export again
 * (every site unchanged), and the peak RSS of the server (ikd's side) and of each xfrmctl
 * (the client's), with each side's CPU time (a loaded machine stretches the wall time).
 * Exits 1 loudly when a step fails or the round trip differs.
 *
 * Then, in this process: import 10,000 sites from CSV, list with a filter, export, save
 * and load the store, each time beside the goals (import <= 0.2 s, list <= 0.05 s).
 * Usage: bench_sites [N] (N sites for the second part, default 100000).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl/handler.h"
#include "site/csv.h"
#include "site/store.h"

extern char **environ;

/* posix_spawn takes char *const argv[]; its words are never written. */
#define S(x) ((char *)(x))

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int bench_10k(void)
{
	const int n = 10000;
	struct site_db db = { 0 }, loaded;
	struct csv_report rep;
	struct site_filter f = { .name = "99", .traffic = SITE_TRAFFIC_IOT, .enabled = -1, .page = 1 };
	const char *pops[] = { "fra1", "ams1", "lon1" };
	char err[SITE_ERR_MAX], dir[] = "/tmp/bench-sites-XXXXXX", path[64], *csv, *out = NULL;
	size_t cap = 200 + (size_t)n * 120, len = 0, out_len, *idx, count, total;
	double t0, t_import, t_list, t_export, t_save, t_load;

	for (int i = 0; i < 3; i++) {
		struct pop p;
		char gw[32];

		snprintf(gw, sizeof(gw), "198.51.100.%d", i + 1);	/* one POP per gateway */
		pop_init(&p);
		pop_set(&p, "name", pops[i], err, sizeof(err));
		pop_set(&p, "gateway", gw, err, sizeof(err));
		site_db_add_pop(&db, &p, err, sizeof(err));
	}
	csv = malloc(cap);
	len += (size_t)snprintf(csv + len, cap - len, "name,id,psk,primary,backups,traffic\n");
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(csv + len, cap - len,
					"branch-%05d,b%d.example.com,key-of-branch-%05d,%s,%s,%s\n", i, i, i,
					pops[i % 3], pops[(i + 1) % 3], i % 2 ? "IoT" : "User");
	t0 = now_s();
	if (site_csv_import(&db, csv, len, NULL, 0, false, &rep) < 0)
		return fprintf(stderr, "import failed: line %u %s\n", rep.errors[0].line,
			       rep.errors[0].msg), 1;
	t_import = now_s() - t0;
	t0 = now_s();
	site_db_select(&db, &f, &idx, &count, &total);
	t_list = now_s() - t0;
	free(idx);
	t0 = now_s();
	site_csv_export(&db, false, &out, &out_len);
	t_export = now_s() - t0;
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/sites.conf", dir);
	t0 = now_s();
	if (site_store_save(path, &db, err, sizeof(err)) < 0)
		return fprintf(stderr, "%s\n", err), 1;
	t_save = now_s() - t0;
	t0 = now_s();
	if (site_store_load(path, &loaded, err, sizeof(err)) < 0)
		return fprintf(stderr, "%s\n", err), 1;
	t_load = now_s() - t0;
	printf("sites %d, CSV %zu bytes\n", n, len);
	printf("import   %7.3f s   (goal <= 0.2 s)\n", t_import);
	printf("list     %7.4f s   (goal <= 0.05 s; filter name~99 traffic=IoT: %zu of %zu)\n", t_list,
	       count, total);
	printf("export   %7.3f s   (%zu bytes)\n", t_export, out_len);
	printf("save     %7.3f s   (atomic: temp file, fsync, rename, fsync dir)\n", t_save);
	printf("load     %7.3f s   (%zu sites, every record validated)\n", t_load, loaded.n_sites);
	unlink(path);
	rmdir(dir);
	free(out);
	free(csv);
	site_db_clear(&loaded);
	site_db_clear(&db);
	return 0;
}

/* ---- 100,000 sites through xfrmctl and the control protocol ---- */

static const char *const pop_names[] = { "fra1", "ams1", "lon1" };

static void add_pops(struct site_db *db)
{
	char err[SITE_ERR_MAX];

	for (int i = 0; i < 3; i++) {
		struct pop p;
		char gw[32];

		snprintf(gw, sizeof(gw), "198.51.100.%d", i + 1);	/* one POP per gateway */
		pop_init(&p);
		pop_set(&p, "name", pop_names[i], err, sizeof(err));
		pop_set(&p, "gateway", gw, err, sizeof(err));
		if (site_db_add_pop(db, &p, err, sizeof(err)) < 0) {
			fprintf(stderr, "bench_sites: pop %s: %s\n", pop_names[i], err);
			exit(1);
		}
	}
}

/*
 * The file an operator would have: n sites in the export's own format, keys included,
 * varied fields (written in a child, so that its memory is not the server's or ours).
 */
static int make_csv(const char *path, int n)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		struct site_db db = { 0 };
		size_t pos = 0;
		char *buf = malloc(CTL_CHUNK), err[SITE_ERR_MAX];
		FILE *f = fopen(path, "w");

		add_pops(&db);
		db.sites = calloc((size_t)n, sizeof(*db.sites));
		if (!buf || !f || !db.sites)
			_exit(1);
		for (int i = 0; i < n; i++) {
			struct site *s = &db.sites[i];
			char v[64];

			site_init(s);
			snprintf(v, sizeof(v), "site-%06d", i);
			site_set(s, "name", v, err, sizeof(err));
			snprintf(v, sizeof(v), "fqdn:s%d.branch.example.com", i);
			site_set(s, "id", v, err, sizeof(err));
			snprintf(v, sizeof(v), "psk, \"%d\" of a site", i);
			site_set_psk(s, (const uint8_t *)v, strlen(v), err, sizeof(err));
			site_set(s, "primary", pop_names[i % 3], err, sizeof(err));
			snprintf(v, sizeof(v), "%s,%s", pop_names[(i + 1) % 3], pop_names[(i + 2) % 3]);
			site_set(s, "backups", v, err, sizeof(err));
			site_set(s, "traffic", i % 2 ? "IoT" : "User", err, sizeof(err));
			snprintf(v, sizeof(v), "10.%d.%d.0/24", (i >> 8) & 255, i & 255);
			site_set(s, "local-ts", v, err, sizeof(err));
			snprintf(v, sizeof(v), "0x%x/0xffff", i & 0xffff);
			site_set(s, "mark", v, err, sizeof(err));
			if (i % 7 == 0)
				site_set(s, "enabled", "no", err, sizeof(err));
			db.n_sites++;
		}
		while (pos <= db.n_sites) {
			ssize_t k = site_csv_export_chunk(&db, true, &pos, buf, CTL_CHUNK);

			if (k < 0 || fwrite(buf, 1, (size_t)k, f) != (size_t)k)
				_exit(1);
		}
		_exit(fclose(f) == 0 ? 0 : 1);
	}
	return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && !WEXITSTATUS(status) ?
	       0 : -1;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t k = send(fd, p, len, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		p += k;
		len -= (size_t)k;
	}
	return 0;
}

/* The server: ikd's side of the protocol (lib/ctl's handler, the store), blocking. */
static void serve(const char *sock, const char *store, int ready)
{
	static struct ctl_attr attrs[CTL_MAX_ATTRS];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct site_db db = { 0 };
	struct ctl_shared shared = { 0 };
	struct ctl_handler h = { .db = &db, .store_path = store, .shared = &shared };
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	add_pops(&db);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4) < 0)
		_exit(1);
	if (write(ready, "r", 1) != 1)
		_exit(1);
	close(ready);
	for (;;) {
		struct ctl_framer f = { 0 };
		struct ctl_stream st = { 0 };
		uint8_t buf[65536];
		ssize_t n;
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0)
			continue;
		h.stream = &st;
		while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
			const uint8_t *body;
			size_t len;

			if (ctl_framer_feed(&f, buf, (size_t)n) < 0)
				break;
			while (ctl_framer_next(&f, &body, &len) == 1) {
				struct ctl_msg m = { .attrs = attrs };
				struct ike_writer w;
				const char *why;
				int rc = 0;

				ike_writer_init(&w, CTL_MAX_MSG + 4);
				if (ctl_decode(body, len, &m, &why) < 0)
					ctl_reply_error(&w, 0, -EBADMSG, why);
				else
					ctl_handle(&h, &m, &w);
				if (w.len)
					rc = write_all(fd, w.buf, w.len);
				while (rc == 0 && ctl_stream_pending(&st)) {
					w.len = 0;
					ctl_stream_next(&h, &w);
					rc = w.len ? write_all(fd, w.buf, w.len) : 0;
				}
				ike_writer_clear(&w);
				ctl_framer_pop(&f);
			}
		}
		ctl_stream_clear(&shared, &st);
		ctl_framer_clear(&f);
		close(fd);
	}
}

/* A process's peak resident memory so far (VmHWM), in MB. */
static double peak_mb(pid_t pid)
{
	char path[64], line[256];
	double kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %lf kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb / 1024;
}

/* A process's CPU time so far (user + system), in seconds. */
static double cpu_s(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* After the command's name in parentheses: state is field 3, utime 14, stime 15. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* xfrmctl ARGS: its exit status, wall time, peak RSS (MB); its stdout into out_path. */
static int run_xfrmctl(char *const *argv, const char *out_path, double *ret_s, double *ret_mb,
		       double *ret_cpu)
{
	posix_spawn_file_actions_t fa;
	struct rusage ru;
	double t0 = now_s();
	pid_t pid;
	int status;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out_path, O_WRONLY | O_CREAT | O_TRUNC,
					 0600);
	if (posix_spawn(&pid, XFRMCTL_PATH, &fa, NULL, argv, environ) != 0)
		return -1;
	posix_spawn_file_actions_destroy(&fa);
	if (wait4(pid, &status, 0, &ru) != pid)
		return -1;
	*ret_s = now_s() - t0;
	*ret_mb = ru.ru_maxrss / 1024.0;
	*ret_cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		   (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static bool files_same(const char *a, const char *b, size_t *ret_size)
{
	FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
	char x[65536], y[65536];
	size_t na, nb, total = 0;
	bool same = fa && fb;

	while (same) {
		na = fread(x, 1, sizeof(x), fa);
		nb = fread(y, 1, sizeof(y), fb);
		same = na == nb && !memcmp(x, y, na);
		total += na;
		if (na == 0)
			break;
	}
	if (fa)
		fclose(fa);
	if (fb)
		fclose(fb);
	*ret_size = total;
	return same;
}

static int bench_stream(int n)
{
	char dir[] = "/tmp/bench-sites-XXXXXX", sock[96], store[96], in[96], out[96], back[96],
	     msg[96], cmd[160];
	double t_import, t_export, t_again, rss_import, rss_export, rss_again;
	double srv_base, srv_import, srv_export, srv_again;
	double c0, cpu_import, cpu_export, cpu_again, ccpu_import, ccpu_export, ccpu_again;
	int ready[2], rc, failed = 0;
	size_t size = 0;
	struct stat st;
	pid_t server;

	if (!mkdtemp(dir))
		return fprintf(stderr, "bench_sites: mkdtemp: %s\n", strerror(errno)), 1;
	snprintf(sock, sizeof(sock), "%s/ikd.sock", dir);
	snprintf(store, sizeof(store), "%s/sites.conf", dir);
	snprintf(in, sizeof(in), "%s/in.csv", dir);
	snprintf(out, sizeof(out), "%s/out.csv", dir);
	snprintf(back, sizeof(back), "%s/back.csv", dir);
	snprintf(msg, sizeof(msg), "%s/xfrmctl.out", dir);
	umask(077);
	if (make_csv(in, n) < 0 || stat(in, &st) < 0)
		return fprintf(stderr, "bench_sites: FAIL: cannot write %s\n", in), 1;
	if (pipe(ready) < 0)
		return 1;
	server = fork();
	if (server == 0) {
		close(ready[0]);
		serve(sock, store, ready[1]);
		_exit(0);
	}
	close(ready[1]);
	if (server < 0 || read(ready[0], cmd, 1) != 1)
		return fprintf(stderr, "bench_sites: FAIL: the server did not start\n"), 1;
	close(ready[0]);
	srv_base = peak_mb(server);
	{
		char *argv[] = { S("xfrmctl"), S("-s"), sock, S("site"), S("import"), in, NULL };

		c0 = cpu_s(server);
		rc = run_xfrmctl(argv, msg, &t_import, &rss_import, &ccpu_import);
		cpu_import = cpu_s(server) - c0;
		srv_import = peak_mb(server);
		if (rc != 0) {
			fprintf(stderr, "bench_sites: FAIL: xfrmctl site import exited %d\n", rc);
			failed = 1;
		}
	}
	{
		char *argv[] = { S("xfrmctl"), S("-s"), sock, S("site"), S("export"),
				 S("--with-psk"), out, NULL };

		c0 = cpu_s(server);
		rc = failed ? -1 : run_xfrmctl(argv, msg, &t_export, &rss_export, &ccpu_export);
		cpu_export = cpu_s(server) - c0;
		srv_export = peak_mb(server);
		if (!failed && rc != 0) {
			fprintf(stderr, "bench_sites: FAIL: xfrmctl site export exited %d\n", rc);
			failed = 1;
		}
	}
	if (!failed && !files_same(in, out, &size)) {
		fprintf(stderr, "bench_sites: FAIL: the export differs from the file imported\n");
		failed = 1;
	}
	{
		char *argv[] = { S("xfrmctl"), S("-s"), sock, S("site"), S("import"), out, NULL };

		c0 = cpu_s(server);
		rc = failed ? -1 : run_xfrmctl(argv, back, &t_again, &rss_again, &ccpu_again);
		cpu_again = cpu_s(server) - c0;
		srv_again = peak_mb(server);
		snprintf(cmd, sizeof(cmd), "0 added, 0 changed, %d unchanged", n);
		if (!failed && rc != 0) {
			fprintf(stderr, "bench_sites: FAIL: the second import exited %d\n", rc);
			failed = 1;
		} else if (!failed) {
			FILE *f = fopen(back, "r");
			char line[256] = "";

			if (!f || !fgets(line, sizeof(line), f) || !strstr(line, cmd)) {
				fprintf(stderr, "bench_sites: FAIL: the second import said: %s", line);
				failed = 1;
			}
			if (f)
				fclose(f);
		}
	}
	kill(server, SIGTERM);
	waitpid(server, NULL, 0);
	if (!failed) {
		printf("%d sites through xfrmctl and the control protocol (CSV %.1f MB with keys, "
		       "frames of %d KiB)\n", n, st.st_size / 1e6, CTL_CHUNK / 1024);
		printf("         wall        (goal)     CPU: ikd's side  xfrmctl\n");
		printf("import   %7.3f s   (<= 2 s)   %7.3f s        %7.3f s   (the store saved once)\n",
		       t_import, cpu_import, ccpu_import);
		printf("export   %7.3f s   (<= 1 s)   %7.3f s        %7.3f s\n", t_export, cpu_export,
		       ccpu_export);
		printf("again    %7.3f s              %7.3f s        %7.3f s   (the export imported: "
		       "%d unchanged)\n", t_again, cpu_again, ccpu_again, n);
		printf("round trip: the export is the file imported, byte for byte (%zu bytes)\n",
		       size);
		printf("peak RSS, ikd's side (the handler and the store): %.0f MB at start, %.0f MB "
		       "after the import, %.0f MB after the export, %.0f MB after the import again\n",
		       srv_base, srv_import, srv_export, srv_again);
		printf("          the site records: %d x %zu bytes = %.0f MB, and their fields on the "
		       "heap (bench_site_mem); an import of n sites into n holds two copies\n", n,
		       sizeof(struct site), n * (double)sizeof(struct site) / 1e6);
		printf("peak RSS, the client (xfrmctl): import %.1f MB, export %.1f MB, import again "
		       "%.1f MB\n", rss_import, rss_export, rss_again);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_sites: cannot remove %s\n", dir);
	return failed;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 100000;

	if (n < 1 || n > CSV_MAX_ROWS)
		return fprintf(stderr, "usage: bench_sites [N] (1 to %d sites)\n", CSV_MAX_ROWS), 2;
	/*
	 * The 100k part first: xfrmctl's peak RSS as wait4() reports it includes this
	 * process's at the spawn (exec records the old memory's high-water mark), so this
	 * process must still be small then.
	 */
	if (bench_stream(n) != 0)
		return 1;
	printf("\n");
	fflush(stdout);
	return bench_10k();
}
