// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Expansions of include/probe_list.h for the attach code; see probe_table.h. */
#include <bpf/libbpf.h>

#include "attach/probe_table.h"
#include "phasetrace.skel.h"

const struct lib_set_def lib_sets[LIB_SET__N] = {
#define X(set, what, key) [LIB_SET_##set] = { what, #key },
	PT_LIB_SETS(X)
#undef X
};

#define HAS(x) (!PT_IS_NONE(x))

const struct lib_probe lib_probes[] = {
#define X(set, sym, entry, ret) { LIB_SET_##set, #sym, PT_FN_##sym, HAS(entry), HAS(ret) },
	PT_LIB_PROBES(X)
#undef X
};
const size_t n_lib_probes = sizeof(lib_probes) / sizeof(lib_probes[0]);

/* Program pointer of a skeleton field, NONE -> NULL */
#define FIELD(skel, name) PT_SOME_OR(name, (skel)->progs.name, NULL)

struct bpf_program *lib_probe_prog(const struct phasetrace_bpf *skel, size_t probe, bool ret)
{
	switch (probe) {
#define X(set, sym, entry, retp)						\
	case PT_FN_##sym - 1:							\
		return ret ? PT_SOME_OR(retp, skel->progs.sym##_ret, NULL) :		\
			     PT_SOME_OR(entry, skel->progs.sym##_entry, NULL);
	PT_LIB_PROBES(X)
#undef X
	default:
		return NULL;
	}
}

struct bpf_program *lib_set_multi_prog(const struct phasetrace_bpf *skel, enum lib_set set,
				       bool ret)
{
	for (size_t i = 0; i < n_lib_probes; i++)
		if (lib_probes[i].set == set && (ret ? lib_probes[i].ret : lib_probes[i].entry))
			return ret ? skel->progs.lib_ret_multi : skel->progs.lib_entry_multi;
	return NULL;
}

static size_t add_unique(struct bpf_program **out, size_t n, size_t max, struct bpf_program *p)
{
	if (!p || n >= max)
		return n;
	for (size_t i = 0; i < n; i++)
		if (out[i] == p)
			return n;
	out[n] = p;
	return n + 1;
}

static struct bpf_program *set_prog(const struct phasetrace_bpf *skel, size_t set, bool ret)
{
	return lib_set_multi_prog(skel, (enum lib_set)set, ret);
}

/* Both sides' programs of items 0..n-1, each once. */
static size_t both_sides(const struct phasetrace_bpf *skel, size_t n,
			 struct bpf_program *(*prog)(const struct phasetrace_bpf *, size_t, bool),
			 struct bpf_program **out, size_t max)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		k = add_unique(out, k, max, prog(skel, i, false));
		k = add_unique(out, k, max, prog(skel, i, true));
	}
	return k;
}

size_t lib_multi_progs(const struct phasetrace_bpf *skel, struct bpf_program **out, size_t max)
{
	return both_sides(skel, LIB_SET__N, set_prog, out, max);
}

size_t lib_single_progs(const struct phasetrace_bpf *skel, struct bpf_program **out, size_t max)
{
	return both_sides(skel, n_lib_probes, lib_probe_prog, out, max);
}

const struct go_probe go_probes[GO_PROBE__N] = {
#define X(id, name, alt, entry, ret, cookie)					\
	[GO_PROBE_##id] = { GO_PROBE_##id, { name, alt }, HAS(ret), GO_COOKIE_##cookie },
	PT_GO_PROBES(X)
#undef X
};

struct bpf_program *go_probe_prog(const struct phasetrace_bpf *skel, enum go_probe_id id,
				  enum go_site site)
{
	if (site == GO_SITE_RUNQPUT)
		return id == GO_PROBE_NEWPROC1 ? skel->progs.go_newproc_runqput : NULL;
	switch (id) {
#define X(pid, name, alt, entry, ret, cookie)					\
	case GO_PROBE_##pid:							\
		return site == GO_SITE_RET ? FIELD(skel, ret) : FIELD(skel, entry);
	PT_GO_PROBES(X)
#undef X
	default:
		return NULL;
	}
}
