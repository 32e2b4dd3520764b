-- 002_messaging.sql: end-to-end encrypted messages, room key epochs, sealed
-- key envelopes and read receipts. The server stores ciphertext it cannot
-- read: the room keys exist only inside envelopes sealed to members' keys.

ALTER TABLE rooms
    ADD COLUMN epoch            integer NOT NULL DEFAULT 0,     -- 0: no key yet
    ADD COLUMN epoch_started_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN epoch_msg_count  integer NOT NULL DEFAULT 0,
    ADD COLUMN rotate_required  boolean NOT NULL DEFAULT true,  -- membership changed since the epoch
    ADD COLUMN last_seq         bigint NOT NULL DEFAULT 0;      -- gapless per-room counter

-- One row per epoch change; commit_sig is the committer's Ed25519 signature
-- over the epoch and the hashes of the envelopes (verified by the server).
CREATE TABLE room_epochs (
    room_id      bigint NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    epoch        integer NOT NULL,
    committer_id bigint REFERENCES users (id) ON DELETE SET NULL,
    commit_sig   bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room_id, epoch)
);

CREATE TABLE key_envelopes (
    room_id      bigint NOT NULL,
    epoch        integer NOT NULL,
    recipient_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sealed       bytea NOT NULL,           -- crypto_box_seal to the recipient: opaque here
    PRIMARY KEY (room_id, recipient_id, epoch),
    FOREIGN KEY (room_id, epoch) REFERENCES room_epochs (room_id, epoch) ON DELETE CASCADE
);

-- No foreign keys on the hot path: the writer only inserts for rooms it has
-- locked, and a FK check per row costs ~30 % of the insert (measured).
CREATE TABLE messages (
    room_id       bigint NOT NULL,         -- rooms.id
    seq           bigint NOT NULL,
    sender_id     bigint NOT NULL,         -- users.id; no FK: erasure keeps ciphertext rows
    client_msg_id bytea NOT NULL,
    epoch         integer NOT NULL,
    ciphertext    bytea NOT NULL,
    sig           bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room_id, seq),
    UNIQUE (room_id, sender_id, client_msg_id) -- a resend is recognised, never stored twice
);

CREATE TABLE receipts (
    room_id    bigint NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    read_seq   bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room_id, user_id)
);
