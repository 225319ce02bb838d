# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Checks of phasetrace's client records against what a test injected.

A record (one JSON line of `phasetrace trace --json`, role "client"):
  {"role","pid","tid","comm","start_ns","dur_ns","host","peer","tls","error",
   "phases":[{"name","start_ns" (offset from the record's start_ns),"dur_ns"}]}
"""
import json
import socket
import ssl
import time

import harness as h
from harness import MS

ORDER = ('dns', 'connect', 'tls', 'send', 'ttfb')
FIRST_ONLY = ('dns', 'connect', 'tls')
START_SLACK_NS = 10 * MS	# record start vs the client's own wall clock
OVERLAP_SLACK_NS = 1 * MS


def check_request(rec, pid, comm, host, peer, tls, injected, client=None, first=True, tid=None):
	"""Assert one client record.

	injected: {phase: ns} for every phase the record must carry (first request:
	dns, connect, [tls,] send, ttfb; later ones: send, ttfb). client: the client
	fixture's own JSON line for the same request, compared phase by phase too.
	tid: the thread that must own the request (single-threaded clients).
	"""
	ctx = 'request %s of pid %d' % ('1' if first else '>1', pid)
	h.assert_eq(rec.get('role'), 'client', ctx + ': role')
	h.assert_eq(rec.get('pid'), pid, ctx + ': pid')
	h.assert_true(isinstance(rec.get('tid'), int), ctx + ': tid is not an integer: %r' %
		      rec.get('tid'))
	if tid is not None:
		h.assert_eq(rec['tid'], tid, ctx + ': tid')
	h.assert_eq(rec.get('comm'), comm[:15], ctx + ': comm')
	if first:
		h.assert_eq(rec.get('host'), host, ctx + ': host')
	else:
		h.assert_true(rec.get('host') in (host, None),
			      ctx + ': host %r, expected %r or null' % (rec.get('host'), host))
	h.assert_eq(rec.get('peer'), peer, ctx + ': peer')
	h.assert_eq(rec.get('tls'), tls, ctx + ': tls')
	h.assert_eq(rec.get('error'), None, ctx + ': error')
	h.assert_true(isinstance(rec.get('start_ns'), int), ctx + ': start_ns is not an integer')
	if client and 'start_ns' in client:
		h.assert_true(abs(rec['start_ns'] - client['start_ns']) <= START_SLACK_NS,
			      ctx + ': start_ns %d is %.1f ms from the client\'s clock %d' %
			      (rec['start_ns'], (rec['start_ns'] - client['start_ns']) / MS,
			       client['start_ns']))

	ph = h.phases(rec)
	names = set(ph)
	for name in injected:
		h.assert_true(name in names,
			      '%s: phase %s missing: %s' % (ctx, name, json.dumps(rec)))
	if not first:
		for name in FIRST_ONLY:
			h.assert_true(name not in names,
				      '%s: keep-alive request has a %s phase: %s' %
				      (ctx, name, json.dumps(rec)))
	for name, ns in injected.items():
		h.assert_near(ph[name]['dur_ns'], ns, '%s: %s phase' % (ctx, name))
		if client and client.get(name + '_ns') is not None:
			# connect: SYN to SYN-ACK, inside the client's connect() call
			check = h.assert_not_longer if name == 'connect' else h.assert_near
			check(ph[name]['dur_ns'], client[name + '_ns'],
			      '%s: %s phase vs the client\'s own measurement' % (ctx, name))
	h.assert_near(rec.get('dur_ns'), sum(injected.values()), ctx + ': dur_ns')
	check_phase_layout(rec, ph, ctx)


def check_phase_layout(rec, ph, ctx):
	"""Phases lie inside the record, in protocol order, without overlapping."""
	prev = None
	for name in ORDER:
		p = ph.get(name)
		if not p:
			continue
		h.assert_true(p['start_ns'] >= 0 and p['dur_ns'] >= 0,
			      '%s: %s phase has a negative offset or duration: %r' % (ctx, name, p))
		h.assert_true(p['start_ns'] + p['dur_ns'] <= rec['dur_ns'] + OVERLAP_SLACK_NS,
			      '%s: %s phase ends %.1f ms after the request (dur %.1f ms)' %
			      (ctx, name, (p['start_ns'] + p['dur_ns'] - rec['dur_ns']) / MS,
			       rec['dur_ns'] / MS))
		if prev:
			end = ph[prev]['start_ns'] + ph[prev]['dur_ns']
			h.assert_true(p['start_ns'] + OVERLAP_SLACK_NS >= end,
				      '%s: %s phase starts at %.1f ms, before %s ends at %.1f ms' %
				      (ctx, name, p['start_ns'] / MS, prev, end / MS))
		prev = name


def expected_first(dns_ms, ttfb_ms, hs_ms=None, connect_ms=0):
	exp = {'dns': dns_ms * MS, 'connect': connect_ms * MS}
	if hs_ms is not None:
		exp['tls'] = hs_ms * MS
	exp['send'] = 0
	exp['ttfb'] = ttfb_ms * MS
	return exp


def expected_later(ttfb_ms):
	return {'send': 0, 'ttfb': ttfb_ms * MS}


def only_comm(recs, comm):
	"""With -c COMM, phasetrace must not report other programs."""
	for r in recs:
		h.assert_eq(r.get('comm'), comm[:15], 'comm of a record traced with -c %s (%s)' %
			    (comm, json.dumps(r)))


# a handshake record (type 22, TLS 1.0 framing) carrying a message of an unknown
# type: every TLS server rejects it and closes
BAD_HELLO = b'\x16\x03\x01\x00\x05' + b'\xff' * 5


def bad_hello(port, hold_ms):
	"""Connect to 127.0.0.1:port, hold hold_ms (the client's time before its hello), send
	BAD_HELLO, wait for the server's close. Returns the connection's local port."""
	s = socket.create_connection(('127.0.0.1', port), timeout=10)
	local = s.getsockname()[1]
	time.sleep(hold_ms / 1000)
	s.sendall(BAD_HELLO)
	try:
		while s.recv(4096):	# the server's alert, then its close
			pass
	except OSError:
		pass		# a reset is a close too
	s.close()
	return local


def held_handshake(port, path, hello_ms, finished_ms, refuse=False):
	"""A TLS handshake with both of its client-side waits injected: connect, hold
	hello_ms, send the ClientHello; read the server's flight, hold finished_ms, send the
	client's (its Finished; TLS 1.2: its key exchange too, the server's Finished follows);
	then GET path over the session and read the answer to the close. The server's
	handshake runs from the hello to the client's flight: finished_ms, not the time
	before the hello (the client's, as the time before a request's first byte is).
	refuse: the client does not know the server's CA: its flight is the alert that
	refuses the certificate, then it closes. Memory BIOs: the test decides when each
	flight leaves. Returns the local port."""
	ctx = ssl.create_default_context() if refuse else ssl._create_unverified_context()
	if refuse:
		ctx.check_hostname = False
	inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
	tls = ctx.wrap_bio(inc, out)
	s = socket.create_connection(('127.0.0.1', port), timeout=10)
	local = s.getsockname()[1]
	time.sleep(hello_ms / 1000)
	try:
		tls.do_handshake()
	except ssl.SSLWantReadError:
		pass
	s.sendall(out.read())			# the ClientHello
	held = refused = False
	while not refused:
		data = s.recv(65536)
		h.assert_true(data, 'the server closed during the handshake')
		inc.write(data)
		try:
			tls.do_handshake()
			done = True
		except ssl.SSLWantReadError:
			done = False
		except ssl.SSLCertVerificationError:
			h.assert_true(refuse, 'the client refused the server\'s certificate')
			done = refused = True
		flight = out.read()
		if flight and not held:		# the client's flight after the server's
			time.sleep(finished_ms / 1000)
			held = True
		if flight:
			s.sendall(flight)
		if done:
			break
	h.assert_true(held, 'the handshake ended without a client flight to hold')
	h.assert_eq(refused, refuse, 'the client refused the certificate')
	if refuse:
		s.close()
		return local
	tls.write(('GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' %
		   path).encode())
	s.sendall(out.read())
	answer = b''
	while True:
		try:
			data = tls.read(65536)
			if not data:		# the server's close_notify
				break
			answer += data
			continue
		except ssl.SSLWantReadError:
			pass
		except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
			break
		data = s.recv(65536)
		if not data:
			break
		inc.write(data)
	s.close()
	h.assert_true(answer.startswith(b'HTTP/1.1 200'), 'the answer to %s over the held '
		      'handshake: %r' % (path, answer[:80]))
	return local


def check_held(recs, comm, port, local, finished_ms):
	"""The server record of held_handshake()'s connection: its tls phase is the held
	Finished (the client's wait before its hello is not in it), then the request."""
	peer = '127.0.0.1:%d' % local
	rec = h.only_one([r for r in h.server_records(recs, comm=comm, local_port=port)
			  if r.get('peer') == peer], '%s\'s record of the held handshake %s' %
			 (comm, peer))
	h.assert_eq((rec.get('tls'), rec.get('status'), rec.get('error')), (True, 200, None),
		    '%s: the held handshake\'s request: tls, status, error: %s' %
		    (comm, json.dumps(rec)))
	ph = h.phases(rec)
	h.assert_true('tls' in ph and 'ttfb' in ph, '%s: the held handshake\'s request: no '
		      'tls or ttfb phase: %s' % (comm, json.dumps(rec)))
	h.assert_near(ph['tls']['dur_ns'], finished_ms * MS, '%s: tls phase of a handshake '
		      'whose hello came late and whose Finished was held' % comm, abs_ms=5)
	h.assert_true(ph['tls']['start_ns'] + ph['tls']['dur_ns'] <=
		      ph['ttfb']['start_ns'] + OVERLAP_SLACK_NS, '%s: the tls phase ends after the '
		      'request began: %s' % (comm, json.dumps(rec)))
	return rec


HELD_HELLO_MS = 150
HELD_FINISHED_MS = 100


def refused_handshakes(port, server_comm, hold_ms=None, hs_ms=0, held_path=None):
	"""Two TLS handshakes that fail against the server listening on 127.0.0.1:port,
	under a tracer that follows curl and server_comm (the caller stops it and passes its
	records to check_refused()):
	 - curl without the test CA: it refuses the server's certificate, after the
	   server's flight (which the server holds hs_ms);
	 - a client that connects, holds hold_ms, then sends BAD_HELLO (no TLS library on
	   its side): the server's handshake fails at once, the hold before it is not in it;
	 - a client that completes its handshake and closes without a request (a
	   preconnect never used): no failure, and no request;
	 - held_path: held_handshake() (a late hello, a held Finished) then GET held_path.
	Returns what check_refused() needs."""
	r = h.run(['curl', '-sS', '-o', '/dev/null', 'https://127.0.0.1:%d/refused' % port])
	h.assert_eq(r.rc, 60, 'curl without the CA refuses the certificate (%s)' %
		    r.stderr.strip())
	hold_port = bad_hello(port, hold_ms) if hold_ms is not None else None
	s = ssl._create_unverified_context().wrap_socket(
		socket.create_connection(('127.0.0.1', port), timeout=10))
	# read what the server sent after its Finished (TLS 1.3 session tickets): a socket
	# closed with unread bytes resets the connection, which can fail the server's
	# handshake before it read the client's Finished (a true failure, not this case)
	s.settimeout(0.1)
	try:
		s.recv(1)
	except (socket.timeout, ssl.SSLError, OSError):
		pass
	s.close()
	held_port = held_handshake(port, held_path, HELD_HELLO_MS, HELD_FINISHED_MS) \
		if held_path else None
	return {'port': port, 'comm': server_comm, 'curl_pid': r.pid, 'hold_port': hold_port,
		'hold_ms': hold_ms, 'hs_ms': hs_ms, 'held_port': held_port}


def _refused(rec, ctx):
	h.assert_eq((rec.get('error'), rec.get('method'), rec.get('status'), rec.get('tls')),
		    ('tls', None, None, True), ctx + ': error, method, status, tls: ' +
		    json.dumps(rec))
	ph = h.phases(rec)
	h.assert_true('tls' in ph, ctx + ': no tls phase: ' + json.dumps(rec))
	h.assert_true(not any(n in ph for n in ('send', 'ttfb', 'recv')),
		      ctx + ': a request phase in a failed handshake: ' + json.dumps(rec))
	return ph


def check_refused(recs, run, server_sees=True):
	"""Both failed handshakes of refused_handshakes() reported as failed, on both sides
	where a TLS library ran; the one after a hold is short; the completed one without a
	request not reported; the held handshake's request (check_held()). server_sees=False:
	a server whose handshake runs inside its reads (no outcome of its own): no server
	record of a failure."""
	port = run['port']
	cli = h.only_one(h.client_records(recs, pid=run['curl_pid']), 'curl\'s record')
	ph = _refused(cli, 'curl (certificate refused)')
	h.assert_true(ph['tls']['dur_ns'] >= run['hs_ms'] * MS - 1 * MS,
		      'curl\'s tls phase %.1f ms is shorter than the server\'s %d ms hold' %
		      (ph['tls']['dur_ns'] / MS, run['hs_ms']))
	srv = h.server_records(recs, comm=run['comm'], local_port=port)
	if run['held_port']:
		held = check_held(recs, run['comm'], port, run['held_port'], HELD_FINISHED_MS)
		srv = [r for r in srv if r is not held]
	if not server_sees:
		h.assert_eq(srv, [], '%s: server records on port %d' % (run['comm'], port))
		return
	by_peer = {}
	for r in srv:
		by_peer.setdefault(r.get('peer'), []).append(r)
	peer = '127.0.0.1:%d' % cli['local_port']
	_refused(h.only_one(by_peer.get(peer, []), '%s\'s record of curl\'s connection %s' %
			    (run['comm'], peer)), '%s (curl refused its certificate)' % run['comm'])
	n = 1
	if run['hold_port']:
		peer = '127.0.0.1:%d' % run['hold_port']
		rec = h.only_one(by_peer.get(peer, []), '%s\'s record of the held connection %s' %
				 (run['comm'], peer))
		ph = _refused(rec, '%s (a malformed ClientHello, held)' % run['comm'])
		# its handshake began with the hello, not at the connection's accept
		h.assert_true(ph['tls']['dur_ns'] < run['hold_ms'] * MS / 4,
			      '%s: the tls phase of a malformed hello, %.1f ms, has the %d ms '
			      'before it: %s' % (run['comm'], ph['tls']['dur_ns'] / MS,
						 run['hold_ms'], json.dumps(rec)))
		n += 1
	h.assert_eq(len(srv), n, '%s: records on port %d (one per connection): %s' %
		    (run['comm'], port, json.dumps(srv)))
