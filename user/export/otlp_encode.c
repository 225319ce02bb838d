// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Requests -> OTLP protobuf (see otlp_encode.h and docs/otlp.md). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "assemble/sink.h"
#include "export/otlp_encode.h"
#include "util/sanitize.h"

typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans ScopeSpans;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans ResourceSpans;
typedef Opentelemetry__Proto__Trace__V1__Status Status;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope Scope;
typedef Opentelemetry__Proto__Resource__V1__Resource Resource;
typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest ExportReq;

#define MAX_DEPTH	4	/* children of children: the assembler nests one level */
#define MAX_ATTRS	24	/* per span */
#define CHUNK		(64 << 10)

/* Everything of one batch's message tree lives in one arena, freed at once. */
struct chunk {
	struct chunk *next;
	size_t used, cap;
	max_align_t data[];
};

struct enc {
	struct chunk *chunks;
	const struct otlp_salt *salt;
	int64_t epoch_off;	/* the request's being encoded (request.epoch_off) */
	bool oom;
};

static void *enc_alloc(struct enc *e, size_t n)
{
	struct chunk *c = e->chunks;
	size_t need = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);

	if (!c || c->cap - c->used < need) {
		size_t cap = need > CHUNK ? need : CHUNK;

		c = malloc(sizeof(*c) + cap);
		if (!c) {
			e->oom = true;
			return NULL;
		}
		*c = (struct chunk){ .next = e->chunks, .cap = cap };
		e->chunks = c;
	}
	c->used += need;
	return memset((char *)c->data + c->used - need, 0, need);
}

static void enc_free(struct enc *e)
{
	while (e->chunks) {
		struct chunk *n = e->chunks->next;

		free(e->chunks);
		e->chunks = n;
	}
}

/* A traced process chose these bytes: protobuf strings must be valid UTF-8. */
static char *enc_str(struct enc *e, const char *s, size_t maxlen)
{
	size_t cap = strnlen(s, maxlen) * 4 + 1;
	char *d = enc_alloc(e, cap);

	return d ? pt_sanitize(d, cap, s, 0) : (char *)"";
}

/* ---- ids ---- */

static uint64_t mix64(uint64_t x)	/* splitmix64's finaliser */
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void put_be64(uint8_t *out, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		out[i] = v & 0xff;
}

void otlp_trace_id(const struct otlp_salt *salt, uint64_t root_req_id, uint8_t out[16])
{
	uint64_t hi = mix64(salt->a ^ mix64(root_req_id)), lo = mix64(salt->b + root_req_id);

	put_be64(out, hi | !(hi | lo));	/* an all-zero id is invalid */
	put_be64(out + 8, lo);
}

void otlp_span_id(const struct otlp_salt *salt, uint64_t req_id, int phase, uint8_t out[8])
{
	uint64_t v = mix64(salt->b ^ mix64(req_id * 64 + (uint64_t)(phase + 1) + salt->a));

	put_be64(out, v ? v : 1);
}

/* ---- attributes ---- */

struct attrs {
	KeyValue **kv;
	size_t n;
};

static KeyValue *attr_new(struct enc *e, struct attrs *a, const char *key)
{
	KeyValue *kv = enc_alloc(e, sizeof(*kv));
	AnyValue *v = enc_alloc(e, sizeof(*v));

	if (!kv || !v || a->n >= MAX_ATTRS)
		return NULL;
	opentelemetry__proto__common__v1__key_value__init(kv);
	opentelemetry__proto__common__v1__any_value__init(v);
	kv->key = (char *)key;
	kv->value = v;
	a->kv[a->n++] = kv;
	return kv;
}

static void attr_str(struct enc *e, struct attrs *a, const char *key, const char *val,
		     size_t maxlen)
{
	KeyValue *kv;

	if (!val[0] || !(kv = attr_new(e, a, key)))
		return;
	kv->value->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
	kv->value->string_value = enc_str(e, val, maxlen);
}

static void attr_int(struct enc *e, struct attrs *a, const char *key, int64_t val)
{
	KeyValue *kv = attr_new(e, a, key);

	if (!kv)
		return;
	kv->value->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
	kv->value->int_value = val;
}

static bool attrs_init(struct enc *e, struct attrs *a)
{
	a->kv = enc_alloc(e, MAX_ATTRS * sizeof(*a->kv));
	a->n = 0;
	return a->kv;
}

/* "10.1.2.3" / "::1" (a v4-mapped address as v4); "" if unknown. */
static void ip_str(const struct pt_addr *p, char *buf, size_t len)
{
	static const uint8_t v4mapped[12] = { [10] = 0xff, [11] = 0xff };

	buf[0] = '\0';
	if (p->family == AF_INET)
		inet_ntop(AF_INET, p->addr, buf, len);
	else if (p->family == AF_INET6 && !memcmp(p->addr, v4mapped, 12))
		inet_ntop(AF_INET, p->addr + 12, buf, len);
	else if (p->family == AF_INET6)
		inet_ntop(AF_INET6, p->addr, buf, len);
}

/* The gRPC codes a server span counts as failed (OpenTelemetry's RPC conventions):
 * UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS. */
static bool grpc_server_error(uint8_t code)
{
	return code == 2 || code == 4 || code == 12 || code == 13 || code == 14 || code == 15;
}

/* error.type: the tracer's error, or the status code a span counts as failed
 * (a client's 4xx and 5xx, a server's 5xx, as the HTTP conventions say; a gRPC
 * client's non-OK code, a server's failing ones, as the RPC conventions say). */
static const char *error_type(const struct request *r, char *buf, size_t len)
{
	if (r->error == PT_ERR_GRPC) {
		if (r->role == PT_ROLE_SERVER && !grpc_server_error(r->grpc_status))
			return NULL;
		snprintf(buf, len, "%u", r->grpc_status);
		return buf;
	}
	if (r->error != PT_ERR_NONE)
		return err_name(r->error);
	if (r->status >= 500 || (r->status >= 400 && r->role == PT_ROLE_CLIENT)) {
		snprintf(buf, len, "%u", r->status);
		return buf;
	}
	return NULL;
}

/* A gRPC stream's path, "/package.Service/Method": its service (into svc) and method,
 * NULL if it is not of that form. */
static const char *grpc_method(const char *path, char svc[PT_PATH_LEN])
{
	const char *slash = path[0] == '/' ? strchr(path + 1, '/') : NULL;

	if (!slash || slash == path + 1 || !slash[1] || strchr(slash + 1, '/'))
		return NULL;
	memcpy(svc, path + 1, slash - path - 1);
	svc[slash - path - 1] = 0;
	return slash + 1;
}

/* OpenTelemetry's RPC conventions for a gRPC stream. */
static void grpc_attrs(struct enc *e, struct attrs *a, const struct request *r)
{
	char svc[PT_PATH_LEN];
	const char *meth = grpc_method(r->path, svc);

	attr_str(e, a, "rpc.system", "grpc", 8);
	if (meth) {
		attr_str(e, a, "rpc.service", svc, sizeof(svc));
		attr_str(e, a, "rpc.method", meth, PT_PATH_LEN);
	}
	if (r->has_grpc)
		attr_int(e, a, "rpc.grpc.status_code", r->grpc_status);
}

/* OpenTelemetry's HTTP and network semantic conventions for one request span. */
static void request_attrs(struct enc *e, struct attrs *a, const struct request *r)
{
	bool server = r->role == PT_ROLE_SERVER;
	const struct pt_addr *srv = server ? &r->local : &r->peer;
	char peer[INET6_ADDRSTRLEN], sip[INET6_ADDRSTRLEN];

	ip_str(&r->peer, peer, sizeof(peer));
	ip_str(srv, sip, sizeof(sip));
	attr_str(e, a, "http.request.method", r->method, sizeof(r->method));
	attr_str(e, a, "url.path", r->path, sizeof(r->path));
	if (r->method[0])
		attr_str(e, a, "url.scheme", r->tls ? "https" : "http", 8);
	if (r->status)
		attr_int(e, a, "http.response.status_code", r->status);
	attr_str(e, a, "server.address", !server && r->host[0] ? r->host : sip, PT_HOST_LEN);
	if (srv->family)
		attr_int(e, a, "server.port", srv->port);
	attr_str(e, a, "network.peer.address", peer, sizeof(peer));
	if (r->peer.family)
		attr_int(e, a, "network.peer.port", r->peer.port);
	if (server)
		attr_str(e, a, "client.address", peer, sizeof(peer));
	if (r->is_grpc)
		grpc_attrs(e, a, r);
	attr_int(e, a, "thread.id", r->tid);
	/* empty for a process outside containers: attr_str() skips it */
	attr_str(e, a, "container.id", r->container.id, sizeof(r->container.id));
	attr_str(e, a, "k8s.pod.uid", r->container.pod_uid, sizeof(r->container.pod_uid));
}

static Span *span_new(struct enc *e, const uint8_t trace[16], const uint8_t *parent,
		      uint64_t req_id, int phase, uint64_t start_ns, uint64_t dur_ns)
{
	Span *s = enc_alloc(e, sizeof(*s));
	uint8_t *ids = enc_alloc(e, 32);
	int64_t start = (int64_t)start_ns + e->epoch_off;

	if (!s || !ids)
		return NULL;
	opentelemetry__proto__trace__v1__span__init(s);
	memcpy(ids, trace, 16);
	otlp_span_id(e->salt, req_id, phase, ids + 16);
	s->trace_id = (ProtobufCBinaryData){ 16, ids };
	s->span_id = (ProtobufCBinaryData){ 8, ids + 16 };
	if (parent) {
		memcpy(ids + 24, parent, 8);
		s->parent_span_id = (ProtobufCBinaryData){ 8, ids + 24 };
	}
	s->start_time_unix_nano = start > 0 ? (uint64_t)start : 0;
	s->end_time_unix_nano = s->start_time_unix_nano + dur_ns;
	return s;
}

/* An INTERNAL span for phase p (span id slot idx of request key) with its label; the
 * caller may add attributes to *a before setting them. */
static Span *phase_span(struct enc *e, const struct phase *p, const uint8_t trace[16],
			const uint8_t *parent, uint64_t key, int idx, struct attrs *a)
{
	Span *s = span_new(e, trace, parent, key, idx, p->start_ns, p->dur_ns);

	if (!s || !attrs_init(e, a))
		return NULL;
	s->kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_INTERNAL;
	s->name = enc_str(e, p->name, sizeof(p->name));
	attr_str(e, a, "phasetrace.label", p->label, sizeof(p->label));
	return s;
}

static void phase_spans(struct enc *e, const struct request *r, const Span *rs, Span **out,
			int *n)
{
	for (int i = 0; i < r->nphases && i < REQ_MAX_PHASES; i++) {
		struct attrs a;
		Span *s = phase_span(e, &r->phases[i], rs->trace_id.data, rs->span_id.data,
				     r->req_id, i, &a);

		if (!s)
			return;
		s->attributes = a.kv;
		s->n_attributes = a.n;
		out[(*n)++] = s;
	}
}

static void set_status(struct enc *e, Span *s, const struct request *r)
{
	Status *st = enc_alloc(e, sizeof(*st));
	char code[8];
	const char *et = error_type(r, code, sizeof(code));

	if (!st)
		return;
	opentelemetry__proto__trace__v1__status__init(st);
	if (et) {
		st->code = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
		st->message = enc_str(e, et, 32);
	}
	s->status = st;
}

/* A --probe span outside any request has no request id: its thread and start make one
 * (the top bit keeps it apart from the tracer's ids). */
static uint64_t req_key(const struct request *r)
{
	if (r->role != PT_ROLE_SPAN || r->req_id)
		return r->req_id;
	return (1ULL << 63) | (r->start_ns ^ ((uint64_t)r->tid << 40));
}

/* A --probe span on its own (outside a request, or under one): one INTERNAL span. */
static void lone_span(struct enc *e, const struct request *r, const uint8_t trace[16],
		      const uint8_t *parent, Span **out, int *n)
{
	struct attrs a;
	Span *s = r->nphases ? phase_span(e, &r->phases[0], trace, parent, req_key(r), -1,
					  &a) : NULL;

	if (!s)
		return;
	attr_int(e, &a, "thread.id", r->tid);
	s->attributes = a.kv;
	s->n_attributes = a.n;
	out[(*n)++] = s;
}

/* {method} (no route is known); "HTTP" when the method is not, as the HTTP
 * conventions say for unknown methods; a gRPC stream's "package.Service/Method",
 * as the RPC conventions say. */
static char *span_name(struct enc *e, const struct request *r)
{
	char svc[PT_PATH_LEN];

	if (r->is_grpc && grpc_method(r->path, svc))
		return enc_str(e, r->path + 1, PT_PATH_LEN);
	return r->method[0] ? enc_str(e, r->method, sizeof(r->method)) : (char *)"HTTP";
}

/* The spans of r and its children into out[*n...] (room for otlp_span_count(r)). */
static void tree_spans(struct enc *e, const struct request *r, const uint8_t trace[16],
		       const uint8_t *parent, int depth, Span **out, int *n)
{
	char code[8];
	const char *et = error_type(r, code, sizeof(code));
	struct attrs a;
	Span *s;

	if (r->role == PT_ROLE_SPAN) {
		lone_span(e, r, trace, parent, out, n);
		return;
	}
	s = span_new(e, trace, parent, r->req_id, -1, r->start_ns, r->dur_ns);
	if (!s || !attrs_init(e, &a))
		return;
	s->kind = r->role == PT_ROLE_SERVER ?
		OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER :
		r->role == PT_ROLE_CLIENT ?
		OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT :
		OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_INTERNAL;
	s->name = span_name(e, r);
	request_attrs(e, &a, r);
	if (et)
		attr_str(e, &a, "error.type", et, 32);
	s->attributes = a.kv;
	s->n_attributes = a.n;
	set_status(e, s, r);
	out[(*n)++] = s;
	phase_spans(e, r, s, out, n);
	for (int i = 0; depth < MAX_DEPTH && i < r->nchildren && i < REQ_MAX_CHILDREN; i++)
		tree_spans(e, r->children[i], trace, s->span_id.data, depth + 1, out, n);
}

static int count_depth(const struct request *r, int depth)
{
	int n = 1 + (r->nphases < REQ_MAX_PHASES ? r->nphases : REQ_MAX_PHASES);

	if (r->role == PT_ROLE_SPAN)
		return r->nphases ? 1 : 0;
	for (int i = 0; depth < MAX_DEPTH && i < r->nchildren && i < REQ_MAX_CHILDREN; i++)
		n += count_depth(r->children[i], depth + 1);
	return n;
}

int otlp_span_count(const struct request *r)
{
	return count_depth(r, 0);
}

/* A top-level request: its own trace, or, for an outbound call that finished after the
 * server request it ran in had been sent, that request's trace and span as parent. */
static void root_spans(struct enc *e, const struct request *r, Span **out, int *n)
{
	uint8_t trace[16], parent[8];

	e->epoch_off = r->epoch_off;
	otlp_trace_id(e->salt, r->parent_id ? r->parent_id : req_key(r), trace);
	if (r->parent_id)
		otlp_span_id(e->salt, r->parent_id, -1, parent);
	tree_spans(e, r, trace, r->parent_id ? parent : NULL, 0, out, n);
}

static int by_process(const void *pa, const void *pb)
{
	const struct request *a = *(struct request *const *)pa, *b = *(struct request *const *)pb;

	if (a->pid != b->pid)
		return a->pid < b->pid ? -1 : 1;
	return strncmp(a->comm, b->comm, PT_COMM_LEN);
}

/* service.name is the process name: what the metrics call comm. */
static Resource *resource_new(struct enc *e, const struct request *r, const char *host)
{
	Resource *res = enc_alloc(e, sizeof(*res));
	struct attrs a;

	if (!res || !attrs_init(e, &a))
		return NULL;
	opentelemetry__proto__resource__v1__resource__init(res);
	attr_str(e, &a, "service.name", r->comm, sizeof(r->comm));
	attr_str(e, &a, "host.name", host, 256);
	attr_int(e, &a, "process.pid", r->pid);
	attr_str(e, &a, "process.executable.name", r->comm, sizeof(r->comm));
	attr_str(e, &a, "telemetry.sdk.name", "phasetrace", 16);
	res->attributes = a.kv;
	res->n_attributes = a.n;
	return res;
}

/* One ResourceSpans for reqs[0..n), all of one process. */
static ResourceSpans *resource_spans(struct enc *e, struct request *const *reqs, int n,
				     const char *host)
{
	ResourceSpans *rs = enc_alloc(e, sizeof(*rs));
	ScopeSpans *ss = enc_alloc(e, sizeof(*ss));
	ScopeSpans **ssv = enc_alloc(e, sizeof(*ssv));
	Scope *scope = enc_alloc(e, sizeof(*scope));
	int nspans = 0, k = 0;
	Span **spans;

	for (int i = 0; i < n; i++)
		nspans += otlp_span_count(reqs[i]);
	spans = enc_alloc(e, nspans * sizeof(*spans));
	if (!rs || !ss || !ssv || !scope || !spans)
		return NULL;
	opentelemetry__proto__trace__v1__resource_spans__init(rs);
	opentelemetry__proto__trace__v1__scope_spans__init(ss);
	opentelemetry__proto__common__v1__instrumentation_scope__init(scope);
	scope->name = (char *)"phasetrace";
	for (int i = 0; i < n; i++)
		root_spans(e, reqs[i], spans, &k);
	ss->scope = scope;
	ss->spans = spans;
	ss->n_spans = k;
	ssv[0] = ss;
	rs->resource = resource_new(e, reqs[0], host);
	rs->scope_spans = ssv;
	rs->n_scope_spans = 1;
	return rs;
}

int otlp_encode(const struct otlp_salt *salt, const char *host_name,
		struct request *const *in, int n, uint8_t **buf, size_t *len)
{
	struct enc e = { .salt = salt };
	struct request **reqs = enc_alloc(&e, (n ? n : 1) * sizeof(*reqs));
	ResourceSpans **rsv = enc_alloc(&e, (n ? n : 1) * sizeof(*rsv));
	ExportReq req;
	int ret = -ENOMEM;

	*buf = NULL;
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(&req);
	if (!reqs || !rsv)
		goto cleanup;
	memcpy(reqs, in, n * sizeof(*reqs));
	qsort(reqs, n, sizeof(*reqs), by_process);
	for (int i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && !by_process(&reqs[i], &reqs[j]); j++)
			;
		rsv[req.n_resource_spans] = resource_spans(&e, reqs + i, j - i, host_name);
		if (!rsv[req.n_resource_spans++])
			goto cleanup;
	}
	req.resource_spans = rsv;
	if (e.oom)
		goto cleanup;
	*len = protobuf_c_message_get_packed_size(&req.base);
	*buf = malloc(*len ? *len : 1);
	if (!*buf)
		goto cleanup;
	protobuf_c_message_pack(&req.base, *buf);
	ret = 0;
cleanup:
	enc_free(&e);
	return ret;
}
