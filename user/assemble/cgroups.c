// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* cgroup v2 ids to paths and containers, container names to ids; see cgroups.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "assemble/cgroups.h"
#include "util/u64map.h"

#define WALK_DEPTH	32

struct cg_entry {
	uint64_t last_use;	/* cache clock; 0: free slot */
	uint64_t retry_at;	/* unresolved: CLOCK_MONOTONIC ns of the next try; else 0 */
	struct container c;
};

struct cgroups {
	char root[256];
	struct u64map map;	/* cgroup id -> struct cg_entry * */
	struct cg_entry *slots;
	uint32_t nslots;
	uint64_t clock;
	struct cgroups_stats st;
};

/* A depth-first walk of the hierarchy; visit() returns nonzero to stop. */
struct walk {
	char path[CT_PATH_MAX];	/* relative to the root: "/" or "/a/b" */
	size_t len;
	uint32_t visited;
	bool truncated;
	int (*visit)(struct walk *w, uint64_t id, bool *mark);
	void *ctx;
};

uint64_t cgroups__dir_id(int dirfd, const char *name)
{
	struct {
		struct file_handle fh;
		uint64_t id;
	} h = { .fh.handle_bytes = sizeof(uint64_t) };
	struct stat s;
	int mnt;

	if (!name_to_handle_at(dirfd, name, &h.fh, &mnt, 0) && h.fh.handle_bytes == 8)
		return h.id;
	/* no handle support: on 64-bit kernels the inode number is the id too */
	if (!fstatat(dirfd, name, &s, AT_SYMLINK_NOFOLLOW) && S_ISDIR(s.st_mode))
		return s.st_ino;
	return 0;
}

/* The cgroup2 mount point from /proc/self/mountinfo, /sys/fs/cgroup preferred. */
static int find_root(char *out, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[1024], mnt[512];
	int found = -ENOENT;

	if (!f)
		return -errno;
	while (found && fgets(line, sizeof(line), f)) {
		const char *sep = strstr(line, " - cgroup2 ");

		if (!sep || sscanf(line, "%*s %*s %*s %*s %511s", mnt) != 1 || strchr(mnt, '\\'))
			continue;
		if (!strcmp(mnt, "/sys/fs/cgroup") || found) {
			snprintf(out, len, "%s", mnt);
			found = strcmp(mnt, "/sys/fs/cgroup") ? 1 : 0;
		}
	}
	fclose(f);
	return found > 0 ? 0 : found;
}

int cgroups__new(const char *root, struct cgroups **out)
{
	struct cgroups *cg = calloc(1, sizeof(*cg));
	int err = -ENOMEM;

	*out = NULL;
	if (!cg)
		return -ENOMEM;
	cg->nslots = CG_CACHE_MAX;
	cg->slots = calloc(cg->nslots, sizeof(*cg->slots));
	if (!cg->slots || u64map_init(&cg->map, 2 * CG_CACHE_MAX))
		goto cleanup;
	if (root)
		snprintf(cg->root, sizeof(cg->root), "%s", root);
	else if ((err = find_root(cg->root, sizeof(cg->root))))
		goto cleanup;
	*out = cg;
	return 0;
cleanup:
	cgroups__free(cg);
	return err;
}

void cgroups__free(struct cgroups *cg)
{
	if (!cg)
		return;
	u64map_free(&cg->map);
	free(cg->slots);
	free(cg);
}

const char *cgroups__root(const struct cgroups *cg)
{
	return cg->root;
}

static int walk_dir(struct walk *w, int dirfd, int depth, bool mark)
{
	DIR *d = fdopendir(dirfd);
	struct dirent *de;
	int stop = 0;

	if (!d) {
		close(dirfd);
		return 0;
	}
	while (!stop && (de = readdir(d))) {
		size_t saved = w->len, n = strlen(de->d_name);
		bool m = mark;
		uint64_t id;
		int fd;

		if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;	/* a cgroup may be named ".x": walked too */
		if (++w->visited > CG_WALK_MAX || saved + 1 + n >= sizeof(w->path)) {
			w->truncated = true;
			stop = w->visited > CG_WALK_MAX;
			continue;
		}
		id = cgroups__dir_id(dirfd, de->d_name);
		snprintf(w->path + saved + (saved > 1), sizeof(w->path) - saved - 1, "%s",
			 de->d_name);
		if (saved > 1)
			w->path[saved] = '/';
		w->len = strlen(w->path);
		if (id)
			stop = w->visit(w, id, &m);
		if (!stop && depth < WALK_DEPTH) {
			fd = openat(dirfd, de->d_name,
				    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
			if (fd >= 0)
				stop = walk_dir(w, fd, depth + 1, m);
		}
		w->len = saved;
		w->path[saved] = 0;
	}
	closedir(d);
	return stop;
}

/* The whole hierarchy, root included; returns what visit() stopped with, or 0. */
static int walk(struct cgroups *cg, struct walk *w)
{
	uint64_t id = cgroups__dir_id(AT_FDCWD, cg->root);
	bool mark = false;
	int fd, stop = 0;

	cg->st.walks++;
	strcpy(w->path, "/");
	w->len = 1;
	if (id)
		stop = w->visit(w, id, &mark);
	fd = open(cg->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
	if (!stop && fd >= 0)
		stop = walk_dir(w, fd, 1, mark);
	if (w->truncated)
		cg->st.walk_truncated++;
	return stop;
}

/* ---- id -> container ---- */

struct find_ctx {
	uint64_t id;
	struct container *c;
};

static int find_visit(struct walk *w, uint64_t id, bool *mark)
{
	struct find_ctx *f = w->ctx;

	if (id != f->id)
		return 0;
	container_parse(w->path, w->len, f->c);
	return 1;
}

/* /proc/PID/cgroup's v2 line, if that cgroup still has the record's id. */
static bool from_proc(struct cgroups *cg, uint32_t pid, struct container *c)
{
	char name[32], buf[CT_PATH_MAX + 64], full[CT_PATH_MAX + 256], *p, *nl;
	ssize_t n;
	int fd;

	snprintf(name, sizeof(name), "/proc/%u/cgroup", pid);
	fd = open(name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	p = !strncmp(buf, "0::", 3) ? buf : strstr(buf, "\n0::");
	if (!p)
		return false;
	p += p == buf ? 3 : 4;
	nl = strchr(p, '\n');
	if (!nl || *p != '/')
		return false;	/* cut by the read bound, or not a path */
	*nl = 0;
	if (strstr(p, "/.."))
		return false;	/* outside our cgroup namespace: not below our mount */
	snprintf(full, sizeof(full), "%s%s", cg->root, p);
	if (cgroups__dir_id(AT_FDCWD, full) != c->cgroup_id)
		return false;
	container_parse(p, nl - p, c);
	return true;
}

static struct cg_entry *cache_slot(struct cgroups *cg)
{
	struct cg_entry *e = NULL;

	for (uint32_t i = 0; i < cg->nslots; i++) {
		if (!cg->slots[i].last_use)
			return &cg->slots[i];
		if (!e || cg->slots[i].last_use < e->last_use)
			e = &cg->slots[i];
	}
	u64map_del(&cg->map, e->c.cgroup_id);
	cg->st.evicted++;
	return e;
}

static bool from_walk(struct cgroups *cg, uint64_t id, struct container *c)
{
	struct find_ctx f = { .id = id, .c = c };
	struct walk *w = calloc(1, sizeof(*w));
	bool found;

	if (!w)
		return false;
	w->visit = find_visit;
	w->ctx = &f;
	found = walk(cg, w);
	free(w);
	return found;
}

/* A miss: resolve and remember (an unknown id too, until retry_at). */
static struct cg_entry *resolve(struct cgroups *cg, uint32_t pid, uint64_t id, uint64_t now)
{
	struct cg_entry *e = cache_slot(cg);

	memset(e, 0, sizeof(*e));
	e->c.cgroup_id = id;
	if (pid && from_proc(cg, pid, &e->c)) {
		cg->st.from_proc++;
	} else if (from_walk(cg, id, &e->c)) {
		cg->st.from_walk++;
	} else {
		cg->st.unresolved++;
		e->retry_at = now + CG_NEG_NS;
	}
	if (u64map_put(&cg->map, id, e))
		return NULL;	/* slot stays free (last_use 0) */
	return e;
}

void cgroups__fill(struct cgroups *cg, uint32_t pid, uint64_t now_ns, struct container *c)
{
	uint64_t id = c->cgroup_id;
	struct cg_entry *e;

	if (!cg || !id) {
		memset(c, 0, sizeof(*c));
		c->cgroup_id = id;
		return;
	}
	e = u64map_get(&cg->map, id);
	if (e && e->retry_at && now_ns >= e->retry_at) {
		u64map_del(&cg->map, id);
		e->last_use = 0;
		e = NULL;
	}
	if (e) {
		cg->st.hits++;
	} else {
		cg->st.misses++;
		e = resolve(cg, pid, id, now_ns);
	}
	if (!e) {
		memset(c, 0, sizeof(*c));
		c->cgroup_id = id;
		return;
	}
	e->last_use = ++cg->clock;
	*c = e->c;
}

/* ---- container name -> ids ---- */

struct match_ctx {
	const char *const *want;
	int nwant;
	uint32_t *found_by;	/* per name: cgroups it matched (their subtrees not counted) */
	cgroups_cb cb;
	void *ctx;
	int found, err;
};

static int match_visit(struct walk *w, uint64_t id, bool *mark)
{
	struct match_ctx *m = w->ctx;
	struct container c;

	if (!*mark) {
		container_parse(w->path, w->len, &c);
		for (int i = 0; i < m->nwant; i++) {
			if (!container_matches(&c, m->want[i]))
				continue;
			*mark = true;
			if (m->found_by)
				m->found_by[i]++;
		}
	}
	if (!*mark)
		return 0;
	m->found++;
	m->err = m->cb(m->ctx, id);
	return m->err < 0;
}

int cgroups__match_any(struct cgroups *cg, const char *const *want, int n, uint32_t *found_by,
		       cgroups_cb cb, void *ctx)
{
	struct match_ctx m = { .want = want, .nwant = n, .found_by = found_by, .cb = cb,
			       .ctx = ctx };
	struct walk *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->visit = match_visit;
	w->ctx = &m;
	walk(cg, w);
	free(w);
	return m.err < 0 ? m.err : m.found;
}

int cgroups__match(struct cgroups *cg, const char *want, cgroups_cb cb, void *ctx)
{
	return cgroups__match_any(cg, &want, 1, NULL, cb, ctx);
}

void cgroups__stats(const struct cgroups *cg, struct cgroups_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!cg)
		return;
	*st = cg->st;
	st->cached = cg->map.len;
}
