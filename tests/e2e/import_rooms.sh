#!/usr/bin/env bash
# tests/e2e/import_rooms.sh - rooms from the labels of an imported list
# (PROTOCOL.md invite.import, README "E-mail"), with a real ementord over TLS
# on a fresh database, the real CLI, psql, and a real SMTP server on loopback
# (Debian's python3-aiosmtpd, tests/e2e/smtp_sink.py) that receives the
# invites the people register with.
#
# What it shows: the import reports each label (the room it will make, how
# many have registered, or why it makes none: no mentor, two mentors); a
# label's room is made when the last of its people registers with the
# e-mailed link, as a pair (1 mentor + 1 mentee) or a group (1 mentor + 4
# mentees), named after the label, with exactly those members; importing the
# same file again invites nobody and makes no room; the room made this way
# works (agreement signed, a message read). A Polish invitee reads the
# privacy notice in Polish (register --lang pl), and her signed consent names
# that notice's version, whose hash is the Polish text's.
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
# join USER: USER registers with the invite link e-mailed to USER@example.org
join() {
	local link
	link="$(mails "[.[] | select(.kind == \"invite\" and .rcpt == \"$1@example.org\")] | last | .links" |
		jq -r '.[] | select(contains("#join="))' | head -n1)"
	as "$1" register --invite "$link" --username "$1" "${@:2}"
}
rooms() { sql "SELECT count(*) FROM rooms"; }

pair_room "Labels"
cat >"$T/people.csv" <<'CSV'
name,email,role,label,lang
Ann,ann@example.org,mentor,pair A,en
Bob,bob@example.org,mentee,pair A,pl
Cid,cid@example.org,mentor,group B,en
Dee,dee@example.org,mentee,group B,en
Eve,eve@example.org,mentee,group B,en
Fay,fay@example.org,mentee,group B,en
Gil,gil@example.org,mentee,group B,en
Gus,gus@example.org,mentee,lone C,en
Hal,hal@example.org,mentor,two D,en
Ida,ida@example.org,mentor,two D,en
Jon,jon@example.org,mentee,two D,en
Kim,kim@example.org,manager,pair A,en
CSV
expect_ok "the manager imports a list with labels" as maria import --programme 1 "$T/people.csv"
expect_match "every row invited" '12 invited, 0 unchanged' "$LAST"
expect_match "a pair waits for its two people" 'label "pair A": a pair room once everyone has registered \(0 of 2 so far\)' "$LAST"
expect_match "a group for its five" 'label "group B": a group room once everyone has registered \(0 of 5 so far\)' "$LAST"
expect_match "a label without a mentor makes no room, and says why" 'label "lone C": no room: a room needs exactly one mentor; this label has 0' "$LAST"
expect_match "nor one with two mentors" 'label "two D": no room: a room needs exactly one mentor; this label has 2' "$LAST"
expect_match "no room yet" '^1$' "$(rooms)"
expect_ok "the invites arrive" wait_until 60 have_mail 12 '.kind == "invite"'

expect_ok "the pair's mentor registers with his link" join ann
expect_ok "importing again" as maria import --programme 1 "$T/people.csv"
expect_match "invites nobody" '0 invited, 12 unchanged' "$LAST"
expect_match "and counts who registered" 'label "pair A": a pair room once everyone has registered \(1 of 2 so far\)' "$LAST"
expect_match "still no room" '^1$' "$(rooms)"
expect_ok "the pair's mentee registers, reading the privacy notice in Polish" join bob --lang pl
expect_match "the notice is shown in Polish" 'Informacja o prywatności ementor' "$LAST"
versions="$(sql "SELECT string_agg(DISTINCT l.subject, ' ') FROM consent_ledger l JOIN users u ON u.id = l.user_id WHERE l.purpose = 'data_processing' AND u.username IN ('ann', 'bob')")"
expect_match "her consent names the Polish notice's version, his the English one's" \
	'^notice-[0-9a-f]{12} notice-[0-9a-f]{12}$' "$versions"
expect_match "whose text hashes differ" \
	'^2$' "$(sql "SELECT count(DISTINCT l.text_hash) FROM consent_ledger l JOIN users u ON u.id = l.user_id WHERE l.purpose = 'data_processing' AND u.username IN ('ann', 'bob')")"
expect_fail "a language the server has no notice in is refused by the CLI" 2 'en or pl' \
	as nobody register --invite x --username nobody --lang de
expect_match "her registration made the pair's room" '^pair A\|pair\|ann bob$' \
	"$(sql "SELECT r.name, r.kind, string_agg(u.username, ' ' ORDER BY u.username) FROM rooms r JOIN room_members m ON m.room_id = r.id JOIN users u ON u.id = m.user_id WHERE r.name = 'pair A' GROUP BY r.id")"
expect_ok "she sees it" as bob room list
expect_match "named after the label" 'pair A' "$LAST"
for who in cid dee eve fay; do
	expect_ok "$who of the group registers" join "$who"
done
expect_match "the group waits for its last mentee" '^2$' "$(rooms)"
expect_ok "the last one registers" join gil
expect_match "and the group's room is made, with the mentor and four mentees" '^group\|cid dee eve fay gil$' \
	"$(sql "SELECT r.kind, string_agg(u.username, ' ' ORDER BY u.username) FROM rooms r JOIN room_members m ON m.room_id = r.id JOIN users u ON u.id = m.user_id WHERE r.name = 'group B' GROUP BY r.id")"
expect_ok "the manager who imported the list made it" as maria room list --programme 1
expect_match "and sees it" 'group B' "$LAST"
for who in gus hal; do
	expect_ok "$who registers" join "$who"
done
expect_match "labels that make no room make none" '^3$' "$(rooms)"

expect_ok "importing the same file once more" as maria import --programme 1 "$T/people.csv"
expect_match "reports the rooms made" 'label "pair A": already has room [0-9]+ \(pair, 1 mentee\)' "$LAST"
expect_match "both" 'label "group B": already has room [0-9]+ \(group, 4 mentees\)' "$LAST"
expect_match "and makes nothing" '^3$' "$(rooms)"
expect_match "nobody invited twice" '^12$' "$(sql "SELECT count(*) FROM invites WHERE label IS NOT NULL")"
expect_ok "the JSON report" to_file "$T/import.json" as maria --json import --programme 1 "$T/people.csv"
expect_match "has each label with its room" '^exists exists invalid invalid$' \
	"$(jq -r '[.labels["pair A"].status, .labels["group B"].status, .labels["lone C"].status, .labels["two D"].status] | join(" ")' "$T/import.json")"

# --- the room made this way works ------------------------------------------------------------
room="$(sql "SELECT id FROM rooms WHERE name = 'pair A'")"
sign_room "$room" maria ann bob
expect_ok "the mentor writes" as ann send "$room" "hello from a room made from a label"
expect_ok "the mentee reads" as bob read "$room"
expect_match "the message" 'ann: hello from a room made from a label' "$LAST"

e2e_summary
