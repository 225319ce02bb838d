// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Container identity from a cgroup v2 path; see container.h. Pure: no I/O. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "assemble/container.h"

/* One path segment: [p, p + n), no '/'. */
struct seg {
	const char *p;
	size_t n;
};

static const char *const rt_names[] = {
	[CT_RT_DOCKER] = "docker", [CT_RT_CONTAINERD] = "containerd", [CT_RT_CRIO] = "cri-o",
	[CT_RT_PODMAN] = "podman", [CT_RT_CRI] = "cri", [CT_RT_SYSTEMD] = "systemd",
};

const char *ct_runtime_name(enum ct_runtime rt)
{
	if (rt <= CT_RT_NONE || rt > CT_RT_SYSTEMD)
		return NULL;
	return rt_names[rt];
}

static bool is_hex(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
}

static bool all_hex(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_hex(p[i]))
			return false;
	return true;
}

static bool seg_is(struct seg s, const char *lit)
{
	return s.n == strlen(lit) && !memcmp(s.p, lit, s.n);
}

static bool seg_starts(struct seg s, const char *lit)
{
	size_t n = strlen(lit);

	return s.n >= n && !memcmp(s.p, lit, n);
}

static bool seg_ends(struct seg s, const char *lit)
{
	size_t n = strlen(lit);

	return s.n >= n && !memcmp(s.p + s.n - n, lit, n);
}

/* A container id: 12 to 64 lower-case hex digits. */
static bool take_id(const char *p, size_t n, struct container *c, enum ct_runtime rt)
{
	if (n < CT_ID_SHORT || n > CT_ID_LEN - 1 || !all_hex(p, n))
		return false;
	memcpy(c->id, p, n);
	c->id[n] = 0;
	c->runtime = rt;
	return true;
}

/* "<prefix><id><suffix>" with suffix "" allowed when bare_ok. */
static bool take_wrapped(struct seg s, const char *prefix, bool bare_ok, struct container *c,
			 enum ct_runtime rt)
{
	size_t pl = strlen(prefix);

	if (!seg_starts(s, prefix))
		return false;
	if (seg_ends(s, ".scope"))
		return take_id(s.p + pl, s.n - pl - 6, c, rt);
	return bare_ok && take_id(s.p + pl, s.n - pl, c, rt);
}

/* systemd cgroup driver spec used as a name: "<slice>:<prefix>:<id>". */
static bool take_colon_form(struct seg s, struct container *c)
{
	static const struct { const char *p; enum ct_runtime rt; } kinds[] = {
		{ ":cri-containerd:", CT_RT_CONTAINERD }, { ":docker:", CT_RT_DOCKER },
		{ ":crio:", CT_RT_CRIO },
	};

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		size_t kl = strlen(kinds[k].p);

		for (size_t i = 0; i + kl <= s.n; i++)
			if (!memcmp(s.p + i, kinds[k].p, kl))
				return take_id(s.p + i + kl, s.n - i - kl, c, kinds[k].rt);
	}
	return false;
}

/* The segment names a container; parent: the segment above (for cgroupfs layouts). */
static bool take_container(struct seg s, struct seg parent, bool parent_pod, struct container *c)
{
	if (seg_starts(s, "libpod-conmon-") || seg_starts(s, "crio-conmon-"))
		return false;	/* the monitor process, not the container */
	if (take_wrapped(s, "docker-", false, c, CT_RT_DOCKER) ||
	    take_wrapped(s, "cri-containerd-", false, c, CT_RT_CONTAINERD) ||
	    take_wrapped(s, "crio-", true, c, CT_RT_CRIO) ||
	    take_wrapped(s, "libpod-", true, c, CT_RT_PODMAN) ||
	    take_colon_form(s, c))
		return true;
	if (seg_is(parent, "docker"))
		return take_id(s.p, s.n, c, CT_RT_DOCKER);
	if (seg_is(parent, "crio"))
		return take_id(s.p, s.n, c, CT_RT_CRIO);
	if (parent_pod && s.n == CT_ID_LEN - 1)
		return take_id(s.p, s.n, c, CT_RT_CRI);
	return false;
}

/* 8-4-4-4-12 hex with sep between the groups, copied out with dashes. */
static bool take_uid(const char *p, size_t n, char sep, struct container *c)
{
	static const size_t dash[] = { 8, 13, 18, 23 };
	char out[CT_POD_UID_LEN];

	if (n != CT_POD_UID_LEN - 1)
		return false;
	for (size_t i = 0, d = 0; i < n; i++) {
		if (d < 4 && i == dash[d]) {
			if (p[i] != sep)
				return false;
			out[i] = '-';
			d++;
		} else if (is_hex(p[i])) {
			out[i] = p[i];
		} else {
			return false;
		}
	}
	out[n] = 0;
	memcpy(c->pod_uid, out, sizeof(out));
	return true;
}

/* kubepods[-qos]-pod<uid_>.slice (systemd driver) or pod<uid-> below kubepods (cgroupfs). */
static bool take_pod(struct seg s, bool in_kubepods, struct container *c)
{
	const char *colon = memchr(s.p, ':', s.n);

	if (colon)	/* "<slice>:<prefix>:<id>": the slice part */
		s.n = colon - s.p;
	if (seg_starts(s, "kubepods") && seg_ends(s, ".slice")) {
		for (size_t i = 0; i + 4 <= s.n; i++)
			if (!memcmp(s.p + i, "-pod", 4))
				return take_uid(s.p + i + 4, s.n - i - 4 - 6, '_', c);
		return false;
	}
	return in_kubepods && seg_starts(s, "pod") && take_uid(s.p + 3, s.n - 3, '-', c);
}

static void take_unit(struct seg s, struct container *c)
{
	if (!seg_ends(s, ".service") || s.n >= CT_UNIT_LEN || s.n <= 8)
		return;
	for (size_t i = 0; i < s.n; i++) {
		char ch = s.p[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || strchr(":_.\\@-", ch)))
			return;
	}
	memcpy(c->unit, s.p, s.n);
	c->unit[s.n] = 0;
}

static void copy_path(const char *path, size_t len, struct container *c)
{
	size_t n = len < CT_PATH_LEN - 1 ? len : CT_PATH_LEN - 1;

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = path[i];

		c->cgroup[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	c->cgroup[n] = 0;
	if (len > n)
		memcpy(c->cgroup + n - 3, "...", 3);
}

enum ct_runtime container_parse(const char *path, size_t len, struct container *c)
{
	struct seg parent = { "", 0 }, s;
	bool in_kubepods = false, parent_pod = false;
	const char *p, *end;

	if (len > CT_PATH_MAX)
		len = CT_PATH_MAX;
	p = memchr(path, 0, len);
	if (p)
		len = p - path;
	c->runtime = CT_RT_NONE;
	c->id[0] = c->unit[0] = c->pod_uid[0] = 0;
	copy_path(path, len, c);
	for (p = path, end = path + len; p < end; p = s.p + s.n + 1) {
		const char *slash = memchr(p, '/', end - p);
		struct container tmp;

		s.p = p;
		s.n = (slash ? slash : end) - p;
		if (s.n) {
			bool pod = take_pod(s, in_kubepods, c);

			if (take_container(s, parent, parent_pod, &tmp)) {
				c->runtime = tmp.runtime;
				memcpy(c->id, tmp.id, sizeof(c->id));
			}
			if (c->runtime == CT_RT_NONE)
				take_unit(s, c);
			in_kubepods |= seg_starts(s, "kubepods");
			parent_pod = pod;
			parent = s;
		}
		if (!slash)
			break;
	}
	if (c->runtime != CT_RT_NONE)
		c->unit[0] = 0;
	else if (c->unit[0])
		c->runtime = CT_RT_SYSTEMD;
	return c->runtime;
}

int container_matches(const struct container *c, const char *want)
{
	size_t n = strlen(want);

	if (!n)
		return 0;
	if (c->runtime == CT_RT_SYSTEMD)
		return !strcmp(c->unit, want);
	return c->id[0] && n < CT_ID_LEN && !strncmp(c->id, want, n);
}

const char *container_short(const struct container *c, char buf[CT_UNIT_LEN])
{
	if (c->runtime == CT_RT_SYSTEMD)
		snprintf(buf, CT_UNIT_LEN, "%s", c->unit);
	else
		snprintf(buf, CT_UNIT_LEN, "%.*s", CT_ID_SHORT, c->id);
	return buf;
}
