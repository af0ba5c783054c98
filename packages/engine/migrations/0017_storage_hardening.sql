-- Storage hardening (session 3, ADR 023). Memory snapshot restore: after a preview or revert of a
-- snapshot that saved the VM's RAM, the VM's next start resumes the guest from that state instead
-- of booting. One pending restore per VM, consumed (deleted) by the start that tries it; it goes
-- with the VM or the snapshot.

CREATE TABLE vm_memory_restores (
  vm_id       uuid PRIMARY KEY REFERENCES vms (id) ON DELETE CASCADE,
  snapshot_id uuid NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX vm_memory_restores_snapshot_id_idx ON vm_memory_restores (snapshot_id);
