/*
 * What the benchmarks read of a process in /proc.
 */
#ifndef IKD_BENCH_PROC_H
#define IKD_BENCH_PROC_H

#include <stdio.h>
#include <sys/types.h>

/* pid's resident memory (VmRSS) in KiB, pid 0 for this process; -1 when it has none. */
static inline long proc_rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/status");
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

#endif
