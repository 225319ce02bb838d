/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The binary inspector: one ELF executable or library that a traced process
 * maps, opened ONCE through a descriptor the caller holds (never a path a
 * process could redirect), parsed once, and shared by library symbol lookup,
 * Go analysis (go_binary.h) and the attach itself (binary__attach_path()).
 *
 * Everything in the file is hostile input: every offset and size is checked
 * against the file, code is read with pread() (a mapping would show other
 * tracers' INT3s), and the work spent on one binary is bounded by
 * struct binary_limits (file size, bytes read per function, CPU time). A
 * query that runs out of budget fails with -ETIME and every later query on
 * the same binary fails the same way: the caller skips the binary, says so
 * under -v and counts it.
 *
 * Addresses are link-time virtual addresses; a file_off is what a uprobe
 * takes (vaddr mapped through the PT_LOAD headers, overflow-safe).
 * 64-bit little-endian ELF only (x86-64, arm64). Not thread-safe: one
 * binary is used by one thread at a time.
 */
#ifndef PT_BINARY_H
#define PT_BINARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct binary;

struct binary_limits {
	uint64_t max_file_size;		/* larger files are refused (-EFBIG); 0: 1 GiB */
	uint64_t max_func_bytes;	/* code read per function walk; 0: 256 KiB */
	uint64_t budget_ns;		/* thread CPU time for all queries; 0: 2 s */
	const volatile int *cancel;	/* non-zero: queries fail with -ECANCELED */
};

/* What the kernel keys a uprobe on, and what dedup tables key a file on. */
struct binary_id {
	dev_t dev;
	ino_t ino;
};

enum binary_arch {
	BINARY_ARCH_UNKNOWN = 0,
	BINARY_ARCH_X86_64,
	BINARY_ARCH_ARM64,
};

struct binary_sym {
	uint64_t vaddr;		/* st_value */
	uint64_t size;		/* st_size (0 for some assembly symbols) */
	uint64_t file_off;	/* what uprobes take */
};

/*
 * Takes ownership of fd (closed by binary__free, also on failure). fd must be
 * a regular file (checked with fstat: -EINVAL otherwise) opened O_RDONLY
 * (O_NONBLOCK is harmless). Returns 0 or -ENOEXEC (not ELF), -ENOTSUP
 * (32-bit or big-endian), -EFBIG (over max_file_size), -errno.
 * lim may be NULL for the defaults.
 */
int binary__open_fd(int fd, const struct binary_limits *lim, struct binary **out);
void binary__free(struct binary *b);	/* NULL is fine */

const struct binary_id *binary__id(const struct binary *b);
int binary__fd(const struct binary *b);
/* "/proc/self/fd/N" of the held descriptor: attach through this, never a path
 * looked up again (the file cannot be swapped between analysis and attach). */
const char *binary__attach_path(const struct binary *b);
uint64_t binary__size(const struct binary *b);
enum binary_arch binary__arch(const struct binary *b);
bool binary__has_symtab(const struct binary *b);
/* Out of CPU budget: every query now fails with -ETIME. */
bool binary__over_budget(const struct binary *b);
/* Charge the CPU time used since the last call: 0, -ETIME once over budget,
 * -ECANCELED once *cancel is set. Long walks call it as they go. */
int binary__charge(struct binary *b);
/*
 * Bracket a query made of several calls (go_binary does): CPU time spent
 * between them counts, time spent before the outermost begin does not.
 * Nestable. begin: 0, -ETIME, -ECANCELED; end: err if non-zero, else the
 * budget verdict (0, -ETIME, -ECANCELED). Every query in binary.c does this.
 */
int binary__begin(struct binary *b);
int binary__end(struct binary *b, int err);

/* Function symbol: .symtab, then .dynsym; "sym" also matches "sym@VER".
 * 0, -ENOENT, -ETIME. */
int binary__sym(struct binary *b, const char *name, struct binary_sym *out);
/* Data symbol (STT_OBJECT), same rules: e.g. "runtime.buildVersion". */
int binary__data_sym(struct binary *b, const char *name, struct binary_sym *out);
/* vaddr -> file offset through PT_LOAD (file-backed part only); 0 or -ENOENT */
int binary__vaddr_to_off(const struct binary *b, uint64_t vaddr, uint64_t *off);
/* size bytes at vaddr, all in the file-backed part of the segment binary__vaddr_to_off()
 * maps vaddr with (the first that holds it), read with pread(); 0, -ENOENT, -EIO */
int binary__read(const struct binary *b, uint64_t vaddr, void *buf, size_t size);
/* size bytes at file offset off, bounds-checked; 0, -ERANGE, -EIO */
int binary__pread(const struct binary *b, uint64_t off, void *buf, size_t size);
/* Section by name; off/addr/size may be NULL. 0 or -ENOENT. SHT_NOBITS
 * sections and sections reaching past the end of the file are -ENOENT. */
int binary__section(const struct binary *b, const char *name, uint64_t *off, uint64_t *addr,
		    uint64_t *size);
/* PT_LOAD i (0..): its file-backed part (filesz clipped to the file) and
 * p_flags (PF_R/W/X). 0 or -ENOENT past the last. */
int binary__segment(const struct binary *b, int i, uint64_t *vaddr, uint64_t *off,
		    uint64_t *filesz, uint32_t *flags);
/* Section i of the table (1 .. binary__nsections() - 1, 0 is SHT_NULL), with
 * its name ("" when it has none). 0 or -ENOENT; no check against the file. */
uint32_t binary__nsections(const struct binary *b);
int binary__section_at(const struct binary *b, uint32_t i, const char **name, uint32_t *type,
		       uint64_t *flags, uint64_t *off, uint64_t *size);

/*
 * Any sign that this is Go code: a .gopclntab / .go.buildinfo section, a
 * Go build-id note, or runtime.* function symbols. A file with a Go marker
 * never gets a uretprobe, whether or not its tables can be read.
 */
bool binary__has_go_marker(struct binary *b);

/* libelf's Elf * (for libdw), opened on first use with ELF_C_READ, owned by b;
 * NULL when the section headers were refused (absurd count, outside the file). */
void *binary__elf(const struct binary *b);
/* The per-binary max_func_bytes limit (for code walkers). */
uint64_t binary__max_func_bytes(const struct binary *b);

#endif
