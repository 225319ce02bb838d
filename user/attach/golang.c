// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Go executables and the processes running them; see golang.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "attach/binary.h"
#include "attach/go_binary.h"
#include "attach/golang.h"
#include "util/log.h"
#include "phasetrace.h"
#include "phasetrace.skel.h"

#define MAX_GO_FILES 1024
#define MAX_RETS 64

/* attach cookie of go_render_entry (bpf/go.bpf.c) */
#define TPL_TEXT_EXECUTE	0
#define TPL_HTML_EXECUTE	1
#define TPL_EXECUTE_TEMPLATE	2

/*
 * The Go probe set. Each function gets an entry uprobe and, when ret is set,
 * a uprobe on every RET instruction (uretprobes crash Go programs). A name
 * list "a|b" takes the first that exists. Optional functions (dead code in
 * programs that do not use them) are skipped quietly.
 */
struct go_probe_def {
	const char *funcs;
	const char *entry, *ret;	/* program names */
	int cookie;			/* TPL_* for templates; see cookie_for() */
};

static const struct go_probe_def go_defs[] = {
	/* handshakeContext: HandshakeContext is a one-line wrapper that may be inlined */
	{ "crypto/tls.(*Conn).handshakeContext|crypto/tls.(*Conn).HandshakeContext",
	  "go_tls_handshake_entry", "go_tls_ret" },
	{ "crypto/tls.(*Conn).Read", "go_tls_read_entry", "go_tls_ret" },
	{ "crypto/tls.(*Conn).Write", "go_tls_write_entry", "go_tls_ret" },
	{ "html/template.(*Template).Execute", "go_render_entry", "go_render_ret",
	  TPL_HTML_EXECUTE },
	{ "html/template.(*Template).ExecuteTemplate", "go_render_entry", "go_render_ret",
	  TPL_EXECUTE_TEMPLATE },
	{ "text/template.(*Template).Execute", "go_render_entry", "go_render_ret",
	  TPL_TEXT_EXECUTE },
	{ "text/template.(*Template).ExecuteTemplate", "go_render_entry", "go_render_ret",
	  TPL_EXECUTE_TEMPLATE },
	{ "net.(*Resolver).lookupIPAddr", "go_dns_entry", "go_dns_ret" },
	{ "runtime.newproc1", "go_newproc_entry", "go_newproc_ret" },
	{ "runtime.goexit1", "go_goexit_entry", NULL },
	{ "net/http.(*Transport).roundTrip", "go_http_roundtrip_entry", NULL },
	{ "net/http.(*Request).write", "go_http_reqwrite_entry", NULL },
};

struct go_file {
	dev_t dev;
	ino_t ino;
	bool is_go;
	struct pt_go_proc proc;	/* what each process of this binary registers */
};

struct golang {
	struct phasetrace_bpf *skel;
	struct go_file files[MAX_GO_FILES];
	int nfiles;
	int nbinaries, attached, failed;
	struct bpf_link **links;
	int nlinks, caplinks;
};

struct golang *golang__new(struct phasetrace_bpf *skel)
{
	struct golang *g = calloc(1, sizeof(*g));

	if (g)
		g->skel = skel;
	return g;
}

void golang__free(struct golang *g)
{
	if (!g)
		return;
	for (int i = 0; i < g->nlinks; i++)
		bpf_link__destroy(g->links[i]);
	free(g->links);
	free(g);
}

void golang__counts(const struct golang *g, int *binaries, int *attached, int *failed)
{
	*binaries = g->nbinaries;
	*attached = g->attached;
	*failed = g->failed;
}

static struct go_file *file_get(struct golang *g, const struct stat *st, bool *fresh)
{
	*fresh = false;
	for (int i = 0; i < g->nfiles; i++)
		if (g->files[i].dev == st->st_dev && g->files[i].ino == st->st_ino)
			return &g->files[i];
	if (g->nfiles >= MAX_GO_FILES)
		return NULL;
	*fresh = true;
	memset(&g->files[g->nfiles], 0, sizeof(g->files[0]));
	g->files[g->nfiles].dev = st->st_dev;
	g->files[g->nfiles].ino = st->st_ino;
	return &g->files[g->nfiles++];
}

static int add_link(struct golang *g, struct bpf_link *l)
{
	if (g->nlinks == g->caplinks) {
		int cap = g->caplinks ? g->caplinks * 2 : 64;
		struct bpf_link **n = realloc(g->links, cap * sizeof(*n));

		if (!n) {
			bpf_link__destroy(l);
			return -ENOMEM;
		}
		g->links = n;
		g->caplinks = cap;
	}
	g->links[g->nlinks++] = l;
	return 0;
}

static int attach_at(struct golang *g, const char *path, const char *prog_name, uint64_t off,
		     uint64_t cookie)
{
	struct bpf_program *prog = bpf_object__find_program_by_name(g->skel->obj, prog_name);
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .bpf_cookie = cookie);
	struct bpf_link *l;

	if (!prog)
		return -ENOENT;
	l = bpf_program__attach_uprobe_opts(prog, -1, path, off, &uo);
	if (!l)
		return -errno;
	return add_link(g, l);
}

/* First name of "a|b|c" that this binary has. */
static int find_func(struct go_binary *gb, const char *names, struct go_func *fn,
		     char *found, size_t len)
{
	const char *p = names;

	while (*p) {
		const char *bar = strchr(p, '|');
		size_t n = bar ? (size_t)(bar - p) : strlen(p);

		snprintf(found, len, "%.*s", (int)n, p);
		if (!go_binary__func(gb, found, fn))
			return 0;
		p += n + (bar ? 1 : 0);
	}
	return -ENOENT;
}

/*
 * Attach cookie: templates carry the field offsets their label needs,
 * newproc1 the register of its callergp argument (1.17 differs).
 */
static int cookie_for(struct go_binary *gb, const struct go_probe_def *d, uint64_t *cookie)
{
	int major = 0, minor = 0;
	int64_t text_off = 0, name_off = 0;

	*cookie = d->cookie;
	if (!strcmp(d->entry, "go_newproc_entry")) {
		if (go_binary__version(gb, &major, &minor))
			return -ENOENT;	/* the argument list differs by version */
		*cookie = (major == 1 && minor == 17) ? 2 : 1;
		return 0;
	}
	if (strcmp(d->entry, "go_render_entry") || d->cookie == TPL_EXECUTE_TEMPLATE)
		return 0;
	/* labels are optional: without the offsets, "render" comes without one */
	if (go_binary__field_offset(gb, "text/template.Template", "name", &name_off))
		name_off = 0;
	if (d->cookie == TPL_HTML_EXECUTE &&
	    go_binary__field_offset(gb, "html/template.Template", "text", &text_off))
		return 0;
	*cookie |= (uint64_t)(text_off & 0xffff) << 8 | (uint64_t)(name_off & 0xffff) << 24;
	return 0;
}

/*
 * Where newproc's closure hands newproc1's result to runqput: there the new g
 * is in RBX (runqput(pp, gp, next)). 0 if the shape differs (then RETs).
 */
static int newproc_child_sites(struct go_binary *gb, uint64_t *offs, int max)
{
	struct go_func closure, runqput;
	int n;

	if (go_binary__arch(gb) != GO_ARCH_AMD64 ||
	    go_binary__func(gb, "runtime.newproc.func1", &closure) ||
	    go_binary__func(gb, "runtime.runqput", &runqput))
		return 0;
	n = go_binary__call_sites(gb, &closure, &runqput, offs, max);
	return n == 1 ? 1 : 0;
}

/* Entry and every RET of each function of the Go probe set that this binary has. */
static void attach_go_probes(struct golang *g, struct go_binary *gb, const char *path)
{
	int funcs = 0, sites = 0;

	for (size_t i = 0; i < sizeof(go_defs) / sizeof(go_defs[0]); i++) {
		const struct go_probe_def *d = &go_defs[i];
		uint64_t rets[MAX_RETS], cookie, entry;
		struct go_func fn;
		char name[128];
		const char *ret_prog = d->ret;
		int n = 0, err, before;

		if (find_func(gb, d->funcs, &fn, name, sizeof(name)))
			continue;	/* not linked in (or inlined everywhere) */
		if (cookie_for(gb, d, &cookie)) {
			pt_info("%s: %s: Go version unknown, not probed", path, name);
			continue;
		}
		if (d->ret && !strcmp(d->entry, "go_newproc_entry") &&
		    (n = newproc_child_sites(gb, rets, MAX_RETS)) > 0) {
			ret_prog = "go_newproc_runqput";	/* emulated CALLs, not RETs */
		} else if (d->ret) {
			n = go_binary__ret_offsets(gb, &fn, rets, MAX_RETS);
			if (n <= 0) {
				/* an entry without its returns would leave calls open */
				pt_info("%s: %s: return instructions not found (%s), not probed",
					path, name, strerror(n ? -n : ENOENT));
				g->failed++;
				continue;
			}
		}
		/* at the stack check's jump: emulated, not single-stepped */
		if (go_binary__body_offset(gb, &fn, &entry))
			entry = fn.file_off;
		before = g->nlinks;
		err = attach_at(g, path, d->entry, entry, cookie);
		for (int r = 0; r < n && !err; r++)
			err = attach_at(g, path, ret_prog, rets[r], cookie);
		if (err) {
			/* all or nothing: an entry without its returns leaves calls open */
			while (g->nlinks > before)
				bpf_link__destroy(g->links[--g->nlinks]);
			pt_info("cannot attach to %s in %s: %s", name, path, strerror(-err));
			g->failed++;
			continue;
		}
		funcs++;
		sites += 1 + n;
	}
	g->attached += sites;
	pt_info("%s: Go probes on %d functions (%d sites)", path, funcs, sites);
}

/* path analysed through one held fd (binary.h); NULL if it is not Go. */
static struct go_binary *go_open(const char *path, struct binary **b)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct go_binary *gb;

	*b = NULL;
	if (fd < 0 || binary__open_fd(fd, NULL, b))
		return NULL;
	if (go_binary__new(*b, &gb)) {
		binary__free(*b);
		*b = NULL;
		return NULL;
	}
	return gb;
}

/* First sight of a binary: is it Go, and how to find its goroutines. */
static void analyse(struct golang *g, struct go_file *f, const char *path)
{
	struct binary *b;
	struct go_binary *gb = go_open(path, &b);
	int64_t goid_off;
	int major = 0, minor = 0;

	if (!gb)
		return;
	go_binary__version(gb, &major, &minor);
	if (!go_binary__regabi(gb) || go_binary__arch(gb) != GO_ARCH_AMD64) {
		pt_info("%s: Go %s on this architecture is not supported (needs Go >= 1.17, amd64)",
			path, go_binary__version_str(gb));
		go_binary__free(gb);
		binary__free(b);
		return;
	}
	if (go_binary__field_offset(gb, "runtime.g", "goid", &goid_off)) {
		pt_info("%s: Go %s: offset of runtime.g.goid unknown: goroutines not followed",
			path, go_binary__version_str(gb));
		go_binary__free(gb);
		binary__free(b);
		return;
	}
	f->is_go = true;
	f->proc.g_tls_off = -8;	/* amd64: runtime.tlsg, the g slot just below fs_base */
	f->proc.goid_off = goid_off;
	g->nbinaries++;
	pt_info("%s: Go %s%s: goroutine-aware tracing", path, go_binary__version_str(gb),
		go_binary__is_stripped(gb) ? " (stripped)" : "");
	attach_go_probes(g, gb, path);
	go_binary__free(gb);
	binary__free(b);
}

int golang__consider_exe(struct golang *g, const char *exe_path, pid_t pid)
{
	struct go_file *f;
	struct stat st;
	bool fresh;
	__u32 key = pid;

	if (stat(exe_path, &st))
		return -errno;
	f = file_get(g, &st, &fresh);
	if (!f)
		return -ENOSPC;
	if (fresh)
		analyse(g, f, exe_path);
	if (!f->is_go)
		return -ENOEXEC;
	if (bpf_map__update_elem(g->skel->maps.go_procs, &key, sizeof(key), &f->proc,
				 sizeof(f->proc), BPF_ANY))
		return -errno;
	return 0;
}

void golang__proc_exit(struct golang *g, pid_t pid)
{
	__u32 key = pid;

	bpf_map__delete_elem(g->skel->maps.go_procs, &key, sizeof(key), 0);
}
