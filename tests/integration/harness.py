# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Helpers for the integration tests (python3 stdlib only, run as root).

The runner (tests/integration/run) calls begin() before a test function and
end() after it, in a subprocess of its own. Everything a helper starts or
changes registers an undo with defer(); end() runs those in reverse order,
also when the test failed or the runner asked it to stop (SIGTERM).

Asserts raise Fail with "file:line: what: both values"; skip() raises Skip.
PT_PHASETRACE=/path/to/phasetrace tests another build; PT_KEEP_TMP=1 keeps the
per-test temp dirs (certificates, phasetrace's stdout).
"""
import ctypes
import errno
import inspect
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, 'build')
FIXTURES = os.path.join(BUILD, 'fixtures')
PHASETRACE = os.environ.get('PT_PHASETRACE') or os.path.join(BUILD, 'phasetrace')

TEST_DOMAIN = 'phasetrace.test'
BACKEND_HOST = 'backend.' + TEST_DOMAIN
# resolv.conf cannot name a port, so the DNS fixture takes port 53 on an address of
# its own, picked at random in DNS_NET so that concurrent runs do not collide
DNS_NET = '127.53.%d.%d'
READY_TIMEOUT = 10		# s, fixtures
TRACER_READY_TIMEOUT = 30	# s, phasetrace attaching its probes
TRACER_STOP_TIMEOUT = 20	# s, SIGINT -> exit
RUN_TIMEOUT = 30		# s, one traced command

MS = 1000000


class Fail(Exception):
	pass


class TimingFail(Fail):
	"""A measured duration outside its tolerance: the runner runs such a test once
	more (this VM's speed varies by +-30 %) and reports both runs."""
	pass


class Skip(Exception):
	pass


_undo = []
_tmp = None
_dns_addr = None	# the address of the last start_dns()


def begin():
	global _tmp, _undo
	_undo = []
	_tmp = tempfile.mkdtemp(prefix='pt-test-')
	os.chmod(_tmp, 0o755)	# non-root helpers (setpriv tests) may read it


def end():
	errors = []
	while _undo:
		fn, what = _undo.pop()
		try:
			fn()
		except Exception as e:	# keep undoing the rest
			errors.append('%s: %s' % (what, e))
	if _tmp and not os.environ.get('PT_KEEP_TMP'):
		shutil.rmtree(_tmp, ignore_errors=True)
	return errors


def defer(fn, what='cleanup'):
	"""Run fn() at the end of the test, even when it fails."""
	_undo.append((fn, what))


def tmp_path(name):
	return os.path.join(_tmp, name)


def log(msg):
	"""Test output; the runner shows it only when the test fails."""
	print(msg, flush=True)


# ---------------------------------------------------------------- asserts

def _where():
	"""file:line of the test code that called into this module."""
	here = os.path.abspath(__file__)
	frames = [(os.path.basename(f.filename), f.lineno) for f in inspect.stack(0)[1:]
		  if os.path.abspath(f.filename) != here]
	if not frames:
		return '?'
	where = '%s:%d' % frames[0]
	tests = [f for f in frames if f[0].startswith('test_')]
	if tests and tests[0][0] != frames[0][0]:	# an assert in a shared check
		where += ' (from %s:%d)' % tests[0]
	return where


def fail(msg):
	raise Fail('%s: %s' % (_where(), msg))


def timing_fail(msg):
	raise TimingFail('%s: %s' % (_where(), msg))


def skip(reason):
	raise Skip(reason)


def _ms(ns):
	return '%.1f ms' % (ns / MS) if isinstance(ns, (int, float)) else repr(ns)


def assert_true(cond, what):
	if not cond:
		fail(what)


def assert_eq(actual, expected, what):
	if actual != expected:
		fail('%s: got %r, expected %r' % (what, actual, expected))


def assert_near(measured_ns, injected_ns, what, abs_ms=2.0, rel=0.10):
	"""|measured - injected| <= 2 ms + 10% of injected."""
	if not isinstance(measured_ns, (int, float)) or isinstance(measured_ns, bool):
		fail('%s: measured %r is not a number (injected %s)' % (what, measured_ns,
									  _ms(injected_ns)))
	tol = abs_ms * MS + rel * abs(injected_ns)
	if abs(measured_ns - injected_ns) > tol:
		timing_fail('%s: measured %s, injected %s (tolerance %s)' % (what, _ms(measured_ns),
								      _ms(injected_ns), _ms(tol)))


def assert_not_longer(measured_ns, own_ns, what, abs_ms=2.0):
	"""A kernel-side phase against a fixture's own clock around the same call: the
	fixture's figure also counts its wait for a CPU after the call, so the phase
	may be shorter but not longer (2 ms slack)."""
	if not isinstance(measured_ns, (int, float)) or measured_ns > own_ns + abs_ms * MS:
		timing_fail('%s: measured %s, longer than the fixture\'s own %s' % (what, _ms(measured_ns),
									_ms(own_ns)))


def assert_quicker(secs, max_s, what):
	"""A wall-clock bound on something the test timed (start-up, exit, analysis)."""
	if secs >= max_s:
		timing_fail('%s: %.2f s (max %.1f s)' % (what, secs, max_s))


def assert_between(value_ns, lo_ms, hi_ms, what):
	if not isinstance(value_ns, (int, float)) or not lo_ms * MS <= value_ns <= hi_ms * MS:
		timing_fail('%s: measured %s, expected between %.1f and %.1f ms' % (what, _ms(value_ns),
									   lo_ms, hi_ms))


# ---------------------------------------------------------------- processes

def need_root():
	if os.geteuid() != 0:
		skip('needs root')


def need_binary(path, hint='run make'):
	if not os.access(path, os.X_OK):
		fail('%s is missing (%s)' % (os.path.relpath(path, ROOT), hint))


def clean_env():
	"""Environment without proxies: test traffic goes straight to loopback."""
	env = {k: v for k, v in os.environ.items() if 'proxy' not in k.lower()}
	env['LC_ALL'] = 'C'
	return env


def _read_line(fd, timeout, proc):
	"""One line from a pipe fd, without blocking past timeout; None on EOF/timeout."""
	import select
	buf = b''
	deadline = time.monotonic() + timeout
	while not buf.endswith(b'\n'):
		left = deadline - time.monotonic()
		if left <= 0:
			return None
		r, _, _ = select.select([fd], [], [], left)
		if not r:
			return None
		c = os.read(fd, 1)
		if not c:
			return None
		buf += c
	return buf.decode(errors='replace').rstrip('\n')


def _stop(proc, sig=signal.SIGKILL):
	if proc.poll() is None:
		try:
			proc.send_signal(sig)
		except ProcessLookupError:
			pass
		try:
			proc.wait(5)
		except subprocess.TimeoutExpired:
			proc.kill()
			proc.wait()


def _file_text(path, limit=4000):
	try:
		with open(path, errors='replace') as f:
			s = f.read()
	except OSError:
		return ''
	return s if len(s) <= limit else '...' + s[-limit:]


class Fixture:
	"""A fixture process that printed READY [port]."""

	def __init__(self, name, proc, port, stderr_path):
		self.name, self.proc, self.port, self.stderr_path = name, proc, port, stderr_path

	@property
	def pid(self):
		return self.proc.pid

	def stderr(self):
		return _file_text(self.stderr_path)

	def json_log(self):
		"""JSON objects the fixture logged on stderr (lines starting with '{')."""
		with open(self.stderr_path, errors='replace') as f:
			text = ''.join(line for line in f if line.startswith('{'))
		return parse_json_lines(text, self.name + ' stderr')

	def go(self):
		"""Release a client started with --wait."""
		self.proc.stdin.write(b'go\n')
		self.proc.stdin.flush()

	def wait(self, timeout=RUN_TIMEOUT):
		"""Wait for a --wait client to finish; returns (rc, JSON records)."""
		try:
			out, _ = self.proc.communicate(timeout=timeout)
			rc = self.proc.returncode
		except subprocess.TimeoutExpired:
			_stop(self.proc)
			fail('%s did not finish within %d s' % (self.name, timeout))
		recs = parse_json_lines(out.decode(errors='replace'), self.name)
		for r in recs:
			log('%s: %s' % (self.name, json.dumps(r)))
		return rc, recs


def start_fixture(name, *args, prefix=(), stdin=False, timeout=READY_TIMEOUT):
	"""Start build/fixtures/NAME ARGS (under `prefix`, e.g. resolver_ns()), wait for READY."""
	path = os.path.join(FIXTURES, name)
	need_binary(path, 'run make fixtures')
	errp = tmp_path('%s.%d.stderr' % (name, len(_undo)))
	err = open(errp, 'wb')
	argv = list(prefix) + [path] + [str(a) for a in args]
	proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, env=clean_env(),
				stdin=subprocess.PIPE if stdin else subprocess.DEVNULL)
	err.close()
	defer(lambda: _stop(proc), 'stop ' + name)
	line = _read_line(proc.stdout.fileno(), timeout, proc)
	m = re.fullmatch(r'READY(?: (\d+))?', line or '')
	if not m:
		_stop(proc)
		fail('%s did not print READY within %d s (got %r, exit %r): %s' %
		     (name, timeout, line, proc.poll(), _file_text(errp).strip()))
	port = int(m.group(1)) if m.group(1) else None
	log('started %s pid %d%s' % (name, proc.pid, ' port %d' % port if port else ''))
	return Fixture(name, proc, port, errp)


def _descendants(pid):
	"""Pids of pid's children, grandchildren, ... (from /proc, best effort)."""
	out, todo = [], [pid]
	while todo:
		p = todo.pop()
		try:
			tids = os.listdir('/proc/%d/task' % p)
		except OSError:
			continue
		for t in tids:
			try:
				with open('/proc/%d/task/%s/children' % (p, t)) as f:
					kids = [int(k) for k in f.read().split()]
			except OSError:
				continue
			out += kids
			todo += kids
	return out


class Daemon:
	"""A program we did not write (nginx, python3 -m http.server) that said it is ready."""

	def __init__(self, name, proc, log_path):
		self.name, self.proc, self.log_path = name, proc, log_path
		self.lines = []

	@property
	def pid(self):
		return self.proc.pid

	def log_text(self):
		return _file_text(self.log_path)

	def stop(self, sig=signal.SIGTERM, timeout=10):
		"""sig, wait for it to exit, then SIGKILL whatever of its processes is left
		(nginx workers outlive a killed master)."""
		kids = _descendants(self.proc.pid)
		if self.proc.poll() is None:
			self.proc.send_signal(sig)
			try:
				self.proc.wait(timeout)
			except subprocess.TimeoutExpired:
				self.proc.kill()
				self.proc.wait()
		for k in kids:
			try:
				os.kill(k, signal.SIGKILL)
			except ProcessLookupError:
				pass


def start_daemon(name, argv, ready_re, stream='stderr', prefix=(), timeout=READY_TIMEOUT,
		 stop_signal=signal.SIGTERM, count=1):
	"""Start argv and wait until count lines of its stdout/stderr matched ready_re
	(the program's own "listening" message; .match is the last match); the rest of
	that stream goes on to a log file in the temp dir. Stopped with stop_signal at
	teardown, its children too."""
	log_path = tmp_path('%s.%d.log' % (name, len(_undo)))
	logf = open(log_path, 'wb')
	pipe = dict(stdout=subprocess.PIPE, stderr=logf) if stream == 'stdout' else \
	       dict(stdout=logf, stderr=subprocess.PIPE)
	argv = list(prefix) + [str(a) for a in argv]
	log('run: %s' % ' '.join(argv))
	proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, env=clean_env(), **pipe)
	d = Daemon(name, proc, log_path)
	defer(lambda: d.stop(stop_signal), 'stop ' + name)
	out = proc.stdout if stream == 'stdout' else proc.stderr
	deadline = time.monotonic() + timeout
	rx = re.compile(ready_re)
	while True:
		line = _read_line(out.fileno(), max(0, deadline - time.monotonic()), proc)
		if line is None:
			logf.close()
			fail('%s did not say it was ready (%r) within %d s (exit %r): %s' %
			     (name, ready_re, timeout, proc.poll(),
			      ' | '.join(d.lines[-10:]) + _file_text(log_path)))
		d.lines.append(line)
		logf.write((line + '\n').encode())
		logf.flush()
		m = rx.search(line)
		if m:
			d.match = m
			count -= 1
			if count <= 0:
				break

	def drain():	# the program must never block on a full pipe
		for raw in out:
			logf.write(raw)
			logf.flush()
		logf.close()
	threading.Thread(target=drain, daemon=True).start()
	log('started %s pid %d' % (name, proc.pid))
	return d


def parse_json_lines(text, what):
	recs = []
	for n, line in enumerate(text.splitlines(), 1):
		if not line.strip() or line == 'READY':
			continue
		try:
			recs.append(json.loads(line))
		except ValueError:
			fail('%s stdout line %d is not JSON: %r' % (what, n, line[:200]))
	return recs


class Result:
	def __init__(self, rc, stdout, stderr):
		self.rc, self.stdout, self.stderr = rc, stdout, stderr
		self.pid = None

	def json(self, what='command'):
		return parse_json_lines(self.stdout, what)


def run(argv, prefix=(), timeout=RUN_TIMEOUT, user=None):
	"""Run a command to completion; returns Result(rc, stdout, stderr)."""
	argv = list(prefix) + [str(a) for a in argv]
	if user is not None:
		argv = ['setpriv', '--reuid=%d' % user, '--regid=%d' % user,
			'--clear-groups'] + argv
	log('run: %s' % ' '.join(argv))
	p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
			     stdin=subprocess.DEVNULL, env=clean_env())
	try:
		out, err = p.communicate(timeout=timeout)
	except subprocess.TimeoutExpired:
		_stop(p)
		fail('%s did not finish within %d s' % (argv[len(prefix)], timeout))
	res = Result(p.returncode, out.decode(errors='replace'), err.decode(errors='replace'))
	res.pid = p.pid		# with resolver_ns() too: unshare and sh exec the command
	if res.stderr.strip():
		log('  stderr: %s' % res.stderr.strip()[:2000])
	return res


def run_client(*args, prefix=(), timeout=RUN_TIMEOUT, check=True):
	"""build/fixtures/client ARGS; returns (Result, its JSON records)."""
	path = os.path.join(FIXTURES, 'client')
	need_binary(path, 'run make fixtures')
	res = run([path] + list(args), prefix=prefix, timeout=timeout)
	recs = res.json('client')
	if check and res.rc != 0:
		fail('client exited %d: %s' % (res.rc, res.stderr.strip()))
	for r in recs:
		log('client: %s' % json.dumps(r))
	return res, recs


def free_port():
	"""A loopback TCP port nobody listens on (bound then closed)."""
	s = socket.socket()
	s.bind(('127.0.0.1', 0))
	port = s.getsockname()[1]
	s.close()
	return port


# ---------------------------------------------------------------- DNS and TLS

def resolver_ns(dns_addr=None):
	"""Command prefix: run in a private mount namespace whose resolv.conf names dns_addr
	(default: the server of the last start_dns())."""
	need_root()
	dns_addr = dns_addr or _dns_addr
	assert_true(dns_addr, 'resolver_ns() needs a start_dns() first')
	path = tmp_path('resolv.%s.conf' % dns_addr)
	with open(path, 'w') as f:
		f.write('nameserver %s\noptions attempts:1 timeout:5\n' % dns_addr)
	os.chmod(path, 0o644)
	# `unshare -m` (no --fork) and `exec`: the final command keeps the pid Popen saw
	return ['unshare', '-m', 'sh', '-c', 'mount --bind "$0" /etc/resolv.conf && exec "$@"',
		path]


def _free_dns_addr():
	"""A random loopback address whose UDP and TCP port 53 are free."""
	for _ in range(50):
		addr = DNS_NET % (random.randint(1, 254), random.randint(1, 254))
		try:
			for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
				with socket.socket(socket.AF_INET, kind) as s:
					s.bind((addr, 53))
		except OSError:
			continue
		return addr
	fail('no free loopback address for the DNS fixture in %s' % (DNS_NET % (0, 0)))


def start_dns(delay_ms=0, names=None, fail_names=(), addr=None):
	"""dns_server on addr:53 (default: a free random one); names maps host -> IPv4
	(default: the backend -> 127.0.0.1). Later resolver_ns() calls use it."""
	global _dns_addr
	need_root()
	names = {BACKEND_HOST: '127.0.0.1'} if names is None else names
	for n in names:
		assert_true(n.endswith('.' + TEST_DOMAIN), 'test host %s must end in .%s' %
			    (n, TEST_DOMAIN))
		if _in_etc_hosts(n):
			skip('%s is in /etc/hosts: the DNS fixture would not be asked' % n)
	args = ['--port', 53, '--delay-ms', delay_ms]
	for n, ip in names.items():
		args += ['--name', '%s=%s' % (n, ip)]
	for n in fail_names:
		args += ['--fail', n]
	for attempt in range(5):
		a = addr or _free_dns_addr()
		try:
			fx = start_fixture('dns_server', '--addr', a, *args)
		except Fail as e:
			# a concurrent run took the address between the probe and the bind
			if addr or 'in use' not in str(e) or attempt == 4:
				raise
			continue
		_dns_addr = fx.addr = a
		return fx


def _in_etc_hosts(name):
	try:
		with open('/etc/hosts') as f:
			return any(name in line.split()[1:] for line in f
				   if not line.lstrip().startswith('#'))
	except OSError:
		return False


def make_certs(names=(BACKEND_HOST,), ips=('127.0.0.1', '::1')):
	"""Throwaway CA + server certificate (EC P-256) in the test's temp dir.

	Returns dict(ca=, cert=, key=) paths. The server cert has SANs for names and ips.
	"""
	d = tmp_path('pki')
	os.makedirs(d, exist_ok=True)
	p = lambda n: os.path.join(d, n)	# noqa: E731
	ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
	san = ','.join(['DNS:' + n for n in names] + ['IP:' + i for i in ips])
	with open(p('server.ext'), 'w') as f:
		f.write('basicConstraints=critical,CA:FALSE\n'
			'keyUsage=critical,digitalSignature,keyEncipherment\n'
			'extendedKeyUsage=serverAuth\n'
			'subjectKeyIdentifier=hash\n'
			'authorityKeyIdentifier=keyid,issuer\n'
			'subjectAltName=%s\n' % san)
	cmds = [
		['openssl', 'req', '-x509'] + ec + ['-keyout', p('ca.key'), '-out', p('ca.pem'),
		 '-days', '2', '-subj', '/CN=phasetrace test CA',
		 '-addext', 'basicConstraints=critical,CA:TRUE',
		 '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
		['openssl', 'req'] + ec + ['-keyout', p('server.key'), '-out', p('server.csr'),
		 '-subj', '/CN=' + names[0]],
		['openssl', 'x509', '-req', '-in', p('server.csr'), '-CA', p('ca.pem'),
		 '-CAkey', p('ca.key'), '-CAcreateserial', '-days', '2', '-out', p('server.pem'),
		 '-extfile', p('server.ext')],
	]
	for c in cmds:
		r = subprocess.run(c, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
		if r.returncode:
			fail('%s failed: %s' % (' '.join(c[:3]), r.stdout.decode(errors='replace')))
	for f in os.listdir(d):
		os.chmod(p(f), 0o644)
	return {'ca': p('ca.pem'), 'cert': p('server.pem'), 'key': p('server.key')}


def start_backend(ttfb_ms=0, hs_delay_ms=0, certs=None, addr='127.0.0.1', body_bytes=None):
	args = ['--addr', addr, '--port', 0, '--ttfb-ms', ttfb_ms]
	if certs:
		args += ['--tls', certs['cert'], certs['key'], '--hs-delay-ms', hs_delay_ms]
	if body_bytes is not None:
		args += ['--body-bytes', body_bytes]
	return start_fixture('backend', *args)


# ---------------------------------------------------------------- iptables

def drop_first_syn(port, addr='127.0.0.1'):
	"""Drop every other SYN to addr:port: each connect's first SYN is lost and the
	kernel retransmits it after its initial RTO (~1 s). Removed at teardown."""
	need_root()
	if not shutil.which('iptables'):
		skip('iptables is not installed')
	rule = ['INPUT', '-p', 'tcp', '-d', addr, '--dport', str(port), '--syn',
		'-m', 'statistic', '--mode', 'nth', '--every', '2', '--packet', '0',
		'-m', 'comment', '--comment', 'phasetrace-test', '-j', 'DROP']
	r = subprocess.run(['iptables', '-w', '-I'] + rule, stdout=subprocess.PIPE,
			   stderr=subprocess.STDOUT)
	if r.returncode:
		skip('iptables cannot add the SYN drop rule: %s' %
		     r.stdout.decode(errors='replace').strip())
	log('iptables: dropping the first SYN to %s:%d' % (addr, port))

	def remove():
		subprocess.run(['iptables', '-w', '-D'] + rule, check=True,
			       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
	defer(remove, 'remove the iptables rule')


# ---------------------------------------------------------------- phasetrace

def until(cond, seconds):
	"""cond() until true or seconds passed; its last value."""
	deadline = time.monotonic() + seconds
	v = cond()
	while not v and time.monotonic() < deadline:
		time.sleep(0.05)
		v = cond()
	return v


def tcp_open_to(port):
	"""Whether a socket on this host still holds open a TCP connection to port: its
	remote port, in ESTABLISHED or CLOSE_WAIT (its owner has not called close yet)."""
	for tab in ('/proc/net/tcp', '/proc/net/tcp6'):
		try:
			lines = open(tab).read().splitlines()[1:]
		except OSError:
			continue
		for l in lines:
			f = l.split()
			if len(f) > 3 and int(f[2].rsplit(':', 1)[1], 16) == port and \
			   f[3] in ('01', '08'):
				return True
	return False


def map_elements(name):
	"""The entries of the tracer's BPF map name (bpftool's JSON dump): while another
	tracer's maps of that name still exist (one exiting), those of every one."""
	r = run(['bpftool', '-j', 'map', 'dump', 'name', name])
	assert_eq(r.rc, 0, 'bpftool map dump name %s (stderr: %s)' % (name, r.stderr))
	ents = json.loads(r.stdout or '[]')
	if ents and 'elements' in ents[0]:
		return [e for m in ents for e in m['elements']]
	return ents


def bpf_ids_held(pid, kind):
	"""The ids of the BPF objects of kind ('map' or 'prog') whose fds process pid holds
	(from /proc/PID/fdinfo): a tracer's own, not those of an earlier test's tracer still
	detaching (bpftool here does not say which process holds an object)."""
	ids, fdinfo = set(), '/proc/%d/fdinfo' % pid
	for fd in os.listdir(fdinfo):
		try:
			with open(os.path.join(fdinfo, fd)) as f:
				m = re.search(r'^%s_id:\s*(\d+)' % kind, f.read(), re.M)
		except OSError:	# closed meanwhile
			continue
		if m:
			ids.add(int(m.group(1)))
	return ids


def held_map_dump(pid, name):
	"""bpftool's JSON dump of the one map named name that process pid holds."""
	held = bpf_ids_held(pid, 'map')
	maps = json.loads(run(['bpftool', '-j', 'map', 'show']).stdout or '[]')
	ids = [m['id'] for m in maps if m.get('name') == name and m['id'] in held]
	assert_true(len(ids) == 1, 'one %s map held by process %d: %s' % (name, pid, ids))
	r = run(['bpftool', '-j', 'map', 'dump', 'id', str(ids[0])])
	assert_eq(r.rc, 0, 'bpftool map dump id %d (stderr: %s)' % (ids[0], r.stderr))
	return json.loads(r.stdout or '[]')


def ctx_entries(name, pid):
	"""Entries of process pid in a table keyed by execution context (threads, spans,
	go_gs: keys begin with tgid << 32 | thread id or goroutine)."""
	return sum(1 for e in map_elements(name) if int.from_bytes(
		bytes(int(x, 16) for x in e['key'][:8]), 'little') >> 32 == pid)


_SYS_BPF = {'x86_64': 321, 'aarch64': 280}
_BPF_MAP_LOOKUP_ELEM, _BPF_MAP_GET_FD_BY_ID = 1, 14


def _bpf(cmd, attr):
	libc = ctypes.CDLL(None, use_errno=True)
	buf = ctypes.create_string_buffer(bytes(attr), 128)
	rc = libc.syscall(_SYS_BPF[os.uname().machine], cmd, buf, 128)
	return rc, ctypes.get_errno()


def task_ctx(pid):
	"""Does process pid's main thread have a context in the tracer's task storage
	(thread_store, --thread-state task)? Looked up as the kernel keys it, by a pidfd."""
	r = run(['bpftool', '-j', 'map', 'show'])
	assert_eq(r.rc, 0, 'bpftool map show (stderr: %s)' % r.stderr)
	maps = [m for m in json.loads(r.stdout or '[]')
		if m.get('name') == 'thread_store' and m.get('type') == 'task_storage']
	assert_true(maps, 'no task_storage map thread_store among the kernel\'s maps')
	pidfd = os.pidfd_open(pid)
	try:
		for m in maps:
			fd, err = _bpf(_BPF_MAP_GET_FD_BY_ID, struct.pack('<III', m['id'], 0, 0))
			if fd < 0:
				continue	# an exiting tracer's map, gone meanwhile
			try:
				val = ctypes.create_string_buffer(m['bytes_value'])
				key = ctypes.c_int(pidfd)
				rc, err = _bpf(_BPF_MAP_LOOKUP_ELEM, struct.pack(
					'<IIQQQ', fd, 0, ctypes.addressof(key),
					ctypes.addressof(val), 0))
				if rc == 0:
					return True
				assert_eq(err, errno.ENOENT, 'thread_store lookup of pid %d' % pid)
			finally:
				os.close(fd)
	finally:
		os.close(pidfd)
	return False


# Arguments every Tracer gets (test_fallback.py runs tests again with the
# syscall tracepoints instead of the sock ones, or thread contexts in a hash table).
TRACER_EXTRA = []


def thread_ctx_in_hash():
	"""Are the tracer's thread contexts in the threads hash (--thread-state hash), not
	in task storage (the default here, Linux 5.13+)?"""
	x = TRACER_EXTRA
	return any(a == '--thread-state' and b == 'hash' for a, b in zip(x, x[1:]))


class Tracer:
	"""build/phasetrace trace --json; ready once it printed 'phasetrace: ready' on stderr."""

	def __init__(self, comms=(), pids=(), duration=None, extra=(), prefix=(), binary=None,
		     command=('trace', '--json')):
		"""prefix: a command that runs it (setpriv ...); binary: another phasetrace;
		command: the subcommand and its first options."""
		need_root()
		need_binary(binary or PHASETRACE)
		argv = list(prefix) + [binary or PHASETRACE] + list(command)
		for c in comms:
			argv += ['-c', c]
		for p in pids:
			argv += ['-p', str(p)]
		if duration is not None:
			argv += ['--duration', str(duration)]
		argv += list(extra) + TRACER_EXTRA
		self.out_path = tmp_path('phasetrace.%d.json' % len(_undo))
		self.err = []
		self.saw_ready = False
		self.ready = threading.Event()
		log('run: %s' % ' '.join(argv))
		out = open(self.out_path, 'wb')
		self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE,
					     stdin=subprocess.DEVNULL, env=clean_env())
		out.close()
		defer(lambda: _stop(self.proc), 'stop phasetrace')
		self.reader = threading.Thread(target=self._drain, daemon=True)
		self.reader.start()
		self.ready.wait(TRACER_READY_TIMEOUT)
		if not self.saw_ready:
			try:
				rc = self.proc.wait(0.5)	# it may be exiting: say how
			except subprocess.TimeoutExpired:
				rc = None
			_stop(self.proc)
			self.reader.join(2)
			why = 'phasetrace exited %d first' % rc if rc is not None else \
			      'not within %d s' % TRACER_READY_TIMEOUT
			fail('"phasetrace: ready" not seen (%s); stderr:\n%s' %
			     (why, self.stderr() or '(empty)'))
		log('phasetrace pid %d ready' % self.proc.pid)

	def _drain(self):
		# stderr is a pipe: the ready line wakes us, no polling; keep draining so the
		# tracer never blocks on a full pipe
		for raw in self.proc.stderr:
			line = raw.decode(errors='replace').rstrip('\n')
			self.err.append(line)
			if line.strip() == 'phasetrace: ready':
				self.saw_ready = True
				self.ready.set()
		self.ready.set()	# EOF: wake the waiter, it checks the exit status

	def stderr(self):
		return '\n'.join(self.err[-50:])

	def stop(self, sigint=True, timeout=TRACER_STOP_TIMEOUT):
		"""SIGINT (or, with sigint=False, wait for --duration to end), expect exit 0;
		returns every JSON object it printed."""
		if sigint and self.proc.poll() is None:
			self.proc.send_signal(signal.SIGINT)
		try:
			rc = self.proc.wait(timeout)
		except subprocess.TimeoutExpired:
			_stop(self.proc)
			fail('phasetrace did not exit within %d s%s; stderr:\n%s' %
			     (timeout, ' of SIGINT' if sigint else '', self.stderr()))
		self.reader.join(5)
		if rc != 0:
			fail('phasetrace exited %d after SIGINT; stderr:\n%s' % (rc, self.stderr()))
		with open(self.out_path, errors='replace') as f:
			recs = parse_json_lines(f.read(), 'phasetrace')
		for r in recs:
			log('phasetrace: %s' % json.dumps(r))
		return recs


def client_records(recs, pid=None, comm=None, peer=None):
	"""role=client records, optionally of one pid/comm/peer, oldest first."""
	out = [r for r in recs if r.get('role') == 'client' and
	       (pid is None or r.get('pid') == pid) and
	       (comm is None or r.get('comm') == comm) and
	       (peer is None or r.get('peer') == peer)]
	return sorted(out, key=lambda r: r.get('start_ns') or 0)


def server_records(recs, pid=None, comm=None, path=None, local_port=None):
	"""role=server records, optionally of one pid/comm/path/listening port, oldest first."""
	out = [r for r in recs if r.get('role') == 'server' and
	       (pid is None or r.get('pid') == pid) and
	       (comm is None or r.get('comm') == comm) and
	       (path is None or r.get('path') == path) and
	       (local_port is None or r.get('local_port') == local_port)]
	return sorted(out, key=lambda r: r.get('start_ns') or 0)


def phases(rec):
	"""{name: phase} of a record; fails on a malformed or repeated phase."""
	out = {}
	ph = rec.get('phases')
	if not isinstance(ph, list):
		fail('record has no "phases" list: %s' % json.dumps(rec))
	for p in ph:
		if not isinstance(p, dict) or not isinstance(p.get('name'), str) or \
		   not isinstance(p.get('start_ns'), int) or not isinstance(p.get('dur_ns'), int):
			fail('malformed phase %r in %s' % (p, json.dumps(rec)))
		if p['name'] in out:
			fail('phase %s appears twice in %s' % (p['name'], json.dumps(rec)))
		out[p['name']] = p
	return out


def only_one(recs, what):
	if len(recs) != 1:
		fail('expected exactly one %s, got %d: %s' % (what, len(recs),
							      [json.dumps(r) for r in recs]))
	return recs[0]


def timeout(seconds):
	"""Decorator: this test's timeout in the runner (default 60 s)."""
	def deco(f):
		f.timeout = seconds
		return f
	return deco
