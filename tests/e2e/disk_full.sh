#!/usr/bin/env bash
# tests/e2e/disk_full.sh - the PostgreSQL volume fills up while messages flow.
#
# A throwaway cluster lives on a small tmpfs of its own (data directory and
# pg_wal). While the load generator (8 rooms of 2) and the CLI (one `ementor
# send` per message, an open `ementor chat`) send, a file fills the volume to
# the last byte; it is removed FULL_S seconds later.
#
# What it shows: while the disk is full, every send is answered with a
# retryable error (the CLI queues the message in its outbox; the load
# generator sends again later), never an `internal` error, never an ack for
# something not stored; once space is free the service works again without a
# restart of ementord, every acknowledged message is stored under the seq of
# its ack, nothing twice, seqs gapless, and the chat shows every message once.
# Needs root (or sudo) to mount the tmpfs.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

N="${DISK_FULL_MESSAGES:-50}"
FULL_S="${DISK_FULL_SECONDS:-12}"
BACK_MAX_S="$(e2e_bound 5)"
e2e_cert
export EMENTOR_PASSWORD="correct horse battery"
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
within() { awk -v s="$1" -v m="$2" 'BEGIN { print (s <= m ? "yes" : "no") }'; }

MNT="$T/vol"
mkdir -p "$MNT"
lg=""
full_cleanup() {
	[[ -z "$lg" ]] || kill "$lg" 2>/dev/null || true
	em_as_root rm -f "$MNT/filler" 2>/dev/null || true
	em_pg_stop "$MNT/pg" 2>/dev/null || true
	em_as_root umount "$MNT" 2>/dev/null || true
	e2e_cleanup
}
trap full_cleanup EXIT
em_as_root mount -t tmpfs -o size=128m,mode=0755 tmpfs "$MNT"
pgport="$(em_free_port)"
DB="$(em_pg_start "$MNT/pg" "$pgport" 2>/dev/null)"

em_server_start "$LOG" "$CERT" "$KEY" "$DB" || {
	not_ok "server starts"
	e2e_summary
}
export EMENTOR_SERVER="$EM_SERVER_URL"
pair_room Full
expect_ok "a first message opens the room's key epoch" as sam send 1 "warm-up"

inv="$("$BIN/ementord" invite --role manager --db "$DB" --no-migrate 2>/dev/null)"
"$BIN/ementor-loadgen" --url "$EMENTOR_SERVER" --ca "$CERT" --invite "$inv" --rooms 8 \
	--members 2 --rate 40 --warmup 0 --duration 30 --drain 60 --acks "$T/lg.acks" \
	>"$T/lg.out" 2>"$T/lg.err" &
lg=$!
wait_for_lines "$T/lg.err" 'loadgen: running' 1 180 || true
expect_match "the load generator is sending" 'running' "$(cat "$T/lg.err")"

open_until "$T/chat.stop" | as lea chat 1 --linger 1 >"$T/chat.out" 2>"$T/chat.err" &
chat=$!
wait_for_lines "$T/chat.err" 'Chat in room' 1 30 || true

(
	for i in $(seq 1 "$N"); do
		rc=0
		t="$(now)"
		out="$(as sam send 1 "full-$i" 2>&1)" || rc=$?
		printf '%s %s %s %s\n' "$i" "$rc" "$t" "$(tr '\n' ' ' <<<"$out")"
	done
) >"$T/sends.log" &
loop=$!
for _ in $(seq 1 300); do
	(($(wc -l <"$T/sends.log") >= 5)) && break
	sleep 0.1
done

# --- the volume fills up -----------------------------------------------------------
em_as_root dd if=/dev/zero of="$MNT/filler" bs=64k status=none 2>/dev/null || true
t_full="$(now)"
echo "volume: $(df -h --output=size,used,avail "$MNT" | tail -n1)"
while [[ "$(within "$(elapsed "$t_full" "$(now)")" "$FULL_S")" == yes ]]; do
	sleep 0.2
done
em_as_root rm -f "$MNT/filler"
t_free="$(now)"
full_sends="$(awk -v t="$t_full" -v f="$t_free" '$3 > t && $3 < f && $2 != 0' "$T/sends.log" | wc -l)"
expect_match "sends were refused while the disk was full" '^[1-9]' "$full_sends"
refusals="$(awk -v t="$t_full" -v f="$t_free" '$3 > t && $3 < f && $2 != 0' "$T/sends.log")"
printf '%s\n' "$refusals" | head -n 3
expect_match "each with a retryable reason, the message kept in the outbox" \
	'^$' "$(grep -vE 'queued|outbox' <<<"$refusals" || true)"
expect_absent "never an internal error" 'internal' "$T/sends.log"

# --- space is back -----------------------------------------------------------------
t_ok=""
for _ in $(seq 1 100); do
	if as maria programme list >/dev/null 2>&1 && as sam send 1 "after-free" >/dev/null 2>&1; then
		t_ok="$(now)"
		break
	fi
	sleep 0.2
done
ok_s="$(elapsed "$t_free" "${t_ok:-$(now)}")"
echo "disk full for $(elapsed "$t_full" "$t_free") s; $full_sends CLI sends refused meanwhile; a send stored $ok_s s after space was freed"
expect_match "the service works again within ${BACK_MAX_S} s of space being freed ($ok_s s)" '^yes$' \
	"$(within "$ok_s" "$BACK_MAX_S")"
wait "$loop"

lg_rc=0
wait "$lg" || lg_rc=$?
lg=""
sed -n '/errors by code/,/undelivered/p' "$T/lg.out"
expect_match "the load generator lost nothing, got no duplicate, left nothing unacknowledged" \
	'^0$' "$lg_rc"
expect_match "and met the full disk as a retryable error" 'db_unavailable=[1-9]' "$(cat "$T/lg.out")"
expect_match "never an internal one" '^$' "$(grep -oE 'internal=[0-9]+' "$T/lg.out" || true)"
psql --no-psqlrc -tAq "$DB" -F ' ' \
	-c "SELECT room_id, seq, encode(client_msg_id, 'hex') FROM messages" | sort >"$T/rows"
sort "$T/lg.acks" >"$T/acks"
missing="$(comm -23 "$T/acks" "$T/rows" | wc -l)"
echo "load generator: $(wc -l <"$T/acks") messages acknowledged, $missing of them not stored as acknowledged"
expect_match "every message the load generator saw acknowledged is stored under its seq" \
	'^0$' "$missing"
expect_match "no room has a gap or a repeated seq" '^0$' "$(psql --no-psqlrc -tAq "$DB" -c \
	"SELECT count(*) FROM (SELECT room_id FROM messages GROUP BY room_id
	 HAVING count(*) <> max(seq) OR count(DISTINCT seq) <> count(*)) g")"

acked="$(awk '$2 == 0' "$T/sends.log" | wc -l)"
queued="$(awk '$2 == 4' "$T/sends.log" | wc -l)"
echo "CLI: sent $N, acknowledged $acked, queued in the outbox $queued"
expect_ok "the outbox delivers what was queued" as sam outbox flush
wait_for_lines "$T/chat.out" 'sam: full-[0-9]+' "$N" 60 || true
touch "$T/chat.stop"
wait "$chat" 2>/dev/null || true
check_history full "$N"
shown="$(grep -oE 'sam: full-[0-9]+' "$T/chat.out" || true)"
expect_match "the open chat showed every message once" "^$N $N\$" \
	"$(sort -u <<<"$shown" | grep -c . || true) $(grep -c . <<<"$shown" || true)"

e2e_summary
