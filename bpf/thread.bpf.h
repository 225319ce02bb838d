/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Execution contexts (bpf/thread.bpf.c): the thread, or in a Go process the
 * goroutine (which moves between threads), and its thread_ctx (maps.bpf.h).
 */
#ifndef PT_THREAD_BPF_H
#define PT_THREAD_BPF_H

#include "common.bpf.h"
#include "go.bpf.h"

/* Keys of goroutines have bit 31 set: thread ids stay below 2^22 (pid_max). */
#define GO_KEY(tgid, goid) PT_GO_KEY(tgid, goid)
#define KEY_IS_GO(key) ((key) & 0x80000000ULL)

/* The current context's key (pid_tgid or GO_KEY); *goid: its goroutine id or 0. */
PT_SHARED __u64 exec_key_goid(__u64 *goid);
/* The same for I/O on c: the process's go_procs entry as c saw it costs no lookup until
 * go_procs changes (go_procs_gen). */
PT_SHARED __u64 exec_key_conn(struct pt_conn *c, __u64 *goid);
/* The runtime.g of the current thread's goroutine if that is key (from the thread's TLS,
 * as exec_key_goid() finds it), else 0. */
PT_SHARED __u64 go_cur_g(__u64 key, const struct pt_go_proc *gp);
/* Is key's context in the current task's storage (thread_store), not in threads? key is
 * then the current thread's: no program looks up another thread's context. */
static __always_inline bool thread_in_task(__u64 key)
{
	return has_task_storage && !KEY_IS_GO(key);
}
PT_SHARED struct thread_ctx *thread_lookup(__u64 key);
/* key's context goes (a thread's: the current one's). */
static __always_inline void thread_forget(__u64 key)
{
	if (thread_in_task(key))
		bpf_task_storage_delete(&thread_store, bpf_get_current_task_btf());
	else
		bpf_map_delete_elem(&threads, &key);
}
/* How a goroutine's new thread_ctx will be forgotten (thread_get_as()). */
enum go_state_end {
	GO_END_EXIT = 0,	/* at the goroutine's end: asks for runtime.goexit1's probe */
	GO_END_CONN,		/* serves a connection: when it closes (go_conn_closed()) */
	GO_END_CALL,		/* made by a call, for it alone: a crypto/tls call's when it
				 * returns (tls.bpf.c), a span's when the goroutine's last span
				 * ends (span.bpf.c) */
	GO_END_STREAM,		/* an h2 stream's handler: when the stream ends (the collector
				 * deletes it: goprobes__forget_goroutines()) */
};
/* Looked up or created; NULL when the table is full (counted). end: how a goroutine's
 * new entry goes (any: for a thread's key). An entry a call made (tls_scoped) that
 * another use finds is kept from then on, and asks as that use would have. */
PT_SHARED struct thread_ctx *thread_get_as(__u64 key, int end);
static __always_inline struct thread_ctx *thread_get(__u64 key)
{
	return thread_get_as(key, GO_END_EXIT);
}
/* A goroutine's entry that a call made (tls_scoped) is kept for another use, which
 * ends as end says (GO_END_EXIT, CONN or STREAM). Inlined: BPF calls nest 8 deep at most. */
static __always_inline void thread_keep(__u64 key, struct thread_ctx *t, int end)
{
	t->tls_scoped = 0;
	if (end == GO_END_CONN)
		t->go_srv = 1;
	else if (end == GO_END_STREAM)
		t->go_stream = 1;
	else
		go_want_exit(key >> 32);
}

/* The server request context t serves (0: none, or requests interleaved on it). */
static __always_inline __u64 thread_srv_req(const struct thread_ctx *t)
{
	return t && !t->interleaved ? t->srv_req_id : 0;
}

/* A call ended on key: an entry made for calls alone (tls_scoped) goes once none is open
 * (no crypto/tls call, no span; a Go lookup deletes it at its return, go_dns_ret()). */
static __always_inline void thread_call_done(__u64 key, struct thread_ctx *t)
{
	if (t && t->tls_scoped && !t->ssl_depth && !t->spans_active)
		thread_forget(key);
}

#endif
