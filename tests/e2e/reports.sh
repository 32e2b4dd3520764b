#!/usr/bin/env bash
# tests/e2e/reports.sh - concern reports (PROTOCOL.md section 13) with real
# processes: a real ementord over TLS on a fresh database and the real CLI,
# one home directory per person.
#
# What it shows: lea quotes two of sam's messages of their pair room to the
# programme's manager with a note; maria's client verifies each quoted
# message against sam's signature without any room key, and shows the note;
# sam (a member) and a manager of another programme see no report and cannot
# open it; maria acknowledges, takes action and closes it, and lea sees each
# step with maria's verified note; the audit counts the open reports; a
# change request needs no quoted message. A hostile server: a report whose
# stored bytes were altered, one moved to another room, and a handling state
# changed in the database all fail verification in the reader's client,
# which shows no forged text; pg_dump and the log hold no reported text or note.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

e2e_serve
psql_q() { psql --no-psqlrc -qtAX "$DB" -c "$1"; }

# --- people and rooms: pair room 1 (sam, lea), pair room 2 (sam, ola) -----------------
pair_room "Care 2027"
code="$(invite 1 mentee)"
expect_ok "ola registers" as ola register --invite "$code" --username ola
expect_ok "pair room 2: sam and ola" as maria room create --programme 1 --kind pair --member sam --member ola
sign_room 2 maria sam ola
# another programme and its manager, who has nothing to do with programme 1
expect_ok "maria makes programme 2" \
	as maria programme create --name "Other 2027" --starts 2027-01-01 --ends 2027-12-31
expect_ok "olek registers as a manager of programme 2" \
	as olek register --invite "$(invite 2 manager)" --username olek

SAM_1="sam says something worrying kestrel-41"
SAM_2="sam says more of it plover-77"
LEA_1="lea answers calmly"
NOTE="lea is worried about these messages ibis-93"
expect_ok "sam writes in room 1" as sam send 1 "$SAM_1"
expect_ok "lea writes in room 1" as lea send 1 "$LEA_1"
expect_ok "sam writes again in room 1" as sam send 1 "$SAM_2"
expect_ok "sam writes in room 2" as sam send 2 "sam to ola in room 2"
expect_ok "lea reads room 1" to_file "$T/read.json" as lea --json read 1
expect_match "three messages, seq 1-3" '^1,2,3$' "$(jq -r '[.[].seq] | join(",")' "$T/read.json")"

# --- reporting ----------------------------------------------------------------------
expect_fail "a report needs a note" 2 "note" as lea report create 1 --seq 1,3
expect_fail "a message that does not exist cannot be quoted" 1 "no message 9" \
	as lea report create 1 --seq 9 --note "$NOTE"
expect_fail "olek is no member of room 1: the server refuses him" 1 "not a member|not_member|not_found|forbidden" \
	as olek report create 1 --seq 1 --note "not mine"
expect_ok "lea reports messages 1 and 3" to_file "$T/create.json" \
	as lea --json report create 1 --seq 1,3 --note "$NOTE"
expect_match "report 1, two messages, sealed to maria" '^1 2 maria$' \
	"$(jq -r '"\(.report_id) \(.messages) \(.readers | join(","))"' "$T/create.json")"
expect_ok "lea's list shows it, open" to_file "$T/lea_list.json" as lea --json report list
expect_match "open, a concern" '^1 open concern$' \
	"$(jq -r '.reports[] | "\(.report_id) \(.state) \(.kind)"' "$T/lea_list.json")"

# --- the manager verifies -----------------------------------------------------------
expect_ok "maria opens report 1" to_file "$T/show.json" as maria --json report show 1
expect_match "the report verifies, by lea, with her note" "^true lea $NOTE\$" \
	"$(jq -r '"\(.verified) \(.reporter) \(.note)"' "$T/show.json")"
expect_match "both messages verify as sam's, with their text" "^1:true:sam:$SAM_1|3:true:sam:$SAM_2\$" \
	"$(jq -r '[.messages[] | "\(.seq):\(.verified):\(.sender):\(.text)"] | join("|")' "$T/show.json")"
expect_absent "lea's own message (not quoted) is not in the report" "$LEA_1" "$T/show.json"
expect_ok "maria's plain view" as maria report show 1
expect_match "printed as verified" "#1 sam .*verified: $SAM_1" "$LAST"

# --- who else learns of it ----------------------------------------------------------
expect_ok "sam's list" to_file "$T/sam_list.json" as sam --json report list
expect_match "sam (a member of the room) sees no report" '^0$' "$(jq -r '.reports | length' "$T/sam_list.json")"
expect_fail "sam cannot open report 1" 1 "not_found|no report" as sam report show 1
expect_fail "olek (a manager of another programme) cannot open it" 1 "not_found|no report" as olek report show 1
expect_fail "sam cannot handle it" 1 "forbidden|may not|not_found|no report" as sam report handle 1 --state closed
expect_fail "olek cannot handle it" 1 "not_found|no report" as olek report handle 1 --state closed

# --- the audit counts open reports ----------------------------------------------------
expect_ok "maria's audit of room 1" to_file "$T/audit1.json" as maria --json audit --room 1
expect_match "1 open report of 1" '^1 1 1$' \
	"$(jq -r '"\(.rooms[] | select(.room_id == 1) | .reports | "\(.open) \(.total)") \(.summary.reports_open)"' "$T/audit1.json")"
expect_absent "the audit holds no report text" "kestrel-41" "$T/audit1.json"
expect_ok "maria's plain audit" as maria audit --programme 1
expect_match "names the open report" "Reports: +1 concern report\(s\) open" "$LAST"

# --- handling, visible to the reporter ----------------------------------------------
expect_ok "maria acknowledges" as maria report handle 1 --state acknowledged --note "seen, talking to sam heron-55"
expect_ok "lea sees the acknowledgement" to_file "$T/lea1.json" as lea --json report show 1
expect_match "acknowledged, maria's note verified" '^acknowledged acknowledged:true:maria:seen, talking to sam heron-55$' \
	"$(jq -r '"\(.state) \([.actions[] | "\(.state):\(.verified):\(.manager):\(.note)"] | join("|"))"' "$T/lea1.json")"
expect_ok "maria takes action" as maria report handle 1 --state action_taken --note "spoke with sam"
expect_ok "maria closes it" as maria report handle 1 --state closed --note "resolved"
expect_fail "a closed report takes no more steps" 1 "closed" as maria report handle 1 --state acknowledged
expect_ok "lea's plain view" as lea report show 1
expect_match "three steps, closed" "report 1 .*: closed" "$LAST"
expect_match "with maria's notes" "action_taken by maria: spoke with sam" "$LAST"
expect_ok "maria's audit again" to_file "$T/audit2.json" as maria --json audit --room 1
expect_match "no open report, 1 in all" '^0 1$' \
	"$(jq -r '.rooms[] | select(.room_id == 1) | .reports | "\(.open) \(.total)"' "$T/audit2.json")"

# --- a change request (re-matching), with no quoted message ---------------------------
expect_ok "ola asks privately to change group" to_file "$T/cr.json" \
	as ola --json report create 2 --change-request --note "ola would like another mentor"
expect_ok "maria reads it" to_file "$T/cr_show.json" as maria --json report show "$(jq -r .report_id "$T/cr.json")"
expect_match "a verified change request from ola" '^true change_request ola 0$' \
	"$(jq -r '"\(.verified) \(.kind) \(.reporter) \(.messages | length)"' "$T/cr_show.json")"

# --- a hostile server -----------------------------------------------------------------
expect_ok "lea reports message 3 again" to_file "$T/create2.json" \
	as lea --json report create 1 --seq 3 --note "second report"
R2="$(jq -r .report_id "$T/create2.json")"
# the server moves report R2 to room 2 (where sam also writes): the signed context names room 1
psql_q "UPDATE reports SET room_id = 2 WHERE id = $R2" >/dev/null
expect_fail "a report moved to another room fails verification" 1 "UNVERIFIABLE" as maria report show "$R2"
expect_match "altered or moved" "altered or moved" "$LAST"
expect_absent "and shows no quoted text" "plover-77" <(printf '%s' "$LAST")
psql_q "UPDATE reports SET room_id = 1 WHERE id = $R2" >/dev/null
expect_ok "back in place it verifies" as maria report show "$R2"
# the server flips a byte in the sealed report
psql_q "UPDATE reports SET blob = set_byte(blob, length(blob) - 80, get_byte(blob, length(blob) - 80) # 1) WHERE id = $R2" >/dev/null
expect_fail "a report whose stored bytes were altered fails verification" 1 "UNVERIFIABLE" \
	as maria report show "$R2"
expect_ok "maria's JSON view of it" to_file "$T/forged.json" as maria --json report show "$R2"
expect_match "not verified, no messages, no note" '^false 0 null$' \
	"$(jq -r '"\(.verified) \(.messages // [] | length) \(.note)"' "$T/forged.json")"
# the server says report 1's first step was a closing one: maria signed "acknowledged"
psql_q "UPDATE report_actions SET state = 'closed' WHERE report_id = 1 AND state = 'acknowledged'" >/dev/null
expect_fail "a handling state changed by the server fails verification" 1 "UNVERIFIABLE" as lea report show 1
expect_match "the step is flagged" "closed by maria UNVERIFIABLE" "$LAST"

# --- the database holds no reported text or note ---------------------------------------
pg_dump --no-owner "$DB" >"$T/dump.sql"
leaks=0
for text in "$SAM_1" "$SAM_2" "$NOTE" "heron-55" "spoke with sam" "another mentor" '"fk":' '"note":'; do
	if grep -qF -- "$text" "$T/dump.sql" "$LOG"; then
		not_ok "pg_dump and the log hold no '$text'"
		leaks=$((leaks + 1))
	fi
done
expect_match "no reported text or note in pg_dump or the log (8 strings)" '^0$' "$leaks"
expect_match "the dump does hold the report rows (the grep finds what is there)" '^1$' \
	"$(grep -cE '^COPY public\.reports ' "$T/dump.sql")"

e2e_summary
