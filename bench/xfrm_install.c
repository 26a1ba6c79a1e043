/*
 * Kernel install rate: N outbound policies (and, where the kernel has ESP, N SA pairs)
 * through lib/xfrm's batches, against the same set through `ip -batch`, in a private network
 * namespace. Prints both rates and their ratio for each N (default 1,000, 10,000, 100,000).
 * Needs root. Run it in the VM for the SA half (emulated: use smaller N there):
 *   test/vm/boot 'build/bench/xfrm_install 1000 5000'
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "xfrm/xfrm.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void policy_i(struct xfrm_policy *p, int i)
{
	char src[32];

	memset(p, 0, sizeof(*p));
	snprintf(src, sizeof(src), "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
	xfrm_addr_parse(src, &p->sel.src);
	xfrm_addr_parse("0.0.0.0", &p->sel.dst);
	p->sel.src_plen = 32;
	p->dir = XFRM_POLICY_OUT;
	p->priority = 100;
	p->n_tmpls = 1;
	p->tmpl[0].proto = IPPROTO_ESP;
	p->tmpl[0].mode = XFRM_MODE_TUNNEL;
	p->tmpl[0].reqid = (uint32_t)i + 1;
	xfrm_addr_parse("192.0.2.1", &p->tmpl[0].src);
	xfrm_addr_parse("198.51.100.1", &p->tmpl[0].dst);
}

static void sa_i(struct xfrm_sa *sa, int i, const uint8_t *key)
{
	memset(sa, 0, sizeof(*sa));
	xfrm_addr_parse("192.0.2.1", &sa->src);
	xfrm_addr_parse("198.51.100.1", &sa->dst);
	sa->spi = 0x10000 + (uint32_t)i;
	sa->proto = IPPROTO_ESP;
	sa->mode = XFRM_MODE_TUNNEL;
	sa->reqid = (uint32_t)i + 1;
	sa->aead = (struct xfrm_alg){ "rfc4106(gcm(aes))", key, 20, 128 };
	sa->replay_window = 32;
}

static double lib_policies(struct xfrm_sock *xs, int n)
{
	struct xfrm_batch b;
	struct xfrm_policy p;
	double t0 = now_s();

	xfrm_batch_begin(&b, xs);
	for (int i = 0; i < n; i++) {
		policy_i(&p, i);
		if (xfrm_batch_policy_add(&b, &p, false) < 0)
			abort();
	}
	if (xfrm_batch_commit(&b) != 0)
		abort();
	xfrm_batch_clear(&b);
	return now_s() - t0;
}

static double lib_sas(struct xfrm_sock *xs, int n)
{
	static const uint8_t key[20] = { 1, 2, 3 };
	struct xfrm_batch b;
	struct xfrm_sa sa;
	double t0 = now_s();

	xfrm_batch_begin(&b, xs);
	for (int i = 0; i < n; i++) {
		sa_i(&sa, i, key);
		if (xfrm_batch_sa_add(&b, &sa, false) < 0)
			abort();
	}
	if (xfrm_batch_commit(&b) != 0)
		abort();
	xfrm_batch_clear(&b);
	return now_s() - t0;
}

/* The same set through `ip -batch` (one netlink socket per line, as iproute2 does). */
static double ip_batch(int n, bool sas)
{
	char path[] = "/tmp/xfrm_install.XXXXXX", cmd[128];
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	double t0;

	for (int i = 0; i < n; i++) {
		if (sas)
			fprintf(f, "xfrm state add src 192.0.2.1 dst 198.51.100.1 proto esp spi %u "
				"reqid %d mode tunnel replay-window 32 aead 'rfc4106(gcm(aes))' "
				"0x0102030000000000000000000000000000000000 128\n", 0x10000 + i, i + 1);
		else
			fprintf(f, "xfrm policy add src 10.%d.%d.%d/32 dst 0.0.0.0/0 dir out "
				"priority 100 tmpl src 192.0.2.1 dst 198.51.100.1 proto esp mode tunnel "
				"reqid %d\n", (i >> 16) & 255, (i >> 8) & 255, i & 255, i + 1);
	}
	fclose(f);
	snprintf(cmd, sizeof(cmd), "ip -batch %s", path);
	t0 = now_s();
	if (system(cmd) != 0)
		abort();
	t0 = now_s() - t0;
	unlink(path);
	return t0;
}

static void row(const char *what, int n, double lib, double ip)
{
	printf("%-9s %7d  lib/xfrm %9.0f/s  ip -batch %9.0f/s  ratio %5.1fx\n", what, n, n / lib,
	       n / ip, ip / lib);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	int sizes[8] = { 1000, 10000, 100000 }, n_sizes = 3;
	static const uint8_t key[36];
	struct xfrm_alg aead = { "rfc4106(gcm(aes))", key, 20, 128 };
	struct xfrm_sock xs;
	const char *option;
	bool esp;

	if (unshare(CLONE_NEWNET) < 0 || xfrm_open(&xs) < 0) {
		fprintf(stderr, "xfrm_install: needs root (a private network namespace)\n");
		return 1;
	}
	if (argc > 1) {
		n_sizes = 0;
		for (int i = 1; i < argc && n_sizes < 8; i++)
			sizes[n_sizes++] = atoi(argv[i]);
	}
	esp = xfrm_probe_esp(&xs, NULL, NULL, &aead, &option, NULL) == 0;
	for (int k = 0; k < n_sizes; k++) {
		int n = sizes[k];
		double lib = lib_policies(&xs, n), ip;

		if (system("ip xfrm policy flush") != 0)
			abort();
		ip = ip_batch(n, false);
		if (system("ip xfrm policy flush") != 0)
			abort();
		row("policies", n, lib, ip);
		if (!esp)
			continue;
		lib = lib_sas(&xs, n);
		if (system("ip xfrm state flush") != 0)
			abort();
		ip = ip_batch(n, true);
		if (system("ip xfrm state flush") != 0)
			abort();
		row("SAs", n, lib, ip);
	}
	if (!esp)
		printf("SAs: not measured, this kernel has no ESP (%s); run it in the VM\n", option);
	xfrm_close(&xs);
	return 0;
}
