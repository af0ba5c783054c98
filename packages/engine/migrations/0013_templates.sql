-- Templates (issue 5 item 5). A template is a frozen VM shape plus disks whose single volume is a
-- flattened, read-only base. Thin clones are VMs whose disks' first volume is a qcow2 overlay with the
-- template volume as parent (volumes.parent_id, same storage domain); full clones are independent copies.

CREATE TABLE templates (
  id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name               text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' AND name !~ '\.\.'),
  description        text NOT NULL DEFAULT '' CHECK (length(description) <= 4096),
  cluster_id         uuid NOT NULL REFERENCES clusters (id) ON DELETE RESTRICT,
  -- Template versions: a sub-version points at its base template (null = a base template itself).
  version_of         uuid REFERENCES templates (id) ON DELETE RESTRICT,
  version_number     integer NOT NULL DEFAULT 1 CHECK (version_number >= 1),
  cpus               integer NOT NULL CHECK (cpus BETWEEN 1 AND 64),
  memory_mib         integer NOT NULL CHECK (memory_mib BETWEEN 16 AND 1048576),
  os_type            text NOT NULL DEFAULT 'other_linux',
  boot_order         jsonb NOT NULL DEFAULT '["disk"]'::jsonb,
  nics               jsonb NOT NULL DEFAULT '[]'::jsonb,
  -- SET NULL: the source VM may be deleted; the template stands on its own copies.
  created_from_vm_id uuid REFERENCES vms (id) ON DELETE SET NULL,
  -- locked: its disks are being copied; illegal: the copy failed half way.
  state              text NOT NULL DEFAULT 'locked' CHECK (state IN ('locked', 'ok', 'illegal')),
  version            integer NOT NULL DEFAULT 1,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  CHECK (version_of IS NULL OR version_of <> id)
);
CREATE UNIQUE INDEX templates_name_key ON templates (lower(name));
CREATE INDEX templates_name_idx ON templates (name, id);
CREATE INDEX templates_created_at_idx ON templates (created_at, id);
CREATE INDEX templates_cluster_id_idx ON templates (cluster_id);
CREATE UNIQUE INDEX templates_version_key ON templates (version_of, version_number)
  WHERE version_of IS NOT NULL;

CREATE TABLE template_disks (
  template_id uuid NOT NULL REFERENCES templates (id) ON DELETE CASCADE,
  -- RESTRICT: the disk (the read-only base) goes only with its template.
  disk_id     uuid NOT NULL UNIQUE REFERENCES disks (id) ON DELETE RESTRICT,
  position    integer NOT NULL CHECK (position BETWEEN 0 AND 15),
  interface   text NOT NULL CHECK (interface IN ('virtio', 'scsi', 'ide', 'sata')),
  bootable    boolean NOT NULL DEFAULT false,
  PRIMARY KEY (template_id, disk_id),
  UNIQUE (template_id, position)
);

INSERT INTO operation_types (name, description) VALUES
  ('template.create', 'Copy a stopped VM''s disks (flattened) into a new template'),
  ('template.delete', 'Delete a template without thin clones, and its disks'),
  ('vm.clone', 'Create a VM''s disks from a template (thin overlays or full copies)');
