-- Audit events: what happened, to what, by whom. The id is also the Server-Sent Events id that
-- clients resume from (Last-Event-ID), so it only ever grows.
CREATE TABLE events (
  id bigserial PRIMARY KEY,
  time timestamptz NOT NULL DEFAULT now(),
  kind text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$'),
  severity text NOT NULL CHECK (severity IN ('info', 'warning', 'error', 'audit')),
  message text NOT NULL,
  object_kind text,
  object_id uuid,
  object_name text,
  -- No foreign keys: the audit trail must survive the deletion of the users and objects it names.
  user_id uuid,
  username text,
  operation_id uuid,
  details jsonb NOT NULL DEFAULT '{}'::jsonb
);

CREATE INDEX events_time_idx ON events (time);
-- text_pattern_ops: the kind filter is a prefix (LIKE 'vm.%') whatever the database's collation.
CREATE INDEX events_kind_idx ON events (kind text_pattern_ops, id);
CREATE INDEX events_severity_idx ON events (severity, id);
CREATE INDEX events_object_idx ON events (object_id, id) WHERE object_id IS NOT NULL;
CREATE INDEX events_user_idx ON events (user_id, id) WHERE user_id IS NOT NULL;
CREATE INDEX events_operation_idx ON events (operation_id, id) WHERE operation_id IS NOT NULL;
