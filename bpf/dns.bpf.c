// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Name resolution in libc: getaddrinfo() and gethostbyname*(). One record per
 * finished lookup with the host name, the result code and the resolved
 * addresses; the collector attributes it to the later connect() to one of
 * them (also when the lookup ran on another thread).
 */
#include "common.bpf.h"
#include "thread.bpf.h"
#include "agg.bpf.h"
#include "lib.bpf.h"

/* struct addrinfo and struct hostent are fixed by the LP64 ABI (glibc, musl) */
struct addrinfo_ {
	int ai_flags;
	int ai_family;
	int ai_socktype;
	int ai_protocol;
	__u32 ai_addrlen;
	void *ai_addr;
	char *ai_canonname;
	struct addrinfo_ *ai_next;
};

struct hostent_ {
	char *h_name;
	char **h_aliases;
	int h_addrtype;
	int h_length;
	char **h_addr_list;
};

struct sockaddr_in_ {
	__u16 family;
	__u16 port;
	__u8 addr[4];
};

struct sockaddr_in6_ {
	__u16 family;
	__u16 port;
	__u32 flowinfo;
	__u8 addr[16];
};

/* The sixth integer argument (libbpf 1.1 has no PT_REGS_PARM6). */
static __always_inline __u64 arg6(struct pt_regs *ctx)
{
#if defined(__TARGET_ARCH_x86)
	return BPF_CORE_READ(ctx, r9);
#else
	return BPF_CORE_READ(ctx, regs[5]);
#endif
}

static __always_inline int dns_enter(const char *name, __u64 res, __u8 func)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct thread_ctx *t;

	if (!name || !pt_traced(id >> 32))
		return 0;
	stat_inc(PT_STAT_UPROBE_EVENTS);
	t = thread_get(id);
	if (!t)
		return 0;
	/* gethostbyname() calls gethostbyname_r(): keep the outermost */
	if (t->dns_depth++)
		return 0;
	t->dns_start = bpf_ktime_get_ns();
	t->dns_name = (__u64)name;
	t->dns_res = res;
	t->dns_func = func;
	return 0;
}

static __always_inline struct pt_dns_rec *dns_exit_begin(struct thread_ctx **tp)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct thread_ctx *t = thread_lookup(id);
	struct pt_dns_rec *r;

	if (!t || !t->dns_depth)
		return NULL;
	if (--t->dns_depth)
		return NULL;
	r = bpf_ringbuf_reserve(&rb, sizeof(*r), 0);
	if (!r) {
		stat_inc(PT_STAT_RB_DROP_DNS);
		return NULL;
	}
	r->type = PT_REC_DNS;
	r->pid = id >> 32;
	r->tid = (__u32)id;
	r->start = t->dns_start;
	r->end = bpf_ktime_get_ns();
	r->goid = 0;
	r->flags = 0;
	r->naddr = 0;
	r->func = t->dns_func;
	r->parent_id = t->interleaved ? 0 : t->srv_req_id;
	kagg_child(r->parent_id);
	r->host[0] = 0;
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	r->cgroup_id = bpf_get_current_cgroup_id();
	bpf_probe_read_user_str(r->host, sizeof(r->host), (void *)t->dns_name);
	*tp = t;
	return r;
}

static __always_inline void put_addr(struct pt_dns_rec *r, int i, __u16 family, const void *src)
{
	if (i < 0 || i >= PT_DNS_MAX_ADDRS)
		return;
	r->addrs[i].family = family;
	__builtin_memset(r->addrs[i].addr, 0, 16);
	bpf_probe_read_user(r->addrs[i].addr, family == AF_INET ? 4 : 16, src);
}

/* Library probe handlers (include/probe_list.h, dispatched by bpf/lib.bpf.c). */

/* getaddrinfo(node, service, hints, res) */
PT_SHARED int on_getaddrinfo(struct pt_regs *ctx)
{
	return dns_enter((const char *)PT_REGS_PARM1(ctx), PT_REGS_PARM4(ctx), PT_DNS_GETADDRINFO);
}

static __always_inline int getaddrinfo_exit(int rc)
{
	struct thread_ctx *t = NULL;
	struct pt_dns_rec *r = dns_exit_begin(&t);
	struct addrinfo_ *ai = NULL, cur;
	int n = 0;

	if (!r || !t)
		return 0;
	r->rc = rc;
	if (rc == 0)
		bpf_probe_read_user(&ai, sizeof(ai), (void *)t->dns_res);
	for (int i = 0; i < PT_DNS_MAX_ADDRS * 2 && ai && n < PT_DNS_MAX_ADDRS; i++) {
		struct sockaddr_in6_ sa;

		if (bpf_probe_read_user(&cur, sizeof(cur), ai))
			break;
		if (cur.ai_addr && bpf_probe_read_user(&sa, sizeof(sa), cur.ai_addr) == 0) {
			/* getaddrinfo lists each address once per socket type */
			if (cur.ai_family == AF_INET && (cur.ai_socktype == 1 || !cur.ai_socktype)) {
				put_addr(r, n++, AF_INET, (char *)cur.ai_addr + 4);
			} else if (cur.ai_family == AF_INET6 &&
				   (cur.ai_socktype == 1 || !cur.ai_socktype)) {
				put_addr(r, n++, AF_INET6, (char *)cur.ai_addr + 8);
			}
		}
		ai = cur.ai_next;
	}
	r->naddr = n;
	pt_submit(r, false);
	return 0;
}

static __always_inline void hostent_addrs(struct pt_dns_rec *r, struct hostent_ *he)
{
	struct hostent_ h;
	char *a;
	int n = 0;

	if (!he || bpf_probe_read_user(&h, sizeof(h), he))
		return;
	if (h.h_addrtype != AF_INET && h.h_addrtype != AF_INET6)
		return;
	for (int i = 0; i < PT_DNS_MAX_ADDRS; i++) {
		if (bpf_probe_read_user(&a, sizeof(a), &h.h_addr_list[i]) || !a)
			break;
		put_addr(r, n++, h.h_addrtype, a);
	}
	r->naddr = n;
}

/* gethostbyname(name), gethostbyname2(name, af) */
PT_SHARED int on_gethostbyname(struct pt_regs *ctx)
{
	return dns_enter((const char *)PT_REGS_PARM1(ctx), 0, PT_DNS_GETHOSTBYNAME);
}

static __always_inline int gethostbyname_exit(void *he)
{
	struct thread_ctx *t = NULL;
	struct pt_dns_rec *r = dns_exit_begin(&t);

	if (!r)
		return 0;
	r->rc = he ? 0 : -1;
	hostent_addrs(r, he);
	pt_submit(r, false);
	return 0;
}

/* gethostbyname_r(name, ret, buf, buflen, result, h_errnop) */
PT_SHARED int on_gethostbyname_r(struct pt_regs *ctx)
{
	return dns_enter((const char *)PT_REGS_PARM1(ctx), PT_REGS_PARM5(ctx),
			 PT_DNS_GETHOSTBYNAME);
}

/* gethostbyname2_r(name, af, ret, buf, buflen, result, h_errnop) */
PT_SHARED int on_gethostbyname2_r(struct pt_regs *ctx)
{
	return dns_enter((const char *)PT_REGS_PARM1(ctx), arg6(ctx), PT_DNS_GETHOSTBYNAME);
}

static __always_inline int gethostbyname_r_exit(int rc)
{
	struct thread_ctx *t = NULL;
	struct pt_dns_rec *r = dns_exit_begin(&t);
	struct hostent_ *he = NULL;

	if (!r || !t)
		return 0;
	if (t->dns_res)
		bpf_probe_read_user(&he, sizeof(he), (void *)t->dns_res);
	r->rc = rc ? rc : (he ? 0 : -1);
	hostent_addrs(r, he);
	pt_submit(r, false);
	return 0;
}

PT_SHARED int on_getaddrinfo_ret(struct pt_regs *ctx)
{
	return getaddrinfo_exit((int)PT_REGS_RC(ctx));
}

PT_SHARED int on_gethostbyname_ret(struct pt_regs *ctx)
{
	return gethostbyname_exit((void *)PT_REGS_RC(ctx));
}

PT_SHARED int on_gethostbyname_r_ret(struct pt_regs *ctx)
{
	return gethostbyname_r_exit((int)PT_REGS_RC(ctx));
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
