/*
 * xfrmctl's pure parts: words by unambiguous prefix, options, JSON escaping and typing,
 * terminal-safe text, tables, and reading a PSK from a file or a pipe.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "xfrmctl.h"

struct word {
	const char *name;
	int other;
};

static const struct word site_verbs[] = {
	{ "add", 0 }, { "edit", 0 }, { "show", 0 }, { "list", 0 }, { "enable", 0 },
	{ "disable", 0 }, { "delete", 0 }, { "import", 0 }, { "export", 0 },
};
static const struct word objects[] = {
	{ "site", 0 }, { "pop", 0 }, { "sa", 0 }, { "status", 0 }, { "refresh", 0 },
};

#define MATCH(w, t) xc_match(w, t, sizeof(t) / sizeof(t[0]), sizeof(t[0]))

START_TEST(test_xfrmctl_prefixes)
{
	char buf[128];

	ck_assert_int_eq(MATCH("l", site_verbs), 3);
	ck_assert_int_eq(MATCH("list", site_verbs), 3);
	ck_assert_int_eq(MATCH("e", site_verbs), -2);
	ck_assert_int_eq(MATCH("ed", site_verbs), 1);
	ck_assert_int_eq(MATCH("en", site_verbs), 4);
	ck_assert_int_eq(MATCH("d", site_verbs), -2);
	ck_assert_int_eq(MATCH("de", site_verbs), 6);
	ck_assert_int_eq(MATCH("di", site_verbs), 5);
	ck_assert_int_eq(MATCH("lists", site_verbs), -1);
	ck_assert_int_eq(MATCH("", site_verbs), -1);
	ck_assert_int_eq(MATCH("x", site_verbs), -1);
	/* A whole word is never ambiguous, even when it begins another. */
	ck_assert_int_eq(MATCH("sa", objects), 2);
	ck_assert_int_eq(MATCH("s", objects), -2);
	ck_assert_int_eq(MATCH("si", objects), 0);
	ck_assert_int_eq(MATCH("st", objects), 3);
	xc_candidates(buf, sizeof(buf), "s", objects, 5, sizeof(objects[0]));
	ck_assert_str_eq(buf, "site, sa, status");
	xc_candidates(buf, sizeof(buf), NULL, objects, 5, sizeof(objects[0]));
	ck_assert_str_eq(buf, "site, pop, sa, status, refresh");
	xc_candidates(buf, 12, NULL, objects, 5, sizeof(objects[0]));
	ck_assert_str_eq(buf, "site, pop");
}
END_TEST

START_TEST(test_xfrmctl_options)
{
	char a0[] = "--page", a1[] = "3", a2[] = "--page=4", a3[] = "--pages", a4[] = "--page";
	char *argv[] = { a0, a1, a2, a3, a4 };
	const char *v = NULL;
	int i = 0;

	ck_assert_int_eq(xc_option(5, argv, &i, "--page", &v), 1);
	ck_assert_int_eq(i, 1);
	ck_assert_str_eq(v, "3");
	i = 2;
	ck_assert_int_eq(xc_option(5, argv, &i, "--page", &v), 1);
	ck_assert_int_eq(i, 2);
	ck_assert_str_eq(v, "4");
	i = 3;
	ck_assert_int_eq(xc_option(5, argv, &i, "--page", &v), 0);
	i = 4;
	ck_assert_int_eq(xc_option(5, argv, &i, "--page", &v), -1);
	i = 1;
	ck_assert_int_eq(xc_option(5, argv, &i, "--sort", &v), 0);
}
END_TEST

/* What f printed, as a string (freed by the next call). */
static char *mem;
static size_t mem_len;

static FILE *open_mem(void)
{
	FILE *f;

	free(mem);
	mem = NULL;
	f = open_memstream(&mem, &mem_len);
	ck_assert_ptr_nonnull(f);
	return f;
}

static const char *close_mem(FILE *f)
{
	ck_assert_int_eq(fclose(f), 0);
	return mem;
}

static const char *json_str(const void *p, size_t n)
{
	FILE *f = open_mem();

	xo_json_string(f, p, n);
	return close_mem(f);
}

static const char *json_val(const char *key, const char *v)
{
	FILE *f = open_mem();

	xo_json_value(f, key, v, strlen(v));
	return close_mem(f);
}

static int no_verb(struct xc *x, int argc, char **argv)
{
	(void)x;
	(void)argc;
	(void)argv;
	return 0;
}

/* Help comes from the tables the parsers use: a verb's arguments, an object's verbs. */
START_TEST(test_xfrmctl_help_from_the_tables)
{
	static const struct xc_arg args[] = {
		{ "status", "up|down|disabled", "the runtime status" },
		{ "--sort", "COLUMN", "sort by any column;\nties by name" },
		{ "--reverse", NULL, "the other way round" },
	};
	static const struct xc_verb verbs[] = {
		{ "list", no_verb, "[FILTER VALUE ...]", "Sites.\nFilters combine.", args, 3,
		  "filters and options" },
		{ "show", no_verb, "NAME", NULL, NULL, 0, NULL },
	};
	char a0[] = "x", a1[] = "--help", a2[] = "-h", buf[64];
	char *with[] = { a0, a1 }, *short_form[] = { a2 }, *without[] = { a0 };
	FILE *f = open_mem();

	xc_help_verb(f, "site", &verbs[0]);
	ck_assert_str_eq(close_mem(f),
			 "usage: xfrmctl site list [FILTER VALUE ...]\n"
			 "\n"
			 "Sites.\n"
			 "Filters combine.\n"
			 "\n"
			 "filters and options:\n"
			 "  status up|down|disabled  the runtime status\n"
			 "  --sort COLUMN            sort by any column;\n"
			 "                           ties by name\n"
			 "  --reverse                the other way round\n");
	f = open_mem();
	xc_help_object(f, "site", verbs, 2);
	ck_assert_str_eq(close_mem(f),
			 "usage: xfrmctl site VERB [ARGS]\n"
			 "\n"
			 "  list  Sites.\n"
			 "  show  NAME\n"
			 "\n"
			 "'xfrmctl site VERB --help' shows what a verb takes. Verbs may be shortened "
			 "while\nunambiguous. See xfrmctl(8).\n");
	ck_assert_ptr_eq(xc_arg_find(args, 3, "--sort"), &args[1]);
	ck_assert_ptr_eq(xc_arg_find(args, 3, "--sort=name"), &args[1]);
	ck_assert_ptr_null(xc_arg_find(args, 3, "status=up"));	/* keywords take a word */
	ck_assert_ptr_null(xc_arg_find(args, 3, "--reverse=yes"));
	ck_assert_ptr_null(xc_arg_find(args, 3, "--so"));
	xc_arg_names(buf, sizeof(buf), args, 3);
	ck_assert_str_eq(buf, "status, --sort, --reverse");
	xc_arg_names(buf, 16, args, 3);
	ck_assert_str_eq(buf, "status, --sort");
	ck_assert(xc_wants_help(2, with));
	ck_assert(xc_wants_help(1, short_form));
	ck_assert(!xc_wants_help(1, without));
}
END_TEST

START_TEST(test_xfrmctl_json_escaping)
{
	ck_assert_str_eq(json_str("plain", 5), "\"plain\"");
	ck_assert_str_eq(json_str("a\"b\\c", 5), "\"a\\\"b\\\\c\"");
	ck_assert_str_eq(json_str("\n\t\r\b\f", 5), "\"\\n\\t\\r\\b\\f\"");
	ck_assert_str_eq(json_str("\x01\x1f\x7f", 3), "\"\\u0001\\u001f\\u007f\"");
	ck_assert_str_eq(json_str("a\0b", 3), "\"a\\u0000b\"");
	ck_assert_str_eq(json_str("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14),
			 "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
	/* Not UTF-8: a stray continuation, an overlong, a surrogate, a cut sequence. */
	ck_assert_str_eq(json_str("\x80", 1), "\"\\ufffd\"");
	ck_assert_str_eq(json_str("\xc0\xaf", 2), "\"\\ufffd\\ufffd\"");
	ck_assert_str_eq(json_str("\xed\xa0\x80", 3), "\"\\ufffd\\ufffd\\ufffd\"");
	ck_assert_str_eq(json_str("x\xe2\x82", 3), "\"x\\ufffd\\ufffd\"");
	ck_assert_str_eq(json_str("\xf4\x90\x80\x80", 4), "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
	ck_assert_str_eq(json_str("", 0), "\"\"");
	{
		FILE *f = open_mem();

		xo_json_key(f, "throughput-kbps");
		ck_assert_str_eq(close_mem(f), "\"throughput_kbps\"");
	}
}
END_TEST

START_TEST(test_xfrmctl_json_types)
{
	ck_assert_int_eq(xo_key_kind("total"), XO_NUMBER);
	ck_assert_int_eq(xo_key_kind("in-bytes"), XO_NUMBER);
	ck_assert_int_eq(xo_key_kind("bytes-in"), XO_NUMBER);
	ck_assert_int_eq(xo_key_kind("sites-down"), XO_NUMBER);
	ck_assert_int_eq(xo_key_kind("uptime-s"), XO_NUMBER);
	ck_assert_int_eq(xo_key_kind("sites-"), XO_STRING);
	ck_assert_int_eq(xo_key_kind("installed"), XO_BOOL);
	ck_assert_int_eq(xo_key_kind("kernel-esp"), XO_STRING);
	ck_assert_int_eq(xo_key_kind("enabled"), XO_BOOL);
	ck_assert_int_eq(xo_key_kind("backups"), XO_LIST);
	ck_assert_int_eq(xo_key_kind("name"), XO_STRING);
	ck_assert_int_eq(xo_key_kind("-s"), XO_STRING);
	ck_assert_str_eq(json_val("total", "250"), "250");
	ck_assert_str_eq(json_val("total", "0"), "0");
	/* Not a JSON number: kept a string. */
	ck_assert_str_eq(json_val("total", "007"), "\"007\"");
	ck_assert_str_eq(json_val("total", "1e9"), "\"1e9\"");
	ck_assert_str_eq(json_val("total", ""), "\"\"");
	ck_assert_str_eq(json_val("total", "-"), "\"-\"");
	ck_assert_str_eq(json_val("total", "123456789012345678901"), "\"123456789012345678901\"");
	ck_assert_str_eq(json_val("enabled", "yes"), "true");
	ck_assert_str_eq(json_val("accepting", "no"), "false");
	ck_assert_str_eq(json_val("enabled", "maybe"), "\"maybe\"");
	ck_assert_str_eq(json_val("backups", "ams1,lon1"), "[\"ams1\", \"lon1\"]");
	ck_assert_str_eq(json_val("backups", "ams1"), "[\"ams1\"]");
	ck_assert_str_eq(json_val("backups", ""), "[]");
	ck_assert_str_eq(json_val("local-ts", "a\"b,"), "[\"a\\\"b\", \"\"]");
	ck_assert_str_eq(json_val("name", "12"), "\"12\"");
}
END_TEST

static const char *text(const void *p, size_t n)
{
	FILE *f = open_mem();

	xo_text(f, p, n);
	return close_mem(f);
}

START_TEST(test_xfrmctl_terminal_text)
{
	ck_assert_str_eq(text("Frankfurt, DE", 13), "Frankfurt, DE");
	/* An escape sequence, a C1 CSI, a broken byte: not sent to the terminal. */
	ck_assert_str_eq(text("\x1b[2Jx", 5), "?[2Jx");
	ck_assert_str_eq(text("\xc2\x9b" "31m", 5), "?31m");
	ck_assert_str_eq(text("a\xffz\n", 4), "a?z?");
	ck_assert_str_eq(text("\xc3\xa9t\xc3\xa9", 5), "\xc3\xa9t\xc3\xa9");
	ck_assert_uint_eq(xo_width("\xc3\xa9t\xc3\xa9", 5), 3);
	ck_assert_uint_eq(xo_width("a\xffz", 3), 3);
}
END_TEST

/* A reply body: KVs, then rows, a nested row in the first. */
static struct ike_writer reply;
static struct ctl_attr attrs[64];

static size_t build_reply(void)
{
	size_t mark, row, inner;

	ike_writer_clear(&reply);
	ike_writer_init(&reply, CTL_MAX_MSG);
	ck_assert_int_eq(ctl_begin(&reply, 1, 0, CTL_FLAG_REPLY, &mark), 0);
	ck_assert_int_eq(ctl_put_kv(&reply, "total", "2"), 0);
	ck_assert_int_eq(ctl_put_kv(&reply, "total", "9"), 0);	/* a repeat is dropped */
	ck_assert_int_eq(ctl_row_begin(&reply, &row), 0);
	ck_assert_int_eq(ctl_put_kv(&reply, "name", "b12"), 0);
	ck_assert_int_eq(ctl_put_kv(&reply, "status", "up"), 0);
	ck_assert_int_eq(ctl_put_kv(&reply, "throughput-kbps", "1234"), 0);
	ck_assert_int_eq(ctl_put_kv(&reply, "active-pop", "fra1"), 0);
	ck_assert_int_eq(ctl_row_begin(&reply, &inner), 0);
	ck_assert_int_eq(ctl_put_kv(&reply, "pop", "fra1"), 0);
	ck_assert_int_eq(ctl_row_end(&reply, inner), 0);
	ck_assert_int_eq(ctl_row_end(&reply, row), 0);
	ck_assert_int_eq(ctl_row_begin(&reply, &row), 0);
	ck_assert_int_eq(ctl_put_kv(&reply, "name", "\xc3\xa9t\xc3\xa9"), 0);
	ck_assert_int_eq(ctl_put_kv(&reply, "status", "down"), 0);
	ck_assert_int_eq(ctl_put_kv(&reply, "primary", "ams1"), 0);
	ck_assert_int_eq(ctl_put_kv(&reply, "active-pop", ""), 0);
	ck_assert_int_eq(ctl_row_end(&reply, row), 0);
	ck_assert_int_eq(ctl_end(&reply, mark), 0);
	{
		struct ctl_msg m = { .attrs = attrs };
		const char *why;
		struct ctl_attr *big = malloc(CTL_MAX_ATTRS * sizeof(*big));

		m.attrs = big;
		ck_assert_int_eq(ctl_decode(reply.buf + 4, reply.len - 4, &m, &why), 0);
		ck_assert_uint_le(m.n_attrs, 64);
		memcpy(attrs, big, m.n_attrs * sizeof(*big));
		free(big);
		return m.n_attrs;
	}
}

START_TEST(test_xfrmctl_json_document)
{
	size_t n = build_reply();
	FILE *f = open_mem();
	const char *out;

	ck_assert_int_eq(xo_json_object(f, attrs, n, "sites", "tunnels"), 0);
	out = close_mem(f);
	ck_assert_str_eq(out,
		"{\n"
		"  \"total\": 2,\n"
		"  \"sites\": [\n"
		"    {\"name\": \"b12\", \"status\": \"up\", \"throughput_kbps\": 1234, "
		"\"active_pop\": \"fra1\", \"tunnels\": [{\"pop\": \"fra1\"}]},\n"
		"    {\"name\": \"\xc3\xa9t\xc3\xa9\", \"status\": \"down\", "
		"\"primary\": \"ams1\", \"active_pop\": \"\", \"tunnels\": []}\n"
		"  ]\n"
		"}\n");
	f = open_mem();
	ck_assert_int_eq(xo_json_object(f, attrs, 1, "sites", NULL), 0);
	ck_assert_str_eq(close_mem(f), "{\n  \"total\": 2,\n  \"sites\": []\n}\n");
	ike_writer_clear(&reply);
}
END_TEST

START_TEST(test_xfrmctl_table)
{
	static const struct xo_col cols[] = {
		{ "name", "NAME", "name", NULL, NULL, "-" },
		{ "status", "STATUS", "status", NULL, NULL, "-" },
		{ "pop", "POP", "active-pop", "primary", NULL, "-" },
		{ "throughput", "THROUGHPUT", "throughput-kbps", NULL, " Kbps", "-" },
	};
	size_t n = build_reply(), n_rows, n_cols;
	struct xo_row *rows;
	struct xo_col *all;
	FILE *f;

	ck_assert_int_eq(xo_rows_of(attrs, n, &rows, &n_rows), 0);
	ck_assert_uint_eq(n_rows, 2);
	f = open_mem();
	ck_assert_int_eq(xo_table(f, rows, n_rows, cols, 4), 0);
	ck_assert_str_eq(close_mem(f),
		"NAME  STATUS  POP   THROUGHPUT\n"
		"b12   up      fra1  1234 Kbps\n"
		"\xc3\xa9t\xc3\xa9   down    ams1  -\n");
	ck_assert_int_eq(xo_cols_of(rows, n_rows, &all, &n_cols), 0);
	ck_assert_uint_eq(n_cols, 5);
	ck_assert_str_eq(all[2].header, "THROUGHPUT KBPS");
	ck_assert_str_eq(all[4].key, "primary");
	xo_cols_free(all, n_cols);
	f = open_mem();
	xo_fields(f, rows[0].attrs, rows[0].n, "  ");
	ck_assert_str_eq(close_mem(f),
		"  name:            b12\n"
		"  status:          up\n"
		"  throughput-kbps: 1234\n"
		"  active-pop:      fra1\n");
	xo_rows_free(rows, n_rows);
	ike_writer_clear(&reply);
}
END_TEST

static char dir[64];

static const char *key_file(const char *name, const void *content, size_t len, mode_t mode)
{
	static char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, content, len), (ssize_t)len);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

START_TEST(test_xfrmctl_psk_sources)
{
	struct xc_psk k = { 0 };
	char err[512], big[400];
	int p[2];

	snprintf(dir, sizeof(dir), "/tmp/xfrmctl-psk-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	/* A key others can read is refused, naming the file, its mode and the fix. */
	ck_assert_int_eq(xc_psk_from_file(&k, key_file("k", "secret\n", 7, 0644), err,
					  sizeof(err)), -EACCES);
	ck_assert_ptr_nonnull(strstr(err, "/k: mode 0644 lets group and others read the key; "
					 "chmod 600 "));
	ck_assert(!k.set);
	ck_assert_int_eq(xc_psk_from_file(&k, key_file("k", "secret\n", 7, 0640), err,
					  sizeof(err)), -EACCES);
	ck_assert_ptr_nonnull(strstr(err, "lets its group read"));
	ck_assert_int_eq(xc_psk_from_file(&k, key_file("k", "secret\r\n", 8, 0600), err,
					  sizeof(err)), 0);
	ck_assert(k.set);
	ck_assert_uint_eq(k.len, 6);
	ck_assert_mem_eq(k.buf, "secret", 6);
	/* Binary keys stay whole; only one trailing newline goes. */
	ck_assert_int_eq(xc_psk_from_file(&k, key_file("k", "a\0b\n\n", 5, 0400), err,
					  sizeof(err)), 0);
	ck_assert_uint_eq(k.len, 4);
	ck_assert_mem_eq(k.buf, "a\0b\n", 4);
	ck_assert_int_eq(xc_psk_from_file(&k, key_file("k", "\n", 1, 0600), err, sizeof(err)),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, ": empty"));
	memset(big, 'x', sizeof(big));
	ck_assert_int_eq(xc_psk_from_file(&k, key_file("k", big, 257, 0600), err, sizeof(err)),
			 -EMSGSIZE);
	ck_assert(!k.set);
	ck_assert_int_eq(xc_psk_from_file(&k, key_file("k", big, 256, 0600), err, sizeof(err)), 0);
	ck_assert_int_eq(xc_psk_from_file(&k, key_file("k", big, 400, 0600), err, sizeof(err)),
			 -EMSGSIZE);
	ck_assert_int_eq(xc_psk_from_file(&k, dir, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(xc_psk_from_file(&k, "/nonexistent/k", err, sizeof(err)), -ENOENT);
	/* stdin: a pipe. */
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(write(p[1], "from-stdin\n", 11), 11);
	close(p[1]);
	ck_assert_int_eq(xc_psk_from_fd(&k, p[0], "psk -", err, sizeof(err)), 0);
	close(p[0]);
	ck_assert_uint_eq(k.len, 10);
	xc_psk_wipe(&k);
	ck_assert_uint_eq(k.len, 0);
	for (size_t i = 0; i < sizeof(k.buf); i++)
		ck_assert_uint_eq(k.buf[i], 0);
	/* Not a terminal: no prompt. */
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_lt(xc_psk_prompt(&k, p[0], "PSK: ", err, sizeof(err)), 0);
	close(p[0]);
	close(p[1]);
	snprintf(big, sizeof(big), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(big), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("xfrmctl");
	TCase *tc = tcase_create("xfrmctl");

	tcase_add_test(tc, test_xfrmctl_prefixes);
	tcase_add_test(tc, test_xfrmctl_options);
	tcase_add_test(tc, test_xfrmctl_help_from_the_tables);
	tcase_add_test(tc, test_xfrmctl_json_escaping);
	tcase_add_test(tc, test_xfrmctl_json_types);
	tcase_add_test(tc, test_xfrmctl_terminal_text);
	tcase_add_test(tc, test_xfrmctl_json_document);
	tcase_add_test(tc, test_xfrmctl_table);
	tcase_add_test(tc, test_xfrmctl_psk_sources);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
