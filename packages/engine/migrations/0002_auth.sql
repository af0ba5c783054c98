-- Users of the built-in `internal` domain, their API tokens, and login throttling state.

CREATE TABLE users (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  domain        text NOT NULL DEFAULT 'internal',
  -- Stored lower-case: `Admin@internal` and `admin@internal` are the same user.
  name          text NOT NULL CHECK (name = lower(name) AND length(name) BETWEEN 1 AND 128),
  -- `scrypt$N$r$p$salt$hash` (base64url); NULL means no password login.
  password_hash text,
  is_admin      boolean NOT NULL DEFAULT false,
  disabled      boolean NOT NULL DEFAULT false,
  version       integer NOT NULL DEFAULT 1,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT users_domain_name_key UNIQUE (domain, name)
);

-- Only the SHA-256 of a token is stored: a database dump does not let anyone log in.
CREATE TABLE auth_tokens (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  token_hash     bytea NOT NULL CHECK (length(token_hash) = 32),
  user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at     timestamptz NOT NULL DEFAULT now(),
  expires_at     timestamptz NOT NULL,
  revoked_at     timestamptz,
  client_address text,
  CONSTRAINT auth_tokens_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX auth_tokens_user_id_idx ON auth_tokens (user_id);
CREATE INDEX auth_tokens_expires_at_idx ON auth_tokens (expires_at);

-- Failed logins per username and per client address. In the database (not memory) so a restart
-- does not reset it and several engines share it.
CREATE TABLE login_throttle (
  scope           text NOT NULL CHECK (scope IN ('username', 'address')),
  key             text NOT NULL,
  failures        integer NOT NULL DEFAULT 0,
  last_failure_at timestamptz NOT NULL DEFAULT now(),
  locked_until    timestamptz,
  PRIMARY KEY (scope, key)
);

-- admin@internal is created without a password; setup sets it (setAdminPassword).
INSERT INTO users (domain, name, is_admin) VALUES ('internal', 'admin', true);
