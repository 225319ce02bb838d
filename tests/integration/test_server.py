# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""phasetrace on the server side: the webserver fixture (a backend call and a
render_page() whose durations the test injects, and which logs its own
measurements), several of its requests at once on several threads, `--probe`
spans by symbol and by USDT pair, and real servers (nginx, python's http.server).

Tests marked [--probe] need `phasetrace trace --probe`; until it exists they fail
at start with phasetrace's own complaint about the option."""
import json
import time
import os
import signal

import harness as h
import checks
from harness import MS, BACKEND_HOST

WEBSERVER = os.path.join(h.FIXTURES, 'webserver')
COMM = 'webserver'
DNS_MS, HS_MS, TTFB_MS, RENDER_MS = 60, 120, 90, 150
SLACK_NS = 1 * MS		# phase boundaries seen from two clocks (uprobe vs syscall)
RENDER_END_SLACK_NS = 10 * MS	# last write -> render_page() returns, maybe preempted


def _probe_symbol():
	return ['--probe', 'render=%s:render_page' % WEBSERVER]


def _probe_usdt():
	return ['--probe', 'render=usdt:%s:webserver:render_start:render_end' % WEBSERVER]


def _webserver(dns_ms=DNS_MS, hs_ms=HS_MS, ttfb_ms=TTFB_MS, tls=True, backend=True):
	"""DNS fixture + backend + webserver resolving the backend through it."""
	certs = h.make_certs() if tls else None
	h.start_dns(dns_ms)
	args = ['--port', 0, '--backend-host', BACKEND_HOST]
	be = None
	if backend:
		be = h.start_backend(ttfb_ms=ttfb_ms, hs_delay_ms=hs_ms, certs=certs)
		args += ['--backend-port', be.port]
	if certs:
		args += ['--cafile', certs['ca']]
	ws = h.start_fixture('webserver', *args, prefix=h.resolver_ns())
	return ws, be


def _get(ws, path):
	"""One GET through the client fixture (not traced: the tracer follows -p ws)."""
	_, crecs = h.run_client('--host', '127.0.0.1', '--port', ws.port, '--path', path)
	h.assert_eq(len(crecs), 1, 'client records for %s' % path)
	return crecs[0]


def _page(render_ms, backend=1, in_render=0, backend_port=None):
	q = '/page?render_ms=%d&backend=%d&in_render=%d' % (render_ms, backend, in_render)
	if backend_port:
		q += '&backend_port=%d' % backend_port
	return q


def _one_server(recs, ws, path):
	return h.only_one(h.server_records(recs, pid=ws.pid, path=path),
			  'server record of %s pid %d for %s' % (COMM, ws.pid, path))


def _abs(rec, ph):
	"""A phase's [start, end) in epoch ns."""
	s = rec['start_ns'] + ph['start_ns']
	return s, s + ph['dur_ns']


def _check_server_head(rec, ws, status=200, path='/page', ctx='server record'):
	h.assert_eq(rec.get('role'), 'server', ctx + ': role')
	h.assert_eq(rec.get('comm'), COMM, ctx + ': comm')
	h.assert_eq(rec.get('method'), 'GET', ctx + ': method')
	h.assert_eq(rec.get('path'), path, ctx + ': path')
	h.assert_eq(rec.get('status'), status, ctx + ': status')
	h.assert_eq(rec.get('local_port'), ws.port, ctx + ': local_port')
	h.assert_true(isinstance(rec.get('peer'), str) and rec['peer'].startswith('127.0.0.1:'),
		      ctx + ': peer %r is not the loopback client' % rec.get('peer'))
	h.assert_eq(rec.get('error'), None, ctx + ': error')
	h.assert_true(isinstance(rec.get('children'), list), ctx + ': no children list: %s' %
		      json.dumps(rec))


def _check_child(child, srv, be_port, truth, tls=True, hs_ms=HS_MS, ttfb_ms=TTFB_MS,
		 dns_ms=DNS_MS, ctx='child', busy=False, need_dns=True):
	"""The backend call nested in srv, against the injected delays and the
	webserver's own measurement (truth: its JSON log line). busy: the CPUs are
	saturated, so fixtures wake late: an injected delay is only a lower bound."""
	h.assert_eq(child.get('role'), 'client', ctx + ': role')
	h.assert_eq(child.get('pid'), srv['pid'], ctx + ': pid')
	h.assert_eq(child.get('tid'), srv['tid'], ctx + ': tid (the thread serving the request)')
	h.assert_eq(child.get('host'), BACKEND_HOST, ctx + ': host')
	h.assert_eq(child.get('peer'), '127.0.0.1:%d' % be_port, ctx + ': peer')
	h.assert_eq(child.get('tls'), tls, ctx + ': tls')
	h.assert_eq((child.get('method'), child.get('path'), child.get('status')),
		    ('GET', '/', 200), ctx + ': method, path, status')
	ph = h.phases(child)
	injected = {'dns': dns_ms, 'connect': 0, 'ttfb': ttfb_ms}
	if tls:
		injected['tls'] = hs_ms
	for name, ms in injected.items():
		if name == 'dns' and not need_dns and name not in ph:
			continue
		h.assert_true(name in ph, '%s: phase %s missing: %s' % (ctx, name, json.dumps(child)))
		if busy:
			h.assert_true(ph[name]['dur_ns'] >= ms * MS - 2 * MS,
				      '%s: %s phase %.1f ms is shorter than the injected %d ms' %
				      (ctx, name, ph[name]['dur_ns'] / MS, ms))
		else:
			h.assert_near(ph[name]['dur_ns'], ms * MS, '%s: %s phase' % (ctx, name))
		# connect: SYN to SYN-ACK, inside the webserver's connect() call
		check = h.assert_not_longer if name == 'connect' else h.assert_near
		check(ph[name]['dur_ns'], truth[name + '_ns'],
		      '%s: %s phase vs the webserver\'s own measurement' % (ctx, name))
	# the child lies inside its parent
	c0, c1 = child['start_ns'], child['start_ns'] + child['dur_ns']
	s0, s1 = srv['start_ns'], srv['start_ns'] + srv['dur_ns']
	h.assert_true(s0 - SLACK_NS <= c0 and c1 <= s1 + SLACK_NS,
		      '%s: [%d, %d] is not inside its server request [%d, %d]' %
		      (ctx, c0, c1, s0, s1))


def _check_render(srv, truth, render_ms, io_in_render=False, ctx='render phase'):
	ph = h.phases(srv)
	h.assert_true('render' in ph, '%s missing (is --probe attached?): %s' %
		      (ctx, json.dumps(srv)))
	r = ph['render']
	h.assert_near(r['dur_ns'], truth['render_ns'], ctx + ' vs the webserver\'s own render_ns')
	if render_ms is not None:
		h.assert_near(r['dur_ns'], render_ms * MS, ctx)
	io = r.get('io_ns')
	h.assert_true(isinstance(io, int) and not isinstance(io, bool) and io >= 0,
		      '%s: io_ns %r is not a number >= 0' % (ctx, io))
	h.assert_true(io <= r['dur_ns'], '%s: io_ns %d exceeds its duration %d' %
		      (ctx, io, r['dur_ns']))
	h.assert_eq(r.get('io_in_render'), io_in_render, ctx + ': io_in_render')
	h.assert_eq(r.get('io_in_span'), io_in_render, ctx + ': io_in_span')
	# the render writes the response: it ends after ttfb, inside the record
	h.assert_true(r['start_ns'] >= 0 and r['start_ns'] + r['dur_ns'] <=
		      srv['dur_ns'] + RENDER_END_SLACK_NS, '%s %r lies outside its record (dur %d)' %
		      (ctx, r, srv['dur_ns']))
	return r


def _truth(ws, path='/page', n=1):
	lines = [t for t in ws.json_log() if t.get('path') == path]
	h.assert_eq(len(lines), n, 'webserver log lines for %s' % path)
	for t in lines:
		h.log('webserver: %s' % json.dumps(t))
	return lines


def _single(probe, in_render=0, render_ms=RENDER_MS):
	"""One /page request with the backend call; returns (server rec, truth, be)."""
	ws, be = _webserver()
	tr = h.Tracer(pids=[ws.pid], extra=probe)
	crec = _get(ws, _page(render_ms, in_render=in_render))
	recs = tr.stop()
	h.assert_eq(crec['status'], 200, 'the client\'s status')
	truth = _truth(ws)[0]
	srv = _one_server(recs, ws, '/page')
	_check_server_head(srv, ws)
	ph = h.phases(srv)
	h.assert_true('ttfb' in ph and 'send' in ph, 'server phases ttfb and send: %s' %
		      json.dumps(srv))
	injected = (DNS_MS + HS_MS + TTFB_MS + render_ms) * MS
	h.assert_near(ph['ttfb']['dur_ns'], truth['handler_ns'],
		      'server ttfb vs the webserver\'s own handler_ns')
	h.assert_near(ph['ttfb']['dur_ns'], injected, 'server ttfb vs dns+connect+tls+ttfb+render')
	h.assert_true(ph['send']['start_ns'] + SLACK_NS >= ph['ttfb']['dur_ns'],
		      'server send starts before the first response byte: %s' % json.dumps(srv))
	child = h.only_one(srv['children'], 'child of the server record')
	_check_child(child, srv, be.port, truth)
	return srv, truth, child


def test_server_ttfb_and_child():
	"""No --probe: the server record, its ttfb and its nested backend call."""
	srv, _, _ = _single([])
	names = [p['name'] for p in srv['phases']]
	h.assert_true('render' not in names, 'render phase without --probe: %s' % names)


def test_server_render_probe():
	"""[--probe] render=webserver:render_page: render phase ~ 150 ms, after the call."""
	srv, truth, child = _single(_probe_symbol())
	r = _check_render(srv, truth, RENDER_MS)
	r0, _ = _abs(srv, r)
	h.assert_true(child['start_ns'] + child['dur_ns'] <= r0 + SLACK_NS,
		      'backend call made before render_page() ends %.1f ms into the render' %
		      ((child['start_ns'] + child['dur_ns'] - r0) / MS))


def _render_after(after_ms):
	"""render_page() goes on after_ms after the page's last byte: still the request's
	render phase (not a span of its own), once, whole."""
	ws, _ = _webserver(backend=False, tls=False)
	tr = h.Tracer(pids=[ws.pid], extra=_probe_symbol())
	crec = _get(ws, _page(20, backend=0) + '&after_ms=%d' % after_ms)
	time.sleep((after_ms + 1200) / 1000)	# the span's end, then the 1 s the tracer waits
	recs = tr.stop()
	h.assert_eq(crec['status'], 200, 'the client\'s status')
	h.assert_eq([r for r in recs if r.get('role') == 'span'], [], 'spans on their own')
	srv = _one_server(recs, ws, '/page')
	r = _check_render(srv, _truth(ws)[0], 20 + after_ms)
	send = h.phases(srv)['send']
	h.assert_true(_abs(srv, r)[1] > _abs(srv, send)[1] + (after_ms - 5) * MS,
		      'render ends %d ms after the last byte' % after_ms)


def test_server_render_after_last_byte():
	"""[--probe] a render ending 120 ms after the last byte (the record is emitted at the
	connection's close, after it)."""
	_render_after(120)


def test_server_render_after_idle_flush():
	"""[--probe] a render ending 700 ms after the last byte: the idle flush (500 ms)
	finds the span still open and the request waits for it."""
	_render_after(700)


def test_server_render_usdt():
	"""[--probe] render=usdt:webserver:render_start:render_end: same render phase."""
	srv, truth, _ = _single(_probe_usdt())
	_check_render(srv, truth, RENDER_MS)


def test_server_io_in_render():
	"""[--probe] in_render=1 moves the backend call inside render_page()."""
	ws, be = _webserver()
	tr = h.Tracer(pids=[ws.pid], extra=_probe_symbol())
	_get(ws, _page(100, in_render=0))
	_get(ws, _page(100, in_render=1))
	# a thread per connection, ended with it: its context and its span state too
	left = lambda: {t: h.ctx_entries(t, ws.pid) for t in ('threads', 'spans')}
	h.assert_true(h.until(lambda: not any(left().values()), 5),
		      'webserver: state of its ended connection threads left: %s' % left())
	recs = tr.stop()
	truths = _truth(ws, n=2)
	srvs = h.server_records(recs, pid=ws.pid, path='/page')
	h.assert_eq(len(srvs), 2, 'server records for /page')
	for srv, truth, inside in zip(srvs, truths, (False, True)):
		ctx = 'in_render=%d' % inside
		_check_server_head(srv, ws, ctx=ctx)
		child = h.only_one(srv['children'], ctx + ': child of the server record')
		# the render phase of in_render=1 holds the backend call: its own truth only
		r = _check_render(srv, truth, None if inside else 100, io_in_render=inside,
				  ctx=ctx + ': render phase')
		if inside:
			h.assert_near(r['dur_ns'], truth['backend_ns'] + 100 * MS,
				      ctx + ': render phase vs backend call + 100 ms')
		r0, r1 = _abs(srv, r)
		c0, c1 = child['start_ns'], child['start_ns'] + child['dur_ns']
		if inside:
			h.assert_true(r0 - SLACK_NS <= c0 and c1 <= r1 + SLACK_NS,
				      '%s: backend call [%d, %d] not inside the render phase [%d, %d]'
				      % (ctx, c0, c1, r0, r1))
		else:
			h.assert_true(c1 <= r0 + SLACK_NS, '%s: backend call ends %.1f ms into the '
				      'render phase' % (ctx, (c1 - r0) / MS))


def test_server_backend_tls_every_connection():
	"""Each request's new backend connection has its own TLS handshake phase
	(the process frees and allocates SSL objects between requests)."""
	ws, be = _webserver()
	tr = h.Tracer(pids=[ws.pid])
	for _ in range(4):
		_get(ws, _page(10))
	recs = tr.stop()
	truths = _truth(ws, n=4)
	srvs = h.server_records(recs, pid=ws.pid, path='/page')
	h.assert_eq(len(srvs), 4, 'server records for /page')
	for i, (srv, truth) in enumerate(zip(srvs, truths)):
		child = h.only_one(srv['children'], 'child of request %d' % i)
		_check_child(child, srv, be.port, truth, ctx='request %d\'s backend call' % i)


# ---------------------------------------------------------------- concurrency

CONC_RENDER_MS = (50, 100, 150, 200, 250, 300, 350, 400)
CONC_TTFB_MS = (240, 30, 180, 90, 210, 60, 150, 120)


def _concurrent(probe):
	"""8 requests at once from 8 client processes, each to its own backend (by port):
	every server record must hold exactly its own backend call (and render)."""
	conc_dns = 30
	ws, _ = _webserver(dns_ms=conc_dns, tls=False, backend=False)
	bes = [h.start_backend(ttfb_ms=t) for t in CONC_TTFB_MS]
	by_port = {be.port: i for i, be in enumerate(bes)}
	clients = [h.start_fixture('client', '--wait', '--host', '127.0.0.1', '--port', ws.port,
				   '--path', _page(r, backend_port=be.port), stdin=True)
		   for r, be in zip(CONC_RENDER_MS, bes)]
	tr = h.Tracer(pids=[ws.pid], extra=probe)
	for c in clients:
		c.go()
	for c in clients:
		rc, crecs = c.wait()
		h.assert_eq((rc, [r['status'] for r in crecs]), (0, [200]),
			    'client exit status and status (stderr: %s)' % c.stderr().strip())
	recs = tr.stop()
	truth = {t['backend_port']: t for t in ws.json_log() if t.get('path') == '/page'}
	h.assert_eq(sorted(truth), sorted(by_port), 'backend ports in the webserver\'s log')
	tids = {t['tid'] for t in truth.values()}
	h.assert_eq(len(tids), len(bes), 'distinct threads serving the requests')

	srvs = h.server_records(recs, pid=ws.pid, path='/page')
	h.assert_eq(len(srvs), len(bes), 'server records for /page')
	seen, no_dns = set(), []
	for srv in srvs:
		_check_server_head(srv, ws)
		kids = srv['children']
		h.assert_eq(len(kids), 1, 'children of the server record on tid %s (%s)' %
			    (srv.get('tid'), [k.get('peer') for k in kids]))
		port = int(kids[0]['peer'].rsplit(':', 1)[1]) if kids[0].get('peer') else None
		h.assert_true(port in by_port, 'child peer %r is none of the backends' %
			      kids[0].get('peer'))
		h.assert_true(port not in seen, 'two server records hold a call to port %d' % port)
		seen.add(port)
		i, t = by_port[port], truth[port]
		ctx = 'request %d (render %d ms, backend ttfb %d ms)' % (i, CONC_RENDER_MS[i],
									 CONC_TTFB_MS[i])
		h.assert_eq(srv.get('tid'), t['tid'], ctx + ': server tid vs the webserver\'s')
		_check_child(kids[0], srv, port, t, tls=False, ttfb_ms=CONC_TTFB_MS[i],
			     dns_ms=conc_dns, ctx=ctx + ': backend call', busy=True, need_dns=False)
		if 'dns' not in h.phases(kids[0]):
			no_dns.append('%s: %s' % (ctx, json.dumps(kids[0])))
		ph = h.phases(srv)
		h.assert_near(ph['ttfb']['dur_ns'], t['handler_ns'],
			      ctx + ': server ttfb vs the webserver\'s own handler_ns')
		if probe:
			# 8 busy renders on few CPUs: the wall-clock loop may end late,
			# the webserver's own render_ns is the ground truth
			_check_render(srv, t, None, ctx=ctx + ': render phase')
			h.assert_true(t['render_ns'] >= CONC_RENDER_MS[i] * MS,
				      ctx + ': webserver rendered for %d ns only' % t['render_ns'])
	# last, so that nesting and render are checked first: each thread did its own
	# lookup just before its connect(), each call must carry a dns phase
	h.assert_eq(no_dns, [], 'backend calls without the dns phase of their thread\'s '
		    'lookup (%d concurrent lookups of %s)' % (len(bes), BACKEND_HOST))


@h.timeout(90)
def test_server_concurrent_nesting():
	"""8 concurrent requests on 8 threads: each server record has its own call."""
	_concurrent([])


@h.timeout(90)
def test_server_concurrent_render():
	"""[--probe] the same, and each server record has its own render duration."""
	_concurrent(_probe_symbol())


# ---------------------------------------------------------------- --probe errors

def _probe_error(spec, name):
	"""phasetrace --probe SPEC must refuse to start: exit != 0, one stderr line naming it."""
	h.need_root()
	h.need_binary(h.PHASETRACE)
	# --duration bounds a phasetrace that would accept the probe and run
	res = h.run([h.PHASETRACE, 'trace', '--json', '--duration', 5, '--probe', spec])
	lines = [line for line in res.stderr.splitlines() if line.strip()]
	h.assert_true(res.rc != 0, '--probe %s: exit status 0 (stderr: %r)' % (spec, res.stderr))
	h.assert_eq(len(lines), 1, '--probe %s: stderr lines (%r)' % (spec, res.stderr))
	h.assert_true(name in lines[0], '--probe %s: stderr %r does not name %s' %
		      (spec, lines[0], name))


def test_probe_missing_binary():
	path = h.tmp_path('no-such-binary')
	_probe_error('render=%s:render_page' % path, path)


def test_probe_missing_symbol():
	_probe_error('render=%s:no_such_render_fn' % WEBSERVER, 'no_such_render_fn')


def test_probe_missing_usdt():
	_probe_error('render=usdt:%s:webserver:no_such_start:render_end' % WEBSERVER,
		     'no_such_start')


# ---------------------------------------------------------------- real servers

NGINX = '/usr/sbin/nginx'
NGINX_UPSTREAM_TTFB_MS = 100
NGINX_CONF = '''daemon off;
master_process on;
worker_processes 2;
pid {d}/nginx.pid;
error_log stderr notice;
events {{ worker_connections 64; }}
http {{
	access_log {d}/access.log;
	client_body_temp_path {d}/body;
	proxy_temp_path {d}/proxy;
	fastcgi_temp_path {d}/fastcgi;
	uwsgi_temp_path {d}/uwsgi;
	scgi_temp_path {d}/scgi;
	server {{
		listen 127.0.0.1:{port};
		root {d}/www;
		location /proxy {{ proxy_pass http://127.0.0.1:{backend}; }}
	}}
}}
'''


def _www():
	d = h.tmp_path('www')
	os.makedirs(d)
	with open(os.path.join(d, 'index.html'), 'w') as f:
		f.write('<html><body>%s</body></html>\n' % ('phasetrace ' * 200))
	os.chmod(d, 0o755)
	os.chmod(os.path.join(d, 'index.html'), 0o644)
	return d


def _start_nginx(backend_port, conf_text=NGINX_CONF):
	"""nginx from conf_text ({d}: its directory, {port}: its port, {backend})."""
	h.need_root()
	if not os.access(NGINX, os.X_OK):
		h.skip('nginx is not installed')
	_www()
	d = h.tmp_path('').rstrip('/')
	port = h.free_port()
	conf = h.tmp_path('nginx.conf')
	with open(conf, 'w') as f:
		f.write(conf_text.format(d=d, port=port, backend=backend_port))
	# the master logs each worker it starts: both up means both can serve
	ng = h.start_daemon('nginx', [NGINX, '-e', 'stderr', '-p', d + '/', '-c', conf],
			    r'start worker process', stop_signal=signal.SIGQUIT, count=2)
	ng.port = port
	return ng


@h.timeout(90)
def test_nginx():
	be = h.start_backend(ttfb_ms=NGINX_UPSTREAM_TTFB_MS)
	tr = h.Tracer(comms=['nginx'])
	ng = _start_nginx(be.port)
	gets = [('/index.html', 200), ('/missing.html', 404), ('/proxy/x', 200)]
	for path, status in gets:
		_, crecs = h.run_client('--host', '127.0.0.1', '--port', ng.port, '--path', path)
		h.assert_eq(crecs[0]['status'], status, 'nginx\'s answer to %s' % path)
	recs = tr.stop()
	workers = set(r['pid'] for r in recs if r.get('role') == 'server')
	h.assert_true(ng.pid not in workers, 'the nginx master served a request')
	for path, status in gets:
		srv = h.only_one(h.server_records(recs, comm='nginx', path=path,
						  local_port=ng.port), 'nginx server record for %s' % path)
		h.assert_eq((srv.get('method'), srv.get('status')), ('GET', status),
			    'nginx %s: method and status' % path)
		ph = h.phases(srv)
		h.assert_true('ttfb' in ph, 'nginx %s: no ttfb phase: %s' % (path, json.dumps(srv)))
		if path.startswith('/proxy'):
			proxy = srv
	# the upstream call: nested in /proxy's record or on its own (event loop)
	peer = '127.0.0.1:%d' % be.port
	ups = [c for c in proxy['children'] if c.get('peer') == peer] + \
	      h.client_records(recs, comm='nginx', peer=peer)
	up = h.only_one(ups, 'nginx upstream request to %s' % peer)
	h.assert_eq((up.get('method'), up.get('path'), up.get('status')), ('GET', '/proxy/x', 200),
		    'upstream request line and status')
	uph = h.phases(up)
	h.assert_true('ttfb' in uph and 'connect' in uph, 'upstream phases: %s' % json.dumps(up))
	h.assert_near(uph['ttfb']['dur_ns'], NGINX_UPSTREAM_TTFB_MS * MS, 'upstream ttfb')
	h.assert_near(uph['connect']['dur_ns'], 0, 'upstream connect')
	ttfb = h.phases(proxy)['ttfb']['dur_ns']
	h.assert_true(ttfb >= NGINX_UPSTREAM_TTFB_MS * MS - 2 * MS,
		      'nginx /proxy server ttfb %.1f ms < the upstream\'s %d ms' %
		      (ttfb / MS, NGINX_UPSTREAM_TTFB_MS))
	h.assert_near(ttfb, NGINX_UPSTREAM_TTFB_MS * MS, 'nginx /proxy server ttfb', abs_ms=5)
	h.assert_true(up['start_ns'] >= proxy['start_ns'] - SLACK_NS and
		      up['start_ns'] + up['dur_ns'] <= proxy['start_ns'] + proxy['dur_ns'] +
		      SLACK_NS, 'upstream request is not inside the /proxy request')


def test_expect_100_continue():
	"""curl uploads with "Expect: 100-continue": python's http.server answers "100
	Continue", reads the body, holds its answer 150 ms, answers 200. One request on
	each side, status 200 (the interim 100 is no answer), with the hold in its ttfb;
	before, each side made two requests of it (a 100 and a headless one)."""
	hold = 150
	svc = h.start_fixture('pyservice', '--port', 0, '--rows', 1, '--file-bytes', 1)
	tr = h.Tracer(comms=['curl', 'pyservice', 'python3'])
	body = h.tmp_path('upload.bin')
	with open(body, 'wb') as f:
		f.write(b'x' * 200000)
	url = 'http://127.0.0.1:%d/upload/1?hold_ms=%d' % (svc.port, hold)
	r = h.run(['curl', '-sS', '-o', '/dev/null', '-w', '%{response_code}', '-H',
		   'Expect: 100-continue', '--data-binary', '@' + body, url])
	h.assert_eq((r.rc, r.stdout), (0, '200'), 'curl (stderr: %s)' % r.stderr)
	recs = tr.stop()
	for what, rs in (('curl', h.client_records(recs, comm='curl')),
			 ('http.server', h.server_records(recs, pid=svc.pid))):
		rec = h.only_one(rs, '%s: one request: %s' % (what, json.dumps(recs)))
		h.assert_eq((rec.get('status'), rec.get('error')), (200, None),
			    '%s: status and error: %s' % (what, json.dumps(rec)))
		h.assert_true(rec.get('bytes_sent' if what == 'curl' else 'bytes_received', 0) >=
			      200000, '%s: the body counted in the request: %s' % (what, json.dumps(rec)))
		h.assert_true(h.phases(rec).get('ttfb', {}).get('dur_ns', 0) >= (hold - 1) * MS,
			      '%s: ttfb below the %d ms hold: %s' % (what, hold, json.dumps(rec)))
	h.assert_eq(h.only_one(h.server_records(recs, pid=svc.pid), 'server').get('method'),
		    'POST', 'http.server: method')


def test_tls_refused_openssl():
	"""Handshakes that fail against a C server on OpenSSL (the backend fixture): curl
	refuses its certificate (after a flight held 120 ms), a client sends a malformed
	ClientHello after 200 ms. Each connection is one record with error "tls" and its
	tls phase, on both sides where a TLS library ran; the server reported neither
	before."""
	certs = h.make_certs()
	held = h.start_backend(hs_delay_ms=HS_MS, certs=certs)
	be = h.start_backend(certs=certs)
	tr = h.Tracer(comms=['curl', 'backend'])
	runs = [checks.refused_handshakes(held.port, 'backend', hs_ms=HS_MS),
		checks.refused_handshakes(be.port, 'backend', hold_ms=200, held_path='/held')]
	recs = tr.stop()
	for run in runs:
		checks.check_refused(recs, run)


def test_asyncio_tls_server():
	"""Python's asyncio HTTPS server (ssl.SSLObject on memory BIOs, like node's) calls
	SSL_do_handshake at the accept, before the ClientHello: its handshake still starts
	with the hello. A client that sends its hello 150 ms late and holds its Finished
	100 ms (checks.held_handshake()) gives a 100 ms tls phase; curl's request, its ttfb
	the server's 60 ms hold."""
	ttfb_ms = 60
	certs = h.make_certs()
	fix = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures',
			   'asyncio_tls.py')
	py = h.start_daemon('asyncio_tls', ['/usr/bin/python3', '-u', fix, certs['cert'],
					    certs['key'], '--ttfb-ms', str(ttfb_ms)],
			    r'^READY (\d+)$', stream='stdout')
	port = int(py.match.group(1))
	tr = h.Tracer(pids=[py.pid])
	local = checks.held_handshake(port, '/held', checks.HELD_HELLO_MS,
				      checks.HELD_FINISHED_MS)
	r = h.run(['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', '--cacert',
		   certs['ca'], 'https://127.0.0.1:%d/curl' % port])
	h.assert_eq((r.rc, r.stdout), (0, '200'), 'curl (%s)' % r.stderr.strip())
	recs = tr.stop()
	checks.check_held(recs, 'python3', port, local, checks.HELD_FINISHED_MS)
	rec = h.only_one(h.server_records(recs, pid=py.pid, path='/curl'), 'asyncio record of '
			 'curl\'s request')
	h.assert_eq((rec.get('method'), rec.get('status'), rec.get('tls')), ('GET', 200, True),
		    'asyncio: curl\'s request: method, status, tls')
	ph = h.phases(rec)
	h.assert_true('tls' in ph, 'asyncio: curl\'s request has no tls phase: %s' %
		      json.dumps(rec))
	h.assert_near(ph['ttfb']['dur_ns'], ttfb_ms * MS, 'asyncio: ttfb of curl\'s request')


def test_python_http_server():
	d = _www()
	py = h.start_daemon('http.server', ['/usr/bin/python3', '-u', '-m', 'http.server',
					    '--bind', '127.0.0.1', '--directory', d, '0'],
			    r'Serving HTTP on \S+ port (\d+)', stream='stdout')
	port = int(py.match.group(1))
	tr = h.Tracer(pids=[py.pid])
	gets = [('/index.html', 200), ('/missing.html', 404)]
	for path, status in gets:
		_, crecs = h.run_client('--host', '127.0.0.1', '--port', port, '--path', path)
		h.assert_eq(crecs[0]['status'], status, 'http.server\'s answer to %s' % path)
	# a thread per connection (ThreadingHTTPServer), ended with it: its context too, from
	# the threads hash (--thread-state hash: test_fallback.py); in task storage it goes
	# with the task, and none of them may be in the hash
	h.assert_true(h.until(lambda: h.ctx_entries('threads', py.pid) == 0, 5),
		      'http.server: %d thread contexts left in the hash after its connection '
		      'threads ended' % h.ctx_entries('threads', py.pid))
	recs = tr.stop()
	for path, status in gets:
		srv = h.only_one(h.server_records(recs, pid=py.pid, path=path),
				 'http.server record for %s' % path)
		h.assert_eq((srv.get('method'), srv.get('status'), srv.get('local_port')),
			    ('GET', status, port), 'http.server %s: method, status, local_port' % path)
		ph = h.phases(srv)
		h.assert_true('ttfb' in ph and ph['ttfb']['dur_ns'] >= 0,
			      'http.server %s: no ttfb phase: %s' % (path, json.dumps(srv)))
		h.assert_true(ph['ttfb']['dur_ns'] < 1000 * MS,
			      'http.server %s: ttfb %.1f ms for a local file' %
			      (path, ph['ttfb']['dur_ns'] / MS))
