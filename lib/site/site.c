/* Site and POP records and their validation (see site.h). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "site/site.h"

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

static const char *const traffic_names[] = {
	[SITE_TRAFFIC_USER] = "User", [SITE_TRAFFIC_IOT] = "IoT", [SITE_TRAFFIC_MIXED] = "Mixed",
	[SITE_TRAFFIC_MACHINE] = "Machine", [SITE_TRAFFIC_GUEST_WIFI] = "Guest Wifi",
};

const char *site_traffic_name(enum site_traffic t)
{
	return t <= SITE_TRAFFIC_GUEST_WIFI ? traffic_names[t] : "?";
}

const char *site_id_type_name(enum site_id_type t)
{
	switch (t) {
	case SITE_ID_IPV4: return "ipv4";
	case SITE_ID_IPV6: return "ipv6";
	case SITE_ID_FQDN: return "fqdn";
	case SITE_ID_EMAIL: return "email";
	}
	return "?";
}

/*
 * The record's heap fields (site.h). Shared constants stand for what most records hold: the
 * empty string, the default proposals, the default selector; they are never freed, and a
 * value equal to one of them is stored as it (not a copy). The rest live in one allocation
 * per record, s->heap: the lists' pointers, then every string.
 */
static const char no_text[] = "";
static const char default_ike[] = "aes256-sha256-modp2048";
static const char default_esp[] = "aes256gcm16,aes256-sha256";
static const char *const any_ts[] = { "0.0.0.0/0" };

enum { T_ID, T_SOURCE_IP, T_PRIMARY, T_IKE, T_ESP, N_TEXT };
enum { L_BACKUPS, L_LOCAL_TS, L_REMOTE_TS, N_LIST };

/* A record's heap fields as values: what pack() lays out, one of them changed. */
struct fields {
	const char *text[N_TEXT];		/* NULL: "" */
	const char *const *list[N_LIST];
	size_t n[N_LIST];
};

static struct fields fields_of(const struct site *s)
{
	return (struct fields){
		.text = { s->id, s->source_ip, s->primary, s->ike_proposals, s->esp_proposals },
		.list = { s->backups, s->local_ts, s->remote_ts },
		.n = { s->n_backups, s->n_local_ts, s->n_remote_ts },
	};
}

/* The shared constant with v's value, or NULL. */
static const char *shared_text(const char *v)
{
	return !v || !*v ? no_text : !strcmp(v, default_ike) ? default_ike :
	       !strcmp(v, default_esp) ? default_esp : NULL;
}

static const char *const *shared_list(const char *const *items, size_t n)
{
	return n == 1 && !strcmp(items[0], any_ts[0]) ? any_ts : NULL;
}

/*
 * f's values (read only here: they may point into the allocation they replace) into *out,
 * which points into *ret_heap (NULL when every value is shared). 0 or -ENOMEM.
 */
static int pack(const struct fields *f, struct fields *out, void **ret_heap)
{
	size_t n_ptrs = 0, n_chars = 0;
	const char **pv;
	char *pc;

	*out = *f;
	for (int i = 0; i < N_TEXT; i++)
		if (!shared_text(f->text[i]))
			n_chars += strlen(f->text[i]) + 1;
	for (int l = 0; l < N_LIST; l++) {
		if (f->n[l] == 0 || shared_list(f->list[l], f->n[l]))
			continue;
		n_ptrs += f->n[l];
		for (size_t k = 0; k < f->n[l]; k++)
			n_chars += strlen(f->list[l][k]) + 1;
	}
	for (int l = 0; l < N_LIST; l++)
		out->list[l] = f->n[l] ? shared_list(f->list[l], f->n[l]) : NULL;
	for (int i = 0; i < N_TEXT; i++)
		out->text[i] = shared_text(f->text[i]);
	*ret_heap = NULL;
	if (n_ptrs + n_chars == 0)
		return 0;
	*ret_heap = malloc(n_ptrs * sizeof(*pv) + n_chars);
	if (!*ret_heap)
		return -ENOMEM;
	pv = *ret_heap;
	pc = (char *)(pv + n_ptrs);
	for (int l = 0; l < N_LIST; l++) {
		if (f->n[l] == 0 || out->list[l])
			continue;
		out->list[l] = pv;
		for (size_t k = 0; k < f->n[l]; k++) {
			size_t len = strlen(f->list[l][k]) + 1;

			memcpy(pc, f->list[l][k], len);
			*pv++ = pc;
			pc += len;
		}
	}
	for (int i = 0; i < N_TEXT; i++) {
		size_t len;

		if (out->text[i])
			continue;
		len = strlen(f->text[i]) + 1;
		out->text[i] = memcpy(pc, f->text[i], len);
		pc += len;
	}
	return 0;
}

static void fields_put(struct site *s, const struct fields *f)
{
	s->id = f->text[T_ID];
	s->source_ip = f->text[T_SOURCE_IP];
	s->primary = f->text[T_PRIMARY];
	s->ike_proposals = f->text[T_IKE];
	s->esp_proposals = f->text[T_ESP];
	s->backups = f->list[L_BACKUPS];
	s->local_ts = f->list[L_LOCAL_TS];
	s->remote_ts = f->list[L_REMOTE_TS];
	s->n_backups = f->n[L_BACKUPS];
	s->n_local_ts = f->n[L_LOCAL_TS];
	s->n_remote_ts = f->n[L_REMOTE_TS];
}

/* s's heap fields become f's (read before the old allocation goes): 0, or -ENOMEM. */
static int fields_set(struct site *s, const struct fields *f)
{
	struct fields out;
	void *heap;

	if (pack(f, &out, &heap) < 0)
		return -ENOMEM;
	free(s->heap);
	s->heap = heap;
	fields_put(s, &out);
	return 0;
}

/* One text field set: 0, or -ENOMEM and s unchanged. */
static int set_text(struct site *s, int which, const char *v)
{
	struct fields f = fields_of(s);

	f.text[which] = v;
	return fields_set(s, &f);
}

static int set_items(struct site *s, int which, const char *const *items, size_t n)
{
	struct fields f = fields_of(s);

	f.list[which] = items;
	f.n[which] = n;
	return fields_set(s, &f);
}

static bool lists_equal(const char *const *a, size_t na, const char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]))
			return false;
	return true;
}

void site_init(struct site *s)
{
	memset(s, 0, sizeof(*s));
	s->id_type = SITE_ID_FQDN;
	s->id = no_text;
	s->source_ip = no_text;
	s->primary = no_text;
	s->traffic = SITE_TRAFFIC_USER;
	s->enabled = true;
	s->local_ts = any_ts;
	s->n_local_ts = 1;
	s->remote_ts = any_ts;
	s->n_remote_ts = 1;
	/* The seeds' recommended suites (bold in the vendor table) and lifetimes. */
	s->ike_proposals = default_ike;
	s->esp_proposals = default_esp;
	s->ike_lifetime_s = SITE_IKE_LIFETIME_S;
	s->child_lifetime_s = SITE_CHILD_LIFETIME_S;
	s->ike_rekey_s = SITE_IKE_LIFETIME_S - 2 * SITE_REKEY_MARGIN_S;
	s->child_rekey_s = SITE_CHILD_LIFETIME_S - 2 * SITE_REKEY_MARGIN_S;
	s->max_child_sas = SITE_MAX_CHILD_SAS;
	s->dpd_interval_s = 10;
	s->vendor_rules = true;
}

void site_clear(struct site *s)
{
	secret_clear(&s->psk);
	free(s->heap);
	memset(s, 0, sizeof(*s));
	/* Read after a clear, as before the fields moved to the heap: empty, no entries. */
	s->id = s->source_ip = s->primary = s->ike_proposals = s->esp_proposals = no_text;
}

static int copy(struct site *dst, const struct site *src, bool with_psk)
{
	struct fields f = fields_of(src), out;
	struct site c = *src;
	int rc;

	/* Nothing of src's is shared: its fields packed anew, its key duplicated. */
	c.psk = (struct secret){ 0 };
	rc = pack(&f, &out, &c.heap);
	if (rc == 0)
		fields_put(&c, &out);
	if (rc == 0 && with_psk && src->psk.p)
		rc = secret_dup(&c.psk, &src->psk);
	if (rc < 0)
		site_clear(&c);		/* what c made only: pack() leaves c.heap NULL on failure */
	*dst = c;
	return rc;
}

int site_copy(struct site *dst, const struct site *src)
{
	return copy(dst, src, true);
}

int site_copy_nokey(struct site *dst, const struct site *src)
{
	return copy(dst, src, false);
}

bool site_equal(const struct site *a, const struct site *b)
{
	return !strcmp(a->name, b->name) && a->id_type == b->id_type && !strcmp(a->id, b->id) &&
	       !strcmp(a->source_ip, b->source_ip) && a->psk.len == b->psk.len &&
	       (a->psk.len == 0 || secret_equal(a->psk.p, b->psk.p, a->psk.len)) &&
	       !strcmp(a->primary, b->primary) &&
	       lists_equal(a->backups, a->n_backups, b->backups, b->n_backups) &&
	       a->traffic == b->traffic && a->enabled == b->enabled &&
	       lists_equal(a->local_ts, a->n_local_ts, b->local_ts, b->n_local_ts) &&
	       lists_equal(a->remote_ts, a->n_remote_ts, b->remote_ts, b->n_remote_ts) &&
	       a->mark == b->mark && a->mark_mask == b->mark_mask && a->if_id == b->if_id &&
	       !strcmp(a->ike_proposals, b->ike_proposals) &&
	       !strcmp(a->esp_proposals, b->esp_proposals) &&
	       a->ike_lifetime_s == b->ike_lifetime_s &&
	       a->child_lifetime_s == b->child_lifetime_s &&
	       a->ike_rekey_s == b->ike_rekey_s && a->child_rekey_s == b->child_rekey_s &&
	       a->max_child_sas == b->max_child_sas && a->dpd_interval_s == b->dpd_interval_s &&
	       a->vendor_rules == b->vendor_rules && a->psk_short == b->psk_short;
}

void pop_init(struct pop *p)
{
	memset(p, 0, sizeof(*p));
	p->accepting = true;
}

/* Names: what `ip` and file names tolerate: [A-Za-z0-9._-], 1..63. */
static bool valid_name(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n >= SITE_NAME_MAX)
		return false;
	for (const char *c = v; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '.' && *c != '_' && *c != '-')
			return false;
	return true;
}

static bool valid_ip(const char *v, int *ret_family)
{
	uint8_t buf[16];

	if (inet_pton(AF_INET, v, buf) == 1) {
		*ret_family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, v, buf) == 1) {
		*ret_family = AF_INET6;
		return true;
	}
	return false;
}

static bool valid_cidr(const char *v)
{
	char addr[SITE_ADDR_MAX];
	const char *slash = strchr(v, '/');
	char *end;
	long plen;
	int family;

	if (!slash || (size_t)(slash - v) >= sizeof(addr))
		return false;
	memcpy(addr, v, (size_t)(slash - v));
	addr[slash - v] = '\0';
	if (!valid_ip(addr, &family))
		return false;
	errno = 0;
	plen = strtol(slash + 1, &end, 10);
	return !errno && *end == '\0' && slash[1] && plen >= 0 &&
	       plen <= (family == AF_INET ? 32 : 128);
}

/* Printable UTF-8 without control characters. */
static bool valid_text(const char *v, size_t max)
{
	const unsigned char *p = (const unsigned char *)v;
	size_t n = strlen(v);

	if (n >= max)
		return false;
	while (*p) {
		size_t len = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 : (*p >> 4) == 14 ? 3 :
			     (*p >> 3) == 30 ? 4 : 0;

		if (len == 0 || (len == 1 && (*p < 0x20 || *p == 0x7f)))
			return false;
		for (size_t i = 1; i < len; i++)
			if ((p[i] & 0xc0) != 0x80)
				return false;
		p += len;
	}
	return true;
}

static bool valid_fqdn(const char *v)
{
	size_t n = strlen(v), label = 0;

	if (n == 0 || n > 253)
		return false;
	for (const char *c = v; *c; c++) {
		if (*c == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (isalnum((unsigned char)*c) || *c == '-' || *c == '_') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return label > 0;
}

static bool valid_email(const char *v)
{
	const char *at = strchr(v, '@');

	return at && at != v && strchr(at + 1, '@') == NULL && valid_fqdn(at + 1) &&
	       valid_text(v, SITE_ID_MAX);
}

/* "fqdn:x", "email:x", "ipv4:x", "ipv6:x", or inferred from the value. */
static int set_identity(struct site *s, const char *v, char *err, size_t len)
{
	static const struct {
		const char *prefix;
		enum site_id_type type;
	} prefixes[] = { { "fqdn:", SITE_ID_FQDN }, { "email:", SITE_ID_EMAIL },
			 { "ipv4:", SITE_ID_IPV4 }, { "ipv6:", SITE_ID_IPV6 } };
	enum site_id_type type = SITE_ID_FQDN;
	const char *body = v;
	bool given = false;
	int family;

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strncmp(v, prefixes[i].prefix, strlen(prefixes[i].prefix)) == 0) {
			type = prefixes[i].type;
			body = v + strlen(prefixes[i].prefix);
			given = true;
		}
	if (!given) {
		if (valid_ip(v, &family))
			type = family == AF_INET ? SITE_ID_IPV4 : SITE_ID_IPV6;
		else if (strchr(v, '@'))
			type = SITE_ID_EMAIL;
		else
			type = SITE_ID_FQDN;
	}
	if (strlen(body) >= SITE_ID_MAX ||
	    (type == SITE_ID_FQDN && !valid_fqdn(body)) ||
	    (type == SITE_ID_EMAIL && !valid_email(body)) ||
	    ((type == SITE_ID_IPV4 || type == SITE_ID_IPV6) &&
	     (!valid_ip(body, &family) || (family == AF_INET) != (type == SITE_ID_IPV4))))
		return fail(err, len, -EINVAL, "id '%s': not a valid %s identity", v,
			    site_id_type_name(type));
	if (set_text(s, T_ID, body) < 0)
		return fail(err, len, -ENOMEM, "id: out of memory");
	s->id_type = type;
	return 0;
}

static int parse_u32(const char *v, uint32_t *ret)
{
	char *end;
	unsigned long long x;

	if (!*v || *v == '-')
		return -EINVAL;
	errno = 0;
	x = strtoull(v, &end, 0);
	if (errno || *end || x > UINT32_MAX)
		return -EINVAL;
	*ret = (uint32_t)x;
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

/*
 * A comma-separated list of up to max items, each checked by ok(), into s's list which:
 * -EINVAL for a bad list, -ENOMEM, and s unchanged then.
 */
static int set_list(struct site *s, int which, size_t max, const char *v,
		    bool (*ok)(const char *))
{
	char items[SITE_MAX_TS][SITE_CIDR_MAX];
	const char *ptrs[SITE_MAX_TS];
	size_t count = 0;
	const char *p = v;

	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (count == max || len == 0 || len >= sizeof(items[0]))
			return -EINVAL;
		memcpy(items[count], p, len);
		items[count][len] = '\0';
		if (!ok(items[count]))
			return -EINVAL;
		ptrs[count] = items[count];
		count++;
		p += len + (comma ? 1 : 0);
		if (comma && !*p)
			return -EINVAL;
	}
	if (count == 0)
		return -EINVAL;
	return set_items(s, which, ptrs, count);
}

/* Proposal tokens the seeds list (Phase 1 / Phase 2), and what needs the vendor opt-out. */
static const char *const ike_encr[] = { "aes128", "aes192", "aes256", "aes128gcm16", "aes256gcm16" };
static const char *const esp_encr[] = { "aes128", "aes256", "aes128gcm16", "aes192gcm16",
					"aes256gcm16", "null" };
static const char *const hashes[] = { "sha1", "sha256", "sha384", "sha512" };
static const char *const prfs[] = { "prfsha1", "prfsha256", "prfsha384", "prfsha512" };
static const char *const seed_groups[] = { "modp2048", "modp3072", "modp4096", "modp8192" };
static const char *const other_groups[] = { "ecp256", "ecp384", "ecp521", "x25519" };

#define IN(list, tok) in_list(list, sizeof(list) / sizeof(list[0]), tok)

static bool in_list(const char *const *list, size_t n, const char *tok)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], tok) == 0)
			return true;
	return false;
}

/*
 * "aes256-sha256-modp2048[,...]": each proposal an encryption, integrity for CBC, optional
 * PRF, and a group (required for IKE). seeds_only: groups outside the seeds' list refused.
 */
static int check_proposals(const char *v, bool ike, bool seeds_only, const char **ret_bad)
{
	char buf[SITE_PROPOSALS_MAX];
	char *save = NULL, *prop;

	if (strlen(v) >= sizeof(buf) || !*v)
		return -EINVAL;
	strcpy(buf, v);
	for (prop = strtok_r(buf, ",", &save); prop; prop = strtok_r(NULL, ",", &save)) {
		char *s2 = NULL, *tok = strtok_r(prop, "-", &s2);
		bool aead, have_integ = false, have_group = false;

		if (!tok || !(ike ? IN(ike_encr, tok) : IN(esp_encr, tok))) {
			*ret_bad = "encryption";
			return -EINVAL;
		}
		aead = strstr(tok, "gcm") != NULL;
		for (tok = strtok_r(NULL, "-", &s2); tok; tok = strtok_r(NULL, "-", &s2)) {
			if (IN(hashes, tok) && !aead && !have_integ) {
				have_integ = true;
			} else if (ike && IN(prfs, tok)) {
				continue;
			} else if (IN(seed_groups, tok) || (!seeds_only && IN(other_groups, tok))) {
				have_group = true;
			} else {
				*ret_bad = IN(other_groups, tok) ? "group outside the supported list"
								 : "unknown algorithm";
				return -EINVAL;
			}
		}
		if ((!aead && !have_integ) || (ike && !have_group)) {
			*ret_bad = !aead && !have_integ ? "integrity missing" : "DH group missing";
			return -EINVAL;
		}
	}
	return 0;
}

int site_set(struct site *s, const char *key, const char *v, char *err, size_t len)
{
	uint32_t u;
	bool b;

	if (!strcmp(key, "name")) {
		if (!valid_name(v))
			return fail(err, len, -EINVAL, "name '%s': use 1-63 of A-Z a-z 0-9 . _ -", v);
		strcpy(s->name, v);
	} else if (!strcmp(key, "id")) {
		return set_identity(s, v, err, len);
	} else if (!strcmp(key, "source-ip")) {
		int family;

		if (*v && !valid_ip(v, &family))
			return fail(err, len, -EINVAL, "source-ip '%s': not an IP address", v);
		if (set_text(s, T_SOURCE_IP, v) < 0)
			return fail(err, len, -ENOMEM, "source-ip: out of memory");
	} else if (!strcmp(key, "primary")) {
		/* Empty: none (a gateway's site; site_validate() says where one is needed). */
		if (*v && !valid_name(v))
			return fail(err, len, -EINVAL, "primary '%s': not a POP name", v);
		if (set_text(s, T_PRIMARY, v) < 0)
			return fail(err, len, -ENOMEM, "primary: out of memory");
	} else if (!strcmp(key, "backups")) {
		char names[SITE_MAX_BACKUPS][SITE_NAME_MAX];
		const char *ptrs[SITE_MAX_BACKUPS];
		size_t n = 0;
		const char *p = v;

		while (*p) {
			const char *comma = strchr(p, ',');
			size_t l = comma ? (size_t)(comma - p) : strlen(p);

			if (n == SITE_MAX_BACKUPS || l == 0 || l >= SITE_NAME_MAX)
				return fail(err, len, -EINVAL, "backups '%s': a list of up to %d POP names",
					    v, SITE_MAX_BACKUPS);
			memcpy(names[n], p, l);
			names[n][l] = '\0';
			if (!valid_name(names[n]))
				return fail(err, len, -EINVAL, "backups '%s': '%s' is not a POP name",
					    v, names[n]);
			ptrs[n] = names[n];
			n++;
			p += l + (comma ? 1 : 0);
		}
		/* Empty: none (site_validate() says where one is needed). */
		if (set_items(s, L_BACKUPS, ptrs, n) < 0)
			return fail(err, len, -ENOMEM, "backups: out of memory");
	} else if (!strcmp(key, "traffic")) {
		size_t i;

		for (i = 0; i <= SITE_TRAFFIC_GUEST_WIFI; i++)
			if (!strcasecmp(v, traffic_names[i]) ||
			    (i == SITE_TRAFFIC_GUEST_WIFI && !strcasecmp(v, "guest-wifi")))
				break;
		if (i > SITE_TRAFFIC_GUEST_WIFI)
			return fail(err, len, -EINVAL,
				    "traffic '%s': one of User, IoT, Mixed, Machine, Guest Wifi", v);
		s->traffic = (enum site_traffic)i;
	} else if (!strcmp(key, "enabled")) {
		if (parse_bool(v, &b) < 0)
			return fail(err, len, -EINVAL, "enabled '%s': yes or no", v);
		s->enabled = b;
	} else if (!strcmp(key, "local-ts") || !strcmp(key, "remote-ts")) {
		int rc = set_list(s, key[0] == 'l' ? L_LOCAL_TS : L_REMOTE_TS, SITE_MAX_TS, v,
				  valid_cidr);

		if (rc == -ENOMEM)
			return fail(err, len, rc, "%s: out of memory", key);
		if (rc < 0)
			return fail(err, len, -EINVAL, "%s '%s': a list of up to %d CIDRs", key, v,
				    SITE_MAX_TS);
	} else if (!strcmp(key, "mark")) {
		char *slash;
		char buf[32];
		uint32_t m, mask = 0xffffffff;

		if (strlen(v) >= sizeof(buf))
			return fail(err, len, -EINVAL, "mark '%s': VALUE or VALUE/MASK", v);
		strcpy(buf, v);
		slash = strchr(buf, '/');
		if (slash)
			*slash = '\0';
		if (parse_u32(buf, &m) < 0 || (slash && parse_u32(slash + 1, &mask) < 0) ||
		    (m & ~mask))
			return fail(err, len, -EINVAL, "mark '%s': VALUE or VALUE/MASK", v);
		s->mark = m;
		s->mark_mask = m || slash ? mask : 0;
	} else if (!strcmp(key, "if-id")) {
		if (parse_u32(v, &u) < 0)
			return fail(err, len, -EINVAL, "if-id '%s': a number", v);
		s->if_id = u;
	} else if (!strcmp(key, "ike-proposals") || !strcmp(key, "esp-proposals")) {
		bool ike = key[0] == 'i';
		const char *bad = "";

		if (check_proposals(v, ike, false, &bad) < 0)
			return fail(err, len, -EINVAL, "%s '%s': %s", key, v, bad);
		if (set_text(s, ike ? T_IKE : T_ESP, v) < 0)
			return fail(err, len, -ENOMEM, "%s: out of memory", key);
	} else if (!strcmp(key, "ike-lifetime") || !strcmp(key, "child-lifetime") ||
		   !strcmp(key, "ike-rekey") || !strcmp(key, "child-rekey") ||
		   !strcmp(key, "dpd-interval") || !strcmp(key, "max-child-sas")) {
		if (parse_u32(v, &u) < 0 || u == 0)
			return fail(err, len, -EINVAL, "%s '%s': a positive number", key, v);
		if (!strcmp(key, "ike-lifetime"))
			s->ike_lifetime_s = u;
		else if (!strcmp(key, "child-lifetime"))
			s->child_lifetime_s = u;
		else if (!strcmp(key, "ike-rekey"))
			s->ike_rekey_s = u;
		else if (!strcmp(key, "child-rekey"))
			s->child_rekey_s = u;
		else if (!strcmp(key, "dpd-interval"))
			s->dpd_interval_s = u;
		else
			s->max_child_sas = u;
	} else if (!strcmp(key, "vendor-rules")) {
		if (parse_bool(v, &b) < 0)
			return fail(err, len, -EINVAL, "vendor-rules '%s': yes or no", v);
		s->vendor_rules = b;
	} else if (!strcmp(key, "psk-short")) {
		if (parse_bool(v, &b) < 0)
			return fail(err, len, -EINVAL, "psk-short '%s': yes or no", v);
		s->psk_short = b;
	} else if (!strcmp(key, "psk")) {
		/* Never from a command line, never echoed: see site_set_psk(). */
		return fail(err, len, -EPERM, "psk: give it from a file or stdin, not as a value");
	} else {
		return fail(err, len, -ENOENT, "%s: no such site field", key);
	}
	return 0;
}

int site_set_psk(struct site *s, const uint8_t *psk, size_t plen, char *err, size_t len)
{
	struct secret k = { 0 };
	int rc;

	if (plen == 0 || plen > SITE_PSK_MAX)
		return fail(err, len, -EINVAL, "psk: 1 to %d bytes", SITE_PSK_MAX);
	rc = secret_set(&k, psk, plen);
	if (rc < 0)
		return fail(err, len, rc, "psk: out of memory");
	secret_clear(&s->psk);
	s->psk = k;
	return 0;
}

int pop_set(struct pop *p, const char *key, const char *v, char *err, size_t len)
{
	int family;
	bool b;

	if (!strcmp(key, "name")) {
		if (!valid_name(v))
			return fail(err, len, -EINVAL, "name '%s': use 1-63 of A-Z a-z 0-9 . _ -", v);
		strcpy(p->name, v);
	} else if (!strcmp(key, "gateway") || !strcmp(key, "probe-ip")) {
		/* The probe address is optional (empty); the gateway is not. */
		if ((*v || key[0] == 'g') && !valid_ip(v, &family))
			return fail(err, len, -EINVAL, "%s '%s': not an IP address", key, v);
		strcpy(key[0] == 'g' ? p->gateway : p->probe_ip, v);
	} else if (!strcmp(key, "location")) {
		if (!valid_text(v, SITE_TEXT_MAX))
			return fail(err, len, -EINVAL, "location: printable text up to %d bytes",
				    SITE_TEXT_MAX - 1);
		strcpy(p->location, v);
	} else if (!strcmp(key, "accepting")) {
		if (parse_bool(v, &b) < 0)
			return fail(err, len, -EINVAL, "accepting '%s': yes or no", v);
		p->accepting = b;
	} else if (!strcmp(key, "ike-id")) {
		if (*v && !valid_text(v, SITE_ID_MAX))
			return fail(err, len, -EINVAL, "ike-id: printable text up to %d bytes",
				    SITE_ID_MAX - 1);
		strcpy(p->ike_id, v);
	} else {
		return fail(err, len, -ENOENT, "%s: no such POP field", key);
	}
	return 0;
}

int pop_validate(const struct pop *p, char *err, size_t len)
{
	if (!*p->name)
		return fail(err, len, -EINVAL, "name: missing");
	if (!*p->gateway)
		return fail(err, len, -EINVAL, "pop '%s' gateway: missing", p->name);
	return 0;
}

const struct site *site_db_find(const struct site_db *db, const char *name)
{
	for (size_t i = 0; i < db->n_sites; i++)
		if (!strcmp(db->sites[i].name, name))
			return &db->sites[i];
	return NULL;
}

const struct pop *site_db_find_pop(const struct site_db *db, const char *name)
{
	for (size_t i = 0; i < db->n_pops; i++)
		if (!strcmp(db->pops[i].name, name))
			return &db->pops[i];
	return NULL;
}

void site_db_clear(struct site_db *db)
{
	for (size_t i = 0; i < db->n_sites; i++)
		site_clear(&db->sites[i]);
	free(db->sites);
	free(db->pops);
	*db = (struct site_db){ .role = db->role };
}

/*
 * An address no peer can have: the unspecified address, multicast, IPv4's limited broadcast.
 * NULL when the address is one a host can use.
 */
static const char *not_unicast(const char *v)
{
	uint8_t a[16];

	if (inet_pton(AF_INET, v, a) == 1) {
		if (!a[0] && !a[1] && !a[2] && !a[3])
			return "the unspecified address, not a peer's";
		if ((a[0] & 0xf0) == 0xe0)
			return "a multicast address, not a peer's";
		if (a[0] == 255 && a[1] == 255 && a[2] == 255 && a[3] == 255)
			return "the broadcast address, not a peer's";
		return NULL;
	}
	if (inet_pton(AF_INET6, v, a) == 1) {
		static const uint8_t zero[16];

		if (!memcmp(a, zero, sizeof(zero)))
			return "the unspecified address, not a peer's";
		if (a[0] == 0xff)
			return "a multicast address, not a peer's";
	}
	return NULL;
}

/*
 * A selector with host bits set ("10.1.1.5/24") is not the network its author meant, and the
 * kernel and the peer would each read it their own way: 0 with the network in ret_net, or -1.
 */
static int host_bits(const char *cidr, char *ret_net, size_t len)
{
	char addr[SITE_ADDR_MAX], net[SITE_ADDR_MAX];
	const char *slash = strchr(cidr, '/');
	uint8_t a[16];
	int family, plen, bytes;
	bool set = false;

	if (!slash || (size_t)(slash - cidr) >= sizeof(addr))
		return -1;
	memcpy(addr, cidr, (size_t)(slash - cidr));
	addr[slash - cidr] = '\0';
	family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	bytes = family == AF_INET ? 4 : 16;
	if (inet_pton(family, addr, a) != 1)
		return -1;
	plen = atoi(slash + 1);
	for (int bit = plen; bit < 8 * bytes; bit++)
		if (a[bit / 8] & (0x80 >> (bit % 8))) {
			set = true;
			a[bit / 8] &= (uint8_t)~(0x80 >> (bit % 8));
		}
	if (!set || !inet_ntop(family, a, net, sizeof(net)))
		return -1;
	snprintf(ret_net, len, "%s/%u", net, (unsigned)plen & 0xff);
	return 0;
}

/* Rules added after stores were first written (see site_validate_stored()). */
static int validate_values(const struct site *s, char *err, size_t len)
{
	const char *why;
	char net[SITE_ADDR_MAX + 8];

	if (s->psk.p && s->psk.len < SITE_PSK_MIN && !s->psk_short)
		return fail(err, len, -EINVAL, "site '%s' psk: %zu byte%s, fewer than %d: one "
			    "captured IKE_AUTH lets anyone try short keys offline (RFC 7296 "
			    "§2.15); use a longer key, or psk-short yes to keep this one",
			    s->name, s->psk.len, s->psk.len == 1 ? "" : "s", SITE_PSK_MIN);
	if (s->source_ip[0] && (why = not_unicast(s->source_ip)))
		return fail(err, len, -EINVAL, "site '%s' source-ip '%s': %s (leave it empty for "
			    "a dynamic address)", s->name, s->source_ip, why);
	for (int l = 0; l < 2; l++) {
		size_t n = l ? s->n_remote_ts : s->n_local_ts;

		for (size_t i = 0; i < n; i++) {
			const char *ts = l ? s->remote_ts[i] : s->local_ts[i];

			if (host_bits(ts, net, sizeof(net)) == 0)
				return fail(err, len, -EINVAL, "site '%s' %s '%s': host bits set; "
					    "the network is %s", s->name, l ? "remote-ts" : "local-ts",
					    ts, net);
		}
	}
	return 0;
}

/*
 * The POPs a site needs. A branch (initiator) connects to its primary, and the seeds want a
 * tunnel to at least two POPs, so a backup too unless vendor-rules is off; a gateway
 * (responder) accepts the site and needs none. POPs named must exist either way.
 */
static int validate_pops(const struct site *s, const struct site_db *db, bool require,
			 char *err, size_t len)
{
	bool branch = require && (!db || db->role == SITE_ROLE_INITIATOR);

	if (branch && !*s->primary)
		return fail(err, len, -EINVAL, "site '%s' primary: missing (a branch's site "
			    "connects to its primary POP)", s->name);
	if (branch && s->vendor_rules && s->n_backups == 0)
		return fail(err, len, -EINVAL, "site '%s' backups: at least one backup POP (the "
			    "POPs want tunnels to two of them; vendor-rules no for one POP)", s->name);
	if (!*s->primary && s->n_backups)
		return fail(err, len, -EINVAL, "site '%s' backups: backups without a primary POP",
			    s->name);
	if (db && *s->primary && !site_db_find_pop(db, s->primary))
		return fail(err, len, -ENOENT, "site '%s' primary '%s': no such POP", s->name,
			    s->primary);
	for (size_t i = 0; i < s->n_backups; i++) {
		if (!strcmp(s->backups[i], s->primary))
			return fail(err, len, -EINVAL, "site '%s' backups '%s': the primary POP again",
				    s->name, s->backups[i]);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(s->backups[i], s->backups[j]))
				return fail(err, len, -EINVAL, "site '%s' backups '%s': listed twice",
					    s->name, s->backups[i]);
		if (db && !site_db_find_pop(db, s->backups[i]))
			return fail(err, len, -ENOENT, "site '%s' backups '%s': no such POP",
				    s->name, s->backups[i]);
	}
	return 0;
}

static int validate(const struct site *s, const struct site_db *db, bool values, char *err,
		    size_t len)
{
	const char *bad = "";
	int rc;

	if (!*s->name)
		return fail(err, len, -EINVAL, "name: missing");
	if (!*s->id)
		return fail(err, len, -EINVAL, "site '%s' id: missing", s->name);
	if (!s->psk.p)
		return fail(err, len, -EINVAL, "site '%s' psk: missing", s->name);
	if (values && (rc = validate_values(s, err, len)) < 0)
		return rc;
	if ((rc = validate_pops(s, db, values, err, len)) < 0)
		return rc;
	if (s->ike_rekey_s >= s->ike_lifetime_s || s->child_rekey_s >= s->child_lifetime_s)
		return fail(err, len, -EINVAL, "site '%s': rekey times must be below the lifetimes",
			    s->name);
	if (!s->vendor_rules)
		return 0;
	/* The seeds' rules, unless the site opts out for a peer that is not a Netskope POP. */
	if (s->ike_rekey_s + SITE_REKEY_MARGIN_S > SITE_IKE_LIFETIME_S ||
	    s->child_rekey_s + SITE_REKEY_MARGIN_S > SITE_CHILD_LIFETIME_S)
		return fail(err, len, -EINVAL, "site '%s': rekey at least 10 minutes before the "
			    "POP's lifetimes (24 h IKE, 2 h IPsec): ike-rekey <= %d, child-rekey <= %d",
			    s->name, SITE_IKE_LIFETIME_S - SITE_REKEY_MARGIN_S,
			    SITE_CHILD_LIFETIME_S - SITE_REKEY_MARGIN_S);
	if (s->max_child_sas > SITE_MAX_CHILD_SAS)
		return fail(err, len, -EINVAL, "site '%s' max-child-sas '%" PRIu32 "': the POPs "
			    "accept at most %d", s->name, s->max_child_sas, SITE_MAX_CHILD_SAS);
	if (check_proposals(s->ike_proposals, true, true, &bad) < 0 ||
	    check_proposals(s->esp_proposals, false, true, &bad) < 0)
		return fail(err, len, -EINVAL, "site '%s' proposals: %s is not in the POPs' "
			    "supported suites (vendor-rules no for another peer)", s->name, bad);
	return 0;
}

int site_validate(const struct site *s, const struct site_db *db, char *err, size_t len)
{
	return validate(s, db, true, err, len);
}

int site_validate_stored(const struct site *s, const struct site_db *db, char *err, size_t len)
{
	return validate(s, db, false, err, len);
}

/* An identity's bytes as a gateway compares them: addresses binary, names lower-cased. */
static size_t id_key(const struct site *s, uint8_t *buf, size_t cap)
{
	size_t n;

	if ((s->id_type == SITE_ID_IPV4 && inet_pton(AF_INET, s->id, buf) == 1))
		return 4;
	if ((s->id_type == SITE_ID_IPV6 && inet_pton(AF_INET6, s->id, buf) == 1))
		return 16;
	n = strnlen(s->id, cap);
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)tolower((unsigned char)s->id[i]);
	return n;
}

bool site_same_id(const struct site *a, const struct site *b)
{
	uint8_t ka[SITE_ID_MAX], kb[SITE_ID_MAX];
	size_t na, nb;

	if (a->id_type != b->id_type)
		return false;
	na = id_key(a, ka, sizeof(ka));
	nb = id_key(b, kb, sizeof(kb));
	return na == nb && !memcmp(ka, kb, na);
}

uint32_t site_id_hash(const struct site *s)
{
	uint8_t k[SITE_ID_MAX];
	size_t n = id_key(s, k, sizeof(k));
	uint32_t h = 2166136261u ^ (uint32_t)s->id_type;

	for (size_t i = 0; i < n; i++)
		h = (h ^ k[i]) * 16777619u;
	/* FNV-1a's low bits, which an index masks, mix poorly: a final avalanche (MurmurHash3). */
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	return h ^ (h >> 16);
}

const char *site_id_text(const struct site *s, char *buf, size_t len)
{
	snprintf(buf, len, "%s:%s", site_id_type_name(s->id_type), s->id);
	return buf;
}
