#!/usr/bin/env bash
#
# bench/idle.sh - scenario B1 (idle hold) and the reconnect storm on a
# private PostgreSQL and a Release ementord, with ementor-idle (bench/idle.c).
# For each connection count: ementord's RSS before, while N authenticated
# connections sit idle (pinging every 30 s), and a minute after they closed;
# with BENCH_STORM=1 also the storm: all N dropped at once and reconnected at
# once (resume + sync), timed. One result line per count; everything in
# $OUT.
#
#   bench/idle.sh [N ...]        (default: 1000 10000 19000)
#
# Environment: BENCH_HOLD (seconds held, default 30), BENCH_PING (seconds
# between a client's pings, default 30; above 70 the server's own pings keep
# the connections), BENCH_AFTER (seconds
# after the close before the last RSS, default 60), BENCH_STORM=1,
# BENCH_PARALLEL (handshakes in flight while connecting, default 200),
# BENCH_STORM_PARALLEL (in the storm, default 2000), BENCH_TIMEOUT (the
# client's per-step handshake timeout in seconds, default 30),
# BENCH_SERVER_ARGS (extra ementord options), BENCH_SERVER_WRAP (a command
# to run ementord under, e.g. "heaptrack -o FILE": its figures are then the
# wrapper's), BENCH_OUT, BENCH_BUILD_DIR.
# Each result line ends with ementor-idle's self-checks (checks=K/K ok when
# every phase's connections added up and matched its sockets), its exit
# status, and the most descriptors ementord held (sampled every 0.5 s; its
# limit is the hard RLIMIT_NOFILE; the storm's drop resets the connections,
# so it need not hold the old ones next to the new).
# The connections all resume one user's session: what ementord holds per
# connection does not depend on whose it is.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib.sh
source "$BENCH_DIR/../scripts/lib.sh"

COUNTS=("$@")
((${#COUNTS[@]} > 0)) || COUNTS=(1000 10000 19000)
HOLD="${BENCH_HOLD:-30}"
STORM="${BENCH_STORM:-0}"
OUT="${BENCH_OUT:-$BENCH_DIR/results/$(date -u +%Y%m%dT%H%M%SZ)-idle}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

build_dir="${BENCH_BUILD_DIR:-$EM_ROOT/build-bench}"
em_log "build: Release in ${build_dir#"$EM_ROOT"/}"
cmake -S "$EM_ROOT" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DEMENTOR_WERROR=ON >/dev/null
cmake --build "$build_dir" -j2 --target ementord ementor ementor-idle >/dev/null
EMENTORD="$build_dir/bin/ementord"
CLI="$build_dir/bin/ementor"
IDLE="$build_dir/bin/ementor-idle"

T="$(em_tmpdir ementor-idle)"
SERVER_PID=""
cleanup() {
	[[ -z "$SERVER_PID" ]] || kill -TERM "$SERVER_PID" 2>/dev/null || true
	[[ -z "$SERVER_PID" ]] || wait "$SERVER_PID" 2>/dev/null || true
	em_pg_stop "$T/pg" || true
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

DB="$(em_pg_start "$T/pg" "$(em_free_port)")"
em_tls_cert "$T/tls" >/dev/null
PORT="$(em_free_port)"
# shellcheck disable=SC2086 # BENCH_SERVER_ARGS and BENCH_SERVER_WRAP are lists of words
${BENCH_SERVER_WRAP:-} "$EMENTORD" serve --listen 127.0.0.1 --port "$PORT" --cert "$T/tls/cert.pem" --key "$T/tls/key.pem" \
	--db "$DB" --log-level warn ${BENCH_SERVER_ARGS:-} >"$OUT/ementord.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 150); do
	curl -fsS --max-time 2 --cacert "$T/tls/cert.pem" "https://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
	sleep 0.2
done
URL="wss://127.0.0.1:$PORT"
invite="$(grep -oE -- '--invite [A-Za-z0-9_-]+' "$OUT/ementord.log" | tail -n1 | awk '{print $2}')"
[[ -n "$invite" ]] || em_die "no invite in $OUT/ementord.log"
# a manager, a programme, and the mentee whose session every connection resumes
export EMENTOR_PASSWORD="idle bench password" EMENTOR_SERVER="$URL" EMENTOR_CA="$T/tls/cert.pem"
"$CLI" --home "$T/manager" register --invite "$invite" --username manager --accept-privacy >/dev/null
"$CLI" --home "$T/manager" programme create --name "Idle" --starts 2027-01-01 --ends 2027-12-31 >/dev/null
code="$("$CLI" --home "$T/manager" --json invite create --programme 1 --role mentee | jq -er .code)"
"$CLI" --home "$T/mentee" register --invite "$code" --username idle --accept-privacy >/dev/null
TOKEN="$(jq -r .token "$T/mentee/session.json")"
[[ -n "$TOKEN" && "$TOKEN" != null ]] || em_die "no session token in $T/mentee/session.json"

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }
# wait_line FILE PATTERN SECONDS: until a line of FILE matches
wait_line() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		grep -qE "$2" "$1" 2>/dev/null && return 0
		kill -0 "$idle_pid" 2>/dev/null || break
		sleep 0.1
	done
	grep -qE "$2" "$1" 2>/dev/null
}

{
	echo "# B1 idle hold$([[ "$STORM" == 1 ]] && echo " and reconnect storm"), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "# $(nproc) cores, $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo), $(uname -r)"
	echo "# $("$EMENTORD" --version 2>/dev/null | head -n1); held ${HOLD} s; one user's session resumed by every connection"
} | tee "$OUT/summary.txt"

hz="$(getconf CLK_TCK)"
for n in "${COUNTS[@]}"; do
	log="$OUT/idle-$n.log"
	rss0="$(rss_kib)"
	args=(--url "$URL" --ca "$T/tls/cert.pem" --token "$TOKEN" --conns "$n" --hold "$HOLD"
		--ping "${BENCH_PING:-30}" --parallel "${BENCH_PARALLEL:-200}"
		--storm-parallel "${BENCH_STORM_PARALLEL:-2000}" --timeout "${BENCH_TIMEOUT:-30}")
	[[ "$STORM" == 1 ]] && args+=(--storm)
	"$IDLE" "${args[@]}" >"$log" 2>"$OUT/idle-$n.err" &
	idle_pid=$!
	# the most descriptors ementord holds while ementor-idle runs
	(
		max=0
		while kill -0 "$idle_pid" 2>/dev/null; do
			fds="$(find "/proc/$SERVER_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)"
			((fds > max)) && max="$fds" && echo "$max" >"$OUT/fds-$n.max"
			sleep 0.5
		done
	) &
	fd_sampler=$!
	wait_line "$log" 'phase=connected' 900 || em_die "ementor-idle did not connect $n (see $log)"
	sleep "$((HOLD / 2))"
	rss1="$(rss_kib)"
	c0="$(cpu_ticks)"
	sleep 5
	idle_cpu="$(awk -v a="$c0" -v b="$(cpu_ticks)" -v hz="$hz" 'BEGIN {printf "%.1f", (b - a) / hz / 5 * 100}')"
	idle_rc=0
	wait "$idle_pid" || idle_rc=$?
	wait "$fd_sampler" || true
	sleep "${BENCH_AFTER:-60}"
	rss2="$(rss_kib)"
	connect="$(grep -E '^ementor-idle: phase=connected ' "$log" | sed 's/^ementor-idle: //')"
	storm="$(grep -E '^ementor-idle: phase=reconnected ' "$log" | sed 's/^ementor-idle: //' || true)"
	checks="$(grep -c 'check phase=.* ok:' "$log" || true)/$(grep -c 'check phase=' "$log" || true)"
	grep -q 'check phase=.* FAILED' "$log" && checks="$checks FAILED (see $log)" || checks="$checks ok"
	printf 'B1 conns=%d rss_before=%d_KiB rss_idle=%d_KiB per_conn=%.1f_KiB idle_cpu=%s%% rss_60s_after_close=%d_KiB (%+.0f%% of before) | %s%s | checks=%s exit=%d server_fds_max=%s\n' \
		"$n" "$rss0" "$rss1" "$(awk -v a="$rss0" -v b="$rss1" -v n="$n" 'BEGIN {print (b - a) / n}')" \
		"$idle_cpu" "$rss2" "$(awk -v a="$rss0" -v b="$rss2" 'BEGIN {print (b - a) * 100 / a}')" \
		"$connect" "${storm:+ | storm: $storm}" "$checks" "$idle_rc" \
		"$(cat "$OUT/fds-$n.max" 2>/dev/null || echo '?')" | tee -a "$OUT/summary.txt"
done
em_log "results in $OUT"
