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

/* The slot holding name, or the empty one where it would go. */
static size_t slot_of(const struct site_index *ix, const struct site *sites, const char *name)
{
	size_t mask = ix->cap - 1, i = name_hash(name) & mask;

	while (ix->slots[i] && strcmp(sites[ix->slots[i] - 1].name, name) != 0)
		i = (i + 1) & mask;
	return i;
}

int site_index_add(struct site_index *ix, const struct site *sites, size_t n, size_t pos)
{
	if (2 * n > ix->cap) {
		size_t cap = ix->cap ? ix->cap : 1024;
		uint32_t *slots;

		while (2 * n > cap)
			cap *= 2;
		slots = calloc(cap, sizeof(*slots));
		if (!slots)
			return -ENOMEM;
		free(ix->slots);
		ix->slots = slots;
		ix->cap = cap;
		for (size_t i = 0; i < n; i++)
			if (i != pos)
				ix->slots[slot_of(ix, sites, sites[i].name)] = (uint32_t)i + 1;
	}
	ix->slots[slot_of(ix, sites, sites[pos].name)] = (uint32_t)pos + 1;
	return 0;
}

ssize_t site_index_find(const struct site_index *ix, const struct site *sites, const char *name)
{
	size_t i;

	if (!ix->cap)
		return -1;
	i = slot_of(ix, sites, name);
	return ix->slots[i] ? (ssize_t)ix->slots[i] - 1 : -1;
}

void site_index_clear(struct site_index *ix)
{
	free(ix->slots);
	memset(ix, 0, sizeof(*ix));
}
