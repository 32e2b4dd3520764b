-- 018: concern reports (docs/PROTOCOL.md section 13). A participant quotes
-- messages of a room they are a member of to the programme's managers with
-- a note; each report and each of its handling steps is a sealed record
-- (PROTOCOL.md 10.1) sealed to the manager parties of the room's agreement
-- and the reporter, and signed by its author. The server keeps only what it
-- routes and counts by: which room, who reported, when, the handling state
-- (open, acknowledged, action_taken, closed) and who set it. Never a quoted
-- message, a note or a franking key.
CREATE TABLE reports (
    id                bigserial PRIMARY KEY,
    programme_id      bigint NOT NULL REFERENCES programmes (id) ON DELETE CASCADE,
    room_id           bigint NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    reporter_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind              text NOT NULL CHECK (kind IN ('concern', 'change_request')),
    agreement_version integer NOT NULL,
    written_ms        bigint NOT NULL,
    blob              bytea NOT NULL,
    state             text NOT NULL DEFAULT 'open'
                      CHECK (state IN ('open', 'acknowledged', 'action_taken', 'closed')),
    created_at        timestamptz NOT NULL DEFAULT ementor_now()
);
CREATE INDEX reports_programme ON reports (programme_id, id);
CREATE INDEX reports_reporter ON reports (reporter_id, id);

-- Each handling step a manager took, with their note sealed like the report.
CREATE TABLE report_actions (
    id         bigserial PRIMARY KEY,
    report_id  bigint NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    manager_id bigint REFERENCES users (id) ON DELETE SET NULL,
    state      text NOT NULL CHECK (state IN ('acknowledged', 'action_taken', 'closed')),
    written_ms bigint NOT NULL,
    blob       bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT ementor_now()
);
CREATE INDEX report_actions_report ON report_actions (report_id, id);

-- The audit's figures per room: reports not closed yet, and all of them.
CREATE VIEW audit_reports AS
    SELECT r.id AS room_id,
           (SELECT count(*) FROM reports x WHERE x.room_id = r.id AND x.state <> 'closed') AS open,
           (SELECT count(*) FROM reports x WHERE x.room_id = r.id) AS total
      FROM rooms r;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ementor_audit') THEN
        GRANT SELECT ON audit_reports TO ementor_audit;
    END IF;
END
$$;

-- Retention and erasure, as for questionnaire answers (013): a purged
-- programme loses its reports; an erased account the reports it made.
CREATE FUNCTION reports_purge() RETURNS trigger AS $$
BEGIN
    DELETE FROM reports WHERE programme_id = NEW.id;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER programmes_reports_purge AFTER UPDATE OF purged_at ON programmes
    FOR EACH ROW WHEN (OLD.purged_at IS NULL AND NEW.purged_at IS NOT NULL)
    EXECUTE FUNCTION reports_purge();

CREATE FUNCTION reports_erase() RETURNS trigger AS $$
BEGIN
    DELETE FROM reports WHERE reporter_id = NEW.id;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER users_reports_erase AFTER UPDATE OF username ON users
    FOR EACH ROW WHEN (NEW.username LIKE '~erased-%' AND OLD.username NOT LIKE '~erased-%')
    EXECUTE FUNCTION reports_erase();
