#!/usr/bin/env bash
# bench/audit.sh - the manager's audit at scale (issue: "a programme of 200
# rooms with a million messages comes back in under a second").
#
# A private PostgreSQL with the real schema; a programme of AUDIT_ROOMS rooms
# (a third groups of 1 mentor + 4 mentees, the rest pairs) and AUDIT_MESSAGES
# message envelopes spread over 26 weeks, alternating between sides the way
# conversations do; receipts, signed agreements and checkpoint states for
# some rooms. Then, timed:
#   1. the first rollup of every message (a one-off: later ones are incremental);
#   2. the report exactly as audit.report runs it (rollup of what is new, SET
#      LOCAL ROLE ementor_audit, audit_report) with nothing new: REPEAT runs;
#   3. the same after 2,000 new messages over all rooms (what a report pulled
#      every few minutes under traffic pays);
#   4. one room's report.
# Writes the figures to stdout and bench/results/audit-<UTC time>/.
#
#   AUDIT_ROOMS=200 AUDIT_MESSAGES=1000000 AUDIT_REPEAT=5 bench/audit.sh
#   AUDIT_DB="host=... user=postgres dbname=postgres"   use that cluster (a database
#                                 audit_bench is made and kept there) instead of a private one
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

ROOMS="${AUDIT_ROOMS:-200}"
MESSAGES="${AUDIT_MESSAGES:-1000000}"
REPEAT="${AUDIT_REPEAT:-5}"
BUILD="${BENCH_BUILD_DIR:-build-bench}"
OUT="${BENCH_OUT:-bench/results/audit-$(date -u +%Y%m%dT%H%M%SZ)}"
PORT="${AUDIT_PG_PORT:-55499}"

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" --target ementord ementor -j2 >/dev/null
mkdir -p "$OUT"
T="$(em_tmpdir ementor-audit)"
if [[ -n "${AUDIT_DB:-}" ]]; then
	# an existing cluster (AUDIT_DB = conninfo of a maintenance database): a fresh database in it
	command psql -X -q "$AUDIT_DB" -c "DROP DATABASE IF EXISTS audit_bench" -c "CREATE DATABASE audit_bench"
	DB="$AUDIT_DB dbname=audit_bench"
	trap 'rm -rf "$T"' EXIT
else
	trap 'em_pg_stop "$T/pg" >/dev/null 2>&1 || true; rm -rf "$T"' EXIT
	em_pg_start "$T/pg" "$PORT" >/dev/null
	DB="host=$T/pg port=$PORT dbname=postgres user=postgres"
fi
psql() { command psql --no-psqlrc -X -q -v ON_ERROR_STOP=1 "$DB" "$@"; }

"$BUILD/bin/ementord" migrate --db "$DB" >/dev/null 2>&1

echo "==> seeding $ROOMS rooms, $MESSAGES messages"
t0=$(date +%s.%N)
psql <<SQL
INSERT INTO users (username, display_name, role, sign_pk, box_pk, kdf_salt, kdf_opslimit,
                   kdf_memlimit, auth_hash, key_backup, last_login_at)
SELECT 'u' || g, 'User ' || g, CASE WHEN g = 0 THEN 'manager' WHEN g % 5 = 1 THEN 'mentor'
       ELSE 'mentee' END,
       decode(lpad(to_hex(g), 64, '0'), 'hex'), decode(lpad(to_hex(g), 64, '0'), 'hex'),
       '\x00000000000000000000000000000000', 2, 67108864, '\x00', '\x00',
       CASE WHEN g % 17 = 0 THEN NULL ELSE now() END
FROM generate_series(0, $ROOMS * 5) g;
INSERT INTO programmes (name, starts_on, ends_on, created_by)
VALUES ('Bench', (now() - interval '26 weeks')::date, (now() + interval '4 weeks')::date, 1);
INSERT INTO programme_people SELECT 1, id, role FROM users;
-- room r (1-based): mentor u(5r-4), mentees u(5r-3) (pairs) or u(5r-3..5r) (every third: a group)
INSERT INTO rooms (programme_id, kind, name, created_by, created_at)
SELECT 1, CASE WHEN r % 3 = 0 THEN 'group' ELSE 'pair' END, 'room ' || r, 1,
       now() - interval '26 weeks' FROM generate_series(1, $ROOMS) r;
INSERT INTO room_members (room_id, user_id, role, added_at, roster)
SELECT r, 5 * r - 4 + 1, 'mentor', now() - interval '26 weeks', true FROM generate_series(1, $ROOMS) r
UNION ALL
SELECT r, 5 * r - 4 + 1 + k, 'mentee', now() - interval '26 weeks', true
FROM generate_series(1, $ROOMS) r, generate_series(1, 4) k WHERE k = 1 OR r % 3 = 0;
-- envelopes: runs of 1-3 messages per side; a tenth of the rooms stop 3 weeks ago
INSERT INTO messages (room_id, seq, sender_id, client_msg_id, epoch, ciphertext, sig, created_at)
SELECT room, seq,
       CASE WHEN (seq / (1 + seq % 3)) % 2 = 0 THEN 5 * room - 3
            ELSE 5 * room - 3 + 1 + (seq % CASE WHEN room % 3 = 0 THEN 4 ELSE 1 END) END,
       int8send(seq), 1, decode(repeat('ab', 296), 'hex'), decode(repeat('cd', 64), 'hex'),
       now() - interval '26 weeks' + (seq::double precision / per_room) *
           CASE WHEN room % 10 = 0 THEN interval '23 weeks' ELSE interval '26 weeks' END
FROM (SELECT 1 + (g % $ROOMS) AS room, g / $ROOMS + 1 AS seq, $MESSAGES / $ROOMS AS per_room
      FROM generate_series(0, $MESSAGES - 1) g) x;
UPDATE rooms r SET last_seq = m.s FROM (SELECT room_id, max(seq) s FROM messages GROUP BY 1) m
WHERE m.room_id = r.id;
-- receipts: a read delay per ten messages, up to two hours
INSERT INTO read_hist (room_id, bucket, n)
SELECT 1 + (g % $ROOMS), hist_bucket(g % 7200), count(*)
FROM generate_series(1, $MESSAGES / 10) g GROUP BY 1, 2;
-- agreements: every other room fully signed
UPDATE agreement_parties p SET signature = decode(repeat('ee', 64), 'hex'), signed_at = now()
FROM agreement_versions v WHERE v.id = p.version_id AND v.room_id % 2 = 0;
UPDATE agreement_versions SET activated_at = now() WHERE room_id % 2 = 0;
UPDATE checkpoints SET state = 'held' WHERE kind = 'initial' AND room_id % 4 <> 0;
UPDATE checkpoints SET state = 'missed' WHERE kind = 'initial' AND room_id % 4 = 0;
ANALYZE;
SQL
t1=$(date +%s.%N)
seed_s=$(echo "$t1 - $t0" | bc)
echo "    seeded in ${seed_s} s"

echo "==> first rollup of all messages"
t0=$(date +%s.%N)
while :; do
	n="$(psql -tA -c "SELECT stats_rollup(NULL, 100000)")"
	[[ "$n" == 0 ]] && break
done
t1=$(date +%s.%N)
rollup_s=$(echo "$t1 - $t0" | bc)
rt_rows="$(psql -tA -c "SELECT sum(n) FROM response_hist")"
echo "    ${rollup_s} s (${rt_rows} responses)"

report_sql() { # $1 room or NULL
	cat <<SQL
BEGIN;
SELECT stats_rollup(1, 100000);
SET LOCAL ROLE ementor_audit;
SELECT length(audit_report(1, $1, now(), 0, 200)::text);
COMMIT;
SQL
}
# one timed run: the sum of the transaction's statements as the server timed
# them (\timing), i.e. what audit.report costs in PostgreSQL, without psql's start
run_report() {
	{ printf '%s\n' '\timing on'; report_sql "$1"; } | psql 2>&1 |
		sed -nE 's/^Time: ([0-9.]+) ms.*/\1/p' | awk '{s += $1} END {printf "%d\n", s + 0.5}'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "==> programme report, nothing new ($REPEAT runs)"
bytes="$(report_sql NULL | psql -tA | grep -E '^[0-9]+$' | tail -n1)"
prog_ms="$(for _ in $(seq "$REPEAT"); do run_report NULL; done | tee "$OUT/programme_ms.txt" | median)"
echo "    median ${prog_ms} ms (all runs: $(paste -sd' ' "$OUT/programme_ms.txt")); report JSON ${bytes} bytes"

echo "==> programme report after 2,000 new messages (x $REPEAT)"
: >"$OUT/incremental_ms.txt"
for _ in $(seq "$REPEAT"); do
	psql <<SQL
WITH n AS (SELECT 1 + (g % $ROOMS) AS room, g / $ROOMS AS k FROM generate_series(0, 1999) g)
INSERT INTO messages (room_id, seq, sender_id, client_msg_id, epoch, ciphertext, sig)
SELECT n.room, r.last_seq + 1 + n.k, 5 * n.room - 3 + (n.k % 2), int8send(r.last_seq + 1 + n.k), 1,
       decode(repeat('ab', 296), 'hex'), decode(repeat('cd', 64), 'hex')
FROM n JOIN rooms r ON r.id = n.room;
UPDATE rooms r SET last_seq = m.s FROM (SELECT room_id, max(seq) s FROM messages GROUP BY 1) m
WHERE m.room_id = r.id AND m.s > r.last_seq;
SQL
	run_report NULL >>"$OUT/incremental_ms.txt"
done
inc_ms="$(median <"$OUT/incremental_ms.txt")"
echo "    median ${inc_ms} ms (all runs: $(paste -sd' ' "$OUT/incremental_ms.txt"))"

echo "==> one room's report ($REPEAT runs)"
room_ms="$(for _ in $(seq "$REPEAT"); do run_report 7; done | median)"
echo "    median ${room_ms} ms"

echo "==> through the server: ementor audit --json (TLS, resume, the report, paging) ($REPEAT runs)"
em_tls_cert "$T/tls" >/dev/null 2>&1
"$BUILD/bin/ementord" --db "$DB" --cert "$T/tls/cert.pem" --key "$T/tls/key.pem" \
	--listen 127.0.0.1 --port "${AUDIT_PORT:-48998}" --no-migrate >"$OUT/ementord.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; em_pg_stop "$T/pg" >/dev/null 2>&1 || true; rm -rf "$T"' EXIT
for _ in $(seq 50); do
	curl -sk "https://127.0.0.1:${AUDIT_PORT:-48998}/healthz" >/dev/null 2>&1 && break
	sleep 0.2
done
export EMENTOR_CA="$T/tls/cert.pem" EMENTOR_SERVER="wss://127.0.0.1:${AUDIT_PORT:-48998}"
export EMENTOR_PASSWORD="bench-password-1"
code="$("$BUILD/bin/ementord" invite --role manager --db "$DB" --no-migrate 2>/dev/null | tail -n1)"
"$BUILD/bin/ementor" --home "$T/home" register --invite "$code" --username boss --accept-privacy >/dev/null
psql -c "INSERT INTO programme_people SELECT 1, id, 'manager' FROM users WHERE username = 'boss'"
: >"$OUT/cli_ms.txt"
for _ in $(seq "$REPEAT"); do
	t0=$(date +%s%N)
	"$BUILD/bin/ementor" --home "$T/home" audit --programme 1 --json >"$T/report.json"
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000)) >>"$OUT/cli_ms.txt"
done
cli_ms="$(median <"$OUT/cli_ms.txt")"
cli_rooms="$(jq '.rooms | length' "$T/report.json")"
echo "    median ${cli_ms} ms (all runs: $(paste -sd' ' "$OUT/cli_ms.txt")), ${cli_rooms} rooms in the report"

{
	echo "date_utc: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "nproc: $(nproc)"
	echo "cpu_model: $(sed -nE 's/^model name\s*: //p' /proc/cpuinfo | head -n1)"
	echo "postgresql: $(psql -tA -c 'SHOW server_version')"
	echo "git_commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "rooms: $ROOMS messages: $MESSAGES repeat: $REPEAT"
	echo "seed_s: $seed_s"
	echo "first_rollup_s: $rollup_s responses: $rt_rows"
	echo "programme_report_ms_median: $prog_ms report_bytes: $bytes"
	echo "programme_report_after_2000_new_ms_median: $inc_ms"
	echo "room_report_ms_median: $room_ms"
	echo "cli_audit_json_ms_median: $cli_ms rooms: $cli_rooms"
} | tee "$OUT/summary.txt"
