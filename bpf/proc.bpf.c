// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Processes to (re)scan for probe targets: a new program (exec) and a library
 * loaded at run time (dlopen). Exits let the collector drop per-process state.
 */
#include "common.bpf.h"

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
	__u64 id = bpf_get_current_pid_tgid();

	/* only the last thread of a traced process */
	if ((__u32)id != (id >> 32) || !pt_traced(id >> 32))
		return 0;
	proc_event(id >> 32, PT_PROC_EXIT, false);
	return 0;
}

static __always_inline int dlopen_done(void *handle)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (handle && pt_traced(tgid))
		proc_event(tgid, PT_PROC_DLOPEN, true);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(dlopen_ret, void *handle)
{
	return dlopen_done(handle);
}

/* the same, loaded for a uprobe_multi link (Linux 6.6+) */
SEC("uretprobe")
int BPF_KRETPROBE(dlopen_ret_multi, void *handle)
{
	return dlopen_done(handle);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
