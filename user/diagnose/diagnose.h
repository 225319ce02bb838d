/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * diagnose/: finished requests in, verdicts out (`phasetrace diagnose`).
 *
 * A sink of the assembler. Server requests are grouped per endpoint (process, method
 * and path with id segments folded to ":id"), top-level client requests per client
 * process. Per group: where the time goes (exclusive phase shares, p50/p95 of each)
 * and the findings of docs/diagnose.md, each counted per request so that a finding
 * is reported only when it holds for a stated share of the group's requests.
 * Memory is bounded: at most DIAG_MAX_GROUPS groups (requests of further groups are
 * counted, not kept), fixed-size per-group tables.
 */
#ifndef PT_DIAGNOSE_H
#define PT_DIAGNOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "assemble/sink.h"

#define DIAG_MAX_GROUPS		64
#define DIAG_ENDPOINT_LEN	(PT_METHOD_LEN + PT_PATH_LEN + 8)

/*
 * "/users/1234/orders/9f86d081884c7d65" -> "/users/:id/orders/:id": a segment of
 * decimal digits, of 8 or more hex digits with at least one digit, or a UUID
 * (8-4-4-4-12 hex digits) becomes ":id". Pure; out always NUL-terminated.
 * Returns strlen(out).
 */
size_t diag_fold_path(const char *path, char *out, size_t len);

struct diagnose;

struct diagnose *diagnose__new(void);
void diagnose__free(struct diagnose *d);	/* NULL-safe */
/* Feed one finished top-level request (what the sink does). */
void diagnose__add(struct diagnose *d, const struct request *r);
struct sink diagnose__sink(struct diagnose *d);
/* Requests seen so far (kept in a group or counted as overflow). */
uint64_t diagnose__seen(const struct diagnose *d);

/* The report: readable at 80 columns, or one JSON object per finding and line. */
void diagnose__report(struct diagnose *d, FILE *f, bool json);

#endif
