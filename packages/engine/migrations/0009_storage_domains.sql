-- Storage domains (issue 5 item 1, ADR 017): where disks, ISO files and exports live. A domain is a
-- directory `<path>/<id>/` on a host (local), on an administrator-mounted file system (posix) or on
-- an NFS export the agent mounts (nfs). The engine writes desired state through actions; the domain
-- controller moves `state` as it activates the domain on hosts.

CREATE TABLE storage_domains (
  id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name                text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
  description         text NOT NULL DEFAULT '' CHECK (length(description) <= 4096),
  kind                text NOT NULL CHECK (kind IN ('data', 'iso', 'export')),
  backend             text NOT NULL CHECK (backend IN ('local', 'posix', 'nfs')),
  -- Null = unattached. RESTRICT: a data center cannot vanish underneath its storage.
  datacenter_id       uuid REFERENCES datacenters (id) ON DELETE RESTRICT,
  -- The one host a local domain lives on. RESTRICT: removing that host must detach it first.
  host_id             uuid REFERENCES hosts (id) ON DELETE RESTRICT,
  -- local/posix: the parent directory on the host(s); nfs: the agent's mount point (derived).
  path                text NOT NULL CHECK (path ~ '^/' AND length(path) <= 1024 AND path !~ '(^|/)\.\.(/|$)'),
  nfs_server          text CHECK (nfs_server ~ '^[A-Za-z0-9][A-Za-z0-9.:\[\]-]{0,252}$'),
  nfs_export          text CHECK (nfs_export ~ '^/' AND length(nfs_export) <= 1024),
  mount_options       text CHECK (mount_options ~ '^[A-Za-z0-9_=.,-]{1,512}$'),
  state               text NOT NULL DEFAULT 'unattached'
                      CHECK (state IN ('unattached', 'active', 'maintenance', 'inactive', 'locked')),
  state_reason        text NOT NULL DEFAULT '',
  format_version      integer NOT NULL DEFAULT 1 CHECK (format_version >= 1),
  total_bytes         bigint,
  free_bytes          bigint,
  capacity_checked_at timestamptz,
  version             integer NOT NULL DEFAULT 1,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  CHECK ((backend = 'local') = (host_id IS NOT NULL)),
  CHECK ((backend = 'nfs') = (nfs_server IS NOT NULL AND nfs_export IS NOT NULL)),
  CHECK (backend = 'nfs' OR mount_options IS NULL),
  -- Only an attached domain can be anything but unattached.
  CHECK ((datacenter_id IS NULL) = (state = 'unattached') OR state = 'locked')
);
-- Names are unique regardless of case, as for data centers.
CREATE UNIQUE INDEX storage_domains_name_key ON storage_domains (lower(name));
CREATE INDEX storage_domains_name_idx ON storage_domains (name, id);
CREATE INDEX storage_domains_created_at_idx ON storage_domains (created_at, id);
CREATE INDEX storage_domains_datacenter_id_idx ON storage_domains (datacenter_id)
  WHERE datacenter_id IS NOT NULL;
CREATE INDEX storage_domains_host_id_idx ON storage_domains (host_id) WHERE host_id IS NOT NULL;

-- A VM's CD-ROM is a file of an ISO domain (replaces the engine-wide ISO directory).
ALTER TABLE vms ADD COLUMN cdrom_storage_domain_id uuid
  REFERENCES storage_domains (id) ON DELETE RESTRICT;
ALTER TABLE vms ADD COLUMN cdrom_file text
  CHECK (cdrom_file ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$' AND cdrom_file !~ '\.\.');
ALTER TABLE vms ADD CONSTRAINT vms_cdrom_domain_file_check
  CHECK ((cdrom_storage_domain_id IS NULL) = (cdrom_file IS NULL));
CREATE INDEX vms_cdrom_storage_domain_id_idx ON vms (cdrom_storage_domain_id)
  WHERE cdrom_storage_domain_id IS NOT NULL;

-- This engine's identity, written into the metadata of the domains it owns so that two engines never
-- use one domain at once; a detached domain has no owner and can be imported elsewhere.
CREATE TABLE engine_identity (
  singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  id         uuid NOT NULL DEFAULT gen_random_uuid(),
  created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO engine_identity DEFAULT VALUES;

INSERT INTO operation_types (name, description) VALUES
  ('storage_domain.attach', 'Claim a storage domain for a data center and write its metadata'),
  ('storage_domain.activate', 'Activate a storage domain on the hosts of its data center'),
  ('storage_domain.maintenance', 'Deactivate a storage domain on every host (maintenance)'),
  ('storage_domain.detach', 'Deactivate a storage domain and detach it from its data center'),
  ('storage_domain.import', 'Read a storage domain''s metadata from storage and register it');
