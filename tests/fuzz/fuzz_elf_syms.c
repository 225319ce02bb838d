// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* libFuzzer: ELF headers, sections, symbol tables, reads (user/attach/binary.c). */
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"

static const char *const names[] = {
	"main", "_start", "malloc", "SSL_read", "SSL_write@OPENSSL_3.0.0", "f", "g@V1",
	"runtime.goexit", "runtime.main", "seed_func", "seed_ifunc", "",
};

/* Whatever a lookup returns must be readable through the same binary. */
static void check_sym(struct binary *b, const struct binary_sym *s)
{
	uint8_t buf[16], copy[16];
	uint64_t off;

	if (binary__vaddr_to_off(b, s->vaddr, &off) || off != s->file_off)
		abort();
	if (!binary__read(b, s->vaddr, buf, sizeof(buf)) &&
	    (binary__pread(b, off, copy, sizeof(copy)) || memcmp(buf, copy, sizeof(buf))))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct binary *b = fuzz_open(data, size);
	uint64_t off, addr, sz, flags, vaddr, filesz;
	struct binary_sym s;
	const char *name;
	uint32_t type, pflags;

	if (!b)
		return 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!binary__sym(b, names[i], &s))
			check_sym(b, &s);
	}
	if (!binary__data_sym(b, "runtime.buildVersion", &s))
		check_sym(b, &s);
	if (!binary__section(b, ".text", &off, &addr, &sz) && off + sz > binary__size(b))
		abort();
	for (uint32_t i = 1; !binary__section_at(b, i, &name, &type, &flags, &off, &sz); i++)
		if (strlen(name) > 1 << 20)
			abort();
	for (int i = 0; !binary__segment(b, i, &vaddr, &off, &filesz, &pflags); i++)
		if (off > binary__size(b) || filesz > binary__size(b) - off)
			abort();
	binary__has_go_marker(b);
	binary__has_symtab(b);
	binary__free(b);
	return 0;
}
