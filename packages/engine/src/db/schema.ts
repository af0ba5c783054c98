import type { Kysely, Transaction } from 'kysely';
import type { AuthTables } from './tables/auth';
import type { DiskTables } from './tables/disks';
import type { EventTables } from './tables/events';
import type { HostTables } from './tables/hosts';
import type { InventoryTables } from './tables/inventory';
import type { OperationTables } from './tables/operations';
import type { OvfStoreTables } from './tables/ovf-store';
import type { SnapshotTables } from './tables/snapshots';
import type { StorageTables } from './tables/storage';
import type { TransferTables } from './tables/transfers';
import type { VmTables } from './tables/vms';

/**
 * Every table the engine knows, for Kysely's typed queries. Each area declares its own tables in
 * tables/<area>.ts next to the migration that creates them; this interface only joins them.
 */
export interface Database
  extends AuthTables,
    InventoryTables,
    OperationTables,
    EventTables,
    VmTables,
    HostTables,
    StorageTables,
    DiskTables,
    SnapshotTables,
    TransferTables,
    OvfStoreTables {}

export type Db = Kysely<Database>;
/** Either the pool-backed database or an open transaction: repositories accept both. */
export type Executor = Kysely<Database> | Transaction<Database>;
