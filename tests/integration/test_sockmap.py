# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Connections in a sockmap, as a service mesh or Cilium's socket acceleration puts a
host's local connections: their data reaches the reader through the sockmap's queue,
not TCP's receive path, so TCP's cached clock (which phasetrace takes as a receive's
time when TCP read it during that receive) is not the read's. Each side's phases are
compared with the fixture's own clocks and the delays it injected: the server reads
each request late (it waits in the socket's queue) and holds each response."""
import os

import harness as h
from harness import MS

COMM = 'sockmap_pair'
HOLD_MS = 60		# the server's hold between reading a request and answering it
READ_DELAY_MS = 150	# each request waits this long in the server's queue
NREQ = 3


def _sockmap(mode):
	tr = h.Tracer(comms=[COMM])
	r = h.run([os.path.join(h.FIXTURES, COMM), '--mode', mode, '--requests', NREQ,
		   '--hold-ms', HOLD_MS, '--read-delay-ms', READ_DELAY_MS])
	recs = tr.stop()
	h.assert_eq(r.rc, 0, 'sockmap_pair\'s exit status (%s)' % r.stderr.strip())
	own = h.parse_json_lines(r.stdout, COMM)
	mine = {}
	for role, pick in (('client', h.client_records), ('server', h.server_records)):
		truth = sorted((o for o in own if o.get('role') == role), key=lambda o: o['req'])
		h.assert_eq(len(truth), NREQ, 'the fixture\'s %s lines' % role)
		got = sorted(pick(recs, pid=truth[0]['pid']), key=lambda g: g.get('path') or '')
		h.assert_eq([(g.get('path'), g.get('status'), g.get('error')) for g in got],
			    [('/sockmap/%d' % i, 200, None) for i in range(NREQ)],
			    '%s records (path, status, error)' % role)
		mine[role] = list(zip(got, truth))
	for rec, truth in mine['server']:
		# the fixture's own figure: what the test injected
		h.assert_between(truth['ttfb_ns'], HOLD_MS, HOLD_MS + 100,
				 'the server\'s own ttfb of request %d' % truth['req'])
		ph = h.phases(rec)
		h.assert_true('ttfb' in ph, 'no server ttfb: %s' % rec)
		# from the read of the request, not from its arrival READ_DELAY_MS earlier
		h.assert_near(ph['ttfb']['dur_ns'], truth['ttfb_ns'],
			      'the server\'s ttfb of request %d' % truth['req'])
	for rec, truth in mine['client']:
		h.assert_between(truth['ttfb_ns'], HOLD_MS + READ_DELAY_MS,
				 HOLD_MS + READ_DELAY_MS + 200,
				 'the client\'s own ttfb of request %d' % truth['req'])
		ph = h.phases(rec)
		h.assert_true('ttfb' in ph and 'send' in ph, 'no client send or ttfb: %s' % rec)
		h.assert_near(ph['ttfb']['dur_ns'], truth['ttfb_ns'],
			      'the client\'s ttfb of request %d' % truth['req'])
		h.assert_true(ph['send']['dur_ns'] <= truth['send_ns'] + 2 * MS,
			      'the client\'s send of request %d (%d ns) not longer than its '
			      'write (%d ns)' % (truth['req'], ph['send']['dur_ns'],
						 truth['send_ns']))


def test_sockmap_redirect():
	"""Each send goes from one end of the connection straight into the other end's
	receive queue (an sk_msg program, BPF_F_INGRESS): no packet, so TCP's clock on the
	receiving socket stays at the handshake. A build that took it whatever the socket's
	protocol (no sk_user_data guard) started each server request at the handshake
	(a ttfb of 163 and 313 ms for a 50 ms hold) and gave the client's no ttfb."""
	_sockmap('redirect')


def test_sockmap_stream_verdict():
	"""Packets arrive as usual and a stream verdict program passes them to the
	socket's psock queue, read through tcp_bpf's recvmsg."""
	_sockmap('verdict')
