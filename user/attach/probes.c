// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Loading the BPF object and attaching the kernel hooks; see probes.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/utsname.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "util/clock.h"
#include "util/cpulist.h"
#include "util/log.h"
#include "phasetrace.skel.h"
#include "phasetrace.h"
#include "../../bpf/agg_bucket.h"
#include "attach/goprobes.h"
#include "attach/probes.h"
#include "attach/probe_table.h"

struct probes {
	struct phasetrace_bpf *skel;
	bool uprobe_multi;
	struct bpf_link *links[40];
	int nlinks;
	int *cpu_rings;		/* rb_cpu's rings (fds), one per online CPU; NULL: none */
	int ncpu_rings;
};

/* What the kernel offers, probed once from its BTF; printed with -v. */
struct features {
	bool sock_io;		/* sock:sock_{send,recv}_length (6.3) */
	bool task_pt_regs;	/* bpf_task_pt_regs() (5.15) */
	bool uprobe_multi;	/* BPF_TRACE_UPROBE_MULTI links (6.6) */
	bool send_start;	/* tcp:tcp_sendmsg_locked stamps the start of sends */
	bool destroy_sock;	/* tcp:tcp_destroy_sock (4.16): a half-closed client's end */
	bool task_storage;	/* task storage from tracing programs (5.13): thread_store */
};

/* Does the kernel's BTF know this type / enum value? */
static bool btf_has_type(const struct btf *btf, const char *name, int kind)
{
	return btf && btf__find_by_name_kind(btf, name, kind) > 0;
}

static bool btf_has_enum_value(const struct btf *btf, const char *enum_name, const char *val)
{
	int id = btf ? btf__find_by_name_kind(btf, enum_name, BTF_KIND_ENUM) : -1;
	const struct btf_type *t;
	const struct btf_enum *e;

	if (id <= 0)
		return false;
	t = btf__type_by_id(btf, id);
	e = btf_enum(t);
	for (int i = 0; i < btf_vlen(t); i++, e++)
		if (!strcmp(btf__name_by_offset(btf, e->name_off), val))
			return true;
	return false;
}

/* Classic tracepoints are found through tracefs: mount it if nobody did. */
static void ensure_tracefs(void)
{
	if (access("/sys/kernel/tracing/events", F_OK) == 0 ||
	    access("/sys/kernel/debug/tracing/events", F_OK) == 0)
		return;
	if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL))
		pt_info("cannot mount tracefs on /sys/kernel/tracing: %s", strerror(errno));
	else
		pt_info("mounted tracefs on /sys/kernel/tracing");
}

static int attach_tp(struct probes *p, struct bpf_program *prog, const char *what)
{
	struct bpf_link *l;

	if (p->nlinks >= (int)(sizeof(p->links) / sizeof(p->links[0])))
		return -E2BIG;
	l = bpf_program__attach(prog);
	if (!l) {
		int err = -errno;

		pt_err("cannot attach to the kernel tracepoint %s: %s", what, strerror(-err));
		return err;
	}
	p->links[p->nlinks++] = l;
	pt_info("attached tracepoint %s", what);
	return 0;
}

bool probes__multi_links(const struct btf *vmlinux, enum uprobes_kind uprobes)
{
	return uprobes != UPROBES_PERF &&
	       btf_has_enum_value(vmlinux, "bpf_attach_type", "BPF_TRACE_UPROBE_MULTI");
}

/* The kernel's features and the options that choose among them; -v prints the result. */
static int probe_features(const struct probes_opts *o, const struct btf *vmlinux,
			  struct features *f)
{
	if (!btf_has_type(vmlinux, "btf_trace_inet_sock_set_state", BTF_KIND_TYPEDEF)) {
		pt_err("this kernel lacks the sock:inet_sock_set_state tracepoint (Linux 4.16+); "
		       "phasetrace cannot follow TCP connections here");
		return -EOPNOTSUPP;
	}
	f->sock_io = btf_has_type(vmlinux, "btf_trace_sock_send_length", BTF_KIND_TYPEDEF) &&
		     btf_has_type(vmlinux, "btf_trace_sock_recv_length", BTF_KIND_TYPEDEF);
	if (o->io_hooks == IO_HOOKS_SOCK && !f->sock_io) {
		pt_err("this kernel lacks the sock:sock_send_length tracepoint (Linux 6.3+); "
		       "drop --io-hooks=sock to use the syscall tracepoints");
		return -EOPNOTSUPP;
	}
	if (o->io_hooks == IO_HOOKS_SYSCALLS)
		f->sock_io = false;
	pt_info("socket I/O: %s", f->sock_io ? "sock:sock_{send,recv}_length (one hit per I/O)" :
		"syscalls:sys_{enter,exit}_{read,write,...} (sock tracepoints absent or not chosen)");
	f->send_start = f->sock_io && btf_has_type(vmlinux, "btf_trace_tcp_sendmsg_locked",
						   BTF_KIND_TYPEDEF);
	if (f->sock_io)
		pt_info("send start: %s", f->send_start ? "tcp:tcp_sendmsg_locked" :
			"tracepoint absent: a send's first byte is stamped when it returns");
	f->destroy_sock = btf_has_type(vmlinux, "btf_trace_tcp_destroy_sock", BTF_KIND_TYPEDEF);
	if (!f->destroy_sock)
		pt_info("tcp:tcp_destroy_sock absent: a client that shuts down its sending side "
			"is reported at that shutdown, without its answer");
	f->task_pt_regs = btf_has_enum_value(vmlinux, "bpf_func_id", "BPF_FUNC_task_pt_regs");
	pt_info("kernel: bpf_task_pt_regs %s (HTTP request/status lines of plaintext I/O)",
		f->task_pt_regs ? "available" : "missing: not parsed");
	/* LSM programs had it from 5.11, tracing ones from 5.13: ask the verifier */
	f->task_storage = o->thread_state != THREAD_STATE_HASH &&
			  libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_task_storage_get,
						  NULL) == 1;
	if (o->thread_state == THREAD_STATE_TASK && !f->task_storage) {
		pt_err("this kernel has no task storage for tracing programs (Linux 5.13+); "
		       "drop --thread-state=task");
		return -EOPNOTSUPP;
	}
	pt_info("thread contexts: %s", f->task_storage ? "task storage (no hashing per I/O)" :
		"hash table keyed by thread id (task storage absent or not chosen)");
	f->uprobe_multi = probes__multi_links(vmlinux, o->uprobes);
	if (o->uprobes == UPROBES_MULTI && !f->uprobe_multi) {
		pt_err("this kernel has no uprobe_multi links (Linux 6.6+); drop --uprobes=multi");
		return -EOPNOTSUPP;
	}
	pt_info("library and Go uprobes: %s", f->uprobe_multi ?
		"uprobe_multi links, one per library and kind, one per Go binary and program "
		"(fast attach and detach)" : "one perf event per function or Go probe site");
	return 0;
}

/*
 * Before Linux 6.1, kprobe-type programs (our uprobes reach conn_emit() through the TLS
 * hooks) may only use preallocated hash maps: the verifier refuses the object otherwise.
 * There the kagg tables are preallocated and smaller.
 */
static bool kagg_needs_prealloc(void)
{
	struct utsname u;
	int major, minor;

	if (uname(&u) || sscanf(u.release, "%d.%d", &major, &minor) != 2)
		return true;
	return major < 6 || (major == 6 && minor < 1);
}

/* The kagg tables' sizes: one entry each when unused (they are referenced all the same). */
static void size_kagg_maps(struct phasetrace_bpf *skel, const struct probes_opts *o)
{
	bool on = o->kagg_mode && o->kagg_nbounds >= 1 && o->kagg_nbounds <= PT_KAGG_MAX_BOUNDS;

	if (kagg_needs_prealloc()) {
		bpf_map__set_map_flags(skel->maps.kagg_hist, 0);
		bpf_map__set_map_flags(skel->maps.kagg_iv, 0);
		bpf_map__set_max_entries(skel->maps.kagg_hist, on ? 512 : 1);
		bpf_map__set_max_entries(skel->maps.kagg_iv, on && o->kagg_top ? 256 : 1);
		return;
	}
	if (!on)
		bpf_map__set_max_entries(skel->maps.kagg_hist, 1);
	if (!on || !o->kagg_top)
		bpf_map__set_max_entries(skel->maps.kagg_iv, 1);
}

/*
 * A ring per CPU for keep-alive requests' records (rb_cpu, bpf/maps.bpf.h) when every
 * request is sent (trace; not where the kernel counts them): one per online CPU (a VM
 * may have many more possible ones; a CPU brought online later sends to the main ring),
 * each as large as its share of the main ring's size, at least CPU_RING_MIN: 2 CPUs,
 * 8 MB each; 64, 1 MB each.
 */
#define CPU_RING_MIN	(1U << 20)

static bool want_cpu_rings(const struct probes_opts *o)
{
	return o->kagg_mode != PT_KAGG_ON && libbpf_num_possible_cpus() > 0;
}

/* The CPUs that get a ring, in online[] (of libbpf_num_possible_cpus()): how many. */
static int ring_cpus(bool *online)
{
	int n = libbpf_num_possible_cpus(), k = cpulist_online(online, n);

	if (k > 0)
		return k;
	for (int i = 0; i < n; i++)	/* unreadable: all of them */
		online[i] = true;
	return n;
}

static uint32_t cpu_ring_size(const struct probes_opts *o, int ncpu)
{
	uint32_t total = (o->ring_mb ? o->ring_mb : 16) << 20;
	uint32_t share = total / (uint32_t)ncpu, size = CPU_RING_MIN;

	while (size * 2 <= share)
		size *= 2;
	return size;
}

/* Before load: the outer map's slots, and a template ring the size of the real ones
 * (kernels before 5.10 require inner maps of the template's size); its fd, or -1. */
static int size_cpu_rings(struct phasetrace_bpf *skel, uint32_t size)
{
	int fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "pt_rb_tmpl", 0, 0, size, NULL);
	if (fd < 0)
		return -1;
	if (bpf_map__set_inner_map_fd(skel->maps.rb_cpu, fd)) {
		close(fd);
		return -1;
	}
	bpf_map__set_max_entries(skel->maps.rb_cpu, libbpf_num_possible_cpus());
	return fd;
}

/* After load: the rings, into their slots. Without them records go to the main ring: a
 * failure here costs speed, not records (said with -v). */
static void make_cpu_rings(struct probes *p, const bool *online, uint32_t size)
{
	int ncpu = libbpf_num_possible_cpus(), outer = bpf_map__fd(p->skel->maps.rb_cpu);

	if (bpf_map__max_entries(p->skel->maps.rb_cpu) != (__u32)ncpu)
		return;	/* size_cpu_rings() failed: the one slot the object defines */
	p->cpu_rings = calloc(ncpu, sizeof(*p->cpu_rings));
	if (!p->cpu_rings)
		return;
	for (__u32 cpu = 0; cpu < (__u32)ncpu; cpu++) {
		int fd;

		if (!online[cpu])
			continue;
		fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "pt_rb_cpu", 0, 0, size, NULL);
		if (fd < 0 || bpf_map_update_elem(outer, &cpu, &fd, BPF_ANY)) {
			pt_info("per-CPU ring of CPU %u (%u MB): %s; its records go to the main "
				"ring", cpu, size >> 20, strerror(errno));
			if (fd >= 0)
				close(fd);
			continue;
		}
		p->cpu_rings[p->ncpu_rings++] = fd;
	}
	pt_info("per-CPU rings: %d of %u MB", p->ncpu_rings, size >> 20);
}

int probes__cpu_rings(struct probes *p, const int **fds)
{
	*fds = p->cpu_rings;
	return p->ncpu_rings;
}

static void set_kagg_tunables(struct phasetrace_bpf *skel, const struct probes_opts *o)
{
	int n = o->kagg_nbounds;

	size_kagg_maps(skel, o);
	if (!o->kagg_mode || n < 1 || n > PT_KAGG_MAX_BOUNDS)
		return;
	skel->rodata->kagg_mode = o->kagg_mode;
	skel->rodata->kagg_nbounds = n;
	skel->rodata->kagg_top = o->kagg_top;
	kagg_pad_bounds((__u64 *)skel->rodata->kagg_bounds, o->kagg_bounds, n);
}

/* A task storage map no program reaches (has_task_storage false): a map any kernel makes,
 * preallocated as kprobe-type programs need before 6.1. */
static void storage_unused(struct bpf_map *m)
{
	bpf_map__set_type(m, BPF_MAP_TYPE_HASH);
	bpf_map__set_map_flags(m, 0);
	bpf_map__set_max_entries(m, 1);
}

static void set_tunables(struct phasetrace_bpf *skel, const struct probes_opts *o,
			 const struct features *f)
{
	set_kagg_tunables(skel, o);
	skel->rodata->self_tgid = getpid();
	skel->rodata->has_pid_filter = o->npids > 0;
	skel->rodata->n_comm_filters = o->ncomms;
	for (int i = 0; i < o->ncomms && i < PT_MAX_COMM_FILTERS; i++) {
		size_t n = strnlen(o->comms[i], PT_COMM_LEN - 1);

		/* read-only data starts zeroed: the words hold the name, the masks cover it
		 * and its NUL */
		memcpy((char *)skel->rodata->comm_words[i], o->comms[i], n);
		memset((char *)skel->rodata->comm_masks[i], 0xff, n + 1);
	}
	skel->rodata->has_task_pt_regs = f->task_pt_regs;
	skel->rodata->has_send_start = f->send_start;
	skel->rodata->has_destroy_sock = f->destroy_sock;
	skel->rodata->has_task_storage = f->task_storage;
	if (!f->task_storage) {
		storage_unused(skel->maps.thread_store);
		storage_unused(skel->maps.sys_io_store);
	}
	skel->rodata->has_cgroup_filter = o->cgroup_filter;
	skel->rodata->hold_ms = o->hold_ms;
	skel->rodata->need_detail = !o->no_detail;
	skel->rodata->render_spans = o->render_spans;
	skel->rodata->idle_flush_ns = o->idle_flush_ns;
	if (o->ring_mb)
		bpf_map__set_max_entries(skel->maps.rb, o->ring_mb << 20);
	if (o->max_conns) {
		bpf_map__set_max_entries(skel->maps.conns, o->max_conns);
		bpf_map__set_max_entries(skel->maps.idle_watch, o->max_conns);
		bpf_map__set_max_entries(skel->maps.accepted, o->max_conns);
	}
}

/* Which optional programs load: library uprobe flavour, socket I/O hooks, span writes. */
static void choose_programs(struct phasetrace_bpf *skel, const struct probes_opts *o,
			    const struct features *f)
{
	struct bpf_program *prog, *progs[64];
	size_t n;

	/* uprobes are attached per binary by the attach stage */
	bpf_object__for_each_program(prog, skel->obj)
		bpf_program__set_autoattach(prog, false);
	n = lib_multi_progs(skel, progs, 64);
	for (size_t i = 0; i < n; i++) {
		if (f->uprobe_multi)
			bpf_program__set_expected_attach_type(progs[i], PT_BPF_TRACE_UPROBE_MULTI);
		else
			bpf_program__set_autoload(progs[i], false);
	}
	if (f->uprobe_multi)
		goprobes__use_multi(skel);
	n = lib_single_progs(skel, progs, 64);
	for (size_t i = 0; i < n; i++)
		bpf_program__set_autoload(progs[i], !f->uprobe_multi);
	bpf_program__set_autoload(skel->progs.sock_send_length_btf, f->sock_io);
	bpf_program__set_autoload(skel->progs.sock_recv_length_btf, f->sock_io);
	bpf_program__set_autoload(skel->progs.tcp_sendmsg_locked_btf, f->send_start);
	bpf_program__set_autoload(skel->progs.tcp_destroy_sock_btf, f->destroy_sock);
	if (!f->sock_io || o->span_io)
		ensure_tracefs();
#define X(name, dir, flags_arg)								\
	bpf_program__set_autoload(skel->progs.sys_enter_##name##_io, !f->sock_io);	\
	bpf_program__set_autoload(skel->progs.sys_exit_##name##_io, !f->sock_io);	\
	PT_IF_SEND(dir, bpf_program__set_autoload(skel->progs.sys_enter_##name##_tp, o->span_io);)
	PT_SYS_IO(X)
#undef X
}

static int fill_pid_filter(struct phasetrace_bpf *skel, const struct probes_opts *o)
{
	for (int i = 0; i < o->npids; i++) {
		__u32 pid = o->pids[i];
		__u8 one = 1;
		int err = bpf_map__update_elem(skel->maps.pid_filter, &pid, sizeof(pid), &one,
					       sizeof(one), BPF_ANY);

		if (err) {
			pt_err("cannot filter on pid %u: %s (at most %u pids)", pid, strerror(-err),
			       bpf_map__max_entries(skel->maps.pid_filter));
			return err;
		}
	}
	return 0;
}

/* The kernel-side hooks: TCP state, process events, socket I/O, span writes. */
static int attach_kernel_hooks(struct probes *p, const struct probes_opts *o,
			       const struct features *f)
{
	bool sock_io = f->sock_io;
	struct phasetrace_bpf *skel = p->skel;
	int err;

	if ((err = attach_tp(p, skel->progs.inet_sock_set_state_btf,
			     "sock:inet_sock_set_state")) ||
	    (err = attach_tp(p, skel->progs.sched_process_exec_btf, "sched:sched_process_exec")) ||
	    (err = attach_tp(p, skel->progs.sched_process_exit_btf, "sched:sched_process_exit")))
		return err;
	if (sock_io) {
		if ((err = attach_tp(p, skel->progs.sock_send_length_btf, "sock:sock_send_length")) ||
		    (err = attach_tp(p, skel->progs.sock_recv_length_btf, "sock:sock_recv_length")))
			return err;
	}
	if (f->send_start &&
	    (err = attach_tp(p, skel->progs.tcp_sendmsg_locked_btf, "tcp:tcp_sendmsg_locked")))
		return err;
	if (f->destroy_sock &&
	    (err = attach_tp(p, skel->progs.tcp_destroy_sock_btf, "tcp:tcp_destroy_sock")))
		return err;
#define X(name, dir, flags_arg)								\
	if (!sock_io &&									\
	    ((err = attach_tp(p, skel->progs.sys_enter_##name##_io, "sys_enter_" #name "_io")) ||	\
	     (err = attach_tp(p, skel->progs.sys_exit_##name##_io, "sys_exit_" #name "_io"))))	\
		return err;								\
	PT_IF_SEND(dir, if (o->span_io && (err = attach_tp(p, skel->progs.sys_enter_##name##_tp,	\
							   "syscalls:sys_enter_" #name))) return err;)
	PT_SYS_IO(X)
#undef X
	return 0;
}

/* Open the object, set tunables and map sizes, choose programs, load, attach. */
int probes__open(const struct probes_opts *o, struct probes **out)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .btf_custom_path = o->btf_path);
	struct probes *p = calloc(1, sizeof(*p));
	struct btf *vmlinux = NULL;
	struct features f = {};
	uint32_t ring_size = 0;
	bool *online = NULL;	/* the CPUs that get a ring; NULL: no per-CPU rings */
	uint64_t load_start;
	int err, tmpl = -1;

	if (!p)
		return -ENOMEM;
	vmlinux = o->btf_path ? btf__parse(o->btf_path, NULL) : btf__load_vmlinux_btf();
	if (!vmlinux) {
		pt_err("cannot read the kernel's BTF type information (%s): phasetrace needs a "
		       "kernel built with CONFIG_DEBUG_INFO_BTF=y, Linux 5.8 or newer",
		       o->btf_path ? o->btf_path : "/sys/kernel/btf/vmlinux");
		err = -ENOENT;
		goto fail;
	}
	err = probe_features(o, vmlinux, &f);
	if (err)
		goto fail;
	p->uprobe_multi = f.uprobe_multi;
	p->skel = phasetrace_bpf__open_opts(&oo);
	if (!p->skel) {
		err = -errno;
		pt_err("cannot open the BPF object: %s", strerror(-err));
		goto fail;
	}
	set_tunables(p->skel, o, &f);
	choose_programs(p->skel, o, &f);
	if (want_cpu_rings(o)) {
		online = calloc(libbpf_num_possible_cpus(), sizeof(*online));
		if (!online) {
			err = -ENOMEM;
			goto fail;
		}
		ring_size = cpu_ring_size(o, ring_cpus(online));
		tmpl = size_cpu_rings(p->skel, ring_size);
	}
	load_start = mono_now_ns();
	err = phasetrace_bpf__load(p->skel);
	if (!err)	/* the verifier's time, mostly: the start's largest part */
		pt_info("BPF programs loaded in %llu ms",
			(unsigned long long)(mono_now_ns() - load_start) / 1000000);
	if (tmpl >= 0)
		close(tmpl);
	if (err) {
		pt_err("cannot load the BPF programs into this kernel: %s%s", strerror(-err),
		       pt_verbose ? "" : " (run with -v for the verifier log)");
		goto fail;
	}
	if (online)
		make_cpu_rings(p, online, ring_size);
	err = fill_pid_filter(p->skel, o);
	if (!err)
		err = attach_kernel_hooks(p, o, &f);
	if (err)
		goto fail;
	btf__free(vmlinux);
	free(online);
	*out = p;
	return 0;
fail:
	btf__free(vmlinux);
	free(online);
	probes__free(p);
	return err;
}

void probes__free(struct probes *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->nlinks; i++)
		bpf_link__destroy(p->links[i]);
	for (int i = 0; i < p->ncpu_rings; i++)
		close(p->cpu_rings[i]);
	free(p->cpu_rings);
	phasetrace_bpf__destroy(p->skel);
	free(p);
}

struct phasetrace_bpf *probes__skel(struct probes *p)
{
	return p->skel;
}

bool probes__uprobe_multi(struct probes *p)
{
	return p->uprobe_multi;
}

int probes__nr_attached(struct probes *p)
{
	return p->nlinks;
}

/*
 * Counters from .. from + n - 1 of the stats map, each summed over the CPUs into out[]:
 * 0, or -errno (no CPU count, no memory, the map unreadable: out[] then all 0).
 */
static int stats_read(struct probes *p, __u32 from, __u32 n, uint64_t *out)
{
	int ncpu = libbpf_num_possible_cpus(), fd = bpf_map__fd(p->skel->maps.stats), err = 0;
	struct pt_stats *vals;	/* 8-byte multiple: the kernel's per-CPU stride */
	__u32 zero = 0;

	_Static_assert(sizeof(struct pt_stats) % 8 == 0, "per-CPU values are 8-byte aligned");
	for (__u32 k = 0; k < n; k++)
		out[k] = 0;
	if (ncpu <= 0 || from + n > PT_STAT__MAX)
		return -EINVAL;
	vals = calloc(ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &zero, vals))
		err = -errno;
	for (int c = 0; !err && c < ncpu; c++)
		for (__u32 k = 0; k < n; k++)
			out[k] += vals[c].v[from + k];
	free(vals);
	return err;
}

int probes__stats(struct probes *p, uint64_t out[PT_STAT__MAX])
{
	return stats_read(p, 0, PT_STAT__MAX, out);
}

int probes__resp_starts(struct probes *p, uint64_t *out)
{
	return stats_read(p, PT_STAT_RESP_STARTS, 1, out);
}
