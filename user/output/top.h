/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * `phasetrace top`: ncurses live view of the rows kept by metrics (one per
 * comm, role, peer): rates, errors, p50/p99 over the last interval, and the
 * waterfall of the slowest request of that interval.
 *
 * Driven by the collector's loop, single-threaded: add top__fd() to epoll
 * and call top__handle_input() when it is readable, call top__tick() at
 * least every 100 ms or so (it redraws once per -d interval and picks up
 * terminal resizes), stop when top__done().
 */
#ifndef PT_TOP_H
#define PT_TOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "export/metrics.h"
#include "assemble/sink.h"

struct top_opts {
	struct metrics *metrics;	/* created with .intervals; NULL: top owns one */
	double delay_s;			/* -d: refresh interval; 0: 1 second */
	const char *filter;		/* initial filter text, NULL for none */
	bool no_color;
	/* called once when the user quits (q) or a signal arrives: e.g. collector__stop */
	void (*on_quit)(void *ctx);
	void *quit_ctx;
};

struct top;

/*
 * Take over the terminal (stdin/stdout). 0, -ENOTTY when stdout is not a
 * terminal, -EINVAL (metrics without intervals), -ENOMEM, -EIO (ncurses).
 * Installs SIGINT/SIGTERM handlers that make top__done() true unless the
 * program already handles them; the terminal is restored by top__free()
 * and, as a fallback, at exit.
 */
int top__new(struct top **out, const struct top_opts *opts);
/* Restore the terminal. NULL-safe. */
void top__free(struct top *t);

/* Feed a finished request (when top owns its metrics). */
void top__on_request(struct top *t, const struct request *r);
struct sink top__sink(struct top *t);
struct metrics *top__metrics(struct top *t);

/* File descriptor to poll for keys (stdin). */
int top__fd(const struct top *t);
/* Read pending keys: q quit, p pause, < > sort column, r reverse, / filter. */
void top__handle_input(struct top *t);
/* now_ns: CLOCK_MONOTONIC. Rolls the interval and redraws when due. */
void top__tick(struct top *t, uint64_t now_ns);
bool top__done(const struct top *t);

/* The same with the collector's callback signature (collector__on_tick / __on_fd). */
void top__tick_cb(void *top, uint64_t now_ns);
void top__input_cb(void *top, uint64_t now_ns);

/* Parse -d SECONDS (0.1 .. 3600). 0 or -EINVAL with a message in err. */
int top__parse_delay(const char *s, double *out, char *err, size_t errlen);

#endif
