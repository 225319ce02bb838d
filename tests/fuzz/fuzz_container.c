// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target for the cgroup path parser (user/assemble/container.c): the
 * input is a path as a process could name its cgroups. Besides memory errors
 * (ASan, UBSan), every result must be what an output may print: NUL-terminated
 * fields in bounds, ids of lower-case hex, UIDs of the 8-4-4-4-12 shape, a
 * copied path without control bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assemble/container.h"

/* A broken promise aborts: libFuzzer keeps the input. */
static void check_at(int ok, const char *what, int line)
{
	if (ok)
		return;
	fprintf(stderr, "fuzz_container.c:%d: check failed: %s\n", line, what);
	abort();
}

#define CHECK(cond) check_at(!!(cond), #cond, __LINE__)

static void check_hex(const char *s, size_t min, size_t max)
{
	size_t n = strlen(s);

	CHECK(n == 0 || (n >= min && n <= max));
	for (size_t i = 0; i < n; i++)
		CHECK((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct container c;
	char buf[CT_UNIT_LEN];
	enum ct_runtime rt;

	memset(&c, 0x5a, sizeof(c));
	rt = container_parse((const char *)data, size, &c);
	CHECK(rt == c.runtime && rt >= CT_RT_NONE && rt <= CT_RT_SYSTEMD);
	CHECK(memchr(c.cgroup, 0, sizeof(c.cgroup)) && memchr(c.id, 0, sizeof(c.id)));
	CHECK(memchr(c.unit, 0, sizeof(c.unit)) && memchr(c.pod_uid, 0, sizeof(c.pod_uid)));
	for (const char *p = c.cgroup; *p; p++)
		CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
	check_hex(c.id, CT_ID_SHORT, CT_ID_LEN - 1);
	CHECK(!c.pod_uid[0] || strlen(c.pod_uid) == CT_POD_UID_LEN - 1);
	CHECK((rt == CT_RT_SYSTEMD) == (c.unit[0] != 0));
	CHECK((rt != CT_RT_NONE && rt != CT_RT_SYSTEMD) == (c.id[0] != 0));
	CHECK(strlen(container_short(&c, buf)) < CT_UNIT_LEN);
	if (c.id[0])
		CHECK(container_matches(&c, c.id));
	return 0;
}
