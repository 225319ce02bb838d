// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * probe_table: the userspace expansion of include/probe_list.h against the real
 * BPF object (opened, not loaded: no root needed). Every library function's
 * cookie is its line, every probed side has a program of the right kind, the
 * dispatchers are shared, the Go probes have their programs.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <bpf/libbpf.h>

#include "attach/probe_table.h"
#include "phasetrace.skel.h"

static int open_skel(void **state)
{
	struct phasetrace_bpf *skel = phasetrace_bpf__open();

	if (!skel)
		return -1;
	*state = skel;
	return 0;
}

static int close_skel(void **state)
{
	phasetrace_bpf__destroy(*state);
	return 0;
}

static void test_lib_probes(void **state)
{
	struct phasetrace_bpf *skel = *state;

	assert_int_equal(n_lib_probes, PT_FN__N - 1);
	for (size_t i = 0; i < n_lib_probes; i++) {
		const struct lib_probe *lp = &lib_probes[i];
		struct bpf_program *e = lib_probe_prog(skel, i, false);
		struct bpf_program *r = lib_probe_prog(skel, i, true);

		assert_int_equal(lp->fn, i + 1);	/* the cookie is the line */
		assert_true(lp->set < LIB_SET__N);
		assert_true(lp->entry || lp->ret);
		assert_int_equal(e != NULL, lp->entry);
		assert_int_equal(r != NULL, lp->ret);
		if (e) {	/* optional ("?"): loaded only for perf-event uprobes */
			assert_string_equal(bpf_program__section_name(e), "uprobe");
			assert_false(bpf_program__autoload(e));
			assert_true(!strncmp(bpf_program__name(e), lp->sym, strlen(lp->sym)));
		}
		if (r) {
			assert_string_equal(bpf_program__section_name(r), "uretprobe");
			assert_false(bpf_program__autoload(r));
		}
	}
	assert_null(lib_probe_prog(skel, n_lib_probes, false));
}

static void test_lib_sets(void **state)
{
	struct phasetrace_bpf *skel = *state;
	struct bpf_program *progs[64];

	for (int s = 0; s < LIB_SET__N; s++) {
		bool entry = false, ret = false, key = false;

		for (size_t i = 0; i < n_lib_probes; i++) {
			if (lib_probes[i].set != (enum lib_set)s)
				continue;
			entry |= lib_probes[i].entry;
			ret |= lib_probes[i].ret;
			key |= !strcmp(lib_probes[i].sym, lib_sets[s].key_sym);
		}
		assert_true(key);	/* the key symbol is one of the set's functions */
		assert_ptr_equal(lib_set_multi_prog(skel, s, false),
				 entry ? skel->progs.lib_entry_multi : NULL);
		assert_ptr_equal(lib_set_multi_prog(skel, s, true),
				 ret ? skel->progs.lib_ret_multi : NULL);
	}
	assert_int_equal(lib_multi_progs(skel, progs, 64), 2);
	size_t sides = 0;

	for (size_t i = 0; i < n_lib_probes; i++)
		sides += lib_probes[i].entry + lib_probes[i].ret;
	assert_int_equal(lib_single_progs(skel, progs, 64), sides);
}

static void test_go_probes(void **state)
{
	struct phasetrace_bpf *skel = *state;

	for (int id = 0; id < GO_PROBE__N; id++) {
		assert_int_equal(go_probes[id].id, id);
		assert_non_null(go_probes[id].names[0]);
		assert_non_null(go_probe_prog(skel, id, GO_SITE_ENTRY));
		assert_int_equal(go_probe_prog(skel, id, GO_SITE_RET) != NULL,
				 go_probes[id].returns);
	}
	assert_ptr_equal(go_probe_prog(skel, GO_PROBE_NEWPROC1, GO_SITE_RUNQPUT),
			 skel->progs.go_newproc_runqput);
	assert_null(go_probe_prog(skel, GO_PROBE_DNS, GO_SITE_RUNQPUT));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lib_probes),
		cmocka_unit_test(test_lib_sets),
		cmocka_unit_test(test_go_probes),
	};

	libbpf_set_print(NULL);
	return cmocka_run_group_tests(tests, open_skel, close_skel);
}
