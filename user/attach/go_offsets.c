// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Field offsets of Go structs per Go minor version, for binaries without
 * DWARF (DWARF is read by go_dwarf.c). LP64 layouts (amd64 = arm64).
 *
 * Derived from the Go sources of each release and checked against the DWARF of
 * builds by every toolchain the tests have (1.19, 1.21-1.27: Debian's golang-1.NN-go,
 * tests/unit/test_go_binary.c compares each entry). Beyond the last known minor
 * version (GO_OFFSETS_LAST_MINOR) nothing is returned: a new release may move fields,
 * and a caller must disable a probe rather than read garbage (runtime.g's goid and
 * parentGoid are then read from the binary's code: goprobes.c go_proc_of()).
 */
#include <errno.h>
#include <string.h>

#include "attach/go_offsets.h"

struct go_field_off {
	const char *st;
	const char *field;
	int min_minor, max_minor;	/* inclusive, Go 1.x */
	int64_t off;
};

/*
 * runtime.g.goid: stack(16) stackguard0/1(16) _panic _defer m(24) sched gobuf,
 * syscallsp, syscallpc, [syscallbp 1.23+], stktopsp, param, atomicstatus(4),
 * stackLock(4), goid.
 *   1.17-1.22: gobuf = 7 words (sp pc g ctxt ret lr bp)       -> 152
 *   1.23-1.24: + g.syscallbp                                  -> 160
 *   1.25-1.27: gobuf.ret removed (6 words), syscallbp kept    -> 152
 * runtime.g.parentGoid (new in 1.21, "goid of goroutine that created this
 * goroutine"): 272 in 1.21-1.22, 280 in 1.23-1.24 (syscallbp), 272 in 1.25 (gobuf.ret
 * gone), 280 again from 1.26 (a word more between goid and parentGoid); checked
 * against DWARF of 1.21.13, 1.22.12, 1.23.5, 1.24.4, 1.25.12, 1.26.11, 1.27.4 builds.
 * The rest are first fields or have a stable prefix since before 1.17:
 *   net/http.Request {Method string; URL *url.URL; Proto string; ProtoMajor,
 *     ProtoMinor int; Header; Body io.ReadCloser; GetBody func; ContentLength;
 *     TransferEncoding []string; Close bool; Host string}
 *   net/url.URL {Scheme, Opaque string; User *Userinfo; Host, Path string}
 *   internal/poll.FD {fdmu fdMutex (uint64 + 2x uint32); Sysfd int}
 *   net/http's bundled h2 server (h2_bundle.go, 1.19-1.26):
 *     http2serverConn {srv *http2Server; hs *Server; conn net.Conn}
 *     http2responseWriter {rws *http2responseWriterState}
 *     http2responseWriterState {stream *http2stream}
 *     http2stream {sc *http2serverConn; id uint32}
 *   from 1.27 the same server is package net/http/internal/http2, its serverConn
 *     {srv *Server; hs ServerConfig (an interface: two words); conn net.Conn}
 */
static const struct go_field_off table[] = {
	{ "runtime.g", "goid", 17, 22, 152 },
	{ "runtime.g", "goid", 23, 24, 160 },
	{ "runtime.g", "goid", 25, 27, 152 },
	{ "runtime.g", "m", 17, 27, 48 },
	{ "runtime.g", "parentGoid", 21, 22, 272 },
	{ "runtime.g", "parentGoid", 23, 24, 280 },
	{ "runtime.g", "parentGoid", 25, 25, 272 },
	{ "runtime.g", "parentGoid", 26, 27, 280 },
	{ "net/http.Request", "Method", 17, 27, 0 },
	{ "net/http.Request", "URL", 17, 27, 16 },
	{ "net/http.Request", "Host", 17, 27, 128 },
	{ "net/url.URL", "Host", 17, 27, 40 },
	{ "net/url.URL", "Path", 17, 27, 56 },
	{ "crypto/tls.Conn", "conn", 17, 27, 0 },
	{ "net.conn", "fd", 17, 27, 0 },
	{ "net.netFD", "pfd", 17, 27, 0 },
	{ "internal/poll.FD", "Sysfd", 17, 27, 16 },
	{ "text/template.Template", "name", 17, 27, 0 },
	{ "net/http.http2serverConn", "conn", 19, 26, 16 },
	{ "net/http.http2responseWriter", "rws", 19, 26, 0 },
	{ "net/http.http2responseWriterState", "stream", 19, 26, 0 },
	{ "net/http.http2stream", "id", 19, 26, 8 },
	{ "net/http/internal/http2.serverConn", "conn", 27, 27, 24 },
	{ "net/http/internal/http2.responseWriter", "rws", 27, 27, 0 },
	{ "net/http/internal/http2.responseWriterState", "stream", 27, 27, 0 },
	{ "net/http/internal/http2.stream", "id", 27, 27, 8 },
};

const char *const go_h2_handler_fields[2][4][2] = {
	{ { "net/http.http2serverConn", "conn" },
	  { "net/http.http2responseWriter", "rws" },
	  { "net/http.http2responseWriterState", "stream" },
	  { "net/http.http2stream", "id" } },
	{ { "net/http/internal/http2.serverConn", "conn" },
	  { "net/http/internal/http2.responseWriter", "rws" },
	  { "net/http/internal/http2.responseWriterState", "stream" },
	  { "net/http/internal/http2.stream", "id" } },
};

int go_offsets__lookup(int major, int minor, const char *struct_name, const char *field,
		       int64_t *off)
{
	if (major != 1)
		return -ENOENT;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		const struct go_field_off *e = &table[i];

		if (minor < e->min_minor || minor > e->max_minor || strcmp(e->st, struct_name) ||
		    strcmp(e->field, field))
			continue;
		*off = e->off;
		return 0;
	}
	return -ENOENT;
}
