// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The Prometheus text exposition of the metrics: counters are copied under
 * the lock, formatted after it is released.
 */
#include <errno.h>
#include <stddef.h>
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
		uint32_t cp;
		int l = pt_utf8_decode(s, n, &cp);

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
	char container[CT_UNIT_LEN];
	bool by_container;	/* print the container label */
	enum pt_role role;
	char peer[METRICS_PEER_LEN];
	uint32_t present;	/* bit per slot: phases then status classes */
	uint64_t errors[NERR];
};

/* Everything one exposition prints, copied from struct metrics under its lock. */
struct snapshot {
	int nrows;
	size_t per;		/* uint64_t per slot: count, sum, nbounds bound counts */
	struct row_snap *rows;
	uint64_t *data;		/* rows x NSLOT x per */
	struct self_ent self[METRICS_SELF__COUNT][METRICS_SELF_MAX_LABELS];
	int nself[METRICS_SELF__COUNT];
	struct guard_snap {
		uint64_t peers_folded, comms_folded, clamped, series, series_limit;
	} guard;		/* the cardinality guard's figures */
};

static const char *const class_label[NCLASS] = { NULL, "1xx", "2xx", "3xx", "4xx", "5xx" };

/* slot data: count, sum, then nbounds non-cumulative bound counts */
static const uint64_t *snap_slot(const struct snapshot *s, int row, int slot)
{
	return s->data + ((size_t)row * NSLOT + slot) * s->per;
}

static void snap_row(const struct metrics *m, const struct row *r, struct row_snap *rs,
		     uint64_t *data, size_t per)
{
	memcpy(rs->comm, r->comm, sizeof(rs->comm));
	memcpy(rs->container, r->container, sizeof(rs->container));
	rs->by_container = m->by_container;
	memcpy(rs->peer, r->peer, sizeof(rs->peer));
	rs->role = r->role;
	memcpy(rs->errors, r->errors, sizeof(rs->errors));
	for (int k = 0; k < NSLOT; k++) {
		const struct histogram *h = k < METRICS_NPHASES ? r->phase[k] :
					    r->req[k - METRICS_NPHASES];
		uint64_t *d = data + (size_t)k * per;

		if (!h || !histogram__count(h))
			continue;
		rs->present |= 1u << k;
		d[0] = histogram__count(h);
		d[1] = histogram__sum(h);
		memcpy(d + 2, histogram__bound_counts(h), m->nbounds * sizeof(*d));
	}
}

/* 0 or -ENOMEM; snapshot__free() either way. */
static int snapshot__take(struct metrics *m, struct snapshot *s)
{
	s->per = (size_t)m->nbounds + 2;
	/* rows never go away and cap_rows bounds them: allocate before locking */
	s->rows = calloc(m->cap_rows, sizeof(*s->rows));
	s->data = calloc((size_t)m->cap_rows * NSLOT * s->per, sizeof(*s->data));
	if (!s->rows || !s->data)
		return -ENOMEM;
	pthread_mutex_lock(&m->lock);
	s->nrows = m->nrows;
	for (int i = 0; i < s->nrows; i++)
		snap_row(m, &m->rows[i], &s->rows[i], s->data + (size_t)i * NSLOT * s->per,
			 s->per);
	memcpy(s->self, m->self, sizeof(s->self));
	memcpy(s->nself, m->nself, sizeof(s->nself));
	s->guard = (struct guard_snap){ .peers_folded = m->peers_folded,
		.comms_folded = m->comms_folded, .clamped = m->clamped, .series = s->nrows,
		.series_limit = m->max_series };
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static void snapshot__free(struct snapshot *s)
{
	free(s->rows);
	free(s->data);
}

/* {phase=..,role=..,comm=..,peer=..[,status_class=..] without the braces */
static void put_row_labels(struct buf *b, const struct row_snap *s, const char *phase,
			   const char *status_class)
{
	bool comma = false;

	if (phase) {
		put_label(b, "phase", phase, false);
		comma = true;
	}
	put_label(b, "role", metrics__role_label(s->role), comma);
	put_label(b, "comm", s->comm, true);
	if (s->by_container)
		put_label(b, "container", s->container, true);
	put_label(b, "peer", s->peer, true);
	if (status_class)
		put_label(b, "status_class", status_class, true);
}

static void put_histogram(struct buf *b, const struct metrics *m, const char *name,
			  const struct row_snap *s, const char *phase, const char *status_class,
			  const uint64_t *d)
{
	uint64_t acc = 0;

	for (int k = 0; k <= m->nbounds; k++) {
		bprintf(b, "%s_bucket{", name);
		put_row_labels(b, s, phase, status_class);
		if (k < m->nbounds) {
			acc += d[2 + k];
			bprintf(b, ",le=\"%s\"} %llu\n", m->le[k], (unsigned long long)acc);
		} else {
			bprintf(b, ",le=\"+Inf\"} %llu\n", (unsigned long long)d[0]);
		}
	}
	bprintf(b, "%s_sum{", name);
	put_row_labels(b, s, phase, status_class);
	bprintf(b, "} %llu.%09llu\n", (unsigned long long)(d[1] / 1000000000ULL),
		(unsigned long long)(d[1] % 1000000000ULL));
	bprintf(b, "%s_count{", name);
	put_row_labels(b, s, phase, status_class);
	bprintf(b, "} %llu\n", (unsigned long long)d[0]);
}

static void write_phase_durations(struct buf *b, const struct metrics *m,
				  const struct snapshot *s)
{
	const char *name = "phasetrace_phase_duration_seconds";

	put_family(b, name, "histogram",
		   "Duration of one phase of a request (client: dns, connect, tls, send, ttfb, "
		   "recv; server: ttfb, send, render).");
	for (int i = 0; i < s->nrows; i++)
		for (int k = 0; k < METRICS_NPHASES; k++)
			if (s->rows[i].present & (1u << k))
				put_histogram(b, m, name, &s->rows[i], metrics_phase_labels[k],
					      NULL, snap_slot(s, i, k));
}

static void write_request_durations(struct buf *b, const struct metrics *m,
				    const struct snapshot *s)
{
	const char *name = "phasetrace_request_duration_seconds";

	put_family(b, name, "histogram",
		   "Duration of a whole request, first to last byte or failure.");
	for (int i = 0; i < s->nrows; i++)
		for (int k = 0; k < NCLASS; k++)
			if (s->rows[i].present & (1u << (METRICS_NPHASES + k)))
				put_histogram(b, m, name, &s->rows[i], NULL, class_label[k],
					      snap_slot(s, i, METRICS_NPHASES + k));
}

static void write_requests_total(struct buf *b, const struct snapshot *s)
{
	const char *name = "phasetrace_requests_total";

	put_family(b, name, "counter", "Requests finished, failed ones included.");
	for (int i = 0; i < s->nrows; i++) {
		for (int k = 0; k < NCLASS; k++) {
			if (!(s->rows[i].present & (1u << (METRICS_NPHASES + k))))
				continue;
			bprintf(b, "%s{", name);
			put_row_labels(b, &s->rows[i], NULL, class_label[k]);
			bprintf(b, "} %llu\n", (unsigned long long)
				snap_slot(s, i, METRICS_NPHASES + k)[0]);
		}
	}
}

static void write_request_errors(struct buf *b, const struct snapshot *s)
{
	const char *name = "phasetrace_request_errors_total";

	put_family(b, name, "counter",
		   "Requests that failed, by error (refused, timeout, reset, aborted, tls, "
		   "unreach, dns, other).");
	for (int i = 0; i < s->nrows; i++) {
		for (int k = 1; k < NERR; k++) {
			if (!s->rows[i].errors[k])
				continue;
			bprintf(b, "%s{", name);
			put_row_labels(b, &s->rows[i], NULL, NULL);
			put_label(b, "error", metrics_err_labels[k], true);
			bprintf(b, "} %llu\n", (unsigned long long)s->rows[i].errors[k]);
		}
	}
}

static void write_build_info(struct buf *b, const struct metrics *m)
{
	bprintf(b, "# HELP phasetrace_build_info phasetrace version.\n"
		"# TYPE phasetrace_build_info gauge\nphasetrace_build_info{");
	put_label(b, "version", m->version, false);
	bprintf(b, "} 1\n");
}

/* The tracer's own figures (metrics__set_self), one family per enum metrics_self. */
static const struct {
	enum metrics_self id;
	const char *name, *type, *help;
	const char *label;	/* NULL: one unlabelled sample */
} self_families[] = {
	{ METRICS_EVENTS_READ, "phasetrace_events_read_total", "counter",
	  "Records read from the BPF ring buffer.", NULL },
	{ METRICS_EVENTS_DROPPED, "phasetrace_events_dropped_total", "counter",
	  "Events lost, by reason (ring buffer full, table full, ...).", "reason" },
	{ METRICS_PROBES, "phasetrace_probes", "gauge", "Probes by attach state.", "state" },
	{ METRICS_PROCESSES_TRACED, "phasetrace_processes_traced", "gauge",
	  "Processes currently traced.", NULL },
	{ METRICS_ASSEMBLER_ENTRIES, "phasetrace_assembler_entries", "gauge",
	  "Entries held by the request assembler, by table.", "table" },
	{ METRICS_DISCOVERY, "phasetrace_discovery_total", "counter",
	  "Binaries and scans the discovery worker gave up on or forgot, by outcome.",
	  "outcome" },
	{ METRICS_CGROUP_LOOKUPS, "phasetrace_cgroup_lookups_total", "counter",
	  "Cgroup ids resolved to a container, by outcome (hit, proc, walk, unresolved, "
	  "evicted, filter_full).", "outcome" },
	{ METRICS_OTLP_SPANS, "phasetrace_otlp_spans_total", "counter",
	  "Spans for --otlp by outcome: sent, or dropped (queue_full, failed, shutdown).",
	  "outcome" },
	{ METRICS_OTLP_BATCHES, "phasetrace_otlp_batches_total", "counter",
	  "OTLP export batches by outcome: sent, failed (dropped), retried (tries).",
	  "outcome" },
	{ METRICS_KERNEL_COUNTED, "phasetrace_kernel_counted_total", "counter",
	  "Requests counted in the kernel (--kernel-agg) instead of read as records.", NULL },
};

static void write_self(struct buf *b, const struct snapshot *s)
{
	for (size_t f = 0; f < sizeof(self_families) / sizeof(self_families[0]); f++) {
		const char *name = self_families[f].name, *label = self_families[f].label;
		const struct self_ent *e = s->self[self_families[f].id];

		put_family(b, name, self_families[f].type, self_families[f].help);
		for (int i = 0; i < s->nself[self_families[f].id]; i++) {
			if (label) {
				bprintf(b, "%s{", name);
				put_label(b, label, e[i].label, false);
				bprintf(b, "} %llu\n", (unsigned long long)e[i].v);
			} else {
				bprintf(b, "%s %llu\n", name, (unsigned long long)e[i].v);
			}
		}
	}
}

/* The cardinality guard's figures: one unlabelled sample per family. */
#define GUARD(field, name, type, help) { name, type, help, offsetof(struct guard_snap, field) }
static const struct {
	const char *name, *type, *help;
	size_t field;		/* uint64_t in struct guard_snap */
} guard_families[] = {
	GUARD(peers_folded, "phasetrace_peers_folded_total", "counter",
	      "Requests counted under peer=\"other\" by the cardinality guard."),
	GUARD(comms_folded, "phasetrace_comms_folded_total", "counter",
	      "Requests counted under comm=\"other\" by the cardinality guard."),
	GUARD(clamped, "phasetrace_durations_clamped_total", "counter",
	      "Durations over 24 h (clock mix-ups) counted as 24 h."),
	GUARD(series, "phasetrace_series", "gauge",
	      "(comm, role, peer) rows in use; the guard keeps them under --max-series."),
	GUARD(series_limit, "phasetrace_series_limit", "gauge", "Row limit (--max-series)."),
};

static void write_guard(struct buf *b, const struct snapshot *s)
{
	for (size_t f = 0; f < sizeof(guard_families) / sizeof(guard_families[0]); f++) {
		const uint64_t *v = (const uint64_t *)((const char *)&s->guard +
						 guard_families[f].field);

		put_family(b, guard_families[f].name, guard_families[f].type,
			   guard_families[f].help);
		bprintf(b, "%s %llu\n", guard_families[f].name, (unsigned long long)*v);
	}
}

int metrics__render(struct metrics *m, char **out, size_t *outlen)
{
	struct snapshot *s = calloc(1, sizeof(*s));
	struct buf b = {};
	int err = -ENOMEM;

	*out = NULL;
	*outlen = 0;
	buf_grow(&b, 65536);
	if (!s || b.oom || snapshot__take(m, s))
		goto cleanup;
	write_phase_durations(&b, m, s);
	write_request_durations(&b, m, s);
	write_requests_total(&b, s);
	write_request_errors(&b, s);
	write_build_info(&b, m);
	write_self(&b, s);
	write_guard(&b, s);
	if (b.oom)
		goto cleanup;
	*out = b.p;
	*outlen = b.len;
	b.p = NULL;
	err = 0;
cleanup:
	if (s)
		snapshot__free(s);
	free(s);
	free(b.p);
	return err;
}
