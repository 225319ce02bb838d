/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * No blind start. A traced process that execs a file whose probes are not
 * decided yet is stopped by BPF at exec (SIGSTOP from sched_process_exec,
 * before its first instruction; bpf/proc.bpf.c) and listed in the "held"
 * map. The discovery worker analyses and attaches, marks the file known
 * (exec_known: later execs are not held) and resumes the process
 * (hold__release). Whoever deletes a pid from "held" sends the SIGCONT, so a
 * process is resumed exactly once.
 *
 * Bounds: a watchdog process (forked here, in its own session) resumes every
 * held process hold_ms after its exec whatever the tracer does, and all of
 * them as soon as the tracer exits, SIGKILL included (it waits on a pidfd of
 * the tracer). BPF holds only while the worker's heartbeat (hold__alive) is
 * fresh, so a stopped or stuck tracer holds nothing; if the watchdog dies,
 * holds are switched off. See docs/go.md "No blind start".
 */
#ifndef PT_HOLD_H
#define PT_HOLD_H

#include <stdint.h>
#include <sys/types.h>
#include "phasetrace.h"

struct phasetrace_bpf;
struct hold;

struct hold_stats {
	uint64_t held;		/* processes stopped at exec */
	uint64_t released;	/* resumed by the worker, probes in place */
	uint64_t timeouts;	/* resumed by the watchdog's deadline */
};

/*
 * Forks the watchdog; call after the object is loaded and before any thread
 * starts. With skel->rodata->hold_ms 0, a hold that does nothing. 0 or -errno.
 */
int hold__new(struct phasetrace_bpf *skel, struct hold **out);
/* Holds may start: exec records are read (the collector's loop runs). */
void hold__arm(struct hold *h);
/* The heartbeat that allows holds (discovery worker, at least every 500 ms). */
void hold__alive(struct hold *h);
/* pid's executable is decided (known: its exec identity, or NULL); resume pid if held. */
void hold__release(struct hold *h, pid_t pid, const struct pt_file_id *known);
/* No more holds; resume every held process. Idempotent. */
void hold__stop(struct hold *h);
void hold__free(struct hold *h);	/* stops it first */
void hold__stats(struct hold *h, struct hold_stats *out);

#endif
