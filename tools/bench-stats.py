#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Summaries for tools/bench and tools/bench-go (run by them, not by hand):
#   bench-stats.py diff BEFORE AFTER PROGS_JSON REQUESTS > ROUNDFILE
#       one traced round: per BPF program (by id, named from `bpftool prog show -j`)
#       the run_cnt and run_time_ns it gained (kernel.bpf_stats_enabled), and the
#       wrk requests of the round
#   bench-stats.py table ROUNDFILE...
#       per program over the rounds: hits/request and ns/hit (median and range),
#       the BPF time per request, and the socket hooks' ns per hit together
#   bench-stats.py perfsum TRACER_PID PERF_PID < PERF_SCRIPT > SUMMARY
#       `perf script -F pid,ip,sym` of a traced round recorded with callchains
#       (tools/bench -F): samples of the BPF functions (own code, and with the helpers
#       they call), of the hooks' dispatch, of uprobe handling, of the tracer process,
#       and the host's busy samples
#   bench-stats.py functions SUMMARY...
#       over those rounds: tracing's share of the busy CPU, and each BPF function's,
#       with and without the helpers it calls
#   bench-stats.py ratios NAME U0 T1 U1 T2 U2 ...
#       alternating untraced/traced rounds: each traced round against the mean of
#       the untraced rounds around it; median, range, and a 95 % confidence interval
#       of the median (from 6 rounds on)
#   bench-stats.py pairs OLD_ROUNDFILE... -- NEW_ROUNDFILE...
#       rounds in which both builds traced the same requests at once (bench-compare
#       -P; the old build's file of a round says "first old|new", the build attached
#       first): per round each build's BPF ns per request and new/old; the median
#       ratio and its range, per attach order and with the order cancelled, and per
#       program the ns per hit of each build
#   bench-stats.py over NAME U0 T1 U1 T2 ... -- U0 F1 U1 F2 ...
#       each traced round against the hooks-alone round next to it (tools/bench -f):
#       what the tracer's work costs beyond its hooks' dispatch and filter
import json
import math
import re
import statistics
import sys


def snapshot(path):
    out = {}
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) == 3:
                out[int(p[0])] = (int(p[1]), int(p[2]))
    return out


def diff(before, after, progs_json, requests):
    s0, s1 = snapshot(before), snapshot(after)
    with open(progs_json) as f:
        names = {p['id']: p.get('name', '?') for p in json.load(f)}
    print('requests %d' % int(float(requests)))
    agg = {}
    for pid, (cnt, ns) in s1.items():
        c0, n0 = s0.get(pid, (0, 0))
        name = names.get(pid, 'prog%d' % pid)
        a = agg.setdefault(name, [0, 0])
        a[0] += cnt - c0
        a[1] += ns - n0
    for name, (cnt, ns) in sorted(agg.items()):
        if cnt:
            print('prog %s %d %d' % (name, cnt, ns))


# programs on socket I/O and TCP state (bpf/io.bpf.c, bpf/tcp.bpf.c), by name
SOCKET_HOOKS = ('sock_', 'tcp_', 'inet_sock_')


def rng(v, fmt):
    return (fmt + ' (' + fmt + '-' + fmt + ')') % (statistics.median(v), min(v), max(v))


def round_file(path):
    r = {'requests': 0, 'progs': {}, 'first': None}
    with open(path) as f:
        for line in f:
            p = line.split()
            if p[0] == 'requests':
                r['requests'] = int(p[1])
            elif p[0] == 'first':
                r['first'] = p[1]
            elif p[0] == 'prog':
                r['progs'][p[1]] = (int(p[2]), int(p[3]))
    return r


def pairs(args):
    k = args.index('--')
    old, new = [round_file(f) for f in args[:k]], [round_file(f) for f in args[k + 1:]]
    if len(old) != len(new) or not old:
        sys.exit('pairs: as many rounds of each build, at least one')
    ratios = []
    print('round  old ns/request  new ns/request  new/old')
    for i, (o, n) in enumerate(zip(old, new)):
        no = sum(ns for _, ns in o['progs'].values()) / max(o['requests'], 1)
        nn = sum(ns for _, ns in n['progs'].values()) / max(n['requests'], 1)
        ratios.append(nn / no if no else float('nan'))
        print('%5d  %14.0f  %14.0f  %7.3f' % (i + 1, no, nn, ratios[-1]))
    print('BPF time per request, new/old: median %.3f (range %.3f-%.3f) over %d paired rounds'
          % (statistics.median(ratios), min(ratios), max(ratios), len(ratios)))
    # the program attached second runs second at each hook, and measures a few percent
    # slower (a factor of 1.04 to 1.09 over session 30's five runs, docs/architecture.md);
    # with both orders, that factor cancels in the geometric mean
    first = {b: [x for x, o in zip(ratios, old) if o['first'] == b] for b in ('old', 'new')}
    if first['old'] and first['new']:
        mo, mn = statistics.median(first['old']), statistics.median(first['new'])
        print('  old attached first: median %.3f (range %.3f-%.3f); new first: %.3f (%.3f-%.3f)'
              % (mo, min(first['old']), max(first['old']), mn, min(first['new']),
                 max(first['new'])))
        print('  the order cancelled (geometric mean of the two medians): new/old %.3f'
              % math.sqrt(mo * mn))
    print('%-28s %22s %22s' % ('program', 'old ns/hit', 'new ns/hit'))
    for name in sorted(set().union(*(r['progs'] for r in old + new))):
        cols = []
        for rounds in (old, new):
            v = [r['progs'][name][1] / r['progs'][name][0] for r in rounds
                 if name in r['progs'] and r['progs'][name][0]]
            cols.append(rng(v, '%.0f') if v else '-')
        print('%-28s %22s %22s' % (name, cols[0], cols[1]))


def table(files):
    rounds = [r for r in map(round_file, files) if r['requests']]
    if not rounds:
        print('no BPF program statistics (kernel.bpf_stats_enabled?)')
        return
    names = sorted({n for r in rounds for n in r['progs']})
    print('BPF programs over %d traced rounds (median (range)); hits per wrk request:'
          % len(rounds))
    print('%-28s %22s %22s %18s' % ('program', 'hits/request', 'ns/hit', 'ns/request'))
    total = [0.0] * len(rounds)
    rows = []
    for n in names:
        hpr, nph, npr = [], [], []
        for i, r in enumerate(rounds):
            cnt, ns = r['progs'].get(n, (0, 0))
            hpr.append(cnt / r['requests'])
            npr.append(ns / r['requests'])
            total[i] += ns / r['requests']
            if cnt:
                nph.append(ns / cnt)
        rows.append((statistics.median(npr), n, hpr, nph, npr))
    for _, n, hpr, nph, npr in sorted(rows, reverse=True):
        if max(hpr) < 0.005:
            continue
        print('%-28s %22s %22s %18s' % (n, rng(hpr, '%.2f'), rng(nph, '%.0f') if nph else '-',
                                         '%.0f' % statistics.median(npr)))
    print('BPF time per request: %s ns' % rng(total, '%.0f'))
    # the socket hooks together (issue 12's "ns per socket hook hit on average"):
    # every tracepoint program on socket I/O and TCP state, per round
    sock = [[sum(v[k] for n, v in r['progs'].items() if n.startswith(SOCKET_HOOKS))
             for k in (0, 1)] for r in rounds]
    if any(c for c, _ in sock):
        print('socket hooks (%s*): %s hits per request, %s ns per hit on average'
              % ('*, '.join(SOCKET_HOOKS),
                 rng([c / r['requests'] for (c, _), r in zip(sock, rounds)], '%.2f'),
                 rng([ns / c for c, ns in sock if c], '%.0f')))


# perf frames that are the kernel running BPF programs for a hook, outside the programs:
# tracepoints' dispatch, and uprobes (the breakpoint trap, single steps, return trampolines)
DISPATCH = re.compile(r'^(bpf_trace_run\d+|__bpf_trace_\w+|trace_call_bpf|bpf_prog_run\w*)$')
UPROBE = re.compile(r'uprobe|uretprobe|handle_swbp|exc_int3|do_int3|sstep|_xol')
# a JIT-compiled BPF function, as kallsyms names it (not the kernel's bpf_prog_run*)
BPF_FRAME = re.compile(r'^bpf_prog_[0-9a-f]{16}(_|$)')


def perfsum(tracer, perf, stream):
    """`perf script -F pid,ip,sym` of a round recorded with -g: each sample's innermost
    BPF frame (bpf_prog_<tag>_<name>) is the function it counts for, on its own code or
    in a kernel function it called (a helper: map lookup, clock, user memory read).
    Samples without a BPF frame count as dispatch or uprobe handling when such frames are
    on their stack; the tracer process's as its own, whatever their stack. Idle and
    perf's own samples are left out of the busy ones. A JSON summary on stdout."""
    tracer, perf = int(tracer), int(perf)
    out = {'busy': 0, 'idle': 0, 'perf': 0, 'tracer': 0, 'dispatch': 0, 'uprobe': 0,
           'bpf': 0, 'own': {}, 'incl': {}}

    def count(pid, frames):
        if pid == 0:
            out['idle'] += 1
            return
        if pid == perf:
            out['perf'] += 1
            return
        out['busy'] += 1
        if pid == tracer:	# whatever it runs (its own hooks' programs too): counted once
            out['tracer'] += 1
            return
        bpf = [i for i, f in enumerate(frames) if BPF_FRAME.match(f)]
        if bpf:
            f = frames[bpf[0]]
            inner = f.split('_', 3)[3] if f.count('_') >= 3 else f
            out['bpf'] += 1
            out['incl'][inner] = out['incl'].get(inner, 0) + 1
            if bpf[0] == 0:
                out['own'][inner] = out['own'].get(inner, 0) + 1
        elif any(UPROBE.search(f) for f in frames):
            out['uprobe'] += 1
        elif any(DISPATCH.match(f) for f in frames):
            out['dispatch'] += 1

    pid, frames = None, []
    for line in stream:
        if not line.strip():
            if pid is not None:
                count(pid, frames)
            pid, frames = None, []
        elif line.startswith('\t'):
            p = line.split(None, 1)
            frames.append(p[1].strip() if len(p) > 1 else '?')
        else:
            try:
                pid = int(line.split()[0])
            except ValueError:
                pid = None
    if pid is not None:
        count(pid, frames)
    json.dump(out, sys.stdout)
    print()


def functions(files):
    """perfsum outputs of perf rounds: what tracing takes of the host's busy CPU, and the
    BPF functions (programs and their subprograms, summed over their copies)."""
    rounds = list(load_perfsums(files).values())
    if not rounds:
        print('no perf profile with enough samples')
        return
    pct = lambda r, n: 100.0 * n / r['busy']
    parts = [('BPF programs, with the kernel helpers they call', 'bpf'),
             ('tracepoint dispatch to them', 'dispatch'),
             ('uprobe traps, single steps and dispatch', 'uprobe'),
             ('the tracer process (collector)', 'tracer')]
    print('tracing\'s share of the busy CPU by perf over %d rounds (bpf_stats off, every '
          'CPU, callchains), median (range), %%:' % len(rounds))
    total = [sum(pct(r, r[k]) for _, k in parts) for r in rounds]
    for label, k in parts:
        v = [pct(r, r[k]) for r in rounds]
        if max(v) > 0:
            print('  %-50s %s' % (label, rng(v, '%.2f')))
    print('  %-50s %s: a host whose throughput is bound by its CPU keeps ~%.1f %% of it'
          % ('in all', rng(total, '%.2f'), 100 - statistics.median(total)))
    names = {n for r in rounds for n in r['incl']}
    print('%-28s %22s %22s %22s' % ('BPF function', '% of CPU, own code', '% of CPU, with helpers',
                                    '% of BPF, with helpers'))
    rows = []
    for n in names:
        own = [pct(r, r['own'].get(n, 0)) for r in rounds]
        incl = [pct(r, r['incl'].get(n, 0)) for r in rounds]
        share = [100.0 * r['incl'].get(n, 0) / r['bpf'] if r['bpf'] else 0 for r in rounds]
        rows.append((statistics.median(share), n, own, incl, share))
    for med, n, own, incl, share in sorted(rows, reverse=True):
        if med < 1:
            continue
        print('%-28s %22s %22s %22s' % (n, rng(own, '%.2f'), rng(incl, '%.2f'),
                                        rng(share, '%.1f')))


def load_perfsums(files):
    """perfsum outputs with enough samples to say anything: {path: summary}, in the order
    given."""
    rounds = {}
    for path in files:
        try:
            with open(path) as f:
                r = json.load(f)
        except (OSError, ValueError):
            continue
        if r['busy'] >= 1000:	# a profile too short to say anything
            rounds[path] = r
    return rounds


def floors(args):
    """EMPTY... -- WORK... -- TRACER...: perfsum outputs of perf rounds taken in turns,
    each file ending in its round's number (round N of each group next to each other in
    time): hook_floor's empty programs, its work floor (what a keep-alive request's
    metrics cannot do without) and the tracer. What each takes of the busy CPU, and the
    tracer's excess over the work floor in each round where both said enough."""
    k1 = args.index('--')
    k2 = args.index('--', k1 + 1)
    round_no = lambda p: int(re.sub(r'.*\D', '', p) or 0)
    rounds = [{round_no(p): r for p, r in load_perfsums(g).items()}
              for g in (args[:k1], args[k1 + 1:k2], args[k2 + 1:])]
    if not all(rounds):
        print('floors: no perf profile with enough samples')
        return
    pct = lambda r, k: 100.0 * r[k] / r['busy']
    total = lambda r: sum(pct(r, k) for k in ('bpf', 'dispatch', 'uprobe', 'tracer'))
    print('the floor under tracing\'s share, perf rounds in turns (%d of each), %% of the busy '
          'CPU, median (range):' % min(len(g) for g in rounds))
    print('  %-40s %18s %18s %18s' % ('', 'BPF programs', 'dispatch', 'in all'))
    for label, g in zip(('empty programs (hook_floor)', 'work floor (hook_floor -w)',
                         'phasetrace'), rounds):
        g = list(g.values())
        print('  %-40s %18s %18s %18s' % (label, rng([pct(r, 'bpf') for r in g], '%.2f'),
                                          rng([pct(r, 'dispatch') for r in g], '%.2f'),
                                          rng([total(r) for r in g], '%.2f')))
    both = sorted(set(rounds[1]) & set(rounds[2]))
    if both:
        d = [total(rounds[2][i]) - total(rounds[1][i]) for i in both]
        print('  phasetrace over the work floor, round by round: %s points of the CPU' %
              rng(d, '%+.2f'))


def median_ci(v, conf=0.95):
    """A distribution-free confidence interval of the median of v: the order statistics
    x(k) and x(n+1-k) with the largest k for which at least conf of the binomial mass
    lies between them (no assumption about the distribution of v). None below 6 values,
    where even (min, max) covers less than 95 %. The ratios of tools/bench are not quite
    independent (neighbours share an untraced round): read it as approximate."""
    n = len(v)
    x = sorted(v)
    best = None
    for k in range(1, n // 2 + 1):
        tail = sum(math.comb(n, i) for i in range(k)) / 2 ** n
        if 1 - 2 * tail < conf:
            break
        best = (x[k - 1], x[n - k])
    return best


def ratio_summary(r):
    """Per-round ratios r: median (range), and the median's 95 % interval if known."""
    ci = median_ci(r)
    return rng(r, '%.3f') + (', 95%% CI of the median %.3f-%.3f over %d rounds' %
                             (ci[0], ci[1], len(r)) if ci else '')


def ratios(name, vals):
    v = [float(x) for x in vals]
    u, t = v[0::2], v[1::2]
    r = [t[i] / ((u[i] + u[i + 1]) / 2) for i in range(len(t)) if i + 1 < len(u)]
    if not r:
        print('%s: not enough rounds' % name)
        return
    print('%-16s untraced %s req/s, traced %s req/s, traced/untraced %s' %
          (name, rng(u, '%.0f'), rng(t, '%.0f'), ratio_summary(r)))


def over(name, vals):
    """The traced rounds against the hooks-alone rounds next to them (-f): what the
    tracer's own work costs beyond the hooks' dispatch and filter, which are paid
    before any of it runs. vals: the traced run's values (untraced, traced, untraced,
    ...), '--', the same for the hooks-alone run."""
    cut = vals.index('--')
    t = [float(x) for x in vals[1:cut:2]]
    f = [float(x) for x in vals[cut + 2::2]]
    r = [a / b for a, b in zip(t, f) if b > 0]
    if not r:
        print('%s: not enough rounds' % name)
        return
    print('%-16s traced/hooks alone %s' % (name, ratio_summary(r)))


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ''
    if cmd == 'diff' and len(sys.argv) == 6:
        diff(*sys.argv[2:])
    elif cmd == 'table':
        table(sys.argv[2:])
    elif cmd == 'floors' and sys.argv[2:].count('--') == 2:
        floors(sys.argv[2:])
    elif cmd == 'functions':
        functions(sys.argv[2:])
    elif cmd == 'perfsum' and len(sys.argv) == 4:
        perfsum(sys.argv[2], sys.argv[3], sys.stdin)
    elif cmd == 'ratios' and len(sys.argv) >= 6:
        ratios(sys.argv[2], sys.argv[3:])
    elif cmd == 'pairs' and '--' in sys.argv[2:]:
        pairs(sys.argv[2:])
    elif cmd == 'over' and '--' in sys.argv[3:]:
        over(sys.argv[2], sys.argv[3:])
    else:
        sys.exit('usage: bench-stats.py diff|table|perfsum|functions|ratios|pairs|over ... (see the header)')


main()
