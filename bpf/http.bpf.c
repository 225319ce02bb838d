// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The HTTP request and status line parser; see http.bpf.h. Input is hostile:
 * every index is bounded by PT_HTTP_PEEK. Also built as plain C (any target
 * but BPF) for the fuzz target tests/fuzz/fuzz_http.c, with tests/fuzz/bpf_shim.h
 * in place of the BPF headers.
 */
#ifdef __bpf__
#include "http.bpf.h"
#else
#include "bpf_shim.h"
#endif

/* The first bytes of ubuf in a per-CPU buffer of PT_HTTP_PEEK bytes, zero after them. */
static __always_inline char *http_peek(const void *ubuf, __u64 len)
{
	__u32 zero = 0;
	struct http_scratch *s = bpf_map_lookup_elem(&http_scratch, &zero);

	if (!s || !ubuf || len < 4)
		return NULL;
	if (len < PT_HTTP_PEEK)		/* else every byte is overwritten */
		__builtin_memset(s->buf, 0, sizeof(s->buf));
	else
		len = PT_HTTP_PEEK;
	if (bpf_probe_read_user(s->buf, len & 0xff, ubuf))
		return NULL;
	return s->buf;
}

/* Request line: "METHOD SP path[?query] SP HTTP/1.x" (CONNECT: "CONNECT SP host:port ...") */
PT_SHARED void http_parse_request(struct pt_req_rec *r, const void *ubuf, __u64 len)
{
	char *b = http_peek(ubuf, len);
	int sp = -1;

	if (!b)
		return;
	for (int i = 0; i < PT_METHOD_LEN; i++) {
		char ch = b[i];

		if (ch == ' ') {
			sp = i;
			break;
		}
		if (ch < 'A' || ch > 'Z')
			return;
	}
	if (sp < 3)
		return;
	/* a proxy's CONNECT names host:port (authority-form), the others a path or a URL */
	if (sp == 7 && pt_is_connect(b)) {
		if (b[8] == ' ' || b[8] == '\r' || b[8] == '\n' || b[8] == 0)
			return;
	} else if (b[sp + 1] != '/' && b[sp + 1] != '*' && b[sp + 1] != 'h') {
		return;
	}
	if (sp == 3 && b[0] == 'P' && b[1] == 'R' && b[2] == 'I' && b[4] == '*')
		return;	/* the HTTP/2 client preface is not a request */
	for (int i = 0; i < PT_METHOD_LEN - 1; i++) {
		if (i >= sp)
			break;
		r->method[i] = b[i];
	}
	r->method[sp < PT_METHOD_LEN ? sp : PT_METHOD_LEN - 1] = 0;
	for (int i = 0; i < PT_PATH_LEN - 1; i++) {
		int j = sp + 1 + i;
		char ch;

		if (j >= PT_HTTP_PEEK)
			break;
		ch = b[j];
		if (ch == ' ' || ch == '?' || ch == '#' || ch == '\r' || ch == '\n' || ch == 0) {
			r->path[i] = 0;
			break;
		}
		r->path[i] = ch;
	}
	r->path[PT_PATH_LEN - 1] = 0;
	r->flags |= PT_F_HTTP;
}

/* Only whether the request is a CONNECT: its first 8 bytes onto the stack. */
PT_SHARED void http_parse_connect(struct pt_req_rec *r, const void *ubuf, __u64 len)
{
	char b[8];

	if (!ubuf || len < 9 || bpf_probe_read_user(b, sizeof(b), ubuf))
		return;
	if (!pt_is_connect(b) || b[7] != ' ')
		return;
	__builtin_memcpy(r->method, "CONNECT", 8);
}

/* Status line: "HTTP/1.x NNN ...": its first 13 bytes read onto the stack (one short copy,
 * no scratch buffer to zero; every response of a keep-alive connection comes here). The
 * code is three digits, then a space or the line's end (or the I/O's: 12 bytes). */
PT_SHARED void http_parse_status(struct pt_req_rec *r, const void *ubuf, __u64 len)
{
	char b[13];

	if (!ubuf || len < 12)
		return;
	if (len >= 13 ? bpf_probe_read_user(b, 13, ubuf) : bpf_probe_read_user(b, 12, ubuf))
		return;
	if (len < 13)
		b[12] = ' ';
	if (b[0] != 'H' || b[1] != 'T' || b[2] != 'T' || b[3] != 'P' || b[4] != '/' ||
	    b[5] != '1' || b[6] != '.' || b[7] < '0' || b[7] > '9' || b[8] != ' ')
		return;
	if (b[9] < '1' || b[9] > '5' || b[10] < '0' || b[10] > '9' || b[11] < '0' || b[11] > '9' ||
	    (b[12] != ' ' && b[12] != '\r' && b[12] != '\n'))
		return;
	r->status = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
