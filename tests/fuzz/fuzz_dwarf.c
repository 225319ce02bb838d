// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* libFuzzer: DWARF struct index and field lookup (user/attach/go_dwarf.c, libdw). */
#include <stdbool.h>
#include <stdint.h>

#include "attach/go_dwarf.h"
#include "fuzz_common.h"

static const char *const fields[][2] = {
	{ "G", "goid" }, { "G", "m" }, { "S", "a" }, { "S", "b" }, { "S", "nosuch" },
	{ "runtime.g", "goid" }, { "net/http.Request", "Host" }, { "", "" },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct binary *b = fuzz_open(data, size);
	struct go_dwarf *gd;
	bool described;
	int64_t off;

	if (!b)
		return 0;
	if (!go_dwarf__new(b, &gd)) {
		for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
			go_dwarf__field_offset(gd, fields[i][0], fields[i][1], &off, &described);
		go_dwarf__free(gd);
	}
	binary__free(b);
	return 0;
}
