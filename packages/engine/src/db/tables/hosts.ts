import type { ColumnType, Generated, Selectable } from 'kysely';

/** `hosts` (migrations/0006_hosts.sql). */
export interface HostsTable {
  id: Generated<string>;
  name: string;
  address: string;
  cluster_id: string;
  state: Generated<string>;
  state_reason: Generated<string>;
  agent_port: Generated<number>;
  certificate_serial: string | null;
  certificate_not_after: Date | null;
  capabilities: unknown | null;
  last_stats: unknown | null;
  last_heartbeat_at: Date | null;
  agent_version: string | null;
  state_changed_at: Generated<Date>;
  version: Generated<number>;
  created_at: ColumnType<Date, never, never>;
  updated_at: Generated<Date>;
}

/** `join_tokens`: single-use enrollment tokens, stored as SHA-256 only. */
export interface JoinTokensTable {
  id: Generated<string>;
  token_hash: Buffer;
  cluster_id: string;
  expires_at: Date;
  used_at: Date | null;
  used_by_host: string | null;
  /** The pre-created host row a deploy's token enrolls (0008_host_deploy.sql). */
  host_id: Generated<string | null>;
  created_by: string | null;
  created_at: ColumnType<Date, never, never>;
}

/** `certificates`: every certificate the engine CA issued, with its expiry. */
export interface CertificatesTable {
  id: Generated<string>;
  kind: 'engine' | 'engine_client' | 'host';
  subject_id: string | null;
  subject_name: string;
  serial: string;
  not_before: Date;
  not_after: Date;
  fingerprint: string;
  issued_at: Generated<Date>;
  superseded_at: Date | null;
}

export interface HostTables {
  hosts: HostsTable;
  join_tokens: JoinTokensTable;
  certificates: CertificatesTable;
}

export type HostRow = Selectable<HostsTable>;
export type CertificateRow = Selectable<CertificatesTable>;
