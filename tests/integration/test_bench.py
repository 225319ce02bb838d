# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""tools/bench-stats.py, which turns the benchmarks' rounds into the figures of the
issue notes: the traced/untraced ratios and the confidence interval of their median,
on inputs whose answer is known; tools/jit_annotate, which places profile samples in
the JIT code of the tracer's programs; tools/hook_floor -w, the work floor under the
tracer's share of the CPU."""
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


def _perfsum(path, busy, bpf, dispatch, tracer=0):
	with open(path, 'w') as f:
		json.dump({'busy': busy, 'idle': 0, 'perf': 0, 'tracer': tracer, 'dispatch': dispatch,
			   'uprobe': 0, 'bpf': bpf, 'own': {}, 'incl': {}}, f)
	return path


def test_bench_floors():
	"""bench-stats.py floors (tools/bench -z -F) on perf rounds whose shares are known:
	the empty programs, the work floor and the tracer, three rounds each, taken in turns
	(files named by round, round 10 sorting after round 2 as numbers); the tracer's
	excess over the work floor is taken round by round: 2, 3 and 1 points."""
	groups = {'fe': [], 'fw': [], 'f': []}
	work = {1: 300, 2: 400, 10: 350}
	for r in (1, 2, 10):
		groups['fe'].append(_perfsum(h.tmp_path('x.fe%d' % r), 10000, 10, 60))
		groups['fw'].append(_perfsum(h.tmp_path('x.fw%d' % r), 10000, work[r], 50))
		extra = {1: 200, 2: 300, 10: 100}[r]
		groups['f'].append(_perfsum(h.tmp_path('x.f%d' % r), 10000, work[r] + extra, 50, 0))
	# a round too short to say anything is left out
	groups['f'].append(_perfsum(h.tmp_path('x.f11'), 999, 500, 50))
	args = sorted(groups['fe'], reverse=True) + ['--'] + sorted(groups['fw'], reverse=True) + \
	       ['--'] + sorted(groups['f'], reverse=True)
	out = subprocess.run([STATS, 'floors'] + args, capture_output=True, text=True,
			     check=True).stdout
	want = [r'perf rounds in turns \(3 of each\)',
		r'empty programs \(hook_floor\)\s+0\.10 \(0\.10-0\.10\)\s+0\.60 \(0\.60-0\.60\)\s+0\.70 ',
		r'work floor \(hook_floor -w\)\s+3\.50 \(3\.00-4\.00\)\s+0\.50 \(0\.50-0\.50\)\s+4\.00 \(3\.50-4\.50\)',
		r'phasetrace\s+5\.00 \(4\.50-7\.00\)\s+0\.50 \(0\.50-0\.50\)\s+5\.50 \(5\.00-7\.50\)',
		r'over the work floor, round by round: \+2\.00 \(\+1\.00-\+3\.00\) points']
	_expect(out, want)
	# the work floor's round 2 too short: the excess pairs rounds 1 and 10 by their
	# numbers (2 and 1 points), not the floor's round 10 with the tracer's round 2
	short = _perfsum(h.tmp_path('y.fw2'), 999, 400, 50)
	args = groups['fe'] + ['--', groups['fw'][0], short, groups['fw'][2], '--'] + groups['f']
	out = subprocess.run([STATS, 'floors'] + args, capture_output=True, text=True,
			     check=True).stdout
	_expect(out, [r'work floor \(hook_floor -w\)\s+3\.25 \(3\.00-3\.50\)',
		      r'over the work floor, round by round: \+1\.50 \(\+1\.00-\+2\.00\) points'])


def _work_hist(pid):
	"""hook_floor's histograms (work_hist: struct work_entry, four struct pt_kagg_hist of
	a sum and 65 counts, u64 each), summed over the CPUs: {key: [(sum, counts) x 4]}."""
	u64s = lambda b: [int.from_bytes(bytes(int(x, 16) for x in b[i:i + 8]), 'little')
			  for i in range(0, len(b), 8)]
	out = {}
	for e in h.held_map_dump(pid, 'work_hist'):
		tot = [0] * (4 * 66)
		for v in e['values']:
			tot = [a + b for a, b in zip(tot, u64s(v['value']))]
		out[u64s(e['key'])[0]] = [(tot[i * 66], tot[i * 66 + 1:(i + 1) * 66])
					 for i in range(4)]
	return out


def test_bench_work_floor():
	"""hook_floor -w, the floor under the tracer's share in tools/bench -z -F, does the
	work it stands for: four keep-alive requests of curl to a server that holds each
	first byte 30 ms; the three that a next request ended are in its histograms of
	status class 2, client's and server's, their ttfb phase (the server's first, the
	client's second) in the bucket of 25-50 ms or above, and their phases' sums over
	90 ms."""
	tool = os.path.join(h.BUILD, 'tools', 'hook_floor')
	h.need_binary(tool, 'run make build/tools/hook_floor')
	d = h.start_daemon('hook_floor', [tool, '-w'], r'^hook_floor: ready$')
	b = h.start_backend(ttfb_ms=30)
	url = 'http://127.0.0.1:%d/' % b.port
	argv = ['curl', '-sS']
	for _ in range(4):
		argv += ['-o', '/dev/null', url]
	r = h.run(argv)
	h.assert_eq(r.rc, 0, 'curl (stderr: %s)' % r.stderr)
	hist = _work_hist(d.pid)
	h.log('work_hist: %s' % hist)
	for key, ttfb, who in ((2, 2, 'client'), (2 | 1 << 8, 1, 'server')):
		h.assert_true(key in hist, 'a %s entry of status class 2' % who)
		req, phase = hist[key][0], hist[key][ttfb]
		h.assert_true(sum(req[1]) >= 3, '%s: 3 requests or more: %s' % (who, req))
		# bounds 0.1 0.25 0.5 1 2.5 5 10 25 50 ms ...: index 8 is (25 ms, 50 ms]
		h.assert_true(sum(phase[1][8:]) >= 3, '%s: 3 ttfb of 25 ms or more: %s' % (who, phase))
		h.assert_true(phase[0] >= 90 * 10**6, '%s: ttfb sum %d ns' % (who, phase[0]))
	d.stop()
