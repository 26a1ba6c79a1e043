/*
 * Texts tunnels share (see tunnel.h, tun_text_get): site and POP names, error texts, each
 * held once however many tunnels show it (a gateway's tunnels of one site, an edge router's
 * to one POP, a kernel without ESP refusing every Child SA): counted references, found by
 * content in a hash that grows with them.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel/tunnel_int.h"

struct tun_text {
	struct tun_text *next;
	uint32_t refs;
	uint32_t hash;
	char s[];
};

static const char no_text[] = "";

const char *tun_text_get(struct ikd *d, const char *s)
{
	uint32_t h;
	size_t len;
	struct tun_text *x;

	if (!s[0])
		return no_text;
	h = tun_name_hash(s);
	len = strlen(s);
	if (d->n_texts >= d->cap_texts) {
		size_t cap = d->cap_texts ? 2 * d->cap_texts : 64;
		struct tun_text **v = calloc(cap, sizeof(*v));

		if (!v)
			return NULL;
		for (size_t i = 0; i < d->cap_texts; i++)
			while ((x = d->texts[i])) {
				d->texts[i] = x->next;
				x->next = v[x->hash & (cap - 1)];
				v[x->hash & (cap - 1)] = x;
			}
		free(d->texts);
		d->texts = v;
		d->cap_texts = cap;
	}
	for (x = d->texts[h & (d->cap_texts - 1)]; x; x = x->next)
		if (x->hash == h && !strcmp(x->s, s)) {
			x->refs++;
			return x->s;
		}
	x = malloc(sizeof(*x) + len + 1);
	if (!x)
		return NULL;
	x->refs = 1;
	x->hash = h;
	memcpy(x->s, s, len + 1);
	x->next = d->texts[h & (d->cap_texts - 1)];
	d->texts[h & (d->cap_texts - 1)] = x;
	d->n_texts++;
	return x->s;
}

void tun_text_put(struct ikd *d, const char *s)
{
	struct tun_text **p, *x;

	if (!s || s == no_text)
		return;
	x = (struct tun_text *)(void *)(s - offsetof(struct tun_text, s));
	if (--x->refs)
		return;
	for (p = &d->texts[x->hash & (d->cap_texts - 1)]; *p != x; p = &(*p)->next)
		;
	*p = x->next;
	d->n_texts--;
	free(x);
}

void tun_texts_clear(struct ikd *d)
{
	free(d->texts);		/* every text went with its last tunnel and the reqids */
	d->texts = NULL;
	d->n_texts = d->cap_texts = 0;
}
