// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * collector_bench: the userspace half of phasetrace without BPF - synthetic
 * records through the real assembler, container enrichment and the real sinks -
 * to give the records/s one collector thread sustains.
 *
 *   collector_bench [-n MILLIONS] [-p PIDS] [-k REQS_PER_CONN] [-m all|json|hist] [-o PREFIX]
 *
 * The stream is what a busy keep-alive server host produces (HTTP/1.1, no h2): per
 * served request one outbound client request nested under it, on a keep-alive
 * connection to one of a few backends (every REQS_PER_CONN-th request opens a new
 * connection after a lookup whose dns phase and host are joined by address; the
 * others get the host from their connection), and the server request itself on a
 * keep-alive connection, delivered in end-time order with the collector's 100 ms
 * poll ticks. Records carry the bench's own cgroup id, resolved by the real cache.
 *   json: `trace --json`: the JSON output sink writing lines to /dev/null;
 *   hist: `serve`: the metrics sink (default buckets) counting into histograms.
 * One line per mode, hist first (tools/bench reads the json line, the last):
 *   mode=M events=N seconds=S events_per_s=R cpu_seconds=C events_per_cpu_s=P
 *   requests_emitted=E nested=K orphans=O
 * events_per_cpu_s (user + system time of this process) is the figure to compare on a
 * busy machine; events_per_s is wall clock. -o PREFIX keeps the output (PREFIX.json, the
 * lines; PREFIX.prom, the exposition at the end) to compare two builds byte for byte.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/resource.h>

#include "assemble/assembler.h"
#include "assemble/cgroups.h"
#include "util/clock.h"
#include "export/metrics.h"
#include "output/output.h"

#define US		1000ULL
#define MS		1000000ULL
#define TICK_NS		(100 * MS)	/* the collector polls every 100 ms */
#define REQ_GAP_NS	(20 * US)	/* a new served request every 20 us of stream time */
#define NBACKENDS	8
#define SRV_CONNS	64		/* keep-alive server connections per process */
#define NPAGES		5000		/* distinct server paths */
#define NITEMS		1000		/* distinct client paths */

/* paths made once: the generator must weigh little next to the collector */
static char page_paths[NPAGES][PT_PATH_LEN], item_paths[NITEMS][PT_PATH_LEN];

struct bench {
	uint32_t npids, per_conn;
	struct cgroups *cg;
	uint64_t cgroup_id;
	uint64_t now;		/* stream time: the enrichment's clock */
	const char *prefix;	/* -o: keep the outputs */
	struct pt_req_rec srv, cli;	/* the records being fed, written over */
};

/* padded: copied whole */
static const char comm_names[4][PT_COMM_LEN] = { "webserver", "api", "worker", "nginx" };

static void ip4(struct pt_addr *a, uint32_t ip, int port)
{
	a->family = AF_INET;
	a->port = port;
	ip = htonl(ip);
	memcpy(a->addr, &ip, 4);
}


static void enrich(void *ctx, struct request *r)
{
	struct bench *b = ctx;

	cgroups__fill(b->cg, r->pid, b->now, &r->container);
}

/* The client call of served request i: a new connection (after a lookup) or a reused one.
 * Written over b->cli: every field a request sets is set each time, the rest stays zero. */
static int feed_client(struct assembler *a, struct bench *b, uint64_t i, uint64_t t,
		       const struct pt_req_rec *s)
{
	uint32_t pid = s->pid, lanes = b->npids * NBACKENDS, lane = i % lanes, round = i / lanes;
	uint32_t backend = lane / b->npids, seq = round % b->per_conn;
	uint32_t backend_ip = 0x0a000100 | (backend + 1);	/* 10.0.1.x */
	uint64_t conn = (1ULL << 40) | ((uint64_t)(round / b->per_conn) << 16) | lane;
	struct pt_req_rec *c = &b->cli;
	int n = 1;

	c->type = PT_REC_REQ;
	c->pid = pid;
	c->tid = s->tid;
	c->cgroup_id = s->cgroup_id;
	memcpy(c->comm, s->comm, sizeof(c->comm));
	memcpy(c->method, s->method, sizeof(c->method));
	c->role = PT_ROLE_CLIENT;
	c->flags = PT_F_HTTP;
	c->conn_id = conn;
	c->req_id = 3 * i + 2;
	c->parent_id = s->req_id;
	c->req_seq = seq;
	c->end_reason = PT_END_NEXT;
	c->status = 200;
	ip4(&c->peer, backend_ip, 443);
	ip4(&c->local, 0x0a000001, 30000 + (lane + round / b->per_conn) % 30000);
	c->req_first = c->req_last = t + 50 * US;
	c->connect_start = c->connect_end = 0;
	if (!seq) {
		struct pt_dns_rec d = { .type = PT_REC_DNS, .pid = pid, .tid = s->tid, .naddr = 1,
					.start = t + 10 * US, .end = t + 1 * MS,
					.parent_id = s->req_id, .cgroup_id = b->cgroup_id };

		memcpy(d.comm, s->comm, sizeof(d.comm));
		snprintf(d.host, sizeof(d.host), "backend-%u.svc.example", backend + 1);
		d.addrs[0].family = AF_INET;
		memcpy(d.addrs[0].addr, &(uint32_t){ htonl(backend_ip) }, 4);
		assembler__add_dns(a, &d);
		n++;
		c->flags |= PT_F_CONNECT;
		c->connect_start = d.end + 5 * US;
		c->connect_end = c->connect_start + 100 * US;
		c->req_first = c->req_last = c->connect_end + 20 * US;
	}
	c->resp_first = c->req_last + 1 * MS + (i % 7) * 300 * US;
	c->resp_last = c->resp_first + 50 * US;
	c->bytes_req = 120;
	c->bytes_resp = 2048 + i % 512;
	memcpy(c->path, item_paths[i % NITEMS], sizeof(c->path));
	assembler__add_req(a, c, false);
	return n;
}

/* One served request starting at t: its client call, then the server request (written
 * over b->srv, as the client's over b->cli). */
static int feed_one(struct assembler *a, struct bench *b, uint64_t i, uint64_t t)
{
	uint32_t pid = 1000 + i % b->npids, srv_conn = (i / b->npids) % SRV_CONNS;
	struct pt_req_rec *s = &b->srv;
	int n;

	s->type = PT_REC_REQ;
	s->pid = pid;
	s->tid = pid + 1 + i % 8;
	s->role = PT_ROLE_SERVER;
	s->flags = PT_F_HTTP;
	s->conn_id = ((uint64_t)pid << 20) | srv_conn;
	s->req_id = 3 * i + 1;
	s->req_seq = (uint32_t)(i / b->npids / SRV_CONNS);
	s->status = i % 200 == 7 ? 503 : i % 50 == 3 ? 404 : 200;
	s->end_reason = PT_END_NEXT;
	s->cgroup_id = b->cgroup_id;
	memcpy(s->comm, comm_names[pid % 4], sizeof(s->comm));
	memcpy(s->method, "GET", 4);
	n = feed_client(a, b, i, t, s);
	ip4(&s->peer, 0x0a000002, 40000 + srv_conn);
	ip4(&s->local, 0x0a000001, 8080);
	s->req_first = s->req_last = t;
	s->resp_first = t + 3 * MS + (i % 11) * 200 * US;
	s->resp_last = s->resp_first + 100 * US;
	s->bytes_req = 300;
	s->bytes_resp = 16384 + i % 1024;
	s->writes = 2;
	memcpy(s->path, page_paths[i % NPAGES], sizeof(s->path));
	assembler__add_req(a, s, false);
	return n + 1;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Feed target records through an assembler into sink s; print the mode's line. */
static int run(struct bench *b, const char *mode, const struct sink *s, uint64_t target,
	       void (*tick)(void *ctx, uint64_t now), void *tick_ctx)
{
	struct assembler_opts o = {
		.reorder_ns = 50 * MS, .dns_gap_ns = 5000 * MS, .orphan_ns = 30000 * MS,
	};
	struct assembler_stats st;
	struct assembler *a = assembler__new(&o);
	uint64_t events = 0, t = 1000 * MS, next_tick = t + TICK_NS, t0;
	double secs, cpu0, cpu;

	if (!a || assembler__add_sink(a, s)) {
		assembler__free(a);
		return -1;
	}
	if (b->cg)
		assembler__set_enrich(a, enrich, b);
	cpu0 = cpu_seconds();
	t0 = mono_now_ns();
	for (uint64_t i = 0; events < target; i++, t += REQ_GAP_NS) {
		events += feed_one(a, b, i, t);
		if (t >= next_tick) {
			b->now = t;
			assembler__tick(a, t);
			if (tick)
				tick(tick_ctx, t);
			next_tick += TICK_NS;
		}
	}
	assembler__flush(a);
	if (tick)
		tick(tick_ctx, t);
	secs = (mono_now_ns() - t0) / 1e9;
	cpu = cpu_seconds() - cpu0;
	assembler__stats(a, &st);
	printf("mode=%s events=%llu seconds=%.3f events_per_s=%.0f cpu_seconds=%.3f "
	       "events_per_cpu_s=%.0f requests_emitted=%llu nested=%llu orphans=%llu\n", mode,
	       (unsigned long long)events, secs, events / secs, cpu, events / cpu,
	       (unsigned long long)st.emitted, (unsigned long long)st.nested,
	       (unsigned long long)st.orphans);
	fflush(stdout);
	assembler__free(a);
	return 0;
}

/* PREFIX.ext with -o, else /dev/null */
static FILE *out_file(const struct bench *b, const char *ext)
{
	char path[4096];

	if (!b->prefix)
		return fopen("/dev/null", "we");
	snprintf(path, sizeof(path), "%s.%s", b->prefix, ext);
	return fopen(path, "we");
}

static int run_hist(struct bench *b, uint64_t target)
{
	struct metrics *m = metrics__new(NULL);
	struct sink s;
	size_t len;
	char *text;
	FILE *f;
	int err;

	if (!m)
		return -1;
	s = metrics__sink(m);
	err = run(b, "hist", &s, target, NULL, NULL);
	if (!err && b->prefix && !metrics__render(m, &text, &len)) {
		f = out_file(b, "prom");
		if (f) {
			fwrite(text, 1, len, f);
			fclose(f);
		}
		free(text);
	}
	metrics__free(m);
	return err;
}

static int run_json(struct bench *b, uint64_t target)
{
	FILE *f = out_file(b, "json");
	struct output *o = f ? output__new(f, true, false, 0) : NULL;
	struct sink s;
	int err = -1;

	if (o) {
		s = output__sink(o);
		err = run(b, "json", &s, target, output__tick_cb, o);
	}
	output__free(o);
	if (f)
		fclose(f);
	return err;
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-n MILLIONS_OF_EVENTS] [-p PIDS] [-k REQS_PER_CONN] "
		"[-m all|json|hist] [-o PREFIX]\n", prog);
	exit(2);
}

int main(int argc, char **argv)
{
	struct bench b = { .npids = 16, .per_conn = 100 };
	const char *mode = "all";
	double millions = 3;
	uint64_t target;
	int opt, err = 0;

	while ((opt = getopt(argc, argv, "n:p:k:m:o:h")) != -1) {
		switch (opt) {
		case 'n': millions = atof(optarg); break;
		case 'p': b.npids = atoi(optarg); break;
		case 'k': b.per_conn = atoi(optarg); break;
		case 'm': mode = optarg; break;
		case 'o': b.prefix = optarg; break;
		default: usage(argv[0]);
		}
	}
	if (millions <= 0 || (int)b.npids <= 0 || (int)b.per_conn <= 0 ||
	    (strcmp(mode, "all") && strcmp(mode, "json") && strcmp(mode, "hist")))
		usage(argv[0]);
	target = (uint64_t)(millions * 1e6);
	for (int i = 0; i < NPAGES; i++)
		snprintf(page_paths[i], PT_PATH_LEN, "/page/%d", i);
	for (int i = 0; i < NITEMS; i++)
		snprintf(item_paths[i], PT_PATH_LEN, "/v1/items/%d", i);
	/* the records' cgroup: the hierarchy's root, resolved once by the real cache */
	if (!cgroups__new(NULL, &b.cg))
		b.cgroup_id = cgroups__dir_id(AT_FDCWD, cgroups__root(b.cg));
	if (strcmp(mode, "json"))
		err = run_hist(&b, target);
	if (!err && strcmp(mode, "hist"))
		err = run_json(&b, target);
	cgroups__free(b.cg);
	if (err)
		fprintf(stderr, "collector_bench: cannot create the assembler or its sink\n");
	return err ? 1 : 0;
}
