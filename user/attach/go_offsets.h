/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Built-in Go struct field offsets per Go minor version (LP64: amd64 and
 * arm64 share them), for binaries without DWARF. Pure data: no ELF here.
 */
#ifndef PT_GO_OFFSETS_H
#define PT_GO_OFFSETS_H

#include <stdint.h>

/* The h2 server's runHandler(sc, rw, ...): where the connection and the stream id are
 * (PT_H2H_OFF: serverConn.conn, responseWriter.rws, responseWriterState.stream,
 * stream.id), in net/http's bundled server (until Go 1.26), then in
 * net/http/internal/http2 (1.27+): {struct, field} per set. */
extern const char *const go_h2_handler_fields[2][4][2];

/* The last Go minor version the table knows (1.N). */
#define GO_OFFSETS_LAST_MINOR 27

/* 0 or -ENOENT (unknown struct, field or version: never a guess). */
int go_offsets__lookup(int major, int minor, const char *struct_name, const char *field,
		       int64_t *off);

#endif
