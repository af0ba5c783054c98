-- Disk encryption (issue 5 item 7): LUKS inside qcow2. Each encrypted disk has its own random key;
-- the database keeps it only wrapped (AES-256-GCM) under the engine's master key, which lives in a
-- 0600 file in the engine's secrets directory, never in the database.

ALTER TABLE disks ADD COLUMN encrypted boolean NOT NULL DEFAULT false;
-- LUKS in qcow2 only: a raw image has no header to carry the key slots.
ALTER TABLE disks ADD CONSTRAINT disks_encrypted_qcow2 CHECK (NOT encrypted OR format = 'qcow2');

CREATE TABLE disk_keys (
  disk_id       uuid PRIMARY KEY REFERENCES disks (id) ON DELETE CASCADE,
  ciphertext    bytea NOT NULL CHECK (length(ciphertext) = 32),
  iv            bytea NOT NULL CHECK (length(iv) = 12),
  tag           bytea NOT NULL CHECK (length(tag) = 16),
  -- Fingerprint of the master key that wrapped it (a restore onto another engine is detected).
  master_key_id text NOT NULL CHECK (master_key_id ~ '^[0-9a-f]{16}$'),
  created_at    timestamptz NOT NULL DEFAULT now()
);
