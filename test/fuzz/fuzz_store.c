/*
 * libFuzzer: arbitrary bytes as the sites store (lib/site/store.c). Whatever the file holds,
 * the loader either refuses it with a line and a reason (and returns an empty database) or
 * loads it; what it loads saves and loads back to the same sites and POPs.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "site/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char in_path[64], out_path[64];
static int in_fd = -1;

static void setup(void)
{
	int fd;

	snprintf(in_path, sizeof(in_path), "/dev/shm/ikd-fuzz-store-%d", (int)getpid());
	snprintf(out_path, sizeof(out_path), "/dev/shm/ikd-fuzz-store-out-%d", (int)getpid());
	in_fd = open(in_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	fd = in_fd;
	if (fd < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct site_db a, b;
	char err[SITE_ERR_MAX];

	if (in_fd < 0)
		setup();
	if (ftruncate(in_fd, 0) < 0 || pwrite(in_fd, data, size, 0) != (ssize_t)size)
		abort();
	if (site_store_load(in_path, &a, err, sizeof(err)) < 0) {
		/* Refused: nothing loaded, and the reason says where. */
		if (a.n_sites || a.n_pops || !err[0])
			abort();
		return 0;
	}
	if (site_store_save(out_path, &a, err, sizeof(err)) < 0)
		abort();
	if (site_store_load(out_path, &b, err, sizeof(err)) < 0)
		abort();
	if (a.n_sites != b.n_sites || a.n_pops != b.n_pops)
		abort();
	for (size_t i = 0; i < a.n_sites; i++)
		if (strcmp(a.sites[i].name, b.sites[i].name) || a.sites[i].psk.len != b.sites[i].psk.len ||
		    memcmp(a.sites[i].psk.p, b.sites[i].psk.p, a.sites[i].psk.len) ||
		    strcmp(a.sites[i].id, b.sites[i].id) || a.sites[i].enabled != b.sites[i].enabled)
			abort();
	for (size_t i = 0; i < a.n_pops; i++)
		if (strcmp(a.pops[i].name, b.pops[i].name) || strcmp(a.pops[i].gateway, b.pops[i].gateway))
			abort();
	site_db_clear(&a);
	site_db_clear(&b);
	return 0;
}
