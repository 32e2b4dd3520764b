#!/usr/bin/env bash
# tests/e2e/profiles.sh - participants' profiles for matching (PROTOCOL.md
# section 14, SECURITY.md "Profiles for matching"), with a real ementord over
# TLS on a fresh database, the real CLI and psql.
#
# What it shows: a manager's invite carries her key fingerprint, and the
# participants who register with it verify her; one who registered with the
# bare code cannot seal a profile until she gives the fingerprint (a wrong
# one is refused). The built-in questions, a manager's signed edit (a
# question the matching scores keeps its kind), answers filled in with
# flags and updated one at a time, a participant seeing only their own
# profile; the manager's `match suggest --programme` builds the suggestion
# the answers call for, `match accept` makes the rooms with the right
# members. A lying server: a profile moved to another person or programme,
# altered, or questions changed in the database are refused; a manager the
# server adds is listed as not sealed to, and cannot read a profile. Export
# carries the sealed profile; erasure and the retention purge delete it;
# neither pg_dump nor the server log holds a word of any answer.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

e2e_serve
sql() { psql --no-psqlrc -qtA -v ON_ERROR_STOP=1 "$DB" -c "$1"; }
uid() { sql "SELECT id FROM users WHERE username = '$1'"; }
keyed() { as maria --json invite create --programme "$1" --role "$2" | jq -er .code_with_key; }

expect_ok "the manager registers" as maria register --invite "$(first_invite)" --username maria
expect_ok "a programme" as maria programme create --name "Profiles" --starts 2027-01-01 --ends 2027-06-30
code="$(keyed 1 mentor)"
expect_match "maria's invite carries her key's fingerprint" '&m=[0-9a-f]{32}$' "$code"
expect_ok "gus registers with it" as gus register --invite "$code" --username gus
expect_match "and verifies maria" 'Verified manager: maria' "$LAST"
expect_ok "pat too" as pat register --invite "$(keyed 1 mentor)" --username pat
for who in ann bob cal; do
	expect_ok "$who registers with the keyed code" as "$who" register --invite "$(keyed 1 mentee)" --username "$who"
done
expect_ok "dee registers with the bare code" as dee register --invite "$(invite 1 mentee)" --username dee
expect_ok "mallory registers (a manager, not of programme 1)" \
	as mallory register --invite "$(as maria --json invite create --programme 1 --role manager | jq -er .code)" --username mallory
sql "DELETE FROM programme_people WHERE user_id = $(uid mallory)" >/dev/null

# --- the questions ----------------------------------------------------------------------------
expect_ok "a mentee sees the built-in questions" as ann profile questions --programme 1 --role mentee
expect_match "needs and wishes about the mentor" 'wishes \[text\] What do you wish for in a mentor' "$LAST"
expect_ok "in Polish too" as ann profile questions --programme 1 --role mentee --lang pl
expect_match "Polish text" 'Jakiego mentora chcesz' "$LAST"
as maria --json profile questions --programme 1 --role mentee | jq '{title, questions}' >"$T/form.json"
jq '.questions += [{"id": "languages", "kind": "words", "text": "Languages you speak"}]' "$T/form.json" >"$T/form2.json"
jq '(.questions[] | select(.id == "motivation") | .kind) = "text"' "$T/form.json" >"$T/bad.json"
expect_fail "a scored question keeps its kind" 2 'must keep its kind' \
	as maria profile questions --programme 1 --role mentee --set "$T/bad.json"
expect_fail "a mentee cannot edit the questions" 1 'may not' \
	as ann profile questions --programme 1 --role mentee --set "$T/form2.json"
expect_ok "maria signs a new version" as maria profile questions --programme 1 --role mentee --set "$T/form2.json"
expect_ok "ann sees it, signed by maria" as ann profile questions --programme 1 --role mentee
expect_match "version 1, signed" 'version 1, signed by maria' "$LAST"

# --- filling in -------------------------------------------------------------------------------
expect_fail "dee has no verified manager: nothing is sealed" 1 'no manager of programme 1 is verified' \
	as dee profile fill --programme 1 --answer expectations=cv
expect_fail "a fingerprint that is not maria's is refused" 1 'no manager of programme 1 has the key' \
	as dee profile fill --programme 1 --answer expectations=cv --manager-key 00112233445566778899aabbccddeeff
fp="$(as maria whoami | sed -n 's/^Fingerprint: *//p')"
expect_ok "dee gives maria's fingerprint as maria read it out" \
	as dee profile fill --programme 1 --manager-key "$fp" --answer expectations=cv --answer values=openness
expect_match "sealed to maria, verified by fingerprint" 'Sealed to you, maria \(verified by key fingerprint\)' "$LAST"
expect_ok "profile anchor says whom dee's profiles go to" as dee profile anchor --programme 1 --manager-key "$fp"
expect_match "maria, verified" 'Verified manager: maria' "$LAST"
fill() { as "$1" profile fill --programme 1 "${@:2}"; }
expect_ok "gus fills in his profile" fill gus --answer capacity=3 --answer workplace=Northwind \
	--answer industry=IT --answer "offers=cv, interviews, first job" --answer "values=openness, honesty" \
	--answer interests=chess --answer motivation=4 --answer "skills=I hire juniors"
expect_ok "pat" fill pat --answer workplace=Northwind --answer industry=health \
	--answer "offers=confidence, public speaking" --answer values=patience --answer motivation=3
expect_ok "ann" fill ann --answer wants_industry=IT --answer "expectations=cv, interviews" \
	--answer values=openness --answer motivation=4 --answer "interests=kumquat-secret-hobby" \
	--answer "needs=I want my first job; my secret-need-marker"
expect_match "ann's words are a list" 'expectations: cv, interviews' "$LAST"
expect_ok "bob" fill bob --answer wants_industry=IT --answer "expectations=first job" --answer values=honesty
expect_ok "cal" fill cal --answer wants_industry=health --answer expectations=confidence --answer values=patience
expect_fail "a scale answer out of range is refused" 2 'from 1 to 5' fill cal --answer motivation=9
expect_fail "an unknown question is refused" 2 "no 'shoe_size'" fill cal --answer shoe_size=44
expect_ok "ann updates one answer" fill ann --answer "languages=polish, english"
expect_ok "ann sees her whole profile" as ann profile show --programme 1
expect_match "the earlier answers stayed" 'kumquat-secret-hobby' "$LAST"
expect_match "beside the new one" 'polish, english' "$LAST"
expect_match "only hers" '^1$' "$(as ann --json profile show --programme 1 | jq '.profiles | length')"
expect_fail "maria cannot fill in a profile" 1 'only the mentors and mentees' \
	as maria profile fill --programme 1 --answer values=x --manager-key "$fp"

# --- the manager's suggestion from the profiles -------------------------------------------------
expect_ok "maria sees every profile, verified" as maria profile show --programme 1
expect_match "ann's needs, beside the question" 'What do you need from mentoring' "$LAST"
expect_absent "nothing unverifiable" "UNVERIFIABLE" <(printf '%s' "$LAST")
expect_ok "maria's suggestion from the programme's profiles" to_file "$T/s.json" \
	as maria --json match suggest --programme 1
expect_match "gus gets a group of three, pat a pair" '^gus:group:ann,bob,dee pat:pair:cal$' \
	"$(jq -r '[.rooms[] | "\(.mentor):\(.kind):\(.mentees | join(","))"] | join(" ")' "$T/s.json")"
expect_match "nothing left out" '^0$' "$(jq '.left_out | length' "$T/s.json")"
echo '{"constraints": {"never": [["ann", "gus"]]}}' >"$T/extra.json"
expect_ok "the manager's file adds a constraint" to_file "$T/s2.json" \
	as maria --json match suggest --programme 1 "$T/extra.json"
expect_match "ann is kept from gus" '^$' \
	"$(jq -r '.rooms[] | select(.mentor == "gus") | .mentees[] | select(. == "ann")' "$T/s2.json")"
expect_ok "maria accepts the suggestion" as maria match accept "$T/s.json" --programme 1
members() { as maria --json room show "$1" | jq -r '[.room.members[] | "\(.username)"] | join(",")'; }
expect_match "room 1 is gus's group" '^gus,ann,bob,dee$' "$(members 1)"
expect_match "room 2 is pat's pair" '^pat,cal$' "$(members 2)"

# --- a lying server -----------------------------------------------------------------------------
sql "UPDATE profile_forms SET doc = replace(doc, 'Languages you speak', 'Your bank PIN')" >/dev/null
expect_fail "questions changed in the database are refused" 1 'does not verify with maria' \
	fill bob --answer values=honesty
sql "UPDATE profile_forms SET doc = replace(doc, 'Your bank PIN', 'Languages you speak')" >/dev/null
ann="$(uid ann)" bob="$(uid bob)"
swap() { # ann's and bob's profiles change places (maria has none: the spare id)
	sql "UPDATE profiles SET user_id = $(uid maria) WHERE programme_id = 1 AND user_id = $ann;
	     UPDATE profiles SET user_id = $ann WHERE programme_id = 1 AND user_id = $bob;
	     UPDATE profiles SET user_id = $bob WHERE programme_id = 1 AND user_id = $(uid maria)" >/dev/null
}
swap
expect_ok "profiles swapped between ann and bob" to_file "$T/s3.json" as maria --json match suggest --programme 1
expect_match "both are left out, with why" '^ann: its signature does not verify.*bob: its signature' \
	"$(jq -r '[.left_out[] | "\(.username): \(.why)"] | join(" ")' "$T/s3.json")"
expect_match "and matched by nobody" '^$' \
	"$(jq -r '.rooms[].mentees[] | select(. == "ann" or . == "bob")' "$T/s3.json")"
swap
expect_ok "a programme 2" as maria programme create --name "Other" --starts 2027-01-01 --ends 2027-06-30
expect_ok "pat joins programme 2 as a mentee with a keyed code" as pat invite accept "$(keyed 2 mentee)"
expect_match "and verifies maria for it" 'Verified manager: maria' "$LAST"
expect_match "an anchor per programme" '^1 2$' \
	"$(jq -r '.profile_anchors | keys | join(" ")' "$T/home/pat/trust.json")"
sql "INSERT INTO programme_people (programme_id, user_id, role) VALUES (2, $ann, 'mentee');
     INSERT INTO profiles (programme_id, user_id, role, form_version, written_ms, blob)
       SELECT 2, user_id, role, form_version, written_ms, blob FROM profiles WHERE programme_id = 1 AND user_id = $ann" >/dev/null
expect_fail "ann's profile copied to programme 2 is unverifiable there" 1 'UNVERIFIABLE.*signature does not verify' \
	as maria profile show --programme 2
expect_absent "and shows none of it" "kumquat" <(printf '%s' "$LAST")
sql "UPDATE profiles SET role = 'mentor' WHERE programme_id = 1 AND user_id = $bob" >/dev/null
expect_fail "bob's profile turned into a mentor's is unverifiable" 1 'UNVERIFIABLE' as maria profile show --programme 1
sql "UPDATE profiles SET role = 'mentee' WHERE programme_id = 1 AND user_id = $bob" >/dev/null
sql "UPDATE profiles SET blob = overlay(blob PLACING '\\x00'::bytea FROM length(blob) - 3 FOR 1)
     WHERE programme_id = 1 AND user_id = $bob" >/dev/null
expect_fail "an altered profile is unverifiable" 1 'UNVERIFIABLE' as maria profile show --programme 1
sql "INSERT INTO programme_people (programme_id, user_id, role) VALUES (1, $(uid mallory), 'manager')" >/dev/null
expect_ok "with mallory slipped in as a manager, cal fills in again" fill cal --answer motivation=2
expect_match "mallory is named, not sealed to" 'NOT sealed to mallory.*only the server says' "$LAST"
expect_fail "mallory lists the profiles as a manager" 1 '' as mallory --json profile show --programme 1
expect_match "she reads none" '^false$' \
	"$(jq -r '[.profiles[] | .verified] | unique | join(",")' <<<"$LAST")"
expect_match "cal's is not sealed to her" 'not sealed to you' \
	"$(jq -r '.profiles[] | select(.username == "cal") | .error' <<<"$LAST")"

# --- more profiles than one page -----------------------------------------------------------------
sql "WITH u AS (INSERT INTO users (username, display_name, role, sign_pk, box_pk, kdf_salt,
         kdf_opslimit, kdf_memlimit, auth_hash, key_backup)
       SELECT 'filler' || g, 'filler', 'mentee', decode(md5('s' || g) || md5('t' || g), 'hex'),
              decode(md5('b' || g) || md5('c' || g), 'hex'), decode(md5('k' || g), 'hex'), 2,
              67108864, '\\x00', '\\x00' FROM generate_series(1, 250) g RETURNING id)
     INSERT INTO profiles (programme_id, user_id, role, form_version, written_ms, blob)
       SELECT 1, id, 'mentee', 0, 1, decode(repeat('00', 100), 'hex') FROM u" >/dev/null
want="$(sql "SELECT count(*) FROM profiles WHERE programme_id = 1")"
expect_fail "maria lists $want profiles (two pages): the fillers are unverifiable" 1 '' \
	as maria --json profile show --programme 1
expect_match "every one of them is there" "^$want\$" "$(jq '.profiles | length' <<<"$LAST")"
expect_match "the real ones still verify (bob's was altered above)" '^ann,cal,dee,gus,pat$' \
	"$(jq -r '[.profiles[] | select(.verified) | .username] | sort | join(",")' <<<"$LAST")"
sql "DELETE FROM profiles WHERE user_id IN (SELECT id FROM users WHERE username LIKE 'filler%')" >/dev/null

# --- export, erasure, retention ------------------------------------------------------------------
expect_ok "ann's export" to_file "$T/export.json" as ann --json export
expect_match "carries her sealed profiles (programme 2's is the copy above)" '^2 mentee [A-Za-z0-9_-]{100,}$' \
	"$(jq -r '.. | objects | select(has("profiles")) | .profiles | "\(length) \(.[0].role) \(.[0].blob)"' "$T/export.json" | head -n1)"
pg_dump --no-owner "$DB" >"$T/dump.sql"
for word in kumquat-secret-hobby secret-need-marker "I hire juniors" "public speaking"; do
	expect_absent "the database holds no '$word'" "$word" "$T/dump.sql"
	expect_absent "the log neither" "$word" "$LOG"
done
dee="$(uid dee)"
expect_ok "dee erases her account" as dee consent withdraw data_processing --yes
expect_match "her profile is gone" '^0$' "$(sql "SELECT count(*) FROM profiles WHERE user_id = $dee")"
sql "UPDATE programmes SET purged_at = now() WHERE id = 2" >/dev/null
expect_match "a purged programme loses its profiles, the others stay" '^0\|5$' \
	"$(sql "SELECT (SELECT count(*) FROM profiles WHERE programme_id = 2), (SELECT count(*) FROM profiles WHERE programme_id = 1)")"

e2e_summary
