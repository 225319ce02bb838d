# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Connections that stop being HTTP/1: a WebSocket after its 101 Switching Protocols
(python3-websockets on both sides, ws:// and wss://), and a proxy's CONNECT tunnel (curl
through tinyproxy to the TLS backend). The upgrade or the CONNECT is one request, timed
against the waits the test injects; what the connection carries afterwards (messages a
server pushes, echoes, a tunnel's TLS as the proxy relays it) is no request, on either
side and in the metrics; a client's TLS session inside its tunnel is HTTP again, with its
handshake as the tls phase of its first request."""
import os
import re

import harness as h
from harness import MS
import test_metrics as tm

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures',
		       'websocket.py')
PYTHON = '/usr/bin/python3'	# the python Debian's python3-websockets extends (the
COMM = 'websocket.py'		# fixture's #!): its name as a process, server and client
UPGRADE_MS = 120		# the server holds each upgrade before its 101
ECHO_MS = 40			# and each pushed message or echo
PUSH, MESSAGES = 2, 3


def _need_websockets():
	r = h.run([PYTHON, '-c', 'import websockets'], timeout=30)
	if r.rc:
		h.skip('python3-websockets is not installed (Debian: python3-websockets)')


def _ws_server(certs=None):
	_need_websockets()
	argv = [FIXTURE, 'serve', '--upgrade-ms', UPGRADE_MS, '--echo-ms', ECHO_MS,
		'--push', PUSH]
	if certs:
		argv += ['--cert', certs['cert'], '--key', certs['key']]
	srv = h.start_daemon('websocket', argv, r'^READY (\d+)$', stream='stdout')
	return srv, int(srv.match.group(1))


def _ws_client(port, certs=None):
	scheme = 'wss' if certs else 'ws'
	argv = [FIXTURE, 'client', '%s://127.0.0.1:%d/chat?room=7' % (scheme, port),
		'--push', PUSH, '--messages', MESSAGES, '--gap-ms', ECHO_MS]
	if certs:
		argv += ['--cafile', certs['ca']]
	r = h.run(argv)
	h.assert_eq((r.rc, r.stdout.strip()), (0, 'READY'),
		    'websocket client (%s)' % r.stderr.strip()[-500:])


def _check_upgrade(rec, role, tls):
	what = 'the %s\'s upgrade' % role
	h.assert_eq((rec.get('method'), rec.get('path'), rec.get('status'), rec.get('protocol'),
		     rec.get('tls')), ('GET', '/chat', 101, 'http/1.1', tls), what)
	ph = h.phases(rec)
	h.assert_near(ph['ttfb']['dur_ns'], UPGRADE_MS * MS, what + ': ttfb (the held 101)')
	# it ends with the 101: not with the messages the server pushes ECHO_MS later
	h.assert_true(ph['ttfb']['start_ns'] + ph['ttfb']['dur_ns'] + ECHO_MS * MS >
		      rec['dur_ns'], '%s lasts past its 101: %d ns' % (what, rec['dur_ns']))
	if role == 'client':
		h.assert_true('connect' in ph, what + ' has no connect phase')
		h.assert_eq('tls' in ph, tls, what + ': a tls phase')
	return ph


def _websocket(tls):
	certs = h.make_certs() if tls else None
	srv, port = _ws_server(certs)
	tr = h.Tracer(comms=[COMM])
	_ws_client(port, certs)
	recs = tr.stop()
	srv_recs = h.server_records(recs, pid=srv.pid, local_port=port)
	_check_upgrade(h.only_one(srv_recs, 'server record of the WebSocket (%d messages '
				  'pushed, %d echoed)' % (PUSH, MESSAGES)), 'server', tls)
	cli = h.only_one(h.client_records(recs, peer='127.0.0.1:%d' % port),
			 'client record of the WebSocket')
	_check_upgrade(cli, 'client', tls)


def test_websocket_upgrade():
	"""ws://: a 120 ms upgrade, then 2 pushed messages and 3 echoes, 40 ms each: one
	request on each side, GET /chat 101, its ttfb the held 101, over with the 101."""
	_websocket(False)


def test_websocket_tls():
	"""wss:// (OpenSSL: the client's calls, the asyncio server's memory BIOs): the same,
	the status read from the TLS library's buffer; the client's upgrade has its tls phase."""
	_websocket(True)


def test_websocket_metrics():
	"""serve (requests counted in the kernel): the WebSocket server and client count one
	request each, status class 1xx, and nothing else on the connection."""
	srv, port = _ws_server()
	_, mport = tm._serve('-c', COMM)
	_ws_client(port)
	text, _ = tm._wait_metric(mport, r'^phasetrace_requests_total\{role="server",'
				  r'comm="%s",peer="%d",status_class="1xx"\} 1$' % (COMM, port),
				  'the upgrade counted')
	tm._wait_metric(mport, r'^phasetrace_requests_total\{role="client",comm="%s",'
			r'peer="127.0.0.1:%d",status_class="1xx"\} 1$' % (COMM, port), 'the client\'s upgrade')
	text = tm._metrics(mport)
	rows = [l for l in text.splitlines() if l.startswith('phasetrace_requests_total{')]
	h.assert_eq(len(rows), 2, 'request counters (the upgrade on each side, nothing else):\n%s'
		    % '\n'.join(rows))
	m = re.search(r'^phasetrace_events_dropped_total\{reason="protocol_switched"\} (\d+)$',
		      text, re.M)
	h.assert_eq(int(m.group(1)) if m else None, 2, 'connections counted as switched')


def test_websocket_nginx_proxy():
	"""nginx in front of the WebSocket server (proxy_pass with the Upgrade headers, as
	every deployment does): nginx's server record and its upstream request are the
	upgrade, 101, their ttfb the held 120 ms; nothing of the messages it relays is a
	request, on any of the four sides."""
	import test_server
	srv, port = _ws_server()
	conf = test_server.NGINX_CONF.replace(
		'location /proxy {{ proxy_pass http://127.0.0.1:{backend}; }}',
		'location /chat {{ proxy_pass http://127.0.0.1:{backend}; '
		'proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; '
		'proxy_set_header Connection "upgrade"; }}')
	h.assert_true(conf != test_server.NGINX_CONF, 'the nginx configuration has no /proxy')
	tr = h.Tracer(comms=['nginx', COMM])
	ng = test_server._start_nginx(port, conf)
	_ws_client(ng.port)
	recs = tr.stop()
	front = h.only_one(h.server_records(recs, comm='nginx', local_port=ng.port),
			   'nginx server record of the WebSocket')
	_check_upgrade(front, 'server', False)
	upstream = '127.0.0.1:%d' % port
	ups = [c for c in front.get('children', []) if c.get('peer') == upstream] + \
	      h.client_records(recs, comm='nginx', peer=upstream)
	up = h.only_one(ups, 'nginx\'s upstream request')
	_check_upgrade(up, 'client', False)
	_check_upgrade(h.only_one(h.server_records(recs, pid=srv.pid, local_port=port),
				  'the WebSocket server\'s record'), 'server', False)
	_check_upgrade(h.only_one(h.client_records(recs, comm=COMM, peer='127.0.0.1:%d' %
						   ng.port), 'the client\'s record'),
		       'client', False)


# ---------------------------------------------------------------- CONNECT

HS_MS, TTFB_MS = 100, 80	# the TLS backend holds its handshake, then its first byte


def _tinyproxy(backend_port):
	if not os.path.exists('/usr/bin/tinyproxy'):
		h.skip('tinyproxy is not installed (Debian: tinyproxy-bin)')
	port = h.free_port()
	conf = h.tmp_path('tinyproxy.conf')
	with open(conf, 'w') as f:
		f.write('Port %d\nListen 127.0.0.1\nAllow 127.0.0.1\nTimeout 30\nMaxClients 8\n'
			'LogLevel Info\nConnectPort %d\n' % (port, backend_port))
	d = h.start_daemon('tinyproxy', ['/usr/bin/tinyproxy', '-d', '-c', conf],
			   r'Accepting connections', stream='stdout')
	return d, port


def test_connect_tunnel():
	"""curl -x through tinyproxy to the TLS backend (handshake held 100 ms, first byte
	80 ms): curl's CONNECT (method, authority, connect phase, no TLS) then its GET in the
	tunnel (tls and ttfb phases against the injected holds); tinyproxy's CONNECT, status
	200, and the tunnel it relays: no request (its upstream: a connect-only record);
	the backend's GET."""
	certs = h.make_certs()
	be = h.start_backend(ttfb_ms=TTFB_MS, hs_delay_ms=HS_MS, certs=certs)
	proxy, pport = _tinyproxy(be.port)
	tr = h.Tracer(comms=['curl', 'tinyproxy', 'backend'])
	r = h.run(['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', certs['ca'],
		   '-x', 'http://127.0.0.1:%d' % pport, 'https://127.0.0.1:%d/tunnel' % be.port])
	h.assert_eq((r.rc, r.stdout), (0, '200'), 'curl through the proxy (%s)' % r.stderr.strip())
	# tinyproxy's upstream record comes with its close, after curl's exit
	h.assert_true(h.until(lambda: not h.tcp_open_to(be.port), 10),
		      'tinyproxy closes its upstream connection')
	recs = tr.stop()
	authority = '127.0.0.1:%d' % be.port

	cl = h.client_records(recs, comm='curl', peer='127.0.0.1:%d' % pport)
	h.assert_eq([(c.get('method'), c.get('path')) for c in cl],
		    [('CONNECT', authority), ('GET', '/tunnel')], 'curl\'s requests to the proxy')
	conn, get = cl
	h.assert_eq(conn.get('tls'), False, 'curl\'s CONNECT: tls')
	h.assert_true('connect' in h.phases(conn) and 'tls' not in h.phases(conn),
		      'curl\'s CONNECT: a connect phase, no tls phase')
	h.assert_eq((get.get('status'), get.get('tls')), (200, True), 'curl\'s GET in the tunnel')
	ph = h.phases(get)
	h.assert_true('tls' in ph, 'curl\'s GET in the tunnel has no tls phase')
	h.assert_near(ph['tls']['dur_ns'], HS_MS * MS, 'curl\'s GET: tls (the held handshake)',
		      abs_ms=15)
	h.assert_near(ph['ttfb']['dur_ns'], TTFB_MS * MS, 'curl\'s GET: ttfb')

	srv = h.only_one(h.server_records(recs, pid=proxy.pid, local_port=pport),
			 'tinyproxy server record')
	h.assert_eq((srv.get('method'), srv.get('path'), srv.get('status')),
		    ('CONNECT', authority, 200), 'tinyproxy\'s CONNECT')
	up = h.client_records(recs, pid=proxy.pid) + srv.get('children', [])
	for c in up:
		h.assert_true(not c.get('method') and not c.get('bytes_sent') and
			      'ttfb' not in h.phases(c), 'tinyproxy relays the tunnel\'s TLS: no '
			      'request there, got %r' % c)
	h.assert_true(any('connect' in h.phases(c) for c in up),
		      'tinyproxy\'s upstream connection: its connect phase')

	bk = h.only_one(h.server_records(recs, comm='backend', path='/tunnel'), 'backend record')
	h.assert_eq((bk.get('status'), bk.get('tls')), (200, True), 'backend\'s GET')
	h.assert_near(h.phases(bk)['ttfb']['dur_ns'], TTFB_MS * MS, 'backend\'s GET: ttfb')


PY_PROXY_GET = ('import ssl, sys, urllib.request as u\n'
		'ctx = ssl.create_default_context(cafile=sys.argv[3])\n'
		'o = u.build_opener(u.ProxyHandler({"https": sys.argv[1]}), '
		'u.HTTPSHandler(context=ctx))\n'
		'print(o.open(sys.argv[2], timeout=20).status)\n')
NODE_TUNNEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures',
			   'node_tunnel.js')


def test_connect_tunnel_python_node():
	"""Two clients that read the proxy's whole answer, so the tunnel is open before their
	TLS starts: python's urllib (OpenSSL on the socket) and node (OpenSSL on memory BIOs,
	as node's proxy agents): each a CONNECT, status 200, then its GET in the tunnel with
	the held handshake as its tls phase and the held first byte as its ttfb."""
	if not os.path.exists('/usr/bin/node'):
		h.skip('node is not installed')
	certs = h.make_certs()
	be = h.start_backend(ttfb_ms=TTFB_MS, hs_delay_ms=HS_MS, certs=certs)
	proxy, pport = _tinyproxy(be.port)
	tr = h.Tracer(comms=['python3', 'node'])
	authority = '127.0.0.1:%d' % be.port
	py = h.run([PYTHON, '-c', PY_PROXY_GET, 'http://127.0.0.1:%d' % pport,
		    'https://%s/py' % authority, certs['ca']])
	h.assert_eq((py.rc, py.stdout.strip()), (0, '200'), 'python (%s)' % py.stderr.strip())
	nd = h.run(['node', NODE_TUNNEL, str(pport), authority, '/node'])
	h.assert_eq((nd.rc, nd.stdout.strip()), (0, 'HTTP/1.1 200 OK'),
		    'node (%s)' % nd.stderr.strip())
	recs = tr.stop()
	for res, path in ((py, '/py'), (nd, '/node')):
		cl = h.client_records(recs, pid=res.pid, peer='127.0.0.1:%d' % pport)
		h.assert_eq([(c.get('method'), c.get('path'), c.get('status')) for c in cl],
			    [('CONNECT', authority, 200), ('GET', path, 200)],
			    '%s\'s requests to the proxy' % path)
		ph = h.phases(cl[1])
		h.assert_true('tls' in ph, '%s: no tls phase in the tunnel' % path)
		h.assert_near(ph['tls']['dur_ns'], HS_MS * MS, '%s: tls (the held handshake)' % path,
			      abs_ms=15)
		h.assert_near(ph['ttfb']['dur_ns'], TTFB_MS * MS, '%s: ttfb' % path)


AUTHPROXY = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures',
			 'authproxy.py')


def test_connect_tunnel_serve_after_407():
	"""serve (request lines are not parsed, but a connection's first is looked at for a
	CONNECT): a proxy that wants credentials answers curl's first CONNECT 407 and takes
	the second on the same connection (curl --proxy-anyauth): that CONNECT still
	switches the connection. The proxy's side counts a 4xx and a 2xx, nothing of the
	tunnel's TLS."""
	certs = h.make_certs()
	be = h.start_backend(certs=certs)
	px = h.start_daemon('authproxy', [AUTHPROXY], r'^READY (\d+)$', stream='stdout')
	pport = int(px.match.group(1))
	_, mport = tm._serve('-c', 'authproxy.py')
	r = h.run(['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', certs['ca'],
		   '--proxy-anyauth', '-U', 'user:secret', '-x', 'http://127.0.0.1:%d' % pport,
		   'https://127.0.0.1:%d/auth' % be.port])
	h.assert_eq((r.rc, r.stdout), (0, '200'), 'curl through the proxy (%s)' % r.stderr.strip())
	text, _ = tm._wait_metric(mport, r'^phasetrace_requests_total\{role="server",'
				  r'comm="authproxy.py",peer="%d",status_class="2xx"\} 1$' % pport,
				  'the proxy\'s CONNECT counted')
	rows = [l for l in text.splitlines()
		if l.startswith('phasetrace_requests_total{role="server",comm="authproxy.py"')]
	h.assert_eq(sorted(l.split('status_class=')[1] for l in rows), ['"2xx"} 1', '"4xx"} 1'],
		    'the proxy\'s requests:\n%s' % '\n'.join(rows))
