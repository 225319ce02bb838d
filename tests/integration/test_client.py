# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""phasetrace against the C client fixture: every phase of every request is
compared with the delay the test injected (DNS answer delay, TLS handshake
hold, time to first byte, SYN drop) and with the client's own measurement."""
import json
import os
import re
import subprocess
import sys
import time

import harness as h
import checks
from harness import MS, BACKEND_HOST

COMM = 'client'


def _run_traced(backend, *flags, dns_prefix=True, check=True, tracer_args=None, err=None):
	"""Trace -c client during one client run; returns (Result, client recs, tracer recs).
	err: a list that gets the tracer's stderr."""
	tr = h.Tracer(**(tracer_args or {'comms': [COMM]}))
	res, crecs = h.run_client('--host', BACKEND_HOST, '--port', backend.port, *flags,
				  prefix=h.resolver_ns() if dns_prefix else (), check=check)
	recs = tr.stop()
	if err is not None:
		err.append(tr.stderr())
	checks.only_comm(recs, COMM)
	return res, crecs, recs


def _plain(dns_ms, ttfb_ms, nreq, *flags, err=None, tracer_args=None):
	h.start_dns(dns_ms)
	be = h.start_backend(ttfb_ms=ttfb_ms)
	peer = '127.0.0.1:%d' % be.port
	_, crecs, recs = _run_traced(be, '--requests', nreq, *flags, err=err,
				     tracer_args=tracer_args)
	pid = crecs[0]['pid']
	mine = h.client_records(recs, pid=pid, peer=peer)
	h.assert_eq(len(mine), nreq, 'client records of pid %d to %s' % (pid, peer))
	checks.check_request(mine[0], pid, COMM, BACKEND_HOST, peer, False,
			     checks.expected_first(dns_ms, ttfb_ms), client=crecs[0], tid=pid)
	for rec, crec in zip(mine[1:], crecs[1:]):
		checks.check_request(rec, pid, COMM, BACKEND_HOST, peer, False,
				     checks.expected_later(ttfb_ms), client=crec, first=False,
				     tid=pid)
	# the fixture writes each request in one write(), keep-alive or not
	h.assert_eq([r.get('writes') for r in mine], [1] * nreq, 'writes of each request')


def test_client_http():
	_plain(150, 200, 1)


def test_client_http_nonblock():
	_plain(150, 200, 1, '--nonblock')


def test_client_http_keepalive():
	_plain(150, 200, 3)


def test_client_http_keepalive_cpu_rings():
	"""A keep-alive request that the next one ended travels through its CPU's ring
	(bpf/maps.bpf.h rb_cpu), the others through the main ring: all five timed against
	the injected delays, and -v counts the three that took the per-CPU way (not the
	first, which joins its lookup and connect, nor the last, ended by the close)."""
	nreq, err = 5, []
	_plain(60, 80, nreq, err=err, tracer_args={'comms': [COMM], 'extra': ['-v']})
	m = re.search(r'(\d+) requests emitted \((\d+) through per-CPU rings\)', err[0])
	h.assert_true(m, 'no "requests emitted" line with -v:\n%s' % err[0])
	h.assert_eq((int(m.group(1)), int(m.group(2))), (nreq, nreq - 2),
		    'requests emitted, and of them through per-CPU rings')


def _tls(*flags, dns_ms=80, hs_ms=250, ttfb_ms=120, nreq=2, by_pid=False):
	certs = h.make_certs()
	h.start_dns(dns_ms)
	be = h.start_backend(ttfb_ms=ttfb_ms, hs_delay_ms=hs_ms, certs=certs)
	peer = '127.0.0.1:%d' % be.port
	args = ['--host', BACKEND_HOST, '--port', be.port, '--tls', '--cafile', certs['ca'],
		'--requests', nreq] + list(flags)
	if by_pid:
		# the client is loaded and waiting: attach by pid, then let it go
		cl = h.start_fixture('client', '--wait', *args, prefix=h.resolver_ns(), stdin=True)
		tr = h.Tracer(pids=[cl.pid])
		cl.go()
		rc, crecs = cl.wait()
		h.assert_eq(rc, 0, 'client exit status (stderr: %s)' % cl.stderr().strip())
		recs = tr.stop()
		for r in recs:
			h.assert_eq(r.get('pid'), cl.pid,
				    'pid of a record traced with -p %d' % cl.pid)
	else:
		_, crecs, recs = _run_traced(be, *args[4:])
	pid = crecs[0]['pid']
	# the client is single-threaded but for --resolver-thread's lookup helper
	tid = None if '--resolver-thread' in flags else pid
	mine = h.client_records(recs, pid=pid, peer=peer)
	h.assert_eq(len(mine), nreq, 'client records of pid %d to %s' % (pid, peer))
	checks.check_request(mine[0], pid, COMM, BACKEND_HOST, peer, True,
			     checks.expected_first(dns_ms, ttfb_ms, hs_ms), client=crecs[0],
			     tid=tid)
	for rec, crec in zip(mine[1:], crecs[1:]):
		checks.check_request(rec, pid, COMM, BACKEND_HOST, peer, True,
				     checks.expected_later(ttfb_ms), client=crec, first=False,
				     tid=tid)


def test_client_openssl():
	_tls()


def test_client_openssl_nonblock():
	# SSL_connect() returns WANT_READ while the server holds the handshake
	_tls('--nonblock')


def test_client_openssl_s_client():
	"""openssl s_client, a real client whose handshake is implicit and non-blocking:
	the SSL_read that completes it returns no data (WANT_READ), and the request's
	SSL_write finds it done. Before, such a handshake was never seen complete and the
	request that followed it was reported as failed in the handshake."""
	hs_ms, ttfb_ms = 150, 100
	certs = h.make_certs()
	be = h.start_backend(ttfb_ms=ttfb_ms, hs_delay_ms=hs_ms, certs=certs)
	tr = h.Tracer(comms=['openssl'])
	req = 'GET /s_client HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
	r = h.run(['sh', '-c', 'printf "%s" | openssl s_client -quiet -ign_eof -CAfile %s '
		   '-connect 127.0.0.1:%d' % (req, certs['ca'], be.port)])
	h.assert_true(r.rc == 0 and r.stdout.startswith('HTTP/1.1 200'),
		      's_client got its answer (rc %d): %s %s' % (r.rc, r.stdout[:80], r.stderr))
	rec = h.only_one(h.client_records(tr.stop(), comm='openssl',
					  peer='127.0.0.1:%d' % be.port), 's_client\'s record')
	h.assert_eq((rec.get('error'), rec.get('status'), rec.get('path'), rec.get('tls')),
		    (None, 200, '/s_client', True), 'error, status, path, tls: %s' % rec)
	ph = h.phases(rec)
	for name, ms in (('tls', hs_ms), ('ttfb', ttfb_ms)):
		h.assert_true(name in ph, '%s phase missing: %s' % (name, rec))
		h.assert_near(ph[name]['dur_ns'], ms * MS, '%s phase' % name)


def test_client_gave_up_in_read():
	"""A C client that gives up on a slow answer with alarm() and siglongjmp() out of its
	blocking SSL_read (the giveup fixture): that call never returns. Its next connection
	on the same thread is still a request of its own: its handshake, its 60 ms ttfb, its
	status; before, it was invisible, or a TLS failure."""
	slow_ms, give_up_ms, ttfb_ms = 1500, 300, 60
	certs = h.make_certs()
	be = h.start_backend(certs=certs)
	tr = h.Tracer(comms=['giveup'])
	r = h.run([os.path.join(h.FIXTURES, 'giveup'), '--port', be.port, '--slow',
		   '/ttfb/%d/slow' % slow_ms, '--give-up-ms', give_up_ms, '--path',
		   '/ttfb/%d/next' % ttfb_ms])
	h.assert_eq((r.rc, r.stdout.split('\n')[:2]), (0, ['gave up', 'status 200']),
		    'giveup: exit status and output (%s)' % r.stderr.strip())
	recs = h.client_records(tr.stop(), pid=r.pid)
	by_path = {rec.get('path'): rec for rec in recs}
	h.assert_eq(sorted(p for p in by_path if p), sorted(['/ttfb/%d/next' % ttfb_ms,
							     '/ttfb/%d/slow' % slow_ms]),
		    'giveup\'s requests: %s' % json.dumps(recs))
	slow = by_path['/ttfb/%d/slow' % slow_ms]
	h.assert_eq((slow.get('status'), slow.get('error') in (None, 'tls')), (None, False),
		    'the request given up: no status, and an error other than tls: %s' %
		    json.dumps(slow))
	rec = by_path['/ttfb/%d/next' % ttfb_ms]
	h.assert_eq((rec.get('error'), rec.get('status'), rec.get('tls')), (None, 200, True),
		    'the next request: error, status, tls: %s' % json.dumps(rec))
	ph = h.phases(rec)
	h.assert_true('tls' in ph and 'ttfb' in ph, 'the next request\'s phases: %s' %
		      json.dumps(rec))
	h.assert_near(ph['ttfb']['dur_ns'], ttfb_ms * MS, 'the next request\'s ttfb')


HALF_CLOSE = r"""
import socket, sys
port, path, to_eof = int(sys.argv[1]), sys.argv[2], sys.argv[3] == 'eof'
s = socket.create_connection(('127.0.0.1', port))
s.sendall(b'GET ' + path.encode() + b' HTTP/1.1\r\nHost: x\r\n\r\n')
s.shutdown(socket.SHUT_WR)
data = b''
while True:
	b = s.recv(65536)
	if not b:
		break
	data += b
	head, _, body = data.partition(b'\r\n\r\n')
	n = [int(l.split(b':')[1]) for l in head.split(b'\r\n') if l.lower().startswith(b'content-length:')]
	if not to_eof and n and len(body) >= n[0]:
		break
s.close()
print(data.split(b'\r\n')[0].decode())
"""


def test_client_half_close():
	"""A client that shuts down its sending side after its request (shutdown(SHUT_WR),
	as HTTP/1.0-era tools and nc -N do), then reads the answer: to the end of the
	stream, or to its Content-Length and closes. The server holds its first byte
	150 ms; each request is answered, with that ttfb. Before, the shutdown ended the
	request as unanswered, and the answer's reads made a request of their own."""
	ttfb_ms = 150
	be = h.start_backend(ttfb_ms=ttfb_ms)
	tr = h.Tracer(comms=['python3'])
	runs = {}
	for mode in ('eof', 'length'):
		path = '/half/' + mode
		r = h.run(['python3', '-c', HALF_CLOSE, str(be.port), path, mode])
		h.assert_eq((r.rc, r.stdout.strip()), (0, 'HTTP/1.1 200 OK'),
			    '%s: the client\'s answer (%s)' % (mode, r.stderr))
		runs[path] = r.pid
	recs = tr.stop()
	for path, pid in runs.items():
		rec = h.only_one(h.client_records(recs, pid=pid), 'records of the %s client' % path)
		h.assert_eq((rec.get('path'), rec.get('status'), rec.get('error')),
			    (path, 200, None), 'path, status, error: %s' % rec)
		ph = h.phases(rec)
		h.assert_true('ttfb' in ph, '%s: no ttfb phase: %s' % (path, rec))
		h.assert_near(ph['ttfb']['dur_ns'], ttfb_ms * MS, '%s: ttfb phase' % path)


# In a network namespace of its own whose loopback holds what it sends (tbf at 8 kbit/s,
# burst 1600 B, MTU 1500): a server thread, and a client that writes most of its request
# (8000 B: one segment leaves, five wait in the qdisc, the server's ACK behind them),
# sleeps, and writes the request's last 2 bytes. TCP autocorks that second write (its
# first bytes are still queued below it): it transmits nothing, and the socket's cached
# TCP clock is the first write's. Then the qdisc lets everything through (tbf at 1 Gbit/s)
# and the client reads the answer. Prints the time from the first write's start to the
# second's return.
AUTOCORK = r"""
import socket, subprocess, sys, threading, time
gap = int(sys.argv[1]) / 1000.0
def tbf(verb, rate):
	subprocess.run(['tc', 'qdisc', verb, 'dev', 'lo', 'root', 'tbf', 'rate', rate,
			'burst', '1600', 'latency', '10s'], check=True)
subprocess.run(['ip', 'link', 'set', 'lo', 'up', 'mtu', '1500'], check=True)
srv = socket.socket()
srv.bind(('127.0.0.1', 0))
srv.listen(1)
def serve():
	c, _ = srv.accept()
	buf = b''
	while b'\r\n\r\n' not in buf:
		buf += c.recv(65536)
	c.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
	c.recv(1)
threading.Thread(target=serve, daemon=True).start()
s = socket.create_connection(srv.getsockname())
tbf('add', '8kbit')
t0 = time.monotonic()
s.sendall(b'GET /autocork HTTP/1.1\r\nHost: x\r\nX-Pad: ' + b'a' * 8000 + b'\r\n')
time.sleep(gap)
s.sendall(b'\r\n')
sent = time.monotonic() - t0
tbf('change', '1gbit')
buf = b''
while not buf.endswith(b'ok'):
	b = s.recv(4096)
	if not b:
		break
	buf += b
s.close()
print(buf.split(b'\r\n')[0].decode(), int(sent * 1e9))
"""


def test_client_autocorked_send():
	"""A request written in two sends, the second autocorked by TCP: the send of a
	request that transmits nothing does not refresh TCP's cached clock (what phasetrace
	takes as a send's end when TCP read it during that send). The request's send phase
	lasts from the first write to the end of the second, as the client measured it; a
	build that took the cached clock whatever its age reported the first write's
	transmit as the request's end (a send phase of ~0, the gap in the ttfb)."""
	gap_ms = 120
	tr = h.Tracer(comms=['python3'])
	r = h.run(['unshare', '-n', 'python3', '-c', AUTOCORK, str(gap_ms)])
	recs = tr.stop()
	out = r.stdout.split()
	h.assert_eq((r.rc, out[:3]), (0, ['HTTP/1.1', '200', 'OK']),
		    'the client\'s answer (%s)' % r.stderr.strip())
	rec = h.only_one([c for c in h.client_records(recs, pid=r.pid)
			  if c.get('path') == '/autocork'], 'the client\'s /autocork records')
	ph = h.phases(rec)
	h.assert_true('send' in ph, 'no send phase: %s' % json.dumps(rec))
	h.assert_near(ph['send']['dur_ns'], int(out[3]), 'the send phase')


# A keep-alive client that sends one request, reads its response whole and keeps the
# connection open, quiet, until told to close it (a line on stdin each time).
QUIET_CLIENT = r"""
import socket, sys
port = int(sys.argv[1])
sys.stdin.readline()
s = socket.create_connection(('127.0.0.1', port))
s.sendall(b'GET /quiet HTTP/1.1\r\nHost: fixture\r\n\r\n')
buf = b''
while b'\r\n\r\n' not in buf:
    buf += s.recv(4096)
head, body = buf.split(b'\r\n\r\n', 1)
n = int([l.split(b':')[1] for l in head.split(b'\r\n')
         if l.lower().startswith(b'content-length:')][0])
while len(body) < n:
    body += s.recv(4096)
print('DONE', s.getsockname()[1], flush=True)
sys.stdin.readline()
s.close()
"""


def test_client_quiet_keepalive_reported_live():
	"""A keep-alive request whose connection then stays open and quiet is reported while
	it is open, once its response has been quiet for the idle time (500 ms), though no
	traced process does any I/O after it: the collector skips its sweeps of the idle
	table while nothing moves, but not the one this request became due at. Timed against
	the backend's injected first-byte delay, and reported once."""
	ttfb_ms = 120
	be = h.start_backend(ttfb_ms=ttfb_ms)
	cl = subprocess.Popen([sys.executable, '-c', QUIET_CLIENT, str(be.port)],
			      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
	h.defer(lambda: cl.kill(), 'stop the quiet client')
	tr = h.Tracer(pids=[cl.pid])
	cl.stdin.write('go\n')
	cl.stdin.flush()
	line = cl.stdout.readline().split()
	h.assert_true(len(line) == 2 and line[0] == 'DONE', 'quiet client: %r' % line)
	local = int(line[1])

	def mine(text):
		return [r for r in h.parse_json_lines(text, 'phasetrace')
			if r.get('pid') == cl.pid and r.get('local_port') == local]

	def reported():
		with open(tr.out_path, errors='replace') as f:
			text = f.read()
		# whole lines only: the tracer may be writing the next one
		return mine(text[:text.rfind('\n') + 1])
	h.assert_true(h.until(lambda: reported(), 10),
		      'the quiet connection\'s request not reported within 10 s while it stayed '
		      'open; stderr:\n%s' % tr.stderr())
	h.assert_eq(cl.poll(), None, 'the quiet client still holds its connection')
	cl.stdin.write('close\n')
	cl.stdin.flush()
	h.assert_eq(cl.wait(10), 0, 'quiet client exit status')
	recs = [r for r in h.client_records(tr.stop(), pid=cl.pid) if r.get('local_port') == local]
	rec = h.only_one(recs, 'records of the quiet connection (its idle report, no copy)')
	h.assert_eq(rec.get('status'), 200, 'status')
	ph = h.phases(rec)
	h.assert_true('ttfb' in ph, 'no ttfb phase: %s' % rec)
	h.assert_near(ph['ttfb']['dur_ns'], ttfb_ms * MS, 'ttfb phase')


# A server answering every request of every connection at once, keeping them open.
ANSWER_SERVER = r"""
import selectors, socket
sel = selectors.DefaultSelector()
ls = socket.socket()
ls.bind(('127.0.0.1', 0))
ls.listen(4096)
sel.register(ls, selectors.EVENT_READ)
print('READY %d' % ls.getsockname()[1], flush=True)
held = {}
while True:
    for k, _ in sel.select():
        if k.fileobj is ls:
            c = ls.accept()[0]
            held[c] = b''
            sel.register(c, selectors.EVENT_READ)
            continue
        c = k.fileobj
        d = c.recv(4096)
        if not d:
            sel.unregister(c)
            c.close()
            del held[c]
            continue
        held[c] += d
        while b'\r\n\r\n' in held[c]:
            held[c] = held[c].split(b'\r\n\r\n', 1)[1]
            c.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
"""

# N keep-alive connections, one request answered on each, then all held open and quiet
# until a line on stdin: they go quiet together.
QUIET_MANY = r"""
import resource, socket, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
port, n = int(sys.argv[1]), int(sys.argv[2])
sys.stdin.readline()
held = [socket.create_connection(('127.0.0.1', port)) for i in range(n)]
# all requests, then all answers, each waiting in its socket by then: the connections
# go quiet within milliseconds of each other
for s in held:
    s.sendall(b'GET /many HTTP/1.1\r\nHost: fixture\r\n\r\n')
time.sleep(0.3)
for s in held:
    buf = b''
    while not buf.endswith(b'ok'):
        buf += s.recv(4096)
print('DONE', flush=True)
sys.stdin.readline()
"""


def test_client_quiet_keepalive_many_reported_once():
	"""600 keep-alive connections go quiet together, each after one answered request: the
	collector reports each request once while the connections stay open (its walk of the
	idle table reads it in batches of 256 and notes each report as it goes), and says so
	with -v when stopped with them still open: 600 idle flushes, not again for the ones
	a walk could not note (at most 256 a walk before)."""
	n = 600
	srv = h.start_daemon('answer-server', [sys.executable, '-c', ANSWER_SERVER],
			     r'READY (\d+)', stream='stdout', timeout=10)
	port = int(srv.match.group(1))
	cl = subprocess.Popen([sys.executable, '-c', QUIET_MANY, str(port), str(n)],
			      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
	h.defer(lambda: cl.kill(), 'stop the quiet clients')
	tr = h.Tracer(pids=[cl.pid], extra=['-v'])
	cl.stdin.write('go\n')
	cl.stdin.flush()
	h.assert_eq(cl.stdout.readline().strip(), 'DONE', 'quiet clients')

	def reported():
		with open(tr.out_path, errors='replace') as f:
			text = f.read()
		return [r for r in h.parse_json_lines(text[:text.rfind('\n') + 1], 'phasetrace')
			if r.get('pid') == cl.pid and r.get('path') == '/many']
	h.assert_true(h.until(lambda: len(reported()) >= n, 20),
		      '%d of %d quiet requests reported within 20 s while their connections '
		      'stayed open' % (len(reported()), n))
	# stopped while they are still open: its last walk (every request still in the
	# response phase) must find each one noted as reported
	recs = [r for r in h.client_records(tr.stop(), pid=cl.pid) if r.get('path') == '/many']
	cl.stdin.write('close\n')
	cl.stdin.flush()
	h.assert_eq(cl.wait(20), 0, 'quiet clients exit status')
	ports = [r.get('local_port') for r in recs]
	h.assert_eq((len(recs), len(set(ports))), (n, n), 'records, and connections among them')
	h.assert_true(all(r.get('status') == 200 for r in recs), 'a status other than 200')
	m = re.search(r'(\d+) idle flushes', '\n'.join(tr.err))
	h.assert_true(m, 'no idle flush count with -v:\n%s' % tr.stderr())
	h.assert_eq(int(m.group(1)), n, 'requests reported from the idle table')


FAKETIME_LIB = '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1'
CLOCK_STEP_S = 30


def test_wall_clock_stepped():
	"""The wall clock is stepped under a running tracer (NTP syncs a host after its
	services started at boot): the records made after the step carry the new clock. The
	tracer's CLOCK_REALTIME comes from libfaketime, stepped 30 s forward between two
	requests (its CLOCK_MONOTONIC and the kernel's are untouched); each record's
	start_ns is the client's own clock, plus 30 s for the second."""
	if not os.path.exists(FAKETIME_LIB):
		h.skip('libfaketime is not installed (Debian: faketime)')
	step = h.tmp_path('faketime.offset')
	with open(step, 'w') as f:
		f.write('+0\n')
	be = h.start_backend()
	tr = h.Tracer(comms=['client'], prefix=[
		'env', 'LD_PRELOAD=' + FAKETIME_LIB, 'FAKETIME_TIMESTAMP_FILE=' + step,
		'FAKETIME_NO_CACHE=1', 'DONT_FAKE_MONOTONIC=1'])
	_, before = h.run_client('--host', '127.0.0.1', '--port', be.port)

	def printed():
		with open(tr.out_path) as f:
			return f.read().count('\n')
	# the first record is out (converted with the clock before the step)
	h.assert_true(h.until(lambda: printed() >= 1, 10), 'the first record not printed')
	with open(step, 'w') as f:
		f.write('+%d\n' % CLOCK_STEP_S)
	_, after = h.run_client('--host', '127.0.0.1', '--port', be.port)
	recs = h.client_records(tr.stop(), comm='client')
	h.assert_eq(len(recs), 2, 'client records')
	for rec, cl, offset in ((recs[0], before[0], 0), (recs[1], after[0], CLOCK_STEP_S)):
		skew = rec['start_ns'] - cl['start_ns'] - offset * 1000 * MS
		h.assert_true(abs(skew) <= checks.START_SLACK_NS,
			      'a record %d s after the client\'s clock: %.1f ms off' %
			      (offset, skew / MS))


def test_client_openssl_resolver_thread():
	# getaddrinfo() on a helper thread must still be this request's dns phase
	_tls('--resolver-thread')


def test_client_gnutls():
	_tls('--gnutls')


def test_client_gnutls_nonblock():
	_tls('--gnutls', '--nonblock')


def test_client_openssl_by_pid():
	_tls(by_pid=True)


@h.timeout(90)
def test_client_connect_syn_drop():
	h.start_dns(0)
	be = h.start_backend(ttfb_ms=50)
	peer = '127.0.0.1:%d' % be.port
	h.drop_first_syn(be.port)
	_, crecs, recs = _run_traced(be)
	pid = crecs[0]['pid']
	rec = h.only_one(h.client_records(recs, pid=pid, peer=peer), 'client record')
	h.assert_between(crecs[0]['connect_ns'], 900, 1300, 'client\'s own connect (SYN dropped)')
	ph = h.phases(rec)
	h.assert_true('connect' in ph, 'no connect phase in %s' % rec)
	h.assert_between(ph['connect']['dur_ns'], 900, 1300, 'connect phase (first SYN dropped)')
	# the kernel's RTO is the injected delay: the client's clock is the ground truth
	checks.check_request(rec, pid, COMM, BACKEND_HOST, peer, False,
			     checks.expected_first(0, 50, connect_ms=crecs[0]['connect_ns'] / MS),
			     client=crecs[0])


def test_client_connect_refused():
	h.start_dns(0)
	port = h.free_port()
	peer = '127.0.0.1:%d' % port
	tr = h.Tracer(comms=[COMM])
	res, crecs = h.run_client('--host', BACKEND_HOST, '--port', port, '--connect-only',
				  prefix=h.resolver_ns(), check=False)
	recs = tr.stop()
	h.assert_eq((res.rc, crecs[0]['error']), (1, 'refused'), 'client exit status and error')
	pid = crecs[0]['pid']
	rec = h.only_one(h.client_records(recs, pid=pid, peer=peer),
			 'record of the refused connect')
	h.assert_eq(rec.get('error'), 'refused', 'error')
	h.assert_eq(rec.get('host'), BACKEND_HOST, 'host')
	h.assert_eq(rec.get('comm'), COMM, 'comm')
	ph = h.phases(rec)
	h.assert_true('connect' in ph, 'refused connect without a connect phase: %s' % rec)
	h.assert_near(ph['connect']['dur_ns'], 0, 'refused connect phase')
	h.assert_near(ph['connect']['dur_ns'], crecs[0]['connect_ns'],
		      'refused connect phase vs the client\'s own measurement')
	for name in ('tls', 'send', 'ttfb'):
		h.assert_true(name not in ph, 'refused connect has a %s phase: %s' % (name, rec))


def test_client_dns_nxdomain():
	dns_ms = 100
	name = 'nosuch.' + h.TEST_DOMAIN
	h.start_dns(dns_ms)
	tr = h.Tracer(comms=[COMM])
	res, crecs = h.run_client('--host', name, '--port', 80, prefix=h.resolver_ns(), check=False)
	recs = tr.stop()
	h.assert_eq((res.rc, crecs[0]['error']), (1, 'dns'), 'client exit status and error')
	pid = crecs[0]['pid']
	mine = h.client_records(recs, pid=pid)
	if not mine:
		h.skip('phasetrace reports no record for a failed lookup')
	rec = h.only_one(mine, 'record of the failed lookup')
	err = rec.get('error')
	h.assert_true(isinstance(err, str) and err, 'failed lookup reported without an error: %s' %
		      rec)
	h.assert_true(re.search(r'dns|resolv|nxdomain|lookup|name|host', err, re.I),
		      'error %r does not say the lookup failed' % err)
	h.assert_true(rec.get('host') in (name, None), 'host %r, expected %r' % (rec.get('host'),
										 name))
	ph = h.phases(rec)
	if 'dns' in ph:
		h.assert_near(ph['dns']['dur_ns'], dns_ms * MS, 'failed lookup\'s dns phase')
		h.assert_near(ph['dns']['dur_ns'], crecs[0]['dns_ns'],
			      'failed lookup\'s dns phase vs the client\'s own measurement')
	for name in ('connect', 'tls', 'send', 'ttfb'):
		h.assert_true(name not in ph, 'failed lookup has a %s phase: %s' % (name, rec))


def _main_thread_ctx(pid):
	"""Whether process pid's thread contexts exist where the tracer keeps them: entries
	of the process in the threads hash (--thread-state hash), else its main thread's
	task storage (the client below works on that thread)."""
	if h.thread_ctx_in_hash():
		return h.ctx_entries('threads', pid) > 0
	return h.task_ctx(pid)


def test_exec_forgets_thread_state():
	"""A process that made a request, then execs another program: the thread's state of
	the old program (its client request's context) goes at the exec, not with the LRU
	(hash) nor with the task (task storage, which an exec keeps)."""
	be = h.start_backend()
	go_on = h.tmp_path('exec-now')
	code = ('import os, sys, time, urllib.request\n'
		'urllib.request.urlopen("http://127.0.0.1:%d/").read()\n'
		'print("fetched", flush=True)\n'
		'while not os.path.exists(%r):\n'
		'    time.sleep(0.01)\n'
		'os.execv("/bin/sleep", ["sleep", "30"])\n') % (be.port, go_on)
	tr = h.Tracer()
	py = h.start_daemon('exec-client', ['/usr/bin/python3', '-c', code], r'fetched',
			    stream='stdout')
	h.assert_true(h.until(lambda: _main_thread_ctx(py.pid), 5),
		      'no thread state of the client before its exec: the test shows nothing')
	open(go_on, 'w').close()
	h.assert_true(h.until(lambda: open('/proc/%d/comm' % py.pid).read().strip() == 'sleep', 5),
		      'the client did not exec')
	h.assert_true(h.until(lambda: not _main_thread_ctx(py.pid), 5),
		      'thread contexts of the old program left after the exec')
	tr.stop()


# a client that names its thread (prctl PR_SET_NAME) and fetches one URL
NAMED_GET = ('import ctypes, sys, urllib.request as u\n'
	     'ctypes.CDLL(None).prctl(15, sys.argv[1].encode(), 0, 0, 0)\n'
	     'print(u.urlopen(sys.argv[2], timeout=20).status)\n')


def test_client_comm_filter_whole_name():
	"""-c matches a thread's whole name (15 characters at most), not a prefix of it nor a
	name it is a prefix of: clients renamed with prctl(PR_SET_NAME), one request each,
	and only those named by a filter are reported (the backend is not)."""
	be = h.start_backend()
	url = 'http://127.0.0.1:%d/' % be.port
	wanted = ['pt-fifteen-char', 'ptcomm']
	decoys = ['pt-fifteen-cha', 'ptcom', 'ptcommx', 'xptcomm']
	tr = h.Tracer(comms=wanted)
	for name in wanted + decoys:
		res = h.run(['/usr/bin/python3', '-c', NAMED_GET, name, url + name])
		h.assert_eq((res.rc, res.stdout.strip()), (0, '200'),
			    'client %s (%s)' % (name, res.stderr.strip()[-300:]))
	recs = tr.stop()
	got = sorted(r.get('comm') for r in
		     h.client_records(recs, peer='127.0.0.1:%d' % be.port))
	h.assert_eq(got, sorted(wanted), 'clients reported under -c %s' % ' -c '.join(wanted))
	h.assert_eq(h.server_records(recs, comm='backend'), [], 'backend records under -c')


def test_stream_paused_reported_at_pause():
	"""Responses that pause longer than --idle-ms (a server-sent event stream: a chunk
	100 ms after the header, then 600 ms of nothing, then the rest): the collector takes
	the pause for the response's end, as it must to report a quiet keep-alive request
	live. Each side's record of each request ends at the pause (the stream server's own
	clock says when), is reported once (BPF's record at the real end is dropped as its
	copy, which BPF marks from the collector's note), and the tracer says at exit how
	many went on after their report (4: two requests, both sides) and how to wait for
	them."""
	srv = h.start_fixture('stream_server', '--gaps-ms', '100,600,100')
	tr = h.Tracer(comms=['curl', 'python3'], extra=['--idle-ms', '200', '-v'])
	url = 'http://127.0.0.1:%d/s' % srv.port
	r = h.run(['curl', '-sSN', url + '0', url + '1'])
	h.assert_eq((r.rc, r.stdout.count('data: tick')), (0, 6),
		    'curl\'s exit status and events (%s)' % r.stderr.strip())
	recs = tr.stop()
	own = {o['path']: o for o in srv.json_log()}
	h.assert_eq(sorted(own), ['/s0', '/s1'], 'the stream server\'s responses')
	for o in own.values():	# its own clock against the gaps it was given
		h.assert_between(o['pause_ns'], 100, 250, 'the stream server\'s pause of %s'
				 % o['path'])
		h.assert_between(o['end_ns'], 800, 1500, 'the stream server\'s end of %s'
				 % o['path'])
	for role, got in (('client', h.client_records(recs, comm='curl')),
			  ('server', h.server_records(recs, pid=srv.pid))):
		h.assert_eq(sorted(g.get('path') for g in got), ['/s0', '/s1'],
			    '%s records, once each' % role)
		for g in got:
			o = own[g['path']]
			h.assert_near(g['dur_ns'], o['pause_ns'],
				      '%s record of %s: its end, at the pause (the stream ended '
				      '%.0f ms after its header)' % (role, g['path'], o['end_ns'] / MS))
	m = re.search(r'(\d+) requests reported at a pause of --idle-ms \(200 ms\) in their '
		      r'response, which then went on \(in total\)', tr.stderr())
	h.assert_true(m and int(m.group(1)) == 4, 'the exit report of requests cut at a pause '
		      '(4 expected); stderr:\n%s' % tr.stderr())
	# each copy was known as one from BPF's mark too (PT_F_IDLE_SENT), which outlasts
	# the assembler's memory of its reports
	m = re.search(r'idle reports: (\d+) copies dropped \((\d+) marked by BPF\), (\d+) cut',
		      tr.stderr())
	h.assert_true(m and tuple(map(int, m.groups())) == (4, 4, 4),
		      'copies, marked copies and cut reports (4, 4, 4 expected); stderr:\n%s'
		      % tr.stderr())
