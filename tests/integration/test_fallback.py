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
