#!/usr/bin/env bash
# tests/e2e/reset.sh - a forgotten password with no recovery code: the
# identity reset a manager issues (PROTOCOL.md "Identity reset", SECURITY.md
# "A forgotten password"), with a real ementord over TLS on a fresh database,
# the real CLI, psql, and a real SMTP server on loopback (Debian's
# python3-aiosmtpd, tests/e2e/smtp_sink.py) for the e-mailed link.
#
# What it shows: only a manager of a programme the person belongs to issues a
# code (a mentor, a manager of another programme, and a manager account as
# the target are refused); the code is shown once and e-mailed, in the
# person's language, as PUBLIC_URL/#reset=CODE with no unsubscribe header; a
# newer code replaces an older one; wrong, replaced, expired, used codes and
# another person's name are refused alike; with the e-mailed link the mentee
# sets a new password and gets a new identity (a new fingerprint, a new
# recovery code, her sessions and old password gone, the old recovery code
# gone); the mentor's client warns loudly that her keys changed and will not
# send until `trust`; she is off the roster (the room's new agreement version,
# with her new keys, must be signed again by every party) and can read what
# is sent after that but not what was sealed to her old keys; the
# programme's history records both steps; neither the code nor its hash's
# preimage reach the database or the log.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3 # Debian's, with python3-aiosmtpd
if ! "$PY" -c 'import aiosmtpd' 2>/dev/null; then
	echo "python3-aiosmtpd is not installed: skipping" >&2
	exit 77
fi
HERE="$(cd "$(dirname "$0")" && pwd)"
MAILDIR="$T/mail/in"
ORIGIN="https://ementor.example.org"
SMTP_PORT="$(em_free_port)"
SINK_PID=""
mkdir -p "$MAILDIR"
trap '[[ -z "$SINK_PID" ]] || kill "$SINK_PID" 2>/dev/null || true; e2e_cleanup' EXIT
e2e_cert
"$PY" "$HERE/smtp_sink.py" "$SMTP_PORT" "$MAILDIR" "$T/mail/ready" "$CERT" "$KEY" >>"$T/mail/sink.log" 2>&1 &
SINK_PID=$!
wait_until 20 test -s "$T/mail/ready" || {
	not_ok "the SMTP sink starts" "$(tail -n 20 "$T/mail/sink.log")"
	e2e_summary
}
e2e_serve --scheduler-interval 1 --smtp-url "smtp://127.0.0.1:$SMTP_PORT" --smtp-ca "$CERT" \
	--public-url "$ORIGIN" --mail-from "mentoring@example.org" --mail-retry-base 1
sql() { psql --no-psqlrc -qtA "$DB" -c "$1"; }
mails() { "$PY" "$HERE/mail_check.py" list "$MAILDIR" | jq -s "${1:-.}"; }
have_mail() { (($(mails "[.[] | select($2)] | length") >= $1)); }
body_of() { mails "[.[] | select($1)] | last | .body" | jq -r .; }
# reset HOME USER CODE: USER resets on the device HOME with the new password "a brand new password"
reset() {
	EMENTOR_NEW_PASSWORD="a brand new password" "$BIN/ementor" --home "$T/home/$1" reset --code "$3" "$2"
}

pair_room "Reset"
expect_ok "the mentor writes before the reset" as sam send 1 "before the reset: quince"
expect_ok "the mentee answers" as lea send 1 "lea before the reset: medlar"
expect_ok "the mentee reads" as lea read 1
expect_match "she reads the mentor's message" 'quince' "$LAST"
expect_ok "the mentee sets her address, in Polish" as lea notify settings --email lea@example.org --lang pl
wait_until 30 have_mail 1 '.kind == "verify"' || true
expect_ok "and verifies it" \
	as lea notify verify "$(body_of '.kind == "verify"' | grep -oE '[0-9]{8}' | head -n1)"
fp_before="$(as lea --json whoami | jq -r .user.fingerprint)"
old_recovery="$(sql "SELECT encode(recovery_hash, 'hex') FROM users WHERE username = 'lea'")"
expect_match "she had a recovery code from registration (which she lost)" '^[0-9a-f]{64}$' "$old_recovery"

# --- who may issue a code ----------------------------------------------------------------
expect_ok "the manager makes a second programme" \
	as maria programme create --name "Other" --starts 2027-01-01 --ends 2027-12-31
expect_ok "with a manager of its own" \
	as otto register --invite "$(invite 2 manager)" --username otto
expect_fail "a mentor may not issue a reset code" 1 'forbidden' \
	as sam reset-code --programme 1 lea
expect_fail "a manager of another programme finds no such programme" 1 'not_found' \
	as otto reset-code --programme 1 lea
expect_fail "nor can he use his own programme for someone not in it" 1 'not_in_programme' \
	as otto reset-code --programme 2 lea
expect_fail "a manager's identity is not reset by another manager" 1 'forbidden' \
	as otto reset-code --programme 2 maria
expect_fail "--expires-days is bounded" 2 '1 to 14' as maria reset-code --programme 1 --expires-days 30 lea

# --- the codes ----------------------------------------------------------------------------
expect_ok "the manager issues a code" to_file "$T/code1.json" as maria --json reset-code --programme 1 lea
code1="$(jq -r .code "$T/code1.json")"
expect_match "a code of 32 letters and digits" '^[0-9A-Z]{4}(-[0-9A-Z]{4}){7}$' "$code1"
expect_match "e-mailed to her verified address" '^true$' "$(jq -r .emailed "$T/code1.json")"
expect_ok "and a newer one, in text" as maria reset-code --programme 1 --expires-days 2 lea
expect_match "shown once, with how to use it" 'ementor reset --code CODE lea' "$LAST"
code2="$(grep -oE '[0-9A-Z]{4}(-[0-9A-Z]{4}){7}' <<<"$LAST" | head -n1)"
expect_ok "both e-mails arrive" wait_until 30 have_mail 2 '.kind == "reset"'
link="$(mails '[.[] | select(.kind == "reset")] | last | .links' | jq -r '.[] | select(contains("#reset="))' | head -n1)"
expect_match "the e-mail carries the link PUBLIC_URL/#reset=CODE" "^$ORIGIN/#reset=$code2\$" "$link"
expect_match "in her language" '^pl$' "$(mails '[.[] | select(.kind == "reset")] | last | .lang' | jq -r .)"
expect_match "with no unsubscribe header (it is not a notification)" '^$' \
	"$(mails '[.[] | select(.kind == "reset")] | last | .unsubscribe' | jq -r .)"
expect_match "and says what is lost" 'Starych wiadomości nie odczytasz' "$(body_of '.kind == "reset"')"

expect_fail "the replaced code no longer works" 1 'bad_credentials' reset lea2 lea "$code1"
expect_fail "a made-up code is refused alike" 1 'bad_credentials' \
	reset lea2 lea "0000-0000-0000-0000-0000-0000-0000-0000"
expect_fail "her code under another name is refused alike" 1 'bad_credentials' reset sam2 sam "$code2"
expect_fail "a mangled code is a usage error" 2 'not a reset code' reset lea2 lea "ABCD"
expect_ok "a code for the mentor" to_file "$T/sam.json" as maria --json reset-code --programme 1 sam
sql "UPDATE identity_resets SET expires_at = now() - interval '1 second' WHERE id = $(jq -r .reset_id "$T/sam.json")" >/dev/null
expect_fail "an expired code is refused alike" 1 'bad_credentials' reset sam2 sam "$(jq -r .code "$T/sam.json")"
expect_ok "and nothing changed for him: his password works" as sam login sam

# --- the reset ---------------------------------------------------------------------------------
expect_ok "the mentee resets on a new device with the e-mailed link" reset lea2 lea "$link"
expect_match "she is told her keys are new" 'new keys set for lea' "$LAST"
expect_match "and what that means" 'unreadable to you' "$LAST"
expect_match "and given a new recovery code" 'Your recovery code, shown only this once' "$LAST"
fp_after="$(as lea2 --json whoami | jq -r .user.fingerprint)"
expect_match "a new fingerprint" '^[0-9a-f ]{20,}$' "$fp_after"
if [[ "$fp_after" != "$fp_before" ]]; then ok "different from the old one"; else not_ok "different from the old one" "$fp_after"; fi
expect_fail "the code works once" 1 'bad_credentials' reset lea3 lea "$code2"
expect_fail "her old device's session has ended" 3 'log in|session' as lea read 1
expect_fail "her old password is gone" 1 'bad_credentials' as lea4 login lea
expect_ok "the new one works" env EMENTOR_PASSWORD="a brand new password" "$BIN/ementor" --home "$T/home/lea5" login lea
new_recovery="$(sql "SELECT encode(recovery_hash, 'hex') FROM users WHERE username = 'lea'")"
if [[ -n "$new_recovery" && "$new_recovery" != "$old_recovery" ]]; then
	ok "her old recovery code is gone (a new one replaced it)"
else
	not_ok "her old recovery code is gone (a new one replaced it)" "$old_recovery / $new_recovery"
fi
expect_match "she is off the room's roster until the agreement is signed again" '^f$' \
	"$(sql "SELECT roster FROM room_members m JOIN users u ON u.id = m.user_id WHERE u.username = 'lea'")"
expect_match "a new agreement version lists her new keys, unsigned by anyone" '^0$' \
	"$(sql "SELECT count(*) FILTER (WHERE ap.signature IS NOT NULL) FROM agreement_versions v JOIN agreement_parties ap ON ap.version_id = v.id WHERE v.version = (SELECT max(version) FROM agreement_versions WHERE room_id = 1) AND v.room_id = 1 AND EXISTS (SELECT 1 FROM agreement_parties x JOIN users u ON u.id = x.user_id AND u.sign_pk = x.sign_pk WHERE x.version_id = v.id AND u.username = 'lea')")"

# --- the others see the change ---------------------------------------------------------------
expect_ok "the mentor has a notice" as sam notices
expect_match "that names the reset and what to do" 'lea has a new identity' "$LAST"
expect_fail "the mentor's client will not send to her changed keys" 1 "keys or the name of lea changed" \
	as sam send 1 "after the reset, before trust"
expect_match "with the loud warning" 'THE KEYS OF lea HAVE CHANGED' "$LAST"
expect_ok "after checking with her in person, he accepts the new keys" as sam trust lea --yes
expect_match "trust shows both fingerprints" 'pinned fingerprint:.*new fingerprint:' "$(tr '\n' ' ' <<<"$LAST")"
expect_ok "her messages from before the reset" as sam read 1
expect_match "still verify" "lea: lea before the reset: medlar" "$LAST"
expect_match "with her earlier key, and say so" "WARNING: signed with lea's earlier key" "$LAST"
expect_match "none is REJECTED" '^0$' "$(grep -c REJECTED <<<"$LAST" || true)"
expect_fail "the manager's client will not sign the new version before she trusts the keys" 1 \
	'lea has changed keys not trusted yet' as maria agreement sign 1 --yes
expect_ok "then she does" as maria trust lea --yes
sign_room 1 maria sam
expect_ok "lea signs with her new keys" env EMENTOR_PASSWORD="a brand new password" \
	"$BIN/ementor" --home "$T/home/lea2" agreement sign 1 --yes
expect_match "she is on the roster again" '^t$' \
	"$(sql "SELECT roster FROM room_members m JOIN users u ON u.id = m.user_id WHERE u.username = 'lea'")"
expect_ok "the queued message goes out" as sam outbox flush
expect_ok "the mentor writes after the reset" as sam send 1 "after the reset: persimmon"
expect_ok "she reads the room" env EMENTOR_PASSWORD="a brand new password" \
	"$BIN/ementor" --home "$T/home/lea2" read 1
expect_match "what was sent after the reset" 'persimmon' "$LAST"
printf '%s\n' "$LAST" >"$T/lea_read.txt"
expect_absent "but not what was sealed to her old keys" 'quince' "$T/lea_read.txt"
expect_match "her own messages from before are marked, not passed off as hers or as forged by others" \
	'sent before your identity was reset' "$LAST"

# --- the trail, and nothing secret kept ------------------------------------------------------------
expect_ok "the programme's history" as maria programme history 1
expect_match "records the code's issue" 'reset_issued.*lea' "$LAST"
expect_match "and its use" 'identity_reset' "$LAST"
pg_dump --no-owner "$DB" >"$T/dump.sql"
expect_absent "the code is not in the database" "$code2" "$T/dump.sql"
expect_absent "nor in the server's log" "$code2" "$LOG"

e2e_summary
