#!/usr/bin/env bash
# tests/e2e/mail.sh - e-mail through a real SMTP server on loopback (Debian's
# python3-aiosmtpd, tests/e2e/smtp_sink.py, started and stopped here): every
# message it accepts is a file that tests/e2e/mail_check.py parses (headers,
# links, language). Addresses verified before use; invites e-mailed as links
# the CLI registers with, listed, re-sent and revoked; meeting, agreement and
# digest e-mails; nothing secret in any of them (a check that fails when a
# topic, a place, a reason, a message, a term or a name the recipient does not
# see appears); the unsubscribe link (RFC 8058: a GET shows a button, the
# one-click POST unsubscribes); export and erasure; the relay down (the
# outbox waits, retries, nothing lost or doubled); and kill -9 of ementord
# between the relay's acceptance and the outbox's record, with the duplicates
# that window makes counted by Message-ID.
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

# sink_start [plain]: the sink, with STARTTLS (the suite's certificate) unless "plain"
sink_start() {
	local -a tls=("$CERT" "$KEY")
	[[ "${1:-}" != plain ]] || tls=()
	rm -f "$T/mail/ready"
	"$PY" "$HERE/smtp_sink.py" "$SMTP_PORT" "$MAILDIR" "$T/mail/ready" "${tls[@]}" >>"$T/mail/sink.log" 2>&1 &
	SINK_PID=$!
	wait_until 20 test -s "$T/mail/ready" || {
		not_ok "the SMTP sink starts" "$(tail -n 20 "$T/mail/sink.log")"
		e2e_summary
	}
}
sink_stop() {
	[[ -z "$SINK_PID" ]] || { kill "$SINK_PID" 2>/dev/null || true; wait "$SINK_PID" 2>/dev/null || true; }
	SINK_PID=""
}
mkdir -p "$MAILDIR"
trap 'sink_stop; e2e_cleanup' EXIT
e2e_cert
sink_start

# STARTTLS required (the default), the relay's certificate checked against the suite's CA
SERVER_ARGS=(--scheduler-interval 1 --smtp-url "smtp://127.0.0.1:$SMTP_PORT" --smtp-ca "$CERT"
	--public-url "$ORIGIN" --mail-from "mentoring@example.org" --mail-retry-base 1
	--mail-claim-timeout 3 --mail-digest 3)
e2e_serve "${SERVER_ARGS[@]}"
sql() { psql --no-psqlrc -qtA "$DB" -c "$1"; }
# mails [jq filter]: the messages received so far, as a JSON array
mails() { "$PY" "$HERE/mail_check.py" list "$MAILDIR" | jq -s "${1:-.}"; }
n_mails() { mails "[.[] | select($1)] | length"; }
# have_mail N FILTER: at least N received messages match the jq FILTER
have_mail() { (($(n_mails "$2") >= $1)); }
# wait_mail N FILTER [SECONDS]: waits until have_mail
wait_mail() { wait_until "${3:-30}" have_mail "$1" "$2"; }
# sql_is QUERY VALUE: the query's answer is VALUE (for wait_until)
sql_is() { [[ "$(sql "$1")" == "$2" ]]; }
body_of() { mails "[.[] | select($1)] | last | .body" | jq -r .; }

# --- e-mail off: the help and a server without a relay ---------------------------
expect_match "ementord --help documents the relay options" 'smtp-url.*smtp-credentials|smtp-credentials' \
	"$("$BIN/ementord" --help | tr '\n' ' ')"

pair_room "Zanzibar"

# --- an address, verified before anything else goes to it ------------------------
expect_ok "the mentee sets her address, in Polish" \
	as lea notify settings --email lea@example.org --lang pl
expect_ok "the mentor sets his" as sam notify settings --email sam@example.org
expect_ok "a verification e-mail reaches each" wait_mail 2 '.kind == "verify"'
code_lea="$(body_of '.kind == "verify" and .rcpt == "lea@example.org"' | grep -oE '[0-9]{8}' | head -n1)"
code_sam="$(body_of '.kind == "verify" and .rcpt == "sam@example.org"' | grep -oE '[0-9]{8}' | head -n1)"
expect_match "the mentee's is in Polish" '^pl$' \
	"$(mails '[.[] | select(.kind == "verify" and .rcpt == "lea@example.org")] | last | .lang' | jq -r .)"
T1="SECRET-TOPIC kumquat"
P1="SECRET-PLACE marzipan"
expect_ok "the mentor plans a session before the mentee verified" \
	to_file "$T/s1.json" as sam --json meeting add 1 --at 2027-02-10T15:00Z --minutes 60 \
	--place "$P1" --topic "$T1"
expect_fail "a wrong code is refused" 1 'wrong code' as lea notify verify 00000000
expect_ok "the right code verifies her address" as lea notify verify "$code_lea"
expect_ok "and his" as sam notify verify "$code_sam"
expect_match "nothing but the code went to the unverified address" '^0$' \
	"$(n_mails '.rcpt == "lea@example.org" and .kind != "verify"')"

# --- meeting e-mails -------------------------------------------------------------
expect_ok "the mentor plans a second session" \
	to_file "$T/s2.json" as sam --json meeting add 1 --at 2027-02-17T15:00Z --minutes 60 \
	--place "$P1" --topic "$T1"
s2="$(jq -er .id "$T/s2.json")"
expect_ok "the mentee is e-mailed the proposal" \
	wait_mail 1 '.rcpt == "lea@example.org" and .kind == "meeting"'
expect_ok "she accepts it" as lea checkpoint accept "$(jq -er '.slots[0].id' "$T/s2.json")"
expect_ok "the mentor is e-mailed the confirmation" \
	wait_mail 1 '.rcpt == "sam@example.org" and .kind == "meeting" and (.subject | test("Confirmed"))'
expect_match "with its time" '2027-02-17 15:00 UTC' \
	"$(body_of '.rcpt == "sam@example.org" and (.subject | test("Confirmed"))')"
expect_ok "the mentor cancels it with a reason" \
	as sam checkpoint cancel "$s2" --reason "SECRET-REASON quokka"
expect_ok "the mentee is e-mailed the cancellation" \
	wait_mail 1 '.rcpt == "lea@example.org" and .kind == "meeting" and (.subject | test("Odwołano"))'
expect_match "a link to the room" "$ORIGIN/#room=1" \
	"$(body_of '.rcpt == "lea@example.org" and (.subject | test("Odwołano"))')"

# --- an agreement waiting for a signature ----------------------------------------
expect_ok "the manager proposes a term" as maria agreement propose 1 --add-term "SECRET-TERM walrus"
expect_ok "both members are e-mailed that the agreement waits for them" \
	wait_mail 2 '.kind == "agreement"'

# --- the unread digest -----------------------------------------------------------
expect_ok "everyone signs the new version" as sam agreement sign 1 --yes
expect_ok "the mentee signs" as lea agreement sign 1 --yes
expect_ok "the manager signs" as maria agreement sign 1 --yes
expect_ok "the mentor sends a message" as sam send 1 "SECRET-MESSAGE pangolin"
expect_ok "the mentee, away, gets one digest for the room" \
	wait_mail 1 '.rcpt == "lea@example.org" and .kind == "digest"' 40
expect_match "it counts one unread message in room 1" 'pokoju 1: 1\.' \
	"$(body_of '.rcpt == "lea@example.org" and .kind == "digest"')"
sleep "$(e2e_bound 7)" # two more digest intervals, nothing new
expect_match "one digest only while nothing new came" '^1$' \
	"$(n_mails '.rcpt == "lea@example.org" and .kind == "digest"')"
expect_match "the sender gets no digest of his own message" '^0$' \
	"$(n_mails '.rcpt == "sam@example.org" and .kind == "digest"')"

# --- invites by e-mail -----------------------------------------------------------
expect_ok "the manager invites a mentee by e-mail, in Polish" \
	to_file "$T/inv1.json" as maria --json invite create --programme 1 --role mentee \
	--email neo@example.org --lang pl
inv1="$(jq -er .invite_id "$T/inv1.json")"
expect_ok "the invite e-mail arrives" wait_mail 1 '.rcpt == "neo@example.org" and .kind == "invite"'
link="$(mails '[.[] | select(.rcpt == "neo@example.org")] | last | .links[]' | jq -r . | grep -m1 '#join=')"
expect_match "its link is PUBLIC_URL/#join=CODE" "^$ORIGIN/#join=[A-Za-z0-9_-]{16,}\$" "$link"
expect_match "the invite is listed as sent" "^sent\$" \
	"$(as maria --json invite list --programme 1 | jq -r --argjson id "$inv1" '.invites[] | select(.invite_id == $id) | .state')"
expect_ok "the invitee registers with the link itself" as neo register --invite "$link" --username neo
expect_match "the invite is now registered" "^registered neo\$" \
	"$(as maria --json invite list --programme 1 | jq -r --argjson id "$inv1" '.invites[] | select(.invite_id == $id) | "\(.state) \(.username)"')"
expect_match "the invited address is the new user's, verified, in Polish" '^neo@example.org true pl$' \
	"$(as neo --json notify settings | jq -r '"\(.address) \(.verified) \(.lang)"')"
expect_ok "a second invite is made" \
	to_file "$T/inv2.json" as maria --json invite create --programme 1 --role mentor --email zoe@example.org
inv2="$(jq -er .invite_id "$T/inv2.json")"
expect_ok "and sent" wait_mail 1 '.rcpt == "zoe@example.org"'
old_link="$(mails '[.[] | select(.rcpt == "zoe@example.org")] | last | .links[]' | jq -r . | grep -m1 '#join=')"
expect_ok "the manager re-sends it" as maria invite resend "$inv2"
expect_ok "a second e-mail with a new link arrives" wait_mail 2 '.rcpt == "zoe@example.org"'
new_link="$(mails '[.[] | select(.rcpt == "zoe@example.org")] | last | .links[]' | jq -r . | grep -m1 '#join=')"
expect_match "the links differ" '^differ$' "$([[ "$old_link" != "$new_link" ]] && echo differ)"
expect_ok "the manager revokes it" as maria invite revoke "$inv2"
expect_fail "the revoked invite's link registers nobody" 1 'invalid_invite' \
	as zoe register --invite "$new_link" --username zoe
expect_match "it is listed as revoked" '^revoked$' \
	"$(as maria --json invite list --programme 1 | jq -r --argjson id "$inv2" '.invites[] | select(.invite_id == $id) | .state')"
expect_fail "a revoked invite is not re-sent" 1 'revoked' as maria invite resend "$inv2"
expect_fail "a mentor may not list invites" 1 'forbidden' as sam invite list --programme 1
expect_fail "an address that could break a header is refused" 1 'bad_value' \
	as maria invite create --programme 1 --role mentee --email 'x@example.org>'

# --- import of a 200-row list with bad rows, twice -------------------------------
{
	echo "name,email,role,label,lang"
	for i in $(seq 1 180); do
		echo "Person $i,imp$i@example.org,$([[ $((i % 5)) == 0 ]] && echo mentor || echo mentee),pair $((i / 5)),$([[ $((i % 2)) == 0 ]] && echo pl || echo en)"
	done
	echo '"Kowalski, Jan",imp181@example.org,mentee,"group ""B""",pl'
	for bad in not-an-address a@b 'x y@example.org' '<q@example.org>' ''; do echo "Bad address,$bad,mentee"; done
	for i in 1 2 3 4 5; do echo "Bad role $i,badrole$i@example.org,admin"; done
	for i in 1 2 3 4 5; do echo "Bad language $i,badlang$i@example.org,mentee,,de"; done
	for i in 1 2 3 4; do echo "Twice $i,IMP$i@Example.org,mentee"; done
} >"$T/people.csv"
expect_ok "the manager imports a list of 200 people" to_file "$T/import1.txt" \
	as maria import --programme 1 "$T/people.csv"
expect_match "181 invited, 4 unchanged, 15 invalid" '^181 invited, 4 unchanged .*, 15 invalid$' \
	"$(tail -n1 "$T/import1.txt")"
expect_match "each bad row says why" '^5 5 5$' \
	"$(grep -c "not an e-mail address" "$T/import1.txt") $(grep -c "role must be" "$T/import1.txt") $(grep -c "language must be" "$T/import1.txt")"
expect_match "a repeated address is reported with its line" 'line 198: IMP1@Example.org: already_invited' \
	"$(cat "$T/import1.txt")"
expect_ok "every invited person gets an e-mail" wait_mail 181 '.rcpt | startswith("imp")' 180
expect_match "nothing half-made: one invite and one e-mail per good row, nothing for a bad one" '^181 181 0$' \
	"$(sql "SELECT (SELECT count(*) FROM invites WHERE email ILIKE 'imp%'),
	              (SELECT count(*) FROM mail_outbox o JOIN invites i ON i.id = o.invite_id WHERE i.email ILIKE 'imp%'),
	              (SELECT count(*) FROM invites WHERE email LIKE 'bad%' OR email IN ('not-an-address', 'a@b'))" | tr '|' ' ')"
expect_match "name and label kept for the manager" '^Kowalski, Jan group "B" pl$' \
	"$(as maria --json invite list --programme 1 | jq -r '.invites[] | select(.email == "imp181@example.org") | "\(.name) \(.label) \(.lang)"')"
expect_ok "importing the same file again" to_file "$T/import2.txt" as maria import --programme 1 "$T/people.csv"
expect_match "changes nothing" '^0 invited, 185 unchanged .*, 15 invalid$' "$(tail -n1 "$T/import2.txt")"
expect_match "no new invite or e-mail" '^181 181$' \
	"$(sql "SELECT (SELECT count(*) FROM invites WHERE email ILIKE 'imp%'), (SELECT count(*) FROM mail_outbox o JOIN invites i ON i.id = o.invite_id WHERE i.email ILIKE 'imp%')" | tr '|' ' ')"
expect_fail "a mentor may not import" 1 'forbidden' as sam import --programme 1 "$T/people.csv"

# --- nothing secret, links only, each in its language ----------------------------
cat >"$T/rules.json" <<EOF
{"forbidden": ["SECRET", "kumquat", "marzipan", "quokka", "walrus", "pangolin", "Zanzibar", "Person ", "pair "],
 "not_for": {"lea@example.org": ["maria", "sam", "neo", "zoe"],
             "sam@example.org": ["maria", "lea", "neo", "zoe"],
             "neo@example.org": ["maria", "sam", "lea", "zoe"],
             "zoe@example.org": ["maria", "sam", "lea", "neo"],
             "imp181@example.org": ["Kowalski", "group"]},
 "lang": {"lea@example.org": "pl", "sam@example.org": "en", "neo@example.org": "pl",
          "zoe@example.org": "en"}}
EOF
expect_ok "no e-mail holds a topic, place, reason, message, term, programme or foreign name; links only, under the public URL; each in its language" \
	"$PY" "$HERE/mail_check.py" check "$MAILDIR" "$ORIGIN" "$T/rules.json"
# the check can fail: a message planted in the sink's directory with a topic in it is caught
printf 'X-Sink-Rcpt: lea@example.org\r\nMessage-ID: <x@y>\r\nDate: x\r\nFrom: a@b.c\r\nTo: lea@example.org\r\nX-Ementor-Kind: meeting\r\nContent-Language: pl\r\nSubject: ą\r\n\r\nkumquat %s/#room=1\r\n' "$ORIGIN" \
	>"$T/mail/planted.eml"
mkdir -p "$T/mail/planted" && mv "$T/mail/planted.eml" "$T/mail/planted/"
expect_fail "the check catches a planted topic" 1 'kumquat' \
	"$PY" "$HERE/mail_check.py" check "$T/mail/planted" "$ORIGIN" "$T/rules.json"
expect_match "every Message-ID is different" '^0$' \
	"$(mails '[.[].message_id] | length - (unique | length)')"

# --- unsubscribe -----------------------------------------------------------------
unsub="$(mails '[.[] | select(.rcpt == "lea@example.org" and .kind == "digest")] | last | .links[]' | jq -r . | grep -m1 /unsubscribe/)"
expect_match "the digest carries a one-link unsubscribe" "^$ORIGIN/unsubscribe/[A-Za-z0-9_-]{43}\$" "$unsub"
expect_match "with RFC 8058's one-click header" '^List-Unsubscribe=One-Click$' \
	"$(mails '[.[] | select(.rcpt == "lea@example.org" and .kind == "digest")] | last | .unsubscribe_post' | jq -r .)"
url="https://127.0.0.1:$EM_SERVER_PORT${unsub#"$ORIGIN"}"
kinds_before="$(as lea notify settings | sed -n 's/^Kinds: *//p')"
# a link scanner (or a person) that opens the link gets a page with a button, and nothing changes
expect_ok "opening the link (GET) shows a page" to_file "$T/unsub.html" \
	curl -fsS -D "$T/unsub.headers" --cacert "$CERT" "$url"
expect_match "in her language, with a button that posts" '<form method="post">.*Wyłącz wszystkie wiadomości' \
	"$(tr '\n' ' ' <"$T/unsub.html")"
expect_match "under a CSP that allows nothing but that form" \
	"content-security-policy: default-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'" \
	"$(tr -d '\r' <"$T/unsub.headers" | tr '[:upper:]' '[:lower:]')"
expect_absent "no script on it" '<script' "$T/unsub.html"
expect_match "and the GET unsubscribed nobody" "^$kinds_before\$" "$(as lea notify settings | sed -n 's/^Kinds: *//p')"
expect_ok "nor does a second GET" curl -fsS -o /dev/null --cacert "$CERT" "$url"
expect_match "still subscribed" "^$kinds_before\$" "$(as lea notify settings | sed -n 's/^Kinds: *//p')"
expect_ok "the one-click POST (as a mail client sends it) unsubscribes" to_file "$T/unsub.txt" \
	curl -fsS --cacert "$CERT" -d 'List-Unsubscribe=One-Click' "$url"
expect_match "in her language" 'Wypisano' "$(cat "$T/unsub.txt")"
expect_ok "the same POST over HTTP/1.1 (a mail client's own connection) answers alike" \
	to_file "$T/unsub1.txt" curl -fsS --http1.1 --cacert "$CERT" -d 'List-Unsubscribe=One-Click' "$url"
expect_match "it is idempotent" 'Wypisano' "$(cat "$T/unsub1.txt")"
expect_match "she now gets no kind" '^none' "$(as lea notify settings | sed -n 's/^Kinds: *//p')"
expect_fail "an unknown token is 404" 22 '404' \
	curl -fsS --cacert "$CERT" "https://127.0.0.1:$EM_SERVER_PORT/unsubscribe/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
expect_fail "to a POST too" 22 '404' curl -fsS --cacert "$CERT" -d 'List-Unsubscribe=One-Click' \
	"https://127.0.0.1:$EM_SERVER_PORT/unsubscribe/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
before="$(n_mails '.rcpt == "lea@example.org"')"
expect_ok "the mentor plans another session" \
	to_file "$T/s3.json" as sam --json meeting add 1 --at 2027-03-10T15:00Z --minutes 30 --place x
expect_ok "the mentee accepts it" as lea checkpoint accept "$(jq -er '.slots[0].id' "$T/s3.json")"
expect_ok "the mentor is e-mailed the confirmation" \
	wait_mail 1 '.rcpt == "sam@example.org" and (.subject | test("Confirmed: meeting, 2027-03-10"))'

# --- the reminders the scheduler computes (the clock moved to 24 hours before) ----
em_server_stop
em_server_start "$LOG" "$CERT" "$KEY" "$DB" "${SERVER_ARGS[@]}" \
	--clock-offset "$(($(date -u -d "2027-03-09 15:00" +%s) - $(date -u +%s)))" || {
	not_ok "the server restarts with the clock moved"
	e2e_summary
}
export EMENTOR_SERVER="$EM_SERVER_URL"
expect_ok "the mentor is e-mailed the 48-hour reminder" \
	wait_mail 1 '.rcpt == "sam@example.org" and (.subject | test("Reminder: meeting, 2027-03-10 15:00 UTC"))'
sleep "$(e2e_bound 2)"
expect_match "the unsubscribed mentee gets nothing more" "^$before\$" "$(n_mails '.rcpt == "lea@example.org"')"
expect_match "but her notices still come" 'reminder' "$(sql "SELECT string_agg(kind, ',') FROM notices n JOIN users u ON u.id = n.user_id WHERE u.username = 'lea'")"

# --- export and erasure ----------------------------------------------------------
expect_ok "the mentor exports his data" to_file "$T/export.json" as sam --json export
expect_match "his address is in it" '^sam@example.org true$' \
	"$(jq -r '.server.email // .email | "\(.address) \(.verified_at != null)"' "$T/export.json")"
expect_ok "the new mentee erases her account" as neo consent withdraw data_processing --yes
expect_match "her address is gone: settings, outbox, invite" '^0 0 0$' \
	"$(sql "SELECT (SELECT count(*) FROM mail_settings WHERE address = 'neo@example.org'),
	              (SELECT count(*) FROM mail_outbox WHERE address = 'neo@example.org'),
	              (SELECT count(*) FROM invites WHERE email = 'neo@example.org')" | tr '|' ' ')"

# --- the relay down: the outbox waits and retries, nothing lost or doubled -------
sink_stop
for i in 1 2 3 4 5; do
	as maria invite create --programme 1 --role mentee --email "down$i@example.org" >/dev/null
done
expect_ok "with the relay down the e-mails wait and are retried" \
	wait_until 30 sql_is "SELECT count(*) FROM mail_outbox WHERE address LIKE 'down%' AND state = 'pending' AND attempts >= 2 AND last_error IS NOT NULL" 5
expect_match "none has failed for good" '^0$' "$(sql "SELECT count(*) FROM mail_outbox WHERE state = 'failed'")"
sink_start plain
expect_ok "a relay without STARTTLS gets nothing (--smtp-starttls required)" \
	wait_until 30 sql_is "SELECT count(*) FROM mail_outbox WHERE address LIKE 'down%' AND state = 'pending' AND last_error LIKE '%SSL%'" 5
expect_match "nothing reached it" '^0$' "$(n_mails '.rcpt | startswith("down")')"
sink_stop
sink_start
expect_ok "once the relay is back all five go out" wait_mail 5 '.rcpt | startswith("down")' 60
sleep 2
expect_match "each exactly once" '^5 5$' \
	"$(mails '[.[] | select(.rcpt | startswith("down"))] | "\(length) \([.[].message_id] | unique | length)"' | jq -r .)"
expect_match "each recorded sent" '^5$' "$(sql "SELECT count(*) FROM mail_outbox WHERE address LIKE 'down%' AND state = 'sent'")"

# --- kill -9 between the relay's acceptance and the outbox's record --------------
echo 4 >"$T/mail/smtp.delay" # the relay holds its answer 4 s after keeping the message
for i in 1 2 3 4 5 6; do
	as maria invite create --programme 1 --role mentee --email "crash$i@example.org" >/dev/null
done
expect_ok "the relay has the first crash e-mail, its answer held" \
	wait_mail 1 '.rcpt | startswith("crash")' 30
kill -9 "$EM_SERVER_PID"
wait "$EM_SERVER_PID" 2>/dev/null || true
rm -f "$T/mail/smtp.delay"
# the window: messages the relay kept whose rows are not recorded sent
window=0
for mid in $(mails '[.[] | select(.rcpt | startswith("crash")) | .message_id] | unique | .[]' | jq -r .); do
	[[ "$(sql "SELECT state FROM mail_outbox WHERE message_id = '$mid'")" == sent ]] || window=$((window + 1))
done
in_flight="$(sql "SELECT count(*) FROM mail_outbox WHERE address LIKE 'crash%' AND state = 'sending'")"
em_server_start "$LOG" "$CERT" "$KEY" "$DB" "${SERVER_ARGS[@]}" || {
	not_ok "the server restarts"
	e2e_summary
}
expect_ok "after the restart every crash e-mail goes out" \
	wait_until 60 sql_is "SELECT count(*) FROM mail_outbox WHERE address LIKE 'crash%' AND state = 'sent'" 6
total="$(n_mails '.rcpt | startswith("crash")')"
distinct="$(mails '[.[] | select(.rcpt | startswith("crash")) | .message_id] | unique | length')"
dups=$((total - distinct))
echo "# kill -9 window: $in_flight rows claimed, $window kept by the relay unrecorded; received $total, $distinct distinct Message-IDs, $dups duplicates"
expect_match "none lost: six distinct Message-IDs" '^6$' "$distinct"
expect_match "duplicates only from the window, with the same Message-ID, at most one per node" \
	'^ok$' "$([[ $dups -eq $window && $window -le 1 ]] && echo ok || echo "dups=$dups window=$window")"
expect_absent "no address or code in the server's log" "crash1@example.org" "$LOG"

e2e_summary
