/* ikd: the IKEv2 keying daemon. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: ikd [-h] [-V]\n"
		"\n"
		"  -h, --help     show this help and exit\n"
		"  -V, --version  show the version and exit\n"
		"\n"
		"ikd negotiates IKEv2 SAs with remote gateways and installs the Child SAs\n"
		"into the kernel's XFRM framework. See ikd(8).\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("ikd %s\n", IKD_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ikd: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	fprintf(stderr, "ikd: the daemon is not built yet; only --help and --version work\n");
	return 1;
}
