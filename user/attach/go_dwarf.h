/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Struct field offsets from a Go binary's DWARF (libdw), for go_binary. The
 * top-level struct types of every unit are indexed by name in ONE pass (on
 * first use, charged to the binary's CPU budget); each lookup is then a hash
 * probe plus a walk of one struct's members. Debug sections whose
 * decompressed size exceeds a cap are refused before libdw inflates them.
 */
#ifndef PT_GO_DWARF_H
#define PT_GO_DWARF_H

#include <stdbool.h>
#include <stdint.h>

struct binary;
struct go_dwarf;

/* Borrows b. 0, -ENOENT (no DWARF), -EFBIG (debug sections too large),
 * -EINVAL (libdw refuses them). */
int go_dwarf__new(struct binary *b, struct go_dwarf **out);
void go_dwarf__free(struct go_dwarf *gd);
/* Byte offset of field in the struct named struct_name ("runtime.g").
 * 0; -ENOENT: no such struct (*described = false) or no such field in it
 * (*described = true); -EINVAL: malformed member; -ETIME, -ECANCELED. */
int go_dwarf__field_offset(struct go_dwarf *gd, const char *struct_name, const char *field,
			   int64_t *off, bool *described);
/* The Dwarf * handle, owned by gd. */
void *go_dwarf__handle(struct go_dwarf *gd);

#endif
