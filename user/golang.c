// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Go executables and the processes running them; see golang.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "go_binary.h"
#include "golang.h"
#include "log.h"
#include "phasetrace.h"
#include "phasetrace.skel.h"

#define MAX_GO_FILES 1024

struct go_file {
	dev_t dev;
	ino_t ino;
	bool is_go;
	struct pt_go_proc proc;	/* what each process of this binary registers */
};

struct golang {
	struct phasetrace_bpf *skel;
	struct go_file files[MAX_GO_FILES];
	int nfiles;
	int nbinaries, attached, failed;
};

struct golang *golang__new(struct phasetrace_bpf *skel)
{
	struct golang *g = calloc(1, sizeof(*g));

	if (g)
		g->skel = skel;
	return g;
}

void golang__free(struct golang *g)
{
	free(g);
}

void golang__counts(const struct golang *g, int *binaries, int *attached, int *failed)
{
	*binaries = g->nbinaries;
	*attached = g->attached;
	*failed = g->failed;
}

static struct go_file *file_get(struct golang *g, const struct stat *st, bool *fresh)
{
	*fresh = false;
	for (int i = 0; i < g->nfiles; i++)
		if (g->files[i].dev == st->st_dev && g->files[i].ino == st->st_ino)
			return &g->files[i];
	if (g->nfiles >= MAX_GO_FILES)
		return NULL;
	*fresh = true;
	memset(&g->files[g->nfiles], 0, sizeof(g->files[0]));
	g->files[g->nfiles].dev = st->st_dev;
	g->files[g->nfiles].ino = st->st_ino;
	return &g->files[g->nfiles++];
}

/* First sight of a binary: is it Go, and how to find its goroutines. */
static void analyse(struct golang *g, struct go_file *f, const char *path)
{
	struct go_binary *gb = go_binary__open(path);
	int64_t goid_off;
	int major = 0, minor = 0;

	if (!gb)
		return;
	go_binary__version(gb, &major, &minor);
	if (!go_binary__regabi(gb) || go_binary__arch(gb) != GO_ARCH_AMD64) {
		pt_info("%s: Go %s on this architecture is not supported (needs Go >= 1.17, amd64)",
			path, go_binary__version_str(gb));
		go_binary__free(gb);
		return;
	}
	if (go_binary__field_offset(gb, "runtime.g", "goid", &goid_off)) {
		pt_info("%s: Go %s: offset of runtime.g.goid unknown: goroutines not followed",
			path, go_binary__version_str(gb));
		go_binary__free(gb);
		return;
	}
	f->is_go = true;
	f->proc.g_tls_off = -8;	/* amd64: runtime.tlsg, the g slot just below fs_base */
	f->proc.goid_off = goid_off;
	g->nbinaries++;
	pt_info("%s: Go %s%s: goroutine-aware tracing", path, go_binary__version_str(gb),
		go_binary__is_stripped(gb) ? " (stripped)" : "");
	go_binary__free(gb);
}

int golang__consider_exe(struct golang *g, const char *exe_path, pid_t pid)
{
	struct go_file *f;
	struct stat st;
	bool fresh;
	__u32 key = pid;

	if (stat(exe_path, &st))
		return -errno;
	f = file_get(g, &st, &fresh);
	if (!f)
		return -ENOSPC;
	if (fresh)
		analyse(g, f, exe_path);
	if (!f->is_go)
		return -ENOEXEC;
	if (bpf_map__update_elem(g->skel->maps.go_procs, &key, sizeof(key), &f->proc,
				 sizeof(f->proc), BPF_ANY))
		return -errno;
	return 0;
}

void golang__proc_exit(struct golang *g, pid_t pid)
{
	__u32 key = pid;

	bpf_map__delete_elem(g->skel->maps.go_procs, &key, sizeof(key), 0);
}
