// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target for the HTTP/2 stream assembly (user/assemble/h2.c): the
 * input is a sequence of frame records as BPF would send them (what a traced
 * process or its peer controls: frame types, flags, lengths, offsets, header
 * block bytes), with connection opens and closes among them. Besides memory
 * errors (ASan, UBSan), every stream handed on must be sane.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assemble/h2.h"

#include "fuzz_check.h"

static void on_stream(void *ctx, const struct pt_req_rec *r, const char *authority)
{
	CHECK(memchr(r->method, 0, sizeof(r->method)));
	CHECK(memchr(r->path, 0, sizeof(r->path)));
	CHECK(strlen(authority) < PT_HOST_LEN);
	CHECK(!r->status || (r->status >= 200 && r->status <= 599));
	CHECK(!(r->flags & PT_F_H2));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct h2 *h = h2__new(on_stream, NULL, NULL);
	struct pt_req_rec conn = { .type = PT_REC_REQ, .flags = PT_F_H2, .conn_id = 1 };
	static struct pt_h2_rec r;

	if (!h)
		return 0;
	/* 12-byte record heads: op/dir, type, flags, sid, flen, frag_off, len, seq step */
	while (size >= 12) {
		uint8_t op = data[0];
		size_t n = data[10] % (PT_H2_BLOCK + 1);

		data += 12, size -= 12;
		if (n > size)
			n = size;
		if ((op & 0xf0) == 0xf0) {
			conn.role = op & 1 ? PT_ROLE_SERVER : PT_ROLE_CLIENT;
			conn.end_reason = op & 2 ? PT_END_CLOSE : PT_END_NEXT;
			h2__conn(h, &conn);
			continue;
		}
		memset(&r, 0, offsetof(struct pt_h2_rec, data));
		r.type = PT_REC_H2;
		r.kind = op & 0x8 ? PT_H2_LOST : PT_H2_FRAME;
		r.dir = op & 1;
		r.ftype = data[-11] % 11;
		r.fflags = data[-10];
		r.sid = data[-9] & 7;
		r.flen = data[-8] | data[-7] << 8;
		r.frag_off = data[-6] | (data[-5] & 0x3f) << 8;
		r.frag_len = n;
		r.seq = data[-4];
		r.conn_id = 1;
		r.ts = data[-3];
		memcpy(r.data, data, n);
		h2__frame(h, &r, offsetof(struct pt_h2_rec, data) + n);
		data += n, size -= n;
	}
	h2__flush(h);
	h2__free(h);
	return 0;
}
