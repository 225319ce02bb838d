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
#   bench-stats.py functions PERFREPORT...
#       `perf report --sort sym` of profile rounds (tools/bench -F): each BPF function
#       (programs and subprograms, summed over their copies) as a share of the BPF
#       functions' samples and of all CPU time
#   bench-stats.py ratios NAME U0 T1 U1 T2 U2 ...
#       alternating untraced/traced rounds: each traced round against the mean of
#       the untraced rounds around it; median, range, and a 95 % confidence interval
#       of the median (from 6 rounds on)
#   bench-stats.py over NAME U0 T1 U1 T2 ... -- U0 F1 U1 F2 ...
#       each traced round against the hooks-alone round next to it (tools/bench -f):
#       what the tracer's work costs beyond its hooks' dispatch and filter
import json
import math
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


def table(files):
    rounds = []
    for path in files:
        r = {'requests': 0, 'progs': {}}
        with open(path) as f:
            for line in f:
                p = line.split()
                if p[0] == 'requests':
                    r['requests'] = int(p[1])
                elif p[0] == 'prog':
                    r['progs'][p[1]] = (int(p[2]), int(p[3]))
        if r['requests']:
            rounds.append(r)
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


def functions(files):
    """perf report --sort sym outputs of profile rounds: the BPF functions (programs and
    their subprograms, bpf_prog_<tag>_<name>) summed by name across copies."""
    rounds = []
    for path in files:
        funcs = {}
        samples = 0
        with open(path) as f:
            for line in f:
                p = line.split()
                # '# Samples: 12K of event ...'
                if line.startswith('# Samples:') and len(p) > 2:
                    n = p[2]
                    mult = {'K': 1e3, 'M': 1e6}.get(n[-1], 1)
                    samples = float(n.rstrip('KM')) * mult
                    continue
                if len(p) < 3 or not p[0].endswith('%') or not p[2].startswith('bpf_prog_'):
                    continue
                name = p[2].split('_', 3)[3] if p[2].count('_') >= 3 else p[2]
                funcs[name] = funcs.get(name, 0.0) + float(p[0][:-1])
        if funcs and samples >= 1000:	# a profile too short to say anything
            rounds.append(funcs)
    if not rounds:
        print('no BPF function in the perf profiles')
        return
    names = {n for r in rounds for n in r}
    totals = [sum(r.values()) for r in rounds]
    print('BPF functions by perf samples over %d profile rounds, median (range): share of '
          'the BPF functions\' samples and of all CPU time (the helpers they call, map '
          'lookups and the like, are the kernel\'s: not in it); BPF functions in all: '
          '%s %% of CPU time' % (len(rounds), rng(totals, '%.2f')))
    print('%-28s %22s %22s' % ('function', '% of BPF', '% of CPU'))
    rows = []
    for n in names:
        cpu = [r.get(n, 0.0) for r in rounds]
        share = [100 * c / t for c, t in zip(cpu, totals)]
        rows.append((statistics.median(share), n, share, cpu))
    for med, n, share, cpu in sorted(rows, reverse=True):
        if med < 1:
            continue
        print('%-28s %22s %22s' % (n, rng(share, '%.1f'), rng(cpu, '%.2f')))


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
    elif cmd == 'functions':
        functions(sys.argv[2:])
    elif cmd == 'ratios' and len(sys.argv) >= 6:
        ratios(sys.argv[2], sys.argv[3:])
    elif cmd == 'over' and '--' in sys.argv[3:]:
        over(sys.argv[2], sys.argv[3:])
    else:
        sys.exit('usage: bench-stats.py diff|table|functions|ratios|over ... (see the header)')


main()
