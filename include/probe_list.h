/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What is probed, in one place. Each list is an X-macro: the BPF dispatch
 * (cookies), the per-function programs of the perf-event fallback and the
 * userspace attach tables (user/attach/probe_table.c) all expand from it.
 * Program names are skeleton fields (skel->progs.NAME): a typo does not
 * compile. Adding a library uprobe is one line here plus its BPF handler.
 */
#ifndef PT_PROBE_LIST_H
#define PT_PROBE_LIST_H

/*
 * Library sets: a set applies to a file that defines its key symbol.
 * X(SET, what, key symbol, uprobe_multi entry dispatcher, return dispatcher)
 */
#define PT_LIB_SETS(X)									\
	X(OPENSSL,  "openssl",       SSL_do_handshake, tls_entry_multi, tls_ret_multi)	\
	X(GNUTLS,   "gnutls",        gnutls_handshake, tls_entry_multi, tls_ret_multi)	\
	X(RESOLVER, "libc resolver", getaddrinfo,      dns_entry_multi, dns_ret_multi)	\
	X(DLOPEN,   "dlopen",        dlopen,           NONE,            dlopen_ret_multi)

/*
 * Library functions. X(SET, symbol, PT_FN_ id (the attach cookie of the
 * dispatchers), perf-event entry program, perf-event return program);
 * NONE where a side is not probed.
 */
#define PT_LIB_PROBES(X)								\
	X(OPENSSL,  SSL_do_handshake, SSL_HANDSHAKE,     ssl_handshake_entry,    tls_ret)	\
	X(OPENSSL,  SSL_connect,      SSL_HANDSHAKE,     ssl_handshake_entry,    tls_ret)	\
	X(OPENSSL,  SSL_accept,       SSL_HANDSHAKE,     ssl_handshake_entry,    tls_ret)	\
	X(OPENSSL,  SSL_read,         SSL_READ,          ssl_read_entry,         tls_ret)	\
	X(OPENSSL,  SSL_read_ex,      SSL_READ_EX,       ssl_read_ex_entry,      tls_ret)	\
	X(OPENSSL,  SSL_write,        SSL_WRITE,         ssl_write_entry,        tls_ret)	\
	X(OPENSSL,  SSL_write_ex,     SSL_WRITE_EX,      ssl_write_ex_entry,     tls_ret)	\
	X(OPENSSL,  SSL_free,         TLS_FREE,          tls_free_entry,         NONE)		\
	X(GNUTLS,   gnutls_handshake, GNUTLS_HANDSHAKE,  gnutls_handshake_entry, tls_ret)	\
	X(GNUTLS,   gnutls_record_recv, GNUTLS_RECV,     gnutls_recv_entry,      tls_ret)	\
	X(GNUTLS,   gnutls_record_send, GNUTLS_SEND,     gnutls_send_entry,      tls_ret)	\
	X(GNUTLS,   gnutls_deinit,    TLS_FREE,          tls_free_entry,         NONE)		\
	X(RESOLVER, getaddrinfo,      GETADDRINFO,       getaddrinfo_entry,      getaddrinfo_ret) \
	X(RESOLVER, gethostbyname,    GETHOSTBYNAME,     gethostbyname_entry,    gethostbyname_ret) \
	X(RESOLVER, gethostbyname2,   GETHOSTBYNAME,     gethostbyname_entry,    gethostbyname_ret) \
	X(RESOLVER, gethostbyname_r,  GETHOSTBYNAME_R,   gethostbyname_r_entry,  gethostbyname_r_ret) \
	X(RESOLVER, gethostbyname2_r, GETHOSTBYNAME2_R,  gethostbyname2_r_entry, gethostbyname_r_ret) \
	X(DLOPEN,   dlopen,           DLOPEN,            NONE,                   dlopen_ret)

/*
 * Go functions (user/attach: entry uprobe at the end of the stack check, and,
 * with RETS, a uprobe on every return instruction: never a uretprobe).
 * X(ID, "name", "alternative name" or NULL, entry program, return program or
 * NONE, cookie kind). The first name the binary has wins.
 */
#define PT_GO_PROBES(X)										\
	/* handshakeContext: HandshakeContext is a one-line wrapper that may be inlined */	\
	X(TLS_HANDSHAKE, "crypto/tls.(*Conn).handshakeContext",					\
	  "crypto/tls.(*Conn).HandshakeContext", go_tls_handshake_entry, go_tls_ret, NONE)	\
	X(TLS_READ, "crypto/tls.(*Conn).Read", NULL, go_tls_read_entry, go_tls_ret, NONE)	\
	X(TLS_WRITE, "crypto/tls.(*Conn).Write", NULL, go_tls_write_entry, go_tls_ret, NONE)	\
	X(HTML_EXECUTE, "html/template.(*Template).Execute", NULL, go_render_entry,		\
	  go_render_ret, TPL_HTML)								\
	X(HTML_EXECUTE_TEMPLATE, "html/template.(*Template).ExecuteTemplate", NULL,		\
	  go_render_entry, go_render_ret, TPL_BY_NAME)						\
	X(TEXT_EXECUTE, "text/template.(*Template).Execute", NULL, go_render_entry,		\
	  go_render_ret, TPL_TEXT)								\
	X(TEXT_EXECUTE_TEMPLATE, "text/template.(*Template).ExecuteTemplate", NULL,		\
	  go_render_entry, go_render_ret, TPL_BY_NAME)						\
	X(DNS, "net.(*Resolver).lookupIPAddr", NULL, go_dns_entry, go_dns_ret, NONE)		\
	X(NEWPROC1, "runtime.newproc1", NULL, go_newproc_entry, go_newproc_ret, NEWPROC)	\
	X(GOEXIT1, "runtime.goexit1", NULL, go_goexit_entry, NONE, NONE)			\
	X(HTTP_ROUNDTRIP, "net/http.(*Transport).roundTrip", NULL, go_http_roundtrip_entry,	\
	  NONE, NONE)										\
	X(HTTP_REQ_WRITE, "net/http.(*Request).write", NULL, go_http_reqwrite_entry, NONE, NONE)

/* Attach cookie of go_render_entry: kind | html.text offset << 8 | text.name offset << 24 */
#define PT_TPL_TEXT_EXECUTE	0
#define PT_TPL_HTML_EXECUTE	1
#define PT_TPL_EXECUTE_TEMPLATE	2

#endif /* PT_PROBE_LIST_H */
