-- 003: the three face-to-face checkpoints of blended mentoring (initial,
-- mid-term with the programme manager, final), their proposed slots and
-- answers, attendance, persisted reminders, per-user notices (delivered at the
-- next visit, acknowledged by the client) and secret calendar feed tokens.
--
-- Not end-to-end encrypted, by design (docs/SECURITY.md): the server must
-- know a meeting's time and place to remind people and to serve calendar
-- feeds, and the manager's audit needs the states. Reasons and places are
-- short texts that members choose knowing the server stores them.

-- Default windows, from the programme's dates: initial in the first two
-- weeks, mid-term a week either side of the midpoint, final in the last two weeks.
ALTER TABLE programmes
    ADD COLUMN initial_days integer NOT NULL DEFAULT 14 CHECK (initial_days BETWEEN 1 AND 366),
    ADD COLUMN midterm_days integer NOT NULL DEFAULT 7 CHECK (midterm_days BETWEEN 0 AND 183),
    ADD COLUMN final_days   integer NOT NULL DEFAULT 14 CHECK (final_days BETWEEN 1 AND 366);

CREATE TABLE checkpoints (
    id         bigserial PRIMARY KEY,
    room_id    bigint NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN ('initial', 'midterm', 'final')),
    opens_on   date NOT NULL,
    closes_on  date NOT NULL,
    window_set boolean NOT NULL DEFAULT false, -- adjusted for this room: programme changes skip it
    state      text NOT NULL DEFAULT 'open'
               CHECK (state IN ('open', 'confirmed', 'held', 'missed', 'cancelled')),
    slot_id    bigint,                         -- the last confirmed slot (kept while rescheduling)
    sequence   integer NOT NULL DEFAULT 0,     -- iCalendar SEQUENCE: +1 on every change
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (room_id, kind),
    CHECK (closes_on >= opens_on)
);

CREATE TABLE checkpoint_slots (
    id            bigserial PRIMARY KEY,
    checkpoint_id bigint NOT NULL REFERENCES checkpoints (id) ON DELETE CASCADE,
    proposed_by   bigint REFERENCES users (id) ON DELETE SET NULL,
    starts_at     timestamptz NOT NULL,
    minutes       integer NOT NULL CHECK (minutes BETWEEN 5 AND 600),
    place         text NOT NULL,
    created_at    timestamptz NOT NULL,
    withdrawn_at  timestamptz            -- superseded by a reschedule or a cancellation
);
CREATE INDEX checkpoint_slots_checkpoint ON checkpoint_slots (checkpoint_id);

ALTER TABLE checkpoints ADD FOREIGN KEY (slot_id) REFERENCES checkpoint_slots (id);

CREATE TABLE slot_answers (
    slot_id     bigint NOT NULL REFERENCES checkpoint_slots (id) ON DELETE CASCADE,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    accepted    boolean NOT NULL,
    answered_at timestamptz NOT NULL,
    PRIMARY KEY (slot_id, user_id)
);

-- Everything that happened to a checkpoint, for the room and the manager's audit.
CREATE TABLE checkpoint_events (
    id            bigserial PRIMARY KEY,
    checkpoint_id bigint NOT NULL REFERENCES checkpoints (id) ON DELETE CASCADE,
    actor_id      bigint REFERENCES users (id) ON DELETE SET NULL,
    kind          text NOT NULL CHECK (kind IN ('proposed', 'confirmed', 'rescheduled',
                  'cancelled', 'absent', 'recorded', 'attended', 'window')),
    reason        text,
    late          boolean NOT NULL DEFAULT false, -- a mentor's change < 48 h before the meeting
    at            timestamptz NOT NULL
);
CREATE INDEX checkpoint_events_checkpoint ON checkpoint_events (checkpoint_id);

-- held/missed is on the checkpoint; who was there is here. `attended` is what
-- the recorder (mentor, or manager for the mid-term) said; `confirmed` is the
-- participant's own word about themselves.
CREATE TABLE attendance (
    checkpoint_id bigint NOT NULL REFERENCES checkpoints (id) ON DELETE CASCADE,
    user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    attended      boolean,
    recorded_by   bigint REFERENCES users (id) ON DELETE SET NULL,
    confirmed     boolean,
    PRIMARY KEY (checkpoint_id, user_id)
);

-- Reminders are rows, so a restart loses none; sent_at is set in the same
-- transaction that creates the notice, so none is sent twice.
CREATE TABLE reminders (
    id            bigserial PRIMARY KEY,
    checkpoint_id bigint NOT NULL REFERENCES checkpoints (id) ON DELETE CASCADE,
    slot_id       bigint NOT NULL REFERENCES checkpoint_slots (id) ON DELETE CASCADE,
    user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    lead_minutes  integer NOT NULL,
    due_at        timestamptz NOT NULL,
    sent_at       timestamptz,
    UNIQUE (slot_id, user_id, lead_minutes)
);
CREATE INDEX reminders_due ON reminders (due_at) WHERE sent_at IS NULL;

-- Notices for one user: pushed at once to their connections, and listed until
-- the client acknowledges them (so an offline user gets them at the next visit).
CREATE TABLE notices (
    id         bigserial PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       text NOT NULL,
    data       jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    acked_at   timestamptz
);
CREATE INDEX notices_pending ON notices (user_id, id) WHERE acked_at IS NULL;

-- Secret calendar feed URLs: only a hash of the token is kept.
CREATE TABLE calendar_feeds (
    user_id    bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    token_hash bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The windows of a programme's checkpoints.
CREATE FUNCTION checkpoint_window(p programmes, k text, OUT opens date, OUT closes date) AS $$
    SELECT CASE k WHEN 'initial' THEN p.starts_on
                  WHEN 'final' THEN GREATEST(p.starts_on, p.ends_on - p.final_days)
                  ELSE GREATEST(p.starts_on, p.starts_on + (p.ends_on - p.starts_on) / 2
                                             - p.midterm_days) END,
           CASE k WHEN 'initial' THEN LEAST(p.ends_on, p.starts_on + p.initial_days)
                  WHEN 'final' THEN p.ends_on
                  ELSE LEAST(p.ends_on, p.starts_on + (p.ends_on - p.starts_on) / 2
                                        + p.midterm_days) END
$$ LANGUAGE sql IMMUTABLE;

-- Every room gets its three checkpoints when it is created.
CREATE FUNCTION rooms_add_checkpoints() RETURNS trigger AS $$
BEGIN
    INSERT INTO checkpoints (room_id, kind, opens_on, closes_on)
    SELECT NEW.id, k, w.opens, w.closes
    FROM programmes p, unnest(ARRAY['initial', 'midterm', 'final']) AS k,
         LATERAL checkpoint_window(p, k) AS w
    WHERE p.id = NEW.programme_id;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER rooms_checkpoints AFTER INSERT ON rooms
    FOR EACH ROW EXECUTE FUNCTION rooms_add_checkpoints();

-- Rooms that exist already.
INSERT INTO checkpoints (room_id, kind, opens_on, closes_on)
SELECT r.id, k, w.opens, w.closes
FROM rooms r JOIN programmes p ON p.id = r.programme_id,
     unnest(ARRAY['initial', 'midterm', 'final']) AS k, LATERAL checkpoint_window(p, k) AS w;

-- A checkpoint's participants: the room's current members (required), and for
-- the mid-term the programme's managers (one of them must accept).
CREATE FUNCTION checkpoint_participants(cid bigint)
RETURNS TABLE (user_id bigint, username text, role text, required boolean) AS $$
    SELECT u.id, u.username, m.role, true
    FROM checkpoints c JOIN room_members m ON m.room_id = c.room_id AND m.removed_at IS NULL
    JOIN users u ON u.id = m.user_id WHERE c.id = cid
    UNION ALL
    SELECT u.id, u.username, 'manager', false
    FROM checkpoints c JOIN rooms r ON r.id = c.room_id
    JOIN programme_people pp ON pp.programme_id = r.programme_id AND pp.role = 'manager'
    JOIN users u ON u.id = pp.user_id WHERE c.id = cid AND c.kind = 'midterm'
$$ LANGUAGE sql STABLE;

CREATE FUNCTION utc_text(t timestamptz) RETURNS text AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$ LANGUAGE sql STABLE;

CREATE FUNCTION slot_doc(s checkpoint_slots) RETURNS jsonb AS $$
    SELECT jsonb_build_object(
        'id', s.id, 'starts_at', utc_text(s.starts_at),
        'ends_at', utc_text(s.starts_at + make_interval(mins => s.minutes)),
        'minutes', s.minutes, 'place', s.place,
        'proposed_by', (SELECT username FROM users WHERE id = s.proposed_by),
        'answers', COALESCE((SELECT jsonb_object_agg(u.username, a.accepted)
                             FROM slot_answers a JOIN users u ON u.id = a.user_id
                             WHERE a.slot_id = s.id), '{}'::jsonb))
$$ LANGUAGE sql STABLE;

-- The protocol's Checkpoint object (docs/PROTOCOL.md section 6.2), as seen at `at`.
CREATE FUNCTION checkpoint_doc(cid bigint, at timestamptz) RETURNS jsonb AS $$
    SELECT jsonb_build_object(
        'id', c.id, 'room_id', c.room_id, 'room_name', r.name, 'programme_id', r.programme_id,
        'kind', c.kind, 'opens_on', c.opens_on::text, 'closes_on', c.closes_on::text,
        'state', c.state, 'sequence', c.sequence, 'manager_required', c.kind = 'midterm',
        'participants', COALESCE((SELECT jsonb_agg(jsonb_build_object('username', p.username,
                                  'role', p.role, 'required', p.required)
                                  ORDER BY array_position(ARRAY['mentor', 'mentee', 'manager'],
                                  p.role), p.username) FROM checkpoint_participants(c.id) p),
                                 '[]'::jsonb),
        'slots', COALESCE((SELECT jsonb_agg(slot_doc(s) ORDER BY s.starts_at, s.id)
                           FROM checkpoint_slots s WHERE s.checkpoint_id = c.id
                           AND s.withdrawn_at IS NULL AND c.state = 'open'), '[]'::jsonb),
        'confirmed_slot', (SELECT slot_doc(s) FROM checkpoint_slots s WHERE s.id = c.slot_id),
        'late_changes', (SELECT count(*) FROM checkpoint_events e
                         WHERE e.checkpoint_id = c.id AND e.late),
        'absences', COALESCE((SELECT jsonb_agg(jsonb_build_object('username', u.username,
                              'reason', e.reason, 'at', utc_text(e.at)) ORDER BY e.id)
                              FROM checkpoint_events e LEFT JOIN users u ON u.id = e.actor_id
                              WHERE e.checkpoint_id = c.id AND e.kind = 'absent'), '[]'::jsonb),
        'attendance', COALESCE((SELECT jsonb_agg(jsonb_build_object('username', u.username,
                                'attended', a.attended, 'confirmed', a.confirmed)
                                ORDER BY u.username)
                                FROM attendance a JOIN users u ON u.id = a.user_id
                                WHERE a.checkpoint_id = c.id), '[]'::jsonb),
        'flags', to_jsonb(array_remove(ARRAY[
            CASE WHEN c.state = 'confirmed' AND cs.starts_at + make_interval(mins => cs.minutes)
                      < at THEN 'unrecorded' END,
            CASE WHEN c.state IN ('open', 'cancelled') AND c.closes_on < (at AT TIME ZONE 'UTC')::date
                 THEN 'overdue' END,
            CASE WHEN EXISTS (SELECT 1 FROM checkpoint_events e WHERE e.checkpoint_id = c.id
                              AND e.late) THEN 'late_change' END], NULL)),
        'overlaps', COALESCE((
            SELECT jsonb_agg(jsonb_build_object('username', p.username, 'checkpoint_id', c2.id)
                             ORDER BY p.username, c2.id)
            FROM checkpoint_participants(c.id) p
            JOIN checkpoints c2 ON c2.id <> c.id AND c2.state = 'confirmed'
            JOIN checkpoint_slots s2 ON s2.id = c2.slot_id
            WHERE c.state = 'confirmed'
              AND EXISTS (SELECT 1 FROM checkpoint_participants(c2.id) p2
                          WHERE p2.user_id = p.user_id)
              AND tstzrange(cs.starts_at, cs.starts_at + make_interval(mins => cs.minutes))
                  && tstzrange(s2.starts_at, s2.starts_at + make_interval(mins => s2.minutes))),
            '[]'::jsonb))
    FROM checkpoints c JOIN rooms r ON r.id = c.room_id
    LEFT JOIN checkpoint_slots cs ON cs.id = c.slot_id
    WHERE c.id = cid
$$ LANGUAGE sql STABLE;

-- Notices about a checkpoint to every participant but the actor; returns them
-- (id, user, the Notice object) for the server to push at once.
CREATE FUNCTION checkpoint_notify(cid bigint, actor bigint, nkind text, extra jsonb,
                                  at timestamptz)
RETURNS TABLE (id bigint, user_id bigint, doc text) AS $$
    WITH ins AS (
        INSERT INTO notices (user_id, kind, data, created_at)
        SELECT p.user_id, nkind, jsonb_build_object(
                   'kind', nkind, 'at', utc_text(at), 'checkpoint_id', c.id,
                   'room_id', c.room_id, 'checkpoint_kind', c.kind,
                   'by', (SELECT username FROM users WHERE users.id = actor)) || extra, at
        FROM checkpoint_participants(cid) p, checkpoints c
        WHERE c.id = cid AND p.user_id IS DISTINCT FROM actor
        RETURNING notices.id, notices.user_id, notices.data)
    SELECT ins.id, ins.user_id, (ins.data || jsonb_build_object('id', ins.id))::text FROM ins
$$ LANGUAGE sql;
