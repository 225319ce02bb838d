/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The userspace side of include/probe_list.h: which symbols get which
 * programs, with typed skeleton access (a program that does not exist does
 * not compile). Library probes (native code: uretprobes allowed) and Go
 * probes (uprobes on entry and on every return instruction).
 */
#ifndef PT_PROBE_TABLE_H
#define PT_PROBE_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include "phasetrace.h"
#include "probe_list.h"

struct phasetrace_bpf;
struct bpf_program;

enum lib_set {
#define X(set, what, key) LIB_SET_##set,
	PT_LIB_SETS(X)
#undef X
	LIB_SET__N
};

struct lib_set_def {
	const char *what;	/* "openssl": for messages */
	const char *key_sym;	/* a file that defines it gets the set */
};

struct lib_probe {
	enum lib_set set;
	const char *sym;
	enum pt_fn fn;		/* attach cookie of the uprobe_multi dispatchers */
	bool entry, ret;	/* sides probed */
};

extern const struct lib_set_def lib_sets[LIB_SET__N];
extern const struct lib_probe lib_probes[];
extern const size_t n_lib_probes;

/* Perf-event uprobes (older kernels): the program of one function's side; NULL if unused. */
struct bpf_program *lib_probe_prog(const struct phasetrace_bpf *skel, size_t probe, bool ret);
/* uprobe_multi (6.6+): the dispatcher for a side of the set (the same for every set, the
 * function told apart by the cookie); NULL if no function of the set uses the side. */
struct bpf_program *lib_set_multi_prog(const struct phasetrace_bpf *skel, enum lib_set set,
				       bool ret);
/* Every dispatcher / every per-function program, for autoload choices. */
size_t lib_multi_progs(const struct phasetrace_bpf *skel, struct bpf_program **out, size_t max);
size_t lib_single_progs(const struct phasetrace_bpf *skel, struct bpf_program **out, size_t max);

enum go_probe_id {
#define X(id, name, alt, entry, ret, cookie) GO_PROBE_##id,
	PT_GO_PROBES(X)
#undef X
	GO_PROBE__N
};

/* What the attach cookie of a Go probe carries. */
enum go_cookie_kind {
	GO_COOKIE_NONE = 0,
	GO_COOKIE_TPL,		/* text/template.Template.name's offset (the render label) */
	GO_COOKIE_NEWPROC,	/* register of newproc1's callergp (by Go version) */
	GO_COOKIE_H2_HANDLER,	/* h2 server struct offsets (PT_H2H_OFF) */
};

enum go_site {
	GO_SITE_ENTRY,
	GO_SITE_RET,		/* each return instruction */
	GO_SITE_RUNQPUT,	/* newproc1 only: the CALL of runqput (emulated, not stepped) */
};

struct go_probe {
	enum go_probe_id id;
	const char *names[2];	/* the first the binary has; [1] may be NULL */
	bool returns;		/* a probe on every return instruction too */
	enum go_cookie_kind cookie;
};

extern const struct go_probe go_probes[GO_PROBE__N];

/* NULL if the probe has no program for that site. */
struct bpf_program *go_probe_prog(const struct phasetrace_bpf *skel, enum go_probe_id id,
				  enum go_site site);

#endif
