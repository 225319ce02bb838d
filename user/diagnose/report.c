// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The diagnose report: text at 80 columns, or one JSON object per finding. */
#include <stdlib.h>
#include <string.h>

#include "diagnose/diag_impl.h"
#include "output/output.h"
#include "output/waterfall.h"
#include "util/sanitize.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Median of the kept error durations, and how many lie within DIAG_DEADLINE_SPREAD of it. */
static uint64_t err_median(const struct diag_group *g, uint32_t *close)
{
	uint64_t v[DIAG_ERR_KEEP], med;

	*close = 0;
	if (!g->nerr_kept)
		return 0;
	memcpy(v, g->err_ns, g->nerr_kept * sizeof(v[0]));
	qsort(v, g->nerr_kept, sizeof(v[0]), cmp_u64);
	med = v[g->nerr_kept / 2];
	for (uint32_t i = 0; i < g->nerr_kept; i++)
		*close += v[i] >= med * (1 - DIAG_DEADLINE_SPREAD) &&
			  v[i] <= med * (1 + DIAG_DEADLINE_SPREAD);
	return med;
}

bool diag_holds(const struct diag_group *g, enum diag_finding f, uint64_t *deadline_ns)
{
	const struct diag_count *c = &g->f[f];
	uint32_t close;

	if (c->holds < DIAG_MIN_HOLDS || !c->of)
		return false;
	if (f == F_TLS_FAIL)
		return c->holds >= DIAG_TLS_FAIL_SHARE * c->of;
	if (f != F_DEADLINE)
		return c->holds >= DIAG_HOLD_SHARE * c->of;
	if (c->holds < DIAG_DEADLINE_SHARE * c->of)
		return false;
	*deadline_ns = err_median(g, &close);
	return close >= DIAG_DEADLINE_CLOSE * g->nerr_kept;
}

static int dominant(const struct diag_group *g)
{
	int best = CAT_APP;

	for (int i = 0; i < CAT__COUNT; i++)
		if (g->cat_ns[i] > g->cat_ns[best])
			best = i;
	return best;
}

static double ratio(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0;
}

static double ms(uint64_t ns)
{
	return ns / 1e6;
}

/* ---- JSON: one object per finding ---- */

struct jw {
	FILE *f;
	char buf[256];
};

static const char *js(struct jw *w, const char *s)
{
	json_string(s, w->buf, sizeof(w->buf));
	return w->buf;
}

static void json_head(struct jw *w, const struct diag_group *g, const char *finding,
		      uint64_t holds, uint64_t of)
{
	fprintf(w->f, "{\"finding\":\"%s\",\"role\":\"%s\",\"comm\":%s", finding,
		role_name(g->role), js(w, g->comm));
	fprintf(w->f, ",\"pid\":%u,\"endpoint\":%s", g->pid, js(w, g->endpoint));
	fprintf(w->f, ",\"requests\":{\"holds\":%llu,\"of\":%llu},\"share\":%.4f,\"evidence\":{",
		(unsigned long long)holds, (unsigned long long)of, ratio(holds, of));
}

static void json_dominant(struct jw *w, const struct diag_group *g)
{
	int d = dominant(g);
	const char *sep = "";
	char *typ = g->typical ? malloc(1 << 20) : NULL;

	json_head(w, g, "dominant-phase", g->cat_n[d], g->n);
	fprintf(w->f, "\"phase\":\"%s\",\"time_share\":%.4f,\"p50_ns\":%llu,\"p95_ns\":%llu,"
		"\"phases\":{", diag_cat_names[d], ratio(g->cat_ns[d], g->total_ns),
		(unsigned long long)histogram__quantile(g->total, 0.5),
		(unsigned long long)histogram__quantile(g->total, 0.95));
	for (int i = 0; i < CAT__COUNT; i++) {
		if (!g->cat_n[i])
			continue;
		fprintf(w->f, "%s\"%s\":{\"time_share\":%.4f,\"requests\":%llu,\"p50_ns\":%llu,"
			"\"p95_ns\":%llu}", sep, diag_cat_names[i], ratio(g->cat_ns[i], g->total_ns),
			(unsigned long long)g->cat_n[i],
			(unsigned long long)histogram__quantile(g->cat[i], 0.5),
			(unsigned long long)histogram__quantile(g->cat[i], 0.95));
		sep = ",";
	}
	fprintf(w->f, "}");
	if (typ && json_format(g->typical, typ, 1 << 20))
		fprintf(w->f, ",\"typical\":%s", typ);
	free(typ);
	fprintf(w->f, "}}\n");
}

static void json_evidence(struct jw *w, const struct diag_group *g, enum diag_finding f,
			  uint64_t deadline_ns)
{
	const struct diag_count *c = &g->f[f];
	uint64_t h = c->holds;

	switch (f) {
	case F_CONNECT:
		fprintf(w->f, "\"new_connections\":%llu,\"connect_tls_ns_mean\":%.0f,"
			"\"peer\":%s", (unsigned long long)c->n, ratio(c->ns, c->n), js(w, c->what));
		break;
	case F_DNS:
		fprintf(w->f, "\"lookups\":%llu,\"dns_ns_mean\":%.0f,\"name\":%s",
			(unsigned long long)c->n, ratio(c->ns, c->n), js(w, c->what));
		break;
	case F_RENDER_CALLS:
		fprintf(w->f, "\"calls_per_request\":%.2f,\"call_ns_mean\":%.0f,"
			"\"render_ns_mean\":%.0f,\"calls_share_of_render\":%.4f", ratio(c->n, h),
			ratio(c->ns, c->n), ratio(c->ns2, h), ratio(c->ns, c->ns2));
		break;
	case F_SEQUENTIAL:
		fprintf(w->f, "\"calls_per_request\":%.2f,\"saved_ns_mean\":%.0f,"
			"\"saved_share\":%.4f,\"first_peer\":%s", ratio(c->n, h), ratio(c->ns, h),
			ratio(c->ns, c->ns2), js(w, c->what));
		break;
	case F_SLOW_CLIENT:
		fprintf(w->f, "\"send_ns_mean\":%.0f,\"send_share\":%.4f,\"bytes_mean\":%.0f",
			ratio(c->ns, h), ratio(c->ns, c->ns2), ratio(c->bytes, h));
		break;
	case F_SMALL_WRITES:
		fprintf(w->f, "\"writes_per_request\":%.1f,\"bytes_per_write\":%.1f",
			ratio(c->n, h), ratio(c->bytes, c->n));
		break;
	case F_GC_RENDER:
		fprintf(w->f, "\"gc_ns_mean\":%.0f,\"gc_share_of_render\":%.4f", ratio(c->ns, h),
			ratio(c->ns, c->ns2));
		break;
	case F_TPL_PARSE:
		fprintf(w->f, "\"parses_per_request\":%.2f", ratio(c->n, h));
		break;
	case F_DEADLINE:
		fprintf(w->f, "\"duration_ns\":%llu,\"errors\":%llu,\"peer\":%s",
			(unsigned long long)deadline_ns, (unsigned long long)h,
			c->what[0] ? js(w, c->what) : "null");
		break;
	case F_TLS_FAIL:
		fprintf(w->f, "\"failures\":%llu,\"tls_ns_mean\":%.0f,\"peer\":%s",
			(unsigned long long)h, ratio(c->ns, h), c->what[0] ? js(w, c->what) : "null");
		break;
	case F_DELAYED_ACK:
		fprintf(w->f, "\"stalls\":%llu,\"in_requests\":%llu,\"recv_ns_mean\":%.0f,"
			"\"bytes_mean\":%.0f,\"peer\":%s", (unsigned long long)c->n,
			(unsigned long long)c->n2, ratio(c->ns, c->n), ratio(c->bytes, c->n),
			js(w, c->what));
		break;
	default:
		break;
	}
}

static void json_group(const struct diag_group *g, FILE *f)
{
	struct jw w = { .f = f };

	json_dominant(&w, g);
	for (int i = 0; i < F__COUNT; i++) {
		uint64_t dl = 0;

		if (!diag_holds(g, i, &dl))
			continue;
		json_head(&w, g, diag_finding_names[i], g->f[i].holds, g->f[i].of);
		json_evidence(&w, g, i, dl);
		fprintf(f, "}}\n");
	}
}

/* ---- text ---- */

static const char *san(char *buf, size_t len, const char *s)
{
	return pt_sanitize(buf, len, s, PT_SAN_ASCII);
}

static void text_phases(const struct diag_group *g, FILE *f)
{
	fprintf(f, "  %-8s %6s %10s %10s %9s\n", "phase", "share", "p50", "p95", "requests");
	for (int i = 0; i < CAT__COUNT; i++) {
		if (!g->cat_n[i])
			continue;
		fprintf(f, "  %-8s %5.1f%% %8.2fms %8.2fms %9llu\n", diag_cat_names[i],
			100 * ratio(g->cat_ns[i], g->total_ns),
			ms(histogram__quantile(g->cat[i], 0.5)),
			ms(histogram__quantile(g->cat[i], 0.95)), (unsigned long long)g->cat_n[i]);
	}
}

/* One finding's sentence, wrapped at 78 columns under a "  * " bullet. */
static void text_finding(const struct diag_group *g, enum diag_finding f, uint64_t dl, FILE *o)
{
	const struct diag_count *c = &g->f[f];
	char s[512], w[DIAG_HOST_LEN * 4];
	uint64_t h = c->holds;
	int n = snprintf(s, sizeof(s), "%s (%llu of %llu requests): ", diag_finding_names[f],
			 (unsigned long long)h, (unsigned long long)c->of);

	san(w, sizeof(w), c->what);
	switch (f) {
	case F_CONNECT:
		snprintf(s + n, sizeof(s) - n, "%llu new connections to %s, %.2f ms each "
			 "(connect + TLS); reuse them (keep-alive)", (unsigned long long)c->n, w,
			 ms(ratio(c->ns, c->n)));
		break;
	case F_DNS:
		snprintf(s + n, sizeof(s) - n, "%s looked up again %llu times, %.2f ms each; "
			 "cache it or keep the connection", w, (unsigned long long)c->n,
			 ms(ratio(c->ns, c->n)));
		break;
	case F_RENDER_CALLS:
		snprintf(s + n, sizeof(s) - n, "%.1f calls per request start inside render, "
			 "%.1f ms each, %.0f%% of render; load the data before rendering",
			 ratio(c->n, h), ms(ratio(c->ns, c->n)), 100 * ratio(c->ns, c->ns2));
		break;
	case F_SEQUENTIAL:
		snprintf(s + n, sizeof(s) - n, "%.1f calls to different peers one after another; "
			 "running them concurrently would save %.1f ms per request (%.0f%%)",
			 ratio(c->n, h), ms(ratio(c->ns, h)), 100 * ratio(c->ns, c->ns2));
		break;
	case F_SLOW_CLIENT:
		snprintf(s + n, sizeof(s) - n, "sending the response takes %.1f ms, %.0f%% of "
			 "the request (%.0f bytes): the peer reads slowly", ms(ratio(c->ns, h)),
			 100 * ratio(c->ns, c->ns2), ratio(c->bytes, h));
		break;
	case F_SMALL_WRITES:
		snprintf(s + n, sizeof(s) - n, "%.1f socket writes per response of %.0f bytes "
			 "each; buffer the output", ratio(c->n, h), ratio(c->bytes, c->n));
		break;
	case F_GC_RENDER:
		snprintf(s + n, sizeof(s) - n, "the world stops for GC %.2f ms per render, %.1f%% "
			 "of all render time; allocate less while rendering", ms(ratio(c->ns, h)),
			 100 * ratio(c->ns, c->ns2));
		break;
	case F_TPL_PARSE:
		snprintf(s + n, sizeof(s) - n, "%.1f template parses per request; parse them "
			 "once, at start", ratio(c->n, h));
		break;
	case F_DEADLINE:
		snprintf(s + n, sizeof(s) - n, "end in a timeout, reset or close after %.1f ms "
			 "(median)%s%s: a deadline", ms(dl), c->what[0] ? ", calling " : "", w);
		break;
	case F_TLS_FAIL:
		snprintf(s + n, sizeof(s) - n, "TLS handshakes fail after %.1f ms (mean)%s%s: "
			 "a certificate %s (expired, wrong name, unknown CA), or no common "
			 "protocol version or cipher", ms(ratio(c->ns, h)),
			 c->what[0] ? ", with " : "", w, g->role == PT_ROLE_SERVER ?
			 "its clients refuse" : "refused");
		break;
	case F_DELAYED_ACK:
		if (2 * c->n2 > c->n)	/* mostly the requests this server reads */
			snprintf(s + n, sizeof(s) - n, "requests from %s arrive in two parts "
				 "%.1f ms apart: the client's later writes wait for the ACK of its "
				 "first (Nagle), which this server delays; set TCP_NODELAY on the "
				 "client's socket or write each request in one call", w,
				 ms(ratio(c->ns, c->n)));
		else
			snprintf(s + n, sizeof(s) - n, "responses from %s arrive in two parts "
				 "%.1f ms apart: the server's later writes wait for the ACK of its "
				 "first (Nagle), which the client delays; set TCP_NODELAY on the "
				 "server's socket or write each response in one call", w,
				 ms(ratio(c->ns, c->n)));
		break;
	default:
		break;
	}
	for (const char *p = s, *first = "  * "; *p; first = "    ") {
		int len = strlen(p), cut = len;

		if (len > 74)
			for (cut = 74; cut > 20 && p[cut] != ' '; cut--)
				;
		fprintf(o, "%s%.*s\n", first, cut, p);
		p += cut + (p[cut] == ' ');
	}
}

static void text_group(const struct diag_group *g, FILE *f)
{
	char comm[PT_COMM_LEN * 4], ep[DIAG_ENDPOINT_LEN * 4];
	int d = dominant(g);

	fprintf(f, "\n%s[%u] %s\n", san(comm, sizeof(comm), g->comm), g->pid,
		san(ep, sizeof(ep), g->endpoint));
	fprintf(f, "  %llu requests, p50 %.2f ms, p95 %.2f ms\n", (unsigned long long)g->n,
		ms(histogram__quantile(g->total, 0.5)), ms(histogram__quantile(g->total, 0.95)));
	text_phases(g, f);
	fprintf(f, "  * dominant-phase: %s, %.0f%% of the time\n", diag_cat_names[d],
		100 * ratio(g->cat_ns[d], g->total_ns));
	for (int i = 0; i < F__COUNT; i++) {
		uint64_t dl = 0;

		if (diag_holds(g, i, &dl))
			text_finding(g, i, dl, f);
	}
	if (g->typical) {
		fprintf(f, "  a typical request (nearest the p50):\n");
		waterfall__print(f, g->typical, 56, false);	/* its extras fit in 80 */
	}
}

static int by_time(const void *a, const void *b)
{
	const struct diag_group *x = *(struct diag_group *const *)a;
	const struct diag_group *y = *(struct diag_group *const *)b;

	return x->total_ns < y->total_ns ? 1 : x->total_ns > y->total_ns ? -1 : 0;
}

void diagnose__report(struct diagnose *d, FILE *f, bool json)
{
	qsort(d->groups, d->ngroups, sizeof(d->groups[0]), by_time);
	if (!json)
		fprintf(f, "%llu requests in %d groups (server endpoints and client processes)%s\n",
			(unsigned long long)d->seen, d->ngroups, d->seen ? "" : ": nothing to say");
	if (d->overflow)
		fprintf(stderr, "phasetrace: %llu requests of more than %d groups were not "
			"analysed\n", (unsigned long long)d->overflow, DIAG_MAX_GROUPS);
	for (int i = 0; i < d->ngroups; i++) {
		if (json)
			json_group(d->groups[i], f);
		else
			text_group(d->groups[i], f);
	}
	fflush(f);
}
