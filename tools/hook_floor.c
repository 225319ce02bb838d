// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * hook_floor [-w]: attach the empty programs of tools/hook_floor.bpf.c (with -w: its
 * work floor, what a keep-alive request's metrics cannot do without), say
 * "hook_floor: ready" on stderr, and hold them until SIGINT or SIGTERM (tools/bench -z).
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "hook_floor.skel.h"
#include "phasetrace.h"
#include "../bpf/agg_bucket.h"
#include "export/metrics.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level, (void)fmt, (void)ap;
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct hook_floor_bpf *skel;
	struct metrics *m;
	const uint64_t *bounds;
	const char *what = "empty programs";
	bool work = false;
	int err, nbounds;

	if (argc == 2 && !strcmp(argv[1], "-w")) {
		work = true;
		what = "work floor programs";
	} else if (argc != 1) {
		fprintf(stderr, "usage: hook_floor [-w]\n");
		return 2;
	}
	libbpf_set_print(quiet);
	skel = hook_floor_bpf__open();
	if (!skel) {
		fprintf(stderr, "hook_floor: cannot open its BPF object (%s)\n", strerror(errno));
		return 1;
	}
	/* the work floor's histograms: phasetrace's default bounds, as its loader sets them */
	m = metrics__new(NULL);
	if (!m) {
		fprintf(stderr, "hook_floor: cannot make the default histograms (%s)\n",
			strerror(errno));
		hook_floor_bpf__destroy(skel);
		return 1;
	}
	bounds = metrics__bounds_ns(m, &nbounds);
	kagg_pad_bounds((__u64 *)skel->rodata->work_bounds, bounds, nbounds);
	skel->rodata->work_nbounds = nbounds;
	metrics__free(m);
	bpf_program__set_autoload(work ? skel->progs.work_send : skel->progs.floor_send, true);
	bpf_program__set_autoload(work ? skel->progs.work_recv : skel->progs.floor_recv, true);
	bpf_program__set_autoload(work ? skel->progs.work_sendmsg : skel->progs.floor_sendmsg,
				  true);
	err = hook_floor_bpf__load(skel);
	if (err) {
		fprintf(stderr, "hook_floor: cannot load %s on sock_send_length, "
			"sock_recv_length and tcp_sendmsg_locked (%s): they need root and "
			"Linux 6.3+ with BTF\n", what, strerror(-err));
		hook_floor_bpf__destroy(skel);
		return 1;
	}
	err = hook_floor_bpf__attach(skel);
	if (err) {
		fprintf(stderr, "hook_floor: cannot attach the %s (%s)\n", what,
			strerror(-err));
		hook_floor_bpf__destroy(skel);
		return 1;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	fprintf(stderr, "hook_floor: ready\n");
	while (!stop)
		pause();
	hook_floor_bpf__destroy(skel);
	return 0;
}
