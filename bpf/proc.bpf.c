// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Processes to (re)scan for probe targets: a new program (exec) and a library
 * loaded at run time (dlopen). Exits let the collector drop per-process state.
 */
#include "common.bpf.h"
#include "lib.bpf.h"

static __always_inline void proc_event(__u32 pid, __u32 kind, bool urgent)
{
	struct pt_proc_rec *r = bpf_ringbuf_reserve(&rb, sizeof(*r), 0);

	if (!r) {
		stat_inc(PT_STAT_RB_DROP_PROC);
		return;
	}
	r->type = PT_REC_PROC;
	r->pid = pid;
	r->kind = kind;
	r->pad = 0;
	r->ts = bpf_ktime_get_ns();
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	/* the collector attaches to new executables: do not let it wait */
	pt_submit(r, urgent);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(sched_process_exec_btf, struct task_struct *p)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (pt_traced(tgid))
		proc_event(tgid, PT_PROC_EXEC, true);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(sched_process_exit_btf, struct task_struct *p)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	/*
	 * Only the last thread of a traced process: do_exit() decrements
	 * signal->live before this tracepoint (group_dead), in every kernel
	 * version. Not "tid == tgid": a main thread that calls pthread_exit()
	 * leaves the process running. Two threads exiting at once may both see
	 * 0: the collector's exit handling is idempotent.
	 */
	if (BPF_CORE_READ(p, signal, live.counter) || !pt_traced(tgid))
		return 0;
	proc_event(tgid, PT_PROC_EXIT, false);
	return 0;
}

/* dlopen's return (a library probe: include/probe_list.h, bpf/lib.bpf.c) */
PT_SHARED int on_dlopen_ret(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (PT_REGS_RC(ctx) && pt_traced(tgid))
		proc_event(tgid, PT_PROC_DLOPEN, true);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
