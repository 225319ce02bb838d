/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Library probe sets (include/probe_list.h through probe_table.h) on one
 * binary: OpenSSL, GnuTLS, the libc resolver, dlopen. A set applies to a
 * file that defines its key symbol and is attached all or nothing, as one
 * uprobe_multi link per side (6.6+) or one perf-event uprobe per function
 * and side. Sets with return probes are never attached to a file with a Go
 * marker (a uretprobe in Go code crashes the program).
 */
#ifndef PT_LIBPROBES_H
#define PT_LIBPROBES_H

#include <stdbool.h>

struct binary;
struct linkset;
struct phasetrace_bpf;

struct libprobes_result {
	int sets;	/* sets attached */
	int probes;	/* probe sites attached */
	int failed;	/* probe sites that could not be attached */
};

/* Does any set apply to b? (its key symbol is defined) */
bool libprobes__applies(struct binary *b);
/* Attaches every applicable set through binary__attach_path(b); name is for messages.
 * 0, or -ETIME / -ECANCELED when b ran out of budget (what was attached stays). */
int libprobes__attach(const struct phasetrace_bpf *skel, bool multi, struct binary *b,
		      struct linkset *ls, const char *name, struct libprobes_result *res);

#endif
