import { dirname } from 'node:path';
import type { VmDisk, VmSpec } from '@vireo/agent-protocol';
import { type DiskChainLayer, diskSecretIds } from '../qemu/argv';
import { AgentError } from '../util/errors';
import type { ImagePolicy } from './images';

/** qcow2 crypt methods (header field). */
const CRYPT_NONE = 0;
const CRYPT_LUKS = 2;

/**
 * The chain of one disk as QEMU has to open it, with the key of every layer (ADR 022): a layer in
 * the directory of the disk's active volume is the disk's own (`encryption_secret_id`), any other
 * layer belongs to another disk, a thin clone's template (`base_encryption_secret_id`). Each layer's
 * header must agree with the spec: an encrypted layer without a key, or a key for a plain layer, is
 * `image_invalid` — never silently run a disk the engine believes encrypted on a plain volume.
 * Every layer passes the image policy's checks (allowed directory, explicit backing formats).
 */
export async function diskChain(images: ImagePolicy, disk: VmDisk, where: string): Promise<DiskChainLayer[]> {
  const layers = await images.checkDisk(disk, where);
  const ownDir = dirname(layers[0]?.path ?? disk.path);
  return layers.map((layer, i) => {
    const own = dirname(layer.path) === ownDir;
    const key = own ? disk.encryption_secret_id : disk.base_encryption_secret_id;
    const details = { disk_id: disk.id, path: layer.path, where };
    if (layer.cryptMethod !== CRYPT_NONE && layer.cryptMethod !== CRYPT_LUKS) {
      throw new AgentError('image_invalid', `volume ${layer.path} uses legacy qcow2 AES encryption`, {
        details,
      });
    }
    const encrypted = layer.cryptMethod === CRYPT_LUKS;
    if (encrypted && !key) {
      throw new AgentError(
        'image_invalid',
        `volume ${layer.path} of disk ${disk.id} is encrypted but the spec names no key for it`,
        { details },
      );
    }
    if (!encrypted && key) {
      throw new AgentError(
        'image_invalid',
        `volume ${layer.path} of disk ${disk.id} is not encrypted but the spec names a key for it`,
        { details },
      );
    }
    return {
      // The active layer keeps the spec's path (QEMU and query-block report it as given).
      path: i === 0 ? disk.path : layer.path,
      format: layer.format,
      ...(key ? { secretId: key } : {}),
      writable: own,
    };
  });
}

/**
 * Checks every disk's chain and returns the chains of the disks that need explicit nodes (those
 * naming a key, and chains on userspace-mode nfs domains), by disk id, for `LaunchPlan.diskChains`.
 */
export async function planDiskChains(
  images: ImagePolicy,
  spec: VmSpec,
): Promise<Record<string, DiskChainLayer[]>> {
  const chains: Record<string, DiskChainLayer[]> = {};
  for (const [i, disk] of spec.disks.entries()) {
    const chain = await diskChain(images, disk, `/disks/${i}/path`);
    // A chain on a userspace-mode nfs domain too: QEMU's nfs driver cannot follow a relative
    // backing name (ADR 027), so every layer gets its own node.
    const onNfs = chain.length > 1 && images.remote?.owns(disk.path) === true;
    if (diskSecretIds(disk).length > 0 || onNfs) chains[disk.id] = chain;
  }
  return chains;
}

/** Throws `invalid_params` unless `secrets` holds a value for every key the disks name. */
export function requireDiskKeys(disks: readonly VmDisk[], secrets: Record<string, string>): void {
  for (const d of disks) {
    for (const id of diskSecretIds(d)) {
      if (secrets[id] === undefined) {
        throw new AgentError('invalid_params', `no key given for encrypted disk ${d.id}`, {
          details: { disk_id: d.id, secret_id: id },
        });
      }
    }
  }
}

/** The keys the disks name (extra entries are ignored rather than written anywhere). */
export function usedDiskKeys(
  disks: readonly VmDisk[],
  secrets: Record<string, string>,
): Record<string, string> {
  const used: Record<string, string> = {};
  for (const d of disks) {
    for (const id of diskSecretIds(d)) {
      if (secrets[id] !== undefined) used[id] = secrets[id];
    }
  }
  return used;
}
