// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Command line: phasetrace trace | top | serve | diagnose. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/capability.h>
#include <limits.h>
#include <stddef.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "collect/collector.h"
#include "export/exporter.h"
#include "util/caps.h"
#include "util/log.h"
#include "util/sanitize.h"
#include "export/metrics.h"
#include "output/output.h"
#include "attach/probes.h"
#include "output/top.h"
#include "diagnose/diagnose.h"
#include "export/otlp.h"
#include "export/kagg.h"

#define PT_VERSION "0.1.0"

struct cli {
	const char *cmd;
	struct collector_opts co;
	bool json;
	const char *listen;
	double *buckets;
	int nbuckets, max_peers, max_series;
	double delay_s;
	bool label_container;	/* --labels comm,container */
	/* --otlp */
	const char *otlp_url;
	const char *otlp_headers[OTLP_MAX_HEADERS];
	int notlp_headers;
	int kernel_agg;		/* --kernel-agg: index in kernel_agg_words */
};

/*
 * The options: one table from which getopt_long's options, the usage text and the
 * option labels in messages all come. A row sets its target through its setter, which
 * validates the value and returns 0, or the exit code after printing one message.
 */
struct cli_option;
typedef int (*cli_setter)(struct cli *cli, const struct cli_option *o, const char *arg);

struct cli_option {
	const char *name;	/* long option, or NULL for a short-only one */
	int key;		/* short letter, or OPT_*; 0: a usage line only */
	const char *arg;	/* the value's name in the usage, NULL: takes none */
	cli_setter set;
	size_t field;		/* offset of the target in struct cli */
	const char *const *choices;	/* set_choice: the words, in enum order */
	const char *help;	/* '\n' continues on the next line */
};

enum {
	OPT_JSON = 1000, OPT_DURATION, OPT_BTF, OPT_IDLE, OPT_VERSION,
	OPT_LISTEN, OPT_BUCKETS, OPT_MAX_PEERS, OPT_MAX_SERIES, OPT_PROBE,
	OPT_IO_HOOKS, OPT_UPROBES, OPT_THREAD_STATE,
};
enum { OPT_OTLP = 1100, OPT_OTLP_HEADER };

/* container identity options (issue 13): their own block */
enum { OPT_LABELS = 1200 };

#define FIELD(member)	offsetof(struct cli, member)

/* exec hold (user/attach/hold.h) */
enum { OPT_HOLD = 1300 };
static int set_hold_ms(struct cli *cli, const struct cli_option *o, const char *arg);

/* in-kernel aggregation (export/kagg.h) */
enum { OPT_KERNEL_AGG = 1400 };
enum { KAGG_WORD_ON, KAGG_WORD_OFF, KAGG_WORD_CHECK };
static const char *const kernel_agg_words[] = { "on", "off", "check", NULL };

/* the ring buffer's size (bpf/maps.bpf.h rb) */
enum { OPT_RING_MB = 1500 };
static int set_ring_mb(struct cli *cli, const struct cli_option *o, const char *arg);

static int set_pid(struct cli *cli, const struct cli_option *o, const char *arg);
static int set_comm(struct cli *cli, const struct cli_option *o, const char *arg);
static int set_container(struct cli *cli, const struct cli_option *o, const char *arg);
static int set_labels(struct cli *cli, const struct cli_option *o, const char *arg);
static int set_true(struct cli *cli, const struct cli_option *o, const char *arg);
static int set_string(struct cli *cli, const struct cli_option *o, const char *arg);
static int set_duration(struct cli *cli, const struct cli_option *o, const char *arg);
static int set_idle_ms(struct cli *cli, const struct cli_option *o, const char *arg);
static int set_probe(struct cli *cli, const struct cli_option *o, const char *arg);
static int set_choice(struct cli *cli, const struct cli_option *o, const char *arg);
static int set_listen(struct cli *cli, const struct cli_option *o, const char *arg);
static int set_buckets(struct cli *cli, const struct cli_option *o, const char *arg);
static int set_count(struct cli *cli, const struct cli_option *o, const char *arg);
static int set_delay(struct cli *cli, const struct cli_option *o, const char *arg);
static int set_verbose(struct cli *cli, const struct cli_option *o, const char *arg);
static int set_otlp_url(struct cli *cli, const struct cli_option *o, const char *arg);
static int set_otlp_header(struct cli *cli, const struct cli_option *o, const char *arg);
static int show_help(struct cli *cli, const struct cli_option *o, const char *arg);
static int show_version(struct cli *cli, const struct cli_option *o, const char *arg);

static const char *const io_hooks_words[] = { "auto", "sock", "syscalls", NULL };
static const char *const uprobes_words[] = { "auto", "multi", "perf", NULL };
static const char *const thread_state_words[] = { "auto", "task", "hash", NULL };

static const struct cli_option options[] = {
	{ "pid", 'p', "PID", set_pid, 0, NULL,
	  "trace only this process (repeatable)" },
	{ "comm", 'c', "NAME", set_comm, 0, NULL,
	  "trace only processes with this name (repeatable)" },
	{ "container", 'C', "ID", set_container, 0, NULL,
	  "trace only this container: an id or its first digits,\n"
	  "or a systemd unit such as nginx.service (repeatable)" },
	{ "labels", OPT_LABELS, "LIST", set_labels, 0, NULL,
	  "metric labels of a process: 'comm' (default) or 'comm,container'" },
	{ "json", OPT_JSON, NULL, set_true, FIELD(json), NULL,
	  "one JSON object per request and line (docs/json.md)" },
	{ "duration", OPT_DURATION, "SECS", set_duration, 0, NULL,
	  "stop after this many seconds" },
	{ "idle-ms", OPT_IDLE, "MS", set_idle_ms, 0, NULL,
	  "report a response after MS of silence (default 500)" },
	{ "probe", OPT_PROBE, "NAME=BINARY:SYMBOL", set_probe, 0, NULL,
	  "time every call of SYMBOL as a span NAME; 'render' is the\n"
	  "render phase of the request it runs in (repeatable)" },
	{ "probe", 0, "NAME=usdt:BINARY:PROVIDER:START_PROBE:END_PROBE", NULL, 0, NULL,
	  "the same between two USDT probes" },
	{ "btf", OPT_BTF, "PATH", set_string, FIELD(co.btf_path), NULL,
	  "kernel BTF file, for kernels without /sys/kernel/btf/vmlinux" },
	{ "io-hooks", OPT_IO_HOOKS, "KIND", set_choice, FIELD(co.io_hooks), io_hooks_words,
	  "socket I/O from 'sock' tracepoints (6.3+), 'syscalls'\n"
	  "(older kernels) or 'auto' (default: the best available)" },
	{ "uprobes", OPT_UPROBES, "KIND", set_choice, FIELD(co.uprobes), uprobes_words,
	  "library and Go uprobes as 'multi' links (6.6+) or 'perf'\n"
	  "events (older kernels); default 'auto'" },
	{ "thread-state", OPT_THREAD_STATE, "KIND", set_choice, FIELD(co.thread_state),
	  thread_state_words,
	  "a thread's context in 'task' storage (5.13+) or a 'hash'\n"
	  "table (older kernels); default 'auto'" },
	{ "hold-ms", OPT_HOLD, "MS", set_hold_ms, 0, NULL,
	  "stop a program at exec until its probes are attached, at\n"
	  "most MS (default 500; 0: never; docs/go.md)" },
	{ "ring-mb", OPT_RING_MB, "MB", set_ring_mb, 0, NULL,
	  "ring buffer from BPF to the collector: 1, 2, 4, ... 1024 MB\n"
	  "(default 16; trace adds per-CPU rings sharing that size,\n"
	  "1 MB each at least); more rides out longer collector stalls" },
	{ "kernel-agg", OPT_KERNEL_AGG, "MODE", set_choice, FIELD(kernel_agg), kernel_agg_words,
	  "serve, top: count keep-alive requests in the kernel, 'on' (default),\n"
	  "'off', or 'check' (both ways; /metrics/shadow: userspace's)" },
	{ "listen", OPT_LISTEN, "ADDR:PORT", set_listen, 0, NULL,
	  "serve /metrics there (serve; also with trace and top)" },
	{ "buckets", OPT_BUCKETS, "LIST", set_buckets, 0, NULL,
	  "histogram bounds in seconds, e.g. 0.001,0.01,0.1,1" },
	{ "max-peers", OPT_MAX_PEERS, "N", set_count, FIELD(max_peers), NULL,
	  "distinct peer label values per process name (default 50)" },
	{ "max-series", OPT_MAX_SERIES, "N", set_count, FIELD(max_series), NULL,
	  "rows of metrics at most (default 512)" },
	{ "otlp", OPT_OTLP, "URL", set_otlp_url, 0, NULL,
	  "send each request as OpenTelemetry spans, OTLP/HTTP protobuf\n"
	  "to URL/v1/traces (trace, serve; docs/otlp.md)" },
	{ "otlp-header", OPT_OTLP_HEADER, "KEY=VALUE", set_otlp_header, 0, NULL,
	  "an HTTP header on every OTLP request, e.g. an auth token\n"
	  "(repeatable)" },
	{ NULL, 'd', "SECONDS", set_delay, 0, NULL,
	  "top: refresh interval (default 1)" },
	{ "verbose", 'v', NULL, set_verbose, 0, NULL,
	  "say what is attached, skipped and why; libbpf's log" },
	{ "help", 'h', NULL, show_help, 0, NULL,
	  "this text" },
	{ "version", OPT_VERSION, NULL, show_version, 0, NULL,
	  "print the version" },
	{},
};

#define NOPTIONS	(sizeof(options) / sizeof(options[0]))

static const char usage_head[] =
	"Usage: phasetrace COMMAND [OPTIONS]\n"
	"\n"
	"Where the time of each request goes, live, from outside the process:\n"
	"DNS -> connect -> TLS -> send -> first byte, per request, for every process.\n"
	"\n"
	"Commands:\n"
	"  trace            print each finished request as a waterfall (or JSON lines)\n"
	"  top              live table of where request time goes, per process and peer\n"
	"  serve            Prometheus exporter: GET /metrics (default 127.0.0.1:9873)\n"
	"  diagnose         watch for --duration (default 30 s), then say per endpoint\n"
	"                   where the time goes and what is wrong (docs/diagnose.md)\n"
	"\n"
	"Options:\n";

#define HELP_COL	23	/* where the help text of every option starts */

static void print_usage(FILE *f)
{
	fputs(usage_head, f);
	for (const struct cli_option *o = options; o->help; o++) {
		bool is_short = o->key > 0 && o->key < 256;
		const char *h = o->help, *nl;
		char left[96];
		int n;

		n = snprintf(left, sizeof(left), "  %s%c%s%s%s%s%s", is_short ? "-" : " ",
			     is_short ? o->key : ' ', !o->name ? "" : is_short ? ", " : "  ",
			     o->name ? "--" : "", o->name ?: "", o->arg ? " " : "", o->arg ?: "");
		if (n + 2 > HELP_COL + 8)	/* a long left part: help on the next line */
			fprintf(f, "%s\n%*s", left, HELP_COL, "");
		else
			fprintf(f, "%-*s", n + 2 > HELP_COL ? n + 2 : HELP_COL, left);
		while ((nl = strchr(h, '\n'))) {
			fprintf(f, "%.*s\n%*s", (int)(nl - h), h, HELP_COL, "");
			h = nl + 1;
		}
		fprintf(f, "%s\n", h);
	}
}

/* getopt_long's view of the table: long options, and the short ones as ":p:c:d:vh". */
static void build_getopt(struct option *longs, char *shorts)
{
	int nl = 0, ns = 0;

	shorts[ns++] = ':';	/* a missing value is ':', not '?' */
	for (const struct cli_option *o = options; o->help; o++) {
		if (!o->key)
			continue;
		if (o->name)
			longs[nl++] = (struct option){ o->name, o->arg ? required_argument :
						       no_argument, NULL, o->key };
		if (o->key < 256) {
			shorts[ns++] = o->key;
			if (o->arg)
				shorts[ns++] = ':';
		}
	}
	longs[nl] = (struct option){};
	shorts[ns] = '\0';
}

static const struct cli_option *find_option(int key)
{
	for (const struct cli_option *o = options; o->help; o++)
		if (o->key == key)
			return o;
	return NULL;
}

/* "-p/--pid", "--max-peers", "-d": how messages name an option */
static const char *opt_label(int key, char *buf, size_t len)
{
	const struct cli_option *o = find_option(key);

	if (o && o->name && key < 256)
		snprintf(buf, len, "-%c/--%s", key, o->name);
	else if (o && o->name)
		snprintf(buf, len, "--%s", o->name);
	else
		snprintf(buf, len, "-%c", key);
	return buf;
}

/* libbpf's log quotes binary paths and symbol names a traced process chose */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char *msg, *safe;
	int n;

	if (!pt_verbose)
		return 0;
	n = vasprintf(&msg, fmt, ap);
	if (n < 0)
		return n;
	safe = malloc((size_t)n * 4 + 1);	/* the longest escape is 4 bytes per byte */
	if (safe) {
		pt_sanitize_mem(safe, (size_t)n * 4 + 1, msg, n, PT_SAN_NEWLINES);
		fputs(safe, stderr);
	}
	free(safe);
	free(msg);
	return n;
}

static bool parse_double(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return !errno && end != s && !*end && *out >= 0;
}

static int set_pid(struct cli *cli, const struct cli_option *o, const char *arg)
{
	char *end;
	long pid;

	errno = 0;
	pid = strtol(arg, &end, 10);
	if (errno || *end || pid <= 0 || pid > INT_MAX) {
		pt_err("'%s' is not a process id (-p/--pid takes a number)", arg);
		return 2;
	}
	if (cli->co.npids >= MAX_PID_FILTERS) {
		pt_err("too many -p/--pid options (at most %d)", MAX_PID_FILTERS);
		return 2;
	}
	cli->co.pids[cli->co.npids++] = pid;
	return 0;
}

static int set_comm(struct cli *cli, const struct cli_option *o, const char *arg)
{
	if (cli->co.ncomms >= PT_MAX_COMM_FILTERS) {
		pt_err("too many -c/--comm options (at most %d)", PT_MAX_COMM_FILTERS);
		return 2;
	}
	if (strlen(arg) >= PT_COMM_LEN) {
		pt_err("process name '%s' is longer than the kernel keeps (%d characters); "
		       "give the first %d", arg, PT_COMM_LEN - 1, PT_COMM_LEN - 1);
		return 2;
	}
	strncpy(cli->co.comms[cli->co.ncomms++], arg, PT_COMM_LEN - 1);
	return 0;
}

/* A container id (prefix) of lower-case hex, or a systemd unit name (assemble/container.h). */
static int set_container(struct cli *cli, const struct cli_option *o, const char *arg)
{
	size_t n = strlen(arg), hex = strspn(arg, "0123456789abcdef");
	size_t unit = strspn(arg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			     "0123456789:_.@-\\");

	if (cli->co.ncontainers >= CGF_MAX_NAMES) {
		pt_err("too many -C/--container options (at most %d)", CGF_MAX_NAMES);
		return 2;
	}
	if (!((n && hex == n && n < CT_ID_LEN) ||
	      (unit == n && n > 8 && n < CT_UNIT_LEN && !strcmp(arg + n - 8, ".service")))) {
		pt_err("-C '%s' is neither a container id (lower-case hex, or its first digits) "
		       "nor a systemd unit name ending in .service", arg);
		return 2;
	}
	cli->co.containers[cli->co.ncontainers++] = arg;
	return 0;
}

static int set_labels(struct cli *cli, const struct cli_option *o, const char *arg)
{
	if (!strcmp(arg, "comm") || !strcmp(arg, "comm,container") ||
	    !strcmp(arg, "container,comm")) {
		cli->label_container = strstr(arg, "container") != NULL;
		return 0;
	}
	pt_err("--labels takes 'comm' or 'comm,container', not '%s'", arg);
	return 2;
}

static int set_true(struct cli *cli, const struct cli_option *o, const char *arg)
{
	*(bool *)((char *)cli + o->field) = true;
	return 0;
}

static int set_string(struct cli *cli, const struct cli_option *o, const char *arg)
{
	*(const char **)((char *)cli + o->field) = arg;
	return 0;
}

static int set_duration(struct cli *cli, const struct cli_option *o, const char *arg)
{
	if (!parse_double(arg, &cli->co.duration_s) || cli->co.duration_s == 0) {
		pt_err("'%s' is not a duration in seconds (--duration)", arg);
		return 2;
	}
	return 0;
}

static int set_idle_ms(struct cli *cli, const struct cli_option *o, const char *arg)
{
	double ms;

	if (!parse_double(arg, &ms) || ms < 1) {
		pt_err("'%s' is not a number of milliseconds (--idle-ms)", arg);
		return 2;
	}
	cli->co.idle_ns = (uint64_t)(ms * 1e6);
	return 0;
}

/* A parser's verdict on an option value: its message and exit code 2, or 0. */
static int parsed(int failed, const char *err)
{
	if (!failed)
		return 0;
	pt_err("%s", err);
	return 2;
}

static int set_hold_ms(struct cli *cli, const struct cli_option *o, const char *arg)
{
	double ms;

	if (!parse_double(arg, &ms) || ms < 0 || ms > 10000) {
		pt_err("'%s' is not a number of milliseconds from 0 to 10000 (--hold-ms)", arg);
		return 2;
	}
	cli->co.hold_ms = (uint32_t)ms;
	cli->co.no_hold = cli->co.hold_ms == 0;
	return 0;
}

static int set_ring_mb(struct cli *cli, const struct cli_option *o, const char *arg)
{
	char *end;
	long v = strtol(arg, &end, 10);

	/* the kernel wants a power of two number of pages */
	if (end == arg || *end || v < 1 || v > 1024 || (v & (v - 1))) {
		pt_err("'%s' is not a ring buffer size: give a power of two from 1 to 1024 "
		       "(--ring-mb)", arg);
		return 2;
	}
	cli->co.ring_mb = (uint32_t)v;
	return 0;
}

static int set_probe(struct cli *cli, const struct cli_option *o, const char *arg)
{
	char err[512];

	if (cli->co.nspans >= MAX_USER_SPANS) {
		pt_err("too many --probe options (at most %d)", MAX_USER_SPANS);
		return 2;
	}
	if (parsed(span_def_parse(arg, &cli->co.spans[cli->co.nspans], err, sizeof(err)), err))
		return 2;
	cli->co.nspans++;
	return 0;
}

/* The index of arg in o->choices (in enum order) into an int field. */
static int set_choice(struct cli *cli, const struct cli_option *o, const char *arg)
{
	const char *const *words = o->choices;
	char list[128] = "";

	for (int i = 0; words[i]; i++) {
		if (!strcmp(arg, words[i])) {
			*(int *)((char *)cli + o->field) = i;
			return 0;
		}
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
			 i ? (words[i + 1] ? ", " : " or ") : "", words[i]);
	}
	pt_err("--%s takes %s, not '%s'", o->name, list, arg);
	return 2;
}

static int set_listen(struct cli *cli, const struct cli_option *o, const char *arg)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char err[256];

	if (parsed(exporter__parse_listen(arg, &ss, &len, err, sizeof(err)), err))
		return 2;
	cli->listen = arg;
	return 0;
}

static int set_buckets(struct cli *cli, const struct cli_option *o, const char *arg)
{
	char err[256];

	return parsed(metrics__parse_buckets(arg, &cli->buckets, &cli->nbuckets, err,
					     sizeof(err)), err);
}

static int set_count(struct cli *cli, const struct cli_option *o, const char *arg)
{
	char *end, label[64];
	long v = strtol(arg, &end, 10);

	if (*end || v < 1 || v > 100000) {
		pt_err("'%s' is not a count from 1 to 100000 (%s)", arg,
		       opt_label(o->key, label, sizeof(label)));
		return 2;
	}
	*(int *)((char *)cli + o->field) = v;
	return 0;
}

static int set_delay(struct cli *cli, const struct cli_option *o, const char *arg)
{
	char err[256];

	return parsed(top__parse_delay(arg, &cli->delay_s, err, sizeof(err)), err);
}

static int set_verbose(struct cli *cli, const struct cli_option *o, const char *arg)
{
	pt_verbose = true;
	return 0;
}

static int set_otlp_url(struct cli *cli, const struct cli_option *o, const char *arg)
{
	char err[256];

	if (parsed(otlp__check_url(arg, err, sizeof(err)), err))
		return 2;
	cli->otlp_url = arg;
	return 0;
}

static int set_otlp_header(struct cli *cli, const struct cli_option *o, const char *arg)
{
	char err[256];

	if (cli->notlp_headers >= OTLP_MAX_HEADERS) {
		pt_err("too many --otlp-header options (at most %d)", OTLP_MAX_HEADERS);
		return 2;
	}
	if (parsed(otlp__check_header(arg, err, sizeof(err)), err))
		return 2;
	cli->otlp_headers[cli->notlp_headers++] = arg;
	return 0;
}

static int show_help(struct cli *cli, const struct cli_option *o, const char *arg)
{
	print_usage(stdout);
	exit(0);
}

static int show_version(struct cli *cli, const struct cli_option *o, const char *arg)
{
	printf("phasetrace %s\n", PT_VERSION);
	exit(0);
}

/* argv[1]: the command, or --help / --version alone. 0, or the exit code. */
static int parse_command(int argc, char **argv, struct cli *cli)
{
	if (argc < 2) {
		pt_err("no command given; try 'phasetrace trace' or 'phasetrace --help'");
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
		show_help(cli, NULL, NULL);
	if (!strcmp(argv[1], "--version"))
		show_version(cli, NULL, NULL);
	cli->cmd = argv[1];
	if (strcmp(cli->cmd, "trace") && strcmp(cli->cmd, "top") && strcmp(cli->cmd, "serve") &&
	    strcmp(cli->cmd, "diagnose")) {
		pt_err("unknown command '%s'; the commands are trace, top, serve and diagnose "
		       "(see 'phasetrace --help')", cli->cmd);
		return 2;
	}
	return 0;
}

/* Returns 0, or the exit code after printing one message. */
static int parse_args(int argc, char **argv, struct cli *cli)
{
	struct option longs[NOPTIONS];
	char shorts[2 * NOPTIONS + 2], label[64];
	const struct cli_option *o;
	int key, rc;

	rc = parse_command(argc, argv, cli);
	if (rc)
		return rc;
	build_getopt(longs, shorts);
	opterr = 0;
	optind = 2;
	while ((key = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
		if (key == ':') {
			pt_err("option %s needs a value; see 'phasetrace --help'",
			       opt_label(optopt, label, sizeof(label)));
			return 2;
		}
		o = key == '?' ? NULL : find_option(key);
		if (!o && optopt) {
			pt_err("unknown option '-%c'; see 'phasetrace --help'", optopt);
			return 2;
		}
		if (!o) {
			pt_err("unknown option '%s'; see 'phasetrace --help'", argv[optind - 1]);
			return 2;
		}
		rc = o->set(cli, o, optarg);
		if (rc)
			return rc;
	}
	if (optind < argc) {
		pt_err("unexpected argument '%s'; see 'phasetrace --help'", argv[optind]);
		return 2;
	}
	return 0;
}

/* Uprobes at start will be perf events: --probe spans, --uprobes perf, or a kernel
 * without uprobe_multi (6.6). */
static bool perf_uprobes(const struct cli *cli)
{
	struct btf *btf;
	bool multi;

	if (cli->co.nspans)
		return true;
	if (cli->co.uprobes == UPROBES_PERF)
		return true;
	btf = cli->co.btf_path ? btf__parse(cli->co.btf_path, NULL) : btf__load_vmlinux_btf();
	multi = probes__multi_links(btf, cli->co.uprobes);
	btf__free(btf);
	return !multi;
}

/* The capabilities of caps.h, not uid 0: a service runs it as its own user with them. */
static int check_caps(const struct cli *cli)
{
	char names[128];
	int n = caps__missing(caps__needed(perf_uprobes(cli)), names, sizeof(names));

	if (n < 0) {
		pt_err("cannot read the process's capabilities: %s", strerror(-n));
		return 1;
	}
	if (n > 0) {
		pt_err("phasetrace lacks %s, which it needs to load BPF programs and read /proc; "
		       "run it as root with sudo, or grant %s as AmbientCapabilities= in its "
		       "systemd unit (see phasetrace(8))", names, n > 1 ? "them" : "it");
		return 1;
	}
	return 0;
}

/*
 * Exec holds resume processes of every user: they need CAP_KILL, kept if held,
 * else they are switched off (a process we could stop but not resume: never).
 */
static uint64_t hold_caps(struct cli *cli, uint64_t need)
{
	char missing[32];

	if (cli->co.no_hold)
		return need;
	if (caps__missing(1ULL << CAP_KILL, missing, sizeof(missing)) == 0)
		return need | 1ULL << CAP_KILL;
	cli->co.no_hold = true;
	pt_info("without CAP_KILL: new programs are not held at exec (docs/go.md)");
	return need;
}

/*
 * Keep only the capabilities of check_caps() for the whole run (processes are attached
 * as they start), before the exporter's and other threads exist: capabilities belong to
 * a thread. CAP_SYS_ADMIN stays if held: Go programs, which may start at any time, get
 * perf-event uprobes where the kernel has no uprobe_multi links (before 6.6, or
 * --uprobes perf). The one thing that needs more, mounting tracefs, is done here.
 */
static int drop_capabilities(struct cli *cli)
{
	uint64_t need = caps__needed(true);
	char missing[128];
	int err;

	/* CAP_SYS_ADMIN not held: keep what check_caps() asked for only */
	if (caps__missing(need, missing, sizeof(missing)) > 0) {
		bool perf = perf_uprobes(cli);

		need = caps__needed(perf);
		if (perf)
			pt_info("without %s: Go programs are not probed (perf-event uprobes)",
				missing);
	}
	need = hold_caps(cli, need);
	if (access("/sys/kernel/tracing/events", F_OK) &&
	    access("/sys/kernel/debug/tracing/events", F_OK) &&
	    mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL) == 0)
		pt_info("mounted tracefs on /sys/kernel/tracing");
	err = caps__restrict(need);
	if (err) {
		pt_err("cannot drop the capabilities phasetrace does not need: %s",
		       strerror(-err));
		return 1;
	}
	pt_info("capabilities kept: %#llx (CapEff in /proc/%d/status)",
		(unsigned long long)need, (int)getpid());
	return 0;
}

/* Environment checks that deserve their own sentence before libbpf speaks. */
static int preflight(const struct cli *cli)
{
	struct stat st;

	for (int i = 0; i < cli->co.npids; i++) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d", cli->co.pids[i]);
		if (stat(path, &st)) {
			pt_err("no process with pid %d is running", cli->co.pids[i]);
			return 1;
		}
	}
	if (cli->co.btf_path && stat(cli->co.btf_path, &st)) {
		pt_err("cannot read the BTF file %s: %s", cli->co.btf_path, strerror(errno));
		return 1;
	}
	if (!cli->co.btf_path && stat("/sys/kernel/btf/vmlinux", &st)) {
		pt_err("this kernel has no BTF type information (/sys/kernel/btf/vmlinux is "
		       "missing); use a kernel built with CONFIG_DEBUG_INFO_BTF=y or pass --btf");
		return 1;
	}
	return check_caps(cli);
}

static int term_width(void)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
		return ws.ws_col;
	return 100;
}

/*
 * Each uprobe detach waits for RCU grace periods, serialised in the kernel:
 * with ~30 uprobes that is seconds. Everything the user asked for is written
 * by now, so exit at once and let a child, which shares the link descriptors,
 * detach in the background. Whoever drops the last reference pays, so the
 * child waits until our exit has dropped ours: it reads a pipe whose write end
 * is our highest descriptor, closed last when we exit.
 */
static void detach_and_exit(struct collector *c)
{
	struct rlimit rl = { .rlim_cur = 1024 };
	int pfd[2], wfd;
	pid_t pid;

	getrlimit(RLIMIT_NOFILE, &rl);
	if (pipe2(pfd, O_CLOEXEC) < 0 ||
	    (wfd = fcntl(pfd[1], F_DUPFD_CLOEXEC, (int)(rl.rlim_cur > 4096 ? 4096 : rl.rlim_cur) - 1)) < 0) {
		collector__free(c);
		_exit(0);
	}
	close(pfd[1]);
	pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);
		char b;

		close(wfd);
		setsid();
		if (fd >= 0) {
			dup2(fd, STDIN_FILENO);
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		while (read(pfd[0], &b, 1) < 0 && errno == EINTR)
			;
		collector__free(c);
		_exit(0);
	}
	if (pid < 0)
		collector__free(c);
	_exit(0);
}

struct self_ctx {
	struct collector *c;
	struct metrics *m;
};

/* phasetrace_cgroup_lookups_total: how container identities were found (assemble/cgroups.h) */
static void cgroup_stats_set(struct metrics *m, const struct collector_stats *st)
{
	metrics__set_self(m, METRICS_CGROUP_LOOKUPS, "hit", st->cgroups.hits);
	metrics__set_self(m, METRICS_CGROUP_LOOKUPS, "proc", st->cgroups.from_proc);
	metrics__set_self(m, METRICS_CGROUP_LOOKUPS, "walk", st->cgroups.from_walk);
	metrics__set_self(m, METRICS_CGROUP_LOOKUPS, "unresolved", st->cgroups.unresolved);
	metrics__set_self(m, METRICS_CGROUP_LOOKUPS, "evicted", st->cgroups.evicted);
	metrics__set_self(m, METRICS_CGROUP_LOOKUPS, "filter_full", st->cgroup_filter_full);
}

/* Self statistics into metrics, once per collector tick: the counters read once. */
static void self_stats_tick(void *ctx, uint64_t now)
{
	struct self_ctx *s = ctx;
	struct collector_stats st;

	collector__stats(s->c, &st);
	metrics__set_self(s->m, METRICS_EVENTS_READ, NULL, st.events_read);
	for (int i = 0; i < NDROP_REASONS; i++)
		metrics__set_self(s->m, METRICS_EVENTS_DROPPED, drop_reasons[i].label,
				  st.bpf[drop_reasons[i].stat]);
	metrics__set_self(s->m, METRICS_PROBES, "attached", st.uprobes + st.tracepoints);
	metrics__set_self(s->m, METRICS_PROBES, "failed", st.uprobes_failed);
	metrics__set_self(s->m, METRICS_PROCESSES_TRACED, NULL, st.processes);
	metrics__set_self(s->m, METRICS_ASSEMBLER_ENTRIES, "pending", st.pending);
	metrics__set_self(s->m, METRICS_ASSEMBLER_ENTRIES, "children_waiting",
			  st.children_waiting);
	metrics__set_self(s->m, METRICS_ASSEMBLER_ENTRIES, "dns_cached", st.dns_cached);
	metrics__set_self(s->m, METRICS_DISCOVERY, "file_evicted", st.files_evicted);
	metrics__set_self(s->m, METRICS_DISCOVERY, "file_refused", st.files_refused);
	metrics__set_self(s->m, METRICS_DISCOVERY, "scan_dropped", st.scans_dropped);
	metrics__set_self(s->m, METRICS_DISCOVERY, "over_budget", st.over_budget);
	metrics__set_self(s->m, METRICS_EVENTS_DROPPED, "h2_unlabelled", st.h2_unlabelled);
	metrics__set_self(s->m, METRICS_EVENTS_DROPPED, "h2_record_gap", st.h2_record_gaps);
	metrics__set_self(s->m, METRICS_EVENTS_DROPPED, "h2_conn_table_full",
			  st.h2_conns_overflow);
	metrics__set_self(s->m, METRICS_EVENTS_DROPPED, "idle_cut", st.idle_cut);
	cgroup_stats_set(s->m, &st);
}

static void quit_collector(void *c)
{
	collector__stop(c);
}

/* What runs besides the collector; all NULL-safe to free. */
struct app {
	struct cli cli;
	bool is_top, is_serve;
	struct metrics *m;
	struct exporter *e;
	struct top *t;
	struct output *out;
	struct self_ctx self;
	/* diagnose */
	bool is_diagnose;
	struct diagnose *diag;
	uint64_t diag_start, diag_shown;
	struct otlp *otlp;
	/* in-kernel aggregation; with --kernel-agg=check, the userspace-only copy */
	struct kagg *kagg;
	struct metrics *shadow;
};

/*
 * In-kernel aggregation: serve and top (trace prints every request, --otlp sends each).
 * --kernel-agg=check: a shadow metrics object
 * counts every request in userspace, served on /metrics/shadow. 0, or the exit code.
 */
static int kagg_prepare(struct app *a, const struct metrics_opts *mo, struct exporter_opts *eo)
{
	static const int modes[] = { PT_KAGG_ON, PT_KAGG_OFF, PT_KAGG_CHECK };
	int n;

	if ((!a->is_serve && !a->is_top) || a->cli.otlp_url || a->cli.kernel_agg == KAGG_WORD_OFF)
		return 0;
	if (a->is_top && a->cli.kernel_agg == KAGG_WORD_CHECK) {
		pt_err("--kernel-agg=check is for serve");
		return 1;
	}
	a->cli.co.kagg_mode = modes[a->cli.kernel_agg];
	a->cli.co.kagg_top = a->is_top;
	a->cli.co.kagg_bounds = metrics__bounds_ns(a->m, &n);
	a->cli.co.kagg_nbounds = n;
	if (a->cli.kernel_agg != KAGG_WORD_CHECK)
		return 0;
	a->shadow = metrics__new(mo);
	if (!a->shadow) {
		pt_err("cannot set up metrics: %s", strerror(errno));
		return 1;
	}
	metrics__count_kagg(a->shadow, true);
	eo->shadow = a->shadow;
	return 0;
}

static void kagg_stats_tick(void *ctx, uint64_t now)
{
	struct app *a = ctx;
	struct kagg_stats st;

	kagg__stats(a->kagg, &st);
	metrics__set_self(a->m, METRICS_KERNEL_COUNTED, NULL, st.merged);
}

/* A connection's first record (a client's: once its host is known): BPF learns its label
 * now, not after the reorder window, and counts its next requests itself
 * (metrics__label_early()). Not for a connection that is over: no request would use it,
 * and it would stay in BPF's LRU until evicted (a connection per request: one update,
 * and an eviction, per request). */
static void kagg_label_early(void *ctx, struct collector *c, const struct pt_req_rec *rec)
{
	struct app *a = ctx;
	struct request r;

	if (!rec->conn_id || (rec->flags & PT_F_H2) || pt_end_is_last(rec->end_reason) ||
	    (rec->role != PT_ROLE_SERVER && rec->role != PT_ROLE_CLIENT) ||
	    kagg__told(a->kagg, rec->conn_id) || !collector__request_who(c, rec, &r))
		return;
	metrics__label_early(a->m, &r);
}

/* The kernel's counts into the metrics every tick; the shadow's sink. 0, or the exit code. */
static int connect_kagg(struct app *a, struct collector *c)
{
	struct kagg_opts ko = { .metrics = a->m };
	struct sink s;
	int err;

	if (!a->cli.co.kagg_mode)
		return 0;
	collector__kagg_maps(c, a->is_top, &ko);
	err = kagg__new(&a->kagg, &ko);
	if (err) {
		pt_err("cannot set up in-kernel aggregation: %s", strerror(-err));
		return 1;
	}
	collector__on_tick(c, kagg__tick_cb, a->kagg);
	collector__on_tick(c, kagg_stats_tick, a);
	collector__on_req_record(c, kagg_label_early, a);
	if (a->shadow) {
		s = metrics__sink(a->shadow);
		collector__add_sink(c, &s);
	}
	return 0;
}

/* Metrics for top, serve and --listen; the port is bound before BPF is loaded, so a taken
 * port is the operator's first error. 0, or the exit code after one message. */
static int start_metrics(struct app *a)
{
	struct metrics_opts mo = {
		.buckets = a->cli.buckets, .nbuckets = a->cli.nbuckets,
		.max_peers = a->cli.max_peers, .max_series = a->cli.max_series,
		.intervals = a->is_top, .version = PT_VERSION,
		.by_container = a->is_top || a->cli.label_container,
	};
	struct exporter_opts eo = { .listen = a->cli.listen };
	char msg[256];

	if (!a->is_top && !a->is_serve && !a->cli.listen)
		return 0;
	a->m = metrics__new(&mo);
	if (!a->m) {
		pt_err("cannot set up metrics: %s", strerror(errno));
		return 1;
	}
	if (kagg_prepare(a, &mo, &eo))
		return 1;
	if ((a->is_serve || a->cli.listen) && exporter__new(&a->e, a->m, &eo, msg, sizeof(msg))) {
		pt_err("%s", msg);
		return 1;
	}
	return 0;
}

/* Hook metrics, top or the trace output to the collector. 0, or the exit code. */
static int connect_outputs(struct app *a, struct collector *c)
{
	struct sink s;
	int rc;

	if (a->m) {
		a->self = (struct self_ctx){ c, a->m };
		collector__on_tick(c, self_stats_tick, &a->self);
		s = metrics__sink(a->m);
		collector__add_sink(c, &s);
	}
	if (a->e)
		fprintf(stderr, "phasetrace: serving /metrics on port %d\n", exporter__port(a->e));
	if (a->is_top) {
		struct top_opts to = { .metrics = a->m, .delay_s = a->cli.delay_s,
				       .on_quit = quit_collector, .quit_ctx = c };

		rc = top__new(&a->t, &to);
		if (rc) {
			pt_err("cannot start top: %s", strerror(-rc));
			return 1;
		}
		collector__on_tick(c, top__tick_cb, a->t);
		collector__on_fd(c, top__fd(a->t), top__input_cb, a->t);
	} else if (!a->is_serve) {
		a->out = output__new(stdout, a->cli.json, !a->cli.json && isatty(STDOUT_FILENO),
				     term_width());
		if (!a->out) {
			pt_err("out of memory");
			return 1;
		}
		s = output__sink(a->out);
		collector__add_sink(c, &s);
		collector__on_tick(c, output__tick_cb, a->out);
	}
	return 0;
}

#define DIAG_DEFAULT_S	30

/* diagnose's progress line on stderr: redrawn each second on a terminal, a line every 5 s
 * otherwise. */
static void diag_progress(void *ctx, uint64_t now)
{
	struct app *a = ctx;
	bool tty = isatty(STDERR_FILENO);
	uint64_t every = (tty ? 1 : 5) * 1000000000ULL;

	if (!a->diag_start)
		a->diag_start = a->diag_shown = now;
	if (now - a->diag_shown < every)
		return;
	a->diag_shown = now;
	fprintf(stderr, "%sphasetrace: diagnose: %.0f of %.0f s, %llu requests%s",
		tty ? "\r" : "", (now - a->diag_start) / 1e9, a->cli.co.duration_s,
		(unsigned long long)diagnose__seen(a->diag), tty ? " (Ctrl-C ends early)" : "\n");
}

/* The diagnose stage as the collector's only output. 0, or the exit code. */
static int connect_diagnose(struct app *a, struct collector *c)
{
	struct sink s;

	a->diag = diagnose__new();
	if (!a->diag) {
		pt_err("out of memory");
		return 1;
	}
	s = diagnose__sink(a->diag);
	collector__add_sink(c, &s);
	collector__on_tick(c, diag_progress, a);
	return 0;
}

static void diagnose_report(struct app *a)
{
	if (isatty(STDERR_FILENO))
		fputc('\n', stderr);
	diagnose__report(a->diag, stdout, a->cli.json);
	diagnose__free(a->diag);
}

/* --otlp and --otlp-header together, not with top. 0, or the exit code. */
static int check_otlp_args(const struct app *a)
{
	if (!a->cli.otlp_url && a->cli.notlp_headers) {
		pt_err("--otlp-header needs --otlp URL");
		return 2;
	}
	if (a->cli.otlp_url && a->is_top) {
		pt_err("--otlp works with trace and serve, not top");
		return 2;
	}
	return 0;
}

/* --otlp: the sender thread (after the capabilities are dropped: threads
 * keep their own). 0, or the exit code after one message. */
static int start_otlp(struct app *a)
{
	struct otlp_opts oo = { .url = a->cli.otlp_url, .headers = a->cli.otlp_headers,
				.nheaders = a->cli.notlp_headers };
	char msg[256];

	if (a->cli.otlp_url && otlp__new(&a->otlp, &oo, msg, sizeof(msg))) {
		pt_err("%s", msg);
		return 1;
	}
	return 0;
}

/* The exporter's figures into phasetrace_otlp_* (docs/metrics.md), once per tick. */
static void otlp_stats_tick(void *ctx, uint64_t now)
{
	struct app *a = ctx;
	struct otlp_stats st;

	otlp__stats(a->otlp, &st);
	metrics__set_self(a->m, METRICS_OTLP_SPANS, "sent", st.spans_sent);
	metrics__set_self(a->m, METRICS_OTLP_SPANS, "queue_full", st.spans_queue_full);
	metrics__set_self(a->m, METRICS_OTLP_SPANS, "failed", st.spans_failed);
	metrics__set_self(a->m, METRICS_OTLP_SPANS, "shutdown", st.spans_shutdown);
	metrics__set_self(a->m, METRICS_OTLP_BATCHES, "sent", st.batches_sent);
	metrics__set_self(a->m, METRICS_OTLP_BATCHES, "failed", st.batches_failed);
	metrics__set_self(a->m, METRICS_OTLP_BATCHES, "retried", st.batches_retried);
}

static void connect_otlp(struct app *a, struct collector *c)
{
	struct sink s;

	if (!a->otlp)
		return;
	s = otlp__sink(a->otlp);
	collector__add_sink(c, &s);
	if (a->m)
		collector__on_tick(c, otlp_stats_tick, a);
}

/* Send what is queued (bounded), then one line if spans were lost. */
static void stop_otlp(struct app *a)
{
	struct otlp_stats st;
	uint64_t lost;

	if (!a->otlp)
		return;
	otlp__stop(a->otlp);
	otlp__stats(a->otlp, &st);
	lost = st.spans_queue_full + st.spans_failed + st.spans_shutdown;
	if (lost)
		pt_warn("otlp: %llu of %llu spans were not delivered (%llu: queue full, %llu: "
			"the receiver failed, %llu: still queued at exit)",
			(unsigned long long)lost, (unsigned long long)(lost + st.spans_sent),
			(unsigned long long)st.spans_queue_full,
			(unsigned long long)st.spans_failed, (unsigned long long)st.spans_shutdown);
	otlp__free(a->otlp);
	a->otlp = NULL;
}

int main(int argc, char **argv)
{
	static struct app a;	/* the collector's callbacks point into it until exit */
	struct collector *c = NULL;
	int rc;

	/* a shell starts background jobs with SIGINT ignored: `phasetrace ... &`
	 * then `kill -INT` must still stop it (the collector takes them over) */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	setlocale(LC_ALL, "");
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	signal(SIGPIPE, SIG_IGN);
	rc = parse_args(argc, argv, &a.cli);
	if (rc)
		return rc;
	a.is_top = !strcmp(a.cli.cmd, "top");
	a.is_serve = !strcmp(a.cli.cmd, "serve");
	a.is_diagnose = !strcmp(a.cli.cmd, "diagnose");
	if (a.is_diagnose && !a.cli.co.duration_s)
		a.cli.co.duration_s = DIAG_DEFAULT_S;
	if (a.is_diagnose && (a.cli.listen || a.cli.buckets)) {
		pt_err("diagnose prints one report at the end: --listen and --buckets are for "
		       "trace, top and serve");
		return 2;
	}
	if (a.is_top && !isatty(STDIN_FILENO)) {
		pt_err("top needs a terminal; use 'phasetrace trace --json' for pipes");
		return 2;
	}
	rc = check_otlp_args(&a);
	if (rc)
		return rc;
	libbpf_set_print(libbpf_print);
	rc = preflight(&a.cli);
	if (rc)
		return rc;
	rc = drop_capabilities(&a.cli);
	if (rc)
		return rc;
	rc = start_metrics(&a);
	if (rc)
		return rc;
	rc = start_otlp(&a);
	if (rc)
		return rc;
	a.cli.co.quiet = a.is_top;
	/* serve's metrics need the status class, never method, path or span labels (top
	 * shows them) */
	a.cli.co.no_detail = a.is_serve && !a.cli.otlp_url;
	if (collector__new(&a.cli.co, &c))
		return 1;
	rc = a.is_diagnose ? connect_diagnose(&a, c) : connect_outputs(&a, c);
	if (rc)
		return rc;
	connect_otlp(&a, c);
	rc = connect_kagg(&a, c);
	if (rc)
		return rc;
	collector__run(c);
	if (a.is_diagnose)
		diagnose_report(&a);
	stop_otlp(&a);
	top__free(a.t);		/* the terminal first */
	exporter__free(a.e);	/* its port must not outlive us in the detaching child */
	output__free(a.out);
	fflush(NULL);
	detach_and_exit(c);
	return 0;
}
