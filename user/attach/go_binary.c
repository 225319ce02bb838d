// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Go executable analysis on an open struct binary: .gopclntab (copied once,
 * names indexed once), RET sites and call sites (Capstone, pread() copies,
 * bounded by max_func_bytes and the CPU budget), struct offsets from DWARF
 * (go_dwarf.c) or the per-version table (go_offsets.c). The version comes
 * from go_version.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <capstone/capstone.h>

#include "attach/binary.h"
#include "attach/go_binary.h"
#include "attach/go_dwarf.h"
#include "attach/go_offsets.h"
#include "attach/go_version.h"

/* .gopclntab header magics (cmd/link/internal/ld/pcln.go, debug/gosym) */
#define PCLN_GO116 0xfffffffaU	/* Go 1.16-1.17 */
#define PCLN_GO118 0xfffffff0U	/* Go 1.18-1.19: entries relative to textStart */
#define PCLN_GO120 0xfffffff1U	/* Go 1.20+: same layout as 1.18 */

#define MAX_PCLN	(256ULL << 20)
#define MAX_NAME	4096	/* name bytes hashed: a longer name is hashed by its prefix */
#define CHARGE_EVERY	1024	/* functions or instructions between two budget checks */
#define WALK_WINDOW	(64 << 10)	/* bytes of a function read and decoded at a time */
#define WALK_INSN_MAX	16	/* longest instruction (x86: 15 bytes) */
#define NO_FUNC		UINT32_MAX
#define MAX_SAME_NAME	4

struct go_binary {
	struct binary *b;	/* borrowed */
	enum go_arch arch;
	struct go_version ver;
	bool has_dwarf;
	struct go_dwarf *dw;	/* opened on first field lookup */
	int dw_err;		/* 1: not tried yet */

	/* .gopclntab, a private copy */
	int pcln_err;		/* why pcln is NULL: -ENOENT, -ENOTSUP, -EINVAL, -EFBIG */
	uint8_t *pcln;
	uint64_t pcln_size;
	uint32_t pcln_magic;
	int ptrsize;
	uint64_t nfunc;
	uint64_t text_start;	/* 1.18+: base of functab entry offsets */
	uint64_t funcname_off;	/* offsets from the start of .gopclntab */
	uint64_t functab_off;

	/* name -> function indices, built on the first pclntab lookup */
	int index_err;		/* 1: not built yet */
	uint32_t *heads, *next;
	uint32_t nbuckets;
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

/* The header after magic, pad and sizes: 7 words (1.16) or 8 (1.18+, textStart). */
static int pcln_header(struct go_binary *gb, const uint8_t *d, uint64_t text_addr)
{
	int ps = d[7];
	uint64_t words;

	gb->pcln_magic = (uint32_t)rd_u32(d);
	if (gb->pcln_magic != PCLN_GO116 && gb->pcln_magic != PCLN_GO118 &&
	    gb->pcln_magic != PCLN_GO120)
		return -ENOTSUP;	/* Go <= 1.15 (0xfffffffb) or unknown */
	if (d[4] || d[5] || (d[6] != 1 && d[6] != 2 && d[6] != 4) || (ps != 4 && ps != 8))
		return -EINVAL;
	words = gb->pcln_magic == PCLN_GO116 ? 7 : 8;
	if (gb->pcln_size < 8 + words * ps)
		return -EINVAL;
	gb->ptrsize = ps;
	gb->nfunc = rd_ptr(d + 8, ps);
	if (gb->pcln_magic == PCLN_GO116) {
		gb->funcname_off = rd_ptr(d + 8 + 2 * ps, ps);
		gb->functab_off = rd_ptr(d + 8 + 6 * ps, ps);
		return 0;
	}
	gb->text_start = rd_ptr(d + 8 + 2 * ps, ps);
	/* a PIE can leave it 0 in the file, filled by a dynamic relocation */
	if (!gb->text_start)
		gb->text_start = text_addr;
	gb->funcname_off = rd_ptr(d + 8 + 3 * ps, ps);
	gb->functab_off = rd_ptr(d + 8 + 7 * ps, ps);
	return 0;
}

static int read_pclntab(struct go_binary *gb)
{
	uint64_t off, size, text_addr = 0, ent, ftab_bytes;
	int err;

	/* PIE and external linking put it in RELRO */
	if (binary__section(gb->b, ".gopclntab", &off, NULL, &size) &&
	    binary__section(gb->b, ".data.rel.ro.gopclntab", &off, NULL, &size))
		return -ENOENT;
	if (size < 8)
		return -EINVAL;
	if (size > MAX_PCLN)
		return -EFBIG;
	binary__section(gb->b, ".text", NULL, &text_addr, NULL);
	gb->pcln = malloc(size);
	if (!gb->pcln)
		return -ENOMEM;
	gb->pcln_size = size;
	err = binary__pread(gb->b, off, gb->pcln, size);
	if (!err)
		err = binary__charge(gb->b);
	if (!err)
		err = pcln_header(gb, gb->pcln, text_addr);
	if (err)
		return err;
	/* nfunc {entry, funcoff} pairs, then the end-of-text entry alone */
	ent = gb->pcln_magic == PCLN_GO116 ? 2ULL * gb->ptrsize : 8;
	if (gb->nfunc == 0 || gb->nfunc > size / 8 || gb->functab_off > size ||
	    gb->funcname_off >= size)
		return -EINVAL;
	ftab_bytes = gb->nfunc * ent + ent / 2;
	if (ftab_bytes > size - gb->functab_off)
		return -EINVAL;
	return 0;
}

/* Is it Go, which version, which tables. */
static int analyse(struct go_binary *gb)
{
	int bi, err;

	bi = go_version__buildinfo(gb->b, &gb->ver);
	gb->pcln_err = read_pclntab(gb);
	if (gb->pcln_err) {
		free(gb->pcln);
		gb->pcln = NULL;
		if (gb->pcln_err == -ENOMEM || gb->pcln_err == -ETIME ||
		    gb->pcln_err == -ECANCELED)
			return gb->pcln_err;
	}
	/* a Go binary without build info still has a valid .gopclntab */
	if (bi && !gb->pcln)
		return -ENOEXEC;
	if (!gb->ver.major) {
		err = go_version__recover(gb, &gb->ver);
		if (err == -ETIME || err == -ECANCELED)
			return err;
	}
	gb->has_dwarf = !binary__section(gb->b, ".debug_info", NULL, NULL, NULL) ||
			!binary__section(gb->b, ".zdebug_info", NULL, NULL, NULL);
	return 0;
}

int go_binary__new(struct binary *b, struct go_binary **out)
{
	struct go_binary *gb;
	int err;

	*out = NULL;
	gb = calloc(1, sizeof(*gb));
	if (!gb)
		return -ENOMEM;
	gb->b = b;
	gb->index_err = 1;
	gb->dw_err = 1;
	gb->arch = binary__arch(b) == BINARY_ARCH_X86_64 ? GO_ARCH_AMD64 :
		   binary__arch(b) == BINARY_ARCH_ARM64 ? GO_ARCH_ARM64 : GO_ARCH_UNKNOWN;
	err = binary__begin(b);
	if (!err)
		err = analyse(gb);
	err = binary__end(b, err);
	if (err) {
		go_binary__free(gb);
		return err;
	}
	*out = gb;
	return 0;
}

void go_binary__free(struct go_binary *gb)
{
	if (!gb)
		return;
	go_dwarf__free(gb->dw);
	free(gb->heads);
	free(gb->next);
	free(gb->pcln);
	free(gb);
}

struct binary *go_binary__binary(const struct go_binary *gb)
{
	return gb->b;
}

int go_binary__version(const struct go_binary *gb, int *major, int *minor)
{
	if (!gb->ver.major)
		return -ENOENT;
	*major = gb->ver.major;
	*minor = gb->ver.minor;
	return 0;
}

const char *go_binary__version_str(const struct go_binary *gb)
{
	return gb->ver.str;
}

enum go_version_src go_binary__version_src(const struct go_binary *gb)
{
	return gb->ver.src;
}

bool go_binary__regabi(const struct go_binary *gb)
{
	if (gb->ver.major != 1)
		return gb->ver.major > 1;
	return (gb->arch == GO_ARCH_AMD64 && gb->ver.minor >= 17) ||
	       (gb->arch == GO_ARCH_ARM64 && gb->ver.minor >= 18);
}

bool go_binary__is_stripped(const struct go_binary *gb)
{
	return !binary__has_symtab(gb->b);
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
	if (!gb->pcln)
		return -ENOENT;
	return gb->nfunc > INT32_MAX ? INT32_MAX : (int)gb->nfunc;
}

static int fill_func(struct go_binary *gb, uint64_t vaddr, uint64_t size, enum go_func_src src,
		     struct go_func *out)
{
	uint64_t off;

	if (binary__vaddr_to_off(gb->b, vaddr, &off))
		return -EINVAL;
	*out = (struct go_func){ .vaddr = vaddr, .size = size, .file_off = off, .src = src };
	return 0;
}

/* functab entry i (i <= nfunc, checked at parse): entry address, _func offset */
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

/* Name of function i: pointer and the bytes left in funcnametab; -EINVAL, -ENOENT. */
static int func_name(const struct go_binary *gb, uint64_t i, const char **name, uint64_t *len)
{
	/* _func: entry (uintptr before 1.18, uint32 offset after), then nameOff int32 */
	uint64_t name_field = gb->pcln_magic == PCLN_GO116 ? (uint64_t)gb->ptrsize : 4;
	uint64_t entry, funcoff, fo, nameoff, names_len = gb->pcln_size - gb->funcname_off;

	functab_entry(gb, i, &entry, &funcoff);
	fo = gb->functab_off + funcoff;
	if (funcoff > gb->pcln_size || fo > gb->pcln_size || name_field + 4 > gb->pcln_size - fo)
		return -EINVAL;
	nameoff = rd_u32(gb->pcln + fo + name_field);
	if (nameoff >= names_len)
		return -ENOENT;
	*name = (const char *)gb->pcln + gb->funcname_off + nameoff;
	*len = names_len - nameoff;
	return 0;
}

/*
 * FNV-1a of a name as .gopclntab spells it or a caller does: a middle dot
 * "\xc2\xb7" counts as '.', so both spellings land in one bucket (see
 * pcln_name_eq()). At most MAX_NAME characters and len bytes.
 */
static uint32_t pcln_hash(const char *p, uint64_t len)
{
	uint32_t h = 2166136261U;
	uint64_t i = 0;

	for (int n = 0; i < len && p[i] && n < MAX_NAME; n++, i++) {
		uint8_t c = (uint8_t)p[i];

		if (c == 0xc2 && i + 1 < len && (uint8_t)p[i + 1] == 0xb7)
			c = '.', i++;
		h = (h ^ c) * 16777619U;
	}
	return h;
}

/* One pass over the functions: each name hashed once. */
static int build_index(struct go_binary *gb)
{
	uint32_t n = (uint32_t)gb->nfunc;
	int err = 0;

	for (gb->nbuckets = 64; gb->nbuckets < n; gb->nbuckets *= 2)
		;
	gb->heads = malloc(gb->nbuckets * sizeof(*gb->heads));
	gb->next = malloc((size_t)n * sizeof(*gb->next));
	if (!gb->heads || !gb->next)
		return -ENOMEM;
	memset(gb->heads, 0xff, gb->nbuckets * sizeof(*gb->heads));
	/* backwards: each chain lists functions in table order */
	for (uint32_t i = n; i-- > 0 && !err;) {
		const char *name;
		uint64_t len;
		uint32_t h;

		gb->next[i] = NO_FUNC;
		err = func_name(gb, i, &name, &len);
		if (err == -ENOENT) {
			err = 0;
			continue;	/* nameless: never found by name */
		}
		if (err)
			break;
		h = pcln_hash(name, len) & (gb->nbuckets - 1);
		gb->next[i] = gb->heads[h];
		gb->heads[h] = i;
		if (i % CHARGE_EVERY == 0)
			err = binary__charge(gb->b);
	}
	return err;
}

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

/* One window of a function walk's state: Capstone handle, scratch instruction. */
struct walk {
	struct go_binary *gb;
	csh cs;
	cs_insn *insn;
	unsigned long k;	/* instructions so far: the budget is charged every CHARGE_EVERY */
	bool padding;		/* x86: undecodable bytes met; the rest must be int3/zero fill */
	int (*visit)(void *ctx, const struct cs_insn *insn);
	void *ctx;
};

/*
 * Walk the instructions of buf[0..n) at vaddr; *used: bytes consumed. Not the
 * function's last window (more): stop short of its end, where an instruction
 * may continue in the next window.
 */
static int walk_window(struct walk *w, const uint8_t *buf, size_t n, uint64_t vaddr, bool more,
		       size_t *used)
{
	const uint8_t *code = buf;
	uint64_t addr = vaddr;
	size_t left = n;
	int err = 0;

	while (left && !err && !w->padding) {
		if (more && left < WALK_INSN_MAX)
			break;
		if (++w->k % CHARGE_EVERY == 0 && (err = binary__charge(w->gb->b)))
			break;
		if (cs_disasm_iter(w->cs, &code, &left, &addr, w->insn)) {
			err = w->visit(w->ctx, w->insn);
			continue;
		}
		if (w->gb->arch == GO_ARCH_ARM64 && left >= 4)
			code += 4, left -= 4, addr += 4;
		else
			w->padding = true;
	}
	while (w->padding && left && (*code == 0xcc || *code == 0x00))
		code++, left--;
	if (w->padding && left)
		err = -EILSEQ;
	*used = n - left;
	return err;
}

/*
 * Walks the instructions of fn with Capstone, calling visit for each one;
 * visit returns 0 to go on, anything else stops the walk and is returned.
 * -EILSEQ if the body cannot be decoded to its end (amd64: only INT3/zero
 * padding may follow the last instruction; arm64 is fixed width, so an
 * undecodable word, e.g. a literal pool entry, is skipped). -EFBIG over
 * max_func_bytes; the CPU budget is charged as it goes. The body is read and
 * decoded WALK_WINDOW bytes at a time: a huge function costs no memory, and its
 * reads are charged to the budget like its instructions.
 *
 * Code is read with pread(), not from a mapping of the file: a readable
 * private mapping of an executable gets the INT3 of every uprobe already
 * registered on it (another tracer's, or ours still detaching), which would
 * hide RET instructions from us.
 */
int go_binary__walk(struct go_binary *gb, const struct go_func *fn, bool detail,
		    int (*visit)(void *ctx, const struct cs_insn *insn), void *ctx)
{
	cs_arch arch = gb->arch == GO_ARCH_ARM64 ? CS_ARCH_ARM64 : CS_ARCH_X86;
	cs_mode mode = gb->arch == GO_ARCH_ARM64 ? CS_MODE_ARM : CS_MODE_64;
	struct walk w = { .gb = gb, .visit = visit, .ctx = ctx };
	uint64_t done = 0;
	uint8_t *buf = NULL;
	size_t n, used;
	int err = 0;

	if (gb->arch == GO_ARCH_UNKNOWN)
		return -ENOTSUP;
	if (fn->size > binary__max_func_bytes(gb->b))
		return -EFBIG;
	buf = malloc(fn->size < WALK_WINDOW ? (fn->size ? fn->size : 1) : WALK_WINDOW);
	if (!buf)
		return -ENOMEM;
	if (cs_open(arch, mode, &w.cs) != CS_ERR_OK) {
		err = -ENOMEM;
		goto cleanup;
	}
	if (detail)
		cs_option(w.cs, CS_OPT_DETAIL, CS_OPT_ON);
	w.insn = cs_malloc(w.cs);
	if (!w.insn) {
		err = -ENOMEM;
		goto cleanup;
	}
	while (done < fn->size && !err) {
		used = 0;
		n = fn->size - done < WALK_WINDOW ? fn->size - done : WALK_WINDOW;
		err = binary__pread(gb->b, fn->file_off + done, buf, n);
		if (!err)
			err = walk_window(&w, buf, n, fn->vaddr + done, done + n < fn->size, &used);
		if (!err)
			err = binary__charge(gb->b);
		done += used;
	}
cleanup:
	if (w.insn)
		cs_free(w.insn, 1);
	if (w.cs)
		cs_close(&w.cs);
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

/*
 * A Go function called from assembly, or an assembly function called from
 * Go, exists twice under one name in .gopclntab: the body and an ABI
 * wrapper (ABI0 <-> ABIInternal) that calls it. The body is the one to
 * probe: every caller reaches it. (.symtab names the ABI0 one "name.abi0".)
 * The index of the body, or -ETIME / -ECANCELED.
 */
static int pick_body(struct go_binary *gb, const struct go_func *cands, int n)
{
	struct branch_ctx bc = { .arch = gb->arch, .cands = cands, .n = n };

	for (int i = 0; i < n; i++) {
		int err = go_binary__walk(gb, &cands[i], false, visit_branch, &bc);

		if (err == -ETIME || err == -ECANCELED)
			return err;
		if (err != 1)
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

/* Up to MAX_SAME_NAME functions named name, in table order. Count or -errno. */
static int pclntab_candidates(struct go_binary *gb, const char *name, struct go_func *cands)
{
	uint64_t len, entry, next, funcoff;
	unsigned long k = 0;
	const char *pn;
	int n = 0, err;

	for (uint32_t i = gb->heads[pcln_hash(name, UINT64_MAX) & (gb->nbuckets - 1)];
	     i != NO_FUNC && n < MAX_SAME_NAME; i = gb->next[i]) {
		if (++k % CHARGE_EVERY == 0 && (err = binary__charge(gb->b)))
			return err;
		if (func_name(gb, i, &pn, &len) || !pcln_name_eq(pn, len, name))
			continue;
		functab_entry(gb, i, &entry, &funcoff);
		functab_entry(gb, i + 1, &next, &funcoff);
		if (next < entry)
			return -EINVAL;
		err = fill_func(gb, entry, next - entry, GO_FUNC_PCLNTAB, &cands[n++]);
		if (err)
			return err;
	}
	return n;
}

static int pclntab_lookup(struct go_binary *gb, const char *name, struct go_func *out)
{
	struct go_func cands[MAX_SAME_NAME];
	int n, i;

	if (!gb->pcln)
		return gb->pcln_err;
	if (gb->index_err == 1)
		gb->index_err = build_index(gb);
	if (gb->index_err)
		return gb->index_err;
	n = pclntab_candidates(gb, name, cands);
	if (n <= 0)
		return n ? n : -ENOENT;
	/* several instantiations of one generic function: cannot tell which */
	if (n > 1 && strstr(name, "[...]"))
		return -ENOTUNIQ;
	i = n > 1 ? pick_body(gb, cands, n) : 0;
	if (i < 0)
		return i;
	*out = cands[i];
	return 0;
}

static int func_pclntab(struct go_binary *gb, const char *name, struct go_func *out)
{
	char short_name[1024];
	int err = pclntab_lookup(gb, name, out);

	if (err == -ENOENT && !generic_short_name(name, short_name, sizeof(short_name)))
		err = pclntab_lookup(gb, short_name, out);
	return err;
}

int go_binary__func_pclntab(struct go_binary *gb, const char *name, struct go_func *out)
{
	int err = binary__begin(gb->b);

	if (!err)
		err = func_pclntab(gb, name, out);
	return binary__end(gb->b, err);
}

static int func_any(struct go_binary *gb, const char *name, struct go_func *out)
{
	struct binary_sym s;
	struct go_func p;
	int err;

	if (binary__has_symtab(gb->b)) {
		err = binary__sym(gb->b, name, &s);
		if (!err)
			err = fill_func(gb, s.vaddr, s.size, GO_FUNC_SYMTAB, out);
		/* assembly symbols may carry no size: take it from .gopclntab */
		if (!err && !out->size && !func_pclntab(gb, name, &p) && p.vaddr == out->vaddr)
			out->size = p.size;
		if (err != -ENOENT)
			return err;
	}
	return func_pclntab(gb, name, out);
}

int go_binary__func(struct go_binary *gb, const char *name, struct go_func *out)
{
	int err = binary__begin(gb->b);

	if (!err)
		err = func_any(gb, name, out);
	return binary__end(gb->b, err);
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

/* A walk as one budgeted query: count, or its error. */
static int walk_query(struct go_binary *gb, const struct go_func *fn,
		      int (*visit)(void *ctx, const cs_insn *insn), void *ctx, const int *count)
{
	int err = binary__begin(gb->b);

	if (!err)
		err = go_binary__walk(gb, fn, false, visit, ctx);
	err = binary__end(gb->b, err);
	return err ? err : *count;
}

int go_binary__ret_offsets(struct go_binary *gb, const struct go_func *fn,
			   uint64_t *file_offs, int max)
{
	struct ret_ctx rc = {
		.ret_id = gb->arch == GO_ARCH_ARM64 ? ARM64_INS_RET : X86_INS_RET,
		.fn = fn, .offs = file_offs, .max = max,
	};

	return walk_query(gb, fn, visit_ret, &rc, &rc.n);
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
	int zero = 0, err;

	*file_off = fn->file_off;
	if (gb->arch != GO_ARCH_AMD64)
		return -ENOTSUP;
	if (head.size > 64)
		head.size = 64;	/* the prologue is short; the cut may split an insn */
	err = walk_query(gb, &head, visit_prologue, &bc, &zero);
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

	return walk_query(gb, fn, visit_call, &cc, &cc.n);
}

static struct go_dwarf *dwarf_of(struct go_binary *gb)
{
	if (gb->dw_err == 1)
		gb->dw_err = gb->has_dwarf ? go_dwarf__new(gb->b, &gb->dw) : -ENOENT;
	return gb->dw;
}

void *go_binary__dwarf(struct go_binary *gb)
{
	struct go_dwarf *gd = dwarf_of(gb);

	return gd ? go_dwarf__handle(gd) : NULL;
}

int go_binary__field_offset_dwarf(struct go_binary *gb, const char *struct_name,
				  const char *field, int64_t *off)
{
	struct go_dwarf *gd = dwarf_of(gb);
	bool described;

	return gd ? go_dwarf__field_offset(gd, struct_name, field, off, &described) : -ENOENT;
}

int go_binary__field_offset_builtin(const struct go_binary *gb, const char *struct_name,
				    const char *field, int64_t *off)
{
	/* the table holds LP64 layouts, identical on amd64 and arm64 */
	if (gb->arch != GO_ARCH_AMD64 && gb->arch != GO_ARCH_ARM64)
		return -ENOENT;
	return go_offsets__lookup(gb->ver.major, gb->ver.minor, struct_name, field, off);
}

int go_binary__field_offset(struct go_binary *gb, const char *struct_name, const char *field,
			    int64_t *off)
{
	struct go_dwarf *gd = dwarf_of(gb);
	bool described = false;
	int err;

	/* DWARF, when it describes the struct, is the truth: a field it lacks is
	 * not guessed from the table */
	if (gd) {
		err = go_dwarf__field_offset(gd, struct_name, field, off, &described);
		if (described || err == -ETIME || err == -ECANCELED)
			return err;
	}
	return go_binary__field_offset_builtin(gb, struct_name, field, off);
}

/* go_binary__g_offsets_from_code(): 64-bit copies memory -> register -> memory */
#define GCOPY_MAX	64
#define GCOPY_MAX_OFF	4096	/* runtime.g is a few hundred bytes */

struct gcopy_ctx {
	int64_t loaded[16];	/* per 64-bit GPR: the offset it was loaded from, else -1 */
	struct { int64_t from, to; } copies[GCOPY_MAX];
	int n;
};

static int gpr64(x86_reg r)
{
	static const x86_reg regs[16] = {
		X86_REG_RAX, X86_REG_RCX, X86_REG_RDX, X86_REG_RBX, X86_REG_RSP, X86_REG_RBP,
		X86_REG_RSI, X86_REG_RDI, X86_REG_R8, X86_REG_R9, X86_REG_R10, X86_REG_R11,
		X86_REG_R12, X86_REG_R13, X86_REG_R14, X86_REG_R15,
	};

	for (int i = 0; i < 16; i++)
		if (regs[i] == r)
			return i;
	return -1;
}

/* A field of a struct through a pointer register: [reg + disp], not the stack's spills. */
static bool field_mem(const cs_x86_op *op)
{
	return op->type == X86_OP_MEM && op->size == 8 && op->mem.index == X86_REG_INVALID &&
	       op->mem.segment == X86_REG_INVALID && gpr64(op->mem.base) >= 0 &&
	       op->mem.base != X86_REG_RSP && op->mem.base != X86_REG_RBP &&
	       op->mem.disp > 0 && op->mem.disp < GCOPY_MAX_OFF && op->mem.disp % 8 == 0;
}

static int visit_gcopy(void *ctx, const cs_insn *insn)
{
	struct gcopy_ctx *gc = ctx;
	const cs_x86 *x;
	int r;

	if (!insn->detail)
		return -EINVAL;
	x = &insn->detail->x86;
	if (insn->id == X86_INS_MOV && x->op_count == 2 && x->operands[0].type == X86_OP_MEM &&
	    x->operands[1].type == X86_OP_REG) {
		r = gpr64(x->operands[1].reg);
		if (r >= 0 && gc->loaded[r] >= 0 && field_mem(&x->operands[0]) &&
		    gc->loaded[r] != x->operands[0].mem.disp && gc->n < GCOPY_MAX) {
			gc->copies[gc->n].from = gc->loaded[r];
			gc->copies[gc->n++].to = x->operands[0].mem.disp;
		}
		return 0;	/* a store writes no register */
	}
	if (insn->id == X86_INS_CALL) {
		for (int i = 0; i < 16; i++)
			gc->loaded[i] = -1;	/* Go's ABI: every register is the callee's */
		return 0;
	}
	/* what the instruction writes forgets its load (a partial register: all of them) */
	for (int i = 0; i < x->op_count; i++) {
		if (x->operands[i].type != X86_OP_REG || !(x->operands[i].access & CS_AC_WRITE))
			continue;
		r = gpr64(x->operands[i].reg);
		if (r >= 0) {
			gc->loaded[r] = -1;
		} else {
			for (int j = 0; j < 16; j++)
				gc->loaded[j] = -1;
		}
	}
	if (insn->id == X86_INS_MOV && x->op_count == 2 && x->operands[0].type == X86_OP_REG &&
	    (r = gpr64(x->operands[0].reg)) >= 0 && field_mem(&x->operands[1]))
		gc->loaded[r] = x->operands[1].mem.disp;
	return 0;
}

int go_binary__g_offsets_from_code(struct go_binary *gb, int64_t *goid, int64_t *parent_goid)
{
	struct gcopy_ctx *gc;
	struct go_func fn;
	int64_t a = -1, b = -1;
	int err, found = 0;

	if (gb->arch != GO_ARCH_AMD64)
		return -ENOTSUP;
	err = go_binary__func(gb, "runtime.newproc1", &fn);
	if (err)
		return err;
	gc = calloc(1, sizeof(*gc));
	if (!gc)
		return -ENOMEM;
	for (int i = 0; i < 16; i++)
		gc->loaded[i] = -1;
	err = binary__begin(gb->b);
	if (!err)
		err = go_binary__walk(gb, &fn, true, visit_gcopy, gc);
	err = binary__end(gb->b, err);
	/* goid: copied to parentGoid, and what goidcache was copied to */
	for (int i = 0; !err && i < gc->n; i++) {
		bool fed = false;

		for (int j = 0; j < gc->n && !fed; j++)
			fed = gc->copies[j].to == gc->copies[i].from;
		if (!fed || (found && gc->copies[i].from == a && gc->copies[i].to == b))
			continue;
		a = gc->copies[i].from;
		b = gc->copies[i].to;
		found++;
	}
	free(gc);
	if (err)
		return err;
	if (found != 1)
		return -ENOENT;
	*goid = a;
	*parent_goid = b;
	return 0;
}

/*
 * x86-64 instructions whose uprobe the kernel emulates (arch/x86/kernel/uprobes.c:
 * branch_setup_xol_ops: CALL rel32, JMP rel8/rel32, Jcc rel8/rel32, NOP;
 * push_setup_xol_ops: PUSH of a general register); any other instruction is
 * copied out of line and single-stepped (RET included).
 */
static bool op_emulated(const uint8_t *op)
{
	if (op[0] == 0xe8 || op[0] == 0xe9 || op[0] == 0xeb || op[0] == 0x90 ||
	    (op[0] >= 0x70 && op[0] <= 0x7f) || (op[0] >= 0x50 && op[0] <= 0x57))
		return true;
	return (op[0] == 0x0f && op[1] >= 0x80 && op[1] <= 0x8f) ||
	       (op[0] == 0x41 && op[1] >= 0x50 && op[1] <= 0x57);
}

bool go_binary__site_emulated(struct go_binary *gb, uint64_t file_off)
{
	uint8_t op[2] = {};

	if (gb->arch != GO_ARCH_AMD64 || binary__pread(gb->b, file_off, op, sizeof(op)))
		return false;
	return op_emulated(op);
}

struct frame_ctx {
	uint64_t size;
	bool body;		/* past the stack check's jump */
	int n;
};

/* After the stack check: PUSH RBP (1.21+) or not, SUB/ADD RSP, the frame pointer. */
static int visit_frame(void *ctx, const cs_insn *insn)
{
	struct frame_ctx *fc = ctx;
	const char *m = insn->mnemonic, *o = insn->op_str;
	char *end;
	long long v;

	if (++fc->n > 10)
		return 1;
	if (!fc->body) {
		fc->body = m[0] == 'j' && strcmp(m, "jmp");
		return 0;
	}
	if (!strcmp(m, "push") && !strcmp(o, "rbp")) {
		fc->size += 8;
		return 0;
	}
	if ((!strcmp(m, "sub") || !strcmp(m, "add")) && !strncmp(o, "rsp, ", 5)) {
		v = strtoll(o + 5, &end, 0);
		if (*end)
			return 1;
		fc->size += !strcmp(m, "sub") ? v : -v;
		return 0;
	}
	if ((!strcmp(m, "mov") && (!strcmp(o, "rbp, rsp") || strstr(o, "], rbp"))) ||
	    (!strcmp(m, "lea") && !strncmp(o, "rbp, [rsp", 9)))
		return 0;
	return 1;
}

int go_binary__frame_size(struct go_binary *gb, const struct go_func *fn, uint64_t *size)
{
	struct frame_ctx fc = {};
	struct go_func head = *fn;
	int zero = 0, err;

	*size = 0;
	if (gb->arch != GO_ARCH_AMD64)
		return -ENOTSUP;
	if (head.size > 64)
		head.size = 64;
	err = walk_query(gb, &head, visit_frame, &fc, &zero);
	if (err < 0 && err != -EILSEQ)
		return err;
	if (!fc.body || !fc.size || fc.size > (1 << 24))
		return -ENOENT;
	*size = fc.size;
	return 0;
}

#define MAX_WALK_INSNS 8192

struct flow_ctx {
	const struct go_func *fn;
	uint64_t callee;
	uint64_t *targets;	/* jump targets inside fn */
	int ntargets;
};

static int visit_targets(void *ctx, const cs_insn *insn)
{
	struct flow_ctx *fc = ctx;
	uint64_t t;
	char *end;

	if (insn->mnemonic[0] != 'j')
		return 0;
	t = strtoull(insn->op_str, &end, 16);
	if (*end || t < fc->fn->vaddr || t >= fc->fn->vaddr + fc->fn->size)
		return 0;
	if (fc->ntargets == MAX_WALK_INSNS)
		return -E2BIG;
	fc->targets[fc->ntargets++] = t;
	return 0;
}

static bool u64_in(const uint64_t *a, int n, uint64_t v)
{
	for (int i = 0; i < n; i++)
		if (a[i] == v)
			return true;
	return false;
}

static bool is_target(const struct flow_ctx *fc, uint64_t a)
{
	return u64_in(fc->targets, fc->ntargets, a);
}

/* Reachability inside one function (go_binary__rets_before_cuts) */
enum flow_kind { FLOW_NEXT, FLOW_RET, FLOW_JMP, FLOW_JCC, FLOW_STOP };

struct flow_insn {
	uint64_t addr;
	uint64_t target;	/* a direct jump's target inside fn, 0 if it leaves fn */
	uint8_t kind;
	uint8_t cut;		/* 1 + enum go_cut_edge where a probe ends the call, else 0 */
	uint8_t hit;		/* a direct CALL of reach_ctx.callee */
	uint16_t mark;		/* bit 0: reached from the entry past no cut; 1 + i: from cut i */
};

struct reach_ctx {
	const struct go_func *fn;
	const uint64_t *noret;	/* callees that never return */
	int nnoret;
	uint64_t callee;	/* whose CALLs are flagged (hit), 0: none */
	struct flow_insn *ins;
	int n;
};

static int visit_flow(void *ctx, const cs_insn *insn)
{
	struct reach_ctx *rc = ctx;
	struct flow_insn *fi;
	bool direct, inside;
	uint64_t t;
	char *end;

	if (rc->n == MAX_WALK_INSNS)
		return -E2BIG;
	fi = &rc->ins[rc->n++];
	fi->addr = insn->address;
	fi->kind = FLOW_NEXT;
	t = strtoull(insn->op_str, &end, 16);
	direct = !*end && end != insn->op_str;
	inside = direct && t >= rc->fn->vaddr && t < rc->fn->vaddr + rc->fn->size;

	if (insn->id == X86_INS_RET) {
		fi->kind = FLOW_RET;
	} else if (insn->id == X86_INS_UD2 || insn->id == X86_INS_INT3 || insn->id == X86_INS_HLT) {
		fi->kind = FLOW_STOP;
	} else if (insn->id == X86_INS_CALL) {
		if (direct && u64_in(rc->noret, rc->nnoret, t))
			fi->kind = FLOW_STOP;
		fi->hit = direct && rc->callee && t == rc->callee;
	} else if (insn->mnemonic[0] == 'j') {
		if (!direct)
			return -ENOTSUP;	/* a jump table: where it goes is not known */
		fi->kind = insn->id == X86_INS_JMP ? FLOW_JMP : FLOW_JCC;
		fi->target = inside ? t : 0;
	}
	return 0;
}

static int flow_index(const struct reach_ctx *rc, uint64_t addr)
{
	int lo = 0, hi = rc->n - 1;

	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;

		if (rc->ins[mid].addr == addr)
			return mid;
		if (rc->ins[mid].addr < addr)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/* Marks with bit what is reachable from instruction index start, stopping at the cuts'
 * edges if cuts; -EILSEQ on a jump into the middle of an instruction. */
static int flow_mark(struct reach_ctx *rc, int start, uint16_t bit, bool cuts)
{
	int *stack = malloc(rc->n * sizeof(*stack)), top = 0, err = 0;

	if (!stack)
		return -ENOMEM;
	if (start < rc->n)
		stack[top++] = start;
	while (top > 0 && !err) {
		int i = stack[--top];

		for (; i < rc->n && !(rc->ins[i].mark & bit); i++) {
			struct flow_insn *fi = &rc->ins[i];
			int cut = cuts ? fi->cut : 0;

			fi->mark |= bit;
			if (cut == 1 + GO_CUT_ALL)
				break;
			if ((fi->kind == FLOW_JMP || fi->kind == FLOW_JCC) && fi->target &&
			    cut != 1 + GO_CUT_TAKEN) {
				int j = flow_index(rc, fi->target);

				if (j < 0) {
					err = -EILSEQ;
					break;
				}
				if (!(rc->ins[j].mark & bit))
					stack[top++] = j;	/* each index is pushed once per mark */
			}
			if ((fi->kind != FLOW_NEXT && fi->kind != FLOW_JCC) || cut == 1 + GO_CUT_FALL)
				break;
		}
	}
	free(stack);
	return err;
}

/* Flags the cuts and marks the walks: from the entry past no cut, then from each cut's
 * ending edge(s). */
static int flow_cuts(struct reach_ctx *rc, const struct go_cut *cuts, int ncuts)
{
	int idx[GO_MAX_CUTS], err = 0;

	for (int i = 0; i < ncuts; i++) {
		idx[i] = flow_index(rc, rc->fn->vaddr + (cuts[i].off - rc->fn->file_off));
		if (idx[i] < 0 || (cuts[i].edge != GO_CUT_ALL && rc->ins[idx[i]].kind != FLOW_JCC))
			return -ENOENT;
		rc->ins[idx[i]].cut = 1 + cuts[i].edge;
	}
	err = flow_mark(rc, 0, 1, true);
	for (int i = 0; i < ncuts && !err; i++) {
		const struct flow_insn *fi = &rc->ins[idx[i]];
		int start = idx[i];

		if (cuts[i].edge == GO_CUT_FALL)
			start++;
		else if (cuts[i].edge == GO_CUT_TAKEN)
			start = fi->target ? flow_index(rc, fi->target) : rc->n;
		if (start < 0)
			return -EILSEQ;
		err = flow_mark(rc, start, 1 << (1 + i), false);
	}
	return err;
}

/* The walk of fn into rc (rc->ins allocated); 0 or an error. */
static int flow_walk(struct go_binary *gb, struct reach_ctx *rc)
{
	int zero = 0;

	if (gb->arch != GO_ARCH_AMD64)
		return -ENOTSUP;
	rc->ins = calloc(MAX_WALK_INSNS, sizeof(*rc->ins));
	if (!rc->ins)
		return -ENOMEM;
	return walk_query(gb, rc->fn, visit_flow, rc, &zero);
}

int go_binary__last_call(struct go_binary *gb, const struct go_func *fn,
			 const struct go_func *callee, const uint64_t *noret, int nnoret,
			 uint64_t *call_off)
{
	struct reach_ctx rc = { .fn = fn, .noret = noret, .nnoret = nnoret,
				.callee = callee->vaddr };
	int err = flow_walk(gb, &rc), found = 0;

	for (int i = 0; i < rc.n && !err; i++) {
		bool other = false;

		if (!rc.ins[i].hit)
			continue;
		for (int j = 0; j < rc.n; j++)
			rc.ins[j].mark = 0;
		err = flow_mark(&rc, i + 1, 1, false);
		for (int j = 0; j < rc.n && !err; j++)
			other |= j != i && rc.ins[j].hit && (rc.ins[j].mark & 1);
		if (!err && !other) {
			*call_off = fn->file_off + (rc.ins[i].addr - fn->vaddr);
			found++;
		}
	}
	free(rc.ins);
	return err ? err : found == 1 ? 0 : -ENOENT;
}

int go_binary__rets_before_cuts(struct go_binary *gb, const struct go_func *fn,
				struct go_cut *cuts, int ncuts, const uint64_t *noret,
				int nnoret, uint64_t *file_offs, int max)
{
	struct reach_ctx rc = { .fn = fn, .noret = noret, .nnoret = nnoret };
	uint16_t claims = 0;
	int err, n = 0;

	if (ncuts < 1 || ncuts > GO_MAX_CUTS)
		return -EINVAL;
	err = flow_walk(gb, &rc);
	if (!err)
		err = flow_cuts(&rc, cuts, ncuts);
	for (int i = 0; i < ncuts; i++) {
		cuts[i].behind = 0;
		cuts[i].first_behind = 0;
		if (cuts[i].claims)
			claims |= 1 << (1 + i);
	}
	for (int i = 0; i < rc.n && !err; i++) {
		uint16_t m = rc.ins[i].mark;
		uint64_t off = fn->file_off + (rc.ins[i].addr - fn->vaddr);

		if (rc.ins[i].kind != FLOW_RET)
			continue;
		/* past no cut, or by no path seen (a panic's), and claimed by no cut */
		if (((m & 1) || !m) && !(m & claims)) {
			if (n == max)
				err = -E2BIG;
			else
				file_offs[n++] = off;
			continue;
		}
		for (int c = 0; c < ncuts; c++) {
			if (!(m & (1 << (1 + c))))
				continue;
			if (!cuts[c].behind++)
				cuts[c].first_behind = off;
		}
	}
	free(rc.ins);
	return err ? err : n;
}

/* What follows a CALL (go_binary__err_tests, go_binary__site_after_call) */
struct after_ctx {
	struct flow_ctx fc;	/* fn, the callee, the jump targets */
	uint64_t call;		/* the CALL's address, 0: any CALL of the callee */
	const char *reg;	/* a register the stretch leaves as the CALL returned it */
	int step;		/* instructions since the CALL, 0: not after one */
	struct go_cut *cuts;
	int n, max;
};

static uint64_t insn_off(const struct after_ctx *ac, const cs_insn *insn)
{
	return ac->fc.fn->file_off + (insn->address - ac->fc.fn->vaddr);
}

/* CALL callee; TEST RAX, RAX; JNE or JE: the Jcc and its error edge */
static int visit_err_test(void *ctx, const cs_insn *insn)
{
	struct after_ctx *ac = ctx;
	int step = ac->step;
	char *end;

	ac->step = 0;
	if (step == 1 && insn->id == X86_INS_NOP && !is_target(&ac->fc, insn->address)) {
		ac->step = 1;	/* alignment */
		return 0;
	}
	if (insn->id == X86_INS_CALL) {
		ac->step = strtoull(insn->op_str, &end, 16) == ac->fc.callee && !*end;
		return 0;
	}
	if (step == 1 && insn->id == X86_INS_TEST && !strcmp(insn->op_str, "rax, rax") &&
	    !is_target(&ac->fc, insn->address)) {
		ac->step = 2;
		return 0;
	}
	if (step != 2 || (insn->id != X86_INS_JNE && insn->id != X86_INS_JE) ||
	    is_target(&ac->fc, insn->address))
		return 0;
	if (ac->n == ac->max)
		return -E2BIG;
	ac->cuts[ac->n].off = insn_off(ac, insn);
	ac->cuts[ac->n++].edge = insn->id == X86_INS_JNE ? GO_CUT_TAKEN : GO_CUT_FALL;
	return 0;
}

/* Whether an instruction may write the 64-bit register reg ("rbx"): true for one outside
 * the list of moves and arithmetic whose first operand is the destination. */
static bool writes_reg(const cs_insn *insn, const char *reg)
{
	static const char *const movers[] = { "mov", "lea", "movzx", "movsx", "movsxd", "movups",
					      "movaps", "movdqu", "xorps", "pxor", "add", "sub",
					      "and", "or", "xor", "inc", "dec" };
	const char *o = insn->op_str;
	size_t len = strcspn(o, ",");
	bool known = false;

	if (insn->id == X86_INS_TEST || insn->id == X86_INS_CMP)
		return false;
	for (size_t i = 0; i < sizeof(movers) / sizeof(movers[0]) && !known; i++)
		known = !strcmp(insn->mnemonic, movers[i]);
	if (!known)
		return true;
	if (len == 3 && (o[0] == 'r' || o[0] == 'e'))	/* rbx, ebx */
		return !strncmp(o + 1, reg + 1, 2);
	return len == 2 && o[0] == reg[1];		/* bx, bl, bh */
}

/* After the CALL at ac->call: the first emulated instruction, reached straight */
static int visit_site_after(void *ctx, const cs_insn *insn)
{
	struct after_ctx *ac = ctx;

	if (!ac->step) {
		ac->step = insn->address == ac->call;
		return 0;
	}
	if (is_target(&ac->fc, insn->address) || ++ac->step > 16)
		return 1;
	if (op_emulated(insn->bytes)) {
		ac->cuts[0].off = insn_off(ac, insn);
		ac->n = 1;
		return 1;
	}
	if (insn->mnemonic[0] == 'j' || insn->id == X86_INS_RET || writes_reg(insn, ac->reg))
		return 1;
	return 0;
}

/* The jump targets of fn, then visit over it; ac->n or an error. */
static int after_walk(struct go_binary *gb, struct after_ctx *ac,
		      int (*visit)(void *ctx, const cs_insn *insn))
{
	int zero = 0, err;

	if (gb->arch != GO_ARCH_AMD64)
		return -ENOTSUP;
	ac->fc.targets = calloc(MAX_WALK_INSNS, sizeof(*ac->fc.targets));
	if (!ac->fc.targets)
		return -ENOMEM;
	err = walk_query(gb, ac->fc.fn, visit_targets, &ac->fc, &zero);
	if (!err)
		err = walk_query(gb, ac->fc.fn, visit, ac, &ac->n);
	free(ac->fc.targets);
	return err;
}

int go_binary__err_tests(struct go_binary *gb, const struct go_func *fn,
			 const struct go_func *callee, struct go_cut *cuts, int max)
{
	struct after_ctx ac = { .fc = { .fn = fn, .callee = callee->vaddr }, .cuts = cuts,
				.max = max };

	return after_walk(gb, &ac, visit_err_test);
}

int go_binary__site_after_call(struct go_binary *gb, const struct go_func *fn,
			       uint64_t call_off, const char *reg, uint64_t *site_off)
{
	struct go_cut cut = {};
	struct after_ctx ac = { .fc = { .fn = fn }, .reg = reg, .cuts = &cut, .max = 1,
				.call = fn->vaddr + (call_off - fn->file_off) };
	int err = after_walk(gb, &ac, visit_site_after);

	*site_off = cut.off;
	return err < 0 ? err : cut.off ? 0 : -ENOENT;
}
