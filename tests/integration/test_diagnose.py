# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""phasetrace diagnose: each fixture makes one mistake the way a developer would, and
diagnose must report exactly the findings it injects (plus dominant-phase, always),
with evidence within 2 ms + 10 % of the injected figure or of the fixture's own
measurement; a clean fixture reports dominant-phase alone.

Fixtures: the Go webapp (tests/fixtures/go/webapp: -backend without keep-alive,
-dns, -backend-in-template, -backend2, -backend-timeout-ms), the C backend
(delays) and DNS server, and tests/fixtures/pyservice.py (a python http.server
that writes a table row by row, answers /page/ in two writes (--nagle: delayed-ack),
and streams files to tests/fixtures/slowclient.py,
which reads at a fixed rate)."""
import http.client
import json
import os
import socket
import statistics

import harness as h
import checks
from harness import MS, BACKEND_HOST
from test_go import Webapp, _toolchains
from test_server import _webserver, _get as _ws_get, _probe_symbol

NREQ = 12


def _go():
	vers = _toolchains()
	if not vers:
		h.skip('no Go toolchain under /usr/lib/go-1.*')
	return vers[-1]


def _diagnose(pid, trace=False):
	"""phasetrace diagnose --json -p PID, ready to watch."""
	return h.Tracer(pids=[pid], duration=300, command=('diagnose', '--json'))


def _get(port, path):
	conn = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
	conn.request('GET', path)
	resp = conn.getresponse()
	resp.read()
	conn.close()
	return resp.status


def _findings(objs, pid, endpoint):
	"""{finding: object} of one endpoint; every other group of pid reports dominant-phase
	alone (a request diagnose could not place must not make a finding)."""
	for o in objs:
		for k in ('finding', 'comm', 'pid', 'endpoint', 'requests', 'share', 'evidence'):
			h.assert_true(k in o, 'field %s in %s' % (k, json.dumps(o)))
	mine = [o for o in objs if o['pid'] == pid and o['endpoint'] == endpoint]
	others = [o for o in objs if o['pid'] == pid and o['endpoint'] != endpoint]
	h.assert_eq([o['finding'] for o in others if o['finding'] != 'dominant-phase'], [],
		    'findings of the other groups of pid %d' % pid)
	out = {o['finding']: o for o in mine}
	h.assert_eq(len(out), len(mine), 'one object per finding')
	h.assert_true('dominant-phase' in out, 'dominant-phase of %s: %s' % (endpoint, objs))
	return out


def _expect(found, names):
	h.assert_eq(sorted(found), sorted(['dominant-phase'] + names), 'findings')
	for n in names:
		req = found[n]['requests']
		h.assert_true(req['holds'] >= 5 and req['holds'] <= req['of'],
			      '%s requests %r' % (n, req))


def _clean(found, phase, own_ns):
	"""dominant-phase alone, phase, its p50 near the fixture's own median of it."""
	_expect(found, [])
	ev = found['dominant-phase']['evidence']
	h.assert_eq(ev['phase'], phase, 'dominant phase')
	h.assert_near(ev['phases'][phase]['p50_ns'], statistics.median(own_ns),
		      '%s p50 vs the fixture\'s own' % phase)


def _webapp_run(args, paths):
	"""The Go webapp with args, diagnosed while the paths are fetched one by one;
	returns (webapp, its log lines, the diagnose objects of its pid)."""
	app = Webapp(_go(), args=args)
	d = _diagnose(app.pid)
	for p in paths:
		h.assert_eq(_get(app.port, p), 200, 'status of %s' % p)
	objs = d.stop()
	return app, app.log(), objs


def _pages(render_ms):
	return ['/page/%d?render_ms=%d' % (i, render_ms) for i in range(NREQ)]


def test_diagnose_go_clean():
	"""Keep-alive to one backend before rendering: nothing wrong, render dominates."""
	be = h.start_backend(ttfb_ms=3)
	app, log, objs = _webapp_run(['-backend', 'http://127.0.0.1:%d/' % be.port,
				      '-backend-keepalive'], _pages(15))
	_clean(_findings(objs, app.pid, 'GET /page/:id'), 'render',
	       [l['execute_ns'] for l in log])


def test_diagnose_go_connect_per_request():
	"""A new connection (and TLS handshake, held 20 ms by the backend) per backend call."""
	certs = h.make_certs()
	be = h.start_backend(ttfb_ms=3, hs_delay_ms=20, certs=certs)
	app, log, objs = _webapp_run(['-backend', 'https://127.0.0.1:%d/' % be.port, '-insecure'],
				     _pages(2))
	found = _findings(objs, app.pid, 'GET /page/:id')
	_expect(found, ['connect-per-request'])
	ev = found['connect-per-request']['evidence']
	h.assert_near(ev['new_connections'] * MS, (NREQ - 1) * MS, 'new connections',
		      abs_ms=0)
	own = statistics.mean(l['connect_ns'] + l['tls_ns'] for l in log[1:])
	h.assert_near(ev['connect_tls_ns_mean'], own, 'connect + TLS vs the webapp\'s httptrace')
	h.assert_near(ev['connect_tls_ns_mean'], 20 * MS, 'connect + TLS vs injected',
		      abs_ms=3)


def test_diagnose_go_dns_per_request():
	"""The backend's name resolved again for every call (Go's resolver has no cache and
	the connection is not kept): dns-per-request, and the new connection with it."""
	dns = h.start_dns(30)
	be = h.start_backend(ttfb_ms=3)
	app, log, objs = _webapp_run(['-backend', 'http://%s:%d/' % (BACKEND_HOST, be.port),
				      '-dns', '%s:53' % dns.addr], _pages(2))
	found = _findings(objs, app.pid, 'GET /page/:id')
	_expect(found, ['dns-per-request', 'connect-per-request'])
	ev = found['dns-per-request']['evidence']
	h.assert_eq(ev['name'], BACKEND_HOST, 'name')
	h.assert_near(ev['lookups'] * MS, (NREQ - 1) * MS, 'lookups', abs_ms=0)
	h.assert_near(ev['dns_ns_mean'], statistics.mean(l['dns_ns'] for l in log[1:]),
		      'dns vs the webapp\'s httptrace')
	h.assert_near(ev['dns_ns_mean'], 30 * MS, 'dns vs injected', abs_ms=3)


def test_diagnose_go_calls_in_render():
	"""The template fetches the backend (25 ms) lazily while it renders."""
	be = h.start_backend(ttfb_ms=25)
	app, log, objs = _webapp_run(['-backend', 'http://127.0.0.1:%d/' % be.port,
				      '-backend-keepalive', '-backend-in-template'], _pages(3))
	found = _findings(objs, app.pid, 'GET /page/:id')
	_expect(found, ['calls-in-render'])
	ev = found['calls-in-render']['evidence']
	h.assert_near(ev['calls_per_request'] * MS, 1 * MS, 'calls per request', abs_ms=0)
	h.assert_near(ev['call_ns_mean'], statistics.mean(l['backend_ns'] for l in log),
		      'call vs the webapp\'s own')
	h.assert_near(ev['call_ns_mean'], 25 * MS, 'call vs injected ttfb', abs_ms=3)


def test_diagnose_go_sequential_calls():
	"""Two backends (20 and 35 ms) fetched one after the other: concurrency saves ~20 ms."""
	b1 = h.start_backend(ttfb_ms=20)
	b2 = h.start_backend(ttfb_ms=35)
	app, log, objs = _webapp_run(['-backend', 'http://127.0.0.1:%d/' % b1.port,
				      '-backend2', 'http://127.0.0.1:%d/' % b2.port,
				      '-backend-keepalive'], _pages(2))
	found = _findings(objs, app.pid, 'GET /page/:id')
	_expect(found, ['sequential-calls'])
	ev = found['sequential-calls']['evidence']
	h.assert_near(ev['calls_per_request'] * MS, 2 * MS, 'calls per request', abs_ms=0)
	own = statistics.mean(min(l['backend_ns'], l['backend2_ns']) for l in log)
	h.assert_near(ev['saved_ns_mean'], own, 'saved vs the webapp\'s own call times')
	h.assert_near(ev['saved_ns_mean'], 20 * MS, 'saved vs injected', abs_ms=3)


def test_diagnose_go_deadline():
	"""The backend client's 120 ms deadline cuts every call to a 400 ms backend."""
	be = h.start_backend(ttfb_ms=400)
	app = Webapp(_go(), args=['-backend', 'http://127.0.0.1:%d/' % be.port,
				  '-backend-keepalive', '-backend-timeout-ms', '120'])
	d = _diagnose(app.pid)
	for p in _pages(1):
		h.assert_eq(_get(app.port, p), 502, 'status of %s' % p)
	objs = d.stop()
	found = _findings(objs, app.pid, 'GET /page/:id')
	_expect(found, ['deadline'])
	h.assert_near(found['deadline']['evidence']['duration_ns'], 120 * MS, 'deadline')


def test_diagnose_tls_failure():
	"""A C server on OpenSSL whose clients' handshakes fail: each of 6 reads the server's
	flight, holds 50 ms, then refuses its certificate; 3 good HTTPS requests go to the
	same server. The failures (one group: no request line) make tls-failure, with the
	hold as the mean; the good requests' group finds nothing."""
	certs = h.make_certs()
	be = h.start_backend(certs=certs)
	d = _diagnose(be.pid)
	for _ in range(3):
		r = h.run(['curl', '-sS', '-o', '/dev/null', '--cacert', certs['ca'],
			   'https://127.0.0.1:%d/ok' % be.port])
		h.assert_eq(r.rc, 0, 'curl with the CA (%s)' % r.stderr)
	for _ in range(6):
		checks.held_handshake(be.port, None, 0, 50, refuse=True)
	found = _findings(d.stop(), be.pid, '(no request line)')
	_expect(found, ['tls-failure'])
	h.assert_eq(found['tls-failure']['requests'], {'holds': 6, 'of': 6},
		    'tls-failure requests')
	ev = found['tls-failure']['evidence']
	h.assert_eq((ev['failures'], ev['peer']), (6, None), 'failures, peer')
	h.assert_near(ev['tls_ns_mean'], 50 * MS, 'mean handshake time before the failure',
		      abs_ms=5)


def test_diagnose_go_template_parse():
	"""The handler parses its page template on every request (html/template New+Parse)."""
	app, log, objs = _webapp_run(['-parse-per-request'], _pages(2))
	found = _findings(objs, app.pid, 'GET /page/:id')
	_expect(found, ['template-parse-per-request'])
	h.assert_near(found['template-parse-per-request']['evidence']['parses_per_request'] * MS,
		      1 * MS, 'parses per request', abs_ms=0)
	h.assert_eq(found['template-parse-per-request']['requests']['holds'], NREQ, 'holds for')


def test_diagnose_go_gc_in_render():
	"""A page of 8000 rows the template loads while it renders: its allocations make the
	GC stop the world during rendering (pauses measured by the webapp itself with
	debug.ReadGCStats around Execute: it counts the pauses of the cycles that end inside,
	so a cycle across Execute's start or end moves a pause to the next render; hence the
	harness's usual 2 ms + 10 %, over the mean of 12 renders)."""
	app, log, objs = _webapp_run(['-rows', 8000], _pages(0))
	found = _findings(objs, app.pid, 'GET /page/:id')
	_expect(found, ['gc-in-render'])
	f = found['gc-in-render']
	with_gc = [l for l in log if l['num_gc'] > 0]
	h.assert_near(f['requests']['holds'] * MS, len(with_gc) * MS,
		      'renders with a pause vs renders with a GC', abs_ms=1)
	h.assert_near(f['evidence']['gc_ns_mean'],
		      statistics.mean(l['gc_pause_ns'] for l in with_gc), 'pause per render')


def _pyservice():
	return h.start_fixture('pyservice', '--port', 0, '--rows', 200)


def test_diagnose_small_writes():
	"""python http.server's unbuffered wfile, one write() per table row."""
	svc = _pyservice()
	d = _diagnose(svc.pid)
	for i in range(NREQ):
		h.assert_eq(_get(svc.port, '/report/%d' % i), 200, 'status')
	objs = d.stop()
	log = svc.json_log()
	found = _findings(objs, svc.pid, 'GET /report/:id')
	_expect(found, ['small-writes'])
	ev = found['small-writes']['evidence']
	h.assert_near(ev['writes_per_request'] * MS, statistics.mean(l['writes'] for l in log) * MS,
		      'writes per response', abs_ms=0)
	h.assert_near(ev['bytes_per_write'] * MS,
		      statistics.mean(l['bytes'] / l['writes'] for l in log) * MS,
		      'bytes per write', abs_ms=0)


def test_diagnose_slow_client():
	"""8 MiB files streamed to a client that reads 256 KiB every 10 ms."""
	svc = _pyservice()
	d = _diagnose(svc.pid)
	path = os.path.join(h.FIXTURES, 'slowclient')
	r = h.run([path, svc.port, '/file/1', 6], timeout=60)
	h.assert_eq(r.rc, 0, 'slowclient exit status')
	objs = d.stop()
	log = svc.json_log()
	found = _findings(objs, svc.pid, 'GET /file/:id')
	_expect(found, ['slow-client'])
	ev = found['slow-client']['evidence']
	held = sorted(l['send_ns'] for l in log)[-found['slow-client']['requests']['holds']:]
	h.assert_near(ev['send_ns_mean'], statistics.mean(held),
		      'send vs the service\'s own time blocked in writes')
	h.assert_true(ev['send_share'] > 0.9, 'send share %.3f' % ev['send_share'])


def test_diagnose_text():
	"""The text report: the finding in words, the phase table, lines within 80 columns
	(the typical request's waterfall aside), a progress line on stderr."""
	svc = _pyservice()
	d = h.Tracer(pids=[svc.pid], duration=6, command=('diagnose',))
	for i in range(NREQ):
		h.assert_eq(_get(svc.port, '/report/%d' % i), 200, 'status')
	rc = d.proc.wait(30)
	d.reader.join(5)
	h.assert_eq(rc, 0, 'exit status at the end of --duration')
	with open(d.out_path, errors='replace') as f:
		text = f.read()
	h.log(text)
	report = text.split('a typical request')[0]
	for line in report.splitlines():
		h.assert_true(len(line) <= 80, 'line of %d columns: %r' % (len(line), line))
	h.assert_true('python3[%d] GET /report/:id' % svc.pid in text, 'group header')
	h.assert_true('* small-writes (%d of %d requests)' % (NREQ, NREQ) in text,
		      'small-writes line')
	h.assert_true('a typical request (nearest the p50):' in text, 'typical request')
	h.assert_true(any('phasetrace: diagnose: ' in l for l in d.err), 'progress line on '
		      'stderr: %s' % d.stderr())


def test_diagnose_bad_options():
	"""One clear sentence and exit 2, before anything is loaded."""
	for args, what in ((['--duration', 'soon'], 'is not a duration'),
			   (['extra'], "unexpected argument 'extra'"),
			   (['--listen', '127.0.0.1:9999'], 'diagnose prints one report')):
		r = h.run([h.PHASETRACE, 'diagnose'] + args)
		h.assert_eq(r.rc, 2, 'exit status of diagnose %s' % ' '.join(args))
		h.assert_true(what in r.stderr and r.stderr.count('\n') == 1,
			      'one sentence for %s: %r' % (args, r.stderr))


def _client_run(args, n, prefix=()):
	"""A client fixture started with --wait (or urlclient), diagnosed by pid."""
	name = args[0]
	cl = h.start_fixture(name, *args[1:], prefix=prefix, stdin=True)
	d = _diagnose(cl.pid)
	cl.go()
	rc, recs = cl.wait(60)
	h.assert_eq(rc, 0, '%s exit status' % name)
	h.assert_eq(len(recs), n, '%s requests' % name)
	return cl, recs, d.stop()


def test_diagnose_client_urllib():
	"""A python script calling urllib.request.urlopen in a loop: a new connection and a
	fresh lookup (the DNS server answers in 20 ms) for every request."""
	h.start_dns(20)
	be = h.start_backend(ttfb_ms=3)
	cl, _, objs = _client_run(['urlclient', 'http://%s:%d/' % (BACKEND_HOST, be.port), NREQ],
				  NREQ, prefix=h.resolver_ns())
	found = _findings(objs, cl.pid, '(outbound)')
	_expect(found, ['dns-per-request', 'connect-per-request'])
	ev = found['dns-per-request']['evidence']
	h.assert_near(ev['lookups'] * MS, (NREQ - 1) * MS, 'lookups', abs_ms=0)
	h.assert_near(ev['dns_ns_mean'], 20 * MS, 'dns vs injected')
	h.assert_near(found['connect-per-request']['evidence']['new_connections'] * MS,
		      (NREQ - 1) * MS, 'new connections', abs_ms=0)


def test_diagnose_client_clean():
	"""The C client: one lookup, one connection, keep-alive requests (25 ms to the first
	byte): ttfb dominates, nothing else."""
	be = h.start_backend(ttfb_ms=25)
	cl, recs, objs = _client_run(['client', '--host', '127.0.0.1', '--port', be.port,
				      '--requests', NREQ, '--wait'], NREQ)
	_clean(_findings(objs, cl.pid, '(outbound)'), 'ttfb', [r['ttfb_ns'] for r in recs])


def _delayed_ack(found, nagle, own, whose):
	"""One group's findings against own, the fixture's own times from a message's first
	byte read to its last: without Nagle's algorithm no finding and no stall; with it
	delayed-ack, its mean recv near that of the stalled ones (36-60 ms). Its evidence, or
	None without Nagle."""
	h.log('nagle %s: %s %s' % (nagle, whose, own))
	if not nagle:
		_expect(found, [])
		h.assert_true(max(own) < 30 * MS, 'no stall with TCP_NODELAY: %s' % own)
		return None
	_expect(found, ['delayed-ack'])
	held = [x for x in own if 36 * MS <= x < 60 * MS]
	h.assert_true(len(held) >= 5, 'stalls by %s: %s' % (whose, own))
	ev = found['delayed-ack']['evidence']
	h.assert_near(ev['recv_ns_mean'], statistics.mean(held), 'recv vs %s' % whose)
	h.assert_eq(ev['stalls'], found['delayed-ack']['requests']['holds'], 'stalls')
	return ev


def test_diagnose_delayed_ack():
	"""pyservice answers /page/ in two writes, header block then body. With Nagle's
	algorithm on (--nagle, http.server's default) the C client's keep-alive requests
	after the first read the body 40 ms after the headers: the body waits for the ACK of
	the headers, which the client delays (Linux's minimum delayed-ACK time); the first
	is ACKed at once (a new connection's quick ACKs). With TCP_NODELAY: nothing."""
	for nagle in (True, False):
		svc = h.start_fixture('pyservice', '--port', 0, *(['--nagle'] if nagle else []))
		cl, recs, objs = _client_run(['client', '--host', '127.0.0.1', '--port', svc.port,
					      '--path', '/page/1', '--requests', NREQ, '--wait'],
					     NREQ)
		# the client's own time from the first byte read to the last
		ev = _delayed_ack(_findings(objs, cl.pid, '(outbound)'), nagle,
				  [r['total_ns'] - r['send_ns'] - r['ttfb_ns'] for r in recs[1:]],
				  'the client\'s own time from first to last byte')
		if ev:
			h.assert_eq(ev['peer'], '127.0.0.1:%d' % svc.port, 'peer')
			h.assert_eq(ev['in_requests'], 0, 'stalls reading a request')


def _upload_split(port, n, nodelay):
	"""n keep-alive uploads on one connection, each written as a header block and then
	its body, in two calls; Nagle's algorithm on unless nodelay."""
	s = socket.create_connection(('127.0.0.1', port), timeout=30)
	if nodelay:
		s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
	body = b'x' * 300
	for i in range(n):
		s.sendall(b'POST /upload/%d HTTP/1.1\r\nHost: 127.0.0.1\r\n'
			  b'Content-Length: %d\r\n\r\n' % (i, len(body)))
		s.sendall(body)
		buf = b''
		while not (b'\r\n\r\n' in buf and buf.endswith(b'ok')):
			got = s.recv(4096)
			h.assert_true(got, 'the answer to upload %d' % i)
			buf += got
		h.assert_true(buf.startswith(b'HTTP/1.1 200'), 'status of upload %d' % i)
	s.close()


def test_diagnose_delayed_ack_request():
	"""The other way round: a client (this test, a plain socket with Nagle's algorithm
	on) writes each upload's header block and body in two calls; the body waits for the
	ACK of the headers, which pyservice delays on its keep-alive connection. Against
	pyservice's own time from the header block to the end of the body; with TCP_NODELAY
	on the client's socket, nothing."""
	for nagle in (True, False):
		svc = _pyservice()
		d = _diagnose(svc.pid)
		_upload_split(svc.port, NREQ, nodelay=not nagle)
		objs = d.stop()
		own = [l['read_ns'] for l in svc.json_log()]
		h.assert_eq(len(own), NREQ, 'uploads logged')
		ev = _delayed_ack(_findings(objs, svc.pid, 'POST /upload/:id'), nagle, own,
				  'pyservice\'s own time reading the body')
		if ev:
			h.assert_eq(ev['in_requests'], ev['stalls'], 'every stall reading a request')
			h.assert_true(ev['peer'].startswith('127.0.0.1:'), 'peer %s' % ev['peer'])


def test_diagnose_c_server_calls_in_render():
	"""The C webserver (render_page() timed with --probe) calls its backend from inside
	render_page() (in_render=1), resolving the name (10 ms) and connecting every time."""
	ws, be = _webserver(dns_ms=10, ttfb_ms=15, tls=False)
	d = h.Tracer(pids=[ws.pid], duration=300, command=('diagnose', '--json'),
		     extra=_probe_symbol())
	for i in range(8):
		h.assert_eq(_ws_get(ws, '/page?render_ms=5&backend=1&in_render=1')['status'], 200,
			    'status')
	objs = d.stop()
	log = ws.json_log()
	found = _findings(objs, ws.pid, 'GET /page')
	_expect(found, ['calls-in-render', 'dns-per-request', 'connect-per-request'])
	ev = found['calls-in-render']['evidence']
	h.assert_near(ev['calls_per_request'] * MS, 1 * MS, 'calls per request', abs_ms=0)
	h.assert_near(ev['call_ns_mean'], statistics.mean(l['backend_ns'] for l in log),
		      'call vs the webserver\'s own')
	h.assert_near(found['dns-per-request']['evidence']['dns_ns_mean'],
		      statistics.mean(l['dns_ns'] for l in log[1:]), 'dns vs the webserver\'s own')
	h.assert_near(found['dns-per-request']['evidence']['dns_ns_mean'], 10 * MS,
		      'dns vs injected')
