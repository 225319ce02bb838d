// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* JSON lines: the public contract is docs/json.md (add fields, never rename). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "waterfall.h"

struct jbuf {
	char *p;
	size_t len, cap;
};

static void jputf(struct jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void jputf(struct jbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->len >= b->cap)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		b->len = b->len + n < b->cap ? b->len + n : b->cap - 1;
}

static void jstr(struct jbuf *b, const char *s)
{
	if (!s) {
		jputf(b, "null");
		return;
	}
	jputf(b, "\"");
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			jputf(b, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			jputf(b, "\\u%04x", c);
		else
			jputf(b, "%c", c);
	}
	jputf(b, "\"");
}

static void jrequest(struct jbuf *b, const struct request *r)
{
	char peer[64];
	uint64_t base = r->start_ns;

	jputf(b, "{\"role\":");
	jstr(b, role_name(r->role));
	jputf(b, ",\"pid\":%u,\"tid\":%u,\"comm\":", r->pid, r->tid);
	jstr(b, r->comm);
	if (r->is_go)
		jputf(b, ",\"goid\":%llu", (unsigned long long)r->goid);
	jputf(b, ",\"start_ns\":%lld,\"dur_ns\":%llu", (long long)(r->start_ns + pt_mono_to_epoch_ns),
	      (unsigned long long)r->dur_ns);
	if (r->role != PT_ROLE_SPAN) {
		jputf(b, ",\"host\":");
		jstr(b, r->host[0] ? r->host : NULL);
		jputf(b, ",\"peer\":");
		jstr(b, r->peer.family ? addr_str(&r->peer, peer, sizeof(peer)) : NULL);
		if (r->local.family)
			jputf(b, ",\"local_port\":%u", r->local.port);
		jputf(b, ",\"tls\":%s", r->tls ? "true" : "false");
		if (r->method[0]) {
			jputf(b, ",\"method\":");
			jstr(b, r->method);
			jputf(b, ",\"path\":");
			jstr(b, r->path);
		}
		if (r->status)
			jputf(b, ",\"status\":%u", r->status);
		jputf(b, ",\"bytes_sent\":%llu,\"bytes_received\":%llu",
		      (unsigned long long)(r->role == PT_ROLE_SERVER ? r->bytes_resp : r->bytes_req),
		      (unsigned long long)(r->role == PT_ROLE_SERVER ? r->bytes_req : r->bytes_resp));
	}
	jputf(b, ",\"error\":");
	jstr(b, err_name(r->error));
	if (r->dns_failed)
		jputf(b, ",\"dns_rc\":%d", r->dns_rc);
	jputf(b, ",\"req_id\":%llu", (unsigned long long)r->req_id);
	if (r->parent_id)
		jputf(b, ",\"parent_id\":%llu", (unsigned long long)r->parent_id);
	jputf(b, ",\"phases\":[");
	for (int i = 0; i < r->nphases; i++) {
		const struct phase *ph = &r->phases[i];

		jputf(b, "%s{\"name\":", i ? "," : "");
		jstr(b, ph->name);
		jputf(b, ",\"start_ns\":%lld,\"dur_ns\":%llu", (long long)(ph->start_ns - base),
		      (unsigned long long)ph->dur_ns);
		if (ph->id == PHASE_RENDER || ph->id == PHASE_SPAN) {
			jputf(b, ",\"io_ns\":%llu,\"io_in_span\":%s", (unsigned long long)ph->io_ns,
			      ph->io_in_span ? "true" : "false");
			if (ph->id == PHASE_RENDER)
				jputf(b, ",\"io_in_render\":%s", ph->io_in_span ? "true" : "false");
			if (ph->label[0]) {
				jputf(b, ",\"label\":");
				jstr(b, ph->label);
			}
		}
		jputf(b, "}");
	}
	jputf(b, "]");
	if (r->role == PT_ROLE_SERVER) {
		jputf(b, ",\"children\":[");
		for (int i = 0; i < r->nchildren; i++) {
			if (i)
				jputf(b, ",");
			jrequest(b, r->children[i]);
		}
		jputf(b, "]");
	}
	jputf(b, "}");
}

size_t json_format(const struct request *r, char *buf, size_t len)
{
	struct jbuf b = { .p = buf, .len = 0, .cap = len };

	if (!len)
		return 0;
	buf[0] = 0;
	jrequest(&b, r);
	return b.len;
}

struct output {
	FILE *f;
	bool json, color;
	int width;
	char *buf;
	size_t cap;
};

static void on_request(void *ctx, const struct request *r)
{
	struct output *o = ctx;

	if (o->json) {
		size_t n = json_format(r, o->buf, o->cap);

		fwrite(o->buf, 1, n, o->f);
		fputc('\n', o->f);
	} else {
		waterfall__print(o->f, r, o->width, o->color);
	}
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
	free(o->buf);
	free(o);
}

struct sink output__sink(struct output *o)
{
	struct sink s = { .name = o->json ? "json" : "waterfall", .on_request = on_request,
			  .ctx = o };
	return s;
}
