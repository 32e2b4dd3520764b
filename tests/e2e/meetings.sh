#!/usr/bin/env bash
# tests/e2e/meetings.sh - sessions beyond the three checkpoints and the
# session plan (PROTOCOL.md 6.4) with real processes: a real ementord over
# TLS on a fresh database, the real ementor CLI, pg_dump. Time moves by
# restarting the server with --clock-offset (the checkpoint clock).
#
# What it shows: in a pair room the mentor and the mentee each plan a session
# (one face to face, one online) with an encrypted topic; the other accepts
# and it is confirmed; the topic is changed (revision 2); the mentor
# reschedules less than 48 hours before and a late change is recorded; the
# mentee says she will be absent, with a reason; the mentor records a session
# held; `meeting plan` lists the initial, both sessions, the mid-term and the
# final in date order with the topics decrypted and verified; the calendar
# feed lists the session as "Mentoring session" with its place and without
# its topic; a member of another room and the manager are refused; bad input
# is refused; a pg_dump holds no topic text. Then the database is edited as a
# hostile server would: a topic moved to another meeting, to a meeting of
# another room, a byte changed, another author claimed — each shows as
# UNVERIFIABLE, never as text.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

e2e_serve --scheduler-interval 1

# offset_to "YYYY-MM-DD HH:MM": seconds from the real now to that UTC time
offset_to() { echo $(($(date -u -d "$1" +%s) - $(date -u +%s))); }
# at OFFSET: restarts the server on the same database with the clock moved
at() {
	em_server_stop
	em_server_start "$LOG" "$CERT" "$KEY" "$DB" --scheduler-interval 1 --clock-offset "$1" || {
		not_ok "server restarts"
		e2e_summary
	}
	export EMENTOR_SERVER="$EM_SERVER_URL"
}
sql() { psql --no-psqlrc -qtA "$DB" -c "$1"; }

# --- a pair room (1: sam and lea, programme 1 = 2027) and a second room (2: tom and ola)
pair_room "Meetings"
for who in tom:mentor ola:mentee; do
	expect_ok "${who%%:*} registers" as "${who%%:*}" register --invite "$(invite 1 "${who#*:}")" \
		--username "${who%%:*}"
done
expect_ok "the manager makes room 2 for tom and ola" \
	as maria room create --programme 1 --kind pair --member tom --member ola
sign_room 2 maria tom ola

T1="Set goals and review the CV — topic one kumquat"
T2="Practice the job interview — topic two marzipan"
T3="Goals, CV and the portfolio — topic one, revised quokka"
T4="Other room's plan — topic four walrus"

# --- planning ---------------------------------------------------------------------
expect_ok "the mentor plans a face-to-face session with a topic" \
	to_file "$T/s1.json" as sam --json meeting add 1 --at 2027-02-10T15:00Z --minutes 60 \
	--place "Library, room 2" --topic "$T1"
s1="$(jq -er .id "$T/s1.json")"
expect_match "the answer shows the topic decrypted by its author" "^$T1\$" \
	"$(jq -r .topic.text "$T/s1.json")"
expect_ok "the mentee plans an online session with a topic" \
	to_file "$T/s2.json" as lea --json meeting add 1 --online --at "2027-03-03T17:00Z" \
	--minutes 45 --place "video call" --topic "$T2"
s2="$(jq -er .id "$T/s2.json")"
expect_match "both are sessions, in person and online, open" "^session in_person open session online open\$" \
	"$(jq -r '[.kind, .mode, .state] | join(" ")' "$T/s1.json") $(jq -r '[.kind, .mode, .state] | join(" ")' "$T/s2.json")"
expect_match "a session's participants are the members only" '^lea,sam$' \
	"$(jq -r '[.participants[].username] | sort | join(",")' "$T/s1.json")"
expect_ok "the mentee accepts the mentor's time" \
	as lea checkpoint accept "$(jq -er '.slots[0].id' "$T/s1.json")"
expect_ok "the mentor accepts the mentee's time" \
	as sam checkpoint accept "$(jq -er '.slots[0].id' "$T/s2.json")"
init="$(as sam --json checkpoint list 1 | jq -er '.checkpoints[] | select(.kind == "initial") | .id')"
expect_ok "the initial checkpoint is proposed" \
	to_file "$T/init.json" as sam --json checkpoint propose "$init" --at 2027-01-05T10:00Z \
	--minutes 90 --place "Cafe Central"
expect_ok "and accepted" as lea checkpoint accept "$(jq -er '.checkpoint.slots[0].id' "$T/init.json")"
expect_match "checkpoint list still shows the three checkpoints only" '^initial,midterm,final$' \
	"$(as lea --json checkpoint list 1 | jq -r '[.checkpoints[].kind] | join(",")')"
expect_ok "the mentee sets the topic of the initial checkpoint" \
	as lea meeting topic 1 "$init" "Agreement and first goals"
expect_ok "the mentor changes the first session's topic" as sam meeting topic 1 "$s1" "$T3"
expect_match "it is revision 2" 'revision 2' "$LAST"
expect_ok "the mentee reads her notices" to_file "$T/notices.txt" as lea notices
expect_match "she is told the topic changed" "sam changed the topic of the session $s1 of room 1" \
	"$(cat "$T/notices.txt")"
expect_absent "without the topic" "quokka" "$T/notices.txt"

# --- refusals -------------------------------------------------------------------------
expect_fail "a member of another room cannot see the plan" 1 'not_found|no room 1 that you can see' \
	as ola meeting plan 1
expect_fail "nor add a session to it" 1 'not_found|no such room' \
	as ola meeting add 1 --at 2027-04-01T10:00Z --minutes 30 --place x
expect_fail "nor say she is absent from its session" 1 'not_found|no such' \
	as ola checkpoint absent "$s1" --reason "spam"
expect_fail "nor set its topic" 1 'no room 1 that you can see' \
	as ola meeting topic 1 "$s1" "hijacked"
expect_fail "the manager cannot see the plan (she attends the mid-term only)" 1 'forbidden' \
	as maria meeting plan 1
expect_fail "nor add a session" 1 'forbidden' \
	as maria meeting add 1 --at 2027-04-01T10:00Z --minutes 30 --place x
expect_fail "nor cancel a session" 1 'not_found|no such' \
	as maria checkpoint cancel "$s2" --reason "no"
expect_fail "a session outside the programme's dates is refused" 1 'outside' \
	as sam meeting add 1 --at 2028-02-01T10:00Z --minutes 30 --place x
expect_fail "a session of 2 minutes is refused" 2 'minutes' \
	as sam meeting add 1 --at 2027-04-01T10:00Z --minutes 2 --place x
expect_fail "a topic over 1,000 bytes is refused" 2 '1000|1,000' \
	as sam meeting topic 1 "$s1" "$(head -c 1001 /dev/zero | tr '\0' a)"
expect_fail "a mentee cannot cancel a session (she sends absent)" 1 'forbidden' \
	as lea checkpoint cancel "$s1" --reason "no"
expect_ok "room 2's mentor plans a session there too" \
	to_file "$T/s4.json" as tom --json meeting add 2 --at 2027-02-11T09:00Z --minutes 30 \
	--place "Room 7" --topic "$T4"
s4="$(jq -er .id "$T/s4.json")"

# --- a late change, an absence, a meeting held ------------------------------------------
at "$(offset_to "2027-02-09 16:00")" # 23 hours before the first session
expect_ok "the mentor reschedules the first session 23 hours before" \
	to_file "$T/r.json" as sam --json checkpoint reschedule "$s1" --reason "I am ill" \
	--at 2027-02-17T15:00Z --minutes 60 --place "Library, room 3"
expect_match "it is recorded as a late change" '^1$' "$(jq -r .checkpoint.late_changes "$T/r.json")"
expect_ok "the mentee accepts the new time" as lea checkpoint accept "$(jq -er '.checkpoint.slots[0].id' "$T/r.json")"
expect_ok "the mentee says she cannot come to the online session" \
	as lea checkpoint absent "$s2" --reason "exam that evening"
at "$(offset_to "2027-02-17 16:10")"
expect_ok "the mentor records the first session held" \
	as sam checkpoint attendance "$s1" --held --present sam,lea

# --- the plan ---------------------------------------------------------------------------
expect_ok "the mentee reads the plan" to_file "$T/plan.json" as lea --json meeting plan 1
expect_match "checkpoints and sessions in date order" \
	"^initial:$init session:$s1 session:$s2 midterm:[0-9]+ final:[0-9]+\$" \
	"$(jq -r '[.meetings[] | "\(.kind):\(.id)"] | join(" ")' "$T/plan.json")"
expect_match "with their states" '^confirmed held confirmed open open$' \
	"$(jq -r '[.meetings[].state] | join(" ")' "$T/plan.json")"
expect_match "and the topics decrypted, verified, with author and revision" \
	"^Agreement and first goals/lea/1\|$T3/sam/2\|$T2/lea/1\$" \
	"$(jq -r '[.meetings[] | select(.topic) | "\(.topic.text)/\(.topic.author)/\(.topic.revision)"] | join("|")' "$T/plan.json")"
expect_match "the late change and the absence are in the plan" '^1 exam that evening$' \
	"$(jq -r '"\(.meetings[1].late_changes) \(.meetings[2].absences[0].reason)"' "$T/plan.json")"
expect_ok "the plan as text" as sam meeting plan 1
expect_match "shows the revised topic" "topic: $T3" "$LAST"
expect_match "and who attended" 'lea attended' "$LAST"

# --- the manager's audit: counts, no topics ---------------------------------------------------
expect_ok "the manager pulls the audit" to_file "$T/audit.json" as maria audit --programme 1 --json
expect_match "room 1: 2 sessions planned, 1 held; room 2: 1 planned" '^2 1 0 0 \| 1 0 0 0 \| 1 0$' \
	"$(jq -r '[(.rooms[] | "\(.sessions.planned) \(.sessions.held) \(.sessions.missed) \(.sessions.cancelled)"), "\(.summary.sessions_held) \(.summary.sessions_missed)"] | join(" | ")' "$T/audit.json")"
expect_match "its checkpoints are still the three per room" '^3 3$' \
	"$(jq -r '[.rooms[].checkpoints | length] | join(" ")' "$T/audit.json")"
expect_absent "the audit holds no topic" "quokka" "$T/audit.json"

# --- the calendar feed --------------------------------------------------------------------
expect_ok "the mentee exports her calendar" to_file "$T/cal.ics" as lea calendar export
expect_match "the session is there as a mentoring session at its place" \
	'SUMMARY:Mentoring session' "$(tr -d '\r' <"$T/cal.ics")"
expect_match "with the new place" 'LOCATION:Library\\, room 3' "$(tr -d '\r' <"$T/cal.ics")"
for secret in "$T1" "$T2" "$T3" "topic one" "topic two"; do
	expect_absent "the calendar holds no topic (${secret:0:20}...)" "$secret" "$T/cal.ics"
done

# --- what the server holds ------------------------------------------------------------------
pg_dump --no-owner "$DB" >"$T/dump.sql"
expect_match "the dump holds the topics' rows" '^4$' \
	"$(awk '/^COPY public\.meeting_topics /{on=1; next} on && /^\\\.$/{on=0} on{n++} END{print n+0}' "$T/dump.sql")"
for secret in "$T1" "$T2" "$T3" "$T4" "Agreement and first goals" kumquat marzipan quokka walrus; do
	b64="$(printf '%s' "$secret" | base64 -w0 | tr -d '=')"
	hex="$(printf '%s' "$secret" | od -An -tx1 | tr -d ' \n')"
	leak=0
	for needle in "$secret" "$b64" "$hex"; do
		grep -qF -- "$needle" "$T/dump.sql" "$LOG" && leak=1
	done
	if ((leak)); then not_ok "no topic in the dump or the log: $secret"; else ok "no topic in the dump or the log: ${secret:0:24}"; fi
done

# --- a hostile server ---------------------------------------------------------------------
# moves the revised topic of session 1 onto the initial checkpoint (whose own is deleted)
sql "DELETE FROM meeting_topics WHERE checkpoint_id = $init;
     UPDATE meeting_topics SET checkpoint_id = $init WHERE checkpoint_id = $s1;"
expect_ok "a plan with a topic moved to another meeting" to_file "$T/h1.json" as lea --json meeting plan 1
expect_match "shows it as unverifiable, never as text" '^unverifiable null$' \
	"$(jq -r --argjson id "$init" '.meetings[] | select(.id == $id) | "\(.topic.error | test("unverifiable")|if . then "unverifiable" else "?" end) \(.topic.text)"' "$T/h1.json")"
expect_fail "the text plan says UNVERIFIABLE and warns" 0 'UNVERIFIABLE.*not signed' as lea meeting plan 1
# moves room 2's topic into room 1 (a session of room 1 without one: s1 now)
sql "UPDATE meeting_topics SET checkpoint_id = $s1 WHERE checkpoint_id = $s4;"
expect_ok "a plan with another room's topic" to_file "$T/h2.json" as sam --json meeting plan 1
expect_match "shows it as unverifiable" 'unverifiable' \
	"$(jq -r --argjson id "$s1" '.meetings[] | select(.id == $id) | .topic.error' "$T/h2.json")"
# a byte of the online session's ciphertext changed
sql "UPDATE meeting_topics SET ciphertext = set_byte(ciphertext, 40, get_byte(ciphertext, 40) # 1)
     WHERE checkpoint_id = $s2;"
expect_ok "a plan with a changed byte" to_file "$T/h3.json" as sam --json meeting plan 1
expect_match "shows it as unverifiable" 'unverifiable' \
	"$(jq -r --argjson id "$s2" '.meetings[] | select(.id == $id) | .topic.error' "$T/h3.json")"
expect_absent "and not its text" "$T2" "$T/h3.json"
# the same topic, another author claimed
sql "UPDATE meeting_topics SET ciphertext = set_byte(ciphertext, 40, get_byte(ciphertext, 40) # 1),
     author_id = (SELECT id FROM users WHERE username = 'sam') WHERE checkpoint_id = $s2;"
expect_ok "a plan with another author claimed" to_file "$T/h4.json" as lea --json meeting plan 1
expect_match "shows it as unverifiable under the claimed name" '^sam unverifiable' \
	"$(jq -r --argjson id "$s2" '.meetings[] | select(.id == $id) | "\(.topic.author) \(.topic.error)"' "$T/h4.json" | sed 's/(unverifiable/unverifiable/')"
# --- retention: a purged programme loses its topics with its messages -------------------------
sql "UPDATE programmes SET purged_at = now() WHERE id = 1;"
expect_match "the topics are deleted when the programme is purged" '^0$' \
	"$(sql "SELECT count(*) FROM meeting_topics")"

e2e_summary
