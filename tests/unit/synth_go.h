/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Synthetic Go ELF images for tests/unit/test_go_binary.c and the fuzz seed
 * generator tests/fuzz/mkseeds.c: formats the local toolchain cannot produce.
 */
#ifndef PT_SYNTH_GO_H
#define PT_SYNTH_GO_H

#include <elf.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/*
 * Synthetic Go binaries for the formats the local toolchain cannot produce:
 * .gopclntab of Go 1.16-1.17 (0xfffffffa) and 1.20+ (0xfffffff1), the
 * pre-1.18 build info that points to the version string, arm64 code. One
 * PT_LOAD maps the file at 0x400000; two functions main.one and main.two.
 */
#define SY_BASE 0x400000ULL
#define SY_TEXT 0x100
#define SY_PCLN 0x200
#define SY_BINF 0x400
#define SY_SHSTR 0x500
#define SY_SHDR 0x600
#define SY_SIZE (SY_SHDR + 5 * 64)

struct synth {
	uint32_t magic;
	bool inline_version;	/* Go 1.18+ build info */
	const char *version;
	uint16_t machine;
	const uint8_t *code;	/* 0x40 bytes of .text: main.one at +0, main.two at +0x10 */
	bool zero_text_start;	/* leave pclntab textStart to a (missing) relocation */
	bool no_buildinfo;
	uint64_t nfunc;		/* 0: 2 */
};

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static void put_shdr(uint8_t *img, int i, uint32_t name, uint32_t type, uint64_t flags,
		     uint64_t off, uint64_t size)
{
	uint8_t *sh = img + SY_SHDR + i * 64;

	put32(sh, name);
	put32(sh + 4, type);
	put64(sh + 8, flags);
	put64(sh + 16, flags & SHF_ALLOC ? SY_BASE + off : 0);
	put64(sh + 24, off);
	put64(sh + 32, size);
	put64(sh + 48, 1);	/* addralign */
}

/* The image of a synthetic Go binary into img (SY_SIZE bytes). */
static void synth_image(uint8_t *img, const struct synth *sy)
{
	static const char shstr[] = "\0.text\0.gopclntab\0.go.buildinfo\0.shstrtab";
	uint8_t *pc = img + SY_PCLN, *bi = img + SY_BINF, *ft;
	bool go116 = sy->magic == 0xfffffffa;
	uint64_t fn_off = 0x60, ftab_off = 0x80;

	/* ELF header and the one PT_LOAD */
	memcpy(img, ELFMAG, SELFMAG);
	img[EI_CLASS] = ELFCLASS64;
	img[EI_DATA] = ELFDATA2LSB;
	img[EI_VERSION] = EV_CURRENT;
	img[16] = ET_EXEC;
	memcpy(img + 18, &sy->machine, 2);
	put32(img + 20, EV_CURRENT);
	put64(img + 24, SY_BASE + SY_TEXT);	/* e_entry */
	put64(img + 32, 64);			/* e_phoff */
	put64(img + 40, SY_SHDR);		/* e_shoff */
	img[52] = 64, img[54] = 56, img[56] = 1;	/* ehsize, phentsize, phnum */
	img[58] = 64, img[60] = 5, img[62] = 4;	/* shentsize, shnum, shstrndx */
	put32(img + 64, PT_LOAD);
	put32(img + 68, PF_R | PF_X);
	put64(img + 72, 0);
	put64(img + 80, SY_BASE);
	put64(img + 88, SY_BASE);
	put64(img + 96, SY_SIZE);
	put64(img + 104, SY_SIZE);
	put64(img + 112, 0x1000);

	memcpy(img + SY_TEXT, sy->code, 0x40);

	/* .gopclntab: header (64 or 72 bytes), funcnametab at 0x60, functab at 0x80,
	 * _func at 0xc0/0xe0 */
	put32(pc, sy->magic);
	pc[6] = 1, pc[7] = 8;
	put64(pc + 8, sy->nfunc ? sy->nfunc : 2);
	if (go116) {
		put64(pc + 24, fn_off);
		put64(pc + 56, ftab_off);
	} else {
		put64(pc + 24, sy->zero_text_start ? 0 : SY_BASE + SY_TEXT);
		put64(pc + 32, fn_off);
		put64(pc + 64, ftab_off);
	}
	memcpy(pc + fn_off, "main.one\0main.two", 18);
	ft = pc + ftab_off;
	if (go116) {	/* {pc, funcoff} pairs, end pc; _func {entry uintptr, nameoff} */
		put64(ft, SY_BASE + SY_TEXT);
		put64(ft + 8, 0x40);
		put64(ft + 16, SY_BASE + SY_TEXT + 0x10);
		put64(ft + 24, 0x60);
		put64(ft + 32, SY_BASE + SY_TEXT + 0x40);
		put64(ft + 0x40, SY_BASE + SY_TEXT);
		put32(ft + 0x48, 0);
		put64(ft + 0x60, SY_BASE + SY_TEXT + 0x10);
		put32(ft + 0x68, 9);
	} else {	/* {entryoff, funcoff} u32 pairs, end; _func {entryoff, nameoff} */
		put32(ft, 0);
		put32(ft + 4, 0x40);
		put32(ft + 8, 0x10);
		put32(ft + 12, 0x60);
		put32(ft + 16, 0x40);
		put32(ft + 0x40, 0);
		put32(ft + 0x44, 0);
		put32(ft + 0x60, 0x10);
		put32(ft + 0x64, 9);
	}

	/* .go.buildinfo */
	memcpy(bi, "\xff Go buildinf:", 14);
	bi[14] = 8;
	if (sy->inline_version) {
		bi[15] = 2;
		bi[32] = (uint8_t)strlen(sy->version);
		memcpy(bi + 33, sy->version, strlen(sy->version));
	} else {	/* -> Go string {data, len} at +32 -> bytes at +48 */
		put64(bi + 16, SY_BASE + SY_BINF + 32);
		put64(bi + 32, SY_BASE + SY_BINF + 48);
		put64(bi + 40, strlen(sy->version));
		memcpy(bi + 48, sy->version, strlen(sy->version));
	}
	memcpy(img + SY_SHSTR, shstr, sizeof(shstr));

	put_shdr(img, 1, 1, SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, SY_TEXT, 0x40);
	put_shdr(img, 2, 7, SHT_PROGBITS, SHF_ALLOC, SY_PCLN, 0x100);
	put_shdr(img, 3, sy->no_buildinfo ? 27 : 18, SHT_PROGBITS, SHF_ALLOC | SHF_WRITE,
		 SY_BINF, 0x100);
	put_shdr(img, 4, 32, SHT_STRTAB, 0, SY_SHSTR, sizeof(shstr));
}

/* main.one: push rbp; mov rbp,rsp; pop rbp; ret. main.two: two exits, then padding */
static const uint8_t code_amd64[0x40] = {
	0x55, 0x48, 0x89, 0xe5, 0x5d, 0xc3, 0xcc, 0xcc,
	0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc,
	0x31, 0xc0, 0x85, 0xc0, 0x74, 0x01, 0xc3, 0x48,
	0xff, 0xc0, 0xc3, 0xe9, 0x00, 0x00, 0x00, 0x00,	/* inc rax; ret; jmp (tail) */
	[0x20 ... 0x3f] = 0xcc,
};

/* main.one: nop; ret. main.two: cbz x0; ret; udf (literal pool word); ret x1 */
static const uint8_t code_arm64[0x40] = {
	0x1f, 0x20, 0x03, 0xd5, 0xc0, 0x03, 0x5f, 0xd6,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x40, 0x00, 0x00, 0xb4, 0xc0, 0x03, 0x5f, 0xd6,
	0x00, 0x00, 0x00, 0x00, 0x20, 0x00, 0x5f, 0xd6,
};

/* x86-64: 0x06 (push es) is invalid in 64-bit mode */
static const uint8_t code_bad[0x40] = {
	0x55, 0x48, 0x89, 0xe5, 0x5d, 0xc3, 0xcc, 0xcc,
	0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc,
	0x31, 0xc0, 0x06, 0xc3, 0xc3, 0xc3,
};

#endif
