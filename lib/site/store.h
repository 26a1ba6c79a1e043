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
int site_store_save(const char *path, const struct site_db *db, char *err, size_t err_len);

#endif
