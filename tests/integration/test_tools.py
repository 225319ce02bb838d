# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""phasetrace against real clients (curl with OpenSSL and its threaded resolver,
python3's urllib on _ssl, wget on GnuTLS) talking to the fixtures: every phase
within tolerance of the injected delays."""
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
