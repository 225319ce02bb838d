# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""phasetrace against real clients (curl with OpenSSL and its threaded resolver,
python3's urllib on _ssl, wget on GnuTLS) talking to the fixtures: every phase
within tolerance of the injected delays. Java's own TLS (JSSE), which phasetrace
cannot read: its connection, and no request made of its records."""
import os
import shutil

import harness as h
import checks
from harness import BACKEND_HOST

DNS_MS, HS_MS, TTFB_MS = 80, 250, 120
PY_GET = ('import ssl, sys, urllib.request as u\n'
	  'ctx = ssl.create_default_context(cafile=sys.argv[2])\n'
	  'r = u.urlopen(sys.argv[1], context=ctx, timeout=20)\n'
	  'r.read()\n'
	  'print(r.status)\n')
CURL_W = '%{http_code} %{time_namelookup} %{time_connect} %{time_appconnect} ' \
	 '%{time_starttransfer}'


def _need(tool):
	if not shutil.which(tool):
		h.skip('%s is not installed' % tool)


def _curl_truth(res):
	"""curl -w CURL_W output -> the client's own phases in ns (curl's are cumulative)."""
	code, dns, conn, tls, ttfb = res.stdout.split()
	h.assert_eq(code, '200', 'curl http_code')
	s = lambda v: int(float(v) * 1e9)	# noqa: E731
	truth = {'dns_ns': s(dns), 'connect_ns': s(conn) - s(dns)}
	if s(tls):
		truth['tls_ns'] = s(tls) - s(conn)
	return truth


def _traced(comm, argv, tls, dns_ms, ttfb_ms, hs_ms=None, truth=None):
	"""Run argv traced with -c comm against a fresh DNS + backend; check its one request."""
	certs = h.make_certs() if tls else None
	h.start_dns(dns_ms)
	be = h.start_backend(ttfb_ms=ttfb_ms, hs_delay_ms=hs_ms or 0, certs=certs)
	url = '%s://%s:%d/' % ('https' if tls else 'http', BACKEND_HOST, be.port)
	argv = [a.replace('{url}', url).replace('{ca}', certs['ca'] if certs else '') for a in argv]
	tr = h.Tracer(comms=[comm])
	res = h.run(argv, prefix=h.resolver_ns())
	recs = tr.stop()
	if res.rc != 0:
		h.skip('%s itself failed against the fixtures (exit %d): %s' %
		       (comm, res.rc, res.stderr.strip()[:300]))
	peer = '127.0.0.1:%d' % be.port
	rec = h.only_one(h.client_records(recs, pid=res.pid, peer=peer),
			 'client record of %s pid %d to %s' % (comm, res.pid, peer))
	client = truth(res) if truth else None
	checks.check_request(rec, res.pid, comm, BACKEND_HOST, peer, tls,
			     checks.expected_first(dns_ms, ttfb_ms, hs_ms), client=client)


def test_curl_http():
	_need('curl')
	_traced('curl', ['curl', '-sS', '-o', '/dev/null', '-w', CURL_W, '{url}'], False,
		150, 200, truth=_curl_truth)


def test_curl_https():
	_need('curl')
	_traced('curl', ['curl', '-sS', '-o', '/dev/null', '-w', CURL_W, '--cacert', '{ca}',
			 '{url}'], True, DNS_MS, TTFB_MS, HS_MS, truth=_curl_truth)


def test_python_https():
	_traced('python3', ['/usr/bin/python3', '-c', PY_GET, '{url}', '{ca}'], True,
		DNS_MS, TTFB_MS, HS_MS)


def test_wget_https():
	_need('wget')
	_traced('wget', ['wget', '-q', '--no-hsts', '-O', '/dev/null', '--ca-certificate={ca}',
			 '{url}'], True, DNS_MS, TTFB_MS, HS_MS)


JAVA_GET = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures',
			'JavaGet.java')


def test_java_https_unprobed_tls():
	"""Java's HttpClient over HTTPS: TLS in Java (JSSE), no library phasetrace probes.
	Its three keep-alive requests cannot be read: the connection is one record, its
	connect, marked TLS, and none of its TLS records is taken for a request (before,
	each flight was a request without method or status). The backend's side of the same
	requests keeps its phases (its 120 ms ttfb)."""
	_need('java')
	certs = h.make_certs()
	be = h.start_backend(ttfb_ms=TTFB_MS, certs=certs)
	tr = h.Tracer(comms=['java', 'backend'])
	res = h.run(['java', JAVA_GET, 'https://127.0.0.1:%d/java' % be.port, '3'], timeout=120)
	h.assert_eq((res.rc, res.stdout.split()), (0, ['200'] * 3),
		    'the Java client (%s)' % res.stderr.strip()[-300:])
	recs = tr.stop()
	rec = h.only_one(h.client_records(recs, comm='java', peer='127.0.0.1:%d' % be.port),
			 'Java client record')
	h.assert_eq((rec.get('method'), rec.get('status'), rec.get('tls'), rec.get('bytes_sent')),
		    (None, None, True, 0), 'the Java connection: no request read, TLS')
	h.assert_eq(sorted(h.phases(rec)), ['connect'], 'the Java connection\'s phases')
	srv = h.server_records(recs, comm='backend', path='/java')
	h.assert_eq(len(srv), 3, 'backend records of the Java requests')
	for r in srv:
		h.assert_eq((r.get('status'), r.get('tls')), (200, True), 'backend: status, tls')
		h.assert_near(h.phases(r)['ttfb']['dur_ns'], TTFB_MS * h.MS, 'backend: ttfb')
