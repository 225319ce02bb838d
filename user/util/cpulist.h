/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * CPU lists as the kernel writes them in /sys/devices/system/cpu/{online,possible}:
 * "0-3,8,10-11", a newline at the end. A VM may have many more possible CPUs (hotplug
 * slots) than online ones: per-CPU resources go to the online ones.
 */
#ifndef PT_CPULIST_H
#define PT_CPULIST_H

#include <stdbool.h>

/* Mark set[cpu] for each CPU of s below n (those above are ignored): how many were
 * marked, or -EINVAL if s is not a CPU list (set is then unspecified). */
int cpulist_parse(const char *s, bool *set, int n);
/* The online CPUs below n (set[] cleared first): how many, or a negative errno. */
int cpulist_online(bool *set, int n);

#endif
