# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The fixtures against each other, without phasetrace: the ground truth the
tracer tests rely on (client-measured phases match the injected delays; curl,
python and wget work against the fixtures)."""
import os
import re

import harness as h
from harness import MS, BACKEND_HOST

DNS_MS, TTFB_MS, HS_MS = 150, 200, 250


def _client_http(*flags):
	dns = h.start_dns(DNS_MS)
	be = h.start_backend(ttfb_ms=TTFB_MS)
	res, recs = h.run_client('--host', BACKEND_HOST, '--port', be.port, '--requests', 3,
				 *flags, prefix=h.resolver_ns())
	h.assert_eq(len(recs), 3, 'client records')
	# the traced pid is the one Popen saw: unshare and sh exec, they do not fork
	h.assert_eq(recs[0]['pid'], res.pid, 'client pid under resolver_ns()')
	first = recs[0]
	h.assert_near(first['dns_ns'], DNS_MS * MS, 'client dns (A + AAAA answered in parallel)')
	h.assert_near(first['connect_ns'], 0, 'client connect')
	h.assert_eq(first['tls_ns'], None, 'client tls')
	h.assert_eq(first['peer'], '127.0.0.1:%d' % be.port, 'client peer')
	for r in recs:
		h.assert_eq(r['status'], 200, 'status')
		h.assert_near(r['ttfb_ns'], TTFB_MS * MS, 'client ttfb of request %d' % r['req'])
		h.assert_near(r['send_ns'], 0, 'client send of request %d' % r['req'])
	for r in recs[1:]:
		h.assert_eq((r['dns_ns'], r['connect_ns']), (None, None), 'later request phases')


def test_fixtures_client_http():
	_client_http()


def test_fixtures_client_http_nonblock():
	_client_http('--nonblock')


def _client_tls(*flags, dns_ms=80, hs_ms=HS_MS, ttfb_ms=120):
	certs = h.make_certs()
	h.start_dns(dns_ms)
	be = h.start_backend(ttfb_ms=ttfb_ms, hs_delay_ms=hs_ms, certs=certs)
	_, recs = h.run_client('--host', BACKEND_HOST, '--port', be.port, '--tls', '--cafile',
			       certs['ca'], '--requests', 2, *flags, prefix=h.resolver_ns())
	h.assert_eq(len(recs), 2, 'client records')
	h.assert_near(recs[0]['dns_ns'], dns_ms * MS, 'client dns')
	h.assert_near(recs[0]['connect_ns'], 0, 'client connect')
	h.assert_near(recs[0]['tls_ns'], hs_ms * MS, 'client tls handshake')
	for r in recs:
		h.assert_near(r['ttfb_ns'], ttfb_ms * MS, 'client ttfb of request %d' % r['req'])
	h.assert_eq(recs[1]['tls_ns'], None, 'tls of the keep-alive request')


def test_fixtures_client_openssl():
	_client_tls()


def test_fixtures_client_openssl_nonblock():
	_client_tls('--nonblock')


def test_fixtures_client_resolver_thread():
	_client_tls('--resolver-thread')


def test_fixtures_client_gnutls():
	_client_tls('--gnutls')


def test_fixtures_client_gnutls_nonblock():
	_client_tls('--gnutls', '--nonblock')


def test_fixtures_client_ipv6():
	certs = h.make_certs()
	be = h.start_backend(ttfb_ms=50, certs=certs, addr='::1')
	_, recs = h.run_client('--host', '::1', '--port', be.port, '--tls', '--cafile', certs['ca'])
	h.assert_eq(recs[0]['peer'], '[::1]:%d' % be.port, 'peer')
	h.assert_near(recs[0]['ttfb_ns'], 50 * MS, 'ttfb')


def test_fixtures_dns_errors():
	h.start_dns(100, fail_names=['broken.' + h.TEST_DOMAIN])
	for name in ('nosuch.' + h.TEST_DOMAIN, 'broken.' + h.TEST_DOMAIN):
		res, recs = h.run_client('--host', name, '--port', 80, prefix=h.resolver_ns(),
					 check=False)
		h.assert_eq(res.rc, 1, 'client exit status for %s' % name)
		h.assert_eq(recs[0]['error'], 'dns', 'client error for %s' % name)
		h.assert_near(recs[0]['dns_ns'], 100 * MS, 'failed lookup of %s' % name)


def test_fixtures_status_and_chunks():
	h.start_dns(0)
	be = h.start_fixture('backend', '--port', 0, '--ttfb-ms', 30, '--body-bytes', 3000,
			     '--chunks', 3, '--chunk-delay-ms', 100)
	_, recs = h.run_client('--host', BACKEND_HOST, '--port', be.port, '--path', '/status/503',
			       prefix=h.resolver_ns())
	h.assert_eq(recs[0]['status'], 503, 'status from /status/503')
	h.assert_near(recs[0]['ttfb_ns'], 30 * MS, 'ttfb')
	h.assert_near(recs[0]['total_ns'], 230 * MS, 'total with 3 chunks 100 ms apart')


def test_fixtures_refused():
	port = h.free_port()
	res, recs = h.run_client('--host', '127.0.0.1', '--port', port, '--connect-only',
				 check=False)
	h.assert_eq(res.rc, 1, 'client exit status')
	h.assert_eq(recs[0]['error'], 'refused', 'client error')


@h.timeout(30)
def test_fixtures_syn_drop():
	h.start_dns(0)
	be = h.start_backend()
	h.drop_first_syn(be.port)
	_, recs = h.run_client('--host', BACKEND_HOST, '--port', be.port, prefix=h.resolver_ns())
	h.assert_between(recs[0]['connect_ns'], 900, 1300, 'connect with the first SYN dropped')
	_, recs = h.run_client('--host', BACKEND_HOST, '--port', be.port, '--nonblock',
			       prefix=h.resolver_ns())
	h.assert_between(recs[0]['connect_ns'], 900, 1300, 'second connect, first SYN dropped')


def test_fixtures_bad_options():
	for name, args in (('dns_server', ['--bogus']), ('dns_server', ['--delay-ms', 'x']),
			   ('dns_server', ['--name', 'nameonly']), ('backend', ['--port']),
			   ('backend', ['--tls', '/nonexistent.pem', '/nonexistent.key']),
			   ('client', ['--host', 'x']), ('client', ['--requests', '0'])):
		res = h.run([os.path.join(h.FIXTURES, name)] + args)
		what = '%s %s' % (name, ' '.join(args))
		h.assert_eq(res.rc, 2, 'exit status of ' + what)
		h.assert_eq(len(res.stderr.strip().splitlines()), 1, 'stderr lines of ' + what)
		h.assert_eq(res.stdout, '', 'stdout of ' + what)


# ---------------------------------------------------------------- real clients

def _tls_env():
	certs = h.make_certs()
	h.start_dns(80)
	be = h.start_backend(ttfb_ms=120, hs_delay_ms=HS_MS, certs=certs)
	return certs, be, 'https://%s:%d/' % (BACKEND_HOST, be.port)


def test_fixtures_curl_https():
	certs, be, url = _tls_env()
	res = h.run(['curl', '-sS', '-o', '/dev/null', '--cacert', certs['ca'], '-w',
		     '%{http_code} %{time_namelookup} %{time_connect} %{time_appconnect} '
		     '%{time_starttransfer}', url], prefix=h.resolver_ns())
	h.assert_eq(res.rc, 0, 'curl exit status')
	code, dns, conn, tls, ttfb = res.stdout.split()
	h.assert_eq(code, '200', 'curl http_code')
	# curl's times are cumulative from the start, in seconds
	s = lambda v: int(float(v) * 1e9)	# noqa: E731
	h.assert_near(s(dns), 80 * MS, 'curl dns')
	h.assert_near(s(conn) - s(dns), 0, 'curl connect')
	h.assert_near(s(tls) - s(conn), HS_MS * MS, 'curl tls')
	h.assert_near(s(ttfb) - s(tls), 120 * MS, 'curl ttfb')


def test_fixtures_python_https():
	certs, be, url = _tls_env()
	code = ('import ssl, sys, urllib.request as u\n'
		'ctx = ssl.create_default_context(cafile=sys.argv[2])\n'
		'r = u.urlopen(sys.argv[1], context=ctx, timeout=20)\n'
		'r.read()\n'
		'print(r.status)\n')
	res = h.run(['/usr/bin/python3', '-c', code, url, certs['ca']], prefix=h.resolver_ns())
	h.assert_eq((res.rc, res.stdout.strip()), (0, '200'), 'python urlopen exit, status')


def test_fixtures_wget_https():
	certs, be, url = _tls_env()
	res = h.run(['wget', '-q', '--no-hsts', '-O', '/dev/null',
		     '--ca-certificate=' + certs['ca'], url], prefix=h.resolver_ns())
	h.assert_eq(res.rc, 0, 'wget exit status')


def test_fixtures_curl_http():
	h.start_dns(150)
	be = h.start_backend(ttfb_ms=200)
	res = h.run(['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code} %{time_namelookup}',
		     'http://%s:%d/' % (BACKEND_HOST, be.port)], prefix=h.resolver_ns())
	h.assert_eq(res.rc, 0, 'curl exit status')
	code, dns = res.stdout.split()
	h.assert_eq(code, '200', 'curl http_code')
	h.assert_near(int(float(dns) * 1e9), 150 * MS, 'curl dns')
	h.assert_true(re.fullmatch(r'\d+', str(be.port)), 'backend port')
