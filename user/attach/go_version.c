// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The Go version of a binary (go_version.h). Like Go's debug/buildinfo: the
 * .go.buildinfo section, else its magic at the start of the writable
 * segment. Without build info (removed by objcopy or a packer):
 * runtime.buildVersion, a Go string {ptr, len} that runtime.schedinit always
 * references ("if buildVersion == "" {...}" keeps it linked).
 */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <capstone/capstone.h>

#include "attach/binary.h"
#include "attach/go_version.h"

static const char buildinfo_magic[] = "\xff Go buildinf:";	/* 14 bytes */
#define BUILDINFO_HDR	32
#define BUILDINFO_BIGENDIAN 0x1
#define BUILDINFO_INLINE 0x2	/* Go 1.18+: version string inline, not by pointer */
#define BI_READ		(BUILDINFO_HDR + 10 + 256)
#define BI_SEARCH	(64U << 10)	/* of the writable segment, for a sectionless magic */
#define VER_MIN		5		/* "go1.N" */
#define VER_MAX		63
#define SCAN_CHUNK	(64U << 10)
#define MAX_SCAN	(64ULL << 20)	/* bytes of data scanned per method */
#define MAX_CANDS	65536		/* string headers checked by the data scan */
#define MAX_REFS	256		/* addresses tried from schedinit's code */

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);	/* little-endian hosts only (amd64, arm64) */
	return v;
}

static uint64_t rd_ptr(const uint8_t *p, int ps)
{
	uint32_t v;

	if (ps == 8)
		return rd64(p);
	memcpy(&v, p, 4);
	return v;
}

/* "go1.N" at s: the minor (up to 3 digits), or -1. */
static int minor_at(const char *s, size_t len)
{
	int minor = 0, n = 0;

	if (len < 5 || memcmp(s, "go1.", 4))
		return -1;
	for (size_t i = 4; i < len && n < 3 && s[i] >= '0' && s[i] <= '9'; i++, n++)
		minor = minor * 10 + (s[i] - '0');
	return n ? minor : -1;
}

bool go_version__parse(struct go_version *v, const char *s, size_t len, enum go_version_src src)
{
	size_t n = len < VER_MAX ? len : VER_MAX;
	int minor = -1;

	/* "go1.19.8", "go1.21rc2", "devel go1.23-abc123 ..." */
	for (size_t i = 0; i + 4 < n && minor < 0; i++)
		minor = minor_at(s + i, n - i);
	if (minor < 0)
		return false;
	/* the text reaches logs and terminals: printable ASCII only */
	for (size_t i = 0; i < n; i++)
		v->str[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	v->str[n] = '\0';
	v->major = 1;
	v->minor = minor;
	v->src = src;
	return true;
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

/* The Go string {ptr, len} when its whole text is a Go version. */
static bool version_text(struct binary *b, uint64_t ptr, uint64_t len, struct go_version *v,
			 enum go_version_src src)
{
	char s[VER_MAX + 1];

	if (len < VER_MIN || len > VER_MAX || binary__read(b, ptr, s, len))
		return false;
	/* the whole string, not text that merely contains a version */
	if (minor_at(s, len) < 0 && (len < 10 || memcmp(s, "devel ", 6) ||
				     minor_at(s + 6, len - 6) < 0))
		return false;
	return go_version__parse(v, s, len, src);
}

/* A Go string header {ptr, len} at vaddr whose text is a Go version. */
static bool go_string_version(struct binary *b, uint64_t vaddr, struct go_version *v,
			      enum go_version_src src)
{
	uint8_t hdr[16];

	if (binary__read(b, vaddr, hdr, sizeof(hdr)))
		return false;
	return version_text(b, rd64(hdr), rd64(hdr + 8), v, src);
}

/* Build info at d (n bytes read): 0, -EINVAL, -ENOTSUP */
static int parse_buildinfo(struct binary *b, const uint8_t *d, size_t n, struct go_version *v)
{
	uint64_t len, sptr, slen;
	uint8_t str[2 * 8];
	char text[256];
	int ps = d[14];
	size_t k;

	if (ps != 4 && ps != 8)
		return -EINVAL;
	if (d[15] & BUILDINFO_INLINE) {
		k = uvarint(d + BUILDINFO_HDR, n - BUILDINFO_HDR, &len);
		if (!k || len > n - BUILDINFO_HDR - k)
			return -EINVAL;
		return go_version__parse(v, (const char *)d + BUILDINFO_HDR + k, len,
					 GO_VERSION_BUILDINFO) ? 0 : -EINVAL;
	}
	if (d[15] & BUILDINFO_BIGENDIAN)
		return -ENOTSUP;
	/* Go 1.13-1.17: pointer to a Go string header {data, len} */
	if (binary__read(b, rd_ptr(d + 16, ps), str, 2 * ps))
		return -EINVAL;
	sptr = rd_ptr(str, ps);
	slen = rd_ptr(str + ps, ps);
	if (slen >= sizeof(text) || binary__read(b, sptr, text, slen))
		return -EINVAL;
	return go_version__parse(v, text, slen, GO_VERSION_BUILDINFO) ? 0 : -EINVAL;
}

/* The magic in the first BI_SEARCH bytes of the first writable segment (16-aligned). */
static int find_buildinfo(struct binary *b, uint64_t *off, uint64_t *size)
{
	uint64_t vaddr, soff, filesz;
	uint32_t flags;
	uint8_t *buf;
	int err = -ENOENT;

	for (int i = 0; !binary__segment(b, i, &vaddr, &soff, &filesz, &flags); i++) {
		if (!(flags & PF_W))
			continue;
		filesz = filesz < BI_SEARCH ? filesz : BI_SEARCH;
		buf = malloc(filesz ? filesz : 1);
		if (!buf || binary__pread(b, soff, buf, filesz)) {
			free(buf);
			return -ENOENT;
		}
		for (uint64_t p = 0; p + BUILDINFO_HDR <= filesz && err; p += 16) {
			if (!memcmp(buf + p, buildinfo_magic, 14)) {
				*off = soff + p, *size = filesz - p;
				err = 0;
			}
		}
		free(buf);
		return err;
	}
	return -ENOENT;
}

int go_version__buildinfo(struct binary *b, struct go_version *v)
{
	uint8_t d[BI_READ];
	uint64_t off, size;

	if (binary__section(b, ".go.buildinfo", &off, NULL, &size) &&
	    find_buildinfo(b, &off, &size))
		return -ENOENT;
	if (size < BUILDINFO_HDR)
		return -ENOENT;
	if (size > sizeof(d))
		size = sizeof(d);
	if (binary__pread(b, off, d, size) || memcmp(d, buildinfo_magic, 14))
		return -ENOENT;
	return parse_buildinfo(b, d, size, v);
}

struct ref_ctx {
	struct binary *b;
	struct go_version *v;
	uint64_t page[32];	/* arm64: ADRP results per X register */
	int tries;
	bool arm64;
};

/* Is there a Go version string header at a (or at a - 8: a compare of its length)? */
static int try_ref(struct ref_ctx *rc, uint64_t a)
{
	if (++rc->tries > MAX_REFS)
		return -ENOENT;
	if (go_string_version(rc->b, a, rc->v, GO_VERSION_CODE) ||
	    go_string_version(rc->b, a - 8, rc->v, GO_VERSION_CODE))
		return 1;
	return 0;
}

static int arm64_xreg(arm64_reg r)
{
	return r >= ARM64_REG_X0 && r <= ARM64_REG_X28 ? (int)(r - ARM64_REG_X0) : -1;
}

/* arm64: ADRP Xn, page; then ADD Xm, Xn, #lo or LDR/STR [Xn, #lo] */
static int visit_arm64_ref(struct ref_ctx *rc, const cs_insn *insn)
{
	const cs_arm64 *a = &insn->detail->arm64;
	int r;

	if (insn->id == ARM64_INS_ADRP && a->op_count == 2 && a->operands[1].type == ARM64_OP_IMM) {
		r = arm64_xreg(a->operands[0].reg);
		if (r >= 0)
			rc->page[r] = (uint64_t)a->operands[1].imm;
		return 0;
	}
	if (insn->id == ARM64_INS_ADD && a->op_count == 3 && a->operands[2].type == ARM64_OP_IMM) {
		r = arm64_xreg(a->operands[1].reg);
		return r >= 0 && rc->page[r] ? try_ref(rc, rc->page[r] + a->operands[2].imm) : 0;
	}
	for (int i = 0; i < a->op_count; i++) {
		if (a->operands[i].type != ARM64_OP_MEM)
			continue;
		r = arm64_xreg(a->operands[i].mem.base);
		if (r >= 0 && rc->page[r])
			return try_ref(rc, rc->page[r] + a->operands[i].mem.disp);
	}
	return 0;
}

static int visit_ref(void *ctx, const struct cs_insn *insn)
{
	struct ref_ctx *rc = ctx;
	const cs_x86 *x;

	if (!insn->detail)
		return -EINVAL;
	if (rc->arm64)
		return visit_arm64_ref(rc, insn);
	x = &insn->detail->x86;
	for (int i = 0; i < x->op_count; i++) {
		if (x->operands[i].type == X86_OP_MEM && x->operands[i].mem.base == X86_REG_RIP)
			return try_ref(rc, insn->address + insn->size + x->operands[i].mem.disp);
	}
	return 0;
}

/* runtime.schedinit reads runtime.buildVersion (to keep it linked): follow that reference. */
static int from_code(struct go_binary *gb, struct go_version *v)
{
	struct ref_ctx rc = { .b = go_binary__binary(gb), .v = v };
	struct go_func fn;
	int err;

	err = go_binary__func_pclntab(gb, "runtime.schedinit", &fn);
	if (err)
		return err;
	rc.arm64 = go_binary__arch(gb) == GO_ARCH_ARM64;
	err = go_binary__walk(gb, &fn, true, visit_ref, &rc);
	if (err == 1)
		return 0;
	return err == -ETIME || err == -ECANCELED ? err : -ENOENT;
}

typedef int (*scan_fn)(void *ctx, const uint8_t *buf, uint64_t n, uint64_t vaddr);

/* Calls fn on the file-backed bytes of the segments with flags == want, in chunks
 * (overlapping by 64 bytes), charging the budget. fn returns non-zero to stop. */
static int scan_segments(struct binary *b, uint32_t mask, uint32_t want, scan_fn fn, void *ctx)
{
	uint64_t vaddr, off, filesz, done = 0;
	uint32_t flags;
	uint8_t *buf = malloc(SCAN_CHUNK + 64);
	int err = 0;

	if (!buf)
		return -ENOMEM;
	for (int i = 0; !err && !binary__segment(b, i, &vaddr, &off, &filesz, &flags); i++) {
		if ((flags & mask) != want)
			continue;
		for (uint64_t p = 0; !err && p < filesz && done < MAX_SCAN; p += SCAN_CHUNK) {
			uint64_t n = filesz - p < SCAN_CHUNK + 64 ? filesz - p : SCAN_CHUNK + 64;

			err = binary__pread(b, off + p, buf, n);
			if (!err)
				err = fn(ctx, buf, n, vaddr + p);
			if (!err)
				err = binary__charge(b);
			done += n;
		}
	}
	free(buf);
	return err;
}

struct data_ctx {
	struct binary *b;
	struct go_version *v, found;
	int cands;
	bool ambiguous;
};

/* 8-aligned {ptr, len} with a plausible length whose text is a Go version */
static int scan_data(void *ctx, const uint8_t *buf, uint64_t n, uint64_t unused)
{
	struct data_ctx *dc = ctx;

	for (uint64_t p = 0; p + 16 <= n && p < SCAN_CHUNK; p += 8) {
		uint64_t len = rd64(buf + p + 8);
		struct go_version v;

		if (len < VER_MIN || len > VER_MAX || !rd64(buf + p))
			continue;
		if (++dc->cands > MAX_CANDS)
			return 1;
		if (!version_text(dc->b, rd64(buf + p), len, &v, GO_VERSION_DATA))
			continue;
		if (dc->found.major && strcmp(dc->found.str, v.str))
			dc->ambiguous = true;
		dc->found = v;
	}
	return 0;
}

struct text_ctx {
	struct go_version found;	/* the first "go1.N[.P]" seen */
	bool ambiguous;			/* another minor seen too */
};

static bool ident_char(uint8_t c)
{
	return (c | 0x20) >= 'a' && (c | 0x20) <= 'z' ? true :
	       (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '/' || c == '-';
}

/*
 * A stand-alone "go1.N" or "go1.N.P" (rcN/betaN too): not part of a longer
 * word or file name ("bits_go1.13.go"). Its length, or 0.
 */
static size_t version_word(const uint8_t *buf, const uint8_t *p, const uint8_t *end)
{
	const uint8_t *q = p + 4;

	if ((p > buf && ident_char(p[-1])) || minor_at((const char *)p, end - p) < 0)
		return 0;
	while (q < end && *q >= '0' && *q <= '9')
		q++;
	if (q + 1 < end && *q == '.' && q[1] >= '0' && q[1] <= '9')
		for (q++; q < end && *q >= '0' && *q <= '9'; q++)
			;
	while (q < end && ((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9')) && q - p < 24)
		q++;	/* rc1, beta2 */
	return q < end && ident_char(*q) ? 0 : (size_t)(q - p);
}

static int scan_text(void *ctx, const uint8_t *buf, uint64_t n, uint64_t unused)
{
	struct text_ctx *tc = ctx;
	const uint8_t *p = buf, *end = buf + n, *stop = buf + (n < SCAN_CHUNK ? n : SCAN_CHUNK);
	struct go_version v;
	size_t len;

	while (p < stop && (p = memmem(p, stop - p, "go1.", 4))) {
		len = version_word(buf, p, end);
		if (len && go_version__parse(&v, (const char *)p, len, GO_VERSION_PATTERN)) {
			tc->ambiguous |= tc->found.major && tc->found.minor != v.minor;
			if (!tc->found.major)
				tc->found = v;
		}
		p += 4;
	}
	return 0;
}

int go_version__recover(struct go_binary *gb, struct go_version *v)
{
	struct binary *b = go_binary__binary(gb);
	struct data_ctx dc = { .b = b, .v = v };
	struct text_ctx tc = { 0 };
	struct binary_sym s;
	int err;

	if (!binary__data_sym(b, "runtime.buildVersion", &s) &&
	    go_string_version(b, s.vaddr, v, GO_VERSION_SYMBOL))
		return 0;
	err = from_code(gb, v);
	if (err != -ENOENT)
		return err;
	/* a PIE keeps the pointer in a relocation: then only the text is left */
	err = scan_segments(b, PF_W | PF_X, PF_W, scan_data, &dc);
	if (err < 0)
		return err;
	if (dc.found.major && !dc.ambiguous) {
		*v = dc.found;
		return 0;
	}
	err = scan_segments(b, PF_W | PF_X, 0, scan_text, &tc);
	if (err < 0)
		return err;
	if (!tc.found.major || tc.ambiguous)
		return -ENOENT;
	*v = tc.found;
	return 0;
}
