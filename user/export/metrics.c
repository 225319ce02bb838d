// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Requests -> Prometheus families and top's per-interval rows.
 *
 * Rows are (comm, role, peer) keyed in fixed-size open-addressing tables that
 * never shrink; the cardinality guard folds new comms and peers into "other"
 * so the number of rows, hence of series and of memory, is bounded whatever
 * the traffic. Histograms are allocated the first time a row sees a phase or
 * a status class.
 */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include "export/metrics_impl.h"
#include "util/clock.h"

static const double default_buckets[] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

const char *const metrics_phase_labels[METRICS_NPHASES] = {
	[PHASE_DNS] = "dns", [PHASE_CONNECT] = "connect", [PHASE_TLS] = "tls",
	[PHASE_SEND] = "send", [PHASE_TTFB] = "ttfb", [PHASE_RECV] = "recv",
	[PHASE_RENDER] = "render",
};

const char *const metrics_err_labels[NERR] = {
	[PT_ERR_REFUSED] = "refused", [PT_ERR_TIMEOUT] = "timeout", [PT_ERR_RESET] = "reset",
	[PT_ERR_ABORTED] = "aborted", [PT_ERR_TLS] = "tls", [PT_ERR_UNREACH] = "unreach",
	[PT_ERR_OTHER] = "other", [ERR_DNS] = "dns", [PT_ERR_NO_RESPONSE] = "no_response",
	[PT_ERR_GRPC] = "grpc",
};


const char *metrics__role_label(enum pt_role role)
{
	switch (role) {
	case PT_ROLE_CLIENT:
		return "client";
	case PT_ROLE_SERVER:
		return "server";
	default:
		return "unknown";
	}
}

const char *metrics__phase_label(int phase)
{
	return phase >= 0 && phase < METRICS_NPHASES ? metrics_phase_labels[phase] : NULL;
}

/* snprintf(buf, len, "%.*s", n, s) without printf: labels are made for every request */
static void label_copy(char *buf, size_t len, const char *s, size_t n)
{
	if (!len)
		return;
	if (n > len - 1)
		n = len - 1;
	memcpy(buf, s, n);
	buf[n] = 0;
}

void metrics__peer_label(const struct request *r, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];
	const struct pt_addr *a = &r->peer;

	if (r->role == PT_ROLE_SERVER) {
		char port[8], *p = port + sizeof(port);
		unsigned v = r->local.port;

		if (!v) {
			label_copy(buf, len, "unknown", 7);
			return;
		}
		do {
			*--p = '0' + v % 10;
			v /= 10;
		} while (v);
		label_copy(buf, len, p, port + sizeof(port) - p);
		return;
	}
	if (r->host[0]) {
		label_copy(buf, len, r->host, strnlen(r->host, sizeof(r->host)));
		return;
	}
	if ((a->family != AF_INET && a->family != AF_INET6) ||
	    !inet_ntop(a->family, a->addr, ip, sizeof(ip))) {
		snprintf(buf, len, "unknown");
		return;
	}
	if (a->family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", ip, a->port);
	else
		snprintf(buf, len, "%s:%u", ip, a->port);
}

/*
 * main() calls setlocale(LC_ALL, ""): under de_DE, %g prints "0,25" and
 * strtod() stops at '.'. Numbers of the exposition and of the options use
 * the C locale, for this thread only.
 */
locale_t metrics_c_locale_begin(void)
{
	static locale_t c;

	if (!c)
		c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	return c ? uselocale(c) : (locale_t)0;
}

void metrics_c_locale_end(locale_t old)
{
	if (old)
		uselocale(old);
}

/* Shortest decimal that reads back as the same double, as Prometheus clients print. */
void metrics_fmt_float(char *buf, size_t len, double v)
{
	locale_t old = metrics_c_locale_begin();
	int prec;

	for (prec = 1; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	metrics_c_locale_end(old);
}

static int parse_buckets(const char *s, double **out, int *n, char *err, size_t errlen)
{
	double *v = NULL, prev = 0;
	const char *p = s;
	int cnt = 0;

	*out = NULL;
	*n = 0;
	if (!s || !*s) {
		snprintf(err, errlen, "--buckets: empty list, expected e.g. 0.001,0.01,0.1,1");
		return -EINVAL;
	}
	v = calloc(HIST_MAX_BOUNDS, sizeof(*v));
	if (!v) {
		snprintf(err, errlen, "--buckets: out of memory");
		return -ENOMEM;
	}
	for (;;) {
		char *end;
		double x;

		while (*p == ' ')
			p++;
		errno = 0;
		x = strtod(p, &end);
		if (end == p) {
			snprintf(err, errlen, "--buckets: \"%.*s\" is not a number "
				 "(seconds expected)", (int)strcspn(p, ","), p);
			goto fail;
		}
		if (errno == ERANGE || !isfinite(x) || x <= 0 || x > 1e9) {
			snprintf(err, errlen, "--buckets: %.*s out of range: bounds are seconds in "
				 "(0, 1e9]", (int)(end - p), p);
			goto fail;
		}
		if (x < 1e-9) {
			snprintf(err, errlen, "--buckets: %.*s is below the 1ns resolution",
				 (int)(end - p), p);
			goto fail;
		}
		if (cnt && (x <= prev || llround(x * 1e9) <= llround(prev * 1e9))) {
			snprintf(err, errlen, "--buckets: %.*s after %g: bounds must increase "
				 "(by at least 1ns)", (int)(end - p), p, prev);
			goto fail;
		}
		if (cnt == HIST_MAX_BOUNDS) {
			snprintf(err, errlen, "--buckets: more than %d bounds", HIST_MAX_BOUNDS);
			goto fail;
		}
		v[cnt++] = prev = x;
		p = end;
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		if (*p != ',') {
			snprintf(err, errlen, "--buckets: unexpected \"%s\": use commas between "
				 "bounds in seconds, e.g. 0.001,0.01,0.1", p);
			goto fail;
		}
		p++;
	}
	*out = v;
	*n = cnt;
	return 0;
fail:
	free(v);
	return -EINVAL;
}

int metrics__parse_buckets(const char *s, double **out, int *n, char *err, size_t errlen)
{
	locale_t old;
	int ret;

	old = metrics_c_locale_begin();
	ret = parse_buckets(s, out, n, err, errlen);
	metrics_c_locale_end(old);
	return ret;
}

/*
 * The row of a request is found once per series, then from its raw label values (before
 * sanitising) in a two-way set-associative cache: one hash and one or two compares per
 * request instead of sanitising three labels and two table probes. (Direct-mapped, 256:
 * two of a host's ~40 series often shared a slot and took turns; 15 % of client requests
 * missed in collector_bench.) The guard's choice for given values does
 * not change once made (rows stay, tables only fill up), so a cached row is the one
 * row_get() would return, and the fold counts it made are counted again on each hit.
 */
#define SERIES_CACHE	512	/* power of two: 256 sets of two */

struct series_ent {
	uint64_t hash;		/* 0: empty */
	int row;
	uint32_t comms_folded, peers_folded;
	/* the key, compared as one block: zero-padded; ctr only with by_container */
	char comm[PT_COMM_LEN];
	uint64_t role;
	char peer[METRICS_PEER_LEN];
	char ctr[CT_UNIT_LEN];
};

#define SERIES_KEY_OFF	offsetof(struct series_ent, comm)
#define SERIES_KEY_LEN(m)	((m)->by_container ? sizeof(struct series_ent) - SERIES_KEY_OFF : \
				 offsetof(struct series_ent, ctr) - SERIES_KEY_OFF)

static unsigned pow2_at_least(unsigned n)
{
	unsigned p = 16;

	while (p < n)
		p <<= 1;
	return p;
}

struct metrics *metrics__new(const struct metrics_opts *opts)
{
	static const struct metrics_opts defaults;
	const double *b;
	struct metrics *m;
	unsigned i;
	int k;

	if (!opts)
		opts = &defaults;
	if (opts->nbuckets < 0 || opts->nbuckets > HIST_MAX_BOUNDS || opts->max_peers < 0 ||
	    opts->max_comms < 0 || opts->max_series < 0) {
		errno = EINVAL;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	pthread_mutex_init(&m->lock, NULL);
	b = opts->buckets ? opts->buckets : default_buckets;
	m->nbounds = opts->buckets ? opts->nbuckets : (int)(sizeof(default_buckets) /
							    sizeof(default_buckets[0]));
	for (k = 0; k < m->nbounds; k++) {
		m->bounds_ns[k] = (uint64_t)llround(b[k] * 1e9);
		metrics_fmt_float(m->le[k], sizeof(m->le[k]), b[k]);
		if (!(b[k] > 0) || (k && m->bounds_ns[k] <= m->bounds_ns[k - 1]))
			goto inval;
	}
	m->max_peers = opts->max_peers ?: METRICS_DEFAULT_MAX_PEERS;
	m->max_comms = opts->max_comms ?: METRICS_DEFAULT_MAX_COMMS;
	m->max_series = opts->max_series ?: METRICS_DEFAULT_MAX_SERIES;
	m->intervals = opts->intervals;
	m->by_container = opts->by_container;
	snprintf(m->version, sizeof(m->version), "%s", opts->version ?: "unknown");

	m->cap_rows = m->max_series + ROW_RESERVE;
	m->rows = calloc(m->cap_rows, sizeof(*m->rows));
	m->row_mask = pow2_at_least(2 * m->cap_rows) - 1;
	m->row_slots = malloc((m->row_mask + 1) * sizeof(int));
	m->comms = calloc(m->max_comms + 1, sizeof(*m->comms));
	m->comm_mask = pow2_at_least(2 * (m->max_comms + 1)) - 1;
	m->comm_slots = malloc((m->comm_mask + 1) * sizeof(int));
	m->series = calloc(SERIES_CACHE, sizeof(*m->series));
	if (!m->rows || !m->row_slots || !m->comms || !m->comm_slots || !m->series) {
		metrics__free(m);
		errno = ENOMEM;
		return NULL;
	}
	for (i = 0; i <= m->row_mask; i++)
		m->row_slots[i] = -1;
	for (i = 0; i <= m->comm_mask; i++)
		m->comm_slots[i] = -1;
	m->iv_start = mono_now_ns();
	return m;
inval:
	metrics__free(m);
	errno = EINVAL;
	return NULL;
}

static void row_free(struct row *r)
{
	int i;

	for (i = 0; i < METRICS_NPHASES; i++)
		histogram__free(r->phase[i]);
	for (i = 0; i < NCLASS; i++)
		histogram__free(r->req[i]);
	for (i = 0; i <= METRICS_NPHASES; i++)
		histogram__free(r->iv[i]);
}

void metrics__free(struct metrics *m)
{
	int i;

	if (!m)
		return;
	for (i = 0; m->rows && i < m->nrows; i++)
		row_free(&m->rows[i]);
	free(m->rows);
	free(m->row_slots);
	free(m->comms);
	free(m->comm_slots);
	free(m->series);
	metrics__request_free(m->slowest);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	while (n--) {
		h ^= *c++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

static uint64_t hash_str(uint64_t h, const char *s)
{
	return fnv(h, s, strlen(s) + 1);
}

/*
 * Index of (comm, container) in m->comms, added if room (or forced for "other"); -1 if
 * full. container is "" unless rows are kept per container (--labels container, top).
 */
static int comm_get(struct metrics *m, const char *comm, const char *ctr, bool force)
{
	unsigned i = hash_str(hash_str(0xcbf29ce484222325ULL, comm), ctr) & m->comm_mask;

	for (;; i = (i + 1) & m->comm_mask) {
		int c = m->comm_slots[i];

		if (c < 0)
			break;
		if (!strcmp(m->comms[c].comm, comm) && !strcmp(m->comms[c].container, ctr))
			return c;
	}
	if (m->ncomms >= m->max_comms + (force ? 1 : 0))
		return -1;
	snprintf(m->comms[m->ncomms].comm, PT_COMM_LEN, "%s", comm);
	snprintf(m->comms[m->ncomms].container, CT_UNIT_LEN, "%s", ctr);
	m->comm_slots[i] = m->ncomms;
	return m->ncomms++;
}

/* Row index or -1; *slot gets the free table slot to insert at. */
static int row_find(struct metrics *m, const char *comm, const char *ctr, enum pt_role role,
		    const char *peer, unsigned *slot)
{
	uint64_t h = hash_str(hash_str(0xcbf29ce484222325ULL, comm), ctr);
	unsigned i;

	h = fnv(h, &role, sizeof(role));
	i = hash_str(h, peer) & m->row_mask;
	for (;; i = (i + 1) & m->row_mask) {
		int k = m->row_slots[i];
		struct row *r;

		if (k < 0)
			break;
		r = &m->rows[k];
		if (r->role == role && !strcmp(r->comm, comm) && !strcmp(r->container, ctr) &&
		    !strcmp(r->peer, peer))
			return k;
	}
	*slot = i;
	return -1;
}

static struct row *row_add(struct metrics *m, unsigned slot, const char *comm,
			   const char *ctr, enum pt_role role, const char *peer)
{
	struct row *r = &m->rows[m->nrows];

	snprintf(r->comm, sizeof(r->comm), "%s", comm);
	snprintf(r->container, sizeof(r->container), "%s", ctr);
	snprintf(r->peer, sizeof(r->peer), "%s", peer);
	r->role = role;
	m->row_slots[slot] = m->nrows++;
	return r;
}

/* The cardinality guard: the row a request is counted in. */
static struct row *row_get(struct metrics *m, const char *comm, const char *ctr,
			   enum pt_role role, const char *peer)
{
	const char *other_ctr = m->by_container ? METRICS_OTHER : "";
	unsigned slot;
	int c, k;

	c = comm_get(m, comm, ctr, false);
	if (c < 0) {
		m->comms_folded++;
		comm = METRICS_OTHER;
		ctr = other_ctr;
		c = comm_get(m, comm, ctr, true);
	}
	k = row_find(m, comm, ctr, role, peer, &slot);
	if (k >= 0)
		return &m->rows[k];
	if (strcmp(peer, METRICS_OTHER) && m->comms[c].npeers < m->max_peers &&
	    m->nrows < m->max_series) {
		m->comms[c].npeers++;
		return row_add(m, slot, comm, ctr, role, peer);
	}
	if (strcmp(peer, METRICS_OTHER))
		m->peers_folded++;
	peer = METRICS_OTHER;
	k = row_find(m, comm, ctr, role, peer, &slot);
	if (k >= 0)
		return &m->rows[k];
	if (m->nrows < m->max_series)
		return row_add(m, slot, comm, ctr, role, peer);
	/* series limit: the reserved catch-all row of this role */
	if (strcmp(comm, METRICS_OTHER)) {
		m->comms_folded++;
		comm = METRICS_OTHER;
		ctr = other_ctr;
		comm_get(m, comm, ctr, true);
		k = row_find(m, comm, ctr, role, peer, &slot);
		if (k >= 0)
			return &m->rows[k];
	}
	if (m->nrows >= m->cap_rows)
		return NULL;	/* unreachable: one reserved row per role */
	return row_add(m, slot, comm, ctr, role, peer);
}

/*
 * Cumulative series only need the le counters: lean histograms (~1 KiB).
 * Interval histograms feed top's quantiles: full sub-buckets (~10 KiB),
 * freed again when a row idles for an interval.
 */
static void hist_record(struct histogram **h, const uint64_t *bounds, int nb, uint64_t v)
{
	if (!*h)
		*h = nb ? histogram__new_lean(bounds, nb) : histogram__new(NULL, 0);
	if (*h)
		histogram__record(*h, v);
}

static int status_class(uint16_t status)
{
	return status >= 100 && status < 600 ? status / 100 : 0;
}

static uint64_t dur(struct metrics *m, uint64_t ns)
{
	if (ns <= MAX_DUR_NS)
		return ns;
	m->clamped++;
	return MAX_DUR_NS;
}

/*
 * Label values are made printable before they become row keys, so two raw
 * names that print alike ("a\x01", "a\x02") share a row instead of giving
 * Prometheus two series with the same labels. Invalid UTF-8 (also a name
 * cut inside a character) and control characters other than line feed
 * (C0, DEL, C1, bidi overrides: pt_unicode_is_control) become one '?' per
 * byte; put_label() escapes the rest.
 */
static void sanitize_label(char *s)
{
	size_t n = strlen(s);

	while (n) {
		uint32_t cp;
		int l;

		if (!(*s & 0x80)) {	/* ASCII: only C0 controls other than '\n', and DEL */
			if ((*s < 0x20 && *s != '\n') || *s == 0x7f)
				*s = '?';
			s++;
			n--;
			continue;
		}
		l = pt_utf8_decode((const unsigned char *)s, n, &cp);
		if (!l) {
			l = 1;
			*s = '?';
		} else if (*s != '\n' && pt_unicode_is_control(cp)) {
			memset(s, '?', l);	/* C1 and bidi controls: one '?' per byte */
		}
		s += l;
		n -= l;
	}
}

static uint64_t series_hash(const struct series_ent *k, size_t len)
{
	const unsigned char *p = (const unsigned char *)k + SERIES_KEY_OFF;
	uint64_t h = 0x9e3779b97f4a7c15ULL, w;

	/* rotate and xor per word (no multiply chain), one mix at the end: a cache index */
	for (size_t i = 0; i + 8 <= len; i += 8) {
		memcpy(&w, p + i, 8);
		h = ((h << 23) | (h >> 41)) ^ w;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h ?: 1;
}

/* The row of a request (NULL: none), through the series cache. */
static struct row *row_of(struct metrics *m, const struct request *req)
{
	struct series_ent k, *e;
	uint64_t comms_folded = m->comms_folded, peers_folded = m->peers_folded;
	size_t len = SERIES_KEY_LEN(m);
	struct row *r;

	memset(&k, 0, sizeof(k));
	label_copy(k.comm, sizeof(k.comm), req->comm, strnlen(req->comm, PT_COMM_LEN));
	metrics__peer_label(req, k.peer, sizeof(k.peer));
	if (m->by_container)
		container_short(&req->container, k.ctr);
	k.role = req->role;
	k.hash = series_hash(&k, len);
	e = &m->series[(k.hash & (SERIES_CACHE / 2 - 1)) * 2];	/* its set of two */
	for (int w = 0; w < 2; w++)
		if (e[w].hash == k.hash && !memcmp((char *)&e[w] + SERIES_KEY_OFF,
						   (char *)&k + SERIES_KEY_OFF, len)) {
			m->comms_folded += e[w].comms_folded;
			m->peers_folded += e[w].peers_folded;
			return &m->rows[e[w].row];
		}
	if (e[0].hash)	/* the newer of the two stays */
		e[1] = e[0];
	*e = k;
	sanitize_label(k.comm);
	sanitize_label(k.peer);
	sanitize_label(k.ctr);
	r = row_get(m, k.comm, k.ctr, req->role, k.peer);
	if (!r) {
		e->hash = 0;
		return NULL;
	}
	e->row = r - m->rows;
	e->comms_folded = m->comms_folded - comms_folded;
	e->peers_folded = m->peers_folded - peers_folded;
	return r;
}

/* folds: comm folds * 2 + peer folds this request added (at most 2 and 1) */
static void label_tell(struct metrics *m, uint64_t conn_id, const struct row *r, uint64_t folds)
{
	m->on_label(m->label_ctx, conn_id,
		    1 + (uint32_t)(r - m->rows) * METRICS_LABEL_FOLDS + (uint32_t)folds);
}

/* The row of req, its label told to the kernel with the folds deciding it added, unless
 * req was its connection's last (see kagg_label_early() in main.c). */
static struct row *row_told(struct metrics *m, const struct request *req)
{
	uint64_t comms = m->comms_folded, peers = m->peers_folded;
	struct row *r = row_of(m, req);

	if (r && m->on_label && req->conn_id && !pt_end_is_last(req->end_reason))
		label_tell(m, req->conn_id, r,
			   (m->comms_folded - comms) * 2 + m->peers_folded - peers);
	return r;
}

static void count_one(struct metrics *m, const struct request *req, int depth)
{
	struct row *r;
	int i, err = 0;

	if (req->kagg && !m->count_kagg)	/* the kernel counted it (export/kagg.c) */
		goto children;
	r = row_told(m, req);
	if (r) {
		uint64_t total = dur(m, req->dur_ns);

		hist_record(&r->req[status_class(req->status)], m->bounds_ns, m->nbounds, total);
		for (i = 0; i < req->nphases && i < REQ_MAX_PHASES; i++) {
			const struct phase *ph = &req->phases[i];
			uint64_t d;

			if ((int)ph->id < 0 || ph->id >= METRICS_NPHASES)
				continue;
			d = dur(m, ph->dur_ns);
			hist_record(&r->phase[ph->id], m->bounds_ns, m->nbounds, d);
			if (m->intervals)
				hist_record(&r->iv[ph->id], NULL, 0, d);
		}
		if (req->dns_failed)
			err = ERR_DNS;
		else if (req->error > PT_ERR_NONE && req->error < NERR)
			err = req->error;
		else if (req->error != PT_ERR_NONE)
			err = PT_ERR_OTHER;
		r->reqs_total++;
		if (err) {
			r->errors[err]++;
			r->errors_total++;
		}
		if (m->intervals) {
			hist_record(&r->iv[METRICS_TOTAL], NULL, 0, total);
			r->iv_reqs++;
			r->iv_errors += !!err;
			m->iv_reqs++;
			m->iv_errors += !!err;
		}
	}
children:
	if (depth >= 4)
		return;
	for (i = 0; i < req->nchildren && i < REQ_MAX_CHILDREN; i++)
		if (req->children[i])
			count_one(m, req->children[i], depth + 1);
}

void metrics__label_early(struct metrics *m, const struct request *r)
{
	uint64_t comms_folded, peers_folded;

	if (!m || !r || !r->conn_id)
		return;
	pthread_mutex_lock(&m->lock);
	if (m->on_label) {
		/* the folds are counted when the request is: put back */
		comms_folded = m->comms_folded;
		peers_folded = m->peers_folded;
		row_told(m, r);
		m->comms_folded = comms_folded;
		m->peers_folded = peers_folded;
	}
	pthread_mutex_unlock(&m->lock);
}

void metrics__on_request(struct metrics *m, const struct request *r)
{
	struct request *copy = NULL;

	if (!m || !r)
		return;
	pthread_mutex_lock(&m->lock);
	count_one(m, r, 0);
	if (m->intervals && (!m->slowest || r->dur_ns > m->slowest->dur_ns)) {
		/* copy outside the hot path of counting, still under the lock: rare */
		copy = metrics__request_dup(r);
		if (copy) {
			metrics__request_free(m->slowest);
			m->slowest = copy;
		}
	}
	pthread_mutex_unlock(&m->lock);
}

static void sink_on_request(void *ctx, const struct request *req)
{
	metrics__on_request(ctx, req);
}

struct sink metrics__sink(struct metrics *m)
{
	return (struct sink){ .name = "metrics", .on_request = sink_on_request, .ctx = m };
}

int metrics__set_self(struct metrics *m, enum metrics_self f, const char *label, uint64_t v)
{
	struct self_ent *e;
	int i, ret = 0;

	if (!m || f < 0 || f >= METRICS_SELF__COUNT)
		return -EINVAL;
	if (f == METRICS_EVENTS_READ || f == METRICS_PROCESSES_TRACED ||
	    f == METRICS_KERNEL_COUNTED)
		label = "";
	if (!label || strlen(label) >= SELF_LABEL_LEN)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	for (i = 0; i < m->nself[f]; i++)
		if (!strcmp(m->self[f][i].label, label))
			break;
	if (i == m->nself[f]) {
		if (i == METRICS_SELF_MAX_LABELS) {
			ret = -ENOSPC;
			goto out;
		}
		snprintf(m->self[f][i].label, SELF_LABEL_LEN, "%s", label);
		m->nself[f]++;
	}
	e = &m->self[f][i];
	e->v = v;
out:
	pthread_mutex_unlock(&m->lock);
	return ret;
}

uint64_t metrics_self_sum(const struct metrics *m, enum metrics_self f)
{
	uint64_t s = 0;
	int i;

	for (i = 0; i < m->nself[f]; i++)
		s += m->self[f][i].v;
	return s;
}

/* ---- request copies (top's slowest request) ---- */

static struct request *dup_depth(const struct request *r, int depth)
{
	struct request *c = malloc(sizeof(*c));
	int i, n;

	if (!c)
		return NULL;
	*c = *r;
	n = r->nchildren < 0 ? 0 : r->nchildren > REQ_MAX_CHILDREN ? REQ_MAX_CHILDREN :
	    r->nchildren;
	c->nchildren = 0;
	for (i = 0; i < n; i++) {
		if (!r->children[i] || depth >= 4) {
			c->children_dropped++;
			continue;
		}
		c->children[c->nchildren] = dup_depth(r->children[i], depth + 1);
		if (!c->children[c->nchildren]) {
			metrics__request_free(c);
			return NULL;
		}
		c->nchildren++;
	}
	return c;
}

struct request *metrics__request_dup(const struct request *r)
{
	return r ? dup_depth(r, 0) : NULL;
}

void metrics__request_free(struct request *r)
{
	int i;

	if (!r)
		return;
	for (i = 0; i < r->nchildren && i < REQ_MAX_CHILDREN; i++)
		metrics__request_free(r->children[i]);
	free(r);
}

/* ---- intervals for top ---- */

struct metrics_interval *metrics__roll_interval(struct metrics *m, uint64_t now_ns)
{
	static const double ps[2] = { 0.5, 0.99 };
	struct metrics_interval *iv;
	int i, k, n = 0;

	if (!m || !m->intervals) {
		errno = EINVAL;
		return NULL;
	}
	iv = calloc(1, sizeof(*iv));
	if (!iv)
		return NULL;
	pthread_mutex_lock(&m->lock);
	iv->rows = calloc(m->nrows ?: 1, sizeof(*iv->rows));
	if (!iv->rows) {
		pthread_mutex_unlock(&m->lock);
		free(iv);
		errno = ENOMEM;
		return NULL;
	}
	for (i = 0; i < m->nrows; i++) {
		struct row *r = &m->rows[i];
		struct metrics_row *o = &iv->rows[n++];

		memcpy(o->comm, r->comm, sizeof(o->comm));
		memcpy(o->container, r->container, sizeof(o->container));
		memcpy(o->peer, r->peer, sizeof(o->peer));
		o->role = r->role;
		o->reqs = r->iv_reqs;
		o->errors = r->iv_errors;
		o->reqs_total = r->reqs_total;
		o->errors_total = r->errors_total;
		iv->reqs_total += r->reqs_total;
		iv->errors_total += r->errors_total;
		for (k = 0; k <= METRICS_NPHASES; k++) {
			uint64_t q[2];

			if (!r->iv[k])
				continue;
			if (!histogram__count(r->iv[k])) {
				histogram__free(r->iv[k]);
				r->iv[k] = NULL;
				continue;
			}
			histogram__quantiles(r->iv[k], ps, 2, q);
			o->n[k] = histogram__count(r->iv[k]);
			o->p50[k] = q[0];
			o->p99[k] = q[1];
			histogram__reset(r->iv[k]);
		}
		r->iv_reqs = r->iv_errors = 0;
	}
	iv->nrows = n;
	iv->start_ns = m->iv_start ?: now_ns;
	iv->end_ns = now_ns;
	iv->reqs = m->iv_reqs;
	iv->errors = m->iv_errors;
	iv->events_read = metrics_self_sum(m, METRICS_EVENTS_READ);
	iv->events_dropped = metrics_self_sum(m, METRICS_EVENTS_DROPPED);
	iv->processes = metrics_self_sum(m, METRICS_PROCESSES_TRACED);
	iv->folded_total = m->peers_folded + m->comms_folded;
	iv->slowest = m->slowest;
	m->slowest = NULL;
	m->iv_reqs = m->iv_errors = 0;
	m->iv_start = now_ns;
	pthread_mutex_unlock(&m->lock);
	return iv;
}

void metrics_interval__free(struct metrics_interval *iv)
{
	if (!iv)
		return;
	metrics__request_free(iv->slowest);
	free(iv->rows);
	free(iv);
}


/* ---- in-kernel aggregation (export/kagg.c) ---- */

void metrics__on_label(struct metrics *m, metrics_label_cb cb, void *ctx)
{
	pthread_mutex_lock(&m->lock);
	m->on_label = cb;
	m->label_ctx = ctx;
	pthread_mutex_unlock(&m->lock);
}

void metrics__count_kagg(struct metrics *m, bool on)
{
	m->count_kagg = on;
}

const uint64_t *metrics__bounds_ns(const struct metrics *m, int *n)
{
	*n = m->nbounds;
	return m->bounds_ns;
}

/* The histogram of a row a kernel slot adds to (created lean), NULL if none. */
static struct histogram **kagg_slot(struct metrics *m, struct row *r, uint32_t slot)
{
	struct histogram **h;

	if (slot < METRICS_NPHASES)
		h = &r->phase[slot];
	else if (slot >= PT_KAGG_SLOT_REQ && slot < PT_KAGG_SLOT_REQ + NCLASS)
		h = &r->req[slot - PT_KAGG_SLOT_REQ];
	else
		return NULL;
	if (!*h)
		*h = histogram__new_lean(m->bounds_ns, m->nbounds);
	return *h ? h : NULL;
}

int metrics__kagg_add(struct metrics *m, uint32_t label, uint32_t slot, const uint64_t *counts,
		      int n, uint64_t sum)
{
	uint32_t idx = label - 1, folds = idx % METRICS_LABEL_FOLDS;
	uint64_t count = 0;
	struct histogram **h;
	struct row *r;
	int ret = -EINVAL;

	for (int i = 0; i < n; i++)
		count += counts[i];
	pthread_mutex_lock(&m->lock);
	if (!label || idx / METRICS_LABEL_FOLDS >= (uint32_t)m->nrows || n != m->nbounds + 1)
		goto out;
	r = &m->rows[idx / METRICS_LABEL_FOLDS];
	h = kagg_slot(m, r, slot);
	if (!h || histogram__add_counts(*h, counts, n, sum))
		goto out;
	if (slot >= PT_KAGG_SLOT_REQ) {
		r->reqs_total += count;
		m->comms_folded += folds / 2 * count;
		m->peers_folded += folds % 2 * count;
	}
	ret = 0;
out:
	pthread_mutex_unlock(&m->lock);
	return ret;
}

int metrics__kagg_add_iv(struct metrics *m, uint32_t label, uint32_t slot,
			 const uint64_t *counts, int n, uint64_t sum)
{
	uint32_t idx = label - 1;
	uint64_t count = 0;
	struct row *r;
	int ret = -EINVAL;

	for (int i = 0; i < n; i++)
		count += counts[i];
	pthread_mutex_lock(&m->lock);
	if (!m->intervals || !label || idx / METRICS_LABEL_FOLDS >= (uint32_t)m->nrows ||
	    slot > METRICS_TOTAL)
		goto out;
	r = &m->rows[idx / METRICS_LABEL_FOLDS];
	if (!r->iv[slot])
		r->iv[slot] = histogram__new(NULL, 0);
	if (!r->iv[slot] || histogram__add_sub_counts(r->iv[slot], counts, n, sum))
		goto out;
	if (slot == METRICS_TOTAL) {
		r->iv_reqs += count;
		m->iv_reqs += count;
	}
	ret = 0;
out:
	pthread_mutex_unlock(&m->lock);
	return ret;
}

uint64_t metrics__interval_start(struct metrics *m)
{
	uint64_t t;

	pthread_mutex_lock(&m->lock);
	t = m->iv_start;
	pthread_mutex_unlock(&m->lock);
	return t;
}
