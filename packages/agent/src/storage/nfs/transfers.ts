import { randomBytes } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { TransferFormat, TransferTarget } from '@vireo/agent-protocol';
import { AgentError, toAgentError } from '../../util/errors';
import type { UserspaceNfsDomain } from '../domains/service';
import { CONVERT_LIMITS, runQemuImg } from '../qemu-img';
import { idSegment } from '../volumes/layout';
import { type NfsClient, withNfs } from './client';
import { isTransientMountRefusal } from './copy';
import { nfsUrl } from './volumes';

/**
 * Uploads and downloads for nfs domains served in userspace mode (ADR 027, "uploads and
 * downloads"). The transfer manager stages on this host as for any domain — only the staging
 * directory is the agent's state dir instead of the domain — and hands the image over here:
 * after the checksum and the hostile-image gate passed on the staged file, a volume is written by
 * `qemu-img convert` through QEMU's nfs driver (the format fixed on both sides, so the new image
 * carries only the guest data the gate saw), an ISO by a streamed copy through the agent's NFS
 * client; both to a temporary name in the target directory, then RENAMEd into place, so a half
 * written image never has the final name. A download is first copied the same ways into a local
 * staging file, which the data endpoint then serves.
 */

/** Runs of a qemu-img write whose MOUNT the server refused (`MNT3ERR_ACCES`). */
const MOUNT_ATTEMPTS = 3;

/** ISO files are streamed in pieces of this size (the client splits them into WRITE calls). */
const STREAM_PIECE = 1 << 20;

/** What the transfer manager asks of a domain it cannot reach as a directory. */
export interface RemoteTransferTargets {
  /** True when the domain is an active userspace-mode nfs domain. */
  owns(domainId: string): boolean;
  /** The local directory that stands in for the domain root while staging (`<state>/transfers/<id>`). */
  stagingRoot(domainId: string): string;
  /** Whether the target image exists on the domain. */
  exists(domainId: string, target: TransferTarget): Promise<boolean>;
  /** Bytes free to this host on the domain's export. */
  freeBytes(domainId: string): Promise<number>;
  /** Writes the gated staging file to its place on the domain. */
  place(options: {
    domainId: string;
    target: TransferTarget;
    format: TransferFormat;
    staged: string;
    replace: boolean;
  }): Promise<void>;
  /** Copies the target image into the local file `into` (a download); returns its size. */
  fetch(options: {
    domainId: string;
    target: TransferTarget;
    format: TransferFormat;
    into: string;
  }): Promise<number>;
}

interface Where {
  d: UserspaceNfsDomain;
  loc: { server: string; export: string };
  /** Directory of the image, relative to the export. */
  dirRel: string;
  /** The image, relative to the export. */
  rel: string;
  name: string;
}

export class UserspaceNfsTransfers implements RemoteTransferTargets {
  constructor(
    private readonly deps: {
      domain(id: string): UserspaceNfsDomain | undefined;
      /** The agent's state directory; staging goes to `<stateDir>/transfers/<domain id>`. */
      stateDir: string;
    },
  ) {}

  owns(domainId: string): boolean {
    return this.deps.domain(domainId) !== undefined;
  }

  stagingRoot(domainId: string): string {
    return join(this.deps.stateDir, 'transfers', idSegment(domainId, 'domain_id'));
  }

  private where(domainId: string, target: TransferTarget): Where {
    const d = this.deps.domain(domainId);
    if (!d) {
      throw new AgentError('storage_domain_not_active', `storage domain ${domainId} is not active here`);
    }
    const loc = { server: d.location.server, export: d.location.export };
    if (target.kind === 'volume') {
      const disk = idSegment(target.disk_id, 'disk_id');
      const vol = idSegment(target.volume_id, 'volume_id');
      const dirRel = `${d.domainId}/images/${disk}`;
      return { d, loc, dirRel, rel: `${dirRel}/${vol}`, name: vol };
    }
    // The name was checked against the ISO pattern by targetPath(); the client re-checks components.
    const dirRel = `${d.domainId}/images/iso`;
    return { d, loc, dirRel, rel: `${dirRel}/${target.file}`, name: target.file };
  }

  async exists(domainId: string, target: TransferTarget): Promise<boolean> {
    const at = this.where(domainId, target);
    return (await withNfs(at.loc, (c) => c.stat(at.rel))) !== undefined;
  }

  async freeBytes(domainId: string): Promise<number> {
    const d = this.deps.domain(domainId);
    if (!d)
      throw new AgentError('storage_domain_not_active', `storage domain ${domainId} is not active here`);
    return (await withNfs({ server: d.location.server, export: d.location.export }, (c) => c.fsstat()))
      .availBytes;
  }

  async place(o: {
    domainId: string;
    target: TransferTarget;
    format: TransferFormat;
    staged: string;
    replace: boolean;
  }): Promise<void> {
    const at = this.where(o.domainId, o.target);
    const tmpName = `.upload-${randomBytes(8).toString('hex')}`;
    const tmpRel = `${at.dirRel}/${tmpName}`;
    let madeDir = false;
    await withNfs(at.loc, async (c) => {
      madeDir = (await c.stat(at.dirRel)) === undefined;
      await c.mkdir(at.dirRel, 0o750, true);
      if (!o.replace && (await c.stat(at.rel))) throw exists(o.target);
    });
    try {
      if (o.format === 'iso') {
        await withNfs(at.loc, (c) => streamUp(c, o.staged, tmpRel));
      } else {
        const args = [
          'convert',
          '-q',
          '-f',
          o.format,
          '-O',
          o.format,
          o.staged,
          nfsUrl(at.d.location, tmpRel),
        ];
        // libnfs's MOUNT of a directory just made is sometimes refused; nothing was written then.
        for (let attempt = 1; ; attempt++) {
          try {
            await runQemuImg(args, { limits: CONVERT_LIMITS });
            break;
          } catch (err) {
            if (!isTransientMountRefusal(err) || attempt >= MOUNT_ATTEMPTS) throw err;
            await withNfs(at.loc, (c) => c.remove(tmpRel));
            await new Promise((r) => setTimeout(r, 200 * attempt));
          }
        }
      }
      await withNfs(at.loc, async (c) => {
        // Checked again right before the rename: RENAME replaces, and only `replace` may.
        if (!o.replace && (await c.stat(at.rel))) throw exists(o.target);
        await c.rename(tmpRel, at.rel);
      });
    } catch (err) {
      await withNfs(at.loc, async (c) => {
        await c.remove(tmpRel);
        if (madeDir && (await c.readdir(at.dirRel)).length === 0) await c.rmdir(at.dirRel);
      }).catch(() => undefined);
      throw toAgentError(err, `writing the upload to nfs domain ${o.domainId}`);
    }
  }

  async fetch(o: {
    domainId: string;
    target: TransferTarget;
    format: TransferFormat;
    into: string;
  }): Promise<number> {
    const at = this.where(o.domainId, o.target);
    const st = await withNfs(at.loc, (c) => c.stat(at.rel));
    if (!st) {
      throw new AgentError('image_not_found', 'the image to download does not exist', {
        details: { target: o.target },
      });
    }
    if (st.type !== 'file') throw new AgentError('image_invalid', 'the image to download is not a file');
    await rm(o.into, { force: true });
    try {
      if (o.format === 'iso') {
        await withNfs(at.loc, (c) => streamDown(c, at.rel, o.into));
      } else {
        // The image's own format on both sides (nothing probed); a backing file would be refused by
        // the info the volume code keeps, and this mode's volumes carry none.
        await runQemuImg(
          ['convert', '-q', '-U', '-f', o.format, '-O', o.format, nfsUrl(at.d.location, at.rel), o.into],
          { limits: CONVERT_LIMITS },
        );
      }
      const handle = await open(o.into, 'r');
      try {
        return (await handle.stat()).size;
      } finally {
        await handle.close();
      }
    } catch (err) {
      await rm(o.into, { force: true });
      throw toAgentError(err, `reading the download from nfs domain ${o.domainId}`);
    }
  }
}

function exists(target: TransferTarget): AgentError {
  return new AgentError('image_exists', 'the target image exists already', { details: { target } });
}

/** Copies a local file to a new file on the export (GUARDED create, FILE_SYNC writes). */
async function streamUp(c: NfsClient, local: string, rel: string): Promise<void> {
  const fh = await c.createFile(rel, 0o640);
  const handle = await open(local, 'r');
  try {
    const buf = Buffer.alloc(STREAM_PIECE);
    for (let offset = 0; ; ) {
      const { bytesRead } = await handle.read(buf, 0, buf.length, offset);
      if (bytesRead === 0) break;
      await c.writeAt(fh, offset, buf.subarray(0, bytesRead), rel);
      offset += bytesRead;
    }
  } finally {
    await handle.close();
  }
}

/** Copies a file of the export to a new local file; reads must progress (hostile server). */
async function streamDown(c: NfsClient, rel: string, local: string): Promise<void> {
  const f = await c.openFile(rel);
  if (!f) throw new AgentError('image_not_found', 'the image to download does not exist');
  const size = f.attr.size;
  const handle = await open(local, 'wx', 0o640);
  try {
    let offset = 0;
    while (offset < size) {
      const data = await c.readAt(f.fh, offset, STREAM_PIECE, rel);
      if (data.length === 0) throw new AgentError('image_invalid', `${rel} ended before its size`);
      await handle.write(data, 0, data.length, offset);
      offset += data.length;
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
}
