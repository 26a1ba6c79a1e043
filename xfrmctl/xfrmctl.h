/*
 * xfrmctl: a dispatch table (main.c), a file per object (site.c, pop.c, misc.c,
 * metrics.c), the connection to ikd (client.c), and the pure parts the unit tests include:
 * word matching (match.c), output as tables or JSON (output.c), reading a PSK (psk.c).
 */
#ifndef IKD_XFRMCTL_H
#define IKD_XFRMCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ctl/ctl.h"
#include "site/site.h"

#define XC_EXIT_OK	0
#define XC_EXIT_ERROR	1
#define XC_EXIT_USAGE	2
#define XC_EXIT_GONE	100	/* xc_send only: ikd closed the connection; xc_recv says why */

/* ---- match.c ---- */

/*
 * The entry of table (n entries of stride bytes, each starting with a `const char *name`)
 * that word names: exactly, or as an unambiguous prefix. -1 none, -2 ambiguous.
 */
int xc_match(const char *word, const void *table, size_t n, size_t stride);
/* "a, b, c": the names word is a prefix of (all names when word is NULL). */
void xc_candidates(char *buf, size_t len, const char *word, const void *table, size_t n,
		   size_t stride);

/*
 * "--opt value" or "--opt=value" at argv[*i]: 1 with *ret_value (*i advanced past a separate
 * value), 0 when argv[*i] is another word, -1 when the value is missing.
 */
int xc_option(int argc, char **argv, int *i, const char *opt, const char **ret_value);

/* ---- output.c ---- */

enum xo_kind { XO_STRING, XO_NUMBER, XO_BOOL, XO_LIST };

/* How a field is typed in JSON: numbers as numbers, yes/no as booleans, lists as arrays. */
enum xo_kind xo_key_kind(const char *key);
void xo_json_string(FILE *f, const void *p, size_t n);
/* The key in snake_case, quoted. */
void xo_json_key(FILE *f, const char *key);
void xo_json_value(FILE *f, const char *key, const void *p, size_t n);
/* For a terminal: valid UTF-8 as is, control characters and broken bytes as '?'. */
void xo_text(FILE *f, const void *p, size_t n);
/* Characters (code points) xo_text prints for p. */
size_t xo_width(const void *p, size_t n);

/* A record of a reply: its attributes, decoded (malloc'd). */
struct xo_row {
	struct ctl_attr *attrs;
	size_t n;
};

int xo_row_decode(const struct ctl_attr *row, struct xo_row *ret);
void xo_row_free(struct xo_row *r);
/* Every CTL_A_ROW among attrs, decoded (malloc'd). */
int xo_rows_of(const struct ctl_attr *attrs, size_t n, struct xo_row **ret, size_t *ret_n);
void xo_rows_free(struct xo_row *rows, size_t n);
/* A KV of a row (or of any attribute list): 1 found, 0 not. */
int xo_get(const struct ctl_attr *attrs, size_t n, const char *key, const uint8_t **ret,
	   size_t *ret_len);
/* The same into buf as a string (truncated to fit); "" when missing. */
const char *xo_get_str(const struct ctl_attr *attrs, size_t n, const char *key, char *buf,
		       size_t len);

/*
 * A JSON object of the attributes: KVs as members; ROWs as an array of objects under
 * rows_key; ROWs nested in those under sub_key. ERROR and DATA are left out.
 */
int xo_json_object(FILE *f, const struct ctl_attr *attrs, size_t n, const char *rows_key,
		   const char *sub_key);

/* A column: its header and how a row's cell is made. */
struct xo_col {
	const char *name;	/* for --columns */
	const char *header;
	const char *key;	/* the field shown */
	const char *fallback;	/* a field shown when key is missing or empty, or NULL */
	const char *suffix;	/* appended to a non-empty value (" Kbps") */
	const char *empty;	/* shown for an empty value ("-") */
};

/* A table of rows, columns padded to their widest cell, two spaces apart. */
int xo_table(FILE *f, const struct xo_row *rows, size_t n_rows, const struct xo_col *cols,
	     size_t n_cols);
/* Columns for every key the rows have, in order of first appearance (malloc'd). */
int xo_cols_of(const struct xo_row *rows, size_t n_rows, struct xo_col **ret, size_t *ret_n);
void xo_cols_free(struct xo_col *cols, size_t n);
/* "key: value" lines, keys padded; ROWs and other attributes left out. */
void xo_fields(FILE *f, const struct ctl_attr *attrs, size_t n, const char *indent);

/* ---- psk.c ---- */

struct xc_psk {
	uint8_t buf[SITE_PSK_MAX + 3];
	size_t len;
	bool set;
};

/* A key file: refused unless a regular file only its owner can read. */
int xc_psk_from_file(struct xc_psk *k, const char *path, char *err, size_t err_len);
/* All of fd (stdin) up to the cap, one trailing newline dropped. */
int xc_psk_from_fd(struct xc_psk *k, int fd, const char *what, char *err, size_t err_len);
/* Asked twice on the terminal fd, without echo. */
int xc_psk_prompt(struct xc_psk *k, int fd, const char *prompt, char *err, size_t err_len);
void xc_psk_wipe(struct xc_psk *k);

/* ---- client.c ---- */

struct xc {
	bool json;
	const char *socket;
	/* The last reply: its attributes point into the framer's buffer. */
	struct ctl_framer framer;
	struct ctl_msg reply;
	bool held;		/* the framer holds the last reply's frame */
};

/* A request being built. */
struct xc_req {
	struct ike_writer w;
	size_t mark;
	int rc;			/* the first encoding error */
};

void xc_req_begin(struct xc_req *r, uint16_t verb);
void xc_req_put(struct xc_req *r, uint16_t type, const void *p, size_t len);
void xc_req_str(struct xc_req *r, uint16_t type, const char *s);
void xc_req_kv(struct xc_req *r, const char *key, const char *value);
/*
 * Send the request (then wipe and free it), wait for the reply into x->reply. Returns an
 * exit status: 0, or 1 with the daemon's reason or the connection's problem on stderr.
 */
int xc_call(struct xc *x, struct xc_req *r);
/*
 * The same in steps, for a request in several frames or a reply in several: connect, send
 * (each frame; the request is wiped and freed), receive (each reply frame into x->reply,
 * checked against id; the one before is released). Exit statuses as xc_call's.
 */
int xc_connect(struct xc *x, int *ret_fd);
int xc_send(struct xc *x, int fd, struct xc_req *r, uint32_t *ret_id);
int xc_recv(struct xc *x, int fd, uint32_t id);
/*
 * A request whose answer is a stream of frames (monitor): fn is called with each in
 * x->reply until it returns non-zero or the daemon closes the connection.
 */
int xc_stream(struct xc *x, struct xc_req *r, int (*fn)(struct xc *x, void *arg), void *arg);
void xc_free(struct xc *x);

/*
 * "xfrmctl: ..." on stderr; return 1 (error) or 2 (usage). The first error is kept for -j:
 * xc_json_error prints it as {"error": {"message", "object" (the command), "exit"}}.
 */
void xc_set_command(const char *object, const char *verb);
int xc_json_error(FILE *f, int exit);
void xc_failure_free(void);
int xc_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int xc_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void xc_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- the objects ---- */

int xc_site(struct xc *x, int argc, char **argv);
int xc_pop(struct xc *x, int argc, char **argv);
int xc_sa(struct xc *x, int argc, char **argv);
int xc_tunnel(struct xc *x, int argc, char **argv);
int xc_status(struct xc *x, int argc, char **argv);
int xc_refresh(struct xc *x, int argc, char **argv);
int xc_monitor(struct xc *x, int argc, char **argv);
int xc_metrics(struct xc *x, int argc, char **argv);

/*
 * An argument of a verb, for its parser and its --help alike: a keyword and its value
 * ("status" "up|down|disabled"), an option ("--sort" "COLUMN"), or a flag (value NULL).
 */
struct xc_arg {
	const char *name;
	const char *value;
	const char *help;
};

/* A verb of an object: the synopsis, what it does, and the arguments it takes. */
struct xc_verb {
	const char *name;
	int (*fn)(struct xc *x, int argc, char **argv);
	const char *synopsis;
	const char *help;
	const struct xc_arg *args;
	size_t n_args;
	const char *args_title;		/* "filters and options", "fields" ... */
};

/* The entry of args that is exactly word (or "--opt=value" for an option), or NULL. */
const struct xc_arg *xc_arg_find(const struct xc_arg *args, size_t n, const char *word);
/* "a, b, c": the names in args (those with a value when keywords, flags too when all). */
void xc_arg_names(char *buf, size_t len, const struct xc_arg *args, size_t n);
/* The help of a verb, of an object's verbs (for stdout: help is asked for, exit 0). */
void xc_help_verb(FILE *f, const char *object, const struct xc_verb *v);
void xc_help_object(FILE *f, const char *object, const struct xc_verb *verbs, size_t n);
/* Whether argv holds --help or -h (a verb shows its help instead of running). */
bool xc_wants_help(int argc, char **argv);

/* Run the verb argv[0] names (dflt when there is none and dflt is not NULL). */
int xc_dispatch(struct xc *x, const char *object, const struct xc_verb *verbs, size_t n,
		const char *dflt, int argc, char **argv);
/* The reply's rows as a table; its one record as fields (rows nested in it under title, if any). */
int xc_print_table(struct xc *x, const struct xo_col *cols, size_t n_cols);
int xc_print_record(struct xc *x, const char *title);
/* The reply's rows with a column per field (JSON: an array under rows_key). */
int xc_print_rows(struct xc *x, const char *rows_key, const char *sub_key);

#endif
