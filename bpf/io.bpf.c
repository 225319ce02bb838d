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
#include "thread.bpf.h"
#include "http.bpf.h"
#include "tls.bpf.h"
#include "h2.bpf.h"
#include "probe_list.h"

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
#define SYSCALL_NR_BTF(r)	((r)->orig_ax)
#define SYSCALL_ARG2_BTF(r)	((r)->si)
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
#define SYSCALL_NR_BTF(r)	((r)->syscallno)
#define SYSCALL_ARG2_BTF(r)	((r)->regs[1])
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
 * response, to read the HTTP request or status line; only from the socket
 * tracepoints (tp_btf), where the registers are a BTF pointer: plain loads.
 */
static __always_inline const void *syscall_buffer(void)
{
	struct pt_regs *regs;

	if (!has_task_pt_regs)
		return NULL;
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	if (!regs)
		return NULL;
	return buffer_of(SYSCALL_NR_BTF(regs), (const void *)SYSCALL_ARG2_BTF(regs));
}

#if defined(__TARGET_ARCH_x86)
#define SYSCALL_ARG3(r)	BPF_CORE_READ(r, dx)
#else
#define SYSCALL_ARG3(r)	BPF_CORE_READ(r, regs[2])
#endif

/*
 * HTTP/2 needs every byte of the I/O, not only the first buffer's: the iovec
 * array of a vectored syscall (nginx writes frames with writev), from the saved
 * user registers, which hold the arguments at syscall exit too. Without
 * bpf_task_pt_regs (before 5.15) only the syscall fallback's first buffer is
 * known: vectored h2c writes then lose the frame boundaries.
 */
static __always_inline bool h2_io_sock(__u64 skp, struct pt_conn *c, const struct conn_io_ev *ev,
				       const void *buf, bool have_buf)
{
	struct h2_buf hb = { .buf = buf };
	struct pt_regs *regs;
	struct msghdr_ mh;
	const void *p;
	long nr;

	if (!has_task_pt_regs)
		return h2_io(skp, c, ev, &hb);
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	if (!regs)
		return h2_io(skp, c, ev, &hb);
	nr = SYSCALL_NR(regs);
	p = (const void *)SYSCALL_ARG2(regs);
	if (nr == NR_readv || nr == NR_writev) {
		hb.iov = p;
		hb.niov = SYSCALL_ARG3(regs);
	} else if (nr == NR_sendmsg || nr == NR_recvmsg) {
		if (!bpf_probe_read_user(&mh, sizeof(mh), p)) {
			hb.iov = mh.iov;
			hb.niov = mh.iovlen;
		}
	} else {
		hb.buf = buffer_of(nr, p);
	}
	return h2_io(skp, c, ev, &hb);
}

/*
 * The connection of sk for the current process: its entry, or a new one if the
 * process is traced. An accepted socket (marked by tcp.bpf.c) becomes a server
 * connection owned by whoever does I/O on it first; a socket we never saw
 * connect or be accepted predates us: its role is guessed from who speaks first.
 * sock_hook: called from a socket tracepoint (sk a BTF pointer), where a new
 * connection gets its send_starts storage, zeroed.
 */
static __always_inline struct pt_conn *conn_for_io(__u64 skp, struct sock *sk, int dir,
						   bool sock_hook)
{
	struct pt_conn *c = bpf_map_lookup_elem(&conns, &skp);
	__u8 role, cflags = 0;

	if (c)
		return c;
	if (!pt_traced(bpf_get_current_pid_tgid() >> 32))
		return NULL;
	/* closed under the I/O (a reset while a send ran): its entry is gone for good */
	if (BPF_CORE_READ(sk, __sk_common.skc_state) == TCP_CLOSE_)
		return NULL;
	if (bpf_map_lookup_elem(&accepted, &skp)) {
		bpf_map_delete_elem(&accepted, &skp);
		role = PT_ROLE_SERVER;
	} else {
		role = dir == PT_DIR_SEND ? PT_ROLE_CLIENT : PT_ROLE_SERVER;
		cflags = PT_C_MIDSTREAM;
	}
	c = conn_create(skp, sk, role, cflags);
	if (!c)
		return NULL;
	conn_own(c);
	if (sock_hook)
		send_start_init(sk);
	return c;
}

/* The stamp tcp_sendmsg_locked left on sk (0: none), taken: the next send stamps anew.
 * *buf (if buf): where the send's bytes began in user memory, NULL if unknown. */
static __always_inline __u64 send_start_take(struct sock *sk, const void **buf)
{
	struct send_start *s = bpf_sk_storage_get(&send_starts, sk, 0, 0);
	__u64 v;

	if (!s)
		return 0;
	v = s->ts;
	if (buf)
		*buf = v ? (const void *)s->buf : NULL;
	s->ts = 0;
	return v;
}

/* An I/O that moved no payload (failed, empty, or MSG_PEEK). */
static __always_inline bool moved_nothing(int ret, int flags)
{
	return ret <= 0 || (flags & MSG_PEEK);
}

/*
 * CLOCK_MONOTONIC as TCP itself last read it for sk (tcp_sock.tcp_clock_cache, which
 * tcp_mstamp_refresh() moves forward to ktime_get_ns(), the clock bpf_ktime_get_ns()
 * reads), 0 if unknown. Reading it is a load where a clock read is ~30 ns (an rdtsc and
 * the timekeeper's arithmetic): four of a keep-alive request's six, each side's send
 * end and receive.
 *  - A send that tcp_sendmsg_locked stamped at start: TCP transmits at the end of the
 *    send (tcp_push -> tcp_write_xmit, which refreshes the cache first); a value at or
 *    after the start was read during this send. An autocorked or corked send transmits
 *    nothing: the value is older than the start, and the clock is read.
 *  - A receive with payload through tcp_recvmsg_locked(): it refreshes the cache
 *    after each copy to the user (tcp_rcv_space_adjust()), so the value is when the
 *    last byte was copied. Every TCP receive of payload goes there but the error
 *    queue's and urgent data (MSG_ERRQUEUE, MSG_OOB), and those of a socket whose
 *    protocol was replaced: by an upper-layer protocol (kTLS, icsk_ulp_ops) or by a
 *    sockmap (its psock in sk_user_data). (Not by comparing sk_prot with tcp_prot:
 *    data symbols are in kallsyms only with CONFIG_KALLSYMS_ALL, and their
 *    addresses need CAP_SYSLOG, which phasetrace drops.)
 */
static __always_inline __u64 tcp_clock_seen(struct sock *sk, int dir, int flags, __u64 start)
{
	struct tcp_sock *tp;

	if (!bpf_core_field_exists(struct tcp_sock, tcp_clock_cache))
		return 0;
	if (dir == PT_DIR_SEND ? !start : (flags & (MSG_ERRQUEUE | MSG_OOB)) != 0)
		return 0;
	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return 0;
	if (dir == PT_DIR_RECV && (tp->inet_conn.icsk_ulp_ops || sk->sk_user_data))
		return 0;
	if (tp->tcp_clock_cache < start)
		return 0;
	return tp->tcp_clock_cache;
}

/*
 * The first byte of a send moved when the send began, not when it returned: a
 * sender woken late after waking its reader (two busy CPUs) would otherwise
 * stamp its first response byte after the client had read it. start: the
 * syscall's entry, or tcp_sendmsg_locked's stamp, 0 if neither is known.
 * sk (a BTF pointer, from a socket tracepoint) and flags: the clock TCP read during
 * the I/O is taken when known to be the I/O's (tcp_clock_seen()); NULL: read it.
 */
static __always_inline void io_times(struct conn_io_ev *ev, __u64 start, struct sock *sk,
				     int flags)
{
	__u64 seen = sk ? tcp_clock_seen(sk, ev->dir, flags, start) : 0;

	ev->ts = seen ? seen : bpf_ktime_get_ns();
	ev->ts_first = ev->ts;
	if (ev->dir == PT_DIR_SEND && start && start <= ev->ts)
		ev->ts_first = start;
}

/*
 * Socket I/O outside TLS calls: ciphertext of a memory-BIO session (Node.js),
 * recognised by a connection's first bytes being a TLS handshake record; or, when no
 * session of the process made or took them, TLS that no probed library runs (a proxy
 * relaying a CONNECT tunnel, Java, rustls): no requests there (conn_tls_opaque()).
 */
static __always_inline bool bio_io(__u64 skp, struct pt_conn *c, struct thread_ctx *t,
				   const struct conn_io_ev *ev, const void *buf, bool have_buf)
{
	/* a client's CONNECT tunnel, open (or its answer not seen whole): its first send
	 * may be the hello of a memory-BIO session (node's proxy agents, asyncio) */
	bool tunnel = c->req.role == PT_ROLE_CLIENT && ev->dir == PT_DIR_SEND &&
		      (c->state == PT_FSM_TUNNEL ||
		       (c->state == PT_FSM_RESP && conn_is_connect(c)));
	__u8 h[2] = {};

	if (c->cflags & PT_C_TLS)
		return t && tls_bio_io(skp, c, t, ev, false);
	if (!tunnel &&
	    (c->state != PT_FSM_IDLE || c->nreq > 1 || c->req.bytes_req || c->req.bytes_resp))
		return false;
	if (!have_buf)
		buf = syscall_buffer();
	if (!buf || bpf_probe_read_user(h, sizeof(h), buf) || h[0] != 0x16 || h[1] != 0x03)
		return false;
	if (!t)		/* a server thread's first TLS bytes come before any call */
		t = thread_get(ev->key);
	if (tunnel) {
		/* the session the thread's last call made: HTTP again inside; else the
		 * tunnel carries what we cannot read (it stays one) */
		if (!t || !t->bio_ssl)
			return false;
		conn_tunnel_tls(skp, c, ev->ts);
	}
	if (!t || !tls_bio_io(skp, c, t, ev, true))
		conn_tls_opaque(c);	/* a hello no probed library made: a relay's */
	return true;
}

/*
 * One payload I/O of ret > 0 bytes on the TCP socket sk (IPv4/IPv6, checked by
 * the caller). buf: the syscall's buffer when the caller knows it, else found
 * lazily; start: when a send syscall began, 0 if unknown; sock_hook: from a
 * socket tracepoint (sk a BTF pointer, flags the I/O's), where a send takes
 * tcp_sendmsg_locked's stamp as its start and the I/O's time may be TCP's own.
 */
static __always_inline int handle_io(struct sock *sk, int ret, int dir, const void *buf,
				     bool have_buf, __u64 start, bool sock_hook, int flags)
{
	__u64 skp = (__u64)sk;
	struct conn_io_ev ev;
	struct pt_conn *c;
	struct thread_ctx *t;
	int started;

	c = conn_for_io(skp, sk, dir, sock_hook);
	if (!c)
		return 0;
	ev.n = ret;
	ev.dir = dir;
	if (sock_hook && has_send_start && dir == PT_DIR_SEND) {
		const void *sbuf = NULL;

		start = send_start_take(sk, &sbuf);
		if (sbuf) {	/* the buffer without the syscall's registers */
			buf = sbuf;
			have_buf = true;
		}
	}
	io_times(&ev, start, sock_hook ? sk : NULL, flags);
	stat_inc_hot(PT_STAT_IO_EVENTS);

	ev.key = exec_key_conn(c, &ev.goid);
	t = thread_lookup(ev.key);
	if (t && t->wr_enter && dir == PT_DIR_SEND) {
		/* a span is running: account the time this write blocked */
		t->io_total += ev.ts - t->wr_enter;
		t->wr_enter = 0;
	}
	if (t && t->ssl_depth) {
		/* TLS records: remember which socket this session uses */
		conn_tls_starts(skp, c, ev.ts);
		c->cflags |= PT_C_TLS;
		c->req.flags |= PT_F_TLS;
		c->req.tls_lib = t->ssl_lib;
		c->ssl = t->ssl;
		/* a Go server handshake's goroutine serves the connection (tls.bpf.c) */
		if (t->go_srv && !c->srv_gkey && c->req.role == PT_ROLE_SERVER &&
		    KEY_IS_GO(ev.key))
			c->srv_gkey = ev.key;
		if (dir == PT_DIR_RECV)
			t->ssl_krecv_last = ev.ts;
		else
			t->ssl_ksend_last = ev.ts;
		if (dir == PT_DIR_SEND && !t->ssl_ksend_first)
			t->ssl_ksend_first = ev.ts_first;
		tls_map_session(t->ssl, skp, c, t, c->req.role != PT_ROLE_SERVER ? 0 :
				dir == PT_DIR_RECV ? ev.ts : TLS_SRV_SENT);
		return 0;
	}
	if (bio_io(skp, c, t, &ev, buf, have_buf))
		return 0;
	if (c->cflags & PT_C_TLS)
		return 0;	/* payload is accounted by the TLS probes */

	if (h2_wants(c) && h2_io_sock(skp, c, &ev, buf, have_buf))
		return 0;
	if (conn_response_starts(c, dir)) {
		conn_response_io(skp, c, &ev, t, have_buf ? buf : syscall_buffer(), true);
		return 0;
	}
	started = conn_io_thread(skp, c, &ev, t);
	if (started != PT_IO_STARTED_REQ || !conn_wants_request_line(c))
		return 0;
	conn_request_line(c, have_buf ? buf : syscall_buffer(), ret);
	return 0;
}

/*
 * The socket hooks' filter: bytes moved on a TCP/IP socket. sk is a trusted
 * BTF pointer here: plain loads, no probe-read helper calls.
 */
static __always_inline int sock_io_btf(struct sock *sk, int ret, int flags, int dir)
{
	__u16 family;

	if (moved_nothing(ret, flags)) {
		if (dir == PT_DIR_SEND && has_send_start)
			send_start_take(sk, NULL);	/* it moved nothing: the stamp is stale */
		return 0;
	}
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	family = sk->__sk_common.skc_family;
	if (family != AF_INET && family != AF_INET6)
		return 0;
	/* With a filter, most sockets are the untraced processes': one without send_starts
	 * storage has no connection entry, and the filter runs before the conns lookup (a
	 * hash miss costs more than the filter: its bucket is rarely in cache). */
	if (has_send_start && pt_filtering() && !bpf_sk_storage_get(&send_starts, sk, 0, 0) &&
	    !pt_traced(bpf_get_current_pid_tgid() >> 32))
		return 0;
	return handle_io(sk, ret, dir, NULL, false, 0, true, flags);
}

/* Linux 6.3+: one hit per socket I/O, socket and length in hand. */
SEC("?tp_btf/sock_send_length")
int BPF_PROG(sock_send_length_btf, struct sock *sk, int ret, int flags)
{
	return sock_io_btf(sk, ret, flags, PT_DIR_SEND);
}

/*
 * Where the bytes msg still has to send begin, if in user memory (a write or send:
 * ITER_UBUF; writev or sendmsg: ITER_IOVEC, the iovec array copied into the kernel)
 * and at the start of a buffer (not after bytes a TCP Fast Open SYN took), else NULL.
 * msg is a BTF pointer: plain loads, no user memory read.
 */
static __always_inline const void *msg_user_bytes(const struct msghdr *msg)
{
	const struct iov_iter *it = &msg->msg_iter;
	__u8 type;

	if (!bpf_core_field_exists(it->iter_type) || !bpf_core_field_exists(it->ubuf) ||
	    !bpf_core_field_exists(it->__iov) ||
	    !bpf_core_enum_value_exists(enum iter_type, ITER_UBUF) ||
	    !bpf_core_enum_value_exists(enum iter_type, ITER_IOVEC))
		return NULL;
	if (it->iov_offset)
		return NULL;
	type = it->iter_type;
	if (type == bpf_core_enum_value(enum iter_type, ITER_UBUF))
		return it->ubuf;
	if (type == bpf_core_enum_value(enum iter_type, ITER_IOVEC))
		return it->__iov->iov_base;
	return NULL;
}

/* A TCP send is about to queue bytes (each chunk; the first one counts: msg has moved
 * nothing yet, and its bytes begin where the syscall's first buffer does). Sockets with
 * a connection entry have send_starts storage: found without a hash lookup. */
SEC("?tp_btf/tcp_sendmsg_locked")
int BPF_PROG(tcp_sendmsg_locked_btf, struct sock *sk, struct msghdr *msg)
{
	struct send_start *s = bpf_sk_storage_get(&send_starts, sk, 0, 0);

	if (s && !s->ts) {
		s->ts = bpf_ktime_get_ns();
		s->buf = (__u64)msg_user_bytes(msg);
	}
	return 0;
}

SEC("?tp_btf/sock_recv_length")
int BPF_PROG(sock_recv_length_btf, struct sock *sk, int ret, int flags)
{
	return sock_io_btf(sk, ret, flags, PT_DIR_RECV);
}

/*
 * Older kernels: syscall enter/exit pairs. The enter side keeps only TCP
 * sockets (file -> socket -> sock, via CO-RE), so reads of files and pipes
 * cost a few loads and no map update.
 */
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
	io.enter = bpf_ktime_get_ns();
	if (has_task_storage) {
		struct sys_io *s = bpf_task_storage_get(&sys_io_store, bpf_get_current_task_btf(),
							NULL, BPF_LOCAL_STORAGE_GET_F_CREATE);

		if (s)
			*s = io;
		else
			stat_inc(PT_STAT_SYS_IO_FULL);
		return 0;
	}
	if (bpf_map_update_elem(&sys_io, &id, &io, BPF_ANY))
		stat_inc(PT_STAT_SYS_IO_FULL);
	return 0;
}

/* The socket I/O syscall the current thread is leaving, taken: false if none. */
static __always_inline bool sys_io_take(struct sys_io *v)
{
	struct sys_io *io;
	__u64 id;

	if (has_task_storage) {
		io = bpf_task_storage_get(&sys_io_store, bpf_get_current_task_btf(), NULL, 0);
		if (!io || !io->sk)
			return false;
		*v = *io;
		io->sk = 0;
		return true;
	}
	id = bpf_get_current_pid_tgid();
	io = bpf_map_lookup_elem(&sys_io, &id);
	if (!io)
		return false;
	*v = *io;
	bpf_map_delete_elem(&sys_io, &id);
	return true;
}

static __always_inline int sys_exit_io(struct trace_event_raw_sys_exit *ctx)
{
	struct sock *sk;
	struct sys_io v;
	__u16 family;

	if (!sys_io_take(&v))
		return 0;
	sk = (struct sock *)v.sk;	/* TCP: checked at syscall entry */
	if (moved_nothing(ctx->ret, v.flags))
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	return handle_io(sk, ctx->ret, v.dir, (const void *)v.buf, true,
			 v.dir == PT_DIR_SEND ? v.enter : 0, false, 0);
}

/* One enter/exit pair per syscall of PT_SYS_IO (include/probe_list.h). */
#define X(name, dir, flags_arg)							\
SEC("?tracepoint/syscalls/sys_enter_" #name)					\
int sys_enter_##name##_io(struct trace_event_raw_sys_enter *ctx)		\
{										\
	return sys_enter_io(ctx, PT_DIR_##dir, NR_##name, (flags_arg) < 0 ? 0 :	\
			    (int)ctx->args[(flags_arg) < 0 ? 0 : (flags_arg)]);	\
}										\
SEC("?tracepoint/syscalls/sys_exit_" #name)					\
int sys_exit_##name##_io(struct trace_event_raw_sys_exit *ctx)			\
{										\
	return sys_exit_io(ctx);						\
}
PT_SYS_IO(X)
#undef X

char LICENSE[] SEC("license") = "Dual BSD/GPL";
