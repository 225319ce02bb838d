/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The discovery worker: a thread that scans processes, analyses binaries
 * and attaches probes (targets.h), off the event loop, so that a slow or
 * hostile binary never delays reading the ring buffer. Fed by a bounded
 * queue of pids (a full queue drops the request, counted), a bounded
 * list of delayed rescans (libraries appear just after exec) and, apart
 * from both, the Go processes asking for runtime.goexit1's probe.
 *
 * worker__stop() sets the cancel flag that binary analysis checks as it
 * goes (struct binary_limits.cancel) and joins the thread: call it before
 * fork() (a thread holding malloc's lock at fork would deadlock the child).
 */
#ifndef PT_WORKER_H
#define PT_WORKER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "attach/targets.h"
#include "phasetrace.h"

struct hold;
struct worker;

struct worker_stats {
	struct targets_stats t;
	uint64_t dropped;	/* scan (or goexit1) requests lost: queue full */
	uint64_t scans;		/* pids scanned */
};

/* Starts the thread; the initial scan (system directories, then every
 * process or only pids) is its first job. t and hold stay the caller's
 * (hold may be NULL); cancel is the flag t's binary_limits point to (set by
 * worker__stop). Once the initial scan is done the thread beats hold's
 * heartbeat: new programs may be held from then on. */
int worker__new(struct targets *t, struct hold *hold, volatile int *cancel, const pid_t *pids,
		int npids, struct worker **out);
/* Waits up to timeout_ns for the initial scan: 0, or -ETIMEDOUT (it goes on). */
int worker__wait_initial(struct worker *w, uint64_t timeout_ns);
/* Scan pid after delay_ns. 0, or -ENOSPC (dropped, counted). */
int worker__post(struct worker *w, pid_t pid, uint64_t delay_ns);
/* pid asks for runtime.goexit1's probe (targets__probe_goexit()), before any scan
 * waiting but a held process's. 0, or -ENOSPC (more pids waiting than BPF knows Go
 * processes, PT_MAX_GO_PROCS: dropped, counted). */
int worker__post_goexit(struct worker *w, pid_t pid);
/* An exec of the file id (held: stopped until its executable is decided, then
 * resumed through hold; a held job goes first). 0, or -ENOSPC (resumed now). */
int worker__post_exec(struct worker *w, pid_t pid, const struct pt_file_id *id, bool held);
/* Cancel what runs, drop what waits, join. Idempotent. */
void worker__stop(struct worker *w);
void worker__free(struct worker *w);	/* stops it first */
void worker__stats(struct worker *w, struct worker_stats *out);

#endif
