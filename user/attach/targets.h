/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Probe targets: which files get which probes. For a process, its
 * executable and the libraries it maps (discovery.h opens them safely);
 * each file is analysed once (binary.h, within struct binary_limits) and
 * gets the library sets it defines (libprobes.h) and, if it is a Go
 * program, the Go probe set (goprobes.h), system-wide (pid -1) through the
 * descriptor that was analysed. seen_files.h remembers what was done;
 * linkset.h holds the links. Processes running a traced Go binary are
 * registered in go_procs only while /proc/PID/exe still is that file.
 *
 * Runs on the discovery worker (worker.h): not thread-safe, except
 * targets__proc_exit (a map update).
 */
#ifndef PT_TARGETS_H
#define PT_TARGETS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "attach/binary.h"
#include "attach/seen_files.h"

struct phasetrace_bpf;
struct targets;

struct targets_opts {
	struct phasetrace_bpf *skel;
	bool multi;			/* uprobe_multi links (probes__uprobe_multi()) */
	struct binary_limits lim;	/* per binary; lim.cancel stops scans too */
	int max_files, max_probed;	/* seen_files bounds; 0: defaults */
};

struct targets_stats {
	int files;		/* files with probes */
	int uprobes;		/* probe sites attached */
	int failed;		/* probe sites or Go functions not attached */
	int go_binaries;	/* Go programs traced goroutine-aware */
	uint64_t over_budget;	/* binaries whose analysis was abandoned (budget) */
	struct seen_counts seen;
};

int targets__new(const struct targets_opts *o, struct targets **out);
/* Detaches every probe. */
void targets__free(struct targets *t);
/* Well-known library directories (covers processes started later). */
int targets__scan_system(struct targets *t);
/* Every process (or only these pids); -ECANCELED when cancelled. */
int targets__scan_all(struct targets *t, const pid_t *pids, int npids);
/* The executable and the libraries mapped by pid. */
int targets__scan_pid(struct targets *t, pid_t pid);
/* Its executable only: analysed, attached, pid registered if Go. 0 once the
 * file is decided, else -errno (the process is gone, table full). */
int targets__scan_exe(struct targets *t, pid_t pid);
/* Called between files and processes of the long scans (scan_system, scan_all):
 * the worker answers held processes there. Not re-entered. */
void targets__on_between(struct targets *t, void (*fn)(void *ctx), void *ctx);
/* pid (a Go program we attached) keeps goroutine state that only a goroutine's end clears:
 * probe its executable's runtime.goexit1 (once per file) and re-register pid. 0 or -errno. */
int targets__probe_goexit(struct targets *t, pid_t pid);
/* The files pid maps. */
int targets__scan_maps(struct targets *t, pid_t pid);
/* pid exited: forget its Go registration. Safe from any thread. */
void targets__proc_exit(struct targets *t, pid_t pid);
void targets__stats(const struct targets *t, struct targets_stats *out);

#endif
