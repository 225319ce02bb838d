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

/* The first buffer of a read/write-family syscall from its second argument. */
static __always_inline const void *buffer_of(long nr, const void *p)
{
	struct iovec_ iov;
	struct msghdr_ mh;

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

/*
 * The user buffer of the syscall we are in, from its saved registers
 * (bpf_task_pt_regs, 5.15+). Only used on the first bytes of a request or
 * response, to read the HTTP request or status line.
 */
static __always_inline const void *syscall_buffer(void)
{
	struct pt_regs *regs;

	if (!has_task_pt_regs)
		return NULL;
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	if (!regs)
		return NULL;
	return buffer_of(SYSCALL_NR(regs), (const void *)SYSCALL_ARG2(regs));
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

/* buf: the syscall's buffer when the caller knows it, else found lazily */
static __always_inline int handle_io(struct sock *sk, int ret, int flags, int dir,
				     const void *buf, bool have_buf)
{
	__u64 skp = (__u64)sk;
	__u64 ts, id, goid;
	struct pt_conn *c;
	struct thread_ctx *t;
	bool started_req, started_resp;
	__u16 family;

	if (ret <= 0 || (flags & MSG_PEEK))
		return 0;
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	c = conn_for_io(skp, sk, dir);
	if (!c)
		return 0;
	ts = bpf_ktime_get_ns();
	stat_inc(PT_STAT_IO_EVENTS);

	id = exec_key_goid(&goid);
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
		else
			t->ssl_ksend_last = ts;
		tls_map_session(t->ssl, skp, c, t);
		return 0;
	}
	if (c->cflags & PT_C_TLS)
		return 0;	/* payload is accounted by the TLS probes */

	conn_io(skp, c, id, goid, dir, ts, ret, &started_req, &started_resp);
	if (!started_req && !started_resp)
		return 0;
	if (!have_buf)
		buf = syscall_buffer();
	if (started_req)
		http_parse_request(&c->req, buf, ret);
	else
		http_parse_status(&c->req, buf, ret);
	return 0;
}

/* Linux 6.3+: one hit per socket I/O, socket and length in hand. */
SEC("?tp_btf/sock_send_length")
int BPF_PROG(sock_send_length_btf, struct sock *sk, int ret, int flags)
{
	return handle_io(sk, ret, flags, PT_DIR_SEND, NULL, false);
}

SEC("?tp_btf/sock_recv_length")
int BPF_PROG(sock_recv_length_btf, struct sock *sk, int ret, int flags)
{
	return handle_io(sk, ret, flags, PT_DIR_RECV, NULL, false);
}

/*
 * Older kernels: syscall enter/exit pairs. The enter side keeps only TCP
 * sockets (file -> socket -> sock, via CO-RE), so reads of files and pipes
 * cost a few loads and no map update.
 */
struct sys_io {
	__u64 sk;
	__u64 buf;
	__u32 flags;
	__u32 dir;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);	/* pid_tgid */
	__type(value, struct sys_io);
} sys_io SEC(".maps") __weak;

#define S_IFMT_		00170000
#define S_IFSOCK_	0140000

static __always_inline struct sock *fd_to_tcp_sock(long fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct file **fds, *f = NULL;
	struct socket *sock;
	struct sock *sk;

	if (fd < 0 || fd > 1 << 20)
		return NULL;
	fds = BPF_CORE_READ(task, files, fdt, fd);
	if (!fds || bpf_core_read(&f, sizeof(f), &fds[fd]) || !f)
		return NULL;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT_) != S_IFSOCK_)
		return NULL;
	sock = BPF_CORE_READ(f, private_data);
	sk = sock ? BPF_CORE_READ(sock, sk) : NULL;
	if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return NULL;
	return sk;
}

static __always_inline int sys_enter_io(struct trace_event_raw_sys_enter *ctx, int dir, long nr,
					 int flags)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct sys_io io = {};
	struct sock *sk;

	if (!pt_traced(id >> 32))
		return 0;
	sk = fd_to_tcp_sock(ctx->args[0]);
	if (!sk)
		return 0;
	io.sk = (__u64)sk;
	io.buf = (__u64)buffer_of(nr, (const void *)ctx->args[1]);
	io.flags = flags;
	io.dir = dir;
	bpf_map_update_elem(&sys_io, &id, &io, BPF_ANY);
	return 0;
}

static __always_inline int sys_exit_io(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct sys_io *io = bpf_map_lookup_elem(&sys_io, &id);
	struct sys_io v;

	if (!io)
		return 0;
	v = *io;
	bpf_map_delete_elem(&sys_io, &id);
	return handle_io((struct sock *)v.sk, ctx->ret, v.flags, v.dir, (const void *)v.buf, true);
}

#define SYS_IO(name, dir, flagsarg)							\
SEC("?tracepoint/syscalls/sys_enter_" #name)						\
int sys_enter_##name##_io(struct trace_event_raw_sys_enter *ctx)			\
{											\
	return sys_enter_io(ctx, dir, NR_##name, flagsarg);				\
}											\
SEC("?tracepoint/syscalls/sys_exit_" #name)						\
int sys_exit_##name##_io(struct trace_event_raw_sys_exit *ctx)				\
{											\
	return sys_exit_io(ctx);							\
}

SYS_IO(read, PT_DIR_RECV, 0)
SYS_IO(readv, PT_DIR_RECV, 0)
SYS_IO(recvfrom, PT_DIR_RECV, (int)ctx->args[3])
SYS_IO(recvmsg, PT_DIR_RECV, (int)ctx->args[2])
SYS_IO(write, PT_DIR_SEND, 0)
SYS_IO(writev, PT_DIR_SEND, 0)
SYS_IO(sendto, PT_DIR_SEND, 0)
SYS_IO(sendmsg, PT_DIR_SEND, 0)

char LICENSE[] SEC("license") = "Dual BSD/GPL";
