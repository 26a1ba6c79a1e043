/* XFRM SAs: add/update, delete, get with counters, SPI allocation, the ESP probe. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "xfrm/internal.h"

#define XFRM_KEY_MAX 128	/* bytes; the longest real key is HMAC-SHA-512's 64 */

static uint64_t or_inf(uint64_t v)
{
	return v ? v : XFRM_INF;
}

static bool room(const struct nlmsghdr *nlh, size_t cap, size_t attr_len)
{
	return MNL_ALIGN(nlh->nlmsg_len) + MNL_ATTR_HDRLEN + MNL_ALIGN(attr_len) + 64 <= cap;
}

/* struct xfrm_algo / _auth / _aead with the key after it, built in place then wiped by talk. */
static int put_alg(struct nlmsghdr *nlh, size_t cap, uint16_t type, const struct xfrm_alg *alg)
{
	size_t head = type == XFRMA_ALG_CRYPT ? sizeof(struct xfrm_algo) :
		      type == XFRMA_ALG_AUTH_TRUNC ? sizeof(struct xfrm_algo_auth) :
		      sizeof(struct xfrm_algo_aead);
	size_t len = head + alg->key_len;
	struct nlattr *attr;
	uint8_t *p;

	if (!alg->name || strlen(alg->name) >= 64 || alg->key_len > XFRM_KEY_MAX)
		return -EINVAL;
	if (!room(nlh, cap, len))
		return -EMSGSIZE;
	/* Built in place, so the key is copied once, into the buffer talk() wipes. */
	attr = mnl_nlmsg_get_payload_tail(nlh);
	attr->nla_type = type;
	attr->nla_len = (uint16_t)(MNL_ATTR_HDRLEN + len);
	p = mnl_attr_get_payload(attr);
	memset(p, 0, MNL_ALIGN(len));
	if (type == XFRMA_ALG_CRYPT) {
		struct xfrm_algo *a = (struct xfrm_algo *)p;

		strcpy(a->alg_name, alg->name);
		a->alg_key_len = (unsigned int)alg->key_len * 8;
	} else if (type == XFRMA_ALG_AUTH_TRUNC) {
		struct xfrm_algo_auth *a = (struct xfrm_algo_auth *)p;

		strcpy(a->alg_name, alg->name);
		a->alg_key_len = (unsigned int)alg->key_len * 8;
		a->alg_trunc_len = alg->trunc_bits;
	} else {
		struct xfrm_algo_aead *a = (struct xfrm_algo_aead *)p;

		strcpy(a->alg_name, alg->name);
		a->alg_key_len = (unsigned int)alg->key_len * 8;
		a->alg_icv_len = alg->trunc_bits;
	}
	if (alg->key_len)
		memcpy(p + head, alg->key, alg->key_len);
	nlh->nlmsg_len += MNL_ALIGN(attr->nla_len);
	return 0;
}

int xfrm_sa_build(struct xfrm_sock *s, void *buf, size_t cap, const struct xfrm_sa *sa,
		  bool update, size_t *ret_len)
{
	struct nlmsghdr *nlh;
	struct xfrm_usersa_info info_buf, *info = &info_buf, *wire;
	int rc;

	if (cap < 2048)
		return -EMSGSIZE;
	if ((sa->src.family != AF_INET && sa->src.family != AF_INET6) ||
	    sa->src.family != sa->dst.family)
		return -EINVAL;
	if (!sa->aead.name && !sa->encr.name)
		return -EINVAL;
	nlh = xfrm_msg_start(s, buf, update ? XFRM_MSG_UPDSA : XFRM_MSG_NEWSA,
			     NLM_F_ACK | (update ? 0 : NLM_F_CREATE | NLM_F_EXCL));
	/* Built aside and copied at the end: netlink aligns to 4, the struct holds u64s. */
	wire = mnl_nlmsg_put_extra_header(nlh, sizeof(*info));
	memset(info, 0, sizeof(*info));
	info->sel.family = sa->src.family;
	info->id.daddr = sa->dst.a;
	info->id.spi = htonl(sa->spi);
	info->id.proto = sa->proto ? sa->proto : IPPROTO_ESP;
	info->saddr = sa->src.a;
	info->family = sa->src.family;
	info->mode = sa->mode;
	info->reqid = sa->reqid;
	info->lft.soft_byte_limit = or_inf(sa->lft.soft_bytes);
	info->lft.hard_byte_limit = or_inf(sa->lft.hard_bytes);
	info->lft.soft_packet_limit = or_inf(sa->lft.soft_packets);
	info->lft.hard_packet_limit = or_inf(sa->lft.hard_packets);
	info->lft.soft_add_expires_seconds = sa->lft.soft_add_s;
	info->lft.hard_add_expires_seconds = sa->lft.hard_add_s;
	if (sa->aead.name) {
		rc = put_alg(nlh, cap, XFRMA_ALG_AEAD, &sa->aead);
	} else {
		rc = put_alg(nlh, cap, XFRMA_ALG_CRYPT, &sa->encr);
		if (rc == 0 && sa->integ.name)
			rc = put_alg(nlh, cap, XFRMA_ALG_AUTH_TRUNC, &sa->integ);
	}
	if (rc < 0)
		goto fail;
	if (sa->replay_window || sa->esn) {
		/* The bitmap form carries windows past 255 and ESN; info.replay_window stays 0. */
		struct xfrm_replay_state_esn rs = { 0 };
		uint32_t words = (sa->replay_window + 31) / 32;
		size_t len = sizeof(rs) + words * sizeof(uint32_t);
		uint8_t tmp[sizeof(rs) + 4096 / 8];

		if (words * 4 > 4096 / 8 || !room(nlh, cap, len)) {
			rc = -EINVAL;
			goto fail;
		}
		rs.bmp_len = words;
		rs.replay_window = sa->replay_window;
		memset(tmp, 0, sizeof(tmp));
		memcpy(tmp, &rs, sizeof(rs));
		mnl_attr_put(nlh, XFRMA_REPLAY_ESN_VAL, len, tmp);
		if (sa->esn)
			info->flags |= XFRM_STATE_ESN;
	}
	if (sa->mark_mask) {
		struct xfrm_mark m = { sa->mark, sa->mark_mask };

		mnl_attr_put(nlh, XFRMA_MARK, sizeof(m), &m);
	}
	if (sa->if_id)
		mnl_attr_put_u32(nlh, XFRMA_IF_ID, sa->if_id);
	if (sa->set_mark_mask) {
		mnl_attr_put_u32(nlh, XFRMA_SET_MARK, sa->set_mark);
		mnl_attr_put_u32(nlh, XFRMA_SET_MARK_MASK, sa->set_mark_mask);
	}
	if (sa->encap_dport) {
		struct xfrm_encap_tmpl e = { 0 };

		e.encap_type = 2;	/* UDP_ENCAP_ESPINUDP, RFC 3948 */
		e.encap_sport = htons(sa->encap_sport);
		e.encap_dport = htons(sa->encap_dport);
		mnl_attr_put(nlh, XFRMA_ENCAP, sizeof(e), &e);
	}
	memcpy(wire, info, sizeof(*info));
	*ret_len = nlh->nlmsg_len;
	return 0;
fail:
	sodium_memzero(buf, cap < 4096 ? cap : 4096);
	return rc;
}

int xfrm_sa_add(struct xfrm_sock *s, const struct xfrm_sa *sa, bool update, struct xfrm_err *err)
{
	uint8_t buf[4096];
	size_t len;
	int rc = xfrm_sa_build(s, buf, sizeof(buf), sa, update, &len);

	if (rc < 0)
		return rc;
	return xfrm_talk(s, buf, len, 1, ((struct nlmsghdr *)buf)->nlmsg_seq, NULL, NULL, NULL,
			 false, err);
}

static struct nlmsghdr *sa_id_msg(struct xfrm_sock *s, void *buf, uint16_t type, uint16_t flags,
				  const struct xfrm_addr *dst, uint32_t spi, uint8_t proto,
				  uint32_t mark, uint32_t mark_mask)
{
	struct nlmsghdr *nlh = xfrm_msg_start(s, buf, type, flags);
	struct xfrm_usersa_id id = {
		.daddr = dst->a, .spi = htonl(spi), .family = dst->family,
		.proto = proto ? proto : IPPROTO_ESP,
	};

	memcpy(mnl_nlmsg_put_extra_header(nlh, sizeof(id)), &id, sizeof(id));
	if (mark_mask) {
		struct xfrm_mark m = { mark, mark_mask };

		mnl_attr_put(nlh, XFRMA_MARK, sizeof(m), &m);
	}
	return nlh;
}

int xfrm_sa_delete(struct xfrm_sock *s, const struct xfrm_addr *dst, uint32_t spi, uint8_t proto,
		   uint32_t mark, uint32_t mark_mask, struct xfrm_err *err)
{
	uint8_t buf[256];
	struct nlmsghdr *nlh = sa_id_msg(s, buf, XFRM_MSG_DELSA, NLM_F_ACK, dst, spi, proto, mark,
					 mark_mask);

	return xfrm_talk(s, buf, nlh->nlmsg_len, 1, nlh->nlmsg_seq, NULL, NULL, NULL, false, err);
}

/* The xfrm_usersa_info of a NEWSA reply, length-checked and copied out (4-byte aligned). */
static int sa_info(const struct nlmsghdr *nlh, struct xfrm_usersa_info *ret)
{
	if (nlh->nlmsg_type != XFRM_MSG_NEWSA || nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(*ret))
		return -EBADMSG;
	memcpy(ret, mnl_nlmsg_get_payload(nlh), sizeof(*ret));
	return 0;
}

static int on_sa_stats(const struct nlmsghdr *nlh, void *arg)
{
	struct xfrm_usersa_info info;
	struct xfrm_sa_stats *st = arg;

	if (sa_info(nlh, &info) < 0)
		return -EBADMSG;
	st->bytes = info.curlft.bytes;
	st->packets = info.curlft.packets;
	st->add_time = info.curlft.add_time;
	st->use_time = info.curlft.use_time;
	st->replay_window = info.replay_window;
	return 0;
}

int xfrm_sa_get(struct xfrm_sock *s, const struct xfrm_addr *dst, uint32_t spi, uint8_t proto,
		uint32_t mark, uint32_t mark_mask, struct xfrm_sa_stats *ret, struct xfrm_err *err)
{
	uint8_t buf[256];
	struct nlmsghdr *nlh = sa_id_msg(s, buf, XFRM_MSG_GETSA, 0, dst, spi, proto, mark,
					 mark_mask);

	memset(ret, 0, sizeof(*ret));
	return xfrm_talk(s, buf, nlh->nlmsg_len, 1, nlh->nlmsg_seq, NULL, on_sa_stats, ret, false,
			 err);
}

static int on_spi(const struct nlmsghdr *nlh, void *arg)
{
	struct xfrm_usersa_info info;

	if (sa_info(nlh, &info) < 0)
		return -EBADMSG;
	*(uint32_t *)arg = ntohl(info.id.spi);
	return 0;
}

int xfrm_spi_alloc(struct xfrm_sock *s, const struct xfrm_addr *src, const struct xfrm_addr *dst,
		   uint8_t proto, uint32_t reqid, uint32_t min, uint32_t max, uint32_t *ret_spi,
		   struct xfrm_err *err)
{
	uint8_t buf[512];
	struct nlmsghdr *nlh = xfrm_msg_start(s, buf, XFRM_MSG_ALLOCSPI, 0);
	struct xfrm_userspi_info ub, *u = &ub;

	memset(u, 0, sizeof(*u));
	u->info.sel.family = dst->family;
	u->info.id.daddr = dst->a;
	u->info.id.proto = proto ? proto : IPPROTO_ESP;
	u->info.saddr = src->a;
	u->info.family = dst->family;
	u->info.reqid = reqid;
	u->min = min;
	u->max = max;
	memcpy(mnl_nlmsg_put_extra_header(nlh, sizeof(*u)), u, sizeof(*u));
	*ret_spi = 0;
	return xfrm_talk(s, buf, nlh->nlmsg_len, 1, nlh->nlmsg_seq, NULL, on_spi, ret_spi, false,
			 err);
}

int xfrm_sa_parse(const void *buf, size_t len, struct xfrm_sa_entry *ret)
{
	const struct nlmsghdr *nlh = buf;
	struct xfrm_usersa_info info;

	if (len < NLMSG_HDRLEN || nlh->nlmsg_len > len || nlh->nlmsg_len < NLMSG_HDRLEN ||
	    sa_info(nlh, &info) < 0)
		return -EBADMSG;
	memset(ret, 0, sizeof(*ret));
	ret->src.family = ret->dst.family = info.family;
	ret->src.a = info.saddr;
	ret->dst.a = info.id.daddr;
	ret->spi = ntohl(info.id.spi);
	ret->proto = info.id.proto;
	ret->mode = info.mode;
	ret->reqid = info.reqid;
	ret->stats.bytes = info.curlft.bytes;
	ret->stats.packets = info.curlft.packets;
	ret->stats.add_time = info.curlft.add_time;
	ret->stats.use_time = info.curlft.use_time;
	ret->stats.replay_window = info.replay_window;
	{
		struct xfrm_attr_common c = { 0 };
		int rc = xfrm_attrs_walk(nlh, sizeof(info), &c, NULL, NULL);

		ret->mark = c.mark;
		ret->mark_mask = c.mark_mask;
		ret->if_id = c.if_id;
		return rc;
	}
}

struct sa_dump_ctx {
	uint32_t mark, mark_mask, reqid;
	xfrm_sa_fn fn;
	void *arg;
};

static int on_sa_entry(const struct nlmsghdr *nlh, void *arg)
{
	struct sa_dump_ctx *c = arg;
	struct xfrm_sa_entry e;
	int rc = xfrm_sa_parse(nlh, nlh->nlmsg_len, &e);

	if (rc < 0)
		return rc;
	if ((e.mark & c->mark_mask) != (c->mark & c->mark_mask) || (c->reqid && e.reqid != c->reqid))
		return 0;
	return c->fn(&e, c->arg);
}

int xfrm_sa_dump(struct xfrm_sock *s, uint32_t mark, uint32_t mark_mask, uint32_t reqid,
		 xfrm_sa_fn fn, void *arg, struct xfrm_err *err)
{
	struct sa_dump_ctx c = { mark, mark_mask, reqid, fn, arg };
	uint8_t buf[64];
	struct nlmsghdr *nlh = xfrm_msg_start(s, buf, XFRM_MSG_GETSA, NLM_F_DUMP);

	return xfrm_talk(s, buf, nlh->nlmsg_len, 1, nlh->nlmsg_seq, NULL, on_sa_entry, &c, true,
			 err);
}

/*
 * Which kernel option an algorithm needs (Debian builds them as modules): the template or
 * the hash the crypto API could not instantiate. AES itself is always there on x86.
 */
static const char *option_for(const char *alg)
{
	if (strstr(alg, "chacha20") || strstr(alg, "poly1305"))
		return "CONFIG_CRYPTO_CHACHA20POLY1305";
	if (strstr(alg, "gcm"))
		return "CONFIG_CRYPTO_GCM";
	if (strstr(alg, "cbc"))
		return "CONFIG_CRYPTO_CBC";
	if (strstr(alg, "sha512") || strstr(alg, "sha384"))
		return "CONFIG_CRYPTO_SHA512";
	if (strstr(alg, "sha256"))
		return "CONFIG_CRYPTO_SHA256";
	if (strstr(alg, "sha1"))
		return "CONFIG_CRYPTO_SHA1";
	if (strstr(alg, "cipher_null"))
		return "CONFIG_CRYPTO_NULL";
	return "the kernel crypto module for this algorithm";
}

static bool alg_set(const struct xfrm_alg *a)
{
	return a->name && *a->name;
}

const char *xfrm_sa_missing_option(const struct xfrm_sa *sa, int rc, const struct xfrm_err *err)
{
	const char *msg = err ? err->msg : "";

	switch (rc) {
	case -EPROTONOSUPPORT:
		/*
		 * "Requested type not found": no ESP registered for the SA's family. ESP in UDP
		 * (RFC 3948) is part of esp4/esp6, so an encapsulated SA needs the same option.
		 */
		return sa->dst.family == AF_INET6 ? "CONFIG_INET6_ESP" : "CONFIG_INET_ESP";
	case -ENOSYS:
	case -ENOENT:
		/* "Requested {AEAD,encryption,auth} algorithm not found": that algorithm's. */
		if (strstr(msg, "AEAD") && alg_set(&sa->aead))
			return option_for(sa->aead.name);
		if (strstr(msg, "auth") && alg_set(&sa->integ))
			return option_for(sa->integ.name);
		if (strstr(msg, "encryption") && alg_set(&sa->encr))
			return option_for(sa->encr.name);
		if (alg_set(&sa->aead))
			return option_for(sa->aead.name);
		return alg_set(&sa->encr) ? option_for(sa->encr.name) : NULL;
	default:
		return NULL;
	}
}

int xfrm_probe_esp(struct xfrm_sock *s, const struct xfrm_alg *encr, const struct xfrm_alg *integ,
		   const struct xfrm_alg *aead, const char **ret_option, struct xfrm_err *err)
{
	/* A throwaway SA on loopback, marked so no packet can ever match it. */
	struct xfrm_sa sa = { .proto = IPPROTO_ESP, .mode = XFRM_MODE_TRANSPORT,
			      .mark = 0x1cd0be5e, .mark_mask = 0xffffffff };
	int rc;

	*ret_option = NULL;
	xfrm_addr_parse("127.0.0.1", &sa.src);
	sa.dst = sa.src;
	sa.spi = 0xc0000000u | (randombytes_random() & 0x3fffffff);
	if (aead) {
		sa.aead = *aead;
	} else {
		sa.encr = *encr;
		if (integ)
			sa.integ = *integ;
	}
	rc = xfrm_sa_add(s, &sa, false, err);
	if (rc == 0)
		return xfrm_sa_delete(s, &sa.dst, sa.spi, IPPROTO_ESP, sa.mark, sa.mark_mask, NULL);
	*ret_option = xfrm_sa_missing_option(&sa, rc, err);
	return rc;
}
