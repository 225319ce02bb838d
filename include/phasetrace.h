/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Records and limits shared by the BPF programs and the collector.
 * Plain fixed-size types, no pointers; every record starts with a type field.
 * All timestamps are CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns()).
 */
#ifndef PHASETRACE_H
#define PHASETRACE_H

#ifndef __VMLINUX_H__	/* BPF side: vmlinux.h has the types */
#include <linux/types.h>
#endif

#define PT_COMM_LEN		16
#define PT_HOST_LEN		128	/* DNS names are truncated to this */
#define PT_DNS_MAX_ADDRS	8	/* resolved addresses kept per lookup */
#define PT_METHOD_LEN		8
#define PT_PATH_LEN		64	/* HTTP path, query string removed */
#define PT_HTTP_PEEK		(PT_METHOD_LEN + PT_PATH_LEN + 2)	/* bytes read of a line */
#define PT_LABEL_LEN		48	/* span label (template name, ...) */
#define PT_MAX_COMM_FILTERS	8
#define PT_MAX_SPANS		16	/* --probe definitions */

enum pt_rec_type {
	PT_REC_REQ = 1,		/* struct pt_req_rec: one finished request */
	PT_REC_DNS = 2,		/* struct pt_dns_rec: one finished lookup */
	PT_REC_SPAN = 3,	/* struct pt_span_rec: one app-function span */
	PT_REC_PROC = 4,	/* struct pt_proc_rec: process to (re)scan */
};

enum pt_role {
	PT_ROLE_UNKNOWN = 0,
	PT_ROLE_CLIENT = 1,	/* we connect()ed: request = our writes */
	PT_ROLE_SERVER = 2,	/* accepted: request = our reads */
	PT_ROLE_SPAN = 3,	/* collector only: a span outside any request */
};

/* pt_req_rec.flags */
#define PT_F_CONNECT	(1u << 0)	/* carries connect_start/end (first request) */
#define PT_F_TLS	(1u << 1)	/* I/O seen through a TLS library */
#define PT_F_TLS_HS	(1u << 2)	/* carries tls_start/end */
#define PT_F_MIDSTREAM	(1u << 3)	/* connection predates the tracer */
#define PT_F_NO_RESP	(1u << 4)	/* request ended without a response */
#define PT_F_HTTP	(1u << 5)	/* method/path parsed */
#define PT_F_GO		(1u << 6)	/* goid is a goroutine id */
#define PT_F_IO_AMBIG	(1u << 7)	/* thread served >1 requests: no parent */

enum pt_end_reason {
	PT_END_NEXT = 0,	/* next request started on the connection */
	PT_END_CLOSE = 1,	/* connection closed */
	PT_END_IDLE = 2,	/* flushed by the collector after idling */
	PT_END_ERROR = 3,	/* connect failed */
};

enum pt_err {
	PT_ERR_NONE = 0,
	PT_ERR_REFUSED = 1,
	PT_ERR_TIMEOUT = 2,
	PT_ERR_RESET = 3,
	PT_ERR_ABORTED = 4,	/* connect abandoned by the application */
	PT_ERR_TLS = 5,		/* closed during the TLS handshake */
	PT_ERR_UNREACH = 6,
	PT_ERR_OTHER = 7,
	PT_ERR_DNS = 8,		/* lookup failed (collector only) */
	PT_ERR_NO_RESPONSE = 9,	/* closed before any response (collector only) */
};

struct pt_addr {
	__u16 family;		/* AF_INET / AF_INET6, 0 if unknown */
	__u16 port;		/* host byte order */
	__u8 addr[16];		/* v4 in the first 4 bytes */
};

struct pt_req_rec {
	__u32 type;		/* PT_REC_REQ */
	__u32 pid;
	__u32 tid;		/* thread that started the request */
	__u32 flags;		/* PT_F_* */
	__u8 role;		/* enum pt_role */
	__u8 end_reason;	/* enum pt_end_reason */
	__u8 error;		/* enum pt_err */
	__u8 tls_lib;		/* enum pt_tls_lib */
	__u16 status;		/* HTTP status, 0 if unknown */
	__u16 pad;
	char comm[PT_COMM_LEN];
	__u64 conn_id;		/* unique per traced connection */
	__u64 req_id;		/* unique per request */
	__u64 parent_id;	/* server request this one ran inside, 0 if none */
	__u64 goid;		/* goroutine (PT_F_GO) */
	__u32 req_seq;		/* 0 for the first request on the connection */
	__u32 netns;
	struct pt_addr local;
	struct pt_addr peer;
	__u64 connect_start, connect_end;	/* PT_F_CONNECT */
	__u64 tls_start, tls_end;		/* PT_F_TLS_HS */
	__u64 req_first, req_last;	/* request bytes: first/last I/O completion */
	__u64 resp_first, resp_last;	/* response bytes */
	__u64 req_io_start;		/* entry of the first request write (TLS), else 0 */
	__u64 bytes_req, bytes_resp;
	char method[PT_METHOD_LEN];
	char path[PT_PATH_LEN];
};

struct pt_ip {
	__u16 family;
	__u16 pad;
	__u8 addr[16];
};

enum pt_dns_func {
	PT_DNS_GETADDRINFO = 0,
	PT_DNS_GETHOSTBYNAME = 1,
	PT_DNS_GO = 2,
};

struct pt_dns_rec {
	__u32 type;		/* PT_REC_DNS */
	__u32 pid;
	__u32 tid;
	__s32 rc;		/* getaddrinfo() result, h_errno style for gethostbyname */
	__u64 start, end;
	__u64 goid;
	__u64 parent_id;	/* server request active on the thread, 0 if none */
	__u16 naddr;
	__u16 func;		/* enum pt_dns_func */
	__u32 flags;		/* PT_F_GO */
	char comm[PT_COMM_LEN];
	char host[PT_HOST_LEN];
	struct pt_ip addrs[PT_DNS_MAX_ADDRS];
};

struct pt_span_rec {
	__u32 type;		/* PT_REC_SPAN */
	__u32 pid;
	__u32 tid;
	__u32 span;		/* index into the --probe table */
	__u64 start, end;
	__u64 goid;
	__u64 parent_id;
	__u64 io_ns;		/* time blocked in socket writes during the span */
	__u32 flags;		/* PT_F_GO */
	__u32 nested_reqs;	/* outbound requests started inside the span */
	char comm[PT_COMM_LEN];
	char label[PT_LABEL_LEN];
};

enum pt_proc_kind {
	PT_PROC_EXEC = 1,
	PT_PROC_DLOPEN = 2,
	PT_PROC_EXIT = 3,
};

struct pt_proc_rec {
	__u32 type;		/* PT_REC_PROC */
	__u32 pid;
	__u32 kind;		/* enum pt_proc_kind */
	__u32 pad;
	__u64 ts;
	char comm[PT_COMM_LEN];
	/* exec only: the executable as the kernel saw it, and whether it is held */
	__u64 file_dev;		/* super_block->s_dev (kernel encoding) */
	__u64 file_ino;
	__u32 file_gen;		/* i_generation: tells a reused inode number apart */
	__u32 held;		/* stopped at exec until its probes are in place */
};

/*
 * An executable's identity at exec (bpf/proc.bpf.c): the key of exec_known,
 * the files whose probes are decided, whose execs are never held.
 */
struct pt_file_id {
	__u64 dev;
	__u64 ino;
	__u32 gen;
	__u32 pad;
};

/* A process stopped at exec (held), for the watchdog (user/attach/hold.c). */
struct pt_hold_rec {
	__u32 pid;
	__u32 pad;
	__u64 ts;		/* when it was held (CLOCK_MONOTONIC ns) */
};

enum pt_tls_lib {
	PT_TLS_NONE = 0,
	PT_TLS_OPENSSL = 1,
	PT_TLS_GNUTLS = 2,
	PT_TLS_GO = 3,
};

/*
 * Per-connection state kept by BPF in the "conns" map (key: struct sock *).
 * The collector reads it to flush requests whose connection went idle.
 */
enum pt_fsm {
	PT_FSM_IDLE = 0,	/* no request in flight */
	PT_FSM_REQ = 1,		/* request bytes flowing */
	PT_FSM_RESP = 2,	/* response bytes flowing */
};

#define PT_C_TLS	(1u << 1)	/* payload goes through a TLS library */
#define PT_C_MIDSTREAM	(1u << 2)	/* first request may be partial: skip it */
#define PT_C_CONNECTING	(1u << 3)
#define PT_C_OWNED	(1u << 4)	/* pid/comm known */

struct pt_conn {
	struct pt_req_rec req;	/* the request being assembled */
	__u64 last_io;
	__u64 ssl;		/* TLS session pointer once mapped */
	__u32 nreq;		/* requests started on this connection */
	__u8 state;		/* enum pt_fsm */
	__u8 cflags;		/* PT_C_* */
	__u16 pad;
};

/* "idle_watch" map value (key: struct sock *): connections in PT_FSM_RESP. */
struct pt_idle {
	__u64 conn_id;
	__u64 parent_id;
	__u32 req_seq;
	__u32 pad;
};

/*
 * "go_procs" map value (key: tgid), filled by the collector for processes
 * running a Go executable: how to find the current goroutine.
 */
struct pt_go_proc {
	__s32 g_tls_off;	/* amd64: g pointer at fs_base + g_tls_off (usually -8) */
	__u32 goid_off;		/* offsetof(runtime.g, goid) */
	__u32 flags;
	__u32 pad;
};

/* Counters in the per-CPU "stats" array map; never lose silently. */
enum pt_stat {
	PT_STAT_RB_DROP_REQ = 0,	/* ring buffer full: request lost */
	PT_STAT_RB_DROP_DNS,
	PT_STAT_RB_DROP_SPAN,
	PT_STAT_RB_DROP_PROC,
	PT_STAT_CONN_FULL,		/* connection table full */
	PT_STAT_THREAD_FULL,		/* per-thread table full */
	PT_STAT_SSL_FULL,		/* TLS session table full */
	PT_STAT_IO_EVENTS,		/* socket I/O hook hits on traced connections */
	PT_STAT_UPROBE_EVENTS,		/* uprobe hits in traced processes */
	PT_STAT_REQS,			/* request records emitted */
	PT_STAT_MIDSTREAM_SKIP,		/* partial first request of a pre-existing connection */
	PT_STAT_RB_WAKEUPS,		/* forced consumer wakeups */
	PT_STAT_GO_NO_G,		/* Go process: goroutine unreadable, thread used */
	PT_STAT_IDLE_FULL,		/* idle-watch table full: idle flush missed */
	PT_STAT_SPAN_FULL,		/* span table full: span lost */
	PT_STAT_GO_FULL,		/* goroutine state table full: attribution lost */
	PT_STAT_SYS_IO_FULL,		/* syscall I/O table full (fallback hooks): I/O lost */
	PT_STAT_ACCEPT_FULL,		/* accepted-socket mark lost: request seen mid-way */
	PT_STAT_HOLD_FULL,		/* exec hold table or queue full: started unheld */
	PT_STAT__MAX,
};

#endif /* PHASETRACE_H */
