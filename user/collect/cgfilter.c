// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The -C filter's cgroup ids in BPF; see cgfilter.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "collect/cgfilter.h"
#include "util/log.h"
#include "util/u64map.h"
#include "phasetrace.h"

struct cgfilter {
	struct cgroups *cg;
	int map_fd;
	const char *names[CGF_MAX_NAMES];
	int nnames;
	struct u64map ids;	/* cgroup id -> generation it was last seen in (as a pointer) */
	uintptr_t gen;
	uint64_t next_scan;
	uint64_t full;		/* ids the BPF map had no room for */
	uint32_t added;		/* ids added by the current scan */
	bool warned_full;
};

static int add_id(void *ctx, uint64_t id)
{
	struct cgfilter *f = ctx;
	__u8 one = 1;

	if (u64map_get(&f->ids, id)) {
		u64map_put(&f->ids, id, (void *)f->gen);
		return 0;
	}
	if (bpf_map_update_elem(f->map_fd, &id, &one, BPF_ANY)) {
		f->full++;
		if (!f->warned_full)
			pt_warn("-C: more than %d cgroups match: the ones over are not traced",
				PT_MAX_CGROUP_FILTERS);
		f->warned_full = true;
		return 0;
	}
	f->added++;
	return u64map_put(&f->ids, id, (void *)f->gen);
}

/* One walk for every name; returns how many names matched something. */
static int scan(struct cgfilter *f, bool warn)
{
	uint32_t found_by[CGF_MAX_NAMES] = {};
	int matched = 0;

	f->gen++;
	f->added = 0;
	cgroups__match_any(f->cg, f->names, f->nnames, found_by, add_id, f);
	for (int i = 0; i < f->nnames; i++) {
		if (found_by[i])
			matched++;
		else if (warn)
			pt_warn("-C %s: no container matches yet under %s; watching for it",
				f->names[i], cgroups__root(f->cg));
	}
	return matched;
}

/* Ids not seen by the last scan: their cgroups are gone. */
static void sweep(struct cgfilter *f)
{
	uint64_t gone[256], id;
	size_t it = 0;
	void *v;
	int n = 0;

	while (n < 256 && u64map_next(&f->ids, &it, &id, &v))
		if ((uintptr_t)v != f->gen)
			gone[n++] = id;
	for (int i = 0; i < n; i++) {
		bpf_map_delete_elem(f->map_fd, &gone[i]);
		u64map_del(&f->ids, gone[i]);
	}
}

int cgfilter__new(struct cgroups *cg, int map_fd, const char *const *names, int n,
		  struct cgfilter **out)
{
	struct cgfilter *f = calloc(1, sizeof(*f));
	int err = -ENOMEM;

	*out = NULL;
	if (!f || u64map_init(&f->ids, 64))
		goto cleanup;
	f->cg = cg;
	f->map_fd = map_fd;
	f->nnames = n < CGF_MAX_NAMES ? n : CGF_MAX_NAMES;
	memcpy(f->names, names, f->nnames * sizeof(*names));
	if (!scan(f, f->nnames > 1)) {
		pt_err("-C: no container matches %s%s under %s (a container id or prefix, or a "
		       "systemd unit name)", names[0], n > 1 ? " or the others" : "",
		       cgroups__root(cg));
		err = -ENOENT;
		goto cleanup;
	}
	pt_info("-C: %zu cgroups traced", f->ids.len);
	*out = f;
	return 0;
cleanup:
	cgfilter__free(f);
	return err;
}

void cgfilter__free(struct cgfilter *f)
{
	if (!f)
		return;
	u64map_free(&f->ids);
	free(f);
}

void cgfilter__rescan(struct cgfilter *f, uint64_t now_ns)
{
	if (!f || now_ns < f->next_scan)
		return;
	f->next_scan = now_ns + CGF_RESCAN_NS;
	scan(f, false);
	sweep(f);
	if (f->added)
		pt_info("-C: %u more cgroups traced (%zu in all)", f->added, f->ids.len);
}

uint32_t cgfilter__count(const struct cgfilter *f)
{
	return f ? f->ids.len : 0;
}

uint64_t cgfilter__full(const struct cgfilter *f)
{
	return f ? f->full : 0;
}
