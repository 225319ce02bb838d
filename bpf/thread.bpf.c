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

/* From a kernel hook the goroutine comes from the thread's TLS (go_tls_g()). */
static __always_inline __u64 go_exec_key(const struct pt_go_proc *gp, __u64 id, __u64 *goid)
{
	__u64 g = go_tls_g(gp), id2 = 0;

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
	if (thread_in_task(key))
		return bpf_task_storage_get(&thread_store, bpf_get_current_task_btf(), NULL, 0);
	return bpf_map_lookup_elem(&threads, &key);
}

PT_SHARED struct thread_ctx *thread_get_as(__u64 key, int end)
{
	struct thread_ctx zero = { .go_srv = end == GO_END_CONN, .tls_scoped = end == GO_END_CALL,
				   .go_stream = end == GO_END_STREAM };
	struct thread_ctx *t = thread_lookup(key);

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
	if (thread_in_task(key)) {
		t = bpf_task_storage_get(&thread_store, bpf_get_current_task_btf(), &zero,
					 BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (!t)
			stat_inc(PT_STAT_THREAD_FULL);
		return t;
	}
	return map_get_or_init(&threads, &key, &zero, PT_STAT_THREAD_FULL);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
