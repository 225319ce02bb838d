/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * HTTP/1.x awareness where it is cheap (bpf/http.bpf.c): the request line
 * (method, path without the query) and the status line, read from at most
 * PT_HTTP_PEEK bytes of the first buffer of a request or response. Never bodies.
 * ubuf is a user-space pointer; len the bytes the I/O moved.
 */
#ifndef PT_HTTP_BPF_H
#define PT_HTTP_BPF_H

#include "common.bpf.h"

/* "METHOD SP path[?query] SP HTTP/1.x": sets method, path and PT_F_HTTP in r */
PT_SHARED void http_parse_request(struct pt_req_rec *r, const void *ubuf, __u64 len);
/* Sets r's method to CONNECT if the request line begins "CONNECT " (else nothing): what
 * the protocol switch needs when the request line is not parsed (conn_switch()) */
PT_SHARED void http_parse_connect(struct pt_req_rec *r, const void *ubuf, __u64 len);
/* "HTTP/1.x NNN ...": sets status in r */
PT_SHARED void http_parse_status(struct pt_req_rec *r, const void *ubuf, __u64 len);

#endif
