/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Plain-C stand-ins for what a BPF source takes from the BPF headers, so that
 * bpf/http.bpf.c builds into a fuzz target (it includes this when not compiled
 * for BPF): user memory is the fuzz input, a per-CPU scratch map a static buffer.
 */
#ifndef PT_BPF_SHIM_H
#define PT_BPF_SHIM_H

#include <stdbool.h>
#include <string.h>
#include <linux/types.h>
#include "phasetrace.h"

#define PT_SHARED
#define SEC(name)
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

struct http_scratch {
	char buf[PT_HTTP_PEEK];
};
static struct http_scratch http_scratch;
#define bpf_map_lookup_elem(map, key) ((void)(key), (map))

static inline long bpf_probe_read_user(void *dst, __u32 n, const void *src)
{
	memcpy(dst, src, n);
	return 0;
}

void http_parse_request(struct pt_req_rec *r, const void *ubuf, __u64 len);
void http_parse_connect(struct pt_req_rec *r, const void *ubuf, __u64 len);
void http_parse_status(struct pt_req_rec *r, const void *ubuf, __u64 len);

#endif
