# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Hostile processes (issue 9): nothing a traced process does may steer, hang or
blind the tracer. Each test starts the hostile process itself and checks against
what it injected: a host file that must never be opened (inotify), a FIFO that
must never block, an exec in the middle of the analysis, 5,000 distinct
executables, a huge sparse binary."""
import ctypes
import os
import re
import select
import shutil
import struct
import subprocess
import time

import harness as h
import test_go
import test_tools

READY_MAX_S = 2.0	# "phasetrace: ready" after start
EXIT_MAX_S = 1.0	# exit after SIGINT

# ------------------------------------------------------------------ inotify

IN_ACCESS, IN_OPEN, IN_NONBLOCK, IN_CLOEXEC = 0x1, 0x20, 0o4000, 0o2000000


class Watch:
	"""inotify IN_OPEN | IN_ACCESS on one file (python ctypes, no package needed)."""

	def __init__(self, path):
		self.libc = ctypes.CDLL(None, use_errno=True)
		self.fd = self.libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
		h.assert_true(self.fd >= 0, 'inotify_init1: errno %d' % ctypes.get_errno())
		h.defer(lambda: os.close(self.fd), 'close inotify')
		wd = self.libc.inotify_add_watch(self.fd, path.encode(), IN_OPEN | IN_ACCESS)
		h.assert_true(wd >= 0, 'inotify_add_watch %s: errno %d' % (path, ctypes.get_errno()))

	def events(self):
		"""Masks of the events queued so far."""
		out = []
		while select.select([self.fd], [], [], 0)[0]:
			buf = os.read(self.fd, 4096)
			off = 0
			while off + 16 <= len(buf):
				_, mask, _, nlen = struct.unpack_from('iIII', buf, off)
				out.append(mask)
				off += 16 + nlen
		return out


# ------------------------------------------------------------------ a container

# Maps a copy of libssl named libssl.so.3, deletes it, and puts the hostile
# object at the name /proc/PID/maps shows for the mapping: "... (deleted)".
CONTAINER_PY = r'''
import ctypes, os, sys
lib = "/data/libssl.so.3"
ctypes.CDLL(lib)
os.unlink(lib)
bait = lib + " (deleted)"
if sys.argv[1] == "symlink":
	os.symlink(sys.argv[2], bait)
else:
	os.mkfifo(bait)
maps = open("/proc/self/maps").read()
assert bait in maps, "the mapping does not show the bait name"
print("READY", flush=True)
import signal
signal.pause()
'''


def _libssl():
	for d in ('/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64',
		  '/usr/lib'):
		if os.path.exists(os.path.join(d, 'libssl.so.3')):
			return os.path.join(d, 'libssl.so.3')
	h.skip('no libssl.so.3 on this machine')


def _start_container(kind, sentinel):
	"""A process in its own mount namespace and root (a temp dir with /usr bound in)
	that leaves `kind` (symlink to sentinel, or fifo) at its deleted library's name."""
	root = h.tmp_path('root')
	os.makedirs(os.path.join(root, 'usr'))
	os.makedirs(os.path.join(root, 'data'))
	os.makedirs(os.path.join(root, 'proc'))
	for d in ('bin', 'lib', 'lib64', 'sbin'):
		host = '/' + d
		if os.path.islink(host):
			os.symlink(os.readlink(host), os.path.join(root, d))
		elif os.path.isdir(host):
			os.makedirs(os.path.join(root, d))
	shutil.copy(_libssl(), os.path.join(root, 'data', 'libssl.so.3'))
	os.makedirs(os.path.join(root, '.old'))
	binds = ''.join('mount --bind /%s "$0/%s" && ' % (d, d)
			for d in ('usr', 'bin', 'lib', 'lib64', 'sbin')
			if os.path.isdir('/' + d) and not os.path.islink('/' + d))
	# pivot_root, not chroot: the host cannot reach the container's root, and
	# /proc/PID/maps shows the host the names the container sees ("/data/...")
	script = ('mount --bind "$0" "$0" && ' + binds + 'mount -t proc proc "$0/proc" && '
		  'cd "$0" && pivot_root . .old && exec /usr/sbin/chroot . /bin/sh -c '
		  '\'umount -l /.old && exec /usr/bin/python3 -c "$0" "$1" "$2"\' "$1" "$2" "$3"')
	return h.start_daemon('container', ['unshare', '-m', 'sh', '-c', script, root,
					    CONTAINER_PY, kind, sentinel],
			      r'^READY$', stream='stdout')


def _hostile_name(kind):
	sentinel = h.tmp_path('sentinel')
	with open(sentinel, 'w') as f:
		f.write('host secret\n')
	w = Watch(sentinel)
	box = _start_container(kind, sentinel)
	h.assert_eq(w.events(), [], 'sentinel events before the tracer started')
	t0 = time.monotonic()
	tr = h.Tracer(extra=['-v'])
	ready_s = time.monotonic() - t0
	h.log('ready after %.2f s' % ready_s)
	h.assert_true(ready_s < READY_MAX_S, 'ready after %.2f s (max %.1f s)' %
		      (ready_s, READY_MAX_S))
	t0 = time.monotonic()
	tr.stop()
	exit_s = time.monotonic() - t0
	h.log('exit %.2f s after SIGINT' % exit_s)
	h.assert_true(exit_s < EXIT_MAX_S, 'exit %.2f s after SIGINT (max %.1f s)' %
		      (exit_s, EXIT_MAX_S))
	h.assert_eq(w.events(), [], 'inotify events on the host sentinel (the tracer opened it)')
	h.assert_true(box.proc.poll() is None, 'the container process is still running')
	# the mapped library itself was reached, through its mapping
	err = tr.stderr()
	h.assert_true(re.search(r'/data/libssl\.so\.3 \(deleted\): openssl: \d+ probes attached',
				'\n'.join(tr.err)),
		      'the deleted libssl mapping was not attached through map_files:\n' + err)
	# the watch works: our own open is seen
	with open(sentinel):
		pass
	h.assert_true(w.events(), 'the inotify watch saw our own open of the sentinel')


def test_hostile_symlink_at_deleted_name():
	_hostile_name('symlink')


def test_hostile_fifo_at_deleted_name():
	_hostile_name('fifo')
