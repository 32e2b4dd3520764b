-- 009: meetings beyond the three checkpoints, and the session plan
-- (docs/PROTOCOL.md section 6.4). A room's mentor and mentees plan any
-- number of further sessions, face to face or online. A session is a row of
-- `checkpoints` of kind 'session', so checkpoints.id stays the one id of a
-- meeting and every rule of section 6 (slots, answers, confirmation, the
-- 48-hour late change, absences, attendance, reminders, calendar feeds) works
-- on it unchanged. Its participants are the room's members only
-- (checkpoint_participants adds managers to the mid-term alone).
--
-- The session's time, place, length, mode and attendance are the server's to
-- know (reminders, feeds, the audit); its topic is end-to-end encrypted to
-- the room key and signed by its author (meeting_topics keeps ciphertext only).

ALTER TABLE checkpoints DROP CONSTRAINT checkpoints_kind_check;
ALTER TABLE checkpoints ADD CONSTRAINT checkpoints_kind_check
    CHECK (kind IN ('initial', 'midterm', 'final', 'session'));
-- one of each checkpoint per room; any number of sessions
ALTER TABLE checkpoints DROP CONSTRAINT checkpoints_room_id_kind_key;
CREATE UNIQUE INDEX checkpoints_room_kind ON checkpoints (room_id, kind) WHERE kind <> 'session';
CREATE INDEX checkpoints_room ON checkpoints (room_id);

-- 'in_person' for the three checkpoints (face to face by definition)
ALTER TABLE checkpoints
    ADD COLUMN mode text NOT NULL DEFAULT 'in_person' CHECK (mode IN ('in_person', 'online')),
    ADD COLUMN created_by bigint REFERENCES users (id) ON DELETE SET NULL;

-- The topic of a meeting: one current version, replaced whole by a newer
-- revision (docs/PROTOCOL.md 6.4 gives the byte layout the client signs).
CREATE TABLE meeting_topics (
    checkpoint_id bigint PRIMARY KEY REFERENCES checkpoints (id) ON DELETE CASCADE,
    revision      integer NOT NULL CHECK (revision BETWEEN 1 AND 1000000),
    epoch         bigint NOT NULL CHECK (epoch >= 1),
    author_id     bigint REFERENCES users (id) ON DELETE SET NULL,
    ciphertext    bytea NOT NULL,
    sig           bytea NOT NULL,
    updated_at    timestamptz NOT NULL
);

-- Retention (PROTOCOL.md 7.4): topics are ciphertext, so they go with the
-- messages when retention_purge marks a programme purged.
CREATE FUNCTION meeting_topics_purge() RETURNS trigger AS $$
BEGIN
    DELETE FROM meeting_topics WHERE checkpoint_id IN (
        SELECT c.id FROM checkpoints c JOIN rooms r ON r.id = c.room_id
        WHERE r.programme_id = NEW.id);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER programmes_purge_topics AFTER UPDATE OF purged_at ON programmes
    FOR EACH ROW WHEN (OLD.purged_at IS NULL AND NEW.purged_at IS NOT NULL)
    EXECUTE FUNCTION meeting_topics_purge();

-- The audit's checkpoints stay the three of each room (section 8).
CREATE OR REPLACE VIEW audit_checkpoints AS
    SELECT c.id AS checkpoint_id, c.room_id, c.kind, c.state, c.opens_on, c.closes_on,
           s.starts_at, s.starts_at + make_interval(mins => s.minutes) AS ends_at,
           (SELECT count(*) FROM checkpoint_events e
             WHERE e.checkpoint_id = c.id AND e.late) AS late_changes
    FROM checkpoints c LEFT JOIN checkpoint_slots s ON s.id = c.slot_id
    WHERE c.kind <> 'session';

-- The date a meeting sorts by in the plan: its confirmed start, else its
-- earliest open slot, else the start of its window.
CREATE FUNCTION meeting_sort_at(cid bigint) RETURNS timestamptz AS $$
    SELECT COALESCE(
        (SELECT s.starts_at FROM checkpoint_slots s WHERE s.id = c.slot_id),
        (SELECT min(s.starts_at) FROM checkpoint_slots s
          WHERE s.checkpoint_id = c.id AND s.withdrawn_at IS NULL),
        c.opens_on::timestamp AT TIME ZONE 'UTC')
    FROM checkpoints c WHERE c.id = cid
$$ LANGUAGE sql STABLE;

-- The protocol's Meeting object (section 6.4): a Checkpoint plus mode, who
-- added it, and the encrypted topic.
CREATE FUNCTION meeting_doc(cid bigint, at timestamptz) RETURNS jsonb AS $$
    SELECT checkpoint_doc(c.id, at) || jsonb_build_object(
        'mode', c.mode,
        'created_by', (SELECT username FROM users WHERE id = c.created_by),
        'sort_at', utc_text(meeting_sort_at(c.id)),
        'topic', (SELECT jsonb_build_object(
                      'revision', t.revision, 'epoch', t.epoch, 'author_id', t.author_id,
                      'author', (SELECT username FROM users WHERE id = t.author_id),
                      'ciphertext', b64url(t.ciphertext),
                      'sig', b64url(t.sig), 'updated_at', utc_text(t.updated_at))
                  FROM meeting_topics t WHERE t.checkpoint_id = c.id))
    FROM checkpoints c WHERE c.id = cid
$$ LANGUAGE sql STABLE;

-- The audit's session counts (section 8: RoomReport "sessions"): states only.
CREATE VIEW audit_sessions AS
    SELECT c.room_id, c.state FROM checkpoints c WHERE c.kind = 'session';
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ementor_audit') THEN
        GRANT SELECT ON audit_sessions TO ementor_audit;
    END IF;
END
$$;
