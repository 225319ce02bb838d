// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Uprobe links destroyed together; see linkset.h. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpf/libbpf.h>

#include "attach/linkset.h"
#include "attach/probes.h"

struct link_ent {
	struct bpf_link *link;	/* or NULL and: */
	int fd;			/* a raw uprobe_multi link */
	int nprobes;
};

struct linkset {
	struct link_ent *ents;
	size_t n, cap;
	int nprobes;
};

struct linkset *linkset__new(void)
{
	return calloc(1, sizeof(struct linkset));
}

static void ent_destroy(struct linkset *ls, struct link_ent *e)
{
	if (e->link)
		bpf_link__destroy(e->link);
	else
		close(e->fd);
	__atomic_sub_fetch(&ls->nprobes, e->nprobes, __ATOMIC_RELAXED);
}

/*
 * Each link's destruction waits for an RCU grace period (perf-event uprobes:
 * several, a uprobe_multi link one); waits that overlap share a grace period. So
 * the links are destroyed by DETACH_THREADS threads at once, each taking every
 * DETACH_THREADS-th link (17 Go binaries, 238 links: ~16 s one by one).
 */
#define DETACH_THREADS 16

struct detach_part {
	struct linkset *ls;
	size_t first;
};

static void *detach_part(void *arg)
{
	struct detach_part *p = arg;

	for (size_t i = p->first; i < p->ls->n; i += DETACH_THREADS)
		ent_destroy(p->ls, &p->ls->ents[i]);
	return NULL;
}

/* All links, in parallel where threads can be made (the rest in this thread). */
static void destroy_all(struct linkset *ls)
{
	struct detach_part parts[DETACH_THREADS];
	pthread_t th[DETACH_THREADS];
	bool started[DETACH_THREADS] = {};

	for (size_t k = 0; k < DETACH_THREADS && k < ls->n; k++) {
		parts[k] = (struct detach_part){ .ls = ls, .first = k };
		started[k] = k > 0 && pthread_create(&th[k], NULL, detach_part, &parts[k]) == 0;
	}
	for (size_t k = 0; k < DETACH_THREADS && k < ls->n; k++)
		if (!started[k])
			detach_part(&parts[k]);
	for (size_t k = 0; k < DETACH_THREADS; k++)
		if (started[k])
			pthread_join(th[k], NULL);
	ls->n = 0;
}

void linkset__free(struct linkset *ls)
{
	if (!ls)
		return;
	destroy_all(ls);
	free(ls->ents);
	free(ls);
}

static int push(struct linkset *ls, struct link_ent e)
{
	if (ls->n == ls->cap) {
		size_t cap = ls->cap ? ls->cap * 2 : 64;
		struct link_ent *n = realloc(ls->ents, cap * sizeof(*n));

		if (!n) {
			ent_destroy(ls, &e);
			return -ENOMEM;
		}
		ls->ents = n;
		ls->cap = cap;
	}
	ls->ents[ls->n++] = e;
	return 0;
}

int linkset__add(struct linkset *ls, struct bpf_link *l, int nprobes)
{
	if (!l)
		return errno ? -errno : -EINVAL;
	__atomic_add_fetch(&ls->nprobes, nprobes, __ATOMIC_RELAXED);
	return push(ls, (struct link_ent){ .link = l, .fd = -1, .nprobes = nprobes });
}

int linkset__uprobe(struct linkset *ls, const struct bpf_program *prog, const char *path,
		    uint64_t off, bool ret, uint64_t cookie)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .retprobe = ret, .bpf_cookie = cookie);

	if (!prog)
		return -ENOENT;
	errno = 0;
	return linkset__add(ls, bpf_program__attach_uprobe_opts(prog, -1, path, off, &uo), 1);
}

/* BPF_LINK_CREATE's uprobe_multi attr as the kernel lays it out (6.6). */
struct link_create_uprobe_multi {
	__u32 prog_fd;
	__u32 target_fd;
	__u32 attach_type;
	__u32 flags;
	__u64 path;
	__u64 offsets;
	__u64 ref_ctr_offsets;
	__u64 cookies;
	__u32 cnt;
	__u32 um_flags;
	__u32 pid;
};

int linkset__uprobe_multi(struct linkset *ls, const struct bpf_program *prog, const char *path,
			  const uint64_t *offs, const uint64_t *cookies, int n, bool ret)
{
	union {
		struct link_create_uprobe_multi lc;
		char raw[256];	/* the kernel checks that the unused tail is zero */
	} attr;
	int fd;

	if (!prog || n <= 0)
		return -ENOENT;
	memset(&attr, 0, sizeof(attr));
	attr.lc.prog_fd = bpf_program__fd(prog);
	attr.lc.attach_type = PT_BPF_TRACE_UPROBE_MULTI;
	attr.lc.path = (uintptr_t)path;
	attr.lc.offsets = (uintptr_t)offs;
	attr.lc.cookies = (uintptr_t)cookies;
	attr.lc.cnt = n;
	attr.lc.um_flags = ret ? PT_BPF_F_UPROBE_MULTI_RETURN : 0;
	fd = syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof(attr));
	if (fd < 0)
		return -errno;
	__atomic_add_fetch(&ls->nprobes, n, __ATOMIC_RELAXED);
	return push(ls, (struct link_ent){ .fd = fd, .nprobes = n });
}

size_t linkset__mark(const struct linkset *ls)
{
	return ls->n;
}

void linkset__rollback(struct linkset *ls, size_t mark)
{
	while (ls->n > mark)
		ent_destroy(ls, &ls->ents[--ls->n]);
}

int linkset__nprobes(const struct linkset *ls)
{
	return __atomic_load_n(&ls->nprobes, __ATOMIC_RELAXED);
}
