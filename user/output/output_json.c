// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* JSON lines: the public contract is docs/json.md (add fields, never rename). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output/output.h"
#include "output/waterfall.h"

struct jbuf {
	char *p;
	size_t len, cap;
};

/* Append helpers without printf: JSON lines are the hot path of `trace --json`. */
static void jmem(struct jbuf *b, const char *s, size_t n)
{
	if (b->len + n >= b->cap)
		n = b->cap - 1 > b->len ? b->cap - 1 - b->len : 0;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

#define jlit(b, s) jmem(b, s, sizeof(s) - 1)

static void ju64(struct jbuf *b, uint64_t v)
{
	char tmp[24];
	int i = sizeof(tmp);

	do {
		tmp[--i] = '0' + v % 10;
		v /= 10;
	} while (v);
	jmem(b, tmp + i, sizeof(tmp) - i);
}

static void ji64(struct jbuf *b, int64_t v)
{
	if (v < 0) {
		jlit(b, "-");
		ju64(b, (uint64_t)(-(v + 1)) + 1);
	} else {
		ju64(b, v);
	}
}

static void jstr(struct jbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	if (!s) {
		jlit(b, "null");
		return;
	}
	jlit(b, "\"");
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\') {
			char e[2] = { '\\', c };

			jmem(b, e, 2);
		} else if (c < 0x20 || c >= 0x7f) {
			char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

			jmem(b, e, 6);
		} else {
			jmem(b, (const char *)&c, 1);
		}
	}
	jlit(b, "\"");
}

static void jbool(struct jbuf *b, bool v)
{
	if (v)
		jlit(b, "true");
	else
		jlit(b, "false");
}

static void jrequest(struct jbuf *b, const struct request *r)
{
	char peer[64];
	uint64_t base = r->start_ns;
	bool server = r->role == PT_ROLE_SERVER;

	jlit(b, "{\"role\":");
	jstr(b, role_name(r->role));
	jlit(b, ",\"pid\":");
	ju64(b, r->pid);
	jlit(b, ",\"tid\":");
	ju64(b, r->tid);
	jlit(b, ",\"comm\":");
	jstr(b, r->comm);
	if (r->is_go) {
		jlit(b, ",\"goid\":");
		ju64(b, r->goid);
	}
	jlit(b, ",\"start_ns\":");
	ji64(b, (int64_t)r->start_ns + pt_mono_to_epoch_ns);
	jlit(b, ",\"dur_ns\":");
	ju64(b, r->dur_ns);
	if (r->role != PT_ROLE_SPAN) {
		jlit(b, ",\"host\":");
		jstr(b, r->host[0] ? r->host : NULL);
		jlit(b, ",\"peer\":");
		jstr(b, r->peer.family ? addr_str(&r->peer, peer, sizeof(peer)) : NULL);
		if (r->local.family) {
			jlit(b, ",\"local_port\":");
			ju64(b, r->local.port);
		}
		jlit(b, ",\"tls\":");
		jbool(b, r->tls);
		if (r->method[0]) {
			jlit(b, ",\"method\":");
			jstr(b, r->method);
			jlit(b, ",\"path\":");
			jstr(b, r->path);
		}
		if (r->status) {
			jlit(b, ",\"status\":");
			ju64(b, r->status);
		}
		jlit(b, ",\"bytes_sent\":");
		ju64(b, server ? r->bytes_resp : r->bytes_req);
		jlit(b, ",\"bytes_received\":");
		ju64(b, server ? r->bytes_req : r->bytes_resp);
	}
	jlit(b, ",\"error\":");
	jstr(b, err_name(r->error));
	if (r->dns_failed) {
		jlit(b, ",\"dns_rc\":");
		ji64(b, r->dns_rc);
	}
	jlit(b, ",\"req_id\":");
	ju64(b, r->req_id);
	if (r->parent_id) {
		jlit(b, ",\"parent_id\":");
		ju64(b, r->parent_id);
	}
	jlit(b, ",\"phases\":[");
	for (int i = 0; i < r->nphases; i++) {
		const struct phase *ph = &r->phases[i];

		if (i)
			jlit(b, ",");
		jlit(b, "{\"name\":");
		jstr(b, ph->name);
		jlit(b, ",\"start_ns\":");
		ji64(b, (int64_t)(ph->start_ns - base));
		jlit(b, ",\"dur_ns\":");
		ju64(b, ph->dur_ns);
		if (ph->id == PHASE_RENDER || ph->id == PHASE_SPAN) {
			jlit(b, ",\"io_ns\":");
			ju64(b, ph->io_ns);
			jlit(b, ",\"io_in_span\":");
			jbool(b, ph->io_in_span);
			if (ph->id == PHASE_RENDER) {
				jlit(b, ",\"io_in_render\":");
				jbool(b, ph->io_in_span);
			}
			if (ph->label[0]) {
				jlit(b, ",\"label\":");
				jstr(b, ph->label);
			}
		}
		jlit(b, "}");
	}
	jlit(b, "]");
	if (server) {
		jlit(b, ",\"children\":[");
		for (int i = 0; i < r->nchildren; i++) {
			if (i)
				jlit(b, ",");
			jrequest(b, r->children[i]);
		}
		jlit(b, "]");
	}
	jlit(b, "}");
}

size_t json_format(const struct request *r, char *buf, size_t len)
{
	struct jbuf b = { .p = buf, .len = 0, .cap = len };

	if (!len)
		return 0;
	jrequest(&b, r);
	buf[b.len] = 0;
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
	/* flushed on the collector's tick (output__tick_cb): no write per record */
}

void output__tick_cb(void *ctx, uint64_t now)
{
	struct output *o = ctx;

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
