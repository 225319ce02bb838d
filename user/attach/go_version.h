/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The Go version of a binary, for go_binary: from .go.buildinfo like `go
 * version` does, else (build info removed by a post-processor, Go < 1.13)
 * from runtime.buildVersion, found by its symbol, by runtime.schedinit's
 * reference to it, or as a Go string in data; as a last resort the "go1.N"
 * text in read-only data. Hostile input: every read is bounded and checked.
 */
#ifndef PT_GO_VERSION_H
#define PT_GO_VERSION_H

#include "attach/go_binary.h"

struct go_version {
	char str[64];		/* "go1.19.8", "" if unknown */
	int major, minor;	/* 0, 0 if unknown */
	enum go_version_src src;
};

/* .go.buildinfo: 0, -ENOENT (no build info: not proof of anything), -EINVAL, -ENOTSUP */
int go_version__buildinfo(struct binary *b, struct go_version *v);
/* The fallbacks, in order; 0 or -ENOENT; -ETIME / -ECANCELED from the budget. */
int go_version__recover(struct go_binary *gb, struct go_version *v);
/* Parses "go1.N..." anywhere in s (len bytes) into v; false if none. */
bool go_version__parse(struct go_version *v, const char *s, size_t len, enum go_version_src src);

#endif
