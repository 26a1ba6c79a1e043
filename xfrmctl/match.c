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
