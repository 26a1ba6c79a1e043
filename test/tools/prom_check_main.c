/*
 * prom_check [FILE]: check FILE (or stdin) with the strict exposition format reader of
 * prom_check.h. Prints "N samples" on stdout and exits 0, or the first fault on stderr and
 * exits 1 (2 when FILE cannot be read).
 */
#include <stdio.h>
#include <stdlib.h>

#include "prom_check.h"

int main(int argc, char **argv)
{
	FILE *f = argc > 1 ? fopen(argv[1], "r") : stdin;
	char *buf = NULL, err[512];
	size_t len = 0, cap = 0, n;
	long samples;

	if (argc > 2 || !f) {
		fprintf(stderr, "usage: prom_check [FILE]%s\n", f ? "" : ": cannot open FILE");
		return 2;
	}
	do {
		if (len == cap) {
			char *v = realloc(buf, cap = cap ? 2 * cap : 65536);

			if (!v) {
				fprintf(stderr, "prom_check: out of memory\n");
				return 2;
			}
			buf = v;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	if (ferror(f)) {
		fprintf(stderr, "prom_check: read error\n");
		return 2;
	}
	samples = prom_check(buf ? buf : "", len, err, sizeof(err));
	free(buf);
	if (samples < 0) {
		fprintf(stderr, "prom_check: %s\n", err);
		return 1;
	}
	printf("%ld samples\n", samples);
	return 0;
}
