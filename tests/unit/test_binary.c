// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * binary.h against ground truth the test takes from elsewhere: the dynamic
 * loader (dlsym/dladdr) for symbols in libc and libssl, the bytes in memory
 * for file offsets, crafted files for what a hostile process could present
 * (non-regular files, truncated and corrupt ELF, a 64 MiB sparse file with a
 * function claiming all of it), and the CPU budget and cancel flag.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "attach/binary.h"
#include "attach/go_binary.h"

static char tmpdir[] = "/tmp/pt-test-binary-XXXXXX";

static int open_path(const char *path, const struct binary_limits *lim, struct binary **b)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return -errno;
	return binary__open_fd(fd, lim, b);
}

static struct binary *must_open(const char *path, const struct binary_limits *lim)
{
	struct binary *b = NULL;
	int err = open_path(path, lim, &b);

	if (err)
		fail_msg("binary__open_fd(%s): %s", path, strerror(-err));
	return b;
}

/* The loaded object defining sym: its file and load base (dladdr). */
static void loaded(void *handle, const char *sym, void **addr, Dl_info *info)
{
	*addr = dlsym(handle, sym);
	assert_non_null(*addr);
	assert_int_not_equal(dladdr(*addr, info), 0);
}

/* binary__sym agrees with the loader, and file_off holds the bytes in memory. */
static void check_sym(void *handle, const char *sym)
{
	struct binary_sym s;
	struct binary *b;
	uint8_t file[16];
	Dl_info info;
	void *addr;

	loaded(handle, sym, &addr, &info);
	b = must_open(info.dli_fname, NULL);
	assert_int_equal(binary__sym(b, sym, &s), 0);
	print_message("  %-14s %s: vaddr %#lx size %lu off %#lx\n", sym, info.dli_fname,
		      (unsigned long)s.vaddr, (unsigned long)s.size, (unsigned long)s.file_off);
	assert_int_equal(s.vaddr, (uintptr_t)addr - (uintptr_t)info.dli_fbase);
	assert_int_equal(binary__pread(b, s.file_off, file, sizeof(file)), 0);
	/* another tracer's uprobe on the function shows as an INT3 in memory */
	assert_true(file[0] == *(uint8_t *)addr || *(uint8_t *)addr == 0xcc);
	assert_memory_equal(file + 1, (uint8_t *)addr + 1, sizeof(file) - 1);
	binary__free(b);
}

static void test_sym_libs(void **state)
{
	void *ssl = dlopen("libssl.so.3", RTLD_NOW);
	struct binary_sym s, v;
	struct binary *b;
	Dl_info info;
	void *addr;

	check_sym(RTLD_DEFAULT, "malloc");
	check_sym(RTLD_DEFAULT, "fopen");
	if (!ssl)
		fail_msg("dlopen libssl.so.3: %s", dlerror());
	check_sym(ssl, "SSL_read");
	check_sym(ssl, "SSL_write");
	check_sym(ssl, "SSL_do_handshake");

	loaded(RTLD_DEFAULT, "malloc", &addr, &info);
	b = must_open(info.dli_fname, NULL);
	assert_false(binary__has_go_marker(b));
	assert_int_equal(binary__sym(b, "malloc", &s), 0);
	/* a versioned name matches its base name */
	assert_int_equal(binary__sym(b, "malloc@GLIBC_2.2.5", &v), 0);
	assert_int_equal(v.vaddr, s.vaddr);
	assert_int_equal(binary__sym(b, "mallo", &v), -ENOENT);
	assert_int_equal(binary__sym(b, "malloc_no_such_thing", &v), -ENOENT);
	/* data symbols only through binary__data_sym */
	assert_int_equal(binary__sym(b, "stdout", &v), -ENOENT);
	/* libc's own definition, not the copy relocated into this executable */
	loaded(dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD), "stdout", &addr, &info);
	assert_int_equal(binary__data_sym(b, "stdout", &v), 0);
	assert_int_equal(v.vaddr, (uintptr_t)addr - (uintptr_t)info.dli_fbase);
#ifdef __x86_64__
	assert_int_equal(binary__arch(b), BINARY_ARCH_X86_64);
#endif
	assert_false(binary__over_budget(b));
	binary__free(b);
	dlclose(ssl);
}

static void test_vaddr(void **state)
{
	uint8_t a[64], c[64];
	struct binary_sym s;
	struct binary *b;
	uint64_t off, vaddr, soff, filesz;
	uint32_t flags;
	Dl_info info;
	void *addr;

	loaded(RTLD_DEFAULT, "malloc", &addr, &info);
	b = must_open(info.dli_fname, NULL);
	assert_int_equal(binary__sym(b, "malloc", &s), 0);
	assert_int_equal(binary__vaddr_to_off(b, s.vaddr, &off), 0);
	assert_int_equal(off, s.file_off);
	assert_int_equal(binary__read(b, s.vaddr, a, sizeof(a)), 0);
	assert_int_equal(binary__pread(b, off, c, sizeof(c)), 0);
	assert_memory_equal(a, c, sizeof(a));
	/* the ends of each segment's file-backed part */
	for (int i = 0; !binary__segment(b, i, &vaddr, &soff, &filesz, &flags); i++) {
		assert_int_equal(binary__vaddr_to_off(b, vaddr + filesz - 1, &off), 0);
		assert_int_equal(off, soff + filesz - 1);
		assert_int_equal(binary__read(b, vaddr + filesz - 1, a, 1), 0);
		/* a read running past the segment is refused, not partly served */
		assert_int_equal(binary__read(b, vaddr + filesz - 1, a, 2), -ENOENT);
	}
	assert_int_equal(binary__vaddr_to_off(b, UINT64_MAX - 4, &off), -ENOENT);
	assert_int_equal(binary__read(b, UINT64_MAX - 4, a, 8), -ENOENT);
	assert_int_equal(binary__pread(b, binary__size(b) - 4, a, 8), -ERANGE);
	assert_int_equal(binary__pread(b, UINT64_MAX - 2, a, 8), -ERANGE);
	assert_int_equal(binary__section(b, ".text", &off, &vaddr, &filesz), 0);
	assert_true(off + filesz <= binary__size(b));
	assert_int_equal(binary__section(b, ".bss", NULL, NULL, NULL), -ENOENT);	/* NOBITS */
	assert_int_equal(binary__section(b, ".no_such_section", NULL, NULL, NULL), -ENOENT);
	snprintf((char *)a, sizeof(a), "/proc/self/fd/%d", binary__fd(b));
	assert_string_equal(binary__attach_path(b), (char *)a);
	binary__free(b);
}

/* fd is closed by binary__open_fd on failure too */
static void expect_refused(int fd, const struct binary_limits *lim, int want)
{
	struct binary *b = (struct binary *)1;

	assert_true(fd >= 0);
	assert_int_equal(binary__open_fd(fd, lim, &b), want);
	assert_null(b);
	assert_int_equal(fcntl(fd, F_GETFD), -1);
}

static void test_not_regular(void **state)
{
	int p[2];

	assert_int_equal(pipe(p), 0);
	expect_refused(p[0], NULL, -EINVAL);
	close(p[1]);
	expect_refused(open("/tmp", O_RDONLY | O_DIRECTORY), NULL, -EINVAL);
	expect_refused(open("/dev/null", O_RDONLY), NULL, -EINVAL);
	binary__free(NULL);
}

static char *tmp_path(const char *name)
{
	static char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	return path;
}

/* path's first n bytes, possibly patched at off, into tmpdir/name */
static char *copy_prefix(const char *path, size_t n, size_t off, const void *patch, size_t plen)
{
	uint8_t *buf = calloc(1, n);
	int in = open(path, O_RDONLY), out;
	char *dst = tmp_path("elf");

	assert_non_null(buf);
	assert_int_equal(pread(in, buf, n, 0), n);
	if (patch)
		memcpy(buf + off, patch, plen);
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_int_equal(write(out, buf, n), n);
	close(out);
	close(in);
	free(buf);
	return dst;
}

static void test_corrupt(void **state)
{
	const char *lib = "/bin/true";
	struct binary_limits small = { .max_file_size = 1000 };
	struct binary *b;
	struct binary_sym s;
	uint64_t big = UINT64_MAX - 8;
	struct stat st;

	assert_int_equal(stat(lib, &st), 0);
	/* not ELF, truncated headers, 32-bit, big-endian */
	assert_int_equal(open_path("/etc/hostname", NULL, &b), -ENOEXEC);
	assert_int_equal(open_path(copy_prefix(lib, 40, 0, NULL, 0), NULL, &b), -ENOEXEC);
	assert_int_equal(open_path(copy_prefix(lib, 4096, 4, "\x01", 1), NULL, &b), -ENOTSUP);
	assert_int_equal(open_path(copy_prefix(lib, 4096, 5, "\x02", 1), NULL, &b), -ENOTSUP);
	assert_int_equal(open_path(copy_prefix(lib, 4096, 4, "\x07", 1), NULL, &b), -ENOEXEC);
	/* program headers outside the file */
	assert_int_equal(open_path(copy_prefix(lib, 4096, 32, &big, 8), NULL, &b), -ENOEXEC);
	/* too large for the limit */
	assert_int_equal(open_path(lib, &small, &b), -EFBIG);
	/* the file cut short: section headers out of the file, no sections, no symbols */
	b = must_open(copy_prefix(lib, (size_t)st.st_size / 2, 0, NULL, 0), NULL);
	assert_int_equal(binary__nsections(b), 0);
	assert_int_equal(binary__sym(b, "main", &s), -ENOENT);
	assert_false(binary__has_go_marker(b));
	assert_null(binary__elf(b));
	binary__free(b);
	/* an absurd e_shoff: same */
	b = must_open(copy_prefix(lib, (size_t)st.st_size, 40, &big, 8), NULL);
	assert_int_equal(binary__nsections(b), 0);
	binary__free(b);
	/* the whole file: sections, libelf for libdw */
	b = must_open(copy_prefix(lib, (size_t)st.st_size, 0, NULL, 0), NULL);
	assert_true(binary__nsections(b) > 10);
	assert_non_null(binary__elf(b));
	binary__free(b);
}

/* The libc this test runs with */
static struct binary *open_libc(const struct binary_limits *lim)
{
	Dl_info info;
	void *addr;

	loaded(RTLD_DEFAULT, "malloc", &addr, &info);
	return must_open(info.dli_fname, lim);
}

static void test_budget(void **state)
{
	struct binary_limits lim = { .budget_ns = 1 };
	struct binary *b = open_libc(&lim);
	struct binary_sym s;

	/* 1 ns: the first query is over; every later one too */
	assert_int_equal(binary__sym(b, "malloc", &s), -ETIME);
	assert_true(binary__over_budget(b));
	assert_int_equal(binary__sym(b, "free", &s), -ETIME);
	assert_int_equal(binary__charge(b), -ETIME);
	/* unreadable symbols: Go assumed (no uretprobe), the safe side */
	assert_true(binary__has_go_marker(b));
	binary__free(b);
}

static void test_cancel(void **state)
{
	volatile int cancel = 0;
	struct binary_limits lim = { .cancel = &cancel };
	struct binary *b = open_libc(&lim);
	struct binary_sym s;

	assert_int_equal(binary__sym(b, "malloc", &s), 0);
	assert_int_equal(binary__charge(b), 0);
	cancel = 1;
	assert_int_equal(binary__sym(b, "malloc", &s), -ECANCELED);
	assert_int_equal(binary__charge(b), -ECANCELED);
	assert_false(binary__over_budget(b));
	cancel = 0;
	assert_int_equal(binary__sym(b, "malloc", &s), 0);
	binary__free(b);
}

/* build/fixtures/go/name under the repo root (the current directory, or
 * two levels above build/tests/), built if missing and Go is installed */
static int go_fixture(char *path, size_t size, const char *name)
{
	char root[PATH_MAX], cmd[2 * PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", root, sizeof(root) - 1);

	if (!access("tests/fixtures/go/build.sh", X_OK)) {
		snprintf(root, sizeof(root), ".");
	} else {
		if (n <= 0)
			return -ENOENT;
		root[n] = '\0';
		for (int up = 0; up < 3; up++)
			*(strrchr(root, '/') ?: root) = '\0';
	}
	snprintf(path, size, "%s/build/fixtures/go/%s", root, name);
	if (!access(path, R_OK))
		return 0;
	if (system("command -v go >/dev/null 2>&1"))
		return -ENOENT;
	snprintf(cmd, sizeof(cmd), "'%s/tests/fixtures/go/build.sh' >&2", root);
	return system(cmd) || access(path, R_OK) ? -ENOENT : 0;
}

static void test_go_marker(void **state)
{
	char path[PATH_MAX];
	uint64_t zero = 0;
	struct binary *b;
	struct stat st;

	b = must_open("/bin/true", NULL);
	assert_false(binary__has_go_marker(b));
	binary__free(b);
	if (go_fixture(path, sizeof(path), "webapp-stripped"))
		skip();
	b = must_open(path, NULL);
	assert_true(binary__has_go_marker(b));
	binary__free(b);
	/* no section headers at all: the Go note in PT_NOTE still says Go */
	assert_int_equal(stat(path, &st), 0);
	b = must_open(copy_prefix(path, (size_t)st.st_size, 40, &zero, 8), NULL);
	assert_int_equal(binary__nsections(b), 0);
	assert_true(binary__has_go_marker(b));
	binary__free(b);
	/* unstripped: .symtab has runtime.* functions */
	assert_int_equal(go_fixture(path, sizeof(path), "webapp"), 0);
	b = must_open(path, NULL);
	assert_true(binary__has_symtab(b));
	assert_true(binary__has_go_marker(b));
	binary__free(b);
}

#define HUGE_SIZE (64ULL << 20)
#define HUGE_BASE 0x400000ULL
/* main.huge: from 4 MiB (after the tables, which would not decode) to 4 KiB before the end */
#define HUGE_TEXT (4ULL << 20)
#define HUGE_FN_SIZE (HUGE_SIZE - HUGE_TEXT - 4096)

static void put_u32(int fd, uint64_t off, uint32_t v)
{
	assert_int_equal(pwrite(fd, &v, 4, (off_t)off), 4);
}

static void put_u64(int fd, uint64_t off, uint64_t v)
{
	assert_int_equal(pwrite(fd, &v, 8, (off_t)off), 8);
}

/*
 * 64 MiB, sparse: one PT_LOAD over all of it, a Go 1.20 .gopclntab (at 1 MiB)
 * with one function "main.huge" from 4 MiB to the end of the file. Its body
 * decodes as 00 00 (add [rax], al): 30 M instructions. (The tables used to lie
 * inside the body: a walk fast enough to reach them in its 100 ms budget failed
 * with -EILSEQ instead of -ETIME.)
 */
static char *write_huge(void)
{
	static const char shstr[] = "\0.text\0.gopclntab\0.shstrtab";
	char *path = tmp_path("huge");
	uint64_t pcln = 1 << 20, shdr = 2 << 20, names = 3 << 20;
	uint8_t eh[64] = { 0x7f, 'E', 'L', 'F', ELFCLASS64, ELFDATA2LSB, EV_CURRENT };
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, HUGE_SIZE), 0);
	eh[16] = ET_EXEC, eh[18] = EM_X86_64 & 0xff;
	eh[52] = 64, eh[54] = 56, eh[56] = 1, eh[58] = 64, eh[60] = 4, eh[62] = 3;
	assert_int_equal(pwrite(fd, eh, 64, 0), 64);
	put_u64(fd, 32, 64);			/* e_phoff */
	put_u64(fd, 40, shdr);			/* e_shoff */
	put_u32(fd, 64, PT_LOAD);
	put_u32(fd, 68, PF_R | PF_X);
	put_u64(fd, 80, HUGE_BASE);
	put_u64(fd, 96, HUGE_SIZE);
	put_u64(fd, 104, HUGE_SIZE);
	/* .gopclntab: magic, minLC 1, ptrsize 8, nfunc 1, textStart, funcnameOff, pclnOff */
	put_u32(fd, pcln, 0xfffffff1);
	put_u32(fd, pcln + 4, 0x08010000);
	put_u64(fd, pcln + 8, 1);
	put_u64(fd, pcln + 24, HUGE_BASE + HUGE_TEXT);
	put_u64(fd, pcln + 32, 0x100);
	put_u64(fd, pcln + 64, 0x200);
	assert_int_equal(pwrite(fd, "main.huge", 10, pcln + 0x100), 10);
	put_u32(fd, pcln + 0x200, 0);				/* entry 0 */
	put_u32(fd, pcln + 0x204, 0x40);			/* _func at +0x40 */
	put_u32(fd, pcln + 0x208, HUGE_FN_SIZE);		/* end of text */
	put_u32(fd, pcln + 0x244, 0);				/* nameOff */
	assert_int_equal(pwrite(fd, shstr, sizeof(shstr), names), sizeof(shstr));
	/* section headers 1 .text, 2 .gopclntab, 3 .shstrtab */
	for (int i = 1; i <= 3; i++) {
		static const uint32_t name[] = { 0, 1, 7, 18 };
		uint64_t sh = shdr + 64 * i, off = i == 1 ? HUGE_TEXT : i == 2 ? pcln : names;

		put_u32(fd, sh, name[i]);
		put_u32(fd, sh + 4, i == 3 ? SHT_STRTAB : SHT_PROGBITS);
		put_u64(fd, sh + 16, i == 3 ? 0 : HUGE_BASE + off);
		put_u64(fd, sh + 24, off);
		put_u64(fd, sh + 32, i == 1 ? HUGE_FN_SIZE : i == 2 ? 0x1000 : sizeof(shstr));
	}
	close(fd);
	return path;
}

static double cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void test_huge_sparse(void **state)
{
	struct binary_limits lim = { .max_func_bytes = 1ULL << 30, .budget_ns = 100000000 };
	char *path = write_huge();
	struct go_binary *gb;
	struct binary *b;
	struct go_func fn;
	uint64_t rets[8];
	double t0, ms;

	/* default limits: the function is larger than max_func_bytes, refused at once */
	b = must_open(path, NULL);
	assert_true(binary__has_go_marker(b));
	assert_int_equal(go_binary__new(b, &gb), 0);
	assert_int_equal(go_binary__func(gb, "main.huge", &fn), 0);
	assert_int_equal(fn.size, HUGE_FN_SIZE);
	t0 = cpu_ms();
	assert_int_equal(go_binary__ret_offsets(gb, &fn, rets, 8), -EFBIG);
	assert_true(cpu_ms() - t0 < 50);
	go_binary__free(gb);
	binary__free(b);

	/* no size cap, 100 ms budget: the walk is abandoned when the budget runs out */
	b = must_open(path, &lim);
	assert_int_equal(go_binary__new(b, &gb), 0);
	assert_int_equal(go_binary__func(gb, "main.huge", &fn), 0);
	t0 = cpu_ms();
	assert_int_equal(go_binary__ret_offsets(gb, &fn, rets, 8), -ETIME);
	ms = cpu_ms() - t0;
	print_message("  64 MiB function abandoned after %.0f ms of CPU (budget 100 ms)\n", ms);
	assert_true(ms < 300);
	assert_true(binary__over_budget(b));
	assert_int_equal(go_binary__func(gb, "main.huge", &fn), -ETIME);
	go_binary__free(gb);
	binary__free(b);
}

static int setup(void **state)
{
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sym_libs),
		cmocka_unit_test(test_vaddr),
		cmocka_unit_test(test_not_regular),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_go_marker),
		cmocka_unit_test(test_huge_sparse),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
