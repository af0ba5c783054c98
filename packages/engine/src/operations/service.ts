import type { Operation } from '@vireo/api';
import type { Logger } from 'pino';
import {
  OPERATIONS_CHANNEL,
  type OperationFilter,
  type OperationRow,
  finishOperation,
  getOperation,
  insertOperation,
  listOperations,
  markCancelRequested,
  notifyOperation,
  operationTypeExists,
} from '../db/repositories/operations';
import type { PageRequest, PageResult } from '../db/repositories/list';
import type { Db, Executor } from '../db/schema';
import { Conflict, InvalidInput, NotFound } from '../errors';
import type { Audit } from '../events/audit';
import type { PgListener } from '../events/listener';
import { operationEvent } from './audit-events';
import { isTerminal, toOperationJson } from './wire';

/** Who asked for something, for the audit trail. */
export interface Actor {
  userId: string | null;
  username?: string | null;
}

export interface CreateOperationInput {
  /** One of the types in the `operation_types` table. */
  type: string;
  /** What it acts on; omit for operations on no single object. */
  target?: { kind: string; id: string } | null;
  createdBy: string | null;
  /** For the audit event only (the operation stores the id). */
  createdByName?: string | null;
  /** What the handler needs; stored as given and shown by the API, so never secrets. */
  input?: Record<string, unknown>;
}

export interface OperationServiceOptions {
  db: Db;
  audit: Audit;
  listener: PgListener;
  log: Logger;
}

/** Creating, reading, waiting for and cancelling operations; the runner does the running. */
export class OperationService {
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly knownTypes = new Set<string>();
  private readonly unlisten: (() => void)[] = [];

  constructor(private readonly opts: OperationServiceOptions) {}

  /** Starts hearing about operation changes made by any engine sharing the database. */
  start(): void {
    this.unlisten.push(
      this.opts.listener.on(OPERATIONS_CHANNEL, (payload) => {
        const id = parseNotification(payload)?.id;
        if (id) this.wake(id);
      }),
      // Changes during a reconnect were not heard: every waiter re-reads.
      this.opts.listener.onReconnect(() => {
        for (const id of this.waiters.keys()) this.wake(id);
      }),
    );
  }

  stop(): void {
    for (const u of this.unlisten.splice(0)) u();
    for (const id of this.waiters.keys()) this.wake(id);
  }

  /**
   * Queues an operation inside the caller's transaction (pass it as `executor`): the operation
   * exists exactly when the change that asked for it does, and runners hear of it on commit.
   */
  async create(executor: Executor, input: CreateOperationInput): Promise<Operation> {
    // Checked first rather than left to the foreign key: a failed statement would abort the
    // caller's whole transaction with an unhelpful database error.
    // Types only ever appear (migrations add them), so one that exists is remembered: the check
    // was a round trip in every VM start's transaction while it holds its cluster's row lock.
    if (!this.knownTypes.has(input.type)) {
      if (await operationTypeExists(executor, input.type)) this.knownTypes.add(input.type);
    }
    if (!this.knownTypes.has(input.type)) {
      throw new InvalidInput('operation_type_unknown', `there is no operation type ${input.type}`, {
        details: { type: input.type },
      });
    }
    const row = await insertOperation(executor, {
      type: input.type,
      targetKind: input.target?.kind ?? null,
      targetId: input.target?.id ?? null,
      input: input.input ?? {},
      createdBy: input.createdBy,
    });
    await this.opts.audit.record(
      executor,
      operationEvent(row, 'created', { userId: input.createdBy, username: input.createdByName ?? null }),
    );
    await notifyOperation(executor, row.id, 'pending');
    return toOperationJson(row);
  }

  async get(id: string, executor: Executor = this.opts.db): Promise<Operation> {
    return toOperationJson(await this.getRow(id, executor));
  }

  async getRow(id: string, executor: Executor = this.opts.db): Promise<OperationRow> {
    const row = await getOperation(executor, id);
    if (!row)
      throw new NotFound('operation_not_found', `operation ${id} does not exist`, { details: { id } });
    return row;
  }

  list(filter: OperationFilter, page: PageRequest): Promise<PageResult<OperationRow & { sort_key: string }>> {
    return listOperations(this.opts.db, filter, page);
  }

  /**
   * Cancels: a pending operation at once; a running one is asked to stop (its handler's signal
   * aborts, on whichever engine runs it) and ends `cancelled` when the handler gives up.
   * A finished operation cannot be cancelled (409 `operation_finished`).
   */
  async cancel(id: string, actor: Actor): Promise<Operation> {
    const row = await this.opts.db.transaction().execute(async (trx) => {
      const current = await getOperation(trx, id, { forUpdate: true });
      if (!current) {
        throw new NotFound('operation_not_found', `operation ${id} does not exist`, { details: { id } });
      }
      if (isTerminal(current.state)) {
        throw new Conflict(
          'operation_finished',
          `operation ${id} already ${current.state}; nothing to cancel`,
          {
            details: { id, state: current.state },
          },
        );
      }
      if (current.state === 'pending') {
        const done = await finishOperation(trx, id, { state: 'cancelled' }, { fromStates: ['pending'] });
        await this.opts.audit.record(trx, operationEvent(done!, 'cancelled', actor));
        await notifyOperation(trx, id, 'cancelled');
        return done!;
      }
      if (current.cancel_requested) return current;
      const marked = await markCancelRequested(trx, id);
      await this.opts.audit.record(trx, operationEvent(marked!, 'cancel_requested', actor));
      await notifyOperation(trx, id, 'cancel');
      return marked!;
    });
    return toOperationJson(row);
  }

  /**
   * Answers when the operation is finished or `waitMs` passed (or `signal` aborted), whichever is
   * first. Woken by NOTIFY, so a change made by another engine process is seen at once.
   */
  async wait(id: string, waitMs: number, signal?: AbortSignal): Promise<Operation> {
    const deadline = Date.now() + waitMs;
    let woke = false;
    let wakeUp: () => void = () => {};
    const waiter = () => {
      woke = true;
      wakeUp();
    };
    let set = this.waiters.get(id);
    if (!set) {
      set = new Set();
      this.waiters.set(id, set);
    }
    set.add(waiter);
    try {
      for (;;) {
        // Registered before reading, so a change committed after the read still wakes us.
        woke = false;
        const row = await this.getRow(id);
        const remaining = deadline - Date.now();
        if (isTerminal(row.state) || remaining <= 0 || signal?.aborted) return toOperationJson(row);
        if (!woke) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(finish, remaining);
            const onAbort = () => finish();
            signal?.addEventListener('abort', onAbort, { once: true });
            wakeUp = finish;
            function finish() {
              clearTimeout(timer);
              signal?.removeEventListener('abort', onAbort);
              resolve();
            }
          });
          wakeUp = () => {};
        }
      }
    } finally {
      set.delete(waiter);
      if (set.size === 0 && this.waiters.get(id) === set) this.waiters.delete(id);
    }
  }

  /** Number of requests currently long-polling (for tests and metrics). */
  get waiterCount(): number {
    let n = 0;
    for (const s of this.waiters.values()) n += s.size;
    return n;
  }

  private wake(id: string): void {
    for (const w of this.waiters.get(id) ?? []) w();
  }
}

/** Payload of a NOTIFY on {@link OPERATIONS_CHANNEL}; undefined when malformed. */
export function parseNotification(payload: string): { id: string; state: string } | undefined {
  try {
    const v = JSON.parse(payload) as { id?: unknown; state?: unknown };
    if (typeof v.id === 'string' && typeof v.state === 'string') return { id: v.id, state: v.state };
  } catch {
    // ignore: another program may NOTIFY on the channel
  }
  return undefined;
}
