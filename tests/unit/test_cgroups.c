// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * cgroups: ids to containers through a walk of a hierarchy (a directory tree shaped
 * like one, no root needed), the cache (hits, unknown ids remembered then retried,
 * eviction when full) and -C's name -> ids with the cgroups below a match.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "assemble/cgroups.h"

#define ID  "5e0c2b7d8f9a1b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4"
#define ID2 "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"
#define UID "11112222-3333-4444-5555-666677778888"

static char root[64];

static const char *const dirs[] = {
	"/system.slice", "/system.slice/docker-" ID ".scope",
	"/system.slice/docker-" ID ".scope/inner", "/kubepods", "/kubepods/burstable",
	"/kubepods/burstable/pod" UID, "/kubepods/burstable/pod" UID "/" ID2,
};
#define NDIRS (sizeof(dirs) / sizeof(dirs[0]))

static uint64_t id_of(const char *rel)
{
	char p[512];

	snprintf(p, sizeof(p), "%s%s", root, rel);
	return cgroups__dir_id(AT_FDCWD, p);
}

static int setup(void **state)
{
	char p[512];

	snprintf(root, sizeof(root), "/tmp/pt-cgroups-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	for (size_t i = 0; i < NDIRS; i++) {
		snprintf(p, sizeof(p), "%s%s", root, dirs[i]);
		if (mkdir(p, 0755))
			return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	char p[512];

	for (size_t i = NDIRS; i-- > 0;) {
		snprintf(p, sizeof(p), "%s%s", root, dirs[i]);
		rmdir(p);
	}
	rmdir(root);
	return 0;
}

static void test_walk_and_cache(void **state)
{
	struct cgroups *cg;
	struct cgroups_stats st;
	struct container c = { .cgroup_id = id_of(dirs[1]) };

	assert_int_equal(cgroups__new(root, &cg), 0);
	assert_true(c.cgroup_id != 0);
	cgroups__fill(cg, 0, 1, &c);	/* no pid: found by walking */
	assert_string_equal(c.cgroup, dirs[1]);
	assert_int_equal(c.runtime, CT_RT_DOCKER);
	assert_string_equal(c.id, ID);
	memset(&c, 0, sizeof(c));
	c.cgroup_id = id_of(dirs[6]);
	cgroups__fill(cg, 0, 1, &c);
	assert_int_equal(c.runtime, CT_RT_CRI);
	assert_string_equal(c.pod_uid, UID);
	c.cgroup_id = id_of(dirs[1]);
	cgroups__fill(cg, 0, 2, &c);	/* cached */
	assert_string_equal(c.id, ID);
	cgroups__stats(cg, &st);
	assert_int_equal(st.from_walk, 2);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.misses, 2);
	assert_int_equal(st.cached, 2);
	cgroups__free(cg);
}

static void test_unknown_remembered_then_retried(void **state)
{
	struct cgroups *cg;
	struct cgroups_stats st;
	struct container c = { .cgroup_id = 0xfeedfacecafeULL };

	assert_int_equal(cgroups__new(root, &cg), 0);
	cgroups__fill(cg, 0, 1000, &c);
	assert_string_equal(c.cgroup, "");
	assert_int_equal(c.runtime, CT_RT_NONE);
	assert_true(c.cgroup_id == 0xfeedfacecafeULL);
	cgroups__fill(cg, 0, 1000 + CG_NEG_NS - 1, &c);	/* not walked again yet */
	cgroups__fill(cg, 0, 1000 + CG_NEG_NS, &c);	/* retried */
	cgroups__stats(cg, &st);
	assert_int_equal(st.unresolved, 2);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.walks, 2);
	cgroups__free(cg);
}

static void test_cache_bounded(void **state)
{
	struct cgroups *cg;
	struct cgroups_stats st;

	assert_int_equal(cgroups__new(root, &cg), 0);
	for (uint64_t i = 0; i < CG_CACHE_MAX + 10; i++) {
		struct container c = { .cgroup_id = (1ULL << 40) + i };

		cgroups__fill(cg, 0, 1, &c);
	}
	cgroups__stats(cg, &st);
	assert_int_equal(st.cached, CG_CACHE_MAX);
	assert_int_equal(st.evicted, 10);
	cgroups__free(cg);
}

struct ids {
	uint64_t v[16];
	int n;
};

static int collect(void *ctx, uint64_t id)
{
	struct ids *ids = ctx;

	if (ids->n < 16)
		ids->v[ids->n++] = id;
	return 0;
}

static void test_match_takes_subtree(void **state)
{
	struct cgroups *cg;
	struct ids ids = {};

	assert_int_equal(cgroups__new(root, &cg), 0);
	assert_int_equal(cgroups__match(cg, "5e0c2b7d8f9a", collect, &ids), 2);
	assert_true((ids.v[0] == id_of(dirs[1]) && ids.v[1] == id_of(dirs[2])) ||
		    (ids.v[1] == id_of(dirs[1]) && ids.v[0] == id_of(dirs[2])));
	ids.n = 0;
	assert_int_equal(cgroups__match(cg, ID2, collect, &ids), 1);
	assert_true(ids.v[0] == id_of(dirs[6]));
	assert_int_equal(cgroups__match(cg, "abcdef", collect, &ids), 0);
	/* several names, one walk: what each matched (subtrees not counted again) */
	{
		const char *names[] = { "abcdef", ID2, "5e0c" };
		uint32_t found_by[3] = {};

		ids.n = 0;
		assert_int_equal(cgroups__match_any(cg, names, 3, found_by, collect, &ids), 3);
		assert_int_equal(found_by[0], 0);
		assert_int_equal(found_by[1], 1);
		assert_int_equal(found_by[2], 1);
	}
	cgroups__free(cg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_walk_and_cache),
		cmocka_unit_test(test_unknown_remembered_then_retried),
		cmocka_unit_test(test_cache_bounded),
		cmocka_unit_test(test_match_takes_subtree),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
