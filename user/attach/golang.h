/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Go processes: recognise Go executables (once per file), attach the Go probe
 * set to each, and register every process running one in the BPF "go_procs"
 * map so that kernel hooks key their state by goroutine.
 */
#ifndef PT_GOLANG_H
#define PT_GOLANG_H

#include <stdint.h>
#include <sys/types.h>

struct phasetrace_bpf;
struct golang;

struct golang *golang__new(struct phasetrace_bpf *skel);
void golang__free(struct golang *g);
/*
 * exe_path: the executable of pid, attachable (e.g. /proc/PID/exe).
 * 0 if it is a Go program (pid registered), -ENOEXEC if not, -errno on error.
 */
int golang__consider_exe(struct golang *g, const char *exe_path, pid_t pid);
void golang__proc_exit(struct golang *g, pid_t pid);
/* Go binaries seen, probes attached / failed */
void golang__counts(const struct golang *g, int *binaries, int *attached, int *failed);

#endif
