// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * collector_bench: the userspace half of phasetrace without BPF - synthetic
 * records through the real assembler and the real JSON formatter - to give
 * the events/s one collector thread sustains.
 *
 *   collector_bench [-n MILLIONS] [-p PIDS]
 *
 * The stream is what a busy server host produces: per served request one
 * lookup, one outbound client request nested under it (connect, send, ttfb,
 * recv; dns joined by address) and the server request itself, delivered in
 * time order with the collector's 100 ms poll ticks. Each JSON line is
 * formatted into a buffer and discarded. Prints one line:
 *   events=N seconds=S events_per_s=R requests_emitted=E nested=K
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "assemble/assembler.h"
#include "output/output.h"

#define US		1000ULL
#define MS		1000000ULL
#define TICK_NS		(100 * MS)	/* the collector polls every 100 ms */
#define REQ_GAP_NS	(20 * US)	/* a new served request every 20 us of stream time */

struct fmt_sink {
	char buf[1 << 20];
	uint64_t bytes, lines;
};

static void on_request(void *ctx, const struct request *r)
{
	struct fmt_sink *f = ctx;

	f->bytes += json_format(r, f->buf, sizeof(f->buf));
	f->lines++;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void ip4(struct pt_addr *a, uint32_t ip, int port)
{
	a->family = AF_INET;
	a->port = port;
	ip = htonl(ip);
	memcpy(a->addr, &ip, 4);
}

/* One served request starting at t: lookup, nested client call, server request. */
static int feed_one(struct assembler *a, uint64_t i, uint32_t npids, uint64_t t)
{
	uint32_t pid = 1000 + i % npids, tid = pid + 1 + i % 8;
	uint32_t backend_ip = 0x0a000000 | (i % 251 + 1);	/* 10.0.0.x */
	uint64_t srv_id = 3 * i + 1, cli_id = 3 * i + 2;
	struct pt_dns_rec d = { .type = PT_REC_DNS, .pid = pid, .tid = tid, .naddr = 1,
				.start = t + 10 * US, .end = t + 1 * MS, .parent_id = srv_id };
	struct pt_req_rec c = { .type = PT_REC_REQ, .pid = pid, .tid = tid,
				.role = PT_ROLE_CLIENT, .flags = PT_F_CONNECT | PT_F_HTTP,
				.conn_id = cli_id, .req_id = cli_id, .parent_id = srv_id,
				.status = 200, .end_reason = PT_END_CLOSE };
	struct pt_req_rec s = { .type = PT_REC_REQ, .pid = pid, .tid = tid,
				.role = PT_ROLE_SERVER, .flags = PT_F_HTTP, .conn_id = srv_id,
				.req_id = srv_id, .status = 200, .end_reason = PT_END_NEXT };

	snprintf(d.comm, sizeof(d.comm), "webserver");
	snprintf(d.host, sizeof(d.host), "backend-%u.svc.example", backend_ip & 0xff);
	d.addrs[0].family = AF_INET;
	memcpy(d.addrs[0].addr, &(uint32_t){ htonl(backend_ip) }, 4);

	memcpy(c.comm, d.comm, sizeof(c.comm));
	ip4(&c.peer, backend_ip, 443);
	ip4(&c.local, 0x0a000001, 30000 + i % 30000);
	c.connect_start = t + 1 * MS + 5 * US;
	c.connect_end = c.connect_start + 100 * US;
	c.req_first = c.req_last = c.connect_end + 20 * US;
	c.resp_first = c.req_last + 3 * MS;
	c.resp_last = c.resp_first + 50 * US;
	c.bytes_req = 120;
	c.bytes_resp = 2048;
	snprintf(c.method, sizeof(c.method), "GET");
	snprintf(c.path, sizeof(c.path), "/v1/items/%llu", (unsigned long long)(i % 1000));

	memcpy(s.comm, d.comm, sizeof(s.comm));
	ip4(&s.peer, 0x0a000002, 40000 + i % 20000);
	ip4(&s.local, 0x0a000001, 8080);
	s.req_first = s.req_last = t;
	s.resp_first = c.resp_last + 2 * MS;
	s.resp_last = s.resp_first + 100 * US;
	s.bytes_req = 300;
	s.bytes_resp = 16384;
	snprintf(s.method, sizeof(s.method), "GET");
	snprintf(s.path, sizeof(s.path), "/page/%llu", (unsigned long long)(i % 5000));

	/* ring-buffer order: each record when it ended */
	assembler__add_dns(a, &d);
	assembler__add_req(a, &c, false);
	assembler__add_req(a, &s, false);
	return 3;
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-n MILLIONS_OF_EVENTS] [-p PIDS]\n", prog);
	exit(2);
}

int main(int argc, char **argv)
{
	struct assembler_opts o = {
		.reorder_ns = 50 * MS, .dns_gap_ns = 5000 * MS, .orphan_ns = 30000 * MS,
	};
	static struct fmt_sink fs;
	struct sink s = { .name = "json", .on_request = on_request, .ctx = &fs };
	struct assembler_stats st;
	struct assembler *a;
	double millions = 3, secs;
	uint64_t events = 0, target, t = 1000 * MS, next_tick, t0;
	int npids = 16, opt;

	while ((opt = getopt(argc, argv, "n:p:h")) != -1) {
		switch (opt) {
		case 'n': millions = atof(optarg); break;
		case 'p': npids = atoi(optarg); break;
		default: usage(argv[0]);
		}
	}
	if (millions <= 0 || npids <= 0)
		usage(argv[0]);
	target = (uint64_t)(millions * 1e6);
	a = assembler__new(&o);
	if (!a || assembler__add_sink(a, &s)) {
		fprintf(stderr, "collector_bench: cannot create the assembler\n");
		return 1;
	}
	next_tick = t + TICK_NS;
	t0 = now_ns();
	for (uint64_t i = 0; events < target; i++, t += REQ_GAP_NS) {
		events += feed_one(a, i, npids, t);
		if (t >= next_tick) {
			assembler__tick(a, t);
			next_tick += TICK_NS;
		}
	}
	assembler__flush(a);
	secs = (now_ns() - t0) / 1e9;
	assembler__stats(a, &st);
	printf("events=%llu seconds=%.3f events_per_s=%.0f requests_emitted=%llu nested=%llu "
	       "orphans=%llu json_bytes=%llu\n", (unsigned long long)events, secs, events / secs,
	       (unsigned long long)st.emitted, (unsigned long long)st.nested,
	       (unsigned long long)st.orphans, (unsigned long long)fs.bytes);
	assembler__free(a);
	return 0;
}
