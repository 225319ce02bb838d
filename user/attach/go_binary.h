/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Go executable analysis for probing Go programs from outside (no BPF here).
 *
 * Made from an open struct binary (binary.h: one held fd, parsed once, CPU
 * budget). Recognises a Go binary by its build-info blob or its .gopclntab,
 * reads the Go version (also without .go.buildinfo), finds
 * functions by name (ELF .symtab, or .gopclntab when the binary is stripped),
 * lists the file offsets of each function's return instructions (uretprobes
 * crash Go programs: return probes must be uprobes on every RET), and gives
 * struct field offsets from DWARF or, when stripped, from a per-version table.
 *
 * All addresses are link-time virtual addresses; every *file_off* is what
 * uprobe attachment takes (offset in the file, through the PT_LOAD headers).
 * Only 64-bit little-endian ELF is supported (amd64, arm64). Not thread-safe.
 *
 * Register ABI (Go >= 1.17 on amd64, >= 1.18 on arm64), as seen by a uprobe:
 *   amd64: current g in R14; integer args/results in RAX, RBX, RCX, RDI, RSI,
 *          R8, R9, R10, R11 (a string/slice/interface takes 2 or 3 of them).
 *   arm64: current g in R28; integer args/results in R0..R15.
 * Goroutine life cycle (see docs/go.md): runtime.newproc1 runs on the system
 * stack (R14 = g0, not the parent): the parent is its callergp argument (RBX
 * at entry, 1.18+) and the new g is its result (RAX at each RET).
 * runtime.goexit1 is entered on the exiting g and never returns.
 */
#ifndef PT_GO_BINARY_H
#define PT_GO_BINARY_H

#include <stdbool.h>
#include <stdint.h>

struct binary;
struct cs_insn;
struct go_binary;

enum go_arch {
	GO_ARCH_UNKNOWN = 0,
	GO_ARCH_AMD64,
	GO_ARCH_ARM64,
};

enum go_func_src {
	GO_FUNC_SYMTAB = 1,	/* ELF .symtab */
	GO_FUNC_PCLNTAB,	/* Go's own function table, present even when stripped */
};

struct go_func {
	uint64_t vaddr;		/* entry address */
	uint64_t size;		/* .symtab st_size; .gopclntab: up to the next function, padding incl. */
	uint64_t file_off;	/* entry as a file offset: what uprobes take */
	enum go_func_src src;
};

/* Where the version came from (most to least direct). */
enum go_version_src {
	GO_VERSION_NONE = 0,	/* unknown: the tables may still parse (nfuncs >= 0) */
	GO_VERSION_BUILDINFO,	/* .go.buildinfo (Go 1.13+) */
	GO_VERSION_SYMBOL,	/* runtime.buildVersion by its .symtab entry */
	GO_VERSION_CODE,	/* runtime.buildVersion as runtime.schedinit references it */
	GO_VERSION_DATA,	/* a Go string {ptr, len} in data pointing at "go1.N..." */
	GO_VERSION_PATTERN,	/* "go1.N" text in read-only data, one minor seen */
};

/*
 * Analyses the open binary b, which it borrows (b must outlive gb; free gb
 * first). 0, or -ENOEXEC if not Go (no build info and no usable .gopclntab),
 * -ENOTSUP for 32-bit or big-endian ELF, -ETIME / -ECANCELED (b's budget),
 * -ENOMEM. The work is charged to b's CPU budget.
 */
int go_binary__new(struct binary *b, struct go_binary **out);
void go_binary__free(struct go_binary *gb);
struct binary *go_binary__binary(const struct go_binary *gb);

/* Go version "go1.19.8" -> 1, 19. 0, or -ENOENT when no version was found:
 * then the caller decides (go_binary__nfuncs() >= 0 says the tables parse). */
int go_binary__version(const struct go_binary *gb, int *major, int *minor);
/* The raw version string ("go1.19.8", "devel go1.23-abcdef ..."); "" if unknown */
const char *go_binary__version_str(const struct go_binary *gb);
enum go_version_src go_binary__version_src(const struct go_binary *gb);
/* true when Go >= 1.17 on amd64 or >= 1.18 on arm64 (args in registers, g in R14/R28) */
bool go_binary__regabi(const struct go_binary *gb);
/* No .symtab: functions come from .gopclntab (e.g. built with -ldflags="-s -w") */
bool go_binary__is_stripped(const struct go_binary *gb);
bool go_binary__has_dwarf(const struct go_binary *gb);
enum go_arch go_binary__arch(const struct go_binary *gb);

/*
 * Finds function name (Go's full name: "net/http.(*conn).serve",
 * "html/template.(*Template).Execute"). Uses .symtab when present, else
 * .gopclntab. 0, -ENOENT if absent (e.g. dead code eliminated, or inlined
 * everywhere), -EINVAL if the tables are corrupt, -ENOTSUP if .gopclntab is
 * of a format before Go 1.16, -ETIME / -ECANCELED. The first .gopclntab
 * lookup indexes every name once (a hash), later ones are hash probes; a
 * function record outside the table found then makes every .gopclntab
 * lookup -EINVAL.
 * .gopclntab specifics: a generic instantiation "pkg.F[a.T]" is stored as
 * "pkg.F[...]"; it is found if only one instantiation exists, else -ENOTUNIQ.
 * A function that has an ABI wrapper (assembly called from Go, Go called
 * from assembly) resolves to the body, not the wrapper.
 */
int go_binary__func(struct go_binary *gb, const char *name, struct go_func *out);
/* The same from .gopclntab only (cross-checks, or when .symtab is not trusted). */
int go_binary__func_pclntab(struct go_binary *gb, const char *name, struct go_func *out);
/* Number of functions in .gopclntab, or -ENOENT if it was not found. */
int go_binary__nfuncs(const struct go_binary *gb);

/*
 * Disassembles fn (Capstone) and stores the file offset of each return
 * instruction (x86-64 RET, arm64 RET) into file_offs, in address order.
 * Tail jumps out of the function are not reported: such an exit is not seen.
 * Returns the count (>= 0), -E2BIG if more than max, -EILSEQ if the body
 * cannot be decoded to its end, -ERANGE if fn lies outside the file, -EFBIG
 * if fn is larger than the binary's max_func_bytes, -ETIME / -ECANCELED.
 */
int go_binary__ret_offsets(struct go_binary *gb, const struct go_func *fn,
			   uint64_t *file_offs, int max);

/*
 * For analysers (go_version.c): Capstone walk of fn's body read with pread(),
 * visit(ctx, insn) per instruction (non-zero stops the walk and is returned);
 * detail: Capstone operand details on. -EFBIG over max_func_bytes, -EILSEQ,
 * -ERANGE, -ETIME / -ECANCELED (charged as it goes, no begin/end of its own).
 */
int go_binary__walk(struct go_binary *gb, const struct go_func *fn, bool detail,
		    int (*visit)(void *ctx, const struct cs_insn *insn), void *ctx);

/*
 * File offsets of the direct calls from fn to callee (x86-64 CALL rel32,
 * arm64 BL). A uprobe on a CALL is emulated by the kernel, and sees the
 * callee's arguments in their registers. Count, -E2BIG, or walk errors.
 */
int go_binary__call_sites(struct go_binary *gb, const struct go_func *fn,
			  const struct go_func *callee, uint64_t *file_offs, int max);

/*
 * amd64: the file offset of the conditional jump to morestack that ends the
 * function's stack check (CMP [R14+16], then Jcc). A uprobe there sees the
 * entry state (arguments, g, SP, return address at [SP]) and is emulated by
 * the kernel (a branch) instead of single-stepped like the CMP at the entry
 * (11-27 us). It fires again when morestack restarts the function. 0, or
 * -ENOENT if the prologue is not the usual one (functions without a stack
 * check): then *file_off = fn->file_off.
 */
int go_binary__body_offset(struct go_binary *gb, const struct go_func *fn, uint64_t *file_off);

/*
 * amd64: whether the kernel emulates a uprobe on the instruction at file_off
 * (CALL rel32, JMP, Jcc, NOP, PUSH reg) instead of single-stepping it out of
 * line (11-27 us here; RET is single-stepped).
 */
bool go_binary__site_emulated(struct go_binary *gb, uint64_t file_off);

/*
 * amd64: bytes the prologue after the stack check moves SP down by (PUSH RBP
 * and SUB RSP, or SUB RSP with the frame pointer stored inside, as Go <= 1.20
 * does): from the entry's SP to the body's. 0, -ENOENT if the prologue is not
 * the usual one, walk errors.
 */
int go_binary__frame_size(struct go_binary *gb, const struct go_func *fn, uint64_t *size);

/*
 * A probe site that ends the call (go_binary__rets_before_cuts): every path through
 * it (GO_CUT_ALL), or only a Jcc's jump (GO_CUT_TAKEN) or its fall-through
 * (GO_CUT_FALL), the way an error goes.
 */
enum go_cut_edge { GO_CUT_ALL, GO_CUT_TAKEN, GO_CUT_FALL };
#define GO_MAX_CUTS 8

struct go_cut {
	uint64_t off;			/* file offset of the site */
	enum go_cut_edge edge;
	/* the RETs it reaches are its even where a path around it reaches them too (the
	 * caller knows that such a path has nothing to report, or cannot be taken) */
	bool claims;
	int behind;			/* out: RETs behind it (not kept) */
	uint64_t first_behind;		/* out: the first of them, by offset */
};

/*
 * amd64: file offsets of fn's RETs that keep a probe: those a path from fn's entry
 * reaches without passing a cut's ending edge (forward by fall-through and direct
 * jumps; calls of noret, callee addresses, do not come back), and those no path
 * reaches (a recovered panic's, through runtime.deferreturn), unless a cut that
 * claims reaches them. The other RETs come only after a cut; cuts[i].behind counts
 * those reached from cut i. Count, -ENOTSUP
 * on an indirect jump (a jump table: unknown targets) or another architecture,
 * -ENOENT if a cut is not an instruction of fn (or an edge cut not a Jcc), -EILSEQ
 * on a jump into an instruction, -E2BIG, -EINVAL (no cut, or too many), walk errors.
 */
int go_binary__rets_before_cuts(struct go_binary *gb, const struct go_func *fn,
				struct go_cut *cuts, int ncuts, const uint64_t *noret,
				int nnoret, uint64_t *file_offs, int max);

/*
 * amd64: the direct CALL of callee in fn from which no other CALL of callee can be
 * reached (forward, as go_binary__rets_before_cuts walks): the last of a sequence. 0,
 * -ENOENT if none or several are, -ENOTSUP on an indirect jump, walk errors.
 */
int go_binary__last_call(struct go_binary *gb, const struct go_func *fn,
			 const struct go_func *callee, const uint64_t *noret, int nnoret,
			 uint64_t *call_off);

/*
 * amd64: the direct CALLs of callee in fn that TEST RAX, RAX and a JNE or JE follow
 * straight (NOPs aside, nothing jumps in between): callee's error is nil or not. Each Jcc into
 * cuts (its error edge: the JNE's jump, the JE's fall-through). Count, -E2BIG, walk
 * errors.
 */
int go_binary__err_tests(struct go_binary *gb, const struct go_func *fn,
			 const struct go_func *callee, struct go_cut *cuts, int max);

/*
 * amd64: the first instruction after the CALL at call_off whose uprobe is emulated,
 * reached straight from it (no branch, nothing jumps in between, at most 16
 * instructions) through moves and arithmetic that leave the register reg ("rbx")
 * as the callee returned it. 0, -ENOENT if there is none, walk errors.
 */
int go_binary__site_after_call(struct go_binary *gb, const struct go_func *fn,
			       uint64_t call_off, const char *reg, uint64_t *site_off);

/*
 * Byte offset of field in struct_name ("runtime.g", "goid"): from DWARF when
 * present, else from the built-in table for this Go minor version (amd64,
 * arm64). 0, or -ENOENT when unknown: callers should then disable the probe
 * that needs it rather than guess.
 */
int go_binary__field_offset(struct go_binary *gb, const char *struct_name, const char *field,
			    int64_t *off);
/* The two sources separately (for cross-checks and diagnostics). */
int go_binary__field_offset_dwarf(struct go_binary *gb, const char *struct_name,
				  const char *field, int64_t *off);
int go_binary__field_offset_builtin(const struct go_binary *gb, const char *struct_name,
				    const char *field, int64_t *off);

/*
 * runtime.g's goid and parentGoid read from runtime.newproc1's code (amd64, Go >= 1.21),
 * for a release newer than the built-in table, without DWARF: newproc1 copies the
 * creator's goid into the new g (newg.parentGoid = callergp.goid: a load from
 * [reg + goid] whose register is stored to [reg + parentGoid]) and gives the new g its
 * goid (newg.goid = pp.goidcache: a load stored to [reg + goid]). The one offset that is
 * both a copy's destination and another copy's source is goid. 0; -ENOENT when the code
 * shows no such chain, or more than one; -ENOTSUP on another architecture; walk errors.
 */
int go_binary__g_offsets_from_code(struct go_binary *gb, int64_t *goid, int64_t *parent_goid);

/* libdw handle (Dwarf *) opened on first use, owned by gb; NULL without DWARF
 * (or DWARF refused: too large once inflated, unreadable) */
void *go_binary__dwarf(struct go_binary *gb);

#endif
