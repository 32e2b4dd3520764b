-- 021: the manager's support channel and announcements (docs/PROTOCOL.md
-- section 15, docs/SECURITY.md "The support channel" and "Announcements").
--
-- Support rooms. A room of kind 'support' joins one manager of a programme,
-- seated as the member role 'support', and one mentor or mentee of it (their
-- own role). It is a room like the others for keys, epochs, messages,
-- receipts and reports: both members are the parties of its agreement, both
-- sign it, both hold its keys. It is not a mentoring room: it gets no
-- checkpoints, no programme manager party beside the one in it, the support
-- terms instead of the programme's mentoring template, and the audit's
-- mentoring figures do not count it (audit_rooms leaves it out; the audit
-- counts support rooms apart, by number only). support_rooms makes "open it
-- again" find the same room: one per (programme, manager, participant).

ALTER TABLE rooms DROP CONSTRAINT rooms_kind_check;
ALTER TABLE rooms ADD CONSTRAINT rooms_kind_check CHECK (kind IN ('pair', 'group', 'support'));

ALTER TABLE room_members DROP CONSTRAINT room_members_role_check;
ALTER TABLE room_members ADD CONSTRAINT room_members_role_check
    CHECK (role IN ('mentor', 'mentee', 'support'));

ALTER TABLE agreement_parties DROP CONSTRAINT agreement_parties_role_check;
ALTER TABLE agreement_parties ADD CONSTRAINT agreement_parties_role_check
    CHECK (role IN ('manager', 'mentor', 'mentee', 'support'));

-- a support room's messages roll up like any room's (the audit does not show them)
ALTER TABLE response_hist DROP CONSTRAINT response_hist_responder_role_check;
ALTER TABLE response_hist ADD CONSTRAINT response_hist_responder_role_check
    CHECK (responder_role IN ('mentor', 'mentee', 'support'));

CREATE TABLE support_rooms (
    room_id        bigint PRIMARY KEY REFERENCES rooms (id) ON DELETE CASCADE,
    programme_id   bigint NOT NULL REFERENCES programmes (id) ON DELETE CASCADE,
    manager_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    participant_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    UNIQUE (programme_id, manager_id, participant_id)
);
CREATE INDEX support_rooms_participant ON support_rooms (participant_id);

-- No face-to-face checkpoints in a support room.
CREATE OR REPLACE FUNCTION rooms_add_checkpoints() RETURNS trigger AS $$
BEGIN
    IF NEW.kind = 'support' THEN
        RETURN NEW;
    END IF;
    INSERT INTO checkpoints (room_id, kind, opens_on, closes_on)
    SELECT NEW.id, k, w.opens, w.closes
    FROM programmes p, unnest(ARRAY['initial', 'midterm', 'final']) AS k,
         LATERAL checkpoint_window(p, k) AS w
    WHERE p.id = NEW.programme_id;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

-- The terms of a support room, in the programme's language.
CREATE FUNCTION support_terms_in(lang text) RETURNS text AS $$
    SELECT CASE WHEN lang = 'pl' THEN
        E'Kanał wsparcia\n'
        || E'\n'
        || E'Ten pokój to prywatny kanał wsparcia między koordynatorem programu a jedną osobą\n'
        || E'uczestniczącą w programie. Obie strony podpisują tę umowę własnym kluczem; nikt inny\n'
        || E'nie jest jej stroną i nikt inny nie może czytać tej rozmowy.\n'
        || E'\n'
        || E'1. Cel. Koordynator wspiera tu uczestnika: pytania o program, obawy, trudności w parze\n'
        || E'   lub grupie. To nie jest pokój mentoringowy: nie ma tu spotkań, celów ani dzienników.\n'
        || E'2. Poufność. To, co tu piszemy, zostaje między nami, w trakcie programu i po nim.\n'
        || E'   Jedynym wyjątkiem jest to, czego wymaga prawo, lub to, co wspólnie postanowimy\n'
        || E'   przekazać dalej.\n'
        || E'3. Zgłoszenia. Każde z nas może zgłosić wiadomości z tego pokoju jako niepokojące,\n'
        || E'   jak w każdym pokoju.\n'
        || E'4. Koniec. Każde z nas może przestać korzystać z tego kanału; kończy się on wraz\n'
        || E'   z programem.\n'
    ELSE
        E'Support channel\n'
        || E'\n'
        || E'This room is a private support channel between a manager of the programme and one\n'
        || E'participant. Both sign this agreement with their own key; nobody else is a party to it\n'
        || E'and nobody else can read this conversation.\n'
        || E'\n'
        || E'1. Purpose. The manager supports the participant here: questions about the programme,\n'
        || E'   worries, difficulties in a pair or group. It is not a mentoring room: no meetings,\n'
        || E'   goals or diaries are kept here.\n'
        || E'2. Confidentiality. What we write here stays between the two of us, during the\n'
        || E'   programme and after it. The only exceptions are what the law requires and what we\n'
        || E'   agree together to pass on.\n'
        || E'3. Reports. Either of us may report messages of this room as a concern, as in any room.\n'
        || E'4. Ending. Either of us may stop using this channel; it ends with the programme.\n'
    END
$$ LANGUAGE sql IMMUTABLE;

-- As in 014, with one branch: a support room's parties are its two members
-- (the manager as 'support'), and its terms are the support terms.
CREATE OR REPLACE FUNCTION agreement_refresh(rid bigint, new_term text, new_by text) RETURNS integer AS $$
DECLARE
    latest  agreement_versions;
    prog    programmes;
    adds    jsonb;
    body    text;
    vid     bigint;
    want    agreement_party_t[];
    support boolean;
BEGIN
    -- the room row first (the order every writer of a room's rows follows):
    -- two refreshes of one room never both make version n+1
    PERFORM 1 FROM rooms WHERE id = rid FOR UPDATE;
    SELECT p.* INTO prog FROM programmes p JOIN rooms r ON r.programme_id = p.id WHERE r.id = rid;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    support := (SELECT kind = 'support' FROM rooms WHERE id = rid);
    SELECT * INTO latest FROM agreement_versions WHERE room_id = rid
        ORDER BY version DESC LIMIT 1 FOR UPDATE;
    adds := COALESCE(latest.additions, '[]'::jsonb);
    IF new_term IS NOT NULL THEN
        adds := adds || jsonb_build_array(jsonb_build_object('by', new_by, 'term', new_term));
    END IF;
    body := CASE WHEN support THEN support_terms_in(prog.agreement_lang)
                 ELSE agreement_template_of(prog) END
        || COALESCE((SELECT string_agg(E'\nAdded by ' || (a ->> 'by') || ': ' || (a ->> 'term'),
                                       '' ORDER BY n)
                     FROM jsonb_array_elements(adds) WITH ORDINALITY AS t(a, n)), '');
    want := ARRAY(
        SELECT ROW(x.user_id, x.role, x.sign_pk, x.box_pk)::agreement_party_t FROM (
            SELECT u.id AS user_id, 'manager' AS role, u.sign_pk, u.box_pk FROM users u
            WHERE NOT support AND u.id = agreement_manager(rid)
              -- a manager who is the room's mentor is a party once, as the mentor
              AND NOT EXISTS (SELECT 1 FROM room_members m WHERE m.room_id = rid
                              AND m.user_id = u.id AND m.removed_at IS NULL)
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

-- The audit's mentoring figures are built on audit_rooms: support rooms are
-- not mentoring rooms. audit_support counts them apart (no names, no content).
CREATE OR REPLACE VIEW audit_rooms AS
    SELECT id AS room_id, programme_id, kind, name, created_at FROM rooms WHERE kind <> 'support';

CREATE VIEW audit_support AS
    SELECT programme_id, count(*) AS rooms FROM rooms WHERE kind = 'support' GROUP BY programme_id;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ementor_audit') THEN
        GRANT SELECT ON audit_support TO ementor_audit;
    END IF;
END
$$;

-- Announcements (PROTOCOL.md 15.2). The server keeps the manager's signed
-- ciphertext as it came, who it is for (audience), and one sealed content key
-- per recipient; never the text or the content key. An announcement is
-- delivered (notices written) when its last batch of keys is in.
CREATE TABLE announcements (
    id           bigserial PRIMARY KEY,
    programme_id bigint NOT NULL REFERENCES programmes (id) ON DELETE CASCADE,
    manager_id   bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    audience     text NOT NULL CHECK (audience IN ('mentors', 'all')),
    written_ms   bigint NOT NULL,
    body         bytea NOT NULL,
    delivered_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT ementor_now()
);
CREATE INDEX announcements_programme ON announcements (programme_id, id);

CREATE TABLE announcement_keys (
    announcement_id bigint NOT NULL REFERENCES announcements (id) ON DELETE CASCADE,
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sealed          bytea NOT NULL CHECK (length(sealed) = 80),
    PRIMARY KEY (announcement_id, user_id)
);
CREATE INDEX announcement_keys_user ON announcement_keys (user_id, announcement_id);

-- Retention and erasure: a purged programme loses its announcements; an
-- erased account its keys (crypto-shredding) and what it sent.
CREATE FUNCTION announcements_purge() RETURNS trigger AS $$
BEGIN
    DELETE FROM announcements WHERE programme_id = NEW.id;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER programmes_announcements_purge AFTER UPDATE OF purged_at ON programmes
    FOR EACH ROW WHEN (OLD.purged_at IS NULL AND NEW.purged_at IS NOT NULL)
    EXECUTE FUNCTION announcements_purge();

CREATE FUNCTION announcements_erase() RETURNS trigger AS $$
BEGIN
    DELETE FROM announcement_keys WHERE user_id = NEW.id;
    DELETE FROM announcements WHERE manager_id = NEW.id;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER users_announcements_erase AFTER UPDATE OF username ON users
    FOR EACH ROW WHEN (NEW.username LIKE '~erased-%' AND OLD.username NOT LIKE '~erased-%')
    EXECUTE FUNCTION announcements_erase();
