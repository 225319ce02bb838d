// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* /proc scanning and opening files processes name, safely; see discovery.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/openat2.h>

#include "attach/discovery.h"

#ifndef AT_HANDLE_FID
#define AT_HANDLE_FID		0x200	/* Linux 6.5: a handle that identifies, for any fs */
#endif
#define OVERLAYFS_MAGIC		0x794c7630
#define OPEN_FLAGS		(O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
#define DELETED_SUFFIX		" (deleted)"

/* File names worth opening: the libraries of the probe sets, wherever they live. */
static const char *const lib_patterns[] = {
	"libc.so*", "libc-2.*.so", "libc.musl*", "ld-musl*", "libssl.so*", "libgnutls.so*",
	"libdl.so*", "libdl-2.*.so",
};

bool discovery__interesting_lib(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	for (size_t i = 0; i < sizeof(lib_patterns) / sizeof(lib_patterns[0]); i++)
		if (!fnmatch(lib_patterns[i], base, 0))
			return true;
	return false;
}

int discovery__pids(int (*cb)(pid_t pid, void *ctx), void *ctx)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int ret = 0;

	if (!d)
		return -errno;
	while (!ret && (de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end || pid <= 0 || pid == getpid())
			continue;
		ret = cb(pid, ctx);
	}
	closedir(d);
	return ret;
}

/* "start-end perms offset major:minor inode   path" */
static bool parse_map_line(char *line, struct proc_map *m)
{
	unsigned long long start, end, off, ino;
	unsigned int major, minor;
	char perms[5];
	size_t len;
	int pos = 0;

	if (sscanf(line, "%llx-%llx %4s %llx %x:%x %llu %n", &start, &end, perms, &off, &major,
		   &minor, &ino, &pos) < 7 || !pos || line[pos] != '/')
		return false;
	len = strcspn(line + pos, "\n");
	if (len >= sizeof(m->path))
		return false;
	memcpy(m->path, line + pos, len);
	m->path[len] = 0;
	m->deleted = len > strlen(DELETED_SUFFIX) &&
		     !strcmp(m->path + len - strlen(DELETED_SUFFIX), DELETED_SUFFIX);
	if (m->deleted)
		m->path[len - strlen(DELETED_SUFFIX)] = 0;
	m->start = start;
	m->end = end;
	m->exec = perms[2] == 'x';
	m->key.dev = makedev(major, minor);
	m->key.ino = ino;
	return true;
}

int discovery__maps(pid_t pid, int (*cb)(pid_t pid, const struct proc_map *m, void *ctx),
		    void *ctx)
{
	char path[64], line[PATH_MAX + 128];
	struct proc_map *m = malloc(sizeof(*m));
	bool whole = true;
	int ret = 0;
	FILE *f;

	if (!m)
		return -ENOMEM;
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	if (!f) {
		free(m);
		return -errno;
	}
	while (!ret && fgets(line, sizeof(line), f)) {
		/* the tail of an over-long line is not a line of its own */
		bool starts = whole;

		whole = strchr(line, '\n') != NULL;
		if (starts && parse_map_line(line, m))
			ret = cb(pid, m, ctx);
	}
	fclose(f);
	free(m);
	return ret;
}

static uint64_t fnv1a(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ULL;

	while (n--)
		h = (h ^ *b++) * 0x100000001b3ULL;
	return h;
}

void file_kernel_id(int fd, const struct file_key *key, struct file_key *kid)
{
	struct {
		struct file_handle fh;
		unsigned char data[MAX_HANDLE_SZ];
	} h;
	struct statfs sfs;
	int mount_id;

	*kid = *key;
	if (fstatfs(fd, &sfs) || sfs.f_type != OVERLAYFS_MAGIC)
		return;
	h.fh.handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(fd, "", &h.fh, &mount_id, AT_EMPTY_PATH | AT_HANDLE_FID))
		return;
	/* dev 0 never belongs to a real inode: no clash with fstat keys */
	kid->dev = 0;
	kid->ino = fnv1a(&h.fh.handle_type, sizeof(h.fh.handle_type)) ^
		   fnv1a(h.fh.f_handle, h.fh.handle_bytes);
}

/* An O_PATH handle -> checked -> the descriptor we read. Closes pathfd. */
static int reopen_regular(int pathfd, struct proc_file *out)
{
	char self[64];
	struct stat st;
	int fd = -1, err = 0;

	if (fstat(pathfd, &st)) {
		err = -errno;
		goto cleanup;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
		goto cleanup;
	}
	snprintf(self, sizeof(self), "/proc/self/fd/%d", pathfd);
	fd = open(self, OPEN_FLAGS);
	if (fd < 0 || fstat(fd, &st)) {
		err = -errno;
		goto cleanup;
	}
	out->fd = fd;
	out->key.dev = st.st_dev;
	out->key.ino = st.st_ino;
	file_kernel_id(fd, &out->key, &out->kid);
	fd = -1;
cleanup:
	if (fd >= 0)
		close(fd);
	close(pathfd);
	return err;
}

/* A /proc magic link (exe, map_files): the kernel jumps to the task's file. */
static int open_magic(const char *link, struct proc_file *out)
{
	int pathfd = open(link, O_PATH | O_CLOEXEC);

	if (pathfd < 0)
		return -errno;
	return reopen_regular(pathfd, out);
}

int discovery__open_exe(pid_t pid, struct proc_file *out)
{
	char link[64];

	snprintf(link, sizeof(link), "/proc/%d/exe", pid);
	return open_magic(link, out);
}

/* The maps name inside the process's root: only when map_files is refused. */
static int open_in_root(pid_t pid, const char *path, struct proc_file *out)
{
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	char root[64];
	int rootfd, pathfd;

	snprintf(root, sizeof(root), "/proc/%d/root", pid);
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return -errno;
	pathfd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	close(rootfd);
	if (pathfd < 0)
		return -errno;
	return reopen_regular(pathfd, out);
}

int discovery__open_map(pid_t pid, const struct proc_map *m, struct proc_file *out)
{
	char link[96];
	int err;

	snprintf(link, sizeof(link), "/proc/%d/map_files/%llx-%llx", pid,
		 (unsigned long long)m->start, (unsigned long long)m->end);
	err = open_magic(link, out);
	if (err == -EPERM || err == -EACCES)
		err = m->deleted ? -ENOENT : open_in_root(pid, m->path, out);
	if (err)
		return err;
	if (out->key.dev != m->key.dev || out->key.ino != m->key.ino) {
		/* unmapped and mapped again meanwhile, or another file by that name */
		close(out->fd);
		out->fd = -1;
		return -ESTALE;
	}
	return 0;
}

int discovery__open_at(int dirfd, const char *name, struct proc_file *out)
{
	int pathfd = openat(dirfd, name, O_PATH | O_CLOEXEC);

	if (pathfd < 0)
		return -errno;
	return reopen_regular(pathfd, out);
}

int discovery__exe_key(pid_t pid, struct file_key *out)
{
	char link[64];
	struct stat st;

	snprintf(link, sizeof(link), "/proc/%d/exe", pid);
	if (stat(link, &st))
		return -errno;
	out->dev = st.st_dev;
	out->ino = st.st_ino;
	return 0;
}
