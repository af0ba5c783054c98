-- VM snapshots (issue 5 item 4). A snapshot records, per disk, the volume that froze when it was
-- taken: the disk's active volume at that moment, which from then on is read-only and backs a new
-- overlay. Deleting a snapshot merges the volume above it into its volume; preview runs the VM on a
-- throw-away overlay of the snapshot's volumes, which commit keeps and undo drops.

CREATE TABLE snapshots (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  vm_id            uuid NOT NULL REFERENCES vms (id) ON DELETE CASCADE,
  description      text NOT NULL DEFAULT '' CHECK (length(description) <= 4096),
  -- The RAM and device state were saved too (a file in the first disk's storage domain).
  memory           boolean NOT NULL DEFAULT false,
  memory_domain_id uuid REFERENCES storage_domains (id) ON DELETE RESTRICT,
  -- creating: the operation runs; ok; in_preview: the VM runs on an overlay of it; deleting: its
  -- merge runs; illegal: a step failed half way (the merge marker on storage says where).
  state            text NOT NULL DEFAULT 'creating'
                   CHECK (state IN ('creating', 'ok', 'in_preview', 'deleting', 'illegal')),
  version          integer NOT NULL DEFAULT 1,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  CHECK (NOT memory OR memory_domain_id IS NOT NULL)
);
CREATE INDEX snapshots_vm_id_idx ON snapshots (vm_id, created_at, id);
-- One preview at a time per VM.
CREATE UNIQUE INDEX snapshots_preview_key ON snapshots (vm_id) WHERE state = 'in_preview';

CREATE TABLE snapshot_volumes (
  snapshot_id        uuid NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE,
  disk_id            uuid NOT NULL REFERENCES disks (id) ON DELETE CASCADE,
  -- The disk's volume as it was when the snapshot was taken. NO ACTION (checked at statement end):
  -- merges move the reference to the surviving volume before deleting one, and deleting the whole
  -- disk removes these rows through disk_id in the same statement.
  volume_id          uuid NOT NULL REFERENCES volumes (id),
  -- While previewing: the overlay the VM runs on, and the active volume it replaced (undo restores it).
  preview_volume_id  uuid REFERENCES volumes (id) ON DELETE SET NULL,
  previous_volume_id uuid REFERENCES volumes (id) ON DELETE SET NULL,
  PRIMARY KEY (snapshot_id, disk_id)
);
CREATE INDEX snapshot_volumes_volume_id_idx ON snapshot_volumes (volume_id);
CREATE INDEX snapshot_volumes_disk_id_idx ON snapshot_volumes (disk_id);

INSERT INTO operation_types (name, description) VALUES
  ('vm.snapshot', 'Take a snapshot of a VM''s disks (live when it runs), memory optional'),
  ('snapshot.delete', 'Delete a snapshot, merging its volume (live or cold)'),
  ('snapshot.preview', 'Run a stopped VM on an overlay of a snapshot'),
  ('snapshot.commit', 'Keep the previewed snapshot''s state, dropping what came after it'),
  ('snapshot.undo', 'Drop the preview and return to the state before it'),
  ('snapshot.revert', 'Return a stopped VM to a snapshot, dropping what came after it');
