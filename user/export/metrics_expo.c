// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The Prometheus text exposition of the metrics: counters are copied under
 * the lock, formatted after it is released.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "export/metrics_impl.h"

/* ---- exposition ---- */

struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void buf_grow(struct buf *b, size_t need)
{
	size_t cap = b->cap ?: 65536;
	char *p;

	while (cap < b->len + need + 1)
		cap *= 2;
	if (cap == b->cap)
		return;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return;
	}
	b->p = p;
	b->cap = cap;
}

__attribute__((format(printf, 2, 3)))
static void bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = true;
		return;
	}
	if ((size_t)n >= b->cap - b->len) {
		buf_grow(b, n);
		if (b->oom)
			return;
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += n;
}

/*
 * Label value per the text format: backslash, double quote and line feed
 * escaped. Comms and host names come from traced programs: invalid UTF-8 and
 * other control characters become '?' so the exposition always parses.
 */
static void put_label(struct buf *b, const char *name, const char *val, bool comma)
{
	const unsigned char *s = (const unsigned char *)val;
	size_t n = strlen(val);

	buf_grow(b, strlen(name) + 2 * n + 8);
	if (b->oom)
		return;
	if (comma)
		b->p[b->len++] = ',';
	b->len += sprintf(b->p + b->len, "%s=\"", name);
	while (n) {
		int l = metrics_utf8_len(s, n);

		if (*s == '\\' || *s == '"') {
			b->p[b->len++] = '\\';
			b->p[b->len++] = *s;
		} else if (*s == '\n') {
			b->p[b->len++] = '\\';
			b->p[b->len++] = 'n';
		} else if (!l || *s < 0x20 || *s == 0x7f) {
			b->p[b->len++] = '?';
			l = 1;
		} else {
			memcpy(b->p + b->len, s, l);
			b->len += l;
		}
		if (!l)
			l = 1;
		s += l;
		n -= l;
	}
	b->p[b->len++] = '"';
	b->p[b->len] = '\0';
}

static void put_family(struct buf *b, const char *name, const char *type, const char *help)
{
	bprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Counters copied under the lock so formatting does not hold it. */
struct row_snap {
	char comm[PT_COMM_LEN];
	enum pt_role role;
	char peer[METRICS_PEER_LEN];
	uint32_t present;	/* bit per slot: phases then status classes */
	uint64_t errors[NERR];
};

static void put_row_labels(struct buf *b, const struct row_snap *s, const char *phase)
{
	bool comma = false;

	if (phase) {
		put_label(b, "phase", phase, false);
		comma = true;
	}
	put_label(b, "role", metrics__role_label(s->role), comma);
	put_label(b, "comm", s->comm, true);
	put_label(b, "peer", s->peer, true);
}

/* slot data: count, sum, then nbounds non-cumulative bound counts */
static void put_histogram(struct buf *b, const struct metrics *m, const char *name,
			  const struct row_snap *s, const char *phase, const char *status_class,
			  const uint64_t *d)
{
	uint64_t acc = 0;
	int k;

	for (k = 0; k <= m->nbounds; k++) {
		bprintf(b, "%s_bucket{", name);
		put_row_labels(b, s, phase);
		if (status_class)
			put_label(b, "status_class", status_class, true);
		if (k < m->nbounds) {
			acc += d[2 + k];
			bprintf(b, ",le=\"%s\"} %llu\n", m->le[k], (unsigned long long)acc);
		} else {
			bprintf(b, ",le=\"+Inf\"} %llu\n", (unsigned long long)d[0]);
		}
	}
	bprintf(b, "%s_sum{", name);
	put_row_labels(b, s, phase);
	if (status_class)
		put_label(b, "status_class", status_class, true);
	bprintf(b, "} %llu.%09llu\n", (unsigned long long)(d[1] / 1000000000ULL),
		(unsigned long long)(d[1] % 1000000000ULL));
	bprintf(b, "%s_count{", name);
	put_row_labels(b, s, phase);
	if (status_class)
		put_label(b, "status_class", status_class, true);
	bprintf(b, "} %llu\n", (unsigned long long)d[0]);
}

static void put_self(struct buf *b, const char *name, const char *type, const char *help,
		     const char *label, const struct self_ent *e, int n)
{
	int i;

	put_family(b, name, type, help);
	for (i = 0; i < n; i++) {
		if (label) {
			bprintf(b, "%s{", name);
			put_label(b, label, e[i].label, false);
			bprintf(b, "} %llu\n", (unsigned long long)e[i].v);
		} else {
			bprintf(b, "%s %llu\n", name, (unsigned long long)e[i].v);
		}
	}
}

int metrics__render(struct metrics *m, char **out, size_t *outlen)
{
	static const char *const class_label[NCLASS] = { NULL, "1xx", "2xx", "3xx", "4xx", "5xx" };
	struct self_ent self[METRICS_SELF__COUNT][METRICS_SELF_MAX_LABELS];
	int nself[METRICS_SELF__COUNT];
	size_t per = (size_t)m->nbounds + 2;
	uint64_t folded[2], nrows_max, clamped;
	struct row_snap *snap;
	struct buf b = {};
	uint64_t *data;
	int i, k, nrows;
	const char *name;

	*out = NULL;
	*outlen = 0;
	/* rows never go away and cap_rows bounds them: size buffers before locking */
	snap = calloc(m->cap_rows, sizeof(*snap));
	data = calloc((size_t)m->cap_rows * NSLOT * per, sizeof(*data));
	buf_grow(&b, 65536);
	if (!snap || !data || b.oom)
		goto oom;

	pthread_mutex_lock(&m->lock);
	nrows = m->nrows;
	for (i = 0; i < nrows; i++) {
		const struct row *r = &m->rows[i];
		struct row_snap *s = &snap[i];

		memcpy(s->comm, r->comm, sizeof(s->comm));
		memcpy(s->peer, r->peer, sizeof(s->peer));
		s->role = r->role;
		memcpy(s->errors, r->errors, sizeof(s->errors));
		for (k = 0; k < NSLOT; k++) {
			const struct histogram *h = k < METRICS_NPHASES ? r->phase[k] :
						    r->req[k - METRICS_NPHASES];
			uint64_t *d = data + ((size_t)i * NSLOT + k) * per;

			if (!h || !histogram__count(h))
				continue;
			s->present |= 1u << k;
			d[0] = histogram__count(h);
			d[1] = histogram__sum(h);
			memcpy(d + 2, histogram__bound_counts(h), m->nbounds * sizeof(*d));
		}
	}
	memcpy(self, m->self, sizeof(self));
	memcpy(nself, m->nself, sizeof(nself));
	folded[0] = m->peers_folded;
	folded[1] = m->comms_folded;
	nrows_max = m->max_series;
	clamped = m->clamped;
	pthread_mutex_unlock(&m->lock);

	name = "phasetrace_phase_duration_seconds";
	put_family(&b, name, "histogram",
		   "Duration of one phase of a request (client: dns, connect, tls, send, ttfb, "
		   "recv; server: ttfb, send, render).");
	for (i = 0; i < nrows; i++)
		for (k = 0; k < METRICS_NPHASES; k++)
			if (snap[i].present & (1u << k))
				put_histogram(&b, m, name, &snap[i], metrics_phase_labels[k], NULL,
					      data + ((size_t)i * NSLOT + k) * per);

	name = "phasetrace_request_duration_seconds";
	put_family(&b, name, "histogram",
		   "Duration of a whole request, first to last byte or failure.");
	for (i = 0; i < nrows; i++)
		for (k = 0; k < NCLASS; k++)
			if (snap[i].present & (1u << (METRICS_NPHASES + k)))
				put_histogram(&b, m, name, &snap[i], NULL, class_label[k], data +
					      ((size_t)i * NSLOT + METRICS_NPHASES + k) * per);

	name = "phasetrace_requests_total";
	put_family(&b, name, "counter", "Requests finished, failed ones included.");
	for (i = 0; i < nrows; i++) {
		for (k = 0; k < NCLASS; k++) {
			if (!(snap[i].present & (1u << (METRICS_NPHASES + k))))
				continue;
			bprintf(&b, "%s{", name);
			put_row_labels(&b, &snap[i], NULL);
			if (class_label[k])
				put_label(&b, "status_class", class_label[k], true);
			bprintf(&b, "} %llu\n", (unsigned long long)
				data[((size_t)i * NSLOT + METRICS_NPHASES + k) * per]);
		}
	}

	name = "phasetrace_request_errors_total";
	put_family(&b, name, "counter",
		   "Requests that failed, by error (refused, timeout, reset, aborted, tls, "
		   "unreach, dns, other).");
	for (i = 0; i < nrows; i++) {
		for (k = 1; k < NERR; k++) {
			if (!snap[i].errors[k])
				continue;
			bprintf(&b, "%s{", name);
			put_row_labels(&b, &snap[i], NULL);
			put_label(&b, "error", metrics_err_labels[k], true);
			bprintf(&b, "} %llu\n", (unsigned long long)snap[i].errors[k]);
		}
	}

	bprintf(&b, "# HELP phasetrace_build_info phasetrace version.\n"
		"# TYPE phasetrace_build_info gauge\nphasetrace_build_info{");
	put_label(&b, "version", m->version, false);
	bprintf(&b, "} 1\n");
	put_self(&b, "phasetrace_events_read_total", "counter",
		 "Records read from the BPF ring buffer.", NULL,
		 self[METRICS_EVENTS_READ], nself[METRICS_EVENTS_READ]);
	put_self(&b, "phasetrace_events_dropped_total", "counter",
		 "Events lost, by reason (ring buffer full, table full, ...).", "reason",
		 self[METRICS_EVENTS_DROPPED], nself[METRICS_EVENTS_DROPPED]);
	put_self(&b, "phasetrace_probes", "gauge", "Probes by attach state.", "state",
		 self[METRICS_PROBES], nself[METRICS_PROBES]);
	put_self(&b, "phasetrace_processes_traced", "gauge", "Processes currently traced.", NULL,
		 self[METRICS_PROCESSES_TRACED], nself[METRICS_PROCESSES_TRACED]);
	put_self(&b, "phasetrace_assembler_entries", "gauge",
		 "Entries held by the request assembler, by table.", "table",
		 self[METRICS_ASSEMBLER_ENTRIES], nself[METRICS_ASSEMBLER_ENTRIES]);
	put_family(&b, "phasetrace_peers_folded_total", "counter",
		   "Requests counted under peer=\"other\" by the cardinality guard.");
	bprintf(&b, "phasetrace_peers_folded_total %llu\n", (unsigned long long)folded[0]);
	put_family(&b, "phasetrace_comms_folded_total", "counter",
		   "Requests counted under comm=\"other\" by the cardinality guard.");
	bprintf(&b, "phasetrace_comms_folded_total %llu\n", (unsigned long long)folded[1]);
	put_family(&b, "phasetrace_durations_clamped_total", "counter",
		   "Durations over 24 h (clock mix-ups) counted as 24 h.");
	bprintf(&b, "phasetrace_durations_clamped_total %llu\n", (unsigned long long)clamped);
	put_family(&b, "phasetrace_series", "gauge",
		   "(comm, role, peer) rows in use; the guard keeps them under --max-series.");
	bprintf(&b, "phasetrace_series %d\n", nrows);
	put_family(&b, "phasetrace_series_limit", "gauge", "Row limit (--max-series).");
	bprintf(&b, "phasetrace_series_limit %llu\n", (unsigned long long)nrows_max);
	if (b.oom)
		goto oom;
	free(snap);
	free(data);
	*out = b.p;
	*outlen = b.len;
	return 0;
oom:
	free(snap);
	free(data);
	free(b.p);
	return -ENOMEM;
}
