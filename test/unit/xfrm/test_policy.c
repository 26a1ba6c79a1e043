/*
 * lib/xfrm against the running kernel, in a private network namespace (root; skipped with a
 * reason otherwise): policies with marks, if_id, ports and templates, updated in place as a
 * failover does, deleted, dumped; batches with every ACK matched to its request; SPI
 * allocation; the ESP capability probe. SAs need ESP: without it here they are skipped with a
 * line saying so, and the VM suite runs them.
 */
#include <sched.h>
#include <unistd.h>

#include "testutil.h"
#include "xfrm/xfrm.h"

static struct xfrm_sock xs;

static void setup(void)
{
	ck_assert_int_eq(unshare(CLONE_NEWNET), 0);
	ck_assert_int_eq(system("ip link set lo up"), 0);
	ck_assert_int_eq(xfrm_open(&xs), 0);
}

static void teardown(void)
{
	xfrm_close(&xs);
}

static struct xfrm_policy out_policy(const char *src_net, uint8_t src_plen, const char *gw_src,
				     const char *gw_dst, uint32_t mark)
{
	struct xfrm_policy p = { .dir = XFRM_POLICY_OUT, .action = XFRM_POLICY_ALLOW,
				 .priority = 1000, .mark = mark, .mark_mask = 0xffffffff,
				 .n_tmpls = 1 };

	ck_assert_int_eq(xfrm_addr_parse(src_net, &p.sel.src), 0);
	ck_assert_int_eq(xfrm_addr_parse(p.sel.src.family == AF_INET ? "0.0.0.0" : "::",
					 &p.sel.dst), 0);
	p.sel.src_plen = src_plen;
	p.tmpl[0].proto = IPPROTO_ESP;
	p.tmpl[0].mode = XFRM_MODE_TUNNEL;
	p.tmpl[0].reqid = 7;
	ck_assert_int_eq(xfrm_addr_parse(gw_src, &p.tmpl[0].src), 0);
	ck_assert_int_eq(xfrm_addr_parse(gw_dst, &p.tmpl[0].dst), 0);
	return p;
}

struct collect {
	size_t n;
	struct xfrm_policy p[8];
};

static int collect(const struct xfrm_policy *p, void *arg)
{
	struct collect *c = arg;

	if (c->n < 8)
		c->p[c->n] = *p;
	c->n++;
	return 0;
}

START_TEST(test_xfrm_policy_add_dump_update_delete)
{
	struct xfrm_policy p = out_policy("10.1.0.0", 16, "192.0.2.1", "198.51.100.1", 0x42);
	struct xfrm_err err;
	struct collect c = { 0 };

	p.if_id = 9;
	p.sel.proto = IPPROTO_TCP;
	p.sel.dport = 443;
	ck_assert_int_eq(xfrm_policy_add(&xs, &p, false, &err), 0);
	ck_assert_int_eq(xfrm_policy_dump(&xs, 0x42, 0xffffffff, collect, &c, &err), 0);
	ck_assert_uint_eq(c.n, 1);
	ck_assert_uint_eq(c.p[0].dir, XFRM_POLICY_OUT);
	ck_assert_uint_eq(c.p[0].priority, 1000);
	ck_assert_uint_eq(c.p[0].mark, 0x42);
	ck_assert_uint_eq(c.p[0].if_id, 9);
	ck_assert_uint_eq(c.p[0].sel.src_plen, 16);
	ck_assert_uint_eq(c.p[0].sel.proto, IPPROTO_TCP);
	ck_assert_uint_eq(c.p[0].sel.dport, 443);
	ck_assert_uint_eq(c.p[0].n_tmpls, 1);
	ck_assert_uint_eq(c.p[0].tmpl[0].reqid, 7);
	ck_assert_uint_eq(c.p[0].tmpl[0].mode, XFRM_MODE_TUNNEL);
	ck_assert(!c.p[0].tmpl[0].optional);
	ck_assert_mem_eq(&c.p[0].tmpl[0].dst.a.a4, &p.tmpl[0].dst.a.a4, 4);

	/* A second add of the same policy is refused, with the kernel's errno. */
	ck_assert_int_eq(xfrm_policy_add(&xs, &p, false, &err), -EEXIST);
	ck_assert_int_eq(err.code, -EEXIST);

	/* Failover: one UPDPOLICY moves the template to another gateway. */
	ck_assert_int_eq(xfrm_addr_parse("203.0.113.9", &p.tmpl[0].dst), 0);
	ck_assert_int_eq(xfrm_policy_add(&xs, &p, true, &err), 0);
	c.n = 0;
	ck_assert_int_eq(xfrm_policy_dump(&xs, 0x42, 0xffffffff, collect, &c, &err), 0);
	ck_assert_uint_eq(c.n, 1);
	ck_assert_mem_eq(&c.p[0].tmpl[0].dst.a.a4, "\xcb\x00\x71\x09", 4);

	/* An inbound policy whose template is optional (it lets clear packets by) says so back. */
	{
		struct xfrm_policy in = p;

		in.dir = XFRM_POLICY_IN;
		in.mark = 0x43;
		in.tmpl[0].optional = true;
		ck_assert_int_eq(xfrm_policy_add(&xs, &in, false, &err), 0);
		c.n = 0;
		ck_assert_int_eq(xfrm_policy_dump(&xs, 0x43, 0xffffffff, collect, &c, &err), 0);
		ck_assert_uint_eq(c.n, 1);
		ck_assert_uint_eq(c.p[0].dir, XFRM_POLICY_IN);
		ck_assert(c.p[0].tmpl[0].optional);
		ck_assert_int_eq(xfrm_policy_delete(&xs, &in, &err), 0);
	}

	/* Fail-closed: the same policy as a block. */
	p.action = XFRM_POLICY_BLOCK;
	p.n_tmpls = 0;
	ck_assert_int_eq(xfrm_policy_add(&xs, &p, true, &err), 0);
	c.n = 0;
	ck_assert_int_eq(xfrm_policy_dump(&xs, 0x42, 0xffffffff, collect, &c, &err), 0);
	ck_assert_uint_eq(c.p[0].action, XFRM_POLICY_BLOCK);
	ck_assert_uint_eq(c.p[0].n_tmpls, 0);

	ck_assert_int_eq(xfrm_policy_delete(&xs, &p, &err), 0);
	ck_assert_int_eq(xfrm_policy_delete(&xs, &p, &err), -ENOENT);
	c.n = 0;
	ck_assert_int_eq(xfrm_policy_dump(&xs, 0, 0, collect, &c, &err), 0);
	ck_assert_uint_eq(c.n, 0);
}
END_TEST

START_TEST(test_xfrm_policy_marks_and_if_id_are_part_of_the_identity)
{
	struct xfrm_policy a = out_policy("2001:db8:1::", 48, "2001:db8::1", "2001:db8::2", 1);
	struct xfrm_policy b = a;
	struct xfrm_err err;
	struct collect c = { 0 };

	b.mark = 2;
	ck_assert_int_eq(xfrm_policy_add(&xs, &a, false, &err), 0);
	ck_assert_int_eq(xfrm_policy_add(&xs, &b, false, &err), 0);
	b.mark = 0;
	b.mark_mask = 0;
	b.if_id = 5;
	ck_assert_int_eq(xfrm_policy_add(&xs, &b, false, &err), 0);
	ck_assert_int_eq(xfrm_policy_dump(&xs, 0, 0, collect, &c, &err), 0);
	ck_assert_uint_eq(c.n, 3);
	c.n = 0;
	ck_assert_int_eq(xfrm_policy_dump(&xs, 2, 0xffffffff, collect, &c, &err), 0);
	ck_assert_uint_eq(c.n, 1);
	ck_assert_uint_eq(c.p[0].sel.src.family, AF_INET6);
	ck_assert_uint_eq(c.p[0].sel.src_plen, 48);
	ck_assert_int_eq(xfrm_policy_delete(&xs, &b, &err), 0);
	c.n = 0;
	ck_assert_int_eq(xfrm_policy_dump(&xs, 0, 0, collect, &c, &err), 0);
	ck_assert_uint_eq(c.n, 2);
}
END_TEST

START_TEST(test_xfrm_batch_matches_every_ack_to_its_request)
{
	struct xfrm_batch b;
	struct collect c = { 0 };
	struct xfrm_err err;
	const int n = 1500;

	ck_assert_int_eq(xfrm_batch_begin(&b, &xs), 0);
	for (int i = 0; i < n; i++) {
		struct xfrm_policy p = out_policy("10.0.0.0", 32, "192.0.2.1", "198.51.100.1",
						  0x1000 + (uint32_t)i);

		ck_assert_int_eq(xfrm_batch_policy_add(&b, &p, false), 0);
	}
	ck_assert_int_eq(xfrm_batch_commit(&b), 0);
	xfrm_batch_clear(&b);

	/* A second batch: request 3 is a duplicate, request 5 deletes a policy that never was. */
	ck_assert_int_eq(xfrm_batch_begin(&b, &xs), 0);
	for (int i = 0; i < 8; i++) {
		struct xfrm_policy p = out_policy("10.0.0.0", 32, "192.0.2.1", "198.51.100.1",
						  (i == 3 ? 0x1000 : 0x9000) + (uint32_t)i);

		if (i == 5)
			ck_assert_int_eq(xfrm_batch_policy_delete(&b, &p), 0);
		else
			ck_assert_int_eq(xfrm_batch_policy_add(&b, &p, false), 0);
	}
	ck_assert_int_eq(xfrm_batch_commit(&b), 2);
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(b.results[i], i == 3 ? -EEXIST : i == 5 ? -ENOENT : 0);
	ck_assert_int_eq(b.err.code, -EEXIST);	/* the first failure's */
	xfrm_batch_clear(&b);
	/*
	 * Only the last request asks for an ACK: one that fails is still told apart from the
	 * successes before it, which the kernel does not answer.
	 */
	ck_assert_int_eq(xfrm_batch_begin(&b, &xs), 0);
	for (int i = 0; i < 3; i++) {
		struct xfrm_policy p = out_policy("10.0.0.0", 32, "192.0.2.1", "198.51.100.1",
						  (i == 2 ? 0x1000 : 0xa000) + (uint32_t)i);

		ck_assert_int_eq(xfrm_batch_policy_add(&b, &p, false), 0);
	}
	ck_assert_int_eq(xfrm_batch_commit(&b), 1);
	ck_assert_int_eq(b.results[0], 0);
	ck_assert_int_eq(b.results[1], 0);
	ck_assert_int_eq(b.results[2], -EEXIST);
	ck_assert_int_eq(b.err.code, -EEXIST);
	xfrm_batch_clear(&b);
	ck_assert_int_eq(xfrm_policy_dump(&xs, 0, 0, collect, &c, &err), 0);
	ck_assert_uint_eq(c.n, (size_t)n + 6 + 2);
}
END_TEST

START_TEST(test_xfrm_spi_alloc_in_range)
{
	struct xfrm_addr src, dst;
	struct xfrm_err err;
	uint32_t spi = 0;

	ck_assert_int_eq(xfrm_addr_parse("192.0.2.1", &src), 0);
	ck_assert_int_eq(xfrm_addr_parse("198.51.100.1", &dst), 0);
	ck_assert_int_eq(xfrm_spi_alloc(&xs, &src, &dst, IPPROTO_ESP, 3, 0x1000, 0x1fff, &spi, &err),
			 0);
	ck_assert_uint_ge(spi, 0x1000);
	ck_assert_uint_le(spi, 0x1fff);
	ck_assert_int_eq(xfrm_sa_delete(&xs, &dst, spi, IPPROTO_ESP, 0, 0, &err), 0);
	ck_assert_int_eq(xfrm_sa_delete(&xs, &dst, spi, IPPROTO_ESP, 0, 0, &err), -ESRCH);
}
END_TEST

/* True when /proc/config.gz says the option is built in or a module. */
static bool kernel_has(const char *option)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "zcat /proc/config.gz 2>/dev/null | grep -qE '^%s=(y|m)$'",
		 option);
	return system(cmd) == 0;
}

static bool kernel_config_readable(void)
{
	return access("/proc/config.gz", R_OK) == 0;
}

START_TEST(test_xfrm_probe_names_the_missing_kernel_option)
{
	static const uint8_t key[36];
	struct xfrm_alg aead = { "rfc4106(gcm(aes))", key, 36, 128 };
	struct xfrm_alg cbc = { "cbc(aes)", key, 16, 0 };
	struct xfrm_alg sha = { "hmac(sha256)", key, 32, 128 };
	const char *option = NULL;
	struct xfrm_err err;
	int rc;

	rc = xfrm_probe_esp(&xs, &cbc, &sha, NULL, &option, &err);
	if (rc == 0) {
		printf("xfrm probe: this kernel has ESP with cbc(aes)/hmac(sha256)\n");
		ck_assert_ptr_null(option);
		if (kernel_config_readable())
			ck_assert(kernel_has("CONFIG_INET_ESP"));
	} else {
		ck_assert_ptr_nonnull(option);
		printf("xfrm probe: %s (%s): needs %s\n", strerror(-rc), err.msg, option);
		if (kernel_config_readable() && !kernel_has("CONFIG_INET_ESP"))
			ck_assert_str_eq(option, "CONFIG_INET_ESP");
	}
	rc = xfrm_probe_esp(&xs, NULL, NULL, &aead, &option, &err);
	if (rc != 0) {
		ck_assert_ptr_nonnull(option);
		if (kernel_config_readable() && kernel_has("CONFIG_INET_ESP") &&
		    !kernel_has("CONFIG_CRYPTO_GCM"))
			ck_assert_str_eq(option, "CONFIG_CRYPTO_GCM");
	}
	/* Nothing of the probe stays behind. */
	ck_assert_int_eq(system("test -z \"$(ip xfrm state)\""), 0);
}
END_TEST

/* The SA of a suite, as ikd installs it: tunnel mode between two addresses of family af. */
static struct xfrm_sa suite_sa(const char *suite, int af)
{
	static const uint8_t key[68];
	struct xfrm_sa sa = { .proto = IPPROTO_ESP, .mode = XFRM_MODE_TUNNEL, .replay_window = 64,
			      .spi = 0xc0de0000u | (unsigned)af };

	ck_assert_int_eq(xfrm_addr_parse(af == AF_INET6 ? "2001:db8::1" : "192.0.2.1", &sa.src), 0);
	ck_assert_int_eq(xfrm_addr_parse(af == AF_INET6 ? "2001:db8::2" : "192.0.2.2", &sa.dst), 0);
	if (strcmp(suite, "aes256gcm16") == 0) {
		sa.aead = (struct xfrm_alg){ "rfc4106(gcm(aes))", key, 36, 128 };
	} else if (strcmp(suite, "chacha20poly1305") == 0) {
		sa.aead = (struct xfrm_alg){ "rfc7539esp(chacha20,poly1305)", key, 36, 128 };
	} else if (strcmp(suite, "aes128-sha256") == 0) {
		sa.encr = (struct xfrm_alg){ "cbc(aes)", key, 16, 0 };
		sa.integ = (struct xfrm_alg){ "hmac(sha256)", key, 32, 128 };
	} else if (strcmp(suite, "aes256-sha512") == 0) {
		sa.encr = (struct xfrm_alg){ "cbc(aes)", key, 32, 0 };
		sa.integ = (struct xfrm_alg){ "hmac(sha512)", key, 64, 256 };
	} else if (strcmp(suite, "aes128-sha384-natt") == 0) {
		sa.encr = (struct xfrm_alg){ "cbc(aes)", key, 16, 0 };
		sa.integ = (struct xfrm_alg){ "hmac(sha384)", key, 48, 192 };
		sa.encap_sport = sa.encap_dport = 4500;
	} else {
		ck_abort_msg("no suite %s", suite);
	}
	return sa;
}

static const char *missing_for(const char *suite, int af, int rc, const char *msg)
{
	struct xfrm_sa sa = suite_sa(suite, af);
	struct xfrm_err err = { .code = rc };

	snprintf(err.msg, sizeof(err.msg), "%s", msg);
	return xfrm_sa_missing_option(&sa, rc, &err);
}

/*
 * The option a refused SA needs, from the kernel's answer (as Linux 6.x words it) and the
 * SA's own suite and family: not one option found at start-up for another suite.
 */
START_TEST(test_xfrm_sa_missing_option_names_what_that_suite_needs)
{
	static const char type[] = "Requested type not found";
	static const char aead[] = "Requested AEAD algorithm not found";

	/* No ESP for the family: the first thing the kernel looks up after the algorithms. */
	ck_assert_str_eq(missing_for("aes128-sha256", AF_INET, -EPROTONOSUPPORT, type),
			 "CONFIG_INET_ESP");
	ck_assert_str_eq(missing_for("aes128-sha256", AF_INET6, -EPROTONOSUPPORT, type),
			 "CONFIG_INET6_ESP");
	/* UDP encapsulation (RFC 3948) is part of esp4/esp6: the same options. */
	ck_assert_str_eq(missing_for("aes128-sha384-natt", AF_INET, -EPROTONOSUPPORT, type),
			 "CONFIG_INET_ESP");
	ck_assert_str_eq(missing_for("aes128-sha384-natt", AF_INET6, -EPROTONOSUPPORT, type),
			 "CONFIG_INET6_ESP");
	ck_assert_str_eq(missing_for("aes256gcm16", AF_INET6, -EPROTONOSUPPORT, type),
			 "CONFIG_INET6_ESP");
	/* An algorithm the crypto API does not have (-ENOSYS from the lookup). */
	ck_assert_str_eq(missing_for("aes256gcm16", AF_INET, -ENOSYS, aead), "CONFIG_CRYPTO_GCM");
	ck_assert_str_eq(missing_for("chacha20poly1305", AF_INET, -ENOSYS, aead),
			 "CONFIG_CRYPTO_CHACHA20POLY1305");
	ck_assert_str_eq(missing_for("aes128-sha256", AF_INET, -ENOSYS,
				     "Requested encryption algorithm not found"),
			 "CONFIG_CRYPTO_CBC");
	ck_assert_str_eq(missing_for("aes128-sha256", AF_INET, -ENOSYS,
				     "Requested auth algorithm not found"),
			 "CONFIG_CRYPTO_SHA256");
	ck_assert_str_eq(missing_for("aes256-sha512", AF_INET6, -ENOSYS,
				     "Requested auth algorithm not found"),
			 "CONFIG_CRYPTO_SHA512");
	ck_assert_str_eq(missing_for("aes128-sha384-natt", AF_INET, -ENOSYS,
				     "Requested auth algorithm not found"),
			 "CONFIG_CRYPTO_SHA512");
	/* Without the kernel's words: the suite's cipher. */
	ck_assert_str_eq(missing_for("chacha20poly1305", AF_INET, -ENOSYS, ""),
			 "CONFIG_CRYPTO_CHACHA20POLY1305");
	/* Refusals that are not a missing feature name none. */
	ck_assert_ptr_null(missing_for("aes256gcm16", AF_INET, -EEXIST, ""));
	ck_assert_ptr_null(missing_for("aes256gcm16", AF_INET, -EINVAL, "Invalid key length"));
	ck_assert_ptr_null(missing_for("aes256gcm16", AF_INET, -ENOMEM, ""));
}
END_TEST

/*
 * The same against this kernel: each suite refused names an option /proc/config.gz says is
 * missing (the host has no ESP and no GCM, the VM kernel has both and refuses none).
 */
START_TEST(test_xfrm_sa_missing_option_matches_this_kernel)
{
	static const char *const suites[] = { "aes256gcm16", "chacha20poly1305", "aes128-sha256",
					      "aes256-sha512", "aes128-sha384-natt" };
	static const int afs[] = { AF_INET, AF_INET6 };

	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
		for (size_t j = 0; j < 2; j++) {
			struct xfrm_sa sa = suite_sa(suites[i], afs[j]);
			struct xfrm_err err = { 0 };
			const char *option;
			int rc = xfrm_sa_add(&xs, &sa, false, &err);

			if (rc == 0) {
				printf("xfrm: %s over IPv%c: installed\n", suites[i],
				       afs[j] == AF_INET ? '4' : '6');
				ck_assert_int_eq(xfrm_sa_delete(&xs, &sa.dst, sa.spi, IPPROTO_ESP,
								0, 0, &err), 0);
				continue;
			}
			option = xfrm_sa_missing_option(&sa, rc, &err);
			printf("xfrm: %s over IPv%c: %s (%s): %s\n", suites[i],
			       afs[j] == AF_INET ? '4' : '6', strerror(-rc), err.msg,
			       option ? option : "no option named");
			ck_assert_ptr_nonnull(option);
			if (kernel_config_readable())
				ck_assert_msg(!kernel_has(option), "%s named, but this kernel has it",
					      option);
		}
	}
	if (kernel_config_readable() && !kernel_has("CONFIG_CRYPTO_GCM")) {
		struct xfrm_sa sa = suite_sa("aes256gcm16", AF_INET);
		struct xfrm_err err = { 0 };
		int rc = xfrm_sa_add(&xs, &sa, false, &err);

		ck_assert_str_eq(xfrm_sa_missing_option(&sa, rc, &err), "CONFIG_CRYPTO_GCM");
	}
	if (kernel_config_readable() && !kernel_has("CONFIG_INET6_ESP")) {
		struct xfrm_sa sa = suite_sa("aes128-sha256", AF_INET6);
		struct xfrm_err err = { 0 };
		int rc = xfrm_sa_add(&xs, &sa, false, &err);

		if (kernel_has("CONFIG_CRYPTO_CBC") && kernel_has("CONFIG_CRYPTO_SHA256"))
			ck_assert_str_eq(xfrm_sa_missing_option(&sa, rc, &err), "CONFIG_INET6_ESP");
	}
}
END_TEST

struct sa_seen {
	int n;
	struct xfrm_sa_entry e;
};

static int sa_seen(const struct xfrm_sa_entry *sa, void *arg)
{
	struct sa_seen *s = arg;

	s->e = *sa;
	s->n++;
	return 0;
}

START_TEST(test_xfrm_sa_dump_filters_by_mark_and_reqid)
{
	struct xfrm_addr src, dst;
	struct xfrm_err err;
	struct sa_seen seen = { 0 };
	uint32_t spi1, spi2;

	/* Larval SAs from ALLOCSPI are enough to dump (they need no ESP). */
	ck_assert_int_eq(xfrm_addr_parse("192.0.2.1", &src), 0);
	ck_assert_int_eq(xfrm_addr_parse("198.51.100.1", &dst), 0);
	ck_assert_int_eq(xfrm_spi_alloc(&xs, &src, &dst, IPPROTO_ESP, 11, 0x100, 0x1ff, &spi1, &err),
			 0);
	ck_assert_int_eq(xfrm_spi_alloc(&xs, &src, &dst, IPPROTO_ESP, 12, 0x200, 0x2ff, &spi2, &err),
			 0);
	ck_assert_int_eq(xfrm_sa_dump(&xs, 0, 0, 0, sa_seen, &seen, &err), 0);
	ck_assert_int_eq(seen.n, 2);
	seen.n = 0;
	ck_assert_int_eq(xfrm_sa_dump(&xs, 0, 0, 12, sa_seen, &seen, &err), 0);
	ck_assert_int_eq(seen.n, 1);
	ck_assert_uint_eq(seen.e.spi, spi2);
	ck_assert_uint_eq(seen.e.reqid, 12);
	ck_assert_uint_eq(ntohl(seen.e.dst.a.a4), 0xc6336401);
	seen.n = 0;
	ck_assert_int_eq(xfrm_sa_dump(&xs, 0x99, 0xff, 0, sa_seen, &seen, &err), 0);
	ck_assert_int_eq(seen.n, 0);
}
END_TEST

static bool kernel_has_esp(void)
{
	static const uint8_t key[36];
	struct xfrm_alg aead = { "rfc4106(gcm(aes))", key, 36, 128 };
	const char *option;

	return xfrm_probe_esp(&xs, NULL, NULL, &aead, &option, NULL) == 0;
}

START_TEST(test_xfrm_sa_every_attribute_add_get_update_delete)
{
	static const uint8_t key[64] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
	struct xfrm_sa sa = { .proto = IPPROTO_ESP, .mode = XFRM_MODE_TUNNEL, .spi = 0xc1d2e3f4,
			      .reqid = 42, .encr = { "cbc(aes)", key, 32, 0 },
			      .integ = { "hmac(sha512)", key, 64, 256 }, .replay_window = 0,
			      .mark = 0x10, .mark_mask = 0xff, .if_id = 33, .set_mark = 0x200,
			      .set_mark_mask = 0xf00, .encap_sport = 4500, .encap_dport = 4500,
			      .lft = { .soft_add_s = 6600, .hard_add_s = 7200,
				       .soft_bytes = 1000000, .hard_bytes = 2000000 } };
	struct xfrm_sa_stats st;
	struct xfrm_err err;

	if (!kernel_has_esp()) {
		printf("xfrm SA test skipped: this kernel has no ESP (CONFIG_INET_ESP); "
		       "test/vm/run-suite runs it under a kernel that has\n");
		return;
	}
	ck_assert_int_eq(xfrm_addr_parse("192.0.2.1", &sa.src), 0);
	ck_assert_int_eq(xfrm_addr_parse("198.51.100.1", &sa.dst), 0);
	ck_assert_int_eq(xfrm_sa_add(&xs, &sa, false, &err), 0);
	ck_assert_int_eq(xfrm_sa_add(&xs, &sa, false, &err), -EEXIST);
	ck_assert_int_eq(xfrm_sa_get(&xs, &sa.dst, sa.spi, IPPROTO_ESP, 0x10, 0xff, &st, &err), 0);
	ck_assert_uint_eq(st.bytes, 0);
	ck_assert_uint_gt(st.add_time, 0);
	ck_assert_uint_eq(st.use_time, 0);
	/* What the kernel holds, as ip(8) shows it. */
	ck_assert_int_eq(system("ip xfrm state | grep -q 'replay-window 0' && "
				"ip xfrm state | grep -q 'auth-trunc hmac(sha512) .* 256' && "
				"ip xfrm state | grep -q 'encap type espinudp sport 4500 dport 4500' && "
				"ip xfrm state | grep -q 'mark 0x10/0xff' && "
				"ip xfrm state | grep -q 'if_id 0x21' && "
				"ip xfrm state | grep -q 'output-mark 0x200/0xf00'"), 0);
	/* UPDSA replaces the lifetimes in place. */
	sa.lft.hard_add_s = 7300;
	ck_assert_int_eq(xfrm_sa_add(&xs, &sa, true, &err), 0);
	ck_assert_int_eq(system("ip -s xfrm state | grep -q 'hard 7300(sec)'"), 0);
	ck_assert_int_eq(xfrm_sa_delete(&xs, &sa.dst, sa.spi, IPPROTO_ESP, 0x10, 0xff, &err), 0);
	/* ESN with a 128-packet window. */
	sa.esn = true;
	sa.replay_window = 128;
	ck_assert_int_eq(xfrm_sa_add(&xs, &sa, false, &err), 0);
	ck_assert_int_eq(system("ip -s xfrm state | grep -q 'flag esn' && "
				"ip -s xfrm state | grep -q 'replay_window 128'"), 0);
	ck_assert_int_eq(xfrm_sa_delete(&xs, &sa.dst, sa.spi, IPPROTO_ESP, 0x10, 0xff, &err), 0);
	ck_assert_int_eq(xfrm_sa_get(&xs, &sa.dst, sa.spi, IPPROTO_ESP, 0x10, 0xff, &st, &err),
			 -ESRCH);
	/* A missing algorithm is the kernel's error, with its words. */
	sa.encr.name = "cbc(nosuchcipher)";
	ck_assert_int_lt(xfrm_sa_add(&xs, &sa, false, &err), 0);
	ck_assert_str_ne(err.msg, "");
}
END_TEST

START_TEST(test_xfrm_interface_create_delete_or_name_the_option)
{
	const char *option = NULL;
	struct xfrm_err err;
	int rc = xfrm_probe_link(&option, &err);

	if (rc < 0) {
		ck_assert_int_eq(rc, -EOPNOTSUPP);
		ck_assert_str_eq(option, "CONFIG_XFRM_INTERFACE");
		printf("xfrm interfaces: %s (%s): needs %s; test/vm/run-suite runs the rest\n",
		       strerror(-rc), err.msg, option);
		if (kernel_config_readable())
			ck_assert(!kernel_has("CONFIG_XFRM_INTERFACE"));
		return;
	}
	ck_assert_int_eq(xfrm_link_add("ikdx5", 0, 5, &err), 0);
	ck_assert_int_eq(system("ip -d link show ikdx5 | grep -q 'if_id 0x5' && "
				"ip link show ikdx5 | grep -q ',UP'"), 0);
	ck_assert_int_eq(xfrm_link_add("ikdx5", 0, 6, &err), -EEXIST);
	ck_assert_int_eq(xfrm_link_add("", 0, 6, &err), -EINVAL);
	ck_assert_int_eq(xfrm_link_add("ikdx6", 0, 0, &err), -EINVAL);
	ck_assert_int_eq(xfrm_link_del("ikdx5", &err), 0);
	ck_assert_int_eq(xfrm_link_del("ikdx5", &err), -ENODEV);
}
END_TEST

START_TEST(test_xfrm_spd_hthresh_read_and_set)
{
	struct xfrm_spd_hthresh h, got;
	struct xfrm_err err;

	/* A new namespace has the kernel's defaults. */
	ck_assert_int_eq(xfrm_spd_hthresh_get(&xs, &h, &err), 0);
	ck_assert(h.have4 && h.have6);
	ck_assert_uint_eq(h.lbits4, 32);
	ck_assert_uint_eq(h.rbits4, 32);
	ck_assert_uint_eq(h.lbits6, 128);
	ck_assert_uint_eq(h.rbits6, 128);
	/* IPv4 only: the IPv6 pair stays. */
	h.lbits4 = 12;
	h.rbits4 = 24;
	h.have6 = false;
	ck_assert_int_eq(xfrm_spd_hthresh_set(&xs, &h, &err), 0);
	ck_assert_int_eq(xfrm_spd_hthresh_get(&xs, &got, &err), 0);
	ck_assert_uint_eq(got.lbits4, 12);
	ck_assert_uint_eq(got.rbits4, 24);
	ck_assert_uint_eq(got.lbits6, 128);
	ck_assert_uint_eq(got.rbits6, 128);
	ck_assert_int_eq(system("ip -s -s xfrm policy count | "
				"grep -q 'IPv4 thresholds: local 12 remote 24'"), 0);
	h.have6 = true;
	h.have4 = false;
	h.lbits6 = 48;
	h.rbits6 = 56;
	ck_assert_int_eq(xfrm_spd_hthresh_set(&xs, &h, &err), 0);
	ck_assert_int_eq(system("ip -s -s xfrm policy count | "
				"grep -q 'IPv6 thresholds: local 48 remote 56'"), 0);
	/* Past the address length: refused before it is sent. */
	h.lbits6 = 129;
	ck_assert_int_eq(xfrm_spd_hthresh_set(&xs, &h, &err), -EINVAL);
	h.have6 = false;
	ck_assert_int_eq(xfrm_spd_hthresh_set(&xs, &h, &err), -EINVAL);
	ck_assert_int_eq(xfrm_spd_hthresh_get(&xs, &got, &err), 0);
	ck_assert_uint_eq(got.lbits6, 48);
	ck_assert_uint_eq(got.rbits4, 24);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("xfrm_policy");
	TCase *tm = tcase_create("mapping");
	TCase *tc = tcase_create("netns");

	tcase_add_test(tm, test_xfrm_sa_missing_option_names_what_that_suite_needs);
	suite_add_tcase(s, tm);
	if (geteuid() != 0) {
		printf("xfrm: not root: the kernel tests need a private network namespace; skipped\n");
		return test_run_suite(s);
	}
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_xfrm_policy_add_dump_update_delete);
	tcase_add_test(tc, test_xfrm_policy_marks_and_if_id_are_part_of_the_identity);
	tcase_add_test(tc, test_xfrm_batch_matches_every_ack_to_its_request);
	tcase_add_test(tc, test_xfrm_spi_alloc_in_range);
	tcase_add_test(tc, test_xfrm_sa_dump_filters_by_mark_and_reqid);
	tcase_add_test(tc, test_xfrm_probe_names_the_missing_kernel_option);
	tcase_add_test(tc, test_xfrm_sa_missing_option_matches_this_kernel);
	tcase_add_test(tc, test_xfrm_sa_every_attribute_add_get_update_delete);
	tcase_add_test(tc, test_xfrm_interface_create_delete_or_name_the_option);
	tcase_add_test(tc, test_xfrm_spd_hthresh_read_and_set);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
