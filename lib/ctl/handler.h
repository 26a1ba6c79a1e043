/*
 * The daemon's side of the control protocol, sans I/O: ikd's socket server frames bytes,
 * decodes a request and calls ctl_handle(), which answers from the site database and from
 * what only the running daemon knows (struct ctl_runtime), and writes one whole reply frame.
 *
 * Changes are validated by the site_db_* functions, then the store is saved; when the save
 * fails the database is put back exactly as it was and the error is the reply, so the store
 * and the memory never disagree. Only then is the runtime told which sites or POPs changed.
 * Pointers into the database do not survive a change (its arrays move): hold names.
 *
 * Fields travel as CTL_A_KV "key\0value" with the keys of site_set()/pop_set(); a PSK only as
 * CTL_A_PSK. No reply carries a PSK, except `site export` asked for with the "with-psk" flag.
 */
#ifndef IKD_CTL_HANDLER_H
#define IKD_CTL_HANDLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl/ctl.h"
#include "site/site.h"

struct ctl_pop_health {
	bool known;
	size_t tunnels_up, tunnels_down, sites_active;
};

/* What only the running daemon knows. Every pointer may be NULL. Callbacks return 0 or -errno. */
struct ctl_runtime {
	/*
	 * Runtime KVs of site s into the row being written: "status" (up, down, disabled),
	 * "active-pop", "throughput-kbps"; with detail (site show), one nested CTL_A_ROW per
	 * POP tunnel. Without a "status" KV the handler writes "disabled" or "down".
	 */
	int (*site_runtime)(void *arg, const struct site *s, bool detail, struct ike_writer *w);
	int (*status)(void *arg, struct ike_writer *w);		/* daemon summary KVs */
	int (*sa_list)(void *arg, struct ike_writer *w);	/* one CTL_A_ROW per IKE/Child SA */
	int (*refresh)(void *arg, char *err, size_t err_len);
	/*
	 * `metrics`, one page: the daemon-wide figures (ctl_metrics_put), then one row per site
	 * of sites, in that order (ctl_metrics_put_site). The handler adds "more".
	 */
	int (*metrics)(void *arg, const struct site *const *sites, size_t n, struct ike_writer *w);
	/*
	 * After a change is saved: the sites whose configuration changed (added, edited,
	 * enabled, disabled, deleted, imported), so the daemon re-applies only those. The
	 * names are valid during the call only.
	 */
	void (*sites_changed)(void *arg, const char *const *names, size_t n);
	/*
	 * `pop list`: each POP's live health, ret[i] for db->pops[i] (zeroed by the caller):
	 * its tunnels up and not up, and the sites whose active POP it is. NULL, or nothing
	 * known (a gateway): the columns stay out of the rows.
	 */
	int (*pop_health)(void *arg, const struct site_db *db, struct ctl_pop_health *ret);
	void (*pops_changed)(void *arg, const char *const *names, size_t n);
	/*
	 * `tunnel initiate|terminate|rekey SITE [POP]` (ike: the IKE SA rather than the Child
	 * SAs, for rekey): act on the site's tunnels (to that POP), and put a row per tunnel
	 * acted on in w (its POP or peer, state and SPIs as sa list has them). -errno with why.
	 */
	int (*tunnel)(void *arg, const char *action, const char *site, const char *pop, bool ike,
		      struct ike_writer *w, char *why, size_t why_len);
	/*
	 * After a rename is saved: the site's record is the same under its new name, so the
	 * daemon renames what it keeps by name (tunnels, SAs, counters) and restarts nothing.
	 */
	void (*site_renamed)(void *arg, const char *old_name, const char *new_name);
	void *arg;
};

/*
 * A stream on one connection (`site import` and `site export` of any size): the request or
 * the reply in several frames of at most CTL_CHUNK (ctl.h) bytes of CSV, so that neither side ever
 * holds a whole file. Owned by the connection, cleared when it closes.
 *
 * Import: frames of CTL_SITE_IMPORT with the flag "chunked", a KV "part" ("secrets", which
 * come first, or "sites") and a CTL_A_DATA chunk; the first may carry "dry-run" and the
 * files' names (KVs "file", "secrets-file"). They get no reply; the frame with the flag
 * "end" gets the one reply, as a one-frame import would (a failure on the way is kept for
 * it). Export: CTL_SITE_EXPORT with "chunked" is answered by frames of the request's id,
 * each with a KV "more" (yes/no) and a CTL_A_DATA chunk; the last adds "sites". A change to
 * the database while either is under way fails it (a backup or an import is of one state).
 */
struct site_csv_import;
struct csv_report;

struct ctl_stream {
	uint32_t id;			/* the request's */
	bool importing, exporting;
	/* import */
	struct site_csv_import *import;
	struct csv_report *rep;
	bool dry_run, secrets_seen, sites_seen;
	char secrets_name[64];		/* for its rows' errors */
	int failed;			/* a failure on the way, told at the end */
	char *failed_msg;
	/* export */
	bool with_psk;
	size_t pos;			/* the next row (site_csv_export_chunk) */
	uint64_t generation;		/* the database's when it began */
};

/* What the connections share: a count of the database's changes, the import under way. */
struct ctl_shared {
	uint64_t generation;
	const struct ctl_stream *importing;	/* one at a time: each holds a copy of the sites */
};

struct ctl_handler {
	struct site_db *db;
	const char *store_path;		/* NULL: changes are not saved (tests) */
	const struct ctl_runtime *rt;	/* may be NULL */
	struct ctl_stream *stream;	/* NULL: no chunked requests (one frame each way) */
	struct ctl_shared *shared;	/* may be NULL */
};

/*
 * Handle one decoded request: append to reply one whole frame (CTL_FLAG_REPLY, the request's
 * id, code 0 or a positive errno, and CTL_A_ERROR with the reason in words on failure).
 * Returns the status sent: 0 or -errno. When not even an error frame fits (no memory),
 * reply->len is left as it was: the caller drops the client.
 */
int ctl_handle(struct ctl_handler *h, const struct ctl_msg *req, struct ike_writer *reply);

/* An export under way: ctl_stream_next has another frame to write. */
bool ctl_stream_pending(const struct ctl_stream *s);
/* The next frame of an export, appended to reply; 0 or -errno (an error frame is sent then). */
int ctl_stream_next(struct ctl_handler *h, struct ike_writer *reply);
/* The connection is gone: an import under way is dropped (shared may be NULL). */
void ctl_stream_clear(struct ctl_shared *shared, struct ctl_stream *s);

/* An error frame for a request that could not be decoded (id 0 when unknown). */
int ctl_reply_error(struct ike_writer *reply, uint32_t id, int status, const char *msg);
/* The same with a CTL_ERROR_CLASS ("usage", "permission"; NULL: none). */
int ctl_reply_error_class(struct ike_writer *reply, uint32_t id, int status, const char *cls,
			  const char *msg);

#endif
