/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What is probed, in one place. Each list is an X-macro: the BPF dispatch
 * (cookies), the per-function programs of the perf-event fallback and the
 * userspace attach tables (user/attach/probe_table.c, probes.c) all expand
 * from it. Included by BPF and userspace alike: macros and enums only.
 * Program names are skeleton fields (skel->progs.NAME): a typo does not
 * compile. Adding a library uprobe is one line here plus its BPF handler.
 */
#ifndef PT_PROBE_LIST_H
#define PT_PROBE_LIST_H

/* For list columns that may be empty: PT_IS_NONE(NONE) -> 1, PT_IS_NONE(anything_else)
 * -> 0; PT_IF_SOME(x, code) keeps code unless x is NONE. */
#define PT_IS_NONE_NONE ~, 1
#define PT_IS_NONE(x) PT_IS_NONE_(PT_IS_NONE_##x)
#define PT_IS_NONE_(...) PT_IS_NONE__(__VA_ARGS__, 0, 0)
#define PT_IS_NONE__(a, b, ...) b
#define PT_IF_SOME(x, ...) PT_IF_SOME_(PT_IS_NONE(x), __VA_ARGS__)
#define PT_IF_SOME_(none, ...) PT_IF_SOME__(none, __VA_ARGS__)
#define PT_IF_SOME__(none, ...) PT_IF_SOME_##none(__VA_ARGS__)
#define PT_IF_SOME_0(...) __VA_ARGS__
#define PT_IF_SOME_1(...)
/* PT_SOME_OR(x, a, b): a unless x is NONE, then b */
#define PT_SOME_OR(x, a, b) PT_SOME_OR_(PT_IS_NONE(x), a, b)
#define PT_SOME_OR_(none, a, b) PT_SOME_OR__(none, a, b)
#define PT_SOME_OR__(none, a, b) PT_SOME_OR_##none(a, b)
#define PT_SOME_OR_0(a, b) a
#define PT_SOME_OR_1(a, b) b

/*
 * Library sets: a set applies to a file that defines its key symbol.
 * X(SET, what, key symbol)
 */
#define PT_LIB_SETS(X)						\
	X(OPENSSL,  "openssl",       SSL_do_handshake)		\
	X(GNUTLS,   "gnutls",        gnutls_handshake)		\
	X(RESOLVER, "libc resolver", getaddrinfo)		\
	X(DLOPEN,   "dlopen",        dlopen)

/*
 * Library functions (native code: uretprobes are safe). X(SET, symbol, entry
 * handler, return handler), NONE where a side is not probed. A handler is a
 * BPF function `int handler(struct pt_regs *ctx)` of its hook domain
 * (bpf/tls.bpf.c, dns.bpf.c, proc.bpf.c); bpf/lib.bpf.c expands this list into
 * the uprobe_multi dispatchers lib_entry_multi / lib_ret_multi (Linux 6.6+; the
 * attach cookie is PT_FN_<symbol>) and into one perf-event program per function
 * and side, <symbol>_entry / <symbol>_ret (older kernels).
 */
#define PT_LIB_PROBES(X)						\
	X(OPENSSL,  SSL_do_handshake,   on_ssl_handshake,    on_tls_ret)	\
	X(OPENSSL,  SSL_connect,        on_ssl_handshake,    on_tls_ret)	\
	X(OPENSSL,  SSL_accept,         on_ssl_handshake,    on_tls_ret)	\
	X(OPENSSL,  SSL_read,           on_ssl_read,         on_tls_ret)	\
	X(OPENSSL,  SSL_read_ex,        on_ssl_read_ex,      on_tls_ret)	\
	X(OPENSSL,  SSL_write,          on_ssl_write,        on_tls_ret)	\
	X(OPENSSL,  SSL_write_ex,       on_ssl_write_ex,     on_tls_ret)	\
	X(OPENSSL,  SSL_free,           on_tls_free,         NONE)		\
	X(GNUTLS,   gnutls_handshake,   on_gnutls_handshake, on_tls_ret)	\
	X(GNUTLS,   gnutls_record_recv, on_gnutls_recv,      on_tls_ret)	\
	X(GNUTLS,   gnutls_record_send, on_gnutls_send,      on_tls_ret)	\
	X(GNUTLS,   gnutls_deinit,      on_tls_free,         NONE)		\
	X(RESOLVER, getaddrinfo,        on_getaddrinfo,      on_getaddrinfo_ret) \
	X(RESOLVER, gethostbyname,      on_gethostbyname,    on_gethostbyname_ret) \
	X(RESOLVER, gethostbyname2,     on_gethostbyname,    on_gethostbyname_ret) \
	X(RESOLVER, gethostbyname_r,    on_gethostbyname_r,  on_gethostbyname_r_ret) \
	X(RESOLVER, gethostbyname2_r,   on_gethostbyname2_r, on_gethostbyname_r_ret) \
	X(DLOPEN,   dlopen,             NONE,                on_dlopen_ret)

/* The attach cookie of a library function: its line in PT_LIB_PROBES. */
enum pt_fn {
	PT_FN__NONE = 0,
#define PT_X_FN(set, sym, entry, ret) PT_FN_##sym,
	PT_LIB_PROBES(PT_X_FN)
#undef PT_X_FN
	PT_FN__N
};

/*
 * Socket I/O syscalls of the fallback for kernels without sock:sock_*_length
 * (bpf/io.bpf.c: programs sys_enter_NAME_io / sys_exit_NAME_io). X(name,
 * direction SEND or RECV, index of the flags argument or -1). The SEND ones
 * also time writes during spans (bpf/span.bpf.c: sys_enter_NAME_tp).
 */
#define PT_SYS_IO(X)			\
	X(read,     RECV, -1)		\
	X(readv,    RECV, -1)		\
	X(recvfrom, RECV, 3)		\
	X(recvmsg,  RECV, 2)		\
	X(write,    SEND, -1)		\
	X(writev,   SEND, -1)		\
	X(sendto,   SEND, -1)		\
	X(sendmsg,  SEND, -1)
/* PT_IF_SEND(dir, code): code only for the SEND syscalls */
#define PT_IF_SEND(dir, ...) PT_IF_SEND_##dir(__VA_ARGS__)
#define PT_IF_SEND_SEND(...) __VA_ARGS__
#define PT_IF_SEND_RECV(...)

/*
 * Go functions (user/attach: entry uprobe at the end of the stack check, and,
 * with RETS, a uprobe on every return instruction: never a uretprobe).
 * X(ID, "name", "alternative name" or NULL, entry program, return program or
 * NONE, cookie kind). The first name the binary has wins.
 */
#define PT_GO_PROBES(X)										\
	/* the handshake itself, not handshakeContext: every Read and Write passes there	\
	 * (its fast path returns at once) and each of its RETs is single-stepped */		\
	X(TLS_SERVER_HANDSHAKE, "crypto/tls.(*Conn).serverHandshake", NULL,			\
	  go_tls_server_handshake_entry, go_tls_ret, NONE)						\
	X(TLS_CLIENT_HANDSHAKE, "crypto/tls.(*Conn).clientHandshake", NULL,			\
	  go_tls_handshake_entry, go_tls_ret, NONE)						\
	X(TLS_READ, "crypto/tls.(*Conn).Read", NULL, go_tls_read_entry, go_tls_ret, NONE)	\
	X(TLS_WRITE, "crypto/tls.(*Conn).Write", NULL, go_tls_write_entry, go_tls_ret, NONE)	\
	/* every render, html/template's or text/template's, by Execute or ExecuteTemplate	\
	 * (text/template's Execute is inlined where it is called: no probe finds it) */	\
	X(TPL_EXECUTE, "text/template.(*Template).execute", NULL, go_render_entry,		\
	  go_render_ret, TPL)									\
	X(DNS, "net.(*Resolver).lookupIPAddr", NULL, go_dns_entry, go_dns_ret, NONE)		\
	X(NEWPROC1, "runtime.newproc1", NULL, go_newproc_entry, go_newproc_ret, NEWPROC)	\
	X(GOEXIT1, "runtime.goexit1", NULL, go_goexit_entry, NONE, NONE)			\
	X(HTTP_ROUNDTRIP, "net/http.(*Transport).roundTrip", NULL, go_http_roundtrip_entry,	\
	  NONE, NONE)										\
	X(HTTP_REQ_WRITE, "net/http.(*Request).write", NULL, go_http_reqwrite_entry, NONE, NONE) \
	/* html/template's Parse, ParseFiles, ParseGlob and text/template's all parse here */	\
	X(TPL_PARSE, "text/template.(*Template).Parse", NULL, go_tpl_parse_entry, NONE, NONE) \
	/* stop-the-world pauses (GC): render spans add up those they contain */		\
	X(STW_STOP, "runtime.stopTheWorldWithSema", NULL, go_stw_stop_entry, NONE, NONE)	\
	X(STW_START, "runtime.startTheWorldWithSema", NULL, go_stw_start_entry, NONE, NONE)	\
	/* the h2 server's handler goroutine: its stream becomes the parent of its work	\
	 * (bundled in net/http until 1.26, net/http/internal/http2 from 1.27) */		\
	X(H2_HANDLER, "net/http.(*http2serverConn).runHandler",				\
	  "net/http/internal/http2.(*serverConn).runHandler", go_h2_handler_entry,		\
	  NONE, H2_HANDLER)

/* Attach cookie of go_h2_handler_entry: the offsets of http2serverConn.conn, then
 * http2responseWriter.rws, http2responseWriterState.stream, http2stream.id, 16 bits each
 * (Go 1.27+: serverConn, responseWriter, ... of net/http/internal/http2) */
#define PT_H2H_OFF(cookie, i)	(((cookie) >> (16 * (i))) & 0xffff)

/* Attach cookie of go_tls_ret at the CALL runtime.memmove inside crypto/tls.(*Conn).Read
 * (user/attach/goprobes.c tls_read_exits()): the plaintext is in RBX, n in RCX; bits
 * 40-63: the site's depth below Read's entry (its frame). Its RETs carry 0. */
#define PT_GO_TLS_COPY		(1ULL << 32)
/* ... at the TEST RAX, RAX; Jcc after Read's CALL readRecordOrCCS: the call failed if
 * RAX (the error's type word) is not 0, and Read returns 0 bytes (tls_read_exits()) */
#define PT_GO_TLS_ERR		(1ULL << 33)
/* ... at the first emulated site after Write's CALL writeRecordLocked: RBX is its
 * error's type word; nil: all of len(b) was written (tls_write_exits()) */
#define PT_GO_TLS_WEND		(1ULL << 34)

/* Attach cookie of go_render_entry (on text/template's execute): the offset of
 * text/template.Template.name (the label). go_render_ret's: that | the site's depth
 * below execute's entry << 40. */
#define PT_TPL_NAME_OFF(cookie)	((cookie) & 0xffff)

#endif /* PT_PROBE_LIST_H */
