// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Symbol lookup in ELF executables and shared libraries, with libelf. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attach/elf_syms.h"

struct elf_syms {
	int fd;
	Elf *elf;
	bool has_symtab;
	int machine;
};

struct elf_syms *elf_syms__open(const char *path)
{
	struct elf_syms *es;
	GElf_Ehdr eh;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	if (elf_version(EV_CURRENT) == EV_NONE) {
		errno = EINVAL;
		return NULL;
	}
	es = calloc(1, sizeof(*es));
	if (!es)
		return NULL;
	es->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (es->fd < 0)
		goto err;
	es->elf = elf_begin(es->fd, ELF_C_READ_MMAP, NULL);
	if (!es->elf || elf_kind(es->elf) != ELF_K_ELF || !gelf_getehdr(es->elf, &eh)) {
		errno = ENOEXEC;
		goto err;
	}
	es->machine = eh.e_machine;
	while ((scn = elf_nextscn(es->elf, scn))) {
		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_SYMTAB)
			es->has_symtab = true;
	}
	return es;
err:
	{
		int e = errno;

		elf_syms__free(es);
		errno = e;
	}
	return NULL;
}

void elf_syms__free(struct elf_syms *es)
{
	if (!es)
		return;
	if (es->elf)
		elf_end(es->elf);
	if (es->fd >= 0)
		close(es->fd);
	free(es);
}

bool elf_syms__has_symtab(struct elf_syms *es)
{
	return es->has_symtab;
}

void *elf_syms__elf(struct elf_syms *es)
{
	return es->elf;
}

int elf_syms__fd(struct elf_syms *es)
{
	return es->fd;
}

int elf_syms__machine(struct elf_syms *es)
{
	return es->machine;
}

int elf_syms__vaddr_to_off(struct elf_syms *es, uint64_t vaddr, uint64_t *off)
{
	size_t n, i;
	GElf_Phdr ph;

	if (elf_getphdrnum(es->elf, &n))
		return -ENOEXEC;
	for (i = 0; i < n; i++) {
		if (!gelf_getphdr(es->elf, i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (vaddr >= ph.p_vaddr && vaddr < ph.p_vaddr + ph.p_filesz) {
			*off = vaddr - ph.p_vaddr + ph.p_offset;
			return 0;
		}
	}
	return -ENOENT;
}

int elf_syms__read(struct elf_syms *es, uint64_t vaddr, void *buf, size_t size)
{
	uint64_t off;
	int err = elf_syms__vaddr_to_off(es, vaddr, &off);

	if (err)
		return err;
	if (pread(es->fd, buf, size, off) != (ssize_t)size)
		return -EIO;
	return 0;
}

int elf_syms__section(struct elf_syms *es, const char *name, uint64_t *off, uint64_t *addr,
		      uint64_t *size)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	size_t shstrndx;

	if (elf_getshdrstrndx(es->elf, &shstrndx))
		return -ENOEXEC;
	while ((scn = elf_nextscn(es->elf, scn))) {
		const char *n;

		if (!gelf_getshdr(scn, &sh))
			continue;
		n = elf_strptr(es->elf, shstrndx, sh.sh_name);
		if (n && !strcmp(n, name)) {
			if (off)
				*off = sh.sh_offset;
			if (addr)
				*addr = sh.sh_addr;
			if (size)
				*size = sh.sh_size;
			return 0;
		}
	}
	return -ENOENT;
}

static bool name_matches(const char *sym, const char *want)
{
	size_t n = strlen(want);
	const char *at = strchr(want, '@');

	if (at)	/* "sym@VER": compare the base name only; versions live elsewhere */
		n = at - want;
	if (strncmp(sym, want, n))
		return false;
	return sym[n] == 0 || sym[n] == '@';
}

static int find_in(struct elf_syms *es, Elf64_Word type, const char *name, struct elf_sym *out)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(es->elf, scn))) {
		Elf_Data *data;
		size_t i, n;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != type || !sh.sh_entsize)
			continue;
		data = elf_getdata(scn, NULL);
		if (!data)
			continue;
		n = sh.sh_size / sh.sh_entsize;
		for (i = 0; i < n; i++) {
			GElf_Sym s;
			const char *sn;
			int st;

			if (!gelf_getsym(data, i, &s) || s.st_shndx == SHN_UNDEF || !s.st_value)
				continue;
			st = GELF_ST_TYPE(s.st_info);
			if (st != STT_FUNC && st != STT_GNU_IFUNC)
				continue;
			sn = elf_strptr(es->elf, sh.sh_link, s.st_name);
			if (!sn || !name_matches(sn, name))
				continue;
			out->vaddr = s.st_value;
			out->size = s.st_size;
			return elf_syms__vaddr_to_off(es, s.st_value, &out->file_off);
		}
	}
	return -ENOENT;
}

int elf_syms__find(struct elf_syms *es, const char *name, struct elf_sym *out)
{
	if (find_in(es, SHT_SYMTAB, name, out) == 0)
		return 0;
	return find_in(es, SHT_DYNSYM, name, out);
}
