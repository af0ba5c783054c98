import type { Executor } from '../db/schema';

/**
 * What the services need from engine-ops' audit log (src/events/audit.ts). Declared here as the
 * seam so services depend on the shape, not on the module; the real `audit` satisfies it.
 */
export interface AuditEntry {
  kind: string;
  severity: 'info' | 'warning' | 'error';
  message: string;
  object?: { kind: string; id: string; name?: string };
  userId?: string | null;
  /** Kept beside the id so the event log still names the user after the account is gone. */
  username?: string | null;
  details?: Record<string, unknown>;
}

export interface AuditRecorder {
  /** Writes one audit event inside the caller's transaction. */
  record(executor: Executor, entry: AuditEntry): Promise<unknown>;
}

/** What services need from the operations registry (src/operations/registry.ts). */
export interface OperationCreator {
  create(
    executor: Executor,
    input: {
      type: string;
      target?: { kind: string; id: string } | null;
      createdBy: string | null;
      input?: Record<string, unknown>;
    },
  ): Promise<{ id: string }>;
}
