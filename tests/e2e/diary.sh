#!/usr/bin/env bash
# tests/e2e/diary.sh - the diary after every meeting with real processes: a
# real ementord over TLS on a fresh database, the real ementor CLI, psql for
# what a hostile server does to its rows, pg_dump for what it holds. The
# server's clock moves by a reload of its clock-offset (SIGHUP), as in audit.sh.
#
# What it shows: a group room (a mentor, three mentees) whose initial meeting
# is confirmed and recorded held: the server suggests a writer (the first
# mentee by join order), the group picks another, a mentee who is not the
# writer is refused, the writer writes and corrects (a second version), the
# mentor is told and remarks, a mentee cannot remark, every member reads the
# entry and the remark decrypted and verified; the writer cannot be changed
# once written; a pair room where only the mentee writes (the mentor cannot,
# nor pick another writer); a held meeting with no entry reminds its writer a
# day later, once; a manager and a non-member are refused; a record the
# server moves to another meeting or room, renumbers, or credits to another
# author is shown as unverifiable; the audit counts entries and remarks; a
# pg_dump holds no diary or remark text; the writer's export lists her records.
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
# later N: the server's clock moves N seconds on, by a reload
later() {
	local reloads
	reloads="$(grep -c 'reloaded ' "$LOG" || true)"
	OFFSET=$((OFFSET + $1))
	printf 'clock-offset = %s\n' "$OFFSET" >"$CONF"
	kill -HUP "$EM_SERVER_PID"
	for _ in $(seq 1 100); do
		(($(grep -c 'reloaded ' "$LOG" || true) > reloads)) && return 0
		sleep 0.05
	done
	not_ok "the server reloads its clock-offset"
}
sql() { psql --no-psqlrc -qtA "$DB" -c "$1"; }

# --- people, a group and a pair --------------------------------------------------
expect_ok "manager registers" as maria register --invite "$(first_invite)" --username maria
expect_ok "manager creates a programme starting today" \
	as maria programme create --name "Diaries" --starts "$day0" --ends "$(day 90)"
prog="$(as maria --json programme list | jq -er '.programmes[0].id')"
expect_ok "mentor tom registers" as tom register --invite "$(invite "$prog" mentor)" --username tom
for who in gm1 gm2 gm3 mia ola; do
	expect_ok "mentee $who registers" as "$who" register --invite "$(invite "$prog" mentee)" --username "$who"
done
group="$(as maria --json room create --programme "$prog" --kind group --name "Group D" \
	--member tom --member gm1 --member gm2 --member gm3 | jq -er .room.id)"
pair="$(as maria --json room create --programme "$prog" --kind pair --member tom --member mia |
	jq -er .room.id)"
expect_match "a group room and a pair room (the same mentor) exist" '^[0-9]+ [0-9]+$' "$group $pair"
sign_room "$group" maria tom gm1 gm2 gm3
sign_room "$pair" maria tom mia
expect_ok "the group talks first (its first key epoch)" as gm1 send "$group" "hello group"
expect_ok "the pair talks first" as mia send "$pair" "hello pair"

cp_id() { as "$1" --json checkpoint list "$2" | jq -er ".checkpoints[] | select(.kind == \"$3\") | .id"; }
g_init="$(cp_id tom "$group" initial)"
g_mid="$(cp_id tom "$group" midterm)"
p_init="$(cp_id tom "$pair" initial)"

# --- before the meeting is held --------------------------------------------------
expect_fail "no diary before the meeting is held" 1 bad_state \
	as gm1 diary write "$g_init" "too early"

# --- the initial meetings: proposed, confirmed, held -----------------------------
T1="$(day 1)T10:00Z"
expect_ok "the mentor proposes the group's initial meeting" \
	as tom checkpoint propose "$g_init" --at "$T1" --minutes 60 --place "Room 1"
slot="$(as tom --json checkpoint list "$group" | jq -er ".checkpoints[] | select(.id == $g_init) | .slots[0].id")"
for who in gm1 gm2 gm3; do
	expect_ok "$who accepts" as "$who" checkpoint accept "$slot"
done
expect_ok "the mentor proposes the pair's initial meeting" \
	as tom checkpoint propose "$p_init" --at "$(day 1)T12:00Z" --minutes 60 --place "Cafe"
pslot="$(as tom --json checkpoint list "$pair" | jq -er ".checkpoints[] | select(.id == $p_init) | .slots[0].id")"
expect_ok "the pair's mentee accepts" as mia checkpoint accept "$pslot"
expect_ok "a writer is chosen at the start of the meeting, before it is recorded" \
	as tom --json diary writer "$g_init"
# to day 1 13:30, after both meetings
later $(($(date -u -d "$(day 1) 13:30" +%s) - $(date -u +%s)))
expect_ok "the mentor records the group's meeting held" \
	as tom checkpoint attendance "$g_init" --held --present gm1,gm2,gm3
expect_ok "the mentor records the pair's meeting held" \
	as tom checkpoint attendance "$p_init" --held --present mia

# --- the writer: suggested, then chosen by the group -----------------------------
expect_ok "writer of the group's meeting" as gm3 --json diary writer "$g_init"
expect_match "the server suggests gm1, first by join order, not chosen yet" \
	'^gm1 gm1 false$' "$(jq -r '[.writer.username, .suggested.username, .chosen] | join(" ")' <<<"$LAST")"
expect_fail "a mentee of another room cannot see it" 1 not_found \
	as mia diary writer "$g_init"
expect_fail "the writer must be a mentee of the room" 1 wrong_role \
	as gm3 diary writer "$g_init" --set tom
expect_ok "the group picks gm2 (gm3 sets it)" as gm3 --json diary writer "$g_init" --set gm2
expect_match "gm2 writes, chosen by gm3" '^gm2 true gm3$' \
	"$(jq -r '[.writer.username, .chosen, .set_by] | join(" ")' <<<"$LAST")"
expect_ok "gm2 is told" as gm2 notices
expect_match "with a diary.writer notice" 'chose you to write the diary' "$LAST"

ENTRY1="Diary one: we agreed our goals, pumpkin-seventeen"
ENTRY2="Diary corrected: we agreed our goals and the plan, walnut-forty-two"
REMARK="Remark from the mentor: good start, marble-ninety"
expect_fail "gm1, not the writer, is refused" 1 forbidden \
	as gm1 diary write "$g_init" "I am not the writer"
expect_fail "the mentor cannot write the entry" 1 forbidden \
	as tom diary write "$g_init" "mentor entry"
expect_ok "gm2 writes the entry" as gm2 diary write "$g_init" "$ENTRY1"
expect_match "as version 1" 'entry version 1 of meeting' "$LAST"
expect_ok "the mentor is told the diary is written" as tom --json notices
expect_match "with a diary.written notice for this meeting" "\"diary.written\"" "$LAST"
expect_ok "gm2 corrects it (from standard input)" bash -c \
	"printf '%s\n' '$ENTRY2' | '$BIN/ementor' --home '$T/home/gm2' diary write $g_init"
expect_match "as version 2" 'entry version 2 of meeting' "$LAST"
expect_fail "the writer cannot be changed once the entry is written" 1 bad_state \
	as tom diary writer "$g_init" --set gm3

# --- remarks -----------------------------------------------------------------------
expect_ok "the mentor remarks" as tom diary remark "$g_init" "$REMARK"
expect_match "remark 1" 'remark 1 of meeting' "$LAST"
expect_fail "a mentee cannot remark" 1 forbidden as gm1 diary remark "$g_init" "mentee remark"
expect_ok "the writer hears of the remark" as gm2 notices
expect_match "a diary.remarked notice" 'added a remark' "$LAST"

# --- every member reads it, decrypted and verified --------------------------------
for who in tom gm1 gm2 gm3; do
	expect_ok "$who reads the diary" as "$who" --json diary show "$g_init"
	expect_match "$who sees the corrected entry, the first version and the remark, verified" \
		"^true;$ENTRY2;$ENTRY1;$REMARK;gm2;tom\$" \
		"$(jq -r '[.verified, .entry.text, .entries[0].text, .remarks[0].text, .entry.author, .remarks[0].author] | map(tostring) | join(";")' <<<"$LAST")"
done
expect_ok "the human view prints it" as gm3 diary show "$g_init"
expect_match "with the writer and the remark" "writer: gm2.*" "$(tr '\n' ' ' <<<"$LAST")"
expect_ok "the room's diary list counts versions and remarks" as gm1 --json diary list "$group"
expect_match "2 versions, 1 remark for the initial meeting" "^$g_init 2 1\$" \
	"$(jq -r ".meetings[] | select(.checkpoint_id == $g_init) | [.checkpoint_id, .entry_versions, .remarks] | join(\" \")" <<<"$LAST")"

# --- who may not ------------------------------------------------------------------
expect_fail "the manager cannot read a diary" 1 forbidden as maria diary show "$g_init"
expect_fail "nor list one" 1 forbidden as maria diary list "$group"
expect_fail "a mentee of no room cannot read it" 1 not_found as ola diary show "$g_init"
expect_fail "the pair's mentee cannot read the group's diary" 1 not_found as mia diary show "$g_init"
expect_fail "nor list the group's diaries" 1 not_found as mia diary list "$group"

# --- the pair: the mentee writes; a day later a reminder if not -------------------
expect_ok "the pair's writer" as mia --json diary writer "$p_init"
expect_match "is the mentee" '^mia true$' "$(jq -r '[.writer.username, .chosen] | join(" ")' <<<"$LAST")"
expect_fail "a pair has no choice of writer" 1 bad_state as tom diary writer "$p_init" --set mia
expect_fail "the pair's mentor cannot write its entry" 1 forbidden as tom diary write "$p_init" "no"
expect_ok "no reminder yet (less than a day)" as mia --json notices
expect_match "none about the diary" '^0$' "$(jq '[.notices[] | select(.kind == "diary.missing")] | length' <<<"$LAST")"
later 90000 # 25 hours
missing() { [[ "$(sql "SELECT count(*) FROM notices WHERE kind = 'diary.missing'")" -ge 1 ]]; }
wait_until 30 missing || true
expect_ok "a day later the pair's mentee has a reminder" as mia notices
expect_match "that the diary is not written" "Diary reminder: the initial meeting of room $pair" "$LAST"
sleep 3 # a few scheduler ticks (--scheduler-interval 1): a second reminder would show
expect_match "one reminder only, for the pair's meeting alone" "^1 $p_init\$" \
	"$(sql "SELECT count(*), string_agg(data->>'checkpoint_id', ',') FROM notices WHERE kind = 'diary.missing'" | tr '|' ' ')"
PAIRTEXT="Pair diary: first steps agreed, tangerine-thirty"
expect_ok "the pair's mentee writes" as mia diary write "$p_init" "$PAIRTEXT"
expect_ok "the mentor reads it" as tom --json diary show "$p_init"
expect_match "decrypted and verified" "^true;$PAIRTEXT\$" "$(jq -r '[.verified, .entry.text] | map(tostring) | join(";")' <<<"$LAST")"

# --- the audit counts, never reads ------------------------------------------------
expect_ok "the manager's audit of the group" as maria --json audit --room "$group"
expect_match "counts the diary: 1 meeting, 2 versions, 1 remark" '^1 2 1$' \
	"$(jq -r '.rooms[0].diary | [.meetings, .entry_versions, .remarks] | join(" ")' <<<"$LAST")"
printf '%s\n' "$LAST" >"$T/audit.json"
expect_absent "the audit holds no diary text" "walnut" "$T/audit.json"

expect_ok "the writer's export" as gm2 export --output "$T/gm2-export.json"
expect_match "lists the two entry versions she wrote and the meeting she was chosen for" \
	"^2 entry 2 $g_init\$" \
	"$(jq -r '[(.diary | length), .diary[0].kind, .diary[1].number, .diary_writer_of[0]] | map(tostring) | join(" ")' "$T/gm2-export.json")"

# --- a hostile server: moves, renumbers, re-attributes ----------------------------
gm1_id="$(sql "SELECT id FROM users WHERE username = 'gm1'")"
entry2="$(sql "SELECT id FROM diary_records WHERE checkpoint_id = $g_init AND kind = 'entry' AND number = 2")"
remark1="$(sql "SELECT id FROM diary_records WHERE checkpoint_id = $g_init AND kind = 'remark'")"
sql "UPDATE diary_records SET checkpoint_id = $g_mid WHERE id = $entry2" >/dev/null
expect_ok "an entry moved to another meeting of the room is shown" as gm3 --json diary show "$g_mid"
expect_match "as unverifiable, with no text" '^false;null;\(UNVERIFIABLE' \
	"$(jq -r '[.verified, .entries[0].text, .entries[0].error] | map(tostring) | join(";")' <<<"$LAST")"
expect_ok "the human view says so" as gm3 diary show "$g_mid"
expect_match "loudly" 'UNVERIFIABLE.*WARNING: some records did not verify' "$(tr '\n' ' ' <<<"$LAST")"
sql "UPDATE diary_records SET checkpoint_id = $g_init, author_id = $gm1_id WHERE id = $entry2" >/dev/null
expect_ok "an entry credited to another author" as gm3 --json diary show "$g_init"
expect_match "is unverifiable" '^false;\(UNVERIFIABLE' \
	"$(jq -r '[.verified, .entries[1].error] | map(tostring) | join(";")' <<<"$LAST")"
expect_match "and the latest verified entry is version 1" "$ENTRY1" "$(jq -r .entry.text <<<"$LAST")"
sql "UPDATE diary_records SET author_id = (SELECT id FROM users WHERE username = 'gm2') WHERE id = $entry2" >/dev/null
sql "UPDATE diary_records SET number = 3 WHERE id = $entry2" >/dev/null
expect_ok "a renumbered version" as gm3 --json diary show "$g_init"
expect_match "is unverifiable" '^false;\(UNVERIFIABLE' \
	"$(jq -r '[.verified, .entries[1].error] | map(tostring) | join(";")' <<<"$LAST")"
sql "UPDATE diary_records SET number = 2 WHERE id = $entry2" >/dev/null
sql "UPDATE diary_records SET checkpoint_id = $p_init, room_id = $pair WHERE id = $remark1" >/dev/null
expect_ok "the mentor's remark moved into the pair room (tom is in both)" as tom --json diary show "$p_init"
expect_match "is unverifiable there" '^false;\(UNVERIFIABLE' \
	"$(jq -r '[.verified, .remarks[0].error] | map(tostring) | join(";")' <<<"$LAST")"
sql "UPDATE diary_records SET checkpoint_id = $g_init, room_id = $group WHERE id = $remark1" >/dev/null
expect_ok "put back, everything verifies again" as gm1 --json diary show "$g_init"
expect_match "verified" "^true;$ENTRY2\$" "$(jq -r '[.verified, .entry.text] | map(tostring) | join(";")' <<<"$LAST")"

# --- what the server holds ----------------------------------------------------------
pg_dump --no-owner "$DB" >"$T/dump.sql"
expect_match "the dump holds the diary rows" 'COPY public.diary_records' "$(cat "$T/dump.sql")"
for secret in pumpkin-seventeen walnut-forty-two marble-ninety tangerine-thirty; do
	expect_absent "pg_dump holds no '$secret'" "$secret" "$T/dump.sql"
	expect_absent "the server's log holds no '$secret'" "$secret" "$LOG"
done

e2e_summary
