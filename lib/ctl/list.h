/*
 * `site list` and the bulk verbs' filters on the daemon's side: the query a request carries
 * (filters, sort column, page), parsed with an error that names the key and the value, and
 * the selection of the matching sites, sorted and paged. Filters on what only the running
 * daemon knows (status, throughput) and sorting by a column other than the name read each
 * candidate's row through a callback, as the reply would show it.
 */
#ifndef IKD_CTL_LIST_H
#define IKD_CTL_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ike/reader.h"
#include "site/site.h"

#define CTL_PAGE_SIZE_DEFAULT	100	/* the vendor console's sites page */
#define CTL_PAGE_SIZE_MAX	1000	/* a page of full rows stays under one reply */
#define CTL_PAGE_MAX		10000000

struct ctl_list_query {
	const char *name;		/* substring of the name */
	const char *id;			/* substring of the source identity */
	const char *pop;		/* primary or a backup */
	int traffic;			/* enum site_traffic, or -1 */
	int enabled;			/* 1, 0, or -1 */
	const char *status;		/* up, down, disabled, or NULL */
	int src;			/* source-ip: 0 any, 1 dynamic, AF_INET/AF_INET6 a prefix */
	uint8_t src_addr[16];
	unsigned src_prefix;		/* bits of src_addr that must match */
	bool tput;			/* throughput range given */
	uint64_t tput_min, tput_max;	/* Kbps, inclusive */
	const char *sort;		/* a row key or "pop", "throughput"; NULL: the name */
	bool reverse;
	size_t page, page_size;
	bool has_expect;		/* bulk: the count the operator confirmed */
	size_t expect;
};

void ctl_list_query_init(struct ctl_list_query *q);

/*
 * The query of kv (key, value, ... n_kv entries; the strings must outlive q). paged: sort and
 * page are taken (site list), else expect (the bulk verbs). -EINVAL with err naming the key
 * and the value: every failure is the request's fault (a usage error).
 */
int ctl_list_parse(struct ctl_list_query *q, const char *const *kv, size_t n_kv, bool paged,
		   char *err, size_t err_len);

/* Whether a filter or the sort needs a candidate's row (runtime or a field by its key). */
bool ctl_list_needs_row(const struct ctl_list_query *q);
bool ctl_list_needs_runtime(const struct ctl_list_query *q);

/*
 * row(arg, i, fields, runtime, w): site i's KVs as a reply row has them into w (emptied by
 * the callee): its fields when fields, the runtime's ("status", "active-pop",
 * "throughput-kbps") when runtime.
 */
typedef int (*ctl_list_row_fn)(void *arg, size_t i, bool fields, bool runtime,
			       struct ike_writer *w);

/*
 * The matching sites of db, sorted (ties by name), one page of them (every one when
 * q->page_size is 0): indices into db->sites in *ret (malloc'd), *ret_n of them, of
 * *ret_total matches. -ENOMEM, or the callback's error.
 */
int ctl_list_select(const struct site_db *db, const struct ctl_list_query *q, ctl_list_row_fn row,
		    void *arg, size_t **ret, size_t *ret_n, size_t *ret_total);

#endif
