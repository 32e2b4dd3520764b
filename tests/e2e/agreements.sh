#!/usr/bin/env bash
# tests/e2e/agreements.sh - mentoring agreements, consent and your data
# (PROTOCOL.md section 7) with real processes: a real ementord over TLS on a
# fresh database, the real ementor CLI with one home per person, psql for
# what only the database can show.
#
# What it shows: a group room's six parties (manager, mentor, four mentees)
# must all sign before anyone can send (agreement_unsigned); `agreement show`
# lists who signed, with each signature verified on the reader's device;
# once all six sign the version is active and messages flow; a proposed term
# makes a pending version while the active one keeps the room working; a
# mentee added later is not on the roster, cannot read new messages, is
# sealed no key until everyone signs the new version, and a client refuses to
# seal when the server claims an unsigned member is on the roster; a mentee
# who withdraws their signature cannot read what follows while the others
# can; `consent list` shows the signed records; `export` holds the profile,
# consents, agreements and decrypted messages; withdrawing data_processing
# erases the account; `ementord verify-ledger` finds a changed and a deleted
# ledger row, and with a head recorded earlier (--ledger-head) a removed newest
# one; the retention purge deletes an expired programme's ciphertext and keys,
# keeps activity counts, and leaves other programmes alone; an
# optional-agreement programme talks without signing.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

e2e_serve

sql() { psql --no-psqlrc -qtA "$DB" -c "$1"; }
user_id() { as "$1" --json whoami | jq -r '.user.id'; }
# key_epochs HOME ROOM: how many room keys of ROOM the home holds
key_epochs() { jq -r --arg r "$2" '(.rooms[$r] // {}) | length' "$T/home/$1/roomkeys.json" 2>/dev/null || echo 0; }

# --- people and a group room of six parties -------------------------------------------
code="$(first_invite)"
expect_fail "registering without accepting the privacy notice is refused" 2 "accept-privacy" \
	setsid -w "$BIN/ementor" --home "$T/home/maria" register --invite "$code" --username maria </dev/null
expect_match "the notice is shown before anything is sent" 'Privacy notice \(version' "$LAST"
expect_ok "the manager registers, accepting the notice" as maria register --invite "$code" --username maria
expect_ok "a programme where agreements are required (the default)" \
	as maria programme create --name "Agreed 2027" --starts 2027-03-01 --ends 2027-08-31
prog="$(as maria --json programme list | jq -r '.programmes[0].id')"
expect_ok "programme show" as maria programme show "$prog"
expect_match "says agreements are required" 'Agreement: +required' "$LAST"
expect_ok "the mentor registers" as tom register --invite "$(invite "$prog" mentor)" --username tom
for g in gm1 gm2 gm3 gm4 gm5; do
	expect_ok "mentee $g registers" as "$g" register --invite "$(invite "$prog" mentee)" --username "$g"
done
group="$(as maria --json room create --programme "$prog" --kind group --name "Group A" \
	--member tom --member gm1 --member gm2 --member gm3 --member gm4 | jq -r .room.id)"
expect_match "a group room exists" '^[0-9]+$' "$group"

expect_ok "a member shows the agreement" as gm1 agreement show "$group"
expect_match "no active version yet" 'Active: none yet' "$LAST"
expect_match "version 1 is pending" 'Pending: version 1' "$LAST"
expect_match "its terms are the programme's template" 'Code of ethics' "$LAST"
parties="$(as gm1 --json agreement show "$group" | jq -r '[.pending.parties[].username] | sort | join(",")')"
expect_match "six parties: the manager, the mentor and the four mentees" '^gm1,gm2,gm3,gm4,maria,tom$' "$parties"

expect_fail "before anyone signs, send is refused" 1 \
	"you have not signed the agreement of room $group: run .ementor agreement sign $group. \(agreement_unsigned\)" \
	as tom send "$group" "too early"
expect_match "the refused message waits in the outbox" 'too early' "$(as tom outbox list)"
expect_fail "signing without a terminal needs --yes" 2 "--yes" \
	setsid -w "$BIN/ementor" --home "$T/home/gm1" agreement sign "$group" </dev/null

sign_room "$group" maria tom gm1 gm2
expect_match "a signature before the last is not the activation" 'Waiting for: gm3, gm4' "$LAST"
expect_fail "a signer cannot send while others have not signed" 1 "agreement_unsigned" \
	as gm1 send "$group" "still too early"
expect_match "that one waits in gm1's outbox" 'still too early' "$(as gm1 outbox list)"
expect_ok "agreement show lists who signed" as gm3 agreement show "$group"
expect_match "tom signed, verified on gm3's device" 'tom +mentor +([0-9a-f]{4} ){7}[0-9a-f]{4} +signed [0-9-]+T[0-9:]+Z +verified' "$LAST"
expect_match "the manager is a party and signed" 'maria +manager .* signed .* verified' "$LAST"
expect_match "gm3 has not signed" 'gm3 +mentee .* not signed' "$LAST"
expect_match "and the ones missing are named" 'Waiting for: gm3, gm4' "$LAST"
sign_room "$group" gm3 gm4
expect_match "the last signature activates version 1" 'Every party has signed: version 1 is active' "$LAST"
expect_ok "agreement show after everyone signed" as gm2 agreement show "$group"
expect_match "version 1 is active" 'Active: version 1, 2027-03-01 to 2027-08-31' "$LAST"
expect_match "the roster is the five members" 'Roster \(sealed the room key\): tom, gm1, gm2, gm3, gm4$' "$LAST"
checks="$(as gm2 --json agreement show "$group" | jq -r '[.active.parties[].check] | unique | join(",")')"
expect_match "every signature of the active version verifies on gm2's device" '^verified$' "$checks"

# --- a conversation -------------------------------------------------------------
expect_ok "the mentor sends" as tom send "$group" "welcome, all four of you"
expect_match "the message refused earlier goes first" 'delivered 1 queued message first' "$LAST"
expect_ok "a mentee answers" as gm2 send "$group" "thanks tom"
for g in tom gm1 gm2 gm3 gm4; do
	out="$(as "$g" read "$group" 2>&1)" || true
	expect_match "$g reads the conversation" 'tom: too early.*tom: welcome, all four of you.*gm2: thanks tom' "$(tr '\n' ' ' <<<"$out")"
done
expect_fail "the manager, a party but not a member, cannot read" 1 "forbidden|manager|not a member" \
	as maria read "$group"

# --- a proposed term: a pending version, the active one still in force -----------------
expect_ok "a mentee proposes a term" as gm2 agreement propose "$group" --add-term "We meet every other Tuesday"
expect_match "it makes version 2 pending" 'Version 2 .* is pending' "$LAST"
expect_ok "agreement show" as tom agreement show "$group"
expect_match "version 1 stays active" 'Active: version 1' "$LAST"
expect_match "version 2 is pending" 'Pending: version 2' "$LAST"
expect_match "with the term, signed by its author's name" 'Added by gm2: We meet every other Tuesday' "$LAST"
expect_ok "the room keeps working under the active version" as gm3 send "$group" "see you Tuesday then"
expect_match "gm1 reads it" 'gm3: see you Tuesday then' "$(as gm1 read "$group" 2>&1)"

# --- a mentee added later: not on the roster until everyone signs -------------------------
g5_id="$(user_id gm5)"
expect_ok "the manager adds gm5 to the room" as maria room add "$group" gm5
roster="$(as gm5 --json room show "$group" | jq -r '.room.members[] | select(.username == "gm5") | .roster')"
expect_match "room show: gm5 is not on the roster" '^false$' "$roster"
expect_ok "the mentor writes after gm5 joined" as tom send "$group" "gm5 cannot read this yet"
expect_ok "gm5 reads the room" as gm5 read "$group"
expect_match "gm5 is told why the new message is unreadable" \
	"tom: \(cannot decrypt: you have not signed the agreement of room $group: run .ementor agreement sign $group.\)" "$LAST"
expect_match "gm5 holds no room key at all" '^0$' "$(key_epochs gm5 "$group")"
expect_fail "gm5 cannot send either" 1 "agreement_unsigned" as gm5 send "$group" "hello?"
as gm5 outbox drop -- "$(as gm5 --json outbox list | jq -r '.[0].client_msg_id')" >/dev/null

# a server that lies: it puts gm5 on the roster without a signature (done here in
# the database); the members' clients check the agreement and refuse to seal
sql "UPDATE room_members SET roster = true WHERE room_id = $group AND user_id = $g5_id AND removed_at IS NULL;
     UPDATE rooms SET rotate_required = true WHERE id = $group;" >/dev/null
expect_fail "the mentor's client refuses to seal a key to an unsigned roster member" 1 \
	"not sealing a new key for room $group: the server puts gm5 on its roster, but gm5 is not a signed member party of version [0-9]+ of the agreement in force" \
	as tom send "$group" "sealed to gm5?"
expect_match "gm5 still holds no room key" '^0$' "$(key_epochs gm5 "$group")"
sql "UPDATE room_members SET roster = false WHERE room_id = $group AND user_id = $g5_id AND removed_at IS NULL;" >/dev/null

sign_room "$group" maria tom gm1 gm2 gm3 gm4 gm5
expect_match "the new version (gm2's term, gm5) is active once all seven sign" 'Every party has signed: version 3 is active' "$LAST"
expect_ok "the mentor welcomes gm5" as tom send "$group" "welcome gm5"
expect_ok "gm5 reads the room again" as gm5 read "$group"
expect_match "gm5 reads what is sent now" 'tom: welcome gm5' "$LAST"
expect_match "but not what was sent before gm5 was on the roster" 'tom: \(cannot decrypt' "$LAST"
expect_match "the message the mentor's client held back went out sealed to gm5 only after the signatures" \
	'tom: sealed to gm5\?' "$LAST"

# --- a mentee withdraws their signature ----------------------------------------------
expect_ok "gm4 withdraws from the agreement" as gm4 consent withdraw agreement --room "$group"
expect_match "and is told what that means" 'off the room.s roster' "$LAST"
expect_ok "the mentor writes after the withdrawal" as tom send "$group" "after gm4 withdrew"
expect_ok "gm4 reads the room" as gm4 read "$group"
expect_match "gm4 cannot decrypt the new message" \
	"tom: \(cannot decrypt: you have not signed the agreement of room $group" "$LAST"
expect_match "gm4 still reads what came before" 'tom: welcome gm5' "$LAST"
for g in gm1 gm5; do
	expect_match "$g still reads it" 'tom: after gm4 withdrew' "$(as "$g" read "$group" 2>&1)"
done
expect_fail "gm4 cannot send" 1 "agreement_unsigned" as gm4 send "$group" "am I out?"
as gm4 outbox drop -- "$(as gm4 --json outbox list | jq -r '.[0].client_msg_id')" >/dev/null

# --- consent list and share_progress --------------------------------------------------------
expect_ok "gm4 lists their consents" as gm4 consent list
expect_match "the privacy grant of registration" 'data_processing +notice-[^ ]+ +grant +verified' "$LAST"
expect_match "the agreement grants" "agreement +room:$group +grant +verified" "$LAST"
expect_match "the withdrawal" "agreement +room:$group +withdraw +verified" "$LAST"
expect_match "no record fails its signature check" '^0$' "$(grep -c 'DOES NOT VERIFY' <<<"$LAST" || true)"
expect_match "what stands now" "agreement +room:$group +withdrawn" "$LAST"
expect_ok "gm1 lets the managers see their progress" as gm1 consent grant share_progress --programme "$prog"
expect_match "the sentence agreed to is shown" 'You agree to: ' "$LAST"
expect_ok "and withdraws it again" as gm1 consent withdraw share_progress --programme "$prog"
expect_ok "gm1's consent list" as gm1 consent list
expect_match "has the share_progress grant" "share_progress +programme:$prog +grant +verified" "$LAST"
expect_match "and its withdrawal" "share_progress +programme:$prog +withdraw +verified" "$LAST"
expect_fail "withdrawing what is not granted is refused" 1 "no share_progress consent" \
	as gm1 consent withdraw share_progress --programme "$prog"

# --- export ----------------------------------------------------------------------------
expect_ok "gm5 exports their data" as gm5 export --output "$T/gm5.json"
expect_match "the file is private" '^600$' "$(stat -c %a "$T/gm5.json")"
expect_match "it holds the profile" '^gm5$' "$(jq -r .user.username "$T/gm5.json")"
expect_match "the consents" '^[1-9]' "$(jq '.consents | length' "$T/gm5.json")"
expect_match "the agreements signed" "^[1-9]" "$(jq '.agreements | length' "$T/gm5.json")"
expect_match "the decrypted messages" '^1$' \
	"$(jq '[.messages[] | select(.room_id == '"$group"' and .text == "welcome gm5")] | length' "$T/gm5.json")"
expect_match "and the ones gm5's keys cannot open, marked" '^[1-9]' \
	"$(jq '[.messages[] | select(.undecryptable == true)] | length' "$T/gm5.json")"
expect_match "every message of the room is there" "^$(as tom --json read "$group" | jq length)\$" \
	"$(jq '[.messages[] | select(.room_id == '"$group"')] | length' "$T/gm5.json")"
if as gm1 export >"$T/gm1.json" 2>/dev/null; then ok "export to standard output"; else not_ok "export to standard output"; fi
expect_match "gm1 has every text" '^0$' "$(jq '[.messages[] | select(.undecryptable == true)] | length' "$T/gm1.json")"

# --- erasure: withdrawing data_processing ---------------------------------------------------
g3_id="$(user_id gm3)"
expect_fail "erasure without a terminal needs --yes" 2 "--yes" \
	setsid -w "$BIN/ementor" --home "$T/home/gm3" consent withdraw data_processing </dev/null
expect_match "and says clearly what it does" 'ERASES YOUR ACCOUNT gm3' "$LAST"
expect_ok "gm3 withdraws data_processing" as gm3 consent withdraw data_processing --yes
expect_match "the account is erased" 'Your account gm3 was erased' "$LAST"
expect_match "the local session is gone" '^absent$' "$([[ -e "$T/home/gm3/session.json" ]] && echo present || echo absent)"
expect_fail "gm3 cannot log in any more" 1 "bad_credentials|wrong username or password" as gm3 login gm3
row="$(sql "SELECT username, length(key_backup), sign_pk = '\\x$(printf '0%.0s' {1..64})'::bytea,
                   box_pk = '\\x$(printf '0%.0s' {1..64})'::bytea, erased_at IS NOT NULL
            FROM users WHERE id = $g3_id")"
expect_match "the database keeps no username, key backup or public keys for gm3" '^~?erased-[0-9]+\|0\|t\|t\|t$' "$row"
expect_match "and no key envelope addressed to gm3" '^0$' "$(sql "SELECT count(*) FROM key_envelopes WHERE recipient_id = $g3_id")"
expect_match "gm3 left the room" '^0$' "$(sql "SELECT count(*) FROM room_members WHERE user_id = $g3_id AND removed_at IS NULL")"
expect_ok "the room goes on without gm3" as tom send "$group" "after gm3 left"
expect_match "gm1 reads it" 'tom: after gm3 left' "$(as gm1 read "$group" 2>&1)"

# --- the consent ledger ----------------------------------------------------------------------
expect_ok "verify-ledger: the chain is intact" "$BIN/ementord" verify-ledger --db "$DB"
expect_match "and says so" 'intact' "$LAST"
subject2="$(sql "SELECT subject FROM consent_ledger WHERE seq = 2")"
sql "ALTER TABLE consent_ledger DISABLE TRIGGER USER; UPDATE consent_ledger SET subject = 'x' WHERE seq = 2;" >/dev/null
expect_fail "a changed row is found" 1 "entry 2[^0-9]" "$BIN/ementord" verify-ledger --db "$DB"
expect_match "the ledger is reported not intact" 'NOT intact' "$LAST"
sql "UPDATE consent_ledger SET subject = '$subject2' WHERE seq = 2;" >/dev/null
expect_ok "restored, the chain verifies again" "$BIN/ementord" verify-ledger --db "$DB"
head="$(grep -oE 'head [0-9]+:[0-9a-f]{64}' <<<"$LAST" | cut -d' ' -f2)"
expect_match "it prints its head as SEQ:HASH" '^[0-9]+:[0-9a-f]{64}$' "$head"
expect_ok "with that head recorded, it verifies" "$BIN/ementord" verify-ledger --db "$DB" --ledger-head "$head"
expect_match "and says the head is in the chain" 'recorded head [0-9]+ is in the chain' "$LAST"
last="${head%%:*}"
sql "DELETE FROM consent_ledger WHERE seq = $last;" >/dev/null
expect_ok "the newest entry removed: without a recorded head the chain still looks intact" \
	"$BIN/ementord" verify-ledger --db "$DB"
expect_fail "with the recorded head the removal is found" 1 "entry $last of the recorded head is gone" \
	"$BIN/ementord" verify-ledger --db "$DB" --ledger-head "$head"
expect_fail "a head that is not the chain's entry is found" 1 "entry 1 is not the recorded head" \
	"$BIN/ementord" verify-ledger --db "$DB" --ledger-head "1:$(printf '0%.0s' {1..64})"
expect_fail "a malformed head is a usage error" 2 "not SEQ:HASH" \
	"$BIN/ementord" verify-ledger --db "$DB" --ledger-head "12:beef"
sql "DELETE FROM consent_ledger WHERE seq = 3;" >/dev/null
expect_fail "a deleted middle row is found" 1 "entry 4 |expected" "$BIN/ementord" verify-ledger --db "$DB"
sql "ALTER TABLE consent_ledger ENABLE TRIGGER USER;" >/dev/null

# --- optional agreements, templates, retention --------------------------------------------------
ends="$(date -u -d '+1 day' +%F)"
starts="$(date -u -d '-30 days' +%F)"
expect_ok "a short programme: agreements optional, messages kept 1 day after the end" \
	as maria programme create --name "Short" --starts "$starts" --ends "$ends" --agreement optional --retention-days 1
short="$(as maria --json programme list | jq -r '.programmes[] | select(.name == "Short") | .id')"
expect_ok "the manager reads the template" as maria agreement template show "$short"
expect_match "the default terms" 'Code of ethics' "$LAST"
if printf 'Short programme terms\n\nBe kind.\n' | as maria agreement template edit "$short" --file - >/dev/null; then
	ok "the manager edits the template from stdin"
else
	not_ok "the manager edits the template from stdin"
fi
expect_match "the new template is shown" 'Be kind\.' "$(as maria agreement template show "$short")"
expect_fail "a mentee may not edit it" 1 "forbidden|not_found" \
	sh -c "echo hi | \"$BIN/ementor\" --home \"$T/home/gm1\" agreement template edit $short --file -"
expect_ok "sam registers" as sam register --invite "$(invite "$short" mentor)" --username sam
expect_ok "lea registers" as lea register --invite "$(invite "$short" mentee)" --username lea
pair="$(as maria --json room create --programme "$short" --kind pair --member sam --member lea | jq -r .room.id)"
expect_match "the agreement is optional there" '^false$' "$(as sam --json agreement show "$pair" | jq -r .required)"
expect_ok "without an agreement signed, the pair talks" as sam send "$pair" "short one"
expect_ok "and again" as lea send "$pair" "indeed"
expect_match "lea reads" 'sam: short one' "$(as lea read "$pair" 2>&1)"
# without agreements the server decides who is in a room: every member is announced on each
# member's device before a key is sealed to them (SECURITY.md S2)
expect_ok "zoe registers" as zoe register --invite "$(invite "$short" mentee)" --username zoe
expect_ok "ida registers" as ida register --invite "$(invite "$short" mentee)" --username ida
circle="$(as maria --json room create --programme "$short" --kind group --member sam --member lea --member zoe | jq -r .room.id)"
expect_ok "sam writes to the group" as sam send "$circle" "hello circle"
expect_match "on first sight sam is told who is in it" "NOTICE: room $circle is in a programme without agreements: lea .fingerprint" "$LAST"
expect_match "lea reads it (her first look at the room)" 'sam: hello circle' "$(as lea read "$circle" 2>&1)"
expect_ok "the manager adds ida" as maria room add "$circle" ida
expect_ok "sam writes again" as sam send "$circle" "welcome ida"
expect_match "sam is told ida joined before the key is sealed to her" "NOTICE: ida .fingerprint [0-9a-f ]+. JOINED room $circle" "$LAST"
out="$(as lea read "$circle" 2>&1)"
expect_match "lea is told too" "NOTICE: ida .fingerprint [0-9a-f ]+. JOINED room $circle" "$out"
expect_match "ida reads what was sent after she joined" 'sam: welcome ida' "$(as ida read "$circle" 2>&1)"
count_msgs() { sql "SELECT count(*) FROM messages m JOIN rooms r ON r.id = m.room_id WHERE r.programme_id = $1"; }
count_env() { sql "SELECT count(*) FROM key_envelopes k JOIN rooms r ON r.id = k.room_id WHERE r.programme_id = $1"; }
expect_match "the short programme has ciphertext" '^4$' "$(count_msgs "$short")"
before_other="$(count_msgs "$prog")"
expect_ok "nothing is due today" "$BIN/ementord" purge-expired --db "$DB"
expect_match "nothing purged" '^0 programme' "$(tail -n1 <<<"$LAST")"
expect_ok "five days later the purge runs" "$BIN/ementord" purge-expired --db "$DB" --clock-offset $((5 * 86400))
expect_match "it purged the short programme" "purged programme $short" "$LAST"
expect_match "its messages are gone" '^0$' "$(count_msgs "$short")"
expect_match "its key envelopes are gone" '^0$' "$(count_env "$short")"
expect_match "its activity is kept as counts" '^[1-9]' "$(sql "SELECT count(*) FROM room_activity WHERE room_id = $pair")"
expect_match "with the number of messages" '^2$' "$(sql "SELECT sum(messages) FROM room_activity WHERE room_id = $pair")"
expect_match "the other programme keeps its messages" "^$before_other\$" "$(count_msgs "$prog")"
expect_match "which are more than none" '^[1-9]' "$before_other"
expect_match "the programme shows it was purged" 'purged' "$(as maria programme show "$short")"

expect_absent "the log holds no message text" "welcome, all four of you" "$LOG"
e2e_summary
