// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The definitions of every map and tunable declared in maps.bpf.h. */
#include "common.bpf.h"

const volatile __u32 self_tgid = 0;
const volatile bool has_pid_filter = false;
const volatile __u32 n_comm_filters = 0;
const volatile __u64 comm_words[PT_MAX_COMM_FILTERS][2] = {};
const volatile __u64 comm_masks[PT_MAX_COMM_FILTERS][2] = {};
const volatile __u64 wakeup_bytes = 256 * 1024;
const volatile bool has_task_pt_regs = false;
const volatile bool has_send_start = false;
const volatile bool has_task_storage = false;
const volatile bool has_destroy_sock = false;
const volatile bool has_cgroup_filter = false;
const volatile bool need_detail = true;

struct rb_map rb SEC(".maps");
__u64 rb_cons_pos = 0, rb_cons_still = 0;
struct rb_cpu_map rb_cpu SEC(".maps");
struct stats_map stats SEC(".maps");
struct pid_filter_map pid_filter SEC(".maps");
struct cgroup_filter_map cgroup_filter SEC(".maps");
struct conns_map conns SEC(".maps");
struct idle_watch_map idle_watch SEC(".maps");
struct accepted_map accepted SEC(".maps");
struct send_starts_map send_starts SEC(".maps");
struct conn_scratch_map conn_scratch SEC(".maps");
struct threads_map threads SEC(".maps");
struct thread_store_map thread_store SEC(".maps");
struct go_procs_map go_procs SEC(".maps");
struct sys_io_map sys_io SEC(".maps");
struct sys_io_store_map sys_io_store SEC(".maps");
struct http_scratch_map http_scratch SEC(".maps");
struct ssl_states_map ssl_states SEC(".maps");
struct tls_outers_map tls_outers SEC(".maps");
struct spans_map spans SEC(".maps");
const volatile __u32 render_spans = 0;
const volatile __u64 idle_flush_ns = 0;
struct go_gs_map go_gs SEC(".maps");
struct go_parent_map go_parent SEC(".maps");
struct go_newproc_map go_newproc SEC(".maps");
struct go_req_owner_map go_req_owner SEC(".maps");
struct go_writing_for_map go_writing_for SEC(".maps");
struct go_stw_map go_stw SEC(".maps");
struct h2_conns_map h2_conns SEC(".maps");
volatile bool h2_used = false;
struct h2_scratch_map h2_scratch SEC(".maps");
struct h2_zero_map h2_zero SEC(".maps");

const volatile __u32 hold_ms = 0;
volatile __u64 hold_alive_ns = 0;
volatile __u32 go_procs_gen = 0;
__u64 hold_count = 0;
__u64 hold_timeouts = 0;
struct exec_known_map exec_known SEC(".maps");
struct held_map held SEC(".maps");
struct hold_rb_map hold_rb SEC(".maps");

const volatile __u32 kagg_mode = PT_KAGG_OFF;
const volatile __u64 kagg_bounds[PT_KAGG_MAX_BOUNDS] = {};
const volatile __u32 kagg_nbounds = 0;
struct kagg_hist_map kagg_hist SEC(".maps");
struct kagg_zero_map kagg_zero SEC(".maps");
struct kagg_labels_map kagg_labels SEC(".maps");
struct kagg_kids_map kagg_kids SEC(".maps");
volatile bool kagg_kids_used = false;
const volatile bool kagg_top = false;
volatile __u64 kagg_slowest = 0;
struct kagg_iv_map kagg_iv SEC(".maps");
struct kagg_iv_zero_map kagg_iv_zero SEC(".maps");

char LICENSE[] SEC("license") = "Dual BSD/GPL";
