// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * /metrics over HTTP with libmicrohttpd.
 *
 * We bind the socket ourselves (clear errors, port 0 for tests) and hand it
 * to MHD, which runs one internal epoll thread. Hardening: connection and
 * per-address limits, an idle timeout, MHD's bounded per-connection memory,
 * only GET/HEAD of two paths. The HTTP thread has every signal blocked so
 * SIGINT/SIGTERM/SIGWINCH reach the collector. MHD calls its panic handler
 * only on a broken internal invariant (memory corruption) and documents that
 * returning from it is never safe: ours says so in one line and aborts.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <microhttpd.h>
#include "export/exporter.h"
#include "util/log.h"

#define DEFAULT_CONN_LIMIT	256
#define DEFAULT_PER_IP_LIMIT	32
#define DEFAULT_TIMEOUT_S	10

struct exporter {
	struct MHD_Daemon *daemon;
	struct metrics *metrics;
	int fd;
	int port;
	unsigned long scrapes;
	struct metrics *shadow;	/* NULL unless --kernel-agg=check */
};

static const char index_html[] =
	"<!DOCTYPE html>\n<html><head><title>phasetrace</title></head><body>\n"
	"<h1>phasetrace</h1>\n<p>Request phases traced with eBPF.</p>\n"
	"<p><a href=\"/metrics\">/metrics</a></p>\n</body></html>\n";

/*
 * libmicrohttpd: "While cb is allowed to return and MHD will then try to
 * continue, this is never safe"; its default prints and abort()s. So do we,
 * with a sentence the operator can act on. BPF links are file descriptors:
 * the kernel detaches them when the process ends.
 */
static void on_panic(void *cls, const char *file, unsigned int line, const char *reason)
{
	pt_err("internal error in the HTTP server (libmicrohttpd %s:%u: %s); stopping",
	       file ?: "?", line, reason ?: "no detail");
	abort();
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int code, const char *body,
			     const char *type)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result serve_metrics(struct exporter *e, struct metrics *m,
				     struct MHD_Connection *c)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	size_t len;
	char *buf;

	if (metrics__render(m, &buf, &len))
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", "text/plain");
	r = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(buf);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, EXPORTER_CONTENT_TYPE);
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	__atomic_add_fetch(&e->scrapes, 1, __ATOMIC_RELAXED);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct exporter *e = cls;

	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n",
			     "text/plain");
	if (!strcmp(url, "/metrics"))
		return serve_metrics(e, e->metrics, c);
	if (e->shadow && !strcmp(url, "/metrics/shadow"))
		return serve_metrics(e, e->shadow, c);
	if (!strcmp(url, "/"))
		return reply(c, MHD_HTTP_OK, index_html, "text/html; charset=utf-8");
	return reply(c, MHD_HTTP_NOT_FOUND, "not found\n", "text/plain");
}

static int parse_port(const char *s, char *err, size_t errlen, const char *arg)
{
	char *end;
	long v;

	if (!*s || *s < '0' || *s > '9') {
		snprintf(err, errlen, "--listen %s: missing port (ADDR:PORT, e.g. 127.0.0.1:9873)",
			 arg);
		return -EINVAL;
	}
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 0 || v > 65535) {
		snprintf(err, errlen, "--listen %s: port must be a number from 0 to 65535", arg);
		return -EINVAL;
	}
	return (int)v;
}

/* --listen's parts: the address (NULL for a bare port), its length, the port text. */
struct listen_parts {
	const char *addr;
	size_t addr_len;
	const char *port;
	int family;
};

/* Split PORT, [ADDR6]:PORT or ADDR:PORT. 0 or -EINVAL with a message in err. */
static int split_listen(const char *s, struct listen_parts *lp, char *err, size_t errlen)
{
	const char *colon, *p;

	*lp = (struct listen_parts){ .family = AF_INET, .port = s };
	if (s[strspn(s, "0123456789")] == '\0')
		return 0;	/* bare port: loopback, the safe default */
	if (s[0] == '[') {
		p = strchr(s, ']');
		if (!p || p[1] != ':') {
			snprintf(err, errlen, "--listen %s: expected [IPv6]:PORT, e.g. [::1]:9873",
				 s);
			return -EINVAL;
		}
		*lp = (struct listen_parts){ s + 1, p - s - 1, p + 2, AF_INET6 };
		return 0;
	}
	colon = strrchr(s, ':');
	if (!colon) {
		snprintf(err, errlen, "--listen %s: missing port (ADDR:PORT, e.g. 127.0.0.1:9873)",
			 s);
		return -EINVAL;
	}
	if (strchr(s, ':') != colon) {
		snprintf(err, errlen, "--listen %s: put IPv6 addresses in brackets, e.g. "
			 "[::1]:9873", s);
		return -EINVAL;
	}
	*lp = (struct listen_parts){ s, colon - s, colon + 1, AF_INET };
	return 0;
}

int exporter__parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len,
			   char *err, size_t errlen)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	char host[INET6_ADDRSTRLEN + 1];
	struct listen_parts lp;
	int port, ret;

	memset(ss, 0, sizeof(*ss));
	if (!s || !*s) {
		snprintf(err, errlen, "--listen: empty address, expected ADDR:PORT "
			 "(e.g. 127.0.0.1:9873 or [::1]:9873)");
		return -EINVAL;
	}
	ret = split_listen(s, &lp, err, errlen);
	if (ret)
		return ret;
	if (lp.addr_len >= sizeof(host))
		goto bad_addr;
	memcpy(host, lp.addr ?: "", lp.addr_len);
	host[lp.addr_len] = '\0';
	if (!lp.addr)
		in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (lp.family == AF_INET6 && inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
		goto bad_addr;
	else if (lp.family == AF_INET && !lp.addr_len)
		in4->sin_addr.s_addr = htonl(INADDR_ANY);	/* ":9873": all IPv4 */
	else if (lp.family == AF_INET && inet_pton(AF_INET, host, &in4->sin_addr) != 1)
		goto bad_addr;
	port = parse_port(lp.port, err, errlen, s);
	if (port < 0)
		return port;
	if (lp.family == AF_INET6) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*len = sizeof(*in6);
	} else {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		*len = sizeof(*in4);
	}
	return 0;
bad_addr:
	snprintf(err, errlen, "--listen %s: not an IP address (use an IPv4 address or "
		 "[IPv6]; host names are not resolved)", s);
	return -EINVAL;
}

static const char *bind_hint(int err)
{
	switch (err) {
	case EADDRINUSE:
		return " (another phasetrace serve? choose a port with --listen)";
	case EACCES:
		return " (ports below 1024 need CAP_NET_BIND_SERVICE)";
	case EADDRNOTAVAIL:
		return " (no interface has this address)";
	default:
		return "";
	}
}

int exporter__new(struct exporter **out, struct metrics *m, const struct exporter_opts *opts,
		  char *err, size_t errlen)
{
	static const struct exporter_opts defaults;
	const char *listen_s;
	struct sockaddr_storage ss;
	sigset_t all, old;
	struct exporter *e;
	socklen_t len;
	int one = 1, ret;

	*out = NULL;
	if (!opts)
		opts = &defaults;
	listen_s = opts->listen ?: EXPORTER_DEFAULT_LISTEN;
	ret = exporter__parse_listen(listen_s, &ss, &len, err, errlen);
	if (ret)
		return ret;
	e = calloc(1, sizeof(*e));
	if (!e) {
		snprintf(err, errlen, "cannot start the HTTP server: out of memory");
		return -ENOMEM;
	}
	e->metrics = m;
	e->shadow = opts->shadow;
	e->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (e->fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot listen on %s: %s", listen_s, strerror(errno));
		goto fail;
	}
	setsockopt(e->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(e->fd, (struct sockaddr *)&ss, len) || listen(e->fd, 64)) {
		ret = -errno;
		snprintf(err, errlen, "cannot listen on %s: %s%s", listen_s, strerror(errno),
			 bind_hint(errno));
		goto fail;
	}
	len = sizeof(ss);
	if (getsockname(e->fd, (struct sockaddr *)&ss, &len) == 0)
		e->port = ntohs(ss.ss_family == AF_INET6 ?
				((struct sockaddr_in6 *)&ss)->sin6_port :
				((struct sockaddr_in *)&ss)->sin_port);

	MHD_set_panic_func(on_panic, NULL);
	/* the HTTP thread inherits this mask: signals stay with the collector */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	e->daemon = MHD_start_daemon(
		MHD_USE_AUTO_INTERNAL_THREAD | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
		0, NULL, NULL, on_request, e,
		MHD_OPTION_LISTEN_SOCKET, e->fd,
		MHD_OPTION_CONNECTION_LIMIT, opts->conn_limit ?: DEFAULT_CONN_LIMIT,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, opts->per_ip_limit ?: DEFAULT_PER_IP_LIMIT,
		MHD_OPTION_CONNECTION_TIMEOUT, opts->timeout_s ?: DEFAULT_TIMEOUT_S,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384,
		MHD_OPTION_END);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!e->daemon) {
		ret = -EIO;
		snprintf(err, errlen, "cannot start the HTTP server on %s", listen_s);
		goto fail;
	}
	*out = e;
	return 0;
fail:
	if (e->fd >= 0)
		close(e->fd);
	free(e);
	return ret;
}

void exporter__free(struct exporter *e)
{
	if (!e)
		return;
	if (e->daemon) {
		MHD_stop_daemon(e->daemon);	/* closes the listen socket it was given */
		e->fd = -1;
	}
	if (e->fd >= 0)
		close(e->fd);
	free(e);
}

int exporter__port(const struct exporter *e)
{
	return e ? e->port : -EINVAL;
}

unsigned long exporter__scrapes(const struct exporter *e)
{
	return e ? __atomic_load_n(&e->scrapes, __ATOMIC_RELAXED) : 0;
}
