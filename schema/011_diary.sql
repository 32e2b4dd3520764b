-- 011: the diary after every meeting (docs/PROTOCOL.md section 6.5). For each
-- checkpoint recorded `held`, one mentee writes an entry (in a pair always the
-- mentee; in a group the one the group chose, the server suggesting the next
-- in rotation) and the room's mentor appends remarks. Entries and remarks are
-- end-to-end encrypted to the room key and signed by their authors: the server
-- keeps ciphertext plus who, which meeting, which key epoch, size and time.
-- Everything is keyed on checkpoints.id, so any kind of meeting the
-- checkpoints table holds has a diary once it is recorded held.

-- Who writes the diary of a meeting, when the group chose (absent: the server's
-- suggestion, diary_suggested(), is the writer).
CREATE TABLE diary_writers (
    checkpoint_id bigint PRIMARY KEY REFERENCES checkpoints (id) ON DELETE CASCADE,
    user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    set_by        bigint REFERENCES users (id) ON DELETE SET NULL,
    set_at        timestamptz NOT NULL
);

-- Entries (each correction a new version) and remarks. number: the entry's
-- version, or the remark's place among the meeting's remarks; both are signed.
CREATE TABLE diary_records (
    id            bigserial PRIMARY KEY,
    checkpoint_id bigint NOT NULL REFERENCES checkpoints (id) ON DELETE CASCADE,
    room_id       bigint NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    author_id     bigint NOT NULL,  -- users.id; no FK: erasure keeps ciphertext rows
    kind          text NOT NULL CHECK (kind IN ('entry', 'remark')),
    number        integer NOT NULL CHECK (number BETWEEN 1 AND 1000),
    epoch         integer NOT NULL CHECK (epoch >= 1),
    ciphertext    bytea NOT NULL,
    sig           bytea NOT NULL,
    created_at    timestamptz NOT NULL,
    UNIQUE (checkpoint_id, kind, number)
);
CREATE INDEX diary_records_room ON diary_records (room_id);

-- The missing-entry reminder went out for this meeting (once).
CREATE TABLE diary_nudges (
    checkpoint_id bigint PRIMARY KEY REFERENCES checkpoints (id) ON DELETE CASCADE,
    user_id       bigint NOT NULL,
    sent_at       timestamptz NOT NULL
);

-- When the meeting was last recorded held (NULL: it is not held now).
CREATE FUNCTION diary_held_at(cid bigint) RETURNS timestamptz AS $$
    SELECT max(e.at) FROM checkpoints c JOIN checkpoint_events e ON e.checkpoint_id = c.id
    WHERE c.id = cid AND c.state = 'held' AND e.kind = 'recorded' AND e.reason = 'held'
$$ LANGUAGE sql STABLE;

-- The rotation: the room's current mentee who was the chosen writer least
-- recently of the room's other meetings (never first), then by join order.
CREATE FUNCTION diary_suggested(cid bigint) RETURNS bigint AS $$
    SELECT m.user_id FROM checkpoints c
    JOIN room_members m ON m.room_id = c.room_id AND m.removed_at IS NULL AND m.role = 'mentee'
    WHERE c.id = cid
    ORDER BY (SELECT max(w.set_at) FROM diary_writers w JOIN checkpoints c2
              ON c2.id = w.checkpoint_id WHERE c2.room_id = c.room_id
              AND w.checkpoint_id <> cid AND w.user_id = m.user_id) NULLS FIRST,
             m.added_at, m.user_id
    LIMIT 1
$$ LANGUAGE sql STABLE;

-- The writer: in a pair the mentee; in a group the chosen one while they are
-- still a mentee of the room, else the suggestion.
CREATE FUNCTION diary_writer(cid bigint) RETURNS bigint AS $$
    SELECT CASE WHEN r.kind = 'pair' THEN diary_suggested(cid)
                ELSE COALESCE((SELECT w.user_id FROM diary_writers w JOIN room_members m
                               ON m.room_id = c.room_id AND m.user_id = w.user_id
                               AND m.removed_at IS NULL AND m.role = 'mentee'
                               WHERE w.checkpoint_id = cid), diary_suggested(cid)) END
    FROM checkpoints c JOIN rooms r ON r.id = c.room_id WHERE c.id = cid
$$ LANGUAGE sql STABLE;

CREATE FUNCTION diary_user_doc(uid bigint) RETURNS jsonb AS $$
    SELECT jsonb_build_object('user_id', u.id, 'username', u.username)
    FROM users u WHERE u.id = uid
$$ LANGUAGE sql STABLE;

-- The Writer object (PROTOCOL.md 6.5).
CREATE FUNCTION diary_writer_doc(cid bigint) RETURNS jsonb AS $$
    SELECT jsonb_build_object(
        'checkpoint_id', c.id, 'room_id', c.room_id, 'room_kind', r.kind,
        'checkpoint_kind', c.kind, 'state', c.state,
        'held_at', utc_text(diary_held_at(c.id)),
        'writer', diary_user_doc(diary_writer(c.id)),
        'chosen', r.kind = 'pair' OR EXISTS (SELECT 1 FROM diary_writers w JOIN room_members m
                  ON m.room_id = c.room_id AND m.user_id = w.user_id AND m.removed_at IS NULL
                  AND m.role = 'mentee' WHERE w.checkpoint_id = c.id),
        'set_by', (SELECT u.username FROM diary_writers w JOIN users u ON u.id = w.set_by
                   WHERE w.checkpoint_id = c.id),
        'suggested', diary_user_doc(diary_suggested(c.id)))
    FROM checkpoints c JOIN rooms r ON r.id = c.room_id WHERE c.id = cid
$$ LANGUAGE sql STABLE;

-- A Record object (an entry version or a remark).
CREATE FUNCTION diary_record_doc(d diary_records) RETURNS jsonb AS $$
    SELECT jsonb_build_object(
        'id', d.id, 'checkpoint_id', d.checkpoint_id, 'room_id', d.room_id,
        'kind', d.kind, 'number', d.number, 'author_id', d.author_id,
        'author', (SELECT username FROM users WHERE id = d.author_id), 'epoch', d.epoch,
        'ciphertext', b64url(d.ciphertext), 'sig', b64url(d.sig),
        'created_at', utc_text(d.created_at))
$$ LANGUAGE sql STABLE;

-- The answer of diary.show.
CREATE FUNCTION diary_doc(cid bigint) RETURNS jsonb AS $$
    SELECT diary_writer_doc(cid) || jsonb_build_object(
        'entries', COALESCE((SELECT jsonb_agg(diary_record_doc(d) ORDER BY d.number)
                             FROM diary_records d WHERE d.checkpoint_id = cid
                             AND d.kind = 'entry'), '[]'::jsonb),
        'remarks', COALESCE((SELECT jsonb_agg(diary_record_doc(d) ORDER BY d.number)
                             FROM diary_records d WHERE d.checkpoint_id = cid
                             AND d.kind = 'remark'), '[]'::jsonb))
$$ LANGUAGE sql STABLE;

-- A notice about a meeting's diary to one user; returns (user, Notice) to push.
CREATE FUNCTION diary_notify(cid bigint, uid bigint, actor bigint, nkind text, extra jsonb,
                             at timestamptz)
RETURNS TABLE (user_id bigint, doc text) AS $$
    WITH ins AS (
        INSERT INTO notices (user_id, kind, data, created_at)
        SELECT uid, nkind, jsonb_build_object(
                   'kind', nkind, 'at', utc_text(at), 'checkpoint_id', c.id,
                   'room_id', c.room_id, 'checkpoint_kind', c.kind)
               || CASE WHEN actor IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('by',
                  (SELECT username FROM users WHERE users.id = actor)) END || extra, at
        FROM checkpoints c WHERE c.id = cid AND uid IS NOT NULL
        RETURNING notices.id, notices.user_id, notices.data)
    SELECT ins.user_id, (ins.data || jsonb_build_object('id', ins.id))::text FROM ins
$$ LANGUAGE sql;

-- Retention (PROTOCOL.md 7.4): when a programme's content is purged, so is its diary.
CREATE FUNCTION diary_purge() RETURNS trigger AS $$
BEGIN
    DELETE FROM diary_records WHERE room_id IN (SELECT id FROM rooms WHERE programme_id = NEW.id);
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER programmes_diary_purge AFTER UPDATE OF purged_at ON programmes
    FOR EACH ROW WHEN (NEW.purged_at IS NOT NULL AND OLD.purged_at IS NULL)
    EXECUTE FUNCTION diary_purge();

-- The audit (PROTOCOL.md 8) counts a room's entries and remarks, never reads them.
CREATE VIEW audit_diary AS
    SELECT room_id, count(DISTINCT checkpoint_id) FILTER (WHERE kind = 'entry') AS meetings,
           count(*) FILTER (WHERE kind = 'entry') AS entry_versions,
           count(*) FILTER (WHERE kind = 'remark') AS remarks
    FROM diary_records GROUP BY room_id;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ementor_audit') THEN
        GRANT SELECT ON audit_diary TO ementor_audit;
    END IF;
END
$$;
