#!/usr/bin/env bash
# tests/e2e/crash.sh - kill -9 the server while messages flow. A sender loop
# (the real CLI, one process per message) keeps sending while ementord is
# killed and restarted on the same port. Afterwards: every message the server
# acknowledged is stored and delivered, every message the client queued is
# delivered from its outbox exactly once, and no reader sees a message twice.
#
# CRASH_SIGNAL=TERM (ctest e2e_restart) makes it a graceful restart instead:
# the server must finish what is in flight, close connections with 1001, exit
# 0 by itself within its drain timeout, and the same checks must hold; and an
# `ementor chat` open across the restart reconnects by itself and shows every
# message exactly once.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

N="${CRASH_MESSAGES:-120}"
SIG="${CRASH_SIGNAL:-KILL}"
e2e_serve
PORT="$EM_SERVER_PORT"
export EMENTOR_SERVER="$EM_SERVER_URL"

pair_room Crash
expect_ok "a first message opens the room's key epoch" as sam send 1 "warm-up"

if [[ "$SIG" == TERM ]]; then
	# the chat's stdin stays open until the checks below are done (chat.stop),
	# however long the sends take on a slow machine; at most 240 s
	open_until "$T/chat.stop" | as lea chat 1 --linger 1 --reconnect 30 >"$T/chat.out" 2>"$T/chat.err" &
	chat=$!
	wait_for_lines "$T/chat.err" 'Chat in room' 1 30 || true
fi

# the sender loop: "i exit-status output" per message
(
	for i in $(seq 1 "$N"); do
		rc=0
		out="$(as sam send 1 "crash-$i" 2>&1)" || rc=$?
		printf '%s %s %s\n' "$i" "$rc" "$(tr '\n' ' ' <<<"$out")"
	done
) >"$T/sends.log" &
loop=$!

# kill -9 once some messages are through, then restart on the same port
for _ in $(seq 1 100); do
	(($(wc -l <"$T/sends.log") >= N / 4)) && break
	sleep 0.1
done
kill "-$SIG" "$EM_SERVER_PID"
if [[ "$SIG" == TERM ]]; then
	t0="$(date +%s)"
	rc=0
	wait "$EM_SERVER_PID" 2>/dev/null || rc=$?
	expect_match "SIGTERM: the server exits by itself, status 0" '^0$' "$rc"
	expect_match "within its drain timeout (10 s)" '^yes$' "$( (($(date +%s) - t0 <= 12)) && echo yes || echo no)"
	expect_match "it drained: every connection closed with its work done" 'drained' "$(grep -E 'drain' "$LOG")"
else
	wait "$EM_SERVER_PID" 2>/dev/null || true
fi
killed_after="$(wc -l <"$T/sends.log")"
sleep 1.5
"$BIN/ementord" serve --listen 127.0.0.1 --port "$PORT" --cert "$CERT" --key "$KEY" --db "$DB" \
	>>"$LOG" 2>&1 &
EM_SERVER_PID=$!
for _ in $(seq 1 100); do
	curl -fsS --cacert "$CERT" "https://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
	sleep 0.1
done
wait "$loop"

acked="$(awk '$2 == 0' "$T/sends.log" | wc -l)"
queued="$(awk '$2 == 4' "$T/sends.log" | wc -l)"
other="$(awk '$2 != 0 && $2 != 4' "$T/sends.log" | wc -l)"
echo "sent $N: acknowledged $acked, queued while down $queued, other $other (killed after $killed_after)"
expect_match "the $SIG happened while messages flowed" '^[1-9]' "$queued"
expect_match "no send failed in another way" '^0$' "$other"
expect_ok "the outbox delivers what was queued" as sam outbox flush
expect_ok "the outbox is then empty" as sam outbox list
expect_match "nothing stays queued" 'empty' "$LAST"

check_history crash "$N"
seqs="$(jq -r 'map(.seq) | join(" ")' "$T/history.json" || true)"
expect_match "sequence numbers are gapless from 1" "^$(seq -s ' ' 1 $((N + 1)))\$" "$seqs"

if [[ "$SIG" == TERM ]]; then
	# give the open chat up to 30 s to show every message, then close it
	wait_for_lines "$T/chat.out" 'sam: crash-[0-9]+' "$N" 30 || true
	touch "$T/chat.stop"
	wait "$chat" 2>/dev/null || true
	expect_match "the open chat was told and reconnected by itself" \
		'connection lost.*reconnected after' "$(tr '\n' ' ' <"$T/chat.out")"
	shown="$(grep -oE 'sam: crash-[0-9]+' "$T/chat.out" || true)"
	expect_match "the chat showed every message" "^$N\$" "$(sort -u <<<"$shown" | grep -c . || true)"
	expect_match "and none twice" "^$N\$" "$(grep -c . <<<"$shown" || true)"
	if [[ "$(grep -c . <<<"$shown" || true)" != "$N" ]]; then
		echo "# the chat's transcript and errors:"
		grep -vE 'sam: crash-[0-9]+' "$T/chat.out" | sed 's/^/#   /' || true
		sed 's/^/#   err: /' "$T/chat.err" || true
	fi
fi

e2e_summary
