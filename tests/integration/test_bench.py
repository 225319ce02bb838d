# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""tools/bench-stats.py, which turns the benchmarks' rounds into the figures of the
issue notes: the traced/untraced ratios and the confidence interval of their median,
on inputs whose answer is known; tools/jit_annotate, which places profile samples in
the JIT code of the tracer's programs."""
import json
import os
import re
import subprocess

import harness as h

STATS = os.path.join(h.ROOT, 'tools', 'bench-stats.py')


def _expect(out, patterns):
	"""Every pattern matches somewhere in out."""
	for w in patterns:
		h.assert_true(re.search(w, out), 'no /%s/ in:\n%s' % (w, out))


def _ratios(rounds):
	"""bench-stats.py ratios over (traced, untraced-after) pairs, untraced 100 throughout."""
	vals = ['100']
	for t in rounds:
		vals += [str(t), '100']
	return subprocess.run([STATS, 'ratios', 'x'] + vals, capture_output=True, text=True,
			      check=True).stdout


def test_bench_ratio_median_ci():
	# 30 rounds at 0.70, 0.71, ... 0.99: the median is 0.845; with 30 values the 95 %
	# interval of the median runs from the 10th to the 21st smallest (binomial tables)
	out = _ratios(range(99, 69, -1))
	h.assert_true('traced/untraced 0.845 (0.700-0.990)' in out, 'median and range: %s' % out)
	h.assert_true('95% CI of the median 0.790-0.900 over 30 rounds' in out,
		      'interval of 30 rounds: %s' % out)
	# 6 rounds: only (min, max) covers 95 % (96.9 %)
	out = _ratios([90, 95, 92, 97, 91, 93])
	h.assert_true('95% CI of the median 0.900-0.970 over 6 rounds' in out,
		      'interval of 6 rounds: %s' % out)
	# 5 rounds: no interval reaches 95 %, none is printed
	out = _ratios([90, 95, 92, 97, 91])
	h.assert_true('traced/untraced 0.920 (0.900-0.970)' in out and 'CI' not in out,
		      'no interval for 5 rounds: %s' % out)


def _sample(pid, *frames):
	"""One sample of `perf script -F pid,ip,sym` with its callchain, innermost first."""
	return '%d\n' % pid + ''.join('\tffffffff8100%04x %s\n' % (i, f)
				     for i, f in enumerate(frames)) + '\n'


def test_bench_perf_shares():
	"""bench-stats.py perfsum and functions (tools/bench -F) on a perf script whose shares
	are known: 1940 busy samples (idle and perf's own left out), of which BPF 400 (a
	subprogram's own code 200, a helper called by a program 200), tracepoint dispatch
	100, uprobe handling 40, the tracer process 200 (50 of them in a program: counted
	once, as the tracer's)."""
	tracer, perf = 40, 50
	prog = 'bpf_prog_0123456789abcdef_sock_send_length_btf'
	sub = 'bpf_prog_fedcba9876543210_kagg_request'
	text = ''.join(
		_sample(0, 'pv_native_safe_halt', 'do_idle') * 100 +
		_sample(perf, 'perf_mmap__push') * 60 +
		_sample(tracer, 'jstr_buf', 'main') * 150 +
		# the tracer's own socket I/O runs the hooks' programs: still the tracer's
		_sample(tracer, 'ktime_get_mono_fast_ns', prog, 'bpf_trace_run4') * 50 +
		_sample(100, 'tcp_sendmsg_locked', 'do_syscall_64') * 1200 +
		_sample(100, sub, prog, 'bpf_trace_run4', 'sock_sendmsg') * 200 +
		_sample(100, 'ktime_get_mono_fast_ns', prog, 'bpf_trace_run4') * 200 +
		_sample(100, 'bpf_trace_run4', '__bpf_trace_sock_msg_length') * 100 +
		_sample(100, 'handle_swbp', 'exc_int3') * 20 +
		_sample(100, 'bpf_prog_run_array_uprobe', 'uprobe_dispatcher') * 20)
	summary = subprocess.run([STATS, 'perfsum', str(tracer), str(perf)], input=text,
				 capture_output=True, text=True, check=True).stdout
	path = h.tmp_path('perf.summary')
	with open(path, 'w') as f:
		f.write(summary)
	out = subprocess.run([STATS, 'functions', path, path], capture_output=True, text=True,
			     check=True).stdout
	want = [r'BPF programs, with the kernel helpers they call\s+20\.62 \(20\.62-20\.62\)',
		r'tracepoint dispatch to them\s+5\.15 ',
		r'uprobe traps, single steps and dispatch\s+2\.06 ',
		r'the tracer process \(collector\)\s+10\.31 ',
		r'in all\s+38\.14 \(38\.14-38\.14\): .* keeps ~61\.9 %',
		# own code, with helpers, share of BPF with helpers
		r'kagg_request\s+10\.31 \(10\.31-10\.31\)\s+10\.31 \(10\.31-10\.31\)\s+50\.0 ',
		r'sock_send_length_btf\s+0\.00 \(0\.00-0\.00\)\s+10\.31 \(10\.31-10\.31\)\s+50\.0 ']
	_expect(out, want)


def test_bench_paired_rounds():
	"""bench-stats.py pairs (tools/bench-compare -P) on rounds whose answer is known:
	the new build takes 0.9 of the old one's time, and the build attached second 1.1
	times what it would take first (old first in odd rounds: the old build's file
	says which went first), so that new/old reads 0.99 with old first and 0.818 with
	new first: the order cancels to 0.9."""
	paths = {'old': [], 'new': []}
	for r in range(1, 5):
		old_first = r % 2 == 1
		ns = {'old': 1000 * (1.0 if old_first else 1.1),
		      'new': 900 * (1.1 if old_first else 1.0)}
		for b in ('old', 'new'):
			path = h.tmp_path('%s.p%d' % (b, r))
			with open(path, 'w') as f:
				# 1000 requests; two programs, 3 and 1 hits a request
				f.write('requests 1000\nprog sock_send_length_btf 3000 %d\n'
					'prog sock_recv_length_btf 1000 %d\n'
					% (ns[b] * 750, ns[b] * 250))
				if b == 'old':
					f.write('first %s\n' % ('old' if old_first else 'new'))
			paths[b].append(path)
	out = subprocess.run([STATS, 'pairs'] + paths['old'] + ['--'] + paths['new'],
			     capture_output=True, text=True, check=True).stdout
	want = [r'1\s+1000\s+990\s+0\.990', r'2\s+1100\s+900\s+0\.818',
		r'new/old: median 0\.904 \(range 0\.818-0\.990\) over 4 paired rounds',
		r'old attached first: median 0\.990 .*new first: 0\.818',
		r'the order cancelled .*: new/old 0\.900',
		# ns per hit: the send hook has 750 of a request's ns over its 3 hits
		r'sock_send_length_btf\s+262 \(250-275\)\s+236 \(225-248\)']
	_expect(out, want)


def test_bench_jit_annotate():
	"""tools/jit_annotate on the tracer's own send hook: samples at its first JIT
	instruction and at an address in no program; the first are the function's, under
	its first source line, the others nobody's."""
	tool = os.path.join(h.BUILD, 'tools', 'jit_annotate')
	h.need_binary(tool, 'run make build/tools/jit_annotate')
	t = h.Tracer()
	held = h.bpf_ids_held(t.proc.pid, 'prog')
	progs = json.loads(subprocess.run(['bpftool', 'prog', 'show', '-j'], capture_output=True,
					  text=True, check=True).stdout)
	mine = [p for p in progs if p.get('name') == 'sock_send_length_btf' and p['id'] in held]
	h.assert_true(len(mine) == 1, 'one send hook of the tracer: %s' % mine)
	sym = 'bpf_prog_%s_sock_send_length_btf' % mine[0]['tag']
	with open('/proc/kallsyms') as f:
		addrs = [l.split()[0] for l in f if l.split()[2:3] == [sym]]
	h.assert_true(len(addrs) == 1, '%s in kallsyms: %s' % (sym, addrs))
	ips = h.tmp_path('ips')
	with open(ips, 'w') as f:
		f.write('      7 %s\n      3 ffffffff00000040\n' % addrs[0])
	out = subprocess.run([tool, '-l', '-f', 'send_length', ips, str(mine[0]['id'])],
			     capture_output=True, text=True, timeout=60)
	h.log(out.stdout[:3000] + out.stderr)
	h.assert_eq(out.returncode, 0, 'exit status')
	h.assert_true(re.search(r'^== %s: 7 samples, \d+ bytes$' % sym, out.stdout, re.M),
		      'the function and its 7 samples')
	h.assert_true(re.search(r'^      7 %s: \S+' % addrs[0].lstrip('0'), out.stdout, re.M),
		      'the 7 samples at its first instruction')
	h.assert_true(re.search(r'^      7 100\.0 %  \d+: .*BPF_PROG\(sock_send_length_btf',
				out.stdout, re.M), 'all of them on its first source line')
	bad = subprocess.run([tool, ips, 'x1'], capture_output=True, text=True, timeout=60)
	h.assert_true(bad.returncode == 1 and "'x1' is not a program id" in bad.stderr,
		      'a bad id: %d %s' % (bad.returncode, bad.stderr))
	t.stop()
