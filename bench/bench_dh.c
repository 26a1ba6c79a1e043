/*
 * DH cost per group: how many IKE_SA_INITs a gateway can answer. Prints keygen and derive
 * times through lib/crypto (keygen: as ikd's DH workers make pairs, X25519's in batches of
 * CRYPTO_DH_POOL_BATCH; one: a pair at a time, as a thread with none made ahead), OpenSSL's
 * default derive (which validates the peer key with a second exponentiation) for the MODP
 * groups, and `openssl speed` for comparison. libsodium initialised as ikd does (its fastest
 * X25519 code for this CPU).
 * Usage: bench_dh [iterations-scale]   (default 1; machines are noisy: compare within a run)
 */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "crypto/dh.h"

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static EVP_PKEY *named_dh_key(const char *group)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0),
		OSSL_PARAM_construct_end(),
	};
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "DH", NULL);
	EVP_PKEY *key = NULL;

	if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 || !EVP_PKEY_CTX_set_params(ctx, params) ||
	    EVP_PKEY_keygen(ctx, &key) <= 0)
		key = NULL;
	EVP_PKEY_CTX_free(ctx);
	return key;
}

/* OpenSSL's default path: EVP_PKEY_derive_set_peer() validates the peer key. */
static double openssl_default_derive_us(const char *group, int n)
{
	EVP_PKEY *a = named_dh_key(group);
	EVP_PKEY *b = named_dh_key(group);
	unsigned char out[1024];
	double t0, t1;

	if (!a || !b)
		return -1;
	t0 = now_us();
	for (int i = 0; i < n; i++) {
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, a, NULL);
		size_t len = sizeof(out);

		if (!ctx || EVP_PKEY_derive_init(ctx) <= 0 || EVP_PKEY_derive_set_peer(ctx, b) <= 0 ||
		    EVP_PKEY_derive(ctx, out, &len) <= 0)
			abort();
		EVP_PKEY_CTX_free(ctx);
	}
	t1 = now_us();
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
	return (t1 - t0) / n;
}

int main(int argc, char **argv)
{
	int scale = argc > 1 ? atoi(argv[1]) : 1;

	/* as ikd: libsodium picks its fastest X25519 code for this CPU */
	if (sodium_init() < 0)
		abort();
	printf("%-10s %8s %12s %12s %12s %14s %8s\n", "group", "runs", "keygen us", "one us",
	       "derive us", "openssl-dflt", "ratio");
	for (size_t g = 0; crypto_dh_at(g); g++) {
		const struct crypto_dh_group *grp = crypto_dh_at(g);
		int n = (grp->pub_len >= 512 ? 20 : grp->kind == CRYPTO_DH_MODP ? 200 : 1000) * scale;
		struct crypto_dh *a, *b;
		struct secret s = { 0 };
		double t0, t_keygen, t_one, t_derive, t_dflt = -1;
		int made;

		if (crypto_dh_new(grp->id, &b) < 0)
			abort();
		/* As the daemon's DH workers make them: X25519's in batches. */
		t0 = now_us();
		for (made = 0; made < n; made += CRYPTO_DH_POOL_BATCH) {
			struct crypto_dh *batch[CRYPTO_DH_POOL_BATCH];

			if (crypto_dh_generate_n(grp->id, CRYPTO_DH_POOL_BATCH, batch) < 0)
				abort();
			for (int j = 0; j < CRYPTO_DH_POOL_BATCH; j++)
				crypto_dh_free(batch[j]);
		}
		t_keygen = (now_us() - t0) / made;
		/* One at a time, as a thread whose workers have none ready makes it. */
		t0 = now_us();
		for (int i = 0; i < n; i++) {
			if (crypto_dh_generate(grp->id, &a) < 0)
				abort();
			crypto_dh_free(a);
		}
		t_one = (now_us() - t0) / n;
		if (crypto_dh_new(grp->id, &a) < 0)
			abort();
		t0 = now_us();
		for (int i = 0; i < n; i++) {
			if (crypto_dh_derive(a, crypto_dh_public(b), grp->pub_len, &s) < 0)
				abort();
			secret_clear(&s);
		}
		t_derive = (now_us() - t0) / n;
		if (grp->kind == CRYPTO_DH_MODP)
			t_dflt = openssl_default_derive_us(grp->ossl_name, n);
		if (t_dflt > 0)
			printf("%-10s %8d %12.1f %12.1f %12.1f %14.1f %7.1fx\n", grp->name, n,
			       t_keygen, t_one, t_derive, t_dflt, t_dflt / t_derive);
		else
			printf("%-10s %8d %12.1f %12.1f %12.1f %14s %8s\n", grp->name, n, t_keygen,
			       t_one, t_derive, "-", "-");
		crypto_dh_free(a);
		crypto_dh_free(b);
	}
	fflush(stdout);
	printf("\nopenssl speed, same machine (ops/s: sign = keygen+derive-ish, see openssl-speed(1)):\n");
	fflush(stdout);
	return system("openssl speed -seconds 1 ffdh2048 ffdh3072 ecdhp256 ecdhp384 ecdhx25519 "
		      "2>/dev/null | sed -n '/op/,$p'") == 0 ? 0 : 1;
}
