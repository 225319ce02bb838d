// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Loading the BPF object and attaching the kernel hooks; see probes.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "util/log.h"
#include "phasetrace.skel.h"
#include "attach/probes.h"

struct probes {
	struct phasetrace_bpf *skel;
	bool uprobe_multi;
	struct bpf_link *links[40];
	int nlinks;
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

/* The syscall fallback for socket I/O (kernels without sock:sock_*_length). */
static const char *const sys_io_progs[] = {
	"sys_enter_read_io", "sys_exit_read_io", "sys_enter_readv_io", "sys_exit_readv_io",
	"sys_enter_recvfrom_io", "sys_exit_recvfrom_io", "sys_enter_recvmsg_io",
	"sys_exit_recvmsg_io", "sys_enter_write_io", "sys_exit_write_io", "sys_enter_writev_io",
	"sys_exit_writev_io", "sys_enter_sendto_io", "sys_exit_sendto_io",
	"sys_enter_sendmsg_io", "sys_exit_sendmsg_io",
};

/* Library probes: dispatchers for uprobe_multi links, or one program per function. */
#define BPF_TRACE_UPROBE_MULTI_ 48
static const char *const multi_progs[] = {
	"tls_entry_multi", "tls_ret_multi", "dns_entry_multi", "dns_ret_multi",
	"dlopen_ret_multi",
};
static const char *const single_progs[] = {
	"ssl_handshake_entry", "ssl_read_entry", "ssl_read_ex_entry", "ssl_write_entry",
	"ssl_write_ex_entry", "gnutls_handshake_entry", "gnutls_recv_entry", "gnutls_send_entry",
	"tls_free_entry", "tls_ret", "getaddrinfo_entry", "getaddrinfo_ret", "gethostbyname_entry",
	"gethostbyname_ret", "gethostbyname_r_entry", "gethostbyname2_r_entry",
	"gethostbyname_r_ret", "dlopen_ret",
};

static struct bpf_program *prog_by_name(struct probes *p, const char *name)
{
	return bpf_object__find_program_by_name(p->skel->obj, name);
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
	struct bpf_link *l = bpf_program__attach(prog);

	if (!l) {
		int err = -errno;

		pt_err("cannot attach to the kernel tracepoint %s: %s", what, strerror(-err));
		return err;
	}
	p->links[p->nlinks++] = l;
	pt_info("attached tracepoint %s", what);
	return 0;
}

int probes__open(const struct probes_opts *o, struct probes **out)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .btf_custom_path = o->btf_path);
	struct probes *p = calloc(1, sizeof(*p));
	struct btf *vmlinux = NULL;
	struct bpf_program *prog;
	bool sock_io;
	int err;

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
	if (!btf_has_type(vmlinux, "btf_trace_inet_sock_set_state", BTF_KIND_TYPEDEF)) {
		pt_err("this kernel lacks the sock:inet_sock_set_state tracepoint (Linux 4.16+); "
		       "phasetrace cannot follow TCP connections here");
		err = -EOPNOTSUPP;
		goto fail;
	}
	sock_io = btf_has_type(vmlinux, "btf_trace_sock_send_length", BTF_KIND_TYPEDEF) &&
		  btf_has_type(vmlinux, "btf_trace_sock_recv_length", BTF_KIND_TYPEDEF);
	if (o->io_hooks == IO_HOOKS_SOCK && !sock_io) {
		pt_err("this kernel lacks the sock:sock_send_length tracepoint (Linux 6.3+); "
		       "drop --io-hooks=sock to use the syscall tracepoints");
		err = -EOPNOTSUPP;
		goto fail;
	}
	if (o->io_hooks == IO_HOOKS_SYSCALLS)
		sock_io = false;
	pt_info("socket I/O: %s", sock_io ? "sock:sock_{send,recv}_length (one hit per I/O)" :
		"syscalls:sys_{enter,exit}_{read,write,...} (sock tracepoints absent or not chosen)");

	p->skel = phasetrace_bpf__open_opts(&oo);
	if (!p->skel) {
		err = -errno;
		pt_err("cannot open the BPF object: %s", strerror(-err));
		goto fail;
	}
	p->skel->rodata->self_tgid = getpid();
	p->skel->rodata->has_pid_filter = o->npids > 0;
	p->skel->rodata->n_comm_filters = o->ncomms;
	for (int i = 0; i < o->ncomms && i < PT_MAX_COMM_FILTERS; i++)
		memcpy((char *)p->skel->rodata->comm_filters[i], o->comms[i], PT_COMM_LEN);
	p->skel->rodata->has_task_pt_regs =
		btf_has_enum_value(vmlinux, "bpf_func_id", "BPF_FUNC_task_pt_regs");
	pt_info("kernel: bpf_task_pt_regs %s (HTTP request/status lines of plaintext I/O)",
		p->skel->rodata->has_task_pt_regs ? "available" : "missing: not parsed");
	if (o->max_conns) {
		bpf_map__set_max_entries(p->skel->maps.conns, o->max_conns);
		bpf_map__set_max_entries(p->skel->maps.idle_watch, o->max_conns);
	}
	/* uprobes are attached per binary by targets.c */
	bpf_object__for_each_program(prog, p->skel->obj)
		bpf_program__set_autoattach(prog, false);
	p->uprobe_multi = o->uprobes != UPROBES_PERF &&
			  btf_has_enum_value(vmlinux, "bpf_attach_type", "BPF_TRACE_UPROBE_MULTI");
	if (o->uprobes == UPROBES_MULTI && !p->uprobe_multi) {
		pt_err("this kernel has no uprobe_multi links (Linux 6.6+); drop --uprobes=multi");
		err = -EOPNOTSUPP;
		goto fail;
	}
	pt_info("library uprobes: %s", p->uprobe_multi ?
		"uprobe_multi links, one per library and kind (fast attach and detach)" :
		"one perf event per function");
	for (size_t i = 0; i < sizeof(multi_progs) / sizeof(multi_progs[0]); i++) {
		prog = prog_by_name(p, multi_progs[i]);
		if (p->uprobe_multi)
			bpf_program__set_expected_attach_type(prog, BPF_TRACE_UPROBE_MULTI_);
		else
			bpf_program__set_autoload(prog, false);
	}
	for (size_t i = 0; p->uprobe_multi && i < sizeof(single_progs) / sizeof(single_progs[0]);
	     i++)
		bpf_program__set_autoload(prog_by_name(p, single_progs[i]), false);
	if (sock_io) {
		bpf_program__set_autoload(p->skel->progs.sock_send_length_btf, true);
		bpf_program__set_autoload(p->skel->progs.sock_recv_length_btf, true);
	} else {
		ensure_tracefs();
		for (size_t i = 0; i < sizeof(sys_io_progs) / sizeof(sys_io_progs[0]); i++)
			bpf_program__set_autoload(prog_by_name(p, sys_io_progs[i]), true);
	}
	if (o->span_io) {
		ensure_tracefs();
		bpf_program__set_autoload(p->skel->progs.sys_enter_write_tp, true);
		bpf_program__set_autoload(p->skel->progs.sys_enter_writev_tp, true);
		bpf_program__set_autoload(p->skel->progs.sys_enter_sendto_tp, true);
		bpf_program__set_autoload(p->skel->progs.sys_enter_sendmsg_tp, true);
	}

	err = phasetrace_bpf__load(p->skel);
	if (err) {
		pt_err("cannot load the BPF programs into this kernel: %s%s", strerror(-err),
		       pt_verbose ? "" : " (run with -v for the verifier log)");
		goto fail;
	}
	for (int i = 0; i < o->npids; i++) {
		__u32 pid = o->pids[i];
		__u8 one = 1;

		bpf_map__update_elem(p->skel->maps.pid_filter, &pid, sizeof(pid), &one,
				     sizeof(one), BPF_ANY);
	}
	if ((err = attach_tp(p, p->skel->progs.inet_sock_set_state_btf,
			     "sock:inet_sock_set_state")) ||
	    (err = attach_tp(p, p->skel->progs.sched_process_exec_btf,
			     "sched:sched_process_exec")) ||
	    (err = attach_tp(p, p->skel->progs.sched_process_exit_btf,
			     "sched:sched_process_exit")))
		goto fail;
	if (sock_io) {
		if ((err = attach_tp(p, p->skel->progs.sock_send_length_btf,
				     "sock:sock_send_length")) ||
		    (err = attach_tp(p, p->skel->progs.sock_recv_length_btf,
				     "sock:sock_recv_length")))
			goto fail;
	} else {
		for (size_t i = 0; i < sizeof(sys_io_progs) / sizeof(sys_io_progs[0]); i++) {
			err = attach_tp(p, prog_by_name(p, sys_io_progs[i]), sys_io_progs[i]);
			if (err)
				goto fail;
		}
	}
	if (o->span_io &&
	    ((err = attach_tp(p, p->skel->progs.sys_enter_write_tp, "syscalls:sys_enter_write")) ||
	     (err = attach_tp(p, p->skel->progs.sys_enter_writev_tp,
			      "syscalls:sys_enter_writev")) ||
	     (err = attach_tp(p, p->skel->progs.sys_enter_sendto_tp,
			      "syscalls:sys_enter_sendto")) ||
	     (err = attach_tp(p, p->skel->progs.sys_enter_sendmsg_tp,
			      "syscalls:sys_enter_sendmsg"))))
		goto fail;
	btf__free(vmlinux);
	*out = p;
	return 0;
fail:
	btf__free(vmlinux);
	probes__free(p);
	return err;
}

void probes__free(struct probes *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->nlinks; i++)
		bpf_link__destroy(p->links[i]);
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

int probes__stats(struct probes *p, uint64_t out[PT_STAT__MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *vals;
	int fd = bpf_map__fd(p->skel->maps.stats);

	if (ncpu <= 0)
		return -EINVAL;
	vals = calloc(ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (__u32 k = 0; k < PT_STAT__MAX; k++) {
		out[k] = 0;
		if (bpf_map_lookup_elem(fd, &k, vals))
			continue;
		for (int c = 0; c < ncpu; c++)
			out[k] += vals[c];
	}
	free(vals);
	return 0;
}
