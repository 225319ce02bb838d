// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Discovery and attach off the event loop; see worker.h. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attach/hold.h"
#include "attach/worker.h"
#include "util/clock.h"

#define QUEUE_MAX	1024	/* pids to scan now */
#define DELAYED_MAX	1024	/* rescans after exec */
/* Go processes asking for goexit1 (at most one request each, merged): apart from the scan
 * queue, so that a burst of execs filling it never drops one (BPF asks only once). As
 * many as BPF can know Go processes: it cannot fill unless pids churn faster than the
 * worker runs these jobs. */
#define GOEXIT_MAX	PT_MAX_GO_PROCS
#define ALIVE_NS	500000000ULL	/* heartbeat period (hold.h) */

/* A pid to scan; after an exec, the executable's identity and whether it is held;
 * goexit: not a scan, its Go executable's runtime.goexit1 to probe (from w->goexit). */
struct job {
	pid_t pid;
	bool exec, held, goexit;
	struct pt_file_id id;
};

struct delayed {
	pid_t pid;
	uint64_t due;		/* CLOCK_MONOTONIC ns */
};

struct worker {
	struct targets *t;
	struct hold *hold;
	volatile int *cancel;
	pid_t *pids;
	int npids;
	pthread_t thread;
	bool started, joined;
	pthread_mutex_t mu;
	pthread_cond_t work;	/* a job was posted, or stop */
	pthread_cond_t done;	/* the initial scan ended */
	bool stop, initial_done;
	struct job queue[QUEUE_MAX];
	int head, len;
	struct delayed delayed[DELAYED_MAX];
	int ndelayed;
	pid_t goexit[GOEXIT_MAX];	/* in the order asked */
	int goexit_head, ngoexit;
	struct worker_stats st;
};

static struct timespec to_timespec(uint64_t ns)
{
	return (struct timespec){ .tv_sec = ns / 1000000000ULL, .tv_nsec = ns % 1000000000ULL };
}

/* The targets' counters, for other threads to read. */
static void publish(struct worker *w, int scans)
{
	struct targets_stats ts;

	targets__stats(w->t, &ts);
	pthread_mutex_lock(&w->mu);
	w->st.t = ts;
	w->st.scans += scans;
	pthread_mutex_unlock(&w->mu);
}

/* The next job due (held processes first, then goexit1 requests: a Go process's
 * goroutine state waits for them), or false with *wake the time of the next delayed
 * one (0: none). */
static bool next_job(struct worker *w, uint64_t *wake, struct job *out)
{
	uint64_t now = mono_now_ns();
	int first = -1;

	if (w->len && w->queue[w->head].held)
		goto queued;
	if (w->ngoexit) {
		*out = (struct job){ .pid = w->goexit[w->goexit_head], .goexit = true };
		w->goexit_head = (w->goexit_head + 1) % GOEXIT_MAX;
		w->ngoexit--;
		return true;
	}
	for (int i = 0; i < w->ndelayed; i++)
		if (first < 0 || w->delayed[i].due < w->delayed[first].due)
			first = i;
	if (first >= 0 && w->delayed[first].due <= now) {
		*out = (struct job){ .pid = w->delayed[first].pid };
		w->delayed[first] = w->delayed[--w->ndelayed];
		return true;
	}
	if (w->len)
		goto queued;
	*wake = first >= 0 ? w->delayed[first].due : 0;
	return false;
queued:
	*out = w->queue[w->head];
	w->head = (w->head + 1) % QUEUE_MAX;
	w->len--;
	return true;
}

/* One job: after an exec, the executable first, then the process may run. */
static void do_job(struct worker *w, const struct job *j)
{
	if (j->goexit) {
		targets__probe_goexit(w->t, j->pid);
		return;
	}
	if (!j->exec) {
		targets__scan_pid(w->t, j->pid);
		return;
	}
	hold__release(w->hold, j->pid, targets__scan_exe(w->t, j->pid) ? NULL : &j->id);
	targets__scan_maps(w->t, j->pid);
}

/* Between the files and processes of the initial scan: held processes wait for nothing else. */
static void between_scans(void *arg)
{
	struct worker *w = arg;
	struct job j;
	bool any;

	hold__alive(w->hold);
	do {
		pthread_mutex_lock(&w->mu);
		any = w->len && w->queue[w->head].held && !w->stop;
		if (any) {
			j = w->queue[w->head];
			w->head = (w->head + 1) % QUEUE_MAX;
			w->len--;
		}
		pthread_mutex_unlock(&w->mu);
		if (any)
			do_job(w, &j);
	} while (any);
}

static void *run(void *arg)
{
	struct worker *w = arg;
	uint64_t wake = 0;
	struct job j;

	hold__alive(w->hold);	/* held processes are answered during the initial scan too */
	if (!targets__scan_system(w->t))
		targets__scan_all(w->t, w->pids, w->npids);
	publish(w, 0);
	pthread_mutex_lock(&w->mu);
	w->initial_done = true;
	pthread_cond_broadcast(&w->done);
	while (!w->stop) {
		hold__alive(w->hold);
		if (!next_job(w, &wake, &j)) {
			uint64_t beat = mono_now_ns() + ALIVE_NS;
			struct timespec ts = to_timespec(wake && wake < beat ? wake : beat);

			pthread_cond_timedwait(&w->work, &w->mu, &ts);
			continue;
		}
		pthread_mutex_unlock(&w->mu);
		do_job(w, &j);
		publish(w, 1);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static int init_sync(struct worker *w)
{
	pthread_condattr_t ca;
	int err;

	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	err = pthread_cond_init(&w->work, &ca);
	if (!err)
		err = pthread_cond_init(&w->done, &ca);
	pthread_condattr_destroy(&ca);
	return -err;
}

int worker__new(struct targets *t, struct hold *hold, volatile int *cancel, const pid_t *pids,
		int npids, struct worker **out)
{
	struct worker *w = calloc(1, sizeof(*w));
	sigset_t all, old;
	int err;

	if (!w)
		return -ENOMEM;
	w->t = t;
	w->hold = hold;
	targets__on_between(t, between_scans, w);
	w->cancel = cancel;
	w->pids = npids ? calloc(npids, sizeof(*pids)) : NULL;
	err = npids && !w->pids ? -ENOMEM : init_sync(w);
	if (err) {
		free(w->pids);
		free(w);
		return err;
	}
	if (npids)
		memcpy(w->pids, pids, npids * sizeof(*pids));
	w->npids = npids;
	/* signals are the event loop's (its signalfd): none for this thread */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = -pthread_create(&w->thread, NULL, run, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	w->started = !err;
	if (err) {
		worker__free(w);
		return err;
	}
	*out = w;
	return 0;
}

int worker__wait_initial(struct worker *w, uint64_t timeout_ns)
{
	struct timespec ts = to_timespec(mono_now_ns() + timeout_ns);
	int err = 0;

	pthread_mutex_lock(&w->mu);
	while (!w->initial_done && !w->stop && err != ETIMEDOUT)
		err = pthread_cond_timedwait(&w->done, &w->mu, &ts);
	err = w->initial_done ? 0 : -ETIMEDOUT;
	pthread_mutex_unlock(&w->mu);
	return err;
}

static struct job *queued(struct worker *w, pid_t pid)
{
	for (int i = 0; i < w->len; i++)
		if (w->queue[(w->head + i) % QUEUE_MAX].pid == pid)
			return &w->queue[(w->head + i) % QUEUE_MAX];
	return NULL;
}

/* A goexit1 request for pid, merged with one waiting for the same pid. */
static int enqueue_goexit(struct worker *w, pid_t pid)
{
	for (int i = 0; i < w->ngoexit; i++)
		if (w->goexit[(w->goexit_head + i) % GOEXIT_MAX] == pid)
			return 0;
	if (w->ngoexit == GOEXIT_MAX)
		return -ENOSPC;
	w->goexit[(w->goexit_head + w->ngoexit++) % GOEXIT_MAX] = pid;
	return 0;
}

/* Queue j (a held process at the front); merged with a job queued for the same pid. */
static int enqueue(struct worker *w, const struct job *j)
{
	struct job *q = queued(w, j->pid);

	if (q && !j->exec)
		return 0;
	if (q) {
		*q = *j;	/* the latest exec of that pid is the one to decide */
		return 0;
	}
	if (w->len == QUEUE_MAX)
		return -ENOSPC;
	if (j->held) {
		w->head = (w->head + QUEUE_MAX - 1) % QUEUE_MAX;
		w->queue[w->head] = *j;
	} else {
		w->queue[(w->head + w->len) % QUEUE_MAX] = *j;
	}
	w->len++;
	return 0;
}

static int post(struct worker *w, const struct job *j, uint64_t delay_ns)
{
	int err = 0;

	pthread_mutex_lock(&w->mu);
	if (w->stop) {
		err = -ECANCELED;
	} else if (delay_ns) {
		if (w->ndelayed < DELAYED_MAX)
			w->delayed[w->ndelayed++] = (struct delayed){ j->pid, mono_now_ns() + delay_ns };
		else
			err = -ENOSPC;
	} else {
		err = j->goexit ? enqueue_goexit(w, j->pid) : enqueue(w, j);
	}
	w->st.dropped += err == -ENOSPC;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
	return err;
}

int worker__post(struct worker *w, pid_t pid, uint64_t delay_ns)
{
	return post(w, &(struct job){ .pid = pid }, delay_ns);
}

int worker__post_goexit(struct worker *w, pid_t pid)
{
	return post(w, &(struct job){ .pid = pid, .goexit = true }, 0);
}

int worker__post_exec(struct worker *w, pid_t pid, const struct pt_file_id *id, bool held)
{
	int err = post(w, &(struct job){ .pid = pid, .exec = true, .held = held, .id = *id }, 0);

	if (err && held)
		hold__release(w->hold, pid, NULL);	/* nobody would attach: run it now */
	return err;
}

void worker__stop(struct worker *w)
{
	if (!w || w->joined)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	*w->cancel = 1;
	pthread_cond_broadcast(&w->work);
	pthread_cond_broadcast(&w->done);
	pthread_mutex_unlock(&w->mu);
	if (w->started)
		pthread_join(w->thread, NULL);
	w->joined = true;
}

void worker__free(struct worker *w)
{
	if (!w)
		return;
	worker__stop(w);
	pthread_cond_destroy(&w->work);
	pthread_cond_destroy(&w->done);
	pthread_mutex_destroy(&w->mu);
	free(w->pids);
	free(w);
}

void worker__stats(struct worker *w, struct worker_stats *out)
{
	pthread_mutex_lock(&w->mu);
	*out = w->st;
	pthread_mutex_unlock(&w->mu);
}
