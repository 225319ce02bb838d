// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Assembling BPF records into request timelines; see assembler.h. */
#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "assemble/assembler.h"
#include "assemble/reorder.h"
#include "util/hugemem.h"
#include "util/u64map.h"

#define MAX_SINKS	8
#define DNS_RING	1024
#define EARLY_BUSY_NS	10000000000ULL	/* see early_ring_overwrite() */
#define EARLY_DNS_MARGIN	256	/* see assembler__connect_host() */
#define HOST_RING	4096
#define PARENT_GRACE_NS	20000000ULL	/* 20 ms */
#define SPAN_OPEN_NS	1000000000ULL	/* a span still running at the emit: wait 1 s */
#define SEEN_RING	65536	/* power of two */

struct pend {
	uint64_t key;		/* end time: release order */
	uint64_t seq;		/* arrival order among equal keys */
	uint8_t type;
	bool idle;
	union {
		struct pt_req_rec req;
		struct pt_dns_rec dns;
		struct pt_span_rec span;
	};
	char host[PT_HOST_LEN];	/* its own host name (HTTP/2) or "": last, seldom read */
};

/* What request_init() writes of a request: up to its container's cgroup_id (request.h) */
#define REQ_INIT_LEN	(offsetof(struct request, container) + sizeof(uint64_t))
_Static_assert(offsetof(struct container, cgroup_id) == 0, "cgroup_id first");
_Static_assert(offsetof(struct request, container) + sizeof(struct container) ==
	       offsetof(struct request, phases), "the container last before the phases");

/* The next record to release is fetched into the cache while one is released. */
static void pend_prefetch(const struct pend *p)
{
#pragma GCC unroll 8
	for (size_t off = 0; off < offsetof(struct pend, host); off += 64)
		__builtin_prefetch((const char *)p + off);
}

struct dns_ent {
	struct pt_dns_rec rec;
	bool valid;
	bool dead;		/* its process exited */
	uint64_t used_by;	/* conn that took its dns phase */
};

struct host_ent {
	uint64_t conn_id;
	char host[PT_HOST_LEN];
};

struct kids {
	uint64_t since;		/* first child arrival (end time) */
	int nreq, nspan;
	struct request *reqs[REQ_MAX_CHILDREN];
	struct pt_span_rec spans[REQ_MAX_PHASES / 2];
};

/*
 * Freed records, timelines and child lists are kept for reuse, up to max of each: at a
 * million records per second, malloc, free and the page faults of a heap that kept moving
 * were a third of the collector's time. A stack of pointers, not a list linked through the
 * items: taking one must not wait for its (cold) memory, and the next one is fetched into
 * the cache while the caller fills this one. The items are carved from one arena on huge
 * pages (util/hugemem.h), cache-line aligned; past max in use, malloc'd and freed.
 */
struct pool {
	void **v;
	uint32_t n, max, carved;	/* carved: arena items handed out so far */
	size_t size, prefetch;	/* bytes of an item fetched ahead */
	char *arena;		/* max items of size */
};

/*
 * Recently seen ids: direct-mapped, bounded, O(1); a collision forgets the older id.
 * Ids count up per CPU (the CPU above bit 40) and are looked up in about that order:
 * eight consecutive ids of a CPU share a cache line, lines are hashed.
 */
struct seen {
	uint64_t slot[SEEN_RING];
} __attribute__((aligned(64)));

struct assembler {
	struct assembler_opts o;
	struct sink sinks[MAX_SINKS];
	int nsinks;
	assembler_enrich_fn enrich;	/* container identity (cgroups.h), may be NULL */
	void *enrich_ctx;
	char span_names[PT_MAX_SPANS][24];

	struct reorder pending;	/* struct pend by end time */
	uint64_t seq;

	struct dns_ent dns[DNS_RING];
	uint32_t dns_head;
	/* dns[i].rec.pid and dns_read[i].pid, packed: the rings' scans for a process's
	 * lookups (one per client connect) read 4 KB, not the entries' 400 KB */
	uint32_t dns_pid[DNS_RING], dns_read_pid[DNS_RING];
	uint32_t dns_filled;		/* dns[] entries ever written, up to DNS_RING */
	/* assembler__connect_host(): the lookups and the process exits as read, before the
	 * reorder window; a connect before early_busy_until may have lost one to a ring */
	struct pt_dns_rec dns_read[DNS_RING];
	uint32_t dns_read_head;
	struct { uint32_t pid; uint64_t ts; } exits_read[DNS_RING];
	uint32_t exits_read_head;
	uint64_t early_busy_until;

	struct host_ent hosts[HOST_RING];
	uint32_t host_head;
	struct u64map host_map;		/* conn_id -> slot + 1 */

	struct u64map kids;		/* parent req_id -> struct kids */
	uint32_t nkids;
	struct seen emitted_parents;	/* server req_ids already emitted */
	struct seen idle_flushed;	/* req_ids flushed on idle */
	uint64_t idle_resp_last[SEEN_RING];	/* their resp_last then, by seen_idx() */
	struct pool pends, reqs, kids_pool;

	struct assembler_stats st;
	const char *next_host;		/* assembler__add_req_host() in progress */
};

static uint32_t seen_idx(uint64_t id)
{
	uint64_t line = id >> 3;

	line ^= line >> 29;
	line *= 0xbf58476d1ce4e5b9ULL;
	return ((line >> 32) << 3 | (id & 7)) & (SEEN_RING - 1);
}

static void seen_add(struct seen *s, uint64_t id)
{
	s->slot[seen_idx(id)] = id;
}

static bool seen_has(struct seen *s, uint64_t id)
{
	return id && s->slot[seen_idx(id)] == id;
}

/* snprintf(dst, len, "%s", src) without printf: it runs for every request */
static void str_copy(char *dst, size_t len, const char *src)
{
	size_t n = strnlen(src, len - 1);

	memcpy(dst, src, n);
	dst[n] = 0;
}

static bool pool_owns(const struct pool *p, const void *x)
{
	return (const char *)x >= p->arena && (const char *)x < p->arena + p->max * p->size;
}

static void *pool_get(struct pool *p)
{
	void *x;

	if (!p->n)
		return p->carved < p->max ? p->arena + p->carved++ * p->size : malloc(p->size);
	x = p->v[--p->n];
	if (p->n)
		for (size_t off = 0; off < p->prefetch; off += 64)
			__builtin_prefetch((char *)p->v[p->n - 1] + off, 1);
	return x;
}

static void pool_put(struct pool *p, void *x)
{
	if (!x)
		return;
	if (!pool_owns(p, x)) {	/* the stack holds every arena item: it never fills */
		free(x);
		return;
	}
	p->v[p->n++] = x;
}

static int pool_init(struct pool *p, size_t size, uint32_t max, size_t prefetch)
{
	size = (size + 63) & ~(size_t)63;
	*p = (struct pool){ .size = size, .max = max, .prefetch = prefetch };
	p->v = malloc(max * sizeof(*p->v));
	p->arena = hugemem_alloc(max * size);
	return p->v && p->arena ? 0 : -ENOMEM;
}

static void pool_free(struct pool *p)
{
	hugemem_free(p->arena, p->max * p->size);
	free(p->v);
	p->v = NULL;
	p->arena = NULL;
}

struct assembler *assembler__new(const struct assembler_opts *opts)
{
	struct assembler *a;

	/* Records and timelines are allocated and freed at up to ~10^5/s: keep
	 * freed memory instead of returning it to the kernel and faulting it
	 * back in (page faults were 18% of the collector's time). */
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	mallopt(M_TOP_PAD, 16 << 20);
	a = hugemem_alloc(sizeof(*a));	/* zeroed; the seen tables are read at random */

	if (!a)
		return NULL;
	a->o = *opts;
	if (!a->o.max_pending)
		a->o.max_pending = 65536;
	if (!a->o.max_children)
		a->o.max_children = 4096;
	/* what enqueue() writes of a record; what request_init() writes of a timeline.
	 * Every record that can be held (max_pending, and the one that makes room) has its
	 * place: 16384 was 110 ms of a 2-core host under wrk, a malloc and free per record
	 * past it (8% of the collector); the arena's pages are only used once touched. */
	if (pool_init(&a->pends, sizeof(struct pend), a->o.max_pending + 1,
		      offsetof(struct pend, host) + 1) ||
	    pool_init(&a->reqs, sizeof(struct request), a->o.max_children + 64, REQ_INIT_LEN) ||
	    pool_init(&a->kids_pool, sizeof(struct kids), 1024, 64) ||
	    reorder_init(&a->pending) || u64map_init(&a->host_map, HOST_RING) || u64map_init(&a->kids, 256)) {
		assembler__free(a);
		return NULL;
	}
	strcpy(a->span_names[0], "span");
	return a;
}

static void free_request(struct assembler *a, struct request *r)
{
	if (!r)
		return;
	for (int i = 0; i < r->nchildren; i++)
		free_request(a, r->children[i]);
	pool_put(&a->reqs, r);
}

void assembler__free(struct assembler *a)
{
	struct pend *p;
	size_t it = 0;
	uint64_t k;
	void *v;

	if (!a)
		return;
	if (a->pending.b)
		while ((p = reorder_take(&a->pending)))
			pool_put(&a->pends, p);
	reorder_free(&a->pending);
	while (u64map_next(&a->kids, &it, &k, &v)) {
		struct kids *kd = v;

		for (int i = 0; i < kd->nreq; i++)
			free_request(a, kd->reqs[i]);
		pool_put(&a->kids_pool, kd);
	}
	u64map_free(&a->kids);
	u64map_free(&a->host_map);
	pool_free(&a->pends);
	pool_free(&a->reqs);
	pool_free(&a->kids_pool);
	hugemem_free(a, sizeof(*a));
}

int assembler__add_sink(struct assembler *a, const struct sink *s)
{
	if (a->nsinks >= MAX_SINKS)
		return -E2BIG;
	a->sinks[a->nsinks++] = *s;
	return 0;
}

void assembler__set_enrich(struct assembler *a, assembler_enrich_fn fn, void *ctx)
{
	a->enrich = fn;
	a->enrich_ctx = ctx;
}

int assembler__set_span_name(struct assembler *a, uint32_t idx, const char *name)
{
	if (idx >= PT_MAX_SPANS)
		return -EINVAL;
	snprintf(a->span_names[idx], sizeof(a->span_names[idx]), "%s", name);
	return 0;
}

/* Take the oldest record; the next one is fetched into the cache while this one is used. */
static struct pend *pending_take(struct assembler *a)
{
	struct pend *p = reorder_take(&a->pending);
	const struct reorder_ent *next = reorder_peek(&a->pending);

	if (next)
		pend_prefetch(next->p);
	return p;
}

static void release(struct assembler *a, struct pend *p);

static void queue_record(struct assembler *a, struct pend *p)
{
	p->seq = a->seq++;
	if (reorder_len(&a->pending) >= a->o.max_pending) {
		a->st.pending_overflow++;
		struct pend *old = pending_take(a);

		release(a, old);
		pool_put(&a->pends, old);
	}
	if (reorder_push(&a->pending, p->key, p->seq, p))
		pool_put(&a->pends, p);
}

static uint64_t max4(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	uint64_t m = a > b ? a : b;

	m = m > c ? m : c;
	return m > d ? m : d;
}

/* Hold a copy of a record until its end time leaves the reorder window; count it in *in. */
static void enqueue(struct assembler *a, uint8_t type, bool idle, const void *rec, size_t len,
		    uint64_t key, uint64_t *in)
{
	struct pend *p = pool_get(&a->pends);

	if (!p)
		return;
	p->type = type;
	p->idle = idle;
	if (a->next_host)
		str_copy(p->host, sizeof(p->host), a->next_host);
	else
		p->host[0] = 0;	/* what str_copy() of "" writes, without its strnlen() */
	memcpy(&p->req, rec, len);	/* the union's member for type */
	p->key = key;
	if (in)
		(*in)++;
	queue_record(a, p);
}

void assembler__add_req(struct assembler *a, const struct pt_req_rec *r, bool idle)
{
	uint64_t key = max4(r->resp_last, r->req_last, r->connect_end, r->tls_end);

	/* a server request's spans and calls may end just after its last byte
	 * (render_page() writes the page, then returns): let them come first */
	if (r->role == PT_ROLE_SERVER) {
		/* its spans, even one still running when it was emitted (a render that
		 * wrote the page and goes on), end before it is built */
		if (r->span_last > key)
			key = r->span_last;
		uint64_t wait = r->spans_open ? SPAN_OPEN_NS : PARENT_GRACE_NS;

		key = key > UINT64_MAX - wait ? UINT64_MAX : key + wait;
	}
	enqueue(a, PT_REC_REQ, idle, r, sizeof(*r), key, &a->st.reqs_in);
}

void assembler__add_req_host(struct assembler *a, const struct pt_req_rec *r, const char *host)
{
	a->next_host = host;
	assembler__add_req(a, r, false);
	a->next_host = NULL;
}

/* A ring of assembler__connect_host()'s overwrites an entry of time old with one of time
 * now: if within 10 s (over 100 lookups or exits a second), connects for the next 10 s are
 * not told early (one may miss what it held; records wait up to SPAN_OPEN_NS). */
static void early_ring_overwrite(struct assembler *a, uint64_t old, uint64_t now)
{
	if (old && now - old < EARLY_BUSY_NS && now + EARLY_BUSY_NS > a->early_busy_until)
		a->early_busy_until = now + EARLY_BUSY_NS;
}

void assembler__add_dns(struct assembler *a, const struct pt_dns_rec *r)
{
	struct pt_dns_rec *slot = &a->dns_read[a->dns_read_head];

	early_ring_overwrite(a, slot->end, r->end);
	*slot = *r;
	slot->host[PT_HOST_LEN - 1] = 0;
	a->dns_read_pid[a->dns_read_head] = r->pid;
	a->dns_read_head = (a->dns_read_head + 1) % DNS_RING;
	enqueue(a, PT_REC_DNS, false, r, sizeof(*r), r->end, &a->st.dns_in);
}

void assembler__add_span(struct assembler *a, const struct pt_span_rec *r)
{
	enqueue(a, PT_REC_SPAN, false, r, sizeof(*r), r->end, &a->st.spans_in);
}

void assembler__proc_exit(struct assembler *a, uint32_t pid, uint64_t ts)
{
	struct pt_req_rec rec = { .pid = pid };

	early_ring_overwrite(a, a->exits_read[a->exits_read_head].ts, ts);
	a->exits_read[a->exits_read_head].pid = pid;
	a->exits_read[a->exits_read_head].ts = ts;
	a->exits_read_head = (a->exits_read_head + 1) % DNS_RING;

	enqueue(a, PT_REC_PROC, false, &rec, sizeof(rec), ts, NULL);
}

static void process_exit(struct assembler *a, uint32_t pid, uint64_t ts)
{
	for (int i = 0; i < DNS_RING; i++) {
		if (a->dns_pid[i] == pid && a->dns[i].valid)
			a->dns[i].dead = true;
		/* the same, for assembler__connect_host(): a pid used again keeps them */
		if (a->dns_read_pid[i] == pid && a->dns_read[i].end <= ts)
			a->dns_read[i].end = 0;
	}
}

/* ---- building timelines ---- */

static void add_phase(struct request *r, enum phase_id id, const char *name, uint64_t start,
		      uint64_t end)
{
	/* phase_name()s, padded: copied whole */
	static const char names[PHASE__COUNT][8] = {
		"dns", "connect", "tls", "send", "ttfb", "recv", "render", "span",
	};
	struct phase *ph;

	_Static_assert(PHASE__COUNT == 8, "a phase without its name in names[]");
	if (r->nphases >= REQ_MAX_PHASES || !start || end < start)
		return;
	ph = &r->phases[r->nphases++];
	memset(ph, 0, sizeof(*ph));
	ph->id = id;
	if (name || id >= PHASE__COUNT)
		str_copy(ph->name, sizeof(ph->name), name ? name : phase_name(id));
	else
		memcpy(ph->name, names[id], sizeof(names[id]));	/* the rest is zero */
	ph->start_ns = start;
	ph->dur_ns = end - start;
}

static void sort_phases(struct request *r)
{
	/* insertion sort by start; stable for equal starts */
	for (int i = 1; i < r->nphases; i++) {
		struct phase t;
		int j = i - 1;

		if (r->phases[j].start_ns <= r->phases[i].start_ns)
			continue;	/* in place already: the usual case */
		t = r->phases[i];
		while (j >= 0 && r->phases[j].start_ns > t.start_ns) {
			r->phases[j + 1] = r->phases[j];
			j--;
		}
		r->phases[j + 1] = t;
	}
}

/* start and duration cover every phase; never shorter than before (a request without an
 * answer lasts until its close) */
static void fix_span(struct request *r)
{
	uint64_t start = UINT64_MAX, end = r->dur_ns ? r->start_ns + r->dur_ns : 0;

	for (int i = 0; i < r->nphases; i++) {
		const struct phase *ph = &r->phases[i];

		if (ph->start_ns < start)
			start = ph->start_ns;
		if (ph->start_ns + ph->dur_ns > end)
			end = ph->start_ns + ph->dur_ns;
	}
	if (start == UINT64_MAX)
		return;
	r->start_ns = start;
	r->dur_ns = end - start;
}

/*
 * Who made a record; the rest zeroed (phases and children are used up to their counts) but
 * the container identity past cgroup_id: emit_request() has it filled (the enrich callback
 * writes all of it) or zeroed, just before the sinks see the request: not written twice.
 */
static void request_init(struct request *r, enum pt_role role, uint32_t pid, uint32_t tid,
			 uint64_t goid, bool is_go, const char comm[PT_COMM_LEN])
{
	memset(r, 0, REQ_INIT_LEN);
	r->writes = r->tpl_parses = 0;
	r->kagg = false;
	r->role = role;
	r->pid = pid;
	r->tid = tid;
	r->goid = goid;
	r->is_go = is_go;
	memcpy(r->comm, comm, sizeof(r->comm));
	r->comm[PT_COMM_LEN - 1] = 0;
}

/* A request's container identity zeroed but its cgroup_id: see request_init(). */
static void container_clear(struct request *r)
{
	uint64_t id = r->container.cgroup_id;

	memset(&r->container, 0, sizeof(r->container));
	r->container.cgroup_id = id;
}

void assembler__request_who(const struct pt_req_rec *rec, struct request *r)
{
	request_init(r, rec->role, rec->pid, rec->tid, rec->goid, rec->flags & PT_F_GO, rec->comm);
	r->container.cgroup_id = rec->cgroup_id;
	r->peer = rec->peer;
	r->local = rec->local;
	r->conn_id = rec->conn_id;
}

static void build_timeline(const struct pt_req_rec *rec, struct request *r)
{
	assembler__request_who(rec, r);
	r->tls = rec->flags & PT_F_TLS;
	r->error = rec->error;
	r->status = rec->status;
	if (rec->flags & PT_F_HTTP) {
		memcpy(r->method, rec->method, sizeof(r->method));
		memcpy(r->path, rec->path, sizeof(r->path));
		r->method[PT_METHOD_LEN - 1] = 0;
		r->path[PT_PATH_LEN - 1] = 0;
	}
	r->bytes_req = rec->bytes_req;
	r->bytes_resp = rec->bytes_resp;
	r->req_id = rec->req_id;
	r->parent_id = rec->parent_id;
	r->end_reason = rec->end_reason;
	r->writes = rec->writes;
	r->tpl_parses = rec->tpl_parses;
	r->kagg = rec->flags & PT_F_KAGG;
	r->proto = rec->proto;
	r->stream_id = rec->stream_id;
	r->has_grpc = rec->grpc_status != 0;
	r->grpc_status = rec->grpc_status ? rec->grpc_status - 1 : 0;
	r->is_grpc = rec->flags & PT_F_GRPC;

	if (rec->flags & PT_F_CONNECT)
		add_phase(r, PHASE_CONNECT, NULL, rec->connect_start, rec->connect_end);
	if (rec->flags & PT_F_TLS_HS)
		add_phase(r, PHASE_TLS, NULL, rec->tls_start, rec->tls_end);
	if (rec->role == PT_ROLE_SERVER) {
		/* reading the request: worth a line when it took several reads
		 * (an upload) or nothing was answered */
		if (rec->req_first && (rec->req_last > rec->req_first || !rec->resp_first))
			add_phase(r, PHASE_RECV, NULL, rec->req_first, rec->req_last);
		if (rec->req_first && rec->resp_first)
			add_phase(r, PHASE_TTFB, NULL, rec->req_first, rec->resp_first);
		if (rec->resp_first)
			add_phase(r, PHASE_SEND, NULL, rec->resp_first, rec->resp_last);
	} else {
		if (rec->req_first) {
			uint64_t s = rec->req_io_start && rec->req_io_start <= rec->req_first ?
				     rec->req_io_start : rec->req_first;

			add_phase(r, PHASE_SEND, NULL, s, rec->req_last);
		}
		if (rec->req_last && rec->resp_first)
			add_phase(r, PHASE_TTFB, NULL, rec->req_last, rec->resp_first);
		if (rec->resp_first)
			add_phase(r, PHASE_RECV, NULL, rec->resp_first, rec->resp_last);
	}
	if ((rec->flags & PT_F_NO_RESP) && rec->req_first && !r->error &&
	    rec->end_reason == PT_END_CLOSE)
		r->error = PT_ERR_NO_RESPONSE;
	sort_phases(r);
	fix_span(r);
	/* no answer: the request lasted until the close that ended it (a deadline) */
	if (r->error == PT_ERR_NO_RESPONSE && r->nphases && rec->closed > r->start_ns + r->dur_ns)
		r->dur_ns = rec->closed - r->start_ns;
}

void assembler__build(const struct pt_req_rec *rec, struct request *r)
{
	build_timeline(rec, r);
	container_clear(r);
}

/* ---- DNS attribution ---- */

static bool ip_eq(const struct pt_ip *ip, const struct pt_addr *a)
{
	static const unsigned char v4m[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (ip->family == a->family)
		return !memcmp(ip->addr, a->addr, ip->family == AF_INET ? 4 : 16);
	/* IPv4 lookups used through a dual-stack socket: ::ffff:a.b.c.d */
	if (ip->family == AF_INET && a->family == AF_INET6 && !memcmp(a->addr, v4m, 12))
		return !memcmp(ip->addr, a->addr + 12, 4);
	return false;
}

static bool dns_has(const struct pt_dns_rec *d, const struct pt_addr *a)
{
	for (int i = 0; i < d->naddr && i < PT_DNS_MAX_ADDRS; i++)
		if (ip_eq(&d->addrs[i], a))
			return true;
	return false;
}

/* A lookup of pid that resolved addr and ended before t (0: any time). */
static bool dns_rec_usable(const struct pt_dns_rec *d, uint32_t pid, const struct pt_addr *addr,
			   uint64_t t)
{
	return d->pid == pid && !d->rc && !(t && d->end > t) && dns_has(d, addr);
}

/* The same, of a live one. */
static bool dns_usable(const struct dns_ent *e, uint32_t pid, const struct pt_addr *addr,
		       uint64_t t)
{
	return e->valid && !e->dead && dns_rec_usable(&e->rec, pid, addr, t);
}

/* The lookup was made by the request's own thread (goroutine in Go: it moves). */
static bool dns_own(const struct dns_ent *e, const struct pt_req_rec *rec)
{
	if (rec->flags & PT_F_GO)
		return !rec->goid || ((e->rec.flags & PT_F_GO) && e->rec.goid == rec->goid);
	return !rec->tid || e->rec.tid == rec->tid;
}

/*
 * The lookup a new connection's dns phase comes from, newest first, in one
 * pass over the ring: the connecting thread's own unused lookup (concurrent
 * requests resolve the same name), else another thread's unused one (curl
 * resolves on a helper thread), else any, for the host name alone.
 */
static struct dns_ent *dns_for_connect(struct assembler *a, const struct pt_req_rec *rec)
{
	struct dns_ent *unused_other = NULL, *any = NULL;

	for (uint32_t n = 1; n <= a->dns_filled; n++) {
		uint32_t i = (a->dns_head + DNS_RING - n) % DNS_RING;
		struct dns_ent *e = &a->dns[i];

		if (a->dns_pid[i] != rec->pid ||
		    !dns_usable(e, rec->pid, &rec->peer, rec->connect_start))
			continue;
		if (!e->used_by && dns_own(e, rec))
			return e;
		if (!e->used_by && !unused_other)
			unused_other = e;
		if (!any)
			any = e;
	}
	return unused_other ? unused_other : any;
}

/* host is *name, or the first one seen (*name NULL): it becomes *name */
static bool same_host(const char **name, const char *host)
{
	if (!*name)
		*name = host;
	return !strncmp(*name, host, PT_HOST_LEN);
}

/*
 * The host attribute_dns() will give rec, known now (as it is read, before the reorder
 * window) when rec is a client's connect and every lookup it could take agrees: those of
 * its process that resolved its peer and ended before the connect (dns_for_connect()
 * picks one of them). Each ended before the connect, so its record was read before rec:
 * it is among the lookups processed (dns, the live ones) or read (dns_read). No such
 * lookup: "". False: not a connect, lookups naming different hosts, an exit of the pid
 * read but perhaps not processed (it may mark lookups dead before rec is built), a lookup
 * that the next EARLY_DNS_MARGIN processed would push out of dns, or a ring overwritten
 * too recently to be sure.
 */
bool assembler__connect_host(struct assembler *a, const struct pt_req_rec *rec, char *host,
			     size_t len)
{
	const char *name = NULL;

	if (rec->role != PT_ROLE_CLIENT || !(rec->flags & PT_F_CONNECT) || !rec->connect_start ||
	    rec->connect_start < a->early_busy_until ||
	    u64map_get(&a->host_map, rec->conn_id))
		return false;
	for (int i = 0; i < DNS_RING; i++)
		if (a->exits_read[i].ts && a->exits_read[i].pid == rec->pid)
			return false;
	for (int i = 0; i < DNS_RING; i++) {
		const struct pt_dns_rec *read = &a->dns_read[i];

		if (a->dns_pid[i] == rec->pid &&
		    dns_usable(&a->dns[i], rec->pid, &rec->peer, rec->connect_start)) {
			/* one that the next lookups could push out before rec is built */
			if ((a->dns_head + DNS_RING - 1 - i) % DNS_RING >= DNS_RING - EARLY_DNS_MARGIN ||
			    !same_host(&name, a->dns[i].rec.host))
				return false;
		}
		/* end 0: an empty slot, or a dead process's (process_exit()) */
		if (a->dns_read_pid[i] == rec->pid && read->end &&
		    dns_rec_usable(read, rec->pid, &rec->peer, rec->connect_start) &&
		    !same_host(&name, read->host))
			return false;
	}
	str_copy(host, len, name ? name : "");
	return true;
}

/* Newest lookup of the process that resolved the peer: the host of a later request. */
static struct dns_ent *dns_for_host(struct assembler *a, const struct pt_req_rec *rec)
{
	for (uint32_t n = 1; n <= a->dns_filled; n++) {
		uint32_t i = (a->dns_head + DNS_RING - n) % DNS_RING;

		if (a->dns_pid[i] == rec->pid && dns_usable(&a->dns[i], rec->pid, &rec->peer, 0))
			return &a->dns[i];
	}
	return NULL;
}

static void host_remember(struct assembler *a, uint64_t conn_id, const char *host)
{
	struct host_ent *h = &a->hosts[a->host_head];

	if (!conn_id || u64map_get(&a->host_map, conn_id))
		return;
	if (h->conn_id)
		u64map_del(&a->host_map, h->conn_id);
	h->conn_id = conn_id;
	str_copy(h->host, sizeof(h->host), host);
	u64map_put(&a->host_map, conn_id, (void *)(uintptr_t)(a->host_head + 1));
	a->host_head = (a->host_head + 1) % HOST_RING;
}

static void attribute_dns(struct assembler *a, const struct pt_req_rec *rec, struct request *r)
{
	uintptr_t slot = (uintptr_t)u64map_get(&a->host_map, rec->conn_id);
	struct dns_ent *e;

	if (slot) {
		str_copy(r->host, sizeof(r->host), a->hosts[slot - 1].host);
		return;
	}
	if (r->role != PT_ROLE_CLIENT)
		return;
	e = (rec->flags & PT_F_CONNECT) ? dns_for_connect(a, rec) : dns_for_host(a, rec);
	if (!e)
		return;
	str_copy(r->host, sizeof(r->host), e->rec.host);
	if ((rec->flags & PT_F_CONNECT) && !e->used_by &&
	    rec->connect_start - e->rec.end <= a->o.dns_gap_ns) {
		e->used_by = rec->conn_id;
		add_phase(r, PHASE_DNS, NULL, e->rec.start, e->rec.end);
		sort_phases(r);
		fix_span(r);
	}
	host_remember(a, rec->conn_id, r->host);
}

/* ---- nesting ---- */

/* r and what hangs off it convert to the wall clock with off (request.epoch_off) */
static void stamp_epoch(struct request *r, int64_t off, int depth)
{
	r->epoch_off = off;
	for (int i = 0; i < r->nchildren && depth < 8; i++)
		stamp_epoch(r->children[i], off, depth + 1);
}

static void emit_request(struct assembler *a, struct request *r)
{
	a->st.emitted++;
	stamp_epoch(r, pt_epoch_off(), 0);
	if (a->enrich) {
		a->enrich(a->enrich_ctx, r);
		for (int i = 0; i < r->nchildren; i++)
			a->enrich(a->enrich_ctx, r->children[i]);
	} else {
		container_clear(r);
		for (int i = 0; i < r->nchildren; i++)
			container_clear(r->children[i]);
	}
	for (int i = 0; i < a->nsinks; i++)
		a->sinks[i].on_request(a->sinks[i].ctx, r);
}

/* The group of children waiting for parent, made if new; NULL if no further child may
 * wait (max_children held in all), or none can for this parent. */
static struct kids *kids_get(struct assembler *a, uint64_t parent, uint64_t now)
{
	struct kids *k;

	if (a->nkids >= a->o.max_children)
		return NULL;
	k = u64map_get(&a->kids, parent);
	if (k)
		return k;
	k = pool_get(&a->kids_pool);
	if (!k)
		return NULL;
	k->nreq = k->nspan = 0;	/* reqs[] and spans[] are used up to their counts */
	k->since = now;
	if (u64map_put(&a->kids, parent, k)) {
		pool_put(&a->kids_pool, k);
		return NULL;
	}
	return k;
}

/* A span's phase in r, as its record gives it: the render phase if its --probe name is
 * "render", else a span phase named after it. */
static void span_phase(struct assembler *a, struct request *r, uint32_t span, uint64_t start,
		       uint64_t end, uint64_t io_ns, uint64_t gc_ns, bool io_in_span,
		       const char label[PT_LABEL_LEN])
{
	const char *name = span < PT_MAX_SPANS ? a->span_names[span] : "span";
	struct phase *ph = &r->phases[r->nphases];

	add_phase(r, strcmp(name, "render") ? PHASE_SPAN : PHASE_RENDER, name, start, end);
	if (ph != &r->phases[r->nphases]) {
		ph->io_ns = io_ns;
		ph->io_in_span = io_in_span;
		ph->gc_ns = gc_ns;
		memcpy(ph->label, label, sizeof(ph->label));
		ph->label[PT_LABEL_LEN - 1] = 0;
	}
}

static void span_request(struct assembler *a, const struct pt_span_rec *s, struct request *r)
{
	request_init(r, PT_ROLE_SPAN, s->pid, s->tid, s->goid, s->flags & PT_F_GO, s->comm);
	r->container.cgroup_id = s->cgroup_id;
	r->parent_id = s->parent_id;
	span_phase(a, r, s->span, s->start, s->end, s->io_ns, s->gc_ns, s->nested_reqs > 0,
		   s->label);
	fix_span(r);
}

/*
 * A server request's render span that BPF carried in its record (pt_req_rec.render_*,
 * bpf/span.bpf.c span_fold()): the phase adopt() would have made of the span's own record.
 */
static void fold_render(struct assembler *a, const struct pt_req_rec *rec, struct request *r)
{
	if (!rec->render_start || rec->role != PT_ROLE_SERVER)
		return;
	span_phase(a, r, rec->render_span, rec->render_start, rec->render_end, rec->render_io_ns,
		   rec->render_gc_ns, false, rec->render_label);
	sort_phases(r);
	fix_span(r);	/* a render may end after the last response byte */
}

/* A timeline whose record's times made no phase (response bytes only, seen mid-way; end
 * before start): dropped, counted. */
static bool untimed(struct assembler *a, const struct request *r)
{
	if (r->nphases)
		return false;
	a->st.empty++;
	return true;
}

/* Hand a finished child to its parent, or emit it alone. Takes ownership. */
static void route_child(struct assembler *a, struct request *r, uint64_t now)
{
	struct kids *k;

	if (!r->parent_id || seen_has(&a->emitted_parents, r->parent_id)) {
		if (r->parent_id)
			a->st.orphans++;
		emit_request(a, r);
		free_request(a, r);	/* and the children it adopted */
		return;
	}
	k = kids_get(a, r->parent_id, now);
	if (!k || k->nreq >= REQ_MAX_CHILDREN) {
		a->st.children_overflow++;
		emit_request(a, r);
		free_request(a, r);
		return;
	}
	k->reqs[k->nreq++] = r;
	a->nkids++;
}

static void adopt(struct assembler *a, struct request *p)
{
	struct kids *k = a->kids.len ? u64map_del(&a->kids, p->req_id) : NULL;

	seen_add(&a->emitted_parents, p->req_id);
	if (!k)
		return;
	for (int i = 0; i < k->nspan; i++) {
		struct request tmp;

		span_request(a, &k->spans[i], &tmp);
		if (tmp.nphases && p->nphases < REQ_MAX_PHASES)
			p->phases[p->nphases++] = tmp.phases[0];
	}
	for (int i = 0; i < k->nreq; i++) {
		struct request *c = k->reqs[i];

		if (p->nchildren < REQ_MAX_CHILDREN)
			p->children[p->nchildren++] = c;
		else
			free_request(a, c), p->children_dropped++;
		a->st.nested++;
	}
	a->nkids -= k->nreq + k->nspan;
	pool_put(&a->kids_pool, k);
	/* children by start time; spans that saw outbound requests start inside */
	for (int i = 1; i < p->nchildren; i++) {
		struct request *t = p->children[i];
		int j = i - 1;

		while (j >= 0 && p->children[j]->start_ns > t->start_ns) {
			p->children[j + 1] = p->children[j];
			j--;
		}
		p->children[j + 1] = t;
	}
	for (int i = 0; i < p->nphases; i++) {
		struct phase *ph = &p->phases[i];

		if (ph->id != PHASE_RENDER && ph->id != PHASE_SPAN)
			continue;
		for (int j = 0; j < p->nchildren; j++) {
			uint64_t cs = p->children[j]->start_ns;

			if (cs >= ph->start_ns && cs <= ph->start_ns + ph->dur_ns)
				ph->io_in_span = true;
		}
	}
	sort_phases(p);
	fix_span(p);	/* a render may end after the last response byte */
}

static void process_req(struct assembler *a, struct pend *p)
{
	const struct pt_req_rec *rec = &p->req;
	struct request *r;
	bool flushed;

	flushed = seen_has(&a->idle_flushed, rec->req_id);
	if (flushed || (rec->flags & PT_F_IDLE_SENT)) {
		/* already reported when its connection went idle: remembered here, or known
		 * from BPF's mark (the collector's note), which outlasts this table */
		if (rec->flags & PT_F_IDLE_SENT)
			a->st.idle_marked++;
		/* a response that went on after that pause (a stream's, a long poll's) was
		 * reported cut there */
		if (flushed && rec->resp_last > a->idle_resp_last[seen_idx(rec->req_id)])
			a->st.idle_cut++;
		a->st.duplicates++;
		return;
	}
	if (rec->role == PT_ROLE_SERVER && seen_has(&a->emitted_parents, rec->req_id)) {
		/* a server request waiting for a span outlasts the idle flush: reported
		 * before its idle copy */
		a->st.duplicates++;
		return;
	}
	if (p->idle) {
		seen_add(&a->idle_flushed, rec->req_id);
		a->idle_resp_last[seen_idx(rec->req_id)] = rec->resp_last;
	}
	r = pool_get(&a->reqs);
	if (!r)
		return;
	build_timeline(rec, r);	/* its container: at the emit */
	if (untimed(a, r)) {
		pool_put(&a->reqs, r);
		return;
	}
	fold_render(a, rec, r);
	attribute_dns(a, rec, r);
	if (!r->host[0] && p->host[0])
		str_copy(r->host, sizeof(r->host), p->host);
	if (r->role == PT_ROLE_SERVER) {
		adopt(a, r);
		if (r->parent_id)	/* never: servers are top level */
			r->parent_id = 0;
	}
	route_child(a, r, p->key);
}

static void process_dns(struct assembler *a, struct pend *p)
{
	struct dns_ent *e = &a->dns[a->dns_head];
	struct request *r;

	e->rec = p->dns;
	e->rec.host[PT_HOST_LEN - 1] = 0;
	e->valid = true;
	e->dead = false;
	e->used_by = 0;
	a->dns_pid[a->dns_head] = e->rec.pid;
	a->dns_head = (a->dns_head + 1) % DNS_RING;
	if (a->dns_filled < DNS_RING)
		a->dns_filled++;
	if (!p->dns.rc)
		return;
	/* a failed lookup is a failed request of its own */
	r = pool_get(&a->reqs);
	if (!r)
		return;
	memset(r, 0, sizeof(*r));
	r->role = PT_ROLE_CLIENT;
	r->pid = p->dns.pid;
	r->tid = p->dns.tid;
	r->goid = p->dns.goid;
	r->is_go = p->dns.flags & PT_F_GO;
	memcpy(r->comm, p->dns.comm, sizeof(r->comm));
	r->comm[PT_COMM_LEN - 1] = 0;
	r->container.cgroup_id = p->dns.cgroup_id;
	str_copy(r->host, sizeof(r->host), e->rec.host);
	r->error = PT_ERR_DNS;
	r->dns_failed = true;
	r->dns_rc = p->dns.rc;
	r->parent_id = p->dns.parent_id;
	add_phase(r, PHASE_DNS, NULL, p->dns.start, p->dns.end);
	if (untimed(a, r)) {
		free_request(a, r);
		return;
	}
	fix_span(r);
	route_child(a, r, p->key);
}

static void process_span(struct assembler *a, struct pend *p)
{
	struct kids *k;
	struct request *r;

	if (p->span.parent_id && !seen_has(&a->emitted_parents, p->span.parent_id)) {
		k = kids_get(a, p->span.parent_id, p->key);
		if (k && k->nspan < (int)(sizeof(k->spans) / sizeof(k->spans[0]))) {
			k->spans[k->nspan++] = p->span;
			a->nkids++;
			return;
		}
		a->st.children_overflow++;
	}
	r = pool_get(&a->reqs);
	if (!r)
		return;
	span_request(a, &p->span, r);
	if (!untimed(a, r)) {
		if (r->parent_id)
			a->st.orphans++;
		emit_request(a, r);
	}
	pool_put(&a->reqs, r);
}

/* A record leaves the reorder window: built into a request, the dns cache or a span. */
static void release(struct assembler *a, struct pend *p)
{
	switch (p->type) {
	case PT_REC_REQ: process_req(a, p); break;
	case PT_REC_DNS: process_dns(a, p); break;
	case PT_REC_SPAN: process_span(a, p); break;
	case PT_REC_PROC: process_exit(a, p->req.pid, p->key); break;
	}
}

/* Children whose parent did not come in time are emitted on their own. */
static void expire_orphans(struct assembler *a, uint64_t now, bool all)
{
	size_t it = 0;
	uint64_t k;
	void *v;
	uint64_t dead[64];
	int nd = 0;

	while (u64map_next(&a->kids, &it, &k, &v) && nd < 64) {
		struct kids *kd = v;

		if (all || now - kd->since > a->o.orphan_ns)
			dead[nd++] = k;
	}
	for (int i = 0; i < nd; i++) {
		struct kids *kd = u64map_del(&a->kids, dead[i]);

		for (int j = 0; j < kd->nreq; j++) {
			a->st.orphans++;
			emit_request(a, kd->reqs[j]);
			free_request(a, kd->reqs[j]);
		}
		for (int j = 0; j < kd->nspan; j++) {
			struct request r;

			span_request(a, &kd->spans[j], &r);
			if (untimed(a, &r))
				continue;
			a->st.orphans++;
			emit_request(a, &r);
		}
		a->nkids -= kd->nreq + kd->nspan;
		pool_put(&a->kids_pool, kd);
	}
	if (all && nd == 64)	/* more than one batch */
		expire_orphans(a, now, all);
}

/* Release the oldest records in order, up to max: those that left the reorder window at
 * now (all: every record). True if it stopped at max with more ready. */
static bool release_until(struct assembler *a, uint64_t now, bool all, size_t max)
{
	for (size_t n = 0;; n++) {
		const struct reorder_ent *e = reorder_peek(&a->pending);
		struct pend *p;

		if (!e || (!all && e->key + a->o.reorder_ns > now))
			return false;
		if (n == max)
			return true;
		p = pending_take(a);
		release(a, p);
		pool_put(&a->pends, p);
	}
}

void assembler__tick(struct assembler *a, uint64_t now)
{
	release_until(a, now, false, SIZE_MAX);
	expire_orphans(a, now, false);
}

bool assembler__release(struct assembler *a, uint64_t now, size_t max)
{
	return release_until(a, now, false, max);
}

void assembler__flush(struct assembler *a)
{
	release_until(a, 0, true, SIZE_MAX);
	expire_orphans(a, 0, true);
}

void assembler__stats(const struct assembler *a, struct assembler_stats *st)
{
	int n = 0;

	*st = a->st;
	st->pending = reorder_len(&a->pending);
	st->children_waiting = a->nkids;
	for (int i = 0; i < DNS_RING; i++)
		n += a->dns[i].valid && !a->dns[i].dead;
	st->dns_cached = n;
}
