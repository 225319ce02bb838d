// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * --probe spans on native code: uprobe at entry and uretprobe (or, for Go
 * code, a uprobe on every return instruction: never uretprobes there), the
 * span index in the attach cookie; USDT start/end probe pairs.
 * Write syscalls are timed only while a span runs (render io_ns); those
 * tracepoints are loaded only when spans are configured.
 */
#include "span.bpf.h"
#include <bpf/usdt.bpf.h>

static __always_inline int enter(__u32 idx)
{
	__u64 goid, key;

	if (!pt_traced(bpf_get_current_pid_tgid() >> 32))
		return 0;
	stat_inc(PT_STAT_UPROBE_EVENTS);
	key = exec_key_goid(&goid);
	span_enter(key, idx, NULL, 0);
	return 0;
}

static __always_inline int leave(__u32 idx)
{
	__u64 goid, key;

	if (!pt_traced(bpf_get_current_pid_tgid() >> 32))
		return 0;
	key = exec_key_goid(&goid);
	span_exit(key, idx, goid);
	return 0;
}

SEC("uprobe")
int span_entry(struct pt_regs *ctx)
{
	return enter(bpf_get_attach_cookie(ctx));
}

/* attached as a uretprobe (native) or as a uprobe on each RET (Go) */
SEC("uprobe")
int span_exit_prog(struct pt_regs *ctx)
{
	return leave(bpf_get_attach_cookie(ctx));
}

SEC("usdt")
int span_usdt_start(struct pt_regs *ctx)
{
	return enter(bpf_usdt_cookie(ctx));
}

SEC("usdt")
int span_usdt_end(struct pt_regs *ctx)
{
	return leave(bpf_usdt_cookie(ctx));
}

/* Writes while a span runs: the entry time; io.bpf.c adds the blocked time. */
static __always_inline int write_enter(void)
{
	struct thread_ctx *t;

	t = thread_lookup(exec_key());
	if (t && t->spans_active)
		t->wr_enter = bpf_ktime_get_ns();
	return 0;
}

SEC("?tracepoint/syscalls/sys_enter_write")
int sys_enter_write_tp(void *ctx) { return write_enter(); }
SEC("?tracepoint/syscalls/sys_enter_writev")
int sys_enter_writev_tp(void *ctx) { return write_enter(); }
SEC("?tracepoint/syscalls/sys_enter_sendto")
int sys_enter_sendto_tp(void *ctx) { return write_enter(); }
SEC("?tracepoint/syscalls/sys_enter_sendmsg")
int sys_enter_sendmsg_tp(void *ctx) { return write_enter(); }

char LICENSE[] SEC("license") = "Dual BSD/GPL";
