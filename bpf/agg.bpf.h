/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * In-kernel aggregation (bpf/agg.bpf.c; docs/metrics.md, "Counted in the kernel").
 *
 * With kagg_mode set (serve, top without a trace output), a finished keep-alive
 * request that needs nothing from userspace is added to per-CPU histograms
 * (kagg_hist) under the label id userspace wrote for its connection (kagg_labels),
 * instead of crossing the ring buffer. What needs userspace still crosses: a
 * connection's first request (the label and the DNS join come from it), requests
 * with children or spans, errors, closes, requests the collector may have flushed
 * as idle, and everything of HTTP/2.
 */
#ifndef PT_AGG_BPF_H
#define PT_AGG_BPF_H

#include "common.bpf.h"

/* kagg_request() results */
#define PT_KAGG_SEND	0	/* not counted: send the record */
#define PT_KAGG_DONE	1	/* counted: no record */
#define PT_KAGG_FLAG	2	/* counted, and send the record flagged PT_F_KAGG (check mode) */

/* The request in flight on c is finishing (end_reason) at now, the clock of the I/O that
 * ends it (0 if none): count it here if it can be. in_tp: called from a tracepoint's
 * program (preemption disabled), not a uprobe's. */
PT_SHARED int kagg_request(struct pt_conn *c, __u8 end_reason, __u64 now, bool in_tp);
/* A child (outbound request, span, lookup) of server request parent_id was seen: that
 * request goes to userspace, which nests them. */
PT_SHARED void kagg_mark_parent(__u64 parent_id);

/* The one line each site with a parent id calls: nothing unless aggregating, nor for a
 * parent the kernel never counts (an h2 stream's: PT_ID_STREAM), whose mark would
 * never go. */
static __always_inline void kagg_child(__u64 parent_id)
{
	if (kagg_mode && parent_id && !(parent_id & PT_ID_STREAM))
		kagg_mark_parent(parent_id);
}

#endif
