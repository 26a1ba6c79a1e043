/* Shared helpers for the check unit tests. */
#ifndef IKD_TEST_TESTUTIL_H
#define IKD_TEST_TESTUTIL_H

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Run one suite; the process exit status is the test result meson sees. */
static inline int test_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * Decode a hex string (whitespace and newlines ignored) into a malloc'd buffer.
 * Aborts the test on malformed hex: test data is ours, a typo must be loud.
 */
static inline uint8_t *test_hex(const char *hex, size_t *ret_len)
{
	size_t cap = strlen(hex) / 2 + 1, n = 0;
	uint8_t *buf = malloc(cap);
	int hi = -1;

	ck_assert_ptr_nonnull(buf);
	for (const char *p = hex; *p; p++) {
		int v;

		if (*p >= '0' && *p <= '9')
			v = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			v = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			v = *p - 'A' + 10;
		else if (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r' || *p == ':')
			continue;
		else
			ck_abort_msg("bad hex character '%c'", *p);
		if (hi < 0) {
			hi = v;
		} else {
			buf[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	ck_assert_msg(hi < 0, "odd number of hex digits");
	*ret_len = n;
	return buf;
}

/* Read a whole file under TEST_DATA_DIR into a malloc'd, NUL-terminated buffer. */
static inline char *test_read_data(const char *name, size_t *ret_len)
{
	char path[4096];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/%s", TEST_DATA_DIR, name);
	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open test data %s", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	ck_assert_int_ge(n, 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (ret_len)
		*ret_len = (size_t)n;
	return buf;
}

/*
 * Look up `name = hex` in text (a file of such lines, # comments allowed) and decode the hex
 * into a malloc'd buffer. Aborts the test when the name is missing.
 */
static inline uint8_t *test_kv_hex(const char *text, const char *name, size_t *ret_len)
{
	size_t nlen = strlen(name);

	for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		const char *p = line, *end;
		char *hex;
		uint8_t *out;

		if (strncmp(p, name, nlen) != 0 || (p[nlen] != ' ' && p[nlen] != '='))
			continue;
		p += nlen;
		while (*p == ' ')
			p++;
		if (*p != '=')
			continue;
		p++;
		end = strchr(p, '\n');
		if (!end)
			end = p + strlen(p);
		hex = strndup(p, (size_t)(end - p));
		ck_assert_ptr_nonnull(hex);
		out = test_hex(hex, ret_len);
		free(hex);
		return out;
	}
	ck_abort_msg("test vector '%s' not found", name);
	return NULL;
}

#endif
