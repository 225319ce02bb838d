// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* --otlp: the queue, the sender thread and its HTTP client (libcurl). See otlp.h. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>

#include "export/metrics.h"
#include "export/otlp.h"
#include "export/otlp_encode.h"
#include "util/log.h"
#include "util/clock.h"

#define CONNECT_TIMEOUT_MS	2000
#define POST_TIMEOUT_MS		5000
#define BACKOFF_FIRST_MS	100

struct otlp {
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* queue grew, or stop */
	pthread_t thread;
	bool thread_started, stop;
	uint64_t stop_deadline;		/* CLOCK_MONOTONIC ns, once stop */
	/* ring of request copies; qspans: the spans they make */
	struct request **q;
	int qcap, qhead, qlen, qspans;
	uint64_t oldest_ns;		/* when the oldest queued request came */
	struct otlp_opts o;
	CURL *curl;
	struct curl_slist *headers;
	char *endpoint;
	bool failing;			/* the last POST failed: say so once, not per batch */
	struct otlp_salt salt;
	char host[256];
	struct otlp_stats st;		/* under lock */
};

/* Wait on the condition (o->lock held) until woken or the monotonic deadline. */
static void wait_until(struct otlp *o, uint64_t deadline)
{
	struct timespec ts = { deadline / 1000000000ULL, deadline % 1000000000ULL };

	pthread_cond_timedwait(&o->cond, &o->lock, &ts);
}

/* ---- the command line ---- */

int otlp__check_url(const char *url, char *err, size_t errlen)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *query = NULL, *frag = NULL;
	int ret = -EINVAL;

	if (!u)
		return -ENOMEM;
	if (strpbrk(url, " \t\r\n") || curl_url_set(u, CURLUPART_URL, url, 0) ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) || !host[0])
		snprintf(err, errlen, "--otlp: '%s' is not a URL; give the collector's base URL, "
			 "e.g. http://127.0.0.1:4318", url);
	else if (strcmp(scheme, "http") && strcmp(scheme, "https"))
		snprintf(err, errlen, "--otlp: '%s' is not an http:// or https:// URL (OTLP/HTTP)",
			 url);
	else if (!curl_url_get(u, CURLUPART_QUERY, &query, 0) ||
		 !curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0))
		snprintf(err, errlen, "--otlp: '%s' has a query or fragment; give the base URL, "
			 "to which /v1/traces is appended", url);
	else
		ret = 0;
	curl_free(scheme);
	curl_free(host);
	curl_free(query);
	curl_free(frag);
	curl_url_cleanup(u);
	return ret;
}

/* An HTTP field name (RFC 9110 token) '=' a value without control characters. */
int otlp__check_header(const char *kv, char *err, size_t errlen)
{
	const char *eq = strchr(kv, '=');
	size_t klen = eq ? (size_t)(eq - kv) : 0;

	/* never echo more than the name: the value is often a secret */
	if (!eq) {
		snprintf(err, errlen, "--otlp-header takes KEY=VALUE, e.g. "
			 "'Authorization=Bearer TOKEN' (no '=' given)");
		return -EINVAL;
	}
	if (!klen || strspn(kv, "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != klen) {
		snprintf(err, errlen, "--otlp-header: '%.*s' is not an HTTP header name",
			 (int)klen, kv);
		return -EINVAL;
	}
	for (const unsigned char *p = (const unsigned char *)eq + 1; *p; p++) {
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f) {
			snprintf(err, errlen, "--otlp-header: the value of %.*s holds a control "
				 "character", (int)klen, kv);
			return -EINVAL;
		}
	}
	return 0;
}

/* ---- sending ---- */

static size_t discard_body(char *p, size_t size, size_t n, void *ctx)
{
	return size * n;	/* the response only matters by its status */
}

/* "K=V" options as "K: V" lines after our Content-Type. 0 or -ENOMEM. */
static int make_headers(struct otlp *o)
{
	struct curl_slist *l = curl_slist_append(NULL, "Content-Type: application/x-protobuf");

	for (int i = 0; l && i < o->o.nheaders; i++) {
		const char *kv = o->o.headers[i], *eq = strchr(kv, '=');
		char *line;
		struct curl_slist *n = NULL;

		if (asprintf(&line, "%.*s: %s", (int)(eq - kv), kv, eq + 1) < 0)
			break;
		n = curl_slist_append(l, line);
		free(line);
		if (!n)
			break;
		l = n;
	}
	o->headers = l;
	return l && curl_slist_append(l, "Expect:") ? 0 : -ENOMEM;	/* no 100-continue */
}

static int setup_curl(struct otlp *o)
{
	size_t n = strlen(o->o.url);

	while (n && o->o.url[n - 1] == '/')
		n--;
	if (asprintf(&o->endpoint, "%.*s/v1/traces", (int)n, o->o.url) < 0)
		return -ENOMEM;
	o->curl = curl_easy_init();
	if (!o->curl || make_headers(o))
		return -ENOMEM;
	curl_easy_setopt(o->curl, CURLOPT_URL, o->endpoint);
	curl_easy_setopt(o->curl, CURLOPT_HTTPHEADER, o->headers);
	curl_easy_setopt(o->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(o->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(o->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
	curl_easy_setopt(o->curl, CURLOPT_USERAGENT, "phasetrace-otlp");
	curl_easy_setopt(o->curl, CURLOPT_WRITEFUNCTION, discard_body);
	return 0;
}

/* One POST: 0 accepted, 1 worth retrying (network, 429, 502-504), -1 refused for good. */
static int post(struct otlp *o, const uint8_t *buf, size_t len, long timeout_ms)
{
	long code = 0;
	CURLcode rc;

	curl_easy_setopt(o->curl, CURLOPT_POSTFIELDS, buf);
	curl_easy_setopt(o->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(o->curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	rc = curl_easy_perform(o->curl);
	if (rc == CURLE_OK)
		curl_easy_getinfo(o->curl, CURLINFO_RESPONSE_CODE, &code);
	if (rc == CURLE_OK && code >= 200 && code < 300) {
		if (o->failing)
			pt_warn("otlp: %s accepts spans again", o->endpoint);
		o->failing = false;
		return 0;
	}
	if (!o->failing) {
		if (rc != CURLE_OK)
			pt_warn("otlp: cannot send spans to %s: %s (retrying; drops are "
				"counted in phasetrace_otlp_spans_total)", o->endpoint,
				curl_easy_strerror(rc));
		else
			pt_warn("otlp: %s answered HTTP %ld to spans (drops are counted in "
				"phasetrace_otlp_spans_total)", o->endpoint, code);
	}
	o->failing = true;
	return rc != CURLE_OK || code == 429 || (code >= 502 && code <= 504) ? 1 : -1;
}

/* Encode and send one batch, retrying with exponential backoff. Called unlocked. */
static void send_batch(struct otlp *o, struct request **reqs, int n, int nspans)
{
	long backoff = BACKOFF_FIRST_MS, timeout, left;
	uint64_t until;
	uint8_t *buf;
	size_t len;
	int rc = -1;

	if (otlp_encode(&o->salt, o->host, reqs, n, &buf, &len) == 0) {
		for (int try = 1;; try++, backoff *= 2) {
			pthread_mutex_lock(&o->lock);
			left = (long)(((int64_t)o->stop_deadline - (int64_t)mono_now_ns()) / 1000000);
			timeout = !o->stop || left > POST_TIMEOUT_MS ? POST_TIMEOUT_MS : left;
			pthread_mutex_unlock(&o->lock);
			if (timeout <= 0)	/* the flush at exit has no time left */
				break;
			rc = post(o, buf, len, timeout);
			if (rc <= 0 || try == OTLP_MAX_TRIES)
				break;
			pthread_mutex_lock(&o->lock);
			o->st.batches_retried++;
			until = mono_now_ns() + backoff * 1000000ULL;
			while (!o->stop && mono_now_ns() < until)	/* the flush retries no more */
				wait_until(o, until);
			timeout = o->stop;
			pthread_mutex_unlock(&o->lock);
			if (timeout)
				break;
		}
		free(buf);
	}
	pthread_mutex_lock(&o->lock);
	if (rc == 0) {
		o->st.spans_sent += nspans;
		o->st.batches_sent++;
	} else {
		o->st.spans_failed += nspans;
		o->st.batches_failed++;
	}
	pthread_mutex_unlock(&o->lock);
}

/* ---- the queue and the sender thread ---- */

/* Up to o->o.batch spans of whole request trees off the queue (at least one tree). */
static int take_batch(struct otlp *o, struct request **out, int *nspans)
{
	int n = 0, spans = 0;

	while (o->qlen) {
		struct request *r = o->q[o->qhead];
		int k = otlp_span_count(r);

		if (n && spans + k > o->o.batch)
			break;
		out[n++] = r;
		spans += k;
		o->qhead = (o->qhead + 1) % o->qcap;
		o->qlen--;
	}
	o->qspans -= spans;
	o->oldest_ns = mono_now_ns();
	*nspans = spans;
	return n;
}

/* Drop what is still queued when the flush time is up. Called locked. */
static void drop_queued(struct otlp *o)
{
	struct request *r;
	int n;

	while (o->qlen) {
		r = o->q[o->qhead];
		o->qhead = (o->qhead + 1) % o->qcap;
		o->qlen--;
		n = otlp_span_count(r);
		o->qspans -= n;
		o->st.spans_shutdown += n;
		metrics__request_free(r);
	}
}

static void *sender_main(void *arg)
{
	struct otlp *o = arg;
	struct request **batch = calloc(o->o.batch, sizeof(*batch));
	int n, nspans;

	pthread_mutex_lock(&o->lock);
	while (batch && (o->qlen || !o->stop)) {
		if (!o->qlen) {
			pthread_cond_wait(&o->cond, &o->lock);
			continue;
		}
		/* a partial batch waits a little for more, unless we are flushing */
		while (!o->stop && o->qspans < o->o.batch &&
		       mono_now_ns() < o->oldest_ns + o->o.delay_ms * 1000000ULL)
			wait_until(o, o->oldest_ns + o->o.delay_ms * 1000000ULL);
		if (o->stop && mono_now_ns() >= o->stop_deadline) {
			drop_queued(o);
			break;
		}
		n = take_batch(o, batch, &nspans);
		pthread_mutex_unlock(&o->lock);
		send_batch(o, batch, n, nspans);
		for (int i = 0; i < n; i++)
			metrics__request_free(batch[i]);
		pthread_mutex_lock(&o->lock);
	}
	drop_queued(o);		/* only if calloc failed */
	pthread_mutex_unlock(&o->lock);
	free(batch);
	return NULL;
}

void otlp__on_request(struct otlp *o, const struct request *r)
{
	int n = otlp_span_count(r);
	struct request *copy;

	pthread_mutex_lock(&o->lock);
	if (o->qspans + n > o->o.max_queue || o->qlen == o->qcap) {
		o->st.spans_queue_full += n;
		pthread_mutex_unlock(&o->lock);
		return;
	}
	pthread_mutex_unlock(&o->lock);
	copy = metrics__request_dup(r);		/* outside the lock: the sender takes it */
	pthread_mutex_lock(&o->lock);
	if (!copy || o->qspans + n > o->o.max_queue || o->qlen == o->qcap) {
		o->st.spans_queue_full += n;
	} else {
		if (!o->qlen)
			o->oldest_ns = mono_now_ns();
		o->q[(o->qhead + o->qlen++) % o->qcap] = copy;
		o->qspans += n;
		copy = NULL;
		pthread_cond_signal(&o->cond);
	}
	pthread_mutex_unlock(&o->lock);
	metrics__request_free(copy);
}

static void sink_on_request(void *ctx, const struct request *req)
{
	otlp__on_request(ctx, req);
}

struct sink otlp__sink(struct otlp *o)
{
	return (struct sink){ .name = "otlp", .on_request = sink_on_request, .ctx = o };
}

void otlp__stats(struct otlp *o, struct otlp_stats *st)
{
	pthread_mutex_lock(&o->lock);
	*st = o->st;
	pthread_mutex_unlock(&o->lock);
}

/* The thread starts with every signal blocked: SIGINT and SIGTERM are the collector's. */
static int start_thread(struct otlp *o)
{
	sigset_t all, old;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&o->thread, NULL, sender_main, o);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	o->thread_started = !err;
	return -err;
}

static int init_sync(struct otlp *o)
{
	pthread_condattr_t ca;
	int err;

	pthread_mutex_init(&o->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	err = pthread_cond_init(&o->cond, &ca);
	pthread_condattr_destroy(&ca);
	return -err;
}

int otlp__new(struct otlp **out, const struct otlp_opts *opts, char *err, size_t errlen)
{
	struct otlp *o = calloc(1, sizeof(*o));
	int ret = -ENOMEM;

	*out = NULL;
	if (!o || init_sync(o))
		goto cleanup;
	o->o = *opts;
	o->o.max_queue = opts->max_queue > 0 ? opts->max_queue : OTLP_DEFAULT_QUEUE;
	o->o.batch = opts->batch > 0 ? opts->batch : OTLP_DEFAULT_BATCH;
	o->o.delay_ms = opts->delay_ms > 0 ? opts->delay_ms : OTLP_DEFAULT_DELAY_MS;
	o->o.flush_ms = opts->flush_ms > 0 ? opts->flush_ms : 3000;
	/* libcurl's global state, here on the main thread: curl_easy_init() would do it
	 * implicitly, and that is not thread-safe */
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		goto cleanup;
	o->qcap = o->o.max_queue;
	o->q = calloc(o->qcap, sizeof(*o->q));
	if (getrandom(&o->salt, sizeof(o->salt), 0) != sizeof(o->salt))
		ret = -errno;
	else if (o->q && gethostname(o->host, sizeof(o->host) - 1) == 0 && !setup_curl(o))
		ret = start_thread(o);
cleanup:
	if (ret) {
		snprintf(err, errlen, "cannot start the OTLP exporter: %s", strerror(-ret));
		otlp__free(o);
		return ret;
	}
	*out = o;
	return 0;
}

void otlp__stop(struct otlp *o)
{
	if (!o || !o->thread_started)
		return;
	pthread_mutex_lock(&o->lock);
	o->stop = true;
	o->stop_deadline = mono_now_ns() + o->o.flush_ms * 1000000ULL;
	pthread_cond_signal(&o->cond);
	pthread_mutex_unlock(&o->lock);
	pthread_join(o->thread, NULL);
	o->thread_started = false;
}

void otlp__free(struct otlp *o)
{
	if (!o)
		return;
	otlp__stop(o);
	curl_easy_cleanup(o->curl);
	curl_slist_free_all(o->headers);
	free(o->endpoint);
	free(o->q);
	pthread_cond_destroy(&o->cond);
	pthread_mutex_destroy(&o->lock);
	free(o);
}
