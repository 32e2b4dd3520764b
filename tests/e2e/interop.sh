#!/usr/bin/env bash
# tests/e2e/interop.sh - the C CLI and a JavaScript client written from
# docs/PROTOCOL.md alone (tests/e2e/node/client.mjs: ws + libsodium.js) as
# the two members of one pair room of a real ementord over TLS.
#
# The manager sets up a programme, invites and the room with the CLI; the JS
# client registers its mentee from a CLI invite; the CLI mentor sends; then
# `node --test interop.test.mjs` has the JS client decrypt it, reject a
# tampered copy, send back (at the CLI's epoch and at an epoch of its own),
# check a live message from the CLI, the manager's refusals, and JS-to-JS
# messaging in full; finally the CLI reads what JS sent. Ends with
# "N passed, N failed" (node's tests are counted one by one).
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

e2e_node

e2e_serve
export EMENTOR_SERVER="$EM_SERVER_URL" EMENTOR_URL="$EM_SERVER_URL"


# jsctl ARGS...: the JavaScript client's command line (tests/e2e/node/jsctl.mjs).
jsctl() { (cd "$NODE_DIR" && node jsctl.mjs "$@"); }

# json_has FILE TEXT: FILE (one JSON document, or JSON lines) holds the string
# TEXT somewhere, however the client shapes its output.
json_has() {
	jq -e -s --arg want "$2" 'any(.. ; . == $want)' "$1" >/dev/null
}

# --- the people, with the C CLI ---------------------------------------------

code="$(first_invite)"
expect_ok "the manager registers with the CLI" \
	as maria register --invite "$code" --username maria --display-name "Maria Manager"
mgr_fpr="$(sed -nE 's/.*fingerprint: (([0-9a-f]{4} ){7}[0-9a-f]{4}).*/\1/p' <<<"$LAST" | head -n1)"
expect_match "the CLI shows the manager's fingerprint" '^([0-9a-f]{4} ){7}[0-9a-f]{4}$' "$mgr_fpr"

expect_ok "the manager creates a programme" \
	as maria programme create --name "Interop 2027" --starts 2027-03-01 --ends 2027-08-31
prog="$(as maria --json programme list | jq -er '.programmes[0].id')"

expect_ok "the mentor registers with the CLI" \
	as sam register --invite "$(invite "$prog" mentor)" --username sam --display-name "Sam (C CLI)"
expect_ok "the mentee registers with the JS client from a CLI invite" \
	jsctl register --invite "$(invite "$prog" mentee)" --username jess --display-name "Jess (JS)"
expect_match "the JS registration is a mentee of the programme" "\"role\":\"mentee\".*\"programme_id\":$prog" "$LAST"

expect_ok "the manager creates the pair room with the CLI" \
	to_file "$T/room.json" as maria --json room create --programme "$prog" --kind pair --member sam --member jess
room="$(jq -r .room.id "$T/room.json" || true)"
expect_match "the room has an id" '^[0-9]+$' "$room"
expect_ok "the JS mentee is in the room (CLI room show)" as sam room show "$room"
expect_match "room show lists the JS mentee" 'jess' "$LAST"
sign_room "$room" maria sam
expect_ok "the JS mentee signs the agreement with the JS client" jsctl sign --username jess "$room"

# --- messages: CLI -> JS -> CLI ---------------------------------------------

CLI_TEXT="Hello Jess, this is Sam on the C CLI ($RANDOM)"
JS_TEXT="Hi Sam, Jess here on the JavaScript client ($RANDOM)"
JS_TEXT2="And again after my own key rotation ($RANDOM)"

expect_ok "the CLI has the messaging commands" "$BIN/ementor" send --help
expect_ok "the CLI mentor sends to the room" as sam send "$room" "$CLI_TEXT"

export EMENTOR_CA="$CERT"
export EMENTOR_INTEROP_MANAGER=maria
export EMENTOR_INTEROP_MANAGER_FPR="$mgr_fpr"
export EMENTOR_INTEROP_PROGRAMME="$prog"
export EMENTOR_INTEROP_ROOM="$room"
export EMENTOR_INTEROP_CLI_USER=sam
export EMENTOR_INTEROP_JS_USER=jess
export EMENTOR_INTEROP_CLI_TEXT="$CLI_TEXT"
export EMENTOR_INTEROP_JS_TEXT="$JS_TEXT"
export EMENTOR_INTEROP_JS_TEXT2="$JS_TEXT2"
export EMENTOR_INTEROP_CLI="$BIN/ementor $T/home/sam"

echo "--- node --test interop.test.mjs"
tap="$T/node.tap"
node_rc=0
(cd "$NODE_DIR" && node --test --test-reporter=spec --test-reporter-destination=stdout \
	--test-reporter=tap --test-reporter-destination="$tap" interop.test.mjs) || node_rc=$?
node_pass="$(sed -nE 's/^# pass ([0-9]+)$/\1/p' "$tap" | tail -n 1)"
node_fail="$(sed -nE 's/^# fail ([0-9]+)$/\1/p' "$tap" | tail -n 1)"
node_other="$(sed -nE 's/^# (skipped|todo|cancelled) ([0-9]+)$/\2/p' "$tap" | awk '{s += $1} END {print s + 0}')"
echo "--- node: ${node_pass:-0} passed, ${node_fail:-0} failed, $node_other skipped or cancelled (exit $node_rc)"
passed=$((passed + ${node_pass:-0}))
failed=$((failed + ${node_fail:-0} + node_other))
if [[ -z "$node_pass" || ( $node_rc -ne 0 && ${node_fail:-0} -eq 0 ) ]]; then
	not_ok "node --test ran to the end" "exit $node_rc"
fi

expect_ok "the CLI mentor reads the room" to_file "$T/read.json" as sam read "$room" --json
if json_has "$T/read.json" "$CLI_TEXT"; then
	ok "the CLI reads its own message"
else
	not_ok "the CLI reads its own message" "$(cat "$T/read.json")"
fi
if json_has "$T/read.json" "$JS_TEXT"; then
	ok "the CLI decrypts what JS sent at the CLI's epoch"
else
	not_ok "the CLI decrypts what JS sent at the CLI's epoch" "$(cat "$T/read.json")"
fi
if json_has "$T/read.json" "$JS_TEXT2"; then
	ok "the CLI decrypts what JS sent at the epoch JS committed"
else
	not_ok "the CLI decrypts what JS sent at the epoch JS committed" "$(cat "$T/read.json")"
fi

expect_ok "the JS client reads the room again on a fresh connection" \
	to_file "$T/jsread.json" jsctl read --username jess "$room"
# every message has "error": null (jsctl's reason when one does not verify or open)
if json_has "$T/jsread.json" "$CLI_TEXT" &&
	jq -e -s 'all(.. | objects | select(has("error")); .error == null)' "$T/jsread.json" >/dev/null; then
	ok "every message of the room verifies and opens in JS"
else
	not_ok "every message of the room verifies and opens in JS" "$(cat "$T/jsread.json")"
fi

expect_fail "the manager cannot read the room with the CLI" 1 "forbidden|manager" as maria read "$room"
expect_fail "the manager cannot send to the room with the CLI" 1 "forbidden|manager" as maria send "$room" "hello?"

expect_absent "the log holds no message text" "$CLI_TEXT" "$LOG"
expect_absent "the log holds no JS message text" "$JS_TEXT" "$LOG"

e2e_summary
