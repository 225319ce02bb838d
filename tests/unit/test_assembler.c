// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The request assembler fed with recorded event sequences (no BPF, no root):
 * out-of-order delivery, missing events, fd/connection reuse, pid reuse,
 * keep-alive, lookups on helper threads, nesting.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "assemble/assembler.h"

#define MS 1000000ULL
#define T0 (1000 * MS)	/* an arbitrary monotonic origin */

static struct request got[64];
static int ngot;

static void collect(void *ctx, const struct request *r)
{
	if (ngot < 64) {
		got[ngot] = *r;
		/* children are owned by the assembler: keep shallow copies */
		for (int i = 0; i < r->nchildren; i++) {
			struct request *c = malloc(sizeof(*c));

			*c = *r->children[i];
			got[ngot].children[i] = c;
		}
		ngot++;
	}
}

static struct assembler *new_asm(void)
{
	struct assembler_opts o = {
		.reorder_ns = 50 * MS, .dns_gap_ns = 5000 * MS, .orphan_ns = 30000 * MS,
	};
	struct assembler *a = assembler__new(&o);
	struct sink s = { .name = "test", .on_request = collect };

	assert_non_null(a);
	assembler__add_sink(a, &s);
	for (int i = 0; i < ngot; i++)
		for (int j = 0; j < got[i].nchildren; j++)
			free(got[i].children[j]);
	ngot = 0;
	return a;
}

static void set_ip4(struct pt_addr *a, const char *ip, int port)
{
	a->family = AF_INET;
	a->port = port;
	inet_pton(AF_INET, ip, a->addr);
}

static struct pt_dns_rec dns(uint32_t pid, uint32_t tid, const char *host, const char *ip,
			     uint64_t start, uint64_t end)
{
	struct pt_dns_rec d = { .type = PT_REC_DNS, .pid = pid, .tid = tid, .start = start,
				.end = end, .naddr = 1 };

	snprintf(d.host, sizeof(d.host), "%s", host);
	snprintf(d.comm, sizeof(d.comm), "client");
	d.addrs[0].family = AF_INET;
	inet_pton(AF_INET, ip, d.addrs[0].addr);
	return d;
}

/* A client request: connect (if first) then send, ttfb, recv. */
static struct pt_req_rec creq(uint32_t pid, uint64_t conn, uint64_t id, uint32_t seq,
			      const char *ip, uint64_t t)
{
	struct pt_req_rec r = { .type = PT_REC_REQ, .pid = pid, .tid = pid, .role = PT_ROLE_CLIENT,
				.conn_id = conn, .req_id = id, .req_seq = seq };

	snprintf(r.comm, sizeof(r.comm), "client");
	set_ip4(&r.peer, ip, 443);
	set_ip4(&r.local, "127.0.0.1", 40000);
	if (seq == 0) {
		r.flags |= PT_F_CONNECT;
		r.connect_start = t;
		r.connect_end = t + 1 * MS;
		t += 1 * MS;
	}
	r.req_first = r.req_last = t + 1 * MS;
	r.resp_first = t + 101 * MS;
	r.resp_last = t + 102 * MS;
	return r;
}

static const struct phase *ph(const struct request *r, enum phase_id id)
{
	return request_phase(r, id);
}

static void test_dns_attributed_from_helper_thread(void **state)
{
	struct assembler *a = new_asm();
	struct pt_dns_rec d = dns(100, 101 /* helper thread */, "api.test", "10.0.0.7", T0,
				  T0 + 150 * MS);
	struct pt_req_rec r = creq(100, 1, 11, 0, "10.0.0.7", T0 + 151 * MS);

	assembler__add_dns(a, &d);
	assembler__add_req(a, &r, false);
	assembler__flush(a);
	assert_int_equal(ngot, 1);
	assert_string_equal(got[0].host, "api.test");
	assert_non_null(ph(&got[0], PHASE_DNS));
	assert_int_equal(ph(&got[0], PHASE_DNS)->dur_ns, 150 * MS);
	assert_int_equal(got[0].start_ns, T0);
	assert_int_equal(ph(&got[0], PHASE_CONNECT)->dur_ns, 1 * MS);
	assert_int_equal(ph(&got[0], PHASE_TTFB)->dur_ns, 100 * MS);
	assembler__free(a);
}

static void test_concurrent_lookups_of_one_name(void **state)
{
	/* two threads resolve the same name, the later lookup finishing first:
	 * each connection gets its own thread's lookup */
	struct assembler *a = new_asm();
	struct pt_dns_rec d1 = dns(100, 101, "api.test", "10.0.0.7", T0, T0 + 80 * MS);
	struct pt_dns_rec d2 = dns(100, 102, "api.test", "10.0.0.7", T0 + 10 * MS,
				   T0 + 30 * MS);
	struct pt_req_rec r1 = creq(100, 1, 11, 0, "10.0.0.7", T0 + 81 * MS);
	struct pt_req_rec r2 = creq(100, 2, 12, 0, "10.0.0.7", T0 + 31 * MS);

	r1.tid = 101;
	r2.tid = 102;
	assembler__add_dns(a, &d1);
	assembler__add_dns(a, &d2);
	assembler__add_req(a, &r1, false);
	assembler__add_req(a, &r2, false);
	assembler__flush(a);
	assert_int_equal(ngot, 2);
	for (int i = 0; i < 2; i++) {
		const struct phase *p = ph(&got[i], PHASE_DNS);

		assert_non_null(p);
		assert_int_equal(p->dur_ns, got[i].tid == 101 ? 80 * MS : 20 * MS);
	}
	assembler__free(a);
}

static void test_out_of_order_delivery(void **state)
{
	struct assembler *a = new_asm();
	struct pt_dns_rec d = dns(100, 100, "api.test", "10.0.0.7", T0, T0 + 20 * MS);
	struct pt_req_rec r = creq(100, 1, 11, 0, "10.0.0.7", T0 + 21 * MS);

	/* the request's record is read before the lookup's (another CPU) */
	assembler__add_req(a, &r, false);
	assembler__add_dns(a, &d);
	assembler__tick(a, T0 + 1000 * MS);
	assert_int_equal(ngot, 1);
	assert_non_null(ph(&got[0], PHASE_DNS));
	assert_string_equal(got[0].host, "api.test");
	assembler__free(a);
}

static void test_reorder_window_holds_records(void **state)
{
	struct assembler *a = new_asm();
	struct pt_req_rec r = creq(100, 1, 11, 0, "10.0.0.7", T0);

	assembler__add_req(a, &r, false);
	assembler__tick(a, r.resp_last + 10 * MS);	/* inside the window */
	assert_int_equal(ngot, 0);
	assembler__tick(a, r.resp_last + 60 * MS);
	assert_int_equal(ngot, 1);
	assembler__free(a);
}

/* assembler__release(): at most max records a call, in order, only those out of the
 * window; true while more are ready */
static void test_release_in_batches(void **state)
{
	struct assembler *a = new_asm();
	uint64_t now;

	for (int i = 0; i < 5; i++) {
		struct pt_req_rec r = creq(100, 1, 11 + i, i, "10.0.0.7", T0 + i * 10 * MS);

		assembler__add_req(a, &r, false);
	}
	now = T0 + 175 * MS;	/* the first three (ending at 103, 112, 122 ms) left the window */
	assert_true(assembler__release(a, now, 2));
	assert_int_equal(ngot, 2);
	assert_false(assembler__release(a, now, 2));
	assert_int_equal(ngot, 3);
	assert_false(assembler__release(a, now, 2));	/* the other two wait */
	assert_int_equal(ngot, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(got[i].req_id, 11 + i);
	assembler__flush(a);
	assert_int_equal(ngot, 5);
	assembler__free(a);
}

static void test_keep_alive(void **state)
{
	struct assembler *a = new_asm();
	struct pt_dns_rec d = dns(100, 100, "api.test", "10.0.0.7", T0, T0 + 5 * MS);
	struct pt_req_rec r0 = creq(100, 1, 11, 0, "10.0.0.7", T0 + 6 * MS);
	struct pt_req_rec r1 = creq(100, 1, 12, 1, "10.0.0.7", T0 + 300 * MS);
	struct pt_req_rec r2 = creq(100, 1, 13, 2, "10.0.0.7", T0 + 600 * MS);

	assembler__add_dns(a, &d);
	assembler__add_req(a, &r0, false);
	assembler__add_req(a, &r1, false);
	assembler__add_req(a, &r2, false);
	assembler__flush(a);
	assert_int_equal(ngot, 3);
	assert_non_null(ph(&got[0], PHASE_DNS));
	assert_non_null(ph(&got[0], PHASE_CONNECT));
	for (int i = 1; i < 3; i++) {
		assert_null(ph(&got[i], PHASE_DNS));
		assert_null(ph(&got[i], PHASE_CONNECT));
		assert_non_null(ph(&got[i], PHASE_TTFB));
		assert_int_equal(ph(&got[i], PHASE_TTFB)->dur_ns, 100 * MS);
		/* the host stays with the connection */
		assert_string_equal(got[i].host, "api.test");
	}
	assembler__free(a);
}

static void test_connection_reuse_gets_fresh_state(void **state)
{
	/* same process closes a connection and opens another (same fd number,
	 * different peer): nothing of the first leaks into the second */
	struct assembler *a = new_asm();
	struct pt_dns_rec d1 = dns(100, 100, "one.test", "10.0.0.1", T0, T0 + 5 * MS);
	struct pt_req_rec r1 = creq(100, 1, 11, 0, "10.0.0.1", T0 + 6 * MS);
	struct pt_dns_rec d2 = dns(100, 100, "two.test", "10.0.0.2", T0 + 200 * MS,
				   T0 + 230 * MS);
	struct pt_req_rec r2 = creq(100, 2, 21, 0, "10.0.0.2", T0 + 231 * MS);

	assembler__add_dns(a, &d1);
	assembler__add_req(a, &r1, false);
	assembler__add_dns(a, &d2);
	assembler__add_req(a, &r2, false);
	assembler__flush(a);
	assert_int_equal(ngot, 2);
	assert_string_equal(got[1].host, "two.test");
	assert_int_equal(ph(&got[1], PHASE_DNS)->dur_ns, 30 * MS);
	assembler__free(a);
}

static void test_pid_reuse(void **state)
{
	/* a lookup of an exited process must not be given to a new process
	 * that got the same pid */
	struct assembler *a = new_asm();
	struct pt_dns_rec d = dns(100, 100, "old.test", "10.0.0.7", T0, T0 + 5 * MS);
	struct pt_req_rec r = creq(100, 1, 11, 0, "10.0.0.7", T0 + 500 * MS);

	assembler__add_dns(a, &d);
	assembler__proc_exit(a, 100, T0 + 200 * MS);
	assembler__add_req(a, &r, false);
	assembler__flush(a);
	assert_int_equal(ngot, 1);
	assert_null(ph(&got[0], PHASE_DNS));
	assert_string_equal(got[0].host, "");
	assembler__free(a);
}

static void test_exit_read_before_last_request(void **state)
{
	/* the exit event is read before the request that ended just before it */
	struct assembler *a = new_asm();
	struct pt_dns_rec d = dns(100, 101, "api.test", "10.0.0.7", T0, T0 + 5 * MS);
	struct pt_req_rec r = creq(100, 1, 11, 0, "10.0.0.7", T0 + 6 * MS);

	assembler__add_dns(a, &d);
	assembler__tick(a, T0 + 100 * MS);
	assembler__proc_exit(a, 100, r.resp_last + 1 * MS);
	assembler__add_req(a, &r, false);
	assembler__flush(a);
	assert_int_equal(ngot, 1);
	assert_string_equal(got[0].host, "api.test");
	assert_non_null(ph(&got[0], PHASE_DNS));
	assembler__free(a);
}

static void test_lookup_of_other_process_ignored(void **state)
{
	struct assembler *a = new_asm();
	struct pt_dns_rec d = dns(200, 200, "other.test", "10.0.0.7", T0, T0 + 5 * MS);
	struct pt_req_rec r = creq(100, 1, 11, 0, "10.0.0.7", T0 + 10 * MS);

	assembler__add_dns(a, &d);
	assembler__add_req(a, &r, false);
	assembler__flush(a);
	assert_null(ph(&got[0], PHASE_DNS));
	assembler__free(a);
}

/* ---- a client's host known as its connect is read (assembler__connect_host()) ---- */

/* rec read after what was fed: the early answer, and if any, the host it was built with */
static bool host_early(struct assembler *a, const struct pt_req_rec *rec, char *host)
{
	bool known = assembler__connect_host(a, rec, host, PT_HOST_LEN);

	assembler__add_req(a, rec, false);
	assembler__flush(a);
	assert_int_equal(ngot, 1);
	if (known)	/* what the emit attributed */
		assert_string_equal(got[0].host, host);
	return known;
}

/* A connect read after lookups l1 and l2 (if not NULL): its host known as want, or not
 * known (want NULL) */
static void expect_early(const struct pt_dns_rec *l1, const struct pt_dns_rec *l2,
			 const struct pt_req_rec *rec, const char *want)
{
	struct assembler *a = new_asm();
	char host[PT_HOST_LEN];

	assembler__add_dns(a, l1);
	if (l2)
		assembler__add_dns(a, l2);
	assert_int_equal(host_early(a, rec, host), want != NULL);
	if (want)
		assert_string_equal(host, want);
	assembler__free(a);
}

static void test_connect_host_early(void **state)
{
	char host[PT_HOST_LEN];
	struct assembler *a;
	struct pt_dns_rec d = dns(100, 101, "api.test", "10.0.0.7", T0, T0 + 5 * MS);
	struct pt_dns_rec d2 = dns(100, 100, "api.test", "10.0.0.7", T0 + 6 * MS, T0 + 7 * MS);
	struct pt_dns_rec other = dns(100, 100, "alias.test", "10.0.0.7", T0, T0 + 6 * MS);
	struct pt_dns_rec late = dns(100, 100, "late.test", "10.0.0.7", T0 + 9 * MS,
				     T0 + 20 * MS);
	struct pt_req_rec r = creq(100, 1, 11, 0, "10.0.0.7", T0 + 10 * MS);
	struct pt_req_rec next = creq(100, 1, 12, 1, "10.0.0.7", T0 + 300 * MS);

	/* its lookup still in the window, or processed: the same host */
	expect_early(&d, NULL, &r, "api.test");
	a = new_asm();
	assembler__add_dns(a, &d);
	assembler__tick(a, T0 + 100 * MS);
	assembler__add_dns(a, &d2);
	assert_true(host_early(a, &r, host));
	assert_string_equal(host, "api.test");
	assembler__free(a);
	/* none, or only one that ended after the connect began: no host */
	expect_early(&late, NULL, &r, "");
	/* two names for the peer: the emit picks, not known now */
	expect_early(&d, &other, &r, NULL);
	/* not a connect */
	a = new_asm();
	assert_false(assembler__connect_host(a, &next, host, sizeof(host)));
	assembler__free(a);
	/* an exit of the pid read: its lookups may be dead when the request is built */
	a = new_asm();
	assembler__add_dns(a, &d);
	assembler__proc_exit(a, 100, T0 + 8 * MS);
	assert_false(host_early(a, &r, host));
	assembler__free(a);
	/* the lookups ring overwritten within 10 s: a connect's lookup may be gone */
	a = new_asm();
	for (int i = 0; i < 1025; i++) {
		struct pt_dns_rec x = dns(200, 200, "x.test", "10.0.0.9", T0, T0 + 1 + i);

		assembler__add_dns(a, &x);
	}
	assert_false(assembler__connect_host(a, &r, host, sizeof(host)));
	assembler__free(a);
}

static void test_missing_events(void **state)
{
	/* no response was seen (lost, or the peer closed): the request still
	 * comes out with what is known and an error */
	struct assembler *a = new_asm();
	struct pt_req_rec r = creq(100, 1, 11, 0, "10.0.0.7", T0);

	r.resp_first = r.resp_last = 0;
	r.flags |= PT_F_NO_RESP;
	r.end_reason = PT_END_CLOSE;
	r.closed = r.req_last + 120 * MS;	/* the client gave up: it lasted until then */
	assembler__add_req(a, &r, false);
	/* and a request whose connect we never saw (tracer started later) */
	struct pt_req_rec m = creq(100, 2, 12, 3, "10.0.0.8", T0 + 10 * MS);

	assembler__add_req(a, &m, false);
	assembler__flush(a);
	assert_int_equal(ngot, 2);
	assert_int_equal(got[0].error, PT_ERR_NO_RESPONSE);
	assert_int_equal(got[0].start_ns + got[0].dur_ns, r.closed);
	assert_null(ph(&got[0], PHASE_TTFB));
	assert_null(ph(&got[1], PHASE_CONNECT));
	assert_non_null(ph(&got[1], PHASE_TTFB));
	assembler__free(a);
}

static void test_connect_refused(void **state)
{
	struct assembler *a = new_asm();
	struct pt_req_rec r = creq(100, 1, 11, 0, "127.0.0.1", T0);

	r.req_first = r.req_last = r.resp_first = r.resp_last = 0;
	r.error = PT_ERR_REFUSED;
	r.end_reason = PT_END_ERROR;
	assembler__add_req(a, &r, false);
	assembler__flush(a);
	assert_int_equal(ngot, 1);
	assert_int_equal(got[0].error, PT_ERR_REFUSED);
	assert_int_equal(got[0].nphases, 1);
	assert_string_equal(err_name(got[0].error), "refused");
	assembler__free(a);
}

static void test_failed_lookup_is_a_request(void **state)
{
	struct assembler *a = new_asm();
	struct pt_dns_rec d = dns(100, 100, "nx.test", "0.0.0.0", T0, T0 + 40 * MS);

	d.rc = -2;	/* EAI_NONAME */
	d.naddr = 0;
	assembler__add_dns(a, &d);
	assembler__flush(a);
	assert_int_equal(ngot, 1);
	assert_int_equal(got[0].error, PT_ERR_DNS);
	assert_string_equal(got[0].host, "nx.test");
	assert_int_equal(ph(&got[0], PHASE_DNS)->dur_ns, 40 * MS);
	assembler__free(a);
}

static struct pt_req_rec sreq(uint32_t pid, uint32_t tid, uint64_t conn, uint64_t id,
			      uint64_t t, uint64_t ttfb)
{
	struct pt_req_rec r = { .type = PT_REC_REQ, .pid = pid, .tid = tid, .role = PT_ROLE_SERVER,
				.conn_id = conn, .req_id = id };

	snprintf(r.comm, sizeof(r.comm), "server");
	set_ip4(&r.peer, "127.0.0.1", 50000);
	set_ip4(&r.local, "127.0.0.1", 8080);
	r.req_first = r.req_last = t;
	r.resp_first = t + ttfb;
	r.resp_last = t + ttfb + 1 * MS;
	return r;
}

static void test_nesting_concurrent(void **state)
{
	/* two server requests on two threads, each with one outbound call and
	 * a render span: children go to the right parent whatever the order */
	struct assembler *a = new_asm();
	struct pt_req_rec s1 = sreq(300, 301, 1, 100, T0, 400 * MS);
	struct pt_req_rec s2 = sreq(300, 302, 2, 200, T0 + 10 * MS, 300 * MS);
	struct pt_req_rec c1 = creq(300, 3, 101, 0, "10.0.0.9", T0 + 20 * MS);
	struct pt_req_rec c2 = creq(300, 4, 201, 0, "10.0.0.9", T0 + 30 * MS);
	struct pt_span_rec sp = { .type = PT_REC_SPAN, .pid = 300, .tid = 301, .span = 0,
				  .start = T0 + 200 * MS, .end = T0 + 350 * MS, .parent_id = 100,
				  .io_ns = 3 * MS };

	assembler__set_span_name(a, 0, "render");
	c1.parent_id = 100;
	c2.parent_id = 200;
	assembler__add_req(a, &c2, false);
	assembler__add_req(a, &s2, false);
	assembler__add_span(a, &sp);
	assembler__add_req(a, &c1, false);
	assembler__add_req(a, &s1, false);
	assembler__flush(a);
	assert_int_equal(ngot, 2);
	for (int i = 0; i < 2; i++) {
		const struct request *p = &got[i];

		assert_int_equal(p->role, PT_ROLE_SERVER);
		assert_int_equal(p->nchildren, 1);
		assert_int_equal(p->children[0]->parent_id, p->req_id);
		if (p->req_id == 100) {
			const struct phase *r = ph(p, PHASE_RENDER);

			assert_non_null(r);
			assert_int_equal(r->dur_ns, 150 * MS);
			assert_int_equal(r->io_ns, 3 * MS);
			assert_false(r->io_in_span);	/* the call started before */
			assert_int_equal(ph(p, PHASE_TTFB)->dur_ns, 400 * MS);
		}
	}
	assembler__free(a);
}

static void count_children(void *ctx, const struct request *r)
{
	*(uint64_t *)ctx += r->nchildren;
}

/* Server requests with a nested call, parent 1000 + i, on a keep-alive connection. */
static void feed_nested(struct assembler *a, uint64_t from, uint64_t to)
{
	for (uint64_t i = from; i < to; i++) {
		uint64_t t = T0 + i * MS;
		struct pt_req_rec s = sreq(400, 401, 1, 1000 + 2 * i, t, 200 * MS);
		struct pt_req_rec c = creq(400, 2, 1001 + 2 * i, i, "10.0.0.9", t);

		c.parent_id = s.req_id;
		assembler__add_req(a, &c, false);
		assembler__add_req(a, &s, false);
		assembler__tick(a, t);
	}
}

static void test_nested_children_freed(void **state)
{
	/* the children a server request adopted are freed with it: the heap in use stays
	 * flat over 20000 nested requests (a leak would hold 20000 timelines of ~4 KiB) */
	struct assembler_opts o = {
		.reorder_ns = 50 * MS, .dns_gap_ns = 5000 * MS, .orphan_ns = 30000 * MS,
	};
	struct assembler *a = assembler__new(&o);
	uint64_t nested = 0;
	struct sink s = { .name = "count", .on_request = count_children, .ctx = &nested };
	size_t before, after;

	assert_non_null(a);
	assembler__add_sink(a, &s);
	feed_nested(a, 0, 2000);
	before = mallinfo2().uordblks;
	feed_nested(a, 2000, 22000);
	after = mallinfo2().uordblks;
	assembler__flush(a);
	assert_int_equal(nested, 22000);
	assert_true(after < before + (4 << 20));
	assembler__free(a);
}

static uint64_t order_prev_end, order_prev_tid, order_n;
static bool order_ok = true;

static void check_order(void *ctx, const struct request *r)
{
	uint64_t end = r->start_ns + r->dur_ns;

	if (order_n++ && (end < order_prev_end ||
			  (end == order_prev_end && r->tid < order_prev_tid)))
		order_ok = false;
	order_prev_end = end;
	order_prev_tid = r->tid;
}

static void test_release_order(void **state)
{
	/* records leave in the order of their end time, then of arrival, whatever the
	 * disorder of their delivery within the reorder window: failed lookups (each a
	 * request of its own) with end times mostly increasing, some up to 40 ms late,
	 * some equal; tid = arrival index */
	struct assembler_opts o = { .reorder_ns = 50 * MS, .dns_gap_ns = 5000 * MS,
				    .orphan_ns = 30000 * MS };
	struct assembler *a = assembler__new(&o);
	struct sink s = { .name = "order", .on_request = check_order };
	uint64_t t = T0;

	assert_non_null(a);
	assembler__add_sink(a, &s);
	srand(7);
	for (uint32_t i = 1; i <= 20000; i++) {
		struct pt_dns_rec d = dns(500, i, "x.example", "10.0.0.1", 0, 0);
		uint64_t end = t - (rand() % 4 == 0 ? (rand() % 40) * MS : 0) + rand() % 3;

		d.rc = -2;
		d.start = end - 1000;
		d.end = end;
		assembler__add_dns(a, &d);
		t += 10000 + (rand() % 8 == 0 ? 2 * MS : 0);
		if (i % 100 == 0)
			assembler__tick(a, t);
	}
	assembler__flush(a);
	assert_int_equal(order_n, 20000);
	assert_true(order_ok);
	assembler__free(a);
}

static void test_pending_beyond_free_lists(void **state)
{
	/* 40000 records held at once (beyond what the arenas of the other free lists hold):
	 * all leave in order, twice over, and the heap in use stays flat (a record not taken
	 * from its arena, or a leak, would be ~20 MiB) */
	struct assembler_opts o = { .reorder_ns = 50 * MS, .dns_gap_ns = 5000 * MS,
				    .orphan_ns = 30000 * MS };
	struct assembler *a = assembler__new(&o);
	struct sink s = { .name = "order", .on_request = check_order };
	size_t before = 0;

	assert_non_null(a);
	assembler__add_sink(a, &s);
	order_n = 0;
	order_ok = true;
	for (int round = 0; round < 2; round++) {
		for (uint32_t i = 1; i <= 40000; i++) {
			struct pt_dns_rec d = dns(500, i, "x.example", "10.0.0.1", 0, 0);

			d.rc = -2;
			d.end = T0 + (40000 - i) * 1000;	/* every one out of order */
			d.start = d.end - 500;
			assembler__add_dns(a, &d);
		}
		if (!round)
			before = mallinfo2().uordblks;
		assembler__flush(a);
		assert_int_equal(order_n, 40000 * (round + 1));
		order_prev_end = 0;
	}
	assert_true(order_ok);
	assert_true(mallinfo2().uordblks < before + (1 << 20));
	assembler__free(a);
}

static void test_io_in_render(void **state)
{
	struct assembler *a = new_asm();
	struct pt_req_rec s = sreq(300, 301, 1, 100, T0, 400 * MS);
	struct pt_req_rec c = creq(300, 3, 101, 0, "10.0.0.9", T0 + 100 * MS);
	struct pt_span_rec sp = { .type = PT_REC_SPAN, .pid = 300, .tid = 301, .span = 1,
				  .start = T0 + 50 * MS, .end = T0 + 350 * MS, .parent_id = 100 };

	assembler__set_span_name(a, 1, "render");
	c.parent_id = 100;
	assembler__add_span(a, &sp);
	assembler__add_req(a, &c, false);
	assembler__add_req(a, &s, false);
	assembler__flush(a);
	assert_int_equal(ngot, 1);
	assert_true(ph(&got[0], PHASE_RENDER)->io_in_span);
	assembler__free(a);
}

/* One server request with a render (label, io, gc; ends after the last response byte) and
 * an outbound call inside it, the render sent as a span record or folded into the request's
 * record by BPF (pt_req_rec.render_*); the request the sinks get. */
static struct request render_case(bool folded)
{
	struct assembler *a = new_asm();
	struct pt_req_rec s = sreq(300, 301, 1, 100, T0, 200 * MS);
	struct pt_req_rec c = creq(300, 3, 101, 0, "10.0.0.9", T0 + 20 * MS);
	struct pt_span_rec sp = { .type = PT_REC_SPAN, .pid = 300, .tid = 301, .span = 2,
				  .start = T0 + 10 * MS, .end = T0 + 250 * MS, .parent_id = 100,
				  .io_ns = 3 * MS, .gc_ns = 2 * MS, .goid = 7, .flags = PT_F_GO };
	struct request r;

	snprintf(sp.label, sizeof(sp.label), "page.html");
	assembler__set_span_name(a, 2, "render");
	c.parent_id = 100;
	s.span_last = sp.end;	/* as BPF gives it, folded or not */
	if (folded) {
		s.render_start = sp.start;
		s.render_end = sp.end;
		s.render_io_ns = sp.io_ns;
		s.render_gc_ns = sp.gc_ns;
		s.render_span = sp.span;
		memcpy(s.render_label, sp.label, sizeof(s.render_label));
	} else {
		assembler__add_span(a, &sp);
	}
	assembler__add_req(a, &c, false);
	assembler__add_req(a, &s, false);
	assembler__flush(a);
	assert_int_equal(ngot, 1);
	r = got[0];
	assembler__free(a);
	return r;
}

static void test_render_folded_as_span(void **state)
{
	/* the timeline is the same, phase by phase, whichever way the render came */
	struct request sp = render_case(false), fo = render_case(true);
	const struct phase *render = ph(&fo, PHASE_RENDER);

	assert_non_null(render);
	assert_int_equal(render->start_ns, T0 + 10 * MS);
	assert_int_equal(render->dur_ns, 240 * MS);
	assert_int_equal(render->io_ns, 3 * MS);
	assert_int_equal(render->gc_ns, 2 * MS);
	assert_true(render->io_in_span);	/* the call started inside it */
	assert_string_equal(render->label, "page.html");
	assert_string_equal(render->name, "render");
	assert_int_equal(fo.dur_ns, 250 * MS);	/* until the render's end */
	assert_int_equal(fo.start_ns, sp.start_ns);
	assert_int_equal(fo.dur_ns, sp.dur_ns);
	assert_int_equal(fo.nchildren, 1);
	assert_int_equal(fo.nchildren, sp.nchildren);
	assert_int_equal(fo.nphases, sp.nphases);
	for (int i = 0; i < fo.nphases; i++)
		assert_memory_equal(&fo.phases[i], &sp.phases[i], sizeof(fo.phases[i]));
}

static void test_render_fold_only_server(void **state)
{
	/* render fields on anything but a server request (never sent so) are not a phase */
	struct assembler *a = new_asm();
	struct pt_req_rec c = creq(300, 3, 101, 0, "10.0.0.9", T0);

	assembler__set_span_name(a, 2, "render");
	c.render_start = T0;
	c.render_end = T0 + MS;
	c.render_span = 2;
	assembler__add_req(a, &c, false);
	assembler__flush(a);
	assert_int_equal(ngot, 1);
	assert_null(ph(&got[0], PHASE_RENDER));
	assembler__free(a);
}

static void test_orphans_emitted(void **state)
{
	/* the parent never comes: children are reported on their own */
	struct assembler *a = new_asm();
	struct pt_req_rec c = creq(300, 3, 101, 0, "10.0.0.9", T0);

	c.parent_id = 999;
	assembler__add_req(a, &c, false);
	assembler__tick(a, T0 + 1000 * MS);
	assert_int_equal(ngot, 0);	/* still waiting */
	assembler__tick(a, T0 + 40000 * MS);
	assert_int_equal(ngot, 1);
	assert_int_equal(got[0].parent_id, 999);
	assembler__free(a);
}

static void test_idle_flush_deduplicated(void **state)
{
	struct assembler *a = new_asm();
	struct pt_req_rec r = creq(100, 1, 11, 0, "10.0.0.7", T0);
	struct assembler_stats st;

	assembler__add_req(a, &r, true);	/* collector flushed it on idle */
	assembler__tick(a, T0 + 1000 * MS);
	r.end_reason = PT_END_NEXT;
	assembler__add_req(a, &r, false);	/* BPF reports it again later */
	assembler__flush(a);
	assert_int_equal(ngot, 1);
	assembler__stats(a, &st);
	assert_int_equal(st.duplicates, 1);
	assert_int_equal(st.idle_cut, 0);	/* nothing came after the report */
	assembler__free(a);
}

static void test_idle_flush_then_response_went_on(void **state)
{
	/* a stream's response paused for --idle-ms (reported then, ending at the pause),
	 * then went on: the record BPF sends at its end is still a duplicate, and counted
	 * as a report cut short; the reported one is the idle copy */
	struct assembler *a = new_asm();
	struct pt_req_rec r = creq(100, 1, 11, 0, "10.0.0.7", T0);
	struct pt_req_rec other = creq(100, 2, 12, 0, "10.0.0.7", T0);
	struct assembler_stats st;
	uint64_t paused_at = r.resp_last;

	assembler__add_req(a, &r, true);
	assembler__add_req(a, &other, true);	/* another connection's, not cut */
	assembler__tick(a, T0 + 1000 * MS);
	assert_int_equal(ngot, 2);
	r.resp_last = paused_at + 900 * MS;
	r.bytes_resp += 300;
	r.end_reason = PT_END_CLOSE;
	assembler__add_req(a, &r, false);
	other.end_reason = PT_END_NEXT;
	assembler__add_req(a, &other, false);
	assembler__flush(a);
	assert_int_equal(ngot, 2);
	assert_int_equal(got[0].req_id, 11);
	assert_int_equal(got[0].start_ns + got[0].dur_ns, paused_at);
	assembler__stats(a, &st);
	assert_int_equal(st.duplicates, 2);
	assert_int_equal(st.idle_cut, 1);
	assembler__free(a);
}

static void test_idle_copy_known_from_bpf(void **state)
{
	/* the idle report left the assembler's table (overwritten by others over a long
	 * stream): BPF's PT_F_IDLE_SENT (the collector's note in the watch) still marks the
	 * record at the real end as its copy */
	struct assembler *a = new_asm();
	struct pt_req_rec r = creq(100, 1, 11, 0, "10.0.0.7", T0);
	struct assembler_stats st;

	r.flags |= PT_F_IDLE_SENT | PT_F_QUIET;
	r.end_reason = PT_END_CLOSE;
	assembler__add_req(a, &r, false);
	assembler__flush(a);
	assert_int_equal(ngot, 0);
	assembler__stats(a, &st);
	assert_int_equal(st.duplicates, 1);
	assert_int_equal(st.idle_marked, 1);
	assembler__free(a);
}

/* Hostile ids and times (records are checked, not trusted): */

static struct pt_span_rec span_rec(uint64_t parent, uint64_t start, uint64_t end)
{
	struct pt_span_rec s = { .type = PT_REC_SPAN, .pid = 300, .tid = 300, .start = start,
				 .end = end, .parent_id = parent };

	snprintf(s.comm, sizeof(s.comm), "server");
	return s;
}

/* A parent id the id table keeps for its own use (UINT64_MAX marks a deleted slot):
 * the child waits for nothing, at a tick or at exit (it had made the exit recurse). */
static void test_parent_id_reserved(void **state)
{
	struct assembler *a = new_asm();
	struct pt_span_rec s = span_rec(UINT64_MAX, T0, T0 + 1 * MS);
	struct pt_req_rec c = creq(300, 3, 101, 1, "10.0.0.9", T0);
	struct assembler_stats st;

	assembler__add_span(a, &s);
	assembler__tick(a, T0 + 1000 * MS);
	assembler__stats(a, &st);
	assert_int_equal(st.children_waiting, 0);
	assert_int_equal(ngot, 1);
	c.parent_id = UINT64_MAX;
	assembler__add_req(a, &c, false);
	assembler__add_span(a, &s);
	assembler__flush(a);
	assert_int_equal(ngot, 3);
	assembler__free(a);
}

/* max_children bounds the children held, not only their parents' groups. */
static void test_max_children_held(void **state)
{
	struct assembler_opts o = { .reorder_ns = 50 * MS, .dns_gap_ns = 5000 * MS,
				    .orphan_ns = 30000 * MS, .max_children = 4 };
	struct assembler *a = assembler__new(&o);
	struct sink sk = { .name = "test", .on_request = collect };
	struct assembler_stats st;

	assert_non_null(a);
	assembler__add_sink(a, &sk);
	ngot = 0;
	for (int p = 1; p <= 2; p++)
		for (int i = 0; i < 8; i++) {
			struct pt_req_rec c = creq(300, 1000 + p * 100 + i, 10000 + p * 100 + i, 1,
						   "10.0.0.9", T0 + i * MS);

			c.parent_id = p;
			assembler__add_req(a, &c, false);
		}
	assembler__tick(a, T0 + 1000 * MS);
	assembler__stats(a, &st);
	assert_int_equal(st.children_waiting, 4);
	assert_int_equal(ngot, 12);	/* the others on their own, at once */
	assembler__flush(a);
	assert_int_equal(ngot, 16);
	assembler__free(a);
}

/* A server record whose span end is garbage near 2^64: its wait does not wrap round to
 * "now", so it is still built after its child and adopts it. */
static void test_server_wait_saturates(void **state)
{
	struct assembler *a = new_asm();
	struct pt_req_rec s = sreq(300, 300, 77, 500, T0 + 100 * MS, 2 * MS);
	struct pt_req_rec c = creq(300, 3, 101, 1, "10.0.0.9", T0 + 100 * MS);

	s.span_last = UINT64_MAX - 5;
	s.spans_open = 1;
	c.parent_id = 500;
	assembler__add_req(a, &s, false);
	assembler__add_req(a, &c, false);
	assembler__flush(a);
	assert_int_equal(ngot, 1);
	assert_int_equal(got[0].nchildren, 1);
	assembler__free(a);
}

/* A span or failed lookup whose times make no phase (end before start) is dropped and
 * counted, as a request's are: never a record without phases at time 0. */
static void test_no_phase_no_record(void **state)
{
	struct assembler *a = new_asm();
	struct pt_span_rec s = span_rec(0, T0 + 5 * MS, T0);
	struct pt_span_rec orphan = span_rec(999, T0 + 5 * MS, T0);
	struct pt_dns_rec d = dns(100, 100, "x.test", "10.0.0.1", T0 + 5 * MS, T0);
	struct assembler_stats st;

	d.rc = -2;
	assembler__add_span(a, &s);
	assembler__add_span(a, &orphan);
	assembler__add_dns(a, &d);
	assembler__flush(a);
	assert_int_equal(ngot, 0);
	assembler__stats(a, &st);
	assert_int_equal(st.empty, 3);
	assembler__free(a);
}

/* The wall-clock offset is stamped on a request and its children when it is emitted:
 * outputs that convert later (the OTLP sender, after a recalibration) agree with JSON. */
static void test_epoch_stamped_once(void **state)
{
	struct assembler *a = new_asm();
	struct pt_req_rec s = sreq(300, 301, 1, 100, T0, 400 * MS);
	struct pt_req_rec c = creq(300, 3, 101, 0, "10.0.0.9", T0 + 20 * MS);

	c.parent_id = 100;
	pt_mono_to_epoch_ns = 1700000000000000000LL;
	assembler__add_req(a, &c, false);
	assembler__add_req(a, &s, false);
	assembler__flush(a);
	pt_mono_to_epoch_ns = 1700000030000000000LL;	/* recalibrated since */
	assert_int_equal(ngot, 1);
	assert_int_equal(got[0].nchildren, 1);
	assert_int_equal(got[0].epoch_off, 1700000000000000000LL);
	assert_int_equal(got[0].children[0]->epoch_off, 1700000000000000000LL);
	assert_int_equal(pt_req_epoch_ns(got[0].children[0], T0), 1700000000000000000LL + T0);
	assembler__free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dns_attributed_from_helper_thread),
		cmocka_unit_test(test_concurrent_lookups_of_one_name),
		cmocka_unit_test(test_out_of_order_delivery),
		cmocka_unit_test(test_reorder_window_holds_records),
		cmocka_unit_test(test_release_in_batches),
		cmocka_unit_test(test_keep_alive),
		cmocka_unit_test(test_connection_reuse_gets_fresh_state),
		cmocka_unit_test(test_pid_reuse),
		cmocka_unit_test(test_connect_host_early),
		cmocka_unit_test(test_exit_read_before_last_request),
		cmocka_unit_test(test_lookup_of_other_process_ignored),
		cmocka_unit_test(test_missing_events),
		cmocka_unit_test(test_connect_refused),
		cmocka_unit_test(test_failed_lookup_is_a_request),
		cmocka_unit_test(test_nesting_concurrent),
		cmocka_unit_test(test_io_in_render),
		cmocka_unit_test(test_render_folded_as_span),
		cmocka_unit_test(test_render_fold_only_server),
		cmocka_unit_test(test_nested_children_freed),
		cmocka_unit_test(test_release_order),
		cmocka_unit_test(test_pending_beyond_free_lists),
		cmocka_unit_test(test_orphans_emitted),
		cmocka_unit_test(test_idle_flush_deduplicated),
		cmocka_unit_test(test_idle_flush_then_response_went_on),
		cmocka_unit_test(test_idle_copy_known_from_bpf),
		cmocka_unit_test(test_parent_id_reserved),
		cmocka_unit_test(test_max_children_held),
		cmocka_unit_test(test_server_wait_saturates),
		cmocka_unit_test(test_no_phase_no_record),
		cmocka_unit_test(test_epoch_stamped_once),
	};

	return cmocka_run_group_tests_name("assembler", tests, NULL, NULL);
}
