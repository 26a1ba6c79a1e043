/* SA proposal selection (see proposal.h). */
#include <errno.h>
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
	if (off->protocol != our->protocol)
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
			offered = !off->t[j].unknown_attr && same_transform(&off->t[j], want);
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
	if (answer->n != 1)
		return -EPROTO;
	a = &answer->p[0];
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
