// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer: Go tables (user/attach/go_binary.c, go_version.c): build info,
 * .gopclntab and its name index, the version fallbacks, function bodies
 * (RET sites, call sites, the stack-check jump).
 */
#include <stdint.h>
#include <string.h>

#include "attach/go_binary.h"
#include "fuzz_common.h"

static const char *const names[] = {
	"main.one", "main.two", "main.main", "runtime.schedinit", "runtime.newproc1",
	"runtime.newproc.func1", "runtime.runqput", "net/http.(*conn).serve",
	"pkg.F[...]", "pkg.F[a.T]", "main.T.1", "main.two.abi0",
};

static void check_func(struct go_binary *gb, const struct go_func *fn)
{
	uint64_t offs[64], body;
	int n = go_binary__ret_offsets(gb, fn, offs, 64);

	for (int i = 0; i < n; i++)
		if (offs[i] < fn->file_off || offs[i] - fn->file_off >= fn->size)
			abort();
	go_binary__body_offset(gb, fn, &body);
	n = go_binary__call_sites(gb, fn, fn, offs, 64);
	for (int i = 0; i < n; i++)
		if (offs[i] < fn->file_off || offs[i] - fn->file_off >= fn->size)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct binary *b = fuzz_open(data, size);
	struct go_binary *gb;
	struct go_func fn;
	int major, minor;
	int64_t off, off2;

	if (!b)
		return 0;
	if (go_binary__new(b, &gb)) {
		binary__free(b);
		return 0;
	}
	/* the version text reaches terminals: printable only */
	for (const char *p = go_binary__version_str(gb); *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			abort();
	go_binary__version(gb, &major, &minor);
	go_binary__regabi(gb);
	go_binary__nfuncs(gb);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!go_binary__func(gb, names[i], &fn))
			check_func(gb, &fn);
		if (!go_binary__func_pclntab(gb, names[i], &fn))
			check_func(gb, &fn);
	}
	go_binary__field_offset_builtin(gb, "runtime.g", "goid", &off);
	/* a crafted runtime.newproc1: the offsets it yields stay inside a g */
	if (!go_binary__g_offsets_from_code(gb, &off, &off2) &&
	    (off <= 0 || off >= 4096 || off2 <= 0 || off2 >= 4096 || off == off2))
		abort();
	go_binary__free(gb);
	binary__free(b);
	return 0;
}
