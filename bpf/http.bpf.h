/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * HTTP/1.x awareness where it is cheap: the request line (method, path
 * without the query) and the status line, read from at most
 * HTTP_PEEK bytes of the first buffer of a request or response. Never bodies.
 */
#ifndef PT_HTTP_BPF_H
#define PT_HTTP_BPF_H

#include "common.bpf.h"

#define HTTP_PEEK (PT_METHOD_LEN + PT_PATH_LEN + 2)

struct http_scratch {
	char buf[HTTP_PEEK];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct http_scratch);
} http_scratch SEC(".maps") __weak;

static __always_inline char *http_peek(const void *ubuf, __u64 len)
{
	__u32 zero = 0;
	struct http_scratch *s = bpf_map_lookup_elem(&http_scratch, &zero);

	if (!s || !ubuf || len < 4)
		return NULL;
	__builtin_memset(s->buf, 0, sizeof(s->buf));
	if (len > HTTP_PEEK)
		len = HTTP_PEEK;
	if (bpf_probe_read_user(s->buf, len & 0xff, ubuf))
		return NULL;
	return s->buf;
}

/* Request line: "METHOD SP path[?query] SP HTTP/1.x" */
static __always_inline void http_parse_request(struct pt_req_rec *r, const void *ubuf, __u64 len)
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
	if (sp < 3 || (b[sp + 1] != '/' && b[sp + 1] != '*' && b[sp + 1] != 'h'))
		return;
	for (int i = 0; i < PT_METHOD_LEN - 1; i++) {
		if (i >= sp)
			break;
		r->method[i] = b[i];
	}
	r->method[sp < PT_METHOD_LEN ? sp : PT_METHOD_LEN - 1] = 0;
	for (int i = 0; i < PT_PATH_LEN - 1; i++) {
		int j = sp + 1 + i;
		char ch;

		if (j >= HTTP_PEEK)
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

/* Status line: "HTTP/1.x NNN ..." */
static __always_inline void http_parse_status(struct pt_req_rec *r, const void *ubuf, __u64 len)
{
	char *b = http_peek(ubuf, len);

	if (!b || len < 12)
		return;
	if (b[0] != 'H' || b[1] != 'T' || b[2] != 'T' || b[3] != 'P' || b[4] != '/' || b[8] != ' ')
		return;
	if (b[9] < '1' || b[9] > '5' || b[10] < '0' || b[10] > '9' || b[11] < '0' || b[11] > '9')
		return;
	r->status = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
}

#endif
