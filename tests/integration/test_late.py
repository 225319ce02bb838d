# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Processes started after phasetrace, with a TLS library it has never seen
(a copy of libssl outside the system directories, so not attached at start)
loaded at run time by dlopen: traced without a restart, phases within
tolerance of the injected delays."""
import os
import shutil

import harness as h
import test_tools

PY_CHECK = ('import ssl, sys, urllib.request as u\n'
	    'maps = open("/proc/self/maps").read()\n'
	    'assert sys.argv[3] + "/libssl.so.3" in maps, "libssl copy not loaded"\n'
	    'ctx = ssl.create_default_context(cafile=sys.argv[2])\n'
	    'r = u.urlopen(sys.argv[1], context=ctx, timeout=20)\n'
	    'r.read()\n'
	    'print(r.status)\n')


def _libdir():
	for d in ('/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib/aarch64-linux-gnu',
		  '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib'):
		if os.path.exists(os.path.join(d, 'libssl.so.3')):
			return d
	h.skip('no libssl.so.3 on this machine')


def test_late_dlopen_private_libssl():
	src = _libdir()
	d = h.tmp_path('privlib')
	os.makedirs(d, exist_ok=True)
	for lib in ('libssl.so.3', 'libcrypto.so.3'):
		shutil.copy(os.path.join(src, lib), os.path.join(d, lib))
	# python3 dlopens _ssl, which pulls the private libssl: a new file for the tracer
	test_tools._traced('python3', ['env', 'LD_LIBRARY_PATH=' + d, '/usr/bin/python3', '-c',
				       PY_CHECK, '{url}', '{ca}', d], True, test_tools.DNS_MS,
			   test_tools.TTFB_MS, test_tools.HS_MS)
