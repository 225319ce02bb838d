/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Inside diagnose/: the per-group accumulators (diagnose.c fills them, report.c reads
 * them) and every threshold of docs/diagnose.md, in one place.
 */
#ifndef PT_DIAG_IMPL_H
#define PT_DIAG_IMPL_H

#include "diagnose/diagnose.h"
#include "export/histogram.h"

/* ---- thresholds (docs/diagnose.md) ---- */
#define DIAG_MIN_HOLDS		5	/* a finding holds for at least this many requests */
#define DIAG_HOLD_SHARE		0.5	/* ... and this share of the requests it applies to */
#define DIAG_DNS_AGAIN_NS	60000000000ULL	/* the same name looked up again within 60 s */
#define DIAG_SMALL_MIN_WRITES	16	/* small-writes: at least this many writes ... */
#define DIAG_SMALL_WRITE_BYTES	1024	/* ... of fewer bytes on average */
#define DIAG_SLOW_SHARE		0.5	/* slow-client: send is this share of the request */
#define DIAG_SLOW_MIN_NS	10000000ULL	/* ... and at least 10 ms */
#define DIAG_DEADLINE_SHARE	0.1	/* deadline: this share of requests end in an error */
#define DIAG_DEADLINE_SPREAD	0.1	/* ... within 10 % of their median duration */
#define DIAG_DEADLINE_CLOSE	0.8	/* ... for this share of them */
#define DIAG_ERR_KEEP		256	/* error durations kept per group */
#define DIAG_TLS_FAIL_SHARE	0.1	/* tls-failure: this share of handshakes fail */
/* delayed-ack: a message read in parts this far apart (Linux's minimum delayed-ACK
 * time, TCP_DELACK_MIN, is 40 ms; the timer fires a tick or a busy CPU's moment late) */
#define DIAG_DELACK_MIN_NS	36000000ULL
#define DIAG_DELACK_MAX_NS	60000000ULL
#define DIAG_PEERS		32	/* peers remembered per group (connections) */
#define DIAG_HOSTS		16	/* names remembered per group (lookups) */
#define DIAG_HOST_LEN		64

enum diag_cat {
	CAT_DNS, CAT_CONNECT, CAT_TLS, CAT_SEND, CAT_TTFB, CAT_RECV, CAT_RENDER, CAT_CALLS,
	CAT_APP, CAT__COUNT,
};

extern const char *const diag_cat_names[CAT__COUNT];

enum diag_finding {
	F_CONNECT, F_DNS, F_RENDER_CALLS, F_SEQUENTIAL, F_SLOW_CLIENT, F_SMALL_WRITES,
	F_DEADLINE, F_TPL_PARSE, F_GC_RENDER, F_TLS_FAIL, F_DELAYED_ACK, F__COUNT,
};

extern const char *const diag_finding_names[F__COUNT];

/* What one finding counted: holds / of requests, and sums for its evidence. */
struct diag_count {
	uint64_t holds, of;
	uint64_t n;		/* calls, writes, lookups ... of the requests it holds for */
	uint64_t n2;		/* a part of n (delayed-ack: stalls reading a request) */
	uint64_t ns, ns2;	/* time sums of those (meaning per finding) */
	uint64_t bytes;
	char what[DIAG_HOST_LEN];	/* a peer or name it held for (last seen) */
};

struct diag_host {
	char name[DIAG_HOST_LEN];
	uint64_t last;		/* end of its last lookup */
};

struct diag_group {
	enum pt_role role;
	uint32_t pid;
	char comm[PT_COMM_LEN];
	char endpoint[DIAG_ENDPOINT_LEN];
	uint64_t n, total_ns;
	struct histogram *total;
	uint64_t cat_ns[CAT__COUNT], cat_n[CAT__COUNT];
	struct histogram *cat[CAT__COUNT];	/* exclusive time, requests that had it */
	struct diag_count f[F__COUNT];
	uint64_t err_ns[DIAG_ERR_KEEP];	/* durations of requests ending in an error */
	uint32_t nerr_kept;
	struct diag_peer {
		struct pt_addr addr;
		bool failed;	/* its last call failed: a new connection is no mistake */
	} peers[DIAG_PEERS];
	uint32_t npeers;
	struct diag_host hosts[DIAG_HOSTS];
	struct request *typical;	/* a copy of the request nearest the running p50 */
};

struct diagnose {
	struct diag_group *groups[DIAG_MAX_GROUPS];
	int ngroups;
	uint64_t seen, overflow;	/* overflow: requests of groups over the cap */
	uint64_t first_ns, last_ns;
};

/* report.c: what holds (the deadline's median duration in *deadline_ns) */
bool diag_holds(const struct diag_group *g, enum diag_finding f, uint64_t *deadline_ns);

#endif
