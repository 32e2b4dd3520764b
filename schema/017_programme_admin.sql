-- 017: programme administration (PROTOCOL.md 4.3): a manager renames a
-- programme, moves its dates, ends it early and archives it; a room's members
-- or managers rename the room. Every change is a row of programme_changes, the
-- programme's trail (programme.history), with who, when, and the old and new
-- value (names and dates only: the server sees them anyway).
ALTER TABLE programmes ADD COLUMN ended_early_at timestamptz,
                       ADD COLUMN archived_at timestamptz;

CREATE TABLE programme_changes (
    id           bigserial PRIMARY KEY,
    programme_id bigint NOT NULL REFERENCES programmes (id) ON DELETE CASCADE,
    room_id      bigint REFERENCES rooms (id) ON DELETE CASCADE,
    user_id      bigint REFERENCES users (id) ON DELETE SET NULL,
    change       text NOT NULL CHECK (change IN ('name', 'starts_on', 'ends_on', 'ended',
                                                 'archived', 'room_name')),
    old_value    text,
    new_value    text,
    at           timestamptz NOT NULL DEFAULT ementor_now()
);
CREATE INDEX programme_changes_programme ON programme_changes (programme_id, id);

-- The windows of a programme's three checkpoints, again from its dates, for
-- every room, unless the checkpoint was held or missed already (a window a
-- manager set by hand is recomputed too: the dates moved under it).
CREATE FUNCTION programme_rewindow(pid bigint) RETURNS integer AS $$
    WITH w AS (
        SELECT c.id, win.opens, win.closes
        FROM checkpoints c JOIN rooms r ON r.id = c.room_id
        JOIN programmes p ON p.id = r.programme_id, LATERAL checkpoint_window(p, c.kind) win
        WHERE p.id = pid AND c.kind IN ('initial', 'midterm', 'final')
          AND c.state NOT IN ('held', 'missed')
          AND (c.opens_on, c.closes_on) IS DISTINCT FROM (win.opens, win.closes)),
    u AS (UPDATE checkpoints c SET opens_on = w.opens, closes_on = w.closes
          FROM w WHERE c.id = w.id RETURNING 1)
    SELECT count(*)::integer FROM u
$$ LANGUAGE sql;

-- Sessions with their ids, for the attendance counts below (009's view had
-- room and state only; a column added at the end keeps the view's grants).
CREATE OR REPLACE VIEW audit_sessions AS
    SELECT c.room_id, c.state, c.id AS checkpoint_id FROM checkpoints c WHERE c.kind = 'session';

-- The audit report (PROTOCOL.md 8) as in 007, and: no `inactive` or
-- `never_logged_in` flag before the programme starts (every room counts as
-- active until then); each member's `attended` and `absent` meetings (the
-- three checkpoints and the sessions of the plan); the
-- members erased from each room (`erased_members`, per room and in all), who
-- are no longer listed but still counted.
CREATE OR REPLACE FUNCTION audit_report(pid bigint, rid bigint, now timestamptz, off integer, lim integer)
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
member_attendance AS (
    SELECT c.room_id, a.user_id, count(*) FILTER (WHERE a.attended) AS attended,
           count(*) FILTER (WHERE NOT a.attended) AS absent
    FROM audit_attendance a
    JOIN (SELECT checkpoint_id, room_id FROM cps
          UNION ALL SELECT checkpoint_id, room_id FROM audit_sessions
          WHERE room_id IN (SELECT room_id FROM rooms)) c USING (checkpoint_id)
    GROUP BY c.room_id, a.user_id),
erased AS (SELECT m.room_id, count(DISTINCT m.user_id) AS n FROM audit_members m
           WHERE m.room_id IN (SELECT room_id FROM rooms) AND m.erased_at IS NOT NULL
           GROUP BY m.room_id),
room_last AS MATERIALIZED (
    SELECT r.room_id, GREATEST(r.created_at, max(s.last_at)) AS last_at,
           COALESCE(sum(s.messages), 0) AS messages
    FROM rooms r LEFT JOIN mstats s USING (room_id) GROUP BY r.room_id, r.created_at),
member_docs AS (
    SELECT m.room_id, jsonb_agg(jsonb_build_object(
        'user_id', m.user_id, 'username', m.username, 'display_name', m.display_name,
        'role', m.role, 'added_at', utc_text(m.added_at), 'on_roster', m.roster,
        'messages', COALESCE(s.messages, 0), 'last_sent_at', utc_text(s.last_at),
        'days_inactive', days_inactive(now, COALESCE(s.last_at, m.added_at)),
        'messages_last_week', COALESCE(lw.messages, 0),
        'messages_per_week', round(COALESCE(s.messages, 0) / GREATEST(1, extract(epoch FROM
            LEAST(now, prog.ends_on::timestamptz) -
            GREATEST(m.added_at, prog.starts_on::timestamptz)) / 604800.0)::numeric, 1),
        'last_login_at', utc_text(m.last_login_at),
        'never_logged_in', m.last_login_at IS NULL,
        'attended', COALESCE(ma.attended, 0), 'absent', COALESCE(ma.absent, 0),
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
    LEFT JOIN member_attendance ma ON ma.room_id = m.room_id AND ma.user_id = m.user_id
    GROUP BY m.room_id),
flags AS MATERIALIZED (
    SELECT rl.room_id, 'inactive' AS code,
           format('no message for %s days', floor(extract(epoch FROM now - rl.last_at) / 86400)) AS detail
    FROM room_last rl, prog
    WHERE now - rl.last_at >= make_interval(days => prog.flag_inactive_days)
      AND now::date >= prog.starts_on
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
    WHERE m.last_login_at IS NULL AND m.erased_at IS NULL AND now::date >= prog.starts_on
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
           (now - rl.last_at < make_interval(days => prog.flag_inactive_days)
            OR now::date < prog.starts_on) AS active,
           jsonb_build_object(
        'room_id', r.room_id, 'name', r.name, 'kind', r.kind,
        'messages', rl.messages, 'last_activity', utc_text(rl.last_at),
        'days_inactive', days_inactive(now, rl.last_at),
        'active', now - rl.last_at < make_interval(days => prog.flag_inactive_days)
                  OR now::date < prog.starts_on,
        'erased_members', COALESCE(er.n, 0),
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
    LEFT JOIN room_flags rf ON rf.room_id = r.room_id
    LEFT JOIN erased er ON er.room_id = r.room_id),
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
        'erased_members', (SELECT COALESCE(sum(n), 0) FROM erased),
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

-- Recovery codes (PROTOCOL.md "Recovery code"): a second key backup sealed
-- with a key derived from a code the user printed at registration, and the
-- hash of that code's auth key. Optional; erasure forgets both.
ALTER TABLE users ADD COLUMN recovery_hash bytea,
                  ADD COLUMN recovery_backup bytea,
                  ADD COLUMN recovery_set_at timestamptz;

CREATE FUNCTION users_recovery_erase() RETURNS trigger AS $$
BEGIN
    NEW.recovery_hash := NULL;
    NEW.recovery_backup := NULL;
    NEW.recovery_set_at := NULL;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER users_recovery_erase BEFORE UPDATE OF erased_at ON users
    FOR EACH ROW WHEN (NEW.erased_at IS NOT NULL) EXECUTE FUNCTION users_recovery_erase();
