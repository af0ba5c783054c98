-- Operations: work that outlives a request (design.md "Operation", conventions 3 and 4).

-- The append-only list of operation types. A type is added by a migration and never removed or
-- renamed, so an operation row written by any engine version keeps meaning the same thing.
CREATE TABLE operation_types (
  name text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$'),
  description text NOT NULL,
  added_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO operation_types (name, description) VALUES
  ('events.purge', 'Delete audit events older than a given time');

CREATE TABLE operations (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  type text NOT NULL REFERENCES operation_types (name),
  state text NOT NULL DEFAULT 'pending'
    CHECK (state IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
  progress double precision NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 1),
  progress_message text,
  -- What the operation acts on; both set or both null (e.g. events.purge acts on no single object).
  target_kind text,
  target_id uuid,
  input jsonb NOT NULL DEFAULT '{}'::jsonb,
  result jsonb,
  -- {code, message, details} when state = 'failed' (or 'cancelled').
  error jsonb,
  -- No foreign key: an operation is a historical record and outlives the user who started it.
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  finished_at timestamptz,
  cancel_requested boolean NOT NULL DEFAULT false,
  -- Lease: the engine running it and until when its claim holds unless renewed.
  claimed_by text,
  lease_until timestamptz,
  -- How many times a runner claimed it (a resumable operation is claimed again after a crash).
  attempts integer NOT NULL DEFAULT 0,
  CHECK ((target_kind IS NULL) = (target_id IS NULL)),
  CHECK ((state = 'running') = (claimed_by IS NOT NULL AND lease_until IS NOT NULL)),
  CHECK ((state IN ('succeeded', 'failed', 'cancelled')) = (finished_at IS NOT NULL))
);

-- Runners claim the oldest pending operation first.
CREATE INDEX operations_pending_idx ON operations (created_at) WHERE state = 'pending';
-- The sweep finds running operations whose lease expired.
CREATE INDEX operations_lease_idx ON operations (lease_until) WHERE state = 'running';
-- Listing: newest first, with filters.
CREATE INDEX operations_created_idx ON operations (created_at DESC, id DESC);
CREATE INDEX operations_target_idx ON operations (target_id, created_at DESC) WHERE target_id IS NOT NULL;
CREATE INDEX operations_type_idx ON operations (type, created_at DESC);
CREATE INDEX operations_state_idx ON operations (state, created_at DESC);

-- Periodic jobs leased in the database so only one engine runs each at a time (convention 4).
CREATE TABLE job_leases (
  name text PRIMARY KEY,
  holder text NOT NULL,
  lease_until timestamptz NOT NULL,
  last_started_at timestamptz,
  last_finished_at timestamptz
);
