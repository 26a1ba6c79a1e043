/*
 * What a site held with no SA costs in memory: a store of N sites loaded with lib/site's
 * store loader (what ikd does at start-up), the process's VmRSS and glibc's heap in use
 * (mallinfo2: uordblks + hblkhd, less the sites array's unused room) read before and after,
 * per site. Each profile runs in a
 * child of its own, so one's heap does not flatter the next.
 *
 * Profiles:
 *   handshake  bench/handshake.sh's store: an identity, a PSK, primary and backup, one local
 *              and one remote selector, IKE and ESP proposals of its own, vendor-rules no.
 *   defaults   bench_sites' CSV fields: an identity, a PSK, primary and backup; the selectors
 *              and proposals left at their defaults.
 *
 * Usage: bench_site_mem [N] (default 10000).
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc.h"
#include "site/store.h"

static size_t heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static int write_store(const char *path, int n, bool defaults)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fprintf(f, "version = 1\n\n[pop gw]\ngateway = 10.77.0.1\nprobe-ip = 10.77.0.1\n");
	fprintf(f, "\n[pop spare]\ngateway = 10.77.0.9\nprobe-ip = 10.77.0.9\naccepting = no\n");
	for (int i = 0; i < n; i++) {
		fprintf(f, "\n[site s%05d]\nid = site-%05d.bench.example\n", i, i);
		fprintf(f, "psk = hex:");
		for (const char *p = "bench-0123456789abcdef-"; *p; p++)
			fprintf(f, "%02x", (unsigned char)*p);
		fprintf(f, "%02x%02x%02x%02x%02x\n", '0' + i / 10000 % 10, '0' + i / 1000 % 10,
			'0' + i / 100 % 10, '0' + i / 10 % 10, '0' + i % 10);
		fprintf(f, "primary = gw\nbackups = spare\n");
		if (defaults)
			continue;
		fprintf(f, "local-ts = %d.%d.%d.0/24\nremote-ts = 172.16.0.0/12\n", 10 + i / 65536,
			i / 256 % 256, i % 256);
		fprintf(f, "ike-proposals = aes256-sha256-modp2048,aes256-sha256-x25519\n");
		fprintf(f, "esp-proposals = aes256-sha256\ndpd-interval = 86400\nvendor-rules = no\n");
	}
	return fclose(f);
}

static int measure(const char *path, int n, const char *label)
{
	struct site_db db;
	char err[SITE_ERR_MAX];
	long rss0, rss1;
	size_t heap0, heap1;

	malloc_trim(0);
	rss0 = proc_rss_kib(0);
	heap0 = heap_bytes();
	if (site_store_load(path, &db, err, sizeof(err)) < 0)
		return fprintf(stderr, "bench_site_mem: %s\n", err), 1;
	rss1 = proc_rss_kib(0);
	/* The array's room for more sites (the loader doubles it) is allocated, not used. */
	heap1 = heap_bytes() - (malloc_usable_size(db.sites) - db.n_sites * sizeof(*db.sites));
	printf("%-9s %6d sites: VmRSS %6ld -> %6ld KiB, %.2f KiB a site; heap in use %.2f KiB "
	       "a site\n", label, n, rss0, rss1, (double)(rss1 - rss0) / n,
	       (double)(heap1 - heap0) / 1024 / n);
	site_db_clear(&db);
	return 0;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 10000;
	static const char *const labels[] = { "handshake", "defaults" };
	char dir[] = "/tmp/bench-site-mem-XXXXXX", path[64];
	int failed = 0;

	if (n < 1 || n > 100000)
		return fprintf(stderr, "usage: bench_site_mem [N] (1 to 100000 sites)\n"), 2;
	if (!mkdtemp(dir))
		return perror("mkdtemp"), 1;
	snprintf(path, sizeof(path), "%s/sites.conf", dir);
	printf("sizeof(struct site) %zu bytes\n", sizeof(struct site));
	fflush(stdout);
	for (int k = 0; k < 2; k++) {
		pid_t pid;
		int status;

		if (write_store(path, n, k == 1) < 0 || chmod(path, 0600) < 0) {
			perror(path);
			failed = 1;
			break;
		}
		pid = fork();
		if (pid == 0)
			_exit(measure(path, n, labels[k]) || fflush(stdout));
		if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			failed = 1;
	}
	unlink(path);
	rmdir(dir);
	return failed;
}
