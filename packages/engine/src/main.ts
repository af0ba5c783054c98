import type { HealthReport } from '@vireo/api';
import type { Logger } from 'pino';
import { createHostManagement } from './agents';
import { runCli } from './cli/run';
import { type EngineConfig, formatListen } from './config';
import { ConsoleTickets, consoleTicketTtlMs } from './console/tickets';
import { createConsoleService } from './console/service';
import { localStorageWaitMsFromEnv, startLocalStorageSetup } from './controllers/local-storage';
import { OvfStoreController, ovfStoreMsFromEnv } from './controllers/ovf-store';
import { StorageDomainController, storageRefreshMsFromEnv } from './controllers/storage-domain-controller';
import { SnapshotReconciler, snapshotReconcileMsFromEnv } from './controllers/snapshot-reconciler';
import { createVmManagement, hostPathsFromEnv } from './controllers/vm-runtime';
import { openDb } from './db/connection';
import { loadMigrations } from './db/migrate';
import { createEvents } from './events';
import { buildApp } from './http/app';
import { resolveWebRoot } from './http/plugins/web';
import { type EngineServer, listen, publicUrl } from './http/server';
import { EngineCa, serverCertificateNames } from './pki/engine-ca';
import { EngineIdentity, engineCertValidityFromEnv } from './pki/engine-identity';
import { createOperations } from './operations';
import { loadOrCreateMasterKey } from './secrets/master-key';
import { createServices } from './services';
import { registerExportOperations } from './controllers/export-operations';
import { createExportService } from './services/exports';
import { createRegistrationService, registerRegistrationOperations } from './services/domain-registration';
import { TransferExpiry, transferIdleTimeoutMsFromEnv } from './transfers/expiry';
import { registerTransferOperations } from './transfers/operation';
import { createTransferService } from './transfers/service';
import { StatsHistory, statsHistorySettingsFromEnv } from './stats/history';
import { migrateDatabase, startDatabase } from './setup/database';

/** A started engine; `stop()` shuts it down in order and resolves when everything is released. */
export interface RunningEngine {
  /** `https://localhost:PORT` (or the configured host); what the `ready at` line prints. */
  url: string;
  stop(reason: string): Promise<void>;
  /** Resolves with an exit status when the engine stops on its own (e.g. PostgreSQL died). */
  failed: Promise<number>;
}

/** Something started after the HTTP server and stopped before it: operation runner, notifiers. */
interface Background {
  name: string;
  start(): Promise<void> | void;
  stop(): Promise<void> | void;
}

/**
 * The composition root: config → database (embedded or URL) → migrations → pool → services →
 * HTTPS → background loops. Every step registers how to undo itself, so a failure half-way and a
 * normal shutdown release the same things in reverse order.
 */
export async function runEngine(config: EngineConfig, root: Logger, version: string): Promise<RunningEngine> {
  const log = root.child({ module: 'engine:main' });
  const undo: Array<{ what: string; run: () => Promise<void> | void }> = [];
  let reportFailure: (status: number) => void = () => {};
  const failed = new Promise<number>((resolve) => {
    reportFailure = resolve;
  });
  let stopping: Promise<void> | undefined;
  const stop = (reason: string) => {
    stopping ??= (async () => {
      log.info({ reason }, 'engine stopping');
      for (const step of undo.reverse()) {
        try {
          await step.run();
        } catch (err) {
          log.warn({ err }, `shutdown: ${step.what} failed`);
        }
      }
      log.info('engine stopped');
    })();
    return stopping;
  };

  try {
    const ca = EngineCa.load(config.paths);
    const validityMs = engineCertValidityFromEnv(process.env);
    const identity = await EngineIdentity.load({
      ca,
      paths: config.paths,
      serverNames: config.insecureHttp
        ? undefined
        : serverCertificateNames({ serverNames: config.serverNames, listenHost: config.listen.host }),
      ...(validityMs ? { validityMs } : {}),
      log: root,
    });
    const tls = identity.server;

    const database = await startDatabase(config, root, (code, signal) => {
      log.fatal({ code, signal }, 'the embedded PostgreSQL exited unexpectedly; stopping the engine');
      reportFailure(1);
    });
    undo.push({ what: 'stop PostgreSQL', run: () => database.stop() });
    log.info({ database: database.description }, 'database started');

    const schema = await migrateDatabase(database.target, root);
    const latest = loadMigrations().length;

    const handle = openDb(database.target, {
      max: 10,
      // pg attaches the whole client (connection internals) to this error: log only what helps.
      onError: (err) => {
        if (stopping) return; // expected while PostgreSQL shuts down with us
        log.warn(
          { code: (err as { code?: string }).code, error: err.message },
          'idle database connection lost',
        );
      },
    });
    undo.push({ what: 'close the database pool', run: () => handle.close() });

    const health = async (): Promise<HealthReport> => {
      try {
        const r = await withTimeout(
          handle.pool.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations'),
          2000,
        );
        const current = r.rows[0]?.v ?? 0;
        return {
          status: current === latest ? 'ok' : 'degraded',
          version,
          database: 'ok',
          schema: { current, latest, pending: Math.max(0, latest - current) },
        };
      } catch {
        return {
          status: 'degraded',
          version,
          database: 'unavailable',
          schema: { current: schema.current, latest, pending: 0 },
        };
      }
    };

    // The LISTEN connection and event fan-out must run before requests are served (streams and
    // long polls rely on them); the operation runner starts once the engine is reachable.
    const events = createEvents({ db: handle.db, pool: handle.pool, log: root });
    await events.start();
    undo.push({ what: 'stop the event notifier', run: () => events.stop() });
    const operations = createOperations({ db: handle.db, log: root, events });
    const background: Background[] = [
      { name: 'the operation runner', start: () => operations.start(), stop: () => operations.stop() },
    ];
    const hostManagement = await createHostManagement({
      ca,
      paths: config.paths,
      identity,
      db: handle.db,
      audit: events.audit,
      log: root,
      version,
      operations,
    });
    // Wraps encrypted disks' keys; created on first start, 0600 in the secrets directory.
    const masterKey = loadOrCreateMasterKey(config.paths.secretsDir);
    const vmManagement = createVmManagement({
      masterKey,
      db: handle.db,
      hub: hostManagement.hub,
      registry: operations.registry,
      audit: events.audit,
      log: root,
      paths: hostPathsFromEnv(process.env, config.dataDir),
    });
    // Snapshots a crashed or failed operation left half made: completed or rolled back.
    const snapshotReconciler = new SnapshotReconciler({
      db: handle.db,
      hub: hostManagement.hub,
      audit: events.audit,
      log: root,
      listener: events.listener,
      intervalMs: snapshotReconcileMsFromEnv(process.env),
    });
    background.push({
      name: 'the snapshot reconciler',
      start: () => snapshotReconciler.start(),
      stop: () => snapshotReconciler.stop(),
    });
    const stats = new StatsHistory(
      root.child({ module: 'engine:stats' }),
      statsHistorySettingsFromEnv(process.env),
    );
    hostManagement.hub.on('event', stats.onAgentEvent);
    // Disk metadata and VM OVFs on data domains (master/), flushed before maintenance and detach.
    const ovfStore = new OvfStoreController({
      db: handle.db,
      hub: hostManagement.hub,
      log: root,
      intervalMs: ovfStoreMsFromEnv(process.env),
    });
    // Registers the storage_domain.* operations now (before the runner starts).
    const storageDomains = new StorageDomainController({
      db: handle.db,
      hub: hostManagement.hub,
      registry: operations.registry,
      audit: events.audit,
      log: root,
      intervalMs: storageRefreshMsFromEnv(process.env),
      beforeRelease: async (row, hostId, action) =>
        void (await ovfStore.flush(row.id, hostId, { forget: action === 'detach' })),
    });
    background.push({ name: 'the OVF store', start: () => ovfStore.start(), stop: () => ovfStore.stop() });
    // disk.register / vm.register: what an imported data domain holds.
    const registrationDeps = { db: handle.db, hub: hostManagement.hub, audit: events.audit, log: root };
    registerRegistrationOperations(operations.registry, registrationDeps);
    // vm.export, template.export, vm.import, template.import (export domains, OVF/OVA).
    const exportDeps = {
      db: handle.db,
      hub: hostManagement.hub,
      audit: events.audit,
      log: root,
      masterKey,
      encryptByDefault: config.encryptByDefault,
    };
    registerExportOperations(operations.registry, exportDeps);
    background.push({
      name: 'the storage domain controller',
      start: () => storageDomains.start(),
      stop: () => storageDomains.stop(),
    });
    const consoles = createConsoleService({
      db: handle.db,
      hub: hostManagement.hub,
      tickets: new ConsoleTickets(consoleTicketTtlMs(process.env)),
      tls: () => identity.clientTls(),
      log: root,
    });
    // Image uploads/downloads: registers image_transfer.* operations before the runner starts.
    const transfers = createTransferService({
      db: handle.db,
      hub: hostManagement.hub,
      tls: () => identity.clientTls(),
      audit: events.audit,
      operations,
      log: root,
    });
    registerTransferOperations(operations.registry, transfers);
    // Uploads and downloads nobody feeds any more: expired, partial files removed.
    const transferExpiry = new TransferExpiry({
      db: handle.db,
      transfers,
      log: root,
      idleMs: transferIdleTimeoutMsFromEnv(process.env),
    });
    background.push({
      name: 'the transfer expiry',
      start: () => transferExpiry.start(),
      stop: () => transferExpiry.stop(),
    });
    // Listening before the host monitor connects, so every first connect's vm.list is heard.
    background.push({
      name: 'the VM monitor',
      start: () => vmManagement.start(),
      stop: () => vmManagement.stop(),
    });
    background.push({
      name: 'the host monitor',
      start: () => hostManagement.start(),
      stop: () => hostManagement.stop(),
    });
    const services = createServices({
      db: handle.db,
      log: root,
      audit: events.audit,
      operations,
      auth: { tokenTtlMs: config.tokenLifetimeMs },
      hosts: hostManagement.runtime,
      masterKey,
      encryptByDefault: config.encryptByDefault,
    });
    const app = await buildApp({
      db: handle.db,
      log: root,
      version,
      caPem: ca.certPem,
      health,
      cookieSecure: !config.insecureHttp,
      services,
      events,
      operations,
      consoles,
      stats,
      transfers,
      registration: createRegistrationService({ ...registrationDeps, operations }),
      exports: createExportService({ ...exportDeps, operations }),
      webRoot: resolveWebRoot(process.env),
    });
    let appClosed: Promise<void> | undefined;
    const closeApp = () => {
      appClosed ??= app.close();
      return appClosed;
    };
    undo.push({ what: 'close the HTTP app', run: closeApp });

    if (config.insecureHttp) {
      log.warn(
        'PLAIN HTTP is configured (insecure_http): passwords and tokens cross the network unencrypted',
      );
    }
    const server: EngineServer = await listen(app, {
      listen: config.listen,
      tls: tls ? { ...tls, caPem: ca.certPem } : undefined,
      log: root,
    });
    // A renewed HTTPS certificate serves new handshakes at once; open connections keep theirs.
    identity.onServerRenewed((pair) => server.setTls({ ...pair, caPem: ca.certPem }));
    // Closing the app together with the server lets its hooks end event streams while the
    // server drains ordinary requests.
    undo.push({
      what: 'stop the HTTP server',
      run: async () => void (await Promise.all([server.stop(), closeApp()])),
    });

    for (const b of background) {
      await b.start();
      undo.push({ what: `stop ${b.name}`, run: () => b.stop() });
    }
    // All-in-one: local-data and local-iso on this machine, active before `ready at` (bounded wait).
    if (process.env.VIREO_LOCAL_HOST === '1') {
      await startLocalStorageSetup(
        {
          db: handle.db,
          hub: hostManagement.hub,
          controller: storageDomains,
          audit: events.audit,
          log: root,
          dataDir: config.dataDir,
        },
        localStorageWaitMsFromEnv(process.env),
      );
    }
    const url = publicUrl(server.protocol, server.address);
    log.info({ listen: formatListen(server.address), url, version }, 'engine started');
    return { url, stop, failed };
  } catch (err) {
    await stop('start failed');
    throw err;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

// Only when run as the binary (the bundle's entry), not when imported by tests.
if (process.argv[1] && /vireo-engine(\.js)?$|main\.ts$/.test(process.argv[1])) {
  process.exitCode = await runCli(process.argv.slice(2), { runEngine });
}
