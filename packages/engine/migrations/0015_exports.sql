-- Export and import of VMs and templates (issue 5 item 6). What an export domain holds is read from
-- the storage itself (OVF files and OVAs), never from this database, so another engine's exports
-- show too: only the operation types are new.

INSERT INTO operation_types (name, description) VALUES
  ('vm.export', 'Copy a stopped VM''s disks (flattened) and its OVF to an export domain, or pack an OVA'),
  ('template.export', 'Copy a template''s disks and its OVF to an export domain, or pack an OVA'),
  ('vm.import', 'Create a VM and copy its disks from an OVF or OVA on an export domain'),
  ('template.import', 'Create a template and copy its disks from an OVF or OVA on an export domain');
