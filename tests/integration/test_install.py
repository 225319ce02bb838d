# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Install and run as a service: `make install`, the systemd unit, the DaemonSet, and
phasetrace running with only its capabilities (as uid 65534, and as root dropping the
rest) while tracing a real curl request."""
import os
import re
import shutil
import subprocess

import harness as h

NOBODY = 65534
# what phasetrace checks for and keeps (user/util/caps.h), by capability number
NEEDED = {'CAP_DAC_READ_SEARCH': 2, 'CAP_SYS_PTRACE': 19, 'CAP_PERFMON': 38, 'CAP_BPF': 39}
NEEDED_MASK = sum(1 << n for n in NEEDED.values())
# and CAP_SYS_ADMIN, kept when held, for perf-event uprobes (Go programs, --probe)
FULL = dict(NEEDED, CAP_SYS_ADMIN=21, CAP_KILL=5)	# CAP_KILL: exec holds
FULL_MASK = sum(1 << n for n in FULL.values())
UNIT = os.path.join(h.ROOT, 'deploy', 'systemd', 'phasetrace.service')
DAEMONSET = os.path.join(h.ROOT, 'deploy', 'kubernetes', 'daemonset.yaml')
DEBIAN_PYTHON = '/usr/bin/python3'	# Debian's, with python3-yaml


def _make_install(*args):
	r = subprocess.run(['make', '-s', '-C', h.ROOT, 'install'] + list(args),
			   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
	out = r.stdout.decode(errors='replace')
	h.assert_eq(r.returncode, 0, 'make install %s exit status (output %r)' %
		    (' '.join(args), out))


def test_install_files():
	"""make install DESTDIR=D PREFIX=/usr: binary, man page, unit naming /usr/sbin."""
	h.need_binary(h.PHASETRACE)
	dest = h.tmp_path('destdir')
	_make_install('DESTDIR=' + dest, 'PREFIX=/usr')
	files = {'usr/sbin/phasetrace': 0o755, 'usr/share/man/man8/phasetrace.8': 0o644,
		 'usr/lib/systemd/system/phasetrace.service': 0o644}
	found = sorted(os.path.relpath(os.path.join(d, f), dest)
		       for d, _, fs in os.walk(dest) for f in fs)
	h.assert_eq(found, sorted(files), 'files under DESTDIR')
	for f, mode in files.items():
		h.assert_eq(oct(os.stat(os.path.join(dest, f)).st_mode & 0o777), oct(mode),
			    'mode of %s' % f)
	with open(os.path.join(dest, 'usr/sbin/phasetrace'), 'rb') as a, \
	     open(h.PHASETRACE, 'rb') as b:
		h.assert_true(a.read() == b.read(), 'installed binary is build/phasetrace')
	with open(os.path.join(dest, 'usr/lib/systemd/system/phasetrace.service')) as f:
		execs = re.findall(r'^ExecStart=(.*)$', f.read(), re.M)
	h.assert_eq(execs, ['/usr/sbin/phasetrace serve'], 'ExecStart of the installed unit')


def test_install_man_page():
	"""phasetrace(8) formats without a groff warning and documents every option."""
	if not shutil.which('groff'):
		h.skip('groff is not installed')
	page = os.path.join(h.ROOT, 'docs', 'phasetrace.8')
	r = subprocess.run(['groff', '-man', '-Tutf8', '-ww', page], stdout=subprocess.PIPE,
			   stderr=subprocess.PIPE, env=dict(h.clean_env(), LC_ALL='C.UTF-8'))
	h.assert_eq(r.returncode, 0, 'groff exit status')
	h.assert_eq(r.stderr.decode(errors='replace'), '', 'groff warnings')
	text = re.sub(r'.\x08', '', r.stdout.decode(errors='replace'))
	usage = h.run([h.PHASETRACE, '--help']).stdout
	opts = set(re.findall(r'(--[a-z][a-z-]+|(?<![\w-])-[a-z]\b)', usage))
	h.assert_true(len(opts) > 15, 'options found in --help: %s' % sorted(opts))
	for o in sorted(opts):
		h.assert_true(re.search(r'(?<![\w-])%s\b' % re.escape(o), text),
			      'the man page does not document %s' % o)
	for w in ('trace', 'top', 'serve', 'EXIT STATUS', 'FILES', 'EXAMPLES') + tuple(FULL):
		h.assert_true(w in text, 'the man page does not mention %s' % w)


def test_install_unit_verify():
	"""systemd-analyze verify accepts the installed unit (ExecStart and man page found)."""
	if not shutil.which('systemd-analyze'):
		h.skip('systemd-analyze is not installed')
	prefix = h.tmp_path('prefix')
	_make_install('PREFIX=' + prefix)
	unit = os.path.join(prefix, 'lib/systemd/system/phasetrace.service')
	env = dict(h.clean_env(), MANPATH=os.path.join(prefix, 'share/man'))
	r = subprocess.run(['systemd-analyze', 'verify', unit], stdout=subprocess.PIPE,
			   stderr=subprocess.STDOUT, env=env)
	out = r.stdout.decode(errors='replace')
	h.log('systemd-analyze verify: %s' % out.strip())
	h.assert_eq(r.returncode, 0, 'systemd-analyze verify exit status (output %r)' % out)
	# no host systemd here: only complaints about the unit itself count
	bad = [l for l in out.splitlines() if 'sysinit.target not found' not in l]
	h.assert_eq(bad, [], 'systemd-analyze verify complaints')
	with open(unit) as f:
		text = f.read()
	for key in ('CapabilityBoundingSet', 'AmbientCapabilities'):
		vals = re.findall(r'^%s=(.*)$' % key, text, re.M)
		h.assert_eq([sorted(v.split()) for v in vals], [sorted(FULL)], key)
	for want in ('DynamicUser=yes', 'NoNewPrivileges=yes', 'ProtectSystem=strict',
		     'ProtectHome=yes', 'PrivateTmp=yes', 'SystemCallArchitectures=native',
		     'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX', 'LimitMEMLOCK=infinity'):
		h.assert_true(re.search('^%s$' % re.escape(want), text, re.M),
			      'the unit has no %s' % want)


def _caps(pid):
	"""{CapEff: int, ...} of every thread of pid: {tid: {...}}."""
	out = {}
	for tid in os.listdir('/proc/%d/task' % pid):
		with open('/proc/%d/task/%s/status' % (pid, tid)) as f:
			out[int(tid)] = {k: v.strip() for k, v in
					 (l.split(':', 1) for l in f if ':' in l)}
	return out


def _check_kept(pid, mask, inherited):
	"""Every thread of pid holds exactly mask in CapEff/CapPrm/CapBnd."""
	threads = _caps(pid)
	h.assert_true(len(threads) >= 2, 'phasetrace --listen runs the exporter thread too')
	for tid, st in threads.items():
		h.log('thread %d: CapEff %s CapPrm %s CapBnd %s CapInh %s CapAmb %s NoNewPrivs %s' %
		      (tid, st['CapEff'], st['CapPrm'], st['CapBnd'], st['CapInh'],
		       st['CapAmb'], st.get('NoNewPrivs')))
		for k in ('CapEff', 'CapPrm', 'CapBnd'):
			h.assert_eq(hex(int(st[k], 16)), hex(mask), '%s of thread %d' % (k, tid))
		for k in ('CapInh', 'CapAmb'):
			h.assert_eq(hex(int(st[k], 16)), hex(inherited), '%s of thread %d' % (k, tid))
		h.assert_eq(st.get('NoNewPrivs'), '1', 'NoNewPrivs of thread %d' % tid)


def _nobody_binary():
	"""build/phasetrace, or a copy uid 65534 can run."""
	h.need_binary(h.PHASETRACE)
	if h.run(['test', '-x', h.PHASETRACE], user=NOBODY).rc == 0:
		return h.PHASETRACE
	path = h.tmp_path('phasetrace')
	shutil.copy(h.PHASETRACE, path)
	os.chmod(path, 0o755)
	return path


def _setpriv(caps):
	lst = ','.join(['-all'] + ['+' + c[4:].lower() for c in caps])
	return ['setpriv', '--reuid=%d' % NOBODY, '--regid=%d' % NOBODY, '--clear-groups',
		'--inh-caps=' + lst, '--ambient-caps=' + lst, '--bounding-set=' + lst]


def _trace_curl(prefix=(), binary=None):
	"""A real curl HTTPS request (root's, so uprobes on root's libssl) while phasetrace
	runs; returns (tracer, curl's record)."""
	if not shutil.which('curl'):
		h.skip('curl is not installed')
	certs = h.make_certs()
	be = h.start_backend(ttfb_ms=120, hs_delay_ms=80, certs=certs)
	tr = h.Tracer(comms=['curl'], extra=['--listen', '127.0.0.1:0'], prefix=prefix,
		      binary=binary)
	res = h.run(['curl', '-sS', '-o', '/dev/null', '--cacert', certs['ca'],
		     'https://127.0.0.1:%d/install' % be.port])
	h.assert_eq(res.rc, 0, 'curl exit status')
	return tr, res


def _check_record(tr, res):
	recs = tr.stop()
	rec = h.only_one(h.client_records(recs, pid=res.pid), 'curl request')
	h.assert_eq(rec.get('path'), '/install', 'path of the traced request')
	h.assert_eq(rec.get('tls'), True, 'tls of the traced request')
	ph = h.phases(rec)
	for name in ('connect', 'tls', 'ttfb'):
		h.assert_true(name in ph, 'phase %s in %s' % (name, sorted(ph)))
	h.assert_near(ph['tls']['dur_ns'], 80 * h.MS, 'tls phase (handshake delay)', abs_ms=10)
	h.assert_near(ph['ttfb']['dur_ns'], 120 * h.MS, 'ttfb phase (injected)', abs_ms=10)


@h.timeout(90)
def test_install_caps_nonroot():
	"""uid 65534 with exactly the needed capabilities traces a real request, and holds
	nothing more (CapBnd was narrowed by setpriv, as systemd's CapabilityBoundingSet)."""
	h.need_root()
	if not shutil.which('setpriv'):
		h.skip('setpriv is not installed')
	tr, res = _trace_curl(_setpriv(NEEDED), _nobody_binary())
	_check_kept(tr.proc.pid, NEEDED_MASK, NEEDED_MASK)
	with open('/proc/%d/status' % tr.proc.pid) as f:
		uid = re.search(r'^Uid:\s+(\d+)', f.read(), re.M).group(1)
	h.assert_eq(uid, str(NOBODY), 'uid of the tracer')
	_check_record(tr, res)


@h.timeout(90)
def test_install_caps_root_drops():
	"""Started as root with every capability, it keeps only the needed ones and
	CAP_SYS_ADMIN, in every thread, bounding set included."""
	tr, res = _trace_curl()
	_check_kept(tr.proc.pid, FULL_MASK, 0)
	_check_record(tr, res)


def test_install_caps_missing():
	"""One capability short: one sentence naming it, exit 1, nothing loaded."""
	h.need_root()
	if not shutil.which('setpriv'):
		h.skip('setpriv is not installed')
	caps = [c for c in NEEDED if c != 'CAP_SYS_PTRACE']
	res = h.run([_nobody_binary(), 'trace'], prefix=_setpriv(caps))
	h.assert_eq(res.rc, 1, 'exit status without CAP_SYS_PTRACE')
	lines = res.stderr.strip().splitlines()
	h.assert_eq(len(lines), 1, 'stderr lines (%r)' % res.stderr)
	h.assert_true('CAP_SYS_PTRACE' in lines[0] and 'CAP_BPF' not in lines[0],
		      'the message names exactly the missing capability: %r' % lines[0])
	h.assert_true(re.search(r'sudo', lines[0]) and 'AmbientCapabilities' in lines[0],
		      'the message says what to do: %r' % lines[0])


def _yaml_docs():
	if not os.path.exists(DEBIAN_PYTHON):
		h.skip('%s is not installed' % DEBIAN_PYTHON)
	code = ('import json, sys, yaml\n'
		'print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))\n')
	r = subprocess.run([DEBIAN_PYTHON, '-c', code, DAEMONSET], stdout=subprocess.PIPE,
			   stderr=subprocess.PIPE)
	if b'No module named' in r.stderr:
		h.skip('python3-yaml is not installed (apt-get install python3-yaml)')
	h.assert_eq(r.returncode, 0, 'parsing %s (stderr %r)' % (DAEMONSET, r.stderr))
	import json
	return json.loads(r.stdout)


def test_install_daemonset():
	"""The DaemonSet: valid YAML with the fields a node agent like this needs."""
	docs = _yaml_docs()
	ds = [d for d in docs if d.get('kind') == 'DaemonSet']
	ds = h.only_one(ds, 'DaemonSet')
	h.assert_eq(ds.get('apiVersion'), 'apps/v1', 'apiVersion')
	spec = ds['spec']
	tmpl = spec['template']
	h.assert_eq(spec['selector']['matchLabels'],
		    {k: tmpl['metadata']['labels'][k] for k in spec['selector']['matchLabels']},
		    'selector matches the template labels')
	ann = tmpl['metadata']['annotations']
	h.assert_eq((ann.get('prometheus.io/scrape'), ann.get('prometheus.io/port'),
		     ann.get('prometheus.io/path')), ('true', '9873', '/metrics'),
		    'scrape annotations')
	pod = tmpl['spec']
	h.assert_eq(pod.get('hostPID'), True, 'hostPID')
	h.assert_true({'operator': 'Exists'} in pod.get('tolerations', []),
		      'tolerates every taint')
	c = h.only_one(pod['containers'], 'container')
	args = c.get('command', []) + c.get('args', [])
	h.assert_true('serve' in args and '0.0.0.0:9873' in args, 'serve --listen: %s' % args)
	h.assert_true(9873 in [p['containerPort'] for p in c['ports']], 'port 9873 declared')
	sc = c['securityContext']
	h.assert_eq(sc['capabilities']['drop'], ['ALL'], 'capabilities dropped')
	h.assert_eq(sorted('CAP_' + a for a in sc['capabilities']['add']), sorted(FULL),
		    'capabilities added')
	h.assert_true(sc.get('privileged') is not True, 'not privileged')
	for k in ('requests', 'limits'):
		h.assert_true({'cpu', 'memory'} <= set(c['resources'].get(k, {})), 'resources.%s' % k)
	probe = c['readinessProbe']['httpGet']
	h.assert_eq(probe['path'], '/metrics', 'readiness probe path')
	h.assert_true(probe['port'] in (9873, 'metrics'), 'readiness probe port')
	vols = {v['name']: v for v in pod['volumes']}
	mounts = {m['name']: m for m in c['volumeMounts']}
	h.assert_eq(sorted(mounts), sorted(vols), 'every mount has a volume and back')
	paths = {vols[n]['hostPath']['path']: m for n, m in mounts.items()}
	for p in ('/sys/kernel/btf', '/sys/kernel/tracing', '/sys/fs/cgroup'):
		h.assert_true(p in paths, 'host %s mounted' % p)
		h.assert_eq(paths[p]['mountPath'], p, 'mount path of %s' % p)
		h.assert_eq(paths[p].get('readOnly'), True, '%s read-only' % p)


def test_install_caps_probe_needs_sys_admin():
	"""--probe spans are perf-event uprobes, which the kernel gives CAP_SYS_ADMIN only:
	without it, one sentence naming it, exit 1."""
	h.need_root()
	if not shutil.which('setpriv'):
		h.skip('setpriv is not installed')
	probe = 'render=%s:render_page' % os.path.join(h.FIXTURES, 'webserver')
	res = h.run([_nobody_binary(), 'trace', '--probe', probe], prefix=_setpriv(NEEDED))
	h.assert_eq(res.rc, 1, 'exit status of --probe without CAP_SYS_ADMIN')
	lines = res.stderr.strip().splitlines()
	h.assert_eq(len(lines), 1, 'stderr lines (%r)' % res.stderr)
	h.assert_true('CAP_SYS_ADMIN' in lines[0] and 'CAP_BPF' not in lines[0],
		      'the message names exactly CAP_SYS_ADMIN: %r' % lines[0])
