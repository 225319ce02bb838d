/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Per-thread context: the TLS call in progress (to map sessions to sockets
 * and to keep handshake bytes out of the request), the server request the
 * thread is serving (for nesting), and a pending DNS lookup.
 * LRU: a thread that dies inside a call leaves nothing behind for long.
 */
#ifndef PT_THREAD_BPF_H
#define PT_THREAD_BPF_H

#include "common.bpf.h"

struct thread_ctx {
	/* TLS library call in progress (outermost) */
	__u64 ssl;
	__u64 ssl_buf;
	__u64 ssl_outlen;	/* size_t * of SSL_read_ex/SSL_write_ex, else 0 */
	__u64 ssl_entry;
	__u64 ssl_krecv_last;	/* last kernel receive inside the call */
	__u64 ssl_ksend_last;	/* last kernel send inside the call */
	__u8 ssl_depth;
	__u8 ssl_fn;		/* TLS_FN_* */
	__u8 ssl_lib;		/* enum pt_tls_lib */
	__u8 interleaved;	/* event loop: nesting unknown */
	__u8 srv_awaiting;	/* srv request has no response yet */
	__u8 dns_depth;
	__u8 dns_func;
	__u8 pad;
	/* server request being served by this thread */
	__u64 srv_sk;
	__u64 srv_req_id;
	/* DNS lookup in progress */
	__u64 dns_start;
	__u64 dns_name;
	__u64 dns_res;		/* struct addrinfo ** / struct hostent ** */
	/* spans: time blocked in socket writes, accumulated while a span runs */
	__u64 io_total;
	__u64 wr_enter;		/* entry of the write syscall in progress */
	__u32 spans_active;
	__u32 pad2;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, __u64);	/* exec_key(): pid_tgid, or tgid + goroutine */
	__type(value, struct thread_ctx);
} threads SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);	/* tgid */
	__type(value, struct pt_go_proc);
} go_procs SEC(".maps") __weak;

/* Keys of goroutines have bit 31 set: thread ids stay below 2^22 (pid_max). */
#define GO_KEY(tgid, goid) (((__u64)(tgid) << 32) | 0x80000000ULL | ((goid) & 0x7fffffffULL))
#define KEY_IS_GO(key) ((key) & 0x80000000ULL)

/*
 * The unit of execution: the thread, or in a Go process the goroutine (which
 * moves between threads). From a kernel hook the goroutine comes from the
 * thread's TLS: the g pointer sits at fs_base + g_tls_off on amd64.
 */
static __always_inline __u64 exec_key_goid(__u64 *goid)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct pt_go_proc *gp = bpf_map_lookup_elem(&go_procs, &tgid);

	*goid = 0;
	if (!gp)
		return id;
#if defined(__TARGET_ARCH_x86)
	{
		struct task_struct *task = bpf_get_current_task_btf();
		__u64 fsbase = BPF_CORE_READ(task, thread.fsbase);
		__u64 g = 0, id2 = 0;

		if (fsbase && !bpf_probe_read_user(&g, sizeof(g), (void *)(fsbase + gp->g_tls_off)) &&
		    g && !bpf_probe_read_user(&id2, sizeof(id2), (void *)(g + gp->goid_off)) && id2) {
			*goid = id2;
			return GO_KEY(tgid, id2);
		}
	}
#endif
	stat_inc(PT_STAT_GO_NO_G);
	return id;
}

static __always_inline __u64 exec_key(void)
{
	__u64 goid;

	return exec_key_goid(&goid);
}

static __always_inline struct thread_ctx *thread_lookup(__u64 key)
{
	return bpf_map_lookup_elem(&threads, &key);
}

static __always_inline struct thread_ctx *thread_get(__u64 key)
{
	struct thread_ctx *t = bpf_map_lookup_elem(&threads, &key);
	struct thread_ctx zero = {};

	if (t)
		return t;
	if (bpf_map_update_elem(&threads, &key, &zero, BPF_NOEXIST) &&
	    !bpf_map_lookup_elem(&threads, &key)) {
		stat_inc(PT_STAT_THREAD_FULL);
		return NULL;
	}
	return bpf_map_lookup_elem(&threads, &key);
}

#endif
