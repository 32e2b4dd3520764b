-- 006: what clients need to verify instead of trusting the server
-- (docs/SECURITY.md "A malicious server", PROTOCOL.md 5.1 and 7.3).
--
-- * Every epoch names the agreement version its committer checked the roster
--   against (inside the signed envelopes and the signed commit); the server
--   keeps it to hand it back with the envelopes.
-- * A programme's agreement setting is signed by the manager who created it;
--   clients believe a programme does without agreements only with that
--   signature.
-- * Envelopes and messages of the earlier layout (v1) cannot be opened by
--   clients of this one: every room needs a new epoch before its next message.

ALTER TABLE room_epochs
    ADD COLUMN agreement_version integer NOT NULL DEFAULT 0 CHECK (agreement_version >= 0);

ALTER TABLE programmes
    ADD COLUMN settings_sig bytea CHECK (length(settings_sig) = 64);

UPDATE rooms SET rotate_required = true;
