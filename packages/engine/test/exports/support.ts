import pino from 'pino';
import { registerExportOperations } from '../../src/controllers/export-operations';
import { createExportService, type ExportService } from '../../src/services/exports';
import { insertDataDomain, insertUpHost } from '../disks/support';
import { createOpsApp, type OpsApp } from '../operations/support';
import { FakeHub } from '../vms/fake-hub';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers, checked field by field by the assertions
export type Json = Record<string, any>;

/** The export service and its operations on a real database, with a recorded fake agent. */
export interface ExportFixture {
  t: OpsApp;
  hub: FakeHub;
  service: ExportService;
  clusterId: string;
  /** The one up host; it sees both domains and is connected. */
  hostId: string;
  /** A local data domain of that host. */
  dataId: string;
  /** A local export domain of that host. */
  expId: string;
  /** The operation `id` once it ended (waits up to 10 s). */
  done(id: string): Promise<Json>;
}

/**
 * One host in the Default cluster with a data and an export domain (names start with `prefix`), the
 * export operations registered on the real runner, and the export service over the same fake hub.
 */
export async function createExportFixture(prefix: string): Promise<ExportFixture> {
  const hub = new FakeHub();
  const t = await createOpsApp({
    register: (ops, ctx) => registerExportOperations(ops.registry, { ...ctx, hub: hub.asHub() }),
  });
  const service = createExportService({
    db: t.t.db,
    hub: hub.asHub(),
    audit: t.events.audit,
    operations: t.operations,
    log: pino({ level: 'silent' }),
  });
  const clusterId = (
    await t.t.db.selectFrom('clusters').select('id').where('name', '=', 'Default').executeTakeFirstOrThrow()
  ).id;
  const hostId = await insertUpHost(t.t.db, { name: `${prefix}-a`, clusterId });
  const dataId = await insertDataDomain(t.t.db, {
    name: `${prefix}-data`,
    path: `/srv/${prefix}-data`,
    hostId,
  });
  const expId = await insertDataDomain(t.t.db, {
    name: `${prefix}-exports`,
    path: `/srv/${prefix}-exports`,
    hostId,
    kind: 'export',
  });
  hub.connected.add(hostId);
  const done = async (id: string): Promise<Json> =>
    (
      await t.app.inject({ method: 'GET', url: `/api/v1/operations/${id}?wait=10`, headers: t.auth() })
    ).json();
  return { t, hub, service, clusterId, hostId, dataId, expId, done };
}
