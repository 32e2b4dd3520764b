#!/usr/bin/env bash
#
# bench/handshake.sh - the TLS handshake baseline: full handshakes against a
# Release ementord and against `openssl s_server` with the same certificate,
# alternated in one run. `openssl s_time -new` makes one full handshake per
# connection, one connection at a time, and reads a 50-byte answer (ementord's
# /healthz; the same bytes from a file `openssl s_server -WWW` serves). For
# each run: the handshakes made, and the server's CPU time per handshake
# (utime + stime from /proc around the run). One result line per run; the
# lines also go to $OUT/handshake.txt.
#
#   bench/handshake.sh [ROUNDS]      (default: 4; each round runs both servers)
#
# Environment: BENCH_SECONDS (s_time's -time, default 10), BENCH_OUT,
# BENCH_BUILD_DIR. One s_time client is usually the limit of the rate: the CPU
# per handshake is the figure to compare.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib.sh
source "$BENCH_DIR/../scripts/lib.sh"

ROUNDS="${1:-4}"
SECONDS_PER_RUN="${BENCH_SECONDS:-10}"
OUT="${BENCH_OUT:-$BENCH_DIR/results/$(date -u +%Y%m%dT%H%M%SZ)-handshake}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

build_dir="${BENCH_BUILD_DIR:-$EM_ROOT/build-bench}"
em_log "build: Release in ${build_dir#"$EM_ROOT"/}"
cmake -S "$EM_ROOT" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DEMENTOR_WERROR=ON >/dev/null
cmake --build "$build_dir" -j2 --target ementord >/dev/null

work="$(em_tmpdir ementor-handshake)"
pids=()
cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	em_pg_stop "$work/pg" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

db="$(em_pg_start "$work/pg" "$(em_free_port)")"
em_tls_cert "$work/tls" >/dev/null
cert="$work/tls/cert.pem"
key="$work/tls/key.pem"
EMENTOR_BIN_DIR="$build_dir/bin" em_server_start "$work/ementord.log" "$cert" "$key" "$db" ||
	em_die "ementord did not start"
pids+=("$EM_SERVER_PID")

# s_server serves the very bytes ementord's /healthz answers
mkdir -p "$work/www"
curl -fsS --cacert "$cert" "https://127.0.0.1:$EM_SERVER_PORT/healthz" -o "$work/www/healthz"
s_port="$(em_free_port)"
(cd "$work/www" && exec openssl s_server -quiet -cert "$cert" -key "$key" -accept "$s_port" -WWW) \
	>"$work/s_server.log" 2>&1 &
pids+=("$!")
s_pid="$!"
for ((i = 0; i < 50; i++)); do
	curl -fsS --cacert "$cert" "https://127.0.0.1:$s_port/healthz" >/dev/null 2>&1 && break
	sleep 0.1
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

{
	echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(openssl version) $(nproc) CPUs, ${SECONDS_PER_RUN} s per run"
	for ((round = 1; round <= ROUNDS; round++)); do
		for server in s_server ementord; do
			if [[ $server == s_server ]]; then
				port="$s_port" pid="$s_pid"
			else
				port="$EM_SERVER_PORT" pid="$EM_SERVER_PID"
			fi
			before="$(cpu_ticks "$pid")"
			n="$(openssl s_time -connect "127.0.0.1:$port" -new -time "$SECONDS_PER_RUN" \
				-www /healthz -CAfile "$cert" 2>/dev/null |
				awk '/connections in [0-9]+ real seconds/ {print $1}')"
			after="$(cpu_ticks "$pid")"
			ms=$(((after - before) * 1000 / $(getconf CLK_TCK)))
			awk -v r="$round" -v s="$server" -v n="${n:-0}" -v ms="$ms" 'BEGIN {
				printf "round %d %-8s handshakes %6d  server CPU %5d ms  %.3f ms per handshake\n",
				       r, s, n, ms, n ? ms / n : 0 }'
		done
	done
} | tee "$OUT/handshake.txt"
