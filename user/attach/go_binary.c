// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Go executable analysis: build info, .gopclntab, RET sites, DWARF offsets.
 * Only the ELF reading Go needs lives here; general symbol lookup is elf_syms.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <capstone/capstone.h>
#include <elfutils/libdw.h>

#include "attach/go_binary.h"

#define MAX_LOADS 16

/* .gopclntab header magics (cmd/link/internal/ld/pcln.go, debug/gosym) */
#define PCLN_GO116 0xfffffffaU	/* Go 1.16-1.17 */
#define PCLN_GO118 0xfffffff0U	/* Go 1.18-1.19: entries relative to textStart */
#define PCLN_GO120 0xfffffff1U	/* Go 1.20+: same layout as 1.18 */

static const char buildinfo_magic[] = "\xff Go buildinf:";	/* 14 bytes */
#define BUILDINFO_HDR 32
#define BUILDINFO_BIGENDIAN 0x1
#define BUILDINFO_INLINE 0x2	/* Go 1.18+: version string inline, not by pointer */

struct load_seg {
	uint64_t vaddr, off, filesz;
};

struct go_binary {
	int fd;
	Elf *elf;
	const uint8_t *img;	/* the whole file, mapped by libelf */
	size_t img_size;
	enum go_arch arch;
	struct load_seg loads[MAX_LOADS];
	int nloads;

	char version[64];
	int major, minor;

	Elf_Scn *symtab;
	bool has_dwarf;
	Dwarf *dw;		/* opened on first field lookup */
	bool dw_failed;

	/* .gopclntab */
	int pcln_err;		/* why pcln is NULL: -ENOENT, -ENOTSUP, -EINVAL */
	const uint8_t *pcln;
	uint64_t pcln_size;
	uint32_t pcln_magic;
	int ptrsize;
	uint64_t nfunc;
	uint64_t text_start;	/* 1.18+: base of functab entry offsets */
	uint64_t funcname_off;	/* offsets from the start of .gopclntab */
	uint64_t functab_off;
	uint64_t text_addr;	/* .text, for a textStart left to relocations */
};

static uint64_t rd_u32(const uint8_t *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
}

static uint64_t rd_u64(const uint8_t *p)
{
	return rd_u32(p) | rd_u32(p + 4) << 32;
}

static uint64_t rd_ptr(const uint8_t *p, int ptrsize)
{
	return ptrsize == 8 ? rd_u64(p) : rd_u32(p);
}

static int vaddr_to_off(const struct go_binary *gb, uint64_t vaddr, uint64_t *off)
{
	for (int i = 0; i < gb->nloads; i++) {
		const struct load_seg *s = &gb->loads[i];

		if (vaddr >= s->vaddr && vaddr - s->vaddr < s->filesz) {
			*off = s->off + (vaddr - s->vaddr);
			return 0;
		}
	}
	return -ENOENT;
}

/* Pointer to size bytes of the file image at vaddr, or NULL. */
static const uint8_t *vaddr_ptr(const struct go_binary *gb, uint64_t vaddr, uint64_t size)
{
	uint64_t off;

	if (vaddr_to_off(gb, vaddr, &off) || off > gb->img_size || size > gb->img_size - off)
		return NULL;
	return gb->img + off;
}

static Elf_Scn *find_section(struct go_binary *gb, const char *name, GElf_Shdr *shdr)
{
	size_t shstrndx;
	Elf_Scn *scn = NULL;

	if (elf_getshdrstrndx(gb->elf, &shstrndx))
		return NULL;
	while ((scn = elf_nextscn(gb->elf, scn))) {
		const char *n;

		if (!gelf_getshdr(scn, shdr))
			continue;
		n = elf_strptr(gb->elf, shstrndx, shdr->sh_name);
		if (n && !strcmp(n, name))
			return scn;
	}
	return NULL;
}

/* File bytes of a section with contents; NULL if absent or out of the file. */
static const uint8_t *section_bytes(struct go_binary *gb, const char *name, GElf_Shdr *shdr)
{
	if (!find_section(gb, name, shdr) || shdr->sh_type == SHT_NOBITS)
		return NULL;
	if (shdr->sh_offset > gb->img_size || shdr->sh_size > gb->img_size - shdr->sh_offset)
		return NULL;
	return gb->img + shdr->sh_offset;
}

static void parse_version(struct go_binary *gb, const char *s, size_t len)
{
	const char *p;

	if (len >= sizeof(gb->version))
		len = sizeof(gb->version) - 1;
	memcpy(gb->version, s, len);
	gb->version[len] = '\0';
	/* "go1.19.8", "go1.21rc2", "devel go1.23-abc123 ..." */
	p = strstr(gb->version, "go1.");
	if (p && p[4] >= '0' && p[4] <= '9') {
		gb->major = 1;
		gb->minor = (int)strtol(p + 4, NULL, 10);
	}
}

/* Unsigned LEB128 (Go's binary.Uvarint); 0 on a truncated or oversized value */
static size_t uvarint(const uint8_t *p, size_t n, uint64_t *v)
{
	*v = 0;
	for (size_t i = 0; i < n && i < 10; i++) {
		*v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80))
			return i + 1;
	}
	return 0;
}

/* The version from .go.buildinfo; -ENOENT if this is not Go build info. */
static int read_buildinfo(struct go_binary *gb)
{
	GElf_Shdr sh;
	const uint8_t *d = section_bytes(gb, ".go.buildinfo", &sh);
	uint64_t len, sptr, slen;
	const uint8_t *str;
	int ps;
	size_t n;

	if (!d || sh.sh_size < BUILDINFO_HDR || memcmp(d, buildinfo_magic, 14))
		return -ENOENT;
	ps = d[14];
	if (ps != 4 && ps != 8)
		return -EINVAL;
	if (d[15] & BUILDINFO_INLINE) {
		n = uvarint(d + BUILDINFO_HDR, sh.sh_size - BUILDINFO_HDR, &len);
		if (!n || len > sh.sh_size - BUILDINFO_HDR - n)
			return -EINVAL;
		parse_version(gb, (const char *)d + BUILDINFO_HDR + n, len);
		return 0;
	}
	if (d[15] & BUILDINFO_BIGENDIAN)
		return -ENOTSUP;
	/* Go 1.13-1.17: pointer to a Go string header {data, len} */
	str = vaddr_ptr(gb, rd_ptr(d + 16, ps), 2 * ps);
	if (!str)
		return -EINVAL;
	sptr = rd_ptr(str, ps);
	slen = rd_ptr(str + ps, ps);
	str = slen < 256 ? vaddr_ptr(gb, sptr, slen) : NULL;
	if (!str)
		return -EINVAL;
	parse_version(gb, (const char *)str, slen);
	return 0;
}

static int read_pclntab(struct go_binary *gb)
{
	GElf_Shdr sh, tsh;
	const uint8_t *d = section_bytes(gb, ".gopclntab", &sh);
	int ps;
	uint64_t ftab_bytes, ent;

	/* PIE and external linking put it in RELRO */
	if (!d)
		d = section_bytes(gb, ".data.rel.ro.gopclntab", &sh);
	if (!d || sh.sh_size < 64)
		return -ENOENT;
	if (section_bytes(gb, ".text", &tsh))
		gb->text_addr = tsh.sh_addr;

	gb->pcln = d;
	gb->pcln_size = sh.sh_size;
	gb->pcln_magic = rd_u32(d);
	ps = d[7];
	if (d[4] || d[5] || (d[6] != 1 && d[6] != 2 && d[6] != 4) || (ps != 4 && ps != 8))
		return -EINVAL;
	gb->ptrsize = ps;
	gb->nfunc = rd_ptr(d + 8, ps);

	switch (gb->pcln_magic) {
	case PCLN_GO116:
		gb->funcname_off = rd_ptr(d + 8 + 2 * ps, ps);
		gb->functab_off = rd_ptr(d + 8 + 6 * ps, ps);
		ent = 2 * ps;
		break;
	case PCLN_GO118:
	case PCLN_GO120:
		gb->text_start = rd_ptr(d + 8 + 2 * ps, ps);
		/* a PIE can leave it 0 in the file, filled by a dynamic relocation */
		if (!gb->text_start)
			gb->text_start = gb->text_addr;
		gb->funcname_off = rd_ptr(d + 8 + 3 * ps, ps);
		gb->functab_off = rd_ptr(d + 8 + 7 * ps, ps);
		ent = 8;
		break;
	default:
		return -ENOTSUP;	/* Go <= 1.15 (0xfffffffb) or unknown */
	}
	/* nfunc {entry, funcoff} pairs, then the end-of-text entry alone */
	ftab_bytes = gb->nfunc * ent + ent / 2;
	if (gb->nfunc == 0 || gb->nfunc > sh.sh_size || gb->functab_off > sh.sh_size ||
	    ftab_bytes > sh.sh_size - gb->functab_off || gb->funcname_off >= sh.sh_size)
		return -EINVAL;
	return 0;
}

static int read_loads(struct go_binary *gb)
{
	size_t n;

	if (elf_getphdrnum(gb->elf, &n))
		return -EINVAL;
	for (size_t i = 0; i < n && gb->nloads < MAX_LOADS; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(gb->elf, i, &ph) || ph.p_type != PT_LOAD)
			continue;
		gb->loads[gb->nloads++] = (struct load_seg){
			.vaddr = ph.p_vaddr, .off = ph.p_offset, .filesz = ph.p_filesz,
		};
	}
	return gb->nloads ? 0 : -ENOEXEC;
}

struct go_binary *go_binary__open(const char *path)
{
	struct go_binary *gb;
	GElf_Ehdr eh;
	GElf_Shdr sh;
	int err;

	if (elf_version(EV_CURRENT) == EV_NONE) {
		errno = EINVAL;
		return NULL;
	}
	gb = calloc(1, sizeof(*gb));
	if (!gb)
		return NULL;
	gb->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (gb->fd < 0) {
		err = -errno;
		goto err;
	}
	gb->elf = elf_begin(gb->fd, ELF_C_READ_MMAP, NULL);
	if (!gb->elf || elf_kind(gb->elf) != ELF_K_ELF || !gelf_getehdr(gb->elf, &eh)) {
		err = -ENOEXEC;
		goto err;
	}
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB) {
		err = -ENOTSUP;
		goto err;
	}
	gb->arch = eh.e_machine == EM_X86_64 ? GO_ARCH_AMD64 :
		   eh.e_machine == EM_AARCH64 ? GO_ARCH_ARM64 : GO_ARCH_UNKNOWN;
	gb->img = (const uint8_t *)elf_rawfile(gb->elf, &gb->img_size);
	if (!gb->img) {
		err = -EINVAL;
		goto err;
	}
	err = read_loads(gb);
	if (err)
		goto err;

	err = read_buildinfo(gb);
	/* a Go binary without build info still has a valid .gopclntab */
	gb->pcln_err = read_pclntab(gb);
	if (gb->pcln_err)
		gb->pcln = NULL;
	if (err && !gb->pcln) {
		err = -ENOEXEC;
		goto err;
	}

	gb->symtab = find_section(gb, ".symtab", &sh);
	if (gb->symtab && (sh.sh_type != SHT_SYMTAB || sh.sh_size == 0))
		gb->symtab = NULL;
	gb->has_dwarf = find_section(gb, ".debug_info", &sh) ||
			find_section(gb, ".zdebug_info", &sh);
	return gb;
err:
	go_binary__free(gb);
	errno = -err;
	return NULL;
}

void go_binary__free(struct go_binary *gb)
{
	if (!gb)
		return;
	if (gb->dw)
		dwarf_end(gb->dw);
	if (gb->elf)
		elf_end(gb->elf);
	if (gb->fd >= 0)
		close(gb->fd);
	free(gb);
}

int go_binary__version(const struct go_binary *gb, int *major, int *minor)
{
	if (!gb->major)
		return -ENOENT;
	*major = gb->major;
	*minor = gb->minor;
	return 0;
}

const char *go_binary__version_str(const struct go_binary *gb)
{
	return gb->version;
}

bool go_binary__regabi(const struct go_binary *gb)
{
	if (gb->major != 1)
		return gb->major > 1;
	return (gb->arch == GO_ARCH_AMD64 && gb->minor >= 17) ||
	       (gb->arch == GO_ARCH_ARM64 && gb->minor >= 18);
}

bool go_binary__is_stripped(const struct go_binary *gb)
{
	return !gb->symtab;
}

bool go_binary__has_dwarf(const struct go_binary *gb)
{
	return gb->has_dwarf;
}

enum go_arch go_binary__arch(const struct go_binary *gb)
{
	return gb->arch;
}

int go_binary__nfuncs(const struct go_binary *gb)
{
	return gb->pcln ? (int)gb->nfunc : -ENOENT;
}

static int fill_func(struct go_binary *gb, uint64_t vaddr, uint64_t size, enum go_func_src src,
		     struct go_func *out)
{
	uint64_t off;

	if (vaddr_to_off(gb, vaddr, &off))
		return -EINVAL;
	*out = (struct go_func){ .vaddr = vaddr, .size = size, .file_off = off, .src = src };
	return 0;
}

static int symtab_func(struct go_binary *gb, const char *name, struct go_func *out)
{
	Elf_Data *data = elf_getdata(gb->symtab, NULL);
	GElf_Shdr sh;
	size_t n;

	if (!data || !gelf_getshdr(gb->symtab, &sh) || !sh.sh_entsize)
		return -EINVAL;
	n = sh.sh_size / sh.sh_entsize;
	for (size_t i = 1; i < n; i++) {
		GElf_Sym sym;
		const char *sn;

		if (!gelf_getsym(data, (int)i, &sym) || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
		    sym.st_shndx == SHN_UNDEF)
			continue;
		sn = elf_strptr(gb->elf, sh.sh_link, sym.st_name);
		if (sn && !strcmp(sn, name))
			return fill_func(gb, sym.st_value, sym.st_size, GO_FUNC_SYMTAB, out);
	}
	return -ENOENT;
}

/* functab entry i: entry address and offset of its _func record (from functab start) */
static void functab_entry(const struct go_binary *gb, uint64_t i, uint64_t *entry,
			  uint64_t *funcoff)
{
	const uint8_t *ft = gb->pcln + gb->functab_off;
	int ps = gb->ptrsize;

	if (gb->pcln_magic == PCLN_GO116) {
		*entry = rd_ptr(ft + i * 2 * ps, ps);
		*funcoff = i < gb->nfunc ? rd_ptr(ft + i * 2 * ps + ps, ps) : 0;
	} else {
		*entry = gb->text_start + rd_u32(ft + i * 8);
		*funcoff = i < gb->nfunc ? rd_u32(ft + i * 8 + 4) : 0;
	}
}

/*
 * Walks the instructions of fn with Capstone, calling visit for each one;
 * visit returns 0 to go on, anything else stops the walk and is returned.
 * -EILSEQ if the body cannot be decoded to its end (amd64: only INT3/zero
 * padding may follow the last instruction; arm64 is fixed width, so an
 * undecodable word, e.g. a literal pool entry, is skipped).
 */
static int walk_insns(struct go_binary *gb, const struct go_func *fn,
		      int (*visit)(void *ctx, const cs_insn *insn), void *ctx)
{
	cs_arch arch;
	cs_mode mode;
	csh cs;
	cs_insn *insn;
	const uint8_t *code;
	uint8_t *buf;
	size_t left;
	uint64_t addr;
	int err = 0;

	if (fn->file_off > gb->img_size || fn->size > gb->img_size - fn->file_off)
		return -ERANGE;
	switch (gb->arch) {
	case GO_ARCH_AMD64:
		arch = CS_ARCH_X86, mode = CS_MODE_64;
		break;
	case GO_ARCH_ARM64:
		arch = CS_ARCH_ARM64, mode = CS_MODE_ARM;
		break;
	default:
		return -ENOTSUP;
	}
	/*
	 * Code is read with pread(), not from libelf's mapping of the file: a
	 * readable private mapping of an executable gets the INT3 of every uprobe
	 * already registered on it (by another tracer, or one still detaching),
	 * which would hide RET instructions from us.
	 */
	buf = malloc(fn->size ? fn->size : 1);
	if (!buf)
		return -ENOMEM;
	if (pread(gb->fd, buf, fn->size, fn->file_off) != (ssize_t)fn->size) {
		free(buf);
		return -EIO;
	}
	if (cs_open(arch, mode, &cs) != CS_ERR_OK) {
		free(buf);
		return -ENOMEM;
	}
	insn = cs_malloc(cs);
	if (!insn) {
		cs_close(&cs);
		free(buf);
		return -ENOMEM;
	}
	code = buf;
	left = fn->size;
	addr = fn->vaddr;
	while (left && !err) {
		if (cs_disasm_iter(cs, &code, &left, &addr, insn)) {
			err = visit(ctx, insn);
			continue;
		}
		if (gb->arch == GO_ARCH_ARM64 && left >= 4) {
			code += 4, left -= 4, addr += 4;
			continue;
		}
		while (left && (*code == 0xcc || *code == 0x00))
			code++, left--;
		if (left)
			err = -EILSEQ;
		break;
	}
	cs_free(insn, 1);
	cs_close(&cs);
	free(buf);
	return err;
}

struct branch_ctx {
	enum go_arch arch;
	const struct go_func *cands;
	int n;
};

/* 1 if insn is a direct call or jump to the entry of one of the candidates */
static int visit_branch(void *ctx, const cs_insn *insn)
{
	const struct branch_ctx *bc = ctx;
	const char *op = insn->op_str;
	uint64_t target;
	char *end;

	if (bc->arch == GO_ARCH_AMD64 && insn->id != X86_INS_CALL && insn->id != X86_INS_JMP)
		return 0;
	if (bc->arch == GO_ARCH_ARM64 && insn->id != ARM64_INS_BL && insn->id != ARM64_INS_B)
		return 0;
	if (*op == '#')
		op++;
	target = strtoull(op, &end, 0);
	if (end == op || *end)
		return 0;	/* indirect */
	for (int i = 0; i < bc->n; i++) {
		if (target == bc->cands[i].vaddr)
			return 1;
	}
	return 0;
}

#define MAX_SAME_NAME 4

/*
 * A Go function called from assembly, or an assembly function called from
 * Go, exists twice under one name in .gopclntab: the body and an ABI
 * wrapper (ABI0 <-> ABIInternal) that calls it. The body is the one to
 * probe: every caller reaches it. (.symtab names the ABI0 one "name.abi0".)
 */
static int pick_body(struct go_binary *gb, const struct go_func *cands, int n)
{
	struct branch_ctx bc = { .arch = gb->arch, .cands = cands, .n = n };

	for (int i = 0; i < n; i++) {
		if (walk_insns(gb, &cands[i], visit_branch, &bc) != 1)
			return i;
	}
	return 0;
}

/*
 * .gopclntab names generic instantiations with their type arguments elided:
 * "pkg.(*T[...]).M" for .symtab's "pkg.(*T[*other.P224Point]).M".
 * 0 and the short form in out if name has type arguments to elide.
 */
static int generic_short_name(const char *name, char *out, size_t size)
{
	size_t o = 0;
	int depth = 0;
	bool changed = false;

	for (const char *p = name; *p; p++) {
		if (*p == ']' && depth && !--depth) {
			if (o + 4 >= size)
				return -ENAMETOOLONG;
			memcpy(out + o, "...", 3);
			o += 3;
		} else if (depth) {
			changed |= *p != '.';
			continue;
		}
		if (*p == '[')
			depth++;
		if (o + 1 >= size)
			return -ENAMETOOLONG;
		out[o++] = *p;
	}
	out[o] = '\0';
	return changed && !depth ? 0 : -ENOENT;
}

static int pclntab_lookup(struct go_binary *gb, const char *name, struct go_func *out);

/*
 * pn (at most len bytes, NUL-terminated) equals name, where a middle dot
 * "\xc2\xb7" in pn also matches '.': .gopclntab keeps "T\xc2\xb71" for a
 * function-local type that .symtab spells "T.1".
 */
static bool pcln_name_eq(const char *pn, uint64_t len, const char *name)
{
	uint64_t i = 0;

	for (;; name++) {
		if (i >= len)
			return false;
		if (pn[i] == '\xc2' && *name == '.' && i + 1 < len && pn[i + 1] == '\xb7') {
			i += 2;
			continue;
		}
		if (pn[i] != *name)
			return false;
		if (!*name)
			return true;
		i++;
	}
}

int go_binary__func_pclntab(struct go_binary *gb, const char *name, struct go_func *out)
{
	char short_name[1024];
	int err = pclntab_lookup(gb, name, out);

	if (err == -ENOENT && !generic_short_name(name, short_name, sizeof(short_name)))
		err = pclntab_lookup(gb, short_name, out);
	return err;
}

static int pclntab_lookup(struct go_binary *gb, const char *name, struct go_func *out)
{
	/* _func: entry (uintptr before 1.18, uint32 offset after), then nameOff int32 */
	uint64_t name_field = gb->pcln_magic == PCLN_GO116 ? (uint64_t)gb->ptrsize : 4;
	struct go_func cands[MAX_SAME_NAME];
	const char *names;
	uint64_t names_len;
	int n = 0, err;

	if (!gb->pcln)
		return gb->pcln_err;
	names = (const char *)gb->pcln + gb->funcname_off;
	names_len = gb->pcln_size - gb->funcname_off;
	for (uint64_t i = 0; i < gb->nfunc && n < MAX_SAME_NAME; i++) {
		uint64_t entry, funcoff, fo, nameoff, next;

		functab_entry(gb, i, &entry, &funcoff);
		fo = gb->functab_off + funcoff;
		if (fo > gb->pcln_size || name_field + 4 > gb->pcln_size - fo)
			return -EINVAL;
		nameoff = rd_u32(gb->pcln + fo + name_field);
		if (nameoff >= names_len ||
		    !pcln_name_eq(names + nameoff, names_len - nameoff, name))
			continue;
		functab_entry(gb, i + 1, &next, &funcoff);
		if (next < entry)
			return -EINVAL;
		err = fill_func(gb, entry, next - entry, GO_FUNC_PCLNTAB, &cands[n++]);
		if (err)
			return err;
	}
	if (!n)
		return -ENOENT;
	/* several instantiations of one generic function: cannot tell which */
	if (n > 1 && strstr(name, "[...]"))
		return -ENOTUNIQ;
	*out = cands[n > 1 ? pick_body(gb, cands, n) : 0];
	return 0;
}

int go_binary__func(struct go_binary *gb, const char *name, struct go_func *out)
{
	int err;

	if (gb->symtab) {
		struct go_func p;

		err = symtab_func(gb, name, out);
		/* assembly symbols may carry no size: take it from .gopclntab */
		if (!err && !out->size && !go_binary__func_pclntab(gb, name, &p) &&
		    p.vaddr == out->vaddr)
			out->size = p.size;
		if (err != -ENOENT)
			return err;
	}
	return go_binary__func_pclntab(gb, name, out);
}

struct ret_ctx {
	unsigned int ret_id;
	const struct go_func *fn;
	uint64_t *offs;
	int n, max;
};

static int visit_ret(void *ctx, const cs_insn *insn)
{
	struct ret_ctx *rc = ctx;

	if (insn->id != rc->ret_id)
		return 0;
	if (rc->n == rc->max)
		return -E2BIG;
	rc->offs[rc->n++] = rc->fn->file_off + (insn->address - rc->fn->vaddr);
	return 0;
}

int go_binary__ret_offsets(struct go_binary *gb, const struct go_func *fn,
			   uint64_t *file_offs, int max)
{
	struct ret_ctx rc = {
		.ret_id = gb->arch == GO_ARCH_ARM64 ? ARM64_INS_RET : X86_INS_RET,
		.fn = fn, .offs = file_offs, .max = max,
	};
	int err = walk_insns(gb, fn, visit_ret, &rc);

	return err ? err : rc.n;
}

struct body_ctx {
	const struct go_func *fn;
	uint64_t off;
	int n;
};

/* Go's amd64 prologue: stack check (CMP, with LEA/MOV/SUB on R12/R13 for
 * large frames), then the conditional jump to morestack. */
static int visit_prologue(void *ctx, const cs_insn *insn)
{
	struct body_ctx *bc = ctx;
	const char *m = insn->mnemonic, *o = insn->op_str;

	if (m[0] == 'j' && strcmp(m, "jmp")) {
		bc->off = bc->fn->file_off + (insn->address - bc->fn->vaddr);
		return 1;
	}
	if (++bc->n > 6)
		return 1;
	if (!strcmp(m, "cmp"))
		return 0;
	if ((!strcmp(m, "lea") || !strcmp(m, "mov") || !strcmp(m, "sub")) &&
	    (!strncmp(o, "r12,", 4) || !strncmp(o, "r13,", 4)))
		return 0;
	return 1;	/* anything else: not the usual prologue */
}

int go_binary__body_offset(struct go_binary *gb, const struct go_func *fn, uint64_t *file_off)
{
	struct body_ctx bc = { .fn = fn };
	struct go_func head = *fn;
	int err;

	*file_off = fn->file_off;
	if (gb->arch != GO_ARCH_AMD64)
		return -ENOTSUP;
	if (head.size > 64)
		head.size = 64;	/* the prologue is short; the cut may split an insn */
	err = walk_insns(gb, &head, visit_prologue, &bc);
	if (err < 0 && err != -EILSEQ)
		return err;
	if (!bc.off)
		return -ENOENT;
	*file_off = bc.off;
	return 0;
}

struct call_ctx {
	const struct go_func *fn;
	uint64_t target;
	uint64_t *offs;
	int n, max;
};

static int visit_call(void *ctx, const cs_insn *insn)
{
	struct call_ctx *cc = ctx;
	char *end;

	if (strcmp(insn->mnemonic, "call") && strcmp(insn->mnemonic, "bl"))
		return 0;
	if (strtoull(insn->op_str + (insn->op_str[0] == '#'), &end, 16) != cc->target || *end)
		return 0;
	if (cc->n == cc->max)
		return -E2BIG;
	cc->offs[cc->n++] = cc->fn->file_off + (insn->address - cc->fn->vaddr);
	return 0;
}

int go_binary__call_sites(struct go_binary *gb, const struct go_func *fn,
			  const struct go_func *callee, uint64_t *file_offs, int max)
{
	struct call_ctx cc = { .fn = fn, .target = callee->vaddr, .offs = file_offs, .max = max };
	int err = walk_insns(gb, fn, visit_call, &cc);

	return err ? err : cc.n;
}

void *go_binary__dwarf(struct go_binary *gb)
{
	if (!gb->has_dwarf || gb->dw_failed)
		return NULL;
	if (!gb->dw) {
		gb->dw = dwarf_begin_elf(gb->elf, DWARF_C_READ, NULL);
		gb->dw_failed = !gb->dw;
	}
	return gb->dw;
}

int go_binary__field_offset_builtin(const struct go_binary *gb, const char *struct_name,
				    const char *field, int64_t *off)
{
	/* the table holds LP64 layouts, identical on amd64 and arm64 */
	if (gb->arch != GO_ARCH_AMD64 && gb->arch != GO_ARCH_ARM64)
		return -ENOENT;
	return go_offsets__lookup(gb->major, gb->minor, struct_name, field, off);
}
