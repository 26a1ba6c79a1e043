/*
 * sim: run the lifecycle simulator over seeds.
 *   sim --seed N [--gen G] [-v] [--debug]
 *                                   one seed (as generation G of the scenario generator made
 *                                   it: world.h SIM_GEN); its trace on failure (-v: as it runs)
 *   sim [--from F] [--seeds N] [--jobs J] [--regress FILE...]
 *                                   seeds F .. F+N-1 on J processes, then each seed listed
 *                                   in the regression files; the first failure is run again
 *                                   here and reported whole (so a report is also a replay)
 * Exit status: 0 when every seed held every invariant, 1 when one failed, 2 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "world.h"

struct tally {
	uint64_t seeds, failed, first_failed, virtual_ms, events, calm, worst_calm_outage_ms;
	uint64_t jobs, jobs_late, auth_held;	/* derives made late; of them, their SA gone first */
	unsigned first_gen;
	uint64_t listed[16];		/* the first failing seeds, to replay each */
	unsigned n_listed;
};

static void list_failed(struct tally *t, uint64_t seed)
{
	if (t->n_listed < sizeof(t->listed) / sizeof(t->listed[0]))
		t->listed[t->n_listed++] = seed;
}

/* A regression seed, with the generation of the scenario generator that found it. */
struct regress {
	uint64_t seed;
	unsigned gen;
};

static bool run_seed(uint64_t seed, unsigned gen, int verbose, int level, bool report,
		     struct tally *t)
{
	static struct sim_world w;
	bool ok;

	if (sim_world_init(&w, seed, gen, NULL, verbose, level) < 0) {
		fprintf(stderr, "sim: seed %" PRIu64 ": out of memory\n", seed);
		return false;
	}
	ok = sim_world_run(&w);
	if (!ok && report)
		sim_report(&w, stdout);
	if (t) {
		t->seeds++;
		t->virtual_ms += w.now_ms;
		t->events += w.events_run;
		t->jobs += w.jobs_given;
		t->jobs_late += w.jobs_orphaned;
		t->auth_held += sim_auth_held(&w);
		if (w.sc.calm) {
			t->calm++;
			if (w.worst_outage_ms > t->worst_calm_outage_ms)
				t->worst_calm_outage_ms = w.worst_outage_ms;
		}
		if (!ok)
			list_failed(t, seed);
		if (!ok && !t->failed++) {
			t->first_failed = seed;
			t->first_gen = gen;
		}
	}
	sim_world_free(&w);
	return ok;
}

/* "SEED [GEN]" lines, # comments: GEN defaults to the current generation. */
static int read_seeds(const char *path, struct regress **v, size_t *n)
{
	FILE *f = fopen(path, "r");
	char line[256];

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *end, *end2;
		uint64_t s, g = SIM_GEN;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		errno = 0;
		s = strtoull(line, &end, 10);
		if (!errno && *end == ' ')
			g = strtoull(end, &end2, 10), end = end2;
		if (errno || end == line || (*end != '\n' && *end) || g < 1 || g > SIM_GEN) {
			fclose(f);
			return -EINVAL;
		}
		*v = realloc(*v, (*n + 1) * sizeof(**v));
		if (!*v) {
			fclose(f);
			return -ENOMEM;
		}
		(*v)[(*n)++] = (struct regress){ s, (unsigned)g };
	}
	fclose(f);
	return 0;
}

static double since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Seeds from..from+n-1 (step jobs, offset j) in a child; its tally through the pipe. */
static void worker(uint64_t from, uint64_t n, unsigned j, unsigned jobs, int fd)
{
	struct tally t = { 0 };

	for (uint64_t i = j; i < n; i += jobs)
		run_seed(from + i, SIM_GEN, 0, LOG_INFO, false, &t);
	/* exit, not _exit: the leak checker of a sanitized build runs at exit */
	exit(write(fd, &t, sizeof(t)) == (ssize_t)sizeof(t) ? 0 : 3);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "seeds", required_argument, NULL, 'n' },
		{ "from", required_argument, NULL, 'f' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "regress", required_argument, NULL, 'r' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "debug", no_argument, NULL, 'd' },
		{ "gen", required_argument, NULL, 'g' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t seed = 0, from = 1, n = 1000;
	struct regress *regress = NULL;
	unsigned gen = SIM_GEN;
	size_t n_regress = 0;
	bool one = false;
	int verbose = 0, level = LOG_INFO, c;
	long jobs = sysconf(_SC_NPROCESSORS_ONLN);
	struct tally total = { 0 };
	struct timespec t0;

	while ((c = getopt_long(argc, argv, "s:n:f:j:r:vdg:", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			seed = strtoull(optarg, NULL, 10);
			one = true;
			break;
		case 'n':
			n = strtoull(optarg, NULL, 10);
			break;
		case 'f':
			from = strtoull(optarg, NULL, 10);
			break;
		case 'j':
			jobs = strtol(optarg, NULL, 10);
			break;
		case 'r':
			if (read_seeds(optarg, &regress, &n_regress) < 0) {
				fprintf(stderr, "sim: cannot read the seeds of %s\n", optarg);
				return 2;
			}
			break;
		case 'v':
			verbose = 1;
			break;
		case 'd':
			level = LOG_DEBUG;
			break;
		case 'g':
			gen = (unsigned)strtoul(optarg, NULL, 10);
			if (gen < 1 || gen > SIM_GEN) {
				fprintf(stderr, "sim: --gen 1..%d\n", SIM_GEN);
				return 2;
			}
			break;
		default:
			fprintf(stderr, "usage: sim --seed N [-v] [--debug] | [--from F] [--seeds N] "
				"[--jobs J] [--regress FILE]...\n");
			return 2;
		}
	}
	if (jobs < 1)
		jobs = 1;
	if (sim_crypto_init() < 0) {
		fprintf(stderr, "sim: cannot route libsodium's and OpenSSL's randomness\n");
		return 1;
	}
	if (one) {
		bool ok = run_seed(seed, gen, verbose, level, true, NULL);

		printf("sim: seed %" PRIu64 " %s\n", seed, ok ? "held every invariant" : "FAILED");
		return ok ? 0 : 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* The regression seeds first, here: each was a failure once. */
	for (size_t i = 0; i < n_regress; i++)
		run_seed(regress[i].seed, regress[i].gen, 0, LOG_INFO, false, &total);
	if (n) {
		int fds[64][2];
		unsigned nj = (unsigned)(jobs > 64 ? 64 : jobs);

		fflush(stdout);
		for (unsigned j = 0; j < nj; j++) {
			pid_t pid;

			if (pipe(fds[j]) < 0 || (pid = fork()) < 0) {
				perror("sim");
				return 1;
			}
			if (pid == 0) {
				close(fds[j][0]);
				worker(from, n, j, nj, fds[j][1]);
			}
			close(fds[j][1]);
		}
		for (unsigned j = 0; j < nj; j++) {
			struct tally t;

			if (read(fds[j][0], &t, sizeof(t)) != (ssize_t)sizeof(t)) {
				fprintf(stderr, "sim: worker %u died without its tally\n", j);
				return 1;
			}
			close(fds[j][0]);
			if (t.failed && (!total.failed || (total.first_gen == SIM_GEN &&
							       t.first_failed < total.first_failed))) {
				total.first_failed = t.first_failed;
				total.first_gen = t.first_gen;
			}
			for (unsigned k = 0; k < t.n_listed; k++)
				list_failed(&total, t.listed[k]);
			total.seeds += t.seeds;
			total.failed += t.failed;
			total.virtual_ms += t.virtual_ms;
			total.events += t.events;
			total.jobs += t.jobs;
			total.jobs_late += t.jobs_late;
			total.auth_held += t.auth_held;
			total.calm += t.calm;
			if (t.worst_calm_outage_ms > total.worst_calm_outage_ms)
				total.worst_calm_outage_ms = t.worst_calm_outage_ms;
		}
		while (wait(NULL) > 0)
			;
	}
	{
		double s = since(&t0);

		printf("sim: %" PRIu64 " seeds (%zu regression, %" PRIu64 " from %" PRIu64 ") in %.1f s "
		       "on %ld processes: %.0f seeds/s; %.1f simulated hours, %" PRIu64 " events; "
		       "%" PRIu64 " calm runs, worst outage in them %" PRIu64 " ms; %" PRIu64 " failed\n",
		       total.seeds, n_regress, n, from, s, jobs, (double)total.seeds / s,
		       (double)total.virtual_ms / 3.6e6, total.events, total.calm,
		       total.worst_calm_outage_ms, total.failed);
		printf("sim: %" PRIu64 " IKE_SA_INITs' keys made late (generation 7), %" PRIu64
		       " IKE_AUTH datagrams held for them, %" PRIu64 " done after their IKE SA went\n",
		       total.jobs, total.auth_held, total.jobs_late);
	}
	free(regress);
	if (total.n_listed) {
		printf("sim: failing seeds:");
		for (unsigned k = 0; k < total.n_listed; k++)
			printf(" %" PRIu64, total.listed[k]);
		printf("%s\n", total.failed > total.n_listed ? " ..." : "");
	}
	if (total.failed) {
		printf("sim: the first failing seed, run again:\n");
		run_seed(total.first_failed, total.first_gen, 0, LOG_INFO, true, NULL);
		return 1;
	}
	return 0;
}
