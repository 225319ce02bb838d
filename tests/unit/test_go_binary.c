// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * go_binary against Go programs built here: tests/fixtures/go/build.sh makes
 * the webapp fixture normal, stripped (-s -w) and PIE with the local Go
 * toolchain. Every test is skipped when Go is not installed.
 */
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
#include <sys/utsname.h>
#include <unistd.h>

#include <cmocka.h>
#include <gelf.h>
#include <libelf.h>

#include "attach/binary.h"
#include "attach/go_binary.h"
#include "attach/go_offsets.h"
#include "synth_go.h"

#define MAX_RETS 256

static char dir[PATH_MAX + 32];	/* where the fixtures were built */
static char goversion[64];	/* `go env GOVERSION` */
static int go_minor;
static bool have_go;

static const char *const funcs[] = {
	"html/template.(*Template).Execute",
	"text/template.(*Template).execute",
	"net/http.(*conn).serve",
	"net/http.serverHandler.ServeHTTP",
	"net/http.(*Client).do",
	"crypto/tls.(*Conn).HandshakeContext",
	"crypto/tls.(*Conn).Read",
	"net.(*Resolver).lookupIPAddr",
	"net.(*sysDialer).dialSingle",
	"internal/poll.(*FD).Read",
	"internal/poll.(*FD).Write",
	"runtime.newproc1",
	"runtime.goexit1",
	"runtime.casgstatus",
	"main.spin",
	"main.(*server).handle",
};

static const char *const fields[][2] = {
	{ "runtime.g", "goid" },
	{ "runtime.g", "m" },
	{ "net/http.Request", "Method" },
	{ "net/http.Request", "URL" },
	{ "net/http.Request", "Host" },
	{ "net/url.URL", "Host" },
	{ "net/url.URL", "Path" },
	{ "crypto/tls.Conn", "conn" },
	{ "net.conn", "fd" },
	{ "net.netFD", "pfd" },
	{ "internal/poll.FD", "Sysfd" },
	{ "text/template.Template", "name" },
};


/* One field's offset: the table's for gs (stripped) is DWARF's of gb. */
static void check_field(struct go_binary *gb, struct go_binary *gs, int minor, const char *st,
			const char *field)
{
	int64_t dw = -1, tab = -2;

	if (go_binary__field_offset_dwarf(gb, st, field, &dw))
		fail_msg("go1.%d %s.%s: not in DWARF", minor, st, field);
	if (go_binary__field_offset_builtin(gs, st, field, &tab))
		fail_msg("go1.%d %s.%s: not in the table (go_offsets.c)", minor, st, field);
	if (dw != tab)
		fail_msg("go1.%d %s.%s: DWARF %ld, table %ld", minor, st, field, (long)dw,
			 (long)tab);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The repo root: $PT_ROOT, the current directory, or two levels above build/tests/. */
static int find_root(char *root, size_t size)
{
	const char *env = getenv("PT_ROOT");
	char exe[PATH_MAX], probe[PATH_MAX + 64];
	ssize_t n;

	if (env) {
		snprintf(root, size, "%s", env);
		return 0;
	}
	if (!access("tests/fixtures/go/build.sh", X_OK)) {
		snprintf(root, size, ".");
		return 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return -ENOENT;
	exe[n] = '\0';
	snprintf(probe, sizeof(probe), "%s/../../..", exe);
	if (!realpath(probe, root))
		return -ENOENT;
	return 0;
}

static int setup_fixtures(void **state)
{
	char root[PATH_MAX], cmd[3 * PATH_MAX + 128];
	FILE *p;
	int rc;

	if (find_root(root, sizeof(root)))
		return 0;
	snprintf(dir, sizeof(dir), "%s/build/fixtures/go", root);
	p = popen("go env GOVERSION 2>/dev/null", "r");
	if (!p)
		return 0;
	if (!fgets(goversion, sizeof(goversion), p))
		goversion[0] = '\0';
	pclose(p);
	goversion[strcspn(goversion, "\n")] = '\0';
	if (strncmp(goversion, "go1.", 4)) {
		fprintf(stderr, "go not usable (GOVERSION '%s'): Go tests skipped\n", goversion);
		return 0;
	}
	go_minor = atoi(goversion + 4);
	snprintf(cmd, sizeof(cmd), "'%s/tests/fixtures/go/build.sh' '%s' >&2", root, dir);
	rc = system(cmd);
	if (rc) {
		fprintf(stderr, "%s: exit %d\n", cmd, rc);
		return -1;
	}
	have_go = true;
	return 0;
}

static void mkdir_p_dir(void)
{
	char cmd[PATH_MAX + 64];

	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* binary__open_fd + go_binary__new; NULL and *err on failure */
static struct go_binary *open_go(const char *path, int *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct binary *b;
	struct go_binary *gb;

	if (fd < 0) {
		*err = -errno;
		return NULL;
	}
	*err = binary__open_fd(fd, NULL, &b);
	if (*err)
		return NULL;
	*err = go_binary__new(b, &gb);
	if (*err) {
		binary__free(b);
		return NULL;
	}
	return gb;
}

/* frees gb and the binary it borrowed */
static void close_go(struct go_binary *gb)
{
	struct binary *b = gb ? go_binary__binary(gb) : NULL;

	go_binary__free(gb);
	binary__free(b);
}

static struct go_binary *open_fixture(const char *name)
{
	char path[PATH_MAX + 64];
	struct go_binary *gb;
	int err;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	gb = open_go(path, &err);
	if (!gb)
		fail_msg("open %s as Go: %s", path, strerror(-err));
	return gb;
}

#define NEED_GO()				\
	do {					\
		if (!have_go)			\
			skip();			\
	} while (0)

static void test_detect(void **state)
{
	static const char *const names[] = {
		"webapp", "webapp-stripped", "webapp-pie", "webapp-arm64"
	};
	enum go_arch host_arch = GO_ARCH_UNKNOWN;
	struct utsname u;

	NEED_GO();
	uname(&u);
	if (!strcmp(u.machine, "x86_64"))
		host_arch = GO_ARCH_AMD64;
	else if (!strcmp(u.machine, "aarch64"))
		host_arch = GO_ARCH_ARM64;

	for (size_t i = 0; i < N(names); i++) {
		struct go_binary *gb = open_fixture(names[i]);
		enum go_arch want_arch = strstr(names[i], "arm64") ? GO_ARCH_ARM64 : host_arch;
		bool stripped = strstr(names[i], "stripped") != NULL;
		int major = 0, minor = 0;

		assert_int_equal(go_binary__version(gb, &major, &minor), 0);
		assert_string_equal(go_binary__version_str(gb), goversion);
		assert_int_equal(major, 1);
		assert_int_equal(minor, go_minor);
		assert_int_equal(go_binary__arch(gb), want_arch);
		assert_int_equal(go_binary__is_stripped(gb), stripped);
		assert_int_equal(go_binary__has_dwarf(gb), !stripped);
		assert_true(go_binary__regabi(gb));
		assert_true(go_binary__nfuncs(gb) > 1000);
		close_go(gb);
	}
}

static void test_not_go(void **state)
{
	struct go_binary *gb;
	int err;

	gb = open_go("/bin/true", &err);
	assert_null(gb);
	assert_int_equal(err, -ENOEXEC);
	gb = open_go("/etc/hostname", &err);
	assert_null(gb);
	assert_int_equal(err, -ENOEXEC);
	gb = open_go("/nonexistent/phasetrace", &err);
	assert_null(gb);
	assert_int_equal(err, -ENOENT);
	go_binary__free(NULL);
}

/* symtab and pclntab agree, and a stripped build has the same layout */
static void test_funcs(void **state)
{
	struct go_binary *gb, *gs;

	NEED_GO();
	gb = open_fixture("webapp");
	gs = open_fixture("webapp-stripped");
	for (size_t i = 0; i < N(funcs); i++) {
		struct go_func sym, pcl, str;

		print_message("  %-40s", funcs[i]);
		assert_int_equal(go_binary__func(gb, funcs[i], &sym), 0);
		assert_int_equal(sym.src, GO_FUNC_SYMTAB);
		assert_int_equal(go_binary__func_pclntab(gb, funcs[i], &pcl), 0);
		assert_int_equal(pcl.src, GO_FUNC_PCLNTAB);
		assert_int_equal(go_binary__func(gs, funcs[i], &str), 0);
		assert_int_equal(str.src, GO_FUNC_PCLNTAB);
		print_message(" %#lx +%lu\n", (unsigned long)sym.vaddr, (unsigned long)pcl.size);

		assert_int_equal(sym.vaddr, pcl.vaddr);
		assert_int_equal(sym.file_off, pcl.file_off);
		/* pclntab sizes run to the next function: symtab size plus padding */
		assert_true(sym.size > 0 && sym.size <= pcl.size && pcl.size - sym.size < 64);
		assert_int_equal(str.vaddr, sym.vaddr);
		assert_int_equal(str.file_off, sym.file_off);
		assert_int_equal(str.size, pcl.size);
	}
	struct go_func f;

	assert_int_equal(go_binary__func(gb, "main.noSuchFunction", &f), -ENOENT);
	assert_int_equal(go_binary__func(gs, "main.noSuchFunction", &f), -ENOENT);
	assert_int_equal(go_binary__func(gs, "main.spi", &f), -ENOENT);
	close_go(gs);
	close_go(gb);

	gb = open_fixture("webapp-arm64");
	for (size_t i = 0; i < N(funcs); i++) {
		struct go_func sym, pcl;

		assert_int_equal(go_binary__func(gb, funcs[i], &sym), 0);
		assert_int_equal(go_binary__func_pclntab(gb, funcs[i], &pcl), 0);
		assert_int_equal(sym.vaddr, pcl.vaddr);
		assert_int_equal(sym.file_off, pcl.file_off);
		/* arm64 text does not start at file offset == vaddr - base */
		assert_true(sym.file_off != sym.vaddr);
	}
	close_go(gb);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Every function of .symtab is found in .gopclntab at the same address,
 * except the ABIInternal wrappers of assembly functions (those with a
 * "name.abi0" twin): there pclntab gives the body, by design.
 */
static void check_all_symtab(const char *name)
{
	char path[PATH_MAX + 64];
	struct go_binary *gb = open_fixture(name);
	size_t shstrndx, nsyms, nnames = 0, checked = 0, dual = 0, generic = 0, nrets = 0, noret = 0;
	static uint64_t rets[MAX_RETS];
	const char **names;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	Elf_Data *data;
	Elf *elf;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	assert_non_null(elf);
	assert_int_equal(elf_getshdrstrndx(elf, &shstrndx), 0);
	while ((scn = elf_nextscn(elf, scn))) {
		gelf_getshdr(scn, &sh);
		if (sh.sh_type == SHT_SYMTAB)
			break;
	}
	assert_non_null(scn);
	data = elf_getdata(scn, NULL);
	nsyms = sh.sh_size / sh.sh_entsize;
	names = calloc(nsyms, sizeof(*names));
	assert_non_null(names);
	for (size_t i = 1; i < nsyms; i++) {
		GElf_Sym sym;

		gelf_getsym(data, (int)i, &sym);
		/* sized: not the runtime.text/etext markers */
		if (GELF_ST_TYPE(sym.st_info) == STT_FUNC && sym.st_size)
			names[nnames++] = elf_strptr(elf, sh.sh_link, sym.st_name);
	}
	qsort(names, nnames, sizeof(*names), cmp_str);
	for (size_t i = 0; i < nnames; i++) {
		char abi0[1024];
		const char *key = abi0;
		struct go_func s, p;
		int err;

		snprintf(abi0, sizeof(abi0), "%s.abi0", names[i]);
		if (!strcmp(names[i] + strlen(names[i]) - (strlen(names[i]) > 5 ? 5 : 0), ".abi0"))
			continue;
		if (bsearch(&key, names, nnames, sizeof(*names), cmp_str)) {
			struct go_func w;

			/* two ABIs: pclntab gives one of the two, the body */
			assert_int_equal(go_binary__func(gb, names[i], &s), 0);
			assert_int_equal(go_binary__func(gb, abi0, &w), 0);
			assert_int_equal(go_binary__func_pclntab(gb, names[i], &p), 0);
			assert_true(p.vaddr == s.vaddr || p.vaddr == w.vaddr);
			dual++;
			continue;
		}
		err = go_binary__func(gb, names[i], &s);
		if (err)
			fail_msg("%s: %s: %d", name, names[i], err);
		err = go_binary__func_pclntab(gb, names[i], &p);
		/* generic instantiations share one "[...]" name in pclntab */
		if (strchr(names[i], '[') && err == -ENOTUNIQ) {
			generic++;
			continue;
		}
		if (err)
			fail_msg("%s: %s not in .gopclntab", name, names[i]);
		if (s.vaddr != p.vaddr)
			fail_msg("%s: %s symtab %#lx pclntab %#lx", name, names[i],
				 (unsigned long)s.vaddr, (unsigned long)p.vaddr);
		checked++;
		/* every body decodes to its end */
		err = go_binary__ret_offsets(gb, &p, rets, MAX_RETS);
		if (err < 0)
			fail_msg("%s: RETs of %s: %s", name, names[i], strerror(-err));
		nrets += err;
		noret += !err;
	}
	print_message("  %s: %zu functions agree (%zu RETs, %zu functions without RET), "
		      "%zu with two ABIs, %zu ambiguous generics\n",
		      name, checked, nrets, noret, dual, generic);
	assert_true(checked > 1000);
	free(names);
	elf_end(elf);
	close(fd);
	close_go(gb);
}

static void test_all_symtab(void **state)
{
	NEED_GO();
	check_all_symtab("webapp");
	check_all_symtab("webapp-arm64");
}

static void check_rets(const char *name, struct go_binary *gb, const struct go_func *fn,
		       uint64_t *offs, int n)
{
	char path[PATH_MAX + 64];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_true(n > 0);
	for (int i = 0; i < n; i++) {
		uint8_t insn[4];

		assert_true(offs[i] >= fn->file_off && offs[i] < fn->file_off + fn->size);
		assert_true(i == 0 || offs[i] > offs[i - 1]);
		assert_int_equal(pread(fd, insn, sizeof(insn), (off_t)offs[i]), sizeof(insn));
		if (go_binary__arch(gb) == GO_ARCH_AMD64)
			assert_int_equal(insn[0], 0xc3);
		else	/* arm64 RET Xn: 0xd65f0000 | n << 5, little-endian */
			assert_int_equal(((uint32_t)insn[3] << 24 | (uint32_t)insn[2] << 16 |
					  (uint32_t)insn[1] << 8 | insn[0]) & 0xfffffc1fU,
					 0xd65f0000U);
	}
	close(fd);
}

static void test_rets(void **state)
{
	static const char *const names[] = {
		"webapp", "webapp-stripped", "webapp-pie", "webapp-arm64"
	};
	uint64_t offs[4][MAX_RETS];
	int n[4], total = 0;

	NEED_GO();
	for (size_t i = 0; i < N(funcs); i++) {
		for (size_t b = 0; b < N(names); b++) {
			struct go_binary *gb = open_fixture(names[b]);
			struct go_func fn;

			assert_int_equal(go_binary__func(gb, funcs[i], &fn), 0);
			n[b] = go_binary__ret_offsets(gb, &fn, offs[b], MAX_RETS);
			if (n[b] < 0)
				fail_msg("%s in %s: %s", funcs[i], names[b], strerror(-n[b]));
			check_rets(names[b], gb, &fn, offs[b], n[b]);
			if (n[b] > 0)
				assert_int_equal(go_binary__ret_offsets(gb, &fn, offs[b], 0), -E2BIG);
			/* rerun: the E2BIG call above used no slots */
			n[b] = go_binary__ret_offsets(gb, &fn, offs[b], MAX_RETS);
			close_go(gb);
		}
		/* stripping changes nothing in .text */
		assert_int_equal(n[0], n[1]);
		assert_memory_equal(offs[0], offs[1], n[0] * sizeof(offs[0][0]));
		/* PIE is another link: the same function has the same number of RETs */
		assert_int_equal(n[0], n[2]);
		print_message("  %-40s %d RET (arm64: %d)\n", funcs[i], n[0], n[3]);
		total += n[0];
	}
	print_message("  %d RET sites in %zu functions\n", total, N(funcs));
}

static void test_fields(void **state)
{
	struct go_binary *gb, *gs;
	int64_t off;

	NEED_GO();
	gb = open_fixture("webapp");
	gs = open_fixture("webapp-stripped");
	for (size_t i = 0; i < N(fields); i++) {
		int64_t dw = -1, tab = -1, s = -1, any = -1;

		assert_int_equal(go_binary__field_offset_dwarf(gb, fields[i][0], fields[i][1], &dw),
				 0);
		assert_int_equal(go_binary__field_offset(gb, fields[i][0], fields[i][1], &any), 0);
		assert_int_equal(any, dw);
		print_message("  %s.%s = %ld\n", fields[i][0], fields[i][1], (long)dw);
		/* the table must hold this toolchain's layout, and match DWARF */
		assert_int_equal(go_binary__field_offset_builtin(gb, fields[i][0], fields[i][1],
								 &tab), 0);
		assert_int_equal(tab, dw);
		/* stripped: the table answers */
		assert_int_equal(go_binary__field_offset_dwarf(gs, fields[i][0], fields[i][1], &s),
				 -ENOENT);
		assert_int_equal(go_binary__field_offset(gs, fields[i][0], fields[i][1], &s), 0);
		assert_int_equal(s, dw);
	}
	/* DWARF describes runtime.g: a field it lacks is not guessed */
	assert_int_equal(go_binary__field_offset(gb, "runtime.g", "nosuchfield", &off), -ENOENT);
	assert_int_equal(go_binary__field_offset(gs, "runtime.g", "nosuchfield", &off), -ENOENT);
	assert_int_equal(go_binary__field_offset(gs, "main.nosuch", "x", &off), -ENOENT);
	close_go(gs);
	close_go(gb);
}

/* dir/name with its .go.buildinfo removed: objcopy (amd64), or by hand where
 * objcopy does not know the machine (arm64): bytes zeroed, header nulled. */
static void remove_buildinfo(const char *name, const char *out)
{
	char src[PATH_MAX + 64], dst[PATH_MAX + 64], cmd[3 * PATH_MAX];
	uint64_t off, size, shoff, flags, o, sz;
	const char *sn;
	uint32_t type, i;
	struct binary *b;
	uint8_t *zero;
	int fd;

	snprintf(src, sizeof(src), "%s/%s", dir, name);
	snprintf(dst, sizeof(dst), "%s/%s", dir, out);
	snprintf(cmd, sizeof(cmd), "objcopy --remove-section .go.buildinfo '%s' '%s' 2>/dev/null",
		 src, dst);
	if (!system(cmd))
		return;
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", src, dst);
	assert_int_equal(system(cmd), 0);
	fd = open(dst, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(binary__open_fd(dup(fd), NULL, &b), 0);
	assert_int_equal(binary__section(b, ".go.buildinfo", &off, NULL, &size), 0);
	for (i = 1; !binary__section_at(b, i, &sn, &type, &flags, &o, &sz); i++)
		if (!strcmp(sn, ".go.buildinfo"))
			break;
	assert_int_equal(pread(fd, &shoff, 8, 40), 8);
	zero = calloc(1, size + 64);
	assert_int_equal(pwrite(fd, zero, size, (off_t)off), (ssize_t)size);
	assert_int_equal(pwrite(fd, zero, 8, (off_t)(shoff + 64 * i)), 8);	/* name, type */
	free(zero);
	binary__free(b);
	close(fd);
}

/* Build info removed after the build (release post-processing): still Go, same version. */
static void check_no_buildinfo(const char *name, const char *want_version,
			       enum go_version_src want_src)
{
	char out[256];
	struct go_binary *gb, *ref;
	struct go_func f, r;

	snprintf(out, sizeof(out), "%s-nobuildinfo", name);
	remove_buildinfo(name, out);
	gb = open_fixture(out);
	ref = open_fixture(name);
	print_message("  %-24s version '%s' from source %d\n", out, go_binary__version_str(gb),
		      go_binary__version_src(gb));
	assert_string_equal(go_binary__version_str(gb), want_version);
	assert_int_equal(go_binary__version_src(gb), want_src);
	assert_true(go_binary__regabi(gb));
	assert_int_equal(go_binary__nfuncs(gb), go_binary__nfuncs(ref));
	for (size_t i = 0; i < N(funcs); i++) {
		assert_int_equal(go_binary__func(gb, funcs[i], &f), 0);
		assert_int_equal(go_binary__func(ref, funcs[i], &r), 0);
		assert_int_equal(f.vaddr, r.vaddr);
	}
	close_go(ref);
	close_go(gb);
}

static void test_no_buildinfo(void **state)
{
	NEED_GO();
	check_no_buildinfo("webapp-stripped", goversion, GO_VERSION_CODE);
	check_no_buildinfo("webapp-arm64", goversion, GO_VERSION_SYMBOL);
	check_no_buildinfo("webapp", goversion, GO_VERSION_SYMBOL);
}

/* The whole file dir/name, and its size */
static uint8_t *slurp(const char *name, size_t *size)
{
	char path[PATH_MAX + 64];
	struct stat st;
	uint8_t *buf;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0 && !fstat(fd, &st));
	*size = (size_t)st.st_size;
	buf = malloc(*size);
	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, *size, 0), (ssize_t)*size);
	close(fd);
	return buf;
}

static void spill(const char *name, const uint8_t *buf, size_t size)
{
	char path[PATH_MAX + 64];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, size), (ssize_t)size);
	close(fd);
}

/* Zero the Go string header {ptr, len} of runtime.buildVersion in the writable data. */
static int zero_version_header(struct go_binary *gb, uint8_t *img)
{
	struct binary *b = go_binary__binary(gb);
	uint64_t vaddr, off, filesz, hdr[2];
	size_t len = strlen(goversion);
	char text[64];
	uint32_t flags;
	int n = 0;

	for (int i = 0; !binary__segment(b, i, &vaddr, &off, &filesz, &flags); i++) {
		for (uint64_t p = 0; (flags & PF_W) && p + 16 <= filesz; p += 8) {
			memcpy(hdr, img + off + p, 16);
			if (hdr[1] != len || binary__read(b, hdr[0], text, len) ||
			    memcmp(text, goversion, len))
				continue;
			memset(img + off + p, 0, 16);
			n++;
		}
	}
	return n;
}

/*
 * The later fallbacks on a real binary without build info: runtime.schedinit
 * renamed in .gopclntab (the code reference is gone) leaves the data scan;
 * the version's string header zeroed leaves the "go1.N.P" text; without it
 * the version is unknown and the tables still usable.
 */
static void test_version_fallbacks(void **state)
{
	struct go_binary *gb;
	struct go_func fn;
	uint64_t off, size;
	int major, minor;
	uint8_t *img, *p;
	size_t n;

	NEED_GO();
	remove_buildinfo("webapp-stripped", "webapp-fallback");
	img = slurp("webapp-fallback", &n);
	gb = open_fixture("webapp-fallback");
	assert_int_equal(binary__section(go_binary__binary(gb), ".gopclntab", &off, NULL, &size),
			 0);
	p = memmem(img + off, size, "runtime.schedinit", 18);
	assert_non_null(p);
	p[16] = 'X';
	close_go(gb);
	spill("webapp-fallback", img, n);

	gb = open_fixture("webapp-fallback");
	assert_int_equal(go_binary__version_src(gb), GO_VERSION_DATA);
	assert_string_equal(go_binary__version_str(gb), goversion);
	assert_int_equal(zero_version_header(gb, img), 1);
	close_go(gb);
	spill("webapp-fallback", img, n);

	gb = open_fixture("webapp-fallback");
	assert_int_equal(go_binary__version_src(gb), GO_VERSION_PATTERN);
	assert_string_equal(go_binary__version_str(gb), goversion);
	close_go(gb);
	/* and without the text: unknown */
	for (p = img; (p = memmem(p, img + n - p, goversion, strlen(goversion))); )
		memset(p, 0, strlen(goversion));
	spill("webapp-fallback", img, n);

	gb = open_fixture("webapp-fallback");
	assert_int_equal(go_binary__version(gb, &major, &minor), -ENOENT);
	assert_int_equal(go_binary__version_src(gb), GO_VERSION_NONE);
	assert_string_equal(go_binary__version_str(gb), "");
	/* version unknown or not: the tables are usable, the caller decides */
	assert_true(go_binary__nfuncs(gb) > 1000);
	assert_int_equal(go_binary__func(gb, "net/http.(*conn).serve", &fn), 0);
	close_go(gb);
	free(img);
}

/*
 * Every Go toolchain installed as /usr/lib/go-1.N (Debian's golang-1.N-go;
 * fixtures built by `make fixtures` into build/fixtures/go/go1.N): version,
 * functions and RET sites, the built-in offset table against DWARF, and the
 * stripped binary without build info.
 */
/* The render probe sites (goprobes.c render_exits()) on text/template's execute: the
 * entry and the exits (the deferred closure's CALL errRecover, the CALLs of
 * runtime.deferreturn) emulated, its RETs not; text Execute, which it serves, is inlined. */
static void check_render_sites(struct go_binary *gs, int minor)
{
	static const char *const closures[] = { "text/template.(*Template).execute.deferwrap1",
						"text/template.(*Template).execute.func1" };
	uint64_t rets[MAX_RETS], calls[4], off, f_exec, f_clo;
	struct go_func exec, dret, rec, clo;
	int n, k, c = -ENOENT;

	assert_int_equal(go_binary__func(gs, "text/template.(*Template).execute", &exec), 0);
	assert_int_equal(go_binary__func(gs, "runtime.deferreturn", &dret), 0);
	assert_int_equal(go_binary__func(gs, "text/template.errRecover", &rec), 0);
	for (size_t i = 0; i < 2 && c; i++)
		c = go_binary__func(gs, closures[i], &clo);
	if (c)
		fail_msg("go1.%d: no deferred closure of execute", minor);
	assert_int_equal(go_binary__body_offset(gs, &exec, &off), 0);
	assert_true(go_binary__site_emulated(gs, off));		/* the stack check's Jcc */
	assert_false(go_binary__site_emulated(gs, exec.file_off));	/* its CMP */
	n = go_binary__ret_offsets(gs, &exec, rets, MAX_RETS);
	assert_true(n >= 1);
	for (int i = 0; i < n; i++)
		assert_false(go_binary__site_emulated(gs, rets[i]));
	assert_int_equal(go_binary__call_sites(gs, &clo, &rec, calls, 4), 1);
	assert_true(go_binary__site_emulated(gs, calls[0]));
	k = go_binary__call_sites(gs, &exec, &dret, calls, 4);
	assert_true(k >= 1);
	for (int i = 0; i < k; i++)
		assert_true(go_binary__site_emulated(gs, calls[i]));
	assert_int_equal(go_binary__frame_size(gs, &exec, &f_exec), 0);
	assert_int_equal(go_binary__frame_size(gs, &clo, &f_clo), 0);
	assert_true(f_exec % 8 == 0 && f_clo % 8 == 0 && f_exec > 0 && f_exec < 4096);
}

static int tls_noret(struct go_binary *gs, uint64_t *noret)
{
	static const char *const names[] = { "runtime.panicSliceB", "runtime.panicIndex",
					     "runtime.panicSliceAlen", "runtime.panicSliceAcap",
					     "runtime.gopanic", "runtime.morestack_noctxt" };
	struct go_func f;
	int nn = 0;

	for (size_t i = 0; i < N(names); i++)
		if (!go_binary__func(gs, names[i], &f))
			noret[nn++] = f.vaddr;
	return nn;
}

/* crypto/tls.(*Conn).Read's exits (goprobes.c tls_read_exits()): one emulated CALL
 * runtime.memmove, behind which only the normal exit and the alert check's RET are
 * (bounds-check panics do not come back); the TEST RAX, RAX; Jcc after each CALL
 * readRecordOrCCS, the first one's error edge alone reaching its RET (net/http's
 * background read); the other errors' RETs keep their probes. */
static void check_tls_read_sites(struct go_binary *gs, int minor)
{
	uint64_t rets[MAX_RETS], kept[MAX_RETS], noret[6];
	struct go_cut cuts[GO_MAX_CUTS] = {};
	struct go_func fn, mm, rr;
	int n, m, k, nn = tls_noret(gs, noret);

	assert_int_equal(go_binary__func(gs, "crypto/tls.(*Conn).Read", &fn), 0);
	assert_int_equal(go_binary__func(gs, "runtime.memmove", &mm), 0);
	assert_int_equal(go_binary__func(gs, "crypto/tls.(*Conn).readRecordOrCCS", &rr), 0);
	assert_int_equal(go_binary__call_sites(gs, &fn, &mm, &cuts[0].off, 1), 1);
	assert_true(go_binary__site_emulated(gs, cuts[0].off));
	cuts[0].edge = GO_CUT_ALL;
	cuts[0].claims = true;	/* the path around it (copy of 0 bytes) is not taken */
	k = go_binary__err_tests(gs, &fn, &rr, cuts + 1, GO_MAX_CUTS - 1);
	if (k != 2)
		fail_msg("go1.%d: %d error tests after Read's 2 CALLs readRecordOrCCS", minor, k);
	for (int i = 1; i <= k; i++)
		assert_true(go_binary__site_emulated(gs, cuts[i].off));
	n = go_binary__ret_offsets(gs, &fn, rets, MAX_RETS);
	/* the copy alone, as before: the loop's error exit keeps its RET */
	m = go_binary__rets_before_cuts(gs, &fn, cuts, 1, noret, nn, kept, MAX_RETS);
	if (m < 3 || cuts[0].behind < 1 || m + cuts[0].behind != n ||
	    cuts[0].first_behind < cuts[0].off)
		fail_msg("go1.%d: Read has %d RETs, %d kept past its copy, %d behind", minor, n, m,
			 cuts[0].behind);
	/* with the error tests: one RET fewer, behind the loop's (the first) test */
	assert_int_equal(go_binary__rets_before_cuts(gs, &fn, cuts, 1 + k, noret, nn, kept,
						     MAX_RETS), m - 1);
	assert_true(cuts[0].behind >= 1 && cuts[1].behind == 1 && cuts[1].off < cuts[0].off);
	assert_true(cuts[2].off > cuts[0].off);	/* the alert check's, behind the copy */
	for (int i = 0; i < m - 1; i++)
		assert_false(go_binary__site_emulated(gs, kept[i]));
	/* not an instruction of Read; an edge cut that is not a Jcc */
	cuts[0].off++;
	assert_int_equal(go_binary__rets_before_cuts(gs, &fn, cuts, 1, noret, nn, kept, MAX_RETS),
			 -ENOENT);
	cuts[0].off--;
	cuts[0].edge = GO_CUT_TAKEN;
	assert_int_equal(go_binary__rets_before_cuts(gs, &fn, cuts, 1, noret, nn, kept, MAX_RETS),
			 -ENOENT);
}

/* crypto/tls.(*Conn).Write's exit (goprobes.c tls_write_exits()): the first emulated
 * site after its last CALL writeRecordLocked, RBX (the error) untouched, which every
 * successful Write passes: its normal RET is behind it, the early errors' are not. */
static void check_tls_write_sites(struct go_binary *gs, int minor)
{
	uint64_t rets[MAX_RETS], kept[MAX_RETS], calls[4], call, noret[6];
	struct go_cut cut = { .edge = GO_CUT_ALL };
	struct go_func fn, wr;
	int n, m, nn = tls_noret(gs, noret);

	assert_int_equal(go_binary__func(gs, "crypto/tls.(*Conn).Write", &fn), 0);
	assert_int_equal(go_binary__func(gs, "crypto/tls.(*Conn).writeRecordLocked", &wr), 0);
	/* two: TLS 1.0's first byte, then the data (the last, by flow not by address) */
	assert_int_equal(go_binary__call_sites(gs, &fn, &wr, calls, 4), 2);
	assert_int_equal(go_binary__last_call(gs, &fn, &wr, noret, nn, &call), 0);
	assert_true(call == calls[0] || call == calls[1]);
	assert_int_equal(go_binary__site_after_call(gs, &fn, call, "rbx", &cut.off), 0);
	assert_true(cut.off > call && cut.off < call + 64);
	assert_true(go_binary__site_emulated(gs, cut.off));
	n = go_binary__ret_offsets(gs, &fn, rets, MAX_RETS);
	m = go_binary__rets_before_cuts(gs, &fn, &cut, 1, noret, nn, kept, MAX_RETS);
	if (m < 1 || cut.behind < 1 || m + cut.behind != n)
		fail_msg("go1.%d: Write has %d RETs, %d kept, %d behind its exit", minor, n, m,
			 cut.behind);
	print_message("  go1.%d: Write: %d of %d RETs behind its exit\n", minor, cut.behind, n);
	/* not an instruction of Write */
	assert_int_equal(go_binary__site_after_call(gs, &fn, call + 1, "rbx", &kept[0]),
			 -ENOENT);
}

/* What a release newer than the table gets (goprobes.c go_proc_of()): runtime.g's goid
 * and parentGoid from newproc1's code, stripped, against DWARF. */
static void check_g_from_code(struct go_binary *gb, struct go_binary *gs, int minor)
{
	int64_t goid = -1, parent = -1, want_goid, want_parent;
	int err;

	assert_int_equal(go_binary__field_offset_dwarf(gb, "runtime.g", "goid", &want_goid), 0);
	assert_int_equal(go_binary__field_offset_dwarf(gb, "runtime.g", "parentGoid",
						       &want_parent), 0);
	err = go_binary__g_offsets_from_code(gs, &goid, &parent);
	if (err || goid != want_goid || parent != want_parent)
		fail_msg("go1.%d: runtime.g from newproc1's code: %s, goid %lld parentGoid %lld, "
			 "DWARF %lld %lld", minor, err ? strerror(-err) : "ok", (long long)goid,
			 (long long)parent, (long long)want_goid, (long long)want_parent);
}

static void check_toolchain(int minor)
{
	char want[64], *saved = strdup(dir);
	struct go_binary *gb, *gs;
	uint64_t rets[MAX_RETS];
	struct go_func fn;
	int n, total = 0;

	snprintf(dir, sizeof(dir), "%s/go1.%d", saved, minor);
	gb = open_fixture("webapp");
	gs = open_fixture("webapp-stripped");
	snprintf(want, sizeof(want), "%s", go_binary__version_str(gb));
	assert_int_equal(strncmp(want, "go1.", 4), 0);
	assert_int_equal(atoi(want + 4), minor);
	for (size_t i = 0; i < N(funcs); i++) {
		if (go_binary__func(gs, funcs[i], &fn))
			fail_msg("go1.%d: %s not found in webapp-stripped", minor, funcs[i]);
		n = go_binary__ret_offsets(gs, &fn, rets, MAX_RETS);
		if (n < 0)
			fail_msg("go1.%d %s: %s", minor, funcs[i], strerror(-n));
		check_rets("webapp-stripped", gs, &fn, rets, n);
		total += n;
	}
	for (size_t i = 0; i < N(fields); i++)
		check_field(gb, gs, minor, fields[i][0], fields[i][1]);
	for (size_t i = 0; i < 4; i++)
		check_field(gb, gs, minor, go_h2_handler_fields[minor >= 27][i][0],
			    go_h2_handler_fields[minor >= 27][i][1]);
	check_render_sites(gs, minor);
	check_tls_read_sites(gs, minor);
	check_tls_write_sites(gs, minor);
	if (minor >= 21) {	/* runtime.g.parentGoid: ancestry without newproc1 probes */
		check_field(gb, gs, minor, "runtime.g", "parentGoid");
		check_g_from_code(gb, gs, minor);
	}
	print_message("  %s: %d functions, %d RET sites, %zu offsets agree with DWARF\n", want,
		      go_binary__nfuncs(gs), total, N(fields) + 4 + (minor >= 21));
	close_go(gs);
	close_go(gb);
	check_no_buildinfo("webapp-stripped", want, GO_VERSION_CODE);
	snprintf(dir, sizeof(dir), "%s", saved);
	free(saved);
}

static void test_toolchains(void **state)
{
	char path[PATH_MAX + 64];
	int seen = 0;

	if (!dir[0])
		skip();
	for (int minor = 17; minor < 40; minor++) {
		snprintf(path, sizeof(path), "/usr/lib/go-1.%d/bin/go", minor);
		if (access(path, X_OK))
			continue;
		snprintf(path, sizeof(path), "%s/go1.%d/webapp-stripped", dir, minor);
		if (access(path, R_OK)) {
			print_message("  go1.%d installed, fixtures not built (make fixtures)\n",
				      minor);
			continue;
		}
		check_toolchain(minor);
		seen++;
	}
	if (!seen)
		skip();
}

/* The table's version boundaries (no toolchain needed). */
static void test_offsets_table(void **state)
{
	static const struct {
		int minor;
		int ret;
		int64_t off;
	} goid[] = {
		{ 16, -ENOENT, 0 }, { 17, 0, 152 }, { 19, 0, 152 }, { 22, 0, 152 },
		{ 23, 0, 160 }, { 24, 0, 160 }, { 25, 0, 152 }, { 26, 0, 152 }, { 27, 0, 152 },
		{ 28, -ENOENT, 0 },
	};
	int64_t off;

	for (size_t i = 0; i < N(goid); i++) {
		off = -1;
		assert_int_equal(go_offsets__lookup(1, goid[i].minor, "runtime.g", "goid", &off),
				 goid[i].ret);
		if (!goid[i].ret)
			assert_int_equal(off, goid[i].off);
	}
	for (int minor = 17; minor <= 27; minor++) {
		for (size_t i = 0; i < N(fields); i++)
			assert_int_equal(go_offsets__lookup(1, minor, fields[i][0], fields[i][1],
							    &off), 0);
		/* the h2 server's: bundled from 1.19 to 1.26, internal from 1.27 */
		for (size_t s = 0; s < 2; s++)
			for (size_t i = 0; i < 4; i++)
				assert_int_equal(go_offsets__lookup(1, minor, go_h2_handler_fields[s][i][0],
								    go_h2_handler_fields[s][i][1], &off),
						 (s ? minor >= 27 : minor >= 19 && minor <= 26) ?
						 0 : -ENOENT);
	}
	assert_int_equal(go_offsets__lookup(2, 0, "runtime.g", "goid", &off), -ENOENT);
	assert_int_equal(go_offsets__lookup(1, 19, "runtime.g", "parentGoid", &off), -ENOENT);
	assert_int_equal(go_offsets__lookup(1, 21, "runtime.g", "parentGoid", &off), 0);
	assert_int_equal(off, 272);
	assert_int_equal(go_offsets__lookup(1, 23, "runtime.g", "parentGoid", &off), 0);
	assert_int_equal(off, 280);
	assert_int_equal(go_offsets__lookup(1, 25, "runtime.g", "parentGoid", &off), 0);
	assert_int_equal(off, 272);
	assert_int_equal(go_offsets__lookup(1, 26, "runtime.g", "parentGoid", &off), 0);
	assert_int_equal(off, 280);
	assert_int_equal(go_offsets__lookup(1, 19, "runtime.g", "nosuch", &off), -ENOENT);
}

static void write_synth(const char *path, const struct synth *sy)
{
	uint8_t img[SY_SIZE] = { 0 };
	FILE *f;

	synth_image(img, sy);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(img, 1, sizeof(img), f), sizeof(img));
	fclose(f);
}

static struct go_binary *open_synth(const struct synth *sy)
{
	char path[PATH_MAX + 64];
	struct go_binary *gb;

	int err;

	snprintf(path, sizeof(path), "%s/synthetic-go", dir);
	write_synth(path, sy);
	gb = open_go(path, &err);
	if (!gb)
		fail_msg("synthetic %s: %s", sy->version, strerror(-err));
	return gb;
}

static void check_synth_funcs(struct go_binary *gb, int want_rets_two)
{
	struct go_func one, two;
	uint64_t offs[8];

	assert_int_equal(go_binary__nfuncs(gb), 2);
	assert_int_equal(go_binary__func(gb, "main.one", &one), 0);
	assert_int_equal(one.src, GO_FUNC_PCLNTAB);
	assert_int_equal(one.vaddr, SY_BASE + SY_TEXT);
	assert_int_equal(one.size, 0x10);
	assert_int_equal(one.file_off, SY_TEXT);
	assert_int_equal(go_binary__func(gb, "main.two", &two), 0);
	assert_int_equal(two.vaddr, SY_BASE + SY_TEXT + 0x10);
	assert_int_equal(two.size, 0x30);
	assert_int_equal(two.file_off, SY_TEXT + 0x10);
	assert_int_equal(go_binary__func(gb, "main.on", &one), -ENOENT);
	assert_int_equal(go_binary__func(gb, "main.three", &one), -ENOENT);

	assert_int_equal(go_binary__ret_offsets(gb, &two, offs, 8), want_rets_two);
	assert_int_equal(go_binary__ret_offsets(gb, &two, offs, 1), -E2BIG);
}

static void test_synthetic_formats(void **state)
{
	struct go_binary *gb;
	struct go_func fn;
	uint64_t offs[8];
	int64_t off;
	int major, minor;

	if (!dir[0])
		skip();
	mkdir_p_dir();

	/* Go 1.16: pclntab 0xfffffffa, version by pointer, stack ABI */
	gb = open_synth(&(struct synth){ 0xfffffffa, false, "go1.16.15", EM_X86_64, code_amd64 });
	assert_int_equal(go_binary__version(gb, &major, &minor), 0);
	assert_int_equal(minor, 16);
	assert_string_equal(go_binary__version_str(gb), "go1.16.15");
	assert_false(go_binary__regabi(gb));
	assert_true(go_binary__is_stripped(gb));
	assert_false(go_binary__has_dwarf(gb));
	check_synth_funcs(gb, 2);
	assert_int_equal(go_binary__ret_offsets(gb, &(struct go_func){
		.vaddr = SY_BASE + SY_TEXT + 0x10, .size = 0x30, .file_off = SY_TEXT + 0x10 },
		offs, 8), 2);
	assert_int_equal(offs[0], SY_TEXT + 0x16);
	assert_int_equal(offs[1], SY_TEXT + 0x1a);
	assert_int_equal(go_binary__field_offset(gb, "runtime.g", "goid", &off), -ENOENT);
	close_go(gb);

	/* Go 1.17: same pclntab, register ABI */
	gb = open_synth(&(struct synth){ 0xfffffffa, false, "go1.17.13", EM_X86_64, code_amd64 });
	assert_true(go_binary__regabi(gb));
	check_synth_funcs(gb, 2);
	assert_int_equal(go_binary__field_offset(gb, "runtime.g", "goid", &off), 0);
	assert_int_equal(off, 152);
	close_go(gb);

	/* Go 1.18: 0xfffffff0, inline version */
	gb = open_synth(&(struct synth){ 0xfffffff0, true, "go1.18.10", EM_X86_64, code_amd64 });
	assert_int_equal(go_binary__version(gb, &major, &minor), 0);
	assert_int_equal(minor, 18);
	check_synth_funcs(gb, 2);
	close_go(gb);

	/* Go 1.23: 0xfffffff1, textStart left to a relocation: .text is the base */
	gb = open_synth(&(struct synth){ 0xfffffff1, true, "go1.23.4 X:nocoverageredesign",
					 EM_X86_64, code_amd64, .zero_text_start = true });
	assert_int_equal(go_binary__version(gb, &major, &minor), 0);
	assert_int_equal(minor, 23);
	check_synth_funcs(gb, 2);
	assert_int_equal(go_binary__field_offset(gb, "runtime.g", "goid", &off), 0);
	assert_int_equal(off, 160);
	close_go(gb);

	/* arm64, Go 1.25: ret and ret x1 found, the literal word skipped */
	gb = open_synth(&(struct synth){ 0xfffffff1, true, "go1.25.3", EM_AARCH64, code_arm64 });
	assert_int_equal(go_binary__arch(gb), GO_ARCH_ARM64);
	assert_true(go_binary__regabi(gb));
	check_synth_funcs(gb, 2);
	assert_int_equal(go_binary__func(gb, "main.two", &fn), 0);
	assert_int_equal(go_binary__ret_offsets(gb, &fn, offs, 8), 2);
	assert_int_equal(offs[0], SY_TEXT + 0x14);
	assert_int_equal(offs[1], SY_TEXT + 0x1c);
	assert_int_equal(go_binary__field_offset(gb, "runtime.g", "goid", &off), 0);
	assert_int_equal(off, 152);
	close_go(gb);

	/* a newer Go than the table knows: no guessing */
	gb = open_synth(&(struct synth){ 0xfffffff1, true, "go1.28.1", EM_X86_64, code_amd64 });
	assert_int_equal(go_binary__field_offset(gb, "runtime.g", "goid", &off), -ENOENT);
	close_go(gb);

	/* undecodable body */
	gb = open_synth(&(struct synth){ 0xfffffff1, true, "go1.21.0", EM_X86_64, code_bad });
	assert_int_equal(go_binary__func(gb, "main.two", &fn), 0);
	assert_int_equal(go_binary__ret_offsets(gb, &fn, offs, 8), -EILSEQ);
	close_go(gb);

	/* no build info: still Go by its pclntab, version unknown */
	gb = open_synth(&(struct synth){ 0xfffffff1, true, "go1.21.0", EM_X86_64, code_amd64,
					 .no_buildinfo = true });
	assert_int_equal(go_binary__version(gb, &major, &minor), -ENOENT);
	assert_string_equal(go_binary__version_str(gb), "");
	check_synth_funcs(gb, 2);
	assert_int_equal(go_binary__field_offset(gb, "runtime.g", "goid", &off), -ENOENT);
	close_go(gb);

	/* corrupt pclntab: functions unknown, build info still says Go */
	gb = open_synth(&(struct synth){ 0xfffffff1, true, "go1.21.0", EM_X86_64, code_amd64,
					 .nfunc = 1ULL << 40 });
	assert_int_equal(go_binary__nfuncs(gb), -ENOENT);
	assert_int_equal(go_binary__func(gb, "main.one", &fn), -EINVAL);
	close_go(gb);

	/* Go 1.2-1.15 table: recognised as Go by build info, functions unsupported */
	gb = open_synth(&(struct synth){ 0xfffffffb, false, "go1.15.15", EM_X86_64, code_amd64 });
	assert_int_equal(go_binary__version(gb, &major, &minor), 0);
	assert_int_equal(minor, 15);
	assert_int_equal(go_binary__func(gb, "main.one", &fn), -ENOTSUP);
	close_go(gb);

	/* neither: not Go */
	{
		char path[PATH_MAX + 64];

		snprintf(path, sizeof(path), "%s/synthetic-go", dir);
		write_synth(path, &(struct synth){ 0x12345678, true, "go1.21.0", EM_X86_64,
						   code_amd64, .no_buildinfo = true });
		int err;

		assert_null(open_go(path, &err));
		assert_int_equal(err, -ENOEXEC);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_not_go),
		cmocka_unit_test(test_offsets_table),
		cmocka_unit_test(test_synthetic_formats),
		cmocka_unit_test(test_detect),
		cmocka_unit_test(test_funcs),
		cmocka_unit_test(test_all_symtab),
		cmocka_unit_test(test_rets),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_no_buildinfo),
		cmocka_unit_test(test_version_fallbacks),
		cmocka_unit_test(test_toolchains),
	};

	return cmocka_run_group_tests(tests, setup_fixtures, NULL);
}
