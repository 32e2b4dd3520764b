#!/usr/bin/env bash
# tests/e2e/course.sh - the mentoring course run from start to end with real
# processes: a real ementord over TLS on a fresh database, the real ementor
# CLI, psql and pg_dump. The server's clock moves by a reload of its
# clock-offset (SIGHUP), as in diary.sh; the programme starts today.
#
# What it shows (issue 14, docs/PROTOCOL.md 6-10): a group room of one mentor
# and five mentees signs its agreement (all seven parties); each mentee answers
# the initial monitoring questionnaire, and one consents to share her progress
# with the managers; at the initial
# meeting each mentee sets a personal goal, then the mentor a group goal; a
# plan of five sessions beyond the three checkpoints; every one of the eight
# meetings is confirmed by everyone, held with its attendance recorded, and
# has a diary written by the mentee the server suggests in rotation (all five
# in turn, then round again) with the mentor's remark; at the mid-term, which
# the manager attends, every mentee places herself on the 4-10 scale at the
# start and now; the final meeting closes it, and each mentee answers the
# final questionnaire: the manager's client verifies all ten answers and shows
# each mentee's position from the initial to the final one, and her progress
# view has the consenting mentee's ratings and nobody else's. The manager's
# audit counts it all, and a pg_dump holds none of the goal, topic, diary,
# remark, note or answer texts. Then a manager who is also a room's mentor (PROTOCOL.md 4, room.add):
# a party once in the agreement, sends and reads in her own room, plans,
# remarks, sets a group goal and confirms the mid-term as mentor and manager;
# keeps her manager ops; reads nothing of a room she is not in; a manager of
# another programme cannot be seated.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

e2e_cert
DB="$(e2e_fresh_db)"
export EMENTOR_PASSWORD="correct horse battery"

day0="$(date -u +%Y-%m-%d)"
day() { date -u -d "$day0 + $1 days" +%Y-%m-%d; }

CONF="$T/ementord.conf"
OFFSET=0
printf 'clock-offset = 0\n' >"$CONF"
em_server_start "$LOG" "$CERT" "$KEY" "$DB" --config "$CONF" --scheduler-interval 1 || {
	not_ok "server starts"
	e2e_summary
}
export EMENTOR_SERVER="$EM_SERVER_URL"
# to_day N HH:MM: the server's clock moves on to that UTC time, by a reload
to_day() {
	local reloads want
	want=$(($(date -u -d "$(day "$1") $2" +%s) - $(date -u +%s)))
	((want > OFFSET)) || return 0
	reloads="$(grep -c 'reloaded ' "$LOG" || true)"
	OFFSET=$want
	printf 'clock-offset = %s\n' "$OFFSET" >"$CONF"
	kill -HUP "$EM_SERVER_PID"
	for _ in $(seq 1 100); do
		(($(grep -c 'reloaded ' "$LOG" || true) > reloads)) && return 0
		sleep 0.05
	done
	not_ok "the server reloads its clock-offset"
}
sql() { psql --no-psqlrc -qtA "$DB" -c "$1"; }
MENTEES=(ana bea cat dee eve)
MEMBERS=(tom "${MENTEES[@]}")

# --- the programme, the people, the group -------------------------------------------
expect_ok "manager maria registers" as maria register --invite "$(first_invite)" --username maria
expect_ok "she creates a programme of 90 days from today" \
	as maria programme create --name "Course" --starts "$day0" --ends "$(day 90)"
prog="$(as maria --json programme list | jq -er '.programmes[0].id')"
expect_ok "mentor tom registers" as tom register --invite "$(invite "$prog" mentor)" --username tom
for who in "${MENTEES[@]}"; do
	expect_ok "mentee $who registers" as "$who" register --invite "$(invite "$prog" mentee)" \
		--username "$who"
done
group="$(as maria --json room create --programme "$prog" --kind group --name "Course group" \
	--member tom --member ana --member bea --member cat --member dee --member eve | jq -er .room.id)"
expect_match "a group room of one mentor and five mentees" '^mentor:tom mentee:ana mentee:bea mentee:cat mentee:dee mentee:eve$' \
	"$(as maria --json room show "$group" | jq -r '[.room.members[] | "\(.role):\(.username)"] | join(" ")')"

# --- the first session: the agreement, signed by all ----------------------------------
sign_room "$group" maria "${MEMBERS[@]}"
expect_ok "the agreement" as cat --json agreement show "$group"
expect_match "is active, signed by all seven parties, the manager included" '^true 7 7 manager$' \
	"$(jq -r '[(.active != null), (.active.parties | length), ([.active.parties[] | select(.signature)] | length),
		([.active.parties[] | select(.username == "maria") | .role][0])] | map(tostring) | join(" ")' <<<"$LAST")"
expect_ok "the group talks first (its first key epoch)" as ana send "$group" "hello everyone"

# --- the initial monitoring questionnaire; one mentee shares her progress ------------------
POS_START=(5 6 4 7 5)
for i in 0 1 2 3 4; do
	who="${MENTEES[i]}"
	expect_ok "$who answers the initial questionnaire" \
		as "$who" questionnaire answer --room "$group" --stage initial \
		--answer "position=${POS_START[i]}" --answer "expectations=What $who hopes for, aster-9$i"
done
expect_ok "ana lets the programme's managers see her progress (share_progress)" \
	as ana consent grant share_progress --programme "$prog"

# --- the plan: the three checkpoints and five sessions, confirmed by all -------------
cp_id() { as tom --json checkpoint list "$group" | jq -er ".checkpoints[] | select(.kind == \"$1\") | .id"; }
c_init="$(cp_id initial)"
c_mid="$(cp_id midterm)"
c_final="$(cp_id final)"
# confirm ID SLOT WHO...: everyone named accepts the slot; the meeting is then confirmed
confirm() {
	local id="$1" slot="$2" who
	shift 2
	for who in "$@"; do
		as "$who" checkpoint accept "$slot" >/dev/null || not_ok "$who accepts slot $slot of meeting $id"
	done
}
state_of() { sql "SELECT state FROM checkpoints WHERE id = $1"; }

expect_ok "the mentor proposes the initial meeting" \
	to_file "$T/init.json" as tom --json checkpoint propose "$c_init" --at "$(day 1)T10:00Z" \
	--minutes 90 --place "Community centre"
confirm "$c_init" "$(jq -er '.checkpoint.slots[0].id' "$T/init.json")" "${MENTEES[@]}"
expect_match "everyone accepted: the initial meeting is confirmed" '^confirmed$' "$(state_of "$c_init")"

TOPICS=("Topic one: the CV, heron-11" "Topic two: interviews, lupin-22" "Topic three: networking, cobalt-33"
	"Topic four: the first month at work, fennel-44" "Topic five: what comes next, garnet-55")
SESSION_DAYS=(10 20 30 55 65)
sessions=()
for i in 0 1 2 3 4; do
	mode=()
	((i % 2 == 0)) || mode=(--online)
	expect_ok "the mentor plans session $((i + 1)) with its topic" \
		to_file "$T/s$i.json" as tom --json meeting add "$group" --at "$(day "${SESSION_DAYS[i]}")T16:00Z" \
		--minutes 60 --place "Room $((i + 1))" "${mode[@]}" --topic "${TOPICS[i]}"
	sessions+=("$(jq -er .id "$T/s$i.json")")
	confirm "${sessions[i]}" "$(jq -er '.slots[0].id' "$T/s$i.json")" "${MENTEES[@]}"
done
expect_ok "the mentor proposes the mid-term" \
	to_file "$T/mid.json" as tom --json checkpoint propose "$c_mid" --at "$(day 45)T10:00Z" \
	--minutes 120 --place "Community centre"
mid_slot="$(jq -er '.checkpoint.slots[0].id' "$T/mid.json")"
confirm "$c_mid" "$mid_slot" "${MENTEES[@]}"
expect_match "the mid-term waits for the manager" '^open$' "$(state_of "$c_mid")"
expect_ok "the manager accepts it" as maria checkpoint accept "$mid_slot"
expect_match "then it is confirmed" '^confirmed$' "$(state_of "$c_mid")"
expect_ok "the mentor proposes the final meeting" \
	to_file "$T/fin.json" as tom --json checkpoint propose "$c_final" --at "$(day 80)T10:00Z" \
	--minutes 90 --place "Community centre"
confirm "$c_final" "$(jq -er '.checkpoint.slots[0].id' "$T/fin.json")" "${MENTEES[@]}"

expect_ok "a mentee reads the plan" to_file "$T/plan.json" as dee --json meeting plan "$group"
expect_match "eight meetings in date order" '^initial session session session midterm session session final$' \
	"$(jq -r '[.meetings[].kind] | join(" ")' "$T/plan.json")"
expect_match "every state is confirmed" '^confirmed$' "$(jq -r '[.meetings[].state] | unique | join(",")' "$T/plan.json")"
expect_match "the five topics decrypted and verified, by the mentor" \
	"^${TOPICS[0]}/tom\|${TOPICS[1]}/tom\|${TOPICS[2]}/tom\|${TOPICS[3]}/tom\|${TOPICS[4]}/tom\$" \
	"$(jq -r '[.meetings[] | select(.topic) | "\(.topic.text)/\(.topic.author)"] | join("|")' "$T/plan.json")"

# the plan is updated at every session: the first topic is revised (revision 2)
s1="${sessions[0]}"
sql "CREATE TABLE kept_topic AS SELECT * FROM meeting_topics WHERE checkpoint_id = $s1" >/dev/null
TOPIC1B="Topic one, revised: the CV and the cover letter, heron-12"
expect_ok "the group revises the first session's topic" as ana meeting topic "$group" "$s1" "$TOPIC1B"
expect_ok "dee reads the plan again" to_file "$T/plan2.json" as dee --json meeting plan "$group"
expect_match "revision 2, by ana" "^2 ana $TOPIC1B null\$" \
	"$(jq -r --argjson id "$s1" '.meetings[] | select(.id == $id) | "\(.topic.revision) \(.topic.author) \(.topic.text) \(.topic.warning)"' "$T/plan2.json")"
# a hostile server serves revision 1 again (genuinely signed, but older)
sql "CREATE TABLE kept_topic2 AS SELECT * FROM meeting_topics WHERE checkpoint_id = $s1" >/dev/null
sql "UPDATE meeting_topics t SET revision = k.revision, epoch = k.epoch, author_id = k.author_id,
	ciphertext = k.ciphertext, sig = k.sig FROM kept_topic k WHERE t.checkpoint_id = k.checkpoint_id" >/dev/null
expect_ok "dee reads the rolled-back plan" to_file "$T/plan3.json" as dee --json meeting plan "$group"
expect_match "she is warned that an older revision is passed off as the latest" \
	'^1 has seen revision 2 of this topic' \
	"$(jq -r --argjson id "$s1" '.meetings[] | select(.id == $id) | "\(.topic.revision) \(.topic.warning)"' "$T/plan3.json" |
		sed 's/this device //')"
expect_ok "the text plan" as dee meeting plan "$group"
expect_match "says so" 'WARNING: this device has seen revision 2' "$LAST"
expect_ok "bea, who never saw revision 2, reads revision 1 plainly (the server can fool a newcomer)" \
	to_file "$T/plan4.json" as bea --json meeting plan "$group"
expect_match "no warning for her" '^1 null$' \
	"$(jq -r --argjson id "$s1" '.meetings[] | select(.id == $id) | "\(.topic.revision) \(.topic.warning)"' "$T/plan4.json")"
sql "DELETE FROM meeting_topics WHERE checkpoint_id = $s1" >/dev/null
expect_ok "then the server drops the topic" to_file "$T/plan5.json" as dee --json meeting plan "$group"
expect_match "dee is told it is missing, not that there is none" 'verified revision 2' \
	"$(jq -r --argjson id "$s1" '.meetings[] | select(.id == $id) | .topic.error' "$T/plan5.json")"
expect_fail "ana's device does not write revision 1 again (the server wants 1; she saw 2)" 1 \
	'revision' as ana meeting topic "$group" "$s1" "Topic one again"
sql "INSERT INTO meeting_topics SELECT * FROM kept_topic2; DROP TABLE kept_topic; DROP TABLE kept_topic2" >/dev/null
expect_ok "with revision 2 back, ana updates the topic" as ana meeting topic "$group" "$s1" "$TOPIC1B"
expect_match "as revision 3" 'revision 3' "$LAST"

# --- the initial meeting: personal goals first, then the group's ---------------------
to_day 1 10:05
for i in 0 1 2 3 4; do
	who="${MENTEES[i]}"
	expect_ok "$who sets her personal goal at the initial meeting" \
		as "$who" goal add "$group" --title "Personal goal of $who, ember-$((i + 1))0$((i + 1))" \
		--task "task of $who, quill-$((i + 1))"
done
GROUP_GOAL="Our group goal: everyone finds a placement, saffron-77"
expect_ok "then the mentor facilitates the group's goal" \
	to_file "$T/gg.json" as tom --json goal add "$group" --group --title "$GROUP_GOAL" \
	--task "group task: mock interviews, pewter-8"
expect_match "the server stored five personal goals, then the group goal" \
	'^personal personal personal personal personal group$' \
	"$(sql "SELECT string_agg(kind, ' ' ORDER BY created_at, id) FROM goal_versions WHERE room_id = $group")"
expect_ok "the mentor lists the goals" to_file "$T/goals.json" as tom --json goal list "$group"
expect_match "he reads all six, verified" '^6 6$' \
	"$(jq -r '"\(.goals | length) \([.goals[] | select(.verified)] | length)"' "$T/goals.json")"
expect_ok "bea lists the goals" to_file "$T/goals_m2.json" as bea --json goal list "$group"
expect_match "she reads her own and the group's only" '^2 true$' \
	"$(jq -r '"\(.goals | length) \(all(.goals[]; .verified))"' "$T/goals_m2.json")"

# --- every meeting: a writer by rotation, held, the diary, the mentor's remark -------
# meeting N ID DAY: at the meeting's start the writer is the server's suggestion;
# the meeting is recorded held with everyone present; the writer writes; the
# mentor remarks. Prints nothing; checks as it goes.
WRITERS=""
meeting() {
	local n="$1" id="$2" d="$3" at="$4" writer
	to_day "$d" "$at"
	writer="$(as tom --json diary writer "$id" | jq -r '.suggested.username')"
	WRITERS="$WRITERS $writer"
	expect_ok "meeting $n: the mentor records it held, everyone present" \
		as tom checkpoint attendance "$id" --held --present "$(
			IFS=,
			echo "${MEMBERS[*]}"
		)"
	expect_ok "meeting $n: $writer (the server's suggestion) writes the diary" \
		as "$writer" diary write "$id" "Diary $n by $writer: what we did, cinder-$n$n"
	expect_ok "meeting $n: the mentor adds his remark" \
		as tom diary remark "$id" "Remark $n: well done, thistle-$n$n"
}
meeting 1 "$c_init" 1 11:40
for i in 0 1 2; do
	meeting $((i + 2)) "${sessions[i]}" "${SESSION_DAYS[i]}" 17:05
done

# --- the mid-term monitoring session, with the manager -------------------------------
to_day 45 10:05
VALUES_START=(5 4 6 5 7)
VALUES_NOW=(7 6 8 6 9)
for i in 0 1 2 3 4; do
	who="${MENTEES[i]}"
	expect_ok "$who places herself where she was at the start (${VALUES_START[i]})" \
		as "$who" rating add "$group" --stage start --value "${VALUES_START[i]}" --date "$day0"
	expect_ok "and where she is now (${VALUES_NOW[i]})" \
		as "$who" rating add "$group" --stage midterm --value "${VALUES_NOW[i]}" --date "$(day 45)" \
		--note "mid-term note of $who, lichen-$i"
done
expect_fail "a rating of 3 is refused (the scale is 4 to 10)" 2 "4 to 10" \
	as ana rating add "$group" --stage midterm --value 3
expect_ok "the mentor reads the ratings" to_file "$T/ratings.json" as tom --json rating list "$group"
expect_match "ten ratings, verified, start then now for each mentee" \
	'^ana:start:5 bea:start:4 cat:start:6 dee:start:5 eve:start:7 ana:midterm:7 bea:midterm:6 cat:midterm:8 dee:midterm:6 eve:midterm:9$' \
	"$(jq -r '[.ratings[] | select(.verified) | "\(.username):\(.stage):\(.value)"] | join(" ")' "$T/ratings.json")"
expect_fail "the manager reads no rating (they are sealed to the mentee and the mentor)" 1 forbidden \
	as maria rating list "$group"
expect_fail "the mid-term record waits until the mid-term is held" 1 'bad_state|held' \
	as tom midterm write "$group" "$c_mid" --comment "too early"
to_day 45 12:05
expect_ok "the manager records the mid-term held (she attends it)" \
	as maria checkpoint attendance "$c_mid" --held --present "maria,$(
		IFS=,
		echo "${MEMBERS[*]}"
	)"
# the mid-term record: next steps per mentee, remaining topics, and comments from the
# mentees, the mentor and the manager in that order (PROTOCOL.md 6.6). Written here in
# another order (the mentor first): the order is the readers', from each signed capacity.
expect_ok "the mentor gives the remaining topics and his comment" \
	as tom midterm write "$group" "$c_mid" --remaining-topics "Remaining: negotiation, basalt-91" \
	--comment "Mentor comment: a strong group, basalt-92"
expect_match "as the mentor, version 1" 'as its mentor: version 1' "$LAST"
for i in 0 1 2 3 4; do
	who="${MENTEES[i]}"
	expect_ok "$who gives her next steps and her comment" \
		as "$who" midterm write "$group" "$c_mid" --next-steps "Next steps of $who, tundra-$i" \
		--comment "Comment of $who, willow-$i"
done
expect_ok "the manager comments last" \
	as maria midterm write "$group" "$c_mid" --comment "Manager comment: keep going, quartz-93"
expect_match "as the manager" 'as its manager: version 1' "$LAST"
expect_fail "a mentee gives no remaining topics (the mentor's part)" 2 'mentor|remaining' \
	as ana midterm write "$group" "$c_mid" --remaining-topics "not mine"
expect_fail "the manager gives no next steps (a mentee's part)" 2 'next_steps|next steps' \
	as maria midterm write "$group" "$c_mid" --next-steps "not hers"
expect_ok "cat corrects her comment (version 2)" \
	as cat midterm write "$group" "$c_mid" --next-steps "Next steps of cat, tundra-2b" \
	--comment "Comment of cat, corrected, willow-2b"
for who in bea tom maria; do
	expect_ok "$who reads the mid-term record" to_file "$T/mid_$who.json" as "$who" --json midterm show "$group" "$c_mid"
	expect_match "$who: the mentees, the mentor, the manager in that order, all verified" \
		'^mentee:ana mentee:bea mentee:cat mentee:cat mentee:dee mentee:eve mentor:tom manager:maria / true$' \
		"$(jq -r '"\([.records[] | "\(.kind):\(.author)"] | join(" ")) / \(all(.records[]; .verified))"' "$T/mid_$who.json")"
done
expect_match "with each part's text, the latest of cat's" \
	'^Next steps of ana, tundra-0\|Comment of cat, corrected, willow-2b\|Remaining: negotiation, basalt-91\|Manager comment: keep going, quartz-93$' \
	"$(jq -r '[.records[0].doc.next_steps, (.records[] | select(.author == "cat" and .latest) | .doc.comment), .records[6].doc.remaining_topics, .records[7].doc.comment] | join("|")' "$T/mid_bea.json")"
expect_match "sealed to the seven parties" '^7$' "$(jq -r '.records[7].readers | length' "$T/mid_bea.json")"
expect_ok "the text view" as dee midterm show "$group" "$c_mid"
expect_match "lists the mentees, then the mentor, then the manager" \
	'the mentees:.*eve.*the mentor:.*tom.*Remaining: negotiation.*the manager:.*maria.*quartz-93' \
	"$(tr '\n' ' ' <<<"$LAST")"
# a hostile server: relabels the manager's comment as a mentee's, credits the mentor's to ana
sql "UPDATE midterm_records SET kind = 'mentee' WHERE kind = 'manager'" >/dev/null
sql "UPDATE midterm_records SET author_id = (SELECT id FROM users WHERE username = 'ana'), version = 3
	WHERE kind = 'mentor'" >/dev/null
expect_ok "bea reads the tampered record" to_file "$T/mid_h.json" as bea --json midterm show "$group" "$c_mid"
expect_match "the relabelled and the re-credited parts are unverifiable, never text" \
	'^2 0 maria:mentee ana:mentor$' \
	"$(jq -r '"\([.records[] | select(.verified | not)] | length) \([.records[] | select(.verified | not) | select(.doc)] | length) \([.records[] | select(.verified | not) | "\(.author):\(.kind)"] | sort | reverse | join(" "))"' "$T/mid_h.json")"
sql "UPDATE midterm_records SET kind = 'manager' WHERE author_id = (SELECT id FROM users WHERE username = 'maria');
	UPDATE midterm_records SET author_id = (SELECT id FROM users WHERE username = 'tom'), version = 1
	WHERE kind = 'mentor'" >/dev/null
expect_ok "put back, it verifies again" to_file "$T/mid_ok.json" as bea --json midterm show "$group" "$c_mid"
expect_match "all eight" '^8 true$' "$(jq -r '"\(.records | length) \(all(.records[]; .verified))"' "$T/mid_ok.json")"
writer="$(as tom --json diary writer "$c_mid" | jq -r '.suggested.username')"
WRITERS="$WRITERS $writer"
expect_ok "the mid-term's diary, by $writer" as "$writer" diary write "$c_mid" "Diary mid-term by $writer, cinder-mid"
expect_ok "and the mentor's remark" as tom diary remark "$c_mid" "Remark mid-term, thistle-mid"
expect_fail "the manager cannot read the mid-term's diary" 1 forbidden as maria diary show "$c_mid"

meeting 6 "${sessions[3]}" "${SESSION_DAYS[3]}" 17:05
meeting 7 "${sessions[4]}" "${SESSION_DAYS[4]}" 17:05

# --- the final session -----------------------------------------------------------
to_day 80 10:05
for i in 0 1 2 3 4; do
	who="${MENTEES[i]}"
	expect_ok "$who places herself at the end" \
		as "$who" rating add "$group" --stage final --value "$((VALUES_NOW[i] + 1))" --date "$(day 80)"
done
meeting 8 "$c_final" 80 11:40
# --- the final monitoring questionnaire; the manager sees answers and consented progress only
POS_END=(8 8 7 9 8)
for i in 0 1 2 3 4; do
	who="${MENTEES[i]}"
	expect_ok "$who answers the final questionnaire" \
		as "$who" questionnaire answer --room "$group" --stage final \
		--answer "position=${POS_END[i]}" --answer needs_met=4 --answer "gained=What $who gained, ochre-9$i"
done
expect_ok "the manager's questionnaire results" \
	to_file "$T/quest.json" as maria --json questionnaire results --programme "$prog"
expect_match "ten answers, all verified on her device" '^10 10$' \
	"$(jq -r '"\(.answers | length) \([.answers[] | select(.verified)] | length)"' "$T/quest.json")"
expect_match "each mentee's position, initial and final" '^ana:5:8 bea:6:8 cat:4:7 dee:7:9 eve:5:8$' \
	"$(jq -r '[.comparison[] | "\(.username):\(.questions[] | select(.id == "position") | "\(.initial):\(.final)")"] | sort | join(" ")' "$T/quest.json")"
expect_fail "the mentor reads no answer" 1 "forbidden|not" as tom questionnaire results --programme "$prog"
expect_ok "the manager's progress view" to_file "$T/progress.json" as maria --json audit progress --programme "$prog"
expect_match "only ana consented: her three ratings, nobody else's" '^ana:start,midterm,final$' \
	"$(jq -r '[.mentees[] | "\(.username):\([.ratings[].stage] | join(","))"] | join(";")' "$T/progress.json")"
expect_match "the diary writers rotated: every mentee in turn, then round again" \
	'^ ana bea cat dee eve ana bea cat$' "$WRITERS"

expect_ok "a mentee reads the last diary" as eve --json diary show "$c_final"
expect_match "the entry and the remark, verified" '^true;Diary 8 by cat: what we did, cinder-88;Remark 8: well done, thistle-88$' \
	"$(jq -r '[.verified, .entry.text, .remarks[0].text] | map(tostring) | join(";")' <<<"$LAST")"
expect_ok "the plan at the end" to_file "$T/plan_end.json" as bea --json meeting plan "$group"
expect_match "all eight meetings held" '^held$' "$(jq -r '[.meetings[].state] | unique | join(",")' "$T/plan_end.json")"
expect_ok "the room's diary list" as ana --json diary list "$group"
expect_match "eight diaries, one version and one remark each" '^8 8 8$' \
	"$(jq -r '[(.meetings | length), ([.meetings[].entry_versions] | add), ([.meetings[].remarks] | add)] | map(tostring) | join(" ")' <<<"$LAST")"

# --- the manager's audit: figures only --------------------------------------------
expect_ok "the manager's audit of the group" to_file "$T/audit.json" as maria --json audit --room "$group"
expect_match "counts 8 diaries, 8 versions, 8 remarks; 5 personal and 1 group goal; 5+5+5 ratings by stage" \
	'^8 8 8 / 5 1 / 5 5 5$' \
	"$(jq -r '.rooms[0] | "\(.diary.meetings) \(.diary.entry_versions) \(.diary.remarks) / \(.goals.personal) \(.goals.group) / \(.goals.ratings.start) \(.goals.ratings.midterm) \(.goals.ratings.final)"' "$T/audit.json")"

# --- what the server holds ----------------------------------------------------------
pg_dump --no-owner "$DB" >"$T/dump.sql"
expect_match "the dump holds the goal, topic, diary and mid-term rows" '^4$' \
	"$(grep -cE '^COPY public\.(goal_versions|meeting_topics|diary_records|midterm_records) ' "$T/dump.sql")"
secrets=(ember-101 ember-202 ember-303 ember-404 ember-505 quill-1 quill-5 saffron-77 pewter-8
	heron-11 heron-12 lupin-22 cobalt-33 fennel-44 garnet-55 cinder-11 cinder-44 cinder-88 cinder-mid
	thistle-11 thistle-55 thistle-88 thistle-mid lichen-0 lichen-4 basalt-91 basalt-92 quartz-93
	tundra-0 tundra-2b tundra-4 willow-0 willow-2b willow-4 aster-90 aster-92 aster-94 ochre-91 ochre-93)
leaks=()
for s in "${secrets[@]}"; do
	grep -qF -- "$s" "$T/dump.sql" "$LOG" && leaks+=("$s")
done
expect_match "pg_dump and the log hold none of ${#secrets[@]} goal, task, topic, diary, remark, note, mid-term and answer texts" \
	'^$' "${leaks[*]}"
# the grep can fail: the same dump does hold what the server must know
expect_match "(while the dump does hold the places, which are not encrypted)" 'Community centre' \
	"$(grep -F 'Community centre' "$T/dump.sql" | head -n1)"

# --- a manager who is also a room's mentor ------------------------------------------------
expect_ok "manager mona registers (a manager of the programme)" \
	as mona register --invite "$(invite "$prog" manager)" --username mona
expect_ok "mentee pia registers" as pia register --invite "$(invite "$prog" mentee)" --username pia
expect_ok "maria makes programme 2, with its own manager zed" \
	as maria programme create --name "Other" --starts "$day0" --ends "$(day 90)"
prog2="$(as maria --json programme list | jq -er '.programmes[] | select(.name == "Other") | .id')"
expect_ok "zed registers" as zed register --invite "$(invite "$prog2" manager)" --username zed

# --- roles per programme: a mentor here is a mentee there, and the other way round -------
zinvite() { as zed --json invite create --programme "$prog2" --role "$1" | jq -er .code; }
expect_ok "tom, a mentor of programme 1, joins programme 2 as a mentee" as tom invite accept "$(zinvite mentee)"
expect_ok "ana, a mentee of programme 1, joins programme 2 as a mentor" as ana invite accept "$(zinvite mentor)"
expect_fail "a mentor account does not take a manager invite" 1 'invalid_invite|for a manager' \
	as tom invite accept "$(zinvite manager)"
expect_fail "nor a second role in a programme it is in" 1 'already a mentee' \
	as ana invite accept "$(invite "$prog" mentor)"
expect_ok "programme 2's pair room: ana its mentor, tom its mentee" \
	to_file "$T/room2.json" as zed --json room create --programme "$prog2" --kind pair --member ana --member tom
room2="$(jq -er .room.id "$T/room2.json")"
expect_match "roles from programme 2, not from the accounts" '^mentor:ana mentee:tom$' \
	"$(jq -r '[.room.members[] | "\(.role):\(.username)"] | join(" ")' "$T/room2.json")"
sign_room "$room2" zed ana tom
expect_ok "tom writes as the mentee" as tom send "$room2" "Tom the mentee asks, sable-81"
expect_ok "ana reads it" as ana --json read "$room2"
expect_match "verified" 'sable-81' "$(jq -r '[.[].text] | join(" ")' <<<"$LAST")"
expect_ok "tom sets a personal goal there (a mentee's)" as tom goal add "$room2" --title "Tom's own goal, sable-82"
expect_ok "and rates himself" as tom rating add "$room2" --stage start --value 5
expect_ok "ana plans a session" to_file "$T/r2s.json" as ana --json meeting add "$room2" \
	--at "$(day 82)T16:00Z" --minutes 60 --place "Library"
r2s="$(jq -er .id "$T/r2s.json")"
expect_ok "tom accepts it" as tom checkpoint accept "$(jq -er '.slots[0].id' "$T/r2s.json")"
to_day 82 17:05
expect_ok "ana records it held, as the mentor" as ana checkpoint attendance "$r2s" --held --present ana,tom
expect_ok "tom writes its diary, as the mentee" as tom diary write "$r2s" "Tom's diary, sable-83"
expect_ok "ana remarks, as the mentor" as ana diary remark "$r2s" "Ana's remark, sable-84"
expect_fail "tom does not remark in programme 2 (he is not its mentor there)" 1 forbidden \
	as tom diary remark "$r2s" "no"
expect_fail "nor write the group's diary in programme 1 (he is its mentor there)" 1 'forbidden|wrong_role' \
	as tom diary write "$c_final" "no"
expect_ok "tom still reads the group's diary, as its mentor" as tom --json diary show "$c_final"
expect_ok "mona makes a pair room with herself as its mentor" \
	to_file "$T/mroom.json" as mona --json room create --programme "$prog" --kind pair --name "Mona's pair" \
	--member mona --member pia
mroom="$(jq -er .room.id "$T/mroom.json")"
expect_match "she is its mentor" '^mentor:mona mentee:pia$' \
	"$(jq -r '[.room.members[] | "\(.role):\(.username)"] | join(" ")' "$T/mroom.json")"
expect_fail "a manager of another programme cannot be seated" 1 'wrong_role|not of programme' \
	as maria room add "$group" zed
expect_fail "nor a second mentor in a room that has one" 1 'room_has_mentor|already has a mentor' \
	as maria room add "$group" mona
sign_room "$mroom" mona pia
expect_ok "the agreement of her room" as pia --json agreement show "$mroom"
expect_match "lists mona once, as the mentor (she is also the manager party), all signed" \
	'^2 mona:mentor pia:mentee true$' \
	"$(jq -r '"\(.active.parties | length) \([.active.parties[] | "\(.username):\(.role)"] | join(" ")) \(all(.active.parties[]; .signature != null))"' <<<"$LAST")"
expect_ok "mona writes in her room" as mona send "$mroom" "Hello Pia, I am your mentor, opal-66"
expect_ok "pia answers" as pia send "$mroom" "Hello Mona, amber-67"
expect_ok "mona reads her room" as mona --json read "$mroom"
expect_match "both messages, decrypted and verified" 'opal-66.*amber-67' "$(jq -r '[.[].text] | join(" ")' <<<"$LAST")"
expect_ok "pia reads it too" as pia --json read "$mroom"
expect_match "from mona" 'opal-66' "$(jq -r '[.[].text] | join(" ")' <<<"$LAST")"
expect_ok "mona sets a group goal as the mentor" as mona goal add "$mroom" --group --title "Pair goal, onyx-68"
expect_fail "but no personal goal (a mentee's)" 1 "only a mentee" as mona goal add "$mroom" --title "mine"
expect_fail "nor a rating (a mentee's)" 1 "only a signed mentee|wrong_role" \
	as mona rating add "$mroom" --stage start --value 6
expect_ok "pia sets a personal goal" as pia goal add "$mroom" --title "Pia's goal, jade-69"
expect_ok "mona, the mentor, reads it" as mona --json goal list "$mroom"
expect_match "verified" '^2 true$' "$(jq -r '"\(.goals | length) \(all(.goals[]; .verified))"' <<<"$LAST")"
m_mid="$(as mona --json checkpoint list "$mroom" | jq -er '.checkpoints[] | select(.kind == "midterm") | .id')"
# the mid-term window has passed at day 80: she moves it, as a manager may
expect_ok "mona moves the mid-term window (a manager op she keeps)" \
	as mona checkpoint window "$m_mid" --opens "$(day 81)" --closes "$(day 89)"
expect_ok "and proposes it" \
	to_file "$T/mmid.json" as mona --json checkpoint propose "$m_mid" --at "$(day 86)T10:00Z" \
	--minutes 60 --place "Office"
expect_match "she is one participant, the mentor (maria: the programme's other manager)" \
	'^manager:maria mentee:pia mentor:mona$' \
	"$(jq -r '[.checkpoint.participants[] | "\(.role):\(.username)"] | sort | join(" ")' "$T/mmid.json")"
expect_ok "pia accepts" as pia checkpoint accept "$(jq -er '.checkpoint.slots[0].id' "$T/mmid.json")"
expect_match "confirmed: mona accepted as the mentor and as the manager the mid-term needs" '^confirmed$' \
	"$(state_of "$m_mid")"
to_day 86 11:05
expect_ok "mona records it held" as mona checkpoint attendance "$m_mid" --held --present mona,pia
expect_ok "pia writes its diary" as pia diary write "$m_mid" "Pia's diary, coral-70"
expect_ok "mona remarks as the mentor" as mona diary remark "$m_mid" "Mona's remark, slate-71"
expect_fail "mona does not write the entry (a mentee's)" 1 forbidden as mona diary write "$m_mid" "x"
expect_ok "pia gives her next steps at the mid-term" \
	as pia midterm write "$mroom" "$m_mid" --next-steps "Pia's next steps, ivory-72"
expect_ok "mona gives the remaining topics, as the mentor" \
	as mona midterm write "$mroom" "$m_mid" --remaining-topics "Mona's topics, ivory-73" \
	--comment "Mona's comment, ivory-74"
expect_match "in her seat's capacity" 'as its mentor' "$LAST"
expect_ok "pia reads the record" as pia --json midterm show "$mroom" "$m_mid"
expect_match "pia, then mona the mentor; two readers; verified" '^mentee:pia mentor:mona 2 true$' \
	"$(jq -r '"\([.records[] | "\(.kind):\(.author)"] | join(" ")) \(.records[1].readers | length) \(all(.records[]; .verified))"' <<<"$LAST")"
expect_fail "mona, a manager of the programme but no party of the group's agreement, gets none of its record" \
	1 forbidden as mona midterm show "$group" "$c_mid"
expect_ok "pia reads the diary" as pia --json diary show "$m_mid"
expect_match "mona's remark, verified" '^true;Mona.s remark, slate-71;mona$' \
	"$(jq -r '[.verified, .remarks[0].text, .remarks[0].author] | map(tostring) | join(";")' <<<"$LAST")"
expect_ok "mona keeps her manager ops: the audit of the programme" \
	to_file "$T/maudit.json" as mona --json audit --programme "$prog"
expect_match "figures for both rooms" '^2$' "$(jq -r '.rooms | length' "$T/maudit.json")"
expect_absent "and no text of her own room in them" "opal-66" "$T/maudit.json"
# a room she is not a member of: refused by the SQL (the second lock; every
# member op's answer to a seated manager is in the Node matrix test)
expect_fail "mona reads no message of the group" 1 'not a member|not_member' as mona read "$group"
expect_fail "nor its diary" 1 'not_found|no such' as mona diary show "$c_init"
expect_fail "nor its plan" 1 'not_found|no such room' as mona meeting plan "$group"
# a manager without a seat: refused by the role table (the first lock), as before
expect_fail "maria (no seat) reads no message of mona's room" 1 forbidden as maria read "$mroom"
expect_fail "nor its diary" 1 forbidden as maria diary show "$m_mid"
pg_dump --no-owner "$DB" >"$T/dump2.sql"
leaks=()
for s in opal-66 amber-67 onyx-68 jade-69 coral-70 slate-71 ivory-72 ivory-73 ivory-74 sable-81 sable-82 \
	sable-83 sable-84; do
	grep -qF -- "$s" "$T/dump2.sql" "$LOG" && leaks+=("$s")
done
expect_match "pg_dump and the log hold none of the manager-mentor's and programme 2's texts" '^$' "${leaks[*]}"

e2e_summary
