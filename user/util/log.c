// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdio.h>
#include "util/log.h"
#include "util/sanitize.h"

bool pt_verbose;

void pt_vprint(const char *prefix, const char *fmt, va_list ap)
{
	char msg[2048], safe[4096];
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);

	if (n < 0)
		return;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	/* messages quote paths and names a traced process chose: no escape sequences */
	pt_sanitize_mem(safe, sizeof(safe), msg, n, 0);
	fprintf(stderr, "phasetrace: %s%s\n", prefix, safe);
}

void pt_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pt_vprint("", fmt, ap);
	va_end(ap);
}

void pt_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pt_vprint("warning: ", fmt, ap);
	va_end(ap);
}

void pt_info(const char *fmt, ...)
{
	va_list ap;

	if (!pt_verbose)
		return;
	va_start(ap, fmt);
	pt_vprint("", fmt, ap);
	va_end(ap);
}
