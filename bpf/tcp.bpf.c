// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * TCP connection lifecycle from sock:inet_sock_set_state (no kprobes):
 *   CLOSE -> SYN_SENT      connect() starts (process context: who connects)
 *   SYN_SENT -> ESTABLISHED connect done
 *   SYN_SENT -> CLOSE       connect failed: refused / timed out / abandoned
 *   SYN_RECV -> ESTABLISHED an accepted (server) connection: marked in
 *                           `accepted`; it enters conns at its first I/O by a
 *                           traced process (io.bpf.c), so idle connections of
 *                           untraced services cost no conns entry
 *   -> FIN_WAIT1 / LAST_ACK / CLOSE: our side is done, flush the request; but a
 *                           client that shut down its sending side after its
 *                           request still reads the answer (half_closed()): its
 *                           request ends when the socket goes (tcp:tcp_destroy_sock)
 */
#include "conn.bpf.h"
#include "thread.bpf.h"
#include "h2.bpf.h"
#include "go.bpf.h"

#define RCV_SHUTDOWN	1
#define TCP_FIN_WAIT2_	5
#define TCP_CLOSING_	11

#define ECONNREFUSED	111
#define ETIMEDOUT	110
#define ECONNRESET	104
#define EHOSTUNREACH	113
#define ENETUNREACH	101

static __always_inline __u8 connect_error(const struct sock *sk)
{
	int err = BPF_CORE_READ(sk, sk_err);

	switch (err) {
	case ECONNREFUSED: return PT_ERR_REFUSED;
	case ETIMEDOUT: return PT_ERR_TIMEOUT;
	case ECONNRESET: return PT_ERR_RESET;
	case EHOSTUNREACH:
	case ENETUNREACH: return PT_ERR_UNREACH;
	case 0: return PT_ERR_ABORTED;
	default: return PT_ERR_OTHER;
	}
}

/* c's entries go: its idle watch first (only a watched connection has one, and no later
 * connection on the sock deletes it for us), then c itself. */
static __always_inline void conn_forget(__u64 skp, struct pt_conn *c)
{
	conn_unwatch(skp, c);
	bpf_map_delete_elem(&conns, &skp);
}

/* A new connection on a sock whose last one was never seen closing, or kept open for a
 * half-closed client's answer (connect(AF_UNSPEC), then connect() again): what it had
 * pending is reported, then its entries go (the HTTP/2 walking state too, else the new
 * connection would resume the old frames). The common case, a sock with no entries,
 * costs one lookup: a delete takes a hash bucket's lock even for a key that is not there. */
static __always_inline void conn_forget_stale(__u64 skp)
{
	struct pt_conn *c = bpf_map_lookup_elem(&conns, &skp);

	if (c) {
		conn_finish(skp, c);
		conn_forget(skp, c);
	}
	if (h2_used)
		bpf_map_delete_elem(&h2_conns, &skp);
}

/*
 * A client's request under way on a socket whose sending side the client shut down
 * (shutdown(SHUT_WR) after the request: the answer is still to come), at FIN_WAIT1
 * (close() shuts the receiving side too, first), or at the CLOSE the peer's FIN brings
 * after it while the application still holds the socket (unread answer bytes queued):
 * the request goes on, and ends when the socket is destroyed (the application's close).
 */
static __always_inline bool half_closed(const struct sock *sk, const struct pt_conn *c,
					int oldstate, int newstate)
{
	if (!has_destroy_sock || c->req.role != PT_ROLE_CLIENT || c->state == PT_FSM_IDLE ||
	    c->state == PT_FSM_TUNNEL || (c->cflags & PT_C_H2))
		return false;
	if (newstate == TCP_FIN_WAIT1_)
		return !(BPF_CORE_READ_BITFIELD_PROBED(sk, sk_shutdown) & RCV_SHUTDOWN);
	return newstate == TCP_CLOSE_ && (oldstate == TCP_FIN_WAIT1_ ||
	       oldstate == TCP_FIN_WAIT2_ || oldstate == TCP_CLOSING_) &&
	       BPF_CORE_READ(sk, sk_socket);	/* not orphaned: the application holds it */
}

/* c on skp ends (our side is done, or the socket goes): its HTTP/2 streams, the state of
 * the Go goroutine that served it, its request in flight; gone: its entries too. */
static __always_inline void conn_close(__u64 skp, struct pt_conn *c, bool gone)
{
	h2_close(skp, c);	/* HTTP/2: userspace ends the streams */
	if (c->srv_gkey || c->rd_gkey)
		go_conn_closed(skp, c);
	conn_finish(skp, c);
	if (gone)	/* a keep-alive connection's watch outlives its requests */
		conn_forget(skp, c);
}

static __always_inline int handle_set_state(const struct sock *sk, int oldstate, int newstate)
{
	__u64 skp = (__u64)sk;
	struct pt_conn *c;

	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;

	if (oldstate == TCP_CLOSE_ && newstate == TCP_SYN_SENT_) {
		__u32 tgid = bpf_get_current_pid_tgid() >> 32;
		__u64 ts = bpf_ktime_get_ns(), goid, key;

		if (!pt_traced(tgid))
			return 0;
		conn_forget_stale(skp);
		c = conn_create(skp, sk, PT_ROLE_CLIENT, PT_C_CONNECTING);
		if (!c)
			return 0;
		conn_own(c);
		send_start_init((struct sock *)sk);
		c->req.connect_start = ts;
		key = exec_key_goid(&goid);
		conn_start_request(skp, c, key, goid, NULL);
		return 0;
	}

	if (newstate == TCP_ESTABLISHED_ && oldstate == TCP_SYN_RECV_) {
		/* softirq: the owner is learned at the first I/O */
		__u8 one = 1;

		conn_forget_stale(skp);
		if (bpf_map_update_elem(&accepted, &skp, &one, BPF_ANY))
			stat_inc(PT_STAT_ACCEPT_FULL);
		return 0;
	}

	c = bpf_map_lookup_elem(&conns, &skp);
	if (!c) {
		/* an accepted sock closed before a traced process's first I/O (which takes
		 * its mark: conn_for_io()) */
		if (newstate == TCP_CLOSE_)
			bpf_map_delete_elem(&accepted, &skp);
		return 0;
	}

	if (oldstate == TCP_SYN_SENT_) {
		c->cflags &= ~PT_C_CONNECTING;
		c->req.connect_end = bpf_ktime_get_ns();
		c->req.flags |= PT_F_CONNECT;
		if (newstate == TCP_ESTABLISHED_) {
			sk_addrs(sk, &c->req);	/* the local port is known now */
			return 0;
		}
		c->req.error = connect_error(sk);
		conn_finish(skp, c);
		conn_forget(skp, c);
		return 0;
	}

	/* FIN_WAIT2 -> FIN_WAIT2, CLOSING -> CLOSING: the application closes a socket it had
	 * shut down for sending (its CLOSE may come much later) */
	if (newstate == TCP_FIN_WAIT1_ || newstate == TCP_LAST_ACK_ || newstate == TCP_CLOSE_ ||
	    (newstate == oldstate && (newstate == TCP_FIN_WAIT2_ || newstate == TCP_CLOSING_))) {
		if (!half_closed(sk, c, oldstate, newstate))
			conn_close(skp, c, newstate == TCP_CLOSE_);
	}
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(inet_sock_set_state_btf, const struct sock *sk, int oldstate, int newstate)
{
	return handle_set_state(sk, oldstate, newstate);
}

/* The socket goes: a half-closed client's request (half_closed()) ends; so does an
 * entry I/O re-created while its CLOSE ran; any other connection's went at its CLOSE. */
SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(tcp_destroy_sock_btf, struct sock *sk)
{
	__u64 skp = (__u64)sk;
	struct pt_conn *c = bpf_map_lookup_elem(&conns, &skp);

	if (c)
		conn_close(skp, c, true);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
