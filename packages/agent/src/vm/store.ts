import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { VmSpec } from '@vireo/agent-protocol';
import type { VncListen } from '../qemu/argv';
import type { VmPaths } from './paths';

/**
 * What one launch decided on the host, kept next to the spec so a restarted agent knows it:
 * which QEMU (PID + start time: PIDs get reused), which VNC ports, which taps it must remove.
 */
export interface RuntimeRecord {
  pid: number;
  start_ticks: number;
  started_at: string;
  accel: 'kvm' | 'tcg';
  vnc: VncListen | null;
  /** Taps the agent created for this launch (taps that already existed are not ours to delete). */
  created_taps: string[];
  /** q35 hot-plug root ports in use: port id (`hp0`…) → disk id. */
  hotplug_ports: Record<string, string>;
}

/** Writes a file atomically (temp + rename) with mode 0600: a crash never leaves half a spec. */
export async function writeFileAtomic(path: string, data: string): Promise<void> {
  const tmp = join(dirname(path), `.${randomUUID()}.tmp`);
  await writeFile(tmp, data, { mode: 0o600 });
  await rename(tmp, path);
}

export async function writeSpec(paths: VmPaths, spec: VmSpec): Promise<void> {
  await writeFileAtomic(paths.spec, `${JSON.stringify(spec, null, 2)}\n`);
}

export async function writeRuntime(paths: VmPaths, record: RuntimeRecord): Promise<void> {
  await writeFileAtomic(paths.runtime, `${JSON.stringify(record, null, 2)}\n`);
}

export async function readRuntime(paths: VmPaths): Promise<RuntimeRecord | undefined> {
  let text: string;
  try {
    text = await readFile(paths.runtime, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const value = JSON.parse(text) as Partial<RuntimeRecord>;
  if (typeof value.pid !== 'number' || typeof value.start_ticks !== 'number') {
    throw new Error(`${paths.runtime} lacks pid/start_ticks`);
  }
  return {
    pid: value.pid,
    start_ticks: value.start_ticks,
    started_at: typeof value.started_at === 'string' ? value.started_at : new Date().toISOString(),
    accel: value.accel === 'kvm' ? 'kvm' : 'tcg',
    vnc: value.vnc ?? null,
    created_taps: Array.isArray(value.created_taps)
      ? value.created_taps.filter((t) => typeof t === 'string')
      : [],
    hotplug_ports:
      value.hotplug_ports && typeof value.hotplug_ports === 'object' ? { ...value.hotplug_ports } : {},
  };
}

export async function writeOwner(paths: VmPaths, agentId: string): Promise<void> {
  await writeFileAtomic(paths.owner, `${agentId}\n`);
}

export async function readOwner(paths: VmPaths): Promise<string | undefined> {
  try {
    return (await readFile(paths.owner, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

/** Creates the VM directory private to the agent (sockets and logs inside are nobody else's business). */
export async function makeVmDir(paths: VmPaths): Promise<void> {
  await mkdir(paths.dir, { mode: 0o700 });
}
