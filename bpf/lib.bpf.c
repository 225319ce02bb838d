// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Uprobes on native libraries (OpenSSL, GnuTLS, the libc resolver, dlopen),
 * all generated from PT_LIB_PROBES in include/probe_list.h:
 *  - Linux 6.6+: one uprobe_multi link per library and kind (entries, returns)
 *    on lib_entry_multi / lib_ret_multi, the function told apart by the attach
 *    cookie PT_FN_<symbol> (detaching costs one grace period per link, not per
 *    probe);
 *  - older kernels: one perf-event uprobe per function on <symbol>_entry /
 *    <symbol>_ret.
 * Both call the handler the list names. These are native libraries:
 * uretprobes are safe here (never on Go code).
 */
#include "lib.bpf.h"

#define X_ENTRY(set, sym, entry, ret) PT_IF_SOME(entry, case PT_FN_##sym: return entry(ctx);)
#define X_RET(set, sym, entry, ret) PT_IF_SOME(ret, case PT_FN_##sym: return ret(ctx);)
#define DISPATCHER(name, sec, column)					\
SEC(sec) int name(struct pt_regs *ctx)					\
{									\
	switch (bpf_get_attach_cookie(ctx)) {				\
	PT_LIB_PROBES(column)						\
	}								\
	return 0;							\
}
DISPATCHER(lib_entry_multi, "uprobe", X_ENTRY)
DISPATCHER(lib_ret_multi, "uretprobe", X_RET)

#define X(set, sym, entry, ret)							\
	PT_IF_SOME(entry, SEC("?uprobe") int sym##_entry(struct pt_regs *ctx)	\
			  { return entry(ctx); })				\
	PT_IF_SOME(ret, SEC("?uretprobe") int sym##_ret(struct pt_regs *ctx)	\
			{ return ret(ctx); })
PT_LIB_PROBES(X)
#undef X

char LICENSE[] SEC("license") = "Dual BSD/GPL";
