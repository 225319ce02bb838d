# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Fallback paths for older kernels. The same client tests on the socket I/O fallback for kernels without the
sock:sock_{send,recv}_length tracepoints (Linux < 6.3): syscall enter/exit
tracepoints, forced here with --io-hooks=syscalls. Every phase is held to the
same injected ground truth."""
import harness as h
import test_client
import test_server
import test_tools


def _syscalls():
	h.TRACER_EXTRA[:] = ['--io-hooks', 'syscalls']


def test_syscalls_client_http():
	_syscalls()
	test_client.test_client_http()


def test_syscalls_client_http_keepalive():
	_syscalls()
	test_client.test_client_http_keepalive()


def test_syscalls_client_openssl_nonblock():
	_syscalls()
	test_client.test_client_openssl_nonblock()


def test_syscalls_client_gnutls():
	_syscalls()
	test_client.test_client_gnutls()


def test_syscalls_curl_https():
	_syscalls()
	test_tools.test_curl_https()


def test_syscalls_python_https():
	_syscalls()
	test_tools.test_python_https()


# Kernels before 6.6 have no uprobe_multi links: one perf event per function.
def _perf_uprobes():
	h.TRACER_EXTRA[:] = ['--uprobes', 'perf']


def test_perf_uprobes_client_openssl_resolver_thread():
	_perf_uprobes()
	test_client.test_client_openssl_resolver_thread()


def test_perf_uprobes_client_gnutls_nonblock():
	_perf_uprobes()
	test_client.test_client_gnutls_nonblock()


def test_perf_uprobes_python_https():
	_perf_uprobes()
	test_tools.test_python_https()


# Kernels before 5.13 have no task storage for tracing programs: a thread's context is in
# the threads hash, keyed by its id, and goes when the thread exits or execs.
def _thread_hash():
	h.TRACER_EXTRA[:] = ['--thread-state', 'hash']


def test_thread_hash_exec_forgets_thread_state():
	_thread_hash()
	test_client.test_exec_forgets_thread_state()


def test_thread_hash_python_http_server():
	_thread_hash()
	test_server.test_python_http_server()


def test_thread_hash_server_concurrent_nesting():
	_thread_hash()
	test_server.test_server_concurrent_nesting()


def test_thread_hash_client_openssl_resolver_thread():
	_thread_hash()
	test_client.test_client_openssl_resolver_thread()


# Kernels before 5.13 have neither: the syscall hooks keep the syscall in progress in the
# sys_io hash too (task storage: sys_io_store).
def _oldest():
	h.TRACER_EXTRA[:] = ['--io-hooks', 'syscalls', '--thread-state', 'hash']


def test_oldest_client_http_keepalive():
	_oldest()
	test_client.test_client_http_keepalive()


def test_oldest_curl_https():
	_oldest()
	test_tools.test_curl_https()


def test_oldest_server_ttfb_and_child():
	_oldest()
	test_server.test_server_ttfb_and_child()


# Between socket syscalls, the same thread reads and writes files: on the syscall hooks
# those exits must not count as socket I/O (the task-storage entry is taken at each exit).
FILE_IO_BETWEEN = r'''
import os, socket, sys
req = b'GET /file-io HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
s.sendall(req)
null = os.open('/dev/null', os.O_WRONLY)
zero = os.open('/dev/zero', os.O_RDONLY)
os.write(null, b'x' * 5000)
os.read(zero, 7000)
data = b''
while True:
	b = s.recv(65536)
	if not b:
		break
	data += b
	os.write(null, b'y' * 3000)
print(len(req), len(data))
'''


def test_syscalls_file_io_between_socket_io():
	"""A client that writes /dev/null and reads /dev/zero between its socket send and
	receives (syscall hooks): its record counts the socket's bytes alone."""
	_syscalls()
	be = h.start_backend(body_bytes=2000)
	tr = h.Tracer()
	r = h.run(['/usr/bin/python3', '-c', FILE_IO_BETWEEN, str(be.port)])
	h.assert_eq(r.rc, 0, 'client (%s)' % r.stderr.strip()[-300:])
	sent, got = (int(x) for x in r.stdout.split())
	h.assert_true(got > 2000, 'the client read %d bytes' % got)
	recs = tr.stop()
	rec = h.only_one([c for c in h.client_records(recs, peer='127.0.0.1:%d' % be.port)
			  if c.get('path') == '/file-io'], 'client record of /file-io')
	h.assert_eq((rec.get('bytes_sent'), rec.get('bytes_received')), (sent, got),
		    'bytes of the client record (the socket\'s, not the files\')')
