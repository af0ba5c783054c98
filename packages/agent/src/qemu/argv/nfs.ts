import { invalidPlan } from './errors';
import type { OptPair } from './escape';
import type { LaunchPlan } from './types';

/** What a server name may be (the storage protocol's own rule, re-checked: the plan is input too). */
const SERVER = /^[A-Za-z0-9][A-Za-z0-9.:-]{0,252}$/;
/** The export path plus the file inside it: absolute, no `..`, no `?`/`#`/`%` (libnfs URL syntax). */
const NFS_PATH = /^\/[A-Za-z0-9._/-]{0,2000}$/;

/**
 * The protocol node of an image on an nfs domain served in userspace mode (ADR 027): QEMU's own
 * `nfs` block driver (libnfs, NFSv3 over TCP) instead of `file`, because the host has no kernel NFS
 * client to give the image a local path. `undefined` when the path is an ordinary file or device.
 * QEMU mounts the file's directory (dirname of `path`), so the server must allow mounting
 * subdirectories of the export.
 */
export function nfsProtocolOpts(plan: LaunchPlan, path: string, where: string): OptPair[] | undefined {
  const image = plan.nfsImages?.[path];
  if (!image) return undefined;
  const at = `/nfsImages/${path}`;
  if (!SERVER.test(image.server)) throw invalidPlan(`${at}/server`, 'not a valid NFS server name');
  if (!NFS_PATH.test(image.path) || image.path.split('/').includes('..')) {
    throw invalidPlan(`${at}/path`, 'not a valid NFS path (letters, digits, . _ - / only, no ..)');
  }
  return [
    ['driver', 'nfs'],
    ['server.type', 'inet'],
    // IPv6 addresses go as they are: the nfs driver takes a host, not a URL.
    ['server.host', image.server, where],
    ['path', image.path, where],
  ];
}

/**
 * A chain layer's JSON protocol node (encrypted disks, ADR 022) with the nfs driver when its path
 * is mapped; other nodes come back unchanged.
 */
export function nfsFileNode(
  plan: LaunchPlan,
  path: string,
  where: string,
  node: Record<string, unknown>,
): Record<string, unknown> {
  const image = plan.nfsImages?.[path];
  if (!image || !nfsProtocolOpts(plan, path, where)) return node;
  const { driver: _driver, filename: _filename, ...rest } = node;
  return { driver: 'nfs', server: { type: 'inet', host: image.server }, path: image.path, ...rest };
}
