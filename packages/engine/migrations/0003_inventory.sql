-- Data centers and clusters: the top of the inventory tree.

CREATE TABLE datacenters (
  id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name                  text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
  description           text NOT NULL DEFAULT '' CHECK (length(description) <= 4096),
  storage_format        text NOT NULL DEFAULT 'v1',
  compatibility_version text NOT NULL DEFAULT '1.0',
  version               integer NOT NULL DEFAULT 1,
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now()
);
-- Names are unique regardless of case: "Prod" and "prod" side by side would confuse people.
CREATE UNIQUE INDEX datacenters_name_key ON datacenters (lower(name));
CREATE INDEX datacenters_name_idx ON datacenters (name, id);
CREATE INDEX datacenters_created_at_idx ON datacenters (created_at, id);

CREATE TABLE clusters (
  id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- RESTRICT: a data center with clusters cannot vanish underneath them, even by a racing delete.
  datacenter_id             uuid NOT NULL REFERENCES datacenters (id) ON DELETE RESTRICT,
  name                      text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
  description               text NOT NULL DEFAULT '' CHECK (length(description) <= 4096),
  cpu_type                  text NOT NULL DEFAULT 'qemu64',
  memory_overcommit_percent integer NOT NULL DEFAULT 100
                            CHECK (memory_overcommit_percent BETWEEN 100 AND 400),
  scheduling_policy         text NOT NULL DEFAULT 'none',
  version                   integer NOT NULL DEFAULT 1,
  created_at                timestamptz NOT NULL DEFAULT now(),
  updated_at                timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX clusters_name_key ON clusters (datacenter_id, lower(name));
CREATE INDEX clusters_datacenter_id_idx ON clusters (datacenter_id);
CREATE INDEX clusters_name_idx ON clusters (name, id);
CREATE INDEX clusters_created_at_idx ON clusters (created_at, id);

-- As in oVirt, a fresh installation has a Default data center with a Default cluster.
WITH dc AS (
  INSERT INTO datacenters (name, description)
  VALUES ('Default', 'The default data center')
  RETURNING id
)
INSERT INTO clusters (datacenter_id, name, description)
SELECT id, 'Default', 'The default cluster' FROM dc;
