/*
 * Sites and POPs (DESIGN.md "The data model"): the records, their validation, and the store
 * ikd keeps them in. Every setter validates one field and names the field and the bad value in
 * its error (never the PSK); a record is checked whole, against the other records, before it
 * replaces anything.
 */
#ifndef IKD_SITE_H
#define IKD_SITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "crypto/secret.h"

#define SITE_NAME_MAX		64	/* with the NUL */
#define SITE_ID_MAX		256
#define SITE_ADDR_MAX		46	/* INET6_ADDRSTRLEN */
#define SITE_CIDR_MAX		(SITE_ADDR_MAX + 4)	/* "ADDR/PLEN", with the NUL */
#define SITE_TEXT_MAX		128
#define SITE_PROPOSALS_MAX	256
#define SITE_MAX_BACKUPS	8
#define SITE_MAX_TS		8
#define SITE_PSK_MAX		256
/*
 * Shorter keys are refused unless the site says psk-short yes: whoever captures one IKE_AUTH
 * can try keys offline at the speed of a PRF (RFC 7296 §2.15), so a short key falls to a
 * brute-force search without the gateway ever seeing a guess.
 */
#define SITE_PSK_MIN		16
#define SITE_ERR_MAX		256

/* The seeds' rule: rekey at least 10 minutes before the 24 h / 2 h lifetimes. */
#define SITE_IKE_LIFETIME_S	86400
#define SITE_CHILD_LIFETIME_S	7200
#define SITE_REKEY_MARGIN_S	600
#define SITE_MAX_CHILD_SAS	10

enum site_traffic {
	SITE_TRAFFIC_USER,
	SITE_TRAFFIC_IOT,
	SITE_TRAFFIC_MIXED,
	SITE_TRAFFIC_MACHINE,
	SITE_TRAFFIC_GUEST_WIFI,
};

/* The IKE identity types a site can use (RFC 7296 §3.5 values). */
enum site_id_type {
	SITE_ID_IPV4 = 1,
	SITE_ID_FQDN = 2,
	SITE_ID_EMAIL = 3,
	SITE_ID_IPV6 = 5,
};

struct pop {
	char name[SITE_NAME_MAX];
	char gateway[SITE_ADDR_MAX];
	char probe_ip[SITE_ADDR_MAX];
	char location[SITE_TEXT_MAX];
	bool accepting;
	char ike_id[SITE_ID_MAX];	/* empty: the gateway address */
};

/*
 * A site record. The fields that vary in length live on the heap, sized to their content,
 * and are owned by the record: site_init() (which allocates nothing), site_copy() (a deep
 * copy), site_set() and site_clear() keep them; a struct assignment shares them, so it is a
 * move (the source dropped, not cleared) or a bug. The limits above still bound them.
 *   - text (id, source_ip, primary, the proposals): never NULL in a record site_init() or
 *     site_copy() made; "" when empty.
 *   - lists (backups, local_ts, remote_ts): n entries, each a string; NULL when n is 0.
 * The empty string, the default proposals and the default selector are shared constants;
 * every other value is in one allocation per record (heap: the lists' pointers, then the
 * strings), made anew by each change of one of these fields. So a pointer to any of them
 * is good until the record's next site_set() of a heap field, site_copy() into it or
 * site_clear().
 * Readers use them as before (s->id, s->backups[i]); writes go through site_set().
 */
struct site {
	char name[SITE_NAME_MAX];
	enum site_id_type id_type;
	enum site_traffic traffic;
	const char *id;			/* < SITE_ID_MAX bytes */
	const char *source_ip;		/* < SITE_ADDR_MAX; empty: dynamic */
	struct secret psk;
	const char *primary;		/* < SITE_NAME_MAX */
	const char *const *backups;	/* up to SITE_MAX_BACKUPS names */
	size_t n_backups;
	const char *const *local_ts;	/* up to SITE_MAX_TS CIDRs, < SITE_CIDR_MAX each */
	size_t n_local_ts;
	const char *const *remote_ts;
	size_t n_remote_ts;
	uint32_t mark, mark_mask;
	uint32_t if_id;
	uint32_t ike_lifetime_s;
	const char *ike_proposals;	/* < SITE_PROPOSALS_MAX */
	const char *esp_proposals;
	uint32_t child_lifetime_s;
	uint32_t ike_rekey_s, child_rekey_s;
	uint32_t max_child_sas;
	uint32_t dpd_interval_s;
	bool enabled;
	bool vendor_rules;		/* false: the peer is not a Netskope POP; the seeds' limits off */
	bool psk_short;			/* a PSK shorter than SITE_PSK_MIN accepted, on purpose */
	void *heap;			/* the fields' values: lib/site/site.c's alone */
};

/*
 * Which side the records describe (ikd.conf's role), for the rules that differ: a branch's
 * site (initiator) names the POPs it connects to, a primary and, under vendor-rules, a backup;
 * a gateway's site (responder) is a peer it accepts and needs no POP.
 */
enum site_role {
	SITE_ROLE_INITIATOR,
	SITE_ROLE_RESPONDER,
};

struct site_db {
	enum site_role role;		/* kept by site_db_clear */
	struct pop *pops;
	size_t n_pops;
	struct site *sites;
	size_t n_sites;
};

/*
 * Defaults: the seeds' recommended suites and lifetimes, 0.0.0.0/0 both ways, enabled.
 * Allocates nothing (cannot fail); a record from site_init() still wants site_clear().
 */
void site_init(struct site *s);
/* Frees what the record owns (the PSK wiped); it then reads as an empty record. */
void site_clear(struct site *s);
/*
 * A deep copy: dst owns copies of everything (PSK duplicated). -ENOMEM leaves dst cleared
 * (owning nothing). dst is overwritten, not cleared first.
 */
int site_copy(struct site *dst, const struct site *src);
/* The same without the PSK (dst->psk empty): a record kept for what it configured. */
int site_copy_nokey(struct site *dst, const struct site *src);
/*
 * Whether two records configure the same thing: every field by content, the PSK compared
 * in constant time.
 */
bool site_equal(const struct site *a, const struct site *b);
void pop_init(struct pop *p);

/*
 * Set one field from its text form (the store's and xfrmctl's "key value"). On error,
 * err says "FIELD 'VALUE': reason" (the PSK's value is never repeated), or "FIELD: out of
 * memory" (-ENOMEM), and s is unchanged.
 */
int site_set(struct site *s, const char *key, const char *value, char *err, size_t err_len);
int pop_set(struct pop *p, const char *key, const char *value, char *err, size_t err_len);
/* The PSK from bytes (a file, stdin, a prompt): 1..SITE_PSK_MAX bytes. */
int site_set_psk(struct site *s, const uint8_t *psk, size_t len, char *err, size_t err_len);

/*
 * Whole-record checks, against db (POPs referenced must exist; db->role decides whether POPs
 * are needed). Every check a change must pass, but the identity's uniqueness (the site_db_*
 * changes and the CSV import check that, with an index).
 */
int site_validate(const struct site *s, const struct site_db *db, char *err, size_t err_len);
/*
 * What a store must pass to load: site_validate without the rules added since stores were
 * first written (PSK length, source-ip and selector values) and without the role's POP
 * requirement (POPs named must still exist), so an upgrade never stops a working ikd and a
 * store loads whatever the role; a later change to such a site must pass them all.
 */
int site_validate_stored(const struct site *s, const struct site_db *db, char *err,
			 size_t err_len);
int pop_validate(const struct pop *p, char *err, size_t err_len);

/*
 * Whether two sites have the same IKE identity as a gateway compares them: the same type and
 * value, FQDN and email case-insensitively, addresses as addresses ("2001:db8::1" is
 * "2001:DB8:0::1"). site_id_hash() agrees with it.
 */
bool site_same_id(const struct site *a, const struct site *b);
uint32_t site_id_hash(const struct site *s);
/* "fqdn:b12.example.com": the identity as the store and xfrmctl write it. */
const char *site_id_text(const struct site *s, char *buf, size_t len);

const char *site_traffic_name(enum site_traffic t);
const char *site_id_type_name(enum site_id_type t);

const struct site *site_db_find(const struct site_db *db, const char *name);
const struct pop *site_db_find_pop(const struct site_db *db, const char *name);
void site_db_clear(struct site_db *db);

/*
 * Changes to the database. Each validates first and changes nothing when it fails; the bulk
 * ones are all or nothing. The database owns copies (PSKs duplicated).
 */
int site_db_add_pop(struct site_db *db, const struct pop *p, char *err, size_t err_len);
int site_db_edit_pop(struct site_db *db, const char *name, const char *const *kv, size_t n_kv,
		     char *err, size_t err_len);
/* Refused while a site uses the POP, naming the sites. */
int site_db_delete_pop(struct site_db *db, const char *name, char *err, size_t err_len);
int site_db_add_site(struct site_db *db, const struct site *s, char *err, size_t err_len);
/* kv: key, value, key, value ... (n_kv entries in all). */
int site_db_edit_site(struct site_db *db, const char *name, const char *const *kv, size_t n_kv,
		      char *err, size_t err_len);
/*
 * Rename a site, nothing else: its record keeps every field (the daemon keeps its tunnels and
 * SAs). -ENOENT without old, -EEXIST when new is taken, -EINVAL for a bad name.
 */
int site_db_rename_site(struct site_db *db, const char *old_name, const char *new_name,
			char *err, size_t err_len);
/* A site other than skip (a position, or -1) with s's identity, or NULL: a linear scan. */
const struct site *site_db_find_id(const struct site_db *db, const struct site *s,
				   ssize_t skip);
int site_db_set_enabled(struct site_db *db, const char *const *names, size_t n, bool enabled,
			char *err, size_t err_len);
int site_db_delete_sites(struct site_db *db, const char *const *names, size_t n, char *err,
			 size_t err_len);

/* `site list`: filters combine (all must match); empty strings and -1 match anything. */
struct site_filter {
	const char *name;		/* substring of the name */
	const char *id;			/* substring of the source identity */
	const char *pop;		/* primary or a backup */
	int traffic;			/* enum site_traffic, or -1 */
	int enabled;			/* 1, 0, or -1 */
	bool descending;		/* by name */
	size_t page;			/* from 1; SITE_PAGE_SIZE sites a page */
};

#define SITE_PAGE_SIZE 100

/*
 * The indices of the matching sites, sorted by name, for one page: *ret (malloc'd) has
 * *ret_n entries; *ret_total counts every match. -ENOMEM only.
 */
int site_db_select(const struct site_db *db, const struct site_filter *f, size_t **ret,
		   size_t *ret_n, size_t *ret_total);

#endif
