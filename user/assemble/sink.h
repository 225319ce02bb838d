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

/* Monotonic ns -> unix epoch ns; set once at start by the collector. */
extern int64_t pt_mono_to_epoch_ns;

#endif
