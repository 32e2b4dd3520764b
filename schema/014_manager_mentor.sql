-- 014: a manager of a programme may also be the mentor of a room in it (the
-- mentoring course allows it; docs/PROTOCOL.md 4, room.add, and 7.3).
--
-- The account keeps its one role (users.role, 'manager'); the seat in the
-- room is its room_members row, role 'mentor', which room.add gives a
-- manager only in a programme they manage. A person is one party, once:
--
-- Agreement. The parties of a version are the manager party, the mentor and
-- the mentees. When the manager party is also the room's mentor, the party
-- is listed once, as the mentor: the mentor role is the one that holds a room
-- key (a manager party never does), and every party signs the same bytes,
-- in which a user id appears once (PROTOCOL.md 7.1).
--
-- Checkpoints. The mid-term's participants are the members and the
-- programme's managers; a manager who is a member is listed once, as the
-- member (required, like every member), and counts as the manager the
-- mid-term needs (handle_checkpoint.c).

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

CREATE OR REPLACE FUNCTION checkpoint_participants(cid bigint)
RETURNS TABLE (user_id bigint, username text, role text, required boolean) AS $$
    SELECT u.id, u.username, m.role, true
    FROM checkpoints c JOIN room_members m ON m.room_id = c.room_id AND m.removed_at IS NULL
    JOIN users u ON u.id = m.user_id WHERE c.id = cid
    UNION ALL
    SELECT u.id, u.username, 'manager', false
    FROM checkpoints c JOIN rooms r ON r.id = c.room_id
    JOIN programme_people pp ON pp.programme_id = r.programme_id AND pp.role = 'manager'
    JOIN users u ON u.id = pp.user_id WHERE c.id = cid AND c.kind = 'midterm'
      AND NOT EXISTS (SELECT 1 FROM room_members m WHERE m.room_id = c.room_id
                      AND m.user_id = u.id AND m.removed_at IS NULL)
$$ LANGUAGE sql STABLE;

-- The mid-term record (PROTOCOL.md 6.6): what each mentee, the mentor and the
-- manager party say at the mid-term session, each an envelope sealed by its
-- author to the parties of the room's agreement version they verified. The
-- server keeps who wrote which version when, in what capacity (kind), never
-- the text. A corrected record is a new version; every version stays.
CREATE TABLE midterm_records (
    id                bigserial PRIMARY KEY,
    checkpoint_id     bigint NOT NULL REFERENCES checkpoints (id) ON DELETE CASCADE,
    room_id           bigint NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    author_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind              text NOT NULL CHECK (kind IN ('mentee', 'mentor', 'manager')),
    version           integer NOT NULL CHECK (version BETWEEN 1 AND 1000),
    agreement_version integer NOT NULL CHECK (agreement_version >= 1),
    written_ms        bigint NOT NULL,
    blob              bytea NOT NULL,
    created_at        timestamptz NOT NULL,
    UNIQUE (checkpoint_id, author_id, version)
);
CREATE INDEX midterm_records_room ON midterm_records (room_id);

-- Retention and erasure, as for goals (010): a purged programme loses its
-- records; an erased author's records go (their readers keep no key to them).
CREATE FUNCTION midterm_purge() RETURNS trigger AS $$
BEGIN
    DELETE FROM midterm_records WHERE room_id IN (SELECT id FROM rooms WHERE programme_id = NEW.id);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER programmes_midterm_purge AFTER UPDATE OF purged_at ON programmes
    FOR EACH ROW WHEN (OLD.purged_at IS NULL AND NEW.purged_at IS NOT NULL)
    EXECUTE FUNCTION midterm_purge();

CREATE FUNCTION midterm_erase() RETURNS trigger AS $$
BEGIN
    DELETE FROM midterm_records WHERE author_id = NEW.id;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER users_midterm_erase AFTER UPDATE OF username ON users
    FOR EACH ROW WHEN (NEW.username LIKE '~erased-%' AND OLD.username NOT LIKE '~erased-%')
    EXECUTE FUNCTION midterm_erase();
