// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Grouping requests and counting, per request, what each finding looks at; see diagnose.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose/diag_impl.h"

const char *const diag_cat_names[CAT__COUNT] = {
	"dns", "connect", "tls", "send", "ttfb", "recv", "render", "calls", "app",
};

const char *const diag_finding_names[F__COUNT] = {
	"connect-per-request", "dns-per-request", "calls-in-render", "sequential-calls",
	"slow-client", "small-writes", "deadline", "template-parse-per-request", "gc-in-render",
	"tls-failure", "delayed-ack",
};

/* Which category wins where intervals overlap: render holds its calls, calls hold the
 * handler's time, the rest of a server request is the handler's own ("app"). */
static const int cat_rank[CAT__COUNT] = {
	[CAT_RENDER] = 0, [CAT_CALLS] = 1, [CAT_DNS] = 2, [CAT_CONNECT] = 3, [CAT_TLS] = 4,
	[CAT_SEND] = 5, [CAT_TTFB] = 6, [CAT_RECV] = 7, [CAT_APP] = 8,
};

#define MAX_IV	(REQ_MAX_PHASES + REQ_MAX_CHILDREN)

struct iv {
	uint64_t s, e;
	enum diag_cat cat;
};

struct diagnose *diagnose__new(void)
{
	return calloc(1, sizeof(struct diagnose));
}

/* A copy of a top-level request and its calls in one block (one free()); the calls'
 * own children are not kept (calls have none). */
static struct request *request_dup(const struct request *r)
{
	struct request *c = malloc(sizeof(*c) * (1 + r->nchildren));

	if (!c)
		return NULL;
	c[0] = *r;
	for (int i = 0; i < r->nchildren; i++) {
		c[1 + i] = *r->children[i];
		c[1 + i].nchildren = 0;
		c[0].children[i] = &c[1 + i];
	}
	return c;
}

/* The typical request: the one nearest the p50 of the group so far. */
static void keep_typical(struct diag_group *g, const struct request *r)
{
	uint64_t p50 = histogram__quantile(g->total, 0.5);
	struct request *c;

	if (g->typical && llabs((long long)(r->dur_ns - p50)) >=
	    llabs((long long)(g->typical->dur_ns - p50)))
		return;
	c = request_dup(r);
	if (!c)
		return;
	free(g->typical);
	g->typical = c;
}

static void group_free(struct diag_group *g)
{
	if (!g)
		return;
	free(g->typical);
	histogram__free(g->total);
	for (int i = 0; i < CAT__COUNT; i++)
		histogram__free(g->cat[i]);
	free(g);
}

void diagnose__free(struct diagnose *d)
{
	if (!d)
		return;
	for (int i = 0; i < d->ngroups; i++)
		group_free(d->groups[i]);
	free(d);
}

uint64_t diagnose__seen(const struct diagnose *d)
{
	return d->seen;
}

static void request_endpoint(const struct request *r, char *out, size_t len)
{
	char folded[PT_PATH_LEN + 8];

	if (r->role != PT_ROLE_SERVER) {
		snprintf(out, len, "(outbound)");
		return;
	}
	if (!r->method[0]) {
		snprintf(out, len, "(no request line)");
		return;
	}
	diag_fold_path(r->path, folded, sizeof(folded));
	snprintf(out, len, "%s %s", r->method, folded);
}

static struct diag_group *group_get(struct diagnose *d, const struct request *r)
{
	char ep[DIAG_ENDPOINT_LEN];
	struct diag_group *g;

	request_endpoint(r, ep, sizeof(ep));
	for (int i = 0; i < d->ngroups; i++) {
		g = d->groups[i];
		if (g->pid == r->pid && g->role == r->role && !strcmp(g->endpoint, ep) &&
		    !strcmp(g->comm, r->comm))
			return g;
	}
	if (d->ngroups >= DIAG_MAX_GROUPS)
		return NULL;
	g = calloc(1, sizeof(*g));
	if (!g || !(g->total = histogram__new(NULL, 0))) {
		group_free(g);
		return NULL;
	}
	g->role = r->role;
	g->pid = r->pid;
	memcpy(g->comm, r->comm, sizeof(g->comm));
	snprintf(g->endpoint, sizeof(g->endpoint), "%s", ep);
	d->groups[d->ngroups++] = g;
	return g;
}

static int add_iv(struct iv *iv, int n, uint64_t s, uint64_t dur, enum diag_cat cat)
{
	if (n >= MAX_IV || !dur)
		return n;
	iv[n] = (struct iv){ s, s + dur, cat };
	return n + 1;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Exclusive time per category in [s, e]: each instant goes to the best-ranked interval
 * covering it, else to fallback (CAT__COUNT: nobody). */
static void exclusive(const struct iv *iv, int n, uint64_t s, uint64_t e,
		      enum diag_cat fallback, uint64_t out[CAT__COUNT])
{
	uint64_t b[2 * MAX_IV + 2];
	int nb = 0;

	b[nb++] = s;
	b[nb++] = e;
	for (int i = 0; i < n; i++) {
		b[nb++] = iv[i].s < s ? s : iv[i].s > e ? e : iv[i].s;
		b[nb++] = iv[i].e < s ? s : iv[i].e > e ? e : iv[i].e;
	}
	qsort(b, nb, sizeof(b[0]), cmp_u64);
	for (int k = 0; k + 1 < nb; k++) {
		uint64_t lo = b[k], hi = b[k + 1];
		int best = fallback;

		if (hi == lo)
			continue;
		for (int i = 0; i < n; i++)
			if (iv[i].s <= lo && iv[i].e >= hi &&
			    (best == CAT__COUNT || cat_rank[iv[i].cat] < cat_rank[best]))
				best = iv[i].cat;
		if (best != CAT__COUNT)
			out[best] += hi - lo;
	}
}

static enum diag_cat phase_cat(const struct phase *ph, enum pt_role role)
{
	switch (ph->id) {
	case PHASE_DNS: return CAT_DNS;
	case PHASE_CONNECT: return CAT_CONNECT;
	case PHASE_TLS: return CAT_TLS;
	case PHASE_SEND: return CAT_SEND;
	case PHASE_TTFB: return role == PT_ROLE_SERVER ? CAT_APP : CAT_TTFB;
	case PHASE_RECV: return CAT_RECV;
	case PHASE_RENDER: return CAT_RENDER;
	default: return CAT_APP;
	}
}

static void time_split(const struct request *r, uint64_t out[CAT__COUNT])
{
	struct iv iv[MAX_IV];
	bool server = r->role == PT_ROLE_SERVER;
	int n = 0;

	for (int i = 0; i < r->nphases; i++) {
		const struct phase *ph = &r->phases[i];
		enum diag_cat c = phase_cat(ph, r->role);

		if (c != CAT_APP)
			n = add_iv(iv, n, ph->start_ns, ph->dur_ns, c);
	}
	for (int i = 0; server && i < r->nchildren; i++)
		n = add_iv(iv, n, r->children[i]->start_ns, r->children[i]->dur_ns, CAT_CALLS);
	exclusive(iv, n, r->start_ns, r->start_ns + r->dur_ns, server ? CAT_APP : CAT__COUNT,
		  out);
}

static void account_time(struct diag_group *g, const struct request *r)
{
	uint64_t t[CAT__COUNT] = { 0 };

	time_split(r, t);
	g->n++;
	g->total_ns += r->dur_ns;
	histogram__record(g->total, r->dur_ns);
	for (int i = 0; i < CAT__COUNT; i++) {
		if (!t[i])
			continue;
		if (!g->cat[i] && !(g->cat[i] = histogram__new(NULL, 0)))
			continue;
		g->cat_ns[i] += t[i];
		g->cat_n[i]++;
		histogram__record(g->cat[i], t[i]);
	}
	if (t[CAT_SEND] >= DIAG_SLOW_MIN_NS && t[CAT_SEND] >= DIAG_SLOW_SHARE * r->dur_ns) {
		struct diag_count *f = &g->f[F_SLOW_CLIENT];

		f->holds++;
		f->ns += t[CAT_SEND];
		f->ns2 += r->dur_ns;
		f->bytes += r->role == PT_ROLE_SERVER ? r->bytes_resp : r->bytes_req;
	}
	g->f[F_SLOW_CLIENT].of++;
}

/* ---- the outbound calls of a request (a server's children, or a client request) ---- */

static void call_peer(const struct request *c, char *buf, size_t len)
{
	if (c->host[0])
		snprintf(buf, len, "%s:%u", c->host, c->peer.port);
	else if (c->peer.family)
		addr_str(&c->peer, buf, len);
	else
		snprintf(buf, len, "?");
}

/* A call opened a new connection to a peer this group had a working connection to:
 * true. Remembers the peer, and whether this call failed. */
static bool peer_reconnect(struct diag_group *g, const struct request *c, bool connected)
{
	struct diag_peer *p = NULL;
	bool again;

	for (uint32_t i = 0; i < g->npeers && !p; i++)
		if (!memcmp(&g->peers[i].addr, &c->peer, sizeof(c->peer)))
			p = &g->peers[i];
	again = connected && p && !p->failed;
	if (!p && g->npeers < DIAG_PEERS) {
		p = &g->peers[g->npeers++];
		p->addr = c->peer;
	}
	if (p)
		p->failed = c->error != PT_ERR_NONE;
	return again;
}

/* "127.0.0.1", "::1": a resolver call on an address asks no server (Go's reports it) */
static bool ip_literal(const char *host)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* The name was looked up before, within DIAG_DNS_AGAIN_NS of this lookup's start. */
static bool host_again(struct diag_group *g, const char *host, uint64_t start, uint64_t end)
{
	struct diag_host *h, *oldest = &g->hosts[0];
	bool again = false;

	for (int i = 0; i < DIAG_HOSTS; i++) {
		h = &g->hosts[i];
		if (h->last < oldest->last)
			oldest = h;
		if (!h->name[0] || strncmp(h->name, host, sizeof(h->name) - 1))
			continue;
		again = start - h->last <= DIAG_DNS_AGAIN_NS || h->last > start;
		h->last = end;
		return again;
	}
	snprintf(oldest->name, sizeof(oldest->name), "%s", host);
	oldest->last = end;
	return false;
}

/* connect-per-request and dns-per-request: new connections and lookups of the calls. */
static void check_calls(struct diag_group *g, const struct request *const *calls, int n)
{
	struct diag_count *fc = &g->f[F_CONNECT], *fd = &g->f[F_DNS];
	bool reconnect = false, relookup = false;

	for (int i = 0; i < n; i++) {
		const struct request *c = calls[i];
		const struct phase *conn = request_phase(c, PHASE_CONNECT);
		const struct phase *tls = request_phase(c, PHASE_TLS);
		const struct phase *dns = request_phase(c, PHASE_DNS);

		if (peer_reconnect(g, c, conn)) {
			reconnect = true;
			fc->n++;
			fc->ns += conn->dur_ns + (tls ? tls->dur_ns : 0);
			call_peer(c, fc->what, sizeof(fc->what));
		}
		if (dns && c->host[0] && !ip_literal(c->host) &&
		    host_again(g, c->host, dns->start_ns, dns->start_ns + dns->dur_ns)) {
			relookup = true;
			fd->n++;
			fd->ns += dns->dur_ns;
			snprintf(fd->what, sizeof(fd->what), "%s", c->host);
		}
	}
	if (!n)
		return;
	fc->of++;
	fd->of++;
	fc->holds += reconnect;
	fd->holds += relookup;
}

/*
 * delayed-ack: a message read in two parts 40 ms apart (its recv phase, from the first
 * byte read to the last, lasts Linux's minimum delayed-ACK time). Its writer wrote it in
 * more than one call and Nagle's algorithm held the later part until the reader
 * acknowledged the first, which a reader on a keep-alive connection delays by 40 ms.
 * The messages: a server request's own request, and the responses of its calls (a client
 * request is its own call). 0: r was read in one part; 1: in more; 2: so, stalled.
 */
static int delack_read(struct diag_count *f, const struct request *r, bool request)
{
	const struct phase *rx = request_phase(r, PHASE_RECV);

	if (!rx)
		return 0;
	if (rx->dur_ns < DIAG_DELACK_MIN_NS || rx->dur_ns >= DIAG_DELACK_MAX_NS)
		return 1;
	f->n++;
	f->n2 += request;
	f->ns += rx->dur_ns;
	f->bytes += request ? r->bytes_req : r->bytes_resp;
	call_peer(r, f->what, sizeof(f->what));
	return 2;
}

/* Applies to requests that read a message in more than one part (their own, or a call's
 * response), holds for those with a stalled one. */
static void check_delayed_ack(struct diag_group *g, const struct request *r)
{
	struct diag_count *f = &g->f[F_DELAYED_ACK];
	int worst = delack_read(f, r, r->role == PT_ROLE_SERVER);

	for (int i = 0; r->role == PT_ROLE_SERVER && i < r->nchildren; i++) {
		int v = delack_read(f, r->children[i], false);

		worst = v > worst ? v : worst;
	}
	f->of += worst > 0;
	f->holds += worst == 2;
}

/* calls-in-render: calls that start while a render span of the request is open. */
static void check_render(struct diag_group *g, const struct request *r)
{
	struct diag_count *f = &g->f[F_RENDER_CALLS];
	uint64_t render_ns = 0, calls = 0, calls_ns = 0;
	bool any = false;

	for (int i = 0; i < r->nphases; i++) {
		const struct phase *ph = &r->phases[i];

		if (ph->id != PHASE_RENDER)
			continue;
		any = true;
		render_ns += ph->dur_ns;
		for (int j = 0; j < r->nchildren; j++) {
			const struct request *c = r->children[j];

			if (c->start_ns >= ph->start_ns && c->start_ns < ph->start_ns + ph->dur_ns) {
				calls++;
				calls_ns += c->dur_ns;
			}
		}
	}
	if (!any)
		return;
	f->of++;
	if (!calls)
		return;
	f->holds++;
	f->n += calls;
	f->ns += calls_ns;
	f->ns2 += render_ns;
}

#define SEQ_PEERS	8

/* sequential-calls: calls to two or more peers, none overlapping another; running the
 * peers' calls concurrently would take the longest peer's time instead of the sum. */
static void check_sequential(struct diag_group *g, const struct request *r)
{
	struct diag_count *f = &g->f[F_SEQUENTIAL];
	char names[SEQ_PEERS][DIAG_HOST_LEN];
	uint64_t sums[SEQ_PEERS] = { 0 }, end = 0, sum = 0, max = 0;
	int np = 0;

	if (!r->nchildren)
		return;
	f->of++;
	for (int i = 0; i < r->nchildren; i++) {
		const struct request *c = r->children[i];
		char peer[DIAG_HOST_LEN];
		int k;

		if (c->start_ns < end)
			return;		/* already concurrent */
		end = c->start_ns + c->dur_ns;
		call_peer(c, peer, sizeof(peer));
		for (k = 0; k < np && strcmp(names[k], peer); k++)
			;
		if (k == np && np < SEQ_PEERS)
			snprintf(names[np++], sizeof(names[0]), "%s", peer);
		sums[k < SEQ_PEERS ? k : SEQ_PEERS - 1] += c->dur_ns;
		sum += c->dur_ns;
	}
	if (np < 2)
		return;
	for (int k = 0; k < np; k++)
		max = sums[k] > max ? sums[k] : max;
	f->holds++;
	f->n += r->nchildren;
	f->ns += sum - max;
	f->ns2 += r->dur_ns;
	snprintf(f->what, sizeof(f->what), "%s", names[0]);
}

static void check_writes(struct diag_group *g, const struct request *r)
{
	struct diag_count *f = &g->f[F_SMALL_WRITES];
	uint64_t bytes = r->role == PT_ROLE_SERVER ? r->bytes_resp : r->bytes_req;

	if (!r->writes)
		return;
	f->of++;
	if (r->writes < DIAG_SMALL_MIN_WRITES || bytes >= (uint64_t)DIAG_SMALL_WRITE_BYTES *
	    r->writes)
		return;
	f->holds++;
	f->n += r->writes;
	f->bytes += bytes;
}

static bool deadline_error(enum pt_err e)
{
	return e == PT_ERR_TIMEOUT || e == PT_ERR_RESET || e == PT_ERR_NO_RESPONSE;
}

/* deadline: the request, or one of its calls, ended in a timeout, reset or close. */
static void check_errors(struct diag_group *g, const struct request *r)
{
	struct diag_count *f = &g->f[F_DEADLINE];
	const struct request *e = deadline_error(r->error) ? r : NULL;

	for (int i = 0; !e && i < r->nchildren; i++)
		if (deadline_error(r->children[i]->error))
			e = r->children[i];
	f->of++;
	if (!e)
		return;
	f->holds++;
	f->ns += e->dur_ns;
	if (e != r)
		call_peer(e, f->what, sizeof(f->what));
	if (g->nerr_kept < DIAG_ERR_KEEP)
		g->err_ns[g->nerr_kept++] = e->dur_ns;
}

/* tls-failure, for one request with a TLS handshake (r itself or one of its calls). */
static void tls_handshake(struct diag_count *f, const struct request *r)
{
	const struct phase *hs = request_phase(r, PHASE_TLS);

	if (!hs)
		return;
	f->of++;
	if (r->error != PT_ERR_TLS)
		return;
	f->holds++;
	f->ns += hs->dur_ns;
	if (r->role == PT_ROLE_CLIENT)
		call_peer(r, f->what, sizeof(f->what));
}

/* tls-failure: handshakes that failed, the group's own (a server's: its clients') and
 * those of its calls. */
static void check_tls(struct diag_group *g, const struct request *r)
{
	tls_handshake(&g->f[F_TLS_FAIL], r);
	for (int i = 0; i < r->nchildren; i++)
		tls_handshake(&g->f[F_TLS_FAIL], r->children[i]);
}

/* template-parse-per-request: a Go server request that parses templates. */
static void check_parses(struct diag_group *g, const struct request *r)
{
	struct diag_count *f = &g->f[F_TPL_PARSE];

	if (!r->is_go || r->role != PT_ROLE_SERVER)
		return;
	f->of++;
	if (!r->tpl_parses)
		return;
	f->holds++;
	f->n += r->tpl_parses;
}

/* gc-in-render: stop-the-world pauses of a Go process inside a request's render. */
static void check_gc(struct diag_group *g, const struct request *r)
{
	struct diag_count *f = &g->f[F_GC_RENDER];
	uint64_t gc = 0, render = 0;

	if (!r->is_go || !request_phase(r, PHASE_RENDER))
		return;
	for (int i = 0; i < r->nphases; i++) {
		if (r->phases[i].id != PHASE_RENDER)
			continue;
		gc += r->phases[i].gc_ns;
		render += r->phases[i].dur_ns;
	}
	f->of++;
	f->ns2 += render;
	if (!gc)
		return;
	f->holds++;
	f->ns += gc;
}

void diagnose__add(struct diagnose *d, const struct request *r)
{
	struct diag_group *g;

	if (r->role != PT_ROLE_SERVER && (r->role != PT_ROLE_CLIENT || r->parent_id))
		return;		/* spans alone, and calls whose server request was lost */
	d->seen++;
	if (!d->first_ns || r->start_ns < d->first_ns)
		d->first_ns = r->start_ns;
	if (r->start_ns + r->dur_ns > d->last_ns)
		d->last_ns = r->start_ns + r->dur_ns;
	g = group_get(d, r);
	if (!g) {
		d->overflow++;
		return;
	}
	account_time(g, r);
	keep_typical(g, r);
	if (r->role == PT_ROLE_SERVER)
		check_calls(g, (const struct request *const *)r->children, r->nchildren);
	else
		check_calls(g, &r, 1);
	check_delayed_ack(g, r);
	check_render(g, r);
	check_sequential(g, r);
	check_writes(g, r);
	check_errors(g, r);
	check_tls(g, r);
	check_parses(g, r);
	check_gc(g, r);
}

static void on_request(void *ctx, const struct request *r)
{
	diagnose__add(ctx, r);
}

struct sink diagnose__sink(struct diagnose *d)
{
	return (struct sink){ .name = "diagnose", .on_request = on_request, .ctx = d };
}
