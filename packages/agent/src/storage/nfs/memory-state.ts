import { randomBytes } from 'node:crypto';
import { open, rm, statfs } from 'node:fs/promises';
import { posix } from 'node:path';
import { AgentError } from '../../util/errors';
import type { UserspaceNfsDomain } from '../domains/service';
import { NfsTree } from './tree';

/**
 * Memory states of VMs whose disks are on a userspace-mode nfs domain (ADR 027 decision 15). QEMU
 * cannot migrate into an `nfs://` URL, so the state goes through a local staging file in the VM's
 * state directory: saved there by {@link saveMemoryState} while the guest is paused, then streamed
 * onto the domain with the agent's NFS client (UNSTABLE writes, COMMIT, RENAME from a temporary
 * name, so the domain never shows a half-written state); a restore streams it back to a staging
 * file first, checks its size and hands that file to QEMU.
 */

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
/** `images/<disk>/<snapshot>.memory`, as the engine names a memory state (ADR 023). */
export const MEMORY_REL = new RegExp(`^images/${UUID}/${UUID}\\.memory$`);

/** Bytes per local read or NFS write batch. */
const BATCH = 1024 * 1024;
/** Room kept free on the staging file system besides the state itself. */
const STAGING_MARGIN = 64 * 1024 * 1024;

/** One memory state file on a userspace-mode nfs domain. */
export class NfsMemoryState {
  private readonly tree: NfsTree;

  constructor(
    domain: UserspaceNfsDomain,
    /** Path inside the domain directory (`images/<disk>/<snapshot>.memory`). */
    readonly rel: string,
    /** The state's path as the engine names it (`<domain root>/…`). */
    readonly path: string,
  ) {
    this.tree = new NfsTree(domain, 60_000);
  }

  /** The state's size, or undefined when it is not there. */
  async size(): Promise<number | undefined> {
    const st = await this.tree.stat(this.rel);
    return st?.type === 'file' ? st.size : undefined;
  }

  /** Refuses a state that exists already (a snapshot id is used once). */
  async checkNew(where: string): Promise<void> {
    if (await this.tree.stat(this.rel)) {
      throw new AgentError('image_exists', `${this.path} already exists`, {
        details: { path: this.path, where },
      });
    }
  }

  /**
   * Streams a local file onto the domain as this state: a temporary name, every batch written,
   * COMMITted, then renamed into place. On failure the temporary file is removed and nothing is
   * left on the domain. Resolves with the bytes written.
   */
  async upload(localPath: string): Promise<number> {
    const tmpRel = `${posix.dirname(this.rel)}/.${posix.basename(this.rel)}.tmp-${randomBytes(6).toString('hex')}`;
    const local = await open(localPath, 'r');
    let written = 0;
    try {
      const writer = await this.tree.create(tmpRel, 0o600);
      try {
        const buf = Buffer.allocUnsafe(BATCH);
        for (;;) {
          const { bytesRead } = await local.read(buf, 0, BATCH, written);
          if (bytesRead === 0) break;
          await writer.write(Buffer.from(buf.subarray(0, bytesRead)));
          written += bytesRead;
        }
        await writer.sync();
      } finally {
        await writer.close();
      }
      await this.tree.rename(tmpRel, this.rel);
      return written;
    } catch (err) {
      await this.tree.remove(tmpRel).catch(() => undefined);
      throw new AgentError('storage_unreachable', `writing the memory state ${this.path} over NFS failed`, {
        cause: err,
        details: { path: this.path },
      });
    } finally {
      await local.close();
    }
  }

  /**
   * Streams the state into a new local file (0600) and checks it arrived whole (as many bytes as
   * the server reported). The caller removes the file. Refused when the staging file system lacks
   * the room.
   */
  async download(localPath: string, where: string): Promise<number> {
    const reader = await this.tree.openRead(this.rel).catch((err: unknown) => {
      throw new AgentError('image_not_found', `memory state ${this.path} cannot be read`, {
        cause: err,
        details: { path: this.path, where },
      });
    });
    await rm(localPath, { force: true });
    try {
      if (reader.size <= 0) {
        throw new AgentError('image_invalid', `memory state ${this.path} is empty`, {
          details: { path: this.path, where },
        });
      }
      await ensureStagingRoom(posix.dirname(localPath), reader.size);
      const out = await open(localPath, 'wx', 0o600);
      let got = 0;
      try {
        const buf = Buffer.allocUnsafe(BATCH);
        while (got < reader.size) {
          const n = await reader.read(buf, 0, Math.min(BATCH, reader.size - got), got);
          if (n === 0) break;
          await out.write(buf, 0, n, got);
          got += n;
        }
        await out.sync();
      } finally {
        await out.close();
      }
      if (got !== reader.size) {
        await rm(localPath, { force: true });
        throw new AgentError(
          'image_invalid',
          `memory state ${this.path}: read ${got} of ${reader.size} bytes`,
          {
            details: { path: this.path, where },
          },
        );
      }
      return got;
    } catch (err) {
      await rm(localPath, { force: true }).catch(() => undefined);
      throw err;
    } finally {
      await reader.close();
    }
  }
}

/** Refuses with `image_too_large` when `dir`'s file system has not `bytes` (plus a margin) free. */
export async function ensureStagingRoom(dir: string, bytes: number): Promise<void> {
  const s = await statfs(dir);
  const free = s.bavail * s.bsize;
  if (bytes + STAGING_MARGIN > free) {
    throw new AgentError(
      'image_too_large',
      `staging a memory state needs ${bytes} bytes; ${dir} has ${free} free`,
      { details: { needed_bytes: bytes, free_bytes: free, staging_dir: dir } },
    );
  }
}

/** The local staging file of a memory state, in the VM's state directory. */
export function stagingPathOf(vmDir: string, state: NfsMemoryState): string {
  return posix.join(vmDir, `${posix.basename(state.rel)}.staging`);
}
