# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Shared by tools/bench and tools/bench-compare (sourced, not run): servers on
# loopback, wrk, a tracer started and stopped, its detaching child waited for.
# The caller sets ROOT, DURATION, READY_TIMEOUT, TAG and PHASETRACE and defines die() first.

BACKEND=${BACKEND:-$ROOT/build/fixtures/backend}
NGINX=${NGINX:-/usr/sbin/nginx}


TMP=$(mktemp -d /tmp/pt-bench.XXXXXX)
chmod 755 "$TMP"
PIDS=()		# everything we started, stopped at exit

cleanup() {
	local p
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		p=${PIDS[i]}
		kill -TERM "$p" 2>/dev/null || continue
		for _ in $(seq 50); do		# up to 5 s, then hard
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	stats_restore
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Wait until the fifo $1 yields a line matching $2 ($3 times); then keep draining it
# into the log $4 so the writer never blocks.
wait_line() {
	local fifo=$1 re=$2 count=$3 log=$4 line fd
	exec {fd}<"$fifo"
	while [ "$count" -gt 0 ]; do
		IFS= read -r -t "$READY_TIMEOUT" line <&"$fd" || {
			echo "bench: no '$re' from $fifo; log:" >&2
			cat "$log" >&2
			return 1
		}
		echo "$line" >>"$log"
		if [[ $line =~ $re ]]; then
			count=$((count - 1))
			MATCH=$line
		fi
	done
	cat <&"$fd" >>"$log" &
	exec {fd}<&-
}

# wrk's own options beyond the load's shape: -H "Connection: close" for a connection per
# request (bench-compare -C); the caller sets it before the first run
WRK_OPTS=()

# rps DURATION URL: wrk's Requests/sec
rps() {
	local out
	out=$(wrk -t2 -c32 -d"${DURATION}s" "${WRK_OPTS[@]}" "$1") || die "wrk failed: $out"
	sed -n 's/^Requests\/sec: *//p' <<<"$out"
}

# wrk_run URL: sets RPS (Requests/sec) and REQS (requests completed), no subshell
wrk_run() {
	wrk -t2 -c32 -d"${DURATION}s" "${WRK_OPTS[@]}" "$1" >"$TMP/wrk.out" 2>&1 || die "wrk failed: $(cat "$TMP/wrk.out")"
	RPS=$(sed -n 's/^Requests\/sec: *//p' "$TMP/wrk.out")
	REQS=$(awk '/requests in/ { print $1 }' "$TMP/wrk.out")
}

# ---- per-BPF-program statistics: kernel.bpf_stats_enabled, restored at exit ----
# It costs every BPF program run two clock reads (bench: ~1 % of nginx's traced
# throughput, in the noise), and production hosts run without it. stats_enable keeps it
# on for the whole run (bench-compare: both builds pay alike); stats_profile_only keeps it
# off, and profile_round turns it on for one traced round whose throughput is no ratio's.
STATS_OLD=
stats_set() {
	[ -n "$STATS_OLD" ] || STATS_OLD=$(sysctl -n kernel.bpf_stats_enabled)
	sysctl -qw kernel.bpf_stats_enabled="$1"
}
stats_enable() { stats_set 1; }
stats_profile_only() { stats_set 0; }

stats_restore() {
	[ -z "$STATS_OLD" ] || sysctl -qw kernel.bpf_stats_enabled="$STATS_OLD" || true
}

# prog_snapshot PID FILE: "prog_id run_cnt run_time_ns" of each BPF program PID holds
prog_snapshot() {
	# one awk over every fd: an awk per fd (hundreds) would be as many execs, each of
	# which the tracer scans for probes three times (0, 30 and 500 ms later), during
	# the round
	awk 'FNR == 1 { if (i != "" && c != "") print i, c, t; i = c = t = "" }
	     /^prog_id:/ { i = $2 } /^run_time_ns:/ { t = $2 } /^run_cnt:/ { c = $2 }
	     END { if (i != "" && c != "") print i, c, t }' /proc/"$1"/fdinfo/* \
		>"$2" 2>/dev/null || true
}

# traced_round URL OUT: wrk while the tracer ($TRACER) runs; OUT gets its programs'
# run counts and times gained during the round (tools/bench-stats.py diff)
traced_round() {
	prog_snapshot "$TRACER" "$TMP/s0"
	CPU0=$(tracer_cpu)
	wrk_run "$1"
	CPU1=$(tracer_cpu)
	prog_snapshot "$TRACER" "$TMP/s1"
	bpftool prog show -j >"$TMP/progs.json" 2>/dev/null || echo '[]' >"$TMP/progs.json"
	"$ROOT/tools/bench-stats.py" diff "$TMP/s0" "$TMP/s1" "$TMP/progs.json" "$REQS" >"$2"
}

# profile_round URL OUT: traced_round with kernel.bpf_stats_enabled on for it alone
profile_round() {
	stats_set 1
	traced_round "$@"
	stats_set 0
}

# perf_round URL OUT: traced_round under `perf record -g` of every CPU, bpf_stats off as in
# the compared rounds (its two clock reads per program run would count as BPF time); OUT
# gets the samples' summary (tools/bench-stats.py perfsum): what tracing takes of the busy
# CPU, by BPF function with the helpers it calls, dispatch, uprobes and the tracer process
perf_round() {
	local perf_pid data=$TMP/perf.data
	rm -f "$data"
	perf record -a -g -F 2999 -o "$data" >"$TMP/perf.log" 2>&1 &
	perf_pid=$!
	PIDS+=("$perf_pid")
	# sampling has begun once perf has written its header
	for _ in $(seq 100); do [ -s "$data" ] && break; sleep 0.05; done
	traced_round "$1" "$TMP/perf-round.stats"	# bpf_stats off: nothing
	kill -INT "$perf_pid" 2>/dev/null || true
	wait "$perf_pid" || true
	unset 'PIDS[-1]'
	perf script -i "$data" -F pid,ip,sym 2>>"$TMP/perf.log" |
		"$ROOT/tools/bench-stats.py" perfsum "$TRACER" "$perf_pid" >"$2" || true
	rm -f "$data"
}

start_backend() {
	mkfifo "$TMP/backend.out"
	"$BACKEND" --addr 127.0.0.1 --port 0 --ttfb-ms 0 --body-bytes 612 \
		>"$TMP/backend.out" 2>"$TMP/backend.err" &
	PIDS+=($!)
	SERVER_PIDS=($!)
	wait_line "$TMP/backend.out" '^READY [0-9]+$' 1 "$TMP/backend.log"
	PORT=${MATCH#READY }
	URL=http://127.0.0.1:$PORT/
}

start_nginx() {
	local port
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	mkdir -p "$TMP/www"
	head -c 612 /dev/zero | tr '\0' 'x' >"$TMP/www/index.html"
	chmod -R a+rX "$TMP/www"
	cat >"$TMP/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 2;
pid $TMP/nginx.pid;
error_log stderr notice;
events { worker_connections 1024; }
http {
	access_log off;
	keepalive_requests 1000000;
	client_body_temp_path $TMP/body;
	proxy_temp_path $TMP/proxy;
	fastcgi_temp_path $TMP/fastcgi;
	uwsgi_temp_path $TMP/uwsgi;
	scgi_temp_path $TMP/scgi;
	server {
		listen 127.0.0.1:$port;
		root $TMP/www;
	}
}
EOF
	mkfifo "$TMP/nginx.err"
	"$NGINX" -e stderr -p "$TMP/" -c "$TMP/nginx.conf" 2>"$TMP/nginx.err" &
	PIDS+=($!)
	# the master logs "start worker process N" for each: both up = ready
	wait_line "$TMP/nginx.err" 'start worker process [0-9]+' 2 "$TMP/nginx.log"
	SERVER_PIDS=($(sed -n 's/.*start worker process \([0-9]*\).*/\1/p' "$TMP/nginx.log"))
	URL=http://127.0.0.1:$port/index.html
}

stop_last() {	# the most recently started process (a server)
	local p=${PIDS[-1]}
	# TERM: background jobs of a script start with SIGINT and SIGQUIT ignored
	kill -TERM "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
	unset 'PIDS[-1]'
}

# trace_on PID...: phasetrace attached to these pids (none: the whole host), ready.
# $PHASETRACE is the binary; $TRACE_CMD the command (default: trace --json).
trace_on() {
	local args=() p
	for p in "$@"; do
		args+=(-p "$p")
	done
	rm -f "$TMP/pt.err" "$TMP/pt.log"
	mkfifo "$TMP/pt.err"
	local t0=$EPOCHREALTIME
	env "$TAG" "$PHASETRACE" ${TRACE_CMD:-trace --json} "${args[@]}" >/dev/null \
		2>"$TMP/pt.err" &
	TRACER=$!
	PIDS+=($TRACER)
	wait_line "$TMP/pt.err" '^phasetrace: ready$' 1 "$TMP/pt.log" || return 1
	echo "$t0 $EPOCHREALTIME" >>"$TMP/ready.times"
}

# How long the tracer took from its launch to "ready" (BPF verification, mostly), over
# every start of this run (trace_on()'s). $1: what to add to the line, if anything.
start_line() {
	[ -s "$TMP/ready.times" ] || return 0
	awk '{ printf "%.3f\n", $2 - $1 }' "$TMP/ready.times" | sort -n |
		awk '{ d[NR] = $1 }
		     END { m = NR % 2 ? d[(NR + 1) / 2] : (d[NR / 2] + d[NR / 2 + 1]) / 2
			   printf "tracer start, launch to ready: %.2f s median (%.2f-%.2f) over %d starts%s\n",
				  m, d[1], d[NR], NR, note }' note="${1:-}"
}

# phasetrace exits at once and leaves its uprobes and tracepoints to a setsid()
# child that detaches them in the background: the next untraced run must wait for
# it. Ours is the "phasetrace" that inherited our tracer's $TAG environment
# variable (other phasetrace runs on the host are not ours to wait for).
# as_phasetrace PATH NAME: PATH if it is named phasetrace, else a copy of it as
# $TMP/NAME/phasetrace: wait_detached() knows a tracer by that comm, and a build under
# another name would detach into the next round unwaited
as_phasetrace() {
	if [ "$(basename "$1")" = phasetrace ]; then
		echo "$1"
		return
	fi
	mkdir -p "$TMP/$2"
	cp "$1" "$TMP/$2/phasetrace"
	echo "$TMP/$2/phasetrace"
}

wait_detached() {
	local d p comm
	for d in /proc/[0-9]*; do
		p=${d#/proc/}
		comm=$(cat "$d/comm" 2>/dev/null) || continue
		[ "$comm" = phasetrace ] || continue
		{ tr '\0' '\n' <"$d/environ"; } 2>/dev/null | grep -qx "$TAG" || continue
		echo "  waiting for phasetrace pid $p to finish detaching" >&2
		timeout 60 tail -s 0.1 --pid="$p" -f /dev/null || true
	done
}

# tracer_cpu: the tracer's user + system CPU time so far, in clock ticks
tracer_cpu() {
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$TRACER/stat"
}

# records_round OUT: the tracer's CPU per wrk request during the round and, with a tracer
# serving /metrics (serve), what crossed the ring buffer per request it counted, once the
# collector caught up: "records=R kernel=K requests=N cpu_ns_per_wrk_req=C" into OUT
records_round() {
	local port text
	port=$(sed -n 's/^phasetrace: serving \/metrics on port \([0-9]*\)$/\1/p' "$TMP/pt.log")
	text=
	if [ -n "$port" ]; then
		sleep 1		# the assembler's reorder window and a tick or two
		text=$(curl -s "http://127.0.0.1:$port/metrics") || text=
	fi
	awk -v cpu=$((CPU1 - CPU0)) -v hz="$(getconf CLK_TCK)" -v wrk="$REQS" \
	    '/^phasetrace_events_read_total / { r = $2 } /^phasetrace_kernel_counted_total / { k = $2 }
	     /^phasetrace_requests_total\{/ { n += $2 }
	     END { printf "records=%d kernel=%d requests=%d cpu_ns_per_wrk_req=%.0f\n", r, k, n,
		   wrk ? cpu / hz * 1e9 / wrk : 0 }' <<<"$text" >"$1"
}

trace_off() {
	kill -INT "$TRACER"
	wait "$TRACER" || die "phasetrace exited $? after SIGINT: $(cat "$TMP/pt.log")"
	unset 'PIDS[-1]'
	wait_detached
	grep -i "lost\|drop" "$TMP/pt.log" >&2 || true
	# what the tracer said it lost, at exit
	LOST=$(sed -n 's/.* \([0-9][0-9]*\) requests lost.*(in total).*/\1/p' "$TMP/pt.log" |
	       tail -1)
	LOST=${LOST:-0}
}

