# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Node.js HTTPS (OpenSSL linked into the node executable, TLS in memory BIOs: the
socket I/O happens outside SSL_read/SSL_write): node clients (https.get, fetch) and a node
server (https.createServer) get dns/connect/tls/ttfb and method/path/status like curl,
within tolerance of the injected delays and of node's own process.hrtime timings."""
import json
import os
import shutil
import time

import harness as h
import checks
from harness import BACKEND_HOST, MS

DNS_MS, HS_MS, TTFB_MS = 80, 250, 120
HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, '..', 'fixtures')


def _node():
	node = shutil.which('node')
	if not node:
		h.skip('node is not installed')
	return node


def _node_client(script, path):
	"""One node client request (script URL [CA]) to the backend, which holds its
	handshake HS_MS and its first byte TTFB_MS, by a name the test's DNS server answers
	after DNS_MS: its record checked against those, method/path/status too. Returns the
	record and the script's own JSON line."""
	node = _node()
	certs = h.make_certs()
	h.start_dns(DNS_MS)
	be = h.start_backend(ttfb_ms=TTFB_MS, hs_delay_ms=HS_MS, certs=certs)
	url = 'https://%s:%d%s' % (BACKEND_HOST, be.port, path)
	tr = h.Tracer(comms=['node'])
	res = h.run(['env', 'NODE_EXTRA_CA_CERTS=' + certs['ca'], node,
		     os.path.join(FIX, script), url, certs['ca']], prefix=h.resolver_ns())
	recs = tr.stop()
	h.assert_eq(res.rc, 0, '%s exit status (%s)' % (script, res.stderr.strip()[:300]))
	own = json.loads(res.stdout.strip().splitlines()[-1])
	h.assert_eq(own['status'], 200, script + ': status')
	peer = '127.0.0.1:%d' % be.port
	rec = h.only_one(h.client_records(recs, pid=res.pid, peer=peer),
			 'client record of node pid %d to %s' % (res.pid, peer))
	h.assert_eq((rec.get('method'), rec.get('path'), rec.get('status')),
		    ('GET', path, 200), script + ' record: method, path, status')
	h.assert_true(rec.get('bytes_sent', 0) > 0, script + ' record: the request\'s bytes '
		      'not counted: %s' % json.dumps(rec))
	return rec, res, own, peer


def test_node_https_client():
	rec, res, own, peer = _node_client('node_get.js', '/node/get')
	# node's own dns (request to the socket's lookup event) also counts its resolver
	# thread pool starting: the dns phase is checked against the injected delay only
	checks.check_request(rec, res.pid, 'node', BACKEND_HOST, peer, True,
			     checks.expected_first(DNS_MS, TTFB_MS, HS_MS),
			     client={k: own[k] for k in ('tls_ns', 'ttfb_ns')})


def test_node_fetch_client():
	"""fetch() (undici) writes its request from the handshake-done callback, inside the
	SSL_read that completed the handshake: that write is the request (method, path, its
	send), the handshake ends before it, the ttfb is the backend's hold."""
	rec, res, own, peer = _node_client('node_fetch.js', '/node/fetch')
	checks.check_request(rec, res.pid, 'node', BACKEND_HOST, peer, True,
			     checks.expected_first(DNS_MS, TTFB_MS, HS_MS))
	# its resource timing's responseStart comes after undici parsed the headers
	h.assert_not_longer(h.phases(rec)['ttfb']['dur_ns'], own['ttfb_ns'],
			    'node fetch: ttfb vs its own resource timing')


def _own_lines(srv, path, timeout=5):
	"""node_serve's JSON lines for path (printed after the response: wait for them)."""
	deadline = time.monotonic() + timeout
	while True:
		text = '\n'.join(l for l in srv.log_text().splitlines() if l.startswith('{'))
		own = [o for o in h.parse_json_lines(text, 'node_serve') if o.get('path') == path]
		if own or time.monotonic() > deadline:
			return own
		time.sleep(0.05)


def test_node_https_server():
	node = _node()
	certs = h.make_certs()
	srv = h.start_daemon('node', [node, os.path.join(FIX, 'node_serve.js'), certs['key'],
				      certs['cert'], TTFB_MS], r'^READY (\d+)$', stream='stdout')
	port = int(srv.match.group(1))
	# one request before tracing: node's first one also compiles its HTTP code, which
	# lands between the request's bytes and the request event its own clock starts at
	h.run(['curl', '-sS', '-o', '/dev/null', '--cacert', certs['ca'],
	       'https://127.0.0.1:%d/warm' % port])
	tr = h.Tracer(comms=['node'])
	res = h.run(['curl', '-sS', '-o', '/dev/null', '-w',
		     '%{http_code} %{time_connect} %{time_appconnect}', '--cacert',
		     certs['ca'], 'https://127.0.0.1:%d/node/serve' % port])
	recs = tr.stop()
	code, conn_s, hs_s = (res.stdout.split() + ['', '', ''])[:3]
	h.assert_eq(code, '200', 'curl against the node server (%s)' % res.stderr.strip()[:300])
	curl_tls_ns = int((float(hs_s) - float(conn_s)) * 1e9)
	own = h.only_one(_own_lines(srv, '/node/serve'), 'node_serve\'s own line for /node/serve')
	rec = h.only_one(h.server_records(recs, pid=srv.pid, path='/node/serve'),
			 'server record of node pid %d' % srv.pid)
	h.assert_eq(rec.get('tls'), True, 'node server record: tls')
	h.assert_eq(rec.get('method'), 'GET', 'node server record: method')
	h.assert_eq(rec.get('status'), 200, 'node server record: status')
	h.assert_eq(rec.get('local_port'), port, 'node server record: local_port')
	ph = h.phases(rec)
	for name in ('tls', 'ttfb'):
		h.assert_true(name in ph, 'node server record: no %s phase: %s' %
			      (name, json.dumps(rec)))
	# the hold is a setTimeout: node's own figure is the truth, the injected one a floor
	h.assert_near(ph['ttfb']['dur_ns'], own['hold_ns'], 'node server: ttfb vs its own hold')
	h.assert_true(ph['ttfb']['dur_ns'] >= TTFB_MS * MS - 2 * MS,
		      'node server: ttfb %.1f ms shorter than the held %d ms' %
		      (ph['ttfb']['dur_ns'] / MS, TTFB_MS))
	# server side of the handshake: from node's first TLS call on the ClientHello to the
	# client's last flight, inside curl's own handshake time (node's accept-to-
	# secureConnection figure adds its TLSSocket setup and callbacks, several ms cold)
	h.assert_true(ph['tls']['dur_ns'] > 0, 'node server: empty tls phase')
	h.assert_not_longer(ph['tls']['dur_ns'], curl_tls_ns, 'node server: tls vs curl\'s')
	tls_end = ph['tls']['start_ns'] + ph['tls']['dur_ns']
	h.assert_true(tls_end <= ph['ttfb']['start_ns'],
		      'node server: tls ends at %.1f ms, after the request came (%.1f ms)' %
		      (tls_end / MS, ph['ttfb']['start_ns'] / MS))


def test_node_tls_refused():
	"""Handshakes against node's https server (OpenSSL on memory BIOs), which runs them
	inside SSL_read: a call with no outcome of its own. curl's refusal is reported on
	its side; on node's, neither the failed handshakes (a known limit, docs/json.md)
	nor one completed without a request (a preconnect) is a request."""
	node = _node()
	certs = h.make_certs()
	srv = h.start_daemon('node', [node, os.path.join(FIX, 'node_serve.js'), certs['key'],
				      certs['cert'], 0], r'^READY (\d+)$', stream='stdout')
	port = int(srv.match.group(1))
	tr = h.Tracer(comms=['curl', 'node'])
	run = checks.refused_handshakes(port, 'node', hold_ms=200, held_path='/held')
	checks.check_refused(tr.stop(), run, server_sees=False)
