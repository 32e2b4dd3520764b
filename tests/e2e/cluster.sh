#!/usr/bin/env bash
# tests/e2e/cluster.sh - two ementord nodes on one PostgreSQL, real CLI
# clients spread over both. Room keys rotate every 3 messages, so key epochs
# committed on one node must reach members on the other too.
#
# What it shows: a live chat on node B receives, in order and exactly once,
# every message sent through node A (and its key epochs); in a group, members
# on both nodes read everyone; node B is killed with -9 in the middle of a
# conversation and its client, reconnecting to node A, reads everything —
# nothing lost, nothing doubled, seqs gapless.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

ROTATE=(--rotate-messages 3)

e2e_serve "${ROTATE[@]}"
A="$EM_SERVER_URL"
B_PORT="$(em_free_port)"
B="wss://127.0.0.1:$B_PORT"
"$BIN/ementord" serve --listen 127.0.0.1 --port "$B_PORT" --cert "$CERT" --key "$KEY" --db "$DB" \
	--no-migrate "${ROTATE[@]}" >"$T/b.log" 2>&1 &
B_PID=$!
trap 'kill -9 "$B_PID" 2>/dev/null || true; e2e_cleanup' EXIT
for _ in $(seq 1 100); do
	curl -fsS --cacert "$CERT" "https://127.0.0.1:$B_PORT/healthz" >/dev/null 2>&1 && break
	sleep 0.1
done
expect_match "node B runs on the same database" '"status":"ok"' \
	"$(curl -sS --cacert "$CERT" "https://127.0.0.1:$B_PORT/healthz")"
expect_match "the nodes have different ids" '^2$' \
	"$(cat "$LOG" "$T/b.log" | grep -oE 'cluster node=[0-9a-f]+' | sort -u | grep -c .)"

on() { # on NODE USER args...: the CLI of USER connected to NODE
	local node="$1"
	shift
	EMENTOR_SERVER="$node" as "$@"
}

# each start before the first account replaces the first-run invite: B's is the valid one
code="$(grep -oE -- '--invite [A-Za-z0-9_-]+' "$T/b.log" | head -n1 | awk '{print $2}')"
on "$A" maria register --invite "$code" --username maria >/dev/null
on "$A" maria programme create --name Cluster --starts 2027-01-01 --ends 2027-12-31 >/dev/null
invite() { on "$A" maria --json invite create --programme 1 --role "$1" | jq -er .code; }
on "$A" sam register --invite "$(invite mentor)" --username sam >/dev/null
on "$B" lea register --invite "$(invite mentee)" --username lea >/dev/null
on "$A" tom register --invite "$(invite mentor)" --username tom >/dev/null
on "$B" gia register --invite "$(invite mentee)" --username gia >/dev/null
on "$A" hal register --invite "$(invite mentee)" --username hal >/dev/null
on "$A" maria room create --programme 1 --kind pair --member sam --member lea >/dev/null
on "$B" maria room create --programme 1 --kind group --name G --member tom --member gia --member hal >/dev/null
EMENTOR_SERVER="$A" sign_room 1 maria sam lea
EMENTOR_SERVER="$B" sign_room 2 maria tom gia hal
expect_ok "a first message through node A" on "$A" sam send 1 "m-1"

# --- a live chat on node B, messages sent through node A ------------------------------
open_until "$T/chat.stop" | on "$B" lea chat 1 --linger 1 >"$T/chat.out" 2>"$T/chat.err" &
chat=$!
wait_for_lines "$T/chat.err" 'Chat in room' 1 30 || true
for i in 2 3 4 5 6 7; do
	expect_ok "sam sends m-$i through node A" on "$A" sam send 1 "m-$i"
done
wait_for_lines "$T/chat.out" 'sam: m-[2-7]' 6 20 || true
touch "$T/chat.stop"
rc=0
wait "$chat" || rc=$?
expect_match "the chat on node B ends normally" '^0$' "$rc"
got="$(grep -oE 'sam: m-[0-9]+' "$T/chat.out" | tr '\n' ' ')"
expect_match "it received m-2..m-7 live, in order, once each (across 2 key rotations)" \
	'^(sam: m-1 )?sam: m-2 sam: m-3 sam: m-4 sam: m-5 sam: m-6 sam: m-7 $' "$got"
expect_absent "no message shown as undecryptable" 'REJECTED' "$T/chat.out"

# --- typing crosses nodes too (never stored: a NOTIFY of its own) ----------------------
# generous waits: both chats must have synced before the line is typed, even on a busy box
open_until "$T/chat3.stop" | on "$B" lea chat 1 --linger 1 >"$T/chat3.out" 2>"$T/chat3.err" &
chat=$!
sleep 2.5
{ sleep 2.5; echo "typed-on-A"; sleep 2; } | on "$A" sam chat 1 --linger 1 >/dev/null 2>&1 || true
wait_for_lines "$T/chat3.out" 'sam: typed-on-A' 1 20 || true
touch "$T/chat3.stop"
wait "$chat" 2>/dev/null || true
expect_match "lea on node B sees that sam on node A is typing" 'sam is typing' \
	"$(cat "$T/chat3.out" "$T/chat3.err")"
expect_match "and then the line he typed" 'sam: typed-on-A' "$(cat "$T/chat3.out")"

# --- a group with members on both nodes --------------------------------------------------
expect_ok "tom writes to the group through node A" on "$A" tom send 2 "hello group"
expect_ok "gia answers through node B" on "$B" gia send 2 "hi from B"
expect_ok "hal answers through node A" on "$A" hal send 2 "hi from A"
for who in tom gia hal; do
	for node in "$A" "$B"; do
		out="$(on "$node" "$who" read 2 2>&1 | tr '\n' ' ')" || true
		expect_match "$who reads the whole group on ${node##*:}" \
			'tom: hello group .*gia: hi from B .*hal: hi from A' "$out"
	done
done

# --- a logout through node A ends the same session's chat on node B at once --------------
# (NOTIFY k; the session sweep would take up to a scheduler interval, 15 s)
open_until "$T/chat4.stop" 60 | {
	rc=0
	on "$B" lea chat 1 --reconnect 30 >"$T/chat4.out" 2>"$T/chat4.err" || rc=$?
	echo "$rc" >"$T/chat4.rc"
} &
wait_for_lines "$T/chat4.err" 'Chat in room' 1 20 || true
expect_ok "lea logs out through node A" on "$A" lea logout
for _ in $(seq 1 25); do
	[[ -s "$T/chat4.rc" ]] && break
	sleep 0.2
done
touch "$T/chat4.stop"
expect_match "her chat on node B ends within 5 s, exit status 3" '^3$' "$(cat "$T/chat4.rc" 2>/dev/null)"
expect_match "saying her session ended" 'your session ended' "$(cat "$T/chat4.err")"
expect_ok "lea logs in again" on "$A" lea login lea

# --- node B dies in the middle of a conversation -----------------------------------------
{ sleep 30; } | on "$B" lea chat 1 --reconnect 0 >"$T/chat2.out" 2>"$T/chat2.err" &
chat=$!
wait_for_lines "$T/chat2.err" 'Chat in room' 1 30 || true
for i in 8 9 10; do on "$A" sam send 1 "m-$i" >/dev/null; done
wait_for_lines "$T/chat2.out" 'sam: m-10' 1 30 || true
kill -9 "$B_PID"
wait "$chat" 2>/dev/null || true
expect_match "the chat on node B saw m-8..m-10 before the kill" 'sam: m-10' "$(cat "$T/chat2.out")"
for i in 11 12; do
	expect_ok "sam goes on through node A (m-$i)" on "$A" sam send 1 "m-$i"
done
expect_ok "lea reconnects to node A and reads" to_file "$T/read.json" on "$A" lea --json read 1
texts="$(jq -r '[.[].text | select(test("^m-[0-9]+$"))] | join(" ")' "$T/read.json" || true)"
expect_match "everything is there, in order, once" "^$(seq -f 'm-%g' -s ' ' 1 12)\$" "$texts"
seqs="$(jq -r 'map(.seq) | join(" ")' "$T/read.json" || true)"
# 12 numbered messages and the line typed on A
expect_match "seqs are gapless" "^$(seq -s ' ' 1 13)\$" "$seqs"
metrics="$(curl -sS --cacert "$CERT" "https://127.0.0.1:$EM_SERVER_PORT/metrics")"
expect_match "node A announced events and heard node B's" \
	'ementord_cluster_published_total [1-9].*ementord_cluster_received_total [1-9]' \
	"$(tr '\n' ' ' <<<"$metrics")"

e2e_summary
