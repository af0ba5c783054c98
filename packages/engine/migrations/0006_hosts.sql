-- Hosts (KVM/QEMU machines running vireo-agent), the join tokens that enroll them, and the
-- certificates the engine CA issued (tracked so they can be renewed before they expire).

CREATE TABLE hosts (
  id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name                   text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
  -- The name or IP the engine dials; also the SAN of the host's certificate.
  address                text NOT NULL CHECK (length(address) BETWEEN 1 AND 253),
  -- RESTRICT: a cluster with hosts cannot be deleted underneath them.
  cluster_id             uuid NOT NULL REFERENCES clusters (id) ON DELETE RESTRICT,
  state                  text NOT NULL DEFAULT 'installing'
                         CHECK (state IN ('installing', 'install_failed', 'connecting', 'up',
                                          'non_responsive', 'maintenance', 'preparing_maintenance')),
  state_reason           text NOT NULL DEFAULT '',
  agent_port             integer NOT NULL DEFAULT 54321 CHECK (agent_port BETWEEN 1 AND 65535),
  certificate_serial     text,
  certificate_not_after  timestamptz,
  capabilities           jsonb,
  last_stats             jsonb,
  last_heartbeat_at      timestamptz,
  agent_version          text,
  state_changed_at       timestamptz NOT NULL DEFAULT now(),
  version                integer NOT NULL DEFAULT 1,
  created_at             timestamptz NOT NULL DEFAULT now(),
  updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX hosts_name_key ON hosts (lower(name));
CREATE INDEX hosts_name_idx ON hosts (name, id);
CREATE INDEX hosts_created_at_idx ON hosts (created_at, id);
CREATE INDEX hosts_cluster_id_idx ON hosts (cluster_id);

CREATE TABLE join_tokens (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- Only the SHA-256 of the token is stored: a database dump must not enroll hosts.
  token_hash  bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
  cluster_id  uuid NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
  expires_at  timestamptz NOT NULL,
  used_at     timestamptz,
  -- The host the token enrolled (no foreign key: the host may be removed later).
  used_by_host uuid,
  -- No foreign key: the audit value survives the user's deletion.
  created_by  uuid,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX join_tokens_expires_at_idx ON join_tokens (expires_at);

CREATE TABLE certificates (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  kind         text NOT NULL CHECK (kind IN ('engine', 'engine_client', 'host')),
  -- The host id for kind = 'host'; null for the engine's own certificates.
  subject_id   uuid,
  subject_name text NOT NULL,
  serial       text NOT NULL UNIQUE,
  not_before   timestamptz NOT NULL,
  not_after    timestamptz NOT NULL,
  fingerprint  text NOT NULL,
  issued_at    timestamptz NOT NULL DEFAULT now(),
  -- Set when a newer certificate replaced this one.
  superseded_at timestamptz,
  CHECK ((kind = 'host') = (subject_id IS NOT NULL))
);
CREATE INDEX certificates_subject_idx ON certificates (kind, subject_id, issued_at DESC);
CREATE INDEX certificates_not_after_idx ON certificates (not_after) WHERE superseded_at IS NULL;

INSERT INTO operation_types (name, description) VALUES
  ('host.maintenance', 'Put a host into maintenance once it runs no VMs');
