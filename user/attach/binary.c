// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The binary inspector (binary.h): ELF headers, PT_LOAD mapping, sections and
 * symbol tables read with pread() from one held descriptor, every offset and
 * size checked against the file. libelf is only opened for libdw's sake
 * (binary__elf()); everything else is parsed here, so that what a hostile
 * file can make us do is visible in this file.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "attach/binary.h"
#include "util/clock.h"

#define DEF_MAX_FILE	(1ULL << 30)
#define DEF_FUNC_BYTES	(256ULL << 10)
#define DEF_BUDGET_NS	2000000000ULL
#define MAX_LOADS	64		/* PT_LOAD kept; real files have 2-5 */
#define MAX_SECTIONS	65536
#define MAX_SHSTRTAB	(1U << 20)
#define MAX_STRTAB	(512U << 20)
#define MAX_SYMS	(16U << 20)	/* entries per table */
#define MAX_KEPT	(4U << 20)	/* FUNC/IFUNC/OBJECT kept, both tables: 128 MiB */
#define MAX_NOTES	(64U << 10)	/* bytes of PT_NOTE read for the Go note */
#define SYM_CHUNK	4096		/* symbols read (and charged) per pread */
#define NO_SYM		UINT32_MAX

struct load_seg {
	uint64_t vaddr, off, filesz;
	uint32_t flags;
};

struct section {
	uint64_t off, addr, size, entsize;
	uint32_t name, type, link, info;
	uint64_t flags;
};

/* A defined FUNC/IFUNC/OBJECT symbol of .symtab or .dynsym */
struct sym {
	uint64_t vaddr, size;
	uint32_t name;		/* offset in its table's strings */
	uint32_t next;		/* hash chain */
	uint8_t type;		/* STT_* */
	uint8_t table;		/* 0: .symtab, 1: .dynsym */
};

struct symtab_strs {
	char *s;
	uint64_t size;
};

struct binary {
	int fd;
	struct binary_id id;
	char attach_path[32];
	uint64_t size;
	enum binary_arch arch;
	struct binary_limits lim;

	struct load_seg loads[MAX_LOADS];
	int nloads;
	struct section *secs;
	uint32_t nsecs;
	char *shstr;
	uint32_t shstr_size;
	bool shdrs_ok;		/* section headers valid: libelf may be used */
	Elf *elf;		/* libelf, opened on first binary__elf() */

	/* symbols: loaded on first lookup */
	int syms_err;		/* 1: not loaded yet */
	struct sym *syms;
	uint32_t nsyms;
	uint32_t *buckets;
	uint32_t nbuckets;
	struct symtab_strs strs[2];
	bool has_symtab;
	int go_marker;		/* -1: not checked yet */

	/* CPU budget */
	uint64_t used_ns, stamp_ns;
	pid_t stamp_tid;
	int depth;
	bool over;
};

static pid_t self_tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static void stamp(struct binary *b)
{
	b->stamp_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	b->stamp_tid = self_tid();
}

int binary__charge(struct binary *b)
{
	uint64_t now = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	pid_t tid = self_tid();

	/* another thread's clock says nothing about ours: restart the stamp */
	if (tid == b->stamp_tid && now > b->stamp_ns)
		b->used_ns += now - b->stamp_ns;
	b->stamp_ns = now;
	b->stamp_tid = tid;
	if (b->used_ns > b->lim.budget_ns)
		b->over = true;
	if (b->over)
		return -ETIME;
	if (b->lim.cancel && *b->lim.cancel)
		return -ECANCELED;
	return 0;
}

int binary__begin(struct binary *b)
{
	if (b->depth++ == 0)
		stamp(b);
	if (b->over)
		return -ETIME;
	if (b->lim.cancel && *b->lim.cancel)
		return -ECANCELED;
	return 0;
}

int binary__end(struct binary *b, int err)
{
	int verdict = binary__charge(b);

	if (b->depth > 0)
		b->depth--;
	return err ? err : verdict;
}

bool binary__over_budget(const struct binary *b)
{
	return b->over;
}

/* Exactly size bytes at off, or -ERANGE (outside the file) / -EIO. */
int binary__pread(const struct binary *b, uint64_t off, void *buf, size_t size)
{
	size_t done = 0;

	if (off > b->size || size > b->size - off)
		return -ERANGE;
	while (done < size) {
		ssize_t n = pread(b->fd, (char *)buf + done, size - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;	/* truncated since fstat, or a read error */
		done += (size_t)n;
	}
	return 0;
}

/* A copy of size bytes at off (plus a NUL), or NULL with *err set. */
static void *read_alloc(const struct binary *b, uint64_t off, uint64_t size, int *err)
{
	char *p;

	if (off > b->size || size > b->size - off) {
		*err = -ERANGE;
		return NULL;
	}
	p = malloc(size + 1);
	if (!p) {
		*err = -ENOMEM;
		return NULL;
	}
	*err = binary__pread(b, off, p, size);
	if (*err) {
		free(p);
		return NULL;
	}
	p[size] = '\0';
	return p;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void parse_shdr(const uint8_t *h, struct section *s)
{
	*s = (struct section){
		.name = rd32(h), .type = rd32(h + 4), .flags = rd64(h + 8),
		.addr = rd64(h + 16), .off = rd64(h + 24), .size = rd64(h + 32),
		.link = rd32(h + 40), .info = rd32(h + 44), .entsize = rd64(h + 56),
	};
}

/* Section header i (64 bytes at shoff + 64 * i) into s. */
static int read_shdr(const struct binary *b, uint64_t shoff, uint64_t i, struct section *s)
{
	uint8_t h[64];
	int err = binary__pread(b, shoff + 64 * i, h, sizeof(h));

	if (!err)
		parse_shdr(h, s);
	return err;
}

/*
 * Section headers and their names. A file whose section table is out of the
 * file or absurd keeps no sections (as an sstrip'ed file): uprobes only need
 * PT_LOAD, and nothing below trusts a section it did not check.
 */
static int read_sections(struct binary *b, const uint8_t *eh)
{
	uint64_t shoff = rd64(eh + 40), n = rd16(eh + 60);
	uint32_t strndx = rd16(eh + 62);
	struct section s0;
	uint8_t *raw;
	int err;

	if (!shoff)
		return 0;
	if (rd16(eh + 58) != 64 || read_shdr(b, shoff, 0, &s0))
		return 0;
	if (n == 0)
		n = s0.size;	/* more than SHN_LORESERVE sections */
	if (strndx == SHN_XINDEX)
		strndx = s0.link;
	if (n == 0 || n > MAX_SECTIONS || shoff > b->size || n * 64 > b->size - shoff)
		return 0;
	b->secs = calloc(n, sizeof(*b->secs));
	raw = malloc(n * 64);
	if (!b->secs || !raw) {
		free(raw);
		return -ENOMEM;
	}
	err = binary__pread(b, shoff, raw, n * 64);
	for (uint64_t i = 0; i < n && !err; i++)
		parse_shdr(raw + 64 * i, &b->secs[i]);
	free(raw);
	if (err)
		return err;
	b->nsecs = (uint32_t)n;
	b->shdrs_ok = true;
	if (strndx >= n || b->secs[strndx].type != SHT_STRTAB ||
	    b->secs[strndx].size > MAX_SHSTRTAB)
		return 0;	/* no names: no section is found by name */
	b->shstr = read_alloc(b, b->secs[strndx].off, b->secs[strndx].size, &err);
	if (b->shstr)
		b->shstr_size = (uint32_t)b->secs[strndx].size;
	return err == -ENOMEM ? err : 0;
}

/* PT_LOAD segments, the file-backed part of each, overflow-safe. */
static int read_loads(struct binary *b, const uint8_t *eh)
{
	uint64_t phoff = rd64(eh + 32), n = rd16(eh + 56);

	if (n == PN_XNUM && b->nsecs)
		n = b->secs[0].info;	/* the real count lives in shdr0.sh_info */
	if (n && rd16(eh + 54) != 56)
		return -ENOEXEC;
	if (phoff > b->size || n * 56 > b->size - phoff)
		return -ENOEXEC;
	for (uint64_t i = 0; i < n && b->nloads < MAX_LOADS; i++) {
		uint8_t ph[56];
		uint64_t off, vaddr, filesz;
		int err = binary__pread(b, phoff + 56 * i, ph, sizeof(ph));

		if (err)
			return err;
		if (rd32(ph) != PT_LOAD)
			continue;
		off = rd64(ph + 8), vaddr = rd64(ph + 16), filesz = rd64(ph + 32);
		if (off > b->size)
			continue;
		if (filesz > b->size - off)
			filesz = b->size - off;	/* the part the file really has */
		if (vaddr + filesz < vaddr)
			continue;
		b->loads[b->nloads++] = (struct load_seg){
			.vaddr = vaddr, .off = off, .filesz = filesz, .flags = rd32(ph + 4),
		};
	}
	return 0;
}

static int check_ehdr(struct binary *b, const uint8_t *eh)
{
	uint16_t machine;

	if (memcmp(eh, ELFMAG, SELFMAG))
		return -ENOEXEC;
	if (eh[EI_CLASS] != ELFCLASS64 || eh[EI_DATA] != ELFDATA2LSB)
		return eh[EI_CLASS] == ELFCLASS32 || eh[EI_CLASS] == ELFCLASS64 ? -ENOTSUP :
		       -ENOEXEC;
	machine = rd16(eh + 18);
	b->arch = machine == EM_X86_64 ? BINARY_ARCH_X86_64 :
		  machine == EM_AARCH64 ? BINARY_ARCH_ARM64 : BINARY_ARCH_UNKNOWN;
	return 0;
}

static int open_checked(struct binary *b)
{
	uint8_t eh[64];
	struct stat st;
	int err;

	if (fstat(b->fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	b->id = (struct binary_id){ .dev = st.st_dev, .ino = st.st_ino };
	b->size = (uint64_t)st.st_size;
	if (b->size > b->lim.max_file_size)
		return -EFBIG;
	if (b->size < sizeof(eh))
		return -ENOEXEC;
	err = binary__pread(b, 0, eh, sizeof(eh));
	if (err)
		return err;
	err = check_ehdr(b, eh);
	if (!err)
		err = read_sections(b, eh);
	if (!err)
		err = read_loads(b, eh);
	return err;
}

int binary__open_fd(int fd, const struct binary_limits *lim, struct binary **out)
{
	struct binary *b;
	int err;

	*out = NULL;
	b = calloc(1, sizeof(*b));
	if (!b) {
		close(fd);
		return -ENOMEM;
	}
	b->fd = fd;
	b->syms_err = 1;
	b->go_marker = -1;
	if (lim)
		b->lim = *lim;
	if (!b->lim.max_file_size)
		b->lim.max_file_size = DEF_MAX_FILE;
	if (!b->lim.max_func_bytes)
		b->lim.max_func_bytes = DEF_FUNC_BYTES;
	if (!b->lim.budget_ns)
		b->lim.budget_ns = DEF_BUDGET_NS;
	snprintf(b->attach_path, sizeof(b->attach_path), "/proc/self/fd/%d", fd);
	/* bounded work (header tables are capped): charged, never refused for time */
	binary__begin(b);
	err = open_checked(b);
	binary__end(b, 0);
	if (err) {
		binary__free(b);
		return err;
	}
	*out = b;
	return 0;
}

void binary__free(struct binary *b)
{
	if (!b)
		return;
	if (b->elf)
		elf_end(b->elf);
	for (int i = 0; i < 2; i++)
		free(b->strs[i].s);
	free(b->syms);
	free(b->buckets);
	free(b->shstr);
	free(b->secs);
	if (b->fd >= 0)
		close(b->fd);
	free(b);
}

const struct binary_id *binary__id(const struct binary *b)
{
	return &b->id;
}

int binary__fd(const struct binary *b)
{
	return b->fd;
}

const char *binary__attach_path(const struct binary *b)
{
	return b->attach_path;
}

uint64_t binary__size(const struct binary *b)
{
	return b->size;
}

enum binary_arch binary__arch(const struct binary *b)
{
	return b->arch;
}

uint64_t binary__max_func_bytes(const struct binary *b)
{
	return b->lim.max_func_bytes;
}

void *binary__elf(const struct binary *cb)
{
	struct binary *b = (struct binary *)cb;	/* a cache, opened on first use */

	if (b->elf || !b->shdrs_ok)
		return b->elf;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return NULL;
	/* ELF_C_READ: libelf reads with pread() what it needs (a mapping of a
	 * file someone truncates would SIGBUS) */
	b->elf = elf_begin(b->fd, ELF_C_READ, NULL);
	if (b->elf && elf_kind(b->elf) != ELF_K_ELF) {
		elf_end(b->elf);
		b->elf = NULL;
	}
	return b->elf;
}

/* The PT_LOAD segment whose file-backed part holds vaddr: the first (a hostile file's
 * segments may overlap; offsets and reads must agree on the bytes at vaddr), or NULL. */
static const struct load_seg *load_seg_of(const struct binary *b, uint64_t vaddr)
{
	for (int i = 0; i < b->nloads; i++) {
		const struct load_seg *s = &b->loads[i];

		if (vaddr >= s->vaddr && vaddr - s->vaddr < s->filesz)
			return s;
	}
	return NULL;
}

int binary__vaddr_to_off(const struct binary *b, uint64_t vaddr, uint64_t *off)
{
	const struct load_seg *s = load_seg_of(b, vaddr);

	if (!s)
		return -ENOENT;
	*off = s->off + (vaddr - s->vaddr);
	return 0;
}

int binary__read(const struct binary *b, uint64_t vaddr, void *buf, size_t size)
{
	const struct load_seg *s = load_seg_of(b, vaddr);

	/* the whole range inside that segment's file-backed part */
	if (!s || size > s->filesz - (vaddr - s->vaddr))
		return -ENOENT;
	return binary__pread(b, s->off + (vaddr - s->vaddr), buf, size) ? -EIO : 0;
}

static const struct section *find_section(const struct binary *b, const char *name)
{
	size_t len = strlen(name);

	if (!b->shstr)
		return NULL;
	for (uint32_t i = 1; i < b->nsecs; i++) {
		const struct section *s = &b->secs[i];

		if (s->name < b->shstr_size && len < b->shstr_size - s->name &&
		    !memcmp(b->shstr + s->name, name, len + 1))
			return s;
	}
	return NULL;
}

int binary__section(const struct binary *b, const char *name, uint64_t *off, uint64_t *addr,
		    uint64_t *size)
{
	const struct section *s = find_section(b, name);

	if (!s || s->type == SHT_NOBITS || s->off > b->size || s->size > b->size - s->off)
		return -ENOENT;
	if (off)
		*off = s->off;
	if (addr)
		*addr = s->addr;
	if (size)
		*size = s->size;
	return 0;
}

int binary__segment(const struct binary *b, int i, uint64_t *vaddr, uint64_t *off,
		    uint64_t *filesz, uint32_t *flags)
{
	if (i < 0 || i >= b->nloads)
		return -ENOENT;
	*vaddr = b->loads[i].vaddr;
	*off = b->loads[i].off;
	*filesz = b->loads[i].filesz;
	*flags = b->loads[i].flags;
	return 0;
}

uint32_t binary__nsections(const struct binary *b)
{
	return b->nsecs;
}

int binary__section_at(const struct binary *b, uint32_t i, const char **name, uint32_t *type,
		       uint64_t *flags, uint64_t *off, uint64_t *size)
{
	const struct section *s;

	if (i == 0 || i >= b->nsecs)
		return -ENOENT;
	s = &b->secs[i];
	/* shstr has a NUL at shstr_size: every in-range name is terminated */
	*name = b->shstr && s->name < b->shstr_size ? b->shstr + s->name : "";
	*type = s->type;
	*flags = s->flags;
	*off = s->off;
	*size = s->size;
	return 0;
}

/* Hash of a symbol name up to its version ("sym@VER", "sym@@VER"). */
static uint32_t name_hash(const char *s, size_t max)
{
	uint32_t h = 2166136261U;

	for (size_t i = 0; i < max && s[i] && s[i] != '@'; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619U;
	return h;
}

static int add_sym(struct binary *b, const uint8_t *e, int table, uint32_t *cap)
{
	uint8_t type = e[4] & 0xf;
	uint16_t shndx = rd16(e + 6);
	uint32_t name = rd32(e);
	uint64_t value = rd64(e + 8);

	if (shndx == SHN_UNDEF || !value || name >= b->strs[table].size ||
	    (type != STT_FUNC && type != STT_GNU_IFUNC && type != STT_OBJECT))
		return 0;
	if (b->nsyms == *cap) {
		uint32_t ncap = *cap ? *cap * 2 : 1024;
		struct sym *n;

		if (*cap >= MAX_KEPT)
			return -EFBIG;
		n = realloc(b->syms, ncap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		b->syms = n, *cap = ncap;
	}
	b->syms[b->nsyms++] = (struct sym){
		.vaddr = value, .size = rd64(e + 16), .name = name, .type = type, .table = table,
		.next = NO_SYM,
	};
	return 0;
}

/* One symbol table (SHT_SYMTAB or SHT_DYNSYM) and its strings. */
static int load_table(struct binary *b, uint32_t type, int table, uint32_t *cap)
{
	const struct section *s = NULL, *str;
	uint8_t buf[SYM_CHUNK * 24];
	uint64_t n;
	int err = 0;

	for (uint32_t i = 1; i < b->nsecs && !s; i++)
		if (b->secs[i].type == type)
			s = &b->secs[i];
	if (!s || s->entsize != 24 || s->link >= b->nsecs)
		return 0;
	str = &b->secs[s->link];
	n = s->size / 24;
	if (n > MAX_SYMS || str->size > MAX_STRTAB)
		return -EFBIG;
	b->strs[table].s = read_alloc(b, str->off, str->size, &err);
	if (!b->strs[table].s)
		return err;
	b->strs[table].size = str->size;
	if (type == SHT_SYMTAB)
		b->has_symtab = true;
	for (uint64_t i = 0; i < n && !err; i += SYM_CHUNK) {
		uint64_t k = n - i < SYM_CHUNK ? n - i : SYM_CHUNK;

		err = binary__pread(b, s->off + i * 24, buf, k * 24);
		for (uint64_t j = 0; j < k && !err; j++)
			err = add_sym(b, buf + j * 24, table, cap);
		if (!err)
			err = binary__charge(b);
	}
	return err;
}

static int build_sym_index(struct binary *b)
{
	uint32_t cap = 0;
	int err = load_table(b, SHT_SYMTAB, 0, &cap);

	if (!err)
		err = load_table(b, SHT_DYNSYM, 1, &cap);
	if (err || !b->nsyms)
		return err;
	for (b->nbuckets = 64; b->nbuckets < b->nsyms; b->nbuckets *= 2)
		;
	b->buckets = malloc(b->nbuckets * sizeof(*b->buckets));
	if (!b->buckets)
		return -ENOMEM;
	memset(b->buckets, 0xff, b->nbuckets * sizeof(*b->buckets));
	/* backwards: each chain lists symbols in table order, .symtab first */
	for (uint32_t i = b->nsyms; i-- > 0;) {
		struct sym *s = &b->syms[i];
		const struct symtab_strs *st = &b->strs[s->table];
		uint32_t h = name_hash(st->s + s->name, st->size - s->name) & (b->nbuckets - 1);

		s->next = b->buckets[h];
		b->buckets[h] = i;
	}
	return binary__charge(b);
}

static int load_syms(struct binary *b)
{
	if (b->syms_err == 1)
		b->syms_err = build_sym_index(b);
	return b->syms_err;
}

bool binary__has_symtab(const struct binary *cb)
{
	struct binary *b = (struct binary *)cb;

	for (uint32_t i = 1; i < b->nsecs; i++)
		if (b->secs[i].type == SHT_SYMTAB && b->secs[i].size >= 48)
			return true;
	return false;
}

/* "sym" matches "sym" and "sym@VER"; "sym@VER" compares the base name only. */
static bool name_matches(const char *sym, const char *want, size_t n)
{
	if (strncmp(sym, want, n))
		return false;
	return sym[n] == 0 || sym[n] == '@';
}

static bool type_ok(uint8_t type, bool data)
{
	return data ? type == STT_OBJECT : type == STT_FUNC || type == STT_GNU_IFUNC;
}

/* The first symbol of that kind and name, .symtab before .dynsym; NULL with *err. */
static const struct sym *find_sym(struct binary *b, const char *name, bool data, int *err)
{
	const char *at = strchr(name, '@');
	size_t n = at ? (size_t)(at - name) : strlen(name);
	uint32_t i;

	*err = load_syms(b);
	if (*err)
		return NULL;
	*err = -ENOENT;
	if (!b->nbuckets)
		return NULL;
	for (i = b->buckets[name_hash(name, n) & (b->nbuckets - 1)]; i != NO_SYM;
	     i = b->syms[i].next) {
		const struct sym *s = &b->syms[i];

		if (type_ok(s->type, data) && name_matches(b->strs[s->table].s + s->name, name, n))
			return s;
	}
	return NULL;
}

static int sym_lookup(struct binary *b, const char *name, bool data, struct binary_sym *out)
{
	int err;
	const struct sym *s = find_sym(b, name, data, &err);

	if (!s)
		return err;
	out->vaddr = s->vaddr;
	out->size = s->size;
	return binary__vaddr_to_off(b, s->vaddr, &out->file_off);
}

int binary__sym(struct binary *b, const char *name, struct binary_sym *out)
{
	int err = binary__begin(b);

	if (!err)
		err = sym_lookup(b, name, false, out);
	return binary__end(b, err);
}

int binary__data_sym(struct binary *b, const char *name, struct binary_sym *out)
{
	int err = binary__begin(b);

	if (!err)
		err = sym_lookup(b, name, true, out);
	return binary__end(b, err);
}

/* A Go build-id note (owner "Go", type 4) in a PT_NOTE: survives section stripping. */
static bool go_note_in(struct binary *b, uint64_t off, uint64_t size)
{
	uint8_t *buf;
	bool found = false;
	int err;

	if (off >= b->size)
		return false;
	size = size < b->size - off ? size : b->size - off;
	size = size < MAX_NOTES ? size : MAX_NOTES;
	buf = read_alloc(b, off, size, &err);
	if (!buf)
		return false;
	for (uint64_t p = 0; p + 12 <= size && !found;) {
		uint64_t namesz = rd32(buf + p), descsz = rd32(buf + p + 4);

		/* Go's linker writes the name "Go\0\0" (namesz 4) */
		found = (namesz == 3 || namesz == 4) && rd32(buf + p + 8) == 4 &&
			p + 15 <= size && !memcmp(buf + p + 12, "Go", 3);
		p += 12 + ((namesz + 3) & ~3ULL) + ((descsz + 3) & ~3ULL);
	}
	free(buf);
	return found;
}

static bool go_note(struct binary *b, const uint8_t *eh)
{
	uint64_t phoff = rd64(eh + 32), n = rd16(eh + 56);

	if (rd16(eh + 54) != 56 || phoff > b->size || n * 56 > b->size - phoff)
		return false;
	for (uint64_t i = 0; i < n && i < MAX_LOADS; i++) {
		uint8_t ph[56];

		if (binary__pread(b, phoff + 56 * i, ph, sizeof(ph)))
			return false;
		if (rd32(ph) == PT_NOTE && go_note_in(b, rd64(ph + 8), rd64(ph + 32)))
			return true;
	}
	return false;
}

static bool find_go_marker(struct binary *b)
{
	static const char *const secs[] = {
		".gopclntab", ".data.rel.ro.gopclntab", ".go.buildinfo", ".note.go.buildid",
		".gosymtab",
	};
	static const char *const funcs[] = {
		"runtime.goexit", "runtime.main", "runtime.morestack", "runtime.rt0_go",
		"runtime.goexit.abi0", "runtime.morestack.abi0", "runtime.rt0_go.abi0",
	};
	uint8_t eh[64];
	int err;

	for (size_t i = 0; i < sizeof(secs) / sizeof(secs[0]); i++)
		if (find_section(b, secs[i]))
			return true;
	if (!binary__pread(b, 0, eh, sizeof(eh)) && go_note(b, eh))
		return true;
	for (size_t i = 0; i < sizeof(funcs) / sizeof(funcs[0]); i++) {
		/* symbols that cannot be read (budget, size): assume Go, the safe side */
		if (find_sym(b, funcs[i], false, &err) || err != -ENOENT)
			return true;
	}
	return false;
}

bool binary__has_go_marker(struct binary *b)
{
	if (b->go_marker < 0) {
		binary__begin(b);
		b->go_marker = find_go_marker(b);
		binary__end(b, 0);
	}
	return b->go_marker;
}
