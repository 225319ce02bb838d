// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The event loop: the ring buffer is read on a 100 ms timer (the BPF side
 * wakes us early only when a lot is queued), requests whose connection went
 * quiet are flushed from the BPF connection table, and the assembler releases
 * finished timelines to the sinks, in batches with the rings read in between.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "assemble/assembler.h"
#include "assemble/h2.h"
#include "collect/collector.h"
#include "export/kagg.h"
#include "util/log.h"
#include "phasetrace.skel.h"
#include "attach/goprobes.h"
#include "attach/hold.h"
#include "attach/probes.h"
#include "attach/targets.h"
#include "attach/worker.h"
#include "util/u64map.h"
#include "util/clock.h"

#define TICK_MS		100
#define TICK_NS		(TICK_MS * 1000000ULL)
#define RELEASE_BATCH	1024	/* records released between two reads of the rings */
#define MAX_CBS		8
#define MAX_PARENTS	256
#define MAX_ENDED_GS	1024	/* h2 handler goroutines to forget, per batch */
/* Analysis of one binary: CPU time, then it is skipped (-v says so, counted). */
#define BINARY_BUDGET_NS	1000000000ULL
/*
 * "ready" means the running processes are attached: it waits for the initial
 * scan, at most this long (a host with thousands of distinct binaries, or
 * perf-event uprobes that attach slowly: each registration waits for RCU, and
 * a CI run saw 43 Go sites take over 10 s), then the scan goes on in the background. Hostile files cost nothing (never
 * opened by name, never blocking) and each binary is bounded by its budget.
 */
#define INITIAL_SCAN_WAIT_NS	25000000000ULL
/* A new program waits at most this long at exec for its probes (hold.h, --hold-ms). */
#define DEFAULT_HOLD_MS		500

int64_t pt_mono_to_epoch_ns;

struct fd_cb {
	int fd;
	collector_cb cb;
	void *ctx;
};

/* A walk of idle_watch in batches (flush_idle(), watch_next()) */
#define IDLE_BATCH	256
struct watch_walk {
	int fd;
	bool started, done;
	bool cut;		/* stopped before the end (an error, or over budget) */
	__u64 token;		/* where the next batch starts (a bucket, for a hash) */
	__u32 n, i;
	int budget;		/* batches: bounds the walk */
	__u64 keys[IDLE_BATCH];
	struct pt_idle vals[IDLE_BATCH];
};

struct collector {
	struct collector_opts o;
	struct probes *probes;
	struct targets *targets;
	struct worker *worker;	/* discovery and attach, off this loop */
	struct hold *hold;	/* new programs stopped at exec until attached */
	volatile int cancel;	/* stops the worker's analysis (binary_limits) */
	struct assembler *asm_;
	struct h2 *h2;		/* HTTP/2 streams, handed to asm_ */
	struct ring_buffer *rb;
	struct spans *spans;
	int epfd, sigfd;
	bool stop;
	uint64_t events_read;
	uint64_t idle_flushed;
	/* the idle sweep (flush_idle()): the responses started before the last one began,
	 * when it began, and when the first request it left becomes due (UINT64_MAX: none) */
	uint64_t idle_resp_starts, idle_swept_at, idle_next_due;
	uint64_t idle_sweeps, idle_skipped;
	struct watch_walk walk;	/* its buffers (6 KiB) */
	struct fd_cb ticks[MAX_CBS];
	int nticks;
	struct fd_cb fds[MAX_CBS];
	int nfds;
	/* server requests just read: flush their children from BPF first */
	uint64_t parents[MAX_PARENTS];
	int nparents;
	/* h2 handler goroutines done with (PT_GO_KEY()): their BPF state goes in batches */
	uint64_t ended_gs[MAX_ENDED_GS];
	uint32_t nended_gs;
	uint64_t last_drops[PT_STAT__MAX];
	uint64_t last_scan_drops, last_refused, last_idle_cut;
	struct u64map procs;	/* pids seen in records */
	struct cgroups *cgroups;	/* NULL without a cgroup v2 hierarchy */
	struct cgfilter *cgf;		/* -C */
	uint64_t drain_now;	/* clock of the last drain: requests are enriched at it */
	collector_rec_cb on_req_rec;
	void *on_req_rec_ctx;
};

/* The wall clock's offset from the monotonic one: of a few samples, the one read in the
 * narrowest window (a sample the scheduler cut in two would be milliseconds off). */
static void calibrate_clock(void)
{
	int64_t best = INT64_MAX, off = 0;

	for (int i = 0; i < 3; i++) {
		struct timespec rt, m1, m2;

		clock_gettime(CLOCK_MONOTONIC, &m1);
		clock_gettime(CLOCK_REALTIME, &rt);
		clock_gettime(CLOCK_MONOTONIC, &m2);
		if (timespec_ns(&m2) - timespec_ns(&m1) < best) {
			best = timespec_ns(&m2) - timespec_ns(&m1);
			off = timespec_ns(&rt) - (timespec_ns(&m1) + best / 2);
		}
	}
	__atomic_store_n(&pt_mono_to_epoch_ns, off, __ATOMIC_RELAXED);
}

/* A record copied out of the ring; false (dropped) if shorter than its type. */
static bool copy_rec(void *dst, size_t want, const void *data, size_t size)
{
	if (size < want)
		return false;
	memcpy(dst, data, want);
	return true;
}

static void forget_ended_gs(struct collector *c)
{
	if (!c->nended_gs)
		return;
	goprobes__forget_goroutines(probes__skel(c->probes), c->ended_gs, c->nended_gs);
	c->nended_gs = 0;
}

/* A finished HTTP/2 stream: a request like any other. */
static void h2_stream(void *ctx, const struct pt_req_rec *rec, const char *authority)
{
	struct collector *c = ctx;

	assembler__add_req_host(c->asm_, rec, authority);
}

/*
 * A Go server's h2 stream ran on a handler goroutine of its own (net/http's runHandler)
 * that is done with (its stream ended, or no stream will report it: assemble/h2.h): its
 * state in BPF goes (GO_END_STREAM in bpf/thread.bpf.h) after this drain of the ring
 * buffer, in one batch. The process needs no goexit1 for it.
 */
static void h2_handler_done(void *ctx, uint32_t pid, uint64_t goid)
{
	struct collector *c = ctx;

	if (c->nended_gs == MAX_ENDED_GS)
		forget_ended_gs(c);
	c->ended_gs[c->nended_gs++] = PT_GO_KEY(pid, goid);
}

static int handle_event(void *ctx, void *data, size_t size)
{
	struct collector *c = ctx;
	__u32 type;

	if (size < sizeof(type))
		return 0;
	memcpy(&type, data, sizeof(type));
	c->events_read++;
	switch (type) {
	case PT_REC_REQ: {
		/* the assembler copies it out of the ring */
		const struct pt_req_rec *r = data;

		if (size < sizeof(*r))
			return 0;
		if (r->flags & PT_F_H2) {	/* an HTTP/2 connection opens or closes */
			h2__conn(c->h2, r);
			break;
		}
		if (r->pid && !u64map_get(&c->procs, r->pid))
			u64map_put(&c->procs, r->pid, (void *)1);
		if (c->on_req_rec)
			c->on_req_rec(c->on_req_rec_ctx, c, r);
		assembler__add_req(c->asm_, r, false);
		if (r->role == PT_ROLE_SERVER && c->nparents < MAX_PARENTS)
			c->parents[c->nparents++] = r->req_id;
		break;
	}
	case PT_REC_H2:
		h2__frame(c->h2, data, size);
		break;
	case PT_REC_DNS: {
		struct pt_dns_rec r;

		if (copy_rec(&r, sizeof(r), data, size))
			assembler__add_dns(c->asm_, &r);
		break;
	}
	case PT_REC_SPAN: {
		struct pt_span_rec r;

		if (copy_rec(&r, sizeof(r), data, size))
			assembler__add_span(c->asm_, &r);
		break;
	}
	case PT_REC_PROC: {
		struct pt_proc_rec r;

		if (!copy_rec(&r, sizeof(r), data, size))
			return 0;
		if (r.kind == PT_PROC_EXIT) {
			assembler__proc_exit(c->asm_, r.pid, r.ts);
			u64map_del(&c->procs, r.pid);
			targets__proc_exit(c->targets, r.pid);
		} else if (r.kind == PT_PROC_GOEXIT) {
			worker__post_goexit(c->worker, r.pid);
		} else {
			/* the worker scans it (a full queue is counted) */
			if (r.kind == PT_PROC_EXEC)
				worker__post_exec(c->worker, r.pid, &(struct pt_file_id){
					r.file_dev, r.file_ino, r.file_gen, 0 }, r.held);
			else
				worker__post(c->worker, r.pid, 0);
			if (r.kind == PT_PROC_EXEC) {
				/* the dynamic loader maps libraries just after exec */
				worker__post(c->worker, r.pid, 30000000ULL);
				worker__post(c->worker, r.pid, 500000000ULL);
			}
		}
		break;
	}
	}
	return 0;
}

static bool has_parent(struct collector *c, uint64_t id)
{
	for (int i = 0; i < c->nparents; i++)
		if (c->parents[i] == id)
			return true;
	return false;
}

/*
 * The next entry of a walk of idle_watch, read in batches (BPF_MAP_LOOKUP_BATCH, 5.6+:
 * one syscall per IDLE_BATCH entries, where get_next_key and a lookup cost two per
 * entry, for a server's thousands of kept-alive connections). false: the end, or the
 * walk was cut short (ww->cut).
 */
static bool watch_next(struct watch_walk *ww, __u64 *key, struct pt_idle *w)
{
	while (ww->i >= ww->n) {
		LIBBPF_OPTS(bpf_map_batch_opts, opts);
		int err;

		if (ww->done)
			return false;
		if (ww->budget-- <= 0) {
			ww->cut = true;
			return false;
		}
		ww->n = IDLE_BATCH;
		ww->i = 0;
		err = bpf_map_lookup_batch(ww->fd, ww->started ? &ww->token : NULL, &ww->token,
					   ww->keys, ww->vals, &ww->n, &opts);
		ww->started = true;
		if (err) {
			ww->done = true;	/* -ENOENT: the last batch (n may be > 0) */
			if (err != -ENOENT) {
				ww->cut = true;
				ww->n = 0;
			}
		}
	}
	*key = ww->keys[ww->i];
	*w = ww->vals[ww->i++];
	return true;
}

/* Note in each of the n watch entries the request just reported from it, if the entry is
 * still its connection's (BPF may have closed it meanwhile). */
static void note_flushed(int wfd, const __u64 *keys, const struct pt_idle *noted, int n)
{
	struct pt_idle w;

	for (int i = 0; i < n; i++)
		if (bpf_map_lookup_elem(wfd, &keys[i], &w) == 0 && w.conn_id == noted[i].conn_id)
			bpf_map_update_elem(wfd, &keys[i], &noted[i], BPF_EXIST);
}

/*
 * Requests whose response went quiet for idle_ns (or whose server request
 * already ended) are reported from the connection table; BPF reports them
 * again when the next request starts, and the assembler drops that copy.
 * idle_watch holds the connections that have had a response (BPF writes an
 * entry once per connection); the entry notes the request reported last.
 * Walking it visits every bucket of the table (65536, most of them empty):
 * a sweep that can find nothing new is skipped (idle_sweep_due()).
 */
static void flush_idle(struct collector *c, uint64_t now, bool all)
{
	int cfd = bpf_map__fd(probes__skel(c->probes)->maps.conns);
	struct watch_walk *ww = &c->walk;
	__u64 key;
	struct pt_conn conn;
	struct pt_idle w;
	__u64 done[IDLE_BATCH];
	struct pt_idle noted[IDLE_BATCH];
	int ndone = 0;
	uint64_t due = UINT64_MAX;

	ww->fd = bpf_map__fd(probes__skel(c->probes)->maps.idle_watch);
	ww->started = ww->done = ww->cut = false;
	ww->n = ww->i = 0;
	ww->budget = 4 * 65536 / IDLE_BATCH;
	while (watch_next(ww, &key, &w)) {
		if (bpf_map_lookup_elem(cfd, &key, &conn))
			continue;
		if (conn.req.conn_id != w.conn_id || conn.state != PT_FSM_RESP ||
		    w.flushed == conn.req.req_seq + 1)
			continue;
		/* now was read before the sweep: I/O since then is not idleness */
		if (!all && (conn.last_io > now || now - conn.last_io < c->o.idle_ns) &&
		    !(conn.req.parent_id && has_parent(c, conn.req.parent_id))) {
			if (conn.last_io + c->o.idle_ns < due)	/* left for a later sweep */
				due = conn.last_io + c->o.idle_ns;
			continue;
		}
		conn.req.end_reason = PT_END_IDLE;
		assembler__add_req(c->asm_, &conn.req, true);
		c->idle_flushed++;
		done[ndone] = key;
		noted[ndone] = w;
		noted[ndone++].flushed = conn.req.req_seq + 1;
		/* noted as it goes: a thousand connections gone quiet together are reported
		 * once each, not again at every tick until each got its note */
		if (ndone == IDLE_BATCH) {
			note_flushed(ww->fd, done, noted, ndone);
			ndone = 0;
		}
	}
	note_flushed(ww->fd, done, noted, ndone);
	c->nparents = 0;
	c->idle_next_due = ww->cut ? 0 : due;	/* cut short: the rest next time */
}

/*
 * Whether flush_idle() can find anything its last sweep did not leave for later. A
 * connection enters the response phase, where the sweep looks, in one place in BPF
 * (conn.bpf.c conn_io_body()), which counts it (PT_STAT_RESP_STARTS) after its writes;
 * the count is read before each sweep. The requests that sweep saw are due when it
 * said (more I/O on them only makes them later); one whose response started since
 * was last active after the sweep began, so is quiet idle_ns after that at the
 * earliest (less a tick: a program's clock is read before its writes). A server
 * request just read can have children to flush at once. An idle host costs one
 * counter read a tick instead of a walk of the table, a busy one a walk every idle_ns
 * instead of every tick.
 */
static bool idle_sweep_due(struct collector *c, uint64_t now, bool all)
{
	uint64_t starts, due = c->idle_next_due;

	if (probes__resp_starts(c->probes, &starts))
		starts = c->idle_resp_starts + 1;	/* unknown: as if one had started */
	if (starts != c->idle_resp_starts) {
		uint64_t after = c->idle_swept_at + c->o.idle_ns;

		after = after > TICK_NS ? after - TICK_NS : 0;
		if (after < due)
			due = after;
	}
	if (all || c->nparents || now >= due) {
		c->idle_resp_starts = starts;
		c->idle_swept_at = now;
		c->idle_sweeps++;
		return true;
	}
	c->idle_skipped++;
	return false;
}

/* Everything the BPF side counts instead of recording: the metrics label and,
 * for losses, the words of the warning on stderr. */
const struct drop_reason drop_reasons[] = {
	{ PT_STAT_RB_DROP_REQ, "ringbuf_full_req",
	  "requests lost: ring buffer full, see --ring-mb" },
	{ PT_STAT_RB_DROP_DNS, "ringbuf_full_dns", "lookups lost: ring buffer full" },
	{ PT_STAT_RB_DROP_SPAN, "ringbuf_full_span", "spans lost: ring buffer full" },
	{ PT_STAT_RB_DROP_PROC, "ringbuf_full_proc", "process events lost: ring buffer full" },
	{ PT_STAT_CONN_FULL, "conn_table_full", "connections not traced: connection table full" },
	{ PT_STAT_THREAD_FULL, "thread_table_full", "thread contexts lost: thread table full" },
	{ PT_STAT_SSL_FULL, "ssl_table_full", "TLS sessions not traced: session table full" },
	{ PT_STAT_IDLE_FULL, "idle_table_full", "idle requests reported late: idle table full" },
	{ PT_STAT_SPAN_FULL, "span_table_full", "spans lost: span table full" },
	{ PT_STAT_GO_FULL, "go_table_full", "goroutine links lost: Go state table full" },
	{ PT_STAT_SYS_IO_FULL, "sys_io_table_full", "socket I/O lost: syscall I/O table full" },
	{ PT_STAT_ACCEPT_FULL, "accept_table_full",
	  "accepted connections unmarked: accept table full" },
	{ PT_STAT_HOLD_FULL, "hold_table_full",
	  "new programs started before their probes: exec hold table full" },
	{ PT_STAT_MIDSTREAM_SKIP, "midstream_partial", NULL },
	{ PT_STAT_SWITCHED, "protocol_switched", NULL },
	{ PT_STAT_TLS_OPAQUE, "tls_unprobed", NULL },
	{ PT_STAT_RB_DROP_H2, "ringbuf_full_h2", "HTTP/2 frame records lost: ring buffer full" },
	{ PT_STAT_H2_FULL, "h2_table_full",
	  "HTTP/2 connections timed as one request: HTTP/2 table full" },
	{ PT_STAT_H2_OVERFLOW, "h2_walk_overflow",
	  "HTTP/2 connections timed as one request from then on: too many frames in one I/O" },
	{ PT_STAT_H2_STREAMS_NOBYTES, "h2_data_slots_full",
	  "HTTP/2 streams without their DATA byte count: too many streams sending at once" },
};

/* What discovery could not do: scans dropped (queue full), files refused (cap). */
static void report_attach_losses(struct collector *c, bool final)
{
	struct worker_stats ws;

	worker__stats(c->worker, &ws);
	if (ws.dropped > c->last_scan_drops)
		pt_warn("%llu process scans dropped: discovery queue full",
			(unsigned long long)(ws.dropped - c->last_scan_drops));
	if (ws.t.seen.refused > c->last_refused)
		pt_warn("%llu files not attached: %d files have probes already (the limit)",
			(unsigned long long)(ws.t.seen.refused - c->last_refused), ws.t.files);
	c->last_scan_drops = ws.dropped;
	c->last_refused = ws.t.seen.refused;
	if (final)
		pt_info("discovery: %llu scans, %d files remembered, %llu evicted, %llu refused, "
			"%llu scans dropped, %llu binaries over their analysis budget",
			(unsigned long long)ws.scans, ws.t.seen.entries,
			(unsigned long long)ws.t.seen.evicted,
			(unsigned long long)ws.t.seen.refused, (unsigned long long)ws.dropped,
			(unsigned long long)ws.t.over_budget);
}

/* Requests reported at a pause of their response that then went on (flush_idle()). */
static void report_idle_cuts(struct collector *c, bool final)
{
	struct assembler_stats as;

	assembler__stats(c->asm_, &as);
	if (as.idle_cut > c->last_idle_cut || (final && as.idle_cut))
		pt_warn("%llu requests reported at a pause of --idle-ms (%llu ms) in their "
			"response, which then went on%s: a longer --idle-ms waits for streams "
			"and long polls", (unsigned long long)(final ? as.idle_cut :
						      as.idle_cut - c->last_idle_cut),
			(unsigned long long)(c->o.idle_ns / 1000000), final ? " (in total)" : "");
	c->last_idle_cut = as.idle_cut;
}

/* -v: the copies of idle reports BPF sent at the requests' ends, dropped. */
static void report_idle_copies(struct collector *c)
{
	struct assembler_stats as;

	assembler__stats(c->asm_, &as);
	pt_info("idle reports: %llu copies dropped (%llu marked by BPF), %llu cut short "
		"(the response went on after the pause)", (unsigned long long)as.duplicates,
		(unsigned long long)as.idle_marked, (unsigned long long)as.idle_cut);
}

static void report_drops(struct collector *c, bool final)
{
	uint64_t st[PT_STAT__MAX];

	if (probes__stats(c->probes, st))
		return;
	if (final)
		pt_info("probe hits: %llu uprobe, %llu socket I/O",
			(unsigned long long)st[PT_STAT_UPROBE_EVENTS],
			(unsigned long long)st[PT_STAT_IO_EVENTS]);
	for (size_t i = 0; i < NDROP_REASONS; i++) {
		const struct drop_reason *d = &drop_reasons[i];
		uint64_t now = st[d->stat], was = c->last_drops[d->stat];

		if (!d->what)
			continue;	/* counted, not a loss */
		if (final && now)
			pt_warn("%llu %s (in total)", (unsigned long long)now, d->what);
		else if (now > was)
			pt_warn("%llu %s", (unsigned long long)(now - was), d->what);
		c->last_drops[d->stat] = now;
	}
	report_attach_losses(c, final);
	report_idle_cuts(c, final);
}

/* -v: how many new programs waited at exec for their probes, and how it ended. */
static void report_holds(struct collector *c)
{
	struct hold_stats hs;

	hold__stats(c->hold, &hs);
	if (hs.held)
		pt_info("exec holds: %llu programs held at exec, %llu resumed with their probes "
			"attached, %llu by the %u ms deadline",
			(unsigned long long)hs.held, (unsigned long long)hs.released,
			(unsigned long long)hs.timeouts,
			probes__skel(c->probes)->rodata->hold_ms);
}

/* The worker scans everything first; "ready" waits for that, bounded. */
static int start_discovery(struct collector *c)
{
	struct targets_opts to = {
		.skel = probes__skel(c->probes), .multi = probes__uprobe_multi(c->probes),
		.lim = { .budget_ns = BINARY_BUDGET_NS, .cancel = &c->cancel },
	};
	struct worker_stats ws;
	int err;

	err = targets__new(&to, &c->targets);
	if (!err)	/* its watchdog is forked before any thread starts */
		err = hold__new(to.skel, &c->hold);
	if (!err)
		err = worker__new(c->targets, c->hold, &c->cancel, c->o.pids, c->o.npids,
				  &c->worker);
	if (err) {
		pt_err("cannot start the discovery of binaries: %s", strerror(-err));
		return err;
	}
	if (worker__wait_initial(c->worker, INITIAL_SCAN_WAIT_NS))
		pt_info("the initial scan of processes goes on in the background");
	worker__stats(c->worker, &ws);
	pt_info("uprobes: %d attached on %d binaries, %d failed", ws.t.uprobes, ws.t.files,
		ws.t.failed);
	return 0;
}

static void enrich_request(void *ctx, struct request *r)
{
	struct collector *c = ctx;

	/* the cache's clock only retries unresolved ids (after seconds): no clock read per
	 * request, the drain's will do */
	cgroups__fill(c->cgroups, r->pid, c->drain_now ? c->drain_now : mono_now_ns(),
		      &r->container);
}

static void rescan_containers(void *ctx, uint64_t now)
{
	cgfilter__rescan(((struct collector *)ctx)->cgf, now);
}

/* Container identity for every request, and the -C filter's cgroup ids in BPF. */
static int setup_containers(struct collector *c)
{
	int err = cgroups__new(NULL, &c->cgroups);

	if (err && c->o.ncontainers) {
		pt_err("-C needs a cgroup v2 hierarchy, and none is mounted: %s", strerror(-err));
		return err;
	}
	if (err)
		pt_info("no cgroup v2 hierarchy (%s): no container identity", strerror(-err));
	else
		pt_info("cgroup v2 hierarchy: %s", cgroups__root(c->cgroups));
	assembler__set_enrich(c->asm_, enrich_request, c);
	if (!c->o.ncontainers)
		return 0;
	err = cgfilter__new(c->cgroups, bpf_map__fd(probes__skel(c->probes)->maps.cgroup_filter),
			    c->o.containers, c->o.ncontainers, &c->cgf);
	if (!err)
		err = collector__on_tick(c, rescan_containers, c);
	return err;
}

/* The ring buffer and the signals, on one epoll set. */
static int setup_event_loop(struct collector *c)
{
	struct epoll_event ev = { .events = EPOLLIN };
	const int *rings;
	sigset_t mask;
	int err, nrings;

	c->rb = ring_buffer__new(bpf_map__fd(probes__skel(c->probes)->maps.rb), handle_event, c,
				 NULL);
	if (!c->rb) {
		err = -errno;
		pt_err("cannot read the BPF ring buffer: %s", strerror(-err));
		return err;
	}
	nrings = probes__cpu_rings(c->probes, &rings);
	for (int i = 0; i < nrings; i++) {
		err = ring_buffer__add(c->rb, rings[i], handle_event, c);
		if (err) {
			pt_err("cannot read the per-CPU ring buffer %d: %s", i, strerror(-err));
			return err;
		}
	}
	/* an ignored signal never reaches a signalfd (main() resets them) */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	c->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (c->sigfd < 0 || c->epfd < 0) {
		err = -errno;
		pt_err("cannot set up the event loop: %s", strerror(-err));
		return err;
	}
	ev.data.fd = c->sigfd;
	epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->sigfd, &ev);
	ev.data.fd = ring_buffer__epoll_fd(c->rb);
	epoll_ctl(c->epfd, EPOLL_CTL_ADD, ev.data.fd, &ev);
	return 0;
}

/* The spans the assembler names "render" (the render phase), bit i for span i: BPF folds
 * a server request's render into the request's record (bpf/span.bpf.c span_fold()). */
static uint32_t render_span_mask(const struct collector_opts *o)
{
	uint32_t m = 1u << SPAN_GO_RENDER;

	for (int i = 0; i < o->nspans && i < MAX_USER_SPANS; i++)
		if (!strcmp(o->spans[i].name, "render"))
			m |= 1u << i;
	return m;
}

int collector__new(const struct collector_opts *o, struct collector **out)
{
	struct probes_opts po = {
		.pids = o->pids, .npids = o->npids, .comms = o->comms, .ncomms = o->ncomms,
		.btf_path = o->btf_path, .max_conns = o->max_conns, .ring_mb = o->ring_mb,
		.span_io = o->nspans > 0,
		.io_hooks = o->io_hooks, .uprobes = o->uprobes,
		.thread_state = o->thread_state, .cgroup_filter = o->ncontainers > 0,
		.hold_ms = o->no_hold ? 0 : o->hold_ms ? o->hold_ms : DEFAULT_HOLD_MS,
		.no_detail = o->no_detail,
		.kagg_mode = o->kagg_mode, .kagg_bounds = o->kagg_bounds,
		.kagg_nbounds = o->kagg_nbounds, .idle_flush_ns = o->idle_ns ?: 500000000ULL,
		.kagg_top = o->kagg_top, .render_spans = render_span_mask(o),
	};
	struct assembler_opts ao = {
		.reorder_ns = 50000000ULL, .dns_gap_ns = 5000000000ULL,
		.orphan_ns = 30000000000ULL,
	};
	struct collector *c = calloc(1, sizeof(*c));
	int err;

	if (!c)
		return -ENOMEM;
	c->o = *o;
	if (!c->o.idle_ns)
		c->o.idle_ns = 500000000ULL;
	c->epfd = c->sigfd = -1;
	calibrate_clock();
	if (u64map_init(&c->procs, 256)) {
		free(c);
		return -ENOMEM;
	}

	err = probes__open(&po, &c->probes);
	if (err)
		goto fail;
	c->asm_ = assembler__new(&ao);
	c->h2 = h2__new(h2_stream, h2_handler_done, c);
	if (!c->asm_ || !c->h2) {
		err = -ENOMEM;
		goto fail;
	}
	err = setup_containers(c);
	if (err)
		goto fail;
	err = spans__attach(probes__skel(c->probes), o->spans, o->nspans, &c->spans);
	if (err)
		goto fail;
	for (int i = 0; i < o->nspans; i++)
		assembler__set_span_name(c->asm_, i, o->spans[i].name);
	assembler__set_span_name(c->asm_, SPAN_GO_RENDER, "render");
	err = start_discovery(c);
	if (err)
		goto fail;
	if (!o->npids && !o->ncomms && !o->ncontainers)
		pt_info("tracing every process");
	err = setup_event_loop(c);
	if (err)
		goto fail;
	*out = c;
	return 0;
fail:
	collector__free(c);
	return err;
}

void collector__free(struct collector *c)
{
	if (!c)
		return;
	worker__free(c->worker);
	hold__free(c->hold);
	ring_buffer__free(c->rb);
	spans__free(c->spans);
	assembler__free(c->asm_);
	h2__free(c->h2);
	targets__free(c->targets);
	probes__free(c->probes);
	cgfilter__free(c->cgf);
	cgroups__free(c->cgroups);
	if (c->epfd >= 0)
		close(c->epfd);
	if (c->sigfd >= 0)
		close(c->sigfd);
	u64map_free(&c->procs);
	free(c);
}

int collector__add_sink(struct collector *c, const struct sink *s)
{
	return assembler__add_sink(c->asm_, s);
}

void collector__on_req_record(struct collector *c, collector_rec_cb cb, void *ctx)
{
	c->on_req_rec = cb;
	c->on_req_rec_ctx = ctx;
}

bool collector__request_who(struct collector *c, const struct pt_req_rec *rec, struct request *r)
{
	assembler__request_who(rec, r);
	if (rec->role == PT_ROLE_CLIENT &&
	    !assembler__connect_host(c->asm_, rec, r->host, sizeof(r->host)))
		return false;
	enrich_request(c, r);	/* what the emit does (the enrich set up with the collector) */
	return true;
}

int collector__on_tick(struct collector *c, collector_cb cb, void *ctx)
{
	if (c->nticks >= MAX_CBS)
		return -E2BIG;
	c->ticks[c->nticks++] = (struct fd_cb){ -1, cb, ctx };
	return 0;
}

int collector__on_fd(struct collector *c, int fd, collector_cb cb, void *ctx)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	if (c->nfds >= MAX_CBS)
		return -E2BIG;
	if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev))
		return -errno;
	c->fds[c->nfds++] = (struct fd_cb){ fd, cb, ctx };
	return 0;
}

void collector__stop(struct collector *c)
{
	c->stop = true;
}

static void drain(struct collector *c, uint64_t now, bool all)
{
	c->drain_now = now;
	ring_buffer__consume(c->rb);
	if (idle_sweep_due(c, now, all))
		flush_idle(c, now, all);
	/* at exit, a request BPF emitted while we swept the table is in the
	 * ring now (its idle copy, if any, is dropped as a duplicate) */
	if (all)
		ring_buffer__consume(c->rb);
	if (all) {
		h2__flush(c->h2);
		assembler__flush(c->asm_);
	}
	else {
		/* the rings are read between batches: a long release must not leave them to
		 * fill (a 2-CPU host at 130 k requests/s fills 1 MiB per-CPU rings in 17 ms) */
		while (assembler__release(c->asm_, now, RELEASE_BATCH))
			ring_buffer__consume(c->rb);
		assembler__tick(c->asm_, now);
	}
	forget_ended_gs(c);
}

/* -v at exit: how container identities were found (assemble/cgroups.h). */
static void report_cgroups(struct collector *c)
{
	struct cgroups_stats st;

	if (!c->cgroups)
		return;
	cgroups__stats(c->cgroups, &st);
	pt_info("cgroups: %u cached, %llu hits, %llu resolved through /proc, %llu by a walk "
		"(%llu walks, %llu cut short), %llu unresolved, %llu evicted", st.cached,
		(unsigned long long)st.hits, (unsigned long long)st.from_proc,
		(unsigned long long)st.from_walk, (unsigned long long)st.walks,
		(unsigned long long)st.walk_truncated, (unsigned long long)st.unresolved,
		(unsigned long long)st.evicted);
}

/* -v at exit: what HTTP/2 followed and what it could not label. */
static void report_h2(struct collector *c)
{
	struct h2_stats hs;

	h2__stats(c->h2, &hs);
	if (!hs.conns && !hs.conns_overflow)
		return;
	pt_info("HTTP/2: %llu connections, %llu streams; %llu connections lost their header "
		"table (%llu streams unlabelled, %llu record gaps, %llu frame walks given up), "
		"%llu connections not followed (table full), %llu streams emitted early, "
		"%llu handler goroutines without a stream",
		(unsigned long long)hs.conns, (unsigned long long)hs.streams,
		(unsigned long long)hs.poisoned, (unsigned long long)hs.unlabelled,
		(unsigned long long)hs.lost_records, (unsigned long long)hs.walk_lost,
		(unsigned long long)hs.conns_overflow, (unsigned long long)hs.streams_overflow,
		(unsigned long long)hs.orphan_handlers);
}

int collector__run(struct collector *c)
{
	uint64_t start = mono_now_ns(), next_tick = start, next_drops = start + 1000000000ULL;
	uint64_t end = c->o.duration_s > 0 ? start + (uint64_t)(c->o.duration_s * 1e9) : 0;

	hold__arm(c->hold);	/* exec records are read from now on */
	if (!c->o.quiet) {
		fprintf(stderr, "phasetrace: ready\n");
		fflush(stderr);
	}
	while (!c->stop) {
		struct epoll_event evs[8];
		uint64_t now = mono_now_ns();
		int timeout = next_tick > now ? (int)((next_tick - now + 999999) / 1000000) : 0;
		int n = epoll_wait(c->epfd, evs, 8, timeout);

		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == c->sigfd) {
				struct signalfd_siginfo si;
				sigset_t mask;

				if (read(c->sigfd, &si, sizeof(si)) < 0)
					continue;
				c->stop = true;
				/* a second Ctrl-C while we flush ends us at once */
				signal(SIGINT, SIG_DFL);
				sigemptyset(&mask);
				sigaddset(&mask, SIGINT);
				sigprocmask(SIG_UNBLOCK, &mask, NULL);
			} else if (fd == ring_buffer__epoll_fd(c->rb)) {
				ring_buffer__consume(c->rb);
			} else {
				for (int j = 0; j < c->nfds; j++)
					if (c->fds[j].fd == fd)
						c->fds[j].cb(c->fds[j].ctx, mono_now_ns());
			}
		}
		now = mono_now_ns();
		if (end && now >= end)
			c->stop = true;
		if (now >= next_tick || c->stop) {
			next_tick = now + TICK_NS;
			/* the wall clock moves under us (NTP steps it once synced, often
			 * after a tracer started at boot): records carry the current one */
			calibrate_clock();
			drain(c, now, c->stop);
			for (int j = 0; j < c->nticks; j++)
				c->ticks[j].cb(c->ticks[j].ctx, now);
		}
		if (now >= next_drops && !c->o.quiet) {
			next_drops = now + 1000000000ULL;
			report_drops(c, false);
		}
	}
	/* before main() forks its detaching child: no thread may hold a lock then */
	worker__stop(c->worker);
	hold__stop(c->hold);	/* nothing held, nothing holds from now on */
	report_holds(c);
	if (!c->o.quiet)
		report_drops(c, true);
	if (pt_verbose) {
		uint64_t st[PT_STAT__MAX];

		if (!probes__stats(c->probes, st))
			pt_info("%llu requests emitted (%llu through per-CPU rings), %llu first "
				"requests of connections older than the tracer skipped (partial), "
				"%llu idle flushes (%llu sweeps of the idle table, %llu skipped: "
				"nothing could have become idle)",
				(unsigned long long)st[PT_STAT_REQS],
				(unsigned long long)st[PT_STAT_REQS_CPU_RING],
				(unsigned long long)st[PT_STAT_MIDSTREAM_SKIP],
				(unsigned long long)c->idle_flushed,
				(unsigned long long)c->idle_sweeps,
				(unsigned long long)c->idle_skipped);
		report_idle_copies(c);
		report_cgroups(c);
		report_h2(c);
	}
	return 0;
}

static void collector_h2_stats(struct collector *c, struct collector_stats *st)
{
	struct h2_stats hs;

	h2__stats(c->h2, &hs);
	st->h2_unlabelled = hs.unlabelled;
	st->h2_record_gaps = hs.lost_records;
	st->h2_conns_overflow = hs.conns_overflow;
}

void collector__stats(struct collector *c, struct collector_stats *st)
{
	struct assembler_stats as;
	struct worker_stats ws;

	memset(st, 0, sizeof(*st));
	st->events_read = c->events_read;
	probes__stats(c->probes, st->bpf);
	worker__stats(c->worker, &ws);
	st->files = ws.t.files;
	st->uprobes = ws.t.uprobes;
	st->uprobes_failed = ws.t.failed;
	st->files_evicted = ws.t.seen.evicted;
	st->files_refused = ws.t.seen.refused;
	st->scans_dropped = ws.dropped;
	st->over_budget = ws.t.over_budget;
	st->tracepoints = probes__nr_attached(c->probes);
	assembler__stats(c->asm_, &as);
	st->pending = as.pending;
	st->children_waiting = as.children_waiting;
	st->dns_cached = as.dns_cached;
	st->idle_flushed = c->idle_flushed;
	st->duplicates = as.duplicates;
	st->idle_cut = as.idle_cut;
	st->orphans = as.orphans;
	st->processes = c->procs.len;
	cgroups__stats(c->cgroups, &st->cgroups);
	st->cgroup_filter_ids = cgfilter__count(c->cgf);
	st->cgroup_filter_full = cgfilter__full(c->cgf);
	collector_h2_stats(c, st);
}

void collector__kagg_maps(struct collector *c, bool top, struct kagg_opts *ko)
{
	struct phasetrace_bpf *skel = probes__skel(c->probes);

	ko->hist_fd = bpf_map__fd(skel->maps.kagg_hist);
	ko->labels_fd = bpf_map__fd(skel->maps.kagg_labels);
	ko->iv_fd = top ? bpf_map__fd(skel->maps.kagg_iv) : -1;
	ko->slowest = top ? (volatile uint64_t *)&skel->bss->kagg_slowest : NULL;
}
