-- 015: e-mail (issue 15; README "E-mail", docs/PROTOCOL.md 12).
--
-- A person's address, verified before any other mail goes to it, their
-- language and the kinds they want; a persistent outbox that one sender
-- thread per node drains through the operator's SMTP relay; invites that
-- carry an address and can be listed, re-sent and revoked.
--
-- What an e-mail may say is decided here, once: an outbox row's params hold
-- numbers, times and the fixed names of kinds (checkpoint kinds, notice
-- kinds), and the codes of a verification or an invite; never a name, a
-- room's name, a reason, a place or any text a person wrote. The sender
-- renders only those params into fixed templates (server/mail_text.c).

-- base64url of 32 random bytes, no padding (the canonical form http_path.c
-- accepts for a token): two v4 UUIDs, 244 random bits.
CREATE FUNCTION mail_token() RETURNS text AS $$
    SELECT rtrim(translate(encode(decode(replace(gen_random_uuid()::text, '-', '') ||
                                         replace(gen_random_uuid()::text, '-', ''), 'hex'),
                                  'base64'), '+/', '-_'), '=')
$$ LANGUAGE sql VOLATILE;

CREATE TABLE mail_settings (
    user_id        bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    address        text,                 -- NULL: no address
    verified_at    timestamptz,          -- NULL: not verified; nothing but the code goes to it
    verify_hash    bytea,                -- BLAKE2b-256 of the code last sent
    verify_tries   integer NOT NULL DEFAULT 0,
    lang           text NOT NULL DEFAULT 'en' CHECK (lang IN ('en', 'pl')),
    kinds          text[] NOT NULL DEFAULT ARRAY['meeting', 'agreement', 'diary', 'digest'],
    -- the one-link unsubscribe (GET /unsubscribe/TOKEN): kept as is, since
    -- every e-mail carries it; it can only turn this person's e-mail off
    unsub_token    text NOT NULL UNIQUE DEFAULT mail_token(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- name and label: what a manager's list (invite.import) said about the
-- person, for the manager's eyes only (never in an e-mail)
ALTER TABLE invites ADD COLUMN email text,
                    ADD COLUMN lang text CHECK (lang IN ('en', 'pl')),
                    ADD COLUMN revoked_at timestamptz,
                    ADD COLUMN name text,
                    ADD COLUMN label text;
CREATE INDEX invites_email ON invites (programme_id, lower(email)) WHERE email IS NOT NULL;

-- The outbox. pending -> sending (claimed by a node's sender, attempts + 1)
-- -> sent | pending again at next_at (a temporary failure, backoff) |
-- failed (a permanent refusal, too many attempts, or too old). A row left
-- in `sending` by a node that died is claimed again once claimed_at is older
-- than the claim timeout: the one window in which an e-mail can go twice.
CREATE TABLE mail_outbox (
    id          bigserial PRIMARY KEY,
    user_id     bigint REFERENCES users (id) ON DELETE CASCADE,   -- NULL: an invite
    invite_id   bigint REFERENCES invites (id) ON DELETE CASCADE,
    address     text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('verify', 'invite', 'meeting', 'agreement',
                                              'diary', 'digest')),
    lang        text NOT NULL CHECK (lang IN ('en', 'pl')),
    params      jsonb NOT NULL DEFAULT '{}',
    state       text NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
    attempts    integer NOT NULL DEFAULT 0,
    next_at     timestamptz NOT NULL DEFAULT now(),
    claimed_at  timestamptz,
    claimed_by  text,
    msg_token   text NOT NULL DEFAULT mail_token(),
    message_id  text UNIQUE,             -- set at the first claim, then never changed
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz,
    last_error  text
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_at) WHERE state IN ('pending', 'sending');
CREATE INDEX mail_outbox_user ON mail_outbox (user_id);
CREATE INDEX mail_outbox_invite ON mail_outbox (invite_id);

-- The unread digest: at most one per person and room per interval.
CREATE TABLE mail_digests (
    user_id  bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    room_id  bigint NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    upto_seq bigint NOT NULL,
    sent_at  timestamptz NOT NULL,
    PRIMARY KEY (user_id, room_id)
);

-- Which e-mail kind a notice kind is; NULL: no e-mail.
CREATE FUNCTION mail_kind_of(nkind text) RETURNS text AS $$
    SELECT CASE
        WHEN nkind IN ('checkpoint.proposed', 'checkpoint.confirmed', 'checkpoint.rescheduled',
                       'checkpoint.cancelled', 'reminder') THEN 'meeting'
        WHEN nkind = 'agreement.changed' THEN 'agreement'
        WHEN nkind IN ('diary.writer', 'diary.missing') THEN 'diary'
    END
$$ LANGUAGE sql IMMUTABLE;

-- Every notice that has an e-mail kind becomes an outbox row, in the
-- transaction that makes the notice (so a notice and its e-mail are made
-- together or not at all), for a verified address that wants the kind.
-- Only numbers, times and fixed kind names are copied: not `by` (a
-- username), not `place`, not `reason`, not `summary`.
CREATE FUNCTION mail_from_notice() RETURNS trigger AS $$
BEGIN
    INSERT INTO mail_outbox (user_id, address, kind, lang, params)
    SELECT s.user_id, s.address, mail_kind_of(NEW.kind), s.lang, jsonb_strip_nulls(
               jsonb_build_object(
                   'event', NEW.kind,
                   'room_id', NEW.data -> 'room_id',
                   'checkpoint_id', NEW.data -> 'checkpoint_id',
                   'checkpoint_kind', CASE WHEN NEW.data ->> 'checkpoint_kind' IN
                       ('initial', 'midterm', 'final', 'session')
                       THEN NEW.data -> 'checkpoint_kind' END,
                   'starts_at', CASE WHEN NEW.kind IN ('checkpoint.confirmed', 'reminder')
                       THEN NEW.data -> 'starts_at' END,
                   'version', CASE WHEN NEW.kind = 'agreement.changed'
                       THEN NEW.data -> 'version' END))
    FROM mail_settings s
    WHERE s.user_id = NEW.user_id AND s.address IS NOT NULL AND s.verified_at IS NOT NULL
      AND mail_kind_of(NEW.kind) = ANY (s.kinds);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER notices_mail AFTER INSERT ON notices
    FOR EACH ROW WHEN (mail_kind_of(NEW.kind) IS NOT NULL) EXECUTE FUNCTION mail_from_notice();

-- Erasure (PROTOCOL.md 7.4): the address is personal data. The settings, every
-- outbox row to the person (sent ones too: they hold the address), the
-- digest marks and the address of the invite they registered with go.
CREATE FUNCTION mail_erase() RETURNS trigger AS $$
BEGIN
    DELETE FROM mail_settings WHERE user_id = NEW.id;
    DELETE FROM mail_outbox WHERE user_id = NEW.id
        OR invite_id IN (SELECT id FROM invites WHERE used_by = NEW.id);
    DELETE FROM mail_digests WHERE user_id = NEW.id;
    UPDATE invites SET email = NULL, name = NULL, label = NULL WHERE used_by = NEW.id;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER users_mail_erase AFTER UPDATE OF erased_at ON users
    FOR EACH ROW WHEN (NEW.erased_at IS NOT NULL AND OLD.erased_at IS NULL)
    EXECUTE FUNCTION mail_erase();

-- Registration through an e-mailed invite: whoever holds the link received
-- it at that address, so the address is the person's, verified, in the
-- invite's language. Called in the transaction that uses the invite.
CREATE FUNCTION mail_invite_used(iid bigint, uid bigint) RETURNS void AS $$
    INSERT INTO mail_settings (user_id, address, verified_at, lang)
    SELECT uid, i.email, now(), COALESCE(i.lang, 'en') FROM invites i
    WHERE i.id = iid AND i.email IS NOT NULL
      AND EXISTS (SELECT 1 FROM mail_outbox o WHERE o.invite_id = iid AND o.state = 'sent')
    ON CONFLICT (user_id) DO NOTHING
$$ LANGUAGE sql;

-- account.export's "email" (null without settings).
CREATE FUNCTION mail_export_doc(uid bigint) RETURNS jsonb AS $$
    SELECT jsonb_build_object('address', s.address, 'verified_at', utc_text(s.verified_at),
               'lang', s.lang, 'kinds', to_jsonb(s.kinds),
               'sent', (SELECT count(*) FROM mail_outbox o WHERE o.user_id = uid
                        AND o.state = 'sent'),
               'waiting', (SELECT count(*) FROM mail_outbox o WHERE o.user_id = uid
                           AND o.state IN ('pending', 'sending')))
    FROM mail_settings s WHERE s.user_id = uid
$$ LANGUAGE sql STABLE;

-- An invite's state as its manager sees it.
CREATE FUNCTION invite_state(i invites) RETURNS text AS $$
    SELECT CASE
        WHEN i.used_at IS NOT NULL THEN 'registered'
        WHEN i.revoked_at IS NOT NULL THEN 'revoked'
        WHEN i.expires_at <= now() THEN 'expired'
        ELSE COALESCE((SELECT CASE o.state WHEN 'sent' THEN 'sent' WHEN 'failed' THEN 'failed'
                                           ELSE 'sending' END
                       FROM mail_outbox o WHERE o.invite_id = i.id ORDER BY o.id DESC LIMIT 1),
                      'created')
    END
$$ LANGUAGE sql STABLE;
