-- 004: mentoring agreements (versioned, signed by every party), the room
-- roster they define, the append-only consent ledger, and what erasure and
-- retention leave behind (docs/PROTOCOL.md section 7, docs/SECURITY.md).
--
-- The roster is kept in room_members.roster so the hot paths (send, epoch
-- commit) read one flag on a row they read anyway; agreement_roster_sync()
-- recomputes it whenever a version is activated or a party withdraws.

ALTER TABLE programmes
    ADD COLUMN agreement_required  boolean NOT NULL DEFAULT true,
    ADD COLUMN agreement_template  text,          -- NULL: agreement_default_template()
    ADD COLUMN template_updated_at timestamptz,
    ADD COLUMN retention_days      integer NOT NULL DEFAULT 365
        CHECK (retention_days BETWEEN 1 AND 3650),
    ADD COLUMN purged_at           timestamptz;

-- Members of rooms made before agreements existed stay on the roster until
-- their room activates a version; new members start off it (trigger below).
ALTER TABLE room_members ADD COLUMN roster boolean NOT NULL DEFAULT true;
ALTER TABLE room_members ALTER COLUMN roster SET DEFAULT false;

CREATE FUNCTION agreement_default_template() RETURNS text AS $$
    SELECT E'Mentoring agreement\n'
        || E'\n'
        || E'This agreement is made at the first meeting between the programme manager, the mentor\n'
        || E'and the mentee(s). It runs from the start date to the end date stated with it.\n'
        || E'\n'
        || E'1. The mentee is committed to the programme and responsible for their own goals.\n'
        || E'2. Mentor and mentee(s) support each other and are open with each other.\n'
        || E'3. Everything said in the mentoring relationship is confidential, during the\n'
        || E'   programme and after it ends.\n'
        || E'4. The mentor''s advice is guidance: the mentee makes their own decisions.\n'
        || E'\n'
        || E'Code of ethics\n'
        || E'- Respect everyone''s time.\n'
        || E'- Keep everything confidential, during and after the programme.\n'
        || E'- Respect the opinions of others.\n'
        || E'- Think before you write.\n'
        || E'- Be honest.\n'
        || E'- Be open.\n'
        || E'- Attend every scheduled meeting.\n'
        || E'- A mentee who cannot attend tells the others and agrees how to catch up.\n'
        || E'- A mentor who cannot attend tells all mentees at least two days ahead and\n'
        || E'  proposes another date.\n'
$$ LANGUAGE sql IMMUTABLE;

CREATE FUNCTION b64url(b bytea) RETURNS text AS $$
    SELECT translate(encode(b, 'base64'), E'+/=\n', '-_')
$$ LANGUAGE sql IMMUTABLE;

CREATE TABLE agreement_versions (
    id           bigserial PRIMARY KEY,
    room_id      bigint NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    version      integer NOT NULL CHECK (version > 0),
    starts_on    date NOT NULL,
    ends_on      date NOT NULL,
    terms        text NOT NULL,
    additions    jsonb NOT NULL DEFAULT '[]',   -- [{"by": username, "term": text}]
    created_at   timestamptz NOT NULL DEFAULT now(),
    activated_at timestamptz,                   -- every party signed
    UNIQUE (room_id, version)
);

-- The parties of a version with the keys they had when it was made.
CREATE TABLE agreement_parties (
    version_id   bigint NOT NULL REFERENCES agreement_versions (id) ON DELETE CASCADE,
    user_id      bigint NOT NULL REFERENCES users (id),
    role         text NOT NULL CHECK (role IN ('manager', 'mentor', 'mentee')),
    sign_pk      bytea NOT NULL CHECK (length(sign_pk) = 32),
    box_pk       bytea NOT NULL CHECK (length(box_pk) = 32),
    signature    bytea CHECK (length(signature) = 64),
    signed_at    timestamptz,
    withdrawn_at timestamptz,
    PRIMARY KEY (version_id, user_id)
);
CREATE INDEX agreement_parties_user ON agreement_parties (user_id);

-- The consent ledger: append-only, hash-chained (PROTOCOL.md 7.1). user_id
-- stays after erasure (the users row becomes a tombstone), so rows never change.
CREATE TABLE consent_ledger (
    seq         bigint PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id),
    sign_pk     bytea NOT NULL CHECK (length(sign_pk) = 32),
    purpose     text NOT NULL,
    subject     text NOT NULL,
    text_hash   bytea NOT NULL CHECK (length(text_hash) = 32),
    action      text NOT NULL CHECK (action IN ('grant', 'withdraw')),
    at          bigint NOT NULL,               -- the client's clock, Unix seconds
    signature   bytea NOT NULL CHECK (length(signature) = 64),
    recorded_us bigint NOT NULL,               -- the server's clock, microseconds
    prev_hash   bytea NOT NULL CHECK (length(prev_hash) = 32),
    entry_hash  bytea NOT NULL CHECK (length(entry_hash) = 32)
);
CREATE INDEX consent_ledger_user ON consent_ledger (user_id, seq);

CREATE FUNCTION consent_ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'consent_ledger is append-only';
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER consent_ledger_no_update BEFORE UPDATE OR DELETE ON consent_ledger
    FOR EACH ROW EXECUTE FUNCTION consent_ledger_append_only();
CREATE TRIGGER consent_ledger_no_truncate BEFORE TRUNCATE ON consent_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION consent_ledger_append_only();

-- Content-free activity kept when retention deletes a programme's messages.
CREATE TABLE room_activity (
    room_id  bigint NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id  bigint NOT NULL,
    week     date NOT NULL,                     -- Monday of the ISO week
    messages integer NOT NULL,
    bytes    bigint NOT NULL,
    PRIMARY KEY (room_id, user_id, week)
);

-- The manager party of a room: its creator if still a manager of the
-- programme, else the programme's first manager.
CREATE FUNCTION agreement_manager(rid bigint) RETURNS bigint AS $$
    SELECT COALESCE(
        (SELECT r.created_by FROM rooms r JOIN programme_people pp
           ON pp.programme_id = r.programme_id AND pp.user_id = r.created_by
          AND pp.role = 'manager' WHERE r.id = rid),
        (SELECT min(pp.user_id) FROM rooms r JOIN programme_people pp
           ON pp.programme_id = r.programme_id AND pp.role = 'manager' WHERE r.id = rid))
$$ LANGUAGE sql STABLE;

CREATE TYPE agreement_party_t AS (user_id bigint, role text, sign_pk bytea, box_pk bytea);

-- Makes a new version of the room's agreement when its terms, dates or
-- parties differ from the latest one (or when new_term is given). Returns the
-- latest version number. Idempotent: called once per changed member row at
-- commit, only the first call of a transaction creates a version.
CREATE FUNCTION agreement_refresh(rid bigint, new_term text, new_by text) RETURNS integer AS $$
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
    body := COALESCE(prog.agreement_template, agreement_default_template())
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

-- Recomputes the roster of a room from its active version; when it changed,
-- the room needs a new key epoch. Returns whether it changed.
CREATE FUNCTION agreement_roster_sync(rid bigint) RETURNS boolean AS $$
DECLARE
    n integer;
BEGIN
    -- no active version yet: the roster stays as it is (empty for new rooms,
    -- everyone for rooms that predate agreements)
    IF NOT EXISTS (SELECT 1 FROM agreement_versions WHERE room_id = rid
                   AND activated_at IS NOT NULL) THEN
        RETURN false;
    END IF;
    WITH act AS (
        SELECT id FROM agreement_versions WHERE room_id = rid AND activated_at IS NOT NULL
        ORDER BY version DESC LIMIT 1),
    want AS (
        SELECT m.id, (NOT p.agreement_required) OR EXISTS (
                   SELECT 1 FROM agreement_parties ap JOIN act ON ap.version_id = act.id
                   WHERE ap.user_id = m.user_id AND ap.signature IS NOT NULL
                     AND ap.withdrawn_at IS NULL AND ap.signed_at >= m.added_at) AS on_roster
        FROM room_members m JOIN rooms r ON r.id = m.room_id
        JOIN programmes p ON p.id = r.programme_id
        WHERE m.room_id = rid AND m.removed_at IS NULL)
    UPDATE room_members m SET roster = want.on_roster FROM want
    WHERE m.id = want.id AND m.roster IS DISTINCT FROM want.on_roster;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        UPDATE rooms SET rotate_required = true WHERE id = rid;
    END IF;
    RETURN n > 0;
END
$$ LANGUAGE plpgsql;

-- New members are on the roster at once only where agreements are not required.
CREATE FUNCTION room_members_roster_default() RETURNS trigger AS $$
BEGIN
    NEW.roster := NOT (SELECT p.agreement_required FROM rooms r
                       JOIN programmes p ON p.id = r.programme_id WHERE r.id = NEW.room_id);
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER room_members_roster BEFORE INSERT ON room_members
    FOR EACH ROW EXECUTE FUNCTION room_members_roster_default();

-- Membership changes make a new version, at commit (after every member of
-- a room.create is in).
CREATE FUNCTION room_members_agreement() RETURNS trigger AS $$
BEGIN
    -- someone who leaves takes their signatures with them: back in the room
    -- later, they sign again
    IF NEW.removed_at IS NOT NULL THEN
        UPDATE agreement_parties ap SET withdrawn_at = now() FROM agreement_versions v
        WHERE v.id = ap.version_id AND v.room_id = NEW.room_id AND ap.user_id = NEW.user_id
          AND ap.signature IS NOT NULL AND ap.withdrawn_at IS NULL;
    END IF;
    PERFORM agreement_refresh(NEW.room_id, NULL, NULL);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE CONSTRAINT TRIGGER room_members_agreement AFTER INSERT OR UPDATE OF removed_at
    ON room_members DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION room_members_agreement();

CREATE FUNCTION rooms_agreement() RETURNS trigger AS $$
BEGIN
    PERFORM agreement_refresh(NEW.id, NULL, NULL);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE CONSTRAINT TRIGGER rooms_agreement AFTER INSERT ON rooms
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION rooms_agreement();

-- Rooms that exist already get their first (pending) version.
SELECT agreement_refresh(id, NULL, NULL) FROM rooms;

-- A version as the protocol shows it (PROTOCOL.md 7.3).
CREATE FUNCTION agreement_version_doc(vid bigint) RETURNS jsonb AS $$
    SELECT jsonb_build_object(
        'version', v.version, 'starts_on', v.starts_on::text, 'ends_on', v.ends_on::text,
        'terms', v.terms, 'created_at', utc_text(v.created_at),
        'activated_at', utc_text(v.activated_at),
        'parties', COALESCE((
            SELECT jsonb_agg(jsonb_build_object(
                'user_id', ap.user_id, 'username', u.username, 'display_name', u.display_name,
                'role', ap.role, 'sign_pk', b64url(ap.sign_pk), 'box_pk', b64url(ap.box_pk),
                'signature', b64url(ap.signature), 'signed_at', utc_text(ap.signed_at),
                'withdrawn_at', utc_text(ap.withdrawn_at)) ORDER BY ap.user_id)
            FROM agreement_parties ap JOIN users u ON u.id = ap.user_id
            WHERE ap.version_id = v.id), '[]'::jsonb))
    FROM agreement_versions v WHERE v.id = vid
$$ LANGUAGE sql STABLE;

-- agreement.show's answer for a room.
CREATE FUNCTION agreement_doc(rid bigint) RETURNS jsonb AS $$
    WITH act AS (SELECT id, version FROM agreement_versions
                 WHERE room_id = rid AND activated_at IS NOT NULL ORDER BY version DESC LIMIT 1),
         pend AS (SELECT v.id FROM agreement_versions v WHERE v.room_id = rid
                  AND v.activated_at IS NULL
                  AND v.version > COALESCE((SELECT version FROM act), 0)
                  ORDER BY v.version DESC LIMIT 1)
    SELECT jsonb_build_object(
        'room_id', rid,
        'required', (SELECT p.agreement_required FROM rooms r
                     JOIN programmes p ON p.id = r.programme_id WHERE r.id = rid),
        'active', (SELECT agreement_version_doc(id) FROM act),
        'pending', (SELECT agreement_version_doc(id) FROM pend),
        'roster', COALESCE((SELECT jsonb_agg(user_id ORDER BY user_id) FROM room_members
                            WHERE room_id = rid AND removed_at IS NULL AND roster), '[]'::jsonb))
$$ LANGUAGE sql STABLE;

-- A user's current consents: the latest record per purpose and subject.
CREATE FUNCTION consent_current(uid bigint) RETURNS jsonb AS $$
    SELECT COALESCE(jsonb_agg(jsonb_build_object(
               'purpose', purpose, 'subject', subject, 'granted', action = 'grant',
               'at', utc_text(to_timestamp(recorded_us / 1e6))) ORDER BY purpose, subject), '[]')
    FROM (SELECT DISTINCT ON (purpose, subject) purpose, subject, action, recorded_us
          FROM consent_ledger WHERE user_id = uid ORDER BY purpose, subject, seq DESC) c
$$ LANGUAGE sql STABLE;

CREATE FUNCTION consent_entry_doc(l consent_ledger) RETURNS jsonb AS $$
    SELECT jsonb_build_object(
        'seq', l.seq, 'purpose', l.purpose, 'subject', l.subject,
        'text_hash', b64url(l.text_hash), 'action', l.action, 'at', l.at,
        'signature', b64url(l.signature),
        'recorded_at', utc_text(to_timestamp(l.recorded_us / 1e6)),
        'entry_hash', b64url(l.entry_hash))
$$ LANGUAGE sql STABLE;

-- Erasure (PROTOCOL.md 7.4): the users row stays as a tombstone under its id,
-- so ledger entries, checkpoint and audit rows keep a pseudonymous reference.
ALTER TABLE users ADD COLUMN erased_at timestamptz;

CREATE FUNCTION account_erase(uid bigint) RETURNS void AS $$
DECLARE
    rid bigint;
BEGIN
    -- rooms rows first, in id order (as the message writer locks them)
    PERFORM 1 FROM rooms WHERE id IN (
        SELECT room_id FROM room_members WHERE user_id = uid AND removed_at IS NULL
        UNION SELECT v.room_id FROM agreement_versions v
              JOIN agreement_parties p ON p.version_id = v.id WHERE p.user_id = uid)
        ORDER BY id FOR UPDATE;
    UPDATE rooms SET rotate_required = true WHERE id IN (
        SELECT room_id FROM room_members WHERE user_id = uid AND removed_at IS NULL);
    UPDATE room_members SET removed_at = now(), roster = false
        WHERE user_id = uid AND removed_at IS NULL;
    UPDATE agreement_parties SET withdrawn_at = now()
        WHERE user_id = uid AND withdrawn_at IS NULL;
    DELETE FROM key_envelopes WHERE recipient_id = uid;
    DELETE FROM sessions WHERE user_id = uid;
    DELETE FROM calendar_feeds WHERE user_id = uid;
    DELETE FROM programme_people WHERE user_id = uid;
    DELETE FROM notices WHERE user_id = uid;
    DELETE FROM reminders WHERE user_id = uid;
    DELETE FROM login_attempts WHERE username = (SELECT username FROM users WHERE id = uid);
    -- a manager party of a version not yet active is replaced in a new version
    -- (rooms they were a member of get one from the membership trigger)
    FOR rid IN SELECT DISTINCT v.room_id FROM agreement_versions v
               JOIN agreement_parties p ON p.version_id = v.id
               WHERE p.user_id = uid AND p.role = 'manager' AND v.activated_at IS NULL ORDER BY 1 LOOP
        PERFORM agreement_refresh(rid, NULL, NULL);
    END LOOP;
    UPDATE users SET username = '~erased-' || id, display_name = 'erased user ' || id,
        sign_pk = '\x0000000000000000000000000000000000000000000000000000000000000000',
        box_pk = '\x0000000000000000000000000000000000000000000000000000000000000000',
        kdf_salt = '\x00000000000000000000000000000000',
        auth_hash = '\x', key_backup = '\x', last_login_at = NULL, erased_at = now()
        WHERE id = uid;
END
$$ LANGUAGE plpgsql;

-- A purged programme's rooms take no more messages or epochs (send and
-- epoch.commit read this flag on the rooms row they lock anyway).
ALTER TABLE rooms ADD COLUMN closed boolean NOT NULL DEFAULT false;

-- Retention itself (retention_purge) is in 005_audit.sql: it keeps the audit's rollups.
