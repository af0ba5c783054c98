import type { Operation } from '@vireo/api';
import type { Logger } from 'pino';

/** What a handler gets for one run of one operation. */
export interface OperationContext {
  /** The operation as stored when this run began (`input` is what it was created with). */
  op: Operation;
  /**
   * Aborted when the operation is cancelled, the engine shuts down or this engine lost the lease.
   * Check it between steps (`signal.throwIfAborted()`) and pass it to anything that accepts one.
   */
  signal: AbortSignal;
  /** Reports progress (0..1) and what is happening; cheap to call often (writes are coalesced). */
  progress(fraction: number, message?: string): Promise<void>;
  log: Logger;
}

/**
 * Runs one operation type. A handler must be idempotent: after a crash it may run again for an
 * operation it already partly (or fully) did, and must then converge on the same result.
 */
export interface OperationHandler {
  /**
   * Whether an interrupted run (engine stopped or died) may simply run again. A non-resumable
   * operation whose engine went away is marked failed with `engine_restarted` instead.
   */
  resumable: boolean;
  /** Does the work; the resolved object becomes the operation's `result`. Throw to fail it. */
  run(ctx: OperationContext): Promise<Record<string, unknown> | undefined>;
}

const TYPE_RE = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;

/**
 * Handlers per operation type. Registering a handler does not create the type: types are the
 * append-only list in the `operation_types` table, seeded by migrations.
 */
export class OperationRegistry {
  private readonly handlers = new Map<string, OperationHandler>();

  register(type: string, handler: OperationHandler): void {
    if (!TYPE_RE.test(type)) throw new Error(`invalid operation type name ${JSON.stringify(type)}`);
    if (this.handlers.has(type))
      throw new Error(`a handler for operation type ${type} is already registered`);
    this.handlers.set(type, handler);
  }

  get(type: string): OperationHandler | undefined {
    return this.handlers.get(type);
  }

  /** The types this engine can run: runners only claim these. */
  types(): string[] {
    return [...this.handlers.keys()];
  }
}
