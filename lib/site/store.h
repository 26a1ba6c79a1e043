/*
 * The store: ikd's sites and POPs in a text file an engineer can read and diff
 * (`key = value` lines under `[pop NAME]` and `[site NAME]` sections, `version = 1` first).
 * It holds the PSKs, so it is mode 0600 and a store others can read is refused. Written
 * atomically (temporary file, fsync, rename, fsync of the directory): a crash at any point
 * leaves the old store or the new one.
 */
#ifndef IKD_SITE_STORE_H
#define IKD_SITE_STORE_H

#include "site/site.h"

#define SITE_STORE_VERSION 1

/*
 * Load path into ret (empty on error; its role SITE_ROLE_INITIATOR: the caller sets it).
 * Errors name the file and, for the content, the line: "FILE:LINE: reason". Every record is
 * validated by site_validate_stored(): a store an earlier ikd wrote loads as it was, and the
 * rules added since apply to the next change of a site.
 */
int site_store_load(const char *path, struct site_db *ret, char *err, size_t err_len);
/*
 * The directory path is in, checked before anything depends on it (ikd at start-up and
 * with -t), so that a store that cannot be saved is found then, not at the first change:
 * it must exist, be a directory ikd can write to, and let neither its group nor others in
 * (it holds the store and its temporary files; whoever can write there can replace the
 * store). Refused, not tightened: a check changes nothing, and whatever made it open may
 * rely on that. 0 or -errno with err naming the directory, the problem and the fix.
 */
int site_store_check_dir(const char *path, char *err, size_t err_len);
int site_store_save(const char *path, const struct site_db *db, char *err, size_t err_len);

#endif
