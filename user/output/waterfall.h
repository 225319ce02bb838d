/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Human-readable waterfall of one request (and its children). */
#ifndef PT_WATERFALL_H
#define PT_WATERFALL_H

#include <stdbool.h>
#include <stdio.h>
#include "assemble/request.h"

typedef void (*waterfall_emit_fn)(void *ctx, const char *line);

/* Render r as lines of at most width columns (no trailing newline). */
void waterfall__render(const struct request *r, int width, bool color,
		       waterfall_emit_fn emit, void *ctx);
/* Convenience: render to a stdio stream, one request followed by a blank line. */
void waterfall__print(FILE *f, const struct request *r, int width, bool color);

#endif
