/* The store (see store.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "site/index.h"
#include "site/store.h"

#define STORE_LINE_MAX 4096
#define STORE_MAX_RECORDS 100000
#define STORE_WRITE_BUF (64 * 1024)

static int fail(char *err, size_t len, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t len, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && len) {
		va_start(ap, fmt);
		vsnprintf(err, len, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static void write_site(FILE *f, const struct site *s)
{
	char hex[2 * SITE_PSK_MAX + 1];

	fprintf(f, "\n[site %s]\n", s->name);
	fprintf(f, "id = %s:%s\n", site_id_type_name(s->id_type), s->id);
	fprintf(f, "source-ip = %s\n", s->source_ip);
	sodium_bin2hex(hex, sizeof(hex), s->psk.p, s->psk.len);
	fprintf(f, "psk = hex:%s\n", hex);
	sodium_memzero(hex, sizeof(hex));
	fprintf(f, "primary = %s\n", s->primary);
	fprintf(f, "backups = ");
	for (size_t i = 0; i < s->n_backups; i++)
		fprintf(f, "%s%s", i ? "," : "", s->backups[i]);
	fprintf(f, "\ntraffic = %s\n", site_traffic_name(s->traffic));
	fprintf(f, "enabled = %s\n", s->enabled ? "yes" : "no");
	fprintf(f, "local-ts = ");
	for (size_t i = 0; i < s->n_local_ts; i++)
		fprintf(f, "%s%s", i ? "," : "", s->local_ts[i]);
	fprintf(f, "\nremote-ts = ");
	for (size_t i = 0; i < s->n_remote_ts; i++)
		fprintf(f, "%s%s", i ? "," : "", s->remote_ts[i]);
	fprintf(f, "\nmark = 0x%" PRIx32 "/0x%" PRIx32 "\n", s->mark, s->mark_mask);
	fprintf(f, "if-id = %" PRIu32 "\n", s->if_id);
	fprintf(f, "ike-proposals = %s\nesp-proposals = %s\n", s->ike_proposals, s->esp_proposals);
	fprintf(f, "ike-lifetime = %" PRIu32 "\nchild-lifetime = %" PRIu32 "\n", s->ike_lifetime_s,
		s->child_lifetime_s);
	fprintf(f, "ike-rekey = %" PRIu32 "\nchild-rekey = %" PRIu32 "\n", s->ike_rekey_s,
		s->child_rekey_s);
	fprintf(f, "max-child-sas = %" PRIu32 "\ndpd-interval = %" PRIu32 "\n", s->max_child_sas,
		s->dpd_interval_s);
	fprintf(f, "vendor-rules = %s\n", s->vendor_rules ? "yes" : "no");
	/* Only when set: a store without it stays readable by an ikd that predates it. */
	if (s->psk_short)
		fprintf(f, "psk-short = yes\n");
}

int site_store_check_dir(const char *path, char *err, size_t len)
{
	char *copy = strdup(path), *dir;
	struct stat st;
	int fd, rc = 0;
	unsigned mode;

	if (!copy)
		return fail(err, len, -ENOMEM, "store %s: out of memory", path);
	dir = dirname(copy);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		rc = fail(err, len, -ENOENT, "store directory %s: no such directory (ikd saves "
			  "every change there); create it: install -d -m 700 %s", dir, dir);
	else if (fd < 0 && errno == ENOTDIR)
		rc = fail(err, len, -ENOTDIR, "store directory %s: not a directory", dir);
	else if (fd < 0)
		rc = fail(err, len, -errno, "store directory %s: %s", dir, strerror(errno));
	if (rc < 0)
		goto out;
	if (fstat(fd, &st) < 0) {
		rc = fail(err, len, -errno, "store directory %s: %s", dir, strerror(errno));
		goto out;
	}
	mode = (unsigned)(st.st_mode & 07777);
	if (mode & 077) {
		rc = fail(err, len, -EACCES, "store directory %s: mode %04o lets %s in (the store "
			  "holds the sites' keys); chmod 700 %s", dir, mode,
			  (mode & 070) && (mode & 07) ? "group and others" :
			  (mode & 070) ? "its group" : "others", dir);
		goto out;
	}
	if (faccessat(fd, ".", W_OK, AT_EACCESS) < 0)
		rc = fail(err, len, -errno, "store directory %s: ikd cannot write there: %s%s", dir,
			  strerror(errno), errno == EROFS ? " (under systemd, a store outside "
			  "/var/lib/ikd needs ReadWritePaths= for its directory)" : "");
out:
	if (fd >= 0)
		close(fd);
	free(copy);
	return rc;
}

int site_store_save(const char *path, const struct site_db *db, char *err, size_t len)
{
	char *dir_copy = NULL, tmp[4096];
	unsigned char *buf = NULL;
	FILE *f = NULL;
	int fd = -1, dfd = -1, rc = 0;

	/* Temporary file in the same directory (rename is atomic there), 0600 from the start. */
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp))
		return fail(err, len, -ENAMETOOLONG, "store %s: path too long", path);
	/*
	 * Written straight into the temporary file through a buffer of our own, wiped after:
	 * no copy of the whole store (keys and all) in memory, at 100,000 sites about 30 MB.
	 */
	buf = malloc(STORE_WRITE_BUF);
	if (!buf)
		return fail(err, len, -ENOMEM, "store %s: out of memory", path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		rc = fail(err, len, -errno, "store %s: cannot create a temporary file: %s", path,
			  strerror(errno));
		tmp[0] = '\0';
		goto out;
	}
	f = fdopen(fd, "w");
	if (!f || setvbuf(f, (char *)buf, _IOFBF, STORE_WRITE_BUF) != 0) {
		rc = fail(err, len, -ENOMEM, "store %s: out of memory", path);
		goto out;
	}
	fprintf(f, "# ikd sites and POPs. Written by ikd: edit with xfrmctl.\n"
		   "# Mode 0600: it holds the sites' pre-shared keys.\nversion = %d\n",
		SITE_STORE_VERSION);
	for (size_t i = 0; i < db->n_pops; i++) {
		const struct pop *p = &db->pops[i];

		fprintf(f, "\n[pop %s]\ngateway = %s\nprobe-ip = %s\nlocation = %s\naccepting = %s\n"
			   "ike-id = %s\n", p->name, p->gateway, p->probe_ip, p->location,
			p->accepting ? "yes" : "no", p->ike_id);
	}
	for (size_t i = 0; i < db->n_sites; i++)
		write_site(f, &db->sites[i]);
	if (fflush(f) != 0 || ferror(f)) {
		rc = fail(err, len, -(errno ? errno : EIO), "store %s: write: %s", tmp,
			  strerror(errno ? errno : EIO));
		goto out;
	}
	if (fchmod(fd, 0600) < 0 || fsync(fd) < 0) {
		rc = fail(err, len, -errno, "store %s: fsync: %s", tmp, strerror(errno));
		goto out;
	}
	fclose(f);
	f = NULL;
	fd = -1;
	if (rename(tmp, path) < 0) {
		rc = fail(err, len, -errno, "store %s: rename: %s", path, strerror(errno));
		goto out;
	}
	tmp[0] = '\0';
	/* The rename itself must reach the disk. */
	dir_copy = strdup(path);
	dfd = dir_copy ? open(dirname(dir_copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (dfd < 0 || fsync(dfd) < 0)
		rc = fail(err, len, -errno, "store %s: fsync of the directory: %s", path,
			  strerror(errno));
out:
	if (f)
		fclose(f);	/* closes fd too */
	else if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	if (tmp[0] && rc < 0)
		unlink(tmp);
	sodium_memzero(buf, STORE_WRITE_BUF);
	free(buf);
	free(dir_copy);
	return rc;
}

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
		*--end = '\0';
	return s;
}

/*
 * One more record in an array that only this load has grown (it starts empty): the array
 * doubles when full (16, 32, 64 ...), so a store of thousands of sites does not copy the
 * whole array once per record (quadratic where realloc cannot grow in place).
 */
static int grow(void **v, size_t *n, size_t size)
{
	void *p;

	if (*n >= STORE_MAX_RECORDS)
		return -EMSGSIZE;
	if (*n == 0 || (*n >= 16 && (*n & (*n - 1)) == 0)) {
		p = realloc(*v, (*n ? 2 * *n : 16) * size);
		if (!p)
			return -ENOMEM;
		*v = p;
	}
	p = *v;
	memset((char *)p + *n * size, 0, size);
	(*n)++;
	return 0;
}

static int set_psk_hex(struct site *s, const char *v, char *err, size_t len)
{
	uint8_t raw[SITE_PSK_MAX];
	size_t n = 0;
	int rc;

	if (strncmp(v, "hex:", 4) != 0 ||
	    sodium_hex2bin(raw, sizeof(raw), v + 4, strlen(v + 4), NULL, &n, NULL) != 0 ||
	    v[4 + 2 * n] != '\0')
		return fail(err, len, -EINVAL, "psk: not hex:DIGITS");
	rc = site_set_psk(s, raw, n, err, len);
	sodium_memzero(raw, sizeof(raw));
	return rc;
}

int site_store_load(const char *path, struct site_db *db, char *err, size_t len)
{
	char line[STORE_LINE_MAX], why[SITE_ERR_MAX];
	struct site *site = NULL;
	struct pop *pop = NULL;
	struct site_index names = { 0 };
	int version = 0, rc = 0;
	unsigned lineno = 0;
	struct stat st;
	FILE *f;
	int fd;

	memset(db, 0, sizeof(*db));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return fail(err, len, -errno, "store %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(err, len, -EINVAL, "store %s: not a regular file", path);
	}
	if (st.st_mode & 077) {
		close(fd);
		return fail(err, len, -EACCES, "store %s: mode %04o lets others read the keys in it;"
			    " chmod 600 it", path, (unsigned)(st.st_mode & 07777));
	}
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return fail(err, len, -ENOMEM, "store %s: out of memory", path);
	}
	while (fgets(line, sizeof(line), f)) {
		char *l, *eq, *key, *value;

		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			rc = fail(err, len, -EINVAL, "%s:%u: line longer than %d bytes", path, lineno,
				  STORE_LINE_MAX - 1);
			goto out;
		}
		l = trim(line);
		if (!*l || *l == '#')
			continue;
		if (*l == '[') {
			char kind[8], name[SITE_NAME_MAX + 1];
			char close_br;

			if (sscanf(l, "[%7s %64[^]]%c", kind, name, &close_br) != 3 || close_br != ']' ||
			    (strcmp(kind, "pop") && strcmp(kind, "site"))) {
				rc = fail(err, len, -EINVAL, "%s:%u: a section is [pop NAME] or [site NAME]",
					  path, lineno);
				goto out;
			}
			if (version == 0) {
				rc = fail(err, len, -EINVAL, "%s:%u: 'version' must come first", path,
					  lineno);
				goto out;
			}
			if ((!strcmp(kind, "pop") ? site_db_find_pop(db, name) != NULL :
			     site_index_find(&names, db->sites, name) >= 0)) {
				rc = fail(err, len, -EEXIST, "%s:%u: %s '%s' twice", path, lineno, kind,
					  name);
				goto out;
			}
			if (!strcmp(kind, "pop")) {
				rc = grow((void **)&db->pops, &db->n_pops, sizeof(*db->pops));
				pop = rc ? NULL : &db->pops[db->n_pops - 1];
				site = NULL;
				if (pop) {
					pop_init(pop);
					rc = pop_set(pop, "name", name, why, sizeof(why));
				}
			} else {
				rc = grow((void **)&db->sites, &db->n_sites, sizeof(*db->sites));
				site = rc ? NULL : &db->sites[db->n_sites - 1];
				pop = NULL;
				if (site) {
					site_init(site);
					rc = site_set(site, "name", name, why, sizeof(why));
					rc = rc ?: site_index_add(&names, db->sites, db->n_sites,
								  db->n_sites - 1);
				}
			}
			if (rc < 0) {
				rc = fail(err, len, rc, "%s:%u: %s", path, lineno,
					  rc == -EMSGSIZE ? "too many records" : why);
				goto out;
			}
			continue;
		}
		eq = strchr(l, '=');
		if (!eq) {
			rc = fail(err, len, -EINVAL, "%s:%u: expected 'key = value'", path, lineno);
			goto out;
		}
		*eq = '\0';
		key = trim(l);
		value = trim(eq + 1);
		if (!pop && !site) {
			if (strcmp(key, "version") != 0) {
				rc = fail(err, len, -EINVAL, "%s:%u: %s: outside any section", path,
					  lineno, key);
				goto out;
			}
			version = atoi(value);
			if (version < 1) {
				rc = fail(err, len, -EINVAL, "%s:%u: version '%s': not a version", path,
					  lineno, value);
				goto out;
			}
			if (version > SITE_STORE_VERSION) {
				rc = fail(err, len, -EPROTONOSUPPORT, "%s:%u: version %d: written by a "
					  "newer ikd (this one reads up to %d)", path, lineno, version,
					  SITE_STORE_VERSION);
				goto out;
			}
			continue;
		}
		rc = pop ? pop_set(pop, key, value, why, sizeof(why)) :
		     !strcmp(key, "psk") ? set_psk_hex(site, value, why, sizeof(why)) :
		     site_set(site, key, value, why, sizeof(why));
		if (rc < 0) {
			rc = fail(err, len, rc, "%s:%u: %s", path, lineno, why);
			goto out;
		}
	}
	if (ferror(f)) {
		rc = fail(err, len, -EIO, "store %s: read error", path);
		goto out;
	}
	if (version == 0) {
		rc = fail(err, len, -EINVAL, "%s: no 'version' line: not an ikd store", path);
		goto out;
	}
	for (size_t i = 0; i < db->n_pops; i++) {
		rc = pop_validate(&db->pops[i], why, sizeof(why));
		if (rc < 0) {
			rc = fail(err, len, rc, "%s: %s", path, why);
			goto out;
		}
	}
	for (size_t i = 0; i < db->n_sites; i++) {
		rc = site_validate_stored(&db->sites[i], db, why, sizeof(why));
		if (rc < 0) {
			rc = fail(err, len, rc, "%s: %s", path, why);
			goto out;
		}
	}
out:
	site_index_clear(&names);
	sodium_memzero(line, sizeof(line));
	fclose(f);
	if (rc < 0)
		site_db_clear(db);
	return rc;
}
