#!/usr/bin/env bash
# tests/e2e/quickstart.sh - the README quickstart with real processes: a real
# ementord over TLS on a fresh database and the real ementor CLI, one home
# directory per person, the privacy notice accepted at registration and the
# room's agreement signed by every party before the first message. Then the
# refusals a user would meet: registering without accepting the notice, a
# mentee creating a room, a sixth mentee, a wrong password, a used invite, requests
# before login; and that everything survives a server restart.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

e2e_serve

health="$(curl -fsS --cacert "$CERT" "https://127.0.0.1:$EM_SERVER_PORT/healthz")"
expect_match "healthz reports the database up" '"status":"ok","database":"up"' "$health"

code="$(first_invite)"
expect_match "first start prints a manager invite" '^[A-Za-z0-9_-]{16,}$' "$code"

expect_ok "manager registers with the first-run code" \
	as maria register --invite "$code" --username maria --display-name "Maria Manager"
expect_match "registration shows the key fingerprint" 'fingerprint: ([0-9a-f]{4} ){7}[0-9a-f]{4}' "$LAST"
expect_fail "a used invite is refused" 1 "invite" \
	as other register --invite "$code" --username other
expect_fail "registering without a terminal to accept the privacy notice is refused" 2 \
	"accept-privacy" setsid -w "$BIN/ementor" --home "$T/home/shy" register --invite "$code" --username shy </dev/null
expect_match "the privacy notice is shown first" 'Privacy notice \(version' "$LAST"

expect_ok "manager creates a programme" \
	as maria programme create --name "Spring 2027" --starts 2027-03-01 --ends 2027-08-31
prog="$(as maria --json programme list | jq -er '.programmes[0].id')"

expect_ok "mentor registers" as sam register --invite "$(invite "$prog" mentor)" --username sam --display-name "Sam Mentor"
for i in 1 2 3 4 5 6; do
	expect_ok "mentee $i registers" as "mentee$i" register --invite "$(invite "$prog" mentee)" --username "mentee$i"
done
expect_ok "second mentor registers" as tom register --invite "$(invite "$prog" mentor)" --username tom

expect_ok "manager creates a pair room" \
	as maria room create --programme "$prog" --kind pair --member sam --member mentee1
pair="$(sed -nE 's/^Created room ([0-9]+).*/\1/p' <<<"$LAST")"
# README step 7: every party signs the room's agreement, then they talk
sign_room "$pair" maria sam mentee1
expect_ok "the mentor writes to the pair room" as sam send "$pair" "Welcome! When shall we meet?"
expect_ok "the mentee reads it" as mentee1 read "$pair"
expect_match "decrypted on the mentee's device" 'sam: Welcome! When shall we meet\?' "$LAST"
expect_ok "manager creates a group room" \
	as maria room create --programme "$prog" --kind group --name "Group A" --member tom
group="$(as maria --json room list | jq -er 'first(.rooms[] | select(.kind == "group")) | .id')"
for i in 2 3 4 5 6; do
	expect_ok "mentee $i joins the group" as maria room add "$group" "mentee$i"
done
expect_fail "a sixth mentee is refused" 1 "room_full|maximum" as maria room add "$group" mentee1
expect_fail "a second mentor is refused" 1 "room_has_mentor|already has a mentor" as maria room add "$group" sam
expect_fail "the manager joins a room only as its mentor (this one has one)" 1 \
	"room_has_mentor|already has a mentor" as maria room add "$group" maria
expect_ok "manager removes a mentee" as maria room remove "$group" mentee6
expect_ok "then the sixth fits" as maria room add "$group" mentee1

expect_fail "a mentee cannot create rooms" 1 "forbidden|may not" \
	as mentee2 room create --programme "$prog" --kind pair
expect_fail "a mentee cannot create invites" 1 "forbidden|may not" \
	as mentee2 invite create --programme "$prog" --role mentee
expect_ok "a member sees the room" as mentee2 room show "$group"
expect_match "members are listed with fingerprints" 'tom' "$LAST"
expect_fail "a non-member does not" 1 "not_found|no room" as mentee6 room show "$group"

expect_fail "a wrong password is refused" 1 "wrong username or password|bad_credentials" \
	env EMENTOR_PASSWORD=wrong-password "$BIN/ementor" --home "$T/home/sam2" login sam
expect_fail "an unknown user is refused the same way" 1 "wrong username or password|bad_credentials" \
	env EMENTOR_PASSWORD=wrong-password "$BIN/ementor" --home "$T/home/ghost" login ghost
expect_fail "requests before login are refused" 3 "not logged in|login" \
	"$BIN/ementor" --home "$T/home/nobody" room list
expect_ok "the right password logs in on a second device" \
	"$BIN/ementor" --home "$T/home/sam2" login sam
expect_ok "logout" as mentee3 logout
expect_fail "after logout the session is gone" 3 "login" as mentee3 room list

# a password is the UTF-8 of its Unicode NFC form (PROTOCOL.md "Account keys"):
# typed decomposed at registration and composed on another device, it is one
# password; bytes that are not UTF-8 are refused, not guessed at
expect_ok "a mentee registers with a password typed decomposed (e + U+0308)" \
	env EMENTOR_PASSWORD=$'Zoe\xcc\x88 horse battery' "$BIN/ementor" --home "$T/home/zoe" \
	register --invite "$(invite "$prog" mentee)" --username zoe --accept-privacy
expect_ok "the same password typed composed (U+00EB) logs in on another device" \
	env EMENTOR_PASSWORD=$'Zo\xc3\xab horse battery' "$BIN/ementor" --home "$T/home/zoe2" login zoe
expect_fail "a password that is not UTF-8 (Latin-1) is refused with a clear message" 5 "not valid UTF-8" \
	env EMENTOR_PASSWORD=$'Zo\xeb horse battery' "$BIN/ementor" --home "$T/home/zoe3" login zoe

# persistence: a restart loses nothing
em_server_stop
em_server_start "$LOG" "$CERT" "$KEY" "$DB" || not_ok "server restarts"
export EMENTOR_SERVER="$EM_SERVER_URL"
expect_ok "rooms survive a restart" as maria --server "$EM_SERVER_URL" room list
expect_match "both rooms are there" 'Group A' "$LAST"
expect_match "no new first-run invite once someone registered" '^1$' "$(grep -c -- '--invite' "$LOG")"

# operator commands
op_code="$("$BIN/ementord" invite --role manager --db "$DB" 2>/dev/null)"
expect_match "ementord invite prints a code" '^[A-Za-z0-9_-]{16,}$' "$op_code"
expect_ok "an operator invite registers a manager" as mia register --invite "$op_code" --username mia
expect_ok "ementord migrate is idempotent" "$BIN/ementord" migrate --db "$DB"
expect_match "a second migrate applies nothing" 'applied=0' "$LAST"

# logs never hold secrets
expect_absent "the log holds no password" "$EMENTOR_PASSWORD" "$LOG"
expect_absent "the log holds no operator invite code" "$op_code" "$LOG"
token="$(jq -r '.token // empty' "$T/home/maria/session.json" || true)"
expect_match "the session token is saved for the CLI" '^[A-Za-z0-9_-]{40,}$' "$token"
expect_absent "the log holds no session token" "$token" "$LOG"

e2e_summary
