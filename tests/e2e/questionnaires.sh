#!/usr/bin/env bash
# tests/e2e/questionnaires.sh - the initial and final monitoring
# questionnaires and the progress shared under share_progress (PROTOCOL.md
# section 11) with real processes: a real ementord over TLS on a fresh
# database and the real CLI, one home directory per person.
#
# What it shows: the built-in questionnaires in English and, for a programme
# in Polish, in Polish; the manager edits the initial one (a new signed
# version); mentees of a group room answer the initial and the final
# questionnaire, sealed to the manager party of their room's agreement; the
# manager's client shows per-question aggregates and each mentee's
# initial-versus-final comparison; the mentor and the other mentees cannot
# read answers (the server refuses them, and nothing is sealed to them);
# refusals (the mentor answering, a second answer, an answer outside a
# scale); share_progress granted: the manager sees new ratings and goal
# statuses; withdrawn: new ones are not shared (earlier ones stay); a
# pg_dump holds none of the answers, ratings or goal statuses.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

e2e_serve

# --- people and rooms ----------------------------------------------------------
expect_ok "manager registers" as maria register --invite "$(first_invite)" --username maria
expect_ok "manager creates a programme" \
	as maria programme create --name "Monitoring 2027" --starts 2027-01-01 --ends 2027-12-31
for who in sam:mentor lea:mentee ola:mentee kim:mentee; do
	code="$(invite 1 "${who#*:}")"
	expect_ok "${who%%:*} registers" as "${who%%:*}" register --invite "$code" --username "${who%%:*}"
done
# a second manager of the programme, added by the server's rules but no party of room 1's agreement
expect_ok "mallory registers as a second manager of programme 1" \
	as mallory register --invite "$(invite 1 manager)" --username mallory
expect_ok "group room 1: sam, lea, ola, kim" \
	as maria room create --programme 1 --kind group --name "Group" \
	--member sam --member lea --member ola --member kim

# --- no anchor yet: no agreement signed, nothing is sealed ---------------------------
expect_fail "before the agreement is signed, lea's client refuses to seal answers" 1 \
	"no agreement signed|names the programme's managers" \
	as lea questionnaire answer --room 1 --stage initial --answer position=5
sign_room 1 maria sam lea ola kim

# --- the questionnaires ---------------------------------------------------------------
expect_ok "lea sees the built-in initial questionnaire" \
	to_file "$T/show_default.json" as lea --json questionnaire show --room 1 --stage initial
expect_match "version 0, the English default, with the course's questions" '^0 true en .*strengths.*weaknesses.*share' \
	"$(jq -r '"\(.version) \(.default) \(.lang) \([.questions[].id] | join(","))"' "$T/show_default.json")"
cat >"$T/initial.json" <<'JSON'
{"title": "Initial questionnaire, Monitoring 2027",
 "questions": [
  {"id": "expectations", "kind": "text", "text": "What do you expect from the mentoring?"},
  {"id": "position", "kind": "scale", "text": "Where are you on the 4-10 scale?", "min": 4, "max": 10},
  {"id": "confidence", "kind": "scale", "text": "How confident are you? (1-5)", "min": 1, "max": 5},
  {"id": "format", "kind": "choice", "text": "How do you want to meet?", "options": ["face to face", "online", "both"]}
 ]}
JSON
expect_fail "the mentor cannot edit a questionnaire" 1 "may not use questionnaire.set" \
	as sam questionnaire edit --programme 1 --stage initial --file "$T/initial.json"
printf '{"title":"bad","questions":[{"id":"x","kind":"scale","text":"?","min":5,"max":4}]}' >"$T/bad.json"
expect_fail "a scale with min above max is refused by the client" 2 "scale" \
	as maria questionnaire edit --programme 1 --stage initial --file "$T/bad.json"
expect_ok "maria edits the initial questionnaire" as maria questionnaire edit --programme 1 --stage initial --file "$T/initial.json"
expect_ok "lea sees version 1, signed by maria" \
	to_file "$T/show_v1.json" as lea --json questionnaire show --room 1 --stage initial
expect_match "version 1 signed by maria" '^1 maria 4$' \
	"$(jq -r '"\(.version) \(.signed_by) \(.questions | length)"' "$T/show_v1.json")"

# --- answers --------------------------------------------------------------------------
LEA_INITIAL="lea expects clarity about careers heron-51"
OLA_INITIAL="ola expects confidence in interviews falcon-73"
KIM_FINAL="kim gained a network of peers otter-12"
LEA_FINAL="lea gained a plan for the year lynx-64"
expect_ok "lea answers the initial questionnaire" to_file "$T/lea_answer.json" \
	as lea --json questionnaire answer --room 1 --stage initial --answer "expectations=$LEA_INITIAL" \
	--answer position=5 --answer confidence=2 --answer "format=online"
expect_match "sealed to lea and maria only" '^lea,maria 1$' \
	"$(jq -r '"\(.readers | sort | join(",")) \(.q_version)"' "$T/lea_answer.json")"
expect_ok "ola answers the initial questionnaire" \
	as ola questionnaire answer --room 1 --stage initial --answer "expectations=$OLA_INITIAL" \
	--answer position=7 --answer confidence=4 --answer "format=online"
expect_ok "kim answers the initial questionnaire" \
	as kim questionnaire answer --room 1 --stage initial --answer position=6 --answer "format=both"
expect_fail "a second initial answer is refused" 1 "already" \
	as lea questionnaire answer --room 1 --stage initial --answer position=6
expect_fail "an answer outside the scale is refused by the client" 2 "from 4 to 10" \
	as lea questionnaire answer --room 1 --stage final --answer position=11
expect_fail "an unknown option is refused by the client" 2 "options" \
	as lea questionnaire answer --room 1 --stage final --answer recommend=perhaps
expect_fail "the mentor does not answer" 1 "mentee" \
	as sam questionnaire answer --room 1 --stage initial --answer position=6
expect_ok "lea answers the final (built-in) questionnaire" \
	as lea questionnaire answer --room 1 --stage final --answer "gained=$LEA_FINAL" \
	--answer position=8 --answer needs_met=4 --answer recommend=yes
expect_ok "kim answers the final questionnaire" \
	as kim questionnaire answer --room 1 --stage final --answer "gained=$KIM_FINAL" \
	--answer position=9 --answer needs_met=5 --answer recommend=yes

# --- who reads ------------------------------------------------------------------------
expect_fail "the mentor cannot list answers" 1 "forbidden|not" \
	as sam questionnaire results --programme 1
expect_ok "ola lists answers: only her own come back" to_file "$T/ola_results.json" \
	as ola --json questionnaire results --programme 1
expect_match "ola is handed 1 answer, her own (sealed to her as its author)" '^1 ola true$' \
	"$(jq -r '"\(.answers | length) \(.answers[0].username) \(.answers[0].verified)"' "$T/ola_results.json")"
expect_absent "ola's client shows no other mentee's text" "$LEA_INITIAL" "$T/ola_results.json"

# --- the manager's results ------------------------------------------------------------
expect_ok "maria's results" to_file "$T/results.json" as maria --json questionnaire results --programme 1
expect_match "5 answers, all verified" '^5 5$' \
	"$(jq -r '"\(.answers | length) \([.answers[] | select(.verified)] | length)"' "$T/results.json")"
expect_match "initial v1: 3 respondents, position mean 6 over 3, distribution 5:1 6:1 7:1" '^3 3 6 1 1 1 0$' \
	"$(jq -r '.aggregates[] | select(.stage == "initial" and .version == 1) |
		"\(.respondents) \(.questions[] | select(.id == "position") |
		"\(.n) \(.mean) \(.distribution["5"]) \(.distribution["6"]) \(.distribution["7"]) \(.distribution["4"])")"' "$T/results.json")"
expect_match "confidence mean 3 over 2 (kim skipped it)" '^2 3$' \
	"$(jq -r '.aggregates[] | select(.stage == "initial") | .questions[] | select(.id == "confidence") | "\(.n) \(.mean)"' "$T/results.json")"
expect_match "format counts: online 2, both 1, face to face 0" '^2 1 0$' \
	"$(jq -r '.aggregates[] | select(.stage == "initial") | .questions[] | select(.id == "format") |
		"\(.counts.online) \(.counts.both) \(.counts["face to face"])"' "$T/results.json")"
expect_match "the text answers are listed" "heron-51.*falcon-73" \
	"$(jq -r '.aggregates[] | select(.stage == "initial") | .questions[] | select(.id == "expectations") | [.answers[].text] | join(" ")' "$T/results.json")"
expect_match "final (built-in, v0): 2 respondents, needs_met mean 4.5" '^2 4.5$' \
	"$(jq -r '.aggregates[] | select(.stage == "final" and .version == 0) | "\(.respondents) \(.questions[] | select(.id == "needs_met") | .mean)"' "$T/results.json")"
expect_match "comparison: lea 5 -> 8 (+3), kim 6 -> 9 (+3); ola has no final" '^kim:6:9:3 lea:5:8:3$' \
	"$(jq -r '[.comparison[] | "\(.username):\(.questions[] | select(.id == "position") | "\(.initial):\(.final):\(.change)")"] | sort | join(" ")' "$T/results.json")"
expect_ok "mallory (a manager of the programme, not a party of room 1's agreement) asks for results" \
	to_file "$T/mallory_results.json" as mallory --json questionnaire results --programme 1
expect_match "the server hands her the 5 answers; her client reads none (she is no party of the agreement)" '^5 0 5$' \
	"$(jq -r '"\(.answers | length) \([.answers[] | select(.verified)] | length) \([.answers[] | select(.error | test("not sealed to you|not a party"))] | length)"' "$T/mallory_results.json")"
expect_absent "mallory's client shows no answer text" "$LEA_INITIAL" "$T/mallory_results.json"
expect_ok "maria's plain results" as maria questionnaire results --programme 1
expect_match "printed with the comparison" "initial vs final: lea" "$LAST"

psql_q() { psql --no-psqlrc -qtAX "$DB" -c "$1"; }

# --- a hostile server: a fake manager party ---------------------------------------------
# The server edits the stored questionnaire (signature no longer matches): lea's client refuses.
psql_q "UPDATE questionnaires SET doc = replace(doc, 'expect from', 'reveal about') WHERE version = 1" >/dev/null
expect_fail "a questionnaire the server altered is refused" 1 "altered" \
	as ola questionnaire show --room 1 --stage initial
expect_ok "maria's results after the alteration" to_file "$T/results2.json" as maria --json questionnaire results --programme 1
expect_match "the initial answers are unverifiable now (the questions under them changed)" '^3$' \
	"$(jq -r '[.answers[] | select(.stage == "initial" and .verified == false)] | length' "$T/results2.json")"

# --- share_progress ----------------------------------------------------------------------
expect_ok "lea rates herself without share_progress" to_file "$T/r1.json" \
	as lea --json rating add 1 --stage start --value 5 --date 2027-01-10
expect_match "not shared with the managers" '^false' "$(jq -r '.shared_with_managers.shared' "$T/r1.json")"
expect_ok "lea grants share_progress" as lea consent grant share_progress --programme 1
expect_ok "lea rates herself at the midterm" to_file "$T/r2.json" \
	as lea --json rating add 1 --stage midterm --value 7 --date 2027-06-10
expect_match "shared with maria" '^true lea,maria$' \
	"$(jq -r '"\(.shared_with_managers.shared) \(.shared_with_managers.readers | sort | join(","))"' "$T/r2.json")"
GOAL_TITLE="lea goal title never shared wren-38"
expect_ok "lea sets a personal goal (its status is shared, never its title)" \
	as lea goal add 1 --title "$GOAL_TITLE" --task "lea task never shared moth-4"
expect_ok "maria's progress view" to_file "$T/progress.json" as maria --json audit progress --programme 1
expect_match "lea: one rating (midterm 7) and one goal (open, 0/1 tasks)" '^midterm:7 open:0:1$' \
	"$(jq -r '.mentees[] | select(.username == "lea") | "\([.ratings[] | "\(.stage):\(.value)"] | join(",")) \([.goals[] | "\(.status):\(.tasks_done):\(.tasks)"] | join(","))"' "$T/progress.json")"
expect_absent "no goal title in the progress view" "wren-38" "$T/progress.json"
expect_ok "ola (not granted) rates herself" as ola rating add 1 --stage start --value 6 --date 2027-01-11
expect_fail "the mentor cannot see the progress view" 1 "forbidden|wrong_role|not" \
	as sam audit progress --programme 1
expect_ok "lea withdraws share_progress" as lea consent withdraw share_progress --programme 1
expect_ok "lea rates herself at the final stage" to_file "$T/r3.json" \
	as lea --json rating add 1 --stage final --value 9 --date 2027-12-10
expect_match "not shared after the withdrawal" '^false .*withdrew' \
	"$(jq -r '"\(.shared_with_managers.shared) \(.shared_with_managers.reason)"' "$T/r3.json")"
expect_ok "maria's progress view again" to_file "$T/progress2.json" as maria --json audit progress --programme 1
expect_match "still only the midterm rating of lea; nothing of ola" '^midterm:7 0$' \
	"$(jq -r '"\([.mentees[] | select(.username == "lea") | .ratings[] | "\(.stage):\(.value)"] | join(",")) \([.mentees[] | select(.username == "ola")] | length)"' "$T/progress2.json")"
expect_ok "maria's plain progress view" as maria audit progress --programme 1
expect_match "printed" "rating 2027-06-10 midterm +7" "$LAST"
# the server hides lea's withdrawal from her ledger (an attacker with the database drops the
# row): the server's own check now lets a share in, but lea's device remembers the withdrawal
psql_q "ALTER TABLE consent_ledger DISABLE TRIGGER USER;
	DELETE FROM consent_ledger WHERE purpose = 'share_progress' AND action = 'withdraw';
	ALTER TABLE consent_ledger ENABLE TRIGGER USER" >/dev/null
expect_match "the server believes share_progress granted again" '^t$' \
	"$(psql_q "SELECT share_progress_granted((SELECT id FROM users WHERE username = 'lea'), 1)")"
expect_ok "lea rates herself once more" to_file "$T/r4.json" \
	as lea --json rating add 1 --stage any --value 9 --date 2027-12-11
expect_match "her device does not share: the withdrawal is hidden" '^false .*hidden' \
	"$(jq -r '"\(.shared_with_managers.shared) \(.shared_with_managers.reason)"' "$T/r4.json")"
NSHARES="$(psql_q "SELECT count(*) FROM progress_shares")"
expect_match "two shares stored (the midterm rating and the goal)" '^2$' "$NSHARES"
expect_ok "maria's audit report" to_file "$T/audit.json" as maria --json audit --room 1
expect_match "the audit counts answers by stage and shares by kind (no content)" '^3 2 1 1$' \
	"$(jq -r '.rooms[] | select(.room_id == 1) | .questionnaires | "\(.initial) \(.final) \(.shared.ratings) \(.shared.goals)"' "$T/audit.json")"
expect_absent "the audit report holds no answer" "heron-51" "$T/audit.json"

# --- the database holds no answer, rating or status in the clear ---------------------------
pg_dump --no-owner "$DB" >"$T/dump.sql"
leaks=0
for text in "$LEA_INITIAL" "$OLA_INITIAL" "$KIM_FINAL" "$LEA_FINAL" "$GOAL_TITLE" "moth-4" \
	'"value":' '"status":' '"answers":' '"position":'; do
	if grep -qF -- "$text" "$T/dump.sql" "$LOG"; then
		not_ok "pg_dump and the log hold no '$text'"
		leaks=$((leaks + 1))
	fi
done
expect_match "no answer, rating value or status in pg_dump or the log (10 strings)" '^0$' "$leaks"
# the grep can fail: the questions themselves are stored in the clear, and are found
expect_match "the dump does hold the questionnaire's questions (the grep finds what is there)" \
	'^1$' "$(grep -cF 'How do you want to meet?' "$T/dump.sql")"

# --- Polish -------------------------------------------------------------------------------
expect_ok "maria creates a programme in Polish" \
	as maria programme create --name "Monitoring PL" --starts 2027-01-01 --ends 2027-12-31
expect_ok "its agreement template in Polish" as maria agreement template default 2 --lang pl
expect_ok "maria sees the Polish final questionnaire" to_file "$T/pl.json" \
	as maria --json questionnaire show --programme 2 --stage final
expect_match "in Polish" '^pl Końcowa' "$(jq -r '"\(.lang) \(.title)"' "$T/pl.json")"

e2e_summary
