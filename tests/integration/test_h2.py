# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""HTTP/2: one record per stream, client (curl, libcurl + nghttp2) and server
(nginx `listen ... ssl http2` and h2c), with the delays the backend injects per
path (/ttfb/N/...) as ground truth, curl's own -w clock beside them."""
import json
import os
import shutil
import signal

import checks
import harness as h
import test_go		# the Go fixture and its toolchains
import test_server
from harness import MS

NGINX = test_server.NGINX
# test_server's nginx.conf up to its server block, then ours
NGINX_H2_CONF = test_server.NGINX_CONF.split('\tserver {{')[0] + '''	server {{
		listen 127.0.0.1:{tls_port} ssl http2;
		listen 127.0.0.1:{h2c_port} http2;
		ssl_certificate {cert};
		ssl_certificate_key {key};
		location /ttfb/ {{ proxy_pass http://127.0.0.1:{backend}; }}
		location /reset {{ return 444; }}
		location /grpc.test.Echo/ {{
			add_trailer grpc-status {grpc_status} always;
			add_trailer grpc-message denied always;
			proxy_pass http://127.0.0.1:{backend}/ttfb/{grpc_ms}/;
		}}
	}}
}}
'''
GRPC_MS, GRPC_STATUS = 40, 7
# curl's clock per transfer: ttfb = starttransfer - pretransfer
CURL_W = '%{url} %{http_version} %{http_code} %{time_pretransfer} %{time_starttransfer}\\n'


def _start_nginx(be_port, certs):
	h.need_root()
	if not os.access(NGINX, os.X_OK):
		h.skip('nginx is not installed')
	d = h.tmp_path('').rstrip('/')
	tls_port, h2c_port = h.free_port(), h.free_port()
	conf = h.tmp_path('nginx-h2.conf')
	with open(conf, 'w') as f:
		f.write(NGINX_H2_CONF.format(d=d, tls_port=tls_port, h2c_port=h2c_port,
					     cert=certs['cert'], key=certs['key'], backend=be_port,
					     grpc_status=GRPC_STATUS, grpc_ms=GRPC_MS))
	ng = h.start_daemon('nginx', [NGINX, '-e', 'stderr', '-p', d + '/', '-c', conf],
			    r'start worker process', stop_signal=signal.SIGQUIT, count=2)
	ng.tls_port, ng.h2c_port = tls_port, h2c_port
	return ng


def _setup(client='curl', package='curl'):
	"""Certificates, a tracer on nginx and the client, nginx in front of the backend."""
	if not shutil.which(client):
		h.skip('%s is not installed (Debian: %s)' % (client, package))
	certs = h.make_certs()
	be = h.start_backend(ttfb_ms=0)
	tr = h.Tracer(comms=['nginx', client])
	ng = _start_nginx(be.port, certs)
	return certs, tr, ng


def _curl(*args):
	"""curl with its own timings: {path: (http_version, code, ttfb_ns)}."""
	res = h.run(['curl', '-sS', '-w', CURL_W] + list(args))
	out = {}
	for line in res.stdout.splitlines():
		url, ver, code, pre, start = line.split()
		path = '/' + url.split('/', 3)[3]
		out[path] = (ver, int(code), int((float(start) - float(pre)) * 1e9))
	return res, out


def _by_path(recs, role, comm, path):
	return [r for r in recs if r.get('role') == role and r.get('comm') == comm and
		r.get('path') == path]


def _check_stream(rec, proto, method, path, status, ttfb_ms, what):
	h.assert_eq((rec.get('protocol'), rec.get('method'), rec.get('path'), rec.get('status')),
		    (proto, method, path, status), what + ': protocol, method, path, status')
	h.assert_true(isinstance(rec.get('stream_id'), int) and rec['stream_id'] % 2 == 1,
		      what + ': odd stream_id: %s' % json.dumps(rec))
	ph = h.phases(rec)
	h.assert_true('ttfb' in ph, what + ': no ttfb phase: %s' % json.dumps(rec))
	if ttfb_ms is not None:
		h.assert_near(ph['ttfb']['dur_ns'], ttfb_ms * MS, what + ' ttfb')
	return ph


@h.timeout(90)
def test_h2_multiplexed():
	"""Three streams on one TLS connection, each held a different time by the backend:
	three curl records and three nginx records, each with its own labels and ttfb."""
	certs, tr, ng = _setup()
	delays = {'/ttfb/30/a': 30, '/ttfb/90/b': 90, '/ttfb/150/c': 150}
	urls = ['https://127.0.0.1:%d%s' % (ng.tls_port, p) for p in delays]
	_, own = _curl('--http2', '--parallel', '--cacert', certs['ca'],
		       *sum([['-o', '/dev/null', u] for u in urls], []))
	recs = tr.stop()
	streams = set()
	for path, ms in delays.items():
		h.assert_eq(own[path][:2], ('2', 200), 'curl: HTTP version and code for ' + path)
		h.assert_near(own[path][2], ms * MS, 'curl\'s own ttfb for ' + path)
		cli = h.only_one(_by_path(recs, 'client', 'curl', path), 'curl record for ' + path)
		srv = h.only_one(_by_path(recs, 'server', 'nginx', path), 'nginx record for ' + path)
		cph = _check_stream(cli, 'h2', 'GET', path, 200, ms, 'curl ' + path)
		_check_stream(srv, 'h2', 'GET', path, 200, ms, 'nginx ' + path)
		h.assert_near(cph['ttfb']['dur_ns'], own[path][2], 'curl %s ttfb vs curl\'s clock' %
			      path)
		h.assert_eq(cli['stream_id'], srv['stream_id'], 'stream id on both sides of ' + path)
		h.assert_eq(cli['host'], '127.0.0.1:%d' % ng.tls_port, ':authority as host')
		streams.add(cli['stream_id'])
	h.assert_eq(len(streams), 3, 'three streams')
	clients = [r for r in recs if r.get('role') == 'client' and r.get('comm') == 'curl']
	h.assert_eq(len(clients), 3, 'curl records (no preface, no connection-level record)')
	h.assert_eq(len(set(r['local_port'] for r in clients)), 1, 'one connection')
	h.assert_eq([r['stream_id'] for r in clients if 'tls' in h.phases(r)], [min(streams)],
		    'the TLS handshake on the first stream only')
	for r in recs:
		h.assert_true(r.get('method') != 'PRI', 'the preface became a request: %s' %
			      json.dumps(r))


@h.timeout(90)
def test_h2c_prior_knowledge():
	certs, tr, ng = _setup()
	path, ms = '/ttfb/80/x', 80
	_, own = _curl('--http2-prior-knowledge', '-o', '/dev/null',
		       'http://127.0.0.1:%d%s' % (ng.h2c_port, path))
	recs = tr.stop()
	h.assert_eq(own[path][:2], ('2', 200), 'curl: h2c and 200')
	cli = h.only_one(_by_path(recs, 'client', 'curl', path), 'curl h2c record')
	srv = h.only_one(_by_path(recs, 'server', 'nginx', path), 'nginx h2c record')
	_check_stream(cli, 'h2c', 'GET', path, 200, ms, 'curl h2c')
	_check_stream(srv, 'h2c', 'GET', path, 200, ms, 'nginx h2c')
	h.assert_true('connect' in h.phases(cli), 'connect on the first stream')
	h.assert_eq(cli['tls'], False, 'h2c is cleartext')


@h.timeout(90)
def test_h2_stream_reset():
	"""nginx answers `return 444` on HTTP/2 with RST_STREAM: error reset, both sides."""
	certs, tr, ng = _setup()
	res = h.run(['curl', '-sS', '--http2', '--cacert', certs['ca'], '-o', '/dev/null',
			'https://127.0.0.1:%d/reset' % ng.tls_port])
	h.assert_true(res.rc != 0, 'curl succeeded on a reset stream')
	recs = tr.stop()
	for role, comm in (('client', 'curl'), ('server', 'nginx')):
		r = h.only_one(_by_path(recs, role, comm, '/reset'), '%s record of /reset' % comm)
		h.assert_eq((r.get('protocol'), r.get('error'), r.get('status')), ('h2', 'reset', None),
			    comm + ': protocol, error, status')


@h.timeout(90)
def test_h2_grpc_shaped():
	"""POST with content-type application/grpc, the answer held GRPC_MS by the backend,
	a grpc-status trailer from nginx: status is the grpc-status (also grpc_status), the
	HTTP :status is http_status, error "grpc"."""
	certs, tr, ng = _setup()
	body = h.tmp_path('grpc.bin')
	with open(body, 'wb') as f:
		f.write(b'\0\0\0\0\3abc')	# one length-prefixed message
	path = '/grpc.test.Echo/Say'
	_, own = _curl('--http2', '--cacert', certs['ca'], '-X', 'POST', '-H',
		       'content-type: application/grpc', '-H', 'te: trailers', '--data-binary',
		       '@' + body, '-o', '/dev/null', 'https://127.0.0.1:%d%s' % (ng.tls_port, path))
	recs = tr.stop()
	h.assert_eq(own[path][:2], ('2', 200), 'curl: h2 and 200')
	for role, comm in (('client', 'curl'), ('server', 'nginx')):
		r = h.only_one(_by_path(recs, role, comm, path), '%s record of %s' % (comm, path))
		_check_stream(r, 'h2', 'POST', path, GRPC_STATUS, GRPC_MS, comm + ' gRPC')
		h.assert_eq((r.get('http_status'), r.get('grpc_status'), r.get('error')),
			    (200, GRPC_STATUS, 'grpc'), comm + ': http_status, grpc_status and error')
		sent = r['bytes_sent'] if role == 'client' else r['bytes_received']
		h.assert_true(sent >= 8, comm + ': the 8-byte message counted in the request bytes')


@h.timeout(150)
def test_h2_go_client():
	"""Go's net/http negotiates h2 by ALPN (crypto/tls plaintext probes): three requests to
	the webapp, each one backend call held 70 ms, all on one h2 connection; each stream is
	a child of its server request, its ttfb near the webapp's httptrace. The second
	request makes its call on a goroutine the handler starts (backend_on=worker)."""
	import test_go		# the Go fixture and its toolchains
	ms = 70
	certs = h.make_certs()
	be = h.start_backend(ttfb_ms=0)
	ng = _start_nginx(be.port, certs)
	app = test_go.Webapp('go1.23', 'webapp', [
		'-backend', 'https://127.0.0.1:%d/ttfb/%d/x' % (ng.tls_port, ms), '-insecure',
		'-backend-h2', '-backend-keepalive'])
	tr = h.Tracer(pids=[app.pid])
	for i in range(3):
		h.assert_eq(test_go._get(app.port, '/p%d?render_ms=0%s' % (
			i, '&backend_on=worker' if i == 1 else ''))[0], 200, 'webapp status')
	recs = tr.stop()
	lines = {l['path']: l for l in app.log()}
	ports = set()
	for i in range(3):
		path = '/p%d' % i
		srv = h.only_one(h.server_records(recs, pid=app.pid, path=path), 'server ' + path)
		kids = srv.get('children') or []
		c = h.only_one(kids, 'backend stream of ' + path)
		ph = _check_stream(c, 'h2', 'GET', '/ttfb/%d/x' % ms, 200, ms, 'Go h2 stream of ' + path)
		h.assert_near(ph['ttfb']['dur_ns'], lines[path]['ttfb_ns'], 'Go h2 stream of %s: '
			      'ttfb vs httptrace' % path)
		h.assert_eq(c.get('parent_id'), srv['req_id'], 'parent of the stream of ' + path)
		ports.add(c['local_port'])
	h.assert_eq(len(ports), 1, 'one h2 connection for the three backend calls')


def test_nginx_tls_held_handshake():
	"""nginx (non-blocking: its handshake call comes when the hello is there) and the
	servers that block in theirs from the accept (checks.held_handshake() on the C
	backend, Go, node) agree: a client that sends its hello late and holds its Finished
	100 ms gives nginx a 100 ms tls phase, then its HTTP/1.1 request (no ALPN)."""
	certs, tr, ng = _setup()
	local = checks.held_handshake(ng.tls_port, '/ttfb/0/held', checks.HELD_HELLO_MS,
				      checks.HELD_FINISHED_MS)
	rec = checks.check_held(tr.stop(), 'nginx', ng.tls_port, local, checks.HELD_FINISHED_MS)
	h.assert_eq((rec.get('method'), rec.get('path'), rec.get('protocol')),
		    ('GET', '/ttfb/0/held', 'http/1.1'), 'nginx: the held handshake\'s request')


@h.timeout(90)
def test_h2c_syscalls_fallback():
	"""h2c on the syscall fallback (kernels before 6.3): nginx writes its frames with
	writev, every iovec is walked."""
	h.TRACER_EXTRA[:] = ['--io-hooks', 'syscalls']
	test_h2c_prior_knowledge()


@h.timeout(90)
def test_h2_h2load_client():
	"""nghttp2's h2load (reads the server's SETTINGS before writing its preface), six
	streams, three at a time, each held 40 ms: six client and six nginx records."""
	certs, tr, ng = _setup('h2load', 'nghttp2-client')
	path, ms = '/ttfb/40/load', 40
	res = h.run(['h2load', '-n', 6, '-c', 1, '-m', 3,
		     'https://127.0.0.1:%d%s' % (ng.tls_port, path)])
	h.assert_true('6 succeeded' in res.stdout, 'h2load: %s' % res.stdout[-500:])
	recs = tr.stop()
	for role, comm in (('client', 'h2load'), ('server', 'nginx')):
		rs = _by_path(recs, role, comm, path)
		h.assert_eq(len(rs), 6, '%s records' % comm)
		h.assert_eq(sorted(r['stream_id'] for r in rs), [1, 3, 5, 7, 9, 11],
			    comm + ' stream ids')
		for r in rs:
			_check_stream(r, 'h2', 'GET', path, 200, ms, '%s stream %d' %
				      (comm, r['stream_id']))


# per stream: the backend's hold (its /ttfb/{ms}/ path) and the render, all different
GO_H2_STREAMS = {'/s1': (20, 30), '/s2': (50, 15), '/s3': (80, 5)}


def _go_server(ver, binary='webapp'):
	"""Go's bundled h2 server (webapp -h2) built by VER: curl multiplexes three streams
	on one TLS connection; each handler fetches a backend that holds its answer a
	different time, then renders its own render_ms. One server record per stream, with
	its labels and a ttfb of the handler's whole run (as the webapp timed it, up to
	curl's clock); its backend call as its one child (ttfb vs the injected hold and the
	webapp's httptrace) and its render as its phase."""
	certs = h.make_certs()
	be = h.start_backend(ttfb_ms=0)
	app = test_go.Webapp(ver, binary, [
		'-tls-cert', certs['cert'], '-tls-key', certs['key'], '-h2',
		'-backend', 'http://127.0.0.1:%d/ttfb/{ms}/x' % be.port])
	tr = h.Tracer(pids=[app.pid])
	urls = ['https://127.0.0.1:%d%s?backend_ms=%d&render_ms=%d' % (app.port, p, b, r)
		for p, (b, r) in GO_H2_STREAMS.items()]
	res, own = _curl('--http2', '--parallel', '-k', *sum([['-o', '/dev/null', u]
								for u in urls], []))
	recs = tr.stop()
	lines = {l['path']: l for l in app.log()}
	streams, ports, kids = set(), set(), set()
	for path, (backend_ms, render_ms) in GO_H2_STREAMS.items():
		url = [u for u in own if u.startswith(path + '?')]
		h.assert_eq(own[url[0]][:2] if url else None, ('2', 200), 'curl: h2 and 200 for ' +
			    path)
		line = lines[path]
		srv = h.only_one(h.server_records(recs, pid=app.pid, path=path), 'server ' + path)
		what = 'Go h2 server ' + path
		ph = _check_stream(srv, 'h2', 'GET', path, 200, None, what)
		# the handler's own run is at least the injected backend + render
		h.assert_true(line['total_ns'] >= (backend_ms + render_ms - 2) * MS,
			      '%s: handler ran %.1f ms < injected' % (what, line['total_ns'] / MS))
		# three handlers on two CPUs: the stream may wait for its handler to run, so its
		# ttfb lies between the handler's own run and curl's clock
		h.assert_between(ph['ttfb']['dur_ns'], line['total_ns'] / MS - 2,
				 own[url[0]][2] / MS + 2, what + ': ttfb between total_ns and curl\'s')
		h.assert_true('render' in ph, '%s: no render phase: %s' % (what, json.dumps(srv)))
		h.assert_true(ph['render']['dur_ns'] >= (render_ms - 2) * MS,
			      '%s: render %.1f ms < injected %d ms' %
			      (what, ph['render']['dur_ns'] / MS, render_ms))
		h.assert_near(ph['render']['dur_ns'], line['execute_ns'], what + ': render vs execute_ns')
		ch = srv.get('children') or []
		h.assert_eq(len(ch), 1, '%s: children: %s' % (what, json.dumps(srv)))
		c = ch[0]
		cwhat = '%s: backend call' % what
		h.assert_eq((c.get('role'), c.get('path'), c.get('status'), c.get('parent_id')),
			    ('client', '/ttfb/%d/x' % backend_ms, 200, srv['req_id']),
			    cwhat + ': role, path, status, parent_id')
		cp = h.phases(c)
		h.assert_true('ttfb' in cp, '%s: no ttfb: %s' % (cwhat, json.dumps(c)))
		h.assert_true(cp['ttfb']['dur_ns'] >= (backend_ms - 2) * MS,
			      '%s: ttfb %.1f ms < injected %d ms' % (cwhat, cp['ttfb']['dur_ns'] / MS,
								      backend_ms))
		h.assert_near(cp['ttfb']['dur_ns'], line['ttfb_ns'], cwhat + ': ttfb vs httptrace')
		h.log('%s: stream ttfb %.1f ms (curl %.1f, handler %.1f), backend ttfb %.1f ms '
		      '(injected %d, httptrace %.1f), render %.1f ms (injected %d)' %
		      (path, ph['ttfb']['dur_ns'] / MS, own[url[0]][2] / MS, line['total_ns'] / MS,
		       cp['ttfb']['dur_ns'] / MS, backend_ms, line['ttfb_ns'] / MS,
		       ph['render']['dur_ns'] / MS, render_ms))
		streams.add(srv['stream_id'])
		ports.add(srv['local_port'])
		kids.add(c['req_id'])
	h.assert_eq(len(streams), 3, 'three streams')
	h.assert_eq(len(ports), 1, 'one connection')
	h.assert_eq(len(kids), 3, 'three backend calls')
	for r in recs:
		h.assert_true(r.get('method') != 'PRI', 'the preface became a request: %s' %
			      json.dumps(r))
		h.assert_true(r.get('role') != 'span', 'a render outside its stream: %s' %
			      json.dumps(r))


# test_go's rows: go1_NN_h2_server, one per toolchain, and _stripped: no symbol table
# and no DWARF, so the stream's offsets come from the table of Go releases
for _v in test_go._toolchains():
	for _case, _fn in (('h2_server', _go_server),
			   ('h2_server_stripped', lambda v: _go_server(v, 'webapp-stripped'))):
		_f = test_go._row(_v, _case, _fn, 150)
		_f.__module__ = __name__
		globals()[_f.__name__] = _f
