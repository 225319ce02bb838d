// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The functions every hook domain uses; see common.bpf.h. */
#include "common.bpf.h"

PT_SHARED void stat_inc(__u32 idx)
{
	stat_inc_hot(idx);
}

/*
 * Does the current thread's name match filter i (-c)? Its 16 bytes as two words against
 * the name and its NUL (comm_words, comm_masks: set by the loader), read in place where
 * the kernel has bpf_get_current_task_btf() (5.11+): no copy, no loop over bytes. Else
 * copied with bpf_get_current_comm(). On this hot path's every socket I/O of a process
 * the filter leaves out, the copy and byte loop cost 2.5 times as much.
 */
_Static_assert(PT_COMM_LEN == 2 * sizeof(__u64), "a thread name is two words");

static __always_inline void current_comm_words(__u64 w[2])
{
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task_btf)) {
		struct task_struct *task = bpf_get_current_task_btf();

		w[0] = *(__u64 *)&task->comm[0];
		w[1] = *(__u64 *)&task->comm[8];
	} else {
		bpf_get_current_comm(w, 2 * sizeof(__u64));
	}
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
		__u64 w[2];

		current_comm_words(w);
		for (__u32 i = 0; i < PT_MAX_COMM_FILTERS; i++) {
			if (i >= n_comm_filters)
				break;
			if (!((w[0] ^ comm_words[i][0]) & comm_masks[i][0]) &&
			    !((w[1] ^ comm_words[i][1]) & comm_masks[i][1]))
				return true;
		}
		return false;
	}
	return true;
}

/*
 * Wake a consumer that is behind by wakeup_bytes only when it is not reading:
 * its position (libbpf moves it after every record) has not moved over the
 * last RB_STILL_WAKE records submitted, and then once per RB_STILL_REWAKE
 * records while it still does not move (a consumer blocked in a write is not
 * woken in a loop). Every forced wakeup costs the producer an interrupt raised
 * on its CPU (an APIC write: a VM exit in a guest, microseconds); one per
 * record while the consumer was busy catching up took 80 % of the BPF time of
 * a busy keep-alive server. Counted in records, not time: no clock read. Races
 * between CPUs only wake twice or a few records later.
 */
#define RB_STILL_WAKE	32
#define RB_STILL_REWAKE	1024

static __always_inline bool consumer_asleep(void)
{
	__u64 cons = bpf_ringbuf_query(&rb, BPF_RB_CONS_POS);
	__u64 still;

	if (cons != rb_cons_pos) {
		rb_cons_pos = cons;
		rb_cons_still = 0;
		return false;
	}
	still = ++rb_cons_still;
	return still == RB_STILL_WAKE || !(still % RB_STILL_REWAKE);
}

PT_SHARED void pt_submit(void *rec, bool urgent)
{
	__u64 flags = BPF_RB_NO_WAKEUP;

	if (urgent || (bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA) >= wakeup_bytes &&
		       consumer_asleep())) {
		flags = BPF_RB_FORCE_WAKEUP;
		stat_inc(PT_STAT_RB_WAKEUPS);
	}
	bpf_ringbuf_submit(rec, flags);
}

/* Per-CPU counters: no shared cache line bouncing between CPUs; the count sits with the
 * hot stats (struct pt_stats), which the same hooks touch. */
PT_SHARED __u64 next_id(void)
{
	__u32 zero = 0;
	struct pt_stats *s = bpf_map_lookup_elem(&stats, &zero);

	if (!s)
		return 0;
	/* CPU + 1 above bit 40 (bits 40-51), a per-CPU count below: ids stay under
	 * 2^53, so JSON consumers that read numbers as doubles (jq) keep them exact;
	 * bit 52 is PT_ID_STREAM's */
	return ((__u64)(bpf_get_smp_processor_id() + 1) << 40) | ++s->ids;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
