// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Go runtime and standard library probes (user/golang.c attaches them to
 * each Go executable: entry uprobes and uprobes on every RET instruction):
 *  - template rendering (html/template, text/template Execute and
 *    ExecuteTemplate): the "render" span (index PT_MAX_SPANS - 1), and
 *    --probe spans on Go functions;
 *  - the pure-Go resolver (net.(*Resolver).lookupIPAddr): DNS records;
 *  - goroutine ancestry (runtime.newproc1) and net/http's pooled client
 *    connections ((*Transport).roundTrip / (*Request).write), so that work done on
 *    helper goroutines is attributed to the server request that asked for it;
 *  - runtime.goexit1: forget a goroutine's state when it ends;
 *  - the h2 server's runHandler: a stream is the parent of its handler's work.
 * crypto/tls lives in tls.bpf.c with the other TLS libraries.
 */
#include "go.bpf.h"
#include "h2.bpf.h"
#include "thread.bpf.h"
#include "agg.bpf.h"
#include "span.bpf.h"
#include "probe_list.h"

/* runtime.g starts with stack{lo, hi uintptr} in every Go version */
#define GO_G_STACK_HI	8

#define GO_SPAN_RENDER	(PT_MAX_SPANS - 1)

/*
 * Whether go_gs, go_parent and go_writing_for were ever written (set before the first
 * update, then only read: no cache line bounced): a table never written holds no
 * goroutine's key, and goexit1 looks in it for nothing (go_goexit_entry()). A server that
 * makes no outbound calls writes none of them on Go >= 1.21 (go_parent only for a
 * goroutine whose parent serves a request; newproc1 is not probed there).
 */
volatile bool go_gs_used = false;
volatile bool go_parent_used = false;
volatile bool go_writing_for_used = false;

PT_SHARED bool go_key_at(struct pt_regs *ctx, __u64 *key, __u64 *goid, __u64 *depth)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct pt_go_proc *gp = bpf_map_lookup_elem(&go_procs, &tgid);
	__u64 g, hi = 0;

	if (!gp || !pt_traced(tgid))
		return false;
	stat_inc_hot(PT_STAT_UPROBE_EVENTS);	/* every Go uprobe hit: inlined */
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

PT_SHARED __u64 go_entry_ret(struct pt_regs *ctx)
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
PT_SHARED bool go_outer_live(struct pt_regs *ctx, __u64 d, __u64 d0, __u64 ret0)
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

/* A goroutine's go_gs entry holds an open lookupIPAddr call: it goes when the call returns
 * (go_dns_ret()), so it needs no goexit1. */
PT_SHARED struct go_g *go_g_get(__u64 key)
{
	struct go_g zero = {}, *g = bpf_map_lookup_elem(&go_gs, &key);

	if (g)
		return g;
	flag_set_once(&go_gs_used);
	return map_get_or_init(&go_gs, &key, &zero, PT_STAT_GO_FULL);
}

PT_SHARED __u64 ctx_srv_req(__u64 key)
{
	return thread_srv_req(thread_lookup(key));
}

/*
 * The goroutine that created the current one, if key is the current one:
 * runtime.g.parentGoid (Go >= 1.21) read from the thread's g (go_cur_g()).
 * 0 if unknown (older Go: go_parent from newproc1).
 */
static __always_inline __u64 go_parent_now(__u64 key)
{
	__u32 tgid = key >> 32;
	struct pt_go_proc *gp = bpf_map_lookup_elem(&go_procs, &tgid);
	__u64 g, parent = 0;

	if (!gp || !gp->parent_goid_off)
		return 0;
	g = go_cur_g(key, gp);
	if (!g || bpf_probe_read_user(&parent, sizeof(parent), (void *)(g + gp->parent_goid_off)) ||
	    !parent)
		return 0;
	return GO_KEY(tgid, parent);
}

/* The parent of the current goroutine key: recorded (newproc1), else parentGoid. */
static __always_inline __u64 go_parent_of(__u64 key, bool *recorded)
{
	/* a table never written holds nothing (go_parent_used) */
	__u64 *p = go_parent_used ? bpf_map_lookup_elem(&go_parent, &key) : NULL;

	*recorded = p != NULL;
	return p ? *p : go_parent_now(key);
}

/*
 * The server request a goroutine works for when it is not serving one
 * itself: the sender of the HTTP request it is writing (writeLoop), else
 * the request of its parent or grandparent goroutine (net/http dials on a
 * child of the handler and handshakes on a grandchild). 0 if none. A parent
 * learned from parentGoid is recorded when it serves a request, so that
 * this goroutine's own children find their grandparent.
 *
 * That record asks for no goexit1: Go never reuses a goroutine id (newproc1 takes a
 * new one from sched.goidgen each time), so the entry of an ended goroutine is never
 * read again, and go_parent is an LRU table that drops it in time. The record is
 * needed only while the child's own children start (a dial's handshake and resolver
 * goroutines), well within the 65536 newer records its eviction would take.
 */
PT_SHARED __u64 go_inherited_req(__u64 key)
{
	__u64 *w = bpf_map_lookup_elem(&go_writing_for, &key);
	__u64 parent, *gp, req;
	bool recorded;

	if (w)
		return *w;
	parent = go_parent_of(key, &recorded);
	if (!parent)
		return 0;
	req = ctx_srv_req(parent);
	if (req && !recorded) {
		flag_set_once(&go_parent_used);
		if (bpf_map_update_elem(&go_parent, &key, &parent, BPF_ANY))
			stat_inc(PT_STAT_GO_FULL);
	} else if (!req) {
		gp = bpf_map_lookup_elem(&go_parent, &parent);
		req = gp ? ctx_srv_req(*gp) : 0;
	}
	return req;
}

/*
 * A server request started on socket skp on goroutine key. net/http reads
 * the first byte of the next keep-alive request on a helper goroutine
 * (conn.backgroundRead) while the connection's serve goroutine finishes the
 * previous one; the handler then runs on the serve goroutine. If the parent
 * goroutine serves the same socket, the request is its own.
 */
PT_SHARED void go_server_req_started(__u64 key, __u64 skp, __u64 req_id)
{
	struct thread_ctx *t;
	bool recorded;
	__u64 parent = go_parent_of(key, &recorded);

	if (!parent)
		return;
	t = thread_lookup(parent);
	if (t && t->srv_sk == skp) {
		t->srv_req_id = req_id;
		t->srv_awaiting = 1;
	}
}

struct go_string {
	__u64 ptr;
	__u64 len;
};


/*
 * Spans on Go functions: no call counting. A function whose stack check
 * fails calls morestack and starts again from its entry (the entry probe
 * fires twice for one call), and a panic skips RETs: both break counters.
 * The outermost call is the one whose frame is open; it ends at a RET at
 * its own depth.
 */
static __always_inline void go_span_enter(struct pt_regs *ctx, __u64 key, __u64 d, __u32 idx,
					  const void *label, __u32 label_len)
{
	struct span_key sk = { .ctx = key, .idx = idx };
	struct span_state *s = bpf_map_lookup_elem(&spans, &sk);
	__u64 ret = go_entry_ret(ctx);

	if (s && s->depth) {
		struct thread_ctx *t;

		if (go_outer_live(ctx, d, s->go_d, s->go_ret))
			return;		/* nested or recursive (deeper): the outermost counts */
		t = thread_lookup(key);
		/* the same call again after morestack; but at the same depth and return
		 * address for another request, a new call after a panic unwound the open
		 * one (a render's return address is in html Execute: every render's) */
		if (s->go_d == d && s->go_ret == ret && span_parent_now(key, t) == s->parent_id)
			return;
		/* a panic unwound the open call: forget it */
		if (t && t->spans_active)
			t->spans_active--;
	}
	if (!s) {
		/* the render span of a goroutine serving a connection is forgotten with it
		 * (go_conn_closed()); any other span state goes when the span ends: an h2
		 * handler's (its goroutine is the stream's), a helper goroutine's, a --probe
		 * span's. None asks for goexit1. */
		struct thread_ctx *t = idx == GO_SPAN_RENDER ? thread_lookup(key) : NULL;

		s = span_state_new(&sk);
		if (s)
			s->drop_at_end = !(t && t->go_srv);
	}
	if (!s)
		return;
	s->depth = 1;
	s->go_d = d;
	s->go_ret = ret;
	span_start(s, key, label, label_len);
}

/* delta: how much deeper than the call's entry the exit site is (0 at its RETs) */
static __always_inline void go_span_ret(__u64 key, __u64 goid, __u64 d, __u64 delta, __u32 idx)
{
	struct span_key sk = { .ctx = key, .idx = idx };
	struct span_state *s = bpf_map_lookup_elem(&spans, &sk);

	if (!s || !s->depth || s->go_d + delta != d)
		return;			/* a nested call returns */
	s->depth = 0;
	span_end(s, key, idx, goid);
	if (s->drop_at_end)
		bpf_map_delete_elem(&spans, &sk);
}

SEC("uprobe")
int go_render_entry(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u64 key, goid, d, t = ctx->ax;	/* the *text/template.Template */
	struct go_string name = {};

	if (!go_key_at(ctx, &key, &goid, &d))
		return 0;
	if (t && need_detail)	/* serve's metrics have no label */
		bpf_probe_read_user(&name, sizeof(name), (void *)(t + PT_TPL_NAME_OFF(cookie)));
	go_span_enter(ctx, key, d, GO_SPAN_RENDER, name.len ? (void *)name.ptr : NULL,
		      name.len > PT_LABEL_LEN - 1 ? PT_LABEL_LEN - 1 : name.len);
	return 0;
}

/*
 * At an emulated site in text/template's execute that every exit passes, that many
 * bytes (cookie bits 40-63) deeper than its entry (user/attach/goprobes.c
 * render_exits()), or at each RET (0) when execute has another shape.
 */
SEC("uprobe")
int go_render_ret(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx), key, goid, d;

	if (go_key_at(ctx, &key, &goid, &d))
		go_span_ret(key, goid, d, cookie >> 40, GO_SPAN_RENDER);
	return 0;
}

/* --probe NAME=GOBINARY:FUNC (user/spans.c): the span index in the cookie */
SEC("uprobe")
int go_span_entry(struct pt_regs *ctx)
{
	__u32 idx = bpf_get_attach_cookie(ctx) & (PT_MAX_SPANS - 1);
	__u64 key, goid, d;

	if (go_key_at(ctx, &key, &goid, &d))
		go_span_enter(ctx, key, d, idx, NULL, 0);
	return 0;
}

SEC("uprobe")
int go_span_ret_prog(struct pt_regs *ctx)
{
	__u64 key, goid, d;

	if (go_key_at(ctx, &key, &goid, &d))
		go_span_ret(key, goid, d, 0, bpf_get_attach_cookie(ctx) & (PT_MAX_SPANS - 1));
	return 0;
}

/* net.(*Resolver).lookupIPAddr(r, ctx context.Context, network, host string) */
SEC("uprobe")
int go_dns_entry(struct pt_regs *ctx)
{
	__u64 key, goid, d;
	struct go_g *gg;

	if (!go_key_at(ctx, &key, &goid, &d))
		return 0;
	gg = go_g_get(key);
	if (!gg)
		return 0;
	if (gg->dns_d && ((gg->dns_d == d && gg->dns_ret == go_entry_ret(ctx)) ||
			  go_outer_live(ctx, d, gg->dns_d, gg->dns_ret)))
		return 0;	/* the same call after morestack, or a nested one */
	gg->dns_d = d;
	gg->dns_ret = go_entry_ret(ctx);
	gg->dns_start = bpf_ktime_get_ns();
	gg->dns_host = ctx->r8;
	gg->dns_host_len = ctx->r9;
	/* parentGoid: record this goroutine's parent before the resolver's own
	 * goroutines (its children) do I/O that needs their grandparent */
	if (!ctx_srv_req(key))
		go_inherited_req(key);
	return 0;
}

struct go_ipaddr {
	__u64 ip, ip_len, ip_cap;	/* IP []byte */
	__u64 zone, zone_len;		/* Zone string */
};

/* ::ffff:a.b.c.d, the form net.IP gives most IPv4 addresses */
static __always_inline bool v4_mapped(const __u8 *ip)
{
	__u64 lo;
	__u32 mid;

	__builtin_memcpy(&lo, ip, 8);
	__builtin_memcpy(&mid, ip + 8, 4);
	return !lo && mid == bpf_htonl(0xffff);
}

/* at RET: ([]IPAddr in RAX, RBX, RCX; error in RDI, RSI) */
SEC("uprobe")
int go_dns_ret(struct pt_regs *ctx)
{
	__u64 key, goid, d, addrs = ctx->ax, n = ctx->bx, start, host, host_len;
	struct thread_ctx *t;
	struct go_g *gg;
	struct pt_dns_rec *r;
	__u32 len;
	int k = 0;

	if (!go_key_at(ctx, &key, &goid, &d))
		return 0;
	gg = bpf_map_lookup_elem(&go_gs, &key);
	if (!gg || !gg->dns_d || gg->dns_d != d)
		return 0;
	/* the call's state goes with it (go_g_get()): copied out first, since a deleted
	 * LRU entry may be handed to another CPU's insert at once */
	start = gg->dns_start;
	host = gg->dns_host;
	host_len = gg->dns_host_len;
	bpf_map_delete_elem(&go_gs, &key);
	r = bpf_ringbuf_reserve(&rb, sizeof(*r), 0);
	if (!r) {
		stat_inc(PT_STAT_RB_DROP_DNS);
		return 0;
	}
	r->type = PT_REC_DNS;
	r->pid = key >> 32;
	r->tid = (__u32)bpf_get_current_pid_tgid();
	r->rc = ctx->di ? -1 : 0;
	r->start = start;
	r->end = bpf_ktime_get_ns();
	r->goid = goid;
	r->flags = PT_F_GO;
	r->func = PT_DNS_GO;
	t = thread_lookup(key);
	r->parent_id = thread_srv_req(t);
	if (!r->parent_id)
		r->parent_id = go_inherited_req(key);
	kagg_child(r->parent_id);
	/* a context the lookup outlived its connection with (go_conn_closed()) goes with it */
	thread_call_done(key, t);
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	r->cgroup_id = bpf_get_current_cgroup_id();
	len = host_len < PT_HOST_LEN - 1 ? host_len : PT_HOST_LEN - 1;
	r->host[0] = 0;
	if (bpf_probe_read_user(r->host, len & (PT_HOST_LEN - 1), (void *)host))
		len = 0;
	r->host[len & (PT_HOST_LEN - 1)] = 0;
	if (r->rc)
		n = 0;
	for (int i = 0; i < PT_DNS_MAX_ADDRS; i++) {
		struct go_ipaddr ia;
		__u8 ip[16];

		if (i >= n)
			break;
		if (bpf_probe_read_user(&ia, sizeof(ia), (void *)(addrs + i * sizeof(ia))))
			break;
		__builtin_memset(ip, 0, sizeof(ip));
		if (ia.ip_len == 4) {
			bpf_probe_read_user(ip, 4, (void *)ia.ip);
			r->addrs[k].family = AF_INET;
		} else if (ia.ip_len == 16) {
			bpf_probe_read_user(ip, 16, (void *)ia.ip);
			if (v4_mapped(ip)) {
				__builtin_memmove(ip, ip + 12, 4);
				__builtin_memset(ip + 4, 0, 12);
				r->addrs[k].family = AF_INET;
			} else {
				r->addrs[k].family = AF_INET6;
			}
		} else {
			continue;
		}
		r->addrs[k].pad = 0;
		__builtin_memcpy(r->addrs[k].addr, ip, 16);
		k++;
	}
	for (int i = k; i < PT_DNS_MAX_ADDRS; i++)
		r->addrs[i & (PT_DNS_MAX_ADDRS - 1)].family = 0;
	r->naddr = k;
	pt_submit(r, false);
	return 0;
}

/*
 * runtime.newproc1(fn, callergp *g, callerpc, ...) *g runs on the system
 * stack (R14 is g0): the parent is callergp, the child the result at RET.
 * The attach cookie names callergp's register: 1 = RBX (Go >= 1.18),
 * 2 = RDI (1.17: fn, argp, narg, callergp).
 */
SEC("uprobe")
int go_newproc_entry(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 di = ctx->di, bx = ctx->bx;
	__u64 gp = bpf_get_attach_cookie(ctx) == 2 ? di : bx;
	__u32 tgid = id >> 32;
	__u64 parent;

	if (!bpf_map_lookup_elem(&go_procs, &tgid) || !pt_traced(tgid))
		return 0;
	stat_inc(PT_STAT_UPROBE_EVENTS);
	parent = go_key_of(gp);
	/* only goroutines that work for a request, or descend from one, matter */
	if (parent && (ctx_srv_req(parent) || bpf_map_lookup_elem(&go_parent, &parent))) {
		if (bpf_map_update_elem(&go_newproc, &id, &parent, BPF_ANY))
			stat_inc(PT_STAT_GO_FULL);
	} else {	/* never leave an older parent for this creation's child site */
		bpf_map_delete_elem(&go_newproc, &id);
	}
	return 0;
}

/* The new goroutine g was made on this thread: give it the parent newproc1 saw. */
static __always_inline int newproc_child(__u64 g)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 *parent = bpf_map_lookup_elem(&go_newproc, &id);
	__u64 child;

	if (!parent)
		return 0;
	stat_inc(PT_STAT_UPROBE_EVENTS);
	child = go_key_of(g);
	go_want_exit(id >> 32);
	flag_set_once(&go_parent_used);
	if (child && bpf_map_update_elem(&go_parent, &child, parent, BPF_ANY))
		stat_inc(PT_STAT_GO_FULL);
	bpf_map_delete_elem(&go_newproc, &id);
	return 0;
}

SEC("uprobe")
int go_newproc_ret(struct pt_regs *ctx)
{
	return newproc_child(ctx->ax);	/* newproc1's result */
}

/*
 * The same without newproc1's RET (a single-stepped probe): at the CALL of
 * runtime.runqput(pp, newg, next) in newproc's closure (RBX = the new g),
 * right after newproc1 returned on the same thread. A CALL is emulated.
 */
SEC("uprobe")
int go_newproc_runqput(struct pt_regs *ctx)
{
	return newproc_child(ctx->bx);	/* runqput(pp, newg, next) */
}

/*
 * Delete key from map if it is there. A hash map's delete takes the bucket's lock even
 * when the key is absent (and an LRU map's, when present, its free list's as well); a
 * lookup takes none: most ending goroutines have nothing in most of these tables.
 */
static __always_inline void delete_if_there(void *map, __u64 *key)
{
	if (bpf_map_lookup_elem(map, key))
		bpf_map_delete_elem(map, key);
}

/* runtime.goexit1: entered on the ending goroutine; never returns. */
SEC("uprobe")
int go_goexit_entry(struct pt_regs *ctx)
{
	struct thread_ctx *t;
	__u64 key, goid;
	bool spans_open;

	if (!go_key_at(ctx, &key, &goid, NULL))
		return 0;
	t = thread_lookup(key);
	spans_open = t && t->spans_active;
	if (t)
		thread_forget(key);
	if (go_gs_used)
		delete_if_there(&go_gs, &key);
	if (go_parent_used)
		delete_if_there(&go_parent, &key);
	if (go_writing_for_used)
		delete_if_there(&go_writing_for, &key);
	if (spans_open)		/* rare: a span entered and not left */
		spans_forget(key);
	return 0;
}

/*
 * Goroutine key's context t (may be NULL) goes: now, or, inside a crypto/tls call (the
 * peer reset the connection it waits on), when that call returns (thread_call_done()).
 * True if it went now.
 */
static __always_inline bool go_ctx_forget(__u64 key, struct thread_ctx *t)
{
	if (!t)
		return true;
	if (t->ssl_depth) {
		t->tls_scoped = 1;
		t->go_srv = 0;
		return false;
	}
	thread_forget(key);
	return true;
}

/*
 * The goroutine that served connection skp (c->srv_gkey, conn.bpf.c go_srv_request()) is
 * ending with it (net/http's conn.serve returns once it closes the connection): forget its
 * state here, so that a server whose goroutines keep no other state needs no goexit1 probe.
 * Not if it serves another connection now (that one's close forgets it). If the connection
 * closed under a call (a reset, or another goroutine's close: a client that gave up on a
 * slow page), the state becomes the call's: inside crypto/tls Read it goes when that call
 * returns, inside a render (or other span) or a Go lookup when the last of them ends
 * (inside a libc lookup it asks for goexit1). An h2
 * connection's frame reader (c->rd_gkey, tls.bpf.c) goes the same way.
 */
PT_SHARED void go_conn_closed(__u64 skp, struct pt_conn *c)
{
	__u64 key = c->srv_gkey;
	struct span_key sk = { .ctx = key, .idx = GO_SPAN_RENDER };
	struct thread_ctx *t;
	struct span_state *s;
	bool dns_open = false;
	struct go_g *gg;

	if (c->rd_gkey) {	/* an h2 frame reader: TLS Reads only */
		__u64 rd = c->rd_gkey;

		c->rd_gkey = 0;
		go_ctx_forget(rd, thread_lookup(rd));
	}
	if (!key)
		return;
	t = thread_lookup(key);
	c->srv_gkey = 0;
	if (t && t->srv_sk && t->srv_sk != skp)
		return;
	s = bpf_map_lookup_elem(&spans, &sk);
	if (s && !s->depth)
		bpf_map_delete_elem(&spans, &sk);
	else if (s)		/* rendering still: the render's end deletes it */
		s->drop_at_end = 1;
	gg = go_gs_used ? bpf_map_lookup_elem(&go_gs, &key) : NULL;
	if (gg && gg->dns_d)
		dns_open = true;	/* in lookupIPAddr: its return deletes the entry */
	else if (gg)			/* a lookup a panic never returned from */
		bpf_map_delete_elem(&go_gs, &key);
	if (t && t->dns_depth) {	/* a libc lookup's count: only goexit1 ends it */
		go_want_exit(key >> 32);
		return;
	}
	if (t && (t->spans_active || dns_open)) {
		/* the request still runs: its context stays for what is open, as a call's
		 * (thread_call_done(), go_dns_ret()) */
		t->tls_scoped = 1;
		t->go_srv = 0;
		return;
	}
	/* in crypto/tls Read, waiting for the next request, if the peer reset the connection */
	go_ctx_forget(key, t);
}

/* net/http.(*Transport).roundTrip(t, req *Request): on the sending goroutine */
SEC("uprobe")
int go_http_roundtrip_entry(struct pt_regs *ctx)
{
	__u64 key, goid, req;
	struct go_obj_key ok = {};

	if (!go_key_at(ctx, &key, &goid, NULL))
		return 0;
	req = ctx_srv_req(key);
	if (!req)
		req = go_inherited_req(key);
	ok.tgid = key >> 32;
	ok.ptr = ctx->bx;
	if (req) {
		if (bpf_map_update_elem(&go_req_owner, &ok, &req, BPF_ANY))
			stat_inc(PT_STAT_GO_FULL);
	} else {
		bpf_map_delete_elem(&go_req_owner, &ok);
	}
	return 0;
}

/* net/http.(*Request).write(r, w, ...): on the goroutine that writes it (writeLoop) */
SEC("uprobe")
int go_http_reqwrite_entry(struct pt_regs *ctx)
{
	__u64 key, goid, *owner;
	struct go_obj_key ok = {};

	if (!go_key_at(ctx, &key, &goid, NULL))
		return 0;
	ok.tgid = key >> 32;
	ok.ptr = ctx->ax;
	owner = bpf_map_lookup_elem(&go_req_owner, &ok);
	if (owner) {
		/* no goexit1 for it: the entry is written again at each request the writer
		 * sends, and an ended writer's (its connection closed) is never read again
		 * (goroutine ids are not reused): the LRU table drops it in time */
		flag_set_once(&go_writing_for_used);
		if (bpf_map_update_elem(&go_writing_for, &key, owner, BPF_ANY))
			stat_inc(PT_STAT_GO_FULL);
	} else if (go_writing_for_used && bpf_map_lookup_elem(&go_writing_for, &key)) {
		bpf_map_delete_elem(&go_writing_for, &key);
	}
	return 0;
}

PT_SHARED __u64 go_stw_ns(__u32 tgid)
{
	struct go_stw *w = bpf_map_lookup_elem(&go_stw, &tgid);

	if (!w)
		return 0;
	return w->total + (w->start ? bpf_ktime_get_ns() - w->start : 0);
}

/* A traced Go process's tgid; stop/startTheWorldWithSema run on g0 (no goroutine). */
static __always_inline __u32 go_traced_tgid(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	return bpf_map_lookup_elem(&go_procs, &tgid) && pt_traced(tgid) ? tgid : 0;
}

/* runtime.stopTheWorldWithSema: the world stops (a GC phase change, mostly) */
SEC("uprobe")
int go_stw_stop_entry(struct pt_regs *ctx)
{
	struct go_stw *w, zero = {};
	__u32 tgid = go_traced_tgid();

	if (!tgid)
		return 0;
	w = map_get_or_init(&go_stw, &tgid, &zero, PT_STAT_GO_FULL);
	if (!w)
		return 0;
	if (!w->start)
		w->start = bpf_ktime_get_ns();
	return 0;
}

/* runtime.startTheWorldWithSema: it runs again */
SEC("uprobe")
int go_stw_start_entry(struct pt_regs *ctx)
{
	__u32 tgid = go_traced_tgid();
	struct go_stw *w = tgid ? bpf_map_lookup_elem(&go_stw, &tgid) : NULL;

	if (w && w->start) {
		w->total += bpf_ktime_get_ns() - w->start;
		w->start = 0;
	}
	return 0;
}

/*
 * net/http.(*http2serverConn).runHandler(sc, rw, req, handler), on the handler goroutine
 * the serve goroutine started for one stream: the goroutine serves that stream, a request
 * whose id BPF gives here (userspace's stream record takes it, PT_H2_HANDLER), so that its
 * outbound calls, DNS and render carry it as parent like an HTTP/1 handler's. The stream id
 * is rw.rws.stream.id, the connection sc.conn (a net.Conn holding the *tls.Conn), offsets
 * in the cookie (PT_H2H_OFF). Entered twice after morestack: the second id wins. The
 * goroutine ends with its stream: the collector deletes its context then (GO_END_STREAM).
 */
SEC("uprobe")
int go_h2_handler_entry(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u64 key, goid, p = 0, tconn = 0;
	struct ssl_key sk = {};
	struct ssl_state *s;
	struct thread_ctx *t;
	struct pt_conn *c;
	__u32 sid = 0;

	if (!go_key_at(ctx, &key, &goid, NULL))
		return 0;
	/* the interface's data word: the *tls.Conn (a cleartext conn has no session) */
	if (bpf_probe_read_user(&tconn, sizeof(tconn),
				(void *)(ctx->ax + PT_H2H_OFF(cookie, 0) + 8)) ||
	    bpf_probe_read_user(&p, sizeof(p), (void *)(ctx->bx + PT_H2H_OFF(cookie, 1))) ||
	    bpf_probe_read_user(&p, sizeof(p), (void *)(p + PT_H2H_OFF(cookie, 2))) ||
	    bpf_probe_read_user(&sid, sizeof(sid), (void *)(p + PT_H2H_OFF(cookie, 3))))
		return 0;
	sk.tgid = key >> 32;
	sk.ssl = tconn;
	s = bpf_map_lookup_elem(&ssl_states, &sk);
	c = s && s->sk ? bpf_map_lookup_elem(&conns, &s->sk) : NULL;
	if (!c || !(c->cflags & PT_C_H2) || c->req.role != PT_ROLE_SERVER || !(sid & 1))
		return 0;
	t = thread_get_as(key, GO_END_STREAM);	/* no goexit1 for it */
	if (!t)
		return 0;
	t->srv_sk = s->sk;
	t->srv_req_id = next_id() | PT_ID_STREAM;
	t->srv_awaiting = 0;
	t->interleaved = 0;
	/* userspace forgets the goroutine with its stream, or at once if it cannot follow
	 * the stream (user/assemble/h2.c); unless it was never told: then at its end */
	if (!h2_handler_started(c, sid, t->srv_req_id, goid)) {
		t->go_stream = 0;
		thread_keep(key, t, GO_END_EXIT);
	}
	return 0;
}

/* text/template.(*Template).Parse: a template parsed while a request is served (diagnose's
 * template-parse-per-request) */
SEC("uprobe")
int go_tpl_parse_entry(struct pt_regs *ctx)
{
	struct pt_conn *c;
	__u64 key, goid;

	if (!go_key_at(ctx, &key, &goid, NULL))
		return 0;
	c = ctx_srv_conn(thread_lookup(key));
	if (c)
		c->req.tpl_parses++;
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
