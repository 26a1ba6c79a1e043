/* xfrmctl: manage ikd's sites, POPs and tunnels through its control socket. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: xfrmctl [-h] [-V] OBJECT VERB [ARGS]\n"
		"\n"
		"  -h, --help     show this help and exit\n"
		"  -V, --version  show the version and exit\n"
		"\n"
		"See xfrmctl(8).\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "+hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("xfrmctl %s\n", IKD_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "xfrmctl: no objects yet; only --help and --version work\n");
		return 2;
	}
	usage(stderr);
	return 2;
}
