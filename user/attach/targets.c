// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Finding binaries and attaching uprobes to them; see targets.h. */
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/bpf.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include "attach/binary.h"
#include "attach/golang.h"
#include "util/log.h"
#include "phasetrace.h"
#include "phasetrace.skel.h"
#include "attach/targets.h"

#define MAX_FILES	4096
#define MAX_RESCANS	256

struct probe_def {
	const char *sym;
	const char *entry;	/* program names in the skeleton, NULL for none */
	const char *ret;
	enum pt_fn fn;		/* cookie for the uprobe_multi dispatchers */
};

/* A set applies to a file that defines its first symbol. */
struct probe_set {
	const char *what;
	const struct probe_def *defs;
	int ndefs;
	const char *multi_entry, *multi_ret;	/* dispatchers for uprobe_multi */
};

static const struct probe_def openssl_defs[] = {
	{ "SSL_do_handshake", "ssl_handshake_entry", "tls_ret", PT_FN_SSL_HANDSHAKE },
	{ "SSL_connect", "ssl_handshake_entry", "tls_ret", PT_FN_SSL_HANDSHAKE },
	{ "SSL_accept", "ssl_handshake_entry", "tls_ret", PT_FN_SSL_HANDSHAKE },
	{ "SSL_read", "ssl_read_entry", "tls_ret", PT_FN_SSL_READ },
	{ "SSL_read_ex", "ssl_read_ex_entry", "tls_ret", PT_FN_SSL_READ_EX },
	{ "SSL_write", "ssl_write_entry", "tls_ret", PT_FN_SSL_WRITE },
	{ "SSL_write_ex", "ssl_write_ex_entry", "tls_ret", PT_FN_SSL_WRITE_EX },
	{ "SSL_free", "tls_free_entry", NULL, PT_FN_TLS_FREE },
};

static const struct probe_def gnutls_defs[] = {
	{ "gnutls_handshake", "gnutls_handshake_entry", "tls_ret", PT_FN_GNUTLS_HANDSHAKE },
	{ "gnutls_record_recv", "gnutls_recv_entry", "tls_ret", PT_FN_GNUTLS_RECV },
	{ "gnutls_record_send", "gnutls_send_entry", "tls_ret", PT_FN_GNUTLS_SEND },
	{ "gnutls_deinit", "tls_free_entry", NULL, PT_FN_TLS_FREE },
};

static const struct probe_def libc_defs[] = {
	{ "getaddrinfo", "getaddrinfo_entry", "getaddrinfo_ret", PT_FN_GETADDRINFO },
	{ "gethostbyname", "gethostbyname_entry", "gethostbyname_ret", PT_FN_GETHOSTBYNAME },
	{ "gethostbyname2", "gethostbyname_entry", "gethostbyname_ret", PT_FN_GETHOSTBYNAME },
	{ "gethostbyname_r", "gethostbyname_r_entry", "gethostbyname_r_ret",
	  PT_FN_GETHOSTBYNAME_R },
	{ "gethostbyname2_r", "gethostbyname2_r_entry", "gethostbyname_r_ret",
	  PT_FN_GETHOSTBYNAME2_R },
};

static const struct probe_def dlopen_defs[] = {
	{ "dlopen", NULL, "dlopen_ret", 0 },
};

#define SET(w, d, me, mr) { w, d, sizeof(d) / sizeof(d[0]), me, mr }
static const struct probe_set sets[] = {
	SET("openssl", openssl_defs, "tls_entry_multi", "tls_ret_multi"),
	SET("gnutls", gnutls_defs, "tls_entry_multi", "tls_ret_multi"),
	SET("libc resolver", libc_defs, "dns_entry_multi", "dns_ret_multi"),
	SET("dlopen", dlopen_defs, NULL, "dlopen_ret_multi"),
};

/* File names worth opening: the libraries above, wherever they live. */
static const char *const lib_patterns[] = {
	"libc.so*", "libc-2.*.so", "libc.musl*", "ld-musl*", "libssl.so*", "libgnutls.so*",
	"libdl.so*", "libdl-2.*.so",
};

struct file_ent {
	dev_t dev;
	ino_t ino;
};

struct rescan {
	pid_t pid;
	uint64_t when;
};

struct targets {
	struct phasetrace_bpf *skel;
	struct golang *go;
	bool multi;		/* uprobe_multi links (Linux 6.6+) */
	int *mfds;		/* their descriptors */
	int nmfds, capmfds;
	int nmulti_probes;
	struct file_ent files[MAX_FILES];
	int nfiles;
	struct bpf_link **links;
	int nlinks, caplinks;
	int nfailed;
	struct rescan rescans[MAX_RESCANS];
	int nrescans;
};

struct targets *targets__new(struct phasetrace_bpf *skel, bool multi)
{
	struct targets *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->skel = skel;
	t->multi = multi;
	t->go = golang__new(skel);
	if (!t->go) {
		free(t);
		return NULL;
	}
	return t;
}

void targets__free(struct targets *t)
{
	if (!t)
		return;
	for (int i = 0; i < t->nlinks; i++)
		bpf_link__destroy(t->links[i]);
	free(t->links);
	for (int i = 0; i < t->nmfds; i++)
		close(t->mfds[i]);
	free(t->mfds);
	golang__free(t->go);
	free(t);
}

struct golang *targets__golang(struct targets *t)
{
	return t->go;
}

void targets__counts(const struct targets *t, int *files, int *attached, int *failed)
{
	*files = t->nfiles;
	*attached = t->nlinks + t->nmulti_probes;
	*failed = t->nfailed;
}

static bool seen_file(struct targets *t, const struct stat *st)
{
	for (int i = 0; i < t->nfiles; i++)
		if (t->files[i].dev == st->st_dev && t->files[i].ino == st->st_ino)
			return true;
	if (t->nfiles < MAX_FILES) {
		t->files[t->nfiles].dev = st->st_dev;
		t->files[t->nfiles].ino = st->st_ino;
		t->nfiles++;
	}
	return false;
}

static int add_link(struct targets *t, struct bpf_link *l)
{
	if (t->nlinks == t->caplinks) {
		int cap = t->caplinks ? t->caplinks * 2 : 64;
		struct bpf_link **n = realloc(t->links, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		t->links = n;
		t->caplinks = cap;
	}
	t->links[t->nlinks++] = l;
	return 0;
}

static int attach_one(struct targets *t, const char *path, const char *name,
		      const char *prog_name, bool ret, uint64_t off, const char *sym)
{
	struct bpf_program *prog = bpf_object__find_program_by_name(t->skel->obj, prog_name);
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .retprobe = ret);
	struct bpf_link *l;

	if (!prog)
		return -ENOENT;
	l = bpf_program__attach_uprobe_opts(prog, -1, path, off, &uo);
	if (!l) {
		int err = -errno;

		t->nfailed++;
		pt_info("cannot attach %s to %s in %s: %s", prog_name, sym, name, strerror(-err));
		return err;
	}
	return add_link(t, l);
}

/*
 * One uprobe_multi link (BPF_LINK_CREATE, Linux 6.6+) for n offsets of a file:
 * libbpf 1.1 predates it, so the attr is laid out here as the kernel has it.
 */
struct link_create_uprobe_multi {
	__u32 prog_fd;
	__u32 target_fd;
	__u32 attach_type;
	__u32 flags;
	__u64 path;
	__u64 offsets;
	__u64 ref_ctr_offsets;
	__u64 cookies;
	__u32 cnt;
	__u32 um_flags;
	__u32 pid;
};

#define BPF_TRACE_UPROBE_MULTI_		48
#define BPF_F_UPROBE_MULTI_RETURN_	1

static int multi_link(struct targets *t, const char *prog_name, const char *path,
		      const uint64_t *offs, const uint64_t *cookies, int n, bool ret)
{
	struct bpf_program *prog = bpf_object__find_program_by_name(t->skel->obj, prog_name);
	union {
		struct link_create_uprobe_multi lc;
		char raw[256];	/* the kernel checks the unused tail is zero */
	} attr;
	int fd;

	if (!prog || !n)
		return -ENOENT;
	memset(&attr, 0, sizeof(attr));
	attr.lc.prog_fd = bpf_program__fd(prog);
	attr.lc.attach_type = BPF_TRACE_UPROBE_MULTI_;
	attr.lc.path = (uintptr_t)path;
	attr.lc.offsets = (uintptr_t)offs;
	attr.lc.cookies = (uintptr_t)cookies;
	attr.lc.cnt = n;
	attr.lc.um_flags = ret ? BPF_F_UPROBE_MULTI_RETURN_ : 0;
	fd = syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof(attr));
	if (fd < 0)
		return -errno;
	if (t->nmfds == t->capmfds) {
		int cap = t->capmfds ? t->capmfds * 2 : 32;
		int *nf = realloc(t->mfds, cap * sizeof(*nf));

		if (!nf) {
			close(fd);
			return -ENOMEM;
		}
		t->mfds = nf;
		t->capmfds = cap;
	}
	t->mfds[t->nmfds++] = fd;
	t->nmulti_probes += n;
	return 0;
}

/* All the set's functions this file defines: one link for entries, one for returns. */
static void attach_set_multi(struct targets *t, struct binary *es, const char *path,
			     const char *name, const struct probe_set *set)
{
	uint64_t eoff[16], ecookie[16], roff[16], rcookie[16];
	int ne = 0, nr = 0, err = 0;
	struct binary_sym sym;

	for (int d = 0; d < set->ndefs && d < 16; d++) {
		const struct probe_def *def = &set->defs[d];

		if (binary__sym(es, def->sym, &sym))
			continue;
		if (def->entry && set->multi_entry) {
			eoff[ne] = sym.file_off;
			ecookie[ne++] = def->fn;
		}
		if (def->ret) {
			roff[nr] = sym.file_off;
			rcookie[nr++] = def->fn;
		}
	}
	if (ne)
		err = multi_link(t, set->multi_entry, path, eoff, ecookie, ne, false);
	if (!err && nr)
		err = multi_link(t, set->multi_ret, path, roff, rcookie, nr, true);
	if (err) {
		t->nfailed += ne + nr;
		pt_info("%s: %s: cannot attach: %s", name, set->what, strerror(-err));
	} else {
		pt_info("%s: %s: %d probes attached (2 links)", name, set->what, ne + nr);
	}
}

/* Attach every set whose key symbol this file defines. */
static void attach_file(struct targets *t, const char *path, const char *name)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct binary *es;

	if (fd < 0 || binary__open_fd(fd, NULL, &es))
		return;
	for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++) {
		const struct probe_set *set = &sets[s];
		struct binary_sym sym;
		int ok = 0, failed = t->nfailed;

		if (binary__sym(es, set->defs[0].sym, &sym))
			continue;
		if (t->multi) {
			attach_set_multi(t, es, path, name, set);
			continue;
		}
		for (int d = 0; d < set->ndefs; d++) {
			const struct probe_def *def = &set->defs[d];

			if (d && binary__sym(es, def->sym, &sym))
				continue;
			if (def->entry && !attach_one(t, path, name, def->entry, false,
						      sym.file_off, def->sym))
				ok++;
			if (def->ret && !attach_one(t, path, name, def->ret, true, sym.file_off,
						    def->sym))
				ok++;
		}
		pt_info("%s: %s: %d probes attached, %d failed", name, set->what, ok,
			t->nfailed - failed);
	}
	binary__free(es);
}

static bool interesting_lib(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	for (size_t i = 0; i < sizeof(lib_patterns) / sizeof(lib_patterns[0]); i++)
		if (!fnmatch(lib_patterns[i], base, 0))
			return true;
	return false;
}

/*
 * Hold the file open while we read and attach it: a path through
 * /proc/PID/root dies with a short-lived process, /proc/self/fd/N does not.
 */
static void consider(struct targets *t, const char *path)
{
	char fdpath[64];
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || seen_file(t, &st)) {
		close(fd);
		return;
	}
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
	attach_file(t, fdpath, path);
	close(fd);
}

int targets__scan_system(struct targets *t)
{
	static const char *const dirs[] = {
		"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
		"/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib",
		"/usr/local/lib",
	};

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		DIR *d = opendir(dirs[i]);
		struct dirent *de;

		if (!d)
			continue;
		while ((de = readdir(d))) {
			char path[PATH_MAX];

			if (!interesting_lib(de->d_name))
				continue;
			snprintf(path, sizeof(path), "%s/%s", dirs[i], de->d_name);
			consider(t, path);
		}
		closedir(d);
	}
	return 0;
}

int targets__scan_pid(struct targets *t, pid_t pid)
{
	char path[PATH_MAX], line[PATH_MAX + 256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	consider(t, path);
	golang__consider_exe(t->go, path, pid);
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *file = strchr(line, '/');
		char *nl;

		if (!file || (!strstr(line, " r-xp ") && !strstr(line, " r--p ")))
			continue;
		nl = strchr(file, '\n');
		if (nl)
			*nl = 0;
		if (!interesting_lib(file))
			continue;
		/* through the process's root: right inode in containers too */
		snprintf(path, sizeof(path), "/proc/%d/root%s", pid, file);
		consider(t, path);
	}
	fclose(f);
	return 0;
}

int targets__scan_all(struct targets *t, const pid_t *pids, int npids)
{
	DIR *d;
	struct dirent *de;

	if (npids) {
		for (int i = 0; i < npids; i++)
			targets__scan_pid(t, pids[i]);
		return 0;
	}
	d = opendir("/proc");
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end || pid <= 0 || pid == getpid())
			continue;
		targets__scan_pid(t, pid);
	}
	closedir(d);
	return 0;
}

void targets__rescan_later(struct targets *t, pid_t pid, uint64_t when)
{
	if (t->nrescans < MAX_RESCANS)
		t->rescans[t->nrescans++] = (struct rescan){ pid, when };
}

void targets__tick(struct targets *t, uint64_t now)
{
	for (int i = 0; i < t->nrescans;) {
		if (t->rescans[i].when <= now) {
			targets__scan_pid(t, t->rescans[i].pid);
			t->rescans[i] = t->rescans[--t->nrescans];
		} else {
			i++;
		}
	}
}
