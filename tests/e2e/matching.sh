#!/usr/bin/env bash
# tests/e2e/matching.sh - match suggestions accepted into rooms
# (docs/MATCHING.md), with a real ementord over TLS on a fresh database, the
# real CLI and psql.
#
# What it shows: a manager's profiles file for two mentors and five mentees
# of a programme gives the suggestion the score says (a group for the mentor
# with room for three, a pair for the other, the mentee from the mentors'
# workplace kept away from them, with reasons); it is computed without the
# server (it works with the server stopped); accepted, the rooms exist with
# exactly the suggested members; a room the manager added by hand for
# someone outside the programme is refused and reported while the others are
# made; a non-manager cannot create rooms this way; nothing of the profiles
# reaches the database or the log.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

e2e_serve
sql() { psql --no-psqlrc -qtA "$DB" -c "$1"; }

expect_ok "the manager registers" as maria register --invite "$(first_invite)" --username maria
expect_ok "a programme" as maria programme create --name "Matching" --starts 2027-01-01 --ends 2027-06-30
for who in gus:mentor pat:mentor ann:mentee bob:mentee cal:mentee dee:mentee eve:mentee; do
	expect_ok "${who%%:*} registers" as "${who%%:*}" register --invite "$(invite 1 "${who#*:}")" \
		--username "${who%%:*}"
done
expect_ok "someone of another programme" as maria programme create --name "Other" --starts 2027-01-01 --ends 2027-06-30
expect_ok "zed registers there" as zed register --invite "$(invite 2 mentee)" --username zed

cat >"$T/profiles.json" <<'EOF'
{
  "mentors": [
    {"username": "gus", "capacity": 3, "workplace": "Northwind", "industry": "IT",
     "offers": ["cv", "interviews", "first job"], "values": ["openness", "honesty"],
     "interests": ["chess"], "motivation": 4},
    {"username": "pat", "workplace": "Northwind", "industry": "health",
     "offers": ["confidence", "public speaking"], "values": ["patience"], "motivation": 3}
  ],
  "mentees": [
    {"username": "ann", "wants_industry": "IT", "expectations": ["cv", "interviews"],
     "values": ["openness"], "motivation": 4, "interests": ["private hobby kumquat"]},
    {"username": "bob", "wants_industry": "IT", "expectations": ["first job"], "values": ["honesty"]},
    {"username": "cal", "wants_industry": "health", "expectations": ["confidence"],
     "values": ["patience"]},
    {"username": "dee", "expectations": ["cv"], "values": ["openness"]},
    {"username": "eve", "workplace": "northwind", "expectations": ["cv"], "values": ["openness"]}
  ]
}
EOF

# --- the suggestion, computed on the manager's device ------------------------------------
em_server_stop
expect_ok "the suggestion needs no server" to_file "$T/s.json" as maria --json match suggest "$T/profiles.json"
e2e_serve_again() {
	em_server_start "$LOG" "$CERT" "$KEY" "$DB" || {
		not_ok "server restarts"
		e2e_summary
	}
	export EMENTOR_SERVER="$EM_SERVER_URL"
}
e2e_serve_again
expect_match "gus gets a group of three, pat a pair" '^gus:group:ann,bob,dee pat:pair:cal$' \
	"$(jq -r '[.rooms[] | "\(.mentor):\(.kind):\(.mentees | join(","))"] | join(" ")' "$T/s.json")"
expect_match "eve, from the mentors' workplace, is not matched, with the reason" \
	'^eve: every mentor is excluded' "$(jq -r '.unmatched[] | "\(.username): \(.why)"' "$T/s.json")"
expect_match "each pair says why" '^expectations met: cv, interviews \(30 of 30\)$' \
	"$(jq -r '.rooms[0].pairs[] | select(.mentee == "ann") | .why[0]' "$T/s.json")"
expect_ok "the text form" as maria match suggest "$T/profiles.json"
expect_match "names the rooms" '2\. pair room, mentor pat' "$LAST"
expect_match "and who is left" 'eve +every mentor is excluded' "$LAST"

# --- accepting, with one room added by hand that the server refuses -------------------------
jq '.rooms += [{"mentor": "pat", "mentees": ["zed"]}]' "$T/s.json" >"$T/edited.json"
expect_fail "a mentee cannot create rooms" 1 'forbidden|not created' \
	as ann match accept "$T/s.json" --programme 1
expect_fail "the edited suggestion: the refused room is reported" 1 'room 3 \(mentor pat\) was not created' \
	as maria match accept "$T/edited.json" --programme Matching
expect_match "the others were made" '2 room\(s\) created, 1 not' "$LAST"
members() { as maria --json room show "$1" | jq -r '[.room.members[] | "\(.username)"] | join(",")'; }
expect_match "room 1 is gus's group" '^gus,ann,bob,dee$' "$(members 1)"
expect_match "room 2 is pat's pair" '^pat,cal$' "$(members 2)"
expect_match "of the right kinds" '^group pair$' \
	"$(sql "SELECT string_agg(kind, ' ' ORDER BY id) FROM rooms WHERE programme_id = 1")"

# --- the profiles stay on the device ----------------------------------------------------------
pg_dump --no-owner "$DB" >"$T/dump.sql"
expect_absent "the database holds no profile" "private hobby kumquat" "$T/dump.sql"
expect_absent "the log neither" "private hobby kumquat" "$LOG"

e2e_summary
