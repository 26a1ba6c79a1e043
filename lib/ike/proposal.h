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
 * nothing matches (NO_PROPOSAL_CHOSEN). Offered proposals of another protocol or with a
 * transform type we do not use or know are not acceptable.
 */
int ike_proposal_select(const struct ike_pld_sa *offered, const struct ike_pld_sa *ours,
			struct ike_proposal *ret);

/*
 * Is this a transform we could choose (a configuration token) or name in a log (one peers
 * commonly offer and we never accept)? What the SA decoder keeps of an offer.
 */
bool ike_transform_known(const struct ike_transform *t);

/* Does p hold a transform of t's type, ID and key length? */
bool ike_proposal_has(const struct ike_proposal *p, const struct ike_transform *t);

/* The transform of a type in a chosen proposal, or NULL. */
const struct ike_transform *ike_proposal_get(const struct ike_proposal *p, uint8_t type);

/*
 * As the initiator: is the responder's answer one of our proposals, with exactly one
 * transform of each type we offered (and nothing the decoder skipped)? 0 or -EPROTO (a
 * responder that did not choose).
 */
int ike_proposal_check_answer(const struct ike_pld_sa *answer, const struct ike_pld_sa *ours,
			      struct ike_proposal *ret);

/*
 * Proposals from their configuration text, strongSwan-style: "aes256-sha256-modp2048" with
 * several proposals separated by commas, most preferred first. Tokens: aes128 aes192 aes256,
 * aes128gcm16 aes192gcm16 aes256gcm16, null (ESP), sha1 sha256 sha384 sha512 (integrity, and
 * the PRF of an IKE proposal unless a prfsha* token names it), modp2048 modp3072 modp4096
 * modp6144 modp8192 ecp256 ecp384 ecp521 x25519 (a DH group: required for IKE; for ESP it
 * asks for PFS). An AEAD IKE proposal without a PRF token uses prfsha256. ESP proposals
 * carry ESN "no". On error *ret_bad points at a static description. -EINVAL.
 */
int ike_proposals_parse(const char *text, uint8_t protocol, struct ike_pld_sa *ret,
			const char **ret_bad);

/*
 * A copy without DH transforms: the Child SA of IKE_AUTH has no KE exchange, so its proposals
 * go out without a group (PFS applies to Child SAs made with CREATE_CHILD_SA).
 */
void ike_proposals_strip_dh(const struct ike_pld_sa *in, struct ike_pld_sa *ret);

/*
 * Proposals as text, for logs: the configuration's form ("aes256-sha256-modp2048", proposals
 * separated by commas), several transforms of one type joined by '/', what the text leaves
 * unsaid (ESN "no", the PRF that goes with the integrity) left out, and a transform without
 * a token named by its type and number ("dh22", "encr12:96"), so our own parse back. A
 * decoded offer's proposal that had transforms skipped ends in "(+N)", N their number.
 * At most len bytes, NUL-terminated; -ENOSPC when cut short (the text then ends in "...").
 */
int ike_proposals_format(const struct ike_pld_sa *sa, char *buf, size_t len);

/* The DH group of the first proposal that has one (the group of our first KE), or 0. */
uint16_t ike_proposals_group(const struct ike_pld_sa *sa);

#endif
