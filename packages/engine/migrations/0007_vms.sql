-- Virtual machines and their disks (issue 4). The engine writes desired state; only the VM monitor
-- writes the observed `state` (design.md convention 4).

CREATE TABLE vms (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name           text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' AND name !~ '\.\.'),
  -- RESTRICT: a cluster with VMs cannot be deleted underneath them.
  cluster_id     uuid NOT NULL REFERENCES clusters (id) ON DELETE RESTRICT,
  -- Where the VM runs or last ran; null until it is placed. SET NULL: removing a host forgets it.
  host_id        uuid REFERENCES hosts (id) ON DELETE SET NULL,
  desired_state  text NOT NULL DEFAULT 'down' CHECK (desired_state IN ('down', 'up', 'paused')),
  state          text NOT NULL DEFAULT 'down'
                 CHECK (state IN ('down', 'starting', 'up', 'paused', 'powering_down', 'migrating',
                                  'unknown')),
  state_reason   text NOT NULL DEFAULT 'created',
  state_changed_at timestamptz NOT NULL DEFAULT now(),
  cpus           integer NOT NULL CHECK (cpus BETWEEN 1 AND 64),
  memory_mib     integer NOT NULL CHECK (memory_mib BETWEEN 16 AND 1048576),
  os_type        text NOT NULL DEFAULT 'other_linux',
  -- Ordered list of 'cdrom' | 'disk' | 'network'.
  boot_order     jsonb NOT NULL DEFAULT '["disk"]'::jsonb,
  -- ISO file name inside the configured ISO directory; null for an empty drive.
  cdrom_image    text CHECK (cdrom_image ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$'),
  nics           jsonb NOT NULL DEFAULT '[]'::jsonb,
  console_type   text NOT NULL DEFAULT 'vnc' CHECK (console_type IN ('vnc')),
  version        integer NOT NULL DEFAULT 1,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX vms_name_key ON vms (lower(name));
CREATE INDEX vms_name_idx ON vms (name, id);
CREATE INDEX vms_created_at_idx ON vms (created_at, id);
CREATE INDEX vms_cluster_id_idx ON vms (cluster_id);
CREATE INDEX vms_host_id_idx ON vms (host_id) WHERE host_id IS NOT NULL;

CREATE TABLE vm_disks (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  vm_id      uuid NOT NULL REFERENCES vms (id) ON DELETE CASCADE,
  -- Position in the VM's disk list (the order the guest sees them).
  position   integer NOT NULL CHECK (position BETWEEN 0 AND 15),
  size_gib   integer NOT NULL CHECK (size_gib BETWEEN 1 AND 65536),
  format     text NOT NULL CHECK (format IN ('qcow2', 'raw')),
  interface  text NOT NULL CHECK (interface IN ('virtio', 'scsi', 'ide', 'sata')),
  bootable   boolean NOT NULL DEFAULT false,
  -- The image's path on the host once the agent created it (first start); null before.
  path       text,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (vm_id, position)
);
-- At most one bootable disk per VM.
CREATE UNIQUE INDEX vm_disks_bootable_key ON vm_disks (vm_id) WHERE bootable;

INSERT INTO operation_types (name, description) VALUES
  ('vm.start', 'Place a VM on a host if needed and start it'),
  ('vm.shutdown', 'Ask a VM''s guest to power off (ACPI), then wait until it is down'),
  ('vm.stop', 'Power a VM off at once'),
  ('vm.reboot', 'Reboot a running VM'),
  ('vm.suspend', 'Pause a running VM''s CPUs'),
  ('vm.resume', 'Resume a paused VM'),
  ('vm.delete', 'Remove a VM that is down, and its disks on request');
