#!/usr/bin/env bash
# tests/e2e/wasm_client.sh - the client core compiled to WebAssembly
# (build-wasm/core/dist/ementor-client.mjs, made by scripts/wasm) in Node,
# against a real ementord over TLS and the real CLI.
#
# The manager, a mentor (sam) and a mentee (lea) are set up with the CLI in a
# pair room whose agreement all three sign. A copy of lea's CLI home is then
# opened by the WebAssembly core (tests/e2e/node/wasmctl.mjs, DirectoryStorage
# over the same document files): it reads sam's message (pinning sam's keys,
# taking the room key and decrypting, all in WebAssembly), lists it exactly as
# the CLI's `read --json` does, and sends a reply that sam's CLI reads. Then
# the server lies (its database edited, as tests/e2e/hostile.sh does) and the
# WebAssembly core must refuse as the CLI does, with the same words:
#   O3  a message dated an hour before sam signed it: flagged back-dated
#   E1  after a new epoch the WebAssembly core committed (sam reads under it),
#       the room's epoch set back: sending is refused, naming both epochs
#   P1  sam's keys replaced by an attacker's and a new epoch required:
#       sending is refused, a keys_changed warning, no epoch committed
# Then a copy of those documents goes into IndexedDB in headless Chromium
# (tests/browser/client.mjs), where the same core reads the room and sends a
# second reply over the browser's WebSocket; its send frame must leave only
# after IndexedDB has committed the outbox that holds the message.
# Skipped (77) without node and npm or without a WebAssembly build.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

DIST="${EMENTOR_WASM_DIST:-$EM_ROOT/build-wasm/core/dist}"
if [[ ! -f "$DIST/ementor-client.mjs" || ! -f "$DIST/ementor-core-wasm.wasm" ]]; then
	echo "SKIP: no WebAssembly client core in $DIST: run scripts/wasm" >&2
	exit 77
fi
e2e_node
export EMENTOR_WASM_DIST="$DIST"

# the Origin of the Chromium page below (browsers send one; ementord allows listed ones only)
PAGE_PORT="$(em_free_port)"

e2e_serve --allow-origin "http://127.0.0.1:$PAGE_PORT"

sql() { psql --no-psqlrc -qtA -v ON_ERROR_STOP=1 "$DB" -c "$1"; }
attack() { sql "SET session_replication_role = replica; $1"; }
WHOME="$T/wasm-lea"
# wasm ARGS...: the WebAssembly core on the copy of lea's home (wasmctl.mjs)
wasm() { (cd "$NODE_DIR" && node wasmctl.mjs "$WHOME" "$@"); }
# the fields both clients show for each message, as one JSON array
cli_view() { jq -c '[.[] | {seq, sender, text, warning}]'; }
wasm_view() { jq -sc '[.[] | {seq, sender, text, warning}]'; }
# expect_same NAME A B: A and B are the same non-empty text
expect_same() {
	if [[ -n "$2" && "$2" == "$3" ]]; then ok "$1"; else not_ok "$1" "'$2' differs from '$3'"; fi
}

# --- the people, with the CLI --------------------------------------------------
pair_room "WebAssembly 2027"
room=1
expect_ok "sam (CLI) writes to lea" as sam send "$room" "hello lea, from the CLI"
cp -a "$T/home/lea" "$WHOME"
ok "lea's CLI home copied for the WebAssembly core ($(find "$WHOME" -maxdepth 1 -name '*.json' -printf '%f ' | sort))"

# --- reading and sending in WebAssembly ---------------------------------------------
wasm read "$room" >"$T/w1.out" 2>"$T/w1.err" && rc=0 || rc=$?
expect_match "the WebAssembly core reads (exit 0)" '^0$' "$rc"
expect_match "it decrypts sam's message" '"sender":"sam".*"text":"hello lea, from the CLI"' \
	"$(cat "$T/w1.out")"
expect_match "without a warning" '^\[\{"seq":1,"sender":"sam","text":"hello lea, from the CLI","warning":null\}\]$' \
	"$(wasm_view <"$T/w1.out")"
expect_match "it pinned sam's keys in lea's documents" '"sam"' "$(cat "$WHOME/pins.json" 2>/dev/null)"
expect_match "and took the room key of epoch 1" "\"$room\"" "$(cat "$WHOME/roomkeys.json" 2>/dev/null)"

out="$(wasm send "$room" "hi sam, from WebAssembly" 2>"$T/w2.err")" && rc=0 || rc=$?
expect_match "the WebAssembly core sends a reply (exit 0)" '^0$' "$rc"
expect_match "stored as seq 2" '"seq":2' "$out"
expect_ok "sam (CLI) reads" as sam read "$room"
expect_match "sam reads the reply the WebAssembly core encrypted and signed" \
	'^\[2\] [0-9-]{10} [0-9:]{5} lea: hi sam, from WebAssembly$' "$LAST"
as lea --json read "$room" >"$T/c1.json" 2>"$T/c1.err" || true
wasm read "$room" >"$T/w3.out" 2>"$T/w3.err" || true
expect_same "lea's CLI and the WebAssembly core show the same two messages" \
	"$(cli_view <"$T/c1.json")" "$(wasm_view <"$T/w3.out")"

# --- the same in headless Chromium, with IndexedDB -------------------------------------
CHROMIUM="${EMENTOR_CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "$CHROMIUM" ]]; then
	not_ok "Chromium is installed" "no $CHROMIUM: scripts/test installs Debian's chromium (em_browser_deps)"
elif ! (cd "$EM_ROOT/tests/browser" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
	npm ci --no-audit --no-fund --loglevel=error >"$T/npm-browser.log" 2>&1); then
	not_ok "npm ci in tests/browser" "$(tail -n 20 "$T/npm-browser.log")"
else
	# the WebAssembly core's documents as Node left them (its device counter included)
	cp -a "$WHOME" "$T/browser-lea"
	node "$EM_ROOT/tests/browser/client.mjs" "$DIST" "$T/browser-lea" "$PAGE_PORT" "$EM_SERVER_URL" \
		"$room" "hi sam, from Chromium" >"$T/b1.out" 2>&1 && rc=0 || rc=$?
	expect_match "the page ran in Chromium without an error, a failed request or a CSP violation (exit 0)" \
		'^0$' "$rc$( ((rc == 0)) || grep -v '^result ' "$T/b1.out" | head -n 5)"
	res="$(sed -n 's/^result //p' "$T/b1.out")"
	expect_match "the core opened on the documents IndexedDB holds" \
		'"keys.json".*"session.json"' "$(jq -c '.loaded' <<<"$res" 2>/dev/null)"
	expect_same "Chromium shows what lea's CLI shows" "$(cli_view <"$T/c1.json")" \
		"$(jq -c '[.messages[] | {seq, sender, text, warning}]' <<<"$res" 2>/dev/null)"
	expect_match "the reply from Chromium is stored as seq 3" '^3$' "$(jq -r '.sent.seq' <<<"$res" 2>/dev/null)"
	expect_match "its send frame left only after IndexedDB committed the outbox holding it" \
		'^\{"total":[0-9]+,"sends":1,"early":\[\]\}$' "$(jq -c '.frames' <<<"$res" 2>/dev/null)"
	expect_match "and the outbox is empty again" '^0$' "$(jq -r '.outbox_after.messages | length' <<<"$res" 2>/dev/null)"
	expect_ok "sam (CLI) reads" as sam read "$room"
	expect_match "sam reads the reply from Chromium" '^\[3\] [0-9-]{10} [0-9:]{5} lea: hi sam, from Chromium$' "$LAST"
fi

# --- a fresh device: log in, read and send, all in WebAssembly ---------------------------
# No CLI document at all: the core derives lea's keys from her password
# (Argon2id and NFC in WebAssembly), checks the server's answer against them,
# writes session.json and keys.json, pins sam on first sight, takes the room
# key sealed to lea and decrypts.
FRESH="$T/wasm-fresh"
mkdir -p "$FRESH"
fresh() { (cd "$NODE_DIR" && node wasmctl.mjs "$FRESH" "$@"); }
out="$(EMENTOR_SERVER="$EM_SERVER_URL" fresh login lea 2>"$T/f1.err")" && rc=0 || rc=$?
expect_match "the WebAssembly core logs lea in on a device with nothing stored (exit 0)" '^0$' \
	"$rc$( ((rc == 0)) || tail -n 3 "$T/f1.err")"
expect_match "with the fingerprint of lea's keys" "\"fingerprint\":\"$(as lea --json whoami | jq -r '.fingerprint // .user.fingerprint')\"" "$out"
expect_match "it wrote session.json and keys.json" '^keys.json session.json $' \
	"$(find "$FRESH" -maxdepth 1 \( -name session.json -o -name keys.json \) -printf '%f\n' | sort | tr '\n' ' ')"
fresh read "$room" >"$T/f2.out" 2>"$T/f2.err" && rc=0 || rc=$?
expect_match "the freshly logged-in core reads the room (exit 0)" '^0$' "$rc"
as lea --json read "$room" >"$T/c3.json" 2>"$T/c3.err" || true
expect_same "and shows what lea's CLI shows" "$(cli_view <"$T/c3.json")" "$(wasm_view <"$T/f2.out")"
out="$(fresh send "$room" "hello from a fresh WebAssembly login" 2>"$T/f3.err")" && rc=0 || rc=$?
expect_match "it sends (exit 0)" '^0$' "$rc$( ((rc == 0)) || tail -n 3 "$T/f3.err")"
expect_ok "sam (CLI) reads" as sam read "$room"
expect_match "sam reads the message the fresh login sent" \
	'lea: hello from a fresh WebAssembly login$' "$LAST"

# --- O3: the server back-dates a message ---------------------------------------------
seq="$(as sam --json send "$room" "back-dated" 2>/dev/null | jq -r '.seq // empty')"
expect_match "sam sends another message" '^[0-9]+$' "$seq"
attack "UPDATE messages SET created_at = created_at - interval '1 hour' WHERE room_id = $room AND seq = ${seq:-0}"
wasm read "$room" >"$T/w4.out" 2>"$T/w4.err" || true
wwarn="$(jq -r "select(.seq == ${seq:-0}) | .warning // empty" "$T/w4.out")"
expect_match "the WebAssembly core flags it back-dated" \
	"^the server dates this message .* but sam signed it as written at .*: back-dated by the server" "$wwarn"
as lea --json read "$room" >"$T/c2.json" 2>"$T/c2.err" || true
cwarn="$(jq -r ".[] | select(.seq == ${seq:-0}) | .warning // empty" "$T/c2.json")"
expect_same "with the CLI's words" "$cwarn" "$wwarn"

# --- E1: a new epoch committed in WebAssembly, then the server turns it back ---------------
epoch_of() { sql "SELECT epoch FROM rooms WHERE id = $1"; }
lea_id="$(sql "SELECT id FROM users WHERE username = 'lea'")"
if [[ -s "$T/b1.out" ]]; then
	# one device: the outbox (its message counters) as the page in Chromium left it
	sed -n 's/^result //p' "$T/b1.out" | jq '.outbox_after' >"$WHOME/outbox.json.new" &&
		mv "$WHOME/outbox.json.new" "$WHOME/outbox.json"
fi
e_old="$(epoch_of "$room")"
# what an honest server asks for after a membership change or N messages
sql "UPDATE rooms SET rotate_required = true WHERE id = $room"
out="$(wasm send "$room" "a new epoch, from WebAssembly" 2>"$T/w6.err")" && rc=0 || rc=$?
expect_match "the WebAssembly core sends when the server asks for a new room key (exit 0)" '^0$' "$rc"
e_new="$(epoch_of "$room")"
expect_match "the room is at a new epoch" "^$((e_old + 1))\$" "$e_new"
expect_match "committed (sealed and signed) by lea's WebAssembly core" "^$lea_id\$" \
	"$(sql "SELECT committer_id FROM room_epochs WHERE room_id = $room AND epoch = ${e_new:-0}")"
expect_ok "sam (CLI) reads" as sam read "$room"
expect_match "sam opens the envelope the WebAssembly core sealed to him" 'lea: a new epoch, from WebAssembly$' "$LAST"
expect_ok "lea's CLI reads (takes the new key)" as lea read "$room"
attack "UPDATE rooms SET epoch = $e_old, rotate_required = false, epoch_msg_count = 0, epoch_started_at = now()
        WHERE id = $room"
mark="$(sql "SELECT last_seq FROM rooms WHERE id = $room")"
wasm send "$room" "rolled back?" >"$T/w7.out" 2>"$T/w7.err" && rc=0 || rc=$?
expect_match "the WebAssembly core refuses to send under the old epoch (exit 1)" '^1$' "$rc"
werr="$(jq -r 'select(.error) | .error.message' "$T/w7.err")"
expect_match "naming both epochs" \
	"the server says room $room is at key epoch $e_old, but this device has already used epoch $e_new" "$werr"
expect_fail "lea's CLI refuses the same way" 1 "turns epochs back" as lea send "$room" "rolled back?"
expect_same "with the same words" "ementor: $werr" "$(grep '^ementor: ' <<<"$LAST" | tail -n 1)"
expect_match "nothing was stored after the rollback" "^0\$" \
	"$(sql "SELECT count(*) FROM messages WHERE room_id = $room AND seq > ${mark:-0}")"
attack "UPDATE rooms SET epoch = $e_new WHERE id = $room"

# --- P1: sam's keys replaced ---------------------------------------------------------------
sam_id="$(sql "SELECT id FROM users WHERE username = 'sam'")"
sam_keys="$(sql "SELECT encode(sign_pk, 'hex') || ' ' || encode(box_pk, 'hex') FROM users WHERE id = $sam_id")"
mal="$(node -e '
	const c = require("node:crypto");
	const raw = (k) => k.export({ format: "der", type: "spki" }).subarray(-32).toString("hex");
	console.log(raw(c.generateKeyPairSync("ed25519").publicKey), raw(c.generateKeyPairSync("x25519").publicKey));')"
epochs0="$(sql "SELECT count(*) FROM room_epochs WHERE room_id = $room")"
attack "UPDATE users SET sign_pk = '\\x${mal% *}', box_pk = '\\x${mal#* }' WHERE id = $sam_id;
        UPDATE rooms SET rotate_required = true WHERE id = $room"
wasm send "$room" "after sam's keys changed" >"$T/w5.out" 2>"$T/w5.err" && rc=0 || rc=$?
expect_match "the WebAssembly core refuses to send (exit 1, as the CLI)" '^1$' "$rc"
werr="$(jq -r 'select(.error) | .error.message' "$T/w5.err")"
expect_match "because sam's keys changed" "^not sending to room $room: the keys or the name of sam changed" "$werr"
expect_match "with the keys_changed warning" '"code":"keys_changed".*THE KEYS OF sam HAVE CHANGED' \
	"$(cat "$T/w5.err")"
expect_match "no epoch was committed" "^$epochs0\$" "$(sql "SELECT count(*) FROM room_epochs WHERE room_id = $room")"
expect_fail "lea's CLI refuses the same way" 1 "not sending to room $room: the keys or the name of sam changed" \
	as lea send "$room" "after sam's keys changed"
expect_same "with the same words" "ementor: $werr" "$(grep '^ementor: not sending' <<<"$LAST")"
expect_match "still no epoch committed" "^$epochs0\$" "$(sql "SELECT count(*) FROM room_epochs WHERE room_id = $room")"
attack "UPDATE users SET sign_pk = '\\x${sam_keys% *}', box_pk = '\\x${sam_keys#* }' WHERE id = $sam_id"

e2e_summary
