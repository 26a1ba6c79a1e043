/* Words on the command line: objects and verbs by unambiguous prefix, as `ip` takes them. */
#include <string.h>

#include "xfrmctl.h"

static const char *name_at(const void *table, size_t i, size_t stride)
{
	return *(const char *const *)((const char *)table + i * stride);
}

int xc_match(const char *word, const void *table, size_t n, size_t stride)
{
	size_t len = strlen(word);
	int found = -1;

	if (len == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *name = name_at(table, i, stride);

		/* The whole word wins over the words it begins ("si" never hides "site"). */
		if (!strcmp(name, word))
			return (int)i;
		if (!strncmp(name, word, len))
			found = found == -1 ? (int)i : -2;
	}
	return found;
}

void xc_candidates(char *buf, size_t len, const char *word, const void *table, size_t n,
		   size_t stride)
{
	size_t o = 0;

	if (len)
		buf[0] = '\0';
	for (size_t i = 0; i < n && o < len; i++) {
		const char *name = name_at(table, i, stride);
		size_t k;

		if (word && strncmp(name, word, strlen(word)))
			continue;
		k = strlen(name) + (o ? 2 : 0);
		if (o + k + 1 > len)
			break;
		memcpy(buf + o, ", ", o ? 2 : 0);
		strcpy(buf + o + (o ? 2 : 0), name);
		o += k;
	}
}

int xc_option(int argc, char **argv, int *i, const char *opt, const char **ret_value)
{
	const char *a = argv[*i];
	size_t l = strlen(opt);

	if (strncmp(a, opt, l))
		return 0;
	if (a[l] == '=') {
		*ret_value = a + l + 1;
		return 1;
	}
	if (a[l] != '\0')
		return 0;
	if (*i + 1 >= argc)
		return -1;	/* the value is missing */
	*ret_value = argv[++*i];
	return 1;
}

const struct xc_arg *xc_arg_find(const struct xc_arg *args, size_t n, const char *word)
{
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(args[i].name);

		if (!strcmp(word, args[i].name))
			return &args[i];
		if (args[i].name[0] == '-' && args[i].value && !strncmp(word, args[i].name, l) &&
		    word[l] == '=')
			return &args[i];
	}
	return NULL;
}

void xc_arg_names(char *buf, size_t len, const struct xc_arg *args, size_t n)
{
	size_t o = 0;

	if (len)
		buf[0] = '\0';
	for (size_t i = 0; i < n && o < len; i++) {
		int k = snprintf(buf + o, len - o, "%s%s", o ? ", " : "", args[i].name);

		if (k < 0 || (size_t)k >= len - o) {
			buf[o] = '\0';
			break;
		}
		o += (size_t)k;
	}
}

bool xc_wants_help(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	return false;
}

/* Text indented by two spaces, its own line breaks kept. */
static void indented(FILE *f, const char *text, const char *indent)
{
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);

		fprintf(f, "%s%.*s\n", indent, (int)l, p);
		p += l + (nl ? 1 : 0);
	}
}

void xc_help_verb(FILE *f, const char *object, const struct xc_verb *v)
{
	size_t w = 0;

	fprintf(f, "usage: xfrmctl %s %s%s%s\n", object, v->name, *v->synopsis ? " " : "",
		v->synopsis);
	if (v->help) {
		fputc('\n', f);
		indented(f, v->help, "");
	}
	for (size_t i = 0; i < v->n_args; i++) {
		size_t l = strlen(v->args[i].name) +
			   (v->args[i].value ? strlen(v->args[i].value) + 1 : 0);

		w = l > w ? l : w;
	}
	if (v->n_args)
		fprintf(f, "\n%s:\n", v->args_title ? v->args_title : "arguments");
	for (size_t i = 0; i < v->n_args; i++) {
		const struct xc_arg *a = &v->args[i];
		int l = (int)(strlen(a->name) + (a->value ? strlen(a->value) + 1 : 0));
		const char *nl = strchr(a->help, '\n');

		fprintf(f, "  %s%s%s%*s  %.*s\n", a->name, a->value ? " " : "",
			a->value ? a->value : "", (int)w - l, "",
			nl ? (int)(nl - a->help) : (int)strlen(a->help), a->help);
		for (; nl; nl = strchr(nl + 1, '\n')) {
			const char *next = strchr(nl + 1, '\n');

			fprintf(f, "  %*s  %.*s\n", (int)w, "",
				next ? (int)(next - nl - 1) : (int)strlen(nl + 1), nl + 1);
		}
	}
}

void xc_help_object(FILE *f, const char *object, const struct xc_verb *verbs, size_t n)
{
	size_t w = 0;

	fprintf(f, "usage: xfrmctl %s VERB [ARGS]\n\n", object);
	for (size_t i = 0; i < n; i++)
		w = strlen(verbs[i].name) > w ? strlen(verbs[i].name) : w;
	for (size_t i = 0; i < n; i++) {
		const char *h = verbs[i].help ? verbs[i].help : verbs[i].synopsis;
		const char *nl = strchr(h, '\n');

		/* The first line of its help: a sentence that says what it does. */
		fprintf(f, "  %-*s  %.*s\n", (int)w, verbs[i].name,
			nl ? (int)(nl - h) : (int)strlen(h), h);
	}
	fprintf(f, "\n'xfrmctl %s VERB --help' shows what a verb takes. Verbs may be shortened "
		"while\nunambiguous. See xfrmctl(8).\n", object);
}
