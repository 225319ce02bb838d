// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Endpoint folding: id segments of a path become ":id"; see diagnose.h. */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "diagnose/diagnose.h"

static bool all_of(const char *s, size_t n, int (*is)(int))
{
	for (size_t i = 0; i < n; i++)
		if (!is((unsigned char)s[i]))
			return false;
	return n > 0;
}

static bool has_digit(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (isdigit((unsigned char)s[i]))
			return true;
	return false;
}

/* 8-4-4-4-12 hex digits */
static bool is_uuid(const char *s, size_t n)
{
	static const size_t dash[] = { 8, 13, 18, 23 };

	if (n != 36)
		return false;
	for (size_t i = 0, d = 0; i < n; i++) {
		if (d < 4 && i == dash[d]) {
			if (s[i] != '-')
				return false;
			d++;
		} else if (!isxdigit((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

static bool is_id(const char *s, size_t n)
{
	if (all_of(s, n, isdigit))
		return true;
	if (n >= 8 && all_of(s, n, isxdigit) && has_digit(s, n))
		return true;
	return is_uuid(s, n);
}

size_t diag_fold_path(const char *path, char *out, size_t len)
{
	size_t o = 0;

	if (!len)
		return 0;
	while (*path) {
		const char *seg = path;
		size_t n = strcspn(path, "/"), take;
		const char *src = seg;

		if (is_id(seg, n)) {
			src = ":id";
			take = 3;
		} else {
			take = n;
		}
		if (o + take >= len)
			take = len - 1 - o;
		memcpy(out + o, src, take);
		o += take;
		path += n;
		if (*path == '/' && o + 1 < len)
			out[o++] = '/';
		if (*path == '/')
			path++;
		if (o + 1 >= len)
			break;
	}
	out[o] = 0;
	return o;
}
