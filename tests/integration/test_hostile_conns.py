# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Connections a traced host cannot use against the tracer, and processes that
outlive their main thread.

- 20,000 idle remote connections to a service the -c/-p filter excludes (Python
  servers on loopback, clients from several 127.x addresses) must not enter the
  connection table: the traced process's requests are all traced, the table
  holds only the traced process's connections (counted in the BPF map itself),
  and nothing is reported lost.
- Without a filter a full connection table is counted, not silent: the table is
  filled up to 5,000 free slots (entries under keys no socket has), then 20,000
  traced connections are made; at least the 15,000 that cannot fit are reported.
- A process whose main thread calls pthread_exit() is still running: a lookup its
  worker made before stays joined to the connection it makes after.
"""
import ctypes
import os
import platform
import re
import time

import harness as h
from harness import MS, BACKEND_HOST

IDLE_CONNS = 20000
CLIENT_PROCS = 4		# each holds IDLE_CONNS / CLIENT_PROCS sockets (RLIMIT_NOFILE)
SERVER_PROCS = 4		# one per client process: accept queues (somaxconn 4096) never fill
FREE_SLOTS = 5000		# conns entries left free in the unfiltered test

# One helper program, two roles (comm "python3", never the traced one):
#   serve: accept on a fresh port, holding every socket, until SIGTERM;
#   connect PORT SRC N: N connections from source address SRC, held until SIGTERM.
IDLE_PY = r'''
import resource, signal, socket, sys, threading
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
held = []
if sys.argv[1] == "serve":
	ls = socket.socket()
	ls.bind(("127.0.0.1", 0))
	ls.listen(4096)
	print("READY %d" % ls.getsockname()[1], flush=True)
	def accept():
		while True:
			held.append(ls.accept()[0])
	threading.Thread(target=accept, daemon=True).start()
else:
	port, src, n = int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
	for i in range(n):
		s = socket.socket()
		s.setsockopt(socket.IPPROTO_IP, 24, 1)	# IP_BIND_ADDRESS_NO_PORT: port at connect
		s.bind((src, 0))
		s.connect(("127.0.0.1", port))
		held.append(s)
	print("READY", flush=True)
signal.pause()
'''

# ---------------------------------------------------------------- BPF maps, read directly

_SYS_BPF = {'x86_64': 321, 'aarch64': 280}.get(platform.machine())
BPF_MAP_UPDATE_ELEM, BPF_MAP_GET_NEXT_KEY = 2, 4
BPF_MAP_GET_FD_BY_ID, BPF_OBJ_GET_INFO_BY_FD = 14, 15
_libc = ctypes.CDLL(None, use_errno=True)


def _bpf(cmd, fields):
	"""bpf(cmd, attr) with attr built from {offset: (ctype, value)}; returns the result."""
	attr = ctypes.create_string_buffer(128)
	for off, (ctype, val) in fields.items():
		ctype.from_buffer(attr, off).value = val
	ret = _libc.syscall(_SYS_BPF, cmd, attr, 128)
	return ret, ctypes.get_errno()


class Map:
	"""A map of a running tracer, found by name through its /proc/PID/fdinfo."""

	def __init__(self, pid, name):
		if _SYS_BPF is None:
			h.skip('no bpf() syscall number for %s' % platform.machine())
		self.fd = None
		for map_id in h.bpf_ids_held(pid, 'map'):
			if self._open(map_id, name):
				h.defer(lambda: os.close(self.fd), 'close map fd')
				return
		h.fail('tracer pid %d has no BPF map named %s' % (pid, name))

	def _open(self, map_id, name):
		fd, err = _bpf(BPF_MAP_GET_FD_BY_ID, {0: (ctypes.c_uint32, map_id)})
		if fd < 0:
			return False
		info = ctypes.create_string_buffer(80)
		ret, _ = _bpf(BPF_OBJ_GET_INFO_BY_FD, {0: (ctypes.c_uint32, fd),
						       4: (ctypes.c_uint32, len(info)),
						       8: (ctypes.c_uint64, ctypes.addressof(info))})
		if ret == 0 and info.raw[24:40].split(b'\0')[0] == name.encode():
			self.fd = fd
			self.key_size, self.value_size, self.max_entries = \
				[ctypes.c_uint32.from_buffer(info, o).value for o in (8, 12, 16)]
			return True
		os.close(fd)
		return False

	def count(self):
		key = ctypes.create_string_buffer(self.key_size)
		nxt = ctypes.create_string_buffer(self.key_size)
		n, first = 0, True
		while True:
			ret, err = _bpf(BPF_MAP_GET_NEXT_KEY, {
				0: (ctypes.c_uint32, self.fd),
				8: (ctypes.c_uint64, 0 if first else ctypes.addressof(key)),
				16: (ctypes.c_uint64, ctypes.addressof(nxt))})
			if ret:
				return n
			n, first = n + 1, False
			ctypes.memmove(key, nxt, self.key_size)

	def fill(self, nfree):
		"""Insert zeroed values under keys no socket has (user-space addresses) until
		nfree slots are left; returns how many were inserted."""
		key = ctypes.c_uint64()
		val = ctypes.create_string_buffer(self.value_size)
		want = self.max_entries - self.count() - nfree
		for i in range(max(want, 0)):
			key.value = 0xdead00000000 + i
			ret, err = _bpf(BPF_MAP_UPDATE_ELEM, {
				0: (ctypes.c_uint32, self.fd),
				8: (ctypes.c_uint64, ctypes.addressof(key)),
				16: (ctypes.c_uint64, ctypes.addressof(val))})
			if ret:
				h.fail('cannot fill map: errno %d after %d entries' % (err, i))
		return max(want, 0)


# ---------------------------------------------------------------- idle connections

def _idle_py(*args):
	return ['/usr/bin/python3', '-c', IDLE_PY] + [str(a) for a in args]


def _open_idle_conns(n):
	"""n idle connections: SERVER_PROCS servers, CLIENT_PROCS clients from 127.0.0.2..;
	all held until the test ends."""
	ports, t0 = [], time.monotonic()
	for _ in range(SERVER_PROCS):
		d = h.start_daemon('idle-server', _idle_py('serve'), r'READY (\d+)', stream='stdout',
				   timeout=10)
		ports.append(int(d.match.group(1)))
	per = n // CLIENT_PROCS
	for i in range(CLIENT_PROCS):
		h.start_daemon('idle-clients', _idle_py('connect', ports[i % SERVER_PROCS],
						       '127.0.0.%d' % (2 + i), per),
			       r'READY', stream='stdout', timeout=60)
	h.log('%d idle connections open in %.1f s' % (per * CLIENT_PROCS, time.monotonic() - t0))


def _lost_conns(tracer):
	"""What the tracer reported as 'connection table full', in total."""
	m = re.findall(r'(\d+) connections not traced: connection table full \(in total\)',
		       tracer.stderr())
	return int(m[-1]) if m else 0


def _filtered(tracer_args):
	be = h.start_backend(ttfb_ms=5)
	tr = h.Tracer(**tracer_args(be))
	conns = Map(tr.proc.pid, 'conns')
	_open_idle_conns(IDLE_CONNS)
	nreq = 0
	for _ in range(5):	# new connections after the flood, keep-alive requests on each
		h.run_client('--host', '127.0.0.1', '--port', be.port, '--requests', 4)
		nreq += 4
	in_table = conns.count()
	recs = tr.stop()
	mine = h.server_records(recs, pid=be.pid)
	h.assert_eq(len(mine), nreq, 'server records of the traced backend (pid %d)' % be.pid)
	h.assert_true(in_table < 100, 'conns entries with %d idle connections to an untraced '
		      'service: %d (only the traced backend\'s belong there)' % (IDLE_CONNS, in_table))
	h.assert_eq(_lost_conns(tr), 0, 'connections reported lost: table full')


@h.timeout(120)
def test_hostile_idle_conns_comm_filter():
	_filtered(lambda be: {'comms': ['backend']})


@h.timeout(120)
def test_hostile_idle_conns_pid_filter():
	_filtered(lambda be: {'pids': [be.pid]})


@h.timeout(120)
def test_hostile_idle_conns_syscall_hooks():
	"""The same on the socket I/O fallback (syscall tracepoints, kernels before 6.3)."""
	h.TRACER_EXTRA[:] = ['--io-hooks', 'syscalls']
	_filtered(lambda be: {'comms': ['backend']})


@h.timeout(120)
def test_hostile_full_conn_table_counted():
	tr = h.Tracer()
	conns = Map(tr.proc.pid, 'conns')
	filled = conns.fill(FREE_SLOTS)
	h.log('conns: %d of %d filled with keys no socket has' % (filled, conns.max_entries))
	_open_idle_conns(IDLE_CONNS)
	tr.stop()
	lost = _lost_conns(tr)
	h.assert_true(lost >= IDLE_CONNS - FREE_SLOTS,
		      'connections reported lost (table full): %d, at least %d expected '
		      '(%d traced connects, %d free slots)' %
		      (lost, IDLE_CONNS - FREE_SLOTS, IDLE_CONNS, FREE_SLOTS))


# ---------------------------------------------------------------- main thread exits

DNS_MS = 80


def test_hostile_main_thread_pthread_exit():
	"""The worker resolves, the main thread pthread_exit()s, 200 ms later the worker
	connects: the process did not exit, its lookup still gives the connection its dns
	phase."""
	h.start_dns(DNS_MS)
	be = h.start_backend(ttfb_ms=20)
	tr = h.Tracer(comms=['mainexit'])
	path = os.path.join(h.FIXTURES, 'mainexit')
	h.need_binary(path, 'run make fixtures')
	res = h.run([path, '--host', BACKEND_HOST, '--port', be.port], prefix=h.resolver_ns())
	h.assert_eq(res.rc, 0, 'mainexit exit status (stderr: %s)' % res.stderr.strip())
	own = res.json('mainexit')[0]
	recs = tr.stop()
	mine = h.client_records(recs, pid=own['pid'], peer=own['peer'])
	h.assert_eq(len(mine), 1, 'client records of pid %d' % own['pid'])
	ph = h.phases(mine[0])
	h.assert_true('dns' in ph, 'dns phase of the request made after the main thread '
		      'exited: %s' % sorted(ph))
	h.assert_near(ph['dns']['dur_ns'], own['dns_ns'], 'dns phase vs the worker\'s own clock')
	h.assert_near(ph['dns']['dur_ns'], DNS_MS * MS, 'dns phase vs the injected delay',
		      abs_ms=5.0, rel=0.25)
