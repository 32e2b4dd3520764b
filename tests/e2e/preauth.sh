#!/usr/bin/env bash
# tests/e2e/preauth.sh - memory held for peers that never log in, measured as
# the kernel sees it (VmRSS of the real ementord, /proc/PID/status) while Node
# `ws` peers (node/preflood.mjs) flood it:
#   - 20 connections each pipelining 15,000 `prelogin` (the issue's figures:
#     RSS 26 -> 132 MB, never given back), then 60 x 5,000: a connection is
#     closed with 1008 at its 9th request waiting, RSS barely moves;
#   - 300 connections asking for the privacy notice 200 times without reading
#     the answers: the memory held for connections not logged in stops at
#     --preauth-memory (16 MiB here; 1013 for those past it);
#   - a logged-in connection pipelining 5,000 `whoami`: held requests are
#     counted parsed (about 850 bytes each, not their 22), so past ~1,200 it
#     meets `busy`;
#   - after each flood the connections' memory account is back to 0 and RSS
#     comes back near where it started (malloc_trim).
# Bounds were set from measurements on a 2-core box (see the commit message)
# with wide margins; RSS is sampled every 0.1 s.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

e2e_node

e2e_serve --preauth-memory 16
PID="$EM_SERVER_PID"

rss() { awk '/^VmRSS:/ { print int($2 / 1024) }' "/proc/$PID/status" 2>/dev/null || echo 0; } # MiB
metric() {
	curl -sS --max-time 5 --cacert "$CERT" "https://127.0.0.1:$EM_SERVER_PORT/metrics" |
		awk -v k="$1" '$1 == k { print $2 }'
}

# diagnose PIDS...: what the server and the flood's processes are doing (a
# run that did not end in time: a CI run once hung here, and could not be
# reproduced alone)
diagnose() {
	local p t
	echo "# ps of the server and the flood:"
	ps -o pid,ppid,stat,wchan:24,etime,time,rss,args -p "$(printf '%s,' "$PID" "$@")$PID" 2>&1 |
		sed 's/^/#   /'
	for t in /proc/"$PID"/task/*; do
		echo "#   server thread ${t##*/}: $(awk '{ print $3 }' "$t/stat" 2>/dev/null) $(cat "$t/wchan" 2>/dev/null)"
	done
	for p in "$@"; do
		echo "#   $p: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) state $(awk '{ print $3 }' "/proc/$p/stat" 2>/dev/null)"
	done
	echo "# /healthz: $(curl -sS --max-time 3 --cacert "$CERT" "https://127.0.0.1:$EM_SERVER_PORT/healthz" 2>&1)"
	echo "# connections: $(ss -tn state established "( sport = :$EM_SERVER_PORT )" 2>/dev/null | wc -l) established to the server"
	echo "# the server's log ends:"
	tail -n 15 "$LOG" | sed 's/^/#   /'
}

# flood NAME CONNECTIONS EACH MODE HOLD_MS OP: runs preflood.mjs, samples RSS
# meanwhile; sets OUT (its JSON line) and PEAK (MiB). Nothing here waits
# without bound: node is stopped (TERM, then KILL) HOLD_MS + 90 s after it
# started, and the sampling gives up 30 s after that. The subshell records
# node's exit status itself: under `set -e` a failing node used to end it
# before it said it was done, and the sampling loop then waited forever (what
# hung CI). A node that dies from a signal without a word (the load generator,
# not the server: seen once in several full-suite runs) is run once more.
flood() {
	local name="$1" pid t0 limit status try
	shift
	limit=$(($4 / 1000 + 90))
	for try in 1 2; do
		rm -f "$T/flood.done"
		(
			rc=0
			cd "$NODE_DIR" && timeout -k 10 "$limit" node preflood.mjs "$EM_SERVER_URL" "$CERT" "$@" \
				>"$T/$name.json" 2>&1 || rc=$?
			echo "$rc" >"$T/flood.done"
		) &
		pid=$!
		t0=$SECONDS
		PEAK="$(rss)"
		while [[ ! -e "$T/flood.done" ]]; do
			local r
			r="$(rss)"
			((r <= PEAK)) || PEAK="$r"
			if ((SECONDS - t0 > limit + 30)); then
				not_ok "$name: the flood ended within $((limit + 30)) s" \
					"$(diagnose $(pgrep -P "$pid") $(pgrep -f preflood.mjs))"
				pkill -KILL -f "preflood.mjs $EM_SERVER_URL" || true
				break
			fi
			sleep 0.1
		done
		wait "$pid" || true
		status="$(cat "$T/flood.done" 2>/dev/null || echo '?')"
		if ((try == 1)) && [[ ! -s "$T/$name.json" && "$status" =~ ^[0-9]+$ ]] && ((status > 128)); then
			echo "# $name: node died from signal $((status - 128)) without output; once more"
			continue
		fi
		break
	done
	OUT="$(cat "$T/$name.json")"
	echo "# $name: peak ${PEAK} MiB (base ${BASE} MiB), $((SECONDS - t0)) s: $OUT"
	# preflood.mjs bounds every wait; a run it had to cut short is a failure
	# with what the server said meanwhile (a peer stuck before its handshake
	# or its first answer is reported, and must not hang the suite)
	if [[ -z "$OUT" ]] || ! jq -e 'has("unfinished") | not' <<<"$OUT" >/dev/null 2>&1; then
		not_ok "$name: every connection ended within HOLD_MS + 60 s (${OUT:-node printed nothing, exit status $status})" \
			"$(diagnose)"
	fi
	if jq -e '.handshake_timeouts + .resume_timeouts > 0' <<<"$OUT" >/dev/null 2>&1; then
		echo "# $name: some peers waited over 20 s for the server; its log ends:"
		tail -n 20 "$LOG" | sed 's/^/#   /'
	fi
}

# settled NAME: the account of held bytes is 0 and RSS is back near BASE
# within 10 s after the connections closed.
settled() {
	local i r held
	for ((i = 0; i < 50; i++)); do
		r="$(rss)"
		held="$(metric ementord_connection_memory_bytes)"
		((r > BASE + 8)) || [[ "$held" != 0 ]] || break
		sleep 0.2
	done
	expect_match "$1: no bytes held for connections afterwards" '^0$' "$held"
	expect_match "$1: the preauth account is 0 too" '^0$' "$(metric ementord_preauth_memory_bytes)"
	echo "# $1: settled in $((i / 5)) s"
	expect_match "$1: RSS is back within 8 MiB of where it started ($r MiB, base $BASE)" '^yes$' \
		"$( ((r <= BASE + 8)) && echo yes || echo "no: $r")"
}

# some traffic first, so that RSS starts from a warm server
as maria register --invite "$(first_invite)" --username maria >/dev/null
expect_ok "the manager logs in" as maria whoami
sleep 1
BASE="$(rss)"
echo "# base RSS ${BASE} MiB"

# --- the issue's flood: pipelined prelogin ---------------------------------------
# (which close a peer sees depends on how soon its own busy event loop reads:
# the server's side is checked in its counters)
for run in 20:15000 60:5000; do
	conns="${run%:*}" each="${run#*:}"
	closed_before="$(metric ementord_preauth_pipeline_closed_total)"
	flood "prelogin-$conns" "$conns" "$each" read 20000 prelogin
	expect_match "$conns x $each prelogin: RSS rose by less than 12 MiB (peak $PEAK, base $BASE)" \
		'^yes$' "$( ((PEAK < BASE + 12)) && echo yes || echo no)"
	ok_replies="$(jq -r '.replies.ok // 0' <<<"$OUT" 2>/dev/null || true)"
	expect_match "$conns x $each prelogin: at most 8 answered per connection (${ok_replies:-none})" \
		'^yes$' "$([[ "$ok_replies" =~ ^[0-9]+$ ]] && ((ok_replies <= 8 * conns)) && echo yes || echo no)"
	closed="$(($(metric ementord_preauth_pipeline_closed_total) - closed_before))"
	expect_match "$conns x $each prelogin: the server closed connections for it (1008): $closed" \
		'^[1-9][0-9]*$' "$closed"
	settled "$conns x $each prelogin"
done

# --- replies nobody reads, from many connections: the global cap -----------------
flood notice-300 300 200 noread 6000 privacy.notice
expect_match "300 unread floods: connections past --preauth-memory were closed (1013)" \
	'^[1-9][0-9]*$' "$(metric ementord_preauth_memory_closed_total)"
expect_match "300 unread floods: RSS rose by less than 16 MiB + 24 MiB of connections (peak $PEAK, base $BASE)" \
	'^yes$' "$( ((PEAK < BASE + 40)) && echo yes || echo no)"
settled "300 unread floods"

# --- a logged-in connection pipelining: held requests counted parsed -------------
token="$(jq -r '.token // empty' "$T/home/maria/session.json" || true)"
[[ -n "$token" ]] || not_ok "the manager's session token is in session.json"
OUT=""
EMENTOR_TOKEN="$token" flood whoami 1 5000 read 60000 whoami
expect_match "5,000 pipelined whoami (110 KB of frames): some answered busy, for the 1 MiB of held requests is their parsed size ($OUT)" \
	'^[1-9][0-9]*$' "$(jq -r '.replies.busy // 0' <<<"$OUT" || true)"
expect_match "... every one answered: ok + busy = 5,001" '^5001$' \
	"$(jq -r '(.replies.ok // 0) + (.replies.busy // 0)' <<<"$OUT" || true)"
expect_match "... and the connection stayed open until it closed itself (1000)" '^\{"1000":1\}$' \
	"$(jq -c .closes <<<"$OUT" || true)"
expect_match "5,000 pipelined whoami: RSS rose by less than 20 MiB (peak $PEAK, base $BASE)" \
	'^yes$' "$( ((PEAK < BASE + 20)) && echo yes || echo no)"
settled "5,000 pipelined whoami"

expect_ok "the manager still works" as maria whoami
expect_match "the server is healthy" '"status":"ok"' \
	"$(curl -sS --cacert "$CERT" "https://127.0.0.1:$EM_SERVER_PORT/healthz")"
e2e_summary
