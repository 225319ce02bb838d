/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Every map and tunable of the BPF object, declared once: the types here, the
 * definitions in bpf/maps.bpf.c (libbpf's static linker resolves the extern
 * declarations of each object against them). Userspace reaches them through
 * the skeleton (skel->maps.NAME, skel->rodata->NAME). Every update of a map
 * that can fill is checked and a failure counted (PT_STAT_*_FULL).
 */
#ifndef PT_MAPS_BPF_H
#define PT_MAPS_BPF_H

/* A map: struct NAME_map is its type, NAME the map (defined in maps.bpf.c). */
#define PT_MAP(name, kind, max, key_type, value_type)	\
	struct name##_map {				\
		__uint(type, BPF_MAP_TYPE_##kind);	\
		__uint(max_entries, max);		\
		__type(key, key_type);			\
		__type(value, value_type);		\
	};						\
	extern struct name##_map name SEC(".maps")

/* Local storage of a kernel object (kind SK_STORAGE, TASK_STORAGE): a value per socket or
 * task, made on first use, freed with its owner. */
#define PT_LOCAL_STORAGE(name, kind, value_type)		\
	struct name##_map {				\
		__uint(type, BPF_MAP_TYPE_##kind);	\
		__uint(map_flags, BPF_F_NO_PREALLOC);	\
		__type(key, int);			\
		__type(value, value_type);		\
	};						\
	extern struct name##_map name SEC(".maps")

/* ---- tunables, set by the collector before load ---- */
extern const volatile __u32 self_tgid;
extern const volatile bool has_pid_filter;
extern const volatile __u32 n_comm_filters;
extern const volatile __u64 comm_words[PT_MAX_COMM_FILTERS][2];
extern const volatile __u64 comm_masks[PT_MAX_COMM_FILTERS][2];
/* Wake the consumer only once this much is queued (bytes); it polls anyway. */
extern const volatile __u64 wakeup_bytes;
/* bpf_task_pt_regs() (5.15): lets socket hooks peek at the syscall buffer. */
extern const volatile bool has_task_pt_regs;
extern const volatile bool has_send_start;	/* tcp_sendmsg_locked stamps sends */
extern const volatile bool has_task_storage;	/* threads' thread_ctx in thread_store */
extern const volatile bool has_destroy_sock;	/* tcp:tcp_destroy_sock is attached */
/* -C: only processes whose cgroup is in cgroup_filter */
extern const volatile bool has_cgroup_filter;
/* An output shows method, path and span labels (a template's name): read the HTTP
 * request line (the status line always) and the labels from user memory. */
extern const volatile bool need_detail;

/* ---- output and counters ---- */
struct rb_map {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024);
};
extern struct rb_map rb SEC(".maps");
/* pt_submit()'s view of the consumer: its position, and how many records were
 * submitted since it last moved */
extern __u64 rb_cons_pos, rb_cons_still;
/*
 * One ring per CPU for the records of keep-alive requests (conn_emit()), the bulk of
 * `trace` at a high request rate: on the one ring, every record took its lock and moved
 * its producer position from CPU to CPU (about 250 ns a record with two busy CPUs, half
 * that with one). The collector sizes and creates the rings (slot = CPU; an empty slot:
 * records go to rb) and reads them all with rb. Only records that nothing orders against
 * other records by arrival go there; the assembler orders requests by their own times.
 */
struct rb_cpu_inner {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
};
struct rb_cpu_map {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);		/* the number of possible CPUs, set at load */
	__type(key, __u32);
	__array(values, struct rb_cpu_inner);
};
extern struct rb_cpu_map rb_cpu SEC(".maps");

/* PT_STAT_* counters and the id counter (next_id()), one value per CPU */
PT_MAP(stats, PERCPU_ARRAY, 1, __u32, struct pt_stats);

/* tgid -> 1 for -p PID */
PT_MAP(pid_filter, HASH, 1024, __u32, __u8);

/* cgroup v2 id -> 1 for -C ID (the collector adds cgroups of containers started later) */
PT_MAP(cgroup_filter, HASH, PT_MAX_CGROUP_FILTERS, __u64, __u8);

/* ---- connections (conn.bpf.c) ---- */
/* struct sock * -> connection; not LRU: a full table is counted, never silent */
PT_MAP(conns, HASH, 65536, __u64, struct pt_conn);

/* struct sock * of connections in the response phase, scanned by the collector for
 * idle flushes */
PT_MAP(idle_watch, HASH, 65536, __u64, struct pt_idle);

/*
 * struct sock * of sockets accepted and not yet read or written by a traced
 * process: a server connection enters conns only at its first I/O, when its
 * owner is known and passes the filters. LRU: idle connections of untraced
 * services age out; a mark lost that way makes the first request look mid-way
 * (counted as midstream_partial).
 */
PT_MAP(accepted, LRU_HASH, 65536, __u64, __u8);

/*
 * When the send in progress on a connection's socket began (tcp_sendmsg_locked's first
 * stamp, 0: none), and where its bytes start in user memory: socket-local storage,
 * created with the connection in the socket hooks and at connect, so the stamping hook
 * finds it without a conns lookup. Bounded by the sockets that have a connection entry;
 * freed with the socket. Used only when has_send_start (tp_btf programs, Linux 6.3+).
 */
struct send_start {
	__u64 ts;	/* 0: no send stamped since the last one was taken */
	__u64 buf;	/* the send's first byte from its iov_iter (0: not user memory) */
};
PT_LOCAL_STORAGE(send_starts, SK_STORAGE, struct send_start);

/* Scratch for building a new connection without using the 512-byte stack. */
PT_MAP(conn_scratch, PERCPU_ARRAY, 1, __u32, struct pt_conn);

/* ---- execution contexts (thread.bpf.c) ---- */
/*
 * Per-thread (or per-goroutine) context: the TLS call in progress (to map
 * sessions to sockets and to keep handshake bytes out of the request), the
 * server request the context is serving (for nesting), a pending DNS lookup.
 */
struct thread_ctx {
	/* TLS library call in progress (outermost) */
	__u64 ssl;
	__u64 ssl_buf;
	__u64 ssl_outlen;	/* size_t * of SSL_read_ex/SSL_write_ex, else 0 */
	__u64 ssl_entry;
	__u64 ssl_krecv_last;	/* last kernel receive inside the call */
	__u64 ssl_ksend_last;	/* last kernel send inside the call */
	__u64 ssl_ksend_first;	/* when the first kernel send inside the call began */
	__u8 ssl_depth;
	__u8 ssl_fn;		/* TLS_FN_* */
	__u8 ssl_lib;		/* enum pt_tls_lib */
	__u8 interleaved;	/* event loop: nesting unknown */
	__u8 srv_awaiting;	/* srv request has no response yet */
	__u8 dns_depth;
	__u8 dns_func;
	__u8 go_srv;		/* a goroutine serving srv_sk: its state goes when that closes */
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
	__u8 tls_scoped;	/* a goroutine's entry made by a call, for it alone (crypto/tls; spans) */
	__u8 go_stream;		/* an h2 stream's handler goroutine: its state goes with the
				 * stream (GO_END_STREAM) */
	__u8 go_tls_h2_sent;	/* the open Go Write's HTTP/2 frames were walked at its entry */
	__u8 tls_outer;		/* a callback re-entered the TLS call: the outer one waits in
				 * tls_outers (tls.bpf.c tls_reentered()) */
	__u8 spans_used;	/* span states were made under this key: a native thread's
				 * stay between its calls, and go when it exits */
	/* a Go crypto/tls call in progress (tls.bpf.c): its frame depth and return address
	 * (its RETs, morestack re-entries, nested calls) and a Write's len(b) (capped): its n
	 * if it succeeds. Here, not in go_gs: a call's state is one entry. */
	__u64 go_tls_d;
	__u64 go_tls_ret;
	__u32 go_tls_wlen;
	__u32 ssl_sp32;		/* a native call in progress: its entry's stack pointer, low
				 * 32 bits (a shallower call's entry: its return was missed) */
	/* memory-BIO TLS (Node.js): the event loop moves ciphertext outside the calls */
	__u64 bio_ssl;		/* unmapped session of the last call that did no socket I/O */
	__u64 bio_sk;		/* socket whose first bytes received were a TLS record */
};

/* exec_key_goid(): pid_tgid, or tgid + goroutine -> context. A thread's goes when it
 * exits (proc.bpf.c thread_exited()), a goroutine's as docs/go.md says; LRU for what
 * is missed (a lost goexit1). */
PT_MAP(threads, LRU_HASH, 32768, __u64, struct thread_ctx);
/*
 * A thread's own (not a goroutine's) thread_ctx, where the kernel lets tracing programs
 * use task storage (Linux 5.13+, has_task_storage): found from the current task without
 * hashing (every socket hook looks its context up), gone with the task. The keys of
 * threads are then goroutines' alone. A thread's context is only ever looked up by that
 * thread. Without has_task_storage the collector makes this a one-entry hash nothing uses.
 */
PT_LOCAL_STORAGE(thread_store, TASK_STORAGE, struct thread_ctx);

/* tgid of a Go process, filled by the collector -> how to find the current goroutine */
PT_MAP(go_procs, HASH, PT_MAX_GO_PROCS, __u32, struct pt_go_proc);
/* Bumped by the collector after every change of go_procs (user/attach/goprobes.c). */
extern volatile __u32 go_procs_gen;

/* ---- socket I/O, syscall fallback (io.bpf.c) ---- */
struct sys_io {
	__u64 sk;
	__u64 buf;
	__u64 enter;		/* when the syscall began */
	__u32 flags;
	__u32 dir;
};

/* pid_tgid -> the socket I/O syscall in progress; where the kernel has task storage for
 * tracing programs (has_task_storage), the thread's sys_io_store instead (kept between
 * syscalls, sk 0 when none is in progress): no hash update and delete per syscall, and
 * an untraced thread's syscall exit finds no storage at once. */
PT_MAP(sys_io, LRU_HASH, 16384, __u64, struct sys_io);
PT_LOCAL_STORAGE(sys_io_store, TASK_STORAGE, struct sys_io);

/* ---- HTTP line peek (http.bpf.c) ---- */
struct http_scratch {
	char buf[PT_HTTP_PEEK];
};

PT_MAP(http_scratch, PERCPU_ARRAY, 1, __u32, struct http_scratch);

/* ---- TLS sessions (tls.bpf.c) ---- */
struct ssl_key {
	__u32 tgid;
	__u32 pad;
	__u64 ssl;
};

struct ssl_state {
	__u64 sk;		/* struct sock * once mapped */
	__u64 hs_start;		/* first library call on the session; a server's: its
				 * first handshake bytes read, if later (the ClientHello) */
	__u64 hs_end;
	__u8 hs_done;
	__u8 lib;
	__u8 hs_rx;		/* a server's session: its first bytes were read */
	__u8 pad[5];
	__u64 bio_recv_last;	/* memory BIO: last socket receive outside the calls */
};

PT_MAP(ssl_states, LRU_HASH, 32768, struct ssl_key, struct ssl_state);

/* A native TLS library call a callback re-entered (tls.bpf.c tls_reentered()): the outer
 * call's state, back in place when the inner call returns. Rare and short: a table of
 * its own keeps thread_ctx small. */
struct tls_outer {
	__u64 ssl, buf, outlen, entry, krecv_last, ksend_last, ksend_first;
	__u32 sp32;		/* its ssl_sp32 */
	__u8 depth;		/* the outer call's ssl_depth */
	__u8 fn, lib;
	__u8 pad;
};

/* context key (pid_tgid) -> the call waiting under a re-entered one */
PT_MAP(tls_outers, LRU_HASH, 1024, __u64, struct tls_outer);

/* ---- spans (span.bpf.c) ---- */
struct span_key {
	__u64 ctx;		/* exec_key() */
	__u32 idx;		/* span index (--probe order; 15: Go render) */
	__u32 pad;
};

struct span_state {
	__u64 start;
	__u64 io_at_start;	/* thread_ctx.io_total when the span started */
	__u32 depth;
	__u8 drop_at_end;	/* deleted when the outermost call ends: every Go span but
				 * the render span of a goroutine serving a connection, which
				 * goes with it (go.bpf.c go_span_enter()) */
	__u8 pad[3];
	char label[PT_LABEL_LEN];
	__u64 gc_at_start;	/* go_stw_ns() of its process when the span started */
	__u64 parent_id;	/* the server request its context served when it started, or
				 * that a helper goroutine works for (go_inherited_req()): its
				 * parent when the context serves none at the end (gone: a reset
				 * h2 stream's handler, GO_END_STREAM; or a helper's) */
	/* Go: the open outermost call's frame depth and return address (go.bpf.c) */
	__u64 go_d;
	__u64 go_ret;
};

PT_MAP(spans, LRU_HASH, 16384, struct span_key, struct span_state);
/* Span indexes named "render" (bit i: span i; --probe render=..., the Go render span): the
 * render phase. The first to end in a server request goes into its record (span_fold()). */
extern const volatile __u32 render_spans;
/* The collector's idle flush (--idle-ms) in ns: a response quiet for half of it may have
 * been reported from the connection table already, so its request is never counted in
 * the kernel (agg.bpf.c) and gets no render folded in (span_fold()); 0: unknown. */
extern const volatile __u64 idle_flush_ns;

/* ---- Go (go.bpf.c) ---- */
/* Per-goroutine state of the Go probes (key: GO_KEY). */
struct go_g {
	__u64 dns_d;		/* frame depth of the open lookupIPAddr, 0 if none */
	__u64 dns_ret;
	__u64 dns_start;
	__u64 dns_host;		/* Go string: data, len */
	__u64 dns_host_len;
};

/* goroutine key -> its state */
PT_MAP(go_gs, LRU_HASH, 32768, __u64, struct go_g);

/* child goroutine key -> key of the goroutine that started it (runtime.newproc1) */
PT_MAP(go_parent, LRU_HASH, 65536, __u64, __u64);

/* newproc1 in progress: pid_tgid (it does not switch threads) -> parent goroutine key */
PT_MAP(go_newproc, LRU_HASH, 4096, __u64, __u64);

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

/* *http.Request -> srv_req_id of the goroutine that sent it */
PT_MAP(go_req_owner, LRU_HASH, 16384, struct go_obj_key, __u64);

/* goroutine key of a writer (writeLoop) -> srv_req_id of the request it is writing */
PT_MAP(go_writing_for, LRU_HASH, 16384, __u64, __u64);

/* Per Go process (tgid): its stop-the-world pauses so far, and the one in progress. */
struct go_stw {
	__u64 total;		/* ns stopped, summed */
	__u64 start;		/* stopTheWorldWithSema entered, 0 if the world runs */
};

PT_MAP(go_stw, HASH, 4096, __u32, struct go_stw);
/* ---- HTTP/2 (h2.bpf.c) ---- */
#define H2_DSLOTS	4	/* streams per direction whose DATA bytes are counted */

/* Frame walking state of one direction of an HTTP/2 connection. */
struct h2_dir {
	__u32 skip;		/* payload bytes of the current frame still to come */
	__u32 flen;		/* the current frame's payload length */
	__u32 sid;		/* and its stream, type, flags */
	__u32 seq;		/* records sent for this direction */
	__u8 ftype;
	__u8 fflags;
	__u8 capture;		/* its payload goes to userspace (header block, SETTINGS) */
	__u8 hdr_have;		/* bytes of a frame header split across I/O calls */
	__u8 preface_seen;	/* client preface bytes skipped (request direction) */
	__u8 dnext;		/* next DATA slot to reuse */
	__u8 pad[2];
	__u8 hdr[32];		/* the split frame header (9 bytes used, room for the masks) */
	__u64 parent;		/* the sender's server request during this I/O (client) */
	__u32 dsid[H2_DSLOTS];	/* DATA bytes of the latest streams */
	__u64 dbytes[H2_DSLOTS];
	/* the walk of the I/O in progress (h2.bpf.c h2_io()): its cursor is here, in map
	 * memory, not on the BPF stack, where the verifier would track its exact values
	 * through bpf_loop's iterations and verify the step thousands of times */
	__u64 w_buf;		/* the current segment (user memory) */
	__u64 w_iov;		/* the rest of a vectored I/O (struct h2_iovec[], user memory) */
	__u32 w_seg;		/* bytes left in the segment */
	__u32 w_niov, w_iov_i;
	__u32 w_n, w_pos;	/* the I/O's bytes, and how many were walked */
};

struct h2_state {
	struct h2_dir d[2];	/* PT_DIR_SEND, PT_DIR_RECV */
};

/* struct sock * of an HTTP/2 connection -> its frame walking state */
PT_MAP(h2_conns, HASH, 16384, __u64, struct h2_state);
/* Set before the first entry ever put in h2_conns: until then a new connection has no
 * stale walking state to delete (tcp.bpf.c conn_forget_stale()). */
extern volatile bool h2_used;

/* A zeroed state to insert from (never written): too big for the BPF stack. */
PT_MAP(h2_zero, ARRAY, 1, __u32, struct h2_state);

/* Building an h2 record: sent with bpf_ringbuf_output() at its used length. */
PT_MAP(h2_scratch, PERCPU_ARRAY, 1, __u32, struct pt_h2_rec);
/* ---- exec hold (proc.bpf.c, user/attach/hold.c: docs/go.md "No blind start") ---- */
/* Hold new executables at exec: the timeout in ms (0: never hold). */
extern const volatile __u32 hold_ms;
/*
 * Written by userspace (the discovery worker, when idle or between scans):
 * holds happen only while this is fresh, so a stopped or stuck tracer holds
 * nothing. 0: holds off (set at exit before the held processes are resumed).
 */
extern volatile __u64 hold_alive_ns;
extern __u64 hold_count;		/* processes held so far */
extern __u64 hold_timeouts;		/* resumed by the watchdog's deadline */

/* Executables whose probes are decided (attached, or none needed): never held. */
PT_MAP(exec_known, LRU_HASH, 16384, struct pt_file_id, __u8);
/* tgid of a held (stopped) process -> when it was held; whoever deletes it resumes it */
PT_MAP(held, HASH, 1024, __u32, __u64);
/* One record per hold, for the watchdog process (its deadline). */
struct hold_rb_map {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
};
extern struct hold_rb_map hold_rb SEC(".maps");

/* ---- in-kernel aggregation (agg.bpf.c, user/export/kagg.c) ---- */
extern const volatile __u32 kagg_mode;		/* enum pt_kagg_mode */
/* The histogram bounds in ns (metrics' --buckets), the tail ~0ULL; how many are used. */
extern const volatile __u64 kagg_bounds[PT_KAGG_MAX_BOUNDS];
extern const volatile __u32 kagg_nbounds;

/* Per-CPU histograms (in-kernel aggregation): entries allocated as they are first used. */
#define PT_KAGG_MAP(name, max, value_type)			\
	struct name##_map {					\
		__uint(type, BPF_MAP_TYPE_PERCPU_HASH);		\
		__uint(max_entries, max);			\
		__uint(map_flags, BPF_F_NO_PREALLOC);		\
		__type(key, struct pt_kagg_key);		\
		__type(value, value_type);			\
	};							\
	extern struct name##_map name SEC(".maps")

/* (label id, PT_KAGG_SLOT_REQ + status class) -> per-CPU histograms of those requests and
 * of their phases: one lookup per request; full: the request is sent */
PT_KAGG_MAP(kagg_hist, 4096, struct pt_kagg_entry);
/* A zeroed entry to insert from (never written): too big for the BPF stack. */
PT_MAP(kagg_zero, ARRAY, 1, __u32, struct pt_kagg_entry);
/* conn_id -> label id, written by userspace once the connection's first request has
 * been counted there; BPF moves it into the connection (pt_conn.kagg_label). */
PT_MAP(kagg_labels, LRU_HASH, 65536, __u64, __u32);
/* top: sub-bucket histograms for the interval's quantiles (kagg_top), and the slowest
 * request of the interval so far (userspace zeroes it at each interval: a request as slow
 * is sent, for top's waterfall) */
extern const volatile bool kagg_top;
extern volatile __u64 kagg_slowest;
PT_KAGG_MAP(kagg_iv, 4096, struct pt_kagg_iv);
PT_MAP(kagg_iv_zero, ARRAY, 1, __u32, struct pt_kagg_iv);
/* Server request ids that have children or spans (nested by userspace). */
PT_MAP(kagg_kids, LRU_HASH, 16384, __u64, __u8);
/* Set at the first entry ever put in kagg_kids: until then no server request has
 * children and a finished one is not looked up there. */
extern volatile bool kagg_kids_used;

#endif
