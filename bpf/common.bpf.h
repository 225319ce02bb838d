/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Maps, tunables and helpers shared by every hook domain. Each .bpf.c
 * includes this; maps and tunables are __weak so that `bpftool gen object`
 * merges the identical definitions into one.
 */
#ifndef PT_COMMON_BPF_H
#define PT_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "phasetrace.h"

#define AF_INET		2
#define AF_INET6	10
#define IPPROTO_TCP	6
#define MSG_PEEK	2

/* Tunables, set by the collector before load. */
const volatile __u32 self_tgid __weak = 0;
const volatile bool has_pid_filter __weak = false;
const volatile __u32 n_comm_filters __weak = 0;
const volatile char comm_filters[PT_MAX_COMM_FILTERS][PT_COMM_LEN] __weak = {};
/* Wake the consumer only once this much is queued (bytes); it polls anyway. */
const volatile __u64 wakeup_bytes __weak = 256 * 1024;
/* bpf_task_pt_regs() (5.15): lets socket hooks peek at the syscall buffer. */
const volatile bool has_task_pt_regs __weak = false;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024);
} rb SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PT_STAT__MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps") __weak;

/* tgid -> 1 for -p PID */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} pid_filter SEC(".maps") __weak;

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);

	if (v)
		*v += 1;	/* per-CPU: no atomics needed */
}

static __always_inline bool comm_eq(const char *a, const volatile char *b)
{
	for (int i = 0; i < PT_COMM_LEN; i++) {
		if (a[i] != b[i])
			return false;
		if (!a[i])
			return true;
	}
	return true;
}

/* Is this process one we trace? Cheap when no filter is set. */
static __always_inline bool pt_traced(__u32 tgid)
{
	if (tgid == self_tgid || tgid == 0)
		return false;
	if (has_pid_filter && !bpf_map_lookup_elem(&pid_filter, &tgid))
		return false;
	if (n_comm_filters) {
		char comm[PT_COMM_LEN];

		bpf_get_current_comm(comm, sizeof(comm));
		for (__u32 i = 0; i < PT_MAX_COMM_FILTERS; i++) {
			if (i >= n_comm_filters)
				break;
			if (comm_eq(comm, comm_filters[i]))
				return true;
		}
		return false;
	}
	return true;
}

/* Submit with batched wakeups: the consumer polls on a timer and is only
 * woken early when a lot is queued, or when asked to (urgent). */
static __always_inline void pt_submit(void *rec, bool urgent)
{
	__u64 flags = BPF_RB_NO_WAKEUP;

	if (urgent || bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA) >= wakeup_bytes) {
		flags = BPF_RB_FORCE_WAKEUP;
		stat_inc(PT_STAT_RB_WAKEUPS);
	}
	bpf_ringbuf_submit(rec, flags);
}

#endif
