/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Clock readings in nanoseconds. CLOCK_MONOTONIC is the clock of BPF's
 * bpf_ktime_get_ns(): every time a record carries compares with mono_now_ns().
 */
#ifndef PT_CLOCK_H
#define PT_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t timespec_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000LL + t->tv_nsec;
}

static inline uint64_t clock_ns(clockid_t clk)
{
	struct timespec ts;

	if (clock_gettime(clk, &ts))
		return 0;
	return (uint64_t)timespec_ns(&ts);
}

static inline uint64_t mono_now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

#endif
