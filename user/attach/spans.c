// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* App-function spans; see spans.h. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include "attach/binary.h"
#include "attach/go_binary.h"
#include "attach/goprobes.h"
#include "attach/linkset.h"
#include "util/log.h"
#include "phasetrace.skel.h"
#include "attach/spans.h"

struct spans {
	struct linkset *links;
};

static int copy_field(char *dst, size_t len, const char *from, const char *to)
{
	size_t n = to - from;

	if (!n || n >= len)
		return -EINVAL;
	memcpy(dst, from, n);
	dst[n] = 0;
	return 0;
}

int span_def_parse(const char *arg, struct span_def *d, char *err, size_t errlen)
{
	const char *eq = strchr(arg, '='), *p;

	memset(d, 0, sizeof(*d));
	if (!eq || copy_field(d->name, sizeof(d->name), arg, eq)) {
		snprintf(err, errlen, "--probe '%s' must be NAME=BINARY:SYMBOL or "
			 "NAME=usdt:BINARY:PROVIDER:START:END", arg);
		return -EINVAL;
	}
	for (p = d->name; *p; p++) {
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-') {
			snprintf(err, errlen, "--probe name '%s' may only use letters, digits, "
				 "'_' and '-'", d->name);
			return -EINVAL;
		}
	}
	p = eq + 1;
	if (!strncmp(p, "usdt:", 5)) {
		/* usdt:BINARY:PROVIDER:START:END; BINARY has no ':' */
		const char *b = p + 5, *c1 = strchr(b, ':'), *c2, *c3;

		d->usdt = true;
		c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		c3 = c2 ? strchr(c2 + 1, ':') : NULL;
		if (!c3 || strchr(c3 + 1, ':') || copy_field(d->binary, sizeof(d->binary), b, c1) ||
		    copy_field(d->symbol, sizeof(d->symbol), c1 + 1, c2) ||
		    copy_field(d->start, sizeof(d->start), c2 + 1, c3) ||
		    copy_field(d->end, sizeof(d->end), c3 + 1, c3 + 1 + strlen(c3 + 1))) {
			snprintf(err, errlen, "--probe '%s': a USDT span is "
				 "NAME=usdt:BINARY:PROVIDER:START_PROBE:END_PROBE", arg);
			return -EINVAL;
		}
		return 0;
	}
	{
		/* BINARY:SYMBOL, split at the last ':' (Go symbols have none) */
		const char *c = strrchr(p, ':');

		if (!c || copy_field(d->binary, sizeof(d->binary), p, c) ||
		    copy_field(d->symbol, sizeof(d->symbol), c + 1, c + 1 + strlen(c + 1))) {
			snprintf(err, errlen, "--probe '%s' must be NAME=BINARY:SYMBOL", arg);
			return -EINVAL;
		}
	}
	return 0;
}

/* Go: entry + every RET, no uretprobe (it would crash the program). */
static int attach_go(struct spans *s, struct phasetrace_bpf *skel, struct binary *b,
		     const struct span_def *d, int idx)
{
	const char *path = binary__attach_path(b);
	struct go_binary *gb = NULL;
	struct go_func fn;
	uint64_t rets[64];
	int n, err;

	err = go_binary__new(b, &gb);
	if (err) {
		pt_err("--probe %s: %s is a Go program whose function tables phasetrace cannot "
		       "read (%s), so the returns of %s cannot be found and a uretprobe would "
		       "crash it", d->name, d->binary,
		       err == -ENOEXEC ? "no usable .gopclntab" : strerror(-err), d->symbol);
		return err == -ENOEXEC ? -ENOTSUP : err;
	}
	err = go_binary__func(gb, d->symbol, &fn);
	if (err) {
		pt_err("no function %s in the Go program %s", d->symbol, d->binary);
		goto cleanup;
	}
	n = go_binary__ret_offsets(gb, &fn, rets, 64);
	if (n <= 0) {
		pt_err("cannot find the return instructions of %s in %s; it cannot be timed "
		       "safely", d->symbol, d->binary);
		err = n ? n : -ENOENT;
		goto cleanup;
	}
	/* go_span_*: by frame depth, not call counts (morestack re-enters the entry) */
	err = goprobes__attach_func(s->links, gb, path, &fn, skel->progs.go_span_entry,
				    skel->progs.go_span_ret_prog, rets, n, idx);
	if (err)
		pt_err("--probe %s: cannot attach to %s in %s: %s", d->name, d->symbol, d->binary,
		       strerror(-err));
	else
		pt_info("span %s: %s in Go program %s: entry + %d returns", d->name, d->symbol,
			d->binary, n);
cleanup:
	go_binary__free(gb);
	return err;
}

static int attach_usdt(struct spans *s, struct phasetrace_bpf *skel, struct binary *b,
		       const struct span_def *d, int idx)
{
	LIBBPF_OPTS(bpf_usdt_opts, uo, .usdt_cookie = idx);
	const char *path = binary__attach_path(b);
	int err;

	errno = 0;
	err = linkset__add(s->links, bpf_program__attach_usdt(skel->progs.span_usdt_start, -1,
							      path, d->symbol, d->start, &uo), 1);
	if (!err) {
		errno = 0;
		err = linkset__add(s->links, bpf_program__attach_usdt(skel->progs.span_usdt_end,
								      -1, path, d->symbol, d->end,
								      &uo), 1);
	}
	if (err)
		pt_err("--probe %s: no USDT probes %s:%s and %s:%s in %s", d->name, d->symbol,
		       d->start, d->symbol, d->end, d->binary);
	return err;
}

/* Native code: entry uprobe and uretprobe. */
static int attach_native(struct spans *s, struct phasetrace_bpf *skel, struct binary *b,
			 const struct span_def *d, int idx)
{
	const char *path = binary__attach_path(b);
	struct binary_sym sym;
	int err;

	err = binary__sym(b, d->symbol, &sym);
	if (err) {
		pt_err("--probe %s: no function %s in %s", d->name, d->symbol, d->binary);
		return err;
	}
	err = linkset__uprobe(s->links, skel->progs.span_entry, path, sym.file_off, false, idx);
	if (!err)
		err = linkset__uprobe(s->links, skel->progs.span_exit_prog, path, sym.file_off,
				      true, idx);
	if (err)
		pt_err("--probe %s: cannot attach to %s in %s: %s", d->name, d->symbol, d->binary,
		       strerror(-err));
	else
		pt_info("span %s: %s in %s", d->name, d->symbol, d->binary);
	return err;
}

/* The operator's binary, opened once; the same descriptor is read and attached. */
static int attach_one(struct spans *s, struct phasetrace_bpf *skel, const struct span_def *d,
		      int idx)
{
	int fd = open(d->binary, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	struct binary *b = NULL;
	int err;

	if (fd < 0) {
		err = -errno;
		pt_err("--probe %s: cannot open %s: %s", d->name, d->binary, strerror(-err));
		return err;
	}
	err = binary__open_fd(fd, NULL, &b);
	if (err) {
		pt_err("--probe %s: %s is not an ELF executable or library (%s)", d->name,
		       d->binary, strerror(-err));
		return err;
	}
	if (d->usdt)
		err = attach_usdt(s, skel, b, d, idx);
	else if (binary__has_go_marker(b))
		err = attach_go(s, skel, b, d, idx);
	else
		err = attach_native(s, skel, b, d, idx);
	binary__free(b);
	return err;
}

int spans__attach(struct phasetrace_bpf *skel, const struct span_def *defs, int n,
		  struct spans **out)
{
	struct spans *s = calloc(1, sizeof(*s));
	int err = 0;

	if (!s || !(s->links = linkset__new())) {
		free(s);
		return -ENOMEM;
	}
	for (int i = 0; i < n && !err; i++)
		err = attach_one(s, skel, &defs[i], i);
	if (err) {
		spans__free(s);
		return err;
	}
	*out = s;
	return 0;
}

void spans__free(struct spans *s)
{
	if (!s)
		return;
	linkset__free(s->links);
	free(s);
}
