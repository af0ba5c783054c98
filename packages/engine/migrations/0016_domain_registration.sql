-- Domain registration (issue 5 items 1 and 6): data domains carry their disks' metadata and their VMs'
-- configurations (OVF) under `master/`, so another engine can register them after an import.

-- What the engine last wrote under a domain's master/ tree: the OVF-store controller is level-
-- triggered (desired files from the database vs. this record), so it rewrites only what changed and
-- removes files whose disk or VM is gone. Not the truth about storage: a missing row rewrites a file.
CREATE TABLE domain_metadata_files (
  storage_domain_id uuid NOT NULL REFERENCES storage_domains (id) ON DELETE CASCADE,
  -- Relative to the domain's master/ directory: disks/<disk id>.json or vms/<vm id>.ovf.
  path              text NOT NULL CHECK (path ~ '^(disks/[0-9a-f-]{36}\.json|vms/[0-9a-f-]{36}\.ovf)$'),
  -- sha256 of the content written.
  digest            text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
  written_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (storage_domain_id, path)
);

INSERT INTO operation_types (name, description) VALUES
  ('disk.register', 'Register a disk found on an imported data domain (its volumes and chain)'),
  ('vm.register', 'Register a VM found on an imported data domain, with its disks');
