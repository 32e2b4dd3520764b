#!/usr/bin/env bash
# tests/e2e/checkpoints.sh - the three face-to-face checkpoints with real
# processes: a real ementord over TLS on a fresh database, the real ementor
# CLI, curl for the calendar feed and Debian's python3-icalendar as an
# independent iCalendar parser. Time moves by restarting the server with
# --clock-offset (the checkpoint clock), which also shows that reminders and
# checkpoint state survive restarts.
#
# What it shows: a pair and a group go through all three meetings (propose,
# accept, confirm, record, confirm own attendance); a non-member can neither
# see nor change a room's checkpoints; the mid-term is not confirmed until a
# manager accepts; a mentee cannot cancel; a slot outside the window or in the
# past is refused; a reschedule by the mentor less than 48 hours before the
# meeting is recorded as a late change; a reminder that fell due while the
# server was down is delivered after the restart, once; the calendar feed is
# valid iCalendar with stable UIDs, a SEQUENCE that grows on a reschedule and
# STATUS:CANCELLED for a cancellation; a revoked feed answers 404.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3 # Debian's python3, where python3-icalendar is installed
if ! "$PY" -c 'import icalendar' 2>/dev/null; then
	not_ok "python3-icalendar is installed (scripts/deps installs it)"
	e2e_summary
fi

e2e_cert
DB="$(e2e_fresh_db)"
export EMENTOR_PASSWORD="correct horse battery"

day0="$(date -u +%Y-%m-%d)"
day() { date -u -d "$day0 + $1 days" +%Y-%m-%d; }
# seconds from the real now to a UTC time "YYYY-MM-DD HH:MM"
offset_to() { echo $(($(date -u -d "$1" +%s) - $(date -u +%s))); }

# start [offset]: (re)starts the server with the checkpoint clock shifted
start() {
	em_server_stop
	em_server_start "$LOG" "$CERT" "$KEY" "$DB" --scheduler-interval 1 \
		--clock-offset "${1:-0}" || {
		not_ok "server starts"
		e2e_summary
	}
	export EMENTOR_SERVER="$EM_SERVER_URL"
}
start 0

# --- people, a pair and a group -----------------------------------------------
code="$(first_invite)"
expect_ok "manager registers" as maria register --invite "$code" --username maria
expect_ok "manager creates a 90-day programme starting today" \
	as maria programme create --name "Blended" --starts "$day0" --ends "$(day 90)"
prog="$(as maria --json programme list | jq -er '.programmes[0].id')"
for who in sam tom; do
	expect_ok "mentor $who registers" as "$who" register --invite "$(invite "$prog" mentor)" --username "$who"
done
for who in mia gm1 gm2; do
	expect_ok "mentee $who registers" as "$who" register --invite "$(invite "$prog" mentee)" --username "$who"
done
room_id() { as maria --json room create "$@" | jq -er .room.id; }
pair="$(room_id --programme "$prog" --kind pair --member sam --member mia)"
group="$(room_id --programme "$prog" --kind group --name "Group A" --member tom --member gm1 --member gm2)"
expect_match "a pair room and a group room exist" '^[0-9]+ [0-9]+$' "$pair $group"

# checkpoint id of ROOM KIND, as USER sees it
cp_id() {
	as "$1" --json checkpoint list "$2" | "$PY" -c '
import json, sys
for c in json.load(sys.stdin)["checkpoints"]:
    if c["kind"] == sys.argv[1]:
        print(c["id"])' "$3"
}
# a field of checkpoint ID as USER sees it (python expression over c)
cp_get() {
	as "$1" --json checkpoint list "$2" | "$PY" -c '
import json, sys
for c in json.load(sys.stdin)["checkpoints"]:
    if c["id"] == int(sys.argv[1]):
        print(eval(sys.argv[2]))' "$3" "$4"
}
# the id of the open slot of checkpoint ID starting at "YYYY-MM-DDTHH:MM:00Z"
slot_id() {
	as "$1" --json checkpoint list "$2" | "$PY" -c '
import json, sys
for c in json.load(sys.stdin)["checkpoints"]:
    for s in c["slots"]:
        if c["id"] == int(sys.argv[1]) and s["starts_at"] == sys.argv[2]:
            print(s["id"])' "$3" "$4"
}

p_init="$(cp_id sam "$pair" initial)"
p_mid="$(cp_id sam "$pair" midterm)"
p_fin="$(cp_id sam "$pair" final)"
g_init="$(cp_id tom "$group" initial)"
g_mid="$(cp_id tom "$group" midterm)"
g_fin="$(cp_id tom "$group" final)"
expect_match "every room has its three checkpoints" '^[0-9]+ [0-9]+ [0-9]+ [0-9]+ [0-9]+ [0-9]+$' \
	"$p_init $p_mid $p_fin $g_init $g_mid $g_fin"
expect_match "the initial window is the programme's first two weeks" \
	"^$day0 $(day 14)\$" "$(cp_get sam "$pair" "$p_init" 'c["opens_on"] + " " + c["closes_on"]')"
expect_ok "the manager sees the rooms' checkpoints" as maria checkpoint list "$pair"

# --- who may see and change ------------------------------------------------------
expect_fail "a mentor of another room cannot list the pair's checkpoints" 1 not_found \
	as tom checkpoint list "$pair"
expect_fail "nor propose a slot for them" 1 not_found \
	as tom checkpoint propose "$p_init" --at "$(day 3)T10:00Z" --minutes 60 --place "Cafe"
expect_fail "a slot outside the window is refused" 1 outside_window \
	as sam checkpoint propose "$p_init" --at "$(day 30)T10:00Z" --minutes 60 --place "Cafe"
expect_fail "a slot in the past is refused" 1 in_the_past \
	as sam checkpoint propose "$p_init" --at "$(day -1)T10:00Z" --minutes 60 --place "Cafe"

# --- windows: the manager moves them, for one room or for the programme --------
expect_fail "a mentor cannot move a window" 1 forbidden \
	as sam checkpoint window "$p_init" --opens "$day0" --closes "$(day 20)"
expect_ok "the manager sets the programme's initial window to 21 days" \
	as maria checkpoint window --programme "$prog" --kind initial --days 21
expect_match "every room's initial window follows" "^$(day 21) $(day 21)\$" \
	"$(cp_get sam "$pair" "$p_init" 'c["closes_on"]') $(cp_get tom "$group" "$g_init" 'c["closes_on"]')"
expect_ok "the manager moves one room's final window by hand" \
	as maria checkpoint window "$g_fin" --opens "$(day 70)" --closes "$(day 90)"
expect_match "that window moved" "^$(day 70) $(day 90)\$" \
	"$(cp_get tom "$group" "$g_fin" 'c["opens_on"] + " " + c["closes_on"]')"
expect_ok "a later programme default for the final leaves the hand-set window alone" \
	as maria checkpoint window --programme "$prog" --kind final --days 10
expect_match "the hand-set window stays, the pair's follows the default" \
	"^$(day 70) $(day 80)\$" \
	"$(cp_get tom "$group" "$g_fin" 'c["opens_on"]') $(cp_get sam "$pair" "$p_fin" 'c["opens_on"]')"
expect_fail "a window that closes before it opens is refused by the CLI" 2 'must not be before' \
	as maria checkpoint window "$g_fin" --opens "$(day 80)" --closes "$(day 70)"

# --- the pair's initial meeting: propose, accept, confirmed --------------------
T1="$(day 3)T10:00:00Z"
expect_ok "the mentor proposes two slots for the initial meeting" \
	as sam checkpoint propose "$p_init" --at "$(day 3)T10:00Z" --at "$(day 4)T15:00Z" \
	--minutes 60 --place "Cafe Central, Vienna"
expect_match "the checkpoint is open with two slots" '^open 2$' \
	"$(cp_get mia "$pair" "$p_init" 'c["state"] + " " + str(len(c["slots"]))')"
expect_ok "the mentee sees a notice of the proposal" as mia notices
expect_match "the notice names the proposer" 'sam' "$LAST"
s1="$(slot_id mia "$pair" "$p_init" "$T1")"
expect_ok "the mentee accepts the first slot" as mia checkpoint accept "$s1"
expect_match "the initial meeting is confirmed at that slot" "^confirmed $T1\$" \
	"$(cp_get sam "$pair" "$p_init" 'c["state"] + " " + c["confirmed_slot"]["starts_at"]')"
expect_ok "the mentor is notified" as sam notices
expect_match "with a confirmation notice" 'confirm' "$LAST"
expect_ok "the calendar url is issued" as sam calendar url
feed_path="$(grep -oE '/calendar/[A-Za-z0-9_-]{43}\.ics' <<<"$LAST" | head -n1)"
expect_match "the url holds a secret token" '^/calendar/' "$feed_path"
feed() { curl -sS --cacert "$CERT" -o "$T/feed.ics" -w '%{http_code}' "https://127.0.0.1:$EM_SERVER_PORT$feed_path"; }
expect_match "the feed answers 200" '^200$' "$(feed)"
# prints "UID SEQUENCE STATUS DTSTART" per event, validating the whole document
ics_events() {
	"$PY" - "$1" <<'EOF'
import sys, icalendar
raw = open(sys.argv[1], 'rb').read()
assert b'\r\n' in raw and all(len(l) <= 75 for l in raw.split(b'\r\n')), 'lines must be CRLF, <= 75 octets'
cal = icalendar.Calendar.from_ical(raw)
assert cal['VERSION'] == '2.0' and cal['PRODID'], 'VERSION and PRODID are required'
for ev in cal.walk('VEVENT'):
    for prop in ('UID', 'DTSTAMP', 'DTSTART', 'DTEND', 'SEQUENCE', 'STATUS', 'SUMMARY'):
        assert prop in ev, prop + ' missing'
    start = ev.decoded('DTSTART')
    assert start.tzinfo is not None and ev.decoded('DTEND') > start
    print(ev['UID'], int(ev['SEQUENCE']), ev['STATUS'], start.strftime('%Y-%m-%dT%H:%M:%SZ'))
EOF
}
events="$(ics_events "$T/feed.ics" 2>&1)" || true
expect_match "the feed is valid iCalendar with the confirmed meeting" \
	"^checkpoint-$p_init@ementor [0-9]+ CONFIRMED $T1\$" "$events"
seq1="$(awk '{print $2}' <<<"$events")"
expect_ok "calendar export prints the same document" as sam calendar export
expect_match "export is iCalendar" 'BEGIN:VCALENDAR' "$LAST"

# --- a reminder falls due while the server is down ----------------------------
# the 48-hour reminder of T1 is due at day 1 10:00; the server is down then,
# and comes back at day 1 11:00
em_server_stop
start "$(offset_to "$(day 1) 11:00")"
# the scheduler (--scheduler-interval 1) has sent the due reminders: one
# statement finds them all and counts them in ementord_reminders_sent_total
reminders_sent() {
	curl -sS --cacert "$CERT" "https://127.0.0.1:$EM_SERVER_PORT/metrics" |
		awk '$1 == "ementord_reminders_sent_total" && $2 > 0 { n++ } END { exit n ? 0 : 1 }'
}
wait_until 30 reminders_sent || true
expect_ok "after the restart the mentee has notices" as mia notices
expect_match "one 48-hour reminder of the initial meeting" 'reminder' "$LAST"
expect_match "exactly one" '^1$' "$(grep -c 'reminder' <<<"$LAST")"
expect_ok "the mentor got one too" as sam notices
expect_match "the mentor's reminder" 'reminder' "$LAST"
start "$(offset_to "$(day 1) 11:30")"
sleep 3 # a few scheduler ticks, for a reminder sent twice to show (a tick is not observable)
expect_ok "after another restart there is nothing new" as mia notices
printf '%s\n' "$LAST" >"$T/last.txt"
expect_absent "no second reminder" 'reminder' "$T/last.txt"

# --- a late change by the mentor ----------------------------------------------
# day 2 14:00 is 20 hours before T1
start "$(offset_to "$(day 2) 14:00")"
T2="$(day 5)T09:00:00Z"
expect_ok "the mentor reschedules 20 hours before the meeting" \
	as sam checkpoint reschedule "$p_init" --reason "ill" --at "$(day 5)T09:00Z" --minutes 60 \
	--place "Cafe Central, Vienna"
expect_match "it is recorded as a late change" '^1 .*late_change' \
	"$(cp_get maria "$pair" "$p_init" 'str(c["late_changes"]) + " " + " ".join(c["flags"])')"
expect_match "the checkpoint is open again" '^open$' "$(cp_get mia "$pair" "$p_init" 'c["state"]')"
expect_match "the feed shows it tentative while being rescheduled" '^200$' "$(feed)"
expect_match "with the old time" "TENTATIVE $T1" "$(ics_events "$T/feed.ics" 2>&1)"
expect_ok "the mentee accepts the new slot" as mia checkpoint accept "$(slot_id mia "$pair" "$p_init" "$T2")"
expect_match "the feed answers 200 again" '^200$' "$(feed)"
events="$(ics_events "$T/feed.ics" 2>&1)" || true
expect_match "the feed moved the meeting under the same UID" \
	"^checkpoint-$p_init@ementor [0-9]+ CONFIRMED $T2\$" "$events"
seq2="$(awk '{print $2}' <<<"$events")"
expect_match "and its SEQUENCE grew" '^yes$' "$( ((seq2 > seq1)) && echo yes || echo no)"

# --- after the meeting: record and confirm attendance -------------------------
expect_fail "recording before the meeting is refused" 1 too_early \
	as sam checkpoint attendance "$p_init" --held --present mia
start "$(offset_to "$(day 5) 11:00")"
expect_match "an ended, unrecorded meeting is flagged" 'unrecorded' \
	"$(cp_get maria "$pair" "$p_init" '" ".join(c["flags"])')"
expect_fail "a mentee cannot record the meeting" 1 forbidden \
	as mia checkpoint attendance "$p_init" --held --present mia
expect_ok "the mentor records it as held with the mentee present" \
	as sam checkpoint attendance "$p_init" --held --present sam,mia
expect_ok "the mentee confirms her own attendance" as mia checkpoint attendance "$p_init" --me yes
expect_match "held, both attended, the mentee confirmed" "^held True True True\$" \
	"$(cp_get maria "$pair" "$p_init" 'c["state"] + " " + " ".join(str(a["attended"]) for a in c["attendance"]) + " " + str([a for a in c["attendance"] if a["username"] == "mia"][0]["confirmed"])')"

# --- the group: initial, then a mid-term that needs the manager ---------------
G1="$(day 6)T16:00:00Z"
expect_ok "the group's mentor proposes the initial meeting" \
	as tom checkpoint propose "$g_init" --at "$(day 6)T16:00Z" --minutes 90 --place "Room 4"
gs="$(slot_id gm1 "$group" "$g_init" "$G1")"
expect_ok "the first mentee accepts" as gm1 checkpoint accept "$gs"
expect_match "not yet confirmed with one mentee missing" '^open$' "$(cp_get tom "$group" "$g_init" 'c["state"]')"
expect_ok "the second mentee accepts" as gm2 checkpoint accept "$gs"
expect_match "now confirmed" '^confirmed$' "$(cp_get tom "$group" "$g_init" 'c["state"]')"
expect_fail "a mentee cannot cancel" 1 forbidden as gm1 checkpoint cancel "$g_init" --reason "no"
expect_ok "a mentee sends an absence notice" as gm2 checkpoint absent "$g_init" --reason "exam that day"
expect_match "the absence is on the checkpoint" 'gm2 exam that day' \
	"$(cp_get tom "$group" "$g_init" '" ".join(a["username"] + " " + a["reason"] for a in c["absences"])')"

mid_day="$(cp_get tom "$group" "$g_mid" 'c["opens_on"]')"
GM="${mid_day}T14:00:00Z"
expect_ok "the mentor proposes the mid-term" \
	as tom checkpoint propose "$g_mid" --at "${mid_day}T14:00Z" --minutes 60 --place "Office"
gms="$(slot_id tom "$group" "$g_mid" "$GM")"
expect_ok "mentee 1 accepts the mid-term" as gm1 checkpoint accept "$gms"
expect_ok "mentee 2 accepts the mid-term" as gm2 checkpoint accept "$gms"
expect_match "the mid-term is not confirmed without the manager" '^open True$' \
	"$(cp_get tom "$group" "$g_mid" 'c["state"] + " " + str(c["manager_required"])')"
expect_ok "the manager accepts" as maria checkpoint accept "$gms"
expect_match "now the mid-term is confirmed" '^confirmed$' "$(cp_get tom "$group" "$g_mid" 'c["state"]')"

# --- the group's final meeting is confirmed, then cancelled -------------------
fin_day="$(cp_get tom "$group" "$g_fin" 'c["opens_on"]')"
GF="${fin_day}T10:00:00Z"
expect_ok "the final meeting is proposed" \
	as tom checkpoint propose "$g_fin" --at "${fin_day}T10:00Z" --minutes 60 --place "Office"
gfs="$(slot_id tom "$group" "$g_fin" "$GF")"
expect_ok "mentee 1 accepts the final" as gm1 checkpoint accept "$gfs"
expect_ok "mentee 2 accepts the final" as gm2 checkpoint accept "$gfs"
expect_ok "the mentor cancels it weeks ahead" as tom checkpoint cancel "$g_fin" --reason "moved abroad"
expect_match "cancelled, and not a late change" '^cancelled 0$' \
	"$(cp_get maria "$group" "$g_fin" 'c["state"] + " " + str(c["late_changes"])')"
expect_ok "a mentee is told why" as gm1 notices
expect_match "the cancellation notice carries the reason" 'moved abroad' "$LAST"
expect_ok "the mentee's calendar url" as gm1 calendar url
feed_path="$(grep -oE '/calendar/[A-Za-z0-9_-]{43}\.ics' <<<"$LAST" | head -n1)"
expect_match "the mentee's feed answers 200" '^200$' "$(feed)"
events="$(ics_events "$T/feed.ics" 2>&1)" || true
expect_match "the cancelled meeting is STATUS:CANCELLED" "^checkpoint-$g_fin@ementor [0-9]+ CANCELLED $GF\$" \
	"$(grep "checkpoint-$g_fin@" <<<"$events")"
expect_match "the mid-term is in it, confirmed" "^checkpoint-$g_mid@ementor [0-9]+ CONFIRMED $GM\$" \
	"$(grep "checkpoint-$g_mid@" <<<"$events")"
expect_ok "the feed is revoked" as gm1 calendar revoke
expect_match "a revoked feed answers 404" '^404$' "$(feed)"
expect_match "an invented token answers 404" '^404$' \
	"$(curl -sS --cacert "$CERT" -o /dev/null -w '%{http_code}' \
		"https://127.0.0.1:$EM_SERVER_PORT/calendar/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.ics")"

# --- the pair goes through its mid-term and final meetings --------------------
for k in midterm final; do
	id="$p_mid"
	[[ "$k" == final ]] && id="$p_fin"
	d="$(cp_get sam "$pair" "$id" 'c["opens_on"]')"
	expect_ok "pair $k: proposed by the mentor" \
		as sam checkpoint propose "$id" --at "${d}T12:00Z" --minutes 45 --place "Library"
	ps="$(slot_id sam "$pair" "$id" "${d}T12:00:00Z")"
	expect_ok "pair $k: accepted by the mentee" as mia checkpoint accept "$ps"
	[[ "$k" == midterm ]] && expect_ok "pair $k: accepted by the manager" as maria checkpoint accept "$ps"
	expect_match "pair $k: confirmed" '^confirmed$' "$(cp_get sam "$pair" "$id" 'c["state"]')"
	start "$(offset_to "$d 13:00")"
	recorder=sam
	[[ "$k" == midterm ]] && recorder=maria
	expect_ok "pair $k: recorded as held by $recorder" \
		as "$recorder" checkpoint attendance "$id" --held --present sam,mia
	expect_match "pair $k: held" '^held$' "$(cp_get mia "$pair" "$id" 'c["state"]')"
done
expect_match "the pair went through all three meetings" '^held held held$' \
	"$(as sam --json checkpoint list "$pair" | "$PY" -c 'import json,sys; print(" ".join(c["state"] for c in json.load(sys.stdin)["checkpoints"]))')"

expect_absent "the log holds no feed token" "${feed_path#/calendar/}" "$LOG"
e2e_summary
