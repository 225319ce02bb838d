/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * HTTP/2 (bpf/h2.bpf.c). A connection whose first request bytes are the
 * client preface ("PRI * HTTP/2.0...") is HTTP/2: from then on its plaintext
 * (socket payload for h2c, TLS library buffers for h2) is walked frame header
 * by frame header, a bounded number per I/O call, and the frames that matter
 * per stream go to userspace (PT_REC_H2), where streams become requests. The
 * request state machine (conn.bpf.c) no longer sees the connection.
 */
#ifndef PT_H2_BPF_H
#define PT_H2_BPF_H

#include "common.bpf.h"
#include "conn.bpf.h"

/* Where an I/O's bytes are: one buffer, or an iovec array (writev, sendmsg, ...). */
struct h2_buf {
	const void *buf;	/* the bytes, if not vectored */
	const void *iov;	/* struct iovec[niov] in user memory, or NULL */
	__u32 niov;
};

/* Does h2_io() want this I/O (an h2 connection, or one not yet looked at)? */
static __always_inline bool h2_wants(const struct pt_conn *c)
{
	return (c->cflags & (PT_C_H2 | PT_C_PROTO)) != PT_C_PROTO;
}

/* One payload I/O of ev->n bytes in b (user memory) on connection c; true if the
 * connection is HTTP/2 and the I/O was taken (conn_io() must not see it). */
PT_SHARED bool h2_io(__u64 skp, struct pt_conn *c, const struct conn_io_ev *ev,
		     const struct h2_buf *b);
/* Go server: stream sid's handler goroutine starts; its work carries req_id as parent.
 * False if userspace was not told (ring buffer full). */
PT_SHARED bool h2_handler_started(struct pt_conn *c, __u32 sid, __u64 req_id, __u64 goid);
/* The connection closes: tells userspace, forgets the frame state. */
PT_SHARED void h2_close(__u64 skp, struct pt_conn *c);

#endif
