// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* CPU lists of sysfs; see cpulist.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/cpulist.h"

#define CPU_MAX		(1 << 20)	/* far above any kernel's NR_CPUS */

/* A CPU number at *p (digits only), moved past; -1 if none or too large. */
static long cpu_num(const char **p)
{
	long v = 0;

	if (**p < '0' || **p > '9')
		return -1;
	while (**p >= '0' && **p <= '9') {
		v = v * 10 + (*(*p)++ - '0');
		if (v >= CPU_MAX)
			return -1;
	}
	return v;
}

int cpulist_parse(const char *s, bool *set, int n)
{
	const char *p = s;
	int count = 0;

	while (*p && *p != '\n') {
		long lo = cpu_num(&p), hi = lo;

		if (*p == '-') {
			p++;
			hi = cpu_num(&p);
		}
		if (lo < 0 || hi < lo)
			return -EINVAL;
		for (long c = lo; c <= hi && c < n; c++)
			if (!set[c]) {
				set[c] = true;
				count++;
			}
		if (*p == ',')
			p++;
		else if (*p && *p != '\n')
			return -EINVAL;
	}
	return p == s ? -EINVAL : count;
}

int cpulist_online(bool *set, int n)
{
	char buf[4096];
	ssize_t len;
	int fd = open("/sys/devices/system/cpu/online", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return len < 0 ? -errno : -EINVAL;
	buf[len] = 0;
	memset(set, 0, n * sizeof(*set));
	return cpulist_parse(buf, set, n);
}
