// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target for the HTTP request and status line parser that runs in
 * the kernel (bpf/http.bpf.c, built as plain C with bpf_shim.h). The first
 * input byte picks the parser (bit 0: the status line; else bit 1: the CONNECT check;
 * else the request line), the rest is the I/O buffer. Besides memory
 * errors (ASan, UBSan), every result is compared with a plain reference
 * reading of the same bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf_shim.h"

#include "fuzz_check.h"

static int path_end(char ch)
{
	return ch == ' ' || ch == '?' || ch == '#' || ch == '\r' || ch == '\n' || ch == 0;
}

/* What the request line parser must find in the first PT_HTTP_PEEK bytes of b. */
static void expect_request(const char *b, size_t len, struct pt_req_rec *want)
{
	char peek[PT_HTTP_PEEK] = {};
	size_t sp, i;

	if (len < 4)
		return;
	memcpy(peek, b, len < sizeof(peek) ? len : sizeof(peek));
	for (sp = 0; sp < PT_METHOD_LEN && peek[sp] >= 'A' && peek[sp] <= 'Z'; sp++)
		;
	if (sp >= PT_METHOD_LEN || peek[sp] != ' ' || sp < 3)
		return;
	if (sp == 7 && !memcmp(peek, "CONNECT", 7)) {
		/* authority-form: any target but an empty one */
		if (peek[8] == ' ' || peek[8] == '\r' || peek[8] == '\n' || peek[8] == 0)
			return;
	} else if (peek[sp + 1] != '/' && peek[sp + 1] != '*' && peek[sp + 1] != 'h') {
		return;
	}
	if (sp == 3 && !memcmp(peek, "PRI *", 5))
		return;		/* the HTTP/2 client preface */
	memcpy(want->method, peek, sp);
	for (i = 0; i < PT_PATH_LEN - 1 && !path_end(peek[sp + 1 + i]); i++)
		want->path[i] = peek[sp + 1 + i];
	want->flags |= PT_F_HTTP;
}

/* The CONNECT check alone: the method, nothing else. */
static void expect_connect(const char *b, size_t len, struct pt_req_rec *want)
{
	if (len >= 9 && !memcmp(b, "CONNECT ", 8))
		strcpy(want->method, "CONNECT");
}

static void expect_status(const char *b, size_t len, struct pt_req_rec *want)
{
	if (len < 12 || memcmp(b, "HTTP/1.", 7) || b[7] < '0' || b[7] > '9' || b[8] != ' ')
		return;
	if (b[9] < '1' || b[9] > '5' || b[10] < '0' || b[10] > '9' || b[11] < '0' || b[11] > '9')
		return;
	if (len > 12 && b[12] != ' ' && b[12] != '\r' && b[12] != '\n')
		return;		/* "HTTP/1.1 2000": no three-digit code */
	want->status = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pt_req_rec got = {}, want = {};
	const char *b;
	char *copy;

	if (!size)
		return 0;
	/* an exact-size copy: ASan catches any read past the I/O buffer */
	copy = malloc(size - 1 ? size - 1 : 1);
	if (!copy)
		return 0;
	memcpy(copy, data + 1, size - 1);
	b = copy;
	if ((data[0] & 3) == 2) {
		http_parse_connect(&got, b, size - 1);
		expect_connect(b, size - 1, &want);
	} else if (data[0] & 1) {
		http_parse_status(&got, b, size - 1);
		expect_status(b, size - 1, &want);
	} else {
		http_parse_request(&got, b, size - 1);
		expect_request(b, size - 1, &want);
	}
	CHECK(got.method[PT_METHOD_LEN - 1] == 0 && got.path[PT_PATH_LEN - 1] == 0);
	CHECK(!strcmp(got.method, want.method));
	CHECK(!strcmp(got.path, want.path));
	CHECK(got.flags == want.flags);
	CHECK(got.status == want.status);
	CHECK(got.status == 0 || (got.status >= 100 && got.status <= 599));
	free(copy);
	return 0;
}
