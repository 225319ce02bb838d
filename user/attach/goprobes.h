/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The Go probe set (include/probe_list.h's PT_GO_PROBES) on one Go
 * executable, and the go_procs map that tells kernel hooks how to find the
 * goroutine of a process running one. Each function gets a uprobe at its
 * entry (at the stack check's jump: emulated, not single-stepped) and one on
 * every return instruction (uretprobes crash Go programs); runtime.newproc1
 * gets its runqput call site instead of its returns when it has one. All or
 * nothing per function.
 */
#ifndef PT_GOPROBES_H
#define PT_GOPROBES_H

#include <stdint.h>
#include <sys/types.h>
#include "phasetrace.h"

struct binary;
struct bpf_program;
struct go_binary;
struct go_func;
struct linkset;
struct phasetrace_bpf;

struct goprobes_result {
	int funcs, sites;	/* attached */
	int failed;		/* functions not attached */
};

/*
 * Analyses b and attaches the Go probe set through binary__attach_path(b).
 * 0: a Go program traced goroutine-aware, *proc is what each of its processes
 * registers; -ENOEXEC: not Go; -ENOTSUP: Go, but not traceable (version,
 * architecture, unknown offsets: said under -v); -ETIME / -ECANCELED: out of
 * budget (nothing stays attached).
 */
int goprobes__attach(const struct phasetrace_bpf *skel, struct binary *b, struct linkset *ls,
		     const char *name, struct pt_go_proc *proc, struct goprobes_result *res);
/*
 * runtime.goexit1, which goprobes__attach() leaves out, on b (a Go program it attached):
 * once a process running it keeps goroutine state that only a goroutine's end clears
 * (PT_PROC_GOEXIT; include/phasetrace.h PT_GO_EXIT_*). 0, -ENOENT (no such function),
 * -ENOTSUP (not attachable here), or -errno.
 */
int goprobes__attach_exit(const struct phasetrace_bpf *skel, struct binary *b,
			  struct linkset *ls, const char *name);
/*
 * One Go function, all or nothing: a uprobe at its entry (at the stack
 * check's jump when it has one: emulated, not single-stepped) and one at each
 * of its n exit sites (RET instructions, never a uretprobe), the cookie on
 * each. Used for the Go probe set and for --probe spans. 0 or -errno.
 */
int goprobes__attach_func(struct linkset *ls, struct go_binary *gb, const char *path,
			  const struct go_func *fn, struct bpf_program *entry_prog,
			  struct bpf_program *exit_prog, const uint64_t *exits, int n,
			  uint64_t cookie);
/*
 * Before the load, on kernels with uprobe_multi links (6.6+): the set's programs become
 * uprobe_multi programs, and goprobes__attach() gives each binary one link per program
 * (detaching costs one RCU grace period per link, not per site). Without it, one
 * perf-event uprobe per site. --probe spans (goprobes__attach_func()) stay perf events.
 */
void goprobes__use_multi(const struct phasetrace_bpf *skel);
/* Registers pid in go_procs / removes it. 0 or -errno. */
int goprobes__register(const struct phasetrace_bpf *skel, pid_t pid, const struct pt_go_proc *p);
void goprobes__forget(const struct phasetrace_bpf *skel, pid_t pid);
/* h2 handler goroutines done with (keys PT_GO_KEY(): the handlers BPF gave no goexit1 to
 * wait for, GO_END_STREAM; assemble/h2.h h2_handler_done_fn): their threads entries
 * deleted, in one batch where the kernel has it. Keys not there (evicted, never made)
 * are skipped. */
void goprobes__forget_goroutines(const struct phasetrace_bpf *skel, const uint64_t *keys,
				 uint32_t n);

#endif
