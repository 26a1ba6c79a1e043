/* See index.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "site/index.h"

static uint32_t name_hash(const char *name)
{
	uint32_t h = 2166136261u;

	for (; *name; name++)
		h = (h ^ (uint8_t)*name) * 16777619u;
	return h;
}

/*
 * The slot holding name, or the empty one where it would go. A slot keeps the name's hash:
 * a probe compares names only when the hashes are equal, and a rebuild never reads the
 * sites (each is a cache miss: 100,000 sites are 235 MB).
 */
static size_t slot_of(const struct site_index *ix, const struct site *sites, const char *name,
		      uint32_t h)
{
	size_t mask = ix->cap - 1, i = h & mask;

	while (ix->slots[i] && ((uint32_t)(ix->slots[i] >> 32) != h ||
				strcmp(sites[(uint32_t)ix->slots[i] - 1].name, name) != 0))
		i = (i + 1) & mask;
	return i;
}

static size_t free_slot(const struct site_index *ix, uint32_t h)
{
	size_t mask = ix->cap - 1, i = h & mask;

	while (ix->slots[i])
		i = (i + 1) & mask;
	return i;
}

int site_index_add(struct site_index *ix, const struct site *sites, size_t n, size_t pos)
{
	uint32_t h = name_hash(sites[pos].name);

	if (2 * n > ix->cap) {
		size_t cap = ix->cap ? ix->cap : 1024, old_cap = ix->cap;
		uint64_t *slots, *old = ix->slots;

		while (2 * n > cap)
			cap *= 2;
		slots = calloc(cap, sizeof(*slots));
		if (!slots)
			return -ENOMEM;
		ix->slots = slots;
		ix->cap = cap;
		/* The entries moved with their hashes; a new index takes all n sites. */
		for (size_t i = 0; i < old_cap; i++)
			if (old[i])
				ix->slots[free_slot(ix, (uint32_t)(old[i] >> 32))] = old[i];
		free(old);
		for (size_t i = 0; old_cap == 0 && i < n; i++) {
			uint32_t hi = name_hash(sites[i].name);

			if (i != pos)
				ix->slots[slot_of(ix, sites, sites[i].name, hi)] =
					(uint64_t)hi << 32 | ((uint32_t)i + 1);
		}
	}
	ix->slots[slot_of(ix, sites, sites[pos].name, h)] = (uint64_t)h << 32 | ((uint32_t)pos + 1);
	return 0;
}

ssize_t site_index_find(const struct site_index *ix, const struct site *sites, const char *name)
{
	size_t i;

	if (!ix->cap)
		return -1;
	i = slot_of(ix, sites, name, name_hash(name));
	return ix->slots[i] ? (ssize_t)(uint32_t)ix->slots[i] - 1 : -1;
}

void site_index_clear(struct site_index *ix)
{
	free(ix->slots);
	memset(ix, 0, sizeof(*ix));
}

/* ---- by identity ---- */

static size_t id_slot(const struct site_index_id *ix, const struct site *sites,
		      const struct site *s, uint32_t h)
{
	size_t mask = ix->cap - 1, i = h & mask;

	while (ix->slots[i] && !site_same_id(&sites[ix->slots[i] - 1], s))
		i = (i + 1) & mask;
	return i;
}

int site_index_id_add(struct site_index_id *ix, const struct site *sites, size_t pos)
{
	if (2 * (ix->n + 1) > ix->cap) {
		size_t cap = ix->cap ? 2 * ix->cap : 1024;
		uint32_t *old = ix->slots, *slots = calloc(cap, sizeof(*slots));
		size_t old_cap = ix->cap;

		if (!slots)
			return -ENOMEM;
		ix->slots = slots;
		ix->cap = cap;
		for (size_t i = 0; i < old_cap; i++)
			if (old[i]) {
				const struct site *o = &sites[old[i] - 1];

				ix->slots[id_slot(ix, sites, o, site_id_hash(o))] = old[i];
			}
		free(old);
	}
	ix->slots[id_slot(ix, sites, &sites[pos], site_id_hash(&sites[pos]))] = (uint32_t)pos + 1;
	ix->n++;
	return 0;
}

ssize_t site_index_id_find(const struct site_index_id *ix, const struct site *sites,
			   const struct site *s)
{
	size_t i;

	if (!ix->cap)
		return -1;
	i = id_slot(ix, sites, s, site_id_hash(s));
	return ix->slots[i] ? (ssize_t)ix->slots[i] - 1 : -1;
}

void site_index_id_clear(struct site_index_id *ix)
{
	free(ix->slots);
	memset(ix, 0, sizeof(*ix));
}
