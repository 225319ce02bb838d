/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * hugemem: zeroed memory for the collector's hot tables and free lists, aligned to 2 MiB
 * and advised for transparent huge pages (MADV_HUGEPAGE; hosts default to "madvise").
 * Records, timelines and the seen-id tables are touched at random every record: with
 * 4 KiB pages their TLB misses (page walks, nested under a hypervisor) cost more than
 * the work. Address space is reserved; memory is used as pages are touched.
 */
#ifndef PT_HUGEMEM_H
#define PT_HUGEMEM_H

#include <stddef.h>

/* NULL if the mapping fails; free with hugemem_free(p, the same len). */
void *hugemem_alloc(size_t len);
void hugemem_free(void *p, size_t len);

#endif
