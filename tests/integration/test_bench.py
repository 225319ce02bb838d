# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""tools/bench-stats.py, which turns the benchmarks' rounds into the figures of the
issue notes: the traced/untraced ratios and the confidence interval of their median,
on inputs whose answer is known."""
import os
import subprocess

import harness as h

STATS = os.path.join(h.ROOT, 'tools', 'bench-stats.py')


def _ratios(rounds):
	"""bench-stats.py ratios over (traced, untraced-after) pairs, untraced 100 throughout."""
	vals = ['100']
	for t in rounds:
		vals += [str(t), '100']
	return subprocess.run([STATS, 'ratios', 'x'] + vals, capture_output=True, text=True,
			      check=True).stdout


def test_bench_ratio_median_ci():
	# 30 rounds at 0.70, 0.71, ... 0.99: the median is 0.845; with 30 values the 95 %
	# interval of the median runs from the 10th to the 21st smallest (binomial tables)
	out = _ratios(range(99, 69, -1))
	h.assert_true('traced/untraced 0.845 (0.700-0.990)' in out, 'median and range: %s' % out)
	h.assert_true('95% CI of the median 0.790-0.900 over 30 rounds' in out,
		      'interval of 30 rounds: %s' % out)
	# 6 rounds: only (min, max) covers 95 % (96.9 %)
	out = _ratios([90, 95, 92, 97, 91, 93])
	h.assert_true('95% CI of the median 0.900-0.970 over 6 rounds' in out,
		      'interval of 6 rounds: %s' % out)
	# 5 rounds: no interval reaches 95 %, none is printed
	out = _ratios([90, 95, 92, 97, 91])
	h.assert_true('traced/untraced 0.920 (0.900-0.970)' in out and 'CI' not in out,
		      'no interval for 5 rounds: %s' % out)
