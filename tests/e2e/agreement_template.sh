#!/usr/bin/env bash
# tests/e2e/agreement_template.sh - the default agreement template in English
# and Polish, and the agreement.changed notices that tell every party when a
# change needs their signature again (PROTOCOL.md 6.2 and 7.3), with a real
# ementord over TLS on a fresh database, the real CLI and psql.
#
# What it shows: the English and the Polish default each hold every point of
# the course (one phrase per point, grepped in both); a programme switched to
# the Polish default gives its rooms Polish terms, which every party signs;
# only managers switch; a template edit makes a new pending version in the
# rooms without an active agreement and tells their parties (not the editor,
# not a room with an active agreement); a proposed term tells every other
# party of that room, with counts and no term text; `ementor notices` says
# what to run; `agreement show` prints the lines changed between the active
# and the pending version, computed on the client; everyone re-signs and the
# new version is active; nobody outside the room gets a notice; and when the
# server alters the active version's text, the client shows no diff against
# it (the signatures no longer verify). Last, a database migrated to 008 with
# a room, then to 012: that programme keeps the old default as its own text
# (no new version), a programme without rooms takes the new default.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

e2e_serve

sql() { psql --no-psqlrc -qtA "$DB" -c "$1"; }
changed() { # changed USER: USER's unread agreement.changed notices as JSON lines
	as "$1" --json notices --keep | jq -c '.notices[] | select(.kind == "agreement.changed")'
}
count_changed() { changed "$1" | grep -c . || true; }

# --- people, two programmes ---------------------------------------------------------------
expect_ok "the manager registers" as maria register --invite "$(first_invite)" --username maria
expect_ok "an English programme" as maria programme create --name "English 2027" --starts 2027-03-01 --ends 2027-08-31
expect_ok "a Polish programme" as maria programme create --name "Polski 2027" --starts 2027-03-01 --ends 2027-08-31
en="$(as maria --json programme list | jq -r '.programmes[] | select(.name == "English 2027") | .id')"
pl="$(as maria --json programme list | jq -r '.programmes[] | select(.name == "Polski 2027") | .id')"

# --- the default template, point by point, in both languages ------------------------------
expect_ok "the manager reads the default template" as maria agreement template show "$en"
expect_match "it says it is the English default" 'the default, in English' "$LAST"
en_text="$(as maria --json agreement template show "$en" | jq -r .text)"
expect_ok "the manager switches the other programme to the Polish default" \
	as maria agreement template default "$pl" --lang pl
expect_match "and is told so" 'now uses the default agreement template in Polish' "$LAST"
expect_match "template show names the language" 'the default, in Polish' "$(as maria agreement template show "$pl")"
expect_match "--json says lang pl" '^pl$' "$(as maria --json agreement template show "$pl" | jq -r .lang)"
pl_text="$(as maria --json agreement template show "$pl" | jq -r .text)"
# point|English phrase|Polish phrase
while IFS='|' read -r point en_phrase pl_phrase; do
	[[ -n "$point" ]] || continue
	if grep -qF -- "$en_phrase" <<<"$en_text"; then ok "English: $point"; else not_ok "English: $point" "no '$en_phrase'"; fi
	if grep -qF -- "$pl_phrase" <<<"$pl_text"; then ok "Polish: $point"; else not_ok "Polish: $point" "no '$pl_phrase'"; fi
done <<'EOF'
duration|Duration. This agreement runs from the start date to the end date|Czas trwania. Umowa obowiązuje od daty rozpoczęcia do daty zakończenia
the mentee's commitment and goals|responsible for setting their own|odpowiada za wyznaczenie własnych celów
communication: the secure platform|We communicate on this secure platform|Komunikujemy się na tej bezpiecznej platformie
communication: three face-to-face checkpoints|at least three|najmniej trzy razy (spotkanie początkowe, spotkanie śródokresowe
communication: planned sessions|further sessions of our session plan|kolejnych sesjach z naszego planu spotkań
communication: response times|messages within two working days|odpowiadamy w ciągu dwóch dni roboczych
mutual support among mentees|The mentees support one another|Mentee wspierają się nawzajem
openness|Openness. We speak openly|Otwartość. Mówimy otwarcie
think before you say or write|Think before you say or write|Myślimy, zanim coś powiemy lub napiszemy
respect for time|Respect everyone's time|Szanujemy czas wszystkich
respect for opinions|Respect the opinions of others|Szanujemy opinie innych
honesty|Be honest.|Jesteśmy uczciwi.
attendance: a mentee tells the mentor and the manager and catches up|A mentee who cannot attend tells the|uprzedza mentora i koordynatora programu i uzgadnia z nimi, jak nadrobić
attendance: a mentor tells every mentee 48 h ahead|at least two days (48 hours) beforehand|co najmniej dwa dni (48 godzin) wcześniej
attendance: another date for the whole group|date that suits the whole group|inny termin odpowiadający całej grupie
the manager organises and supports|The programme manager organises the programme, supports|Koordynator programu organizuje program, wspiera
the manager attends the mid-term|part in the mid-term review|uczestniczy
the manager audits without reading content|never reads the content of our|nigdy nie czyta treści naszych
advice is guidance|Advice is guidance|Rada to wskazówka
mentees own their decisions|the mentees make their own|mentee sami podejmują
ending early or re-matching|end the relationship early or to be|zakończenie relacji lub o dobranie innej osoby
confidentiality between mentor, mentees and manager|stays between the mentor, the mentees|zostaje między mentorem, mentee
confidentiality after the programme|during the programme and after it ends|w trakcie programu i po jego zakończeniu
the mentee's identity|Nobody reveals who the|Nikt nie ujawnia, kim są
within legal requirements|what the law requires|czego wymaga prawo
code of ethics the parties may extend|The parties may extend this code|Strony mogą rozszerzyć ten kodeks
EOF
expect_match "the English code of ethics is there" '^Code of ethics$' "$en_text"
expect_match "the Polish one too" '^Kodeks etyczny$' "$pl_text"

# --- people and rooms ----------------------------------------------------------------------
for who in tom:mentor gm1:mentee gm2:mentee gm3:mentee sam:mentor lea:mentee; do
	expect_ok "${who%%:*} registers" as "${who%%:*}" register --invite "$(invite "$en" "${who#*:}")" --username "${who%%:*}"
done
for who in zed:mentor ola:mentee; do
	expect_ok "${who%%:*} registers in the Polish programme" \
		as "${who%%:*}" register --invite "$(invite "$pl" "${who#*:}")" --username "${who%%:*}"
done
expect_fail "a mentor may not switch the template's language" 1 "forbidden|not_found" \
	as tom agreement template default "$en" --lang pl
expect_fail "an unknown language is refused" 2 "--lang en or --lang pl" \
	as maria agreement template default "$en" --lang de

# the Polish programme's room: Polish terms, signed by all three
polish="$(as maria --json room create --programme "$pl" --kind pair --member zed --member ola | jq -r .room.id)"
expect_ok "ola reads the agreement of the Polish room" as ola agreement show "$polish"
expect_match "its terms are Polish" 'Umowa mentoringowa' "$LAST"
sign_room "$polish" maria zed ola
expect_match "the Polish version is active once all three sign" 'Every party has signed: version 1 is active' "$LAST"
checks="$(as ola --json agreement show "$polish" | jq -r '[.active.parties[].check] | unique | join(",")')"
expect_match "every signature over the Polish text verifies on ola's device" '^verified$' "$checks"

group="$(as maria --json room create --programme "$en" --kind group --member tom --member gm1 --member gm2 | jq -r .room.id)"
pair="$(as maria --json room create --programme "$en" --kind pair --member sam --member lea | jq -r .room.id)"
fresh="$(as maria --json room create --programme "$en" --kind pair --member tom --member gm3 | jq -r .room.id)"
sign_room "$group" maria tom gm1 gm2
expect_match "the group's version 1 is active" 'Every party has signed: version 1 is active' "$LAST"
sign_room "$pair" maria sam lea
expect_match "the pair's version 1 is active" 'Every party has signed: version 1 is active' "$LAST"
sign_room "$fresh" tom
expect_match "in the third room only tom signs version 1" 'Waiting for: maria, gm3' "$LAST"
for who in maria tom gm1 gm2 gm3 sam lea zed ola; do
	as "$who" notices >/dev/null
done
expect_match "nobody has an agreement notice yet" '^0$' "$(count_changed tom)"

# --- the manager edits the template ---------------------------------------------------------
sed -e 's/^- Be honest\.$/- Be honest and kind./' \
	-e '/^- Attend all regular meetings/a - Phones stay silent during meetings.' <<<"$en_text" >"$T/template.txt"
expect_ok "the manager edits the English programme's template" \
	as maria agreement template edit "$en" --file "$T/template.txt"
expect_match "and is told the parties are told" 'their parties are told' "$LAST"
expect_match "template show: the programme's own text now" "the programme's own text" "$(as maria agreement template show "$en")"
n="$(changed gm3)"
expect_match "gm3 (the room without an active agreement) is told" '"cause":"template"' "$n"
expect_match "of version 2 of that room" "\"room_id\":$fresh,.*\"version\":2|\"version\":2.*\"room_id\":$fresh" "$n"
expect_match "tom, its mentor, too" '"cause":"template"' "$(changed tom)"
expect_match "the editor is not told about her own edit" '^0$' "$(count_changed maria)"
for who in gm1 gm2 sam lea; do
	expect_match "$who (a room with an active agreement) gets nothing from the edit" '^0$' "$(count_changed "$who")"
done
expect_ok "gm3 shows the agreement of that room" as gm3 agreement show "$fresh"
expect_match "the changes since version 1, which tom signed (checked on gm3's device)" \
	"Changes from version 1 \(signed by tom; never active\) to version 2 \(pending\), compared on this device" "$LAST"
expect_match "the reworded line, removed" '^  - - Be honest\.$' "$LAST"
expect_match "and added" '^  \+ - Be honest and kind\.$' "$LAST"
expect_ok "gm3 lists the notices" as gm3 notices --keep
expect_match "notices says what changed and what to do" \
	"maria changed the template of the agreement of room $fresh: version 2 needs your signature again.*ementor agreement sign $fresh" \
	"$(tr '\n' ' ' <<<"$LAST")"

# --- a proposed term in the room with an active agreement -------------------------------------
expect_ok "the manager proposes a term for the group" \
	as maria agreement propose "$group" --add-term "We meet on Thursdays at noon."
for who in tom gm1 gm2; do
	n="$(changed "$who" | jq -c "select(.room_id == $group)")"
	expect_match "$who is told version 2 of the group's agreement needs them" '"version":2' "$n"
done
n="$(changed gm1 | jq -c "select(.room_id == $group)")"
expect_match "by maria, a term" '"by":"maria"' "$n"
expect_match "compared with the active version 1" '"compared_with":1' "$n"
expect_match "the server's counts: 3 lines added (the template's 2 and the term)" '"lines_added":3' "$n"
expect_match "1 line removed" '"lines_removed":1' "$n"
expect_match "the notice carries no term text" '^0$' "$(grep -c 'Thursdays' <<<"$n" || true)"
expect_match "nor does any notice row" '^0$' "$(sql "SELECT count(*) FROM notices WHERE data::text LIKE '%Thursdays%' OR data::text LIKE '%silent%'")"
expect_match "the proposer is not told" '^0$' "$(count_changed maria)"
for who in sam lea zed ola gm3; do
	expect_match "$who, outside the group, gets no notice about it" '^0$' \
		"$(changed "$who" | jq -c "select(.room_id == $group)" | grep -c . || true)"
done
outside="$(sql "SELECT count(*) FROM notices n WHERE n.kind = 'agreement.changed' AND NOT EXISTS (
	SELECT 1 FROM agreement_versions v JOIN agreement_parties p ON p.version_id = v.id
	WHERE v.room_id = (n.data->>'room_id')::bigint AND v.version = (n.data->>'version')::int
	  AND p.user_id = n.user_id)")"
expect_match "every agreement notice went to a party of that very version" '^0$' "$outside"

expect_ok "gm1 reads the notices" as gm1 notices
expect_match "notices: who proposed, which version, what to run" \
	"maria proposed a term for the agreement of room $group: version 2 needs your signature again.*ementor agreement show $group" \
	"$(tr '\n' ' ' <<<"$LAST")"
expect_match "and they are marked read" 'Marked 1 notice read' "$LAST"

# --- the difference, computed on the client ------------------------------------------------------
expect_ok "gm1 shows the agreement" as gm1 agreement show "$group"
expect_match "the changes from the active to the pending version" \
	"Changes from version 1 \(active\) to version 2 \(pending\), compared on this device" "$LAST"
expect_match "the line replaced is removed" '^  - - Be honest\.$' "$LAST"
expect_match "its new wording added" '^  \+ - Be honest and kind\.$' "$LAST"
expect_match "the new template line added" '^  \+ - Phones stay silent during meetings\.$' "$LAST"
expect_match "the term added" '^  \+ Added by maria: We meet on Thursdays at noon\.$' "$LAST"
expect_match "unchanged lines are not listed" '^0$' "$(grep -c '^  [-+] Be open\.$' <<<"$LAST" || true)"
diff_json="$(as gm1 --json agreement show "$group" | jq -c '.diff')"
expect_match "--json: the diff from 1 to 2" '"from":1,"to":2' "$diff_json"
expect_match "--json: 3 lines added, 1 removed" '^3 1$' \
	"$(jq -r '[([.lines[] | select(.op == "+")] | length), ([.lines[] | select(.op == "-")] | length)] | join(" ")' <<<"$diff_json")"

# --- everyone signs again ---------------------------------------------------------------------------
sign_room "$group" maria tom gm1 gm2
expect_match "version 2 is active once every party re-signs" 'Every party has signed: version 2 is active' "$LAST"
expect_ok "the group talks under version 2" as tom send "$group" "version two it is"
expect_match "gm2 reads it" 'tom: version two it is' "$(as gm2 read "$group" 2>&1)"
sign_room "$fresh" maria tom gm3
expect_match "the fresh room's version 2 (the new template) is active" 'Every party has signed: version 2 is active' "$LAST"
expect_match "with the new wording" 'Be honest and kind' "$(as gm3 agreement show "$fresh")"

# --- a server that rewrites the active text: no diff against it ----------------------------------
expect_ok "gm2 proposes another term" as gm2 agreement propose "$group" --add-term "Cameras on in online sessions."
sql "UPDATE agreement_versions SET terms = replace(terms, 'Be honest and kind.', 'Be honest.')
     WHERE room_id = $group AND version = 2" >/dev/null
expect_ok "gm1 shows the agreement after the server's edit" as gm1 agreement show "$group"
expect_match "the active version's signatures fail on gm1's device" 'SIGNATURE DOES NOT VERIFY' "$LAST"
expect_match "and no diff is shown against its text" \
	"No changes shown: the active version's signatures do not all verify on this device" "$LAST"
expect_match "--json: diff null" '^null$' "$(as gm1 --json agreement show "$group" 2>/dev/null | jq -c '.diff')"

# --- an upgraded database: rooms made before migration 012 keep their wording ----------------------
upg="e2e_upg_$$_$RANDOM"
psql --no-psqlrc -q "$EMENTOR_TEST_DB" -c "CREATE DATABASE $upg" >/dev/null
UDB="$EMENTOR_TEST_DB dbname=$upg"
usql() { psql --no-psqlrc -qtA -v ON_ERROR_STOP=1 "$UDB" -c "$1"; }
mkdir -p "$T/schema-old"
cp "$EM_ROOT"/schema/00[1-8]_*.sql "$T/schema-old/"
expect_ok "a database at migration 008" "$BIN/ementord" migrate --db "$UDB" --schema-dir "$T/schema-old"
usql "INSERT INTO users (id, username, display_name, role, sign_pk, box_pk, kdf_salt, kdf_opslimit,
        kdf_memlimit, auth_hash, key_backup)
      SELECT i, 'u' || i, 'U' || i, (ARRAY['manager', 'mentor', 'mentee'])[i],
             decode(repeat(lpad(to_hex(i), 2, '0'), 32), 'hex'), decode(repeat(lpad(to_hex(i), 2, '0'), 32), 'hex'),
             decode(repeat('00', 16), 'hex'), 2, 67108864, '\\x00', '\\x00' FROM generate_series(1, 3) i;
      INSERT INTO programmes (id, name, starts_on, ends_on, created_by)
      VALUES (1, 'old', '2027-01-01', '2027-12-31', 1), (2, 'empty', '2027-01-01', '2027-12-31', 1);
      INSERT INTO programme_people (programme_id, user_id, role) VALUES (1, 1, 'manager'), (2, 1, 'manager');" >/dev/null
usql "BEGIN; INSERT INTO rooms (id, programme_id, kind, name, created_by) VALUES (1, 1, 'pair', 'r', 1);
      INSERT INTO room_members (room_id, user_id, role) VALUES (1, 2, 'mentor'), (1, 3, 'mentee'); COMMIT;" >/dev/null
old_md5="$(usql "SELECT md5(terms) FROM agreement_versions WHERE room_id = 1 AND version = 1")"
expect_ok "migration 012 applies" "$BIN/ementord" migrate --db "$UDB"
expect_match "the programme with a room keeps the old default as its own text" "^$old_md5\$" \
	"$(usql "SELECT md5(agreement_template) FROM programmes WHERE id = 1")"
expect_match "so its room's agreement makes no new version" '^1$' "$(usql "SELECT agreement_refresh(1, NULL, NULL)")"
expect_match "the programme without rooms takes the new default" '^t Mentoring agreement$' \
	"$(usql "SELECT agreement_template IS NULL, split_part(agreement_template_of(p), E'\n', 1) FROM programmes p WHERE id = 2" | tr '|' ' ')"
psql --no-psqlrc -q "$EMENTOR_TEST_DB" -c "DROP DATABASE $upg" >/dev/null

e2e_summary
