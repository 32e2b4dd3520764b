-- 008: the message clock. ementord's --clock-offset moves the clock of
-- checkpoints, reminders and the audit (passed as parameters); message times
-- and read delays were PostgreSQL's now(), so a test that needed seconds
-- between messages had to sleep them. ementor_now() is now() plus the offset
-- each server connection sets (store_clock_sync: the setting
-- ementor.clock_offset_s, seconds; unset or empty is 0, so production, where
-- the offset is 0, is unchanged).
CREATE FUNCTION ementor_now() RETURNS timestamptz AS $$
    SELECT now() + make_interval(secs => COALESCE(
        NULLIF(current_setting('ementor.clock_offset_s', true), '')::double precision, 0))
$$ LANGUAGE sql STABLE;

ALTER TABLE messages ALTER COLUMN created_at SET DEFAULT ementor_now();

-- 005's trigger, with the read delay on the same clock as the message times
CREATE OR REPLACE FUNCTION receipts_read_delay() RETURNS trigger AS $$
DECLARE
    old_seq bigint := 0;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        old_seq := OLD.read_seq;
    END IF;
    IF NEW.read_seq > old_seq THEN
        INSERT INTO read_hist (room_id, bucket, n)
        SELECT NEW.room_id, hist_bucket(extract(epoch FROM ementor_now() - m.created_at)), 1
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
