/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Go programs seen from uprobes (amd64, register ABI, Go >= 1.17): the
 * current goroutine, per-goroutine probe state and goroutine ancestry,
 * defined in bpf/go.bpf.c.
 *
 * Return probes are uprobes on each RET instruction (uretprobes crash Go).
 * "Outermost call" is decided by the frame depth stack.hi - SP rather than by
 * a counter alone: it survives stack copies (both move together), and a call
 * that a panic unwound past its RETs cannot stay open for ever: a later entry
 * is nested only if it is deeper and the open call's return address is still
 * in its stack slot (see go_outer_live()).
 */
#ifndef PT_GO_BPF_H
#define PT_GO_BPF_H

#include "common.bpf.h"

/* Goroutine key, id and frame depth (depth may be NULL) at a uprobe: g is R14;
 * false if this is not a traced Go process. */
PT_SHARED bool go_key_at(struct pt_regs *ctx, __u64 *key, __u64 *goid, __u64 *depth);
/* Return address of the function whose entry we are at. */
PT_SHARED __u64 go_entry_ret(struct pt_regs *ctx);
/* At the entry of a call at depth d: is the call opened at depth d0 with return
 * address ret0 still running, i.e. is this one nested in it? */
PT_SHARED bool go_outer_live(struct pt_regs *ctx, __u64 d, __u64 d0, __u64 ret0);
/* Looked up or created; NULL when the table is full (counted). The entry is an open
 * lookupIPAddr call's and goes when it returns (go_dns_ret()): no goexit1. */
PT_SHARED struct go_g *go_g_get(__u64 key);
/* The server request the context key serves, 0 if none or unknown (event loop). */
PT_SHARED __u64 ctx_srv_req(__u64 key);
/* The server request a goroutine works for when it serves none itself, or 0. */
PT_SHARED __u64 go_inherited_req(__u64 key);
/* A server request req_id started on socket skp on goroutine key. */
PT_SHARED void go_server_req_started(__u64 key, __u64 skp, __u64 req_id);
/* Go process tgid keeps goroutine state its end must clear: probe runtime.goexit1 there
 * (asked once; bpf/proc.bpf.c). */
PT_SHARED void go_want_exit(__u32 tgid);
/* Whether Go process tgid has asked for runtime.goexit1's probe (or has it). */
PT_SHARED bool go_exit_probed(__u32 tgid);
/* Server connection skp (c) closes: forget the state of the goroutine that served it. */
PT_SHARED void go_conn_closed(__u64 skp, struct pt_conn *c);
/* Stop-the-world time of Go process tgid so far (ns, the pause in progress included). */
PT_SHARED __u64 go_stw_ns(__u32 tgid);

#endif
