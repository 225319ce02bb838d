/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The handlers of the library probes named in include/probe_list.h, declared
 * from the list: each is defined by its hook domain (tls.bpf.c, dns.bpf.c,
 * proc.bpf.c) and called by bpf/lib.bpf.c.
 */
#ifndef PT_LIB_BPF_H
#define PT_LIB_BPF_H

#include "common.bpf.h"
#include "probe_list.h"

#define PT_X_DECL(set, sym, entry, ret)						\
	PT_IF_SOME(entry, PT_SHARED int entry(struct pt_regs *ctx);)		\
	PT_IF_SOME(ret, PT_SHARED int ret(struct pt_regs *ctx);)
PT_LIB_PROBES(PT_X_DECL)
#undef PT_X_DECL

#endif
