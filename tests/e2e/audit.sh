#!/usr/bin/env bash
# tests/e2e/audit.sh - the programme manager's audit (PROTOCOL.md section 8)
# with real processes: a real ementord over TLS on a fresh database, the real
# ementor CLI with one home per person, the JavaScript client of
# tests/e2e/node for a registration that never logs in, psql for the
# messages' envelope times (the ground truth of response times) and python3's
# csv module as an independent CSV reader. Time moves by the server's
# clock-offset, in its configuration file: changed by a reload (SIGHUP) between
# messages (message times and read delays follow it: the database's
# ementor_now()), by a restart for the fifteen days; no test time is spent
# waiting for the seconds between messages.
#
# What it shows: a programme with three pair rooms, all agreements signed by
# all parties: "active" (mentee messages answered by the mentor after 2, 3
# and 4 seconds), "slow" (answered after 8 seconds), "silent" (no message),
# and a fourth room whose mentee registered but never logged in. Today the
# talking rooms are not inactive; with the clock 15 days on every room is
# flagged inactive; the active room's message counts per member are right and
# its mentor median is the one measured from the envelope, to within 5 %; the
# slow room's mentor median is larger; --csv parses with the documented header
# and one row per member; --json agrees with it; a mentee gets forbidden, a
# manager of another programme not_found for this programme and one of its
# rooms; the members of a room see each of the manager's views in `room
# access-log` (scope and format) while a member of another room gets
# not_found; `audit thresholds --inactive-days 60` lifts the inactive flags; a
# meeting recorded as missed gives missed_meeting, an agreement withdrawal
# consent_withdrawn, the mentee who never logged in never_logged_in; and no
# audit output (table, CSV, JSON) holds any message's plaintext.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

PY=python3
[[ -x /usr/bin/python3 ]] && PY=/usr/bin/python3

e2e_cert
DB="$(e2e_fresh_db)"
export EMENTOR_PASSWORD="correct horse battery"

day0="$(date -u +%Y-%m-%d)"
day() { date -u -d "$day0 + $1 days" +%Y-%m-%d; }

# start [offset]: (re)starts the server with its clock shifted by offset seconds
CONF="$T/ementord.conf"
OFFSET=0
start() {
	OFFSET="${1:-0}"
	printf 'clock-offset = %s\n' "$OFFSET" >"$CONF"
	em_server_stop
	em_server_start "$LOG" "$CERT" "$KEY" "$DB" --config "$CONF" || {
		not_ok "server starts"
		e2e_summary
	}
	export EMENTOR_SERVER="$EM_SERVER_URL" EMENTOR_URL="$EM_SERVER_URL"
}
# later N: the clock moves N seconds on, by a reload (waits for the server to say so)
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
start 0

sql() { psql --no-psqlrc -qtA "$DB" -c "$1"; }
# jsctl ARGS...: the JavaScript client's command line (tests/e2e/node/jsctl.mjs).
jsctl() { (cd "$NODE_DIR" && node jsctl.mjs "$@"); }

# --- people, a programme, four pair rooms -------------------------------------------
code="$(first_invite)"
expect_ok "the manager registers" as maria register --invite "$code" --username maria
expect_ok "the manager creates a 90-day programme starting today" \
	as maria programme create --name "Audit 2026" --starts "$day0" --ends "$(day 90)"
prog="$(as maria --json programme list | jq -r '.programmes[0].id')"
for who in sam tom una wes; do
	expect_ok "mentor $who registers" as "$who" register --invite "$(invite "$prog" mentor)" --username "$who"
done
for who in mia max nia; do
	expect_ok "mentee $who registers" as "$who" register --invite "$(invite "$prog" mentee)" --username "$who"
done
# a mentee who registers (with the JS client, which does not log in after
# registering) and never logs in
ghost_ok=0
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
	e2e_node
	expect_ok "mentee gil registers with the JS client and never logs in" \
		jsctl register --invite "$(invite "$prog" mentee)" --username gil
	ghost_ok=1
else
	echo "skip - no node or npm: no never-logged-in mentee"
fi

room_id() { as maria --json room create --programme "$prog" --kind pair "$@" | jq -r .room.id; }
active="$(room_id --name "Active pair" --member sam --member mia)"
slow="$(room_id --name "Slow pair" --member tom --member max)"
silent="$(room_id --name "Silent pair" --member una --member nia)"
expect_match "three pair rooms exist" '^[0-9]+ [0-9]+ [0-9]+$' "$active $slow $silent"
if ((ghost_ok)); then
	ghost="$(room_id --name "Ghost pair" --member wes --member gil)"
	expect_match "a fourth room for the mentee who never logs in" '^[0-9]+$' "$ghost"
fi
sign_room "$active" maria sam mia
sign_room "$slow" maria tom max
sign_room "$silent" maria una nia

# a manager of another programme
expect_ok "the manager creates a second programme" \
	as maria programme create --name "Elsewhere" --starts "$day0" --ends "$(day 90)"
prog2="$(as maria --json programme list | jq -r --arg p "$prog" '[.programmes[] | select((.id | tostring) != $p)][0].id')"
expect_ok "otto registers as a manager of the second programme only" \
	as otto register --invite "$(invite "$prog2" manager)" --username otto

# --- conversations, the clock moved between messages ----------------------------------
# Plaintexts carry a marker so that the audit outputs can be searched for them.
secret() { printf 'SECRET-%s-%s-plaintext' "$1" "$RANDOM$RANDOM"; }
SECRETS=()
say() {
	local who="$1" room="$2" text
	text="$(secret "$who")"
	SECRETS+=("$text")
	expect_ok "$who writes in room $room" as "$who" send "$room" "$text"
}
say mia "$active"
later 2
say sam "$active"
later 1
say mia "$active"
later 3
say sam "$active"
later 1
say mia "$active"
later 4
say sam "$active"
expect_ok "the mentee reads the active room (a receipt)" as mia read "$active"

say max "$slow"
later 8
say tom "$slow"
later 1
say max "$slow"
later 8
say tom "$slow"

# the silent room's initial meeting, confirmed for the day after tomorrow
expect_ok "the silent room's mentor proposes the initial meeting" \
	as una checkpoint propose "$silent" initial --at "$(day 2)T10:00Z" --minutes 60 --place "Library"
slot="$(as nia --json checkpoint list "$silent" | jq -r '.checkpoints[] | select(.kind == "initial") | .slots[0].id')"
expect_ok "the mentee accepts it" as nia checkpoint accept "$slot"

# --- today: who is talking ------------------------------------------------------------
report() { as maria --json audit --programme "$prog"; }
r0="$(report)"
expect_match "today the active room is not flagged inactive" '^false$' \
	"$(jq --argjson r "$active" '[.rooms[] | select(.room_id == $r) | .flags[].code] | index("inactive") != null' <<<"$r0")"
expect_match "today the slow room is active" '^true$' \
	"$(jq --argjson r "$slow" '.rooms[] | select(.room_id == $r) | .active' <<<"$r0")"

# --- fifteen days on ------------------------------------------------------------------
start $((OFFSET + 15 * 86400 + 3600))
out_dir="$T/out"
mkdir -p "$out_dir"
expect_ok "the manager runs the audit table" as maria audit --programme "$prog"
printf '%s\n' "$LAST" >"$out_dir/table.txt"
expect_match "the table has the programme summary" 'Programme [0-9]+ "Audit 2026"' "$LAST"
expect_match "the summary counts the rooms" "Rooms: +$((ghost_ok ? 4 : 3)), 0 active" "$LAST"
expect_match "the summary has the weekly trend" 'messages +([0-9]+ +){11}[0-9]+' "$LAST"
expect_match "the table has a line for the active room" "^$active Active pair +6 " "$LAST"
# widest line in characters (not bytes: a cut name ends in an ellipsis)
width() { "$PY" -c 'import sys; print(max(len(l.rstrip("\n")) for l in open(sys.argv[1], encoding="utf-8")))' "$1"; }
expect_match "the table stays within 100 columns" '^yes$' \
	"$( (($(width "$out_dir/table.txt") <= 100)) && echo yes || echo "no: $(width "$out_dir/table.txt")")"

expect_ok "the manager runs the audit as CSV" as maria audit --programme "$prog" --csv
printf '%s\n' "$LAST" >"$out_dir/report.csv"
expect_ok "the manager runs the audit as JSON" as maria audit --programme "$prog" --json
printf '%s\n' "$LAST" >"$out_dir/report.json"
rj="$LAST"
expect_ok "the manager audits the active room alone" as maria audit --programme "$prog" --room "$active"
printf '%s\n' "$LAST" >"$out_dir/room.txt"
expect_match "the one-room table has a line per member" 'mia +mentee +3 ' "$LAST"
expect_match "the one-room table fits in 100 columns" '^yes$' \
	"$( (($(width "$out_dir/room.txt") <= 100)) && echo yes || echo "no: $(width "$out_dir/room.txt")")"
expect_match "and the checkpoints in words" 'initial open, midterm open, final open' "$LAST"

flags_of() { jq -r --argjson r "$1" '[.rooms[] | select(.room_id == $r) | .flags[].code] | unique | join(",")' <<<"$2"; }
for r in "$active" "$slow" "$silent"; do
	expect_match "room $r is flagged inactive" '(^|,)inactive(,|$)' "$(flags_of "$r" "$rj")"
done
expect_match "the summary counts the inactive rooms" "^$((ghost_ok ? 4 : 3))\$" \
	"$(jq '.summary.flags.inactive' <<<"$rj")"

# the active room's figures
room_json() { jq --argjson r "$1" '.rooms[] | select(.room_id == $r)' <<<"$rj"; }
expect_match "the active room counts 6 messages" '^6$' "$(room_json "$active" | jq .messages)"
expect_match "3 by the mentor, 3 by the mentee" '^mia 3 sam 3$' \
	"$(room_json "$active" | jq -r '[.members[] | "\(.username) \(.messages)"] | sort | join(" ")')"
expect_match "the silent room counts none" '^0$' "$(room_json "$silent" | jq .messages)"
# the mentor's response times measured on the envelope (created_at of each
# mentor message after a mentee run, minus the start of that run); the median
# as the report defines it: the first value whose rank reaches half the count
measured_median() {
	sql "SELECT m.seq, extract(epoch FROM m.created_at), rm.role FROM messages m
	     JOIN room_members rm ON rm.room_id = m.room_id AND rm.user_id = m.sender_id
	     WHERE m.room_id = $1 ORDER BY m.seq" | "$PY" -c '
import math, sys
runs = []
for line in sys.stdin:
    seq, at, role = line.strip().split("|")
    if not runs or runs[-1][0] != role:
        runs.append((role, float(at)))
resp = sorted(b[1] - a[1] for a, b in zip(runs, runs[1:]) if b[0] == sys.argv[1])
print(resp[math.ceil(len(resp) / 2) - 1] if resp else "none")' "$2"
}
# (the report gives whole seconds: 5 % and half a second of rounding)
measured="$(measured_median "$active" mentor)"
got="$(room_json "$active" | jq '.response.mentor.median_s')"
expect_match "the active room's mentor median ($got s) is the measured one ($measured s) to within 5 %" '^yes$' \
	"$("$PY" -c 'import sys; w, g = float(sys.argv[1]), float(sys.argv[2]); print("yes" if abs(g - w) <= 0.05 * w + 0.5 else "no")' "$measured" "$got")"
expect_match "and at least the scripted 3 seconds, under 10" '^yes$' \
	"$("$PY" -c 'import sys; g = float(sys.argv[1]); print("yes" if 3 <= g < 10 else "no")' "$got")"
expect_match "the mentor answered 3 times" '^3$' "$(room_json "$active" | jq '.response.mentor.n')"
slow_got="$(room_json "$slow" | jq '.response.mentor.median_s')"
expect_match "the slow room's mentor median ($slow_got s) is larger than the active room's" '^yes$' \
	"$("$PY" -c 'import sys; print("yes" if float(sys.argv[1]) > float(sys.argv[2]) + 2 else "no")' "$slow_got" "$got")"
expect_match "the silent room has no response figures" '^null null$' \
	"$(room_json "$silent" | jq -r '"\(.response.mentor) \(.response.mentee)"')"

# the CSV, read by python's csv module, against the JSON
csv_check="$("$PY" - "$out_dir/report.csv" "$out_dir/report.json" <<'EOF'
import csv, json, sys
head = ["room_id", "room", "kind", "user", "role", "messages", "messages_last_week",
        "messages_per_week", "last_sent_at", "days_inactive", "never_logged_in", "agreement",
        "room_messages", "room_days_inactive", "mentor_median_s", "mentor_p90_s",
        "mentee_median_s", "mentee_p90_s", "read_median_s", "initial", "midterm", "final",
        "late_changes", "flags", "attended", "absent"]
with open(sys.argv[1], newline="") as f:
    rows = list(csv.reader(f))
rep = json.load(open(sys.argv[2]))
problems = []
if rows[0] != head:
    problems.append("header %r" % rows[0])
body = [dict(zip(rows[0], r)) for r in rows[1:] if r]
if any(len(r) != len(head) for r in rows if r):
    problems.append("ragged rows")
members = [(room, m) for room in rep["rooms"] for m in room["members"]]
if len(body) != len(members):
    problems.append("%d rows for %d members" % (len(body), len(members)))
for row, (room, m) in zip(body, members):
    if (int(row["room_id"]), row["user"], row["role"], int(row["messages"]),
        int(row["attended"]), int(row["absent"])) != \
       (room["room_id"], m["username"], m["role"], m["messages"], m["attended"], m["absent"]):
        problems.append("row %r != %s/%s" % (row, room["room_id"], m["username"]))
    codes = sorted(set(f["code"] for f in room["flags"]))
    if sorted(row["flags"].split(";")) != codes and not (row["flags"] == "" and not codes):
        problems.append("flags %r != %r" % (row["flags"], codes))
    mentor = (room["response"] or {}).get("mentor")
    if mentor and float(row["mentor_median_s"]) != float(mentor["median_s"]):
        problems.append("mentor median %r" % row["mentor_median_s"])
print("ok" if not problems else "; ".join(problems))
EOF
)"
expect_match "the CSV parses, has the header and one row per member, and agrees with the JSON" \
	'^ok$' "$csv_check"
expect_match "the CSV has CRLF line ends (RFC 4180)" '^yes$' \
	"$(grep -q $'\r$' "$out_dir/report.csv" && echo yes || echo no)"
expect_match "the JSON has the report's parts" '^programme,rooms,summary$' \
	"$(jq -r '[keys[] | select(. == "programme" or . == "summary" or . == "rooms")] | join(",")' <<<"$rj")"

# --- who may audit ---------------------------------------------------------------------
expect_fail "a mentee gets forbidden" 1 '\(forbidden\)' as mia audit
expect_fail "a mentor gets forbidden" 1 '\(forbidden\)' as sam audit --programme "$prog"
expect_fail "the other programme's manager gets not_found for this programme" 1 '\(not_found\)' \
	as otto audit --programme "$prog"
expect_fail "and for one of its rooms" 1 '\(not_found\)' as otto audit --room "$active"
expect_fail "and cannot change its thresholds" 1 '\(not_found\)' \
	as otto audit thresholds --programme "$prog" --inactive-days 30
expect_ok "otto audits his own programme" as otto audit
expect_fail "the manager of two programmes must say which" 1 '\(bad_value\)' as maria audit

# --- the access trail -----------------------------------------------------------------
expect_ok "the active room's mentee reads its access log" as mia room access-log "$active"
log_text="$LAST"
expect_match "it shows the programme table view" 'maria +programme +table' "$log_text"
expect_match "the CSV view" 'maria +programme +csv' "$log_text"
expect_match "the JSON view" 'maria +programme +json' "$log_text"
expect_match "and the one-room view" 'maria +room +table' "$log_text"
expect_ok "the mentor reads it as JSON" as sam --json room access-log "$active"
expect_match "newest first: the one-room view" '^room table maria$' \
	"$(jq -r '.views[0] | "\(.scope) \(.format) \(.viewer)"' <<<"$LAST")"
expect_fail "a member of another room cannot" 1 '\(not_found\)' as nia room access-log "$active"
expect_ok "the silent room's mentee sees the programme views of her room" as nia room access-log "$silent"
expect_match "but not the one-room view of another room" '^0$' "$(grep -cE 'maria +room ' <<<"$LAST" || true)"

# --- thresholds and the other flags ---------------------------------------------------
expect_ok "the thresholds are shown" as maria audit thresholds --programme "$prog"
expect_match "inactive after 14 days by default" 'after 14 days without a message' "$LAST"
expect_fail "an inactive threshold of 0 is refused by the CLI" 2 'from 1 to 365' \
	as maria audit thresholds --programme "$prog" --inactive-days 0
expect_ok "the manager raises the inactive threshold to 60 days" \
	as maria audit thresholds --programme "$prog" --inactive-days 60
expect_match "it is 60 now" 'after 60 days without a message' "$LAST"
rj="$(report)"
expect_match "no room is flagged inactive any more" '^0$' \
	"$(jq '[.rooms[].flags[] | select(.code == "inactive")] | length' <<<"$rj")"
expect_match "and the rooms are active again" '^true$' "$(jq '.summary.active_rooms == .summary.rooms' <<<"$rj")"

expect_ok "the silent room's mentor records the initial meeting as missed" \
	as una checkpoint attendance "$silent" initial --missed
expect_ok "the slow room's mentee withdraws her agreement consent" \
	as max consent withdraw agreement --room "$slow"
expect_ok "the audit after that" as maria audit --programme "$prog"
printf '%s\n' "$LAST" >"$out_dir/table2.txt"
expect_match "with more flags the table still fits in 100 columns" '^yes$' \
	"$( (($(width "$out_dir/table2.txt") <= 100)) && echo yes || echo "no: $(width "$out_dir/table2.txt")")"
rj="$(report)"
printf '%s\n' "$rj" >"$out_dir/report2.json"
expect_match "the silent room is flagged missed_meeting" '(^|,)missed_meeting(,|$)' "$(flags_of "$silent" "$rj")"
expect_match "the table lists it" "$silent Silent pair +missed_meeting: the initial meeting was missed" \
	"$(cat "$out_dir/table2.txt")"
expect_match "the slow room is flagged consent_withdrawn" '(^|,)consent_withdrawn(,|$)' "$(flags_of "$slow" "$rj")"
expect_match "the member shows as withdrawn" '^withdrawn$' \
	"$(jq -r --argjson r "$slow" '.rooms[] | select(.room_id == $r) | .members[] | select(.username == "max") | .agreement' <<<"$rj")"
expect_match "the active room has neither" '^$' \
	"$(flags_of "$active" "$rj" | grep -E 'missed_meeting|consent_withdrawn' || true)"
if ((ghost_ok)); then
	expect_match "the mentee who never logged in is flagged never_logged_in" '(^|,)never_logged_in(,|$)' \
		"$(flags_of "$ghost" "$rj")"
	expect_match "her row says so" '^true$' \
		"$(jq -r --argjson r "$ghost" '.rooms[] | select(.room_id == $r) | .members[] | select(.username == "gil") | .never_logged_in' <<<"$rj")"
	expect_match "nobody who logged in is flagged so" '^1$' \
		"$(jq '[.rooms[].flags[] | select(.code == "never_logged_in")] | length' <<<"$rj")"
fi
expect_ok "the CSV after that" as maria audit --programme "$prog" --csv
printf '%s\n' "$LAST" >"$out_dir/report2.csv"
expect_match "the CSV carries the flags" 'consent_withdrawn' "$LAST"

# --- confidentiality: no plaintext in any audit output -------------------------------
expect_match "${#SECRETS[@]} messages were sent" '^10$' "${#SECRETS[@]}"
leaks=0
for s in "${SECRETS[@]}"; do
	for f in "$out_dir"/*; do
		if grep -qF -- "$s" "$f"; then
			leaks=$((leaks + 1))
			echo "       $s found in $f"
		fi
	done
done
expect_match "no audit output (table, CSV, JSON) holds a message's plaintext" '^0$' "$leaks"
expect_match "nor any message marker at all" '^$' "$(grep -lF 'SECRET-' "$out_dir"/* || true)"

e2e_summary
