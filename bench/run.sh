#!/usr/bin/env bash
#
# bench/run.sh - scenario B3 (steady chat) and the PostgreSQL baseline, on a
# private PostgreSQL and a Release ementord, with the machine facts that make
# the figures comparable (bench/README.md: the scenarios and how figures are reported).
#
#   bench/run.sh [all|b3|pg|b6|quick]   (default: all)
#
#   all    B3 pair-ish rooms (R=50 x M=4) and group rooms (R=40 x M=6) at each
#          rate of BENCH_RATES, then the PostgreSQL baseline (server stopped)
#   b3     only the B3 steps        pg   only the baseline
#   b6     catch-up: one member syncs BENCH_CATCHUP (100000) messages stored while
#          it was away (seeded with SQL, as the server writes them), one line
#   quick  a 10-room, 200 msg/s, 3 s smoke run of everything
#
# Settings (environment):
#   BENCH_RATES="1000 2000 5000 10000 20000"   messages/s, one step each
#   BENCH_DURATION=20 BENCH_WARMUP=5 BENCH_DRAIN=10     seconds
#   BENCH_REPEAT=1          runs per step (the reporting rules ask for 3 + median)
#   BENCH_SCENARIOS="50x4 40x6"                 ROOMSxMEMBERS
#   BENCH_SIZE=256          plaintext bytes
#   BENCH_ROTATE=1000000000 ementord --rotate-messages (large: no rotations)
#   BENCH_DB_WORKERS=       ementord --db-workers (default: the server's)
#   BENCH_SERVER_ARGS=      more ementord flags, e.g. "--scheduler-interval 3600" (A/B runs)
#   BENCH_NODES=1           2: a second ementord on the same database; members
#                           2, 4, 6 of every room connect to it (loadgen --port2),
#                           so every message crosses nodes (LISTEN/NOTIFY)
#   BENCH_STOP_BELOW=0.8    skip higher rates of a scenario once acks fall below
#                           this fraction of the offered rate (0 disables)
#   BENCH_LOADGEN_ARGS=     extra loadgen flags, e.g. --decrypt
#   BENCH_QUIET_WAIT=600    before each step, wait up to this many seconds for
#                           other processes to use under BENCH_QUIET_CORES=0.25
#                           of a core (this box is shared); 0 disables
#   BENCH_OUT=bench/results/<UTC time>          where the raw outputs go
#   BENCH_BUILD_DIR=build-bench                 Release build directory
#   BENCH_PG_PORT=5544      the private PostgreSQL's port (pick another when several runs share the box)
#   EMENTORD= LOADGEN= PG_INGEST=               use these binaries, do not build
#   BENCH_SCHEMA_DIR=       migrations for ementord (default: the path built into it,
#                           i.e. this tree's schema/; set it with EMENTORD= so that an
#                           older binary never meets a newer schema)
#
# Everything runs on loopback; every run is time-bounded; the private
# PostgreSQL and the server are stopped on exit.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib.sh
source "$BENCH_DIR/../scripts/lib.sh"

MODE="${1:-all}"
case "$MODE" in
all | b3 | pg | b6 | quick) ;;
*) em_die "usage: bench/run.sh [all|b3|pg|b6|quick]" ;;
esac

RATES="${BENCH_RATES:-1000 2000 5000 10000 20000}"
DURATION="${BENCH_DURATION:-20}"
WARMUP="${BENCH_WARMUP:-5}"
DRAIN="${BENCH_DRAIN:-10}"
REPEAT="${BENCH_REPEAT:-1}"
SCENARIOS="${BENCH_SCENARIOS:-50x4 40x6}"
SIZE="${BENCH_SIZE:-256}"
ROTATE="${BENCH_ROTATE:-1000000000}"
STOP_BELOW="${BENCH_STOP_BELOW:-0.8}"
QUIET_WAIT="${BENCH_QUIET_WAIT:-600}"
QUIET_CORES="${BENCH_QUIET_CORES:-0.25}"
PG_SECONDS=5
if [[ "$MODE" == quick ]]; then
	RATES="200"
	DURATION=3
	WARMUP=1
	DRAIN=3
	SCENARIOS="10x4"
	PG_SECONDS=1
fi
OUT="${BENCH_OUT:-$BENCH_DIR/results/$(date -u +%Y%m%dT%H%M%SZ)-$MODE}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

# ---- binaries ---------------------------------------------------------------

build_dir="${BENCH_BUILD_DIR:-$EM_ROOT/build-bench}"
if [[ -z "${EMENTORD:-}" || -z "${LOADGEN:-}" || -z "${PG_INGEST:-}" ]]; then
	em_log "build: Release in ${build_dir#"$EM_ROOT"/}"
	cmake -S "$EM_ROOT" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DEMENTOR_WERROR=ON >/dev/null
	if ! cmake --build "$build_dir" -j2 --target ementord ementor-loadgen ementor-pg-ingest; then
		em_die "build failed (is 'add_subdirectory(bench)' in the top-level CMakeLists.txt?)"
	fi
	EMENTORD="${EMENTORD:-$build_dir/bin/ementord}"
	LOADGEN="${LOADGEN:-$build_dir/bin/ementor-loadgen}"
	PG_INGEST="${PG_INGEST:-$build_dir/bin/ementor-pg-ingest}"
fi
for b in "$EMENTORD" "$LOADGEN" "$PG_INGEST"; do
	[[ -x "$b" ]] || em_die "$b is not an executable"
done
SCHEMA_ARGS=()
if [[ -n "${BENCH_SCHEMA_DIR:-}" ]]; then
	[[ -d "$BENCH_SCHEMA_DIR" ]] || em_die "BENCH_SCHEMA_DIR=$BENCH_SCHEMA_DIR is not a directory"
	SCHEMA_ARGS=(--schema-dir "$BENCH_SCHEMA_DIR")
fi
# (not `| grep -q`: under pipefail, grep leaving early fails the pipe with SIGPIPE)
[[ "$("$EMENTORD" --help 2>&1)" == *--rotate-messages* ]] ||
	em_die "$EMENTORD has no --rotate-messages: the server's messaging is not built in"

# ---- private PostgreSQL, certificate, server --------------------------------

T="$(em_tmpdir ementor-bench)"
PG_BASE="$T/pg"
SERVER_PID=""
SERVER2_PID=""
PORT2=""
NODES="${BENCH_NODES:-1}"
cleanup() {
	local pid
	trap - INT TERM
	# our own children only (a loadgen, a quiet-wait subshell), by parent pid
	for pid in $(ps -o pid= --ppid $$ 2>/dev/null); do
		[[ "$pid" != "$SERVER_PID" ]] && { kill -TERM "$pid" 2>/dev/null || true; }
	done
	bench_server_stop
	em_pg_stop "$PG_BASE" || true
	[[ -f "$PG_BASE/postgres.log" ]] && cp "$PG_BASE/postgres.log" "$OUT/postgres.log" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_server_stop() {
	local i
	if [[ -n "$SERVER2_PID" ]]; then
		kill -TERM "$SERVER2_PID" 2>/dev/null || true
		wait "$SERVER2_PID" 2>/dev/null || true
		SERVER2_PID=""
	fi
	[[ -n "$SERVER_PID" ]] || return 0
	kill -TERM "$SERVER_PID" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$SERVER_PID" 2>/dev/null || true
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=""
}

# A second node on the same database (BENCH_NODES=2); sets SERVER2_PID and PORT2.
bench_server2_start() {
	local i
	PORT2="$(em_free_port)"
	"$EMENTORD" serve --listen 127.0.0.1 --port "$PORT2" --cert "$T/tls/cert.pem" \
		--key "$T/tls/key.pem" --db "$DB" --no-migrate "${SCHEMA_ARGS[@]}" \
		--rotate-messages "$ROTATE" --log-level warn >>"$OUT/ementord2.log" 2>&1 &
	SERVER2_PID=$!
	for ((i = 0; i < 150; i++)); do
		if curl -fsS --max-time 2 --cacert "$T/tls/cert.pem" \
			"https://127.0.0.1:$PORT2/healthz" >/dev/null 2>&1; then
			em_log "ementord node 2: pid $SERVER2_PID on port $PORT2"
			return 0
		fi
		sleep 0.2
	done
	em_die "the second ementord did not start (see $OUT/ementord2.log)"
}

# Starts $EMENTORD on a free loopback port; sets SERVER_PID and URL.
bench_server_start() {
	local port i attempt
	local -a extra=(--rotate-messages "$ROTATE" --log-level warn)
	[[ -n "${BENCH_DB_WORKERS:-}" ]] && extra+=(--db-workers "$BENCH_DB_WORKERS")
	# shellcheck disable=SC2206 # word splitting wanted: a list of flags
	[[ -n "${BENCH_SERVER_ARGS:-}" ]] && extra+=($BENCH_SERVER_ARGS)
	for ((attempt = 0; attempt < 3; attempt++)); do
		port="$(em_free_port)"
		"$EMENTORD" serve --listen 127.0.0.1 --port "$port" --cert "$T/tls/cert.pem" \
			--key "$T/tls/key.pem" --db "$DB" "${SCHEMA_ARGS[@]}" "${extra[@]}" \
			>>"$OUT/ementord.log" 2>&1 &
		SERVER_PID=$!
		for ((i = 0; i < 150; i++)); do
			kill -0 "$SERVER_PID" 2>/dev/null || break
			if curl -fsS --max-time 2 --cacert "$T/tls/cert.pem" \
				"https://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
				URL="wss://127.0.0.1:$port"
				em_log "ementord: pid $SERVER_PID on $URL (--rotate-messages $ROTATE)"
				[[ "$NODES" == 2 ]] && bench_server2_start
				return 0
			fi
			sleep 0.2
		done
		bench_server_stop
	done
	tail -n 20 "$OUT/ementord.log" >&2 || true
	em_die "ementord did not start"
}

# Busy cores of the whole machine over 2 seconds, from /proc/stat.
busy_cores() {
	local a b
	a="$(head -n 1 /proc/stat)"
	sleep 2
	b="$(head -n 1 /proc/stat)"
	awk -v a="$a" -v b="$b" -v hz="$(getconf CLK_TCK)" 'BEGIN {
		split(a, x); split(b, y); busy = 0
		for (i = 2; i <= 9; i++) if (i != 5 && i != 6) busy += y[i] - x[i]
		printf "%.2f", busy / hz / 2 }'
}

# Waits (up to QUIET_WAIT s) until the machine is idle apart from us; prints
# the busy cores seen last, so the run records how quiet it really was.
wait_quiet() {
	local waited=0 busy
	busy="$(busy_cores)"
	while ((waited < QUIET_WAIT)) && awk -v b="$busy" -v q="$QUIET_CORES" 'BEGIN { exit !(b > q) }'; do
		((waited % 60 == 0)) && em_log "machine busy ($busy cores used by others): waiting (${waited}s of ${QUIET_WAIT}s)"
		sleep 8
		waited=$((waited + 10))
		busy="$(busy_cores)"
	done
	printf '%s\n' "$busy"
}

psql_db() {
	psql --no-psqlrc -X -q -tA "$DB" "$@"
}

PG_PORT="${BENCH_PG_PORT:-5544}"
DB="$(em_pg_start "$PG_BASE" "$PG_PORT")"
PG_PID="$(head -n 1 "$PG_BASE/data/postmaster.pid")"
em_tls_cert "$T/tls"

# ---- machine facts ------------------------------------------------------------

{
	echo "date_utc: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "mode: $MODE"
	echo "nproc: $(nproc)"
	echo "cpu_model: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "kernel: $(uname -sr)"
	echo "memory: $(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
	echo "filesystem_of_pg: $(df -T "$PG_BASE" | awk 'NR==2 {print $2}')"
	echo "openssl: $(openssl version)"
	echo "libwebsockets: $(pkg-config --modversion libwebsockets 2>/dev/null || echo '?')"
	echo "libsodium: $(pkg-config --modversion libsodium 2>/dev/null || echo '?')"
	echo "jansson: $(pkg-config --modversion jansson 2>/dev/null || echo '?')"
	echo "ementord: $("$EMENTORD" --version 2>&1 | head -n 1)"
	echo "postgresql: $(psql_db -c 'SHOW server_version')"
	for s in synchronous_commit fsync wal_sync_method full_page_writes shared_buffers \
		commit_delay max_wal_size checkpoint_timeout wal_level; do
		echo "pg_$s: $(psql_db -c "SHOW $s")"
	done
	echo "git_commit: $(git -C "$EM_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
	echo "git_dirty_files: $(git -C "$EM_ROOT" status --porcelain 2>/dev/null | wc -l)"
	echo "binaries: ementord=$EMENTORD loadgen=$LOADGEN pg_ingest=$PG_INGEST schema_dir=${BENCH_SCHEMA_DIR:-built-in}"
	echo "settings: rates='$RATES' duration=$DURATION warmup=$WARMUP drain=$DRAIN repeat=$REPEAT scenarios='$SCENARIOS' size=$SIZE rotate_messages=$ROTATE db_workers=${BENCH_DB_WORKERS:-default} pinning=none"
	echo "loadavg_at_start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "busiest_processes_at_start:"
	ps -eo pcpu,pid,comm --sort=-pcpu | head -n 6 | sed 's/^/  /'
} >"$OUT/machine.txt"
em_log "machine facts in $OUT/machine.txt"
cat "$OUT/machine.txt" >&2

# ---- B3 -----------------------------------------------------------------------

run_b3() {
	local scen rooms members rate rep label inv rc acked_frac quiet rss hwm
	bench_server_start
	for scen in $SCENARIOS; do
		rooms="${scen%x*}"
		members="${scen#*x}"
		for rate in $RATES; do
			acked_frac=1
			for ((rep = 1; rep <= REPEAT; rep++)); do
				label="r${rooms}m${members}-rate${rate}-run${rep}${PORT2:+-2nodes}"
				inv="$("$EMENTORD" invite --role manager --db "$DB" "${SCHEMA_ARGS[@]}" 2>/dev/null)"
				psql_db -c CHECKPOINT >/dev/null
				quiet="$(wait_quiet)"
				em_log "B3 $label (busy cores before: $quiet)"
				rc=0
				# shellcheck disable=SC2086
				timeout $((DURATION + WARMUP + DRAIN + 600)) "$LOADGEN" --url "$URL" \
					--ca "$T/tls/cert.pem" --invite "$inv" --rooms "$rooms" \
					--members "$members" --rate "$rate" --duration "$DURATION" \
					--warmup "$WARMUP" --drain "$DRAIN" --size "$SIZE" --json \
					--label "$label" --cpu "ementord=$SERVER_PID" \
					${PORT2:+--port2 "$PORT2" --cpu "ementord2=$SERVER2_PID"} \
					--cpu "postgres=$PG_PID" ${BENCH_LOADGEN_ARGS:-} \
					>"$OUT/b3-$label.txt" 2>"$OUT/b3-$label.log" || rc=$?
				sed '$d' "$OUT/b3-$label.txt" >&2
				# the server's memory after the step, and its peak so far (KiB)
				rss="$(awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0)"
				hwm="$(awk '/^VmHWM:/ { print $2 }' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0)"
				echo "  ementord memory: RSS ${rss:-0} KiB, peak ${hwm:-0} KiB" >&2
				if tail -n 1 "$OUT/b3-$label.txt" | grep -q '^{'; then
					tail -n 1 "$OUT/b3-$label.txt" |
						jq -c --arg rc "$rc" --arg quiet "$quiet" --arg rss "${rss:-0}" \
							--arg hwm "${hwm:-0}" \
							'. + {exit: ($rc|tonumber), busy_cores_before: ($quiet|tonumber),
							ementord_rss_kib: ($rss|tonumber), ementord_peak_kib: ($hwm|tonumber)}' \
							>>"$OUT/b3.jsonl" 2>/dev/null ||
						tail -n 1 "$OUT/b3-$label.txt" >>"$OUT/b3.jsonl"
					acked_frac="$(tail -n 1 "$OUT/b3-$label.txt" |
						jq -r '.persisted_per_s / .offered_rate' 2>/dev/null || echo 1)"
				else
					em_warn "B3 $label failed (exit $rc): see $OUT/b3-$label.log"
					tail -n 5 "$OUT/b3-$label.log" >&2 || true
					acked_frac=0
				fi
				if ! kill -0 "$SERVER_PID" 2>/dev/null; then
					em_warn "ementord died during $label: restarting it"
					SERVER_PID=""
					bench_server_start
				fi
			done
			if [[ "$STOP_BELOW" != 0 ]] &&
				awk -v a="$acked_frac" -v s="$STOP_BELOW" 'BEGIN { exit !(a < s) }'; then
				em_log "B3 ${rooms}x${members}: acks below ${STOP_BELOW} of the offered rate at $rate msg/s: higher rates skipped"
				break
			fi
		done
	done
	bench_server_stop
	psql_db -c "SELECT 'messages_rows: ' || count(*) FROM messages" >>"$OUT/machine.txt" || true
}

# ---- B6 catch-up ------------------------------------------------------------------

# The rows the server's `send` would write for BENCH_CATCHUP messages of one room,
# a month of them (one every 25 s): 16-byte client ids, 552-byte ciphertexts
# (a 256-byte message padded and sealed), 64-byte signatures; random bytes
# (the server never opens them). The room's counter moves as it would.
# shellcheck disable=SC2089 # SQL text with quotes, handed to psql whole (never word-split)
B6_SEED_SQL="BEGIN;
INSERT INTO messages (room_id, seq, sender_id, client_msg_id, epoch, ciphertext, sig, created_at)
SELECT :room, g, :sender, decode(md5('cid' || g || random()), 'hex'), :epoch,
       substring(decode(repeat(md5('ct' || g || random()), 35), 'hex') FROM 1 FOR 552),
       decode(repeat(md5('sig' || g), 4), 'hex'),
       now() - interval '30 days' + g * interval '25 seconds'
FROM generate_series(1, :count) g;
UPDATE rooms SET last_seq = :count, epoch_msg_count = 0 WHERE id = :room;
COMMIT;
ANALYZE messages;"

run_b6() {
	local n="${BENCH_CATCHUP:-100000}" inv quiet rc=0 label
	# shellcheck disable=SC2090 # the SQL text above, for the seed command's psql
	export B6_DB="$DB" B6_SEED_SQL
	bench_server_start
	inv="$("$EMENTORD" invite --role manager --db "$DB" "${SCHEMA_ARGS[@]}" 2>/dev/null)"
	label="b6-catchup-$n"
	quiet="$(wait_quiet)"
	em_log "B6 $label (busy cores before: $quiet)"
	# shellcheck disable=SC2016 # expanded by the shell loadgen starts
	# shellcheck disable=SC2086 # BENCH_LOADGEN_ARGS: flags, split on purpose
	timeout 900 "$LOADGEN" --url "$URL" --ca "$T/tls/cert.pem" --invite "$inv" --rooms 1 \
		--members 2 --catchup "$n" --json --label "$label" --cpu "ementord=$SERVER_PID" \
		${BENCH_LOADGEN_ARGS:-} \
		--catchup-seed 'printf "%s\n" "$B6_SEED_SQL" | psql --no-psqlrc -X -q -v ON_ERROR_STOP=1 -v room="$LG_ROOM_ID" -v sender="$LG_SENDER_ID" -v epoch="$LG_EPOCH" -v count="$LG_COUNT" "$B6_DB" >/dev/null' \
		>"$OUT/$label.txt" 2>"$OUT/$label.log" || rc=$?
	grep -v '^{' "$OUT/$label.txt" >&2 || true
	echo "  busy cores before: $quiet; loadavg $(cut -d' ' -f1-3 /proc/loadavg); exit $rc" >&2
	grep '^{' "$OUT/$label.txt" | jq -c --arg q "$quiet" --arg rc "$rc" \
		'. + {busy_cores_before: ($q|tonumber), exit: ($rc|tonumber)}' >>"$OUT/b6.jsonl" || true
	((rc == 0)) || { em_warn "B6 failed (exit $rc): see $OUT/$label.log"; tail -n 5 "$OUT/$label.log" >&2; }
	bench_server_stop
}

# ---- PostgreSQL baseline (the server stopped: PostgreSQL alone) ------------------

run_pg() {
	local quiet
	bench_server_stop
	# the schema the server uses: apply the migrations if no server ran yet
	"$EMENTORD" migrate --db "$DB" "${SCHEMA_ARGS[@]}" >>"$OUT/ementord.log" 2>&1
	psql_db -c CHECKPOINT >/dev/null
	quiet="$(wait_quiet)"
	echo "pg_ingest_busy_cores_before: $quiet" >>"$OUT/machine.txt"
	em_log "PostgreSQL baseline: ${PG_SECONDS}s per case (busy cores before: $quiet)"
	"$PG_INGEST" --db "$DB" --seconds "$PG_SECONDS" --size "$SIZE" --json \
		>"$OUT/pg_ingest.txt" 2>"$OUT/pg_ingest.log"
	grep -v '^{' "$OUT/pg_ingest.txt" >&2
	grep '^{' "$OUT/pg_ingest.txt" >"$OUT/pg_ingest.jsonl" || true
}

case "$MODE" in
all | quick)
	run_b3
	run_pg
	;;
b3) run_b3 ;;
pg) run_pg ;;
b6) run_b6 ;;
esac

# ---- summary ------------------------------------------------------------------

{
	echo "# bench/run.sh $MODE - $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo
	echo '```'
	cat "$OUT/machine.txt"
	echo '```'
	if [[ -s "$OUT/b3.jsonl" ]] && command -v jq >/dev/null; then
		echo
		echo "| run | busy before | offered/s | acked/s | delivered/s | ack p50/p95/p99/max ms | recv p50/p95/p99/max ms | lag p99 ms | errors | lost | dup | CPU ementord/pg/loadgen/other | ementord RSS/peak MiB |"
		echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
		jq -r '"| \(.label) | \(.busy_cores_before) | \(.offered_rate) | \(.persisted_per_s|floor) | \(.delivered_per_s|floor) | \(.ack_ms.p50)/\(.ack_ms.p95)/\(.ack_ms.p99)/\(.ack_ms.max) | \(.recv_ms.p50)/\(.recv_ms.p95)/\(.recv_ms.p99)/\(.recv_ms.max) | \(.lag_ms.p99) | \(.errors|to_entries|map("\(.key)=\(.value)")|join(" ")) | \(.lost) | \(.duplicates) | \(.cpu_cores.ementord*100|floor/100)/\(.cpu_cores.postgres*100|floor/100)/\(.cpu_cores.loadgen*100|floor/100)/\(.cpu_cores.other*100|floor/100) | \((.ementord_rss_kib // 0) / 1024 | floor)/\((.ementord_peak_kib // 0) / 1024 | floor) |"' \
			"$OUT/b3.jsonl"
	fi
	if [[ -s "$OUT/pg_ingest.txt" ]]; then
		echo
		echo '```'
		grep -v '^{' "$OUT/pg_ingest.txt"
		echo '```'
	fi
} >"$OUT/summary.md"
em_log "done: $OUT/summary.md"
