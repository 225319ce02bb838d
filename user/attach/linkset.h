/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A set of uprobe attachments: libbpf links (perf-event uprobes, USDT) and
 * raw uprobe_multi link descriptors (libbpf 1.1 predates them), destroyed
 * together. Groups are all or nothing: take a mark, attach, and roll back to
 * the mark if any part failed (an entry probe without its returns would leave
 * calls open forever). Not thread-safe: one thread attaches; counts may be
 * read from another (they are updated atomically).
 */
#ifndef PT_LINKSET_H
#define PT_LINKSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bpf_link;
struct bpf_program;
struct linkset;

struct linkset *linkset__new(void);
/* Detaches everything (slow with perf-event uprobes: RCU grace periods). */
void linkset__free(struct linkset *ls);

/* Takes ownership of l (destroyed on failure). l == NULL: -errno of the failed attach. */
int linkset__add(struct linkset *ls, struct bpf_link *l, int nprobes);
/* One perf-event uprobe (or uretprobe) at file offset off of path. 0 or -errno. */
int linkset__uprobe(struct linkset *ls, const struct bpf_program *prog, const char *path,
		    uint64_t off, bool ret, uint64_t cookie);
/* One uprobe_multi link (Linux 6.6+) for n offsets of path. 0 or -errno. */
int linkset__uprobe_multi(struct linkset *ls, const struct bpf_program *prog, const char *path,
			  const uint64_t *offs, const uint64_t *cookies, int n, bool ret);

/* All-or-nothing groups: linkset__rollback(ls, mark) detaches what came after mark. */
size_t linkset__mark(const struct linkset *ls);
void linkset__rollback(struct linkset *ls, size_t mark);

/* Probe sites attached (a multi link counts its offsets). */
int linkset__nprobes(const struct linkset *ls);

#endif
