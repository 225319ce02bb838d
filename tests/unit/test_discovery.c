// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * seen_files (bounded, evicting, probed entries kept, capped and counted) and
 * discovery (maps of this very process, safe opens that refuse FIFOs and
 * symlinks to them without blocking, exe key).
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
#include <unistd.h>
#include <cmocka.h>
#include "attach/discovery.h"
#include "attach/seen_files.h"

static char tmpdir[] = "/tmp/pt-unit-discovery-XXXXXX";

static struct file_key key(uint64_t dev, uint64_t ino)
{
	return (struct file_key){ dev, ino };
}

static void test_seen_evicts_lru_unprobed(void **state)
{
	struct seen_files *sf = seen_files__new(4, 2);
	struct seen_counts c;
	struct seen_file *f;

	assert_non_null(sf);
	for (int i = 1; i <= 4; i++) {
		struct file_key k = key(1, i);

		assert_non_null(seen_files__add(sf, &k, &k));
	}
	/* 1 has probes, 2 is used again: 3 is the least recently used without probes */
	f = seen_files__find(sf, &(struct file_key){ 1, 1 });
	assert_true(seen_files__may_probe(sf));
	seen_files__set_state(sf, f, SEEN_PROBED);
	assert_non_null(seen_files__find(sf, &(struct file_key){ 1, 2 }));
	f = seen_files__add(sf, &(struct file_key){ 1, 5 }, &(struct file_key){ 1, 5 });
	assert_non_null(f);
	assert_null(seen_files__find(sf, &(struct file_key){ 1, 3 }));
	assert_non_null(seen_files__find(sf, &(struct file_key){ 1, 1 }));
	seen_files__counts(sf, &c);
	assert_int_equal(c.entries, 4);
	assert_int_equal(c.evicted, 1);
	assert_int_equal(c.probed, 1);
	seen_files__free(sf);
}

static void test_seen_caps_probed(void **state)
{
	struct seen_files *sf = seen_files__new(8, 2);
	struct seen_counts c;

	for (int i = 1; i <= 3; i++) {
		struct file_key k = key(2, i);
		struct seen_file *f = seen_files__add(sf, &k, &k);

		if (seen_files__may_probe(sf))
			seen_files__set_state(sf, f, SEEN_PROBED);
	}
	seen_files__counts(sf, &c);
	assert_int_equal(c.probed, 2);
	assert_int_equal(c.refused, 1);
	/* full of probed entries but for one: adds evict only that one */
	for (int i = 4; i <= 20; i++)
		assert_non_null(seen_files__add(sf, &(struct file_key){ 2, i },
						&(struct file_key){ 2, i }));
	seen_files__counts(sf, &c);
	assert_int_equal(c.probed, 2);
	assert_int_equal(c.evicted, 20 - 8);
	seen_files__free(sf);
}

static void test_seen_kernel_identity(void **state)
{
	/* two overlay mounts: two device numbers, one kernel inode */
	struct file_key a = key(40, 7), b = key(41, 7), kid = key(0, 0xabcdef);
	struct seen_files *sf = seen_files__new(8, 8);
	struct seen_file *f = seen_files__add(sf, &a, &kid);

	assert_null(seen_files__find_probed(sf, &kid));
	seen_files__set_state(sf, f, SEEN_PROBED);
	assert_ptr_equal(seen_files__find_probed(sf, &kid), f);
	assert_null(seen_files__find(sf, &b));
	seen_files__free(sf);
}

struct found {
	bool libc, exe;
	struct proc_map libc_map;
};

static int on_map(pid_t pid, const struct proc_map *m, void *ctx)
{
	struct found *f = ctx;

	if (discovery__interesting_lib(m->path) && strstr(m->path, "libc")) {
		f->libc = true;
		f->libc_map = *m;
	}
	return 0;
}

static void test_maps_of_self(void **state)
{
	struct found f = {};
	struct proc_file pf;
	struct file_key exe;
	struct stat st;
	int err;

	assert_int_equal(discovery__maps(getpid(), on_map, &f), 0);
	assert_true(f.libc);
	assert_false(f.libc_map.deleted);
	assert_int_equal(stat(f.libc_map.path, &st), 0);
	assert_int_equal(st.st_ino, f.libc_map.key.ino);
	err = discovery__open_map(getpid(), &f.libc_map, &pf);
	if (err == -EPERM)
		skip();	/* map_files needs CAP_SYS_ADMIN */
	assert_int_equal(err, 0);
	assert_int_equal(pf.key.ino, st.st_ino);
	assert_int_equal(pf.key.dev, st.st_dev);
	assert_int_equal(fcntl(pf.fd, F_GETFL) & (O_ACCMODE | O_NONBLOCK), O_RDONLY | O_NONBLOCK);
	close(pf.fd);
	assert_int_equal(discovery__exe_key(getpid(), &exe), 0);
	assert_int_equal(discovery__open_exe(getpid(), &pf), 0);
	assert_int_equal(pf.key.ino, exe.ino);
	close(pf.fd);
}

/* A FIFO, and a symlink to it: refused at once (an open would block forever). */
static void test_open_refuses_fifo(void **state)
{
	char path[PATH_MAX];
	struct proc_file pf;
	int dfd = open(tmpdir, O_PATH | O_DIRECTORY | O_CLOEXEC);

	assert_true(dfd >= 0);
	snprintf(path, sizeof(path), "%s/libssl.so.3 (deleted)", tmpdir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(symlinkat("libssl.so.3 (deleted)", dfd, "libssl.so.9"), 0);
	assert_int_equal(discovery__open_at(dfd, "libssl.so.3 (deleted)", &pf), -EINVAL);
	assert_int_equal(discovery__open_at(dfd, "libssl.so.9", &pf), -EINVAL);
	close(dfd);
}

static void test_interesting(void **state)
{
	assert_true(discovery__interesting_lib("/usr/lib/x86_64-linux-gnu/libssl.so.3"));
	assert_true(discovery__interesting_lib("/lib/ld-musl-x86_64.so.1"));
	assert_true(discovery__interesting_lib("libgnutls.so.30"));
	assert_false(discovery__interesting_lib("/usr/lib/libsslx.so"));
	assert_false(discovery__interesting_lib("/usr/bin/curl"));
}

static int make_tmpdir(void **state)
{
	return mkdtemp(tmpdir) ? 0 : -1;
}

/* What test_open_refuses_fifo left there, then the directory. */
static int remove_tmpdir(void **state)
{
	int dfd = open(tmpdir, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (dfd >= 0) {
		unlinkat(dfd, "libssl.so.9", 0);
		unlinkat(dfd, "libssl.so.3 (deleted)", 0);
		close(dfd);
	}
	return rmdir(tmpdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seen_evicts_lru_unprobed),
		cmocka_unit_test(test_seen_caps_probed),
		cmocka_unit_test(test_seen_kernel_identity),
		cmocka_unit_test(test_maps_of_self),
		cmocka_unit_test(test_open_refuses_fifo),
		cmocka_unit_test(test_interesting),
	};

	return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
