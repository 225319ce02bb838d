/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The -C/--container filter: the cgroup ids of the named containers (id or id
 * prefix, or a systemd unit name; container_matches()) and of every cgroup
 * below them go into the BPF map cgroup_filter, which pt_traced() checks. The
 * hierarchy is rescanned every second (cgfilter__rescan from the event loop),
 * so containers started later are traced from then on and the ids of removed
 * cgroups leave the map. A full map (PT_MAX_CGROUP_FILTERS) is counted and
 * warned about once.
 */
#ifndef PT_CGFILTER_H
#define PT_CGFILTER_H

#include <stdint.h>
#include "assemble/cgroups.h"

#define CGF_MAX_NAMES	16
#define CGF_RESCAN_NS	1000000000ULL

struct cgfilter;

/*
 * First scan. Fails with one message and -ENOENT if no name matches any
 * cgroup; a name that matches nothing yet gets a warning and is watched for.
 */
int cgfilter__new(struct cgroups *cg, int map_fd, const char *const *names, int n,
		  struct cgfilter **out);
void cgfilter__free(struct cgfilter *f);
/* Every CGF_RESCAN_NS: add new cgroups, remove gone ones. */
void cgfilter__rescan(struct cgfilter *f, uint64_t now_ns);
uint32_t cgfilter__count(const struct cgfilter *f);
uint64_t cgfilter__full(const struct cgfilter *f);

#endif
