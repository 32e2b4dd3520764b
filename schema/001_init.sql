-- 001_init.sql: accounts, sessions, programmes, invitations and rooms.
-- Content never lives here: only public keys, an opaque key backup the server
-- cannot open, and BLAKE2b hashes of secrets (auth keys, tokens, invite codes).

CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    username      text NOT NULL UNIQUE CHECK (username = lower(username)),
    display_name  text NOT NULL,
    role          text NOT NULL CHECK (role IN ('manager', 'mentor', 'mentee')),
    sign_pk       bytea NOT NULL CHECK (length(sign_pk) = 32),
    box_pk        bytea NOT NULL CHECK (length(box_pk) = 32),
    kdf_salt      bytea NOT NULL CHECK (length(kdf_salt) = 16),
    kdf_opslimit  integer NOT NULL,
    kdf_memlimit  bigint NOT NULL,
    auth_hash     bytea NOT NULL,          -- BLAKE2b-256(auth_key)
    key_backup    bytea NOT NULL,          -- opaque: sealed with a key only the client derives
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz
);

CREATE TABLE sessions (
    id          bigserial PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  bytea NOT NULL UNIQUE,     -- BLAKE2b-256(token); the token itself is never stored
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE programmes (
    id                bigserial PRIMARY KEY,
    name              text NOT NULL,
    starts_on         date NOT NULL,
    ends_on           date NOT NULL,
    max_group_mentees integer NOT NULL DEFAULT 5 CHECK (max_group_mentees BETWEEN 2 AND 5),
    created_by        bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_on > starts_on)
);

-- Who takes part in a programme, and as what.
CREATE TABLE programme_people (
    programme_id bigint NOT NULL REFERENCES programmes (id) ON DELETE CASCADE,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role         text NOT NULL CHECK (role IN ('manager', 'mentor', 'mentee')),
    joined_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (programme_id, user_id)
);
CREATE INDEX programme_people_user ON programme_people (user_id);

CREATE TABLE invites (
    id           bigserial PRIMARY KEY,
    code_hash    bytea NOT NULL UNIQUE,    -- BLAKE2b-256(code)
    role         text NOT NULL CHECK (role IN ('manager', 'mentor', 'mentee')),
    programme_id bigint REFERENCES programmes (id) ON DELETE CASCADE,
    created_by   bigint REFERENCES users (id) ON DELETE SET NULL,  -- NULL: the operator
    first_run    boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    used_by      bigint REFERENCES users (id) ON DELETE SET NULL
);

CREATE TABLE rooms (
    id           bigserial PRIMARY KEY,
    programme_id bigint NOT NULL REFERENCES programmes (id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('pair', 'group')),
    name         text NOT NULL,
    created_by   bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rooms_programme ON rooms (programme_id);

-- Membership history: a removal sets removed_at, so later features can tell
-- who was a member when.
CREATE TABLE room_members (
    id         bigserial PRIMARY KEY,
    room_id    bigint NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       text NOT NULL CHECK (role IN ('mentor', 'mentee')),
    added_at   timestamptz NOT NULL DEFAULT now(),
    added_by   bigint REFERENCES users (id) ON DELETE SET NULL,
    removed_at timestamptz,
    removed_by bigint REFERENCES users (id) ON DELETE SET NULL
);
CREATE UNIQUE INDEX room_members_active ON room_members (room_id, user_id) WHERE removed_at IS NULL;
CREATE UNIQUE INDEX room_members_one_mentor ON room_members (room_id)
    WHERE removed_at IS NULL AND role = 'mentor';
CREATE INDEX room_members_user ON room_members (user_id) WHERE removed_at IS NULL;

-- Failed and successful logins, for rate limiting that survives restarts and
-- is shared by every server node.
CREATE TABLE login_attempts (
    id       bigserial PRIMARY KEY,
    username text NOT NULL,
    addr     text NOT NULL,
    at       timestamptz NOT NULL DEFAULT now(),
    ok       boolean NOT NULL
);
CREATE INDEX login_attempts_username ON login_attempts (username, at);
CREATE INDEX login_attempts_addr ON login_attempts (addr, at);

-- Server-wide secrets generated on first start (e.g. the key for pre-login fake salts).
CREATE TABLE server_secrets (
    name  text PRIMARY KEY,
    value bytea NOT NULL
);
