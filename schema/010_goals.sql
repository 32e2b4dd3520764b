-- 010: goals, their tasks and the 4-10 progress ratings (docs/PROTOCOL.md
-- section 10). Every text, status and rating value is inside `blob`, sealed
-- by the author's client to the readers it chose (the per-record envelope of
-- PROTOCOL.md 10.1); the server keeps only what it needs to route and what
-- the audit counts: the room, the record's client-made id, its version, its
-- kind and owner, whether the owner shared it with the room, the number of
-- tasks, a rating's stage and date (never its value), who wrote each version
-- and when.

-- Every version of every goal; the latest of a goal is its highest version.
CREATE TABLE goal_versions (
    id                bigserial PRIMARY KEY,
    room_id           bigint NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    goal_id           bytea NOT NULL CHECK (length(goal_id) = 16),
    version           integer NOT NULL CHECK (version >= 1),
    kind              text NOT NULL CHECK (kind IN ('personal', 'group')),
    owner_id          bigint REFERENCES users (id) ON DELETE CASCADE, -- the mentee; NULL: group
    author_id         bigint REFERENCES users (id) ON DELETE SET NULL,
    shared            boolean NOT NULL,
    agreement_version integer NOT NULL,
    tasks             integer NOT NULL CHECK (tasks BETWEEN 0 AND 50),
    written_ms        bigint NOT NULL,
    blob              bytea NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT ementor_now(),
    UNIQUE (room_id, goal_id, version),
    CHECK ((kind = 'personal') = (owner_id IS NOT NULL)),
    CHECK (kind = 'personal' OR shared)
);

-- Self-ratings: one row each, never changed (a new rating is a new row).
CREATE TABLE ratings (
    id                bigserial PRIMARY KEY,
    room_id           bigint NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    rating_id         bytea NOT NULL UNIQUE CHECK (length(rating_id) = 16),
    user_id           bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    stage             text NOT NULL CHECK (stage IN ('start', 'midterm', 'final', 'any')),
    rated_on          date NOT NULL,
    agreement_version integer NOT NULL,
    written_ms        bigint NOT NULL,
    blob              bytea NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT ementor_now()
);
CREATE INDEX ratings_room ON ratings (room_id, user_id);

-- Whether p_user may see a version of a goal of p_room: a group goal or a
-- shared one (any member), or the owner's own, or the room's mentor. The
-- caller has checked that p_user is a member.
CREATE FUNCTION goal_visible(p_room bigint, p_user bigint, p_kind text, p_owner bigint,
                             p_shared boolean) RETURNS boolean AS $$
    SELECT p_kind = 'group' OR p_shared OR p_owner = p_user
        OR EXISTS (SELECT 1 FROM room_members m WHERE m.room_id = p_room
                   AND m.user_id = p_user AND m.removed_at IS NULL AND m.role = 'mentor')
$$ LANGUAGE sql STABLE;

-- goal.create (p_version 1) and goal.update (the latest + 1). Returns 'ok'
-- or the protocol's error code: not_member, wrong_role (a personal goal is
-- a mentee's own), forbidden (another's personal goal), not_found,
-- bad_value (kind changed), stale_version (not the next version; also a
-- race lost to another writer, through the unique key).
CREATE FUNCTION goal_put(p_user bigint, p_room bigint, p_goal bytea, p_version integer,
                         p_kind text, p_shared boolean, p_av integer, p_tasks integer,
                         p_written bigint, p_blob bytea) RETURNS text AS $$
DECLARE
    v_role text;
    v_last goal_versions%ROWTYPE;
BEGIN
    SELECT role INTO v_role FROM room_members
     WHERE room_id = p_room AND user_id = p_user AND removed_at IS NULL;
    IF v_role IS NULL THEN
        RETURN 'not_member';
    END IF;
    IF p_kind = 'personal' AND v_role <> 'mentee' THEN
        RETURN 'wrong_role';
    END IF;
    SELECT * INTO v_last FROM goal_versions WHERE room_id = p_room AND goal_id = p_goal
     ORDER BY version DESC LIMIT 1;
    IF p_version = 1 THEN
        IF v_last.id IS NOT NULL THEN
            RETURN 'stale_version';
        END IF;
    ELSE
        IF v_last.id IS NULL THEN
            RETURN 'not_found';
        END IF;
        IF v_last.kind <> p_kind THEN
            RETURN 'bad_value';
        END IF;
        IF p_kind = 'personal' AND v_last.owner_id <> p_user THEN
            RETURN 'forbidden';
        END IF;
        IF p_version <> v_last.version + 1 THEN
            RETURN 'stale_version';
        END IF;
    END IF;
    INSERT INTO goal_versions (room_id, goal_id, version, kind, owner_id, author_id, shared,
                               agreement_version, tasks, written_ms, blob)
    VALUES (p_room, p_goal, p_version, p_kind,
            CASE WHEN p_kind = 'personal' THEN p_user END, p_user,
            p_shared OR p_kind = 'group', p_av, p_tasks, p_written, p_blob);
    RETURN 'ok';
EXCEPTION WHEN unique_violation THEN
    RETURN 'stale_version';
END
$$ LANGUAGE plpgsql;

-- The audit's figures per room (no text, no status, no rating value): goals
-- by kind, their tasks (as their latest versions count them), ratings by
-- stage. The report reads audit_goals as the role ementor_audit (005).
CREATE VIEW goal_counts AS
    SELECT g.room_id,
           count(*) FILTER (WHERE g.kind = 'personal') AS personal_goals,
           count(*) FILTER (WHERE g.kind = 'group') AS group_goals,
           COALESCE(sum(g.tasks), 0) AS tasks
      FROM (SELECT DISTINCT ON (room_id, goal_id) room_id, kind, tasks
              FROM goal_versions ORDER BY room_id, goal_id, version DESC) g
     GROUP BY g.room_id;

CREATE VIEW audit_goals AS
    SELECT r.id AS room_id,
           COALESCE(c.personal_goals, 0) AS personal_goals,
           COALESCE(c.group_goals, 0) AS group_goals,
           COALESCE(c.tasks, 0) AS tasks,
           (SELECT count(*) FROM ratings x WHERE x.room_id = r.id AND x.stage = 'start') AS ratings_start,
           (SELECT count(*) FROM ratings x WHERE x.room_id = r.id AND x.stage = 'midterm') AS ratings_midterm,
           (SELECT count(*) FROM ratings x WHERE x.room_id = r.id AND x.stage = 'final') AS ratings_final,
           (SELECT count(*) FROM ratings x WHERE x.room_id = r.id AND x.stage = 'any') AS ratings_any
      FROM rooms r LEFT JOIN goal_counts c ON c.room_id = r.id;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ementor_audit') THEN
        GRANT SELECT ON audit_goals TO ementor_audit;
    END IF;
END
$$;

-- Retention and erasure reach goals and ratings too. When a programme is
-- purged (retention_purge sets purged_at), the sealed records of its rooms
-- go with its messages; the audit's counts go with them. When an account is
-- erased (account_erase renames the user '~erased-ID'), the mentee's
-- personal goals and ratings are deleted: the mentor would otherwise still
-- hold a key to them. Group goals stay (they are the room's), their author
-- pseudonymised with the user row.
CREATE FUNCTION goals_purge() RETURNS trigger AS $$
BEGIN
    DELETE FROM goal_versions WHERE room_id IN (SELECT id FROM rooms WHERE programme_id = NEW.id);
    DELETE FROM ratings WHERE room_id IN (SELECT id FROM rooms WHERE programme_id = NEW.id);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER programmes_goals_purge AFTER UPDATE OF purged_at ON programmes
    FOR EACH ROW WHEN (OLD.purged_at IS NULL AND NEW.purged_at IS NOT NULL)
    EXECUTE FUNCTION goals_purge();

CREATE FUNCTION goals_erase() RETURNS trigger AS $$
BEGIN
    DELETE FROM goal_versions WHERE owner_id = NEW.id;
    DELETE FROM ratings WHERE user_id = NEW.id;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER users_goals_erase AFTER UPDATE OF username ON users
    FOR EACH ROW WHEN (NEW.username LIKE '~erased-%' AND OLD.username NOT LIKE '~erased-%')
    EXECUTE FUNCTION goals_erase();
