/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * --probe NAME=BINARY:SYMBOL and --probe NAME=usdt:BINARY:PROVIDER:START:END:
 * parsing, checking and attaching app-function spans. A file with any Go
 * marker gets entry and return-instruction uprobes, never a uretprobe; if its
 * Go tables cannot be read, the span is refused. The binary is opened once and
 * attached through that descriptor (binary.h).
 */
#ifndef PT_SPANS_H
#define PT_SPANS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include "phasetrace.h"

#define SPAN_GO_RENDER	(PT_MAX_SPANS - 1)	/* built-in Go template render span */
#define MAX_USER_SPANS	(PT_MAX_SPANS - 1)

struct span_def {
	char name[24];
	bool usdt;
	char binary[PATH_MAX];
	char symbol[256];	/* function, or USDT provider */
	char start[64], end[64];	/* USDT probe names */
};

/* 0, or -EINVAL with a sentence for the operator in err. */
int span_def_parse(const char *arg, struct span_def *out, char *err, size_t errlen);

struct phasetrace_bpf;
struct spans;

/* Checks binaries and symbols and attaches; one message and -errno on failure. */
int spans__attach(struct phasetrace_bpf *skel, const struct span_def *defs, int n,
		  struct spans **out);
void spans__free(struct spans *s);

#endif
