#!/usr/bin/env bash
# tests/e2e/confidentiality.sh - what the operator holds after a conversation:
# random plaintexts go back and forth in a pair and a group room; then a
# pg_dump of the whole database and the server's log must contain none of
# them, in any common encoding, and the manager has no way to fetch the
# ciphertext at all. The log (at debug level, in JSON) must also hold no
# password, session token, invite code (but the first-run one it exists to
# print), calendar feed token or key material the test can see.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

e2e_serve --log-level debug --log-format json

code="$(first_invite)"
as maria register --invite "$code" --username maria >/dev/null
as maria programme create --name Secret --starts 2027-01-01 --ends 2027-12-31 >/dev/null
invite() {
	local c
	c="$(as maria --json invite create --programme 1 --role "$1" | jq -er .code)"
	printf '%s\n' "$c" >>"$T/codes"
	printf '%s\n' "$c"
}
as sam register --invite "$(invite mentor)" --username sam >/dev/null
for u in lea max zoe; do as "$u" register --invite "$(invite mentee)" --username "$u" >/dev/null; done
as maria room create --programme 1 --kind pair --member sam --member lea >/dev/null
as maria room create --programme 1 --kind group --member sam --member max --member zoe >/dev/null
sign_room 1 maria sam lea
sign_room 2 maria sam max zoe

: >"$T/secrets"
say() { # say USER ROOM: sends a fresh random sentence and remembers it
	local secret
	secret="confidential-$(openssl rand -hex 12)"
	printf '%s\n' "$secret" >>"$T/secrets"
	as "$1" send "$2" "$secret" >/dev/null
}
for _ in 1 2 3; do
	say sam 1
	say lea 1
	say sam 2
	say max 2
	say zoe 2
done
expect_ok "the members read their conversations" as lea read 1
expect_match "and see the plaintext" "$(head -n1 "$T/secrets")" "$LAST"

pg_dump --no-owner "$DB" >"$T/dump.sql"
# the rows of the messages table's COPY block (its header alone, which pg_dump
# writes for an empty table too, proves nothing): the 15 sentences are there
expect_match "the dump holds the 15 messages" '^15$' \
	"$(awk '/^COPY public\.messages /{on=1; next} on && /^\\\.$/{on=0} on{n++} END{print n+0}' "$T/dump.sql")"
leaks=0
while read -r secret; do
	b64="$(printf '%s' "$secret" | base64 -w0 | tr -d '=')"
	hex="$(printf '%s' "$secret" | od -An -tx1 | tr -d ' \n')"
	for needle in "$secret" "$b64" "$hex"; do
		if grep -qF -- "$needle" "$T/dump.sql" "$LOG"; then
			leaks=$((leaks + 1))
			echo "leak: $needle"
		fi
	done
done <"$T/secrets"
expect_match "no plaintext in pg_dump or the server log (15 sentences, 3 encodings)" '^0$' "$leaks"

# --- secrets in the log ------------------------------------------------------------
as sam calendar url >"$T/cal.txt" 2>/dev/null
grep -oE '/calendar/[A-Za-z0-9_-]{43}' "$T/cal.txt" | sed 's|/calendar/||' >>"$T/codes"
printf '%s\n' "$EMENTOR_PASSWORD" >>"$T/codes"
for u in maria sam lea max zoe; do
	jq -er .token "$T/home/$u/session.json" >>"$T/codes"
	# every base64 string of 32+ characters in the key files, as a value or a
	# name (private keys, room keys)
	jq -r '.. | (strings, (objects | keys[])) | select(test("^[A-Za-z0-9_-]{32,}$"))' \
		"$T/home/$u"/keys.json "$T/home/$u"/roomkeys.json 2>/dev/null >>"$T/codes" || true
done
expect_match "there are secrets to look for (passwords, tokens, codes, keys)" '^[0-9]{2,}$' \
	"$(grep -c . "$T/codes")"
leaked=""
while read -r c; do
	[[ -n "$c" ]] && grep -qF -- "$c" "$LOG" && leaked="$leaked ${c:0:6}…"
done <"$T/codes"
expect_match "the server log holds none of them" '^$' "$leaked"
expect_match "the log is JSON, one object per line" '^0$' \
	"$(grep -v '^{' "$LOG" | grep -vE '^(==>|  |$)' | grep -c . || true)"

expect_fail "the manager cannot read a room" 1 "forbidden|may not" as maria read 1
expect_fail "the manager cannot send into a room" 1 "forbidden|may not|not a member" as maria send 1 "hi"

e2e_summary
