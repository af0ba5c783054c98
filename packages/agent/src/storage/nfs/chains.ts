import { posix } from 'node:path';
import { HeaderError, parseQcow2Header } from '../image-header';
import { AgentError } from '../../util/errors';
import type { NfsClient } from './client';

/**
 * The backing chain of a volume on a userspace-mode nfs domain (ADR 027), walked over NFS with the
 * agent's own client and header parser before QEMU opens anything. The rules are the local chain
 * check's, narrowed to what the domain layout allows: every backing name is the relative name the
 * agent itself writes (`<volume>` for a snapshot layer, `../<disk>/<volume>` for a thin clone's
 * template base), resolves to a volume position of the same domain, and is a regular file whose
 * header agrees with the format the child names; no `json:`, protocol or absolute names, no external
 * data files, at most {@link MAX_CHAIN} layers below the active one.
 */

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
/** A volume's position inside the domain directory. */
export const VOLUME_REL = new RegExp(`^images/${UUID}/${UUID}$`);
/** Layers below the active one, as locally. */
export const MAX_CHAIN = 16;
/** The client reads at most this much at once; qcow2 headers, names and extensions fit in it. */
const HEAD_BYTES = 32 * 1024;
const QCOW2_MAGIC = Buffer.from('QFI\xfb', 'latin1');
/** Magic numbers of formats a `raw` image must not carry (QEMU would never probe it, people might). */
const FOREIGN_MAGICS: Array<[string, Buffer]> = [
  ['qcow2', QCOW2_MAGIC],
  ['qed', Buffer.from('QED\0', 'latin1')],
  ['vmdk', Buffer.from('KDMV', 'latin1')],
  ['vhdx', Buffer.from('vhdxfile', 'latin1')],
  ['vpc', Buffer.from('conectix', 'latin1')],
  ['luks', Buffer.from('LUKS\xba\xbe', 'latin1')],
];

/** One layer as the walk found it. */
export interface NfsChainLayer {
  /** Position inside the domain directory (`images/<disk>/<volume>`). */
  rel: string;
  format: 'qcow2' | 'raw';
  /** qcow2 crypt method: 0 none, 1 legacy AES, 2 LUKS (0 for raw). */
  cryptMethod: number;
  /** The backing name exactly as the header records it (`undefined` for the base). */
  backingName?: string;
}

/**
 * Walks the chain starting at `rel` (a volume position of the domain whose directory on the export
 * is `domainDir`). `name(rel)` turns a position into the path errors report. Throws coded errors:
 * `image_not_found`, `image_invalid`, `path_not_allowed`.
 */
export async function walkNfsChain(
  client: NfsClient,
  domainDir: string,
  rel: string,
  format: 'qcow2' | 'raw',
  where: string,
  name: (rel: string) => string,
): Promise<NfsChainLayer[]> {
  const layers: NfsChainLayer[] = [];
  let at: { rel: string; format: 'qcow2' | 'raw' } | undefined = { rel, format };
  while (at) {
    const path = name(at.rel);
    const invalid = (why: string, cause?: unknown) =>
      new AgentError('image_invalid', `image ${path}: ${why}`, {
        cause,
        details: { path, where, format: at?.format },
      });
    if (layers.length > MAX_CHAIN) throw invalid(`backing chain longer than ${MAX_CHAIN}`);
    if (!VOLUME_REL.test(at.rel)) {
      throw new AgentError('path_not_allowed', `image ${path}: not a volume of the domain`, {
        details: { path, where },
      });
    }
    const got = await client.readHead(`${domainDir}/${at.rel}`, HEAD_BYTES);
    if (!got)
      throw new AgentError('image_not_found', `image ${path} does not exist`, { details: { path, where } });
    if (got.attr.type !== 'file') {
      throw new AgentError('image_invalid', `image ${path} is not a regular file`, {
        details: { path, where },
      });
    }
    const head = got.head;
    if (at.format === 'raw') {
      for (const [magic, bytes] of FOREIGN_MAGICS) {
        if (head.subarray(0, bytes.length).equals(bytes))
          throw invalid(`declared raw but the file is a ${magic} image`);
      }
      layers.push({ rel: at.rel, format: 'raw', cryptMethod: 0 });
      return layers;
    }
    let header: Awaited<ReturnType<typeof parseQcow2Header>>;
    try {
      header = await parseQcow2Header(async (offset, length) => head.subarray(offset, offset + length));
      if (header) extensionsEndInHead(head, header.version);
    } catch (err) {
      if (err instanceof HeaderError) throw invalid(err.message, err);
      throw err;
    }
    if (!header) throw invalid('declared qcow2 but the file has no qcow2 header');
    if (header.hasExternalData || header.dataFile !== undefined)
      throw invalid('external data files are not allowed');
    const layer: NfsChainLayer = { rel: at.rel, format: 'qcow2', cryptMethod: header.cryptMethod };
    layers.push(layer);
    const backing = header.backingFile;
    if (backing === undefined) return layers;
    layer.backingName = backing;
    at = {
      rel: backingPosition(at.rel, backing, path, where),
      format: backingFormatOf(header.backingFormat, path, where),
    };
  }
  return layers;
}

/**
 * The position a backing name points at. Only relative names can mean the same thing to QEMU's nfs
 * driver and to this walk; a `json:` or protocol name could make QEMU open anything at all.
 */
export function backingPosition(childRel: string, backing: string, path: string, where: string): string {
  const details = { path, where, backing };
  if (backing.startsWith('json:') || /^[a-z][a-z0-9+.-]*:/i.test(backing)) {
    throw new AgentError(
      'image_invalid',
      `image ${path}: backing file must be a plain name, not a protocol or json: name`,
      {
        details,
      },
    );
  }
  if (backing.startsWith('/')) {
    throw new AgentError(
      'image_invalid',
      `image ${path}: a volume on an nfs domain must name its backing file relatively (an absolute name means a file of this host)`,
      { details },
    );
  }
  const target = posix.normalize(posix.join(posix.dirname(childRel), backing));
  if (!VOLUME_REL.test(target)) {
    throw new AgentError(
      'path_not_allowed',
      `image ${path}: backing file ${backing} is not a volume of the domain`,
      {
        details,
      },
    );
  }
  return target;
}

function backingFormatOf(format: string | undefined, path: string, where: string): 'qcow2' | 'raw' {
  if (format === 'qcow2' || format === 'raw') return format;
  throw new AgentError('image_invalid', `image ${path}: backing file has no explicit format (qcow2 or raw)`, {
    details: { path, where },
  });
}

/**
 * The header parser stops at the end of what it was given; over NFS that is the first 32 KiB, so
 * the extension list must end inside them or an unseen extension could name a data file.
 */
function extensionsEndInHead(head: Buffer, version: number): void {
  let offset = version === 3 ? head.readUInt32BE(100) : 72;
  while (offset + 8 <= head.length) {
    const type = head.readUInt32BE(offset);
    if (type === 0) return;
    offset += 8 + Math.ceil(head.readUInt32BE(offset + 4) / 8) * 8;
  }
  throw new HeaderError(`header extensions go past the first ${HEAD_BYTES} bytes`);
}
