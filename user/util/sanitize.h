/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * util/: helpers every stage uses (log, sanitize, u64map).
 *
 * sanitize: strings a traced process or the network chose, made safe to print on a
 * terminal.
 *
 * Every string that came from outside (comm, host, method, path, span and template
 * labels, file names read from /proc or from a binary, anything quoted in a message)
 * goes through pt_sanitize() before it reaches a terminal. Where that happens:
 *   - stderr: pt_err/pt_warn/pt_info (util/log.c) sanitise the whole formatted message,
 *     and main.c's libbpf print callback does the same; callers need not.
 *   - the waterfall (output/waterfall.c) sanitises each field it prints; `top`
 *     (output/top.c) sanitises its cells and the slowest request's line.
 *   - anything new that writes to a terminal must call it too.
 * JSON (output/output_json.c) and Prometheus text (export/metrics_expo.c) escape by their
 * own grammar instead and do not use this.
 */
#ifndef PT_SANITIZE_H
#define PT_SANITIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Escape every non-ASCII byte too: for terminals not known to decode UTF-8 (an 8-bit
 * terminal reads a UTF-8 continuation byte 0x9b as CSI) and fixed-width columns. */
#define PT_SAN_ASCII	1u
/* Keep '\n' and '\t' (multi-line text such as libbpf's log); other controls are escaped. */
#define PT_SAN_NEWLINES	2u

/*
 * Copies src into dst (dstlen bytes, always NUL-terminated when dstlen > 0) with printable
 * ASCII and valid UTF-8 of printable characters unchanged, and visible escapes for the rest:
 * C0 controls, ESC, DEL and bytes that are not valid UTF-8 become "\xNN"; C1 controls
 * (U+0080-U+009F) and the bidirectional and line-separator formatting characters
 * (U+061C, U+200E-U+200F, U+2028-U+202E, U+2066-U+2069) become "\uNNNN". Output that does
 * not fit is cut before a whole character or escape, never inside one. Returns dst.
 */
char *pt_sanitize(char *dst, size_t dstlen, const char *src, unsigned flags);
/* The same for srclen bytes of src, which may hold NULs (escaped as \x00). Returns the
 * length written to dst. */
size_t pt_sanitize_mem(char *dst, size_t dstlen, const char *src, size_t srclen,
		       unsigned flags);

/*
 * Decodes one UTF-8 character from the n bytes at s (n >= 1) into *cp. Returns its length
 * (1-4), or 0 if s does not start with a valid, shortest-form encoding of a scalar value
 * (overlong forms, surrogates, values over U+10FFFF and cut sequences are invalid).
 */
int pt_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* A character that steers a terminal or the reading order of a line: C0 controls, DEL,
 * C1 controls and the bidirectional and line-separator formatting characters above. */
bool pt_unicode_is_control(uint32_t cp);

#endif
