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
	"""Connect to 127.0.0.1:port, hold hold_ms (the injected handshake time), send
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


def refused_handshakes(port, server_comm, hold_ms=None, hs_ms=0):
	"""Two TLS handshakes that fail against the server listening on 127.0.0.1:port,
	under a tracer that follows curl and server_comm (the caller stops it and passes its
	records to check_refused()):
	 - curl without the test CA: it refuses the server's certificate, after the
	   server's flight (which the server holds hs_ms);
	 - a client that connects, holds hold_ms, then sends BAD_HELLO (no TLS library on
	   its side): the server's handshake runs for hold_ms, then fails;
	 - a client that completes its handshake and closes without a request (a
	   preconnect never used): no failure, and no request.
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
	return {'port': port, 'comm': server_comm, 'curl_pid': r.pid, 'hold_port': hold_port,
		'hold_ms': hold_ms, 'hs_ms': hs_ms}


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
	where a TLS library ran; the held one's tls phase is the hold; the completed one
	without a request not reported. server_sees=False: a server whose handshake runs
	inside its reads (no outcome of its own): no server record at all."""
	port = run['port']
	cli = h.only_one(h.client_records(recs, pid=run['curl_pid']), 'curl\'s record')
	ph = _refused(cli, 'curl (certificate refused)')
	h.assert_true(ph['tls']['dur_ns'] >= run['hs_ms'] * MS - 1 * MS,
		      'curl\'s tls phase %.1f ms is shorter than the server\'s %d ms hold' %
		      (ph['tls']['dur_ns'] / MS, run['hs_ms']))
	srv = h.server_records(recs, comm=run['comm'], local_port=port)
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
		if run['hold_ms'] is not None:
			h.assert_near(ph['tls']['dur_ns'], run['hold_ms'] * MS,
				      '%s: tls phase of the held handshake' % run['comm'], abs_ms=5)
		n += 1
	h.assert_eq(len(srv), n, '%s: records on port %d (one per connection): %s' %
		    (run['comm'], port, json.dumps(srv)))
