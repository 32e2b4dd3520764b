#!/usr/bin/env bash
# tests/e2e/cluster_cut.sh - one node of a two-node cluster is cut off from
# PostgreSQL for 30 s while the other keeps serving.
#
# Node A runs here and reaches PostgreSQL over its unix socket. Node B runs in
# a network namespace of its own and reaches PostgreSQL over TCP through a
# veth pair; its clients run in that namespace too (B listens on its own
# 127.0.0.1). The cut takes the host end of the veth pair down: B's packets to
# PostgreSQL are dropped (a network partition: no reset, no refusal), while B
# and its clients still talk to each other. Room keys rotate every 3 messages,
# so key epochs are committed during the cut too.
#
# What it shows: node A goes on storing and delivering; node B answers its
# clients with the retryable db_unavailable (a request already on the way
# when the link went is answered within its CLI's 15 s, the next ones at
# once) and /healthz says the database is down; after the cut B is back by
# itself; the messages sent through A during the cut, which B never heard
# announced, reach a chat open on B although nothing else is sent to that
# room (the catch-up sweep), in order, once, decrypted across the key epochs
# it missed; a line typed into another chat on B during the cut is
# delivered by that chat itself.
# Needs root (or sudo) for the namespace; iproute2.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

CUT_S="${CLUSTER_CUT_SECONDS:-30}"
FIRST_MAX_S="$(e2e_bound 15)" # a request caught by the cut: the CLI waits 15 s for a reply
NEXT_MAX_S="$(e2e_bound 3)"   # once B knows: an answer at once
BACK_MAX_S="$(e2e_bound 10)"  # B serves again after the link is back

e2e_cert
export EMENTOR_PASSWORD="correct horse battery"
ROTATE=(--rotate-messages 3)
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
within() { awk -v s="$1" -v m="$2" 'BEGIN { print (s <= m ? "yes" : "no") }'; }

# --- the network: a namespace for node B, a veth pair to PostgreSQL ---------------
NS="emcut$$"
VA="emc${$}a"
VB="emc${$}b"
# a /30 of 198.18.0.0/15 (reserved for network benchmarks) that no route of
# this machine covers but the default one
for _ in $(seq 1 20); do
	net="198.$((18 + RANDOM % 2)).$((RANDOM % 256)).$((RANDOM % 64 * 4))"
	ip -4 route show match "$net" | grep -qv '^default' || break
done
A_IP="${net%.*}.$((${net##*.} + 1))"
B_IP="${net%.*}.$((${net##*.} + 2))"
B_PID=""
PGBASE="$T/pg"
cut_cleanup() {
	local pid
	# every process in B's namespace is ours: node B, and CLIs of a failed run
	for pid in $(em_as_root ip netns pids "$NS" 2>/dev/null || true); do
		em_as_root kill -9 "$pid" 2>/dev/null || true
	done
	em_as_root ip link del "$VA" 2>/dev/null || true
	em_as_root ip netns del "$NS" 2>/dev/null || true
	em_pg_stop "$PGBASE" 2>/dev/null || true
	e2e_cleanup
}
trap cut_cleanup EXIT
inb() { em_as_root ip netns exec "$NS" "$@"; }
em_as_root ip netns add "$NS"
em_as_root ip link add "$VA" type veth peer name "$VB"
em_as_root ip link set "$VB" netns "$NS"
em_as_root ip addr add "$A_IP/30" dev "$VA"
em_as_root ip link set "$VA" up
inb ip addr add "$B_IP/30" dev "$VB"
inb ip link set "$VB" up
inb ip link set lo up

# --- PostgreSQL on its unix socket and on the host end of the pair ----------------
pgport="$(em_free_port)"
DB="$(em_pg_start "$PGBASE" "$pgport" 2>/dev/null)"
psql --no-psqlrc -q "$DB" -c "ALTER SYSTEM SET listen_addresses = '$A_IP'" >/dev/null
printf 'host all all %s/30 trust\n' "$net" | em_pg_as_owner tee -a "$PGBASE/data/pg_hba.conf" >/dev/null
em_pg_stop "$PGBASE" 2>/dev/null
DB="$(em_pg_start "$PGBASE" "$pgport" 2>/dev/null)"
DB_B="host=$A_IP port=$pgport dbname=ementor user=postgres"

# --- node A here, node B in the namespace ------------------------------------------
em_server_start "$LOG" "$CERT" "$KEY" "$DB" "${ROTATE[@]}" || {
	not_ok "node A starts"
	e2e_summary
}
A="$EM_SERVER_URL"
B_PORT="$(em_free_port)"
B="wss://127.0.0.1:$B_PORT"
B_HEALTH="https://127.0.0.1:$B_PORT/healthz"
inb "$BIN/ementord" serve --listen 127.0.0.1 --port "$B_PORT" --cert "$CERT" --key "$KEY" \
	--db "$DB_B" --no-migrate "${ROTATE[@]}" >"$T/b.log" 2>&1 &
# ementord is the namespace's only process yet (`ip netns exec` became it)
for _ in $(seq 1 50); do
	B_PID="$(em_as_root ip netns pids "$NS" | head -n1)"
	[[ -n "$B_PID" ]] && break
	sleep 0.1
done
b_health() { inb curl -sS --max-time 2 --cacert "$CERT" "$B_HEALTH" 2>/dev/null || true; }
for _ in $(seq 1 150); do
	[[ "$(b_health | jq -r .database 2>/dev/null)" == up ]] && break
	sleep 0.2
done
expect_match "node B runs in its namespace, on the database over TCP" '"database":"up"' "$(b_health)"

on_a() { # on_a USER args...: the CLI of USER connected to node A
	EMENTOR_SERVER="$A" as "$@"
}
on_b() { # on_b USER args...: the CLI of USER, in B's namespace, connected to node B
	local who="$1"
	shift
	inb env EMENTOR_SERVER="$B" EMENTOR_CA="$EMENTOR_CA" EMENTOR_PASSWORD="$EMENTOR_PASSWORD" \
		"$BIN/ementor" --home "$T/home/$who" "$@"
}

code="$(grep -oE -- '--invite [A-Za-z0-9_-]+' "$T/b.log" | head -n1 | awk '{print $2}')"
on_a maria register --invite "$code" --username maria >/dev/null
on_a maria programme create --name Cut --starts 2027-01-01 --ends 2027-12-31 >/dev/null
invite() { on_a maria --json invite create --programme 1 --role "$1" | jq -er .code; }
for who in sam:mentor lea:mentee tom:mentor gia:mentee; do
	on_a "${who%%:*}" register --invite "$(invite "${who#*:}")" --username "${who%%:*}" >/dev/null
done
# room 1: sam writes through A, lea reads on B and never writes until the end,
# so only the catch-up can bring her what A stored during the cut; room 2:
# gia writes on B during the cut
on_a maria room create --programme 1 --kind pair --member sam --member lea >/dev/null
on_a maria room create --programme 1 --kind pair --member tom --member gia >/dev/null
EMENTOR_SERVER="$A" sign_room 1 maria sam lea
EMENTOR_SERVER="$A" sign_room 2 maria tom gia

open_until "$T/chat.stop" | on_b lea chat 1 --linger 1 >"$T/chat.out" 2>"$T/chat.err" &
chat=$!
{
	open_until "$T/type.now"
	echo "typed-on-B-during-cut"
	open_until "$T/chat.stop"
} | on_b gia chat 2 --linger 1 >"$T/chat2.out" 2>"$T/chat2.err" &
chat2=$!
wait_for_lines "$T/chat.err" 'Chat in room' 1 30 || true
wait_for_lines "$T/chat2.err" 'Chat in room' 1 30 || true
for i in 1 2 3; do
	expect_ok "sam sends m-$i through node A" on_a sam send 1 "m-$i"
done
wait_for_lines "$T/chat.out" 'sam: m-[1-3]' 3 20 || true
expect_match "before the cut, the chat on B shows A's messages" 'sam: m-3' "$(cat "$T/chat.out")"

# --- the cut ------------------------------------------------------------------------
em_as_root ip link set "$VA" down
t_cut="$(now)"
# a request already on its way: B's connections still look alive
(
	t0="$(now)"
	rc=0
	out="$(on_b gia send 2 "b-caught-by-cut" 2>&1)" || rc=$?
	printf '%s %s %s\n' "$rc" "$(elapsed "$t0" "$(now)")" "$(tr '\n' ' ' <<<"$out")"
) >"$T/first.out" &
first=$!
for i in $(seq 4 12); do
	expect_ok "node A goes on: sam sends m-$i during the cut" on_a sam send 1 "m-$i"
done
down=""
for _ in $(seq 1 150); do
	[[ "$(b_health | jq -r .database 2>/dev/null)" == down ]] && down=1 && break
	sleep 0.2
done
t_down="$(now)"
expect_match "node B's /healthz says the database is down" '^1$' "$down"
wait "$first" || true
read -r first_rc first_s first_out <"$T/first.out" || true
echo "cut: B's /healthz said down after $(elapsed "$t_cut" "$t_down") s; the request caught by the cut was answered after $first_s s: $first_out"
expect_match "the request caught by the cut was queued, not lost (exit 4)" '^4$' "$first_rc"
expect_match "it was answered within ${FIRST_MAX_S} s (${first_s} s)" '^yes$' "$(within "$first_s" "$FIRST_MAX_S")"
expect_match "with a clear, retryable reason" 'database|unreachable|queued|outbox' "$first_out"
touch "$T/type.now"
t0="$(now)"
expect_fail "a request to B during the cut gets db_unavailable" 1 'db_unavailable' \
	on_b gia room list
next_s="$(elapsed "$t0" "$(now)")"
expect_match "at once (${next_s} s, at most ${NEXT_MAX_S} s)" '^yes$' "$(within "$next_s" "$NEXT_MAX_S")"
expect_match "node B is still running" 'alive' "$(em_as_root kill -0 "$B_PID" 2>/dev/null && echo alive)"
expect_match "node A still says the database is up" '"database":"up"' \
	"$(curl -sS --cacert "$CERT" "https://127.0.0.1:$EM_SERVER_PORT/healthz")"

# the cut lasts CUT_S seconds in all
sleep "$(awk -v t="$t_cut" -v c="$CUT_S" -v n="$(now)" 'BEGIN { d = t + c - n; print (d > 0 ? d : 0) }')"
em_as_root ip link set "$VA" up
t_back="$(now)"
t_health=""
t_req=""
for _ in $(seq 1 300); do
	if [[ -z "$t_health" && "$(b_health | jq -r .database 2>/dev/null)" == up ]]; then
		t_health="$(now)"
	fi
	if [[ -n "$t_health" && -z "$t_req" ]] && on_b maria room list >/dev/null 2>&1; then
		t_req="$(now)"
	fi
	[[ -n "$t_req" ]] && break
	sleep 0.2
done
health_s="$(elapsed "$t_back" "${t_health:-$(now)}")"
req_s="$(elapsed "$t_back" "${t_req:-$(now)}")"
echo "link back after $(elapsed "$t_cut" "$t_back") s: B's /healthz up after $health_s s, a request through B answered after $req_s s"
expect_match "node B recovers by itself within ${BACK_MAX_S} s (${req_s} s)" '^yes$' "$(within "$req_s" "$BACK_MAX_S")"

# nothing is sent to room 1 now: only the catch-up can bring m-4..m-12 to the chat on B
wait_for_lines "$T/chat.out" 'sam: m-([4-9]|1[0-2])$' 9 30 || true
wait_for_lines "$T/chat2.out" 'gia: typed-on-B-during-cut' 1 30 || true
touch "$T/chat.stop"
wait "$chat" "$chat2" 2>/dev/null || true
got="$(grep -oE 'sam: m-[0-9]+' "$T/chat.out" | tr '\n' ' ')"
expect_match "the chat on B got the messages sent through A during the cut, in order, once" \
	"^$(for i in $(seq 1 12); do printf 'sam: m-%s ' "$i"; done)\$" "$got"
expect_absent "none rejected" 'REJECTED' "$T/chat.out"
expect_absent "none left undecrypted (key epochs missed during the cut)" 'cannot decrypt' "$T/chat.out"
expect_match "the line typed on B during the cut was sent by the chat itself" \
	'gia: typed-on-B-during-cut' "$(cat "$T/chat2.out")"
metrics="$(inb curl -sS --cacert "$CERT" "https://127.0.0.1:$B_PORT/metrics" || true)"
echo "node B: $(grep -E '^ementord_cluster_(caught_up|read_retries|received)_total' <<<"$metrics" | tr '\n' ' ')"

expect_ok "lea reads room 1 through B" to_file "$T/read1.json" on_b lea --json read 1
texts="$(jq -r '[.[].text | select(test("^m-[0-9]+$"))] | join(" ")' "$T/read1.json" || true)"
expect_match "room 1 holds every message once, in order" "^$(seq -f 'm-%g' -s ' ' 1 12)\$" "$texts"
seqs="$(jq -r 'map(.seq) | join(" ")' "$T/read1.json" || true)"
expect_match "with gapless seqs" "^$(seq -s ' ' 1 12)\$" "$seqs"
expect_ok "gia's outbox is delivered through B" on_b gia outbox flush
expect_ok "gia reads room 2 through B" to_file "$T/read2.json" on_b gia --json read 2
texts="$(jq -r '.[].text' "$T/read2.json" | sort | tr '\n' ' ' || true)"
expect_match "room 2 holds what gia sent during the cut, once each" \
	'^b-caught-by-cut typed-on-B-during-cut $' "$texts"

e2e_summary
