/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Where assembled requests go. The assembler calls every registered sink
 * with each finished top-level request (children hang off it); outputs
 * (waterfall, JSON, metrics, top) are sinks.
 */
#ifndef PT_SINK_H
#define PT_SINK_H

#include "assemble/request.h"

struct sink {
	const char *name;
	void (*on_request)(void *ctx, const struct request *req);
	void *ctx;
};

/* Monotonic ns -> unix epoch ns: calibrated by the collector at start and at each tick
 * (the wall clock is stepped under a running tracer); outputs use the copy stamped on
 * each request (request.epoch_off), not this. */
extern int64_t pt_mono_to_epoch_ns;

/* The offset as of the last calibration: the assembler stamps it on each request it
 * emits (request.epoch_off), once, so that no two outputs of it disagree. */
static inline int64_t pt_epoch_off(void)
{
	return __atomic_load_n(&pt_mono_to_epoch_ns, __ATOMIC_RELAXED);
}

/* mono_ns (CLOCK_MONOTONIC) of request r on the wall clock */
static inline int64_t pt_req_epoch_ns(const struct request *r, uint64_t mono_ns)
{
	return (int64_t)mono_ns + r->epoch_off;
}

#endif
