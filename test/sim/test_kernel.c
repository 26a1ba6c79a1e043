/*
 * The simulated kernel: the errors Linux gives for the same requests, key copies, fault
 * injection, and the traffic model's answers (clear, block, no SA, ESP with the newest SA;
 * inbound SPI, key and policy checks).
 */
#include <sodium.h>

#include "kernel.h"
#include "testutil.h"

#define GW_B "192.0.2.1"	/* the branch's outer address */
#define GW_P "198.51.100.1"	/* a POP's */
#define GW_P2 "198.51.100.2"	/* another POP's */
#define REQID 7

static struct simk *k;

static void setup(void)
{
	k = simk_new();
	ck_assert_ptr_nonnull(k);
}

static void teardown(void)
{
	simk_free(k);
	k = NULL;
}

static struct xfrm_addr A(const char *text)
{
	struct xfrm_addr a;

	ck_assert_int_eq(xfrm_addr_parse(text, &a), 0);
	return a;
}

/* Key bytes per SA: a test's own buffers, so it can wipe them. */
struct keybuf {
	uint8_t aead[20];	/* AES-128-GCM key | salt */
};

static struct xfrm_sa esp_sa(const char *src, const char *dst, uint32_t spi, uint32_t reqid,
			     struct keybuf *kb, uint8_t key_byte)
{
	struct xfrm_sa sa = { .proto = IPPROTO_ESP, .mode = XFRM_MODE_TUNNEL, .spi = spi,
			      .reqid = reqid, .replay_window = 64 };

	memset(kb->aead, key_byte, sizeof(kb->aead));
	sa.src = A(src);
	sa.dst = A(dst);
	sa.aead = (struct xfrm_alg){ "rfc4106(gcm(aes))", kb->aead, sizeof(kb->aead), 128 };
	return sa;
}

/* An SA installed with keys derived from key_byte. */
static void add_sa(const char *src, const char *dst, uint32_t spi, uint32_t reqid,
		   uint8_t key_byte)
{
	struct keybuf kb;
	struct xfrm_sa sa = esp_sa(src, dst, spi, reqid, &kb, key_byte);

	ck_assert_int_eq(simk_sa_add(k, &sa, false, NULL), 0);
}

/* ikd's site policies: local 10.1.0.0/16 <-> remote 10.2.0.0/16 through gw_src -> gw_dst. */
static struct xfrm_policy site_policy(uint8_t dir, uint8_t action, const char *gw_src,
				      const char *gw_dst)
{
	bool out = dir == XFRM_POLICY_OUT;
	struct xfrm_policy p = { .dir = dir, .action = action, .priority = 1000 };

	p.sel.src = A(out ? "10.1.0.0" : "10.2.0.0");
	p.sel.dst = A(out ? "10.2.0.0" : "10.1.0.0");
	p.sel.src_plen = p.sel.dst_plen = 16;
	if (action == XFRM_POLICY_ALLOW) {
		p.n_tmpls = 1;
		p.tmpl[0].proto = IPPROTO_ESP;
		p.tmpl[0].mode = XFRM_MODE_TUNNEL;
		p.tmpl[0].reqid = REQID;
		if (gw_src)
			p.tmpl[0].src = A(gw_src);
		else
			p.tmpl[0].src.family = AF_INET;
		if (gw_dst)
			p.tmpl[0].dst = A(gw_dst);
		else
			p.tmpl[0].dst.family = AF_INET;
	}
	return p;
}

static void add_policy(const struct xfrm_policy *p)
{
	ck_assert_int_eq(simk_policy_add(k, p, true, NULL), 0);
}

static enum simk_out out_pkt(uint32_t mark, uint32_t if_id, struct simk_esp *ret)
{
	struct xfrm_addr s = A("10.1.2.3"), d = A("10.2.3.4");

	return simk_output(k, &s, &d, mark, if_id, 100, ret);
}

/* ---- SA table: the kernel's errors ---- */

START_TEST(test_simk_sa_add_existing_is_eexist_and_update_missing_is_esrch)
{
	struct keybuf kb;
	struct xfrm_sa sa = esp_sa(GW_B, GW_P, 0x1001, REQID, &kb, 1);
	struct xfrm_err err;

	ck_assert_int_eq(simk_sa_add(k, &sa, false, &err), 0);
	ck_assert_int_eq(simk_sa_add(k, &sa, false, &err), -EEXIST);
	ck_assert_int_eq(err.code, -EEXIST);
	/* Same SPI to another destination is another SA. */
	sa.dst = A(GW_P2);
	ck_assert_int_eq(simk_sa_add(k, &sa, false, &err), 0);
	sa.spi = 0x2002;
	ck_assert_int_eq(simk_sa_add(k, &sa, true, &err), -ESRCH);
	ck_assert_uint_eq(simk_sa_count(k), 2);
}
END_TEST

START_TEST(test_simk_sa_delete_and_get_of_missing_are_esrch)
{
	struct xfrm_addr dst = A(GW_P);
	struct xfrm_sa_stats st;

	ck_assert_int_eq(simk_sa_delete(k, &dst, 0x1001, IPPROTO_ESP, 0, 0, NULL), -ESRCH);
	ck_assert_int_eq(simk_sa_get(k, &dst, 0x1001, IPPROTO_ESP, 0, 0, &st, NULL), -ESRCH);
	add_sa(GW_B, GW_P, 0x1001, REQID, 1);
	ck_assert_int_eq(simk_sa_get(k, &dst, 0x1001, IPPROTO_ESP, 0, 0, &st, NULL), 0);
	ck_assert_ptr_eq(simk_sa_lookup(k, &dst, 0x1001, IPPROTO_ESP, 0, 0), simk_sa_at(k, 0));
	ck_assert_int_eq(simk_sa_delete(k, &dst, 0x1001, IPPROTO_ESP, 0, 0, NULL), 0);
	ck_assert_int_eq(simk_sa_delete(k, &dst, 0x1001, IPPROTO_ESP, 0, 0, NULL), -ESRCH);
	ck_assert_uint_eq(simk_sa_count(k), 0);
	ck_assert_ptr_null(simk_sa_lookup(k, &dst, 0x1001, IPPROTO_ESP, 0, 0));
}
END_TEST

START_TEST(test_simk_sa_add_refuses_what_the_kernel_refuses)
{
	struct keybuf kb;
	struct xfrm_sa sa;
	struct xfrm_err err;
	static uint8_t key16[16];

	sa = esp_sa(GW_B, GW_P, 0, REQID, &kb, 1);
	ck_assert_int_eq(simk_sa_add(k, &sa, false, &err), -EINVAL);	/* SPI 0 */
	ck_assert_str_ne(err.msg, "");
	sa = esp_sa(GW_B, GW_P, 0x1001, REQID, &kb, 1);
	sa.dst = A("2001:db8::1");
	ck_assert_int_eq(simk_sa_add(k, &sa, false, &err), -EINVAL);	/* families differ */
	sa = esp_sa(GW_B, GW_P, 0x1001, REQID, &kb, 1);
	sa.aead = (struct xfrm_alg){ 0 };
	ck_assert_int_eq(simk_sa_add(k, &sa, false, &err), -EINVAL);	/* no aead, no encr */
	sa.integ = (struct xfrm_alg){ "hmac(sha256)", key16, 16, 128 };
	ck_assert_int_eq(simk_sa_add(k, &sa, false, &err), -EINVAL);	/* integrity only */
	sa = esp_sa(GW_B, GW_P, 0x1001, REQID, &kb, 1);
	sa.encr = (struct xfrm_alg){ "cbc(aes)", key16, 16, 0 };
	ck_assert_int_eq(simk_sa_add(k, &sa, false, &err), -EINVAL);	/* aead and encr */
	ck_assert_uint_eq(simk_sa_count(k), 0);
	/* encr + integ is the other valid ESP. */
	sa.aead = (struct xfrm_alg){ 0 };
	sa.integ = (struct xfrm_alg){ "hmac(sha256)", key16, 16, 128 };
	ck_assert_int_eq(simk_sa_add(k, &sa, false, &err), 0);
}
END_TEST

START_TEST(test_simk_sa_mark_is_matched_masked_as_the_kernel)
{
	struct keybuf kb;
	struct xfrm_sa sa = esp_sa(GW_B, GW_P, 0x1001, REQID, &kb, 1);
	struct xfrm_addr dst = A(GW_P);

	sa.mark = 0x42;
	sa.mark_mask = 0xff;
	ck_assert_int_eq(simk_sa_add(k, &sa, false, NULL), 0);
	/* A request's mark & mask against the stored mark: 0x142 & 0xff == 0x42. */
	ck_assert_int_eq(simk_sa_get(k, &dst, 0x1001, IPPROTO_ESP, 0x142, 0xfff, NULL, NULL), 0);
	ck_assert_int_eq(simk_sa_get(k, &dst, 0x1001, IPPROTO_ESP, 0, 0, NULL, NULL), -ESRCH);
	/* Same SPI, another mark: another SA; and one without a mark. */
	sa.mark = 0x43;
	ck_assert_int_eq(simk_sa_add(k, &sa, false, NULL), 0);
	sa.mark = 0x99;
	sa.mark_mask = 0;	/* no XFRMA_MARK: stored as 0/0 */
	ck_assert_int_eq(simk_sa_add(k, &sa, false, NULL), 0);
	ck_assert_uint_eq(simk_sa_at(k, 2)->sa.mark, 0);
	ck_assert_int_eq(simk_sa_delete(k, &dst, 0x1001, IPPROTO_ESP, 0, 0, NULL), 0);
	ck_assert_int_eq(simk_sa_delete(k, &dst, 0x1001, IPPROTO_ESP, 0x43, 0xff, NULL), 0);
	ck_assert_uint_eq(simk_sa_count(k), 1);
	ck_assert_uint_eq(simk_sa_at(k, 0)->sa.mark, 0x42);
}
END_TEST

START_TEST(test_simk_sa_keys_survive_the_caller_wiping_its_buffer)
{
	struct keybuf kb, kb2;
	struct xfrm_sa sa = esp_sa(GW_B, GW_P, 0x1001, REQID, &kb, 0x5a);
	struct xfrm_sa same = esp_sa(GW_B, GW_P, 0x1001, REQID, &kb2, 0x5a);
	char name[] = "rfc4106(gcm(aes))";
	const struct simk_sa *e;
	struct simk *peer = simk_new();
	struct simk_esp pkt;
	struct xfrm_addr s = A("10.1.2.3"), d = A("10.2.3.4");

	sa.aead.name = name;
	ck_assert_int_eq(simk_sa_add(k, &sa, false, NULL), 0);
	sodium_memzero(kb.aead, sizeof(kb.aead));
	sodium_memzero(name, sizeof(name));
	e = simk_sa_at(k, 0);
	ck_assert_ptr_ne(e->sa.aead.key, kb.aead);
	ck_assert_uint_eq(e->sa.aead.key_len, 20);
	ck_assert_uint_eq(e->sa.aead.key[0], 0x5a);
	ck_assert_uint_eq(e->sa.aead.key[19], 0x5a);
	ck_assert_str_eq(e->sa.aead.name, "rfc4106(gcm(aes))");
	/* Its fingerprint is still that of the keys given, so a peer with them accepts. */
	ck_assert_ptr_nonnull(peer);
	ck_assert_int_eq(simk_sa_add(peer, &same, false, NULL), 0);
	ck_assert_uint_eq(simk_sa_at(peer, 0)->key_fp, e->key_fp);
	add_policy((struct xfrm_policy[]){ site_policy(XFRM_POLICY_OUT, XFRM_POLICY_ALLOW, GW_B,
						       GW_P) });
	ck_assert_int_eq(simk_output(k, &s, &d, 0, 0, 100, &pkt), SIMK_ESP);
	ck_assert_uint_eq(pkt.key_fp, simk_sa_at(peer, 0)->key_fp);
	simk_free(peer);
}
END_TEST

START_TEST(test_simk_sa_update_keeps_the_installed_keys_and_age)
{
	struct keybuf kb;
	struct xfrm_sa sa = esp_sa(GW_B, GW_P, 0x1001, REQID, &kb, 1);
	struct xfrm_addr dst = A(GW_P);
	uint32_t fp;
	uint64_t seq;

	ck_assert_int_eq(simk_sa_add(k, &sa, false, NULL), 0);
	fp = simk_sa_at(k, 0)->key_fp;
	seq = simk_sa_at(k, 0)->seq;
	ck_assert_int_eq(simk_sa_expire(k, &dst, 0x1001, IPPROTO_ESP, 0, 0, false), 0);
	ck_assert(simk_sa_at(k, 0)->dying);
	/* xfrm_state_update: lifetimes change, keys do not, and the SA is alive again. */
	sa = esp_sa(GW_B, GW_P, 0x1001, REQID, &kb, 2);
	sa.lft.hard_add_s = 3600;
	ck_assert_int_eq(simk_sa_add(k, &sa, true, NULL), 0);
	ck_assert_uint_eq(simk_sa_count(k), 1);
	ck_assert_uint_eq(simk_sa_at(k, 0)->key_fp, fp);
	ck_assert_uint_eq(simk_sa_at(k, 0)->seq, seq);
	ck_assert_uint_eq(simk_sa_at(k, 0)->sa.lft.hard_add_s, 3600);
	ck_assert(!simk_sa_at(k, 0)->dying);
	/* Adding ESP-in-UDP by an update: the kernel's -EINVAL. */
	sa.encap_sport = sa.encap_dport = 4500;
	ck_assert_int_eq(simk_sa_add(k, &sa, true, NULL), -EINVAL);
	ck_assert_uint_eq(simk_sa_at(k, 0)->sa.encap_dport, 0);
}
END_TEST

/* ---- policy table: the kernel's errors ---- */

START_TEST(test_simk_policy_add_existing_is_eexist_update_creates_delete_missing_is_enoent)
{
	struct xfrm_policy p = site_policy(XFRM_POLICY_OUT, XFRM_POLICY_ALLOW, GW_B, GW_P);
	struct xfrm_err err;

	ck_assert_int_eq(simk_policy_delete(k, &p, &err), -ENOENT);
	ck_assert_int_eq(err.code, -ENOENT);
	/* XFRM_MSG_UPDPOLICY creates a missing policy. */
	ck_assert_int_eq(simk_policy_add(k, &p, true, &err), 0);
	ck_assert_int_eq(simk_policy_add(k, &p, false, &err), -EEXIST);
	/* The priority is not part of the identity; the template is not either. */
	p.priority = 5;
	ck_assert_int_eq(simk_policy_add(k, &p, false, &err), -EEXIST);
	p.tmpl[0].dst = A(GW_P2);
	ck_assert_int_eq(simk_policy_add(k, &p, true, &err), 0);
	ck_assert_uint_eq(simk_policy_count(k), 1);
	ck_assert_uint_eq(simk_policy_at(k, 0)->p.priority, 5);
	ck_assert(memcmp(&simk_policy_at(k, 0)->p.tmpl[0].dst.a, &p.tmpl[0].dst.a, 4) == 0);
	/* Direction, selector, mark and mask, if_id are. */
	p.dir = XFRM_POLICY_FWD;
	ck_assert_int_eq(simk_policy_add(k, &p, false, &err), 0);
	p.dir = XFRM_POLICY_OUT;
	p.sel.dst_plen = 24;
	ck_assert_int_eq(simk_policy_add(k, &p, false, &err), 0);
	p.sel.dst_plen = 16;
	p.mark = 0x42;
	p.mark_mask = 0xff;
	ck_assert_int_eq(simk_policy_add(k, &p, false, &err), 0);
	p.mark_mask = 0xfff;
	ck_assert_int_eq(simk_policy_add(k, &p, false, &err), 0);
	p.mark = p.mark_mask = 0;
	p.if_id = 9;
	ck_assert_int_eq(simk_policy_add(k, &p, false, &err), 0);
	ck_assert_uint_eq(simk_policy_count(k), 6);
	ck_assert_int_eq(simk_policy_delete(k, &p, &err), 0);
	ck_assert_int_eq(simk_policy_delete(k, &p, &err), -ENOENT);
	ck_assert_uint_eq(simk_policy_count(k), 5);
}
END_TEST

START_TEST(test_simk_policy_refuses_optional_tunnel_template_outbound)
{
	struct xfrm_policy p = site_policy(XFRM_POLICY_OUT, XFRM_POLICY_ALLOW, GW_B, GW_P);

	p.tmpl[0].optional = true;
	ck_assert_int_eq(simk_policy_add(k, &p, true, NULL), -EINVAL);
	p.dir = XFRM_POLICY_IN;
	ck_assert_int_eq(simk_policy_add(k, &p, true, NULL), 0);
	p.sel.dst = A("2001:db8::");
	ck_assert_int_eq(simk_policy_add(k, &p, true, NULL), -EINVAL);
	ck_assert_uint_eq(simk_policy_count(k), 1);
	/* A delete does not look at templates (ikd deletes by identity alone). */
	p = site_policy(XFRM_POLICY_OUT, XFRM_POLICY_ALLOW, GW_B, GW_P);
	add_policy(&p);
	p.tmpl[0].optional = true;
	ck_assert_int_eq(simk_policy_delete(k, &p, NULL), 0);
}
END_TEST

/* ---- fault injection and counters ---- */

START_TEST(test_simk_injected_faults_fail_the_next_calls_and_leave_the_tables)
{
	struct keybuf kb;
	struct xfrm_sa sa = esp_sa(GW_B, GW_P, 0x1001, REQID, &kb, 1);
	struct xfrm_policy p = site_policy(XFRM_POLICY_OUT, XFRM_POLICY_ALLOW, GW_B, GW_P);
	struct xfrm_addr dst = A(GW_P);
	struct xfrm_err err;

	add_policy(&p);
	simk_fail_next(k, SIMK_OP_SA_ADD, ENOBUFS, 2);
	ck_assert_int_eq(simk_sa_add(k, &sa, false, &err), -ENOBUFS);
	ck_assert_int_eq(err.code, -ENOBUFS);
	ck_assert_int_eq(simk_sa_add(k, &sa, false, &err), -ENOBUFS);
	ck_assert_uint_eq(simk_sa_count(k), 0);
	ck_assert_int_eq(simk_sa_add(k, &sa, false, &err), 0);
	ck_assert_uint_eq(simk_calls(k, SIMK_OP_SA_ADD), 3);
	/* A failed update leaves the old policy in force. */
	simk_fail_next(k, SIMK_OP_POLICY_ADD, -EPERM, 1);
	p.action = XFRM_POLICY_BLOCK;
	ck_assert_int_eq(simk_policy_add(k, &p, true, &err), -EPERM);
	ck_assert_uint_eq(simk_policy_at(k, 0)->p.action, XFRM_POLICY_ALLOW);
	ck_assert_int_eq(out_pkt(0, 0, NULL), SIMK_ESP);
	simk_fail_next(k, SIMK_OP_SA_DELETE, EAGAIN, 1);
	ck_assert_int_eq(simk_sa_delete(k, &dst, 0x1001, IPPROTO_ESP, 0, 0, NULL), -EAGAIN);
	ck_assert_uint_eq(simk_sa_count(k), 1);
	simk_fail_next(k, SIMK_OP_POLICY_DELETE, ENOMEM, 1);
	ck_assert_int_eq(simk_policy_delete(k, &p, NULL), -ENOMEM);
	ck_assert_uint_eq(simk_policy_count(k), 1);
	simk_fail_next(k, SIMK_OP_SA_GET, EINTR, 1);
	ck_assert_int_eq(simk_sa_get(k, &dst, 0x1001, IPPROTO_ESP, 0, 0, NULL, NULL), -EINTR);
	ck_assert_int_eq(simk_sa_get(k, &dst, 0x1001, IPPROTO_ESP, 0, 0, NULL, NULL), 0);
	/* errno 0 cancels what is left. */
	simk_fail_next(k, SIMK_OP_SA_GET, EINTR, 5);
	simk_fail_next(k, SIMK_OP_SA_GET, 0, 5);
	ck_assert_int_eq(simk_sa_get(k, &dst, 0x1001, IPPROTO_ESP, 0, 0, NULL, NULL), 0);
	ck_assert_uint_eq(simk_calls(k, SIMK_OP_SA_DELETE), 1);
	ck_assert_uint_eq(simk_calls(k, SIMK_OP_SA_GET), 3);
	ck_assert_uint_eq(simk_calls(k, SIMK_OP_POLICY_ADD), 2);
	ck_assert_uint_eq(simk_calls(k, SIMK_OP_POLICY_DELETE), 1);
}
END_TEST

/* ---- output ---- */

START_TEST(test_simk_output_clear_block_no_sa_esp)
{
	struct xfrm_policy p = site_policy(XFRM_POLICY_OUT, XFRM_POLICY_BLOCK, NULL, NULL);
	struct simk_esp pkt;
	struct xfrm_addr s = A("10.1.2.3"), other = A("10.3.0.1"), gw_b = A(GW_B), gw_p = A(GW_P);

	/* No policy: the packet would leave in clear (what fail-closed must never allow). */
	ck_assert_int_eq(out_pkt(0, 0, &pkt), SIMK_CLEAR);
	add_policy(&p);
	ck_assert_int_eq(out_pkt(0, 0, &pkt), SIMK_BLOCK);
	/* Outside the selector: clear. */
	ck_assert_int_eq(simk_output(k, &s, &other, 0, 0, 100, &pkt), SIMK_CLEAR);
	p = site_policy(XFRM_POLICY_OUT, XFRM_POLICY_ALLOW, GW_B, GW_P);
	add_policy(&p);
	ck_assert_int_eq(out_pkt(0, 0, &pkt), SIMK_NO_SA);
	add_sa(GW_B, GW_P, 0x1001, REQID, 1);
	ck_assert_int_eq(out_pkt(0, 0, &pkt), SIMK_ESP);
	ck_assert(memcmp(&pkt.src.a, &gw_b.a, 4) == 0);
	ck_assert(memcmp(&pkt.dst.a, &gw_p.a, 4) == 0);
	ck_assert_uint_eq(pkt.spi, 0x1001);
	ck_assert_uint_eq(pkt.reqid, REQID);
	ck_assert_uint_eq(pkt.key_fp, simk_sa_at(k, 0)->key_fp);
	ck_assert_uint_eq(pkt.len, 100);
	/* An allow policy without templates is a bypass. */
	p.n_tmpls = 0;
	add_policy(&p);
	ck_assert_int_eq(out_pkt(0, 0, &pkt), SIMK_CLEAR);
}
END_TEST

START_TEST(test_simk_output_counters_advance_and_sa_get_returns_them)
{
	struct xfrm_addr dst = A(GW_P);
	struct xfrm_sa_stats st;

	simk_set_time(k, 1000);
	add_policy((struct xfrm_policy[]){ site_policy(XFRM_POLICY_OUT, XFRM_POLICY_ALLOW, GW_B,
						       GW_P) });
	add_sa(GW_B, GW_P, 0x1001, REQID, 1);
	ck_assert_int_eq(simk_sa_get(k, &dst, 0x1001, IPPROTO_ESP, 0, 0, &st, NULL), 0);
	ck_assert_uint_eq(st.packets, 0);
	ck_assert_uint_eq(st.add_time, 1000);
	ck_assert_uint_eq(st.use_time, 0);
	simk_set_time(k, 1005);
	ck_assert_int_eq(out_pkt(0, 0, NULL), SIMK_ESP);
	ck_assert_int_eq(out_pkt(0, 0, NULL), SIMK_ESP);
	ck_assert_int_eq(simk_sa_get(k, &dst, 0x1001, IPPROTO_ESP, 0, 0, &st, NULL), 0);
	ck_assert_uint_eq(st.packets, 2);
	ck_assert_uint_eq(st.bytes, 200);
	ck_assert_uint_eq(st.use_time, 1005);
	ck_assert_uint_eq(st.replay_window, 64);
}
END_TEST

START_TEST(test_simk_output_uses_the_newest_sa_and_falls_back_when_it_goes)
{
	struct xfrm_addr dst = A(GW_P);
	struct simk_esp pkt;

	add_policy((struct xfrm_policy[]){ site_policy(XFRM_POLICY_OUT, XFRM_POLICY_ALLOW, GW_B,
						       GW_P) });
	add_sa(GW_B, GW_P, 0x1001, REQID, 1);
	/* A rekey installs the new outbound SA beside the old one. */
	add_sa(GW_B, GW_P, 0x2002, REQID, 2);
	ck_assert_int_eq(out_pkt(0, 0, &pkt), SIMK_ESP);
	ck_assert_uint_eq(pkt.spi, 0x2002);
	/* A third for another POP or reqid does not compete. */
	add_sa(GW_B, GW_P2, 0x3003, REQID, 3);
	add_sa(GW_B, GW_P, 0x4004, REQID + 1, 4);
	ck_assert_int_eq(out_pkt(0, 0, &pkt), SIMK_ESP);
	ck_assert_uint_eq(pkt.spi, 0x2002);
	ck_assert_int_eq(simk_sa_delete(k, &dst, 0x2002, IPPROTO_ESP, 0, 0, NULL), 0);
	ck_assert_int_eq(out_pkt(0, 0, &pkt), SIMK_ESP);
	ck_assert_uint_eq(pkt.spi, 0x1001);
	ck_assert_int_eq(simk_sa_delete(k, &dst, 0x1001, IPPROTO_ESP, 0, 0, NULL), 0);
	ck_assert_int_eq(out_pkt(0, 0, &pkt), SIMK_NO_SA);
}
END_TEST

START_TEST(test_simk_output_prefers_a_live_sa_to_a_newer_dying_one)
{
	struct xfrm_addr dst = A(GW_P);
	struct simk_esp pkt;
	struct keybuf kb;
	struct xfrm_sa sa;

	add_policy((struct xfrm_policy[]){ site_policy(XFRM_POLICY_OUT, XFRM_POLICY_ALLOW, GW_B,
						       GW_P) });
	add_sa(GW_B, GW_P, 0x1001, REQID, 1);
	add_sa(GW_B, GW_P, 0x2002, REQID, 2);
	add_sa(GW_B, GW_P, 0x3003, REQID, 3);
	/* The older dying, the newest live: the newest. */
	ck_assert_int_eq(simk_sa_expire(k, &dst, 0x1001, IPPROTO_ESP, 0, 0, false), 0);
	ck_assert_int_eq(out_pkt(0, 0, &pkt), SIMK_ESP);
	ck_assert_uint_eq(pkt.spi, 0x3003);
	ck_assert_int_eq(simk_sa_delete(k, &dst, 0x3003, IPPROTO_ESP, 0, 0, NULL), 0);
	/* An update makes 0x1001 live again; the newer dying: the older live one. */
	sa = esp_sa(GW_B, GW_P, 0x1001, REQID, &kb, 1);
	ck_assert_int_eq(simk_sa_add(k, &sa, true, NULL), 0);
	ck_assert_int_eq(simk_sa_expire(k, &dst, 0x2002, IPPROTO_ESP, 0, 0, false), 0);
	ck_assert_int_eq(out_pkt(0, 0, &pkt), SIMK_ESP);
	ck_assert_uint_eq(pkt.spi, 0x1001);
	/* Both dying: the newer again. */
	ck_assert_int_eq(simk_sa_expire(k, &dst, 0x1001, IPPROTO_ESP, 0, 0, false), 0);
	ck_assert_int_eq(out_pkt(0, 0, &pkt), SIMK_ESP);
	ck_assert_uint_eq(pkt.spi, 0x2002);
	/* A hard expiry deletes. */
	ck_assert_int_eq(simk_sa_expire(k, &dst, 0x2002, IPPROTO_ESP, 0, 0, true), 0);
	ck_assert_uint_eq(simk_sa_count(k), 1);
	ck_assert_int_eq(simk_sa_expire(k, &dst, 0x2002, IPPROTO_ESP, 0, 0, true), -ESRCH);
}
END_TEST

START_TEST(test_simk_output_sa_needs_the_template_reqid_and_addresses)
{
	struct simk_esp pkt;
	struct keybuf kb;
	struct xfrm_sa sa;

	add_policy((struct xfrm_policy[]){ site_policy(XFRM_POLICY_OUT, XFRM_POLICY_ALLOW, GW_B,
						       GW_P) });
	add_sa(GW_B, GW_P, 0x1001, REQID + 1, 1);	/* another site's */
	add_sa("192.0.2.9", GW_P, 0x2002, REQID, 2);	/* another source */
	add_sa(GW_B, GW_P2, 0x3003, REQID, 3);		/* another POP */
	sa = esp_sa(GW_B, GW_P, 0x4004, REQID, &kb, 4);
	sa.mode = XFRM_MODE_TRANSPORT;			/* another mode */
	ck_assert_int_eq(simk_sa_add(k, &sa, false, NULL), 0);
	ck_assert_int_eq(out_pkt(0, 0, &pkt), SIMK_NO_SA);
}
END_TEST

START_TEST(test_simk_output_skips_an_optional_template_without_sa)
{
	struct xfrm_policy p = site_policy(XFRM_POLICY_OUT, XFRM_POLICY_ALLOW, GW_B, GW_P);
	struct simk_esp pkt;

	/* A transport-mode optional template first (IPComp's use), the tunnel after it. */
	p.n_tmpls = 2;
	p.tmpl[1] = p.tmpl[0];
	p.tmpl[0].mode = XFRM_MODE_TRANSPORT;
	p.tmpl[0].optional = true;
	add_policy(&p);
	ck_assert_int_eq(out_pkt(0, 0, &pkt), SIMK_NO_SA);
	add_sa(GW_B, GW_P, 0x1001, REQID, 1);
	ck_assert_int_eq(out_pkt(0, 0, &pkt), SIMK_ESP);
	ck_assert_uint_eq(pkt.spi, 0x1001);
}
END_TEST

START_TEST(test_simk_output_policy_mark_and_mask)
{
	struct xfrm_policy p = site_policy(XFRM_POLICY_OUT, XFRM_POLICY_ALLOW, GW_B, GW_P);
	struct keybuf kb;
	struct xfrm_sa sa = esp_sa(GW_B, GW_P, 0x1001, REQID, &kb, 1);

	p.mark = 0x42;
	p.mark_mask = 0xff;
	add_policy(&p);
	add_sa(GW_B, GW_P, 0x2002, REQID, 2);	/* no mark: matches any policy mark */
	ck_assert_int_eq(out_pkt(0x42, 0, NULL), SIMK_ESP);
	ck_assert_int_eq(out_pkt(0x1142, 0, NULL), SIMK_ESP);	/* bits outside the mask */
	ck_assert_int_eq(out_pkt(0x43, 0, NULL), SIMK_CLEAR);
	ck_assert_int_eq(out_pkt(0, 0, NULL), SIMK_CLEAR);
	/* An SA with its own mark is chosen only if the policy's mark fits it. */
	ck_assert_int_eq(simk_sa_delete(k, &sa.dst, 0x2002, IPPROTO_ESP, 0, 0, NULL), 0);
	sa.mark = 0x7;
	sa.mark_mask = 0xf;
	ck_assert_int_eq(simk_sa_add(k, &sa, false, NULL), 0);
	ck_assert_int_eq(out_pkt(0x42, 0, NULL), SIMK_NO_SA);
	sa.spi = 0x3003;
	sa.mark = 0x2;
	ck_assert_int_eq(simk_sa_add(k, &sa, false, NULL), 0);
	ck_assert_int_eq(out_pkt(0x42, 0, NULL), SIMK_ESP);
}
END_TEST

START_TEST(test_simk_output_if_id_must_equal)
{
	struct xfrm_policy p = site_policy(XFRM_POLICY_OUT, XFRM_POLICY_ALLOW, GW_B, GW_P);
	struct keybuf kb;
	struct xfrm_sa sa = esp_sa(GW_B, GW_P, 0x1001, REQID, &kb, 1);

	p.if_id = 9;
	add_policy(&p);
	ck_assert_int_eq(out_pkt(0, 0, NULL), SIMK_CLEAR);	/* not routed via ipsec9 */
	ck_assert_int_eq(out_pkt(0, 8, NULL), SIMK_CLEAR);
	add_sa(GW_B, GW_P, 0x2002, REQID, 2);			/* SA without the if_id */
	ck_assert_int_eq(out_pkt(0, 9, NULL), SIMK_NO_SA);
	sa.if_id = 9;
	ck_assert_int_eq(simk_sa_add(k, &sa, false, NULL), 0);
	ck_assert_int_eq(out_pkt(0, 9, NULL), SIMK_ESP);
}
END_TEST

START_TEST(test_simk_output_priority_then_the_older_policy)
{
	struct xfrm_policy wide = site_policy(XFRM_POLICY_OUT, XFRM_POLICY_BLOCK, NULL, NULL);
	struct xfrm_policy narrow = site_policy(XFRM_POLICY_OUT, XFRM_POLICY_ALLOW, GW_B, GW_P);

	add_sa(GW_B, GW_P, 0x1001, REQID, 1);
	wide.sel.dst_plen = 8;
	add_policy(&wide);
	add_policy(&narrow);
	/* Equal priorities: the first installed wins, not the longest prefix. */
	ck_assert_int_eq(out_pkt(0, 0, NULL), SIMK_BLOCK);
	/* Updated in place with the same priority: it keeps its place. */
	wide.action = XFRM_POLICY_BLOCK;
	add_policy(&wide);
	ck_assert_int_eq(out_pkt(0, 0, NULL), SIMK_BLOCK);
	narrow.priority = 999;
	add_policy(&narrow);
	ck_assert_int_eq(out_pkt(0, 0, NULL), SIMK_ESP);
	/* Back to 1000: after its equals now, as if new. */
	narrow.priority = 1000;
	add_policy(&narrow);
	ck_assert_int_eq(out_pkt(0, 0, NULL), SIMK_BLOCK);
	wide.priority = 1001;
	add_policy(&wide);
	ck_assert_int_eq(out_pkt(0, 0, NULL), SIMK_ESP);
	/* The older one back to 1000: after narrow now, which stays in force. */
	wide.priority = 1000;
	add_policy(&wide);
	ck_assert_int_eq(out_pkt(0, 0, NULL), SIMK_ESP);
}
END_TEST

START_TEST(test_simk_output_selector_prefixes_ipv6_and_odd_lengths)
{
	struct xfrm_policy p = { .dir = XFRM_POLICY_OUT, .action = XFRM_POLICY_BLOCK };
	struct xfrm_addr s6 = A("2001:db8:1:f::1"), d6 = A("2001:db8:2::1");
	struct xfrm_addr s6_out = A("2001:db8:1:10::1"), s4 = A("10.1.2.3");

	p.sel.src = A("2001:db8:1::");
	p.sel.dst = A("::");
	p.sel.src_plen = 60;		/* 2001:db8:1:0-f:: */
	add_policy(&p);
	ck_assert_int_eq(simk_output(k, &s6, &d6, 0, 0, 100, NULL), SIMK_BLOCK);
	ck_assert_int_eq(simk_output(k, &s6_out, &d6, 0, 0, 100, NULL), SIMK_CLEAR);
	/* An IPv4 packet never meets an IPv6 policy, not even ::/0. */
	p.sel.src_plen = 0;
	add_policy(&p);
	ck_assert_int_eq(simk_output(k, &s6_out, &d6, 0, 0, 100, NULL), SIMK_BLOCK);
	ck_assert_int_eq(out_pkt(0, 0, NULL), SIMK_CLEAR);
	p.sel.src = A("10.1.0.0");
	p.sel.dst = A("0.0.0.0");
	p.sel.src_plen = 23;		/* 10.1.0.0 - 10.1.1.255 */
	add_policy(&p);
	ck_assert_int_eq(out_pkt(0, 0, NULL), SIMK_CLEAR);
	p.sel.src_plen = 22;		/* 10.1.0.0 - 10.1.3.255 */
	add_policy(&p);
	ck_assert_int_eq(simk_output(k, &s4, &d6, 0, 0, 100, NULL), SIMK_CLEAR);
	ck_assert_int_eq(out_pkt(0, 0, NULL), SIMK_BLOCK);
}
END_TEST

START_TEST(test_simk_output_ignores_selectors_naming_a_protocol)
{
	struct xfrm_policy p = site_policy(XFRM_POLICY_OUT, XFRM_POLICY_BLOCK, NULL, NULL);

	p.sel.proto = IPPROTO_ICMP;
	add_policy(&p);
	ck_assert_int_eq(out_pkt(0, 0, NULL), SIMK_CLEAR);
}
END_TEST

/* ---- input ---- */

/* The branch's kernel sends, the POP's receives: both sides installed by the test. */
static struct simk *pop;

static void setup_pair(void)
{
	setup();
	pop = simk_new();
	ck_assert_ptr_nonnull(pop);
	add_policy((struct xfrm_policy[]){ site_policy(XFRM_POLICY_OUT, XFRM_POLICY_ALLOW, GW_B,
						       GW_P) });
}

static void teardown_pair(void)
{
	simk_free(pop);
	pop = NULL;
	teardown();
}

/* The POP's inbound SA and its in/fwd policies (remote 10.1/16 -> local 10.2/16 there). */
static void pop_install(uint32_t spi, uint8_t key_byte, uint32_t reqid, const char *tmpl_src)
{
	struct keybuf kb;
	struct xfrm_sa sa = esp_sa(GW_B, GW_P, spi, reqid, &kb, key_byte);
	struct xfrm_policy p = site_policy(XFRM_POLICY_OUT, XFRM_POLICY_ALLOW, tmpl_src, GW_P);

	ck_assert_int_eq(simk_sa_add(pop, &sa, false, NULL), 0);
	/* The branch's OUT selector is the POP's IN one. */
	p.dir = XFRM_POLICY_IN;
	ck_assert_int_eq(simk_policy_add(pop, &p, true, NULL), 0);
	p.dir = XFRM_POLICY_FWD;
	ck_assert_int_eq(simk_policy_add(pop, &p, true, NULL), 0);
}

static enum simk_in send_one(bool fwd, const char **why)
{
	struct simk_esp pkt;
	struct xfrm_addr s = A("10.1.2.3"), d = A("10.2.3.4");

	ck_assert_int_eq(simk_output(k, &s, &d, 0, 0, 100, &pkt), SIMK_ESP);
	return fwd ? simk_input_fwd(pop, &pkt, &s, &d, why) : simk_input(pop, &pkt, &s, &d, why);
}

START_TEST(test_simk_input_ok_and_counters_on_both_sides)
{
	struct xfrm_addr dst = A(GW_P);
	struct xfrm_sa_stats out_st, in_st;
	const char *why = NULL;

	add_sa(GW_B, GW_P, 0x1001, REQID, 1);
	pop_install(0x1001, 1, REQID, NULL);	/* from any source: ikd's inbound template */
	ck_assert_int_eq(send_one(false, &why), SIMK_IN_OK);
	ck_assert_ptr_nonnull(why);
	ck_assert_int_eq(send_one(true, NULL), SIMK_IN_OK);
	ck_assert_int_eq(simk_sa_get(k, &dst, 0x1001, IPPROTO_ESP, 0, 0, &out_st, NULL), 0);
	ck_assert_int_eq(simk_sa_get(pop, &dst, 0x1001, IPPROTO_ESP, 0, 0, &in_st, NULL), 0);
	ck_assert_uint_eq(out_st.packets, 2);
	ck_assert_uint_eq(in_st.packets, 2);
	ck_assert_uint_eq(in_st.bytes, out_st.bytes);
}
END_TEST

START_TEST(test_simk_input_without_the_spi_is_no_sa)
{
	add_sa(GW_B, GW_P, 0x1001, REQID, 1);
	pop_install(0x2002, 1, REQID, NULL);
	ck_assert_int_eq(send_one(false, NULL), SIMK_IN_NO_SA);
}
END_TEST

START_TEST(test_simk_input_with_other_keys_is_bad_icv_and_not_counted)
{
	struct xfrm_addr dst = A(GW_P);
	struct xfrm_sa_stats st;

	add_sa(GW_B, GW_P, 0x1001, REQID, 1);
	pop_install(0x1001, 2, REQID, NULL);
	ck_assert_int_eq(send_one(false, NULL), SIMK_IN_BAD_ICV);
	ck_assert_int_eq(simk_sa_get(pop, &dst, 0x1001, IPPROTO_ESP, 0, 0, &st, NULL), 0);
	ck_assert_uint_eq(st.packets, 0);
	ck_assert_uint_eq(simk_sa_at(pop, 0)->icv_failed, 1);
}
END_TEST

START_TEST(test_simk_input_policy_check)
{
	struct xfrm_policy p;

	add_sa(GW_B, GW_P, 0x1001, REQID, 1);
	/* Decrypted, but no inbound policy: a tunnel-mode SA without one is dropped. */
	{
		struct keybuf kb;
		struct xfrm_sa sa = esp_sa(GW_B, GW_P, 0x1001, REQID, &kb, 1);

		ck_assert_int_eq(simk_sa_add(pop, &sa, false, NULL), 0);
	}
	ck_assert_int_eq(send_one(false, NULL), SIMK_IN_POLICY_DROP);
	ck_assert_uint_eq(simk_sa_at(pop, 0)->stats.packets, 1);
	/* A template with another reqid refuses the SA. */
	p = site_policy(XFRM_POLICY_OUT, XFRM_POLICY_ALLOW, NULL, GW_P);
	p.dir = XFRM_POLICY_IN;
	p.tmpl[0].reqid = REQID + 1;
	ck_assert_int_eq(simk_policy_add(pop, &p, true, NULL), 0);
	ck_assert_int_eq(send_one(false, NULL), SIMK_IN_POLICY_DROP);
	/* reqid 0 in the template: any. */
	p.tmpl[0].reqid = 0;
	ck_assert_int_eq(simk_policy_add(pop, &p, true, NULL), 0);
	ck_assert_int_eq(send_one(false, NULL), SIMK_IN_OK);
	/* A template naming another tunnel source refuses it. */
	p.tmpl[0].src = A(GW_P2);
	ck_assert_int_eq(simk_policy_add(pop, &p, true, NULL), 0);
	ck_assert_int_eq(send_one(false, NULL), SIMK_IN_POLICY_DROP);
	/* The exact one accepts; the FWD direction has no policy yet. */
	p.tmpl[0].src = A(GW_B);
	ck_assert_int_eq(simk_policy_add(pop, &p, true, NULL), 0);
	ck_assert_int_eq(send_one(false, NULL), SIMK_IN_OK);
	ck_assert_int_eq(send_one(true, NULL), SIMK_IN_POLICY_DROP);
	/* A block policy drops what it decrypted. */
	p.action = XFRM_POLICY_BLOCK;
	p.n_tmpls = 0;
	ck_assert_int_eq(simk_policy_add(pop, &p, true, NULL), 0);
	ck_assert_int_eq(send_one(false, NULL), SIMK_IN_POLICY_DROP);
}
END_TEST

START_TEST(test_simk_input_clear_passes_only_optional_templates)
{
	struct xfrm_policy p = site_policy(XFRM_POLICY_IN, XFRM_POLICY_ALLOW, NULL, NULL);
	struct xfrm_addr s = A("10.2.3.4"), d = A("10.1.2.3");

	ck_assert_int_eq(simk_input_clear(k, XFRM_POLICY_IN, &s, &d, 0, 0, NULL), SIMK_IN_OK);
	add_policy(&p);
	ck_assert_int_eq(simk_input_clear(k, XFRM_POLICY_IN, &s, &d, 0, 0, NULL),
			 SIMK_IN_POLICY_DROP);
	ck_assert_int_eq(simk_input_clear(k, XFRM_POLICY_FWD, &s, &d, 0, 0, NULL), SIMK_IN_OK);
	p.tmpl[0].optional = true;
	add_policy(&p);
	ck_assert_int_eq(simk_input_clear(k, XFRM_POLICY_IN, &s, &d, 0, 0, NULL), SIMK_IN_OK);
}
END_TEST

/* ---- dump ---- */

START_TEST(test_simk_dump_one_line_each_without_key_bytes_and_names_verdicts)
{
	char *text = NULL;
	size_t len = 0, lines = 0;
	FILE *f = open_memstream(&text, &len);

	add_sa(GW_B, GW_P, 0x1001, REQID, 0xab);
	add_policy((struct xfrm_policy[]){ site_policy(XFRM_POLICY_OUT, XFRM_POLICY_ALLOW, GW_B,
						       GW_P) });
	ck_assert_ptr_nonnull(f);
	simk_dump(k, f);
	fclose(f);
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	ck_assert_uint_eq(lines, 2);
	ck_assert_ptr_nonnull(strstr(text, "spi 0x00001001"));
	ck_assert_ptr_nonnull(strstr(text, "policy out 10.1.0.0/16 -> 10.2.0.0/16"));
	ck_assert_ptr_null(strstr(text, "abab"));
	free(text);
	/* The verdicts' names, for the same traces. */
	ck_assert_str_eq(simk_out_name(SIMK_CLEAR), "clear");
	ck_assert_str_eq(simk_out_name(SIMK_ESP), "esp");
	ck_assert_str_eq(simk_in_name(SIMK_IN_BAD_ICV), "bad-icv");
	ck_assert_str_eq(simk_in_name(SIMK_IN_POLICY_DROP), "policy-drop");
}
END_TEST

static Suite *simk_suite(void)
{
	Suite *s = suite_create("sim_kernel");
	TCase *tc = tcase_create("tables");
	TCase *tt = tcase_create("traffic");
	TCase *ti = tcase_create("input");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_simk_sa_add_existing_is_eexist_and_update_missing_is_esrch);
	tcase_add_test(tc, test_simk_sa_delete_and_get_of_missing_are_esrch);
	tcase_add_test(tc, test_simk_sa_add_refuses_what_the_kernel_refuses);
	tcase_add_test(tc, test_simk_sa_mark_is_matched_masked_as_the_kernel);
	tcase_add_test(tc, test_simk_sa_keys_survive_the_caller_wiping_its_buffer);
	tcase_add_test(tc, test_simk_sa_update_keeps_the_installed_keys_and_age);
	tcase_add_test(tc,
		test_simk_policy_add_existing_is_eexist_update_creates_delete_missing_is_enoent);
	tcase_add_test(tc, test_simk_policy_refuses_optional_tunnel_template_outbound);
	tcase_add_test(tc, test_simk_injected_faults_fail_the_next_calls_and_leave_the_tables);
	tcase_add_test(tc, test_simk_dump_one_line_each_without_key_bytes_and_names_verdicts);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(tt, setup, teardown);
	tcase_add_test(tt, test_simk_output_clear_block_no_sa_esp);
	tcase_add_test(tt, test_simk_output_counters_advance_and_sa_get_returns_them);
	tcase_add_test(tt, test_simk_output_uses_the_newest_sa_and_falls_back_when_it_goes);
	tcase_add_test(tt, test_simk_output_prefers_a_live_sa_to_a_newer_dying_one);
	tcase_add_test(tt, test_simk_output_sa_needs_the_template_reqid_and_addresses);
	tcase_add_test(tt, test_simk_output_skips_an_optional_template_without_sa);
	tcase_add_test(tt, test_simk_output_policy_mark_and_mask);
	tcase_add_test(tt, test_simk_output_if_id_must_equal);
	tcase_add_test(tt, test_simk_output_priority_then_the_older_policy);
	tcase_add_test(tt, test_simk_output_selector_prefixes_ipv6_and_odd_lengths);
	tcase_add_test(tt, test_simk_output_ignores_selectors_naming_a_protocol);
	tcase_add_test(tt, test_simk_input_clear_passes_only_optional_templates);
	suite_add_tcase(s, tt);

	tcase_add_checked_fixture(ti, setup_pair, teardown_pair);
	tcase_add_test(ti, test_simk_input_ok_and_counters_on_both_sides);
	tcase_add_test(ti, test_simk_input_without_the_spi_is_no_sa);
	tcase_add_test(ti, test_simk_input_with_other_keys_is_bad_icv_and_not_counted);
	tcase_add_test(ti, test_simk_input_policy_check);
	suite_add_tcase(s, ti);
	return s;
}

int main(void)
{
	return test_run_suite(simk_suite());
}
