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
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include "collector.h"
#include "log.h"
#include "output.h"

#define PT_VERSION "0.1.0"

static const char usage_text[] =
	"Usage: phasetrace COMMAND [OPTIONS]\n"
	"\n"
	"Where the time of each request goes, live, from outside the process:\n"
	"DNS -> connect -> TLS -> send -> first byte, per request, for every process.\n"
	"\n"
	"Commands:\n"
	"  trace            print each finished request as a waterfall (or JSON lines)\n"
	"\n"
	"Options:\n"
	"  -p, --pid PID        trace only this process (repeatable)\n"
	"  -c, --comm NAME      trace only processes with this name (repeatable)\n"
	"      --json           one JSON object per request and line (docs/json.md)\n"
	"      --duration SECS  stop after this many seconds\n"
	"      --idle-ms MS     report a response after MS of silence (default 500)\n"
	"      --btf PATH       kernel BTF file, for kernels without /sys/kernel/btf/vmlinux\n"
	"  -v, --verbose        say what is attached, skipped and why; libbpf's log\n"
	"  -h, --help           this text\n"
	"      --version        print the version\n";

enum {
	OPT_JSON = 1000, OPT_DURATION, OPT_BTF, OPT_IDLE, OPT_VERSION,
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
	{},
};

struct cli {
	const char *cmd;
	struct collector_opts co;
	bool json;
};

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (!pt_verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
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
	if (strcmp(cli->cmd, "trace")) {
		pt_err("unknown command '%s'; the commands are: trace (see 'phasetrace --help')",
		       cli->cmd);
		return 2;
	}
	opterr = 0;
	optind = 2;
	while ((opt = getopt_long(argc, argv, ":p:c:vh", long_opts, NULL)) != -1) {
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
 * Each uprobe detach waits for an RCU grace period, serialised in the kernel:
 * with ~30 uprobes that is seconds. Everything the user asked for is written by
 * now, so exit at once and let a child (which shares the link descriptors)
 * detach in the background.
 */
static void detach_and_exit(struct collector *c)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);

		setsid();
		if (fd >= 0) {
			dup2(fd, STDIN_FILENO);
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		collector__free(c);
		_exit(0);
	}
	if (pid < 0)
		collector__free(c);
	_exit(0);
}

int main(int argc, char **argv)
{
	struct cli cli = {};
	struct collector *c = NULL;
	struct output *out = NULL;
	struct sink s;
	int rc, err;

	setlocale(LC_ALL, "");
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	signal(SIGPIPE, SIG_IGN);
	rc = parse_args(argc, argv, &cli);
	if (rc)
		return rc;
	rc = preflight(&cli);
	if (rc)
		return rc;
	libbpf_set_print(libbpf_print);

	err = collector__new(&cli.co, &c);
	if (err)
		return 1;
	out = output__new(stdout, cli.json, !cli.json && isatty(STDOUT_FILENO), term_width());
	if (!out) {
		pt_err("out of memory");
		collector__free(c);
		return 1;
	}
	s = output__sink(out);
	collector__add_sink(c, &s);
	collector__run(c);
	output__free(out);
	fflush(NULL);
	detach_and_exit(c);
	return 0;
}
