-- Image transfers (issue 5 item 3, ADR 018): uploads of ISO and disk images into a storage domain and
-- downloads of disk images, streamed through the engine to the agent of a host that sees the domain.
-- A transfer is resumable by offset: `bytes_done` is what the host has durably received.

CREATE TABLE image_transfers (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  direction         text NOT NULL CHECK (direction IN ('upload', 'download')),
  -- RESTRICT: a domain cannot be removed while a transfer names it (finish or cancel it first).
  storage_domain_id uuid NOT NULL REFERENCES storage_domains (id) ON DELETE RESTRICT,
  -- Disk transfers: the disk and the volume the bytes go to or come from. SET NULL: the history
  -- stays when the disk goes (a failed upload removes the disk it created).
  disk_id           uuid REFERENCES disks (id) ON DELETE SET NULL,
  volume_id         uuid,
  -- ISO uploads: the file name inside the ISO domain's images/iso/.
  iso_file          text CHECK (iso_file ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$' AND iso_file !~ '\.\.'),
  -- Whether the transfer created its disk (a failed or cancelled upload then removes it).
  created_disk      boolean NOT NULL DEFAULT false,
  format            text NOT NULL CHECK (format IN ('raw', 'qcow2', 'iso')),
  state             text NOT NULL DEFAULT 'initializing'
                    CHECK (state IN ('initializing', 'transferring', 'finalizing', 'finished',
                                     'failed', 'cancelled')),
  bytes_done        bigint NOT NULL DEFAULT 0 CHECK (bytes_done >= 0),
  size_bytes        bigint NOT NULL CHECK (size_bytes > 0),
  -- Lower-case hex SHA-256 of the whole stream, when the client gave one (checked at finalize).
  sha256            text CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  -- The host whose agent holds the staging file. SET NULL: a removed host ends the transfer.
  host_id           uuid REFERENCES hosts (id) ON DELETE SET NULL,
  operation_id      uuid REFERENCES operations (id) ON DELETE SET NULL,
  -- {code, message, details} when state = 'failed'.
  error             jsonb,
  created_by        uuid,
  version           integer NOT NULL DEFAULT 1,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  finished_at       timestamptz,
  CHECK (bytes_done <= size_bytes),
  CHECK (disk_id IS NULL OR iso_file IS NULL),
  CHECK ((format = 'iso') = (iso_file IS NOT NULL)),
  CHECK (direction = 'upload' OR iso_file IS NULL)
);
CREATE INDEX image_transfers_created_at_idx ON image_transfers (created_at, id);
CREATE INDEX image_transfers_disk_id_idx ON image_transfers (disk_id) WHERE disk_id IS NOT NULL;
-- One unfinished upload per ISO file name per domain.
CREATE UNIQUE INDEX image_transfers_iso_active_key ON image_transfers (storage_domain_id, lower(iso_file))
  WHERE iso_file IS NOT NULL AND state IN ('initializing', 'transferring', 'finalizing');
-- One unfinished transfer per disk: two writers (or a reader and a writer) never share a volume.
CREATE UNIQUE INDEX image_transfers_disk_active_key ON image_transfers (disk_id)
  WHERE disk_id IS NOT NULL AND state IN ('initializing', 'transferring', 'finalizing');

INSERT INTO operation_types (name, description) VALUES
  ('image_transfer.upload', 'Receive an ISO or disk image, verify it and move it into its storage domain'),
  ('image_transfer.download', 'Serve a disk image for download');
