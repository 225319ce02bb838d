# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""phasetrace on bad input: exit non-zero with exactly one line on stderr, a
sentence naming the problem, and no libbpf log (that needs -v)."""
import json
import os
import re
import shutil
import time

import harness as h

NOBODY = 65534


def _bad(argv, pattern, user=None, timeout=30):
	h.need_binary(h.PHASETRACE)
	res = h.run([h.PHASETRACE] + argv, timeout=timeout, user=user)
	what = 'phasetrace %s%s' % (' '.join(argv), ' as uid %d' % user if user is not None else '')
	h.assert_true(res.rc != 0, '%s exited 0 (stderr %r)' % (what, res.stderr))
	h.assert_true(res.rc > 0, '%s was killed by signal %d' % (what, -res.rc))
	lines = res.stderr.strip('\n').splitlines()
	h.assert_eq(len(lines), 1, 'stderr lines of %s (stderr %r)' % (what, res.stderr))
	h.assert_true('libbpf:' not in res.stderr + res.stdout,
		      '%s printed libbpf log lines: %r' % (what, res.stderr + res.stdout))
	h.assert_true(re.search(pattern, lines[0], re.I),
		      '%s: stderr %r does not name the problem (/%s/)' % (what, lines[0], pattern))
	h.assert_true(len(lines[0].split()) >= 3, '%s: %r is not a sentence' % (what, lines[0]))


def test_cli_no_such_pid():
	if os.path.exists('/proc/999999'):
		h.skip('pid 999999 exists on this machine')
	_bad(['trace', '-p', '999999'], r'999999')


def test_cli_option_without_value():
	_bad(['trace', '-p'], r"-p\b|'p'|\bpid\b|argument|value")


def test_cli_unknown_command():
	_bad(['bogus'], r'bogus')


def test_cli_not_root():
	h.need_root()
	if not shutil.which('setpriv'):
		h.skip('setpriv is not installed')
	path = h.PHASETRACE
	h.need_binary(path)
	# the unprivileged user must be able to run it: copy it out if build/ is not reachable
	if h.run(['test', '-x', path], user=NOBODY).rc != 0:
		path = h.tmp_path('phasetrace')
		shutil.copy(h.PHASETRACE, path)
		os.chmod(path, 0o755)
	h.PHASETRACE = path
	_bad(['trace'], r'root|permi|privilege|CAP_|capabilit|not allowed', user=NOBODY)


def test_cli_duration():
	"""--duration S: exits 0 by itself after about S seconds."""
	t0 = time.monotonic()
	tr = h.Tracer(comms=['client'], duration=2)
	h.log('ready after %.1f s' % (time.monotonic() - t0))
	t1 = time.monotonic()
	tr.stop(sigint=False, timeout=20)
	secs = time.monotonic() - t1
	h.assert_true(secs <= 3.0, 'phasetrace --duration 2 ran %.1f s after "ready"' % secs)


def test_cli_no_btf():
	"""A kernel without BTF: simulated with --btf pointing at a file that is not BTF."""
	h.need_root()
	path = h.tmp_path('not-btf')
	with open(path, 'w') as f:
		f.write('this is not BTF\n')
	_bad(['trace', '--btf', path], r'BTF')


def test_cli_btf_missing_file():
	h.need_root()
	_bad(['trace', '--btf', '/nonexistent/vmlinux'], r'/nonexistent/vmlinux')


def test_cli_bad_values():
	for argv, pat in ((['trace', '-p', 'abc'], r'abc'),
			  (['trace', '--duration', 'soon'], r'soon'),
			  (['trace', '--io-hooks', 'kprobes'], r'kprobes'),
			  (['trace', '--thread-state', 'lru'], r'lru'),
			  (['trace', '--listen', 'nowhere'], r'nowhere|listen'),
			  (['trace', '--buckets', '3,2,1'], r'bucket'),
			  (['trace', '--frobnicate'], r'frobnicate'),
			  (['trace', '-c', 'a-name-longer-than-fifteen'], r'longer|15'),
			  (['trace', '--ring-mb', '3'], r'power of two'),
			  (['trace', '--ring-mb', '2048'], r'power of two.*1024'),
			  (['trace', '--ring-mb', '0'], r'power of two')):
		_bad(argv, pat)


def _online_cpus():
	"""How many CPUs are online (glibc counts /sys/devices/system/cpu/online)."""
	return os.sysconf('SC_NPROCESSORS_ONLN')


def _maps_named(tracer, name):
	"""The BPF maps of that name the tracer holds (its fds' map ids, bpftool's names):
	not those of an earlier test's tracer still detaching."""
	ids = h.bpf_ids_held(tracer.proc.pid, 'map')
	r = h.run(['bpftool', '-j', 'map', 'show'])
	h.assert_eq(r.rc, 0, 'bpftool map show (stderr: %s)' % r.stderr)
	return [m for m in json.loads(r.stdout) if m.get('name') == name and m.get('id') in ids]


def test_cli_ring_mb():
	"""--ring-mb 64: the ring buffer the kernel made is 64 MiB (bpftool), each online
	CPU has a ring of its share (a power of two, at least 1 MiB), and requests still
	come through: curl's against the backend fixture, holding its first byte 40 ms."""
	h.need_root()
	be = h.start_backend(ttfb_ms=40)
	tr = h.Tracer(comms=['curl'], extra=['--ring-mb', '64'])
	maps = _maps_named(tr, 'rb')
	h.assert_true(any(m.get('max_entries') == 64 << 20 for m in maps),
		      'a 64 MiB ring buffer: %s' % [m.get('max_entries') for m in maps])
	ncpu, size = _online_cpus(), 1 << 20
	while size * 2 <= (64 << 20) // ncpu:
		size *= 2
	h.assert_eq([m.get('max_entries') for m in _maps_named(tr, 'pt_rb_cpu')], [size] * ncpu,
		    'sizes of the per-CPU rings on %d online CPUs' % ncpu)
	url = 'http://127.0.0.1:%d/' % be.port
	h.assert_eq(h.run(['curl', '-sS', '-o', '/dev/null', url]).rc, 0, 'curl ' + url)
	recs = [x for x in tr.stop() if x.get('comm') == 'curl' and x.get('role') == 'client']
	rec = h.only_one(recs, 'curl\'s request')
	h.assert_true(h.phases(rec)['ttfb']['dur_ns'] >= 39 * h.MS,
		      'ttfb below the injected 40 ms: %s' % json.dumps(rec))


def test_cli_serve_no_cpu_rings():
	"""serve counts keep-alive requests in the kernel: no per-CPU rings for records that
	do not come (memory locked for nothing), while trace, in the same test, has them."""
	h.need_root()
	tr = h.Tracer(comms=['curl'], command=('serve', '--listen', '127.0.0.1:0'))
	h.assert_eq(len(_maps_named(tr, 'rb')), 1, 'the main ring of serve')
	h.assert_eq(_maps_named(tr, 'pt_rb_cpu'), [], 'per-CPU rings under serve')
	tr.stop()
	tr = h.Tracer(comms=['curl'])
	h.assert_eq(len(_maps_named(tr, 'pt_rb_cpu')), _online_cpus(),
		    'per-CPU rings under trace')
	tr.stop()


def test_cli_probe_errors():
	h.need_root()
	_bad(['trace', '--probe', 'render=/nonexistent/app:render_page'], r'/nonexistent/app')
	_bad(['trace', '--probe', 'render=/bin/true:no_such_function_here'],
	     r'no_such_function_here')
	_bad(['trace', '--probe', 'render'], r'NAME=BINARY:SYMBOL')
	_bad(['trace', '--probe', 'x=usdt:/bin/true:prov:start:end'], r'usdt|USDT')


def test_cli_sigint_when_started_in_background():
	"""A shell starts background jobs with SIGINT ignored: `phasetrace &` then
	`kill -INT` still stops it (and its output is complete)."""
	h.need_root()
	h.need_binary(h.PHASETRACE)
	err = h.tmp_path('bg.err')
	script = ('%s trace --json -c client > /dev/null 2> %s &\n'
		  'p=$!\n'
		  'for i in $(seq 300); do grep -q "phasetrace: ready" %s && break; sleep 0.1; done\n'
		  'kill -INT $p\n'
		  'for i in $(seq 150); do kill -0 $p 2>/dev/null || exit 0; sleep 0.1; done\n'
		  'kill -9 $p; exit 1\n') % (h.PHASETRACE, err, err)
	res = h.run(['bash', '-c', script], timeout=60)
	with open(err) as f:
		text = f.read()
	h.assert_true('phasetrace: ready' in text, 'phasetrace never got ready: %r' % text)
	h.assert_eq(res.rc, 0, 'phasetrace started with "&" still running 15 s after SIGINT '
		    '(stderr %r)' % text)
