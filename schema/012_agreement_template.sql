-- 012: the agreement template point by point with the mentoring course, in
-- English and Polish, and notices that tell every party when a change to
-- their room's agreement needs their signature again (docs/PROTOCOL.md 6.2
-- and 7.3).
--
-- Language. A programme's template is its own text (agreement_template) or,
-- while it has none, the default template in the programme's language
-- (agreement_lang, 'en' or 'pl'). A room's version copies the text it was
-- made from, so every party signs exactly the text they are shown, whatever
-- language it is in; nothing about the signed bytes (7.1) changes.
--
-- Existing programmes that already have rooms keep the text their versions
-- were made from: they are given the old default as their own text before
-- the default changes, so no room's next version changes wording unasked.

UPDATE programmes p SET agreement_template = agreement_default_template()
    WHERE p.agreement_template IS NULL AND EXISTS (SELECT 1 FROM rooms r WHERE r.programme_id = p.id);

ALTER TABLE programmes ADD COLUMN agreement_lang text NOT NULL DEFAULT 'en'
    CHECK (agreement_lang IN ('en', 'pl'));

-- The default template in a language ('en' for anything but 'pl').
CREATE FUNCTION agreement_default_template_in(lang text) RETURNS text AS $$
    SELECT CASE WHEN lang = 'pl' THEN
        E'Umowa mentoringowa\n'
        || E'\n'
        || E'Koordynator programu, mentor i mentee zawierają tę umowę na pierwszym spotkaniu. Każda strona\n'
        || E'podpisuje ją własnym kluczem, a każdą zmianę umowy wszystkie strony podpisują ponownie.\n'
        || E'\n'
        || E'1. Czas trwania. Umowa obowiązuje od daty rozpoczęcia do daty zakończenia podanych przy niej:\n'
        || E'   dat programu mentoringowego.\n'
        || E'2. Zaangażowanie. Mentee angażuje się w program i odpowiada za wyznaczenie własnych celów oraz\n'
        || E'   za pracę nad ich osiągnięciem.\n'
        || E'3. Komunikacja. Komunikujemy się na tej bezpiecznej platformie. Spotykamy się osobiście co\n'
        || E'   najmniej trzy razy (spotkanie początkowe, spotkanie śródokresowe z koordynatorem programu\n'
        || E'   i spotkanie końcowe) oraz na kolejnych sesjach z naszego planu spotkań, osobiście lub online.\n'
        || E'   Na wiadomości odpowiadamy w ciągu dwóch dni roboczych.\n'
        || E'4. Wzajemne wsparcie. Mentee wspierają się nawzajem, dzielą się tym, czego się nauczyli,\n'
        || E'   i pomagają sobie w osiąganiu celów.\n'
        || E'5. Otwartość. Mówimy otwarcie o naszych celach, postępach i trudnościach.\n'
        || E'6. Obecność. Uczestniczymy w każdym spotkaniu z planu spotkań. Mentee, który nie może przyjść,\n'
        || E'   uprzedza mentora i koordynatora programu i uzgadnia z nimi, jak nadrobić zaległości. Mentor,\n'
        || E'   który nie może przyjść, zawiadamia wszystkich mentee co najmniej dwa dni (48 godzin) wcześniej\n'
        || E'   i znajduje inny termin odpowiadający całej grupie.\n'
        || E'7. Koordynator programu organizuje program, wspiera mentora i mentee oraz uczestniczy\n'
        || E'   w spotkaniu śródokresowym. Koordynator śledzi, jak aktywnie pracuje każda para lub grupa\n'
        || E'   (odbyte spotkania, wymienione wiadomości, złożone podpisy), ale nigdy nie czyta treści naszych\n'
        || E'   wiadomości ani dzienników i nie bierze udziału w samym mentoringu.\n'
        || E'8. Rada to wskazówka. To, co proponuje mentor, jest tylko wskazówką: mentee sami podejmują\n'
        || E'   decyzje i sami za nie odpowiadają.\n'
        || E'9. Wcześniejsze zakończenie. Każda strona może poprosić koordynatora programu o wcześniejsze\n'
        || E'   zakończenie relacji lub o dobranie innej osoby; koordynator rozmawia z zainteresowanymi\n'
        || E'   i to organizuje. Strona, która odchodzi, zabiera ze sobą swój podpis, a pozostali podpisują\n'
        || E'   nową wersję.\n'
        || E'10. Poufność. Wszystko, czym dzielimy się w tym mentoringu, zostaje między mentorem, mentee\n'
        || E'   i koordynatorem programu, w trakcie programu i po jego zakończeniu. Nikt nie ujawnia, kim są\n'
        || E'   mentee ani co powiedzieli. Jedynym wyjątkiem jest to, czego wymaga prawo.\n'
        || E'\n'
        || E'Kodeks etyczny\n'
        || E'- Szanujemy czas wszystkich: przychodzimy przygotowani i punktualnie.\n'
        || E'- Szanujemy opinie innych, także gdy się z nimi nie zgadzamy.\n'
        || E'- Myślimy, zanim coś powiemy lub napiszemy.\n'
        || E'- Jesteśmy uczciwi.\n'
        || E'- Jesteśmy otwarci.\n'
        || E'- Zachowujemy wszystko w tajemnicy, w trakcie programu i po nim.\n'
        || E'- Uczestniczymy we wszystkich regularnych spotkaniach zgodnie z harmonogramem.\n'
        || E'Strony mogą rozszerzyć ten kodeks: każda dodana zasada pojawia się poniżej w wierszu\n'
        || E'"Added by NAZWA: ...".\n'
    ELSE
        E'Mentoring agreement\n'
        || E'\n'
        || E'The programme manager, the mentor and the mentee(s) make this agreement at their first meeting.\n'
        || E'Each party signs it with their own key, and every change to it is signed again by every party.\n'
        || E'\n'
        || E'1. Duration. This agreement runs from the start date to the end date shown with it: the dates\n'
        || E'   of the mentoring programme.\n'
        || E'2. Commitment. The mentee commits to the programme and is responsible for setting their own\n'
        || E'   goals and for working to reach them.\n'
        || E'3. Communication. We communicate on this secure platform. We meet face to face at least three\n'
        || E'   times (the initial meeting, the mid-term review with the programme manager and the final\n'
        || E'   meeting) and at the further sessions of our session plan, face to face or online. We answer\n'
        || E'   messages within two working days.\n'
        || E'4. Mutual support. The mentees support one another, share what they learn and help each other\n'
        || E'   to reach their goals.\n'
        || E'5. Openness. We speak openly about our goals, our progress and our difficulties.\n'
        || E'6. Attendance. We attend every meeting of the session plan. A mentee who cannot attend tells the\n'
        || E'   mentor and the programme manager beforehand and agrees with them how to catch up. A mentor who\n'
        || E'   cannot attend tells every mentee at least two days (48 hours) beforehand and finds another\n'
        || E'   date that suits the whole group.\n'
        || E'7. The programme manager organises the programme, supports the mentor and the mentees and takes\n'
        || E'   part in the mid-term review. The manager follows how actively each pair or group works\n'
        || E'   (meetings held, messages exchanged, signatures given) but never reads the content of our\n'
        || E'   messages or diaries, and takes no part in the mentoring itself.\n'
        || E'8. Advice is guidance. What the mentor suggests is guidance only: the mentees make their own\n'
        || E'   decisions and are responsible for them.\n'
        || E'9. Ending early. Any party may ask the programme manager to end the relationship early or to be\n'
        || E'   matched with someone else; the manager talks with those concerned and arranges it. A party\n'
        || E'   who leaves takes their signature with them, and those who stay sign a new version.\n'
        || E'10. Confidentiality. Everything shared in this mentoring stays between the mentor, the mentees\n'
        || E'   and the programme manager, during the programme and after it ends. Nobody reveals who the\n'
        || E'   mentees are or what they said. The only exception is what the law requires.\n'
        || E'\n'
        || E'Code of ethics\n'
        || E'- Respect everyone''s time: come prepared and on time.\n'
        || E'- Respect the opinions of others, also when you disagree.\n'
        || E'- Think before you say or write anything.\n'
        || E'- Be honest.\n'
        || E'- Be open.\n'
        || E'- Keep everything confidential, during the programme and after it.\n'
        || E'- Attend all regular meetings on the schedule.\n'
        || E'The parties may extend this code: each rule they add appears below as "Added by NAME: ...".\n'
    END
$$ LANGUAGE sql IMMUTABLE;

CREATE OR REPLACE FUNCTION agreement_default_template() RETURNS text AS $$
    SELECT agreement_default_template_in('en')
$$ LANGUAGE sql IMMUTABLE;

-- The text a programme's rooms start from.
CREATE FUNCTION agreement_template_of(prog programmes) RETURNS text AS $$
    SELECT COALESCE(prog.agreement_template, agreement_default_template_in(prog.agreement_lang))
$$ LANGUAGE sql STABLE;

-- As in 004, but the template is the programme's language's when it has no text of its own.
CREATE OR REPLACE FUNCTION agreement_refresh(rid bigint, new_term text, new_by text) RETURNS integer AS $$
DECLARE
    latest agreement_versions;
    prog   programmes;
    adds   jsonb;
    body   text;
    vid    bigint;
    want   agreement_party_t[];
BEGIN
    -- the room row first (the order every writer of a room's rows follows):
    -- two refreshes of one room never both make version n+1
    PERFORM 1 FROM rooms WHERE id = rid FOR UPDATE;
    SELECT p.* INTO prog FROM programmes p JOIN rooms r ON r.programme_id = p.id WHERE r.id = rid;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    SELECT * INTO latest FROM agreement_versions WHERE room_id = rid
        ORDER BY version DESC LIMIT 1 FOR UPDATE;
    adds := COALESCE(latest.additions, '[]'::jsonb);
    IF new_term IS NOT NULL THEN
        adds := adds || jsonb_build_array(jsonb_build_object('by', new_by, 'term', new_term));
    END IF;
    body := agreement_template_of(prog)
        || COALESCE((SELECT string_agg(E'\nAdded by ' || (a ->> 'by') || ': ' || (a ->> 'term'),
                                       '' ORDER BY n)
                     FROM jsonb_array_elements(adds) WITH ORDINALITY AS t(a, n)), '');
    want := ARRAY(
        SELECT ROW(x.user_id, x.role, x.sign_pk, x.box_pk)::agreement_party_t FROM (
            SELECT u.id AS user_id, 'manager' AS role, u.sign_pk, u.box_pk FROM users u
            WHERE u.id = agreement_manager(rid)
            UNION ALL
            SELECT u.id, m.role, u.sign_pk, u.box_pk FROM room_members m
            JOIN users u ON u.id = m.user_id WHERE m.room_id = rid AND m.removed_at IS NULL) x
        ORDER BY x.user_id);
    IF latest.id IS NOT NULL AND latest.terms = body AND latest.starts_on = prog.starts_on
       AND latest.ends_on = prog.ends_on
       AND want = ARRAY(SELECT ROW(user_id, role, sign_pk, box_pk)::agreement_party_t
                        FROM agreement_parties WHERE version_id = latest.id ORDER BY user_id) THEN
        RETURN latest.version;
    END IF;
    INSERT INTO agreement_versions (room_id, version, starts_on, ends_on, terms, additions)
    VALUES (rid, COALESCE(latest.version, 0) + 1, prog.starts_on, prog.ends_on, body, adds)
    RETURNING id INTO vid;
    INSERT INTO agreement_parties (version_id, user_id, role, sign_pk, box_pk)
    SELECT vid, w.user_id, w.role, w.sign_pk, w.box_pk FROM unnest(want) AS w;
    RETURN COALESCE(latest.version, 0) + 1;
END
$$ LANGUAGE plpgsql;

-- How many lines of a are not in b (as multisets: a line twice in a and once
-- in b counts once).
CREATE FUNCTION agreement_lines_not_in(a text, b text) RETURNS integer AS $$
    SELECT count(*)::integer FROM (
        SELECT regexp_split_to_table(a, E'\n') EXCEPT ALL
        SELECT regexp_split_to_table(COALESCE(b, ''), E'\n')) x
$$ LANGUAGE sql IMMUTABLE;

-- An agreement.changed notice (PROTOCOL.md 6.2) to every party of the room's
-- newest version but the actor, when that version waits for signatures.
-- It names the version, the one it is compared with (the active version, or
-- else the one before) and counts lines added and removed: never the text of
-- a term. Returns (notice id, user, the Notice object) for the server to push.
CREATE FUNCTION agreement_notify(rid bigint, actor bigint, cause text, at timestamptz)
RETURNS TABLE (nid bigint, uid bigint, doc text) AS $$
    WITH v AS (
        SELECT * FROM agreement_versions WHERE room_id = rid ORDER BY version DESC LIMIT 1),
    base AS (
        SELECT b.version, b.terms, b.activated_at FROM agreement_versions b, v
        WHERE b.room_id = rid AND b.version < v.version
        ORDER BY (b.activated_at IS NOT NULL) DESC, b.version DESC LIMIT 1),
    d AS (
        SELECT v.id, v.version,
               (SELECT version FROM base) AS base_version,
               (SELECT max(version) FROM agreement_versions
                 WHERE room_id = rid AND activated_at IS NOT NULL) AS active_version,
               agreement_lines_not_in(v.terms, (SELECT terms FROM base)) AS added,
               CASE WHEN EXISTS (SELECT 1 FROM base)
                    THEN agreement_lines_not_in((SELECT terms FROM base), v.terms) ELSE 0 END
                   AS removed
        FROM v WHERE v.activated_at IS NULL),
    ins AS (
        INSERT INTO notices (user_id, kind, data, created_at)
        SELECT ap.user_id, 'agreement.changed', jsonb_build_object(
                   'kind', 'agreement.changed', 'at', utc_text(at), 'room_id', rid,
                   'version', d.version, 'active_version', d.active_version,
                   'compared_with', d.base_version, 'cause', cause,
                   'by', (SELECT username FROM users WHERE users.id = actor),
                   'lines_added', d.added, 'lines_removed', d.removed,
                   'summary', format('%s: %s line%s added, %s removed%s; version %s needs every party''s signature',
                                     CASE cause WHEN 'term' THEN 'a term was proposed'
                                          ELSE 'the programme''s template changed' END,
                                     d.added, CASE WHEN d.added = 1 THEN '' ELSE 's' END, d.removed,
                                     COALESCE(' since version ' || d.base_version, ''),
                                     d.version)), at
        FROM d JOIN agreement_parties ap ON ap.version_id = d.id
        WHERE ap.user_id IS DISTINCT FROM actor
        RETURNING notices.id, notices.user_id, notices.data)
    SELECT ins.id, ins.user_id, (ins.data || jsonb_build_object('id', ins.id))::text FROM ins
$$ LANGUAGE sql;

-- A template edit: every room of the programme without an active version
-- gets a version with the new text (as in 004), and the parties of each room
-- that got one are told. Rooms with an active version keep it; their next
-- version (a member added or removed, a term proposed) is made from the new
-- text. Rooms are locked in id order.
CREATE FUNCTION agreement_template_apply(pid bigint, actor bigint, at timestamptz)
RETURNS TABLE (nid bigint, uid bigint, doc text) AS $$
DECLARE
    rid    bigint;
    before integer;
BEGIN
    FOR rid IN SELECT r.id FROM rooms r WHERE r.programme_id = pid
               AND NOT EXISTS (SELECT 1 FROM agreement_versions v WHERE v.room_id = r.id
                               AND v.activated_at IS NOT NULL) ORDER BY r.id LOOP
        SELECT COALESCE(max(v.version), 0) INTO before FROM agreement_versions v
            WHERE v.room_id = rid;
        IF agreement_refresh(rid, NULL, NULL) > before THEN
            RETURN QUERY SELECT n.nid, n.uid, n.doc FROM agreement_notify(rid, actor, 'template', at) n;
        END IF;
    END LOOP;
END
$$ LANGUAGE plpgsql;
