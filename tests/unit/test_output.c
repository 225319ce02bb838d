// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* output: hostile names in a request reach neither the terminal nor JSON unescaped. */
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "output/output.h"
#include "output/waterfall.h"

/* What a remote client and a process that renamed itself can put in a record. */
static void hostile_request(struct request *r)
{
	memset(r, 0, sizeof(*r));
	r->role = PT_ROLE_SERVER;
	r->pid = 42;
	r->tid = 42;
	strcpy(r->comm, "ev\x1b[31mil\xc2\x9b");
	strcpy(r->host, "h\x07st");
	strcpy(r->method, "GET");
	strcpy(r->path, "/\x1b]0;x\x07\x1b[2J\xff\xe2\x80\xae\xc3\xa9\xf0\x9f\x98\x80");
	r->status = 200;
	r->start_ns = 1000;
	r->dur_ns = 5000000;
	r->nphases = 1;
	r->phases[0] = (struct phase){ .id = PHASE_RENDER, .start_ns = 1000, .dur_ns = 1000000 };
	strcpy(r->phases[0].name, "render");
	strcpy(r->phases[0].label, "tpl\x1b[1m");
}

struct lines {
	char text[8192];
};

static void collect(void *ctx, const char *line)
{
	struct lines *l = ctx;

	strncat(l->text, line, sizeof(l->text) - strlen(l->text) - 2);
	strcat(l->text, "\n");
}

static void assert_terminal_safe(const char *s, bool ascii)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\n')
			continue;
		if (*p < 0x20 || *p == 0x7f || (ascii && *p >= 0x80))
			fail_msg("byte 0x%02x at %zu of: %s", *p, (size_t)((const char *)p - s), s);
		if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			fail_msg("C1 control at %zu of: %s", (size_t)((const char *)p - s), s);
	}
}

static void render(struct lines *l, const char *locale)
{
	struct request r;

	hostile_request(&r);
	if (!setlocale(LC_ALL, locale))
		skip();
	memset(l, 0, sizeof(*l));
	waterfall__render(&r, 100, false, collect, l);
}

static void test_waterfall_utf8_locale(void **state)
{
	struct lines l;

	render(&l, "C.UTF-8");
	assert_terminal_safe(l.text, false);
	if (!strstr(l.text, "ev\\x1b[31mil\\u009b[42]") ||
	    !strstr(l.text, " h\\x07st ") ||
	    !strstr(l.text, "GET /\\x1b]0;x\\x07\\x1b[2J\\xff\\u202e\xc3\xa9\xf0\x9f\x98\x80 200") ||
	    !strstr(l.text, "tpl\\x1b[1m"))
		fail_msg("escaped fields missing from:\n%s", l.text);
}

static void test_waterfall_ascii_locale(void **state)
{
	struct lines l;

	render(&l, "C");
	assert_terminal_safe(l.text, true);
	if (!strstr(l.text, "GET /\\x1b]0;x\\x07\\x1b[2J\\xff\\xe2\\x80\\xae\\xc3\\xa9"))
		fail_msg("escaped path missing from:\n%s", l.text);
}

static void test_json_escapes(void **state)
{
	struct request r;
	char buf[4096];

	hostile_request(&r);
	json_format(&r, buf, sizeof(buf));
	assert_terminal_safe(buf, true);
	/* controls as \u00XX, characters as their code points, a bad byte as U+FFFD */
	if (!strstr(buf, "\"comm\":\"ev\\u001b[31mil\\u009b\"") ||
	    !strstr(buf, "\"path\":\"/\\u001b]0;x\\u0007\\u001b[2J\\ufffd\\u202e\\u00e9"
			 "\\ud83d\\ude00\"") ||
	    !strstr(buf, "\"label\":\"tpl\\u001b[1m\""))
		fail_msg("unexpected escapes in: %s", buf);
	strcpy(r.path, "/a\"b\\c\x7f");
	json_format(&r, buf, sizeof(buf));
	if (!strstr(buf, "\"path\":\"/a\\\"b\\\\c\\u007f\""))
		fail_msg("unexpected escapes in: %s", buf);
}

/* One byte's JSON string form, as docs/json.md says (a lone byte above 0x7f is not UTF-8). */
static const char *json_byte(unsigned char c, char *tmp)
{
	if (c == '"')
		return "\\\"";
	if (c == '\\')
		return "\\\\";
	if (c < 0x20 || c == 0x7f) {
		sprintf(tmp, "\\u%04x", c);
		return tmp;
	}
	if (c >= 0x80)
		return "\\ufffd";
	tmp[0] = (char)c;
	tmp[1] = 0;
	return tmp;
}

/* Plain runs are found 16 bytes at a time: each byte class at each place of a path of
 * each length, so at every offset in a 16-byte block, before and after the run's start. */
static void test_json_plain_runs(void **state)
{
	static const unsigned char cls[] = { 0x01, 0x1f, ' ', '!', '"', '#', '[', '\\', ']',
					     '~', 0x7f, 0x80, 0xff };
	struct request r;
	char buf[4096], want[512], tmp[8];

	hostile_request(&r);
	for (size_t len = 1; len < 48; len++) {
		for (size_t at = 0; at < len; at++) {
			for (size_t k = 0; k < sizeof(cls); k++) {
				char *w = want;

				memset(r.path, 'a' + (int)(len % 26), len);
				r.path[len] = 0;
				r.path[at] = (char)cls[k];
				w += sprintf(w, "\"path\":\"");
				for (size_t i = 0; i < len; i++)
					w += sprintf(w, "%s",
						     json_byte((unsigned char)r.path[i], tmp));
				sprintf(w, "\"");
				json_format(&r, buf, sizeof(buf));
				if (!strstr(buf, want))
					fail_msg("len %zu, byte 0x%02x at %zu: want %s in %s", len,
						 cls[k], at, want, buf);
			}
		}
	}
}

static void test_json_sink_batches(void **state)
{
	/* lines written in batches through the sink are exactly json_format()'s, each
	 * followed by a newline, across several 1 MiB batches and after the tick */
	static char want[1 << 16], got[1 << 16];
	struct request r;
	struct output *o;
	struct sink s;
	FILE *f = tmpfile();
	size_t n, off = 0;

	assert_non_null(f);
	o = output__new(f, true, false, 80);
	assert_non_null(o);
	s = output__sink(o);
	hostile_request(&r);
	for (int i = 0; i < 6000; i++) {
		r.req_id = i;
		r.path[1 + i % 40] = 0;	/* lines of varied lengths */
		s.on_request(s.ctx, &r);
		hostile_request(&r);
	}
	output__tick_cb(o, 0);
	rewind(f);
	hostile_request(&r);
	for (int i = 0; i < 6000; i++) {
		r.req_id = i;
		r.path[1 + i % 40] = 0;
		n = json_format(&r, want, sizeof(want));
		want[n++] = '\n';
		assert_int_equal(fread(got, 1, n, f), n);
		assert_memory_equal(got, want, n);
		off += n;
		hostile_request(&r);
	}
	assert_int_equal(fgetc(f), EOF);
	assert_true(off > 2 << 20);	/* more than two batches */
	output__free(o);
	fclose(f);
}

/* gRPC: "status" is the grpc-status, the HTTP :status is "http_status" (docs/json.md). */
static void test_json_grpc_status(void **state)
{
	struct request r;
	char buf[4096];

	hostile_request(&r);
	r.proto = PT_PROTO_H2;
	r.stream_id = 1;
	json_format(&r, buf, sizeof(buf));
	assert_non_null(strstr(buf, ",\"status\":200,"));
	assert_null(strstr(buf, "http_status"));
	r.is_grpc = true;
	json_format(&r, buf, sizeof(buf));	/* no grpc-status yet: no status */
	assert_null(strstr(buf, "\"status\":"));
	assert_non_null(strstr(buf, ",\"http_status\":200,"));
	r.has_grpc = true;
	r.grpc_status = 14;
	json_format(&r, buf, sizeof(buf));
	assert_non_null(strstr(buf, ",\"status\":14,"));
	assert_non_null(strstr(buf, ",\"http_status\":200,"));
	assert_non_null(strstr(buf, ",\"grpc_status\":14"));
}

/* A buffer too short for the line holds its beginning, whatever the cut (a number, an
 * escape, a child's object): numbers, strings and children are appended by value. */
static void test_json_cut_is_prefix(void **state)
{
	static char full[8192], cut[8192];
	struct request r, child;
	size_t n;

	hostile_request(&r);
	hostile_request(&child);
	child.role = PT_ROLE_CLIENT;
	child.req_id = 123456789012345ULL;
	child.parent_id = 7;
	r.req_id = 7;
	r.nchildren = 1;
	r.children[0] = &child;
	n = json_format(&r, full, sizeof(full));
	assert_true(n > 600 && n < sizeof(full) - 1);
	for (size_t len = 1; len <= n + 1; len++) {
		memset(cut, 'x', sizeof(cut));
		assert_int_equal(json_format(&r, cut, len), len - 1);
		assert_memory_equal(cut, full, len - 1);
		assert_int_equal(cut[len - 1], 0);
	}
}

/* Numbers are printf's %llu and %lld, at every number of digits and its edges. */
static void test_json_numbers(void **state)
{
	static char buf[8192];
	char want[64];
	uint64_t v[200];
	int n = 0;

	v[n++] = 0;
	v[n++] = UINT64_MAX;
	for (uint64_t p = 1; p <= 1000000000000000000ULL; p *= 10) {
		v[n++] = p - 1;
		v[n++] = p;
		v[n++] = p + 1;
		v[n++] = p * 9 + p / 3;
	}
	srand(3);
	while (n < 200)
		v[n++] = (uint64_t)rand() << 40 ^ (uint64_t)rand() << 20 ^ rand();
	for (int i = 0; i < n; i++) {
		struct request r;

		hostile_request(&r);
		r.req_id = v[i];
		r.dns_failed = true;
		r.dns_rc = -(int)(v[i] % 1000);
		json_format(&r, buf, sizeof(buf));
		snprintf(want, sizeof(want), ",\"req_id\":%llu,", (unsigned long long)v[i]);
		assert_non_null(strstr(buf, want));
		snprintf(want, sizeof(want), ",\"dns_rc\":%d,", r.dns_rc);
		assert_non_null(strstr(buf, want));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_waterfall_utf8_locale),
		cmocka_unit_test(test_waterfall_ascii_locale),
		cmocka_unit_test(test_json_escapes),
		cmocka_unit_test(test_json_plain_runs),
		cmocka_unit_test(test_json_sink_batches),
		cmocka_unit_test(test_json_grpc_status),
		cmocka_unit_test(test_json_cut_is_prefix),
		cmocka_unit_test(test_json_numbers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
