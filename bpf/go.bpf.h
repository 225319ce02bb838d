/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Go programs seen from uprobes (amd64, register ABI, Go >= 1.17): the
 * current goroutine, per-goroutine probe state, and goroutine ancestry.
 *
 * Return probes are uprobes on each RET instruction (uretprobes crash Go).
 * "Outermost call" is decided by the frame depth stack.hi - SP rather than by
 * a counter alone: it survives stack copies (both move together), and a call
 * that a panic unwound past its RETs cannot stay open for ever: a later entry
 * is nested only if it is deeper and the open call's return address is still
 * in its stack slot (see go_outer_live()).
 */
#ifndef PT_GO_BPF_H
#define PT_GO_BPF_H

#include "common.bpf.h"
#include "thread.bpf.h"

/* runtime.g starts with stack{lo, hi uintptr} in every Go version */
#define GO_G_STACK_HI	8

/* Per-goroutine state of the Go probes (key: GO_KEY). */
struct go_g {
	__u64 tls_d;		/* frame depth of the open crypto/tls call */
	__u64 tls_ret;		/* and its return address */
	__u64 dns_d;		/* frame depth of the open lookupIPAddr, 0 if none */
	__u64 dns_ret;
	__u64 dns_start;
	__u64 dns_host;		/* Go string: data, len */
	__u64 dns_host_len;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, __u64);
	__type(value, struct go_g);
} go_gs SEC(".maps") __weak;

/* child goroutine key -> key of the goroutine that started it (runtime.newproc1) */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u64);
} go_parent SEC(".maps") __weak;

/*
 * Pooled HTTP/1 client connections (net/http.persistConn): a connection's
 * writeLoop goroutine writes every request sent on it, whichever handler
 * asked. (*Transport).roundTrip(req) runs on the asking goroutine: it maps
 * the *http.Request to that goroutine's server request; (*Request).write(req)
 * on the writeLoop goroutine then picks it up just before the bytes go out.
 */
struct go_obj_key {
	__u32 tgid;
	__u32 pad;
	__u64 ptr;		/* *http.Request */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct go_obj_key);
	__type(value, __u64);	/* srv_req_id of the goroutine that sent it */
} go_req_owner SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);	/* goroutine key of a writer (writeLoop) */
	__type(value, __u64);	/* srv_req_id of the request it is writing */
} go_writing_for SEC(".maps") __weak;

/* Goroutine key and id at a uprobe: g is R14; false if not a traced Go process. */
static __always_inline bool go_key_at(struct pt_regs *ctx, __u64 *key, __u64 *goid, __u64 *depth)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct pt_go_proc *gp = bpf_map_lookup_elem(&go_procs, &tgid);
	__u64 g, hi = 0;

	if (!gp || !pt_traced(tgid))
		return false;
	stat_inc(PT_STAT_UPROBE_EVENTS);
#if defined(__TARGET_ARCH_x86)
	g = ctx->r14;
#else
	g = ctx->regs[28];	/* arm64: g lives in X28 (not tested here) */
#endif
	*goid = 0;
	if (!g || bpf_probe_read_user(goid, sizeof(*goid), (void *)(g + gp->goid_off)) || !*goid) {
		stat_inc(PT_STAT_GO_NO_G);
		return false;
	}
	*key = GO_KEY(tgid, *goid);
	if (depth) {
		bpf_probe_read_user(&hi, sizeof(hi), (void *)(g + GO_G_STACK_HI));
		*depth = hi - PT_REGS_SP(ctx);
	}
	return true;
}

/* Return address of the function whose entry we are at. */
static __always_inline __u64 go_entry_ret(struct pt_regs *ctx)
{
	__u64 ret = 0;

	bpf_probe_read_user(&ret, sizeof(ret), (void *)PT_REGS_SP(ctx));
	return ret;
}

/*
 * At the entry of a call at depth d: is the call opened at depth d0 with
 * return address ret0 still running, i.e. is this one nested in it? Only if
 * we are deeper and its return address is still in its slot: a panic that
 * unwound it lets later calls overwrite that part of the stack.
 */
static __always_inline bool go_outer_live(struct pt_regs *ctx, __u64 d, __u64 d0, __u64 ret0)
{
	__u64 v = 0;

	if (d <= d0 || d - d0 > (1ULL << 30))
		return false;
	if (bpf_probe_read_user(&v, sizeof(v), (void *)(PT_REGS_SP(ctx) + (d - d0))))
		return false;
	return v == ret0;
}

/* Goroutine key of the g pointer g in the current process, 0 if unreadable. */
static __always_inline __u64 go_key_of(__u64 g)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct pt_go_proc *gp = bpf_map_lookup_elem(&go_procs, &tgid);
	__u64 goid = 0;

	if (!gp || !g || bpf_probe_read_user(&goid, sizeof(goid), (void *)(g + gp->goid_off)) ||
	    !goid)
		return 0;
	return GO_KEY(tgid, goid);
}

static __always_inline struct go_g *go_g_get(__u64 key)
{
	struct go_g *s = bpf_map_lookup_elem(&go_gs, &key);
	struct go_g zero = {};

	if (s)
		return s;
	bpf_map_update_elem(&go_gs, &key, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&go_gs, &key);
}

static __always_inline __u64 ctx_srv_req(__u64 key)
{
	struct thread_ctx *t = thread_lookup(key);

	return t && !t->interleaved ? t->srv_req_id : 0;
}

/*
 * The server request a goroutine works for when it is not serving one
 * itself: the sender of the HTTP request it is writing (writeLoop), else
 * the request of its parent or grandparent goroutine (net/http dials on a
 * child of the handler and handshakes on a grandchild). 0 if none.
 */
static __always_inline __u64 go_inherited_req(__u64 key)
{
	__u64 *w = bpf_map_lookup_elem(&go_writing_for, &key);
	__u64 *p, req;

	if (w)
		return *w;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		p = bpf_map_lookup_elem(&go_parent, &key);
		if (!p)
			return 0;
		key = *p;
		req = ctx_srv_req(key);
		if (req)
			return req;
	}
	return 0;
}

/*
 * A server request started on socket skp on goroutine key. net/http reads
 * the first byte of the next keep-alive request on a helper goroutine
 * (conn.backgroundRead) while the connection's serve goroutine finishes the
 * previous one; the handler then runs on the serve goroutine. If the parent
 * goroutine serves the same socket, the request is its own.
 */
static __always_inline void go_server_req_started(__u64 key, __u64 skp, __u64 req_id)
{
	__u64 *p = bpf_map_lookup_elem(&go_parent, &key);
	struct thread_ctx *t;

	if (!p)
		return;
	t = thread_lookup(*p);
	if (t && t->srv_sk == skp) {
		t->srv_req_id = req_id;
		t->srv_awaiting = 1;
	}
}

#endif
