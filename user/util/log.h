/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * util/: helpers every stage uses (log, sanitize, u64map).
 *
 * log: messages for the operator, one sentence per problem; details only with -v.
 * Each message is sanitised as a whole (util/sanitize.h) before it reaches stderr, so
 * callers may quote names and paths a traced process chose.
 */
#ifndef PT_LOG_H
#define PT_LOG_H

#include <stdarg.h>
#include <stdbool.h>

extern bool pt_verbose;

/* "phasetrace: <msg>" on stderr */
void pt_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pt_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* only with -v */
void pt_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "phasetrace: <prefix><msg>" on stderr, sanitised and cut at 2 KiB: for callers such as
 * libbpf's print callback that hold a va_list */
void pt_vprint(const char *prefix, const char *fmt, va_list ap);

#endif
