/*
 * An established IKE SA (after IKE_AUTH): message IDs with a window of one in each direction
 * (RFC 7296 §2.3), the retransmission cache, and the INFORMATIONAL exchange (§1.4): liveness
 * checks (DPD) and Delete of the IKE SA or of Child SAs. Sans-I/O like the rest of lib/ike.
 */
#ifndef IKD_IKE_SA_H
#define IKD_IKE_SA_H

#include "ike/sa_init.h"

struct ike_sa {
	struct ike_init k;		/* SPIs, role, suite, keys */
	uint32_t next_req;		/* the ID of our next request */
	uint32_t peer_next;		/* the ID the peer's next request must carry */
	bool waiting;			/* our request is outstanding */
	struct ike_writer req;		/* it, as sent, for retransmission */
	struct ike_writer reply;	/* our answer to the peer's last request */
	bool have_reply;
};

/*
 * Take over an IKE SA that IKE_SA_INIT and IKE_AUTH established (init is emptied: its DH and
 * IKE_SA_INIT messages are freed, the keys move). The initiator used IDs 0 and 1.
 */
void ike_sa_from_init(struct ike_sa *sa, struct ike_init *init);
void ike_sa_clear(struct ike_sa *sa);

/* Our requests; -EBUSY while one is outstanding. out gets the message to send. */
int ike_sa_dpd_request(struct ike_sa *sa, struct ike_writer *out);
int ike_sa_delete_request(struct ike_sa *sa, struct ike_writer *out);
int ike_sa_delete_child_request(struct ike_sa *sa, const uint32_t *spis_in, size_t n,
				struct ike_writer *out);

enum ike_sa_event {
	IKE_SA_EV_REPLY = 1,		/* a request was handled: out has the reply */
	IKE_SA_EV_RESENT,		/* a retransmitted request: out has the same reply again */
	IKE_SA_EV_ANSWERED,		/* our outstanding request got its response */
	IKE_SA_EV_DELETED,		/* the peer deleted the IKE SA (out has the reply) */
};

struct ike_sa_rx {
	enum ike_sa_event event;
	uint8_t exchange;
	size_t n_child_deleted;		/* Child SAs the peer deleted: their outbound SPIs */
	uint32_t child_deleted[IKE_MAX_DELETE_SPIS];
};

/* Our inbound SPI of the Child SA whose outbound SPI is peer_spi, 0 when there is none. */
typedef uint32_t (*ike_sa_spi_map_fn)(void *arg, uint32_t peer_spi);

/*
 * A message arrived for this IKE SA. Returns 0 with rx filled, or -errno for a message to drop
 * (malformed, failed integrity, outside the window, an exchange not handled here): nothing
 * changes then. Requests other than INFORMATIONAL are -EOPNOTSUPP for now.
 */
int ike_sa_receive(struct ike_sa *sa, uint8_t *msg, size_t len, ike_sa_spi_map_fn map, void *arg,
		   struct ike_writer *out, struct ike_sa_rx *rx);

/* Resend the outstanding request (a retransmission timer fired): -ENOENT if none. */
int ike_sa_retransmit(const struct ike_sa *sa, struct ike_writer *out);

#endif
