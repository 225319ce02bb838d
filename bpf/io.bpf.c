// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Socket payload I/O: sock:sock_send_length / sock:sock_recv_length fire once
 * per sendmsg/recvmsg on a socket (write, send*, writev, read, recv*, readv all
 * pass there) and carry the socket and the byte count: one hook hit per I/O.
 *
 * Inside a TLS library call (thread context says so) the bytes are TLS
 * records: they map the TLS session to this socket and stay out of the
 * request; the library's own read/write probes drive the request instead.
 */
#include "conn.bpf.h"
#include "http.bpf.h"
#include "tls.bpf.h"

/* Syscall numbers whose second argument is the buffer (or iovec / msghdr). */
#if defined(__TARGET_ARCH_x86)
#define NR_read		0
#define NR_write	1
#define NR_readv	19
#define NR_writev	20
#define NR_sendto	44
#define NR_recvfrom	45
#define NR_sendmsg	46
#define NR_recvmsg	47
#define SYSCALL_NR(r)	BPF_CORE_READ(r, orig_ax)
#define SYSCALL_ARG2(r)	BPF_CORE_READ(r, si)
#elif defined(__TARGET_ARCH_arm64)
#define NR_read		63
#define NR_write	64
#define NR_readv	65
#define NR_writev	66
#define NR_sendto	206
#define NR_recvfrom	207
#define NR_sendmsg	211
#define NR_recvmsg	212
#define SYSCALL_NR(r)	BPF_CORE_READ(r, syscallno)
#define SYSCALL_ARG2(r)	BPF_CORE_READ(r, regs[1])
#else
#error "unsupported architecture"
#endif

struct iovec_ {
	void *base;
	__u64 len;
};

struct msghdr_ {
	void *name;
	__u32 namelen;
	struct iovec_ *iov;
	__u64 iovlen;
};

/*
 * The user buffer of the syscall we are in, from its saved registers
 * (bpf_task_pt_regs, 5.15+). Only used on the first bytes of a request or
 * response, to read the HTTP request or status line.
 */
static __always_inline const void *syscall_buffer(void)
{
	struct pt_regs *regs;
	const void *p;
	struct iovec_ iov;
	struct msghdr_ mh;
	long nr;

	if (!has_task_pt_regs)
		return NULL;
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	if (!regs)
		return NULL;
	nr = SYSCALL_NR(regs);
	p = (const void *)SYSCALL_ARG2(regs);
	switch (nr) {
	case NR_read: case NR_write: case NR_sendto: case NR_recvfrom:
		return p;
	case NR_readv: case NR_writev:
		if (bpf_probe_read_user(&iov, sizeof(iov), p))
			return NULL;
		return iov.base;
	case NR_sendmsg: case NR_recvmsg:
		if (bpf_probe_read_user(&mh, sizeof(mh), p) ||
		    bpf_probe_read_user(&iov, sizeof(iov), mh.iov))
			return NULL;
		return iov.base;
	}
	return NULL;
}

/* Look up, or adopt, the connection of sk for the current process. */
static __always_inline struct pt_conn *conn_for_io(__u64 skp, struct sock *sk, int dir)
{
	struct pt_conn *c = bpf_map_lookup_elem(&conns, &skp);
	__u32 tgid;

	if (c) {
		if (c->cflags & PT_C_IGNORED)
			return NULL;
		if (c->cflags & PT_C_OWNED)
			return c;
		/* accepted connection: its owner is whoever does I/O first */
		tgid = bpf_get_current_pid_tgid() >> 32;
		if (!pt_traced(tgid)) {
			c->cflags |= PT_C_IGNORED;
			return NULL;
		}
		conn_own(c);
		return c;
	}
	tgid = bpf_get_current_pid_tgid() >> 32;
	if (!pt_traced(tgid))
		return NULL;
	/* a connection older than us: guess the role from who speaks first */
	c = conn_create(skp, sk, dir == PT_DIR_SEND ? PT_ROLE_CLIENT : PT_ROLE_SERVER,
			PT_C_MIDSTREAM);
	if (c)
		conn_own(c);
	return c;
}

static __always_inline int handle_io(struct sock *sk, int ret, int flags, int dir)
{
	__u64 skp = (__u64)sk;
	__u64 ts, id;
	struct pt_conn *c;
	struct thread_ctx *t;
	bool started_req, started_resp;

	if (ret <= 0 || (flags & MSG_PEEK))
		return 0;
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	if (sk->__sk_common.skc_family != AF_INET && sk->__sk_common.skc_family != AF_INET6)
		return 0;
	c = conn_for_io(skp, sk, dir);
	if (!c)
		return 0;
	ts = bpf_ktime_get_ns();
	stat_inc(PT_STAT_IO_EVENTS);

	id = exec_key();
	t = thread_lookup(id);
	if (t && t->wr_enter && dir == PT_DIR_SEND) {
		/* a span is running: account the time this write blocked */
		t->io_total += ts - t->wr_enter;
		t->wr_enter = 0;
	}
	if (t && t->ssl_depth) {
		/* TLS records: remember which socket this session uses */
		c->cflags |= PT_C_TLS;
		c->req.flags |= PT_F_TLS;
		c->req.tls_lib = t->ssl_lib;
		c->ssl = t->ssl;
		if (dir == PT_DIR_RECV)
			t->ssl_krecv_last = ts;
		tls_map_session(t->ssl, skp, c);
		return 0;
	}
	if (c->cflags & PT_C_TLS)
		return 0;	/* payload is accounted by the TLS probes */

	conn_io(skp, c, dir, ts, ret, &started_req, &started_resp);
	if (started_req)
		http_parse_request(&c->req, syscall_buffer(), ret);
	else if (started_resp)
		http_parse_status(&c->req, syscall_buffer(), ret);
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(sock_send_length_btf, struct sock *sk, int ret, int flags)
{
	return handle_io(sk, ret, flags, PT_DIR_SEND);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(sock_recv_length_btf, struct sock *sk, int ret, int flags)
{
	return handle_io(sk, ret, flags, PT_DIR_RECV);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
