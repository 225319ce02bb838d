/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * output/: finished requests on a terminal or a pipe: JSON lines (output_json), the
 * waterfall, and the `top` screen. Every name shown on a terminal is sanitised first
 * (util/sanitize.h).
 *
 * `trace` outputs: JSON lines and the human waterfall, as sinks.
 */
#ifndef PT_OUTPUT_H
#define PT_OUTPUT_H

#include <stdint.h>
#include <stdio.h>
#include "assemble/sink.h"

/* One JSON object per line (docs/json.md). Appends to buf; returns length. */
size_t json_format(const struct request *r, char *buf, size_t len);
/* s as a quoted JSON string, escaped as json_format() does ("null" for NULL). */
size_t json_string(const char *s, char *buf, size_t len);

struct output;
struct output *output__new(FILE *f, bool json, bool color, int width);
void output__free(struct output *o);
struct sink output__sink(struct output *o);
/* Flush what was written; for collector__on_tick(). */
void output__tick_cb(void *ctx, uint64_t now);

#endif
