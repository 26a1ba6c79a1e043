/*
 * xfrmctl metrics [-o FILE]: ikd's counters in the Prometheus text format, on stdout or into
 * FILE for the node exporter's textfile collector. The file is replaced atomically (a
 * temporary file beside it, fsync, rename), so the collector never reads half of it.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl/metrics.h"
#include "xfrmctl.h"

/* Every page of the daemon's answer, into m. */
static int fetch(struct xc *x, struct ctl_metrics *m)
{
	char after[SITE_NAME_MAX] = "";
	bool more = true;

	for (bool first = true; more; first = false) {
		struct xc_req r;
		const char *why;
		int rc;

		xc_req_begin(&r, CTL_METRICS);
		if (!first)
			xc_req_kv(&r, "after", after);
		rc = xc_call(x, &r);
		if (rc)
			return rc;
		rc = ctl_metrics_add_page(m, x->reply.attrs, x->reply.n_attrs, first, &more, after,
					  sizeof(after), &why);
		if (rc == -ENOMEM)
			return xc_error("out of memory");
		if (rc < 0)
			return xc_error("ikd at %s: a malformed metrics reply: %s", x->socket,
					why ? why : strerror(-rc));
	}
	return XC_EXIT_OK;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The directory's entry made durable too (the rename). */
static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/*
 * path replaced by text: a temporary file in its directory (a name the textfile collector,
 * which reads *.prom, skips), written, made 0644 (the collector may not run as root),
 * fsync'd, renamed over path. An exit status.
 */
static int write_file(const char *path, const uint8_t *text, size_t len)
{
	char *dcopy = strdup(path), *bcopy = strdup(path), *tmp = NULL;
	const char *dir = dcopy ? dirname(dcopy) : NULL;
	int fd, rc = XC_EXIT_ERROR, e;

	if (!dir || !bcopy || asprintf(&tmp, "%s/.%s.XXXXXX", dir, basename(bcopy)) < 0) {
		tmp = NULL;
		xc_error("out of memory");
		goto out;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		xc_error("%s: cannot create a file in %s: %s", path, dir, strerror(errno));
		free(tmp);
		tmp = NULL;
		goto out;
	}
	e = -write_all(fd, text, len);
	if (!e && fchmod(fd, 0644) < 0)
		e = errno;
	if (!e && fsync(fd) < 0)
		e = errno;
	if (close(fd) < 0 && !e)
		e = errno;
	if (e) {
		xc_error("%s: cannot write %s: %s", path, tmp, strerror(e));
		goto out;
	}
	if (rename(tmp, path) < 0) {
		xc_error("%s: cannot replace it: %s", path, strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	e = -sync_dir(dir);
	if (e)
		xc_error("%s: written, but its directory not synced: %s", path, strerror(e));
	else
		rc = XC_EXIT_OK;
out:
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	free(dcopy);
	free(bcopy);
	return rc;
}

int xc_metrics(struct xc *x, int argc, char **argv)
{
	struct ctl_metrics m = { 0 };
	struct ike_writer w;
	const char *out = NULL;
	int rc;

	for (int i = 0; i < argc; i++) {
		const char *v;
		int o = xc_option(argc, argv, &i, "--output", &v);

		if (o == 0 && !strcmp(argv[i], "-o")) {
			if (i + 1 == argc)
				return xc_usage("metrics: -o needs a FILE");
			v = argv[++i];
			o = 1;
		}
		if (o < 0)
			return xc_usage("metrics: --output needs a FILE");
		if (o == 0)
			return xc_usage("metrics: '%s': not an option (-o FILE)", argv[i]);
		if (out)
			return xc_usage("metrics: one output file");
		if (!*v)
			return xc_usage("metrics: the output FILE is empty");
		out = v;
	}
	if (x->json)
		return xc_usage("metrics: the output is the Prometheus text format; -j does not "
				"apply");
	rc = fetch(x, &m);
	if (rc) {
		ctl_metrics_clear(&m);
		return rc;
	}
	ike_writer_init(&w, CTL_METRICS_TEXT_MAX);
	rc = ctl_metrics_format(&m, &w);
	ctl_metrics_clear(&m);
	if (rc < 0)
		rc = xc_error("metrics: %s", rc == -EMSGSIZE ? "more than the output may hold" :
			      strerror(-rc));
	else if (out)
		rc = write_file(out, w.buf, w.len);
	else
		rc = fwrite(w.buf, 1, w.len, stdout) == w.len ? XC_EXIT_OK :
		     xc_error("stdout: write error");
	ike_writer_clear(&w);
	return rc;
}
