# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Escape sequences from traced processes and the network never reach the operator's terminal.

A client renames itself (prctl(PR_SET_NAME)) to a name holding an OSC "set title" sequence
and sends request lines holding OSC, BEL, "clear screen", a C1 CSI (U+009B) and a byte that
is not UTF-8 to the webserver fixture. phasetrace shows both sides of each request:
- `trace` to a file (the waterfall): no ESC, BEL, other controls or C1 bytes at all, and
  the records are there with the names escaped visibly; `trace --json` has the exact strings;
- `trace` and `top` in a tmux terminal: the escaped text is on screen, the pane title is
  unchanged, the screen was not cleared, and the cells hold no sequence but colours.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import time

import harness as h

EVIL_COMM = b'c\x1b]2;pwn\x07'			# sets the terminal title to "pwn"
PATH_OSC = b'/\x1b]0;x\x07\x1b[2J'		# title "x", then clear the screen
PATH_C1 = b'/c1\xc2\x9b2J\x9b'			# CSI as U+009B, then a lone 0x9b byte
SHOWN_COMM = r'c\x1b]2;pwn\x07'
SHOWN_OSC = r'/\x1b]0;x\x07\x1b[2J'
SHOWN_C1 = (r'/c1\u009b2J\x9b', r'/c1\xc2\x9b2J\x9b')	# UTF-8 locale / any other
MARKER = 'MARK-%d' % (6 * 7 * 1000 + 7)

# One request per line on stdin (both paths, a connection each), "quit" to exit.
CLIENT = r'''
import ctypes, socket, sys
ctypes.CDLL(None).prctl(15, ctypes.c_char_p(%r), 0, 0, 0)
port = int(sys.argv[1])
print('READY', flush=True)
for line in sys.stdin:
	if line.strip() == 'quit':
		break
	for path in (%r, %r):
		s = socket.create_connection(('127.0.0.1', port))
		s.sendall(b'GET ' + path + b' HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
		while s.recv(4096):
			pass
		s.close()
	print('done', flush=True)
''' % (EVIL_COMM, PATH_OSC, PATH_C1)


class HostileClient:
	def __init__(self, port):
		self.proc = subprocess.Popen([sys.executable, '-c', CLIENT, str(port)],
					     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
					     env=h.clean_env())
		h.defer(lambda: h._stop(self.proc), 'stop the hostile client')
		line = self.proc.stdout.readline()
		h.assert_eq(line, b'READY\n', 'hostile client start')
		with open('/proc/%d/comm' % self.proc.pid, 'rb') as f:
			h.assert_eq(f.read().rstrip(b'\n'), EVIL_COMM, 'comm of the hostile client')

	@property
	def pid(self):
		return self.proc.pid

	def requests(self):
		self.proc.stdin.write(b'go\n')
		self.proc.stdin.flush()
		h.assert_eq(self.proc.stdout.readline(), b'done\n', 'hostile client requests')


def _setup():
	h.need_root()
	h.need_binary(h.PHASETRACE)
	ws = h.start_fixture('webserver')
	return ws, HostileClient(ws.port)


def _start_tracer(argv, name):
	"""phasetrace with stdout and stderr to files; returns (proc, out, err) once ready."""
	out, err = h.tmp_path(name + '.out'), h.tmp_path(name + '.err')
	with open(out, 'wb') as o, open(err, 'wb') as e:
		proc = subprocess.Popen([h.PHASETRACE] + argv, stdout=o, stderr=e,
					stdin=subprocess.DEVNULL, env=h.clean_env())
	h.defer(lambda: h._stop(proc), 'stop ' + name)
	deadline = time.monotonic() + h.TRACER_READY_TIMEOUT
	while b'phasetrace: ready' not in open(err, 'rb').read():
		if proc.poll() is not None or time.monotonic() > deadline:
			h.fail('%s not ready (exit %r): %s' % (name, proc.poll(), open(err).read()))
		time.sleep(0.1)
	return proc, out, err


def _stop_tracer(proc, name):
	proc.send_signal(2)
	try:
		rc = proc.wait(h.TRACER_STOP_TIMEOUT)
	except subprocess.TimeoutExpired:
		h.fail('%s did not exit within %d s of SIGINT' % (name, h.TRACER_STOP_TIMEOUT))
	h.assert_eq(rc, 0, '%s exit status' % name)


def _assert_no_control_bytes(data, what):
	"""No C0 control but newline, no DEL, no C1 control (raw or as UTF-8)."""
	for i, b in enumerate(data):
		if (b < 0x20 and b != 0x0a) or b == 0x7f:
			h.fail('%s: control byte 0x%02x at %d: %r' % (what, b, i, data[max(0, i - 40):i + 40]))
	text = data.decode('utf-8', errors='surrogateescape')
	for i, ch in enumerate(text):
		if 0x80 <= ord(ch) <= 0x9f or 0xdc80 <= ord(ch) <= 0xdcff:
			h.fail('%s: C1 control or stray byte %r at %d: %r' % (what, ch, i, text[max(0, i - 40):i + 40]))


@h.timeout(90)
def test_hostile_names_in_waterfall_file_and_json():
	ws, cl = _setup()
	pids = ['-p', str(ws.pid), '-p', str(cl.pid)]
	wf, wf_out, wf_err = _start_tracer(['trace'] + pids, 'waterfall')
	js, js_out, js_err = _start_tracer(['trace', '--json'] + pids, 'json')
	cl.requests()
	time.sleep(1.5)		# idle flush of the responses (500 ms) and a tick
	_stop_tracer(wf, 'phasetrace trace')
	_stop_tracer(js, 'phasetrace trace --json')
	with open(wf_out, 'rb') as f:
		data = f.read()
	with open(wf_err, 'rb') as f:
		err = f.read()
	h.log('waterfall:\n%s' % data.decode(errors='replace'))
	_assert_no_control_bytes(data, 'waterfall on stdout')
	_assert_no_control_bytes(err, 'stderr')
	text = data.decode('utf-8', errors='replace')
	# ground truth: the client sent both paths, was renamed, and talked to the webserver
	h.assert_true(SHOWN_COMM + '[%d]' % cl.pid in text,
		      'client record with the escaped comm %s missing' % SHOWN_COMM)
	h.assert_true(re.search(r'webserver\[%d\].* GET %s 404' % (ws.pid, re.escape(SHOWN_OSC)),
				text), 'server record with the escaped path %s missing' % SHOWN_OSC)
	h.assert_true(any(s in text for s in SHOWN_C1),
		      'a record with the C1 path escaped as %s missing' % ' or '.join(SHOWN_C1))
	with open(js_out, 'rb') as f:
		raw = f.read()
	h.assert_true(all(b < 0x80 for b in raw), 'JSON output is not plain ASCII')
	_assert_no_control_bytes(raw, 'JSON output')
	recs = h.parse_json_lines(raw.decode(), 'phasetrace --json')
	paths = {(r['role'], r.get('path')) for r in recs}
	for role in ('client', 'server'):
		h.assert_true((role, PATH_OSC.decode()) in paths,
			      'JSON %s record with path %r missing: %s' % (role, PATH_OSC, paths))
		h.assert_true((role, '/c1\u009b2J\ufffd') in paths,
			      'JSON %s record with the C1 path (U+009B, then U+FFFD) missing: %s'
			      % (role, paths))
	comms = {r['comm'] for r in recs if r['pid'] == cl.pid}
	h.assert_eq(comms, {EVIL_COMM.decode()}, 'JSON comm of the hostile client')


def _tmux(*args, check=True):
	res = subprocess.run(['tmux', '-L', 'phasetrace-hostile'] + list(args),
			     capture_output=True, timeout=20)
	if check and res.returncode:
		h.fail('tmux %s: %s' % (' '.join(args), res.stderr.decode(errors='replace')))
	return res.stdout.decode('utf-8', errors='surrogateescape')


SGR = re.compile(r'\x1b\[[0-9;:]*m')


def _check_terminal(what, shown):
	"""The pane: escaped names visible, title and earlier lines intact, only colours."""
	plain = _tmux('capture-pane', '-p', '-J', '-t', 't')
	styled = _tmux('capture-pane', '-p', '-e', '-J', '-t', 't')
	title = _tmux('display-message', '-p', '-t', 't', '#{pane_title}').strip()
	h.log('%s screen:\n%s' % (what, plain))
	for s in shown:
		h.assert_true(s in plain, '%s: %s not on screen:\n%s' % (what, s, plain))
	h.assert_true(title not in ('x', 'pwn'), '%s: the pane title was set to %r' % (what, title))
	_assert_no_control_bytes(SGR.sub('', styled).encode('utf-8', errors='surrogateescape'),
				 '%s screen (colours removed)' % what)
	return plain


def _wait_screen(what, pred, act=None, timeout=30):
	deadline = time.monotonic() + timeout
	while True:
		screen = _tmux('capture-pane', '-p', '-J', '-t', 't')
		if pred(screen):
			return screen
		if time.monotonic() > deadline:
			h.fail('%s:\n%s' % (what, screen))
		if act:
			act()
		time.sleep(0.3)


def _in_tmux(command, started):
	"""phasetrace COMMAND -p webserver -p client in a tmux pane, below a marker line;
	returns the client once `started` is on screen."""
	ws, cl = _setup()
	if not shutil.which('tmux'):
		h.skip('tmux is not installed')
	h.defer(lambda: _tmux('kill-server', check=False), 'kill tmux')
	_tmux('new-session', '-d', '-s', 't', '-x', '160', '-y', '40',
	      '-e', 'LANG=C.UTF-8', '-e', 'LC_ALL=C.UTF-8')
	_tmux('send-keys', '-t', 't', 'clear; echo %s' % MARKER, 'Enter')
	_tmux('send-keys', '-t', 't', '%s %s -p %d -p %d' % (h.PHASETRACE, command, ws.pid, cl.pid),
	      'Enter')
	_wait_screen('phasetrace %s did not start' % command, lambda s: started in s)
	return cl


@h.timeout(90)
def test_hostile_names_in_terminal_trace():
	cl = _in_tmux('trace', 'phasetrace: ready')
	cl.requests()
	_wait_screen('no server record on the terminal', lambda s: SHOWN_OSC + ' 404' in s,
		     timeout=10)
	screen = _check_terminal('trace', (SHOWN_COMM, SHOWN_OSC, SHOWN_C1[0]))
	h.assert_true(MARKER in screen, 'the screen was cleared: %s gone' % MARKER)
	_tmux('send-keys', '-t', 't', 'C-c')


@h.timeout(90)
def test_hostile_names_in_top():
	cl = _in_tmux('top -d 1', 'phasetrace top')
	# top shows the slowest request of the last interval: keep requests coming until the
	# client's row and that line are on screen together
	_wait_screen('no hostile client row and slowest request in top',
		     lambda s: 'c\\x1b]2;p' in s and 'slowest request' in s and '\\x1b]0;x' in s,
		     act=cl.requests)
	_check_terminal('top', ('c\\x1b]2;p', '\\x1b]0;x\\x07\\x1b[2J'))
	_tmux('send-keys', '-t', 't', 'q')
	_wait_screen('top did not quit on q', lambda s: MARKER in s)
