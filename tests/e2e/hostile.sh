#!/usr/bin/env bash
# tests/e2e/hostile.sh - a malicious server against unmodified clients
# (docs/SECURITY.md "A malicious server", checks P1-T1). ementord itself is
# honest; the attacker owns its PostgreSQL database (psql as the superuser,
# triggers off when it likes) and holds tests/e2e/hostile_tool, which makes
# keys for users it inserts, seals room keys, signs commits and agreement
# versions with them, and tries every room key it holds on the stored rows.
# The victims are real `ementor` users with their own homes.
#
# Each case tampers, then asserts what the victim's client does (exit status
# and the words of its refusal or warning) and, where a message went out,
# that the attacker cannot decrypt the stored row:
#   T1   ws:// is refused without --insecure-plaintext-dev; nothing reaches a
#        plaintext listener
#   O2   two messages of one sender swapped in seq: OUT OF ORDER
#   O1   a message deleted and the later one renumbered: reported missing
#   O3   a message dated an hour before its sender signed it: back-dated
#   O2   an old message copied to a new seq: replayed
#   P1   a pinned user's keys replaced: warning, nothing sent, nothing sealed
#   K1/K2  one member given another's envelope; an envelope relabelled with
#        another agreement version: neither accepted
#   K3   a "former member" with the attacker's keys commits a room key sealed
#        to the real members (and again under a forged agreement version
#        that names it): refused, the message goes under an honest key
#   G1/G2  agreement_required switched off and a reader inserted on the
#        roster: nothing sealed to the reader, on a pinned and a fresh device
#   G2   the room moved into another programme (one that genuinely does
#        without agreements) with the reader on its roster: refused
#   E1   the room's epoch set back to one a removed member holds: refused
#   A2   the version in force set back to one the removed member is party
#        of: refused
#   U1   send names the member who has not signed the agreement yet
#   P1/P2  two pinned users' names swapped: warned, shown under the pinned
#        names, sending refused until `ementor trust`
#   S1   a reader injected into a manager's support room: no key sealed to it
#   N1   an announcement forged in the manager's name (another key), and a
#        real one re-addressed: both refused by the recipient, no text shown
# The summary lists each case PASS or FAIL.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

TOOL="${HOSTILE_TOOL:-$BIN/hostile_tool}"
[[ -x "$TOOL" ]] || {
	echo "no hostile_tool at $TOOL (set HOSTILE_TOOL)" >&2
	exit 1
}

ATK="$T/attacker"
NOKEY="$(printf '%064d' 0)" # a room key nobody uses, where the attacker has none
mkdir -p "$ATK"

e2e_serve

sql() { psql --no-psqlrc -qtA -v ON_ERROR_STOP=1 "$DB" -c "$1"; }
# attack SQL: what the database owner does, with the server's triggers off
# (replica mode), so nothing but the attacker's own edits happens.
attack() { sql "SET session_replication_role = replica; $1"; }
uid() { sql "SELECT id FROM users WHERE username = '$1'"; }
hexcol() { sql "SELECT encode($1, 'hex') FROM $2"; }

# --- bookkeeping per case --------------------------------------------------
declare -a case_lines=()
case_name=""
case_begin() {
	case_end
	case_name="$1"
	case_failed0=$failed
	echo
	echo "=== $1"
}
case_end() {
	[[ -n "$case_name" ]] || return 0
	if ((failed == case_failed0)); then
		case_lines+=("PASS  $case_name")
	else
		case_lines+=("FAIL  $case_name ($((failed - case_failed0)) checks failed)")
	fi
	case_name=""
}

# --- what the victims' CLI shows --------------------------------------------
# send_seq USER ROOM TEXT: sends; prints the seq, or nothing when refused.
send_seq() { as "$1" --json send "$2" "$3" 2>/dev/null | jq -r '.seq // empty' 2>/dev/null || true; }
# line_of OUTPUT SEQ / warning_of OUTPUT SEQ: `read`'s line for message SEQ,
# and the "  ! WARNING:" line printed under it (empty when none).
line_of() { awk -v s="[$2]" '$1 == s { print; exit }' <<<"$1"; }
warning_of() { awk -v s="[$2]" '$1 == s { if ((getline n) > 0 && n ~ /^  ! WARNING:/) print n; exit }' <<<"$1"; }
drop_outbox() {
	local id
	for id in $(as "$1" --json outbox list 2>/dev/null | jq -r '.[].client_msg_id' 2>/dev/null); do
		as "$1" outbox drop -- "$id" >/dev/null 2>&1 || true
	done
}
last_seq() { sql "SELECT last_seq FROM rooms WHERE id = $1"; }
epoch_of() { sql "SELECT epoch FROM rooms WHERE id = $1"; }

# --- what the attacker does with what it holds ------------------------------
# fake_user NAME: a user whose keys the attacker made ($ATK/NAME.key); prints its id.
fake_user() {
	local pks
	pks="$("$TOOL" keygen "$ATK/$1.key")"
	sql "INSERT INTO users (username, display_name, role, sign_pk, box_pk, kdf_salt, kdf_opslimit,
	         kdf_memlimit, auth_hash, key_backup)
	     VALUES ('$1', '$1', 'mentee', '\\x${pks% *}', '\\x${pks#* }', '\\x$(printf '%032d' 0)', 2,
	         67108864, '\\x00', '\\x00') RETURNING id"
}
# rows ROOM AFTER_SEQ: the stored messages of ROOM after AFTER_SEQ as the tool reads them.
rows() {
	sql "SELECT m.room_id, m.seq, m.epoch, m.sender_id, encode(m.client_msg_id, 'hex'),
	            encode(m.ciphertext, 'hex'), encode(m.sig, 'hex'), encode(u.sign_pk, 'hex')
	     FROM messages m JOIN users u ON u.id = m.sender_id
	     WHERE m.room_id = $1 AND m.seq > $2 ORDER BY m.seq"
}
# opened ROOM AFTER_SEQ KEY...: how many of those rows the keys decrypt.
opened() {
	local room="$1" after="$2"
	shift 2
	rows "$room" "$after" | "$TOOL" decrypt "$@" | grep -c ' open ' || true
}
# unverified ROOM AFTER_SEQ KEY...: rows whose signature did not check out (so
# "not opened" above would mean nothing for them); must be 0.
unverified() {
	local room="$1" after="$2"
	shift 2
	rows "$room" "$after" | "$TOOL" decrypt "$@" | grep -c ' badsig$' || true
}
# commit_epoch ROOM EPOCH COMMITTER KEYFILE VERSION ROOMKEY ID...: the
# attacker commits ROOMKEY as EPOCH, sealed to the users ID... (correct
# envelopes and commit signature by COMMITTER), and moves the room to it.
commit_epoch() {
	local room="$1" epoch="$2" committer="$3" keyfile="$4" version="$5" key="$6" ids list id sealed sig
	shift 6
	list="$(printf '%s\n' "$@" | sort -n | paste -sd,)"
	: >"$ATK/entries"
	for id in "$@"; do
		sealed="$("$TOOL" seal "$keyfile" "$room" "$epoch" "$committer" "$version" "$list" "$key" \
			"$id" "$(hexcol box_pk "users WHERE id = $id")")"
		printf '%s %s\n' "$id" "$sealed" >>"$ATK/entries"
	done
	sig="$("$TOOL" commit-sign "$keyfile" "$room" "$epoch" "$committer" "$version" <"$ATK/entries")"
	ids="INSERT INTO room_epochs (room_id, epoch, committer_id, commit_sig, agreement_version)
	     VALUES ($room, $epoch, $committer, '\\x$sig', $version);"
	while read -r id sealed; do
		ids+="INSERT INTO key_envelopes (room_id, epoch, recipient_id, sealed)
		      VALUES ($room, $epoch, $id, '\\x$sealed');"
	done <"$ATK/entries"
	attack "$ids UPDATE rooms SET epoch = $epoch, rotate_required = false, epoch_msg_count = 0,
	        epoch_started_at = now() WHERE id = $room"
}

# --- the programme, its people and two group rooms, all signed -------------------
case_begin "setup: a programme with agreements, rooms A and B (tom, ann, ben), signed"
expect_ok "the manager registers" as maria register --invite "$(first_invite)" --username maria
expect_ok "a programme that requires agreements" \
	as maria programme create --name "Hostile 2027" --starts 2027-01-01 --ends 2027-12-31
prog="$(as maria --json programme list | jq -r '.programmes[0].id')"
for who in tom:mentor ann:mentee ben:mentee cat:mentee; do
	code="$(as maria --json invite create --programme "$prog" --role "${who#*:}" | jq -r .code)"
	expect_ok "${who%%:*} registers" as "${who%%:*}" register --invite "$code" --username "${who%%:*}"
done
A="$(as maria --json room create --programme "$prog" --kind group --name "Room A" \
	--member tom --member ann --member ben | jq -r .room.id)"
B="$(as maria --json room create --programme "$prog" --kind group --name "Room B" \
	--member tom --member ann --member ben | jq -r .room.id)"
sign_room "$A" maria tom ann ben
sign_room "$B" maria tom ann ben
tom="$(uid tom)" ann="$(uid ann)" ben="$(uid ben)"
expect_ok "tom opens room A" as tom send "$A" "A: hello"
expect_ok "tom opens room B" as tom send "$B" "B: hello"
for who in ann ben; do
	for room in "$A" "$B"; do
		expect_ok "$who reads room $room (pins everyone, takes the key)" as "$who" read "$room"
	done
done
expect_match "ann read tom's first message" 'tom: A: hello' "$(as ann read "$A" 2>&1)"

# --- T1 ---------------------------------------------------------------------------
case_begin "T1 ws:// refused without --insecure-plaintext-dev"
"$TOOL" listen "$T/plain.port" "$T/plain.log" 60 &
listener=$!
for ((i = 0; i < 50; i++)); do
	[[ -s "$T/plain.port" ]] && break
	sleep 0.2
done
port="$(cat "$T/plain.port")"
expect_fail "a ws:// URL is refused before anything is sent" 2 \
	"refusing the plaintext server URL 'ws://127.0.0.1:$port/refused'" \
	as t1 --server "ws://127.0.0.1:$port/refused" login tom
expect_fail "--insecure-plaintext-dev says what it gives up (and connects)" 4 \
	"WARNING: --insecure-plaintext-dev: talking to ws://127.0.0.1:$port/dev WITHOUT TLS" \
	as t1 --insecure-plaintext-dev --server "ws://127.0.0.1:$port/dev" login tom
wait_for_lines "$T/plain.log" '^conn [0-9]+' 1 20 || true
kill "$listener" 2>/dev/null || true
wait "$listener" 2>/dev/null || true
expect_match "the listener's first connection is the allowed one" '^GET /dev ' \
	"$(sed -n '2p' "$T/plain.log" 2>/dev/null)"
expect_absent "the refused command never connected" 'GET /refused' "$T/plain.log"

# --- O2, O1, O3, O2: order and completeness, read by ann ------------------------------
case_begin "O2 reorder: two of tom's messages swapped in seq"
s1="$(send_seq tom "$A" "reorder one")"
s2="$(send_seq tom "$A" "reorder two")"
expect_match "tom's two messages are stored" '^[0-9]+ [0-9]+$' "$s1 $s2"
attack "UPDATE messages SET seq = -seq WHERE room_id = $A AND seq = ${s1:-0};
        UPDATE messages SET seq = ${s1:-0} WHERE room_id = $A AND seq = ${s2:-0};
        UPDATE messages SET seq = ${s2:-0} WHERE room_id = $A AND seq = -${s1:-0}"
expect_ok "ann reads room A" as ann read "$A"
expect_match "the swapped message is shown where the server put it" "tom: reorder one\$" "$(line_of "$LAST" "${s2:-0}")"
expect_match "and flagged OUT OF ORDER" \
	"! WARNING: OUT OF ORDER: this is message [0-9]+ of tom's device, but message [0-9]+ was already shown \(at \[${s1:-0}\]\)" \
	"$(warning_of "$LAST" "${s2:-0}")"

case_begin "O1 dropped: one of tom's messages deleted, the next renumbered into its place"
d1="$(send_seq tom "$A" "drop one")"
d2="$(send_seq tom "$A" "drop two")"
d3="$(send_seq tom "$A" "drop three")"
expect_match "tom's three messages are stored" '^[0-9]+ [0-9]+ [0-9]+$' "$d1 $d2 $d3"
attack "DELETE FROM messages WHERE room_id = $A AND seq = ${d2:-0};
        UPDATE messages SET seq = ${d2:-0} WHERE room_id = $A AND seq = ${d3:-0};
        UPDATE rooms SET last_seq = last_seq - 1 WHERE id = $A"
expect_ok "ann reads room A" as ann read "$A"
expect_match "the message before the gap is clean" '^$' "$(warning_of "$LAST" "$d1")"
expect_match "the renumbered one is shown" "tom: drop three\$" "$(line_of "$LAST" "${d2:-0}")"
expect_match "with the missing message reported" \
	"! WARNING: 1 earlier message from tom never arrived \(numbers ([0-9]+) to \1 of their device\)" \
	"$(warning_of "$LAST" "${d2:-0}")"

case_begin "O3 back-dated: the server dates a message an hour before it was signed"
b="$(send_seq tom "$A" "back-dated")"
expect_match "tom's message is stored" '^[0-9]+$' "$b"
attack "UPDATE messages SET created_at = created_at - interval '1 hour' WHERE room_id = $A AND seq = ${b:-0}"
expect_ok "ann reads room A" as ann read "$A"
expect_match "it is flagged back-dated" \
	"! WARNING: the server dates this message .* but tom signed it as written at .*: back-dated by the server" \
	"$(warning_of "$LAST" "$b")"

case_begin "O2 replay: tom's first message copied to a new seq (uniqueness dropped)"
ucon="$(sql "SELECT conname FROM pg_constraint WHERE conrelid = 'messages'::regclass AND contype = 'u'")"
r="$(attack "ALTER TABLE messages DROP CONSTRAINT $ucon;
        UPDATE rooms SET last_seq = last_seq + 1 WHERE id = $A RETURNING last_seq")"
attack "INSERT INTO messages (room_id, seq, sender_id, client_msg_id, epoch, ciphertext, sig)
        SELECT room_id, $r, sender_id, client_msg_id, epoch, ciphertext, sig FROM messages
        WHERE room_id = $A AND seq = 1"
expect_ok "ann reads room A" as ann read "$A"
expect_match "the replayed copy is shown" "tom: A: hello\$" "$(line_of "$LAST" "$r")"
expect_match "and flagged as replayed" \
	"! WARNING: OUT OF ORDER: this is message 1 of tom's device, but message [0-9]+ was already shown .*replayed or reordered" \
	"$(warning_of "$LAST" "$r")"
attack "DELETE FROM messages WHERE room_id = $A AND seq = $r;
        ALTER TABLE messages ADD CONSTRAINT $ucon UNIQUE (room_id, sender_id, client_msg_id)"

# --- P1: key substitution -----------------------------------------------------------
case_begin "P1 key substitution: ben's keys replaced by the attacker's"
ben_keys="$(sql "SELECT encode(sign_pk, 'hex') || ' ' || encode(box_pk, 'hex') FROM users WHERE id = $ben")"
mal="$("$TOOL" keygen "$ATK/mallory.key")"
epochs0="$(sql "SELECT count(*) FROM room_epochs WHERE room_id = $A")"
attack "UPDATE users SET sign_pk = '\\x${mal% *}', box_pk = '\\x${mal#* }' WHERE id = $ben;
        UPDATE rooms SET rotate_required = true WHERE id = $A"
expect_fail "tom's send to a room with ben is refused" 1 "not sending to room $A: the keys or the name of ben changed" \
	as tom send "$A" "after ben's keys changed"
expect_match "with a loud warning" 'WARNING: THE KEYS OF ben HAVE CHANGED' "$LAST"
expect_match "no epoch was committed" "^$epochs0\$" "$(sql "SELECT count(*) FROM room_epochs WHERE room_id = $A")"
n=0
for s in $(hexcol sealed "key_envelopes WHERE room_id = $A AND recipient_id = $ben"); do
	"$TOOL" open "$ATK/mallory.key" "$s" >/dev/null 2>&1 && n=$((n + 1))
done
expect_match "no envelope of room A opens with the substituted key" '^0$' "$n"
attack "UPDATE users SET sign_pk = '\\x${ben_keys% *}', box_pk = '\\x${ben_keys#* }' WHERE id = $ben"
drop_outbox tom

# --- K1/K2: envelopes the server hands to the wrong person, or relabels -------------------
case_begin "K1/K2 envelopes: ann handed ben's envelope; the epoch relabelled with another version"
expect_ok "tom starts a new epoch in room A" as tom send "$A" "new epoch for the envelope test"
k1seq="$(last_seq "$A")"
E="$(epoch_of "$A")"
ann_env="$(hexcol sealed "key_envelopes WHERE room_id = $A AND epoch = $E AND recipient_id = $ann")"
ver="$(sql "SELECT agreement_version FROM room_epochs WHERE room_id = $A AND epoch = $E")"
attack "UPDATE key_envelopes k SET sealed = o.sealed FROM key_envelopes o
        WHERE k.room_id = $A AND k.epoch = $E AND k.recipient_id = $ann
          AND o.room_id = $A AND o.epoch = $E AND o.recipient_id = $ben;
        UPDATE room_epochs SET agreement_version = agreement_version + 5 WHERE room_id = $A AND epoch = $E"
expect_ok "ann reads room A" as ann read "$A"
expect_match "ann does not accept ben's envelope" \
	"WARNING: the key for epoch $E of room $A was not accepted: it does not open with your key" "$LAST"
expect_match "the message of that epoch stays unreadable to ann" \
	"tom: \(cannot decrypt: the key for epoch $E was not accepted\)" "$(line_of "$LAST" "$k1seq")"
expect_ok "ben reads room A" as ben read "$A"
expect_match "ben does not accept an envelope the server labels with another version" \
	"WARNING: the key for epoch $E of room $A was not accepted: the server names another agreement version than the sealed one" \
	"$LAST"
attack "UPDATE key_envelopes SET sealed = '\\x$ann_env' WHERE room_id = $A AND epoch = $E AND recipient_id = $ann;
        UPDATE room_epochs SET agreement_version = $ver WHERE room_id = $A AND epoch = $E"
expect_match "with its own envelope back, ann reads it" 'tom: new epoch for the envelope test$' \
	"$(line_of "$(as ann read "$A" 2>&1)" "$k1seq")"

# --- K3: a foreign committer ------------------------------------------------------------
case_begin "K3 foreign committer: 'former member' eve (attacker's keys) commits a room key"
eve="$(fake_user eve)"
attack "INSERT INTO room_members (room_id, user_id, role, added_at, removed_at, roster)
        VALUES ($A, $eve, 'mentee', now() - interval '2 days', now() - interval '1 day', false)"
V="$(sql "SELECT max(version) FROM agreement_versions WHERE room_id = $A AND activated_at IS NOT NULL")"
N=$(($(epoch_of "$A") + 1))
evekey="$("$TOOL" roomkey)"
commit_epoch "$A" "$N" "$eve" "$ATK/eve.key" "$V" "$evekey" "$tom" "$ann" "$ben"
mark="$(last_seq "$A")"
expect_ok "tom sends to room A" as tom send "$A" "for the members only (K3)"
expect_match "tom's client refuses eve's key, naming the committer" \
	"WARNING: the key for epoch $N of room $A was not accepted: its committer \(user $eve\) is not a mentor or mentee party of version $V" \
	"$LAST"
expect_match "the message is stored under another epoch than eve's" "^[0-9]+$" \
	"$(sql "SELECT epoch FROM messages WHERE room_id = $A AND seq > $mark AND epoch <> $N")"
expect_match "eve's key decrypts nothing stored after the attack" '^0$' "$(opened "$A" "$mark" "$evekey")"
expect_match "(every row after it was checked against its sender's key)" '^0$' "$(unverified "$A" "$mark" "$evekey")"
expect_ok "ann reads room A" as ann read "$A"
expect_match "ann reads tom's message" 'tom: for the members only \(K3\)$' "$(line_of "$LAST" $((mark + 1)))"
expect_match "and refuses eve's key too" "the key for epoch $N of room $A was not accepted: its committer \(user $eve\)" "$LAST"
e1="$(sql "SELECT epoch FROM messages WHERE room_id = $A AND seq = $((mark + 1))")"
annkey="$(jq -r --arg r "$A" --arg e "$e1" '.rooms[$r][$e].key // empty' "$T/home/ann/roomkeys.json")"
expect_match "(the attacker's tool does decrypt that row with ann's key for it)" '^1$' \
	"$(opened "$A" "$mark" "${annkey:-$NOKEY}")"

case_begin "K3 forged version: eve commits under a version that names her (real signatures copied)"
V2=$(($(sql "SELECT max(version) FROM agreement_versions WHERE room_id = $A") + 1))
vid="$(sql "SELECT id FROM agreement_versions WHERE room_id = $A AND version = $V")"
sql "SELECT user_id || ' ' || role || ' ' || encode(sign_pk, 'hex') || ' ' || encode(box_pk, 'hex')
     FROM agreement_parties WHERE version_id = $vid" >"$ATK/parties"
echo "$eve mentee $(hexcol "sign_pk || box_pk" "users WHERE id = $eve" | sed -E 's/^(.{64})/\1 /')" >>"$ATK/parties"
evesig="$("$TOOL" agreement-sign "$ATK/eve.key" "$A" "$V2" \
	"$(sql "SELECT starts_on FROM agreement_versions WHERE id = $vid")" \
	"$(sql "SELECT ends_on FROM agreement_versions WHERE id = $vid")" \
	"$(hexcol "convert_to(terms, 'UTF8')" "agreement_versions WHERE id = $vid")" <"$ATK/parties")"
vid2="$(attack "INSERT INTO agreement_versions (room_id, version, starts_on, ends_on, terms, additions, activated_at)
        SELECT room_id, $V2, starts_on, ends_on, terms, additions, now() FROM agreement_versions
        WHERE id = $vid RETURNING id")"
attack "INSERT INTO agreement_parties (version_id, user_id, role, sign_pk, box_pk, signature, signed_at)
        SELECT $vid2, user_id, role, sign_pk, box_pk, signature, now() FROM agreement_parties
        WHERE version_id = $vid;
        INSERT INTO agreement_parties (version_id, user_id, role, sign_pk, box_pk, signature, signed_at)
        SELECT $vid2, id, 'mentee', sign_pk, box_pk, '\\x$evesig', now() FROM users WHERE id = $eve"
M=$(($(epoch_of "$A") + 1))
evekey2="$("$TOOL" roomkey)"
commit_epoch "$A" "$M" "$eve" "$ATK/eve.key" "$V2" "$evekey2" "$tom" "$ann" "$ben"
# and a message from eve under that key, so that readers fetch it
read -r cmid ct sig < <("$TOOL" encrypt "$ATK/eve.key" "$A" "$M" "$eve" "$evekey2" "eve: use this key")
es="$(attack "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = $A RETURNING last_seq")"
attack "INSERT INTO messages (room_id, seq, sender_id, client_msg_id, epoch, ciphertext, sig)
        VALUES ($A, $es, $eve, '\\x$cmid', $M, '\\x$ct', '\\x$sig')"
mark="$es"
expect_fail "tom's send is refused: the version in force does not verify" 1 \
	"not sending to room $A: room $A: the signature of [a-z]+ on version $V2 of its agreement does not verify" \
	as tom send "$A" "under the forged version"
expect_ok "ann reads room A" as ann read "$A"
expect_match "ann refuses eve's key: the version it names does not verify" \
	"the key for epoch $M of room $A was not accepted: the signature of [a-z]+ on version $V2 of its agreement does not verify" \
	"$LAST"
expect_match "eve's message stays unreadable" "eve: \\(cannot decrypt: the key for epoch $M was not accepted\\)" \
	"$(line_of "$LAST" "$es")"
expect_match "eve's key decrypts nothing stored after the attack" '^0$' "$(opened "$A" "$mark" "$evekey2")"
attack "DELETE FROM messages WHERE room_id = $A AND seq = $es; DELETE FROM agreement_versions WHERE id = $vid2;
        UPDATE rooms SET rotate_required = true WHERE id = $A"
drop_outbox tom

# --- G1/G2: agreements switched off, a reader inserted -------------------------------------
case_begin "G1/G2 switch-off: agreement_required false and reader rex on the roster"
rex="$(fake_user rex)"
attack "UPDATE programmes SET agreement_required = false WHERE id = $prog;
        INSERT INTO room_members (room_id, user_id, role, roster) VALUES ($A, $rex, 'mentee', true);
        UPDATE rooms SET rotate_required = true WHERE id = $A"
mark="$(last_seq "$A")"
expect_fail "tom's client refuses to seal a key to rex" 1 \
	"not sealing a new key for room $A: the server puts rex on its roster, but rex is not a signed member party of version $V" \
	as tom send "$A" "not for rex (pinned device)"
expect_match "and says the server dropped the agreement" \
	"WARNING: the server now says room $A needs no signed agreement" "$LAST"
expect_ok "ann logs in on a new device (nothing pinned)" as ann2 login ann
expect_fail "ann's new device refuses to seal a key to rex as well" 1 \
	"not sealing a new key for room $A: the server puts rex on its roster" \
	as ann2 send "$A" "not for rex (new device)"
expect_match "because the setting is not signed by the programme's creator" \
	"the server says programme $prog does without agreements, but its manager's signature on that setting is missing or does not verify" \
	"$LAST"
expect_match "no envelope was sealed to rex" '^0$' "$(sql "SELECT count(*) FROM key_envelopes WHERE recipient_id = $rex")"
rexkeys=()
for s in $(hexcol sealed "key_envelopes WHERE recipient_id = $rex"); do
	rexkeys+=("$("$TOOL" open "$ATK/rex.key" "$s" || echo "$NOKEY")")
done
expect_match "rex decrypts nothing" '^0$' "$(opened "$A" "$mark" "${rexkeys[@]:-$NOKEY}")"
attack "UPDATE programmes SET agreement_required = true WHERE id = $prog;
        DELETE FROM room_members WHERE room_id = $A AND user_id = $rex"
drop_outbox tom
drop_outbox ann2

case_begin "G2 moved: room A placed in a (genuinely signed) programme without agreements, rex on its roster"
expect_ok "the manager makes a programme without agreements (signed)" \
	as maria programme create --name "Open 2027" --starts 2027-01-01 --ends 2027-12-31 --agreement optional
open_prog="$(as maria --json programme list | jq -r '.programmes[] | select(.name == "Open 2027") | .id')"
attack "UPDATE rooms SET programme_id = $open_prog, rotate_required = true WHERE id = $A;
        INSERT INTO room_members (room_id, user_id, role, roster) VALUES ($A, $rex, 'mentee', true)"
expect_fail "tom's client refuses the room in its new programme" 1 \
	"the server now puts room $A in programme $open_prog, but this device knows it as part of programme $prog: refusing it" \
	as tom send "$A" "not for rex (moved room)"
expect_match "no envelope was sealed to rex" '^0$' "$(sql "SELECT count(*) FROM key_envelopes WHERE recipient_id = $rex")"
attack "UPDATE rooms SET programme_id = $prog WHERE id = $A;
        DELETE FROM room_members WHERE room_id = $A AND user_id = $rex"
drop_outbox tom

# --- E1: epoch rollback (room B) ---------------------------------------------------------
case_begin "E1 rollback: ben removed, key rotated, epoch set back to one ben holds"
e_old="$(epoch_of "$B")"
expect_ok "the manager removes ben from room B" as maria room remove "$B" ben
expect_ok "tom writes after ben left (new epoch)" as tom send "$B" "after ben left"
expect_ok "ann reads it (takes the new key)" as ann read "$B"
expect_match "ann reads it" 'tom: after ben left' "$LAST"
e_new="$(epoch_of "$B")"
expect_match "the room moved to a new epoch" "^$((e_old + 1))\$" "$e_new"
benkey="$(jq -r --arg r "$B" --arg e "$e_old" '.rooms[$r][$e].key // empty' "$T/home/ben/roomkeys.json")"
expect_match "(ben's old key does decrypt what was sent before)" '^[1-9]' "$(opened "$B" 0 "${benkey:-$NOKEY}")"
attack "UPDATE rooms SET epoch = $e_old, rotate_required = false, epoch_msg_count = 0, epoch_started_at = now()
        WHERE id = $B"
mark="$(last_seq "$B")"
expect_fail "tom's send is refused" 1 "turns epochs back" as tom send "$B" "rolled back? (tom)"
expect_match "naming both epochs" "the server says room $B is at key epoch $e_old, but this device has already used epoch $e_new" "$LAST"
expect_fail "ann's send is refused" 1 "turns epochs back" as ann send "$B" "rolled back? (ann)"
expect_match "ben's key decrypts nothing stored after the attack" '^0$' "$(opened "$B" "$mark" "${benkey:-$NOKEY}")"
attack "UPDATE rooms SET epoch = $e_new WHERE id = $B"
drop_outbox tom
drop_outbox ann

# --- A2: agreement downgrade (room B) -----------------------------------------------------
case_begin "A2 downgrade: version 2 (without ben) verified, then version 1 shown as in force"
sign_room "$B" maria tom ann
v2="$(sql "SELECT max(version) FROM agreement_versions WHERE room_id = $B AND activated_at IS NOT NULL")"
expect_ok "tom sends under version $v2" as tom send "$B" "under version $v2"
v2id="$(sql "SELECT id FROM agreement_versions WHERE room_id = $B AND version = $v2")"
v1id="$(sql "SELECT id FROM agreement_versions WHERE room_id = $B AND version = 1")"
saved="$(sql "SELECT activated_at FROM agreement_versions WHERE id = $v2id")"
e0="$(epoch_of "$B")"
attack "UPDATE agreement_versions SET activated_at = NULL WHERE id = $v2id;
        UPDATE agreement_parties SET withdrawn_at = NULL WHERE version_id = $v1id AND user_id = $ben;
        UPDATE room_members SET removed_at = NULL, removed_by = NULL, roster = true
        WHERE room_id = $B AND user_id = $ben;
        UPDATE rooms SET rotate_required = true WHERE id = $B"
mark="$(last_seq "$B")"
expect_fail "tom refuses the older version" 1 \
	"the server shows version 1 of room $B's agreement as the one in force, but this device has already verified version $v2" \
	as tom send "$B" "downgraded?"
expect_match "nothing was sealed to ben" '^0$' \
	"$(sql "SELECT count(*) FROM key_envelopes WHERE room_id = $B AND recipient_id = $ben AND epoch > $e0")"
expect_match "ben's old key decrypts nothing stored after the attack" '^0$' "$(opened "$B" "$mark" "${benkey:-$NOKEY}")"
expect_match "and ben, back in the room, reads nothing new" '^0$' \
	"$(as ben read "$B" 2>&1 | grep -c 'tom: downgraded?' || true)"
attack "UPDATE agreement_versions SET activated_at = '$saved' WHERE id = $v2id;
        UPDATE agreement_parties SET withdrawn_at = now() WHERE version_id = $v1id AND user_id = $ben;
        UPDATE room_members SET removed_at = now(), roster = false WHERE room_id = $B AND user_id = $ben"
drop_outbox tom

# --- U1: who cannot read ---------------------------------------------------------------
case_begin "U1 send names the member who has not signed"
expect_ok "the manager adds cat to room B" as maria room add "$B" cat
expect_ok "tom sends" as tom send "$B" "cat cannot read this yet"
expect_match "and is told cat cannot read it" \
	"note: cat cannot read this: they are in room $B but have not signed the agreement in force" "$LAST"
expect_match "cat indeed cannot" 'tom: \(cannot decrypt' "$(line_of "$(as cat read "$B" 2>&1)" "$(last_seq "$B")")"

# --- P1/P2: names swapped --------------------------------------------------------------
case_begin "P1/P2 name swap: tom and ben swap usernames"
st="$(send_seq tom "$A" "signed by tom")"
sb="$(send_seq ben "$A" "signed by ben")"
expect_match "tom's and ben's messages are stored" '^[0-9]+ [0-9]+$' "$st $sb"
attack "UPDATE users SET username = 'swap-tmp' WHERE id = $tom;
        UPDATE users SET username = 'tom' WHERE id = $ben;
        UPDATE users SET username = 'ben' WHERE id = $tom"
expect_ok "ann reads room A" as ann read "$A"
expect_match "ann is warned about tom" 'WARNING: THE SERVER NOW CALLS tom "ben"' "$LAST"
expect_match "and about ben" 'WARNING: THE SERVER NOW CALLS ben "tom"' "$LAST"
expect_match "tom's message is shown under tom's pinned name" 'tom: signed by tom$' "$(line_of "$LAST" "$st")"
expect_match "ben's under ben's" 'ben: signed by ben$' "$(line_of "$LAST" "$sb")"
expect_fail "ann's send to the room is refused" 1 "not sending to room $A" as ann send "$A" "who is who?"
# tom first: once user tom is pinned under his new name "ben", two pins share
# that name for a moment; `trust ben` must still reach ben's pending change
expect_ok "ann accepts tom's new name after checking in person" as ann trust tom --yes
expect_ok "and then ben's (the pin still waiting for a decision)" as ann trust ben --yes
expect_ok "then ann's message goes out" as ann send "$A" "checked in person"

# --- T2: terminal escapes in a notice ------------------------------------------------
case_begin "T2 escapes: a notice whose name, place and reason carry terminal control codes"
attack "INSERT INTO notices (user_id, kind, data, created_at) VALUES ($ann, 'checkpoint.rescheduled',
        jsonb_build_object('kind', 'checkpoint.rescheduled', 'at', '2027-01-05T10:00:00Z',
          'room_id', $A, 'checkpoint_id', 1, 'checkpoint_kind', E'initial\\u001b]0;owned\\u0007',
          'by', E'tom\\u001b[2J', 'starts_at', '2027-01-06T10:00:00Z',
          'place', E'Cafe\\u001b[31m', 'reason', E'late\\u009b1m', 'late', true), now())"
expect_ok "ann lists her notices" as ann notices --keep
expect_match "the notice is shown" 'rescheduled the initial' "$LAST"
expect_absent "no ESC reaches the terminal" $'\e' <(printf '%s' "$LAST")
expect_absent "no C1 CSI either" $'\xc2\x9b' <(printf '%s' "$LAST")

# --- R1: concern reports the server reads or forges -------------------------------------
case_begin "R1 reports: the server cannot read a report, pass it off as another's or move it"
sr="$(last_seq "$A")"
expect_ok "ann reports her last message of room A" to_file "$ATK/report.json" \
	as ann --json report create "$A" --seq "$sr" --note "ann's hostile-case note falcon-12"
rid="$(jq -r .report_id "$ATK/report.json")"
expect_fail "maria's client does not verify it while the swapped names of P1 stand" 1 "UNVERIFIABLE.*other keys" \
	as maria report show "$rid"
expect_ok "maria accepts tom's new name after checking in person" as maria trust tom --yes
expect_ok "and ben's" as maria trust ben --yes
expect_ok "maria's client verifies it" as maria report show "$rid"
expect_match "with ann's message" "verified: checked in person" "$LAST"
expect_match "the stored report holds neither the note nor the text" '^0$' \
	"$(sql "SELECT count(*) FROM reports WHERE position(convert_to('falcon-12', 'UTF8') IN blob) > 0
	        OR position(convert_to('checked in person', 'UTF8') IN blob) > 0")"
forged="$(sql "INSERT INTO reports (programme_id, room_id, reporter_id, kind, agreement_version,
	written_ms, blob) SELECT programme_id, room_id, $ben, kind, agreement_version, written_ms, blob
	FROM reports WHERE id = $rid RETURNING id" | head -n1)"
expect_fail "ann's report passed off as ben's is unverifiable" 1 "UNVERIFIABLE" as maria report show "$forged"
expect_absent "and shows no quoted text" "checked in person" <(printf '%s' "$LAST")
attack "UPDATE reports SET kind = 'change_request' WHERE id = $rid"
expect_fail "a report whose kind the server changed is unverifiable" 1 "UNVERIFIABLE" as maria report show "$rid"
attack "UPDATE reports SET kind = 'concern', room_id = $B WHERE id = $rid"
expect_fail "a report moved to room B is unverifiable" 1 "UNVERIFIABLE" as maria report show "$rid"
expect_absent "and shows no quoted text" "checked in person" <(printf '%s' "$LAST")

# --- F1: profiles sealed to a manager the server adds, or passed off as another's ------
case_begin "F1 profiles: the server offers its own manager key, or moves a profile to another person"
mal="$(fake_user mal)"
attack "UPDATE users SET role = 'manager' WHERE id = $mal;
        INSERT INTO programme_people (programme_id, user_id, role) VALUES ($prog, $mal, 'manager')"
expect_fail "cat (no room, no fingerprint) seals nothing to the managers the server names" 1 \
	'no manager of programme [0-9]+ is verified' as cat profile fill --programme "$prog" --answer values=x
expect_match "nothing was stored" '^0$' "$(sql "SELECT count(*) FROM profiles")"
expect_ok "ann fills in hers: maria is verified by room A's signed agreement" \
	as ann profile fill --programme "$prog" --answer "values=ann-profile-owl-7" --answer motivation=5
expect_match "sealed to maria" 'Sealed to you, maria \(verified by a signed agreement\)' "$LAST"
expect_match "not to the server's manager" 'NOT sealed to mal, whom the server names as a manager' "$LAST"
expect_ok "maria opens it" as maria profile show --programme "$prog"
expect_match "its signed readers are maria and ann only" 'Readers: maria, ann$' "$LAST"
expect_match "the stored profile holds no answer" '^0$' \
	"$(sql "SELECT count(*) FROM profiles WHERE position(convert_to('owl-7', 'UTF8') IN blob) > 0")"
attack "UPDATE profiles SET user_id = $ben WHERE user_id = $ann"
expect_fail "ann's profile passed off as ben's is unverifiable to maria" 1 'UNVERIFIABLE.*signature does not verify' \
	as maria profile show --programme "$prog"
expect_absent "and shows none of it" "owl-7" <(printf '%s' "$LAST")
expect_ok "maria's suggestion leaves it out" to_file "$ATK/suggest.json" as maria --json match suggest --programme "$prog"
expect_match "with why" 'signature does not verify' "$(jq -r '.left_out[0].why' "$ATK/suggest.json")"

# --- S1: a member injected into a support room ------------------------------------------
case_begin "S1 support room: the server adds a reader to a manager's support room"
cat="$(uid cat)"
S="$(as maria --json support open --programme "$prog" cat | jq -r .room.id)"
sign_room "$S" maria cat
expect_ok "cat writes to maria in the support room" as cat send "$S" "S: cat to maria"
expect_ok "maria reads it" as maria read "$S"
expect_match "two parties, maria seated as support" '^cat:mentee,maria:support$' \
	"$(sql "SELECT string_agg(u.username || ':' || m.role, ',' ORDER BY u.username) FROM room_members m
	        JOIN users u ON u.id = m.user_id WHERE m.room_id = $S AND m.removed_at IS NULL")"
attack "INSERT INTO room_members (room_id, user_id, role, roster) VALUES ($S, $rex, 'mentee', true);
        UPDATE rooms SET rotate_required = true WHERE id = $S"
mark="$(last_seq "$S")"
expect_fail "maria's client refuses to seal a key to rex" 1 \
	"not sealing a new key for room $S: the server puts rex on its roster" \
	as maria send "$S" "not for rex (support room)"
expect_match "no envelope was sealed to rex" '^0$' "$(sql "SELECT count(*) FROM key_envelopes WHERE recipient_id = $rex")"
attack "DELETE FROM room_members WHERE room_id = $S AND user_id = $rex"
drop_outbox maria

# --- N1: announcements the server forges or alters ------------------------------------
case_begin "N1 announcements: the server cannot forge, alter or re-address one"
expect_ok "maria announces to all" as maria announce send --programme "$prog" --to all --yes \
	"the real announcement kite-64"
expect_ok "cat reads it, verified" as cat announce list
expect_match "verified, with its text" "verified.*kite-64|kite-64" "$LAST"
expect_match "the stored body holds no text" '^0$' \
	"$(sql "SELECT count(*) FROM announcements WHERE position(convert_to('kite-64', 'UTF8') IN body) > 0")"
maria="$(uid maria)"
read -r fbody fkey < <("$TOOL" announce "$ATK/rex.key" "$prog" all "$(($(date +%s) * 1000))" "$maria" \
	"forged in maria's name osprey-21" "$cat" "$(hexcol box_pk "users WHERE id = $cat")")
attack "WITH a AS (INSERT INTO announcements (programme_id, manager_id, audience, written_ms, body, delivered_at)
        VALUES ($prog, $maria, 'all', $(($(date +%s) * 1000)), '\\x$fbody', now()) RETURNING id)
        INSERT INTO announcement_keys SELECT id, $cat, '\\x$fkey' FROM a"
expect_ok "cat's list with the forged announcement" to_file "$ATK/ann.json" as cat --json announce list
expect_match "the forgery is refused: it does not verify with maria's pinned key" '^false .*forged or altered' \
	"$(jq -r '.announcements[0] | "\(.verified) \(.error)"' "$ATK/ann.json")"
expect_absent "and its text is not shown" "osprey-21" "$ATK/ann.json"
attack "UPDATE announcements SET audience = 'mentors'
        WHERE id = (SELECT min(id) FROM announcements WHERE programme_id = $prog)"
expect_ok "cat's list after the real one was re-addressed" to_file "$ATK/ann2.json" as cat --json announce list
expect_match "the re-addressed one does not verify either" '^false$' \
	"$(jq -r '[.announcements[] | select(.audience == "mentors") | .verified] | join(",")' "$ATK/ann2.json")"

case_end
echo
echo "Cases:"
printf '  %s\n' "${case_lines[@]}"
e2e_summary
