/*
 * SA proposal selection (RFC 7296 §2.7, §3.3.6): the responder picks, in ITS order of
 * preference, the first of its proposals that the initiator also offers, and answers with
 * exactly one transform of each type. Used for IKE SAs and Child SAs alike.
 */
#ifndef IKD_IKE_PROPOSAL_H
#define IKD_IKE_PROPOSAL_H

#include "ike/payload.h"

/*
 * Choose from offered (the peer's SA payload) against ours (our configured proposals, most
 * preferred first; within a proposal, transforms of one type most preferred first).
 * ret gets the peer's proposal number and SPI with one transform per type. -ENOENT when
 * nothing matches (NO_PROPOSAL_CHOSEN). Offered proposals of another protocol, with a
 * transform type we do not use, or with an attribute we do not know, are not acceptable.
 */
int ike_proposal_select(const struct ike_pld_sa *offered, const struct ike_pld_sa *ours,
			struct ike_proposal *ret);

/* The transform of a type in a chosen proposal, or NULL. */
const struct ike_transform *ike_proposal_get(const struct ike_proposal *p, uint8_t type);

/*
 * As the initiator: is the responder's answer one of our proposals, with exactly one
 * transform of each type we offered? 0 or -EPROTO (a responder that did not choose).
 */
int ike_proposal_check_answer(const struct ike_pld_sa *answer, const struct ike_pld_sa *ours,
			      struct ike_proposal *ret);

#endif
