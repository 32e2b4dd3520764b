-- 020: participants' profiles for matching (issue 16; docs/PROTOCOL.md
-- section 14, docs/SECURITY.md "Profiles for matching", docs/MATCHING.md).
--
-- A programme's profile questionnaire for mentees and one for mentors: the
-- questions are not secret. Version 0 of each is built into the clients and
-- has no row; a manager's edit is a new version, signed by that manager (the
-- participants' clients check the signature). A participant's answers are a
-- sealed record (PROTOCOL.md 10.1) their client sealed to the managers it
-- verified and to themselves, and signed: the server keeps only who handed
-- in a profile for which programme and role, against which questionnaire
-- version, and when, never an answer.
CREATE TABLE profile_forms (
    id           bigserial PRIMARY KEY,
    programme_id bigint NOT NULL REFERENCES programmes (id) ON DELETE CASCADE,
    role         text NOT NULL CHECK (role IN ('mentor', 'mentee')),
    version      integer NOT NULL CHECK (version >= 1),
    author_id    bigint REFERENCES users (id) ON DELETE SET NULL,
    doc          text NOT NULL,
    signature    bytea NOT NULL CHECK (length(signature) = 64),
    created_at   timestamptz NOT NULL DEFAULT ementor_now(),
    UNIQUE (programme_id, role, version)
);

-- One profile per participant and programme; a new one replaces the old.
CREATE TABLE profiles (
    programme_id bigint NOT NULL REFERENCES programmes (id) ON DELETE CASCADE,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role         text NOT NULL CHECK (role IN ('mentor', 'mentee')),
    form_version integer NOT NULL CHECK (form_version >= 0),
    written_ms   bigint NOT NULL,
    blob         bytea NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT ementor_now(),
    PRIMARY KEY (programme_id, user_id)
);
CREATE INDEX profiles_user ON profiles (user_id);

-- Retention: a purged programme loses its profiles (the questions stay
-- with the programme until it is deleted).
CREATE FUNCTION profiles_purge() RETURNS trigger AS $$
BEGIN
    DELETE FROM profiles WHERE programme_id = NEW.id;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER programmes_profiles_purge AFTER UPDATE OF purged_at ON programmes
    FOR EACH ROW WHEN (OLD.purged_at IS NULL AND NEW.purged_at IS NOT NULL)
    EXECUTE FUNCTION profiles_purge();

-- Erasure (7.4): an erased account's profiles go, in the erasure's transaction.
CREATE FUNCTION profiles_erase() RETURNS trigger AS $$
BEGIN
    DELETE FROM profiles WHERE user_id = NEW.id;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER users_profiles_erase AFTER UPDATE OF username ON users
    FOR EACH ROW WHEN (NEW.username LIKE '~erased-%' AND OLD.username NOT LIKE '~erased-%')
    EXECUTE FUNCTION profiles_erase();
