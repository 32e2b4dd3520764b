-- 005: the programme manager's engagement audit (docs/PROTOCOL.md section 8).
--
-- Rollups, kept up to date incrementally (stats_rollup: every scheduler tick
-- and before each report) from the envelope of each message, never its
-- content: per member and week counts, last activity, response times at each
-- change of speaker between mentor and mentees, and read delays (a trigger on
-- receipts). The report is built only from the audit_* views below, which
-- have no ciphertext, nonce, signature, key or free-text column; the report
-- runs as the role ementor_audit, which may read nothing else.

CREATE TABLE room_stats (
    room_id    bigint PRIMARY KEY REFERENCES rooms (id) ON DELETE CASCADE,
    seq        bigint NOT NULL DEFAULT 0,      -- messages up to here are rolled up
    run_role   text,                            -- who spoke last: mentor or mentee
    run_start  timestamptz,                     -- when that run of messages began
    run_sender bigint
);

CREATE TABLE member_stats (
    room_id  bigint NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id  bigint NOT NULL,
    messages bigint NOT NULL,
    bytes    bigint NOT NULL,
    first_at timestamptz NOT NULL,
    last_at  timestamptz NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

-- Durations are kept as histograms with 5 % wide buckets (bucket 0: under a
-- second; bucket b >= 1: [1.05^(b-1), 1.05^b) seconds), so a percentile of any
-- room or programme is read from a few hundred rows whatever the traffic, to
-- within 2.5 %.
CREATE FUNCTION hist_bucket(seconds double precision) RETURNS smallint AS $$
    SELECT CASE WHEN seconds < 1 THEN 0
                ELSE LEAST(32000, 1 + floor(ln(seconds) / ln(1.05)))::smallint END
$$ LANGUAGE sql IMMUTABLE;

-- The value reported for a bucket: the geometric middle of its bounds.
CREATE FUNCTION hist_value(bucket smallint) RETURNS double precision AS $$
    SELECT CASE WHEN bucket = 0 THEN 0 ELSE power(1.05, bucket - 1) * sqrt(1.05) END
$$ LANGUAGE sql IMMUTABLE;

-- Response times: at each change of speaker, the first message of the new
-- run answers the run before it (time since that run's first message).
CREATE TABLE response_hist (
    room_id        bigint NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    responder_role text NOT NULL CHECK (responder_role IN ('mentor', 'mentee')),
    bucket         smallint NOT NULL,
    n              integer NOT NULL,
    PRIMARY KEY (room_id, responder_role, bucket)
);

-- Time until read: per receipt that moves a reader past someone else's
-- messages, how long the oldest newly read one had waited.
CREATE TABLE read_hist (
    room_id bigint NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    bucket  smallint NOT NULL,
    n       integer NOT NULL,
    PRIMARY KEY (room_id, bucket)
);

CREATE FUNCTION receipts_read_delay() RETURNS trigger AS $$
DECLARE
    old_seq bigint := 0;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        old_seq := OLD.read_seq;
    END IF;
    IF NEW.read_seq > old_seq THEN
        INSERT INTO read_hist (room_id, bucket, n)
        SELECT NEW.room_id, hist_bucket(extract(epoch FROM now() - m.created_at)), 1
        FROM messages m WHERE m.room_id = NEW.room_id AND m.seq > old_seq
          AND m.seq <= NEW.read_seq AND m.sender_id <> NEW.user_id
          AND m.created_at >= (SELECT max(added_at) FROM room_members
                               WHERE room_id = NEW.room_id AND user_id = NEW.user_id)
        ORDER BY m.seq LIMIT 1
        ON CONFLICT (room_id, bucket) DO UPDATE SET n = read_hist.n + 1;
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER receipts_read_delay AFTER INSERT OR UPDATE OF read_seq ON receipts
    FOR EACH ROW EXECUTE FUNCTION receipts_read_delay();

-- Thresholds of the flags, per programme (PROTOCOL.md: audit.thresholds).
ALTER TABLE programmes
    ADD COLUMN flag_inactive_days integer NOT NULL DEFAULT 14
        CHECK (flag_inactive_days BETWEEN 1 AND 365),
    ADD COLUMN flag_unsigned_days integer NOT NULL DEFAULT 0
        CHECK (flag_unsigned_days BETWEEN 0 AND 365),
    ADD COLUMN flag_never_logged_in_days integer NOT NULL DEFAULT 7
        CHECK (flag_never_logged_in_days BETWEEN 0 AND 365);

-- Who looked at what: one row per room a report covered (every room of the
-- programme for a programme report, whatever page of rooms was returned: the
-- summary covers them all).
CREATE TABLE audit_access (
    id           bigserial PRIMARY KEY,
    viewer_id    bigint NOT NULL REFERENCES users (id),
    programme_id bigint NOT NULL REFERENCES programmes (id) ON DELETE CASCADE,
    room_id      bigint REFERENCES rooms (id) ON DELETE CASCADE,   -- NULL: programme summary
    scope        text NOT NULL CHECK (scope IN ('programme', 'room')),
    format       text NOT NULL,
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_access_room ON audit_access (room_id, id);
CREATE INDEX audit_access_programme ON audit_access (programme_id, id);

-- Rolls up the new messages of one room (at most `lim`). Returns how many.
CREATE FUNCTION stats_rollup_room(rid bigint, lim integer, wait boolean) RETURNS integer AS $$
DECLARE
    st room_stats;
    n  integer;
BEGIN
    INSERT INTO room_stats (room_id) VALUES (rid) ON CONFLICT DO NOTHING;
    IF wait THEN
        SELECT * INTO st FROM room_stats WHERE room_id = rid FOR UPDATE;
    ELSE
        SELECT * INTO st FROM room_stats WHERE room_id = rid FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            RETURN 0;                               -- another worker is on it
        END IF;
    END IF;
    WITH roles AS (                                 -- each sender's (latest) role here
        SELECT DISTINCT ON (user_id) user_id, role FROM room_members
        WHERE room_id = rid ORDER BY user_id, id DESC),
    new AS MATERIALIZED (
        SELECT m.seq, m.sender_id, m.created_at, length(m.ciphertext) AS bytes,
               COALESCE(r.role, 'mentee') AS role
        FROM messages m LEFT JOIN roles r ON r.user_id = m.sender_id
        WHERE m.room_id = rid AND m.seq > st.seq ORDER BY m.seq LIMIT lim),
    act AS (
        INSERT INTO room_activity (room_id, user_id, week, messages, bytes)
        SELECT rid, sender_id, date_trunc('week', created_at)::date, count(*), sum(bytes)
        FROM new GROUP BY 2, 3
        ON CONFLICT (room_id, user_id, week) DO UPDATE
            SET messages = room_activity.messages + EXCLUDED.messages,
                bytes = room_activity.bytes + EXCLUDED.bytes),
    mem AS (
        INSERT INTO member_stats (room_id, user_id, messages, bytes, first_at, last_at)
        SELECT rid, sender_id, count(*), sum(bytes), min(created_at), max(created_at)
        FROM new GROUP BY sender_id
        ON CONFLICT (room_id, user_id) DO UPDATE
            SET messages = member_stats.messages + EXCLUDED.messages,
                bytes = member_stats.bytes + EXCLUDED.bytes,
                last_at = GREATEST(member_stats.last_at, EXCLUDED.last_at)),
    -- runs of one side; the run in progress (carried over) first
    base AS (
        SELECT st.seq AS seq, st.run_sender AS sender_id, st.run_start AS created_at,
               st.run_role AS role WHERE st.run_role IS NOT NULL
        UNION ALL
        SELECT seq, sender_id, created_at, role FROM new),
    marks AS (
        SELECT *, CASE WHEN lag(role) OVER (ORDER BY seq) IS DISTINCT FROM role
                       THEN 1 ELSE 0 END AS change FROM base),
    runs AS (SELECT *, sum(change) OVER (ORDER BY seq) AS run FROM marks),
    starts AS (
        SELECT run, min(created_at) AS start_at, min(role) AS role,
               (array_agg(sender_id ORDER BY seq))[1] AS first_sender
        FROM runs GROUP BY run),
    resp AS (
        INSERT INTO response_hist (room_id, responder_role, bucket, n)
        SELECT rid, s.role, hist_bucket(extract(epoch FROM s.start_at - p.start_at)), count(*)
        FROM starts s JOIN starts p ON p.run = s.run - 1 GROUP BY 2, 3
        ON CONFLICT (room_id, responder_role, bucket) DO UPDATE
            SET n = response_hist.n + EXCLUDED.n)
    UPDATE room_stats SET seq = (SELECT max(seq) FROM new),
        run_role = l.role, run_start = l.start_at, run_sender = l.first_sender
    FROM (SELECT * FROM starts ORDER BY run DESC LIMIT 1) l
    WHERE room_stats.room_id = rid AND EXISTS (SELECT 1 FROM new)
    RETURNING (SELECT count(*) FROM new) INTO n;
    RETURN COALESCE(n, 0);
END
$$ LANGUAGE plpgsql;

-- Rolls up every room with new messages (of one programme, or all when pid
-- is NULL), up to `lim` messages per room per call. Returns the total.
CREATE FUNCTION stats_rollup(pid bigint, lim integer) RETURNS bigint AS $$
    SELECT COALESCE(sum(stats_rollup_room(r.id, lim, false)), 0)
    FROM rooms r LEFT JOIN room_stats s ON s.room_id = r.id
    WHERE (pid IS NULL OR r.programme_id = pid) AND r.last_seq > COALESCE(s.seq, 0)
$$ LANGUAGE sql;

-- The background rollup: a little at a time, so it never takes a burst of
-- the database's time from the message writer. Rooms furthest behind first;
-- stops once about `budget` messages are done. Returns how many.
CREATE FUNCTION stats_rollup_some(budget integer) RETURNS bigint AS $$
DECLARE
    rid  bigint;
    done bigint := 0;
BEGIN
    FOR rid IN SELECT r.id FROM rooms r LEFT JOIN room_stats s ON s.room_id = r.id
               WHERE r.last_seq > COALESCE(s.seq, 0)
               ORDER BY r.last_seq - COALESCE(s.seq, 0) DESC LIMIT 1000 LOOP
        EXIT WHEN done >= budget;
        done := done + stats_rollup_room(rid, GREATEST(100, budget - done)::integer, false);
    END LOOP;
    RETURN done;
END
$$ LANGUAGE plpgsql;

-- Retention (PROTOCOL.md 7.4): programmes whose end plus retention_days is
-- before `today` lose their ciphertext and key envelopes, after every message
-- is rolled up (waiting for a rollup in progress rather than skipping it);
-- their rooms are closed first, so nothing new arrives meanwhile or after.
-- One transaction for the programmes due. Returns the ids purged.
CREATE FUNCTION retention_purge(today date) RETURNS SETOF bigint AS $$
DECLARE
    pid bigint;
    rid bigint;
BEGIN
    FOR pid IN SELECT id FROM programmes
               WHERE purged_at IS NULL AND ends_on + retention_days < today
               ORDER BY id FOR UPDATE SKIP LOCKED LOOP
        UPDATE rooms SET closed = true WHERE id IN (
            SELECT id FROM rooms WHERE programme_id = pid ORDER BY id FOR UPDATE);
        FOR rid IN SELECT id FROM rooms WHERE programme_id = pid ORDER BY id LOOP
            WHILE stats_rollup_room(rid, 100000, true) > 0 LOOP
            END LOOP;
        END LOOP;
        DELETE FROM messages WHERE room_id IN (SELECT id FROM rooms WHERE programme_id = pid);
        DELETE FROM key_envelopes
            WHERE room_id IN (SELECT id FROM rooms WHERE programme_id = pid);
        UPDATE programmes SET purged_at = now() WHERE id = pid;
        RETURN NEXT pid;
    END LOOP;
END
$$ LANGUAGE plpgsql;

-- ---- the views the audit may read (nothing else) ------------------------------

CREATE VIEW audit_programmes AS
    SELECT id AS programme_id, name, starts_on, ends_on, agreement_required, retention_days,
           purged_at, flag_inactive_days, flag_unsigned_days, flag_never_logged_in_days
    FROM programmes;

CREATE VIEW audit_rooms AS
    SELECT id AS room_id, programme_id, kind, name, created_at FROM rooms;

CREATE VIEW audit_members AS
    SELECT m.room_id, m.user_id, m.role, m.added_at, m.removed_at, m.roster,
           u.username, u.display_name, u.created_at AS registered_at, u.last_login_at,
           u.erased_at
    FROM room_members m JOIN users u ON u.id = m.user_id;

CREATE VIEW audit_member_stats AS
    SELECT room_id, user_id, messages, bytes, first_at, last_at FROM member_stats;

CREATE VIEW audit_weekly AS
    SELECT room_id, user_id, week, messages FROM room_activity;

CREATE VIEW audit_response_hist AS
    SELECT room_id, responder_role, bucket, n FROM response_hist;

CREATE VIEW audit_read_hist AS
    SELECT room_id, bucket, n FROM read_hist;

CREATE VIEW audit_agreement_parties AS
    SELECT v.room_id, v.version, v.created_at, v.activated_at, p.user_id, p.role,
           p.signature IS NOT NULL AS signed, p.signed_at, p.withdrawn_at
    FROM agreement_versions v JOIN agreement_parties p ON p.version_id = v.id;

CREATE VIEW audit_consents AS
    SELECT DISTINCT ON (user_id, purpose, subject) user_id, purpose, subject, action,
           to_timestamp(recorded_us / 1e6) AS at
    FROM consent_ledger ORDER BY user_id, purpose, subject, seq DESC;

CREATE VIEW audit_checkpoints AS
    SELECT c.id AS checkpoint_id, c.room_id, c.kind, c.state, c.opens_on, c.closes_on,
           s.starts_at, s.starts_at + make_interval(mins => s.minutes) AS ends_at,
           (SELECT count(*) FROM checkpoint_events e
             WHERE e.checkpoint_id = c.id AND e.late) AS late_changes
    FROM checkpoints c LEFT JOIN checkpoint_slots s ON s.id = c.slot_id;

CREATE VIEW audit_attendance AS
    SELECT checkpoint_id, user_id, attended, confirmed FROM attendance;

CREATE VIEW audit_access_log AS
    SELECT a.id, a.viewer_id, u.username AS viewer, a.programme_id, a.room_id, a.scope,
           a.format, a.at
    FROM audit_access a JOIN users u ON u.id = a.viewer_id;

-- The role the report runs as: it may read the views above and nothing else.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ementor_audit') THEN
        CREATE ROLE ementor_audit NOLOGIN;
    END IF;
    EXECUTE format('GRANT ementor_audit TO %I', current_user);
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'cannot create role ementor_audit: the audit runs without its own role';
END
$$;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ementor_audit') THEN
        GRANT SELECT ON audit_programmes, audit_rooms, audit_members, audit_member_stats,
            audit_weekly, audit_response_hist, audit_read_hist, audit_agreement_parties,
            audit_consents, audit_checkpoints, audit_attendance, audit_access_log
            TO ementor_audit;
    END IF;
END
$$;

-- The report (PROTOCOL.md 8): one programme, optionally one room, at `now`.
-- Reads only the audit_* views; runs as ementor_audit. Set-based: every
-- per-room piece is grouped by room once and joined, so the cost grows with
-- the rows of the rollups, not with rooms x rows.
CREATE FUNCTION audit_report(pid bigint, rid bigint, now timestamptz, off integer, lim integer)
RETURNS jsonb AS $$
WITH prog AS MATERIALIZED (SELECT * FROM audit_programmes WHERE programme_id = pid),
rooms AS MATERIALIZED (SELECT r.* FROM audit_rooms r WHERE r.programme_id = pid
                       AND (rid IS NULL OR r.room_id = rid)),
members AS MATERIALIZED (SELECT m.* FROM audit_members m
                         WHERE m.room_id IN (SELECT room_id FROM rooms) AND m.removed_at IS NULL),
mstats AS MATERIALIZED (SELECT s.* FROM audit_member_stats s
                        WHERE s.room_id IN (SELECT room_id FROM rooms)),
last_week AS (SELECT w.room_id, w.user_id, w.messages FROM audit_weekly w
              WHERE w.room_id IN (SELECT room_id FROM rooms)
                AND w.week = date_trunc('week', now)::date - 7),
-- percentiles from the histograms: the first bucket whose running count reaches p of the total
resp_cum AS (SELECT h.room_id, h.responder_role, h.bucket,
                    sum(h.n) OVER (PARTITION BY h.room_id, h.responder_role ORDER BY h.bucket) AS cum,
                    sum(h.n) OVER (PARTITION BY h.room_id, h.responder_role) AS total
             FROM audit_response_hist h WHERE h.room_id IN (SELECT room_id FROM rooms)),
resp AS (SELECT room_id, responder_role,
                jsonb_build_object(
                    'median_s', round(hist_value(min(bucket) FILTER (WHERE cum >= 0.5 * total))),
                    'p90_s', round(hist_value(min(bucket) FILTER (WHERE cum >= 0.9 * total))),
                    'n', max(total)) AS doc
         FROM resp_cum GROUP BY room_id, responder_role),
reads AS (SELECT room_id, round(hist_value(min(bucket) FILTER (WHERE cum >= 0.5 * total))) AS p50
          FROM (SELECT h.room_id, h.bucket,
                       sum(h.n) OVER (PARTITION BY h.room_id ORDER BY h.bucket) AS cum,
                       sum(h.n) OVER (PARTITION BY h.room_id) AS total
                FROM audit_read_hist h WHERE h.room_id IN (SELECT room_id FROM rooms)) x
          GROUP BY room_id),
prog_resp AS (SELECT round(hist_value(min(bucket) FILTER (WHERE cum >= 0.5 * total))) AS p50
              FROM (SELECT bucket, sum(n) OVER (ORDER BY bucket) AS cum, sum(n) OVER () AS total
                    FROM (SELECT bucket, sum(n) AS n FROM audit_response_hist
                          WHERE room_id IN (SELECT room_id FROM rooms) GROUP BY bucket) b) x),
versions AS MATERIALIZED (
    SELECT a.* FROM audit_agreement_parties a WHERE a.room_id IN (SELECT room_id FROM rooms)),
active_v AS (SELECT room_id, max(version) AS version FROM versions
             WHERE activated_at IS NOT NULL GROUP BY room_id),
latest_v AS (SELECT room_id, max(version) AS version FROM versions GROUP BY room_id),
parties AS MATERIALIZED (SELECT a.* FROM versions a JOIN latest_v l
                         ON l.room_id = a.room_id AND l.version = a.version),
consents AS MATERIALIZED (SELECT c.* FROM audit_consents c
                          WHERE c.user_id IN (SELECT user_id FROM members)),
member_consents AS (
    SELECT m.room_id, m.user_id, jsonb_object_agg(c.purpose || ':' || c.subject, c.action) AS doc
    FROM members m JOIN consents c ON c.user_id = m.user_id
    WHERE (c.purpose <> 'agreement' OR c.subject = 'room:' || m.room_id)
      AND (c.purpose <> 'share_progress' OR c.subject = 'programme:' || pid)
    GROUP BY m.room_id, m.user_id),
withdrawn AS (SELECT m.room_id, m.user_id, m.username FROM members m JOIN consents c
              ON c.user_id = m.user_id AND c.purpose = 'agreement'
             AND c.subject = 'room:' || m.room_id AND c.action = 'withdraw'),
cps AS MATERIALIZED (SELECT c.* FROM audit_checkpoints c WHERE c.room_id IN (SELECT room_id FROM rooms)),
attendance AS (SELECT a.checkpoint_id, jsonb_agg(jsonb_build_object(
                   'user_id', a.user_id, 'attended', a.attended, 'confirmed', a.confirmed)
                   ORDER BY a.user_id) AS doc
               FROM audit_attendance a WHERE a.checkpoint_id IN (SELECT checkpoint_id FROM cps)
               GROUP BY a.checkpoint_id),
room_last AS MATERIALIZED (
    SELECT r.room_id, GREATEST(r.created_at, max(s.last_at)) AS last_at,
           COALESCE(sum(s.messages), 0) AS messages
    FROM rooms r LEFT JOIN mstats s USING (room_id) GROUP BY r.room_id, r.created_at),
member_docs AS (
    SELECT m.room_id, jsonb_agg(jsonb_build_object(
        'user_id', m.user_id, 'username', m.username, 'display_name', m.display_name,
        'role', m.role, 'added_at', utc_text(m.added_at), 'on_roster', m.roster,
        'messages', COALESCE(s.messages, 0), 'last_sent_at', utc_text(s.last_at),
        'days_inactive', floor(extract(epoch FROM now - COALESCE(s.last_at, m.added_at)) / 86400),
        'messages_last_week', COALESCE(lw.messages, 0),
        'messages_per_week', round(COALESCE(s.messages, 0) / GREATEST(1, extract(epoch FROM
            LEAST(now, prog.ends_on::timestamptz) -
            GREATEST(m.added_at, prog.starts_on::timestamptz)) / 604800.0)::numeric, 1),
        'last_login_at', utc_text(m.last_login_at),
        'never_logged_in', m.last_login_at IS NULL,
        'agreement', CASE WHEN p.user_id IS NULL THEN NULL
                          WHEN p.withdrawn_at IS NOT NULL THEN 'withdrawn'
                          WHEN p.signed THEN 'signed' ELSE 'unsigned' END,
        'consents', COALESCE(mc.doc, '{}'::jsonb))
        ORDER BY m.role = 'mentor' DESC, m.username) AS doc
    FROM members m CROSS JOIN prog
    LEFT JOIN mstats s ON s.room_id = m.room_id AND s.user_id = m.user_id
    LEFT JOIN last_week lw ON lw.room_id = m.room_id AND lw.user_id = m.user_id
    LEFT JOIN parties p ON p.room_id = m.room_id AND p.user_id = m.user_id
    LEFT JOIN member_consents mc ON mc.room_id = m.room_id AND mc.user_id = m.user_id
    GROUP BY m.room_id),
flags AS MATERIALIZED (
    SELECT rl.room_id, 'inactive' AS code,
           format('no message for %s days', floor(extract(epoch FROM now - rl.last_at) / 86400)) AS detail
    FROM room_last rl, prog
    WHERE now - rl.last_at >= make_interval(days => prog.flag_inactive_days)
    UNION ALL
    SELECT m.room_id, 'agreement_unsigned', format('%s has not signed the room''s agreement', m.username)
    FROM members m JOIN cps ic ON ic.room_id = m.room_id AND ic.kind = 'initial', prog
    WHERE prog.agreement_required AND NOT m.roster
      AND (ic.state IN ('held', 'missed') OR now::date > ic.closes_on + prog.flag_unsigned_days)
      AND NOT EXISTS (SELECT 1 FROM withdrawn w WHERE w.room_id = m.room_id AND w.user_id = m.user_id)
    UNION ALL
    SELECT c.room_id, 'midterm_overdue', format('mid-term window closed on %s', c.closes_on)
    FROM cps c WHERE c.kind = 'midterm' AND c.state IN ('open', 'confirmed', 'cancelled')
      AND c.closes_on < now::date AND (c.ends_at IS NULL OR c.ends_at > now)
    UNION ALL
    SELECT c.room_id, 'missed_meeting', format('the %s meeting was missed', c.kind)
    FROM cps c WHERE c.state = 'missed'
    UNION ALL
    SELECT c.room_id, 'unrecorded_meeting',
           format('the %s meeting (%s) is not recorded', c.kind, utc_text(c.starts_at))
    FROM cps c WHERE c.state = 'confirmed' AND c.ends_at < now
    UNION ALL
    SELECT c.room_id, 'late_change', format('%s late change(s) to the %s meeting', c.late_changes, c.kind)
    FROM cps c WHERE c.late_changes > 0
    UNION ALL
    SELECT w.room_id, 'consent_withdrawn', format('%s withdrew their agreement consent', w.username)
    FROM withdrawn w
    UNION ALL
    SELECT m.room_id, 'never_logged_in', format('%s has never logged in', m.username)
    FROM members m, prog
    WHERE m.last_login_at IS NULL AND m.erased_at IS NULL
      AND now - m.registered_at >= make_interval(days => prog.flag_never_logged_in_days)),
room_flags AS (SELECT room_id, jsonb_agg(jsonb_build_object('code', code, 'detail', detail)
                                         ORDER BY code, detail) AS doc
               FROM flags GROUP BY room_id),
room_cps AS (SELECT c.room_id, jsonb_agg(jsonb_build_object(
                 'kind', c.kind, 'state', c.state, 'opens_on', c.opens_on,
                 'closes_on', c.closes_on, 'starts_at', utc_text(c.starts_at),
                 'late_changes', c.late_changes, 'attendance', COALESCE(a.doc, '[]'))
                 ORDER BY array_position(ARRAY['initial', 'midterm', 'final'], c.kind)) AS doc
             FROM cps c LEFT JOIN attendance a USING (checkpoint_id) GROUP BY c.room_id),
room_parties AS (SELECT p.room_id, jsonb_agg(jsonb_build_object(
                     'user_id', p.user_id, 'role', p.role, 'signed', p.signed,
                     'signed_at', utc_text(p.signed_at), 'withdrawn_at', utc_text(p.withdrawn_at))
                     ORDER BY p.user_id) AS doc
                 FROM parties p GROUP BY p.room_id),
room_docs AS MATERIALIZED (
    SELECT r.room_id,
           now - rl.last_at < make_interval(days => prog.flag_inactive_days) AS active,
           jsonb_build_object(
        'room_id', r.room_id, 'name', r.name, 'kind', r.kind,
        'messages', rl.messages, 'last_activity', utc_text(rl.last_at),
        'days_inactive', floor(extract(epoch FROM now - rl.last_at) / 86400),
        'active', now - rl.last_at < make_interval(days => prog.flag_inactive_days),
        'response', jsonb_build_object('mentor', rm.doc, 'mentee', re.doc),
        'read_median_s', rd.p50,
        'agreement', jsonb_build_object('active_version', av.version,
                                        'latest_version', lv.version,
                                        'parties', COALESCE(rp.doc, '[]')),
        'checkpoints', COALESCE(rc.doc, '[]'),
        'members', COALESCE(md.doc, '[]'),
        'flags', COALESCE(rf.doc, '[]')) AS doc
    FROM rooms r CROSS JOIN prog JOIN room_last rl USING (room_id)
    LEFT JOIN resp rm ON rm.room_id = r.room_id AND rm.responder_role = 'mentor'
    LEFT JOIN resp re ON re.room_id = r.room_id AND re.responder_role = 'mentee'
    LEFT JOIN reads rd ON rd.room_id = r.room_id
    LEFT JOIN active_v av ON av.room_id = r.room_id
    LEFT JOIN latest_v lv ON lv.room_id = r.room_id
    LEFT JOIN room_parties rp ON rp.room_id = r.room_id
    LEFT JOIN room_cps rc ON rc.room_id = r.room_id
    LEFT JOIN member_docs md ON md.room_id = r.room_id
    LEFT JOIN room_flags rf ON rf.room_id = r.room_id),
weeks AS (
    SELECT w.week, sum(w.messages) AS messages, count(DISTINCT w.room_id) AS active_rooms
    FROM audit_weekly w WHERE w.room_id IN (SELECT room_id FROM rooms) AND w.week <= now::date
    GROUP BY w.week)
SELECT jsonb_build_object(
    'programme', (SELECT jsonb_build_object('id', programme_id, 'name', name,
                  'starts_on', starts_on, 'ends_on', ends_on,
                  'agreement_required', agreement_required,
                  'thresholds', jsonb_build_object('inactive_days', flag_inactive_days,
                      'unsigned_days', flag_unsigned_days,
                      'never_logged_in_days', flag_never_logged_in_days)) FROM prog),
    'now', utc_text(now),
    'room_id', rid,
    'summary', jsonb_build_object(
        'rooms', (SELECT count(*) FROM rooms),
        'active_rooms', (SELECT count(*) FROM room_docs WHERE active),
        'active_share', (SELECT round(avg(CASE WHEN active THEN 1 ELSE 0 END), 2) FROM room_docs),
        'messages', (SELECT COALESCE(sum(messages), 0) FROM room_last),
        'checkpoints', (SELECT count(*) FROM cps),
        'checkpoints_held', (SELECT count(*) FROM cps WHERE state = 'held'),
        'checkpoint_completion', (SELECT round(avg(CASE WHEN state = 'held' THEN 1 ELSE 0 END), 2)
                                  FROM cps WHERE closes_on < now::date OR state IN ('held', 'missed')),
        'median_response_s', (SELECT p50 FROM prog_resp),
        'flags', (SELECT COALESCE(jsonb_object_agg(code, n), '{}') FROM
                  (SELECT code, count(DISTINCT room_id) AS n FROM flags GROUP BY code) x),
        'weeks', COALESCE((SELECT jsonb_agg(jsonb_build_object('week', week, 'messages', messages,
                                            'active_rooms', active_rooms) ORDER BY week)
                           FROM weeks), '[]')),
    'rooms_total', (SELECT count(*) FROM rooms),
    'offset', off,
    'rooms', COALESCE((SELECT jsonb_agg(doc ORDER BY room_id)
                       FROM (SELECT doc, room_id FROM room_docs ORDER BY room_id
                             OFFSET off LIMIT lim) page), '[]'))
$$ LANGUAGE sql STABLE;

-- A room's access trail, for its members (PROTOCOL.md: room.access_log).
CREATE FUNCTION audit_access_list(rid bigint) RETURNS jsonb AS $$
    SELECT COALESCE(jsonb_agg(jsonb_build_object('viewer', a.viewer, 'viewer_id', a.viewer_id,
                     'scope', a.scope, 'format', a.format, 'at', utc_text(a.at)) ORDER BY a.id DESC),
                    '[]')
    FROM (SELECT * FROM audit_access_log WHERE room_id = rid ORDER BY id DESC LIMIT 500) a
$$ LANGUAGE sql STABLE;
