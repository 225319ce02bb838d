/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * TEMPORARY, until branch `binary` ports go_binary onto struct binary:
 * go_binary__new() through the held descriptor's /proc/self/fd path (our
 * own descriptor: nothing a traced process can redirect; no CPU budget yet).
 */
#ifndef PT_GO_BINARY_COMPAT_H
#define PT_GO_BINARY_COMPAT_H

#include <errno.h>
#include "attach/binary.h"
#include "attach/go_binary.h"

static inline int go_binary__new(struct binary *b, struct go_binary **out)
{
	*out = go_binary__open(binary__attach_path(b));
	return *out ? 0 : (errno ? -errno : -ENOEXEC);
}

#endif
