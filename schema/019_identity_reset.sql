-- 019: manager-issued identity resets (issue 15; docs/PROTOCOL.md "Identity
-- reset", docs/SECURITY.md "A forgotten password").
--
-- A person who forgot their password and has no recovery code cannot get
-- their keys back: nobody but them ever held them. A manager of a programme
-- they belong to issues a one-time code; with it the person sets a new
-- password AND a new identity (new key pairs). What the old keys opened is
-- lost to them. The code is kept only as BLAKE2b-256 of its 20 random bytes,
-- expires, works once, and a newer code replaces an older one.
CREATE TABLE identity_resets (
    id           bigserial PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    programme_id bigint NOT NULL REFERENCES programmes (id) ON DELETE CASCADE,
    issued_by    bigint REFERENCES users (id) ON DELETE SET NULL,
    code_hash    bytea NOT NULL UNIQUE CHECK (length(code_hash) = 32),
    issued_at    timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    cancelled_at timestamptz               -- replaced by a newer code, or the account erased
);
CREATE INDEX identity_resets_user ON identity_resets (user_id) WHERE used_at IS NULL;

-- The programme's trail (programme.history) records both steps: who issued a
-- code for whom, and when it was used.
ALTER TABLE programme_changes DROP CONSTRAINT programme_changes_change_check;
ALTER TABLE programme_changes ADD CONSTRAINT programme_changes_change_check
    CHECK (change IN ('name', 'starts_on', 'ends_on', 'ended', 'archived', 'room_name',
                      'reset_issued', 'identity_reset'));

-- The code e-mailed as a link to a verified address (section 12).
ALTER TABLE mail_outbox DROP CONSTRAINT mail_outbox_kind_check;
ALTER TABLE mail_outbox ADD CONSTRAINT mail_outbox_kind_check
    CHECK (kind IN ('verify', 'invite', 'meeting', 'agreement', 'diary', 'digest', 'reset'));

-- After the keys of `uid` changed: in every room they are in (or a party of
-- the latest agreement of), their signatures are withdrawn (the keys they
-- signed with are gone), a new agreement version lists their new keys, the
-- roster is recomputed (they are off it until the new version is signed by
-- every party) and the room needs a new key epoch. Every other party of the
-- new version gets an identity.reset notice. Rooms are locked in id order.
-- Returns (notice id, user, Notice text) for the server to push, and the
-- rooms with a NULL notice (to tell their members the agreement changed).
CREATE FUNCTION identity_reset_rooms(uid bigint, at timestamptz)
RETURNS TABLE (nid bigint, nuser bigint, doc text, room bigint) AS $$
DECLARE
    rid bigint;
    v   integer;
    who text;
BEGIN
    SELECT username INTO who FROM users WHERE id = uid;
    FOR rid IN
        SELECT x.room_id FROM (
            SELECT m.room_id FROM room_members m WHERE m.user_id = uid AND m.removed_at IS NULL
            UNION
            SELECT av.room_id FROM agreement_parties ap
            JOIN agreement_versions av ON av.id = ap.version_id
            WHERE ap.user_id = uid AND av.version = (SELECT max(l.version)
                FROM agreement_versions l WHERE l.room_id = av.room_id)) x
        ORDER BY x.room_id
    LOOP
        PERFORM 1 FROM rooms WHERE id = rid FOR UPDATE;
        UPDATE agreement_parties ap SET withdrawn_at = at FROM agreement_versions av
        WHERE av.id = ap.version_id AND av.room_id = rid AND ap.user_id = uid
          AND ap.signature IS NOT NULL AND ap.withdrawn_at IS NULL;
        v := agreement_refresh(rid, NULL, NULL);
        PERFORM agreement_roster_sync(rid);
        UPDATE rooms SET rotate_required = true WHERE id = rid;
        room := rid;
        nid := NULL;
        nuser := NULL;
        doc := NULL;
        RETURN NEXT;
        RETURN QUERY
        WITH ins AS (
            INSERT INTO notices (user_id, kind, data, created_at)
            SELECT ap.user_id, 'identity.reset', jsonb_build_object(
                       'kind', 'identity.reset', 'at', utc_text(at), 'room_id', rid,
                       'user_id', uid, 'by', who, 'version', v,
                       'summary', format('%s has a new identity (a manager reset their account): '
                                         'their keys changed. Check their new safety number with '
                                         'them, then sign version %s of the agreement', who, v)),
                   at
            FROM agreement_parties ap JOIN agreement_versions av ON av.id = ap.version_id
            WHERE av.room_id = rid AND av.version = v AND ap.user_id <> uid
            RETURNING notices.id, notices.user_id, notices.data)
        SELECT ins.id, ins.user_id, (ins.data || jsonb_build_object('id', ins.id))::text, rid
        FROM ins;
    END LOOP;
END
$$ LANGUAGE plpgsql;

-- Erasure forgets the codes not used yet.
CREATE FUNCTION identity_resets_erase() RETURNS trigger AS $$
BEGIN
    UPDATE identity_resets SET cancelled_at = now()
    WHERE user_id = NEW.id AND used_at IS NULL AND cancelled_at IS NULL;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER users_identity_resets_erase AFTER UPDATE OF erased_at ON users
    FOR EACH ROW WHEN (NEW.erased_at IS NOT NULL AND OLD.erased_at IS NULL)
    EXECUTE FUNCTION identity_resets_erase();
