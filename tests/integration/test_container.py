# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Container identity (issue 13): real processes (curl, the backend fixture) run in
cgroup v2 directories the test creates, named the way docker, containerd under
Kubernetes (systemd driver) and the kubepods cgroupfs layout name theirs, each
inside new mount and PID namespaces (unshare --fork --pid --mount-proc). Every
record's cgroup, container and pod_uid are checked against the names the test
chose and the cgroup id against the directory's; -C keeps only one container's
traffic (with its phases against the injected time to first byte), picks up a
container created after the tracer started, and refuses a name that matches
nothing; --labels comm,container labels the metrics. The cgroups are removed at
teardown (processes moved to the root first)."""
import os
import re
import secrets
import subprocess
import time
import urllib.request

import harness as h
from harness import MS

TTFB_MS = 150


def _cgroot():
	"""The cgroup2 mount (as phasetrace finds it), checked writable; skips otherwise."""
	h.need_root()
	mounts = []
	with open('/proc/self/mountinfo') as f:
		for line in f:
			fields = line.split()
			if ' - cgroup2 ' in line:
				mounts.append(fields[4])
	if not mounts:
		h.skip('no cgroup2 hierarchy is mounted')
	root = '/sys/fs/cgroup' if '/sys/fs/cgroup' in mounts else mounts[0]
	if not os.access(os.path.join(root, 'cgroup.procs'), os.W_OK):
		h.skip('%s/cgroup.procs is not writable' % root)
	return root


def _hex(n):
	return secrets.token_hex(n // 2)


def _uid():
	u = _hex(32)
	return '%s-%s-%s-%s-%s' % (u[:8], u[8:12], u[12:16], u[16:20], u[20:])


def _remove_cgroup(root, path):
	"""Move what is left in path to the root cgroup, then rmdir it."""
	full = os.path.join(root, path.lstrip('/'))
	for _ in range(50):
		try:
			with open(os.path.join(full, 'cgroup.procs')) as f:
				pids = f.read().split()
		except FileNotFoundError:
			return
		for p in pids:
			try:
				with open(os.path.join(root, 'cgroup.procs'), 'w') as f:
					f.write(p)
			except OSError:
				pass	# exited meanwhile
		try:
			os.rmdir(full)
			return
		except OSError:
			time.sleep(0.05)	# a process still leaving
	h.log('could not remove cgroup %s' % full)


def _make_cgroup(root, path):
	"""mkdir -p under the cgroup2 root; the directories made are removed at teardown
	(deepest first: the deferred actions run in reverse order)."""
	cur = root
	for part in path.strip('/').split('/'):
		cur = os.path.join(cur, part)
		if not os.path.isdir(cur):
			os.mkdir(cur)
			rel = cur[len(root):]
			h.defer(lambda rel=rel: _remove_cgroup(root, rel), 'remove cgroup ' + rel)
	return cur


class Box:
	"""A cgroup shaped like a container runtime's, with the names it encodes."""

	def __init__(self, root, kind):
		self.root, self.kind = root, kind
		self.id, self.pod = _hex(64), None
		if kind == 'docker':
			self.path = '/system.slice/docker-%s.scope' % self.id
			self.runtime = 'docker'
		elif kind == 'containerd':
			self.pod = _uid()
			slice_ = 'kubepods-burstable-pod%s.slice' % self.pod.replace('-', '_')
			self.path = '/kubepods.slice/kubepods-burstable.slice/%s/cri-containerd-%s.scope' \
				    % (slice_, self.id)
			self.runtime = 'containerd'
		else:	# kubelet's cgroupfs driver: the runtime is not in the path
			self.pod = _uid()
			self.path = '/kubepods/burstable/pod%s/%s' % (self.pod, self.id)
			self.runtime = 'cri'
		self.dir = None

	def create(self):
		self.dir = _make_cgroup(self.root, self.path)
		self.cgroup_id = os.stat(self.dir).st_ino	# the kernfs id on 64-bit kernels
		h.log('cgroup %s (id %d)' % (self.path, self.cgroup_id))
		return self

	def prefix(self):
		"""Run a command in this cgroup, in new PID and mount namespaces."""
		return ['sh', '-c', 'echo $$ > "$0" && exec "$@"',
			os.path.join(self.dir, 'cgroup.procs'),
			'unshare', '--fork', '--kill-child', '--pid', '--mount-proc']

	def curl(self, port, path='/'):
		res = h.run(['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}',
			     'http://127.0.0.1:%d%s' % (port, path)], prefix=self.prefix())
		h.assert_eq((res.rc, res.stdout), (0, '200'), 'curl in %s' % self.path)

	def check(self, rec, what):
		"""Every container field of one record."""
		h.assert_eq(rec.get('cgroup'), self.path, what + ': cgroup')
		h.assert_eq(rec.get('cgroup_id'), self.cgroup_id, what + ': cgroup_id')
		h.assert_eq(rec.get('container'), {'runtime': self.runtime, 'id': self.id},
			    what + ': container')
		h.assert_eq(rec.get('pod_uid'), self.pod, what + ': pod_uid')


def _need_curl():
	if not subprocess.run(['sh', '-c', 'command -v curl'], stdout=subprocess.DEVNULL).\
	   returncode == 0:
		h.skip('curl is not installed')


def _of(recs, box, role):
	return [r for r in recs if r.get('role') == role and r.get('cgroup_id') == box.cgroup_id]


def _check_ttfb(rec, what):
	ph = h.phases(rec)
	h.assert_true('ttfb' in ph, '%s has a ttfb phase: %s' % (what, sorted(ph)))
	h.assert_near(ph['ttfb']['dur_ns'], TTFB_MS * MS, what + ': ttfb vs the injected delay')


def test_container_fields():
	"""docker-shaped server, containerd and cgroupfs kubepods clients: every field."""
	_need_curl()
	root = _cgroot()
	srv = Box(root, 'docker').create()
	cli = [Box(root, 'containerd').create(), Box(root, 'cgroupfs').create()]
	tr = h.Tracer(comms=['curl', 'backend'])
	be = h.start_fixture('backend', '--addr', '127.0.0.1', '--port', 0, '--ttfb-ms', TTFB_MS,
			     prefix=srv.prefix())
	for b in cli:
		b.curl(be.port, '/from-' + b.kind)
	recs = tr.stop()
	for b in cli:
		what = 'curl in ' + b.kind
		c = h.only_one(_of(recs, b, 'client'), 'client record of ' + what)
		b.check(c, what)
		_check_ttfb(c, what)
		s = h.only_one([r for r in _of(recs, srv, 'server') if r.get('path') ==
				'/from-' + b.kind], 'server record of the request of ' + what)
		srv.check(s, 'backend serving ' + what)
		h.assert_eq(s.get('comm'), 'backend', 'comm of the server record')
		_check_ttfb(s, 'backend serving ' + what)


def test_container_filter():
	"""-C: one container's records only; a container created later is picked up."""
	_need_curl()
	root = _cgroot()
	srv = Box(root, 'docker').create()
	want, other, later = (Box(root, 'containerd').create(), Box(root, 'docker').create(),
			      Box(root, 'cgroupfs'))
	be = h.start_fixture('backend', '--addr', '127.0.0.1', '--port', 0, '--ttfb-ms', TTFB_MS,
			     prefix=srv.prefix())
	tr = h.Tracer(extra=['-v', '-C', want.id[:12], '-C', later.id])
	later.create()
	# the tracer rescans every second; -v says when it added the new cgroup
	deadline = time.monotonic() + 10
	while not any(re.search(r'-C: \d+ more cgroups traced', l) for l in tr.err):
		if time.monotonic() > deadline:
			h.fail('the cgroup made after start was not picked up within 10 s: %s' %
			       tr.stderr())
		time.sleep(0.05)
	for b in (want, other, later):
		b.curl(be.port, '/from-' + b.kind)
	res = h.run(['curl', '-sS', '-o', '/dev/null', 'http://127.0.0.1:%d/host' % be.port])
	h.assert_eq(res.rc, 0, 'curl on the host')
	recs = tr.stop()
	for b in (want, later):
		c = h.only_one(_of(recs, b, 'client'), 'client record in ' + b.kind)
		b.check(c, 'curl in ' + b.kind)
		_check_ttfb(c, 'curl in ' + b.kind)
	stray = [r for r in recs if r.get('cgroup_id') not in (want.cgroup_id, later.cgroup_id)]
	h.assert_eq(stray, [], 'records of other cgroups (the server, the other container, '
		    'the host) under -C')


def test_container_filter_errors():
	root = _cgroot()
	h.need_binary(h.PHASETRACE)
	res = h.run([h.PHASETRACE, 'trace', '--duration', '1', '-C', _hex(64)])
	h.assert_true(res.rc != 0, 'exit status with a -C nothing matches (%d)' % res.rc)
	h.assert_true(re.search(r'no container matches [0-9a-f]{64} under ' + re.escape(root),
				res.stderr), 'one sentence naming the id: %r' % res.stderr)
	res = h.run([h.PHASETRACE, 'trace', '-C', 'x;rm'])
	h.assert_eq(res.rc, 2, 'exit status of a -C that is no id')
	h.assert_true('neither a container id' in res.stderr, 'message: %r' % res.stderr)


def _metrics_after(box, be, *labels):
	port = h.free_port()
	d = h.start_daemon('phasetrace', [h.PHASETRACE, 'serve', '--listen',
					  '127.0.0.1:%d' % port, '-c', 'curl'] + list(labels),
			   r'^phasetrace: ready$', stop_signal=2, timeout=60)
	box.curl(be.port)
	deadline = time.monotonic() + 20
	rx = re.compile(r'^phasetrace_requests_total\{[^}]*comm="curl"[^}]*\} [1-9]', re.M)
	while True:
		with urllib.request.urlopen('http://127.0.0.1:%d/metrics' % port, timeout=10) as r:
			text = r.read().decode()
		if rx.search(text) or time.monotonic() > deadline:
			break
		time.sleep(0.2)
	d.stop(2)
	lines = [l for l in text.splitlines() if l.startswith('phasetrace_') and 'comm="curl"' in l]
	h.assert_true(lines, 'curl series in /metrics:\n%s' % text[-3000:])
	return lines


@h.timeout(150)	# two tracers start; each waits for the initial scan (up to ~30 s when loaded)
def test_container_metric_labels():
	"""--labels comm,container adds the 12-digit id; the default has no container label."""
	_need_curl()
	root = _cgroot()
	box = Box(root, 'containerd').create()
	be = h.start_fixture('backend', '--addr', '127.0.0.1', '--port', 0, '--ttfb-ms', 20)
	lines = _metrics_after(box, be, '--labels', 'comm,container')
	mine = [l for l in lines if 'container="%s"' % box.id[:12] in l]
	h.assert_true(mine and any(l.startswith('phasetrace_phase_duration_seconds') for l in mine),
		      'series labelled container="%s": %s' % (box.id[:12], lines[:5]))
	lines = _metrics_after(box, be)
	h.assert_eq([l for l in lines if 'container=' in l], [], 'container labels by default')


def _tmux(*args, check=True):
	res = subprocess.run(['tmux', '-L', 'phasetrace-container'] + list(args),
			     capture_output=True, text=True, timeout=20)
	if check and res.returncode:
		h.fail('tmux %s: %s' % (' '.join(args), res.stderr))
	return res.stdout


def test_container_top_column():
	"""top's CONTAINER column shows the 12-digit id of the container curl runs in."""
	_need_curl()
	root = _cgroot()
	h.need_binary(h.PHASETRACE)
	if subprocess.run(['sh', '-c', 'command -v tmux'], stdout=subprocess.DEVNULL).returncode:
		h.skip('tmux is not installed')
	box = Box(root, 'docker').create()
	be = h.start_fixture('backend', '--addr', '127.0.0.1', '--port', 0, '--ttfb-ms', 20)
	h.defer(lambda: _tmux('kill-server', check=False), 'kill tmux')
	_tmux('new-session', '-d', '-s', 't', '-x', '160', '-y', '30')
	_tmux('send-keys', '-t', 't', '%s top -c curl -d 0.5' % h.PHASETRACE, 'Enter')
	deadline = time.monotonic() + 30
	while 'CONTAINER' not in _tmux('capture-pane', '-p', '-t', 't'):
		if time.monotonic() > deadline:
			h.fail('top did not draw: %s' % _tmux('capture-pane', '-p', '-t', 't'))
		time.sleep(0.2)
	row, deadline = None, time.monotonic() + 30
	while not row and time.monotonic() < deadline:
		box.curl(be.port)
		screen = _tmux('capture-pane', '-p', '-t', 't')
		row = next((l for l in screen.splitlines() if l.split()[:2] == ['curl', box.id[:12]]),
			   None)
	h.assert_true(row, 'no row "curl %s" in top:\n%s' % (box.id[:12], screen))
	h.log('top row: %s' % row)
	_tmux('send-keys', '-t', 't', 'q')
