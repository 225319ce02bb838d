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

/* m's first 7 bytes are "CONNECT" (a request line, or a record's method) */
static inline int pt_is_connect(const char *m)
{
	return m[0] == 'C' && m[1] == 'O' && m[2] == 'N' && m[3] == 'N' && m[4] == 'E' &&
	       m[5] == 'C' && m[6] == 'T';
}
#define PT_LABEL_LEN		48	/* span label (template name, ...) */
#define PT_MAX_COMM_FILTERS	8
#define PT_MAX_SPANS		16	/* --probe definitions */
#define PT_MAX_CGROUP_FILTERS	4096	/* cgroup ids a -C filter may match */
#define PT_MAX_GO_PROCS		4096	/* Go processes BPF knows (go_procs) */
/* The key of goroutine goid of process tgid in BPF's per-context tables (threads, spans,
 * go_gs): bit 31 set, where a thread's key (pid_tgid) has none (tids < 2^22, pid_max). */
#define PT_GO_KEY(tgid, goid) (((__u64)(tgid) << 32) | 0x80000000ULL | ((goid) & 0x7fffffffULL))

enum pt_rec_type {
	PT_REC_REQ = 1,		/* struct pt_req_rec: one finished request */
	PT_REC_DNS = 2,		/* struct pt_dns_rec: one finished lookup */
	PT_REC_SPAN = 3,	/* struct pt_span_rec: one app-function span */
	PT_REC_PROC = 4,	/* struct pt_proc_rec: process to (re)scan */
	PT_REC_H2 = 5,		/* struct pt_h2_rec: one HTTP/2 frame of interest */
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
/* A PT_REC_REQ with PT_F_H2 is not a request but an HTTP/2 connection: at its
 * detection (carries connect/TLS) and at its close (end_reason PT_END_CLOSE). */
#define PT_F_H2		(1u << 8)
/* The response went quiet for half of the collector's idle time at least before its
 * request ended (bpf/conn.bpf.c conn_io_body()): the collector may have reported it
 * already (flush_idle()), so the kernel neither counts it nor folds a span into it. */
#define PT_F_QUIET	(1u << 10)
/* The collector reported this request at a pause (its idle_watch entry notes it): the
 * record is that report's copy, whatever the assembler still remembers of it. */
#define PT_F_IDLE_SENT	(1u << 11)
/* An HTTP/2 stream with content-type application/grpc*: status is the grpc-status
 * (collector only; a high bit, away from the kernel's flags) */
#define PT_F_GRPC	(1u << 12)

enum pt_end_reason {
	PT_END_NEXT = 0,	/* next request started on the connection */
	PT_END_CLOSE = 1,	/* connection closed */
	PT_END_IDLE = 2,	/* flushed by the collector after idling */
	PT_END_ERROR = 3,	/* connect failed */
};

/* The record's connection is over: no request will follow it on the connection. */
static inline int pt_end_is_last(__u8 end_reason)
{
	return end_reason == PT_END_CLOSE || end_reason == PT_END_ERROR;
}

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
	PT_ERR_GRPC = 10,	/* gRPC status other than OK (collector only) */
};

struct pt_addr {
	__u16 family;		/* AF_INET / AF_INET6, 0 if unknown */
	__u16 port;		/* host byte order */
	__u8 addr[16];		/* v4 in the first 4 bytes */
};

struct pt_req_rec {
	/* First what the socket hooks and a request's end read and write on every request
	 * (conn.bpf.c, agg.bpf.c): together in the fewest cache lines of the connection's
	 * map value. The fields set once per connection, or for the collector alone, after. */
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
	__u64 req_id;		/* unique per request */
	__u64 parent_id;	/* server request this one ran inside, 0 if none */
	__u64 goid;		/* goroutine (PT_F_GO) */
	__u32 req_seq;		/* 0 for the first request on the connection */
	__u32 writes;		/* socket writes of this side's payload (server: the response) */
	__u32 spans_open;	/* server: spans of this request still running at the emit */
	__u32 tpl_parses;	/* server, Go: template parses while serving it */
	__u64 req_first, req_last;	/* request bytes: first/last I/O completion */
	__u64 resp_first, resp_last;	/* response bytes */
	__u64 req_io_start;		/* entry of the first request write (TLS), else 0 */
	__u64 bytes_req, bytes_resp;
	__u64 span_last;	/* server: end of its last span; with spans_open: the emit */
	__u64 closed;		/* the close that ended it (PT_END_CLOSE, PT_END_ERROR), else 0 */
	/* server: its render span (a span named "render", bpf/span.bpf.c span_fold()) carried
	 * here instead of in a struct pt_span_rec of its own; render_start 0 if none. The
	 * fields of that record, the phase the assembler builds from it the same. */
	__u64 render_start, render_end;
	char method[PT_METHOD_LEN];
	char path[PT_PATH_LEN];
	/* set once per connection, or read by the collector alone */
	char comm[PT_COMM_LEN];
	__u64 conn_id;		/* unique per traced connection */
	__u32 netns;
	__u32 pad2;
	struct pt_addr local;
	struct pt_addr peer;
	__u64 connect_start, connect_end;	/* PT_F_CONNECT */
	__u64 tls_start, tls_end;		/* PT_F_TLS_HS */
	__u64 cgroup_id;	/* cgroup v2 id of the owner (bpf_get_current_cgroup_id) */
	__u32 stream_id;	/* HTTP/2 stream (collector only) */
	__u8 proto;		/* enum pt_proto */
	__u8 grpc_status;	/* gRPC status + 1, 0 if none (collector only) */
	__u8 pad3[2];
	__u64 render_io_ns;	/* pt_span_rec.io_ns (render_start's span) */
	__u64 render_gc_ns;	/* pt_span_rec.gc_ns */
	__u32 render_span;	/* pt_span_rec.span: index into the --probe table */
	__u32 pad4;
	char render_label[PT_LABEL_LEN];
};

enum pt_proto {
	PT_PROTO_UNKNOWN = 0,	/* HTTP/1.x when a request or status line was parsed */
	PT_PROTO_H2 = 1,	/* HTTP/2 over TLS */
	PT_PROTO_H2C = 2,	/* HTTP/2 cleartext (prior knowledge) */
};

/*
 * HTTP/2 (bpf/h2.bpf.c): the frame headers of an h2 connection are walked in
 * the plaintext stream; HEADERS, CONTINUATION, PUSH_PROMISE and SETTINGS frames are sent
 * with their payload (in pieces of at most PT_H2_BLOCK bytes: a frame may be
 * split across I/O calls), DATA frames only when they end a stream, RST_STREAM
 * frames without payload. Never DATA payloads. seq counts the records of one
 * connection and direction: a gap means a lost record (the HPACK table of that
 * direction cannot be trusted any more).
 */
#define PT_H2_BLOCK		512

enum pt_h2_kind {
	PT_H2_FRAME = 0,	/* a frame (its payload from frag_off, frag_len bytes) */
	PT_H2_LOST = 1,		/* frame walking gave up on this connection */
	PT_H2_HANDLER = 2,	/* Go server: stream sid's handler goroutine (goid) starts;
				 * parent_id is the request id its children carry */
};

struct pt_h2_rec {
	__u32 type;		/* PT_REC_H2 */
	__u8 kind;		/* enum pt_h2_kind */
	__u8 dir;		/* 0: we sent it, 1: we received it */
	__u8 ftype;		/* frame type */
	__u8 fflags;		/* frame flags */
	__u32 sid;		/* stream id */
	__u32 flen;		/* frame payload length */
	__u32 seq;		/* per connection and direction */
	__u32 frag_off;		/* offset of data[] in the frame payload */
	__u32 frag_len;		/* bytes in data[] */
	__u32 tid;		/* thread that did the I/O */
	__u32 pid;		/* PT_H2_HANDLER: the process (else 0) */
	__u32 pad;
	__u64 goid;
	__u64 conn_id;
	__u64 ts;		/* the I/O's time */
	__u64 data_bytes;	/* DATA with END_STREAM: the stream's DATA payload bytes seen in
				 * this direction, if its slot was kept (else 0) */
	__u64 parent_id;	/* client HEADERS: the server request the sender was serving */
	__u8 data[PT_H2_BLOCK];
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
	__u64 cgroup_id;	/* cgroup v2 id of the looking-up process */
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
	__u64 gc_ns;		/* Go: stop-the-world pauses of the process during the span */
	__u64 cgroup_id;	/* cgroup v2 id of the process */
};

enum pt_proc_kind {
	PT_PROC_EXEC = 1,
	PT_PROC_DLOPEN = 2,
	PT_PROC_EXIT = 3,
	PT_PROC_GOEXIT = 4,	/* a Go process keeps goroutine state: probe runtime.goexit1 */
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
	PT_FSM_TUNNEL = 3,	/* switched to another protocol (101, a CONNECT's 2xx): its
				 * bytes are no requests (bpf/conn.bpf.c conn_switch()) */
};

#define PT_C_HANDSHAKE	(1u << 0)	/* an explicit handshake call moved its bytes and has
					 * not completed it (bpf/tls.bpf.c) */
#define PT_C_TLS	(1u << 1)	/* payload goes through a TLS library */
#define PT_C_MIDSTREAM	(1u << 2)	/* first request may be partial: skip it */
#define PT_C_CONNECTING	(1u << 3)
#define PT_C_OWNED	(1u << 4)	/* pid/comm known */
#define PT_C_H2		(1u << 5)	/* HTTP/2: frames drive it (bpf/h2.bpf.c), not conn_io() */
#define PT_C_PROTO	(1u << 6)	/* first request bytes looked at for an HTTP/2 preface */
#define PT_C_WATCHED	(1u << 7)	/* BPF put the connection in idle_watch */

#define PT_X_CONNECT	(1u << 0)	/* a request was a CONNECT: serve mode looks at the
					 * next request lines too (a retry after a 407) */

struct pt_conn {
	/* what every I/O on the connection reads first, next to the record's head (type,
	 * flags, role, status): a hit touches fewer cache lines (the map value itself is
	 * not cache-line aligned) */
	__u64 last_io;
	__u64 ssl;		/* TLS session pointer once mapped */
	__u32 nreq;		/* requests started on this connection */
	__u8 state;		/* enum pt_fsm */
	__u8 cflags;		/* PT_C_* */
	__u16 xflags;		/* PT_X_* */
	/* go_procs of process proc_tgid at generation proc_gen (exec_key_conn()): how to find
	 * its goroutine (go_goid_off 0: not a Go process), without a lookup per I/O */
	__u32 proc_tgid;
	__u32 proc_gen;
	__u32 go_goid_off;
	__s32 go_tls_off;
	__u32 kagg_label;	/* in-kernel aggregation: the connection's label id, 0: none yet */
	__u32 kagg_pad;
	/* a Go server connection: the goroutine that serves it (its first request's), whose
	 * per-goroutine state is forgotten when the connection closes (go_conn_closed()) */
	__u64 srv_gkey;
	/* a Go h2 server connection: the goroutine that reads its frames through crypto/tls
	 * (net/http's readFrames), forgotten when it closes too */
	__u64 rd_gkey;
	struct pt_req_rec req;	/* the request being assembled */
};

/*
 * "idle_watch" map value (key: struct sock *): connections that have had a response,
 * written by BPF once per connection (PT_C_WATCHED), not per request. The collector
 * reports the request of conns in PT_FSM_RESP that went quiet, and notes it here.
 */
struct pt_idle {
	__u64 conn_id;
	__u32 flushed;		/* collector: 1 + req_seq of the request it last reported, 0: none */
	__u32 pad;
};

/*
 * "go_procs" map value (key: tgid), filled by the collector for processes
 * running a Go executable: how to find the current goroutine.
 */
struct pt_go_proc {
	__s32 g_tls_off;	/* amd64: g pointer at fs_base + g_tls_off (usually -8) */
	__u32 goid_off;		/* offsetof(runtime.g, goid) */
	__u32 flags;		/* PT_GO_EXIT_* */
	__u32 parent_goid_off;	/* offsetof(runtime.g, parentGoid) (Go >= 1.21), 0: unknown */
};

/*
 * runtime.goexit1 is probed on demand (user/attach/goprobes.c): a goroutine's state is
 * forgotten when it ends only if something but a served connection's own goroutine keeps
 * state (that goes when the connection closes). BPF asks once per process (a PT_PROC_GOEXIT
 * record); userspace sets PROBED once the executable's goexit1 has its probe.
 */
#define PT_GO_EXIT_PROBED	1u
#define PT_GO_EXIT_ASKED	2u

/*
 * Counters in the per-CPU "stats" map (struct pt_stats); never lose silently. The ones
 * every socket I/O or request counts come first: with the id counter, one cache line.
 */
enum pt_stat {
	PT_STAT_IO_EVENTS = 0,		/* socket I/O hook hits on traced connections */
	PT_STAT_UPROBE_EVENTS,		/* uprobe hits in traced processes */
	PT_STAT_REQS,			/* request records emitted */
	PT_STAT_REQS_CPU_RING,		/* of PT_STAT_REQS: through a per-CPU ring (rb_cpu) */
	PT_STAT_RESP_STARTS,		/* responses started: the collector's idle sweep is due
					 * only after one (collector.c idle_sweep_due()) */
	PT_STAT_KAGG_REQS,		/* requests counted in the kernel (no record) */
	PT_STAT_RB_DROP_REQ,		/* ring buffer full: request lost */
	PT_STAT_RB_DROP_DNS,
	PT_STAT_RB_DROP_SPAN,
	PT_STAT_RB_DROP_PROC,
	PT_STAT_CONN_FULL,		/* connection table full */
	PT_STAT_THREAD_FULL,		/* per-thread table full, or task storage refused */
	PT_STAT_SSL_FULL,		/* TLS session table full */
	PT_STAT_MIDSTREAM_SKIP,		/* partial first request of a pre-existing connection */
	PT_STAT_RB_WAKEUPS,		/* forced consumer wakeups */
	PT_STAT_GO_NO_G,		/* Go process: goroutine unreadable, thread used */
	PT_STAT_IDLE_FULL,		/* idle-watch table full: idle flush missed */
	PT_STAT_SPAN_FULL,		/* span table full: span lost */
	PT_STAT_GO_FULL,		/* goroutine state table full: attribution lost */
	PT_STAT_SYS_IO_FULL,		/* syscall I/O table full (fallback hooks): I/O lost */
	PT_STAT_ACCEPT_FULL,		/* accepted-socket mark lost: request seen mid-way */
	PT_STAT_RB_DROP_H2,		/* ring buffer full: HTTP/2 frame record lost */
	PT_STAT_H2_FULL,		/* HTTP/2 state table full: connection timed as one */
	PT_STAT_H2_OVERFLOW,		/* frame walk over budget: connection timed as one */
	PT_STAT_H2_STREAMS_NOBYTES,	/* DATA byte slots full: a stream's bytes not counted */
	PT_STAT_HOLD_FULL,		/* exec hold table or queue full: started unheld */
	PT_STAT_KAGG_FULL,		/* kernel histogram table full: sent as a record */
	PT_STAT_SWITCHED,		/* connections switched protocols (101, CONNECT): their
					 * bytes from then on are no requests */
	PT_STAT_TLS_OPAQUE,		/* connections whose TLS no probed library runs */
	PT_STAT__MAX,
};

/*
 * The "stats" map's one value, per CPU: the counters and next_id()'s count side by side.
 * They were a value per counter and another map for the count: a keep-alive request's
 * eight increments and two ids took each its own lookup and cache line. Together: about
 * 2 % less BPF time per request under nginx (tools/bench-compare -P, two runs: 0.976
 * and 0.982, where changes that did nothing measured 0.993-1.004). Userspace reads
 * them all with one syscall, not one per counter.
 */
struct pt_stats {
	__u64 ids;			/* next_id()'s count on this CPU */
	__u64 v[PT_STAT__MAX];
};

/*
 * In-kernel aggregation (bpf/agg.bpf.c, user/export/kagg.c; docs/metrics.md): a
 * keep-alive request whose phases are all known in BPF updates per-CPU histograms
 * keyed by the label id userspace gave its connection, instead of becoming a record.
 */
#define PT_F_KAGG		(1u << 9)	/* pt_req_rec: counted in the kernel too (check) */
#define PT_KAGG_MAX_BOUNDS	64
#define PT_KAGG_SLOT_REQ	8	/* slot of the request histogram of status class 0 */
#define PT_KAGG_NSLOTS		(PT_KAGG_SLOT_REQ + 6)

enum pt_kagg_mode {
	PT_KAGG_OFF = 0,
	PT_KAGG_ON = 1,		/* counted in the kernel, no record */
	PT_KAGG_CHECK = 2,	/* counted in the kernel and sent flagged PT_F_KAGG */
};

/* Key of "kagg_hist" (slot: PT_KAGG_SLOT_REQ + status class) and of "kagg_iv" (slot: a
 * phase, enum phase_id, or PT_KAGG_SLOT_TOTAL) */
struct pt_kagg_key {
	__u32 label;
	__u32 slot;
};

/* top: "kagg_iv" value (per CPU), slot a phase or PT_KAGG_SLOT_TOTAL: the log-linear
 * sub-buckets of user/export/histogram.c (HIST_NBUCKETS), for quantiles */
#define PT_KAGG_NSUB		1152
#define PT_KAGG_SLOT_TOTAL	7
struct pt_kagg_iv {
	__u64 sum;
	__u64 b[PT_KAGG_NSUB];
};

/* A histogram of "kagg_hist": le[i] counts values in (bound[i-1], bound[i]], le[n] above
 * (no count: userspace adds the le[], and BPF saves one add per histogram) */
struct pt_kagg_hist {
	__u64 sum;		/* ns */
	__u64 le[PT_KAGG_MAX_BOUNDS + 1];
};

/* The phases counted in the kernel: PT_KAGG_PH_FIRST (PHASE_SEND) and the next ones
 * (ttfb, recv, render), as enum phase_id numbers them */
#define PT_KAGG_PH_FIRST	3
#define PT_KAGG_NPH		4

/*
 * "kagg_hist" value (per CPU): everything a request of one label and status class adds
 * to, found with one lookup: its histogram (requests_total too), and those of its
 * phases (ph[i]: phase PT_KAGG_PH_FIRST + i).
 */
struct pt_kagg_entry {
	struct pt_kagg_hist req;
	struct pt_kagg_hist ph[PT_KAGG_NPH];
};

#endif /* PHASETRACE_H */
