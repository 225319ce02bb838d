/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Capabilities: which ones phasetrace needs, which of them the process lacks, and
 * dropping all the others for good. Plain capget(2)/capset(2)/prctl(2): two 32-bit
 * words and a loop are all it takes, no libcap.
 */
#ifndef PT_CAPS_H
#define PT_CAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The set phasetrace needs: CAP_BPF and CAP_PERFMON (load, tracepoints, uprobe_multi
 * links), CAP_SYS_PTRACE (other users' /proc/PID/{maps,exe,root}), CAP_DAC_READ_SEARCH
 * (tracefs event ids, binaries behind unreadable directories). CAP_SYS_ADMIN too when
 * uprobes must be perf events (perf_uprobes: --uprobes perf, kernels before 6.6,
 * --probe spans): the uprobe PMU asks for it since the stable fix "perf: ... use
 * CAP_SYS_ADMIN for uprobe perf events" (2025; EACCES with CAP_PERFMON on 6.18), and
 * on kernels older than 5.8, which have no CAP_BPF/CAP_PERFMON.
 */
uint64_t caps__needed(bool perf_uprobes);
/* The needed capabilities missing from the effective set, as "CAP_BPF, CAP_PERFMON" in
 * buf; returns how many are missing (0: all there), or -errno. */
int caps__missing(uint64_t need, char *buf, size_t len);
/* Keep only need in the effective, permitted, inheritable and ambient sets, and in the
 * bounding set when CAP_SETPCAP allows it; sets no_new_privs. Capabilities belong to a
 * thread: call it before any thread is started. 0, or -errno. */
int caps__restrict(uint64_t need);

#endif
