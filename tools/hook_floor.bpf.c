// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tools/bench -z: empty programs on the socket tracepoints phasetrace hooks on Linux
 * 6.3+. With them attached, a server pays the kernel's tracepoint dispatch and the
 * program call, and nothing of phasetrace's own work: the floor under "hooks alone"
 * (the tracer with every process filtered out) and under the traced rounds.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("tp_btf/sock_send_length")
int BPF_PROG(floor_send, struct sock *sk, int ret, int flags)
{
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(floor_recv, struct sock *sk, int ret, int flags)
{
	return 0;
}

SEC("tp_btf/tcp_sendmsg_locked")
int BPF_PROG(floor_sendmsg, struct sock *sk, struct msghdr *msg)
{
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
