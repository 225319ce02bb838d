// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* JSON lines: the public contract is docs/json.md (add fields, never rename). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "output/output.h"
#include "output/waterfall.h"
#include "util/sanitize.h"

struct jbuf {
	char *p;
	size_t len, cap;
};

/* Append what fits, the buffer's last byte kept for the NUL. */
static void __attribute__((noinline)) jmem_cut(struct jbuf *b, const char *s, size_t n)
{
	n = b->cap - 1 > b->len ? b->cap - 1 - b->len : 0;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

/*
 * Append helpers without printf: JSON lines are the hot path of `trace --json`. Inlined,
 * so that the many appends of a constant length become plain moves. A request is written
 * through a struct jbuf of its own (jrequest()): its address never leaves the inlined
 * code, so the length stays in a register; the helpers that are calls (numbers, strings,
 * children) take and return the length by value.
 */
#define JINLINE static inline __attribute__((always_inline))

JINLINE void jmem(struct jbuf *b, const char *s, size_t n)
{
	if (__builtin_expect(b->len + n >= b->cap, 0)) {
		jmem_cut(b, s, n);
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

#define jlit(b, s) jmem(b, s, sizeof(s) - 1)

/* Decimal digits of v (1 for 0): from its bit length, corrected by one comparison. */
static int u64_digits(uint64_t v)
{
	static const uint64_t p10[20] = {
		1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL,
		100000000ULL, 1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL,
		10000000000000ULL, 100000000000000ULL, 1000000000000000ULL,
		10000000000000000ULL, 100000000000000000ULL, 1000000000000000000ULL,
		10000000000000000000ULL,
	};
	int t = (64 - __builtin_clzll(v | 1)) * 1233 >> 12;	/* 1233 / 4096 ~ log10(2) */
	int d = t + (v >= p10[t]);

	return d ? d : 1;
}

static const char pairs[201] =
	"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

/* v < 10^8 as exactly eight digits ending at end: two independent chains of 32-bit steps */
static void u32_put8(char *end, uint32_t v)
{
	uint32_t hi = v / 10000, lo = v % 10000;

	memcpy(end - 8, pairs + 2 * (hi / 100), 2);
	memcpy(end - 6, pairs + 2 * (hi % 100), 2);
	memcpy(end - 4, pairs + 2 * (lo / 100), 2);
	memcpy(end - 2, pairs + 2 * (lo % 100), 2);
}

/* v's digits ending at end: eight per 64-bit division, then two per (32-bit) division. */
static void u64_put(char *end, uint64_t v)
{
	uint32_t w;

	while (v >= 100000000) {
		uint64_t q = v / 100000000;

		u32_put8(end, (uint32_t)(v - q * 100000000));
		end -= 8;
		v = q;
	}
	for (w = (uint32_t)v; w >= 100; w /= 100) {
		end -= 2;
		memcpy(end, pairs + 2 * (w % 100), 2);
	}
	if (w >= 10)
		memcpy(end - 2, pairs + 2 * w, 2);
	else
		end[-1] = '0' + w;
}

/* v appended to the len bytes at p (cap: jmem()'s); the new length */
static size_t ju64_at(char *p, size_t len, size_t cap, uint64_t v)
{
	struct jbuf b = { p, len, cap };
	int d = u64_digits(v);
	char tmp[24];

	if (__builtin_expect(len + d < cap, 1)) {	/* straight into the buffer */
		u64_put(p + len + d, v);
		return len + d;
	}
	u64_put(tmp + d, v);
	jmem(&b, tmp, d);
	return b.len;
}

JINLINE void ju64(struct jbuf *b, uint64_t v)
{
	b->len = ju64_at(b->p, b->len, b->cap, v);
}

JINLINE void ji64(struct jbuf *b, int64_t v)
{
	if (v < 0) {
		jlit(b, "-");
		ju64(b, (uint64_t)(-(v + 1)) + 1);
	} else {
		ju64(b, v);
	}
}

static void ju_escape(struct jbuf *b, uint32_t u)
{
	static const char hex[] = "0123456789abcdef";
	char e[6] = { '\\', 'u', hex[u >> 12 & 15], hex[u >> 8 & 15], hex[u >> 4 & 15],
		      hex[u & 15] };

	jmem(b, e, 6);
}

/* Bytes a JSON string carries as they are ("plain"): printable ASCII but '"' and '\\'. */
#if defined(__SSE2__)
/* The 16 bytes at a (aligned), as a bit mask: those a JSON string cannot carry as they
 * are (a control, NUL included; '"'; '\\'; DEL; and as signed bytes, every byte above). */
#define NOT_PLAIN16(a) ({							\
	__m128i v_ = _mm_load_si128(a);						\
	(unsigned)_mm_movemask_epi8(_mm_or_si128(				\
		_mm_or_si128(_mm_cmplt_epi8(v_, _mm_set1_epi8(0x20)),		\
			     _mm_cmpeq_epi8(v_, _mm_set1_epi8('"'))),		\
		_mm_or_si128(_mm_cmpeq_epi8(v_, _mm_set1_epi8('\\')),		\
			     _mm_cmpeq_epi8(v_, _mm_set1_epi8(0x7f)))));		\
})

/*
 * The first byte at or after p that is not plain, 16 at a time (paths, cgroups and
 * peers run to dozens of bytes). Aligned loads, as strlen() does: they may read bytes
 * around the string but never cross into the next page, where the string cannot be
 * (its NUL stops the scan first). Not instrumented: those bytes are no one else's reads.
 */
__attribute__((no_sanitize_address))
static const unsigned char *plain_end(const unsigned char *p)
{
	uintptr_t off = (uintptr_t)p & 15;
	const __m128i *a = (const __m128i *)(p - off);
	unsigned m = NOT_PLAIN16(a) & (0xffffu << off);

	while (!m) {
		a++;
		m = NOT_PLAIN16(a);
	}
	return (const unsigned char *)a + __builtin_ctz(m);
}
#else
static const unsigned char *plain_end(const unsigned char *p)
{
	static const bool plain[256] = {
		[0x20 ... 0x21] = true, [0x23 ... 0x5b] = true, [0x5d ... 0x7e] = true,
	};

	while (plain[*p])
		p++;
	return p;
}
#endif

/*
 * A JSON string in plain ASCII, whatever the traced process sent: controls and DEL as
 * \u00XX, other characters as \uXXXX (surrogate pairs above U+FFFF), and each byte that
 * is not valid UTF-8 as \ufffd, the replacement character.
 */
static void jstr_buf(struct jbuf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (!s) {
		jlit(b, "null");
		return;
	}
	jlit(b, "\"");
	for (;;) {
		const unsigned char *run = p;
		uint32_t cp;
		int len;

		p = plain_end(p);	/* in one copy */
		if (p > run)
			jmem(b, (const char *)run, p - run);
		if (!*p)
			break;
		if (*p == '"' || *p == '\\') {
			char e[2] = { '\\', *p++ };

			jmem(b, e, 2);
			continue;
		}
		/* a UTF-8 sequence is at most 4 bytes: no need to measure the rest */
		len = pt_utf8_decode(p, strnlen((const char *)p, 4), &cp);
		if (!len) {
			len = 1;
			cp = 0xfffd;
		}
		p += len;
		if (cp > 0xffff) {
			cp -= 0x10000;
			ju_escape(b, 0xd800 | cp >> 10);
			ju_escape(b, 0xdc00 | (cp & 0x3ff));
		} else {
			ju_escape(b, cp);
		}
	}
	jlit(b, "\"");
}

/* jstr_buf() on the len bytes at p; the new length */
static size_t jstr_at(char *p, size_t len, size_t cap, const char *s)
{
	struct jbuf b = { p, len, cap };

	jstr_buf(&b, s);
	return b.len;
}

JINLINE void jstr(struct jbuf *b, const char *s)
{
	if (!s)		/* most hosts, errors, pod UIDs: no call */
		jlit(b, "null");
	else
		b->len = jstr_at(b->p, b->len, b->cap, s);
}

JINLINE void jbool(struct jbuf *b, bool v)
{
	if (v)
		jlit(b, "true");
	else
		jlit(b, "false");
}

/* ,"key":value */
#define jfield(b, key, put, v) do { jlit(b, ",\"" key "\":"); put(b, v); } while (0)

static size_t jrequest(char *p, size_t len, size_t cap, const struct request *r);

/* "protocol" (HTTP/1.x when a request or status line was read), HTTP/2 stream, gRPC status */
JINLINE void jprotocol(struct jbuf *b, const struct request *r)
{
	const char *p = r->proto == PT_PROTO_H2 ? "h2" : r->proto == PT_PROTO_H2C ? "h2c" :
			r->method[0] || r->status ? "http/1.1" : NULL;

	jfield(b, "protocol", jstr, p);
	if (r->stream_id)
		jfield(b, "stream_id", ju64, r->stream_id);
	if (r->has_grpc)
		jfield(b, "grpc_status", ju64, r->grpc_status);
}

/* "status": HTTP's; for a gRPC stream the grpc-status (omitted until seen), HTTP's
 * :status then in "http_status" (docs/json.md) */
JINLINE void jstatus(struct jbuf *b, const struct request *r)
{
	if (!r->is_grpc) {
		if (r->status)
			jfield(b, "status", ju64, r->status);
		return;
	}
	if (r->has_grpc)
		jfield(b, "status", ju64, r->grpc_status);
	if (r->status)
		jfield(b, "http_status", ju64, r->status);
}

/* Where the request went and what it carried: everything but spans have these. */
JINLINE void jconnection(struct jbuf *b, const struct request *r)
{
	bool server = r->role == PT_ROLE_SERVER;
	char peer[64];

	jfield(b, "host", jstr, r->host[0] ? r->host : NULL);
	jfield(b, "peer", jstr, r->peer.family ? addr_str(&r->peer, peer, sizeof(peer)) : NULL);
	if (r->local.family)
		jfield(b, "local_port", ju64, r->local.port);
	jfield(b, "tls", jbool, r->tls);
	if (r->method[0]) {
		jfield(b, "method", jstr, r->method);
		jfield(b, "path", jstr, r->path);
	}
	jstatus(b, r);
	jfield(b, "bytes_sent", ju64, server ? r->bytes_resp : r->bytes_req);
	jfield(b, "bytes_received", ju64, server ? r->bytes_req : r->bytes_resp);
	jfield(b, "writes", ju64, r->writes);
	if (r->is_go && server)
		jfield(b, "template_parses", ju64, r->tpl_parses);
	jprotocol(b, r);
}

JINLINE void jphase(struct jbuf *b, const struct phase *ph, uint64_t base)
{
	jlit(b, "{\"name\":");
	jstr(b, ph->name);
	jfield(b, "start_ns", ji64, (int64_t)(ph->start_ns - base));
	jfield(b, "dur_ns", ju64, ph->dur_ns);
	if (ph->id == PHASE_RENDER || ph->id == PHASE_SPAN) {
		jfield(b, "io_ns", ju64, ph->io_ns);
		jfield(b, "io_in_span", jbool, ph->io_in_span);
		if (ph->id == PHASE_RENDER)
			jfield(b, "io_in_render", jbool, ph->io_in_span);
		if (ph->label[0])
			jfield(b, "label", jstr, ph->label);
		if (ph->gc_ns)
			jfield(b, "gc_ns", ju64, ph->gc_ns);
	}
	jlit(b, "}");
}

JINLINE void jphases_and_children(struct jbuf *b, const struct request *r)
{
	jlit(b, ",\"phases\":[");
	for (int i = 0; i < r->nphases; i++) {
		if (i)
			jlit(b, ",");
		jphase(b, &r->phases[i], r->start_ns);
	}
	jlit(b, "]");
	if (r->role != PT_ROLE_SERVER)
		return;
	jlit(b, ",\"children\":[");
	for (int i = 0; i < r->nchildren; i++) {
		if (i)
			jlit(b, ",");
		b->len = jrequest(b->p, b->len, b->cap, r->children[i]);
	}
	jlit(b, "]");
}

/* cgroup_id, cgroup, container {id, runtime} or {runtime, unit}, pod_uid; null if unknown. */
JINLINE void jcontainer(struct jbuf *b, const struct request *r)
{
	const struct container *c = &r->container;

	jfield(b, "cgroup_id", ju64, c->cgroup_id);
	jfield(b, "cgroup", jstr, c->cgroup[0] ? c->cgroup : NULL);
	if (c->runtime == CT_RT_NONE) {
		jlit(b, ",\"container\":null");
	} else {
		jlit(b, ",\"container\":{\"runtime\":");
		jstr(b, ct_runtime_name(c->runtime));
		if (c->id[0])
			jfield(b, "id", jstr, c->id);
		if (c->unit[0])
			jfield(b, "unit", jstr, c->unit);
		jlit(b, "}");
	}
	jfield(b, "pod_uid", jstr, c->pod_uid[0] ? c->pod_uid : NULL);
}

/* One request object appended to the len bytes at p, field order as in docs/json.md's
 * example; the new length. */
static size_t jrequest(char *p, size_t len, size_t cap, const struct request *r)
{
	struct jbuf lb = { p, len, cap }, *b = &lb;

	jlit(b, "{\"role\":");
	jstr(b, role_name(r->role));
	jfield(b, "pid", ju64, r->pid);
	jfield(b, "tid", ju64, r->tid);
	jfield(b, "comm", jstr, r->comm);
	if (r->is_go)
		jfield(b, "goid", ju64, r->goid);
	jcontainer(b, r);
	jfield(b, "start_ns", ji64, pt_req_epoch_ns(r, r->start_ns));
	jfield(b, "dur_ns", ju64, r->dur_ns);
	if (r->role != PT_ROLE_SPAN)
		jconnection(b, r);
	jfield(b, "error", jstr, err_name(r->error));
	if (r->dns_failed)
		jfield(b, "dns_rc", ji64, r->dns_rc);
	jfield(b, "req_id", ju64, r->req_id);
	if (r->parent_id)
		jfield(b, "parent_id", ju64, r->parent_id);
	jphases_and_children(b, r);
	jlit(b, "}");
	return lb.len;
}

size_t json_format(const struct request *r, char *buf, size_t len)
{
	size_t n;

	if (!len)
		return 0;
	n = jrequest(buf, 0, len, r);
	buf[n] = 0;
	return n;
}

struct output {
	FILE *f;
	bool json, color;
	int width;
	char *buf;
	size_t cap;
	size_t used;	/* JSON lines waiting in buf */
};

static void write_batch(struct output *o)
{
	if (o->used)
		fwrite(o->buf, 1, o->used, o->f);
	o->used = 0;
}

/*
 * JSON lines gather in buf and leave in one fwrite per batch. A line is formatted where
 * the batch ends; one that may have been cut there is formatted again at the start of
 * the buffer after the batch is written, so every line is what a whole buffer gives.
 */
static void json_line(struct output *o, const struct request *r)
{
	size_t room = o->cap - o->used, n = json_format(r, o->buf + o->used, room);

	if (n + 1 >= room && o->used) {
		write_batch(o);
		n = json_format(r, o->buf, o->cap);
	}
	o->buf[o->used + n] = '\n';	/* where the NUL was: n < cap - used */
	o->used += n + 1;
	if (o->used + 1 >= o->cap)
		write_batch(o);
}

static void on_request(void *ctx, const struct request *r)
{
	struct output *o = ctx;

	if (o->json)
		json_line(o, r);
	else
		waterfall__print(o->f, r, o->width, o->color);
	/* written and flushed on the collector's tick (output__tick_cb): no write per record */
}

void output__tick_cb(void *ctx, uint64_t now)
{
	struct output *o = ctx;

	write_batch(o);
	fflush(o->f);
}

struct output *output__new(FILE *f, bool json, bool color, int width)
{
	struct output *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->f = f;
	o->json = json;
	o->color = color;
	o->width = width;
	o->cap = 1 << 20;	/* a server request with 64 children fits */
	o->buf = malloc(o->cap);
	if (!o->buf) {
		free(o);
		return NULL;
	}
	return o;
}

void output__free(struct output *o)
{
	if (!o)
		return;
	write_batch(o);
	free(o->buf);
	free(o);
}

struct sink output__sink(struct output *o)
{
	struct sink s = { .name = o->json ? "json" : "waterfall", .on_request = on_request,
			  .ctx = o };
	return s;
}

size_t json_string(const char *s, char *buf, size_t len)
{
	struct jbuf b = { .p = buf, .cap = len };

	if (len) {
		jstr_buf(&b, s);
		buf[b.len] = 0;
	}
	return b.len;
}
