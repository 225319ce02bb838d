// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Processes to (re)scan for probe targets: a new program (exec) and a library
 * loaded at run time (dlopen). Exits let the collector drop per-process state.
 */
#include "common.bpf.h"
#include "lib.bpf.h"
#include "go.bpf.h"
#include "thread.bpf.h"
#include "span.bpf.h"

/* holds need a live tracer: the discovery worker stamps hold_alive_ns at least this often */
#define HOLD_STALE_NS	2000000000ULL
#define SIGSTOP		19

static __always_inline struct pt_proc_rec *proc_rec(__u32 pid, __u32 kind)
{
	struct pt_proc_rec *r = bpf_ringbuf_reserve(&rb, sizeof(*r), 0);

	if (!r) {
		stat_inc(PT_STAT_RB_DROP_PROC);
		return NULL;
	}
	__builtin_memset(r, 0, sizeof(*r));
	r->type = PT_REC_PROC;
	r->pid = pid;
	r->kind = kind;
	r->ts = bpf_ktime_get_ns();
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	return r;
}

static __always_inline void proc_event(__u32 pid, __u32 kind, bool urgent)
{
	struct pt_proc_rec *r = proc_rec(pid, kind);

	/* the collector attaches to new executables: do not let it wait */
	if (r)
		pt_submit(r, urgent);
}

/*
 * Whether this exec may be held: holds on, a live tracer, a file not decided
 * yet, and nobody who would see the stop. A job-control shell waits with
 * WUNTRACED and would report the job "Stopped" (and take the terminal back):
 * a process with a controlling terminal is never held; nor a ptraced one
 * (its tracer would see a signal-delivery stop).
 */
static __always_inline bool may_hold(struct task_struct *p, const struct pt_file_id *id,
				     __u64 now)
{
	__u64 alive = hold_alive_ns;

	if (!hold_ms || !alive || now - alive > HOLD_STALE_NS)
		return false;
	if (bpf_map_lookup_elem(&exec_known, id))
		return false;
	return !BPF_CORE_READ(p, signal, tty) && !BPF_CORE_READ(p, ptrace);
}

/*
 * Stop the new program before its first instruction (the signal is delivered
 * on the return to user mode) until userspace has attached its probes and
 * deleted it from "held"; the watchdog resumes it at hold_ms regardless. The
 * watchdog's record is reserved first: no hold that nobody would end.
 */
static __always_inline bool hold(__u32 tgid, __u64 now)
{
	struct pt_hold_rec *h = bpf_ringbuf_reserve(&hold_rb, sizeof(*h), 0);

	if (!h) {
		stat_inc(PT_STAT_HOLD_FULL);
		return false;
	}
	h->pid = tgid;
	h->pad = 0;
	h->ts = now;
	if (bpf_map_update_elem(&held, &tgid, &now, BPF_ANY)) {
		stat_inc(PT_STAT_HOLD_FULL);
		bpf_ringbuf_discard(h, 0);
		return false;
	}
	if (bpf_send_signal(SIGSTOP)) {
		bpf_map_delete_elem(&held, &tgid);
		bpf_ringbuf_discard(h, 0);
		return false;
	}
	__sync_fetch_and_add(&hold_count, 1);
	bpf_ringbuf_submit(h, 0);	/* wakes the watchdog */
	return true;
}

/*
 * The exiting thread's own context (its key is its pid_tgid) and what hangs off it (its
 * span states, which stay between calls, and a waiting outer TLS call): its thread id
 * may be handed out again (a stale TLS call or server request would then be the new
 * thread's), and the LRU tables it would stay in are shared by every traced thread and
 * goroutine: a thread-per-connection server left one entry per connection (and one per
 * --probe span), crowding out live contexts. Also at exec: the new program keeps the
 * thread's id.
 */
static __always_inline void thread_exited(__u64 id)
{
	struct thread_ctx *t = thread_lookup(id);

	if (!t)
		return;
	if (t->tls_outer)
		bpf_map_delete_elem(&tls_outers, &id);
	if (t->spans_used)
		spans_forget(id);
	thread_forget(id);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(sched_process_exec_btf, struct task_struct *p, pid_t old_pid,
	     struct linux_binprm *bprm)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct pt_file_id id = {};
	struct pt_proc_rec *r;
	struct inode *ino;

	/* the old program's state of this thread, under its id (now the leader's) and, if
	 * another thread exec'd, under the id it had. In task storage only the task's own:
	 * made under the id it had (its spans, a waiting TLS call); the old leader's went
	 * with that task */
	if (!has_task_storage)
		thread_exited((__u64)tgid << 32 | tgid);
	if (has_task_storage || (__u32)old_pid != tgid)
		thread_exited((__u64)tgid << 32 | (__u32)old_pid);
	if (!pt_traced(tgid))
		return 0;
	r = proc_rec(tgid, PT_PROC_EXEC);
	if (!r)
		return 0;
	ino = BPF_CORE_READ(bprm, file, f_inode);
	id.dev = BPF_CORE_READ(ino, i_sb, s_dev);
	id.ino = BPF_CORE_READ(ino, i_ino);
	id.gen = BPF_CORE_READ(ino, i_generation);
	r->file_dev = id.dev;
	r->file_ino = id.ino;
	r->file_gen = id.gen;
	r->held = may_hold(p, &id, r->ts) && hold(tgid, r->ts);
	pt_submit(r, true);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(sched_process_exit_btf, struct task_struct *p)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;

	thread_exited(id);
	/*
	 * Only the last thread of a traced process: do_exit() decrements
	 * signal->live before this tracepoint (group_dead), in every kernel
	 * version. Not "tid == tgid": a main thread that calls pthread_exit()
	 * leaves the process running. Two threads exiting at once may both see
	 * 0: the collector's exit handling is idempotent.
	 */
	if (BPF_CORE_READ(p, signal, live.counter) || !pt_traced(tgid))
		return 0;
	bpf_map_delete_elem(&held, &tgid);	/* killed while held: nothing to resume */
	proc_event(tgid, PT_PROC_EXIT, false);
	return 0;
}

/*
 * Go process tgid keeps goroutine state that only the goroutine's end would clear: ask
 * userspace, once, to probe runtime.goexit1 (PT_GO_EXIT_*). What was written before that
 * probe is in place stays until its LRU table evicts it. A lost record asks again later.
 */
PT_SHARED void go_want_exit(__u32 tgid)
{
	struct pt_go_proc *gp = bpf_map_lookup_elem(&go_procs, &tgid);
	struct pt_proc_rec *r;

	if (!gp || (gp->flags & (PT_GO_EXIT_PROBED | PT_GO_EXIT_ASKED)))
		return;
	gp->flags |= PT_GO_EXIT_ASKED;
	r = proc_rec(tgid, PT_PROC_GOEXIT);
	if (!r) {
		gp->flags &= ~PT_GO_EXIT_ASKED;
		return;
	}
	pt_submit(r, false);
}

/* goexit1 is probed in tgid (not only asked for: the attach may be pending, or fail) */
PT_SHARED bool go_exit_probed(__u32 tgid)
{
	struct pt_go_proc *gp = bpf_map_lookup_elem(&go_procs, &tgid);

	return gp && (gp->flags & PT_GO_EXIT_PROBED);
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
