/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* TLS sessions (bpf/tls.bpf.c): handshake timing and the socket each session writes to. */
#ifndef PT_TLS_BPF_H
#define PT_TLS_BPF_H

#include "common.bpf.h"
#include "conn.bpf.h"

/* A server's first I/O inside its handshake was a send: the hello was read before the
 * call, by a router that peeked it (cmux, Traefik), on another goroutine. */
#define TLS_SRV_SENT	1
/* Kernel I/O on skp (connection c) happened inside a library call on session ssl,
 * made by context t; rx_ts: when a server's read returned bytes, TLS_SRV_SENT for a
 * server's send, else 0. */
PT_SHARED void tls_map_session(__u64 ssl, __u64 skp, struct pt_conn *c, struct thread_ctx *t,
			       __u64 rx_ts);
/* Socket I/O outside any library call: a memory-BIO session's ciphertext? */
PT_SHARED bool tls_bio_io(__u64 skp, struct pt_conn *c, struct thread_ctx *t,
			  const struct conn_io_ev *ev, bool first);

#endif
