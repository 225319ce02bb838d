/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Messages for the operator: one sentence per problem; details only with -v. */
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

#endif
