#!/usr/bin/env bash
# tests/e2e/pg_crash.sh - kill -9 of the PostgreSQL postmaster while messages
# flow, through a real ementord, from two kinds of real clients: the CLI (one
# `ementor send` per message, and an open `ementor chat`) and the load
# generator (bench/loadgen.c, 8 rooms of 2 over the protocol, retrying
# retryable errors). PostgreSQL is restarted (crash recovery) as soon as every
# one of its old processes is gone.
#
# What it shows: every message acknowledged before, during or after the crash
# is stored under the seq of its ack (acks recorded by the senders compared
# with the rows); nothing is stored twice and seqs stay gapless; the service
# answers requests again within 5 s of PostgreSQL accepting connections
# (measured: /healthz and a real request); clients resume by themselves: the
# CLI's outbox delivers what was queued, the open chat keeps its connection,
# delivers a line typed during the outage without being asked again, and
# shows every message once.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

N="${PG_CRASH_MESSAGES:-60}"
BACK_MAX_S="$(e2e_bound 5)"
e2e_cert
PGBASE="$T/pg"
pgport="$(em_free_port)"
DB="$(em_pg_start "$PGBASE" "$pgport" 2>/dev/null)"
em_pg_stop "$PGBASE" 2>/dev/null
e2e_pg_child "$PGBASE" "$pgport"
lg=""
trap '[[ -z "$lg" ]] || kill "$lg" 2>/dev/null || true; em_pg_stop "$PGBASE" 2>/dev/null; e2e_cleanup' EXIT
export EMENTOR_PASSWORD="correct horse battery"

em_server_start "$LOG" "$CERT" "$KEY" "$DB" || {
	not_ok "server starts"
	e2e_summary
}
export EMENTOR_SERVER="$EM_SERVER_URL"
HEALTH="https://127.0.0.1:$EM_SERVER_PORT/healthz"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
health() { curl -sS --max-time 2 --cacert "$CERT" "$HEALTH" 2>/dev/null || true; }

pair_room PgCrash
expect_ok "a first message opens the room's key epoch" as sam send 1 "warm-up"

# --- the load generator: its own manager, programme and 8 rooms ---------------
inv="$("$BIN/ementord" invite --role manager --db "$DB" --no-migrate 2>/dev/null)"
"$BIN/ementor-loadgen" --url "$EMENTOR_SERVER" --ca "$CERT" --invite "$inv" --rooms 8 \
	--members 2 --rate 60 --warmup 0 --duration "$(e2e_bound 20)" --drain 60 --acks "$T/lg.acks" \
	>"$T/lg.out" 2>"$T/lg.err" &
lg=$!
wait_for_lines "$T/lg.err" 'loadgen: running' 1 180 || true
expect_match "the load generator is sending" 'running' "$(cat "$T/lg.err")"

# --- an open chat: a line is typed into it once PostgreSQL is down -------------
{
	open_until "$T/type.now"
	echo "typed-during-outage"
	open_until "$T/chat.stop"
} | as lea chat 1 --linger 1 >"$T/chat.out" 2>"$T/chat.err" &
chat=$!
wait_for_lines "$T/chat.err" 'Chat in room' 1 30 || true

# --- the CLI sender: "i exit-status time output" per message --------------------
(
	for i in $(seq 1 "$N"); do
		rc=0
		t="$(now)"
		out="$(as sam send 1 "pgc-$i" 2>&1)" || rc=$?
		printf '%s %s %s %s\n' "$i" "$rc" "$t" "$(tr '\n' ' ' <<<"$out")"
	done
) >"$T/sends.log" &
loop=$!
for _ in $(seq 1 300); do
	(($(awk '$2 == 0' "$T/sends.log" | wc -l) >= 5)) && break
	sleep 0.1
done

# --- kill -9 of the postmaster --------------------------------------------------
acked_before="$(awk '$2 == 0' "$T/sends.log" | wc -l)"
t_kill="$(now)"
e2e_pg_kill9 "$PGBASE"
t_gone="$(now)"
down=""
for _ in $(seq 1 100); do
	[[ "$(health | jq -r .database 2>/dev/null)" == down ]] && down=1 && break
	sleep 0.1
done
expect_match "the server says the database is down (/healthz)" '^1$' "$down"
t_down="$(now)"
touch "$T/type.now"
wait_for_lines "$T/chat.err" 'stays in the outbox' 1 10 || true
e2e_pg_child "$PGBASE" "$pgport"
t_pg="$(now)"
t_health=""
t_req=""
for _ in $(seq 1 200); do
	if [[ -z "$t_health" && "$(health | jq -r .database 2>/dev/null)" == up ]]; then
		t_health="$(now)"
	fi
	if [[ -z "$t_req" ]] && as maria programme list >/dev/null 2>&1; then
		t_req="$(now)"
	fi
	[[ -n "$t_health" && -n "$t_req" ]] && break
	sleep 0.1
done
health_s="$(elapsed "$t_pg" "${t_health:-$(now)}")"
req_s="$(elapsed "$t_pg" "${t_req:-$(now)}")"
echo "postgres down for $(elapsed "$t_kill" "$t_pg") s (its processes gone after $(elapsed "$t_kill" "$t_gone") s," \
	"/healthz said so after $(elapsed "$t_kill" "$t_down") s);" \
	"after it accepted connections again: /healthz up in $health_s s, a request answered in $req_s s"
expect_match "/healthz is up within ${BACK_MAX_S} s of PostgreSQL ($health_s s)" '^yes$' \
	"$(awk -v s="$health_s" -v m="$BACK_MAX_S" 'BEGIN { print (s <= m ? "yes" : "no") }')"
expect_match "a request is answered within ${BACK_MAX_S} s of PostgreSQL ($req_s s)" '^yes$' \
	"$(awk -v s="$req_s" -v m="$BACK_MAX_S" 'BEGIN { print (s <= m ? "yes" : "no") }')"
wait "$loop"

# --- the load generator: its own verdict, then its acks against the rows --------
lg_rc=0
wait "$lg" || lg_rc=$?
lg=""
sed -n '/errors by code/,/undelivered/p' "$T/lg.out"
expect_match "the load generator lost nothing, got no duplicate, left nothing unacknowledged" \
	'^0$' "$lg_rc"
expect_match "it met the outage (db_unavailable answers)" 'db_unavailable=[1-9]' "$(cat "$T/lg.out")"
psql --no-psqlrc -tAq "$DB" -F ' ' \
	-c "SELECT room_id, seq, encode(client_msg_id, 'hex') FROM messages" | sort >"$T/rows"
sort "$T/lg.acks" >"$T/acks"
lg_acked="$(wc -l <"$T/acks")"
missing="$(comm -23 "$T/acks" "$T/rows" | wc -l)"
echo "load generator: $lg_acked messages acknowledged, $missing of them not stored as acknowledged"
expect_match "every message the load generator saw acknowledged is stored under its seq" \
	'^0$' "$missing"
expect_match "no room has a gap or a repeated seq" '^0$' "$(psql --no-psqlrc -tAq "$DB" -c \
	"SELECT count(*) FROM (SELECT room_id FROM messages GROUP BY room_id
	 HAVING count(*) <> max(seq) OR count(DISTINCT seq) <> count(*)) g")"
expect_match "no message is stored twice" '^0$' "$(psql --no-psqlrc -tAq "$DB" -c \
	"SELECT count(*) - count(DISTINCT (sender_id, client_msg_id)) FROM messages")"

# --- the CLI: acks, outbox, history, chat ---------------------------------------
acked="$(awk '$2 == 0' "$T/sends.log" | wc -l)"
queued="$(awk '$2 == 4' "$T/sends.log" | wc -l)"
other="$(awk '$2 != 0 && $2 != 4' "$T/sends.log" | wc -l)"
echo "CLI: sent $N, acknowledged $acked ($acked_before before the kill), queued in the outbox $queued, other $other"
expect_match "some sends met the outage and were queued" '^[1-9]' "$queued"
expect_match "no send failed in another way" '^0$' "$other"
expect_ok "the outbox delivers what was queued" as sam outbox flush
expect_ok "the outbox is then empty" as sam outbox list
expect_match "nothing stays queued" 'empty' "$LAST"

wait_for_lines "$T/chat.out" '(sam: pgc-[0-9]+|lea: typed-during-outage)' $((N + 1)) 60 || true
touch "$T/chat.stop"
wait "$chat" 2>/dev/null || true
# the chat shows its own lines when the server has stored them
expect_match "the line typed into the chat during the outage was sent by the chat itself" \
	'lea: typed-during-outage' "$(cat "$T/chat.out")"
check_history pgc "$N"
shown="$(grep -oE 'sam: pgc-[0-9]+' "$T/chat.out" || true)"
expect_match "the open chat showed every message" "^$N\$" "$(sort -u <<<"$shown" | grep -c . || true)"
expect_match "and none twice" "^$N\$" "$(grep -c . <<<"$shown" || true)"

e2e_summary
