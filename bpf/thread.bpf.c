// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Execution contexts; see thread.bpf.h. */
#include "thread.bpf.h"
#include "go.bpf.h"

/* The g pointer at fs_base + g_tls_off (amd64), 0 if unreadable. The task is a trusted
 * BTF pointer: its fsbase is a plain load. */
static __always_inline __u64 go_tls_g(const struct pt_go_proc *gp)
{
	__u64 g = 0;
#if defined(__TARGET_ARCH_x86)
	__u64 fsbase = bpf_get_current_task_btf()->thread.fsbase;

	if (!fsbase || bpf_probe_read_user(&g, sizeof(g), (void *)(fsbase + gp->g_tls_off)))
		return 0;
#endif
	return g;
}

PT_SHARED __u64 go_cur_g(__u64 key, const struct pt_go_proc *gp)
{
	__u64 g = go_tls_g(gp), goid = 0;

	if (!g || bpf_probe_read_user(&goid, sizeof(goid), (void *)(g + gp->goid_off)) ||
	    GO_KEY(key >> 32, goid) != key)
		return 0;
	return g;
}

/*
 * The goroutine's id from the user registers the kernel saved (a syscall's, or a uprobe's)
 * in one user-memory read; false if they hold no g: then the TLS slot tells (two reads,
 * each about 100 ns on this VM). Go code keeps g in R14 (ABIInternal, Go >= 1.17 on
 * amd64), and Go's syscall wrapper (internal/runtime/syscall.Syscall6) is ABIInternal
 * assembly that leaves R14 alone. C code in a Go process (cgo) leaves anything there: R14
 * is taken as g only if the saved SP lies within the stack it describes (g.stack.lo and
 * .hi, the struct's first fields in every release), read with the goid.
 */
static __always_inline bool go_reg_goid(const struct pt_go_proc *gp, __u64 *goid)
{
#if defined(__TARGET_ARCH_x86)
	struct pt_regs *regs;
	struct go_g_head *h;
	__u32 zero = 0;
	__u64 i;

	if (!has_task_pt_regs || gp->goid_off < 16 || gp->goid_off > sizeof(*h) - 8)
		return false;
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	h = bpf_map_lookup_elem(&go_g_scratch, &zero);
	if (!regs || !h || !regs->r14 || bpf_probe_read_user(h, sizeof(*h), (void *)regs->r14) ||
	    regs->sp < h->stack_lo || regs->sp >= h->stack_hi)
		return false;
	i = (gp->goid_off - 16) / 8;
	barrier_var(i);
	if (i >= sizeof(h->w) / sizeof(h->w[0]))	/* never: for the verifier */
		return false;
	*goid = h->w[i];
	return true;
#else
	return false;
#endif
}

/* From a kernel hook: the goroutine in the saved registers, else in the thread's TLS. */
static __always_inline __u64 go_exec_key(const struct pt_go_proc *gp, __u64 id, __u64 *goid)
{
	__u64 g, id2 = 0;

	if (go_reg_goid(gp, &id2)) {
		if (id2) {
			*goid = id2;
			return GO_KEY(id >> 32, id2);
		}
		/* g0 or gsignal: the runtime's own stack (the TLS slot holds the same) */
		stat_inc(PT_STAT_GO_NO_G);
		return id;
	}
	stat_inc_hot(PT_STAT_GO_G_TLS);
	g = go_tls_g(gp);
	if (g && !bpf_probe_read_user(&id2, sizeof(id2), (void *)(g + gp->goid_off)) && id2) {
		*goid = id2;
		return GO_KEY(id >> 32, id2);
	}
	stat_inc(PT_STAT_GO_NO_G);
	return id;
}

PT_SHARED __u64 exec_key_goid(__u64 *goid)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct pt_go_proc *gp = bpf_map_lookup_elem(&go_procs, &tgid);

	*goid = 0;
	if (!gp)
		return id;
	return go_exec_key(gp, id, goid);
}

PT_SHARED __u64 exec_key_conn(struct pt_conn *c, __u64 *goid)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, gen = go_procs_gen;	/* read before the lookup */
	struct pt_go_proc p = {}, *gp;

	*goid = 0;
	if (c->proc_tgid != tgid || c->proc_gen != gen) {
		gp = bpf_map_lookup_elem(&go_procs, &tgid);
		c->proc_tgid = tgid;
		c->proc_gen = gen;
		c->go_goid_off = gp ? gp->goid_off : 0;
		c->go_tls_off = gp ? gp->g_tls_off : 0;
	}
	if (!c->go_goid_off)
		return id;
	p.goid_off = c->go_goid_off;
	p.g_tls_off = c->go_tls_off;
	return go_exec_key(&p, id, goid);
}

PT_SHARED struct thread_ctx *thread_lookup(__u64 key)
{
	return bpf_map_lookup_elem(&threads, &key);
}

PT_SHARED struct thread_ctx *thread_get_as(__u64 key, int end)
{
	struct thread_ctx zero = { .go_srv = end == GO_END_CONN, .tls_scoped = end == GO_END_CALL,
				   .go_stream = end == GO_END_STREAM };
	struct thread_ctx *t = bpf_map_lookup_elem(&threads, &key);

	if (t) {
		if (t->tls_scoped && end != GO_END_CALL)
			thread_keep(key, t, end);
		return t;
	}
	/* a call's state is made and deleted at each call: not once goexit1 is probed (not
	 * merely asked for: what ends before the probe is in place would stay) */
	if (KEY_IS_GO(key) && end == GO_END_CALL && go_exit_probed(key >> 32)) {
		end = GO_END_EXIT;
		zero.tls_scoped = 0;
	}
	/* a goroutine's entry: gone when it ends (goexit1), or with its connection or stream */
	if (KEY_IS_GO(key) && end == GO_END_EXIT)
		go_want_exit(key >> 32);
	return map_get_or_init(&threads, &key, &zero, PT_STAT_THREAD_FULL);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
