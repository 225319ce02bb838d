// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The functions every hook domain uses; see common.bpf.h. */
#include "common.bpf.h"

PT_SHARED void stat_inc(__u32 idx)
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

PT_SHARED bool pt_traced(__u32 tgid)
{
	if (tgid == self_tgid || tgid == 0)
		return false;
	if (has_pid_filter && !bpf_map_lookup_elem(&pid_filter, &tgid))
		return false;
	if (has_cgroup_filter) {
		__u64 cg = bpf_get_current_cgroup_id();

		if (!bpf_map_lookup_elem(&cgroup_filter, &cg))
			return false;
	}
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

PT_SHARED void pt_submit(void *rec, bool urgent)
{
	__u64 flags = BPF_RB_NO_WAKEUP;

	if (urgent || bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA) >= wakeup_bytes) {
		flags = BPF_RB_FORCE_WAKEUP;
		stat_inc(PT_STAT_RB_WAKEUPS);
	}
	bpf_ringbuf_submit(rec, flags);
}

/* Per-CPU counters: no shared cache line bouncing between CPUs. */
PT_SHARED __u64 next_id(void)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&ids, &zero);

	if (!v)
		return 0;
	/* CPU + 1 above bit 40, a per-CPU count below: ids stay under 2^53, so
	 * JSON consumers that read numbers as doubles (jq) keep them exact */
	return ((__u64)(bpf_get_smp_processor_id() + 1) << 40) | ++*v;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
