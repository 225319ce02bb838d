/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Internals shared by metrics.c (aggregation) and metrics_expo.c (exposition). */
#ifndef PT_METRICS_IMPL_H
#define PT_METRICS_IMPL_H

#include <locale.h>
#include <pthread.h>
#include "export/histogram.h"
#include "export/metrics.h"
#include "util/sanitize.h"

#define NCLASS		6	/* 0: unknown status, 1..5: 1xx..5xx */
#define ERR_DNS		PT_ERR_DNS
#define NERR		(PT_ERR_GRPC + 1)
#define NSLOT		(METRICS_NPHASES + NCLASS)	/* histograms per row snapshot */
#define ROW_RESERVE	3	/* ("other", role, "other") for client, server, unknown */
#define SELF_LABEL_LEN	48
/* Longer durations are clock mix-ups (end before start): clamped, counted. */
#define MAX_DUR_NS	(24ULL * 3600 * 1000000000)

struct row {
	char comm[PT_COMM_LEN];
	char container[CT_UNIT_LEN];	/* short id or unit; "" unless by_container */
	enum pt_role role;
	char peer[METRICS_PEER_LEN];
	struct histogram *phase[METRICS_NPHASES];
	struct histogram *req[NCLASS];
	uint64_t errors[NERR];
	uint64_t reqs_total, errors_total;
	/* current interval (opts.intervals) */
	struct histogram *iv[METRICS_NPHASES + 1];
	uint64_t iv_reqs, iv_errors;
};

struct comm_ent {
	char comm[PT_COMM_LEN];
	char container[CT_UNIT_LEN];
	int npeers;		/* rows other than peer="other" */
};

struct self_ent {
	char label[SELF_LABEL_LEN];
	uint64_t v;
};

struct metrics {
	pthread_mutex_t lock;
	int nbounds;
	uint64_t bounds_ns[HIST_MAX_BOUNDS];
	char le[HIST_MAX_BOUNDS][32];
	int max_peers, max_comms, max_series;
	bool intervals;
	bool by_container;	/* rows per (comm, container): --labels container, top */
	char version[64];

	struct row *rows;
	int nrows, cap_rows;
	int *row_slots;		/* index into rows, -1 empty */
	unsigned row_mask;
	struct comm_ent *comms;
	int ncomms;
	int *comm_slots;
	unsigned comm_mask;

	uint64_t peers_folded, comms_folded;
	uint64_t clamped;
	struct self_ent self[METRICS_SELF__COUNT][METRICS_SELF_MAX_LABELS];
	int nself[METRICS_SELF__COUNT];

	uint64_t iv_start;
	uint64_t iv_reqs, iv_errors;
	struct request *slowest;
	struct series_ent *series;	/* SERIES_CACHE entries: raw labels -> row (metrics.c) */

	/* in-kernel aggregation (export/kagg.c): told each counted request's label id */
	metrics_label_cb on_label;
	void *label_ctx;
	bool count_kagg;	/* count requests flagged kagg too (the check's shadow) */
};

extern const char *const metrics_phase_labels[METRICS_NPHASES];
extern const char *const metrics_err_labels[NERR];

locale_t metrics_c_locale_begin(void);
void metrics_c_locale_end(locale_t old);
void metrics_fmt_float(char *buf, size_t len, double v);
uint64_t metrics_self_sum(const struct metrics *m, enum metrics_self f);

#endif
