#!/usr/bin/env bash
# tests/e2e/admin.sh - programme administration and who sees whom
# (PROTOCOL.md 4.3), with a real ementord over TLS on a fresh database, the
# real CLI and psql, and the server's clock moved by restarts.
#
# What it shows: a participant's `programme show` lists the managers and the
# people of their own rooms only (a manager sees everyone); a calendar
# document names nobody; a manager renames a programme and moves its dates
# (typed 1.2.2027 as well as ISO), and the checkpoint windows move with them;
# bad dates and other people are refused (a mentee by role, a manager of
# another programme with not_found); a room's member and a manager rename
# rooms, a member of another room cannot; programmes and rooms are named by
# name as well as number (none or several: a usage error); before the programme starts the
# audit raises no inactivity or never-logged-in flag (40 days after the rooms
# were made); each member's attended and absent meetings are in the audit's
# JSON and CSV; an erased member is counted; a programme that has not started
# cannot be ended, nor one that has not ended archived; it ends early (the
# final window moves to today) and is archived: its rooms close (send and
# rename refused) and it no longer changes; the history lists every change
# with who made it.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

e2e_serve

offset_to() { echo $(($(date -u -d "$1" +%s) - $(date -u +%s))); }
at() {
	em_server_stop
	em_server_start "$LOG" "$CERT" "$KEY" "$DB" --clock-offset "$1" || {
		not_ok "server restarts"
		e2e_summary
	}
	export EMENTOR_SERVER="$EM_SERVER_URL"
}
sql() { psql --no-psqlrc -qtA "$DB" -c "$1"; }

# --- programme 1 (2027): room 1 sam + lea, room 2 tom + ola (+ eve, erased later) ---------
pair_room "Admin 2027"
for who in tom:mentor ola:mentee eve:mentee; do
	expect_ok "${who%%:*} registers" as "${who%%:*}" register --invite "$(invite 1 "${who#*:}")" \
		--username "${who%%:*}"
done
expect_ok "room 2 is a group of tom, ola and eve" \
	as maria room create --programme 1 --kind group --member tom --member ola --member eve
sign_room 2 maria tom ola eve
expect_ok "a second programme" as maria programme create --name "Other" --starts 2027-01-01 --ends 2027-06-30
expect_ok "max registers as a manager of programme 2 only" \
	as max register --invite "$(invite 2 manager)" --username max

# --- who sees whom ------------------------------------------------------------------------
people() { as "$1" --json programme show 1 | jq -r '[.people[].username] | sort | join(",")'; }
expect_match "the mentee sees the managers and her own room only" '^lea,maria,sam$' "$(people lea)"
expect_match "the group's mentor sees his room and the managers" '^eve,maria,ola,tom$' "$(people tom)"
expect_match "the manager sees everyone" '^eve,lea,maria,ola,sam,tom$' "$(people maria)"
expect_ok "a session is planned in room 1" \
	to_file "$T/s1.json" as sam --json meeting add 1 --at 2027-02-10T15:00Z --minutes 60 --place "Library"
expect_ok "and accepted" as lea checkpoint accept "$(jq -er '.slots[0].id' "$T/s1.json")"
expect_ok "the mentee's calendar" to_file "$T/cal.ics" as lea calendar export
expect_match "it has the session" 'BEGIN:VEVENT' "$(cat "$T/cal.ics")"
expect_match "it says how many take part" 'DESCRIPTION:2 taking part' "$(cat "$T/cal.ics")"
expect_absent "it does not name the mentor" "sam" "$T/cal.ics"

# --- programme edit -----------------------------------------------------------------------
expect_fail "a mentee cannot edit a programme" 1 'forbidden' as lea programme edit 1 --name "Mine"
expect_fail "a manager of another programme is told it does not exist" 1 'not_found|no programme' \
	as max programme edit 1 --name "Mine"
expect_fail "nothing to change is a usage error" 2 'give --name' as maria programme edit 1
expect_fail "a date that is not one is a usage error" 2 'not a date' \
	as maria programme edit 1 --starts 31.2.2027
expect_fail "an end before the start is refused by the server" 1 'bad_dates' \
	as maria programme edit 1 --ends 2026-12-31
expect_ok "the manager renames the programme and moves its dates (D.M.YYYY)" \
	to_file "$T/e.json" as maria --json programme edit 1 --name "Admin 2027, spring" \
	--starts 1.2.2027 --ends 2027-11-30
expect_match "the answer has the new name and dates" '^Admin 2027, spring 2027-02-01 2027-11-30$' \
	"$(jq -r '.programme | "\(.name) \(.starts_on) \(.ends_on)"' "$T/e.json")"
expect_match "the initial windows moved with the start" '^2027-02-01 2027-02-01$' \
	"$(sql "SELECT string_agg(opens_on::text, ' ' ORDER BY room_id) FROM checkpoints WHERE kind = 'initial'")"
expect_match "the final windows moved with the end" '^2027-11-30 2027-11-30$' \
	"$(sql "SELECT string_agg(closes_on::text, ' ' ORDER BY room_id) FROM checkpoints WHERE kind = 'final'")"
expect_fail "a programme that has not started cannot be ended" 1 'not started.*bad_state' \
	as maria programme end 1
expect_fail "nor archived" 1 'not ended.*bad_state' as maria programme archive 1

# --- room rename --------------------------------------------------------------------------
expect_ok "a member renames her room" as lea room rename 1 "Orchids"
expect_match "the room list shows it" 'Orchids' "$(as sam room list)"
expect_fail "a member of another room cannot" 1 'not_found|no room' as ola room rename 1 "Ours"
expect_ok "a manager renames a room" as maria room rename 2 "Group of the Lakes"

# --- programmes and rooms by name ---------------------------------------------------------
expect_ok "a room by its name, in any case" as lea room show orchids
expect_match "is room 1" '^Room 1' "$LAST"
expect_ok "a programme by its name" as maria programme show "admin 2027, SPRING"
expect_match "is programme 1" '^Programme 1:' "$LAST"
expect_ok "the audit of a room by name" as maria audit --room "Group of the Lakes"
expect_match "is room 2's" '^2 Group of the' "$LAST"
expect_fail "a name nobody has is a usage error" 2 "no room of yours is named 'Atlantis'" \
	as maria room show Atlantis
expect_fail "a room of others is not found by name either" 2 "no room of yours is named 'Group of the Lakes'" \
	as lea room show "Group of the Lakes"
expect_ok "a third programme with the second's name" \
	as maria programme create --name "Other" --starts 2027-01-01 --ends 2027-06-30
expect_fail "an ambiguous name lists the numbers" 2 "2 programmes are named 'other' \(2, 3\)" \
	as maria programme show other

# --- the audit before the start, attendance, erasure -----------------------------------------
at "$(offset_to "2027-01-25 12:00")"
expect_ok "the audit 40 days after the rooms were made, before the start" \
	to_file "$T/a.json" as maria --json audit --programme 1
expect_match "no inactivity or never-logged-in flag before the programme starts" '^$' \
	"$(jq -r '[.rooms[].flags[].code | select(. == "inactive" or . == "never_logged_in")] | join(",")' "$T/a.json")"
expect_match "every room counts as active" '^2$' "$(jq -r .summary.active_rooms "$T/a.json")"
at "$(offset_to "2027-02-10 16:10")"
expect_ok "the mentor records the session: lea was absent" \
	as sam checkpoint attendance "$(jq -er .id "$T/s1.json")" --held --present sam
expect_ok "eve erases her account" as eve consent withdraw data_processing --yes
expect_ok "the audit" to_file "$T/a.json" as maria --json audit --programme 1
expect_match "sam attended one meeting, lea was absent from one" '^sam 1 0 lea 0 1$' \
	"$(jq -r '[.rooms[] | select(.room_id == 1) | .members[] | "\(.username) \(.attended) \(.absent)"] | join(" ")' "$T/a.json")"
expect_match "the erased member is counted in her room and in all" '^1 1$' \
	"$(jq -r '"\(.rooms[] | select(.room_id == 2) | .erased_members) \(.summary.erased_members)"' "$T/a.json")"
expect_ok "the CSV" to_file "$T/a.csv" as maria audit --programme 1 --csv
expect_match "has the attendance columns last" ',attended,absent$' "$(head -n1 "$T/a.csv" | tr -d '\r')"
expect_match "lea's row says absent once" ',0,1$' "$(grep -E ',"?lea"?,mentee,' "$T/a.csv" | tr -d '\r')"
expect_ok "the table" as maria audit --programme 1 --room 1
expect_match "says who attended and was absent" 'ATTENDED / ABSENT\): sam 1 / 0, lea 0 / 1' "$LAST"
expect_match "the agreement in words" 'Agreement: +version 1 in force, signed by all$' "$LAST"
expect_match "and in the table's column" '^1 Orchids .* v1 signed ' "$LAST"
expect_ok "the table of room 2" as maria audit --programme 1 --room 2
expect_match "counts the erased member" 'Erased: +1 member' "$LAST"

# --- end early and archive ----------------------------------------------------------------
at "$(offset_to "2027-06-15 09:00")"
expect_ok "the manager ends the programme today" to_file "$T/end.json" as maria --json programme end 1
expect_match "its end is today and it ended early" '^2027-06-15 true$' \
	"$(jq -r '.programme | "\(.ends_on) \(.ended_early_at != null)"' "$T/end.json")"
expect_match "the final windows close today" '^2027-06-15 2027-06-15$' \
	"$(sql "SELECT string_agg(closes_on::text, ' ' ORDER BY room_id) FROM checkpoints WHERE kind = 'final'")"
expect_fail "it cannot end twice" 1 'ended already' as maria programme end 1
expect_fail "a mentee cannot archive" 1 'forbidden' as lea programme archive 1
expect_ok "the manager archives it" as maria programme archive 1
expect_match "programme show says so" 'Archived: ' "$(as maria programme show 1)"
expect_fail "its rooms are closed for messages" 1 'closed' as sam send 1 "after the end"
expect_fail "and for names" 1 'closed' as lea room rename 1 "Later"
expect_fail "an archived programme does not change" 1 'archived' as maria programme edit 1 --name "X"

# --- the history --------------------------------------------------------------------------
expect_fail "a mentee cannot read the history" 1 'forbidden' as lea programme history 1
expect_ok "the manager reads the history" to_file "$T/h.json" as maria --json programme history 1
expect_match "every change, newest first, with who made it" \
	'^archived:maria ended:maria room_name:maria room_name:lea ends_on:maria starts_on:maria name:maria$' \
	"$(jq -r '[.changes[] | "\(.change):\(.by)"] | join(" ")' "$T/h.json")"
expect_match "with the old and new values" '^Admin 2027 -> Admin 2027, spring$' \
	"$(jq -r '.changes[] | select(.change == "name") | "\(.old) -> \(.new)"' "$T/h.json")"
expect_ok "the table" as maria programme history 1
expect_match "names the room" 'room_name \(room 1\)' "$LAST"

e2e_summary
