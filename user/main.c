// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Command line: phasetrace trace | top | serve. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include "collect/collector.h"
#include "export/exporter.h"
#include "util/log.h"
#include "util/sanitize.h"
#include "export/metrics.h"
#include "output/output.h"
#include "attach/probes.h"
#include "output/top.h"

#define PT_VERSION "0.1.0"

static const char usage_text[] =
	"Usage: phasetrace COMMAND [OPTIONS]\n"
	"\n"
	"Where the time of each request goes, live, from outside the process:\n"
	"DNS -> connect -> TLS -> send -> first byte, per request, for every process.\n"
	"\n"
	"Commands:\n"
	"  trace            print each finished request as a waterfall (or JSON lines)\n"
	"  top              live table of where request time goes, per process and peer\n"
	"  serve            Prometheus exporter: GET /metrics (default 127.0.0.1:9873)\n"
	"\n"
	"Options:\n"
	"  -p, --pid PID        trace only this process (repeatable)\n"
	"  -c, --comm NAME      trace only processes with this name (repeatable)\n"
	"      --json           one JSON object per request and line (docs/json.md)\n"
	"      --duration SECS  stop after this many seconds\n"
	"      --idle-ms MS     report a response after MS of silence (default 500)\n"
	"      --probe NAME=BINARY:SYMBOL\n"
	"                       time every call of SYMBOL as a span NAME; 'render' is the\n"
	"                       render phase of the request it runs in (repeatable)\n"
	"      --probe NAME=usdt:BINARY:PROVIDER:START_PROBE:END_PROBE\n"
	"                       the same between two USDT probes\n"
	"      --btf PATH       kernel BTF file, for kernels without /sys/kernel/btf/vmlinux\n"
	"      --io-hooks KIND  socket I/O from 'sock' tracepoints (6.3+), 'syscalls'\n"
	"                       (older kernels) or 'auto' (default: the best available)\n"
	"      --uprobes KIND   library uprobes as 'multi' links (6.6+) or 'perf' events\n"
	"                       (older kernels); default 'auto'\n"
	"      --listen ADDR:PORT  serve /metrics there (serve; also with trace and top)\n"
	"      --buckets LIST   histogram bounds in seconds, e.g. 0.001,0.01,0.1,1\n"
	"      --max-peers N    distinct peer label values per process name (default 50)\n"
	"      --max-series N   rows of metrics at most (default 512)\n"
	"  -d SECONDS           top: refresh interval (default 1)\n"
	"  -v, --verbose        say what is attached, skipped and why; libbpf's log\n"
	"  -h, --help           this text\n"
	"      --version        print the version\n";

enum {
	OPT_JSON = 1000, OPT_DURATION, OPT_BTF, OPT_IDLE, OPT_VERSION,
	OPT_LISTEN, OPT_BUCKETS, OPT_MAX_PEERS, OPT_MAX_SERIES, OPT_PROBE,
	OPT_IO_HOOKS, OPT_UPROBES,
};

static const struct option long_opts[] = {
	{ "pid", required_argument, NULL, 'p' },
	{ "comm", required_argument, NULL, 'c' },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ "idle-ms", required_argument, NULL, OPT_IDLE },
	{ "btf", required_argument, NULL, OPT_BTF },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "probe", required_argument, NULL, OPT_PROBE },
	{ "io-hooks", required_argument, NULL, OPT_IO_HOOKS },
	{ "uprobes", required_argument, NULL, OPT_UPROBES },
	{ "buckets", required_argument, NULL, OPT_BUCKETS },
	{ "max-peers", required_argument, NULL, OPT_MAX_PEERS },
	{ "max-series", required_argument, NULL, OPT_MAX_SERIES },
	{},
};

struct cli {
	const char *cmd;
	struct collector_opts co;
	bool json;
	const char *listen;
	double *buckets;
	int nbuckets, max_peers, max_series;
	double delay_s;
};

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

static const char *opt_label(int opt, char *buf, size_t len)
{
	for (const struct option *o = long_opts; o->name; o++) {
		if (o->val == opt) {
			if (opt < 256)
				snprintf(buf, len, "-%c/--%s", opt, o->name);
			else
				snprintf(buf, len, "--%s", o->name);
			return buf;
		}
	}
	snprintf(buf, len, "-%c", opt);
	return buf;
}

static bool parse_double(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return !errno && end != s && !*end && *out >= 0;
}

/* Index of arg in the NULL-terminated choices (in enum order), or -1 after a message. */
static int parse_choice(const char *opt, const char *arg, const char *const *choices)
{
	char list[128] = "";

	for (int i = 0; choices[i]; i++) {
		if (!strcmp(arg, choices[i]))
			return i;
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
			 i ? (choices[i + 1] ? ", " : " or ") : "", choices[i]);
	}
	pt_err("%s takes %s, not '%s'", opt, list, arg);
	return -1;
}

/* Returns 0, or the exit code after printing one message. */
static int parse_args(int argc, char **argv, struct cli *cli)
{
	char label[64];
	int opt;

	if (argc < 2) {
		pt_err("no command given; try 'phasetrace trace' or 'phasetrace --help'");
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fputs(usage_text, stdout);
		exit(0);
	}
	if (!strcmp(argv[1], "--version")) {
		printf("phasetrace %s\n", PT_VERSION);
		exit(0);
	}
	cli->cmd = argv[1];
	if (strcmp(cli->cmd, "trace") && strcmp(cli->cmd, "top") && strcmp(cli->cmd, "serve")) {
		pt_err("unknown command '%s'; the commands are trace, top and serve (see "
		       "'phasetrace --help')", cli->cmd);
		return 2;
	}
	opterr = 0;
	optind = 2;
	while ((opt = getopt_long(argc, argv, ":p:c:d:vh", long_opts, NULL)) != -1) {
		switch (opt) {
		case 'p': {
			char *end;
			long pid;

			errno = 0;
			pid = strtol(optarg, &end, 10);
			if (errno || *end || pid <= 0 || pid > INT_MAX) {
				pt_err("'%s' is not a process id (-p/--pid takes a number)", optarg);
				return 2;
			}
			if (cli->co.npids >= MAX_PID_FILTERS) {
				pt_err("too many -p/--pid options (at most %d)", MAX_PID_FILTERS);
				return 2;
			}
			cli->co.pids[cli->co.npids++] = pid;
			break;
		}
		case 'c':
			if (cli->co.ncomms >= PT_MAX_COMM_FILTERS) {
				pt_err("too many -c/--comm options (at most %d)", PT_MAX_COMM_FILTERS);
				return 2;
			}
			if (strlen(optarg) >= PT_COMM_LEN) {
				pt_err("process name '%s' is longer than the kernel keeps (%d "
				       "characters); give the first %d", optarg, PT_COMM_LEN - 1,
				       PT_COMM_LEN - 1);
				return 2;
			}
			strncpy(cli->co.comms[cli->co.ncomms++], optarg, PT_COMM_LEN - 1);
			break;
		case OPT_JSON:
			cli->json = true;
			break;
		case OPT_DURATION:
			if (!parse_double(optarg, &cli->co.duration_s) || cli->co.duration_s == 0) {
				pt_err("'%s' is not a duration in seconds (--duration)", optarg);
				return 2;
			}
			break;
		case OPT_IDLE: {
			double ms;

			if (!parse_double(optarg, &ms) || ms < 1) {
				pt_err("'%s' is not a number of milliseconds (--idle-ms)", optarg);
				return 2;
			}
			cli->co.idle_ns = (uint64_t)(ms * 1e6);
			break;
		}
		case OPT_BTF:
			cli->co.btf_path = optarg;
			break;
		case OPT_IO_HOOKS: {
			static const char *const kinds[] = { "auto", "sock", "syscalls", NULL };

			cli->co.io_hooks = parse_choice("--io-hooks", optarg, kinds);
			if (cli->co.io_hooks < 0)
				return 2;
			break;
		}
		case OPT_UPROBES: {
			static const char *const kinds[] = { "auto", "multi", "perf", NULL };

			cli->co.uprobes = parse_choice("--uprobes", optarg, kinds);
			if (cli->co.uprobes < 0)
				return 2;
			break;
		}
		case OPT_PROBE: {
			char err[512];

			if (cli->co.nspans >= MAX_USER_SPANS) {
				pt_err("too many --probe options (at most %d)", MAX_USER_SPANS);
				return 2;
			}
			if (span_def_parse(optarg, &cli->co.spans[cli->co.nspans], err,
					   sizeof(err))) {
				pt_err("%s", err);
				return 2;
			}
			cli->co.nspans++;
			break;
		}
		case OPT_LISTEN: {
			struct sockaddr_storage ss;
			socklen_t len;
			char err[256];

			if (exporter__parse_listen(optarg, &ss, &len, err, sizeof(err))) {
				pt_err("%s", err);
				return 2;
			}
			cli->listen = optarg;
			break;
		}
		case OPT_BUCKETS: {
			char err[256];

			if (metrics__parse_buckets(optarg, &cli->buckets, &cli->nbuckets, err,
						   sizeof(err))) {
				pt_err("%s", err);
				return 2;
			}
			break;
		}
		case OPT_MAX_PEERS:
		case OPT_MAX_SERIES: {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end || v < 1 || v > 100000) {
				pt_err("'%s' is not a count from 1 to 100000 (%s)", optarg,
				       opt_label(opt, label, sizeof(label)));
				return 2;
			}
			*(opt == OPT_MAX_PEERS ? &cli->max_peers : &cli->max_series) = v;
			break;
		}
		case 'd': {
			char err[256];

			if (top__parse_delay(optarg, &cli->delay_s, err, sizeof(err))) {
				pt_err("%s", err);
				return 2;
			}
			break;
		}
		case 'v':
			pt_verbose = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		case OPT_VERSION:
			printf("phasetrace %s\n", PT_VERSION);
			exit(0);
		case ':':
			pt_err("option %s needs a value; see 'phasetrace --help'",
			       opt_label(optopt, label, sizeof(label)));
			return 2;
		default:
			if (optopt)
				pt_err("unknown option '-%c'; see 'phasetrace --help'", optopt);
			else
				pt_err("unknown option '%s'; see 'phasetrace --help'", argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		pt_err("unexpected argument '%s'; see 'phasetrace --help'", argv[optind]);
		return 2;
	}
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
	if (geteuid() != 0) {
		pt_err("phasetrace must run as root to load BPF programs; run it with sudo");
		return 1;
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
	return 0;
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

/* Self statistics into metrics, once per collector tick. */
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
}

static void quit_collector(void *c)
{
	collector__stop(c);
}

int main(int argc, char **argv)
{
	struct cli cli = {};
	struct collector *c = NULL;
	struct output *out = NULL;
	struct metrics *m = NULL;
	struct exporter *e = NULL;
	struct top *t = NULL;
	struct self_ctx sc;
	struct sink s;
	char msg[256];
	bool is_top, is_serve;
	int rc, err;

	/* a shell starts background jobs with SIGINT ignored: `phasetrace ... &`
	 * then `kill -INT` must still stop it (the collector takes them over) */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	setlocale(LC_ALL, "");
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	signal(SIGPIPE, SIG_IGN);
	rc = parse_args(argc, argv, &cli);
	if (rc)
		return rc;
	is_top = !strcmp(cli.cmd, "top");
	is_serve = !strcmp(cli.cmd, "serve");
	if (is_top && !isatty(STDIN_FILENO)) {
		pt_err("top needs a terminal; use 'phasetrace trace --json' for pipes");
		return 2;
	}
	rc = preflight(&cli);
	if (rc)
		return rc;
	libbpf_set_print(libbpf_print);

	if (is_top || is_serve || cli.listen) {
		struct metrics_opts mo = {
			.buckets = cli.buckets, .nbuckets = cli.nbuckets,
			.max_peers = cli.max_peers, .max_series = cli.max_series,
			.intervals = is_top, .version = PT_VERSION,
		};

		m = metrics__new(&mo);
		if (!m) {
			pt_err("cannot set up metrics: %s", strerror(errno));
			return 1;
		}
	}
	if (is_serve || cli.listen) {
		/* before loading BPF: a taken port is the operator's first error */
		struct exporter_opts eo = { .listen = cli.listen };

		if (exporter__new(&e, m, &eo, msg, sizeof(msg))) {
			pt_err("%s", msg);
			return 1;
		}
	}
	cli.co.quiet = is_top;
	err = collector__new(&cli.co, &c);
	if (err)
		return 1;
	if (m) {
		sc = (struct self_ctx){ c, m };
		collector__on_tick(c, self_stats_tick, &sc);
		s = metrics__sink(m);
		collector__add_sink(c, &s);
	}
	if (e)
		fprintf(stderr, "phasetrace: serving /metrics on port %d\n", exporter__port(e));
	if (is_top) {
		struct top_opts to = { .metrics = m, .delay_s = cli.delay_s,
				       .on_quit = quit_collector, .quit_ctx = c };

		rc = top__new(&t, &to);
		if (rc) {
			pt_err("cannot start top: %s", strerror(-rc));
			return 1;
		}
		collector__on_tick(c, top__tick_cb, t);
		collector__on_fd(c, top__fd(t), top__input_cb, t);
	} else if (!is_serve) {
		out = output__new(stdout, cli.json, !cli.json && isatty(STDOUT_FILENO),
				  term_width());
		if (!out) {
			pt_err("out of memory");
			return 1;
		}
		s = output__sink(out);
		collector__add_sink(c, &s);
		collector__on_tick(c, output__tick_cb, out);
	}
	collector__run(c);
	top__free(t);		/* the terminal first */
	exporter__free(e);	/* its port must not outlive us in the detaching child */
	output__free(out);
	fflush(NULL);
	detach_and_exit(c);
	return 0;
}
