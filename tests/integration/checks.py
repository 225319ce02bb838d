# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Checks of phasetrace's client records against what a test injected.

A record (one JSON line of `phasetrace trace --json`, role "client"):
  {"role","pid","tid","comm","start_ns","dur_ns","host","peer","tls","error",
   "phases":[{"name","start_ns" (offset from the record's start_ns),"dur_ns"}]}
"""
import json

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
