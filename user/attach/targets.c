// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Which files get which probes; see targets.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attach/binary.h"
#include "attach/discovery.h"
#include "attach/goprobes.h"
#include "attach/libprobes.h"
#include "attach/linkset.h"
#include "attach/seen_files.h"
#include "attach/targets.h"
#include "util/log.h"

#define DEFAULT_MAX_FILES	4096
#define DEFAULT_MAX_PROBED	1024

struct targets {
	struct targets_opts o;
	struct seen_files *seen;
	struct linkset *links;
	struct targets_stats st;
	void (*between)(void *ctx);
	void *between_ctx;
	bool in_between;
};

int targets__new(const struct targets_opts *o, struct targets **out)
{
	struct targets *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->o = *o;
	t->seen = seen_files__new(o->max_files ? o->max_files : DEFAULT_MAX_FILES,
				  o->max_probed ? o->max_probed : DEFAULT_MAX_PROBED);
	t->links = linkset__new();
	if (!t->seen || !t->links) {
		targets__free(t);
		return -ENOMEM;
	}
	*out = t;
	return 0;
}

void targets__free(struct targets *t)
{
	if (!t)
		return;
	linkset__free(t->links);
	seen_files__free(t->seen);
	free(t);
}

void targets__stats(const struct targets *t, struct targets_stats *out)
{
	*out = t->st;
	out->uprobes = linkset__nprobes(t->links);
	seen_files__counts(t->seen, &out->seen);
	out->files = out->seen.probed;
}

static bool cancelled(const struct targets *t)
{
	return t->o.lim.cancel && *t->o.lim.cancel;
}

void targets__on_between(struct targets *t, void (*fn)(void *ctx), void *ctx)
{
	t->between = fn;
	t->between_ctx = ctx;
}

static void between(struct targets *t)
{
	if (!t->between || t->in_between)
		return;
	t->in_between = true;
	t->between(t->between_ctx);
	t->in_between = false;
}

/* Library sets and the Go set on one new file; its descriptor is consumed. */
static void analyse(struct targets *t, struct seen_file *f, int fd, const char *name)
{
	size_t mark = linkset__mark(t->links);
	struct libprobes_result lr = {};
	struct goprobes_result gr = {};
	struct binary *b = NULL;
	int err;

	err = binary__open_fd(fd, &t->o.lim, &b);
	if (err) {
		if (err != -ENOEXEC)
			pt_info("%s: not analysed: %s", name, strerror(-err));
		return;
	}
	if ((libprobes__applies(b) || binary__has_go_marker(b)) &&
	    !seen_files__may_probe(t->seen)) {
		pt_info("%s: not attached: too many files have probes already", name);
		goto cleanup;
	}
	err = libprobes__attach(t->o.skel, t->o.multi, b, t->links, name, &lr);
	if (!err) {
		err = goprobes__attach(t->o.skel, b, t->links, name, &f->go, &gr);
		f->is_go = !err;
		if (err == -ENOEXEC || err == -ENOTSUP)
			err = 0;
	}
	if (err == -ETIME || err == -ECANCELED || binary__over_budget(b)) {
		linkset__rollback(t->links, mark);
		f->is_go = false;
		t->st.over_budget += err != -ECANCELED;
		pt_info("%s: analysis abandoned: %s", name, err == -ECANCELED ? "stopping" :
			"over its budget (a huge or hostile binary?)");
		goto cleanup;
	}
	t->st.failed += lr.failed + gr.failed;
	t->st.go_binaries += f->is_go;
	if (linkset__mark(t->links) != mark || f->is_go)
		seen_files__set_state(t->seen, f, SEEN_PROBED);
cleanup:
	binary__free(b);
}

/* A file not seen under this device and inode; pf->fd is consumed. */
static struct seen_file *consider(struct targets *t, struct proc_file *pf, const char *name)
{
	struct seen_file *probed = seen_files__find_probed(t->seen, &pf->kid), *f;

	/* never evicts a probed entry: probed stays valid */
	f = seen_files__add(t->seen, &pf->key, &pf->kid);
	if (!f || probed) {
		close(pf->fd);
		if (f) {
			/* the same kernel inode under another device (overlayfs) */
			f->is_go = probed->is_go;
			f->go = probed->go;
			seen_files__set_state(t->seen, f, SEEN_ALIAS);
		}
		return f;
	}
	analyse(t, f, pf->fd, name);	/* only in pt_* messages: sanitised there */
	return f;
}

/* go_procs holds pid only while it runs the Go binary f. */
static void register_go(struct targets *t, pid_t pid, const struct seen_file *f)
{
	struct file_key now;

	if (!f->is_go) {
		goprobes__forget(t->o.skel, pid);	/* it may have exec'd from Go */
		return;
	}
	if (goprobes__register(t->o.skel, pid, &f->go))
		return;
	/* an exec since we opened its executable: that was another file */
	if (discovery__exe_key(pid, &now) || now.dev != f->key.dev || now.ino != f->key.ino)
		goprobes__forget(t->o.skel, pid);
}

static int on_map(pid_t pid, const struct proc_map *m, void *ctx)
{
	struct targets *t = ctx;
	char name[PATH_MAX + 16];
	struct proc_file pf;

	if (cancelled(t))
		return -ECANCELED;
	if (!discovery__interesting_lib(m->path) || seen_files__find(t->seen, &m->key))
		return 0;
	if (discovery__open_map(pid, m, &pf))
		return 0;
	snprintf(name, sizeof(name), "%s%s", m->path, m->deleted ? " (deleted)" : "");
	consider(t, &pf, name);
	return 0;
}

/* pid's executable as /proc names it (only for pt_* messages: sanitised there). */
static const char *exe_name(pid_t pid, char *buf, size_t size)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%d/exe", pid);
	n = readlink(link, buf, size - 1);
	if (n <= 0)
		snprintf(buf, size, "%s", link);
	else
		buf[n] = 0;
	return buf;
}

int targets__scan_exe(struct targets *t, pid_t pid)
{
	char name[PATH_MAX];
	struct seen_file *f;
	struct proc_file pf;
	int err;

	err = discovery__open_exe(pid, &pf);
	if (err)
		return err;
	f = seen_files__find(t->seen, &pf.key);
	if (f)
		close(pf.fd);
	else
		f = consider(t, &pf, exe_name(pid, name, sizeof(name)));
	if (!f)
		return -ENOSPC;
	register_go(t, pid, f);
	return 0;
}

int targets__probe_goexit(struct targets *t, pid_t pid)
{
	struct seen_file *f, *probed;
	char name[PATH_MAX];
	struct proc_file pf;
	struct binary *b;
	int err;

	err = discovery__open_exe(pid, &pf);
	if (err)
		return err;
	f = seen_files__find(t->seen, &pf.key);
	probed = seen_files__find_probed(t->seen, &pf.kid);
	if (!f || !probed || !probed->is_go || !f->is_go) {
		close(pf.fd);	/* not (or no longer) a Go program with our probes */
		return -ENOENT;
	}
	if (probed->go.flags & PT_GO_EXIT_PROBED) {
		close(pf.fd);	/* another process of that file asked first */
	} else {
		exe_name(pid, name, sizeof(name));
		err = binary__open_fd(pf.fd, &t->o.lim, &b);
		if (!err) {
			err = goprobes__attach_exit(t->o.skel, b, t->links, name);
			binary__free(b);
		}
		if (err) {
			/* its goroutines' state is left to the tables' LRU eviction */
			pt_info("%s: runtime.goexit1 not probed: %s", name, strerror(-err));
			t->st.failed++;
			return err;
		}
		probed->go.flags |= PT_GO_EXIT_PROBED;
	}
	f->go.flags = probed->go.flags;
	register_go(t, pid, f);
	return 0;
}

int targets__scan_maps(struct targets *t, pid_t pid)
{
	return discovery__maps(pid, on_map, t);
}

int targets__scan_pid(struct targets *t, pid_t pid)
{
	targets__scan_exe(t, pid);
	return targets__scan_maps(t, pid);
}

static int scan_one(pid_t pid, void *ctx)
{
	struct targets *t = ctx;

	if (cancelled(t))
		return -ECANCELED;
	between(t);
	targets__scan_pid(t, pid);
	return 0;
}

int targets__scan_all(struct targets *t, const pid_t *pids, int npids)
{
	for (int i = 0; i < npids; i++)
		if (scan_one(pids[i], t))
			return -ECANCELED;
	return npids ? 0 : discovery__pids(scan_one, t);
}

static void scan_dir(struct targets *t, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while (!cancelled(t) && (de = readdir(d))) {
		char name[PATH_MAX];
		struct proc_file pf;

		between(t);
		if (!discovery__interesting_lib(de->d_name) ||
		    discovery__open_at(dirfd(d), de->d_name, &pf))
			continue;
		if (seen_files__find(t->seen, &pf.key)) {
			close(pf.fd);
			continue;
		}
		snprintf(name, sizeof(name), "%s/%s", dir, de->d_name);
		consider(t, &pf, name);
	}
	closedir(d);
}

int targets__scan_system(struct targets *t)
{
	static const char *const dirs[] = {
		"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
		"/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib",
		"/usr/local/lib",
	};

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		scan_dir(t, dirs[i]);
	return cancelled(t) ? -ECANCELED : 0;
}

void targets__proc_exit(struct targets *t, pid_t pid)
{
	goprobes__forget(t->o.skel, pid);
}
