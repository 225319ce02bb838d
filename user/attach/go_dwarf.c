// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Go struct field offsets from DWARF: one indexing pass, then hash lookups. */
#include <dwarf.h>
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <elfutils/libdw.h>
#include <gelf.h>

#include "attach/binary.h"
#include "attach/go_dwarf.h"

#define MAX_DEBUG_BYTES	(512ULL << 20)	/* all debug sections, decompressed */
#define MAX_STRUCTS	(1U << 20)
#define MAX_MEMBERS	65536
#define CHARGE_EVERY	256		/* DIEs between two budget checks */

struct st_entry {
	const char *name;	/* libdw's string, valid while dw is open */
	Dwarf_Off off;
};

#define MAX_DEBUG_SECS	32

/* A debug section's bytes as libdw reads them (decompressed). */
struct dw_span {
	const char *p;
	size_t n;
};

struct go_dwarf {
	struct binary *b;
	Dwarf *dw;
	struct dw_span secs[MAX_DEBUG_SECS];
	int nsecs;
	int index_err;		/* 1: not built yet */
	struct st_entry *tab;	/* open addressing, cap a power of two */
	uint32_t cap, n;
};

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* What a debug section inflates to: SHF_COMPRESSED (Elf64_Chdr) or .zdebug ("ZLIB" + BE64). */
static int inflated_size(struct binary *b, const char *name, uint64_t flags, uint64_t off,
			 uint64_t size, uint64_t *out)
{
	uint8_t h[24];

	*out = size;
	if (flags & SHF_COMPRESSED) {
		if (binary__pread(b, off, h, 24))
			return -EINVAL;
		memcpy(out, h + 8, 8);	/* ch_size, little-endian host */
	} else if (!strncmp(name, ".zdebug_", 8)) {
		if (binary__pread(b, off, h, 12) || memcmp(h, "ZLIB", 4))
			return -EINVAL;
		*out = be64(h + 4);
	}
	return 0;
}

/* 0 if the binary has DWARF of a size libdw may inflate, -ENOENT, -EFBIG. */
static int check_debug_sections(struct binary *b)
{
	uint64_t total = 0, flags, off, size, full;
	bool info = false;
	const char *name;
	uint32_t type;

	for (uint32_t i = 1; i < binary__nsections(b); i++) {
		if (binary__section_at(b, i, &name, &type, &flags, &off, &size) ||
		    (strncmp(name, ".debug_", 7) && strncmp(name, ".zdebug_", 8)))
			continue;
		info |= !strcmp(name, ".debug_info") || !strcmp(name, ".zdebug_info");
		if (type == SHT_NOBITS)
			continue;
		if (inflated_size(b, name, flags, off, size, &full))
			return -EINVAL;
		if (full > MAX_DEBUG_BYTES - total)
			return -EFBIG;
		total += full;
	}
	return info ? 0 : -ENOENT;
}

/* Where libdw's strings may lie: the data of every .debug_* / .zdebug_* section. */
static void note_debug_sections(struct go_dwarf *gd, Elf *elf)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (elf_getshdrstrndx(elf, &shstrndx))
		return;
	while ((scn = elf_nextscn(elf, scn)) && gd->nsecs < MAX_DEBUG_SECS) {
		const char *name;
		Elf_Data *d;
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh))
			continue;
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		if (!name || (strncmp(name, ".debug_", 7) && strncmp(name, ".zdebug_", 8)))
			continue;
		d = elf_getdata(scn, NULL);
		if (d && d->d_buf && d->d_size)
			gd->secs[gd->nsecs++] = (struct dw_span){ d->d_buf, d->d_size };
	}
}

/*
 * A DIE's name, or NULL. libdw hands out a string's address without checking
 * that its terminator lies inside the section (a crafted file ends the
 * section mid-name: found by fuzz_dwarf), so the name must end inside one of
 * the debug sections before anything reads it as a C string.
 */
static const char *die_name(const struct go_dwarf *gd, Dwarf_Die *die)
{
	const char *n = dwarf_diename(die);

	for (int i = 0; n && i < gd->nsecs; i++) {
		const char *p = gd->secs[i].p, *end = p + gd->secs[i].n;

		if (n >= p && n < end)
			return memchr(n, 0, end - n) ? n : NULL;
	}
	return NULL;
}

int go_dwarf__new(struct binary *b, struct go_dwarf **out)
{
	struct go_dwarf *gd;
	void *elf;
	int err;

	*out = NULL;
	err = check_debug_sections(b);
	if (err)
		return err;
	elf = binary__elf(b);
	if (!elf)
		return -EINVAL;
	gd = calloc(1, sizeof(*gd));
	if (!gd)
		return -ENOMEM;
	gd->b = b;
	gd->index_err = 1;
	gd->dw = dwarf_begin_elf(elf, DWARF_C_READ, NULL);
	if (!gd->dw) {
		free(gd);
		return -EINVAL;
	}
	note_debug_sections(gd, elf);	/* after dwarf_begin_elf: decompressed by then */
	*out = gd;
	return 0;
}

void go_dwarf__free(struct go_dwarf *gd)
{
	if (!gd)
		return;
	if (gd->dw)
		dwarf_end(gd->dw);
	free(gd->tab);
	free(gd);
}

void *go_dwarf__handle(struct go_dwarf *gd)
{
	return gd->dw;
}

static uint32_t str_hash(const char *s)
{
	uint32_t h = 2166136261U;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619U;
	return h;
}

static struct st_entry *slot(struct st_entry *tab, uint32_t cap, const char *name)
{
	uint32_t i = str_hash(name) & (cap - 1);

	while (tab[i].name && strcmp(tab[i].name, name))
		i = (i + 1) & (cap - 1);
	return &tab[i];
}

static int grow(struct go_dwarf *gd)
{
	uint32_t ncap = gd->cap ? gd->cap * 2 : 1024;
	struct st_entry *n;

	if (gd->n >= MAX_STRUCTS)
		return -EFBIG;
	n = calloc(ncap, sizeof(*n));
	if (!n)
		return -ENOMEM;
	for (uint32_t i = 0; i < gd->cap; i++)
		if (gd->tab[i].name)
			*slot(n, ncap, gd->tab[i].name) = gd->tab[i];
	free(gd->tab);
	gd->tab = n, gd->cap = ncap;
	return 0;
}

/* The first definition of a name wins, as a walk in unit order would find. */
static int index_add(struct go_dwarf *gd, const char *name, Dwarf_Off off)
{
	struct st_entry *e;
	int err;

	if (2 * (gd->n + 1) > gd->cap) {
		err = grow(gd);
		if (err)
			return err;
	}
	e = slot(gd->tab, gd->cap, name);
	if (!e->name) {
		*e = (struct st_entry){ .name = name, .off = off };
		gd->n++;
	}
	return 0;
}

/* One pass: every top-level struct type (Go emits them at the top of its units). */
static int build_index(struct go_dwarf *gd)
{
	Dwarf_Off cu = 0, next;
	unsigned long k = 0;
	size_t hsize;
	int err = 0;

	while (!err && !dwarf_nextcu(gd->dw, cu, &next, &hsize, NULL, NULL, NULL)) {
		Dwarf_Die cudie, d;
		const char *name;

		if (dwarf_offdie(gd->dw, cu + hsize, &cudie) && !dwarf_child(&cudie, &d)) {
			do {
				if (++k % CHARGE_EVERY == 0)
					err = binary__charge(gd->b);
				if (err || dwarf_tag(&d) != DW_TAG_structure_type ||
				    dwarf_hasattr(&d, DW_AT_declaration))
					continue;
				name = die_name(gd, &d);
				if (name)
					err = index_add(gd, name, dwarf_dieoffset(&d));
			} while (!err && !dwarf_siblingof(&d, &d));
		}
		cu = next;
	}
	return err ? err : binary__charge(gd->b);
}

static int member_offset(const struct go_dwarf *gd, Dwarf_Die *st, const char *field,
			 int64_t *off)
{
	Dwarf_Attribute attr;
	Dwarf_Word w;
	Dwarf_Op *ops;
	Dwarf_Die m;
	size_t nops;
	int k = 0;

	if (dwarf_child(st, &m))
		return -ENOENT;
	do {
		const char *n;

		if (dwarf_tag(&m) != DW_TAG_member)
			continue;
		n = die_name(gd, &m);
		if (!n || strcmp(n, field))
			continue;
		if (!dwarf_attr(&m, DW_AT_data_member_location, &attr))
			return -EINVAL;
		if (!dwarf_formudata(&attr, &w)) {
			*off = (int64_t)w;
			return 0;
		}
		/* DWARF 2 style: a location expression DW_OP_plus_uconst N */
		if (!dwarf_getlocation(&attr, &ops, &nops) && nops == 1 &&
		    ops[0].atom == DW_OP_plus_uconst) {
			*off = (int64_t)ops[0].number;
			return 0;
		}
		return -EINVAL;
	} while (++k < MAX_MEMBERS && !dwarf_siblingof(&m, &m));
	return -ENOENT;
}

int go_dwarf__field_offset(struct go_dwarf *gd, const char *struct_name, const char *field,
			   int64_t *off, bool *described)
{
	struct st_entry *e;
	Dwarf_Die st;
	int err = binary__begin(gd->b);

	*described = false;
	if (!err && gd->index_err == 1)
		gd->index_err = build_index(gd);
	if (!err)
		err = gd->index_err;
	if (!err && gd->cap) {
		e = slot(gd->tab, gd->cap, struct_name);
		if (e->name && dwarf_offdie(gd->dw, e->off, &st)) {
			*described = true;
			err = member_offset(gd, &st, field, off);
			return binary__end(gd->b, err);
		}
	}
	return binary__end(gd->b, err ? err : -ENOENT);
}
