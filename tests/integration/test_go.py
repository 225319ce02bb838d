# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""phasetrace on a Go net/http + html/template service (tests/fixtures/go/webapp).

Ground truth: delays the test injects (render_ms spent inside Execute, the DNS
fixture's answer delay, the backend's handshake hold and time to first byte)
and the webapp's own per-request log (execute_ns, total_ns). Many concurrent
requests make goroutines migrate across threads: each server record must
still get its own render phase and its own backend child.

Every test is one row per installed Go toolchain (/usr/lib/go-1.NN, Debian's
golang-1.NN-go): test names go1_NN_CASE. The fixtures are built for each by
tests/fixtures/go/build.sh (`make fixtures`)."""
import glob
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time

import harness as h
import checks
from harness import MS, BACKEND_HOST

GO_OUT = os.path.join(h.BUILD, 'fixtures', 'go')
FIXTURE_SRC = os.path.join(h.ROOT, 'tests', 'fixtures', 'go')
BUILD_SH = os.path.join(FIXTURE_SRC, 'build.sh')
COMM = 'webapp'
NPAR = 16


def _toolchains():
	"""['go1.19', 'go1.21', ...]: every Go toolchain under /usr/lib, oldest first."""
	vers = []
	for gobin in glob.glob('/usr/lib/go-1.*/bin/go'):
		m = re.search(r'/go-1\.(\d+)/', gobin)
		if m and os.access(gobin, os.X_OK):
			vers.append(int(m.group(1)))
	return ['go1.%d' % v for v in sorted(set(vers))]


def _go_binary(ver, name):
	"""The fixture NAME built by toolchain VER ('go1.21'); builds them if stale."""
	path = os.path.join(GO_OUT, ver, name)
	srcs = glob.glob(os.path.join(FIXTURE_SRC, '*', '*.go')) + [BUILD_SH]
	newest = max(os.path.getmtime(f) for f in srcs)
	if not os.path.exists(path) or os.path.getmtime(path) < newest:
		if not shutil.which('go'):
			h.skip('go is not installed (Debian: golang-go)')
		r = h.run([BUILD_SH], timeout=900)
		if r.rc == 77:
			h.skip('cannot build the Go fixtures: %s' % r.stderr.strip())
		h.assert_eq(r.rc, 0, 'build.sh exit status (stderr: %s)' % r.stderr.strip()[-2000:])
	h.need_binary(path, 'run tests/fixtures/go/build.sh')
	return path


class Webapp:
	"""The Go fixture, started before the tracer; its stderr is its request log."""

	def __init__(self, ver, binary='webapp', args=(), path=None):
		path = path or _go_binary(ver, binary)
		self.errp = h.tmp_path('webapp.%d.stderr' % len(h._undo))
		err = open(self.errp, 'wb')
		argv = [path, '-addr', '127.0.0.1:0'] + [str(a) for a in args]
		h.log('run: %s' % ' '.join(argv))
		self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err,
					     stdin=subprocess.DEVNULL, env=h.clean_env())
		err.close()
		h.defer(lambda: h._stop(self.proc), 'stop webapp')
		line = h._read_line(self.proc.stdout.fileno(), h.READY_TIMEOUT, self.proc)
		m = re.fullmatch(r'READY 127\.0\.0\.1:(\d+) pid=(\d+)', line or '')
		if not m:
			h.fail('webapp did not print READY (got %r): %s' %
			       (line, h._file_text(self.errp)))
		self.port, self.pid = int(m.group(1)), int(m.group(2))

	def log(self):
		"""The webapp's JSON request log lines."""
		with open(self.errp, errors='replace') as f:
			return [json.loads(l) for l in f if l.startswith('{')]

	def alive(self):
		return self.proc.poll() is None


def _get(port, path, tls=False, conn=None):
	"""GET path; returns (status, body). Reuses conn when given."""
	if conn is None:
		if tls:
			ctx = ssl._create_unverified_context()
			conn = http.client.HTTPSConnection('127.0.0.1', port, timeout=30,
							   context=ctx)
		else:
			conn = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
	conn.request('GET', path)
	resp = conn.getresponse()
	return resp.status, resp.read().decode(errors='replace')


def _parallel(port, paths, tls=False):
	"""One GET per path, all at once, each on its own connection."""
	out, errs = {}, []
	start = threading.Barrier(len(paths))

	def one(p):
		try:
			start.wait()
			t0 = time.monotonic_ns()
			st, body = _get(port, p, tls)
			out[p] = (st, body, time.monotonic_ns() - t0)
		except Exception as e:	# noqa: BLE001 - reported below
			errs.append('%s: %r' % (p, e))
	ts = [threading.Thread(target=one, args=(p,)) for p in paths]
	for t in ts:
		t.start()
	for t in ts:
		t.join(60)
	h.assert_eq(errs, [], 'request errors')
	for p, (st, _, _) in out.items():
		h.assert_eq(st, 200, 'status of %s' % p)
	return {p.split('?')[0]: v[2] for p, v in out.items()}


def _servers(recs, pid):
	return {r['path']: r for r in recs if r.get('role') == 'server' and r.get('pid') == pid
		and r.get('path', '').startswith('/r')}


def _check_server(rec, line, render_ms, tls_server=False, client_ns=None):
	"""Server record vs the injected render time and the webapp's own log line.
	client_ns: the client's own latency of a concurrent request: the server's ttfb
	then lies between the handler's run and that (the goroutine waits for a CPU
	between reading the request and running the handler)."""
	what = 'server %s' % rec.get('path')
	ph = h.phases(rec)
	h.assert_true('render' in ph, '%s: no render phase: %s' % (what, json.dumps(rec)))
	h.assert_eq(ph['render'].get('label'), 'page', what + ': render label')
	h.assert_near(ph['render']['dur_ns'], line['execute_ns'], what + ': render vs execute_ns')
	if client_ns is None:
		h.assert_near(ph['render']['dur_ns'], render_ms * MS, what + ': render vs injected')
	else:	# spin may overrun when 16 requests share 2 CPUs: never run short
		h.assert_true(ph['render']['dur_ns'] >= (render_ms - 2) * MS,
			      '%s: render %.1f ms < injected %d ms' %
			      (what, ph['render']['dur_ns'] / MS, render_ms))
	h.assert_true('ttfb' in ph, '%s: no ttfb: %s' % (what, json.dumps(rec)))
	# the record ends at the first response byte: the handler's whole run
	if client_ns is None:
		h.assert_near(ph['ttfb']['dur_ns'], line['total_ns'], what + ': ttfb vs total_ns')
	else:
		h.assert_between(ph['ttfb']['dur_ns'], line['total_ns'] / MS - 2,
				 client_ns / MS + 2,
				 what + ': ttfb between total_ns and the client\'s')
	h.assert_eq(rec.get('goid') is not None and rec.get('goid') > 0, True, what + ': goid')
	h.assert_eq(rec.get('tls'), tls_server, what + ': tls')
	if tls_server:
		h.assert_true('tls' in ph, '%s: no tls phase: %s' % (what, json.dumps(rec)))


def _render_only(ver, binary):
	app = Webapp(ver, binary)
	# html/template escapes a template in its first Execute, under a lock, before the
	# render (execute) starts: 16 first renders at once would wait there, and for a CPU,
	# inside the webapp's execute_ns but outside the render span (docs/go.md). Warmed up.
	h.assert_eq(_get(app.port, '/warm?render_ms=0')[0], 200, 'warm-up request')
	tr = h.Tracer(pids=[app.pid])
	ms = {'/r%d?render_ms=%d' % (i, 5 + 3 * i): 5 + 3 * i for i in range(NPAR)}
	client = _parallel(app.port, list(ms))
	time.sleep(0.3)
	recs = tr.stop()
	lines = {l['path']: l for l in app.log()}
	srv = _servers(recs, app.pid)
	h.assert_eq(sorted(srv), sorted(p.split('?')[0] for p in ms), 'server records')
	for p, render_ms in ms.items():
		path = p.split('?')[0]
		_check_server(srv[path], lines[path], render_ms, client_ns=client[path])
		h.assert_eq(srv[path].get('children'), [], 'server %s: children' % path)


DNS_MS, HS_MS, TTFB_MS = 30, 60, 40


def _backend(ver, binary, server_tls=False, keepalive=False, parallel=True):
	certs = h.make_certs()
	dns = h.start_dns(DNS_MS)
	be = h.start_backend(ttfb_ms=TTFB_MS, hs_delay_ms=HS_MS, certs=certs)
	args = ['-backend', 'https://%s:%d/' % (BACKEND_HOST, be.port), '-insecure',
		'-dns', '%s:53' % dns.addr]
	if server_tls:
		args += ['-tls-cert', certs['cert'], '-tls-key', certs['key']]
	if keepalive:
		args += ['-backend-keepalive']
	app = Webapp(ver, binary, args)
	tr = h.Tracer(pids=[app.pid])
	ms = {'/r%d?render_ms=%d' % (i, 4 + 2 * i): 4 + 2 * i for i in range(NPAR)}
	client = {}
	if parallel:
		client = _parallel(app.port, list(ms), tls=server_tls)
	else:
		ms = dict(list(ms.items())[:3])
		for p in ms:
			h.assert_eq(_get(app.port, p, server_tls)[0], 200, 'status of ' + p)
	time.sleep(0.3)
	recs = tr.stop()
	lines = {l['path']: l for l in app.log()}
	srv = _servers(recs, app.pid)
	h.assert_eq(sorted(srv), sorted(p.split('?')[0] for p in ms), 'server records')
	peer = '127.0.0.1:%d' % be.port
	kids = set()
	for p, render_ms in ms.items():
		path = p.split('?')[0]
		rec, line = srv[path], lines[path]
		_check_server(rec, line, render_ms, server_tls, client.get(path))
		ch = rec.get('children') or []
		h.assert_eq(len(ch), 1, 'server %s: children: %s' % (path, json.dumps(rec)))
		c = ch[0]
		kids.add(c['req_id'])
		what = 'backend request of %s' % path
		h.assert_eq(c.get('parent_id'), rec['req_id'], what + ': parent_id')
		h.assert_eq(c.get('peer'), peer, what + ': peer')
		h.assert_eq(c.get('tls'), True, what + ': tls')
		h.assert_eq(c.get('host'), BACKEND_HOST, what + ': host')
		h.assert_eq(c.get('status'), 200, what + ': status')
		cp = h.phases(c)
		for name in ('dns', 'connect', 'tls', 'send', 'ttfb'):
			h.assert_true(name in cp,
				      '%s: no %s phase: %s' % (what, name, json.dumps(c)))
		# against what the webapp saw (httptrace): concurrent lookups of one name
		# are shared (singleflight) and 16 handshakes share 2 CPUs
		for name, key, inj in (('dns', 'dns_ns', DNS_MS), ('tls', 'tls_ns', HS_MS),
				       ('ttfb', 'ttfb_ns', TTFB_MS)):
			h.assert_near(cp[name]['dur_ns'], line[key], '%s: %s vs httptrace' %
				      (what, name))
			if name != 'dns' or not parallel:
				h.assert_true(cp[name]['dur_ns'] >= (inj - 2) * MS,
					      '%s: %s %.1f ms < injected %d ms' %
					      (what, name, cp[name]['dur_ns'] / MS, inj))
			# the DNS fixture answers A and AAAA one after the other
			if not parallel and name != 'dns':
				h.assert_near(cp[name]['dur_ns'], inj * MS, what + ': ' + name)
		# the whole backend call as the webapp timed it
		h.assert_near(c['dur_ns'], line['backend_ns'], what + ': total vs backend_ns',
			      abs_ms=3)
	h.assert_eq(len(kids), len(ms), 'distinct backend requests')


def _panic_through_execute(ver):
	"""A panic unwinds past Execute's RETs and is recovered on the same goroutine:
	the next request on the keep-alive connection still gets its render."""
	app = Webapp(ver)
	tr = h.Tracer(pids=[app.pid])
	conn = http.client.HTTPConnection('127.0.0.1', app.port, timeout=30)
	st, body = _get(app.port, '/panic', conn=conn)
	h.assert_eq(st, 500, '/panic status (%s)' % body.strip())
	st, _ = _get(app.port, '/r1?render_ms=20', conn=conn)
	h.assert_eq(st, 200, '/r1 status')
	conn.close()	# the keep-alive request ends with the connection
	time.sleep(0.3)
	recs = tr.stop()
	# /r1's first byte is often read alone by net/http's backgroundRead goroutine
	# before the handler of /panic has finished (docs/go.md): its record then has
	# no path, but it is still the one record after /panic, with its own render
	srv = [r for r in recs if r.get('role') == 'server' and r.get('pid') == app.pid and
	       r.get('path') != '/panic']
	h.assert_eq(len(srv), 1, 'server records after /panic: %s' % json.dumps(srv))
	h.assert_true(srv[0].get('path') in ('/r1', None), 'path: %s' % json.dumps(srv[0]))
	if srv[0].get('path') is None:
		h.log('/r1 was read ahead by the background reader: no request line')
	lines = {l['path']: l for l in app.log()}
	_check_server(srv[0], lines['/r1'], 20)


def _panic_then_render(ver):
	"""A panic unwinds a render (its span stays open), then 200 ms later the same
	handler renders without panicking: the same frame depth and return address as the
	unwound call. That is a new render for the new request (20 ms), not the old one
	resumed (220 ms)."""
	app = Webapp(ver)
	tr = h.Tracer(pids=[app.pid])
	conn = http.client.HTTPConnection('127.0.0.1', app.port, timeout=30)
	st, body = _get(app.port, '/panic', conn=conn)
	h.assert_eq(st, 500, '/panic status (%s)' % body.strip())
	time.sleep(0.2)
	st, _ = _get(app.port, '/panic?ok=1&render_ms=20', conn=conn)
	h.assert_eq(st, 200, '/panic?ok=1 status')
	conn.close()
	h.assert_true(h.until(lambda: len(app.log()) == 1, 10), 'the webapp logged the render')
	recs = tr.stop()
	srv = [r for r in recs if r.get('role') == 'server' and r.get('pid') == app.pid]
	h.assert_eq(sorted(r.get('status') for r in srv), [200, 500],
		    'server records: %s' % json.dumps(srv))
	ok = [r for r in srv if r.get('status') == 200][0]
	ph = h.phases(ok)
	h.assert_true('render' in ph, 'no render phase: %s' % json.dumps(ok))
	line = app.log()[0]
	h.assert_near(ph['render']['dur_ns'], line['execute_ns'], 'render vs execute_ns')
	h.assert_near(ph['render']['dur_ns'], 20 * MS, 'render vs injected')


def _template_error(ver):
	"""A template function fails: Execute returns through errRecover's recovered
	panic (runtime.deferreturn in text/template's execute, a probe site since
	RET probes moved off the request path). That render ends at the injected
	time, and the next request on the keep-alive connection gets its own."""
	app = Webapp(ver)
	tr = h.Tracer(pids=[app.pid])
	conn = http.client.HTTPConnection('127.0.0.1', app.port, timeout=30)
	st, body = _get(app.port, '/tplerr?render_ms=30', conn=conn)
	h.assert_eq(st, 500, '/tplerr status (%s)' % body.strip())
	h.assert_true('template function failed' in body, '/tplerr body: %s' % body.strip())
	st, _ = _get(app.port, '/r1?render_ms=10', conn=conn)
	h.assert_eq(st, 200, '/r1 status')
	conn.close()
	time.sleep(0.3)
	recs = tr.stop()
	lines = {l['path']: l for l in app.log()}
	srv = [r for r in recs if r.get('role') == 'server' and r.get('pid') == app.pid]
	err = [r for r in srv if r.get('path') == '/tplerr']
	h.assert_eq(len(err), 1, '/tplerr records: %s' % json.dumps(srv))
	ph = h.phases(err[0])
	h.assert_true('render' in ph, '/tplerr: no render phase: %s' % json.dumps(err[0]))
	h.assert_eq(ph['render'].get('label'), 'fail', '/tplerr: render label')
	h.assert_near(ph['render']['dur_ns'], lines['/tplerr']['execute_ns'],
		      '/tplerr: render vs execute_ns')
	h.assert_near(ph['render']['dur_ns'], 30 * MS, '/tplerr: render vs injected')
	rest = [r for r in srv if r.get('path') != '/tplerr']
	h.assert_eq(len(rest), 1, 'server records after /tplerr: %s' % json.dumps(rest))
	h.assert_true(rest[0].get('path') in ('/r1', None), 'path: %s' % json.dumps(rest[0]))
	_check_server(rest[0], lines['/r1'], 10)


def _text_and_html(ver, binary):
	"""text/template's Execute (inlined where it is called) and ExecuteTemplate and
	html/template's Execute in one binary, one after the other on a keep-alive
	connection: every one renders through text/template's execute, where the render is
	probed. Each request's render: near the injected spin and the webapp's own
	execute_ns, its label the template's name."""
	app = Webapp(ver, binary)
	tr = h.Tracer(pids=[app.pid])
	conn = http.client.HTTPConnection('127.0.0.1', app.port, timeout=30)
	reqs = [('/text?render_ms=30', 30, 'text'), ('/?render_ms=20', 20, 'page'),
		('/text?render_ms=10&by_name=1', 10, 'text'), ('/?render_ms=15', 15, 'page')]
	for path, _, _ in reqs:
		st, body = _get(app.port, path, conn=conn)
		h.assert_eq(st, 200, '%s status (%s)' % (path, body.strip()[:200]))
	conn.close()
	want = len(reqs)
	h.assert_true(h.until(lambda: len(app.log()) == want, 10), 'the webapp logged %d '
		      'requests: %s' % (want, app.log()))
	recs = tr.stop()
	srv = [r for r in recs if r.get('role') == 'server' and r.get('pid') == app.pid]
	h.assert_eq(len(srv), want, 'server records: %s' % json.dumps(srv))
	for rec, line, (path, ms, label) in zip(srv, app.log(), reqs):
		# a keep-alive request's line may be read by net/http's background reader
		# while the handler before it ends (docs/go.md): no path then
		h.assert_true(rec.get('path') in (path.split('?')[0], None),
			      '%s: record of another request: %s' % (path, json.dumps(rec)))
		ph = h.phases(rec)
		h.assert_true('render' in ph, '%s: no render phase: %s' % (path, json.dumps(rec)))
		h.assert_eq(ph['render'].get('label'), label, path + ': render label')
		h.assert_near(ph['render']['dur_ns'], line['execute_ns'],
			      path + ': render vs execute_ns')
		h.assert_near(ph['render']['dur_ns'], ms * MS, path + ': render vs injected')


WRK_LUA = r'''
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0 end
function response(status, headers, body)
	if status ~= 200 or not string.find(body, "depth=%d ok", 1, true) then bad = bad + 1 end
end
function done(summary, latency, requests)
	local b = 0
	for _, t in ipairs(threads) do b = b + t:get("bad") end
	local e = summary.errors
	io.write(string.format("CHECK requests=%%d bad=%%d errors=%%d\n", summary.requests, b,
		e.connect + e.read + e.write + e.status))
	io.write(string.format("ERRORS connect=%%d read=%%d write=%%d status=%%d timeout=%%d\n",
		e.connect, e.read, e.write, e.status, e.timeout))
end
'''


def _wrk(url, seconds, depth, conns, close=False):
	lua = h.tmp_path('check%d.lua' % depth)
	with open(lua, 'w') as f:
		f.write(WRK_LUA % depth)
	argv = ['wrk', '-t2', '-c%d' % conns, '-d%ds' % seconds, '--timeout', '10s', '-s', lua]
	if close:
		argv += ['-H', 'Connection: close']
	return subprocess.Popen(argv + [url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wrk_result(p, what):
	"""Requests checked by wrk's script, or None when wrk died before its done()
	hook printed them (seen now and then at exit with TLS: the round is not
	counted, the caller runs another)."""
	out = p.communicate(timeout=120)[0].decode(errors='replace')
	m = re.search(r'CHECK requests=(\d+) bad=(\d+) errors=(\d+)', out)
	if m is None:
		h.log('%s: wrk exited %d without its CHECK line, round not counted: %s' %
		      (what, p.returncode, out))
		return None
	n, bad, errs = map(int, m.groups())
	h.log('%s: %d requests, %d bad, %d errors (%s)' % (what, n, bad, errs,
		re.search(r'ERRORS .*', out).group(0)))
	h.assert_eq(bad, 0, what + ': wrong responses')
	h.assert_eq(errs, 0, what + ': wrk errors')
	return n


def _crash_stack_growth(ver):
	""">= 100000 requests through probed Execute (stack grown and copied inside it,
	nested Execute) and crypto/tls (a handshake per request on a fresh goroutine
	for part of them): the program stays up and every response is correct."""
	if not shutil.which('wrk'):
		h.skip('wrk is not installed')
	certs = h.make_certs()
	app = Webapp(ver, 'webapp', ['-tls-cert', certs['cert'], '-tls-key', certs['key']])
	tr = h.Tracer(pids=[app.pid], extra=['-v'])
	depth = 40	# 40 x 4 KiB frames: grows a fresh 8 KiB goroutine stack 5 times
	url = 'https://127.0.0.1:%d/deep?depth=%d' % (app.port, depth)
	total = rounds = 0
	while total < 100000 and rounds < 10:
		ka = _wrk(url, 8, depth, 6)
		cl = _wrk(url, 8, depth, 4, close=True)
		n_ka, n_cl = _wrk_result(ka, 'keep-alive'), _wrk_result(cl, 'new connection each')
		if n_ka is not None and n_cl is not None:
			total += n_ka + n_cl
		rounds += 1
		h.assert_true(app.alive(), 'webapp died: %s' % h._file_text(app.errp))
	h.assert_true(total >= 100000, 'only %d requests in %d rounds' % (total, rounds))
	recs = tr.stop()
	h.log('phasetrace stderr: %s' % tr.stderr())
	h.assert_true(app.alive(), 'webapp died: %s' % h._file_text(app.errp))
	# a keep-alive request whose first byte net/http's background reader took
	# has no method/path (the parser sees one byte): count it, see docs/go.md
	deep = [r for r in recs if r.get('role') == 'server' and r.get('pid') == app.pid and
		r.get('path') in ('/deep', None)]
	no_path = sum(1 for r in deep if r.get('path') is None)
	with_render = [r for r in deep if 'render' in h.phases(r)]
	h.log('%d requests, %d server records (%d without path), %d with render' %
	      (total, len(deep), no_path, len(with_render)))
	h.assert_true(len(deep) >= total * 0.99, 'server records: %d of %d requests' %
		      (len(deep), total))
	h.assert_true(len(with_render) >= len(deep) * 0.99, 'records with render: %d of %d' %
		      (len(with_render), len(deep)))
	for r in with_render[:1000]:
		h.assert_eq(r.get('tls'), True, 'tls of a /deep record')


def _probe_span(ver):
	"""--probe NAME=GOBINARY:main.deep: entry + RET uprobes on a Go function; the
	outermost call of the recursion is one span inside the server record."""
	path = _go_binary(ver, 'webapp')
	app = Webapp(ver)
	tr = h.Tracer(pids=[app.pid], extra=['--probe', 'deepf=%s:main.deep' % path])
	for i in range(3):
		st, body = _get(app.port, '/deep?depth=%d&render_ms=%d' % (50, 10 + 5 * i))
		h.assert_eq(st, 200, '/deep status')
	time.sleep(0.3)
	recs = tr.stop()
	h.assert_true(app.alive(), 'webapp died')
	deep = [r for r in recs if r.get('role') == 'server' and r.get('path') == '/deep']
	h.assert_eq(len(deep), 3, 'server records of /deep')
	for r in deep:
		ph = h.phases(r)
		h.assert_true('deepf' in ph and 'render' in ph, 'phases: %s' % json.dumps(r))
		# main.deep runs inside Execute, after spin
		h.assert_true(ph['deepf']['dur_ns'] < ph['render']['dur_ns'],
			      'deepf inside render: %s' % json.dumps(r))
		h.assert_true(ph['deepf']['start_ns'] >= ph['render']['start_ns'],
			      'deepf after render start: %s' % json.dumps(r))


def _goroutine_entries(pid):
	"""Entries of Go process pid in the per-goroutine tables: {table: count}."""
	return {name: h.ctx_entries(name, pid) for name in ('threads', 'spans', 'go_gs')}


def _goexit_probed(tr, path):
	return any('runtime.goexit1 probed' in l and path in l for l in list(tr.err))


def _conn_entries(pid):
	"""Connection entries (conns) of process pid, from bpftool's BTF-formatted dump."""
	n = 0
	for e in h.map_elements('conns'):
		h.assert_true('formatted' in e, 'bpftool printed no BTF-formatted value: %s' % e)
		n += e['formatted']['value']['req']['pid'] == pid
	return n


def _server_recs(recs, pid):
	"""The server records of process pid."""
	return [r for r in recs if r.get('role') == 'server' and r.get('pid') == pid]


def _goroutine_state_gone(tr, pid, path, what):
	"""Go >= 1.21: nothing of process pid left in the goroutine tables (what the collector
	hands back goes after its next drain) and no goexit1 probe asked for it."""
	h.assert_true(h.until(lambda: not any(_goroutine_entries(pid).values()), 5),
		      '%s: goroutine state left: %s' % (what, _goroutine_entries(pid)))
	h.assert_true(not _goexit_probed(tr, path), what + ': goexit1 probed')


def _reset_during(app, path, query, table, tls=False):
	"""GET path?query from a client that resets its connection once the webapp's
	goroutine has an entry in table (its render or lookup started); returns once the
	handler finished (its log line)."""
	sock = socket.create_connection(('127.0.0.1', app.port), timeout=30)
	if tls:
		sock = ssl._create_unverified_context().wrap_socket(sock)
	sock.sendall(('GET %s?%s HTTP/1.1\r\nHost: webapp\r\n\r\n' % (path, query)).encode())
	h.assert_true(h.until(lambda: _goroutine_entries(app.pid)[table] > 0, 10),
		      '%s: no %s entry: it did not start' % (path, table))
	sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
	sock.close()
	h.assert_true(h.until(lambda: any(l['path'] == path for l in app.log()), 10),
		      'the handler of %s did not finish' % path)


def _plain_server(ver, path, tls):
	"""Connections of a webapp that makes no outbound call, each closed: nothing of it
	left in the goroutine and connection tables, and (Go >= 1.21) no goexit1 probe.
	Over HTTPS the serving goroutine's handshake state goes with its connection too,
	and the backgroundRead goroutine's crypto/tls Read keeps state for that call only.
	Also a bare TCP connect (a health check: a handshake that moves no byte), a
	keep-alive connection the client resets while its goroutine waits for the next
	request (in crypto/tls Read over HTTPS), and one it resets while its page renders."""
	args = []
	if tls:
		certs = h.make_certs()
		args = ['-tls-cert', certs['cert'], '-tls-key', certs['key']]
	app = Webapp(ver, args=args)
	tr = h.Tracer(pids=[app.pid], extra=['-v'])
	socket.create_connection(('127.0.0.1', app.port), timeout=30).close()
	n = 0
	for i in range(6):	# a connection each
		h.assert_eq(_get(app.port, '/c%d?render_ms=1' % i, tls)[0], 200, 'status')
		n += 1
	if tls:
		conn = http.client.HTTPSConnection('127.0.0.1', app.port, timeout=30,
						   context=ssl._create_unverified_context())
	else:
		conn = http.client.HTTPConnection('127.0.0.1', app.port, timeout=30)
	for i in range(6):	# keep-alive
		h.assert_eq(_get(app.port, '/k%d?render_ms=1' % i, conn=conn)[0], 200, 'status')
		n += 1
	conn.close()
	conn = http.client.HTTPConnection('127.0.0.1', app.port, timeout=30)
	if tls:
		conn = http.client.HTTPSConnection('127.0.0.1', app.port, timeout=30,
						   context=ssl._create_unverified_context())
	h.assert_eq(_get(app.port, '/r?render_ms=1', conn=conn)[0], 200, 'status')
	n += 1
	conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
	conn.close()	# a reset
	# a client that gives up while its page renders: the connection is reset under the
	# render; the request's context stays for the render and goes with its end
	_reset_during(app, '/gone', 'render_ms=300', 'spans', tls)
	h.assert_true(h.until(lambda: _conn_entries(app.pid) == 0, 5),
		      'connection entries left after every connection closed: %d' %
		      _conn_entries(app.pid))
	if ver in ('go1.19', 'go1.20'):	# no parentGoid: newproc1 records ancestry
		h.assert_true(h.until(lambda: _goexit_probed(tr, path), 10),
			      '%s: goexit1 probed for newproc1\'s ancestry' % ver)
	else:
		_goroutine_state_gone(tr, app.pid, path, 'a server without outbound calls, every '
				      'connection closed')
	recs = tr.stop()
	srv = _server_recs(recs, app.pid)
	gone = h.only_one([r for r in srv if r.get('path') == '/gone'], 'server record of /gone')
	# never answered; its render, which ended after the reset, is still its phase
	h.assert_eq(gone.get('error'), 'no response', '/gone: error: %s' % json.dumps(gone))
	h.assert_true(h.phases(gone).get('render', {}).get('dur_ns', 0) >= 299 * MS,
		      '/gone: render phase of at least 300 ms: %s' % json.dumps(gone))
	srv = [r for r in srv if r is not gone]
	h.assert_eq(len(srv), n, 'server records')
	for r in srv:
		h.assert_true('render' in h.phases(r), 'render phase: %s' % json.dumps(r))
		h.assert_eq(r.get('tls'), tls, 'tls: %s' % json.dumps(r))


def _h2_server(ver, path):
	"""Go's bundled h2 server (webapp -h2) that makes no outbound call: every stream runs
	on a handler goroutine of its own that ends with the stream. Its state (its threads
	entry, its render's span) goes with the stream, not at goroutine exit: nothing of it
	left once the connections closed, and no goexit1 probe (Go >= 1.21). Every stream is
	still a server record of its own, with its render phase at least the injected
	render time, and no render outside its stream. A stream the client abandons while
	its handler renders (curl gives up, the connection closes): the stream's record goes
	at once and its goroutine's context with it; the render, reported when it ends, still
	names that stream as its parent."""
	certs = h.make_certs()
	app = Webapp(ver, args=['-tls-cert', certs['cert'], '-tls-key', certs['key'], '-h2'])
	tr = h.Tracer(pids=[app.pid], extra=['-v'])
	want = {}
	for conn in range(2):	# two connections, three streams multiplexed on each
		args = ['curl', '-sS', '-k', '--http2', '--parallel', '-w',
			'%{http_version} %{response_code}\\n']
		for i in range(3):
			p = '/h%d_%d' % (conn, i)
			want[p] = 5 + 5 * i
			args += ['-o', '/dev/null',
				 'https://127.0.0.1:%d%s?render_ms=%d' % (app.port, p, want[p])]
		r = h.run(args)
		h.assert_eq(r.rc, 0, 'curl (stderr: %s)' % r.stderr)
		h.assert_eq(r.stdout.split(), ['2', '200'] * 3, 'curl: h2 and 200 per stream')
	# while a stream renders, its connection's goroutines hold three contexts: the serving
	# goroutine's, the frame reader's and the handler's; none is left to the goroutine that
	# read the client preface before the frame reader took over (net/http's readPreface)
	for i in range(3):
		cp = subprocess.Popen(['curl', '-sS', '-k', '--http2', '-o', '/dev/null',
				       'https://127.0.0.1:%d/slow%d?render_ms=600' % (app.port, i)],
				      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
		h.defer(lambda cp=cp: h._stop(cp), 'stop curl')
		h.assert_true(h.until(lambda: _goroutine_entries(app.pid)['spans'] > 0, 10),
			      '/slow%d: its render did not start' % i)
		h.assert_true(h.until(lambda: _goroutine_entries(app.pid)['threads'] == 3, 0.4),
			      '/slow%d: goroutine contexts while it renders: %s, not 3' %
			      (i, _goroutine_entries(app.pid)))
		h.assert_eq(cp.wait(30), 0, '/slow%d: curl' % i)
		want['/slow%d' % i] = 600
	r = h.run(['curl', '-sS', '-k', '--http2', '--max-time', '0.3', '-o', '/dev/null',
		   'https://127.0.0.1:%d/gone?render_ms=800' % app.port])
	h.assert_eq(r.rc, 28, 'curl gave up on /gone (stderr: %s)' % r.stderr)
	h.assert_true(h.until(lambda: any(l['path'] == '/gone' for l in app.log()), 10),
		      'the webapp finished /gone')
	h.assert_true(h.until(lambda: _conn_entries(app.pid) == 0, 5),
		      'h2: connection entries left after every connection closed: %d' %
		      _conn_entries(app.pid))
	if ver not in ('go1.19', 'go1.20'):	# no parentGoid: newproc1 records ancestry
		_goroutine_state_gone(tr, app.pid, path, 'an h2 server without outbound calls, '
				      'every stream ended and every connection closed')
	recs = tr.stop()
	srv = _server_recs(recs, app.pid)
	gone = h.only_one([r for r in srv if r.get('path') == '/gone'], 'the abandoned stream')
	srv = [r for r in srv if r is not gone]
	h.assert_eq(sorted(r.get('path') for r in srv), sorted(want), 'h2 server records')
	late = h.only_one([r for r in recs if r.get('role') == 'span'], 'the abandoned render')
	h.assert_eq(late.get('parent_id'), gone['req_id'], 'the abandoned render\'s parent: %s' %
		    json.dumps(late))
	h.assert_true(h.phases(late)['render']['dur_ns'] >= 790 * 1000000,
		      'the abandoned render ran its 800 ms: %s' % json.dumps(late))
	for r in srv:
		what = 'h2 stream %s' % r.get('path')
		h.assert_eq(r.get('protocol'), 'h2', what + ': protocol')
		ph = h.phases(r)
		h.assert_true('render' in ph, '%s: render phase: %s' % (what, json.dumps(r)))
		h.assert_true(ph['render']['dur_ns'] >= (want[r['path']] - 1) * 1000000,
			      '%s: render %.1f ms < injected %d ms' %
			      (what, ph['render']['dur_ns'] / 1e6, want[r['path']]))


def _h2_many_streams(ver, path):
	"""100 streams at once on one h2 connection (h2load), each rendering 20 ms: more than
	the collector's stream table starts with (it grows to 256, above Go's 250 at once)
	and more header blocks in one read than the frame walk took before session 11 (64
	steps). Every stream is reported whole, none early; every handler goroutine is handed
	back with its stream: nothing of the webapp left in the goroutine tables once the
	connection closed, and no goexit1 (Go >= 1.21)."""
	certs = h.make_certs()
	app = Webapp(ver, args=['-tls-cert', certs['cert'], '-tls-key', certs['key'], '-h2'])
	tr = h.Tracer(pids=[app.pid], extra=['-v'])
	n, m, render_ms = 200, 100, 20
	res = h.run(['h2load', '-n', n, '-c', 1, '-m', m,
		     'https://127.0.0.1:%d/many?render_ms=%d' % (app.port, render_ms)])
	h.assert_true('%d succeeded' % n in res.stdout, 'h2load: %s' % res.stdout[-500:])
	h.assert_true(h.until(lambda: _conn_entries(app.pid) == 0, 5),
		      'h2 (%d streams at once): connection entries left: %d' %
		      (m, _conn_entries(app.pid)))
	if ver not in ('go1.19', 'go1.20'):	# no parentGoid: newproc1 records ancestry
		_goroutine_state_gone(tr, app.pid, path, 'h2, %d streams at once, the connection '
				      'closed' % m)
	recs = tr.stop()
	srv = _server_recs(recs, app.pid)
	h.assert_eq(len(srv), n, 'h2 server records')
	for r in srv:
		what = 'h2 stream %s (%d at once)' % (r.get('stream_id'), m)
		h.assert_eq((r.get('protocol'), r.get('path'), r.get('status')), ('h2', '/many', 200),
			    what + ': protocol, path, status')
		h.assert_true(h.phases(r).get('render', {}).get('dur_ns', 0) >= (render_ms - 1) * MS,
			      '%s: render phase: %s' % (what, json.dumps(r)))
	stat = [l for l in tr.err if 'streams emitted early' in l]
	h.assert_true(stat, 'the tracer\'s HTTP/2 summary (-v): %s' % list(tr.err)[-5:])
	h.assert_true(' 0 frame walks given up' in stat[-1] and ' 0 streams emitted early' in
		      stat[-1], 'every stream followed whole: %s' % stat[-1])


def _helper_renders(ver, path):
	"""Each request fans out three goroutines that each render the template "worker" for
	5 ms (webapp workers=3&worker_render_ms=5): renders on goroutines that serve no
	connection. Their span state and the context made for it go when each render
	returns: nothing of the webapp left in the goroutine tables and no goexit1 (Go >=
	1.21), and every worker's render is a render phase of the request that started it
	(its parent learnt from parentGoid), at least the injected 5 ms."""
	app = Webapp(ver)
	tr = h.Tracer(pids=[app.pid], extra=['-v'])
	n, k, wms = 4, 3, 5
	for i in range(n):
		h.assert_eq(_get(app.port, '/w%d?render_ms=1&workers=%d&worker_render_ms=%d' %
				 (i, k, wms))[0], 200, 'status')
	if ver not in ('go1.19', 'go1.20'):	# no parentGoid: newproc1 records ancestry
		_goroutine_state_gone(tr, app.pid, path, 'renders on helper goroutines')
	recs = tr.stop()
	srv = _server_recs(recs, app.pid)
	h.assert_eq(sorted(r.get('path') for r in srv), ['/w%d' % i for i in range(n)],
		    'server records')
	for r in srv:
		rend = [p for p in r.get('phases', []) if p['name'] == 'render']
		workers = [p for p in rend if p.get('label') == 'worker']
		h.assert_eq(len(workers), k, '%s: the workers\' renders among its render phases: %s' %
			    (r['path'], json.dumps(r)))
		h.assert_eq(len(rend), k + 1, '%s: its own render and the workers\'' % r['path'])
		for p in workers:
			h.assert_true(p['dur_ns'] >= (wms - 1) * MS, '%s: worker render %.1f ms < %d ms' %
				      (r['path'], p['dur_ns'] / MS, wms))
	h.assert_true(not [r for r in recs if r.get('role') == 'span'],
		      'a worker render outside its request')


def test_go_newer_than_table():
	"""A stripped build by a Go newer than the built-in offsets table (the newest
	toolchain's webapp-nobuildinfo, its version string made two releases newer: the
	layout a new release keeps): runtime.g's goid and parentGoid come from
	runtime.newproc1's code (said with -v), so its goroutines are followed: each
	request's own render, the renders of the workers it fans out (their parent found
	through parentGoid), and a text/template render."""
	ver = _toolchains()[-1]
	with open(_go_binary(ver, 'webapp-nobuildinfo'), 'rb') as f:
		img = f.read()
	m = re.search(rb'go1\.(\d\d)\.\d+', img)
	h.assert_true(m is not None, 'the Go version string in %s\'s webapp-nobuildinfo' % ver)
	newer = int(m.group(1)) + 2
	img = img.replace(m.group(0), m.group(0).replace(m.group(1), b'%d' % newer))
	path = h.tmp_path('webapp-go1.%d' % newer)
	with open(path, 'wb') as f:
		f.write(img)
	os.chmod(path, 0o755)
	app = Webapp(ver, path=path)
	tr = h.Tracer(pids=[app.pid], extra=['-v'])
	k, wms = 2, 5
	conn = http.client.HTTPConnection('127.0.0.1', app.port, timeout=30)
	for i in range(2):
		st, _ = _get(app.port, '/w%d?render_ms=10&workers=%d&worker_render_ms=%d' % (i, k, wms),
			     conn=conn)
		h.assert_eq(st, 200, '/w%d status' % i)
	h.assert_eq(_get(app.port, '/text?render_ms=8', conn=conn)[0], 200, '/text status')
	conn.close()
	h.assert_true(h.until(lambda: len(app.log()) == 3, 10), 'the webapp logged 3 requests')
	recs = tr.stop()
	said = [l for l in tr.err if 'newer than the built-in offsets' in l]
	h.assert_true(said and 'go1.%d' % newer in said[0],
		      'the tracer says where the offsets came from: %s' % said)
	srv = [r for r in recs if r.get('role') == 'server' and r.get('pid') == app.pid]
	h.assert_eq(len(srv), 3, 'server records: %s' % json.dumps(srv))
	lines = app.log()
	for r, line in zip(srv[:2], lines[:2]):
		rend = [p for p in r.get('phases', []) if p['name'] == 'render']
		own = [p for p in rend if p.get('label') == 'page']
		workers = [p for p in rend if p.get('label') == 'worker']
		h.assert_eq((len(own), len(workers)), (1, k),
			    '%s: its own render and its workers\': %s' % (line['path'], json.dumps(r)))
		h.assert_near(own[0]['dur_ns'], 10 * MS, '%s: render' % line['path'])
		for p in workers:
			h.assert_true(p['dur_ns'] >= (wms - 1) * MS, '%s: worker render %.1f ms < %d ms' %
				      (line['path'], p['dur_ns'] / MS, wms))
	ph = h.phases(srv[2])
	h.assert_true('render' in ph, '/text: no render phase: %s' % json.dumps(srv[2]))
	h.assert_near(ph['render']['dur_ns'], lines[2]['execute_ns'], '/text: render vs execute_ns')
	h.assert_near(ph['render']['dur_ns'], 8 * MS, '/text: render vs injected')


def _outbound(ver, path, keepalive, on_worker=False):
	"""A webapp that calls a backend for each request: without keep-alive a connection
	each, to a name the DNS fixture resolves, over TLS (the request's dial goroutine, its
	resolver and handshake goroutines); with keep-alive over plain HTTP, one pooled
	connection whose writeLoop goroutine writes every call. With on_worker the handler
	makes the call on a goroutine it starts (a fan-out): the dial is the handler's
	grandchild and the handshake its great-grandchild. On Go >= 1.21 none of them
	asks for goexit1 and the goroutine tables hold nothing of the webapp once its work is
	done (their parent links and the writer's request are in LRU tables, by goroutine
	id, which Go never reuses). Every call is still the child of its request, with its
	own DNS, connect and TLS phases when it dialled. Older Go records ancestry at
	newproc1 and asks for goexit1: its goroutines' state goes when they end."""
	if keepalive:
		be = h.start_backend(ttfb_ms=TTFB_MS)
		args = ['-backend', 'http://127.0.0.1:%d/' % be.port, '-backend-keepalive']
	else:
		certs = h.make_certs()
		dns = h.start_dns(DNS_MS)
		be = h.start_backend(ttfb_ms=TTFB_MS, hs_delay_ms=HS_MS, certs=certs)
		args = ['-backend', 'https://%s:%d/' % (BACKEND_HOST, be.port), '-insecure',
			'-dns', '%s:53' % dns.addr]
	app = Webapp(ver, args=args)
	tr = h.Tracer(pids=[app.pid], extra=['-v'])
	n = 8
	what = 'outbound calls (%s%s)' % ('keep-alive' if keepalive else 'a connection each',
					  ', on a worker goroutine' if on_worker else '')
	query = '?render_ms=1' + ('&backend_on=worker' if on_worker else '')
	h.assert_eq(_get(app.port, '/b0' + query)[0], 200, 'status')
	if ver in ('go1.19', 'go1.20'):	# no parentGoid: newproc1 records ancestry
		# goexit1 is asked at the first request: what ended before it was attached stays
		h.assert_true(h.until(lambda: _goexit_probed(tr, path), 10),
			      '%s: goexit1 probed for newproc1\'s ancestry' % ver)
		before = sum(_goroutine_entries(app.pid).values())
	for i in range(1, n):
		h.assert_eq(_get(app.port, '/b%d%s' % (i, query))[0], 200, 'status')
	if ver in ('go1.19', 'go1.20'):
		h.assert_true(h.until(lambda: sum(_goroutine_entries(app.pid).values()) <= before, 5),
			      '%s: state of ended goroutines kept: %d entries before, %s after' %
			      (what, before, _goroutine_entries(app.pid)))
	else:
		_goroutine_state_gone(tr, app.pid, path, what + ', every request done')
	recs = tr.stop()
	srv = _server_recs(recs, app.pid)
	h.assert_eq(sorted(r.get('path') for r in srv), sorted('/b%d' % i for i in range(n)),
		    what + ': server records')
	dialled = 0
	for r in srv:
		c = h.only_one(r.get('children') or [], '%s: the backend child of %s' %
			       (what, json.dumps(r)))
		h.assert_eq(c.get('parent_id'), r['req_id'], what + ': parent_id')
		h.assert_eq(c.get('peer'), '127.0.0.1:%d' % be.port, what + ': peer')
		cp = h.phases(c)
		h.assert_true(cp.get('ttfb', {}).get('dur_ns', 0) >= (TTFB_MS - 1) * MS,
			      '%s: ttfb below the injected %d ms: %s' % (what, TTFB_MS, json.dumps(c)))
		if 'connect' in cp:
			dialled += 1
		if not keepalive:
			h.assert_true('dns' in cp and cp['dns']['dur_ns'] >= (DNS_MS - 1) * MS,
				      '%s: dns phase: %s' % (what, json.dumps(c)))
			# the backend holds the handshake from accept(), not from the hello: a
			# client that starts its handshake late (a goroutine scheduled ms after
			# connect on a busy machine) sees less of the hold in its tls phase, but
			# the handshake cannot end before connect's end plus the hold, and began
			# (its hello) while the hold still ran
			ok = 'tls' in cp and 'connect' in cp
			conn_end = cp['connect']['start_ns'] + cp['connect']['dur_ns'] if ok else 0
			held = cp['tls']['start_ns'] + cp['tls']['dur_ns'] - conn_end if ok else 0
			h.assert_true(ok and held >= (HS_MS - 1) * MS and
				      conn_end <= cp['tls']['start_ns'] < conn_end + HS_MS * MS,
				      '%s: tls phase, its end %.1f ms after connect\'s: %s' %
				      (what, held / MS, json.dumps(c)))
	h.assert_eq(dialled, 1 if keepalive else n, what + ': calls that dialled')


def _lookup_reset(ver, path):
	"""A client that gives up while its request's handler resolves a name (on the serving
	goroutine, net.Dial, held by the DNS fixture): the connection is reset under the
	lookup. The lookup still ends in its connection's dns phase, and (Go >= 1.21) the
	request's state goes with the lookup's end, without goexit1."""
	ms = 300
	dns = h.start_dns(ms)
	be = h.start_backend()
	app = Webapp(ver, args=['-dns', '%s:53' % dns.addr])
	tr = h.Tracer(pids=[app.pid], extra=['-v'])
	_reset_during(app, '/dial', 'render_ms=1&dial=%s:%d' % (BACKEND_HOST, be.port), 'go_gs')
	if ver not in ('go1.19', 'go1.20'):	# (they probe goexit1 for newproc1)
		_goroutine_state_gone(tr, app.pid, path, 'a connection reset during a lookup')
	recs = tr.stop()
	req = h.only_one([r for r in _server_recs(recs, app.pid) if r.get('path') == '/dial'],
			 'server record of /dial')
	h.assert_eq(req.get('error'), 'no response', '/dial: error: %s' % json.dumps(req))
	calls = [c for r in recs for c in [r] + (r.get('children') or [])
		 if c.get('role') == 'client' and c.get('pid') == app.pid]
	c = h.only_one(calls, 'the connection /dial made: %s' % json.dumps(recs))
	h.assert_eq(c.get('peer'), '127.0.0.1:%d' % be.port, 'the connection /dial made: peer')
	h.assert_true(h.phases(c).get('dns', {}).get('dur_ns', 0) >= (ms - 1) * MS,
		      'the connection /dial made: a dns phase of at least the injected %d ms: %s' %
		      (ms, json.dumps(c)))


def _goexit_on_demand(ver):
	"""runtime.goexit1 is probed only once a process keeps goroutine state that a
	goroutine's end must clear. On Go >= 1.21 (no newproc1 probe) no net/http service
	needs it: a server over HTTP or HTTPS (_plain_server), h2 (_h2_server: a stream
	handler's state goes with its stream), or one that makes outbound calls
	(_outbound)."""
	path = _go_binary(ver, 'webapp')
	_plain_server(ver, path, False)
	_plain_server(ver, path, True)
	_h2_server(ver, path)
	_h2_many_streams(ver, path)
	_helper_renders(ver, path)
	_lookup_reset(ver, path)
	_outbound(ver, path, False)
	_outbound(ver, path, False, on_worker=True)
	_outbound(ver, path, True)


# One row per toolchain and case: (case, function of the version, timeout in s)
def _tls_refused(ver):
	"""Handshakes that fail against a Go HTTPS server (crypto/tls): curl refuses its
	certificate, a client sends a malformed ClientHello after 200 ms. Each connection
	is one server record with error "tls" and the handshake's time as its tls phase;
	nothing of them left in the connection and (Go >= 1.21) goroutine tables."""
	certs = h.make_certs()
	app = Webapp(ver, args=['-tls-cert', certs['cert'], '-tls-key', certs['key']])
	tr = h.Tracer(comms=['curl', 'webapp'], extra=['-v'])
	run = checks.refused_handshakes(app.port, 'webapp', hold_ms=200, held_path='/healthz')
	h.assert_true(h.until(lambda: _conn_entries(app.pid) == 0, 5),
		      'connection entries left after failed handshakes: %d' %
		      _conn_entries(app.pid))
	if ver not in ('go1.19', 'go1.20'):
		_goroutine_state_gone(tr, app.pid, _go_binary(ver, 'webapp'),
				      'failed handshakes')
	checks.check_refused(tr.stop(), run)
	h.assert_true(app.alive(), 'the webapp died')


def _tls_peeked_hello(ver):
	"""A router goroutine reads each connection's ClientHello before net/http's handshake
	does (the webapp's -peek-hello: cmux, Traefik): the handshake's first socket I/O is
	its flight, sent; its tls phase still starts with the hello, and is the held Finished
	(checks.held_handshake()), not the time after it."""
	certs = h.make_certs()
	app = Webapp(ver, args=['-tls-cert', certs['cert'], '-tls-key',
				  certs['key'], '-peek-hello'])
	tr = h.Tracer(pids=[app.pid])
	local = checks.held_handshake(app.port, '/healthz', checks.HELD_HELLO_MS,
				      checks.HELD_FINISHED_MS)
	checks.check_held(tr.stop(), 'webapp', app.port, local, checks.HELD_FINISHED_MS)
	h.assert_true(app.alive(), 'the webapp died')


WS_FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures',
			  'websocket.py')


def _websocket(ver):
	"""A WebSocket the way gorilla/websocket makes one (the webapp's /ws: Hijack, a 101 of
	its own, an echo loop on the handler's goroutine), each echo rendering the page 40 ms:
	the upgrade is one request, its ttfb the 120 ms the handler held it; each render is a
	span of that request, and no message is a request; the connection leaves no state."""
	upgrade_ms, echo_ms, render_ms, messages = 120, 30, 40, 3
	if h.run(['/usr/bin/python3', '-c', 'import websockets'], timeout=30).rc:
		h.skip('python3-websockets is not installed (Debian: python3-websockets)')
	app = Webapp(ver)
	tr = h.Tracer(comms=['webapp', 'websocket.py'])
	r = h.run([WS_FIXTURE, 'client', 'ws://127.0.0.1:%d/ws?upgrade_ms=%d&echo_ms=%d&'
		   'render_ms=%d' % (app.port, upgrade_ms, echo_ms, render_ms),
		   '--messages', messages])
	h.assert_eq((r.rc, r.stdout.strip()), (0, 'READY'), 'websocket client (%s)' %
		    r.stderr.strip()[-500:])
	h.assert_true(h.until(lambda: _conn_entries(app.pid) == 0, 5),
		      'connection entries left after the WebSocket: %d' % _conn_entries(app.pid))
	recs = tr.stop()
	for role, rs in (('server', h.server_records(recs, pid=app.pid)),
			 ('client', h.client_records(recs, peer='127.0.0.1:%d' % app.port))):
		rec = h.only_one(rs, '%s record of the WebSocket (%d messages)' % (role, messages))
		h.assert_eq((rec.get('method'), rec.get('path'), rec.get('status')),
			    ('GET', '/ws', 101), role + '\'s upgrade')
		ph = h.phases(rec)
		h.assert_near(ph['ttfb']['dur_ns'], upgrade_ms * MS, role + '\'s upgrade: ttfb')
		h.assert_true(rec['dur_ns'] < ph['ttfb']['start_ns'] + ph['ttfb']['dur_ns'] +
			      echo_ms * MS, '%s\'s upgrade lasts past its 101: %d ns' %
			      (role, rec['dur_ns']))
		if role == 'server':
			upgrade = rec
	spans = [s for s in recs if s.get('role') == 'span' and s.get('pid') == app.pid]
	h.assert_eq([s.get('parent_id') for s in spans], [upgrade['req_id']] * messages,
		    'render spans of the upgrade request')
	for s in spans:
		h.assert_near(h.phases(s)['render']['dur_ns'], render_ms * MS,
			      'a render in the WebSocket', abs_ms=5)
	h.assert_true(app.alive(), 'the webapp died')


CASES = [
	('render', lambda v: _render_only(v, 'webapp'), 60),
	('render_stripped', lambda v: _render_only(v, 'webapp-stripped'), 60),
	# stripped and without .go.buildinfo: the version comes from the Go tables
	('render_nobuildinfo', lambda v: _render_only(v, 'webapp-nobuildinfo'), 60),
	('backend_tls_dns_sequential', lambda v: _backend(v, 'webapp', parallel=False), 60),
	('backend_tls_dns', lambda v: _backend(v, 'webapp'), 60),
	('backend_tls_dns_stripped', lambda v: _backend(v, 'webapp-stripped'), 60),
	('backend_tls_dns_nobuildinfo', lambda v: _backend(v, 'webapp-nobuildinfo'), 60),
	('https_server', lambda v: _backend(v, 'webapp', server_tls=True), 60),
	('tls_refused', _tls_refused, 60),
	('tls_peeked_hello', _tls_peeked_hello, 60),
	('websocket', _websocket, 60),
	('panic_through_execute', _panic_through_execute, 60),
	('template_error', _template_error, 60),
	('panic_then_render_same_site', _panic_then_render, 60),
	('text_and_html_templates', lambda v: _text_and_html(v, 'webapp'), 60),
	('text_and_html_templates_stripped', lambda v: _text_and_html(v, 'webapp-stripped'), 60),
	('probe_span', _probe_span, 60),
	('goexit_on_demand', _goexit_on_demand, 60),
	('crash_stack_growth', _crash_stack_growth, 400),
]


def _row(ver, case, fn, timeout):
	def test():
		fn(ver)
	test.__name__ = 'test_%s_%s' % (ver.replace('.', '_'), case)
	test.__qualname__ = test.__name__
	test.__doc__ = '%s, built by %s' % (case, ver)
	test.timeout = timeout
	return test


for _v in _toolchains():
	for _case, _fn, _t in CASES:
		_f = _row(_v, _case, _fn, _t)
		globals()[_f.__name__] = _f


def test_go_perf_uprobes_backend():
	"""Kernels before 6.6 have no uprobe_multi links: the Go set as one perf-event
	uprobe per site (--uprobes perf), the newest toolchain, held to the same checks"""
	h.TRACER_EXTRA[:] = ['--uprobes', 'perf']
	_backend(_toolchains()[-1], 'webapp')
