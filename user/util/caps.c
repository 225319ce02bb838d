// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Capabilities phasetrace needs; the rest dropped for good. See caps.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>

#include "util/caps.h"

#define CAPBIT(c)	(1ULL << (c))

#ifndef CAP_PERFMON
#define CAP_PERFMON	38
#endif
#ifndef CAP_BPF
#define CAP_BPF		39
#endif

static const struct { int cap; const char *name; } cap_names[] = {
	{ CAP_BPF, "CAP_BPF" }, { CAP_PERFMON, "CAP_PERFMON" },
	{ CAP_SYS_PTRACE, "CAP_SYS_PTRACE" }, { CAP_DAC_READ_SEARCH, "CAP_DAC_READ_SEARCH" },
	{ CAP_SYS_ADMIN, "CAP_SYS_ADMIN" },
	{ CAP_KILL, "CAP_KILL" },	/* optional: exec holds (main.c hold_caps()) */
};

/* The highest capability this kernel knows; 0 when it does not say. */
static int last_cap(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	int last = 0;

	if (f) {
		if (fscanf(f, "%d", &last) != 1 || last < 0 || last > 63)
			last = 0;
		fclose(f);
	}
	return last;
}

static int caps_get(uint64_t *eff, uint64_t *prm, uint64_t *inh)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = {};

	if (syscall(SYS_capget, &hdr, d))
		return -errno;
	*eff = d[0].effective | (uint64_t)d[1].effective << 32;
	*prm = d[0].permitted | (uint64_t)d[1].permitted << 32;
	*inh = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
	return 0;
}

static int caps_set(uint64_t eff, uint64_t prm, uint64_t inh)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = {
		{ .effective = (uint32_t)eff, .permitted = (uint32_t)prm,
		  .inheritable = (uint32_t)inh },
		{ .effective = eff >> 32, .permitted = prm >> 32, .inheritable = inh >> 32 },
	};

	return syscall(SYS_capset, &hdr, d) ? -errno : 0;
}

uint64_t caps__needed(bool perf_uprobes)
{
	uint64_t need = CAPBIT(CAP_SYS_PTRACE) | CAPBIT(CAP_DAC_READ_SEARCH);

	/* before 5.8 CAP_SYS_ADMIN stood for both; the uprobe PMU wants it (caps.h) */
	if (last_cap() < CAP_BPF)
		return need | CAPBIT(CAP_SYS_ADMIN);
	need |= CAPBIT(CAP_BPF) | CAPBIT(CAP_PERFMON);
	return perf_uprobes ? need | CAPBIT(CAP_SYS_ADMIN) : need;
}

int caps__missing(uint64_t need, char *buf, size_t len)
{
	uint64_t eff, prm, inh;
	size_t off = 0;
	int n = 0, err = caps_get(&eff, &prm, &inh);

	if (err)
		return err;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(cap_names) / sizeof(cap_names[0]); i++) {
		uint64_t bit = CAPBIT(cap_names[i].cap);

		if (!(need & bit) || (eff & bit))
			continue;
		if (off < len)
			off += snprintf(buf + off, len - off, "%s%s", n ? ", " : "",
					cap_names[i].name);
		n++;
	}
	return n;
}

/* Empty the bounding set but for need; CAP_SETPCAP raised for the while. */
static int drop_bounding(uint64_t need, uint64_t eff, uint64_t prm, uint64_t inh)
{
	int last = last_cap(), err;

	err = caps_set(eff | CAPBIT(CAP_SETPCAP), prm, inh);
	for (int c = 0; !err && c <= last; c++) {
		if (need & CAPBIT(c) || prctl(PR_CAPBSET_READ, c, 0, 0, 0) != 1)
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0))
			err = -errno;
	}
	return err;
}

int caps__restrict(uint64_t need)
{
	uint64_t eff, prm, inh;
	int err = caps_get(&eff, &prm, &inh);

	if (err)
		return err;
	/* without CAP_SETPCAP the bounding set stays what the caller gave us
	 * (systemd's CapabilityBoundingSet=, setpriv --bounding-set) */
	if (prm & CAPBIT(CAP_SETPCAP)) {
		err = drop_bounding(need, eff, prm, inh);
		if (err)
			return err;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	/* lowering permitted and inheritable lowers the ambient set with them */
	return caps_set(prm & need, prm & need, inh & need);
}
