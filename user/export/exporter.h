/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * `phasetrace serve`: GET /metrics over HTTP (libmicrohttpd, one internal
 * polling thread). The HTTP thread only calls metrics__render(); a slow or
 * hostile client never blocks tracing. Only a libmicrohttpd panic (a broken
 * internal invariant) ends the process, with one message.
 */
#ifndef PT_EXPORTER_H
#define PT_EXPORTER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include "export/metrics.h"

#define EXPORTER_DEFAULT_LISTEN		"127.0.0.1:9873"
#define EXPORTER_CONTENT_TYPE		"text/plain; version=0.0.4; charset=utf-8"

struct exporter_opts {
	const char *listen;		/* ADDR:PORT or [ADDR6]:PORT; NULL: 127.0.0.1:9873 */
	unsigned int conn_limit;	/* concurrent connections; 0: 256 */
	unsigned int per_ip_limit;	/* per client address; 0: 32 */
	unsigned int timeout_s;		/* idle connection timeout; 0: 10 */
	struct metrics *shadow;		/* also served on /metrics/shadow (--kernel-agg=check) */
};

struct exporter;

/*
 * Listen and start the HTTP thread. 0 or negative errno, with a message for
 * the operator in err ("cannot listen on 127.0.0.1:9873: address already in
 * use (another phasetrace serve? pick one with --listen)").
 */
int exporter__new(struct exporter **out, struct metrics *m, const struct exporter_opts *opts,
		  char *err, size_t errlen);
/* Stop the thread, close the socket. NULL-safe. */
void exporter__free(struct exporter *e);
/* Port actually bound (useful with port 0). */
int exporter__port(const struct exporter *e);
/* Scrapes served. */
unsigned long exporter__scrapes(const struct exporter *e);

/* Parse --listen. 0 or -EINVAL with a message in err. Port 0 = any free port. */
int exporter__parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len,
			   char *err, size_t errlen);

#endif
