# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""deploy/grafana/phasetrace.json against the suite's real Prometheus: every PromQL
expression of the dashboard (panel targets and template variables) runs against a
Prometheus scraping `phasetrace serve --otlp` after real traffic (TLS client requests
with injected delays and one refused connect) and must return data."""
import json
import math
import os
import re
import time

import harness as h
import test_metrics as metfix
import test_otlp as otlpfix

DASH = os.path.join(h.ROOT, 'deploy', 'grafana', 'phasetrace.json')
RATE_WINDOW = '30s'	# for $__rate_interval: the traffic lies inside it at query time


def _exprs(node, out):
	"""Every 'expr' of a target and every variable query, depth first."""
	if isinstance(node, dict):
		if isinstance(node.get('expr'), str):
			out.append(node['expr'])
		if node.get('type') == 'query' and isinstance(node.get('definition'), str):
			out.append(node['definition'])
		for v in node.values():
			_exprs(v, out)
	elif isinstance(node, list):
		for v in node:
			_exprs(v, out)
	return out


def _promql(expr, comm):
	"""Grafana's variables as a repeated row of one service sees them; label_values()
	(a Grafana function) as the PromQL it stands for."""
	m = re.fullmatch(r'label_values\((.*),\s*(\w+)\)', expr.strip(), re.S)
	if m:
		expr = 'count by (%s) (%s)' % (m.group(2), m.group(1))
	for var, val in (('$__rate_interval', RATE_WINDOW), ('$instance', '.+'),
			 ('$comm', comm), ('$role', '.+')):
		expr = expr.replace(var, val)
	h.assert_true('$' not in expr, 'a Grafana variable the test does not know: %s' % expr)
	return expr


def _wait_query(prom, q, pred, what, timeout=40):
	deadline = time.monotonic() + timeout
	while True:
		res = metfix._query(prom, q)
		if res and pred(res):
			return res
		if time.monotonic() > deadline:
			h.fail('%s: %s gave %r within %d s' % (what, q, res, timeout))
		time.sleep(0.5)


@h.timeout(150)
def test_dashboard_queries_return_data():
	with open(DASH) as f:
		dash = json.load(f)
	exprs = _exprs(dash, [])
	h.assert_true(len(exprs) >= 15, 'expressions found in the dashboard: %d' % len(exprs))
	url, _ = otlpfix._receiver()
	_, port = metfix._serve('-c', metfix.COMM, '--otlp', url)
	prom = metfix._prometheus(port)
	_wait_query(prom, 'up{job="phasetrace"}', lambda r: r[0]['value'][1] == '1',
		    'Prometheus scraping phasetrace')
	h.run_client('--host', '127.0.0.1', '--port', h.free_port(), '--connect-only',
		     check=False)	# a refused connect for the error panels
	# two bursts, the second after the first is scraped: a rate() needs its series to
	# grow inside the window, and a series first scraped with all of the traffic in it
	# (the three requests of one burst between two scrapes) never grows
	metfix._traffic(3)
	_wait_query(prom, 'sum(phasetrace_requests_total{comm="client"})',
		    lambda r: float(r[0]['value'][1]) >= 4, '4 requests scraped')
	metfix._traffic(3)
	_wait_query(prom, 'sum(phasetrace_requests_total{comm="client"})',
		    lambda r: float(r[0]['value'][1]) >= 7, '7 requests scraped')
	# a rate needs two samples of a series in its window
	_wait_query(prom, 'min(count_over_time(phasetrace_request_errors_total{comm="client"}'
		    '[%s]))' % RATE_WINDOW, lambda r: float(r[0]['value'][1]) >= 2,
		    'two scrapes of the error counter')
	_wait_query(prom, 'sum(phasetrace_otlp_spans_total{outcome="sent"})',
		    lambda r: float(r[0]['value'][1]) > 0, 'OTLP spans sent, scraped')
	for e in exprs:
		q = _promql(e, metfix.COMM)
		res = metfix._query(prom, q)
		h.log('%s -> %s' % (q, json.dumps(res)[:300]))
		h.assert_true(res, 'dashboard query returned no data: %s' % q)
		vals = [float(r['value'][1]) for r in res]
		h.assert_true(any(not math.isnan(v) for v in vals),
			      'dashboard query returned only NaN: %s' % q)
