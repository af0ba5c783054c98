import { randomUUID } from 'node:crypto';
import type { VmDisk } from '@vireo/agent-protocol';
import type { AgentHub } from '../agents/types';
import { hostsSeeingDomain } from '../db/repositories/disks';
import { findStorageDomain } from '../db/repositories/storage-domains';
import type { Executor } from '../db/schema';
import type { DiskPreallocation } from '../db/tables/disks';
import type { StorageDomainRow } from '../db/tables/storage';
import { volumePath } from '../domain/storage/paths';
import { NotFound, Unavailable } from '../errors';
import type { OperationContext } from '../operations';
import { agentCodeOf } from './vm-controller';

/** Copies take as long as the data: the agent answers a `volume.copy` or an OVA job when it is done. */
export const COPY_TIMEOUT_MS = 6 * 3600_000;

/** The storage domain `id`, or NotFound `storage_domain_not_found` (it was removed meanwhile). */
export async function domainOrThrow(ex: Executor, id: string): Promise<StorageDomainRow> {
  const d = await findStorageDomain(ex, id);
  if (!d)
    throw new NotFound('storage_domain_not_found', `storage domain ${id} does not exist`, {
      details: { id },
    });
  return d;
}

/**
 * A connected host that sees every one of `domains` (a local domain: only its host; shared ones:
 * the `up` hosts of their data center). Volume work between two local domains of different hosts is
 * impossible here, and says so.
 */
export async function hostForDomains(
  ex: Executor,
  hub: AgentHub,
  domains: StorageDomainRow[],
): Promise<string> {
  let candidates: string[] | undefined;
  for (const d of domains) {
    const seeing = await hostsSeeingDomain(ex, d);
    candidates = candidates ? candidates.filter((h) => seeing.includes(h)) : seeing;
  }
  const host = (candidates ?? []).find((h) => hub.isConnected(h));
  if (!host) {
    throw new Unavailable(
      'no_host_for_storage',
      `no connected host sees storage domain${domains.length > 1 ? 's' : ''} ${domains.map((d) => d.name).join(' and ')}`,
      { details: { storage_domain_ids: domains.map((d) => d.id), candidates: candidates ?? [] } },
    );
  }
  return host;
}

/**
 * Runs one long agent job (`volume.copy`, `export.ova_*`) on `hostId` under a fresh job id, mapping
 * its `job.progress` events onto [from, to] of the operation's progress as `<label>: N %`, and
 * sending `volume.cancel` when the operation is cancelled. The caller reports the job's start.
 */
export async function followAgentJob<T>(
  hub: AgentHub,
  ctx: OperationContext,
  hostId: string,
  progress: { range: [number, number]; label: string },
  run: (jobId: string) => Promise<T>,
): Promise<T> {
  const jobId = randomUUID();
  const [from, to] = progress.range;
  const onEvent = (host: string, name: string, p: Record<string, unknown>) => {
    if (host !== hostId || name !== 'job.progress' || p.job_id !== jobId || p.state !== 'running') return;
    const f = typeof p.progress === 'number' ? p.progress : 0;
    ctx
      .progress(from + f * (to - from), `${progress.label}: ${Math.round(f * 100)} %`)
      .catch(() => undefined);
  };
  const onAbort = () => {
    hub.call(hostId, 'volume.cancel', { job_id: jobId }).catch(() => undefined);
  };
  hub.on('event', onEvent);
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await run(jobId);
  } finally {
    hub.off('event', onEvent);
    ctx.signal.removeEventListener('abort', onAbort);
  }
}

/**
 * Creates a disk's volume on `hostId`. A volume that already exists (an earlier attempt whose
 * reply was lost) is kept when the agent can read it with the recorded format.
 */
export async function createVolumeOn(
  hub: AgentHub,
  hostId: string,
  domainId: string,
  disk: { id: string; size_bytes: number; preallocation: DiskPreallocation },
  volume: { id: string; format: 'qcow2' | 'raw' },
  /** An encrypted disk's key (base64): the volume is created LUKS-encrypted with it. */
  encryptionKey?: string,
): Promise<void> {
  const ref = { domain_id: domainId, disk_id: disk.id, volume_id: volume.id };
  try {
    await hub.call(
      hostId,
      'volume.create',
      {
        ...ref,
        format: volume.format,
        size_bytes: disk.size_bytes,
        ...(disk.preallocation === 'off' ? {} : { preallocation: disk.preallocation }),
        ...(encryptionKey ? { encryption: { secret: encryptionKey } } : {}),
      },
      // Preallocating (falloc/full) large disks writes a lot.
      { timeoutMs: disk.preallocation === 'full' ? 3600_000 : 120_000 },
    );
  } catch (err) {
    if (agentCodeOf(err) !== 'image_exists') throw err;
    await hub.call(hostId, 'volume.info', { ...ref, format: volume.format });
  }
}

/** The VM spec entry of an attached disk: its active volume's path inside its domain. */
export function vmDiskSpec(
  disk: {
    id: string;
    interface: string;
    bootable: boolean;
    volume_id: string;
    volume_format: 'qcow2' | 'raw';
  },
  domain: { id: string; path: string },
  encrypted = false,
): VmDisk {
  return {
    id: disk.id,
    path: volumePath(domain, disk.id, disk.volume_id),
    format: disk.volume_format,
    interface: disk.interface as VmDisk['interface'],
    bootable: disk.bootable,
    readonly: false,
    ...(encrypted ? { encryption_secret_id: diskSecretId(disk.id) } : {}),
  };
}

/** The id under which an encrypted disk's key travels in `vm.start` `secrets`. */
export function diskSecretId(diskId: string): string {
  return `key-${diskId.toLowerCase()}`;
}
