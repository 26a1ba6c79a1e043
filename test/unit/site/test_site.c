/* lib/site/site.c: every field's validation, with errors that name the field and value. */
#include "testutil.h"
#include "site/site.h"

static char err[SITE_ERR_MAX];

static bool same_list(const char *const *a, const char *const *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(a[i], b[i]))
			return false;
	return true;
}

/*
 * What the heap fields hold (the record's bytes, pointers included, are compared apart):
 * spelled out here rather than site_equal(), which is what is under test elsewhere.
 */
static bool same_heap(const struct site *a, const struct site *b)
{
	return !strcmp(a->id, b->id) && !strcmp(a->source_ip, b->source_ip) &&
	       !strcmp(a->primary, b->primary) && !strcmp(a->ike_proposals, b->ike_proposals) &&
	       !strcmp(a->esp_proposals, b->esp_proposals) && a->psk.len == b->psk.len &&
	       (!a->psk.len || !memcmp(a->psk.p, b->psk.p, a->psk.len)) &&
	       a->n_backups == b->n_backups && same_list(a->backups, b->backups, a->n_backups) &&
	       a->n_local_ts == b->n_local_ts && same_list(a->local_ts, b->local_ts, a->n_local_ts) &&
	       a->n_remote_ts == b->n_remote_ts &&
	       same_list(a->remote_ts, b->remote_ts, a->n_remote_ts);
}

/*
 * Refused, and the record unchanged: byte for byte (the same heap fields, none freed or
 * replaced), and what those hold against a deep copy taken before.
 */
#define REJECT(s, key, value, needle) do {						\
	struct site bytes_ = *(s), before_;						\
	ck_assert_int_eq(site_copy(&before_, (s)), 0);					\
	ck_assert_int_lt(site_set((s), (key), (value), err, sizeof(err)), 0);		\
	ck_assert_msg(strstr(err, (needle)) != NULL, "'%s' lacks '%s'", err, (needle));	\
	ck_assert(memcmp(&bytes_, (s), sizeof(bytes_)) == 0);				\
	ck_assert(same_heap(&before_, (s)));						\
	site_clear(&before_);								\
} while (0)

START_TEST(test_site_identity_types_inferred_and_explicit)
{
	struct site s;

	site_init(&s);
	ck_assert_int_eq(site_set(&s, "id", "branch-12.example.com", err, sizeof(err)), 0);
	ck_assert_int_eq(s.id_type, SITE_ID_FQDN);
	ck_assert_int_eq(site_set(&s, "id", "203.0.113.7", err, sizeof(err)), 0);
	ck_assert_int_eq(s.id_type, SITE_ID_IPV4);
	ck_assert_int_eq(site_set(&s, "id", "2001:db8::7", err, sizeof(err)), 0);
	ck_assert_int_eq(s.id_type, SITE_ID_IPV6);
	ck_assert_int_eq(site_set(&s, "id", "ops@branch.example.com", err, sizeof(err)), 0);
	ck_assert_int_eq(s.id_type, SITE_ID_EMAIL);
	ck_assert_int_eq(site_set(&s, "id", "fqdn:gw1", err, sizeof(err)), 0);
	ck_assert_str_eq(s.id, "gw1");
	REJECT(&s, "id", "ipv4:2001:db8::1", "id 'ipv4:2001:db8::1'");
	REJECT(&s, "id", "email:nobody", "not a valid email identity");
	REJECT(&s, "id", "bad..name", "id 'bad..name'");
	REJECT(&s, "id", "", "id ''");
	site_clear(&s);
}
END_TEST

START_TEST(test_site_fields_reject_bad_values_naming_them)
{
	struct site s;

	site_init(&s);
	REJECT(&s, "name", "has space", "name 'has space'");
	REJECT(&s, "name", "", "name ''");
	REJECT(&s, "source-ip", "300.1.1.1", "source-ip '300.1.1.1'");
	ck_assert_int_eq(site_set(&s, "source-ip", "", err, sizeof(err)), 0);	/* dynamic */
	REJECT(&s, "backups", "ams1,,lon1", "backups 'ams1,,lon1'");
	/* No backups (a gateway's site, or one POP without vendor-rules): site_validate() decides. */
	ck_assert_int_eq(site_set(&s, "backups", "", err, sizeof(err)), 0);
	ck_assert_uint_eq(s.n_backups, 0);
	REJECT(&s, "traffic", "Printers", "traffic 'Printers'");
	ck_assert_int_eq(site_set(&s, "traffic", "guest wifi", err, sizeof(err)), 0);
	ck_assert_int_eq(s.traffic, SITE_TRAFFIC_GUEST_WIFI);
	REJECT(&s, "local-ts", "10.0.0.0/33", "local-ts '10.0.0.0/33'");
	REJECT(&s, "remote-ts", "10.0.0.0", "remote-ts '10.0.0.0'");
	ck_assert_int_eq(site_set(&s, "local-ts", "10.1.0.0/24,2001:db8::/48", err, sizeof(err)), 0);
	ck_assert_uint_eq(s.n_local_ts, 2);
	REJECT(&s, "mark", "0x10/0x0f", "mark '0x10/0x0f'");
	ck_assert_int_eq(site_set(&s, "mark", "0x2a", err, sizeof(err)), 0);
	ck_assert_uint_eq(s.mark_mask, 0xffffffff);
	REJECT(&s, "if-id", "-1", "if-id '-1'");
	REJECT(&s, "ike-proposals", "3des-md5-modp1024", "encryption");
	REJECT(&s, "ike-proposals", "aes256-modp2048", "integrity missing");
	REJECT(&s, "ike-proposals", "aes256-sha256", "DH group missing");
	REJECT(&s, "esp-proposals", "aes256-sha256-modp1024", "unknown algorithm");
	REJECT(&s, "ike-lifetime", "0", "ike-lifetime '0'");
	REJECT(&s, "enabled", "maybe", "enabled 'maybe'");
	REJECT(&s, "colour", "blue", "colour: no such site field");
	/* A PSK is never a value on a line: it comes from a file or stdin. */
	REJECT(&s, "psk", "secret123", "psk:");
	ck_assert_ptr_null(strstr(err, "secret123"));
	site_clear(&s);
}
END_TEST

static struct pop pops[3];

static struct site_db db_with_pops(void)
{
	const char *names[] = { "fra1", "ams1", "lon1" };

	for (int i = 0; i < 3; i++) {
		pop_init(&pops[i]);
		ck_assert_int_eq(pop_set(&pops[i], "name", names[i], err, sizeof(err)), 0);
		ck_assert_int_eq(pop_set(&pops[i], "gateway", "198.51.100.1", err, sizeof(err)), 0);
	}
	return (struct site_db){ .pops = pops, .n_pops = 3 };
}

static void valid_site(struct site *s)
{
	site_init(s);
	ck_assert_int_eq(site_set(s, "name", "branch-12", err, sizeof(err)), 0);
	ck_assert_int_eq(site_set(s, "id", "branch-12.example.com", err, sizeof(err)), 0);
	ck_assert_int_eq(site_set_psk(s, (const uint8_t *)"k3y-of-20-bytes-ok!", 20, err,
				      sizeof(err)), 0);
	ck_assert_int_eq(site_set(s, "primary", "fra1", err, sizeof(err)), 0);
	ck_assert_int_eq(site_set(s, "backups", "ams1", err, sizeof(err)), 0);
}

START_TEST(test_site_whole_record_rules)
{
	struct site_db db = db_with_pops();
	struct site s;

	valid_site(&s);
	ck_assert_int_eq(site_validate(&s, &db, err, sizeof(err)), 0);
	/* Two POPs at least, never the same twice, and they must exist. */
	s.n_backups = 0;
	ck_assert_int_lt(site_validate(&s, &db, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "at least one backup POP"));
	ck_assert_int_eq(site_set(&s, "backups", "fra1", err, sizeof(err)), 0);
	ck_assert_int_lt(site_validate(&s, &db, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "the primary POP again"));
	ck_assert_int_eq(site_set(&s, "backups", "ams1,ams1", err, sizeof(err)), 0);
	ck_assert_int_lt(site_validate(&s, &db, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "listed twice"));
	ck_assert_int_eq(site_set(&s, "backups", "ams1,nyc9", err, sizeof(err)), 0);
	ck_assert_int_eq(site_validate(&s, &db, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "'nyc9': no such POP"));
	ck_assert_int_eq(site_set(&s, "backups", "ams1,lon1", err, sizeof(err)), 0);
	/* The seeds' 10-minute rule, the 10-Child-SA limit, the supported suites... */
	ck_assert_int_eq(site_set(&s, "child-rekey", "6700", err, sizeof(err)), 0);
	ck_assert_int_lt(site_validate(&s, &db, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "10 minutes"));
	ck_assert_int_eq(site_set(&s, "child-rekey", "6600", err, sizeof(err)), 0);
	ck_assert_int_eq(site_validate(&s, &db, err, sizeof(err)), 0);
	ck_assert_int_eq(site_set(&s, "max-child-sas", "11", err, sizeof(err)), 0);
	ck_assert_int_lt(site_validate(&s, &db, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "at most 10"));
	ck_assert_int_eq(site_set(&s, "max-child-sas", "10", err, sizeof(err)), 0);
	ck_assert_int_eq(site_set(&s, "ike-proposals", "aes256gcm16-prfsha256-x25519", err,
				  sizeof(err)), 0);
	ck_assert_int_lt(site_validate(&s, &db, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "supported suites"));
	/* ...unless the site opts out for a peer that is not one of those POPs. */
	ck_assert_int_eq(site_set(&s, "vendor-rules", "no", err, sizeof(err)), 0);
	ck_assert_int_eq(site_set(&s, "max-child-sas", "64", err, sizeof(err)), 0);
	ck_assert_int_eq(site_validate(&s, &db, err, sizeof(err)), 0);
	/* A PSK is required. */
	secret_clear(&s.psk);
	ck_assert_int_lt(site_validate(&s, &db, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "psk: missing"));
	site_clear(&s);
}
END_TEST

/* RFC 7296 §2.15: a short PSK falls to an offline search from one captured IKE_AUTH. */
START_TEST(test_site_short_psk_refused_unless_psk_short)
{
	struct site_db db = db_with_pops();
	struct site s;

	valid_site(&s);
	ck_assert_int_eq(site_set_psk(&s, (const uint8_t *)"fifteen-bytes!!", 15, err, sizeof(err)),
			 0);
	ck_assert_int_eq(site_validate(&s, &db, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "site 'branch-12' psk: 15 bytes, fewer than 16") &&
		      strstr(err, "RFC 7296 §2.15") && strstr(err, "psk-short yes"), "%s", err);
	ck_assert_ptr_null(strstr(err, "fifteen"));
	/* A store an earlier ikd wrote still loads with it. */
	ck_assert_int_eq(site_validate_stored(&s, &db, err, sizeof(err)), 0);
	/* Said explicitly, it is kept. */
	ck_assert_int_eq(site_set(&s, "psk-short", "yes", err, sizeof(err)), 0);
	ck_assert(s.psk_short);
	ck_assert_int_eq(site_validate(&s, &db, err, sizeof(err)), 0);
	REJECT(&s, "psk-short", "perhaps", "psk-short 'perhaps': yes or no");
	ck_assert_int_eq(site_set(&s, "psk-short", "no", err, sizeof(err)), 0);
	ck_assert_int_eq(site_set_psk(&s, (const uint8_t *)"sixteen-bytes!!!", 16, err, sizeof(err)),
			 0);
	ck_assert_int_eq(site_validate(&s, &db, err, sizeof(err)), 0);
	site_clear(&s);
}
END_TEST

static void refused(struct site *s, const struct site_db *db, const char *key, const char *value,
		    const char *needle)
{
	ck_assert_int_eq(site_set(s, key, value, err, sizeof(err)), 0);
	ck_assert_int_eq(site_validate(s, db, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, needle) != NULL, "'%s' lacks '%s'", err, needle);
	/* What an earlier ikd stored is loaded as it was. */
	ck_assert_int_eq(site_validate_stored(s, db, err, sizeof(err)), 0);
}

START_TEST(test_site_source_ip_must_be_a_peers_address)
{
	struct site_db db = db_with_pops();
	struct site s;

	valid_site(&s);
	refused(&s, &db, "source-ip", "0.0.0.0", "site 'branch-12' source-ip '0.0.0.0': the "
		"unspecified address");
	refused(&s, &db, "source-ip", "::", "source-ip '::': the unspecified address");
	refused(&s, &db, "source-ip", "224.0.0.5", "source-ip '224.0.0.5': a multicast address");
	refused(&s, &db, "source-ip", "239.255.255.250", "a multicast address");
	refused(&s, &db, "source-ip", "ff02::1", "source-ip 'ff02::1': a multicast address");
	refused(&s, &db, "source-ip", "255.255.255.255", "the broadcast address");
	ck_assert_ptr_nonnull(strstr(err, "leave it empty for a dynamic address"));
	for (const char *const *ok = (const char *const[]){ "192.0.2.1", "2001:db8::1", "", NULL };
	     *ok; ok++) {
		ck_assert_int_eq(site_set(&s, "source-ip", *ok, err, sizeof(err)), 0);
		ck_assert_msg(site_validate(&s, &db, err, sizeof(err)) == 0, "%s: %s", *ok, err);
	}
	site_clear(&s);
}
END_TEST

START_TEST(test_site_selector_with_host_bits_names_the_network)
{
	struct site_db db = db_with_pops();
	struct site s;

	valid_site(&s);
	refused(&s, &db, "local-ts", "10.1.1.5/24", "site 'branch-12' local-ts '10.1.1.5/24': host "
		"bits set; the network is 10.1.1.0/24");
	ck_assert_int_eq(site_set(&s, "local-ts", "10.1.1.0/24", err, sizeof(err)), 0);
	refused(&s, &db, "remote-ts", "10.2.0.0/16,192.168.1.1/16", "remote-ts '192.168.1.1/16': "
		"host bits set; the network is 192.168.0.0/16");
	refused(&s, &db, "remote-ts", "2001:db8::1/48", "the network is 2001:db8::/48");
	ck_assert_int_eq(site_set(&s, "remote-ts", "10.2.0.0/16,192.0.2.7/32,0.0.0.0/0", err,
				  sizeof(err)), 0);
	ck_assert_int_eq(site_set(&s, "local-ts", "10.1.1.0/24,2001:db8:1::/48", err, sizeof(err)),
			 0);
	ck_assert_msg(site_validate(&s, &db, err, sizeof(err)) == 0, "%s", err);
	site_clear(&s);
}
END_TEST

/* A branch's site names its POPs; a gateway's does not need any. */
START_TEST(test_site_pops_needed_by_role)
{
	struct site_db db = db_with_pops();
	struct site s;

	valid_site(&s);
	ck_assert_int_eq(site_set(&s, "backups", "", err, sizeof(err)), 0);
	ck_assert_int_eq(site_validate(&s, &db, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "site 'branch-12' backups: at least one backup POP") &&
		      strstr(err, "vendor-rules no for one POP"), "%s", err);
	/* One POP, for a peer that is not one of the vendor's POPs. */
	ck_assert_int_eq(site_set(&s, "vendor-rules", "no", err, sizeof(err)), 0);
	ck_assert_msg(site_validate(&s, &db, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(site_set(&s, "primary", "", err, sizeof(err)), 0);
	ck_assert_int_eq(site_validate(&s, &db, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "site 'branch-12' primary: missing"), "%s", err);
	/* A store loads whatever the role: the role's rules are for changes. */
	ck_assert_msg(site_validate_stored(&s, &db, err, sizeof(err)) == 0, "%s", err);
	/* On a gateway: no POP at all, whatever vendor-rules says. */
	db.role = SITE_ROLE_RESPONDER;
	ck_assert_msg(site_validate(&s, &db, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(site_set(&s, "vendor-rules", "yes", err, sizeof(err)), 0);
	ck_assert_msg(site_validate(&s, &db, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(site_validate_stored(&s, &db, err, sizeof(err)) == 0, "%s", err);
	/* POPs it names must still exist, and backups need a primary. */
	ck_assert_int_eq(site_set(&s, "backups", "ams1", err, sizeof(err)), 0);
	ck_assert_int_eq(site_validate(&s, &db, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "backups without a primary POP"));
	ck_assert_int_eq(site_set(&s, "primary", "nyc9", err, sizeof(err)), 0);
	ck_assert_int_eq(site_validate(&s, &db, err, sizeof(err)), -ENOENT);
	site_clear(&s);
}
END_TEST

START_TEST(test_site_same_identity_as_a_gateway_compares)
{
	struct site a, b;

	site_init(&a);
	site_init(&b);
	ck_assert_int_eq(site_set(&a, "id", "Branch-12.Example.COM", err, sizeof(err)), 0);
	ck_assert_int_eq(site_set(&b, "id", "fqdn:branch-12.example.com", err, sizeof(err)), 0);
	ck_assert(site_same_id(&a, &b));
	ck_assert_uint_eq(site_id_hash(&a), site_id_hash(&b));
	ck_assert_int_eq(site_set(&b, "id", "fqdn:branch-13.example.com", err, sizeof(err)), 0);
	ck_assert(!site_same_id(&a, &b));
	ck_assert_int_eq(site_set(&a, "id", "2001:DB8:0::1", err, sizeof(err)), 0);
	ck_assert_int_eq(site_set(&b, "id", "ipv6:2001:db8::1", err, sizeof(err)), 0);
	ck_assert(site_same_id(&a, &b));
	ck_assert_uint_eq(site_id_hash(&a), site_id_hash(&b));
	/* Another type is another identity on the wire, the same text or not. */
	ck_assert_int_eq(site_set(&a, "id", "192.0.2.1", err, sizeof(err)), 0);
	ck_assert_int_eq(site_set(&b, "id", "fqdn:192.0.2.1", err, sizeof(err)), 0);
	ck_assert(!site_same_id(&a, &b));
	ck_assert_int_eq(site_set(&a, "id", "Ops@Branch.example.com", err, sizeof(err)), 0);
	ck_assert_int_eq(site_set(&b, "id", "email:ops@branch.example.com", err, sizeof(err)), 0);
	ck_assert(site_same_id(&a, &b));
	site_clear(&a);
	site_clear(&b);
}
END_TEST

/* The fields on the heap (site.h): a copy shares none of them; records compare by content. */
START_TEST(test_site_copy_is_deep_and_equal_compares_contents)
{
	static const char *const set[][2] = {
		{ "id", "b7.example.com" }, { "source-ip", "192.0.2.9" }, { "primary", "fra1" },
		{ "backups", "ams1,lon1" }, { "local-ts", "10.1.0.0/24,10.3.0.0/16" },
		{ "remote-ts", "172.16.0.0/12" }, { "ike-proposals", "aes128-sha256-modp3072" },
		{ "esp-proposals", "aes128gcm16" },
	};
	static const char *const other[][2] = {
		{ "id", "b8.example.com" }, { "source-ip", "" }, { "primary", "lon1" },
		{ "backups", "ams1" }, { "local-ts", "10.1.0.0/24,10.3.0.0/17" },
		{ "remote-ts", "172.17.0.0/16" }, { "ike-proposals", "aes256-sha256-modp2048" },
		{ "esp-proposals", "aes256gcm16" }, { "name", "branch-13" }, { "enabled", "no" },
		{ "mark", "0x2a" }, { "dpd-interval", "30" }, { "psk-short", "yes" },
	};
	struct site a, b, c;

	valid_site(&a);
	for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++) {
		ck_assert_int_eq(site_set(&a, set[i][0], set[i][1], err, sizeof(err)), 0);
		/* The fields set before keep their values (they share one allocation). */
		ck_assert_str_eq(a.id, "b7.example.com");
		ck_assert_str_eq(a.primary, "fra1");
		ck_assert_str_eq(a.backups[0], "ams1");
		ck_assert_str_eq(a.local_ts[0], i >= 4 ? "10.1.0.0/24" : "0.0.0.0/0");
		ck_assert_str_eq(a.esp_proposals, i >= 7 ? "aes128gcm16" : "aes256gcm16,aes256-sha256");
	}
	ck_assert_int_eq(site_copy(&b, &a), 0);
	ck_assert(site_equal(&a, &b));
	ck_assert(site_equal(&b, &a));
	ck_assert_ptr_ne(a.id, b.id);
	ck_assert_ptr_ne(a.source_ip, b.source_ip);
	ck_assert_ptr_ne(a.primary, b.primary);
	ck_assert_ptr_ne(a.psk.p, b.psk.p);
	ck_assert_ptr_ne(a.backups, b.backups);
	ck_assert_ptr_ne(a.backups[1], b.backups[1]);
	ck_assert_ptr_ne(a.local_ts, b.local_ts);
	ck_assert_ptr_ne(a.remote_ts, b.remote_ts);
	ck_assert_ptr_ne(a.ike_proposals, b.ike_proposals);
	ck_assert_ptr_ne(a.esp_proposals, b.esp_proposals);
	/* Each field differing is a difference, and changing the copy leaves the original. */
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		ck_assert_int_eq(site_copy(&c, &a), 0);
		ck_assert_msg(site_set(&c, other[i][0], other[i][1], err, sizeof(err)) == 0, "%s",
			      err);
		ck_assert_msg(!site_equal(&a, &c), "%s", other[i][0]);
		ck_assert_msg(site_equal(&a, &b), "%s", other[i][0]);
		site_clear(&c);
	}
	/* The key: another of the same length differs, and a copy without it lacks it. */
	ck_assert_int_eq(site_copy(&c, &a), 0);
	ck_assert_int_eq(site_set_psk(&c, (const uint8_t *)"k3y-of-20-bytes-ok?", 20, err,
				      sizeof(err)), 0);
	ck_assert(!site_equal(&a, &c));
	site_clear(&c);
	ck_assert_int_eq(site_copy_nokey(&c, &a), 0);
	ck_assert_ptr_null(c.psk.p);
	ck_assert_uint_eq(c.psk.len, 0);
	ck_assert(!site_equal(&a, &c));
	ck_assert_int_eq(site_set_psk(&c, a.psk.p, a.psk.len, err, sizeof(err)), 0);
	ck_assert(site_equal(&a, &c));
	site_clear(&c);
	/* The original cleared, the copy is whole (under ASan: nothing freed under it)... */
	site_clear(&a);
	ck_assert_str_eq(b.id, "b7.example.com");
	ck_assert_str_eq(b.source_ip, "192.0.2.9");
	ck_assert_str_eq(b.primary, "fra1");
	ck_assert_uint_eq(b.n_backups, 2);
	ck_assert_str_eq(b.backups[0], "ams1");
	ck_assert_str_eq(b.backups[1], "lon1");
	ck_assert_uint_eq(b.n_local_ts, 2);
	ck_assert_str_eq(b.local_ts[1], "10.3.0.0/16");
	ck_assert_str_eq(b.remote_ts[0], "172.16.0.0/12");
	ck_assert_str_eq(b.ike_proposals, "aes128-sha256-modp3072");
	ck_assert_str_eq(b.esp_proposals, "aes128gcm16");
	ck_assert_mem_eq(b.psk.p, "k3y-of-20-bytes-ok!", 20);
	/* ...and the cleared one reads as an empty record. */
	ck_assert_str_eq(a.id, "");
	ck_assert_str_eq(a.source_ip, "");
	ck_assert_str_eq(a.primary, "");
	ck_assert_str_eq(a.ike_proposals, "");
	ck_assert_uint_eq(a.n_backups + a.n_local_ts + a.n_remote_ts, 0);
	ck_assert_ptr_null(a.psk.p);
	site_clear(&b);
}
END_TEST

/* What most sites hold is not allocated per site: the defaults and the empty fields. */
START_TEST(test_site_defaults_are_shared)
{
	struct site a, b, c;

	site_init(&a);
	site_init(&b);
	ck_assert_ptr_eq(a.ike_proposals, b.ike_proposals);
	ck_assert_ptr_eq(a.esp_proposals, b.esp_proposals);
	ck_assert_ptr_eq(a.local_ts, b.local_ts);
	ck_assert_ptr_eq(a.remote_ts, b.remote_ts);
	ck_assert_ptr_eq(a.id, b.id);
	ck_assert_ptr_null(a.backups);
	ck_assert_str_eq(a.local_ts[0], "0.0.0.0/0");
	ck_assert_str_eq(a.ike_proposals, "aes256-sha256-modp2048");
	ck_assert_str_eq(a.esp_proposals, "aes256gcm16,aes256-sha256");
	ck_assert_int_eq(site_set(&a, "ike-proposals", "aes128-sha256-modp2048", err, sizeof(err)),
			 0);
	ck_assert_int_eq(site_set(&a, "local-ts", "10.0.0.0/8", err, sizeof(err)), 0);
	ck_assert_ptr_ne(a.ike_proposals, b.ike_proposals);
	ck_assert_ptr_ne(a.local_ts, b.local_ts);
	ck_assert_int_eq(site_copy(&c, &a), 0);
	ck_assert_ptr_ne(c.local_ts, a.local_ts);
	ck_assert_ptr_eq(c.remote_ts, b.remote_ts);
	ck_assert_ptr_eq(c.esp_proposals, b.esp_proposals);
	site_clear(&c);
	/* Set back to the defaults (as a store or a CSV writes them): shared again. */
	ck_assert_int_eq(site_set(&a, "ike-proposals", "aes256-sha256-modp2048", err, sizeof(err)),
			 0);
	ck_assert_int_eq(site_set(&a, "local-ts", "0.0.0.0/0", err, sizeof(err)), 0);
	ck_assert_int_eq(site_set(&a, "backups", "", err, sizeof(err)), 0);
	ck_assert_ptr_eq(a.ike_proposals, b.ike_proposals);
	ck_assert_ptr_eq(a.local_ts, b.local_ts);
	ck_assert_ptr_null(a.backups);
	ck_assert(site_equal(&a, &b));
	site_clear(&a);
	site_clear(&b);
}
END_TEST

START_TEST(test_pop_fields)
{
	struct pop p;

	pop_init(&p);
	ck_assert(p.accepting);
	ck_assert_int_eq(pop_set(&p, "name", "fra1", err, sizeof(err)), 0);
	ck_assert_int_lt(pop_validate(&p, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "gateway: missing"));
	ck_assert_int_lt(pop_set(&p, "gateway", "gw.example", err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "gateway 'gw.example'"));
	ck_assert_int_eq(pop_set(&p, "gateway", "2001:db8::1", err, sizeof(err)), 0);
	ck_assert_int_eq(pop_set(&p, "location", "Frankfurt, DE", err, sizeof(err)), 0);
	ck_assert_int_lt(pop_set(&p, "location", "bad\x01text", err, sizeof(err)), 0);
	ck_assert_int_lt(pop_set(&p, "location", "\xc3\x28", err, sizeof(err)), 0);	/* bad UTF-8 */
	ck_assert_int_eq(pop_set(&p, "location", "M\xc3\xbcnchen", err, sizeof(err)), 0);
	ck_assert_int_eq(pop_set(&p, "accepting", "no", err, sizeof(err)), 0);
	ck_assert(!p.accepting);
	ck_assert_int_eq(pop_validate(&p, err, sizeof(err)), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("site");
	TCase *tc = tcase_create("site");

	tcase_add_test(tc, test_site_identity_types_inferred_and_explicit);
	tcase_add_test(tc, test_site_fields_reject_bad_values_naming_them);
	tcase_add_test(tc, test_site_whole_record_rules);
	tcase_add_test(tc, test_site_short_psk_refused_unless_psk_short);
	tcase_add_test(tc, test_site_source_ip_must_be_a_peers_address);
	tcase_add_test(tc, test_site_selector_with_host_bits_names_the_network);
	tcase_add_test(tc, test_site_pops_needed_by_role);
	tcase_add_test(tc, test_site_same_identity_as_a_gateway_compares);
	tcase_add_test(tc, test_site_copy_is_deep_and_equal_compares_contents);
	tcase_add_test(tc, test_site_defaults_are_shared);
	tcase_add_test(tc, test_pop_fields);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
