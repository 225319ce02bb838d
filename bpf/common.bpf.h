/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What every hook domain needs: kernel types, libbpf helpers, the shared
 * records, every map and tunable (maps.bpf.h) and the functions common to all
 * (bpf/common.bpf.c). Declarations only: logic lives in one .bpf.c, linked
 * into one object by `bpftool gen object`.
 *
 * Shared functions are global, hidden and not inlined (`PT_SHARED`): one copy
 * in the linked object, and libbpf marks hidden global functions static for
 * the verifier, which then checks them in the context of each caller (they may
 * take and return pointers to map values). A BPF call passes at most five
 * arguments.
 */
#ifndef PT_COMMON_BPF_H
#define PT_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "phasetrace.h"
#include "maps.bpf.h"

#define PT_SHARED	__attribute__((visibility("hidden"))) __noinline

#define AF_INET		2
#define AF_INET6	10
#define IPPROTO_TCP	6
#define MSG_OOB		1
#define MSG_PEEK	2
#define MSG_ERRQUEUE	0x2000

/* Count one event in the per-CPU stats map (PT_STAT_*), inlined: for what counts every
 * socket I/O or request (no call; since Linux 6.10 the verifier inlines a per-CPU
 * array's lookup, a few instructions). */
static __always_inline void stat_inc_hot(__u32 idx)
{
	__u32 zero = 0;
	struct pt_stats *s = bpf_map_lookup_elem(&stats, &zero);

	if (s && idx < PT_STAT__MAX)
		s->v[idx] += 1;	/* per-CPU: no atomics needed */
}
/* The same as one shared function: for the rarer counters, one copy of the code. */
PT_SHARED void stat_inc(__u32 idx);

/* Set a flag that is only ever set, once: read first, so that its cache line is not
 * written (and bounced between CPUs) at every call. */
static __always_inline void flag_set_once(volatile bool *flag)
{
	if (!*flag)
		*flag = true;
}
/* Is this process one we trace? Cheap when no filter is set. */
PT_SHARED bool pt_traced(__u32 tgid);
/* Was a filter set (-p, -c, --cgroup)? Read-only data: without one, the verifier
 * drops the code under it. */
static __always_inline bool pt_filtering(void)
{
	return has_pid_filter || has_cgroup_filter || n_comm_filters;
}
/*
 * Can the collector have reported, as idle, a request whose response was last active at
 * last, by now (flush_idle(): quiet for idle_flush_ns)? With half of that as margin; a
 * now before last (another CPU's clock read) or none (0) can have. The one rule of the
 * kernel's aggregation (kagg_eligible()), render folding (span_fold()) and the marking of
 * idle reports' copies (conn_idle_sent()).
 */
static __always_inline bool idle_report_possible(__u64 now, __u64 last)
{
	return !now || now < last || now - last >= idle_flush_ns / 2;
}
/* Submit with batched wakeups: the consumer polls on a timer and is only woken
 * early when a lot is queued, or when asked to (urgent). */
PT_SHARED void pt_submit(void *rec, bool urgent);
/* A new id, unique for the life of the loaded object (requests, connections). */
PT_SHARED __u64 next_id(void);
/* Bit 52 of an id (next_id() leaves it clear, and ids stay under 2^53): a Go HTTP/2
 * stream handler's request (go.bpf.c). Never counted in the kernel (its stream is
 * assembled in userspace), so its children make no kagg_kids mark (kagg_child()). */
#define PT_ID_STREAM	(1ULL << 52)

/*
 * The value at key in a hash map, inserted as *zero (a value of the map's size)
 * when missing; NULL when the map is full, counted as stat.
 */
static __always_inline void *map_get_or_init(void *map, const void *key, const void *zero,
					     __u32 stat)
{
	void *v = bpf_map_lookup_elem(map, key);

	if (v)
		return v;
	if (bpf_map_update_elem(map, key, zero, BPF_NOEXIST) && !bpf_map_lookup_elem(map, key)) {
		stat_inc(stat);
		return NULL;
	}
	return bpf_map_lookup_elem(map, key);
}

#endif
