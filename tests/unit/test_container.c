// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* container: runtime, id and pod UID from cgroup v2 paths shaped like each runtime's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "assemble/container.h"

#define ID  "3f2a9c0d41e5b6a7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5"
#define UID "0b9a6c4e-1d2f-4a3b-9c8d-7e6f5a4b3c2d"
#define UID_ "0b9a6c4e_1d2f_4a3b_9c8d_7e6f5a4b3c2d"

static struct container parse(const char *path)
{
	struct container c;

	memset(&c, 0x5a, sizeof(c));	/* every field must be written */
	container_parse(path, strlen(path), &c);
	assert_string_equal(c.cgroup, path);
	return c;
}

static void expect(const char *path, enum ct_runtime rt, const char *id, const char *pod)
{
	struct container c = parse(path);

	assert_int_equal(c.runtime, rt);
	assert_string_equal(c.id, id);
	assert_string_equal(c.pod_uid, pod);
	if (rt != CT_RT_SYSTEMD)
		assert_string_equal(c.unit, "");
}

static void test_docker(void **state)
{
	expect("/system.slice/docker-" ID ".scope", CT_RT_DOCKER, ID, "");
	expect("/docker/" ID, CT_RT_DOCKER, ID, "");
	/* a container running systemd: its services are below the scope */
	expect("/system.slice/docker-" ID ".scope/system.slice/nginx.service", CT_RT_DOCKER, ID,
	       "");
}

static void test_kubernetes(void **state)
{
	expect("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_ ".slice/"
	       "cri-containerd-" ID ".scope", CT_RT_CONTAINERD, ID, UID);
	expect("/kubepods.slice/kubepods-pod" UID_ ".slice/crio-" ID ".scope", CT_RT_CRIO, ID, UID);
	expect("/kubepods/burstable/pod" UID "/" ID, CT_RT_CRI, ID, UID);
	expect("/kubepods/pod" UID "/" ID, CT_RT_CRI, ID, UID);
	expect("/kubepods/besteffort/pod" UID "/crio-" ID, CT_RT_CRIO, ID, UID);
	expect("/system.slice/containerd.service/kubepods-besteffort-pod" UID_ ".slice:"
	       "cri-containerd:" ID, CT_RT_CONTAINERD, ID, UID);
	/* the pod's own cgroup: a pod, no container */
	expect("/kubepods/burstable/pod" UID, CT_RT_NONE, "", UID);
}

static void test_podman_and_systemd(void **state)
{
	struct container c;

	expect("/machine.slice/libpod-" ID ".scope/container", CT_RT_PODMAN, ID, "");
	expect("/machine.slice/libpod-conmon-" ID ".scope", CT_RT_NONE, "", "");
	c = parse("/system.slice/nginx.service");
	assert_int_equal(c.runtime, CT_RT_SYSTEMD);
	assert_string_equal(c.unit, "nginx.service");
	assert_string_equal(c.id, "");
	assert_string_equal(ct_runtime_name(c.runtime), "systemd");
	expect("/user.slice/user-1000.slice/session-2.scope", CT_RT_NONE, "", "");
	expect("/", CT_RT_NONE, "", "");
}

/* Names that look close but are not valid ids or UIDs are not trusted. */
static void test_invalid_rejected(void **state)
{
	expect("/system.slice/docker-3F2A9C0D41E5.scope", CT_RT_NONE, "", "");
	expect("/system.slice/docker-3f2a9c0d41e.scope", CT_RT_NONE, "", "");	/* 11 digits */
	expect("/system.slice/docker-" ID "0.scope", CT_RT_NONE, "", "");	/* 65 digits */
	expect("/system.slice/docker-3f2a9c0d41e5-x.scope", CT_RT_NONE, "", "");
	expect("/system.slice/docker-.scope", CT_RT_NONE, "", "");
	expect("/kubepods/pod0b9a6c4e-1d2f-4a3b-9c8d-7e6f5a4b3c2/x", CT_RT_NONE, "", "");
	expect("/kubepods-pod" UID ".slice", CT_RT_NONE, "", "");	/* dashes in a slice */
	expect("/pod" UID "/" ID, CT_RT_NONE, "", "");		/* not under kubepods */
	expect("/system.slice/bad name.service", CT_RT_NONE, "", "");
	expect("/system.slice/.service", CT_RT_NONE, "", "");
}

static void test_hostile_path_bounded(void **state)
{
	static const char ctl[] = "/a\x1b[2J\n/docker-" ID ".scope\0/docker-0123456789ab.scope";
	static char big[CT_PATH_MAX * 2];
	struct container c;

	/* a docker id deep past the parse bound is not seen; the copy is cut and marked */
	memset(big, 'a', sizeof(big) - 1);
	memcpy(big + CT_PATH_MAX + 10, "/docker-" ID ".scope", 8 + 64 + 6);
	container_parse(big, sizeof(big) - 1, &c);
	assert_int_equal(c.runtime, CT_RT_NONE);
	assert_int_equal(strlen(c.cgroup), CT_PATH_LEN - 1);
	assert_string_equal(c.cgroup + CT_PATH_LEN - 4, "...");
	/* control bytes never reach an output; NUL ends the path */
	container_parse(ctl, sizeof(ctl) - 1, &c);
	assert_string_equal(c.cgroup, "/a?[2J?/docker-" ID ".scope");
	assert_string_equal(c.id, ID);
}

static void test_match_and_short(void **state)
{
	struct container c = parse("/system.slice/docker-" ID ".scope");
	char buf[CT_UNIT_LEN];

	assert_true(container_matches(&c, ID));
	assert_true(container_matches(&c, "3f2a9c0d41e5"));
	assert_false(container_matches(&c, "3f2a9c0d41e6"));
	assert_false(container_matches(&c, ""));
	assert_string_equal(container_short(&c, buf), "3f2a9c0d41e5");
	c = parse("/system.slice/nginx.service");
	assert_true(container_matches(&c, "nginx.service"));
	assert_false(container_matches(&c, "nginx"));
	assert_string_equal(container_short(&c, buf), "nginx.service");
	c = parse("/user.slice");
	assert_false(container_matches(&c, "0"));
	assert_string_equal(container_short(&c, buf), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_docker),
		cmocka_unit_test(test_kubernetes),
		cmocka_unit_test(test_podman_and_systemd),
		cmocka_unit_test(test_invalid_rejected),
		cmocka_unit_test(test_hostile_path_bounded),
		cmocka_unit_test(test_match_and_short),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
