-- 019: manager-issued identity resets (issue 15; docs/PROTOCOL.md "Identity
-- reset", docs/SECURITY.md "A forgotten password").
--
-- A person who forgot their password and has no recovery code cannot get
-- their keys back: nobody but them ever held them. A manager of a programme
-- they belong to issues a one-time code; with it the person sets a new
-- password AND a new identity (new key pairs). What the old keys opened is
-- lost to them. The code is kept only as BLAKE2b-256 of its 20 random bytes,
-- expires, works once, and a newer code replaces an older one.
CREATE TABLE identity_resets (
    id           bigserial PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    programme_id bigint NOT NULL REFERENCES programmes (id) ON DELETE CASCADE,
    issued_by    bigint REFERENCES users (id) ON DELETE SET NULL,
    code_hash    bytea NOT NULL UNIQUE CHECK (length(code_hash) = 32),
    issued_at    timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    cancelled_at timestamptz               -- replaced by a newer code, or the account erased
);
CREATE INDEX identity_resets_user ON identity_resets (user_id) WHERE used_at IS NULL;

-- The programme's trail (programme.history) records both steps: who issued a
-- code for whom, and when it was used.
ALTER TABLE programme_changes DROP CONSTRAINT programme_changes_change_check;
ALTER TABLE programme_changes ADD CONSTRAINT programme_changes_change_check
    CHECK (change IN ('name', 'starts_on', 'ends_on', 'ended', 'archived', 'room_name',
                      'reset_issued', 'identity_reset'));

-- The code e-mailed as a link to a verified address (section 12).
ALTER TABLE mail_outbox DROP CONSTRAINT mail_outbox_kind_check;
ALTER TABLE mail_outbox ADD CONSTRAINT mail_outbox_kind_check
    CHECK (kind IN ('verify', 'invite', 'meeting', 'agreement', 'diary', 'digest', 'reset'));

-- After the keys of `uid` changed: in every room they are in (or a party of
-- the latest agreement of), their signatures are withdrawn (the keys they
-- signed with are gone), a new agreement version lists their new keys, the
-- roster is recomputed (they are off it until the new version is signed by
-- every party) and the room needs a new key epoch. Every other party of the
-- new version gets an identity.reset notice. Rooms are locked in id order.
-- Returns (notice id, user, Notice text) for the server to push, and the
-- rooms with a NULL notice (to tell their members the agreement changed).
CREATE FUNCTION identity_reset_rooms(uid bigint, at timestamptz)
RETURNS TABLE (nid bigint, nuser bigint, doc text, room bigint) AS $$
DECLARE
    rid bigint;
    v   integer;
    who text;
BEGIN
    SELECT username INTO who FROM users WHERE id = uid;
    FOR rid IN
        SELECT x.room_id FROM (
            SELECT m.room_id FROM room_members m WHERE m.user_id = uid AND m.removed_at IS NULL
            UNION
            SELECT av.room_id FROM agreement_parties ap
            JOIN agreement_versions av ON av.id = ap.version_id
            WHERE ap.user_id = uid AND av.version = (SELECT max(l.version)
                FROM agreement_versions l WHERE l.room_id = av.room_id)) x
        ORDER BY x.room_id
    LOOP
        PERFORM 1 FROM rooms WHERE id = rid FOR UPDATE;
        UPDATE agreement_parties ap SET withdrawn_at = at FROM agreement_versions av
        WHERE av.id = ap.version_id AND av.room_id = rid AND ap.user_id = uid
          AND ap.signature IS NOT NULL AND ap.withdrawn_at IS NULL;
        v := agreement_refresh(rid, NULL, NULL);
        PERFORM agreement_roster_sync(rid);
        UPDATE rooms SET rotate_required = true WHERE id = rid;
        room := rid;
        nid := NULL;
        nuser := NULL;
        doc := NULL;
        RETURN NEXT;
        RETURN QUERY
        WITH ins AS (
            INSERT INTO notices (user_id, kind, data, created_at)
            SELECT ap.user_id, 'identity.reset', jsonb_build_object(
                       'kind', 'identity.reset', 'at', utc_text(at), 'room_id', rid,
                       'user_id', uid, 'by', who, 'version', v,
                       'summary', format('%s has a new identity (a manager reset their account): '
                                         'their keys changed. Check their new safety number with '
                                         'them, then sign version %s of the agreement', who, v)),
                   at
            FROM agreement_parties ap JOIN agreement_versions av ON av.id = ap.version_id
            WHERE av.room_id = rid AND av.version = v AND ap.user_id <> uid
            RETURNING notices.id, notices.user_id, notices.data)
        SELECT ins.id, ins.user_id, (ins.data || jsonb_build_object('id', ins.id))::text, rid
        FROM ins;
    END LOOP;
END
$$ LANGUAGE plpgsql;

-- Erasure forgets the codes not used yet.
CREATE FUNCTION identity_resets_erase() RETURNS trigger AS $$
BEGIN
    UPDATE identity_resets SET cancelled_at = now()
    WHERE user_id = NEW.id AND used_at IS NULL AND cancelled_at IS NULL;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER users_identity_resets_erase AFTER UPDATE OF erased_at ON users
    FOR EACH ROW WHEN (NEW.erased_at IS NOT NULL AND OLD.erased_at IS NULL)
    EXECUTE FUNCTION identity_resets_erase();

-- ---------------------------------------------------------------------------
-- Rooms from an imported list's labels (invite.import, PROTOCOL.md 12): the
-- rows of a programme's list that share a label become one room, made when
-- the last of their invites is used (a room's members are accounts, and an
-- invitee has none until they register). A label with one mentor and one
-- mentee makes a pair; one mentor and 2 to max_group_mentees mentees a group;
-- any other mix makes nothing and is reported. Manager rows do not count.
-- The room is named after the label (the manager chose it; like any room
-- name, the server and managers see it). One row per programme and label:
-- importing again makes nothing new.
CREATE TABLE import_rooms (
    programme_id bigint NOT NULL REFERENCES programmes (id) ON DELETE CASCADE,
    label        text NOT NULL,
    created_by   bigint REFERENCES users (id) ON DELETE SET NULL,
    room_id      bigint REFERENCES rooms (id) ON DELETE SET NULL,
    made_at      timestamptz,
    PRIMARY KEY (programme_id, label)
);

-- What a label holds now: mentors, mentees, how many of them registered, the
-- kind it makes (NULL: none) and why not.
CREATE FUNCTION import_label_state(pid bigint, lbl text,
                                   OUT mentors integer, OUT mentees integer,
                                   OUT registered integer, OUT kind text, OUT problem text) AS $$
    WITH i AS (SELECT role, used_by FROM invites
               WHERE programme_id = pid AND label = lbl AND revoked_at IS NULL
                 AND role IN ('mentor', 'mentee')),
    n AS (SELECT count(*) FILTER (WHERE role = 'mentor')::integer AS mentors,
                 count(*) FILTER (WHERE role = 'mentee')::integer AS mentees,
                 count(used_by)::integer AS registered FROM i),
    p AS (SELECT max_group_mentees FROM programmes WHERE id = pid)
    SELECT n.mentors, n.mentees, n.registered,
           CASE WHEN n.mentors <> 1 OR n.mentees < 1 OR n.mentees > p.max_group_mentees THEN NULL
                WHEN n.mentees = 1 THEN 'pair' ELSE 'group' END,
           CASE WHEN n.mentors <> 1 THEN format('a room needs exactly one mentor; this label has %s',
                                                n.mentors)
                WHEN n.mentees < 1 THEN 'a room needs at least one mentee'
                WHEN n.mentees > p.max_group_mentees
                THEN format('a group takes at most %s mentees in this programme; this label has %s',
                            p.max_group_mentees, n.mentees) END
    FROM n, p
$$ LANGUAGE sql STABLE;

-- Makes the label's room if every invite of it was used and none made it
-- yet. Returns the room id when it made it now, else NULL.
CREATE FUNCTION import_room_try(pid bigint, lbl text) RETURNS bigint AS $$
DECLARE
    ir  import_rooms;
    st  record;
    rid bigint;
BEGIN
    SELECT * INTO ir FROM import_rooms WHERE programme_id = pid AND label = lbl FOR UPDATE;
    IF NOT FOUND OR ir.room_id IS NOT NULL OR ir.made_at IS NOT NULL THEN
        RETURN NULL;
    END IF;
    SELECT * INTO st FROM import_label_state(pid, lbl);
    IF st.kind IS NULL OR st.registered < st.mentors + st.mentees THEN
        RETURN NULL;
    END IF;
    INSERT INTO rooms (programme_id, kind, name, created_by)
    VALUES (pid, st.kind, left(lbl, 100), ir.created_by) RETURNING id INTO rid;
    INSERT INTO room_members (room_id, user_id, role, added_by)
    SELECT DISTINCT ON (i.used_by) rid, i.used_by, i.role, ir.created_by FROM invites i
    WHERE i.programme_id = pid AND i.label = lbl AND i.revoked_at IS NULL
      AND i.role IN ('mentor', 'mentee') AND i.used_by IS NOT NULL;
    UPDATE import_rooms SET room_id = rid, made_at = now() WHERE programme_id = pid AND label = lbl;
    RETURN rid;
END
$$ LANGUAGE plpgsql;

-- The last registration of a label makes its room, in that transaction.
CREATE FUNCTION invites_import_room() RETURNS trigger AS $$
BEGIN
    PERFORM import_room_try(NEW.programme_id, NEW.label);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER invites_import_room AFTER UPDATE OF used_at ON invites
    FOR EACH ROW WHEN (NEW.used_at IS NOT NULL AND OLD.used_at IS NULL AND NEW.label IS NOT NULL
                       AND NEW.programme_id IS NOT NULL)
    EXECUTE FUNCTION invites_import_room();
