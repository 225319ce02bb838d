# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The same client tests on the socket I/O fallback for kernels without the
sock:sock_{send,recv}_length tracepoints (Linux < 6.3): syscall enter/exit
tracepoints, forced here with --io-hooks=syscalls. Every phase is held to the
same injected ground truth."""
import harness as h
import test_client
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
