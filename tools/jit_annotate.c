// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * jit_annotate: where perf's samples fall in a loaded BPF program's JIT code, by the
 * source line each instruction came from. This machine's bpftool has no libbfd (no
 * `prog dump jited`) and perf no libopcodes (no BPF annotation): the image, the
 * addresses of its functions and of its line records come from the kernel
 * (bpf_obj_get_info_by_fd), the instructions from Capstone, the lines from the
 * program's BTF.
 *
 *   perf record -a -F 19999 -o p.data -- sleep 4    (while the program runs)
 *   perf script -i p.data -F ip | sort | uniq -c > ips
 *   jit_annotate [-l] [-f NAME] ips PROG_ID...
 *
 * Prints, per function of each program with samples (a subprogram's name contains
 * NAME with -f), its samples and its source lines by samples; -l: every instruction
 * with its samples, under its source line. Samples land on the instruction after the
 * one that stalled (a load that missed, often).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <capstone/capstone.h>

struct sample {
	uint64_t ip;
	unsigned long n;
};

struct line_sum {
	const char *src;
	unsigned line;
	unsigned long n;
};

static struct sample *samples;
static size_t nsamples;

static int by_ip(const void *a, const void *b)
{
	const struct sample *x = a, *y = b;

	return x->ip < y->ip ? -1 : x->ip > y->ip;
}

static unsigned long samples_at(uint64_t ip)
{
	struct sample key = { .ip = ip }, *s;

	s = bsearch(&key, samples, nsamples, sizeof(*samples), by_ip);
	return s ? s->n : 0;
}

static int read_samples(const char *path)
{
	FILE *f = fopen(path, "r");
	unsigned long n;
	uint64_t ip;
	size_t cap = 0;

	if (!f) {
		fprintf(stderr, "jit_annotate: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fscanf(f, "%lu %" SCNx64, &n, &ip) == 2) {
		if (nsamples == cap) {
			struct sample *s = realloc(samples, (cap = cap ? 2 * cap : 4096) * sizeof(*s));

			if (!s) {
				fclose(f);
				return -1;
			}
			samples = s;
		}
		samples[nsamples++] = (struct sample){ .ip = ip, .n = n };
	}
	fclose(f);
	qsort(samples, nsamples, sizeof(*samples), by_ip);
	return 0;
}

/* The kallsyms names (bpf_prog_TAG_NAME) of the n functions at addrs[], "?" for one not
 * found: one pass over /proc/kallsyms for all of them. */
static void func_names(const uint64_t *addrs, uint32_t n, char (*names)[256])
{
	FILE *f = fopen("/proc/kallsyms", "r");
	char line[512], name[256];
	uint64_t a;

	for (uint32_t i = 0; i < n; i++)
		snprintf(names[i], sizeof(names[i]), "?");
	while (f && fgets(line, sizeof(line), f)) {
		if (!strstr(line, "[bpf]") ||
		    sscanf(line, "%" SCNx64 " %*c %255s", &a, name) != 2)
			continue;
		for (uint32_t i = 0; i < n; i++)
			if (addrs[i] == a)
				snprintf(names[i], sizeof(names[i]), "%s", name);
	}
	if (f)
		fclose(f);
}

static int by_samples(const void *a, const void *b)
{
	const struct line_sum *x = a, *y = b;

	return x->n < y->n ? 1 : x->n > y->n ? -1 : 0;
}

struct prog {
	uint64_t *ksyms, *jlines;
	uint32_t *flens, nfunc, nlines, len;
	uint8_t *image;
	struct bpf_line_info *lines;
	struct btf *btf;
};

static int prog_load(int id, struct prog *p)
{
	struct bpf_prog_info info = {};
	uint32_t info_len = sizeof(info);
	int fd = bpf_prog_get_fd_by_id(id), err = -1;

	if (fd < 0) {
		fprintf(stderr, "jit_annotate: no program %d: %s\n", id, strerror(errno));
		return -1;
	}
	if (bpf_obj_get_info_by_fd(fd, &info, &info_len) || !info.jited_prog_len)
		goto out;
	p->nfunc = info.nr_jited_ksyms ? info.nr_jited_ksyms : 1;
	p->nlines = info.nr_jited_line_info == info.nr_line_info ? info.nr_line_info : 0;
	p->len = info.jited_prog_len;
	p->ksyms = calloc(p->nfunc, sizeof(*p->ksyms));
	p->flens = calloc(p->nfunc, sizeof(*p->flens));
	p->jlines = calloc(p->nlines + 1, sizeof(*p->jlines));
	p->lines = calloc(p->nlines + 1, sizeof(*p->lines));
	p->image = malloc(p->len);
	if (!p->ksyms || !p->flens || !p->jlines || !p->lines || !p->image)
		goto out;
	uint32_t btf_id = info.btf_id;

	memset(&info, 0, sizeof(info));
	info.nr_jited_ksyms = p->nfunc;
	info.jited_ksyms = (uintptr_t)p->ksyms;
	info.nr_jited_func_lens = p->nfunc;
	info.jited_func_lens = (uintptr_t)p->flens;
	info.jited_prog_len = p->len;
	info.jited_prog_insns = (uintptr_t)p->image;
	info.nr_jited_line_info = p->nlines;
	info.jited_line_info_rec_size = sizeof(*p->jlines);
	info.jited_line_info = (uintptr_t)p->jlines;
	info.nr_line_info = p->nlines;
	info.line_info_rec_size = sizeof(*p->lines);
	info.line_info = (uintptr_t)p->lines;
	info_len = sizeof(info);
	if (bpf_obj_get_info_by_fd(fd, &info, &info_len))
		goto out;
	if (!info.nr_jited_ksyms) {	/* one function: its length is the image's */
		p->flens[0] = p->len;
		p->ksyms[0] = 0;
	}
	p->btf = btf_id ? btf__load_from_kernel_by_id(btf_id) : NULL;
	err = 0;
out:
	if (err)
		fprintf(stderr, "jit_annotate: program %d: no JIT image or line records (root?)\n",
			id);
	close(fd);
	return err;
}

static void annotate(const struct prog *p, csh cs, const char *want, bool listing)
{
	char (*names)[256] = calloc(p->nfunc, sizeof(*names));
	size_t off = 0;

	if (!names)
		return;
	func_names(p->ksyms, p->nfunc, names);
	for (uint32_t f = 0; f < p->nfunc; off += p->flens[f], f++) {
		struct line_sum *sums = NULL;
		const char *name = names[f];
		size_t nsums = 0, ninsn;
		unsigned long total = 0;
		cs_insn *insn;

		if (off + p->flens[f] > p->len)
			break;
		if (want && !strstr(name, want))
			continue;
		ninsn = cs_disasm(cs, p->image + off, p->flens[f], p->ksyms[f], 0, &insn);
		for (size_t i = 0; i < ninsn; i++)
			total += samples_at(insn[i].address);
		if (!total) {
			cs_free(insn, ninsn);
			continue;
		}
		printf("== %s: %lu samples, %u bytes\n", name, total, p->flens[f]);
		sums = calloc(ninsn + 1, sizeof(*sums));
		struct line_sum cur = { .src = "(no line)" };

		for (size_t i = 0; i < ninsn; i++) {
			for (uint32_t l = 0; l < p->nlines && p->btf; l++) {
				if (p->jlines[l] != insn[i].address)
					continue;
				cur.src = btf__name_by_offset(p->btf, p->lines[l].line_off);
				cur.line = BPF_LINE_INFO_LINE_NUM(p->lines[l].line_col);
				if (!cur.src)
					cur.src = "";
				if (listing)
					printf("        ; %u: %s\n", cur.line, cur.src);
			}
			unsigned long n = samples_at(insn[i].address);

			if (listing)
				printf("%7lu %" PRIx64 ": %s %s\n", n, insn[i].address,
				       insn[i].mnemonic, insn[i].op_str);
			if (!sums || !n)
				continue;
			size_t k;

			for (k = 0; k < nsums; k++)
				if (sums[k].line == cur.line && sums[k].src == cur.src)
					break;
			if (k == nsums)
				sums[nsums++] = (struct line_sum){ .src = cur.src, .line = cur.line };
			sums[k].n += n;
		}
		if (sums) {
			qsort(sums, nsums, sizeof(*sums), by_samples);
			for (size_t k = 0; k < nsums && k < 25; k++)
				printf("%7lu %5.1f %%  %u: %s\n", sums[k].n, 100.0 * sums[k].n / total,
				       sums[k].line, sums[k].src);
		}
		free(sums);
		cs_free(insn, ninsn);
	}
	free(names);
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-l] [-f NAME] IPS_FILE PROG_ID...\n"
		"  IPS_FILE: `perf script -F ip | sort | uniq -c` of a perf record -a\n"
		"  -f NAME   only functions whose name contains NAME\n"
		"  -l        every instruction, under its source line\n", prog);
	exit(2);
}

int main(int argc, char **argv)
{
	const char *want = NULL;
	bool listing = false;
	int opt, rc = 0;
	csh cs;

	while ((opt = getopt(argc, argv, "lf:h")) != -1) {
		if (opt == 'l')
			listing = true;
		else if (opt == 'f')
			want = optarg;
		else
			usage(argv[0]);
	}
	if (argc - optind < 2)
		usage(argv[0]);
	if (read_samples(argv[optind]))
		return 1;
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &cs) != CS_ERR_OK) {
		fprintf(stderr, "jit_annotate: Capstone has no x86-64 disassembler\n");
		return 1;
	}
	for (int i = optind + 1; i < argc; i++) {
		struct prog p = {};
		char *end;
		long id = strtol(argv[i], &end, 10);

		if (*end || id <= 0 || id > INT32_MAX) {
			fprintf(stderr, "jit_annotate: '%s' is not a program id\n", argv[i]);
			rc = 1;
			continue;
		}
		if (prog_load((int)id, &p))
			rc = 1;
		else
			annotate(&p, cs, want, listing);
		btf__free(p.btf);
		free(p.ksyms);
		free(p.flens);
		free(p.jlines);
		free(p.lines);
		free(p.image);
	}
	cs_close(&cs);
	return rc;
}
