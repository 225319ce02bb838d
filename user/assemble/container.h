/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Container identity from a cgroup v2 path: pure parsing, no I/O (unit-tested
 * and fuzzed as plain C; the resolver that finds the path is cgroups.h).
 *
 * The path is chosen by whoever created the cgroup (a delegated subtree lets a
 * process name its own), so it is hostile input: the parser reads at most
 * CT_PATH_MAX bytes, takes only lower-case hex container ids of 12 to 64
 * digits and pod UIDs of exactly the 8-4-4-4-12 hex shape, and never trusts a
 * name it cannot validate (the field stays empty). Recognised segments:
 *
 *   docker         docker-<id>.scope (systemd driver), /docker/<id> (cgroupfs)
 *   containerd     cri-containerd-<id>.scope, ...:cri-containerd:<id>
 *   cri-o          crio-<id>.scope, /crio/<id>
 *   podman         libpod-<id>.scope, /libpod_parent/libpod-<id> (not libpod-conmon-)
 *   cri            a bare <id> right under a kubepods pod<uid> cgroup (cgroupfs driver)
 *   systemd        <unit>.service, when no container segment is present
 *   pod UID        kubepods-...-pod<uid with _>.slice, /kubepods/.../pod<uid>/
 *
 * The innermost container segment wins (a container running systemd has
 * services below its scope).
 */
#ifndef PT_CONTAINER_H
#define PT_CONTAINER_H

#include <stddef.h>
#include <stdint.h>

#define CT_PATH_MAX	4096	/* bytes of a path the parser looks at */
#define CT_PATH_LEN	256	/* bytes of the path kept for output (truncated, marked) */
#define CT_ID_LEN	65	/* 64 hex digits + NUL */
#define CT_ID_SHORT	12	/* `top`, metric labels */
#define CT_UNIT_LEN	64	/* systemd unit name */
#define CT_POD_UID_LEN	37	/* 8-4-4-4-12 + NUL */

enum ct_runtime {
	CT_RT_NONE = 0,
	CT_RT_DOCKER,
	CT_RT_CONTAINERD,
	CT_RT_CRIO,
	CT_RT_PODMAN,
	CT_RT_CRI,		/* kubepods cgroupfs layout: a CRI runtime, which one unknown */
	CT_RT_SYSTEMD,		/* a systemd service: unit, no id */
};

/* What a record's process is: struct request's `container` (request.h). */
struct container {
	uint64_t cgroup_id;		/* from BPF; 0 if unknown */
	char cgroup[CT_PATH_LEN];	/* cgroup v2 path, "" if not resolved */
	enum ct_runtime runtime;
	char id[CT_ID_LEN];		/* container id, lower-case hex, "" if none */
	char unit[CT_UNIT_LEN];		/* CT_RT_SYSTEMD: "nginx.service" */
	char pod_uid[CT_POD_UID_LEN];	/* Kubernetes pod UID with dashes, "" if none */
};

/* "docker", "containerd", "cri-o", "podman", "cri", "systemd"; NULL for CT_RT_NONE. */
const char *ct_runtime_name(enum ct_runtime rt);

/*
 * Fills runtime, id, unit and pod_uid of *c from path (len bytes, need not be
 * NUL-terminated, at most CT_PATH_MAX looked at) and copies the path into
 * c->cgroup (control bytes as '?', truncated with a trailing "..."). cgroup_id
 * is left alone. Returns c->runtime.
 */
enum ct_runtime container_parse(const char *path, size_t len, struct container *c);

/* The name a user gives to -C (id, prefix of >= 1 hex digit, or unit name) matches c. */
int container_matches(const struct container *c, const char *want);

/* Short form for `top` and metric labels: 12 digits of the id, or the unit; "" if none. */
const char *container_short(const struct container *c, char buf[CT_UNIT_LEN]);

#endif
