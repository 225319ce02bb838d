/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The assembled request: what every output (waterfall, JSON, metrics, top)
 * consumes. Built by the assembler from BPF records; owned by the assembler,
 * sinks must copy what they keep beyond the callback.
 */
#ifndef PT_REQUEST_H
#define PT_REQUEST_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>
#include "phasetrace.h"
#include "assemble/container.h"

enum phase_id {
	PHASE_DNS = 0,
	PHASE_CONNECT,
	PHASE_TLS,
	PHASE_SEND,
	PHASE_TTFB,
	PHASE_RECV,	/* client: first to last response byte */
	PHASE_RENDER,	/* server: render span (--probe render=... or Go templates) */
	PHASE_SPAN,	/* other --probe spans: name in phase.name */
	PHASE__COUNT,
};

#define REQ_MAX_PHASES	24
#define REQ_MAX_CHILDREN 64

struct phase {
	enum phase_id id;
	char name[24];		/* "dns", "connect", ..., or the --probe name */
	uint64_t start_ns;	/* CLOCK_MONOTONIC */
	uint64_t dur_ns;
	uint64_t io_ns;		/* render/spans: time blocked in socket writes */
	bool io_in_span;	/* render/spans: outbound requests started inside */
	char label[PT_LABEL_LEN];	/* e.g. template name */
	uint64_t gc_ns;		/* render/spans, Go: stop-the-world pauses inside */
};

struct request {
	enum pt_role role;
	uint32_t pid, tid;
	uint64_t goid;		/* 0 unless is_go */
	bool is_go;
	char comm[PT_COMM_LEN];
	uint64_t start_ns;	/* CLOCK_MONOTONIC, earliest phase start */
	uint64_t dur_ns;
	/* CLOCK_MONOTONIC -> unix epoch ns as of its assembly (pt_req_epoch_ns()): every
	 * output of the request (JSON, waterfall, OTLP, later) puts it at the same time */
	int64_t epoch_off;
	char host[PT_HOST_LEN];	/* "" if unknown */
	struct pt_addr peer, local;
	bool tls;
	enum pt_err error;	/* PT_ERR_NONE if fine */
	int dns_rc;		/* failed lookup (no connection): getaddrinfo rc */
	bool dns_failed;
	uint16_t status;	/* HTTP status, 0 if unknown */
	char method[PT_METHOD_LEN];
	char path[PT_PATH_LEN];
	uint64_t bytes_req, bytes_resp;
	uint64_t req_id, parent_id, conn_id;
	enum pt_end_reason end_reason;
	enum pt_proto proto;	/* PT_PROTO_UNKNOWN: HTTP/1.x if method or status is known */
	uint32_t stream_id;	/* HTTP/2 stream, 0 otherwise */
	bool has_grpc;		/* grpc_status is known */
	uint8_t grpc_status;
	int nphases;
	int nchildren;
	uint32_t children_dropped;
	/* cgroup, container id and runtime, pod UID (assemble/container.h): container.id,
	 * container.pod_uid ("" if none), filled just before the sinks see the request (last
	 * of what the assembler writes before the phases: only its cgroup_id is written first) */
	struct container container;
	/* only the first nphases / nchildren entries are initialised */
	struct phase phases[REQ_MAX_PHASES];
	struct request *children[REQ_MAX_CHILDREN];
	uint32_t writes;	/* socket writes of our payload (server: response writes) */
	uint32_t tpl_parses;	/* server, Go: template parses while serving it */
	bool is_grpc;		/* gRPC stream: status is HTTP, output shows grpc_status */
	bool kagg;		/* also counted in the kernel (PT_F_KAGG, --kernel-agg=check) */
};

const char *phase_name(enum phase_id id);
const char *role_name(enum pt_role role);
const char *err_name(enum pt_err err);	/* NULL for PT_ERR_NONE */
/* "10.1.2.3:443" / "[::1]:8080"; returns buf */
char *addr_str(const struct pt_addr *a, char *buf, size_t len);
const struct phase *request_phase(const struct request *r, enum phase_id id);

#endif
