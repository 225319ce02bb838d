// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Processes held at exec until their probes are in place; see hold.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "attach/hold.h"
#include "util/log.h"
#include "phasetrace.skel.h"
#include "util/clock.h"

#define WD_PENDING	1024	/* the held map's size */
#define SWEEP_MAX	1024

struct hold {
	struct phasetrace_bpf *skel;
	bool on;
	volatile bool armed;	/* set by the event loop, read by the worker */
	int held_fd, known_fd;
	pid_t watchdog;
	int watchdog_fd;	/* pidfd of the watchdog */
	uint64_t released;
};

struct pending {
	pid_t pid;
	uint64_t ts;
};

struct watchdog {
	int held_fd;
	uint64_t timeout_ns;
	volatile __u64 *timeouts;	/* in the object's .bss, shared with the tracer */
	struct pending p[WD_PENDING];
	int n;
};

/* Resume pid if it is still held (by the hold stamped ts, if ts): exactly once. */
static bool resume(int held_fd, pid_t pid, uint64_t ts)
{
	__u32 key = pid;
	__u64 when;

	if (bpf_map_lookup_elem(held_fd, &key, &when) || (ts && when != ts) ||
	    bpf_map_delete_elem(held_fd, &key))
		return false;
	kill(pid, SIGCONT);
	return true;
}

/* Every held process, bounded (a delete under get_next_key restarts it). */
static void resume_all(int held_fd)
{
	__u32 keys[SWEEP_MAX], key, *prev = NULL;
	int n = 0;

	for (int round = 0; round < 4; round++) {
		n = 0;
		prev = NULL;
		while (n < SWEEP_MAX && bpf_map_get_next_key(held_fd, prev, &key) == 0) {
			keys[n++] = key;
			prev = &keys[n - 1];
		}
		for (int i = 0; i < n; i++)
			resume(held_fd, keys[i], 0);
		if (!n)
			return;
	}
}

static int wd_on_hold(void *ctx, void *data, size_t size)
{
	struct watchdog *wd = ctx;
	struct pt_hold_rec r;

	if (size < sizeof(r))
		return 0;
	memcpy(&r, data, sizeof(r));
	if (wd->n < WD_PENDING)
		wd->p[wd->n++] = (struct pending){ r.pid, r.ts };
	else if (resume(wd->held_fd, r.pid, r.ts))	/* no room to wait: now */
		__atomic_fetch_add(wd->timeouts, 1, __ATOMIC_RELAXED);
	return 0;
}

/* Resume what is due; the wait until the next deadline in ms (-1: none). */
static int wd_expire(struct watchdog *wd)
{
	uint64_t now = mono_now_ns(), next = 0;

	for (int i = 0; i < wd->n;) {
		uint64_t due = wd->p[i].ts + wd->timeout_ns;

		if (due > now) {
			next = !next || due < next ? due : next;
			i++;
			continue;
		}
		if (resume(wd->held_fd, wd->p[i].pid, wd->p[i].ts))
			__atomic_fetch_add(wd->timeouts, 1, __ATOMIC_RELAXED);
		wd->p[i] = wd->p[--wd->n];
	}
	return next ? (int)((next - now + 999999) / 1000000) : -1;
}

/* The watchdog process: deadlines, and everything when the tracer is gone. */
static void __attribute__((noreturn)) watchdog_main(struct watchdog *wd, int rb_fd, int tracer)
{
	struct epoll_event ev = { .events = EPOLLIN }, evs[4];
	struct ring_buffer *rb = ring_buffer__new(rb_fd, wd_on_hold, wd, NULL);
	int ep = epoll_create1(EPOLL_CLOEXEC), tmo = -1;

	if (!rb || ep < 0)
		goto out;
	ev.data.fd = tracer;
	epoll_ctl(ep, EPOLL_CTL_ADD, tracer, &ev);
	ev.data.fd = ring_buffer__epoll_fd(rb);
	epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
	for (;;) {
		int n = epoll_wait(ep, evs, 4, tmo);
		bool gone = false;

		for (int i = 0; i < n; i++)
			gone |= evs[i].data.fd == tracer;
		if (gone)
			break;
		ring_buffer__consume(rb);
		tmo = wd_expire(wd);
	}
out:
	/* the tracer's links died with it: nothing new is held; resume the rest */
	resume_all(wd->held_fd);
	_exit(0);
}

/* In the child: a session of its own (no terminal's ^C), only the descriptors it needs. */
static void __attribute__((noreturn)) watchdog_start(struct watchdog *wd, int rb_fd, int tracer)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	int fds[3] = { wd->held_fd, rb_fd, tracer };

	setsid();
	prctl(PR_SET_NAME, "phasetrace-hold");
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	if (null >= 0)
		for (int i = 0; i < 3; i++)
			dup2(null, i);
	/* copies above 2 in increasing order (none clobbers another), at 3-5, the rest closed */
	for (int i = 0; i < 3; i++) {
		int hi = fcntl(fds[i], F_DUPFD, 3);

		if (hi < 0 || dup2(hi, 3 + i) < 0)
			_exit(1);
	}
	if (syscall(SYS_close_range, 6, ~0U, 0))
		for (int fd = 6; fd < 65536; fd++)
			close(fd);
	wd->held_fd = 3;
	watchdog_main(wd, 4, 5);
}

static int pidfd_open(pid_t pid)
{
	return syscall(SYS_pidfd_open, pid, 0);
}

int hold__new(struct phasetrace_bpf *skel, struct hold **out)
{
	struct hold *h = calloc(1, sizeof(*h));
	struct watchdog *wd;
	int tracer = -1, err = 0;

	if (!h)
		return -ENOMEM;
	h->skel = skel;
	h->watchdog_fd = -1;
	*out = h;
	if (!skel->rodata->hold_ms)
		return 0;
	h->held_fd = bpf_map__fd(skel->maps.held);
	h->known_fd = bpf_map__fd(skel->maps.exec_known);
	wd = calloc(1, sizeof(*wd));
	tracer = pidfd_open(getpid());
	if (!wd || tracer < 0) {
		err = wd ? -errno : -ENOMEM;
		goto cleanup;
	}
	*wd = (struct watchdog){ .held_fd = h->held_fd, .timeouts = &skel->bss->hold_timeouts,
				 .timeout_ns = skel->rodata->hold_ms * 1000000ULL };
	h->watchdog = fork();
	if (h->watchdog == 0)
		watchdog_start(wd, bpf_map__fd(skel->maps.hold_rb), tracer);
	if (h->watchdog < 0 || (h->watchdog_fd = pidfd_open(h->watchdog)) < 0) {
		err = -errno;
		goto cleanup;
	}
	h->on = true;
cleanup:
	if (err)
		pt_warn("new programs are not held at exec (no watchdog: %s): their first "
			"requests may be missed", strerror(-err));
	if (tracer >= 0)
		close(tracer);
	free(wd);
	return 0;
}

void hold__arm(struct hold *h)
{
	if (h)
		__atomic_store_n(&h->armed, true, __ATOMIC_RELEASE);
	hold__alive(h);
}

void hold__alive(struct hold *h)
{
	struct pollfd pfd;

	if (!h || !h->on || !__atomic_load_n(&h->armed, __ATOMIC_ACQUIRE))
		return;
	pfd = (struct pollfd){ .fd = h->watchdog_fd, .events = POLLIN };
	if (poll(&pfd, 1, 0) == 1) {
		pt_warn("the exec hold watchdog is gone: new programs are no longer held");
		hold__stop(h);
		return;
	}
	h->skel->bss->hold_alive_ns = mono_now_ns();
}

void hold__release(struct hold *h, pid_t pid, const struct pt_file_id *known)
{
	__u8 one = 1;

	if (!h || !h->skel->rodata->hold_ms)
		return;
	if (known)
		bpf_map_update_elem(h->known_fd, known, &one, BPF_ANY);
	if (resume(h->held_fd, pid, 0))
		__atomic_fetch_add(&h->released, 1, __ATOMIC_RELAXED);
}

void hold__stop(struct hold *h)
{
	if (!h || !h->on)
		return;
	h->on = false;
	h->skel->bss->hold_alive_ns = 0;
	/* a hold decided on another CPU just before lands in the map: sweep twice */
	resume_all(h->held_fd);
	usleep(1000);
	resume_all(h->held_fd);
}

void hold__free(struct hold *h)
{
	if (!h)
		return;
	hold__stop(h);
	/* the watchdog ends by itself when this process does (and resumes anything left) */
	if (h->watchdog_fd >= 0)
		close(h->watchdog_fd);
	free(h);
}

void hold__stats(struct hold *h, struct hold_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!h)
		return;
	out->held = h->skel->bss->hold_count;
	out->timeouts = h->skel->bss->hold_timeouts;
	out->released = __atomic_load_n(&h->released, __ATOMIC_RELAXED);
}
