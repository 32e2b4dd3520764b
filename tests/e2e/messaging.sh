#!/usr/bin/env bash
# tests/e2e/messaging.sh - end-to-end encrypted messaging with real processes:
# a real ementord over TLS on a fresh database (rotating room keys every 3
# messages, so that epochs change under the conversation) and the real
# ementor CLI, one home directory per person.
#
# What it shows: a pair exchanges messages both ways; a group of a mentor and
# five mentees all read every message; a mentee removed from the group is
# refused and holds no key for what is sent after; a member who was offline
# gets everything in order; an outbox resend with the same client_msg_id is
# stored once and answered with the same seq; a message typed while the
# server is down is queued (exit 4) and delivered exactly once after the
# restart; both sides of `verify` print the same safety number; `chat` with
# piped stdin sends its lines and receives a message sent during the session;
# a changed key blocks sending until `trust`, and messages signed with an
# unpinned key are shown as REJECTED; neither the log nor the database holds
# any message text.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

ROTATE=(--rotate-messages 3)

e2e_serve "${ROTATE[@]}"

# --- people and rooms ----------------------------------------------------------
code="$(first_invite)"
expect_ok "manager registers" as maria register --invite "$code" --username maria
expect_ok "manager creates a programme" \
	as maria programme create --name "Spring 2027" --starts 2027-03-01 --ends 2027-08-31
prog="$(as maria --json programme list | jq -er '.programmes[0].id')"
for who in sam tom; do
	expect_ok "mentor $who registers" as "$who" register --invite "$(invite "$prog" mentor)" --username "$who"
done
for who in mia gm1 gm2 gm3 gm4 gm5; do
	expect_ok "mentee $who registers" as "$who" register --invite "$(invite "$prog" mentee)" --username "$who"
done
room_id() { as maria --json room create "$@" | jq -er .room.id; }
pair="$(room_id --programme "$prog" --kind pair --member sam --member mia)"
group="$(room_id --programme "$prog" --kind group --name "Group A" \
	--member tom --member gm1 --member gm2 --member gm3 --member gm4 --member gm5)"
expect_match "a pair room and a group room exist" '^[0-9]+ [0-9]+$' "$pair $group"
# every party signs the rooms' agreements (the manager who made them too)
sign_room "$pair" maria sam mia
sign_room "$group" maria tom gm1 gm2 gm3 gm4 gm5

# --- a pair, both ways ----------------------------------------------------------
expect_ok "the mentor sends to the pair room" as sam send "$pair" "hello mia, welcome"
expect_match "send prints the seq" '^sent \(seq 1\)$' "$LAST"
printf 'hi sam\nsecond line\n' >"$T/reply.txt"
expect_ok "the mentee answers from stdin" as mia send "$pair" <"$T/reply.txt"
expect_match "the answer is seq 2" 'sent \(seq 2\)' "$LAST"
expect_ok "the mentee reads" as mia read "$pair"
expect_match "mentee sees the mentor's message" '^\[1\] [0-9-]{10} [0-9:]{5} sam: hello mia, welcome$' "$LAST"
expect_ok "the mentor reads" as sam read "$pair"
expect_match "mentor sees the mentee's answer, newline kept, last one trimmed" \
	'\[2\] .* mia: hi sam'$'\n''second line$' "$LAST"
msg2="$(as sam --json read "$pair" | jq -c '.[] | select(.seq == 2) | {seq, sender, text}' || true)"
expect_match "read --json gives seq, sender and text" '^\{"seq":2,"sender":"mia","text":".+"\}$' "$msg2"
expect_match "read --json text" '"text":"hi sam\\nsecond line"\}$' "$msg2"

# --- a group of six ----------------------------------------------------------
expect_ok "the group's mentor sends" as tom send "$group" "welcome to the group"
for g in gm1 gm2 gm3 gm4 gm5; do
	out="$(as "$g" read "$group" 2>&1)" || true
	expect_match "$g reads the mentor's message" 'tom: welcome to the group' "$out"
done
expect_ok "a mentee writes to the group" as gm3 send "$group" "thanks tom"
expect_ok "another mentee writes" as gm1 send "$group" "hello all"
expect_ok "and a third (a new epoch after 3 messages)" as gm5 send "$group" "gm5 here"
for who in tom gm1 gm2 gm3 gm4 gm5; do
	out="$(as "$who" read "$group" 2>&1)" || true
	all='tom: welcome to the group.*gm3: thanks tom.*gm1: hello all.*gm5: gm5 here'
	expect_match "$who reads every group message in order" "$all" "$(tr '\n' ' ' <<<"$out")"
done

# --- removal ------------------------------------------------------------------
max_epoch() { # max_epoch HOME ROOM: the newest epoch whose key the home holds
	node -e 'const j = require(process.argv[1]); const r = (j.rooms || {})[process.argv[2]] || {};
		console.log(Math.max(0, ...Object.keys(r).map(Number)))' "$T/home/$1/roomkeys.json" "$2"
}
expect_ok "the manager removes gm5 from the group" as maria room remove "$group" gm5
before="$(max_epoch gm5 "$group")"
expect_ok "the mentor writes after the removal" as tom send "$group" "gm5 has left us"
expect_fail "the removed mentee's read is refused" 1 "no longer a member of room $group" \
	as gm5 read "$group"
expect_fail "the removed mentee cannot send either" 1 "no longer a member|not a member" \
	as gm5 send "$group" "still here?"
expect_match "the removed mentee's refused message left the outbox" 'empty' "$(as gm5 outbox list)"
after_tom="$(max_epoch tom "$group")"
expect_match "the message after the removal is in a new epoch" '^1$' \
	"$((after_tom > before))"
expect_match "whose key was never sealed to the removed mentee" '^1$' \
	"$(($(max_epoch gm5 "$group") < after_tom))"
for g in gm1 gm2 gm3 gm4; do
	out="$(as "$g" read "$group" 2>&1)" || true
	expect_match "$g still reads after the removal" 'tom: gm5 has left us' "$out"
done

# --- a newcomer: earlier messages are shown with the reason, never hidden -----------
expect_ok "a new mentee registers" as gm6 register --invite "$(invite "$prog" mentee)" --username gm6
expect_ok "and joins the group" as maria room add "$group" gm6
# the new version (gm5 gone, gm6 in) is signed by all its parties: gm6 joins the roster
sign_room "$group" maria tom gm1 gm2 gm3 gm4 gm6
expect_ok "the mentor welcomes the newcomer" as tom send "$group" "welcome gm6"
expect_ok "the newcomer reads the group" as gm6 read "$group"
expect_match "earlier messages say why they cannot be read" \
	'tom: \(cannot decrypt: you were not a member at epoch [0-9]+\)' "$LAST"
expect_match "none is left out" "^$(as tom read "$group" | grep -c '^\[')\$" "$(grep -c '^\[' <<<"$LAST")"
expect_match "the message after joining is readable" 'tom: welcome gm6' "$LAST"

# --- an offline member gets everything, in order ----------------------------------
since="$(as mia --json read "$pair" | jq -er '.[-1].seq')"
for i in 1 2 3 4 5 6 7; do
	as sam send "$pair" "offline $i" >/dev/null || not_ok "send offline $i"
done
out="$(as mia read "$pair" --since "$since")"
order="$(grep -oE 'sam: offline [0-9]' <<<"$out" | grep -oE '[0-9]$' | tr -d '\n')"
expect_match "the offline mentee gets all 7, in order, across key epochs" '^1234567$' "$order"
expect_match "no message is undecryptable" '^0$' "$(grep -c 'cannot decrypt\|REJECTED' <<<"$out" || true)"

# --- the outbox: a resend is stored once, with the same seq --------------------------
expect_fail "a message to an unreachable server is queued" 4 "queued: the server is unreachable" \
	as sam --server "wss://127.0.0.1:1" send "$pair" "exactly once please"
expect_match "it waits in the outbox" 'exactly once please' "$(as sam outbox list)"
cp "$T/home/sam/outbox.json" "$T/outbox.saved"
expect_ok "outbox flush delivers it" as sam outbox flush
seq1="$(grep -oE '\(seq [0-9]+' <<<"$LAST" | grep -oE '[0-9]+')"
expect_match "flush reports the seq" '^[0-9]+$' "$seq1"
cp "$T/outbox.saved" "$T/home/sam/outbox.json" # as if the ack had been lost
expect_ok "the same client_msg_id is sent again" as sam outbox flush
expect_match "the resend is answered as a duplicate" 'already had it' "$LAST"
expect_match "with the same seq" "\(seq $seq1;" "$LAST"
count="$(as mia --json read "$pair" | jq '[.[] | select(.text == "exactly once please")] | length' || true)"
expect_match "the history holds one copy" '^1$' "$count"
expect_match "the outbox is empty again" 'empty' "$(as sam outbox list)"

# --- server restart: queued, then delivered exactly once ------------------------------
em_server_stop
expect_fail "send while the server is down: queued, exit 4" 4 "queued: the server is unreachable" \
	as sam send "$pair" "typed during the outage"
em_server_start "$LOG" "$CERT" "$KEY" "$DB" "${ROTATE[@]}" || not_ok "server restarts"
export EMENTOR_SERVER="$EM_SERVER_URL"
expect_ok "the next send delivers the queued message first" as sam send "$pair" "after the outage"
expect_match "the queued one is reported" 'delivered 1 queued message first' "$LAST"
expect_ok "a second flush has nothing to do" as sam outbox flush
expect_match "outbox empty" 'empty' "$LAST"
out="$(as mia read "$pair")"
expect_match "the outage message arrived exactly once" '^1$' "$(grep -c 'typed during the outage' <<<"$out")"
expect_match "before the later one" 'typed during the outage.*after the outage' "$(tr '\n' ' ' <<<"$out")"

# --- safety numbers -------------------------------------------------------------
sn() { as "$1" --json verify "$2" | jq -er .safety_number; }
a="$(sn sam mia)"
b="$(sn mia sam)"
expect_match "verify prints 12 groups of 5 digits" '^([0-9]{5} ){11}[0-9]{5}$' "$a"
expect_match "both sides print the same safety number" "^$a\$" "$b"
expect_ok "a mentee verifies the manager, found through the programme" as mia verify maria
a="$(sn maria mia)"
expect_match "the manager's side prints a safety number too" '^([0-9]{5} ){11}[0-9]{5}$' "$a"
expect_match "the manager's side prints the same number" "^$(sn mia maria)\$" "$a"
expect_ok "gm2 logs in on a second device" as gm2b login gm2
expect_ok "verify finds a user not pinned yet through the rooms" as gm2b verify gm4
expect_match "and tells them to compare in person" 'in person' "$LAST"
expect_match "a second device shows the same number" "^$(sn gm2 gm4)\$" "$(sn gm2b gm4)"

# --- chat with piped stdin -----------------------------------------------------------
# a line typed once the chat has started; stdin stays open until chat.stop
# shellcheck disable=SC2094 # stdin waits for the chat's own "Chat in room" in chat.err
{
	wait_for_lines "$T/chat.err" 'Chat in room' 1 30 || true
	echo "typed in chat"
	open_until "$T/chat.stop" 60
} | as mia chat "$pair" --linger 2 >"$T/chat.out" 2>"$T/chat.err" &
chat_pid=$!
wait_for_lines "$T/chat.err" 'Chat in room' 1 30 || true
expect_ok "someone writes while the chat runs" as sam send "$pair" "live into the chat"
wait_for_lines "$T/chat.out" 'sam: live into the chat|mia: typed in chat' 2 30 || true
touch "$T/chat.stop"
rc=0
wait "$chat_pid" || rc=$?
expect_match "chat ends with exit 0 after its input" '^0$' "$rc"
chat_out="$(cat "$T/chat.out")"
expect_match "chat receives the message sent during the session" 'sam: live into the chat' "$chat_out"
expect_match "chat shows its own line as the server stored it" 'mia: typed in chat' "$chat_out"
expect_match "the other side reads the chat line" 'mia: typed in chat' "$(as sam read "$pair")"

# --- a changed key ------------------------------------------------------------------
# sam's pin for mia is replaced by other keys, as if the server now showed
# sam a different mia: sending stops until `trust`, and mia's messages, not
# signed by the pinned key, are REJECTED.
node -e 'const fs = require("fs"), f = process.argv[1], j = JSON.parse(fs.readFileSync(f));
	for (const u of Object.values(j.users)) if (u.username === "mia") {
		u.sign_pk = Buffer.alloc(32, 7).toString("base64url");
		u.box_pk = Buffer.alloc(32, 9).toString("base64url"); }
	fs.writeFileSync(f, JSON.stringify(j));' "$T/home/sam/pins.json"
expect_fail "a changed key blocks sending" 1 "keys or the name of mia changed" as sam send "$pair" "wait for trust"
expect_match "with a loud warning" 'THE KEYS OF mia HAVE CHANGED' "$LAST"
expect_match "the message waits in the outbox" 'wait for trust' "$(as sam outbox list)"
out="$(as sam read "$pair" 2>/dev/null)"
expect_match "messages not signed by the pinned key are REJECTED, not hidden" \
	"mia: \(REJECTED: bad signature — not from mia's pinned key" "$out"
expect_fail "trust without a terminal needs --yes" 2 "--yes" \
	setsid -w "$BIN/ementor" --home "$T/home/sam" trust mia </dev/null
expect_ok "trust --yes accepts the new keys" as sam trust mia --yes
expect_match "trust shows both fingerprints" 'pinned fingerprint:.*new fingerprint:' "$(tr '\n' ' ' <<<"$LAST")"
expect_ok "then the queued message goes out" as sam outbox flush
expect_match "delivered" 'delivered a queued message' "$LAST"
expect_match "and mia's messages verify again" '^0$' "$(as sam read "$pair" | grep -c REJECTED || true)"

# --- nothing readable on the server ----------------------------------------------------
expect_absent "the server log holds no message text" "hello mia, welcome" "$LOG"
pg_dump --no-owner "$DB" >"$T/dump.sql"
expect_absent "the database holds no message text" "hello mia, welcome" "$T/dump.sql"
expect_absent "the database holds no group text either" "gm5 has left us" "$T/dump.sql"

e2e_summary
