#!/usr/bin/env bash
# tests/e2e/goals.sh - goals, tasks and the 4-10 self-ratings (PROTOCOL.md
# section 10) with real processes: a real ementord over TLS on a fresh
# database and the real CLI, one home directory per person.
#
# What it shows: in a group room (mentor sam, mentees lea, ola and kim, every
# party signed) mentees set personal goals, the mentor and the mentees set and
# change a group goal with tasks, statuses change, every change is a version;
# another mentee is not even sent a personal goal that is not shared (the
# server filters it: `goal list --json` of ola has no record of it, and
# `goal show` finds none), the mentor reads it; sharing makes it readable to
# the room; a new version is announced (the `room` event, in an open chat) to
# its readers only; ratings at start and midterm are sealed to the mentee and the
# mentor; refusals (the manager, a non-member, another mentee's personal
# goal, the mentor's own personal goal or rating, values outside 4-10); a
# server that serves an old version as the latest, or another goal's sealed
# blob in a goal's place, is caught by the reader; pg_dump holds no text,
# task, status word of a record, note or value.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

e2e_serve

# --- people and rooms ----------------------------------------------------------
expect_ok "manager registers" as maria register --invite "$(first_invite)" --username maria
expect_ok "manager creates a programme" \
	as maria programme create --name "Goals 2027" --starts 2027-01-01 --ends 2027-12-31
for who in sam:mentor lea:mentee ola:mentee kim:mentee ben:mentor eva:mentee; do
	code="$(invite 1 "${who#*:}")"
	expect_ok "${who%%:*} registers" as "${who%%:*}" register --invite "$code" --username "${who%%:*}"
done
expect_ok "group room 1: sam, lea, ola, kim" \
	as maria room create --programme 1 --kind group --name "Group" \
	--member sam --member lea --member ola --member kim
expect_ok "pair room 2: ben and eva" \
	as maria room create --programme 1 --kind pair --member ben --member eva
sign_room 1 maria sam lea ola kim
sign_room 2 maria ben eva

# --- personal goals ---------------------------------------------------------------
LEA_TITLE="Lea personal goal kestrel-71"
LEA_TASK="lea task harbour-42"
OLA_TITLE="Ola personal goal juniper-88"
expect_ok "lea sets a personal goal with two tasks" \
	to_file "$T/lea_add.json" as lea --json goal add 1 --title "$LEA_TITLE" \
	--description "lea description meadow-19" --task "$LEA_TASK" --task "lea second task quartz-5"
LEA_GOAL="$(jq -r .goal_id "$T/lea_add.json")"
expect_match "the goal id is the client's 16 bytes (22 base64url characters)" '^[A-Za-z0-9_-]{22}$' "$LEA_GOAL"
expect_ok "ola sets a personal goal" as ola goal add 1 --title "$OLA_TITLE"
expect_fail "sam (the mentor) has no personal goals" 1 "only a mentee" \
	as sam goal add 1 --title "mentor personal"

# --- a group goal, set by the mentor, changed by mentees ----------------------------
GROUP_TITLE="Group goal lantern-33"
expect_ok "sam sets a group goal with tasks" \
	to_file "$T/group_add.json" as sam --json goal add 1 --group --title "$GROUP_TITLE" \
	--task "group task copper-1" --task "group task copper-2"
GROUP_GOAL="$(jq -r .goal_id "$T/group_add.json")"
expect_ok "kim (a mentee) adds a task to the group goal" \
	as kim goal task 1 "$GROUP_GOAL" --task "kim task saffron-9"
expect_ok "lea marks the group goal's first task done" \
	as lea goal task 1 "${GROUP_GOAL:0:8}" --task-status 1=done
expect_ok "sam moves the group goal to in_progress" \
	as sam goal update 1 "$GROUP_GOAL" --status in_progress
expect_ok "ola lists the goals" to_file "$T/ola_list.json" as ola --json goal list 1
expect_match "ola reads the group goal at version 4, verified, with 3 tasks" '^4 true 3 in_progress done$' \
	"$(jq -r --arg g "$GROUP_GOAL" '.goals[] | select(.goal_id == $g) |
		"\(.version) \(.verified) \(.doc.tasks | length) \(.doc.status) \(.doc.tasks[0].status)"' "$T/ola_list.json")"
expect_match "ola is not even sent lea's unshared goal" '^0$' \
	"$(jq --arg g "$LEA_GOAL" '[.goals[] | select(.goal_id == $g)] | length' "$T/ola_list.json")"
expect_fail "ola cannot show lea's unshared goal" 2 "no goal" as ola goal show 1 "$LEA_GOAL"

# a new version is announced to its readers only: sam's chat hears of lea's unshared goal, kim's not
for who in sam kim; do
	# shellcheck disable=SC2094 # stdin waits for the chat's own "Chat in room" in chat.err
	{
		wait_for_lines "$T/chat_$who.err" 'Chat in room' 1 30 || true
		open_until "$T/chat.stop" 60
	} | as "$who" chat 1 --linger 1 >"$T/chat_$who.out" 2>"$T/chat_$who.err" &
	eval "chat_$who=\$!"
done
wait_for_lines "$T/chat_sam.err" 'Chat in room' 1 30 || true
wait_for_lines "$T/chat_kim.err" 'Chat in room' 1 30 || true
expect_ok "lea changes her goal's status and a task" \
	as lea goal update 1 "$LEA_GOAL" --status in_progress
wait_for_lines "$T/chat_sam.err" 'a goal changed' 1 20 || true
expect_ok "kim (a mentee) changes the group goal" as kim goal update 1 "$GROUP_GOAL" --description "kim edit"
wait_for_lines "$T/chat_kim.err" 'a goal changed' 1 20 || true
touch "$T/chat.stop"
# shellcheck disable=SC2154 # set by eval above
wait "$chat_sam" "$chat_kim" || true
expect_match "sam's chat is told of both new versions" '^2$' \
	"$(cat "$T/chat_sam.out" "$T/chat_sam.err" | grep -c 'a goal changed')"
expect_match "kim's chat only of the group goal's" '^1$' \
	"$(cat "$T/chat_kim.out" "$T/chat_kim.err" | grep -c 'a goal changed')"
expect_ok "lea marks her first task done" as lea goal task 1 "$LEA_GOAL" --task-status 1=done
expect_ok "sam (the mentor) lists the goals" to_file "$T/sam_list.json" as sam --json goal list 1
expect_match "sam reads lea's unshared goal (version 3, verified, readers lea and sam)" \
	"^3 true $LEA_TITLE done lea,sam\$" \
	"$(jq -r --arg g "$LEA_GOAL" '.goals[] | select(.goal_id == $g) |
		"\(.version) \(.verified) \(.doc.title) \(.doc.tasks[0].status) \(.readers | sort | join(","))"' "$T/sam_list.json")"
expect_match "sam sees three goals, all verified" '^3 3$' \
	"$(jq -r '"\(.goals | length) \([.goals[] | select(.verified)] | length)"' "$T/sam_list.json")"
expect_ok "sam's plain listing" as sam goal list 1
expect_match "the listing names lea's goal as hers, for her and the mentor" \
	"personal of lea \\(you and the mentor\\)" "$LAST"

# --- sharing ----------------------------------------------------------------------
expect_ok "lea shares her goal with the room" as lea goal share 1 "$LEA_GOAL"
expect_ok "ola lists again" to_file "$T/ola_list2.json" as ola --json goal list 1
expect_match "ola now reads lea's goal (version 4, shared, every member a reader)" \
	"^4 true true $LEA_TITLE kim,lea,ola,sam\$" \
	"$(jq -r --arg g "$LEA_GOAL" '.goals[] | select(.goal_id == $g) |
		"\(.version) \(.verified) \(.shared) \(.doc.title) \(.readers | sort | join(","))"' "$T/ola_list2.json")"
expect_ok "lea's history of her goal" to_file "$T/lea_hist.json" as lea --json goal show 1 "$LEA_GOAL" --history
expect_match "lea sees versions 1-4, all verified" '^1,2,3,4 true$' \
	"$(jq -r '"\([.versions[].version] | map(tostring) | join(",")) \(all(.versions[]; .verified))"' "$T/lea_hist.json")"
expect_ok "ola's history of lea's goal" to_file "$T/ola_hist.json" as ola --json goal show 1 "$LEA_GOAL" --history
expect_match "ola is sent only the shared version" '^4$' \
	"$(jq -r '[.versions[].version] | map(tostring) | join(",")' "$T/ola_hist.json")"

# --- refusals ---------------------------------------------------------------------
expect_fail "kim cannot write lea's personal goal (the server: forbidden)" 1 "another mentee|forbidden" \
	as kim goal update 1 "$LEA_GOAL" --title "kim was here"
expect_fail "the manager gets no goals (never a room member)" 1 "forbidden|manager|role" \
	as maria goal list 1
expect_fail "eva (room 2) is not a member of room 1" 1 "not a member|not_member|that you can see" \
	as eva goal list 1
expect_fail "ben (mentor of room 2) cannot set a group goal in room 1" 1 "not a member|not_member|that you can see" \
	as ben goal add 1 --group --title "intruder"
expect_fail "a goal status outside the list is refused" 2 "status" \
	as lea goal update 1 "$LEA_GOAL" --status finished

# --- ratings ----------------------------------------------------------------------
RATING_NOTE="rating note willow-64"
expect_ok "lea rates herself at the start (5)" \
	as lea rating add 1 --stage start --value 5 --date 2027-01-15 --note "$RATING_NOTE"
expect_ok "lea rates herself at the midterm (7)" \
	as lea rating add 1 --stage midterm --value 7 --date 2027-05-20
expect_ok "ola rates herself at the start (6)" as ola rating add 1 --stage start --value 6 --date 2027-01-16
expect_fail "a rating of 11 is refused" 2 "4 to 10" as lea rating add 1 --stage final --value 11
expect_fail "a rating of 3 is refused" 2 "4 to 10" as lea rating add 1 --stage final --value 3
expect_fail "an unknown stage is refused" 2 "stage" as lea rating add 1 --stage later --value 6
expect_fail "the mentor does not rate himself" 1 "only a signed mentee" \
	as sam rating add 1 --stage start --value 8
expect_fail "the manager gets no ratings" 1 "forbidden|manager|role" as maria rating list 1
expect_ok "sam lists the ratings" to_file "$T/sam_ratings.json" as sam --json rating list 1
expect_match "sam reads all three, verified, with their values" '^lea:start:5 ola:start:6 lea:midterm:7$' \
	"$(jq -r '[.ratings[] | select(.verified) | "\(.username):\(.stage):\(.value)"] | join(" ")' "$T/sam_ratings.json")"
expect_ok "ola lists the ratings" to_file "$T/ola_ratings.json" as ola --json rating list 1
expect_match "ola is sent only her own" '^ola:6$' \
	"$(jq -r '[.ratings[] | "\(.username):\(.value)"] | join(" ")' "$T/ola_ratings.json")"
expect_ok "lea's plain listing" as lea rating list 1
expect_match "lea sees her note" "$RATING_NOTE" "$LAST"

# --- what the server keeps --------------------------------------------------------
psql_q() { psql --no-psqlrc -qtAX "$DB" -c "$1"; }
expect_match "the server keeps the stages and dates of ratings (the audit's), not values" \
	'^start 2027-01-15\|midterm 2027-05-20\|start 2027-01-16$' \
	"$(psql_q "SELECT string_agg(stage || ' ' || rated_on, '|' ORDER BY id) FROM ratings")"
expect_match "goal counts per room: 2 personal, 1 group, 2+3 tasks" '^1\|2\|1\|5$' \
	"$(psql_q "SELECT room_id, personal_goals, group_goals, tasks FROM goal_counts")"
expect_ok "maria's audit report" to_file "$T/audit.json" as maria --json audit --programme 1
expect_match "the audit counts room 1's goals, tasks and ratings by stage (no text, no values)" \
	'^2 1 5 2 1 0 0$' \
	"$(jq -r '.rooms[] | select(.room_id == 1) | .goals |
		"\(.personal) \(.group) \(.tasks) \(.ratings.start) \(.ratings.midterm) \(.ratings.final) \(.ratings.any)"' "$T/audit.json")"
expect_absent "the audit report holds no goal title" "$LEA_TITLE" "$T/audit.json"
pg_dump --no-owner "$DB" >"$T/dump.sql"
leaks=0
for text in "$LEA_TITLE" "$LEA_TASK" "lea description meadow-19" "$OLA_TITLE" "$GROUP_TITLE" \
	"group task copper-1" "kim task saffron-9" "$RATING_NOTE" '"value":' '"status":' in_progress; do
	if grep -qF -- "$text" "$T/dump.sql" "$LOG"; then
		not_ok "pg_dump and the log hold no '$text'"
		leaks=$((leaks + 1))
	fi
done
expect_match "no goal, task, status, note or rating value in pg_dump or the log (11 strings)" '^0$' "$leaks"

# --- a lying server ---------------------------------------------------------------
# an old version served as the latest: the newest row of the group goal (5) deleted
psql_q "DELETE FROM goal_versions WHERE goal_id = decode(translate('$GROUP_GOAL', '-_', '+/') || '==', 'base64')
	AND version = 5" >/dev/null
expect_ok "ola lists after the server dropped version 5" to_file "$T/ola_list3.json" as ola --json goal list 1
expect_match "ola is warned that version 4 is passed off as the latest" 'has seen version 5' \
	"$(jq -r --arg g "$GROUP_GOAL" '.goals[] | select(.goal_id == $g) | .warning // "none"' "$T/ola_list3.json")"
# another goal's sealed record in lea's goal's place (the blob of ola's goal, same room)
psql_q "UPDATE goal_versions SET blob = (SELECT blob FROM goal_versions WHERE owner_id =
	(SELECT id FROM users WHERE username = 'ola') LIMIT 1) WHERE goal_id =
	decode(translate('$LEA_GOAL', '-_', '+/') || '==', 'base64') AND version = 4" >/dev/null
expect_ok "sam lists after the swap" to_file "$T/sam_list2.json" as sam --json goal list 1
expect_match "sam sees lea's goal as unverifiable, with no text" '^false null .*signature' \
	"$(jq -r --arg g "$LEA_GOAL" '.goals[] | select(.goal_id == $g) | "\(.verified) \(.doc.title) \(.error)"' "$T/sam_list2.json")"
expect_ok "sam's plain listing shows it" as sam goal list 1
expect_match "printed as UNVERIFIABLE" "UNVERIFIABLE" "$LAST"
# a goal moved to another room: lea's goal row handed to room 2
psql_q "UPDATE goal_versions SET room_id = 2 WHERE goal_id =
	decode(translate('$LEA_GOAL', '-_', '+/') || '==', 'base64')" >/dev/null
expect_ok "ben (the mentor of room 2) lists room 2" to_file "$T/ben_list.json" as ben --json goal list 2
expect_match "ben cannot verify or read the goal moved into his room" '^false null$' \
	"$(jq -r --arg g "$LEA_GOAL" '.goals[] | select(.goal_id == $g) | "\(.verified) \(.doc.title)"' "$T/ben_list.json")"

# --- erasure ----------------------------------------------------------------------
OLA_ID="$(psql_q "SELECT id FROM users WHERE username = 'ola'")"
count_ola() { psql_q "SELECT (SELECT count(*) FROM goal_versions WHERE owner_id = $OLA_ID) || ' ' ||
	(SELECT count(*) FROM ratings WHERE user_id = $OLA_ID)"; }
expect_match "ola has a personal goal version and a rating stored" '^1 1$' "$(count_ola)"
expect_ok "ola erases her account" as ola consent withdraw data_processing --yes
expect_match "her personal goals and ratings are deleted with it" '^0 0$' "$(count_ola)"

e2e_summary
