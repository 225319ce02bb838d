// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* 2 MiB-aligned anonymous memory advised for huge pages; see hugemem.h. */
#include <stdint.h>
#include <sys/mman.h>

#include "util/hugemem.h"

#define HUGE_SZ	(2UL << 20)

static size_t huge_round(size_t len)
{
	return (len + HUGE_SZ - 1) & ~(HUGE_SZ - 1);
}

void *hugemem_alloc(size_t len)
{
	size_t want = huge_round(len), lead;
	char *p;

	if (!len)
		return NULL;
	/* over-reserve by one huge page, then trim both ends to the aligned range */
	p = mmap(NULL, want + HUGE_SZ, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	lead = (HUGE_SZ - ((uintptr_t)p & (HUGE_SZ - 1))) & (HUGE_SZ - 1);
	if (lead)
		munmap(p, lead);
	munmap(p + lead + want, HUGE_SZ - lead);
	p += lead;
	madvise(p, want, MADV_HUGEPAGE);	/* advice: without THP, plain pages */
	return p;
}

void hugemem_free(void *p, size_t len)
{
	if (p)
		munmap(p, huge_round(len));
}
