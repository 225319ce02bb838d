// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * `phasetrace top`: a table of metrics rows over the last interval and the
 * waterfall of its slowest request. Reads everything from metrics (the same
 * histograms /metrics exports); owns nothing but the screen and the view
 * state (sort column, filter, pause).
 */
#include <errno.h>
#include <curses.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "output/top.h"
#include "output/waterfall.h"
#include "util/sanitize.h"
#include "util/clock.h"

#define MAX_WF_LINES	256
#define HEADER_LINES	3
#define FILTER_LEN	64

enum col_id {
	C_COMM, C_CONTAINER, C_ROLE, C_PEER, C_RATE, C_ERR, C_P50, C_P99,
	C_DNS, C_CONN, C_TLS, C_SEND, C_TTFB, C_RECV, C_RENDER, C__COUNT,
};

struct col {
	const char *hdr;
	int width;
	bool left;
	int phase;		/* p99 of this phase, -1 if not a phase column */
	bool wide_only;		/* shown only when the terminal has room */
};

/* Durations print in at most 5 characters: 850ns 999us 9.9ms 999ms 9.99s 99.9s 999s */
static const struct col cols[C__COUNT] = {
	[C_COMM] = { "COMM", 10, true, -1 },
	[C_CONTAINER] = { "CONTAINER", CT_ID_SHORT, true, -1 },	/* short id or unit */
	[C_ROLE] = { "R", 1, true, -1 },
	[C_PEER] = { "PEER", 0, true, -1 },	/* takes the remaining width */
	[C_RATE] = { "REQ/s", 5, false, -1 },
	[C_ERR] = { "ERR", 4, false, -1 },
	[C_P50] = { "P50", 5, false, -1 },
	[C_P99] = { "P99", 5, false, -1 },
	[C_DNS] = { "DNS", 5, false, PHASE_DNS },
	[C_CONN] = { "CONN", 5, false, PHASE_CONNECT },
	[C_TLS] = { "TLS", 5, false, PHASE_TLS },
	[C_SEND] = { "SEND", 5, false, PHASE_SEND, true },
	[C_TTFB] = { "TTFB", 5, false, PHASE_TTFB },
	[C_RECV] = { "RECV", 5, false, PHASE_RECV, true },
	[C_RENDER] = { "RENDER", 6, false, PHASE_RENDER },
};

#define PEER_MIN	10

struct top {
	struct metrics *m;
	bool own_metrics;
	uint64_t delay_ns;
	uint64_t last_roll;
	struct metrics_interval *iv;	/* what is shown */
	struct metrics_row **view;	/* filtered, sorted */
	int nview;
	int sort_col;
	bool sort_asc;
	bool paused, quit, color;
	bool editing;
	char filter[FILTER_LEN], saved_filter[FILTER_LEN];
	char *wf[MAX_WF_LINES];
	int nwf;
	bool shown[C__COUNT];
	int peer_w;
	void (*on_quit)(void *ctx);
	void *quit_ctx;
	bool quit_reported;
};

static void draw_screen(struct top *t);

static volatile sig_atomic_t stop_signal;
static bool screen_active;

static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

static void restore_at_exit(void)
{
	if (screen_active && !isendwin())
		endwin();
}

static void install_stop_handler(int sig)
{
	struct sigaction old, sa = { .sa_handler = on_stop_signal };

	/* leave the collector's own handling alone; no SA_RESTART: wake epoll_wait */
	if (sigaction(sig, NULL, &old) || old.sa_handler != SIG_DFL)
		return;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

int top__parse_delay(const char *s, double *out, char *err, size_t errlen)
{
	char *end;
	double v;

	static locale_t c;
	locale_t old = (locale_t)0;

	/* "-d 0.5" whatever LC_NUMERIC says */
	if (!c)
		c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	if (c)
		old = uselocale(c);
	errno = 0;
	v = s ? strtod(s, &end) : 0;
	if (old)
		uselocale(old);
	if (!s || end == s || *end || errno || !(v >= 0.1 && v <= 3600)) {
		snprintf(err, errlen, "-d %s: refresh interval must be seconds from 0.1 to 3600",
			 s ?: "");
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int top__new(struct top **out, const struct top_opts *opts)
{
	static const struct top_opts defaults;
	struct metrics_opts mo = { .intervals = true, .by_container = true };
	struct top *t;
	SCREEN *scr;

	*out = NULL;
	if (!opts)
		opts = &defaults;
	if (!isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO))
		return -ENOTTY;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->m = opts->metrics;
	if (!t->m) {
		t->m = metrics__new(&mo);
		t->own_metrics = true;
		if (!t->m) {
			free(t);
			return -ENOMEM;
		}
	}
	t->delay_ns = (uint64_t)((opts->delay_s > 0 ? opts->delay_s : 1.0) * 1e9);
	t->sort_col = C_RATE;
	t->on_quit = opts->on_quit;
	t->quit_ctx = opts->quit_ctx;
	if (opts->filter)
		snprintf(t->filter, sizeof(t->filter), "%s", opts->filter);

	/* check intervals are kept before touching the terminal */
	t->last_roll = mono_now_ns();
	{
		struct metrics_interval *probe = metrics__roll_interval(t->m, t->last_roll);

		if (!probe) {
			int err = errno == EINVAL ? -EINVAL : -ENOMEM;

			top__free(t);
			return err;
		}
		metrics_interval__free(probe);
	}

	/* before newterm: ncurses would otherwise install its own, which exit(1) */
	install_stop_handler(SIGINT);
	install_stop_handler(SIGTERM);
	setlocale(LC_CTYPE, "");	/* not LC_NUMERIC: exposition needs '.' */
	scr = newterm(NULL, stdout, stdin);
	if (!scr) {
		top__free(t);
		return -EIO;
	}
	screen_active = true;
	atexit(restore_at_exit);
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	t->color = !opts->no_color && has_colors();
	if (t->color) {
		start_color();
		use_default_colors();
		init_pair(1, COLOR_RED, -1);
		init_pair(2, COLOR_YELLOW, -1);
	}
	draw_screen(t);
	*out = t;
	return 0;
}

static void wf_clear(struct top *t)
{
	int i;

	for (i = 0; i < t->nwf; i++)
		free(t->wf[i]);
	t->nwf = 0;
}

void top__free(struct top *t)
{
	if (!t)
		return;
	if (screen_active) {
		endwin();
		screen_active = false;
	}
	wf_clear(t);
	free(t->view);
	metrics_interval__free(t->iv);
	if (t->own_metrics)
		metrics__free(t->m);
	free(t);
}

void top__on_request(struct top *t, const struct request *r)
{
	metrics__on_request(t->m, r);
}

static void sink_on_request(void *ctx, const struct request *r)
{
	top__on_request(ctx, r);
}

struct sink top__sink(struct top *t)
{
	return (struct sink){ .name = "top", .on_request = sink_on_request, .ctx = t };
}

struct metrics *top__metrics(struct top *t)
{
	return t->m;
}

int top__fd(const struct top *t)
{
	return STDIN_FILENO;
}

bool top__done(const struct top *t)
{
	return !t || t->quit || stop_signal;
}

static void report_quit(struct top *t)
{
	if (top__done(t) && t->on_quit && !t->quit_reported) {
		t->quit_reported = true;
		t->on_quit(t->quit_ctx);
	}
}

/* ---- view ---- */

static double iv_seconds(const struct top *t)
{
	if (t->iv && t->iv->end_ns > t->iv->start_ns)
		return (double)(t->iv->end_ns - t->iv->start_ns) / 1e9;
	return (double)t->delay_ns / 1e9;
}

static double col_value(const struct top *t, const struct metrics_row *r, int c)
{
	switch (c) {
	case C_RATE:
		return (double)r->reqs / iv_seconds(t);
	case C_ERR:
		return (double)r->errors;
	case C_P50:
		return (double)r->p50[METRICS_TOTAL];
	case C_P99:
		return (double)r->p99[METRICS_TOTAL];
	default:
		return cols[c].phase >= 0 ? (double)r->p99[cols[c].phase] : 0;
	}
}

static int cmp_rows(const void *a, const void *b, void *ctx)
{
	const struct metrics_row *x = *(struct metrics_row *const *)a;
	const struct metrics_row *y = *(struct metrics_row *const *)b;
	const struct top *t = ctx;
	int c = t->sort_col, d;

	switch (c) {
	case C_COMM:
		d = strcmp(x->comm, y->comm);
		break;
	case C_CONTAINER:
		d = strcmp(x->container, y->container);
		break;
	case C_ROLE:
		d = (int)x->role - (int)y->role;
		break;
	case C_PEER:
		d = strcmp(x->peer, y->peer);
		break;
	default: {
		double vx = col_value(t, x, c), vy = col_value(t, y, c);

		/* numbers: largest first unless reversed */
		d = vx < vy ? 1 : vx > vy ? -1 : 0;
		break;
	}
	}
	if (!d)
		d = x->reqs_total < y->reqs_total ? 1 : x->reqs_total > y->reqs_total ? -1 : 0;
	if (!d)
		d = strcmp(x->comm, y->comm) ?: strcmp(x->peer, y->peer);
	return t->sort_asc ? -d : d;
}

static bool row_matches(const struct top *t, const struct metrics_row *r)
{
	if (!t->filter[0])
		return true;
	return strcasestr(r->comm, t->filter) || strcasestr(r->peer, t->filter) ||
	       strcasestr(r->container, t->filter) ||
	       strcasestr(metrics__role_label(r->role), t->filter);
}

static void build_view(struct top *t)
{
	int i;

	t->nview = 0;
	if (!t->iv)
		return;
	free(t->view);
	t->view = calloc(t->iv->nrows ?: 1, sizeof(*t->view));
	if (!t->view)
		return;
	for (i = 0; i < t->iv->nrows; i++)
		if (row_matches(t, &t->iv->rows[i]))
			t->view[t->nview++] = &t->iv->rows[i];
	qsort_r(t->view, t->nview, sizeof(*t->view), cmp_rows, t);
}

static void wf_emit(void *ctx, const char *line)
{
	struct top *t = ctx;

	if (t->nwf < MAX_WF_LINES)
		t->wf[t->nwf++] = strdup(line ?: "");
	if (t->nwf && !t->wf[t->nwf - 1])
		t->nwf--;
}

/* Which columns fit, and the peer column's width. */
static void layout(struct top *t, int width)
{
	int c, used = 0, i;

	for (c = 0; c < C__COUNT; c++) {
		t->shown[c] = !cols[c].wide_only;
		if (t->shown[c] && c != C_PEER)
			used += cols[c].width + 1;
	}
	for (c = 0; c < C__COUNT; c++) {
		if (cols[c].wide_only && width - used - PEER_MIN - 16 >= cols[c].width + 1) {
			t->shown[c] = true;
			used += cols[c].width + 1;
		}
	}
	/* too narrow: drop phase columns from the right */
	for (i = C__COUNT - 1; i > C_P99 && width - used < PEER_MIN; i--) {
		if (t->shown[i]) {
			t->shown[i] = false;
			used -= cols[i].width + 1;
		}
	}
	t->peer_w = width - used - 1 > PEER_MIN ? width - used - 1 : PEER_MIN;
	if (t->peer_w > METRICS_PEER_LEN)
		t->peer_w = METRICS_PEER_LEN;
	if (!t->shown[t->sort_col])
		t->sort_col = C_RATE;
}

static void fmt_dur(char *b, size_t n, uint64_t ns, uint64_t samples)
{
	double v = (double)ns;

	if (!samples)
		snprintf(b, n, "-");
	else if (ns < 1000)
		snprintf(b, n, "%uns", (unsigned)ns);
	else if (ns < 1000000)
		snprintf(b, n, "%uus", (unsigned)(ns / 1000));
	else if (ns < 9950000)
		snprintf(b, n, "%.1fms", v / 1e6);
	else if (ns < 999500000)
		snprintf(b, n, "%.0fms", v / 1e6);
	else if (ns < 9995000000ULL)
		snprintf(b, n, "%.2fs", v / 1e9);
	else if (ns < 99950000000ULL)
		snprintf(b, n, "%.1fs", v / 1e9);
	else
		snprintf(b, n, "%.0fs", v / 1e9);
}

static void fmt_rate(char *b, size_t n, double r)
{
	if (r < 10)
		snprintf(b, n, "%.1f", r);
	else if (r < 99999.5)
		snprintf(b, n, "%.0f", r);
	else
		snprintf(b, n, "%.0fk", r / 1000);	/* at most 5 characters up to 9999k */
}

/*
 * Cells hold names a traced process or the network chose: escaped to printable ASCII
 * first (util/sanitize.h; the screen counts columns by bytes), then fitted to w.
 */
static int put_cell(char *line, int pos, int width, const struct col *c, int w,
		    const char *text)
{
	char safe[4 * (METRICS_PEER_LEN + 8)], tmp[sizeof(safe) + 2];
	const char *colon;
	bool port_last;
	size_t len;
	int n;

	pt_sanitize(safe, sizeof(safe), text, PT_SAN_ASCII);
	colon = strrchr(safe, ':');
	len = strlen(safe);
	port_last = colon && colon[1] && !colon[1 + strspn(colon + 1, "0123456789")];
	if ((int)len > w && w > 1 && port_last)
		/* addr:port: the port tells peers apart, keep the tail */
		snprintf(tmp, sizeof(tmp), "~%s", safe + len - (w - 1));
	else if ((int)len > w && w > 1)
		snprintf(tmp, sizeof(tmp), "%.*s~", w - 1, safe);
	else
		snprintf(tmp, sizeof(tmp), "%s", safe);
	if ((int)strlen(tmp) > w)
		tmp[w] = '\0';
	if (pos + w + 1 > width)
		return pos;
	n = sprintf(line + pos, c->left ? "%-*s " : "%*s ", w, tmp);
	return pos + n;
}

static void draw_row(struct top *t, int y, const struct metrics_row *r, int width)
{
	char line[512], cell[METRICS_PEER_LEN + 8];
	int c, pos = 0, attr = 0;

	for (c = 0; c < C__COUNT && pos < (int)sizeof(line) - 80; c++) {
		int w = c == C_PEER ? t->peer_w : cols[c].width;

		if (!t->shown[c])
			continue;
		switch (c) {
		case C_COMM:
			snprintf(cell, sizeof(cell), "%s", r->comm);
			break;
		case C_CONTAINER:
			snprintf(cell, sizeof(cell), "%s", r->container);
			break;
		case C_ROLE:
			snprintf(cell, sizeof(cell), "%c", r->role == PT_ROLE_CLIENT ? 'C' :
				 r->role == PT_ROLE_SERVER ? 'S' : '?');
			break;
		case C_PEER:
			snprintf(cell, sizeof(cell), "%s", r->peer);
			break;
		case C_RATE:
			fmt_rate(cell, sizeof(cell), col_value(t, r, c));
			break;
		case C_ERR:
			snprintf(cell, sizeof(cell), "%llu", (unsigned long long)r->errors);
			break;
		case C_P50:
			fmt_dur(cell, sizeof(cell), r->p50[METRICS_TOTAL], r->n[METRICS_TOTAL]);
			break;
		case C_P99:
			fmt_dur(cell, sizeof(cell), r->p99[METRICS_TOTAL], r->n[METRICS_TOTAL]);
			break;
		default:
			fmt_dur(cell, sizeof(cell), r->p99[cols[c].phase], r->n[cols[c].phase]);
			break;
		}
		pos = put_cell(line, pos, width, &cols[c], w, cell);
	}
	line[pos] = '\0';
	if (t->color && r->errors)
		attr = COLOR_PAIR(1);
	else if (!r->reqs)
		attr = A_DIM;
	attron(attr);
	mvaddnstr(y, 0, line, width);
	attroff(attr);
}

static void draw_header(struct top *t, int width)
{
	const struct metrics_interval *iv = t->iv;
	char line[512], rate[16], tbuf[16];
	time_t now = time(NULL);
	struct tm tm;
	double secs = iv_seconds(t);
	int c, pos = 0;

	localtime_r(&now, &tm);
	strftime(tbuf, sizeof(tbuf), "%H:%M:%S", &tm);
	fmt_rate(rate, sizeof(rate), iv ? (double)iv->reqs / secs : 0);
	snprintf(line, sizeof(line),
		 "phasetrace top %s  req/s %s  err %llu (total %llu)  drops %llu  procs %llu  "
		 "folded %llu", tbuf, rate, iv ? (unsigned long long)iv->errors : 0,
		 iv ? (unsigned long long)iv->errors_total : 0,
		 iv ? (unsigned long long)iv->events_dropped : 0,
		 iv ? (unsigned long long)iv->processes : 0,
		 iv ? (unsigned long long)iv->folded_total : 0);
	attron(A_BOLD);
	mvaddnstr(0, 0, line, width);
	attroff(A_BOLD);

	if (t->editing) {
		snprintf(line, sizeof(line), "filter: %s_   (Enter apply, Esc cancel)", t->filter);
	} else {
		snprintf(line, sizeof(line), "%s%s%s%ssort %s %s | q quit p pause </> sort "
			 "r reverse / filter", t->paused ? "[PAUSED] " : "",
			 t->filter[0] ? "filter '" : "", t->filter, t->filter[0] ? "' " : "",
			 cols[t->sort_col].hdr, t->sort_asc ? "asc" : "desc");
	}
	if (t->paused && t->color)
		attron(COLOR_PAIR(2));
	mvaddnstr(1, 0, line, width);
	if (t->paused && t->color)
		attroff(COLOR_PAIR(2));

	for (c = 0; c < C__COUNT; c++) {
		int w = c == C_PEER ? t->peer_w : cols[c].width;

		if (t->shown[c])
			pos = put_cell(line, pos, width, &cols[c], w, cols[c].hdr);
	}
	line[pos] = '\0';
	attron(A_REVERSE);
	mvhline(2, 0, ' ', width);
	mvaddnstr(2, 0, line, width);
	attroff(A_REVERSE);
	/* underline the sort column's header */
	pos = 0;
	for (c = 0; c < C__COUNT; c++) {
		int w = c == C_PEER ? t->peer_w : cols[c].width;

		if (!t->shown[c])
			continue;
		if (c == t->sort_col && pos + w <= width)
			mvchgat(2, pos, w, A_REVERSE | A_BOLD | A_UNDERLINE, 0, NULL);
		pos += w + 1;
	}
}

static void draw_screen(struct top *t)
{
	int width = COLS, height = LINES, avail, table_h, wf_h = 0, i, y, shown;
	const struct request *slow = t->iv ? t->iv->slowest : NULL;
	char line[512], safe[512];

	erase();
	if (width < 40 || height < 8) {
		mvaddnstr(0, 0, "terminal too small", width);
		refresh();
		return;
	}
	layout(t, width < 511 ? width : 511);
	draw_header(t, width);
	avail = height - HEADER_LINES;

	wf_clear(t);
	if (slow && avail >= 12) {
		waterfall__render(slow, width, false, wf_emit, t);
		wf_h = t->nwf + 1;
		if (wf_h > avail / 2)
			wf_h = avail / 2;
		if (wf_h < 4)
			wf_h = 4;
	}
	table_h = avail - wf_h;

	if (!t->iv || !t->iv->nrows)
		mvaddnstr(HEADER_LINES, 0, "waiting for requests...", width);
	shown = t->nview > table_h ? table_h - 1 : t->nview;
	for (i = 0, y = HEADER_LINES; i < shown; i++, y++)
		draw_row(t, y, t->view[i], width);
	if (shown < t->nview) {
		snprintf(line, sizeof(line), "  ... %d more rows (sort with < >, filter with /)",
			 t->nview - shown);
		mvaddnstr(y, 0, line, width);
	}

	if (wf_h) {
		char dur[16];

		y = HEADER_LINES + table_h;
		fmt_dur(dur, sizeof(dur), slow->dur_ns, 1);
		snprintf(line, sizeof(line), "slowest request of the interval: %s (%s) %s %s%s %s",
			 slow->comm, metrics__role_label(slow->role), slow->method,
			 slow->host[0] ? slow->host : "", slow->path, dur);
		pt_sanitize(safe, sizeof(safe), line, PT_SAN_ASCII);
		attron(A_REVERSE);
		mvhline(y, 0, ' ', width);
		mvaddnstr(y, 0, safe, width);
		attroff(A_REVERSE);
		for (i = 0; i < t->nwf && y + 1 + i < height; i++)
			mvaddnstr(y + 1 + i, 0, t->wf[i], width);
	}
	refresh();
}

static void move_sort(struct top *t, int dir)
{
	int c = t->sort_col;

	do {
		c = (c + dir + C__COUNT) % C__COUNT;
	} while (!t->shown[c] && c != t->sort_col);
	t->sort_col = c;
}

static void edit_filter(struct top *t, int ch)
{
	size_t n = strlen(t->filter);

	if (ch == 27) {				/* Esc: back to the previous filter */
		memcpy(t->filter, t->saved_filter, sizeof(t->filter));
		t->editing = false;
	} else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
		t->editing = false;
	} else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
		if (n)
			t->filter[n - 1] = '\0';
	} else if (ch >= 0x20 && ch < 0x7f && n + 1 < sizeof(t->filter)) {
		t->filter[n] = (char)ch;
		t->filter[n + 1] = '\0';
	}
}

void top__handle_input(struct top *t)
{
	bool dirty = false;
	int ch;

	while ((ch = getch()) != ERR) {
		dirty = true;
		if (ch == KEY_RESIZE)
			continue;
		if (t->editing) {
			edit_filter(t, ch);
			continue;
		}
		switch (ch) {
		case 'q':
		case 'Q':
			t->quit = true;
			report_quit(t);
			return;
		case 'p':
		case ' ':
			t->paused = !t->paused;
			break;
		case '<':
		case KEY_LEFT:
			move_sort(t, -1);
			break;
		case '>':
		case KEY_RIGHT:
			move_sort(t, 1);
			break;
		case 'r':
			t->sort_asc = !t->sort_asc;
			break;
		case '/':
			memcpy(t->saved_filter, t->filter, sizeof(t->filter));
			t->editing = true;
			break;
		default:
			break;
		}
	}
	if (dirty) {
		build_view(t);
		draw_screen(t);
	}
}

void top__tick(struct top *t, uint64_t now_ns)
{
	struct metrics_interval *iv;

	if (top__done(t)) {
		report_quit(t);
		return;
	}
	top__handle_input(t);	/* KEY_RESIZE arrives without stdin being readable */
	if (t->quit)
		return;
	if (t->last_roll && now_ns - t->last_roll < t->delay_ns)
		return;
	iv = metrics__roll_interval(t->m, now_ns);
	t->last_roll = now_ns ?: 1;
	if (!iv)
		return;
	if (t->paused) {
		metrics_interval__free(iv);	/* keep showing the frozen one */
		return;
	}
	metrics_interval__free(t->iv);
	t->iv = iv;
	build_view(t);
	draw_screen(t);
}

void top__tick_cb(void *top, uint64_t now_ns)
{
	top__tick(top, now_ns);
}

void top__input_cb(void *top, uint64_t now_ns)
{
	top__handle_input(top);
}
