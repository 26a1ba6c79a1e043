/*
 * The IKE_SA_INIT exchange (RFC 7296 §1.2, §2.6, §2.7, §2.23; RFC 7383 §2.3), both roles,
 * sans-I/O: functions take received bytes and write the message to send into a writer; the
 * caller owns sockets and timers. At the end both sides hold the negotiated suite, the keys
 * (SK_*) and the two messages exactly as sent, which IKE_AUTH signs.
 */
#ifndef IKD_IKE_SA_INIT_H
#define IKD_IKE_SA_INIT_H

#include <stdbool.h>
#include <stdint.h>

#include "crypto/dh.h"
#include "crypto/prf.h"
#include "ike/message.h"

/* An address and port as this side sees them, for NAT detection (and cookies). */
struct ike_endpoint {
	uint8_t addr[16];
	uint8_t addr_len;	/* 4 or 16 */
	uint16_t port;
};

struct ike_init_cfg {
	const struct ike_pld_sa *proposals;	/* ours, protocol IKE, most preferred first */
	uint16_t dh_group;		/* initiator: the group of the first KE */
	bool fragmentation;		/* advertise IKEV2_FRAGMENTATION_SUPPORTED */
};

/* A responder's cookie policy (§2.6): when required, a request without a valid cookie is
 * answered with one and leaves no state. */
struct ike_cookie_cfg {
	bool required;
	const struct secret *secret;
	uint8_t version;
};

#define IKE_INIT_MAX_RETRIES 4	/* cookie and INVALID_KE_PAYLOAD rounds, together */

struct ike_frag_rx;

/*
 * What an established IKE SA keeps of its IKE_SA_INIT: roles, SPIs, the suite, the keys and
 * the NAT and fragmentation findings. struct ike_init starts with these fields, reachable one
 * by one (st->spi_i) or together (st->k), so an IKE SA takes them over without the rest
 * (nonces, DH, messages: a kilobyte it no longer needs).
 */
#define IKE_SA_KEYS_FIELDS						\
	uint8_t spi_i[IKE_SPI_LEN], spi_r[IKE_SPI_LEN];			\
	uint16_t group;							\
	bool initiator;							\
	bool peer_fragmentation;					\
	bool nat_local;		/* this side is behind a NAT */		\
	bool nat_remote;	/* the peer is behind a NAT */		\
	struct crypto_suite suite;					\
	struct crypto_ike_keys keys;

struct ike_sa_keys {
	IKE_SA_KEYS_FIELDS
};

struct ike_init {
	union {
		struct ike_sa_keys k;
		struct {
			IKE_SA_KEYS_FIELDS
		};
	};
	struct crypto_ike_auth_keys auth_keys;	/* SK_pi, SK_pr: IKE_AUTH's, not the SA's */
	struct crypto_dh *dh;
	uint8_t nonce_i[IKE_NONCE_MAX], nonce_r[IKE_NONCE_MAX];
	size_t nonce_i_len, nonce_r_len;
	uint8_t cookie[IKE_COOKIE_MAX];
	size_t cookie_len;
	unsigned retries;
	struct ike_proposal chosen;
	struct ike_writer msg_i, msg_r;	/* the request and response as sent */
	uint16_t notify;		/* the error that ended it, sent or received */
	struct ike_err err;		/* responder: what made a request one to drop */
	uint16_t notify_data;		/* INVALID_KE_PAYLOAD: the group asked for */
	/* IKE_AUTH: the peer's message in fragments (RFC 7383), NULL unless some are held */
	struct ike_frag_rx *frag_rx;
};

enum ike_init_result {
	IKE_INIT_SEND = 1,	/* out holds a message to send; the exchange goes on */
	IKE_INIT_DONE,		/* negotiated: suite, keys and messages are in the state */
	IKE_INIT_REFUSED,	/* responder: out holds an error notify; no state is kept */
	IKE_INIT_FAILED,	/* initiator: the peer refused, st->notify says how */
};

/* Initiator: start with fresh SPI, nonce and KE; out gets the request. */
int ike_init_start(struct ike_init *st, const struct ike_init_cfg *cfg,
		   const struct ike_endpoint *local, const struct ike_endpoint *remote,
		   struct ike_writer *out);
/*
 * Initiator: a response arrived. Returns IKE_INIT_SEND (a COOKIE or INVALID_KE_PAYLOAD round:
 * out has the new request), IKE_INIT_DONE, IKE_INIT_FAILED, or -errno for a message to drop
 * (malformed, not ours: the state is unchanged and the caller keeps waiting).
 */
int ike_init_on_response(struct ike_init *st, const struct ike_init_cfg *cfg, const uint8_t *msg,
			 size_t len, const struct ike_endpoint *local,
			 const struct ike_endpoint *remote, struct ike_writer *out);
/*
 * Responder: a request arrived from remote. Returns IKE_INIT_DONE (out has the response, st the
 * new SA), IKE_INIT_REFUSED (out has a COOKIE, INVALID_KE_PAYLOAD or NO_PROPOSAL_CHOSEN reply,
 * or INVALID_SYNTAX for a well-formed request whose KE value is outside its group, RFC 6989),
 * or -errno for a request to drop, st->err naming the field at fault when the request was
 * malformed (RFC 7296 §3.10.1: INVALID_SYNTAX goes only in a protected message, so none is
 * sent for a malformed IKE_SA_INIT).
 */
int ike_init_respond(struct ike_init *st, const struct ike_init_cfg *cfg,
		     const struct ike_cookie_cfg *cookies, const uint8_t *msg, size_t len,
		     const struct ike_endpoint *local, const struct ike_endpoint *remote,
		     struct ike_writer *out);
/*
 * Responder, keys later: as ike_init_respond(), but the larger part of its cost, the derive
 * (g^ir, SKEYSEED, SK_*), which its answer does not need and the IKE_AUTH after does, is left
 * to *ret_job (set with IKE_INIT_DONE only; NULL otherwise). The peer's KE value is checked
 * here as the derive would (INVALID_SYNTAX refusal) except an X25519 low-order point, which
 * only the derive finds. The job holds copies of what it reads and the key pair: it may run on
 * another thread (ike_init_job_run), st being used meanwhile; its result goes into st with
 * ike_init_job_take(). Until then st has no keys.
 */
struct ike_init_job {
	struct crypto_work work;	/* for a worker pool: the caller's to use */
	void *owner;			/* the caller's */
	int rc;				/* -EINPROGRESS until run, then 0 or -errno (-EINVAL:
					   the peer's KE value refused) */
	uint16_t nonce_i_len, nonce_r_len, peer_len;
	uint8_t spi_i[IKE_SPI_LEN], spi_r[IKE_SPI_LEN];
	struct crypto_dh *dh;
	struct crypto_suite suite;
	struct crypto_ike_keys keys;
	struct crypto_ike_auth_keys auth_keys;
	uint8_t nonce_i[IKE_NONCE_MAX], nonce_r[IKE_NONCE_MAX];
	uint8_t peer[];			/* the peer's KE value */
};

int ike_init_respond_later(struct ike_init *st, const struct ike_init_cfg *cfg,
			   const struct ike_cookie_cfg *cookies, const uint8_t *msg, size_t len,
			   const struct ike_endpoint *local, const struct ike_endpoint *remote,
			   struct ike_writer *out, struct ike_init_job **ret_job);
/* The derive: touches the job alone, so any thread may run it (once). */
void ike_init_job_run(struct ike_init_job *j);
/* The keys a job made into the state it was made for; frees the job; returns its rc. */
int ike_init_job_take(struct ike_init *st, struct ike_init_job *j);
/* A job not taken (its state gone first): frees it, keys and key pair wiped. NULL is fine. */
void ike_init_job_free(struct ike_init_job *j);

void ike_init_clear(struct ike_init *st);

#endif
