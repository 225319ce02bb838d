// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* App-function spans; see spans.h. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <bpf/libbpf.h>

#include "attach/binary.h"
#include "attach/go_binary.h"
#include "util/log.h"
#include "phasetrace.skel.h"
#include "attach/spans.h"

#define MAX_SPAN_LINKS 512

struct spans {
	struct bpf_link *links[MAX_SPAN_LINKS];
	int n;
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

static int add(struct spans *s, struct bpf_link *l)
{
	if (!l)
		return -errno;
	if (s->n >= MAX_SPAN_LINKS) {
		bpf_link__destroy(l);
		return -E2BIG;
	}
	s->links[s->n++] = l;
	return 0;
}

static int attach_uprobe(struct spans *s, struct bpf_program *prog, const char *path,
			 uint64_t off, bool ret, int idx)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .retprobe = ret, .bpf_cookie = idx);

	return add(s, bpf_program__attach_uprobe_opts(prog, -1, path, off, &uo));
}

/* Go: entry + every RET, no uretprobe (it would crash the program). */
static int attach_go(struct spans *s, struct phasetrace_bpf *skel, struct go_binary *gb,
		     const struct span_def *d, int idx)
{
	struct go_func fn;
	uint64_t rets[64];
	int n, err;

	err = go_binary__func(gb, d->symbol, &fn);
	if (err) {
		pt_err("no function %s in the Go program %s", d->symbol, d->binary);
		return err;
	}
	n = go_binary__ret_offsets(gb, &fn, rets, 64);
	if (n <= 0) {
		pt_err("cannot find the return instructions of %s in %s; it cannot be timed "
		       "safely", d->symbol, d->binary);
		return n ? n : -ENOENT;
	}
	/* go_span_*: by frame depth, not call counts (morestack re-enters the entry) */
	err = attach_uprobe(s, skel->progs.go_span_entry, d->binary, fn.file_off, false, idx);
	for (int i = 0; i < n && !err; i++)
		err = attach_uprobe(s, skel->progs.go_span_ret_prog, d->binary, rets[i], false, idx);
	pt_info("span %s: %s in Go program %s: entry + %d returns", d->name, d->symbol,
		d->binary, n);
	return err;
}

static int attach_one(struct spans *s, struct phasetrace_bpf *skel, const struct span_def *d,
		      int idx)
{
	struct binary *b;
	struct go_binary *gb;
	struct binary_sym sym;
	struct stat st;
	int fd, err;

	if (stat(d->binary, &st)) {
		pt_err("--probe %s: cannot open %s: %s", d->name, d->binary, strerror(errno));
		return -errno;
	}
	if (d->usdt) {
		LIBBPF_OPTS(bpf_usdt_opts, uo, .usdt_cookie = idx);

		err = add(s, bpf_program__attach_usdt(skel->progs.span_usdt_start, -1, d->binary,
						      d->symbol, d->start, &uo));
		if (!err)
			err = add(s, bpf_program__attach_usdt(skel->progs.span_usdt_end, -1,
							      d->binary, d->symbol, d->end, &uo));
		if (err)
			pt_err("--probe %s: no USDT probes %s:%s and %s:%s in %s", d->name,
			       d->symbol, d->start, d->symbol, d->end, d->binary);
		return err;
	}
	fd = open(d->binary, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || binary__open_fd(fd, NULL, &b)) {
		pt_err("--probe %s: %s is not an ELF executable or library", d->name, d->binary);
		return -ENOEXEC;
	}
	if (!go_binary__new(b, &gb)) {
		err = attach_go(s, skel, gb, d, idx);
		go_binary__free(gb);
		binary__free(b);
		return err;
	}
	err = binary__sym(b, d->symbol, &sym);
	binary__free(b);
	if (err) {
		pt_err("--probe %s: no function %s in %s", d->name, d->symbol, d->binary);
		return err;
	}
	err = attach_uprobe(s, skel->progs.span_entry, d->binary, sym.file_off, false, idx);
	if (!err)
		err = attach_uprobe(s, skel->progs.span_exit_prog, d->binary, sym.file_off, true,
				    idx);
	if (err)
		pt_err("--probe %s: cannot attach to %s in %s: %s", d->name, d->symbol, d->binary,
		       strerror(-err));
	else
		pt_info("span %s: %s in %s", d->name, d->symbol, d->binary);
	return err;
}

int spans__attach(struct phasetrace_bpf *skel, const struct span_def *defs, int n,
		  struct spans **out)
{
	struct spans *s = calloc(1, sizeof(*s));
	int err = 0;

	if (!s)
		return -ENOMEM;
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
	for (int i = 0; i < s->n; i++)
		bpf_link__destroy(s->links[i]);
	free(s);
}
