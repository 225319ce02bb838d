/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The BPF object's lifecycle and the kernel-side hooks: open, set tunables,
 * probe kernel features, load, attach tracepoints. Uprobes on binaries are
 * targets.c's job.
 */
#ifndef PT_PROBES_H
#define PT_PROBES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "phasetrace.h"

struct phasetrace_bpf;

/* BPF_TRACE_UPROBE_MULTI and its return flag (Linux 6.6): libbpf 1.1 predates them */
#define PT_BPF_TRACE_UPROBE_MULTI	48
#define PT_BPF_F_UPROBE_MULTI_RETURN	1

struct probes_opts {
	const pid_t *pids;
	int npids;
	const char (*comms)[PT_COMM_LEN];
	int ncomms;
	const char *btf_path;	/* custom vmlinux BTF, NULL for the kernel's */
	uint32_t max_conns;	/* 0: default */
	uint32_t ring_mb;	/* ring buffer size, a power of two; 0: default (16) */
	bool span_io;		/* time socket writes during spans (write syscall hooks) */
	enum io_hooks { IO_HOOKS_AUTO, IO_HOOKS_SOCK, IO_HOOKS_SYSCALLS } io_hooks;
	enum uprobes_kind { UPROBES_AUTO, UPROBES_MULTI, UPROBES_PERF } uprobes;
	enum thread_state { THREAD_STATE_AUTO, THREAD_STATE_TASK, THREAD_STATE_HASH } thread_state;
	bool cgroup_filter;	/* -C: only cgroups in the cgroup_filter map */
	uint32_t hold_ms;	/* exec hold timeout (hold.h); 0: never hold */
	bool no_detail;		/* BPF reads no HTTP request line (method, path) and no
				 * span label (a template's name) */
	/* in-kernel aggregation (bpf/agg.bpf.c): enum pt_kagg_mode, bounds in ns */
	int kagg_mode;
	const uint64_t *kagg_bounds;
	int kagg_nbounds;
	bool kagg_top;
	/* the collector's idle flush in ns: what BPF may still count or fold (agg.bpf.c,
	 * span.bpf.c span_fold()) */
	uint64_t idle_flush_ns;
	/* span indexes named "render" (bit i: span i): folded into their server request's
	 * record (bpf/span.bpf.c span_fold()) */
	uint32_t render_spans;
};

struct probes;

/* Prints one message for the operator on failure; returns 0 or -errno. */
int probes__open(const struct probes_opts *o, struct probes **out);
void probes__free(struct probes *p);
struct phasetrace_bpf *probes__skel(struct probes *p);
/* Sum of the per-CPU counters. */
int probes__stats(struct probes *p, uint64_t out[PT_STAT__MAX]);
/* The responses started so far (PT_STAT_RESP_STARTS, one syscall). */
int probes__resp_starts(struct probes *p, uint64_t *out);
/* The per-CPU rings of keep-alive requests' records (*fds, as many as returned, maybe
 * none): the collector reads them with the main ring (maps.rb). */
int probes__cpu_rings(struct probes *p, const int **fds);
int probes__nr_attached(struct probes *p);
/* Library uprobes go through uprobe_multi links (Linux 6.6+). */
bool probes__uprobe_multi(struct probes *p);
/* The one decision of how uprobes are attached: uprobe_multi links when the kernel
 * (vmlinux BTF, NULL: none read) has them (Linux 6.6+) and --uprobes does not ask for
 * perf events. probes__open() and the capability check before it both ask here. */
struct btf;
bool probes__multi_links(const struct btf *vmlinux, enum uprobes_kind uprobes);

#endif
