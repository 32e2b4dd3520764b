#!/usr/bin/env bash
# tests/e2e/support.sh - the manager's support channel (PROTOCOL.md section 15)
# with real processes: a real ementord over TLS on a fresh database and the real
# CLI, one home directory per person.
#
# What it shows: maria (a manager) opens a support room with lea (a mentee);
# opening again, from either side, gives the same room; both sign its support
# agreement and exchange end-to-end encrypted messages; another manager of the
# programme neither sees nor joins it; it has no checkpoints and no meetings and
# the audit's mentoring figures leave it out (counted apart); lea reports one of
# maria's messages from it and maria's client verifies the report. The reporter
# gets a report.handled notice when maria records handling. maria announces to
# the mentors, then to everyone: exactly the audience gets each, verified; an
# announcement altered or forged in the database is refused by the recipient's
# client, which shows no text. pg_dump and the log hold none of the texts.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

e2e_serve
psql_q() { psql --no-psqlrc -qtAX "$DB" -c "$1"; }

# --- programme 1: maria (manager), sam (mentor), lea (mentee), pair room 1 -----------
pair_room "Support 2027"
expect_ok "ola registers as a mentee" as ola register --invite "$(invite 1 mentee)" --username ola
expect_ok "tom registers as a mentor" as tom register --invite "$(invite 1 mentor)" --username tom
expect_ok "olga registers as a second manager of programme 1" \
	as olga register --invite "$(invite 1 manager)" --username olga

# --- opening a support room ---------------------------------------------------------
expect_ok "maria opens a support room with lea" to_file "$T/open1.json" \
	as maria --json support open --programme 1 lea
ROOM="$(jq -r .room.id "$T/open1.json")"
expect_match "a new support room, maria as support, lea as mentee" '^support true maria:support,lea:mentee$' \
	"$(jq -r '"\(.room.kind) \(.created) \([.room.members[] | "\(.username):\(.role)"] | sort_by(.) | reverse | join(","))"' "$T/open1.json")"
expect_ok "maria opens it again" to_file "$T/open2.json" as maria --json support open --programme 1 lea
expect_match "the same room, not a new one" "^$ROOM false\$" "$(jq -r '"\(.room.id) \(.created)"' "$T/open2.json")"
expect_fail "lea must choose between two managers" 1 "choose|maria|olga" as lea support open
expect_ok "lea opens hers with maria" to_file "$T/open3.json" as lea --json support open maria
expect_match "lea gets the same room" "^$ROOM false\$" "$(jq -r '"\(.room.id) \(.created)"' "$T/open3.json")"
expect_fail "a mentee cannot open one with another mentee" 1 "nobody|not_found" as lea support open ola
expect_fail "olga (another manager) does not see it" 1 "not_found|no room" as olga room show "$ROOM"
expect_ok "olga's room list" to_file "$T/olga_rooms.json" as olga --json room list --programme 1
expect_match "olga lists the pair room only" '^1$' "$(jq -r '[.rooms[].id] | join(",")' "$T/olga_rooms.json")"
expect_fail "nobody joins a support room" 1 "support room|forbidden" as maria room add "$ROOM" ola
expect_ok "lea's room list" to_file "$T/lea_rooms.json" as lea --json room list
expect_match "lea lists it, with maria as its manager" "^support maria\$" \
	"$(jq -r ".rooms[] | select(.id == $ROOM) | \"\(.kind) \(.manager)\"" "$T/lea_rooms.json")"

# --- its agreement and messages ---------------------------------------------------------
expect_ok "the agreement of the support room" as lea agreement show "$ROOM"
expect_match "the support terms" "Support channel" "$LAST"
expect_absent "not the mentoring agreement" "Mentoring agreement" <(printf '%s' "$LAST")
sign_room "$ROOM" maria lea
MSG_1="maria checks in with lea wren-12"
MSG_2="lea answers maria quietly avocet-58"
expect_ok "maria writes in the support room" as maria send "$ROOM" "$MSG_1"
expect_ok "lea writes back" as lea send "$ROOM" "$MSG_2"
expect_ok "lea reads" to_file "$T/lea_read.json" as lea --json read "$ROOM"
expect_match "lea reads both, verified" "^$MSG_1|$MSG_2\$" "$(jq -r '[.[].text] | join("|")' "$T/lea_read.json")"
expect_ok "maria reads" to_file "$T/maria_read.json" as maria --json read "$ROOM"
expect_match "maria reads both" '^2$' "$(jq -r 'length' "$T/maria_read.json")"
expect_fail "olga cannot read it" 1 "not|forbidden" as olga read "$ROOM"

# --- not a mentoring room ----------------------------------------------------------------
expect_match "no checkpoints" '^0$' "$(psql_q "SELECT count(*) FROM checkpoints WHERE room_id = $ROOM")"
expect_fail "no meetings either" 1 "support room|forbidden" \
	as lea meeting add "$ROOM" --at 2027-03-01T10:00 --minutes 60 --place "cafe"
expect_ok "maria's audit of programme 1" to_file "$T/audit.json" as maria --json audit --programme 1
expect_match "the audit's rooms are the pair room only" '^1$' "$(jq -r '[.rooms[].room_id] | join(",")' "$T/audit.json")"
expect_match "support rooms counted apart" '^1$' "$(jq -r '.summary.support_rooms' "$T/audit.json")"

# --- a report from a support room, and its handling notice ------------------------------
expect_ok "lea reports maria's message" to_file "$T/rep.json" \
	as lea --json report create "$ROOM" --seq 1 --note "checking reports from support rooms"
REP="$(jq -r .report_id "$T/rep.json")"
expect_match "sealed to lea and maria" '^maria$' "$(jq -r '.readers | join(",")' "$T/rep.json")"
expect_ok "maria opens the report" to_file "$T/rep_show.json" as maria --json report show "$REP"
expect_match "verified, quoting her own message" "^true true:maria:$MSG_1\$" \
	"$(jq -r '"\(.verified) \(.messages[0] | "\(.verified):\(.sender):\(.text)")"' "$T/rep_show.json")"
expect_ok "lea reads her notices so far" as lea notices
expect_ok "maria acknowledges the report" as maria report handle "$REP" --state acknowledged --note "seen"
expect_ok "lea's notices" to_file "$T/notices.json" as lea --json notices
expect_match "a report.handled notice for lea" "^report.handled $REP acknowledged maria\$" \
	"$(jq -r '.notices[] | select(.kind == "report.handled") | "\(.kind) \(.report_id) \(.state) \(.by)"' "$T/notices.json")"

# --- announcements ------------------------------------------------------------------------
ANN_M="to the mentors only: training on friday heron-31"
ANN_A="to everyone: the mid-term week starts monday lapwing-77"
expect_fail "a mentee cannot announce" 1 "forbidden|manager" \
	as lea announce send --programme 1 --to all --yes "not allowed"
expect_ok "maria announces to the mentors" as maria announce send --programme 1 --to mentors --yes "$ANN_M"
expect_match "shown: two mentors" "goes to 2 mentor" "$LAST"
expect_ok "maria announces to all" as maria announce send --programme 1 --to all --yes "$ANN_A"
expect_match "shown: four people" "goes to 4 mentor" "$LAST"
for who in sam tom; do
	expect_ok "$who's announcements" to_file "$T/ann_$who.json" as "$who" --json announce list
	expect_match "$who gets both, verified" "^true:$ANN_A|true:$ANN_M\$" \
		"$(jq -r '[.announcements[] | "\(.verified):\(.text)"] | join("|")' "$T/ann_$who.json")"
done
for who in lea ola; do
	expect_ok "$who's announcements" to_file "$T/ann_$who.json" as "$who" --json announce list
	expect_match "$who gets the one to all only" "^true:$ANN_A\$" \
		"$(jq -r '[.announcements[] | "\(.verified):\(.text)"] | join("|")' "$T/ann_$who.json")"
done
expect_ok "olga's announcements" to_file "$T/ann_olga.json" as olga --json announce list
expect_match "olga (another manager) gets none" '^0$' "$(jq -r '.announcements | length' "$T/ann_olga.json")"
expect_ok "maria reads hers back" to_file "$T/ann_maria.json" as maria --json announce list
expect_match "maria sees both with their recipient counts (herself included)" '^5,3$' \
	"$(jq -r '[.announcements[] | .recipients] | join(",")' "$T/ann_maria.json")"
expect_ok "sam's notices" to_file "$T/sam_notices.json" as sam --json notices --keep
expect_match "sam was told of two announcements" '^2$' \
	"$(jq -r '[.notices[] | select(.kind == "announcement")] | length' "$T/sam_notices.json")"

# --- a hostile server: alter, re-address, forge ----------------------------------------------
A_ALL="$(jq -r '.announcements[0].announcement_id' "$T/ann_maria.json")"
psql_q "UPDATE announcements SET audience = 'mentors' WHERE id = $A_ALL" >/dev/null
expect_ok "lea's list after the server changed the audience" as lea announce list
expect_match "refused: not what maria signed" "not shown: .*forged or altered" "$LAST"
expect_absent "and no text shown" "lapwing-77" <(printf '%s' "$LAST")
psql_q "UPDATE announcements SET audience = 'all' WHERE id = $A_ALL" >/dev/null
psql_q "UPDATE announcements SET body = set_byte(body, 60, get_byte(body, 60) # 1) WHERE id = $A_ALL" >/dev/null
expect_ok "lea's list after the server flipped a byte" to_file "$T/ann_bad.json" as lea --json announce list
expect_match "not verified, no text" '^false null$' "$(jq -r '.announcements[0] | "\(.verified) \(.text)"' "$T/ann_bad.json")"
# the server writes its own announcement "from maria" for lea: a body signed with another key
psql_q "INSERT INTO announcements (programme_id, manager_id, audience, written_ms, body, delivered_at)
        SELECT programme_id, manager_id, audience, written_ms + 1, body, now() FROM announcements WHERE id = $A_ALL" >/dev/null
psql_q "INSERT INTO announcement_keys SELECT (SELECT max(id) FROM announcements), user_id, sealed
        FROM announcement_keys WHERE announcement_id = $A_ALL AND user_id = (SELECT id FROM users WHERE username = 'lea')" >/dev/null
expect_ok "lea's list with the server's copy re-dated" to_file "$T/ann_forged.json" as lea --json announce list
expect_match "the re-dated copy does not verify either" '^false$' \
	"$(jq -r '.announcements[0].verified' "$T/ann_forged.json")"

# --- the database holds none of it ----------------------------------------------------------
pg_dump --no-owner "$DB" >"$T/dump.sql"
leaks=0
for text in "$MSG_1" "$MSG_2" "$ANN_M" "$ANN_A" "heron-31" "lapwing-77" "wren-12" "avocet-58"; do
	if grep -qF -- "$text" "$T/dump.sql" "$LOG"; then
		not_ok "pg_dump and the log hold no '$text'"
		leaks=$((leaks + 1))
	fi
done
expect_match "no message or announcement text in pg_dump or the log (8 strings)" '^0$' "$leaks"
expect_match "the dump does hold the announcement rows (the grep finds what is there)" '^1$' \
	"$(grep -cE '^COPY public\.announcements ' "$T/dump.sql")"

e2e_summary
