// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* diagnose: endpoint folding, exclusive phase shares, and when each finding holds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>
#include "diagnose/diag_impl.h"

#define MS	1000000ULL

static void fold_is(const char *path, const char *want)
{
	char out[PT_PATH_LEN + 8];

	diag_fold_path(path, out, sizeof(out));
	assert_string_equal(out, want);
}

static void test_fold(void **state)
{
	fold_is("/", "/");
	fold_is("/users/1234/orders", "/users/:id/orders");
	fold_is("/a/9f86d081884c7d65/b", "/a/:id/b");
	fold_is("/u/123e4567-e89b-12d3-a456-426614174000", "/u/:id");
	fold_is("/static/app.js", "/static/app.js");
	fold_is("/deadbeef", "/deadbeef");	/* hex, but no digit: a word */
	fold_is("/abc123", "/abc123");		/* short mixed: kept */
	fold_is("/v2/items/7/", "/v2/items/:id/");
	fold_is("", "");
}

static void test_fold_bounded(void **state)
{
	char out[8];

	assert_int_equal(diag_fold_path("/aaaaaaaaaaaaaaaa", out, sizeof(out)), 7);
	assert_string_equal(out, "/aaaaaa");
	assert_int_equal(diag_fold_path("/1/2/3/4/5", out, sizeof(out)), 7);
	assert_int_equal(diag_fold_path("/x", out, 1), 0);
	assert_string_equal(out, "");
}

static void phase(struct request *r, enum phase_id id, uint64_t s, uint64_t d)
{
	struct phase *ph = &r->phases[r->nphases++];

	memset(ph, 0, sizeof(*ph));
	ph->id = id;
	snprintf(ph->name, sizeof(ph->name), "%s", phase_name(id));
	ph->start_ns = s;
	ph->dur_ns = d;
}

static struct request *req(enum pt_role role, uint64_t start, uint64_t dur, const char *path)
{
	struct request *r = calloc(1, sizeof(*r));

	r->role = role;
	r->pid = 42;
	strcpy(r->comm, "app");
	r->start_ns = start;
	r->dur_ns = dur;
	if (path) {
		strcpy(r->method, "GET");
		snprintf(r->path, sizeof(r->path), "%s", path);
	}
	return r;
}

static struct request *call(uint64_t start, uint64_t dur, int port, bool connect)
{
	struct request *c = req(PT_ROLE_CLIENT, start, dur, NULL);

	c->peer.family = AF_INET;
	c->peer.port = port;
	c->peer.addr[0] = 127;
	c->peer.addr[3] = 1;
	if (connect)
		phase(c, PHASE_CONNECT, start, 1 * MS);
	phase(c, PHASE_TTFB, start + (connect ? 1 : 0) * MS, dur - (connect ? 1 : 0) * MS);
	return c;
}

static void free_req(struct request *r)
{
	for (int i = 0; i < r->nchildren; i++)
		free(r->children[i]);
	free(r);
}

/* A server request of 100 ms: ttfb 90 ms with render [40, 90), send 10 ms; children. */
static struct request *page(uint64_t t0, int i)
{
	char path[32];
	struct request *r;

	snprintf(path, sizeof(path), "/items/%d", i);
	r = req(PT_ROLE_SERVER, t0, 100 * MS, path);
	phase(r, PHASE_TTFB, t0, 90 * MS);
	phase(r, PHASE_RENDER, t0 + 40 * MS, 50 * MS);
	phase(r, PHASE_SEND, t0 + 90 * MS, 10 * MS);
	return r;
}

static struct diag_group *only_group(struct diagnose *d)
{
	assert_int_equal(d->ngroups, 1);
	return d->groups[0];
}

/* n pages, each changed by shape (NULL: as they are), into d; returns their group. */
static struct diag_group *feed(struct diagnose *d, int n, void (*shape)(struct request *, int))
{
	for (int i = 0; i < n; i++) {
		struct request *r = page(i * 1000 * MS, i);

		if (shape)
			shape(r, i);
		diagnose__add(d, r);
		free_req(r);
	}
	return only_group(d);
}

static void test_shares_and_clean(void **state)
{
	struct diagnose *d = diagnose__new();
	struct diag_group *g = feed(d, 20, NULL);
	uint64_t dl;

	assert_string_equal(g->endpoint, "GET /items/:id");
	assert_int_equal(g->n, 20);
	assert_int_equal(g->cat_ns[CAT_RENDER], 20 * 50 * MS);
	assert_int_equal(g->cat_ns[CAT_APP], 20 * 40 * MS);
	assert_int_equal(g->cat_ns[CAT_SEND], 20 * 10 * MS);
	for (int f = 0; f < F__COUNT; f++)
		assert_false(diag_holds(g, f, &dl));
	assert_non_null(g->typical);
	diagnose__free(d);
}

/* One peer called from inside render on a new connection, a second one after it. */
static void two_calls(struct request *r, int i)
{
	r->children[r->nchildren++] = call(r->start_ns + 10 * MS, 20 * MS, 9000, false);
	r->children[r->nchildren++] = call(r->start_ns + 50 * MS, 30 * MS, 9001, true);
}

/* calls-in-render, connect-per-request and sequential-calls hold. */
static void test_calls(void **state)
{
	struct diagnose *d = diagnose__new();
	struct diag_group *g = feed(d, 10, two_calls);
	uint64_t dl;

	assert_true(diag_holds(g, F_RENDER_CALLS, &dl));
	assert_int_equal(g->f[F_RENDER_CALLS].n, 10);
	assert_true(diag_holds(g, F_CONNECT, &dl));
	assert_int_equal(g->f[F_CONNECT].holds, 9);	/* the first connection is not a re- */
	assert_true(diag_holds(g, F_SEQUENTIAL, &dl));
	assert_int_equal(g->f[F_SEQUENTIAL].ns, 10 * 20 * MS);	/* the shorter peer's time */
	assert_false(diag_holds(g, F_DNS, &dl));
	/* render [40, 90) holds its call; the call before it is "calls" */
	assert_int_equal(g->cat_ns[CAT_CALLS], 10 * 20 * MS);
	assert_int_equal(g->typical->nchildren, 2);
	diagnose__free(d);
}

/* Every fifth page calls from render, the first four write in many small writes. */
static void odd_ones(struct request *r, int i)
{
	if (i % 5 == 0)
		r->children[r->nchildren++] = call(r->start_ns + 50 * MS, 5 * MS, 9000, 1);
	r->writes = i < 4 ? 100 : 2;
	r->bytes_resp = 4000;
}

/* Odd requests do not make a finding: 4 of 20 is below both thresholds. */
static void test_min_share(void **state)
{
	struct diagnose *d = diagnose__new();
	struct diag_group *g = feed(d, 20, odd_ones);
	uint64_t dl;

	assert_false(diag_holds(g, F_RENDER_CALLS, &dl));
	assert_false(diag_holds(g, F_SMALL_WRITES, &dl));
	assert_int_equal(g->f[F_SMALL_WRITES].holds, 4);
	diagnose__free(d);
}

static void test_deadline(void **state)
{
	struct diagnose *d = diagnose__new();
	struct diag_group *g;
	uint64_t dl = 0;

	for (int i = 0; i < 20; i++) {
		struct request *r = call(i * 1000 * MS, (i % 2 ? 200 : 30) * MS + i * 100000, 80, 0);

		r->error = i % 2 ? PT_ERR_NO_RESPONSE : PT_ERR_NONE;
		diagnose__add(d, r);
		free_req(r);
	}
	g = only_group(d);
	assert_string_equal(g->endpoint, "(outbound)");
	assert_true(diag_holds(g, F_DEADLINE, &dl));
	assert_in_range(dl, 200 * MS, 202 * MS);
	diagnose__free(d);
}

/* Outbound HTTPS calls of which every k-th fails its handshake after 40 ms. */
static struct diag_group *tls_calls(struct diagnose *d, int n, int k)
{
	for (int i = 0; i < n; i++) {
		struct request *r = call(i * 1000 * MS, 60 * MS, 443, true);

		phase(r, PHASE_TLS, i * 1000 * MS + MS, (i % k ? 20 : 40) * MS);
		r->error = i % k ? PT_ERR_NONE : PT_ERR_TLS;
		diagnose__add(d, r);
		free_req(r);
	}
	return only_group(d);
}

static void test_tls_failure(void **state)
{
	struct diagnose *d = diagnose__new();
	struct diag_group *g = tls_calls(d, 40, 4);	/* 10 of 40: a quarter */
	uint64_t dl = 0;

	assert_true(diag_holds(g, F_TLS_FAIL, &dl));
	assert_int_equal(g->f[F_TLS_FAIL].holds, 10);
	assert_int_equal(g->f[F_TLS_FAIL].of, 40);
	assert_int_equal(g->f[F_TLS_FAIL].ns, 10 * 40 * MS);	/* the failed ones' time */
	assert_string_equal(g->f[F_TLS_FAIL].what, "127.0.0.1:443");
	assert_false(diag_holds(g, F_DEADLINE, &dl));	/* a failure, not a deadline */
	diagnose__free(d);

	d = diagnose__new();
	g = tls_calls(d, 80, 20);	/* 4 of 80: under 5, and under 10 % */
	assert_false(diag_holds(g, F_TLS_FAIL, &dl));
	diagnose__free(d);
	d = diagnose__new();
	g = tls_calls(d, 120, 20);	/* 6 of 120: 5 %, under 10 % */
	assert_false(diag_holds(g, F_TLS_FAIL, &dl));
	diagnose__free(d);
}

/* Keep-alive calls whose response is read in two parts recv_ms apart (the first one's
 * quick: a new connection ACKs at once) */
static struct diag_group *split_calls(struct diagnose *d, int n, uint64_t recv_ms)
{
	for (int i = 0; i < n; i++) {
		uint64_t t0 = i * 1000 * MS, rx = i ? recv_ms * MS : 100000;
		struct request *r = call(t0, 2 * MS + rx, 8080, !i);

		phase(r, PHASE_RECV, t0 + 2 * MS, rx);
		r->bytes_resp = 700;
		diagnose__add(d, r);
		free_req(r);
	}
	return only_group(d);
}

/* delayed-ack: responses read 40 ms apart hold, from 36 ms to 60; faster and slower
 * ones (a server computing between writes) do not. */
static void test_delayed_ack(void **state)
{
	static const struct { uint64_t ms; bool holds; } cases[] = {
		{ 40, true }, { 37, true }, { 59, true }, { 30, false }, { 60, false },
		{ 200, false },
	};
	uint64_t dl = 0;

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct diagnose *d = diagnose__new();
		struct diag_group *g = split_calls(d, 12, cases[k].ms);

		assert_int_equal(diag_holds(g, F_DELAYED_ACK, &dl), cases[k].holds);
		assert_int_equal(g->f[F_DELAYED_ACK].of, 12);
		if (cases[k].holds) {
			assert_int_equal(g->f[F_DELAYED_ACK].holds, 11);	/* not the first */
			assert_int_equal(g->f[F_DELAYED_ACK].ns, 11 * cases[k].ms * MS);
			assert_int_equal(g->f[F_DELAYED_ACK].bytes, 11 * 700);
			assert_string_equal(g->f[F_DELAYED_ACK].what, "127.0.0.1:8080");
			assert_int_equal(g->f[F_DELAYED_ACK].n2, 0);	/* responses */
		}
		diagnose__free(d);
	}
}

/* A server reading requests whose body comes 40 ms after the headers (every other one),
 * and calling a backend whose responses stall (every third): both count, once a request. */
static void test_delayed_ack_server(void **state)
{
	struct diagnose *d = diagnose__new();
	struct diag_group *g;
	uint64_t dl = 0;

	for (int i = 0; i < 12; i++) {
		uint64_t t0 = i * 1000 * MS;
		struct request *r = req(PT_ROLE_SERVER, t0, 100 * MS, "/upload/1");

		r->peer.family = AF_INET;
		r->peer.addr[0] = 10;
		r->peer.port = 40000;
		r->bytes_req = 300;
		phase(r, PHASE_RECV, t0, (i % 2 ? 41 : 1) * MS);
		phase(r, PHASE_TTFB, t0 + 41 * MS, 59 * MS);
		if (i % 3 == 0) {
			struct request *c = call(t0 + 50 * MS, 45 * MS, 9000, false);

			phase(c, PHASE_RECV, t0 + 52 * MS, 42 * MS);
			c->bytes_resp = 500;
			r->children[r->nchildren++] = c;
		}
		diagnose__add(d, r);
		free_req(r);
	}
	g = only_group(d);
	assert_true(diag_holds(g, F_DELAYED_ACK, &dl));
	assert_int_equal(g->f[F_DELAYED_ACK].of, 12);	/* every request was read in parts */
	assert_int_equal(g->f[F_DELAYED_ACK].holds, 8);	/* odd ones, and 0 and 6 */
	assert_int_equal(g->f[F_DELAYED_ACK].n, 10);	/* 6 requests, 4 responses */
	assert_int_equal(g->f[F_DELAYED_ACK].n2, 6);
	assert_int_equal(g->f[F_DELAYED_ACK].ns, 6 * 41 * MS + 4 * 42 * MS);
	assert_int_equal(g->f[F_DELAYED_ACK].bytes, 6 * 300 + 4 * 500);
	diagnose__free(d);
}

static void test_group_cap(void **state)
{
	struct diagnose *d = diagnose__new();

	for (int i = 0; i < DIAG_MAX_GROUPS + 10; i++) {
		char path[32];
		struct request *r;

		snprintf(path, sizeof(path), "/p%c%c", 'a' + i % 26, 'a' + i / 26);
		r = req(PT_ROLE_SERVER, i * MS, MS, path);
		phase(r, PHASE_TTFB, i * MS, MS);
		diagnose__add(d, r);
		free_req(r);
	}
	assert_int_equal(d->ngroups, DIAG_MAX_GROUPS);
	assert_int_equal(d->overflow, 10);
	assert_int_equal(diagnose__seen(d), DIAG_MAX_GROUPS + 10);
	diagnose__free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fold),
		cmocka_unit_test(test_fold_bounded),
		cmocka_unit_test(test_shares_and_clean),
		cmocka_unit_test(test_calls),
		cmocka_unit_test(test_min_share),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_tls_failure),
		cmocka_unit_test(test_delayed_ack),
		cmocka_unit_test(test_delayed_ack_server),
		cmocka_unit_test(test_group_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
