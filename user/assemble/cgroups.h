/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * cgroup v2 ids (from BPF records) to paths and container identity
 * (container.h), and container names (-C) to cgroup ids.
 *
 * The hierarchy is found in /proc/self/mountinfo (the first cgroup2 mount,
 * /sys/fs/cgroup preferred). A cgroup's id is its directory's file handle
 * (name_to_handle_at: the kernfs node id that bpf_get_current_cgroup_id()
 * returns). An id seen for the first time is resolved through the record's
 * process, /proc/PID/cgroup's "0::" line, checked against the id (the process
 * may have moved or exited and its pid been reused); failing that, by a walk
 * of the hierarchy (bounded: CG_WALK_MAX directories, 32 levels), so a
 * process that already exited is still resolved while its cgroup exists. An
 * id found nowhere is remembered as unknown for CG_NEG_NS before another try.
 * The cache is bounded (least recently used entry evicted, counted).
 * Run in a cgroup namespace of its own, phasetrace sees (and resolves) only
 * the cgroups below that namespace's root: /proc/PID/cgroup shows the others
 * as "/../..." paths, which are never followed out of the mount.
 */
#ifndef PT_CGROUPS_H
#define PT_CGROUPS_H

#include <stdint.h>
#include "assemble/container.h"

#define CG_CACHE_MAX	4096
#define CG_WALK_MAX	65536		/* directories visited per walk */
#define CG_NEG_NS	5000000000ULL	/* an unresolved id is retried after this */

struct cgroups;

struct cgroups_stats {
	uint64_t hits, misses;		/* cache lookups */
	uint64_t from_proc, from_walk;	/* how misses were resolved */
	uint64_t unresolved;		/* misses found nowhere (exited cgroup, over the bound) */
	uint64_t evicted;		/* cache entries dropped for room */
	uint64_t walks, walk_truncated;	/* hierarchy walks; those cut at CG_WALK_MAX */
	uint32_t cached;
};

/* root: the cgroup2 mount to use, NULL to find it. Returns 0 or -errno (-ENOENT: no cgroup2). */
int cgroups__new(const char *root, struct cgroups **out);
void cgroups__free(struct cgroups *cg);
const char *cgroups__root(const struct cgroups *cg);

/* c->cgroup_id set: fills the rest of *c (cgroup "" if unknown). pid: the record's process. */
void cgroups__fill(struct cgroups *cg, uint32_t pid, uint64_t now_ns, struct container *c);

/*
 * Every cgroup whose container matches want (container_matches()) and every
 * cgroup below it: cb(ctx, id) for each. Returns the number of cgroups found
 * or -errno.
 */
typedef int (*cgroups_cb)(void *ctx, uint64_t id);
int cgroups__match(struct cgroups *cg, const char *want, cgroups_cb cb, void *ctx);
/* The same for any of n names in one walk; found_by[i] (may be NULL): cgroups name i matched. */
int cgroups__match_any(struct cgroups *cg, const char *const *want, int n, uint32_t *found_by,
		       cgroups_cb cb, void *ctx);

/* The cgroup id of a directory (fd-relative name), 0 if it has none. */
uint64_t cgroups__dir_id(int dirfd, const char *name);

void cgroups__stats(const struct cgroups *cg, struct cgroups_stats *st);

#endif
