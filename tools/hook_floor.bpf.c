// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tools/bench -z: programs on the socket tracepoints phasetrace hooks on Linux 6.3+,
 * without phasetrace's own work. Two sets, one loaded at a time (hook_floor.c):
 *
 *  - empty (floor_*): a server pays the kernel's tracepoint dispatch and the program
 *    call, nothing more: the floor under "hooks alone" (the tracer with every process
 *    filtered out) and under the traced rounds.
 *  - work (work_*, hook_floor -w): the kernel work a keep-alive request's metrics
 *    cannot do without, on the same hooks, and nothing else: each send's start stamp
 *    (socket storage and one clock read), one connection lookup per I/O, TCP's clock
 *    at each I/O's end, the status line's user-memory read (a server's send, a
 *    client's receive: from the registers of the syscall), and at each request's end
 *    one per-CPU histogram entry with its four bucket searches and adds (the request
 *    and three phases). No filter, no thread context, no request state machine, no
 *    eligibility checks, no counters: what is left between this and the tracer is the
 *    tracer's own bookkeeping. Its figures are no phase's (it keeps no request id
 *    nor error): they are only for what they cost.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "phasetrace.h"
#include "agg_bucket.h"

#define IPPROTO_TCP	6
#define AF_INET		2
#define AF_INET6	10
#define MSG_PEEK	2
#define DIR_SEND	1
#define DIR_RECV	2
#define NR_READ		0	/* x86-64 */
#define NR_RECVFROM	45

SEC("?tp_btf/sock_send_length")
int BPF_PROG(floor_send, struct sock *sk, int ret, int flags)
{
	return 0;
}

SEC("?tp_btf/sock_recv_length")
int BPF_PROG(floor_recv, struct sock *sk, int ret, int flags)
{
	return 0;
}

SEC("?tp_btf/tcp_sendmsg_locked")
int BPF_PROG(floor_sendmsg, struct sock *sk, struct msghdr *msg)
{
	return 0;
}

/* ---- the work floor ---- */

struct work_start {
	__u64 ts;
	__u64 buf;
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct work_start);
} work_starts SEC(".maps");

struct work_conn {
	__u64 req_first, req_last, resp_first, resp_last;
	__u16 status;
	__u8 server;
	__u8 last_dir;		/* DIR_SEND, DIR_RECV */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct work_conn);
} work_conns SEC(".maps");

struct work_entry {
	struct pt_kagg_hist req;
	struct pt_kagg_hist ph[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 512);
	__type(key, __u64);
	__type(value, struct work_entry);
} work_hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct work_entry);
} work_zero SEC(".maps");

/* the histogram bounds, set by hook_floor.c to phasetrace's defaults as its loader sets
 * kagg_bounds (kagg_pad_bounds()) */
const volatile __u64 work_bounds[PT_KAGG_MAX_BOUNDS] = {};
const volatile __u32 work_nbounds = 0;

static __always_inline void work_add(struct pt_kagg_hist *h, __u64 v)
{
	__u32 b = kagg_bucket(work_bounds, v, work_nbounds);

	if (b > PT_KAGG_MAX_BOUNDS)
		b = PT_KAGG_MAX_BOUNDS;
	h->le[b]++;
	h->sum += v;
}

static __always_inline __u64 clamp(__u64 a, __u64 b)
{
	return b > a && b - a < KAGG_BOUND_CAP ? b - a : 0;
}

/* the request on c ended: its histograms, as kagg_request() adds them */
static __noinline int work_count(struct work_conn *c)
{
	__u64 key = kagg_status_class(c->status) | (__u64)c->server << 8;
	struct work_entry *e = bpf_map_lookup_elem(&work_hist, &key);
	__u32 zero = 0;

	if (!e) {
		void *z = bpf_map_lookup_elem(&work_zero, &zero);

		if (!z)
			return 0;
		bpf_map_update_elem(&work_hist, &key, z, BPF_NOEXIST);
		e = bpf_map_lookup_elem(&work_hist, &key);
		if (!e)
			return 0;
	}
	if (c->server) {
		work_add(&e->req, clamp(c->req_first, c->resp_last));
		work_add(&e->ph[0], clamp(c->req_first, c->resp_first));
		work_add(&e->ph[1], clamp(c->resp_first, c->resp_last));
		work_add(&e->ph[2], clamp(c->req_first, c->req_last));
	} else {
		work_add(&e->req, clamp(c->req_first, c->resp_last));
		work_add(&e->ph[0], clamp(c->req_first, c->req_last));
		work_add(&e->ph[1], clamp(c->req_last, c->resp_first));
		work_add(&e->ph[2], clamp(c->resp_first, c->resp_last));
	}
	return 0;
}

/* "HTTP/1.x NNN ": the status, 0 if not one */
static __always_inline __u16 work_status(__u64 ubuf, int len)
{
	char b[13];

	if (!ubuf || len < 13 || bpf_probe_read_user(b, 13, (const void *)ubuf))
		return 0;
	if (b[0] != 'H' || b[4] != '/' || b[8] != ' ' || b[9] < '1' || b[9] > '5')
		return 0;
	return (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
}

/* the receive's buffer: read(2) and recvfrom(2) only (wrk and nginx use them) */
static __always_inline __u64 work_recv_buffer(void)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());

	if (!regs || (regs->orig_ax != NR_READ && regs->orig_ax != NR_RECVFROM))
		return 0;
	return regs->si;
}

static __always_inline int work_io(struct sock *sk, int ret, int flags, __u8 dir)
{
	__u64 skp = (__u64)sk, start = 0, buf = 0, now = 0;
	struct work_conn *c;
	struct tcp_sock *tp;
	bool request;

	if (dir == DIR_SEND) {
		struct work_start *s = bpf_sk_storage_get(&work_starts, sk, 0, 0);

		if (s) {
			start = s->ts;
			buf = s->buf;
			s->ts = 0;
		}
	}
	if (ret <= 0 || (flags & MSG_PEEK) || sk->sk_protocol != IPPROTO_TCP ||
	    (sk->__sk_common.skc_family != AF_INET && sk->__sk_common.skc_family != AF_INET6))
		return 0;
	tp = bpf_skc_to_tcp_sock(sk);
	if (tp && tp->tcp_clock_cache >= start)
		now = tp->tcp_clock_cache;
	if (!now)
		now = bpf_ktime_get_ns();
	c = bpf_map_lookup_elem(&work_conns, &skp);
	if (!c) {
		struct work_conn n = { .server = dir == DIR_RECV, .last_dir = dir };

		n.req_first = n.req_last = start ? start : now;
		bpf_map_update_elem(&work_conns, &skp, &n, BPF_ANY);
		bpf_sk_storage_get(&work_starts, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		return 0;
	}
	/* the requester's I/O: a client's send, a server's receive */
	request = (dir == DIR_SEND) != c->server;
	if (dir != c->last_dir) {
		c->last_dir = dir;
		if (request) {
			if (c->resp_first)
				work_count(c);
			c->req_first = start ? start : now;
			c->resp_first = 0;
			c->status = 0;
		} else {
			c->resp_first = start ? start : now;
			c->status = work_status(dir == DIR_SEND ? buf : work_recv_buffer(), ret);
		}
	}
	if (request)
		c->req_last = now;
	else
		c->resp_last = now;
	return 0;
}

SEC("?tp_btf/sock_send_length")
int BPF_PROG(work_send, struct sock *sk, int ret, int flags)
{
	return work_io(sk, ret, flags, DIR_SEND);
}

SEC("?tp_btf/sock_recv_length")
int BPF_PROG(work_recv, struct sock *sk, int ret, int flags)
{
	return work_io(sk, ret, flags, DIR_RECV);
}

SEC("?tp_btf/tcp_sendmsg_locked")
int BPF_PROG(work_sendmsg, struct sock *sk, struct msghdr *msg)
{
	struct work_start *s = bpf_sk_storage_get(&work_starts, sk, 0, 0);

	if (s && !s->ts) {
		__u8 type = msg->msg_iter.iter_type;

		s->ts = bpf_ktime_get_ns();
		s->buf = type == ITER_UBUF ? (__u64)msg->msg_iter.ubuf :
			 type == ITER_IOVEC ? (__u64)msg->msg_iter.__iov->iov_base : 0;
	}
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
