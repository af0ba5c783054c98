-- Disks as first-class objects (issue 5 item 2). A disk lives in one storage domain and is a chain of
-- volumes (snapshots add overlays); exactly one volume per disk is the active leaf QEMU writes to.
-- A volume's file is `<domain path>/<domain id>/images/<disk id>/<volume id>` (ADR 016).

CREATE TABLE disks (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- An alias, as oVirt's: not unique (two VMs may each have a disk called "root").
  name              text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
  description       text NOT NULL DEFAULT '' CHECK (length(description) <= 4096),
  -- RESTRICT: a domain holding disks cannot be removed underneath them.
  storage_domain_id uuid NOT NULL REFERENCES storage_domains (id) ON DELETE RESTRICT,
  -- Virtual size the guest sees. 1 MiB .. 64 TiB.
  size_bytes        bigint NOT NULL CHECK (size_bytes BETWEEN 1048576 AND 70368744177664),
  format            text NOT NULL CHECK (format IN ('qcow2', 'raw')),
  preallocation     text NOT NULL DEFAULT 'off'
                    CHECK (preallocation IN ('off', 'metadata', 'falloc', 'full')),
  -- May be attached to several VMs at once (cluster file systems); raw only, as oVirt requires.
  shareable         boolean NOT NULL DEFAULT false,
  -- locked: an operation (create, move, copy, extend) is working on it; illegal: its volumes are
  -- not trustworthy (a failed move) and it cannot be used until repaired or deleted.
  state             text NOT NULL DEFAULT 'ok' CHECK (state IN ('ok', 'locked', 'illegal')),
  version           integer NOT NULL DEFAULT 1,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  CHECK (NOT shareable OR format = 'raw'),
  CHECK (format = 'qcow2' OR preallocation <> 'metadata')
);
CREATE INDEX disks_name_idx ON disks (name, id);
CREATE INDEX disks_created_at_idx ON disks (created_at, id);
CREATE INDEX disks_size_idx ON disks (size_bytes, id);
CREATE INDEX disks_storage_domain_id_idx ON disks (storage_domain_id);

CREATE TABLE volumes (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  disk_id     uuid NOT NULL REFERENCES disks (id) ON DELETE CASCADE,
  -- The backing volume: the previous layer of the same disk, or a template's base volume (another
  -- disk of the same domain). NO ACTION (checked at statement end): a disk's whole chain can go in
  -- one delete, but a template base cannot vanish under a thin clone.
  parent_id   uuid REFERENCES volumes (id),
  format      text NOT NULL CHECK (format IN ('qcow2', 'raw')),
  active      boolean NOT NULL DEFAULT true,
  state       text NOT NULL DEFAULT 'ok' CHECK (state IN ('ok', 'merging', 'illegal', 'locked')),
  -- Virtual size of this layer.
  size_bytes  bigint NOT NULL CHECK (size_bytes >= 0),
  -- false until an agent has created the file: disks of a new VM are created on the host the VM
  -- first starts on (the scheduler only picks hosts that see the domain).
  on_storage  boolean NOT NULL DEFAULT true,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  CHECK (parent_id IS NULL OR parent_id <> id)
);
-- Exactly one active leaf per disk (at most one here; services create it with the disk).
CREATE UNIQUE INDEX volumes_active_key ON volumes (disk_id) WHERE active;
CREATE INDEX volumes_disk_id_idx ON volumes (disk_id);
CREATE INDEX volumes_parent_id_idx ON volumes (parent_id) WHERE parent_id IS NOT NULL;

CREATE TABLE vm_disk_attachments (
  vm_id      uuid NOT NULL REFERENCES vms (id) ON DELETE CASCADE,
  disk_id    uuid NOT NULL REFERENCES disks (id) ON DELETE CASCADE,
  -- Position in the VM's disk list (the order the guest sees them).
  position   integer NOT NULL CHECK (position BETWEEN 0 AND 15),
  interface  text NOT NULL CHECK (interface IN ('virtio', 'scsi', 'ide', 'sata')),
  bootable   boolean NOT NULL DEFAULT false,
  -- An inactive attachment stays on the VM but is not given to QEMU (oVirt's "deactivate").
  active     boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (vm_id, disk_id),
  UNIQUE (vm_id, position)
);
-- At most one bootable disk per VM.
CREATE UNIQUE INDEX vm_disk_attachments_bootable_key ON vm_disk_attachments (vm_id) WHERE bootable;
CREATE INDEX vm_disk_attachments_disk_id_idx ON vm_disk_attachments (disk_id);

INSERT INTO operation_types (name, description) VALUES
  ('disk.create', 'Create a disk''s volume in its storage domain'),
  ('disk.delete', 'Delete a disk and its volumes from storage'),
  ('disk.extend', 'Grow a disk (online with block_resize when its VM runs)'),
  ('disk.move', 'Copy a disk to another storage domain and remove the original'),
  ('disk.copy', 'Copy a disk to a new disk in a storage domain'),
  ('disk.attach', 'Attach a disk to a VM (hot-plug when it runs)'),
  ('disk.detach', 'Detach a disk from a VM (hot-unplug when it runs)');

-- VM disks are attachments of disks now. Nothing has shipped with vm_disks (issue 4 only created blank
-- images in a host directory, which no domain describes), so there is nothing to carry over.
DROP TABLE vm_disks;
