// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * metrics and exporter: exposition of synthetic requests line by line (and
 * through promtool when installed), cardinality guard, label escaping,
 * --buckets and --listen parsing, top's intervals, and the HTTP endpoint
 * under idle connections and garbage.
 */
#include <errno.h>
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <cmocka.h>
#include "export/exporter.h"
#include "export/metrics.h"
#include "output/top.h"
#include "util/clock.h"

#define MS	1000000ULL

/* An option value that must be refused, and a word the message must contain. */
struct bad_arg {
	const char *s;
	const char *msg;
};

static void add_phase(struct request *r, enum phase_id id, const char *name, uint64_t dur)
{
	struct phase *p = &r->phases[r->nphases++];

	p->id = id;
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->start_ns = r->start_ns;
	p->dur_ns = dur;
}

static void client_req(struct request *r, const char *comm, const char *host, uint16_t status)
{
	memset(r, 0, sizeof(*r));
	r->role = PT_ROLE_CLIENT;
	snprintf(r->comm, sizeof(r->comm), "%s", comm);
	snprintf(r->host, sizeof(r->host), "%s", host);
	r->peer.family = AF_INET;
	r->peer.port = 443;
	r->peer.addr[0] = 93, r->peer.addr[1] = 184, r->peer.addr[2] = 216, r->peer.addr[3] = 34;
	r->status = status;
	r->start_ns = 1000 * MS;
	add_phase(r, PHASE_DNS, "dns", 1 * MS);
	add_phase(r, PHASE_CONNECT, "connect", 2 * MS);
	add_phase(r, PHASE_TLS, "tls", 3 * MS);
	add_phase(r, PHASE_SEND, "send", 50000);
	add_phase(r, PHASE_TTFB, "ttfb", 20 * MS);
	add_phase(r, PHASE_RECV, "recv", 400000);
	r->dur_ns = 26450000;
}

static void server_req(struct request *r, const char *comm, uint16_t port, uint16_t status,
		       uint64_t dur)
{
	memset(r, 0, sizeof(*r));
	r->role = PT_ROLE_SERVER;
	snprintf(r->comm, sizeof(r->comm), "%s", comm);
	r->local.family = AF_INET;
	r->local.port = port;
	r->status = status;
	add_phase(r, PHASE_TTFB, "ttfb", dur - 100000);
	add_phase(r, PHASE_SEND, "send", 100000);
	r->dur_ns = dur;
}

static char *render(struct metrics *m)
{
	size_t len;
	char *buf;

	assert_int_equal(metrics__render(m, &buf, &len), 0);
	assert_int_equal(strlen(buf), len);
	return buf;
}

/* The exposition must contain this exact line. */
#define assert_line(text, line) assert_line_(text, line, __FILE__, __LINE__)
static void assert_line_(const char *text, const char *line, const char *file, int lno)
{
	size_t n = strlen(line);
	const char *p = text;

	while ((p = strstr(p, line))) {
		if ((p == text || p[-1] == '\n') && (p[n] == '\n' || !p[n]))
			return;
		p += n;
	}
	fail_msg("%s:%d: line not in the exposition: %s", file, lno, line);
}

static int count_lines_with(const char *text, const char *needle)
{
	const char *p = text;
	int n = 0;

	while ((p = strstr(p, needle))) {
		n++;
		p += strlen(needle);
	}
	return n;
}

static void promtool_check(const char *text)
{
	char path[] = "/tmp/pt-metrics-XXXXXX", cmd[256], out[4096];
	size_t n;
	FILE *f;
	int fd, rc;

	if (system("command -v promtool >/dev/null 2>&1")) {
		print_message("promtool not installed: exposition not cross-checked\n");
		return;
	}
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	snprintf(cmd, sizeof(cmd), "promtool check metrics < %s 2>&1", path);
	f = popen(cmd, "r");
	assert_non_null(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	rc = pclose(f);
	unlink(path);
	if (rc != 0 || n)
		fail_msg("promtool check metrics failed (rc %d): %s", rc, out);
}

static void test_exposition(void **state)
{
	struct metrics_opts o = { .version = "1.2.3" };
	struct request top, child;
	struct metrics *m = metrics__new(&o);
	char *t;

	assert_non_null(m);
	/* a server request with one outbound child request: both count */
	server_req(&top, "api", 8080, 200, 30 * MS);
	client_req(&child, "api", "example.com", 503);
	top.nchildren = 1;
	top.children[0] = &child;
	metrics__on_request(m, &top);
	client_req(&child, "curl", "", 0);
	child.error = PT_ERR_REFUSED;
	child.nphases = 2;	/* dns, connect only */
	child.dur_ns = 2 * MS + 1 * MS;
	metrics__on_request(m, &child);
	child.dns_failed = true;
	child.error = PT_ERR_NONE;
	child.nphases = 1;
	metrics__on_request(m, &child);
	assert_int_equal(metrics__set_self(m, METRICS_EVENTS_READ, NULL, 1234), 0);
	assert_int_equal(metrics__set_self(m, METRICS_EVENTS_DROPPED, "ringbuf_full", 7), 0);
	assert_int_equal(metrics__set_self(m, METRICS_EVENTS_DROPPED, "conn_table_full", 1), 0);
	assert_int_equal(metrics__set_self(m, METRICS_EVENTS_DROPPED, "ringbuf_full", 9), 0);
	assert_int_equal(metrics__set_self(m, METRICS_PROBES, "attached", 42), 0);
	assert_int_equal(metrics__set_self(m, METRICS_PROBES, "failed", 1), 0);
	assert_int_equal(metrics__set_self(m, METRICS_PROCESSES_TRACED, NULL, 5), 0);
	assert_int_equal(metrics__set_self(m, METRICS_ASSEMBLER_ENTRIES, "conns", 12), 0);
	assert_int_equal(metrics__set_self(m, METRICS_DISCOVERY, "over_budget", 2), 0);
	assert_int_equal(metrics__set_self(m, METRICS_SELF__COUNT, "x", 1), -EINVAL);
	t = render(m);

	assert_line(t, "# HELP phasetrace_phase_duration_seconds Duration of one phase of a "
		    "request (client: dns, connect, tls, send, ttfb, recv; server: ttfb, send, "
		    "render).");
	assert_line(t, "# TYPE phasetrace_phase_duration_seconds histogram");
	/* server row: peer is the local port */
	assert_line(t, "phasetrace_phase_duration_seconds_bucket{phase=\"ttfb\",role=\"server\","
		    "comm=\"api\",peer=\"8080\",le=\"0.025\"} 0");
	assert_line(t, "phasetrace_phase_duration_seconds_bucket{phase=\"ttfb\",role=\"server\","
		    "comm=\"api\",peer=\"8080\",le=\"0.05\"} 1");
	assert_line(t, "phasetrace_phase_duration_seconds_bucket{phase=\"ttfb\",role=\"server\","
		    "comm=\"api\",peer=\"8080\",le=\"+Inf\"} 1");
	assert_line(t, "phasetrace_phase_duration_seconds_sum{phase=\"ttfb\",role=\"server\","
		    "comm=\"api\",peer=\"8080\"} 0.029900000");
	assert_line(t, "phasetrace_phase_duration_seconds_count{phase=\"ttfb\",role=\"server\","
		    "comm=\"api\",peer=\"8080\"} 1");
	/* child: client row named by host; a bound equal to the value counts (le) */
	assert_line(t, "phasetrace_phase_duration_seconds_bucket{phase=\"dns\",role=\"client\","
		    "comm=\"api\",peer=\"example.com\",le=\"0.0005\"} 0");
	assert_line(t, "phasetrace_phase_duration_seconds_bucket{phase=\"dns\",role=\"client\","
		    "comm=\"api\",peer=\"example.com\",le=\"0.001\"} 1");
	assert_line(t, "phasetrace_phase_duration_seconds_bucket{phase=\"tls\",role=\"client\","
		    "comm=\"api\",peer=\"example.com\",le=\"0.0001\"} 0");
	assert_line(t, "phasetrace_phase_duration_seconds_bucket{phase=\"recv\",role=\"client\","
		    "comm=\"api\",peer=\"example.com\",le=\"0.0005\"} 1");
	/* no host: addr:port; two requests in the row */
	assert_line(t, "phasetrace_phase_duration_seconds_count{phase=\"dns\",role=\"client\","
		    "comm=\"curl\",peer=\"93.184.216.34:443\"} 2");
	assert_line(t, "phasetrace_phase_duration_seconds_count{phase=\"connect\",role=\"client\","
		    "comm=\"curl\",peer=\"93.184.216.34:443\"} 1");
	assert_int_equal(count_lines_with(t, "phase=\"tls\",role=\"client\",comm=\"curl\""), 0);

	assert_line(t, "# TYPE phasetrace_request_duration_seconds histogram");
	assert_line(t, "phasetrace_request_duration_seconds_bucket{role=\"server\",comm=\"api\","
		    "peer=\"8080\",status_class=\"2xx\",le=\"0.025\"} 0");
	assert_line(t, "phasetrace_request_duration_seconds_bucket{role=\"server\",comm=\"api\","
		    "peer=\"8080\",status_class=\"2xx\",le=\"0.05\"} 1");
	assert_line(t, "phasetrace_request_duration_seconds_sum{role=\"client\",comm=\"api\","
		    "peer=\"example.com\",status_class=\"5xx\"} 0.026450000");
	/* unknown status: the label is omitted */
	assert_line(t, "phasetrace_request_duration_seconds_count{role=\"client\",comm=\"curl\","
		    "peer=\"93.184.216.34:443\"} 2");

	assert_line(t, "# TYPE phasetrace_requests_total counter");
	assert_line(t, "phasetrace_requests_total{role=\"server\",comm=\"api\",peer=\"8080\","
		    "status_class=\"2xx\"} 1");
	assert_line(t, "phasetrace_requests_total{role=\"client\",comm=\"api\","
		    "peer=\"example.com\",status_class=\"5xx\"} 1");
	assert_line(t, "phasetrace_requests_total{role=\"client\",comm=\"curl\","
		    "peer=\"93.184.216.34:443\"} 2");
	assert_line(t, "# TYPE phasetrace_request_errors_total counter");
	assert_line(t, "phasetrace_request_errors_total{role=\"client\",comm=\"curl\","
		    "peer=\"93.184.216.34:443\",error=\"refused\"} 1");
	assert_line(t, "phasetrace_request_errors_total{role=\"client\",comm=\"curl\","
		    "peer=\"93.184.216.34:443\",error=\"dns\"} 1");
	assert_int_equal(count_lines_with(t, "phasetrace_request_errors_total{"), 2);

	assert_line(t, "phasetrace_build_info{version=\"1.2.3\"} 1");
	assert_line(t, "phasetrace_events_read_total 1234");
	assert_line(t, "phasetrace_events_dropped_total{reason=\"ringbuf_full\"} 9");
	assert_line(t, "phasetrace_events_dropped_total{reason=\"conn_table_full\"} 1");
	assert_line(t, "phasetrace_probes{state=\"attached\"} 42");
	assert_line(t, "phasetrace_probes{state=\"failed\"} 1");
	assert_line(t, "phasetrace_processes_traced 5");
	assert_line(t, "phasetrace_assembler_entries{table=\"conns\"} 12");
	assert_line(t, "# TYPE phasetrace_discovery_total counter");
	assert_line(t, "phasetrace_discovery_total{outcome=\"over_budget\"} 2");
	assert_line(t, "phasetrace_peers_folded_total 0");
	assert_line(t, "phasetrace_series 3");
	assert_line(t, "phasetrace_durations_clamped_total 0");
	/* every line: comment or sample, no blank lines, ends with a newline */
	assert_null(strstr(t, "\n\n"));
	assert_int_equal(t[strlen(t) - 1], '\n');
	promtool_check(t);
	free(t);
	metrics__free(m);
	metrics__free(NULL);
}

/* A gRPC stream: its class is its HTTP :status's, a non-zero grpc-status an error "grpc"
 * (docs/metrics.md): gRPC codes never become a status class. */
static void test_grpc_class(void **state)
{
	struct metrics_opts o = { .version = "1" };
	struct metrics *m = metrics__new(&o);
	struct request r;
	char *t;

	assert_non_null(m);
	server_req(&r, "grpcd", 50051, 200, 30 * MS);
	r.is_grpc = r.has_grpc = true;
	r.grpc_status = 7;
	r.error = PT_ERR_GRPC;
	metrics__on_request(m, &r);
	t = render(m);
	assert_int_equal(count_lines_with(t, "error=\"other\""), 0);
	assert_line(t, "phasetrace_requests_total{role=\"server\",comm=\"grpcd\",peer=\"50051\","
		    "status_class=\"2xx\"} 1");
	assert_line(t, "phasetrace_request_errors_total{role=\"server\",comm=\"grpcd\","
		    "peer=\"50051\",error=\"grpc\"} 1");
	promtool_check(t);
	free(t);
	metrics__free(m);
}

static void test_empty_exposition(void **state)
{
	struct metrics *m = metrics__new(NULL);
	char *t = render(m);

	assert_line(t, "# TYPE phasetrace_requests_total counter");
	assert_line(t, "phasetrace_build_info{version=\"unknown\"} 1");
	promtool_check(t);
	free(t);
	metrics__free(m);
}

/* Distinct values of label name= among lines containing filter. */
static int distinct_values(const char *text, const char *filter, const char *name)
{
	char seen[600][80], key[16];
	const char *line = text;
	int n = 0, i;

	snprintf(key, sizeof(key), "%s=\"", name);
	while (line && *line) {
		const char *eol = strchr(line, '\n'), *p = strstr(line, key);
		const char *f = strstr(line, filter);
		char v[80];
		size_t l;

		if (p && f && (!eol || (p < eol && f < eol))) {
			p += strlen(key);
			l = strcspn(p, "\"");
			snprintf(v, sizeof(v), "%.*s", (int)l, p);
			for (i = 0; i < n; i++)
				if (!strcmp(seen[i], v))
					break;
			if (i == n && n < 600)
				snprintf(seen[n++], sizeof(seen[0]), "%s", v);
		}
		line = eol ? eol + 1 : NULL;
	}
	return n;
}

static void test_cardinality(void **state)
{
	struct metrics *m = metrics__new(NULL);
	struct request r;
	char host[32], *t;
	int i;

	for (i = 0; i < 500; i++) {
		snprintf(host, sizeof(host), "host%d.example", i);
		client_req(&r, "crawler", host, 200);
		metrics__on_request(m, &r);
	}
	/* known peers still count in their own row after the limit */
	client_req(&r, "crawler", "host0.example", 200);
	metrics__on_request(m, &r);
	t = render(m);
	assert_int_equal(distinct_values(t, "comm=\"crawler\"", "peer"), 50 + 1);
	assert_line(t, "phasetrace_peers_folded_total 450");
	assert_line(t, "phasetrace_requests_total{role=\"client\",comm=\"crawler\","
		    "peer=\"other\",status_class=\"2xx\"} 450");
	assert_line(t, "phasetrace_requests_total{role=\"client\",comm=\"crawler\","
		    "peer=\"host0.example\",status_class=\"2xx\"} 2");
	free(t);
	metrics__free(m);
}

static void test_cardinality_comms_and_series(void **state)
{
	struct metrics_opts o = { .max_comms = 20, .max_peers = 5, .max_series = 40 };
	struct metrics *m = metrics__new(&o);
	struct request r;
	char comm[16], host[32], *t;
	int i, j, series;

	for (i = 0; i < 100; i++) {
		for (j = 0; j < 30; j++) {
			snprintf(comm, sizeof(comm), "c%d", i);
			snprintf(host, sizeof(host), "h%d", j);
			client_req(&r, comm, host, 200);
			metrics__on_request(m, &r);
			server_req(&r, comm, 1000 + j, 200, 5 * MS);
			metrics__on_request(m, &r);
		}
	}
	t = render(m);
	assert_true(distinct_values(t, "phasetrace_requests_total{", "comm") <= 20 + 1);
	series = count_lines_with(t, "\nphasetrace_requests_total{");
	if (series > 40 + 3)
		fail_msg("%d request series, limit 40 + 3 reserved", series);
	assert_line(t, "phasetrace_series_limit 40");
	/* nothing lost: every request is counted somewhere */
	{
		const char *p = t;
		unsigned long long sum = 0, v;

		while ((p = strstr(p, "\nphasetrace_requests_total{"))) {
			p = strchr(p, '}');
			sscanf(p + 1, " %llu", &v);
			sum += v;
		}
		assert_int_equal(sum, 100 * 30 * 2);
	}
	promtool_check(t);
	free(t);
	metrics__free(m);
}

static void test_label_escaping(void **state)
{
	struct metrics *m = metrics__new(NULL);
	struct request r;
	char *t;

	client_req(&r, "a\"b\\c\nd", "bad\xff\xfe.host\t", 200);
	r.phases[0].dur_ns = UINT64_MAX - 5;	/* end before start upstream */
	metrics__on_request(m, &r);
	client_req(&r, "caf\xc3\xa9", "\xe2\x82\xac.example", 200);	/* valid UTF-8 kept */
	metrics__on_request(m, &r);
	/* names that print alike share one series: no duplicate label sets */
	client_req(&r, "x\x01", "h", 200);
	metrics__on_request(m, &r);
	client_req(&r, "x\x02", "h", 200);
	metrics__on_request(m, &r);
	/* C1 CSI (U+009B) and a right-to-left override: controls too, '?' per byte */
	client_req(&r, "c1\xc2\x9b" "2J", "rt\xe2\x80\xaelo", 200);
	metrics__on_request(m, &r);
	t = render(m);
	assert_line(t, "phasetrace_requests_total{role=\"client\",comm=\"a\\\"b\\\\c\\nd\","
		    "peer=\"bad??.host?\",status_class=\"2xx\"} 1");
	assert_line(t, "phasetrace_durations_clamped_total 1");
	assert_line(t, "phasetrace_requests_total{role=\"client\",comm=\"x?\",peer=\"h\","
		    "status_class=\"2xx\"} 2");
	assert_line(t, "phasetrace_phase_duration_seconds_sum{phase=\"dns\",role=\"client\","
		    "comm=\"a\\\"b\\\\c\\nd\",peer=\"bad??.host?\"} 86400.000000000");
	assert_line(t, "phasetrace_requests_total{role=\"client\",comm=\"caf\xc3\xa9\","
		    "peer=\"\xe2\x82\xac.example\",status_class=\"2xx\"} 1");
	assert_line(t, "phasetrace_requests_total{role=\"client\",comm=\"c1??2J\","
		    "peer=\"rt???lo\",status_class=\"2xx\"} 1");
	promtool_check(t);
	free(t);
	metrics__free(m);
}

static void test_parse_buckets(void **state)
{
	static const struct bad_arg bad[] = {
		{ "", "empty" },
		{ "0.1,0.01", "must increase" },
		{ "0.1,0.1", "must increase" },
		{ "0,1", "out of range" },
		{ "-1", "out of range" },
		{ "1,abc", "not a number" },
		{ "1,,2", "not a number" },
		{ "1;2", "unexpected" },
		{ "inf", "out of range" },
		{ "nan", "out of range" },
		{ "1e-12", "below the 1ns" },
		{ "1,", "not a number" },
	};
	struct metrics_opts o = {};
	char err[256], *t;
	struct metrics *m;
	size_t i;
	double *v;
	int n;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(metrics__parse_buckets(bad[i].s, &v, &n, err, sizeof(err)),
				 -EINVAL);
		assert_null(v);
		if (!strstr(err, bad[i].msg) || strncmp(err, "--buckets", 9))
			fail_msg("\"%s\": message \"%s\" lacks \"%s\"", bad[i].s, err, bad[i].msg);
	}
	assert_int_equal(metrics__parse_buckets("0.005, 0.05,0.5 ,5", &v, &n, err, sizeof(err)),
			 0);
	assert_int_equal(n, 4);
	assert_true(v[0] == 0.005 && v[3] == 5);
	o.buckets = v;
	o.nbuckets = n;
	m = metrics__new(&o);
	assert_non_null(m);
	{
		struct request r;

		server_req(&r, "web", 80, 404, 50 * MS);
		metrics__on_request(m, &r);
	}
	t = render(m);
	assert_line(t, "phasetrace_request_duration_seconds_bucket{role=\"server\",comm=\"web\","
		    "peer=\"80\",status_class=\"4xx\",le=\"0.05\"} 1");
	assert_line(t, "phasetrace_request_duration_seconds_bucket{role=\"server\",comm=\"web\","
		    "peer=\"80\",status_class=\"4xx\",le=\"0.005\"} 0");
	assert_int_equal(count_lines_with(t, "le=\"0.0001\""), 0);
	promtool_check(t);
	free(t);
	metrics__free(m);
	free(v);
}

/*
 * main() runs setlocale(LC_ALL, ""): a decimal-comma locale must change
 * neither option parsing nor the exposition. Needs a de_DE locale (to try
 * it without one: localedef -i de_DE -f UTF-8 /tmp/loc/de_DE.UTF-8 and
 * LOCPATH=/tmp/loc).
 */
static void test_decimal_comma_locale(void **state)
{
	struct metrics_opts o = {};
	struct metrics *m;
	struct request r;
	char err[256], *t;
	double *v, d;
	int n;

	if (!setlocale(LC_ALL, "de_DE.UTF-8")) {
		print_message("no de_DE.UTF-8 locale: skipped\n");
		skip();
	}
	assert_int_equal(metrics__parse_buckets("0.25,2.5", &v, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_true(v[0] == 0.25);
	assert_int_equal(top__parse_delay("0.5", &d, err, sizeof(err)), 0);
	assert_true(d == 0.5);
	o.buckets = v;
	o.nbuckets = n;
	m = metrics__new(&o);
	server_req(&r, "web", 80, 200, 300 * MS);
	metrics__on_request(m, &r);
	t = render(m);
	setlocale(LC_ALL, "C");
	assert_line(t, "phasetrace_request_duration_seconds_bucket{role=\"server\",comm=\"web\","
		    "peer=\"80\",status_class=\"2xx\",le=\"0.25\"} 0");
	assert_line(t, "phasetrace_request_duration_seconds_sum{role=\"server\",comm=\"web\","
		    "peer=\"80\",status_class=\"2xx\"} 0.300000000");
	free(t);
	free(v);
	metrics__free(m);
}

static void test_intervals(void **state)
{
	struct metrics_opts o = { .intervals = true };
	struct metrics *m = metrics__new(&o), *plain = metrics__new(NULL);
	struct metrics_interval *iv;
	struct request r, child;
	int i;

	assert_null(metrics__roll_interval(plain, 1));
	metrics__free(plain);
	for (i = 1; i <= 100; i++) {
		server_req(&r, "web", 80, i == 100 ? 500 : 200, i * MS);
		if (i == 77) {
			client_req(&child, "web", "db.internal", 200);
			r.children[r.nchildren++] = &child;
			r.dur_ns = 900 * MS;	/* the slowest one */
		}
		metrics__on_request(m, &r);
	}
	iv = metrics__roll_interval(m, 5000 * MS);
	assert_non_null(iv);
	assert_int_equal(iv->reqs, 101);
	assert_int_equal(iv->nrows, 2);
	assert_string_equal(iv->rows[0].comm, "web");
	assert_string_equal(iv->rows[0].peer, "80");
	assert_int_equal(iv->rows[0].reqs, 100);
	assert_int_equal(iv->rows[0].n[PHASE_TTFB], 100);
	/* p50 of 1..100ms minus 0.1ms is 49.9ms; within 2% */
	assert_true(iv->rows[0].p50[PHASE_TTFB] > 49.9 * MS * 0.98 &&
		    iv->rows[0].p50[PHASE_TTFB] < 49.9 * MS * 1.02);
	assert_int_equal(iv->rows[1].reqs, 1);
	/* the slowest request is a deep copy, children included */
	assert_non_null(iv->slowest);
	assert_int_equal(iv->slowest->dur_ns, 900 * MS);
	assert_int_equal(iv->slowest->nchildren, 1);
	assert_ptr_not_equal(iv->slowest->children[0], &child);
	assert_string_equal(iv->slowest->children[0]->host, "db.internal");
	metrics_interval__free(iv);

	/* next interval is empty, cumulative totals stay */
	iv = metrics__roll_interval(m, 6000 * MS);
	assert_int_equal(iv->reqs, 0);
	assert_int_equal(iv->rows[0].reqs, 0);
	assert_int_equal(iv->rows[0].reqs_total, 100);
	assert_int_equal(iv->rows[0].n[PHASE_TTFB], 0);
	assert_int_equal(iv->start_ns, 5000 * MS);
	assert_null(iv->slowest);
	metrics_interval__free(iv);
	metrics_interval__free(NULL);
	metrics__free(m);
}

static void test_parse_listen(void **state)
{
	static const struct bad_arg bad[] = {
		{ "", "empty" },
		{ "127.0.0.1", "missing port" },
		{ "127.0.0.1:", "missing port" },
		{ "127.0.0.1:99999", "0 to 65535" },
		{ "127.0.0.1:80x", "0 to 65535" },
		{ "localhost:80", "not an IP address" },
		{ "::1:9873", "brackets" },
		{ "[::1]9873", "[IPv6]:PORT" },
		{ "[::zz]:9873", "not an IP address" },
		{ "300.1.1.1:80", "not an IP address" },
	};
	struct sockaddr_storage ss;
	struct sockaddr_in *in4 = (void *)&ss;
	struct sockaddr_in6 *in6 = (void *)&ss;
	char err[256], ip[64];
	socklen_t len;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(exporter__parse_listen(bad[i].s, &ss, &len, err, sizeof(err)),
				 -EINVAL);
		if (!strstr(err, bad[i].msg))
			fail_msg("\"%s\": message \"%s\" lacks \"%s\"", bad[i].s, err, bad[i].msg);
	}
	assert_int_equal(exporter__parse_listen("127.0.0.1:9873", &ss, &len, err, 256), 0);
	assert_int_equal(in4->sin_family, AF_INET);
	assert_int_equal(ntohs(in4->sin_port), 9873);
	assert_int_equal(len, sizeof(*in4));
	assert_int_equal(exporter__parse_listen("[::1]:0", &ss, &len, err, 256), 0);
	assert_int_equal(in6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(in6->sin6_port), 0);
	inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
	assert_string_equal(ip, "::1");
	assert_int_equal(exporter__parse_listen("9000", &ss, &len, err, 256), 0);
	assert_int_equal(ntohl(in4->sin_addr.s_addr), INADDR_LOOPBACK);
	assert_int_equal(exporter__parse_listen(":9000", &ss, &len, err, 256), 0);
	assert_int_equal(in4->sin_addr.s_addr, htonl(INADDR_ANY));
}

static void test_parse_delay(void **state)
{
	char err[128];
	double d;

	assert_int_equal(top__parse_delay("2", &d, err, sizeof(err)), 0);
	assert_true(d == 2);
	assert_int_equal(top__parse_delay("0.05", &d, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "0.1 to 3600"));
	assert_int_equal(top__parse_delay("1s", &d, err, sizeof(err)), -EINVAL);
	assert_int_equal(top__parse_delay("", &d, err, sizeof(err)), -EINVAL);
}

/* ---- HTTP ---- */

static int connect_from(const char *src, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = 5 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (src) {
		inet_pton(AF_INET, src, &sa.sin_addr);
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	sa.sin_port = htons(port);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -errno;
	}
	return fd;
}

/* Send raw bytes, read the whole answer (HTTP/1.0: server closes). */
static char *http(int port, const char *raw)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	int fd = connect_from(NULL, port);
	ssize_t n;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, raw, strlen(raw)), (ssize_t)strlen(raw));
	while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
		len += n;
		if (len + 1 == cap)
			buf = realloc(buf, cap *= 2);
	}
	buf[len] = '\0';
	close(fd);
	return buf;
}

static struct exporter *start_exporter(struct metrics *m, unsigned int timeout_s)
{
	struct exporter_opts o = { .listen = "127.0.0.1:0", .timeout_s = timeout_s };
	struct exporter *e;
	char err[256];

	if (exporter__new(&e, m, &o, err, sizeof(err)))
		fail_msg("exporter__new: %s", err);
	assert_true(exporter__port(e) > 0);
	return e;
}

static void test_exporter_http(void **state)
{
	struct metrics *m = metrics__new(NULL);
	struct exporter *e = start_exporter(m, 0), *e2;
	struct exporter_opts o = {};
	char listen[64], err[256], *t;
	struct request r;

	server_req(&r, "web", 80, 200, 3 * MS);
	metrics__on_request(m, &r);
	t = http(exporter__port(e), "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n");
	if (strncmp(t, "HTTP/1.0 200", 12) && strncmp(t, "HTTP/1.1 200", 12))
		fail_msg("GET /metrics: %.200s", t);
	assert_non_null(strcasestr(t, "Content-Type: " EXPORTER_CONTENT_TYPE "\r\n"));
	assert_non_null(strstr(t, "\r\n\r\n# HELP phasetrace_phase_duration_seconds "));
	assert_non_null(strstr(t, "\nphasetrace_requests_total{role=\"server\",comm=\"web\","
			       "peer=\"80\",status_class=\"2xx\"} 1\n"));
	free(t);
	t = http(exporter__port(e), "GET / HTTP/1.0\r\n\r\n");
	assert_non_null(strstr(t, " 200 "));
	assert_non_null(strstr(t, "href=\"/metrics\""));
	free(t);
	t = http(exporter__port(e), "GET /nope HTTP/1.0\r\n\r\n");
	assert_non_null(strstr(t, " 404 "));
	free(t);
	t = http(exporter__port(e), "POST /metrics HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc");
	assert_non_null(strstr(t, " 405 "));
	assert_non_null(strcasestr(t, "Allow: GET, HEAD"));
	free(t);
	t = http(exporter__port(e), "HEAD /metrics HTTP/1.0\r\n\r\n");
	assert_non_null(strstr(t, " 200 "));
	assert_null(strstr(t, "# HELP"));
	free(t);
	assert_int_equal(exporter__scrapes(e), 2);

	/* port taken: a clear error, no exit */
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", exporter__port(e));
	o.listen = listen;
	assert_int_equal(exporter__new(&e2, m, &o, err, sizeof(err)), -EADDRINUSE);
	assert_null(e2);
	if (!strstr(err, "cannot listen on 127.0.0.1:") || !strstr(err, "already in use"))
		fail_msg("message: %s", err);
	exporter__free(e);
	exporter__free(NULL);
	metrics__free(m);
}

static void test_exporter_ipv6(void **state)
{
	struct exporter_opts o = { .listen = "[::1]:0" };
	struct metrics *m = metrics__new(NULL);
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct exporter *e;
	char err[256], buf[256];
	int fd;
	ssize_t n;

	if (exporter__new(&e, m, &o, err, sizeof(err))) {
		print_message("no IPv6 loopback here, skipped: %s\n", err);
		metrics__free(m);
		return;
	}
	fd = socket(AF_INET6, SOCK_STREAM, 0);
	sa.sin6_port = htons(exporter__port(e));
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_true(write(fd, "GET / HTTP/1.0\r\n\r\n", 18) == 18);
	n = read(fd, buf, sizeof(buf) - 1);
	assert_true(n > 12);
	buf[n] = '\0';
	assert_non_null(strstr(buf, " 200 "));
	close(fd);
	exporter__free(e);
	metrics__free(m);
}

static void test_exporter_hostile_clients(void **state)
{
	static const char *const garbage[] = {
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage-tls-hello\r\n\r\n",
		"GARBAGE\r\n\r\n",
		"GET /metrics HTTP/9.9\r\n\r\n",
		"\r\n\r\n\r\n\r\n",
	};
	struct metrics *m = metrics__new(NULL);
	/* short idle timeout: requests that never complete end quickly */
	struct exporter *e = start_exporter(m, 2);
	int idle[300], nidle = 0, i, port = exporter__port(e), first, closed = 0;
	char src[32], hdr[20000], *t;

	/* 200 idle connections from 10 addresses, below the per-address limit */
	for (i = 0; i < 200; i++) {
		snprintf(src, sizeof(src), "127.0.0.%d", 2 + i % 10);
		idle[nidle] = connect_from(src, port);
		if (idle[nidle] >= 0)
			nidle++;
		if (i % 2)	/* half of them start a request and stall (slowloris) */
			assert_true(write(idle[nidle - 1], "GET /metrics HTTP/1.1\r\nX: ", 26) > 0);
	}
	/* 100 more from one address: the per-address limit (32) turns them away */
	first = nidle;
	for (i = 0; i < 100 && nidle < 300; i++) {
		idle[nidle] = connect_from("127.0.0.12", port);
		if (idle[nidle] >= 0)
			nidle++;
	}
	usleep(300000);
	for (i = first; i < nidle; i++) {
		char c;

		if (recv(idle[i], &c, 1, MSG_DONTWAIT) == 0)
			closed++;
	}
	if (closed < 100 - 32 - 5)
		fail_msg("per-address limit: only %d of 100 connections closed", closed);
	/* while they are all held open (idle timeout 2 s) */
	t = http(port, "GET /metrics HTTP/1.0\r\n\r\n");
	if (!strstr(t, " 200 ") || !strstr(t, "phasetrace_build_info"))
		fail_msg("/metrics with %d idle connections: %.200s", nidle, t);
	free(t);
	for (i = 0; i < (int)(sizeof(garbage) / sizeof(garbage[0])); i++) {
		t = http(port, garbage[i]);
		if (*t && !strstr(t, " 400 ") && !strstr(t, " 505 "))
			fail_msg("garbage %d answered: %.100s", i, t);
		free(t);
	}
	/* an oversized header: refused, not buffered without limit */
	memset(hdr, 'a', sizeof(hdr));
	memcpy(hdr, "GET / HTTP/1.0\r\nX: ", 19);
	memcpy(hdr + sizeof(hdr) - 5, "\r\n\r\n", 5);
	t = http(port, hdr);
	assert_null(strstr(t, " 200 "));
	free(t);

	t = http(port, "GET /metrics HTTP/1.0\r\n\r\n");
	if (!strstr(t, " 200 ") || !strstr(t, "phasetrace_build_info"))
		fail_msg("/metrics after garbage: %.200s", t);
	free(t);
	for (i = 0; i < nidle; i++)
		close(idle[i]);
	exporter__free(e);
	metrics__free(m);
}

/* ---- top on a pseudo-terminal ---- */

/* Child: top over synthetic traffic until q or a signal. */
static void __attribute__((noreturn)) top_child(void)
{
	struct metrics_opts mo = { .intervals = true };
	struct metrics *m = metrics__new(&mo);
	struct top_opts to = { .metrics = m, .delay_s = 0.2 };
	struct request r, child;
	struct top *t;
	int i = 0;

	setenv("TERM", "xterm", 1);
	if (top__new(&t, &to))
		_exit(3);
	while (!top__done(t)) {
		struct pollfd p = { .fd = top__fd(t), .events = POLLIN };

		if (poll(&p, 1, 20) > 0)
			top__handle_input(t);
		server_req(&r, "webapp", 8080, i % 10 ? 200 : 500, (1 + i % 40) * MS);
		client_req(&child, "webapp", "db.internal", 200);
		r.nchildren = 1;
		r.children[0] = &child;
		metrics__on_request(m, &r);
		i++;
		top__tick(t, mono_now_ns());
	}
	top__free(t);
	metrics__free(m);
	printf("\nTOP-EXITED\n");
	fflush(stdout);
	_exit(0);
}

/* Read from the pty until text shows up (or 5 s pass); the output is kept in buf. */
static bool pty_wait(int fd, char *buf, size_t cap, size_t *len, const char *text)
{
	uint64_t end = mono_now_ns() + 5000000000ULL;

	while (mono_now_ns() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(fd, buf + *len, cap - *len - 1);
		if (n <= 0)
			break;
		*len += n;
		buf[*len] = '\0';
		if (memmem(buf, *len, text, strlen(text)))
			return true;
		if (*len > cap / 2) {	/* keep the tail */
			memmove(buf, buf + *len - cap / 4, cap / 4);
			*len = cap / 4;
		}
	}
	return false;
}

static int run_top_on_pty(const char *keys, int sig, char *buf, size_t cap)
{
	struct winsize ws = { .ws_row = 24, .ws_col = 80 };
	size_t len = 0;
	int fd, status = -1, i;
	pid_t pid;

	pid = forkpty(&fd, NULL, NULL, &ws);
	assert_true(pid >= 0);
	if (!pid)
		top_child();
	if (!pty_wait(fd, buf, cap, &len, "db.internal"))
		fail_msg("top never showed a row; output: %.300s", buf);
	/* a resize must not break anything */
	ws.ws_col = 120;
	ioctl(fd, TIOCSWINSZ, &ws);
	kill(pid, SIGWINCH);
	usleep(300000);
	if (keys)
		assert_int_equal(write(fd, keys, strlen(keys)), (ssize_t)strlen(keys));
	if (sig)
		kill(pid, sig);
	pty_wait(fd, buf, cap, &len, "TOP-EXITED");
	for (i = 0; i < 50 && waitpid(pid, &status, WNOHANG) == 0; i++)
		usleep(100000);
	if (i == 50) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		fail_msg("top did not exit");
	}
	close(fd);
	return status;
}

static void test_top_quit_key(void **state)
{
	static char buf[1 << 16];
	int status = run_top_on_pty("/web\r>>rp q", 0, buf, sizeof(buf));
	const char *rmcup;

	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_non_null(strstr(buf, "TOP-EXITED"));
	/* endwin() left the alternate screen before the child printed */
	rmcup = strstr(buf, "\x1b[?1049l");
	assert_true(rmcup && rmcup < strstr(buf, "TOP-EXITED"));
}

static void test_top_sigterm(void **state)
{
	static char buf[1 << 16];
	int status = run_top_on_pty(NULL, SIGTERM, buf, sizeof(buf));

	/* the handler ends the loop: a clean exit, not death by signal */
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_non_null(strstr(buf, "\x1b[?1049l"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exposition),
		cmocka_unit_test(test_grpc_class),
		cmocka_unit_test(test_empty_exposition),
		cmocka_unit_test(test_cardinality),
		cmocka_unit_test(test_cardinality_comms_and_series),
		cmocka_unit_test(test_label_escaping),
		cmocka_unit_test(test_parse_buckets),
		cmocka_unit_test(test_decimal_comma_locale),
		cmocka_unit_test(test_intervals),
		cmocka_unit_test(test_parse_listen),
		cmocka_unit_test(test_parse_delay),
		cmocka_unit_test(test_exporter_http),
		cmocka_unit_test(test_exporter_ipv6),
		cmocka_unit_test(test_exporter_hostile_clients),
		cmocka_unit_test(test_top_quit_key),
		cmocka_unit_test(test_top_sigterm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
