#!/usr/bin/env bash
# tests/e2e/recovery.sh - a forgotten password and the recovery code
# (PROTOCOL.md "Recovery code", SECURITY.md "A forgotten password"), with a
# real ementord over TLS on a fresh database, the real CLI and psql.
#
# What it shows: registration prints a recovery code once; with it, on a new
# device, the mentee sets a new password and logs in: she reads the room's
# history (the same keys), her fingerprint is unchanged, her old password and
# her old device's session are gone, and the mentor's client sees no key
# change; a wrong code, a user without a code and a mangled code are refused
# alike (an unknown user too); a new code replaces the old one, and making one takes the password;
# a server that hands out another backup for her code gets an error and
# changes nothing; neither the code nor its keys reach the database or the
# log; erasure forgets the code.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

e2e_serve
sql() { psql --no-psqlrc -qtA "$DB" -c "$1"; }

pair_room "Recovery"
expect_ok "the mentor writes before anything happens" as sam send 1 "before the recovery: bergamot"
expect_ok "a new mentee registers" \
	to_file "$T/reg.json" as eve --json register --invite "$(invite 1 mentee)" --username eve
code="$(jq -r .recovery_code "$T/reg.json")"
expect_match "registration gives her a recovery code" '^[0-9A-Z]{4}(-[0-9A-Z]{4}){7}$' "$code"
expect_ok "the text registration prints" \
	as kim register --invite "$(invite 1 mentee)" --username kim
expect_match "shows the code once, with what it is for" \
	'Your recovery code, shown only this once:' "$LAST"
expect_match "and how to use it" 'ementor recover USERNAME' "$LAST"

# lea's code, made now with her password (pair_room registered her without --json)
expect_fail "a code is not made without the right password" 1 'bad_credentials' \
	env EMENTOR_PASSWORD="not her password" "$BIN/ementor" --home "$T/home/lea" recovery-code
expect_ok "lea makes a recovery code" to_file "$T/code1.json" as lea --json recovery-code
code1="$(jq -r .recovery_code "$T/code1.json")"
expect_ok "and a new one" to_file "$T/code2.json" as lea --json recovery-code
lea_code="$(jq -r .recovery_code "$T/code2.json")"
fp_before="$(as lea --json whoami | jq -r .user.fingerprint)"

recover() { # recover HOME CODE: recovers lea on the device HOME with the new password "new lea password"
	EMENTOR_RECOVERY_CODE="$2" EMENTOR_NEW_PASSWORD="new lea password" \
		"$BIN/ementor" --home "$T/home/$1" recover lea
}
expect_fail "the replaced code no longer works" 1 'bad_credentials' recover lea2 "$code1"
expect_fail "nor does another user's code" 1 'bad_credentials' recover lea2 "$code"
expect_fail "a mangled code is a usage error" 2 'not a recovery code' recover lea2 "ABCD-EFGH"
expect_fail "an unknown user gets the same answer" 1 'bad_credentials' \
	env EMENTOR_RECOVERY_CODE="$code" EMENTOR_NEW_PASSWORD="whatever123" \
	"$BIN/ementor" --home "$T/home/x" recover nobody
kim_hash="$(sql "SELECT encode(recovery_hash, 'hex') FROM users WHERE username = 'kim'")"
sql "UPDATE users SET recovery_hash = NULL WHERE username = 'kim'" >/dev/null
expect_fail "and a user without a code" 1 'bad_credentials' \
	env EMENTOR_RECOVERY_CODE="$code" EMENTOR_NEW_PASSWORD="whatever123" \
	"$BIN/ementor" --home "$T/home/x" recover kim
sql "UPDATE users SET recovery_hash = decode('$kim_hash', 'hex') WHERE username = 'kim'" >/dev/null

# --- a server that hands out another backup for the code -----------------------------------
saved="$(sql "SELECT encode(recovery_backup, 'hex') FROM users WHERE username = 'lea'")"
sql "UPDATE users SET recovery_backup = key_backup WHERE username = 'lea'" >/dev/null
expect_fail "a backup that does not open with the code is refused" 1 'does not open with it' \
	recover lea2 "$lea_code"
expect_ok "and nothing changed: her password still works" \
	env EMENTOR_PASSWORD="correct horse battery" "$BIN/ementor" --home "$T/home/lea3" login lea
sql "UPDATE users SET recovery_backup = decode('$saved', 'hex') WHERE username = 'lea'" >/dev/null

# --- the recovery ----------------------------------------------------------------------------
expect_ok "lea recovers on a new device, in lower case with spaces" \
	recover lea2 "$(tr 'A-Z-' 'a-z ' <<<"$lea_code")"
expect_match "she is told the keys are the same" 'fingerprint is unchanged' "$LAST"
expect_match "the same fingerprint" "^$fp_before\$" \
	"$("$BIN/ementor" --home "$T/home/lea2" --json whoami | jq -r .user.fingerprint)"
expect_ok "she reads the room's history with the same keys" \
	env EMENTOR_PASSWORD="new lea password" "$BIN/ementor" --home "$T/home/lea2" read 1
expect_match "the mentor's message is there" 'bergamot' "$LAST"
expect_fail "her old device's session has ended" 3 'log in|session' as lea read 1
expect_fail "her old password is gone" 1 'bad_credentials' \
	env EMENTOR_PASSWORD="correct horse battery" "$BIN/ementor" --home "$T/home/lea4" login lea
expect_ok "the new one works" \
	env EMENTOR_PASSWORD="new lea password" "$BIN/ementor" --home "$T/home/lea4" login lea
expect_ok "she answers" \
	env EMENTOR_PASSWORD="new lea password" "$BIN/ementor" --home "$T/home/lea2" send 1 "after: quince"
expect_ok "the mentor reads it" as sam read 1
expect_match "her answer" 'quince' "$LAST"
expect_absent "with no key-change warning" 'WARNING' <(printf '%s' "$LAST")
expect_ok "the code still works afterwards" recover lea5 "$lea_code"

# --- what the server and its log hold ---------------------------------------------------------
pg_dump --no-owner "$DB" >"$T/dump.sql"
for c in "$code" "$code1" "$lea_code"; do
	expect_absent "the database holds no recovery code" "$c" "$T/dump.sql"
	expect_absent "the log holds no recovery code" "$c" "$LOG"
done
expect_match "a hash and a backup for each of the five accounts" '^5$' \
	"$(sql "SELECT count(*) FROM users WHERE recovery_hash IS NOT NULL AND length(recovery_backup) = 136")"

# --- erasure --------------------------------------------------------------------------------
expect_ok "eve erases her account" as eve consent withdraw data_processing --yes
expect_match "her code's hash and backup are gone" '^t$' \
	"$(sql "SELECT recovery_hash IS NULL AND recovery_backup IS NULL FROM users WHERE id = (SELECT id FROM users WHERE username LIKE '~erased-%' LIMIT 1)")"
expect_fail "and her code opens nothing" 1 'bad_credentials' \
	env EMENTOR_RECOVERY_CODE="$code" EMENTOR_NEW_PASSWORD="whatever123" \
	"$BIN/ementor" --home "$T/home/eve2" recover eve

e2e_summary
