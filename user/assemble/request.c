// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Names and formatting shared by every output. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "assemble/request.h"

/* bpf/agg.bpf.c counts the render phase in the kernel under this id (KAGG_PH_RENDER) */
_Static_assert(PHASE_RENDER == 6, "KAGG_PH_RENDER in bpf/agg.bpf.c");

static const char *const phase_names[PHASE__COUNT] = {
	[PHASE_DNS] = "dns",
	[PHASE_CONNECT] = "connect",
	[PHASE_TLS] = "tls",
	[PHASE_SEND] = "send",
	[PHASE_TTFB] = "ttfb",
	[PHASE_RECV] = "recv",
	[PHASE_RENDER] = "render",
	[PHASE_SPAN] = "span",
};

const char *phase_name(enum phase_id id)
{
	return id < PHASE__COUNT ? phase_names[id] : "?";
}

const char *role_name(enum pt_role role)
{
	switch (role) {
	case PT_ROLE_CLIENT: return "client";
	case PT_ROLE_SERVER: return "server";
	case PT_ROLE_SPAN: return "span";
	default: return "unknown";
	}
}

const char *err_name(enum pt_err err)
{
	switch (err) {
	case PT_ERR_NONE: return NULL;
	case PT_ERR_REFUSED: return "refused";
	case PT_ERR_TIMEOUT: return "timeout";
	case PT_ERR_RESET: return "reset";
	case PT_ERR_ABORTED: return "aborted";
	case PT_ERR_TLS: return "tls";
	case PT_ERR_UNREACH: return "unreachable";
	case PT_ERR_DNS: return "dns";
	case PT_ERR_NO_RESPONSE: return "no response";
	case PT_ERR_GRPC: return "grpc";
	default: return "error";
	}
}

static bool v4mapped(const struct pt_addr *a)
{
	static const unsigned char pfx[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return a->family == AF_INET6 && !memcmp(a->addr, pfx, 12);
}

/* a.b.c.d:port without printf: this runs for every JSON line */
static char *v4_str(const unsigned char *ip, unsigned int port, char *buf, size_t len)
{
	char tmp[32], *p = tmp + sizeof(tmp);
	unsigned int v = port;

	*--p = 0;
	do {
		*--p = '0' + v % 10;
		v /= 10;
	} while (v);
	*--p = ':';
	for (int i = 3; i >= 0; i--) {
		v = ip[i];
		do {
			*--p = '0' + v % 10;
			v /= 10;
		} while (v);
		if (i)
			*--p = '.';
	}
	memcpy(buf, p, tmp + sizeof(tmp) - p);	/* len >= 32 >= what we wrote */
	return buf;
}

char *addr_str(const struct pt_addr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (len >= 32 && (a->family == AF_INET || v4mapped(a)))
		return v4_str(a->family == AF_INET ? a->addr : a->addr + 12, a->port, buf, len);
	if (a->family == AF_INET || v4mapped(a)) {
		inet_ntop(AF_INET, a->family == AF_INET ? a->addr : a->addr + 12, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, a->port);
	} else if (a->family == AF_INET6) {
		inet_ntop(AF_INET6, a->addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, a->port);
	} else {
		snprintf(buf, len, "?");
	}
	return buf;
}

const struct phase *request_phase(const struct request *r, enum phase_id id)
{
	for (int i = 0; i < r->nphases; i++)
		if (r->phases[i].id == id)
			return &r->phases[i];
	return NULL;
}
