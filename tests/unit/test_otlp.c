// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * export/otlp: what otlp_encode() packs, read back with the protobuf-c decoder of the
 * same generated code: the span tree, ids, attributes, valid UTF-8 from hostile names;
 * and the sender's bounded queue counting what it drops.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <cmocka.h>
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "assemble/sink.h"
#include "export/otlp.h"
#include "export/otlp_encode.h"
#include "util/sanitize.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest ExportReq;
typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;

#define EPOCH	1700000000000000000LL
static const struct otlp_salt salt = { 0x1234, 0x5678 };

static void add_phase(struct request *r, enum phase_id id, const char *name, uint64_t start,
		      uint64_t dur)
{
	struct phase *p = &r->phases[r->nphases++];

	*p = (struct phase){ .id = id, .start_ns = start, .dur_ns = dur };
	strcpy(p->name, name);
}

static void head(struct request *r, enum pt_role role, const char *method, const char *path,
		 uint16_t status)
{
	memset(r, 0, sizeof(*r));
	r->epoch_off = EPOCH;	/* the assembler's stamp */
	r->role = role;
	r->pid = r->tid = 7;
	strcpy(r->comm, "app");
	strcpy(r->method, method);
	strcpy(r->path, path);
	r->status = status;
}

static void client(struct request *c, uint64_t id, uint64_t parent)
{
	head(c, PT_ROLE_CLIENT, "POST", "/v1/x", 503);
	strcpy(c->host, "api.example");
	c->peer = (struct pt_addr){ .family = AF_INET, .port = 443, .addr = { 10, 0, 0, 9 } };
	c->tls = true;
	c->req_id = id;
	c->parent_id = parent;
	c->start_ns = 2000;
	c->dur_ns = 900;
	add_phase(c, PHASE_DNS, "dns", 2000, 100);
	add_phase(c, PHASE_CONNECT, "connect", 2100, 200);
	add_phase(c, PHASE_TTFB, "ttfb", 2300, 600);
}

static void server(struct request *s, struct request *child)
{
	head(s, PT_ROLE_SERVER, "GET", "/page", 200);
	s->local = (struct pt_addr){ .family = AF_INET, .port = 8080, .addr = { 127, 0, 0, 1 } };
	s->peer = (struct pt_addr){ .family = AF_INET, .port = 5555, .addr = { 127, 0, 0, 2 } };
	s->req_id = 100;
	s->start_ns = 1000;
	s->dur_ns = 5000;
	add_phase(s, PHASE_TTFB, "ttfb", 1000, 4000);
	add_phase(s, PHASE_RENDER, "render", 1500, 3000);
	strcpy(s->phases[1].label, "page");
	s->children[s->nchildren++] = child;
}

static ExportReq *encode(struct request *const *reqs, int n, const struct otlp_salt *sa)
{
	uint8_t *buf;
	size_t len;
	ExportReq *m;

	assert_int_equal(otlp_encode(sa, "host1", reqs, n, &buf, &len), 0);
	m = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
		NULL, len, buf);
	free(buf);
	assert_non_null(m);
	return m;
}

static const KeyValue *attr(KeyValue **kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(kv[i]->key, key))
			return kv[i];
	return NULL;
}

static const char *sattr(const Span *s, const char *key)
{
	const KeyValue *kv = attr(s->attributes, s->n_attributes, key);

	return kv ? kv->value->string_value : NULL;
}

static int64_t iattr(const Span *s, const char *key)
{
	const KeyValue *kv = attr(s->attributes, s->n_attributes, key);

	return kv ? kv->value->int_value : -1;
}

static Span *span_named(ExportReq *m, const char *name, const uint8_t *parent)
{
	Opentelemetry__Proto__Trace__V1__ScopeSpans *ss = m->resource_spans[0]->scope_spans[0];

	for (size_t i = 0; i < ss->n_spans; i++) {
		Span *s = ss->spans[i];

		if (!strcmp(s->name, name) && (!parent || (s->parent_span_id.len == 8 &&
		    !memcmp(s->parent_span_id.data, parent, 8))))
			return s;
	}
	fail_msg("no span %s", name);
	return NULL;
}

static void test_tree_and_attributes(void **state)
{
	struct request s, c, *reqs[1] = { &s };
	ExportReq *m;
	Span *srv, *cl, *render, *dns;

	client(&c, 101, 100);
	server(&s, &c);
	strcpy(s.container.id, "0123456789abcdef0123456789abcdef");
	strcpy(s.container.pod_uid, "1d2c3b4a-0000-4000-8000-00000000beef");
	assert_int_equal(otlp_span_count(&s), 1 + 2 + 1 + 3);
	m = encode(reqs, 1, &salt);
	assert_int_equal(m->n_resource_spans, 1);
	assert_int_equal(m->resource_spans[0]->scope_spans[0]->n_spans, 7);
	srv = span_named(m, "GET", NULL);
	assert_int_equal(srv->kind, OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER);
	assert_int_equal(srv->parent_span_id.len, 0);
	assert_int_equal(srv->start_time_unix_nano, EPOCH + 1000);
	assert_int_equal(srv->end_time_unix_nano, EPOCH + 6000);
	assert_string_equal(sattr(srv, "url.path"), "/page");
	assert_string_equal(sattr(srv, "server.address"), "127.0.0.1");
	assert_int_equal(iattr(srv, "server.port"), 8080);
	assert_string_equal(sattr(srv, "client.address"), "127.0.0.2");
	assert_int_equal(iattr(srv, "http.response.status_code"), 200);
	assert_null(sattr(srv, "error.type"));
	assert_string_equal(sattr(srv, "container.id"), "0123456789abcdef0123456789abcdef");
	assert_string_equal(sattr(srv, "k8s.pod.uid"), "1d2c3b4a-0000-4000-8000-00000000beef");
	render = span_named(m, "render", srv->span_id.data);
	assert_int_equal(render->start_time_unix_nano, EPOCH + 1500);
	assert_int_equal(render->end_time_unix_nano, EPOCH + 4500);
	assert_string_equal(sattr(render, "phasetrace.label"), "page");
	cl = span_named(m, "POST", srv->span_id.data);
	assert_int_equal(cl->kind, OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT);
	assert_memory_equal(cl->trace_id.data, srv->trace_id.data, 16);
	assert_string_equal(sattr(cl, "server.address"), "api.example");
	assert_string_equal(sattr(cl, "network.peer.address"), "10.0.0.9");
	assert_string_equal(sattr(cl, "url.scheme"), "https");
	assert_string_equal(sattr(cl, "error.type"), "503");	/* a client's 5xx fails */
	assert_null(sattr(cl, "container.id"));		/* outside containers: none */
	assert_null(sattr(cl, "k8s.pod.uid"));
	assert_int_equal(cl->status->code,
			 OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR);
	dns = span_named(m, "dns", cl->span_id.data);
	assert_int_equal(dns->end_time_unix_nano - dns->start_time_unix_nano, 100);
	assert_memory_equal(dns->trace_id.data, srv->trace_id.data, 16);
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
		m, NULL);
}

/* gRPC streams: RPC conventions (rpc.*, name "Service/Method"), the status code as
 * error.type where a span counts it as failed: any non-OK code for a client, only
 * the server-side failures (UNAVAILABLE yes, NOT_FOUND no) for a server. */
static void test_grpc(void **state)
{
	struct request s, c, bad, *reqs[2] = { &s, &bad };
	ExportReq *m;
	Span *srv, *cl, *b;

	client(&c, 101, 100);
	strcpy(c.path, "/helloworld.Greeter/SayHello");
	c.status = 200, c.is_grpc = true, c.has_grpc = true, c.grpc_status = 5;	/* NOT_FOUND */
	c.error = PT_ERR_GRPC;
	server(&s, &c);
	strcpy(s.path, "/helloworld.Greeter/SayHello");
	s.is_grpc = true, s.has_grpc = true, s.grpc_status = 5, s.error = PT_ERR_GRPC;
	head(&bad, PT_ROLE_SERVER, "POST", "/a/b/c", 200);	/* not Service/Method */
	bad.req_id = 200;
	bad.is_grpc = true, bad.has_grpc = true, bad.grpc_status = 14, bad.error = PT_ERR_GRPC;
	m = encode(reqs, 2, &salt);
	srv = span_named(m, "helloworld.Greeter/SayHello", NULL);
	assert_int_equal(srv->kind, OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER);
	assert_string_equal(sattr(srv, "rpc.system"), "grpc");
	assert_string_equal(sattr(srv, "rpc.service"), "helloworld.Greeter");
	assert_string_equal(sattr(srv, "rpc.method"), "SayHello");
	assert_int_equal(iattr(srv, "rpc.grpc.status_code"), 5);
	assert_int_equal(iattr(srv, "http.response.status_code"), 200);
	assert_null(sattr(srv, "error.type"));		/* NOT_FOUND: the server did its job */
	assert_int_not_equal(srv->status->code,
			     OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR);
	cl = span_named(m, "helloworld.Greeter/SayHello", srv->span_id.data);
	assert_int_equal(cl->kind, OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT);
	assert_string_equal(sattr(cl, "error.type"), "5");	/* a client's non-OK fails */
	assert_int_equal(cl->status->code,
			 OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR);
	b = span_named(m, "POST", NULL);
	assert_string_equal(sattr(b, "rpc.system"), "grpc");
	assert_null(sattr(b, "rpc.service"));
	assert_null(sattr(b, "rpc.method"));
	assert_string_equal(sattr(b, "error.type"), "14");	/* UNAVAILABLE */
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
		m, NULL);
}

/* Same ids for the same request and salt; a late child finds its parent's trace. */
static void test_ids(void **state)
{
	struct request s, c, late, *one[1] = { &s }, *lone[1] = { &late };
	const struct otlp_salt other = { 0x1234, 0x5679 };
	ExportReq *a, *b, *x, *l;
	Span *sa, *sb, *sx, *sl;

	client(&c, 101, 100);
	server(&s, &c);
	client(&late, 102, 100);
	a = encode(one, 1, &salt);
	b = encode(one, 1, &salt);
	x = encode(one, 1, &other);
	l = encode(lone, 1, &salt);
	sa = span_named(a, "GET", NULL);
	sb = span_named(b, "GET", NULL);
	sx = span_named(x, "GET", NULL);
	sl = span_named(l, "POST", NULL);
	assert_memory_equal(sa->span_id.data, sb->span_id.data, 8);
	assert_memory_equal(sa->trace_id.data, sb->trace_id.data, 16);
	assert_memory_not_equal(sa->span_id.data, sx->span_id.data, 8);
	assert_memory_not_equal(sa->trace_id.data, sx->trace_id.data, 16);
	/* sent alone, later: still under the server span, in its trace */
	assert_memory_equal(sl->trace_id.data, sa->trace_id.data, 16);
	assert_int_equal(sl->parent_span_id.len, 8);
	assert_memory_equal(sl->parent_span_id.data, sa->span_id.data, 8);
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
		a, NULL);
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
		b, NULL);
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
		x, NULL);
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
		l, NULL);
}

static void assert_clean_utf8(const char *s)
{
	size_t n = strlen(s);
	uint32_t cp;

	for (size_t i = 0; i < n;) {
		int k = pt_utf8_decode((const unsigned char *)s + i, n - i, &cp);

		if (!k || pt_unicode_is_control(cp))
			fail_msg("invalid UTF-8 or a control character at %zu of %s", i, s);
		i += k;
	}
}

static void assert_clean_attrs(KeyValue **kv, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (kv[i]->value->value_case ==
		    OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE)
			assert_clean_utf8(kv[i]->value->string_value);
}

/* A --probe span outside any request: one INTERNAL span named after it, distinct ids. */
static void test_lone_spans(void **state)
{
	struct request sp[2], *reqs[2] = { &sp[0], &sp[1] };
	ExportReq *m;
	Opentelemetry__Proto__Trace__V1__ScopeSpans *ss;

	for (int i = 0; i < 2; i++) {
		memset(&sp[i], 0, sizeof(sp[i]));
		sp[i].role = PT_ROLE_SPAN;
		sp[i].pid = sp[i].tid = 7;
		strcpy(sp[i].comm, "app");
		add_phase(&sp[i], PHASE_SPAN, "parse", 3000 + i * 10, 5);
		sp[i].start_ns = sp[i].phases[0].start_ns;
		sp[i].dur_ns = 5;
		assert_int_equal(otlp_span_count(&sp[i]), 1);
	}
	m = encode(reqs, 2, &salt);
	ss = m->resource_spans[0]->scope_spans[0];
	assert_int_equal(ss->n_spans, 2);
	assert_string_equal(ss->spans[0]->name, "parse");
	assert_int_equal(ss->spans[0]->kind,
			 OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_INTERNAL);
	assert_int_equal(ss->spans[0]->end_time_unix_nano - ss->spans[0]->start_time_unix_nano, 5);
	assert_memory_not_equal(ss->spans[0]->span_id.data, ss->spans[1]->span_id.data, 8);
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
		m, NULL);
}

/* A process that renamed itself and a client that sent bytes: valid UTF-8 out. */
static void test_hostile_strings(void **state)
{
	struct request s, c, *reqs[1] = { &s };
	ExportReq *m;
	Opentelemetry__Proto__Trace__V1__ResourceSpans *rs;
	Span *srv;

	client(&c, 101, 100);
	server(&s, &c);
	strcpy(s.comm, "ev\x1b[31mil\xc2\x9b");
	strcpy(s.path, "/\x1b]0;x\x07\xff\xe2\x80\xae\xc3\xa9");
	strcpy(s.method, "G\xffT");
	strcpy(s.phases[1].label, "tpl\x1b[1m\xc3");
	m = encode(reqs, 1, &salt);
	rs = m->resource_spans[0];
	assert_clean_attrs(rs->resource->attributes, rs->resource->n_attributes);
	for (size_t i = 0; i < rs->scope_spans[0]->n_spans; i++) {
		Span *sp = rs->scope_spans[0]->spans[i];

		assert_clean_utf8(sp->name);
		assert_clean_attrs(sp->attributes, sp->n_attributes);
	}
	srv = rs->scope_spans[0]->spans[0];
	assert_non_null(strstr(sattr(srv, "url.path"), "\xc3\xa9"));	/* é kept */
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
		m, NULL);
}

/* One ResourceSpans per process, named after it. */
static void test_resources(void **state)
{
	struct request a, b, c, *reqs[3] = { &a, &b, &c };
	ExportReq *m;

	client(&a, 1, 0);
	client(&b, 2, 0);
	client(&c, 3, 0);
	b.pid = 9;
	strcpy(b.comm, "other");
	m = encode(reqs, 3, &salt);
	assert_int_equal(m->n_resource_spans, 2);
	for (size_t i = 0; i < 2; i++) {
		Opentelemetry__Proto__Resource__V1__Resource *r = m->resource_spans[i]->resource;
		const KeyValue *pid = attr(r->attributes, r->n_attributes, "process.pid");
		const KeyValue *name = attr(r->attributes, r->n_attributes, "service.name");
		const KeyValue *host = attr(r->attributes, r->n_attributes, "host.name");

		assert_string_equal(host->value->string_value, "host1");
		assert_string_equal(name->value->string_value, pid->value->int_value == 9 ?
				    "other" : "app");
		assert_int_equal(m->resource_spans[i]->scope_spans[0]->n_spans,
				 pid->value->int_value == 9 ? 4 : 8);
	}
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
		m, NULL);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * A queue of 64 spans and a receiver that refuses (nobody listens on port 1): 16
 * requests of 4 spans wait, the other 84 are counted as queue_full; at exit the 16
 * are tried once (no retries while flushing) and counted as failed.
 */
static void test_queue_bound(void **state)
{
	struct otlp_opts oo = { .url = "http://127.0.0.1:1", .max_queue = 64,
				.delay_ms = 60000, .flush_ms = 2000 };
	struct otlp_stats st;
	struct otlp *o;
	struct request c;
	char err[256];
	double t0;

	assert_int_equal(otlp__new(&o, &oo, err, sizeof(err)), 0);
	client(&c, 1, 0);
	t0 = now_s();
	for (int i = 0; i < 100; i++) {
		c.req_id = i + 1;
		otlp__on_request(o, &c);
		if (i == 15)
			print_message("otlp__on_request: %.2f us per queued request (a copy)\n",
				      (now_s() - t0) / 16 * 1e6);
	}
	otlp__stop(o);
	otlp__stats(o, &st);
	assert_int_equal(st.spans_queue_full, 84 * 4);
	assert_int_equal(st.spans_failed + st.spans_shutdown, 16 * 4);
	assert_int_equal(st.spans_sent, 0);
	otlp__free(o);
}

/* How much encoding costs and weighs (figures for docs/otlp.md). */
static void test_encode_cost(void **state)
{
	struct request s[64], c[64], *reqs[64];
	uint8_t *buf;
	size_t len = 0;
	double t0;
	int rounds = 200;

	for (int i = 0; i < 64; i++) {
		client(&c[i], 1000 + i, 100 + i);
		server(&s[i], &c[i]);
		s[i].req_id = 100 + i;
		reqs[i] = &s[i];
	}
	t0 = now_s();
	for (int r = 0; r < rounds; r++) {
		assert_int_equal(otlp_encode(&salt, "host1", reqs, 64, &buf, &len), 0);
		free(buf);
	}
	print_message("otlp_encode: %.2f us per server request with one call (7 spans), "
		      "%zu bytes per request\n", (now_s() - t0) / (rounds * 64) * 1e6, len / 64);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree_and_attributes),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_grpc),
		cmocka_unit_test(test_hostile_strings),
		cmocka_unit_test(test_resources),
		cmocka_unit_test(test_lone_spans),
		cmocka_unit_test(test_queue_bound),
		cmocka_unit_test(test_encode_cost),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
