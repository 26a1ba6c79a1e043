/*
 * What the benchmarks read of a process in /proc.
 */
#ifndef IKD_BENCH_PROC_H
#define IKD_BENCH_PROC_H

#include <stdio.h>
#include <string.h>
#include <sys/types.h>

/* A "Name: N kB" line of pid's status in KiB, pid 0 for this process; -1 when none. */
static inline long proc_status_kib(pid_t pid, const char *name)
{
	char path[64], line[256];
	size_t n = strlen(name);
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
		if (!strncmp(line, name, n) && line[n] == ':' &&
		    sscanf(line + n + 1, " %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* pid's resident memory (VmRSS) in KiB; -1 when it has none. */
static inline long proc_rss_kib(pid_t pid)
{
	return proc_status_kib(pid, "VmRSS");
}

/*
 * Its anonymous part (RssAnon): the process's own memory, without the program's and
 * libraries' file-backed pages, which VmRSS counts as they are touched.
 */
static inline long proc_anon_kib(pid_t pid)
{
	return proc_status_kib(pid, "RssAnon");
}

#endif
