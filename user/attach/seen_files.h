/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Files already looked at, so that each is opened, analysed and attached
 * once. An entry has two keys: the device and inode a process shows for the
 * file (its /proc/PID/maps line, fstat of the opened descriptor), and the
 * identity of the inode the kernel puts uprobes on (discovery.h's
 * file_kernel_id: different from the first on overlayfs, where every
 * container of one image shows its own device for the same lower file).
 *
 * Bounded: when full, the least recently used entry without probes is
 * evicted (a later sight opens and analyses it again) and counted; files
 * with probes are never evicted, and at most max_probed of them exist
 * (a further one is refused, counted). Not thread-safe (the worker's).
 */
#ifndef PT_SEEN_FILES_H
#define PT_SEEN_FILES_H

#include <stdbool.h>
#include <stdint.h>
#include "phasetrace.h"

struct file_key {
	uint64_t dev, ino;
};

enum seen_state {
	SEEN_PLAIN,	/* analysed, nothing attached (not a target, or failed) */
	SEEN_PROBED,	/* probes attached to this file */
	SEEN_ALIAS,	/* another name of a SEEN_PROBED file's kernel inode */
};

struct seen_file {
	struct file_key key, kid;
	enum seen_state state;
	bool is_go;		/* processes running it go into the go_procs map */
	struct pt_go_proc go;
	uint64_t used;		/* LRU clock */
};

struct seen_counts {
	int entries, probed;
	uint64_t evicted;	/* entries dropped to make room */
	uint64_t refused;	/* files not attached: max_probed reached */
};

struct seen_files;

struct seen_files *seen_files__new(int max_entries, int max_probed);
void seen_files__free(struct seen_files *sf);
/* Pointers stay valid until the next seen_files__add. NULL if absent. */
struct seen_file *seen_files__find(struct seen_files *sf, const struct file_key *key);
/* The SEEN_PROBED entry for this kernel inode, or NULL. */
struct seen_file *seen_files__find_probed(struct seen_files *sf, const struct file_key *kid);
/* A new SEEN_PLAIN entry, evicting if needed; NULL only if every slot has probes. */
struct seen_file *seen_files__add(struct seen_files *sf, const struct file_key *key,
				  const struct file_key *kid);
/* May one more file get probes? false counts a refusal. */
bool seen_files__may_probe(struct seen_files *sf);
void seen_files__set_state(struct seen_files *sf, struct seen_file *f, enum seen_state st);
void seen_files__counts(const struct seen_files *sf, struct seen_counts *out);

#endif
