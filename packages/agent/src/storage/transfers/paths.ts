import { join } from 'node:path';
import type { TransferTarget } from '@vireo/agent-protocol';
import { AgentError } from '../../util/errors';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ISO_FILE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;

/** Staging files live beside `images/` so a rejected upload never touches the image tree. */
export const STAGING_DIR = 'staging';

/**
 * The path of a transfer's target inside a domain root (`<path>/<domain id>`), per the storage
 * layout: `images/<disk id>/<volume id>` or `images/iso/<file>`. Re-validates the ids and the
 * file name even though the RPC schema did: this is the line no name may cross.
 */
export function targetPath(root: string, target: TransferTarget): { dir: string; path: string } {
  if (target.kind === 'volume') {
    if (!UUID.test(target.disk_id) || !UUID.test(target.volume_id)) {
      throw new AgentError('invalid_params', 'disk and volume ids must be UUIDs');
    }
    const dir = join(root, 'images', target.disk_id.toLowerCase());
    return { dir, path: join(dir, target.volume_id.toLowerCase()) };
  }
  if (!ISO_FILE.test(target.file) || target.file.includes('..')) {
    throw new AgentError('invalid_params', `invalid ISO file name ${JSON.stringify(target.file)}`);
  }
  const dir = join(root, 'images', 'iso');
  return { dir, path: join(dir, target.file) };
}

/** The staging file of an upload. */
export function stagingPath(root: string, transferId: string): { dir: string; path: string } {
  if (!UUID.test(transferId)) throw new AgentError('invalid_params', 'transfer id must be a UUID');
  const dir = join(root, STAGING_DIR);
  return { dir, path: join(dir, `${transferId.toLowerCase()}.part`) };
}

/** The local copy a download from a remote (userspace-mode nfs) domain is served from. */
export function downloadPath(root: string, transferId: string): { dir: string; path: string } {
  if (!UUID.test(transferId)) throw new AgentError('invalid_params', 'transfer id must be a UUID');
  const dir = join(root, STAGING_DIR);
  return { dir, path: join(dir, `${transferId.toLowerCase()}.download`) };
}
