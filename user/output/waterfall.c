// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The waterfall a person reads at a glance:
 *
 *   17:04:11.201 curl[4242] -> api.shop.test (127.0.0.1:8443) TLS GET / 200   612.3ms
 *     dns        150.2ms |#########                                          |
 *     connect      0.1ms |         |                                         |
 *     tls        250.4ms |         ################                          |
 *
 * Bars share one time scale per top-level request, so children of a server
 * request line up under the phase they happened in. Every name a traced
 * process or the network chose (comm, host, method, path, span name and
 * label) is sanitised for the terminal; without a UTF-8 locale, down to ASCII.
 */
#include <langinfo.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "assemble/sink.h"
#include "output/waterfall.h"
#include "util/sanitize.h"

#define LABEL_COLS 22	/* indent + name + duration */

struct wf {
	waterfall_emit_fn emit;
	void *ctx;
	int width;
	bool color, utf8;
	uint64_t base, span;	/* time window of the whole drawing */
	int max_indent;		/* deepest nesting drawn */
};

static const char *phase_color(enum phase_id id)
{
	switch (id) {
	case PHASE_DNS: return "\033[36m";
	case PHASE_CONNECT: return "\033[33m";
	case PHASE_TLS: return "\033[35m";
	case PHASE_SEND: return "\033[34m";
	case PHASE_TTFB: return "\033[32m";
	case PHASE_RENDER: return "\033[31m";
	default: return "\033[37m";
	}
}

/* A copy of a fixed-size field (NUL-terminated or full) fit for the terminal. */
static const char *safe_copy(const struct wf *w, char *buf, size_t len, const char *s, size_t max)
{
	pt_sanitize_mem(buf, len, s, strnlen(s, max), w->utf8 ? 0 : PT_SAN_ASCII);
	return buf;
}

#define SAFE(w, buf, field) safe_copy(w, buf, sizeof(buf), field, sizeof(field))

static void fmt_dur(char *buf, size_t len, uint64_t ns)
{
	if (ns >= 10000000000ULL)
		snprintf(buf, len, "%.1fs", ns / 1e9);
	else if (ns >= 1000000)
		snprintf(buf, len, "%.1fms", ns / 1e6);
	else
		snprintf(buf, len, "%.0fus", ns / 1e3);
}

static void bar_line(struct wf *w, int indent, const struct phase *ph)
{
	char line[1280], dur[32], extra[96 + 4 * PT_LABEL_LEN] = "";
	char name[4 * sizeof(ph->name)], label[4 * sizeof(ph->label)];
	/* one bar column for every depth, so nested bars line up with their parent's */
	int cols = w->width - LABEL_COLS - w->max_indent - 2;
	size_t n = 0;
	int from, len;

	if (cols < 10)
		cols = 10;
	from = w->span ? (int)((double)(ph->start_ns - w->base) * cols / w->span) : 0;
	len = w->span ? (int)((double)ph->dur_ns * cols / w->span + 0.5) : cols;
	if (from >= cols)
		from = cols - 1;
	if (from < 0)
		from = 0;
	if (from + len > cols)
		len = cols - from;
	fmt_dur(dur, sizeof(dur), ph->dur_ns);
	n += snprintf(line + n, sizeof(line) - n, "%*s%-*.*s %9s |", indent + 2, "",
		      9 + w->max_indent - indent, 9 + w->max_indent - indent,
		      SAFE(w, name, ph->name), dur);
	if (w->color)
		n += snprintf(line + n, sizeof(line) - n, "%s", phase_color(ph->id));
	for (int i = 0; i < cols && n < sizeof(line) - 8; i++) {
		const char *ch = " ";

		if (i >= from && i < from + len)
			ch = w->utf8 ? "\u2588" : "#";
		else if (i == from && len == 0)
			ch = w->utf8 ? "\u258f" : "|";
		n += snprintf(line + n, sizeof(line) - n, "%s", ch);
	}
	if (w->color)
		n += snprintf(line + n, sizeof(line) - n, "\033[0m");
	if (ph->id == PHASE_RENDER || ph->id == PHASE_SPAN) {
		char io[32];

		fmt_dur(io, sizeof(io), ph->io_ns);
		snprintf(extra, sizeof(extra), " io %s%s%s%s", io,
			 ph->io_in_span ? ", calls inside" : "", ph->label[0] ? " " : "",
			 SAFE(w, label, ph->label));
	}
	snprintf(line + n, sizeof(line) - n, "|%s", extra);
	w->emit(w->ctx, line);
}

static void header_line(struct wf *w, int indent, const struct request *r, bool top)
{
	char line[1536], peer[64] = "", dur[32], when[32] = "";
	char comm[4 * PT_COMM_LEN], host[4 * PT_HOST_LEN], method[4 * PT_METHOD_LEN];
	char path[4 * PT_PATH_LEN];
	const char *err = err_name(r->error);
	const char *arrow = r->role == PT_ROLE_SERVER ? (w->utf8 ? "\u2190" : "<-") :
			    (w->utf8 ? "\u2192" : "->");
	size_t n = 0;

	if (r->peer.family)
		addr_str(&r->peer, peer, sizeof(peer));
	fmt_dur(dur, sizeof(dur), r->dur_ns);
	if (top) {
		int64_t wall = pt_req_epoch_ns(r, r->start_ns);
		time_t sec = (time_t)(wall / 1000000000LL);
		int ms = (int)((wall / 1000000LL) % 1000);
		struct tm tm;

		localtime_r(&sec, &tm);
		n = strftime(when, sizeof(when), "%H:%M:%S", &tm);
		snprintf(when + n, sizeof(when) - n, ".%03d ", ms);
	}
	SAFE(w, comm, r->comm);
	SAFE(w, host, r->host);
	SAFE(w, method, r->method);
	SAFE(w, path, r->path);
	n = snprintf(line, sizeof(line), "%*s%s%s%s[%u]", indent, "", when,
		     w->color && top ? "\033[1m" : "", comm, r->pid);
	if (w->color && top)
		n += snprintf(line + n, sizeof(line) - n, "\033[0m");
	if (r->is_go)
		n += snprintf(line + n, sizeof(line) - n, " g%llu", (unsigned long long)r->goid);
	if (r->role == PT_ROLE_SPAN) {
		n += snprintf(line + n, sizeof(line) - n, " span");
	} else if (r->host[0] && peer[0]) {
		n += snprintf(line + n, sizeof(line) - n, " %s %s (%s)", arrow, host, peer);
	} else {
		n += snprintf(line + n, sizeof(line) - n, " %s %s", arrow,
			      peer[0] ? peer : (host[0] ? host : "?"));
	}
	if (r->tls)
		n += snprintf(line + n, sizeof(line) - n, " TLS");
	if (r->stream_id)	/* HTTP/2: which stream of the connection */
		n += snprintf(line + n, sizeof(line) - n, " h2#%u", r->stream_id);
	if (r->method[0])
		n += snprintf(line + n, sizeof(line) - n, " %s %s", method, path);
	if (r->status)
		n += snprintf(line + n, sizeof(line) - n, " %u", r->status);
	n += snprintf(line + n, sizeof(line) - n, "  %s", dur);
	if (err)
		snprintf(line + n, sizeof(line) - n, "  %sERROR %s%s", w->color ? "\033[31;1m" : "",
			 err, w->color ? "\033[0m" : "");
	w->emit(w->ctx, line);
}

static void draw_request(struct wf *w, const struct request *r, int indent, bool top)
{
	int c = 0;

	header_line(w, indent, r, top);
	/* phases and children interleaved by start time */
	for (int i = 0; i < r->nphases; i++) {
		while (c < r->nchildren && r->children[c]->start_ns < r->phases[i].start_ns)
			draw_request(w, r->children[c++], indent + 4, false);
		bar_line(w, indent, &r->phases[i]);
	}
	while (c < r->nchildren)
		draw_request(w, r->children[c++], indent + 4, false);
	if (r->children_dropped) {
		char line[96];

		snprintf(line, sizeof(line), "%*s(+%u more calls)", indent + 4, "",
			 r->children_dropped);
		w->emit(w->ctx, line);
	}
}

void waterfall__render(const struct request *r, int width, bool color, waterfall_emit_fn emit,
		       void *ctx)
{
	const char *cs = nl_langinfo(CODESET);
	struct wf w = {
		.emit = emit, .ctx = ctx, .width = width > 40 ? width : 40, .color = color,
		.utf8 = cs && !strcmp(cs, "UTF-8"), .base = r->start_ns, .span = r->dur_ns,
	};

	if (r->nchildren)
		w.max_indent = 4;
	for (int i = 0; i < r->nchildren; i++) {
		const struct request *c = r->children[i];

		if (c->start_ns < w.base) {
			w.span += w.base - c->start_ns;
			w.base = c->start_ns;
		}
		if (c->start_ns + c->dur_ns > w.base + w.span)
			w.span = c->start_ns + c->dur_ns - w.base;
	}
	draw_request(&w, r, 0, true);
}

static void emit_file(void *ctx, const char *line)
{
	fprintf(ctx, "%s\n", line);
}

void waterfall__print(FILE *f, const struct request *r, int width, bool color)
{
	waterfall__render(r, width, color, emit_file, f);
	fputc('\n', f);
}
