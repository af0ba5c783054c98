import type { Operation } from '@vireo/api';
import type { Logger } from 'pino';
import type { OperationFilter, OperationRow } from '../db/repositories/operations';
import type { PageRequest, PageResult } from '../db/repositories/list';
import type { Db, Executor } from '../db/schema';
import type { Events } from '../events';
import { OperationRegistry } from './registry';
import { OperationRunner, type OperationRunnerOptions } from './runner';
import { type Actor, type CreateOperationInput, OperationService } from './service';
import { EVENTS_PURGE, eventsPurgeHandler } from './types/events-purge';

export type { OperationContext, OperationHandler } from './registry';
export type { Actor, CreateOperationInput } from './service';
export { OperationRegistry } from './registry';
export { OperationRunner } from './runner';
export { operationLocation, toOperationJson } from './wire';

export interface OperationsOptions {
  db: Db;
  log: Logger;
  /** Provides the audit log and the shared LISTEN connection. */
  events: Pick<Events, 'audit' | 'listener'> & Partial<Pick<Events, 'progress'>>;
  /** Runner tuning (lease, poll, concurrency…); mostly for tests. */
  runner?: Partial<
    Omit<OperationRunnerOptions, 'db' | 'log' | 'registry' | 'audit' | 'listener' | 'progress'>
  >;
  /** Rows deleted per transaction by `events.purge`. Default 1000. */
  purgeBatchSize?: number;
}

/** Operations for services, routes and main.ts. */
export interface Operations {
  registry: OperationRegistry;
  runner: OperationRunner;
  /** Queues an operation inside the caller's transaction; see OperationService.create. */
  create(executor: Executor, input: CreateOperationInput): Promise<Operation>;
  get(id: string): Promise<Operation>;
  getRow(id: string): Promise<OperationRow>;
  /** One page of operations (see http/list.ts for the page request). */
  list(filter: OperationFilter, page: PageRequest): Promise<PageResult<OperationRow & { sort_key: string }>>;
  cancel(id: string, actor: Actor): Promise<Operation>;
  /** Long-poll: resolves when finished or after `waitMs`. */
  wait(id: string, waitMs: number, signal?: AbortSignal): Promise<Operation>;
  /** Requests long-polling right now. */
  readonly waiterCount: number;
  /** Starts hearing changes and running operations. Needs `events.start()` first. */
  start(): void;
  /** Stops the runner (gracefully) and wakes every waiter. */
  stop(): Promise<void>;
}

export function createOperations(opts: OperationsOptions): Operations {
  const registry = new OperationRegistry();
  const { audit, listener } = opts.events;
  registry.register(
    EVENTS_PURGE,
    eventsPurgeHandler({
      db: opts.db,
      audit,
      ...(opts.purgeBatchSize === undefined ? {} : { batchSize: opts.purgeBatchSize }),
    }),
  );
  const service = new OperationService({ db: opts.db, audit, listener, log: opts.log });
  const runner = new OperationRunner({
    ...opts.runner,
    db: opts.db,
    log: opts.log,
    registry,
    audit,
    listener,
    ...(opts.events.progress ? { progress: opts.events.progress } : {}),
  });
  return {
    registry,
    runner,
    create: (executor, input) => service.create(executor, input),
    get: (id) => service.get(id),
    getRow: (id) => service.getRow(id),
    list: (filter, page) => service.list(filter, page),
    cancel: (id, actor) => service.cancel(id, actor),
    wait: (id, waitMs, signal) => service.wait(id, waitMs, signal),
    get waiterCount() {
      return service.waiterCount;
    },
    start() {
      service.start();
      runner.start();
    },
    async stop() {
      await runner.stop();
      service.stop();
    },
  };
}
