/* See md.h. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "crypto/md.h"

static const char *const md_names[] = { "SHA1", "SHA256", "SHA384", "SHA512" };
#define N_MD (sizeof(md_names) / sizeof(md_names[0]))

static EVP_MD *mds[N_MD];		/* fetched once; immutable, shared by every thread */
static pthread_key_t ctx_key;		/* each thread's EVP_MD_CTX *[N_MD] */
static bool ctx_key_made;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void ctxs_free(void *p)
{
	EVP_MD_CTX **ctxs = p;

	for (size_t i = 0; i < N_MD; i++)
		EVP_MD_CTX_free(ctxs[i]);
	free(ctxs);
}

static void md_setup(void)
{
	for (size_t i = 0; i < N_MD; i++)
		mds[i] = EVP_MD_fetch(NULL, md_names[i], NULL);
	ctx_key_made = pthread_key_create(&ctx_key, ctxs_free) == 0;
	ERR_clear_error();
}

EVP_MD_CTX *crypto_md_begin(const char *md)
{
	EVP_MD_CTX **ctxs;
	size_t i;

	pthread_once(&md_once, md_setup);
	for (i = 0; i < N_MD && strcmp(md_names[i], md) != 0; i++)
		;
	if (i == N_MD || !mds[i] || !ctx_key_made)
		return NULL;
	ctxs = pthread_getspecific(ctx_key);
	if (!ctxs) {
		ctxs = calloc(N_MD, sizeof(*ctxs));
		if (!ctxs || pthread_setspecific(ctx_key, ctxs) != 0) {
			free(ctxs);
			return NULL;
		}
	}
	if (!ctxs[i] && !(ctxs[i] = EVP_MD_CTX_new()))
		return NULL;
	/* started here, whatever a caller that gave up midway left in it */
	if (!EVP_DigestInit_ex2(ctxs[i], mds[i], NULL)) {
		ERR_clear_error();
		return NULL;
	}
	return ctxs[i];
}

int crypto_md_final(EVP_MD_CTX *ctx, uint8_t *out)
{
	unsigned int len = 0;
	int ok = EVP_DigestFinal_ex(ctx, out, &len);

	/* Started again at once: the state after a final is the digest itself. */
	if (!EVP_DigestInit_ex2(ctx, NULL, NULL))
		ok = 0;
	if (!ok) {
		ERR_clear_error();
		return -EIO;
	}
	return (int)len;
}
