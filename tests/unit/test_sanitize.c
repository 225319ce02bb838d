// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* sanitize: what reaches a terminal has no control sequence, escapes are visible and whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "util/sanitize.h"

static void check(const char *in, unsigned flags, const char *want)
{
	char out[256];

	pt_sanitize(out, sizeof(out), in, flags);
	assert_string_equal(out, want);
}

static void test_plain_text_unchanged(void **state)
{
	check("GET /index.html?a=b", 0, "GET /index.html?a=b");
	check("caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80", 0, "caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80");
	check("", 0, "");
}

static void test_controls_escaped(void **state)
{
	/* the request line of the hostile client in tests/integration/test_hostile_output.py */
	check("/\x1b]0;x\x07\x1b[2J", 0, "/\\x1b]0;x\\x07\\x1b[2J");
	check("a\tb\nc\rd\x7f", 0, "a\\x09b\\x0ac\\x0dd\\x7f");
	check("\x01\x1f", PT_SAN_ASCII, "\\x01\\x1f");
	check("a\nb\r\n\x1b\tc", PT_SAN_NEWLINES, "a\nb\\x0d\n\\x1b\tc");
}

static void test_c1_and_bidi_escaped(void **state)
{
	/* U+009B is CSI for terminals that honour C1 controls */
	check("a\xc2\x9b" "2Jb", 0, "a\\u009b2Jb");
	check("\xc2\x80\xc2\x9f\xc2\xa0", 0, "\\u0080\\u009f\xc2\xa0");
	/* right-to-left override, line separator */
	check("x\xe2\x80\xaey\xe2\x80\xa8", 0, "x\\u202ey\\u2028");
}

static void test_invalid_utf8_escaped(void **state)
{
	check("\x9b" "2J", 0, "\\x9b2J");			/* lone C1 byte (8-bit CSI) */
	check("\xc0\x9b", 0, "\\xc0\\x9b");			/* overlong ESC-ish */
	check("\xe0\x80\x9b", 0, "\\xe0\\x80\\x9b");		/* overlong */
	check("\xed\xa0\x80", 0, "\\xed\\xa0\\x80");		/* surrogate U+D800 */
	check("\xf4\x90\x80\x80", 0, "\\xf4\\x90\\x80\\x80");	/* over U+10FFFF */
	check("ab\xe4\xb8", 0, "ab\\xe4\\xb8");			/* cut sequence at the end */
	check("\xff\xfe", 0, "\\xff\\xfe");
}

static void test_ascii_mode(void **state)
{
	check("caf\xc3\xa9", PT_SAN_ASCII, "caf\\xc3\\xa9");
	check("\xc2\x9b", PT_SAN_ASCII, "\\xc2\\x9b");
}

static void test_bounded_and_whole(void **state)
{
	char out[8];
	size_t n;

	/* "ab" + "\x1b" (4) = 6 fits in 7; the next escape does not and is not cut */
	n = pt_sanitize_mem(out, sizeof(out), "ab\x1b\x1b", 4, 0);
	assert_int_equal(n, 6);
	assert_string_equal(out, "ab\\x1b");
	/* a multi-byte character is never cut */
	n = pt_sanitize_mem(out, 4, "ab\xe4\xb8\xad", 5, 0);
	assert_string_equal(out, "ab");
	assert_int_equal(n, 2);
	/* NULs inside a buffer are escaped, not ends */
	n = pt_sanitize_mem(out, sizeof(out), "a\0b", 3, 0);
	assert_string_equal(out, "a\\x00b");
	assert_int_equal(pt_sanitize_mem(out, 0, "abc", 3, 0), 0);
	pt_sanitize(out, 1, "abc", 0);
	assert_string_equal(out, "");
}

/* Every byte value alone and after every lead byte: no output byte is a control. */
static void test_exhaustive_no_control_out(void **state)
{
	char out[64];

	for (int a = 0; a < 256; a++) {
		for (int b = 0; b < 256; b++) {
			char in[4] = { (char)a, (char)b, (char)0x9b, 0 };

			pt_sanitize_mem(out, sizeof(out), in, 3, 0);
			for (const unsigned char *p = (const unsigned char *)out; *p; p++) {
				assert_true(*p >= 0x20 && *p != 0x7f);
				/* a C1 control encoded as UTF-8 */
				if (*p == 0xc2)
					assert_false(p[1] >= 0x80 && p[1] <= 0x9f);
			}
			pt_sanitize_mem(out, sizeof(out), in, 3, PT_SAN_ASCII);
			for (const unsigned char *p = (const unsigned char *)out; *p; p++)
				assert_true(*p >= 0x20 && *p < 0x7f);
		}
	}
}

static void test_utf8_decode(void **state)
{
	uint32_t cp;

	assert_int_equal(pt_utf8_decode((const unsigned char *)"A", 1, &cp), 1);
	assert_int_equal(cp, 'A');
	assert_int_equal(pt_utf8_decode((const unsigned char *)"\xc3\xa9", 2, &cp), 2);
	assert_int_equal(cp, 0xe9);
	assert_int_equal(pt_utf8_decode((const unsigned char *)"\xf0\x9f\x98\x80", 4, &cp), 4);
	assert_int_equal(cp, 0x1f600);
	assert_int_equal(pt_utf8_decode((const unsigned char *)"\xf0\x9f\x98", 3, &cp), 0);
	assert_int_equal(pt_utf8_decode((const unsigned char *)"\xef\xbf\xbf", 3, &cp), 3);
	assert_int_equal(cp, 0xffff);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_text_unchanged),
		cmocka_unit_test(test_controls_escaped),
		cmocka_unit_test(test_c1_and_bidi_escaped),
		cmocka_unit_test(test_invalid_utf8_escaped),
		cmocka_unit_test(test_ascii_mode),
		cmocka_unit_test(test_bounded_and_whole),
		cmocka_unit_test(test_exhaustive_no_control_out),
		cmocka_unit_test(test_utf8_decode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
