/* A name index over an array of sites (open addressing, FNV-1a): O(1) lookups at 100k sites. */
#ifndef IKD_SITE_INDEX_H
#define IKD_SITE_INDEX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "site/site.h"

struct site_index {
	uint64_t *slots;	/* the name's hash << 32 | position + 1 in the array; 0 empty */
	size_t cap;		/* a power of two, at least twice the entries */
};

/*
 * Index sites[pos] (sites has n entries, pos among them); grows as needed. The first add
 * indexes all n; later ones add pos to what is indexed (the entries keep their hashes, so
 * growing never reads the sites again).
 */
int site_index_add(struct site_index *ix, const struct site *sites, size_t n, size_t pos);
/* The position of name, or -1. */
ssize_t site_index_find(const struct site_index *ix, const struct site *sites, const char *name);
void site_index_clear(struct site_index *ix);

/*
 * The same over identities (site_same_id(), site_id_hash()): the gateway's rule that no two
 * sites share one, checked in O(1) a site over a 100,000-site import.
 */
struct site_index_id {
	uint32_t *slots;	/* position + 1; 0 empty */
	size_t cap;		/* a power of two, at least twice the entries */
	size_t n;
};

/* Index sites[pos]; grows as needed. -ENOMEM only. */
int site_index_id_add(struct site_index_id *ix, const struct site *sites, size_t pos);
/* The position of an indexed site with s's identity, or -1. */
ssize_t site_index_id_find(const struct site_index_id *ix, const struct site *sites,
			   const struct site *s);
void site_index_id_clear(struct site_index_id *ix);

#endif
