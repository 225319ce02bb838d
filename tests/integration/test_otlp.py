# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""--otlp against a real OTLP decoder: tests/integration/otlp_receiver.py on Debian's
/usr/bin/python3 with python3-opentelemetry-proto's generated classes. The spans of
curl (client), of the webserver fixture with its nested backend call (parent/child),
and of the Go webapp: structure, attributes, timings against the injected delays (2 ms
+ 10 %) and, exactly, against the tracer's own JSON records of the same run. With the
receiver down the tracer keeps counting requests and counts the dropped spans."""
import json
import os
import re
import shutil
import signal
import subprocess

import harness as h
import test_go as gofix
import test_metrics as metfix
import test_server as srvfix
from harness import MS, BACKEND_HOST

HERE = os.path.dirname(os.path.abspath(__file__))
RECEIVER = os.path.join(HERE, 'otlp_receiver.py')
DEB_PY = '/usr/bin/python3'	# Debian's, with python3-opentelemetry-proto
INTERNAL, SERVER, CLIENT = 1, 2, 3	# Span.SpanKind
STATUS_ERROR = 2
DNS_MS, HS_MS, TTFB_MS = 80, 150, 120


def _receiver(fail_first=0):
	"""Start the receiver (503 to the first fail_first POSTs); returns (base URL, path of
	its JSON-lines output)."""
	probe = subprocess.run([DEB_PY, '-c', 'import opentelemetry.proto.collector.trace.v1.'
				'trace_service_pb2'], capture_output=True)
	if probe.returncode:
		h.skip('Debian\'s python3-opentelemetry-proto is not installed')
	out = h.tmp_path('otlp.%d.jsonl' % len(h._undo))
	d = h.start_daemon('otlp-receiver', [DEB_PY, RECEIVER, out, fail_first],
			   r'^READY (\d+)$', stream='stdout')
	return 'http://127.0.0.1:%s' % d.match.group(1), out


def _spans(path):
	"""Every span the receiver decoded; ids checked for shape and uniqueness."""
	spans, ids = [], set()
	with open(path) as f:
		for line in f:
			s = json.loads(line)
			h.assert_true('bad' not in s, 'the receiver could not decode a POST: %s' % line)
			h.log('span: %s' % line.strip())
			spans.append(s)
	for s in spans:
		h.assert_true(re.fullmatch(r'[0-9a-f]{32}', s['trace_id']) and
			      s['trace_id'] != '0' * 32, 'trace id %r' % s['trace_id'])
		h.assert_true(re.fullmatch(r'[0-9a-f]{16}', s['span_id']) and
			      s['span_id'] != '0' * 16, 'span id %r' % s['span_id'])
		h.assert_true(s['span_id'] not in ids, 'span id %s sent twice' % s['span_id'])
		ids.add(s['span_id'])
		h.assert_eq(s['headers']['content-type'], 'application/x-protobuf', 'Content-Type')
		h.assert_eq(s['headers']['path'], '/v1/traces', 'POST path')
		h.assert_eq(s['scope'], 'phasetrace', 'instrumentation scope')
	return spans


def _phases(spans, parent):
	"""{name: span} of the INTERNAL phase spans under parent (same trace)."""
	out = {}
	for s in spans:
		if s['parent_span_id'] == parent['span_id'] and s['kind'] == INTERNAL:
			h.assert_true(s['name'] not in out, 'phase span %s twice' % s['name'])
			h.assert_eq(s['trace_id'], parent['trace_id'], 'trace of phase ' + s['name'])
			out[s['name']] = s
	return out


def _dur(s):
	return s['end'] - s['start']


def _same_as_json(span, phases, rec, what):
	"""The span tree says exactly what the tracer's JSON record of the request says."""
	h.assert_eq((span['start'], _dur(span)), (rec['start_ns'], rec['dur_ns']),
		    what + ': span (start, duration) vs the JSON record')
	names = [p['name'] for p in rec['phases']]
	h.assert_eq(sorted(phases), sorted(names), what + ': phase spans vs JSON phases')
	for p in rec['phases']:
		s = phases[p['name']]
		h.assert_eq((s['start'], _dur(s)), (rec['start_ns'] + p['start_ns'], p['dur_ns']),
			    '%s: %s span vs the JSON phase' % (what, p['name']))
	a = span['attrs']
	h.assert_eq(a.get('http.request.method'), rec.get('method'), what + ': method')
	h.assert_eq(a.get('url.path'), rec.get('path'), what + ': url.path')
	h.assert_eq(a.get('http.response.status_code'), rec.get('status'), what + ': status')
	h.assert_eq(a.get('thread.id'), rec.get('tid'), what + ': thread.id')
	h.assert_eq(span['resource'].get('process.pid'), rec['pid'], what + ': process.pid')
	h.assert_eq(span['resource'].get('service.name'), rec['comm'], what + ': service.name')
	h.assert_eq(span['resource'].get('process.executable.name'), rec['comm'],
		    what + ': process.executable.name')
	h.assert_eq(span['resource'].get('host.name'), os.uname().nodename, what + ': host.name')


def _near(phases, injected_ms, what):
	for name, ms in injected_ms.items():
		h.assert_true(name in phases, '%s: no %s span (has %s)' % (what, name, sorted(phases)))
		h.assert_near(_dur(phases[name]), ms * MS, '%s: %s span' % (what, name))


def _client_attrs(span, port, scheme, what):
	a = span['attrs']
	h.assert_eq(span['kind'], CLIENT, what + ': kind')
	h.assert_eq(a.get('server.address'), BACKEND_HOST, what + ': server.address')
	h.assert_eq(a.get('server.port'), port, what + ': server.port')
	h.assert_eq(a.get('network.peer.address'), '127.0.0.1', what + ': network.peer.address')
	h.assert_eq(a.get('network.peer.port'), port, what + ': network.peer.port')
	h.assert_eq(a.get('url.scheme'), scheme, what + ': url.scheme')
	h.assert_eq(span['status'], 0, what + ': status (unset: a 200)')


def test_otlp_curl():
	"""curl over HTTPS: one CLIENT span, dns/connect/tls/ttfb against the injected."""
	if not shutil.which('curl'):
		h.skip('curl is not installed')
	url, out = _receiver()
	certs = h.make_certs()
	h.start_dns(DNS_MS)
	be = h.start_backend(ttfb_ms=TTFB_MS, hs_delay_ms=HS_MS, certs=certs)
	tr = h.Tracer(comms=['curl'], extra=['--otlp', url + '/', '--otlp-header',
					     'Authorization=Bearer s3cret'])
	res = h.run(['curl', '-sS', '-o', '/dev/null', '--cacert', certs['ca'],
		     'https://%s:%d/' % (BACKEND_HOST, be.port)], prefix=h.resolver_ns())
	h.assert_eq(res.rc, 0, 'curl exit status')
	recs = tr.stop()
	rec = h.only_one(h.client_records(recs, pid=res.pid), 'JSON record of curl')
	spans = _spans(out)
	span = h.only_one([s for s in spans if s['resource'].get('process.pid') == res.pid and
			   s['kind'] != INTERNAL], 'request span of curl pid %d' % res.pid)
	h.assert_eq(span['parent_span_id'], '', 'curl span: a root span')
	h.assert_eq(span['name'], 'GET', 'span name ({method})')
	h.assert_eq(span['headers']['authorization'], 'Bearer s3cret', '--otlp-header')
	_client_attrs(span, be.port, 'https', 'curl span')
	ph = _phases(spans, span)
	_near(ph, {'dns': DNS_MS, 'connect': 0, 'tls': HS_MS, 'ttfb': TTFB_MS}, 'curl')
	_same_as_json(span, ph, rec, 'curl')


@h.timeout(90)
def test_otlp_server_nested():
	"""The webserver fixture: a SERVER span with ttfb/send/render, its backend call a
	CLIENT span under it in the same trace, each phase against the injected delays."""
	url, out = _receiver()
	ws, be = srvfix._webserver()
	tr = h.Tracer(pids=[ws.pid], extra=srvfix._probe_symbol() + ['--otlp', url])
	crec = srvfix._get(ws, srvfix._page(srvfix.RENDER_MS))
	recs = tr.stop()
	h.assert_eq(crec['status'], 200, 'the client\'s status')
	srec = srvfix._one_server(recs, ws, '/page')
	spans = _spans(out)
	srv = h.only_one([s for s in spans if s['kind'] == SERVER and
			  s['attrs'].get('url.path') == '/page'], 'SERVER span of /page')
	h.assert_eq(srv['parent_span_id'], '', 'server span: a root span')
	a = srv['attrs']
	h.assert_eq(a.get('server.port'), ws.port, 'server span: server.port')
	h.assert_eq(a.get('network.peer.address'), '127.0.0.1', 'server span: peer address')
	h.assert_eq(a.get('client.address'), '127.0.0.1', 'server span: client.address')
	ph = _phases(spans, srv)
	_near(ph, {'render': srvfix.RENDER_MS}, 'server')
	_same_as_json(srv, ph, srec, 'server')
	child = h.only_one([s for s in spans if s['parent_span_id'] == srv['span_id'] and
			    s['kind'] != INTERNAL], 'span under the server span')
	h.assert_eq(child['trace_id'], srv['trace_id'], 'backend call: the server\'s trace')
	_client_attrs(child, be.port, 'https', 'backend call')
	h.assert_true(srv['start'] <= child['start'] and child['end'] <= srv['end'] + MS,
		      'backend call [%d, %d] inside its server span [%d, %d]' %
		      (child['start'], child['end'], srv['start'], srv['end']))
	cph = _phases(spans, child)
	_near(cph, {'dns': srvfix.DNS_MS, 'connect': 0, 'tls': srvfix.HS_MS,
		    'ttfb': srvfix.TTFB_MS}, 'backend call')
	_same_as_json(child, cph, h.only_one(srec['children'], 'JSON child'), 'backend call')


@h.timeout(300)
def test_otlp_go():
	"""The Go webapp (newest toolchain): SERVER spans with the template render, the
	backend call under each, against the injected delays and the webapp's own log."""
	vers = gofix._toolchains()
	if not vers:
		h.skip('no Go toolchain under /usr/lib/go-1.*')
	url, out = _receiver()
	certs = h.make_certs()
	dns = h.start_dns(gofix.DNS_MS)
	be = h.start_backend(ttfb_ms=gofix.TTFB_MS, hs_delay_ms=gofix.HS_MS, certs=certs)
	app = gofix.Webapp(vers[-1], 'webapp', ['-backend', 'https://%s:%d/' % (BACKEND_HOST,
						be.port), '-insecure', '-dns', '%s:53' % dns.addr])
	tr = h.Tracer(pids=[app.pid], extra=['--otlp', url])
	paths = {'/r0': 12, '/r1': 20}
	for p, ms in paths.items():
		h.assert_eq(gofix._get(app.port, '%s?render_ms=%d' % (p, ms))[0], 200, 'status ' + p)
	recs = tr.stop()
	lines = {l['path']: l for l in app.log()}
	spans = _spans(out)
	for p, ms in paths.items():
		srec = h.only_one(h.server_records(recs, pid=app.pid, path=p), 'JSON record ' + p)
		srv = h.only_one([s for s in spans if s['kind'] == SERVER and
				  s['attrs'].get('url.path') == p], 'SERVER span of ' + p)
		ph = _phases(spans, srv)
		_near(ph, {'render': ms}, 'Go ' + p)
		h.assert_near(_dur(ph['render']), lines[p]['execute_ns'], p + ': render vs execute_ns')
		h.assert_eq(ph['render']['attrs'].get('phasetrace.label'), 'page', p + ': label')
		_same_as_json(srv, ph, srec, 'Go ' + p)
		child = h.only_one([s for s in spans if s['parent_span_id'] == srv['span_id'] and
				    s['kind'] != INTERNAL], 'span under the server span of ' + p)
		h.assert_eq(child['trace_id'], srv['trace_id'], p + ': backend call in its trace')
		_client_attrs(child, be.port, 'https', 'Go backend call of ' + p)
		cph = _phases(spans, child)
		_near(cph, {'tls': gofix.HS_MS, 'ttfb': gofix.TTFB_MS}, 'Go backend call of ' + p)
		_same_as_json(child, cph, h.only_one(srec['children'], 'JSON child of ' + p),
			      'Go backend call of ' + p)
	h.assert_eq(len({s['trace_id'] for s in spans if s['kind'] == SERVER}), len(paths),
		    'one trace per server request')


@h.timeout(120)
def test_otlp_serve_go_detail():
	"""serve alone reads neither request lines nor span labels in BPF (its metrics have
	none); serve with --otlp must read both: its spans of a Go request show the method,
	the path and the render's label (the webapp's template, "page") and the 15 ms the
	webapp measured its render at."""
	vers = gofix._toolchains()
	if not vers:
		h.skip('no Go toolchain under /usr/lib/go-1.*')
	url, out = _receiver()
	app = gofix.Webapp(vers[-1], 'webapp')
	d, port = metfix._serve('-p', str(app.pid), '--otlp', url)
	h.assert_eq(gofix._get(app.port, '/r0?render_ms=15')[0], 200, 'status')
	# a request's spans go out in one batch, counted once the receiver took it
	metfix._wait_metric(port, r'^phasetrace_otlp_spans_total\{outcome="sent"\} [1-9]',
			    'the spans of the request sent', timeout=30)
	d.stop(signal.SIGINT)
	line = h.only_one(app.log(), 'webapp log line')
	spans = _spans(out)
	srv = h.only_one([s for s in spans if s['kind'] == SERVER], 'SERVER span')
	h.assert_eq(srv['attrs'].get('url.path'), '/r0', 'url.path')
	h.assert_eq(srv['attrs'].get('http.request.method'), 'GET', 'http.request.method')
	ph = _phases(spans, srv)
	h.assert_true('render' in ph, 'no render phase span: %s' % sorted(ph))
	h.assert_eq(ph['render']['attrs'].get('phasetrace.label'), 'page', 'render label')
	h.assert_near(_dur(ph['render']), line['execute_ns'], 'render vs execute_ns')


def _self_counter(text, family, outcome):
	m = re.search(r'^%s\{outcome="%s"\} (\d+)$' % (family, outcome), text, re.M)
	return int(m.group(1)) if m else None


@h.timeout(90)
def test_otlp_receiver_down():
	"""Nobody listens at the OTLP URL: requests are still counted, every span is
	counted as dropped (failed after the retries), nothing as sent."""
	dead = h.free_port()
	_, port = metfix._serve('-c', metfix.COMM, '--otlp', 'http://127.0.0.1:%d' % dead)
	metfix._traffic(3)
	metfix._wait_metric(port, r'^phasetrace_requests_total\{[^}]*comm="client"[^}]*\} 3$',
			    'three client requests counted with the receiver down')
	# each request: the request span and at least dns, connect, tls, send, ttfb
	text, _ = metfix._wait_metric(port, r'^phasetrace_otlp_batches_total\{outcome="failed"\} '
				      r'[1-9]', 'a failed OTLP batch counted', timeout=30)
	text, _ = metfix._wait_metric(port, r'^phasetrace_otlp_spans_total\{outcome="failed"\} '
				      r'(1[89]|[2-9]\d|\d{3,})$', '18 or more dropped spans',
				      timeout=30)
	h.assert_eq(_self_counter(text, 'phasetrace_otlp_spans_total', 'sent'), 0, 'spans sent')
	retried = _self_counter(text, 'phasetrace_otlp_batches_total', 'retried')
	failed = _self_counter(text, 'phasetrace_otlp_batches_total', 'failed')
	h.assert_true(retried >= 4 * failed, 'each failed batch was tried 5 times: %d retries, '
		      '%d failed batches' % (retried, failed))


@h.timeout(90)
def test_otlp_receiver_503_then_ok():
	"""The receiver answers 503 twice: the batch is retried (backoff) and delivered,
	every request's spans arrive once, nothing is counted as dropped."""
	url, out = _receiver(fail_first=2)
	_, port = metfix._serve('-c', metfix.COMM, '--otlp', url)
	metfix._traffic(2)
	text, _ = metfix._wait_metric(port, r'^phasetrace_otlp_batches_total\{outcome="sent"\} '
				      r'[1-9]', 'a batch delivered after the 503s', timeout=30)
	text, _ = metfix._wait_metric(port, r'^phasetrace_otlp_spans_total\{outcome="sent"\} '
				      r'(1[2-9]|[2-9]\d)$', 'the spans of both requests sent',
				      timeout=30)
	h.assert_true(_self_counter(text, 'phasetrace_otlp_batches_total', 'retried') >= 2,
		      'two tries retried: %s' % _self_counter(text, 'phasetrace_otlp_batches_total',
							    'retried'))
	for outcome in ('failed', 'queue_full'):
		h.assert_eq(_self_counter(text, 'phasetrace_otlp_spans_total', outcome), 0,
			    'spans counted as ' + outcome)
	spans = _spans(out)
	sent = _self_counter(text, 'phasetrace_otlp_spans_total', 'sent')
	h.assert_eq(len(spans), sent, 'spans the receiver decoded vs phasetrace_otlp_spans_total')
	roots = [s for s in spans if s['kind'] == CLIENT]
	h.assert_eq(len(roots), 2, 'request spans (one per request, none twice)')
	for r in roots:
		_near(_phases(spans, r), {'dns': metfix.DNS_MS, 'tls': metfix.HS_MS,
					  'ttfb': metfix.TTFB_MS}, 'client request')


def test_otlp_bad_options():
	"""A bad URL or header: one sentence, exit 2, before anything is loaded."""
	h.need_binary(h.PHASETRACE)
	cases = [
		(['trace', '--otlp', 'ftp://127.0.0.1:4318'], 'is not an http:// or https:// URL'),
		(['trace', '--otlp', 'not a url'], 'is not a URL'),
		(['serve', '--otlp', 'http://127.0.0.1:4318/?x=1'], 'has a query or fragment'),
		(['trace', '--otlp', 'http://c:4318', '--otlp-header', 'secret-token'],
		 'takes KEY=VALUE'),
		(['trace', '--otlp', 'http://c:4318', '--otlp-header', 'Bad Name=x'],
		 "'Bad Name' is not an HTTP header name"),
		(['trace', '--otlp', 'http://c:4318', '--otlp-header', 'A=b\r\nX: y'],
		 'holds a control character'),
		(['trace', '--otlp-header', 'A=b'], '--otlp-header needs --otlp URL'),
	]
	for argv, want in cases:
		res = h.run([h.PHASETRACE] + argv)
		what = 'phasetrace %s' % ' '.join(argv)
		h.assert_eq(res.rc, 2, what + ': exit status')
		lines = res.stderr.strip().splitlines()
		h.assert_eq(len(lines), 1, what + ': one line on stderr (%r)' % res.stderr)
		h.assert_true(want in lines[0], '%s: %r does not say %r' % (what, lines[0], want))
		h.assert_true('secret-token' not in lines[0], what + ': the header value is echoed')
		h.assert_eq(res.stdout, '', what + ': stdout')
