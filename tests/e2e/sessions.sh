#!/usr/bin/env bash
# tests/e2e/sessions.sh - a session that ends elsewhere ends the connections
# that use it. An `ementor chat` is left open while, in another process, the
# same user logs out (same token), changes the password (from a second
# device), or the session expires in the database (nobody announces that: the
# server's session sweep finds it at its next scheduler tick). Each time the
# chat is closed with 4004 at once, does not try to reconnect, says why and
# exits 3; the connection that asked (passwd) stays usable.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

e2e_serve --scheduler-interval 1

pair_room Sessions
expect_ok "a first message" as sam send 1 "hello"

# chat_open NAME HOME: lea's chat on HOME, left open (at most 60 s);
# its exit status goes to $T/NAME.rc
chat_open() {
	local name="$1" home="$2"
	# the status is written when the chat exits (the pipeline as a whole
	# waits for open_until too)
	open_until "$T/$name.stop" 60 | {
		rc=0
		as "$home" chat 1 --reconnect 30 >"$T/$name.out" 2>"$T/$name.err" || rc=$?
		echo "$rc" >"$T/$name.rc"
	} &
	wait_for_lines "$T/$name.err" 'Chat in room' 1 20 || true
	sleep 0.5
}
# chat_closed NAME SECONDS: waits until the chat has exited; prints its status
chat_closed() {
	local i
	for ((i = 0; i < $2 * 5; i++)); do
		[[ -s "$T/$1.rc" ]] && break
		sleep 0.2
	done
	touch "$T/$1.stop"
	cat "$T/$1.rc" 2>/dev/null || echo "still open after $2 s"
}

# --- logout elsewhere, same token --------------------------------------------------------
chat_open c1 lea
expect_ok "lea logs out in another process (the chat's token)" as lea logout
expect_match "the open chat ends within 5 s, exit status 3" '^3$' "$(chat_closed c1 5)"
expect_match "and says why, without trying to reconnect" \
	'your session ended.*log in again' "$(cat "$T/c1.err")"
expect_absent "it did not try to reconnect" 'reconnecting' "$T/c1.out"
expect_ok "lea logs in again" as lea login lea

# --- passwd from a second device ----------------------------------------------------------
mkdir -p "$T/home/lea2"
expect_ok "lea logs in on a second device" as lea2 login lea
chat_open c2 lea
expect_ok "lea changes her password on the second device" \
	env EMENTOR_NEW_PASSWORD="a new battery staple" "$BIN/ementor" --home "$T/home/lea2" passwd
expect_match "the chat on the first device ends within 5 s, exit status 3" '^3$' \
	"$(chat_closed c2 5)"
expect_match "and says why" 'your session ended' "$(cat "$T/c2.err")"
export EMENTOR_PASSWORD="a new battery staple"
expect_ok "the second device goes on (its session was kept)" as lea2 read 1
expect_match "and reads" 'sam: hello' "$LAST"
expect_ok "the first device logs in with the new password" as lea login lea

# --- expiry: nobody announces it; the sweep finds it -----------------------------------------
chat_open c3 lea
psql --no-psqlrc -qtA "$DB" -c \
	"UPDATE sessions SET expires_at = now() WHERE user_id = (SELECT id FROM users WHERE username = 'lea') AND revoked_at IS NULL" >/dev/null
expect_match "a session expired in the database ends its chat within 5 s (scheduler tick 1 s)" \
	'^3$' "$(chat_closed c3 5)"
metrics="$(curl -sS --cacert "$CERT" "https://127.0.0.1:$EM_SERVER_PORT/metrics")"
expect_match "the sweep counted it" 'ementord_sessions_ended_total [1-9]' "$metrics"
expect_match "the log says so" 'sessions ended closed=' "$(cat "$LOG")"
expect_fail "a command with the expired session is refused" 3 "log in|session" as lea read 1

e2e_summary
