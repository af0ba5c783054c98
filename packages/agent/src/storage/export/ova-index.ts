import { DOMAIN_FILE_MAX_BYTES } from '@vireo/agent-protocol';
import { AgentError } from '../../util/errors';
import { BLOCK, parseTarHeader, TarError, type TarMember, tarPadding } from './tar';
import type { TreeReader } from './tree';

/** The names an OVA and its members may have, and the strict reading of its index. */

export const OVA_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Other tools name the OVF after the VM, spaces included. */
const OVF_MEMBER = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}\.ovf$/;
const DISK_MEMBER =
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Members of an OVA another tool wrote (images, a manifest, a certificate): one plain file name. */
export const FOREIGN_MEMBER = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$/;
/** The OVF, 16 disks, a manifest and a certificate. */
const MAX_MEMBERS = 19;

export function invalid(name: string, why: string, cause?: unknown): AgentError {
  return new AgentError('ova_invalid', `OVA ${name}: ${why}`, {
    details: { name },
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * Reads and checks every header: the OVF first (≤ the file cap), then `<uuid>/<uuid>` images (ours)
 * or plain file names (another tool's images, manifest, certificate).
 */
export async function readIndex(fh: TreeReader, size: number, name: string): Promise<TarMember[]> {
  const members: TarMember[] = [];
  const header = Buffer.alloc(BLOCK);
  let pos = 0;
  let ended = false;
  while (pos + BLOCK <= size) {
    const bytesRead = await fh.read(header, 0, BLOCK, pos);
    if (bytesRead !== BLOCK) throw invalid(name, 'truncated header');
    let h: { name: string; size: number } | undefined;
    try {
      h = parseTarHeader(header);
    } catch (err) {
      if (err instanceof TarError) throw invalid(name, err.message, err);
      throw err;
    }
    if (!h) {
      ended = true;
      break;
    }
    const offset = pos + BLOCK;
    if (offset + h.size > size)
      throw invalid(name, `member ${JSON.stringify(h.name.slice(0, 100))} runs past the end of the file`);
    const first = members.length === 0;
    if (first ? !OVF_MEMBER.test(h.name) : !DISK_MEMBER.test(h.name) && !FOREIGN_MEMBER.test(h.name)) {
      throw invalid(
        name,
        `member name ${JSON.stringify(h.name.slice(0, 100))} is not accepted${first ? ' (the OVF must come first)' : ''}`,
      );
    }
    if (first && h.size > DOMAIN_FILE_MAX_BYTES) throw invalid(name, 'the OVF member is too large');
    if (members.some((m) => m.name === h.name)) throw invalid(name, `member ${h.name} is repeated`);
    members.push({ name: h.name, size: h.size, offset });
    if (members.length > MAX_MEMBERS) throw invalid(name, `more than ${MAX_MEMBERS} members`);
    pos = offset + h.size + tarPadding(h.size).length;
  }
  if (members.length === 0) throw invalid(name, 'no OVF member');
  if (!ended && pos < size) throw invalid(name, 'trailing bytes after the last member');
  return members;
}
