-- 013: the initial and final monitoring questionnaires, and the progress a
-- mentee shares with the programme's managers while their share_progress
-- consent is granted (docs/PROTOCOL.md section 11).
--
-- The questions are not secret: a programme's manager writes them and signs
-- each version (the clients check the signature; the default questionnaires
-- are built into the clients and have no row here). Every answer, and every
-- shared rating or goal status, is a sealed record (PROTOCOL.md 10.1) the
-- respondent's client sealed to the manager parties of their room's
-- agreement: the server keeps only what it routes by and what the audit
-- counts (who answered which questionnaire, when; who shared what kind of
-- record, when), never a value or a text.

-- Questionnaire versions a manager wrote (version 0 is the built-in default).
CREATE TABLE questionnaires (
    id           bigserial PRIMARY KEY,
    programme_id bigint NOT NULL REFERENCES programmes (id) ON DELETE CASCADE,
    stage        text NOT NULL CHECK (stage IN ('initial', 'final')),
    version      integer NOT NULL CHECK (version >= 1),
    author_id    bigint REFERENCES users (id) ON DELETE SET NULL,
    doc          text NOT NULL,
    signature    bytea NOT NULL CHECK (length(signature) = 64),
    created_at   timestamptz NOT NULL DEFAULT ementor_now(),
    UNIQUE (programme_id, stage, version)
);

-- One answer per mentee and stage in a programme; never changed.
CREATE TABLE questionnaire_answers (
    id                bigserial PRIMARY KEY,
    programme_id      bigint NOT NULL REFERENCES programmes (id) ON DELETE CASCADE,
    room_id           bigint NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id           bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    stage             text NOT NULL CHECK (stage IN ('initial', 'final')),
    q_version         integer NOT NULL CHECK (q_version >= 0),
    agreement_version integer NOT NULL,
    written_ms        bigint NOT NULL,
    blob              bytea NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT ementor_now(),
    UNIQUE (programme_id, user_id, stage)
);

-- Ratings and goal statuses shared with the managers under share_progress.
CREATE TABLE progress_shares (
    id                bigserial PRIMARY KEY,
    room_id           bigint NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    record_id         bytea NOT NULL UNIQUE CHECK (length(record_id) = 16),
    user_id           bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind              text NOT NULL CHECK (kind IN ('rating', 'goal')),
    agreement_version integer NOT NULL,
    written_ms        bigint NOT NULL,
    blob              bytea NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT ementor_now()
);
CREATE INDEX progress_shares_room ON progress_shares (room_id, id);

-- Whether p_user's latest share_progress record for the programme is a grant.
CREATE FUNCTION share_progress_granted(p_user bigint, p_programme bigint) RETURNS boolean AS $$
    SELECT COALESCE((SELECT action = 'grant' FROM consent_ledger
                      WHERE user_id = p_user AND purpose = 'share_progress'
                        AND subject = 'programme:' || p_programme
                      ORDER BY seq DESC LIMIT 1), false)
$$ LANGUAGE sql STABLE;

-- The audit's figures per room (no answer, no value, no status): answers by
-- stage and progress shares by kind. The report reads audit_questionnaires as
-- the role ementor_audit (005).
CREATE VIEW audit_questionnaires AS
    SELECT r.id AS room_id,
           (SELECT count(*) FROM questionnaire_answers a WHERE a.room_id = r.id AND a.stage = 'initial') AS initial,
           (SELECT count(*) FROM questionnaire_answers a WHERE a.room_id = r.id AND a.stage = 'final') AS final,
           (SELECT count(*) FROM progress_shares s WHERE s.room_id = r.id AND s.kind = 'rating') AS shared_ratings,
           (SELECT count(*) FROM progress_shares s WHERE s.room_id = r.id AND s.kind = 'goal') AS shared_goals
      FROM rooms r;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ementor_audit') THEN
        GRANT SELECT ON audit_questionnaires TO ementor_audit;
    END IF;
END
$$;

-- Retention and erasure, as for goals (010): a purged programme loses its
-- answers and shares; an erased account its own.
CREATE FUNCTION questionnaires_purge() RETURNS trigger AS $$
BEGIN
    DELETE FROM questionnaire_answers WHERE programme_id = NEW.id;
    DELETE FROM progress_shares WHERE room_id IN (SELECT id FROM rooms WHERE programme_id = NEW.id);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER programmes_questionnaires_purge AFTER UPDATE OF purged_at ON programmes
    FOR EACH ROW WHEN (OLD.purged_at IS NULL AND NEW.purged_at IS NOT NULL)
    EXECUTE FUNCTION questionnaires_purge();

CREATE FUNCTION questionnaires_erase() RETURNS trigger AS $$
BEGIN
    DELETE FROM questionnaire_answers WHERE user_id = NEW.id;
    DELETE FROM progress_shares WHERE user_id = NEW.id;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER users_questionnaires_erase AFTER UPDATE OF username ON users
    FOR EACH ROW WHEN (NEW.username LIKE '~erased-%' AND OLD.username NOT LIKE '~erased-%')
    EXECUTE FUNCTION questionnaires_erase();
