/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Probe targets: the binaries whose functions we put uprobes on (libc's
 * resolver, OpenSSL, GnuTLS, executables with those linked in). Each distinct
 * file (device + inode) is attached once, system-wide, so every process that
 * maps it, now or later, is covered. Found in the system library directories
 * at start, in every process's mappings, and again when a process execs or
 * dlopens a library.
 */
#ifndef PT_TARGETS_H
#define PT_TARGETS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct phasetrace_bpf;
struct targets;

/* multi: use uprobe_multi links (probes__uprobe_multi()) */
struct targets *targets__new(struct phasetrace_bpf *skel, bool multi);
void targets__free(struct targets *t);
/* Well-known library directories (covers processes started later). */
int targets__scan_system(struct targets *t);
/* Every process (or only these pids). */
int targets__scan_all(struct targets *t, const pid_t *pids, int npids);
/* The executable and the libraries mapped by pid. */
int targets__scan_pid(struct targets *t, pid_t pid);
/* Scan pid again at `when` (CLOCK_MONOTONIC ns): libraries appear after exec. */
void targets__rescan_later(struct targets *t, pid_t pid, uint64_t when);
void targets__tick(struct targets *t, uint64_t now);
struct golang *targets__golang(struct targets *t);
void targets__counts(const struct targets *t, int *files, int *attached, int *failed);

#endif
