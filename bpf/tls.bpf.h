/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* TLS sessions: handshake timing and the socket each session writes to. */
#ifndef PT_TLS_BPF_H
#define PT_TLS_BPF_H

#include "conn.bpf.h"

struct ssl_key {
	__u32 tgid;
	__u32 pad;
	__u64 ssl;
};

struct ssl_state {
	__u64 sk;		/* struct sock * once mapped */
	__u64 hs_start;		/* first library call on the session */
	__u64 hs_end;
	__u8 hs_done;
	__u8 lib;
	__u8 pad[6];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, struct ssl_key);
	__type(value, struct ssl_state);
} ssl_states SEC(".maps") __weak;

static __always_inline struct ssl_state *ssl_state_lookup(__u64 ssl)
{
	struct ssl_key k = { .tgid = bpf_get_current_pid_tgid() >> 32, .ssl = ssl };

	return bpf_map_lookup_elem(&ssl_states, &k);
}

/* Kernel I/O on skp happened inside a library call on session ssl, made by context t. */
static __always_inline void tls_map_session(__u64 ssl, __u64 skp, struct pt_conn *c,
					    struct thread_ctx *t)
{
	struct ssl_state *s = ssl_state_lookup(ssl);

	if (!s)
		return;
	if (s->sk && s->sk != skp) {
		/* the session object was recycled for a new connection (its free
		 * was missed): start over, the handshake runs from this call */
		s->hs_done = 0;
		s->hs_end = 0;
		s->hs_start = t ? t->ssl_entry : bpf_ktime_get_ns();
	}
	s->sk = skp;
	if (!s->hs_done && s->hs_start && !c->req.tls_start && !c->req.req_first)
		c->req.tls_start = s->hs_start;
}

#endif
