// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * hook_floor: attach the empty programs of tools/hook_floor.bpf.c, say
 * "hook_floor: ready" on stderr, and hold them until SIGINT or SIGTERM
 * (tools/bench -z).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "hook_floor.skel.h"

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

int main(void)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct hook_floor_bpf *skel;
	int err;

	libbpf_set_print(quiet);
	skel = hook_floor_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "hook_floor: cannot load empty programs on sock_send_length, "
			"sock_recv_length and tcp_sendmsg_locked (%s): they need root and "
			"Linux 6.3+ with BTF\n", strerror(errno));
		return 1;
	}
	err = hook_floor_bpf__attach(skel);
	if (err) {
		fprintf(stderr, "hook_floor: cannot attach the empty programs (%s)\n",
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
