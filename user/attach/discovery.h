/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Finding the files processes run and map, and opening them without letting
 * the process steer the open. A traced process controls every name it shows
 * us (its mount namespace, symlinks, FIFOs, a " (deleted)" suffix that is
 * part of a file name), so names are never looked up again:
 *   - an executable is opened through /proc/PID/exe, a mapping through
 *     /proc/PID/map_files/START-END: both are magic links that the kernel
 *     resolves to the very file the task runs or maps (no name lookup in the
 *     process's root; deleted files too; never a FIFO or a symlink);
 *   - if map_files is refused, the mapped name is resolved inside the
 *     process's root with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS),
 *     and never for a " (deleted)" name;
 *   - every open first takes an O_PATH handle and checks that it is a
 *     regular file, then reopens it O_RDONLY | O_NONBLOCK | O_CLOEXEC (no
 *     open of a device or FIFO with its side effects, never a blocking open);
 *   - a mapping's descriptor must show the device and inode of its maps line.
 * The descriptor is what the caller analyses and attaches through.
 */
#ifndef PT_DISCOVERY_H
#define PT_DISCOVERY_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "attach/seen_files.h"

/* One /proc/PID/maps line with a file. */
struct proc_map {
	uint64_t start, end;
	struct file_key key;	/* device and inode as the line shows them */
	bool exec;		/* r-xp */
	bool deleted;		/* the name ends in " (deleted)" (stripped from path) */
	char path[PATH_MAX];	/* as the process names it: for messages and patterns only */
};

struct proc_file {
	int fd;			/* O_RDONLY | O_NONBLOCK | O_CLOEXEC, a regular file */
	struct file_key key;	/* fstat */
	struct file_key kid;	/* the inode uprobes key on (see file_kernel_id) */
};

/* Calls cb for each pid in /proc (not ours) until cb returns non-zero (returned). */
int discovery__pids(int (*cb)(pid_t pid, void *ctx), void *ctx);
/* Calls cb for each file-backed line of /proc/PID/maps until cb returns non-zero. */
int discovery__maps(pid_t pid, int (*cb)(pid_t pid, const struct proc_map *m, void *ctx),
		    void *ctx);
/* The executable pid runs (/proc/PID/exe). 0 or -errno. */
int discovery__open_exe(pid_t pid, struct proc_file *out);
/* The file of a mapping; -ESTALE if it is no longer the file of the maps line. */
int discovery__open_map(pid_t pid, const struct proc_map *m, struct proc_file *out);
/* A file in one of our own directories (the system library directories). */
int discovery__open_at(int dirfd, const char *name, struct proc_file *out);
/* Device and inode of pid's executable now (stat of /proc/PID/exe). 0 or -errno. */
int discovery__exe_key(pid_t pid, struct file_key *out);

/*
 * The identity of the inode the kernel attaches uprobes to. Usually the
 * fstat device and inode; on overlayfs the file handle of the real (upper or
 * lower) inode (name_to_handle_at with AT_HANDLE_FID, Linux 6.5+), the same
 * in every container using that layer, hashed. Falls back to fstat.
 */
void file_kernel_id(int fd, const struct file_key *key, struct file_key *kid);

/* "libssl.so.3", "libc.so.6", ...: the libraries the probe sets live in. */
bool discovery__interesting_lib(const char *path);

#endif
