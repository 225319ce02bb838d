// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The Go probe set on Go executables, and go_procs; see goprobes.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "attach/binary.h"
#include "attach/go_binary.h"
#include "attach/go_offsets.h"
#include "attach/goprobes.h"
#include "attach/linkset.h"
#include "attach/probe_table.h"
#include "attach/probes.h"
#include "util/log.h"
#include "phasetrace.skel.h"

#define MAX_RETS 64

/*
 * The sites of one binary's probe set gathered per program when the Go programs are
 * uprobe_multi programs (goprobes__use_multi()): one link per program and binary, so
 * that attaching and, above all, detaching cost one RCU grace period per link rather
 * than per site. NULL: perf-event uprobes, one per site.
 */
struct multi_prog {
	const struct bpf_program *prog;
	uint64_t *offs, *cookies;
	int n, cap;
};

struct multi_batch {
	struct multi_prog p[2 * GO_PROBE__N + 1];
	int nprogs;
};

static bool out_of_budget(int err)
{
	return err == -ETIME || err == -ECANCELED;
}

/* The first of the probe's names that this binary has. */
static int find_func(struct go_binary *gb, const struct go_probe *p, struct go_func *fn)
{
	int err = -ENOENT;

	for (int i = 0; i < 2 && p->names[i]; i++) {
		err = go_binary__func(gb, p->names[i], fn);
		if (!err || out_of_budget(err))
			return err;
	}
	return err;
}

/* -ENODATA if an offset is unknown: the stream's work is then reported on its own. */
static int h2_handler_cookie(struct go_binary *gb, uint64_t *cookie)
{
	for (size_t s = 0; s < 2; s++) {
		const char *const (*f)[2] = go_h2_handler_fields[s];
		uint64_t c = 0;
		int64_t off;
		size_t i;

		for (i = 0; i < 4; i++) {
			if (go_binary__field_offset(gb, f[i][0], f[i][1], &off) || off < 0 ||
			    off > 0xfff0)
				break;
			c |= (uint64_t)off << (16 * i);
		}
		if (i == 4) {
			*cookie = c;
			return 0;
		}
	}
	return -ENODATA;
}

/*
 * Attach cookie: the render the offset of its label, newproc1 the register of its
 * callergp argument (1.17 differs), the h2 server's runHandler the offsets of the
 * stream id and the connection.
 */
static int cookie_for(struct go_binary *gb, const struct go_probe *p, uint64_t *cookie)
{
	int64_t name_off = 0;
	int major = 0, minor = 0;

	*cookie = 0;
	switch (p->cookie) {
	case GO_COOKIE_NONE:
		return 0;
	case GO_COOKIE_NEWPROC:
		if (go_binary__version(gb, &major, &minor))
			return -ENOENT;	/* the argument list differs by version */
		*cookie = (major == 1 && minor == 17) ? 2 : 1;
		return 0;
	case GO_COOKIE_H2_HANDLER:
		return h2_handler_cookie(gb, cookie);
	case GO_COOKIE_TPL:
		break;
	}
	/* the first field in every Go release: stripped binaries have no DWARF to say so */
	if (go_binary__field_offset(gb, "text/template.Template", "name", &name_off) ||
	    name_off < 0 || name_off > 0xfff0)
		name_off = 0;
	*cookie = (uint64_t)name_off;
	return 0;
}

/*
 * Where newproc's closure hands newproc1's result to runqput: there the new g
 * is in RBX (runqput(pp, gp, next)). 0 if the shape differs (then RETs).
 */
static int newproc_child_sites(struct go_binary *gb, uint64_t *offs, int max)
{
	struct go_func closure, runqput;

	if (go_binary__arch(gb) != GO_ARCH_AMD64 ||
	    go_binary__func(gb, "runtime.newproc.func1", &closure) ||
	    go_binary__func(gb, "runtime.runqput", &runqput))
		return 0;
	return go_binary__call_sites(gb, &closure, &runqput, offs, max) == 1 ? 1 : 0;
}

/* The return-side sites of one function: every RET, or newproc1's runqput call. */
static int ret_sites(struct go_binary *gb, const struct go_probe *p, const struct go_func *fn,
		     uint64_t *offs, enum go_site *site)
{
	int n;

	*site = GO_SITE_RET;
	if (!p->returns)
		return 0;
	if (p->id == GO_PROBE_NEWPROC1 && (n = newproc_child_sites(gb, offs, MAX_RETS)) > 0) {
		*site = GO_SITE_RUNQPUT;	/* emulated CALLs, not RETs */
		return n;
	}
	n = go_binary__ret_offsets(gb, fn, offs, MAX_RETS);
	return n ? n : -ENOENT;	/* an entry without its returns would leave calls open */
}

/*
 * The render span's exits without single-steps (docs/go.md "Render: one entry,
 * exits without single-steps"): text/template.(*Template).execute (fn) runs its deferred
 * errRecover on every normal exit (a closure, called through a register: its CALL
 * of errRecover is emulated) and on the panic path calls runtime.deferreturn
 * (emulated) before returning. Those sites, each with its depth below execute's
 * entry (deltas, bits 40-63), or -ENOENT when the code has another shape: then its
 * RETs.
 */
static int render_exits(struct go_binary *gb, const struct go_func *fn, uint64_t *offs,
			uint64_t *deltas)
{
	static const char *const closures[] = { "text/template.(*Template).execute.deferwrap1",
						"text/template.(*Template).execute.func1" };
	struct go_func clo, rec, dret;
	uint64_t f_exec, f_clo;
	int n = -ENOENT, k;

	if (go_binary__func(gb, "text/template.errRecover", &rec) ||
	    go_binary__func(gb, "runtime.deferreturn", &dret) ||
	    go_binary__frame_size(gb, fn, &f_exec))
		return -ENOENT;
	for (size_t i = 0; i < 2 && n == -ENOENT; i++)
		n = go_binary__func(gb, closures[i], &clo);
	if (n || go_binary__frame_size(gb, &clo, &f_clo) ||
	    go_binary__call_sites(gb, &clo, &rec, offs, 1) != 1)
		return -ENOENT;
	deltas[0] = (f_exec + 8 + f_clo) << 40;
	k = go_binary__call_sites(gb, fn, &dret, offs + 1, 4);
	if (k < 1)
		return -ENOENT;
	for (int i = 0; i < k; i++)
		deltas[1 + i] = f_exec << 40;
	return 1 + k;
}

/* Callees that never return (the compiler's bounds-check and panic calls), for the
 * reachability walk of tls_cut_exits(); one missing only makes a path from the entry
 * reach more RETs, which then keep their probes. */
static const char *const go_noreturn[] = {
	"runtime.panicIndex", "runtime.panicIndexU", "runtime.panicSliceAlen",
	"runtime.panicSliceAlenU", "runtime.panicSliceAcap", "runtime.panicSliceAcapU",
	"runtime.panicSliceB", "runtime.panicSliceBU", "runtime.panicSlice3Alen",
	"runtime.panicSlice3AlenU", "runtime.panicSlice3Acap", "runtime.panicSlice3AcapU",
	"runtime.panicSlice3B", "runtime.panicSlice3BU", "runtime.panicSlice3C",
	"runtime.panicSlice3CU", "runtime.panicSliceConvert", "runtime.panicdivide",
	"runtime.panicshift", "runtime.panicmem", "runtime.panicmemAddr",
	"runtime.panicnildottype", "runtime.panicdottypeE", "runtime.panicdottypeI",
	"runtime.panicunsafeslicelen", "runtime.panicunsafeslicenilptr", "runtime.gopanic",
	"runtime.throw", "runtime.fatal", "runtime.panicwrap", "runtime.morestack_noctxt",
	"runtime.morestack",
};
#define N_NORETURN (sizeof(go_noreturn) / sizeof(go_noreturn[0]))

/* The callees that never return, by address, for go_binary__rets_before_cuts(). */
static int noret_addrs(struct go_binary *gb, uint64_t *noret)
{
	struct go_func f;
	int nn = 0;

	for (size_t i = 0; i < N_NORETURN; i++)
		if (!go_binary__func(gb, go_noreturn[i], &f))
			noret[nn++] = f.vaddr;
	return nn;
}

/*
 * The exits of a crypto/tls call at emulated sites (cuts) and the RETs that only
 * follow them dropped: offs[0..ncuts) the cuts (cookies[i]: the site's depth below
 * the entry, the frame, | kinds[i]), then the RETs a path reaches past no cut, which
 * keep their single-stepped probes. A Jcc cut that no RET is behind alone is
 * dropped (kinds[i] PT_GO_TLS_ERR); any other such cut, or a failed analysis: 0,
 * every RET is probed as before. Sites, or 0.
 */
static int tls_cut_exits(struct go_binary *gb, const struct go_func *fn, struct go_cut *cuts,
			 uint64_t *kinds, int ncuts, uint64_t *offs, uint64_t *cookies)
{
	uint64_t frame, noret[N_NORETURN];
	int nn = noret_addrs(gb, noret), m, k = 0;

	if (go_binary__frame_size(gb, fn, &frame))
		return 0;
	m = go_binary__rets_before_cuts(gb, fn, cuts, ncuts, noret, nn, offs + ncuts,
					MAX_RETS - ncuts);
	for (int i = 0; i < ncuts && m >= 0; i++) {
		/* a claiming cut must come before what it claims (not in a loop) */
		if ((!cuts[i].behind && kinds[i] != PT_GO_TLS_ERR) ||
		    (cuts[i].claims && cuts[i].first_behind < cuts[i].off))
			return 0;
		if (!cuts[i].behind)
			continue;
		cuts[k] = cuts[i];
		kinds[k++] = kinds[i];
	}
	if (m < 0 || !k)
		return 0;
	if (k < ncuts)		/* again without the useless Jccs */
		return tls_cut_exits(gb, fn, cuts, kinds, k, offs, cookies);
	for (int i = 0; i < k; i++) {
		offs[i] = cuts[i].off;
		cookies[i] = frame << 40 | kinds[i];
	}
	return k + m;		/* the RETs' cookies stay 0 */
}

/*
 * crypto/tls.(*Conn).Read without a single-step per request (docs/go.md, "crypto/tls:
 * exits without single-steps"): the plaintext leaves through the inlined
 * bytes.(*Reader).Read's CALL runtime.memmove (emulated; destination RAX, plaintext
 * RBX, n RCX): that call ends a Read that returns data (PT_GO_TLS_COPY). A Read that
 * fails in readRecordOrCCS (net/http's background read, every request) ends at the
 * TEST RAX, RAX; Jcc that follows the call, on its error edge (PT_GO_TLS_ERR: RAX is
 * the error's type word). The RETs only those reach get no probe.
 */
static int tls_read_exits(struct go_binary *gb, const struct go_func *fn, uint64_t *offs,
			  uint64_t *cookies)
{
	struct go_cut cuts[GO_MAX_CUTS] = {};
	uint64_t kinds[GO_MAX_CUTS];
	struct go_func mm, rr;
	int n;

	if (go_binary__arch(gb) != GO_ARCH_AMD64 || go_binary__func(gb, "runtime.memmove", &mm) ||
	    go_binary__call_sites(gb, fn, &mm, &cuts[0].off, 1) != 1)
		return 0;
	cuts[0].edge = GO_CUT_ALL;
	cuts[0].claims = true;	/* a path around it copies 0 bytes: unseen, see the doc */
	kinds[0] = PT_GO_TLS_COPY;
	n = go_binary__func(gb, "crypto/tls.(*Conn).readRecordOrCCS", &rr) ? 0 :
	    go_binary__err_tests(gb, fn, &rr, cuts + 1, GO_MAX_CUTS - 1);
	for (int i = 1; i <= n; i++)
		kinds[i] = PT_GO_TLS_ERR;
	return tls_cut_exits(gb, fn, cuts, kinds, 1 + (n > 0 ? n : 0), offs, cookies);
}

/*
 * crypto/tls.(*Conn).Write without a single-step: it ends at the first emulated
 * instruction after its last CALL writeRecordLocked (the data record's, which no other
 * follows; the other writes TLS 1.0's first byte) that leaves RBX as that call returned
 * it, the type word of its error: nil, all of len(b) was written (PT_GO_TLS_WEND). Its
 * RETs only that site reaches get no probe.
 */
static int tls_write_exits(struct go_binary *gb, const struct go_func *fn, uint64_t *offs,
			   uint64_t *cookies)
{
	struct go_cut cut = { .edge = GO_CUT_ALL };
	uint64_t call, kind = PT_GO_TLS_WEND, noret[N_NORETURN];
	struct go_func wr;

	if (go_binary__arch(gb) != GO_ARCH_AMD64 ||
	    go_binary__func(gb, "crypto/tls.(*Conn).writeRecordLocked", &wr) ||
	    go_binary__last_call(gb, fn, &wr, noret, noret_addrs(gb, noret), &call) ||
	    go_binary__site_after_call(gb, fn, call, "rbx", &cut.off))
		return 0;
	return tls_cut_exits(gb, fn, &cut, &kind, 1, offs, cookies);
}

/* One site for prog into the batch. 0 or -ENOMEM. */
static int batch_add(struct multi_batch *mb, const struct bpf_program *prog, uint64_t off,
		     uint64_t cookie)
{
	struct multi_prog *mp = NULL;

	if (!prog)
		return -ENOENT;
	for (int i = 0; i < mb->nprogs && !mp; i++)
		if (mb->p[i].prog == prog)
			mp = &mb->p[i];
	if (!mp) {
		if (mb->nprogs == (int)(sizeof(mb->p) / sizeof(mb->p[0])))
			return -E2BIG;
		mp = &mb->p[mb->nprogs++];
		mp->prog = prog;
	}
	if (mp->n == mp->cap) {
		int cap = mp->cap ? 2 * mp->cap : 16;
		uint64_t *o = realloc(mp->offs, cap * sizeof(*o));

		if (o)
			mp->offs = o;
		o = o ? realloc(mp->cookies, cap * sizeof(*o)) : NULL;
		if (!o)
			return -ENOMEM;
		mp->cookies = o;
		mp->cap = cap;
	}
	mp->offs[mp->n] = off;
	mp->cookies[mp->n++] = cookie;
	return 0;
}

/* The batch's links, all or nothing (path NULL: none); the batch is emptied. 0 or -errno. */
static int batch_flush(struct multi_batch *mb, struct linkset *ls, const char *path)
{
	size_t mark = linkset__mark(ls);
	int err = path ? 0 : -ECANCELED;

	for (int i = 0; i < mb->nprogs; i++) {
		struct multi_prog *mp = &mb->p[i];

		if (!err && mp->n)
			err = linkset__uprobe_multi(ls, mp->prog, path, mp->offs, mp->cookies,
						    mp->n, false);
		free(mp->offs);
		free(mp->cookies);
	}
	if (err && path)
		linkset__rollback(ls, mark);
	memset(mb, 0, sizeof(*mb));
	return path ? err : 0;
}

/* One site: a perf-event uprobe now, or into the batch (mb). */
static int add_site(struct linkset *ls, struct multi_batch *mb, const struct bpf_program *prog,
		    const char *path, uint64_t off, uint64_t cookie)
{
	return mb ? batch_add(mb, prog, off, cookie) : linkset__uprobe(ls, prog, path, off, false,
								       cookie);
}

/* Entry and exits of fn; exit i gets cookie + (exit_cookies ? exit_cookies[i] : 0).
 * With a batch, the sites go into it and nothing is attached yet. */
static int attach_sites(struct linkset *ls, struct multi_batch *mb, struct go_binary *gb,
			const char *path, const struct go_func *fn,
			struct bpf_program *entry_prog, struct bpf_program *exit_prog,
			const uint64_t *exits, const uint64_t *exit_cookies, int n,
			uint64_t cookie)
{
	size_t mark = linkset__mark(ls);
	struct multi_batch before;
	uint64_t entry;
	int err;

	if (mb)
		before = *mb;	/* the counts to go back to (arrays only grow) */
	/* at the stack check's jump: emulated, not single-stepped */
	if (go_binary__body_offset(gb, fn, &entry))
		entry = fn->file_off;
	err = add_site(ls, mb, entry_prog, path, entry, cookie);
	for (int i = 0; i < n && !err; i++)
		err = add_site(ls, mb, exit_prog, path, exits[i],
			       cookie + (exit_cookies ? exit_cookies[i] : 0));
	if (err)
		linkset__rollback(ls, mark);
	for (int i = 0; err && mb && i < mb->nprogs; i++)
		mb->p[i].n = i < before.nprogs ? before.p[i].n : 0;
	return err;
}

int goprobes__attach_func(struct linkset *ls, struct go_binary *gb, const char *path,
			  const struct go_func *fn, struct bpf_program *entry_prog,
			  struct bpf_program *exit_prog, const uint64_t *exits, int n,
			  uint64_t cookie)
{
	return attach_sites(ls, NULL, gb, path, fn, entry_prog, exit_prog, exits, NULL, n, cookie);
}

/* -v: where the probes of one function sit, and which the kernel single-steps */
static void log_sites(struct go_binary *gb, const char *name, const char *func,
		      const struct go_func *fn, const uint64_t *exits, int n)
{
	char buf[512];
	uint64_t entry;
	int len;

	if (!pt_verbose)
		return;
	if (go_binary__body_offset(gb, fn, &entry))
		entry = fn->file_off;
	len = snprintf(buf, sizeof(buf), "entry 0x%llx %s", (unsigned long long)entry,
		       go_binary__site_emulated(gb, entry) ? "emulated" : "sstep");
	for (int i = 0; i < n && len > 0 && (size_t)len < sizeof(buf); i++)
		len += snprintf(buf + len, sizeof(buf) - len, ", exit 0x%llx %s",
				(unsigned long long)exits[i],
				go_binary__site_emulated(gb, exits[i]) ? "emulated" : "sstep");
	pt_info("%s: Go probe sites %s: %s", name, func, buf);
}

/* Entry and return sites of one function, all or nothing. Sites, 0 if the binary
 * has no such function (not linked in, or inlined everywhere), or -errno. */
static int attach_func(const struct phasetrace_bpf *skel, struct go_binary *gb,
		       struct binary *b, struct linkset *ls, struct multi_batch *mb,
		       const struct go_probe *p, const char *name)
{
	uint64_t rets[MAX_RETS], deltas[MAX_RETS] = {}, cookie;
	bool exits_known = false;
	struct go_func fn;
	enum go_site site = GO_SITE_RET;
	int n = 0, err;

	err = find_func(gb, p, &fn);
	if (err)
		return err == -ENOENT ? 0 : err;
	err = cookie_for(gb, p, &cookie);
	if (err)
		return err == -ENODATA ? err : -EPROTO;
	if (p->id == GO_PROBE_TPL_EXECUTE)
		exits_known = (n = render_exits(gb, &fn, rets, deltas)) > 0;
	else if (p->id == GO_PROBE_TLS_READ)
		exits_known = (n = tls_read_exits(gb, &fn, rets, deltas)) > 0;
	else if (p->id == GO_PROBE_TLS_WRITE)
		exits_known = (n = tls_write_exits(gb, &fn, rets, deltas)) > 0;
	if (!exits_known) {
		memset(deltas, 0, sizeof(deltas));
		if ((n = ret_sites(gb, p, &fn, rets, &site)) < 0)
			return n;
	}
	err = attach_sites(ls, mb, gb, binary__attach_path(b), &fn,
			   go_probe_prog(skel, p->id, GO_SITE_ENTRY),
			   go_probe_prog(skel, p->id, site), rets, deltas, n, cookie);
	if (err)
		return err;
	log_sites(gb, name, p->names[0], &fn, rets, n);
	return 1 + n;
}

/* The set (exit_only: runtime.goexit1 alone, which the set leaves out; proc NULL). */
static int attach_set(const struct phasetrace_bpf *skel, struct go_binary *gb, struct binary *b,
		      struct linkset *ls, struct multi_batch *mb, const char *name,
		      const struct pt_go_proc *proc, bool exit_only, struct goprobes_result *res)
{
	for (int i = 0; i < GO_PROBE__N; i++) {
		const struct go_probe *p = &go_probes[i];
		int n;

		/* on demand (goprobes__attach_exit()): a trap per ending goroutine otherwise */
		if ((p->id == GO_PROBE_GOEXIT1) != exit_only)
			continue;
		/* runtime.g.parentGoid (Go >= 1.21) gives the ancestry without it */
		if (p->id == GO_PROBE_NEWPROC1 && proc && proc->parent_goid_off)
			continue;
		n = attach_func(skel, gb, b, ls, mb, p, name);

		if (out_of_budget(n) || binary__over_budget(b))
			return out_of_budget(n) ? n : -ETIME;
		if (!n)
			continue;
		if (n < 0) {
			pt_info("%s: %s: not probed: %s", name, p->names[0],
				n == -EPROTO ? "Go version unknown" :
				n == -ENODATA ? "struct offsets unknown (no DWARF, Go version "
						"not in the built-in table)" :
				n == -EFBIG ? "larger than the per-function limit (a huge or "
					      "hostile binary?)" : strerror(-n));
			res->failed++;
			continue;
		}
		res->funcs++;
		res->sites += n;
	}
	return 0;
}

/*
 * runtime.g's goid and parentGoid of a release newer than the built-in table, without
 * DWARF (a stripped build by a Go that came out after this phasetrace): from
 * runtime.newproc1's code, which copies one into the other. 0 or -ENOENT.
 */
static int g_offsets_newer(struct go_binary *gb, const char *name, int64_t *goid_off,
			   int64_t *parent_off)
{
	int major = 0, minor = 0, err;

	if (go_binary__version(gb, &major, &minor) || major != 1 ||
	    minor <= GO_OFFSETS_LAST_MINOR)
		return -ENOENT;
	err = go_binary__g_offsets_from_code(gb, goid_off, parent_off);
	if (err)
		return -ENOENT;
	pt_info("%s: Go %s is newer than the built-in offsets (1.%d): runtime.g.goid %lld and "
		"parentGoid %lld read from runtime.newproc1's code", name,
		go_binary__version_str(gb), GO_OFFSETS_LAST_MINOR, (long long)*goid_off,
		(long long)*parent_off);
	return 0;
}

/* How to find the goroutine of a process running gb; -ENOTSUP if we cannot. */
static int go_proc_of(struct go_binary *gb, const char *name, struct pt_go_proc *proc)
{
	int64_t goid_off, parent_off = 0;
	bool from_code = false;

	if (!go_binary__regabi(gb) || go_binary__arch(gb) != GO_ARCH_AMD64) {
		pt_info("%s: Go %s on this architecture is not supported (needs Go >= 1.17, amd64)",
			name, go_binary__version_str(gb));
		return -ENOTSUP;
	}
	if (go_binary__field_offset(gb, "runtime.g", "goid", &goid_off)) {
		if (g_offsets_newer(gb, name, &goid_off, &parent_off)) {
			pt_info("%s: Go %s: offset of runtime.g.goid unknown: goroutines not "
				"followed", name, go_binary__version_str(gb));
			return -ENOTSUP;
		}
		from_code = true;
	}
	memset(proc, 0, sizeof(*proc));
	proc->g_tls_off = -8;	/* amd64: runtime.tlsg, the g slot just below fs_base */
	proc->goid_off = goid_off;
	/* Go >= 1.21: the creator's goid in every g (runtime2.go); else newproc1 probes */
	if ((from_code || !go_binary__field_offset(gb, "runtime.g", "parentGoid", &parent_off)) &&
	    parent_off > 0 && parent_off < 4096)
		proc->parent_goid_off = parent_off;
	return 0;
}

/* Every program of the set, each side and site kind (the same program may come twice). */
static size_t set_progs(const struct phasetrace_bpf *skel, struct bpf_program **out, size_t max)
{
	static const enum go_site sites[] = { GO_SITE_ENTRY, GO_SITE_RET, GO_SITE_RUNQPUT };
	size_t n = 0;

	for (int id = 0; id < GO_PROBE__N; id++)
		for (size_t s = 0; s < sizeof(sites) / sizeof(sites[0]); s++) {
			struct bpf_program *prog = go_probe_prog(skel, id, sites[s]);

			if (prog && n < max)
				out[n++] = prog;
		}
	return n;
}

void goprobes__use_multi(const struct phasetrace_bpf *skel)
{
	struct bpf_program *progs[3 * GO_PROBE__N];
	size_t n = set_progs(skel, progs, 3 * GO_PROBE__N);

	for (size_t i = 0; i < n; i++)
		bpf_program__set_expected_attach_type(progs[i], PT_BPF_TRACE_UPROBE_MULTI);
}

/* goprobes__use_multi() was called before the load */
static bool uses_multi(const struct phasetrace_bpf *skel)
{
	struct bpf_program *prog;

	return set_progs(skel, &prog, 1) == 1 &&
	       bpf_program__expected_attach_type(prog) == PT_BPF_TRACE_UPROBE_MULTI;
}

/* The set, or goexit1 alone (proc NULL): all or nothing. */
static int attach_go(const struct phasetrace_bpf *skel, struct binary *b, struct linkset *ls,
		     const char *name, struct pt_go_proc *proc, struct goprobes_result *res)
{
	size_t mark = linkset__mark(ls);
	struct go_binary *gb = NULL;
	struct multi_batch mb = {};
	bool multi = uses_multi(skel);
	int err;

	memset(res, 0, sizeof(*res));
	err = go_binary__new(b, &gb);
	if (err)
		return err == -ENOEXEC ? err : (out_of_budget(err) ? err : -ENOTSUP);
	if (proc) {
		err = go_proc_of(gb, name, proc);
		if (err)
			goto cleanup;
		pt_info("%s: Go %s%s: goroutine-aware tracing", name, go_binary__version_str(gb),
			go_binary__is_stripped(gb) ? " (stripped)" : "");
	}
	err = attach_set(skel, gb, b, ls, multi ? &mb : NULL, name, proc, !proc, res);
	if (multi) {	/* the links now, or the abandoned batch freed */
		int ferr = batch_flush(&mb, ls, err ? NULL : binary__attach_path(b));

		if (ferr)
			pt_info("%s: Go probes not attached: uprobe_multi: %s", name,
				strerror(-ferr));
		err = err ? err : ferr;
	}
	if (err) {
		/* abandoned: nothing half-done stays */
		linkset__rollback(ls, mark);
		memset(res, 0, sizeof(*res));
		goto cleanup;
	}
	if (proc)
		pt_info("%s: Go probes on %d functions (%d sites)", name, res->funcs, res->sites);
	else if (!res->funcs)
		err = -ENOENT;
cleanup:
	go_binary__free(gb);
	return err;
}

int goprobes__attach(const struct phasetrace_bpf *skel, struct binary *b, struct linkset *ls,
		     const char *name, struct pt_go_proc *proc, struct goprobes_result *res)
{
	return attach_go(skel, b, ls, name, proc, res);
}

int goprobes__attach_exit(const struct phasetrace_bpf *skel, struct binary *b,
			  struct linkset *ls, const char *name)
{
	struct goprobes_result res;
	int err = attach_go(skel, b, ls, name, NULL, &res);

	if (!err)
		pt_info("%s: runtime.goexit1 probed: its goroutines keep state", name);
	return err;
}

int goprobes__register(const struct phasetrace_bpf *skel, pid_t pid, const struct pt_go_proc *p)
{
	__u32 key = pid;

	if (bpf_map__update_elem(skel->maps.go_procs, &key, sizeof(key), p, sizeof(*p),
				 BPF_ANY))
		return -errno;
	/* after the update: BPF's "not Go" per connection is stale from now (io.bpf.c) */
	__atomic_fetch_add(&skel->bss->go_procs_gen, 1, __ATOMIC_SEQ_CST);
	return 0;
}

void goprobes__forget_goroutines(const struct phasetrace_bpf *skel, const uint64_t *keys,
				 uint32_t n)
{
	static bool no_batch;	/* the kernel has no BPF_MAP_DELETE_BATCH for it */
	int fd = bpf_map__fd(skel->maps.threads);
	uint32_t i = 0;

	while (i < n && !no_batch) {
		uint32_t count = n - i;

		/* stops at the first key not there: skip it and go on with the rest */
		if (!bpf_map_delete_batch(fd, keys + i, &count, NULL))
			return;
		if (errno != ENOENT) {
			no_batch = count == 0 && (errno == EINVAL || errno == ENOTSUP ||
						  errno == EOPNOTSUPP);
			if (!no_batch)
				return;
		}
		i += count + (errno == ENOENT);
	}
	for (; i < n; i++)
		bpf_map_delete_elem(fd, &keys[i]);
}

void goprobes__forget(const struct phasetrace_bpf *skel, pid_t pid)
{
	__u32 key = pid;

	bpf_map__delete_elem(skel->maps.go_procs, &key, sizeof(key), 0);
	__atomic_fetch_add(&skel->bss->go_procs_gen, 1, __ATOMIC_SEQ_CST);
	bpf_map__delete_elem(skel->maps.go_stw, &key, sizeof(key), 0);
}
