// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Library probe sets on one binary; see libprobes.h. */
#include <errno.h>
#include <string.h>

#include "attach/binary.h"
#include "attach/libprobes.h"
#include "attach/linkset.h"
#include "attach/probe_table.h"
#include "util/log.h"

#define MAX_SET_PROBES 16

bool libprobes__applies(struct binary *b)
{
	struct binary_sym sym;

	for (int s = 0; s < LIB_SET__N; s++)
		if (!binary__sym(b, lib_sets[s].key_sym, &sym))
			return true;
	return false;
}

static bool set_has_returns(enum lib_set set)
{
	for (size_t i = 0; i < n_lib_probes; i++)
		if (lib_probes[i].set == set && lib_probes[i].ret)
			return true;
	return false;
}

/* One link per side: the set's functions told apart by their cookies. */
static int attach_multi(const struct phasetrace_bpf *skel, struct binary *b, struct linkset *ls,
			enum lib_set set, int *nsites)
{
	uint64_t offs[2][MAX_SET_PROBES], cookies[2][MAX_SET_PROBES];
	int n[2] = { 0, 0 }, err = 0;
	struct binary_sym sym;

	for (size_t i = 0; i < n_lib_probes; i++) {
		const struct lib_probe *p = &lib_probes[i];

		if (p->set != set || binary__sym(b, p->sym, &sym))
			continue;
		for (int side = 0; side < 2; side++) {
			if (!(side ? p->ret : p->entry) || n[side] >= MAX_SET_PROBES)
				continue;
			offs[side][n[side]] = sym.file_off;
			cookies[side][n[side]++] = p->fn;
		}
	}
	*nsites = n[0] + n[1];
	/* returns first: a call entered before its return probe is attached never returns
	 * for us (bpf/tls.bpf.c tls_stale_call() copes with the rest) */
	for (int side = 1; side >= 0 && !err; side--)
		if (n[side])
			err = linkset__uprobe_multi(ls, lib_set_multi_prog(skel, set, side),
						    binary__attach_path(b), offs[side],
						    cookies[side], n[side], side);
	return err;
}

/* One perf-event uprobe per function and side (kernels before 6.6). */
static int attach_single(const struct phasetrace_bpf *skel, struct binary *b,
			 struct linkset *ls, enum lib_set set, int *nsites)
{
	struct binary_sym sym;
	int err = 0;

	*nsites = 0;
	for (size_t i = 0; i < n_lib_probes && !err; i++) {
		const struct lib_probe *p = &lib_probes[i];

		if (p->set != set || binary__sym(b, p->sym, &sym))
			continue;
		for (int side = 1; side >= 0 && !err; side--) {	/* returns first */
			if (!(side ? p->ret : p->entry))
				continue;
			(*nsites)++;
			err = linkset__uprobe(ls, lib_probe_prog(skel, i, side),
					      binary__attach_path(b), sym.file_off, side, p->fn);
		}
	}
	return err;
}

int libprobes__attach(const struct phasetrace_bpf *skel, bool multi, struct binary *b,
		      struct linkset *ls, const char *name, struct libprobes_result *res)
{
	struct binary_sym sym;

	memset(res, 0, sizeof(*res));
	for (int s = 0; s < LIB_SET__N; s++) {
		size_t mark = linkset__mark(ls);
		int err, nsites = 0;

		err = binary__sym(b, lib_sets[s].key_sym, &sym);
		if (err == -ETIME || err == -ECANCELED)
			return err;
		if (err)
			continue;
		if (set_has_returns(s) && binary__has_go_marker(b)) {
			pt_info("%s: %s: a Go program: no return probes in Go code, set skipped",
				name, lib_sets[s].what);
			continue;
		}
		err = multi ? attach_multi(skel, b, ls, s, &nsites) :
			      attach_single(skel, b, ls, s, &nsites);
		if (err) {
			/* all or nothing: an entry without its return leaves calls open */
			linkset__rollback(ls, mark);
			res->failed += nsites;
			pt_info("%s: %s: cannot attach: %s", name, lib_sets[s].what,
				strerror(-err));
			continue;
		}
		res->sets++;
		res->probes += nsites;
		pt_info("%s: %s: %d probes attached", name, lib_sets[s].what, nsites);
	}
	return binary__over_budget(b) ? -ETIME : 0;
}
