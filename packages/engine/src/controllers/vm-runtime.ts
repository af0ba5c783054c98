import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { AgentHub } from '../agents/types';
import type { Db } from '../db/schema';
import type { HostPaths } from '../domain/vm/spec';
import type { MasterKey } from '../secrets/master-key';
import { VmMonitor } from '../monitors/vm-monitor';
import type { OperationRegistry } from '../operations';
import type { AuditRecorder } from '../services/ports';
import { registerDiskOperations } from './disk-operations';
import { registerSnapshotOperations } from './snapshot-operations';
import { registerTemplateOperations } from './template-operations';
import { VmController } from './vm-controller';
import { registerVmOperations } from './vm-operations';

/** The agent's default image directory when it runs as root (its state dir + `images`). */
export const DEFAULT_HOST_IMAGE_DIR = '/var/lib/vireo-agent/images';

/**
 * Host paths the engine names in VM specs. Until storage domains exist every host shares one
 * layout: ISO images in `VIREO_ISO_DIR` (default `<data dir>/iso`) and new disks in
 * `VIREO_HOST_IMAGE_DIR` (default the agent's own image directory: the local agent's in all-in-one
 * mode, `VIREO_LOCAL_HOST=1`), both as the agent sees them.
 */
export function hostPathsFromEnv(env: NodeJS.ProcessEnv, dataDir: string): HostPaths {
  const local = env.VIREO_LOCAL_HOST === '1';
  return {
    isoDir: env.VIREO_ISO_DIR || join(dataDir, 'iso'),
    imageDir:
      env.VIREO_HOST_IMAGE_DIR || (local ? join(dataDir, 'local-agent', 'images') : DEFAULT_HOST_IMAGE_DIR),
  };
}

/**
 * `vireo-agent serve` arguments for this machine's own agent (all-in-one mode): it may create disks
 * in the image directory and read ISOs from the ISO directory, which are created here if missing.
 */
export function localAgentImageArgs(paths: HostPaths): string[] {
  mkdirSync(paths.imageDir, { recursive: true, mode: 0o700 });
  mkdirSync(paths.isoDir, { recursive: true, mode: 0o755 });
  return ['--image-dir', paths.imageDir, '--image-dir', paths.isoDir];
}

/**
 * VM management as the composition root wires it: registers the `vm.*` operation handlers now
 * (before the runner starts) and returns the monitor's start/stop for the background list.
 */
export function createVmManagement(opts: {
  db: Db;
  hub: AgentHub;
  registry: OperationRegistry;
  audit: AuditRecorder;
  log: Logger;
  paths: HostPaths;
  /** The disk master key (encrypted disks). */
  masterKey?: MasterKey;
}): { monitor: VmMonitor; start(): void; stop(): void } {
  const monitor = new VmMonitor({ db: opts.db, hub: opts.hub, log: opts.log });
  const controller = new VmController({ ...opts, monitor });
  registerVmOperations(opts.registry, { ...opts, controller });
  registerSnapshotOperations(opts.registry, opts);
  registerDiskOperations(opts.registry, opts);
  registerTemplateOperations(opts.registry, opts);
  return { monitor, start: () => monitor.start(), stop: () => monitor.stop() };
}
