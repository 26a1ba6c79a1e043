/* SA proposal selection (see proposal.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ike/proposal.h"

const struct ike_transform *ike_proposal_get(const struct ike_proposal *p, uint8_t type)
{
	for (uint8_t i = 0; i < p->n_transforms; i++)
		if (p->t[i].type == type)
			return &p->t[i];
	return NULL;
}

static bool same_transform(const struct ike_transform *a, const struct ike_transform *b)
{
	return a->type == b->type && a->id == b->id && a->key_bits == b->key_bits;
}

bool ike_proposal_has(const struct ike_proposal *p, const struct ike_transform *t)
{
	for (uint8_t i = 0; i < p->n_transforms; i++)
		if (same_transform(&p->t[i], t))
			return true;
	return false;
}

static bool has_type(const struct ike_proposal *p, uint8_t type)
{
	return ike_proposal_get(p, type) != NULL;
}

/*
 * Match one offered proposal against one of ours: for each transform type, our most
 * preferred transform that the peer offers. Types must be the same set on both sides.
 */
static bool match(const struct ike_proposal *off, const struct ike_proposal *our,
		  struct ike_proposal *ret)
{
	if (off->protocol != our->protocol || off->unknown_type)
		return false;
	for (uint8_t i = 0; i < off->n_transforms; i++)
		if (!has_type(our, off->t[i].type))
			return false;	/* a type we do not negotiate: not acceptable */
	memset(ret, 0, sizeof(*ret));
	ret->num = off->num;
	ret->protocol = off->protocol;
	ret->spi_len = off->spi_len;
	memcpy(ret->spi, off->spi, off->spi_len);
	for (uint8_t i = 0; i < our->n_transforms; i++) {
		const struct ike_transform *want = &our->t[i];
		bool offered = false;

		if (has_type(ret, want->type))
			continue;	/* this type is already chosen, by a preferred entry */
		for (uint8_t j = 0; j < off->n_transforms && !offered; j++)
			offered = same_transform(&off->t[j], want);
		if (offered)
			ret->t[ret->n_transforms++] = *want;
	}
	/* Every type we use must have been chosen. */
	for (uint8_t i = 0; i < our->n_transforms; i++)
		if (!has_type(ret, our->t[i].type))
			return false;
	return true;
}

int ike_proposal_select(const struct ike_pld_sa *offered, const struct ike_pld_sa *ours,
			struct ike_proposal *ret)
{
	for (uint8_t o = 0; o < ours->n; o++)
		for (uint8_t i = 0; i < offered->n; i++)
			if (match(&offered->p[i], &ours->p[o], ret))
				return 0;
	return -ENOENT;
}

int ike_proposal_check_answer(const struct ike_pld_sa *answer, const struct ike_pld_sa *ours,
			      struct ike_proposal *ret)
{
	const struct ike_proposal *a;

	/* §3.3.6: the answer is one proposal with one transform of each type. */
	if (answer->n != 1 || answer->n_ignored)
		return -EPROTO;
	a = &answer->p[0];
	if (a->n_ignored || a->unknown_type)
		return -EPROTO;
	for (uint8_t i = 0; i < a->n_transforms; i++)
		for (uint8_t j = i + 1; j < a->n_transforms; j++)
			if (a->t[i].type == a->t[j].type)
				return -EPROTO;
	for (uint8_t o = 0; o < ours->n; o++) {
		const struct ike_proposal *our = &ours->p[o];
		bool ok = our->protocol == a->protocol && our->num == a->num && a->n_transforms > 0;

		/* Each chosen transform was offered in this proposal, and every type is there. */
		for (uint8_t i = 0; ok && i < a->n_transforms; i++) {
			bool found = false;

			for (uint8_t j = 0; j < our->n_transforms && !found; j++)
				found = same_transform(&a->t[i], &our->t[j]);
			ok = found;
		}
		for (uint8_t j = 0; ok && j < our->n_transforms; j++)
			ok = has_type(a, our->t[j].type);
		if (ok) {
			*ret = *a;
			return 0;
		}
	}
	return -EPROTO;
}

struct alg_token {
	const char *name;
	uint8_t type;
	uint16_t id;
	uint16_t key_bits;
};

static const struct alg_token alg_tokens[] = {
	{ "aes128", IKE_TRANSFORM_ENCR, IKE_ENCR_AES_CBC, 128 },
	{ "aes192", IKE_TRANSFORM_ENCR, IKE_ENCR_AES_CBC, 192 },
	{ "aes256", IKE_TRANSFORM_ENCR, IKE_ENCR_AES_CBC, 256 },
	{ "aes128gcm16", IKE_TRANSFORM_ENCR, IKE_ENCR_AES_GCM_16, 128 },
	{ "aes192gcm16", IKE_TRANSFORM_ENCR, IKE_ENCR_AES_GCM_16, 192 },
	{ "aes256gcm16", IKE_TRANSFORM_ENCR, IKE_ENCR_AES_GCM_16, 256 },
	{ "null", IKE_TRANSFORM_ENCR, IKE_ENCR_NULL, 0 },
	{ "sha1", IKE_TRANSFORM_INTEG, IKE_AUTH_HMAC_SHA1_96, 0 },
	{ "sha256", IKE_TRANSFORM_INTEG, IKE_AUTH_HMAC_SHA2_256_128, 0 },
	{ "sha384", IKE_TRANSFORM_INTEG, IKE_AUTH_HMAC_SHA2_384_192, 0 },
	{ "sha512", IKE_TRANSFORM_INTEG, IKE_AUTH_HMAC_SHA2_512_256, 0 },
	{ "prfsha1", IKE_TRANSFORM_PRF, IKE_PRF_HMAC_SHA1, 0 },
	{ "prfsha256", IKE_TRANSFORM_PRF, IKE_PRF_HMAC_SHA2_256, 0 },
	{ "prfsha384", IKE_TRANSFORM_PRF, IKE_PRF_HMAC_SHA2_384, 0 },
	{ "prfsha512", IKE_TRANSFORM_PRF, IKE_PRF_HMAC_SHA2_512, 0 },
	{ "modp2048", IKE_TRANSFORM_DH, IKE_DH_MODP_2048, 0 },
	{ "modp3072", IKE_TRANSFORM_DH, IKE_DH_MODP_3072, 0 },
	{ "modp4096", IKE_TRANSFORM_DH, IKE_DH_MODP_4096, 0 },
	{ "modp6144", IKE_TRANSFORM_DH, IKE_DH_MODP_6144, 0 },
	{ "modp8192", IKE_TRANSFORM_DH, IKE_DH_MODP_8192, 0 },
	{ "ecp256", IKE_TRANSFORM_DH, IKE_DH_ECP_256, 0 },
	{ "ecp384", IKE_TRANSFORM_DH, IKE_DH_ECP_384, 0 },
	{ "ecp521", IKE_TRANSFORM_DH, IKE_DH_ECP_521, 0 },
	{ "x25519", IKE_TRANSFORM_DH, IKE_DH_CURVE25519, 0 },
};

/* The PRF that goes with an integrity algorithm of the same hash. */
static uint16_t prf_of_integ(uint16_t integ)
{
	switch (integ) {
	case IKE_AUTH_HMAC_SHA1_96:
		return IKE_PRF_HMAC_SHA1;
	case IKE_AUTH_HMAC_SHA2_384_192:
		return IKE_PRF_HMAC_SHA2_384;
	case IKE_AUTH_HMAC_SHA2_512_256:
		return IKE_PRF_HMAC_SHA2_512;
	default:
		return IKE_PRF_HMAC_SHA2_256;
	}
}

static int add_transform(struct ike_proposal *p, uint8_t type, uint16_t id, uint16_t bits)
{
	if (p->n_transforms >= IKE_MAX_TRANSFORMS)
		return -EINVAL;
	p->t[p->n_transforms++] = (struct ike_transform){ .type = type, .id = id, .key_bits = bits };
	return 0;
}

static int parse_one(char *text, uint8_t protocol, struct ike_proposal *p, const char **bad)
{
	const struct ike_transform *encr, *integ;
	char *save = NULL;
	bool aead;

	for (char *tok = strtok_r(text, "-", &save); tok; tok = strtok_r(NULL, "-", &save)) {
		const struct alg_token *a = NULL;

		for (size_t i = 0; i < sizeof(alg_tokens) / sizeof(alg_tokens[0]); i++)
			if (strcmp(alg_tokens[i].name, tok) == 0)
				a = &alg_tokens[i];
		if (!a) {
			*bad = "unknown algorithm";
			return -EINVAL;
		}
		if (ike_proposal_get(p, a->type) ||
		    (a->type == IKE_TRANSFORM_PRF && protocol != IKE_PROTO_IKE) ||
		    (a->id == IKE_ENCR_NULL && protocol == IKE_PROTO_IKE)) {
			*bad = "algorithm not allowed here or given twice";
			return -EINVAL;
		}
		if (add_transform(p, a->type, a->id, a->key_bits) < 0) {
			*bad = "too many algorithms";
			return -EINVAL;
		}
	}
	encr = ike_proposal_get(p, IKE_TRANSFORM_ENCR);
	integ = ike_proposal_get(p, IKE_TRANSFORM_INTEG);
	if (!encr || encr != &p->t[0]) {
		*bad = "encryption must come first";
		return -EINVAL;
	}
	aead = encr->id == IKE_ENCR_AES_GCM_16;
	if (aead == (integ != NULL)) {
		*bad = aead ? "integrity given with an AEAD cipher" : "integrity missing";
		return -EINVAL;
	}
	if (protocol == IKE_PROTO_IKE) {
		if (!ike_proposal_get(p, IKE_TRANSFORM_DH)) {
			*bad = "DH group missing";
			return -EINVAL;
		}
		if (!ike_proposal_get(p, IKE_TRANSFORM_PRF) &&
		    add_transform(p, IKE_TRANSFORM_PRF, integ ? prf_of_integ(integ->id) :
				  IKE_PRF_HMAC_SHA2_256, 0) < 0) {
			*bad = "too many algorithms";
			return -EINVAL;
		}
	} else if (add_transform(p, IKE_TRANSFORM_ESN, IKE_ESN_NO, 0) < 0) {
		*bad = "too many algorithms";
		return -EINVAL;
	}
	return 0;
}

int ike_proposals_parse(const char *text, uint8_t protocol, struct ike_pld_sa *ret,
			const char **ret_bad)
{
	char buf[512];
	char *save = NULL;
	const char *bad = "empty";

	memset(ret, 0, sizeof(*ret));
	if (!text || strlen(text) >= sizeof(buf)) {
		*ret_bad = "too long";
		return -EINVAL;
	}
	strcpy(buf, text);
	for (char *prop = strtok_r(buf, ",", &save); prop; prop = strtok_r(NULL, ",", &save)) {
		struct ike_proposal *p;

		if (ret->n >= IKE_MAX_PROPOSALS) {
			*ret_bad = "too many proposals";
			return -EINVAL;
		}
		p = &ret->p[ret->n];
		p->num = (uint8_t)(ret->n + 1);
		p->protocol = protocol;
		if (parse_one(prop, protocol, p, &bad) < 0) {
			*ret_bad = bad;
			memset(ret, 0, sizeof(*ret));
			return -EINVAL;
		}
		ret->n++;
	}
	if (ret->n == 0) {
		*ret_bad = bad;
		return -EINVAL;
	}
	return 0;
}

uint16_t ike_proposals_group(const struct ike_pld_sa *sa)
{
	for (uint8_t i = 0; i < sa->n; i++) {
		const struct ike_transform *t = ike_proposal_get(&sa->p[i], IKE_TRANSFORM_DH);

		if (t)
			return t->id;
	}
	return 0;
}

void ike_proposals_strip_dh(const struct ike_pld_sa *in, struct ike_pld_sa *ret)
{
	*ret = *in;
	for (uint8_t i = 0; i < ret->n; i++) {
		struct ike_proposal *p = &ret->p[i];
		uint8_t n = 0;

		for (uint8_t j = 0; j < p->n_transforms; j++)
			if (p->t[j].type != IKE_TRANSFORM_DH)
				p->t[n++] = p->t[j];
		p->n_transforms = n;
	}
}

/* Names for what peers commonly offer and we never accept: shown, never parsed. */
static const struct alg_token shown_only[] = {
	{ "3des", IKE_TRANSFORM_ENCR, IKE_ENCR_3DES, 0 },
	{ "aes128ctr", IKE_TRANSFORM_ENCR, IKE_ENCR_AES_CTR, 128 },
	{ "aes256ctr", IKE_TRANSFORM_ENCR, IKE_ENCR_AES_CTR, 256 },
	{ "aes128ccm16", IKE_TRANSFORM_ENCR, IKE_ENCR_AES_CCM_16, 128 },
	{ "aes256ccm16", IKE_TRANSFORM_ENCR, IKE_ENCR_AES_CCM_16, 256 },
	{ "aes128gcm8", IKE_TRANSFORM_ENCR, IKE_ENCR_AES_GCM_8, 128 },
	{ "aes256gcm8", IKE_TRANSFORM_ENCR, IKE_ENCR_AES_GCM_8, 256 },
	{ "aes128gcm12", IKE_TRANSFORM_ENCR, IKE_ENCR_AES_GCM_12, 128 },
	{ "aes256gcm12", IKE_TRANSFORM_ENCR, IKE_ENCR_AES_GCM_12, 256 },
	{ "chacha20poly1305", IKE_TRANSFORM_ENCR, IKE_ENCR_CHACHA20_POLY1305, 0 },
	{ "md5", IKE_TRANSFORM_INTEG, IKE_AUTH_HMAC_MD5_96, 0 },
	{ "prfmd5", IKE_TRANSFORM_PRF, IKE_PRF_HMAC_MD5, 0 },
	{ "prfaesxcbc", IKE_TRANSFORM_PRF, IKE_PRF_AES128_XCBC, 0 },
	{ "modp1024", IKE_TRANSFORM_DH, IKE_DH_MODP_1024, 0 },
	{ "modp1536", IKE_TRANSFORM_DH, IKE_DH_MODP_1536, 0 },
	{ "esn", IKE_TRANSFORM_ESN, IKE_ESN_YES, 0 },
};

static const char *token_name(const struct alg_token *v, size_t n, const struct ike_transform *t)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].type == t->type && v[i].id == t->id && v[i].key_bits == t->key_bits)
			return v[i].name;
	return NULL;
}

#define N_TOKENS(v) (sizeof(v) / sizeof((v)[0]))

/* ESN "no" (what our ESP proposals carry) besides the tables: the decoder keeps at most this. */
_Static_assert(N_TOKENS(alg_tokens) + N_TOKENS(shown_only) + 1 <= IKE_MAX_TRANSFORMS,
	       "IKE_MAX_TRANSFORMS must hold every transform ike_transform_known() names");

bool ike_transform_known(const struct ike_transform *t)
{
	return (t->type == IKE_TRANSFORM_ESN && t->id == IKE_ESN_NO && t->key_bits == 0) ||
	       token_name(alg_tokens, N_TOKENS(alg_tokens), t) ||
	       token_name(shown_only, N_TOKENS(shown_only), t);
}

/* One transform: its token, or its type and number ("dh22", "encr12:96" with a key length). */
static void transform_text(const struct ike_transform *t, char *buf, size_t len)
{
	static const char *const types[] = { "?", "encr", "prf", "integ", "dh", "esn" };
	const char *name = token_name(alg_tokens, sizeof(alg_tokens) / sizeof(alg_tokens[0]), t);

	if (!name)
		name = token_name(shown_only, sizeof(shown_only) / sizeof(shown_only[0]), t);
	if (name)
		snprintf(buf, len, "%s", name);
	else if (t->key_bits)
		snprintf(buf, len, "%s%u:%u", types[t->type < 6 ? t->type : 0], t->id, t->key_bits);
	else
		snprintf(buf, len, "%s%u", types[t->type < 6 ? t->type : 0], t->id);
}

/* The PRF our text leaves unsaid: the one parse_one() adds for the integrity (or AEAD). */
static bool prf_implied(const struct ike_proposal *p, const struct ike_transform *prf)
{
	unsigned n_prf = 0, n_integ = 0;
	const struct ike_transform *integ = NULL;

	for (uint8_t j = 0; j < p->n_transforms; j++) {
		n_prf += p->t[j].type == IKE_TRANSFORM_PRF;
		if (p->t[j].type == IKE_TRANSFORM_INTEG) {
			n_integ++;
			integ = &p->t[j];
		}
	}
	return n_prf == 1 && n_integ <= 1 &&
	       prf->id == (integ ? prf_of_integ(integ->id) : IKE_PRF_HMAC_SHA2_256);
}

/* Append sep and s at *off; cut short, the text ends in "..." where it still fits. */
static int put(char *buf, size_t len, size_t *off, const char *sep, const char *s)
{
	int n = snprintf(buf + *off, len - *off, "%s%s", sep, s);

	if (n < 0 || (size_t)n >= len - *off) {
		*off = *off < len - 4 ? *off : len - 4;
		memcpy(buf + *off, "...", 4);
		return -ENOSPC;
	}
	*off += (size_t)n;
	return 0;
}

int ike_proposals_format(const struct ike_pld_sa *sa, char *buf, size_t len)
{
	/* Types in the order the configuration writes them: encryption, integrity, PRF, DH. */
	static const uint8_t order[] = { IKE_TRANSFORM_ENCR, IKE_TRANSFORM_INTEG, IKE_TRANSFORM_PRF,
					 IKE_TRANSFORM_DH, IKE_TRANSFORM_ESN };
	size_t off = 0;

	if (len < 4)
		return -ENOSPC;
	buf[0] = '\0';
	for (uint8_t i = 0; i < sa->n; i++) {
		const struct ike_proposal *p = &sa->p[i];
		bool first_in_prop = true;

		for (size_t k = 0; k < sizeof(order); k++) {
			bool first_of_type = true;

			for (uint8_t j = 0; j < p->n_transforms; j++) {
				const struct ike_transform *t = &p->t[j];
				char one[32];

				if (t->type != order[k] ||
				    (t->type == IKE_TRANSFORM_ESN && t->id == IKE_ESN_NO) ||
				    (t->type == IKE_TRANSFORM_PRF && prf_implied(p, t)))
					continue;	/* what our text leaves unsaid too */
				transform_text(t, one, sizeof(one));
				if (put(buf, len, &off, off == 0 ? "" : first_in_prop ? "," :
					first_of_type ? "-" : "/", one) < 0)
					return -ENOSPC;
				first_of_type = first_in_prop = false;
			}
		}
		if (p->n_ignored) {
			/* Transforms the decoder skipped: how many, so the log does not hide them. */
			char more[8];

			snprintf(more, sizeof(more), "(+%u)", p->n_ignored);
			if (put(buf, len, &off, off > 0 && first_in_prop ? "," : "", more) < 0)
				return -ENOSPC;
		}
	}
	return 0;
}
