// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* cpulist: sysfs CPU lists into a set; anything else refused. */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "util/cpulist.h"

#define N	16

/* s parsed into a fresh set of N: the count, the set as a string of 0/1 */
static int parse(const char *s, char out[N + 1])
{
	bool set[N] = {};
	int r = cpulist_parse(s, set, N);

	for (int i = 0; i < N; i++)
		out[i] = set[i] ? '1' : '0';
	out[N] = 0;
	return r;
}

static void test_lists(void **state)
{
	char got[N + 1];

	assert_int_equal(parse("0-1\n", got), 2);
	assert_string_equal(got, "1100000000000000");
	assert_int_equal(parse("0,2-3,8", got), 4);
	assert_string_equal(got, "1011000010000000");
	assert_int_equal(parse("5", got), 1);
	assert_string_equal(got, "0000010000000000");
	/* overlapping ranges count each CPU once */
	assert_int_equal(parse("1-3,2-4\n", got), 4);
	assert_string_equal(got, "0111100000000000");
}

static void test_beyond_the_set_ignored(void **state)
{
	char got[N + 1];

	assert_int_equal(parse("14-40", got), 2);
	assert_string_equal(got, "0000000000000011");
	assert_int_equal(parse("100", got), 0);
}

static void test_not_a_list(void **state)
{
	char got[N + 1];
	const char *bad[] = { "", "\n", "a", "3-1", "1-", "-1", "1,,2", "1 2", "0-1x",
			      "99999999999999999999", "1-99999999" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse(bad[i], got), -EINVAL);
}

static void test_online_of_this_host(void **state)
{
	bool set[4096];
	int n = cpulist_online(set, 4096), cpu = sched_getcpu();

	/* the CPU running this test is online */
	assert_true(n >= 1);
	assert_true(cpu >= 0 && cpu < 4096);
	assert_true(set[cpu]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_beyond_the_set_ignored),
		cmocka_unit_test(test_not_a_list),
		cmocka_unit_test(test_online_of_this_host),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
