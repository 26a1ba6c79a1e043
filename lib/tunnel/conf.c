/* ikd.conf(5) (see conf.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "tunnel/conf.h"

#define CONF_MAX_BYTES (256 * 1024)

void conf_defaults(struct ikd_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->role = CONF_ROLE_INITIATOR;
	c->ike_port = 500;
	c->natt_port = 4500;
	strcpy(c->store, "/var/lib/ikd/sites.conf");
	strcpy(c->socket, "/run/ikd/ikd.sock");
	c->log_level = LOG_INFO;
	c->retransmit_base_ms = 1000;
	c->retransmit_tries = 5;
	c->cookie_threshold = 50;
	c->half_open_timeout_s = 30;
	c->keepalive_s = 20;
	c->reconnect_min_s = 2;
	c->reconnect_max_s = 60;
	c->rekey_jitter_s = 180;
	c->dpd_interval_s = 1;
	c->dpd_misses = 3;
	c->hold_down_s = 60;
	c->primary_grace_s = 5;
	c->receive_buffer = 16 << 20;
	c->dh_workers = CONF_AUTO;
	c->fragmentation = true;
	c->probe = true;
	c->policy_hash = true;
	c->health = CONF_HEALTH_NONE;
	c->health_interval_s = 5;
	c->health_timeout_s = 2;
	c->health_rise = 2;
	c->health_fall = 2;
}

static int fail(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int parse_u32(const char *v, uint32_t min, uint32_t max, uint32_t *ret)
{
	char *end;
	unsigned long n;

	if (*v < '0' || *v > '9')
		return -EINVAL;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || *end || n < min || n > max)
		return -EINVAL;
	*ret = (uint32_t)n;
	return 0;
}

static int parse_bool(const char *v, bool *ret)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on") || !strcmp(v, "1"))
		*ret = true;
	else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off") || !strcmp(v, "0"))
		*ret = false;
	else
		return -EINVAL;
	return 0;
}

static bool is_addr(const char *v)
{
	uint8_t buf[16];

	return inet_pton(AF_INET, v, buf) == 1 || inet_pton(AF_INET6, v, buf) == 1;
}

static const char *const levels[] = { "emerg", "alert", "crit", "error", "warning", "notice",
				      "info", "debug" };

/* Numbers: key, minimum, maximum, field. */
struct num_key {
	const char *key;
	uint32_t min, max;
	size_t off;
};

#define NUM(k, lo, hi, f) { k, lo, hi, offsetof(struct ikd_conf, f) }
static const struct num_key num_keys[] = {
	NUM("retransmit-timeout", 100, 60000, retransmit_base_ms),
	NUM("retransmit-tries", 1, 20, retransmit_tries),
	NUM("cookie-threshold", 0, 1000000, cookie_threshold),
	NUM("half-open-timeout", 1, 600, half_open_timeout_s),
	NUM("keepalive-interval", 1, 3600, keepalive_s),
	NUM("reconnect-min", 1, 3600, reconnect_min_s),
	NUM("reconnect-max", 1, 86400, reconnect_max_s),
	NUM("rekey-jitter", 0, 3600, rekey_jitter_s),
	NUM("dpd-interval", 1, 3600, dpd_interval_s),
	NUM("dpd-misses", 1, 100, dpd_misses),
	NUM("hold-down", 0, 86400, hold_down_s),
	NUM("primary-grace", 0, 3600, primary_grace_s),
	NUM("receive-buffer", 65536, 1u << 30, receive_buffer),
	NUM("dh-workers", 0, 64, dh_workers),
	NUM("health-interval", 1, 3600, health_interval_s),
	NUM("health-timeout", 1, 3600, health_timeout_s),
	NUM("health-rise", 1, 100, health_rise),
	NUM("health-fall", 1, 100, health_fall),
};

int conf_split_hostport(const char *v, char *ret_addr, size_t addr_len, uint16_t *ret_port)
{
	const char *colon, *start = v, *end;
	uint32_t port;
	size_t n;

	if (*v == '[') {
		start = v + 1;
		end = strchr(start, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		colon = end + 1;
	} else {
		colon = strrchr(v, ':');
		if (!colon || memchr(v, ':', (size_t)(colon - v)))
			return -EINVAL;	/* IPv6 needs its brackets */
		end = colon;
	}
	n = (size_t)(end - start);
	if (n == 0 || n >= addr_len || parse_u32(colon + 1, 1, 65535, &port) < 0)
		return -EINVAL;
	memcpy(ret_addr, start, n);
	ret_addr[n] = '\0';
	if (!is_addr(ret_addr) || (*v == '[') != (strchr(ret_addr, ':') != NULL))
		return -EINVAL;
	*ret_port = (uint16_t)port;
	return 0;
}

/* health-check = none | command PATH [ARG ...] | tcp ADDRESS:PORT */
static int parse_health(struct ikd_conf *c, const char *v, const char **why)
{
	size_t words = 0;
	char addr[64];
	uint16_t port;

	if (!strcmp(v, "none")) {
		c->health = CONF_HEALTH_NONE;
		c->health_target[0] = '\0';
		return 0;
	}
	if (!strncmp(v, "tcp", 3) && (v[3] == ' ' || v[3] == '\t')) {
		v += 4 + strspn(v + 4, " \t");
		if (strlen(v) >= sizeof(c->health_target))
			return *why = "too long", -EINVAL;
		if (conf_split_hostport(v, addr, sizeof(addr), &port) < 0)
			return *why = "tcp needs a numeric ADDRESS:PORT ([ADDRESS]:PORT for IPv6)",
			       -EINVAL;
		c->health = CONF_HEALTH_TCP;
		strcpy(c->health_target, v);
		return 0;
	}
	if (strncmp(v, "command", 7) || (v[7] != ' ' && v[7] != '\t'))
		return *why = "must be none, command PATH [ARG ...] or tcp ADDRESS:PORT", -EINVAL;
	v += 8 + strspn(v + 8, " \t");
	if (*v != '/')
		return *why = "the command must be an absolute path (it runs without a shell)",
		       -EINVAL;
	if (strpbrk(v, "\"'\\"))
		return *why = "no quoting: the words are split on spaces "
			      "(put the logic in a script)", -EINVAL;
	if (strlen(v) >= sizeof(c->health_target))
		return *why = "too long", -EINVAL;
	for (const char *p = v; *p; p += strspn(p, " \t")) {
		words++;
		p += strcspn(p, " \t");
	}
	if (words > CONF_HEALTH_ARGV_MAX - 1)
		return *why = "too many words", -EINVAL;
	c->health = CONF_HEALTH_COMMAND;
	strcpy(c->health_target, v);
	return 0;
}

static int set_key(struct ikd_conf *c, const char *key, const char *v, const char **why)
{
	uint32_t n;

	for (size_t i = 0; i < sizeof(num_keys) / sizeof(num_keys[0]); i++) {
		if (strcmp(key, num_keys[i].key))
			continue;
		if (parse_u32(v, num_keys[i].min, num_keys[i].max, &n) < 0) {
			*why = "not a number in range";
			return -EINVAL;
		}
		memcpy((char *)c + num_keys[i].off, &n, sizeof(n));
		return 0;
	}
	if (!strcmp(key, "role")) {
		if (!strcmp(v, "initiator"))
			c->role = CONF_ROLE_INITIATOR;
		else if (!strcmp(v, "responder"))
			c->role = CONF_ROLE_RESPONDER;
		else
			return *why = "must be initiator or responder", -EINVAL;
	} else if (!strcmp(key, "listen")) {
		if (c->n_listen == 2)
			return *why = "at most two listen addresses (one per family)", -EINVAL;
		if (!is_addr(v))
			return *why = "not an IPv4 or IPv6 address", -EINVAL;
		strcpy(c->listen[c->n_listen++], v);
	} else if (!strcmp(key, "ike-port") || !strcmp(key, "natt-port")) {
		if (parse_u32(v, 1, 65535, &n) < 0)
			return *why = "not a port number", -EINVAL;
		*(!strcmp(key, "ike-port") ? &c->ike_port : &c->natt_port) = (uint16_t)n;
	} else if (!strcmp(key, "identity")) {
		if (strlen(v) >= sizeof(c->identity))
			return *why = "too long", -EINVAL;
		strcpy(c->identity, v);
	} else if (!strcmp(key, "store") || !strcmp(key, "control-socket")) {
		char *dst = !strcmp(key, "store") ? c->store : c->socket;

		if (v[0] != '/' || strlen(v) >= CONF_PATH_MAX)
			return *why = "not an absolute path", -EINVAL;
		strcpy(dst, v);
	} else if (!strcmp(key, "control-group")) {
		if (strlen(v) >= sizeof(c->socket_group))
			return *why = "too long", -EINVAL;
		strcpy(c->socket_group, v);
	} else if (!strcmp(key, "log-level")) {
		for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
			if (!strcmp(v, levels[i])) {
				c->log_level = (int)i;
				return 0;
			}
		return *why = "must be one of error, warning, notice, info, debug", -EINVAL;
	} else if (!strcmp(key, "health-check")) {
		return parse_health(c, v, why);
	} else if (!strcmp(key, "fragmentation")) {
		if (parse_bool(v, &c->fragmentation) < 0)
			return *why = "must be yes or no", -EINVAL;
	} else if (!strcmp(key, "policy-hash-thresholds")) {
		if (strcmp(v, "auto") && strcmp(v, "keep"))
			return *why = "must be auto or keep", -EINVAL;
		c->policy_hash = !strcmp(v, "auto");
	} else if (!strcmp(key, "probe")) {
		if (parse_bool(v, &c->probe) < 0)
			return *why = "must be yes or no", -EINVAL;
	} else {
		return *why = "unknown key", -EINVAL;
	}
	return 0;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

int conf_parse(struct ikd_conf *c, const char *path, const char *text, size_t len, char *err,
	       size_t err_len)
{
	struct ikd_conf tmp = *c;
	size_t pos = 0;
	unsigned line = 0;

	tmp.n_listen = 0;
	while (pos < len) {
		char buf[1024];
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		char *key, *eq, *v;
		const char *why = NULL;

		line++;
		if (n >= sizeof(buf))
			return fail(err, err_len, "%s:%u: line too long", path, line);
		memcpy(buf, text + pos, n);
		buf[n] = '\0';
		pos += n + (nl ? 1 : 0);
		if (memchr(buf, '\0', n))
			return fail(err, err_len, "%s:%u: NUL byte in the line", path, line);
		key = trim(buf);
		if (*key == '#' || *key == '\0')
			continue;
		eq = strchr(key, '=');
		if (!eq)
			return fail(err, err_len, "%s:%u: expected 'key = value'", path, line);
		*eq = '\0';
		v = trim(eq + 1);
		key = trim(key);
		if (set_key(&tmp, key, v, &why) < 0)
			return fail(err, err_len, "%s:%u: %s '%s': %s", path, line, key, v, why);
	}
	if (tmp.n_listen == 0)
		tmp.n_listen = c->n_listen;
	if (tmp.reconnect_min_s > tmp.reconnect_max_s)
		return fail(err, err_len, "%s: reconnect-min is above reconnect-max", path);
	if (tmp.health != CONF_HEALTH_NONE && tmp.role != CONF_ROLE_RESPONDER)
		return fail(err, err_len, "%s: health-check is for role responder (a gateway)",
			    path);
	*c = tmp;
	return 0;
}

int conf_load(struct ikd_conf *c, const char *path, char *err, size_t err_len)
{
	char *text;
	struct stat st;
	ssize_t n;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT && !strcmp(path, CONF_DEFAULT_PATH))
			return 0;
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) < 0 || st.st_size > CONF_MAX_BYTES) {
		close(fd);
		return fail(err, err_len, "%s: not a readable file under 256 KiB", path);
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		close(fd);
		return -ENOMEM;
	}
	n = read(fd, text, (size_t)st.st_size);
	close(fd);
	if (n < 0) {
		free(text);
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return -EIO;
	}
	rc = conf_parse(c, path, text, (size_t)n, err, err_len);
	free(text);
	return rc;
}
