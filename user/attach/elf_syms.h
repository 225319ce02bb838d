/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Symbol lookup in ELF executables and shared libraries (libelf). */
#ifndef PT_ELF_SYMS_H
#define PT_ELF_SYMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct elf_syms;

struct elf_sym {
	uint64_t vaddr;		/* st_value */
	uint64_t size;
	uint64_t file_off;	/* what uprobes take: vaddr mapped through PT_LOAD */
};

/* Returns NULL and sets errno on failure (ENOENT, ENOEXEC for non-ELF). */
struct elf_syms *elf_syms__open(const char *path);
void elf_syms__free(struct elf_syms *es);
/* 0 on success, -ENOENT if absent. Looks in .symtab then .dynsym; a name
 * "sym@VER" or plain "sym" both match a versioned dynamic symbol. */
int elf_syms__find(struct elf_syms *es, const char *name, struct elf_sym *out);
/* vaddr -> file offset through the PT_LOAD headers; -ENOENT if unmapped */
int elf_syms__vaddr_to_off(struct elf_syms *es, uint64_t vaddr, uint64_t *off);
/* Read size bytes at vaddr from the file; 0 or -errno. */
int elf_syms__read(struct elf_syms *es, uint64_t vaddr, void *buf, size_t size);
/* Section by name: file offset, address and size; -ENOENT if absent. */
int elf_syms__section(struct elf_syms *es, const char *name, uint64_t *off,
		      uint64_t *addr, uint64_t *size);
bool elf_syms__has_symtab(struct elf_syms *es);
/* The Elf* handle for modules that need more (Go, DWARF); owned by es. */
void *elf_syms__elf(struct elf_syms *es);
int elf_syms__fd(struct elf_syms *es);
/* ELF e_machine (EM_X86_64, EM_AARCH64) */
int elf_syms__machine(struct elf_syms *es);

#endif
